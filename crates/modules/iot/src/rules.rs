//! The alarm rules as versioned data (`iot_rule_sets`), their evaluation state on this node,
//! and the nurse's observations and the clinician's SpO2 scale that the scores use.

use crate::{IOT_ALARM, IOT_MANAGE};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use yiyang_core::text::Checks;
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, args};
use yiyang_vitals::rules::{Condition, Profile, RuleKind, RuleSet, SubjectState, Transition};
use yiyang_vitals::{Avpu, Spo2Scale, Vitals};

static RULES_GENERATION: AtomicU64 = AtomicU64::new(1);
static OBS_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Changes when a nurse records an observation or a scale changes on this node (the
/// evaluator then reads observations again; other nodes re-read within a minute).
pub fn observation_generation() -> u64 {
    OBS_GENERATION.load(Ordering::SeqCst)
}

/// The rule set in force: the active version in the database, else the built-in default.
/// Offline rules are left to the device check, which judges silence from the database
/// (`iot.offline_minutes`) for every device, seen or not, on whichever node runs the job.
pub async fn load(mut db: impl Conn) -> AppResult<(i64, RuleSet)> {
    let row: Option<(i64, String)> = db
        .fetch_optional("SELECT version, body FROM iot_rule_sets WHERE active = TRUE ORDER BY version DESC LIMIT 1", vec![])
        .await?;
    let (version, set) = match row {
        Some((v, body)) => match RuleSet::from_json(&body) {
            Ok(s) => (v, s),
            Err(p) => {
                tracing::error!(version = v, problems = ?p, "stored IoT rule set is invalid; using the default");
                (0, RuleSet::default_set())
            }
        },
        None => (0, RuleSet::default_set()),
    };
    let mut spec = set.spec().clone();
    spec.rules.retain(|r| r.kind != RuleKind::Offline);
    let set = RuleSet::new(spec).unwrap_or_else(|_| RuleSet::default_set());
    Ok((version, set))
}

/// One alarm rule's outcome for the ingest.
#[derive(Debug, Clone)]
pub struct RuleEvent {
    pub raise: bool,
    pub kind: &'static str,
    pub code: String,
    pub priority: &'static str,
    pub title: String,
    pub detail: String,
}

/// The node's rules and the subjects' states.
#[derive(Default)]
pub struct Active {
    set: Option<Arc<RuleSet>>,
    generation: u64,
    checked_at: Option<std::time::Instant>,
    version: i64,
    subjects: HashMap<i64, SubjectState>,
}

impl Active {
    /// Reads the active version again when it changed here, or every 30 s (another node).
    pub async fn refresh(&mut self, db: impl Conn) -> AppResult<()> {
        let g = RULES_GENERATION.load(Ordering::SeqCst);
        let stale = self
            .checked_at
            .is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(30));
        if self.set.is_some() && g == self.generation && !stale {
            return Ok(());
        }
        let (version, set) = load(db).await?;
        self.checked_at = Some(std::time::Instant::now());
        self.generation = g;
        if self.set.is_none() || version != self.version {
            let set = Arc::new(set);
            // Subjects keep their history; their rule states follow the new rules by code.
            for s in self.subjects.values_mut() {
                let _ = set.rebind(s);
            }
            self.set = Some(set);
            self.version = version;
        }
        Ok(())
    }

    /// Runs the rules over one reading of `subject`.
    pub fn evaluate(
        &mut self,
        subject: i64,
        at: i64,
        v: &Vitals,
        scale: Spo2Scale,
        overrides: &yiyang_vitals::Overrides,
    ) -> Vec<RuleEvent> {
        let Some(set) = self.set.clone() else {
            return vec![];
        };
        let fresh = match self.subjects.get(&subject) {
            Some(s) => s.profile().scale != scale || &s.profile().overrides != overrides,
            None => true,
        };
        if fresh {
            let profile = Profile {
                scale,
                overrides: overrides.clone(),
            };
            match set.subject(profile, at) {
                Ok(s) => {
                    self.subjects.insert(subject, s);
                }
                Err(_) => return vec![],
            }
        }
        let Some(state) = self.subjects.get_mut(&subject) else {
            return vec![];
        };
        set.evaluate(state, at, v)
            .into_iter()
            .filter(|e| e.transition != Transition::None)
            .map(|e| RuleEvent {
                raise: e.transition == Transition::Raise,
                kind: if e.kind == RuleKind::Score {
                    "score"
                } else {
                    "vital"
                },
                priority: e.priority.code(),
                title: e.name,
                detail: e.detail,
                code: e.code,
            })
            .collect()
    }
}

