//! Quick single-core throughput check that is robust to noisy machines
//! (reports the best of several rounds):
//! `cargo run --release --example throughput`.

use std::hint::black_box;
use std::time::Instant;

use yiyang_hl7v2::{Message, ParseBuffers};

const ADT: &str = include_str!("../tests/data/adt_a01_bench.hl7");

fn best_ns(rounds: usize, iters: u32, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    best
}

fn main() {
    let mut bufs = ParseBuffers::new();
    let reuse = best_ns(30, 20_000, || {
        let m = Message::parse_reusing(black_box(ADT), &mut bufs).unwrap();
        black_box(m.segment_count());
        m.recycle(&mut bufs);
    });
    let fresh = best_ns(30, 20_000, || {
        let m = Message::parse(black_box(ADT)).unwrap();
        black_box(m.segment_count());
    });
    println!("message: {} bytes", ADT.len());
    println!(
        "parse (reused buffers): {reuse:.0} ns/msg = {:.0} msg/s",
        1e9 / reuse
    );
    println!(
        "parse (fresh buffers):  {fresh:.0} ns/msg = {:.0} msg/s",
        1e9 / fresh
    );
}
