//! Bulk registration of persons from CSV or XLSX, through the master index.
//! Columns (Chinese or English): 姓名 name, 性别 sex, 出生日期 birth_date, 身份证号 id_number,
//! 医保号 insurance_no, 社保卡号 social_card_no, 手机号 phone, 区县 district, 镇街 town,
//! 村社区 village, 详细地址 address_detail, 居住状况 living_situation, 标识类型 id_type,
//! 院内标识 id_value. All rows are validated first; nothing is written unless all are valid.

use crate::service::{self, IdentifierInput, PersonInput, ValidPerson};
use serde::Serialize;
use yiyang_core::{AppResult, RequestContext};
use yiyang_platform::web::AppState;

pub const COLUMNS: &[(&str, &str, bool)] = &[
    ("name", "姓名", true),
    ("sex", "性别", false),
    ("birth_date", "出生日期", false),
    ("id_number", "身份证号", false),
    ("insurance_no", "医保号", false),
    ("social_card_no", "社保卡号", false),
    ("phone", "手机号", false),
    ("district", "区县", false),
    ("town", "镇街", false),
    ("village", "村社区", false),
    ("address_detail", "详细地址", false),
    ("living_situation", "居住状况", false),
    ("id_type", "标识类型", false),
    ("id_value", "院内标识", false),
];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonImportReport {
    pub total_rows: usize,
    pub created: usize,
    pub linked: usize,
    pub review: usize,
    pub errors: Vec<RowError>,
    pub dry_run: bool,
}

pub use yiyang_basedata::import::RowError;

/// Registers every row for institution `org_id`.
pub async fn import(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
    rows: Vec<(usize, std::collections::HashMap<String, String>)>,
    dry_run: bool,
) -> AppResult<PersonImportReport> {
    let today = yiyang_core::clock::today_cst(ctx.clock.as_ref());
    let g = |r: &std::collections::HashMap<String, String>, k: &str| {
        r.get(k).cloned().unwrap_or_default()
    };
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for (n, r) in &rows {
        let id_value = g(r, "id_value");
        let input = PersonInput {
            org_id,
            name: g(r, "name"),
            sex: g(r, "sex"),
            birth_date: g(r, "birth_date"),
            id_number: g(r, "id_number"),
            insurance_no: g(r, "insurance_no"),
            social_card_no: g(r, "social_card_no"),
            phone: g(r, "phone"),
            phone2: String::new(),
            district: g(r, "district"),
            town: g(r, "town"),
            village: g(r, "village"),
            address_detail: g(r, "address_detail"),
            living_situation: g(r, "living_situation"),
            identifiers: if id_value.trim().is_empty() {
                vec![]
            } else {
                vec![IdentifierInput {
                    id_type: if g(r, "id_type").is_empty() {
                        "MRN".into()
                    } else {
                        g(r, "id_type")
                    },
                    value: id_value,
                }]
            },
        };
        match input.validate(today) {
            Ok(v) => valid.push((*n, v)),
            Err(e) => errors.extend(yiyang_basedata::import::row_errors(*n, &e)),
        }
    }
    let mut report = PersonImportReport {
        total_rows: rows.len(),
        created: 0,
        linked: 0,
        review: 0,
        errors,
        dry_run,
    };
    if !report.errors.is_empty() || dry_run {
        return Ok(report);
    }
    let mut tx = st.db.begin().await?;
    // Registered in chunks, each with a few statements; a chunk that fails is rolled back
    // and registered row by row, so the report names the rows at fault.
    for chunk in valid.chunks(500) {
        let items: Vec<(&RequestContext, &ValidPerson)> =
            chunk.iter().map(|(_, v)| (ctx, v)).collect();
        tx.execute("SAVEPOINT person_import", vec![]).await?;
        let outcomes = match service::register_many_in(st, &mut tx, &items).await {
            Ok(o) => {
                tx.execute("RELEASE SAVEPOINT person_import", vec![])
                    .await?;
                o.into_iter().map(Ok).collect()
            }
            Err(_) => {
                tx.execute("ROLLBACK TO SAVEPOINT person_import", vec![])
                    .await?;
                tx.execute("RELEASE SAVEPOINT person_import", vec![])
                    .await?;
                let mut one_by_one = Vec::with_capacity(chunk.len());
                for (_, v) in chunk {
                    tx.execute("SAVEPOINT person_row", vec![]).await?;
                    let r = service::register_in(st, &mut tx, ctx, v).await;
                    if r.is_err() {
                        tx.execute("ROLLBACK TO SAVEPOINT person_row", vec![])
                            .await?;
                    }
                    tx.execute("RELEASE SAVEPOINT person_row", vec![]).await?;
                    one_by_one.push(r);
                }
                one_by_one
            }
        };
        for ((n, _), o) in chunk.iter().zip(outcomes) {
            match o {
                Ok(o) => match o.outcome.as_str() {
                    "linked" => report.linked += 1,
                    "review" => report.review += 1,
                    _ => report.created += 1,
                },
                Err(e) => report.errors.push(RowError {
                    row: *n,
                    column: String::new(),
                    message: e.message,
                }),
            }
        }
    }
    if report.errors.is_empty() {
        tx.commit().await?;
    } else {
        report.created = 0;
        report.linked = 0;
        report.review = 0;
    }
    Ok(report)
}
