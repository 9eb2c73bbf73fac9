//! Bulk import of institutions and staff from CSV or XLSX.
//!
//! Every row is validated first and the report names each bad row, column and reason.
//! Rows are written in one transaction, and only when every row is valid: a bad row
//! never half-imports, and a file never half-imports either.
//!
//! File format: the first row holds column names, in Chinese or English (see
//! [`ORG_COLUMNS`] and [`STAFF_COLUMNS`]); CSV must be UTF-8 (a BOM is accepted).

use crate::service::{self, OrgInput, StaffInput};
use calamine::Reader;
use serde::Serialize;
use std::collections::HashMap;
use yiyang_core::{AppError, AppResult, RequestContext};
use yiyang_platform::web::AppState;

/// (English key, Chinese header, required)
pub const ORG_COLUMNS: &[(&str, &str, bool)] = &[
    ("code", "机构编码", true),
    ("name", "机构名称", true),
    ("kind", "机构类型", true),
    ("level", "等级", false),
    ("district", "所属区县", false),
    ("address", "地址", false),
    ("phone", "联系电话", false),
    ("beds", "床位数", false),
    ("service_scope", "服务范围", false),
    ("licence_no", "许可证号", false),
    ("licence_expiry", "许可证有效期", false),
];

pub const STAFF_COLUMNS: &[(&str, &str, bool)] = &[
    ("org_code", "机构编码", true),
    ("dept_code", "科室编码", false),
    ("name", "姓名", true),
    ("sex", "性别", true),
    ("id_number", "身份证号", true),
    ("phone", "手机号", false),
    ("profession", "职业类别", true),
    ("title", "职称", false),
    ("qualification_no", "资格证书编号", false),
    ("licence_no", "执业证书编号", false),
    ("licence_expiry", "执业证书有效期", false),
];

pub const MAX_ROWS: usize = 20_000;

/// The Chinese header of a column key, for error reports ("列" shows 身份证号, not
/// id_number); service field names that differ from the file's keys are mapped too.
pub fn column_label(columns: &[(&str, &str, bool)], key: &str) -> String {
    let key = match key {
        "org_id" => "org_code",
        "dept_id" => "dept_code",
        "address_detail" if !columns.iter().any(|c| c.0 == key) => "address",
        k => k,
    };
    columns
        .iter()
        .find(|c| c.0 == key)
        .map(|c| c.1.to_string())
        .unwrap_or_else(|| key.to_string())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// Row number in the file (the header is row 1).
    pub row: usize,
    pub column: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub total_rows: usize,
    pub imported: usize,
    pub errors: Vec<RowError>,
    pub warnings: Vec<RowError>,
    /// True when the file was only checked.
    pub dry_run: bool,
}

type Row = (usize, HashMap<String, String>);

/// Reads rows keyed by English column key; `filename` picks CSV or XLSX.
pub fn read_rows(
    filename: &str,
    bytes: &[u8],
    columns: &[(&str, &str, bool)],
) -> AppResult<Vec<Row>> {
    let lower = filename.to_lowercase();
    let table: Vec<Vec<String>> = if lower.ends_with(".xlsx") {
        let mut wb = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).map_err(|e| {
            AppError::validation("import.xlsx_invalid", format!("无法读取 XLSX 文件：{e}"))
        })?;
        let range = wb
            .worksheet_range_at(0)
            .ok_or_else(|| AppError::validation("import.xlsx_empty", "XLSX 文件没有工作表"))?
            .map_err(|e| {
                AppError::validation("import.xlsx_invalid", format!("无法读取工作表：{e}"))
            })?;
        range
            .rows()
            .map(|r| r.iter().map(cell_text).collect())
            .collect()
    } else if lower.ends_with(".csv") || lower.ends_with(".txt") {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            AppError::validation(
                "import.encoding",
                "CSV 文件须为 UTF-8 编码（可在 Excel 中另存为“CSV UTF-8”）",
            )
        })?;
        let text = text.trim_start_matches('\u{feff}');
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut out = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| {
                AppError::validation("import.csv_invalid", format!("CSV 格式错误：{e}"))
            })?;
            out.push(rec.iter().map(|s| s.to_string()).collect());
        }
        out
    } else {
        return Err(AppError::validation(
            "import.file_type",
            "仅支持 .csv 或 .xlsx 文件",
        ));
    };
    let Some((header, body)) = table.split_first() else {
        return Err(AppError::validation("import.empty", "文件为空"));
    };
    let mut map = Vec::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim();
        if let Some((key, _, _)) = columns.iter().find(|(k, zh, _)| *k == h || *zh == h) {
            map.push((i, key.to_string()));
        }
    }
    let missing: Vec<&str> = columns
        .iter()
        .filter(|(k, _, req)| *req && !map.iter().any(|(_, m)| m == k))
        .map(|(_, zh, _)| *zh)
        .collect();
    if !missing.is_empty() {
        return Err(AppError::validation(
            "import.columns_missing",
            format!("缺少必需的列：{}", missing.join("、")),
        ));
    }
    if body.len() > MAX_ROWS {
        return Err(AppError::validation(
            "import.too_many_rows",
            format!("单次最多导入 {MAX_ROWS} 行"),
        ));
    }
    Ok(body
        .iter()
        .enumerate()
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
        .map(|(i, r)| {
            (
                i + 2,
                map.iter()
                    .map(|(ci, k)| {
                        (
                            k.clone(),
                            r.get(*ci).map(|s| s.trim().to_string()).unwrap_or_default(),
                        )
                    })
                    .collect(),
            )
        })
        .collect())
}

