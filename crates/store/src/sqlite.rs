//! SQLite specifics: the process's fair write queue, the busy handler and the WAL checkpointer.

use crate::DbOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Sqlite, Transaction};
use std::time::Duration;
use yiyang_core::{AppError, AppResult};

/// A SQLite pool with the process's write queue. SQLite admits one writer at a time; writers
/// of this process wait their turn in a fair (first come, first served) queue instead of in
/// SQLite's busy handler, whose growing sleeps starve some writers and add latency to all.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pub pool: SqlitePool,
    /// The one connection write transactions run on. SQLite clears a connection's page
    /// cache (and unmaps its memory map) whenever another connection has written since its
    /// last transaction; with every write on one connection its cache stays warm.
    pub(crate) writer: SqlitePool,
    pub(crate) write: std::sync::Arc<tokio::sync::Mutex<()>>,
    pub(crate) wait: Duration,
}

/// A SQLite write transaction holding its turn in the write queue until it ends.
pub struct SqliteTx {
    pub(crate) tx: Transaction<'static, Sqlite>,
    pub(crate) _turn: tokio::sync::OwnedMutexGuard<()>,
}

/// Opens a SQLite pool with `co`, each connection with [`install_busy_handler`].
pub(crate) async fn sqlite_pool(
    po: SqlitePoolOptions,
    co: &SqliteConnectOptions,
    opts: &DbOptions,
) -> AppResult<SqlitePool> {
    let po = po
        .acquire_timeout(opts.acquire_timeout)
        .after_connect(|conn, _| {
            Box::pin(async move {
                let mut h = conn.lock_handle().await?;
                install_busy_handler(h.as_raw_handle().as_ptr());
                Ok(())
            })
        });
    // Switching a new file to WAL needs a moment of exclusive access; processes opening
    // the same new file together can see "database is locked" once, so try again.
    let mut attempt = 0;
    loop {
        match po.clone().connect_with(co.clone()).await {
            Ok(p) => return Ok(p),
            Err(e) if attempt < 5 && e.to_string().contains("locked") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => {
                return Err(AppError::new(
                    "store.connect",
                    503,
                    format!("无法打开 SQLite 数据库：{e}"),
                ));
            }
        }
    }
}

/// How long a connection retries a locked database before it reports "database is locked".
pub(crate) const BUSY_LIMIT: Duration = Duration::from_secs(10);

/// Replaces SQLite's busy timeout, whose sleeps grow to 100 ms (1, 2, 5, 10, 15, 20, 25, 25,
/// 25, 50, 50, 100 ms): a writer waiting out a lock held for 10 ms sleeps on to ~18 ms, and
/// one held 40 ms to ~78 ms. This handler sleeps 50 µs, growing to 1 ms, so a waiter gets
/// the lock within a millisecond of its release.
fn install_busy_handler(db: *mut libsqlite3_sys::sqlite3) {
    extern "C" fn busy(_: *mut std::ffi::c_void, count: std::ffi::c_int) -> std::ffi::c_int {
        let n = count.max(0) as u64;
        // 50 µs × (n + 1) for the first 20 tries (~10.5 ms in all), then 1 ms a try.
        let (sleep, waited) = if n < 20 {
            (50 * (n + 1), 25 * n * (n + 1))
        } else {
            (1_000, 10_500 + 1_000 * (n - 20))
        };
        if waited >= BUSY_LIMIT.as_micros() as u64 {
            return 0;
        }
        if n == 20 || n == 200 {
            tracing::debug!(tries = n, waited_us = waited, "sqlite busy wait");
        }
        std::thread::sleep(Duration::from_micros(sleep));
        1
    }
    // SAFETY: `db` is an open handle locked out of sqlx's worker for this call; the callback
    // takes no user data.
    unsafe {
        libsqlite3_sys::sqlite3_busy_handler(db, Some(busy), std::ptr::null_mut());
    }
}

/// Copies the WAL back into the database every second without blocking writers (PASSIVE),
/// and once it has grown past 64 MB and is fully copied, makes the next writer start it
/// again from the beginning (RESTART; `journal_size_limit` then cuts the file to 64 MB).
/// RESTART holds the write lock 8–26 ms here; TRUNCATE, which this replaced, also shortens
/// the file while holding it, 30–57 ms, and so set the ACK latency p99 at 1,000 msg/s
/// (docs/benchmarks-integration.md, session 6). Stops with the pool.
pub(crate) async fn checkpointer(pool: SqlitePool) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if pool.is_closed() {
            return;
        }
        let t0 = std::time::Instant::now();
        let r: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        tracing::debug!(ms = t0.elapsed().as_secs_f64() * 1e3, result = ?r.as_ref().ok(), "sqlite checkpoint");
        match r {
            // (busy, WAL pages, pages copied): everything copied and the WAL is large.
            Ok((0, log, done)) if log > 16_384 && log == done => {
                let t0 = std::time::Instant::now();
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "sqlite WAL restart failed");
                }
                tracing::debug!(
                    ms = t0.elapsed().as_secs_f64() * 1e3,
                    "sqlite WAL restarted"
                );
            }
            Ok(_) => {}
            Err(_) if pool.is_closed() => return,
            Err(e) => tracing::warn!(error = %e, "sqlite checkpoint failed"),
        }
    }
}
