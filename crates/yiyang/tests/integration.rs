//! The integration engine over HTTP and MLLP, on SQLite and (when configured) PostgreSQL:
//! channels, store-before-ACK, dedupe, processing into the health record, critical values,
//! the error queue with replay, monitoring.

mod common;

use common::{TestApp, backends, free_port, get_items, get_json, mllp, mllp_raw, send};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_managed_with_validation_and_scope() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (admin, csrf) = app.login("admin").await;
        let url = app.url("/api/v1/integration/channels");
        let good = json!({"org_id": hosp, "name": "医院HIS", "port": 39001, "message_types": "adt^a01, ORU^R01", "allowed_apps": "HIS"});
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            url.clone(),
            good.clone(),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        let id = out["id"].as_i64().unwrap();
        // Same port again: a clear zh-CN error.
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            url.clone(),
            json!({"org_id": hosp, "name": "另一个", "port": 39001, "message_types": "ADT^A01"}),
        )
        .await;
        assert_eq!(s, 400, "{b}: {out}");
        assert!(
            out["message"].as_str().unwrap().contains("39001"),
            "{b}: {out}"
        );
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            url.clone(),
            json!({"org_id": hosp, "name": "坏类型", "port": 39002, "message_types": "ADT-A01"}),
        )
        .await;
        assert_eq!(s, 400, "{b}: {out}");
        assert!(
            out["message"].as_str().unwrap().contains("消息类型"),
            "{b}: {out}"
        );
        let got: Value = admin
            .get(format!("{url}/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["message_types"], "ADT^A01,ORU^R01", "{b}");
        // Update, then the hospital's org admin can read but not manage.
        let mut upd = good.clone();
        upd["enabled"] = json!(false);
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::PUT,
            format!("{url}/{id}"),
            upd,
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        let (hospadmin, h_csrf) = app.login("hospadmin").await;
        let list: Value = hospadmin
            .get(url.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // The hospital's channels: the demo HIS channel and this one.
        let list: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] != yiyang::seed::DEMO_CHANNEL)
            .collect();
        assert_eq!(list.len(), 1, "{b}: {list:?}");
        assert_eq!(list[0]["enabled"], false, "{b}");
        let (s, _) = send(
            &hospadmin,
            &h_csrf,
            reqwest::Method::DELETE,
            format!("{url}/{id}"),
            json!({}),
        )
        .await;
        assert_eq!(s, 403, "{b}");
        // A doctor has no access to channels at all.
        let (doctor, _) = app.login("doctor").await;
        assert_eq!(
            doctor.get(url.clone()).send().await.unwrap().status(),
            403,
            "{b}"
        );
        // Pages render.
        let page = admin
            .get(app.url("/integration/channels"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("医院HIS") && page.contains("新建通道"), "{b}");
        let page = admin
            .get(app.url(&format!("/integration/channels/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("修改通道"), "{b}");
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::DELETE,
            format!("{url}/{id}"),
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        app.stop().await;
    }
}

// ---------------------------------------------------------------- MLLP helpers

/// Creates a channel through the API and starts the listener supervisor; waits until the
/// port accepts connections.
async fn channel(app: &TestApp, types: &str) -> (i64, u16) {
    channel_with(app, types, "application").await
}

async fn channel_with(app: &TestApp, types: &str, ack_mode: &str) -> (i64, u16) {
    let hosp = app.org_id("MZ-HOSP-01").await;
    let (admin, csrf) = app.login("admin").await;
    let port = free_port();
    let (s, out) = send(
        &admin,
        &csrf,
        reqwest::Method::POST,
        app.url("/api/v1/integration/channels"),
        json!({"org_id": hosp, "name": format!("HIS-{port}"), "port": port, "message_types": types, "allowed_apps": "HIS,LIS", "read_timeout_secs": 5, "ack_mode": ack_mode}),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(_tx);
    yiyang_integration::listener::spawn(
        app.state.clone(),
        "127.0.0.1".into(),
        std::time::Duration::from_millis(200),
        rx,
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (out["id"].as_i64().unwrap(), port);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("listener did not start on {port}");
}

fn msa(ack: &str) -> Vec<String> {
    ack.split('\r')
        .find(|s| s.starts_with("MSA"))
        .unwrap_or("")
        .split('|')
        .map(str::to_string)
        .collect()
}

fn adt(trigger: &str, control: &str, mrn: &str, visit: &str, loc: &str) -> String {
    format!(
        "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126093000||ADT^{trigger}^ADT_A01|{control}|P|2.5|||AL|NE||UNICODE UTF-8\r\
         EVN|{trigger}|20261126093000\r\
         PID|1||{mrn}^^^MZH^MR||钟^伟明||19520308|M|||江南路8号^^梅州市^广东省||13902345678\r\
         PV1|1|I|{loc}|||||||MED|||||||||{visit}|||||||||||||||||||||||||20261126090000"
    )
}

async fn count(app: &TestApp, sql: &str, a: Vec<yiyang_store::Arg>) -> i64 {
    app.state.db.scalar(sql, a).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adt_over_mllp_is_stored_before_the_ack_processed_once_and_rejections_are_clean() {
    use yiyang_store::args;
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (_, port) = channel(&app, "ADT^*,ORU^R01").await;
        // Admission: AA naming our control id; stored and processed before the ACK arrived.
        let a01 = adt("A01", "MSG0001", "MR7001", "V7001", "内科一病区^301^2");
        let ack = mllp(port, a01.as_bytes()).await.expect("ack");
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        assert_eq!(msa(&ack)[2], "MSG0001", "{b}");
        let (status, code): (String, String) = app
            .state
            .db
            .fetch_one(
                "SELECT status, ack_code FROM hl7_messages WHERE control_id = 'MSG0001'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!((status.as_str(), code.as_str()), ("processed", "AA"), "{b}");
        let person = count(
            &app,
            "SELECT person_id FROM person_identifiers WHERE org_id = $1 AND value = 'MR7001'",
            args![hosp],
        )
        .await;
        let (status, location): (String, String) = app
            .state
            .db
            .fetch_one("SELECT status, location FROM encounters WHERE person_id = $1 AND source_id = 'V7001'", args![person])
            .await
            .unwrap();
        assert_eq!(status, "in-progress", "{b}");
        assert_eq!(location, "内科一病区-301-2", "{b}");
        // The same MSH-10 again: the original ACK, nothing processed twice.
        let again = mllp(port, a01.as_bytes()).await.expect("ack");
        assert_eq!(again, ack, "{b}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM hl7_messages WHERE control_id = 'MSG0001' AND status = 'duplicate'", vec![]).await, 1, "{b}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM encounters WHERE source_id = 'V7001'",
                vec![]
            )
            .await,
            1,
            "{b}"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM person_identifiers WHERE value = 'MR7001'",
                vec![]
            )
            .await,
            1,
            "{b}"
        );
        // Transfer and discharge by visit number.
        let ack = mllp(
            port,
            adt("A02", "MSG0002", "MR7001", "V7001", "ICU^01^1").as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        let ack = mllp(
            port,
            adt("A03", "MSG0003", "MR7001", "V7001", "ICU^01^1").as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        let (status, location): (String, String) = app
            .state
            .db
            .fetch_one(
                "SELECT status, location FROM encounters WHERE source_id = 'V7001'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            (status.as_str(), location.as_str()),
            ("finished", "ICU-01-1"),
            "{b}"
        );
        // A08 from the home institution updates the demographics it sends (and only those).
        let a08 = "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126100000||ADT^A08^ADT_A01|MSG0009|P|2.5\r\
                   EVN|A08|20261126100000\r\
                   PID|1||MR7001^^^MZH^MR||钟^伟民||19520308|M|||梅江区彬芳大道9号^^梅州市^广东省||13711112222\r\
                   PV1|1|I|ICU^01^1||||||||||||||||V7001";
        let ack = mllp(port, a08.as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        let (name, phone, birth): (String, String, Option<String>) = app
            .state
            .db
            .fetch_one(
                "SELECT name, phone, birth_date FROM persons WHERE id = $1",
                args![person],
            )
            .await
            .unwrap();
        assert_eq!(
            (name.as_str(), phone.as_str(), birth.as_deref()),
            ("钟伟民", "13711112222", Some("1952-03-08")),
            "{b}"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM mpi_events WHERE person_id = $1 AND kind = 'update'",
                args![person]
            )
            .await,
            1,
            "{b}"
        );
        // A sending application the channel does not allow: AR with the reason, still stored.
        let pacs = adt("A01", "MSG0004", "MR7002", "V7002", "W^1^1").replace("|HIS|", "|PACS|");
        let ack = mllp(port, pacs.as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AR", "{b}: {ack}");
        assert!(msa(&ack)[3].contains("PACS"), "{b}: {ack}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM hl7_messages WHERE control_id = 'MSG0004' AND status = 'rejected'", vec![]).await, 1, "{b}");
        // A message type the channel does not accept.
        let siu = "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126093000||SIU^S12|MSG0005|P|2.5\rSCH|1";
        let ack = mllp(port, siu.as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AR", "{b}: {ack}");
        // Malformed: an MSH without a message type → AR with the control id we could read.
        let broken = "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126093000|||MSG0006|P|2.5\rPID|1";
        let ack = mllp(port, broken.as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AR", "{b}: {ack}");
        assert_eq!(msa(&ack)[2], "MSG0006", "{b}: {ack}");
        // Not HL7 at all: the connection is closed without an answer.
        assert_eq!(mllp(port, b"HELLO WORLD").await, None, "{b}");
        // Bytes outside a frame: closed as well.
        {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
            let mut buf = [0u8; 16];
            let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
                .await
                .unwrap()
                .unwrap_or(0);
            assert_eq!(n, 0, "{b}");
        }
        // A sender that stops mid-frame is cut off after the channel's read timeout (5 s).
        {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            s.write_all(b"\x0bMSH|^~\\&|HIS|").await.unwrap();
            let t = std::time::Instant::now();
            let mut buf = [0u8; 16];
            let n = tokio::time::timeout(std::time::Duration::from_secs(15), s.read(&mut buf))
                .await
                .unwrap()
                .unwrap_or(0);
            assert_eq!(n, 0, "{b}");
            assert!(t.elapsed() >= std::time::Duration::from_secs(4), "{b}");
        }
        // An original whose processing was interrupted (stored, no outcome: a crash right
        // after the store committed): the processor picks it up by itself, and a resend is
        // answered with its outcome without processing it twice.
        let stuck = adt("A01", "MSG0008", "MR7004", "V7004", "W^1^1");
        let ch: i64 = count(&app, "SELECT MAX(id) FROM hl7_channels", vec![]).await;
        let at = app.state.clock.now_micros() - 60_000_000;
        app.state
            .db
            .execute(
                "INSERT INTO hl7_messages (channel_id, org_id, control_id, msg_type, trigger_event, sending_app, raw, status, dedupe_key, ack_id, received_at) VALUES ($1, $2, 'MSG0008', 'ADT', 'A01', 'HIS', $3, 'received', $4, 'YYSTUCK1', $5)",
                args![ch, hosp, stuck.as_bytes().to_vec(), format!("{ch}|HIS|MSG0008"), at],
            )
            .await
            .unwrap();
        let ack = mllp(port, stuck.as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM hl7_messages WHERE control_id = 'MSG0008' AND status = 'processed'", vec![]).await, 1, "{b}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM encounters WHERE source_id = 'V7004'",
                vec![]
            )
            .await,
            1,
            "{b}"
        );
        // The server is still alive and serving.
        let ack = mllp(port, adt("A04", "MSG0007", "MR7003", "", "").as_bytes())
            .await
            .unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        app.stop().await;
    }
}

fn oru(control: &str, mrn: &str, value: &str, flag: &str) -> String {
    format!(
        "MSH|^~\\&|LIS|MZ-HOSP-01|YIYANG|MZ|20261126094500||ORU^R01^ORU_R01|{control}|P|2.5\r\
         PID|1||{mrn}^^^MZH^MR||钟^伟明||19520308|M\r\
         PV1|1|I|内科一病区^301^2||||||||||||||||V7101\r\
         OBR|1|ORD1|LAB1|2823-3^Potassium^LN|||20261126093000\r\
         OBX|1|NM|2823-3^血钾^LN||{value}|mmol/L|3.5-5.5|{flag}|||F|||20261126094000\r\
         OBX|2|ST|GLU-COMMENT^备注^L||溶血待复查||||||F"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_raise_critical_alerts_and_failed_messages_wait_for_replay() {
    use yiyang_store::args;
    for b in backends() {
        let app = TestApp::start(b).await;
        let (ch, port) = channel(&app, "ADT^*,ORU^R01").await;
        let (admin, csrf) = app.login("admin").await;
        // A critical potassium: stored observation, open alert, inbox message for the org admin.
        let ack = mllp(port, oru("LAB0001", "MR7101", "6.9", "HH").as_bytes())
            .await
            .unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        let (v, flag, unit, low, high): (Option<f64>, String, String, Option<f64>, Option<f64>) = app
            .state
            .db
            .fetch_one("SELECT value_num, flag, unit, ref_low, ref_high FROM observations WHERE code = '2823-3' AND source IN (SELECT 'hl7:' || CAST(id AS TEXT) || ':1' FROM hl7_messages WHERE control_id = 'LAB0001')", vec![])
            .await
            .unwrap();
        assert_eq!(
            (v, flag.as_str(), unit.as_str(), low, high),
            (Some(6.9), "HH", "mmol/L", Some(3.5), Some(5.5)),
            "{b}"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM observations WHERE value_text = '溶血待复查'",
                vec![]
            )
            .await,
            1,
            "{b}"
        );
        let (hospadmin, h_csrf) = app.login("hospadmin").await;
        let alerts = get_items(
            &hospadmin,
            app.url("/api/v1/integration/alerts?status=open"),
        )
        .await;
        // This ward's (the demo hospital's day has critical values of its own).
        let alerts: Vec<&Value> = alerts
            .iter()
            .filter(|a| a["ward"] == "内科一病区")
            .collect();
        assert_eq!(alerts.len(), 1, "{b}: {alerts:?}");
        assert_eq!(alerts[0]["flag"], "HH", "{b}");
        let alert = alerts[0]["id"].as_i64().unwrap();
        let worker = yiyang::app::worker(&app.state, "t".into());
        worker
            .run_due(&yiyang_platform::jobs::JobStats::default())
            .await
            .unwrap();
        let inbox = count(
            &app,
            "SELECT COUNT(*) FROM inbox i JOIN accounts a ON a.id = i.account_id WHERE a.login = 'hospadmin' AND i.title LIKE $1 AND i.body LIKE '%内科一病区%'",
            args!["危急值提醒%"],
        )
        .await;
        assert_eq!(inbox, 1, "{b}");
        let page = hospadmin
            .get(app.url("/integration/alerts"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("血钾") && page.contains("待确认"), "{b}");
        let (s, out) = send(
            &hospadmin,
            &h_csrf,
            reqwest::Method::POST,
            app.url(&format!("/api/v1/integration/alerts/{alert}/ack")),
            json!({"note": "已电话通知病区"}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM critical_alerts WHERE status = 'acknowledged' AND acknowledged_by = 'hospadmin'", vec![]).await, 1, "{b}");
        // A discharge for a visit the platform never saw: AE with the reason, in the error queue.
        let a03 = adt("A03", "MSG0100", "MR7101", "V9999", "W^1^1");
        let ack = mllp(port, a03.as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AE", "{b}: {ack}");
        assert!(msa(&ack)[3].contains("V9999"), "{b}: {ack}");
        let queue = get_items(
            &admin,
            app.url(&format!(
                "/api/v1/integration/messages?status=queue&channel_id={ch}"
            )),
        )
        .await;
        assert_eq!(queue.len(), 1, "{b}: {queue:?}");
        let mid = queue[0]["id"].as_i64().unwrap();
        // The operator fixes the visit number and replays; history keeps the edit.
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            app.url(&format!("/api/v1/integration/messages/{mid}/replay")),
            json!({}),
        )
        .await;
        assert_eq!(
            (s, out["status"].as_str()),
            (200, Some("error")),
            "{b}: {out}"
        );
        let ack = mllp(
            port,
            adt("A01", "MSG0101", "MR7101", "V7101", "内科一病区^301^2").as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        let fixed = a03.replace("V9999", "V7101").replace('\r', "\n");
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            app.url(&format!("/api/v1/integration/messages/{mid}/replay")),
            json!({"raw": fixed}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        assert_eq!(out["status"], "processed", "{b}: {out}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM encounters WHERE source_id = 'V7101' AND status = 'finished'",
                vec![]
            )
            .await,
            1,
            "{b}"
        );
        let kinds: Vec<(String,)> = app
            .state
            .db
            .fetch_all(
                "SELECT kind FROM hl7_message_events WHERE message_id = $1 ORDER BY id",
                args![mid],
            )
            .await
            .unwrap();
        let kinds: Vec<&str> = kinds.iter().map(|k| k.0.as_str()).collect();
        assert_eq!(
            kinds,
            ["error", "error", "replay", "edit", "processed", "replay"],
            "{b}"
        );
        // The sender repeating MSG0100 now gets the current (AA) answer, without a second discharge.
        let ack = mllp(port, a03.as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        // Viewing a message: masked by default, plain only with permission and purpose; audited.
        let view: Value = admin
            .get(app.url(&format!("/api/v1/integration/messages/{mid}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let raw = view["raw"].as_str().unwrap();
        assert!(
            raw.contains("PID|") && !raw.contains("钟伟明") && !raw.contains("钟^伟明"),
            "{b}: {raw}"
        );
        let r = admin
            .get(app.url(&format!("/api/v1/integration/messages/{mid}?unmask=true")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{b}");
        let view: Value = admin
            .get(app.url(&format!(
                "/api/v1/integration/messages/{mid}?unmask=true&purpose=核对患者身份"
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            view["raw"].as_str().unwrap().contains("钟^伟明"),
            "{b}: {view}"
        );
        app.state.audit.flush().await;
        assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'hl7_message.read_unmasked' AND outcome = 'success' AND purpose = '核对患者身份'", vec![]).await, 1, "{b}");
        assert!(
            count(
                &app,
                "SELECT COUNT(*) FROM audit_log WHERE action = 'hl7_message.read'",
                vec![]
            )
            .await
                >= 1,
            "{b}"
        );
        // Monitoring: counts, queue depth (now empty), listening state; pages render.
        let mon = get_json(&admin, app.url("/api/v1/integration/monitor")).await;
        let mon = mon
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["channel"]["id"] == ch)
            .unwrap_or_else(|| panic!("{b}: {mon}"));
        assert_eq!(mon["channel"]["listen_state"], "listening", "{b}: {mon}");
        assert_eq!(mon["total"], 4, "{b}: {mon}");
        assert_eq!(mon["queue"], 0, "{b}: {mon}");
        for path in [
            "/integration/monitor",
            "/integration/messages?status=processed",
            "/integration/errors",
            &format!("/integration/messages/{mid}"),
        ] {
            let r = admin.get(app.url(path)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{b}: {path}");
        }
        app.stop().await;
    }
}

/// The monitoring figures come from hourly counters and indexes, not from counting every
/// message; they must still say what counting the messages says: accepted, resent
/// (duplicate), refused at the door and failed in processing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_figures_match_the_stored_messages() {
    use yiyang_store::args;
    for b in backends() {
        let app = TestApp::start(b).await;
        let (id, port) = channel(&app, "ADT^*").await;
        let (admin, csrf) = app.login("admin").await;
        let mut sent = Vec::new();
        for (k, mrn) in ["MRM01", "MRM02", "MRM03"].iter().enumerate() {
            sent.push(adt(
                "A01",
                &format!("MON-{k}"),
                mrn,
                &format!("VM{k}"),
                "内科一病区^301^2",
            ));
        }
        sent.push(sent[0].clone()); // a resend: answered again, stored as duplicate
        sent.push(adt("A01", "MON-8", "", "VM8", "W^1^1")); // no PID-3: AE at the door
        sent.push(adt("A02", "MON-9", "MRM09", "V-NONE", "ICU^1^1")); // fails in processing
        let mut codes = Vec::new();
        for m in &sent {
            let ack = mllp(port, m.as_bytes()).await.unwrap();
            codes.push(msa(&ack)[1].clone());
        }
        assert_eq!(codes, ["AA", "AA", "AA", "AA", "AE", "AE"], "{b}");
        drained(&app).await;
        let mon = get_json(&admin, app.url("/api/v1/integration/monitor")).await;
        let row = mon
            .as_array()
            .unwrap_or_else(|| panic!("{b}: {mon}"))
            .iter()
            .find(|r| r["channel"]["id"] == id)
            .unwrap_or_else(|| panic!("{b}: channel {id} in {mon}"));
        let direct = |sql: &'static str| count(&app, sql, args![id]);
        let total = direct("SELECT COUNT(*) FROM hl7_messages WHERE channel_id = $1").await;
        let failed = direct(
            "SELECT COUNT(*) FROM hl7_messages WHERE channel_id = $1 AND status IN ('error', 'rejected')",
        )
        .await;
        assert_eq!(total, 6, "{b}");
        assert_eq!(failed, 2, "{b}");
        assert_eq!(row["total"], total, "{b}: {row}");
        assert_eq!(row["today"], total, "{b}: {row}");
        assert_eq!(row["queue"], failed, "{b}: {row}");
        assert_eq!(row["errors_today"], failed, "{b}: {row}");
        assert_eq!(row["pending"], 0, "{b}: {row}");
        assert!(row["last_received_at"].as_i64().is_some(), "{b}: {row}");
        // A channel with history can only be disabled; the refusal says how many it received.
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::DELETE,
            app.url(&format!("/api/v1/integration/channels/{id}")),
            json!({}),
        )
        .await;
        assert_eq!(s, 409, "{b}: {out}");
        assert_eq!(out["code"], "integration.channel_in_use", "{b}: {out}");
        assert!(
            out["message"].as_str().unwrap().contains("6 条"),
            "{b}: {out}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_and_appointments_are_kept_current() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (_, port) = channel(&app, "ORM^O01,OML^O21,SIU^*").await;
        let pid = "PID|1||MR7201^^^MZH^MR||李^秀英||19480512|F";
        let orm = |control: &str, ctl: &str| {
            format!(
                "MSH|^~\\&|HIS|MZH|YIYANG|MZ|20261126100000||ORM^O01|{control}|P|2.4\r{pid}\r\
                 ORC|{ctl}|REQ-001||||||||||0301^黄^医生\r\
                 OBR|1|REQ-001||80048^基础代谢组合^L|R"
            )
        };
        let ack = mllp(port, orm("ORD1", "NW").as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        let (status, text, provider): (String, String, String) = app
            .state
            .db
            .fetch_one("SELECT status, service_text, ordering_provider FROM orders WHERE placer_no = 'REQ-001'", vec![])
            .await
            .unwrap();
        assert_eq!(
            (status.as_str(), text.as_str(), provider.as_str()),
            ("active", "基础代谢组合", "黄医生"),
            "{b}"
        );
        let ack = mllp(port, orm("ORD2", "CA").as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM orders WHERE placer_no = 'REQ-001' AND status = 'cancelled'",
                vec![]
            )
            .await,
            1,
            "{b}"
        );
        let siu = |control: &str, trig: &str| {
            format!(
                "MSH|^~\\&|HIS|MZH|YIYANG|MZ|20261126100000||SIU^{trig}|{control}|P|2.5\r\
                 SCH|P-88|APPT-88|||||^复诊||||^^^20261201090000^20261201093000\r{pid}\r\
                 AIS|1||CARD^心内科门诊\r\
                 AIL|1||心内科^诊室3\r\
                 AIP|1||0302^陈^医生"
            )
        };
        let ack = mllp(port, siu("APP1", "S12").as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        let (status, service, location, provider, start): (String, String, String, String, Option<i64>) = app
            .state
            .db
            .fetch_one("SELECT status, service, location, provider, start_at FROM appointments WHERE appt_no = 'APPT-88'", vec![])
            .await
            .unwrap();
        assert_eq!(
            (
                status.as_str(),
                service.as_str(),
                location.as_str(),
                provider.as_str()
            ),
            ("booked", "心内科门诊", "心内科-诊室3", "陈医生"),
            "{b}"
        );
        // 2026-12-01 09:00 CST
        assert_eq!(start, Some(1_796_086_800_000_000), "{b}");
        let ack = mllp(port, siu("APP2", "S15").as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM appointments WHERE appt_no = 'APPT-88' AND status = 'cancelled'", vec![]).await, 1, "{b}");
        // The JSON API: filtered, scoped to the caller's institutions.
        let (hospadmin, _) = app.login("hospadmin").await;
        let get = |c: reqwest::Client, path: &'static str| {
            let url = app.url(path);
            async move {
                c.get(url)
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        };
        let orders = get(hospadmin.clone(), "/api/v1/integration/orders?no=REQ-001").await;
        assert_eq!(orders["total"], 1, "{b}: {orders}");
        assert_eq!(orders["items"][0]["status"], "cancelled", "{b}: {orders}");
        let appts = get(
            hospadmin.clone(),
            "/api/v1/integration/appointments?status=cancelled",
        )
        .await;
        assert_eq!(appts["items"][0]["appt_no"], "APPT-88", "{b}: {appts}");
        let (nh, _) = app.login("nhadmin").await;
        let none = get(nh, "/api/v1/integration/orders").await;
        assert_eq!(
            (
                none["total"].as_i64(),
                none["items"].as_array().map(|a| a.len())
            ),
            (Some(0), Some(0)),
            "{b}: another institution sees none: {none}"
        );
        for path in ["/integration/orders", "/integration/appointments"] {
            let page = hospadmin
                .get(app.url(path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(page.contains("已取消"), "{b}: {path}");
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gb18030_messages_arrive_with_their_chinese_text_intact() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (_, port) = channel(&app, "ADT^A01,ADT^A04").await;
        let text = "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126100000||ADT^A04^ADT_A01|GB0001|P|2.5|||AL|NE||GB 18030-2000\r\
                    PID|1||GB7001^^^MZH^MR||欧阳^秀兰||19460912|F|||梅州市梅江区江南路18号^^梅州市^广东省\r\
                    PV1|1|O|全科门诊||||||||||||||||V-GB7001";
        let bytes = yiyang_hl7v2::encode_message(text).unwrap().into_owned();
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "the wire bytes are GB18030, not UTF-8"
        );
        let ack = mllp(port, &bytes).await.expect("an ACK");
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        let name: (String,) = app
            .state
            .db
            .fetch_one(
                "SELECT p.name FROM persons p JOIN person_identifiers i ON i.person_id = p.id WHERE i.value = 'GB7001'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(name.0, "欧阳秀兰", "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_message_changes_nothing_and_its_replay_applies_it_whole() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (_, port) = channel(&app, "ORU^R01,ADT^*").await;
        // The second OBX's numeric value is garbage: AE at the door, nothing applied.
        let broken = "MSH|^~\\&|LIS|MZ-HOSP-01|YIYANG|MZ|20261126101000||ORU^R01^ORU_R01|HALF01|P|2.5\r\
                      PID|1||MR7301^^^MZH^MR||温^丽华||19561103|F\r\
                      OBR|1|ORD9|LAB9|2823-3^Potassium^LN|||20261126100000\r\
                      OBX|1|NM|2823-3^血钾^LN||6.9|mmol/L|3.5-5.5|HH|||F|||20261126100500\r\
                      OBX|2|NM|2951-2^血钠^LN||abc|mmol/L|137-147||||F|||20261126100500";
        let ack = mllp(port, broken.as_bytes()).await.expect("an ACK");
        assert_eq!(msa(&ack)[1], "AE", "{b}: {ack}");
        // This test's messages' (the demo hospital's day has results of its own).
        let obs = || {
            count(
                &app,
                "SELECT COUNT(*) FROM observations o JOIN hl7_messages m ON o.source LIKE 'hl7:' || CAST(m.id AS TEXT) || ':%' WHERE m.channel_id = (SELECT MAX(id) FROM hl7_channels)",
                vec![],
            )
        };
        let alerts = || {
            count(
                &app,
                "SELECT COUNT(*) FROM critical_alerts a JOIN hl7_messages m ON m.id = a.message_id WHERE m.channel_id = (SELECT MAX(id) FROM hl7_channels)",
                vec![],
            )
        };
        assert_eq!(
            (obs().await, alerts().await),
            (0, 0),
            "{b}: one message is one transaction"
        );
        // A failure only processing can find (a transfer for a visit nobody admitted): AE,
        // and the registration that came before it in the same message is rolled back too.
        let a02 = "MSH|^~\\&|LIS|MZ-HOSP-01|YIYANG|MZ|20261126101000||ADT^A02|HALF02|P|2.5\r\
                   PID|1||MR7302^^^MZH^MR||温^丽芳||19560101|F\r\
                   PV1|1|I|ICU^1^1||||||||||||||||V-NOBODY";
        let ack = mllp(port, a02.as_bytes()).await.expect("an ACK");
        assert_eq!(msa(&ack)[1], "AE", "{b}: {ack}");
        assert!(msa(&ack)[3].contains("V-NOBODY"), "{b}: {ack}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM person_identifiers WHERE value = 'MR7302'",
                vec![]
            )
            .await,
            0,
            "{b}: the registration was rolled back with the message"
        );
        let (admin, csrf) = app.login("admin").await;
        let mid: i64 = app
            .state
            .db
            .scalar(
                "SELECT id FROM hl7_messages WHERE control_id = 'HALF01'",
                vec![],
            )
            .await
            .unwrap();
        let fixed = broken.replace("||abc|", "||140|").replace('\r', "\n");
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            app.url(&format!("/api/v1/integration/messages/{mid}/replay")),
            json!({"raw": fixed}),
        )
        .await;
        assert_eq!(
            (s, out["status"].as_str()),
            (200, Some("processed")),
            "{b}: {out}"
        );
        assert_eq!(
            (obs().await, alerts().await),
            (2, 1),
            "{b}: no duplicate observation or alert"
        );
        app.stop().await;
    }
}

/// Waits until no message of the test database is left `received`.
async fn drained(app: &TestApp) {
    for _ in 0..200 {
        if count(
            app,
            "SELECT COUNT(*) FROM hl7_messages WHERE status = 'received'",
            vec![],
        )
        .await
            == 0
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("messages still waiting for processing after 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_mode_acks_on_store_and_processes_in_order() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for b in backends() {
        let app = TestApp::start(b).await;
        let (id, port) = channel(&app, "ADT^*").await;
        let (admin, csrf) = app.login("admin").await;
        let (s, ch) = send(
            &admin,
            &csrf,
            reqwest::Method::GET,
            app.url(&format!("/api/v1/integration/channels/{id}")),
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{ch}");
        let mut body = ch.clone();
        body["ack_mode"] = json!("commit");
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::PUT,
            app.url(&format!("/api/v1/integration/channels/{id}")),
            body,
        )
        .await;
        assert_eq!(s, 200, "{out}");
        // Wait for the supervisor to restart the listener with the new settings.
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        // Admission, transfer and discharge sent back to back on one connection, without
        // waiting for ACKs (a pipelining sender): three AAs in order, and the encounter
        // ends where the last message left it.
        let msgs = [
            adt("A01", "ORD-1", "MR7401", "V7401", "内科一病区^301^2"),
            adt("A02", "ORD-2", "MR7401", "V7401", "ICU^01^1"),
            adt("A03", "ORD-3", "MR7401", "V7401", "ICU^01^1"),
        ];
        let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut all = Vec::new();
        for m in &msgs {
            all.extend(yiyang_hl7v2::encode_frame(m.as_bytes()));
        }
        sock.write_all(&all).await.unwrap();
        let mut dec = yiyang_hl7v2::MllpDecoder::new(1 << 20);
        let mut acks = Vec::new();
        let mut buf = [0u8; 8192];
        while acks.len() < 3 {
            let n = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read(&mut buf))
                .await
                .expect("ACKs within 10 s")
                .unwrap();
            assert!(n > 0, "{b}: closed early");
            dec.push(&buf[..n]);
            while let Some(f) = dec.next_frame() {
                acks.push(String::from_utf8(f.unwrap()).unwrap());
            }
        }
        for (i, a) in acks.iter().enumerate() {
            assert_eq!(msa(a)[1], "AA", "{b}: {a}");
            assert_eq!(msa(a)[2], format!("ORD-{}", i + 1), "{b}: in order");
        }
        drained(&app).await;
        let (status, location): (String, String) = app
            .state
            .db
            .fetch_one(
                "SELECT status, location FROM encounters WHERE source_id = 'V7401'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            (status.as_str(), location.as_str()),
            ("finished", "ICU-01-1"),
            "{b}"
        );
        // What only processing can find out goes to the error queue after the AA.
        let ack = mllp(
            port,
            adt("A02", "ORD-4", "MR7402", "V-NONE", "ICU^1^1").as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        drained(&app).await;
        let (status, error): (String, String) = app
            .state
            .db
            .fetch_one(
                "SELECT status, error FROM hl7_messages WHERE control_id = 'ORD-4'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(status, "error", "{b}");
        assert!(error.contains("V-NONE"), "{b}: {error}");
        // What can be checked at the door is answered AE at once (no PID-3 identifier).
        let bad = adt("A01", "ORD-5", "", "V7403", "W^1^1");
        let ack = mllp(port, bad.as_bytes()).await.unwrap();
        assert_eq!(msa(&ack)[1], "AE", "{b}: {ack}");
        assert!(msa(&ack)[3].contains("PID-3"), "{b}: {ack}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM hl7_messages WHERE control_id = 'ORD-5' AND status = 'error'",
                vec![]
            )
            .await,
            1,
            "{b}"
        );
        // A resend of a message in the error queue is answered with its AE, not processed.
        let again = mllp(port, bad.as_bytes()).await.unwrap();
        assert_eq!(again, ack, "{b}");
        app.stop().await;
    }
}

/// Six pipelining senders at once: the writer stores them in large batches (a flood:
/// the PostgreSQL lanes then take turns). Every message is ACKed AA in order, processed
/// once, and each patient's admission, transfer and discharge apply in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_pipelined_senders_is_stored_acked_and_processed_in_order() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Below the channel's limit of 8 connections, which the listener probe of
    // `channel_with` may still hold for a moment.
    const CONNS: usize = 6;
    const PATIENTS: usize = 20;
    for b in backends() {
        let app = TestApp::start(b).await;
        let (_, port) = channel_with(&app, "ADT^*", "commit").await;
        let mut senders = Vec::new();
        for c in 0..CONNS {
            senders.push(tokio::spawn(async move {
                let mut all = Vec::new();
                let mut controls = Vec::new();
                for p in 0..PATIENTS {
                    let (mrn, visit) = (format!("MRF{c}{p:02}"), format!("VF{c}{p:02}"));
                    for (k, (trigger, loc)) in [
                        ("A01", "内科一病区^301^2"),
                        ("A02", "ICU^01^1"),
                        ("A03", "ICU^01^1"),
                    ]
                    .iter()
                    .enumerate()
                    {
                        let control = format!("FL-{c}-{p}-{k}");
                        all.extend(yiyang_hl7v2::encode_frame(
                            adt(trigger, &control, &mrn, &visit, loc).as_bytes(),
                        ));
                        controls.push(control);
                    }
                }
                let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap();
                let (mut rd, mut wr) = sock.split();
                let write = async {
                    wr.write_all(&all).await.unwrap();
                };
                let read = async {
                    let mut dec = yiyang_hl7v2::MllpDecoder::new(1 << 20);
                    let mut acks = Vec::new();
                    let mut buf = vec![0u8; 65536];
                    while acks.len() < controls.len() {
                        let n = tokio::time::timeout(
                            std::time::Duration::from_secs(30),
                            rd.read(&mut buf),
                        )
                        .await
                        .expect("ACKs within 30 s")
                        .unwrap();
                        assert!(n > 0, "closed early after {} ACKs", acks.len());
                        dec.push(&buf[..n]);
                        while let Some(f) = dec.next_frame() {
                            acks.push(String::from_utf8(f.unwrap()).unwrap());
                        }
                    }
                    acks
                };
                let ((), acks) = tokio::join!(write, read);
                (controls, acks)
            }));
        }
        for s in senders {
            let (controls, acks) = s.await.unwrap();
            for (control, ack) in controls.iter().zip(&acks) {
                assert_eq!(msa(ack)[1], "AA", "{b}: {ack}");
                assert_eq!(&msa(ack)[2], control, "{b}: ACKs in order");
            }
        }
        drained(&app).await;
        let n = (CONNS * PATIENTS) as i64;
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM hl7_messages WHERE control_id LIKE 'FL-%' AND status = 'processed' AND attempts = 1",
                vec![]
            )
            .await,
            3 * n,
            "{b}: every message processed once"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM encounters WHERE source_id LIKE 'VF%' AND status = 'finished' AND location = 'ICU-01-1'",
                vec![]
            )
            .await,
            n,
            "{b}: each admission transferred and discharged in order"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processed_messages_publish_their_events_to_subscriptions() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (_, port) = channel(&app, "ADT^*,ORU^R01").await;
        let (admin, csrf) = app.login("admin").await;
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            app.url("/api/v1/integration/subscriptions"),
            json!({"org_id": hosp, "name": "区域平台", "kind": "webhook", "url": "http://127.0.0.1:9/hook",
                   "secret": "a-long-enough-secret-1234", "events": ["encounter.admitted", "encounter.discharged", "critical.raised"]}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        let events = |kind: &'static str| {
            count(
                &app,
                "SELECT COUNT(*) FROM integration_deliveries WHERE event = $1",
                yiyang_store::args![kind],
            )
        };
        let ack = mllp(
            port,
            adt("A01", "EV-1", "MR7501", "V7501", "W^1^1").as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        let ack = mllp(port, oru("EV-2", "MR7501", "6.9", "HH").as_bytes())
            .await
            .unwrap();
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        assert_eq!(events("encounter.admitted").await, 1, "{b}");
        assert_eq!(events("critical.raised").await, 1, "{b}");
        // Not chosen by the subscription: nothing queued.
        assert_eq!(events("patient.registered").await, 0, "{b}");
        // A message that fails publishes nothing (its events roll back with it).
        let ack = mllp(
            port,
            adt("A03", "EV-3", "MR7501", "V-NOBODY", "W^1^1").as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(msa(&ack)[1], "AE", "{b}: {ack}");
        assert_eq!(events("encounter.discharged").await, 0, "{b}");
        let payload: (String,) = app
            .state
            .db
            .fetch_one(
                "SELECT payload FROM integration_deliveries WHERE event = 'encounter.admitted'",
                vec![],
            )
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&payload.0).unwrap();
        assert_eq!(v["data"]["visit_number"], "V7501", "{b}: {v}");
        app.stop().await;
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
fn tls_files(dir: &std::path::Path) -> (rcgen::Certificate, rcgen::KeyPair) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = p.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    (ca, ca_key)
}

async fn tls_send(
    port: u16,
    ca: &rcgen::Certificate,
    client: Option<(&rcgen::Certificate, &rcgen::KeyPair)>,
    payload: &[u8],
) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::{self, pki_types};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let cfg = match client {
        Some((cert, key)) => b
            .with_client_auth_cert(
                vec![cert.der().clone()],
                pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    let conn = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let name = pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut s = conn.connect(name, tcp).await.ok()?;
    s.write_all(&yiyang_hl7v2::encode_frame(payload))
        .await
        .ok()?;
    let mut dec = yiyang_hl7v2::MllpDecoder::new(1 << 20);
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        dec.push(&buf[..n]);
        if let Some(f) = dec.next_frame() {
            return Some(String::from_utf8(f.unwrap()).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_speak_tls_and_mutual_tls() {
    let dir = std::env::temp_dir().join(format!("yy-mllp-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, ca_key) = tls_files(&dir);
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(vec!["his.mz-hosp-01".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca, &ca_key)
        .unwrap();
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    for b in backends() {
        let app = TestApp::start(b).await;
        let (id, port) = channel(&app, "ADT^*").await;
        let (admin, csrf) = app.login("admin").await;
        let url = app.url(&format!("/api/v1/integration/channels/{id}"));
        let (_, ch) = send(&admin, &csrf, reqwest::Method::GET, url.clone(), json!({})).await;
        // A missing file is a field error, and nothing changes.
        let mut body = ch.clone();
        body["tls_mode"] = json!("tls");
        body["tls_cert"] = json!("/nonexistent/server.pem");
        body["tls_key"] = json!(path("server.key"));
        let (s, out) = send(&admin, &csrf, reqwest::Method::PUT, url.clone(), body).await;
        assert_eq!(s, 400, "{b}: {out}");
        assert_eq!(out["details"]["field"], "tls_cert", "{b}: {out}");
        // Mutual TLS: the server certificate, and client certificates from our CA.
        let mut body = ch.clone();
        body["tls_mode"] = json!("mtls");
        body["tls_cert"] = json!(path("server.pem"));
        body["tls_key"] = json!(path("server.key"));
        body["tls_client_ca"] = json!(path("ca.pem"));
        let (s, out) = send(&admin, &csrf, reqwest::Method::PUT, url.clone(), body).await;
        assert_eq!(s, 200, "{b}: {out}");
        let a01 = adt("A01", "TLS-1", "MR7601", "V7601", "W^1^1");
        let mut ack = None;
        for _ in 0..30 {
            ack = tls_send(port, &ca, Some((&client, &client_key)), a01.as_bytes()).await;
            if ack.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let ack = ack.expect("an ACK over mutual TLS");
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        // Without a client certificate, or in plain TCP: no ACK, nothing stored.
        let a01b = adt("A01", "TLS-2", "MR7602", "V7602", "W^1^1");
        assert_eq!(
            tls_send(port, &ca, None, a01b.as_bytes()).await,
            None,
            "{b}"
        );
        {
            // Plain MLLP to a TLS port: a TLS alert or a close, never an ACK.
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            s.write_all(&yiyang_hl7v2::encode_frame(a01b.as_bytes()))
                .await
                .unwrap();
            let mut got = Vec::new();
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut got))
                    .await;
            assert!(!String::from_utf8_lossy(&got).contains("MSA"), "{b}");
        }
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM hl7_messages WHERE control_id = 'TLS-2'",
                vec![]
            )
            .await,
            0,
            "{b}"
        );
        app.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_over_mllp_are_answered_with_a_batch_of_acks() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (_, port) = channel(&app, "ADT^*").await;
        let batch = format!(
            "FHS|^~\\&|HIS|MZ-HOSP-01\rBHS|^~\\&|HIS|MZ-HOSP-01|||20261126100000||||B-1\r{}\r{}\rBTS|2\rFTS|1",
            adt("A04", "BAT-1", "MR7701", "", ""),
            adt("A04", "BAT-2", "MR7702", "", "")
        );
        let ack = mllp(port, batch.as_bytes()).await.expect("an answer");
        let segs: Vec<&str> = ack.split('\r').filter(|s| !s.is_empty()).collect();
        assert!(segs[0].starts_with("BHS|"), "{b}: {ack}");
        assert!(segs[0].ends_with("|B-1"), "{b}: {ack}");
        let msas: Vec<&&str> = segs.iter().filter(|s| s.starts_with("MSA")).collect();
        assert_eq!(msas.len(), 2, "{b}: {ack}");
        assert!(msas[0].starts_with("MSA|AA|BAT-1"), "{b}: {ack}");
        assert!(msas[1].starts_with("MSA|AA|BAT-2"), "{b}: {ack}");
        assert_eq!(segs.last().copied(), Some("BTS|2"), "{b}: {ack}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM person_identifiers WHERE value IN ('MR7701', 'MR7702')",
                vec![]
            )
            .await,
            2,
            "{b}"
        );
        // A GB18030 batch (MSH-18 of each message): stored and processed with its Chinese
        // text intact, answered with ACKs in the same character set.
        let gb = |control: &str, mrn: &str, family: &str, given: &str| {
            format!(
                "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126100000||ADT^A04^ADT_A01|{control}|P|2.5|||AL|NE||GB 18030-2000\r\
                 PID|1||{mrn}^^^MZH^MR||{family}^{given}||19460912|F|||梅州市梅江区江南路18号^^梅州市^广东省\r\
                 PV1|1|O|全科门诊"
            )
        };
        let mut wire =
            b"FHS|^~\\&|HIS|MZ-HOSP-01\rBHS|^~\\&|HIS|MZ-HOSP-01|||20261126100000||||B-GB\r"
                .to_vec();
        for (c, m, f, g) in [
            ("BGB-1", "GB7711", "欧阳", "秀兰"),
            ("BGB-2", "GB7712", "司马", "晓燕"),
        ] {
            wire.extend_from_slice(&yiyang_hl7v2::encode_message(&gb(c, m, f, g)).unwrap());
            wire.push(b'\r');
        }
        wire.extend_from_slice(b"BTS|2\rFTS|1");
        assert!(
            std::str::from_utf8(&wire).is_err(),
            "{b}: GB18030 on the wire"
        );
        let raw = mllp_raw(port, &wire)
            .await
            .unwrap_or_else(|| panic!("{b}: closed without an answer"));
        let answer: String = raw
            .split(|c| *c == b'\r')
            .filter(|s| s.starts_with(b"MSH"))
            .map(|m| yiyang_hl7v2::decode_message(m).unwrap().into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(answer.contains("GB 18030"), "{b}: {answer}");
        let ack_text = String::from_utf8_lossy(&raw);
        assert!(
            ack_text.contains("MSA|AA|BGB-1") && ack_text.contains("MSA|AA|BGB-2"),
            "{b}: {ack_text}"
        );
        drained(&app).await;
        let names: Vec<(String,)> = app
            .state
            .db
            .fetch_all(
                "SELECT p.name FROM persons p JOIN person_identifiers i ON i.person_id = p.id WHERE i.value IN ('GB7711', 'GB7712') ORDER BY i.value",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            names.into_iter().map(|n| n.0).collect::<Vec<_>>(),
            ["欧阳秀兰", "司马晓燕"],
            "{b}"
        );
        // A batch that does not parse: the connection is closed, nothing stored.
        let ack = mllp(port, b"BHS|^~\\&|HIS\rMSH|bad").await;
        assert_eq!(ack, None, "{b}");
        app.stop().await;
    }
}

/// Mutation fuzzing through the real listener: random byte flips, insertions and cuts of
/// valid messages get an ACK (AA/AE/AR) or a clean close, never a hang or a crash, and
/// every message that got an ACK is in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_messages_get_an_ack_or_a_clean_close_and_nothing_acked_is_lost() {
    let mut seed: u64 = 0x5eed_1234_abcd_0042;
    let mut rnd = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let alphabet = b"|^~\\&\r\nMSHPIDOBX0123456789AZaz \x0b\x1c\xe4\xb8\xad";
    for b in backends() {
        let app = TestApp::start(b).await;
        let (_, port) = channel(&app, "ADT^*,ORU^R01").await;
        let bases = [
            adt("A01", "FZ", "MR7801", "V7801", "W^1^1"),
            oru("FZ", "MR7801", "6.1", "H"),
        ];
        let mut acked = Vec::new();
        for i in 0..120 {
            let control = format!("FZ-{i}");
            let mut m = bases[i % 2]
                .replacen("|FZ|", &format!("|{control}|"), 1)
                .into_bytes();
            for _ in 0..1 + rnd(4) {
                let at = rnd(m.len());
                match rnd(3) {
                    0 => m[at] = alphabet[rnd(alphabet.len())],
                    1 => m.insert(at, alphabet[rnd(alphabet.len())]),
                    _ => m.truncate(at.max(1)),
                }
            }
            if let Some(ack) = mllp(port, &m).await {
                let code = msa(&ack).get(1).cloned().unwrap_or_default();
                assert!(
                    ["AA", "AE", "AR"].contains(&code.as_str()),
                    "{b}: {i}: {ack}"
                );
                acked.push(ack);
            }
        }
        // Every ACK names a stored message (its own control id, or the one it could read).
        let stored = count(&app, "SELECT COUNT(*) FROM hl7_messages", vec![]).await;
        assert!(
            stored as usize >= acked.len(),
            "{b}: {stored} < {}",
            acked.len()
        );
        // Still serving.
        let ack = mllp(port, adt("A04", "FZ-END", "MR7802", "", "").as_bytes())
            .await
            .expect("still serving");
        assert_eq!(msa(&ack)[1], "AA", "{b}: {ack}");
        app.stop().await;
    }
}

/// An admission with the patient's demographics spelled out.
struct Pat<'a> {
    mrn: &'a str,
    family: &'a str,
    given: &'a str,
    birth: &'a str,
    sex: &'a str,
    id_number: String,
    phone: &'a str,
}

fn adt_for(
    trigger: &str,
    control: &str,
    p: &Pat<'_>,
    class: &str,
    visit: &str,
    loc: &str,
) -> String {
    format!(
        "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126093000||ADT^{trigger}^ADT_A01|{control}|P|2.5|||AL|NE||UNICODE UTF-8\r\
         EVN|{trigger}|20261126093000\r\
         PID|1||{mrn}^^^MZH^MR~{idn}^^^CHN^ID||{fam}^{given}||{birth}|{sex}|||江南路8号^^梅州市^广东省||{phone}\r\
         PV1|1|{class}|{loc}|||||||MED|||||||||{visit}|||||||||||||||||||||||||20261126090000",
        mrn = p.mrn,
        idn = p.id_number,
        fam = p.family,
        given = p.given,
        birth = p.birth,
        sex = p.sex,
        phone = p.phone,
    )
}

/// What processing left behind, with database ids replaced by the patients' record numbers
/// (so two databases compare even when their ids differ).
async fn fingerprint(app: &TestApp) -> Vec<String> {
    use std::collections::BTreeMap;
    let db = &app.state.db;
    let ids: Vec<(i64, String)> = db
        .fetch_all(
            "SELECT person_id, value FROM person_identifiers WHERE value LIKE 'RUN-%' ORDER BY value",
            vec![],
        )
        .await
        .unwrap();
    let mut label: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (p, v) in &ids {
        label.entry(*p).or_default().push(v.clone());
    }
    let name = |p: i64| {
        label
            .get(&p)
            .map(|v| v.join("+"))
            .unwrap_or(format!("?{p}"))
    };
    let mut out = Vec::new();
    for p in label.keys() {
        let (n, sex, birth, status): (String, String, Option<String>, String) = db
            .fetch_one(
                "SELECT name, sex, birth_date, status FROM persons WHERE id = $1",
                yiyang_store::args![*p],
            )
            .await
            .unwrap();
        out.push(format!("person {} {n} {sex} {birth:?} {status}", name(*p)));
        let events: Vec<(String,)> = db
            .fetch_all(
                "SELECT kind FROM mpi_events WHERE person_id = $1 ORDER BY id",
                yiyang_store::args![*p],
            )
            .await
            .unwrap();
        out.push(format!("events {} {events:?}", name(*p)));
        let reviews = db
            .scalar(
                "SELECT COUNT(*) FROM mpi_reviews WHERE person_id = $1",
                yiyang_store::args![*p],
            )
            .await
            .unwrap();
        out.push(format!("reviews {} {reviews}", name(*p)));
        let encs: Vec<(String, String, String, String)> = db
            .fetch_all(
                "SELECT source_id, kind, status, location FROM encounters WHERE person_id = $1 ORDER BY source_id",
                yiyang_store::args![*p],
            )
            .await
            .unwrap();
        out.push(format!("encounters {} {encs:?}", name(*p)));
    }
    let msgs: Vec<(String, String, String, String)> = db
        .fetch_all(
            "SELECT m.control_id, m.status, m.error, e.detail FROM hl7_messages m JOIN hl7_message_events e ON e.message_id = m.id \
             WHERE m.control_id LIKE 'RUN-%' AND e.kind IN ('processed', 'error') ORDER BY m.control_id",
            vec![],
        )
        .await
        .unwrap();
    let digits = |s: &str| -> String {
        let mut o = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                if !o.ends_with('#') {
                    o.push('#');
                }
            } else {
                o.push(c);
            }
        }
        o
    };
    for (c, s, e, d) in msgs {
        out.push(format!("message {c} {s} {e} {}", digits(&d)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_admissions_gives_what_one_by_one_processing_gives() {
    use yiyang_integration::{channels, engine, pipeline};
    let birth = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y%m%d").unwrap();
    let zhong = Pat {
        mrn: "RUN-1",
        family: "钟",
        given: "伟明",
        birth: "19520308",
        sex: "M",
        id_number: yiyang_core::idnumber::compose("441402", birth("19520308"), 31),
        phone: "13902345678",
    };
    // The same man registered again under another record number (a duplicate to link).
    let zhong_again = Pat {
        mrn: "RUN-2",
        ..pat_clone(&zhong)
    };
    let li = Pat {
        mrn: "RUN-3",
        family: "李",
        given: "秀英",
        birth: "19480612",
        sex: "F",
        id_number: yiyang_core::idnumber::compose("441421", birth("19480612"), 42),
        phone: "13712340001",
    };
    let huang = Pat {
        mrn: "RUN-4",
        family: "黄",
        given: "志强",
        birth: "19600101",
        sex: "M",
        id_number: yiyang_core::idnumber::compose("441422", birth("19600101"), 17),
        phone: "13800001111",
    };
    // A namesake born the next year: another person (different ID number and phone).
    let namesake = Pat {
        mrn: "RUN-5",
        birth: "19530308",
        id_number: yiyang_core::idnumber::compose("441481", birth("19530308"), 55),
        phone: "13600002222",
        ..pat_clone(&zhong)
    };
    let broken = Pat {
        mrn: "RUN-6",
        birth: "19521340",
        ..pat_clone(&huang)
    };
    let out = Pat {
        mrn: "RUN-7",
        family: "陈",
        given: "美玲",
        birth: "19700202",
        sex: "F",
        id_number: yiyang_core::idnumber::compose("441402", birth("19700202"), 66),
        phone: "13500003333",
    };
    let msgs = vec![
        adt_for("A01", "RUN-01", &zhong, "I", "RV1", "内科^1^1"),
        adt_for("A04", "RUN-02", &zhong_again, "O", "", ""),
        adt_for("A01", "RUN-03", &zhong, "I", "RV2", "内科^1^2"),
        adt_for("A01", "RUN-04", &li, "I", "RV1", "外科^2^1"),
        adt_for("A02", "RUN-05", &zhong, "I", "RV2", "ICU^1^1"),
        adt_for("A01", "RUN-06", &huang, "I", "RV3", "内科^3^1"),
        adt_for("A04", "RUN-07", &huang, "O", "", ""),
        adt_for("A01", "RUN-08", &namesake, "I", "RV4", "内科^4^1"),
        adt_for("A01", "RUN-09", &broken, "I", "RV5", "内科^5^1"),
        adt_for("A04", "RUN-10", &out, "O", "RV6", "门诊^1"),
        adt_for("A01", "RUN-11", &out, "I", "RV7", "妇科^1^1"),
    ];
    for b in backends() {
        let mut prints = Vec::new();
        for together in [true, false] {
            let app = TestApp::start(b).await;
            let hosp = app.org_id("MZ-HOSP-01").await;
            let (admin, csrf) = app.login("admin").await;
            let (s, ch) = send(
                &admin,
                &csrf,
                reqwest::Method::POST,
                app.url("/api/v1/integration/channels"),
                json!({"org_id": hosp, "name": "HIS-RUN", "port": free_port(), "message_types": "ADT^*", "allowed_apps": "HIS", "enabled": false}),
            )
            .await;
            assert_eq!(s, 200, "{ch}");
            let ch = channels::load(&app.state.db, ch["id"].as_i64().unwrap())
                .await
                .unwrap()
                .unwrap();
            let now = app.state.clock.now_micros();
            let rows: Vec<engine::NewMessage> = msgs
                .iter()
                .map(|m| {
                    let mut r = engine::prepare(&ch, m.as_bytes(), now).expect("prepared");
                    // Stored as a sender would have them stored; the door's checks are
                    // not what this test is about.
                    r.status = "received";
                    r.error.clear();
                    r.ack = None;
                    r
                })
                .collect();
            let lane = pipeline::Lane { index: 0, of: 1 };
            let drain = async || {
                while pipeline::process_pending(&app.state, lane, None, None)
                    .await
                    .unwrap()
                    > 0
                {}
            };
            if together {
                let refs: Vec<&engine::NewMessage> = rows.iter().collect();
                engine::store(&app.state.db, &refs).await.unwrap();
                drain().await;
            } else {
                for r in &rows {
                    engine::store(&app.state.db, &[r]).await.unwrap();
                    drain().await;
                }
            }
            prints.push(fingerprint(&app).await);
            app.stop().await;
        }
        let (together, alone) = (&prints[0], &prints[1]);
        assert_eq!(
            together, alone,
            "{b}: runs differ from one-by-one processing"
        );
        let text = together.join("\n");
        // The duplicate registration joined the first record (within the same run).
        assert!(text.contains("person RUN-1+RUN-2 钟伟明"), "{b}:\n{text}");
        assert!(text.contains("person RUN-5 钟伟明"), "{b}:\n{text}");
        assert!(
            text.contains("RUN-04 processed  患者 # 已登记，就诊 RV# 已存在"),
            "{b}:\n{text}"
        );
        assert!(text.contains("RUN-09 error"), "{b}:\n{text}");
        assert!(
            text.contains("\"RV2\", \"inpatient\", \"in-progress\", \"ICU-1-1\""),
            "{b}:\n{text}"
        );
        assert!(text.contains("person RUN-7 陈美玲"), "{b}:\n{text}");
    }
}

fn pat_clone<'a>(p: &Pat<'a>) -> Pat<'a> {
    Pat {
        mrn: p.mrn,
        family: p.family,
        given: p.given,
        birth: p.birth,
        sex: p.sex,
        id_number: p.id_number.clone(),
        phone: p.phone,
    }
}

/// A sender that fixes a rejected message and resends it under the same MSH-10 gets the
/// fix applied; only a byte-identical resend is a duplicate; a changed message under the
/// control id of an applied one waits for a person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_resend_under_the_same_control_id_is_processed_not_answered_with_the_old_ack() {
    use yiyang_store::args;
    for b in backends() {
        let app = TestApp::start(b).await;
        let (_, port) = channel(&app, "ADT^A01").await;
        let broken = "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126093000||ADT^A01^ADT_A01|FIX001|P|2.5\r\
             PID|1||MR9901^^^MZH^MR||||19520308|M\r\
             PV1|1|I|内科一病区^301^2||||||||||||||||V9901";
        let first = msa(&mllp(port, broken.as_bytes()).await.unwrap());
        assert_eq!(first[1], "AE", "{b}: {first:?}");
        // The same bytes again: a duplicate, answered with the same AE.
        let again = msa(&mllp(port, broken.as_bytes()).await.unwrap());
        assert_eq!(again[1], "AE", "{b}");
        // Fixed (a name added), same control id: processed.
        let fixed = broken.replace("MR9901^^^MZH^MR||||", "MR9901^^^MZH^MR||钟^伟强||");
        let ack = msa(&mllp(port, fixed.as_bytes()).await.unwrap());
        assert_eq!(ack[1], "AA", "{b}: {ack:?}");
        let persons = count(
            &app,
            "SELECT COUNT(*) FROM persons WHERE name = $1",
            args!["钟伟强"],
        )
        .await;
        assert_eq!(persons, 1, "{b}: the fix applied");
        let superseded = count(&app, "SELECT COUNT(*) FROM hl7_messages WHERE control_id = 'FIX001' AND status = 'superseded'", vec![]).await;
        assert_eq!(
            superseded, 1,
            "{b}: the failed original left the error queue"
        );
        // A different message reusing the applied control id: not applied, left for a person.
        let other = fixed
            .replace("钟^伟强", "李^四")
            .replace("MR9901", "MR9902");
        let ack = msa(&mllp(port, other.as_bytes()).await.unwrap());
        assert_eq!(ack[1], "AE", "{b}: {ack:?}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM persons WHERE name = $1",
                args!["李四"]
            )
            .await,
            0
        );
        let waiting = count(
            &app,
            "SELECT COUNT(*) FROM hl7_messages WHERE control_id = 'FIX001' AND status = 'error'",
            vec![],
        )
        .await;
        assert_eq!(waiting, 1, "{b}: the conflict waits in the error queue");
        // And the applied message resent byte for byte is still a plain duplicate with its AA.
        let dup = msa(&mllp(port, fixed.as_bytes()).await.unwrap());
        assert_eq!(dup[1], "AA", "{b}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM persons WHERE name = $1",
                args!["钟伟强"]
            )
            .await,
            1
        );
        app.stop().await;
    }
}

/// A critical value reaches the attending doctor and the ward's nurses at once, escalates to
/// the administrators when nobody acknowledges it, and the list says who, where and what.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_values_reach_the_doctor_and_ward_nurses_and_escalate_unacknowledged() {
    use yiyang_store::args;
    for b in backends() {
        let app = TestApp::start(b).await;
        let (_, port) = channel(&app, "ADT^A01,ORU^R01").await;
        let adt = "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126093000||ADT^A01^ADT_A01|CRIT01|P|2.5\r\
             PID|1||MR8801^^^MZH^MR||邱^德明||19450308|M\r\
             PV1|1|I|NEI^305^1||||DOC1^曾^国华||||||||||||V8801";
        assert_eq!(msa(&mllp(port, adt.as_bytes()).await.unwrap())[1], "AA");
        let oru = |control: &str, mrn: &str| {
            format!(
                "MSH|^~\\&|LIS|MZ-HOSP-01|YIYANG|MZ|20261126094500||ORU^R01^ORU_R01|{control}|P|2.5\r\
             PID|1||{mrn}^^^MZH^MR||邱^德明||19450308|M\r\
             PV1|1|I|NEI^305^1||||||||||||||||V8801\r\
             OBR|1|ORD1|LAB1|2823-3^Potassium^LN|||20261126093000\r\
             OBX|1|NM|2823-3^血钾^LN||6.9|mmol/L|3.5-5.5|HH|||F|||20261126094000"
            )
        };
        assert_eq!(
            msa(&mllp(port, oru("CRIT02", "MR8801").as_bytes())
                .await
                .unwrap())[1],
            "AA"
        );
        let worker = yiyang::app::worker(&app.state, "t".into());
        let run = || async {
            worker
                .run_due(&yiyang_platform::jobs::JobStats::default())
                .await
                .unwrap()
        };
        run().await;
        let told = |login: &'static str| {
            let app = &app;
            async move {
                count(app, "SELECT COUNT(*) FROM inbox i JOIN accounts a ON a.id = i.account_id WHERE a.login = $1 AND i.title LIKE '%危急值提醒：邱%'", args![login]).await
            }
        };
        assert_eq!(
            (
                told("doctor").await,
                told("nurse").await,
                told("hospadmin").await
            ),
            (1, 1, 0),
            "{b}: doctor and ward nurse at once"
        );
        // The list names the patient, ward, bed and the value against its range.
        let (nurse, n_csrf) = app.login("nurse").await;
        // This patient's (the demo hospital's day has critical values of its own).
        let alerts = get_items(&nurse, app.url("/api/v1/integration/alerts?status=open")).await;
        let al = alerts
            .iter()
            .find(|a| a["person_name"].as_str().unwrap().starts_with('邱'))
            .unwrap_or_else(|| panic!("{b}: {alerts:?}"));
        app.state.audit.flush().await;
        let audited = count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'integration.alerts_read' AND actor_login = 'nurse'",
            vec![],
        )
        .await;
        assert!(audited >= 1, "{b}: reading the alert list is audited");
        assert_eq!(
            (
                al["ward"].as_str(),
                al["bed"].as_str(),
                al["ref_range"].as_str(),
                al["unit"].as_str()
            ),
            (Some("NEI"), Some("305-1"), Some("3.5-5.5"), Some("mmol/L")),
            "{b}: {al}"
        );
        assert!(
            al["person_name"].as_str().unwrap().starts_with('邱'),
            "{al}"
        );
        assert!(
            al["notified"].as_str().unwrap().contains("曾国华")
                && al["notified"].as_str().unwrap().contains("李秀梅"),
            "{al}"
        );
        let page = nurse
            .get(app.url("/integration/alerts"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("危急偏高") && page.contains("305-1") && page.contains("3.5-5.5"),
            "{b}"
        );
        // Ten minutes without acknowledgement: the administrators are told.
        app.clock.advance(chrono::Duration::minutes(11));
        run().await;
        run().await;
        assert_eq!(told("hospadmin").await, 1, "{b}: escalated");
        let open = get_items(&nurse, app.url("/api/v1/integration/alerts?status=open")).await;
        let al = open
            .iter()
            .find(|a| a["person_name"].as_str().unwrap().starts_with('邱'))
            .unwrap_or_else(|| panic!("{b}: {open:?}"));
        assert_eq!(al["level"], 1, "{b}");
        // An acknowledged alert does not escalate.
        assert_eq!(
            msa(&mllp(port, oru("CRIT03", "MR8801").as_bytes())
                .await
                .unwrap())[1],
            "AA"
        );
        run().await;
        let open = get_items(&nurse, app.url("/api/v1/integration/alerts?status=open")).await;
        let newest = open
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .max()
            .unwrap();
        let (s, out) = common::post(
            &nurse,
            &n_csrf,
            app.url(&format!("/api/v1/integration/alerts/{newest}/ack")),
            json!({"note": "已通知医生复查"}),
        )
        .await;
        assert_eq!(s, 200, "{out}");
        app.clock.advance(chrono::Duration::minutes(11));
        run().await;
        assert_eq!(
            told("hospadmin").await,
            1,
            "{b}: no escalation after acknowledgement"
        );
        // An institution's own rule: everyone in the ward's department is replaced by the rule's targets.
        let (hospadmin, h_csrf) = app.login("hospadmin").await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (s, out) = common::post(
            &hospadmin,
            &h_csrf,
            app.url("/api/v1/integration/critical-routes"),
            json!({"org_id": hosp, "step": 0, "targets": ["role:org_admin"]}),
        )
        .await;
        assert_eq!(s, 200, "{out}");
        let (s, out) = common::post(
            &hospadmin,
            &h_csrf,
            app.url("/api/v1/integration/critical-routes"),
            json!({"org_id": hosp, "step": 1, "delay_minutes": 0, "targets": ["nobody"]}),
        )
        .await;
        assert_eq!(s, 400, "{out}");
        assert_eq!(
            out["details"]["fields"].as_array().unwrap().len(),
            2,
            "{out}"
        );
        assert_eq!(
            msa(&mllp(port, oru("CRIT04", "MR8801").as_bytes())
                .await
                .unwrap())[1],
            "AA"
        );
        run().await;
        assert_eq!(told("hospadmin").await, 2, "{b}: the rule's target");
        assert_eq!(
            told("doctor").await,
            2,
            "{b}: the doctor only for the alerts routed by default"
        );
        app.stop().await;
    }
}
