//! Charset detection, parsing, batches, typed views and ACKs on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yiyang_hl7v2::*;

fn exercise(m: &Message<'_>) {
    let _ = m.header();
    let v = m.to_value();
    let text = v.encode();
    let again = Message::parse(&text).expect("encoder output must parse");
    assert_eq!(again.to_value(), v, "encode/parse round trip");
    for s in m.segments() {
        for f in 0..=s.field_count() {
            for r in s.field(f).repetitions() {
                for c in r.components() {
                    for sc in c.subcomponents() {
                        let _ = sc.value();
                    }
                }
            }
            let _ = s.timestamp(f);
        }
    }
    if let Ok(a) = Adt::new(m) {
        let _ = (a.pid().identifiers().count(), a.pid().birth_date(), a.merges());
    }
    if let Ok(o) = Oru::new(m) {
        for g in o.groups() {
            for x in g.observations {
                let _ = (x.values(), x.is_critical());
            }
        }
    }
    if let Ok(o) = Orders::new(m) {
        for g in o.orders() {
            let _ = g.priority();
        }
    }
    if let Ok(s) = Siu::new(m) {
        let _ = (s.start(), s.end());
    }
    let _ = AckBuilder::new(AckCode::Error, "1", "20240101").build(m);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = decode_message(data) {
        if let Ok(m) = Message::parse(&text) {
            exercise(&m);
        }
        if let Ok(b) = Batch::parse(&text) {
            for m in b.messages() {
                exercise(m);
            }
        }
    }
});
