use super::*;
use crate::geofence::gcj02_to_wgs84;

/// 2026-12-05T08:00:00+08:00 in epoch ms.
const NOW_MS: i64 = 1_796_428_800_000;
const NOW: i64 = NOW_MS * 1000;

fn opts() -> ParseOptions {
    ParseOptions::new(NOW)
}

fn up(body: &str) -> (Uplink, Vec<ItemProblem>) {
    let p = parse("yiyang/v1/MZ001/gw/GW-01/up", body.as_bytes(), &opts()).unwrap();
    match p.message {
        Message::Up(u) => (u, p.problems),
        other => panic!("{other:?}"),
    }
}

fn messages(ps: &[ItemProblem]) -> Vec<(Option<usize>, &str, &str, bool)> {
    ps.iter()
        .map(|p| (p.index, p.field.as_str(), p.message.as_str(), p.dropped))
        .collect()
}

#[test]
fn topics_parse_and_print() {
    for via in [Via::Gateway, Via::Device] {
        for channel in Channel::ALL {
            let text = format!(
                "yiyang/v1/MZ-001/{}/SN_9.a:b/{}",
                via.segment(),
                channel.segment()
            );
            let t = Topic::parse(&text).unwrap();
            assert_eq!(t, Topic::uplink("MZ-001", via, "SN_9.a:b", channel));
            assert_eq!(t.to_string(), text);
            assert_eq!((t.org(), t.sn(), t.via()), ("MZ-001", "SN_9.a:b", via));
        }
    }
    let c = Topic::parse("yiyang/v1/MZ001/dev/BAND-0001/cmd").unwrap();
    assert_eq!(c, Topic::command("MZ001", Via::Device, "BAND-0001"));
    assert_eq!(c.to_string(), "yiyang/v1/MZ001/dev/BAND-0001/cmd");
}

#[test]
fn bad_topics_say_why() {
    for (topic, message) in [
        (
            "yiyang/v1/MZ001/gw/GW-01",
            "主题应为 yiyang/v1/{机构代码}/{gw|dev}/{序列号}/{up|status|nfc|event|gps|ack|cmd}",
        ),
        (
            "other/v1/MZ001/gw/GW-01/up",
            "主题应为 yiyang/v1/{机构代码}/{gw|dev}/{序列号}/{up|status|nfc|event|gps|ack|cmd}",
        ),
        (
            "yiyang/v2/MZ001/gw/GW-01/up",
            "不支持的协议版本 v2（当前为 v1）",
        ),
        (
            "yiyang/v1/MZ 01/gw/GW-01/up",
            "机构代码 MZ 01 无效（1–64个字母、数字或 _ . : -）",
        ),
        (
            "yiyang/v1/+/gw/GW-01/up",
            "机构代码 + 无效（1–64个字母、数字或 _ . : -）",
        ),
        (
            "yiyang/v1/MZ001/gateway/GW-01/up",
            "发送方类型 gateway 无效（应为 gw 或 dev）",
        ),
        (
            "yiyang/v1/MZ001/gw//up",
            "序列号  无效（1–64个字母、数字或 _ . : -）",
        ),
        (
            "yiyang/v1/MZ001/gw/GW-01/vitals",
            "未知的消息类型 vitals（应为 up、status、nfc、event、gps、ack 或 cmd）",
        ),
    ] {
        let p = Topic::parse(topic).unwrap_err();
        assert_eq!(
            (p.field.as_str(), p.value.as_str(), p.message.as_str()),
            ("topic", topic, message)
        );
    }
    let long = format!("yiyang/v1/MZ001/dev/{}/up", "A".repeat(65));
    assert!(Topic::parse(&long).is_err());
}

