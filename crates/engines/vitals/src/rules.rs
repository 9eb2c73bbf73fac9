//! Alarm rules (报警规则) as versioned JSON data and their evaluation per subject.
//!
//! # The data
//!
//! A [`RuleSetSpec`] is a version, [`Settings`] and a list of [`Rule`]s. A rule has a stable
//! `code`, a zh-CN `name`, a [`Priority`] (IEC 60601-1-8 high/medium/low), a [`RuleKind`]
//! (which alarm kind the module files it under), a [`Condition`] tree and `for_seconds`,
//! how long the condition must hold before the alarm is raised. Conditions:
//!
//! ```json
//! {"all": [ … ]}                       every child holds
//! {"any": [ … ]}                       at least one child holds
//! {"reading": {"metric": "spo2", "op": "<", "value": 90, "key": "spo2"}}
//! {"score":   {"kind": "news2", "min": 5, "max": 6, "key": "min"}}
//! {"trend":   {"metric": "heart_rate", "direction": "rise", "delta": 30, "window_seconds": 600, "key": "delta"}}
//! {"missing": {"seconds": 600, "key": "seconds"}}       no reading at all for 600 s
//! {"missing": {"metric": "spo2", "seconds": 1800}}      no SpO2 for 30 min
//! ```
//!
//! `op` is one of `<`, `<=`, `>`, `>=` (`≤`, `≥` are read too). A leaf's optional `key`
//! names its threshold (the reading's `value`, the score's `min`, the trend's `delta`, the
//! missing time's `seconds`) so that per-person [`Overrides`] can replace it:
//! `{"spo2_low": {"thresholds": {"spo2": 88}}, "heart_rate_abnormal": {"enabled": false}}`.
//!
//! [`RuleSet::from_json`] checks a rule set and reports every problem at once in zh-CN;
//! [`RuleSet::default_set`] is the starter set shipped in `rules/default.json`
//! ([`DEFAULT_RULES_JSON`]).
//!
//! # Evaluation
//!
//! Each monitored subject (a person, or a device) has a [`SubjectState`], made by
//! [`RuleSet::subject`] with the subject's [`Profile`] (NEWS2 SpO2 scale and overrides).
//! [`RuleSet::evaluate`] records a timestamped reading in the subject's [`History`] and
//! steps one [`RuleState`] per rule; [`RuleSet::tick`] does the same without a reading
//! (call it periodically: it is what notices a device going silent and completes
//! `for_seconds` waits). Both return the [`Event`]s of rules that were raised or cleared.
//!
//! - Conditions see the subject's *current* values: the latest value of each metric that
//!   is at most `fresh_seconds` old (oxygen and consciousness: `assessment_fresh_seconds`),
//!   so a blood-pressure reading does not hide the SpO2 read a few seconds before.
//! - A leaf whose value is unknown (never measured, or stale) is *unknown*, and `all`/`any`
//!   combine with three-valued logic (`any` holds if one child holds even if others are
//!   unknown). An unknown condition neither raises nor clears: a raised SpO2 alarm stays
//!   raised when the band stops sending (the offline rule reports that), and a pending
//!   `for_seconds` wait starts again.
//! - A score leaf uses the score over the parameters at hand (see [`crate::scores`]: a
//!   partial score is a lower bound, so `min` is sound); with `"complete": true` a partial
//!   score does not hold. With `max`, the full score may be higher than a partial one.
//! - A trend leaf compares the current value with the lowest (rise) or highest (fall)
//!   value of the last `window_seconds`. The history keeps, per metric used by a trend,
//!   one bucket (min, max) per `trend_step_seconds`, in a ring sized for the longest window
//!   of that metric: memory per subject stays fixed and small. The window is counted in
//!   whole buckets, so it may reach back up to one step further.
//! - Values outside the plausible ranges of [`Vitals::check`] are ignored.
//! - A reading older than the subject's last evaluation is recorded (where it is the newest
//!   value of its metric) but does not step the rules.
//! - Clearing has no hysteresis: an alarm clears as soon as its condition no longer holds.
//!
//! Evaluation does not allocate unless an event is produced.

use crate::problem::{Problem, fmt_duration, fmt_num};
use crate::scores::{self, ScoreKind, Spo2Scale, Tally};
use crate::vitals::{Avpu, Metric, Vitals, range_text};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The starter rule set (`rules/default.json`).
pub const DEFAULT_RULES_JSON: &str = include_str!("../rules/default.json");

const MICROS: i64 = 1_000_000;
const MAX_RULES: usize = 200;
const MAX_DEPTH: usize = 6;
const MAX_LEAVES: usize = 32;
const MAX_BUCKETS: u32 = 240;
const MAX_FOR_SECONDS: u32 = 86_400;
const MAX_MISSING_SECONDS: u32 = 7 * 86_400;

/// Alarm priority (IEC 60601-1-8). Ordered from most to least urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// High priority (高): immediate response.
    High,
    /// Medium priority (中): prompt response.
    Medium,
    /// Low priority (低): awareness.
    Low,
}

impl Priority {
    /// Stable code (`high`, `medium`, `low`).
    pub const fn code(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }

    /// zh-CN label (高, 中, 低).
    pub const fn label(self) -> &'static str {
        match self {
            Priority::High => "高",
            Priority::Medium => "中",
            Priority::Low => "低",
        }
    }
}

/// Which kind of alarm a rule raises (the IoT module's alarm kinds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A vital sign out of range (体征异常).
    #[default]
    Vital,
    /// An early-warning score (早期预警评分).
    Score,
    /// No data from the device (设备离线).
    Offline,
}

impl RuleKind {
    /// Stable code (`vital`, `score`, `offline`).
    pub const fn code(self) -> &'static str {
        match self {
            RuleKind::Vital => "vital",
            RuleKind::Score => "score",
            RuleKind::Offline => "offline",
        }
    }

    /// zh-CN label.
    pub const fn label(self) -> &'static str {
        match self {
            RuleKind::Vital => "体征异常",
            RuleKind::Score => "早期预警评分",
            RuleKind::Offline => "设备离线",
        }
    }
}

/// Comparison of a reading with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=` (also read as `≤`)
    #[serde(rename = "<=", alias = "≤")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=` (also read as `≥`)
    #[serde(rename = ">=", alias = "≥")]
    Ge,
}

impl Op {
    /// Whether `value op threshold`.
    pub fn test(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
        }
    }

    /// The operator as written (`<`, `<=`, `>`, `>=`).
    pub const fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// zh-CN words (低于, 不高于, 高于, 不低于).
    pub const fn label(self) -> &'static str {
        match self {
            Op::Lt => "低于",
            Op::Le => "不高于",
            Op::Gt => "高于",
            Op::Ge => "不低于",
        }
    }
}

