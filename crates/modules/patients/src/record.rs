//! The health record (健康档案): encounters with admission/transfer/discharge, conditions
//! (ICD-10), observations (vitals and labs with UCUM units, reference ranges, flags),
//! allergies, medications, documents. FHIR-compatible shapes: coded concepts carry their
//! code system, quantities their unit, everything its source institution.

use crate::service::{can_see, cluster, know_all, survivor, survivors};
use serde::{Deserialize, Serialize};
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, Filter, Tx, args};

pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
pub const LOINC: &str = "http://loinc.org";

pub const ENCOUNTER_KINDS: &[(&str, &str)] = &[
    ("outpatient", "门诊"),
    ("inpatient", "住院"),
    ("emergency", "急诊"),
    ("home_visit", "上门服务"),
    ("follow_up", "随访"),
    ("telemedicine", "远程诊疗"),
];

/// Vital signs with their LOINC codes and UCUM units, for forms and the 360 view.
pub const VITALS: &[(&str, &str, &str, f64, f64)] = &[
    ("8867-4", "心率", "/min", 60.0, 100.0),
    ("8480-6", "收缩压", "mm[Hg]", 90.0, 139.0),
    ("8462-4", "舒张压", "mm[Hg]", 60.0, 89.0),
    ("59408-5", "血氧饱和度", "%", 95.0, 100.0),
    ("8310-5", "体温", "Cel", 36.0, 37.3),
    ("9279-1", "呼吸频率", "/min", 12.0, 20.0),
    ("2339-0", "血糖", "mmol/L", 3.9, 7.8),
    ("29463-7", "体重", "kg", 0.0, 0.0),
];

async fn writable(
    mut c: impl Conn,
    ctx: &RequestContext,
    person_id: i64,
    org_id: i64,
) -> AppResult<i64> {
    if !ctx.has_for(perm::PATIENT_WRITE, org_id) {
        return Err(AppError::forbidden(perm::PATIENT_WRITE));
    }
    let pid = survivor(&mut c, person_id).await?;
    let ids = cluster(&mut c, pid).await?;
    if !can_see(&mut c, ctx, &ids, perm::PATIENT_READ).await?
        && !can_see(&mut c, ctx, &ids, perm::PATIENT_WRITE).await?
    {
        return Err(AppError::not_found("person"));
    }
    Ok(pid)
}

/// [`writable`] for several (person, institution) pairs: the surviving ids, in order. A
/// person the institution itself knows, in the caller's scope, passes with one query for
/// all; anyone else gets the full check.
async fn writable_many(tx: &mut Tx, items: &[(&RequestContext, i64, i64)]) -> AppResult<Vec<i64>> {
    use std::collections::HashMap;
    for (ctx, _, org) in items {
        if !ctx.has_for(perm::PATIENT_WRITE, *org) {
            return Err(AppError::forbidden(perm::PATIENT_WRITE));
        }
    }
    let asked: Vec<i64> = items.iter().map(|x| x.1).collect();
    let surv = survivors(&mut *tx, &asked).await?;
    let mut ids: Vec<i64> = surv.values().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut orgs_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let mut f = Filter::new();
        f.any_of("person_id", chunk);
        let rows: Vec<(i64, i64)> = tx
            .fetch_all(
                &format!("SELECT person_id, org_id FROM person_orgs{}", f.sql()),
                f.args,
            )
            .await?;
        for (p, o) in rows {
            orgs_of.entry(p).or_default().push(o);
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for (ctx, p, org) in items {
        let pid = surv[p];
        let known = orgs_of.get(&pid).map(Vec::as_slice).unwrap_or_default();
        let quick = [perm::PATIENT_READ, perm::PATIENT_WRITE]
            .iter()
            .any(|perm| {
                ctx.scope_of(perm)
                    .is_some_and(|sc| known.iter().any(|o| sc.allows(*o)))
            });
        if !quick {
            writable(&mut *tx, ctx, pid, *org).await?;
        }
        out.push(pid);
    }
    Ok(out)
}

async fn know(tx: &mut Tx, pid: i64, org: i64) -> AppResult<()> {
    tx.execute(
        "INSERT INTO person_orgs (person_id, org_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        args![pid, org],
    )
    .await
    .map(|_| ())
}

fn when(v: &Option<String>, now: i64) -> AppResult<i64> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(now),
        Some(s) => {
            let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
                })
                .map_err(|_| {
                    AppError::field(
                        "record.time_invalid",
                        "time",
                        format!("时间格式不正确：{s}"),
                    )
                })?;
            Ok((t - chrono::Duration::hours(8))
                .and_utc()
                .timestamp_micros())
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EncounterInput {
    pub org_id: i64,
    pub kind: String,
    #[serde(default)]
    pub dept: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub attending: String,
    #[serde(default)]
    pub reason: String,
    /// Local time (CST), `YYYY-MM-DDTHH:MM`; now when empty.
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub source_id: String,
}

