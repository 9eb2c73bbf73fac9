//! The MQTT subscriber: a shared subscription to every uplink topic, QoS 1, acknowledged
//! by hand only after the batch holding the message is committed.
//!
//! One task drives the client's event loop (keep-alive, reconnects) and hands publishes to
//! the batcher; the batcher takes what has arrived (up to `[iot] batch` readings' worth of
//! messages), stores it in one transaction, then acknowledges each message. A publish that
//! arrived on an earlier connection is not acknowledged on a later one (its packet id means
//! nothing there): the broker redelivers it and the store recognises the duplicate.

use crate::IotConfig;
use crate::firmware::Downlink;
use crate::ingest::{Uplink, Via};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use yiyang_platform::web::AppState;

/// The uplink topic filters (without the shared-subscription prefix): gateways and devices
/// that speak for themselves.
pub const UPLINK_FILTERS: [&str; 2] = yiyang_vitals::payload::SUBSCRIPTIONS;

/// Whether this node is connected to the broker now (for the ingest monitor).
pub static CONNECTED: AtomicBool = AtomicBool::new(false);
/// Connections made since start (a reconnect counts).
pub static CONNECTS: AtomicU64 = AtomicU64::new(0);

static CLIENT: std::sync::OnceLock<AsyncClient> = std::sync::OnceLock::new();
static LOCAL: std::sync::OnceLock<mpsc::UnboundedSender<Downlink>> = std::sync::OnceLock::new();

/// The topic of commands to device `serial` of institution `org_code`.
pub fn command_topic(org_code: &str, serial: &str) -> String {
    format!("yiyang/v1/{org_code}/dev/{serial}/cmd")
}

/// Routes downlinks to the in-process demo devices (when no broker is configured).
pub fn set_local(tx: mpsc::UnboundedSender<Downlink>) {
    let _ = LOCAL.set(tx);
}

/// Sends a command to a device: through the broker (QoS 1) when connected, else to the
/// in-process demo devices. Returns whether it was handed on; a command not handed on stays
/// "sent" without an answer, which the campaign shows.
pub async fn downlink(d: Downlink) -> bool {
    if let Some(c) = CLIENT.get() {
        return c
            .publish(
                command_topic(&d.org_code, &d.serial),
                QoS::AtLeastOnce,
                false,
                d.body.into_bytes(),
            )
            .await
            .is_ok();
    }
    if let Some(l) = LOCAL.get() {
        return l.send(d).is_ok();
    }
    false
}

/// (host, port) of `mqtt://host:port` (port 1883 when left out).
pub fn parse_url(url: &str) -> Option<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (rest, 1883),
    };
    if host.is_empty() || host.contains('/') {
        return None;
    }
    Some((host.to_string(), port))
}

/// Client options for `client_id` at `url` (credentials when set).
pub fn options(url: &str, client_id: &str, username: &str, password: &str) -> Option<MqttOptions> {
    let (host, port) = parse_url(url)?;
    let mut o = MqttOptions::new(client_id, host, port);
    o.set_keep_alive(Duration::from_secs(15));
    o.set_max_packet_size(4 * 1024 * 1024, 4 * 1024 * 1024);
    if !username.is_empty() {
        o.set_credentials(username, password);
    }
    Some(o)
}

/// Where and as whom the subscriber connects.
#[derive(Debug, Clone)]
pub struct Broker {
    pub url: String,
    pub client_id: String,
    pub group: String,
    pub username: String,
    pub password: String,
    /// Readings per batch transaction at most.
    pub batch: usize,
}

impl Broker {
    /// The configured broker (`[iot]`).
    pub fn configured() -> Broker {
        let c = IotConfig::get();
        Broker {
            url: c.mqtt_url.clone(),
            client_id: c.mqtt_client_id.clone(),
            group: c.mqtt_group.clone(),
            username: c.mqtt_username.clone(),
            password: c.mqtt_password.clone(),
            batch: c.batch,
        }
    }
}

/// Starts the subscriber of the configured broker; it stops when `stop` turns true.
pub fn spawn(st: AppState, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_with(st, Broker::configured(), stop)
}

