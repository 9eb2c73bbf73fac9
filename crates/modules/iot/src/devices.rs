//! The device registry (设备管理): models, devices, bindings to persons and beds, gateway
//! credentials. Every device belongs to one institution; a caller sees and changes only the
//! devices of institutions in its scope (others answer 404, as if missing).

use crate::labels::{self, ACQUISITIONS, HEALTH, KINDS, STATUSES};
use crate::{IOT_MANAGE, IOT_READ};
use serde::{Deserialize, Serialize};
use yiyang_core::text::{Checks, Kind};
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, Filter, Paged, Sort, Tx, Window, args, like_pattern};

/// A device model of the catalogue (型号目录), shared city-wide.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Model {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// One of [`KINDS`].
    pub kind: String,
    pub vendor: String,
    pub spec: String,
    pub latest_firmware: String,
    /// Days between calibrations (0: none required).
    pub calibration_days: i64,
}

/// What a new model holds.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ModelInput {
    pub code: String,
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub spec: String,
    #[serde(default)]
    pub latest_firmware: String,
    #[serde(default)]
    pub calibration_days: i64,
}

pub async fn models(mut db: impl Conn) -> AppResult<Vec<Model>> {
    db.fetch_all(
        "SELECT id, code, name, kind, vendor, spec, latest_firmware, calibration_days FROM iot_models ORDER BY kind, code",
        vec![],
    )
    .await
}

/// Adds a model (city-wide `iot.manage`: the catalogue is shared).
pub async fn create_model(st: &AppState, ctx: &RequestContext, m: &ModelInput) -> AppResult<i64> {
    if ctx.scope_of(IOT_MANAGE) != Some(Scope::City) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    let mut c = Checks::new();
    c.text("code", "型号编码", &m.code, 32, Kind::Line)
        .text("name", "型号名称", &m.name, 60, Kind::Name)
        .text("vendor", "生产厂家", &m.vendor, 60, Kind::Name)
        .text("spec", "规格", &m.spec, 200, Kind::Line)
        .text(
            "latest_firmware",
            "最新固件版本",
            &m.latest_firmware,
            32,
            Kind::Line,
        );
    let code = m.code.trim().to_uppercase();
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        c.add("code", "型号编码须为字母、数字或 -");
    }
    if m.name.trim().is_empty() {
        c.add("name", "请填写型号名称");
    }
    let kind = labels::code_of(KINDS, &m.kind);
    if kind.is_none() {
        c.add("kind", "请选择设备类别");
    }
    if !(0..=3650).contains(&m.calibration_days) {
        c.add("calibration_days", "校准周期须在 0–3650 天之间");
    }
    let taken: Option<(i64,)> = st
        .db
        .fetch_optional("SELECT id FROM iot_models WHERE code = $1", args![&code])
        .await?;
    if taken.is_some() {
        c.add("code", format!("型号编码 {code} 已存在"));
    }
    c.finish()?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO iot_models (code, name, kind, vendor, spec, latest_firmware, calibration_days, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            args![&code, m.name.trim(), kind.unwrap_or("band"), m.vendor.trim(), m.spec.trim(), m.latest_firmware.trim(), m.calibration_days, now],
        )
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.model.create", "iot_model", id)
            .details(serde_json::json!({"code": code}))],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A device as listed and shown.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Device {
    pub id: i64,
    pub org_id: i64,
    #[sqlx(default)]
    pub org_name: String,
    pub model_id: i64,
    pub model_name: String,
    pub kind: String,
    pub serial: String,
    /// The NFC tag UID the device carries (bands), normalised hex.
    pub nfc_uid: Option<String>,
    pub name: String,
    pub firmware: String,
    pub acquisition: String,
    pub purchased_on: Option<String>,
    pub rental_contract: String,
    pub rental_until: Option<String>,
    pub status: String,
    pub zone_id: Option<i64>,
    pub battery: Option<i64>,
    pub signal: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub calibrated_on: Option<String>,
    pub calibration_due: Option<String>,
    /// Whether a gateway credential was issued.
    pub has_secret: bool,
    /// The current binding: person (name masked for the reader), ward and bed.
    pub person_id: Option<i64>,
    #[sqlx(default)]
    pub person_name: String,
    pub ward: Option<String>,
    pub bed: Option<String>,
    pub updated_at: i64,
}

