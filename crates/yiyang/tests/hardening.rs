//! Defects found by trying the platform as an outsider: open redirects, English errors from
//! before a handler runs, unbounded or invisible input, bad filters ignored, logins that
//! can be enumerated, public metrics.

mod common;

use common::*;
use serde_json::{Value, json};

async fn form_login(app: &TestApp, next: &str) -> String {
    let c = app.client();
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("login", "doctor"),
            ("password", yiyang::seed::DEMO_PASSWORD),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "{next:?}");
    r.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sends_back_only_to_paths_of_this_site() {
    let app = TestApp::start("sqlite").await;
    for bad in [
        "/\\evil.example",
        "/\\/evil.example",
        "/\t/evil.example",
        "//evil.example",
        "https://evil.example",
    ] {
        assert_eq!(form_login(&app, bad).await, "/", "{bad:?}");
    }
    assert_eq!(form_login(&app, "/persons?page=2").await, "/persons?page=2");
    app.stop().await;
}

async fn raw(
    c: &reqwest::Client,
    csrf: &str,
    m: reqwest::Method,
    url: String,
    ct: &str,
    body: &str,
) -> (u16, String, Value) {
    let r = c
        .request(m, url)
        .header("x-csrf-token", csrf)
        .header("content-type", ct)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (s, ct, r.json().await.unwrap_or(Value::Null))
}

