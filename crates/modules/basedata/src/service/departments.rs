//! Departments of an institution.

use super::{check_phone, code_of, get_org};
use serde::{Deserialize, Serialize};
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Tx, args};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Department {
    pub id: i64,
    pub org_id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub phone: String,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct DeptInput {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub phone: String,
    /// `active` (启用) or `inactive` (停用); empty: active for a new department, unchanged
    /// for an edit.
    #[serde(default)]
    pub status: String,
}

pub const DEPT_KINDS: &[(&str, &str)] = &[
    ("clinical", "临床科室"),
    ("medtech", "医技科室"),
    ("nursing", "护理单元"),
    ("admin", "行政后勤"),
    ("service", "服务部门"),
];

pub async fn list_departments(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
) -> AppResult<Vec<Department>> {
    get_org(st, ctx, org_id).await?;
    ctx.require(perm::DEPT_READ)?;
    st.db
        .fetch_all("SELECT id, org_id, code, name, kind, phone, status FROM departments WHERE org_id = $1 ORDER BY code", args![org_id])
        .await
}

/// Department states with their labels.
pub const DEPT_STATUSES: &[(&str, &str)] = &[("active", "启用"), ("inactive", "停用")];

/// A department's input checked and normalised: (code, kind, phone, status). Every problem
/// is gathered — the format of each field, an empty name, an unknown kind or state and a
/// code another department of the institution already has — and reported at once (a
/// single problem keeps its own code). `except` is the department being edited.
async fn checked(
    tx: &mut Tx,
    org_id: i64,
    d: &DeptInput,
    except: i64,
) -> AppResult<(String, &'static str, String, Option<&'static str>)> {
    use yiyang_core::text::{Checks, Kind};
    let mut c = Checks::new();
    c.text("code", "科室编码", &d.code, 32, Kind::Line)
        .text("name", "科室名称", &d.name, 50, Kind::Name)
        .text("phone", "电话", &d.phone, 32, Kind::Line);
    let code = d.code.trim().to_uppercase();
    if code.is_empty()
        || code.len() > 32
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        c.result::<()>(Err(AppError::field(
            "dept.code_invalid",
            "code",
            "科室编码须为1-32位字母、数字或 -",
        )));
    }
    if d.name.trim().is_empty() {
        c.result::<()>(Err(AppError::field(
            "dept.name_required",
            "name",
            "请填写科室名称",
        )));
    }
    let kind = if d.kind.trim().is_empty() {
        Some("clinical")
    } else {
        c.result(
            code_of(DEPT_KINDS, &d.kind)
                .ok_or_else(|| AppError::field("dept.kind_invalid", "kind", "科室类型不正确")),
        )
    };
    let status = if d.status.trim().is_empty() {
        None
    } else {
        c.result(code_of(DEPT_STATUSES, &d.status).ok_or_else(|| {
            AppError::field("dept.status_invalid", "status", "科室状态须为启用或停用")
        }))
    };
    let phone = c.result(check_phone("phone", &d.phone));
    if !code.is_empty() {
        let dup: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT id FROM departments WHERE org_id = $1 AND code = $2 AND id <> $3",
                args![org_id, &code, except],
            )
            .await?;
        if dup.is_some() {
            c.result::<()>(Err(AppError::field(
                "dept.code_taken",
                "code",
                format!("本机构已有相同编码的科室：{code}"),
            )));
        }
    }
    c.finish()?;
    Ok((
        code,
        kind.unwrap_or("clinical"),
        phone.unwrap_or_default(),
        status,
    ))
}

pub async fn create_department(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
    d: &DeptInput,
) -> AppResult<i64> {
    get_org(st, ctx, org_id).await?;
    if !ctx.has_for(perm::DEPT_WRITE, org_id) {
        return Err(AppError::forbidden(perm::DEPT_WRITE));
    }
    let mut tx = st.db.begin().await?;
    let (code, kind, phone, status) = checked(&mut tx, org_id, d, 0).await?;
    let id = tx
        .scalar(
            "INSERT INTO departments (org_id, code, name, kind, phone, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            args![org_id, &code, d.name.trim(), kind, phone, status.unwrap_or("active"), ctx.clock.now_micros()],
        )
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "dept.create", "department", id)
            .org(Some(org_id))
            .details(serde_json::to_value(d).unwrap_or_default())],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The department `id` of institution `org_id` for an edit by the caller: a department of
/// another institution, of one the caller cannot see, or of one outside the caller's
/// `dept.write` scope is missing (404), as out-of-scope records are.
pub async fn department_for_edit(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
    id: i64,
) -> AppResult<Department> {
    let scope = ctx.require(perm::DEPT_WRITE)?;
    if !scope.allows(org_id) {
        return Err(AppError::not_found("department"));
    }
    get_org(st, ctx, org_id).await?;
    st.db
        .fetch_optional(
            "SELECT id, org_id, code, name, kind, phone, status FROM departments WHERE id = $1 AND org_id = $2",
            args![id, org_id],
        )
        .await?
        .ok_or_else(|| AppError::not_found("department"))
}

/// Edits a department (code, name, kind, phone and, when given, its state); every problem is
/// reported at once. Audited with the record before and after.
pub async fn update_department(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
    id: i64,
    d: &DeptInput,
) -> AppResult<()> {
    let before = department_for_edit(st, ctx, org_id, id).await?;
    let mut tx = st.db.begin().await?;
    let (code, kind, phone, status) = checked(&mut tx, org_id, d, id).await?;
    let status = status.unwrap_or(before.status.as_str());
    tx.execute(
        "UPDATE departments SET code = $1, name = $2, kind = $3, phone = $4, status = $5 WHERE id = $6 AND org_id = $7",
        args![&code, d.name.trim(), kind, &phone, status, id, org_id],
    )
    .await?;
    let after = Department {
        id,
        org_id,
        code,
        name: d.name.trim().to_string(),
        kind: kind.to_string(),
        phone,
        status: status.to_string(),
    };
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "dept.update", "department", id)
            .org(Some(org_id))
            .details(serde_json::json!({"before": before, "after": after}))],
    )
    .await?;
    tx.commit().await
}

/// 停用/启用 a department (`active` or `inactive`). A stopped department is no longer offered
/// for new staff records; those already in it keep it.
pub async fn set_department_status(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
    id: i64,
    status: &str,
) -> AppResult<()> {
    let before = department_for_edit(st, ctx, org_id, id).await?;
    let status = code_of(DEPT_STATUSES, status).ok_or_else(|| {
        AppError::field("dept.status_invalid", "status", "科室状态须为启用或停用")
    })?;
    if before.status == status {
        return Ok(());
    }
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE departments SET status = $1 WHERE id = $2 AND org_id = $3",
        args![status, id, org_id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, if status == "active" { "dept.enable" } else { "dept.disable" }, "department", id)
                .org(Some(org_id))
                .details(serde_json::json!({"code": before.code, "name": before.name, "from": before.status, "to": status})),
        ],
    )
    .await?;
    tx.commit().await
}
