//! The message path: prepare → store (group commit) → ACK → process in order, and replay
//! from the error queue.
//!
//! Every payload that starts with `MSH` becomes one stored row (raw bytes and header facts)
//! before any ACK is written back. [`prepare`] decides what can be decided without the
//! database: AR for messages the channel does not accept or that do not parse, AE for
//! messages that cannot be processed as they stand (the error queue), and otherwise a
//! `received` row. On a `commit` channel that row already carries its AA; on an
//! `application` channel the ACK waits for processing. The [`crate::pipeline`] stores rows
//! in batches and processes `received` rows in arrival order. A repeated MSH-10 from the
//! same channel and sending application is stored as `duplicate` and answered with the
//! original's ACK, without processing again — when it is byte-identical. A changed message
//! under a used control id supersedes an original that failed (the fix is processed) and
//! waits in the error queue when the original was applied ([`resend`]).

use crate::channels::{self, Channel};
use crate::process;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_hl7v2::{AckBuilder, AckCode, Message, decode_message, encode_message};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Arg, Db, Filter, args};

/// Header facts of a stored message.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub control_id: String,
    pub msg_type: String,
    pub trigger: String,
    pub sending_app: String,
    pub sending_facility: String,
    pub version: String,
    pub patient_key: String,
}

/// HL7 timestamp (CST) for ACK MSH-7.
pub fn hl7_ts(micros: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default()
        + chrono::Duration::hours(8);
    t.format("%Y%m%d%H%M%S+0800").to_string()
}

/// The header facts of a parsed message.
pub fn facts(msg: &Message<'_>) -> AppResult<Facts> {
    let h = msg
        .header()
        .map_err(|e| AppError::validation("hl7.header", format!("MSH 段不正确：{e}")))?;
    let patient_key = msg
        .segment("PID")
        .map(|p| p.field(3).rep(1).component(1).value().to_string())
        .unwrap_or_default();
    Ok(Facts {
        control_id: h.control_id.to_string(),
        msg_type: h.message_type.code.to_string(),
        trigger: h.message_type.trigger.to_string(),
        sending_app: h.sending_application.namespace_id.to_string(),
        sending_facility: h.sending_facility.namespace_id.to_string(),
        version: h.version.to_string(),
        patient_key,
    })
}

/// Best-effort header facts of a message that does not parse: split the first segment.
fn guess_facts(text: &str) -> Facts {
    let first = text.split(['\r', '\n']).next().unwrap_or("");
    let sep = first.chars().nth(3).unwrap_or('|');
    let fields: Vec<&str> = first.split(sep).collect();
    // MSH-1 is the separator itself, so MSH-n is fields[n - 1].
    let f = |n: usize| fields.get(n - 1).copied().unwrap_or("").to_string();
    let comp = |n: usize, c: usize| f(n).split('^').nth(c).unwrap_or("").to_string();
    Facts {
        control_id: f(10).chars().take(64).collect(),
        msg_type: comp(9, 0).chars().take(8).collect(),
        trigger: comp(9, 1).chars().take(8).collect(),
        sending_app: comp(3, 0).chars().take(64).collect(),
        sending_facility: comp(4, 0).chars().take(64).collect(),
        version: f(12).chars().take(12).collect(),
        patient_key: String::new(),
    }
}

/// A context for processing one channel's messages: the platform acting for the channel's
/// institution only, with the patient permissions processing needs.
pub fn channel_ctx(st: &AppState, ch: &Channel, message_id: i64) -> RequestContext {
    let mut c = RequestContext::system(st.clock.clone(), &format!("hl7:{}", ch.name));
    let org = Scope::Orgs(BTreeSet::from([ch.org_id]));
    c.grants = Arc::new(
        [perm::PATIENT_READ, perm::PATIENT_WRITE, perm::PATIENT_MERGE]
            .iter()
            .map(|p| (p.to_string(), org.clone()))
            .collect(),
    );
    c.actor.org_id = Some(ch.org_id);
    c.request_id = format!("hl7-{}-{message_id}", ch.id);
    c
}

/// [`channel_ctx`] for another message of the same channel: the same grants (built once per
/// batch, not per message), its own request id.
pub fn message_ctx(base: &RequestContext, ch: &Channel, message_id: i64) -> RequestContext {
    let mut c = base.clone();
    c.request_id = format!("hl7-{}-{message_id}", ch.id);
    c
}

