//! One implementation of data access for SQLite and PostgreSQL.
//!
//! SQL is written once in the subset both databases share, with `$1, $2 …` parameters
//! (SQLite binds `$N` by number too). Values are passed as [`Arg`]s, rows are decoded with
//! `#[derive(sqlx::FromRow)]`. Timestamps are `BIGINT` microseconds since the epoch, ids are
//! `BIGINT`, flags `BOOLEAN`, blobs use the `{blob}` token in migrations. Backend-specific
//! fast paths sit behind narrow functions ([`Db::backend`] lets a caller choose one).

mod migrate;

pub use migrate::{Migration, migrate};

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, FromRow, Postgres, Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;
use yiyang_core::{AppError, AppResult};

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to either database, chosen by URL scheme.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqliteDb),
    Pg(PgPool),
}

/// A SQLite pool with the process's write queue. SQLite admits one writer at a time; writers
/// of this process wait their turn in a fair (first come, first served) queue instead of in
/// SQLite's busy handler, whose growing sleeps starve some writers and add latency to all.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pub pool: SqlitePool,
    /// The one connection write transactions run on. SQLite clears a connection's page
    /// cache (and unmaps its memory map) whenever another connection has written since its
    /// last transaction; with every write on one connection its cache stays warm.
    writer: SqlitePool,
    write: std::sync::Arc<tokio::sync::Mutex<()>>,
    wait: Duration,
}

/// A SQLite write transaction holding its turn in the write queue until it ends.
pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

/// A bound parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    I64(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
    F64(Option<f64>),
}

macro_rules! arg_from {
    ($t:ty, $v:ident, $e:expr) => {
        impl From<$t> for Arg {
            fn from(x: $t) -> Self {
                let f = |$v: $t| $e;
                f(x)
            }
        }
    };
}
arg_from!(i64, v, Arg::I64(Some(v)));
arg_from!(Option<i64>, v, Arg::I64(v));
arg_from!(&i64, v, Arg::I64(Some(*v)));
arg_from!(bool, v, Arg::Bool(Some(v)));
arg_from!(Option<bool>, v, Arg::Bool(v));
arg_from!(String, v, Arg::Text(Some(v)));
arg_from!(&String, v, Arg::Text(Some(v.clone())));
arg_from!(&str, v, Arg::Text(Some(v.to_string())));
arg_from!(Option<String>, v, Arg::Text(v));
arg_from!(Option<&str>, v, Arg::Text(v.map(str::to_string)));
arg_from!(&Option<String>, v, Arg::Text(v.clone()));
arg_from!(Vec<u8>, v, Arg::Bytes(Some(v)));
arg_from!(Option<Vec<u8>>, v, Arg::Bytes(v));
arg_from!(f64, v, Arg::F64(Some(v)));
arg_from!(Option<f64>, v, Arg::F64(v));

/// Builds a `Vec<Arg>` from values of mixed types.
#[macro_export]
macro_rules! args {
    ($($e:expr),* $(,)?) => { vec![$($crate::Arg::from($e)),*] };
}

/// A row type decodable from both databases.
pub trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// Maps database errors onto the platform's error contract.
pub fn db_err(e: sqlx::Error) -> AppError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return AppError::conflict("common.duplicate", "记录已存在（与现有数据重复）");
        }
        if d.is_foreign_key_violation() {
            return AppError::conflict("common.reference", "关联的记录不存在或仍被引用");
        }
    }
    if matches!(e, sqlx::Error::PoolTimedOut) {
        return AppError::new("common.busy", 503, "系统繁忙，请稍后重试");
    }
    AppError::internal(e)
}

/// The statement as SQLite should see it. SQLite looks up each `$N` parameter by name in a
/// list, when parsing and again when sqlx binds it, which is quadratic in the number of
/// parameters: a multi-row insert of 2,000 values spent most of its time there. When the
/// parameters appear once each, in order (`$1`, `$2`, … as the multi-row builders write
/// them), anonymous `?` parameters mean the same and cost nothing to look up.
fn sqlite_sql(sql: &str, nargs: usize) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if nargs < 16 {
        return Cow::Borrowed(sql);
    }
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut expect = 1usize;
    let mut quoted = false;
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => quoted = !quoted,
            b'$' if !quoted => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                match sql[start..j].parse::<usize>() {
                    Ok(n) if n == expect => {
                        out.push_str(&sql[last..i]);
                        out.push('?');
                        last = j;
                        expect += 1;
                        i = j;
                        continue;
                    }
                    _ => return Cow::Borrowed(sql),
                }
            }
            _ => {}
        }
        i += 1;
    }
    if expect != nargs + 1 {
        return Cow::Borrowed(sql);
    }
    out.push_str(&sql[last..]);
    Cow::Owned(out)
}

