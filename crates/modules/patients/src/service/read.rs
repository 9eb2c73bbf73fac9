//! Reading one person: merge clusters, visibility, the masked view, identifiers and contacts.

use super::{LIVING, PERSON_COLS, PersonRow, Unmask, norm_phone};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::masking::Masker;
use yiyang_platform::privacy::RecordRead;
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, Db, Filter, args};

/// Follows `merged_into` to the surviving person.
pub async fn survivor(mut db: impl Conn, mut id: i64) -> AppResult<i64> {
    for _ in 0..64 {
        let next: Option<(Option<i64>,)> = db
            .fetch_optional("SELECT merged_into FROM persons WHERE id = $1", args![id])
            .await?;
        match next {
            Some((Some(n),)) => id = n,
            Some((None,)) => return Ok(id),
            None => return Err(AppError::not_found("person")),
        }
    }
    Err(AppError::internal("merge chain too long"))
}

/// The person and everyone merged into it (recursively): one human's records.
pub async fn cluster(mut db: impl Conn, id: i64) -> AppResult<Vec<i64>> {
    let mut all = vec![id];
    let mut frontier = vec![id];
    while !frontier.is_empty() {
        let mut f = Filter::new();
        f.any_of("merged_into", &frontier);
        let rows: Vec<(i64,)> = db
            .fetch_all(&format!("SELECT id FROM persons{}", f.sql()), f.args)
            .await?;
        frontier = rows
            .into_iter()
            .map(|r| r.0)
            .filter(|x| !all.contains(x))
            .collect();
        all.extend(&frontier);
    }
    Ok(all)
}

