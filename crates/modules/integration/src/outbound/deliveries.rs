//! The delivery queue as operators see it: search, the masked payload, retrying dead letters.

use super::{STATUSES, Subscription, get, require_manage};
use crate::messages::mask_er7;
use serde::{Deserialize, Serialize};
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::masking::{Masker, Unmask};
use yiyang_platform::privacy::RecordRead;
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Window, args};

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
    /// Not read: lists page by `page`/`size` ([`deliveries_page`]). Never taken from a query.
    #[serde(skip)]
    pub limit: Option<i64>,
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
/// (see [`Event::json`](super::Event::json)); text that is neither is withheld unless unmasked.
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
    let read = RecordRead {
        action: "integration.delivery_read",
        unmasked_action: "integration.delivery_read_unmasked",
        resource: "delivery",
        id,
        org: Some(s.org_id),
    }
    .open(
        st,
        ctx,
        um,
        ctx.has_for(perm::PATIENT_READ_UNMASKED, s.org_id),
        perm::PATIENT_READ_UNMASKED,
    )
    .await?;
    let (payload,): (String,) = st
        .db
        .fetch_one(
            "SELECT payload FROM integration_deliveries WHERE id = $1",
            args![id],
        )
        .await?;
    read.audit(st, ctx).await;
    let m = &read.masker;
    Ok(DeliveryView {
        payload: mask_payload(&payload, m),
        subscription_name: s.name,
        org_id: s.org_id,
        unmasked: read.unmasked(),
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
