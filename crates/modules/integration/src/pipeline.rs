//! The pipeline behind every MLLP connection: a writer that stores messages in group
//! commits, and a processor that turns stored messages into persons, encounters, results,
//! orders and appointments, in arrival order.
//!
//! Writer: connections hand it prepared rows; it takes whatever has queued up (at most
//! [`MAX_BATCH`]), stores it in one transaction and answers each connection, which only
//! then writes its ACK. While one batch commits the next one gathers, so the number of
//! commits per second stays bounded while throughput grows with the number of senders.
//!
//! Processor: takes `received` rows in id order, a batch per transaction, each message in
//! its own savepoint, so a failing message rolls back alone and goes to the error queue
//! while the others commit together. One processor runs per database at a time (a
//! cluster lock on PostgreSQL; SQLite has one node), which keeps the order per patient.
//! Rows left `received` by a crash are simply picked up again: the store is the queue.

use crate::channels::{self, Channel};
use crate::engine::{self, NewMessage, channel_ctx, hl7_ts, message_ctx};
use crate::process;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use yiyang_core::{AppError, AppResult, RequestContext};
use yiyang_hl7v2::{AckBuilder, AckCode, Message, decode_message};
use yiyang_platform::web::AppState;
use yiyang_store::{Backend, Filter, Tx, args};

/// Most rows stored in one commit.
pub const MAX_BATCH: usize = 512;
/// Most messages processed in one transaction.
pub const MAX_PROCESS_BATCH: i64 = 256;
/// Cluster lock key of the processor.
const PROCESSOR_LOCK: i64 = 0x0068_6c37_7072_6f63; // "hl7proc"

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<String>>>>;

/// What the processor knows of the message writer: whether rows are waiting to be stored
/// right now, and when it last stored some (senders are active).
#[derive(Debug)]
pub struct Writer {
    waiting: AtomicBool,
    epoch: Instant,
    last_store_ms: AtomicU64,
    /// Until when (ms since `epoch`) the writer counts as flooded: it stored a batch of at
    /// least [`FLOOD_ROWS`] rows, so senders queue faster than one commit drains them.
    flood_until_ms: AtomicU64,
}

/// A stored batch this large means messages arrive faster than the writer commits them.
const FLOOD_ROWS: usize = 64;

impl Default for Writer {
    fn default() -> Self {
        Writer {
            waiting: AtomicBool::new(false),
            epoch: Instant::now(),
            last_store_ms: AtomicU64::new(0),
            flood_until_ms: AtomicU64::new(0),
        }
    }
}

impl Writer {
    fn set_waiting(&self, w: bool) {
        self.waiting.store(w, Ordering::Relaxed);
        if !w {
            let ms = self.epoch.elapsed().as_millis() as u64;
            self.last_store_ms.store(ms.max(1), Ordering::Relaxed);
        }
    }

    fn stored(&self, rows: usize) {
        if rows >= FLOOD_ROWS {
            let ms = self.epoch.elapsed().as_millis() as u64;
            self.flood_until_ms.store(ms + 250, Ordering::Relaxed);
        }
    }

    /// Whether a flood-sized batch was stored within the last 250 ms.
    fn flooded(&self) -> bool {
        self.epoch.elapsed().as_millis() as u64 <= self.flood_until_ms.load(Ordering::Relaxed)
    }

    fn waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether rows were stored within the last 200 ms: senders are waiting for ACKs.
    fn active(&self) -> bool {
        let last = self.last_store_ms.load(Ordering::Relaxed);
        last > 0 && self.epoch.elapsed().as_millis() as u64 <= last + 200
    }
}

struct Submit {
    row: NewMessage,
    reply: oneshot::Sender<AppResult<Option<i64>>>,
}

/// Handle on a running pipeline; cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    submit: mpsc::Sender<Submit>,
    waiters: Waiters,
    wake: Arc<Notify>,
    /// Rows wait for the writer: the processor ends its transaction early (SQLite has one
    /// writer, and an ACK must not wait for a processing batch).
    writer: Arc<Writer>,
}

/// What a connection awaits for one message.
pub struct Ticket {
    row: NewMessage,
    stored: oneshot::Receiver<AppResult<Option<i64>>>,
    processed: Option<oneshot::Receiver<String>>,
}

