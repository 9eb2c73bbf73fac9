//! Wiring: opens the database, applies migrations, builds the shared state, composes the
//! router from every module, and starts the background workers.

use crate::config::Config;
use axum::Router;
use axum::routing::get;
use std::collections::HashMap;
use std::sync::Arc;
use yiyang_core::{AppResult, Clock, SystemClock};
use yiyang_platform::audit::AuditSink;
use yiyang_platform::crypto::Keys;
use yiyang_platform::jobs::{self, Handler, JobStats, Worker};
use yiyang_platform::masking::Masking;
use yiyang_platform::notify::{self, Channel, InboxChannel};
use yiyang_platform::web::metrics_access::MetricsAccess;
use yiyang_platform::web::{self, AppState, NavItem, Services};
use yiyang_store::{Db, DbOptions, Migration};

/// Every module's migrations, in order.
pub fn migrations() -> Vec<&'static [Migration]> {
    vec![
        yiyang_platform::schema::MIGRATIONS,
        yiyang_basedata::schema::MIGRATIONS,
        yiyang_patients::schema::MIGRATIONS,
        yiyang_integration::schema::MIGRATIONS,
    ]
}

pub async fn open_db(cfg: &Config) -> AppResult<Db> {
    if cfg.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&cfg.data_dir)?;
    }
    Db::connect(
        &cfg.database_url,
        &DbOptions {
            max_connections: cfg.db_max_connections,
            ..Default::default()
        },
    )
    .await
}

/// Applies migrations and the idempotent reference data (roles, masking defaults, schedules).
pub async fn prepare(db: &Db, clock: &dyn Clock) -> AppResult<Vec<String>> {
    let applied = yiyang_store::migrate(db, &migrations(), clock.now_micros()).await?;
    yiyang_platform::identity::seed_roles(db).await?;
    yiyang_platform::masking::seed_defaults(db, clock.now_micros()).await?;
    yiyang_patients::prepare(db, clock.now_micros()).await?;
    jobs::upsert_schedule(
        db,
        "证照到期提醒",
        yiyang_basedata::service::LICENCE_JOB,
        "0 0 8 * * *",
        clock.now_micros(),
    )
    .await?;
    jobs::upsert_schedule(
        db,
        "清理过期会话",
        SESSION_CLEANUP_JOB,
        "0 30 3 * * *",
        clock.now_micros(),
    )
    .await?;
    Ok(applied)
}

pub const SESSION_CLEANUP_JOB: &str = "platform.session_cleanup";

fn nav() -> Vec<NavItem> {
    use yiyang_core::perm;
    let mut v = vec![
        NavItem {
            href: "/",
            label: "首页",
            group: "工作台",
            permission: None,
            icon: "home",
        },
        NavItem {
            href: "/inbox",
            label: "消息中心",
            group: "工作台",
            permission: None,
            icon: "inbox",
        },
    ];
    v.extend(yiyang_patients::nav());
    v.extend(yiyang_basedata::nav());
    v.extend(yiyang_integration::nav());
    v.extend([
        NavItem {
            href: "/admin/accounts",
            label: "账号与角色",
            group: "系统管理",
            permission: Some(perm::ACCOUNT_READ),
            icon: "key",
        },
        NavItem {
            href: "/admin/clients",
            label: "接入客户端",
            group: "系统管理",
            permission: Some(perm::CLIENT_MANAGE),
            icon: "plug",
        },
        NavItem {
            href: "/admin/masking",
            label: "脱敏算法与规则",
            group: "数据安全",
            permission: Some(perm::MASKING_MANAGE),
            icon: "shield",
        },
        NavItem {
            href: "/audit",
            label: "审计日志",
            group: "数据安全",
            permission: Some(perm::AUDIT_READ),
            icon: "log",
        },
        NavItem {
            href: "/jobs",
            label: "后台任务",
            group: "系统管理",
            permission: Some(perm::JOBS_READ),
            icon: "clock",
        },
        NavItem {
            href: "/api/docs",
            label: "接口文档",
            group: "系统管理",
            permission: Some(perm::CLIENT_MANAGE),
            icon: "book",
        },
    ]);
    v
}

/// A running platform: state plus the handles needed for a clean shutdown.
pub struct Platform {
    pub state: AppState,
    audit_task: tokio::task::JoinHandle<()>,
}

impl Platform {
    pub async fn start(db: Db, keys: Keys, clock: Arc<dyn Clock>, cookie_secure: bool) -> Platform {
        Self::start_with(db, keys, clock, cookie_secure, MetricsAccess::default()).await
    }

