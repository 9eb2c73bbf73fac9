//! Subscriptions: list, read, create, update, enable/disable and the test event.

use super::{Event, SubscriptionInput, TEST_EVENT, envelope, secret_hint, split_events};
use serde::Serialize;
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, args};

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

pub(super) fn require_manage(ctx: &RequestContext, org_id: i64) -> AppResult<()> {
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