/// Binds each value of `$args` ([`Arg`]s, or with `$E` = `Column` whole columns) to `$q`.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {
        bind_all!($q, $args, Arg)
    };
    ($q:expr, $args:expr, $E:ident) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                $E::I64(v) => q.bind(v),
                $E::Text(v) => q.bind(v),
                $E::Bool(v) => q.bind(v),
                $E::Bytes(v) => q.bind(v),
                $E::F64(v) => q.bind(v),
            };
        }
        q
    }};
}

/// One column of a multi-row insert, bound as a PostgreSQL array.
enum Column {
    I64(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
    Bytes(Vec<Option<Vec<u8>>>),
    F64(Vec<Option<f64>>),
}

/// `SELECT * FROM UNNEST($1::int8[], …)` over `rows` turned into columns, or the rows back
/// when a column mixes value types (then they go as `VALUES`).
fn pg_columns(width: usize, rows: Vec<Vec<Arg>>) -> Result<(String, Vec<Column>), Vec<Vec<Arg>>> {
    let Some(first) = rows.first() else {
        return Err(rows);
    };
    let same = rows.iter().all(|r| {
        r.len() == width
            && r.iter()
                .zip(first)
                .all(|(a, b)| std::mem::discriminant(a) == std::mem::discriminant(b))
    });
    if !same || width == 0 {
        return Err(rows);
    }
    let n = rows.len();
    let mut cols: Vec<Column> = first
        .iter()
        .map(|a| match a {
            Arg::I64(_) => Column::I64(Vec::with_capacity(n)),
            Arg::Text(_) => Column::Text(Vec::with_capacity(n)),
            Arg::Bool(_) => Column::Bool(Vec::with_capacity(n)),
            Arg::Bytes(_) => Column::Bytes(Vec::with_capacity(n)),
            Arg::F64(_) => Column::F64(Vec::with_capacity(n)),
        })
        .collect();
    let mut sql = String::from("SELECT * FROM UNNEST(");
    for (k, c) in cols.iter().enumerate() {
        if k > 0 {
            sql.push_str(", ");
        }
        let ty = match c {
            Column::I64(_) => "int8",
            Column::Text(_) => "text",
            Column::Bool(_) => "bool",
            Column::Bytes(_) => "bytea",
            Column::F64(_) => "float8",
        };
        sql.push_str(&format!("${}::{ty}[]", k + 1));
    }
    sql.push(')');
    for row in rows {
        for (a, c) in row.into_iter().zip(cols.iter_mut()) {
            match (a, c) {
                (Arg::I64(v), Column::I64(c)) => c.push(v),
                (Arg::Text(v), Column::Text(c)) => c.push(v),
                (Arg::Bool(v), Column::Bool(c)) => c.push(v),
                (Arg::Bytes(v), Column::Bytes(c)) => c.push(v),
                (Arg::F64(v), Column::F64(c)) => c.push(v),
                _ => unreachable!("column types checked above"),
            }
        }
    }
    Ok((sql, cols))
}

/// Multi-row `VALUES` statements over `rows`, in chunks of a power of two rows (the
/// largest that fits, then smaller), so the same few statement texts recur and stay
/// prepared: preparing a fresh multi-row insert each time cost ~7% of the SQLite
/// processor's time.
fn values_chunks(
    head: &str,
    width: usize,
    rows: Vec<Vec<Arg>>,
    tail: &str,
) -> Vec<(String, Vec<Arg>)> {
    // Both databases bind far more; this keeps one statement's text moderate.
    let per = (2000 / width.max(1)).max(1);
    let cap = 1usize << per.ilog2();
    let mut out = Vec::new();
    let mut left = rows.len();
    let mut it = rows.into_iter();
    while left > 0 {
        let take = (1usize << left.ilog2()).min(cap);
        left -= take;
        let mut sql = String::with_capacity(head.len() + tail.len() + take * width * 6);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        let mut args = Vec::with_capacity(take * width);
        for (i, row) in it.by_ref().take(take).enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for k in 0..width {
                if k > 0 {
                    sql.push_str(", ");
                }
                sql.push('$');
                sql.push_str(&(i * width + k + 1).to_string());
            }
            sql.push(')');
            args.extend(row);
        }
        if !tail.is_empty() {
            sql.push(' ');
            sql.push_str(tail);
        }
        out.push((sql, args));
    }
    out
}

