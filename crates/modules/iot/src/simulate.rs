//! The demo city's devices: their registration (demo data) and a simulator that makes them
//! speak, so the ward screens are alive after README command 1.
//!
//! With `[iot] mqtt_url` set, the simulator publishes to the broker like real gateways (the
//! whole path: broker, shared subscription, batch, acknowledgement). Without a broker it hands
//! the same uplinks to the ingest inside the process. Demo devices answer firmware commands.

use crate::IotConfig;
use crate::devices::{BindInput, DeviceInput, ModelInput};
use crate::firmware::Downlink;
use crate::ingest::{Uplink, Via};
use crate::maintenance::PlanInput;
use rand::Rng;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use yiyang_core::{AppResult, RequestContext};
use yiyang_platform::web::AppState;

/// (code, name, kind, vendor, spec, firmware, calibration days)
const MODELS: &[(&str, &str, &str, &str, &str, &str, i64)] = &[
    (
        "YB-Y3",
        "颐养智能手环 Y3",
        "band",
        "梅州颐康科技（示例）",
        "心率/血氧/体温/计步，BLE 5.0 + NFC",
        "3.2.1",
        180,
    ),
    (
        "YB-G2",
        "居家定位手环 G2",
        "gps_band",
        "梅州颐康科技（示例）",
        "GPS/北斗定位，SOS，跌倒检测，4G",
        "2.0.4",
        0,
    ),
    (
        "GW-B10",
        "蓝牙网关 B10",
        "gateway",
        "梅州颐康科技（示例）",
        "BLE 扫描，以太网/Wi-Fi，MQTT",
        "1.8.0",
        0,
    ),
    (
        "NFC-R1",
        "NFC 读写器 R1",
        "nfc_reader",
        "嘉应智联（示例）",
        "ISO 14443A，网口",
        "1.1.0",
        0,
    ),
    (
        "MT-S5",
        "智能床垫 S5",
        "mattress",
        "客都睡眠科技（示例）",
        "心率/呼吸/离床监测",
        "1.4.2",
        30,
    ),
    (
        "GL-A8",
        "智能血糖仪 A8",
        "glucometer",
        "梅州医疗器械（示例）",
        "0.6–33.3 mmol/L，蓝牙",
        "2.3.0",
        30,
    ),
    (
        "BP-C6",
        "智能血压计 C6",
        "bp_cuff",
        "梅州医疗器械（示例）",
        "上臂式，蓝牙",
        "1.0.9",
        90,
    ),
    (
        "WC-E2",
        "智能电动轮椅 E2",
        "wheelchair",
        "客家康复器材（示例）",
        "定位、电量监测",
        "1.2.0",
        0,
    ),
];

/// (model code, name, kind, interval days, content)
const PLANS: &[(&str, &str, &str, i64, &str)] = &[
    (
        "MT-S5",
        "床垫月度清洁",
        "cleaning",
        30,
        "拆洗外罩，消毒传感层表面，检查线缆",
    ),
    (
        "GL-A8",
        "血糖仪月度校准",
        "calibration",
        30,
        "质控液校准，误差超过 ±15% 即停用送修",
    ),
    (
        "BP-C6",
        "血压计季度校准",
        "calibration",
        90,
        "与标准水银血压计比对，误差超过 ±3 mmHg 即送修",
    ),
    (
        "WC-E2",
        "轮椅季度检测",
        "inspection",
        90,
        "刹车、电池、电机与定位模块全面检测",
    ),
    (
        "YB-Y3",
        "手环月度清洁",
        "cleaning",
        30,
        "酒精擦拭表带与传感器窗口，检查充电触点",
    ),
];

const SURNAMES: &[&str] = &[
    "陈", "李", "黄", "张", "刘", "曾", "钟", "丘", "廖", "温", "叶", "谢", "罗", "古", "杨",
];
const GIVEN: &[&str] = &[
    "伟明", "秀兰", "国强", "玉珍", "德胜", "桂英", "志华", "月娥", "建平", "淑芬", "炳南", "亚妹",
    "振东", "梅香",
];

