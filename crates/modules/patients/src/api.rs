//! JSON API of the patient master index and the health record under `/api/v1`.

use crate::record::{
    self, AllergyInput, ConditionInput, EncounterInput, HealthRecord, MedicationInput,
    ObservationInput,
};
use crate::service::{
    self, Contact, PersonInput, PersonQuery, PersonView, RegisterOutcome, Review, Stats, Unmask,
};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use yiyang_platform::paging::{ApiPage, PageQuery};
use yiyang_platform::web::{ApiResult, AppState, Ctx};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/persons", get(search).post(register))
        .route("/api/v1/persons/{id}", get(get_person))
        .route("/api/v1/persons/{id}/record", get(get_record))
        .route("/api/v1/persons/{id}/identifiers", get(get_identifiers))
        .route("/api/v1/persons/{id}/contacts", post(add_contact))
        .route("/api/v1/persons/{id}/merge", post(merge))
        .route("/api/v1/persons/{id}/unmerge", post(unmerge))
        .route("/api/v1/persons/{id}/history", get(history))
        .route("/api/v1/persons/{id}/encounters", post(add_encounter))
        .route("/api/v1/encounters/{id}/{action}", post(move_encounter))
        .route("/api/v1/persons/{id}/conditions", post(add_condition))
        .route("/api/v1/persons/{id}/observations", post(add_observation))
        .route("/api/v1/persons/{id}/allergies", post(add_allergy))
        .route("/api/v1/persons/{id}/medications", post(add_medication))
        .route("/api/v1/mpi/reviews", get(reviews))
        .route("/api/v1/mpi/reviews/{id}", post(decide))
        .route("/api/v1/mpi/stats", get(stats))
}

/// 经患者主索引登记居民：关联到已有记录、进入疑似重复审核，或新建记录。
#[utoipa::path(post, path = "/api/v1/persons", tag = "患者主索引", request_body = PersonInput, responses((status = 200, body = RegisterOutcome)))]
pub async fn register(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(p): Json<PersonInput>,
) -> ApiResult<Json<RegisterOutcome>> {
    Ok(Json(service::register(&st, &ctx, p).await?))
}

