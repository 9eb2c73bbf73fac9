//! Registration through the master index: one person or a batch, in order, with links,
//! reviews and new persons written by multi-row statements.

use super::{MATCH_COLS, MatchRow, PersonInput, ValidPerson, match_fields};
use crate::matching;
use serde::Serialize;
use yiyang_core::{AppError, AppResult, RequestContext, par, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, Filter, Tx, args};

/// What registration did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisterOutcome {
    /// The person the registration now belongs to.
    pub person_id: i64,
    /// `created` (a new person), `linked` (an existing person), or `review` (new person, possible duplicate queued).
    pub outcome: String,
    pub matched_id: Option<i64>,
    pub probability: Option<f64>,
    pub rule: Option<String>,
    pub warnings: Vec<String>,
}

/// Candidates scored per registration (those sharing the most block keys): the setting
/// `patients.mpi_candidates` (`YIYANG_MPI_CANDIDATES`), default [`DEFAULT_CANDIDATES`].
pub fn candidates_per_registration() -> usize {
    crate::PatientsConfig::get().mpi_candidates
}

/// Fewest items a CPU-bound step of a batch registration splits over two threads.
const PAR_MIN: usize = 32;

/// Default of [`candidates_per_registration`].
pub const DEFAULT_CANDIDATES: usize = 20;

/// Registers a person in its own transaction.
pub async fn register(
    st: &AppState,
    ctx: &RequestContext,
    input: PersonInput,
) -> AppResult<RegisterOutcome> {
    let v = input.validate(yiyang_core::clock::today_cst(ctx.clock.as_ref()))?;
    let mut tx = st.db.begin().await?;
    let out = register_in(st, &mut tx, ctx, &v).await?;
    tx.commit().await?;
    Ok(out)
}

/// Registers a validated person inside `tx`: a known source identifier or a Link decision
/// attaches the registration to an existing person; Review creates a new person and queues
/// the pair; NoMatch creates a new person.
pub async fn register_in(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    v: &ValidPerson,
) -> AppResult<RegisterOutcome> {
    let mut out = register_many_in(st, tx, &[(ctx, v)]).await?;
    Ok(out.remove(0))
}

/// Source identifier as stored: institution, type, value.
type IdKey = (i64, String, String);

fn id_keys(p: &PersonInput) -> impl Iterator<Item = IdKey> + '_ {
    p.identifiers
        .iter()
        .map(|i| (p.org_id, i.id_type.clone(), i.value.clone()))
}

/// The persons already holding any of `keys`, one query per 300 keys.
async fn known_identifiers(
    tx: &mut Tx,
    keys: &[IdKey],
) -> AppResult<std::collections::HashMap<IdKey, i64>> {
    let mut out = std::collections::HashMap::new();
    for chunk in keys.chunks(300) {
        let mut args: Vec<yiyang_store::Arg> = Vec::with_capacity(chunk.len() * 3);
        let mut values = Vec::with_capacity(chunk.len());
        for (org, t, v) in chunk {
            values.push(format!(
                "(${}, ${}, ${})",
                args.len() + 1,
                args.len() + 2,
                args.len() + 3
            ));
            args.extend(args![*org, t, v]);
        }
        // A list of values, one unique-index lookup each (an OR of 300 conditions took
        // PostgreSQL a bitmap of 300 index scans; LATERAL keeps it from hash-joining the
        // whole table).
        let sql = match tx.backend() {
            yiyang_store::Backend::Postgres => format!(
                "WITH k (org_id, id_type, value) AS (VALUES {}) \
                 SELECT i.person_id, i.org_id, i.id_type, i.value FROM k CROSS JOIN LATERAL \
                 (SELECT person_id, org_id, id_type, value FROM person_identifiers x \
                  WHERE x.org_id = k.org_id AND x.id_type = k.id_type AND x.value = k.value LIMIT 1) AS i",
                values.join(", ")
            ),
            yiyang_store::Backend::Sqlite => format!(
                "WITH k (org_id, id_type, value) AS (VALUES {}) \
                 SELECT i.person_id, i.org_id, i.id_type, i.value FROM k JOIN person_identifiers i \
                 ON i.org_id = k.org_id AND i.id_type = k.id_type AND i.value = k.value",
                values.join(", ")
            ),
        };
        let rows: Vec<(i64, i64, String, String)> = tx.fetch_all_planned(&sql, args).await?;
        for (p, o, t, v) in rows {
            out.insert((o, t, v), p);
        }
    }
    Ok(out)
}

