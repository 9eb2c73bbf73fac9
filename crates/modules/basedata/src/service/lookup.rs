//! What other modules read of the base data, so that no module reads the `orgs`,
//! `departments` or `staff` tables itself: names and existence of institutions, and the
//! staff of an institution that a notice should reach. These answer plain facts for
//! records the caller has already scoped; they check no permission of their own.

use std::collections::HashMap;
use yiyang_core::AppResult;
use yiyang_store::{Conn, Filter, args};

/// The names of the institutions `ids` (those that exist), for lists that show where a
/// record comes from.
pub async fn org_names(mut db: impl Conn, ids: &[i64]) -> AppResult<HashMap<i64, String>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let mut f = Filter::new();
        f.any_of("id", chunk);
        let rows: Vec<(i64, String)> = db
            .fetch_all(&format!("SELECT id, name FROM orgs{}", f.sql()), f.args)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// Whether institution `id` exists (whatever its review state).
pub async fn org_exists(mut db: impl Conn, id: i64) -> AppResult<bool> {
    let row: Option<(i64,)> = db
        .fetch_optional("SELECT id FROM orgs WHERE id = $1", args![id])
        .await?;
    Ok(row.is_some())
}

/// The id of the institution with code `code`, if any.
pub async fn org_id_by_code(mut db: impl Conn, code: &str) -> AppResult<Option<i64>> {
    let row: Option<(i64,)> = db
        .fetch_optional("SELECT id FROM orgs WHERE code = $1", args![code])
        .await?;
    Ok(row.map(|r| r.0))
}

/// Institutions to choose from in a form, as (id, name) in code order: only approved ones
/// when `approved_only`, only those of `within` when given (a caller's scope).
pub async fn org_choices(
    mut db: impl Conn,
    approved_only: bool,
    within: Option<&[i64]>,
) -> AppResult<Vec<(i64, String)>> {
    let mut f = Filter::new();
    if approved_only {
        f.raw("status = 'approved'");
    }
    if let Some(ids) = within {
        f.any_of("id", ids);
    }
    db.fetch_all(
        &format!("SELECT id, name FROM orgs{} ORDER BY code, id", f.sql()),
        f.args,
    )
    .await
}

/// Staff of institution `org_id` named `name` (not deleted) who have an account: their
/// account ids and names, in record order.
pub async fn staff_accounts_named(
    mut db: impl Conn,
    org_id: i64,
    name: &str,
) -> AppResult<Vec<(i64, String)>> {
    db.fetch_all(
        "SELECT account_id, name FROM staff WHERE org_id = $1 AND name = $2 AND deleted_at IS NULL \
         AND account_id IS NOT NULL ORDER BY id",
        args![org_id, name],
    )
    .await
}

/// Nurses of institution `org_id` (not deleted, with an account) in a department whose name
/// or code is one of `wards`: their account ids and names, in record order.
pub async fn nurse_accounts_of(
    mut db: impl Conn,
    org_id: i64,
    wards: &[&str],
) -> AppResult<Vec<(i64, String)>> {
    let wards: Vec<&str> = wards.iter().copied().filter(|w| !w.is_empty()).collect();
    if wards.is_empty() {
        return Ok(Vec::new());
    }
    let mut f = Filter::new();
    f.add("s.org_id = ?", org_id);
    f.raw("s.profession = 'nurse' AND s.deleted_at IS NULL AND s.account_id IS NOT NULL");
    let mut names = Vec::new();
    for w in &wards {
        let a = f.next();
        f.args.push((*w).into());
        names.push(a);
    }
    let list = names.join(", ");
    f.raw(&format!("(d.name IN ({list}) OR d.code IN ({list}))"));
    db.fetch_all(
        &format!(
            "SELECT s.account_id, s.name FROM staff s JOIN departments d ON d.id = s.dept_id{} ORDER BY s.id",
            f.sql()
        ),
        f.args,
    )
    .await
}

/// The code of institution `id`, if it exists (devices name their institution by code).
pub async fn org_code(mut db: impl Conn, id: i64) -> AppResult<Option<String>> {
    let row: Option<(String,)> = db
        .fetch_optional("SELECT code FROM orgs WHERE id = $1", args![id])
        .await?;
    Ok(row.map(|r| r.0))
}