/// Direction of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The value rose by at least `delta`.
    Rise,
    /// The value fell by at least `delta`.
    Fall,
}

impl Direction {
    /// zh-CN label (上升, 下降).
    pub const fn label(self) -> &'static str {
        match self {
            Direction::Rise => "上升",
            Direction::Fall => "下降",
        }
    }
}

/// A condition tree (see the module documentation for the JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Every child holds.
    All(Vec<Condition>),
    /// At least one child holds.
    Any(Vec<Condition>),
    /// A current value compared with a threshold.
    Reading(ReadingCondition),
    /// An early-warning score at least `min` (and at most `max`).
    Score(ScoreCondition),
    /// A rise or fall within a time window.
    Trend(TrendCondition),
    /// No reading (of one metric, or at all) for a time.
    Missing(MissingCondition),
}

/// `metric op value`, e.g. SpO2 < 90.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadingCondition {
    /// What is compared.
    pub metric: Metric,
    /// How.
    pub op: Op,
    /// The threshold, in the metric's unit (overridable by `key`).
    pub value: f64,
    /// Name of the threshold for per-person overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A score at least `min` (and at most `max`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreCondition {
    /// Which score.
    pub kind: ScoreKind,
    /// Lowest total that holds (overridable by `key`).
    pub min: u8,
    /// Highest total that holds (none = no upper bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u8>,
    /// Only a complete score holds (default: partial scores count).
    #[serde(default, skip_serializing_if = "is_false")]
    pub complete: bool,
    /// Name of `min` for per-person overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The current value rose (fell) by at least `delta` within `window_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendCondition {
    /// What is watched.
    pub metric: Metric,
    /// Rise or fall.
    pub direction: Direction,
    /// Smallest change that holds, in the metric's unit (overridable by `key`).
    pub delta: f64,
    /// The window, seconds.
    pub window_seconds: u32,
    /// Name of `delta` for per-person overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// No reading of `metric` (none: no reading at all) for `seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingCondition {
    /// The metric, or none for any reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// How long without a reading (overridable by `key`).
    pub seconds: u32,
    /// Name of `seconds` for per-person overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

impl Condition {
    /// Calls `f` on every leaf, depth first.
    pub fn for_each_leaf<'a>(&'a self, f: &mut impl FnMut(&'a Condition)) {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.for_each_leaf(f)),
            leaf => f(leaf),
        }
    }

    fn for_each_leaf_mut(&mut self, f: &mut impl FnMut(&mut Condition)) {
        match self {
            Condition::All(cs) | Condition::Any(cs) => {
                cs.iter_mut().for_each(|c| c.for_each_leaf_mut(f))
            }
            leaf => f(leaf),
        }
    }

    /// The leaf's threshold key.
    pub fn key(&self) -> Option<&str> {
        match self {
            Condition::All(_) | Condition::Any(_) => None,
            Condition::Reading(c) => c.key.as_deref(),
            Condition::Score(c) => c.key.as_deref(),
            Condition::Trend(c) => c.key.as_deref(),
            Condition::Missing(c) => c.key.as_deref(),
        }
    }

    /// The leaf's threshold (reading `value`, score `min`, trend `delta`, missing `seconds`).
    pub fn threshold(&self) -> Option<f64> {
        match self {
            Condition::All(_) | Condition::Any(_) => None,
            Condition::Reading(c) => Some(c.value),
            Condition::Score(c) => Some(f64::from(c.min)),
            Condition::Trend(c) => Some(c.delta),
            Condition::Missing(c) => Some(f64::from(c.seconds)),
        }
    }

    /// Replaces the leaf's threshold; `None` when `v` does not fit its type (a score
    /// minimum and a missing time are whole numbers).
    fn with_threshold(&self, v: f64) -> Option<Condition> {
        let whole =
            |max: f64| (v.is_finite() && v.fract() == 0.0 && v >= 0.0 && v <= max).then_some(v);
        Some(match self {
            Condition::All(_) | Condition::Any(_) => return None,
            Condition::Reading(c) => Condition::Reading(ReadingCondition {
                value: v,
                ..c.clone()
            }),
            Condition::Score(c) => Condition::Score(ScoreCondition {
                min: whole(f64::from(u8::MAX))? as u8,
                ..c.clone()
            }),
            Condition::Trend(c) => Condition::Trend(TrendCondition {
                delta: v,
                ..c.clone()
            }),
            Condition::Missing(c) => Condition::Missing(MissingCondition {
                seconds: whole(f64::from(u32::MAX))? as u32,
                ..c.clone()
            }),
        })
    }
}

/// One alarm rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable code (lower-case letters, digits, `_`, `.`, `-`; at most 64).
    pub code: String,
    /// zh-CN name shown on alarms.
    pub name: String,
    /// Alarm priority.
    pub priority: Priority,
    /// Alarm kind (default `vital`).
    #[serde(default)]
    pub kind: RuleKind,
    /// When the rule holds.
    pub condition: Condition,
    /// How long the condition must hold before the alarm is raised (0 = at once).
    #[serde(default)]
    pub for_seconds: u32,
    /// Whether the rule is in use (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Rule {
    /// Whether the rule holds at `at_micros` for a subject whose current values are
    /// `current` (see [`History::current`]) and whose history is `history`; `None` is
    /// unknown. A disabled rule never holds. With [`RuleState::observe`] this is the
    /// evaluator of one (rule, subject):
    ///
    /// ```
    /// use yiyang_vitals::{Profile, RuleSet, RuleState, Spo2Scale, Transition, Vitals};
    /// let set = RuleSet::default_set();
    /// let rule = &set.rules()[set.index_of("heart_rate_abnormal").unwrap()];
    /// let s = set.subject(Profile::default(), 0).unwrap();
    /// let v = Vitals { heart_rate: Some(135.0), ..Vitals::default() };
    /// let mut st = RuleState::default();
    /// let holds = rule.holds(0, &v, s.history(), Spo2Scale::Scale1);
    /// assert_eq!(st.observe(0, holds, rule.for_seconds), Transition::Raise);
    /// ```
    pub fn holds(
        &self,
        at_micros: i64,
        current: &Vitals,
        history: &History,
        scale: Spo2Scale,
    ) -> Option<bool> {
        if !self.enabled {
            return Some(false);
        }
        let ctx = Ctx {
            at: at_micros,
            current,
            history,
            scale,
        };
        eval(&self.condition, &ctx, &mut [None; 3])
    }
}

