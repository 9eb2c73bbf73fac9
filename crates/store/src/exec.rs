//! Running statements on either backend: the SQLite parameter rewrite, binding, multi-row
//! insert shapes, and the fetch/execute methods `Db` and `Tx` share.

use crate::{Arg, Db, Record, Tx, db_err};
use sqlx::{AssertSqlSafe, Postgres, Sqlite};
use yiyang_core::AppResult;

/// The statement as SQLite should see it. SQLite looks up each `$N` parameter by name in a
/// list, when parsing and again when sqlx binds it, which is quadratic in the number of
/// parameters: a multi-row insert of 2,000 values spent most of its time there. When the
/// parameters appear once each, in order (`$1`, `$2`, … as the multi-row builders write
/// them), anonymous `?` parameters mean the same and cost nothing to look up.
pub(crate) fn sqlite_sql(sql: &str, nargs: usize) -> std::borrow::Cow<'_, str> {
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
pub(crate) enum Column {
    I64(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
    Bytes(Vec<Option<Vec<u8>>>),
    F64(Vec<Option<f64>>),
}

/// `SELECT * FROM UNNEST($1::int8[], …)` over `rows` turned into columns, or the rows back
/// when a column mixes value types (then they go as `VALUES`).
pub(crate) fn pg_columns(
    width: usize,
    rows: Vec<Vec<Arg>>,
) -> Result<(String, Vec<Column>), Vec<Vec<Arg>>> {
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
pub(crate) fn values_chunks(
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

exec_fns!(Tx, &mut Self, c, &mut *c.tx, &mut **c);

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> String {
        let list: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
        format!("INSERT INTO t (a) VALUES ({})", list.join("), ("))
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
