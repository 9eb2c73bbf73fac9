//! JSON API of the IoT module under `/api/v1/iot`, and the device-facing endpoints under
//! `/device-api/v1` (device credentials, not accounts).

use crate::alarms::{self, Alarm, AlarmEvent, AlarmQuery};
use crate::devices::{
    self, BindInput, Binding, Device, DeviceInput, DeviceQuery, Model, ModelInput,
};
use crate::ingest::{Outcome, Uplink, Via};
use crate::readings::{self, Bed, Reading};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use yiyang_core::AppError;
use yiyang_platform::paging::{ApiPage, PageQuery};
use yiyang_platform::web::{ApiResult, AppState, Ctx};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/iot/models", get(list_models).post(create_model))
        .route("/api/v1/iot/devices", get(list_devices).post(create_device))
        .route(
            "/api/v1/iot/devices/{id}",
            get(get_device).put(update_device),
        )
        .route(
            "/api/v1/iot/devices/{id}/bindings",
            get(list_bindings).post(bind),
        )
        .route("/api/v1/iot/devices/{id}/unbind", post(unbind))
        .route("/api/v1/iot/devices/{id}/secret", post(secret))
        .route("/api/v1/iot/alarms", get(list_alarms))
        .route("/api/v1/iot/alarms/{id}/events", get(alarm_events))
        .route("/api/v1/iot/alarms/{id}/{action}", post(act))
        .route("/api/v1/iot/persons/{id}/readings", get(person_readings))
        .route("/api/v1/iot/wards/{org}/{ward}/beds", get(ward_beds))
        .route("/device-api/v1/{kind}", post(device_ingest))
        .route("/device-api/v1/mqtt/auth", post(mqtt_auth))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_models,
        create_model,
        list_devices,
        create_device,
        get_device,
        update_device,
        list_bindings,
        bind,
        unbind,
        secret,
        list_alarms,
        alarm_events,
        act,
        person_readings,
        ward_beds,
        device_ingest,
        mqtt_auth
    ),
    components(schemas(
        Model,
        ModelInput,
        Device,
        DeviceInput,
        Binding,
        BindInput,
        Alarm,
        AlarmEvent,
        Reading,
        Bed,
        Outcome,
        ActInput,
        AuthInput
    ))
)]
pub struct ApiDoc;

/// 设备型号目录。
#[utoipa::path(get, path = "/api/v1/iot/models", tag = "物联网监测", responses((status = 200, body = [Model])))]
pub async fn list_models(State(st): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<Json<Vec<Model>>> {
    ctx.require(crate::IOT_READ)?;
    Ok(Json(devices::models(&st.db).await?))
}

/// 新增设备型号（全市共用的型号目录，需全市范围的设备管理权限）。
#[utoipa::path(post, path = "/api/v1/iot/models", tag = "物联网监测", request_body = ModelInput, responses((status = 200, body = Value)))]
pub async fn create_model(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(m): Json<ModelInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"id": devices::create_model(&st, &ctx, &m).await?}),
    ))
}

/// 设备列表（本机构范围内），分页；可按类别、状态、离线/电量低/待校准/未绑定筛选。
#[utoipa::path(get, path = "/api/v1/iot/devices", tag = "物联网监测", params(DeviceQuery, PageQuery), responses((status = 200, body = ApiPage<Device>)))]
pub async fn list_devices(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<DeviceQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Device>>> {
    let p = pq.paging()?;
    Ok(Json(p.answer(
        devices::list_page(&st, &ctx, &q, &p.window()).await?,
    )))
}

/// 登记设备（所有问题一次报告）。
#[utoipa::path(post, path = "/api/v1/iot/devices", tag = "物联网监测", request_body = DeviceInput, responses((status = 200, body = Value)))]
pub async fn create_device(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(d): Json<DeviceInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"id": devices::create(&st, &ctx, &d).await?})))
}

