//! Notifications through an outbox with pluggable channels.
//!
//! `send_in` writes the message to the outbox and a delivery job in the caller's
//! transaction, so a notification is sent if and only if the change that caused it commits.
//! Delivery goes through a [`Channel`]; the default `inbox` channel delivers to the
//! in-platform inbox, so reminders work without any external account.

use crate::jobs;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use yiyang_core::{AppError, AppResult, Clock, RequestContext};
use yiyang_store::{Db, Tx, args};

pub const DELIVER_JOB: &str = "notify.deliver";

/// A message to one account.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub account_id: i64,
    pub title: String,
    pub body: String,
    pub link: String,
    /// Channel name; `inbox` unless a configured channel is wanted.
    pub channel: String,
    /// Sending twice with the same key sends once (e.g. one licence warning per day).
    pub dedupe_key: Option<String>,
}

/// One outbox row being delivered.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub account_id: i64,
    pub title: String,
    pub body: String,
    pub link: String,
    pub status: String,
}

/// A delivery channel (inbox, SMS, WeChat template message, app push, voice call …).
pub trait Channel: Send + Sync {
    fn name(&self) -> &'static str;
    fn deliver<'a>(
        &'a self,
        db: &'a Db,
        now: i64,
        msg: &'a OutboxRow,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Delivers into the in-platform inbox.
pub struct InboxChannel;

impl Channel for InboxChannel {
    fn name(&self) -> &'static str {
        "inbox"
    }

    fn deliver<'a>(
        &'a self,
        db: &'a Db,
        now: i64,
        m: &'a OutboxRow,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            db.execute(
                "INSERT INTO inbox (account_id, title, body, link, created_at) VALUES ($1, $2, $3, $4, $5)",
                args![m.account_id, &m.title, &m.body, &m.link, now],
            )
            .await
            .map(|_| ())
            .map_err(|e| e.message)
        })
    }
}

/// The external channels a gateway can serve.
pub const GATEWAY_CHANNELS: &[(&str, &str)] = &[
    ("sms", "短信"),
    ("wechat", "微信模板消息"),
    ("push", "App推送"),
    ("voice", "语音电话"),
];

/// Delivers through an operator's HTTP gateway for SMS, WeChat template messages, app push
/// or voice calls: POSTs `{channel, account_id, login, phone, title, body, link}` as JSON
/// and counts any 2xx answer as delivered. Configured per channel with
/// `YIYANG_NOTIFY_<CHANNEL>_URL` (http; put a TLS proxy in front for https gateways).
pub struct GatewayChannel {
    name: &'static str,
    url: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl GatewayChannel {
    pub fn new(name: &'static str, url: String, token: Option<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("http client");
        Self {
            name,
            url,
            token,
            client,
        }
    }
}

impl Channel for GatewayChannel {
    fn name(&self) -> &'static str {
        self.name
    }

    fn deliver<'a>(
        &'a self,
        db: &'a Db,
        _now: i64,
        m: &'a OutboxRow,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let who: Option<(String, String)> = db
                .fetch_optional(
                    "SELECT login, phone FROM accounts WHERE id = $1",
                    args![m.account_id],
                )
                .await
                .map_err(|e| e.message)?;
            let (login, phone) = who.ok_or_else(|| format!("账号 {} 不存在", m.account_id))?;
            if matches!(self.name, "sms" | "voice") && phone.is_empty() {
                return Err("账号未登记手机号，无法发送".into());
            }
            let body = serde_json::json!({"channel": self.name, "account_id": m.account_id, "login": login, "phone": phone, "title": m.title, "body": m.body, "link": m.link, "outbox_id": m.id});
            let mut req = self.client.post(&self.url).json(&body);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.map_err(|e| format!("网关不可达：{e}"))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("网关返回 {}", resp.status()))
            }
        })
    }
}