    /// [`Platform::start`] with who may read `/metrics`.
    pub async fn start_with(
        db: Db,
        keys: Keys,
        clock: Arc<dyn Clock>,
        cookie_secure: bool,
        metrics_access: MetricsAccess,
    ) -> Platform {
        let keys = Arc::new(keys);
        let (audit, audit_task) = AuditSink::start(db.clone());
        let state = AppState(Arc::new(Services {
            masking: Masking::new(db.clone(), keys.clone()),
            db,
            clock,
            keys,
            audit,
            metrics: Arc::default(),
            job_stats: Arc::new(JobStats::default()),
            nav: nav(),
            cookie_secure,
            metrics_access,
        }));
        Platform { state, audit_task }
    }

    /// Flushes and stops the audit writer: no entry is lost on a clean shutdown.
    pub async fn shutdown(self) {
        self.state.audit.flush().await;
        let Platform { state, audit_task } = self;
        drop(state);
        audit_task.abort();
        let _ = audit_task.await;
    }
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The job worker with every module's handlers.
pub fn worker(st: &AppState, node: String) -> Worker {
    worker_with(st, node, vec![])
}

/// The job worker with extra notification channels (SMS, WeChat, push, voice gateways).
pub fn worker_with(st: &AppState, node: String, gateways: Vec<Arc<dyn Channel>>) -> Worker {
    let mut handlers: HashMap<String, Handler> = HashMap::new();
    let mut channels: Vec<Arc<dyn Channel>> = vec![Arc::new(InboxChannel)];
    channels.extend(gateways);
    handlers.insert(
        notify::DELIVER_JOB.into(),
        notify::deliver_handler(st.db.clone(), st.clock.clone(), channels),
    );
    let s = st.clone();
    handlers.insert(
        yiyang_basedata::service::LICENCE_JOB.into(),
        Arc::new(move |_| {
            let s = s.clone();
            Box::pin(async move {
                yiyang_basedata::service::warn_expiring_licences(&s)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.message)
            })
        }),
    );
    let s = st.clone();
    handlers.insert(
        yiyang_integration::critical::ESCALATE_JOB.into(),
        Arc::new(move |payload| {
            let s = s.clone();
            Box::pin(async move {
                yiyang_integration::critical::escalate(&s, &payload)
                    .await
                    .map_err(|e| e.message)
            })
        }),
    );
    let s = st.clone();
    handlers.insert(
        SESSION_CLEANUP_JOB.into(),
        Arc::new(move |_| {
            let s = s.clone();
            Box::pin(async move {
                let cutoff = s.clock.now_micros() - 30 * 86_400_000_000;
                s.db.execute(
                    "DELETE FROM sessions WHERE expires_at < $1",
                    yiyang_store::args![cutoff],
                )
                .await
                .map(|_| ())
                .map_err(|e| e.message)
            })
        }),
    );
    Worker::new(st.db.clone(), st.clock.clone(), handlers, node)
}

/// The whole HTTP surface.
pub fn router(st: AppState) -> Router {
    Router::new()
        .merge(yiyang_platform::web::pages::routes())
        .merge(yiyang_basedata::pages::routes())
        .merge(yiyang_basedata::api::routes())
        .merge(yiyang_patients::pages::routes())
        .merge(yiyang_patients::api::routes())
        .merge(yiyang_integration::pages::routes())
        .merge(yiyang_integration::api::routes())
        .merge(crate::api::routes())
        .merge(crate::home::routes())
        .route(
            yiyang_platform::web::assets::CSS_PATH,
            get(yiyang_platform::web::assets::css),
        )
        .route(
            "/assets/favicon.svg",
            get(yiyang_platform::web::assets::favicon),
        )
        // Browsers ask for /favicon.ico on pages without an icon link (JSON, CSV): no 404.
        .route("/favicon.ico", get(yiyang_platform::web::assets::favicon))
        .route("/metrics", get(yiyang_platform::web::metrics::render))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route_layer(axum::middleware::from_fn_with_state(
            st.clone(),
            web::metrics::track,
        ))
        .layer(axum::middleware::from_fn(web::rejection::standard_errors))
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            web::auth_middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            web::security_headers,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(web::UPLOAD_LIMIT))
        .with_state(st)
}

async fn readyz(
    axum::extract::State(st): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match st.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {}", e.message),
        )
            .into_response(),
    }
}
