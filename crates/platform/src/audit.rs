//! The audit log (审计日志): append-only, each entry carrying the hash of the one before.
//!
//! Changes are audited inside their own transaction with [`append`]. Reads of personal data
//! go through the [`AuditSink`], which groups entries into one transaction per batch so
//! auditing does not slow reads; [`AuditSink::shutdown`] drains it on a clean shutdown.
//! Both paths share [`append`], which locks the chain head so the chain stays linear
//! across nodes.

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use yiyang_core::{ActorKind, AppError, AppResult, RequestContext};
use yiyang_store::{Backend, Db, Filter, Tx, args};

/// One audit entry before it is chained.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: i64,
    pub actor_login: String,
    pub role: String,
    pub org_id: Option<i64>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub client_addr: String,
    pub outcome: String,
    pub purpose: String,
    pub request_id: String,
    pub details: String,
}

impl AuditEntry {
    /// An entry for `action` on a resource, attributed to the context's actor.
    pub fn new(
        ctx: &RequestContext,
        action: &str,
        resource_type: &str,
        resource_id: impl ToString,
    ) -> Self {
        Self {
            at: ctx.clock.now_micros(),
            actor_kind: match ctx.actor.kind {
                ActorKind::Account => "account",
                ActorKind::Client => "client",
                ActorKind::System => "system",
            }
            .into(),
            actor_id: ctx.actor.id,
            actor_login: ctx.actor.login.clone(),
            role: ctx.primary_role().to_string(),
            org_id: ctx.actor.org_id,
            action: action.into(),
            resource_type: resource_type.into(),
            resource_id: resource_id.to_string(),
            client_addr: ctx.client_addr.clone().unwrap_or_default(),
            outcome: "success".into(),
            purpose: String::new(),
            request_id: ctx.request_id.clone(),
            details: String::new(),
        }
    }

    pub fn outcome(mut self, outcome: &str) -> Self {
        self.outcome = outcome.into();
        self
    }

    pub fn purpose(mut self, purpose: &str) -> Self {
        self.purpose = purpose.into();
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details.to_string();
        self
    }

    /// The institution whose data was touched (defaults to the actor's).
    pub fn org(mut self, org_id: Option<i64>) -> Self {
        if org_id.is_some() {
            self.org_id = org_id;
        }
        self
    }
}

/// SHA-256 over the previous hash and every field, separated by U+001F.
pub fn entry_hash(seq: i64, prev_hash: &str, e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    let org = e.org_id.map(|o| o.to_string()).unwrap_or_default();
    let fields: [&str; 14] = [
        prev_hash,
        &e.actor_kind,
        &e.actor_login,
        &e.role,
        &org,
        &e.action,
        &e.resource_type,
        &e.resource_id,
        &e.client_addr,
        &e.outcome,
        &e.purpose,
        &e.request_id,
        &e.details,
        "",
    ];
    h.update(seq.to_le_bytes());
    h.update(e.at.to_le_bytes());
    h.update(e.actor_id.to_le_bytes());
    for f in fields {
        h.update(f.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

const INSERT_COLS: &str = "INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_login, role, org_id, action, \
     resource_type, resource_id, client_addr, outcome, purpose, request_id, details, prev_hash, hash) VALUES ";
const COLS: usize = 17;

tokio::task_local! {
    static DEFERRED: std::cell::RefCell<Vec<AuditEntry>>;
}

/// Runs `f` with the entries [`append`] receives collected instead of written: a batch
/// job that applies many changes in one transaction writes them with one
/// [`append_direct`] just before its commit (one touch of the chain head per batch).
pub async fn deferring<F: std::future::Future>(f: F) -> F::Output {
    DEFERRED.scope(std::cell::RefCell::new(Vec::new()), f).await
}

/// Entries collected so far in a [`deferring`] scope (`None` outside one).
pub fn deferred_len() -> Option<usize> {
    DEFERRED.try_with(|d| d.borrow().len()).ok()
}

/// Drops the entries collected after `len` (their changes were rolled back).
pub fn truncate_deferred(len: usize) {
    let _ = DEFERRED.try_with(|d| d.borrow_mut().truncate(len));
}

/// Takes the entries collected in a [`deferring`] scope.
pub fn take_deferred() -> Vec<AuditEntry> {
    DEFERRED
        .try_with(|d| std::mem::take(&mut *d.borrow_mut()))
        .unwrap_or_default()
}

/// Appends entries to the chain inside `tx` (or, in a [`deferring`] scope, collects them
/// for the scope's owner to write in the same transaction).
pub async fn append(tx: &mut Tx, entries: &[AuditEntry]) -> AppResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if DEFERRED
        .try_with(|d| d.borrow_mut().extend(entries.iter().cloned()))
        .is_ok()
    {
        return Ok(());
    }
    append_direct(tx, entries).await
}

/// Appends entries to the chain inside `tx`, now.
pub async fn append_direct(tx: &mut Tx, entries: &[AuditEntry]) -> AppResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let (mut seq, mut prev): (i64, String) = tx
        .fetch_one(
            &format!("SELECT last_seq, last_hash FROM audit_head WHERE id = 1{lock}"),
            vec![],
        )
        .await?;
    for chunk in entries.chunks(50) {
        let mut sql = String::from(INSERT_COLS);
        let mut a = Vec::with_capacity(chunk.len() * COLS);
        for (i, e) in chunk.iter().enumerate() {
            seq += 1;
            let hash = entry_hash(seq, &prev, e);
            if i > 0 {
                sql.push_str(", ");
            }
            let base = i * COLS;
            let phs: Vec<String> = (1..=COLS).map(|k| format!("${}", base + k)).collect();
            sql.push('(');
            sql.push_str(&phs.join(", "));
            sql.push(')');
            a.extend(args![
                seq,
                e.at,
                &e.actor_kind,
                e.actor_id,
                &e.actor_login,
                &e.role,
                e.org_id,
                &e.action,
                &e.resource_type,
                &e.resource_id,
                &e.client_addr,
                &e.outcome,
                &e.purpose,
                &e.request_id,
                &e.details,
                prev.clone(),
                hash.clone()
            ]);
            prev = hash;
        }
        tx.execute(&sql, a).await?;
    }
    tx.execute(
        "UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1",
        args![seq, prev],
    )
    .await?;
    Ok(())
}

enum Msg {
    Entry(Box<AuditEntry>),
    Flush(oneshot::Sender<()>),
}

/// Group-committing writer for read audits.
#[derive(Clone, Debug)]
pub struct AuditSink {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("audit message")
    }
}

