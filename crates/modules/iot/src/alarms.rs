//! Alarms (告警): raised → acknowledged → resolved. One active alarm per kind and source
//! (`active_key`, unique while the alarm is not resolved); a repeat of an active alarm only
//! refreshes it. High-priority alarms notify the ward's nurses and the institution's alarm
//! handlers at once and repeat (escalate) until acknowledged, through the notification outbox.

use crate::labels::{ALARM_KINDS, ALARM_STATUSES, PRIORITIES, label};
use crate::{IOT_ALARM, IOT_READ};
use serde::{Deserialize, Serialize};
use yiyang_core::{AppError, AppResult, RequestContext};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::jobs;
use yiyang_platform::notify::{self, Notification};
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, Filter, Paged, Sort, Tx, Window, args};

/// The job that repeats the notice of an unacknowledged alarm.
pub const REPEAT_JOB: &str = "iot.alarm_repeat";

/// An alarm to raise (from a rule, an event or a device check).
#[derive(Debug, Clone)]
pub struct Raise {
    pub org_id: i64,
    pub person_id: Option<i64>,
    pub device_id: Option<i64>,
    /// One of [`ALARM_KINDS`].
    pub kind: &'static str,
    pub rule_code: String,
    /// high | medium | low
    pub priority: &'static str,
    pub title: String,
    pub detail: String,
    pub ward: String,
    pub bed: String,
    /// When it happened (the reading's or event's time).
    pub at: i64,
}

impl Raise {
    /// One alarm per kind, rule and source (the person if bound, else the device).
    pub fn key(&self) -> String {
        let source = match (self.person_id, self.device_id) {
            (Some(p), _) => format!("p{p}"),
            (None, Some(d)) => format!("d{d}"),
            _ => "-".into(),
        };
        format!("{}:{}:{}:{source}", self.org_id, self.kind, self.rule_code)
    }
}

/// Raises `r` inside `tx`: a new alarm (and its first notices), or a refresh of the active
/// one with the same key. Returns the alarm id and whether it is new.
pub async fn raise(tx: &mut Tx, now: i64, r: &Raise) -> AppResult<(i64, bool)> {
    let key = r.key();
    let existing: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM iot_alarms WHERE active_key = $1",
            args![&key],
        )
        .await?;
    if let Some((id,)) = existing {
        tx.execute(
            "UPDATE iot_alarms SET last_seen_at = $1, detail = $2 WHERE id = $3",
            args![r.at.max(0), &r.detail, id],
        )
        .await?;
        return Ok((id, false));
    }
    let id = tx
        .scalar(
            "INSERT INTO iot_alarms (org_id, person_id, device_id, kind, rule_code, priority, status, title, detail, ward, bed, \
             active_key, raised_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, 'raised', $7, $8, $9, $10, $11, $12, $12) RETURNING id",
            args![r.org_id, r.person_id, r.device_id, r.kind, &r.rule_code, r.priority, &r.title, &r.detail, &r.ward, &r.bed, &key, r.at],
        )
        .await?;
    tx.execute(
        "INSERT INTO iot_alarm_events (alarm_id, kind, actor, note, at) VALUES ($1, 'raised', 'system', $2, $3)",
        args![id, &r.detail, now],
    )
    .await?;
    notify_step(tx, now, id, 0).await?;
    Ok((id, true))
}

/// Resolves the active alarm with `r`'s key automatically (the condition cleared), if any
/// and if its kind clears by itself (SOS and falls need a person).
pub async fn clear(tx: &mut Tx, now: i64, r: &Raise) -> AppResult<Option<i64>> {
    if matches!(r.kind, "sos" | "fall") {
        return Ok(None);
    }
    let key = r.key();
    let existing: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM iot_alarms WHERE active_key = $1",
            args![&key],
        )
        .await?;
    let Some((id,)) = existing else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE iot_alarms SET status = 'resolved', resolved_at = $1, resolved_by = 'system', active_key = NULL WHERE id = $2",
        args![now, id],
    )
    .await?;
    tx.execute(
        "INSERT INTO iot_alarm_events (alarm_id, kind, actor, note, at) VALUES ($1, 'resolved', 'system', '条件已恢复正常，自动解除', $2)",
        args![id, now],
    )
    .await?;
    Ok(Some(id))
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Facts {
    id: i64,
    org_id: i64,
    person_id: Option<i64>,
    priority: String,
    status: String,
    title: String,
    detail: String,
    ward: String,
    bed: String,
}

