//! The matcher: deterministic rules, then Fellegi–Sunter scoring with
//! term-frequency adjustments; training by EM; explanations.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

use crate::blocking::{CompiledBlock, dedupe_candidates, link_candidates};
use crate::compare::{CompiledComparison, NULL_LEVEL};
use crate::config::{BlockingRule, Field, MappingConfig, VetoMode};
use crate::error::{Error, Result};
use crate::model::{
    ComparisonParams, EmSettings, LevelParams, TrainedModel, em, initial_m, normalise, patterns,
};
use crate::record::{Normalizer, Person, slot};
use crate::rng::Rng;

/// The three outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Same person.
    Link,
    /// Possible duplicate (疑似重复), for a person to review.
    Review,
    /// Different persons.
    NoMatch,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Link => "link",
            Decision::Review => "review",
            Decision::NoMatch => "no_match",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Contribution of one comparison to a pair's weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldContribution {
    pub comparison: String,
    pub field: String,
    /// Chosen level label (`null` when a value is missing, `else` when no level held).
    pub level: String,
    pub m: f64,
    /// u used: the level's u, or the term-frequency u of the shared value.
    pub u: f64,
    pub tf_adjusted: bool,
    /// log2 Bayes factor, 0 for `null`.
    pub weight: f64,
}

/// Why a pair got its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub config_version: String,
    /// log2 prior odds.
    pub prior_weight: f64,
    pub fields: Vec<FieldContribution>,
    /// prior_weight + Σ field weights.
    pub match_weight: f64,
    pub match_probability: f64,
    /// Deterministic rule that decided the pair, if any.
    pub rule: Option<String>,
    pub decision: Decision,
}

impl Explanation {
    /// Compact one-line form: `surname=exact:+7.21;given_name=else:-4.02`.
    pub fn compact(&self) -> String {
        let mut s = format!("prior:{:+.2}", self.prior_weight);
        for f in &self.fields {
            s.push_str(&format!(";{}={}:{:+.2}", f.comparison, f.level, f.weight));
        }
        if let Some(r) = &self.rule {
            s.push_str(&format!(";rule={r}"));
        }
        s
    }
}

/// A scored candidate pair (indices into the inputs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    pub left: u32,
    pub right: u32,
    pub match_weight: f64,
    pub match_probability: f64,
    pub decision: Decision,
    /// Index of the deterministic rule that fired.
    pub rule: Option<u16>,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    name: String,
    fields: Vec<usize>,
    require_valid_id: bool,
    veto: Vec<usize>,
    mode: VetoMode,
}

impl CompiledRule {
    fn fires(&self, a: &Person, b: &Person) -> bool {
        for &s in &self.fields {
            match (a.value(s), b.value(s)) {
                (Some(x), Some(y)) if x == y => {}
                _ => return false,
            }
            if s == slot::ID_NUMBER && self.require_valid_id && !(a.id_valid && b.id_valid) {
                return false;
            }
        }
        if self.veto.is_empty() {
            return true;
        }
        let disagree = |s: usize| matches!((a.value(s), b.value(s)), (Some(x), Some(y)) if x != y);
        let vetoed = match self.mode {
            VetoMode::All => self.veto.iter().all(|&s| disagree(s)),
            VetoMode::Any => self.veto.iter().any(|&s| disagree(s)),
        };
        !vetoed
    }
}

/// Term frequencies of a field's values.
#[derive(Debug, Clone, Default)]
pub struct TfTable {
    pub counts: HashMap<Box<str>, u32>,
    pub total: u64,
}

impl TfTable {
    pub fn add(&mut self, v: &str) {
        if let Some(c) = self.counts.get_mut(v) {
            *c += 1;
        } else {
            self.counts.insert(v.into(), 1);
        }
        self.total += 1;
    }
    /// Relative frequency of `v` (at least one occurrence assumed).
    pub fn freq(&self, v: &str) -> f64 {
        let c = self.counts.get(v).copied().unwrap_or(0).max(1) as f64;
        c / self.total.max(1) as f64
    }
}