impl Pipeline {
    /// Starts the writer and the processor; both stop when `stop` turns true.
    pub fn start(st: &AppState, stop: watch::Receiver<bool>) -> Pipeline {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 8);
        let p = Pipeline {
            submit: tx,
            waiters: Arc::default(),
            wake: Arc::new(Notify::new()),
            writer: Arc::default(),
        };
        tokio::spawn(write_loop(st.clone(), rx, p.wake.clone(), p.writer.clone()));
        let lanes = lanes(st.db.backend());
        let turns = Arc::new(Semaphore::new(lanes as usize));
        for lane in 0..lanes {
            tokio::spawn(process_loop(
                st.clone(),
                Lane {
                    index: lane,
                    of: lanes,
                },
                p.waiters.clone(),
                p.wake.clone(),
                p.writer.clone(),
                turns.clone(),
                stop.clone(),
            ));
        }
        p
    }

    /// Queues a prepared row for storing.
    pub async fn submit(&self, row: NewMessage) -> AppResult<Ticket> {
        let processed = (row.ack.is_none() && row.status == "received").then(|| {
            let (tx, rx) = oneshot::channel();
            self.waiters
                .lock()
                .expect("waiters")
                .insert(row.ack_id.clone(), tx);
            rx
        });
        let (reply, stored) = oneshot::channel();
        let keep = row.clone();
        if self.submit.send(Submit { row, reply }).await.is_err() {
            self.forget(&keep.ack_id);
            return Err(AppError::new("hl7.stopping", 503, "服务正在停止"));
        }
        Ok(Ticket {
            row: keep,
            stored,
            processed,
        })
    }

    fn forget(&self, ack_id: &str) {
        self.waiters.lock().expect("waiters").remove(ack_id);
    }

    /// Waits until the message is stored (and, on an `application` channel, processed) and
    /// returns the ACK to write back. An error means no ACK: the sender will retry.
    pub async fn finish(&self, st: &AppState, t: Ticket) -> AppResult<String> {
        let stored = t
            .stored
            .await
            .map_err(|_| AppError::new("hl7.stopping", 503, "服务正在停止"));
        let id = match stored.and_then(|r| r) {
            Ok(Some(id)) => id,
            Ok(None) => {
                self.forget(&t.row.ack_id);
                return match engine::resend(st, &t.row).await? {
                    engine::Resend::Duplicate(ack) | engine::Resend::Conflict(ack) => Ok(ack),
                    engine::Resend::Supersedes => {
                        let again = self.submit(t.row).await?;
                        Box::pin(self.finish(st, again)).await
                    }
                };
            }
            Err(e) => {
                self.forget(&t.row.ack_id);
                return Err(e);
            }
        };
        if let Some((_, ack)) = t.row.ack {
            return Ok(ack);
        }
        let Some(mut rx) = t.processed else {
            return Err(AppError::internal("hl7: no ACK decided"));
        };
        // Processing may run on another node: look at the store once a second, too.
        for _ in 0..30 {
            match tokio::time::timeout(Duration::from_secs(1), &mut rx).await {
                Ok(Ok(ack)) => return Ok(ack),
                Ok(Err(_)) => break,
                Err(_) => {}
            }
            if let Some(ack) = stored_ack(st, id).await? {
                self.forget(&t.row.ack_id);
                return Ok(ack);
            }
        }
        self.forget(&t.row.ack_id);
        match stored_ack(st, id).await? {
            Some(ack) => Ok(ack),
            None => Err(AppError::new(
                "hl7.processing_pending",
                503,
                "消息已存储，处理尚未完成",
            )),
        }
    }
}

async fn stored_ack(st: &AppState, id: i64) -> AppResult<Option<String>> {
    let row: Option<(Option<String>,)> = st
        .db
        .fetch_optional("SELECT ack_text FROM hl7_messages WHERE id = $1", args![id])
        .await?;
    Ok(row.and_then(|r| r.0))
}

