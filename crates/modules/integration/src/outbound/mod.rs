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
//!
//! One file per feature, re-exported here: `publish` (events into the queue), `input`
//! (what an operator enters, validated), `subscriptions` (configuration), `deliveries`
//! (the queue as seen by operators: view, retry), `worker` (claiming and finishing
//! attempts), `send` (MLLP and webhook transport). The event kinds and the backoff
//! schedule are here.

mod deliveries;
mod input;
mod publish;
mod send;
mod subscriptions;
mod worker;

pub use deliveries::*;
pub use input::*;
pub use publish::*;
pub use send::*;
pub use subscriptions::*;
pub use worker::*;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_schedule_and_is_capped() {
        assert_eq!(backoff_micros(1), 5_000_000);
        assert_eq!(backoff_micros(2), 30_000_000);
        assert_eq!(backoff_micros(3), 120_000_000);
        assert_eq!(backoff_micros(4), 600_000_000);
        assert_eq!(backoff_micros(40), 3_600_000_000);
    }
}