/// Evaluation settings of a rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How long a measured value stays current (default 900 s).
    pub fresh_seconds: u32,
    /// How long staff-entered oxygen use and consciousness stay current (default 12 h).
    pub assessment_fresh_seconds: u32,
    /// Bucket width of trend history (default 30 s).
    pub trend_step_seconds: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fresh_seconds: 900,
            assessment_fresh_seconds: 43_200,
            trend_step_seconds: 30,
        }
    }
}

/// A rule set as stored: version, settings, rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetSpec {
    /// Version label (e.g. `2026.1`), stored with every alarm.
    pub version: String,
    /// Evaluation settings.
    #[serde(default)]
    pub settings: Settings,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// Per-person changes of one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleOverride {
    /// Turns the rule on or off for this person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Replaces `for_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_seconds: Option<u32>,
    /// Threshold key → value replacing the rule's default.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, f64>,
}

/// Per-person overrides: rule code → changes.
pub type Overrides = BTreeMap<String, RuleOverride>;

/// What is known of a subject beyond its readings: the clinician's NEWS2 SpO2 scale and
/// per-person rule overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// NEWS2 SpO2 scale (scale 2 only when a clinician set it).
    pub scale: Spo2Scale,
    /// Rule overrides.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: Overrides,
}

/// What one observation did to one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Nothing changed.
    None,
    /// The alarm is raised.
    Raise,
    /// The alarm is cleared.
    Clear,
}

/// The state machine of one rule for one subject: since when its condition holds, and
/// whether its alarm is raised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    since: Option<i64>,
    raised_at: Option<i64>,
}

impl RuleState {
    /// Steps the machine at `at_micros` with the condition's truth: `Some(true)` holds,
    /// `Some(false)` does not, `None` unknown.
    ///
    /// Holding starts (or continues) the wait; once it has held for `for_seconds` the
    /// alarm is raised ([`Transition::Raise`]). Not holding resets the wait and clears a
    /// raised alarm at once ([`Transition::Clear`]). Unknown resets a pending wait and
    /// leaves a raised alarm raised.
    pub fn observe(&mut self, at_micros: i64, holds: Option<bool>, for_seconds: u32) -> Transition {
        match holds {
            Some(true) => {
                let since = *self.since.get_or_insert(at_micros);
                if self.raised_at.is_none()
                    && at_micros.saturating_sub(since) >= i64::from(for_seconds) * MICROS
                {
                    self.raised_at = Some(at_micros);
                    Transition::Raise
                } else {
                    Transition::None
                }
            }
            Some(false) => {
                self.since = None;
                if self.raised_at.take().is_some() {
                    Transition::Clear
                } else {
                    Transition::None
                }
            }
            None => {
                if self.raised_at.is_none() {
                    self.since = None;
                }
                Transition::None
            }
        }
    }

    /// Whether the alarm is raised.
    pub fn is_raised(&self) -> bool {
        self.raised_at.is_some()
    }

    /// When the alarm was raised.
    pub fn raised_at(&self) -> Option<i64> {
        self.raised_at
    }

    /// Since when the condition holds without a break.
    pub fn holding_since(&self) -> Option<i64> {
        self.since
    }
}

/// A rule raised or cleared for a subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Index of the rule in the rule set.
    pub rule: usize,
    /// Rule code.
    pub code: String,
    /// Rule name (zh-CN).
    pub name: String,
    /// Priority.
    pub priority: Priority,
    /// Alarm kind.
    pub kind: RuleKind,
    /// [`Transition::Raise`] or [`Transition::Clear`].
    pub transition: Transition,
    /// When (the reading's or the tick's time), µs.
    pub at_micros: i64,
    /// Raise: since when the condition held; clear: when the alarm was raised. µs.
    pub since_micros: i64,
    /// zh-CN description of the values behind the rule (`血氧饱和度 88%`,
    /// `NEWS2部分评分 7分 · …`, `已10分钟无数据`).
    pub detail: String,
    /// The subject's current values at that time.
    pub values: Vitals,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    start: i64,
    min: f64,
    max: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RingMeta {
    offset: u16,
    cap: u16,
    head: u16,
    len: u16,
}

/// What a subject's rules remember: the latest value of each metric, the last time
/// anything arrived, and fixed rings of trend buckets.
#[derive(Debug, Clone)]
pub struct History {
    created_at: i64,
    last_seen: Option<i64>,
    latest: [Option<(i64, f64)>; 8],
    on_oxygen: Option<(i64, bool)>,
    consciousness: Option<(i64, Avpu)>,
    step: i64,
    rings: [RingMeta; 8],
    buckets: Box<[Bucket]>,
}

impl History {
    fn new(created_at: i64, step_seconds: u32, caps: &[u16; 8]) -> Self {
        let mut rings = [RingMeta::default(); 8];
        let mut offset = 0u16;
        for (r, cap) in rings.iter_mut().zip(caps) {
            *r = RingMeta {
                offset,
                cap: *cap,
                head: 0,
                len: 0,
            };
            offset += cap;
        }
        Self {
            created_at,
            last_seen: None,
            latest: [None; 8],
            on_oxygen: None,
            consciousness: None,
            step: i64::from(step_seconds.max(1)) * MICROS,
            rings,
            buckets: vec![Bucket::default(); usize::from(offset)].into_boxed_slice(),
        }
    }

    /// When the subject's state was made (the reference time of `missing` before any reading).
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// The time of the newest device reading (staff assessments do not count).
    pub fn last_seen(&self) -> Option<i64> {
        self.last_seen
    }

    /// The latest (time, value) of a metric.
    pub fn latest(&self, m: Metric) -> Option<(i64, f64)> {
        self.latest[m.index()]
    }

    /// The values current at `at_micros`: the latest of each metric at most
    /// `fresh_seconds` old, oxygen and consciousness at most `assessment_fresh_seconds` old.
    pub fn current(&self, at_micros: i64, settings: &Settings) -> Vitals {
        let fresh = i64::from(settings.fresh_seconds) * MICROS;
        let assessed = i64::from(settings.assessment_fresh_seconds) * MICROS;
        let mut v = Vitals::default();
        for m in Metric::ALL {
            if let Some((t, x)) = self.latest[m.index()]
                && at_micros - t <= fresh
            {
                v.set(m, Some(x));
            }
        }
        v.on_oxygen = self
            .on_oxygen
            .filter(|(t, _)| at_micros - t <= assessed)
            .map(|(_, o)| o);
        v.consciousness = self
            .consciousness
            .filter(|(t, _)| at_micros - t <= assessed)
            .map(|(_, c)| c);
        v
    }