#[test]
fn one_bad_reading_does_not_spoil_the_batch() {
    let body = r#"{"ts":1796428800000,"seq":42,"readings":[
        {"dev":"BAND-0001","ts":"2026-12-05T08:00:00+08:00","hr":72,"spo2":97,"sbp":128,"dbp":82,"temp":36.5,"rr":16,"glu":5.6,"steps":1200,"bat":80,"rssi":-60},
        {"dev":"BAND-0002","ts":"2026-12-05T09:00:00+08:00","hr":80},
        {"hr":70},
        {"dev":"BAND 3","hr":70},
        {"dev":"BAND-0004","ts":1796428800,"hr":70},
        {"dev":"BAND-0005","spo2":140,"hr":"abc","bat":120,"steps":-5,"temp":36.8},
        {"dev":"BAND-0006","sbp":110,"dbp":120,"hr":66,"rssi":-200},
        "BAND-0007",
        {"dev":"BAND-0008","ts":"2026-12-05 08:00:00","hr":70},
        {"dev":"BAND-0009","ts":"yesterday","hr":70},
        {"dev":"BAND-0010","ts":1795823999000,"hr":70}
    ]}"#;
    let (u, problems) = up(body);
    assert_eq!(u.seq, Some(42));
    assert_eq!(u.at_micros, Some(NOW));
    assert!(!u.has_scans);
    let devs: Vec<&str> = u.readings.iter().map(|r| r.dev.as_str()).collect();
    assert_eq!(devs, vec!["BAND-0001", "BAND-0005", "BAND-0006"]);
    let r = &u.readings[0];
    assert_eq!(r.index, 0);
    assert_eq!(r.at_micros, NOW);
    assert_eq!(
        r.vitals,
        Vitals {
            heart_rate: Some(72.0),
            spo2: Some(97.0),
            systolic: Some(128.0),
            diastolic: Some(82.0),
            temperature: Some(36.5),
            respiration: Some(16.0),
            glucose: Some(5.6),
            steps: Some(1200),
            ..Vitals::default()
        }
    );
    assert_eq!((r.battery, r.rssi), (Some(80), Some(-60)));
    // field problems keep the rest of the reading
    let r5 = &u.readings[1];
    assert_eq!(r5.at_micros, NOW, "no own ts: the document's");
    assert_eq!(
        r5.vitals,
        Vitals {
            temperature: Some(36.8),
            ..Vitals::default()
        }
    );
    assert_eq!(r5.battery, None);
    let r6 = &u.readings[2];
    assert_eq!(
        (
            r6.vitals.systolic,
            r6.vitals.diastolic,
            r6.vitals.heart_rate
        ),
        (None, None, Some(66.0))
    );
    assert_eq!(r6.rssi, None);
    assert_eq!(
        messages(&problems),
        vec![
            (
                Some(1),
                "ts",
                "第2条读数（BAND-0002）：时间比服务器时间超前1小时（最多允许5分钟）",
                true
            ),
            (Some(2), "dev", "第3条读数：缺少设备编号 dev", true),
            (
                Some(3),
                "dev",
                "第4条读数：设备编号 BAND 3 无效（1–64个字母、数字或 _ . : -）",
                true
            ),
            (
                Some(4),
                "ts",
                "第5条读数（BAND-0004）：时间戳 1796428800 像是以秒为单位，应为毫秒",
                true
            ),
            (Some(5), "hr", "第6条读数（BAND-0005）：心率应为数字", false),
            (
                Some(5),
                "steps",
                "第6条读数（BAND-0005）：步数应为非负整数",
                false
            ),
            (
                Some(5),
                "spo2",
                "第6条读数（BAND-0005）：血氧饱和度 140% 超出可能范围（50–100%）",
                false
            ),
            (
                Some(5),
                "bat",
                "第6条读数（BAND-0005）：电量应为0–100的整数",
                false
            ),
            (
                Some(6),
                "dbp",
                "第7条读数（BAND-0006）：舒张压 120 mmHg 应低于收缩压 110 mmHg",
                false
            ),
            (
                Some(6),
                "rssi",
                "第7条读数（BAND-0006）：信号强度 rssi 应为−127至20的整数（dBm）",
                false
            ),
            (Some(7), "", "第8条读数：应为JSON对象", true),
            (
                Some(8),
                "ts",
                "第9条读数（BAND-0008）：时间 2026-12-05 08:00:00 缺少时区（例如 2026-12-05T08:00:00+08:00）",
                true
            ),
            (
                Some(9),
                "ts",
                "第10条读数（BAND-0009）：时间 yesterday 不是 RFC 3339 格式（例如 2026-12-05T08:00:00+08:00）",
                true
            ),
            (
                Some(10),
                "ts",
                "第11条读数（BAND-0010）：时间早于7天前，超出补传期限",
                true
            ),
        ]
    );
    assert!(problems.iter().all(|p| p.section == "readings"));
    assert_eq!(problems[4].dev.as_deref(), Some("BAND-0005"));
    assert_eq!(problems[4].value, "abc");
}

