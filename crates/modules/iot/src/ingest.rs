//! Ingestion: uplinks from MQTT or HTTP become stored readings, scans, fixes, events and
//! acknowledgements, evaluated against the alarm rules, in one transaction per batch.
//!
//! The contract (topics and payloads) is `docs/iot-mqtt.md`. A batch is committed before any
//! of its MQTT messages is acknowledged (QoS 1), so a crash loses nothing: the broker
//! redelivers, and a redelivered reading is not stored twice (unique on device and measured
//! time). Whatever cannot be stored — malformed JSON, an unknown gateway or device, a time in
//! the future or far past, an impossible value — is written to the dead-letter list with its
//! reason in Chinese, counted, and never spoils the rest of its batch.

use crate::evaluate::Evaluator;
use crate::live::{self, LiveEvent};
use crate::payload::{self, Item};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use yiyang_core::AppResult;
use yiyang_platform::web::AppState;
use yiyang_store::{Arg, Tx};

/// Where an uplink came from.
#[derive(Debug, Clone)]
pub enum Via {
    Mqtt,
    /// An HTTP post by the authenticated device `device_id`.
    Http {
        device_id: i64,
    },
}

/// One message as received.
#[derive(Debug, Clone)]
pub struct Uplink {
    pub topic: String,
    pub body: Vec<u8>,
    pub received_at: i64,
    pub via: Via,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Outcome {
    /// Readings stored.
    pub stored: u64,
    /// Readings already stored (a redelivery).
    pub duplicates: u64,
    /// Items refused (each on the dead-letter list).
    pub rejected: u64,
    /// Other items stored (scans, fixes, events, NFC, acknowledgements, status).
    pub other: u64,
    /// Alarms raised or cleared.
    pub alarms: u64,
}

/// Counters since start (this node), for the ingest monitor and `/metrics`.
pub static STORED: AtomicU64 = AtomicU64::new(0);
pub static DUPLICATES: AtomicU64 = AtomicU64::new(0);
pub static REJECTED: AtomicU64 = AtomicU64::new(0);
pub static MESSAGES: AtomicU64 = AtomicU64::new(0);

/// A registered device as the ingest sees it.
#[derive(Debug, Clone)]
pub struct Dev {
    pub id: i64,
    pub org_id: i64,
    pub kind: String,
    pub status: String,
    pub person_id: Option<i64>,
    pub ward: String,
    pub bed: String,
    pub secret_hash: Option<String>,
    /// The zone a gateway or reader hangs in.
    pub zone_id: Option<i64>,
    pub serial: String,
}

/// The devices and institutions known to the ingest (reloaded after a change).
#[derive(Debug)]
pub struct Snapshot {
    pub by_serial: HashMap<String, Dev>,
    pub org_codes: HashMap<String, i64>,
    pub generation: u64,
    /// When it was read: another node (or `yiyang iot provision`) may have registered
    /// devices since, so a snapshot older than [`SNAPSHOT_FRESH`] is read again when an
    /// unknown sender shows up, and every [`SNAPSHOT_MAX_AGE`] anyway.
    pub loaded: std::time::Instant,
}

const SNAPSHOT_FRESH: std::time::Duration = std::time::Duration::from_secs(5);
const SNAPSHOT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

static GENERATION: AtomicU64 = AtomicU64::new(1);
/// Snapshots by database (one process may serve several, as the tests do).
static CACHE: RwLock<Option<HashMap<String, Arc<Snapshot>>>> = RwLock::new(None);

/// Forgets the cached devices (a device, binding or credential changed).
pub fn invalidate() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// The current snapshot, reloaded when stale.
pub async fn snapshot(st: &AppState) -> AppResult<Arc<Snapshot>> {
    let generation = GENERATION.load(Ordering::SeqCst);
    let key = st.db.identity();
    if let Some(s) = CACHE
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&key))
        && s.generation == generation
        && s.loaded.elapsed() < SNAPSHOT_MAX_AGE
    {
        return Ok(s.clone());
    }
    type Row = (
        i64,
        i64,
        String,
        String,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = st
        .db
        .fetch_all(
            "SELECT d.id, d.org_id, d.serial, m.kind, d.status, b.person_id, b.ward, b.bed, d.secret_hash, d.zone_id \
             FROM iot_devices d JOIN iot_models m ON m.id = d.model_id \
             LEFT JOIN iot_bindings b ON b.device_id = d.id AND b.unbound_at IS NULL",
            vec![],
        )
        .await?;
    let mut by_serial = HashMap::with_capacity(rows.len());
    let mut orgs: Vec<i64> = Vec::new();
    for (id, org_id, serial, kind, status, person_id, ward, bed, secret_hash, zone_id) in rows {
        orgs.push(org_id);
        by_serial.insert(
            serial.clone(),
            Dev {
                serial,
                id,
                org_id,
                kind,
                status,
                person_id,
                ward: ward.unwrap_or_default(),
                bed: bed.unwrap_or_default(),
                secret_hash,
                zone_id,
            },
        );
    }
    orgs.sort_unstable();
    orgs.dedup();
    let mut org_codes = HashMap::new();
    for o in orgs {
        if let Some(code) = yiyang_basedata::service::org_code(&st.db, o).await? {
            org_codes.insert(code, o);
        }
    }
    let snap = Arc::new(Snapshot {
        by_serial,
        org_codes,
        generation,
        loaded: std::time::Instant::now(),
    });
    CACHE
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, snap.clone());
    Ok(snap)
}