    /// Lowest and highest value of a trend metric in the buckets overlapping
    /// `[from_micros, …]`; none when the metric keeps no trend or nothing is there.
    pub fn range_since(&self, m: Metric, from_micros: i64) -> Option<(f64, f64)> {
        let r = self.rings[m.index()];
        let mut out: Option<(f64, f64)> = None;
        for k in 0..r.len {
            let b = self.buckets[usize::from(r.offset + (r.head + r.len - 1 - k) % r.cap)];
            if b.start + self.step <= from_micros {
                break;
            }
            out = Some(match out {
                None => (b.min, b.max),
                Some((lo, hi)) => (lo.min(b.min), hi.max(b.max)),
            });
        }
        out
    }

    /// Heap bytes of the trend rings.
    pub fn ring_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    /// Records values; `from_device` readings (not staff assessments) count as data for
    /// `missing` conditions.
    fn record(&mut self, at: i64, v: &Vitals, from_device: bool) {
        if from_device && self.last_seen.is_none_or(|t| at > t) {
            self.last_seen = Some(at);
        }
        for (m, x) in v.measured() {
            let slot = &mut self.latest[m.index()];
            if slot.is_none_or(|(t, _)| at >= t) {
                *slot = Some((at, x));
            }
            self.push(m, at, x);
        }
        if let Some(o) = v.on_oxygen
            && self.on_oxygen.is_none_or(|(t, _)| at >= t)
        {
            self.on_oxygen = Some((at, o));
        }
        if let Some(c) = v.consciousness
            && self.consciousness.is_none_or(|(t, _)| at >= t)
        {
            self.consciousness = Some((at, c));
        }
    }

    fn push(&mut self, m: Metric, at: i64, x: f64) {
        let r = &mut self.rings[m.index()];
        if r.cap == 0 {
            return;
        }
        let start = at - at.rem_euclid(self.step);
        for k in 0..r.len {
            let b = &mut self.buckets[usize::from(r.offset + (r.head + r.len - 1 - k) % r.cap)];
            if b.start == start {
                b.min = b.min.min(x);
                b.max = b.max.max(x);
                return;
            }
            if b.start < start {
                if k > 0 {
                    return; // a late value for a bucket that was never opened: dropped
                }
                break;
            }
            if k + 1 == r.len {
                return; // older than everything kept
            }
        }
        let slot = if r.len < r.cap {
            r.len += 1;
            (r.head + r.len - 1) % r.cap
        } else {
            let s = r.head;
            r.head = (r.head + 1) % r.cap;
            s
        };
        self.buckets[usize::from(r.offset + slot)] = Bucket {
            start,
            min: x,
            max: x,
        };
    }

    /// The same history laid out for other ring capacities: latest values are kept, and
    /// the newest buckets of each metric as far as they fit (all dropped if the step changed).
    fn relayout(&self, step_seconds: u32, caps: &[u16; 8]) -> History {
        let mut h = History::new(self.created_at, step_seconds, caps);
        h.last_seen = self.last_seen;
        h.latest = self.latest;
        h.on_oxygen = self.on_oxygen;
        h.consciousness = self.consciousness;
        if h.step == self.step {
            for m in Metric::ALL {
                let old = self.rings[m.index()];
                let keep = old.len.min(h.rings[m.index()].cap);
                for k in (0..keep).rev() {
                    let b = self.buckets
                        [usize::from(old.offset + (old.head + old.len - 1 - k) % old.cap)];
                    let r = &mut h.rings[m.index()];
                    r.len += 1;
                    h.buckets[usize::from(r.offset + r.len - 1)] = b;
                }
            }
        }
        h
    }
}

/// The rule-evaluation state of one subject: its profile, its history and one
/// [`RuleState`] per rule. Made by [`RuleSet::subject`]; about 1–2 KB.
#[derive(Debug, Clone)]
pub struct SubjectState {
    set_id: u64,
    codes: Arc<[Box<str>]>,
    profile: Profile,
    effective: Option<Box<[Rule]>>,
    states: Vec<RuleState>,
    history: History,
    clock: Option<i64>,
}

impl SubjectState {
    /// The subject's history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The subject's profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The state of rule `index`.
    pub fn rule_state(&self, index: usize) -> Option<&RuleState> {
        self.states.get(index)
    }

    /// The time of the last evaluation or tick.
    pub fn clock(&self) -> Option<i64> {
        self.clock
    }
}

static NEXT_SET_ID: AtomicU64 = AtomicU64::new(1);

/// A checked rule set, ready to evaluate.
#[derive(Debug, Clone)]
pub struct RuleSet {
    spec: RuleSetSpec,
    id: u64,
    codes: Arc<[Box<str>]>,
    caps: [u16; 8],
}

impl RuleSet {
    /// Checks `spec` (every problem at once, zh-CN) and prepares it.
    pub fn new(spec: RuleSetSpec) -> Result<RuleSet, Vec<Problem>> {
        let problems = check_spec(&spec);
        if !problems.is_empty() {
            return Err(problems);
        }
        let caps = ring_caps(&spec);
        let codes = spec
            .rules
            .iter()
            .map(|r| r.code.clone().into_boxed_str())
            .collect();
        Ok(RuleSet {
            spec,
            id: NEXT_SET_ID.fetch_add(1, Ordering::Relaxed),
            codes,
            caps,
        })
    }

    /// Parses and checks a rule set in JSON. A malformed document is one problem with its
    /// line and column; otherwise each malformed rule is reported, and then every problem
    /// of the well-formed ones.
    pub fn from_json(text: &str) -> Result<RuleSet, Vec<Problem>> {
        RuleSet::new(parse_spec(text)?)
    }

    /// The starter rule set ([`DEFAULT_RULES_JSON`]).
    pub fn default_set() -> RuleSet {
        RuleSet::from_json(DEFAULT_RULES_JSON).expect("the default rule set is valid (tested)")
    }

    /// The rule set as stored.
    pub fn spec(&self) -> &RuleSetSpec {
        &self.spec
    }

    /// Its version label.
    pub fn version(&self) -> &str {
        &self.spec.version
    }

    /// Its rules.
    pub fn rules(&self) -> &[Rule] {
        &self.spec.rules
    }

