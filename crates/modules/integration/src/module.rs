//! The integration engine as a module of the registry.

use axum::Router;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa::OpenApi;
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::jobs::Handler;
use yiyang_platform::module::{
    BoxFut, Card, EncryptedColumn, ErrorCode, Module, Permission, Section, Setting,
};
use yiyang_platform::web::{AppState, NavItem};
use yiyang_store::Migration;

pub struct IntegrationModule;

/// The module's settings (section `[integration]`).
#[derive(Debug, Clone)]
pub struct IntegrationConfig {
    /// Address the MLLP listeners bind to.
    pub mllp_bind: String,
    /// Processing lanes on PostgreSQL (SQLite always has one).
    pub hl7_lanes: i64,
    /// Budget of one processing transaction, overriding the built-in one (tuning).
    pub hl7_batch_ms: Option<u64>,
    /// Most admissions processed together as one run (tuning).
    pub hl7_run: usize,
}

impl Default for IntegrationConfig {
    fn default() -> Self {
        IntegrationConfig {
            mllp_bind: "127.0.0.1".into(),
            hl7_lanes: 4,
            hl7_batch_ms: None,
            hl7_run: 128,
        }
    }
}

static CONFIG: OnceLock<IntegrationConfig> = OnceLock::new();

impl IntegrationConfig {
    /// The configured settings (defaults until `configure` ran).
    pub fn get() -> &'static IntegrationConfig {
        CONFIG.get_or_init(IntegrationConfig::default)
    }

    pub fn from_section(s: &Section) -> AppResult<IntegrationConfig> {
        let c = IntegrationConfig {
            mllp_bind: s.opt("mllp_bind").unwrap_or_else(|| "127.0.0.1".into()),
            hl7_lanes: s.parse("hl7_lanes")?,
            hl7_batch_ms: match s.opt("hl7_batch_ms") {
                Some(_) => Some(s.parse("hl7_batch_ms")?),
                None => None,
            },
            hl7_run: s.parse("hl7_run")?,
        };
        if c.hl7_lanes < 1 || c.hl7_run < 1 {
            return Err(AppError::validation(
                "config.invalid",
                "配置项 integration.hl7_lanes 与 integration.hl7_run 至少为 1",
            ));
        }
        Ok(c)
    }
}

const SETTINGS: &[Setting] = &[
    Setting {
        key: "mllp_bind",
        env: "YIYANG_MLLP_BIND",
        default: "127.0.0.1",
        doc: "HL7 MLLP 监听绑定的地址（端口在各接入通道上配置）",
    },
    Setting {
        key: "hl7_lanes",
        env: "YIYANG_HL7_LANES",
        default: "4",
        doc: "PostgreSQL 上并行处理消息的通道数（SQLite 固定为 1；宜为 64 的约数；决策 0012）",
    },
    Setting {
        key: "hl7_batch_ms",
        env: "YIYANG_HL7_BATCH_MS",
        default: "",
        doc: "一次处理事务的时长上限（毫秒，调优用；不填则 SQLite 8/100、PostgreSQL 200）",
    },
    Setting {
        key: "hl7_run",
        env: "YIYANG_HL7_RUN",
        default: "128",
        doc: "连续入院消息合并处理的最大条数（SQLite 上发送方等待 ACK 时为 16；调优用；决策 0008）",
    },
];

const PERMISSIONS: &[Permission] = &[
    Permission {
        name: perm::INTEGRATION_READ,
        label: "查看集成平台（接入、消息、监控）",
        roles: &["platform_admin", "org_admin"],
    },
    Permission {
        name: perm::INTEGRATION_MANAGE,
        label: "管理集成平台（接入通道、消息重放）",
        roles: &["platform_admin"],
    },
    Permission {
        name: perm::CRITICAL_MANAGE,
        label: "设置危急值通知规则",
        roles: &["platform_admin", "org_admin"],
    },
];

/// Columns this module encrypts with the data key (re-encrypted by `keys rewrap`).
const ENCRYPTED: &[EncryptedColumn] = &[EncryptedColumn {
    table: "integration_subscriptions",
    id_column: "id",
    cipher_column: "secret_cipher",
    nullable: true,
}];

