//! Patient master index (患者主索引) and the resident health record (健康档案, 健康360视图).
//!
//! Every way a person enters the platform (form, import, API; later HL7 and FHIR) calls
//! [`service::register`], so one human is one person. Matching is done by the pure
//! `yiyang-mpi` engine; this module stores persons, block keys, the index history,
//! versioned configurations and trained models, and the health record.

pub mod api;
pub mod import;
pub mod matching;
pub mod pages;
pub mod record;
pub mod schema;
pub mod service;

use yiyang_platform::web::NavItem;

pub fn nav() -> Vec<NavItem> {
    use yiyang_core::perm;
    vec![
        NavItem {
            href: "/my",
            label: "我的健康档案",
            group: "居民服务",
            permission: Some(perm::RESIDENT_SELF),
            icon: "user",
        },
        NavItem {
            href: "/persons",
            label: "居民档案",
            group: "患者主索引",
            permission: Some(perm::PATIENT_READ),
            icon: "users",
        },
        NavItem {
            href: "/mpi/reviews",
            label: "疑似重复",
            group: "患者主索引",
            permission: Some(perm::PATIENT_MERGE),
            icon: "merge",
        },
        NavItem {
            href: "/mpi/stats",
            label: "查询统计",
            group: "患者主索引",
            permission: Some(perm::PATIENT_READ),
            icon: "chart",
        },
        NavItem {
            href: "/mpi/config",
            label: "匹配规则与模型",
            group: "患者主索引",
            permission: Some(perm::MPI_MANAGE),
            icon: "settings",
        },
    ]
}

/// Reference data this module needs on every start.
pub async fn prepare(db: &yiyang_store::Db, now: i64) -> yiyang_core::AppResult<()> {
    matching::seed_default(db, now).await
}