/// 查看一台设备（含当前绑定，姓名按角色脱敏）。
#[utoipa::path(get, path = "/api/v1/iot/devices/{id}", tag = "物联网监测", responses((status = 200, body = Device), (status = 404)))]
pub async fn get_device(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Device>> {
    Ok(Json(devices::get(&st, &ctx, id).await?))
}

/// 修改设备信息（所属机构不可改）。
#[utoipa::path(put, path = "/api/v1/iot/devices/{id}", tag = "物联网监测", request_body = DeviceInput, responses((status = 200, body = Device)))]
pub async fn update_device(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(d): Json<DeviceInput>,
) -> ApiResult<Json<Device>> {
    devices::update(&st, &ctx, id, &d).await?;
    Ok(Json(devices::get(&st, &ctx, id).await?))
}

/// 设备的绑定历史（谁在何时佩戴，或服务哪张床），最新在前。
#[utoipa::path(get, path = "/api/v1/iot/devices/{id}/bindings", tag = "物联网监测", responses((status = 200, body = [Binding])))]
pub async fn list_bindings(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Binding>>> {
    Ok(Json(devices::bindings(&st, &ctx, id).await?))
}

/// 绑定设备到人员和/或床位（结束原绑定；设备与人员分别校验权限）。
#[utoipa::path(post, path = "/api/v1/iot/devices/{id}/bindings", tag = "物联网监测", request_body = BindInput, responses((status = 200, body = Value)))]
pub async fn bind(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Json(b): Json<BindInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"id": devices::bind(&st, &ctx, id, &b).await?})))
}

/// 解除设备的当前绑定。
#[utoipa::path(post, path = "/api/v1/iot/devices/{id}/unbind", tag = "物联网监测", responses((status = 200, body = Value)))]
pub async fn unbind(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    devices::unbind(&st, &ctx, id).await?;
    Ok(Json(json!({"ok": true})))
}

/// 为网关（或直连设备）签发接入凭据：密钥只显示这一次，平台只保存其摘要。
#[utoipa::path(post, path = "/api/v1/iot/devices/{id}/secret", tag = "物联网监测", responses((status = 200, body = Value)))]
pub async fn secret(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let d = devices::get(&st, &ctx, id).await?;
    let s = devices::issue_secret(&st, &ctx, id).await?;
    Ok(Json(json!({"username": d.serial, "secret": s})))
}

