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

/// Per-channel figures: counts, rate, errors, queue depth, listening state.
#[utoipa::path(get, path = "/api/v1/integration/monitor", tag = "集成平台", responses((status = 200, body = [ChannelStats])))]
pub async fn monitor(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
) -> ApiResult<Json<Vec<ChannelStats>>> {
    Ok(Json(messages::monitor(&st, &ctx).await?))
}

/// Search stored messages (newest first).
#[utoipa::path(get, path = "/api/v1/integration/messages", tag = "集成平台", params(MessageQuery), responses((status = 200, body = [StoredMessage])))]
pub async fn list_messages(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<MessageQuery>,
) -> ApiResult<Json<Vec<StoredMessage>>> {
    Ok(Json(messages::search(&st, &ctx, &q).await?))
}

/// One message: ER7 with personal fields masked unless unmasked with a purpose; audited.
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

/// Re-run processing of a failed or rejected message, optionally edited.
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

/// Critical-value alerts (危急值) in the caller's scope.
#[utoipa::path(get, path = "/api/v1/integration/alerts", tag = "集成平台", params(AlertQuery), responses((status = 200, body = [CriticalAlert])))]
pub async fn list_alerts(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<AlertQuery>,
) -> ApiResult<Json<Vec<CriticalAlert>>> {
    Ok(Json(
        messages::alerts(&st, &ctx, q.status.as_deref()).await?,
    ))
}

/// Orders (申请单) received by ORM/OML in the caller's scope; the read is audited.
#[utoipa::path(get, path = "/api/v1/integration/orders", tag = "集成平台", params(ClinicalQuery), responses((status = 200, body = [Order])))]
pub async fn list_orders(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<ClinicalQuery>,
) -> ApiResult<Json<Vec<Order>>> {
    Ok(Json(messages::orders(&st, &ctx, &q).await?))
}

/// Appointments (预约挂号) received by SIU in the caller's scope; the read is audited.
#[utoipa::path(get, path = "/api/v1/integration/appointments", tag = "集成平台", params(ClinicalQuery), responses((status = 200, body = [Appointment])))]
pub async fn list_appointments(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<ClinicalQuery>,
) -> ApiResult<Json<Vec<Appointment>>> {
    Ok(Json(messages::appointments(&st, &ctx, &q).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AckInput {
    #[serde(default)]
    pub note: String,
}

/// Acknowledge a critical-value alert.
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

/// 危急值通知规则 of the institutions in the caller's scope (none: the defaults apply).
#[utoipa::path(get, path = "/api/v1/integration/critical-routes", tag = "集成平台", responses((status = 200, body = [Route])))]
pub async fn list_routes(State(st): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<Json<Vec<Route>>> {
    Ok(Json(critical::routes(&st, &ctx).await?))
}

/// Add a routing rule: step 0 is sent at once, later steps after their delay while the alert is open.
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

/// Delete a routing rule.
#[utoipa::path(delete, path = "/api/v1/integration/critical-routes/{id}", tag = "集成平台", responses((status = 200), (status = 404)))]
pub async fn delete_route(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    critical::delete_route(&st, &ctx, id).await?;
    Ok(Json(json!({ "ok": true })))
}

/// Channels visible to the caller.
#[utoipa::path(get, path = "/api/v1/integration/channels", tag = "集成平台", responses((status = 200, body = [Channel])))]
pub async fn list_channels(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
) -> ApiResult<Json<Vec<Channel>>> {
    Ok(Json(channels::list(&st, &ctx).await?))
}

/// Create a channel (an MLLP listener on its port starts within seconds when enabled).
#[utoipa::path(post, path = "/api/v1/integration/channels", tag = "集成平台", request_body = ChannelInput, responses((status = 200, description = "{id}")))]
pub async fn create_channel(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(c): Json<ChannelInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "id": channels::create(&st, &ctx, c).await? })))
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/integration/channels/{id}", tag = "集成平台", responses((status = 200, body = Channel), (status = 404)))]
pub async fn get_channel(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Channel>> {
    Ok(Json(channels::get(&st, &ctx, id).await?))
}

/// Update a channel (its listener restarts).
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

/// Delete a channel that never received a message.
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
