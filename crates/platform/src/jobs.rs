//! A durable job queue in the database: immediate, delayed and cron jobs, retries with
//! exponential backoff, and a dead state for jobs that keep failing.
//!
//! Claiming uses `FOR UPDATE SKIP LOCKED` on PostgreSQL so several nodes share the queue;
//! on SQLite the claim runs in a `BEGIN IMMEDIATE` transaction. A job whose worker died is
//! reclaimed when its lease runs out. Cron schedules advance by compare-and-set, so one
//! node enqueues each occurrence.

use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use yiyang_core::{AppError, AppResult, Clock, RequestContext};
use yiyang_store::{Backend, Db, Filter, Tx, args};

/// What a job handler returns.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Runs one kind of job.
pub type Handler = Arc<dyn Fn(serde_json::Value) -> JobFuture + Send + Sync>;

/// How long a claimed job is leased before another worker may reclaim it.
const LEASE_MICROS: i64 = 5 * 60 * 1_000_000;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: String,
    pub schedule: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const JOB_COLS: &str = "id, kind, payload, status, run_at, attempts, max_attempts, last_error, schedule, created_at, finished_at";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Schedule {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub cron: String,
    pub next_run_at: i64,
    pub enabled: bool,
}

/// Enqueues a job inside the caller's transaction, to run at `run_at` (micros).
pub async fn enqueue_in(
    tx: &mut Tx,
    kind: &str,
    payload: &serde_json::Value,
    run_at: i64,
    now: i64,
) -> AppResult<i64> {
    tx.scalar(
        "INSERT INTO jobs (kind, payload, status, run_at, created_at) VALUES ($1, $2, 'queued', $3, $4) RETURNING id",
        args![kind, payload.to_string(), run_at, now],
    )
    .await
}

