//! The person registry: registration through the master index, search, merge and unmerge
//! with history, the review queue, statistics. Personal data is read only within the
//! caller's scope, masked by role, and every read is audited.
//!
//! One file per feature, re-exported here, so callers name `service::…`. The stored row
//! shapes several features read live in this file.

mod input;
mod merge;
mod model;
mod read;
mod register;
mod review;
mod search;
mod stats;
mod update;

pub use input::*;
pub use merge::*;
pub use model::*;
pub use read::*;
pub use register::*;
pub use review::*;
pub use search::*;
pub use stats::*;
pub use update::*;
pub use yiyang_platform::masking::Unmask;

use crate::matching::MatchFields;
use yiyang_core::{AppError, AppResult};
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, args};

pub const LIVING: &[(&str, &str)] = &[
    ("alone", "独居"),
    ("empty_nest", "空巢"),
    ("left_behind", "留守"),
    ("with_family", "与家人同住"),
    ("institution", "机构养老"),
];

pub const ID_TYPES: &[(&str, &str)] = &[
    ("MZ", "门诊号"),
    ("ZY", "住院号"),
    ("MRN", "病案号"),
    ("JKDA", "健康档案号"),
    ("INS", "医保号"),
    ("OTHER", "其他"),
];

#[derive(Debug, Clone, sqlx::FromRow)]
struct PersonRow {
    id: i64,
    name: String,
    name_pinyin: String,
    sex: String,
    birth_date: Option<String>,
    id_cipher: Option<Vec<u8>>,
    insurance_no: String,
    social_card_no: String,
    phone: String,
    phone2: String,
    district: String,
    town: String,
    village: String,
    address_detail: String,
    living_situation: String,
    home_org_id: Option<i64>,
    status: String,
    merged_into: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const PERSON_COLS: &str = "id, name, name_pinyin, sex, birth_date, id_cipher, insurance_no, social_card_no, phone, phone2, district, town, village, address_detail, living_situation, home_org_id, status, merged_into, created_at, updated_at";

/// The columns of a person the matcher compares (candidate rows are read by the dozen per
/// registration, so no more than these).
#[derive(Debug, Clone, sqlx::FromRow)]
struct MatchRow {
    id: i64,
    name: String,
    sex: String,
    birth_date: Option<String>,
    id_cipher: Option<Vec<u8>>,
    insurance_no: String,
    phone: String,
    district: String,
    town: String,
    village: String,
    address_detail: String,
}

const MATCH_COLS: &str = "id, name, sex, birth_date, id_cipher, insurance_no, phone, district, town, village, address_detail";

fn match_fields(st: &AppState, r: MatchRow) -> AppResult<MatchFields> {
    let id_number = match &r.id_cipher {
        Some(b) => st.keys.decrypt(b)?,
        None => String::new(),
    };
    Ok(MatchFields {
        name: r.name,
        sex: r.sex,
        birth_date: r.birth_date.unwrap_or_default(),
        id_number,
        phone: r.phone,
        district: r.district,
        town: r.town,
        address_detail: format!("{}{}", r.village, r.address_detail),
        insurance_no: r.insurance_no,
    })
}

/// The compared fields of person `id` as stored, ready for the matcher.
async fn stored_fields(st: &AppState, mut db: impl Conn, id: i64) -> AppResult<MatchFields> {
    let r: MatchRow = db
        .fetch_optional(
            &format!("SELECT {MATCH_COLS} FROM persons WHERE id = $1"),
            args![id],
        )
        .await?
        .ok_or_else(|| AppError::not_found("person"))?;
    match_fields(st, r)
}
