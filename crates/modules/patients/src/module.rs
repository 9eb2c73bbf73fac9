//! The patient index and health record as a module of the registry.

use axum::Router;
use std::sync::OnceLock;
use utoipa::OpenApi;
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::module::{
    BoxFut, Card, EncryptedColumn, ErrorCode, Module, Permission, Section, Setting,
};
use yiyang_platform::web::layout::nav_item;
use yiyang_platform::web::{AppState, NavItem};
use yiyang_store::{Db, Migration};

pub struct PatientsModule;

/// The module's settings (section `[patients]`).
#[derive(Debug, Clone)]
pub struct PatientsConfig {
    /// Candidates scored per registration (those sharing the most block keys).
    pub mpi_candidates: usize,
}

impl Default for PatientsConfig {
    fn default() -> Self {
        PatientsConfig {
            mpi_candidates: crate::service::DEFAULT_CANDIDATES,
        }
    }
}

static CONFIG: OnceLock<PatientsConfig> = OnceLock::new();

impl PatientsConfig {
    /// The configured settings (defaults until `configure` ran).
    pub fn get() -> &'static PatientsConfig {
        CONFIG.get_or_init(PatientsConfig::default)
    }
}

const SETTINGS: &[Setting] = &[Setting {
    key: "mpi_candidates",
    env: "YIYANG_MPI_CANDIDATES",
    default: "20",
    doc: "每次登记参与评分的候选人数（共享分块键最多者），至少 1；决策 0009",
}];

const fn p(name: &'static str, label: &'static str, roles: &'static [&'static str]) -> Permission {
    Permission { name, label, roles }
}

const PERMISSIONS: &[Permission] = &[
    p(
        perm::PATIENT_READ,
        "查看居民健康信息",
        &[
            "platform_admin",
            "org_admin",
            "doctor",
            "nurse",
            "caregiver",
            "pharmacist",
            "insurance_auditor",
        ],
    ),
    p(
        perm::PATIENT_WRITE,
        "记录居民健康信息",
        &[
            "platform_admin",
            "org_admin",
            "doctor",
            "nurse",
            "caregiver",
        ],
    ),
    p(
        perm::PATIENT_READ_UNMASKED,
        "查看居民明文信息",
        &["platform_admin", "org_admin"],
    ),
    p(
        perm::PATIENT_MERGE,
        "合并/拆分患者索引",
        &["platform_admin", "org_admin"],
    ),
    p(perm::MPI_MANAGE, "管理匹配规则与模型", &["platform_admin"]),
];

/// Elders and their families see their own record and those they were authorised to see.
const MARKERS: &[Permission] = &[p(
    perm::RESIDENT_SELF,
    "本人及授权查看的居民档案",
    &["elder", "family"],
)];

/// Columns this module encrypts with the data key (re-encrypted by `keys rewrap`).
const ENCRYPTED: &[EncryptedColumn] = &[EncryptedColumn {
    table: "persons",
    id_column: "id",
    cipher_column: "id_cipher",
    nullable: true,
}];

impl Module for PatientsModule {
    fn name(&self) -> &'static str {
        "patients"
    }
    fn title(&self) -> &'static str {
        "患者主索引与健康档案"
    }
    fn migrations(&self) -> &'static [Migration] {
        crate::schema::MIGRATIONS
    }
    fn routes(&self) -> Router<AppState> {
        crate::pages::routes()
            .merge(crate::encounter_pages::routes())
            .merge(crate::api::routes())
    }
    fn nav(&self) -> Vec<NavItem> {
        vec![
            nav_item(
                "/my",
                "我的健康档案",
                "居民服务",
                Some(perm::RESIDENT_SELF),
                "user",
            ),
            nav_item(
                "/persons",
                "居民档案",
                "患者主索引",
                Some(perm::PATIENT_READ),
                "users",
            ),
            nav_item(
                "/encounters",
                "就诊与住院",
                "患者主索引",
                Some(perm::PATIENT_READ),
                "bed",
            ),
            nav_item(
                "/mpi/reviews",
                "疑似重复",
                "患者主索引",
                Some(perm::PATIENT_MERGE),
                "merge",
            ),
            nav_item(
                "/mpi/stats",
                "查询统计",
                "患者主索引",
                Some(perm::PATIENT_READ),
                "chart",
            ),
            nav_item(
                "/mpi/config",
                "匹配规则与模型",
                "患者主索引",
                Some(perm::MPI_MANAGE),
                "settings",
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
    fn role_markers(&self) -> &'static [Permission] {
        MARKERS
    }
    fn encrypted_columns(&self) -> &'static [EncryptedColumn] {
        ENCRYPTED
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
    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }
    fn configure(&self, s: &Section) -> AppResult<()> {
        let n: usize = s.parse("mpi_candidates")?;
        if n < 1 {
            return Err(yiyang_core::AppError::validation(
                "config.invalid",
                "配置项 patients.mpi_candidates（YIYANG_MPI_CANDIDATES）至少为 1",
            ));
        }
        let _ = CONFIG.set(PatientsConfig { mpi_candidates: n });
        Ok(())
    }
    fn prepare<'a>(&'a self, db: &'a Db, now: i64) -> BoxFut<'a, AppResult<()>> {
        Box::pin(crate::matching::seed_default(db, now))
    }
    fn seed_demo<'a>(&'a self, st: &'a AppState) -> BoxFut<'a, AppResult<()>> {
        Box::pin(crate::demo::seed(st))
    }
}