/// 告警列表（最新在前），分页；可只看未解除的告警。
#[utoipa::path(get, path = "/api/v1/iot/alarms", tag = "物联网监测", params(AlarmQuery, PageQuery), responses((status = 200, body = ApiPage<Alarm>)))]
pub async fn list_alarms(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<AlarmQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Alarm>>> {
    let p = pq.paging()?;
    Ok(Json(p.answer(
        alarms::list_page(&st, &ctx, &q, &p.window()).await?,
    )))
}

/// 一条告警的处理经过（产生、确认、解除）。
#[utoipa::path(get, path = "/api/v1/iot/alarms/{id}/events", tag = "物联网监测", responses((status = 200, body = [AlarmEvent])))]
pub async fn alarm_events(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<AlarmEvent>>> {
    Ok(Json(alarms::events(&st, &ctx, id).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ActInput {
    #[serde(default)]
    pub note: String,
}

/// 确认（ack）或解除（resolve）告警。
#[utoipa::path(post, path = "/api/v1/iot/alarms/{id}/{action}", tag = "物联网监测", request_body = ActInput, responses((status = 200, body = Alarm), (status = 409)))]
pub async fn act(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path((id, action)): Path<(i64, String)>,
    body: Option<Json<ActInput>>,
) -> ApiResult<Json<Alarm>> {
    let note = body.map(|b| b.0.note).unwrap_or_default();
    Ok(Json(alarms::act(&st, &ctx, id, &action, &note).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct RangeQuery {
    /// 起始时间（毫秒时间戳，默认 24 小时前）
    pub from: Option<i64>,
    /// 截止时间（毫秒时间戳，默认现在）
    pub to: Option<i64>,
    /// 最多条数（默认 2000，最多 20000）
    pub limit: Option<i64>,
}

/// 一个人的体征读数（时间正序）；本人、授权家属或管辖机构的医护可查，记入审计。
#[utoipa::path(get, path = "/api/v1/iot/persons/{id}/readings", tag = "物联网监测", params(RangeQuery), responses((status = 200, body = [Reading]), (status = 404)))]
pub async fn person_readings(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Json<Vec<Reading>>> {
    let now = ctx.clock.now_micros();
    let to = q.to.map(|t| t * 1000).unwrap_or(now);
    let from = q.from.map(|t| t * 1000).unwrap_or(to - 86_400_000_000);
    if from >= to {
        return Err(AppError::field("filter.invalid", "from", "起始时间须早于截止时间").into());
    }
    Ok(Json(
        readings::timeline(&st, &ctx, id, from, to, q.limit.unwrap_or(2000)).await?,
    ))
}

/// 病区各床位的最新体征与 NEWS2 评分（大屏数据）。
#[utoipa::path(get, path = "/api/v1/iot/wards/{org}/{ward}/beds", tag = "物联网监测", responses((status = 200, body = [Bed])))]
pub async fn ward_beds(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Path((org, ward)): Path<(i64, String)>,
) -> ApiResult<Json<Vec<Bed>>> {
    Ok(Json(readings::ward_beds(&st, &ctx, org, &ward).await?))
}

/// The device authenticated by `X-Device-Serial` and `Authorization: Bearer <secret>`.
async fn device_of(
    st: &AppState,
    headers: &HeaderMap,
) -> Result<(crate::ingest::Dev, String), AppError> {
    let serial = headers
        .get("x-device-serial")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_string();
    let secret = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or("");
    let snap = crate::ingest::snapshot(st).await?;
    let dev = snap.by_serial.get(&serial).filter(|d| {
        d.secret_hash
            .as_deref()
            // Comparing digests: timing reveals nothing about the secret.
            .is_some_and(|h| h == devices::hash_secret(secret))
    });
    match dev {
        Some(d) if d.status != "retired" => Ok((d.clone(), serial)),
        _ => Err(AppError::new(
            "iot.device_auth",
            401,
            "设备凭据无效（请检查 X-Device-Serial 与 Bearer 密钥）",
        )),
    }
}

/// 设备 HTTP 上报（不能使用 MQTT 的设备）：`X-Device-Serial` + `Authorization: Bearer 密钥`；
/// kind 为 up/status/nfc/event/gps/ack，消息体与 MQTT 相同（docs/iot-mqtt.md）。提交成功后才应答。
#[utoipa::path(post, path = "/device-api/v1/{kind}", tag = "物联网监测", request_body = Value, responses((status = 200, body = Outcome), (status = 401)))]
pub async fn device_ingest(
    State(st): State<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<Outcome>> {
    let (dev, serial) = device_of(&st, &headers).await?;
    let org_code = yiyang_basedata::service::org_code(&st.db, dev.org_id)
        .await?
        .unwrap_or_default();
    let up = Uplink {
        topic: format!("yiyang/v1/{org_code}/gw/{serial}/{kind}"),
        body: body.to_vec(),
        received_at: st.clock.now_micros(),
        via: Via::Http { device_id: dev.id },
    };
    let out = crate::ingest::shared(&st)
        .lock()
        .await
        .ingest(&[up])
        .await?;
    Ok(Json(out))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AuthInput {
    pub username: String,
    pub password: String,
}

/// MQTT 代理的 HTTP 认证接口（EMQX“HTTP 认证”）：用户名为设备序列号，密码为平台签发的密钥。
/// 返回 {"result":"allow"} 或 {"result":"deny"}。
#[utoipa::path(post, path = "/device-api/v1/mqtt/auth", tag = "物联网监测", request_body = AuthInput, responses((status = 200, body = Value)))]
pub async fn mqtt_auth(
    State(st): State<AppState>,
    Json(a): Json<AuthInput>,
) -> ApiResult<Json<Value>> {
    let snap = crate::ingest::snapshot(&st).await?;
    let ok = snap.by_serial.get(&a.username).is_some_and(|d| {
        d.status != "retired"
            && d.secret_hash
                .as_deref()
                .is_some_and(|h| h == devices::hash_secret(&a.password))
    });
    Ok(Json(json!({"result": if ok { "allow" } else { "deny" }})))
}