    /// The index of the rule with `code`.
    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.spec.rules.iter().position(|r| r.code == code)
    }

    /// The rule set as pretty JSON (what [`RuleSet::from_json`] reads back).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.spec).expect("a rule set serialises")
    }

    /// Checks per-person overrides against this rule set: unknown rules and keys,
    /// thresholds out of range (every problem at once, zh-CN; `field` is
    /// `overrides.<rule>.thresholds.<key>`).
    pub fn check_overrides(&self, overrides: &Overrides) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        for (code, o) in overrides {
            let base = format!("overrides.{code}");
            let Some(rule) = self.spec.rules.iter().find(|r| &r.code == code) else {
                problems.push(Problem::new(
                    &base,
                    code,
                    format!("没有代码为 {code} 的规则"),
                ));
                continue;
            };
            if let Some(s) = o.for_seconds
                && s > MAX_FOR_SECONDS
            {
                problems.push(Problem::new(
                    format!("{base}.for_seconds"),
                    s.to_string(),
                    format!("规则 {code}：持续时间不能超过{MAX_FOR_SECONDS}秒（24小时）"),
                ));
            }
            for (key, v) in &o.thresholds {
                let field = format!("{base}.thresholds.{key}");
                let mut leaf = None;
                rule.condition.for_each_leaf(&mut |c| {
                    if c.key() == Some(key.as_str()) {
                        leaf = Some(c);
                    }
                });
                let Some(leaf) = leaf else {
                    let mut keys = Vec::new();
                    rule.condition.for_each_leaf(&mut |c| keys.extend(c.key()));
                    let keys = if keys.is_empty() {
                        "无".to_string()
                    } else {
                        keys.join("、")
                    };
                    problems.push(Problem::new(
                        field,
                        fmt_num(*v),
                        format!("规则 {code} 没有键为 {key} 的阈值（可用的键：{keys}）"),
                    ));
                    continue;
                };
                match leaf.with_threshold(*v) {
                    None => problems.push(Problem::new(
                        field,
                        fmt_num(*v),
                        format!("规则 {code}：阈值 {key} 应为不小于0的整数"),
                    )),
                    Some(c) => check_leaf(
                        &c,
                        &field,
                        &format!("规则 {code}"),
                        &self.spec.settings,
                        &mut problems,
                    ),
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// A fresh evaluation state for a subject with `profile`, created at `created_at`
    /// (the reference time of `missing` conditions until a first reading arrives).
    pub fn subject(&self, profile: Profile, created_at: i64) -> Result<SubjectState, Vec<Problem>> {
        self.check_overrides(&profile.overrides)?;
        let effective = self.effective_rules(&profile.overrides);
        Ok(SubjectState {
            set_id: self.id,
            codes: self.codes.clone(),
            profile,
            effective,
            states: vec![RuleState::default(); self.spec.rules.len()],
            history: History::new(
                created_at,
                self.spec.settings.trend_step_seconds,
                &self.caps,
            ),
            clock: None,
        })
    }

    /// Moves a subject made for another rule set (an older version) onto this one: the
    /// history is kept, rule states are carried over by rule code (a raised alarm stays
    /// raised and will clear), overrides that no longer apply are ignored and returned.
    /// [`RuleSet::evaluate`] and [`RuleSet::tick`] do this themselves when needed.
    pub fn rebind(&self, s: &mut SubjectState) -> Vec<Problem> {
        if s.set_id == self.id {
            return Vec::new();
        }
        let old = std::mem::take(&mut s.states);
        s.states = self
            .codes
            .iter()
            .map(|c| {
                s.codes
                    .iter()
                    .position(|o| o == c)
                    .map(|j| old[j])
                    .unwrap_or_default()
            })
            .collect();
        s.codes = self.codes.clone();
        let ignored = self
            .check_overrides(&s.profile.overrides)
            .err()
            .unwrap_or_default();
        s.effective = self.effective_rules(&s.profile.overrides);
        s.history = s
            .history
            .relayout(self.spec.settings.trend_step_seconds, &self.caps);
        s.set_id = self.id;
        ignored
    }

    /// Restores a raised alarm after a restart (from the module's open alarms), so that it
    /// clears when its condition stops holding. False if no rule has `code`.
    pub fn mark_raised(&self, s: &mut SubjectState, code: &str, raised_at: i64) -> bool {
        self.rebind(s);
        match self.index_of(code) {
            Some(i) => {
                s.states[i] = RuleState {
                    since: Some(raised_at),
                    raised_at: Some(raised_at),
                };
                true
            }
            None => false,
        }
    }

    /// The raised alarms of a subject: (rule code, raised at).
    pub fn raised<'a>(&'a self, s: &SubjectState) -> Vec<(&'a str, i64)> {
        self.spec
            .rules
            .iter()
            .zip(&s.states)
            .filter_map(|(r, st)| st.raised_at.map(|t| (r.code.as_str(), t)))
            .collect()
    }

    /// Records a device reading taken at `at_micros` (a reading without measurements, a
    /// heartbeat, still counts as data for `missing`) and steps every rule; returns the
    /// rules raised or cleared. Allocates nothing unless an event is produced.
    ///
    /// ```
    /// use yiyang_vitals::{Profile, RuleSet, Transition, Vitals};
    /// let set = RuleSet::default_set();
    /// let mut s = set.subject(Profile::default(), 0).unwrap();
    /// let low = Vitals { spo2: Some(85.0), ..Vitals::default() };
    /// assert!(set.evaluate(&mut s, 0, &low).is_empty()); // must hold 30 s
    /// let events = set.evaluate(&mut s, 30_000_000, &low);
    /// assert_eq!(events[0].code, "spo2_low");
    /// assert_eq!(events[0].transition, Transition::Raise);
    /// assert_eq!(events[0].detail, "血氧饱和度 85%");
    /// ```
    pub fn evaluate(&self, s: &mut SubjectState, at_micros: i64, reading: &Vitals) -> Vec<Event> {
        let mut out = Vec::new();
        self.evaluate_into(s, at_micros, reading, &mut out);
        out
    }

    /// [`RuleSet::evaluate`] appending to `out`.
    pub fn evaluate_into(
        &self,
        s: &mut SubjectState,
        at_micros: i64,
        reading: &Vitals,
        out: &mut Vec<Event>,
    ) {
        self.record_and_step(s, at_micros, reading, true, out);
    }

    /// Records a staff assessment — oxygen use (NEWS2 "air or oxygen") and level of
    /// consciousness, either may be absent — and steps every rule. Unlike a device
    /// reading it does not count as data for `missing` conditions (a nurse's entry does
    /// not bring a silent band back online).
    pub fn assess(
        &self,
        s: &mut SubjectState,
        at_micros: i64,
        on_oxygen: Option<bool>,
        consciousness: Option<Avpu>,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        let v = Vitals {
            on_oxygen,
            consciousness,
            ..Vitals::default()
        };
        self.record_and_step(s, at_micros, &v, false, &mut out);
        out
    }

    fn record_and_step(
        &self,
        s: &mut SubjectState,
        at: i64,
        v: &Vitals,
        from_device: bool,
        out: &mut Vec<Event>,
    ) {
        self.rebind(s);
        s.history.record(at, &v.plausible(), from_device);
        if s.clock.is_some_and(|c| at < c) {
            return;
        }
        s.clock = Some(at);
        self.step(s, at, out);
    }

    /// Steps every rule at `now_micros` without a reading (device silence, `for_seconds`
    /// waits, values going stale). Call it periodically, e.g. every 10–30 s per subject.
    pub fn tick(&self, s: &mut SubjectState, now_micros: i64) -> Vec<Event> {
        let mut out = Vec::new();
        self.rebind(s);
        if s.clock.is_some_and(|c| now_micros < c) {
            return out;
        }
        s.clock = Some(now_micros);
        self.step(s, now_micros, &mut out);
        out
    }

    /// Whether a rule's condition holds for a subject at `at_micros` (three-valued:
    /// `None` is unknown, also for a subject bound to another rule set). For previews and
    /// tests; does not change the subject.
    pub fn holds(&self, s: &SubjectState, index: usize, at_micros: i64) -> Option<bool> {
        if s.set_id != self.id {
            return None;
        }
        let rules = s.effective.as_deref().unwrap_or(&self.spec.rules);
        let current = s.history.current(at_micros, &self.spec.settings);
        rules
            .get(index)?
            .holds(at_micros, &current, &s.history, s.profile.scale)
    }

    fn step(&self, s: &mut SubjectState, at: i64, out: &mut Vec<Event>) {
        let SubjectState {
            effective,
            states,
            history,
            profile,
            ..
        } = s;
        let rules: &[Rule] = effective.as_deref().unwrap_or(&self.spec.rules);
        let current = history.current(at, &self.spec.settings);
        let ctx = Ctx {
            at,
            current: &current,
            history,
            scale: profile.scale,
        };
        let mut cache = [None; 3];
        for (i, (rule, state)) in rules.iter().zip(states.iter_mut()).enumerate() {
            let holds = if rule.enabled {
                eval(&rule.condition, &ctx, &mut cache)
            } else {
                Some(false)
            };
            let before = *state;
            let t = state.observe(at, holds, rule.for_seconds);
            if t != Transition::None {
                let since_micros = match t {
                    Transition::Raise => state.since.unwrap_or(at),
                    _ => before.raised_at.unwrap_or(at),
                };
                out.push(Event {
                    rule: i,
                    code: rule.code.clone(),
                    name: rule.name.clone(),
                    priority: rule.priority,
                    kind: rule.kind,
                    transition: t,
                    at_micros: at,
                    since_micros,
                    detail: describe(&rule.condition, &ctx),
                    values: current,
                });
            }
        }
    }

    fn effective_rules(&self, overrides: &Overrides) -> Option<Box<[Rule]>> {
        if overrides.is_empty() {
            return None;
        }
        let mut rules = self.spec.rules.clone();
        for rule in &mut rules {
            let Some(o) = overrides.get(&rule.code) else {
                continue;
            };
            if let Some(e) = o.enabled {
                rule.enabled = e;
            }
            if let Some(f) = o.for_seconds
                && f <= MAX_FOR_SECONDS
            {
                rule.for_seconds = f;
            }
            rule.condition.for_each_leaf_mut(&mut |c| {
                if let Some(v) = c.key().and_then(|k| o.thresholds.get(k))
                    && let Some(n) = c.with_threshold(*v)
                {
                    *c = n;
                }
            });
        }
        Some(rules.into_boxed_slice())
    }
}

struct Ctx<'a> {
    at: i64,
    current: &'a Vitals,
    history: &'a History,
    scale: Spo2Scale,
}