tokio::task_local! {
    /// Set while history is replayed (the demo's past hours): alarms are recorded as they
    /// happened, but nobody is told now of what happened hours ago.
    static QUIET: bool;
}

/// Runs `f` with notices off (replaying history).
pub async fn quietly<F: std::future::Future>(f: F) -> F::Output {
    QUIET.scope(true, f).await
}

/// Minutes between repeats of an unacknowledged alarm, by priority; `None`: no repeat.
fn repeat_minutes(priority: &str) -> Option<i64> {
    match priority {
        "high" => Some(2),
        "medium" => Some(10),
        _ => None,
    }
}

/// Sends notice number `step` of alarm `id` (0: the first) and schedules the next.
async fn notify_step(tx: &mut Tx, now: i64, id: i64, step: i64) -> AppResult<()> {
    let Some(a): Option<Facts> = tx
        .fetch_optional(
            "SELECT id, org_id, person_id, priority, status, title, detail, ward, bed FROM iot_alarms WHERE id = $1",
            args![id],
        )
        .await?
    else {
        return Ok(());
    };
    if a.status != "raised" || QUIET.try_with(|q| *q).unwrap_or(false) {
        return Ok(());
    }
    if a.priority == "low" && step == 0 {
        // Low priority: shown on the lists and screens, no personal notice.
        return Ok(());
    }
    let wards: Vec<&str> = vec![a.ward.as_str()];
    let mut told: Vec<i64> =
        yiyang_basedata::service::nurse_accounts_of(&mut *tx, a.org_id, &wards)
            .await?
            .into_iter()
            .map(|(acc, _)| acc)
            .collect();
    if told.is_empty() || step > 0 {
        // Nobody on the ward, or a repeat: everyone who handles alarms there.
        told.extend(yiyang_platform::identity::holders_of(&mut *tx, IOT_ALARM, a.org_id).await?);
    }
    told.sort_unstable();
    told.dedup();
    let who = match a.person_id {
        Some(p) => yiyang_patients::service::names_of(&mut *tx, &[p])
            .await?
            .remove(&p)
            .unwrap_or_default(),
        None => String::new(),
    };
    let place = [a.ward.as_str(), a.bed.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let prefix = if step > 0 {
        format!("【第{step}次提醒】")
    } else {
        String::new()
    };
    let items: Vec<Notification> = told
        .iter()
        .map(|acc| Notification {
            account_id: *acc,
            title: format!(
                "{prefix}{}告警：{} {}",
                label(PRIORITIES, &a.priority),
                a.title,
                who
            ),
            body: format!(
                "{place} {who} {}。请立即处置，并在“告警中心”确认。",
                a.detail
            ),
            link: format!("/iot/alarms?id={}", a.id),
            channel: "inbox".into(),
            dedupe_key: Some(format!("iot-alarm:{}:{step}:{acc}", a.id)),
        })
        .collect();
    notify::send_in(tx, now, &items).await?;
    tx.execute(
        "UPDATE iot_alarms SET notified = notified + 1 WHERE id = $1",
        args![id],
    )
    .await?;
    if let Some(m) = repeat_minutes(&a.priority)
        && step < 5
    {
        jobs::enqueue_in(
            tx,
            REPEAT_JOB,
            &serde_json::json!({"alarm_id": id, "step": step + 1}),
            now + m * 60_000_000,
            now,
        )
        .await?;
    }
    Ok(())
}

/// The job: repeat the notice while the alarm is unacknowledged.
pub async fn repeat(st: &AppState, payload: &serde_json::Value) -> AppResult<()> {
    let id = payload["alarm_id"].as_i64().unwrap_or(0);
    let step = payload["step"].as_i64().unwrap_or(1);
    let mut tx = st.db.begin().await?;
    notify_step(&mut tx, st.clock.now_micros(), id, step).await?;
    tx.commit().await
}

/// An alarm as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Alarm {
    pub id: i64,
    pub org_id: i64,
    pub person_id: Option<i64>,
    #[sqlx(default)]
    pub person_name: String,
    pub device_id: Option<i64>,
    pub kind: String,
    pub rule_code: String,
    pub priority: String,
    pub status: String,
    pub title: String,
    pub detail: String,
    pub ward: String,
    pub bed: String,
    pub raised_at: i64,
    pub last_seen_at: i64,
    pub acked_at: Option<i64>,
    pub acked_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
}

