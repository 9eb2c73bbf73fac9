//! Reading the message store (search, one message with masked ER7 and its history),
//! critical-value alerts, and the monitoring figures per channel.

use crate::channels::{self, Channel};
use crate::engine::{MESSAGE_COLS, StoredMessage};
use serde::{Deserialize, Serialize};
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::masking::Masker;
use yiyang_platform::privacy::RecordRead;
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Window, args};

/// Search criteria for stored messages.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct MessageQuery {
    pub channel_id: Option<i64>,
    /// MSH-10 (exact).
    pub control_id: Option<String>,
    /// `ADT` or `ADT^A01`.
    pub msg_type: Option<String>,
    /// received / processed / error / rejected / duplicate; `queue` = error + rejected.
    pub status: Option<String>,
    /// Received on this day (CST), `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Not read: lists page by `page`/`size` ([`search_page`]). Never taken from a query.
    #[serde(skip)]
    pub limit: Option<i64>,
}

pub const STATUSES: &[(&str, &str)] = &[
    ("received", "已接收"),
    ("processed", "已处理"),
    ("error", "处理失败"),
    ("rejected", "已拒收"),
    ("duplicate", "重复消息"),
    ("superseded", "已被更正消息替代"),
];

pub fn status_label(s: &str) -> &str {
    STATUSES
        .iter()
        .find(|(c, _)| *c == s)
        .map(|(_, l)| *l)
        .unwrap_or(s)
}

/// Start of a CST day in UTC micros.
pub use yiyang_core::clock::day_start_cst as day_start;

/// Counting a message list stops here: the store may hold millions of messages, and a
/// page needs only to say "more than 10,000".
pub const MESSAGE_COUNT_CAP: i64 = 10_000;

/// One window of stored messages, newest first, and their number (counted up to
/// [`MESSAGE_COUNT_CAP`]).
pub async fn search_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &MessageQuery,
    w: &Window,
) -> AppResult<Paged<StoredMessage>> {
    let (mut f, where_sql) = message_filter(ctx, q)?;
    let counted = st
        .db
        .scalar(
            &format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM hl7_messages{where_sql} LIMIT {}) AS t",
                MESSAGE_COUNT_CAP + 1
            ),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "id DESC");
    let rows = st
        .db
        .fetch_all(
            &format!("SELECT {MESSAGE_COLS} FROM hl7_messages{where_sql}{tail}"),
            f.args,
        )
        .await?;
    Ok(Paged::counted_to(rows, counted, MESSAGE_COUNT_CAP))
}

fn message_filter(ctx: &RequestContext, q: &MessageQuery) -> AppResult<(Filter, String)> {
    let scope = ctx.require(perm::INTEGRATION_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    if let Some(c) = q.channel_id {
        f.add("channel_id = ?", c);
    }
    if let Some(c) = q
        .control_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        f.add("control_id = ?", c);
    }
    if let Some(t) = q
        .msg_type
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let t = t.to_uppercase();
        match t.split_once('^') {
            Some((c, tr)) => {
                f.add("msg_type = ?", c);
                f.add("trigger_event = ?", tr);
            }
            None => {
                f.add("msg_type = ?", t.as_str());
            }
        }
    }
    match q.status.as_deref().unwrap_or("") {
        "" => {}
        "queue" => {
            f.raw("status IN ('error', 'rejected')");
        }
        s => {
            let codes: Vec<&str> = STATUSES.iter().map(|(c, _)| *c).collect();
            yiyang_core::text::one_of("status", "状态", s, &codes)?;
            f.add("status = ?", s);
        }
    }
    if let Some(d) = q.date.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let d = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            AppError::field(
                "integration.date_invalid",
                "date",
                "日期格式应为 YYYY-MM-DD",
            )
        })?;
        let s = day_start(d);
        f.add("received_at >= ?", s);
        f.add("received_at < ?", s + 86_400_000_000);
    }
    let where_sql = f.sql();
    Ok((f, where_sql))
}

/// One history entry of a message.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MessageEvent {
    pub kind: String,
    pub actor_login: String,
    pub detail: String,
    pub at: i64,
}

/// A message as shown to one caller.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub message: StoredMessage,
    /// ER7 text, segments separated by `\r`; personal fields masked unless `unmasked`.
    pub raw: String,
    pub ack_text: String,
    pub unmasked: bool,
    pub events: Vec<MessageEvent>,
}