const DEVICE_COLS: &str = "d.id, d.org_id, d.model_id, m.name AS model_name, m.kind, d.serial, d.nfc_uid, d.name, d.firmware, \
    d.acquisition, d.purchased_on, d.rental_contract, d.rental_until, d.status, d.zone_id, d.battery, d.signal, \
    d.last_seen_at, d.calibrated_on, d.calibration_due, (d.secret_hash IS NOT NULL) AS has_secret, \
    b.person_id, b.ward, b.bed, d.updated_at";
const DEVICE_FROM: &str = "iot_devices d JOIN iot_models m ON m.id = d.model_id \
    LEFT JOIN iot_bindings b ON b.device_id = d.id AND b.unbound_at IS NULL";

/// Filters of the device list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct DeviceQuery {
    /// A fragment of the serial or the name.
    pub q: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub org_id: Option<i64>,
    /// offline | low_battery | calibration_due | unbound
    pub health: Option<String>,
    pub model_id: Option<i64>,
}

pub const SORTS: &[Sort] = &[
    Sort {
        key: "serial",
        sql: "d.serial",
    },
    Sort {
        key: "kind",
        sql: "m.kind",
    },
    Sort {
        key: "battery",
        sql: "d.battery",
    },
    Sort {
        key: "last_seen_at",
        sql: "d.last_seen_at",
    },
    Sort {
        key: "calibration_due",
        sql: "d.calibration_due",
    },
    Sort {
        key: "status",
        sql: "d.status",
    },
];

/// Battery level (%) below which a device is "low".
pub const LOW_BATTERY: i64 = 20;

fn scope_filter(f: &mut Filter, scope: &Scope, col: &str) {
    if let Some(ids) = scope.org_ids() {
        f.any_of(col, &ids);
    }
}

fn today(ctx: &RequestContext) -> String {
    yiyang_core::clock::today_cst(ctx.clock.as_ref())
        .format("%Y-%m-%d")
        .to_string()
}

fn device_filter(ctx: &RequestContext, q: &DeviceQuery, offline_after: i64) -> AppResult<Filter> {
    let scope = ctx.require(IOT_READ)?;
    let mut f = Filter::new();
    scope_filter(&mut f, &scope, "d.org_id");
    let t = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(k) = t(&q.kind) {
        let all: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
        yiyang_core::text::one_of("kind", "设备类别", &k, &all)?;
        f.add("m.kind = ?", k);
    }
    if let Some(s) = t(&q.status) {
        let all: Vec<&str> = STATUSES.iter().map(|k| k.0).collect();
        yiyang_core::text::one_of("status", "状态", &s, &all)?;
        f.add("d.status = ?", s);
    }
    if let Some(o) = q.org_id {
        f.add("d.org_id = ?", o);
    }
    if let Some(m) = q.model_id {
        f.add("d.model_id = ?", m);
    }
    if let Some(h) = t(&q.health) {
        let all: Vec<&str> = HEALTH.iter().map(|k| k.0).collect();
        yiyang_core::text::one_of("health", "设备状况", &h, &all)?;
        match h.as_str() {
            "offline" => {
                f.raw("d.status = 'active'");
                f.add(
                    "(d.last_seen_at IS NULL OR d.last_seen_at < ?)",
                    ctx.clock.now_micros() - offline_after,
                );
            }
            "low_battery" => {
                f.add("d.battery < ?", LOW_BATTERY);
            }
            "calibration_due" => {
                f.add("d.calibration_due <= ?", today(ctx));
            }
            _ => {
                f.raw("b.id IS NULL");
            }
        }
    }
    if let Some(text) = t(&q.q) {
        let ph = f.next();
        f.args.push(like_pattern(&text).into());
        f.raw(&format!(
            "(LOWER(d.serial) LIKE {ph} ESCAPE '\\' OR LOWER(d.name) LIKE {ph} ESCAPE '\\')"
        ));
    }
    Ok(f)
}

/// How many devices match (home cards count with this).
pub async fn count(st: &AppState, ctx: &RequestContext, q: &DeviceQuery) -> AppResult<i64> {
    let f = device_filter(ctx, q, crate::IotConfig::get().offline_micros())?;
    st.db
        .scalar(
            &format!("SELECT COUNT(*) FROM {DEVICE_FROM}{}", f.sql()),
            f.args,
        )
        .await
}

