//! Outbound subscriptions (发布订阅): registered endpoints receive chosen events as HL7 v2
//! over MLLP or as signed JSON webhooks, through a durable per-subscription queue with
//! retries, exponential backoff and a dead-letter queue (死信队列).
//!
//! Publishing ([`publish_in`]) runs inside the transaction of the business change, so a
//! delivery exists if and only if the change committed. Delivery ([`deliver_due`], looped by
//! [`spawn`]) claims the *head* pending delivery of each subscription (the oldest one), so a
//! subscription's events leave in the order they were published: a failing head blocks the
//! ones behind it until it is delivered or dead. Claims take a lease (`locked_by`,
//! `locked_until`) and use `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several nodes share
//! the queue; a node that dies mid-delivery leaves a lease that expires and the delivery is
//! retried (at-least-once: receivers dedupe on `X-Yiyang-Delivery` or MSH-10).
//!
//! Order is the order of delivery ids. Events from one sender arrive over one MLLP
//! connection and are processed one after another, so their ids follow their commits;
//! events of one institution processed concurrently on two connections have no defined
//! order between them to begin with.

use crate::messages::mask_er7;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::masking::{Masker, Unmask};
use yiyang_platform::web::AppState;
use yiyang_store::{Arg, Backend, Filter, Paged, Tx, Window, args};

// ---------------------------------------------------------------- event kinds

pub const PATIENT_REGISTERED: &str = "patient.registered";
pub const PATIENT_MERGED: &str = "patient.merged";
pub const ENCOUNTER_ADMITTED: &str = "encounter.admitted";
pub const ENCOUNTER_TRANSFERRED: &str = "encounter.transferred";
pub const ENCOUNTER_DISCHARGED: &str = "encounter.discharged";
pub const OBSERVATION_REPORTED: &str = "observation.reported";
pub const CRITICAL_RAISED: &str = "critical.raised";
pub const ORDER_UPDATED: &str = "order.updated";
pub const APPOINTMENT_UPDATED: &str = "appointment.updated";
/// Queued by “发送测试事件”; not selectable, sent whatever a subscription chose.
pub const TEST_EVENT: &str = "subscription.test";

/// The events a subscription can choose, with their zh-CN labels, in display order.
pub const EVENT_KINDS: &[(&str, &str)] = &[
    (PATIENT_REGISTERED, "患者登记"),
    (PATIENT_MERGED, "患者合并"),
    (ENCOUNTER_ADMITTED, "入院"),
    (ENCOUNTER_TRANSFERRED, "转科/转床"),
    (ENCOUNTER_DISCHARGED, "出院"),
    (OBSERVATION_REPORTED, "检验结果"),
    (CRITICAL_RAISED, "危急值"),
    (ORDER_UPDATED, "申请单"),
    (APPOINTMENT_UPDATED, "预约"),
];

/// The zh-CN label of an event kind (the kind itself when unknown).
pub fn event_label(kind: &str) -> &str {
    if kind == TEST_EVENT {
        return "测试事件";
    }
    EVENT_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, l)| *l)
        .unwrap_or(kind)
}

pub const KINDS: &[(&str, &str)] = &[("mllp", "HL7 v2 / MLLP"), ("webhook", "JSON Webhook")];

pub const STATUSES: &[(&str, &str)] = &[
    ("pending", "待投递"),
    ("delivered", "已投递"),
    ("dead", "死信"),
];

pub fn status_label(s: &str) -> &str {
    STATUSES
        .iter()
        .find(|(c, _)| *c == s)
        .map(|(_, l)| *l)
        .unwrap_or(s)
}

/// Waits after failed attempt 1, 2, 3 …: 5 s, 30 s, 2 min, 10 min, 30 min, then hourly.
pub const BACKOFF_SECS: &[i64] = &[5, 30, 120, 600, 1800, 3600];

/// The wait before the next attempt after `attempts` failed ones.
pub fn backoff_micros(attempts: i64) -> i64 {
    let i = (attempts.max(1) - 1).min(BACKOFF_SECS.len() as i64 - 1) as usize;
    BACKOFF_SECS[i] * 1_000_000
}

// ---------------------------------------------------------------- publishing

/// One business event, published inside the transaction that made the change.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The institution whose data changed; its subscriptions receive the event.
    pub org_id: i64,
    /// One of the event kind constants (e.g. [`ENCOUNTER_ADMITTED`]).
    pub kind: &'a str,
    /// The HL7 message that caused the change, if any.
    pub message_id: Option<i64>,
    /// ER7 text for MLLP subscribers (segments separated by `\r`); MLLP subscriptions are
    /// skipped when absent.
    pub hl7: Option<&'a str>,
    /// The `data` of the webhook envelope. Personal values under the keys `name`,
    /// `patient_name`, `family_name`, `given_name`, `id_number`, `phone`, `mobile` and
    /// `address` are masked when the payload is shown in the UI.
    pub json: serde_json::Value,
}