fn score_index(k: ScoreKind) -> usize {
    match k {
        ScoreKind::News2 => 0,
        ScoreKind::Mews => 1,
        ScoreKind::Qsofa => 2,
    }
}

fn eval(c: &Condition, ctx: &Ctx<'_>, cache: &mut [Option<Tally>; 3]) -> Option<bool> {
    match c {
        Condition::All(cs) => {
            let mut unknown = false;
            for c in cs {
                match eval(c, ctx, cache) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown { None } else { Some(true) }
        }
        Condition::Any(cs) => {
            let mut unknown = false;
            for c in cs {
                match eval(c, ctx, cache) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Condition::Reading(r) => ctx.current.get(r.metric).map(|v| r.op.test(v, r.value)),
        Condition::Score(sc) => {
            let t = *cache[score_index(sc.kind)]
                .get_or_insert_with(|| scores::tally(sc.kind, ctx.current, ctx.scale));
            if sc.complete && !t.complete {
                return Some(false);
            }
            Some(t.total >= sc.min && sc.max.is_none_or(|m| t.total <= m))
        }
        Condition::Trend(t) => trend_change(t, ctx).map(|d| d >= t.delta),
        Condition::Missing(m) => {
            let last = match m.metric {
                None => ctx.history.last_seen,
                Some(metric) => ctx.history.latest(metric).map(|(t, _)| t),
            };
            let last = last.unwrap_or(ctx.history.created_at);
            Some(ctx.at - last >= i64::from(m.seconds) * MICROS)
        }
    }
}

/// The observed rise (fall) of a trend leaf; none when the metric is not current.
fn trend_change(t: &TrendCondition, ctx: &Ctx<'_>) -> Option<f64> {
    let now = ctx.current.get(t.metric)?;
    let (lo, hi) = ctx
        .history
        .range_since(t.metric, ctx.at - i64::from(t.window_seconds) * MICROS)
        .unwrap_or((now, now));
    Some(match t.direction {
        Direction::Rise => now - lo,
        Direction::Fall => hi - now,
    })
}

/// zh-CN text of the values behind a rule's leaves (duplicates once).
fn describe(c: &Condition, ctx: &Ctx<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    c.for_each_leaf(&mut |leaf| {
        let text = match leaf {
            Condition::Reading(r) => match ctx.current.get(r.metric) {
                Some(v) => format!("{} {}", r.metric.label(), r.metric.format(v)),
                None => format!("{}无当前数据", r.metric.label()),
            },
            Condition::Score(sc) => scores::score(sc.kind, ctx.current, ctx.scale).summary(),
            Condition::Trend(t) => match trend_change(t, ctx) {
                Some(d) => format!(
                    "{}{}内{}{}",
                    t.metric.label(),
                    fmt_duration(i64::from(t.window_seconds)),
                    t.direction.label(),
                    t.metric.format(d.max(0.0))
                ),
                None => format!("{}无当前数据", t.metric.label()),
            },
            Condition::Missing(m) => {
                let (label, last) = match m.metric {
                    None => ("", ctx.history.last_seen),
                    Some(metric) => (metric.label(), ctx.history.latest(metric).map(|(t, _)| t)),
                };
                let since = last.unwrap_or(ctx.history.created_at);
                format!("{label}已{}无数据", fmt_duration((ctx.at - since) / MICROS))
            }
            Condition::All(_) | Condition::Any(_) => return,
        };
        if !parts.contains(&text) {
            parts.push(text);
        }
    });
    parts.join("，")
}

/// Ring capacity per metric: the buckets its longest trend window can overlap.
fn ring_caps(spec: &RuleSetSpec) -> [u16; 8] {
    let step = spec.settings.trend_step_seconds.max(1);
    let mut caps = [0u16; 8];
    for rule in &spec.rules {
        rule.condition.for_each_leaf(&mut |c| {
            if let Condition::Trend(t) = c {
                let n = t.window_seconds.div_ceil(step) + 1;
                let cap = &mut caps[t.metric.index()];
                *cap = (*cap).max(n.min(MAX_BUCKETS + 1) as u16);
            }
        });
    }
    caps
}

fn parse_spec(text: &str) -> Result<RuleSetSpec, Vec<Problem>> {
    match serde_json::from_str::<RuleSetSpec>(text) {
        Ok(spec) => Ok(spec),
        Err(e) if e.classify() != serde_json::error::Category::Data => Err(vec![Problem::new(
            "",
            "",
            format!(
                "规则集不是有效的JSON（第{}行第{}列）：{}",
                e.line(),
                e.column(),
                serde_detail(&e.to_string())
            ),
        )]),
        Err(e) => {
            // Well-formed JSON of the wrong shape: report each malformed part.
            let mut problems = Vec::new();
            let doc: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            let Some(obj) = doc.as_object() else {
                return Err(vec![Problem::new("", "", "规则集应为JSON对象")]);
            };
            for key in obj.keys() {
                if !["version", "settings", "rules"].contains(&key.as_str()) {
                    problems.push(Problem::new(key, "", format!("规则集中有未知字段 {key}")));
                }
            }
            match obj.get("version") {
                Some(serde_json::Value::String(_)) => {}
                Some(v) => problems.push(Problem::new(
                    "version",
                    v.to_string(),
                    "规则集版本号应为文本",
                )),
                None => problems.push(Problem::new("version", "", "缺少规则集版本号（version）")),
            }
            if let Some(s) = obj.get("settings")
                && let Err(e) = serde_json::from_value::<Settings>(s.clone())
            {
                problems.push(Problem::new(
                    "settings",
                    "",
                    format!("设置格式错误：{}", zh_serde(&e.to_string())),
                ));
            }
            match obj.get("rules") {
                Some(serde_json::Value::Array(rules)) => {
                    for (i, r) in rules.iter().enumerate() {
                        if let Err(e) = serde_json::from_value::<Rule>(r.clone()) {
                            let code = r.get("code").and_then(|c| c.as_str()).unwrap_or("");
                            let who = if code.is_empty() {
                                format!("第{}条规则", i + 1)
                            } else {
                                format!("第{}条规则（{code}）", i + 1)
                            };
                            problems.push(Problem::new(
                                format!("rules[{i}]"),
                                "",
                                format!("{who}格式错误：{}", zh_serde(&e.to_string())),
                            ));
                        }
                    }
                }
                Some(_) => problems.push(Problem::new("rules", "", "rules 应为规则数组")),
                None => problems.push(Problem::new("rules", "", "缺少规则列表（rules）")),
            }
            if problems.is_empty() {
                problems.push(Problem::new(
                    "",
                    "",
                    format!("规则集格式错误：{}", zh_serde(&e.to_string())),
                ));
            }
            Err(problems)
        }
    }
}

/// serde's English message without its position suffix.
fn serde_detail(msg: &str) -> &str {
    msg.split(" at line ").next().unwrap_or(msg)
}

/// The common serde messages in zh-CN; others keep the English detail.
pub(crate) fn zh_serde(msg: &str) -> String {
    let msg = serde_detail(msg);
    let ticked = |s: &str| s.split('`').nth(1).unwrap_or("").to_string();
    let expected = |s: &str| -> String {
        s.split("expected one of ")
            .nth(1)
            .or_else(|| s.split("expected ").nth(1))
            .map(|l| l.replace('`', "").replace(", ", "、"))
            .unwrap_or_default()
    };
    let choices = |s: &str| {
        let e = expected(s);
        if e.is_empty() {
            String::new()
        } else {
            format!("（可用：{e}）")
        }
    };
    if msg.starts_with("unknown field") {
        format!("未知字段 {}{}", ticked(msg), choices(msg))
    } else if msg.starts_with("unknown variant") {
        format!("未知取值 {}{}", ticked(msg), choices(msg))
    } else if msg.starts_with("missing field") {
        format!("缺少字段 {}", ticked(msg))
    } else if msg.starts_with("duplicate field") {
        format!("字段 {} 重复", ticked(msg))
    } else if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
        format!("类型或取值不符（{msg}）")
    } else {
        format!("格式错误（{msg}）")
    }
}

fn check_spec(spec: &RuleSetSpec) -> Vec<Problem> {
    let mut p = Vec::new();
    let version = spec.version.trim();
    if version.is_empty() {
        p.push(Problem::new("version", "", "规则集版本号不能为空"));
    } else if version.chars().count() > 32 {
        p.push(Problem::new(
            "version",
            version,
            "规则集版本号不能超过32个字符",
        ));
    }
    let st = &spec.settings;
    for (field, v, max, what) in [
        (
            "settings.fresh_seconds",
            st.fresh_seconds,
            86_400,
            "测量值有效期",
        ),
        (
            "settings.assessment_fresh_seconds",
            st.assessment_fresh_seconds,
            7 * 86_400,
            "吸氧与意识评估有效期",
        ),
        (
            "settings.trend_step_seconds",
            st.trend_step_seconds,
            3600,
            "趋势分桶间隔",
        ),
    ] {
        if v == 0 || v > max {
            p.push(Problem::new(
                field,
                v.to_string(),
                format!("{what}应在1–{max}秒之间"),
            ));
        }
    }
    if spec.rules.len() > MAX_RULES {
        p.push(Problem::new(
            "rules",
            spec.rules.len().to_string(),
            format!("规则数量不能超过{MAX_RULES}条"),
        ));
    }
    for (i, rule) in spec.rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        let code = rule.code.as_str();
        let valid_code = !code.is_empty()
            && code.len() <= 64
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
        if code.is_empty() {
            p.push(Problem::new(
                format!("{path}.code"),
                "",
                format!("第{}条规则的代码不能为空", i + 1),
            ));
        } else if !valid_code {
            p.push(Problem::new(
                format!("{path}.code"),
                code,
                format!(
                    "规则代码 {code} 只能由小写字母、数字、下划线、点或连字符组成，最长64个字符"
                ),
            ));
        } else if let Some(j) = spec.rules[..i].iter().position(|r| r.code == rule.code) {
            p.push(Problem::new(
                format!("{path}.code"),
                code,
                format!("规则代码 {code} 重复（与第{}条规则相同）", j + 1),
            ));
        }
        let who = if code.is_empty() {
            format!("第{}条规则", i + 1)
        } else {
            format!("规则 {code}")
        };
        let name = rule.name.trim();
        if name.is_empty() {
            p.push(Problem::new(
                format!("{path}.name"),
                "",
                format!("{who}：名称不能为空"),
            ));
        } else if name.chars().count() > 60 {
            p.push(Problem::new(
                format!("{path}.name"),
                name,
                format!("{who}：名称不能超过60个字"),
            ));
        }
        if rule.for_seconds > MAX_FOR_SECONDS {
            p.push(Problem::new(
                format!("{path}.for_seconds"),
                rule.for_seconds.to_string(),
                format!("{who}：持续时间不能超过{MAX_FOR_SECONDS}秒（24小时）"),
            ));
        }
        let mut leaves = 0usize;
        check_condition(
            &rule.condition,
            &format!("{path}.condition"),
            &who,
            st,
            1,
            &mut leaves,
            &mut p,
        );
        if leaves > MAX_LEAVES {
            p.push(Problem::new(
                format!("{path}.condition"),
                leaves.to_string(),
                format!("{who}：条件不能超过{MAX_LEAVES}个"),
            ));
        }
        let mut keys: Vec<&str> = Vec::new();
        rule.condition.for_each_leaf(&mut |c| keys.extend(c.key()));
        for (k, key) in keys.iter().enumerate() {
            let valid = !key.is_empty()
                && key.len() <= 32
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                p.push(Problem::new(
                    format!("{path}.condition"),
                    *key,
                    format!("{who}：阈值键 {key} 只能由字母、数字和下划线组成，最长32个字符"),
                ));
            } else if keys[..k].contains(key) {
                p.push(Problem::new(
                    format!("{path}.condition"),
                    *key,
                    format!("{who}：阈值键 {key} 重复"),
                ));
            }
        }
    }
    p
}