async fn write_loop(
    st: AppState,
    mut rx: mpsc::Receiver<Submit>,
    wake: Arc<Notify>,
    writer: Arc<Writer>,
) {
    let mut batch: Vec<Submit> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<&NewMessage> = batch.iter().map(|s| &s.row).collect();
        writer.set_waiting(true);
        let t = Instant::now();
        let result = engine::store(&st.db, &rows).await;
        writer.set_waiting(false);
        writer.stored(rows.len());
        tracing::debug!(
            messages = rows.len(),
            ms = t.elapsed().as_secs_f64() * 1e3,
            "hl7: messages stored"
        );
        if let Err(e) = &result {
            tracing::error!(error = %e.message, rows = rows.len(), "hl7: could not store messages");
        }
        let any_received = batch.iter().any(|s| s.row.status == "received");
        match result {
            Ok(ids) => {
                for (s, id) in batch.drain(..).zip(ids) {
                    let _ = s.reply.send(Ok(id));
                }
            }
            Err(e) => {
                for s in batch.drain(..) {
                    let _ = s.reply.send(Err(e.clone()));
                }
            }
        }
        if any_received {
            wake.notify_waiters();
        }
    }
}

/// Buckets a message's patient falls in (`hl7_messages.lane`); lanes split them.
pub const BUCKETS: i64 = 64;

/// The bucket of a patient: every message about one patient of one institution lands in
/// the same bucket, so one lane sees them all, in order.
pub fn bucket(org_id: i64, patient_key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ org_id as u64;
    for b in patient_key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % BUCKETS as u64) as i64
}

/// One of the processing lanes: the buckets `b` with `b % of == index`.
#[derive(Debug, Clone, Copy)]
pub struct Lane {
    pub index: i64,
    pub of: i64,
}

impl Lane {
    fn filter(&self) -> String {
        if self.of <= 1 {
            String::new()
        } else {
            let list: Vec<String> = (0..BUCKETS)
                .filter(|b| b % self.of == self.index)
                .map(|b| b.to_string())
                .collect();
            format!(" AND lane IN ({})", list.join(", "))
        }
    }
}

/// Lanes per database: SQLite has one writer, so one; PostgreSQL runs several
/// (setting `integration.hl7_lanes`, `YIYANG_HL7_LANES`, default 4: each lane holds a pooled connection for its
/// transaction and briefly a second one; a divisor of 64 keeps them even). On two cores
/// 4 lanes processed ~25% more than 2 and kept ACKs at 1,000 msg/s under 25 ms (p99).
pub fn lanes(b: Backend) -> i64 {
    match b {
        Backend::Sqlite => 1,
        Backend::Postgres => crate::IntegrationConfig::get().hl7_lanes.clamp(1, BUCKETS),
    }
}