/// CST ISO-8601 time with milliseconds, as in the webhook envelope.
pub fn iso_cst(micros: i64) -> String {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .with_timezone(&cst)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// The JSON body a webhook receives: `{event, occurred_at, org_id, message_id, data}`.
pub fn envelope(now: i64, ev: &Event<'_>) -> String {
    serde_json::json!({
        "event": ev.kind,
        "occurred_at": iso_cst(now),
        "org_id": ev.org_id,
        "message_id": ev.message_id,
        "data": ev.json,
    })
    .to_string()
}

fn split_events(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

/// Whether the institution has an enabled subscription (processing skips publishing
/// otherwise).
pub async fn has_subscriptions(tx: &mut Tx, org_id: i64) -> AppResult<bool> {
    Ok(tx
        .scalar(
            "SELECT COUNT(*) FROM integration_subscriptions WHERE org_id = $1 AND enabled = TRUE",
            args![org_id],
        )
        .await?
        > 0)
}

/// Queues the event for every enabled subscription of its institution that chose it:
/// MLLP subscriptions get the HL7 text (none when `ev.hl7` is `None`), webhooks the JSON
/// envelope. One SELECT and one multi-row INSERT; returns the number of deliveries queued.
/// An unknown kind matches no subscription (subscriptions can only choose known kinds).
pub async fn publish_in(tx: &mut Tx, now: i64, ev: &Event<'_>) -> AppResult<u64> {
    let subs: Vec<(i64, String, String)> = tx
        .fetch_all(
            "SELECT id, kind, events FROM integration_subscriptions WHERE org_id = $1 AND enabled = TRUE ORDER BY id",
            args![ev.org_id],
        )
        .await?;
    let mut body: Option<String> = None;
    let mut rows = Vec::new();
    for (id, kind, events) in subs {
        if !split_events(&events).any(|e| e == ev.kind) {
            continue;
        }
        let payload = if kind == "mllp" {
            match ev.hl7 {
                Some(t) => t.to_string(),
                None => continue,
            }
        } else {
            body.get_or_insert_with(|| envelope(now, ev)).clone()
        };
        rows.push((id, payload));
    }
    insert_deliveries(tx, ev.kind, ev.message_id, now, rows).await
}

async fn insert_deliveries(
    tx: &mut Tx,
    event: &str,
    message_id: Option<i64>,
    now: i64,
    rows: Vec<(i64, String)>,
) -> AppResult<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut a: Vec<Arg> = args![event, message_id, now];
    let mut values = Vec::with_capacity(rows.len());
    for (sub, payload) in rows {
        let n = a.len();
        values.push(format!(
            "(${}, $1, $2, ${}, 'pending', 0, $3, $3)",
            n + 1,
            n + 2
        ));
        a.push(sub.into());
        a.push(payload.into());
    }
    tx.execute(
        &format!(
            "INSERT INTO integration_deliveries (subscription_id, event, message_id, payload, status, attempts, next_attempt_at, created_at) VALUES {}",
            values.join(", ")
        ),
        a,
    )
    .await
}

// ---------------------------------------------------------------- subscriptions

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: i64,
    org_id: i64,
    name: String,
    kind: String,
    host: String,
    port: i64,
    url: String,
    secret_hint: String,
    events: String,
    enabled: bool,
    max_attempts: i64,
    timeout_secs: i64,
    last_success_at: Option<i64>,
    last_error: String,
    last_error_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const SUB_COLS: &str = "id, org_id, name, kind, host, port, url, secret_hint, events, enabled, max_attempts, timeout_secs, last_success_at, last_error, last_error_at, created_at, updated_at";

/// A subscription as shown to callers, with its queue figures. The webhook secret itself
/// is never returned, only `secret_hint`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    /// `mllp` or `webhook`.
    pub kind: String,
    /// MLLP target host and port.
    pub host: String,
    pub port: i64,
    /// Webhook URL.
    pub url: String,
    /// The webhook secret, masked (e.g. `••••3f9a`).
    pub secret_hint: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub max_attempts: i64,
    pub timeout_secs: i64,
    pub last_success_at: Option<i64>,
    pub last_error: String,
    pub last_error_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
}

impl Subscription {
    fn from_row(r: Row) -> Self {
        Subscription {
            events: split_events(&r.events).map(str::to_string).collect(),
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            kind: r.kind,
            host: r.host,
            port: r.port,
            url: r.url,
            secret_hint: r.secret_hint,
            enabled: r.enabled,
            max_attempts: r.max_attempts,
            timeout_secs: r.timeout_secs,
            last_success_at: r.last_success_at,
            last_error: r.last_error,
            last_error_at: r.last_error_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            pending: 0,
            delivered: 0,
            dead: 0,
        }
    }

    /// Where deliveries go, for people.
    pub fn target(&self) -> String {
        if self.kind == "mllp" {
            format!("{}:{}", self.host, self.port)
        } else {
            self.url.clone()
        }
    }
}

/// What an operator enters for a subscription.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionInput {
    /// The institution whose events are sent; cannot change after creation.
    #[serde(default)]
    pub org_id: i64,
    #[serde(default)]
    pub name: String,
    /// `mllp` or `webhook`; cannot change after creation.
    #[serde(default)]
    pub kind: String,
    /// MLLP: target host name or IP address.
    #[serde(default)]
    pub host: String,
    /// MLLP: target port (1–65535).
    #[serde(default)]
    pub port: i64,
    /// Webhook: `http://…` URL.
    #[serde(default)]
    pub url: String,
    /// Webhook: HMAC-SHA256 signing secret (16–200 characters). On update, empty keeps the
    /// stored secret.
    #[serde(default)]
    pub secret: String,
    /// Event kinds, at least one (see `EVENT_KINDS`).
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Attempts before a delivery goes to the dead-letter queue (1–50).
    #[serde(default = "default_attempts")]
    pub max_attempts: i64,
    /// Connect + send + reply timeout per attempt, seconds (1–120).
    #[serde(default = "default_timeout")]
    pub timeout_secs: i64,
}

fn yes() -> bool {
    true
}
pub fn default_attempts() -> i64 {
    10
}
pub fn default_timeout() -> i64 {
    10
}

fn host_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        && !h.starts_with(['.', '-'])
}