/// One window of the devices in scope and their number; bound persons' names masked.
pub async fn list_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &DeviceQuery,
    w: &Window,
) -> AppResult<Paged<Device>> {
    let mut f = device_filter(ctx, q, crate::IotConfig::get().offline_micros())?;
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM {DEVICE_FROM}{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "d.serial");
    let mut rows: Vec<Device> = st
        .db
        .fetch_all(
            &format!("SELECT {DEVICE_COLS} FROM {DEVICE_FROM}{where_sql}{tail}"),
            f.args,
        )
        .await?;
    present(st, ctx, &mut rows).await?;
    Ok(Paged::exact(rows, total))
}

/// Fills institution and (masked) person names.
async fn present(st: &AppState, ctx: &RequestContext, rows: &mut [Device]) -> AppResult<()> {
    let orgs: Vec<i64> = rows.iter().map(|d| d.org_id).collect();
    let org_names = yiyang_basedata::service::org_names(&st.db, &orgs).await?;
    let persons: Vec<i64> = rows.iter().filter_map(|d| d.person_id).collect();
    let names = yiyang_patients::service::names_of(&st.db, &persons).await?;
    let m = st.masking.masker(ctx, false).await?;
    for d in rows.iter_mut() {
        d.org_name = org_names.get(&d.org_id).cloned().unwrap_or_default();
        if let Some(p) = d.person_id {
            d.person_name = m.mask("name", names.get(&p).map(String::as_str).unwrap_or(""));
        }
    }
    Ok(())
}

/// One device in scope (else 404).
pub async fn get(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<Device> {
    let scope = ctx.require(IOT_READ)?;
    let row: Option<Device> = st
        .db
        .fetch_optional(
            &format!("SELECT {DEVICE_COLS} FROM {DEVICE_FROM} WHERE d.id = $1"),
            args![id],
        )
        .await?;
    let Some(d) = row.filter(|d| scope.allows(d.org_id)) else {
        return Err(AppError::not_found("iot_device"));
    };
    let mut v = vec![d];
    present(st, ctx, &mut v).await?;
    Ok(v.remove(0))
}

/// What a device record holds (新增/编辑).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct DeviceInput {
    pub org_id: i64,
    /// The model's code (型号编码).
    pub model: String,
    pub serial: String,
    /// NFC tag UID (4, 7 or 10 bytes in hex; `:`/`-`/spaces allowed).
    #[serde(default)]
    pub nfc_uid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub firmware: String,
    /// purchase | rental
    #[serde(default)]
    pub acquisition: String,
    #[serde(default)]
    pub purchased_on: String,
    #[serde(default)]
    pub rental_contract: String,
    #[serde(default)]
    pub rental_until: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub calibrated_on: String,
}

/// A checked device record, ready to write.
#[derive(Debug, Clone)]
pub struct CheckedDevice {
    pub org_id: i64,
    pub model_id: i64,
    pub serial: String,
    pub nfc_uid: Option<String>,
    pub name: String,
    pub firmware: String,
    pub acquisition: &'static str,
    pub purchased_on: Option<String>,
    pub rental_contract: String,
    pub rental_until: Option<String>,
    pub status: &'static str,
    pub calibrated_on: Option<String>,
    pub calibration_due: Option<String>,
}

fn date_field(c: &mut Checks, field: &str, label: &str, v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    match chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) => Some(d.format("%Y-%m-%d").to_string()),
        Err(_) => {
            c.add(field, format!("{label}格式不正确：{v}（应为 YYYY-MM-DD）"));
            None
        }
    }
}