/// Enqueues a job in its own transaction.
pub async fn enqueue(
    db: &Db,
    kind: &str,
    payload: &serde_json::Value,
    run_at: i64,
    now: i64,
) -> AppResult<i64> {
    let mut tx = db.begin().await?;
    let id = enqueue_in(&mut tx, kind, payload, run_at, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Next occurrence of a cron expression (seconds field optional) after `after_micros`, in CST.
pub fn next_cron(expr: &str, after_micros: i64) -> AppResult<i64> {
    let cron = croner::Cron::new(expr)
        .with_seconds_optional()
        .parse()
        .map_err(|e| {
            AppError::field("jobs.cron_invalid", "cron", format!("Cron 表达式无效：{e}"))
        })?;
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
    let after = chrono::DateTime::from_timestamp_micros(after_micros)
        .unwrap_or_default()
        .with_timezone(&cst);
    let next = cron.find_next_occurrence(&after, false).map_err(|e| {
        AppError::field(
            "jobs.cron_invalid",
            "cron",
            format!("Cron 表达式无下一次执行时间：{e}"),
        )
    })?;
    Ok(next.timestamp_micros())
}

/// Creates or updates a named cron schedule.
pub async fn upsert_schedule(
    db: &Db,
    name: &str,
    kind: &str,
    cron: &str,
    now: i64,
) -> AppResult<()> {
    let next = next_cron(cron, now)?;
    db.execute(
        "INSERT INTO job_schedules (name, kind, cron, payload, next_run_at, enabled) VALUES ($1, $2, $3, '{}', $4, TRUE) \
         ON CONFLICT (name) DO UPDATE SET kind = $2, cron = $3",
        args![name, kind, cron, next],
    )
    .await
    .map(|_| ())
}

/// The worker: registered handlers and the loop that runs them.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    clock: Arc<dyn Clock>,
    handlers: Arc<HashMap<String, Handler>>,
    node: String,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("node", &self.node)
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct JobStats {
    pub succeeded: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
}

impl Worker {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        handlers: HashMap<String, Handler>,
        node: String,
    ) -> Self {
        Self {
            db,
            clock,
            handlers: Arc::new(handlers),
            node,
        }
    }

    /// Claims and runs due jobs until none is due; returns how many ran.
    pub async fn run_due(&self, stats: &JobStats) -> AppResult<usize> {
        self.fire_schedules().await?;
        let mut n = 0;
        while let Some(job) = self.claim().await? {
            self.run(job, stats).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Runs until `stop` resolves, polling every `interval`.
    pub async fn run_forever(
        self,
        interval: Duration,
        stats: Arc<JobStats>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.run_due(&stats).await {
                tracing::warn!(error = %e, "job worker pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => break,
            }
        }
    }

    async fn fire_schedules(&self) -> AppResult<()> {
        let now = self.clock.now_micros();
        let due: Vec<Schedule> = self
            .db
            .fetch_all("SELECT id, name, kind, cron, next_run_at, enabled FROM job_schedules WHERE enabled = TRUE AND next_run_at <= $1", args![now])
            .await?;
        for s in due {
            let next = next_cron(&s.cron, now)?;
            let mut tx = self.db.begin().await?;
            let won = tx
                .execute(
                    "UPDATE job_schedules SET next_run_at = $1 WHERE id = $2 AND next_run_at = $3",
                    args![next, s.id, s.next_run_at],
                )
                .await?;
            if won == 1 {
                tx.execute(
                    "INSERT INTO jobs (kind, payload, status, run_at, schedule, created_at) VALUES ($1, '{}', 'queued', $2, $3, $2)",
                    args![&s.kind, now, &s.name],
                )
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn claim(&self) -> AppResult<Option<Job>> {
        let now = self.clock.now_micros();
        let mut tx = self.db.begin().await?;
        let skip = if tx.backend() == Backend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let id: Option<(i64,)> = tx
            .fetch_optional(
                &format!(
                    "SELECT id FROM jobs WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until < $1) \
                     ORDER BY run_at, id LIMIT 1{skip}"
                ),
                args![now],
            )
            .await?;
        let Some((id,)) = id else {
            tx.commit().await?;
            return Ok(None);
        };
        let job: Job = tx
            .fetch_one(
                &format!(
                    "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2 WHERE id = $3 RETURNING {JOB_COLS}"
                ),
                args![&self.node, now + LEASE_MICROS, id],
            )
            .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    async fn run(&self, job: Job, stats: &JobStats) -> AppResult<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap_or_default();
        let result = match self.handlers.get(&job.kind) {
            Some(h) => h(payload).await,
            None => Err(format!("没有名为 {} 的任务处理器", job.kind)),
        };
        let now = self.clock.now_micros();
        match result {
            Ok(()) => {
                stats.succeeded.fetch_add(1, Relaxed);
                self.db
                    .execute("UPDATE jobs SET status = 'done', finished_at = $1, last_error = '' WHERE id = $2", args![now, job.id])
                    .await?;
            }
            Err(e) => {
                stats.failed.fetch_add(1, Relaxed);
                tracing::warn!(job = job.id, kind = %job.kind, error = %e, "job failed");
                if job.attempts >= job.max_attempts {
                    self.db
                        .execute("UPDATE jobs SET status = 'dead', finished_at = $1, last_error = $2 WHERE id = $3", args![now, e, job.id])
                        .await?;
                } else {
                    let backoff = backoff_micros(job.attempts);
                    self.db
                        .execute("UPDATE jobs SET status = 'queued', run_at = $1, last_error = $2 WHERE id = $3", args![now + backoff, e, job.id])
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// 10 s, 20 s, 40 s … capped at one hour.
pub fn backoff_micros(attempts: i64) -> i64 {
    let secs = 10i64
        .saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1))
        .min(3600);
    secs * 1_000_000
}

/// Jobs for the jobs page, newest first (the latest 200).
pub async fn list(db: &Db, ctx: &RequestContext, status: Option<&str>) -> AppResult<Vec<Job>> {
    Ok(
        list_page(db, ctx, status, &yiyang_store::Window::first(200))
            .await?
            .rows,
    )
}

/// Columns the job list sorts by.
pub const JOB_SORTS: &[yiyang_store::Sort] = &[
    yiyang_store::Sort {
        key: "kind",
        sql: "kind",
    },
    yiyang_store::Sort {
        key: "status",
        sql: "status",
    },
    yiyang_store::Sort {
        key: "run_at",
        sql: "run_at",
    },
    yiyang_store::Sort {
        key: "attempts",
        sql: "attempts",
    },
];

/// One window of jobs (newest first unless sorted) and the number matching.
pub async fn list_page(
    db: &Db,
    ctx: &RequestContext,
    status: Option<&str>,
    w: &yiyang_store::Window,
) -> AppResult<yiyang_store::Paged<Job>> {
    ctx.require(yiyang_core::perm::JOBS_READ)?;
    let mut f = Filter::new();
    if let Some(s) = status.filter(|s| !s.is_empty()) {
        yiyang_core::text::one_of("status", "状态", s, &["queued", "running", "done", "dead"])?;
        f.add("status = ?", s);
    }
    let where_sql = f.sql();
    let total = db
        .scalar(
            &format!("SELECT COUNT(*) FROM jobs{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "id DESC");
    let rows = db
        .fetch_all(
            &format!("SELECT {JOB_COLS} FROM jobs{where_sql}{tail}"),
            f.args,
        )
        .await?;
    Ok(yiyang_store::Paged::exact(rows, total))
}

pub async fn counts(db: &Db) -> AppResult<Vec<(String, i64)>> {
    db.fetch_all(
        "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status",
        vec![],
    )
    .await
}

pub async fn schedules(db: &Db) -> AppResult<Vec<Schedule>> {
    db.fetch_all(
        "SELECT id, name, kind, cron, next_run_at, enabled FROM job_schedules ORDER BY name",
        vec![],
    )
    .await
}

/// Puts a dead or failed job back in the queue to run now.
pub async fn retry(db: &Db, ctx: &RequestContext, id: i64) -> AppResult<()> {
    ctx.require(yiyang_core::perm::JOBS_MANAGE)?;
    let now = ctx.clock.now_micros();
    let mut tx = db.begin().await?;
    let n = tx
        .execute("UPDATE jobs SET status = 'queued', run_at = $1, attempts = 0 WHERE id = $2 AND status = 'dead'", args![now, id])
        .await?;
    if n == 0 {
        return Err(AppError::conflict(
            "jobs.not_dead",
            "只有已失败（死信）的任务可以重试",
        ));
    }
    crate::audit::append(
        &mut tx,
        &[crate::audit::AuditEntry::new(ctx, "jobs.retry", "job", id)],
    )
    .await?;
    tx.commit().await
}

/// Runs a schedule now (enqueues one job immediately).
pub async fn trigger_schedule(db: &Db, ctx: &RequestContext, id: i64) -> AppResult<i64> {
    ctx.require(yiyang_core::perm::JOBS_MANAGE)?;
    let now = ctx.clock.now_micros();
    let s: Schedule = db
        .fetch_optional(
            "SELECT id, name, kind, cron, next_run_at, enabled FROM job_schedules WHERE id = $1",
            args![id],
        )
        .await?
        .ok_or_else(|| AppError::not_found("job_schedule"))?;
    let mut tx = db.begin().await?;
    let job = tx
        .scalar(
            "INSERT INTO jobs (kind, payload, status, run_at, schedule, created_at) VALUES ($1, '{}', 'queued', $2, $3, $2) RETURNING id",
            args![&s.kind, now, &s.name],
        )
        .await?;
    crate::audit::append(
        &mut tx,
        &[crate::audit::AuditEntry::new(
            ctx,
            "jobs.trigger",
            "job_schedule",
            id,
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_micros(1), 10_000_000);
        assert_eq!(backoff_micros(2), 20_000_000);
        assert_eq!(backoff_micros(30), 3_600_000_000);
    }

    #[test]
    fn cron_next_runs_in_china_time() {
        // 2026-11-26 00:00 UTC = 08:00 CST; daily at 09:00 CST is one hour later.
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
            .unwrap()
            .timestamp_micros();
        assert_eq!(next_cron("0 9 * * *", t).unwrap() - t, 3_600_000_000);
        assert!(next_cron("not a cron", t).is_err());
    }
}
