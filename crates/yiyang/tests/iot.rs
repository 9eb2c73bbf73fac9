//! IoT monitoring end to end: ingestion (exactly once, bad input to the dead-letter list),
//! alarms (one per kind and source, acknowledge, resolve, repeats until acknowledged), the
//! device API's credentials, institution scope, rules as versioned data, maintenance and
//! firmware campaigns, and the real MQTT broker (Mosquitto) with the subscriber stopped
//! mid-flood.

mod common;

use common::*;
use serde_json::{Value, json};
use yiyang_iot::ingest::{Uplink, Via};
use yiyang_store::args;

fn ms() -> i64 {
    test_now().timestamp_millis()
}

fn up(org: &str, gw: &str, kind: &str, body: Value) -> Uplink {
    Uplink {
        topic: format!("yiyang/v1/{org}/gw/{gw}/{kind}"),
        body: body.to_string().into_bytes(),
        received_at: test_now().timestamp_micros(),
        via: Via::Mqtt,
    }
}

async fn ingest(app: &TestApp, batch: &[Uplink]) -> yiyang_iot::ingest::Outcome {
    yiyang_iot::ingest::shared(&app.state)
        .lock()
        .await
        .ingest(batch)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.state.db.scalar(sql, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_are_stored_once_and_bad_input_goes_to_the_dead_letter_list() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let before = count(&app, "SELECT COUNT(*) FROM iot_readings").await;
        let t = ms();
        let batch = vec![
            up(
                "MZ-HOSP-01",
                "GW-HOSP-3F",
                "up",
                json!({"ts": t, "readings": [
                    {"dev": "BAND-H001", "hr": 71, "spo2": 97, "temp": 36.6, "sbp": 121, "dbp": 78},
                    {"dev": "BAND-H002", "hr": 88, "spo2": 140},
                    {"dev": "BAND-H003", "hr": 80, "ts": t + 3_600_000},
                    {"dev": "NO-SUCH-BAND", "hr": 80},
                    {"dev": "BAND-N001", "hr": 80},
                    {"dev": "BAND-H004", "hr": 66, "spo2": 98}
                ]}),
            ),
            up("MZ-HOSP-01", "GW-HOSP-3F", "up", json!("not an object")),
            up(
                "MZ-HOSP-01",
                "GW-UNKNOWN",
                "up",
                json!({"ts": t, "readings": [{"dev": "BAND-H001", "hr": 70}]}),
            ),
            Uplink {
                body: b"{\"ts\": 1, \"readings\": [".to_vec(),
                ..up("MZ-HOSP-01", "GW-HOSP-3F", "up", json!({}))
            },
        ];
        let out = ingest(&app, &batch).await;
        assert_eq!(
            out.stored, 3,
            "{b}: three readings (one without its impossible SpO2) {out:?}"
        );
        assert_eq!(
            out.rejected, 7,
            "{b}: every bad item and document counted {out:?}"
        );
        // Delivered again (a broker redelivery): nothing stored twice, nothing lost.
        let again = ingest(&app, &batch[..1]).await;
        assert_eq!((again.stored, again.duplicates), (0, 3), "{b}: {again:?}");
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM iot_readings").await,
            before + 3
        );
        let reasons: Vec<(String, String)> = app
            .state
            .db
            .fetch_all(
                "SELECT reason_code, reason FROM iot_dead_letters ORDER BY id",
                vec![],
            )
            .await
            .unwrap();
        let codes: Vec<&str> = reasons.iter().map(|r| r.0.as_str()).collect();
        for c in [
            "implausible",
            "time_future",
            "unknown_device",
            "foreign_device",
            "json_invalid",
            "unknown_gateway",
        ] {
            assert!(codes.contains(&c), "{b}: {c} in {codes:?}");
        }
        assert!(
            reasons.iter().any(|r| r.1.contains("血氧饱和度 140")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().all(|r| !r.1.is_ascii()),
            "reasons in Chinese: {reasons:?}"
        );
        // One reading row holds all its vitals.
        let row: (Option<f64>, Option<f64>, Option<f64>, Option<f64>) = app
            .state
            .db
            .fetch_one(
                "SELECT r.hr, r.spo2, r.temp, r.sbp FROM iot_readings r JOIN iot_devices d ON d.id = r.device_id \
                 WHERE d.serial = 'BAND-H001' AND r.measured_at = $1",
                args![t * 1000],
            )
            .await
            .unwrap();
        assert_eq!(row, (Some(71.0), Some(97.0), Some(36.6), Some(121.0)));
        // The dead-letter list is a page for the institution's administrator.
        let (c, _) = app.login("hospadmin").await;
        let html = c
            .get(app.url("/iot/ingest?reason=implausible"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("140"), "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sos_raises_one_alarm_that_is_acknowledged_resolved_and_repeated_until_acknowledged() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        let sos = |n: i64| {
            up(
                "MZ-NH-01",
                "GW-NH-A1",
                "event",
                json!({"ts": ms() + n, "events": [{"dev": "BAND-N002", "type": "sos"}]}),
            )
        };
        let out = ingest(&app, &[sos(0)]).await;
        assert_eq!(out.other, 1, "{b}: {out:?}");
        ingest(&app, &[sos(5_000)]).await;
        let alarms: Vec<(i64, String, String)> = db
            .fetch_all(
                "SELECT id, status, priority FROM iot_alarms WHERE kind = 'sos'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(alarms.len(), 1, "{b}: one active alarm per kind and source");
        let (id, status, priority) = alarms[0].clone();
        assert_eq!((status.as_str(), priority.as_str()), ("raised", "high"));
        // The ward's handlers are told at once, and a repeat is scheduled.
        let told = db
            .scalar(
                "SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE $1",
                args![format!("iot-alarm:{id}:0:%")],
            )
            .await
            .unwrap();
        assert!(told >= 1, "{b}: someone is notified");
        let repeats = db
            .scalar(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'iot.alarm_repeat' AND payload LIKE $1",
                args![format!("%\"alarm_id\":{id},%")],
            )
            .await
            .unwrap();
        assert_eq!(repeats, 1, "{b}");
        // The job repeats the notice while nobody acknowledged.
        yiyang_iot::alarms::repeat(&app.state, &json!({"alarm_id": id, "step": 1}))
            .await
            .unwrap();
        let second = db
            .scalar(
                "SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE $1",
                args![format!("iot-alarm:{id}:1:%")],
            )
            .await
            .unwrap();
        assert!(second >= 1, "{b}: repeated");
        // The hospital cannot touch the nursing home's alarm; the caregiver can.
        let (h, hc) = app.login("nurse").await;
        let (s, _) = post(
            &h,
            &hc,
            app.url(&format!("/api/v1/iot/alarms/{id}/ack")),
            json!({}),
        )
        .await;
        assert_eq!(s, 404, "{b}: another institution's alarm");
        let (c, cc) = app.login("caregiver").await;
        let (s, a) = post(
            &c,
            &cc,
            app.url(&format!("/api/v1/iot/alarms/{id}/ack")),
            json!({"note": "已到床旁"}),
        )
        .await;
        assert_eq!(
            (s, a["status"].as_str()),
            (200, Some("acknowledged")),
            "{b}: {a}"
        );
        let (s, e) = post(
            &c,
            &cc,
            app.url(&format!("/api/v1/iot/alarms/{id}/ack")),
            json!({}),
        )
        .await;
        assert_eq!(
            (s, e["code"].as_str()),
            (409, Some("iot.alarm_state")),
            "{b}: {e}"
        );
        // Acknowledged: the next repeat sends nothing.
        yiyang_iot::alarms::repeat(&app.state, &json!({"alarm_id": id, "step": 2}))
            .await
            .unwrap();
        let third = db
            .scalar(
                "SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE $1",
                args![format!("iot-alarm:{id}:2:%")],
            )
            .await
            .unwrap();
        assert_eq!(third, 0, "{b}");
        let (s, a) = post(
            &c,
            &cc,
            app.url(&format!("/api/v1/iot/alarms/{id}/resolve")),
            json!({"note": "误触"}),
        )
        .await;
        assert_eq!(
            (s, a["status"].as_str()),
            (200, Some("resolved")),
            "{b}: {a}"
        );
        let events: Vec<Value> = get_json(&c, app.url(&format!("/api/v1/iot/alarms/{id}/events")))
            .await
            .as_array()
            .unwrap()
            .clone();
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["raised", "acknowledged", "resolved"], "{b}");
        // Resolved: a new press is a new alarm.
        ingest(&app, &[sos(60_000)]).await;
        let n = db
            .scalar("SELECT COUNT(*) FROM iot_alarms WHERE kind = 'sos'", vec![])
            .await
            .unwrap();
        assert_eq!(n, 2, "{b}");
        let audited = db.scalar("SELECT COUNT(*) FROM audit_log WHERE action IN ('iot.alarm.ack', 'iot.alarm.resolve')", vec![]).await.unwrap();
        assert_eq!(audited, 2, "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vitals_raise_scored_alarms_that_clear_and_rules_are_versioned_data() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        let reading = |dt: i64, spo2: f64| {
            up(
                "MZ-HOSP-01",
                "GW-HOSP-3F",
                "up",
                json!({"readings": [{"dev": "BAND-H005", "ts": ms() + dt, "hr": 128, "spo2": spo2, "temp": 39.3, "sbp": 95}]}),
            )
        };
        // Only this band's alarms (the seeded history has its own).
        let band: i64 = db
            .scalar(
                "SELECT id FROM iot_devices WHERE serial = 'BAND-H005'",
                vec![],
            )
            .await
            .unwrap();
        db.execute(
            "UPDATE iot_alarms SET status = 'resolved', active_key = NULL WHERE device_id = $1",
            args![band],
        )
        .await
        .unwrap();
        // SpO2 below 90 must hold 30 s (the default rule); NEWS2 from the band alone is partial.
        ingest(&app, &[reading(0, 87.0)]).await;
        let spo2 = || {
            db.scalar("SELECT COUNT(*) FROM iot_alarms WHERE rule_code = 'spo2_low' AND status = 'raised' AND device_id = $1", args![band])
        };
        assert_eq!(spo2().await.unwrap(), 0, "{b}: not yet 30 s");
        ingest(&app, &[reading(31_000, 86.0)]).await;
        assert_eq!(spo2().await.unwrap(), 1, "{b}: held 30 s");
        let detail: (String,) = db
            .fetch_one("SELECT detail FROM iot_alarms WHERE kind = 'score' AND status = 'raised' AND device_id = $1 ORDER BY id DESC LIMIT 1", args![band])
            .await
            .unwrap();
        assert!(
            detail.0.contains("部分评分") && detail.0.contains("缺少"),
            "{b}: {}",
            detail.0
        );
        // Recovery clears the alarm by itself.
        ingest(&app, &[reading(60_000, 97.0)]).await;
        assert_eq!(spo2().await.unwrap(), 0, "{b}: cleared");
        // A rule set with problems is refused whole, every problem named; the rules stay.
        let (admin, csrf) = app.login("admin").await;
        let bad = r#"{"version":"x","rules":[{"code":"","name":"","priority":"urgent","condition":{"reading":{"metric":"spo2","op":"<","value":90}}}]}"#;
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(bad.as_bytes().to_vec()).file_name("r.json"),
            )
            .text("_csrf", csrf.clone());
        let r = admin
            .post(app.url("/iot/rules"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.contains("err="), "{b}: {to}");
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM iot_rule_sets", vec![])
                .await
                .unwrap(),
            0
        );
        // A valid set (SpO2 threshold 95, at once) becomes version 1 and applies to the next reading.
        let mut spec: Value = serde_json::from_str(
            &admin
                .get(app.url("/iot/rules/export"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        for r in spec["rules"].as_array_mut().unwrap() {
            if r["code"] == "spo2_low" {
                r["condition"]["reading"]["value"] = json!(95);
                r["for_seconds"] = json!(0);
            }
        }
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(spec.to_string().into_bytes()).file_name("r.json"),
            )
            .text("note", "血氧阈值提高到95%")
            .text("_csrf", csrf.clone());
        let r = admin
            .post(app.url("/iot/rules"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.contains("ok="), "{b}: {}", urlencoding_decode(&to));
        ingest(&app, &[reading(90_000, 94.0)]).await;
        assert_eq!(spo2().await.unwrap(), 1, "{b}: the new threshold applies");
        let audited = db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'iot.rules.import'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(audited, 1);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_are_scoped_checked_whole_and_imported_all_or_nothing() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (h, hc) = app.login("hospadmin").await;
        let nh = app.org_id("MZ-NH-01").await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        // Every problem at once.
        let (s, e) = post(&h, &hc, app.url("/api/v1/iot/devices"), json!({"org_id": hosp, "model": "NOPE", "serial": "bad serial!", "acquisition": "rental"})).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (400, Some("input.invalid")),
            "{b}: {e}"
        );
        let fields: Vec<&str> = e["details"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        for f in ["serial", "model", "rental_contract", "rental_until"] {
            assert!(fields.contains(&f), "{b}: {f} in {fields:?}");
        }
        // Not for another institution.
        let (s, _) = post(
            &h,
            &hc,
            app.url("/api/v1/iot/devices"),
            json!({"org_id": nh, "model": "YB-Y3", "serial": "X-1"}),
        )
        .await;
        assert_eq!(s, 400, "{b}");
        let nh_band: i64 = app
            .state
            .db
            .scalar(
                "SELECT id FROM iot_devices WHERE serial = 'BAND-N001'",
                vec![],
            )
            .await
            .unwrap();
        let r = h
            .get(app.url(&format!("/api/v1/iot/devices/{nh_band}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{b}");
        let nh_person: i64 = app
            .state
            .db
            .scalar(
                "SELECT person_id FROM iot_bindings WHERE device_id = $1",
                args![nh_band],
            )
            .await
            .unwrap();
        let r = h
            .get(app.url(&format!("/api/v1/iot/persons/{nh_person}/readings")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            404,
            "{b}: the nursing home's residents' vitals are not the hospital's"
        );
        let listed = get_items(&h, app.url("/api/v1/iot/devices?size=200")).await;
        assert!(listed.iter().all(|d| d["org_id"] == hosp), "{b}");
        // An import with one bad row writes nothing and names the row.
        let csv = "机构编码,型号编码,序列号,设备名称\nMZ-HOSP-01,YB-Y3,IMP-1,甲\nMZ-HOSP-01,YB-Y3,IMP-1,乙\nMZ-HOSP-01,NOPE,IMP-3,丙\n";
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("d.csv"),
            )
            .text("_csrf", hc.clone());
        let html = h
            .post(app.url("/iot/devices/import"))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("未导入任何设备")
                && html.contains("与第 2 行的序列号重复")
                && html.contains("型号不存在"),
            "{b}"
        );
        assert_eq!(
            app.state
                .db
                .scalar(
                    "SELECT COUNT(*) FROM iot_devices WHERE serial LIKE 'IMP-%'",
                    vec![]
                )
                .await
                .unwrap(),
            0
        );
        let csv = "机构编码,型号编码,序列号,设备名称\nMZ-HOSP-01,YB-Y3,IMP-1,甲\nMZ-HOSP-01,BP-C6,IMP-2,乙\n";
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("d.csv"),
            )
            .text("_csrf", hc.clone());
        let html = h
            .post(app.url("/iot/devices/import"))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("已导入 2 台设备"), "{b}");
        // Binding history: who wore the band when.
        let band: i64 = app
            .state
            .db
            .scalar("SELECT id FROM iot_devices WHERE serial = 'IMP-1'", vec![])
            .await
            .unwrap();
        let person: i64 = app.state.db.scalar("SELECT person_id FROM iot_bindings b JOIN iot_devices d ON d.id = b.device_id WHERE d.serial = 'BAND-H001'", vec![]).await.unwrap();
        let (s, _) = post(
            &h,
            &hc,
            app.url(&format!("/api/v1/iot/devices/{band}/bindings")),
            json!({"person_id": person, "ward": "心内科一病区", "bed": "01床"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let old = get_json(&h, app.url("/api/v1/iot/devices?q=BAND-H001")).await;
        assert!(
            old["items"][0]["person_id"].is_null(),
            "{b}: the person's previous band is released: {old}"
        );
        let (s, _) = post(
            &h,
            &hc,
            app.url(&format!("/api/v1/iot/devices/{band}/bindings")),
            json!({"person_id": nh_person, "bed": "02床"}),
        )
        .await;
        assert_eq!(
            s, 400,
            "{b}: a person of another institution cannot be bound"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_speaks_only_with_its_own_credentials_and_for_its_own_institution() {
    let app = TestApp::start("sqlite").await;
    let (h, hc) = app.login("hospadmin").await;
    let gw: i64 = app
        .state
        .db
        .scalar(
            "SELECT id FROM iot_devices WHERE serial = 'GW-HOSP-3F'",
            vec![],
        )
        .await
        .unwrap();
    let secret = post(
        &h,
        &hc,
        app.url(&format!("/api/v1/iot/devices/{gw}/secret")),
        json!({}),
    )
    .await
    .1;
    let secret = secret["secret"].as_str().unwrap().to_string();
    let body = json!({"readings": [{"dev": "BAND-H001", "hr": 77, "ts": ms()}, {"dev": "BAND-N001", "hr": 77, "ts": ms()}]});
    let r = app
        .client()
        .post(app.url("/device-api/v1/up"))
        .header("x-device-serial", "GW-HOSP-3F")
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "iot.device_auth");
    let r = app
        .client()
        .post(app.url("/device-api/v1/up"))
        .header("x-device-serial", "GW-HOSP-3F")
        .bearer_auth(&secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    let out: Value = r.json().await.unwrap();
    assert_eq!(
        (out["stored"].as_i64(), out["rejected"].as_i64()),
        (Some(1), Some(1)),
        "the nursing home's band is refused: {out}"
    );
    // The broker's authentication hook.
    let ok: Value = app
        .client()
        .post(app.url("/device-api/v1/mqtt/auth"))
        .json(&json!({"username": "GW-HOSP-3F", "password": secret}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["result"], "allow");
    let no: Value = app
        .client()
        .post(app.url("/device-api/v1/mqtt/auth"))
        .json(&json!({"username": "GW-HOSP-3F", "password": "x"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(no["result"], "deny");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_orders_and_a_firmware_campaign_that_pauses_on_failures() {
    let app = TestApp::start("sqlite").await;
    let db = &app.state.db;
    let (h, hc) = app.login("hospadmin").await;
    // Work orders were generated from the plans; completing a calibration moves the due date.
    let (wo, dev): (i64, i64) = db
        .fetch_one("SELECT w.id, w.device_id FROM iot_work_orders w JOIN iot_devices d ON d.id = w.device_id WHERE w.kind = 'calibration' AND d.org_id = $1 AND w.status = 'open' LIMIT 1", args![app.org_id("MZ-HOSP-01").await])
        .await
        .unwrap();
    let r = h
        .post(app.url(&format!("/iot/maintenance/orders/{wo}")))
        .header("x-csrf-token", &hc)
        .form(&[("notes", ""), ("_csrf", &hc)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "a record is required");
    let r = h
        .post(app.url(&format!("/iot/maintenance/orders/{wo}")))
        .form(&[
            ("notes", "质控液校准，误差 3%"),
            ("parts", "试纸仓"),
            ("_csrf", &hc),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let (cal, due): (Option<String>, Option<String>) = db
        .fetch_one(
            "SELECT calibrated_on, calibration_due FROM iot_devices WHERE id = $1",
            args![dev],
        )
        .await
        .unwrap();
    assert_eq!(cal.as_deref(), Some("2026-11-26"));
    assert_eq!(due.as_deref(), Some("2026-12-26"));
    // A campaign over the ten hospital bands: waves, acknowledgements, pause on failures.
    let model: i64 = db
        .scalar("SELECT id FROM iot_models WHERE code = 'YB-Y3'", vec![])
        .await
        .unwrap();
    let hosp = app.org_id("MZ-HOSP-01").await;
    let r = h
        .post(app.url("/iot/firmware"))
        .form(&[
            ("org_id", hosp.to_string()),
            ("model_id", model.to_string()),
            ("to_version", "3.3.0".into()),
            ("package_url", "https://ota.example.cn/y3/3.3.0.bin".into()),
            (
                "sha256",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            ),
            ("max_failure_pct", "20".into()),
            ("_csrf", hc.clone()),
        ])
        .send()
        .await
        .unwrap();
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let id: i64 = to
        .trim_start_matches("/iot/firmware/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let r = h
        .post(app.url(&format!("/iot/firmware/{id}/start")))
        .form(&[("_csrf", &hc)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let sent: Vec<(String, String)> = db
        .fetch_all("SELECT d.serial, t.command_id FROM iot_fw_targets t JOIN iot_devices d ON d.id = t.device_id WHERE t.campaign_id = $1 AND t.status = 'sent' ORDER BY d.serial", args![id])
        .await
        .unwrap();
    assert_eq!(sent.len(), 5, "the first wave: a tenth, at least five");
    // Three fail: 3 of 5 answered is over 20%: paused, the rest not sent.
    // Each device answers on its own topic (contract §3.6).
    let acks: Vec<Uplink> = sent
        .iter()
        .enumerate()
        .map(|(i, (serial, cmd))| Uplink {
            topic: format!("yiyang/v1/MZ-HOSP-01/dev/{serial}/ack"),
            ..up("MZ-HOSP-01", serial, "ack", json!({"cmd": cmd, "result": if i < 3 { "error" } else { "ok" }, "version": if i < 3 { "3.2.1" } else { "3.3.0" }, "ts": ms()}))
        })
        .collect();
    ingest(&app, &acks).await;
    let c = get_json(&h, app.url("/api/v1/iot/devices?q=BAND-H0")).await;
    assert!(
        c["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["firmware"] == "3.3.0"),
        "upgraded devices report the new version"
    );
    let status: (String,) = db
        .fetch_one(
            "SELECT status FROM iot_fw_campaigns WHERE id = $1",
            args![id],
        )
        .await
        .unwrap();
    assert_eq!(status.0, "paused");
    let pending = db
        .scalar(
            "SELECT COUNT(*) FROM iot_fw_targets WHERE campaign_id = $1 AND status = 'pending'",
            args![id],
        )
        .await
        .unwrap();
    assert_eq!(pending, 5, "nothing more was sent");
    app.stop().await;
}

/// Through the real broker: a flood of uplinks, the subscriber stopped in the middle and
/// started again (as after a crash): every acknowledged reading is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_mosquitto_nothing_acknowledged_is_lost_when_the_subscriber_stops_mid_flood() {
    let url =
        std::env::var("YIYANG_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let (host, port) = yiyang_iot::mqtt::parse_url(&url).unwrap();
    if tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .is_err()
    {
        yiyang_platform::testing::skip("mqtt", &format!("no MQTT broker at {url}"));
        return;
    }
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        let group = std::env::var("YIYANG_TEST_MQTT_GROUP")
            .unwrap_or_else(|_| format!("t{}{b}", std::process::id()));
        let broker = yiyang_iot::mqtt::Broker {
            url: url.clone(),
            client_id: format!("yiyang-test-{b}-{}", std::process::id()),
            group: group.clone(),
            username: String::new(),
            password: String::new(),
            batch: 200,
        };
        let (stop, rx) = tokio::sync::watch::channel(false);
        let sub = yiyang_iot::mqtt::spawn_with(app.state.clone(), broker.clone(), rx);
        // Wait for the subscription.
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let before = db
            .scalar("SELECT COUNT(*) FROM iot_readings", vec![])
            .await
            .unwrap();
        let o =
            yiyang_iot::mqtt::options(&url, &format!("gw-test-{b}-{}", std::process::id()), "", "")
                .unwrap();
        let (client, mut el) = rumqttc::AsyncClient::new(o, 1000);
        let pump = tokio::spawn(async move { while el.poll().await.is_ok() {} });
        let n = 400i64;
        let publisher = {
            let client = client.clone();
            tokio::spawn(async move {
                for i in 0..n {
                    let body = json!({"readings": [
                        {"dev": "BAND-H001", "hr": 70 + i % 5, "ts": ms() - 590_000 + i},
                        {"dev": "BAND-H002", "hr": 75, "ts": ms() - 590_000 + i}
                    ]});
                    client
                        .publish(
                            "yiyang/v1/MZ-HOSP-01/gw/GW-HOSP-3F/up",
                            rumqttc::QoS::AtLeastOnce,
                            false,
                            body.to_string(),
                        )
                        .await
                        .unwrap();
                    if i % 50 == 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        // Stop the subscriber mid-flood; its unacknowledged messages wait at the broker.
        stop.send(true).unwrap();
        let _ = sub.await;
        publisher.await.unwrap();
        let (_stop2, rx2) = tokio::sync::watch::channel(false);
        let sub2 = yiyang_iot::mqtt::spawn_with(app.state.clone(), broker, rx2);
        let want = before + 2 * n;
        let mut got = 0;
        for _ in 0..200 {
            got = db
                .scalar("SELECT COUNT(*) FROM iot_readings", vec![])
                .await
                .unwrap();
            if got >= want {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        got = got.max(
            db.scalar("SELECT COUNT(*) FROM iot_readings", vec![])
                .await
                .unwrap(),
        );
        assert_eq!(got, want, "{b}: every reading once");
        sub2.abort();
        pump.abort();
        app.stop().await;
    }
}

fn urlencoding_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// BLE presence through the real ingest: a patient enters the ward, walks into the
/// pharmacy store (restricted: an alarm), and leaves it when the store's gateway stops
/// hearing the band; a nurse's NFC reader identifies the band's wearer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_are_entered_and_left_a_restricted_one_raises_an_alarm_and_nfc_identifies() {
    let app = TestApp::start("sqlite").await;
    let db = &app.state.db;
    let at = |s: i64| ms() + s * 1000;
    let ward = |s: i64, rssi: i64| {
        up(
            "MZ-HOSP-01",
            "GW-HOSP-3F",
            "up",
            json!({"ts": at(s), "scans": [{"dev": "BAND-H001", "rssi": rssi}]}),
        )
    };
    let store = |s: i64, heard: bool| {
        let scans = if heard {
            json!([{"dev": "BAND-H001", "rssi": -45}])
        } else {
            json!([])
        };
        up(
            "MZ-HOSP-01",
            "GW-HOSP-PH",
            "up",
            json!({"ts": at(s), "scans": scans}),
        )
    };
    // (Stays of the demo's simulated history are left out: only those from now count.)
    for s in [0, 6, 12] {
        ingest(&app, &[ward(s, -60)]).await;
    }
    let stays = |zone: &'static str| {
        db.fetch_all::<(i64, Option<i64>)>(
            "SELECT p.entered_at, p.left_at FROM iot_presence p JOIN iot_zones z ON z.id = p.zone_id \
             JOIN iot_devices d ON d.id = p.device_id WHERE z.code = $1 AND d.serial = 'BAND-H001' AND p.entered_at >= $2 ORDER BY p.id",
            args![zone, at(0) * 1000],
        )
    };
    let w = stays("WARD-3F").await.unwrap();
    assert_eq!(w.len(), 1, "entered the ward after the dwell: {w:?}");
    assert!(w[0].1.is_none());
    // Into the store: the store's gateway is 15 dB stronger.
    for s in [18, 24, 30] {
        ingest(&app, &[store(s, true), ward(s, -75)]).await;
    }
    let p = stays("PHARM-3F").await.unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        stays("WARD-3F").await.unwrap()[0].1.is_some(),
        "left the ward"
    );
    let zone_alarms = db
        .scalar(
            "SELECT COUNT(*) FROM iot_alarms WHERE kind = 'zone' AND status = 'raised'",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(zone_alarms, 1, "a patient is not allowed in the store");
    // The store stops hearing the band (three missed scans): it leaves, even though the
    // band is in none of those batches.
    for s in [36, 42, 48] {
        ingest(&app, &[store(s, false)]).await;
    }
    // …and the ward's gateway, still hearing it, takes it back after the dwell.
    for s in [54, 60] {
        ingest(&app, &[ward(s, -70), store(s, false)]).await;
    }
    assert!(
        stays("PHARM-3F").await.unwrap()[0].1.is_some(),
        "left the store"
    );
    // NFC: the ward's reader scans the band's tag; the wearer is identified.
    let uid: String = db
        .fetch_one::<(String,)>(
            "SELECT nfc_uid FROM iot_devices WHERE serial = 'BAND-H001'",
            vec![],
        )
        .await
        .unwrap()
        .0;
    let mut scan = up(
        "MZ-HOSP-01",
        "NFC-HOSP-3F",
        "nfc",
        json!({"ts": at(66), "scans": [{"uid": uid}]}),
    );
    scan.topic = "yiyang/v1/MZ-HOSP-01/dev/NFC-HOSP-3F/nfc".into();
    let out = ingest(&app, &[scan]).await;
    assert_eq!(out.other, 1, "{out:?}");
    let who = db
        .scalar(
            "SELECT COUNT(*) FROM iot_nfc_scans n JOIN iot_bindings b ON b.person_id = n.person_id AND b.unbound_at IS NULL \
             JOIN iot_devices d ON d.id = b.device_id WHERE d.serial = 'BAND-H001'",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(who, 1, "the scan names the wearer");
    app.stop().await;
}

/// A clinician sets a patient's own SpO2 threshold: the next reading is judged by it;
/// a threshold that is not a number, or for a rule that does not exist, is refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patients_own_threshold_applies_to_the_next_reading() {
    let app = TestApp::start("sqlite").await;
    let db = &app.state.db;
    let band: i64 = db
        .scalar(
            "SELECT id FROM iot_devices WHERE serial = 'BAND-H006'",
            vec![],
        )
        .await
        .unwrap();
    let person: i64 = db
        .scalar(
            "SELECT person_id FROM iot_bindings WHERE device_id = $1 AND unbound_at IS NULL",
            args![band],
        )
        .await
        .unwrap();
    db.execute(
        "UPDATE iot_alarms SET status = 'resolved', active_key = NULL WHERE device_id = $1",
        args![band],
    )
    .await
    .unwrap();
    let (c, csrf) = app.login("doctor").await;
    let r = c
        .post(app.url(&format!("/iot/persons/{person}/thresholds")))
        .form(&[("t.spo2_low.spo2", "abc"), ("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("阈值须为数字"));
    let r = c
        .post(app.url(&format!("/iot/persons/{person}/thresholds")))
        .form(&[
            ("t.spo2_low.spo2", "94"),
            ("off", "temperature_high"),
            ("_csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    // SpO2 93 held 40 s: over the hospital's 90 but under the patient's own 94.
    for (dt, t) in [(0, 39.5), (40_000, 39.5)] {
        let body = json!({"readings": [{"dev": "BAND-H006", "ts": ms() + dt, "hr": 80, "spo2": 93, "temp": t}]});
        ingest(&app, &[up("MZ-HOSP-01", "GW-HOSP-3F", "up", body)]).await;
    }
    let spo2 = db.scalar("SELECT COUNT(*) FROM iot_alarms WHERE device_id = $1 AND rule_code = 'spo2_low' AND status = 'raised'", args![band]).await.unwrap();
    assert_eq!(spo2, 1, "the patient's own threshold");
    let fever = db.scalar("SELECT COUNT(*) FROM iot_alarms WHERE device_id = $1 AND rule_code = 'temperature_high'", args![band]).await.unwrap();
    assert_eq!(fever, 0, "the rule switched off for this patient");
    let audited = db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'iot.thresholds.set'",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(audited, 1);
    app.stop().await;
}