/// Checks one device record (every problem at once); `id` is the record being edited.
pub async fn check_device(
    mut db: impl Conn,
    ctx: &RequestContext,
    d: &DeviceInput,
    id: Option<i64>,
) -> AppResult<CheckedDevice> {
    let mut c = Checks::new();
    c.text("serial", "序列号", &d.serial, 64, Kind::Line)
        .text("name", "设备名称", &d.name, 60, Kind::Name)
        .text("firmware", "固件版本", &d.firmware, 32, Kind::Line)
        .text(
            "rental_contract",
            "租赁合同号",
            &d.rental_contract,
            64,
            Kind::Line,
        );
    if !ctx.has_for(IOT_MANAGE, d.org_id) {
        c.add("org_id", "无权为该机构登记设备");
    }
    let serial = d.serial.trim().to_string();
    if serial.is_empty() {
        c.add("serial", "请填写序列号");
    } else if !serial
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == ':')
    {
        c.add("serial", "序列号只能包含字母、数字、-、_ 或 :");
    }
    let model: Option<(i64, i64)> = db
        .fetch_optional(
            "SELECT id, calibration_days FROM iot_models WHERE code = $1",
            args![d.model.trim().to_uppercase()],
        )
        .await?;
    if model.is_none() {
        c.add(
            "model",
            if d.model.trim().is_empty() {
                "请选择设备型号".to_string()
            } else {
                format!("型号不存在：{}", d.model.trim())
            },
        );
    }
    let acquisition = if d.acquisition.trim().is_empty() {
        Some("purchase")
    } else {
        labels::code_of(ACQUISITIONS, &d.acquisition)
    };
    if acquisition.is_none() {
        c.add("acquisition", "来源须为“采购”或“租赁”");
    }
    let status = if d.status.trim().is_empty() {
        Some("active")
    } else {
        labels::code_of(STATUSES, &d.status)
    };
    if status.is_none() {
        c.add("status", "状态不正确");
    }
    let nfc_uid = match normalise_uid(&d.nfc_uid) {
        Ok(u) => u,
        Err(m) => {
            c.add("nfc_uid", m);
            None
        }
    };
    if let Some(u) = &nfc_uid {
        let taken: Option<(i64,)> = db
            .fetch_optional("SELECT id FROM iot_devices WHERE nfc_uid = $1", args![u])
            .await?;
        if taken.is_some_and(|t| Some(t.0) != id) {
            c.add("nfc_uid", format!("NFC 标签号 {u} 已被其他设备使用"));
        }
    }
    let purchased_on = date_field(&mut c, "purchased_on", "购置日期", &d.purchased_on);
    let rental_until = date_field(&mut c, "rental_until", "租赁到期日", &d.rental_until);
    let calibrated_on = date_field(&mut c, "calibrated_on", "上次校准日期", &d.calibrated_on);
    if acquisition == Some("rental") {
        if d.rental_contract.trim().is_empty() {
            c.add("rental_contract", "租赁设备须填写租赁合同号");
        }
        if d.rental_until.trim().is_empty() {
            c.add("rental_until", "租赁设备须填写租赁到期日");
        }
    }
    if !serial.is_empty() {
        let taken: Option<(i64,)> = db
            .fetch_optional(
                "SELECT id FROM iot_devices WHERE serial = $1",
                args![&serial],
            )
            .await?;
        if taken.is_some_and(|t| Some(t.0) != id) {
            c.add("serial", format!("序列号 {serial} 已登记"));
        }
    }
    c.finish()?;
    let (model_id, cal_days) = model.unwrap_or_default();
    let calibration_due = match (&calibrated_on, cal_days) {
        (Some(d), n) if n > 0 => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .map(|d| {
                (d + chrono::Duration::days(n))
                    .format("%Y-%m-%d")
                    .to_string()
            }),
        _ => None,
    };
    Ok(CheckedDevice {
        org_id: d.org_id,
        model_id,
        serial,
        nfc_uid,
        name: d.name.trim().to_string(),
        firmware: d.firmware.trim().to_string(),
        acquisition: acquisition.unwrap_or("purchase"),
        purchased_on,
        rental_contract: d.rental_contract.trim().to_string(),
        rental_until,
        status: status.unwrap_or("active"),
        calibrated_on,
        calibration_due,
    })
}

/// Writes checked devices in `tx` (the caller audits).
pub async fn insert_devices(tx: &mut Tx, now: i64, rows: &[CheckedDevice]) -> AppResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(rows.len());
    for d in rows {
        ids.push(
            tx.scalar(
                "INSERT INTO iot_devices (org_id, model_id, serial, name, firmware, acquisition, purchased_on, rental_contract, \
                 rental_until, status, calibrated_on, calibration_due, created_at, updated_at, nfc_uid) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14) RETURNING id",
                args![d.org_id, d.model_id, &d.serial, &d.name, &d.firmware, d.acquisition, &d.purchased_on, &d.rental_contract,
                    &d.rental_until, d.status, &d.calibrated_on, &d.calibration_due, now, &d.nfc_uid],
            )
            .await?,
        );
    }
    Ok(ids)
}

