//! Glue between the person registry and the `yiyang-mpi` engine: the versioned
//! configuration and trained model stored in `mpi_configs`, a cached [`Matcher`] per
//! configuration content, block keys in `person_block_keys` for candidate lookup, and
//! unsupervised retraining on the registry itself.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use yiyang_core::{AppError, AppResult};
use yiyang_mpi::{ColumnMap, Field, MappingConfig, Matcher, Person, RawRecord, TrainedModel};
use yiyang_store::{Backend, Db, Tx, args};

/// The people a registration may be: Meizhou's resident population.
///
/// The prior that a new registration is the same human as one given record is about
/// 1 / (population the registrations come from), not 1 / (records indexed so far): a
/// small, young index must not make every namesake born the same day a match.
pub const CATCHMENT_POPULATION: usize = 3_800_000;

/// The population used for the prior: the catchment, or the index if it has grown larger.
/// `max_id` bounds the index size (an index lookup, where COUNT(*) would scan).
pub fn prior_population(max_id: i64) -> usize {
    (max_id.max(1) as usize).max(CATCHMENT_POPULATION)
}

/// The engine fields the registry feeds, named as the configuration's columns.
pub fn column_map() -> ColumnMap {
    let mut other = BTreeMap::new();
    other.insert("insurance_no".to_string(), "insurance_no".to_string());
    ColumnMap {
        record_id: Some("id".into()),
        full_name: Some("name".into()),
        sex: Some("sex".into()),
        birth_date: Some("birth_date".into()),
        birth_date_format: Some("%Y-%m-%d".into()),
        id_number: Some("id_number".into()),
        phone: Some("phone".into()),
        district: Some("district".into()),
        town: Some("town".into()),
        address_detail: Some("address_detail".into()),
        other_ids: other,
        ..Default::default()
    }
}

/// The default configuration, created as version `meizhou-1` on first start.
pub fn default_config() -> MappingConfig {
    let mut c = MappingConfig::with_columns("meizhou-1", column_map());
    c.description = "梅州默认匹配模型：姓名（拼音）、性别、出生日期、身份证号、手机号、区县、镇街、详细地址、医保号".into();
    c
}

/// The demographic fields the engine compares.
#[derive(Debug, Clone, Default)]
pub struct MatchFields {
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    pub id_number: String,
    pub phone: String,
    pub district: String,
    pub town: String,
    pub address_detail: String,
    pub insurance_no: String,
}

impl MatchFields {
    pub fn raw(&self, id: i64) -> RawRecord {
        let mut r = RawRecord::new(id.to_string());
        let mut set = |f: Field, v: &str| {
            if !v.trim().is_empty() {
                r.set(f, v.trim());
            }
        };
        set(Field::FullName, &self.name);
        set(Field::Sex, &self.sex);
        set(Field::BirthDate, &self.birth_date);
        set(Field::IdNumber, &self.id_number);
        set(Field::Phone, &self.phone);
        set(Field::District, &self.district);
        set(Field::Town, &self.town);
        set(Field::AddressDetail, &self.address_detail);
        set(Field::Other("insurance_no".into()), &self.insurance_no);
        r
    }
}

/// The active configuration row.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct ConfigRow {
    pub id: i64,
    pub version: String,
    pub config: String,
    pub model: String,
    pub active: bool,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub trained_at: Option<i64>,
}

const CONFIG_COLS: &str =
    "id, version, config, model, active, note, created_by, created_at, trained_at";

/// A compiled matcher with the configuration version it came from.
pub struct Engine {
    pub matcher: Matcher,
    pub version: String,
}

type Cache = Mutex<HashMap<String, Arc<Engine>>>;

fn cache() -> &'static Cache {
    static C: OnceLock<Cache> = OnceLock::new();
    C.get_or_init(Cache::default)
}

fn engine_err(e: yiyang_mpi::Error) -> AppError {
    AppError::validation("mpi.config_invalid", format!("匹配配置无效：{e}"))
}

/// Compiles a configuration (and optional trained model) into a matcher.
pub fn compile(config: &str, model: &str) -> AppResult<Engine> {
    let cfg = MappingConfig::from_toml(config).map_err(engine_err)?;
    cfg.validate().map_err(engine_err)?;
    let mut matcher = Matcher::new(&cfg).map_err(engine_err)?;
    if !model.trim().is_empty() {
        let m = TrainedModel::from_toml(model).map_err(engine_err)?;
        matcher.set_model(m).map_err(engine_err)?;
    }
    Ok(Engine {
        matcher,
        version: cfg.version,
    })
}

pub async fn active_config(db: &Db) -> AppResult<ConfigRow> {
    db.fetch_optional(
        &format!(
            "SELECT {CONFIG_COLS} FROM mpi_configs WHERE active = TRUE ORDER BY id DESC LIMIT 1"
        ),
        vec![],
    )
    .await?
    .ok_or_else(|| AppError::new("mpi.no_config", 503, "没有启用的匹配配置"))
}