/// A dead letter to write.
#[derive(Debug, Clone)]
struct Dead {
    org_id: Option<i64>,
    source: &'static str,
    topic: String,
    reason_code: &'static str,
    reason: String,
    payload: String,
    at: i64,
}

/// A reading ready to store.
#[derive(Debug, Clone)]
pub struct Row {
    pub dev: Dev,
    pub at: i64,
    pub vitals: payload::Vitals,
    pub battery: Option<i64>,
}

/// The ingest of one node: the device snapshot, the rule states, and the batch writer.
pub struct Ingestor {
    st: AppState,
    pub eval: Evaluator,
    /// Devices whose last-seen time was last written, and when (written at most once a minute).
    seen: HashMap<i64, (i64, Option<i64>)>,
    presence_ticked: i64,
}

type SharedIngestor = Arc<tokio::sync::Mutex<Ingestor>>;
static SHARED: std::sync::Mutex<Option<HashMap<String, SharedIngestor>>> =
    std::sync::Mutex::new(None);

/// The node's ingest for `st`'s database, shared by MQTT, HTTP and the simulator: one set of
/// rule states, one batch at a time.
pub fn shared(st: &AppState) -> SharedIngestor {
    let mut all = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    all.get_or_insert_with(HashMap::new)
        .entry(st.db.identity())
        .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Ingestor::new(st.clone()))))
        .clone()
}

/// How often a device's last-seen time and battery are written (µs).
const SEEN_EVERY: i64 = 60_000_000;

impl Ingestor {
    pub fn new(st: AppState) -> Ingestor {
        Ingestor {
            eval: Evaluator::new(),
            st,
            seen: HashMap::new(),
            presence_ticked: 0,
        }
    }