#[test]
fn the_time_window_edges() {
    // (ms offset from now, accepted)
    for (offset_ms, ok) in [
        (300_000, true),
        (300_001, false),
        (-7 * 86_400_000, true),
        (-7 * 86_400_000 - 1, false),
        (0, true),
    ] {
        let v = Value::from(NOW_MS + offset_ms);
        assert_eq!(time(&v, &opts()).is_ok(), ok, "{offset_ms}");
    }
    let t = time(&Value::from("2026-12-05T00:05:00Z"), &opts()).unwrap();
    assert_eq!(t, NOW + 300 * MICROS);
    let t = time(&Value::from("2026-12-05T08:00:00.250+08:00"), &opts()).unwrap();
    assert_eq!(t, NOW + 250_000);
    assert_eq!(
        time(&serde_json::json!(1796428800000.5), &opts()),
        Ok(NOW + 500)
    );
    for bad in [
        serde_json::json!(true),
        serde_json::json!(-1),
        serde_json::json!({"ms": 1}),
    ] {
        assert!(time(&bad, &opts()).is_err(), "{bad}");
    }
    let custom = ParseOptions {
        horizon_seconds: 3600,
        max_future_seconds: 0,
        ..opts()
    };
    assert_eq!(
        time(&Value::from(NOW_MS - 3_600_001), &custom),
        Err("时间早于1小时前，超出补传期限".to_string())
    );
    assert_eq!(
        time(&Value::from(NOW_MS + 1), &custom),
        Err("时间比服务器时间超前0秒（最多允许0秒）".to_string())
    );
}

#[test]
fn a_bad_document_time_is_reported_and_items_need_their_own() {
    let (u, problems) = up(r#"{"ts":"soon","seq":-1,"readings":[
            {"dev":"BAND-0001","hr":72},
            {"dev":"BAND-0002","ts":1796428700000,"hr":73}]}"#);
    assert_eq!(u.at_micros, None);
    assert_eq!(u.seq, None);
    assert_eq!(u.readings.len(), 1);
    assert_eq!(u.readings[0].at_micros, (NOW_MS - 100_000) * 1000);
    assert_eq!(
        messages(&problems),
        vec![
            (
                None,
                "ts",
                "消息：时间 soon 不是 RFC 3339 格式（例如 2026-12-05T08:00:00+08:00）",
                false
            ),
            (None, "seq", "消息：序号 seq 应为非负整数", false),
            (
                Some(0),
                "ts",
                "第1条读数（BAND-0001）：缺少有效的时间戳 ts（条目和消息都没有）",
                true
            ),
        ]
    );
}

#[test]
fn scans_are_a_batch_even_when_empty() {
    let (u, problems) = up(r#"{"ts":1796428800000,"scans":[
            {"dev":"TAG-1","rssi":-61},
            {"dev":"TAG-2","rssi":-61.5},
            {"dev":"TAG-3"},
            {"dev":"TAG-4","rssi":-70,"ts":1796428799000}]}"#);
    assert!(u.has_scans);
    assert_eq!(
        u.scans,
        vec![
            Scan {
                index: 0,
                dev: "TAG-1".into(),
                rssi: -61,
                at_micros: NOW
            },
            Scan {
                index: 3,
                dev: "TAG-4".into(),
                rssi: -70,
                at_micros: NOW - 1_000_000
            },
        ]
    );
    let m = messages(&problems);
    assert_eq!(m.len(), 2);
    assert_eq!(
        m[0],
        (
            Some(1),
            "rssi",
            "第2条扫描记录（TAG-2）：缺少有效的信号强度 rssi（−127至20的整数，dBm）",
            true
        )
    );
    let (u, _) = up(r#"{"ts":1796428800000,"scans":[]}"#);
    assert!(u.has_scans && u.scans.is_empty());
}

#[test]
fn status_of_a_gateway_and_its_bands() {
    let p = parse(
        "yiyang/v1/MZ001/gw/GW-01/status",
        br#"{"ts":1796428800000,"bat":100,"signal":-67,"fw":"2.1.0","devices":[
            {"dev":"BAND-0001","bat":15,"signal":-80,"fw":"1.4.2"},
            {"dev":"BAND-0002","bat":"low","fw":""},
            {"bat":50}]}"#,
        &opts(),
    )
    .unwrap();
    let Message::Status(s) = p.message else {
        panic!()
    };
    let sender = s.sender.unwrap();
    assert_eq!(
        (
            sender.dev.as_str(),
            sender.battery,
            sender.signal,
            sender.firmware.as_deref(),
            sender.index
        ),
        ("GW-01", Some(100), Some(-67), Some("2.1.0"), None)
    );
    assert_eq!(s.devices.len(), 2);
    assert_eq!(s.devices[0].battery, Some(15));
    assert_eq!(
        (s.devices[1].battery, s.devices[1].firmware.as_deref()),
        (None, None)
    );
    assert_eq!(
        messages(&p.problems),
        vec![
            (
                Some(1),
                "bat",
                "第2条设备状态（BAND-0002）：电量应为0–100的整数",
                false
            ),
            (
                Some(1),
                "fw",
                "第2条设备状态（BAND-0002）：固件版本 fw 应为1–64个字符的文本",
                false
            ),
            (Some(2), "dev", "第3条设备状态：缺少设备编号 dev", true),
        ]
    );
}

