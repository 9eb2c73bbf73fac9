//! Key rotation: re-encrypt fields written under an older data key.

use yiyang_core::AppResult;
use yiyang_platform::web::AppState;
use yiyang_store::args;

/// Re-encrypts every staff ID number and webhook signing secret not under the current key;
/// returns how many.
pub async fn rewrap(st: &AppState) -> AppResult<usize> {
    let rows: Vec<(i64, Vec<u8>)> = st
        .db
        .fetch_all("SELECT id, id_cipher FROM staff", vec![])
        .await?;
    let mut n = 0;
    let mut tx = st.db.begin().await?;
    for (id, blob) in rows {
        if st.keys.needs_rewrap(&blob) {
            let plain = st.keys.decrypt(&blob)?;
            tx.execute(
                "UPDATE staff SET id_cipher = $1 WHERE id = $2",
                args![st.keys.encrypt(&plain), id],
            )
            .await?;
            n += 1;
        }
    }
    // Webhook signing secrets of outbound subscriptions.
    let secrets: Vec<(i64, Vec<u8>)> = tx
        .fetch_all(
            "SELECT id, secret_cipher FROM integration_subscriptions WHERE secret_cipher IS NOT NULL",
            vec![],
        )
        .await?;
    for (id, blob) in secrets {
        if st.keys.needs_rewrap(&blob) {
            let plain = st.keys.decrypt(&blob)?;
            tx.execute(
                "UPDATE integration_subscriptions SET secret_cipher = $1 WHERE id = $2",
                args![st.keys.encrypt(&plain), id],
            )
            .await?;
            n += 1;
        }
    }
    tx.commit().await?;
    Ok(n)
}
