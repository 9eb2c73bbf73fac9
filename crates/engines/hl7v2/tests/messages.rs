//! Realistic (fictional) messages through parser, views, ACK and MLLP.

use yiyang_hl7v2::mllp::{MllpDecoder, encode_frame};
use yiyang_hl7v2::*;

fn cr(lines: &[&str]) -> String {
    lines.join("\r")
}

#[test]
fn adt_a01_v251_chinese_names() {
    let text = cr(&[
        "MSH|^~\\&|YIYANG_HIS|梅州市人民医院^1.2.156.112635.1^ISO|YIYANG_EMR|MZPH|20240315083012+0800||ADT^A01^ADT_A01|MSG0001|P|2.5.1|||AL|NE|CHN|UNICODE UTF-8",
        "EVN||20240315083000|||D0123^陈^伟|20240315082500",
        "PID|1||441402195003151234^^^MZPH&1.2.156.112635&ISO^MR~P77821^^^MZPH^PI~441402195003151234^^^CHN^NNCHN||李^秀英^^^^^L~LI^XIUYING^^^^^A||19500315|F|||江北路12号^3栋4单元^梅州市^广东省^514000^CHN^H||^PRN^PH^^86^753^2212345~^PRN^CP^^86^^13800138000|^WPN^PH^^86^753^2250000||M^已婚^HL70002||V0315001^^^MZPH^AN|441402195003151234||||梅州|||||CHN^中国",
        "NK1|1|王^明|SON^儿子^HL70063|江北路12号^^梅州市^广东省^514000^CHN|^PRN^CP^^86^^13900139000",
        "PV1|1|I|CARD^0312^02^MZPH^^^住院部A栋^3^心内科病区|E|||D0123^陈^伟^^^Dr.^^^MZPH|D0456^黄^丽||CAR||||7|||D0123^陈^伟|||||||||||||||||||||||||20240315082500||20240315082500|",
        "AL1|1|DA|PCN^青霉素^L|SV|皮疹",
    ]);
    let m = Message::parse(&text).unwrap();
    let h = m.header().unwrap();
    assert_eq!(h.message_type.code, "ADT");
    assert_eq!(h.message_type.trigger, "A01");
    assert_eq!(h.message_type.structure, "ADT_A01");
    assert_eq!(h.control_id, "MSG0001");
    assert_eq!(h.processing_id, "P");
    assert_eq!(h.version, "2.5.1");
    assert_eq!(h.sending_application.namespace_id, "YIYANG_HIS");
    assert_eq!(h.sending_facility.namespace_id, "梅州市人民医院");
    assert_eq!(h.sending_facility.universal_id, "1.2.156.112635.1");
    assert_eq!(h.receiving_facility.namespace_id, "MZPH");
    assert_eq!(h.charset, "UNICODE UTF-8");

    let adt = Adt::new(&m).unwrap();
    assert_eq!(adt.event(), AdtEvent::Admit);
    let evn = adt.evn().unwrap();
    assert_eq!(
        evn.recorded().unwrap().unwrap().to_string(),
        "20240315083000"
    );
    assert_eq!(evn.operators().next().unwrap().family, "陈");
    let pid = adt.pid();
    let ids: Vec<_> = pid.identifiers().collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0].id, "441402195003151234");
    assert_eq!(ids[0].assigning_authority.namespace_id, "MZPH");
    assert_eq!(ids[0].assigning_authority.universal_id, "1.2.156.112635");
    assert_eq!(ids[0].assigning_authority.universal_id_type, "ISO");
    assert_eq!(ids[0].identifier_type, "MR");
    assert_eq!(pid.identifier_of_type("PI").unwrap().id, "P77821");
    let name = pid.name();
    assert_eq!((name.family.as_ref(), name.given.as_ref()), ("李", "秀英"));
    assert_eq!(name.display_name(), "李秀英");
    assert_eq!(pid.names().nth(1).unwrap().display_name(), "XIUYING LI");
    assert_eq!(pid.sex(), "F");
    let dob = pid.birth_date().unwrap().unwrap();
    assert_eq!((dob.year, dob.month, dob.day), (1950, 3, 15));
    let addr = pid.addresses().next().unwrap();
    assert_eq!(addr.street, "江北路12号");
    assert_eq!(addr.city, "梅州市");
    assert_eq!(addr.state, "广东省");
    assert_eq!(addr.zip, "514000");
    assert_eq!(addr.address_type, "H");
    let phones: Vec<_> = pid.home_phones().collect();
    assert_eq!(phones.len(), 2);
    assert_eq!(phones[1].equipment_type, "CP");
    assert_eq!(phones[1].best(), "+86 13800138000");
    assert_eq!(
        pid.business_phones().next().unwrap().best(),
        "+86 753 2250000"
    );
    assert_eq!(pid.marital_status().text, "已婚");
    assert_eq!(pid.account_number().id, "V0315001");
    assert_eq!(pid.ssn(), "441402195003151234");
    assert_eq!(pid.birth_place(), "梅州");
    assert_eq!(pid.nationality().text, "中国");

    let pv1 = adt.pv1().unwrap();
    assert_eq!(pv1.patient_class(), "I");
    let loc = pv1.assigned_location();
    assert_eq!(
        (
            loc.point_of_care.as_ref(),
            loc.room.as_ref(),
            loc.bed.as_ref()
        ),
        ("CARD", "0312", "02")
    );
    assert_eq!(loc.facility.namespace_id, "MZPH");
    assert_eq!(loc.building, "住院部A栋");
    assert_eq!(loc.description, "心内科病区");
    let doc = pv1.attending_doctor().unwrap();
    assert_eq!((doc.id.as_ref(), doc.family.as_ref()), ("D0123", "陈"));
    assert_eq!(doc.assigning_authority.namespace_id, "MZPH");
    assert_eq!(pv1.referring_doctors().next().unwrap().family, "黄");
    assert_eq!(pv1.hospital_service(), "CAR");
    assert_eq!(
        pv1.admit_datetime().unwrap().unwrap().to_string(),
        "20240315082500"
    );
    assert_eq!(pv1.discharge_datetime().unwrap(), None);
    assert!(adt.mrg().is_none());
    // round trip through the value model
    assert_eq!(
        Message::parse(&m.to_value().encode()).unwrap().to_value(),
        m.to_value()
    );
}