macro_rules! run {
    ($c:ident, $es:expr, $ep:expr, $self:ident, $sql:ident, $args:ident, $method:ident, $kind:ident) => {
        match $self {
            $kind::Sqlite($c) => {
                let s = sqlite_sql($sql, $args.len());
                let q = sqlx::query_as::<Sqlite, T>(AssertSqlSafe(&*s));
                bind_all!(q, $args).$method($es).await.map_err(db_err)
            }
            $kind::Pg($c) => {
                let q = sqlx::query_as::<Postgres, T>(AssertSqlSafe($sql));
                bind_all!(q, $args).$method($ep).await.map_err(db_err)
            }
        }
    };
}

macro_rules! exec_fns {
    ($kind:ident, $recv:ty, $c:ident, $es:expr, $ep:expr) => {
        impl $kind {
            /// All rows of a query.
            pub async fn fetch_all<T: Record>(
                self: $recv,
                sql: &str,
                args: Vec<Arg>,
            ) -> AppResult<Vec<T>> {
                run!($c, $es, $ep, self, sql, args, fetch_all, $kind)
            }

            /// At most one row.
            pub async fn fetch_optional<T: Record>(
                self: $recv,
                sql: &str,
                args: Vec<Arg>,
            ) -> AppResult<Option<T>> {
                run!($c, $es, $ep, self, sql, args, fetch_optional, $kind)
            }

            /// Exactly one row.
            pub async fn fetch_one<T: Record>(
                self: $recv,
                sql: &str,
                args: Vec<Arg>,
            ) -> AppResult<T> {
                run!($c, $es, $ep, self, sql, args, fetch_one, $kind)
            }

            /// A single `BIGINT` value (counts, returned ids).
            pub async fn scalar(self: $recv, sql: &str, args: Vec<Arg>) -> AppResult<i64> {
                let (v,): (i64,) = self.fetch_one(sql, args).await?;
                Ok(v)
            }

            /// A statement without rows; returns the number of rows affected.
            pub async fn execute(self: $recv, sql: &str, args: Vec<Arg>) -> AppResult<u64> {
                match self {
                    $kind::Sqlite($c) => {
                        let s = sqlite_sql(sql, args.len());
                        let q = sqlx::query::<Sqlite>(AssertSqlSafe(&*s));
                        let r = bind_all!(q, args).execute($es).await.map_err(db_err)?;
                        Ok(r.rows_affected())
                    }
                    $kind::Pg($c) => {
                        let q = sqlx::query::<Postgres>(AssertSqlSafe(sql));
                        let r = bind_all!(q, args).execute($ep).await.map_err(db_err)?;
                        Ok(r.rows_affected())
                    }
                }
            }
        }
    };
}

exec_fns!(Db, &Self, c, &c.pool, c);

/// A write transaction on either database. On SQLite it holds the process's write queue and
/// runs `BEGIN IMMEDIATE` on the one write connection (see [`SqliteDb`]), so writers of this
/// process take turns; another process's writer is waited out by the busy handler.
pub enum Tx {
    Sqlite(SqliteTx),
    Pg(Transaction<'static, Postgres>),
}

exec_fns!(Tx, &mut Self, c, &mut *c.tx, &mut **c);

impl Tx {
    /// Like `fetch_all`, but not kept as a prepared statement, so PostgreSQL plans it with
    /// the actual values each time. For queries whose good plan depends on the values (a
    /// cached generic plan for `id IN ($1, …)` can turn into a sequential scan).
    pub async fn fetch_all_planned<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> AppResult<Vec<T>> {
        match self {
            Tx::Sqlite(c) => {
                let s = sqlite_sql(sql, args.len());
                let q = sqlx::query_as::<Sqlite, T>(AssertSqlSafe(&*s)).persistent(false);
                bind_all!(q, args)
                    .fetch_all(&mut *c.tx)
                    .await
                    .map_err(db_err)
            }
            Tx::Pg(c) => {
                let q = sqlx::query_as::<Postgres, T>(AssertSqlSafe(sql)).persistent(false);
                bind_all!(q, args).fetch_all(&mut **c).await.map_err(db_err)
            }
        }
    }

