//! The IoT module as a module of the registry.

use crate::{IOT_ALARM, IOT_MANAGE, IOT_READ};
use axum::Router;
use std::sync::{Arc, OnceLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa::OpenApi;
use yiyang_core::{AppError, AppResult, RequestContext};
use yiyang_platform::jobs::Handler;
use yiyang_platform::module::{
    BoxFut, Card, ErrorCode, Module, Permission, Schedule, Section, Setting,
};
use yiyang_platform::web::{AppState, NavItem};
use yiyang_store::Migration;

pub struct IotModule;

/// The module's settings (section `[iot]`).
#[derive(Debug, Clone)]
pub struct IotConfig {
    /// The MQTT broker (`mqtt://host:port`); empty: no broker (the demo simulator then feeds
    /// the ingest inside the process).
    pub mqtt_url: String,
    pub mqtt_username: String,
    pub mqtt_password: String,
    /// Client id of this node (unique per node).
    pub mqtt_client_id: String,
    /// Shared-subscription group: the nodes of one group share the uplinks.
    pub mqtt_group: String,
    /// Minutes without data before a device is offline.
    pub offline_minutes: i64,
    /// Oldest measured time accepted, in days.
    pub max_age_days: i64,
    /// The demo simulator: `auto` (on when the demo city is seeded), `on`, `off`.
    pub simulate: String,
    /// Readings per batch transaction at most.
    pub batch: usize,
}

impl Default for IotConfig {
    fn default() -> Self {
        IotConfig {
            mqtt_url: String::new(),
            mqtt_username: String::new(),
            mqtt_password: String::new(),
            mqtt_client_id: "yiyang".into(),
            mqtt_group: "yiyang".into(),
            offline_minutes: 10,
            max_age_days: 7,
            simulate: "auto".into(),
            batch: 4000,
        }
    }
}

static CONFIG: OnceLock<IotConfig> = OnceLock::new();

impl IotConfig {
    pub fn get() -> &'static IotConfig {
        CONFIG.get_or_init(IotConfig::default)
    }

    pub fn offline_micros(&self) -> i64 {
        self.offline_minutes * 60_000_000
    }

    pub fn max_age_micros(&self) -> i64 {
        self.max_age_days * 86_400_000_000
    }

    pub fn from_section(s: &Section) -> AppResult<IotConfig> {
        let c = IotConfig {
            mqtt_url: s.get("mqtt_url").trim().to_string(),
            mqtt_username: s.get("mqtt_username").to_string(),
            mqtt_password: s.get("mqtt_password").to_string(),
            mqtt_client_id: s.get("mqtt_client_id").to_string(),
            mqtt_group: s.get("mqtt_group").to_string(),
            offline_minutes: s.parse("offline_minutes")?,
            max_age_days: s.parse("max_age_days")?,
            simulate: s.get("simulate").to_string(),
            batch: s.parse("batch")?,
        };
        if !c.mqtt_url.is_empty() && crate::mqtt::parse_url(&c.mqtt_url).is_none() {
            return Err(AppError::validation(
                "config.invalid",
                format!(
                    "配置项 iot.mqtt_url 不正确：{}（应为 mqtt://主机:端口）",
                    c.mqtt_url
                ),
            ));
        }
        if !matches!(c.simulate.as_str(), "auto" | "on" | "off") {
            return Err(AppError::validation(
                "config.invalid",
                "配置项 iot.simulate 须为 auto、on 或 off",
            ));
        }
        if c.offline_minutes < 1 || c.max_age_days < 1 || c.batch < 1 {
            return Err(AppError::validation(
                "config.invalid",
                "配置项 iot.offline_minutes、iot.max_age_days 与 iot.batch 至少为 1",
            ));
        }
        Ok(c)
    }
}