impl SubscriptionInput {
    /// Trims and normalises the input; every problem is a zh-CN error naming its field.
    pub fn validate(mut self, creating: bool) -> AppResult<SubscriptionInput> {
        self.name = self.name.trim().to_string();
        yiyang_core::text::check(
            "name",
            "订阅名称",
            &self.name,
            50,
            yiyang_core::text::Kind::Name,
        )?;
        if self.name.is_empty() || self.name.chars().count() > 50 {
            return Err(AppError::field(
                "integration.sub_name_invalid",
                "name",
                "请填写订阅名称（不超过50字）",
            ));
        }
        self.kind = self.kind.trim().to_lowercase();
        match self.kind.as_str() {
            "mllp" => {
                self.host = self.host.trim().to_string();
                if !host_ok(&self.host) {
                    return Err(AppError::field(
                        "integration.sub_host_invalid",
                        "host",
                        "请填写正确的目标主机（域名或 IP 地址）",
                    ));
                }
                if !(1..=65535).contains(&self.port) {
                    return Err(AppError::field(
                        "integration.sub_port_invalid",
                        "port",
                        "目标端口须在 1–65535 之间",
                    ));
                }
                self.url.clear();
                self.secret.clear();
            }
            "webhook" => {
                self.url = self.url.trim().to_string();
                check_url(&self.url)?;
                self.secret = self.secret.trim().to_string();
                let n = self.secret.chars().count();
                if (creating || n > 0) && !(16..=200).contains(&n) {
                    return Err(AppError::field(
                        "integration.sub_secret_invalid",
                        "secret",
                        "签名密钥须为 16–200 个字符，并与接收方配置一致",
                    ));
                }
                self.host.clear();
                self.port = 0;
            }
            _ => {
                return Err(AppError::field(
                    "integration.sub_kind_invalid",
                    "kind",
                    "请选择投递方式：HL7 v2 / MLLP 或 JSON Webhook",
                ));
            }
        }
        let mut events: Vec<String> = Vec::new();
        for e in self.events.iter().flat_map(|e| split_events(e)) {
            if !EVENT_KINDS.iter().any(|(k, _)| *k == e) {
                return Err(AppError::field(
                    "integration.sub_event_unknown",
                    "events",
                    format!("未知的事件类型：{e}"),
                ));
            }
            if !events.iter().any(|x| x == e) {
                events.push(e.to_string());
            }
        }
        if events.is_empty() {
            return Err(AppError::field(
                "integration.sub_events_required",
                "events",
                "请至少选择一种订阅的事件",
            ));
        }
        // Display order, so the stored list does not depend on the order of the form.
        events.sort_by_key(|e| EVENT_KINDS.iter().position(|(k, _)| k == e));
        self.events = events;
        if !(1..=50).contains(&self.max_attempts) {
            return Err(AppError::field(
                "integration.sub_attempts_invalid",
                "max_attempts",
                "最大尝试次数须在 1–50 之间",
            ));
        }
        if !(1..=120).contains(&self.timeout_secs) {
            return Err(AppError::field(
                "integration.sub_timeout_invalid",
                "timeout_secs",
                "超时须在 1–120 秒之间",
            ));
        }
        Ok(self)
    }

    fn audit_details(&self) -> serde_json::Value {
        serde_json::json!({
            "org_id": self.org_id, "name": self.name, "kind": self.kind, "host": self.host,
            "port": self.port, "url": self.url, "events": self.events, "enabled": self.enabled,
            "max_attempts": self.max_attempts, "timeout_secs": self.timeout_secs,
            "secret_changed": !self.secret.is_empty(),
        })
    }
}

fn check_url(url: &str) -> AppResult<()> {
    let bad = |m: &str| AppError::field("integration.sub_url_invalid", "url", m.to_string());
    if url.is_empty() {
        return Err(bad(
            "请填写接收地址，如 http://his.example.local/hooks/yiyang",
        ));
    }
    if url.len() > 500 {
        return Err(bad("接收地址过长（不超过500字符）"));
    }
    let u = reqwest::Url::parse(url)
        .map_err(|_| bad("接收地址格式不正确，应如 http://主机:端口/路径"))?;
    match u.scheme() {
        "http" => {}
        "https" => {
            return Err(bad(
                "暂不支持 https 直连，请填写 http 地址并由 TLS 代理转发（与通知网关相同）",
            ));
        }
        _ => return Err(bad("接收地址须以 http:// 开头")),
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("接收地址缺少主机名"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("接收地址中不能包含用户名或密码，请使用签名密钥"));
    }
    if u.fragment().is_some() {
        return Err(bad("接收地址中不能包含 #"));
    }
    Ok(())
}

/// `••••` and the last four characters of a secret.
pub fn secret_hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("••••{tail}")
}

fn require_manage(ctx: &RequestContext, org_id: i64) -> AppResult<()> {
    if ctx.has_for(perm::INTEGRATION_MANAGE, org_id) {
        Ok(())
    } else {
        Err(AppError::forbidden(perm::INTEGRATION_MANAGE))
    }
}

async fn fill_counts(st: &AppState, list: &mut [Subscription]) -> AppResult<()> {
    if list.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
    let mut f = Filter::new();
    f.any_of("subscription_id", &ids);
    let rows: Vec<(i64, String, i64)> = st
        .db
        .fetch_all(
            &format!(
                "SELECT subscription_id, status, COUNT(*) FROM integration_deliveries{} GROUP BY subscription_id, status",
                f.sql()
            ),
            f.args,
        )
        .await?;
    for (id, status, n) in rows {
        if let Some(s) = list.iter_mut().find(|s| s.id == id) {
            match status.as_str() {
                "pending" => s.pending = n,
                "delivered" => s.delivered = n,
                "dead" => s.dead = n,
                _ => {}
            }
        }
    }
    Ok(())
}