impl AuditSink {
    /// Starts the writer task.
    pub fn start(db: Db) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(65_536);
        let handle = tokio::spawn(writer(db, rx));
        (Self { tx }, handle)
    }

    /// Queues an entry; it is durable after the next group commit (milliseconds).
    pub async fn record(&self, e: AuditEntry) {
        if self.tx.send(Msg::Entry(Box::new(e))).await.is_err() {
            tracing::error!("audit writer has stopped; entry dropped");
        }
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn writer(db: Db, mut rx: mpsc::Receiver<Msg>) {
    let mut batch: Vec<AuditEntry> = Vec::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Entry(e) => batch.push(*e),
                Msg::Flush(w) => waiters.push(w),
            }
            if batch.len() >= 2000 {
                break;
            }
            next = rx.try_recv().ok();
        }
        let mut delay = std::time::Duration::from_millis(100);
        while !batch.is_empty() {
            match write_batch(&db, &batch).await {
                Ok(()) => batch.clear(),
                Err(e) => {
                    // Keep the batch and retry: entries are never silently dropped.
                    tracing::error!(error = %e, pending = batch.len(), "audit batch failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(10));
                }
            }
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

async fn write_batch(db: &Db, batch: &[AuditEntry]) -> AppResult<()> {
    let mut tx = db.begin().await?;
    append(&mut tx, batch).await?;
    tx.commit().await
}

/// A stored entry.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: i64,
    pub actor_login: String,
    pub role: String,
    pub org_id: Option<i64>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub client_addr: String,
    pub outcome: String,
    pub purpose: String,
    pub request_id: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    fn entry(&self) -> AuditEntry {
        AuditEntry {
            at: self.at,
            actor_kind: self.actor_kind.clone(),
            actor_id: self.actor_id,
            actor_login: self.actor_login.clone(),
            role: self.role.clone(),
            org_id: self.org_id,
            action: self.action.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            client_addr: self.client_addr.clone(),
            outcome: self.outcome.clone(),
            purpose: self.purpose.clone(),
            request_id: self.request_id.clone(),
            details: self.details.clone(),
        }
    }
}

/// The result of checking the chain.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VerifyReport {
    pub checked: i64,
    /// The first entry that does not fit the chain, with the reason.
    pub first_broken: Option<(i64, String)>,
}