/// The institutions that know any record of the cluster (registered or recorded there).
pub async fn cluster_orgs(mut db: impl Conn, ids: &[i64]) -> AppResult<BTreeSet<i64>> {
    let mut f = Filter::new();
    f.any_of("person_id", ids);
    let rows: Vec<(i64,)> = db
        .fetch_all(
            &format!("SELECT DISTINCT org_id FROM person_orgs{}", f.sql()),
            f.args,
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Whether the caller may see the person: scope meets an institution that knows them, or
/// the caller is a resident linked to them (self or an authorised family member).
pub async fn can_see(
    mut db: impl Conn,
    ctx: &RequestContext,
    ids: &[i64],
    permission: &str,
) -> AppResult<bool> {
    if let Some(scope) = ctx.scope_of(permission) {
        if scope == Scope::City {
            return Ok(true);
        }
        let orgs = cluster_orgs(&mut db, ids).await?;
        if orgs.iter().any(|o| scope.allows(*o)) {
            return Ok(true);
        }
    }
    if permission == perm::PATIENT_READ {
        let mut f = Filter::new();
        f.any_of("person_id", ids);
        f.add("account_id = ?", ctx.actor.id);
        f.raw("can_view = TRUE");
        return Ok(db
            .scalar(
                &format!("SELECT COUNT(*) FROM person_contacts{}", f.sql()),
                f.args,
            )
            .await?
            > 0);
    }
    Ok(false)
}

/// A person as shown to a caller.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonView {
    pub id: i64,
    pub name: String,
    pub name_pinyin: String,
    pub sex: String,
    pub birth_date: String,
    pub age: Option<i64>,
    pub id_number: String,
    pub insurance_no: String,
    pub social_card_no: String,
    pub phone: String,
    pub phone2: String,
    pub address: String,
    pub district: String,
    pub living_situation: String,
    pub status: String,
    pub merged_into: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub masked: bool,
}

pub(super) fn present(
    st: &AppState,
    r: &PersonRow,
    m: &Masker,
    today: chrono::NaiveDate,
) -> AppResult<PersonView> {
    let id_plain = match &r.id_cipher {
        Some(b) => st.keys.decrypt(b)?,
        None => String::new(),
    };
    let birth = r.birth_date.clone().unwrap_or_default();
    let age = chrono::NaiveDate::parse_from_str(&birth, "%Y-%m-%d")
        .ok()
        .map(|b| i64::from(today.years_since(b).unwrap_or(0)));
    let address = format!("{}{}{}{}", r.district, r.town, r.village, r.address_detail);
    Ok(PersonView {
        id: r.id,
        name: m.mask("name", &r.name),
        name_pinyin: if m.is_unmasked() {
            r.name_pinyin.clone()
        } else {
            String::new()
        },
        sex: r.sex.clone(),
        birth_date: if m.is_unmasked() {
            birth
        } else {
            birth
                .get(..4)
                .map(|y| format!("{y}-**-**"))
                .unwrap_or_default()
        },
        age,
        id_number: m.mask("id_number", &id_plain),
        insurance_no: m.mask("id_number", &r.insurance_no),
        social_card_no: m.mask("id_number", &r.social_card_no),
        phone: m.mask("phone", &r.phone),
        phone2: m.mask("phone", &r.phone2),
        address: m.mask("address", &address),
        district: r.district.clone(),
        living_situation: LIVING
            .iter()
            .find(|(c, _)| *c == r.living_situation)
            .map(|(_, l)| l.to_string())
            .unwrap_or_default(),
        status: r.status.clone(),
        merged_into: r.merged_into,
        created_at: r.created_at,
        updated_at: r.updated_at,
        masked: !m.is_unmasked(),
    })
}

pub(super) async fn load_row(mut db: impl Conn, id: i64) -> AppResult<Option<PersonRow>> {
    db.fetch_optional(
        &format!("SELECT {PERSON_COLS} FROM persons WHERE id = $1"),
        args![id],
    )
    .await
}

/// One person (the survivor of a merge is returned for a merged id); audited.
pub async fn get_person(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    um: &Unmask,
) -> AppResult<PersonView> {
    let found = load_row(&st.db, id).await?;
    let ids = match &found {
        Some(r) => cluster(&st.db, r.id).await?,
        None => vec![],
    };
    let visible = found.is_some() && can_see(&st.db, ctx, &ids, perm::PATIENT_READ).await?;
    let Some(row) = found.filter(|_| visible) else {
        st.audit
            .record(AuditEntry::new(ctx, "person.read", "person", id).outcome("not_found"))
            .await;
        return Err(AppError::not_found("person"));
    };
    let unmask_ok = can_see(&st.db, ctx, &ids, perm::PATIENT_READ_UNMASKED).await?;
    let read = RecordRead {
        action: "person.read",
        unmasked_action: "person.read_unmasked",
        resource: "person",
        id,
        org: row.home_org_id,
    }
    .open(st, ctx, um, unmask_ok, perm::PATIENT_READ_UNMASKED)
    .await?;
    let v = present(
        st,
        &row,
        &read.masker,
        yiyang_core::clock::today_cst(ctx.clock.as_ref()),
    )?;
    read.audit(st, ctx).await;
    Ok(v)
}

/// The person holding source identifier (`org_id`, `id_type`, `value`), as stored: a merged
/// record is not followed to its survivor ([`survivor`] does that).
pub async fn person_by_identifier(
    mut db: impl Conn,
    org_id: i64,
    id_type: &str,
    value: &str,
) -> AppResult<Option<i64>> {
    let row: Option<(i64,)> = db
        .fetch_optional(
            "SELECT person_id FROM person_identifiers WHERE org_id = $1 AND id_type = $2 AND value = $3",
            args![org_id, id_type, value],
        )
        .await?;
    Ok(row.map(|r| r.0))
}

/// The stored names of the persons `ids` (not masked: a caller showing them masks them for
/// its reader), for another module's records about persons.
pub async fn names_of(
    mut db: impl Conn,
    ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, String>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let mut f = Filter::new();
        f.any_of("id", chunk);
        let rows: Vec<(i64, String)> = db
            .fetch_all(&format!("SELECT id, name FROM persons{}", f.sql()), f.args)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// The persons account `account_id` may view as a resident (itself or an authorised family
/// member), as (person id, relation), in the order they were linked.
pub async fn viewable_by(mut db: impl Conn, account_id: i64) -> AppResult<Vec<(i64, String)>> {
    db.fetch_all(
        "SELECT person_id, relation FROM person_contacts WHERE account_id = $1 AND can_view = TRUE ORDER BY id",
        args![account_id],
    )
    .await
}

/// Source identifiers of a cluster with the assigning institution.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct IdentifierView {
    pub person_id: i64,
    pub org_id: i64,
    /// The institution's name (from the base data).
    #[sqlx(default)]
    pub org_name: String,
    pub id_type: String,
    pub value: String,
    pub created_at: i64,
}

pub async fn identifiers(db: &Db, ids: &[i64]) -> AppResult<Vec<IdentifierView>> {
    let mut f = Filter::new();
    f.any_of("person_id", ids);
    let mut rows: Vec<IdentifierView> = db
        .fetch_all(
            &format!(
                "SELECT person_id, org_id, id_type, value, created_at FROM person_identifiers{} ORDER BY id",
                f.sql()
            ),
            f.args,
        )
        .await?;
    let orgs: Vec<i64> = rows.iter().map(|r| r.org_id).collect();
    let names = yiyang_basedata::service::org_names(db, &orgs).await?;
    for r in &mut rows {
        r.org_name = names.get(&r.org_id).cloned().unwrap_or_default();
    }
    Ok(rows)
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Contact {
    #[serde(default)]
    pub id: i64,
    pub name: String,
    pub relation: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub is_emergency: bool,
    pub account_id: Option<i64>,
    #[serde(default)]
    pub can_view: bool,
}

pub async fn contacts(db: &Db, ids: &[i64]) -> AppResult<Vec<Contact>> {
    let mut f = Filter::new();
    f.any_of("person_id", ids);
    db.fetch_all(&format!("SELECT id, name, relation, phone, is_emergency, account_id, can_view FROM person_contacts{} ORDER BY id", f.sql()), f.args).await
}

/// Adds a family member or emergency contact; `account_login` links a family account
/// and `can_view` lets it read the record.
pub async fn add_contact(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    c: &Contact,
    account_login: Option<&str>,
) -> AppResult<i64> {
    let ids = cluster(&st.db, person_id).await?;
    if !can_see(&st.db, ctx, &ids, perm::PATIENT_WRITE).await? {
        return Err(AppError::not_found("person"));
    }
    {
        use yiyang_core::text::{Checks, Kind};
        Checks::new()
            .text("name", "联系人姓名", &c.name, 50, Kind::Name)
            .text("relation", "关系", &c.relation, 20, Kind::Name)
            .text("phone", "电话", &c.phone, 32, Kind::Line)
            .finish()?;
    }
    if c.name.trim().is_empty() || c.relation.trim().is_empty() {
        return Err(AppError::field(
            "contact.required",
            "name",
            "请填写联系人姓名和关系",
        ));
    }
    let phone = norm_phone("phone", &c.phone)?;
    let account_id = match account_login.map(str::trim).filter(|s| !s.is_empty()) {
        Some(l) => Some(
            yiyang_platform::identity::account_by_login(&st.db, l)
                .await?
                .filter(|(_, kind)| kind == "resident")
                .ok_or_else(|| {
                    AppError::field("contact.account_missing", "account_login", "居民账号不存在")
                })?
                .0,
        ),
        None => c.account_id,
    };
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO person_contacts (person_id, name, relation, phone, is_emergency, account_id, can_view, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            args![person_id, c.name.trim(), c.relation.trim(), phone, c.is_emergency, account_id, c.can_view && account_id.is_some(), ctx.clock.now_micros()],
        )
        .await?;
    audit::append(&mut tx, &[AuditEntry::new(ctx, "person.contact_add", "person", person_id).details(serde_json::json!({"relation": c.relation, "account_id": account_id, "can_view": c.can_view}))]).await?;
    tx.commit().await?;
    Ok(id)
}
