//! JSON API of the integration engine under `/api/v1/integration`.

use crate::channels::{self, Channel, ChannelInput};
use crate::critical::{self, Route, RouteInput};
use crate::engine::{self, ReplayOutcome, StoredMessage};
use crate::messages::{
    self, Appointment, ChannelStats, ClinicalQuery, CriticalAlert, MessageEvent, MessageQuery,
    MessageView, Order, Unmask,
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
        .route(
            "/api/v1/integration/channels",
            get(list_channels).post(create_channel),
        )
        .route(
            "/api/v1/integration/channels/{id}",
            get(get_channel).put(update_channel).delete(delete_channel),
        )
        .route("/api/v1/integration/monitor", get(monitor))
        .route("/api/v1/integration/messages", get(list_messages))
        .route("/api/v1/integration/messages/{id}", get(get_message))
        .route("/api/v1/integration/messages/{id}/replay", post(replay))
        .route("/api/v1/integration/alerts", get(list_alerts))
        .route("/api/v1/integration/orders", get(list_orders))
        .route("/api/v1/integration/appointments", get(list_appointments))
        .route("/api/v1/integration/alerts/{id}/ack", post(ack_alert))
        .route(
            "/api/v1/integration/critical-routes",
            get(list_routes).post(add_route),
        )
        .route(
            "/api/v1/integration/critical-routes/{id}",
            axum::routing::delete(delete_route),
        )
        .merge(crate::outbound_api::routes())
}

/// 各通道指标：消息数、速率、异常、队列深度、监听状态。
#[utoipa::path(get, path = "/api/v1/integration/monitor", tag = "集成平台", responses((status = 200, body = [ChannelStats])))]
pub async fn monitor(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
) -> ApiResult<Json<Vec<ChannelStats>>> {
    Ok(Json(messages::monitor(&st, &ctx).await?))
}