/// 在调用方范围内查找居民（姓名、拼音、身份证号、手机号、院内标识），分页（`page`、`size`）并给出总数；读取记入审计。
#[utoipa::path(get, path = "/api/v1/persons", tag = "患者主索引", params(PersonQuery, PageQuery), responses((status = 200, body = ApiPage<PersonView>)))]
pub async fn search(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<PersonQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<PersonView>>> {
    let p = pq.paging()?;
    let rows = service::search_page(&st, &ctx, &q, &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

/// 查看一名居民；默认脱敏，带 `unmask=true` 和 `purpose`（用途）时显示原文。
#[utoipa::path(get, path = "/api/v1/persons/{id}", tag = "患者主索引", params(Unmask), responses((status = 200, body = PersonView), (status = 404)))]
pub async fn get_person(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Query(um): Query<Unmask>,
) -> ApiResult<Json<PersonView>> {
    Ok(Json(service::get_person(&st, &ctx, id, &um).await?))
}

/// 居民的健康档案（合并后的各条记录一并显示）。
#[utoipa::path(get, path = "/api/v1/persons/{id}/record", tag = "健康档案", responses((status = 200, body = HealthRecord)))]
pub async fn get_record(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<HealthRecord>> {
    Ok(Json(record::read(&st, &ctx, id).await?.2))
}

/// 居民在各机构的院内标识。
#[utoipa::path(get, path = "/api/v1/persons/{id}/identifiers", tag = "患者主索引", responses((status = 200, body = [service::IdentifierView])))]
pub async fn get_identifiers(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<service::IdentifierView>>> {
    let (_, ids, _) = record::read(&st, &ctx, id).await?;
    Ok(Json(service::identifiers(&st.db, &ids).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ContactInput {
    #[serde(flatten)]
    pub contact: Contact,
    /// Login of a resident (family) account to link.
    pub account_login: Option<String>,
}

/// 添加家属或紧急联系人。
#[utoipa::path(post, path = "/api/v1/persons/{id}/contacts", tag = "患者主索引", request_body = ContactInput, responses((status = 200)))]
pub async fn add_contact(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(c): Json<ContactInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": service::add_contact(&st, &ctx, id, &c.contact, c.account_login.as_deref()).await? }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MergeInput {
    /// The record to merge into this one.
    pub merged_id: i64,
    #[serde(default)]
    pub reason: String,
}

/// 将另一条记录合并到此居民（可拆分恢复）。
#[utoipa::path(post, path = "/api/v1/persons/{id}/merge", tag = "患者主索引", request_body = MergeInput, responses((status = 200)))]
pub async fn merge(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(m): Json<MergeInput>,
) -> ApiResult<Json<Value>> {
    service::merge(&st, &ctx, id, m.merged_id, &m.reason).await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReasonInput {
    #[serde(default)]
    pub reason: String,
}

/// 撤销此（已被合并的）记录的合并。
#[utoipa::path(post, path = "/api/v1/persons/{id}/unmerge", tag = "患者主索引", request_body = ReasonInput, responses((status = 200)))]
pub async fn unmerge(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(r): Json<ReasonInput>,
) -> ApiResult<Json<Value>> {
    service::unmerge(&st, &ctx, id, &r.reason).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 主索引历史（登记、关联、合并、拆分、审核决定）。
#[utoipa::path(get, path = "/api/v1/persons/{id}/history", tag = "患者主索引", responses((status = 200, body = [service::EventView])))]
pub async fn history(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<service::EventView>>> {
    let (_, ids, _) = record::read(&st, &ctx, id).await?;
    Ok(Json(service::history(&st.db, &ids).await?))
}

/// 新建就诊（住院即入院）。
#[utoipa::path(post, path = "/api/v1/persons/{id}/encounters", tag = "健康档案", request_body = EncounterInput, responses((status = 200)))]
pub async fn add_encounter(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(e): Json<EncounterInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": record::add_encounter(&st, &ctx, id, &e).await? }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MoveInput {
    #[serde(default)]
    pub to_location: String,
    pub at: Option<String>,
}

/// 住院转科（`transfer`）或出院（`discharge`）。
#[utoipa::path(post, path = "/api/v1/encounters/{id}/{action}", tag = "健康档案", request_body = MoveInput, responses((status = 200)))]
pub async fn move_encounter(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, action)): Path<(i64, String)>,
    Json(m): Json<MoveInput>,
) -> ApiResult<Json<Value>> {
    record::move_encounter(&st, &ctx, id, &action, &m.to_location, m.at).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 记录诊断（默认 ICD-10）。
#[utoipa::path(post, path = "/api/v1/persons/{id}/conditions", tag = "健康档案", request_body = ConditionInput, responses((status = 200)))]
pub async fn add_condition(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(c): Json<ConditionInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": record::add_condition(&st, &ctx, id, &c).await? }),
    ))
}

/// 记录体征或检验结果（默认 LOINC 编码、UCUM 单位）。
#[utoipa::path(post, path = "/api/v1/persons/{id}/observations", tag = "健康档案", request_body = ObservationInput, responses((status = 200)))]
pub async fn add_observation(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(o): Json<ObservationInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": record::add_observation(&st, &ctx, id, &o).await? }),
    ))
}

/// 记录过敏。
#[utoipa::path(post, path = "/api/v1/persons/{id}/allergies", tag = "健康档案", request_body = AllergyInput, responses((status = 200)))]
pub async fn add_allergy(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(a): Json<AllergyInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": record::add_allergy(&st, &ctx, id, &a).await? }),
    ))
}

/// 记录处方或服药。
#[utoipa::path(post, path = "/api/v1/persons/{id}/medications", tag = "健康档案", request_body = MedicationInput, responses((status = 200)))]
pub async fn add_medication(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(m): Json<MedicationInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": record::add_medication(&st, &ctx, id, &m).await? }),
    ))
}

/// 调用方可处理的待审核疑似重复（可能性高的在前），分页（`page`、`size`）并给出总数。
#[utoipa::path(get, path = "/api/v1/mpi/reviews", tag = "患者主索引", params(PageQuery), responses((status = 200, body = ApiPage<Review>)))]
pub async fn reviews(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Review>>> {
    let p = pq.paging()?;
    let rows = service::pending_reviews_page(&st, &ctx, &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DecisionInput {
    /// `merge` or `distinct`
    pub decision: String,
}

/// 处理一对疑似重复。
#[utoipa::path(post, path = "/api/v1/mpi/reviews/{id}", tag = "患者主索引", request_body = DecisionInput, responses((status = 200)))]
pub async fn decide(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(d): Json<DecisionInput>,
) -> ApiResult<Json<Value>> {
    service::decide_review(&st, &ctx, id, &d.decision).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 调用方范围内的主索引统计。
#[utoipa::path(get, path = "/api/v1/mpi/stats", tag = "患者主索引", responses((status = 200, body = Stats)))]
pub async fn stats(State(st): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<Json<Stats>> {
    Ok(Json(service::stats(&st, &ctx).await?))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        register,
        search,
        get_person,
        get_record,
        get_identifiers,
        add_contact,
        merge,
        unmerge,
        history,
        add_encounter,
        move_encounter,
        add_condition,
        add_observation,
        add_allergy,
        add_medication,
        reviews,
        decide,
        stats
    ),
    components(schemas(
        PersonInput,
        service::IdentifierInput,
        RegisterOutcome,
        PersonView,
        HealthRecord,
        record::Encounter,
        record::Condition,
        record::Observation,
        record::Allergy,
        record::Medication,
        record::DocumentMeta,
        Contact,
        ContactInput,
        MergeInput,
        ReasonInput,
        EncounterInput,
        MoveInput,
        ConditionInput,
        ObservationInput,
        AllergyInput,
        MedicationInput,
        Review,
        DecisionInput,
        Stats,
        service::IdentifierView,
        service::EventView
    ))
)]
pub struct ApiDoc;