/// Opens an encounter (an inpatient one is an admission).
pub async fn add_encounter(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    e: &EncounterInput,
) -> AppResult<i64> {
    let mut tx = st.db.begin().await?;
    let id = add_encounter_in(&mut tx, ctx, person_id, e).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`add_encounter`] inside the caller's transaction.
pub async fn add_encounter_in(
    tx: &mut Tx,
    ctx: &RequestContext,
    person_id: i64,
    e: &EncounterInput,
) -> AppResult<i64> {
    let mut ids = add_encounters_in(tx, &[(ctx, person_id, e)]).await?;
    Ok(ids.remove(0))
}

/// The latest encounter of institution `org_id` recorded from `source` under `source_id`
/// (a visit number), only an open (`in-progress`) one when `open_only`.
pub async fn encounter_by_source(
    mut db: impl Conn,
    org_id: i64,
    source: &str,
    source_id: &str,
    open_only: bool,
) -> AppResult<Option<i64>> {
    let open = if open_only {
        " AND status = 'in-progress'"
    } else {
        ""
    };
    let row: Option<(i64,)> = db
        .fetch_optional(
            &format!("SELECT id FROM encounters WHERE org_id = $1 AND source = $2 AND source_id = $3{open} ORDER BY id DESC LIMIT 1"),
            args![org_id, source, source_id],
        )
        .await?;
    Ok(row.map(|r| r.0))
}

/// Those of `source_ids` that institution `org_id` already has encounters for from
/// `source`, in one statement per 500 (planned with the actual values).
pub async fn stored_encounter_sources(
    tx: &mut Tx,
    org_id: i64,
    source: &str,
    source_ids: &[&str],
) -> AppResult<Vec<String>> {
    let mut out = Vec::new();
    for chunk in source_ids.chunks(500) {
        let mut f = Filter::new();
        f.add("org_id = ?", org_id);
        f.add("source = ?", source);
        let phs: Vec<String> = chunk
            .iter()
            .map(|v| {
                let p = f.next();
                f.args.push((*v).into());
                p
            })
            .collect();
        f.raw(&format!("source_id IN ({})", phs.join(", ")));
        let rows: Vec<(String,)> = tx
            .fetch_all_planned(
                &format!("SELECT source_id FROM encounters{}", f.sql()),
                f.args,
            )
            .await?;
        out.extend(rows.into_iter().map(|r| r.0));
    }
    Ok(out)
}

/// The attending doctor recorded on encounter `id` (empty when none).
pub async fn encounter_attending(mut db: impl Conn, id: i64) -> AppResult<Option<String>> {
    let row: Option<(String,)> = db
        .fetch_optional("SELECT attending FROM encounters WHERE id = $1", args![id])
        .await?;
    Ok(row.map(|r| r.0))
}

/// The observation recorded from `source` (e.g. a message's OBX), if any.
pub async fn observation_by_source(mut db: impl Conn, source: &str) -> AppResult<Option<i64>> {
    let row: Option<(i64,)> = db
        .fetch_optional(
            "SELECT id FROM observations WHERE source = $1",
            args![source],
        )
        .await?;
    Ok(row.map(|r| r.0))
}