/// The surviving person of each of `ids` (following merges), in batches of queries.
pub async fn survivors(
    mut db: impl Conn,
    ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, i64>> {
    use std::collections::HashMap;
    let mut out: HashMap<i64, i64> = HashMap::new();
    // For each id, the id it currently points at.
    let mut at: HashMap<i64, i64> = ids.iter().map(|i| (*i, *i)).collect();
    let mut next_of: HashMap<i64, Option<i64>> = HashMap::new();
    for _ in 0..64 {
        let mut ask: Vec<i64> = at
            .values()
            .copied()
            .filter(|x| !next_of.contains_key(x))
            .collect();
        ask.sort_unstable();
        ask.dedup();
        for chunk in ask.chunks(500) {
            let mut f = Filter::new();
            f.any_of("id", chunk);
            let rows: Vec<(i64, Option<i64>)> = db
                .fetch_all(
                    &format!("SELECT id, merged_into FROM persons{}", f.sql()),
                    f.args,
                )
                .await?;
            for (id, m) in rows {
                next_of.insert(id, m);
            }
            if let Some(missing) = chunk.iter().find(|x| !next_of.contains_key(x)) {
                tracing::debug!(person = missing, "survivors: no such person");
                return Err(AppError::not_found("person"));
            }
        }
        at.retain(|start, cur| match next_of[cur] {
            Some(n) => {
                *cur = n;
                true
            }
            None => {
                out.insert(*start, *cur);
                false
            }
        });
        if at.is_empty() {
            return Ok(out);
        }
    }
    Err(AppError::internal("merge chain too long"))
}

/// Registers several validated persons inside `tx`, in order, each with its own context
/// (actor and request for the history and the audit log). The result is what registering
/// them one after another would give, a registration seeing the persons and identifiers
/// the earlier ones created, but the batch reads the index and writes its rows with a
/// handful of statements instead of about a dozen per person.
pub async fn register_many_in(
    st: &AppState,
    tx: &mut Tx,
    items: &[(&RequestContext, &ValidPerson)],
) -> AppResult<Vec<RegisterOutcome>> {
    use std::collections::{HashMap, HashSet};
    use yiyang_mpi::Decision;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    for (ctx, v) in items {
        if !ctx.has_for(perm::PATIENT_WRITE, v.input.org_id) {
            return Err(AppError::forbidden(perm::PATIENT_WRITE));
        }
    }
    // 1. Source identifiers an institution already assigned name the person outright.
    let all_keys: Vec<IdKey> = items.iter().flat_map(|(_, v)| id_keys(&v.input)).collect();
    let stored_ids = known_identifiers(tx, &all_keys).await?;
    let stored_by: Vec<bool> = items
        .iter()
        .map(|(_, v)| id_keys(&v.input).any(|k| stored_ids.contains_key(&k)))
        .collect();
    let named: Vec<i64> = stored_ids.values().copied().collect();
    let surv = survivors(&mut *tx, &named).await?;

    // 2. The others are matched: each one's record, then candidates by block keys for all
    // of them in a few statements, then the candidates' rows once each.
    let engine = matching::engine(&st.db).await?;
    // CPU-bound steps (normalising, scoring) run on two threads for a run of HL7 admissions
    // or an import; a single registration stays on this thread.
    let me: Vec<yiyang_mpi::Person> = par::map(items, PAR_MIN, |(_, v)| {
        engine
            .matcher
            .normalizer
            .normalize(&v.input.fields(v.id_number.as_deref()).raw(0))
    });
    let to_match: Vec<usize> = (0..items.len()).filter(|i| !stored_by[*i]).collect();
    let mut cands: Vec<Vec<i64>> = vec![Vec::new(); items.len()];
    let asked: Vec<&yiyang_mpi::Person> = to_match.iter().map(|i| &me[*i]).collect();
    let found =
        matching::candidates(&st.db, tx, &engine, &asked, candidates_per_registration()).await?;
    for (i, c) in to_match.iter().zip(found) {
        cands[*i] = c;
    }
    let mut wanted: Vec<i64> = cands.iter().flatten().copied().collect();
    wanted.sort_unstable();
    wanted.dedup();
    // Merged records drop out here; their survivor carries the keys too.
    let mut rows: Vec<MatchRow> = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(500) {
        let mut f = Filter::new();
        f.any_of("id", chunk);
        f.raw("status = 'active'");
        // Planned with the actual ids (a cached generic plan for a long IN list became a
        // sequential scan on PostgreSQL).
        rows.extend(
            tx.fetch_all_planned::<MatchRow>(
                &format!("SELECT {MATCH_COLS} FROM persons{}", f.sql()),
                f.args,
            )
            .await?,
        );
    }
    let known: HashMap<i64, yiyang_mpi::Person> = par::map_vec(rows, PAR_MIN, |r| {
        let id = r.id;
        match_fields(st, r).map(|f| (id, engine.matcher.normalizer.normalize(&f.raw(id))))
    })
    .into_iter()
    .collect::<AppResult<_>>()?;
    let index_size = matching::prior_population(
        tx.scalar("SELECT COALESCE(MAX(id), 1) FROM persons", vec![])
            .await?,
    );
    let mut fresh = tx.reserve_ids("persons", to_match.len()).await?.into_iter();
    // Each registration's best stored candidate (the first of the highest weight, in
    // candidate order); persons created earlier in the batch are compared in order below.
    let mut stored_best: Vec<Option<(i64, yiyang_mpi::Explanation)>> = par::map(
        &cands.iter().enumerate().collect::<Vec<_>>(),
        PAR_MIN,
        |(i, cs)| {
            let mut best: Option<(i64, yiyang_mpi::Explanation)> = None;
            for c in cs.iter() {
                if let Some(other) = known.get(c) {
                    let ex = engine.matcher.explain_in_index(&me[*i], other, index_size);
                    if best
                        .as_ref()
                        .is_none_or(|(_, b)| ex.match_weight > b.match_weight)
                    {
                        best = Some((*c, ex));
                    }
                }
            }
            best
        },
    );

    // 3. Decide in order; what the batch has created so far counts as stored.
    let mut out = Vec::with_capacity(items.len());
    let mut batch_ids: HashMap<IdKey, i64> = HashMap::new();
    let mut created: Vec<usize> = Vec::new(); // items that create a person
    let mut created_keys: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut created_id: HashMap<usize, i64> = HashMap::new();
    let mut events: Vec<Vec<yiyang_store::Arg>> = Vec::new();
    let mut reviews: Vec<Vec<yiyang_store::Arg>> = Vec::new();
    let mut audits: Vec<AuditEntry> = Vec::new();
    let mut orgs: Vec<(i64, i64)> = Vec::new();
    let mut idents: Vec<Vec<yiyang_store::Arg>> = Vec::new();
    let mut seen_ident: HashSet<IdKey> = HashSet::new();
    for (i, (ctx, v)) in items.iter().enumerate() {
        let p = &v.input;
        let now = ctx.clock.now_micros();
        // The first identifier, in the order sent, that is stored or that an earlier
        // registration of the batch brought.
        let by_id = p.identifiers.iter().find_map(|x| {
            let k = (p.org_id, x.id_type.clone(), x.value.clone());
            stored_ids
                .get(&k)
                .map(|pid| surv[pid])
                .or_else(|| batch_ids.get(&k).copied())
                .map(|pid| (pid, x.id_type.clone()))
        });
        let outcome = if let Some((pid, id_type)) = by_id {
            events.push(event_row(
                ctx,
                "link",
                pid,
                serde_json::json!({"by": "identifier", "id_type": id_type, "org_id": p.org_id}),
            ));
            audits.push(
                AuditEntry::new(ctx, "person.link", "person", pid)
                    .org(Some(p.org_id))
                    .details(serde_json::json!({"by": "identifier"})),
            );
            RegisterOutcome {
                person_id: pid,
                outcome: "linked".into(),
                matched_id: Some(pid),
                probability: Some(1.0),
                rule: Some("same_source_identifier".into()),
                warnings: v.warnings.clone(),
            }
        } else {
            let mut best = stored_best[i].take();
            let mut consider = |id: i64, other: &yiyang_mpi::Person| {
                let ex = engine.matcher.explain_in_index(&me[i], other, index_size);
                if best
                    .as_ref()
                    .is_none_or(|(_, b)| ex.match_weight > b.match_weight)
                {
                    best = Some((id, ex));
                }
            };
            let mut earlier: Vec<usize> = engine
                .matcher
                .block_keys(&me[i])
                .iter()
                .filter_map(|k| created_keys.get(k))
                .flatten()
                .copied()
                .collect();
            earlier.sort_unstable();
            earlier.dedup();
            for j in earlier {
                consider(created_id[&j], &me[j]);
            }
            match best {
                Some((pid, ex)) if ex.decision == Decision::Link => {
                    events.push(event_row(
                        ctx,
                        "link",
                        pid,
                        serde_json::json!({"explanation": ex, "registered": snapshot(p)}),
                    ));
                    audits.push(
                        AuditEntry::new(ctx, "person.link", "person", pid)
                            .org(Some(p.org_id))
                            .details(serde_json::json!({"probability": ex.match_probability, "rule": ex.rule})),
                    );
                    RegisterOutcome {
                        person_id: pid,
                        outcome: "linked".into(),
                        matched_id: Some(pid),
                        probability: Some(ex.match_probability),
                        rule: ex.rule.clone(),
                        warnings: v.warnings.clone(),
                    }
                }
                other => {
                    let id = fresh
                        .next()
                        .ok_or_else(|| AppError::internal("register: ids reserved too few"))?;
                    created.push(i);
                    created_id.insert(i, id);
                    for k in engine.matcher.block_keys(&me[i]) {
                        created_keys.entry(k).or_default().push(i);
                    }
                    events.push(event_row(
                        ctx,
                        "register",
                        id,
                        serde_json::json!({"registered": snapshot(p)}),
                    ));
                    audits.push(
                        AuditEntry::new(ctx, "person.create", "person", id)
                            .org(Some(p.org_id))
                            .details(serde_json::json!({"warnings": v.warnings})),
                    );
                    let mut o = RegisterOutcome {
                        person_id: id,
                        outcome: "created".into(),
                        matched_id: None,
                        probability: None,
                        rule: None,
                        warnings: v.warnings.clone(),
                    };
                    if let Some((cand, ex)) =
                        other.filter(|(_, ex)| ex.decision == Decision::Review)
                    {
                        reviews.push(yiyang_store::args![
                            id,
                            cand,
                            ex.match_probability,
                            ex.match_weight,
                            serde_json::to_string(&ex).unwrap_or_default(),
                            "pending",
                            now
                        ]);
                        o.outcome = "review".into();
                        o.matched_id = Some(cand);
                        o.probability = Some(ex.match_probability);
                    }
                    o
                }
            }
        };
        // Attach: the institution knows the person, with its source identifiers (an
        // identifier already stored keeps its person).
        let pid = outcome.person_id;
        orgs.push((pid, p.org_id));
        for k in id_keys(p) {
            if stored_ids.contains_key(&k) || !seen_ident.insert(k.clone()) {
                continue;
            }
            batch_ids.insert(k.clone(), pid);
            idents.push(yiyang_store::args![pid, k.0, k.1, k.2, now]);
        }
        out.push(outcome);
    }

    // 4. Write it all: new persons first (the other rows refer to them).
    let mut persons = Vec::with_capacity(created.len());
    let mut keys = Vec::new();
    for i in &created {
        let (ctx, v) = items[*i];
        let p = &v.input;
        let id = created_id[i];
        let now = ctx.clock.now_micros();
        let pinyin = matching::stored_pinyin(&me[*i]);
        let (cipher, blind) = sealed_id_number(st, v.id_number.as_deref());
        let birth = (!p.birth_date.is_empty()).then(|| p.birth_date.clone());
        persons.push(yiyang_store::args![
            id,
            &p.name,
            pinyin,
            &p.sex,
            birth,
            cipher,
            blind,
            p.insurance_no.trim(),
            p.social_card_no.trim(),
            &p.phone,
            &p.phone2,
            p.district.trim(),
            p.town.trim(),
            p.village.trim(),
            p.address_detail.trim(),
            &p.living_situation,
            p.org_id,
            "active",
            now,
            now
        ]);
        keys.extend(matching::block_key_rows(&engine, id, &me[*i]));
    }
    tx.insert_rows(
        "INSERT INTO persons (id, name, name_pinyin, sex, birth_date, id_cipher, id_blind, insurance_no, social_card_no, phone, phone2, district, town, village, \
         address_detail, living_situation, home_org_id, status, created_at, updated_at)",
        20,
        persons,
        "",
    )
    .await?;
    tx.insert_rows(
        "INSERT INTO person_block_keys (person_id, key)",
        2,
        keys,
        "",
    )
    .await?;
    know_all(tx, orgs).await?;
    tx.insert_rows(
        "INSERT INTO person_identifiers (person_id, org_id, id_type, value, created_at)",
        5,
        idents,
        "ON CONFLICT (org_id, id_type, value) DO NOTHING",
    )
    .await?;
    tx.insert_rows(
        "INSERT INTO mpi_events (kind, person_id, other_id, actor_login, at, details)",
        6,
        events,
        "",
    )
    .await?;
    tx.insert_rows(
        "INSERT INTO mpi_reviews (person_id, candidate_id, probability, weight, explanation, status, created_at)",
        7,
        reviews,
        "",
    )
    .await?;
    audit::append(tx, &audits).await?;
    Ok(out)
}

/// Records that each institution knows its person (pairs may repeat).
pub(crate) async fn know_all(tx: &mut Tx, mut orgs: Vec<(i64, i64)>) -> AppResult<()> {
    orgs.sort_unstable();
    orgs.dedup();
    tx.insert_rows(
        "INSERT INTO person_orgs (person_id, org_id)",
        2,
        orgs.into_iter()
            .map(|(p, o)| yiyang_store::args![p, o])
            .collect(),
        "ON CONFLICT DO NOTHING",
    )
    .await
    .map(|_| ())
}

/// The stored form of an ID number: ciphertext and blind index (both absent without one).
pub(super) fn sealed_id_number(
    st: &AppState,
    n: Option<&str>,
) -> (Option<Vec<u8>>, Option<String>) {
    match n {
        Some(n) => (
            Some(st.keys.encrypt(n)),
            Some(st.keys.blind_index("id_number", n)),
        ),
        None => (None, None),
    }
}

/// An `mpi_events` row (kind, person_id, other_id, actor_login, at, details).
fn event_row(
    ctx: &RequestContext,
    kind: &str,
    person: i64,
    details: serde_json::Value,
) -> Vec<yiyang_store::Arg> {
    yiyang_store::args![
        kind,
        person,
        None::<i64>,
        &ctx.actor.login,
        ctx.clock.now_micros(),
        details.to_string()
    ]
}

fn snapshot(p: &PersonInput) -> serde_json::Value {
    // Never the ID number: the history keeps who registered what, not the secret.
    serde_json::json!({"org_id": p.org_id, "name": p.name, "sex": p.sex, "birth_date": p.birth_date, "district": p.district, "town": p.town, "identifiers": p.identifiers})
}