/// Recomputes the whole chain and names the first broken entry.
pub async fn verify(db: &Db) -> AppResult<VerifyReport> {
    let mut prev = "genesis".to_string();
    let mut expected_seq = 1;
    let mut checked = 0;
    loop {
        let rows: Vec<AuditRow> = db
            .fetch_all(
                "SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT 5000",
                args![expected_seq],
            )
            .await?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            let broken = |why: &str| {
                Ok(VerifyReport {
                    checked,
                    first_broken: Some((r.seq, why.to_string())),
                })
            };
            if r.seq != expected_seq {
                return Ok(VerifyReport {
                    checked,
                    first_broken: Some((
                        expected_seq,
                        format!("缺少序号 {expected_seq} 的记录（可能被删除）"),
                    )),
                });
            }
            if r.prev_hash != prev {
                return broken("前序哈希不匹配（前一条记录被改动或删除）");
            }
            if entry_hash(r.seq, &prev, &r.entry()) != r.hash {
                return broken("记录内容与哈希不符（记录被篡改）");
            }
            prev = r.hash;
            expected_seq += 1;
            checked += 1;
        }
    }
    let (head_seq, head_hash): (i64, String) = db
        .fetch_one(
            "SELECT last_seq, last_hash FROM audit_head WHERE id = 1",
            vec![],
        )
        .await?;
    if head_seq != checked || head_hash != prev {
        return Ok(VerifyReport {
            checked,
            first_broken: Some((checked + 1, "链尾记录缺失（最新记录被删除）".into())),
        });
    }
    Ok(VerifyReport {
        checked,
        first_broken: None,
    })
}

/// Search criteria for the audit page and API.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub outcome: Option<String>,
    /// Inclusive start date, YYYY-MM-DD (China Standard Time).
    pub from: Option<String>,
    /// Inclusive end date, YYYY-MM-DD.
    pub to: Option<String>,
}

fn day_start_micros(d: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok()?;
    let t = date.and_hms_opt(0, 0, 0)? - chrono::Duration::hours(8);
    Some(t.and_utc().timestamp_micros())
}

/// One window of the log within the caller's scope, newest first, and the number matching.
pub async fn search_page(
    db: &Db,
    ctx: &RequestContext,
    q: &AuditQuery,
    w: &yiyang_store::Window,
) -> AppResult<yiyang_store::Paged<AuditRow>> {
    let scope = ctx.require(yiyang_core::perm::AUDIT_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    let nonempty = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(a) = nonempty(&q.actor) {
        f.add("actor_login = ?", a);
    }
    if let Some(a) = nonempty(&q.action) {
        f.add(
            "action LIKE ? ESCAPE '\\'",
            format!("{}%", a.replace('%', "\\%").replace('_', "\\_")),
        );
    }
    if let Some(a) = nonempty(&q.resource_type) {
        f.add("resource_type = ?", a);
    }
    if let Some(a) = nonempty(&q.resource_id) {
        f.add("resource_id = ?", a);
    }
    if let Some(a) = nonempty(&q.outcome) {
        f.add("outcome = ?", a);
    }
    let date = |field: &str, label: &str, v: &Option<String>| -> AppResult<Option<i64>> {
        match nonempty(v) {
            None => Ok(None),
            Some(d) => day_start_micros(&d).map(Some).ok_or_else(|| {
                AppError::field(
                    "audit.date_invalid",
                    field,
                    format!("{label}格式不正确：{d}（应为 YYYY-MM-DD）"),
                )
            }),
        }
    };
    let (from, to) = (
        date("from", "开始日期", &q.from)?,
        date("to", "结束日期", &q.to)?,
    );
    if let (Some(a), Some(b)) = (from, to)
        && a > b
    {
        return Err(AppError::field(
            "audit.range_invalid",
            "to",
            "结束日期不能早于开始日期",
        ));
    }
    if let Some(o) = nonempty(&q.outcome)
        && !["success", "failure", "denied", "not_found"].contains(&o.as_str())
    {
        return Err(AppError::field(
            "audit.outcome_invalid",
            "outcome",
            format!("结果须为 success、failure、denied 或 not_found：{o}"),
        ));
    }
    if let Some(t) = from {
        f.add("at >= ?", t);
    }
    if let Some(t) = to {
        f.add("at < ?", t + 86_400_000_000);
    }
    let total = db
        .scalar(
            &format!("SELECT COUNT(*) FROM audit_log{}", f.sql()),
            f.args.clone(),
        )
        .await?;
    let where_sql = f.sql();
    let tail = w.tail(&mut f, "seq DESC");
    let rows = db
        .fetch_all(&format!("SELECT * FROM audit_log{where_sql}{tail}"), f.args)
        .await?;
    Ok(yiyang_store::Paged::exact(rows, total))
}
