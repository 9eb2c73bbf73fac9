//! A load generator that behaves like the city's gateways (`yiyang iot simulate`): one MQTT
//! connection per gateway, each uplink carrying one reading of every band the gateway hears,
//! QoS 1; optionally a reconnect storm (every gateway first flushes the readings it buffered
//! during an outage) and SOS presses whose alarms measure the latency. Devices are those of
//! `yiyang iot provision` (serials LG{g} and LG{g}-{t}).

use rand::Rng;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use yiyang_core::{AppError, AppResult};

/// What to send.
#[derive(Debug, Clone)]
pub struct Plan {
    pub url: String,
    pub org: String,
    pub gateways: usize,
    pub tags: usize,
    /// Readings per second in all (0: unthrottled).
    pub rate: u64,
    pub seconds: u64,
    pub storm_minutes: u64,
    pub sos_per_second: f64,
}

fn body(g: usize, tags: usize, ts_ms: i64, seq: u64, rng: &mut impl Rng) -> Vec<u8> {
    let mut s = String::with_capacity(40 + tags * 90);
    s.push_str(&format!("{{\"ts\":{ts_ms},\"seq\":{seq},\"readings\":["));
    for t in 0..tags {
        if t > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"dev\":\"LG{g}-{t}\",\"hr\":{},\"spo2\":{},\"temp\":{:.1},\"bat\":{}}}",
            rng.random_range(58..96),
            rng.random_range(94..100),
            rng.random_range(36.1..37.2),
            rng.random_range(30..100)
        ));
    }
    s.push_str("]}");
    s.into_bytes()
}

/// Runs the plan; returns a report in Chinese.
pub async fn run(plan: Plan) -> AppResult<String> {
    if plan.gateways == 0 || plan.tags == 0 {
        return Err(AppError::validation(
            "iot.org_unknown",
            "网关数与手环数须大于 0",
        ));
    }
    let sent = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let sos = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(plan.seconds);
    // Each gateway sends one uplink per period: rate / (gateways × tags) uplinks a second.
    let per_gw = if plan.rate == 0 {
        0.0
    } else {
        plan.rate as f64 / (plan.gateways * plan.tags) as f64
    };
    let mut tasks = Vec::new();
    for g in 0..plan.gateways {
        let plan = plan.clone();
        let (sent, acked, sos) = (sent.clone(), acked.clone(), sos.clone());
        tasks.push(tokio::spawn(async move {
            let Some(mut o) =
                crate::mqtt::options(&plan.url, &format!("lg-{}-{g}", plan.org), "", "")
            else {
                return;
            };
            o.set_inflight(200);
            let (client, mut el) = AsyncClient::new(o, 512);
            let a = acked.clone();
            let driver = tokio::spawn(async move {
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            a.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            });
            let topic = format!("yiyang/v1/{}/gw/LG{g}/up", plan.org);
            let event_topic = format!("yiyang/v1/{}/gw/LG{g}/event", plan.org);
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
            let mut seq = 0u64;
            let now_ms = || chrono::Utc::now().timestamp_millis();
            // The backlog of an outage: one uplink per 10 s of it, sent at once.
            let backlog = plan.storm_minutes * 6;
            for i in 0..backlog {
                seq += 1;
                let ts = now_ms() - ((backlog - i) as i64) * 10_000;
                if client
                    .publish(
                        &topic,
                        QoS::AtLeastOnce,
                        false,
                        body(g, plan.tags, ts, seq, &mut rng),
                    )
                    .await
                    .is_ok()
                {
                    sent.fetch_add(plan.tags as u64, Ordering::Relaxed);
                }
            }
            let period = if per_gw > 0.0 {
                Duration::from_secs_f64(1.0 / per_gw)
            } else {
                Duration::ZERO
            };
            let sos_p = plan.sos_per_second / plan.gateways as f64;
            let mut next = Instant::now() + Duration::from_millis(rng.random_range(0..1000));
            let mut last_ts = 0i64;
            while Instant::now() < deadline {
                if !period.is_zero() {
                    tokio::time::sleep_until(next.into()).await;
                    next += period;
                }
                seq += 1;
                // One uplink per millisecond at most per gateway (readings are unique by time).
                let ts = now_ms().max(last_ts + 1);
                last_ts = ts;
                if client
                    .publish(
                        &topic,
                        QoS::AtLeastOnce,
                        false,
                        body(g, plan.tags, ts, seq, &mut rng),
                    )
                    .await
                    .is_ok()
                {
                    sent.fetch_add(plan.tags as u64, Ordering::Relaxed);
                }
                let since = if period.is_zero() {
                    0.001
                } else {
                    period.as_secs_f64()
                };
                if rng.random_bool((sos_p * since).min(1.0)) {
                    let t = rng.random_range(0..plan.tags);
                    let ev = format!(
                        "{{\"ts\":{},\"events\":[{{\"dev\":\"LG{g}-{t}\",\"type\":\"sos\"}}]}}",
                        now_ms()
                    );
                    if client
                        .publish(&event_topic, QoS::AtLeastOnce, false, ev.into_bytes())
                        .await
                        .is_ok()
                    {
                        sos.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = client.disconnect().await;
            driver.abort();
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = sent.load(Ordering::Relaxed);
    Ok(format!(
        "发布读数 {n} 条，用时 {secs:.1} 秒，平均 {:.0} 条/秒；代理确认的消息 {} 条；SOS 事件 {} 次（{} 个网关 × {} 个手环，积压 {} 分钟）",
        n as f64 / secs,
        acked.load(Ordering::Relaxed),
        sos.load(Ordering::Relaxed),
        plan.gateways,
        plan.tags,
        plan.storm_minutes
    ))
}