/// Subscriptions visible to the caller (`integration.read` scope), with queue figures.
pub async fn list(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Subscription>> {
    let scope = ctx.require(perm::INTEGRATION_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    let rows: Vec<Row> = st
        .db
        .fetch_all(
            &format!(
                "SELECT {SUB_COLS} FROM integration_subscriptions{} ORDER BY org_id, name",
                f.sql()
            ),
            f.args,
        )
        .await?;
    let mut list: Vec<Subscription> = rows.into_iter().map(Subscription::from_row).collect();
    fill_counts(st, &mut list).await?;
    Ok(list)
}

/// One subscription in the caller's scope (404 otherwise).
pub async fn get(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<Subscription> {
    let scope = ctx.require(perm::INTEGRATION_READ)?;
    let row: Option<Row> = st
        .db
        .fetch_optional(
            &format!("SELECT {SUB_COLS} FROM integration_subscriptions WHERE id = $1"),
            args![id],
        )
        .await?;
    let Some(row) = row.filter(|r| scope.allows(r.org_id)) else {
        return Err(AppError::not_found("subscription"));
    };
    let mut one = [Subscription::from_row(row)];
    fill_counts(st, &mut one).await?;
    let [s] = one;
    Ok(s)
}

async fn check_org_and_name(st: &AppState, s: &SubscriptionInput, except: i64) -> AppResult<()> {
    crate::channels::require_org(st, s.org_id).await?;
    let dup: Option<(i64,)> = st
        .db
        .fetch_optional(
            "SELECT id FROM integration_subscriptions WHERE org_id = $1 AND name = $2 AND id <> $3",
            args![s.org_id, &s.name, except],
        )
        .await?;
    if dup.is_some() {
        return Err(AppError::field(
            "integration.sub_name_taken",
            "name",
            format!("本机构已有名为“{}”的订阅", s.name),
        ));
    }
    Ok(())
}

/// Creates a subscription (`integration.manage` for its institution).
pub async fn create(
    st: &AppState,
    ctx: &RequestContext,
    input: SubscriptionInput,
) -> AppResult<i64> {
    let s = input.validate(true)?;
    require_manage(ctx, s.org_id)?;
    check_org_and_name(st, &s, 0).await?;
    let (cipher, hint) = if s.kind == "webhook" {
        (Some(st.keys.encrypt(&s.secret)), secret_hint(&s.secret))
    } else {
        (None, String::new())
    };
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO integration_subscriptions (org_id, name, kind, host, port, url, secret_cipher, secret_hint, events, enabled, max_attempts, timeout_secs, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
            args![s.org_id, &s.name, &s.kind, &s.host, s.port, &s.url, cipher, hint, s.events.join(","), s.enabled, s.max_attempts, s.timeout_secs, now],
        )
        .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "integration.subscription_create", "subscription", id)
                .org(Some(s.org_id))
                .details(s.audit_details()),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Updates a subscription; kind and institution cannot change, an empty secret keeps the
/// stored one.
/// Pending deliveries go to the new target; new events follow the new choice.
pub async fn update(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    input: SubscriptionInput,
) -> AppResult<()> {
    let old = get(st, ctx, id).await?;
    require_manage(ctx, old.org_id)?;
    let s = input.validate(false)?;
    if s.kind != old.kind {
        return Err(AppError::field(
            "integration.sub_kind_fixed",
            "kind",
            "投递方式创建后不能修改；如需更换，请新建订阅并停用本订阅",
        ));
    }
    // Queued payloads belong to the institution; moving the subscription would show them
    // to another institution's staff.
    if s.org_id != old.org_id {
        return Err(AppError::field(
            "integration.sub_org_fixed",
            "org_id",
            "所属机构创建后不能修改；如需更换，请在该机构下新建订阅",
        ));
    }
    check_org_and_name(st, &s, id).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE integration_subscriptions SET name = $2, host = $3, port = $4, url = $5, events = $6, enabled = $7, \
         max_attempts = $8, timeout_secs = $9, updated_at = $10 WHERE id = $11 AND org_id = $1",
        args![s.org_id, &s.name, &s.host, s.port, &s.url, s.events.join(","), s.enabled, s.max_attempts, s.timeout_secs, now, id],
    )
    .await?;
    if !s.secret.is_empty() {
        tx.execute(
            "UPDATE integration_subscriptions SET secret_cipher = $1, secret_hint = $2 WHERE id = $3",
            args![st.keys.encrypt(&s.secret), secret_hint(&s.secret), id],
        )
        .await?;
    }
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "integration.subscription_update", "subscription", id)
                .org(Some(s.org_id))
                .details(s.audit_details()),
        ],
    )
    .await?;
    tx.commit().await
}

/// Enables or disables a subscription. While disabled it receives no new events and its
/// pending deliveries wait (they resume when it is enabled again).
pub async fn set_enabled(st: &AppState, ctx: &RequestContext, id: i64, on: bool) -> AppResult<()> {
    let old = get(st, ctx, id).await?;
    require_manage(ctx, old.org_id)?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE integration_subscriptions SET enabled = $1, updated_at = $2 WHERE id = $3",
        args![on, now, id],
    )
    .await?;
    let action = if on {
        "integration.subscription_enable"
    } else {
        "integration.subscription_disable"
    };
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, action, "subscription", id).org(Some(old.org_id))],
    )
    .await?;
    tx.commit().await
}

/// An HL7 v2.5 NMD^N02 (application management) message used as the MLLP test event.
pub fn test_hl7(control_id: &str, now: i64) -> String {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    let ts = chrono::DateTime::from_timestamp_micros(now)
        .unwrap_or_default()
        .with_timezone(&cst)
        .format("%Y%m%d%H%M%S");
    format!(
        "MSH|^~\\&|YIYANG|MEIZHOU|||{ts}||NMD^N02^NMD_N02|{control_id}|P|2.5|||AL|NE||UNICODE UTF-8\rNCK|{ts}"
    )
}

/// Queues a test delivery behind the subscription's pending ones; returns its id.
pub async fn queue_test(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<i64> {
    let s = get(st, ctx, id).await?;
    require_manage(ctx, s.org_id)?;
    if !s.enabled {
        return Err(AppError::conflict(
            "integration.sub_disabled",
            "订阅已停用，请先启用再发送测试事件",
        ));
    }
    let now = ctx.clock.now_micros();
    let payload = if s.kind == "mllp" {
        test_hl7(&format!("YYTEST{}", now / 1000), now)
    } else {
        envelope(
            now,
            &Event {
                org_id: s.org_id,
                kind: TEST_EVENT,
                message_id: None,
                hl7: None,
                json: serde_json::json!({"subscription_id": s.id, "subscription": s.name, "note": "这是一条测试事件，无需处理"}),
            },
        )
    };
    let mut tx = st.db.begin().await?;
    let did = tx
        .scalar(
            "INSERT INTO integration_deliveries (subscription_id, event, message_id, payload, status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, NULL, $3, 'pending', 0, $4, $4) RETURNING id",
            args![id, TEST_EVENT, payload, now],
        )
        .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "integration.subscription_test", "subscription", id)
                .org(Some(s.org_id))
                .details(serde_json::json!({"delivery_id": did})),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(did)
}

// ---------------------------------------------------------------- deliveries

/// One queued event for one subscription.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub subscription_id: i64,
    pub event: String,
    /// The HL7 message that caused the event, if any.
    pub message_id: Option<i64>,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_error: String,
    /// The receiver's answer to the last attempt (ACK text or HTTP status and body).
    pub last_response: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLS: &str = "id, subscription_id, event, message_id, status, attempts, next_attempt_at, last_attempt_at, last_error, last_response, created_at, delivered_at";

