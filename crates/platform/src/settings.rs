//! Platform-wide settings kept in the database (`settings`: key → value), such as whether
//! the demo city was seeded. Modules read them here, never from the table.

use yiyang_core::AppResult;
use yiyang_store::{Conn, Db, args};

/// The value stored under `key`, if any.
pub async fn get(mut db: impl Conn, key: &str) -> AppResult<Option<String>> {
    let row: Option<(String,)> = db
        .fetch_optional("SELECT value FROM settings WHERE key = $1", args![key])
        .await?;
    Ok(row.map(|r| r.0))
}

/// Stores `value` under `key` (once: an existing key keeps its value).
pub async fn set_once(db: &Db, key: &str, value: &str) -> AppResult<()> {
    db.execute(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        args![key, value],
    )
    .await?;
    Ok(())
}

/// The key set when the demo city has been seeded.
pub const DEMO_SEEDED: &str = "demo_seeded";