#[test]
fn nfc_reads_normalise_uids() {
    let p = parse(
        "yiyang/v1/MZ001/dev/NFC-07/nfc",
        br#"{"scans":[
            {"uid":"04:a2:24:1b","ts":1796428800000},
            {"reader":"NFC-08","uid":"04A2241B5C6D80","ts":1796428800000},
            {"uid":"XYZ","ts":1796428800000},
            {"uid":"04A224","ts":1796428800000}]}"#,
        &opts(),
    )
    .unwrap();
    let Message::Nfc(n) = p.message else { panic!() };
    let got: Vec<(&str, &str)> = n
        .scans
        .iter()
        .map(|s| (s.reader.as_str(), s.uid.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![("NFC-07", "04A2241B"), ("NFC-08", "04A2241B5C6D80")]
    );
    assert_eq!(p.problems.len(), 2);
    assert_eq!(
        p.problems[0].message,
        "第3条NFC刷卡记录（NFC-07）：标签 UID 应为4、7或10字节的十六进制（如 04:A2:24:1B）"
    );
}

#[test]
fn events_of_known_kinds_only() {
    let p = parse(
        "yiyang/v1/MZ001/gw/GW-01/event",
        br#"{"ts":1796428800000,"events":[
            {"dev":"BAND-0001","type":"sos"},
            {"dev":"BAND-0002","type":"fall","ts":"2026-12-05T07:59:30+08:00"},
            {"dev":"BAND-0003","type":"jump"},
            {"dev":"BAND-0004"},
            {"type":"removed"}]}"#,
        &opts(),
    )
    .unwrap();
    let Message::Event(e) = p.message else {
        panic!()
    };
    let got: Vec<(&str, DeviceEventKind, i64)> = e
        .events
        .iter()
        .map(|e| (e.dev.as_str(), e.kind, e.at_micros))
        .collect();
    assert_eq!(
        got,
        vec![
            ("BAND-0001", DeviceEventKind::Sos, NOW),
            ("BAND-0002", DeviceEventKind::Fall, NOW - 30_000_000),
            ("GW-01", DeviceEventKind::Removed, NOW),
        ]
    );
    assert_eq!(
        messages(&p.problems),
        vec![
            (
                Some(2),
                "type",
                "第3条事件（BAND-0003）：未知的事件类型 jump（应为 sos、fall 或 removed）",
                true
            ),
            (
                Some(3),
                "type",
                "第4条事件（BAND-0004）：缺少事件类型 type（sos、fall 或 removed）",
                true
            ),
        ]
    );
    assert_eq!(DeviceEventKind::Fall.label(), "跌倒");
}