/// Search criteria for deliveries.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct DeliveryQuery {
    pub subscription_id: Option<i64>,
    /// pending / delivered / dead
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// Deliveries of the subscriptions visible to the caller, newest first (up to `q.limit`:
/// 200 by default, at most 1,000).
pub async fn deliveries(
    st: &AppState,
    ctx: &RequestContext,
    q: &DeliveryQuery,
) -> AppResult<Vec<Delivery>> {
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let mut f = delivery_filter(st, ctx, q).await?;
    let page = f.page(limit, 0);
    st.db
        .fetch_all(
            &format!(
                "SELECT {DELIVERY_COLS} FROM integration_deliveries{} ORDER BY id DESC{page}",
                f.sql()
            ),
            f.args,
        )
        .await
}

/// Counting deliveries stops here (a busy receiver's history is long).
pub const DELIVERY_COUNT_CAP: i64 = 10_000;

/// One window of deliveries, newest first, counted up to [`DELIVERY_COUNT_CAP`].
pub async fn deliveries_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &DeliveryQuery,
    w: &Window,
) -> AppResult<Paged<Delivery>> {
    let mut f = delivery_filter(st, ctx, q).await?;
    let where_sql = f.sql();
    let counted = st
        .db
        .scalar(
            &format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM integration_deliveries{where_sql} LIMIT {}) AS t",
                DELIVERY_COUNT_CAP + 1
            ),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "id DESC");
    let rows = st
        .db
        .fetch_all(
            &format!("SELECT {DELIVERY_COLS} FROM integration_deliveries{where_sql}{tail}"),
            f.args,
        )
        .await?;
    Ok(Paged::counted_to(rows, counted, DELIVERY_COUNT_CAP))
}

async fn delivery_filter(
    st: &AppState,
    ctx: &RequestContext,
    q: &DeliveryQuery,
) -> AppResult<Filter> {
    let scope = ctx.require(perm::INTEGRATION_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        let mut sf = Filter::new();
        sf.any_of("org_id", &orgs);
        let ids: Vec<(i64,)> = st
            .db
            .fetch_all(
                &format!("SELECT id FROM integration_subscriptions{}", sf.sql()),
                sf.args,
            )
            .await?;
        let ids: Vec<i64> = ids.into_iter().map(|r| r.0).collect();
        f.any_of("subscription_id", &ids);
    }
    if let Some(s) = q.subscription_id {
        f.add("subscription_id = ?", s);
    }
    match q.status.as_deref().map(str::trim).unwrap_or("") {
        "" => {}
        s if STATUSES.iter().any(|(c, _)| *c == s) => {
            f.add("status = ?", s);
        }
        _ => {
            return Err(AppError::field(
                "integration.delivery_status_invalid",
                "status",
                "状态只能是 pending、delivered 或 dead",
            ));
        }
    }
    Ok(f)
}

/// A delivery with its subscription, in the caller's scope (404 otherwise).
async fn load_delivery(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
) -> AppResult<(Delivery, Subscription)> {
    ctx.require(perm::INTEGRATION_READ)?;
    let d: Option<Delivery> = st
        .db
        .fetch_optional(
            &format!("SELECT {DELIVERY_COLS} FROM integration_deliveries WHERE id = $1"),
            args![id],
        )
        .await?;
    let Some(d) = d else {
        return Err(AppError::not_found("delivery"));
    };
    let s = get(st, ctx, d.subscription_id)
        .await
        .map_err(|e| match e.status {
            404 => AppError::not_found("delivery"),
            _ => e,
        })?;
    Ok((d, s))
}

/// A delivery as shown to one caller: the payload with personal values masked unless
/// unmasked with a purpose.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub delivery: Delivery,
    pub subscription_name: String,
    pub org_id: i64,
    /// ER7 (segments separated by `\r`) or the JSON envelope.
    pub payload: String,
    pub unmasked: bool,
}

fn json_kind(key: &str) -> Option<&'static str> {
    let k = key.to_ascii_lowercase();
    match k.as_str() {
        "name" | "patient_name" | "family_name" | "given_name" | "full_name" | "contact_name" => {
            Some("name")
        }
        "id_number" | "id_no" | "idcard" | "id_card" => Some("id_number"),
        "phone" | "mobile" | "telephone" | "tel" | "contact_phone" => Some("phone"),
        "address" | "home_address" | "addr" => Some("address"),
        _ => None,
    }
}

fn mask_value(v: &mut serde_json::Value, kind: Option<&str>, m: &Masker) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Some(k) = kind {
                *s = m.mask(k, s);
            } else if s.starts_with("MSH") {
                *s = mask_er7(s, m);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| mask_value(x, kind, m)),
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                mask_value(x, json_kind(k).or(kind), m);
            }
        }
        _ => {}
    }
}

