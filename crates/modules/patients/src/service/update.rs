//! Demographic updates from a source: the home institution changes, others propose.

use super::{ValidPerson, load_row, sealed_id_number, stored_fields, survivor};
use crate::matching;
use serde::Serialize;
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Tx, args};

/// What an update of demographics did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UpdateOutcome {
    /// Fields changed on the person.
    pub changed: Vec<String>,
    /// Fields the source sent differently but may not change (not the home institution).
    pub proposed: Vec<String>,
}

/// Updates a person's demographics from a source (e.g. HL7 ADT^A08) inside `tx`. Only
/// fields the source sent (non-empty) count. The home institution (the one that registered
/// the person) changes them; another institution's differing values are kept in the
/// person's history as proposals for review, never applied over the home record. Block
/// keys are rebuilt, so matching sees the new values.
pub async fn update_in(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    person_id: i64,
    v: &ValidPerson,
) -> AppResult<UpdateOutcome> {
    let p = &v.input;
    if !ctx.has_for(perm::PATIENT_WRITE, p.org_id) {
        return Err(AppError::forbidden(perm::PATIENT_WRITE));
    }
    let pid = survivor(&mut *tx, person_id).await?;
    let r = load_row(&mut *tx, pid)
        .await?
        .ok_or_else(|| AppError::not_found("person"))?;
    let old_id = match &r.id_cipher {
        Some(b) => st.keys.decrypt(b)?,
        None => String::new(),
    };
    let id_new = v.id_number.clone().unwrap_or_default();
    let diffs: Vec<(&str, String, String)> = [
        ("name", r.name.clone(), p.name.clone()),
        ("sex", r.sex.clone(), p.sex.clone()),
        (
            "birth_date",
            r.birth_date.clone().unwrap_or_default(),
            p.birth_date.clone(),
        ),
        ("id_number", old_id, id_new.clone()),
        ("phone", r.phone.clone(), p.phone.clone()),
        (
            "address_detail",
            r.address_detail.clone(),
            p.address_detail.trim().to_string(),
        ),
    ]
    .into_iter()
    .filter(|(_, old, new)| !new.is_empty() && old != new)
    .collect();
    let mut out = UpdateOutcome {
        changed: vec![],
        proposed: vec![],
    };
    if diffs.is_empty() {
        return Ok(out);
    }
    let names: Vec<String> = diffs.iter().map(|d| d.0.to_string()).collect();
    // Never the ID number itself in the history: only that it changed.
    let shown = |f: &str, x: &str| {
        if f == "id_number" {
            "***".to_string()
        } else {
            x.to_string()
        }
    };
    let before: serde_json::Map<String, serde_json::Value> = diffs
        .iter()
        .map(|(f, o, _)| (f.to_string(), shown(f, o).into()))
        .collect();
    let after: serde_json::Map<String, serde_json::Value> = diffs
        .iter()
        .map(|(f, _, n)| (f.to_string(), shown(f, n).into()))
        .collect();
    let now = ctx.clock.now_micros();
    if r.home_org_id != Some(p.org_id) {
        event(
            tx,
            ctx,
            "update_proposed",
            pid,
            None,
            serde_json::json!({"org_id": p.org_id, "before": before, "proposed": after}),
        )
        .await?;
        out.proposed = names;
        return Ok(out);
    }
    let engine = matching::engine(&st.db).await?;
    // What the source did not send stays as stored.
    let mut merged = p.clone();
    let keep = |new: &mut String, old: &str| {
        if new.trim().is_empty() {
            *new = old.to_string();
        }
    };
    keep(&mut merged.name, &r.name);
    keep(&mut merged.sex, &r.sex);
    keep(&mut merged.phone, &r.phone);
    keep(&mut merged.address_detail, &r.address_detail);
    keep(
        &mut merged.birth_date,
        r.birth_date.as_deref().unwrap_or(""),
    );
    merged.district = r.district.clone();
    merged.town = r.town.clone();
    let id_number = if id_new.is_empty() {
        None
    } else {
        Some(id_new.as_str())
    };
    let keep_old_id = id_new.is_empty();
    let fields = merged.fields(if keep_old_id { None } else { id_number });
    let me = engine.matcher.normalizer.normalize(&fields.raw(0));
    let pinyin = matching::stored_pinyin(&me);
    let (cipher, blind) = sealed_id_number(st, id_number);
    let birth = (!merged.birth_date.is_empty()).then(|| merged.birth_date.clone());
    tx.execute(
        "UPDATE persons SET name = $1, name_pinyin = $2, sex = $3, birth_date = $4, phone = $5, address_detail = $6, \
         id_cipher = COALESCE($7, id_cipher), id_blind = COALESCE($8, id_blind), updated_at = $9 WHERE id = $10",
        args![&merged.name, pinyin, &merged.sex, birth, &merged.phone, merged.address_detail.trim(), cipher, blind, now, pid],
    )
    .await?;
    if keep_old_id {
        // Block keys from what the record now holds, including its stored ID number.
        let me2 = engine
            .matcher
            .normalizer
            .normalize(&stored_fields(st, &mut *tx, pid).await?.raw(pid));
        matching::index_person(tx, &engine, pid, &me2).await?;
    } else {
        matching::index_person(tx, &engine, pid, &me).await?;
    }
    event(
        tx,
        ctx,
        "update",
        pid,
        None,
        serde_json::json!({"org_id": p.org_id, "before": before, "after": after}),
    )
    .await?;
    audit::append(
        tx,
        &[AuditEntry::new(ctx, "person.update", "person", pid)
            .org(Some(p.org_id))
            .details(serde_json::json!({"fields": names}))],
    )
    .await?;
    out.changed = names;
    Ok(out)
}

pub(super) async fn event(
    tx: &mut Tx,
    ctx: &RequestContext,
    kind: &str,
    pid: i64,
    other: Option<i64>,
    details: serde_json::Value,
) -> AppResult<()> {
    tx.execute(
        "INSERT INTO mpi_events (kind, person_id, other_id, actor_login, at, details) VALUES ($1, $2, $3, $4, $5, $6)",
        args![kind, pid, other, &ctx.actor.login, ctx.clock.now_micros(), details.to_string()],
    )
    .await
    .map(|_| ())
}
