//! Test harness for a module's own tests (feature `testing`): a fresh database of either
//! kind with the given modules' migrations and reference data applied, the shared state,
//! and a request context for any built-in role — no HTTP server.
//!
//! SQLite (a temporary file) always; PostgreSQL (a new database, dropped by `stop`) when
//! `YIYANG_TEST_DATABASE_URL` names a server. A test that cannot run on a backend calls
//! [`skip`], which prints a loud `SKIP` line and appends it to `YIYANG_TEST_SKIP_LOG` (when
//! set): `.ci/run` fails when PostgreSQL was expected and any test skipped it.

use crate::audit::AuditSink;
use crate::crypto::Keys;
use crate::jobs::JobStats;
use crate::masking::Masking;
use crate::module::{Module, Registry};
use crate::web::{AppState, Services};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use yiyang_core::{Actor, ActorKind, Clock, FixedClock, RequestContext, Scope};
use yiyang_store::{Db, DbOptions};

/// The environment variable naming the PostgreSQL server tests may create databases on.
pub const PG_ENV: &str = "YIYANG_TEST_DATABASE_URL";

/// Where skip lines are collected for `.ci/run`.
pub const SKIP_LOG_ENV: &str = "YIYANG_TEST_SKIP_LOG";

/// The backends a test runs on: SQLite always, PostgreSQL when configured (otherwise the
/// calling test records a skip of PostgreSQL).
pub fn backends() -> Vec<&'static str> {
    if pg_admin_url().is_some() {
        vec!["sqlite", "postgres"]
    } else {
        skip(
            "PostgreSQL",
            &format!("{PG_ENV} is not set; ran on SQLite only"),
        );
        vec!["sqlite"]
    }
}

/// Whether PostgreSQL is configured; records a skip when it is not (for tests that need it).
pub fn postgres_or_skip() -> bool {
    if pg_admin_url().is_some() {
        return true;
    }
    skip("PostgreSQL", &format!("{PG_ENV} is not set; test not run"));
    false
}

fn pg_admin_url() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())
}

/// Records that the current test did not run (part of) itself: a loud line on stderr and,
/// when `YIYANG_TEST_SKIP_LOG` is set, a line in that file.
pub fn skip(what: &str, reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string();
    let line = format!("SKIP [{what}] {test}: {reason}");
    eprintln!("\n!!!!!!!! {line} !!!!!!!!\n");
    if let Ok(path) = std::env::var(SKIP_LOG_ENV)
        && !path.is_empty()
    {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

static N: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty database of `backend` ("sqlite" or "postgres"); returns its URL.
pub async fn fresh_db_url(backend: &str) -> String {
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tag = format!("{}_{n}_{nanos}", std::process::id());
    if backend == "sqlite" {
        let dir = std::env::temp_dir().join(format!("yiyang-test-{tag}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        return format!("sqlite://{}/t.db", dir.display());
    }
    let admin = pg_admin_url().expect("YIYANG_TEST_DATABASE_URL is set");
    let db = Db::connect(&admin, &one_connection())
        .await
        .expect("connect to the test PostgreSQL");
    let name = format!("yyt_{tag}");
    db.execute(&format!("CREATE DATABASE {name}"), vec![])
        .await
        .expect("create test database");
    db.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

fn one_connection() -> DbOptions {
    DbOptions {
        max_connections: 1,
        ..Default::default()
    }
}

/// Drops a PostgreSQL database made by [`fresh_db_url`] (nothing for SQLite).
pub async fn drop_db(url: &str) {
    let (Some(admin), Some((_, name))) = (pg_admin_url(), url.rsplit_once('/')) else {
        return;
    };
    if !url.starts_with("postgres") {
        return;
    }
    if let Ok(db) = Db::connect(&admin, &one_connection()).await {
        let _ = db
            .execute(
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                vec![],
            )
            .await;
        db.close().await;
    }
}

/// The instant tests stand at: 2026-11-26 10:00 CST.
pub fn test_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-26T02:00:00Z")
        .expect("valid instant")
        .with_timezone(&chrono::Utc)
}

/// A module test's world: state over a fresh database with the modules prepared.
pub struct Harness {
    pub state: AppState,
    pub clock: FixedClock,
    pub backend: &'static str,
    url: String,
    audit_task: tokio::task::JoinHandle<()>,
}

impl Harness {
    /// A fresh database of `backend` with `modules` (in dependency order, the platform
    /// first) migrated and prepared, and test keys.
    pub async fn start(backend: &'static str, modules: Vec<Arc<dyn Module>>) -> Harness {
        let url = fresh_db_url(backend).await;
        let db = Db::connect(
            &url,
            &DbOptions {
                max_connections: 4,
                ..Default::default()
            },
        )
        .await
        .expect("connect to the test database");
        let clock = FixedClock::at(test_now());
        let registry = Arc::new(Registry::new(modules));
        registry
            .prepare(&db, clock.now_micros())
            .await
            .expect("migrations and reference data");
        let keys = Arc::new(Keys::for_tests());
        let (audit, audit_task) = AuditSink::start(db.clone());
        let state = AppState(Arc::new(Services {
            masking: Masking::new(db.clone(), keys.clone()),
            db,
            clock: Arc::new(clock.clone()),
            keys,
            audit,
            metrics: Arc::default(),
            job_stats: Arc::new(JobStats::default()),
            nav: registry.nav(),
            registry,
            cookie_secure: false,
            metrics_access: Default::default(),
        }));
        Harness {
            state,
            clock,
            backend,
            url,
            audit_task,
        }
    }

    /// The context of a user holding built-in `role` in institution `org` (city-wide when
    /// `None`), with exactly the permissions the modules grant that role.
    pub fn ctx(&self, role: &str, org: Option<i64>) -> RequestContext {
        let perms: BTreeSet<&str> = self
            .state
            .registry
            .role_grants()
            .into_iter()
            .filter(|(r, _)| r.code == role)
            .flat_map(|(_, p)| p)
            .collect();
        let scope = match org {
            Some(o) => Scope::Orgs([o].into()),
            None => Scope::City,
        };
        RequestContext {
            actor: Actor {
                kind: ActorKind::Account,
                id: 0,
                login: format!("test:{role}"),
                display_name: format!("测试 {role}"),
                roles: vec![role.to_string()],
                org_id: org,
            },
            grants: Arc::new(
                perms
                    .iter()
                    .map(|p| (p.to_string(), scope.clone()))
                    .collect(),
            ),
            clock: self.state.clock.clone(),
            request_id: "test".into(),
            client_addr: None,
        }
    }

    /// The platform's own context (every permission, city-wide).
    pub fn system(&self) -> RequestContext {
        RequestContext::system(self.state.clock.clone(), "test")
    }

    /// Flushes the audit writer, closes the database and drops it (PostgreSQL).
    pub async fn stop(self) {
        self.state.audit.flush().await;
        self.audit_task.abort();
        self.state.db.close().await;
        drop_db(&self.url).await;
    }
}