/// Masks a stored payload for one caller: ER7 through the HL7 masking, JSON by key names
/// (see [`Event::json`]); text that is neither is withheld unless unmasked.
pub fn mask_payload(payload: &str, m: &Masker) -> String {
    if m.is_unmasked() {
        return payload.to_string();
    }
    if payload.starts_with("MSH") {
        return mask_er7(payload, m);
    }
    match serde_json::from_str::<serde_json::Value>(payload) {
        Ok(mut v) => {
            mask_value(&mut v, None, m);
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        Err(_) => "（内容已隐藏，查看明文须填写用途）".into(),
    }
}

/// One delivery with its payload; the read is audited (unmasked reads with their purpose).
pub async fn view(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    um: &Unmask,
) -> AppResult<DeliveryView> {
    let (d, s) = load_delivery(st, ctx, id).await?;
    let purpose = match um.purpose(
        ctx.has_for(perm::PATIENT_READ_UNMASKED, s.org_id),
        perm::PATIENT_READ_UNMASKED,
    ) {
        Ok(p) => p,
        Err(e) => {
            st.audit
                .record(
                    AuditEntry::new(ctx, "integration.delivery_read_unmasked", "delivery", id)
                        .org(Some(s.org_id))
                        .outcome("denied"),
                )
                .await;
            return Err(e);
        }
    };
    let unmask = purpose.is_some();
    let (payload,): (String,) = st
        .db
        .fetch_one(
            "SELECT payload FROM integration_deliveries WHERE id = $1",
            args![id],
        )
        .await?;
    let m = st.masking.masker(ctx, unmask).await?;
    st.audit
        .record(
            AuditEntry::new(
                ctx,
                if unmask {
                    "integration.delivery_read_unmasked"
                } else {
                    "integration.delivery_read"
                },
                "delivery",
                id,
            )
            .org(Some(s.org_id))
            .purpose(purpose.as_deref().unwrap_or("")),
        )
        .await;
    Ok(DeliveryView {
        payload: mask_payload(&payload, &m),
        subscription_name: s.name,
        org_id: s.org_id,
        unmasked: unmask,
        delivery: d,
    })
}

/// Back to the queue, attempts reset, due at `$1`.
const REQUEUE: &str = "UPDATE integration_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, locked_by = NULL, locked_until = NULL";

/// Puts one dead delivery back in its queue: pending, attempts reset, due now.
pub async fn retry(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<()> {
    let (d, s) = load_delivery(st, ctx, id).await?;
    require_manage(ctx, s.org_id)?;
    if d.status != "dead" {
        return Err(AppError::conflict(
            "integration.delivery_not_dead",
            "只有死信可以重新投递",
        ));
    }
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let n = tx
        .execute(
            &format!("{REQUEUE} WHERE id = $2 AND status = 'dead'"),
            args![now, id],
        )
        .await?;
    if n == 0 {
        return Err(AppError::conflict(
            "integration.delivery_not_dead",
            "只有死信可以重新投递",
        ));
    }
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "integration.delivery_retry", "delivery", id)
                .org(Some(s.org_id))
                .details(serde_json::json!({"subscription_id": s.id})),
        ],
    )
    .await?;
    tx.commit().await
}

/// Puts every dead delivery of a subscription back in its queue; returns how many.
pub async fn retry_dead(st: &AppState, ctx: &RequestContext, sub_id: i64) -> AppResult<u64> {
    let s = get(st, ctx, sub_id).await?;
    require_manage(ctx, s.org_id)?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let n = tx
        .execute(
            &format!("{REQUEUE} WHERE subscription_id = $2 AND status = 'dead'"),
            args![now, sub_id],
        )
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(
            ctx,
            "integration.delivery_retry_dead",
            "subscription",
            sub_id,
        )
        .org(Some(s.org_id))
        .details(serde_json::json!({"count": n}))],
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

// ---------------------------------------------------------------- delivery worker

/// Deliveries in flight at once on one node (each from a different subscription).
const CONCURRENCY: usize = 8;
/// Attempts per [`deliver_due`] pass, so one pass returns even under a steady stream.
const MAX_PER_PASS: usize = 1000;
/// How often [`spawn`]'s loop looks for due deliveries.
const POLL: Duration = Duration::from_secs(1);
/// Largest ACK frame accepted from a receiver (bytes).
const MAX_ACK: usize = 1 << 20;
/// Kept of a receiver's answer.
const MAX_RESPONSE: usize = 2000;

#[derive(Debug, Clone, sqlx::FromRow)]
struct Claimed {
    id: i64,
    subscription_id: i64,
    event: String,
    payload: String,
    attempts: i64,
    kind: String,
    host: String,
    port: i64,
    url: String,
    secret_cipher: Option<Vec<u8>>,
    max_attempts: i64,
    timeout_secs: i64,
}

/// Why an attempt failed, and what the receiver said if anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    pub response: String,
}

fn fail(error: impl Into<String>) -> Failure {
    Failure {
        error: error.into(),
        response: String::new(),
    }
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Claims the due head delivery of up to `limit` subscriptions and leases them to `token`.
async fn claim(st: &AppState, token: &str, limit: usize) -> AppResult<Vec<Claimed>> {
    let now = st.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE OF d SKIP LOCKED"
    } else {
        ""
    };
    let rows: Vec<Claimed> = tx
        .fetch_all(
            &format!(
                "SELECT d.id, d.subscription_id, d.event, d.payload, d.attempts, s.kind, s.host, s.port, s.url, s.secret_cipher, s.max_attempts, s.timeout_secs \
                 FROM integration_deliveries d JOIN integration_subscriptions s ON s.id = d.subscription_id \
                 WHERE d.status = 'pending' AND s.enabled = TRUE AND d.next_attempt_at <= $1 \
                 AND (d.locked_until IS NULL OR d.locked_until < $1) \
                 AND d.id = (SELECT MIN(h.id) FROM integration_deliveries h WHERE h.subscription_id = d.subscription_id AND h.status = 'pending') \
                 ORDER BY d.next_attempt_at, d.id LIMIT $2{lock}"
            ),
            args![now, limit as i64],
        )
        .await?;
    for c in &rows {
        // The lease outlives the attempt's own timeout, so only a dead node lets it lapse.
        let until = now + (c.timeout_secs.max(1) + 30) * 1_000_000;
        tx.execute(
            "UPDATE integration_deliveries SET attempts = attempts + 1, last_attempt_at = $1, locked_by = $2, locked_until = $3 WHERE id = $4",
            args![now, token, until, c.id],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|mut c| {
            c.attempts += 1;
            c
        })
        .collect())
}

/// Claims and delivers due deliveries until none is due (each subscription in order, up to
/// eight subscriptions at once); returns the number of attempts made.
pub async fn deliver_due(st: &AppState) -> AppResult<usize> {
    let token = format!(
        "{}-{}",
        std::process::id(),
        &yiyang_platform::crypto::random_token()[..12]
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Yiyang-Outbound/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(AppError::internal)?;
    let mut set = tokio::task::JoinSet::new();
    let mut done = 0usize;
    let mut first_err: Option<AppError> = None;
    loop {
        let room = CONCURRENCY - set.len();
        if room > 0 && first_err.is_none() && done + set.len() < MAX_PER_PASS {
            match claim(st, &token, room).await {
                Ok(claimed) => {
                    for c in claimed {
                        let (st, http, token) = (st.clone(), http.clone(), token.clone());
                        set.spawn(async move { attempt(&st, &http, &token, c).await });
                    }
                }
                Err(e) => first_err = Some(e),
            }
        }
        match set.join_next().await {
            None => break,
            Some(Ok(Ok(()))) => done += 1,
            Some(Ok(Err(e))) => {
                done += 1;
                first_err.get_or_insert(e);
            }
            Some(Err(e)) => {
                first_err.get_or_insert(AppError::internal(e));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// The delivery loop: a pass every second until `stop` turns true. A pass in progress is
/// abandoned on stop; its leases lapse and the deliveries are retried.
pub fn spawn(
    st: AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = deliver_due(&st) => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e.message, "outbound delivery pass failed");
                    }
                }
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
    })
}