/// Checks the channel's rules; the reason is the AR text.
fn check_allowed(ch: &Channel, f: &Facts) -> Result<(), String> {
    if !ch.allows_app(&f.sending_app) {
        return Err(format!("发送系统 {} 未获准接入本通道", f.sending_app));
    }
    if !ch.allows_facility(&f.sending_facility) {
        return Err(format!("发送机构 {} 未获准接入本通道", f.sending_facility));
    }
    if !ch.allows_type(&f.msg_type, &f.trigger) {
        return Err(format!("本通道不接收 {}^{} 消息", f.msg_type, f.trigger));
    }
    Ok(())
}

/// A message row about to be stored.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel_id: i64,
    pub org_id: i64,
    pub facts: Facts,
    pub raw: Vec<u8>,
    /// `received` (to be processed), `rejected` (AR) or `error` (AE, in the error queue).
    pub status: &'static str,
    pub error: String,
    /// The ACK as decided now; `None` when it waits for processing (`application` mode).
    pub ack: Option<(&'static str, String)>,
    pub dedupe_key: Option<String>,
    /// MSH-10 of our ACK.
    pub ack_id: String,
    pub received_at: i64,
}

/// A fresh control id for an ACK: unique within the process, short enough for MSH-10.
pub fn next_ack_id(now: i64) -> String {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff;
    format!("YY{now:X}{n:04X}")
}

/// Decides what can be decided about a payload without the database. `None` when the
/// payload is not an HL7 message at all (the connection is then closed).
pub fn prepare(ch: &Channel, payload: &[u8], now: i64) -> Option<NewMessage> {
    let start = payload
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .unwrap_or(payload.len());
    let payload = &payload[start..];
    if !payload.starts_with(b"MSH") {
        return None;
    }
    let ack_id = next_ack_id(now);
    let decoded = decode_message(payload);
    let text: std::borrow::Cow<'_, str> = match &decoded {
        Ok(t) => std::borrow::Cow::Borrowed(t.as_ref()),
        Err(_) => String::from_utf8_lossy(payload),
    };
    let row = |f: Facts, status, error: String, ack, key| NewMessage {
        channel_id: ch.id,
        org_id: ch.org_id,
        facts: f,
        raw: payload.to_vec(),
        status,
        error,
        ack,
        dedupe_key: key,
        ack_id: ack_id.clone(),
        received_at: now,
    };
    let parsed = decoded
        .as_ref()
        .map_err(|e| format!("字符集解码失败：{e}"))
        .and_then(|_| Message::parse(&text).map_err(|e| format!("消息无法解析：{e}")))
        .and_then(|m| facts(&m).map(|f| (m, f)).map_err(|e| e.message));
    let (msg, f) = match parsed {
        Ok(x) => x,
        Err(reason) => {
            let f = guess_facts(&text);
            let version = if f.version.is_empty() {
                "2.5"
            } else {
                &f.version
            };
            let ack = AckBuilder::new(AckCode::Reject, &ack_id, &hl7_ts(now))
                .text(&reason)
                .build_minimal(&f.control_id, version);
            return Some(row(f, "rejected", reason, Some(("AR", ack)), None));
        }
    };
    if let Err(reason) = check_allowed(ch, &f) {
        let ack = AckBuilder::new(AckCode::Reject, &ack_id, &hl7_ts(now))
            .text(&reason)
            .build(&msg);
        return Some(row(f, "rejected", reason, Some(("AR", ack)), None));
    }
    let key =
        (!f.control_id.is_empty()).then(|| format!("{}|{}|{}", ch.id, f.sending_app, f.control_id));
    let today = (chrono::DateTime::from_timestamp_micros(now).unwrap_or_default()
        + chrono::Duration::hours(8))
    .date_naive();
    if let Err(e) = process::precheck(&msg, today) {
        let ack = AckBuilder::new(AckCode::Error, &ack_id, &hl7_ts(now))
            .text(&e.message)
            .build(&msg);
        return Some(row(f, "error", e.message, Some(("AE", ack)), key));
    }
    let ack = (ch.ack_mode != "application").then(|| {
        (
            "AA",
            AckBuilder::new(AckCode::Accept, &ack_id, &hl7_ts(now)).build(&msg),
        )
    });
    Some(row(f, "received", String::new(), ack, key))
}