#[test]
fn adt_v23_lenient_crlf_trailing_separators() {
    // v2.3: no MSG-3, TS with degree-of-precision component, CRLF endings,
    // trailing separators, extra fields, missing EVN/PV1, Z-segment.
    let text = "MSH|^~\\&|OLDHIS|MZ2|||200801021530||ADT^A08|0000123|P|2.3|||||||\r\n\
PID|||A123456||张^三丰^^^^^L||19620704^D|M|||||||||||||||||||||||extra|fields|\r\n\
ZPI|1|特殊字段^x|\r\n";
    let m = Message::parse(text).unwrap();
    let t = m.message_type().unwrap();
    assert_eq!((t.trigger.as_ref(), t.structure.as_ref()), ("A08", ""));
    let adt = Adt::new(&m).unwrap();
    assert_eq!(adt.event(), AdtEvent::Update);
    assert!(adt.evn().is_none());
    assert!(adt.pv1().is_none());
    let pid = adt.pid();
    assert_eq!(pid.identifiers().next().unwrap().id, "A123456");
    assert_eq!(pid.name().display_name(), "张三丰");
    assert_eq!(pid.birth_date().unwrap().unwrap().year, 1962);
    assert!(pid.segment().field_count() > 30);
    let z = m.segment("ZPI").unwrap();
    assert_eq!(z.field(2).component(1).value(), "特殊字段");
    assert_eq!(m.query("ZPI-2-2").unwrap().raw(), "x");
    // ACK in v2.3 has no message structure component
    let ack = AckBuilder::new(AckCode::Accept, "ACK77", "20080102153001").build(&m);
    assert!(ack.starts_with("MSH|^~\\&|||OLDHIS|MZ2|20080102153001||ACK^A08|ACK77|P|2.3"));
}