#[test]
fn gps_fixes_are_converted_to_wgs84() {
    let p = parse(
        "yiyang/v1/MZ001/dev/GPS-0001/gps",
        br#"{"ts":1796428800000,"fixes":[
            {"lat":24.2886,"lon":116.1226,"acc":15,"crs":"gcj02"},
            {"lat":24.2886,"lon":116.1226,"acc":15},
            {"lat":0,"lon":0},
            {"lat":24.2886,"lon":116.1226,"crs":"bd09"},
            {"lat":95,"lon":116.1},
            {"lat":24.2886,"lon":116.1226,"acc":-3},
            {"lon":116.1}]}"#,
        &opts(),
    )
    .unwrap();
    let Message::Gps(g) = p.message else { panic!() };
    assert_eq!(g.fixes.len(), 3);
    let reported = LonLat::new(116.1226, 24.2886);
    assert_eq!(g.fixes[0].crs, Crs::Gcj02);
    assert_eq!(g.fixes[0].reported, reported);
    assert_eq!(g.fixes[0].position, gcj02_to_wgs84(reported));
    assert_ne!(g.fixes[0].position, reported);
    assert_eq!(g.fixes[1].position, reported);
    assert_eq!(g.fixes[0].fix().accuracy_m, Some(15.0));
    assert_eq!((g.fixes[2].index, g.fixes[2].accuracy_m), (5, None));
    assert_eq!(g.fixes[0].dev, "GPS-0001");
    assert_eq!(
        messages(&p.problems),
        vec![
            (
                Some(2),
                "lat",
                "第3条定位（GPS-0001）：坐标 (0,0) 表示未定位",
                true
            ),
            (
                Some(3),
                "crs",
                "第4条定位（GPS-0001）：坐标系 bd09 不支持（应为 wgs84 或 gcj02）",
                true
            ),
            (
                Some(4),
                "lat",
                "第5条定位（GPS-0001）：坐标超出范围（纬度−90至90，经度−180至180）",
                true
            ),
            (
                Some(5),
                "acc",
                "第6条定位（GPS-0001）：定位精度 acc 应为0–100000米",
                false
            ),
            (
                Some(6),
                "lat",
                "第7条定位（GPS-0001）：缺少有效的经纬度 lat、lon",
                true
            ),
        ]
    );
}

#[test]
fn acks_are_single_documents() {
    let p = parse(
        "yiyang/v1/MZ001/dev/BAND-0001/ack",
        br#"{"ts":1796428800000,"cmd":"c-20261205-0001","result":"ok","version":"1.4.3"}"#,
        &opts(),
    )
    .unwrap();
    assert_eq!(
        p.message,
        Message::Ack(Ack {
            cmd: "c-20261205-0001".into(),
            result: AckResult::Ok,
            version: Some("1.4.3".into()),
            message: None,
            at_micros: Some(NOW),
        })
    );
    let e = parse(
        "yiyang/v1/MZ001/dev/BAND-0001/ack",
        br#"{"result":"ok"}"#,
        &opts(),
    )
    .unwrap_err();
    assert_eq!(e.message, "回执缺少有效的命令编号 cmd");
    let e = parse(
        "yiyang/v1/MZ001/dev/BAND-0001/ack",
        br#"{"cmd":"c1","result":"done"}"#,
        &opts(),
    )
    .unwrap_err();
    assert_eq!((e.field.as_str(), e.value.as_str()), ("result", "done"));
    assert_eq!(AckResult::Unsupported.label(), "不支持");
}

#[test]
fn whole_documents_fail_only_when_unreadable() {
    let t = "yiyang/v1/MZ001/gw/GW-01/up";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"{\"ts\": 1,".to_vec(),
            "消息体不是有效的JSON（第1行第9列）",
        ),
        (b"[1,2]".to_vec(), "消息体应为JSON对象"),
        (br#"{"readings":{"dev":"x"}}"#.to_vec(), "readings 应为数组"),
        (
            format!(r#"{{"readings":[{}]}}"#, vec!["{}"; 2001].join(",")).into_bytes(),
            "readings 条目过多（2001条，最多2000条）",
        ),
        (
            vec![b' '; (1 << 20) + 1],
            "消息体过大（1048577字节，最多1048576字节）",
        ),
        ((b"\xff\xfe").to_vec(), "消息体不是有效的JSON（第1行第1列）"),
    ];
    for (body, message) in cases {
        assert_eq!(parse(t, &body, &opts()).unwrap_err().message, message);
    }
    let e = parse("yiyang/v1/MZ001/dev/BAND-0001/cmd", b"{}", &opts()).unwrap_err();
    assert_eq!(e.message, "cmd 主题是平台下发的命令，不能作为上行消息解析");
    // an empty object is a valid (empty) uplink
    let (u, p) = up("{}");
    assert!(u.readings.is_empty() && p.is_empty());
}

