//! JSON API of the integration engine under `/api/v1/integration`.

use crate::channels::{self, Channel, ChannelInput};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
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
        delete_channel
    ),
    components(schemas(Channel, ChannelInput))
)]
pub struct ApiDoc;