/// Announces a body over the upload limit and sends only its start: the server answers
/// from the length alone (a client writing all 21 MB could see the connection close first).
async fn too_large(app: &TestApp) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cookie = {
        let r = app
            .client()
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"login": "hospadmin", "password": yiyang::seed::DEMO_PASSWORD}))
            .send()
            .await
            .unwrap();
        let c = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let body: Value = r.json().await.unwrap();
        (c, body["csrf_token"].as_str().unwrap().to_string())
    };
    let addr = app.base.trim_start_matches("http://").to_string();
    let s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let len = 21 * 1024 * 1024;
    let head = format!(
        "POST /api/v1/persons HTTP/1.1\r\nHost: {addr}\r\nCookie: {}\r\nx-csrf-token: {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        cookie.0, cookie.1
    );
    // The whole body is written beside the read: the server may answer and close before
    // the last byte, and the writer's broken pipe is then expected.
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            if wr.write_all(&chunk[..n]).await.is_err() {
                return;
            }
            left -= n;
        }
    });
    let mut buf = Vec::new();
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(30), rd.read_to_end(&mut buf)).await;
    writer.abort();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status: u16 = text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let ct = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // The body may be chunked: take the JSON object inside.
    let json = body
        .find('{')
        .and_then(|a| body.rfind('}').map(|b| &body[a..=b]))
        .unwrap_or("null");
    (
        status,
        ct,
        serde_json::from_str(json).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_before_a_handler_runs_use_the_standard_zh_cn_body() {
    let app = TestApp::start("sqlite").await;
    let (c, csrf) = app.login("hospadmin").await;
    let hosp = app.org_id("MZ-HOSP-01").await;
    let url = app.url("/api/v1/persons");
    let post = reqwest::Method::POST;
    let cases: Vec<(u16, &str, (u16, String, Value))> = vec![
        (
            400,
            "request.json_invalid",
            raw(
                &c,
                &csrf,
                post.clone(),
                url.clone(),
                "application/json",
                "{\"org_id\": ",
            )
            .await,
        ),
        (
            415,
            "request.content_type",
            raw(&c, &csrf, post.clone(), url.clone(), "text/plain", "{}").await,
        ),
        (
            422,
            "request.json_field_invalid",
            raw(
                &c,
                &csrf,
                post.clone(),
                url.clone(),
                "application/json",
                &format!("{{\"org_id\": {hosp}, \"name\": 12}}"),
            )
            .await,
        ),
        (
            400,
            "request.path_invalid",
            raw(
                &c,
                &csrf,
                reqwest::Method::GET,
                app.url("/api/v1/persons/abc"),
                "application/json",
                "",
            )
            .await,
        ),
        (
            400,
            "request.query_invalid",
            raw(
                &c,
                &csrf,
                reqwest::Method::GET,
                app.url("/api/v1/persons?org_id=x"),
                "application/json",
                "",
            )
            .await,
        ),
        (
            404,
            "common.not_found",
            raw(
                &c,
                &csrf,
                reqwest::Method::GET,
                app.url("/api/v1/nothing-here"),
                "application/json",
                "",
            )
            .await,
        ),
        (
            405,
            "request.method_not_allowed",
            raw(
                &c,
                &csrf,
                reqwest::Method::PATCH,
                url.clone(),
                "application/json",
                "{}",
            )
            .await,
        ),
        (413, "request.too_large", too_large(&app).await),
    ];
    for (status, code, (s, ct, body)) in cases {
        assert_eq!(s, status, "{code}: {body}");
        assert!(ct.starts_with("application/json"), "{code}: {ct}");
        assert_eq!(body["code"], code, "{body}");
        let msg = body["message"].as_str().unwrap();
        assert!(
            msg.chars()
                .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)),
            "zh-CN message: {msg}"
        );
        assert!(body["request_id"].is_string(), "{body}");
    }
    // The field of a wrong type is named, so a form can show the error beside it.
    let (_, _, body) = raw(
        &c,
        &csrf,
        post,
        url,
        "application/json",
        &format!("{{\"org_id\": {hosp}, \"name\": 12}}"),
    )
    .await;
    assert_eq!(body["details"]["field"], "name", "{body}");
    // Pages answer with the zh-CN error page, not Rust's parse error.
    let r = c.get(app.url("/orgs/abc")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("路径参数的格式不正确") && !html.contains("Cannot parse"),
        "{html}"
    );
    let r = c.get(app.url("/nonexistent")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.unwrap().contains("不存在"));
    // The OpenAPI document lists the error responses with their shape.
    let doc = get_json(&c, app.url("/api/openapi.json")).await;
    let op = &doc["paths"]["/api/v1/persons"]["post"]["responses"];
    for s in ["400", "401", "403", "404", "422", "500"] {
        assert!(
            op[s]["content"]["application/json"].is_object(),
            "{s}: {op}"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_and_invisible_input_is_refused_and_changes_nothing() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (c, csrf) = app.login("hospadmin").await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let count = || async {
            app.state
                .db
                .scalar("SELECT COUNT(*) FROM persons", vec![])
                .await
                .unwrap()
        };
        let before = count().await;
        let bad = [
            (
                "address_detail",
                json!({"org_id": hosp, "name": "张三", "address_detail": "路".repeat(300_000)}),
            ),
            ("name", json!({"org_id": hosp, "name": "张\u{0}三"})),
            ("name", json!({"org_id": hosp, "name": "张\u{202E}三"})),
            ("name", json!({"org_id": hosp, "name": "张\u{200B}三"})),
        ];
        for (field, body) in bad {
            let (s, out) = post(&c, &csrf, app.url("/api/v1/persons"), body).await;
            assert_eq!(s, 400, "{b}: {out}");
            assert_eq!(out["details"]["field"], field, "{out}");
        }
        // Every problem of one record at once.
        let (s, out) = post(&c, &csrf, app.url("/api/v1/persons"),
            json!({"org_id": hosp, "name": "张\u{202E}三", "address_detail": "路".repeat(201), "town": "\u{0}"})).await;
        assert_eq!(s, 400);
        assert_eq!(
            out["details"]["fields"].as_array().unwrap().len(),
            3,
            "{out}"
        );
        assert_eq!(count().await, before, "{b}: nothing was written");
        let (s, out) = post(&c, &csrf, app.url("/api/v1/staff"), json!({"org_id": hosp, "name": "李\u{2066}四", "sex": "M", "id_number": "441402198001010010", "profession": "social_worker"})).await;
        assert_eq!(s, 400, "{out}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_audit_filters_are_refused_not_ignored() {
    let app = TestApp::start("sqlite").await;
    let (c, _) = app.login("auditor").await;
    for (q, field) in [
        ("from=notadate", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-11-02&to=2026-11-01", "to"),
        ("outcome=maybe", "outcome"),
    ] {
        let r = c
            .get(app.url(&format!("/api/v1/audit?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{q}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["details"]["field"], field, "{body}");
    }
    let r = c
        .get(app.url("/api/v1/audit?from=2026-11-01&to=2026-11-30"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Filters of other lists: a value the list does not know is refused, not ignored.
    let (admin, _) = app.login("admin").await;
    for (url, field) in [
        ("/api/v1/staff?status=aproved", "status"),
        ("/api/v1/staff?profession=astronaut", "profession"),
        ("/api/v1/orgs?kind=spaceport", "kind"),
        ("/api/v1/orgs?district=北京", "district"),
        ("/api/v1/integration/messages?status=lost", "status"),
        ("/api/v1/integration/alerts?status=maybe", "status"),
    ] {
        let r = admin.get(app.url(url)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{url}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (body["code"].as_str(), body["details"]["field"].as_str()),
            (Some("filter.invalid"), Some(field)),
            "{url}: {body}"
        );
    }
    for url in [
        "/api/v1/staff?status=approved",
        "/api/v1/orgs?kind=医院",
        "/api/v1/integration/messages?status=queue",
    ] {
        let s = admin
            .get(app.url(url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(s, 200, "{url}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_real_logins_fail_alike() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let attempt = |login: &'static str| {
            let app = &app;
            async move {
                match app.login_with(login, "Wrong#Passw0rd").await {
                    Ok(_) => panic!("logged in with a wrong password"),
                    Err((s, body)) => (
                        s,
                        body["code"].as_str().unwrap().to_string(),
                        body["details"]["remaining_attempts"].clone(),
                    ),
                }
            }
        };
        for i in 1..=6 {
            let real = attempt("doctor").await;
            let ghost = attempt("no.such.user").await;
            assert_eq!(real, ghost, "{b}: attempt {i}");
            if i >= 5 {
                assert_eq!(real.0, 423, "{b}: locked after five failures");
            }
        }
        // A disabled account with a wrong password answers like any other wrong password.
        app.state
            .db
            .execute(
                "UPDATE accounts SET status = 'disabled' WHERE login = 'nurse'",
                vec![],
            )
            .await
            .unwrap();
        let (s, body) = app
            .login_with("nurse", "Wrong#Passw0rd")
            .await
            .err()
            .unwrap();
        assert_eq!(
            (s, body["code"].as_str().unwrap()),
            (401, "auth.invalid_credentials")
        );
        let (s, _) = app
            .login_with("nurse", yiyang::seed::DEMO_PASSWORD)
            .await
            .err()
            .unwrap();
        assert_eq!(s, 403);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_only_listed_addresses_or_the_token() {
    use yiyang_platform::web::metrics_access::MetricsAccess;
    let app = TestApp::start("sqlite").await;
    // The test server runs on loopback, which the default list allows.
    let r = app.client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("yiyang_http_requests_total")
    );
    // A node configured for a scraper network and a token refuses loopback without it.
    let db = yiyang_store::Db::connect(&app.url, &Default::default())
        .await
        .unwrap();
    let clock: std::sync::Arc<dyn yiyang_core::Clock> = std::sync::Arc::new(app.clock.clone());
    let access =
        MetricsAccess::parse("10.9.0.0/16", Some("scrape-token-0123456789".into())).unwrap();
    let p = yiyang::app::Platform::start_with(
        db,
        yiyang_platform::crypto::Keys::for_tests(),
        clock,
        false,
        access,
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = yiyang::app::router(p.state.clone())
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let url = format!("http://{addr}/metrics");
    let c = reqwest::Client::new();
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "metrics.forbidden");
    let r = c
        .get(&url)
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = c
        .get(&url)
        .bearer_auth("scrape-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    app.stop().await;
}

/// Every JSON list that grows with use, as the platform administrator reads it.
const PAGED_LISTS: &[&str] = &[
    "/api/v1/orgs",
    "/api/v1/staff",
    "/api/v1/persons",
    "/api/v1/mpi/reviews",
    "/api/v1/accounts",
    "/api/v1/audit",
    "/api/v1/inbox",
    "/api/v1/integration/messages",
    "/api/v1/integration/alerts",
    "/api/v1/integration/orders",
    "/api/v1/integration/appointments",
    "/api/v1/integration/deliveries",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lists_answer_one_page_with_the_total() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (admin, csrf) = app.login("admin").await;
        for path in PAGED_LISTS {
            let page = get_json(&admin, app.url(path)).await;
            let rows = items(page.clone());
            assert_eq!(
                (page["page"].as_i64(), page["size"].as_i64()),
                (Some(1), Some(50)),
                "{b} {path}: {page}"
            );
            assert!(
                page["total"].as_i64().unwrap() >= rows.len() as i64 && rows.len() <= 50,
                "{b} {path}: {page}"
            );
            assert_eq!(page["total_at_least"], false, "{b} {path}");
            for (q, field) in [
                ("size=201", "size"),
                ("size=0", "size"),
                ("size=abc", "size"),
                ("page=0", "page"),
                ("page=x", "page"),
            ] {
                let r = admin
                    .get(app.url(&format!("{path}?{q}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 400, "{b} {path}?{q}");
                let body: Value = r.json().await.unwrap();
                assert_eq!(
                    (body["code"].as_str(), body["details"]["field"].as_str()),
                    (Some("filter.invalid"), Some(field)),
                    "{b} {path}?{q}: {body}"
                );
                assert!(
                    body["message"].as_str().unwrap().contains("取值不正确"),
                    "{body}"
                );
            }
        }
        // The OpenAPI document describes the page and its parameters.
        let doc = get_json(&admin, app.url("/api/openapi.json")).await;
        for path in PAGED_LISTS {
            let op = &doc["paths"][*path]["get"];
            let names: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert!(
                names.contains(&"page") && names.contains(&"size") && !names.contains(&"limit"),
                "{path}: {names:?}"
            );
            let reference = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or_default();
            let name = reference.rsplit('/').next().unwrap_or_default();
            let props = &doc["components"]["schemas"][name]["properties"];
            assert!(
                name.starts_with("ApiPage")
                    && ["items", "total", "total_at_least", "page", "size"]
                        .iter()
                        .all(|k| props.get(k).is_some()),
                "{path}: {reference} {props}"
            );
        }
        // Walking the pages gives every row once, and as many as the total says.
        for path in [
            "/api/v1/orgs",
            "/api/v1/staff",
            "/api/v1/persons",
            "/api/v1/accounts",
        ] {
            let total = get_json(&admin, app.url(&format!("{path}?size=2"))).await["total"]
                .as_i64()
                .unwrap();
            assert!(total > 2, "{b} {path}: the list spans several pages");
            let mut seen = std::collections::BTreeSet::new();
            for n in 1.. {
                let rows = get_items(&admin, app.url(&format!("{path}?page={n}&size=2"))).await;
                if rows.is_empty() {
                    break;
                }
                assert!(rows.len() <= 2, "{b} {path}");
                for r in rows {
                    assert!(
                        seen.insert(r["id"].as_i64().unwrap()),
                        "{b} {path}: {r} twice"
                    );
                }
            }
            assert_eq!(seen.len() as i64, total, "{b} {path}");
        }
        // The message store counts up to 10,000 and then says "at least".
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (s, out) = post(
            &admin,
            &csrf,
            app.url("/api/v1/integration/channels"),
            json!({"org_id": hosp, "name": "计数通道", "port": 39077, "message_types": "ADT^A01", "enabled": false}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        let channel = out["id"].as_i64().unwrap();
        let db = &app.state.db;
        let sql = match db.backend() {
            yiyang_store::Backend::Postgres => {
                "INSERT INTO hl7_messages (channel_id, org_id, raw, status, received_at) \
                 SELECT $1, $2, decode('4d5348', 'hex'), 'processed', g FROM generate_series(1, 10001) AS g"
            }
            yiyang_store::Backend::Sqlite => {
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001) \
                 INSERT INTO hl7_messages (channel_id, org_id, raw, status, received_at) \
                 SELECT $1, $2, X'4D5348', 'processed', i FROM n"
            }
        };
        db.execute(sql, yiyang_store::args![channel, hosp])
            .await
            .unwrap();
        let page = get_json(
            &admin,
            app.url("/api/v1/integration/messages?size=200&page=3"),
        )
        .await;
        assert_eq!(
            (
                page["total"].as_i64(),
                page["total_at_least"].as_bool(),
                items(page.clone()).len()
            ),
            (Some(10_000), Some(true), 200),
            "{b}"
        );
        let (nh, _) = app.login("nhadmin").await;
        let page = get_json(&nh, app.url("/api/v1/integration/messages")).await;
        assert_eq!(
            (page["total"].as_i64(), page["total_at_least"].as_bool()),
            (Some(0), Some(false)),
            "{b}: another institution counts none of them"
        );
        app.stop().await;
    }
}

/// The fields an `input.invalid` answer names.
fn named_fields(out: &Value) -> Vec<String> {
    out["details"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn institutions_channels_and_subscriptions_report_every_problem_at_once() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (admin, csrf) = app.login("admin").await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let count = |table: &'static str| {
            let db = app.state.db.clone();
            async move {
                db.scalar(&format!("SELECT COUNT(*) FROM {table}"), vec![])
                    .await
                    .unwrap()
            }
        };
        let cases = [
            (
                "/api/v1/orgs",
                "orgs",
                json!({"code": "坏编码", "name": "梅江\u{202E}医院", "kind": "spaceport", "beds": -1}),
                vec!["code", "name", "kind", "beds"],
            ),
            (
                "/api/v1/integration/channels",
                "hl7_channels",
                json!({"org_id": hosp, "name": "", "port": 80, "message_types": "ADT-A01", "max_connections": 0}),
                vec!["name", "port", "message_types", "max_connections"],
            ),
            (
                "/api/v1/integration/subscriptions",
                "integration_subscriptions",
                json!({"org_id": hosp, "name": "区域平台", "kind": "webhook", "url": "ftp://x", "secret": "short",
                       "events": ["no.such.event"], "max_attempts": 0}),
                vec!["url", "secret", "events", "max_attempts"],
            ),
        ];
        for (path, table, body, want) in cases {
            let before = count(table).await;
            let (s, out) = post(&admin, &csrf, app.url(path), body).await;
            assert_eq!(
                (s, out["code"].as_str()),
                (400, Some("input.invalid")),
                "{b} {path}: {out}"
            );
            let mut got = named_fields(&out);
            got.sort();
            let mut want = want;
            want.sort();
            assert_eq!(got, want, "{b} {path}: every bad field named: {out}");
            let first = out["details"]["field"].as_str().unwrap_or("");
            assert!(want.contains(&first), "{b} {path}: {out}");
            assert!(
                out["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("共{}处需要修改", want.len())),
                "{b} {path}: {out}"
            );
            assert_eq!(
                count(table).await,
                before,
                "{b} {path}: nothing was written"
            );
        }
        // A single problem keeps its own code.
        let (s, out) = post(
            &admin,
            &csrf,
            app.url("/api/v1/integration/channels"),
            json!({"org_id": hosp, "name": "医院HIS", "port": 80, "message_types": "ADT^A01"}),
        )
        .await;
        assert_eq!(
            (s, out["code"].as_str()),
            (400, Some("integration.port_invalid")),
            "{b}: {out}"
        );
        // Updates check the same way.
        let (s, out) = post(
            &admin,
            &csrf,
            app.url("/api/v1/orgs"),
            json!({"code": "MZ-NH-77", "name": "梅江区颐年养老院", "kind": "nursing_home"}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {out}");
        let id = out["id"].as_i64().unwrap();
        let (s, out) = send(
            &admin,
            &csrf,
            reqwest::Method::PUT,
            app.url(&format!("/api/v1/orgs/{id}")),
            json!({"code": "MZ-NH-77", "name": "", "kind": "nursing_home", "phone": "12", "licence_expiry": "2026-13-01"}),
        )
        .await;
        assert_eq!(s, 400, "{b}: {out}");
        let mut got = named_fields(&out);
        got.sort();
        assert_eq!(got, ["licence_expiry", "name", "phone"], "{b}: {out}");
        let name: (String,) = app
            .state
            .db
            .fetch_one(
                "SELECT name FROM orgs WHERE id = $1",
                yiyang_store::args![id],
            )
            .await
            .unwrap();
        assert_eq!(
            name.0, "梅江区颐年养老院",
            "{b}: the failed edit wrote nothing"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_problem_of_a_record_is_reported_at_once() {
    let app = TestApp::start("sqlite").await;
    let (c, csrf) = app.login("hospadmin").await;
    let hosp = app.org_id("MZ-HOSP-01").await;
    let (s, out) = post(
        &c,
        &csrf,
        app.url("/api/v1/staff"),
        json!({"org_id": hosp, "name": "王五", "sex": "X", "id_number": "441402194901010011",
               "phone": "12", "profession": "astronaut", "licence_expiry": "2026-13-40"}),
    )
    .await;
    assert_eq!(
        (s, out["code"].as_str()),
        (400, Some("input.invalid")),
        "{out}"
    );
    let fields: Vec<&str> = out["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for f in ["sex", "id_number", "phone", "profession", "licence_expiry"] {
        assert!(fields.contains(&f), "{f} missing from {out}");
    }
    // A resident's registration too.
    let (s, out) = post(
        &c,
        &csrf,
        app.url("/api/v1/persons"),
        json!({"org_id": hosp, "name": "李四", "sex": "X", "birth_date": "1950-02-30", "phone": "12", "living_situation": "月球"}),
    )
    .await;
    assert_eq!(
        (s, out["code"].as_str()),
        (400, Some("input.invalid")),
        "{out}"
    );
    assert_eq!(
        out["details"]["fields"].as_array().unwrap().len(),
        4,
        "{out}"
    );
    // One problem keeps its own code.
    let (s, out) = post(
        &c,
        &csrf,
        app.url("/api/v1/staff"),
        json!({"org_id": hosp, "name": "王五", "sex": "M", "id_number": "441402194901010011", "profession": "social_worker"}),
    )
    .await;
    assert_eq!(
        (s, out["code"].as_str()),
        (400, Some("idnumber.invalid")),
        "{out}"
    );
    app.stop().await;
}