/// 查询已存储的消息（最新在前），分页（`page`、`size`）；总数只计到 10000 条，更多时 `total_at_least` 为真。
#[utoipa::path(get, path = "/api/v1/integration/messages", tag = "集成平台", params(MessageQuery, PageQuery), responses((status = 200, body = ApiPage<StoredMessage>)))]
pub async fn list_messages(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<MessageQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<StoredMessage>>> {
    let p = pq.paging()?;
    let rows = messages::search_page(&st, &ctx, &q, &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

/// 查看一条消息：ER7 原文，个人信息默认脱敏，说明用途后可显示原文；记入审计。
#[utoipa::path(get, path = "/api/v1/integration/messages/{id}", tag = "集成平台", params(Unmask), responses((status = 200, body = MessageView), (status = 404)))]
pub async fn get_message(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Query(um): Query<Unmask>,
) -> ApiResult<Json<MessageView>> {
    Ok(Json(messages::view(&st, &ctx, id, &um).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReplayInput {
    /// Edited ER7 text (segments separated by CR or newlines); the stored text when absent.
    #[serde(default)]
    pub raw: Option<String>,
}

/// 重新处理失败或被拒收的消息，可先修改内容。
#[utoipa::path(post, path = "/api/v1/integration/messages/{id}/replay", tag = "集成平台", request_body = ReplayInput, responses((status = 200, body = ReplayOutcome)))]
pub async fn replay(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(r): Json<ReplayInput>,
) -> ApiResult<Json<ReplayOutcome>> {
    Ok(Json(engine::replay(&st, &ctx, id, r.raw.as_deref()).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AlertQuery {
    /// open / acknowledged
    pub status: Option<String>,
}

/// 调用方范围内的危急值提醒（未确认在前，最新在前），分页（`page`、`size`）并给出总数。
#[utoipa::path(get, path = "/api/v1/integration/alerts", tag = "集成平台", params(AlertQuery, PageQuery), responses((status = 200, body = ApiPage<CriticalAlert>)))]
pub async fn list_alerts(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<AlertQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<CriticalAlert>>> {
    let p = pq.paging()?;
    let rows = messages::alerts_page(&st, &ctx, q.status.as_deref(), &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

/// 调用方范围内经 ORM/OML 接收的检查检验申请单，分页（`page`、`size`）并给出总数；读取记入审计。
#[utoipa::path(get, path = "/api/v1/integration/orders", tag = "集成平台", params(ClinicalQuery, PageQuery), responses((status = 200, body = ApiPage<Order>)))]
pub async fn list_orders(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<ClinicalQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Order>>> {
    let p = pq.paging()?;
    let rows = messages::orders_page(&st, &ctx, &q, &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

/// 调用方范围内经 SIU 接收的预约挂号，分页（`page`、`size`）并给出总数；读取记入审计。
#[utoipa::path(get, path = "/api/v1/integration/appointments", tag = "集成平台", params(ClinicalQuery, PageQuery), responses((status = 200, body = ApiPage<Appointment>)))]
pub async fn list_appointments(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<ClinicalQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Appointment>>> {
    let p = pq.paging()?;
    let rows = messages::appointments_page(&st, &ctx, &q, &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AckInput {
    #[serde(default)]
    pub note: String,
}

/// 确认一条危急值提醒。
#[utoipa::path(post, path = "/api/v1/integration/alerts/{id}/ack", tag = "集成平台", request_body = AckInput, responses((status = 200)))]
pub async fn ack_alert(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(a): Json<AckInput>,
) -> ApiResult<Json<Value>> {
    messages::acknowledge(&st, &ctx, id, &a.note).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 调用方范围内各机构的危急值通知规则（没有规则时按默认规则通知）。
#[utoipa::path(get, path = "/api/v1/integration/critical-routes", tag = "集成平台", responses((status = 200, body = [Route])))]
pub async fn list_routes(State(st): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<Json<Vec<Route>>> {
    Ok(Json(critical::routes(&st, &ctx).await?))
}

/// 新增通知规则：第 0 步立即通知，之后各步在提醒仍未确认时按设定的延迟通知。
#[utoipa::path(post, path = "/api/v1/integration/critical-routes", tag = "集成平台", request_body = RouteInput, responses((status = 200, description = "{id}")))]
pub async fn add_route(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<RouteInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": critical::add_route(&st, &ctx, &r).await? }),
    ))
}

/// 删除通知规则。
#[utoipa::path(delete, path = "/api/v1/integration/critical-routes/{id}", tag = "集成平台", responses((status = 200), (status = 404)))]
pub async fn delete_route(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    critical::delete_route(&st, &ctx, id).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 调用方可见的接入通道。
#[utoipa::path(get, path = "/api/v1/integration/channels", tag = "集成平台", responses((status = 200, body = [Channel])))]
pub async fn list_channels(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
) -> ApiResult<Json<Vec<Channel>>> {
    Ok(Json(channels::list(&st, &ctx).await?))
}

/// 新建接入通道（启用后其端口上的 MLLP 监听在数秒内启动）。
#[utoipa::path(post, path = "/api/v1/integration/channels", tag = "集成平台", request_body = ChannelInput, responses((status = 200, description = "{id}")))]
pub async fn create_channel(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(c): Json<ChannelInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "id": channels::create(&st, &ctx, c).await? })))
}

/// 查看一个接入通道。
#[utoipa::path(get, path = "/api/v1/integration/channels/{id}", tag = "集成平台", responses((status = 200, body = Channel), (status = 404)))]
pub async fn get_channel(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Channel>> {
    Ok(Json(channels::get(&st, &ctx, id).await?))
}

/// 修改接入通道（监听随之重启）。
#[utoipa::path(put, path = "/api/v1/integration/channels/{id}", tag = "集成平台", request_body = ChannelInput, responses((status = 200)))]
pub async fn update_channel(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(c): Json<ChannelInput>,
) -> ApiResult<Json<Value>> {
    channels::update(&st, &ctx, id, c).await?;
    Ok(Json(json!({ "ok": true })))
}

/// 删除从未收到过消息的接入通道。
#[utoipa::path(delete, path = "/api/v1/integration/channels/{id}", tag = "集成平台", responses((status = 200), (status = 409)))]
pub async fn delete_channel(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    channels::delete(&st, &ctx, id).await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_channels,
        create_channel,
        get_channel,
        update_channel,
        delete_channel,
        monitor,
        list_messages,
        get_message,
        replay,
        list_alerts,
        ack_alert,
        list_routes,
        add_route,
        delete_route,
        list_orders,
        list_appointments
    ),
    components(schemas(
        Route,
        RouteInput,
        Channel,
        ChannelInput,
        ChannelStats,
        StoredMessage,
        MessageView,
        MessageEvent,
        ReplayInput,
        ReplayOutcome,
        CriticalAlert,
        AckInput,
        Order,
        Appointment
    ))
)]
pub struct ApiDoc;
