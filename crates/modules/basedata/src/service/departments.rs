//! Departments of an institution.

use super::{check_phone, code_of, get_org};
use serde::{Deserialize, Serialize};
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::args;

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
    {
        use yiyang_core::text::{Checks, Kind};
        Checks::new()
            .text("code", "科室编码", &d.code, 32, Kind::Line)
            .text("name", "科室名称", &d.name, 50, Kind::Name)
            .text("phone", "电话", &d.phone, 32, Kind::Line)
            .finish()?;
    }
    let code = d.code.trim().to_uppercase();
    if code.is_empty()
        || code.len() > 32
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(AppError::field(
            "dept.code_invalid",
            "code",
            "科室编码须为1-32位字母、数字或 -",
        ));
    }
    if d.name.trim().is_empty() {
        return Err(AppError::field(
            "dept.name_required",
            "name",
            "请填写科室名称",
        ));
    }
    let kind = if d.kind.trim().is_empty() {
        "clinical"
    } else {
        code_of(DEPT_KINDS, &d.kind)
            .ok_or_else(|| AppError::field("dept.kind_invalid", "kind", "科室类型不正确"))?
    };
    let phone = check_phone("phone", &d.phone)?;
    let mut tx = st.db.begin().await?;
    let dup: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM departments WHERE org_id = $1 AND code = $2",
            args![org_id, &code],
        )
        .await?;
    if dup.is_some() {
        return Err(AppError::field(
            "dept.code_taken",
            "code",
            "本机构已有相同编码的科室",
        ));
    }
    let id = tx
        .scalar(
            "INSERT INTO departments (org_id, code, name, kind, phone, status, created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING id",
            args![org_id, &code, d.name.trim(), kind, phone, ctx.clock.now_micros()],
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