async fn attempt(st: &AppState, http: &reqwest::Client, token: &str, c: Claimed) -> AppResult<()> {
    let timeout = Duration::from_secs(c.timeout_secs.clamp(1, 120) as u64);
    let result = if c.kind == "mllp" {
        match u16::try_from(c.port) {
            Ok(port) => send_mllp(&c.host, port, timeout, &c.payload).await,
            Err(_) => Err(fail(format!("目标端口无效：{}", c.port))),
        }
    } else {
        match c.secret_cipher.as_deref().map(|b| st.keys.decrypt(b)) {
            Some(Ok(secret)) => {
                send_webhook(http, &c.url, &secret, &c.event, c.id, timeout, &c.payload).await
            }
            _ => Err(fail("无法读取签名密钥，请在订阅中重新设置")),
        }
    };
    finish(st, token, &c, result).await
}

async fn finish(
    st: &AppState,
    token: &str,
    c: &Claimed,
    result: Result<String, Failure>,
) -> AppResult<()> {
    let now = st.clock.now_micros();
    let mut tx = st.db.begin().await?;
    match result {
        Ok(response) => {
            tx.execute(
                "UPDATE integration_deliveries SET status = 'delivered', delivered_at = $1, last_response = $2, locked_by = NULL, locked_until = NULL \
                 WHERE id = $3 AND locked_by = $4 AND status = 'pending'",
                args![now, clip(&response, MAX_RESPONSE), c.id, token],
            )
            .await?;
            tx.execute(
                "UPDATE integration_subscriptions SET last_success_at = $1 WHERE id = $2",
                args![now, c.subscription_id],
            )
            .await?;
        }
        Err(f) => {
            let error = clip(&f.error, 500);
            let dead = c.attempts >= c.max_attempts;
            tracing::warn!(delivery = c.id, subscription = c.subscription_id, attempts = c.attempts, dead, error = %error, "outbound delivery failed");
            tx.execute(
                "UPDATE integration_deliveries SET status = $1, next_attempt_at = $2, last_error = $3, last_response = $4, locked_by = NULL, locked_until = NULL \
                 WHERE id = $5 AND locked_by = $6 AND status = 'pending'",
                args![
                    if dead { "dead" } else { "pending" },
                    now + backoff_micros(c.attempts),
                    &error,
                    clip(&f.response, MAX_RESPONSE),
                    c.id,
                    token
                ],
            )
            .await?;
            tx.execute(
                "UPDATE integration_subscriptions SET last_error = $1, last_error_at = $2 WHERE id = $3",
                args![&error, now, c.subscription_id],
            )
            .await?;
        }
    }
    tx.commit().await
}

/// Judges an HL7 ACK: `Ok` on MSA-1 `AA`/`CA` naming `control_id` (when both are known).
pub fn judge_ack(ack: &str, control_id: &str) -> Result<(), String> {
    let msg = yiyang_hl7v2::Message::parse(ack).map_err(|e| format!("回执无法解析：{e}"))?;
    let Some(msa) = msg.segment("MSA") else {
        return Err("回执缺少 MSA 段".into());
    };
    let code = msa.text(1).trim().to_uppercase();
    let acked = msa.text(2);
    let text = msa.text(3);
    let err_text = msg
        .segment("ERR")
        .map(|e| e.text(8).into_owned())
        .filter(|t| !t.is_empty());
    let why = err_text.unwrap_or_else(|| text.into_owned());
    match code.as_str() {
        "AA" | "CA" => {
            if !control_id.is_empty() && !acked.is_empty() && acked != control_id {
                Err(format!(
                    "回执的控制号 {acked} 与所发消息的控制号 {control_id} 不符"
                ))
            } else {
                Ok(())
            }
        }
        "AE" | "CE" => Err(format!("对方回执 {code}（处理出错）：{why}")),
        "AR" | "CR" => Err(format!("对方回执 {code}（拒收）：{why}")),
        "" => Err("回执缺少 MSA-1 确认代码".into()),
        other => Err(format!("回执的确认代码无法识别：{other}")),
    }
}

fn control_id_of(payload: &str) -> String {
    yiyang_hl7v2::Message::parse(payload)
        .ok()
        .and_then(|m| m.segment("MSH").map(|s| s.text(10).into_owned()))
        .unwrap_or_default()
}

/// Sends one framed message on a new connection and waits for its ACK.
pub async fn send_mllp(
    host: &str,
    port: u16,
    timeout: Duration,
    payload: &str,
) -> Result<String, Failure> {
    let bytes = yiyang_hl7v2::encode_message(payload)
        .map_err(|e| fail(format!("消息无法按 MSH-18 编码：{e}")))?;
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| fail(format!("无法连接 {host}:{port}：{e}")))?;
        let _ = s.set_nodelay(true);
        s.write_all(&yiyang_hl7v2::encode_frame(&bytes))
            .await
            .map_err(|e| fail(format!("发送失败：{e}")))?;
        let mut dec = yiyang_hl7v2::MllpDecoder::new(MAX_ACK);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = s
                .read(&mut buf)
                .await
                .map_err(|e| fail(format!("读取回执失败：{e}")))?;
            if n == 0 {
                return Err(fail("对方未回执即关闭了连接"));
            }
            dec.push(&buf[..n]);
            if let Some(frame) = dec.next_frame() {
                let frame = frame.map_err(|e| fail(format!("回执帧格式错误：{e}")))?;
                let _ = s.shutdown().await;
                return Ok(yiyang_hl7v2::decode_message(&frame)
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(&frame).into_owned()));
            }
        }
    };
    let ack = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| fail(format!("{} 秒内未收到回执（超时）", timeout.as_secs())))??;
    match judge_ack(&ack, &control_id_of(payload)) {
        Ok(()) => Ok(ack),
        Err(e) => Err(Failure {
            error: e,
            response: ack,
        }),
    }
}