/// Opens several encounters inside `tx`, each with its own context, with a few multi-row
/// statements; the same checks and rows as [`add_encounter_in`] one by one. Returns the
/// encounter ids in order.
pub async fn add_encounters_in(
    tx: &mut Tx,
    items: &[(&RequestContext, i64, &EncounterInput)],
) -> AppResult<Vec<i64>> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    for (_, _, e) in items {
        if !ENCOUNTER_KINDS.iter().any(|(k, _)| *k == e.kind) {
            return Err(AppError::field(
                "record.kind_invalid",
                "kind",
                "就诊类型不正确",
            ));
        }
    }
    let who: Vec<(&RequestContext, i64, i64)> =
        items.iter().map(|(c, p, e)| (*c, *p, e.org_id)).collect();
    let pids = writable_many(&mut *tx, &who).await?;
    let ids = tx.reserve_ids("encounters", items.len()).await?;
    let mut rows = Vec::with_capacity(items.len());
    let mut admits = Vec::new();
    let mut orgs = Vec::with_capacity(items.len());
    let mut audits = Vec::with_capacity(items.len());
    for (((ctx, _, e), pid), id) in items.iter().zip(&pids).zip(&ids) {
        let now = ctx.clock.now_micros();
        let start = when(&e.start, now)?;
        let status = if e.kind == "inpatient" {
            "in-progress"
        } else {
            "finished"
        };
        rows.push(args![
            *id,
            *pid,
            e.org_id,
            &e.kind,
            status,
            e.dept.trim(),
            e.location.trim(),
            e.attending.trim(),
            e.reason.trim(),
            start,
            (status == "finished").then_some(start),
            &e.source,
            &e.source_id,
            now
        ]);
        if e.kind == "inpatient" {
            admits.push(args![*id, "admit", start, e.location.trim(), now]);
        }
        orgs.push((*pid, e.org_id));
        audits.push(
            AuditEntry::new(ctx, "record.encounter_add", "person", *pid)
                .org(Some(e.org_id))
                .details(serde_json::json!({"encounter": id, "kind": e.kind})),
        );
    }
    tx.insert_rows(
        "INSERT INTO encounters (id, person_id, org_id, kind, status, dept, location, attending, reason, start_at, end_at, source, source_id, created_at)",
        14,
        rows,
        "",
    )
    .await?;
    tx.insert_rows(
        "INSERT INTO encounter_events (encounter_id, kind, at, to_location, created_at)",
        5,
        admits,
        "",
    )
    .await?;
    know_all(tx, orgs).await?;
    audit::append(tx, &audits).await?;
    Ok(ids)
}

/// Transfers (`to_location`) or discharges an inpatient encounter (入出转).
pub async fn move_encounter(
    st: &AppState,
    ctx: &RequestContext,
    encounter_id: i64,
    kind: &str,
    to_location: &str,
    at: Option<String>,
) -> AppResult<()> {
    let mut tx = st.db.begin().await?;
    move_encounter_in(&mut tx, ctx, encounter_id, kind, to_location, at).await?;
    tx.commit().await
}

