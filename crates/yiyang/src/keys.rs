//! Key rotation: re-encrypt fields written under an older data key.

use yiyang_core::AppResult;
use yiyang_platform::module::{self, EncryptedColumn};
use yiyang_platform::web::AppState;

/// Every encrypted column every module declares.
pub fn encrypted_columns() -> Vec<EncryptedColumn> {
    crate::app::registry().encrypted_columns()
}

/// Re-encrypts every declared encrypted value not under the current key; returns how many.
pub async fn rewrap(st: &AppState) -> AppResult<usize> {
    module::rewrap(&st.db, &st.keys, &st.registry.encrypted_columns()).await
}
