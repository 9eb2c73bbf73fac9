//! The person registry: registration through the master index, search, merge and unmerge
//! with history, the review queue, statistics. Personal data is read only within the
//! caller's scope, masked by role, and every read is audited.

use crate::matching::{self, MatchFields};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use yiyang_core::idnumber::{self, Sex};
use yiyang_core::{AppError, AppResult, RequestContext, Scope, par, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::masking::Masker;
use yiyang_platform::privacy::RecordRead;
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, Db, Filter, Paged, Sort, Tx, Window, args, like_pattern};

pub const LIVING: &[(&str, &str)] = &[
    ("alone", "独居"),
    ("empty_nest", "空巢"),
    ("left_behind", "留守"),
    ("with_family", "与家人同住"),
    ("institution", "机构养老"),
];

pub const ID_TYPES: &[(&str, &str)] = &[
    ("MZ", "门诊号"),
    ("ZY", "住院号"),
    ("MRN", "病案号"),
    ("JKDA", "健康档案号"),
    ("INS", "医保号"),
    ("OTHER", "其他"),
];

/// A source identifier as an institution assigns it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentifierInput {
    pub id_type: String,
    pub value: String,
}

/// A person as registered by an institution (form, import, API, HL7, FHIR).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonInput {
    /// The registering institution (its scope must cover it).
    pub org_id: i64,
    pub name: String,
    /// M / F / 男 / 女
    #[serde(default)]
    pub sex: String,
    /// YYYY-MM-DD
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub insurance_no: String,
    #[serde(default)]
    pub social_card_no: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub phone2: String,
    #[serde(default)]
    pub district: String,
    #[serde(default)]
    pub town: String,
    #[serde(default)]
    pub village: String,
    #[serde(default)]
    pub address_detail: String,
    #[serde(default)]
    pub living_situation: String,
    #[serde(default)]
    pub identifiers: Vec<IdentifierInput>,
}

/// A validated registration.
#[derive(Debug, Clone)]
pub struct ValidPerson {
    pub input: PersonInput,
    pub id_number: Option<String>,
    pub warnings: Vec<String>,
}

fn norm_phone(field: &str, v: &str) -> AppResult<String> {
    let mut d: String = v
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    if let Some(x) = d.strip_prefix("+86") {
        d = x.to_string();
    }
    if d.is_empty() || (d.chars().all(|c| c.is_ascii_digit()) && (7..=12).contains(&d.len())) {
        Ok(d)
    } else {
        Err(AppError::field(
            "person.phone_invalid",
            field,
            format!("电话号码格式不正确：{v}"),
        ))
    }
}

impl PersonInput {
    /// Length and character limits of every text field, all reported at once.
    fn text_checks(&self) -> yiyang_core::text::Checks {
        use yiyang_core::text::{Checks, Kind};
        let mut c = Checks::new();
        c.text("name", "姓名", &self.name, 50, Kind::Name)
            .text("id_number", "身份证号", &self.id_number, 32, Kind::Line)
            .text("insurance_no", "医保号", &self.insurance_no, 64, Kind::Line)
            .text(
                "social_card_no",
                "社保卡号",
                &self.social_card_no,
                64,
                Kind::Line,
            )
            .text("phone", "手机号", &self.phone, 32, Kind::Line)
            .text("phone2", "备用电话", &self.phone2, 32, Kind::Line)
            .text("district", "区县", &self.district, 32, Kind::Line)
            .text("town", "乡镇（街道）", &self.town, 50, Kind::Line)
            .text("village", "村（社区）", &self.village, 50, Kind::Line)
            .text(
                "address_detail",
                "详细地址",
                &self.address_detail,
                200,
                Kind::Line,
            );
        for i in &self.identifiers {
            c.text("identifiers", "院内标识", &i.value, 64, Kind::Line);
        }
        c
    }