/// Timing and counts of a batch run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub config_version: String,
    pub n_left: usize,
    pub n_right: usize,
    pub n_candidates: usize,
    pub n_links: usize,
    pub n_reviews: usize,
    pub n_rule_links: usize,
    pub em_iterations: usize,
    pub em_converged: bool,
    pub lambda: f64,
    pub ms_read: f64,
    pub ms_block: f64,
    pub ms_train: f64,
    pub ms_score: f64,
    pub ms_write: f64,
}

/// A compiled configuration with (trained or default) parameters.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub config: MappingConfig,
    pub normalizer: Normalizer,
    comparisons: Vec<CompiledComparison>,
    blocks: Vec<CompiledBlock>,
    rules: Vec<CompiledRule>,
    pub model: TrainedModel,
    /// log2(m/u) per comparison and level index (0 = null → 0).
    bf: Vec<Vec<f64>>,
    tf: Vec<Option<TfTable>>,
    prior_weight: f64,
}

fn log2_odds(p: f64) -> f64 {
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    (p / (1.0 - p)).log2()
}

/// Probability from a log2-odds weight.
pub fn weight_to_probability(w: f64) -> f64 {
    let o = w.exp2();
    if o.is_infinite() { 1.0 } else { o / (1.0 + o) }
}