fn check_condition(
    c: &Condition,
    path: &str,
    who: &str,
    st: &Settings,
    depth: usize,
    leaves: &mut usize,
    p: &mut Vec<Problem>,
) {
    if depth > MAX_DEPTH {
        p.push(Problem::new(
            path,
            "",
            format!("{who}：条件嵌套不能超过{MAX_DEPTH}层"),
        ));
        return;
    }
    match c {
        Condition::All(cs) | Condition::Any(cs) => {
            let (name, label) = match c {
                Condition::All(_) => ("all", "全部满足"),
                _ => ("any", "任一满足"),
            };
            if cs.is_empty() {
                p.push(Problem::new(
                    format!("{path}.{name}"),
                    "",
                    format!("{who}：条件组（{label}）不能为空"),
                ));
            }
            for (j, c) in cs.iter().enumerate() {
                check_condition(
                    c,
                    &format!("{path}.{name}[{j}]"),
                    who,
                    st,
                    depth + 1,
                    leaves,
                    p,
                );
            }
        }
        leaf => {
            *leaves += 1;
            check_leaf(leaf, path, who, st, p);
        }
    }
}

/// Checks one leaf; `who` names the rule (`规则 spo2_low`, `第3条规则`).
fn check_leaf(c: &Condition, path: &str, who: &str, st: &Settings, p: &mut Vec<Problem>) {
    match c {
        Condition::Reading(r) => {
            if !r.metric.plausible(r.value) {
                p.push(Problem::new(
                    path_of(path, "reading.value"),
                    fmt_num(r.value),
                    format!(
                        "{who}：{}阈值 {} 超出可能范围（{}）",
                        r.metric.label(),
                        r.metric.format(r.value),
                        range_text(r.metric)
                    ),
                ));
            }
        }
        Condition::Score(s) => {
            let max = s.kind.max_total();
            if s.min == 0 || s.min > max {
                p.push(Problem::new(
                    path_of(path, "score.min"),
                    s.min.to_string(),
                    format!("{who}：{}下限 {} 应在1–{max}分之间", s.kind.label(), s.min),
                ));
            }
            if let Some(m) = s.max
                && (m < s.min || m > max)
            {
                p.push(Problem::new(
                    path_of(path, "score.max"),
                    m.to_string(),
                    format!(
                        "{who}：{}上限 {m} 应在{}–{max}分之间",
                        s.kind.label(),
                        s.min
                    ),
                ));
            }
        }
        Condition::Trend(t) => {
            let (lo, hi) = t.metric.range();
            if !t.delta.is_finite() || t.delta <= 0.0 || t.delta > hi - lo {
                p.push(Problem::new(
                    path_of(path, "trend.delta"),
                    fmt_num(t.delta),
                    format!(
                        "{who}：{}变化量 {} 应大于0且不超过{}",
                        t.metric.label(),
                        fmt_num(t.delta),
                        t.metric.format(hi - lo)
                    ),
                ));
            }
            let step = st.trend_step_seconds.max(1);
            if t.window_seconds == 0 || t.window_seconds > 86_400 {
                p.push(Problem::new(
                    path_of(path, "trend.window_seconds"),
                    t.window_seconds.to_string(),
                    format!("{who}：趋势时间窗应在1–86400秒之间"),
                ));
            } else if t.window_seconds.div_ceil(step) > MAX_BUCKETS {
                p.push(Problem::new(
                    path_of(path, "trend.window_seconds"),
                    t.window_seconds.to_string(),
                    format!(
                        "{who}：趋势时间窗 {} 秒按 {step} 秒分桶超过{MAX_BUCKETS}个桶，请缩短时间窗或增大 trend_step_seconds",
                        t.window_seconds
                    ),
                ));
            }
        }
        Condition::Missing(m) => {
            if m.seconds == 0 || m.seconds > MAX_MISSING_SECONDS {
                p.push(Problem::new(
                    path_of(path, "missing.seconds"),
                    m.seconds.to_string(),
                    format!("{who}：无数据时长应在1–{MAX_MISSING_SECONDS}秒之间"),
                ));
            }
        }
        Condition::All(_) | Condition::Any(_) => {}
    }
}

/// A leaf's field path; override paths (`overrides.…`) already name the threshold.
fn path_of(path: &str, leaf: &str) -> String {
    if path.starts_with("overrides.") {
        path.to_string()
    } else {
        format!("{path}.{leaf}")
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
