//! Test harness: a real server on a random port over a fresh database — a temporary SQLite
//! file always, or a new PostgreSQL database when `YIYANG_TEST_DATABASE_URL` is set.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use yiyang::app;
use yiyang_core::{Clock, FixedClock, RequestContext};
use yiyang_platform::crypto::Keys;
use yiyang_platform::web::AppState;
use yiyang_store::{Db, DbOptions};

static N: AtomicU32 = AtomicU32::new(0);

/// The backends to run a test on: SQLite always, PostgreSQL when configured (otherwise a
/// loud SKIP line is recorded, see `yiyang_platform::testing::skip`).
pub fn backends() -> Vec<&'static str> {
    yiyang_platform::testing::backends()
}

/// A fresh, empty database of the given backend; returns its URL.
pub async fn fresh_db_url(backend: &str) -> String {
    let n = N.fetch_add(1, Ordering::SeqCst);
    let tag = format!(
        "{}_{}_{}",
        std::process::id(),
        n,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    if backend == "sqlite" {
        let dir = std::env::temp_dir().join(format!("yiyang-test-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        return format!("sqlite://{}/t.db", dir.display());
    }
    let admin = std::env::var("YIYANG_TEST_DATABASE_URL").unwrap();
    let db = Db::connect(
        &admin,
        &DbOptions {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await
    .expect("connect to test PostgreSQL");
    let name = format!("yyt_{tag}");
    db.execute(&format!("CREATE DATABASE {name}"), vec![])
        .await
        .expect("create test database");
    db.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub clock: FixedClock,
    pub backend: &'static str,
    pub url: String,
    owner: bool,
    server: tokio::task::JoinHandle<()>,
}

/// The instant tests stand at: 2026-11-26 10:00 CST.
pub fn test_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-26T02:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

impl TestApp {
    /// A server over a new database with the demo city seeded.
    pub async fn start(backend: &'static str) -> TestApp {
        let url = fresh_db_url(backend).await;
        Self::start_on(backend, url, true).await
    }

    /// A second node over the same database (for cross-node behaviour).
    pub async fn start_on(backend: &'static str, url: String, seed: bool) -> TestApp {
        let db = Db::connect(
            &url,
            &DbOptions {
                max_connections: 8,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let clock = FixedClock::at(test_now());
        let arc: Arc<dyn Clock> = Arc::new(clock.clone());
        app::prepare(&db, arc.as_ref()).await.unwrap();
        let platform = app::Platform::start(db, Keys::for_tests(), arc, false).await;
        let state = platform.state.clone();
        if seed {
            yiyang::seed::seed_demo(&state).await.unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        std::mem::forget(platform);
        TestApp {
            base: format!("http://{addr}"),
            state,
            clock,
            backend,
            url,
            owner: seed,
            server,
        }
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Logs in through the JSON API; returns the client and its CSRF token.
    pub async fn login(&self, login: &str) -> (reqwest::Client, String) {
        self.login_with(login, yiyang::seed::DEMO_PASSWORD)
            .await
            .expect("demo login")
    }

    pub async fn login_with(
        &self,
        login: &str,
        password: &str,
    ) -> Result<(reqwest::Client, String), (u16, serde_json::Value)> {
        let c = self.client();
        let r = c
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({"login": login, "password": password}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        if status != 200 {
            return Err((status, body));
        }
        Ok((c, body["csrf_token"].as_str().unwrap().to_string()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn org_id(&self, code: &str) -> i64 {
        self.state
            .db
            .scalar(
                "SELECT id FROM orgs WHERE code = $1",
                yiyang_store::args![code],
            )
            .await
            .unwrap()
    }

    pub fn system(&self) -> RequestContext {
        RequestContext::system(self.state.clock.clone(), "test")
    }

    pub async fn stop(self) {
        self.state.audit.flush().await;
        self.server.abort();
        self.state.db.close().await;
        if self.backend == "postgres" && self.owner {
            drop_database(&self.url).await;
        }
    }
}

/// Drops a test database made by [`fresh_db_url`].
pub async fn drop_database(url: &str) {
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    let admin = std::env::var("YIYANG_TEST_DATABASE_URL").unwrap();
    let db = Db::connect(
        &admin,
        &DbOptions {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let _ = db
        .execute(
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            vec![],
        )
        .await;
    db.close().await;
}

/// GET `url` and decode the JSON answer (panics on failure: for tests).
pub async fn get_json(c: &reqwest::Client, url: String) -> serde_json::Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

/// The rows of one page of a JSON list (`{items, total, total_at_least, page, size}`);
/// panics when the answer is not such a page.
pub fn items(page: serde_json::Value) -> Vec<serde_json::Value> {
    match page.get("items").and_then(|v| v.as_array()) {
        Some(rows) if page["total"].is_i64() && page["page"].is_i64() => rows.clone(),
        _ => panic!("not a page of a list: {page}"),
    }
}

/// GET one page of a JSON list and return its rows.
pub async fn get_items(c: &reqwest::Client, url: String) -> Vec<serde_json::Value> {
    items(get_json(c, url).await)
}

/// Sends JSON with the CSRF token; returns the status and the JSON body (Null if none).
pub async fn send(
    c: &reqwest::Client,
    csrf: &str,
    m: reqwest::Method,
    url: String,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = c
        .request(m, url)
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// `send` with POST.
pub async fn post(
    c: &reqwest::Client,
    csrf: &str,
    url: String,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    send(c, csrf, reqwest::Method::POST, url, body).await
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Sends one framed payload over MLLP on a new connection; returns the ACK, or None when
/// the server closed the connection without one.
pub async fn mllp(port: u16, payload: &[u8]) -> Option<String> {
    mllp_raw(port, payload)
        .await
        .map(|f| String::from_utf8(f).unwrap())
}

/// Sends one frame and returns the first frame answered, as bytes (None: closed first).
pub async fn mllp_raw(port: u16, payload: &[u8]) -> Option<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(&yiyang_hl7v2::encode_frame(payload))
        .await
        .unwrap();
    let mut dec = yiyang_hl7v2::MllpDecoder::new(1 << 20);
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("ACK within 20 s")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        dec.push(&buf[..n]);
        if let Some(f) = dec.next_frame() {
            return Some(f.unwrap());
        }
    }
}