pub use yiyang_platform::masking::Unmask;

fn is_id_type(t: &str) -> bool {
    matches!(
        t.to_uppercase().as_str(),
        "ID" | "SFZ" | "NI" | "NNCHN" | "CN" | "PPN_CN"
    )
}

fn mask_field(v: &str, kind: &str, m: &Masker) -> String {
    let plain: String = v.split(['^', '&']).collect::<Vec<_>>().concat();
    m.mask(kind, &plain)
}

/// Masks the personal fields of PID, MRG and NK1 segments (names, ID numbers, phones,
/// addresses) with the caller's masking rules.
pub fn mask_er7(text: &str, m: &Masker) -> String {
    if m.is_unmasked() {
        return text.to_string();
    }
    let sep = text.chars().nth(3).unwrap_or('|');
    let sep_s = sep.to_string();
    text.split('\r')
        .map(|seg| {
            let id = seg.get(..3).unwrap_or("");
            let kinds: &[(usize, &str)] = match id {
                "PID" => &[
                    (5, "name"),
                    (6, "name"),
                    (9, "name"),
                    (11, "address"),
                    (13, "phone"),
                    (14, "phone"),
                    (19, "id_number"),
                ],
                "MRG" => &[(7, "name")],
                "NK1" => &[(2, "name"), (4, "address"), (5, "phone")],
                _ => return seg.to_string(),
            };
            let mut f: Vec<String> = seg.split(sep).map(str::to_string).collect();
            for (i, kind) in kinds {
                if let Some(v) = f.get_mut(*i).filter(|v| !v.is_empty()) {
                    *v = v
                        .split('~')
                        .map(|r| mask_field(r, kind, m))
                        .collect::<Vec<_>>()
                        .join("~");
                }
            }
            if id == "PID"
                && let Some(v) = f.get_mut(3)
            {
                *v = v
                    .split('~')
                    .map(|rep| {
                        let mut c: Vec<String> = rep.split('^').map(str::to_string).collect();
                        if c.get(4).is_some_and(|t| is_id_type(t)) {
                            c[0] = m.mask("id_number", &c[0]);
                        }
                        c.join("^")
                    })
                    .collect::<Vec<_>>()
                    .join("~");
            }
            f.join(&sep_s)
        })
        .collect::<Vec<_>>()
        .join("\r")
}

/// One message with its history; the read is audited (unmasked reads with their purpose).
pub async fn view(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    um: &Unmask,
) -> AppResult<MessageView> {
    let scope = ctx.require(perm::INTEGRATION_READ)?;
    let row: Option<StoredMessage> = st
        .db
        .fetch_optional(
            &format!("SELECT {MESSAGE_COLS} FROM hl7_messages WHERE id = $1"),
            args![id],
        )
        .await?;
    let Some(message) = row.filter(|m| scope.allows(m.org_id)) else {
        return Err(AppError::not_found("hl7_message"));
    };
    let read = RecordRead {
        action: "hl7_message.read",
        unmasked_action: "hl7_message.read_unmasked",
        resource: "hl7_message",
        id,
        org: Some(message.org_id),
    }
    .open(
        st,
        ctx,
        um,
        ctx.has_for(perm::PATIENT_READ_UNMASKED, message.org_id),
        perm::PATIENT_READ_UNMASKED,
    )
    .await?;
    let unmask = read.unmasked();
    let (raw, ack_text): (Vec<u8>, Option<String>) = st
        .db
        .fetch_one(
            "SELECT raw, ack_text FROM hl7_messages WHERE id = $1",
            args![id],
        )
        .await?;
    let text = yiyang_hl7v2::decode_message(&raw)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(&raw).into_owned());
    let m = &read.masker;
    let mut events: Vec<MessageEvent> = st
        .db
        .fetch_all(
            "SELECT kind, actor_login, detail, at FROM hl7_message_events WHERE message_id = $1 ORDER BY id",
            args![id],
        )
        .await?;
    for e in &mut events {
        if e.kind == "edit" {
            e.detail = mask_er7(&e.detail, m);
        }
    }
    read.audit(st, ctx).await;
    Ok(MessageView {
        raw: mask_er7(&text, m),
        ack_text: ack_text.unwrap_or_default(),
        unmasked: unmask,
        events,
        message,
    })
}

