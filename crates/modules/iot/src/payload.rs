//! The uplink contract v1 (`docs/iot-mqtt.md`), parsed by the engine
//! (`yiyang_vitals::payload`), turned into the items the ingest stores. One bad item (or one
//! bad field of an item) is a problem of its own and never spoils the rest of the document.

use yiyang_vitals::payload::{self as wire, AckResult, Message, ParseOptions};

/// Vital signs of one reading (units: /min, %, mmHg, ℃, mmol/L, steps).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Vitals {
    pub hr: Option<f64>,
    pub spo2: Option<f64>,
    pub sbp: Option<f64>,
    pub dbp: Option<f64>,
    pub temp: Option<f64>,
    pub rr: Option<f64>,
    pub glu: Option<f64>,
    pub steps: Option<i64>,
}

/// One item of an uplink.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// Vital signs measured by `dev` at `at` (µs).
    Reading {
        dev: String,
        at: i64,
        vitals: Vitals,
        battery: Option<i64>,
    },
    /// A BLE advertisement of tag `dev` heard by the sending gateway.
    Scan { dev: String, at: i64, rssi: i64 },
    /// Device status.
    Status {
        dev: String,
        at: i64,
        battery: Option<i64>,
        signal: Option<i64>,
        firmware: Option<String>,
    },
    /// An NFC tag `uid` read by `reader`.
    Nfc {
        reader: String,
        uid: String,
        at: i64,
    },
    /// An SOS press, a detected fall, or a band taken off (`sos`, `fall`, `removed`).
    Event { dev: String, at: i64, kind: String },
    /// A GPS fix (WGS-84), accuracy in metres.
    Gps {
        dev: String,
        at: i64,
        lat: f64,
        lon: f64,
        accuracy: Option<f64>,
    },
    /// The acknowledgement of a downlink command.
    Ack {
        dev: String,
        at: i64,
        cmd: String,
        ok: bool,
        version: String,
        message: String,
    },
}

impl Item {
    /// The device the item is about.
    pub fn device(&self) -> &str {
        match self {
            Item::Reading { dev, .. }
            | Item::Scan { dev, .. }
            | Item::Status { dev, .. }
            | Item::Event { dev, .. }
            | Item::Gps { dev, .. }
            | Item::Ack { dev, .. } => dev,
            Item::Nfc { reader, .. } => reader,
        }
    }
    pub fn at(&self) -> i64 {
        match self {
            Item::Reading { at, .. }
            | Item::Scan { at, .. }
            | Item::Status { at, .. }
            | Item::Nfc { at, .. }
            | Item::Event { at, .. }
            | Item::Gps { at, .. }
            | Item::Ack { at, .. } => *at,
        }
    }
    pub fn battery(&self) -> Option<i64> {
        match self {
            Item::Reading { battery, .. } | Item::Status { battery, .. } => *battery,
            _ => None,
        }
    }
}

/// A problem with one item or one field of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// What kind (the dead-letter list filters by it).
    pub code: &'static str,
    /// zh-CN, naming the item (`第2条读数（BAND-0002）：…`).
    pub message: String,
    /// The item's device, when known.
    pub dev: Option<String>,
    /// False: only this field was dropped, the rest of the item is kept.
    pub dropped: bool,
}

/// A whole document refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

/// A parsed uplink.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub org_code: String,
    /// The serial of the gateway or device that sent it.
    pub sender: String,
    pub items: Vec<Item>,
    pub problems: Vec<Problem>,
    /// The document was a BLE scan batch (it had `scans`, perhaps empty): tags this gateway
    /// heard before and not now count a missed scan.
    pub scan_batch: Option<i64>,
}

/// The vital-sign fields of the contract: a bad value there is the device's measurement
/// error (测量误差超范围), not a patient's state.
const MEASURES: &[&str] = &["hr", "spo2", "sbp", "dbp", "temp", "rr", "glu", "steps"];

fn code_of(p: &wire::ItemProblem) -> &'static str {
    let field = p.field.rsplit('.').next().unwrap_or(&p.field);
    match field {
        "ts" if p.message.contains("超前") => "time_future",
        "ts" if p.message.contains("早于") || p.message.contains("补传") => "time_too_old",
        "ts" => "time_invalid",
        "dev" | "uid" | "cmd" if p.value.is_empty() => "field_missing",
        f if MEASURES.contains(&f) => "implausible",
        _ => "field_invalid",
    }
}