/// Wards of the demo: (org code, ward, beds, gateway serial, prefix of band serials).
const WARDS: &[(&str, &str, usize, &str, &str)] = &[
    ("MZ-HOSP-01", "心内科一病区", 10, "GW-HOSP-3F", "BAND-H"),
    ("MZ-NH-01", "颐养区A栋", 6, "GW-NH-A1", "BAND-N"),
];

fn system(st: &AppState) -> RequestContext {
    RequestContext::system(st.clock.clone(), "seed-demo")
}

/// Registers the demo devices, bindings, plans and a day of readings (once).
pub async fn seed(st: &AppState) -> AppResult<()> {
    let ctx = system(st);
    let existing = st
        .db
        .scalar("SELECT COUNT(*) FROM iot_models", vec![])
        .await?;
    if existing > 0 {
        return Ok(());
    }
    for (code, name, kind, vendor, spec, fw, cal) in MODELS {
        crate::devices::create_model(
            st,
            &ctx,
            &ModelInput {
                code: code.to_string(),
                name: name.to_string(),
                kind: kind.to_string(),
                vendor: vendor.to_string(),
                spec: spec.to_string(),
                latest_firmware: fw.to_string(),
                calibration_days: *cal,
            },
        )
        .await?;
    }
    let models: HashMap<String, i64> = crate::devices::models(&st.db)
        .await?
        .into_iter()
        .map(|m| (m.code, m.id))
        .collect();
    for (model, name, kind, days, content) in PLANS {
        crate::maintenance::create_plan(
            st,
            &ctx,
            &PlanInput {
                model_id: models[*model],
                name: name.to_string(),
                kind: kind.to_string(),
                interval_days: *days,
                content: content.to_string(),
            },
        )
        .await?;
    }
    let today = yiyang_core::clock::today_cst(st.clock.as_ref());
    let day = |n: i64| {
        (today - chrono::Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
    for (wi, (org_code, ward, beds, gw, prefix)) in WARDS.iter().enumerate() {
        let Some(org) = yiyang_basedata::service::org_id_by_code(&st.db, org_code).await? else {
            continue;
        };
        let dev = |model: &str, serial: String, fw: &str, name: &str| DeviceInput {
            org_id: org,
            model: model.into(),
            serial,
            name: name.into(),
            firmware: fw.into(),
            acquisition: "purchase".into(),
            purchased_on: day(400),
            status: "active".into(),
            calibrated_on: day(20),
            ..Default::default()
        };
        crate::devices::create(
            st,
            &ctx,
            &dev("GW-B10", gw.to_string(), "1.7.2", &format!("{ward}网关")),
        )
        .await?;
        crate::devices::create(
            st,
            &ctx,
            &dev(
                "NFC-R1",
                format!("NFC-{}", &gw[3..]),
                "1.1.0",
                &format!("{ward}护士站读写器"),
            ),
        )
        .await?;
        for b in 1..=*beds {
            // A fictional patient or resident of this ward, registered through the patient index.
            let name = format!(
                "{}{}",
                SURNAMES[(b * 7 + wi * 3) % SURNAMES.len()],
                GIVEN[(b * 5 + wi) % GIVEN.len()]
            );
            let person = yiyang_patients::service::register(
                st,
                &ctx,
                yiyang_patients::service::PersonInput {
                    org_id: org,
                    name,
                    sex: if b % 2 == 0 { "F".into() } else { "M".into() },
                    birth_date: format!(
                        "{}-{:02}-{:02}",
                        1936 + (b * 3) % 20,
                        1 + b % 12,
                        1 + (b * 7) % 27
                    ),
                    phone: format!("1392301{:04}", 2000 + wi * 100 + b),
                    identifiers: vec![yiyang_patients::service::IdentifierInput {
                        id_type: if wi == 0 { "ZY".into() } else { "JKDA".into() },
                        value: format!(
                            "{}{:04}",
                            if wi == 0 { "ZY2026" } else { "YY-A-" },
                            100 + b
                        ),
                    }],
                    ..Default::default()
                },
            )
            .await?
            .person_id;
            let serial = format!("{prefix}{b:03}");
            // Some bands are rented (from a rental plan), the rest purchased.
            let mut input = dev(
                "YB-Y3",
                serial.clone(),
                if b % 3 == 0 { "3.1.0" } else { "3.2.1" },
                "",
            );
            // Each band carries an NFC tag (7-byte UID) for identity checks.
            input.nfc_uid = format!("04{wi:02X}{b:010X}");
            if wi == 1 && b % 2 == 0 {
                input.acquisition = "rental".into();
                input.rental_contract = format!("ZL-2026-{:04}", 100 + b);
                input.rental_until = day(-180);
            }
            let id = crate::devices::create(st, &ctx, &input).await?;
            crate::devices::bind(
                st,
                &ctx,
                id,
                &BindInput {
                    person_id: Some(person),
                    ward: ward.to_string(),
                    bed: format!("{:02}床", b),
                },
            )
            .await?;
            if wi == 1 {
                let m = crate::devices::create(
                    st,
                    &ctx,
                    &dev("MT-S5", format!("MAT-N{b:03}"), "1.4.2", ""),
                )
                .await?;
                crate::devices::bind(
                    st,
                    &ctx,
                    m,
                    &BindInput {
                        person_id: None,
                        ward: ward.to_string(),
                        bed: format!("{:02}床", b),
                    },
                )
                .await?;
            }
        }
        if wi == 0 {
            crate::devices::create(
                st,
                &ctx,
                &dev("GW-B10", "GW-HOSP-PH".into(), "1.8.0", "药品库房网关"),
            )
            .await?;
            for (code, name, gws, restricted, shape) in [
                (
                    "WARD-3F",
                    ward.to_string(),
                    gw.to_string(),
                    false,
                    "40,40; 640,40; 640,560; 40,560",
                ),
                (
                    "PHARM-3F",
                    "药品库房".to_string(),
                    "GW-HOSP-PH".to_string(),
                    true,
                    "680,40; 960,40; 960,300; 680,300",
                ),
            ] {
                crate::geo::create_zone(
                    st,
                    &ctx,
                    &crate::geo::ZoneInput {
                        org_id: org,
                        code: code.into(),
                        name,
                        floor: "住院楼3层".into(),
                        restricted,
                        allowed_roles: if restricted {
                            "staff".into()
                        } else {
                            String::new()
                        },
                        gateways: gws,
                        shape: shape.into(),
                    },
                )
                .await?;
            }
        } else {
            crate::geo::create_zone(
                st,
                &ctx,
                &crate::geo::ZoneInput {
                    org_id: org,
                    code: "NH-A1".into(),
                    name: ward.to_string(),
                    floor: "A栋1层".into(),
                    gateways: gw.to_string(),
                    shape: "60,60; 940,60; 940,540; 60,540".into(),
                    ..Default::default()
                },
            )
            .await?;
        }
        crate::devices::create(
            st,
            &ctx,
            &dev(
                "GL-A8",
                format!("GLU-{}", &gw[3..]),
                "2.3.0",
                &format!("{ward}血糖仪"),
            ),
        )
        .await?;
        crate::devices::create(
            st,
            &ctx,
            &dev(
                "BP-C6",
                format!("BPC-{}", &gw[3..]),
                "1.0.9",
                &format!("{ward}血压计"),
            ),
        )
        .await?;
        let mut w = dev("WC-E2", format!("WCH-{}", &gw[3..]), "1.2.0", "");
        w.status = if rng.random_bool(0.5) {
            "active".into()
        } else {
            "stock".into()
        };
        crate::devices::create(st, &ctx, &w).await?;
    }
    // The elder at home wears a GPS band.
    if let Some(chc) = yiyang_basedata::service::org_id_by_code(&st.db, "MZ-CHC-01").await?
        && let Some(elder) =
            yiyang_patients::service::person_by_identifier(&st.db, chc, "JKDA", "JN-2019-00017")
                .await?
    {
        let id = crate::devices::create(
            st,
            &ctx,
            &DeviceInput {
                org_id: chc,
                model: "YB-G2".into(),
                serial: "GPS-CHC-0017".into(),
                name: "丘伯的居家手环".into(),
                firmware: "2.0.4".into(),
                acquisition: "rental".into(),
                rental_contract: "ZL-2026-0017".into(),
                rental_until: day(-300),
                status: "active".into(),
                ..Default::default()
            },
        )
        .await?;
        crate::devices::bind(
            st,
            &ctx,
            id,
            &BindInput {
                person_id: Some(elder),
                ward: "居家".into(),
                bed: String::new(),
            },
        )
        .await?;
        crate::geo::create_fence(
            st,
            &ctx,
            &crate::geo::FenceInput {
                person_id: elder.to_string(),
                name: "家（龙丰社区）".into(),
                polygon: "116.1206,24.2874; 116.1236,24.2874; 116.1236,24.2896; 116.1206,24.2896"
                    .into(),
                gcj02: false,
                min_outside: "3".into(),
            },
        )
        .await?;
        crate::devices::create(
            st,
            &ctx,
            &DeviceInput {
                org_id: chc,
                model: "GW-B10".into(),
                serial: "GW-CHC-HOME".into(),
                name: "居家手环接入（运营商平台）".into(),
                firmware: "1.8.0".into(),
                status: "active".into(),
                ..Default::default()
            },
        )
        .await?;
    }
    crate::maintenance::generate(st).await?;
    // Six hours of readings, through the ingest like any other (scores and rules apply).
    let now = st.clock.now_micros();
    let mut sim = Sim::load(st).await?;
    crate::alarms::quietly(async {
        let mut t = now - 6 * 3_600_000_000;
        while t < now - 60_000_000 {
            let batch = sim.tick(t, &mut rng, false);
            crate::ingest::shared(st)
                .lock()
                .await
                .ingest(&batch)
                .await?;
            t += 300_000_000;
        }
        AppResult::Ok(())
    })
    .await?;
    Ok(())
}

/// One simulated band: its vitals wander around a baseline; one patient per ward slowly
/// deteriorates (fever, tachycardia, falling SpO2) and recovers, to show the scores at work.
struct Band {
    serial: String,
    hr: f64,
    spo2: f64,
    temp: f64,
    sbp: f64,
    battery: f64,
    unwell: bool,
    gps: bool,
    nfc_uid: Option<String>,
}

/// The demo devices grouped by sender: (org code, gateway serial) → bands.
pub struct Sim {
    senders: Vec<(String, String, Vec<Band>)>,
    step: u64,
    /// A restricted zone's gateway that a patient wanders into now and then.
    store_gateway: Option<String>,
    /// NFC readers by institution code (ward rounds scan the bands' tags).
    readers: HashMap<String, String>,
}

impl Sim {
    async fn load(st: &AppState) -> AppResult<Sim> {
        type R = (String, String, String, String, Option<String>);
        let rows: Vec<R> = st
            .db
            .fetch_all(
                "SELECT d.serial, m.kind, COALESCE(b.ward, ''), CAST(d.org_id AS TEXT), d.nfc_uid FROM iot_devices d JOIN iot_models m ON m.id = d.model_id \
                 LEFT JOIN iot_bindings b ON b.device_id = d.id AND b.unbound_at IS NULL \
                 WHERE m.kind IN ('band', 'gps_band', 'gateway', 'nfc_reader') AND d.status = 'active' ORDER BY d.serial",
                vec![],
            )
            .await?;
        let mut gws: HashMap<String, String> = HashMap::new();
        let mut gws_all = Vec::new();
        for (serial, kind, _, org, _) in &rows {
            if kind == "gateway" {
                gws.entry(org.clone()).or_insert_with(|| serial.clone());
                gws_all.push(serial.clone());
            }
        }
        let mut senders: Vec<(String, String, Vec<Band>)> = Vec::new();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
        let mut readers = HashMap::new();
        for (serial, kind, _ward, org, nfc_uid) in rows.into_iter().filter(|r| r.1 != "gateway") {
            if kind == "nfc_reader" {
                let org_id: i64 = org.parse().unwrap_or(0);
                if let Some(code) = yiyang_basedata::service::org_code(&st.db, org_id).await? {
                    readers.insert(code, serial);
                }
                continue;
            }
            let Some(gw) = gws.get(&org) else { continue };
            let org_id: i64 = org.parse().unwrap_or(0);
            let code = yiyang_basedata::service::org_code(&st.db, org_id)
                .await?
                .unwrap_or_default();
            let idx = match senders.iter().position(|s| s.1 == *gw) {
                Some(i) => i,
                None => {
                    senders.push((code, gw.clone(), Vec::new()));
                    senders.len() - 1
                }
            };
            let n = senders[idx].2.len();
            senders[idx].2.push(Band {
                unwell: n == 2,
                serial,
                hr: rng.random_range(62.0..88.0),
                spo2: rng.random_range(95.0..99.0),
                temp: rng.random_range(36.2..36.9),
                sbp: rng.random_range(112.0..138.0),
                battery: rng.random_range(35.0..100.0),
                gps: kind == "gps_band",
                nfc_uid,
            });
        }
        let store_gateway = gws_all.into_iter().find(|g| g == "GW-HOSP-PH");
        Ok(Sim {
            senders,
            step: 0,
            store_gateway,
            readers,
        })
    }

    /// One round of uplinks at time `t` (µs); `events`: whether SOS presses may happen.
    fn tick(&mut self, t: i64, rng: &mut impl Rng, events: bool) -> Vec<Uplink> {
        self.step += 1;
        let phase = (self.step % 240) as f64 / 240.0 * std::f64::consts::TAU;
        let mut out = Vec::new();
        for (org, gw, bands) in &mut self.senders {
            let mut readings = Vec::new();
            let mut gps = Vec::new();
            for b in bands.iter_mut() {
                let drift =
                    |v: &mut f64, lo: f64, hi: f64, step: f64, rng: &mut dyn rand::RngCore| {
                        *v = (*v + rng.random_range(-step..step)).clamp(lo, hi);
                    };
                drift(&mut b.hr, 55.0, 100.0, 2.0, rng);
                drift(&mut b.spo2, 94.0, 99.5, 0.4, rng);
                drift(&mut b.temp, 36.0, 37.3, 0.05, rng);
                drift(&mut b.sbp, 105.0, 150.0, 2.0, rng);
                b.battery = (b.battery - 0.02).max(5.0);
                if b.battery <= 5.5 {
                    b.battery = 100.0;
                }
                let (mut hr, mut spo2, mut temp) = (b.hr, b.spo2, b.temp);
                if b.unwell {
                    // A fever that comes and goes: NEWS2 climbs to 5–7 and back.
                    let s = phase.sin().max(0.0);
                    hr += 40.0 * s;
                    spo2 -= 7.0 * s;
                    temp += 2.4 * s;
                }
                if b.gps {
                    // Home, with a walk out of the safe area now and then.
                    let out_walk = (self.step % 180) > 170;
                    let (lat, lon) = if out_walk {
                        (24.3005, 116.1302)
                    } else {
                        (24.2885, 116.1221)
                    };
                    gps.push(serde_json::json!({"dev": b.serial, "lat": lat + rng.random_range(-0.0001..0.0001), "lon": lon + rng.random_range(-0.0001..0.0001), "acc": 12, "ts": t / 1000}));
                }
                readings.push(serde_json::json!({
                    "dev": b.serial,
                    "ts": t / 1000,
                    "hr": hr.round(),
                    "spo2": (spo2 * 10.0).round() / 10.0,
                    "temp": (temp * 10.0).round() / 10.0,
                    "sbp": b.sbp.round(),
                    "dbp": (b.sbp * 0.62).round(),
                    "bat": b.battery.round(),
                }));
            }
            // The gateway hears its bands; in a quiet minute every ten, the first band of the
            // hospital ward walks into the pharmacy store (a restricted zone).
            let wander = self.store_gateway.is_some()
                && (self.step % 120) >= 100
                && gw.starts_with("GW-HOSP");
            let scans: Vec<serde_json::Value> = bands
                .iter()
                .enumerate()
                .filter(|(_, b)| !b.gps)
                .map(|(i, b)| serde_json::json!({"dev": b.serial, "rssi": if wander && i == 0 { -80 } else { -58 - (i as i64 % 9) }}))
                .collect();
            if wander && let (Some(store), Some(first)) = (&self.store_gateway, bands.first()) {
                out.push(uplink(org, store, "up", serde_json::json!({"ts": t / 1000, "scans": [{"dev": first.serial, "rssi": -50}]}), t));
            }
            let body = serde_json::json!({"ts": t / 1000, "seq": self.step, "readings": readings, "scans": scans});
            out.push(uplink(org, gw, "up", body, t));
            if !gps.is_empty() {
                out.push(uplink(org, gw, "gps", serde_json::json!({"fixes": gps}), t));
            }
            // Ward rounds: about once a minute a nurse checks a patient's identity by NFC.
            if self.step.is_multiple_of(12)
                && let Some(reader) = self.readers.get(org.as_str())
                && let Some(uid) = bands
                    .get((self.step / 12) as usize % bands.len().max(1))
                    .and_then(|b| b.nfc_uid.clone())
            {
                let mut u = uplink(
                    org,
                    reader,
                    "nfc",
                    serde_json::json!({"ts": t / 1000, "scans": [{"uid": uid}]}),
                    t,
                );
                u.topic = format!("yiyang/v1/{org}/dev/{reader}/nfc");
                out.push(u);
            }
            // Now and then a resident presses SOS (about every 3 minutes somewhere in the city).
            if events && !bands.is_empty() && rng.random_bool(0.02) {
                let b = &bands[rng.random_range(0..bands.len())];
                out.push(uplink(
                    org,
                    gw,
                    "event",
                    serde_json::json!({"ts": t / 1000, "events": [{"dev": b.serial, "type": "sos"}]}),
                    t,
                ));
            }
        }
        out
    }
}

fn uplink(org: &str, gw: &str, kind: &str, body: serde_json::Value, t: i64) -> Uplink {
    Uplink {
        topic: format!("yiyang/v1/{org}/gw/{gw}/{kind}"),
        body: body.to_string().into_bytes(),
        received_at: t,
        via: Via::Mqtt,
    }
}

/// Starts the demo simulator when configured (`auto`: when the demo city is seeded).
pub fn spawn_demo(st: AppState, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let cfg = IotConfig::get();
        let on = match cfg.simulate.as_str() {
            "on" => true,
            "off" => false,
            _ => {
                // Wait for the demo seed (it runs beside the listeners on first start).
                let mut seeded = false;
                for _ in 0..120 {
                    let r = yiyang_platform::settings::get(
                        &st.db,
                        yiyang_platform::settings::DEMO_SEEDED,
                    )
                    .await;
                    if matches!(r, Ok(Some(_))) {
                        seeded = true;
                        break;
                    }
                    tokio::select! {
                        _ = stop.changed() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                seeded
            }
        };
        if !on {
            return;
        }
        let mut sim = match Sim::load(&st).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e.message, "演示设备模拟器未能启动");
                return;
            }
        };
        let (down_tx, mut down_rx) = mpsc::unbounded_channel::<Downlink>();
        let broker = if cfg.mqtt_url.is_empty() {
            crate::mqtt::set_local(down_tx.clone());
            None
        } else {
            crate::mqtt::options(
                &cfg.mqtt_url,
                &format!("{}-sim", cfg.mqtt_client_id),
                &cfg.mqtt_username,
                &cfg.mqtt_password,
            )
            .map(|o| rumqttc::AsyncClient::new(o, 256))
        };
        let client = match broker {
            Some((client, mut el)) => {
                // The simulated devices also listen for their commands.
                let c = client.clone();
                let tx = down_tx.clone();
                tokio::spawn(async move {
                    let _ = c
                        .subscribe("yiyang/v1/+/dev/+/cmd", rumqttc::QoS::AtLeastOnce)
                        .await;
                    loop {
                        match el.poll().await {
                            Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                                let parts: Vec<&str> = p.topic.split('/').collect();
                                if parts.len() == 6 {
                                    let _ = tx.send(Downlink {
                                        org_code: parts[2].into(),
                                        serial: parts[4].into(),
                                        body: String::from_utf8_lossy(&p.payload).into_owned(),
                                    });
                                }
                            }
                            Ok(_) => {}
                            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                        }
                    }
                });
                Some(client)
            }
            None => None,
        };
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = stop.changed() => if *stop.borrow() { return },
                Some(d) = down_rx.recv() => {
                    // A demo device upgrades: nine in ten succeed.
                    let cmd: serde_json::Value = serde_json::from_str(&d.body).unwrap_or_default();
                    let version = cmd["args"]["version"].clone();
                    let ok = rng.random_bool(0.9);
                    // The device answers on its own topic (contract §3.6).
                    let ack = serde_json::json!({"cmd": cmd["id"], "result": if ok {"ok"} else {"error"},
                        "version": if ok { version } else { serde_json::Value::Null }, "msg": if ok {""} else {"固件校验失败"}, "ts": st.clock.now_micros() / 1000});
                    let mut up = uplink(&d.org_code, &d.serial, "ack", ack, st.clock.now_micros());
                    up.topic = format!("yiyang/v1/{}/dev/{}/ack", d.org_code, d.serial);
                    send(&st, &client, vec![up]).await;
                }
                _ = tick.tick() => {
                    let batch = sim.tick(st.clock.now_micros(), &mut rng, true);
                    send(&st, &client, batch).await;
                }
            }
        }
    })
}