// ---------------------------------------------------------------- critical values

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CriticalAlert {
    pub id: i64,
    pub message_id: i64,
    pub org_id: i64,
    pub person_id: i64,
    pub observation_id: i64,
    pub department: String,
    pub item: String,
    pub value_text: String,
    pub flag: String,
    pub status: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub note: String,
    pub created_at: i64,
    /// The patient's name (from the patient index), masked for the caller.
    #[sqlx(default)]
    pub person_name: String,
    /// 病区 (PV1-3.1) and 床号 (room-bed).
    pub ward: String,
    pub bed: String,
    pub unit: String,
    /// The reference range as the laboratory sent it (OBX-7).
    pub ref_range: String,
    pub attending: String,
    /// 0 = first notice only; n = escalated n times.
    pub level: i64,
    /// Who was told, step by step.
    pub notified: String,
}

const ALERT_COLS: &str = "a.id, a.message_id, a.org_id, a.person_id, a.observation_id, a.department, a.item, a.value_text, a.flag, a.status, a.acknowledged_by, a.acknowledged_at, a.note, a.created_at, a.ward, a.bed, a.unit, a.ref_range, a.attending, a.level, a.notified";

/// HL7 abnormal flags as people say them.
pub fn flag_label(flag: &str) -> &str {
    match flag {
        "HH" | ">" => "危急偏高",
        "LL" | "<" => "危急偏低",
        "H" => "偏高",
        "L" => "偏低",
        "A" | "AA" => "异常",
        "N" | "" => "正常",
        f => f,
    }
}

/// One window of critical-value alerts (open first, newest first) and their number.
pub async fn alerts_page(
    st: &AppState,
    ctx: &RequestContext,
    status: Option<&str>,
    w: &Window,
) -> AppResult<Paged<CriticalAlert>> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("a.org_id", &orgs);
    }
    if let Some(s) = status.filter(|s| !s.is_empty()) {
        yiyang_core::text::one_of("status", "状态", s, &["open", "acknowledged"])?;
        f.add("a.status = ?", s);
    }
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM critical_alerts a{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "a.status DESC, a.id DESC");
    let mut list: Vec<CriticalAlert> = st
        .db
        .fetch_all(
            &format!("SELECT {ALERT_COLS} FROM critical_alerts a{where_sql}{tail}"),
            f.args,
        )
        .await?;
    let ids: Vec<i64> = list.iter().map(|a| a.person_id).collect();
    let names = yiyang_patients::service::names_of(&st.db, &ids).await?;
    let m = st.masking.masker(ctx, false).await?;
    for a in &mut list {
        a.person_name = m.mask("name", names.get(&a.person_id).map_or("", String::as_str));
    }
    // The list names patients (masked): the read is audited like other personal data.
    st.audit
        .record(
            AuditEntry::new(ctx, "integration.alerts_read", "critical_alert", "")
                .details(serde_json::json!({"status": status, "rows": list.len()})),
        )
        .await;
    Ok(Paged::exact(list, total))
}

/// A 申请单 received by ORM/OML, current by placer order number.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Order {
    pub id: i64,
    pub org_id: i64,
    pub person_id: i64,
    pub placer_no: String,
    pub filler_no: String,
    /// active / on-hold / completed / cancelled
    pub status: String,
    pub service_code: String,
    pub service_text: String,
    pub priority: String,
    pub ordering_provider: String,
    pub ordered_at: Option<i64>,
    pub updated_at: i64,
}

/// A 预约 received by SIU, current by appointment number.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Appointment {
    pub id: i64,
    pub org_id: i64,
    pub person_id: i64,
    pub appt_no: String,
    /// booked / noshow / cancelled
    pub status: String,
    pub start_at: Option<i64>,
    pub end_at: Option<i64>,
    pub service: String,
    pub location: String,
    pub provider: String,
    pub reason: String,
    pub updated_at: i64,
}

/// Filters of the order and appointment lists.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ClinicalQuery {
    pub person_id: Option<i64>,
    pub status: Option<String>,
    /// Placer order number or appointment number.
    pub no: Option<String>,
    /// Ordered (申请单) or visit (预约) on this day, YYYY-MM-DD (China Standard Time).
    pub date: Option<String>,
}

/// The order list's filter (its date is when the order was placed).
pub(crate) fn order_filter(ctx: &RequestContext, q: &ClinicalQuery) -> AppResult<Filter> {
    clinical_filter(ctx, q, "placer_no", "ordered_at")
}

