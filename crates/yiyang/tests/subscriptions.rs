//! Outbound subscriptions (发布订阅) on SQLite and (when configured) PostgreSQL: webhook and
//! MLLP receivers started inside the tests, signatures, backoff on the app's clock, the
//! dead-letter queue and its retries, order per subscription, two nodes sharing the queue,
//! institution scope and input validation.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{TestApp, backends, get_items, get_json, items, send};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use yiyang_integration::outbound::{self, Event};
use yiyang_store::args;

// ---------------------------------------------------------------- receivers

#[derive(Debug, Clone)]
struct Got {
    event: String,
    delivery: String,
    signature: String,
    content_type: String,
    body: String,
}

/// A webhook receiver answering with the status in `status`.
#[derive(Clone, Default)]
struct Hook {
    got: Arc<Mutex<Vec<Got>>>,
    status: Arc<AtomicU16>,
}

impl Hook {
    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

async fn hook_handler(State(h): State<Hook>, headers: HeaderMap, body: String) -> StatusCode {
    let hv = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    h.got.lock().unwrap().push(Got {
        event: hv("x-yiyang-event"),
        delivery: hv("x-yiyang-delivery"),
        signature: hv("x-yiyang-signature"),
        content_type: hv("content-type"),
        body,
    });
    StatusCode::from_u16(h.status.load(Ordering::SeqCst)).unwrap()
}

async fn hook_server(status: u16) -> (String, Hook) {
    let hook = Hook::default();
    hook.answer(status);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook_handler))
        .with_state(hook.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, hook)
}

/// An MLLP receiver: records each payload and answers `AA`, `AE`, or nothing (`silent`).
#[derive(Clone)]
struct Mllp {
    got: Arc<Mutex<Vec<String>>>,
    reply: Arc<Mutex<&'static str>>,
}

impl Mllp {
    fn got(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
    fn answer(&self, code: &'static str) {
        *self.reply.lock().unwrap() = code;
    }
}

async fn mllp_server(reply: &'static str) -> (u16, Mllp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let m = Mllp {
        got: Arc::default(),
        reply: Arc::new(Mutex::new(reply)),
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let srv = m.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let m = srv.clone();
            tokio::spawn(async move {
                let mut dec = yiyang_hl7v2::MllpDecoder::new(1 << 20);
                let mut buf = [0u8; 4096];
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    dec.push(&buf[..n]);
                    while let Some(Ok(frame)) = dec.next_frame() {
                        let text = String::from_utf8(frame).unwrap();
                        let control = text.split('\r').next().unwrap().split('|').nth(9);
                        let control = control.unwrap_or("").to_string();
                        m.got.lock().unwrap().push(text);
                        let code = *m.reply.lock().unwrap();
                        if code == "silent" {
                            continue;
                        }
                        let ack = format!(
                            "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126100000||ACK^A01^ACK|ACK-{control}|P|2.5\rMSA|{code}|{control}|{}",
                            if code == "AA" {
                                "OK"
                            } else {
                                "患者不存在"
                            }
                        );
                        let _ = s
                            .write_all(&yiyang_hl7v2::encode_frame(ack.as_bytes()))
                            .await;
                    }
                }
            });
        }
    });
    (port, m)
}

// ---------------------------------------------------------------- helpers

fn adt(control: &str) -> String {
    format!(
        "MSH|^~\\&|HIS|MZ-HOSP-01|YIYANG|MZ|20261126093000||ADT^A01^ADT_A01|{control}|P|2.5|||AL|NE||UNICODE UTF-8\r\
         PID|1||MR7001^^^MZH^MR||钟^伟明||19520308|M\r\
         PV1|1|I|内科一病区^301^2"
    )
}

