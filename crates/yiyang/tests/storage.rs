//! Storage contract tests: the same story on SQLite and, when configured, PostgreSQL —
//! migrations, the job queue under concurrent workers, cron across nodes, retries, the
//! notification outbox, and the audit chain under concurrent writers.

mod common;

use common::{TestApp, backends, fresh_db_url, get_items};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use yiyang_platform::jobs::{self, Handler, JobStats, Worker};
use yiyang_store::{Db, DbOptions, args};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_a_second_run_changes_nothing() {
    for b in backends() {
        let url = fresh_db_url(b).await;
        let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
        let sets = yiyang::app::migrations();
        let first = yiyang_store::migrate(&db, &sets, 1).await.unwrap();
        assert_eq!(
            first,
            vec![
                "0001_platform".to_string(),
                "0013_platform_login_failures".to_string(),
                "0002_basedata".to_string(),
                "0014_basedata_submitted_by".to_string(),
                "0003_patients".to_string(),
                "0009_patients_block_key_cover".to_string(),
                "0011_patients_block_keys_pk".to_string(),
                "0004_integration".to_string(),
                "0005_integration_orders".to_string(),
                "0006_integration_observation_source".to_string(),
                "0007_integration_pipeline".to_string(),
                "0008_integration_subscriptions".to_string(),
                "0010_integration_lanes".to_string(),
                "0012_integration_channel_hours".to_string(),
                "0015_integration_critical_routing".to_string(),
                "0016_iot".to_string(),
            ],
            "{b}"
        );
        let second = yiyang_store::migrate(&db, &sets, 2).await.unwrap();
        assert!(second.is_empty(), "{b}");
        // Concurrent starts (several nodes) must not race.
        let url2 = fresh_db_url(b).await;
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let url2 = url2.clone();
            tasks.push(tokio::spawn(async move {
                let db = Db::connect(&url2, &DbOptions::default()).await.unwrap();
                yiyang_store::migrate(&db, &yiyang::app::migrations(), 1)
                    .await
                    .map(|v| v.len())
            }));
        }
        let mut applied = 0;
        for t in tasks {
            applied += t
                .await
                .unwrap()
                .expect("no migration error under concurrency");
        }
        assert_eq!(
            applied,
            first.len(),
            "each migration applied exactly once ({b})"
        );
        db.close().await;
    }
}

