//! Bulk import of devices from CSV or XLSX: every row checked, all-or-nothing, one report
//! naming each bad row and column in Chinese.

use crate::devices::{self, DeviceInput};
use std::collections::HashMap;
use yiyang_basedata::import::{ImportReport, RowError, column_label, read_rows, row_errors};
use yiyang_core::{AppResult, RequestContext};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;

/// (English key, Chinese header, required)
pub const COLUMNS: &[(&str, &str, bool)] = &[
    ("org_code", "机构编码", true),
    ("model", "型号编码", true),
    ("serial", "序列号", true),
    ("nfc_uid", "NFC标签号", false),
    ("name", "设备名称", false),
    ("firmware", "固件版本", false),
    ("acquisition", "来源", false),
    ("purchased_on", "购置日期", false),
    ("rental_contract", "租赁合同号", false),
    ("rental_until", "租赁到期日", false),
    ("calibrated_on", "上次校准日期", false),
    ("status", "状态", false),
];

/// The CSV template (header and one example row).
pub fn template() -> String {
    let head: Vec<&str> = COLUMNS.iter().map(|c| c.1).collect();
    format!(
        "\u{feff}{}\nMZ-HOSP-01,YB-Y3,BAND-H101,04A1B2C3D4E5F6,,3.2.1,采购,2026-01-15,,,2026-06-01,在用\n",
        head.join(",")
    )
}

fn g(r: &HashMap<String, String>, k: &str) -> String {
    r.get(k).cloned().unwrap_or_default()
}

/// Imports devices: nothing is written unless every row is valid (and serials are unique
/// within the file).
pub async fn import_devices(
    st: &AppState,
    ctx: &RequestContext,
    filename: &str,
    bytes: &[u8],
) -> AppResult<ImportReport> {
    ctx.require(crate::IOT_MANAGE)?;
    let rows = read_rows(filename, bytes, COLUMNS)?;
    let mut errors = Vec::new();
    let mut checked = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut org_ids: HashMap<String, Option<i64>> = HashMap::new();
    for (n, r) in &rows {
        let code = g(r, "org_code").trim().to_uppercase();
        if !org_ids.contains_key(&code) {
            let id = yiyang_basedata::service::org_id_by_code(&st.db, &code).await?;
            org_ids.insert(code.clone(), id);
        }
        let Some(org_id) = org_ids[&code] else {
            errors.push(RowError {
                row: *n,
                column: "机构编码".into(),
                message: format!("机构编码不存在：{code}"),
            });
            continue;
        };
        let input = DeviceInput {
            org_id,
            model: g(r, "model"),
            serial: g(r, "serial"),
            nfc_uid: g(r, "nfc_uid"),
            name: g(r, "name"),
            firmware: g(r, "firmware"),
            acquisition: g(r, "acquisition"),
            purchased_on: g(r, "purchased_on"),
            rental_contract: g(r, "rental_contract"),
            rental_until: g(r, "rental_until"),
            calibrated_on: g(r, "calibrated_on"),
            status: g(r, "status"),
        };
        if let Some(first) = seen.insert(input.serial.trim().to_string(), *n) {
            errors.push(RowError {
                row: *n,
                column: "序列号".into(),
                message: format!("与第 {first} 行的序列号重复"),
            });
        }
        match devices::check_device(&st.db, ctx, &input, None).await {
            Ok(c) => checked.push(c),
            Err(e) => errors.extend(row_errors(*n, &e).into_iter().map(|mut x| {
                x.column = column_label(
                    COLUMNS,
                    if x.column == "org_id" {
                        "org_code"
                    } else {
                        &x.column
                    },
                );
                x
            })),
        }
    }
    let mut imported = 0;
    if errors.is_empty() && !checked.is_empty() {
        let now = ctx.clock.now_micros();
        let mut tx = st.db.begin().await?;
        let ids = devices::insert_devices(&mut tx, now, &checked).await?;
        audit::append(
            &mut tx,
            &[AuditEntry::new(ctx, "iot.device.import", "iot_device", "")
                .details(serde_json::json!({"count": ids.len(), "file": filename}))],
        )
        .await?;
        tx.commit().await?;
        imported = ids.len();
        crate::ingest::invalidate();
    }
    Ok(ImportReport {
        total_rows: rows.len(),
        imported,
        errors,
        warnings: vec![],
        dry_run: false,
    })
}
