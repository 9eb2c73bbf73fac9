//! JSON API of the outbound subscriptions under `/api/v1/integration/subscriptions` and
//! `/api/v1/integration/deliveries`.

use crate::outbound::{
    self, Delivery, DeliveryQuery, DeliveryView, Subscription, SubscriptionInput,
};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use yiyang_platform::masking::Unmask;
use yiyang_platform::web::{ApiResult, AppState, Ctx};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/integration/subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/api/v1/integration/subscriptions/{id}",
            get(get_subscription).put(update_subscription),
        )
        .route(
            "/api/v1/integration/subscriptions/{id}/test",
            post(test_subscription),
        )
        .route(
            "/api/v1/integration/subscriptions/{id}/deliveries",
            get(subscription_deliveries),
        )
        .route(
            "/api/v1/integration/subscriptions/{id}/retry-dead",
            post(retry_dead),
        )
        .route("/api/v1/integration/deliveries", get(list_deliveries))
        .route("/api/v1/integration/deliveries/{id}", get(get_delivery))
        .route(
            "/api/v1/integration/deliveries/{id}/retry",
            post(retry_delivery),
        )
}

/// Outbound subscriptions (发布订阅) visible to the caller, with pending/delivered/dead counts.
#[utoipa::path(get, path = "/api/v1/integration/subscriptions", tag = "集成平台", responses((status = 200, body = [Subscription])))]
pub async fn list_subscriptions(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
) -> ApiResult<Json<Vec<Subscription>>> {
    Ok(Json(outbound::list(&st, &ctx).await?))
}

/// Register an MLLP or webhook endpoint for chosen events.
#[utoipa::path(post, path = "/api/v1/integration/subscriptions", tag = "集成平台", request_body = SubscriptionInput, responses((status = 200, description = "{id}"), (status = 400), (status = 403)))]
pub async fn create_subscription(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(s): Json<SubscriptionInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "id": outbound::create(&st, &ctx, s).await? })))
}

/// One subscription (the secret is never returned, only its hint).
#[utoipa::path(get, path = "/api/v1/integration/subscriptions/{id}", tag = "集成平台", responses((status = 200, body = Subscription), (status = 404)))]
pub async fn get_subscription(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(outbound::get(&st, &ctx, id).await?))
}

/// Update a subscription (also enables/disables it); an empty `secret` keeps the stored one.
#[utoipa::path(put, path = "/api/v1/integration/subscriptions/{id}", tag = "集成平台", request_body = SubscriptionInput, responses((status = 200), (status = 400), (status = 404)))]
pub async fn update_subscription(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(s): Json<SubscriptionInput>,
) -> ApiResult<Json<Value>> {
    outbound::update(&st, &ctx, id, s).await?;
    Ok(Json(json!({ "ok": true })))
}

/// Queue a test event behind the subscription's pending deliveries.
#[utoipa::path(post, path = "/api/v1/integration/subscriptions/{id}/test", tag = "集成平台", responses((status = 200, description = "{delivery_id}"), (status = 409)))]
pub async fn test_subscription(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "delivery_id": outbound::queue_test(&st, &ctx, id).await? }),
    ))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct StatusQuery {
    /// pending / delivered / dead
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// Deliveries of one subscription, newest first.
#[utoipa::path(get, path = "/api/v1/integration/subscriptions/{id}/deliveries", tag = "集成平台", params(StatusQuery), responses((status = 200, body = [Delivery]), (status = 404)))]
pub async fn subscription_deliveries(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<Vec<Delivery>>> {
    outbound::get(&st, &ctx, id).await?;
    let dq = DeliveryQuery {
        subscription_id: Some(id),
        status: q.status,
        limit: q.limit,
    };
    Ok(Json(outbound::deliveries(&st, &ctx, &dq).await?))
}

/// Put every dead delivery of a subscription back in its queue.
#[utoipa::path(post, path = "/api/v1/integration/subscriptions/{id}/retry-dead", tag = "集成平台", responses((status = 200, description = "{count}")))]
pub async fn retry_dead(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "count": outbound::retry_dead(&st, &ctx, id).await? }),
    ))
}

/// Deliveries across the caller's subscriptions, newest first.
#[utoipa::path(get, path = "/api/v1/integration/deliveries", tag = "集成平台", params(DeliveryQuery), responses((status = 200, body = [Delivery])))]
pub async fn list_deliveries(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<Vec<Delivery>>> {
    Ok(Json(outbound::deliveries(&st, &ctx, &q).await?))
}

/// One delivery with its payload, personal values masked unless unmasked with a purpose; audited.
#[utoipa::path(get, path = "/api/v1/integration/deliveries/{id}", tag = "集成平台", params(Unmask), responses((status = 200, body = DeliveryView), (status = 404)))]
pub async fn get_delivery(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Query(um): Query<Unmask>,
) -> ApiResult<Json<DeliveryView>> {
    Ok(Json(outbound::view(&st, &ctx, id, &um).await?))
}

/// Put one dead delivery back in its queue (attempts reset, due now).
#[utoipa::path(post, path = "/api/v1/integration/deliveries/{id}/retry", tag = "集成平台", responses((status = 200), (status = 409)))]
pub async fn retry_delivery(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    outbound::retry(&st, &ctx, id).await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_subscriptions,
        create_subscription,
        get_subscription,
        update_subscription,
        test_subscription,
        subscription_deliveries,
        retry_dead,
        list_deliveries,
        get_delivery,
        retry_delivery
    ),
    components(schemas(Subscription, SubscriptionInput, Delivery, DeliveryView))
)]
pub struct ApiDoc;