fn cell_text(c: &calamine::Data) -> String {
    use calamine::Data;
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => {
            // Excel serial days since 1899-12-30.
            let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).expect("date");
            (base + chrono::Duration::days(d.as_f64().floor() as i64))
                .format("%Y-%m-%d")
                .to_string()
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.chars().take(10).collect(),
        Data::Error(e) => format!("{e:?}"),
    }
}

/// The problems of one row: each field of an `input.invalid` error on its own line.
pub fn row_errors(row: usize, e: &AppError) -> Vec<RowError> {
    if let Some(fields) = e.details.get("fields").and_then(|v| v.as_array()) {
        return fields
            .iter()
            .map(|f| RowError {
                row,
                column: f["field"].as_str().unwrap_or("").to_string(),
                message: f["message"].as_str().unwrap_or("").to_string(),
            })
            .collect();
    }
    let column = e
        .details
        .get("field")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    vec![RowError {
        row,
        column,
        message: e.message.clone(),
    }]
}

fn g(r: &HashMap<String, String>, k: &str) -> String {
    r.get(k).cloned().unwrap_or_default()
}

/// Imports institutions (`org.write` city-wide).
pub async fn import_orgs(
    st: &AppState,
    ctx: &RequestContext,
    rows: Vec<Row>,
    dry_run: bool,
) -> AppResult<ImportReport> {
    if ctx.require(yiyang_core::perm::ORG_WRITE)? != yiyang_core::Scope::City {
        return Err(AppError::forbidden(yiyang_core::perm::ORG_WRITE));
    }
    let mut errors = Vec::new();
    let mut valid = Vec::new();
    let mut seen = HashMap::new();
    for (n, r) in &rows {
        let beds = g(r, "beds");
        let mut o = OrgInput {
            code: g(r, "code"),
            name: g(r, "name"),
            kind: g(r, "kind"),
            level: g(r, "level"),
            district: g(r, "district"),
            address: g(r, "address"),
            phone: g(r, "phone"),
            beds: if beds.is_empty() {
                0
            } else {
                beds.parse().unwrap_or(-1)
            },
            service_scope: g(r, "service_scope"),
            licence_no: g(r, "licence_no"),
            licence_expiry: Some(g(r, "licence_expiry")),
        };
        match o.validate() {
            Err(e) => errors.extend(row_errors(*n, &e)),
            Ok(()) => {
                if let Some(first) = seen.insert(o.code.clone(), *n) {
                    errors.push(RowError {
                        row: *n,
                        column: "code".into(),
                        message: format!("机构编码与第 {first} 行重复"),
                    });
                } else {
                    valid.push((*n, o));
                }
            }
        }
    }
    let mut tx = st.db.begin().await?;
    for (n, o) in &valid {
        if let Err(e) = service::insert_org(&mut tx, ctx, o).await {
            errors.extend(row_errors(*n, &e));
        }
    }
    finish(tx, rows.len(), valid.len(), errors, vec![], dry_run).await
}

async fn finish(
    tx: yiyang_store::Tx,
    total: usize,
    valid: usize,
    mut errors: Vec<RowError>,
    warnings: Vec<RowError>,
    dry_run: bool,
) -> AppResult<ImportReport> {
    errors.sort_by_key(|e| e.row);
    let ok = errors.is_empty() && !dry_run;
    if ok {
        tx.commit().await?;
    } else {
        drop(tx); // rolls back
    }
    Ok(ImportReport {
        total_rows: total,
        imported: if ok { valid } else { 0 },
        errors,
        warnings,
        dry_run,
    })
}

