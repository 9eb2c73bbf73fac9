//! Maintenance (维护与升级): plans per model (monthly cleaning and calibration, quarterly
//! checks) that create work orders on schedule, and the record of what was done and which
//! parts were replaced. A calibration done moves the device's calibration due date.

use crate::labels::{WORK_KINDS, WORK_STATUSES, code_of};
use crate::{IOT_MANAGE, IOT_READ};
use serde::{Deserialize, Serialize};
use yiyang_core::text::{Checks, Kind};
use yiyang_core::{AppError, AppResult, RequestContext, Scope};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Sort, Window, args};

/// The daily job that creates due work orders.
pub const PLAN_JOB: &str = "iot.maintenance_plan";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Plan {
    pub id: i64,
    pub model_id: i64,
    pub model_name: String,
    pub name: String,
    pub kind: String,
    pub interval_days: i64,
    pub content: String,
    pub active: bool,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PlanInput {
    pub model_id: i64,
    pub name: String,
    pub kind: String,
    pub interval_days: i64,
    #[serde(default)]
    pub content: String,
}

pub async fn plans(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Plan>> {
    ctx.require(IOT_READ)?;
    st.db
        .fetch_all(
            "SELECT p.id, p.model_id, m.name AS model_name, p.name, p.kind, p.interval_days, p.content, p.active \
             FROM iot_maintenance_plans p JOIN iot_models m ON m.id = p.model_id ORDER BY m.name, p.interval_days",
            vec![],
        )
        .await
}

/// Adds a plan (plans belong to the shared model catalogue: city-wide `iot.manage`).
pub async fn create_plan(st: &AppState, ctx: &RequestContext, p: &PlanInput) -> AppResult<i64> {
    if ctx.scope_of(IOT_MANAGE) != Some(Scope::City) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    let mut c = Checks::new();
    c.text("name", "计划名称", &p.name, 60, Kind::Name).text(
        "content",
        "维护内容",
        &p.content,
        500,
        Kind::Text,
    );
    if p.name.trim().is_empty() {
        c.add("name", "请填写计划名称");
    }
    let kind = code_of(WORK_KINDS, &p.kind);
    if kind.is_none() {
        c.add("kind", "请选择维护类别");
    }
    if !(1..=3650).contains(&p.interval_days) {
        c.add("interval_days", "周期须在 1–3650 天之间");
    }
    let model: Option<(i64,)> = st
        .db
        .fetch_optional("SELECT id FROM iot_models WHERE id = $1", args![p.model_id])
        .await?;
    if model.is_none() {
        c.add("model_id", "请选择设备型号");
    }
    c.finish()?;
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO iot_maintenance_plans (model_id, name, kind, interval_days, content, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            args![p.model_id, p.name.trim(), kind.unwrap_or("inspection"), p.interval_days, p.content.trim(), ctx.clock.now_micros()],
        )
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.plan.create", "iot_plan", id)],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Creates the work orders that are due by today for every active plan: a device gets one
/// when its last order of the plan was done `interval` days ago or it never had one (then
/// due today). Idempotent (one order per plan, device and due date). Returns how many.
pub async fn generate(st: &AppState) -> AppResult<u64> {
    let today = yiyang_core::clock::today_cst(st.clock.as_ref());
    let now = st.clock.now_micros();
    type Row = (i64, i64, String, i64, i64, i64, Option<String>, Option<i64>);
    let rows: Vec<Row> = st
        .db
        .fetch_all(
            "SELECT p.id, p.interval_days, p.kind, d.id, d.org_id, d.created_at, \
             (SELECT MAX(w.due_on) FROM iot_work_orders w WHERE w.plan_id = p.id AND w.device_id = d.id), \
             (SELECT COUNT(*) FROM iot_work_orders w WHERE w.plan_id = p.id AND w.device_id = d.id AND w.status = 'open') \
             FROM iot_maintenance_plans p JOIN iot_devices d ON d.model_id = p.model_id \
             WHERE p.active = TRUE AND d.status IN ('active', 'stock')",
            vec![],
        )
        .await?;
    let mut tx = st.db.begin().await?;
    let mut n = 0;
    for (plan, interval, kind, device, org, _created, last_due, open) in rows {
        if open.unwrap_or(0) > 0 {
            continue;
        }
        let due =
            match last_due.and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()) {
                Some(d) => d + chrono::Duration::days(interval),
                None => today,
            };
        if due > today + chrono::Duration::days(7) {
            continue;
        }
        n += tx
            .execute(
                "INSERT INTO iot_work_orders (plan_id, device_id, org_id, kind, due_on, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'open', $6) ON CONFLICT (plan_id, device_id, due_on) DO NOTHING",
                args![plan, device, org, &kind, due.format("%Y-%m-%d").to_string(), now],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(n)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WorkOrder {
    pub id: i64,
    pub plan_id: Option<i64>,
    pub plan_name: Option<String>,
    pub device_id: i64,
    pub serial: String,
    pub model_name: String,
    pub org_id: i64,
    pub kind: String,
    pub due_on: String,
    pub status: String,
    pub done_at: Option<i64>,
    pub done_by: Option<String>,
    pub notes: String,
    pub parts: String,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct WorkQuery {
    pub status: Option<String>,
    pub kind: Option<String>,
    /// Due on or before this day (YYYY-MM-DD).
    pub due_by: Option<String>,
    pub device_id: Option<i64>,
}

pub const SORTS: &[Sort] = &[
    Sort {
        key: "due_on",
        sql: "w.due_on",
    },
    Sort {
        key: "serial",
        sql: "d.serial",
    },
    Sort {
        key: "kind",
        sql: "w.kind",
    },
];

const FROM: &str = "iot_work_orders w JOIN iot_devices d ON d.id = w.device_id JOIN iot_models m ON m.id = d.model_id \
    LEFT JOIN iot_maintenance_plans p ON p.id = w.plan_id";

fn filter(ctx: &RequestContext, q: &WorkQuery) -> AppResult<Filter> {
    let scope = ctx.require(IOT_READ)?;
    let mut f = Filter::new();
    if let Some(ids) = scope.org_ids() {
        f.any_of("w.org_id", &ids);
    }
    let t = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(s) = t(&q.status) {
        let all: Vec<&str> = WORK_STATUSES.iter().map(|x| x.0).collect();
        yiyang_core::text::one_of("status", "状态", &s, &all)?;
        f.add("w.status = ?", s);
    }
    if let Some(k) = t(&q.kind) {
        let all: Vec<&str> = WORK_KINDS.iter().map(|x| x.0).collect();
        yiyang_core::text::one_of("kind", "类别", &k, &all)?;
        f.add("w.kind = ?", k);
    }
    if let Some(d) = t(&q.due_by) {
        chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
            AppError::field(
                "filter.invalid",
                "due_by",
                format!("日期格式不正确：{d}（应为 YYYY-MM-DD）"),
            )
        })?;
        f.add("w.due_on <= ?", d);
    }
    if let Some(d) = q.device_id {
        f.add("w.device_id = ?", d);
    }
    Ok(f)
}

pub async fn count(st: &AppState, ctx: &RequestContext, q: &WorkQuery) -> AppResult<i64> {
    let f = filter(ctx, q)?;
    st.db
        .scalar(&format!("SELECT COUNT(*) FROM {FROM}{}", f.sql()), f.args)
        .await
}

pub async fn list_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &WorkQuery,
    w: &Window,
) -> AppResult<Paged<WorkOrder>> {
    let mut f = filter(ctx, q)?;
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM {FROM}{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "w.due_on, w.id");
    let rows = st
        .db
        .fetch_all(
            &format!(
                "SELECT w.id, w.plan_id, p.name AS plan_name, w.device_id, d.serial, m.name AS model_name, w.org_id, w.kind, w.due_on, \
                 w.status, w.done_at, w.done_by, w.notes, w.parts FROM {FROM}{where_sql}{tail}"
            ),
            f.args,
        )
        .await?;
    Ok(Paged::exact(rows, total))
}

/// Completing a work order: what was done and which parts were replaced.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct DoneInput {
    pub notes: String,
    #[serde(default)]
    pub parts: String,
}

/// Records a work order as done (or cancelled with `cancel`); a calibration moves the
/// device's calibration dates.
pub async fn complete(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    d: &DoneInput,
    cancel: bool,
) -> AppResult<()> {
    let row: Option<(i64, i64, String, String)> = st
        .db
        .fetch_optional(
            "SELECT org_id, device_id, kind, status FROM iot_work_orders WHERE id = $1",
            args![id],
        )
        .await?;
    let Some((org, device, kind, status)) = row.filter(|r| ctx.has_for(IOT_READ, r.0)) else {
        return Err(AppError::not_found("iot_work_order"));
    };
    if !ctx.has_for(IOT_MANAGE, org) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    let mut c = Checks::new();
    c.text("notes", "处理记录", &d.notes, 500, Kind::Text).text(
        "parts",
        "更换部件",
        &d.parts,
        200,
        Kind::Line,
    );
    if d.notes.trim().is_empty() {
        c.add(
            "notes",
            if cancel {
                "请填写取消原因"
            } else {
                "请填写维护记录（做了什么、结果如何）"
            },
        );
    }
    if status != "open" {
        c.add("notes", "工单已处理，不能重复提交");
    }
    c.finish()?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE iot_work_orders SET status = $1, done_at = $2, done_by = $3, notes = $4, parts = $5 WHERE id = $6 AND status = 'open'",
        args![if cancel { "cancelled" } else { "done" }, now, &ctx.actor.login, d.notes.trim(), d.parts.trim(), id],
    )
    .await?;
    if kind == "calibration" && !cancel {
        let today = yiyang_core::clock::today_cst(ctx.clock.as_ref());
        let days: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT m.calibration_days FROM iot_devices d JOIN iot_models m ON m.id = d.model_id WHERE d.id = $1",
                args![device],
            )
            .await?;
        let due = days.filter(|d| d.0 > 0).map(|d| {
            (today + chrono::Duration::days(d.0))
                .format("%Y-%m-%d")
                .to_string()
        });
        tx.execute(
            "UPDATE iot_devices SET calibrated_on = $1, calibration_due = $2, updated_at = $3 WHERE id = $4",
            args![today.format("%Y-%m-%d").to_string(), due, now, device],
        )
        .await?;
    }
    audit::append(
        &mut tx,
        &[AuditEntry::new(
            ctx,
            if cancel {
                "iot.work.cancel"
            } else {
                "iot.work.done"
            },
            "iot_work_order",
            id,
        )
        .org(Some(org))
        .details(serde_json::json!({"parts": d.parts.trim()}))],
    )
    .await?;
    tx.commit().await
}
