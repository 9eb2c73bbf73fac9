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
use yiyang_platform::paging::{ApiPage, PageQuery};
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

/// 调用方可见的发布订阅，附待投递、已投递、死信数。
#[utoipa::path(get, path = "/api/v1/integration/subscriptions", tag = "集成平台", responses((status = 200, body = [Subscription])))]
pub async fn list_subscriptions(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
) -> ApiResult<Json<Vec<Subscription>>> {
    Ok(Json(outbound::list(&st, &ctx).await?))
}

/// 为所选事件登记 MLLP 或 Webhook 接收端。
#[utoipa::path(post, path = "/api/v1/integration/subscriptions", tag = "集成平台", request_body = SubscriptionInput, responses((status = 200, description = "{id}"), (status = 400), (status = 403)))]
pub async fn create_subscription(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(s): Json<SubscriptionInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "id": outbound::create(&st, &ctx, s).await? })))
}

/// 查看一个订阅（不返回密钥，只返回其末四位提示）。
#[utoipa::path(get, path = "/api/v1/integration/subscriptions/{id}", tag = "集成平台", responses((status = 200, body = Subscription), (status = 404)))]
pub async fn get_subscription(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(outbound::get(&st, &ctx, id).await?))
}

/// 修改订阅（也用于启用、停用）；`secret` 留空则保留原密钥。
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

/// 在该订阅的待投递记录之后排入一条测试事件。
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
}

/// 一个订阅的投递记录（最新在前），分页（`page`、`size`）；总数只计到 10000 条，更多时 `total_at_least` 为真。
#[utoipa::path(get, path = "/api/v1/integration/subscriptions/{id}/deliveries", tag = "集成平台", params(StatusQuery, PageQuery), responses((status = 200, body = ApiPage<Delivery>), (status = 404)))]
pub async fn subscription_deliveries(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Query(q): Query<StatusQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Delivery>>> {
    let p = pq.paging()?;
    outbound::get(&st, &ctx, id).await?;
    let dq = DeliveryQuery {
        subscription_id: Some(id),
        status: q.status,
        ..Default::default()
    };
    let rows = outbound::deliveries_page(&st, &ctx, &dq, &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

/// 将该订阅的全部死信重新排入队列。
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

/// 调用方各订阅的投递记录（最新在前），分页（`page`、`size`）；总数只计到 10000 条，更多时 `total_at_least` 为真。
#[utoipa::path(get, path = "/api/v1/integration/deliveries", tag = "集成平台", params(DeliveryQuery, PageQuery), responses((status = 200, body = ApiPage<Delivery>)))]
pub async fn list_deliveries(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<DeliveryQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Delivery>>> {
    let p = pq.paging()?;
    let rows = outbound::deliveries_page(&st, &ctx, &q, &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

/// 查看一条投递及其内容，个人信息默认脱敏，说明用途后可显示原文；记入审计。
#[utoipa::path(get, path = "/api/v1/integration/deliveries/{id}", tag = "集成平台", params(Unmask), responses((status = 200, body = DeliveryView), (status = 404)))]
pub async fn get_delivery(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Query(um): Query<Unmask>,
) -> ApiResult<Json<DeliveryView>> {
    Ok(Json(outbound::view(&st, &ctx, id, &um).await?))
}

/// 将一条死信重新排入队列（重试次数清零，立即投递）。
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
