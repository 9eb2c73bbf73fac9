//! Publishing: a business event becomes deliveries inside the transaction of the change.

use yiyang_core::AppResult;
use yiyang_store::{Arg, Tx, args};

/// One business event, published inside the transaction that made the change.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The institution whose data changed; its subscriptions receive the event.
    pub org_id: i64,
    /// One of the event kind constants (e.g. [`ENCOUNTER_ADMITTED`](super::ENCOUNTER_ADMITTED)).
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

pub(super) fn split_events(s: &str) -> impl Iterator<Item = &str> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::{ENCOUNTER_ADMITTED, clip, secret_hint};

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
