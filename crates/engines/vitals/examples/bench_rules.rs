//! Throughput of alarm-rule evaluation on one core.
//!
//! `cargo run --release -p yiyang-vitals --example bench_rules [-- SUBJECTS READINGS]`
//!
//! Evaluates the default rule set for SUBJECTS wearers (default 10 000) sending a band
//! reading (pulse, SpO2, temperature; every tenth with blood pressure) every 5 s around
//! a baseline of their own (3 % of the wearers abnormal, so alarms are raised and cleared
//! along the way), plus a tick per subject every minute. Prints readings per second.

use std::time::Instant;
use yiyang_vitals::{Profile, RuleSet, Vitals};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let subjects: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let readings: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000_000);

    let set = RuleSet::default_set();
    let mut states: Vec<_> = (0..subjects)
        .map(|_| set.subject(Profile::default(), 0).expect("default profile"))
        .collect();

    // Each subject has its own baseline (3 % of them abnormal); readings are the baseline
    // plus noise from a pool generated before timing.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let base: Vec<(f64, f64, f64)> = (0..subjects)
        .map(|_| {
            if rng.unit() < 0.03 {
                (
                    rng.range(35.0, 150.0),
                    rng.range(84.0, 100.0),
                    rng.range(35.0, 39.8),
                )
            } else {
                (
                    rng.range(58.0, 95.0),
                    rng.range(95.0, 99.0),
                    rng.range(36.2, 37.3),
                )
            }
        })
        .collect();
    let noise: Vec<(f64, f64, f64, f64)> = (0..65_536)
        .map(|_| {
            (
                rng.range(-4.0, 4.0),
                rng.range(-1.0, 1.0),
                rng.range(-0.1, 0.1),
                rng.range(110.0, 150.0),
            )
        })
        .collect();

    let start = Instant::now();
    let mut events = 0usize;
    let mut ticks = 0usize;
    for i in 0..readings {
        let s = i % subjects;
        let round = (i / subjects) as i64;
        let at = round * 5_000_000 + s as i64;
        let (hr, spo2, temp) = base[s];
        let (dh, ds, dt, sbp) = noise[i % noise.len()];
        let bp = i % 10 == 0;
        let v = Vitals {
            heart_rate: Some((hr + dh).round()),
            spo2: Some((spo2 + ds).round().min(100.0)),
            temperature: Some(((temp + dt) * 10.0).round() / 10.0),
            systolic: bp.then_some(sbp.round()),
            diastolic: bp.then_some((sbp * 0.62).round()),
            ..Vitals::default()
        };
        events += set.evaluate(&mut states[s], at, &v).len();
        if round % 12 == 11 {
            events += set.tick(&mut states[s], at + 1).len();
            ticks += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();

    let per_subject = std::mem::size_of_val(&states[0])
        + states[0].history().ring_bytes()
        + set.rules().len() * std::mem::size_of::<yiyang_vitals::RuleState>();
    println!(
        "{readings} readings ({ticks} ticks) for {subjects} subjects, {} rules, {events} events in {secs:.3} s",
        set.rules().len()
    );
    println!("{:.0} readings/s on one core", readings as f64 / secs);
    println!("about {per_subject} bytes of rule state per subject");
}
