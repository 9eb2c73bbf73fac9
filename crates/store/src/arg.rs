//! Bound parameter values (`Arg`, `args!`), the row bound `Record`, and the mapping of
//! database errors onto the platform's error contract.

use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use yiyang_core::AppError;

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