pub async fn configs(db: &Db) -> AppResult<Vec<ConfigRow>> {
    db.fetch_all(
        &format!("SELECT {CONFIG_COLS} FROM mpi_configs ORDER BY id DESC"),
        vec![],
    )
    .await
}

/// The matcher of the active configuration; compiled once per configuration content.
pub async fn engine(db: &Db) -> AppResult<Arc<Engine>> {
    let row = active_config(db).await?;
    let key = hex::encode(Sha256::digest(format!("{}\u{1f}{}", row.config, row.model)));
    if let Some(e) = cache().lock().expect("cache").get(&key) {
        return Ok(e.clone());
    }
    let e = Arc::new(compile(&row.config, &row.model)?);
    cache().lock().expect("cache").insert(key, e.clone());
    Ok(e)
}

/// m/u of the default configuration, estimated by EM on a synthetic Meizhou population
/// (see the `train_default_model` example).
pub const DEFAULT_MODEL: &str = include_str!("default_model.toml");

/// Creates the default configuration on first start.
pub async fn seed_default(db: &Db, now: i64) -> AppResult<()> {
    let n = db
        .scalar("SELECT COUNT(*) FROM mpi_configs", vec![])
        .await?;
    if n == 0 {
        let toml = default_config().to_toml().map_err(engine_err)?;
        db.execute(
            "INSERT INTO mpi_configs (version, config, model, active, note, created_by, created_at, trained_at) VALUES ($1, $2, $3, TRUE, $4, 'system', $5, $5) ON CONFLICT (version) DO NOTHING",
            args!["meizhou-1", toml, DEFAULT_MODEL, "默认配置（模型以合成梅州人口 EM 预训练，可用登记数据重新训练）", now],
        )
        .await?;
    }
    Ok(())
}

/// Replaces the block keys of a person.
pub async fn index_person(tx: &mut Tx, e: &Engine, person_id: i64, p: &Person) -> AppResult<()> {
    tx.execute(
        "DELETE FROM person_block_keys WHERE person_id = $1",
        args![person_id],
    )
    .await?;
    tx.insert_rows(
        "INSERT INTO person_block_keys (person_id, key)",
        2,
        block_key_rows(e, person_id, p),
        "",
    )
    .await?;
    Ok(())
}

/// The candidates of each of `persons`: the persons sharing a block key with it, where that
/// key's block is no larger than its blocking pass allows (as the in-memory index skips an
/// oversized block: a common surname says nothing), ranked by the number of keys shared
/// (a true match agrees on several passes), then the most recent, at most `limit` each.
///
/// The database counts and ranks: one statement per group of persons (at most
/// [`KEYS_PER_STATEMENT`] keys), returning only the ranked candidates and the keys found
/// oversized, never the blocks' members themselves.
pub async fn candidates(
    db: &Db,
    tx: &mut Tx,
    e: &Engine,
    persons: &[&Person],
    limit: usize,
) -> AppResult<Vec<Vec<i64>>> {
    let db_id = db.identity();
    // Each person's searchable keys with their caps (not those known to be oversized).
    let mut per: Vec<Vec<(i64, usize)>> = persons
        .iter()
        .map(|p| {
            let mut k: Vec<(i64, usize)> = e
                .matcher
                .block_keys_capped(p)
                .into_iter()
                .map(|(k, cap)| (k as i64, cap))
                .collect();
            k.sort_unstable();
            k.dedup_by_key(|x| x.0);
            k
        })
        .collect();
    if let Some(over) = oversized().lock().expect("oversized").get(&db_id) {
        for keys in &mut per {
            keys.retain(|(k, _)| !over.contains(k));
        }
    }
    let mut out: Vec<Vec<i64>> = vec![Vec::new(); persons.len()];
    let mut found_over = Vec::new();
    let mut start = 0;
    while start < per.len() {
        // A group of persons whose keys fit one statement (a person never splits).
        let mut end = start;
        let mut n_keys = 0;
        while end < per.len() && (end == start || n_keys + per[end].len() <= KEYS_PER_STATEMENT) {
            n_keys += per[end].len();
            end += 1;
        }
        if n_keys > 0 {
            let (ranked, over) = rank(tx, &per[start..end], start, limit).await?;
            for (qid, person) in ranked {
                out[qid].push(person);
            }
            found_over.extend(over);
        }
        start = end;
    }
    if !found_over.is_empty() {
        let mut known = oversized().lock().expect("oversized");
        known.entry(db_id).or_default().extend(found_over);
    }
    Ok(out)
}

/// Most block keys looked up by one candidate statement.
pub const KEYS_PER_STATEMENT: usize = 600;

