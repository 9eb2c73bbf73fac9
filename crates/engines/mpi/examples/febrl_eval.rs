//! Febrl4 evaluation: link dataset4a vs dataset4b with `examples/mpi/febrl.toml`,
//! print precision / recall / F1 and timings.
//!
//! `cargo run --release --example febrl_eval [-- DATA_DIR]`
//! DATA_DIR defaults to `$YIYANG_SHARED_DIR/data/febrl`, else the first of
//! `../shared/data/febrl`, `../../../../shared/data/febrl`, `/work/shared/data/febrl`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use yiyang_mpi::{MappingConfig, link_csv};

fn data_dir() -> Option<PathBuf> {
    if let Some(a) = std::env::args().nth(1) {
        return Some(PathBuf::from(a));
    }
    let mut cands = Vec::new();
    if let Ok(s) = std::env::var("YIYANG_SHARED_DIR") {
        let base = PathBuf::from(s);
        cands.push(base.join("data/febrl"));
        cands.push(base.join("febrl"));
        cands.push(base);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    cands.push(here.join("../shared/data/febrl"));
    cands.push(here.join("../../../../shared/data/febrl"));
    cands.push(PathBuf::from("/work/shared/data/febrl"));
    cands.into_iter().find(|p| p.join("dataset4a.csv").exists())
}

/// rec-N-org / rec-N-dup-K → N (evaluation only)
fn entity(id: &str) -> &str {
    id.trim().split('-').nth(1).unwrap_or("")
}

fn main() {
    let Some(dir) = data_dir() else {
        println!("Febrl data not found; set YIYANG_SHARED_DIR");
        return;
    };
    let cfg_text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../examples/mpi/febrl.toml"),
    )
    .expect("febrl.toml");
    let t0 = Instant::now();
    let cfg = MappingConfig::from_toml(&cfg_text).expect("config");
    let a = std::fs::File::open(dir.join("dataset4a.csv")).expect("dataset4a");
    let b = std::fs::File::open(dir.join("dataset4b.csv")).expect("dataset4b");
    let mut out = Vec::new();
    let stats = link_csv(a, b, &cfg, &mut out).expect("link");
    let elapsed = t0.elapsed();
    // evaluation
    let text = String::from_utf8(out).unwrap();
    let mut links = HashSet::new();
    let mut reviews = 0usize;
    let mut review_true = 0usize;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let same = entity(f[0]) == entity(f[1]);
        match f[4] {
            "link" => {
                links.insert((f[0].to_string(), f[1].to_string(), same));
            }
            _ => {
                reviews += 1;
                review_true += usize::from(same);
            }
        }
    }
    let tp = links.iter().filter(|l| l.2).count() as f64;
    let fp = links.len() as f64 - tp;
    let true_links = 5000.0;
    let p = tp / (tp + fp);
    let r = tp / true_links;
    let f1 = 2.0 * p * r / (p + r);
    println!("{stats:#?}");
    println!(
        "links {} (tp {tp}, fp {fp}), reviews {reviews} ({review_true} true)",
        links.len()
    );
    println!("precision {p:.4}  recall {r:.4}  F1 {f1:.4}");
    println!(
        "wall time (read, train, block, score, write): {:.1} ms",
        elapsed.as_secs_f64() * 1e3
    );
    if std::env::var("FEBRL_DUMP").is_ok() {
        for l in links.iter().filter(|l| !l.2) {
            println!("FP {} {}", l.0, l.1);
        }
    }
}
