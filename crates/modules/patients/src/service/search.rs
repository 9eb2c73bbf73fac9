//! Searching persons within the caller's scope, one window at a time.

use super::{PERSON_COLS, PersonRow, PersonView, present};
use serde::Deserialize;
use yiyang_core::idnumber;
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::audit::AuditEntry;
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Sort, Window, like_pattern};

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct PersonQuery {
    /// Name (or pinyin) fragment, full ID number, phone number, or a source identifier value.
    pub q: Option<String>,
    pub org_id: Option<i64>,
    pub district: Option<String>,
    /// Include merged records.
    pub include_merged: Option<bool>,
}

/// Columns the person list sorts by.
pub const PERSON_SORTS: &[Sort] = &[
    Sort {
        key: "name",
        sql: "name_pinyin",
    },
    Sort {
        key: "birth_date",
        sql: "birth_date",
    },
    Sort {
        key: "district",
        sql: "district",
    },
    Sort {
        key: "created_at",
        sql: "created_at",
    },
];

/// Persons within the caller's scope, one window of them (newest first unless sorted) and
/// the number matching; audited with the ids returned.
pub async fn search_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &PersonQuery,
    win: &Window,
) -> AppResult<Paged<PersonView>> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        let list = f.placeholders(&orgs);
        f.raw(&format!("EXISTS (SELECT 1 FROM person_orgs po WHERE po.person_id = persons.id AND po.org_id IN ({list}))"));
    }
    if let Some(o) = q.org_id {
        f.add("EXISTS (SELECT 1 FROM person_orgs po2 WHERE po2.person_id = persons.id AND po2.org_id = ?)", o);
    }
    if !q.include_merged.unwrap_or(false) {
        f.raw("status = 'active'");
    }
    if let Some(d) = q.district.as_deref().filter(|s| !s.is_empty()) {
        f.add("district = ?", d);
    }
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let today = yiyang_core::clock::today_cst(ctx.clock.as_ref());
        if let Ok((idn, _)) = idnumber::parse(text, today, None) {
            f.add(
                "id_blind = ?",
                st.keys.blind_index("id_number", idn.as_str()),
            );
        } else if text.chars().all(|c| c.is_ascii_digit()) && (7..=12).contains(&text.len()) {
            let a = f.next();
            f.args.push(text.into());
            f.raw(&format!("(phone = {a} OR phone2 = {a} OR EXISTS (SELECT 1 FROM person_identifiers pi WHERE pi.person_id = persons.id AND pi.value = {a}))"));
        } else if text.is_ascii() {
            let a = f.next();
            f.args.push(like_pattern(&text.replace(' ', "")).into());
            let b = f.next();
            f.args.push(text.to_string().into());
            f.raw(&format!("(REPLACE(name_pinyin, ' ', '') LIKE {a} ESCAPE '\\' OR EXISTS (SELECT 1 FROM person_identifiers pi WHERE pi.person_id = persons.id AND pi.value = {b}))"));
        } else {
            f.add("name LIKE ? ESCAPE '\\'", like_pattern(text));
        }
    }
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM persons{}", f.sql()),
            f.args.clone(),
        )
        .await?;
    let w = f.sql();
    let tail = win.tail(&mut f, "id DESC");
    let rows: Vec<PersonRow> = st
        .db
        .fetch_all(
            &format!("SELECT {PERSON_COLS} FROM persons{w}{tail}"),
            f.args,
        )
        .await?;
    let m = st.masking.masker(ctx, false).await?;
    let today = yiyang_core::clock::today_cst(ctx.clock.as_ref());
    let out = rows
        .iter()
        .map(|r| present(st, r, &m, today))
        .collect::<AppResult<Vec<_>>>()?;
    let ids: Vec<i64> = out.iter().map(|p| p.id).collect();
    st.audit
        .record(
            AuditEntry::new(ctx, "person.search", "person", "")
                .details(serde_json::json!({"ids": ids, "q": q.q})),
        )
        .await;
    Ok(Paged::exact(out, total))
}