/// `sha256=<hex>` of HMAC-SHA256 over `body` with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs the JSON body with the event, delivery id and signature headers; 2xx is success.
pub async fn send_webhook(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    event: &str,
    delivery_id: i64,
    timeout: Duration,
    body: &str,
) -> Result<String, Failure> {
    let r = http
        .post(url)
        .timeout(timeout)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .header("X-Yiyang-Event", event)
        .header("X-Yiyang-Delivery", delivery_id.to_string())
        .header("X-Yiyang-Signature", signature(secret, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                fail(format!("{} 秒内未得到响应（超时）", timeout.as_secs()))
            } else if e.is_connect() {
                fail(format!("无法连接 {url}：{e}"))
            } else {
                fail(format!("请求失败：{e}"))
            }
        })?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    let response = clip(
        &format!("HTTP {} {}", status.as_u16(), text.trim()),
        MAX_RESPONSE,
    );
    if status.is_success() {
        Ok(response)
    } else if status.is_redirection() {
        Err(Failure {
            error: format!(
                "对方返回重定向 HTTP {}（不跟随重定向，请填写最终地址）",
                status.as_u16()
            ),
            response,
        })
    } else {
        Err(Failure {
            error: format!("对方返回 HTTP {}", status.as_u16()),
            response,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SubscriptionInput {
        SubscriptionInput {
            org_id: 1,
            name: " 区域平台 ".into(),
            kind: "webhook".into(),
            url: "http://10.0.0.5:8080/hooks/yiyang".into(),
            secret: "0123456789abcdef".into(),
            events: vec![
                "critical.raised, encounter.admitted".into(),
                "encounter.admitted".into(),
            ],
            enabled: true,
            max_attempts: 10,
            timeout_secs: 10,
            ..Default::default()
        }
    }

    #[test]
    fn validation_normalises_and_names_the_bad_field() {
        let v = input().validate(true).unwrap();
        assert_eq!(v.name, "区域平台");
        assert_eq!(v.events, vec![ENCOUNTER_ADMITTED, CRITICAL_RAISED]);
        let field = |i: SubscriptionInput| {
            let e = i.validate(true).unwrap_err();
            (e.details["field"].as_str().unwrap().to_string(), e.message)
        };
        for (i, f) in [
            (
                SubscriptionInput {
                    url: "ftp://x/y".into(),
                    ..input()
                },
                "url",
            ),
            (
                SubscriptionInput {
                    url: "http://user:pw@x/y".into(),
                    ..input()
                },
                "url",
            ),
            (
                SubscriptionInput {
                    url: "https://x/y".into(),
                    ..input()
                },
                "url",
            ),
            (
                SubscriptionInput {
                    secret: "short".into(),
                    ..input()
                },
                "secret",
            ),
            (
                SubscriptionInput {
                    events: vec![],
                    ..input()
                },
                "events",
            ),
            (
                SubscriptionInput {
                    events: vec!["patient.deleted".into()],
                    ..input()
                },
                "events",
            ),
            (
                SubscriptionInput {
                    kind: "mllp".into(),
                    host: "his.local".into(),
                    port: 70000,
                    ..input()
                },
                "port",
            ),
            (
                SubscriptionInput {
                    kind: "mllp".into(),
                    host: "bad host".into(),
                    port: 2575,
                    ..input()
                },
                "host",
            ),
            (
                SubscriptionInput {
                    kind: "ftp".into(),
                    ..input()
                },
                "kind",
            ),
        ] {
            assert_eq!(field(i).0, f);
        }
        // On update an empty secret keeps the stored one.
        assert!(
            SubscriptionInput {
                secret: String::new(),
                ..input()
            }
            .validate(false)
            .is_ok()
        );
    }

    #[test]
    fn backoff_follows_the_schedule_and_is_capped() {
        assert_eq!(backoff_micros(1), 5_000_000);
        assert_eq!(backoff_micros(2), 30_000_000);
        assert_eq!(backoff_micros(3), 120_000_000);
        assert_eq!(backoff_micros(4), 600_000_000);
        assert_eq!(backoff_micros(40), 3_600_000_000);
    }

    #[test]
    fn acks_are_judged_by_msa_and_control_id() {
        let ack = |code: &str, id: &str| {
            format!(
                "MSH|^~\\&|HIS|H|YIYANG|MZ|20261126100000||ACK^A01^ACK|A1|P|2.5\rMSA|{code}|{id}|原因"
            )
        };
        assert!(judge_ack(&ack("AA", "C1"), "C1").is_ok());
        assert!(judge_ack(&ack("CA", "C1"), "C1").is_ok());
        assert!(
            judge_ack(&ack("AE", "C1"), "C1")
                .unwrap_err()
                .contains("AE")
        );
        assert!(
            judge_ack(&ack("AR", "C1"), "C1")
                .unwrap_err()
                .contains("拒收")
        );
        assert!(
            judge_ack(&ack("AA", "C2"), "C1")
                .unwrap_err()
                .contains("C2")
        );
        assert!(judge_ack("garbage", "C1").is_err());
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn envelope_carries_event_time_org_message_and_data() {
        let ev = Event {
            org_id: 7,
            kind: ENCOUNTER_ADMITTED,
            message_id: Some(42),
            hl7: None,
            json: serde_json::json!({"visit": "V1"}),
        };
        let v: serde_json::Value = serde_json::from_str(&envelope(0, &ev)).unwrap();
        assert_eq!(v["event"], ENCOUNTER_ADMITTED);
        assert_eq!(v["occurred_at"], "1970-01-01T08:00:00.000+08:00");
        assert_eq!(v["org_id"], 7);
        assert_eq!(v["message_id"], 42);
        assert_eq!(v["data"]["visit"], "V1");
        assert_eq!(secret_hint("0123456789abcdef"), "••••cdef");
        assert_eq!(clip("一二三四", 2), "一二…");
    }
}
