//! Base data (慧医养基础信息管理 §5.1–5.2): institutions, departments and staff, entered,
//! reviewed and then shown (录入 → 审核 → 展示), with CSV/XLSX bulk import and a job that
//! warns before a practising licence expires.

pub mod api;
pub mod import;
pub mod pages;
pub mod schema;
pub mod service;

use yiyang_platform::web::NavItem;

/// Navigation entries of this module.
pub fn nav() -> Vec<NavItem> {
    use yiyang_core::perm;
    vec![
        NavItem {
            href: "/orgs",
            label: "机构信息",
            group: "基础信息",
            permission: Some(perm::ORG_READ),
            icon: "building",
        },
        NavItem {
            href: "/staff",
            label: "人员信息",
            group: "基础信息",
            permission: Some(perm::STAFF_READ),
            icon: "idcard",
        },
        NavItem {
            href: "/review",
            label: "待审核",
            group: "基础信息",
            permission: Some(perm::ORG_REVIEW),
            icon: "check",
        },
        NavItem {
            href: "/import",
            label: "批量导入",
            group: "基础信息",
            permission: Some(perm::STAFF_WRITE),
            icon: "upload",
        },
    ]
}