/// A rule as the rules page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleRow {
    pub code: String,
    pub name: String,
    pub priority: String,
    pub condition: String,
    pub duration: String,
}

/// The rules in force, described in Chinese.
pub struct ActiveView {
    pub version: String,
    pub rules: Vec<RuleRow>,
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// A condition in words (血氧饱和度 低于 90% 且 …).
pub fn describe(c: &Condition) -> String {
    match c {
        Condition::All(cs) => cs.iter().map(describe).collect::<Vec<_>>().join(" 且 "),
        Condition::Any(cs) => format!(
            "（{}）",
            cs.iter().map(describe).collect::<Vec<_>>().join(" 或 ")
        ),
        Condition::Reading(r) => format!(
            "{}{}{}{}",
            r.metric.label(),
            r.op.label(),
            fmt(r.value),
            r.metric.unit()
        ),
        Condition::Score(s) => match s.max {
            Some(m) => format!(
                "{} {}–{} 分{}",
                s.kind.label(),
                s.min,
                m,
                if s.complete {
                    "（须完整评分）"
                } else {
                    ""
                }
            ),
            None => format!(
                "{} ≥ {} 分{}",
                s.kind.label(),
                s.min,
                if s.complete {
                    "（须完整评分）"
                } else {
                    ""
                }
            ),
        },
        Condition::Trend(t) => format!(
            "{} 在 {} 分钟内{} {}{}",
            t.metric.label(),
            t.window_seconds / 60,
            t.direction.label(),
            fmt(t.delta),
            t.metric.unit()
        ),
        Condition::Missing(m) => match m.metric {
            Some(x) => format!("{} 分钟无{}数据", m.seconds / 60, x.label()),
            None => format!("{} 分钟无任何数据", m.seconds / 60),
        },
    }
}

pub async fn active_set(db: impl Conn) -> AppResult<ActiveView> {
    let (version, set) = load(db).await?;
    Ok(ActiveView {
        version: if version == 0 {
            format!("内置 {}", set.version())
        } else {
            version.to_string()
        },
        rules: set
            .rules()
            .iter()
            .filter(|r| r.enabled)
            .map(|r| RuleRow {
                code: r.code.clone(),
                name: r.name.clone(),
                priority: r.priority.code().into(),
                condition: describe(&r.condition),
                duration: if r.for_seconds > 0 {
                    format!("持续 {} 秒", r.for_seconds)
                } else {
                    "立即".into()
                },
            })
            .collect(),
    })
}

/// The rules in force as JSON (to edit and import).
pub async fn export(db: impl Conn) -> AppResult<String> {
    let row: Option<(String,)> = {
        let mut db = db;
        db.fetch_optional(
            "SELECT body FROM iot_rule_sets WHERE active = TRUE ORDER BY version DESC LIMIT 1",
            vec![],
        )
        .await?
    };
    Ok(match row {
        Some((b,)) => b,
        None => RuleSet::default_set().to_json(),
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Version {
    pub version: i64,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub active: bool,
}

pub async fn versions(mut db: impl Conn) -> AppResult<Vec<Version>> {
    db.fetch_all("SELECT version, note, created_by, created_at, active FROM iot_rule_sets ORDER BY version DESC", vec![])
        .await
}

/// Imports a rule set (city-wide `iot.manage`): checked whole (every problem reported),
/// stored as the next version and made active; audited with the old and new versions.
pub async fn import(
    st: &AppState,
    ctx: &RequestContext,
    body: &[u8],
    note: &str,
) -> AppResult<i64> {
    if ctx.scope_of(IOT_MANAGE) != Some(Scope::City) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    yiyang_core::text::check("note", "变更说明", note, 200, yiyang_core::text::Kind::Line)?;
    let text = std::str::from_utf8(body)
        .map_err(|_| AppError::validation("iot.rules_invalid", "规则文件须为 UTF-8 编码的 JSON"))?;
    let set = RuleSet::from_json(text.trim_start_matches('\u{feff}')).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
        AppError::validation(
            "iot.rules_invalid",
            format!("预警规则有误（共 {} 处）：{}", list.len(), list.join("；")),
        )
        .with_details(serde_json::json!({"problems": list}))
    })?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let prev: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT COALESCE(MAX(version), 0) FROM iot_rule_sets",
            vec![],
        )
        .await?;
    let version = prev.map(|p| p.0).unwrap_or(0) + 1;
    tx.execute(
        "UPDATE iot_rule_sets SET active = FALSE WHERE active = TRUE",
        vec![],
    )
    .await?;
    tx.execute(
        "INSERT INTO iot_rule_sets (org_id, version, body, note, active, created_by, created_at) VALUES (NULL, $1, $2, $3, TRUE, $4, $5)",
        args![version, set.to_json(), note.trim(), &ctx.actor.login, now],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.rules.import", "iot_rule_set", version)
            .details(serde_json::json!({"rules": set.rules().len(), "spec_version": set.version(), "note": note.trim()}))],
    )
    .await?;
    tx.commit().await?;
    RULES_GENERATION.fetch_add(1, Ordering::SeqCst);
    Ok(version)
}