/// [`move_encounter`] inside the caller's transaction.
pub async fn move_encounter_in(
    tx: &mut Tx,
    ctx: &RequestContext,
    encounter_id: i64,
    kind: &str,
    to_location: &str,
    at: Option<String>,
) -> AppResult<()> {
    let row: Option<(i64, i64, String, String)> = tx
        .fetch_optional(
            "SELECT person_id, org_id, status, location FROM encounters WHERE id = $1",
            args![encounter_id],
        )
        .await?;
    let Some((pid, org, status, from)) = row else {
        return Err(AppError::not_found("encounter"));
    };
    writable(&mut *tx, ctx, pid, org).await?;
    if status != "in-progress" {
        return Err(AppError::conflict(
            "record.encounter_closed",
            "该次就诊已结束",
        ));
    }
    let now = ctx.clock.now_micros();
    let t = when(&at, now)?;
    match kind {
        "transfer" => {
            if to_location.trim().is_empty() {
                return Err(AppError::field(
                    "record.location_required",
                    "to_location",
                    "请填写转入病区/床位",
                ));
            }
            tx.execute(
                "UPDATE encounters SET location = $1 WHERE id = $2",
                args![to_location.trim(), encounter_id],
            )
            .await?;
        }
        "discharge" => {
            tx.execute(
                "UPDATE encounters SET status = 'finished', end_at = $1 WHERE id = $2",
                args![t, encounter_id],
            )
            .await?;
        }
        _ => {
            return Err(AppError::field(
                "record.move_invalid",
                "kind",
                "操作须为 transfer 或 discharge",
            ));
        }
    }
    tx.execute(
        "INSERT INTO encounter_events (encounter_id, kind, at, from_location, to_location, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![encounter_id, kind, t, from, to_location.trim(), now],
    )
    .await?;
    audit::append(
        tx,
        &[
            AuditEntry::new(ctx, &format!("record.encounter_{kind}"), "person", pid)
                .org(Some(org))
                .details(serde_json::json!({"encounter": encounter_id})),
        ],
    )
    .await
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConditionInput {
    pub org_id: i64,
    #[serde(default)]
    pub encounter_id: Option<i64>,
    /// Code system URI; ICD-10 when empty.
    #[serde(default)]
    pub system: String,
    pub code: String,
    pub display: String,
    #[serde(default)]
    pub clinical_status: String,
    #[serde(default)]
    pub onset: Option<String>,
    #[serde(default)]
    pub source: String,
}

fn icd10_ok(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && (b[2].is_ascii_digit() || b[2] == b'A' || b[2] == b'B')
        && code[3..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == 'x')
}

pub async fn add_condition(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    c: &ConditionInput,
) -> AppResult<i64> {
    let system = if c.system.trim().is_empty() {
        ICD10
    } else {
        c.system.trim()
    };
    let code = c.code.trim().to_uppercase();
    if system == ICD10 && !icd10_ok(&code) {
        return Err(AppError::field(
            "record.icd10_invalid",
            "code",
            format!("ICD-10 编码格式不正确：{}", c.code),
        ));
    }
    if c.display.trim().is_empty() {
        return Err(AppError::field(
            "record.display_required",
            "display",
            "请填写诊断名称",
        ));
    }
    let status = if c.clinical_status.is_empty() {
        "active"
    } else {
        c.clinical_status.as_str()
    };
    if !["active", "resolved", "inactive"].contains(&status) {
        return Err(AppError::field(
            "record.status_invalid",
            "clinical_status",
            "诊断状态须为 active/resolved/inactive",
        ));
    }
    let pid = writable(&st.db, ctx, person_id, c.org_id).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO conditions (person_id, org_id, encounter_id, system, code, display, clinical_status, onset, recorded_at, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            args![pid, c.org_id, c.encounter_id, system, code, c.display.trim(), status, &c.onset, now, &c.source],
        )
        .await?;
    know(&mut tx, pid, c.org_id).await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "record.condition_add", "person", pid).org(Some(c.org_id))],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObservationInput {
    pub org_id: i64,
    #[serde(default)]
    pub encounter_id: Option<i64>,
    /// `vital-signs` or `laboratory`
    #[serde(default)]
    pub category: String,
    /// Code system URI; LOINC when empty.
    #[serde(default)]
    pub system: String,
    pub code: String,
    #[serde(default)]
    pub display: String,
    pub value: Option<f64>,
    #[serde(default)]
    pub value_text: String,
    /// UCUM unit
    #[serde(default)]
    pub unit: String,
    pub ref_low: Option<f64>,
    pub ref_high: Option<f64>,
    /// Abnormal flag as sent (N, H, L, HH, LL, A); computed from the range when empty.
    #[serde(default)]
    pub flag: String,
    #[serde(default)]
    pub effective: Option<String>,
    #[serde(default)]
    pub source: String,
}

/// Flag from a value and its reference range.
pub fn flag_for(v: f64, low: Option<f64>, high: Option<f64>) -> &'static str {
    match (low, high) {
        (Some(l), _) if v < l => "L",
        (_, Some(h)) if v > h => "H",
        (None, None) => "",
        _ => "N",
    }
}

pub async fn add_observation(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    o: &ObservationInput,
) -> AppResult<i64> {
    let mut tx = st.db.begin().await?;
    let id = add_observation_in(&mut tx, ctx, person_id, o).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`add_observation`] inside the caller's transaction.