    /// Checks every field; every problem of the record is reported at once (a single
    /// problem keeps its own code).
    pub fn validate(mut self, today: chrono::NaiveDate) -> AppResult<ValidPerson> {
        let mut c = self.text_checks();
        self.name = self.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if self.name.is_empty() {
            c.result::<()>(Err(AppError::field(
                "person.name_invalid",
                "name",
                "请填写姓名（不超过50字）",
            )));
        }
        let sex = if self.sex.trim().is_empty() {
            None
        } else {
            c.result(Sex::from_code(&self.sex).ok_or_else(|| {
                AppError::field("person.sex_invalid", "sex", "性别须为 男/女（M/F）")
            }))
        };
        let mut warnings = Vec::new();
        let mut id_number = None;
        if !self.id_number.trim().is_empty()
            && let Some((id, w)) = c.result(idnumber::parse(&self.id_number, today, sex))
        {
            warnings.extend(w.iter().map(|x| x.message()));
            if self.birth_date.trim().is_empty() {
                self.birth_date = id.birth_date.format("%Y-%m-%d").to_string();
            }
            if sex.is_none() {
                self.sex = id.sex.code().into();
            }
            id_number = Some(id.as_str().to_string());
        }
        if let Some(s) = sex {
            self.sex = s.code().into();
        }
        if !self.birth_date.trim().is_empty() {
            let parsed = chrono::NaiveDate::parse_from_str(self.birth_date.trim(), "%Y-%m-%d")
                .or_else(|_| chrono::NaiveDate::parse_from_str(self.birth_date.trim(), "%Y%m%d"))
                .map_err(|_| {
                    AppError::field(
                        "person.birth_invalid",
                        "birth_date",
                        "出生日期格式应为 YYYY-MM-DD",
                    )
                })
                .and_then(|d| {
                    if d > today || d < chrono::NaiveDate::from_ymd_opt(1890, 1, 1).expect("date") {
                        Err(AppError::field(
                            "person.birth_invalid",
                            "birth_date",
                            "出生日期超出合理范围",
                        ))
                    } else {
                        Ok(d)
                    }
                });
            if let Some(d) = c.result(parsed) {
                self.birth_date = d.format("%Y-%m-%d").to_string();
            }
        }
        if let Some(p) = c.result(norm_phone("phone", &self.phone)) {
            self.phone = p;
        }
        if let Some(p) = c.result(norm_phone("phone2", &self.phone2)) {
            self.phone2 = p;
        }
        if !self.living_situation.is_empty() {
            let found = LIVING
                .iter()
                .find(|(code, l)| *code == self.living_situation || *l == self.living_situation)
                .map(|(code, _)| code.to_string())
                .ok_or_else(|| {
                    AppError::field(
                        "person.living_invalid",
                        "living_situation",
                        "居住状况不正确",
                    )
                });
            if let Some(v) = c.result(found) {
                self.living_situation = v;
            }
        }
        for i in &mut self.identifiers {
            i.value = i.value.trim().to_string();
            i.id_type = i.id_type.trim().to_uppercase();
            if i.value.is_empty() || i.value.len() > 64 {
                c.result::<()>(Err(AppError::field(
                    "person.identifier_invalid",
                    "identifiers",
                    "院内标识不能为空且不超过64位",
                )));
            } else if !ID_TYPES.iter().any(|(code, _)| *code == i.id_type) {
                c.result::<()>(Err(AppError::field(
                    "person.identifier_type",
                    "identifiers",
                    format!("标识类型不正确：{}", i.id_type),
                )));
            }
        }
        c.finish()?;
        Ok(ValidPerson {
            input: self,
            id_number,
            warnings,
        })
    }

    fn fields(&self, id_number: Option<&str>) -> MatchFields {
        MatchFields {
            name: self.name.clone(),
            sex: self.sex.clone(),
            birth_date: self.birth_date.clone(),
            id_number: id_number.unwrap_or("").to_string(),
            phone: self.phone.clone(),
            district: self.district.clone(),
            town: self.town.clone(),
            address_detail: format!("{}{}", self.village, self.address_detail),
            insurance_no: self.insurance_no.clone(),
        }
    }
}

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