#[test]
fn adt_a40_merge_and_other_events() {
    let text = cr(&[
        "MSH|^~\\&|HIS|MZPH|EMPI|MZPH|20240401||ADT^A40^ADT_A39|M40|P|2.5",
        "EVN|A40|20240401",
        "PID|||NEW001^^^MZPH^MR||刘^备",
        "MRG|OLD001^^^MZPH^MR~OLD002^^^MZPH^MR||ACC9||||刘^备",
        "PID|||NEW002^^^MZPH^MR||关^羽",
        "MRG|OLD003^^^MZPH^MR",
    ]);
    let m = Message::parse(&text).unwrap();
    let adt = Adt::new(&m).unwrap();
    assert_eq!(adt.event(), AdtEvent::Merge);
    let merges = adt.merges();
    assert_eq!(merges.len(), 2);
    let prior: Vec<_> = merges[0]
        .1
        .unwrap()
        .prior_identifiers()
        .map(|c| c.id.into_owned())
        .collect();
    assert_eq!(prior, ["OLD001", "OLD002"]);
    assert_eq!(merges[0].1.unwrap().prior_account_number().id, "ACC9");
    assert_eq!(
        merges[0].1.unwrap().prior_names().next().unwrap().family,
        "刘"
    );
    assert_eq!(merges[1].0.name().family, "关");
    for (trigger, ev) in [
        ("A02", AdtEvent::Transfer),
        ("A03", AdtEvent::Discharge),
        ("A04", AdtEvent::Register),
        ("A11", AdtEvent::CancelAdmit),
        ("A13", AdtEvent::CancelDischarge),
    ] {
        let t = format!("MSH|^~\\&|A|B|C|D|20240101||ADT^{trigger}|1|P|2.4\rPID|||1");
        let m = Message::parse(&t).unwrap();
        assert_eq!(Adt::new(&m).unwrap().event(), ev);
    }
}

#[test]
fn gb18030_encoded_message() {
    let text = cr(&[
        "MSH|^~\\&|HIS|梅州医院|LIS|检验科|20240315||ADT^A04^ADT_A01|GB001|P|2.4||||||GB 18030-2000",
        "PID|1||9001^^^MZPH^MR||欧阳^娜娜||19880808|F|||客家大道1号^^梅州市^广东省",
    ]);
    let bytes = encode_message(&text).unwrap().into_owned();
    assert_ne!(bytes, text.as_bytes(), "must really be GB18030 bytes");
    assert!(std::str::from_utf8(&bytes).is_err());
    assert!(Message::parse_bytes(&bytes).is_err());
    let decoded = decode_message(&bytes).unwrap();
    let m = Message::parse(&decoded).unwrap();
    let adt = Adt::new(&m).unwrap();
    assert_eq!(adt.event(), AdtEvent::Register);
    assert_eq!(adt.pid().name().display_name(), "欧阳娜娜");
    assert_eq!(adt.pid().addresses().next().unwrap().city, "梅州市");
    assert_eq!(
        m.header().unwrap().sending_facility.namespace_id,
        "梅州医院"
    );
    // over MLLP, in small chunks
    let wire = encode_frame(&bytes);
    let mut dec = MllpDecoder::default();
    let mut frames = Vec::new();
    for chunk in wire.chunks(7) {
        dec.push(chunk);
        while let Some(f) = dec.next_frame() {
            frames.push(f.unwrap());
        }
    }
    assert_eq!(frames, vec![bytes.clone()]);
    // the ACK keeps the charset, and encodes back to GB18030
    let ack = AckBuilder::new(AckCode::Accept, "A-GB001", "20240315000001")
        .text("已收到")
        .build(&m);
    assert!(ack.contains("||||||GB 18030-2000\r"));
    let ack_bytes = encode_message(&ack).unwrap();
    assert_eq!(decode_message(&ack_bytes).unwrap(), ack);
}

