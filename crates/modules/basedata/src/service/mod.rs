//! Business operations on institutions, departments and staff. Every function takes the
//! request context; reads of staff (personal data) are scoped, masked and audited.
//!
//! One file per feature, re-exported here, so callers name `service::…`. The code tables
//! and the field checks institutions and staff share are here.

mod departments;
mod licences;
mod lookup;
mod orgs;
mod staff;
mod staff_read;
mod workflow;

pub use departments::*;
pub use licences::*;
pub use lookup::*;
pub use orgs::*;
pub use staff::*;
pub use staff_read::*;
pub use workflow::*;
pub use yiyang_platform::masking::Unmask;

use chrono::NaiveDate;
use yiyang_core::{AppError, AppResult};

pub const ORG_KINDS: &[(&str, &str)] = &[
    ("hospital", "医院"),
    ("nursing_home", "养老机构"),
    ("community_health", "社区卫生服务中心"),
    ("pharmacy", "药房"),
    ("service_provider", "服务商"),
    ("insurer", "医保/保险机构"),
    ("platform", "平台运营方"),
];

/// 录入 → 审核 → 展示 states of institutions and staff.
pub const REVIEW_STATUSES: &[&str] = &["draft", "pending", "approved", "rejected"];

pub const DISTRICTS: &[&str] = &[
    "梅江区",
    "梅县区",
    "兴宁市",
    "大埔县",
    "丰顺县",
    "五华县",
    "平远县",
    "蕉岭县",
];

pub const PROFESSIONS: &[(&str, &str)] = &[
    ("doctor", "医师"),
    ("nurse", "护士"),
    ("caregiver", "护理员"),
    ("pharmacist", "药师"),
    ("technician", "医技人员"),
    ("social_worker", "社工"),
    ("admin", "管理人员"),
];

pub const STATUSES: &[(&str, &str)] = &[
    ("draft", "待提交"),
    ("pending", "待审核"),
    ("approved", "已审核"),
    ("rejected", "已退回"),
];

pub fn label<'a>(table: &'a [(&'a str, &'a str)], code: &'a str) -> &'a str {
    table
        .iter()
        .find(|(c, l)| *c == code || *l == code)
        .map(|(_, l)| *l)
        .unwrap_or(code)
}

fn code_of(table: &[(&'static str, &str)], v: &str) -> Option<&'static str> {
    let v = v.trim();
    table
        .iter()
        .find(|(c, l)| *c == v || *l == v)
        .map(|(c, _)| *c)
}

fn parse_date(field: &str, v: &str) -> AppResult<NaiveDate> {
    let v = v.trim();
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%Y/%m/%d"))
        .or_else(|_| NaiveDate::parse_from_str(v, "%Y%m%d"))
        .map_err(|_| {
            AppError::field(
                "common.date_invalid",
                field,
                format!("日期格式不正确：{v}（应为 YYYY-MM-DD）"),
            )
        })
}

fn opt_date(field: &str, v: &Option<String>) -> AppResult<Option<String>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Ok(Some(parse_date(field, s)?.format("%Y-%m-%d").to_string())),
    }
}

fn check_phone(field: &str, v: &str) -> AppResult<String> {
    let digits: String = v.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() {
        return Ok(digits);
    }
    let ok = digits.chars().all(|c| c.is_ascii_digit()) && (7..=12).contains(&digits.len());
    if ok {
        Ok(digits)
    } else {
        Err(AppError::field(
            "common.phone_invalid",
            field,
            "电话号码格式不正确",
        ))
    }
}
