//! Masking (脱敏): algorithms and per-role rules per field kind, managed in the UI.
//!
//! A rule maps (field kind, role) to an algorithm; role `*` is the default. The snapshot of
//! rules is cached for a few seconds and reloaded after local edits, so a change made on one
//! node reaches every node within the cache period.

use crate::crypto::Keys;
use crate::module::FieldKind;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use yiyang_core::{AppError, AppResult, RequestContext};
use yiyang_store::{Db, args};

/// The masking field kinds of the running platform: the union of what its modules declare
/// (registered by `module::Registry::new`).
static FIELD_KINDS: RwLock<Vec<FieldKind>> = RwLock::new(Vec::new());

/// Adds field kinds; a kind already registered keeps its first declaration.
pub fn register_field_kinds(kinds: &[FieldKind]) {
    let mut all = FIELD_KINDS.write().unwrap_or_else(|e| e.into_inner());
    for k in kinds {
        if !all.iter().any(|x| x.kind == k.kind) {
            all.push(*k);
        }
    }
}

/// Every registered field kind (kind, zh-CN label), in display order.
pub fn field_kinds() -> Vec<(&'static str, &'static str)> {
    FIELD_KINDS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|k| (k.kind, k.label))
        .collect()
}

/// Algorithm kinds.
pub const ALGORITHM_KINDS: &[(&str, &str)] = &[
    ("partial", "部分遮盖（保留首尾）"),
    ("truncate", "截断"),
    ("hash", "密钥哈希"),
    ("replace", "整体替换"),
    ("none", "不脱敏"),
];

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Algorithm {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub keep_head: i64,
    pub keep_tail: i64,
    pub replacement: String,
    pub builtin: bool,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Rule {
    pub id: i64,
    pub field_kind: String,
    pub role_code: String,
    pub algorithm_id: i64,
    pub enabled: bool,
    pub version: i64,
}

/// Applies one algorithm to a value.
pub fn apply(alg: &Algorithm, value: &str, keys: &Keys) -> String {
    if value.is_empty() {
        return String::new();
    }
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let mask_char = alg.replacement.chars().next().unwrap_or('*');
    match alg.kind.as_str() {
        "none" => value.to_string(),
        "partial" => {
            let head = (alg.keep_head.max(0) as usize).min(n.saturating_sub(1));
            let tail = alg.keep_tail.max(0) as usize;
            let tail = if head + tail >= n { 0 } else { tail };
            let mut s: String = chars[..head].iter().collect();
            s.extend(std::iter::repeat_n(mask_char, n - head - tail));
            s.extend(&chars[n - tail..]);
            s
        }
        "truncate" => {
            let keep = (alg.keep_head.max(0) as usize).min(n);
            let mut s: String = chars[..keep].iter().collect();
            if keep < n {
                s.push_str(if alg.replacement.is_empty() {
                    "…"
                } else {
                    &alg.replacement
                });
            }
            s
        }
        "hash" => format!("#{}", keys.mask_hash(value)),
        _ => alg.replacement.clone(),
    }
}

#[derive(Debug, Default)]
struct Snapshot {
    algorithms: Vec<Algorithm>,
    rules: Vec<Rule>,
}

type Cached = (Instant, Arc<Snapshot>);

/// Rules with a short-lived cache.
#[derive(Clone, Debug)]
pub struct Masking {
    db: Db,
    keys: Arc<Keys>,
    cache: Arc<RwLock<Option<Cached>>>,
}

/// Masks values for one caller.
#[derive(Debug, Clone)]
pub struct Masker {
    snap: Arc<Snapshot>,
    roles: Vec<String>,
    keys: Arc<Keys>,
    unmasked: bool,
}

impl Masker {
    /// Masks `value` as a field of `kind`, per the caller's roles.
    pub fn mask(&self, kind: &str, value: &str) -> String {
        if self.unmasked {
            return value.to_string();
        }
        let rule = self
            .roles
            .iter()
            .find_map(|r| {
                self.snap
                    .rules
                    .iter()
                    .find(|x| x.enabled && x.field_kind == kind && &x.role_code == r)
            })
            .or_else(|| {
                self.snap
                    .rules
                    .iter()
                    .find(|x| x.enabled && x.field_kind == kind && x.role_code == "*")
            });
        match rule.and_then(|r| self.snap.algorithms.iter().find(|a| a.id == r.algorithm_id)) {
            Some(alg) => apply(alg, value, &self.keys),
            // No rule for the kind: masked entirely rather than shown.
            None => "***".into(),
        }
    }

    pub fn is_unmasked(&self) -> bool {
        self.unmasked
    }
}

const CACHE_TTL: Duration = Duration::from_secs(5);

impl Masking {
    pub fn new(db: Db, keys: Arc<Keys>) -> Self {
        Self {
            db,
            keys,
            cache: Arc::new(RwLock::new(None)),
        }
    }

    async fn snapshot(&self) -> AppResult<Arc<Snapshot>> {
        if let Some((t, s)) = self.cache.read().expect("lock").as_ref()
            && t.elapsed() < CACHE_TTL
        {
            return Ok(s.clone());
        }
        let algorithms = self.algorithms().await?;
        let rules = self.rules().await?;
        let snap = Arc::new(Snapshot { algorithms, rules });
        *self.cache.write().expect("lock") = Some((Instant::now(), snap.clone()));
        Ok(snap)
    }

    fn invalidate(&self) {
        *self.cache.write().expect("lock") = None;
    }

    /// A masker for the caller; `unmasked` only after the caller's permission and purpose were checked.
    pub async fn masker(&self, ctx: &RequestContext, unmasked: bool) -> AppResult<Masker> {
        Ok(Masker {
            snap: self.snapshot().await?,
            roles: ctx.actor.roles.clone(),
            keys: self.keys.clone(),
            unmasked,
        })
    }

    pub async fn algorithms(&self) -> AppResult<Vec<Algorithm>> {
        self.db.fetch_all("SELECT id, code, name, kind, keep_head, keep_tail, replacement, builtin FROM mask_algorithms ORDER BY id", vec![]).await
    }

    pub async fn rules(&self) -> AppResult<Vec<Rule>> {
        self.db
            .fetch_all("SELECT id, field_kind, role_code, algorithm_id, enabled, version FROM mask_rules ORDER BY field_kind, role_code", vec![])
            .await
    }

    /// Creates or updates an algorithm (by code).
    pub async fn save_algorithm(&self, ctx: &RequestContext, a: &AlgorithmInput) -> AppResult<i64> {
        ctx.require(yiyang_core::perm::MASKING_MANAGE)?;
        a.validate()?;
        let now = ctx.clock.now_micros();
        let mut tx = self.db.begin().await?;
        let id = tx
            .scalar(
                "INSERT INTO mask_algorithms (code, name, kind, keep_head, keep_tail, replacement, builtin, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7) ON CONFLICT (code) DO UPDATE SET name = $2, kind = $3, \
                 keep_head = $4, keep_tail = $5, replacement = $6, updated_at = $7 RETURNING id",
                args![a.code.trim(), a.name.trim(), &a.kind, a.keep_head, a.keep_tail, &a.replacement, now],
            )
            .await?;
        crate::audit::append(
            &mut tx,
            &[
                crate::audit::AuditEntry::new(ctx, "masking.algorithm.save", "mask_algorithm", id)
                    .details(serde_json::to_value(a).unwrap_or_default()),
            ],
        )
        .await?;
        tx.commit().await?;
        self.invalidate();
        Ok(id)
    }

    /// Sets the algorithm for (field kind, role); a new version each time.
    pub async fn save_rule(&self, ctx: &RequestContext, r: &RuleInput) -> AppResult<i64> {
        ctx.require(yiyang_core::perm::MASKING_MANAGE)?;
        if !field_kinds().iter().any(|(k, _)| *k == r.field_kind) {
            return Err(AppError::field(
                "masking.field_kind_invalid",
                "field_kind",
                "字段类型不存在",
            ));
        }
        let role = r.role_code.trim();
        if role.is_empty() {
            return Err(AppError::field(
                "masking.role_required",
                "role_code",
                "请选择角色（* 表示默认）",
            ));
        }
        let now = ctx.clock.now_micros();
        let mut tx = self.db.begin().await?;
        let exists: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT id FROM mask_algorithms WHERE id = $1",
                args![r.algorithm_id],
            )
            .await?;
        if exists.is_none() {
            return Err(AppError::field(
                "masking.algorithm_missing",
                "algorithm_id",
                "脱敏算法不存在",
            ));
        }
        if role != "*" {
            let role_exists: Option<(i64,)> = tx
                .fetch_optional("SELECT id FROM roles WHERE code = $1", args![role])
                .await?;
            if role_exists.is_none() {
                return Err(AppError::field(
                    "masking.role_missing",
                    "role_code",
                    "角色不存在",
                ));
            }
        }
        let id = tx
            .scalar(
                "INSERT INTO mask_rules (field_kind, role_code, algorithm_id, enabled, version, updated_at) \
                 VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (field_kind, role_code) DO UPDATE SET algorithm_id = $3, \
                 enabled = $4, version = mask_rules.version + 1, updated_at = $5 RETURNING id",
                args![&r.field_kind, role, r.algorithm_id, r.enabled, now],
            )
            .await?;
        crate::audit::append(
            &mut tx,
            &[crate::audit::AuditEntry::new(ctx, "masking.rule.save", "mask_rule", id)
                .details(serde_json::json!({"field_kind": r.field_kind, "role": role, "algorithm_id": r.algorithm_id, "enabled": r.enabled}))],
        )
        .await?;
        tx.commit().await?;
        self.invalidate();
        Ok(id)
    }
}