/// A nurse's observation as typed.
#[derive(Debug, Clone, Default)]
pub struct ObservationInput {
    pub rr: String,
    pub avpu: String,
    pub on_oxygen: String,
}

/// The person (followed to the survivor of a merge) if the caller may act on them as a
/// clinician: visible, and `iot.alarm` at an institution that knows them.
async fn clinical_person(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
) -> AppResult<(i64, i64)> {
    let survivor = yiyang_patients::service::survivor(&st.db, person_id).await?;
    let cluster = yiyang_patients::service::cluster(&st.db, survivor).await?;
    if cluster.is_empty()
        || !yiyang_patients::service::can_see(&st.db, ctx, &cluster, perm::PATIENT_READ).await?
    {
        return Err(AppError::not_found("person"));
    }
    let orgs = yiyang_patients::service::cluster_orgs(&st.db, &cluster).await?;
    let org = orgs
        .into_iter()
        .find(|o| ctx.has_for(IOT_ALARM, *o) || ctx.has_for(IOT_MANAGE, *o));
    let Some(org) = org else {
        return Err(AppError::forbidden(IOT_ALARM));
    };
    Ok((survivor, org))
}

/// Records a nurse's observation (respiration, ACVPU, oxygen) used by the scores.
pub async fn observe(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    o: &ObservationInput,
) -> AppResult<()> {
    let (person, org) = clinical_person(st, ctx, person_id).await?;
    let mut c = Checks::new();
    let rr = match o.rr.trim() {
        "" => None,
        t => match t.parse::<f64>() {
            Ok(v) if (3.0..=80.0).contains(&v) => Some(v),
            _ => {
                c.add("rr", "呼吸频率须为 3–80 次/分");
                None
            }
        },
    };
    let avpu = match o.avpu.trim() {
        "" => None,
        t => match Avpu::from_code(t) {
            Some(a) => Some(a.code()),
            None => {
                c.add("avpu", "意识水平不正确");
                None
            }
        },
    };
    let on_oxygen = match o.on_oxygen.trim() {
        "" => None,
        "1" => Some(true),
        "0" => Some(false),
        _ => {
            c.add("on_oxygen", "吸氧情况不正确");
            None
        }
    };
    if c.is_empty() && rr.is_none() && avpu.is_none() && on_oxygen.is_none() {
        c.add("rr", "请至少填写一项（呼吸频率、意识水平或吸氧）");
    }
    c.finish()?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "INSERT INTO iot_observations (person_id, org_id, rr, avpu, on_oxygen, observed_at, observed_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![person, org, rr, avpu, on_oxygen, now, &ctx.actor.login],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.observation.create", "person", person).org(Some(org))],
    )
    .await?;
    tx.commit().await?;
    OBS_GENERATION.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Sets the NEWS2 SpO2 scale of a person (scale 2: confirmed hypercapnic respiratory
/// failure; a clinician's decision).
pub async fn set_scale2(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    on: bool,
) -> AppResult<()> {
    let (person, org) = clinical_person(st, ctx, person_id).await?;
    let doctor = ctx.actor.roles.iter().any(|r| r == "doctor") || ctx.has_for(IOT_MANAGE, org);
    if !doctor {
        return Err(AppError::new(
            "auth.forbidden",
            403,
            "只有医生可以设定 SpO2 量表",
        ));
    }
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let n = tx
        .execute(
            "UPDATE iot_person_settings SET news2_scale2 = $1, updated_by = $2, updated_at = $3 WHERE person_id = $4",
            args![on, &ctx.actor.login, now, person],
        )
        .await?;
    if n == 0 {
        tx.execute(
            "INSERT INTO iot_person_settings (person_id, org_id, news2_scale2, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5)",
            args![person, org, on, &ctx.actor.login, now],
        )
        .await?;
    }
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.scale.set", "person", person)
            .org(Some(org))
            .details(serde_json::json!({"scale2": on}))],
    )
    .await?;
    tx.commit().await?;
    OBS_GENERATION.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// One threshold of one rule as the person page edits it.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub rule: String,
    pub rule_name: String,
    pub key: String,
    /// What the leaf tests, in words (血氧饱和度 低于 90%).
    pub condition: String,
    pub default: f64,
    /// The person's own value, if set.
    pub own: Option<f64>,
}