#[test]
fn every_escape_sequence() {
    let text = "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|E1|P|2.5.1\r\
OBX|1|TX|NOTE||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D\\g\\X0A\\h\\.br\\i\\H\\bold\\N\\j\\Cxxyy\\k\\Zvendor\\l\\.sp\\m\\XE6A285\\|";
    let m = Message::parse(text).unwrap();
    let obx = m.segment("OBX").unwrap();
    assert_eq!(
        obx.field(5).value(),
        "a|b^c&d~e\\f\rg\nh\ni\\H\\bold\\N\\j\\Cxxyy\\k\\Zvendor\\l\nm梅"
    );
    // the structure is not affected by escaped delimiters
    assert_eq!(obx.field(5).child_count(), 1);
    assert_eq!(obx.field(5).components().count(), 1);
    let v = Oru::new(&m)
        .unwrap()
        .observations()
        .next()
        .unwrap()
        .value()
        .unwrap();
    assert!(matches!(v, Some(ObxValue::Text(t)) if t.starts_with("a|b^c&d~e")));
    // encoder escapes back
    let value = m.to_value();
    let encoded = value.encode();
    let again = Message::parse(&encoded).unwrap();
    assert_eq!(again.to_value(), value);
}

#[test]
fn batch_with_envelope() {
    let text = cr(&[
        "FHS|^~\\&|YIYANG|MZPH|||20240315||batch-file-1",
        "BHS|^~\\&|YIYANG|MZPH|||20240315||batch-1",
        "MSH|^~\\&|HIS|MZPH|EMR|MZPH|20240315||ADT^A04|B1|P|2.5",
        "PID|1||1001^^^MZPH^MR||赵^云",
        "MSH|^~\\&|HIS|MZPH|EMR|MZPH|20240315||ADT^A08|B2|P|2.5",
        "PID|1||1002^^^MZPH^MR||孙^权",
        "MSH|^~\\&|LIS|MZPH|EMR|MZPH|20240315||ORU^R01|B3|P|2.5",
        "OBR|1||F1|GLU^Glucose^LN",
        "OBX|1|NM|GLU^Glucose^LN||5.6|mmol/L|3.9-6.1|N|||F",
        "BTS|3",
        "FTS|1",
    ]) + "\r";
    let b = Batch::parse(&text).unwrap();
    assert_eq!(b.messages().len(), 3);
    assert_eq!(b.declared_message_count(), Some(3));
    assert_eq!(b.fhs().unwrap().field(9).raw(), "batch-file-1");
    assert_eq!(b.bhs().unwrap().field(9).raw(), "batch-1");
    assert_eq!(b.fts().unwrap().field(1).raw(), "1");
    let ids: Vec<_> = b
        .messages()
        .iter()
        .map(|m| m.control_id().into_owned())
        .collect();
    assert_eq!(ids, ["B1", "B2", "B3"]);
    assert_eq!(
        Adt::new(&b.messages()[1])
            .unwrap()
            .pid()
            .name()
            .display_name(),
        "孙权"
    );
    let m3 = &b.messages()[2];
    assert!(m3.as_str().starts_with("MSH|^~\\&|LIS"));
    assert!(m3.as_str().ends_with("|F"));
    // positions are offsets into the whole batch text
    let pos = m3.segment("OBX").unwrap().position();
    assert!(text[pos..].starts_with("OBX|1|NM"));
    // a message inside a batch cannot be parsed alone with Message::parse
    assert!(matches!(
        Message::parse(&text),
        Err(Error::MissingHeader {
            expected: "MSH",
            ..
        })
    ));
}

