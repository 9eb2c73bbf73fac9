//! Property tests: encode→parse round trip, and no panics on arbitrary input.

use proptest::prelude::*;
use yiyang_hl7v2::mllp::{MllpDecoder, encode_frame};
use yiyang_hl7v2::*;

fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9 .]{0,8}",
        2 => "[|^~&\\\\#\r\nA张三梅州]{0,6}",
        1 => any::<String>(),
        1 => Just(String::new()),
    ]
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop::collection::vec(
        prop::collection::vec(prop::collection::vec(text_value(), 1..3), 1..4),
        1..3,
    )
    .prop_map(|reps| FieldValue { reps })
}

fn segment_value() -> impl Strategy<Value = SegmentValue> {
    (
        "[A-Z][A-Z0-9]{2}".prop_filter("not a header/trailer id", |id| {
            !matches!(id.as_str(), "MSH" | "FHS" | "BHS" | "BTS" | "FTS")
        }),
        prop::collection::vec(field_value(), 0..8),
    )
        .prop_map(|(id, fields)| SegmentValue { id, fields })
}

fn delimiters() -> impl Strategy<Value = Delimiters> {
    prop_oneof![
        3 => Just(Delimiters::default()),
        1 => Just(Delimiters::from_header_chars('#', "*@!$%")),
    ]
}

fn message_value() -> impl Strategy<Value = MessageValue> {
    (
        delimiters(),
        prop::collection::vec(field_value(), 0..10),
        prop::collection::vec(segment_value(), 0..6),
    )
        .prop_map(|(d, msh_fields, segs)| {
            let mut m = MessageValue::with_msh(d);
            m.segments[0].fields.extend(msh_fields);
            m.segments.extend(segs);
            m
        })
}

/// Touches every accessor so that panics anywhere would surface.
fn exercise(m: &Message<'_>) {
    let _ = m.header();
    let _ = m.to_value();
    for s in m.segments() {
        for f in 0..=s.field_count() + 1 {
            let el = s.field(f);
            let _ = el.value();
            for r in el.repetitions() {
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
        let p = a.pid();
        let _ = (
            p.identifiers().count(),
            p.name(),
            p.birth_date(),
            a.merges(),
        );
        if let Some(v) = a.pv1() {
            let _ = (
                v.assigned_location(),
                v.admit_datetime(),
                v.attending_doctor(),
            );
        }
    }
    if let Ok(o) = Oru::new(m) {
        for g in o.groups() {
            for x in g.observations {
                let _ = (x.values(), x.abnormal_flags(), x.result_status());
            }
        }
    }
    if let Ok(o) = Orders::new(m) {
        for g in o.orders() {
            let _ = (g.priority(), g.placer_order_number());
        }
    }
    if let Ok(s) = Siu::new(m) {
        let _ = (s.start(), s.end(), s.services().count());
    }
    let _ = AckBuilder::new(AckCode::Accept, "1", "20240101").build(m);
}

fn hl7ish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b"MSH|^~\\&|".to_vec()),
            Just(b"\rPID|".to_vec()),
            Just(b"\rOBX|1|NM|".to_vec()),
            Just(b"\nBHS|^~\\&".to_vec()),
            Just(b"\rBTS|".to_vec()),
            Just(b"ADT^A01".to_vec()),
            Just(b"ORU^R01".to_vec()),
            Just("张三".as_bytes().to_vec()),
            Just(b"\\X0D\\".to_vec()),
            prop::collection::vec(any::<u8>(), 0..6),
            prop::sample::select(vec![
                b"|", b"^", b"~", b"&", b"\\", b"\r", b"\n", b"2", b"A"
            ])
            .prop_map(|b| b.to_vec()),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_parse_roundtrips(v in message_value()) {
        let text = v.encode();
        let parsed = Message::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
        prop_assert_eq!(parsed.to_value(), v.clone());
        // and once more through a batch
        let batch_text = format!("{text}\r{text}");
        let b = Batch::parse(&batch_text).unwrap();
        prop_assert_eq!(b.messages().len(), 2);
        prop_assert_eq!(b.messages()[1].to_value(), v);
    }

    #[test]
    fn escape_unescape_roundtrips(s in any::<String>()) {
        let d = Delimiters::default();
        let e = escape(&s, &d);
        let back = unescape(&e, &d).into_owned();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(m) = Message::parse_bytes(&bytes) { exercise(&m); }
        let _ = decode_message(&bytes);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = Batch::parse(&lossy);
    }

    #[test]
    fn hl7ish_bytes_never_panic(bytes in hl7ish()) {
        if let Ok(text) = decode_message(&bytes) {
            if let Ok(m) = Message::parse(&text) { exercise(&m); }
            if let Ok(b) = Batch::parse(&text) {
                for m in b.messages() { exercise(m); }
            }
        }
    }

    #[test]
    fn mllp_any_chunking(payloads in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no frame bytes", |b| *b != 0x0b && *b != 0x1c), 0..50), 1..5),
                         cuts in prop::collection::vec(1usize..20, 1..50)) {
        let mut wire = Vec::new();
        for p in &payloads { wire.extend(encode_frame(p)); }
        let mut dec = MllpDecoder::new(1 << 20);
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            dec.push(&rest[..n]);
            rest = &rest[n..];
            i += 1;
            while let Some(f) = dec.next_frame() { got.push(f.unwrap()); }
        }
        prop_assert_eq!(got, payloads);
        prop_assert!(dec.finish().is_ok());
    }

    #[test]
    fn mllp_garbage_never_panics(bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(0x0b), Just(0x1c), Just(0x0d)], 0..200), max in 0usize..20) {
        let mut dec = MllpDecoder::new(max);
        for chunk in bytes.chunks(7) {
            dec.push(chunk);
            while let Some(f) = dec.next_frame() {
                if let Ok(frame) = f { prop_assert!(frame.len() <= max); }
            }
        }
        let _ = dec.finish();
    }
}