#[test]
fn commands_serialise_as_documented() {
    let c = Command {
        id: "c-1".into(),
        ts: NOW_MS,
        action: Action::SetInterval { seconds: 60 },
    };
    assert_eq!(
        c.to_json(),
        r#"{"id":"c-1","ts":1796428800000,"cmd":"set_interval","args":{"seconds":60}}"#
    );
    let l = Command {
        id: "c-2".into(),
        ts: NOW_MS,
        action: Action::Locate,
    };
    assert_eq!(
        l.to_json(),
        r#"{"id":"c-2","ts":1796428800000,"cmd":"locate"}"#
    );
    for cmd in [c, l] {
        assert_eq!(
            serde_json::from_str::<Command>(&cmd.to_json()).unwrap(),
            cmd
        );
        assert!(cmd.check().is_ok());
    }
    let bad = Command {
        id: "c 3".into(),
        ts: 0,
        action: Action::Firmware {
            version: "".into(),
            url: "http://x/fw.bin".into(),
            sha256: "abc".into(),
        },
    };
    let p = bad.check().unwrap_err();
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        vec!["id", "ts", "args.version", "args.url", "args.sha256"]
    );
    for (action, ok) in [
        (Action::SetInterval { seconds: 9 }, false),
        (Action::SetInterval { seconds: 10 }, true),
        (Action::SetInterval { seconds: 86_400 }, true),
        (Action::SetInterval { seconds: 86_401 }, false),
        (Action::Vibrate { seconds: 0 }, false),
        (Action::Vibrate { seconds: 60 }, true),
        (Action::Vibrate { seconds: 61 }, false),
    ] {
        let c = Command {
            id: "c".into(),
            ts: 1,
            action: action.clone(),
        };
        assert_eq!(c.check().is_ok(), ok, "{action:?}");
    }
    assert_eq!(Action::Reboot.label(), "重启");
}

#[test]
fn parsed_messages_serialise_with_their_channel() {
    let p = parse(
        "yiyang/v1/MZ001/gw/GW-01/up",
        br#"{"ts":1796428800000,"readings":[{"dev":"BAND-0001","hr":72}]}"#,
        &opts(),
    )
    .unwrap();
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["topic"]["kind"], "uplink");
    assert_eq!(v["topic"]["channel"], "up");
    assert_eq!(v["message"]["channel"], "up");
    assert_eq!(v["message"]["readings"][0]["vitals"]["heart_rate"], 72.0);
    let back: Parsed = serde_json::from_value(v).unwrap();
    assert_eq!(back, p);
}

/// The examples of `docs/iot-mqtt.md` parse without a problem (uplinks by their section's
/// channel, downlink commands one per line and pass their checks).
#[test]
fn the_contract_examples_parse_cleanly() {
    let doc = include_str!("../../../../docs/iot-mqtt.md");
    let mut channel: Option<&str> = None;
    let mut in_json = false;
    let mut block = String::new();
    let mut uplinks = 0;
    let mut commands = 0;
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("### 3.") {
            channel = h.split('`').nth(1);
        } else if line.starts_with("## 4.") {
            channel = Some("cmd");
        } else if line.starts_with("## 5.") {
            channel = None;
        }
        if line == "```json" {
            in_json = true;
            block.clear();
        } else if line == "```" && in_json {
            in_json = false;
            match channel {
                Some("cmd") => {
                    let mut doc = String::new();
                    for l in block.lines() {
                        doc.push_str(l);
                        if serde_json::from_str::<Value>(&doc).is_ok() {
                            let c: Command = serde_json::from_str(&doc).unwrap();
                            assert!(c.check().is_ok(), "{doc}");
                            commands += 1;
                            doc.clear();
                        }
                    }
                    assert!(doc.is_empty(), "unfinished command: {doc}");
                }
                Some(ch) => {
                    let topic = format!("yiyang/v1/MZ001/gw/GW-01/{ch}");
                    let p = parse(&topic, block.as_bytes(), &opts()).unwrap();
                    assert!(p.problems.is_empty(), "{ch}: {:?}", p.problems);
                    uplinks += 1;
                }
                None => {}
            }
        } else if in_json {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert_eq!((uplinks, commands), (6, 3));
}

#[test]
fn a_device_publishing_its_own_readings_may_omit_dev() {
    let p = parse(
        "yiyang/v1/MZ001/dev/BAND-4G-01/up",
        br#"{"ts":1796428800000,"readings":[{"hr":72},{"dev":"BAND-4G-01","spo2":98}]}"#,
        &opts(),
    )
    .unwrap();
    let Message::Up(u) = p.message else { panic!() };
    let devs: Vec<&str> = u.readings.iter().map(|r| r.dev.as_str()).collect();
    assert_eq!(devs, vec!["BAND-4G-01", "BAND-4G-01"]);
    assert!(p.problems.is_empty());
    // through a gateway it is required
    let (u, problems) = up(r#"{"ts":1796428800000,"readings":[{"hr":72}]}"#);
    assert!(u.readings.is_empty());
    assert_eq!(problems[0].message, "第1条读数：缺少设备编号 dev");
}
