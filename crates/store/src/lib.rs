//! One implementation of data access for SQLite and PostgreSQL.
//!
//! SQL is written once in the subset both databases share, with `$1, $2 …` parameters
//! (SQLite binds `$N` by number too). Values are passed as [`Arg`]s, rows are decoded with
//! `#[derive(sqlx::FromRow)]`. Timestamps are `BIGINT` microseconds since the epoch, ids are
//! `BIGINT`, flags `BOOLEAN`, blobs use the `{blob}` token in migrations. Backend-specific
//! fast paths sit behind narrow functions ([`Db::backend`] lets a caller choose one).
//!
//! Files: `arg` (bound values, row bound, error mapping), `exec` (running statements on
//! either backend), `tx` (write transactions, multi-row inserts), `db` (opening, pool,
//! cluster locks), `sqlite` (the SQLite write queue, busy handler, checkpointer), `conn`
//! (code that serves a pool and a transaction alike), `list` (filters, sorting, paging).

// Defines the statement macros (`bind_all!`) `tx` uses: declared before the modules using them.
#[macro_use]
mod exec;

mod arg;
mod conn;
mod db;
mod list;
mod migrate;
mod sqlite;
mod tx;

pub use arg::{Arg, Record, db_err};
pub use conn::Conn;
pub use db::{DbOptions, LockGuard};
pub use list::{Filter, Paged, Sort, Window, like_pattern};
pub use migrate::{Migration, migrate};
pub use sqlite::{SqliteDb, SqliteTx};
pub use tx::Tx;

use sqlx::postgres::PgPool;

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