#[test]
fn oru_r01_values_flags_status() {
    let text = cr(&[
        "MSH|^~\\&|LIS|MZPH|EMR|MZPH|20240315101500||ORU^R01^ORU_R01|R001|P|2.5.1",
        "PID|1||441402195003151234^^^MZPH^MR||李^秀英||19500315|F",
        "PV1|1|O|CLINIC^^^MZPH",
        "ORC|RE|PL123^HIS|FL456^LIS",
        "OBR|1|PL123^HIS|FL456^LIS|CBC^血常规^L|||20240315080000|||||||||D0123^陈^伟||||||20240315101000|||F",
        "OBX|1|NM|718-7^Hemoglobin^LN||62|g/L|115-150|LL|||F|||20240315095000",
        "OBX|2|NM|6690-2^WBC^LN||25.3|10*9/L|3.5-9.5|HH~A|||F",
        "OBX|3|ST|SPEC^标本状态^L||轻度溶血||||||P",
        "OBX|4|CWE|BT^Blood type^L||A^A型^HL70005||||||C",
        "OBX|5|SN|CRP^C-reactive protein^L||>^200|mg/L|0-10|AA|||F",
        "OBX|6|SN|TITER^Titer^L||^1^:^128||||||F",
        "OBX|7|DT|LMP^末次月经^L||20240301||||||F",
        "OBX|8|TS|COLL^Collected^L||202403150800+0800||||||F",
        "OBX|9|TX|COMMENT^备注^L||第一行\\.br\\第二行~第三行||||||F",
        "NTE|1||复查",
        "OBR|2|PL124^HIS|FL457^LIS|GLU^血糖^L",
        "OBX|1|NM|GLU^Glucose^LN||5.6|mmol/L|3.9-6.1|N|||X",
    ]);
    let m = Message::parse(&text).unwrap();
    let oru = Oru::new(&m).unwrap();
    assert_eq!(oru.pid().unwrap().name().display_name(), "李秀英");
    assert_eq!(oru.pv1().unwrap().patient_class(), "O");
    let groups = oru.groups();
    assert_eq!(groups.len(), 2);
    let g = &groups[0];
    assert_eq!(g.orc.unwrap().order_control(), "RE");
    assert_eq!(g.obr.universal_service_id().text, "血常规");
    assert_eq!(g.obr.filler_order_number().id, "FL456");
    assert_eq!(g.obr.result_status(), "F");
    assert_eq!(g.observations.len(), 9);
    let o = &g.observations;
    assert_eq!(
        o[0].value().unwrap(),
        Some(ObxValue::Numeric {
            value: 62.0,
            raw: "62".into()
        })
    );
    assert_eq!(o[0].units().identifier, "g/L");
    assert_eq!(o[0].reference_range(), "115-150");
    assert_eq!(o[0].abnormal_flags(), vec![AbnormalFlag::CriticalLow]);
    assert!(o[0].is_critical());
    assert_eq!(o[0].result_status(), ResultStatus::Final);
    assert_eq!(o[0].observation_datetime().unwrap().unwrap().hour, 9);
    assert_eq!(
        o[1].abnormal_flags(),
        vec![AbnormalFlag::CriticalHigh, AbnormalFlag::Abnormal]
    );
    assert!(o[1].is_critical());
    assert_eq!(
        o[2].value().unwrap(),
        Some(ObxValue::String("轻度溶血".into()))
    );
    assert_eq!(o[2].result_status(), ResultStatus::Preliminary);
    assert!(!o[2].is_critical());
    match o[3].value().unwrap() {
        Some(ObxValue::Coded(ce)) => {
            assert_eq!((ce.identifier.as_ref(), ce.text.as_ref()), ("A", "A型"));
            assert_eq!(ce.coding_system, "HL70005");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(o[3].result_status(), ResultStatus::Corrected);
    match o[4].value().unwrap() {
        Some(ObxValue::Structured(sn)) => {
            assert_eq!(sn.comparator, ">");
            assert_eq!(sn.num1, Some(200.0));
        }
        other => panic!("{other:?}"),
    }
    assert!(o[4].is_critical());
    match o[5].value().unwrap() {
        Some(ObxValue::Structured(sn)) => {
            assert_eq!(
                (sn.num1, sn.separator.as_str(), sn.num2),
                (Some(1.0), ":", Some(128.0))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(o[6].value().unwrap(), Some(ObxValue::Date(d)) if d.day == 1));
    assert!(
        matches!(o[7].value().unwrap(), Some(ObxValue::DateTime(t)) if t.offset_minutes == Some(480))
    );
    let texts = o[8].values().unwrap();
    assert_eq!(
        texts,
        vec![
            ObxValue::Text("第一行\n第二行".into()),
            ObxValue::Text("第三行".into())
        ]
    );
    assert_eq!(
        groups[1].observations[0].result_status(),
        ResultStatus::CannotObtain
    );
    assert_eq!(oru.observations().count(), 10);
}

#[test]
fn orm_o01_v23_and_oml_o21_v251() {
    let orm = cr(&[
        "MSH|^~\\&|HIS|MZPH|RIS|MZPH|20240315||ORM^O01|O1|P|2.3",
        "PID|||1001^^^MZPH^MR||周^瑜",
        "PV1||I|WARD1^101^1",
        "ORC|NW|ORD1001^HIS||GRP1^HIS|SC||^^^20240316090000^^S",
        "OBR|1|ORD1001^HIS||CT001^胸部CT平扫^L|||20240315|||||||||D0123^陈^伟",
        "ORC|CA|ORD1000^HIS|FIL99^RIS",
        "OBR|1|ORD1000^HIS|FIL99^RIS|US01^腹部B超^L|R",
    ]);
    let m = Message::parse(&orm).unwrap();
    let o = Orders::new(&m).unwrap();
    assert_eq!(o.pid().unwrap().name().display_name(), "周瑜");
    assert_eq!(o.pv1().unwrap().assigned_location().room, "101");
    let orders = o.orders();
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[0].orc.order_control(), "NW");
    assert_eq!(orders[0].placer_order_number().id, "ORD1001");
    assert_eq!(orders[0].placer_order_number().namespace_id, "HIS");
    assert_eq!(orders[0].orc.placer_group_number().id, "GRP1");
    assert_eq!(orders[0].universal_service_id().text, "胸部CT平扫");
    assert_eq!(orders[0].priority(), "S");
    assert_eq!(orders[0].orc.timing_start().unwrap().unwrap().day, 16);
    assert_eq!(
        orders[0]
            .obr
            .unwrap()
            .ordering_providers()
            .next()
            .unwrap()
            .family,
        "陈"
    );
    assert_eq!(orders[1].orc.order_control(), "CA");
    assert_eq!(orders[1].filler_order_number().id, "FIL99");
    assert_eq!(orders[1].priority(), "R");

    let oml = cr(&[
        "MSH|^~\\&|HIS|MZPH|LIS|MZPH|20240315||OML^O21^OML_O21|L1|P|2.5.1",
        "PID|||1001^^^MZPH^MR||周^瑜",
        "ORC|NW|LAB77^HIS|||||||20240315083000",
        "TQ1|1||||||20240315090000||A",
        "OBR|1|LAB77^HIS||GLU^血糖^L|||||||||||BLD",
        "SPM|1|||BLD^Blood",
    ]);
    let m = Message::parse(&oml).unwrap();
    let orders = Orders::new(&m).unwrap().orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].priority(), "A");
    assert_eq!(orders[0].placer_order_number().id, "LAB77");
    assert_eq!(orders[0].obr.unwrap().specimen_source(), "BLD");
    assert!(orders[0].orc.transaction_datetime().unwrap().is_some());
    assert!(matches!(
        Orders::new(&Message::parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5").unwrap()),
        Err(Error::WrongMessageType { .. })
    ));
}

#[test]
fn siu_s12_to_s15() {
    let text = cr(&[
        "MSH|^~\\&|SCHED|MZPH|HIS|MZPH|20240315||SIU^S12^SIU_S12|S1|P|2.5",
        "SCH|APT100^SCHED|FAPT200^HIS|||||CHECKUP^年度体检^L|ROUTINE^常规|30|min^minutes|^^^20240320090000^20240320093000|||||D0123^陈^伟|||||||||Booked",
        "PID|||1001^^^MZPH^MR||吴^国太",
        "RGS|1",
        "AIS|1|A|HC01^健康体检^L|20240320090000|0|min|30|min||Booked",
        "AIL|1|A|CLINIC^^^MZPH^^^门诊楼^2|EXAM^Exam room||20240320090000|||30|min||Booked",
        "AIP|1|A|D0123^陈^伟|ATT^Attending||20240320090000|||30|min||Booked",
    ]);
    let m = Message::parse(&text).unwrap();
    let siu = Siu::new(&m).unwrap();
    assert_eq!(siu.trigger(), "S12");
    let sch = siu.sch();
    assert_eq!(sch.placer_appointment_id().id, "APT100");
    assert_eq!(sch.filler_appointment_id().id, "FAPT200");
    assert_eq!(sch.appointment_reason().text, "年度体检");
    assert_eq!(sch.appointment_type().text, "常规");
    assert_eq!(sch.duration(), "30");
    assert_eq!(sch.filler_status().identifier, "Booked");
    assert_eq!(sch.filler_contacts().next().unwrap().family, "陈");
    assert_eq!(siu.start().unwrap().unwrap().hour, 9);
    assert_eq!(siu.end().unwrap().unwrap().minute, 30);
    assert_eq!(siu.pid().unwrap().name().display_name(), "吴国太");
    let ais = siu.services().next().unwrap();
    assert_eq!(ais.universal_service_id().text, "健康体检");
    assert_eq!(ais.duration(), "30");
    assert_eq!(ais.filler_status().identifier, "Booked");
    let ail = siu.locations().next().unwrap();
    assert_eq!(ail.location().building, "门诊楼");
    assert_eq!(ail.start().unwrap().unwrap().day, 20);
    let aip = siu.personnel().next().unwrap();
    assert_eq!(aip.personnel().family, "陈");
    assert_eq!(aip.resource_role().identifier, "ATT");

    for trig in ["S13", "S14", "S15"] {
        let t = format!(
            "MSH|^~\\&|S|F|R|F|1||SIU^{trig}|1|P|2.3.1\rSCH|A1||||||||||^^^20240320090000\rTQ1|1||||||20240321100000"
        );
        let m = Message::parse(&t).unwrap();
        let siu = Siu::new(&m).unwrap();
        assert_eq!(siu.trigger(), trig);
        assert_eq!(siu.start().unwrap().unwrap().day, 21, "TQ1 wins");
        assert_eq!(siu.sch().start().unwrap().unwrap().day, 20);
    }
    let no_sch = Message::parse("MSH|^~\\&|S|F|R|F|1||SIU^S12|1|P|2.5").unwrap();
    assert_eq!(
        Siu::new(&no_sch).unwrap_err(),
        Error::MissingSegment { segment: "SCH" }
    );
}

#[test]
fn malformed_inputs_give_errors() {
    assert_eq!(Message::parse("").unwrap_err(), Error::Empty);
    assert_eq!(Message::parse(" \r\n\t\r").unwrap_err(), Error::Empty);
    assert!(matches!(
        Message::parse("PID|1||123"),
        Err(Error::MissingHeader { position: 0, .. })
    ));
    assert!(matches!(
        Message::parse("MSH"),
        Err(Error::MissingHeader { .. })
    ));
    assert!(matches!(
        Message::parse("MSH|"),
        Err(Error::InvalidDelimiters { index: 0, .. })
    ));
    assert!(matches!(
        Message::parse("MSH|^^\\&|A"),
        Err(Error::InvalidDelimiters { .. })
    ));
    assert!(matches!(
        Message::parse("MSH|ab\\&|A"),
        Err(Error::InvalidDelimiters { .. })
    ));
    let e = Message::parse("MSH|^~\\&|A\rPID|1\rP@D|2").unwrap_err();
    assert_eq!(
        e,
        Error::InvalidSegmentId {
            index: 2,
            position: 17,
            found: "P@D|2".into()
        }
    );
    assert!(e.to_string().contains("segment #2 at byte 17"));
    assert!(matches!(
        Message::parse("MSH|^~\\&|A\rPIDX|1"),
        Err(Error::InvalidSegmentId { index: 1, .. })
    ));
    assert!(matches!(
        Message::parse("MSH|^~\\&|A\rPID^1"),
        Err(Error::InvalidSegmentId { index: 1, .. })
    ));
    assert!(matches!(
        Message::parse("MSH|^~\\&|A\rMSH|^~\\&|B"),
        Err(Error::UnexpectedSegment { index: 1, .. })
    ));
    assert!(matches!(
        Message::parse("\x0bMSH|^~\\&|A\x1c\r"),
        Err(Error::MissingHeader { .. })
    ));
    assert!(matches!(
        Message::parse_bytes(b"MSH|^~\\&|\xff"),
        Err(Error::InvalidEncoding { position: 9, .. })
    ));
    // typed access: errors name segment, index, field and position
    let m = Message::parse("MSH|^~\\&|A|||||||1|P|2.5\rPID|1||1||x||19501345").unwrap();
    assert!(matches!(
        m.message_type(),
        Err(Error::MissingField { field: 9, .. })
    ));
    assert!(Adt::new(&m).is_err());
    let pid = Pid::new(m.segment_at(1).unwrap()).unwrap();
    let err = pid.birth_date().unwrap_err();
    assert_eq!(
        err,
        Error::InvalidValue {
            segment: "PID".into(),
            index: 1,
            field: 7,
            position: 38,
            value: "19501345".into(),
            reason: "not an HL7 date/time (YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ])"
        }
    );
    assert!(
        err.to_string()
            .starts_with("segment PID (#1) field 7 at byte 38")
    );
    let bad_nm =
        Message::parse("MSH|^~\\&|A||||||ORU^R01|1|P|2.5\rOBR|1\rOBX|1|NM|X||abc").unwrap();
    let obx = Oru::new(&bad_nm).unwrap().observations().next().unwrap();
    assert!(matches!(
        obx.value(),
        Err(Error::InvalidValue {
            field: 5,
            index: 2,
            ..
        })
    ));
    let ack = AckBuilder::new(AckCode::Error, "A1", "20240101")
        .error(AckError::from_error(&err))
        .build(&m);
    assert!(ack.contains("ERR||PID^1^7|102^Data type error^HL70357|E|||segment PID (#1) field 7"));
}

#[test]
fn custom_delimiters_and_truncation_char() {
    let text =
        "MSH#*@!$%#HIS#MZPH###20240101##ADT*A01#1#P#2.7\rPID#1##99*!F!x*!S!*MZPH$1.2$ISO*MR##王*五";
    let m = Message::parse(text).unwrap();
    assert_eq!(m.delimiters().truncation, Some(b'%'));
    let pid = Adt::new(&m).unwrap().pid();
    let id = pid.identifiers().next().unwrap();
    assert_eq!(id.id, "99");
    assert_eq!(id.check_digit, "#x");
    assert_eq!(id.check_digit_scheme, "*");
    assert_eq!(id.assigning_authority.universal_id, "1.2");
    assert_eq!(pid.name().display_name(), "王五");
    assert_eq!(
        Message::parse(&m.to_value().encode()).unwrap().to_value(),
        m.to_value()
    );
}

#[test]
fn reusing_buffers() {
    let mut bufs = ParseBuffers::new();
    for i in 0..3 {
        let t = format!("MSH|^~\\&|A|||||||{i}|P|2.5\rPID|1||{i}");
        let m = Message::parse_reusing(&t, &mut bufs).unwrap();
        assert_eq!(m.control_id(), i.to_string());
        m.recycle(&mut bufs);
    }
    assert!(Message::parse_reusing("garbage", &mut bufs).is_err());
    let m = Message::parse_reusing("MSH|^~\\&|Z", &mut bufs).unwrap();
    assert_eq!(m.msh().field(3).raw(), "Z");
}

#[test]
fn short_encoding_characters_normalise_on_round_trip() {
    let m = Message::parse("MSH|^~|A|B\rPID|1|x&y").unwrap();
    let v = m.to_value();
    assert_eq!(v.segments[0].fields[1].first(), "^~\\&");
    let encoded = v.encode();
    assert_eq!(Message::parse(&encoded).unwrap().to_value(), v);
}