/// The appointment list's filter (its date is the visit's).
pub(crate) fn appointment_filter(ctx: &RequestContext, q: &ClinicalQuery) -> AppResult<Filter> {
    clinical_filter(ctx, q, "appt_no", "start_at")
}

fn clinical_filter(
    ctx: &RequestContext,
    q: &ClinicalQuery,
    no_col: &str,
    date_col: &str,
) -> AppResult<Filter> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    if let Some(p) = q.person_id {
        f.add("person_id = ?", p);
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        f.add("status = ?", s);
    }
    if let Some(n) = q.no.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        f.add(&format!("{no_col} = ?"), n);
    }
    if let Some(d) = q.date.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let day = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            AppError::field(
                "filter.invalid",
                "date",
                format!("日期格式不正确：{d}（应为 YYYY-MM-DD）"),
            )
        })?;
        let from = day_start(day);
        f.add(&format!("{date_col} >= ?"), from);
        f.add(&format!("{date_col} < ?"), from + 86_400_000_000);
    }
    Ok(f)
}

/// One window of orders (latest first) and their number; the read is audited.
pub async fn orders_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &ClinicalQuery,
    w: &Window,
) -> AppResult<Paged<Order>> {
    let mut f = order_filter(ctx, q)?;
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM orders{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "updated_at DESC, id DESC");
    let rows: Vec<Order> = st
        .db
        .fetch_all(
            &format!("SELECT id, org_id, person_id, placer_no, filler_no, status, service_code, service_text, priority, ordering_provider, ordered_at, updated_at FROM orders{where_sql}{tail}"),
            f.args,
        )
        .await?;
    st.audit
        .record(
            AuditEntry::new(
                ctx,
                "integration.orders_read",
                "orders",
                q.person_id.unwrap_or(0),
            )
            .details(serde_json::json!({"count": rows.len(), "status": q.status, "no": q.no})),
        )
        .await;
    Ok(Paged::exact(rows, total))
}

/// One window of appointments (latest visit first) and their number; the read is audited.
pub async fn appointments_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &ClinicalQuery,
    w: &Window,
) -> AppResult<Paged<Appointment>> {
    let mut f = appointment_filter(ctx, q)?;
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM appointments{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "start_at DESC, id DESC");
    let rows: Vec<Appointment> = st
        .db
        .fetch_all(
            &format!("SELECT id, org_id, person_id, appt_no, status, start_at, end_at, service, location, provider, reason, updated_at FROM appointments{where_sql}{tail}"),
            f.args,
        )
        .await?;
    st.audit
        .record(
            AuditEntry::new(
                ctx,
                "integration.appointments_read",
                "appointments",
                q.person_id.unwrap_or(0),
            )
            .details(serde_json::json!({"count": rows.len(), "status": q.status, "no": q.no})),
        )
        .await;
    Ok(Paged::exact(rows, total))
}

/// Acknowledges an open alert (需 `patient.write` for its institution).
pub async fn acknowledge(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    note: &str,
) -> AppResult<()> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let row: Option<(i64, String)> = st
        .db
        .fetch_optional(
            "SELECT org_id, status FROM critical_alerts WHERE id = $1",
            args![id],
        )
        .await?;
    let Some((org, status)) = row.filter(|r| scope.allows(r.0)) else {
        return Err(AppError::not_found("critical_alert"));
    };
    if !ctx.has_for(perm::PATIENT_WRITE, org) {
        return Err(AppError::forbidden(perm::PATIENT_WRITE));
    }
    if status != "open" {
        return Err(AppError::conflict(
            "integration.alert_closed",
            "该危急值已确认",
        ));
    }
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE critical_alerts SET status = 'acknowledged', acknowledged_by = $1, acknowledged_at = $2, note = $3 WHERE id = $4 AND status = 'open'",
        args![&ctx.actor.login, now, note.trim(), id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "integration.alert_ack", "critical_alert", id).org(Some(org))],
    )
    .await?;
    tx.commit().await
}

// ---------------------------------------------------------------- monitoring

/// Figures of one channel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelStats {
    pub channel: Channel,
    pub today: i64,
    pub total: i64,
    /// Messages per minute over the last 5 minutes.
    pub per_minute: f64,
    pub errors_today: i64,
    /// Error queue size (status error or rejected).
    pub queue: i64,
    /// Stored messages waiting for processing.
    pub pending: i64,
    /// Share of today's messages that failed or were rejected, percent.
    pub error_rate: f64,
    /// Mean time from arrival to processed over the last 5 minutes, milliseconds.
    pub processing_ms: Option<f64>,
    /// ACK latency on this node over the last 5 minutes.
    pub ack: yiyang_platform::web::metrics::Recent,
    pub last_received_at: Option<i64>,
}