async fn process_loop(
    st: AppState,
    lane: Lane,
    waiters: Waiters,
    wake: Arc<Notify>,
    writer: Arc<Writer>,
    turns: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        loop {
            // Lanes process side by side, except while the writer is flooded: then they
            // take turns (a batch needs every permit), so storing, which senders wait on,
            // keeps most of the CPU (two cores: 17 k → 25 k msg/s stored) and the backlog
            // is caught up after. The semaphore is fair: a lane waiting for all permits
            // is not overtaken.
            let need = if writer.flooded() { lane.of as u32 } else { 1 };
            let Ok(_turn) = turns.acquire_many(need).await else {
                return;
            };
            match process_pending(&st, lane, Some(&waiters), Some(&writer)).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e.message, "hl7: processing batch failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
            if *stop.borrow() {
                break;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Runs one message's processing inside a savepoint of `tx`: `Ok(Ok(note))` when it
/// applied, `Ok(Err(reason))` when it failed and was rolled back alone.
pub async fn process_one(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    ch: &Channel,
    msg: &Message<'_>,
    id: i64,
) -> AppResult<Result<String, String>> {
    let publish = crate::outbound::has_subscriptions(tx, ch.org_id).await?;
    process_one_with(st, tx, ctx, ch, msg, id, publish).await
}

/// [`process_one`] when whether the institution publishes events is already known.
pub async fn process_one_with(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    ch: &Channel,
    msg: &Message<'_>,
    id: i64,
    publish: bool,
) -> AppResult<Result<String, String>> {
    tx.execute("SAVEPOINT hl7_message", vec![]).await?;
    let audited = yiyang_platform::audit::deferred_len();
    match process::process(st, tx, ctx, ch, msg, id, publish).await {
        Ok(note) => {
            tx.execute("RELEASE SAVEPOINT hl7_message", vec![]).await?;
            Ok(Ok(note))
        }
        Err(e) => {
            if let Some(n) = audited {
                yiyang_platform::audit::truncate_deferred(n);
            }
            tx.execute("ROLLBACK TO SAVEPOINT hl7_message", vec![])
                .await?;
            tx.execute("RELEASE SAVEPOINT hl7_message", vec![]).await?;
            if e.status >= 500 {
                tracing::error!(message = id, error = ?e, "hl7 processing failed");
            }
            Ok(Err(e.message))
        }
    }
}

/// How long one processing transaction may run: on SQLite the message store waits for it,
/// so it is short while senders wait for ACKs (`storing`), and 100 ms otherwise (catching up
/// a backlog: fewer commits, each writing a page once for several runs; per message ~12%
/// less time than one run per transaction). `YIYANG_HL7_BATCH_MS` overrides it (tuning).
fn batch_budget(b: Backend, storing: bool) -> Duration {
    let o = crate::IntegrationConfig::get().hl7_batch_ms;
    Duration::from_millis(o.unwrap_or(match b {
        Backend::Sqlite if storing => 8,
        Backend::Sqlite => 100,
        Backend::Postgres => 200,
    }))
}

/// Most admissions processed together as one run: 128 (against 64: ~9% less time per
/// message on SQLite, ~6% on PostgreSQL); on SQLite 16 while senders wait for ACKs (a run
/// holds up SQLite's single writer, ~0.5 ms per new patient; the first ACK after a pause
/// may wait for one long run). `YIYANG_HL7_RUN` overrides the 128 (tuning).
fn run_size(sqlite: bool, storing: bool) -> usize {
    let long = crate::IntegrationConfig::get().hl7_run;
    if sqlite && storing {
        long.min(16)
    } else {
        long
    }
}

/// The channel `id`, loaded once per batch.
async fn channel<'c>(
    tx: &mut Tx,
    chans: &'c mut HashMap<i64, Channel>,
    id: i64,
) -> AppResult<&'c Channel> {
    if let std::collections::hash_map::Entry::Vacant(e) = chans.entry(id) {
        let ch = channels::load(&mut *tx, id)
            .await?
            .ok_or_else(|| AppError::not_found("channel"))?;
        e.insert(ch);
    }
    Ok(&chans[&id])
}

/// The processing context of channel `ch`, built once per batch.
fn base_ctx<'c>(
    st: &AppState,
    bases: &'c mut HashMap<i64, RequestContext>,
    ch: &Channel,
) -> &'c RequestContext {
    bases.entry(ch.id).or_insert_with(|| channel_ctx(st, ch, 0))
}

/// Whether institution `org` publishes events, looked up once per batch.
async fn publishes_of(tx: &mut Tx, known: &mut HashMap<i64, bool>, org: i64) -> AppResult<bool> {
    if let Some(p) = known.get(&org) {
        return Ok(*p);
    }
    let p = crate::outbound::has_subscriptions(tx, org).await?;
    known.insert(org, p);
    Ok(p)
}

#[derive(sqlx::FromRow)]
struct Queued {
    id: i64,
    channel_id: i64,
    raw: Vec<u8>,
    ack_id: String,
    ack_code: String,
}

/// Processes the oldest `received` messages in one transaction; returns how many. Bounded
/// in time on SQLite, whose single writer the message store shares.
pub async fn process_pending(
    st: &AppState,
    lane: Lane,
    waiters: Option<&Waiters>,
    writer: Option<&Writer>,
) -> AppResult<usize> {
    yiyang_platform::audit::deferring(process_batch(st, lane, waiters, writer)).await
}

