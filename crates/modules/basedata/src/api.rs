//! JSON API of the base-data module under `/api/v1`.

use crate::import::{self, ImportReport};
use crate::service::{
    self, Department, DeptInput, Org, OrgInput, OrgQuery, Staff, StaffInput, StaffQuery, Unmask,
};
use axum::extract::{Multipart, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use yiyang_core::AppError;
use yiyang_platform::paging::{ApiPage, PageQuery};
use yiyang_platform::web::{ApiResult, AppState, Ctx};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orgs", get(list_orgs).post(create_org))
        .route("/api/v1/orgs/{id}", get(get_org).put(update_org))
        .route("/api/v1/orgs/{id}/submit", post(submit_org))
        .route("/api/v1/orgs/{id}/review", post(review_org))
        .route(
            "/api/v1/orgs/{id}/departments",
            get(list_departments).post(create_department),
        )
        .route("/api/v1/staff", get(list_staff).post(create_staff))
        .route("/api/v1/staff/{id}", get(get_staff).delete(delete_staff))
        .route("/api/v1/staff/{id}/restore", post(restore_staff))
        .route("/api/v1/staff/{id}/submit", post(submit_staff))
        .route("/api/v1/staff/{id}/review", post(review_staff))
        .route("/api/v1/import/{kind}", post(import_file))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewInput {
    pub approve: bool,
    #[serde(default)]
    pub note: String,
}

/// 列出调用方可见的机构，分页（`page`、`size`）并给出总数。
#[utoipa::path(get, path = "/api/v1/orgs", tag = "基础信息", params(OrgQuery, PageQuery), responses((status = 200, body = ApiPage<Org>)))]
pub async fn list_orgs(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<OrgQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Org>>> {
    let p = pq.paging()?;
    let rows = service::list_orgs_page(&st, &ctx, &q, &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

/// 登记机构（状态为草稿）。
#[utoipa::path(post, path = "/api/v1/orgs", tag = "基础信息", request_body = OrgInput, responses((status = 200, description = "{id}")))]
pub async fn create_org(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(o): Json<OrgInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": service::create_org(&st, &ctx, o).await? }),
    ))
}

/// 查看一个机构。
#[utoipa::path(get, path = "/api/v1/orgs/{id}", tag = "基础信息", responses((status = 200, body = Org), (status = 404)))]
pub async fn get_org(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Org>> {
    Ok(Json(service::get_org(&st, &ctx, id).await?))
}

/// 修改机构（已通过的机构修改后重新进入审核）。
#[utoipa::path(put, path = "/api/v1/orgs/{id}", tag = "基础信息", request_body = OrgInput, responses((status = 200)))]
pub async fn update_org(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(o): Json<OrgInput>,
) -> ApiResult<Json<Value>> {
    service::update_org(&st, &ctx, id, o).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 提交审核。
#[utoipa::path(post, path = "/api/v1/orgs/{id}/submit", tag = "基础信息", responses((status = 200)))]
pub async fn submit_org(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    service::submit_org(&st, &ctx, id).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 审核通过或退回。
#[utoipa::path(post, path = "/api/v1/orgs/{id}/review", tag = "基础信息", request_body = ReviewInput, responses((status = 200)))]
pub async fn review_org(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(r): Json<ReviewInput>,
) -> ApiResult<Json<Value>> {
    service::review_org(&st, &ctx, id, r.approve, &r.note).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 机构的科室。
#[utoipa::path(get, path = "/api/v1/orgs/{id}/departments", tag = "基础信息", responses((status = 200, body = [Department])))]
pub async fn list_departments(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Department>>> {
    Ok(Json(service::list_departments(&st, &ctx, id).await?))
}

/// 新增科室。
#[utoipa::path(post, path = "/api/v1/orgs/{id}/departments", tag = "基础信息", request_body = DeptInput, responses((status = 200)))]
pub async fn create_department(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(d): Json<DeptInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": service::create_department(&st, &ctx, id, &d).await? }),
    ))
}

/// 调用方范围内的人员，分页（`page`、`size`）并给出总数；默认脱敏，带 `unmask=true` 和 `purpose`（用途）时显示原文（记入审计）。
#[utoipa::path(get, path = "/api/v1/staff", tag = "基础信息", params(StaffQuery, Unmask, PageQuery), responses((status = 200, body = ApiPage<Staff>)))]
pub async fn list_staff(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<StaffQuery>,
    Query(um): Query<Unmask>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Staff>>> {
    let p = pq.paging()?;
    let rows = service::list_staff_page(&st, &ctx, &q, &um, &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

/// 登记人员（身份证号校验、加密存储并建盲索引）。
#[utoipa::path(post, path = "/api/v1/staff", tag = "基础信息", request_body = StaffInput, responses((status = 200, description = "{id, warnings}")))]
pub async fn create_staff(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(s): Json<StaffInput>,
) -> ApiResult<Json<Value>> {
    let (id, warnings) = service::create_staff(&st, &ctx, s).await?;
    Ok(Json(json!({ "id": id, "warnings": warnings })))
}

/// 查看一名人员；不存在或不在调用方范围内时返回 404。
#[utoipa::path(get, path = "/api/v1/staff/{id}", tag = "基础信息", params(Unmask), responses((status = 200, body = Staff), (status = 404)))]
pub async fn get_staff(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Query(um): Query<Unmask>,
) -> ApiResult<Json<Staff>> {
    Ok(Json(service::get_staff(&st, &ctx, id, &um).await?))
}

/// 移入回收站（可恢复）。
#[utoipa::path(delete, path = "/api/v1/staff/{id}", tag = "基础信息", responses((status = 200)))]
pub async fn delete_staff(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    service::set_staff_deleted(&st, &ctx, id, true).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 从回收站恢复。
#[utoipa::path(post, path = "/api/v1/staff/{id}/restore", tag = "基础信息", responses((status = 200)))]
pub async fn restore_staff(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    service::set_staff_deleted(&st, &ctx, id, false).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 提交审核。
#[utoipa::path(post, path = "/api/v1/staff/{id}/submit", tag = "基础信息", responses((status = 200)))]
pub async fn submit_staff(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    service::submit_staff(&st, &ctx, id).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 审核通过或退回。
#[utoipa::path(post, path = "/api/v1/staff/{id}/review", tag = "基础信息", request_body = ReviewInput, responses((status = 200)))]
pub async fn review_staff(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(r): Json<ReviewInput>,
) -> ApiResult<Json<Value>> {
    service::review_staff(&st, &ctx, id, r.approve, &r.note).await?;
    Ok(Json(json!({ "ok": true })))
}

/// Upload parts of an import: the file and whether to check only.
pub async fn read_upload(mut mp: Multipart) -> Result<(String, Vec<u8>, bool), AppError> {
    let (mut name, mut bytes, mut dry) = (String::new(), Vec::new(), false);
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
    {
        match field.name() {
            Some("file") => {
                name = field.file_name().unwrap_or("").to_string();
                bytes = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
                    .to_vec();
            }
            Some("dry_run") => dry = field.text().await.unwrap_or_default() == "1",
            _ => {}
        }
    }
    if bytes.is_empty() {
        return Err(AppError::validation("import.no_file", "请选择要导入的文件"));
    }
    Ok((name, bytes, dry))
}

/// Runs an import of `kind` (`orgs` or `staff`).
pub async fn run_import(
    st: &AppState,
    ctx: &yiyang_core::RequestContext,
    kind: &str,
    name: &str,
    bytes: &[u8],
    dry: bool,
) -> Result<ImportReport, AppError> {
    match kind {
        "orgs" => {
            import::import_orgs(
                st,
                ctx,
                import::read_rows(name, bytes, import::ORG_COLUMNS)?,
                dry,
            )
            .await
        }
        "staff" => {
            import::import_staff(
                st,
                ctx,
                import::read_rows(name, bytes, import::STAFF_COLUMNS)?,
                dry,
            )
            .await
        }
        _ => Err(AppError::not_found("import_kind")),
    }
}

/// 从 CSV/XLSX 导入机构或人员（multipart：`file`，可选 `dry_run=1` 只校验不导入）。
#[utoipa::path(post, path = "/api/v1/import/{kind}", tag = "基础信息", responses((status = 200, body = ImportReport)))]
pub async fn import_file(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(kind): Path<String>,
    mp: Multipart,
) -> ApiResult<Json<ImportReport>> {
    let (name, bytes, dry) = read_upload(mp).await?;
    Ok(Json(
        run_import(&st, &ctx, &kind, &name, &bytes, dry).await?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_orgs,
        create_org,
        get_org,
        update_org,
        submit_org,
        review_org,
        list_departments,
        create_department,
        list_staff,
        create_staff,
        get_staff,
        delete_staff,
        restore_staff,
        submit_staff,
        review_staff,
        import_file
    ),
    components(schemas(
        Org,
        OrgInput,
        Department,
        DeptInput,
        Staff,
        StaffInput,
        ReviewInput,
        ImportReport,
        import::RowError
    ))
)]
pub struct ApiDoc;