/// The bundled SQLite is built without memory statistics (`.cargo/config.toml`): with them,
/// every allocation takes one process-wide mutex, which the sqlx worker threads and the
/// async threads contended for (decision 0009).
#[tokio::test]
async fn bundled_sqlite_keeps_no_memory_statistics() {
    let url = fresh_db_url("sqlite").await;
    let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
    let opts: Vec<(String,)> = db
        .fetch_all("PRAGMA compile_options", vec![])
        .await
        .unwrap();
    assert!(
        opts.iter().any(|o| o.0 == "DEFAULT_MEMSTATUS=0"),
        "compile options: {opts:?}"
    );
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_row_inserts_write_every_row_once_in_any_chunking() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        // 1, 7 (4 + 2 + 1) and 1,100 rows (512 + 512 + 64 + 8 + 4 at two columns a row),
        // twice over: the second pass conflicts on every key and changes nothing.
        for pass in 0..2 {
            let mut tx = db.begin().await.unwrap();
            let mut written = 0;
            for (start, n) in [(0_i64, 1_i64), (1, 7), (8, 1100)] {
                let rows: Vec<_> = (start..start + n)
                    .map(|i| args![format!("k{i}"), format!("v{i}")])
                    .collect();
                written += tx
                    .insert_rows(
                        "INSERT INTO settings (key, value)",
                        2,
                        rows,
                        "ON CONFLICT (key) DO NOTHING",
                    )
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
            assert_eq!(written, if pass == 0 { 1108 } else { 0 }, "{b} pass {pass}");
        }
        let (n, distinct, last): (i64, i64, String) = db
            .fetch_one(
                "SELECT COUNT(*), COUNT(DISTINCT value), MAX(CASE WHEN key = 'k1107' THEN value END) FROM settings WHERE key LIKE 'k%'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!((n, distinct, last.as_str()), (1108, 1108, "v1107"), "{b}");
        app.stop().await;
    }
}

/// `insert_rows_returning` (PostgreSQL: one `UNNEST` statement over column arrays; SQLite:
/// `VALUES` chunks) keeps every value type and NULL, skips conflicting rows, and falls back
/// to `VALUES` when a column mixes value types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_rows_returning_keeps_types_nulls_and_conflicts() {
    type Got = (
        i64,
        Option<i64>,
        Option<String>,
        Option<bool>,
        Option<Vec<u8>>,
        Option<f64>,
    );
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        db.execute(
            "CREATE TABLE insert_types (id BIGINT PRIMARY KEY, n BIGINT, t TEXT, b BOOLEAN, x BYTEA, f DOUBLE PRECISION)",
            vec![],
        )
        .await
        .unwrap();
        let head = "INSERT INTO insert_types (id, n, t, b, x, f)";
        let tail = "ON CONFLICT (id) DO NOTHING RETURNING id, n, t, b, x, f";
        let mut tx = db.begin().await.unwrap();
        let rows = vec![
            args![1_i64, 10_i64, "一", true, vec![0_u8, 255], 1.5_f64],
            args![
                2_i64,
                None::<i64>,
                None::<String>,
                None::<bool>,
                None::<Vec<u8>>,
                None::<f64>
            ],
            // Same key as the first row: skipped, not an error.
            args![1_i64, 11_i64, "again", false, vec![1_u8], 2.5_f64],
        ];
        let mut got: Vec<Got> = tx.insert_rows_returning(head, 6, rows, tail).await.unwrap();
        got.sort_by_key(|g| g.0);
        assert_eq!(
            got,
            vec![
                (
                    1,
                    Some(10),
                    Some("一".into()),
                    Some(true),
                    Some(vec![0, 255]),
                    Some(1.5)
                ),
                (2, None, None, None, None, None),
            ],
            "{b}"
        );
        // A column of numbers and texts (the text column `t`) goes row by row in VALUES.
        let rows = vec![
            args![2_i64, 0_i64, "dup", false, Vec::<u8>::new(), 0.0_f64],
            args![3_i64, 30_i64, 33_i64, false, vec![3_u8], 3.0_f64],
            args![4_i64, 40_i64, "四", false, vec![4_u8], 4.0_f64],
        ];
        let mut got: Vec<Got> = tx.insert_rows_returning(head, 6, rows, tail).await.unwrap();
        got.sort_by_key(|g| g.0);
        let ids: Vec<(i64, Option<String>)> = got.into_iter().map(|g| (g.0, g.2)).collect();
        assert_eq!(
            ids,
            vec![(3, Some("33".into())), (4, Some("四".into()))],
            "{b}"
        );
        tx.commit().await.unwrap();
        let (n,): (i64,) = db
            .fetch_one("SELECT COUNT(*) FROM insert_types", vec![])
            .await
            .unwrap();
        assert_eq!(n, 4, "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_violations_become_conflicts_and_leave_the_row_alone() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        let e = db
            .execute(
                "INSERT INTO settings (key, value) VALUES ('demo_seeded', 'again')",
                vec![],
            )
            .await
            .unwrap_err();
        assert_eq!((e.code, e.status), ("common.duplicate", 409), "{b}");
        let (v,): (String,) = db
            .fetch_one(
                "SELECT value FROM settings WHERE key = 'demo_seeded'",
                vec![],
            )
            .await
            .unwrap();
        assert_ne!(v, "again");
        // A failed statement inside a transaction rolls the whole transaction back.
        let mut tx = db.begin().await.unwrap();
        tx.execute(
            "INSERT INTO settings (key, value) VALUES ('a', '1')",
            vec![],
        )
        .await
        .unwrap();
        assert!(
            tx.execute(
                "INSERT INTO settings (key, value) VALUES ('a', '2')",
                vec![]
            )
            .await
            .is_err()
        );
        drop(tx);
        let n = db
            .scalar("SELECT COUNT(*) FROM settings WHERE key = 'a'", vec![])
            .await
            .unwrap();
        assert_eq!(n, 0, "{b}");
        app.stop().await;
    }
}

