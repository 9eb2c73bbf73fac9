//! Opening a database (SQLite file or PostgreSQL URL), the pool, and cluster-wide locks.

use crate::sqlite::{BUSY_LIMIT, checkpointer, sqlite_pool};
use crate::{Backend, Db, SqliteDb, SqliteTx, Tx, db_err};
use sqlx::Postgres;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;
use yiyang_core::{AppError, AppResult};

/// Options for opening a database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Pooled connections; SQLite opens one more, its write connection.
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl Db {
    /// Opens `sqlite://path` (created if missing, WAL mode) or `postgres://…`.
    pub async fn connect(url: &str, opts: &DbOptions) -> AppResult<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let co = sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(|e| AppError::new("store.url", 400, format!("数据库地址无效：{e}")))?
                // Short statements: compiling one with the JIT (chosen when PostgreSQL's
                // estimate is high) cost more than running it.
                .options([("jit", "off")])
                // Room for the multi-row inserts' statements (`Tx::insert_rows`) beside the
                // rest; the default of 100 would evict them.
                .statement_cache_capacity(1024);
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(co)
                .await
                .map_err(|e| {
                    AppError::new(
                        "store.connect",
                        503,
                        format!("无法连接 PostgreSQL 数据库：{e}"),
                    )
                })?;
            return Ok(Db::Pg(pool));
        }
        if url.starts_with("sqlite:") {
            let co = SqliteConnectOptions::from_str(url)
                .map_err(|e| AppError::new("store.url", 400, format!("数据库地址无效：{e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                // (Replaced after connecting by `install_busy_handler`, same limit.)
                .busy_timeout(BUSY_LIMIT)
                // Pages through the OS page cache by memory map (no read syscall per page)
                // and a larger page cache per connection: index seeks dominate the write path.
                .pragma("mmap_size", "1073741824")
                .pragma("cache_size", "-32768")
                // Savepoint journals (one per processed message or run) and sort space in
                // memory: as temporary files each savepoint created, wrote, truncated and
                // deleted a file.
                .pragma("temp_store", "memory")
                // Checkpoints run beside the writers (below), not inside a commit that
                // happens to cross the WAL size limit.
                .pragma("wal_autocheckpoint", "0")
                // The WAL restarts from its start after a full checkpoint (below) rather
                // than being truncated; when it restarts it is cut back to 64 MB.
                .pragma("journal_size_limit", "67108864");
            let pool = sqlite_pool(
                SqlitePoolOptions::new().max_connections(opts.max_connections),
                &co,
                opts,
            )
            .await?;
            let writer = sqlite_pool(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None),
                &co.clone()
                    .statement_cache_capacity(1024)
                    .pragma("cache_size", "-262144"),
                opts,
            )
            .await?;
            tokio::spawn(checkpointer(pool.clone()));
            return Ok(Db::Sqlite(SqliteDb {
                pool,
                writer,
                write: Default::default(),
                wait: opts.acquire_timeout,
            }));
        }
        Err(AppError::new(
            "store.url",
            400,
            "数据库地址须以 sqlite: 或 postgres:// 开头",
        ))
    }

    /// Which database this is (file or host and name): a key for caches of facts about one
    /// database's contents, in a process that may open several (tests).
    pub fn identity(&self) -> String {
        match self {
            Db::Sqlite(s) => format!(
                "sqlite:{}",
                s.pool.connect_options().get_filename().display()
            ),
            Db::Pg(p) => {
                let o = p.connect_options();
                format!(
                    "postgres://{}:{}/{}",
                    o.get_host(),
                    o.get_port(),
                    o.get_database().unwrap_or_default()
                )
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Pg(_) => Backend::Postgres,
        }
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> AppResult<Tx> {
        match self {
            Db::Sqlite(d) => {
                let turn = tokio::time::timeout(d.wait, d.write.clone().lock_owned())
                    .await
                    .map_err(|_| AppError::new("common.busy", 503, "系统繁忙，请稍后重试"))?;
                let tx = d
                    .writer
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(db_err)?;
                Ok(Tx::Sqlite(SqliteTx { tx, _turn: turn }))
            }
            Db::Pg(p) => p.begin().await.map(Tx::Pg).map_err(db_err),
        }
    }

    /// Pool statistics for metrics: (size, idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        match self {
            Db::Sqlite(d) => (d.pool.size(), d.pool.num_idle()),
            Db::Pg(p) => (p.size(), p.num_idle()),
        }
    }

    /// A cheap round trip for readiness checks.
    pub async fn ping(&self) -> AppResult<()> {
        self.scalar("SELECT CAST(1 AS BIGINT)", vec![])
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(d) => {
                d.writer.close().await;
                d.pool.close().await
            }
            Db::Pg(p) => p.close().await,
        }
    }
}

/// A cluster-wide lock held on one connection (PostgreSQL advisory lock). On SQLite the
/// database file admits one writer at a time, so the guard holds nothing.
pub struct LockGuard {
    conn: Option<sqlx::pool::PoolConnection<Postgres>>,
    key: i64,
}

impl LockGuard {
    pub async fn release(mut self) {
        if let Some(c) = self.conn.as_mut() {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut **c)
                .await;
        }
    }
}

impl Db {
    /// Waits for the lock `key`; several nodes doing the same start-up work take turns.
    pub async fn lock(&self, key: i64) -> AppResult<LockGuard> {
        match self {
            Db::Pg(p) => {
                let mut c = p.acquire().await.map_err(db_err)?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(key)
                    .execute(&mut *c)
                    .await
                    .map_err(db_err)?;
                Ok(LockGuard { conn: Some(c), key })
            }
            Db::Sqlite(_) => Ok(LockGuard { conn: None, key }),
        }
    }

    /// Takes the lock `key` if nobody holds it. A holder that dies releases it with its
    /// connection, so another node can take over its work.
    pub async fn try_lock(&self, key: i64) -> AppResult<Option<LockGuard>> {
        match self {
            Db::Pg(p) => {
                let mut c = p.acquire().await.map_err(db_err)?;
                let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(db_err)?;
                Ok(got.then_some(LockGuard { conn: Some(c), key }))
            }
            Db::Sqlite(_) => Ok(Some(LockGuard { conn: None, key })),
        }
    }
}