pub async fn add_observation_in(
    tx: &mut Tx,
    ctx: &RequestContext,
    person_id: i64,
    o: &ObservationInput,
) -> AppResult<i64> {
    let code = o.code.trim();
    if code.is_empty() {
        return Err(AppError::field(
            "record.code_required",
            "code",
            "请填写检验/体征代码",
        ));
    }
    if o.value.is_none() && o.value_text.trim().is_empty() {
        return Err(AppError::field(
            "record.value_required",
            "value",
            "请填写结果值",
        ));
    }
    if o.value.is_some_and(|v| !v.is_finite()) {
        return Err(AppError::field(
            "record.value_invalid",
            "value",
            "结果值须为有限数值",
        ));
    }
    let known = VITALS.iter().find(|(c, ..)| *c == code);
    let display = if o.display.trim().is_empty() {
        known.map(|k| k.1).unwrap_or(code).to_string()
    } else {
        o.display.trim().to_string()
    };
    let unit = if o.unit.trim().is_empty() {
        known.map(|k| k.2).unwrap_or("").to_string()
    } else {
        o.unit.trim().to_string()
    };
    let (low, high) = match (o.ref_low, o.ref_high, known) {
        (None, None, Some(k)) if k.4 > 0.0 => (Some(k.3), Some(k.4)),
        (l, h, _) => (l, h),
    };
    let flag = if !o.flag.trim().is_empty() {
        o.flag.trim().to_uppercase()
    } else {
        o.value
            .map(|v| flag_for(v, low, high))
            .unwrap_or("")
            .to_string()
    };
    let category = if o.category.is_empty() {
        if known.is_some() {
            "vital-signs"
        } else {
            "laboratory"
        }
    } else {
        o.category.as_str()
    };
    let system = if o.system.trim().is_empty() {
        LOINC
    } else {
        o.system.trim()
    };
    let pid = writable(&mut *tx, ctx, person_id, o.org_id).await?;
    let now = ctx.clock.now_micros();
    let at = when(&o.effective, now)?;
    let id = tx
        .scalar(
            "INSERT INTO observations (person_id, org_id, encounter_id, category, system, code, display, value_num, value_text, unit, ref_low, ref_high, flag, effective_at, source, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
            args![pid, o.org_id, o.encounter_id, category, system, code, display, o.value, o.value_text.trim(), unit, low, high, flag, at, &o.source, now],
        )
        .await?;
    know(tx, pid, o.org_id).await?;
    audit::append(
        tx,
        &[AuditEntry::new(ctx, "record.observation_add", "person", pid).org(Some(o.org_id))],
    )
    .await?;
    Ok(id)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AllergyInput {
    pub org_id: i64,
    pub substance: String,
    #[serde(default)]
    pub reaction: String,
    /// mild / moderate / severe
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub source: String,
}

pub async fn add_allergy(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    a: &AllergyInput,
) -> AppResult<i64> {
    if a.substance.trim().is_empty() {
        return Err(AppError::field(
            "record.substance_required",
            "substance",
            "请填写过敏物质",
        ));
    }
    if !a.severity.is_empty() && !["mild", "moderate", "severe"].contains(&a.severity.as_str()) {
        return Err(AppError::field(
            "record.severity_invalid",
            "severity",
            "严重程度须为 mild/moderate/severe",
        ));
    }
    let pid = writable(&st.db, ctx, person_id, a.org_id).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO allergies (person_id, org_id, substance, reaction, severity, status, recorded_at, source) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7) RETURNING id",
            args![pid, a.org_id, a.substance.trim(), a.reaction.trim(), &a.severity, now, &a.source],
        )
        .await?;
    know(&mut tx, pid, a.org_id).await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "record.allergy_add", "person", pid).org(Some(a.org_id))],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MedicationInput {
    pub org_id: i64,
    /// `prescribed` or `taken`
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub dose: String,
    #[serde(default)]
    pub route: String,
    #[serde(default)]
    pub frequency: String,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub source: String,
}

pub async fn add_medication(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    m: &MedicationInput,
) -> AppResult<i64> {
    if !["prescribed", "taken"].contains(&m.kind.as_str()) {
        return Err(AppError::field(
            "record.med_kind",
            "kind",
            "用药类型须为 prescribed（处方）或 taken（服用记录）",
        ));
    }
    if m.name.trim().is_empty() {
        return Err(AppError::field("record.med_name", "name", "请填写药品名称"));
    }
    let pid = writable(&st.db, ctx, person_id, m.org_id).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO medications (person_id, org_id, kind, code, name, dose, route, frequency, start_date, end_date, status, recorded_at, source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $12) RETURNING id",
            args![pid, m.org_id, &m.kind, m.code.trim(), m.name.trim(), m.dose.trim(), m.route.trim(), m.frequency.trim(), &m.start_date, &m.end_date, now, &m.source],
        )
        .await?;
    know(&mut tx, pid, m.org_id).await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "record.medication_add", "person", pid).org(Some(m.org_id))],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A report or image to attach.
#[derive(Debug, Clone, Default)]
pub struct DocumentInput {
    pub org_id: i64,
    pub kind: String,
    pub title: String,
    pub mime: String,
    pub content: Vec<u8>,
}

pub const DOCUMENT_KINDS: &[&str] = &["report", "image", "discharge", "other"];

