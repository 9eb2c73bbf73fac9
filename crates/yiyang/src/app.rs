//! Wiring: opens the database, applies migrations, builds the shared state, composes the
//! router from every module, and starts the background workers. Every loop over the
//! subsystems goes through [`modules`], the one list of them.

use crate::config::Config;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use yiyang_core::{AppResult, Clock, SystemClock};
use yiyang_platform::audit::AuditSink;
use yiyang_platform::crypto::Keys;
use yiyang_platform::jobs::{JobStats, Worker};
use yiyang_platform::masking::Masking;
use yiyang_platform::module::{Module, Registry};
use yiyang_platform::notify::{self, Channel, InboxChannel};
use yiyang_platform::web::metrics_access::MetricsAccess;
use yiyang_platform::web::{self, AppState, Services};
use yiyang_store::{Db, DbOptions, Migration};

/// The subsystems of this platform, in dependency order (migrations run in this order).
/// Adding a subsystem is its crate plus one line here.
pub fn modules() -> Vec<Arc<dyn Module>> {
    vec![
        Arc::new(yiyang_platform::PlatformModule::default()),
        Arc::new(yiyang_basedata::BasedataModule),
        Arc::new(yiyang_patients::PatientsModule),
        Arc::new(yiyang_integration::IntegrationModule),
        Arc::new(yiyang_iot::IotModule),
    ]
}

/// The registry of [`modules`], at their default settings.
pub fn registry() -> Arc<Registry> {
    Arc::new(Registry::new(modules()))
}

/// The registry of [`modules`], each configured from its section of `cfg`.
pub fn configured_registry(cfg: &Config) -> AppResult<Arc<Registry>> {
    let r = registry();
    r.configure(|m| cfg.section(m.name(), m.settings()))?;
    Ok(r)
}

/// Every module's migrations, in order.
pub fn migrations() -> Vec<&'static [Migration]> {
    registry().migrations()
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

/// Applies migrations and the idempotent reference data (roles, masking defaults, schedules,
/// each module's `prepare`).
pub async fn prepare(db: &Db, clock: &dyn Clock) -> AppResult<Vec<String>> {
    registry().prepare(db, clock.now_micros()).await
}

pub use yiyang_platform::platform_module::SESSION_CLEANUP_JOB;

/// A running platform: state plus the handles needed for a clean shutdown.
pub struct Platform {
    pub state: AppState,
    audit_task: tokio::task::JoinHandle<()>,
}

impl Platform {
    /// A platform of [`modules`] at their default settings.
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
        Self::start_modules(registry(), db, keys, clock, cookie_secure, metrics_access).await
    }

    /// A platform of the configured `registry`.
    pub async fn start_modules(
        registry: Arc<Registry>,
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
            nav: registry.nav(),
            registry,
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
    Worker::new(st.db.clone(), st.clock.clone(), st.registry.jobs(st), node)
}

/// The job worker with notification delivery through the inbox and `gateways` only (tests
/// of gateway channels).
pub fn worker_with(st: &AppState, node: String, gateways: Vec<Arc<dyn Channel>>) -> Worker {
    let mut handlers = st.registry.jobs(st);
    let mut channels: Vec<Arc<dyn Channel>> = vec![Arc::new(InboxChannel)];
    channels.extend(gateways);
    handlers.insert(
        notify::DELIVER_JOB.into(),
        notify::deliver_handler(st.db.clone(), st.clock.clone(), channels),
    );
    Worker::new(st.db.clone(), st.clock.clone(), handlers, node)
}

/// The whole HTTP surface.
pub fn router(st: AppState) -> Router {
    st.registry
        .router()
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