/// An FHS/BHS batch split into its messages, each kept as the bytes that arrived (segments
/// ending in CR), so every message is decoded by its own MSH-18 like a single message: a
/// batch may be UTF-8 or, say, GB18030 (whose multi-byte characters never contain CR or LF,
/// so splitting on them is safe). `None` when the payload is not a batch; an error (the
/// reason) when it is a batch that does not decode or parse.
pub fn batch_members(payload: &[u8]) -> Option<Result<Batch, String>> {
    let start = payload
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .unwrap_or(payload.len());
    let payload = &payload[start..];
    if !(payload.starts_with(b"FHS") || payload.starts_with(b"BHS")) {
        return None;
    }
    let mut b = Batch::default();
    // The batch as text (each message decoded by its charset), for the structure check.
    let mut text = String::with_capacity(payload.len());
    let mut current: Option<Vec<u8>> = None;
    let flush = |current: &mut Option<Vec<u8>>, b: &mut Batch, text: &mut String| {
        if let Some(m) = current.take() {
            match decode_message(&m) {
                Ok(t) => text.push_str(&t),
                Err(e) => {
                    return Err(format!(
                        "批量消息中第 {} 条消息无法解码：{e}",
                        b.messages.len() + 1
                    ));
                }
            }
            b.messages.push(m);
        }
        Ok(())
    };
    for line in payload
        .split(|c| matches!(c, b'\r' | b'\n'))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
    {
        let id = line.get(..3).unwrap_or(b"");
        match id {
            b"MSH" => {
                if let Err(e) = flush(&mut current, &mut b, &mut text) {
                    return Some(Err(e));
                }
                let mut m = line.to_vec();
                m.push(b'\r');
                current = Some(m);
            }
            b"FHS" | b"BHS" | b"BTS" | b"FTS" => {
                if let Err(e) = flush(&mut current, &mut b, &mut text) {
                    return Some(Err(e));
                }
                let header = String::from_utf8_lossy(line);
                if id == b"BHS" {
                    // BHS-11 batch control id (BHS-1 is the field separator).
                    let sep = header.chars().nth(3).unwrap_or('|');
                    b.control_id = header.split(sep).nth(10).unwrap_or("").to_string();
                }
                text.push_str(&header);
                text.push('\r');
            }
            _ => match current.as_mut() {
                Some(c) => {
                    c.extend_from_slice(line);
                    c.push(b'\r');
                }
                None => {
                    text.push_str(&String::from_utf8_lossy(line));
                    text.push('\r');
                }
            },
        }
    }
    if let Err(e) = flush(&mut current, &mut b, &mut text) {
        return Some(Err(e));
    }
    if let Err(e) = yiyang_hl7v2::Batch::parse(&text) {
        return Some(Err(format!("批量消息无法解析：{e}")));
    }
    Some(Ok(b))
}

/// The messages of a batch and its control id (BHS-11).
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: Vec<Vec<u8>>,
    pub control_id: String,
}

/// The answer to a batch: the ACKs of its messages inside BHS/BTS, in order, each ACK in
/// the character set its message declared (MSH-18).
pub fn batch_ack(original_control_id: &str, acks: &[String], now: i64) -> Vec<u8> {
    let mut out = format!(
        "BHS|^~\\&|YIYANG|MZ|||{}||||{}|{}\r",
        hl7_ts(now),
        next_ack_id(now),
        original_control_id
    )
    .into_bytes();
    for a in acks {
        let a = a.trim_end_matches(['\r', '\n']);
        match encode_message(a) {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(_) => out.extend_from_slice(a.as_bytes()),
        }
        out.push(b'\r');
    }
    out.extend_from_slice(format!("BTS|{}", acks.len()).as_bytes());
    out
}