/// Registers one device.
pub async fn create(st: &AppState, ctx: &RequestContext, d: &DeviceInput) -> AppResult<i64> {
    ctx.require(IOT_MANAGE)?;
    let checked = check_device(&st.db, ctx, d, None).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = insert_devices(&mut tx, now, std::slice::from_ref(&checked)).await?[0];
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.device.create", "iot_device", id)
            .org(Some(checked.org_id))
            .details(serde_json::json!({"serial": checked.serial}))],
    )
    .await?;
    tx.commit().await?;
    crate::ingest::invalidate();
    Ok(id)
}

/// Changes one device (same checks as a new one; the institution cannot change).
pub async fn update(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    d: &DeviceInput,
) -> AppResult<()> {
    let cur = get(st, ctx, id).await?;
    if !ctx.has_for(IOT_MANAGE, cur.org_id) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    let mut d = d.clone();
    d.org_id = cur.org_id;
    let c = check_device(&st.db, ctx, &d, Some(id)).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE iot_devices SET model_id = $1, serial = $2, name = $3, firmware = $4, acquisition = $5, purchased_on = $6, \
         rental_contract = $7, rental_until = $8, status = $9, calibrated_on = $10, calibration_due = $11, updated_at = $12, nfc_uid = $14 WHERE id = $13",
        args![c.model_id, &c.serial, &c.name, &c.firmware, c.acquisition, &c.purchased_on, &c.rental_contract, &c.rental_until,
            c.status, &c.calibrated_on, &c.calibration_due, now, id, &c.nfc_uid],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.device.update", "iot_device", id)
            .org(Some(cur.org_id))
            .details(serde_json::json!({"serial": c.serial, "status": c.status}))],
    )
    .await?;
    tx.commit().await?;
    crate::ingest::invalidate();
    Ok(())
}

/// A binding of a device (who wore which band when, or which bed it served).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Binding {
    pub id: i64,
    pub device_id: i64,
    pub person_id: Option<i64>,
    #[sqlx(default)]
    pub person_name: String,
    pub ward: String,
    pub bed: String,
    pub bound_at: i64,
    pub bound_by: String,
    pub unbound_at: Option<i64>,
    pub unbound_by: Option<String>,
}

/// The binding history of a device in scope, latest first; names masked.
pub async fn bindings(
    st: &AppState,
    ctx: &RequestContext,
    device_id: i64,
) -> AppResult<Vec<Binding>> {
    get(st, ctx, device_id).await?;
    let mut rows: Vec<Binding> = st
        .db
        .fetch_all(
            "SELECT id, device_id, person_id, ward, bed, bound_at, bound_by, unbound_at, unbound_by \
             FROM iot_bindings WHERE device_id = $1 ORDER BY bound_at DESC, id DESC",
            args![device_id],
        )
        .await?;
    let ids: Vec<i64> = rows.iter().filter_map(|b| b.person_id).collect();
    let names = yiyang_patients::service::names_of(&st.db, &ids).await?;
    let m = st.masking.masker(ctx, false).await?;
    for b in &mut rows {
        if let Some(p) = b.person_id {
            b.person_name = m.mask("name", names.get(&p).map(String::as_str).unwrap_or(""));
        }
    }
    Ok(rows)
}

/// Binding request: a person, a bed, or both.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct BindInput {
    pub person_id: Option<i64>,
    #[serde(default)]
    pub ward: String,
    #[serde(default)]
    pub bed: String,
}

