//! Reading staff: the scoped, masked and audited list and record.

use super::{PROFESSIONS, REVIEW_STATUSES, Unmask};
use serde::{Deserialize, Serialize};
use yiyang_core::idnumber;
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::AuditEntry;
use yiyang_platform::privacy::RecordRead;
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Sort, Window, args, like_pattern};

#[derive(Debug, Clone, sqlx::FromRow)]
struct StaffRow {
    id: i64,
    org_id: i64,
    dept_id: Option<i64>,
    name: String,
    sex: String,
    birth_date: String,
    id_cipher: Vec<u8>,
    phone: String,
    profession: String,
    title: String,
    qualification_no: String,
    licence_no: String,
    licence_expiry: Option<String>,
    status: String,
    review_note: String,
    deleted_at: Option<i64>,
    created_at: i64,
    org_name: String,
    dept_name: Option<String>,
}

const STAFF_SELECT: &str = "SELECT s.id, s.org_id, s.dept_id, s.name, s.sex, s.birth_date, s.id_cipher, s.phone, s.profession, s.title, \
    s.qualification_no, s.licence_no, s.licence_expiry, s.status, s.review_note, s.deleted_at, s.created_at, o.name AS org_name, d.name AS dept_name \
    FROM staff s JOIN orgs o ON o.id = s.org_id LEFT JOIN departments d ON d.id = s.dept_id";

/// A staff record as shown to a caller: masked unless unmasked access was granted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Staff {
    pub id: i64,
    pub org_id: i64,
    pub org_name: String,
    pub dept_id: Option<i64>,
    pub dept_name: Option<String>,
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    pub id_number: String,
    pub phone: String,
    pub profession: String,
    pub title: String,
    pub qualification_no: String,
    pub licence_no: String,
    pub licence_expiry: Option<String>,
    pub status: String,
    pub review_note: String,
    pub deleted: bool,
    pub created_at: i64,
    pub masked: bool,
}

