//! Roles, their permissions and assignments; the grants that become a request's scope.

use super::{Assignment, Evict, Role, evict_sessions, get_account, require_account_admin};
use crate::audit::{self, AuditEntry};
use crate::module::Role as BuiltinRole;
use serde::Deserialize;
use std::collections::BTreeSet;
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_store::{Conn, Db, args};

/// Seeds the built-in roles and the permissions the modules grant them (idempotent; a
/// permission newly granted to a built-in role is added).
pub async fn seed_roles(db: &Db, roles: &[(BuiltinRole, Vec<&'static str>)]) -> AppResult<()> {
    let mut tx = db.begin().await?;
    for (r, perms) in roles {
        let (code, name, city) = (&r.code, &r.name, &r.city_wide);
        let id = tx
            .scalar(
                "INSERT INTO roles (code, name, description, builtin, city_wide) VALUES ($1, $2, '', TRUE, $3) \
                 ON CONFLICT (code) DO UPDATE SET name = $2 RETURNING id",
                args![*code, *name, *city],
            )
            .await?;
        for p in perms.iter() {
            tx.execute(
                "INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                args![id, *p],
            )
            .await?;
        }
    }
    tx.commit().await?;
    evict_sessions(Evict::All);
    Ok(())
}

/// Active accounts holding `permission` for the institution (granted there or city-wide):
/// the people a piece of work for that institution should reach.
pub async fn holders_of(mut db: impl Conn, permission: &str, org_id: i64) -> AppResult<Vec<i64>> {
    let rows: Vec<(i64,)> = db
        .fetch_all(
            "SELECT DISTINCT ar.account_id FROM account_roles ar JOIN role_permissions rp ON rp.role_id = ar.role_id \
             JOIN accounts a ON a.id = ar.account_id \
             WHERE rp.permission = $1 AND a.status = 'active' AND (ar.org_id IS NULL OR ar.org_id = $2) ORDER BY ar.account_id",
            args![permission, org_id],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Active accounts holding the role `code` at institution `org_id` (or, with `None`,
/// wherever they hold it), with their display names, in account order: the people a
/// module's notice for "the institution's administrators" reaches.
pub async fn role_holders(
    mut db: impl Conn,
    code: &str,
    org_id: Option<i64>,
) -> AppResult<Vec<(i64, String)>> {
    let mut f = yiyang_store::Filter::new();
    f.add("r.code = ?", code);
    f.raw("a.status = 'active'");
    if let Some(o) = org_id {
        f.add("ar.org_id = ?", o);
    }
    db.fetch_all(
        &format!(
            "SELECT DISTINCT ar.account_id, a.display_name FROM account_roles ar JOIN roles r ON r.id = ar.role_id \
             JOIN accounts a ON a.id = ar.account_id{} ORDER BY ar.account_id",
            f.sql()
        ),
        f.args,
    )
    .await
}

/// Loads roles and grants of an account into (actor roles, grants).
pub async fn load_grants(
    db: &Db,
    account_id: i64,
) -> AppResult<(Vec<String>, Vec<(String, Scope)>)> {
    let rows: Vec<(String, Option<i64>, Option<String>)> = db
        .fetch_all(
            "SELECT r.code, ar.org_id, rp.permission FROM account_roles ar JOIN roles r ON r.id = ar.role_id \
             LEFT JOIN role_permissions rp ON rp.role_id = r.id WHERE ar.account_id = $1 ORDER BY ar.id",
            args![account_id],
        )
        .await?;
    let mut roles: Vec<String> = Vec::new();
    let mut grants = Vec::new();
    for (role, org, p) in rows {
        if !roles.contains(&role) {
            roles.push(role);
        }
        if let Some(p) = p {
            let scope = match org {
                None => Scope::City,
                Some(o) => Scope::Orgs(BTreeSet::from([o])),
            };
            grants.push((p, scope));
        }
    }
    Ok((roles, grants))
}

pub async fn assignments(db: &Db, account_ids: &[i64]) -> AppResult<Vec<Assignment>> {
    let mut f = yiyang_store::Filter::new();
    f.any_of("ar.account_id", account_ids);
    db.fetch_all(
        &format!(
            "SELECT ar.id, ar.account_id, r.code AS role_code, r.name AS role_name, ar.org_id, o.name AS org_name \
             FROM account_roles ar JOIN roles r ON r.id = ar.role_id LEFT JOIN orgs o ON o.id = ar.org_id{} ORDER BY ar.id",
            f.sql()
        ),
        f.args,
    )
    .await
}

/// Grants a role to an account in an institution (or city-wide).
pub async fn grant_role(
    db: &Db,
    ctx: &RequestContext,
    account_id: i64,
    role: &str,
    org_id: Option<i64>,
) -> AppResult<()> {
    let acc = get_account(db, ctx, account_id).await?;
    let (role_id, city_wide): (i64, bool) = db
        .fetch_optional(
            "SELECT id, city_wide FROM roles WHERE code = $1",
            args![role],
        )
        .await?
        .ok_or_else(|| AppError::field("account.role_missing", "role", "角色不存在"))?;
    let org = if city_wide {
        None
    } else {
        org_id.or(acc.org_id)
    };
    require_account_admin(ctx, org)?;
    if !city_wide && org.is_none() {
        return Err(AppError::field(
            "account.org_required",
            "org_id",
            "该角色须指定所属机构",
        ));
    }
    let mut tx = db.begin().await?;
    let dup: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM account_roles WHERE account_id = $1 AND role_id = $2 AND COALESCE(org_id, 0) = $3",
            args![account_id, role_id, org.unwrap_or(0)],
        )
        .await?;
    if dup.is_some() {
        return Err(AppError::conflict(
            "account.role_exists",
            "该账号已拥有此角色",
        ));
    }
    tx.execute(
        "INSERT INTO account_roles (account_id, role_id, org_id) VALUES ($1, $2, $3)",
        args![account_id, role_id, org],
    )
    .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "account.grant_role", "account", account_id)
                .org(org)
                .details(serde_json::json!({"role": role, "org_id": org})),
        ],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Account(account_id));
    Ok(())
}

/// Removes one role assignment.
pub async fn revoke_role(db: &Db, ctx: &RequestContext, assignment_id: i64) -> AppResult<()> {
    let row: Option<(i64, Option<i64>)> = db
        .fetch_optional(
            "SELECT account_id, org_id FROM account_roles WHERE id = $1",
            args![assignment_id],
        )
        .await?;
    let Some((account_id, org)) = row else {
        return Err(AppError::not_found("assignment"));
    };
    get_account(db, ctx, account_id).await?;
    require_account_admin(ctx, org)?;
    if account_id == ctx.actor.id {
        return Err(AppError::validation("account.self", "不能撤销自己的角色"));
    }
    let mut tx = db.begin().await?;
    tx.execute(
        "DELETE FROM account_roles WHERE id = $1",
        args![assignment_id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "account.revoke_role", "account", account_id)
                .org(org)
                .details(serde_json::json!({"assignment": assignment_id})),
        ],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Account(account_id));
    Ok(())
}

