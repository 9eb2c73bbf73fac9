//! What a subsystem declares about itself so the binary can wire it by looping over a list.

use crate::crypto::Keys;
use yiyang_core::AppResult;
use yiyang_store::{Db, args};

/// A column holding values encrypted with the data key (`Keys::encrypt`): `keys rewrap`
/// re-encrypts every declared column, so a module that encrypts a column must declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedColumn {
    pub table: &'static str,
    /// The integer primary key.
    pub id_column: &'static str,
    pub cipher_column: &'static str,
    pub nullable: bool,
}

/// Rows re-encrypted per transaction by [`rewrap`].
pub const REWRAP_BATCH: i64 = 500;

/// Re-encrypts every value of `columns` not under the current data key, in batches of
/// [`REWRAP_BATCH`] rows (one transaction each, so a large table never holds one long
/// write); returns how many values were re-encrypted.
pub async fn rewrap(db: &Db, keys: &Keys, columns: &[EncryptedColumn]) -> AppResult<usize> {
    let mut n = 0;
    for c in columns {
        n += rewrap_column(db, keys, c).await?;
    }
    Ok(n)
}

async fn rewrap_column(db: &Db, keys: &Keys, c: &EncryptedColumn) -> AppResult<usize> {
    let (t, id, col) = (c.table, c.id_column, c.cipher_column);
    let select = format!(
        "SELECT {id}, {col} FROM {t} WHERE {id} > $1 AND {col} IS NOT NULL ORDER BY {id} LIMIT $2"
    );
    let update = format!("UPDATE {t} SET {col} = $1 WHERE {id} = $2");
    let mut after = i64::MIN;
    let mut n = 0;
    loop {
        let rows: Vec<(i64, Vec<u8>)> = db.fetch_all(&select, args![after, REWRAP_BATCH]).await?;
        let Some((last, _)) = rows.last() else {
            return Ok(n);
        };
        after = *last;
        let stale: Vec<_> = rows
            .into_iter()
            .filter(|(_, b)| keys.needs_rewrap(b))
            .collect();
        if stale.is_empty() {
            continue;
        }
        let mut tx = db.begin().await?;
        for (row, blob) in &stale {
            let plain = keys.decrypt(blob)?;
            tx.execute(&update, args![keys.encrypt(&plain), *row])
                .await?;
        }
        tx.commit().await?;
        n += stale.len();
    }
}

/// Decrypts every value of `columns` (after a rotation and rewrap, with only the new key):
/// returns how many were read; the first value that cannot be read is an error.
pub async fn decrypt_all(db: &Db, keys: &Keys, columns: &[EncryptedColumn]) -> AppResult<usize> {
    let mut n = 0;
    for c in columns {
        let rows: Vec<(i64, Option<Vec<u8>>)> = db
            .fetch_all(
                &format!(
                    "SELECT {}, {} FROM {}",
                    c.id_column, c.cipher_column, c.table
                ),
                vec![],
            )
            .await?;
        for (_, blob) in rows {
            match blob {
                Some(b) => {
                    keys.decrypt(&b)?;
                    n += 1;
                }
                None if c.nullable => {}
                None => {
                    return Err(yiyang_core::AppError::internal(format!(
                        "{}.{} is empty but declared NOT NULL",
                        c.table, c.cipher_column
                    )));
                }
            }
        }
    }
    Ok(n)
}