const SETTINGS: &[Setting] = &[
    Setting {
        key: "mqtt_url",
        env: "YIYANG_MQTT_URL",
        default: "",
        doc: "MQTT 代理地址（mqtt://主机:端口，如 Mosquitto 或 EMQX）；不填则不连接代理，演示模拟器在进程内直接写入",
    },
    Setting {
        key: "mqtt_username",
        env: "YIYANG_MQTT_USERNAME",
        default: "",
        doc: "平台连接 MQTT 代理的用户名",
    },
    Setting {
        key: "mqtt_password",
        env: "YIYANG_MQTT_PASSWORD",
        default: "",
        doc: "平台连接 MQTT 代理的密码",
    },
    Setting {
        key: "mqtt_client_id",
        env: "YIYANG_MQTT_CLIENT_ID",
        default: "yiyang",
        doc: "本节点的 MQTT 客户端标识（多节点时各不相同）",
    },
    Setting {
        key: "mqtt_group",
        env: "YIYANG_MQTT_GROUP",
        default: "yiyang",
        doc: "共享订阅组名：同组的多个节点分担上行消息（$share/组名/…）",
    },
    Setting {
        key: "offline_minutes",
        env: "YIYANG_IOT_OFFLINE_MINUTES",
        default: "10",
        doc: "设备超过多少分钟无数据视为离线并告警",
    },
    Setting {
        key: "max_age_days",
        env: "YIYANG_IOT_MAX_AGE_DAYS",
        default: "7",
        doc: "接收的最早测量时间（天）；更早的读数进入死信列表",
    },
    Setting {
        key: "simulate",
        env: "YIYANG_IOT_SIMULATE",
        default: "auto",
        doc: "演示设备模拟器：auto（已生成演示数据时开启）、on、off",
    },
    Setting {
        key: "batch",
        env: "YIYANG_IOT_BATCH",
        default: "4000",
        doc: "一个写入事务最多包含的读数条数（调优用）",
    },
];

const PERMISSIONS: &[Permission] = &[
    Permission {
        name: IOT_READ,
        label: "查看物联网监测（设备、体征、告警、大屏）",
        roles: &[
            "platform_admin",
            "org_admin",
            "doctor",
            "nurse",
            "caregiver",
        ],
    },
    Permission {
        name: IOT_MANAGE,
        label: "管理物联网设备（登记、绑定、凭据、维护、固件升级、规则）",
        roles: &["platform_admin", "org_admin"],
    },
    Permission {
        name: IOT_ALARM,
        label: "处理告警（确认、解除）",
        roles: &[
            "platform_admin",
            "org_admin",
            "doctor",
            "nurse",
            "caregiver",
        ],
    },
];

/// Audit actions and resources of this module, in Chinese.
const AUDIT_LABELS: &[(&str, &str)] = &[
    ("iot.model.create", "新增设备型号"),
    ("iot.device.create", "登记设备"),
    ("iot.device.update", "修改设备"),
    ("iot.device.import", "批量导入设备"),
    ("iot.device.bind", "绑定设备"),
    ("iot.device.unbind", "解除设备绑定"),
    ("iot.device.secret", "签发设备接入凭据"),
    ("iot.alarm.ack", "确认告警"),
    ("iot.alarm.resolve", "解除告警"),
    ("iot.rules.import", "导入预警规则"),
    ("iot.observation.create", "录入护理观察"),
    ("iot.scale.set", "设定 SpO2 量表"),
    ("iot.thresholds.set", "设定个人预警阈值"),
    ("iot.plan.create", "新增维护计划"),
    ("iot.work.done", "完成维护工单"),
    ("iot.work.cancel", "取消维护工单"),
    ("iot.campaign.create", "新建固件升级任务"),
    ("iot.campaign.start", "开始固件升级"),
    ("iot.campaign.cancel", "取消固件升级"),
    ("iot.zone.create", "新增定位区域"),
    ("iot.geofence.create", "新增安全围栏"),
    ("iot.readings.read", "查看体征读数"),
    ("iot_model", "设备型号"),
    ("iot_device", "物联网设备"),
    ("iot_alarm", "告警"),
    ("iot_rule_set", "预警规则"),
    ("iot_plan", "维护计划"),
    ("iot_work_order", "维护工单"),
    ("iot_campaign", "固件升级任务"),
    ("iot_zone", "定位区域"),
    ("iot_dead_letter", "物联网死信"),
];

const SCHEDULES: &[Schedule] = &[
    Schedule {
        name: "设备离线与电量检查",
        job: crate::readings::CHECK_JOB,
        cron: "0 * * * * *",
    },
    Schedule {
        name: "设备维护工单生成",
        job: crate::maintenance::PLAN_JOB,
        cron: "0 30 6 * * *",
    },
];