/// Stores rows in one transaction; for each row its id, or `None` when its dedupe key was
/// already taken (a repeated MSH-10).
pub async fn store(db: &Db, rows: &[&NewMessage]) -> AppResult<Vec<Option<i64>>> {
    const COLS: usize = 18;
    let mut out = vec![None; rows.len()];
    let mut tx = db.begin().await?;
    let values: Vec<Vec<Arg>> = rows
        .iter()
        .map(|r| {
            let f = &r.facts;
            args![
                r.channel_id,
                r.org_id,
                &f.control_id,
                &f.msg_type,
                &f.trigger,
                &f.sending_app,
                &f.sending_facility,
                &f.version,
                &f.patient_key,
                r.raw.clone(),
                r.status,
                &r.error,
                r.ack.as_ref().map(|x| x.0).unwrap_or(""),
                r.ack.as_ref().map(|x| x.1.clone()),
                r.dedupe_key.as_deref(),
                &r.ack_id,
                r.received_at,
                crate::pipeline::bucket(r.org_id, &f.patient_key)
            ]
        })
        .collect();
    let got: Vec<(i64, String)> = tx
        .insert_rows_returning(
            "INSERT INTO hl7_messages (channel_id, org_id, control_id, msg_type, trigger_event, sending_app, sending_facility, version, patient_key, raw, status, error, ack_code, ack_text, dedupe_key, ack_id, received_at, lane)",
            COLS,
            values,
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, ack_id",
        )
        .await?;
    let at: std::collections::HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.ack_id.as_str(), i))
        .collect();
    for (id, ack_id) in got {
        if let Some(i) = at.get(ack_id.as_str()) {
            out[*i] = Some(id);
        }
    }
    count_received(
        &mut tx,
        rows.iter()
            .zip(&out)
            .filter(|(_, id)| id.is_some())
            .map(|(r, _)| (r.channel_id, r.received_at)),
    )
    .await?;
    // Outcomes decided at the door (AR, AE) are final: mark them done.
    let done: Vec<i64> = rows
        .iter()
        .zip(&out)
        .filter(|(r, _)| r.status != "received")
        .filter_map(|(_, id)| *id)
        .collect();
    if !done.is_empty() {
        let mut f = Filter::new();
        f.any_of("id", &done);
        tx.execute(
            &format!(
                "UPDATE hl7_messages SET processed_at = received_at, attempts = 1{}",
                f.sql()
            ),
            f.args,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(out)
}

async fn finish(
    st: &AppState,
    id: i64,
    status: &str,
    error: &str,
    code: &str,
    ack: &str,
    at: i64,
) -> AppResult<()> {
    st.db
        .execute(
            "UPDATE hl7_messages SET status = $1, error = $2, ack_code = $3, ack_text = $4, processed_at = $5, attempts = attempts + 1 WHERE id = $6",
            args![status, error, code, ack, at, id],
        )
        .await
        .map(|_| ())
}

async fn event(st: &AppState, id: i64, kind: &str, actor: &str, detail: &str) -> AppResult<()> {
    st.db
        .execute(
            "INSERT INTO hl7_message_events (message_id, kind, actor_login, detail, at) VALUES ($1, $2, $3, $4, $5)",
            args![id, kind, actor, detail, st.clock.now_micros()],
        )
        .await
        .map(|_| ())
}

/// What a message that reuses an earlier message's control id (MSH-10) is.
#[derive(Debug)]
pub enum Resend {
    /// Byte-identical to the original: answered with the original's ACK, not processed.
    Duplicate(String),
    /// A changed message whose original failed (AE/AR): the original is set aside as
    /// `superseded` and this one is stored and processed in its place.
    Supersedes,
    /// A changed message whose original was applied: kept in the error queue for a person
    /// to decide (replay applies it), answered AE.
    Conflict(String),
}

/// Decides what a message whose dedupe key is taken is (see [`Resend`]). Waits like
/// [`duplicate`] while the original is still being processed.
pub async fn resend(st: &AppState, m: &NewMessage) -> AppResult<Resend> {
    let key = m.dedupe_key.as_deref().unwrap_or("");
    let mut original: Option<(i64, Vec<u8>, String, Option<String>)> = None;
    for _ in 0..300 {
        original = st
            .db
            .fetch_optional(
                "SELECT id, raw, status, ack_text FROM hl7_messages WHERE dedupe_key = $1",
                args![key],
            )
            .await?;
        match &original {
            Some((_, _, _, Some(_))) | None => break,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let Some((orig_id, raw, status, _)) = original else {
        // The key was released meanwhile (another resend superseded it): store anew.
        return Ok(Resend::Supersedes);
    };
    // The sender's bytes, even when a person has since edited the stored message and replayed it.
    let sent_before = raw == m.raw
        || st
            .db
            .scalar(
                "SELECT COUNT(*) FROM hl7_message_events WHERE message_id = $1 AND kind = 'edit' AND detail = $2",
                args![orig_id, String::from_utf8_lossy(&m.raw).into_owned()],
            )
            .await?
            > 0;
    if sent_before {
        return duplicate(st, m).await.map(Resend::Duplicate);
    }
    let now = m.received_at;
    let mut tx = st.db.begin().await?;
    if matches!(status.as_str(), "error" | "rejected") {
        let n = tx
            .execute(
                "UPDATE hl7_messages SET status = 'superseded', dedupe_key = NULL, processed_at = $1 WHERE id = $2 AND dedupe_key = $3 AND status IN ('error', 'rejected')",
                args![now, orig_id, key],
            )
            .await?;
        if n == 1 {
            message_event(
                &mut tx,
                orig_id,
                now,
                "superseded",
                "同一控制号的更正消息已到达，本消息不再处理",
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(Resend::Supersedes);
    }
    let reason = format!(
        "控制号 {} 已用于另一条内容不同、已处理的消息（#{orig_id}），本消息未处理，已转入异常消息队列待人工确认",
        m.facts.control_id
    );
    let text = String::from_utf8_lossy(&m.raw).into_owned();
    let ack = match Message::parse(&text) {
        Ok(msg) => AckBuilder::new(AckCode::Error, &m.ack_id, &hl7_ts(now))
            .text(&reason)
            .build(&msg),
        Err(_) => AckBuilder::new(AckCode::Error, &m.ack_id, &hl7_ts(now))
            .text(&reason)
            .build_minimal(&m.facts.control_id, "2.5"),
    };
    let f = &m.facts;
    let id = tx
        .scalar(
            "INSERT INTO hl7_messages (channel_id, org_id, control_id, msg_type, trigger_event, sending_app, sending_facility, version, patient_key, raw, status, error, ack_code, ack_text, duplicate_of, ack_id, received_at, processed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'error', $11, 'AE', $12, $13, $14, $15, $15) RETURNING id",
            args![m.channel_id, m.org_id, &f.control_id, &f.msg_type, &f.trigger, &f.sending_app, &f.sending_facility, &f.version, &f.patient_key, m.raw.clone(), &reason, &ack, orig_id, &m.ack_id, now],
        )
        .await?;
    message_event(&mut tx, id, now, "conflict", &reason).await?;
    count_received(&mut tx, [(m.channel_id, now)]).await?;
    tx.commit().await?;
    Ok(Resend::Conflict(ack))
}

async fn message_event(
    tx: &mut yiyang_store::Tx,
    id: i64,
    at: i64,
    kind: &str,
    detail: &str,
) -> AppResult<()> {
    tx.execute(
        "INSERT INTO hl7_message_events (message_id, kind, actor_login, detail, at) VALUES ($1, $2, 'system', $3, $4)",
        args![id, kind, detail, at],
    )
    .await
    .map(|_| ())
}

/// A repeated control id: stored as `duplicate`, answered with the original's ACK. Waits
/// (up to 30 s) while the original is still being processed on an `application` channel;
/// an error then means "no ACK", and the sender retries later.
pub async fn duplicate(st: &AppState, m: &NewMessage) -> AppResult<String> {
    let key = m.dedupe_key.as_deref().unwrap_or("");
    let mut original: Option<(i64, Option<String>, String)> = None;
    for _ in 0..300 {
        original = st
            .db
            .fetch_optional(
                "SELECT id, ack_text, ack_code FROM hl7_messages WHERE dedupe_key = $1",
                args![key],
            )
            .await?;
        if matches!(original, Some((_, Some(_), _))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some((orig_id, Some(ack), code)) = original else {
        return Err(AppError::new(
            "hl7.original_pending",
            503,
            "原消息仍在处理中，请稍后重发",
        ));
    };
    let f = &m.facts;
    let mut tx = st.db.begin().await?;
    tx.execute(
        "INSERT INTO hl7_messages (channel_id, org_id, control_id, msg_type, trigger_event, sending_app, sending_facility, version, patient_key, raw, status, error, ack_code, ack_text, duplicate_of, ack_id, received_at, processed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'duplicate', '', $11, $12, $13, $14, $15, $15)",
        args![m.channel_id, m.org_id, &f.control_id, &f.msg_type, &f.trigger, &f.sending_app, &f.sending_facility, &f.version, &f.patient_key, m.raw.clone(), code, &ack, orig_id, &m.ack_id, m.received_at],
    )
    .await?;
    count_received(&mut tx, [(m.channel_id, m.received_at)]).await?;
    tx.commit().await?;
    Ok(ack)
}

/// One hour in microseconds: the granularity of `hl7_channel_hours`.
const HOUR_US: i64 = 3_600_000_000;

/// Adds messages just stored (channel, `received_at`) to the per-channel hourly counts, in
/// the transaction that stores them.
async fn count_received(
    tx: &mut yiyang_store::Tx,
    stored: impl IntoIterator<Item = (i64, i64)>,
) -> AppResult<()> {
    let mut per: std::collections::BTreeMap<(i64, i64), i64> = std::collections::BTreeMap::new();
    for (channel, at) in stored {
        *per.entry((channel, at - at.rem_euclid(HOUR_US)))
            .or_default() += 1;
    }
    tx.insert_rows(
        "INSERT INTO hl7_channel_hours (channel_id, hour, received)",
        3,
        per.into_iter().map(|((c, h), n)| args![c, h, n]).collect(),
        "ON CONFLICT (channel_id, hour) DO UPDATE SET received = hl7_channel_hours.received + excluded.received",
    )
    .await?;
    Ok(())
}

/// A stored message.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredMessage {
    pub id: i64,
    pub channel_id: i64,
    pub org_id: i64,
    pub control_id: String,
    pub msg_type: String,
    pub trigger_event: String,
    pub sending_app: String,
    pub sending_facility: String,
    pub version: String,
    pub patient_key: String,
    pub status: String,
    pub error: String,
    pub ack_code: String,
    pub duplicate_of: Option<i64>,
    pub attempts: i64,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

pub const MESSAGE_COLS: &str = "id, channel_id, org_id, control_id, msg_type, trigger_event, sending_app, sending_facility, version, patient_key, status, error, ack_code, duplicate_of, attempts, received_at, processed_at";

/// What a replay did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReplayOutcome {
    pub status: String,
    pub ack_code: String,
    pub error: String,
}

/// Re-runs processing of a message from the error queue (`error` or `rejected`), optionally
/// with an edited text. The previous text is kept in the message's history.
pub async fn replay(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    edited: Option<&str>,
) -> AppResult<ReplayOutcome> {
    let row: Option<(i64, i64, String, Vec<u8>)> = st
        .db
        .fetch_optional(
            "SELECT channel_id, org_id, status, raw FROM hl7_messages WHERE id = $1",
            args![id],
        )
        .await?;
    let Some((channel_id, org_id, status, raw)) = row.filter(|r| {
        ctx.scope_of(perm::INTEGRATION_READ)
            .is_some_and(|s| s.allows(r.1))
    }) else {
        return Err(AppError::not_found("hl7_message"));
    };
    if !ctx.has_for(perm::INTEGRATION_MANAGE, org_id) {
        return Err(AppError::forbidden(perm::INTEGRATION_MANAGE));
    }
    if status != "error" && status != "rejected" {
        return Err(AppError::conflict(
            "hl7.not_replayable",
            "只有处理失败或被拒收的消息可以重放",
        ));
    }
    let ch = channels::load(&st.db, channel_id)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    let now = ctx.clock.now_micros();
    let raw = match edited.map(str::trim).filter(|s| !s.is_empty()) {
        Some(t) => {
            // Segments are separated by CR; browsers send CRLF.
            let text = t.replace("\r\n", "\r").replace('\n', "\r");
            let bytes = yiyang_hl7v2::encode_message(&text)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| text.into_bytes());
            if bytes != raw {
                event(
                    st,
                    id,
                    "edit",
                    &ctx.actor.login,
                    &String::from_utf8_lossy(&raw),
                )
                .await?;
                st.db
                    .execute(
                        "UPDATE hl7_messages SET raw = $1 WHERE id = $2",
                        args![bytes.clone(), id],
                    )
                    .await?;
            }
            bytes
        }
        None => raw,
    };
    let text = decode_message(&raw)
        .map(|c| c.into_owned())
        .map_err(|e| AppError::validation("hl7.charset", format!("字符集解码失败：{e}")));
    let parsed = text.and_then(|t| {
        let f = {
            let m = Message::parse(&t)
                .map_err(|e| AppError::validation("hl7.parse", format!("消息无法解析：{e}")))?;
            facts(&m)?
        };
        Ok((t, f))
    });
    let outcome = match parsed {
        Err(e) => {
            finish(st, id, "rejected", &e.message, "AR", "", now).await?;
            ReplayOutcome {
                status: "rejected".into(),
                ack_code: "AR".into(),
                error: e.message,
            }
        }
        Ok((t, f)) => {
            st.db
                .execute(
                    "UPDATE hl7_messages SET control_id = $1, msg_type = $2, trigger_event = $3, sending_app = $4, sending_facility = $5, version = $6, patient_key = $7 WHERE id = $8",
                    args![&f.control_id, &f.msg_type, &f.trigger, &f.sending_app, &f.sending_facility, &f.version, &f.patient_key, id],
                )
                .await?;
            let msg = Message::parse(&t)
                .map_err(|e| AppError::validation("hl7.parse", format!("消息无法解析：{e}")))?;
            if let Err(reason) = check_allowed(&ch, &f) {
                let ack = AckBuilder::new(AckCode::Reject, &next_ack_id(now), &hl7_ts(now))
                    .text(&reason)
                    .build(&msg);
                finish(st, id, "rejected", &reason, "AR", &ack, now).await?;
                ReplayOutcome {
                    status: "rejected".into(),
                    ack_code: "AR".into(),
                    error: reason,
                }
            } else {
                let ctx = channel_ctx(st, &ch, id);
                let mut tx = st.db.begin().await?;
                let outcome =
                    crate::pipeline::process_one(st, &mut tx, &ctx, &ch, &msg, id).await?;
                let (status, code, error) = match &outcome {
                    Ok(_) => ("processed", AckCode::Accept, String::new()),
                    Err(reason) => ("error", AckCode::Error, reason.clone()),
                };
                let mut b = AckBuilder::new(code, &next_ack_id(now), &hl7_ts(now));
                if !error.is_empty() {
                    b = b.text(&error);
                }
                let ack = b.build(&msg);
                tx.execute(
                    "UPDATE hl7_messages SET status = $1, error = $2, ack_code = $3, ack_text = $4, processed_at = $5, attempts = attempts + 1 WHERE id = $6",
                    args![status, &error, code.as_str(), &ack, now, id],
                )
                .await?;
                tx.execute(
                    "INSERT INTO hl7_message_events (message_id, kind, actor_login, detail, at) VALUES ($1, $2, $3, $4, $5)",
                    args![id, status, &ctx.actor.login, outcome.unwrap_or_else(|e| e), now],
                )
                .await?;
                tx.commit().await?;
                let (status, ack_code, error): (String, String, String) = st
                    .db
                    .fetch_one(
                        "SELECT status, ack_code, error FROM hl7_messages WHERE id = $1",
                        args![id],
                    )
                    .await?;
                ReplayOutcome {
                    status,
                    ack_code,
                    error,
                }
            }
        }
    };
    event(
        st,
        id,
        "replay",
        &ctx.actor.login,
        &format!("{} {}", outcome.status, outcome.error),
    )
    .await?;
    let mut tx = st.db.begin().await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "integration.replay", "hl7_message", id)
                .org(Some(org_id))
                .details(serde_json::json!({"status": outcome.status, "edited": edited.is_some()})),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_header_of_broken_message() {
        let f = guess_facts("MSH|^~\\&|HIS|HOSP|YY|MZ|20261126||ADT^A01|MSG9|P|2.5\rPID|||");
        assert_eq!(f.control_id, "MSG9");
        assert_eq!(f.msg_type, "ADT");
        assert_eq!(f.trigger, "A01");
        assert_eq!(f.sending_app, "HIS");
        assert_eq!(f.version, "2.5");
    }

    #[test]
    fn ack_timestamp_is_cst() {
        // 2026-11-26T02:00:00Z
        assert_eq!(hl7_ts(1_795_658_400_000_000), "20261126100000+0800");
    }
}