/// Imports staff; each row's institution must be within the caller's `staff.write` scope.
pub async fn import_staff(
    st: &AppState,
    ctx: &RequestContext,
    rows: Vec<Row>,
    dry_run: bool,
) -> AppResult<ImportReport> {
    ctx.require(yiyang_core::perm::STAFF_WRITE)?;
    let today = yiyang_core::clock::today_cst(ctx.clock.as_ref());
    let orgs: HashMap<String, i64> = st
        .db
        .fetch_all::<(String, i64)>("SELECT code, id FROM orgs", vec![])
        .await?
        .into_iter()
        .collect();
    let depts: HashMap<(i64, String), i64> = st
        .db
        .fetch_all::<(i64, String, i64)>("SELECT org_id, code, id FROM departments", vec![])
        .await?
        .into_iter()
        .map(|(o, c, i)| ((o, c), i))
        .collect();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut valid = Vec::new();
    let mut seen: HashMap<(i64, String), usize> = HashMap::new();
    for (n, r) in &rows {
        let org_code = g(r, "org_code").to_uppercase();
        let Some(&org_id) = orgs.get(&org_code) else {
            errors.push(RowError {
                row: *n,
                column: "org_code".into(),
                message: format!("机构编码不存在：{org_code}"),
            });
            continue;
        };
        let dept_code = g(r, "dept_code").to_uppercase();
        let dept_id = if dept_code.is_empty() {
            None
        } else if let Some(d) = depts.get(&(org_id, dept_code.clone())) {
            Some(*d)
        } else {
            errors.push(RowError {
                row: *n,
                column: "dept_code".into(),
                message: format!("该机构下没有科室编码 {dept_code}"),
            });
            continue;
        };
        let input = StaffInput {
            org_id,
            dept_id,
            name: g(r, "name"),
            sex: g(r, "sex"),
            id_number: g(r, "id_number"),
            phone: g(r, "phone"),
            profession: g(r, "profession"),
            title: g(r, "title"),
            qualification_no: g(r, "qualification_no"),
            licence_no: g(r, "licence_no"),
            licence_expiry: Some(g(r, "licence_expiry")),
        };
        match input.validate(today) {
            Err(e) => errors.extend(row_errors(*n, &e)),
            Ok(v) => {
                if let Some(first) = seen.insert((org_id, v.id_number.as_str().to_string()), *n) {
                    errors.push(RowError {
                        row: *n,
                        column: "id_number".into(),
                        message: format!("身份证号与第 {first} 行重复"),
                    });
                    continue;
                }
                warnings.extend(v.warnings.iter().map(|w| RowError {
                    row: *n,
                    column: "id_number".into(),
                    message: w.clone(),
                }));
                valid.push((*n, v));
            }
        }
    }
    let mut tx = st.db.begin().await?;
    for (n, v) in &valid {
        if let Err(e) = service::insert_staff(st, &mut tx, ctx, v).await {
            errors.extend(row_errors(*n, &e));
        }
    }
    finish(tx, rows.len(), valid.len(), errors, warnings, dry_run).await
}

/// A template CSV with the Chinese headers and one fictional example row.
pub fn template(kind: &str) -> Option<String> {
    let birth = chrono::NaiveDate::from_ymd_opt(1985, 3, 15).expect("date");
    let id = yiyang_core::idnumber::compose("441402", birth, 2);
    let (cols, example) = match kind {
        "orgs" => (ORG_COLUMNS, "MZ-DEMO-01,梅州市示例康养中心,养老机构,,梅江区,梅州市梅江区示例路1号,07532100000,120,长期照护;日间照料,示例许可证001,2028-12-31".to_string()),
        "staff" => (STAFF_COLUMNS, format!("MZ-HOSP-01,NEI,李晓梅,女,{id},13800001111,护士,主管护师,,N-2024-0001,2027-06-30")),
        _ => return None,
    };
    let header: Vec<&str> = cols.iter().map(|(_, zh, _)| *zh).collect();
    Some(format!("\u{feff}{}\n{}\n", header.join(","), example))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_columns_read_as_the_file_headers() {
        assert_eq!(column_label(STAFF_COLUMNS, "id_number"), "身份证号");
        assert_eq!(column_label(STAFF_COLUMNS, "org_id"), "机构编码");
        assert_eq!(column_label(ORG_COLUMNS, "licence_expiry"), "许可证有效期");
        assert_eq!(column_label(ORG_COLUMNS, "unknown"), "unknown");
    }
}
