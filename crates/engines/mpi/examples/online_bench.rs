//! Online matching benchmark: index N synthetic persons (default 1,000,000),
//! then query duplicates and new persons one by one; prints p50 / p99 latency
//! and the share of duplicates found.
//!
//! `cargo run --release --example online_bench [-- N QUERIES]`

use std::time::Instant;

use yiyang_mpi::synth::{Generator, column_map};
use yiyang_mpi::{Decision, MappingConfig, Normalizer, OnlineIndex, dedupe};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let q: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2_000);
    let cfg = MappingConfig::with_columns("synth-online", column_map());
    let norm = Normalizer::new(&cfg);

    // 1. train the model unsupervised on a sample with duplicates
    let t = Instant::now();
    let mut g = Generator::new(11);
    let (sample, _) = g.dataset(20_000, 0.2);
    let sample: Vec<_> = sample.iter().map(|r| norm.normalize(r)).collect();
    let run = dedupe(&cfg, &sample).expect("train");
    println!(
        "trained on {} records in {:.0} ms (EM iterations {}, converged {})",
        sample.len(),
        t.elapsed().as_secs_f64() * 1e3,
        run.stats.em_iterations,
        run.stats.em_converged
    );

    // 2. build the index
    let t = Instant::now();
    let mut idx = OnlineIndex::new(run.matcher);
    let mut g = Generator::new(12);
    let mut originals = Vec::new();
    for i in 0..n {
        let r = g.person(format!("P{i:07}"));
        if i % (n / q.max(1)).max(1) == 0 && originals.len() < q {
            originals.push(r.clone());
        }
        idx.add(norm.normalize(&r));
    }
    println!(
        "indexed {} persons in {:.1} s",
        idx.len(),
        t.elapsed().as_secs_f64()
    );

    // 3. queries: corrupted duplicates of indexed persons, and new persons
    let mut lat = Vec::new();
    let mut found = 0usize;
    let mut false_links = 0usize;
    for (k, o) in originals.iter().enumerate() {
        let d = norm.normalize(&g.duplicate(o, format!("Q{k}")));
        let t = Instant::now();
        let res = idx.query(&d, 5);
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        if res
            .first()
            .is_some_and(|m| m.id == o.id && m.decision == Decision::Link)
        {
            found += 1;
        }
        false_links += res
            .iter()
            .filter(|m| m.id != o.id && m.decision == Decision::Link)
            .count();
        let fresh = norm.normalize(&g.person(format!("N{k}")));
        let t = Instant::now();
        let res = idx.query(&fresh, 5);
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        false_links += res.iter().filter(|m| m.decision == Decision::Link).count();
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "queries {}  p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        lat.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "duplicates linked to their original: {found}/{}  false links: {false_links}",
        originals.len()
    );
}