/// The thresholds of the rules in force with the person's own values, and the rules with
/// whether they are on for the person.
pub async fn thresholds(
    st: &AppState,
    person_id: i64,
) -> AppResult<(Vec<Threshold>, Vec<(String, String, bool)>)> {
    let (_, set) = load(&st.db).await?;
    let row: Option<(String,)> = st
        .db
        .fetch_optional(
            "SELECT thresholds FROM iot_person_settings WHERE person_id = $1",
            args![person_id],
        )
        .await?;
    let own: yiyang_vitals::Overrides = row
        .and_then(|r| serde_json::from_str(&r.0).ok())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut rules = Vec::new();
    for r in set.rules().iter().filter(|r| r.enabled) {
        let o = own.get(&r.code);
        rules.push((
            r.code.clone(),
            r.name.clone(),
            o.and_then(|o| o.enabled).unwrap_or(true),
        ));
        r.condition.for_each_leaf(&mut |leaf| {
            if let (Some(key), Some(v)) = (leaf.key(), leaf.threshold()) {
                out.push(Threshold {
                    rule: r.code.clone(),
                    rule_name: r.name.clone(),
                    key: key.to_string(),
                    condition: describe(leaf),
                    default: v,
                    own: o.and_then(|o| o.thresholds.get(key).copied()),
                });
            }
        });
    }
    Ok((out, rules))
}

/// Sets a person's own thresholds and the rules switched off for them (a clinician's
/// decision), checked against the rules in force (every problem at once); audited.
pub async fn set_overrides(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    values: &[(String, String, String)],
    off: &[String],
) -> AppResult<()> {
    let (person, org) = clinical_person(st, ctx, person_id).await?;
    let mut c = Checks::new();
    let mut o: yiyang_vitals::Overrides = Default::default();
    for (rule, key, text) in values {
        let t = text.trim();
        if t.is_empty() {
            continue;
        }
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => {
                o.entry(rule.clone())
                    .or_default()
                    .thresholds
                    .insert(key.clone(), v);
            }
            _ => {
                c.add(&format!("t.{rule}.{key}"), format!("阈值须为数字：{t}"));
            }
        }
    }
    for rule in off {
        o.entry(rule.clone()).or_default().enabled = Some(false);
    }
    c.finish()?;
    let (_, set) = load(&st.db).await?;
    if let Err(problems) = set.check_overrides(&o) {
        let mut c = Checks::new();
        for p in problems {
            let f = p
                .field
                .replace("overrides.", "t.")
                .replace(".thresholds.", ".");
            c.add(&f, p.message);
        }
        c.finish()?;
    }
    let body = serde_json::to_string(&o).unwrap_or_else(|_| "{}".into());
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let n = tx
        .execute(
            "UPDATE iot_person_settings SET thresholds = $1, updated_by = $2, updated_at = $3 WHERE person_id = $4",
            args![&body, &ctx.actor.login, now, person],
        )
        .await?;
    if n == 0 {
        tx.execute(
            "INSERT INTO iot_person_settings (person_id, org_id, thresholds, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5)",
            args![person, org, &body, &ctx.actor.login, now],
        )
        .await?;
    }
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.thresholds.set", "person", person)
            .org(Some(org))
            .details(serde_json::json!({"overrides": o}))],
    )
    .await?;
    tx.commit().await?;
    OBS_GENERATION.fetch_add(1, Ordering::SeqCst);
    Ok(())
}