/// Attaches a report or image (at most 10 MiB).
pub async fn add_document(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    d: DocumentInput,
) -> AppResult<i64> {
    if d.title.trim().is_empty() || d.content.is_empty() {
        return Err(AppError::field(
            "record.document_required",
            "title",
            "请填写标题并选择文件",
        ));
    }
    if d.content.len() > 10 * 1024 * 1024 {
        return Err(AppError::field(
            "record.document_large",
            "file",
            "文件不能超过10MB",
        ));
    }
    if !DOCUMENT_KINDS.contains(&d.kind.as_str()) {
        return Err(AppError::field(
            "record.document_kind",
            "kind",
            "文档类型不正确",
        ));
    }
    let pid = writable(&st.db, ctx, person_id, d.org_id).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO documents (person_id, org_id, kind, title, mime, content, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            args![pid, d.org_id, &d.kind, d.title.trim(), &d.mime, d.content, now],
        )
        .await?;
    know(&mut tx, pid, d.org_id).await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "record.document_add", "person", pid).org(Some(d.org_id))],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Encounter {
    pub id: i64,
    pub person_id: i64,
    pub org_id: i64,
    /// The institution's name (from the base data).
    #[sqlx(default)]
    pub org_name: String,
    pub kind: String,
    pub status: String,
    pub dept: String,
    pub location: String,
    pub attending: String,
    pub reason: String,
    pub start_at: i64,
    pub end_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Condition {
    pub id: i64,
    /// The institution that recorded it.
    pub org_id: i64,
    /// The institution's name (from the base data).
    #[sqlx(default)]
    pub org_name: String,
    pub system: String,
    pub code: String,
    pub display: String,
    pub clinical_status: String,
    pub onset: Option<String>,
    pub recorded_at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Observation {
    pub id: i64,
    /// The institution that recorded it.
    pub org_id: i64,
    /// The institution's name (from the base data).
    #[sqlx(default)]
    pub org_name: String,
    pub category: String,
    pub system: String,
    pub code: String,
    pub display: String,
    pub value_num: Option<f64>,
    pub value_text: String,
    pub unit: String,
    pub ref_low: Option<f64>,
    pub ref_high: Option<f64>,
    pub flag: String,
    pub effective_at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Allergy {
    pub id: i64,
    /// The institution that recorded it.
    pub org_id: i64,
    /// The institution's name (from the base data).
    #[sqlx(default)]
    pub org_name: String,
    pub substance: String,
    pub reaction: String,
    pub severity: String,
    pub status: String,
    pub recorded_at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Medication {
    pub id: i64,
    /// The institution that recorded it.
    pub org_id: i64,
    /// The institution's name (from the base data).
    #[sqlx(default)]
    pub org_name: String,
    pub kind: String,
    pub code: String,
    pub name: String,
    pub dose: String,
    pub route: String,
    pub frequency: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub status: String,
    pub recorded_at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DocumentMeta {
    pub id: i64,
    /// The institution that recorded it.
    pub org_id: i64,
    /// The institution's name (from the base data).
    #[sqlx(default)]
    pub org_name: String,
    pub kind: String,
    pub title: String,
    pub mime: String,
    pub created_at: i64,
}

/// Everything recorded for one human (the merge cluster), newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HealthRecord {
    pub encounters: Vec<Encounter>,
    pub conditions: Vec<Condition>,
    pub observations: Vec<Observation>,
    pub allergies: Vec<Allergy>,
    pub medications: Vec<Medication>,
    pub documents: Vec<DocumentMeta>,
}

/// Reads the record of a person's cluster. The caller has already checked access.
pub async fn load(st: &AppState, ids: &[i64]) -> AppResult<HealthRecord> {
    let q = |sql: &str| {
        let mut f = Filter::new();
        let list = f.placeholders(ids);
        (sql.replace("{ids}", &list), f.args)
    };
    let (s, a) = q(
        "SELECT id, person_id, org_id, kind, status, dept, location, attending, reason, start_at, end_at FROM encounters WHERE person_id IN ({ids}) ORDER BY start_at DESC",
    );
    let encounters = st.db.fetch_all(&s, a).await?;
    let (s, a) = q(
        "SELECT id, org_id, system, code, display, clinical_status, onset, recorded_at FROM conditions WHERE person_id IN ({ids}) ORDER BY recorded_at DESC",
    );
    let conditions = st.db.fetch_all(&s, a).await?;
    let (s, a) = q(
        "SELECT id, org_id, category, system, code, display, value_num, value_text, unit, ref_low, ref_high, flag, effective_at FROM observations WHERE person_id IN ({ids}) ORDER BY effective_at DESC LIMIT 2000",
    );
    let observations = st.db.fetch_all(&s, a).await?;
    let (s, a) = q(
        "SELECT id, org_id, substance, reaction, severity, status, recorded_at FROM allergies WHERE person_id IN ({ids}) ORDER BY recorded_at DESC",
    );
    let allergies = st.db.fetch_all(&s, a).await?;
    let (s, a) = q(
        "SELECT id, org_id, kind, code, name, dose, route, frequency, start_date, end_date, status, recorded_at FROM medications WHERE person_id IN ({ids}) ORDER BY recorded_at DESC",
    );
    let medications = st.db.fetch_all(&s, a).await?;
    let (s, a) = q(
        "SELECT id, org_id, kind, title, mime, created_at FROM documents WHERE person_id IN ({ids}) ORDER BY created_at DESC",
    );
    let documents = st.db.fetch_all(&s, a).await?;
    let mut rec = HealthRecord {
        encounters,
        conditions,
        observations,
        allergies,
        medications,
        documents,
    };
    name_orgs(st, &mut rec).await?;
    Ok(rec)
}

/// Fills in the names of the institutions the record's rows come from.
async fn name_orgs(st: &AppState, rec: &mut HealthRecord) -> AppResult<()> {
    let r = &*rec;
    let ids: Vec<i64> = (r.encounters.iter().map(|x| x.org_id))
        .chain(r.conditions.iter().map(|x| x.org_id))
        .chain(r.observations.iter().map(|x| x.org_id))
        .chain(r.allergies.iter().map(|x| x.org_id))
        .chain(r.medications.iter().map(|x| x.org_id))
        .chain(r.documents.iter().map(|x| x.org_id))
        .collect();
    let names = yiyang_basedata::service::org_names(&st.db, &ids).await?;
    let name = |id: i64| names.get(&id).cloned().unwrap_or_default();
    rec.encounters
        .iter_mut()
        .for_each(|x| x.org_name = name(x.org_id));
    rec.conditions
        .iter_mut()
        .for_each(|x| x.org_name = name(x.org_id));
    rec.observations
        .iter_mut()
        .for_each(|x| x.org_name = name(x.org_id));
    rec.allergies
        .iter_mut()
        .for_each(|x| x.org_name = name(x.org_id));
    rec.medications
        .iter_mut()
        .for_each(|x| x.org_name = name(x.org_id));
    rec.documents
        .iter_mut()
        .for_each(|x| x.org_name = name(x.org_id));
    Ok(())
}

/// The record of a person the caller may read; audited.
pub async fn read(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
) -> AppResult<(i64, Vec<i64>, HealthRecord)> {
    let pid = survivor(&st.db, person_id)
        .await
        .map_err(|_| AppError::not_found("person"))?;
    let ids = cluster(&st.db, pid).await?;
    if !can_see(&st.db, ctx, &ids, perm::PATIENT_READ).await? {
        st.audit
            .record(AuditEntry::new(ctx, "record.read", "person", person_id).outcome("not_found"))
            .await;
        return Err(AppError::not_found("person"));
    }
    let rec = load(st, &ids).await?;
    st.audit
        .record(AuditEntry::new(ctx, "record.read", "person", pid))
        .await;
    Ok((pid, ids, rec))
}

/// One document's bytes, if the caller may read its person.
pub async fn document(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
) -> AppResult<(String, String, Vec<u8>)> {
    let row: Option<(i64, String, String, Vec<u8>)> = st
        .db
        .fetch_optional(
            "SELECT person_id, title, mime, content FROM documents WHERE id = $1",
            args![id],
        )
        .await?;
    let Some((pid, title, mime, content)) = row else {
        return Err(AppError::not_found("document"));
    };
    let ids = cluster(&st.db, survivor(&st.db, pid).await?).await?;
    if !can_see(&st.db, ctx, &ids, perm::PATIENT_READ).await? {
        return Err(AppError::not_found("document"));
    }
    st.audit
        .record(AuditEntry::new(ctx, "record.document_read", "document", id))
        .await;
    Ok((title, mime, content))
}