    /// Stores one batch of uplinks in one transaction; the caller acknowledges them only
    /// after this returns `Ok`.
    pub async fn ingest(&mut self, batch: &[Uplink]) -> AppResult<Outcome> {
        let mut snap = snapshot(&self.st).await?;
        // A sender this node does not know yet may have been registered elsewhere.
        if snap.loaded.elapsed() >= SNAPSHOT_FRESH
            && batch.iter().any(|u| {
                let mut parts = u.topic.split('/');
                parts
                    .nth(4)
                    .is_some_and(|sn| !snap.by_serial.contains_key(sn))
            })
        {
            invalidate();
            snap = snapshot(&self.st).await?;
        }
        let now = self.st.clock.now_micros();
        let cfg = crate::IotConfig::get();
        let mut out = Outcome::default();
        let mut dead: Vec<Dead> = Vec::new();
        let mut readings: Vec<Row> = Vec::new();
        let mut others: Vec<(Dev, Dev, Item)> = Vec::new();
        // BLE scans, one batch per uplink: (gateway, time, tags heard with RSSI).
        type Batch = (Dev, i64, Vec<(Dev, i16)>);
        let mut inaccurate: Vec<Dev> = Vec::new();
        let mut scans: Vec<Batch> = Vec::new();
        MESSAGES.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for up in batch {
            // Commands the platform itself published (the `dev` subscription hears them).
            if up.topic.ends_with("/cmd") {
                continue;
            }
            let source = match up.via {
                Via::Mqtt => "mqtt",
                Via::Http { .. } => "http",
            };
            let mut refuse = |org: Option<i64>, code: &'static str, reason: String, body: &[u8]| {
                dead.push(Dead {
                    org_id: org,
                    source,
                    topic: up.topic.clone(),
                    reason_code: code,
                    reason,
                    payload: String::from_utf8_lossy(&body[..body.len().min(16_384)]).into_owned(),
                    at: up.received_at,
                });
            };
            let parsed =
                match payload::parse(&up.topic, &up.body, up.received_at, cfg.max_age_micros()) {
                    Ok(p) => p,
                    Err(e) => {
                        refuse(None, e.code, e.message, &up.body);
                        continue;
                    }
                };
            // The sender: a registered, active device of the institution the topic names.
            let org = snap.org_codes.get(&parsed.org_code).copied();
            let gw = snap
                .by_serial
                .get(&parsed.sender)
                .filter(|d| Some(d.org_id) == org);
            let Some(gw) = gw else {
                refuse(
                    org,
                    "unknown_gateway",
                    format!(
                        "未登记的网关或设备：{}（机构 {}）",
                        parsed.sender, parsed.org_code
                    ),
                    &up.body,
                );
                continue;
            };
            if let Via::Http { device_id } = up.via
                && device_id != gw.id
            {
                refuse(
                    Some(gw.org_id),
                    "wrong_sender",
                    format!("凭据属于另一台设备，不能代 {} 上报", parsed.sender),
                    &up.body,
                );
                continue;
            }
            if gw.status == "retired" {
                refuse(
                    Some(gw.org_id),
                    "retired",
                    format!("设备 {} 已报废，数据不予接收", parsed.sender),
                    &up.body,
                );
                continue;
            }
            // Problems of items or fields: each on the dead-letter list; a measurement out of
            // the possible range is the device's error (测量误差超范围) and raises its alarm.
            for p in &parsed.problems {
                refuse(Some(gw.org_id), p.code, p.message.clone(), &up.body);
                if p.code == "implausible"
                    && let Some(dev) = p.dev.as_deref().and_then(|d| snap.by_serial.get(d))
                    && dev.org_id == gw.org_id
                    && !inaccurate.iter().any(|d: &Dev| d.id == dev.id)
                {
                    inaccurate.push(dev.clone());
                }
            }
            let mut heard: Vec<(Dev, i16)> = Vec::new();
            for item in parsed.items {
                let serial = item.device().to_string();
                let Some(dev) = snap.by_serial.get(&serial) else {
                    refuse(
                        Some(gw.org_id),
                        "unknown_device",
                        format!("未登记的设备：{serial}"),
                        &up.body,
                    );
                    continue;
                };
                if dev.org_id != gw.org_id {
                    refuse(
                        Some(gw.org_id),
                        "foreign_device",
                        format!("设备 {serial} 属于其他机构，本网关无权代报"),
                        &up.body,
                    );
                    continue;
                }
                match item {
                    Item::Reading {
                        at,
                        vitals,
                        battery,
                        ..
                    } => readings.push(Row {
                        dev: dev.clone(),
                        at,
                        vitals,
                        battery,
                    }),
                    Item::Scan { rssi, .. } => {
                        heard.push((dev.clone(), rssi.clamp(-127, 20) as i16))
                    }
                    other => others.push((gw.clone(), dev.clone(), other)),
                }
            }
            if let Some(at) = parsed.scan_batch {
                scans.push((gw.clone(), at, heard));
            }
        }
        out.rejected = dead.len() as u64;