async fn send(st: &AppState, client: &Option<rumqttc::AsyncClient>, batch: Vec<Uplink>) {
    match client {
        Some(c) => {
            for u in batch {
                let _ = c
                    .publish(u.topic, rumqttc::QoS::AtLeastOnce, false, u.body)
                    .await;
            }
        }
        None => {
            let r = crate::ingest::shared(st).lock().await.ingest(&batch).await;
            if let Err(e) = r {
                tracing::warn!(error = %e.message, "演示数据写入失败");
            }
        }
    }
}

/// Registers devices for a load test: `gateways` gateways of institution `org_code`, each with
/// `tags` bands (serials `LG{g}-{t}`), bound to nobody. Idempotent.
pub async fn provision(
    st: &AppState,
    org_code: &str,
    gateways: usize,
    tags: usize,
) -> AppResult<usize> {
    let org = yiyang_basedata::service::org_id_by_code(&st.db, org_code)
        .await?
        .ok_or_else(|| {
            yiyang_core::AppError::validation(
                "iot.org_unknown",
                format!("机构编码不存在：{org_code}"),
            )
        })?;
    let models: HashMap<String, i64> = crate::devices::models(&st.db)
        .await?
        .into_iter()
        .map(|m| (m.code, m.id))
        .collect();
    let (Some(gw_model), Some(band_model)) = (models.get("GW-B10"), models.get("YB-Y3")) else {
        return Err(yiyang_core::AppError::validation(
            "iot.models_missing",
            "请先生成演示数据（型号目录）",
        ));
    };
    let now = st.clock.now_micros();
    let mut n = 0;
    for g in 0..gateways {
        let mut tx = st.db.begin().await?;
        let row = |model: i64, serial: String| -> Vec<yiyang_store::Arg> {
            vec![
                org.into(),
                model.into(),
                serial.into(),
                "active".into(),
                now.into(),
                now.into(),
            ]
        };
        let mut rows = vec![row(*gw_model, format!("LG{g}"))];
        for t in 0..tags {
            rows.push(row(*band_model, format!("LG{g}-{t}")));
        }
        n += tx
            .insert_rows(
                "INSERT INTO iot_devices (org_id, model_id, serial, status, created_at, updated_at)",
                6,
                rows,
                "ON CONFLICT (serial) DO NOTHING",
            )
            .await? as usize;
        tx.commit().await?;
    }
    crate::ingest::invalidate();
    Ok(n)
}