fn refusal(p: &yiyang_vitals::Problem) -> Refusal {
    let code = match p.field.as_str() {
        "topic" => "topic_invalid",
        f if f.ends_with("size") || p.message.contains("超过") => "too_many_items",
        _ => "json_invalid",
    };
    Refusal {
        code,
        message: p.message.clone(),
    }
}

fn vitals(v: &yiyang_vitals::Vitals) -> Vitals {
    Vitals {
        hr: v.heart_rate,
        spo2: v.spo2,
        sbp: v.systolic,
        dbp: v.diastolic,
        temp: v.temperature,
        rr: v.respiration,
        glu: v.glucose,
        steps: v.steps.map(i64::from),
    }
}

/// Parses one document received at `now` (µs); times more than 5 minutes ahead or older
/// than `max_age` (µs) are problems of their items.
pub fn parse(topic: &str, body: &[u8], now: i64, max_age: i64) -> Result<Parsed, Refusal> {
    let mut opts = ParseOptions::new(now);
    opts.horizon_seconds = u32::try_from(max_age / 1_000_000).unwrap_or(u32::MAX);
    let p = wire::parse(topic, body, &opts).map_err(|e| refusal(&e))?;
    let wire::Topic::Uplink { org, sn, .. } = &p.topic else {
        return Err(Refusal {
            code: "topic_invalid",
            message: "下行命令主题不是上行数据".into(),
        });
    };
    let mut items = Vec::new();
    let mut scan_batch = None;
    let doc_at = |at: Option<i64>| at.unwrap_or(now);
    match p.message {
        Message::Up(u) => {
            for r in u.readings {
                items.push(Item::Reading {
                    dev: r.dev,
                    at: r.at_micros,
                    vitals: vitals(&r.vitals),
                    battery: r.battery.map(i64::from),
                });
            }
            for s in u.scans {
                items.push(Item::Scan {
                    dev: s.dev,
                    at: s.at_micros,
                    rssi: i64::from(s.rssi),
                });
            }
            if u.has_scans {
                scan_batch = Some(doc_at(u.at_micros));
            }
        }
        Message::Status(s) => {
            for d in s.sender.into_iter().chain(s.devices) {
                items.push(Item::Status {
                    dev: d.dev,
                    at: d.at_micros,
                    battery: d.battery.map(i64::from),
                    signal: d.signal.map(i64::from),
                    firmware: d.firmware,
                });
            }
        }
        Message::Nfc(n) => {
            for s in n.scans {
                items.push(Item::Nfc {
                    reader: s.reader,
                    uid: s.uid,
                    at: s.at_micros,
                });
            }
        }
        Message::Event(e) => {
            for ev in e.events {
                items.push(Item::Event {
                    dev: ev.dev,
                    at: ev.at_micros,
                    kind: ev.kind.code().to_string(),
                });
            }
        }
        Message::Gps(g) => {
            for f in g.fixes {
                items.push(Item::Gps {
                    dev: f.dev,
                    at: f.at_micros,
                    lat: f.position.lat,
                    lon: f.position.lon,
                    accuracy: f.accuracy_m,
                });
            }
        }
        Message::Ack(a) => items.push(Item::Ack {
            dev: sn.clone(),
            at: doc_at(a.at_micros),
            cmd: a.cmd,
            ok: a.result == AckResult::Ok,
            version: a.version.unwrap_or_default(),
            message: a.message.unwrap_or_default(),
        }),
    }
    let problems = p
        .problems
        .iter()
        .map(|x| Problem {
            code: code_of(x),
            message: x.message.clone(),
            dev: x.dev.clone(),
            dropped: x.dropped,
        })
        .collect();
    Ok(Parsed {
        org_code: org.clone(),
        sender: sn.clone(),
        items,
        problems,
        scan_batch,
    })
}