fn counting_handler(counter: Arc<AtomicUsize>, seen: Arc<std::sync::Mutex<Vec<i64>>>) -> Handler {
    Arc::new(move |payload| {
        let (counter, seen) = (counter.clone(), seen.clone());
        Box::pin(async move {
            counter.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().push(payload["n"].as_i64().unwrap());
            Ok(())
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_run_every_job_exactly_once() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let st = &app.state;
        // An empty queue: the demo city's own jobs (its critical values' notices and
        // escalations) are not this test's.
        st.db.execute("DELETE FROM jobs", vec![]).await.unwrap();
        let now = st.clock.now_micros();
        for n in 0..60 {
            jobs::enqueue(
                &st.db,
                "test.count",
                &serde_json::json!({ "n": n }),
                now,
                now,
            )
            .await
            .unwrap();
        }
        let counter = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..4 {
            let mut handlers: HashMap<String, Handler> = HashMap::new();
            handlers.insert(
                "test.count".into(),
                counting_handler(counter.clone(), seen.clone()),
            );
            let worker = Worker::new(st.db.clone(), st.clock.clone(), handlers, format!("w{w}"));
            tasks.push(tokio::spawn(async move {
                worker.run_due(&JobStats::default()).await.unwrap()
            }));
        }
        let mut ran = 0;
        for t in tasks {
            ran += t.await.unwrap();
        }
        assert_eq!(ran, 60, "{b}");
        assert_eq!(counter.load(Ordering::SeqCst), 60, "{b}");
        let mut s = seen.lock().unwrap().clone();
        s.sort();
        assert_eq!(s, (0..60).collect::<Vec<_>>(), "{b}");
        let done = st
            .db
            .scalar(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'test.count' AND status = 'done'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(done, 60);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_jobs_back_off_then_die_and_can_be_retried() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let st = &app.state;
        // An empty queue: the demo city's own jobs (its critical values' notices and
        // escalations) are not this test's.
        st.db.execute("DELETE FROM jobs", vec![]).await.unwrap();
        let now = st.clock.now_micros();
        let id = jobs::enqueue(&st.db, "test.fail", &serde_json::json!({}), now, now)
            .await
            .unwrap();
        let mut handlers: HashMap<String, Handler> = HashMap::new();
        handlers.insert(
            "test.fail".into(),
            Arc::new(|_| Box::pin(async { Err("网关超时".to_string()) })),
        );
        let worker = Worker::new(st.db.clone(), st.clock.clone(), handlers, "w".into());
        let stats = JobStats::default();
        assert_eq!(worker.run_due(&stats).await.unwrap(), 1);
        // Not due again until the backoff has passed.
        assert_eq!(worker.run_due(&stats).await.unwrap(), 0, "{b}");
        let (status, run_at, err): (String, i64, String) = st
            .db
            .fetch_one(
                "SELECT status, run_at, last_error FROM jobs WHERE id = $1",
                args![id],
            )
            .await
            .unwrap();
        assert_eq!((status.as_str(), err.as_str()), ("queued", "网关超时"));
        assert_eq!(run_at - now, jobs::backoff_micros(1));
        for _ in 0..4 {
            app.clock.advance(chrono::Duration::hours(2));
            worker.run_due(&stats).await.unwrap();
        }
        let (status,): (String,) = st
            .db
            .fetch_one("SELECT status FROM jobs WHERE id = $1", args![id])
            .await
            .unwrap();
        assert_eq!(status, "dead", "{b}");
        jobs::retry(&st.db, &app.system(), id).await.unwrap();
        let (status, attempts): (String, i64) = st
            .db
            .fetch_one("SELECT status, attempts FROM jobs WHERE id = $1", args![id])
            .await
            .unwrap();
        assert_eq!((status.as_str(), attempts), ("queued", 0));
        assert!(
            jobs::retry(&st.db, &app.system(), id).await.is_err(),
            "only dead jobs are retried"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_occurrence_is_enqueued_once_even_with_two_nodes() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let st = &app.state;
        app.clock.advance(chrono::Duration::days(1));
        let w1 = Worker::new(st.db.clone(), st.clock.clone(), HashMap::new(), "a".into());
        let w2 = Worker::new(st.db.clone(), st.clock.clone(), HashMap::new(), "b".into());
        let stats = JobStats::default();
        let (r1, r2) = tokio::join!(w1.run_due(&stats), w2.run_due(&stats));
        r1.unwrap();
        r2.unwrap();
        let n = st
            .db
            .scalar(
                "SELECT COUNT(*) FROM jobs WHERE schedule = '证照到期提醒'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(n, 1, "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_licences_reach_the_institution_admins_inbox_once_a_day() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let st = &app.state;
        let worker = yiyang::app::worker(st, "t".into());
        let sent = yiyang_basedata::service::warn_expiring_licences(st)
            .await
            .unwrap();
        assert!(sent >= 3, "{b}: {sent}");
        worker.run_due(&JobStats::default()).await.unwrap();
        let (c, _) = app.login("hospadmin").await;
        let inbox = get_items(&c, app.url("/api/v1/inbox")).await;
        let titles: Vec<&str> = inbox.iter().map(|m| m["title"].as_str().unwrap()).collect();
        assert!(titles.contains(&"执业证书已过期"), "{b}: {titles:?}");
        assert!(titles.contains(&"执业证书即将到期"), "{b}: {titles:?}");
        // The nursing home's admin hears nothing about the hospital's staff.
        let (nh, _) = app.login("nhadmin").await;
        let inbox = get_items(&nh, app.url("/api/v1/inbox")).await;
        assert!(inbox.is_empty(), "{b}");
        assert_eq!(
            yiyang_basedata::service::warn_expiring_licences(st)
                .await
                .unwrap(),
            0,
            "once a day"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_audit_writers_keep_one_linear_chain() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let st = &app.state;
        let ctx = app.system();
        let mut tasks = Vec::new();
        for w in 0..4 {
            let (db, ctx) = (st.db.clone(), ctx.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let mut tx = db.begin().await.unwrap();
                    let e = yiyang_platform::audit::AuditEntry::new(
                        &ctx,
                        "test.write",
                        "thing",
                        format!("{w}-{i}"),
                    );
                    yiyang_platform::audit::append(&mut tx, &[e]).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }));
        }
        for i in 0..200 {
            st.audit
                .record(yiyang_platform::audit::AuditEntry::new(
                    &ctx,
                    "test.read",
                    "thing",
                    i,
                ))
                .await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        st.audit.flush().await;
        let r = yiyang_platform::audit::verify(&st.db).await.unwrap();
        assert!(r.first_broken.is_none(), "{b}: {r:?}");
        let n = st
            .db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'test.%'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(n, 300, "{b}");
        app.stop().await;
    }
}

/// Keys with data key versions `versions` (1 = the test key, 2 = the rotated one).
fn keys_with(versions: &[u8]) -> yiyang_platform::crypto::Keys {
    let data = versions
        .iter()
        .map(|v| (*v, if *v == 1 { [1; 32] } else { [9; 32] }))
        .collect();
    yiyang_platform::crypto::Keys::new(data, [2; 32], [3; 32], [4; 32]).unwrap()
}

/// Non-empty values of every declared encrypted column.
async fn encrypted_values(db: &yiyang_store::Db) -> Vec<(String, i64)> {
    let mut v = Vec::new();
    for c in yiyang::keys::encrypted_columns() {
        let n = db
            .scalar(
                &format!(
                    "SELECT COUNT(*) FROM {} WHERE {} IS NOT NULL",
                    c.table, c.cipher_column
                ),
                vec![],
            )
            .await
            .unwrap();
        v.push((format!("{}.{}", c.table, c.cipher_column), n));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_rewrap_and_drop_the_old_key_keeps_every_encrypted_value_readable() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let st = &app.state;
        // A webhook subscription, so every declared column holds at least one value.
        let hosp = app.org_id("MZ-HOSP-01").await;
        let input: yiyang_integration::outbound::SubscriptionInput =
            serde_json::from_value(serde_json::json!({
                "org_id": hosp, "name": "区域平台", "kind": "webhook",
                "url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef0123",
                "events": ["encounter.admitted"]
            }))
            .unwrap();
        yiyang_integration::outbound::create(st, &app.system(), input)
            .await
            .unwrap();
        let values = encrypted_values(&st.db).await;
        assert!(values.iter().all(|(_, n)| *n > 0), "{b}: {values:?}");
        let total: i64 = values.iter().map(|(_, n)| n).sum();

        let rotated = yiyang::app::Platform::start(
            st.db.clone(),
            keys_with(&[1, 2]),
            st.clock.clone(),
            false,
        )
        .await;
        let n = yiyang::keys::rewrap(&rotated.state).await.unwrap();
        assert_eq!(
            n as i64, total,
            "{b}: every encrypted value is re-encrypted"
        );
        assert_eq!(
            yiyang::keys::rewrap(&rotated.state).await.unwrap(),
            0,
            "{b}"
        );
        rotated.shutdown().await;

        // The old key is gone: every value of every declared column still decrypts.
        let new_only = keys_with(&[2]);
        let read = yiyang_platform::module::decrypt_all(
            &st.db,
            &new_only,
            &yiyang::keys::encrypted_columns(),
        )
        .await
        .unwrap();
        assert_eq!(read as i64, total, "{b}");
        let only_new =
            yiyang::app::Platform::start(st.db.clone(), new_only, st.clock.clone(), false).await;
        // The search by ID number still works: the blind index does not depend on the data key.
        let ctx = app.system();
        let birth = chrono::NaiveDate::from_ymd_opt(1978, 4, 12).unwrap();
        let q = yiyang_basedata::service::StaffQuery {
            q: Some(yiyang_core::idnumber::compose("441402", birth, 31)),
            ..Default::default()
        };
        let found =
            yiyang_basedata::service::list_staff(&only_new.state, &ctx, &q, &Default::default())
                .await
                .unwrap();
        assert_eq!(found.len(), 1, "{b}");
        only_new.shutdown().await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_encrypted_column_in_the_schema_is_declared_for_rewrap() {
    let app = TestApp::start("sqlite").await;
    // Every BLOB column of the schema: a `*_cipher` column must be declared, and any other
    // BLOB column must not hold values written by `Keys::encrypt` (version byte + nonce + tag).
    let cols: Vec<(String, String)> = app
        .state
        .db
        .fetch_all(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND upper(p.type) = 'BLOB' ORDER BY 1, 2",
            vec![],
        )
        .await
        .unwrap();
    let declared = yiyang::keys::encrypted_columns();
    assert!(cols.iter().any(|(_, c)| c.ends_with("_cipher")));
    for (t, c) in &cols {
        let is_declared = declared
            .iter()
            .any(|d| d.table == t && d.cipher_column == c);
        if c.ends_with("_cipher") {
            assert!(
                is_declared,
                "{t}.{c} is encrypted but not declared in any module"
            );
        }
    }
    for d in &declared {
        assert!(
            cols.iter()
                .any(|(t, c)| t == d.table && c == d.cipher_column),
            "declared {}.{} is not a BLOB column",
            d.table,
            d.cipher_column
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_seed_the_demo_city_once() {
    // PostgreSQL only: several nodes share it. (One SQLite file serves one node.)
    if !yiyang_platform::testing::postgres_or_skip() {
        return;
    }
    let url = fresh_db_url("postgres").await;
    let a = TestApp::start_on("postgres", url.clone(), false).await;
    let b = TestApp::start_on("postgres", url.clone(), false).await;
    let (ra, rb) = tokio::join!(
        yiyang::seed::seed_demo(&a.state),
        yiyang::seed::seed_demo(&b.state)
    );
    let (ra, rb) = (
        ra.expect("node a seeds or skips"),
        rb.expect("node b seeds or skips"),
    );
    assert!(ra ^ rb, "exactly one node seeds: {ra} {rb}");
    let n = a
        .state
        .db
        .scalar("SELECT COUNT(*) FROM orgs", vec![])
        .await
        .unwrap();
    assert_eq!(n, 6);
    b.stop().await;
    a.stop().await;
    common::drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_channels_post_to_the_operators_gateway_and_retry_when_it_fails() {
    use std::sync::Mutex;
    let app = TestApp::start("sqlite").await;
    let st = &app.state;
    // A stand-in SMS gateway on loopback that fails the first call and records the rest.
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let (s2, c2) = (seen.clone(), calls.clone());
    let gw = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let (s, c) = (s2.clone(), c2.clone());
            async move {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                s.lock().unwrap().push(v);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, gw).await.unwrap() });
    let account: i64 = st
        .db
        .scalar("SELECT id FROM accounts WHERE login = 'hospadmin'", vec![])
        .await
        .unwrap();
    st.db
        .execute(
            "UPDATE accounts SET phone = '13800001234' WHERE id = $1",
            args![account],
        )
        .await
        .unwrap();
    let now = st.clock.now_micros();
    let mut tx = st.db.begin().await.unwrap();
    let n = yiyang_platform::notify::send_in(
        &mut tx,
        now,
        &[yiyang_platform::notify::Notification {
            account_id: account,
            title: "危急值提醒".into(),
            body: "患者血钾 6.8 mmol/L".into(),
            link: "/persons/1".into(),
            channel: "sms".into(),
            dedupe_key: None,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n, 1);
    let gateway: Arc<dyn yiyang_platform::notify::Channel> = Arc::new(
        yiyang_platform::notify::GatewayChannel::new("sms", url, None),
    );
    let worker = yiyang::app::worker_with(st, "t".into(), vec![gateway]);
    worker.run_due(&JobStats::default()).await.unwrap();
    assert!(seen.lock().unwrap().is_empty(), "first call failed");
    let (status,): (String,) = st
        .db
        .fetch_one("SELECT status FROM outbox WHERE channel = 'sms'", vec![])
        .await
        .unwrap();
    assert_eq!(status, "pending");
    app.clock.advance(chrono::Duration::minutes(1));
    worker.run_due(&JobStats::default()).await.unwrap();
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "retried after the backoff");
    assert_eq!(got[0]["phone"], "13800001234");
    assert_eq!(got[0]["title"], "危急值提醒");
    let (status,): (String,) = st
        .db
        .fetch_one("SELECT status FROM outbox WHERE channel = 'sms'", vec![])
        .await
        .unwrap();
    assert_eq!(status, "sent");
    app.stop().await;
}
