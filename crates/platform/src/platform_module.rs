//! The platform as a module: accounts, roles, clients, masking, audit, jobs, notifications.
//! It declares every built-in role (other modules grant their permissions to them).

use crate::jobs::Handler;
use crate::module::{
    BoxFut, Card, ErrorCode, FieldKind, Module, Permission, Role, Schedule, Section, Setting,
};
use crate::notify::{self, Channel, GatewayChannel, InboxChannel};
use crate::web::layout::nav_item;
use crate::web::{AppState, NavItem};
use axum::Router;
use std::sync::{Arc, OnceLock};
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_store::Migration;

pub const SESSION_CLEANUP_JOB: &str = "platform.session_cleanup";

/// The platform's settings (section `[platform]`).
#[derive(Debug, Clone, Default)]
pub struct PlatformConfig {
    /// Gateway channels: (channel, URL).
    pub gateways: Vec<(&'static str, String)>,
    /// Bearer token sent to the gateways.
    pub notify_token: Option<String>,
}

impl PlatformConfig {
    pub fn from_section(s: &Section) -> AppResult<PlatformConfig> {
        let gateways = notify::GATEWAY_CHANNELS
            .iter()
            .filter_map(|(name, _)| s.opt(&format!("notify_{name}_url")).map(|u| (*name, u)))
            .collect();
        Ok(PlatformConfig {
            gateways,
            notify_token: s.opt("notify_token"),
        })
    }

    /// The configured gateway channels.
    pub fn gateway_channels(&self) -> Vec<Arc<dyn Channel>> {
        self.gateways
            .iter()
            .map(|(name, url)| {
                Arc::new(GatewayChannel::new(
                    name,
                    url.clone(),
                    self.notify_token.clone(),
                )) as Arc<dyn Channel>
            })
            .collect()
    }
}

#[derive(Default)]
pub struct PlatformModule {
    config: OnceLock<PlatformConfig>,
}

impl PlatformModule {
    pub fn config(&self) -> PlatformConfig {
        self.config.get().cloned().unwrap_or_default()
    }
}

const ROLES: &[Role] = &[
    role("platform_admin", "平台管理员", true),
    role("org_admin", "机构管理员", false),
    role("data_reviewer", "信息审核员", true),
    role("security_auditor", "安全审计员", true),
    role("doctor", "医生", false),
    role("nurse", "护士", false),
    role("caregiver", "护理员", false),
    role("pharmacist", "药师", false),
    role("insurance_auditor", "医保审核员", true),
    role("elder", "老人", false),
    role("family", "家属", false),
];

const fn role(code: &'static str, name: &'static str, city_wide: bool) -> Role {
    Role {
        code,
        name,
        city_wide,
    }
}

const fn p(name: &'static str, label: &'static str, roles: &'static [&'static str]) -> Permission {
    Permission { name, label, roles }
}

const PERMISSIONS: &[Permission] = &[
    p(
        perm::ACCOUNT_READ,
        "查看账号",
        &["platform_admin", "org_admin"],
    ),
    p(
        perm::ACCOUNT_WRITE,
        "管理账号",
        &["platform_admin", "org_admin"],
    ),
    p(perm::ROLE_MANAGE, "管理角色", &["platform_admin"]),
    p(perm::CLIENT_MANAGE, "管理接入客户端", &["platform_admin"]),
    p(
        perm::MASKING_MANAGE,
        "管理脱敏算法与规则",
        &["platform_admin"],
    ),
    p(
        perm::AUDIT_READ,
        "查阅审计日志",
        &["platform_admin", "security_auditor"],
    ),
    p(
        perm::JOBS_READ,
        "查看后台任务",
        &["platform_admin", "org_admin"],
    ),
    p(perm::JOBS_MANAGE, "管理后台任务", &["platform_admin"]),
];

const FIELD_KINDS: &[FieldKind] = &[
    fk("name", "姓名", "keep_surname"),
    fk("id_number", "身份证号", "id_4_4"),
    fk("phone", "手机号", "phone_3_4"),
    fk("address", "地址", "truncate_9"),
    fk("free_text", "自由文本", "redact"),
];

const fn fk(kind: &'static str, label: &'static str, alg: &'static str) -> FieldKind {
    FieldKind {
        kind,
        label,
        default_algorithm: alg,
    }
}

const SETTINGS: &[Setting] = &[
    Setting {
        key: "notify_token",
        env: "YIYANG_NOTIFY_TOKEN",
        default: "",
        doc: "发送给通知网关的 Bearer 令牌（可选）",
    },
    Setting {
        key: "notify_sms_url",
        env: "YIYANG_NOTIFY_SMS_URL",
        default: "",
        doc: "短信网关地址（不填则不发短信）",
    },
    Setting {
        key: "notify_wechat_url",
        env: "YIYANG_NOTIFY_WECHAT_URL",
        default: "",
        doc: "微信模板消息网关地址",
    },
    Setting {
        key: "notify_push_url",
        env: "YIYANG_NOTIFY_PUSH_URL",
        default: "",
        doc: "App 推送网关地址",
    },
    Setting {
        key: "notify_voice_url",
        env: "YIYANG_NOTIFY_VOICE_URL",
        default: "",
        doc: "语音电话网关地址",
    },
];