/// Binds a device to a person and/or a bed, ending its current binding. The device must be
/// in the caller's `iot.manage` scope and the person visible to the caller: each is checked.
pub async fn bind(
    st: &AppState,
    ctx: &RequestContext,
    device_id: i64,
    b: &BindInput,
) -> AppResult<i64> {
    let dev = get(st, ctx, device_id).await?;
    if !ctx.has_for(IOT_MANAGE, dev.org_id) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    let mut c = Checks::new();
    c.text("ward", "病区", &b.ward, 40, Kind::Name)
        .text("bed", "床号", &b.bed, 20, Kind::Line);
    if b.person_id.is_none() && b.bed.trim().is_empty() {
        c.add("person_id", "请选择佩戴人员或填写床号");
    }
    let mut person = None;
    if let Some(pid) = b.person_id {
        let survivor = yiyang_patients::service::survivor(&st.db, pid).await?;
        let cluster = yiyang_patients::service::cluster(&st.db, survivor).await?;
        if cluster.is_empty()
            || !yiyang_patients::service::can_see(&st.db, ctx, &cluster, perm::PATIENT_READ).await?
        {
            c.add("person_id", "人员不存在或不在您的管辖范围内");
        } else {
            person = Some(survivor);
        }
    }
    c.finish()?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE iot_bindings SET unbound_at = $1, unbound_by = $2 WHERE device_id = $3 AND unbound_at IS NULL",
        args![now, &ctx.actor.login, device_id],
    )
    .await?;
    if let Some(p) = person {
        // A person wears one band of a kind at a time: the previous one is released.
        tx.execute(
            "UPDATE iot_bindings SET unbound_at = $1, unbound_by = $2 WHERE person_id = $3 AND unbound_at IS NULL \
             AND device_id IN (SELECT d.id FROM iot_devices d JOIN iot_models m ON m.id = d.model_id WHERE m.kind = $4)",
            args![now, &ctx.actor.login, p, &dev.kind],
        )
        .await?;
    }
    let id = tx
        .scalar(
            "INSERT INTO iot_bindings (device_id, org_id, person_id, ward, bed, bound_at, bound_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            args![device_id, dev.org_id, person, b.ward.trim(), b.bed.trim(), now, &ctx.actor.login],
        )
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.device.bind", "iot_device", device_id)
            .org(Some(dev.org_id))
            .details(serde_json::json!({"person_id": person, "ward": b.ward.trim(), "bed": b.bed.trim()}))],
    )
    .await?;
    tx.commit().await?;
    crate::ingest::invalidate();
    Ok(id)
}

/// Ends the current binding of a device.
pub async fn unbind(st: &AppState, ctx: &RequestContext, device_id: i64) -> AppResult<()> {
    let dev = get(st, ctx, device_id).await?;
    if !ctx.has_for(IOT_MANAGE, dev.org_id) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let n = tx
        .execute(
            "UPDATE iot_bindings SET unbound_at = $1, unbound_by = $2 WHERE device_id = $3 AND unbound_at IS NULL",
            args![now, &ctx.actor.login, device_id],
        )
        .await?;
    if n == 0 {
        return Err(AppError::validation("iot.not_bound", "该设备当前未绑定"));
    }
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "iot.device.unbind", "iot_device", device_id)
                .org(Some(dev.org_id)),
        ],
    )
    .await?;
    tx.commit().await?;
    crate::ingest::invalidate();
    Ok(())
}

/// Issues a new credential for a gateway (or any device posting over HTTP): the secret is
/// shown once; only its SHA-256 is stored. The MQTT username is the serial.
pub async fn issue_secret(
    st: &AppState,
    ctx: &RequestContext,
    device_id: i64,
) -> AppResult<String> {
    let dev = get(st, ctx, device_id).await?;
    if !ctx.has_for(IOT_MANAGE, dev.org_id) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    let secret = yiyang_platform::crypto::random_token();
    let hash = hash_secret(&secret);
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE iot_devices SET secret_hash = $1, updated_at = $2 WHERE id = $3",
        args![&hash, ctx.clock.now_micros(), device_id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "iot.device.secret", "iot_device", device_id)
                .org(Some(dev.org_id)),
        ],
    )
    .await?;
    tx.commit().await?;
    crate::ingest::invalidate();
    Ok(secret)
}

pub fn hash_secret(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// An NFC UID as the contract writes it: 4, 7 or 10 bytes of hex, upper case, no
/// separators (`04:a2:24:1b` → `04A2241B`); empty is none.
pub fn normalise_uid(v: &str) -> Result<Option<String>, String> {
    let u: String = v
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | ' '))
        .collect::<String>()
        .to_uppercase();
    if u.is_empty() {
        return Ok(None);
    }
    if !u.chars().all(|c| c.is_ascii_hexdigit()) || ![8, 14, 20].contains(&u.len()) {
        return Err(format!(
            "NFC 标签号须为 4、7 或 10 字节的十六进制：{}",
            v.trim()
        ));
    }
    Ok(Some(u))
}
