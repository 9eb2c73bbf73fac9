//! Dedupe a synthetic Meizhou population (fictional) with the default
//! Chinese-first configuration; print precision / recall / F1.
//!
//! `cargo run --release --example synth_eval [-- N DUP_RATE SEED [hard]]`

use std::collections::HashSet;
use std::time::Instant;

use yiyang_mpi::synth::{Generator, column_map, write_csv};
use yiyang_mpi::{Decision, MappingConfig, dedupe, read_persons};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let rate: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0.2);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(7);
    let mut g = Generator::new(seed);
    if args.get(4).map(String::as_str) == Some("hard") {
        g.profile = yiyang_mpi::synth::DuplicateProfile::hard();
    }
    let (recs, truth) = g.dataset(n, rate);
    let mut csv = Vec::new();
    write_csv(&recs, &mut csv).unwrap();
    let cfg = MappingConfig::with_columns("synth-default", column_map());
    let t0 = Instant::now();
    let persons = read_persons(&csv[..], &cfg).unwrap();
    let run = dedupe(&cfg, &persons).unwrap();
    let el = t0.elapsed();
    let truth: HashSet<(String, String)> = truth
        .into_iter()
        .flat_map(|(a, b)| [(a.clone(), b.clone()), (b, a)])
        .collect();
    let (mut tp, mut fp, mut rev, mut rev_t) = (0usize, 0usize, 0usize, 0usize);
    let verbose = std::env::var_os("SYNTH_DUMP").is_some();
    let mut found = HashSet::new();
    for p in &run.pairs {
        let a = &persons[p.left as usize];
        let b = &persons[p.right as usize];
        let is_true = truth.contains(&(a.id.clone(), b.id.clone()));
        match p.decision {
            Decision::Link => {
                if is_true {
                    tp += 1;
                    found.insert(a.id.clone());
                } else {
                    fp += 1;
                    if verbose {
                        println!(
                            "FP {:?}\n   {:?}\n   {}",
                            a.values,
                            b.values,
                            run.matcher.explain(a, b).compact()
                        );
                    }
                }
            }
            Decision::Review => {
                rev += 1;
                rev_t += usize::from(is_true);
            }
            Decision::NoMatch => {}
        }
    }
    if std::env::var_os("SYNTH_DUMP_FN").is_some() {
        let byid: std::collections::HashMap<&str, usize> = persons
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
        for (a, b) in truth.iter().filter(|(a, b)| a < b) {
            if found.contains(a) || found.contains(b) {
                continue;
            }
            let (pa, pb) = (&persons[byid[a.as_str()]], &persons[byid[b.as_str()]]);
            println!(
                "FN {:?}\n   {:?}\n   {}",
                pa.values,
                pb.values,
                run.matcher.explain(pa, pb).compact()
            );
        }
    }
    let n_true = truth.len() / 2;
    let p = tp as f64 / (tp + fp).max(1) as f64;
    let r = tp as f64 / n_true.max(1) as f64;
    println!("{:#?}", run.stats);
    println!(
        "records {}  true pairs {n_true}  links {}  (tp {tp}, fp {fp})  reviews {rev} ({rev_t} true)",
        persons.len(),
        tp + fp
    );
    println!(
        "precision {p:.4}  recall {r:.4}  F1 {:.4}",
        2.0 * p * r / (p + r)
    );
    println!("time {:.1} ms", el.as_secs_f64() * 1e3);
}
