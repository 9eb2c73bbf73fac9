//! 就诊与住院: the encounters of the caller's institutions as a list of the UI kit (the
//! clinicians' work list: who is in hospital now, who was seen today), with the filters the
//! home page's cards open. Patients' names are masked for the caller; the read is audited.

use serde::Serialize;
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::AuditEntry;
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Sort, Window, like_pattern};

use crate::record::ENCOUNTER_KINDS;

/// Encounter states: in progress (在院/进行中) or finished.
pub const STATUSES: &[(&str, &str)] = &[("in-progress", "进行中（在院）"), ("finished", "已结束")];

/// Filters of the encounter list.
#[derive(Debug, Clone, Default)]
pub struct EncounterQuery {
    /// One of [`ENCOUNTER_KINDS`].
    pub kind: Option<String>,
    /// One of [`STATUSES`].
    pub status: Option<String>,
    /// A fragment of the department or the ward/bed.
    pub dept: Option<String>,
    /// A fragment of the patient's name.
    pub q: Option<String>,
    /// Started on this day (YYYY-MM-DD, China Standard Time).
    pub date: Option<String>,
}

/// Columns the list sorts by.
pub const SORTS: &[Sort] = &[
    Sort {
        key: "start_at",
        sql: "e.start_at",
    },
    Sort {
        key: "dept",
        sql: "e.dept",
    },
    Sort {
        key: "location",
        sql: "e.location",
    },
    Sort {
        key: "kind",
        sql: "e.kind",
    },
];

/// One row of the list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EncounterRow {
    pub id: i64,
    pub person_id: i64,
    pub org_id: i64,
    pub org_name: String,
    pub kind: String,
    pub status: String,
    pub dept: String,
    pub location: String,
    pub attending: String,
    pub reason: String,
    pub start_at: i64,
    pub end_at: Option<i64>,
    /// Masked for the caller.
    pub person_name: String,
    pub sex: String,
    pub birth_date: Option<String>,
}

use yiyang_core::clock::day_start_cst as day_start;

/// The list's WHERE clause in the caller's `patient.read` scope (the encounter's
/// institution), with the filters checked (an unknown value answers 400).
fn filter(ctx: &RequestContext, q: &EncounterQuery) -> AppResult<Filter> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("e.org_id", &orgs);
    }
    let t = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(k) = t(&q.kind) {
        let kinds: Vec<&str> = ENCOUNTER_KINDS.iter().map(|(c, _)| *c).collect();
        yiyang_core::text::one_of("kind", "类型", &k, &kinds)?;
        f.add("e.kind = ?", k);
    }
    if let Some(s) = t(&q.status) {
        let all: Vec<&str> = STATUSES.iter().map(|(c, _)| *c).collect();
        yiyang_core::text::one_of("status", "状态", &s, &all)?;
        f.add("e.status = ?", s);
    }
    if let Some(d) = t(&q.dept) {
        let ph = f.next();
        f.args.push(like_pattern(&d).into());
        f.raw(&format!(
            "(LOWER(e.dept) LIKE {ph} ESCAPE '\\' OR LOWER(e.location) LIKE {ph} ESCAPE '\\')"
        ));
    }
    if let Some(n) = t(&q.q) {
        f.add(
            "EXISTS (SELECT 1 FROM persons pn WHERE pn.id = e.person_id AND pn.name LIKE ? ESCAPE '\\')",
            like_pattern(&n),
        );
    }
    if let Some(d) = t(&q.date) {
        let day = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
            AppError::field(
                "filter.invalid",
                "date",
                format!("日期格式不正确：{d}（应为 YYYY-MM-DD）"),
            )
        })?;
        let from = day_start(day);
        f.add("e.start_at >= ?", from);
        f.add("e.start_at < ?", from + 86_400_000_000);
    }
    Ok(f)
}

/// How many encounters match (the home page's cards count with this).
pub async fn count(st: &AppState, ctx: &RequestContext, q: &EncounterQuery) -> AppResult<i64> {
    let f = filter(ctx, q)?;
    st.db
        .scalar(
            &format!("SELECT COUNT(*) FROM encounters e{}", f.sql()),
            f.args,
        )
        .await
}

/// One window of the encounters in scope (latest first unless sorted) and their number;
/// names masked for the caller, the read audited with the ids shown.
pub async fn list_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &EncounterQuery,
    w: &Window,
) -> AppResult<Paged<EncounterRow>> {
    let mut f = filter(ctx, q)?;
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM encounters e{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "e.start_at DESC, e.id DESC");
    let mut rows: Vec<EncounterRow> = st
        .db
        .fetch_all(
            &format!(
                "SELECT e.id, e.person_id, e.org_id, '' AS org_name, e.kind, e.status, e.dept, e.location, \
                 e.attending, e.reason, e.start_at, e.end_at, p.name AS person_name, p.sex, p.birth_date \
                 FROM encounters e JOIN persons p ON p.id = e.person_id{where_sql}{tail}"
            ),
            f.args,
        )
        .await?;
    let org_ids: Vec<i64> = rows.iter().map(|r| r.org_id).collect();
    let names = yiyang_basedata::service::org_names(&st.db, &org_ids).await?;
    let m = st.masking.masker(ctx, false).await?;
    for r in &mut rows {
        r.org_name = names.get(&r.org_id).cloned().unwrap_or_default();
        r.person_name = m.mask("name", &r.person_name);
        r.reason = m.mask("free_text", &r.reason);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.person_id).collect();
    st.audit
        .record(
            AuditEntry::new(ctx, "encounter.list", "person", "").details(serde_json::json!({
                "ids": ids,
                "kind": q.kind,
                "status": q.status,
                "date": q.date,
            })),
        )
        .await;
    Ok(Paged::exact(rows, total))
}
