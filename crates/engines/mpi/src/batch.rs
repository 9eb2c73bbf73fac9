//! Batch API over CSV: `link_csv` (two files) and `dedupe_csv` (one file).
//!
//! Output: one row per Link or Review pair:
//! `left_id,right_id,match_weight,match_probability,decision,rule[,explanation]`.

use std::io::{Read, Write};
use std::time::Instant;

use crate::config::{FIXED_FIELDS, Field, MappingConfig};
use crate::engine::{Decision, MatchRun, Stats, dedupe, link};
use crate::error::{Error, Result};
use crate::record::{Normalizer, Person, RawRecord};

/// Read raw records from CSV according to the column mapping. Header names and
/// values are trimmed. Mapped columns that are absent from the file are
/// ignored; a missing record id column is an error only if it was configured
/// (otherwise the row number is used as id).
pub fn read_records(input: impl Read, cfg: &MappingConfig) -> Result<Vec<RawRecord>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers: Vec<String> = rdr
        .headers()?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let find = |col: &str| headers.iter().position(|h| h == col.trim());
    let id_col = match &cfg.columns.record_id {
        Some(c) => Some(
            find(c).ok_or_else(|| Error::Data(format!("record id column `{c}` not in header")))?,
        ),
        None => None,
    };
    let mut cols: Vec<(Field, usize)> = Vec::new();
    for f in FIXED_FIELDS.iter() {
        if let Some(c) = cfg.columns.column(f)
            && let Some(i) = find(c)
        {
            cols.push((f.clone(), i));
        }
    }
    for (name, c) in &cfg.columns.other_ids {
        if let Some(i) = find(c) {
            cols.push((Field::Other(name.clone()), i));
        }
    }
    let mut out = Vec::new();
    let mut row = csv::StringRecord::new();
    let mut n = 0usize;
    while rdr.read_record(&mut row)? {
        n += 1;
        let id = match id_col {
            Some(i) => row.get(i).unwrap_or("").trim().to_string(),
            None => n.to_string(),
        };
        let mut r = RawRecord {
            id,
            values: Vec::with_capacity(cols.len()),
        };
        for (f, i) in &cols {
            if let Some(v) = row.get(*i) {
                let v = v.trim();
                if !v.is_empty() {
                    r.values.push((f.clone(), v.to_string()));
                }
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// Read and normalise records.
pub fn read_persons(input: impl Read, cfg: &MappingConfig) -> Result<Vec<Person>> {
    let raw = read_records(input, cfg)?;
    let n = Normalizer::new(cfg);
    Ok(normalize_all(&n, &raw))
}

/// Normalise on up to two threads.
pub fn normalize_all(n: &Normalizer, raw: &[RawRecord]) -> Vec<Person> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    if threads < 2 || raw.len() < 2000 {
        return raw.iter().map(|r| n.normalize(r)).collect();
    }
    let (a, b) = raw.split_at(raw.len() / 2);
    std::thread::scope(|s| {
        let h = s.spawn(|| b.iter().map(|r| n.normalize(r)).collect::<Vec<_>>());
        let mut va: Vec<Person> = a.iter().map(|r| n.normalize(r)).collect();
        va.extend(h.join().expect("worker"));
        va
    })
}

/// Write Link (and, if configured, Review) pairs as CSV.
pub fn write_pairs(
    run: &MatchRun,
    left: &[Person],
    right: &[Person],
    out: impl Write,
) -> Result<()> {
    let cfg = &run.matcher.config;
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec![
        "left_id",
        "right_id",
        "match_weight",
        "match_probability",
        "decision",
        "rule",
    ];
    if cfg.output.explain {
        header.push("explanation");
    }
    w.write_record(&header)?;
    let mut pairs: Vec<_> = run
        .pairs
        .iter()
        .filter(|p| {
            p.decision == Decision::Link
                || (cfg.output.include_review && p.decision == Decision::Review)
        })
        .collect();
    pairs.sort_by(|a, b| b.match_weight.total_cmp(&a.match_weight));
    for p in pairs {
        let a = &left[p.left as usize];
        let b = &right[p.right as usize];
        let mut rec = vec![
            a.id.clone(),
            b.id.clone(),
            format!("{:.4}", p.match_weight),
            format!("{:.6}", p.match_probability),
            p.decision.as_str().to_string(),
            p.rule
                .map(|r| run.matcher.rule_name(r).to_string())
                .unwrap_or_default(),
        ];
        if cfg.output.explain {
            rec.push(run.matcher.explain(a, b).compact());
        }
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

/// `yiyang mpi link --left A.csv --right B.csv --config MAP.toml --out PAIRS.csv`
pub fn link_csv(
    left: impl Read,
    right: impl Read,
    cfg: &MappingConfig,
    out: impl Write,
) -> Result<Stats> {
    let t0 = Instant::now();
    let rl = read_records(left, cfg)?;
    let rr = read_records(right, cfg)?;
    let n = Normalizer::new(cfg);
    let pl = normalize_all(&n, &rl);
    let pr = normalize_all(&n, &rr);
    let ms_read = t0.elapsed().as_secs_f64() * 1e3;
    let run = link(cfg, &pl, &pr)?;
    let t1 = Instant::now();
    write_pairs(&run, &pl, &pr, out)?;
    let mut stats = run.stats;
    stats.ms_read = ms_read;
    stats.ms_write = t1.elapsed().as_secs_f64() * 1e3;
    Ok(stats)
}

/// `yiyang mpi dedupe --input FILE.csv --config MAP.toml --out PAIRS.csv`
pub fn dedupe_csv(input: impl Read, cfg: &MappingConfig, out: impl Write) -> Result<Stats> {
    let t0 = Instant::now();
    let raw = read_records(input, cfg)?;
    let n = Normalizer::new(cfg);
    let p = normalize_all(&n, &raw);
    let ms_read = t0.elapsed().as_secs_f64() * 1e3;
    let run = dedupe(cfg, &p)?;
    let t1 = Instant::now();
    write_pairs(&run, &p, &p, out)?;
    let mut stats = run.stats;
    stats.ms_read = ms_read;
    stats.ms_write = t1.elapsed().as_secs_f64() * 1e3;
    Ok(stats)
}
