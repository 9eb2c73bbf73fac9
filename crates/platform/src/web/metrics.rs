//! Prometheus metrics: requests by route and status, latency histogram, jobs, DB pool.

use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(String, String, u16), u64>>,
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_micros: AtomicU64,
    samples: Mutex<HashMap<(&'static str, i64), Window>>,
}

/// Recent samples of one series: when, and how long (µs).
type Window = VecDeque<(Instant, u32)>;

/// Most recent latency samples kept per series and key.
const SAMPLES: usize = 4096;

/// Latency figures of one series over a recent window (this node only).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Recent {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add((secs * 1e6) as u64, Relaxed);
    }
}

impl Metrics {
    /// Records one latency sample (e.g. an HL7 ACK on a channel).
    pub fn sample(&self, series: &'static str, key: i64, d: std::time::Duration) {
        let mut m = self.samples.lock().expect("metrics lock");
        let q = m.entry((series, key)).or_default();
        if q.len() == SAMPLES {
            q.pop_front();
        }
        q.push_back((Instant::now(), d.as_micros().min(u32::MAX as u128) as u32));
    }

    /// Percentiles of the samples of the last `window` (at most the last 4,096 samples).
    pub fn recent(&self, series: &'static str, key: i64, window: std::time::Duration) -> Recent {
        let m = self.samples.lock().expect("metrics lock");
        let Some(q) = m.get(&(series, key)) else {
            return Recent::default();
        };
        let mut v: Vec<u32> = q
            .iter()
            .filter(|(t, _)| t.elapsed() <= window)
            .map(|(_, us)| *us)
            .collect();
        drop(m);
        if v.is_empty() {
            return Recent::default();
        }
        v.sort_unstable();
        let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)] as f64 / 1e3;
        Recent {
            count: v.len() as u64,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
        }
    }
}

pub async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    st.metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(State(st): State<AppState>, req: Request) -> Response {
    let client = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !st.metrics_access.allows(client, bearer) {
        let e = yiyang_core::AppError::new(
            "metrics.forbidden",
            403,
            "指标仅对白名单地址或持有指标令牌的采集端开放",
        );
        return super::api_error_response(&e, "");
    }
    let m = &st.metrics;
    let mut s = String::new();
    s.push_str("# HELP yiyang_http_requests_total HTTP requests by method, route and status.\n# TYPE yiyang_http_requests_total counter\n");
    let mut rows: Vec<_> = m
        .requests
        .lock()
        .expect("metrics lock")
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    rows.sort();
    for ((method, route, status), n) in rows {
        let _ = writeln!(
            s,
            "yiyang_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
        );
    }
    s.push_str("# HELP yiyang_http_request_duration_seconds Request latency.\n# TYPE yiyang_http_request_duration_seconds histogram\n");
    for (i, b) in BUCKETS.iter().enumerate() {
        let _ = writeln!(
            s,
            "yiyang_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
            m.buckets[i].load(Relaxed)
        );
    }
    let count = m.count.load(Relaxed);
    let _ = writeln!(
        s,
        "yiyang_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(
        s,
        "yiyang_http_request_duration_seconds_sum {}",
        m.sum_micros.load(Relaxed) as f64 / 1e6
    );
    let _ = writeln!(s, "yiyang_http_request_duration_seconds_count {count}");
    s.push_str("# HELP yiyang_jobs_total Jobs run by this node by result.\n# TYPE yiyang_jobs_total counter\n");
    let _ = writeln!(
        s,
        "yiyang_jobs_total{{result=\"success\"}} {}",
        st.job_stats.succeeded.load(Relaxed)
    );
    let _ = writeln!(
        s,
        "yiyang_jobs_total{{result=\"failure\"}} {}",
        st.job_stats.failed.load(Relaxed)
    );
    if let Ok(counts) = crate::jobs::counts(&st.db).await {
        s.push_str("# HELP yiyang_jobs Jobs in the queue by status.\n# TYPE yiyang_jobs gauge\n");
        for (status, n) in counts {
            let _ = writeln!(s, "yiyang_jobs{{status=\"{status}\"}} {n}");
        }
    }
    let (size, idle) = st.db.pool_stats();
    s.push_str("# HELP yiyang_db_pool_connections Database pool connections.\n# TYPE yiyang_db_pool_connections gauge\n");
    let _ = writeln!(s, "yiyang_db_pool_connections{{state=\"open\"}} {size}");
    let _ = writeln!(s, "yiyang_db_pool_connections{{state=\"idle\"}} {idle}");
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s).into_response()
}