/// Writes notifications to the outbox inside `tx`, with their delivery jobs.
pub async fn send_in(tx: &mut Tx, now: i64, items: &[Notification]) -> AppResult<usize> {
    let mut queued = 0;
    for n in items {
        let id: Option<(i64,)> = tx
            .fetch_optional(
                "INSERT INTO outbox (channel, account_id, title, body, link, dedupe_key, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                args![&n.channel, n.account_id, &n.title, &n.body, &n.link, &n.dedupe_key, now],
            )
            .await?;
        if let Some((id,)) = id {
            jobs::enqueue_in(
                tx,
                DELIVER_JOB,
                &serde_json::json!({ "outbox_id": id }),
                now,
                now,
            )
            .await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// The job handler that delivers one outbox row through its channel.
pub fn deliver_handler(
    db: Db,
    clock: Arc<dyn Clock>,
    channels: Vec<Arc<dyn Channel>>,
) -> jobs::Handler {
    let channels: Arc<HashMap<&'static str, Arc<dyn Channel>>> =
        Arc::new(channels.into_iter().map(|c| (c.name(), c)).collect());
    Arc::new(move |payload| {
        let (db, clock, channels) = (db.clone(), clock.clone(), channels.clone());
        Box::pin(async move {
            let id = payload["outbox_id"]
                .as_i64()
                .ok_or("payload 缺少 outbox_id")?;
            let row: Option<OutboxRow> = db
                .fetch_optional("SELECT id, channel, account_id, title, body, link, status FROM outbox WHERE id = $1", args![id])
                .await
                .map_err(|e| e.message)?;
            let Some(row) = row else {
                return Err(format!("通知 {id} 不存在"));
            };
            if row.status == "sent" {
                return Ok(());
            }
            let now = clock.now_micros();
            let result = match channels.get(row.channel.as_str()) {
                Some(ch) => ch.deliver(&db, now, &row).await,
                None => Err(format!("通知渠道 {} 未配置", row.channel)),
            };
            match &result {
                Ok(()) => db.execute("UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1 WHERE id = $2", args![now, id]).await,
                Err(e) => db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2", args![e, id]).await,
            }
            .map_err(|e| e.message)?;
            result
        })
    })
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InboxItem {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub link: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

/// One window of the caller's inbox (only unread ones when `unread`), newest first.
pub async fn inbox_page(
    db: &Db,
    ctx: &RequestContext,
    unread: bool,
    w: &yiyang_store::Window,
) -> AppResult<yiyang_store::Paged<InboxItem>> {
    let mut f = yiyang_store::Filter::new();
    f.add("account_id = ?", ctx.actor.id);
    if unread {
        f.raw("read_at IS NULL");
    }
    let where_sql = f.sql();
    let total = db
        .scalar(
            &format!("SELECT COUNT(*) FROM inbox{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "id DESC");
    let rows = db
        .fetch_all(
            &format!(
                "SELECT id, title, body, link, created_at, read_at FROM inbox{where_sql}{tail}"
            ),
            f.args,
        )
        .await?;
    Ok(yiyang_store::Paged::exact(rows, total))
}

pub async fn unread_count(db: &Db, account_id: i64) -> AppResult<i64> {
    db.scalar(
        "SELECT COUNT(*) FROM inbox WHERE account_id = $1 AND read_at IS NULL",
        args![account_id],
    )
    .await
}

/// Marks one message (or all with `None`) as read.
pub async fn mark_read(db: &Db, ctx: &RequestContext, id: Option<i64>) -> AppResult<()> {
    let now = ctx.clock.now_micros();
    let n = match id {
        Some(id) => db.execute("UPDATE inbox SET read_at = $1 WHERE id = $2 AND account_id = $3 AND read_at IS NULL", args![now, id, ctx.actor.id]).await?,
        None => db.execute("UPDATE inbox SET read_at = $1 WHERE account_id = $2 AND read_at IS NULL", args![now, ctx.actor.id]).await?,
    };
    if id.is_some() && n == 0 {
        let mine: Option<(i64,)> = db
            .fetch_optional(
                "SELECT id FROM inbox WHERE id = $1 AND account_id = $2",
                args![id, ctx.actor.id],
            )
            .await?;
        if mine.is_none() {
            return Err(AppError::not_found("inbox"));
        }
    }
    Ok(())
}