impl Module for PlatformModule {
    fn name(&self) -> &'static str {
        "platform"
    }
    fn title(&self) -> &'static str {
        "平台基础"
    }
    fn migrations(&self) -> &'static [Migration] {
        crate::schema::MIGRATIONS
    }
    fn routes(&self) -> Router<AppState> {
        crate::web::pages::routes()
    }
    fn nav(&self) -> Vec<NavItem> {
        vec![
            nav_item("/", "首页", "工作台", None, "home"),
            nav_item("/inbox", "消息中心", "工作台", None, "inbox"),
        ]
        .into_iter()
        .chain(admin_nav())
        .collect()
    }
    fn roles(&self) -> &'static [Role] {
        ROLES
    }
    fn error_codes(&self) -> &'static [ErrorCode] {
        crate::errors::ERROR_CODES
    }
    fn permissions(&self) -> &'static [Permission] {
        PERMISSIONS
    }
    fn field_kinds(&self) -> &'static [FieldKind] {
        FIELD_KINDS
    }
    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }
    fn configure(&self, section: &Section) -> AppResult<()> {
        let _ = self.config.set(PlatformConfig::from_section(section)?);
        Ok(())
    }
    fn jobs(&self, st: &AppState) -> Vec<(&'static str, Handler)> {
        let mut channels: Vec<Arc<dyn Channel>> = vec![Arc::new(InboxChannel)];
        channels.extend(self.config().gateway_channels());
        let deliver = notify::deliver_handler(st.db.clone(), st.clock.clone(), channels);
        let s = st.clone();
        let cleanup: Handler = Arc::new(move |_| {
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
        });
        vec![
            (notify::DELIVER_JOB, deliver),
            (SESSION_CLEANUP_JOB, cleanup),
        ]
    }
    fn schedules(&self) -> &'static [Schedule] {
        &[Schedule {
            name: "清理过期会话",
            job: SESSION_CLEANUP_JOB,
            cron: "0 30 3 * * *",
        }]
    }
    fn home_cards<'a>(
        &'a self,
        st: &'a AppState,
        ctx: &'a RequestContext,
    ) -> BoxFut<'a, AppResult<Vec<Card>>> {
        Box::pin(async move {
            let unread = notify::unread_count(&st.db, ctx.actor.id).await?;
            let mut cards = vec![Card::queue("未读消息", unread, "/inbox?unread=1")];
            if ctx.has(perm::JOBS_READ) {
                let counts = crate::jobs::counts(&st.db).await?;
                let dead = counts
                    .iter()
                    .find(|(s, _)| s == "dead")
                    .map(|(_, n)| *n)
                    .unwrap_or(0);
                cards.push(Card::queue("失败任务", dead, "/jobs?status=dead"));
            }
            if ctx.has(perm::AUDIT_READ) {
                // Refused operations today: what a security auditor looks at first.
                let today = yiyang_core::clock::today_cst(st.clock.as_ref())
                    .format("%Y-%m-%d")
                    .to_string();
                let q = crate::audit::AuditQuery {
                    outcome: Some("denied".into()),
                    from: Some(today.clone()),
                    to: Some(today.clone()),
                    ..Default::default()
                };
                let n = crate::audit::search_page(&st.db, ctx, &q, &yiyang_store::Window::first(1))
                    .await?
                    .total;
                cards.push(Card::queue(
                    "今日被拒绝的操作",
                    n,
                    format!("/audit?outcome=denied&from={today}&to={today}"),
                ));
            }
            Ok(cards)
        })
    }
}

/// Navigation entries of the platform's administration pages (their groups are shown
/// after every module's own groups, see `Registry::nav`).
fn admin_nav() -> Vec<NavItem> {
    vec![
        nav_item(
            "/admin/accounts",
            "账号与角色",
            "系统管理",
            Some(perm::ACCOUNT_READ),
            "key",
        ),
        nav_item(
            "/admin/clients",
            "接入客户端",
            "系统管理",
            Some(perm::CLIENT_MANAGE),
            "plug",
        ),
        nav_item(
            "/admin/masking",
            "脱敏算法与规则",
            "数据安全",
            Some(perm::MASKING_MANAGE),
            "shield",
        ),
        nav_item(
            "/audit",
            "审计日志",
            "数据安全",
            Some(perm::AUDIT_READ),
            "log",
        ),
        nav_item(
            "/jobs",
            "后台任务",
            "系统管理",
            Some(perm::JOBS_READ),
            "clock",
        ),
        nav_item(
            "/api/docs",
            "接口文档",
            "系统管理",
            Some(perm::CLIENT_MANAGE),
            "book",
        ),
    ]
}