const ALARM_COLS: &str = "id, org_id, person_id, device_id, kind, rule_code, priority, status, title, detail, ward, bed, \
    raised_at, last_seen_at, acked_at, acked_by, resolved_at, resolved_by";

/// Filters of the alarm list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct AlarmQuery {
    /// raised | acknowledged | resolved | active (raised or acknowledged)
    pub status: Option<String>,
    pub priority: Option<String>,
    pub kind: Option<String>,
    pub ward: Option<String>,
    pub person_id: Option<i64>,
    pub id: Option<i64>,
}

pub const SORTS: &[Sort] = &[
    Sort {
        key: "raised_at",
        sql: "raised_at",
    },
    Sort {
        key: "priority",
        sql: "CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END",
    },
    Sort {
        key: "ward",
        sql: "ward",
    },
];

fn filter(ctx: &RequestContext, q: &AlarmQuery) -> AppResult<Filter> {
    let scope = ctx.require(IOT_READ)?;
    let mut f = Filter::new();
    if let Some(ids) = scope.org_ids() {
        f.any_of("org_id", &ids);
    }
    let t = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(s) = t(&q.status) {
        if s == "active" {
            f.raw("status IN ('raised', 'acknowledged')");
        } else {
            let all: Vec<&str> = ALARM_STATUSES.iter().map(|x| x.0).collect();
            yiyang_core::text::one_of("status", "状态", &s, &all)?;
            f.add("status = ?", s);
        }
    }
    if let Some(p) = t(&q.priority) {
        let all: Vec<&str> = PRIORITIES.iter().map(|x| x.0).collect();
        yiyang_core::text::one_of("priority", "级别", &p, &all)?;
        f.add("priority = ?", p);
    }
    if let Some(k) = t(&q.kind) {
        let all: Vec<&str> = ALARM_KINDS.iter().map(|x| x.0).collect();
        yiyang_core::text::one_of("kind", "类型", &k, &all)?;
        f.add("kind = ?", k);
    }
    if let Some(w) = t(&q.ward) {
        f.add("ward = ?", w);
    }
    if let Some(p) = q.person_id {
        f.add("person_id = ?", p);
    }
    if let Some(i) = q.id {
        f.add("id = ?", i);
    }
    Ok(f)
}

pub async fn count(st: &AppState, ctx: &RequestContext, q: &AlarmQuery) -> AppResult<i64> {
    let f = filter(ctx, q)?;
    st.db
        .scalar(
            &format!("SELECT COUNT(*) FROM iot_alarms{}", f.sql()),
            f.args,
        )
        .await
}

/// One window of alarms in scope (latest first unless sorted); names masked.
pub async fn list_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &AlarmQuery,
    w: &Window,
) -> AppResult<Paged<Alarm>> {
    let mut f = filter(ctx, q)?;
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM iot_alarms{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "raised_at DESC, id DESC");
    let mut rows: Vec<Alarm> = st
        .db
        .fetch_all(
            &format!("SELECT {ALARM_COLS} FROM iot_alarms{where_sql}{tail}"),
            f.args,
        )
        .await?;
    mask_names(st, ctx, &mut rows).await?;
    Ok(Paged::exact(rows, total))
}

pub(crate) async fn mask_names(
    st: &AppState,
    ctx: &RequestContext,
    rows: &mut [Alarm],
) -> AppResult<()> {
    let ids: Vec<i64> = rows.iter().filter_map(|a| a.person_id).collect();
    let names = yiyang_patients::service::names_of(&st.db, &ids).await?;
    let m = st.masking.masker(ctx, false).await?;
    for a in rows.iter_mut() {
        if let Some(p) = a.person_id {
            a.person_name = m.mask("name", names.get(&p).map(String::as_str).unwrap_or(""));
        }
    }
    Ok(())
}

