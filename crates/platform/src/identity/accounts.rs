//! Account administration within the caller's scope, and the caller's own preferences.

use super::{ACCOUNT_COLS, ACCOUNT_KINDS, Account, Evict, evict_sessions};
use crate::audit::{self, AuditEntry};
use crate::password;
use serde::Deserialize;
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_store::{Conn, Db, args};

/// Input for creating an account.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewAccount {
    pub login: String,
    pub display_name: String,
    #[serde(default = "staff_kind")]
    pub kind: String,
    pub org_id: Option<i64>,
    #[serde(default)]
    pub phone: String,
    pub password: String,
    /// Role code to grant in `org_id` (city-wide when `org_id` is empty).
    pub role: String,
    #[serde(default)]
    pub must_change_password: bool,
}

fn staff_kind() -> String {
    "staff".into()
}

fn validate_login(login: &str) -> AppResult<()> {
    let ok = (3..=40).contains(&login.len())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AppError::field(
            "account.login_invalid",
            "login",
            "登录名须为3-40位字母、数字或 _ . -",
        ))
    }
}

fn login_taken() -> AppError {
    AppError::conflict("account.login_taken", "登录名已被使用")
        .with_details(serde_json::json!({"field": "login"}))
}

/// Whether the caller may manage accounts of `org_id` (city-wide accounts need city scope).
pub(super) fn require_account_admin(ctx: &RequestContext, org_id: Option<i64>) -> AppResult<()> {
    let scope = ctx.require(perm::ACCOUNT_WRITE)?;
    let ok = match org_id {
        Some(o) => scope.allows(o),
        None => scope == Scope::City,
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::forbidden(perm::ACCOUNT_WRITE))
    }
}

/// Creates an account with one role assignment. `ctx` must hold `account.write` for the
/// institution. Every problem of the new account is reported at once (login format or taken,
/// name, phone, kind, password policy, role, institution), each with its field; a single
/// problem keeps its own code.
pub async fn create_account(db: &Db, ctx: &RequestContext, a: &NewAccount) -> AppResult<i64> {
    use yiyang_core::text::{Checks, Kind};
    require_account_admin(ctx, a.org_id)?;
    let login = a.login.trim();
    let mut c = Checks::new();
    c.result(validate_login(login));
    c.text("display_name", "姓名", &a.display_name, 40, Kind::Name)
        .text("phone", "手机号", &a.phone, 32, Kind::Line);
    if a.display_name.trim().is_empty() {
        c.result::<()>(Err(AppError::field(
            "account.name_required",
            "display_name",
            "请填写姓名",
        )));
    }
    if !ACCOUNT_KINDS.iter().any(|(k, _)| *k == a.kind) {
        c.result::<()>(Err(AppError::field(
            "account.kind_invalid",
            "kind",
            "账号类型不存在",
        )));
    }
    c.result(password::check_policy(&a.password, login));
    let role: Option<(i64, bool)> = db
        .fetch_optional(
            "SELECT id, city_wide FROM roles WHERE code = $1",
            args![a.role.trim()],
        )
        .await?;
    match role {
        None => {
            c.result::<()>(Err(AppError::field(
                "account.role_missing",
                "role",
                "角色不存在",
            )));
        }
        Some((_, true)) if ctx.scope_of(perm::ACCOUNT_WRITE) != Some(Scope::City) => {
            return Err(AppError::forbidden(perm::ACCOUNT_WRITE));
        }
        Some((_, false)) if a.org_id.is_none() => {
            c.result::<()>(Err(AppError::field(
                "account.org_required",
                "org_id",
                "该角色须指定所属机构",
            )));
        }
        Some(_) => {}
    }
    if !login.is_empty() && account_by_login(db, login).await?.is_some() {
        c.result::<()>(Err(login_taken()));
    }
    c.finish()?;
    let Some((role_id, city_wide)) = role else {
        return Err(AppError::internal("account: role checked above"));
    };
    let hash = password::hash(&a.password)?;
    let now = ctx.clock.now_micros();
    let mut tx = db.begin().await?;
    let exists: Option<(i64,)> = tx
        .fetch_optional("SELECT id FROM accounts WHERE login = $1", args![login])
        .await?;
    if exists.is_some() {
        return Err(login_taken());
    }
    let id = tx
        .scalar(
            "INSERT INTO accounts (login, display_name, kind, org_id, phone, password_hash, must_change_password, created_at, password_changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
            args![login, a.display_name.trim(), &a.kind, a.org_id, a.phone.trim(), hash, a.must_change_password, now],
        )
        .await?;
    let grant_org = if city_wide { None } else { a.org_id };
    tx.execute(
        "INSERT INTO account_roles (account_id, role_id, org_id) VALUES ($1, $2, $3)",
        args![id, role_id, grant_org],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "account.create", "account", id)
            .org(a.org_id)
            .details(serde_json::json!({"login": login, "role": a.role, "org_id": a.org_id}))],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Sets a new password chosen by an administrator; the user must change it at next login.