    /// Like `execute`, but not kept as a prepared statement: for statements whose text
    /// varies (multi-row inserts sized by a batch), which would only churn the cache.
    pub async fn execute_once(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<u64> {
        let r = match self {
            Tx::Sqlite(c) => {
                let s = sqlite_sql(sql, args.len());
                let q = sqlx::query::<Sqlite>(AssertSqlSafe(&*s)).persistent(false);
                bind_all!(q, args)
                    .execute(&mut *c.tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected()
            }
            Tx::Pg(c) => {
                let q = sqlx::query::<Postgres>(AssertSqlSafe(sql)).persistent(false);
                bind_all!(q, args)
                    .execute(&mut **c)
                    .await
                    .map_err(db_err)?
                    .rows_affected()
            }
        };
        Ok(r)
    }

    /// Inserts `rows` (each `width` values, in column order): `head` is
    /// `INSERT INTO t (a, b, …)`, `tail` what follows the values (e.g.
    /// `ON CONFLICT DO NOTHING`). Returns the rows inserted.
    ///
    /// PostgreSQL gets one statement whatever the number of rows, each column bound as one
    /// array (`SELECT * FROM UNNEST($1::int8[], …)`): one prepared statement and one plan
    /// per column shape. SQLite gets multi-row `VALUES` in chunks of a power of two rows.
    pub async fn insert_rows(
        &mut self,
        head: &str,
        width: usize,
        rows: Vec<Vec<Arg>>,
        tail: &str,
    ) -> AppResult<u64> {
        debug_assert!(rows.iter().all(|r| r.len() == width));
        let rows = match self {
            Tx::Pg(c) => match pg_columns(width, rows) {
                Ok((sql, cols)) => {
                    let sql = format!("{head} {sql} {tail}");
                    let q = bind_all!(sqlx::query::<Postgres>(AssertSqlSafe(sql)), cols, Column);
                    return Ok(q.execute(&mut **c).await.map_err(db_err)?.rows_affected());
                }
                Err(rows) => rows,
            },
            Tx::Sqlite(_) => rows,
        };
        let mut n = 0;
        for (sql, args) in values_chunks(head, width, rows, tail) {
            n += self.execute(&sql, args).await?;
        }
        Ok(n)
    }

    /// [`Tx::insert_rows`] with a `RETURNING` clause in `tail`: the rows it returns.
    pub async fn insert_rows_returning<T: Record>(
        &mut self,
        head: &str,
        width: usize,
        rows: Vec<Vec<Arg>>,
        tail: &str,
    ) -> AppResult<Vec<T>> {
        debug_assert!(rows.iter().all(|r| r.len() == width));
        let rows = match self {
            Tx::Pg(c) => match pg_columns(width, rows) {
                Ok((sql, cols)) => {
                    let sql = format!("{head} {sql} {tail}");
                    let q = bind_all!(
                        sqlx::query_as::<Postgres, T>(AssertSqlSafe(sql)),
                        cols,
                        Column
                    );
                    return q.fetch_all(&mut **c).await.map_err(db_err);
                }
                Err(rows) => rows,
            },
            Tx::Sqlite(_) => rows,
        };
        let mut out = Vec::with_capacity(rows.len());
        for (sql, args) in values_chunks(head, width, rows, tail) {
            out.extend(self.fetch_all::<T>(&sql, args).await?);
        }
        Ok(out)
    }

    /// Takes `n` fresh ids of `table`'s `id` column, ascending, for rows the caller then
    /// inserts with explicit ids (so a multi-row insert knows each row's id without relying
    /// on the order of `RETURNING`). PostgreSQL draws them from the column's sequence;
    /// SQLite continues after both the largest id and the `AUTOINCREMENT` counter, which is
    /// safe because this transaction is the database's only writer.
    pub async fn reserve_ids(&mut self, table: &str, n: usize) -> AppResult<Vec<i64>> {
        if !table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') || table.is_empty() {
            return Err(AppError::internal(format!(
                "reserve_ids: bad table {table:?}"
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        match self.backend() {
            Backend::Sqlite => {
                let last = self
                    .scalar(
                        &format!("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = $1), 0), COALESCE((SELECT MAX(id) FROM {table}), 0))"),
                        args![table],
                    )
                    .await?;
                Ok((1..=n as i64).map(|i| last + i).collect())
            }
            Backend::Postgres => {
                let rows: Vec<(i64,)> = self
                    .fetch_all(
                        "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)",
                        args![table, n as i64],
                    )
                    .await?;
                let mut ids: Vec<i64> = rows.into_iter().map(|r| r.0).collect();
                ids.sort_unstable();
                Ok(ids)
            }
        }
    }

    pub async fn commit(self) -> AppResult<()> {
        match self {
            Tx::Sqlite(t) => t.tx.commit().await.map_err(db_err),
            Tx::Pg(t) => t.commit().await.map_err(db_err),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Pg(_) => Backend::Postgres,
        }
    }
}

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

/// Opens a SQLite pool with `co`, each connection with [`install_busy_handler`].
async fn sqlite_pool(
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
const BUSY_LIMIT: Duration = Duration::from_secs(10);

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
async fn checkpointer(pool: SqlitePool) {
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

/// Where statements run: the pool (each statement on its own) or a transaction. Lets a
/// read helper serve both a request and a transaction that must see its own writes.
pub trait Conn: Send {
    fn fetch_all<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> impl Future<Output = AppResult<Vec<T>>> + Send;
    fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> impl Future<Output = AppResult<Option<T>>> + Send;
    fn scalar(&mut self, sql: &str, args: Vec<Arg>) -> impl Future<Output = AppResult<i64>> + Send;
}

impl Conn for &Db {
    async fn fetch_all<T: Record>(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<Vec<T>> {
        Db::fetch_all(self, sql, args).await
    }
    async fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> AppResult<Option<T>> {
        Db::fetch_optional(self, sql, args).await
    }
    async fn scalar(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<i64> {
        Db::scalar(self, sql, args).await
    }
}

impl Conn for Tx {
    async fn fetch_all<T: Record>(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<Vec<T>> {
        Tx::fetch_all(self, sql, args).await
    }
    async fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> AppResult<Option<T>> {
        Tx::fetch_optional(self, sql, args).await
    }
    async fn scalar(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<i64> {
        Tx::scalar(self, sql, args).await
    }
}

impl<C: Conn> Conn for &mut C {
    async fn fetch_all<T: Record>(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<Vec<T>> {
        C::fetch_all(self, sql, args).await
    }
    async fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> AppResult<Option<T>> {
        C::fetch_optional(self, sql, args).await
    }
    async fn scalar(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<i64> {
        C::scalar(self, sql, args).await
    }
}

/// Builds a `WHERE` clause with numbered parameters, so dynamic filters stay parameterised.
#[derive(Debug, Default)]
pub struct Filter {
    clauses: Vec<String>,
    pub args: Vec<Arg>,
}

impl Filter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next placeholder, e.g. `$3`.
    pub fn next(&self) -> String {
        format!("${}", self.args.len() + 1)
    }

    /// Adds `clause` where `?` stands for the bound value.
    pub fn add(&mut self, clause: &str, v: impl Into<Arg>) -> &mut Self {
        let ph = self.next();
        self.clauses.push(clause.replace('?', &ph));
        self.args.push(v.into());
        self
    }

    /// Adds a clause without parameters.
    pub fn raw(&mut self, clause: &str) -> &mut Self {
        self.clauses.push(clause.to_string());
        self
    }

    /// Binds `values` and returns their placeholders, e.g. `$2, $3` (`NULL` when empty).
    pub fn placeholders(&mut self, values: &[i64]) -> String {
        if values.is_empty() {
            return "NULL".into();
        }
        let mut phs = Vec::with_capacity(values.len());
        for v in values {
            phs.push(self.next());
            self.args.push(Arg::from(*v));
        }
        phs.join(", ")
    }

    /// `column IN (…)`; an empty set matches nothing.
    pub fn any_of(&mut self, column: &str, values: &[i64]) -> &mut Self {
        if values.is_empty() {
            return self.raw("1 = 0");
        }
        let list = self.placeholders(values);
        self.clauses.push(format!("{column} IN ({list})"));
        self
    }

    /// `WHERE …` or an empty string.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Appends `LIMIT/OFFSET` parameters and returns their SQL.
    pub fn page(&mut self, limit: i64, offset: i64) -> String {
        let l = self.next();
        self.args.push(Arg::from(limit));
        let o = self.next();
        self.args.push(Arg::from(offset));
        format!(" LIMIT {l} OFFSET {o}")
    }
}

/// A sortable column of a list: the key a page sends (`?sort=name`) and the SQL it stands
/// for. Lists declare these as constants, so `ORDER BY` is never built from input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: &'static str,
    pub sql: &'static str,
}

/// One page of a list: a whitelisted order, how many rows and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    order: Option<&'static str>,
    desc: bool,
    pub limit: i64,
    pub offset: i64,
}

impl Window {
    /// Sorted by the column `key` names when it is one of `sorts`, else by the list's default.
    pub fn new(sorts: &[Sort], key: &str, desc: bool, limit: i64, offset: i64) -> Self {
        Self {
            order: sorts.iter().find(|s| s.key == key).map(|s| s.sql),
            desc,
            limit: limit.max(1),
            offset: offset.max(0),
        }
    }

    /// The first `limit` rows in the list's default order.
    pub fn first(limit: i64) -> Self {
        Self::new(&[], "", false, limit, 0)
    }

    /// `ORDER BY <chosen column> [DESC], <default> LIMIT $n OFFSET $m`: the default order
    /// (e.g. `id DESC`) breaks ties, so pages never overlap.
    pub fn tail(&self, f: &mut Filter, default: &str) -> String {
        let order = match self.order {
            Some(col) => format!(
                " ORDER BY {col} {}, {default}",
                if self.desc { "DESC" } else { "ASC" }
            ),
            None => format!(" ORDER BY {default}"),
        };
        format!("{order}{}", f.page(self.limit, self.offset))
    }
}

/// Rows of one page and the number of rows matching the filters.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub total: i64,
    /// `total` is a lower bound: counting stopped there (lists of millions of rows).
    pub at_least: bool,
}

impl<T> Paged<T> {
    pub fn exact(rows: Vec<T>, total: i64) -> Self {
        Self {
            rows,
            total,
            at_least: false,
        }
    }

    /// `counted` rows were counted with a cap of `cap`: more than `cap` means "at least".
    pub fn counted_to(rows: Vec<T>, counted: i64, cap: i64) -> Self {
        Self {
            rows,
            total: counted.min(cap),
            at_least: counted > cap,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            rows: self.rows.into_iter().map(f).collect(),
            total: self.total,
            at_least: self.at_least,
        }
    }
}

/// Escapes `%` and `_` for a `LIKE … ESCAPE '\'` pattern containing `needle`.
pub fn like_pattern(needle: &str) -> String {
    let mut s = String::from("%");
    for c in needle.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

#[cfg(test)]
mod tests {
    use super::sqlite_sql;

    fn numbered(n: usize) -> String {
        let list: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
        format!("INSERT INTO t (a) VALUES ({})", list.join("), ("))
    }

    #[test]
    fn window_orders_only_by_whitelisted_columns() {
        use super::{Filter, Sort, Window};
        const SORTS: &[Sort] = &[Sort {
            key: "name",
            sql: "o.name",
        }];
        let mut f = Filter::new();
        f.add("a = ?", 1i64);
        let w = Window::new(SORTS, "name", true, 20, 40);
        assert_eq!(
            w.tail(&mut f, "o.id"),
            " ORDER BY o.name DESC, o.id LIMIT $2 OFFSET $3"
        );
        let mut f = Filter::new();
        let w = Window::new(SORTS, "name; DROP TABLE orgs", false, 0, -5);
        assert_eq!(
            w.tail(&mut f, "o.id DESC"),
            " ORDER BY o.id DESC LIMIT $1 OFFSET $2"
        );
        assert_eq!((w.limit, w.offset), (1, 0));
    }

    #[test]
    fn ordered_parameters_become_anonymous_others_stay_numbered() {
        let sql = numbered(20);
        let s = sqlite_sql(&sql, 20);
        assert_eq!(s.matches('?').count(), 20);
        assert!(!s.contains('$'));
        // Few parameters: left as they are.
        assert_eq!(sqlite_sql(&numbered(3), 3), numbered(3));
        // A parameter used twice, out of order, or a count that does not match: unchanged.
        let twice = format!("{} AND b = $1", numbered(20));
        assert_eq!(sqlite_sql(&twice, 20), twice);
        let swapped = numbered(20)
            .replace("$2)", "$X)")
            .replace("$3)", "$2)")
            .replace("$X)", "$3)");
        assert_eq!(sqlite_sql(&swapped, 20), swapped);
        assert_eq!(sqlite_sql(&numbered(20), 21), numbered(20));
        // A dollar sign inside a string literal is text, not a parameter.
        let lit = format!("{} AND c = 'costs $5'", numbered(20));
        let s = sqlite_sql(&lit, 20);
        assert!(s.ends_with("'costs $5'"), "{s}");
        assert_eq!(s.matches('?').count(), 20);
    }
}
