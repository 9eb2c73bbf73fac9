//! Write transactions: planned reads, one-off statements, multi-row inserts and id reservation.

use crate::exec::{Column, pg_columns, sqlite_sql, values_chunks};
use crate::{Arg, Backend, Record, SqliteTx, args, db_err};
use sqlx::{AssertSqlSafe, Postgres, Sqlite, Transaction};
use yiyang_core::{AppError, AppResult};

/// A write transaction on either database. On SQLite it holds the process's write queue and
/// runs `BEGIN IMMEDIATE` on the one write connection (see [`SqliteDb`](crate::SqliteDb)), so writers of this
/// process take turns; another process's writer is waited out by the busy handler.
pub enum Tx {
    Sqlite(SqliteTx),
    Pg(Transaction<'static, Postgres>),
}

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