pub async fn reset_password(
    db: &Db,
    ctx: &RequestContext,
    account_id: i64,
    new_password: &str,
) -> AppResult<()> {
    let acc = get_account(db, ctx, account_id).await?;
    require_account_admin(ctx, acc.org_id)?;
    password::check_policy(new_password, &acc.login)?;
    let hash = password::hash(new_password)?;
    let now = ctx.clock.now_micros();
    let mut tx = db.begin().await?;
    tx.execute(
        "UPDATE accounts SET password_hash = $1, must_change_password = TRUE, failed_attempts = 0, locked_until = NULL, password_changed_at = $2 WHERE id = $3",
        args![hash, now, account_id],
    )
    .await?;
    tx.execute(
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        args![now, account_id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "account.reset_password", "account", account_id).org(acc.org_id)],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Account(account_id));
    Ok(())
}

/// Enables, disables or unlocks an account.
pub async fn set_account_status(
    db: &Db,
    ctx: &RequestContext,
    account_id: i64,
    status: &str,
) -> AppResult<()> {
    let acc = get_account(db, ctx, account_id).await?;
    require_account_admin(ctx, acc.org_id)?;
    if account_id == ctx.actor.id {
        return Err(AppError::validation(
            "account.self",
            "不能停用或解锁自己的账号",
        ));
    }
    let now = ctx.clock.now_micros();
    let mut tx = db.begin().await?;
    match status {
        "active" | "disabled" => {
            tx.execute(
                "UPDATE accounts SET status = $1 WHERE id = $2",
                args![status, account_id],
            )
            .await?;
            if status == "disabled" {
                tx.execute("UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL", args![now, account_id])
                    .await?;
            }
        }
        "unlock" => {
            tx.execute(
                "UPDATE accounts SET locked_until = NULL, failed_attempts = 0 WHERE id = $1",
                args![account_id],
            )
            .await?;
        }
        _ => {
            return Err(AppError::field(
                "account.status_invalid",
                "status",
                "账号状态不正确",
            ));
        }
    }
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, &format!("account.{status}"), "account", account_id)
                .org(acc.org_id),
        ],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Account(account_id));
    Ok(())
}

/// One account, if within the caller's `account.read` scope.
pub async fn get_account(db: &Db, ctx: &RequestContext, id: i64) -> AppResult<Account> {
    let scope = ctx.require(perm::ACCOUNT_READ)?;
    let acc: Option<Account> = db
        .fetch_optional(
            &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1"),
            args![id],
        )
        .await?;
    match acc {
        Some(a) if a.org_id.map_or(scope == Scope::City, |o| scope.allows(o)) => Ok(a),
        _ => Err(AppError::not_found("account")),
    }
}

/// The id and kind (`staff` or `resident`) of the account `login`, if there is one: for
/// modules that link their records to an account (a resident's family, demo data).
pub async fn account_by_login(mut db: impl Conn, login: &str) -> AppResult<Option<(i64, String)>> {
    db.fetch_optional(
        "SELECT id, kind FROM accounts WHERE login = $1",
        args![login],
    )
    .await
}

/// Those of `ids` that are active accounts (not disabled), in the order given.
pub async fn active_accounts(mut db: impl Conn, ids: &[i64]) -> AppResult<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut f = yiyang_store::Filter::new();
    f.any_of("id", ids);
    f.raw("status = 'active'");
    let rows: Vec<(i64,)> = db
        .fetch_all(&format!("SELECT id FROM accounts{}", f.sql()), f.args)
        .await?;
    Ok(ids
        .iter()
        .copied()
        .filter(|id| rows.iter().any(|r| r.0 == *id))
        .collect())
}

/// Columns the account list sorts by.
pub const ACCOUNT_SORTS: &[yiyang_store::Sort] = &[
    yiyang_store::Sort {
        key: "login",
        sql: "login",
    },
    yiyang_store::Sort {
        key: "display_name",
        sql: "display_name",
    },
    yiyang_store::Sort {
        key: "created_at",
        sql: "created_at",
    },
];

/// Accounts in the caller's scope, one window and the number matching.
pub async fn list_accounts_page(
    db: &Db,
    ctx: &RequestContext,
    q: Option<&str>,
    w: &yiyang_store::Window,
) -> AppResult<yiyang_store::Paged<Account>> {
    let scope = ctx.require(perm::ACCOUNT_READ)?;
    let mut f = yiyang_store::Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    if let Some(q) = q.map(str::trim).filter(|s| !s.is_empty()) {
        let p = yiyang_store::like_pattern(q);
        let a = f.next();
        f.args.push(p.into());
        f.raw(&format!(
            "(LOWER(login) LIKE {a} ESCAPE '\\' OR display_name LIKE {a} ESCAPE '\\')"
        ));
    }
    let where_sql = f.sql();
    let total = db
        .scalar(
            &format!("SELECT COUNT(*) FROM accounts{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "id");
    let rows = db
        .fetch_all(
            &format!("SELECT {ACCOUNT_COLS} FROM accounts{where_sql}{tail}"),
            f.args,
        )
        .await?;
    Ok(yiyang_store::Paged::exact(rows, total))
}

/// Saves the large-text preference of the caller.
pub async fn set_large_text(db: &Db, ctx: &RequestContext, on: bool) -> AppResult<()> {
    db.execute(
        "UPDATE accounts SET large_text = $1 WHERE id = $2",
        args![on, ctx.actor.id],
    )
    .await?;
    evict_sessions(Evict::Account(ctx.actor.id));
    Ok(())
}
