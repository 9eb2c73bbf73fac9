//! Estimates the default matching model (m and u by EM, no labels) on a synthetic Meizhou
//! population and writes it to `crates/modules/patients/src/default_model.toml`, which
//! the platform ships as the starting model until it is retrained on the registry itself
//! (匹配规则与模型 → 训练).
//!
//! `cargo run --release -p yiyang --example train_default_model [-- PERSONS]`

use yiyang_mpi::{Field, synth::Generator};
use yiyang_patients::matching::{MatchFields, default_config};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let cfg = default_config();
    let norm = yiyang_mpi::Normalizer::new(&cfg);
    let mut g = Generator::new(4414);
    let (raw, _) = g.dataset(n, 0.2);
    let recs: Vec<yiyang_mpi::Person> = raw
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let f = |x: Field| r.get(&x).unwrap_or("").to_string();
            let m = MatchFields {
                name: f(Field::FullName),
                sex: f(Field::Sex),
                birth_date: f(Field::BirthDate),
                id_number: f(Field::IdNumber),
                phone: f(Field::Phone),
                district: f(Field::District),
                town: f(Field::Town),
                address_detail: f(Field::AddressDetail),
                insurance_no: String::new(),
            };
            norm.normalize(&m.raw(i as i64))
        })
        .collect();
    let run = yiyang_mpi::dedupe(&cfg, &recs).expect("train");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../modules/patients/src/default_model.toml"
    );
    let header = format!(
        "# Default model of configuration meizhou-1: EM on {} synthetic Meizhou records (20% duplicates),\n# {} iterations, converged: {}. Regenerate: cargo run --release -p yiyang --example train_default_model\n",
        recs.len(),
        run.stats.em_iterations,
        run.stats.em_converged
    );
    std::fs::write(path, header + &run.matcher.model.to_toml()).expect("write model");
    println!(
        "wrote {path}: {} candidate pairs, {} iterations",
        run.stats.n_candidates, run.stats.em_iterations
    );
}