/// Publishes in its own transaction, as processing would inside its own.
async fn publish(app: &TestApp, org: i64, kind: &str, hl7: Option<&str>, data: Value) -> u64 {
    let mut tx = app.state.db.begin().await.unwrap();
    let ev = Event {
        org_id: org,
        kind,
        message_id: None,
        hl7,
        json: data,
    };
    let n = outbound::publish_in(&mut tx, app.clock_now(), &ev)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

trait Now {
    fn clock_now(&self) -> i64;
}
impl Now for TestApp {
    fn clock_now(&self) -> i64 {
        use yiyang_core::Clock;
        self.clock.now_micros()
    }
}

async fn get_text(c: &reqwest::Client, url: String) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

async fn deliver(app: &TestApp) -> usize {
    outbound::deliver_due(&app.state).await.unwrap()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

async fn scalar(app: &TestApp, sql: &str, a: Vec<yiyang_store::Arg>) -> i64 {
    app.state.db.scalar(sql, a).await.unwrap()
}

/// (status, attempts, last_error) of a delivery.
async fn delivery(app: &TestApp, id: i64) -> (String, i64, String) {
    app.state
        .db
        .fetch_one(
            "SELECT status, attempts, last_error FROM integration_deliveries WHERE id = $1",
            args![id],
        )
        .await
        .unwrap()
}

async fn delivery_ids(app: &TestApp, sub: i64) -> Vec<i64> {
    let rows: Vec<(i64,)> = app
        .state
        .db
        .fetch_all(
            "SELECT id FROM integration_deliveries WHERE subscription_id = $1 ORDER BY id",
            args![sub],
        )
        .await
        .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

const SECRET: &str = "s3cret-for-the-regional-platform";

async fn create(app: &TestApp, body: Value) -> i64 {
    let (admin, csrf) = app.login("admin").await;
    let (s, out) = send(
        &admin,
        &csrf,
        reqwest::Method::POST,
        app.url("/api/v1/integration/subscriptions"),
        body,
    )
    .await;
    assert_eq!(s, 200, "{}: {out}", app.backend);
    out["id"].as_i64().unwrap()
}

async fn webhook_sub(app: &TestApp, org: i64, name: &str, url: &str, events: &[&str]) -> i64 {
    create(
        app,
        json!({"org_id": org, "name": name, "kind": "webhook", "url": url, "secret": SECRET, "events": events, "max_attempts": 3, "timeout_secs": 5}),
    )
    .await
}

async fn put(app: &TestApp, id: i64, body: Value) {
    let (admin, csrf) = app.login("admin").await;
    let (s, out) = send(
        &admin,
        &csrf,
        reqwest::Method::PUT,
        app.url(&format!("/api/v1/integration/subscriptions/{id}")),
        body,
    )
    .await;
    assert_eq!(s, 200, "{}: {out}", app.backend);
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_receives_chosen_events_of_its_institution_signed_with_the_secret() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let nh = app.org_id("MZ-NH-01").await;
        let (url, hook) = hook_server(200).await;
        let sub = webhook_sub(
            &app,
            hosp,
            "区域平台",
            &url,
            &["encounter.admitted", "critical.raised"],
        )
        .await;
        // A chosen event of the institution is queued once.
        let n = publish(
            &app,
            hosp,
            outbound::ENCOUNTER_ADMITTED,
            Some(&adt("C1")),
            json!({"visit": "V7001", "ward": "内科一病区"}),
        )
        .await;
        assert_eq!(n, 1, "{b}");
        // Not chosen, another institution's, or rolled back: nothing is queued.
        assert_eq!(
            publish(&app, hosp, outbound::PATIENT_REGISTERED, None, json!({})).await,
            0,
            "{b}"
        );
        assert_eq!(
            publish(&app, nh, outbound::ENCOUNTER_ADMITTED, None, json!({})).await,
            0,
            "{b}"
        );
        let mut tx = app.state.db.begin().await.unwrap();
        let ev = Event {
            org_id: hosp,
            kind: outbound::CRITICAL_RAISED,
            message_id: None,
            hl7: None,
            json: json!({}),
        };
        assert_eq!(
            outbound::publish_in(&mut tx, app.clock_now(), &ev)
                .await
                .unwrap(),
            1
        );
        drop(tx);
        assert_eq!(delivery_ids(&app, sub).await.len(), 1, "{b}: rollback");

        assert_eq!(deliver(&app).await, 1, "{b}");
        let got = hook.got();
        assert_eq!(got.len(), 1, "{b}");
        let g = &got[0];
        assert_eq!(g.event, "encounter.admitted", "{b}");
        assert_eq!(
            g.delivery,
            delivery_ids(&app, sub).await[0].to_string(),
            "{b}"
        );
        assert!(g.content_type.starts_with("application/json"), "{b}");
        assert_eq!(
            g.signature,
            outbound::signature(SECRET, g.body.as_bytes()),
            "{b}"
        );
        assert_ne!(
            g.signature,
            outbound::signature("another-secret-of-16", g.body.as_bytes())
        );
        let body: Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(body["event"], "encounter.admitted", "{b}");
        assert_eq!(body["org_id"], hosp, "{b}");
        assert_eq!(body["message_id"], Value::Null, "{b}");
        assert_eq!(body["occurred_at"], "2026-11-26T10:00:00.000+08:00", "{b}");
        assert_eq!(body["data"]["ward"], "内科一病区", "{b}");
        let (status, attempts, _) = delivery(&app, delivery_ids(&app, sub).await[0]).await;
        assert_eq!((status.as_str(), attempts), ("delivered", 1), "{b}");
        // Nothing more is due.
        assert_eq!(deliver(&app).await, 0, "{b}");

        // A disabled subscription receives nothing new.
        put(
            &app,
            sub,
            json!({"org_id": hosp, "name": "区域平台", "kind": "webhook", "url": url, "events": ["encounter.admitted"], "enabled": false}),
        )
        .await;
        assert_eq!(
            publish(&app, hosp, outbound::ENCOUNTER_ADMITTED, None, json!({})).await,
            0,
            "{b}"
        );

        // The API shows the figures and only a hint of the secret.
        let (admin, _) = app.login("admin").await;
        let raw = get_text(
            &admin,
            app.url(&format!("/api/v1/integration/subscriptions/{sub}")),
        )
        .await;
        assert!(!raw.contains(SECRET), "{b}: secret leaked: {raw}");
        let v: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(v["delivered"], 1, "{b}");
        assert_eq!(v["secret_hint"], "••••form", "{b}");
        assert_eq!(v["enabled"], false, "{b}");
        assert!(v["last_success_at"].is_i64(), "{b}");
        let page = get_text(
            &admin,
            app.url(&format!("/integration/subscriptions/{sub}")),
        )
        .await;
        assert!(page.contains("••••form") && !page.contains(SECRET), "{b}");
        // Disabled: no test button (it would queue something that never leaves).
        assert!(
            !page.contains("发送测试事件") && page.contains("启用"),
            "{b}"
        );
        let openapi = get_json(&admin, app.url("/api/openapi.json")).await;
        assert!(
            openapi["paths"]["/api/v1/integration/subscriptions"].is_object(),
            "{b}"
        );
        let audits = scalar(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('integration.subscription_create', 'integration.subscription_update')",
            vec![],
        )
        .await;
        assert_eq!(audits, 2, "{b}");

        // The secret is encrypted at rest and follows a key rotation (`keys rewrap`).
        let keys = yiyang_platform::crypto::Keys::new(
            vec![(1, [1; 32]), (2, [9; 32])],
            [2; 32],
            [3; 32],
            [4; 32],
        )
        .unwrap();
        let rotated = yiyang::app::Platform::start(
            app.state.db.clone(),
            keys,
            app.state.clock.clone(),
            false,
        )
        .await;
        assert!(
            yiyang::keys::rewrap(&rotated.state).await.unwrap() > 0,
            "{b}"
        );
        let (blob,): (Vec<u8>,) = app
            .state
            .db
            .fetch_one(
                "SELECT secret_cipher FROM integration_subscriptions WHERE id = $1",
                args![sub],
            )
            .await
            .unwrap();
        assert_eq!(blob[0], 2, "{b}");
        assert!(!String::from_utf8_lossy(&blob).contains(SECRET), "{b}");
        put(
            &app,
            sub,
            json!({"org_id": hosp, "name": "区域平台", "kind": "webhook", "url": url, "events": ["encounter.admitted"]}),
        )
        .await;
        publish(&app, hosp, outbound::ENCOUNTER_ADMITTED, None, json!({})).await;
        assert_eq!(
            outbound::deliver_due(&rotated.state).await.unwrap(),
            1,
            "{b}"
        );
        let g = hook.got().pop().unwrap();
        assert_eq!(
            g.signature,
            outbound::signature(SECRET, g.body.as_bytes()),
            "{b}"
        );
        rotated.shutdown().await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_webhook_backs_off_goes_dead_and_is_delivered_after_a_retry_from_the_dlq() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (url, hook) = hook_server(500).await;
        let sub = webhook_sub(&app, hosp, "随访系统", &url, &["encounter.discharged"]).await;
        publish(
            &app,
            hosp,
            outbound::ENCOUNTER_DISCHARGED,
            None,
            json!({"n": "A"}),
        )
        .await;
        let a = delivery_ids(&app, sub).await[0];
        assert_eq!(deliver(&app).await, 1, "{b}");
        let (status, attempts, err) = delivery(&app, a).await;
        assert_eq!((status.as_str(), attempts), ("pending", 1), "{b}");
        assert!(err.contains("HTTP 500"), "{b}: {err}");
        // Not due before the backoff has passed: 5 s after the first failure…
        app.clock.advance(secs(4));
        assert_eq!(deliver(&app).await, 0, "{b}");
        app.clock.advance(secs(1));
        assert_eq!(deliver(&app).await, 1, "{b}");
        // …then 30 s after the second.
        app.clock.advance(secs(29));
        assert_eq!(deliver(&app).await, 0, "{b}");
        app.clock.advance(secs(1));
        assert_eq!(deliver(&app).await, 1, "{b}");
        // max_attempts = 3: now dead, and never tried again on its own.
        let (status, attempts, _) = delivery(&app, a).await;
        assert_eq!((status.as_str(), attempts), ("dead", 3), "{b}");
        app.clock.advance(secs(7200));
        assert_eq!(deliver(&app).await, 0, "{b}");
        assert_eq!(hook.got().len(), 3, "{b}");

        // The endpoint is back; a retry from the dead-letter queue delivers it.
        hook.answer(204);
        let (admin, csrf) = app.login("admin").await;
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            app.url(&format!("/api/v1/integration/deliveries/{a}/retry")),
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        let (status, attempts, _) = delivery(&app, a).await;
        assert_eq!((status.as_str(), attempts), ("pending", 0), "{b}");
        assert_eq!(deliver(&app).await, 1, "{b}");
        let (status, attempts, _) = delivery(&app, a).await;
        assert_eq!((status.as_str(), attempts), ("delivered", 1), "{b}");
        assert_eq!(hook.got().len(), 4, "{b}");
        // Retrying something that is not dead is refused.
        let (s, _) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            app.url(&format!("/api/v1/integration/deliveries/{a}/retry")),
            json!({}),
        )
        .await;
        assert_eq!(s, 409, "{b}");

        // Bulk retry of every dead delivery from the page, in their original order.
        hook.answer(503);
        put(
            &app,
            sub,
            json!({"org_id": hosp, "name": "随访系统", "kind": "webhook", "url": url, "events": ["encounter.discharged"], "max_attempts": 1}),
        )
        .await;
        for n in ["B", "C"] {
            publish(
                &app,
                hosp,
                outbound::ENCOUNTER_DISCHARGED,
                None,
                json!({ "n": n }),
            )
            .await;
        }
        assert_eq!(deliver(&app).await, 2, "{b}");
        let dead = get_json(
            &admin,
            app.url(&format!(
                "/api/v1/integration/subscriptions/{sub}/deliveries?status=dead"
            )),
        )
        .await;
        assert_eq!(
            (dead["total"].as_i64(), items(dead.clone()).len()),
            (Some(2), 2),
            "{b}: {dead}"
        );
        let page = get_text(
            &admin,
            app.url(&format!(
                "/integration/deliveries?subscription_id={sub}&status=dead"
            )),
        )
        .await;
        assert!(
            page.contains("重新投递") && page.contains("全部死信重新投递（2 条）"),
            "{b}"
        );
        hook.answer(200);
        let r = admin
            .post(app.url(&format!("/integration/subscriptions/{sub}/retry-dead")))
            .form(&[("_csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{b}");
        assert_eq!(deliver(&app).await, 2, "{b}");
        let got = hook.got();
        let last: Vec<String> = got[got.len() - 2..]
            .iter()
            .map(|g| serde_json::from_str::<Value>(&g.body).unwrap()["data"]["n"].to_string())
            .collect();
        assert_eq!(last, ["\"B\"", "\"C\""], "{b}");
        let v = get_json(
            &admin,
            app.url(&format!("/api/v1/integration/subscriptions/{sub}")),
        )
        .await;
        assert_eq!(
            (v["delivered"].as_i64(), v["dead"].as_i64()),
            (Some(3), Some(0)),
            "{b}"
        );
        let audits = scalar(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('integration.delivery_retry', 'integration.delivery_retry_dead')",
            vec![],
        )
        .await;
        assert_eq!(audits, 2, "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mllp_subscriber_gets_the_framed_hl7_and_ae_or_silence_is_a_failure() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (port, rx) = mllp_server("AE").await;
        let sub = create(
            &app,
            json!({"org_id": hosp, "name": "养老院HIS", "kind": "mllp", "host": "127.0.0.1", "port": port, "events": ["encounter.admitted"], "timeout_secs": 1}),
        )
        .await;
        let (url, hook) = hook_server(200).await;
        webhook_sub(&app, hosp, "区域平台", &url, &["encounter.admitted"]).await;
        let text = adt("CTRL-9");
        // Both kinds of subscriber get the event, each in its own form…
        assert_eq!(
            publish(
                &app,
                hosp,
                outbound::ENCOUNTER_ADMITTED,
                Some(&text),
                json!({"visit": "V1"})
            )
            .await,
            2,
            "{b}"
        );
        // …and an event without HL7 text skips the MLLP subscriber.
        assert_eq!(
            publish(&app, hosp, outbound::ENCOUNTER_ADMITTED, None, json!({})).await,
            1,
            "{b}"
        );
        let first = delivery_ids(&app, sub).await[0];
        assert_eq!(deliver(&app).await, 3, "{b}");
        assert_eq!(hook.got().len(), 2, "{b}");
        // The receiver got exactly the HL7 text, framed; its AE is a failure.
        assert_eq!(rx.got(), vec![text.clone()], "{b}");
        let (status, attempts, err) = delivery(&app, first).await;
        assert_eq!((status.as_str(), attempts), ("pending", 1), "{b}");
        assert!(
            err.contains("AE") && err.contains("患者不存在"),
            "{b}: {err}"
        );
        // No answer within the timeout is a failure too.
        rx.answer("silent");
        app.clock.advance(secs(5));
        assert_eq!(deliver(&app).await, 1, "{b}");
        let (status, attempts, err) = delivery(&app, first).await;
        assert_eq!((status.as_str(), attempts), ("pending", 2), "{b}");
        assert!(err.contains("超时"), "{b}: {err}");
        // AA: delivered, the ACK kept as the response.
        rx.answer("AA");
        app.clock.advance(secs(30));
        assert_eq!(deliver(&app).await, 1, "{b}");
        let (status, attempts, _) = delivery(&app, first).await;
        assert_eq!((status.as_str(), attempts), ("delivered", 3), "{b}");
        let resp: (String,) = app
            .state
            .db
            .fetch_one(
                "SELECT last_response FROM integration_deliveries WHERE id = $1",
                args![first],
            )
            .await
            .unwrap();
        assert!(resp.0.contains("MSA|AA|CTRL-9"), "{b}: {}", resp.0);
        assert_eq!(rx.got().len(), 3, "{b}");
        // The payload page masks the patient's name unless unmasked with a purpose.
        let (admin, _) = app.login("admin").await;
        let page = get_text(&admin, app.url(&format!("/integration/deliveries/{first}"))).await;
        assert!(page.contains("PV1|1|I") && !page.contains("伟明"), "{b}");
        let page = get_text(
            &admin,
            app.url(&format!(
                "/integration/deliveries/{first}?unmask=true&purpose=核对接收方报错"
            )),
        )
        .await;
        assert!(page.contains("钟^伟明"), "{b}");
        // A test event for an MLLP subscriber is an NMD^N02 message.
        let (admin, csrf) = app.login("admin").await;
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::POST,
            app.url(&format!("/api/v1/integration/subscriptions/{sub}/test")),
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        assert_eq!(deliver(&app).await, 1, "{b}");
        let last = rx.got().pop().unwrap();
        assert!(last.contains("|NMD^N02^NMD_N02|"), "{b}: {last}");
        let test_id = out["delivery_id"].as_i64().unwrap();
        assert_eq!(delivery(&app, test_id).await.0, "delivered", "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_head_blocks_its_subscription_only_and_order_holds_across_two_nodes() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (url1, hook1) = hook_server(500).await;
        let (url2, hook2) = hook_server(200).await;
        let s1 = webhook_sub(&app, hosp, "慢的接收方", &url1, &["order.updated"]).await;
        let s2 = webhook_sub(&app, hosp, "快的接收方", &url2, &["order.updated"]).await;
        for i in 0..3 {
            publish(
                &app,
                hosp,
                outbound::ORDER_UPDATED,
                None,
                json!({ "seq": i }),
            )
            .await;
        }
        // The failing head of s1 holds back the two behind it; s2 is not held back.
        assert_eq!(deliver(&app).await, 4, "{b}");
        assert_eq!(hook1.got().len(), 1, "{b}");
        assert_eq!(hook2.got().len(), 3, "{b}");
        let behind = delivery_ids(&app, s1).await;
        for id in &behind[1..] {
            assert_eq!(delivery(&app, *id).await.1, 0, "{b}: untouched");
        }
        hook1.answer(200);
        app.clock.advance(secs(5));
        assert_eq!(deliver(&app).await, 3, "{b}");
        let seq = |h: &Hook| -> Vec<i64> {
            h.got()
                .iter()
                .map(|g| {
                    serde_json::from_str::<Value>(&g.body).unwrap()["data"]["seq"]
                        .as_i64()
                        .unwrap()
                })
                .collect()
        };
        assert_eq!(seq(&hook1), [0, 0, 1, 2], "{b}");
        assert_eq!(seq(&hook2), [0, 1, 2], "{b}");

        // Two nodes draining one queue: each delivery once, each subscription in order.
        for i in 3..23 {
            publish(
                &app,
                hosp,
                outbound::ORDER_UPDATED,
                None,
                json!({ "seq": i }),
            )
            .await;
        }
        let other = TestApp::start_on(b, app.url.clone(), false).await;
        let (x, y) = tokio::join!(
            outbound::deliver_due(&app.state),
            outbound::deliver_due(&other.state)
        );
        assert_eq!(x.unwrap() + y.unwrap(), 40, "{b}");
        assert_eq!(seq(&hook1)[4..], (3..23).collect::<Vec<_>>(), "{b}");
        assert_eq!(seq(&hook2)[3..], (3..23).collect::<Vec<_>>(), "{b}");
        let mut ids: Vec<String> = hook1
            .got()
            .iter()
            .chain(hook2.got().iter())
            .map(|g| g.delivery.clone())
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n - 1, "{b}: only the retried head repeats");
        let pending = scalar(
            &app,
            "SELECT COUNT(*) FROM integration_deliveries WHERE status <> 'delivered'",
            vec![],
        )
        .await;
        assert_eq!(pending, 0, "{b}");
        assert_eq!(delivery_ids(&app, s2).await.len(), 23, "{b}");
        other.stop().await;
        app.stop().await;
    }
}

/// A role with integration.read + integration.manage for one institution, and a user of it.
async fn engineer(app: &TestApp, login: &str, org: &str) -> (reqwest::Client, String) {
    let ctx = app.system();
    let role: yiyang_platform::identity::RoleInput = serde_json::from_value(json!({
        "code": "integration_engineer", "name": "集成工程师",
        "permissions": ["integration.read", "integration.manage"]
    }))
    .unwrap();
    yiyang_platform::identity::save_role(&app.state.db, &ctx, &role)
        .await
        .unwrap();
    let acc: yiyang_platform::identity::NewAccount = serde_json::from_value(json!({
        "login": login, "display_name": login, "org_id": app.org_id(org).await,
        "password": yiyang::seed::DEMO_PASSWORD, "role": "integration_engineer"
    }))
    .unwrap();
    yiyang_platform::identity::create_account(&app.state.db, &ctx, &acc)
        .await
        .unwrap();
    app.login(login).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_institution_can_neither_see_nor_change_a_subscription() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let nh = app.org_id("MZ-NH-01").await;
        let (h, h_csrf) = engineer(&app, "hosp_int", "MZ-HOSP-01").await;
        let (n, n_csrf) = engineer(&app, "nh_int", "MZ-NH-01").await;
        let (url, hook) = hook_server(500).await;
        let api = app.url("/api/v1/integration/subscriptions");
        let body = json!({"org_id": hosp, "name": "医院订阅", "kind": "webhook", "url": url, "secret": SECRET, "events": ["order.updated"], "max_attempts": 1});
        let (s, out) = send(
            &h,
            &h_csrf,
            reqwest::Method::POST,
            api.clone(),
            body.clone(),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        let id = out["id"].as_i64().unwrap();
        publish(&app, hosp, outbound::ORDER_UPDATED, None, json!({})).await;
        deliver(&app).await;
        assert_eq!(hook.got().len(), 1);
        let dead = delivery_ids(&app, id).await[0];
        assert_eq!(delivery(&app, dead).await.0, "dead", "{b}");

        // The nursing home's engineer sees nothing of it…
        let list = get_json(&n, api.clone()).await;
        assert_eq!(list, json!([]), "{b}");
        let all = get_items(&n, app.url("/api/v1/integration/deliveries")).await;
        assert!(all.is_empty(), "{b}: {all:?}");
        for path in [
            format!("/api/v1/integration/subscriptions/{id}"),
            format!("/api/v1/integration/subscriptions/{id}/deliveries"),
            format!("/api/v1/integration/deliveries/{dead}"),
            format!("/integration/subscriptions/{id}"),
            format!("/integration/deliveries/{dead}"),
        ] {
            let s = n.get(app.url(&path)).send().await.unwrap().status();
            assert_eq!(s, 404, "{b}: {path}");
        }
        // …and cannot change it, retry its dead letters, test it or create one for the hospital.
        let mut upd = body.clone();
        upd["name"] = json!("被改名");
        let m = reqwest::Method::POST;
        for (method, path, body) in [
            (
                reqwest::Method::PUT,
                format!("/api/v1/integration/subscriptions/{id}"),
                upd.clone(),
            ),
            (
                m.clone(),
                format!("/api/v1/integration/subscriptions/{id}/test"),
                json!({}),
            ),
            (
                m.clone(),
                format!("/api/v1/integration/subscriptions/{id}/retry-dead"),
                json!({}),
            ),
            (
                m.clone(),
                format!("/api/v1/integration/deliveries/{dead}/retry"),
                json!({}),
            ),
        ] {
            let (s, _) = send(&n, &n_csrf, method, app.url(&path), body).await;
            assert_eq!(s, 404, "{b}: {path}");
        }
        let (s, _) = send(&n, &n_csrf, m.clone(), api.clone(), body.clone()).await;
        assert_eq!(s, 403, "{b}");
        let r = n
            .post(app.url(&format!("/integration/subscriptions/{id}/enabled")))
            .form(&[("_csrf", n_csrf.as_str()), ("on", "0")])
            .send()
            .await
            .unwrap();
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        assert!(loc.contains("err="), "{b}: {loc}");
        // It may create its own, which the hospital does not see.
        let mut own = body.clone();
        own["org_id"] = json!(nh);
        let (s, _) = send(&n, &n_csrf, m.clone(), api.clone(), own).await;
        assert_eq!(s, 200, "{b}");
        let list = get_json(&h, api.clone()).await;
        assert_eq!(list.as_array().unwrap().len(), 1, "{b}");
        assert_eq!(list[0]["name"], "医院订阅", "{b}");
        assert_eq!(list[0]["enabled"], true, "{b}");
        assert_eq!(list[0]["dead"], 1, "{b}");

        // The hospital's org admin may read (integration.read) but not change.
        let (ha, ha_csrf) = app.login("hospadmin").await;
        let page = get_text(&ha, app.url(&format!("/integration/subscriptions/{id}"))).await;
        assert!(page.contains("医院订阅"), "{b}");
        for hidden in ["修改订阅", "发送测试事件", "全部死信重新投递", "停用"] {
            assert!(!page.contains(hidden), "{b}: {hidden} shown to a reader");
        }
        let (s, _) = send(
            &ha,
            &ha_csrf,
            reqwest::Method::POST,
            app.url(&format!("/api/v1/integration/deliveries/{dead}/retry")),
            json!({}),
        )
        .await;
        assert_eq!(s, 403, "{b}");
        // A doctor has no access at all.
        let (doctor, _) = app.login("doctor").await;
        assert_eq!(
            doctor.get(api.clone()).send().await.unwrap().status(),
            403,
            "{b}"
        );
        // The owner's engineer can manage it.
        let (s, out) = send(
            &h,
            &h_csrf,
            reqwest::Method::POST,
            app.url(&format!("/api/v1/integration/deliveries/{dead}/retry")),
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_beside_its_field_and_creates_nothing() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (admin, csrf) = app.login("admin").await;
        let api = app.url("/api/v1/integration/subscriptions");
        for (body, field, words) in [
            (
                json!({"org_id": hosp, "name": "坏地址", "kind": "webhook", "url": "not a url", "secret": SECRET, "events": ["order.updated"]}),
                "url",
                "接收地址",
            ),
            (
                json!({"org_id": hosp, "name": "坏端口", "kind": "mllp", "host": "his.local", "port": 70000, "events": ["order.updated"]}),
                "port",
                "1–65535",
            ),
            (
                json!({"org_id": hosp, "name": "无事件", "kind": "webhook", "url": "http://127.0.0.1:9/x", "secret": SECRET, "events": []}),
                "events",
                "至少选择一种",
            ),
            (
                json!({"org_id": hosp, "name": "短密钥", "kind": "webhook", "url": "http://127.0.0.1:9/x", "secret": "123", "events": ["order.updated"]}),
                "secret",
                "16",
            ),
        ] {
            let (s, out) = send(&admin, &csrf, reqwest::Method::POST, api.clone(), body).await;
            assert_eq!(s, 400, "{b}: {out}");
            assert_eq!(out["details"]["field"], field, "{b}: {out}");
            assert!(
                out["message"].as_str().unwrap().contains(words),
                "{b}: {out}"
            );
        }
        let none = scalar(
            &app,
            "SELECT COUNT(*) FROM integration_subscriptions",
            vec![],
        )
        .await;
        assert_eq!(none, 0, "{b}");

        // The page shows the form again with the error beside the field and the input kept.
        let r = admin
            .post(app.url("/integration/subscriptions"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("name", "检验科接口"),
                ("org_id", &hosp.to_string()),
                ("kind", "webhook"),
                ("url", "ftp://lis.local/in"),
                ("secret", SECRET),
                ("events", "observation.reported"),
                ("enabled", "1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{b}");
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"url-err\""), "{b}");
        assert!(page.contains("须以 http:// 开头"), "{b}");
        assert!(page.contains("value=\"检验科接口\""), "{b}");
        assert!(page.contains("aria-invalid=\"true\""), "{b}");
        let none = scalar(
            &app,
            "SELECT COUNT(*) FROM integration_subscriptions",
            vec![],
        )
        .await;
        assert_eq!(none, 0, "{b}");

        // Corrected, it is created; a test event then reaches the receiver.
        let (url, hook) = hook_server(200).await;
        let r = admin
            .post(app.url("/integration/subscriptions"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("name", "检验科接口"),
                ("org_id", &hosp.to_string()),
                ("kind", "webhook"),
                ("url", &url),
                ("secret", SECRET),
                ("events", "observation.reported"),
                ("events", "critical.raised"),
                ("enabled", "1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{b}");
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let id: i64 = loc
            .trim_start_matches("/integration/subscriptions/")
            .split('?')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let page = get_text(&admin, app.url(&loc)).await;
        assert!(
            page.contains("检验结果、危急值") && page.contains("发送测试事件"),
            "{b}"
        );
        let r = admin
            .post(app.url(&format!("/integration/subscriptions/{id}/test")))
            .form(&[("_csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{b}");
        assert_eq!(deliver(&app).await, 1, "{b}");
        let got = hook.got();
        assert_eq!(got[0].event, "subscription.test", "{b}");
        assert_eq!(
            got[0].signature,
            outbound::signature(SECRET, got[0].body.as_bytes())
        );
        // Changing the kind after creation is refused beside the field.
        let r = admin
            .post(app.url(&format!("/integration/subscriptions/{id}")))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("name", "检验科接口"),
                ("org_id", &hosp.to_string()),
                ("kind", "mllp"),
                ("host", "lis.local"),
                ("port", "2575"),
                ("events", "observation.reported"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{b}");
        let page = r.text().await.unwrap();
        // The institution cannot change either: queued payloads belong to it.
        let nh = app.org_id("MZ-NH-01").await;
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::PUT,
            app.url(&format!("/api/v1/integration/subscriptions/{id}")),
            json!({"org_id": nh, "name": "检验科接口", "kind": "webhook", "url": url, "events": ["observation.reported"]}),
        )
        .await;
        assert_eq!(s, 400, "{b}: {out}");
        assert_eq!(out["details"]["field"], "org_id", "{b}");
        assert!(page.contains("id=\"kind-err\""), "{b}");
        assert!(page.contains("投递方式创建后不能修改"), "{b}");
        app.stop().await;
    }
}