/// The downlink of a firmware upgrade (contract §4).
pub fn firmware_command(
    id: &str,
    ts_ms: i64,
    version: &str,
    url: &str,
    sha256: &str,
) -> wire::Command {
    wire::Command {
        id: id.to_string(),
        ts: ts_ms,
        action: wire::Action::Firmware {
            version: version.to_string(),
            url: url.to_string(),
            sha256: sha256.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000_000;
    const DAY: i64 = 86_400_000_000;

    fn up(body: &str) -> Result<Parsed, Refusal> {
        parse(
            "yiyang/v1/MZ-RMYY/gw/GW-1/up",
            body.as_bytes(),
            NOW,
            7 * DAY,
        )
    }

    #[test]
    fn a_bad_item_or_field_does_not_spoil_the_batch() {
        let ms = NOW / 1000;
        let body = format!(
            r#"{{"ts":{ms},"readings":[{{"dev":"B1","hr":72,"spo2":97}},{{"dev":"B2","hr":88,"spo2":140}},{{"dev":"B3","hr":80,"ts":{}}},{{"hr":60}}],"scans":[{{"dev":"B1","rssi":-60}}]}}"#,
            ms + 3_600_000
        );
        let p = up(&body).unwrap();
        let readings: Vec<&Item> = p
            .items
            .iter()
            .filter(|i| matches!(i, Item::Reading { .. }))
            .collect();
        assert_eq!(readings.len(), 2, "{:?}", p.items);
        assert!(
            matches!(readings[1], Item::Reading { dev, vitals, .. } if dev == "B2" && vitals.hr == Some(88.0) && vitals.spo2.is_none())
        );
        let codes: Vec<&str> = p.problems.iter().map(|x| x.code).collect();
        assert_eq!(
            codes,
            ["implausible", "time_future", "field_missing"],
            "{:?}",
            p.problems
        );
        assert!(p.problems[0].message.contains("140") && !p.problems[0].dropped);
        assert!(p.problems[1].dropped);
        assert_eq!(p.scan_batch, Some(NOW));
        assert!(
            p.items
                .iter()
                .any(|i| matches!(i, Item::Scan { rssi: -60, .. }))
        );
    }

    #[test]
    fn whole_document_refusals() {
        assert_eq!(up("{not json").unwrap_err().code, "json_invalid");
        assert_eq!(up("[1]").unwrap_err().code, "json_invalid");
        assert_eq!(
            parse("x/y", b"{}", NOW, DAY).unwrap_err().code,
            "topic_invalid"
        );
    }

    #[test]
    fn events_fixes_and_acks() {
        let ms = NOW / 1000;
        let p = parse(
            "yiyang/v1/A/gw/G9/event",
            format!(r#"{{"ts":{ms},"events":[{{"dev":"B9","type":"sos"}},{{"dev":"B8","type":"jump"}}]}}"#).as_bytes(),
            NOW,
            DAY,
        )
        .unwrap();
        assert!(
            matches!(&p.items[..], [Item::Event { kind, dev, .. }] if kind == "sos" && dev == "B9")
        );
        assert_eq!(p.problems.len(), 1);
        let p = parse(
            "yiyang/v1/A/dev/GPS-1/gps",
            format!(r#"{{"ts":{ms},"fixes":[{{"lat":24.3,"lon":116.1,"acc":8,"crs":"gcj02"}}]}}"#)
                .as_bytes(),
            NOW,
            DAY,
        )
        .unwrap();
        let [Item::Gps { lat, lon, dev, .. }] = &p.items[..] else {
            panic!("{:?}", p.items)
        };
        assert_eq!(dev, "GPS-1", "a device speaks for itself");
        assert!(
            (lat - 24.3).abs() > 0.0001 && (lat - 24.3).abs() < 0.01,
            "{lat}"
        );
        assert!(
            (lon - 116.1).abs() > 0.0001 && (lon - 116.1).abs() < 0.01,
            "{lon}"
        );
        let p = parse(
            "yiyang/v1/A/dev/B1/ack",
            format!(r#"{{"ts":{ms},"cmd":"fw-1-2","result":"ok","version":"3.3.0"}}"#).as_bytes(),
            NOW,
            DAY,
        )
        .unwrap();
        assert!(
            matches!(&p.items[..], [Item::Ack { ok: true, version, .. }] if version == "3.3.0")
        );
    }
}
