//! Febrl4 evaluation: unsupervised, thresholds fixed in `examples/mpi/febrl.toml`.
//! Data: `$YIYANG_SHARED_DIR/data/febrl`, else `../../../../shared/data/febrl`
//! (crate at crates/engines/mpi), else `../../shared/data/febrl`; skipped with a
//! message when absent. rec_id is used only to score the output.

use std::collections::HashSet;
use std::path::PathBuf;

use yiyang_mpi::{MappingConfig, link_csv};

fn data_dir() -> Option<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut c = Vec::new();
    if let Ok(s) = std::env::var("YIYANG_SHARED_DIR") {
        let base = PathBuf::from(s);
        c.push(base.join("data/febrl"));
        c.push(base.join("febrl"));
        c.push(base);
    }
    c.push(here.join("../../../../shared/data/febrl"));
    c.push(here.join("../../shared/data/febrl"));
    c.into_iter().find(|p| p.join("dataset4a.csv").is_file())
}

fn entity(id: &str) -> &str {
    id.split('-').nth(1).unwrap_or("")
}

#[test]
fn febrl4_f1_at_least_0_999() {
    let Some(dir) = data_dir() else {
        println!("SKIPPED: Febrl data not found (set YIYANG_SHARED_DIR)");
        return;
    };
    let cfg =
        MappingConfig::from_toml(include_str!("../../../../examples/mpi/febrl.toml")).unwrap();
    let a = std::fs::File::open(dir.join("dataset4a.csv")).unwrap();
    let b = std::fs::File::open(dir.join("dataset4b.csv")).unwrap();
    let mut out = Vec::new();
    let stats = link_csv(a, b, &cfg, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let mut links = HashSet::new();
    for r in rdr.records() {
        let r = r.unwrap();
        if &r[4] == "link" {
            links.insert((r[0].to_string(), r[1].to_string()));
        }
    }
    let tp = links.iter().filter(|(a, b)| entity(a) == entity(b)).count() as f64;
    let p = tp / links.len() as f64;
    let r = tp / 5000.0;
    let f1 = 2.0 * p * r / (p + r);
    println!("{stats:?}\nprecision {p:.4} recall {r:.4} F1 {f1:.4}");
    assert!(f1 >= 0.999, "F1 {f1}");
}
