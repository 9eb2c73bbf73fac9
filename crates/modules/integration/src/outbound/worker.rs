//! The delivery worker: claims the head delivery of each subscription under a lease, sends it
//! and records success, a retry with backoff, or a dead letter.

use super::{Failure, MAX_RESPONSE, backoff_micros, clip, fail, send_mllp, send_webhook};
use std::time::Duration;
use yiyang_core::{AppError, AppResult};
use yiyang_platform::web::AppState;
use yiyang_store::{Backend, args};

/// Deliveries in flight at once on one node (each from a different subscription).
const CONCURRENCY: usize = 8;
/// Attempts per [`deliver_due`] pass, so one pass returns even under a steady stream.
const MAX_PER_PASS: usize = 1000;
/// How often [`spawn`]'s loop looks for due deliveries.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, sqlx::FromRow)]
struct Claimed {
    id: i64,
    subscription_id: i64,
    event: String,
    payload: String,
    attempts: i64,
    kind: String,
    host: String,
    port: i64,
    url: String,
    secret_cipher: Option<Vec<u8>>,
    max_attempts: i64,
    timeout_secs: i64,
}

/// Claims the due head delivery of up to `limit` subscriptions and leases them to `token`.
async fn claim(st: &AppState, token: &str, limit: usize) -> AppResult<Vec<Claimed>> {
    let now = st.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE OF d SKIP LOCKED"
    } else {
        ""
    };
    let rows: Vec<Claimed> = tx
        .fetch_all(
            &format!(
                "SELECT d.id, d.subscription_id, d.event, d.payload, d.attempts, s.kind, s.host, s.port, s.url, s.secret_cipher, s.max_attempts, s.timeout_secs \
                 FROM integration_deliveries d JOIN integration_subscriptions s ON s.id = d.subscription_id \
                 WHERE d.status = 'pending' AND s.enabled = TRUE AND d.next_attempt_at <= $1 \
                 AND (d.locked_until IS NULL OR d.locked_until < $1) \
                 AND d.id = (SELECT MIN(h.id) FROM integration_deliveries h WHERE h.subscription_id = d.subscription_id AND h.status = 'pending') \
                 ORDER BY d.next_attempt_at, d.id LIMIT $2{lock}"
            ),
            args![now, limit as i64],
        )
        .await?;
    for c in &rows {
        // The lease outlives the attempt's own timeout, so only a dead node lets it lapse.
        let until = now + (c.timeout_secs.max(1) + 30) * 1_000_000;
        tx.execute(
            "UPDATE integration_deliveries SET attempts = attempts + 1, last_attempt_at = $1, locked_by = $2, locked_until = $3 WHERE id = $4",
            args![now, token, until, c.id],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|mut c| {
            c.attempts += 1;
            c
        })
        .collect())
}

/// Claims and delivers due deliveries until none is due (each subscription in order, up to
/// eight subscriptions at once); returns the number of attempts made.
pub async fn deliver_due(st: &AppState) -> AppResult<usize> {
    let token = format!(
        "{}-{}",
        std::process::id(),
        &yiyang_platform::crypto::random_token()[..12]
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Yiyang-Outbound/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(AppError::internal)?;
    let mut set = tokio::task::JoinSet::new();
    let mut done = 0usize;
    let mut first_err: Option<AppError> = None;
    loop {
        let room = CONCURRENCY - set.len();
        if room > 0 && first_err.is_none() && done + set.len() < MAX_PER_PASS {
            match claim(st, &token, room).await {
                Ok(claimed) => {
                    for c in claimed {
                        let (st, http, token) = (st.clone(), http.clone(), token.clone());
                        set.spawn(async move { attempt(&st, &http, &token, c).await });
                    }
                }
                Err(e) => first_err = Some(e),
            }
        }
        match set.join_next().await {
            None => break,
            Some(Ok(Ok(()))) => done += 1,
            Some(Ok(Err(e))) => {
                done += 1;
                first_err.get_or_insert(e);
            }
            Some(Err(e)) => {
                first_err.get_or_insert(AppError::internal(e));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// The delivery loop: a pass every second until `stop` turns true. A pass in progress is
/// abandoned on stop; its leases lapse and the deliveries are retried.
pub fn spawn(
    st: AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = deliver_due(&st) => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e.message, "outbound delivery pass failed");
                    }
                }
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
    })
}

async fn attempt(st: &AppState, http: &reqwest::Client, token: &str, c: Claimed) -> AppResult<()> {
    let timeout = Duration::from_secs(c.timeout_secs.clamp(1, 120) as u64);
    let result = if c.kind == "mllp" {
        match u16::try_from(c.port) {
            Ok(port) => send_mllp(&c.host, port, timeout, &c.payload).await,
            Err(_) => Err(fail(format!("目标端口无效：{}", c.port))),
        }
    } else {
        match c.secret_cipher.as_deref().map(|b| st.keys.decrypt(b)) {
            Some(Ok(secret)) => {
                send_webhook(http, &c.url, &secret, &c.event, c.id, timeout, &c.payload).await
            }
            _ => Err(fail("无法读取签名密钥，请在订阅中重新设置")),
        }
    };
    finish(st, token, &c, result).await
}

async fn finish(
    st: &AppState,
    token: &str,
    c: &Claimed,
    result: Result<String, Failure>,
) -> AppResult<()> {
    let now = st.clock.now_micros();
    let mut tx = st.db.begin().await?;
    match result {
        Ok(response) => {
            tx.execute(
                "UPDATE integration_deliveries SET status = 'delivered', delivered_at = $1, last_response = $2, locked_by = NULL, locked_until = NULL \
                 WHERE id = $3 AND locked_by = $4 AND status = 'pending'",
                args![now, clip(&response, MAX_RESPONSE), c.id, token],
            )
            .await?;
            tx.execute(
                "UPDATE integration_subscriptions SET last_success_at = $1 WHERE id = $2",
                args![now, c.subscription_id],
            )
            .await?;
        }
        Err(f) => {
            let error = clip(&f.error, 500);
            let dead = c.attempts >= c.max_attempts;
            tracing::warn!(delivery = c.id, subscription = c.subscription_id, attempts = c.attempts, dead, error = %error, "outbound delivery failed");
            tx.execute(
                "UPDATE integration_deliveries SET status = $1, next_attempt_at = $2, last_error = $3, last_response = $4, locked_by = NULL, locked_until = NULL \
                 WHERE id = $5 AND locked_by = $6 AND status = 'pending'",
                args![
                    if dead { "dead" } else { "pending" },
                    now + backoff_micros(c.attempts),
                    &error,
                    clip(&f.response, MAX_RESPONSE),
                    c.id,
                    token
                ],
            )
            .await?;
            tx.execute(
                "UPDATE integration_subscriptions SET last_error = $1, last_error_at = $2 WHERE id = $3",
                args![&error, now, c.subscription_id],
            )
            .await?;
        }
    }
    tx.commit().await
}
