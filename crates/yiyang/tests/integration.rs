//! The integration engine over HTTP and MLLP, on SQLite and (when configured) PostgreSQL:
//! channels, store-before-ACK, dedupe, processing into the health record, critical values,
//! the error queue with replay, monitoring.

mod common;

use common::{TestApp, backends};
use serde_json::{Value, json};

async fn send(
    c: &reqwest::Client,
    csrf: &str,
    m: reqwest::Method,
    url: String,
    body: Value,
) -> (u16, Value) {
    let r = c
        .request(m, url)
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

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
        assert_eq!(list.as_array().unwrap().len(), 1, "{b}: {list}");
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