/// Starts a subscriber of `cfg`.
pub fn spawn_with(st: AppState, cfg: Broker, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut opts) = options(&cfg.url, &cfg.client_id, &cfg.username, &cfg.password) else {
            tracing::error!(url = %cfg.url, "MQTT 代理地址无效");
            return;
        };
        opts.set_manual_acks(true);
        // The broker keeps what was sent while this node was away (persistent session).
        opts.set_clean_session(false);
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        let _ = CLIENT.set(client.clone());
        // One node alone may subscribe plainly (empty group); nodes sharing the load use a
        // shared subscription.
        let filters: Vec<String> = UPLINK_FILTERS
            .iter()
            .map(|f| {
                if cfg.group.is_empty() {
                    f.to_string()
                } else {
                    format!("$share/{}/{f}", cfg.group)
                }
            })
            .collect();
        let (tx, rx) = mpsc::channel::<(u64, Publish, i64)>(20_000);
        let generation = std::sync::Arc::new(AtomicU64::new(0));
        let batcher = tokio::spawn(batch_loop(
            st.clone(),
            client.clone(),
            rx,
            generation.clone(),
            stop.clone(),
            cfg.batch,
        ));
        let mut stop_rx = stop.clone();
        loop {
            tokio::select! {
                _ = stop_rx.changed() => {
                    if *stop_rx.borrow() { break; }
                }
                ev = eventloop.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let g = generation.fetch_add(1, Ordering::SeqCst) + 1;
                        CONNECTED.store(true, Ordering::SeqCst);
                        CONNECTS.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(generation = g, "MQTT 已连接，订阅 {}", filters.join("、"));
                        let c = client.clone();
                        let fs = filters.clone();
                        tokio::spawn(async move {
                            for f in fs {
                                if let Err(e) = c.subscribe(f, QoS::AtLeastOnce).await {
                                    tracing::warn!(error = %e, "MQTT 订阅失败");
                                }
                            }
                        });
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let g = generation.load(Ordering::SeqCst);
                        let now = st.clock.now_micros();
                        if tx.send((g, p, now)).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if CONNECTED.swap(false, Ordering::SeqCst) {
                            tracing::warn!(error = %e, "MQTT 连接断开，稍后重连");
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        drop(tx);
        let _ = batcher.await;
        let _ = client.disconnect().await;
        CONNECTED.store(false, Ordering::SeqCst);
    })
}

async fn batch_loop(
    st: AppState,
    client: AsyncClient,
    mut rx: mpsc::Receiver<(u64, Publish, i64)>,
    generation: std::sync::Arc<AtomicU64>,
    stop: watch::Receiver<bool>,
    max: usize,
) {
    let mut pending: Vec<(u64, Publish, i64)> = Vec::new();
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some(m) => pending.push(m),
                None => return,
            }
        }
        // Whatever else has arrived, up to about `max` readings.
        let mut weight: usize = pending.iter().map(|m| weight_of(&m.1)).sum();
        while weight < max {
            match rx.try_recv() {
                Ok(m) => {
                    weight += weight_of(&m.1);
                    pending.push(m);
                }
                Err(_) => break,
            }
        }
        let batch: Vec<Uplink> = pending
            .iter()
            .map(|(_, p, at)| Uplink {
                topic: p.topic.clone(),
                body: p.payload.to_vec(),
                received_at: *at,
                via: Via::Mqtt,
            })
            .collect();
        let result = crate::ingest::shared(&st).lock().await.ingest(&batch).await;
        match result {
            Ok(_) => {
                let current = generation.load(Ordering::SeqCst);
                for (g, p, _) in pending.drain(..) {
                    if g == current {
                        let _ = client.ack(&p).await;
                    }
                }
            }
            Err(e) => {
                // Not stored, not acknowledged: try again shortly (the broker also keeps it).
                tracing::warn!(error = %e.message, "IoT 批次写入失败，稍后重试");
                if *stop.borrow() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// A rough count of readings in a message (its size), to bound a batch.
fn weight_of(p: &Publish) -> usize {
    (p.payload.len() / 80).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls() {
        use super::parse_url;
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883"),
            Some(("127.0.0.1".into(), 1883))
        );
        assert_eq!(parse_url("mqtt://broker"), Some(("broker".into(), 1883)));
        assert_eq!(parse_url("tcp://b:1884/"), Some(("b".into(), 1884)));
        assert_eq!(parse_url("http://b:1"), None);
        assert_eq!(parse_url("mqtt://:1"), None);
        assert_eq!(parse_url("mqtt://b:notaport"), None);
    }
}
