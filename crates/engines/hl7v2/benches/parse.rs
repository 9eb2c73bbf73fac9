//! Benchmarks on a realistic 588-byte, 6-segment ADT^A01
//! (MSH, EVN, PID, NK1, PV1, AL1). Run with `cargo bench -j 1`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use yiyang_hl7v2::{Adt, Message, ParseBuffers};

const ADT: &str = include_str!("../tests/data/adt_a01_bench.hl7");

/// Typed extraction of the usual ADT facts; returns something to black-box.
fn extract(m: &Message<'_>) -> usize {
    let adt = Adt::new(m).unwrap();
    let pid = adt.pid();
    let mut n = 0;
    for id in pid.identifiers() {
        n += id.id.len() + id.identifier_type.len() + id.assigning_authority.namespace_id.len();
    }
    let name = pid.name();
    n += name.family.len() + name.given.len();
    n += pid.birth_date().unwrap().map_or(0, |d| d.day as usize);
    n += pid.sex().len();
    for a in pid.addresses() {
        n += a.street.len() + a.city.len() + a.zip.len();
    }
    for p in pid.home_phones() {
        n += p.local_number.len();
    }
    n += pid.ssn().len();
    let pv1 = adt.pv1().unwrap();
    n += pv1.patient_class().len();
    let loc = pv1.assigned_location();
    n += loc.point_of_care.len() + loc.room.len() + loc.bed.len();
    n += pv1.attending_doctor().map_or(0, |d| d.family.len());
    n += pv1.visit_number().id.len();
    n += pv1
        .admit_datetime()
        .unwrap()
        .map_or(0, |t| t.minute as usize);
    n
}

/// Decodes every leaf value (escape sequences included).
fn decode_all(m: &Message<'_>) -> usize {
    let mut n = 0;
    for s in m.segments() {
        for f in s.fields() {
            for r in f.repetitions() {
                for c in r.components() {
                    for sc in c.subcomponents() {
                        n += sc.value().len();
                    }
                }
            }
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    assert!(
        (571..=601).contains(&ADT.len()),
        "sample is {} bytes",
        ADT.len()
    );
    let mut g = c.benchmark_group("adt_a01_588B");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_fresh_buffers", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(ADT)).unwrap();
            black_box(m.segment_count())
        })
    });
    let mut bufs = ParseBuffers::new();
    g.bench_function("parse_reused_buffers", |b| {
        b.iter(|| {
            let m = Message::parse_reusing(black_box(ADT), &mut bufs).unwrap();
            let n = m.segment_count();
            m.recycle(&mut bufs);
            black_box(n)
        })
    });
    let parsed = Message::parse(ADT).unwrap();
    g.bench_function("typed_adt_view_extract", |b| {
        b.iter(|| black_box(extract(black_box(&parsed))))
    });
    g.bench_function("parse_reused_plus_typed_extract", |b| {
        b.iter(|| {
            let m = Message::parse_reusing(black_box(ADT), &mut bufs).unwrap();
            let n = extract(&m);
            m.recycle(&mut bufs);
            black_box(n)
        })
    });
    g.bench_function("decode_every_leaf_value", |b| {
        b.iter(|| black_box(decode_all(black_box(&parsed))))
    });
    let value = parsed.to_value();
    g.bench_function("encode_from_values", |b| {
        b.iter(|| black_box(value.encode()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