/// An entry of this module's group.
fn nav_item(
    href: &'static str,
    label: &'static str,
    permission: &'static str,
    icon: &'static str,
) -> NavItem {
    yiyang_platform::web::layout::nav_item(href, label, "集成平台", Some(permission), icon)
}

impl Module for IntegrationModule {
    fn name(&self) -> &'static str {
        "integration"
    }
    fn title(&self) -> &'static str {
        "集成平台"
    }
    fn migrations(&self) -> &'static [Migration] {
        crate::schema::MIGRATIONS
    }
    fn home_cards<'a>(
        &'a self,
        st: &'a AppState,
        ctx: &'a RequestContext,
    ) -> BoxFut<'a, AppResult<Vec<Card>>> {
        Box::pin(crate::dashboard::home_cards(st, ctx))
    }
    fn home_charts<'a>(
        &'a self,
        st: &'a AppState,
        ctx: &'a RequestContext,
    ) -> BoxFut<'a, AppResult<Vec<yiyang_platform::web::chart::Chart>>> {
        Box::pin(crate::dashboard::home_charts(st, ctx))
    }
    fn routes(&self) -> Router<AppState> {
        crate::pages::routes().merge(crate::api::routes())
    }
    fn nav(&self) -> Vec<NavItem> {
        let read = perm::INTEGRATION_READ;
        vec![
            nav_item("/integration/channels", "系统接入管理", read, "plug"),
            nav_item("/integration/monitor", "服务监控", read, "monitor"),
            nav_item("/integration/messages", "消息查询", read, "message"),
            nav_item("/integration/errors", "异常消息队列", read, "alert"),
            nav_item(
                "/integration/critical-routes",
                "危急值通知规则",
                read,
                "settings",
            ),
            nav_item("/integration/subscriptions", "发布订阅", read, "send"),
            nav_item(
                "/integration/alerts",
                "危急值提醒",
                perm::PATIENT_READ,
                "heart",
            ),
            nav_item(
                "/integration/orders",
                "检查检验申请单",
                perm::PATIENT_READ,
                "list",
            ),
            nav_item(
                "/integration/appointments",
                "预约挂号",
                perm::PATIENT_READ,
                "clock",
            ),
        ]
    }
    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        let mut doc = crate::api::ApiDoc::openapi();
        doc.merge(crate::outbound_api::ApiDoc::openapi());
        Some(doc)
    }
    fn error_codes(&self) -> &'static [ErrorCode] {
        crate::errors::ERROR_CODES
    }
    fn permissions(&self) -> &'static [Permission] {
        PERMISSIONS
    }
    fn encrypted_columns(&self) -> &'static [EncryptedColumn] {
        ENCRYPTED
    }
    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }
    fn configure(&self, s: &Section) -> AppResult<()> {
        let _ = CONFIG.set(IntegrationConfig::from_section(s)?);
        Ok(())
    }
    /// The demo hospital's HL7 channel and a day of its traffic, through the real path.
    fn seed_demo<'a>(&'a self, st: &'a AppState) -> BoxFut<'a, AppResult<()>> {
        Box::pin(crate::demo::seed(st))
    }
    /// Escalation of an unacknowledged critical value (a delayed job).
    fn jobs(&self, st: &AppState) -> Vec<(&'static str, Handler)> {
        let s = st.clone();
        let escalate: Handler = Arc::new(move |payload| {
            let s = s.clone();
            Box::pin(async move {
                crate::critical::escalate(&s, &payload)
                    .await
                    .map_err(|e| e.message)
            })
        });
        vec![(crate::critical::ESCALATE_JOB, escalate)]
    }
    /// The MLLP supervisor (reconciles listeners with enabled channels every 3 s) and the
    /// outbound delivery loop.
    fn listeners(&self, st: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        vec![
            crate::listener::spawn(
                st.clone(),
                IntegrationConfig::get().mllp_bind.clone(),
                Duration::from_secs(3),
                stop.clone(),
            ),
            crate::outbound::spawn(st.clone(), stop),
        ]
    }
}