fn nav_item(
    href: &'static str,
    label: &'static str,
    permission: &'static str,
    icon: &'static str,
) -> NavItem {
    yiyang_platform::web::layout::nav_item(href, label, "物联网监测", Some(permission), icon)
}

impl Module for IotModule {
    fn name(&self) -> &'static str {
        "iot"
    }
    fn title(&self) -> &'static str {
        "物联网监测与设备管理"
    }
    fn audit_labels(&self) -> &'static [(&'static str, &'static str)] {
        AUDIT_LABELS
    }
    fn migrations(&self) -> &'static [Migration] {
        crate::schema::MIGRATIONS
    }
    fn routes(&self) -> Router<AppState> {
        crate::pages::routes().merge(crate::api::routes())
    }
    fn nav(&self) -> Vec<NavItem> {
        vec![
            nav_item("/iot/screen", "病区监护大屏", IOT_READ, "tv"),
            nav_item("/iot/alarms", "告警中心", IOT_READ, "alert"),
            nav_item("/iot/devices", "设备管理", IOT_READ, "watch"),
            nav_item("/iot/maintenance", "维护与升级", IOT_READ, "tool"),
            nav_item("/iot/zones", "区域与围栏", IOT_READ, "map"),
            nav_item("/iot/rules", "预警规则", IOT_READ, "settings"),
            nav_item("/iot/ingest", "数据接入与死信", IOT_MANAGE, "plug"),
            yiyang_platform::web::layout::nav_item(
                "/iot/my",
                "今日监测",
                "居民服务",
                Some(yiyang_core::perm::RESIDENT_SELF),
                "heart",
            ),
        ]
    }
    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        Some(crate::api::ApiDoc::openapi())
    }
    fn error_codes(&self) -> &'static [ErrorCode] {
        crate::errors::ERROR_CODES
    }
    fn permissions(&self) -> &'static [Permission] {
        PERMISSIONS
    }
    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }
    fn configure(&self, s: &Section) -> AppResult<()> {
        let _ = CONFIG.set(IotConfig::from_section(s)?);
        Ok(())
    }
    fn schedules(&self) -> &'static [Schedule] {
        SCHEDULES
    }
    fn jobs(&self, st: &AppState) -> Vec<(&'static str, Handler)> {
        let job =
            |f: fn(AppState, serde_json::Value) -> BoxFut<'static, AppResult<()>>| -> Handler {
                let s = st.clone();
                Arc::new(move |payload| {
                    let s = s.clone();
                    Box::pin(async move { f(s, payload).await.map_err(|e| e.message) })
                })
            };
        vec![
            (
                crate::alarms::REPEAT_JOB,
                job(|s, p| Box::pin(async move { crate::alarms::repeat(&s, &p).await })),
            ),
            (
                crate::readings::CHECK_JOB,
                job(|s, _| Box::pin(async move { crate::readings::check_devices(&s).await })),
            ),
            (
                crate::maintenance::PLAN_JOB,
                job(|s, _| {
                    Box::pin(async move { crate::maintenance::generate(&s).await.map(|_| ()) })
                }),
            ),
        ]
    }
    /// The MQTT subscriber (when a broker is configured) and the demo simulator.
    fn listeners(&self, st: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let mut out = Vec::new();
        if !IotConfig::get().mqtt_url.is_empty() {
            out.push(crate::mqtt::spawn(st.clone(), stop.clone()));
        }
        out.push(crate::simulate::spawn_demo(st.clone(), stop));
        out
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
    fn person_panels<'a>(
        &'a self,
        st: &'a AppState,
        ctx: &'a RequestContext,
        person_id: i64,
    ) -> BoxFut<'a, AppResult<Vec<yiyang_platform::module::PersonPanel>>> {
        Box::pin(crate::pages2::person_panel(st, ctx, person_id))
    }
    fn seed_demo<'a>(&'a self, st: &'a AppState) -> BoxFut<'a, AppResult<()>> {
        Box::pin(crate::simulate::seed(st))
    }
}