pub async fn monitor(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<ChannelStats>> {
    let list = channels::list(st, ctx).await?;
    let now = ctx.clock.now_micros();
    let today = day_start(yiyang_core::clock::today_cst(ctx.clock.as_ref()));
    let recent = now - 5 * 60_000_000;
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        // Each figure from an index or the hourly counters, never a count of every message
        // (a hospital's HIS sends millions a day; the big screen asks every 10 s).
        let (total, today_n): (i64, i64) = st
            .db
            .fetch_one(
                "SELECT CAST(COALESCE(SUM(received), 0) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN hour >= $2 THEN received ELSE 0 END), 0) AS BIGINT) \
                 FROM hl7_channel_hours WHERE channel_id = $1",
                args![c.id, today],
            )
            .await?;
        // One statement, each part on its own index: the last 5 minutes (channel, time),
        // the error queue (partial index), the backlog (queue index), the last message.
        #[allow(clippy::type_complexity)]
        let (recent_n, processing, queue, errors, pending, last): (
            i64,
            Option<f64>,
            i64,
            i64,
            i64,
            Option<i64>,
        ) = st
            .db
            .fetch_one(
                "SELECT r.n, r.avg_us, f.n, f.today, \
                 (SELECT COUNT(*) FROM hl7_messages WHERE status = 'received' AND channel_id = $1), \
                 (SELECT MAX(received_at) FROM hl7_messages WHERE channel_id = $1) \
                 FROM (SELECT COUNT(*) AS n, CAST(AVG(CASE WHEN status = 'processed' THEN processed_at - received_at END) AS DOUBLE PRECISION) AS avg_us \
                       FROM hl7_messages WHERE channel_id = $1 AND received_at >= $3) AS r, \
                      (SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN received_at >= $2 THEN 1 ELSE 0 END), 0) AS today \
                       FROM hl7_messages WHERE channel_id = $1 AND status IN ('error', 'rejected')) AS f",
                args![c.id, today, recent],
            )
            .await?;
        let id = c.id;
        out.push(ChannelStats {
            channel: c,
            today: today_n,
            total,
            per_minute: recent_n as f64 / 5.0,
            errors_today: errors,
            queue,
            pending,
            error_rate: if today_n > 0 {
                errors as f64 * 100.0 / today_n as f64
            } else {
                0.0
            },
            processing_ms: processing.map(|us| us / 1e3),
            ack: st.metrics.recent(
                crate::listener::ACK_SERIES,
                id,
                std::time::Duration::from_secs(300),
            ),
            last_received_at: last,
        });
    }
    Ok(out)
}

/// Messages received per hour over the last `hours` hours (CST hour labels), per visible
/// channel, from the hourly counters (never a count of messages).
pub async fn hourly(
    st: &AppState,
    ctx: &RequestContext,
    hours: i64,
) -> AppResult<(Vec<String>, Vec<(String, Vec<i64>)>)> {
    const HOUR: i64 = 3_600_000_000;
    let list = channels::list(st, ctx).await?;
    let now = ctx.clock.now_micros();
    let first = now - now % HOUR - (hours - 1) * HOUR;
    let labels: Vec<String> = (0..hours)
        .map(|i| {
            let t = first + i * HOUR + 8 * HOUR;
            format!("{:02}时", (t / HOUR).rem_euclid(24))
        })
        .collect();
    let mut f = Filter::new();
    f.any_of("channel_id", &list.iter().map(|c| c.id).collect::<Vec<_>>());
    f.add("hour >= ?", first);
    let rows: Vec<(i64, i64, i64)> = st
        .db
        .fetch_all(
            &format!(
                "SELECT channel_id, hour, received FROM hl7_channel_hours{}",
                f.sql()
            ),
            f.args,
        )
        .await?;
    let series = list
        .iter()
        .map(|c| {
            let mut v = vec![0i64; hours as usize];
            for (ch, h, n) in &rows {
                let i = (h - first) / HOUR;
                if *ch == c.id && (0..hours).contains(&i) {
                    v[i as usize] += n;
                }
            }
            (c.name.clone(), v)
        })
        .collect();
    Ok((labels, series))
}