        let mut tx = self.st.db.begin().await?;
        // Readings: one multi-row insert; the rows it returns are the new ones.
        let mut fresh: Vec<&Row> = Vec::new();
        if !readings.is_empty() {
            // Two readings of one device at one time within the batch: keep the first.
            let mut keys = std::collections::HashSet::with_capacity(readings.len());
            readings.retain(|r| keys.insert((r.dev.id, r.at)));
            let rows: Vec<Vec<Arg>> = readings
                .iter()
                .map(|r| {
                    let v = &r.vitals;
                    vec![
                        r.dev.id.into(),
                        r.dev.org_id.into(),
                        r.dev.person_id.into(),
                        r.at.into(),
                        now.into(),
                        v.hr.into(),
                        v.spo2.into(),
                        v.sbp.into(),
                        v.dbp.into(),
                        v.temp.into(),
                        v.rr.into(),
                        v.glu.into(),
                        v.steps.into(),
                        r.battery.into(),
                    ]
                })
                .collect();
            let new: Vec<(i64, i64)> = tx
                .insert_rows_returning(
                    "INSERT INTO iot_readings (device_id, org_id, person_id, measured_at, received_at, hr, spo2, sbp, dbp, temp, rr, glu, steps, battery)",
                    14,
                    rows,
                    "ON CONFLICT (device_id, measured_at) DO NOTHING RETURNING device_id, measured_at",
                )
                .await?;
            let new: std::collections::HashSet<(i64, i64)> = new.into_iter().collect();
            fresh = readings
                .iter()
                .filter(|r| new.contains(&(r.dev.id, r.at)))
                .collect();
            out.stored = fresh.len() as u64;
            out.duplicates = (readings.len() - fresh.len()) as u64;
        }
        // Other items.
        for (gw, dev, item) in &others {
            if crate::events::store(&mut tx, now, gw, dev, item, &mut self.eval).await? {
                out.other += 1;
            }
        }
        for dev in &inaccurate {
            let r = crate::alarms::Raise {
                org_id: dev.org_id,
                person_id: None,
                device_id: Some(dev.id),
                kind: "accuracy",
                rule_code: "device.accuracy".into(),
                priority: "medium",
                title: "测量误差超范围".into(),
                detail: "设备上报了不可能的测量值（见死信列表），请安排校准或更换".into(),
                ward: dev.ward.clone(),
                bed: dev.bed.clone(),
                at: now,
            };
            let (id, new) = crate::alarms::raise(&mut tx, now, &r).await?;
            if new {
                self.eval.alarm_changed(id);
            }
        }
        for (gw, at, heard) in &scans {
            out.other += self.eval.scans(&mut tx, now, gw, *at, heard, &snap).await?;
        }
        // Time passes for presence (gateways gone silent, dwell completed) every 5 s.
        if now - self.presence_ticked >= 5_000_000 {
            self.presence_ticked = now;
            out.other += self.eval.presence_tick(&mut tx, now, &snap).await?;
        }
        // Dead letters.
        if !dead.is_empty() {
            let rows: Vec<Vec<Arg>> = dead
                .iter()
                .map(|d| {
                    vec![
                        d.org_id.into(),
                        d.source.into(),
                        d.topic.clone().into(),
                        d.reason_code.into(),
                        d.reason.clone().into(),
                        d.payload.clone().into(),
                        d.at.into(),
                    ]
                })
                .collect();
            tx.insert_rows(
                "INSERT INTO iot_dead_letters (org_id, source, topic, reason_code, reason, payload, received_at)",
                7,
                rows,
                "",
            )
            .await?;
        }
        // Rules over the new readings (alarms are written in this transaction).
        self.eval.prepare(&mut tx, now, &fresh).await?;
        let mut events = Vec::with_capacity(fresh.len());
        for r in &fresh {
            let (news2, alarms) = self.eval.observe(&mut tx, now, r).await?;
            out.alarms += alarms;
            events.push(LiveEvent::Reading {
                org_id: r.dev.org_id,
                person_id: r.dev.person_id,
                device_id: r.dev.id,
                ward: r.dev.ward.clone(),
                bed: r.dev.bed.clone(),
                at: r.at,
                hr: r.vitals.hr,
                spo2: r.vitals.spo2,
                sbp: r.vitals.sbp,
                dbp: r.vitals.dbp,
                temp: r.vitals.temp,
                rr: r.vitals.rr,
                glu: r.vitals.glu,
                news2: news2.map(|s| s.0),
                news2_complete: news2.is_some_and(|s| s.1),
            });
        }
        // Last seen and battery, at most once a minute per device.
        let mut seen: HashMap<i64, (i64, Option<i64>)> = HashMap::new();
        for r in &readings {
            let e = seen.entry(r.dev.id).or_insert((r.at, r.battery));
            if r.at >= e.0 {
                *e = (r.at, r.battery.or(e.1));
            }
        }
        for (_, dev, item) in &others {
            {
                let at = item.at();
                let e = seen.entry(dev.id).or_insert((at, item.battery()));
                if at >= e.0 {
                    *e = (at, item.battery().or(e.1));
                }
            }
        }
        let due: Vec<(i64, i64, Option<i64>)> = seen
            .into_iter()
            .filter(|(id, (at, bat))| match self.seen.get(id) {
                Some((last, last_bat)) => at - last >= SEEN_EVERY || bat != last_bat,
                None => true,
            })
            .map(|(id, (at, bat))| (id, at, bat))
            .collect();
        write_seen(&mut tx, &due).await?;
        tx.commit().await?;
        for (id, at, bat) in due {
            self.seen.insert(id, (at, bat));
        }
        STORED.fetch_add(out.stored, Ordering::Relaxed);
        DUPLICATES.fetch_add(out.duplicates, Ordering::Relaxed);
        REJECTED.fetch_add(out.rejected, Ordering::Relaxed);
        for e in events {
            live::publish(e);
        }
        for d in std::mem::take(&mut self.eval.downlinks) {
            crate::mqtt::downlink(d).await;
        }
        let changed = self.eval.take_changed();
        if !changed.is_empty() {
            for a in crate::alarms::by_ids(&self.st.db, &changed).await? {
                live::publish_alarm(&a);
            }
        }
        Ok(out)
    }
}

/// Writes last-seen times and batteries, 300 devices per statement (one form on both databases).
async fn write_seen(tx: &mut Tx, due: &[(i64, i64, Option<i64>)]) -> AppResult<()> {
    for chunk in due.chunks(300) {
        let mut values = Vec::with_capacity(chunk.len());
        let mut a: Vec<Arg> = Vec::with_capacity(chunk.len() * 3);
        for (i, (id, at, bat)) in chunk.iter().enumerate() {
            values.push(format!(
                "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                i * 3 + 1,
                i * 3 + 2,
                i * 3 + 3
            ));
            a.push((*id).into());
            a.push((*at).into());
            a.push((*bat).into());
        }
        tx.execute(
            &format!(
                "WITH u(id, seen, bat) AS (VALUES {}) UPDATE iot_devices SET last_seen_at = u.seen, \
                 battery = COALESCE(u.bat, iot_devices.battery) FROM u WHERE iot_devices.id = u.id \
                 AND (iot_devices.last_seen_at IS NULL OR iot_devices.last_seen_at < u.seen)",
                values.join(", ")
            ),
            a,
        )
        .await?;
    }
    Ok(())
}