/// A request for unmasked values: allowed only with the permission and a stated purpose.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct Unmask {
    /// Ask for plain values; needs the `*.read_unmasked` permission and a purpose.
    pub unmask: Option<bool>,
    pub purpose: Option<String>,
}

impl Unmask {
    /// `None` for a masked read; the purpose when unmasking is asked for and `allowed`
    /// (the caller holds `permission` for the data); an error otherwise.
    pub fn purpose(&self, allowed: bool, permission: &str) -> AppResult<Option<String>> {
        if !self.unmask.unwrap_or(false) {
            return Ok(None);
        }
        if !allowed {
            return Err(AppError::forbidden(permission));
        }
        let purpose = self.purpose.as_deref().map(str::trim).unwrap_or("");
        if purpose.chars().count() < 2 {
            return Err(AppError::field(
                "privacy.purpose_required",
                "purpose",
                "查看明文信息须填写用途",
            ));
        }
        Ok(Some(purpose.to_string()))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlgorithmInput {
    pub code: String,
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub keep_head: i64,
    #[serde(default)]
    pub keep_tail: i64,
    #[serde(default)]
    pub replacement: String,
}

impl AlgorithmInput {
    /// Every problem of the algorithm at once (a single one keeps its own code).
    fn validate(&self) -> AppResult<()> {
        let mut c = yiyang_core::text::Checks::new();
        let code = self.code.trim();
        if code.is_empty()
            || code.len() > 40
            || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            c.result::<()>(Err(AppError::field(
                "masking.code_invalid",
                "code",
                "算法编码须为1-40位字母、数字或下划线",
            )));
        }
        c.text(
            "name",
            "算法名称",
            &self.name,
            40,
            yiyang_core::text::Kind::Name,
        );
        if self.name.trim().is_empty() {
            c.result::<()>(Err(AppError::field(
                "masking.name_required",
                "name",
                "请填写算法名称",
            )));
        }
        if !ALGORITHM_KINDS.iter().any(|(k, _)| *k == self.kind) {
            c.result::<()>(Err(AppError::field(
                "masking.kind_invalid",
                "kind",
                "算法类型不存在",
            )));
        }
        for (field, v) in [("keep_head", self.keep_head), ("keep_tail", self.keep_tail)] {
            if !(0..=32).contains(&v) {
                c.result::<()>(Err(AppError::field(
                    "masking.keep_invalid",
                    field,
                    "保留位数须在0到32之间",
                )));
            }
        }
        c.text(
            "replacement",
            "替换文本",
            &self.replacement,
            20,
            yiyang_core::text::Kind::Line,
        );
        c.finish()
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RuleInput {
    pub field_kind: String,
    pub role_code: String,
    pub algorithm_id: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Built-in algorithms and default rules, created at first start.
pub async fn seed_defaults(db: &Db, kinds: &[FieldKind], now: i64) -> AppResult<()> {
    let builtin: &[(&str, &str, &str, i64, i64, &str)] = &[
        ("keep_surname", "保留姓氏", "partial", 1, 1, "*"),
        ("id_4_4", "身份证保留前4后4", "partial", 4, 4, "*"),
        ("phone_3_4", "手机号保留前3后4", "partial", 3, 4, "*"),
        ("truncate_9", "地址截断至前9字", "truncate", 9, 0, "…"),
        ("keyed_hash", "密钥哈希", "hash", 0, 0, ""),
        ("redact", "整体替换", "replace", 0, 0, "[已脱敏]"),
        ("plain", "不脱敏", "none", 0, 0, ""),
    ];
    let mut tx = db.begin().await?;
    for (code, name, kind, h, t, r) in builtin {
        tx.execute(
            "INSERT INTO mask_algorithms (code, name, kind, keep_head, keep_tail, replacement, builtin, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7) ON CONFLICT (code) DO NOTHING",
            args![*code, *name, *kind, *h, *t, *r, now],
        )
        .await?;
    }
    for k in kinds {
        let (kind, alg) = (k.kind, k.default_algorithm);
        tx.execute(
            "INSERT INTO mask_rules (field_kind, role_code, algorithm_id, enabled, version, updated_at) \
             SELECT $1, '*', id, TRUE, 1, $2 FROM mask_algorithms WHERE code = $3 ON CONFLICT (field_kind, role_code) DO NOTHING",
            args![kind, now, alg],
        )
        .await?;
    }
    // Clinicians and carers see whom they treat: names and clinical text in full.
    for role in ["doctor", "nurse", "caregiver", "pharmacist"] {
        for kind in ["name", "free_text"] {
            tx.execute(
                "INSERT INTO mask_rules (field_kind, role_code, algorithm_id, enabled, version, updated_at) \
                 SELECT $1, $2, id, TRUE, 1, $3 FROM mask_algorithms WHERE code = 'plain' ON CONFLICT (field_kind, role_code) DO NOTHING",
                args![kind, role, now],
            )
            .await?;
        }
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alg(kind: &str, h: i64, t: i64, r: &str) -> Algorithm {
        Algorithm {
            id: 1,
            code: "x".into(),
            name: "x".into(),
            kind: kind.into(),
            keep_head: h,
            keep_tail: t,
            replacement: r.into(),
            builtin: true,
        }
    }

    #[test]
    fn partial_masks_follow_the_reference_conventions() {
        let k = Keys::for_tests();
        assert_eq!(
            apply(&alg("partial", 4, 4, "*"), "44140219490101123X", &k),
            "4414**********123X"
        );
        assert_eq!(
            apply(&alg("partial", 3, 4, "*"), "13812345678", &k),
            "138****5678"
        );
        assert_eq!(apply(&alg("partial", 1, 1, "*"), "张三", &k), "张*");
        assert_eq!(apply(&alg("partial", 1, 1, "*"), "张三明", &k), "张*明");
        assert_eq!(apply(&alg("partial", 1, 1, "*"), "欧阳小明", &k), "欧**明");
        assert_eq!(apply(&alg("partial", 1, 1, "*"), "王", &k), "*");
    }

    #[test]
    fn truncate_hash_replace_and_none() {
        let k = Keys::for_tests();
        assert_eq!(
            apply(&alg("truncate", 3, 0, "…"), "梅江区江南路1号", &k),
            "梅江区…"
        );
        let h = apply(&alg("hash", 0, 0, ""), "13812345678", &k);
        assert!(h.starts_with('#') && !h.contains("5678"));
        assert_eq!(h, apply(&alg("hash", 0, 0, ""), "13812345678", &k));
        assert_eq!(
            apply(&alg("replace", 0, 0, "[已脱敏]"), "秘密", &k),
            "[已脱敏]"
        );
        assert_eq!(apply(&alg("none", 0, 0, ""), "明文", &k), "明文");
    }
}