fn present(st: &AppState, r: StaffRow, m: &yiyang_platform::masking::Masker) -> AppResult<Staff> {
    let id_plain = st.keys.decrypt(&r.id_cipher)?;
    Ok(Staff {
        id: r.id,
        org_id: r.org_id,
        org_name: r.org_name,
        dept_id: r.dept_id,
        dept_name: r.dept_name,
        name: m.mask("name", &r.name),
        sex: r.sex,
        birth_date: if m.is_unmasked() {
            r.birth_date
        } else {
            r.birth_date
                .get(..4)
                .map(|y| format!("{y}-**-**"))
                .unwrap_or_default()
        },
        id_number: m.mask("id_number", &id_plain),
        phone: m.mask("phone", &r.phone),
        profession: r.profession,
        title: r.title,
        qualification_no: r.qualification_no,
        licence_no: r.licence_no,
        licence_expiry: r.licence_expiry,
        status: r.status,
        review_note: r.review_note,
        deleted: r.deleted_at.is_some(),
        created_at: r.created_at,
        masked: !m.is_unmasked(),
    })
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct StaffQuery {
    /// Name fragment, full ID number (exact, via the blind index) or phone number.
    pub q: Option<String>,
    pub org_id: Option<i64>,
    pub profession: Option<String>,
    pub status: Option<String>,
    /// Include deleted records (回收站).
    pub deleted: Option<bool>,
    /// Only licences expired or expiring within this many days (证照到期预警).
    pub expiring_within_days: Option<i64>,
}

fn unmask_allowed(ctx: &RequestContext, org_id: Option<i64>) -> bool {
    match org_id {
        Some(o) => ctx.has_for(perm::STAFF_READ_UNMASKED, o),
        None => ctx.has(perm::STAFF_READ_UNMASKED),
    }
}

/// Columns the staff list sorts by.
pub const STAFF_SORTS: &[Sort] = &[
    Sort {
        key: "name",
        sql: "s.name",
    },
    Sort {
        key: "org",
        sql: "o.name",
    },
    Sort {
        key: "dept",
        sql: "d.name",
    },
    Sort {
        key: "profession",
        sql: "s.profession",
    },
    Sort {
        key: "title",
        sql: "s.title",
    },
    Sort {
        key: "licence_expiry",
        sql: "s.licence_expiry",
    },
    Sort {
        key: "status",
        sql: "s.status",
    },
];

/// Staff within the caller's scope (the first 500; pages use [`list_staff_page`]).
pub async fn list_staff(
    st: &AppState,
    ctx: &RequestContext,
    q: &StaffQuery,
    um: &Unmask,
) -> AppResult<Vec<Staff>> {
    Ok(list_staff_page(st, ctx, q, um, &Window::first(500))
        .await?
        .rows)
}

/// Staff within the caller's `staff.read` scope, one page and the number matching;
/// audited as one read listing the ids returned.
pub async fn list_staff_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &StaffQuery,
    um: &Unmask,
    w: &Window,
) -> AppResult<Paged<Staff>> {
    let scope = ctx.require(perm::STAFF_READ)?;
    let purpose = um.purpose(unmask_allowed(ctx, q.org_id), perm::STAFF_READ_UNMASKED)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("s.org_id", &orgs);
    }
    if let Some(o) = q.org_id {
        f.add("s.org_id = ?", o);
    }
    if q.deleted.unwrap_or(false) {
        f.raw("s.deleted_at IS NOT NULL");
    } else {
        f.raw("s.deleted_at IS NULL");
    }
    if let Some(p) = q.profession.as_deref().filter(|s| !s.is_empty()) {
        let codes: Vec<&str> = PROFESSIONS.iter().map(|(c, _)| *c).collect();
        yiyang_core::text::one_of("profession", "职业类别", p, &codes)?;
        f.add("s.profession = ?", p);
    }
    if let Some(p) = q.status.as_deref().filter(|s| !s.is_empty()) {
        yiyang_core::text::one_of("status", "状态", p, REVIEW_STATUSES)?;
        f.add("s.status = ?", p);
    }
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let today = yiyang_core::clock::today_cst(ctx.clock.as_ref());
        if let Ok((idn, _)) = idnumber::parse(text, today, None) {
            f.add(
                "s.id_blind = ?",
                st.keys.blind_index("id_number", idn.as_str()),
            );
        } else if text.chars().all(|c| c.is_ascii_digit()) && text.len() >= 7 {
            f.add("s.phone = ?", text);
        } else {
            f.add("s.name LIKE ? ESCAPE '\\'", like_pattern(text));
        }
    }
    if let Some(days) = q.expiring_within_days.filter(|d| (0..=3650).contains(d)) {
        let today = yiyang_core::clock::today_cst(ctx.clock.as_ref());
        let until = today + chrono::Duration::days(days);
        f.add(
            "s.licence_expiry <= ?",
            until.format("%Y-%m-%d").to_string(),
        );
    }
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!(
                "SELECT COUNT(*) FROM staff s JOIN orgs o ON o.id = s.org_id LEFT JOIN departments d ON d.id = s.dept_id{where_sql}"
            ),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "s.id");
    let rows: Vec<StaffRow> = st
        .db
        .fetch_all(&format!("{STAFF_SELECT}{where_sql}{tail}"), f.args)
        .await?;
    let m = st.masking.masker(ctx, purpose.is_some()).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let out = rows
        .into_iter()
        .map(|r| present(st, r, &m))
        .collect::<AppResult<Vec<_>>>()?;
    let action = if purpose.is_some() {
        "staff.list_unmasked"
    } else {
        "staff.list"
    };
    st.audit
        .record(
            AuditEntry::new(ctx, action, "staff", "")
                .purpose(purpose.as_deref().unwrap_or(""))
                .details(serde_json::json!({"ids": ids, "q": q.q})),
        )
        .await;
    Ok(Paged::exact(out, total))
}

/// One staff record; out-of-scope ids look exactly like missing ones.
pub async fn get_staff(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    um: &Unmask,
) -> AppResult<Staff> {
    let scope = ctx.require(perm::STAFF_READ)?;
    let row: Option<StaffRow> = st
        .db
        .fetch_optional(&format!("{STAFF_SELECT} WHERE s.id = $1"), args![id])
        .await?;
    let row = match row {
        Some(r) if scope.allows(r.org_id) => r,
        _ => {
            st.audit
                .record(AuditEntry::new(ctx, "staff.read", "staff", id).outcome("not_found"))
                .await;
            return Err(AppError::not_found("staff"));
        }
    };
    let read = RecordRead {
        action: "staff.read",
        unmasked_action: "staff.read_unmasked",
        resource: "staff",
        id,
        org: Some(row.org_id),
    }
    .open(
        st,
        ctx,
        um,
        unmask_allowed(ctx, Some(row.org_id)),
        perm::STAFF_READ_UNMASKED,
    )
    .await?;
    let s = present(st, row, &read.masker)?;
    read.audit(st, ctx).await;
    Ok(s)
}