/// One candidate statement for the persons `per` (their index starts at `first`): the
/// ranked candidates as (person index, candidate id) in rank order, and the keys whose
/// block was over its cap.
async fn rank(
    tx: &mut Tx,
    per: &[Vec<(i64, usize)>],
    first: usize,
    limit: usize,
) -> AppResult<(Vec<(usize, i64)>, Vec<i64>)> {
    let most = per.iter().flatten().map(|k| k.1).max().unwrap_or(0);
    let mut args: Vec<yiyang_store::Arg> = Vec::new();
    let mut values = Vec::new();
    for (i, keys) in per.iter().enumerate() {
        for (k, cap) in keys {
            let n = args.len();
            values.push(format!("(${}, ${}, ${})", n + 1, n + 2, n + 3));
            args.push(((first + i) as i64).into());
            args.push((*k).into());
            args.push((*cap as i64).into());
        }
    }
    let values = values.join(", ");
    let pick = format!(
        "r AS (SELECT qid, person_id, ROW_NUMBER() OVER (PARTITION BY qid ORDER BY shared DESC, person_id DESC) AS rn FROM m) \
         SELECT qid, person_id, rn FROM r WHERE rn <= {limit}"
    );
    let sql = match tx.backend() {
        // f: each distinct key's first `most` + 1 members, one index range per key, held
        // to per-key lookups with LATERAL (otherwise PostgreSQL may hash-join the whole
        // table); s: how many that is (a block over its cap shows more than the cap); m:
        // per person, the members of its within-cap blocks with the number of keys shared;
        // then the top `limit` per person, and the oversized keys (person -1).
        Backend::Postgres => format!(
            "WITH q (qid, key, cap) AS (VALUES {values}), \
             f AS MATERIALIZED (SELECT k.key, p.person_id FROM (SELECT DISTINCT key FROM q) AS k CROSS JOIN LATERAL (SELECT person_id FROM person_block_keys b WHERE b.key = k.key LIMIT {}) AS p), \
             s AS MATERIALIZED (SELECT key, COUNT(*) AS size FROM f GROUP BY key), \
             m AS (SELECT q.qid, f.person_id, COUNT(*) AS shared FROM q JOIN s ON s.key = q.key AND s.size <= q.cap JOIN f ON f.key = q.key GROUP BY q.qid, f.person_id), \
             {pick} \
             UNION ALL SELECT DISTINCT -1, q.key, 0 FROM q JOIN s ON s.key = q.key WHERE s.size > q.cap \
             ORDER BY 1, 3",
            most + 1
        ),
        // s: each distinct key's block size, counted up to the largest cap + 1 (an index
        // range per key); m: per person, the candidates of its within-cap blocks with the
        // number of keys shared; then the top `limit` per person, and the oversized keys
        // (person -1). SQLite plans nested loops.
        Backend::Sqlite => format!(
            "WITH q (qid, key, cap) AS (VALUES {values}), \
             s AS MATERIALIZED (SELECT k.key, k.cap, (SELECT COUNT(*) FROM (SELECT 1 FROM person_block_keys b WHERE b.key = k.key LIMIT {}) AS n) AS size FROM (SELECT DISTINCT key, cap FROM q) AS k), \
             m AS (SELECT q.qid, p.person_id, COUNT(*) AS shared FROM q JOIN s ON s.key = q.key AND s.size <= s.cap JOIN person_block_keys p ON p.key = q.key GROUP BY q.qid, p.person_id), \
             {pick} \
             UNION ALL SELECT -1, key, 0 FROM s WHERE size > cap \
             ORDER BY 1, 3",
            most + 1
        ),
    };
    let rows: Vec<(i64, i64, i64)> = tx.fetch_all_planned(&sql, args).await?;
    let mut ranked = Vec::with_capacity(rows.len());
    let mut over = Vec::new();
    for (qid, id, _) in rows {
        if qid < 0 {
            over.push(id);
        } else {
            ranked.push((qid as usize, id));
        }
    }
    Ok((ranked, over))
}

/// Block keys seen larger than their pass's cap, per database. A block only grows as
/// persons register, so such a key is never searched again by this process: counting a
/// common surname's thousands of members for every registration was most of the lookup's
/// cost. (A block that shrinks below its cap again, when records are re-indexed after an
/// update or an unmerge, is searched again after a restart.)
fn oversized() -> &'static Mutex<HashMap<String, std::collections::HashSet<i64>>> {
    static O: OnceLock<Mutex<HashMap<String, std::collections::HashSet<i64>>>> = OnceLock::new();
    O.get_or_init(Mutex::default)
}

/// The pinyin of a person's name as stored in `persons.name_pinyin` (the first reading).
pub fn stored_pinyin(p: &Person) -> String {
    p.pinyin
        .first()
        .cloned()
        .flatten()
        .map(|b| b.to_string())
        .unwrap_or_default()
}

/// The block-key rows (`person_id`, `key`) of a new person, for a multi-row insert.
pub fn block_key_rows(e: &Engine, person_id: i64, p: &Person) -> Vec<Vec<yiyang_store::Arg>> {
    let mut keys = e.matcher.block_keys(p);
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|k| yiyang_store::args![person_id, k as i64])
        .collect()
}