#[derive(Debug, Clone, sqlx::FromRow)]
struct PersonRow {
    id: i64,
    name: String,
    name_pinyin: String,
    sex: String,
    birth_date: Option<String>,
    id_cipher: Option<Vec<u8>>,
    insurance_no: String,
    social_card_no: String,
    phone: String,
    phone2: String,
    district: String,
    town: String,
    village: String,
    address_detail: String,
    living_situation: String,
    home_org_id: Option<i64>,
    status: String,
    merged_into: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const PERSON_COLS: &str = "id, name, name_pinyin, sex, birth_date, id_cipher, insurance_no, social_card_no, phone, phone2, district, town, village, address_detail, living_situation, home_org_id, status, merged_into, created_at, updated_at";

/// The columns of a person the matcher compares (candidate rows are read by the dozen per
/// registration, so no more than these).
#[derive(Debug, Clone, sqlx::FromRow)]
struct MatchRow {
    id: i64,
    name: String,
    sex: String,
    birth_date: Option<String>,
    id_cipher: Option<Vec<u8>>,
    insurance_no: String,
    phone: String,
    district: String,
    town: String,
    village: String,
    address_detail: String,
}

const MATCH_COLS: &str = "id, name, sex, birth_date, id_cipher, insurance_no, phone, district, town, village, address_detail";

fn match_fields(st: &AppState, r: MatchRow) -> AppResult<MatchFields> {
    let id_number = match &r.id_cipher {
        Some(b) => st.keys.decrypt(b)?,
        None => String::new(),
    };
    Ok(MatchFields {
        name: r.name,
        sex: r.sex,
        birth_date: r.birth_date.unwrap_or_default(),
        id_number,
        phone: r.phone,
        district: r.district,
        town: r.town,
        address_detail: format!("{}{}", r.village, r.address_detail),
        insurance_no: r.insurance_no,
    })
}

/// The compared fields of person `id` as stored, ready for the matcher.
async fn stored_fields(st: &AppState, mut db: impl Conn, id: i64) -> AppResult<MatchFields> {
    let r: MatchRow = db
        .fetch_optional(
            &format!("SELECT {MATCH_COLS} FROM persons WHERE id = $1"),
            args![id],
        )
        .await?
        .ok_or_else(|| AppError::not_found("person"))?;
    match_fields(st, r)
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
fn sealed_id_number(st: &AppState, n: Option<&str>) -> (Option<Vec<u8>>, Option<String>) {
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

async fn event(
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

/// Institutions that know any record of the cluster.
async fn cluster_orgs(mut db: impl Conn, ids: &[i64]) -> AppResult<BTreeSet<i64>> {
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

fn present(
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

pub use yiyang_platform::masking::Unmask;

async fn load_row(mut db: impl Conn, id: i64) -> AppResult<Option<PersonRow>> {
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

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct PersonQuery {
    /// Name (or pinyin) fragment, full ID number, phone number, or a source identifier value.
    pub q: Option<String>,
    pub org_id: Option<i64>,
    pub district: Option<String>,
    /// Include merged records.
    pub include_merged: Option<bool>,
    pub page: Option<i64>,
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

/// Persons within the caller's scope, 50 a page (`q.page`); audited with the ids returned.
pub async fn search(
    st: &AppState,
    ctx: &RequestContext,
    q: &PersonQuery,
) -> AppResult<(Vec<PersonView>, i64)> {
    let page = q.page.unwrap_or(1).max(1);
    let p = search_page(
        st,
        ctx,
        q,
        &Window::new(&[], "", false, 50, (page - 1) * 50),
    )
    .await?;
    Ok((p.rows, p.total))
}

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

/// Source identifiers of a cluster with the assigning institution.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct IdentifierView {
    pub person_id: i64,
    pub org_id: i64,
    pub org_name: String,
    pub id_type: String,
    pub value: String,
    pub created_at: i64,
}

pub async fn identifiers(db: &Db, ids: &[i64]) -> AppResult<Vec<IdentifierView>> {
    let mut f = Filter::new();
    f.any_of("i.person_id", ids);
    db.fetch_all(
        &format!("SELECT i.person_id, i.org_id, o.name AS org_name, i.id_type, i.value, i.created_at FROM person_identifiers i JOIN orgs o ON o.id = i.org_id{} ORDER BY i.id", f.sql()),
        f.args,
    )
    .await
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
            st.db
                .fetch_optional::<(i64,)>(
                    "SELECT id FROM accounts WHERE login = $1 AND kind = 'resident'",
                    args![l],
                )
                .await?
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

/// Each side of a merge, unmerge or review must be in the caller's merge scope on its own:
/// one side in scope never carries the other along.
async fn require_merge(mut db: impl Conn, ctx: &RequestContext, sides: &[&[i64]]) -> AppResult<()> {
    ctx.require(perm::PATIENT_MERGE)?;
    for ids in sides {
        if !can_see(&mut db, ctx, ids, perm::PATIENT_MERGE).await? {
            return Err(AppError::not_found("person"));
        }
    }
    Ok(())
}

/// Whether the caller may decide on both records of a pair (each on its own).
pub async fn can_merge_each(db: &Db, ctx: &RequestContext, a: i64, b: i64) -> AppResult<bool> {
    for id in [a, b] {
        let ids = cluster(db, survivor(db, id).await?).await?;
        if !can_see(db, ctx, &ids, perm::PATIENT_MERGE).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Merges `merged` into `survivor`. Nothing is deleted or moved: the merged record points
/// at the survivor, whose views gather the whole cluster, so unmerge restores it exactly.
pub async fn merge(
    st: &AppState,
    ctx: &RequestContext,
    survivor_id: i64,
    merged_id: i64,
    reason: &str,
) -> AppResult<()> {
    let mut tx = st.db.begin().await?;
    merge_in(&mut tx, ctx, survivor_id, merged_id, reason).await?;
    tx.commit().await
}

/// [`merge`] inside the caller's transaction.
pub async fn merge_in(
    tx: &mut Tx,
    ctx: &RequestContext,
    survivor_id: i64,
    merged_id: i64,
    reason: &str,
) -> AppResult<()> {
    if survivor_id == merged_id {
        return Err(AppError::validation(
            "mpi.merge_self",
            "不能将患者合并到自身",
        ));
    }
    let s = survivor(&mut *tx, survivor_id).await?;
    let m_row = load_row(&mut *tx, merged_id)
        .await?
        .ok_or_else(|| AppError::not_found("person"))?;
    if m_row.status != "active" {
        return Err(AppError::conflict(
            "mpi.already_merged",
            "该记录已被合并，请先拆分",
        ));
    }
    if s == merged_id || cluster(&mut *tx, merged_id).await?.contains(&s) {
        return Err(AppError::validation("mpi.merge_cycle", "合并会形成循环"));
    }
    let survivor_ids = cluster(&mut *tx, s).await?;
    let merged_ids = cluster(&mut *tx, merged_id).await?;
    require_merge(&mut *tx, ctx, &[&survivor_ids, &merged_ids]).await?;
    let now = ctx.clock.now_micros();
    let n = tx
        .execute("UPDATE persons SET status = 'merged', merged_into = $1, updated_at = $2 WHERE id = $3 AND status = 'active'", args![s, now, merged_id])
        .await?;
    if n != 1 {
        return Err(AppError::conflict(
            "mpi.already_merged",
            "该记录已被合并，请刷新后重试",
        ));
    }
    tx.execute(
        "UPDATE mpi_reviews SET status = 'merged', decided_by = $1, decided_at = $2 WHERE status = 'pending' AND ((person_id = $3 AND candidate_id = $4) OR (person_id = $4 AND candidate_id = $3))",
        args![&ctx.actor.login, now, s, merged_id],
    )
    .await?;
    event(
        tx,
        ctx,
        "merge",
        s,
        Some(merged_id),
        serde_json::json!({"reason": reason, "before": {"status": "active", "merged_into": null}}),
    )
    .await?;
    audit::append(
        tx,
        &[AuditEntry::new(ctx, "person.merge", "person", s)
            .details(serde_json::json!({"merged": merged_id, "reason": reason}))],
    )
    .await
}

/// Undoes a merge: the record stands on its own again, exactly as before.
pub async fn unmerge(
    st: &AppState,
    ctx: &RequestContext,
    merged_id: i64,
    reason: &str,
) -> AppResult<()> {
    let row = load_row(&st.db, merged_id)
        .await?
        .ok_or_else(|| AppError::not_found("person"))?;
    let Some(into) = row.merged_into else {
        return Err(AppError::conflict("mpi.not_merged", "该记录未被合并"));
    };
    let all = cluster(&st.db, survivor(&st.db, merged_id).await?).await?;
    let leaving = cluster(&st.db, merged_id).await?;
    let staying: Vec<i64> = all
        .iter()
        .copied()
        .filter(|x| !leaving.contains(x))
        .collect();
    require_merge(&st.db, ctx, &[&staying, &leaving]).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE persons SET status = 'active', merged_into = NULL, updated_at = $1 WHERE id = $2",
        args![now, merged_id],
    )
    .await?;
    event(
        &mut tx,
        ctx,
        "unmerge",
        into,
        Some(merged_id),
        serde_json::json!({"reason": reason}),
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "person.unmerge", "person", into)
            .details(serde_json::json!({"unmerged": merged_id, "reason": reason}))],
    )
    .await?;
    tx.commit().await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EventView {
    pub id: i64,
    pub kind: String,
    pub person_id: i64,
    pub other_id: Option<i64>,
    pub actor_login: String,
    pub at: i64,
    pub details: String,
}

/// The index history of a cluster (register, link, merge, unmerge, review decisions).
pub async fn history(db: &Db, ids: &[i64]) -> AppResult<Vec<EventView>> {
    let mut f = Filter::new();
    let list = f.placeholders(ids);
    db.fetch_all(
        &format!("SELECT id, kind, person_id, other_id, actor_login, at, details FROM mpi_events WHERE person_id IN ({list}) OR other_id IN ({list}) ORDER BY id"),
        f.args,
    )
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Review {
    pub id: i64,
    pub person_id: i64,
    pub candidate_id: i64,
    pub probability: f64,
    pub weight: f64,
    pub explanation: String,
    pub status: String,
    pub created_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

/// Pending possible duplicates the caller may decide on.
pub async fn pending_reviews(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Review>> {
    ctx.require(perm::PATIENT_MERGE)?;
    let all: Vec<Review> = st
        .db
        .fetch_all("SELECT id, person_id, candidate_id, probability, weight, explanation, status, created_at, decided_by, decided_at FROM mpi_reviews WHERE status = 'pending' ORDER BY probability DESC, id LIMIT 500", vec![])
        .await?;
    if ctx.scope_of(perm::PATIENT_MERGE) == Some(Scope::City) {
        return Ok(all);
    }
    let mut out = Vec::new();
    for r in all {
        if can_merge_each(&st.db, ctx, r.person_id, r.candidate_id).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Columns the review queue sorts by.
pub const REVIEW_SORTS: &[Sort] = &[
    Sort {
        key: "probability",
        sql: "probability",
    },
    Sort {
        key: "created_at",
        sql: "created_at",
    },
];

/// One window of the pending possible duplicates the caller may decide on (most likely
/// first) and their number. City-wide callers page in SQL; an institution's reviewers see
/// the pairs whose every side is in their scope, checked pair by pair, so their whole
/// queue is read (no cut-off) and paged here.
pub async fn pending_reviews_page(
    st: &AppState,
    ctx: &RequestContext,
    w: &Window,
) -> AppResult<Paged<Review>> {
    ctx.require(perm::PATIENT_MERGE)?;
    const COLS: &str = "id, person_id, candidate_id, probability, weight, explanation, status, created_at, decided_by, decided_at";
    let mut f = Filter::new();
    f.raw("status = 'pending'");
    let where_sql = f.sql();
    if ctx.scope_of(perm::PATIENT_MERGE) == Some(Scope::City) {
        let total = st
            .db
            .scalar(
                &format!("SELECT COUNT(*) FROM mpi_reviews{where_sql}"),
                f.args.clone(),
            )
            .await?;
        let tail = w.tail(&mut f, "probability DESC, id");
        let rows = st
            .db
            .fetch_all(
                &format!("SELECT {COLS} FROM mpi_reviews{where_sql}{tail}"),
                f.args,
            )
            .await?;
        return Ok(Paged::exact(rows, total));
    }
    let mut all_f = Filter::new();
    all_f.raw("status = 'pending'");
    let tail = Window::new(REVIEW_SORTS, "", false, i64::MAX / 4, 0)
        .tail(&mut all_f, "probability DESC, id");
    let all: Vec<Review> = st
        .db
        .fetch_all(
            &format!("SELECT {COLS} FROM mpi_reviews{where_sql}{tail}"),
            all_f.args,
        )
        .await?;
    let mut mine = Vec::new();
    for r in all {
        if can_merge_each(&st.db, ctx, r.person_id, r.candidate_id).await? {
            mine.push(r);
        }
    }
    let total = mine.len() as i64;
    let rows = mine
        .into_iter()
        .skip(w.offset as usize)
        .take(w.limit as usize)
        .collect();
    Ok(Paged::exact(rows, total))
}

pub async fn get_review(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<Review> {
    let r: Review = st
        .db
        .fetch_optional("SELECT id, person_id, candidate_id, probability, weight, explanation, status, created_at, decided_by, decided_at FROM mpi_reviews WHERE id = $1", args![id])
        .await?
        .ok_or_else(|| AppError::not_found("review"))?;
    if !can_merge_each(&st.db, ctx, r.person_id, r.candidate_id).await? {
        return Err(AppError::not_found("review"));
    }
    Ok(r)
}

/// Decides a review: `merge` (the newer record into the older) or `distinct`.
pub async fn decide_review(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    decision: &str,
) -> AppResult<()> {
    let r = get_review(st, ctx, id).await?;
    if r.status != "pending" {
        return Err(AppError::conflict("mpi.review_decided", "该疑似重复已处理"));
    }
    match decision {
        "merge" => {
            merge(
                st,
                ctx,
                r.candidate_id,
                r.person_id,
                "疑似重复审核：确认为同一人",
            )
            .await
        }
        "distinct" => {
            let now = ctx.clock.now_micros();
            let mut tx = st.db.begin().await?;
            tx.execute("UPDATE mpi_reviews SET status = 'distinct', decided_by = $1, decided_at = $2 WHERE id = $3 AND status = 'pending'", args![&ctx.actor.login, now, id]).await?;
            event(
                &mut tx,
                ctx,
                "distinct",
                r.person_id,
                Some(r.candidate_id),
                serde_json::json!({"review": id}),
            )
            .await?;
            audit::append(
                &mut tx,
                &[
                    AuditEntry::new(ctx, "person.review_distinct", "person", r.person_id)
                        .details(serde_json::json!({"candidate": r.candidate_id})),
                ],
            )
            .await?;
            tx.commit().await
        }
        _ => Err(AppError::field(
            "mpi.decision_invalid",
            "decision",
            "处理结果须为 merge 或 distinct",
        )),
    }
}

/// 查询统计: figures for the index.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub persons: i64,
    pub merged: i64,
    pub identifiers: i64,
    pub links: i64,
    /// Pairs the caller may decide on; absent for roles that cannot merge.
    pub pending_reviews: Option<i64>,
    /// merged / (active + merged)
    pub duplicate_rate: f64,
    pub per_org: Vec<(String, i64)>,
    pub per_month: Vec<(String, i64)>,
}

pub async fn stats(st: &AppState, ctx: &RequestContext) -> AppResult<Stats> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("po.org_id", &orgs);
    }
    let w = f.sql();
    let scoped = format!("SELECT DISTINCT po.person_id FROM person_orgs po{w}");
    let count = |extra: &str| format!("SELECT COUNT(*) FROM persons WHERE id IN ({scoped}){extra}");
    let persons = st
        .db
        .scalar(&count(" AND status = 'active'"), f.args.clone())
        .await?;
    let merged = st
        .db
        .scalar(&count(" AND status = 'merged'"), f.args.clone())
        .await?;
    let identifiers = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM person_identifiers WHERE person_id IN ({scoped})"),
            f.args.clone(),
        )
        .await?;
    let links = st
        .db
        .scalar(
            &format!(
                "SELECT COUNT(*) FROM mpi_events WHERE kind = 'link' AND person_id IN ({scoped})"
            ),
            f.args.clone(),
        )
        .await?;
    let pending_reviews = if ctx.has(perm::PATIENT_MERGE) {
        Some(pending_reviews(st, ctx).await?.len() as i64)
    } else {
        None
    };
    let per_org: Vec<(String, i64)> = st
        .db
        .fetch_all(&format!("SELECT o.name, COUNT(*) FROM person_orgs po JOIN orgs o ON o.id = po.org_id{w} GROUP BY o.name ORDER BY COUNT(*) DESC"), f.args.clone())
        .await?;
    let rows: Vec<(i64,)> = st
        .db
        .fetch_all(
            &format!("SELECT created_at FROM persons WHERE id IN ({scoped})"),
            f.args,
        )
        .await?;
    let mut months: std::collections::BTreeMap<String, i64> = Default::default();
    for (t,) in rows {
        *months
            .entry(yiyang_core::clock::format_micros_cst(t)[..7].to_string())
            .or_default() += 1;
    }
    let total = persons + merged;
    Ok(Stats {
        persons,
        merged,
        identifiers,
        links,
        pending_reviews,
        duplicate_rate: if total > 0 {
            merged as f64 / total as f64
        } else {
            0.0
        },
        per_org,
        per_month: months.into_iter().collect(),
    })
}

/// Saves a new configuration version (validated by compiling it); optionally activates it.
pub async fn save_config(
    st: &AppState,
    ctx: &RequestContext,
    toml: &str,
    note: &str,
    activate: bool,
) -> AppResult<String> {
    if ctx.require(perm::MPI_MANAGE)? != Scope::City {
        return Err(AppError::forbidden(perm::MPI_MANAGE));
    }
    let e = matching::compile(toml, "")?;
    let exists: Option<(i64,)> = st
        .db
        .fetch_optional(
            "SELECT id FROM mpi_configs WHERE version = $1",
            args![&e.version],
        )
        .await?;
    if exists.is_some() {
        return Err(AppError::field(
            "mpi.version_taken",
            "config",
            format!("版本号 {} 已存在，请在配置中修改 version", e.version),
        ));
    }
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    if activate {
        tx.execute("UPDATE mpi_configs SET active = FALSE", vec![])
            .await?;
    }
    tx.execute(
        "INSERT INTO mpi_configs (version, config, model, active, note, created_by, created_at) VALUES ($1, $2, '', $3, $4, $5, $6)",
        args![&e.version, toml, activate, note.trim(), &ctx.actor.login, now],
    )
    .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "mpi.config_save", "mpi_config", &e.version)
                .details(serde_json::json!({"activate": activate, "note": note})),
        ],
    )
    .await?;
    tx.commit().await?;
    if activate {
        reindex(st).await?;
    }
    Ok(e.version)
}

/// Makes a stored version the active one and rebuilds the block keys.
pub async fn activate_config(st: &AppState, ctx: &RequestContext, version: &str) -> AppResult<()> {
    if ctx.require(perm::MPI_MANAGE)? != Scope::City {
        return Err(AppError::forbidden(perm::MPI_MANAGE));
    }
    let mut tx = st.db.begin().await?;
    let found: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM mpi_configs WHERE version = $1",
            args![version],
        )
        .await?;
    let Some((id,)) = found else {
        return Err(AppError::not_found("mpi_config"));
    };
    tx.execute("UPDATE mpi_configs SET active = (id = $1)", args![id])
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(
            ctx,
            "mpi.config_activate",
            "mpi_config",
            version,
        )],
    )
    .await?;
    tx.commit().await?;
    reindex(st).await.map(|_| ())
}

async fn all_fields(st: &AppState, limit: i64) -> AppResult<Vec<(i64, MatchFields)>> {
    let rows: Vec<MatchRow> = st
        .db
        .fetch_all(
            &format!(
                "SELECT {MATCH_COLS} FROM persons WHERE status = 'active' ORDER BY id LIMIT $1"
            ),
            args![limit],
        )
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.id, match_fields(st, r)?)))
        .collect()
}

/// Rebuilds every person's block keys under the active configuration.
pub async fn reindex(st: &AppState) -> AppResult<usize> {
    let e = matching::engine(&st.db).await?;
    let people = all_fields(st, i64::MAX).await?;
    let mut tx = st.db.begin().await?;
    for (id, f) in &people {
        let p = e.matcher.normalizer.normalize(&f.raw(*id));
        matching::index_person(&mut tx, &e, *id, &p).await?;
    }
    tx.commit().await?;
    Ok(people.len())
}

/// 模型管理: estimates m/u by EM on (a sample of) the registry itself, without labels.
pub async fn train(st: &AppState, ctx: &RequestContext) -> AppResult<String> {
    if ctx.require(perm::MPI_MANAGE)? != Scope::City {
        return Err(AppError::forbidden(perm::MPI_MANAGE));
    }
    let row = matching::active_config(&st.db).await?;
    let cfg = yiyang_mpi::MappingConfig::from_toml(&row.config)
        .map_err(|e| AppError::validation("mpi.config_invalid", e.to_string()))?;
    let people = all_fields(st, 50_000).await?;
    if people.len() < 50 {
        return Err(AppError::validation(
            "mpi.too_few",
            format!("登记人数不足（{}人），至少50人才能训练模型", people.len()),
        ));
    }
    let norm = yiyang_mpi::Normalizer::new(&cfg);
    let recs: Vec<yiyang_mpi::Person> = people
        .iter()
        .map(|(id, f)| norm.normalize(&f.raw(*id)))
        .collect();
    let run = tokio::task::spawn_blocking(move || yiyang_mpi::dedupe(&cfg, &recs))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::validation("mpi.train_failed", format!("训练失败：{e}")))?;
    let model = run.matcher.model.to_toml();
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE mpi_configs SET model = $1, trained_at = $2 WHERE id = $3",
        args![model, now, row.id],
    )
    .await?;
    let summary = format!(
        "EM 迭代 {} 次（{}），候选对 {}，样本 {} 人",
        run.stats.em_iterations,
        if run.stats.em_converged {
            "已收敛"
        } else {
            "未收敛"
        },
        run.stats.n_candidates,
        people.len()
    );
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "mpi.train", "mpi_config", &row.version)
                .details(serde_json::json!({"summary": summary})),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}

/// A pair compared now, for the review page: the current explanation.
pub async fn explain_pair(st: &AppState, a: i64, b: i64) -> AppResult<yiyang_mpi::Explanation> {
    let e = matching::engine(&st.db).await?;
    let pa = e
        .matcher
        .normalizer
        .normalize(&stored_fields(st, &st.db, a).await?.raw(a));
    let pb = e
        .matcher
        .normalizer
        .normalize(&stored_fields(st, &st.db, b).await?.raw(b));
    let n = matching::prior_population(
        st.db
            .scalar("SELECT COALESCE(MAX(id), 1) FROM persons", vec![])
            .await?,
    );
    Ok(e.matcher.explain_in_index(&pa, &pb, n))
}