impl Matcher {
    /// Compile a configuration; parameters start at neutral defaults (call a
    /// training function or [`Matcher::set_model`]).
    pub fn new(cfg: &MappingConfig) -> Result<Self> {
        cfg.validate()?;
        let normalizer = Normalizer::new(cfg);
        let schema = &normalizer.schema;
        let comparisons = cfg
            .effective_comparisons()
            .iter()
            .map(|c| CompiledComparison::compile(c, schema))
            .collect::<Result<Vec<_>>>()?;
        let rules_cfg = cfg.effective_rules();
        let mut blocking = cfg.effective_blocking();
        // every deterministic rule is also a blocking pass
        for r in &rules_cfg {
            let keys: Vec<String> = r.fields.iter().map(|f| f.name().to_string()).collect();
            if !blocking.iter().any(|b| b.keys == keys) {
                blocking.push(BlockingRule {
                    name: format!("rule:{}", r.name),
                    keys,
                    max_block_size: None,
                });
            }
        }
        let blocks = blocking
            .iter()
            .map(|b| CompiledBlock::compile(b, schema))
            .collect::<Result<Vec<_>>>()?;
        let slot_of = |f: &Field| {
            schema
                .slot(f)
                .ok_or_else(|| Error::Config(format!("unknown field `{f}`")))
        };
        let rules = rules_cfg
            .iter()
            .map(|r| {
                Ok(CompiledRule {
                    name: r.name.clone(),
                    fields: r.fields.iter().map(slot_of).collect::<Result<_>>()?,
                    require_valid_id: r.require_valid_id,
                    veto: r.veto.iter().map(slot_of).collect::<Result<_>>()?,
                    mode: r.veto_mode,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let model = default_model(cfg, &comparisons);
        let mut m = Matcher {
            config: cfg.clone(),
            normalizer,
            tf: vec![None; comparisons.len()],
            comparisons,
            blocks,
            rules,
            bf: vec![],
            prior_weight: 0.0,
            model,
        };
        m.refresh();
        Ok(m)
    }

    /// Use stored parameters (e.g. from an earlier training run).
    pub fn set_model(&mut self, model: TrainedModel) -> Result<()> {
        if model.comparisons.len() != self.comparisons.len()
            || model
                .comparisons
                .iter()
                .zip(&self.comparisons)
                .any(|(p, c)| p.levels.len() != c.n_levels() - 1)
        {
            return Err(Error::Config(
                "model does not fit the configuration's comparisons".into(),
            ));
        }
        self.model = model;
        self.refresh();
        Ok(())
    }

    /// Set the prior probability that two random records match.
    pub fn set_prior(&mut self, lambda: f64) {
        self.model.lambda = lambda;
        self.prior_weight = log2_odds(lambda);
    }

    fn refresh(&mut self) {
        self.bf = self
            .model
            .comparisons
            .iter()
            .map(|c| {
                let mut v = vec![0.0];
                v.extend(c.levels.iter().map(|l| l.weight()));
                v
            })
            .collect();
        self.prior_weight = log2_odds(self.model.lambda);
    }

    pub fn comparisons(&self) -> &[CompiledComparison] {
        &self.comparisons
    }

    /// The blocking keys of a person, one per pass that applies: a store can index
    /// them to find candidates without holding the whole index in memory.
    pub fn block_keys(&self, p: &Person) -> Vec<u64> {
        self.blocks
            .iter()
            .enumerate()
            .filter_map(|(pass, b)| b.key(p, pass))
            .collect()
    }

    /// The blocking keys of a person with the largest block each key's pass searches (its
    /// `max_block_size`, at most [`crate::online::DEFAULT_MAX_POSTINGS`]): a store finding
    /// candidates skips a larger block, as the in-memory index does.
    pub fn block_keys_capped(&self, p: &Person) -> Vec<(u64, usize)> {
        self.blocks
            .iter()
            .enumerate()
            .filter_map(|(pass, b)| {
                b.key(p, pass)
                    .map(|k| (k, b.max_block_size.min(crate::online::DEFAULT_MAX_POSTINGS)))
            })
            .collect()
    }

    /// Scores `a` against a candidate `b` from an index of `index_size` persons:
    /// the prior is the expected number of matches per record over the index size.
    pub fn explain_in_index(&self, a: &Person, b: &Person, index_size: usize) -> Explanation {
        let n = index_size.max(1) as f64;
        let r = self.model.matches_per_record.clamp(1e-6, 1.0);
        let p = (r / n).min(0.5);
        self.explain_with_prior(a, b, (p / (1.0 - p)).log2())
    }

    pub(crate) fn blocks(&self) -> &[CompiledBlock] {
        &self.blocks
    }

    /// Replace the term-frequency tables (one per comparison).
    pub fn set_tf_tables(&mut self, tf: Vec<Option<TfTable>>) {
        self.tf = tf;
    }

    /// Build term-frequency tables from records.
    pub fn build_tf<'a>(&mut self, recs: impl Iterator<Item = &'a Person> + Clone) {
        self.tf = self
            .comparisons
            .iter()
            .map(|c| {
                if !c.tf_adjust || c.exact_level().is_none() {
                    return None;
                }
                let mut t = TfTable::default();
                for p in recs.clone() {
                    if let Some(v) = p.value(c.slot) {
                        t.add(v);
                    }
                }
                Some(t)
            })
            .collect();
    }

    pub(crate) fn tf_tables_mut(&mut self) -> &mut Vec<Option<TfTable>> {
        &mut self.tf
    }

    /// Comparison vector of a pair.
    pub fn gamma(&self, a: &Person, b: &Person, out: &mut Vec<u8>) {
        out.extend(self.comparisons.iter().map(|c| c.level(a, b)));
    }

    #[inline]
    fn level_weight(&self, c: usize, level: u8, a: &Person) -> (f64, Option<f64>) {
        let cc = &self.comparisons[c];
        if level != NULL_LEVEL
            && cc.tf_adjust
            && Some(level) == cc.exact_level()
            && let (Some(t), Some(v)) = (&self.tf[c], a.value(cc.slot))
        {
            let tf_u = t.freq(v).max(self.config.training.tf_min_u);
            let m = self.model.comparisons[c].levels[level as usize - 1].m;
            return ((m / tf_u).log2(), Some(tf_u));
        }
        (self.bf[c][level as usize], None)
    }

    /// Match weight from a comparison vector (a's values used for tf).
    pub fn weight_from_gamma(&self, g: &[u8], a: &Person) -> f64 {
        let mut w = self.prior_weight;
        for (c, &l) in g.iter().enumerate() {
            w += self.level_weight(c, l, a).0;
        }
        w
    }

    /// Index of the first deterministic rule that fires.
    pub fn rule_fired(&self, a: &Person, b: &Person) -> Option<u16> {
        self.rules
            .iter()
            .position(|r| r.fires(a, b))
            .map(|p| p as u16)
    }

    pub fn rule_name(&self, idx: u16) -> &str {
        &self.rules[idx as usize].name
    }

    /// Decision for a probability.
    pub fn decide(&self, probability: f64) -> Decision {
        let t = &self.config.thresholds;
        if probability >= t.link {
            Decision::Link
        } else if probability >= t.review {
            Decision::Review
        } else {
            Decision::NoMatch
        }
    }

    /// Score a pair.
    pub fn score(&self, a: &Person, b: &Person) -> ScoredPair {
        let mut g = Vec::with_capacity(self.comparisons.len());
        self.gamma(a, b, &mut g);
        self.score_gamma(&g, a, b, 0, 0)
    }

    fn score_gamma(&self, g: &[u8], a: &Person, b: &Person, li: u32, ri: u32) -> ScoredPair {
        let w = self.weight_from_gamma(g, a);
        let p = weight_to_probability(w);
        let rule = self.rule_fired(a, b);
        let decision = if rule.is_some() {
            Decision::Link
        } else {
            self.decide(p)
        };
        ScoredPair {
            left: li,
            right: ri,
            match_weight: w,
            match_probability: p,
            decision,
            rule,
        }
    }

    /// Full explanation of a pair: chosen level and log2 Bayes factor per field.
    pub fn explain(&self, a: &Person, b: &Person) -> Explanation {
        self.explain_with_prior(a, b, self.prior_weight)
    }

    /// log2 prior odds in force.
    pub fn prior_weight(&self) -> f64 {
        self.prior_weight
    }

    /// Explanation with a given log2 prior odds (online index).
    pub fn explain_with_prior(&self, a: &Person, b: &Person, prior_weight: f64) -> Explanation {
        let mut fields = Vec::with_capacity(self.comparisons.len());
        let mut total = prior_weight;
        for (c, cc) in self.comparisons.iter().enumerate() {
            let l = cc.level(a, b);
            let (w, tf_u) = self.level_weight(c, l, a);
            let (m, u) = if l == NULL_LEVEL {
                (1.0, 1.0)
            } else {
                let p = &self.model.comparisons[c].levels[l as usize - 1];
                (p.m, tf_u.unwrap_or(p.u))
            };
            total += w;
            fields.push(FieldContribution {
                comparison: cc.name.clone(),
                field: cc.field.name().to_string(),
                level: cc.labels[l as usize].clone(),
                m,
                u,
                tf_adjusted: tf_u.is_some(),
                weight: w,
            });
        }
        let p = weight_to_probability(total);
        let rule = self.rule_fired(a, b);
        Explanation {
            config_version: self.config.version.clone(),
            prior_weight,
            fields,
            match_weight: total,
            match_probability: p,
            rule: rule.map(|r| self.rule_name(r).to_string()),
            decision: if rule.is_some() {
                Decision::Link
            } else {
                self.decide(p)
            },
        }
    }

    /// Estimate u from random pairs: `u[c][level]` (index 0 unused).
    fn random_u(&self, left: &[Person], right: Option<&[Person]>) -> Vec<Vec<f64>> {
        let nc = self.comparisons.len();
        let mut counts: Vec<Vec<f64>> = self
            .comparisons
            .iter()
            .map(|c| vec![0.0; c.n_levels()])
            .collect();
        let mut rng = Rng::new(self.config.training.seed);
        let n = self.config.training.random_pairs;
        let nl = left.len() as u64;
        let nr = right.map_or(nl, |r| r.len() as u64);
        let mut sample: Vec<(u32, u32)> = Vec::with_capacity(n);
        if nl >= 1 && nr >= 1 && !(right.is_none() && nl < 2) {
            for _ in 0..n {
                let i = rng.below(nl);
                let j = match right {
                    Some(_) => rng.below(nr),
                    None => {
                        let j = rng.below(nl - 1);
                        if j >= i { j + 1 } else { j }
                    }
                };
                sample.push((i as u32, j as u32));
            }
        }
        let g = compute_gammas(self, left, right.unwrap_or(left), &sample);
        if nc > 0 {
            for row in g.chunks_exact(nc) {
                for (c, &l) in row.iter().enumerate() {
                    counts[c][l as usize] += 1.0;
                }
            }
        }
        // additive smoothing, then normalise over non-null levels
        for v in counts.iter_mut() {
            for x in v[1..].iter_mut() {
                *x += 0.5;
            }
            normalise(v, self.config.training.min_probability);
        }
        counts
    }

    /// Train m (EM), u (random pairs) and the prior on candidate pairs, and
    /// return the candidate comparison vectors for scoring.
    fn train(
        &mut self,
        left: &[Person],
        right: Option<&[Person]>,
        cands: &[(u32, u32)],
    ) -> Vec<u8> {
        let nc = self.comparisons.len();
        let r = right.unwrap_or(left);
        let gammas = compute_gammas(self, left, r, cands);
        let u_rand = self.random_u(left, right);
        let pats = patterns(&gammas, nc);
        let m0: Vec<Vec<f64>> = self
            .comparisons
            .iter()
            .map(|c| initial_m(c.n_levels()))
            .collect();
        // starting share of matches: pairs agreeing exactly on most fields
        let mut strong = 0.0;
        let mut total = 0.0;
        for (g, cnt) in &pats {
            let nn = g.iter().filter(|&&l| l != NULL_LEVEL).count();
            let ex = g.iter().filter(|&&l| l == 1).count();
            if nn > 0 && ex * 3 >= nn * 2 {
                strong += cnt;
            }
            total += cnt;
        }
        let lambda0 = if total > 0.0 {
            (strong / total).clamp(1e-4, 0.5)
        } else {
            0.01
        };
        let t = &self.config.training;
        let mut res = em(
            &pats,
            m0,
            u_rand.clone(),
            lambda0,
            EmSettings {
                max_iterations: t.max_iterations,
                tolerance: t.tolerance,
                fix_u: t.fix_u,
                min_probability: t.min_probability,
            },
        );
        for v in res.m.iter_mut() {
            normalise(v, t.min_m.max(t.min_probability));
        }
        let n_total_pairs = match right {
            Some(r) => left.len() as f64 * r.len() as f64,
            None => left.len() as f64 * (left.len() as f64 - 1.0) / 2.0,
        };
        let n_matches = res.lambda * cands.len() as f64;
        let lambda_all = if n_total_pairs > 0.0 {
            (n_matches / n_total_pairs).clamp(1e-12, 0.5)
        } else {
            0.5
        };
        let n_records = left.len() + right.map_or(0, |r| r.len());
        self.model = TrainedModel {
            config_version: self.config.version.clone(),
            lambda: lambda_all,
            matches_per_record: if n_records > 0 {
                2.0 * n_matches / n_records as f64
            } else {
                0.0
            },
            comparisons: self
                .comparisons
                .iter()
                .enumerate()
                .map(|(c, cc)| ComparisonParams {
                    name: cc.name.clone(),
                    levels: (1..cc.n_levels())
                        .map(|l| LevelParams {
                            label: cc.labels[l].clone(),
                            m: res.m[c][l],
                            u: u_rand[c][l],
                        })
                        .collect(),
                })
                .collect(),
            em_iterations: res.iterations,
            em_converged: res.converged,
        };
        self.refresh();
        gammas
    }
}

fn default_model(cfg: &MappingConfig, comps: &[CompiledComparison]) -> TrainedModel {
    TrainedModel {
        config_version: cfg.version.clone(),
        lambda: 1e-4,
        matches_per_record: 0.5,
        comparisons: comps
            .iter()
            .map(|c| {
                let m = initial_m(c.n_levels());
                let k = c.n_levels() - 1;
                ComparisonParams {
                    name: c.name.clone(),
                    levels: (1..c.n_levels())
                        .map(|l| LevelParams {
                            label: c.labels[l].clone(),
                            m: m[l],
                            u: if l == k {
                                0.9
                            } else {
                                0.1 / (k - 1).max(1) as f64
                            },
                        })
                        .collect(),
                }
            })
            .collect(),
        em_iterations: 0,
        em_converged: false,
    }
}

/// Comparison vectors of candidate pairs, computed on up to two threads.
fn compute_gammas(m: &Matcher, left: &[Person], right: &[Person], cands: &[(u32, u32)]) -> Vec<u8> {
    let nc = m.comparisons.len();
    let work = |chunk: &[(u32, u32)]| {
        let mut g = Vec::with_capacity(chunk.len() * nc);
        for &(i, j) in chunk {
            m.gamma(&left[i as usize], &right[j as usize], &mut g);
        }
        g
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    if threads < 2 || cands.len() < 20_000 {
        return work(cands);
    }
    let mid = cands.len() / 2;
    let (a, b) = cands.split_at(mid);
    std::thread::scope(|s| {
        let h = s.spawn(|| work(b));
        let mut ga = work(a);
        ga.extend(h.join().expect("worker"));
        ga
    })
}

/// Result of a batch run.
#[derive(Debug, Clone)]
pub struct MatchRun {
    pub matcher: Matcher,
    /// Every candidate pair with its score (NoMatch included).
    pub pairs: Vec<ScoredPair>,
    pub stats: Stats,
}

fn run(cfg: &MappingConfig, left: &[Person], right: Option<&[Person]>) -> Result<MatchRun> {
    let mut matcher = Matcher::new(cfg)?;
    let t0 = Instant::now();
    let cands = match right {
        Some(r) => link_candidates(&matcher.blocks, left, r),
        None => dedupe_candidates(&matcher.blocks, left),
    };
    let ms_block = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let gammas = matcher.train(left, right, &cands);
    match right {
        Some(r) => matcher.build_tf(left.iter().chain(r.iter())),
        None => matcher.build_tf(left.iter()),
    }
    let ms_train = t1.elapsed().as_secs_f64() * 1e3;
    let t2 = Instant::now();
    let r = right.unwrap_or(left);
    let nc = matcher.comparisons.len();
    let mut pairs: Vec<ScoredPair> = cands
        .iter()
        .enumerate()
        .map(|(k, &(i, j))| {
            let g = &gammas[k * nc..(k + 1) * nc];
            matcher.score_gamma(g, &left[i as usize], &r[j as usize], i, j)
        })
        .collect();
    if cfg.one_to_one && right.is_some() {
        apply_one_to_one(&mut pairs);
    }
    let ms_score = t2.elapsed().as_secs_f64() * 1e3;
    let stats = Stats {
        config_version: cfg.version.clone(),
        n_left: left.len(),
        n_right: right.map_or(0, |r| r.len()),
        n_candidates: cands.len(),
        n_links: pairs
            .iter()
            .filter(|p| p.decision == Decision::Link)
            .count(),
        n_reviews: pairs
            .iter()
            .filter(|p| p.decision == Decision::Review)
            .count(),
        n_rule_links: pairs.iter().filter(|p| p.rule.is_some()).count(),
        em_iterations: matcher.model.em_iterations,
        em_converged: matcher.model.em_converged,
        lambda: matcher.model.lambda,
        ms_block,
        ms_train,
        ms_score,
        ..Default::default()
    };
    Ok(MatchRun {
        matcher,
        pairs,
        stats,
    })
}

/// Each record keeps at most one Link (highest weight first); displaced Links
/// become Review.
fn apply_one_to_one(pairs: &mut [ScoredPair]) {
    let mut idx: Vec<usize> = (0..pairs.len())
        .filter(|&k| pairs[k].decision == Decision::Link)
        .collect();
    idx.sort_by(|&a, &b| {
        pairs[b]
            .rule
            .is_some()
            .cmp(&pairs[a].rule.is_some())
            .then(pairs[b].match_weight.total_cmp(&pairs[a].match_weight))
    });
    let mut used_l = std::collections::HashSet::new();
    let mut used_r = std::collections::HashSet::new();
    for k in idx {
        let p = &mut pairs[k];
        if used_l.contains(&p.left) || used_r.contains(&p.right) {
            p.decision = Decision::Review;
        } else {
            used_l.insert(p.left);
            used_r.insert(p.right);
        }
    }
}

/// Link two sets of normalised persons (train on them, block, score).
pub fn link(cfg: &MappingConfig, left: &[Person], right: &[Person]) -> Result<MatchRun> {
    run(cfg, left, Some(right))
}

/// Find duplicates within one set of normalised persons.
pub fn dedupe(cfg: &MappingConfig, recs: &[Person]) -> Result<MatchRun> {
    run(cfg, recs, None)
}