/// Alarms by id (for the live screens after a batch).
pub async fn by_ids(mut db: impl Conn, ids: &[i64]) -> AppResult<Vec<Alarm>> {
    let mut f = Filter::new();
    f.any_of("id", ids);
    db.fetch_all(
        &format!("SELECT {ALARM_COLS} FROM iot_alarms{}", f.sql()),
        f.args,
    )
    .await
}

/// The alarms of a person raised since `since` (the resident's own view: the caller has
/// already established that the reader may see this person), latest first.
pub async fn for_person_today(st: &AppState, person_id: i64, since: i64) -> AppResult<Vec<Alarm>> {
    let cluster = yiyang_patients::service::cluster(&st.db, person_id).await?;
    let mut f = Filter::new();
    f.any_of("person_id", &cluster);
    f.add("raised_at >= ?", since);
    st.db
        .fetch_all(
            &format!(
                "SELECT {ALARM_COLS} FROM iot_alarms{} ORDER BY raised_at DESC LIMIT 50",
                f.sql()
            ),
            f.args,
        )
        .await
}

async fn load(mut db: impl Conn, id: i64) -> AppResult<Option<Alarm>> {
    db.fetch_optional(
        &format!("SELECT {ALARM_COLS} FROM iot_alarms WHERE id = $1"),
        args![id],
    )
    .await
}

/// Acknowledges (确认) or resolves (解除) an alarm in the caller's `iot.alarm` scope.
/// Acknowledging stops the repeats; resolving ends it (a new one may then be raised).
pub async fn act(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    action: &str,
    note: &str,
) -> AppResult<Alarm> {
    yiyang_core::text::check("note", "处置说明", note, 200, yiyang_core::text::Kind::Text)?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let Some(a) = load(&mut tx, id)
        .await?
        .filter(|a| ctx.has_for(IOT_READ, a.org_id))
    else {
        return Err(AppError::not_found("iot_alarm"));
    };
    if !ctx.has_for(IOT_ALARM, a.org_id) {
        return Err(AppError::forbidden(IOT_ALARM));
    }
    match (action, a.status.as_str()) {
        ("ack", "raised") => {
            tx.execute(
                "UPDATE iot_alarms SET status = 'acknowledged', acked_at = $1, acked_by = $2 WHERE id = $3",
                args![now, &ctx.actor.login, id],
            )
            .await?;
        }
        ("resolve", "raised" | "acknowledged") => {
            tx.execute(
                "UPDATE iot_alarms SET status = 'resolved', acked_at = COALESCE(acked_at, $1), acked_by = COALESCE(acked_by, $2), \
                 resolved_at = $1, resolved_by = $2, active_key = NULL WHERE id = $3",
                args![now, &ctx.actor.login, id],
            )
            .await?;
        }
        ("ack" | "resolve", s) => {
            return Err(AppError::conflict(
                "iot.alarm_state",
                format!(
                    "告警当前为“{}”，不能{}",
                    label(ALARM_STATUSES, s),
                    if action == "ack" { "确认" } else { "解除" }
                ),
            ));
        }
        _ => return Err(AppError::not_found("action")),
    }
    tx.execute(
        "INSERT INTO iot_alarm_events (alarm_id, kind, actor, note, at) VALUES ($1, $2, $3, $4, $5)",
        args![id, if action == "ack" { "acknowledged" } else { "resolved" }, &ctx.actor.login, note.trim(), now],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(
            ctx,
            if action == "ack" {
                "iot.alarm.ack"
            } else {
                "iot.alarm.resolve"
            },
            "iot_alarm",
            id,
        )
        .org(Some(a.org_id))],
    )
    .await?;
    let after = load(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("iot_alarm"))?;
    tx.commit().await?;
    crate::live::publish_alarm(&after);
    Ok(after)
}

/// The lifecycle of one alarm (raised, acknowledged, resolved, with who and notes).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AlarmEvent {
    pub kind: String,
    pub actor: String,
    pub note: String,
    pub at: i64,
}

pub async fn events(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<Vec<AlarmEvent>> {
    let Some(_) = load(&st.db, id)
        .await?
        .filter(|a| ctx.has_for(IOT_READ, a.org_id))
    else {
        return Err(AppError::not_found("iot_alarm"));
    };
    st.db
        .fetch_all(
            "SELECT kind, actor, note, at FROM iot_alarm_events WHERE alarm_id = $1 ORDER BY at, id",
            args![id],
        )
        .await
}