pub async fn list_roles(db: &Db) -> AppResult<Vec<Role>> {
    db.fetch_all(
        "SELECT id, code, name, description, builtin, city_wide FROM roles ORDER BY id",
        vec![],
    )
    .await
}

pub async fn role_permissions(db: &Db) -> AppResult<Vec<(i64, String)>> {
    db.fetch_all(
        "SELECT role_id, permission FROM role_permissions ORDER BY role_id, permission",
        vec![],
    )
    .await
}

/// Input for a custom role.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RoleInput {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub city_wide: bool,
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// Creates or updates a role and its permissions (`role.manage`, city-wide).
pub async fn save_role(db: &Db, ctx: &RequestContext, r: &RoleInput) -> AppResult<i64> {
    if ctx.require(perm::ROLE_MANAGE)? != Scope::City {
        return Err(AppError::forbidden(perm::ROLE_MANAGE));
    }
    let code = r.code.trim();
    if code.is_empty()
        || code.len() > 40
        || !code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(AppError::field(
            "role.code_invalid",
            "code",
            "角色编码须为1-40位小写字母、数字或下划线",
        ));
    }
    if r.name.trim().is_empty() {
        return Err(AppError::field(
            "role.name_required",
            "name",
            "请填写角色名称",
        ));
    }
    if let Some(p) = r.permissions.iter().find(|p| !perm::is_known(p)) {
        return Err(AppError::field(
            "role.permission_unknown",
            "permissions",
            format!("未知权限：{p}"),
        ));
    }
    let mut tx = db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO roles (code, name, description, builtin, city_wide) VALUES ($1, $2, $3, FALSE, $4) \
             ON CONFLICT (code) DO UPDATE SET name = $2, description = $3, city_wide = $4 RETURNING id",
            args![code, r.name.trim(), r.description.trim(), r.city_wide],
        )
        .await?;
    tx.execute("DELETE FROM role_permissions WHERE role_id = $1", args![id])
        .await?;
    for p in &r.permissions {
        tx.execute(
            "INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)",
            args![id, p],
        )
        .await?;
    }
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "role.save", "role", id)
            .details(serde_json::json!({"code": code, "permissions": r.permissions}))],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::All);
    Ok(id)
}