async fn process_batch(
    st: &AppState,
    lane: Lane,
    waiters: Option<&Waiters>,
    writer: Option<&Writer>,
) -> AppResult<usize> {
    let in_lane = lane.filter();
    let sqlite = st.db.backend() == Backend::Sqlite;
    // Rows waiting to be stored go first: their senders wait for the ACK (on SQLite the
    // writer needs the one write lock; on PostgreSQL it needs the CPU). The writer wakes
    // the processor when it is done.
    if writer.is_some_and(Writer::waiting) {
        return Ok(0);
    }
    // Cheap look first, so an idle processor does not queue for the write lock.
    let waiting: Option<(i64,)> = st
        .db
        .fetch_optional(
            &format!("SELECT id FROM hl7_messages WHERE status = 'received'{in_lane} LIMIT 1"),
            vec![],
        )
        .await?;
    if waiting.is_none() {
        return Ok(0);
    }
    let started = Instant::now();
    // SQLite: short runs while senders wait for ACKs, long ones to catch up after.
    let storing = writer.is_some_and(Writer::active);
    let max_run = run_size(sqlite, storing);
    let budget = batch_budget(st.db.backend(), storing);
    let mut chans: HashMap<i64, Channel> = HashMap::new();
    let mut publishes: HashMap<i64, bool> = HashMap::new();
    let mut bases: HashMap<i64, RequestContext> = HashMap::new();
    let mut tx = st.db.begin().await?;
    // One processor per lane across nodes: a lock that ends with the transaction (SQLite
    // has one node and one writer).
    if st.db.backend() == Backend::Postgres {
        let got: Option<(bool,)> = tx
            .fetch_optional(
                "SELECT pg_try_advisory_xact_lock($1)",
                args![PROCESSOR_LOCK + lane.index],
            )
            .await?;
        if !got.is_some_and(|g| g.0) {
            return Ok(0);
        }
    }
    // Read inside the write transaction: whoever processed before us has committed.
    let queued: Vec<Queued> = tx
        .fetch_all(
            &format!("SELECT id, channel_id, raw, ack_id, ack_code FROM hl7_messages WHERE status = 'received'{in_lane} ORDER BY id LIMIT $1"),
            args![if sqlite {
                let runs = if storing { 2 } else { 4 };
                runs * max_run as i64
            } else {
                MAX_PROCESS_BATCH
            }],
        )
        .await?;
    let texts: Vec<String> = queued
        .iter()
        .map(|q| {
            decode_message(&q.raw)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&q.raw).into_owned())
        })
        .collect();
    let parsed: Vec<Result<Message<'_>, String>> = texts
        .iter()
        .map(|t| Message::parse(t).map_err(|e| format!("消息无法解析：{e}")))
        .collect();
    let today = yiyang_core::clock::today_cst(st.clock.as_ref());
    let now = st.clock.now_micros();
    // Each message's outcome, in order: Ok(note) or Err(reason).
    let mut outcomes: Vec<Result<String, String>> = Vec::with_capacity(queued.len());
    let mut i = 0;
    while i < queued.len() {
        if i > 0 && (started.elapsed() > budget || (sqlite && writer.is_some_and(Writer::waiting)))
        {
            break;
        }
        // A run of admissions and registrations goes through together (`max_run`: short
        // on SQLite while senders wait, since the message store waits for the run).
        let mut run = Vec::new();
        while i + run.len() < queued.len() && run.len() < max_run {
            let k = i + run.len();
            let q = &queued[k];
            let Ok(msg) = &parsed[k] else { break };
            let ch = channel(&mut tx, &mut chans, q.channel_id).await?;
            let Some(person) = process::admission_person(msg, ch.org_id, today) else {
                break;
            };
            run.push(process::Admission {
                ctx: message_ctx(base_ctx(st, &mut bases, ch), ch, q.id),
                org: ch.org_id,
                msg,
                message_id: q.id,
                publish: publishes_of(&mut tx, &mut publishes, ch.org_id).await?,
                person,
            });
        }
        if run.len() > 1 {
            tx.execute("SAVEPOINT hl7_run", vec![]).await?;
            let audited = yiyang_platform::audit::deferred_len();
            match process::admissions(st, &mut tx, &run).await {
                Ok(notes) => {
                    tx.execute("RELEASE SAVEPOINT hl7_run", vec![]).await?;
                    outcomes.extend(notes.into_iter().map(Ok));
                    i += run.len();
                    continue;
                }
                Err(e) => {
                    // One by one below: each message's own failure is reported.
                    if let Some(n) = audited {
                        yiyang_platform::audit::truncate_deferred(n);
                    }
                    tx.execute("ROLLBACK TO SAVEPOINT hl7_run", vec![]).await?;
                    tx.execute("RELEASE SAVEPOINT hl7_run", vec![]).await?;
                    tracing::debug!(error = %e.message, messages = run.len(), "hl7: run processed one by one");
                }
            }
        }
        let end = i + run.len().max(1);
        drop(run);
        for k in i..end {
            let q = &queued[k];
            let outcome = match &parsed[k] {
                Ok(msg) => {
                    let ch = channel(&mut tx, &mut chans, q.channel_id).await?;
                    let publish = publishes_of(&mut tx, &mut publishes, ch.org_id).await?;
                    let ctx = message_ctx(base_ctx(st, &mut bases, ch), ch, q.id);
                    process_one_with(st, &mut tx, &ctx, ch, msg, q.id, publish).await?
                }
                // Stored rows parsed at the door; only an edit could break one.
                Err(e) => Err(e.clone()),
            };
            outcomes.push(outcome);
        }
        i = end;
    }
    let done = outcomes.len();
    let mut events: Vec<(i64, &'static str, String, String)> = Vec::with_capacity(done);
    let mut acks: Vec<(String, String)> = Vec::new();
    let mut plain: Vec<i64> = Vec::new();
    for ((q, outcome), msg) in queued.iter().zip(outcomes).zip(&parsed) {
        let ack = match msg {
            Ok(msg) if q.ack_code.is_empty() => {
                let (code, reason) = match &outcome {
                    Ok(_) => (AckCode::Accept, ""),
                    Err(r) => (AckCode::Error, r.as_str()),
                };
                let mut b = AckBuilder::new(code, &q.ack_id, &hl7_ts(now));
                if !reason.is_empty() {
                    b = b.text(reason);
                }
                Some((code.as_str(), b.build(msg)))
            }
            _ => None,
        };
        let (status, error, note) = match outcome {
            Ok(note) => ("processed", String::new(), note),
            Err(reason) => ("error", reason.clone(), reason),
        };
        match &ack {
            Some((code, text)) => {
                tx.execute(
                    "UPDATE hl7_messages SET status = $1, error = $2, ack_code = $3, ack_text = $4, processed_at = $5, attempts = attempts + 1 WHERE id = $6",
                    args![status, &error, *code, text, now, q.id],
                )
                .await?;
                acks.push((q.ack_id.clone(), text.clone()));
            }
            None if status == "processed" => plain.push(q.id),
            None => {
                tx.execute(
                    "UPDATE hl7_messages SET status = $1, error = $2, processed_at = $3, attempts = attempts + 1 WHERE id = $4",
                    args![status, &error, now, q.id],
                )
                .await?;
            }
        }
        let actor = match chans.get(&q.channel_id) {
            Some(ch) => base_ctx(st, &mut bases, ch).actor.login.clone(),
            None => String::new(),
        };
        events.push((q.id, status, actor, note));
    }
    // Processed messages whose ACK was sent on storing: one statement.
    for chunk in plain.chunks(500) {
        let mut f = Filter::new();
        f.args.push(now.into());
        let list = f.placeholders(chunk);
        tx.execute_once(
            &format!("UPDATE hl7_messages SET status = 'processed', error = '', processed_at = $1, attempts = attempts + 1 WHERE id IN ({list})"),
            f.args,
        )
        .await?;
    }
    tx.insert_rows(
        "INSERT INTO hl7_message_events (message_id, kind, actor_login, detail, at)",
        5,
        events
            .into_iter()
            .map(|(id, kind, actor, detail)| args![id, kind, actor, detail, now])
            .collect(),
        "",
    )
    .await?;
    // The batch's audit entries: one append, one touch of the chain head.
    yiyang_platform::audit::append_direct(&mut tx, &yiyang_platform::audit::take_deferred())
        .await?;
    tx.commit().await?;
    tracing::debug!(
        messages = done,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "hl7: processing batch committed"
    );
    if let Some(w) = waiters {
        let mut w = w.lock().expect("waiters");
        for (ack_id, text) in acks {
            if let Some(tx) = w.remove(&ack_id) {
                let _ = tx.send(text);
            }
        }
    }
    Ok(done)
}
