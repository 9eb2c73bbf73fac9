//! Live updates for the ward screens and the nurse station (server-sent events).
//!
//! The ingest publishes each stored reading and each alarm change into one broadcast channel
//! of this node; every open screen subscribes and keeps what its viewer may see (institution
//! scope) and asked for (a ward). A screen that falls behind skips to the newest events and
//! re-reads the current state, so nothing shown is stale for long. Across several nodes the
//! channel is fed per node (each node's ingest); the screens re-read the database every 30 s.

use crate::alarms::Alarm;
use serde::Serialize;
use std::sync::OnceLock;
use tokio::sync::broadcast;

/// One live event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A stored reading (and the early-warning score it gave).
    Reading {
        org_id: i64,
        person_id: Option<i64>,
        device_id: i64,
        ward: String,
        bed: String,
        at: i64,
        hr: Option<f64>,
        spo2: Option<f64>,
        sbp: Option<f64>,
        dbp: Option<f64>,
        temp: Option<f64>,
        rr: Option<f64>,
        glu: Option<f64>,
        news2: Option<i64>,
        news2_complete: bool,
    },
    /// An alarm was raised, acknowledged or resolved.
    Alarm {
        org_id: i64,
        id: i64,
        person_id: Option<i64>,
        ward: String,
        bed: String,
        kind: String,
        priority: String,
        status: String,
        title: String,
        detail: String,
        raised_at: i64,
    },
}

impl LiveEvent {
    pub fn org_id(&self) -> i64 {
        match self {
            LiveEvent::Reading { org_id, .. } | LiveEvent::Alarm { org_id, .. } => *org_id,
        }
    }
    pub fn ward(&self) -> &str {
        match self {
            LiveEvent::Reading { ward, .. } | LiveEvent::Alarm { ward, .. } => ward,
        }
    }
}

fn channel() -> &'static broadcast::Sender<LiveEvent> {
    static TX: OnceLock<broadcast::Sender<LiveEvent>> = OnceLock::new();
    TX.get_or_init(|| broadcast::channel(8192).0)
}

pub fn subscribe() -> broadcast::Receiver<LiveEvent> {
    channel().subscribe()
}

/// Publishes an event to this node's screens (nobody listening is fine).
pub fn publish(e: LiveEvent) {
    let tx = channel();
    if tx.receiver_count() > 0 {
        let _ = tx.send(e);
    }
}

pub fn publish_alarm(a: &Alarm) {
    publish(LiveEvent::Alarm {
        org_id: a.org_id,
        id: a.id,
        person_id: a.person_id,
        ward: a.ward.clone(),
        bed: a.bed.clone(),
        kind: a.kind.clone(),
        priority: a.priority.clone(),
        status: a.status.clone(),
        title: a.title.clone(),
        detail: a.detail.clone(),
        raised_at: a.raised_at,
    });
}
