//! Early-warning scores from vital signs: NEWS2 (SpO2 scale 1 and 2), MEWS and qSOFA,
//! exactly as in the project reference (`vitals-early-warning.md`).
//!
//! # Band edges
//!
//! The tables print bands as whole numbers (pulse 41–50) or in 0.1 ℃ steps (temperature
//! 35.1–36.0). Bands are implemented as comparisons with the printed edges, *reached from
//! the normal side*: a parameter scores the points of an abnormal band only once its value
//! reaches that band's printed edge (`≤ 35.0` scores 3, `≤ 36.0` scores 1, `≥ 38.1`
//! scores 1, `≥ 39.1` scores 2). A value that falls between two printed bands — 35.05 ℃,
//! a pulse of 40.5, or a MEWS pulse of exactly 40 (the table has `<40` and `41–50`) —
//! therefore scores with the band nearer to normal: 35.05 ℃ scores 1, 38.05 ℃ scores 0,
//! 39.05 ℃ scores 1, a pulse of 40.5 scores 1. Every printed edge is honoured exactly and
//! nothing is rounded.
//!
//! # Partial scores
//!
//! Wristbands give pulse, SpO2, temperature and sometimes blood pressure, but no
//! respiration rate or consciousness, and oxygen use is entered by staff. A score computed
//! from fewer than all of its parameters is *partial*: [`Score::complete`] is false,
//! [`Score::used`] and [`Score::missing`] name the parameters, and [`Score::summary`] says
//! 部分评分 — it is never presented as a full score. Since a missing parameter can only add
//! points, a partial total is a lower bound of the full one.
//!
//! Values outside the plausible ranges of [`Vitals::check`] are not scored (they count as
//! missing).

use crate::vitals::{Avpu, Vitals};
use serde::{Deserialize, Serialize};

/// Which score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// National Early Warning Score 2 (Royal College of Physicians, 2017), total 0–20.
    News2,
    /// Modified Early Warning Score (Subbe et al., 2001), total 0–14.
    Mews,
    /// quick SOFA (Sepsis-3), total 0–3.
    Qsofa,
}

impl ScoreKind {
    /// Every score.
    pub const ALL: [ScoreKind; 3] = [ScoreKind::News2, ScoreKind::Mews, ScoreKind::Qsofa];

    /// Stable code (`news2`, `mews`, `qsofa`).
    pub const fn code(self) -> &'static str {
        match self {
            ScoreKind::News2 => "news2",
            ScoreKind::Mews => "mews",
            ScoreKind::Qsofa => "qsofa",
        }
    }

    /// Short name as clinicians write it (NEWS2, MEWS, qSOFA).
    pub const fn label(self) -> &'static str {
        match self {
            ScoreKind::News2 => "NEWS2",
            ScoreKind::Mews => "MEWS",
            ScoreKind::Qsofa => "qSOFA",
        }
    }

    /// zh-CN full name.
    pub const fn name(self) -> &'static str {
        match self {
            ScoreKind::News2 => "国家早期预警评分2",
            ScoreKind::Mews => "改良早期预警评分",
            ScoreKind::Qsofa => "快速序贯器官衰竭评分",
        }
    }

    /// Highest possible total.
    pub const fn max_total(self) -> u8 {
        match self {
            ScoreKind::News2 => 20,
            ScoreKind::Mews => 14,
            ScoreKind::Qsofa => 3,
        }
    }

    /// The parameters of this score, in the order of the reference table.
    pub const fn params(self) -> &'static [Param] {
        match self {
            ScoreKind::News2 => &[
                Param::Respiration,
                Param::Spo2,
                Param::AirOrOxygen,
                Param::Systolic,
                Param::HeartRate,
                Param::Consciousness,
                Param::Temperature,
            ],
            ScoreKind::Mews => &[
                Param::Systolic,
                Param::HeartRate,
                Param::Respiration,
                Param::Temperature,
                Param::Consciousness,
            ],
            ScoreKind::Qsofa => &[Param::Respiration, Param::Consciousness, Param::Systolic],
        }
    }

    /// The score with this code.
    pub fn from_code(code: &str) -> Option<ScoreKind> {
        ScoreKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// Which SpO2 scale NEWS2 uses for a patient.
///
/// Scale 2 is only for patients with confirmed hypercapnic respiratory failure, set per
/// patient by a clinician; the caller passes that setting. Everyone else is on scale 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spo2Scale {
    /// Scale 1 (default).
    #[default]
    Scale1,
    /// Scale 2: target 88–92 % (hypercapnic respiratory failure).
    Scale2,
}

impl Spo2Scale {
    /// zh-CN label.
    pub const fn label(self) -> &'static str {
        match self {
            Spo2Scale::Scale1 => "SpO2量表1",
            Spo2Scale::Scale2 => "SpO2量表2（高碳酸血症型呼吸衰竭）",
        }
    }
}

/// A parameter of a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// Respiration rate.
    Respiration,
    /// SpO2.
    Spo2,
    /// Air or supplemental oxygen (NEWS2).
    AirOrOxygen,
    /// Systolic blood pressure.
    Systolic,
    /// Pulse / heart rate.
    HeartRate,
    /// Level of consciousness (ACVPU; qSOFA: altered mentation).
    Consciousness,
    /// Temperature.
    Temperature,
}

impl Param {
    /// Stable code.
    pub const fn code(self) -> &'static str {
        match self {
            Param::Respiration => "respiration",
            Param::Spo2 => "spo2",
            Param::AirOrOxygen => "air_or_oxygen",
            Param::Systolic => "systolic",
            Param::HeartRate => "heart_rate",
            Param::Consciousness => "consciousness",
            Param::Temperature => "temperature",
        }
    }

    /// zh-CN label.
    pub const fn label(self) -> &'static str {
        match self {
            Param::Respiration => "呼吸频率",
            Param::Spo2 => "血氧饱和度",
            Param::AirOrOxygen => "吸氧",
            Param::Systolic => "收缩压",
            Param::HeartRate => "心率",
            Param::Consciousness => "意识水平",
            Param::Temperature => "体温",
        }
    }
}

/// Risk level of a score. NEWS2 uses all five (its clinical response); MEWS and qSOFA use
/// [`Level::Routine`] below their threshold and [`Level::High`] at or above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// NEWS2 0; MEWS < 5; qSOFA < 2.
    Routine,
    /// NEWS2 1–4.
    Low,
    /// NEWS2 with a 3 in any single parameter (单项3分), total below 5.
    LowMedium,
    /// NEWS2 5–6 (urgent).
    Medium,
    /// NEWS2 ≥ 7 (emergency); MEWS ≥ 5; qSOFA ≥ 2.
    High,
}

impl Level {
    /// Stable code.
    pub const fn code(self) -> &'static str {
        match self {
            Level::Routine => "routine",
            Level::Low => "low",
            Level::LowMedium => "low_medium",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

/// A computed score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// Which score.
    pub kind: ScoreKind,
    /// The SpO2 scale used (NEWS2 only).
    pub scale: Option<Spo2Scale>,
    /// Sum of the points of the used parameters.
    pub total: u8,
    /// Points of each used parameter, in table order.
    pub parts: Vec<(Param, u8)>,
    /// Parameters that could be scored.
    pub used: Vec<Param>,
    /// Parameters that could not be scored (not measured, implausible, or — NEWS2 scale 2
    /// at SpO2 ≥ 93 % — oxygen use unknown).
    pub missing: Vec<Param>,
    /// Whether every parameter was scored; false = a partial score.
    pub complete: bool,
    /// Risk level of `total` (and, for NEWS2, of a single 3).
    pub level: Level,
}

impl Score {
    /// zh-CN label of the level for this score (e.g. 中风险（紧急）, 高风险, 未达高风险).
    pub fn label(&self) -> &'static str {
        level_label(self.kind, self.level)
    }

    /// The clinical response the level calls for, in zh-CN.
    pub fn response(&self) -> &'static str {
        match (self.kind, self.level) {
            (ScoreKind::News2, Level::Routine) => "至少每12小时监测一次",
            (ScoreKind::News2, Level::Low) => "至少每4–6小时监测一次，由病区责任护士评估",
            (ScoreKind::News2, Level::LowMedium) => "至少每小时监测一次，通知医疗团队复核",
            (ScoreKind::News2, Level::Medium) => {
                "至少每小时监测一次，由具备急症处置能力的医生紧急评估，转入有监护条件的环境"
            }
            (ScoreKind::News2, Level::High) => {
                "持续监测生命体征，通知重症团队紧急评估，考虑转入HDU/ICU"
            }
            (ScoreKind::Mews, Level::High) => "MEWS≥5与死亡或转入ICU相关，请立即评估",
            (ScoreKind::Mews, _) => "MEWS<5，继续常规监测",
            (ScoreKind::Qsofa, Level::High) => "qSOFA≥2：如疑似感染，为脓毒症高风险，请立即评估",
            (ScoreKind::Qsofa, _) => "qSOFA<2，继续观察",
        }
    }

    /// One line for screens and alarm texts, e.g. `NEWS2 5分 · 中风险（紧急）` or, for a
    /// partial score, `NEWS2部分评分 4分 · 低风险（仅依据心率、体温；缺少呼吸频率、…）`.
    pub fn summary(&self) -> String {
        if self.complete {
            format!("{} {}分 · {}", self.kind.label(), self.total, self.label())
        } else {
            format!(
                "{}部分评分 {}分 · {}（仅依据{}；缺少{}）",
                self.kind.label(),
                self.total,
                self.label(),
                join_labels(&self.used),
                join_labels(&self.missing)
            )
        }
    }
}

fn join_labels(ps: &[Param]) -> String {
    if ps.is_empty() {
        return "无".to_string();
    }
    ps.iter().map(|p| p.label()).collect::<Vec<_>>().join("、")
}

fn level_label(kind: ScoreKind, level: Level) -> &'static str {
    match (kind, level) {
        (ScoreKind::News2, Level::Routine) => "常规",
        (ScoreKind::News2, Level::Low) => "低风险",
        (ScoreKind::News2, Level::LowMedium) => "低-中风险（单项3分）",
        (ScoreKind::News2, Level::Medium) => "中风险（紧急）",
        (ScoreKind::News2, Level::High) => "高风险（紧急抢救）",
        (_, Level::High) => "高风险",
        (_, _) => "未达高风险",
    }
}

/// The totals of a score without its lists — what alarm rules need, computed without
/// allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Sum of the points of the used parameters.
    pub total: u8,
    /// Highest points of any single used parameter.
    pub max_part: u8,
    /// How many parameters were used.
    pub used: u8,
    /// Whether every parameter was used.
    pub complete: bool,
    /// Level of the score.
    pub level: Level,
}

/// Scores `v` with `kind` (the scale matters for NEWS2 only).
pub fn score(kind: ScoreKind, v: &Vitals, scale: Spo2Scale) -> Score {
    let v = v.plausible();
    match kind {
        ScoreKind::News2 => build(kind, Some(scale), &news2_parts(&v, scale)),
        ScoreKind::Mews => build(kind, None, &mews_parts(&v)),
        ScoreKind::Qsofa => build(kind, None, &qsofa_parts(&v)),
    }
}

/// NEWS2 on the given SpO2 scale (pass the clinician's per-patient setting; default
/// [`Spo2Scale::Scale1`]).
///
/// ```
/// use yiyang_vitals::{Level, Spo2Scale, Vitals, news2};
/// let v = Vitals { heart_rate: Some(135.0), spo2: Some(95.0), temperature: Some(38.4), ..Vitals::default() };
/// let s = news2(&v, Spo2Scale::Scale1);
/// assert_eq!((s.total, s.complete, s.level), (5, false, Level::Medium));
/// ```
pub fn news2(v: &Vitals, scale: Spo2Scale) -> Score {
    score(ScoreKind::News2, v, scale)
}

/// MEWS (Subbe 2001).
pub fn mews(v: &Vitals) -> Score {
    score(ScoreKind::Mews, v, Spo2Scale::Scale1)
}

/// qSOFA (Sepsis-3).
pub fn qsofa(v: &Vitals) -> Score {
    score(ScoreKind::Qsofa, v, Spo2Scale::Scale1)
}

/// The totals of a score, without allocating. `v` should already be plausible (the rule
/// evaluator passes values that are); implausible values are scored as they are.
pub fn tally(kind: ScoreKind, v: &Vitals, scale: Spo2Scale) -> Tally {
    match kind {
        ScoreKind::News2 => tally_parts(kind, &news2_parts(v, scale)),
        ScoreKind::Mews => tally_parts(kind, &mews_parts(v)),
        ScoreKind::Qsofa => tally_parts(kind, &qsofa_parts(v)),
    }
}

type Parts<const N: usize> = [(Param, Option<u8>); N];

fn tally_parts(kind: ScoreKind, parts: &[(Param, Option<u8>)]) -> Tally {
    let mut total = 0u8;
    let mut max_part = 0u8;
    let mut used = 0u8;
    for (_, p) in parts {
        if let Some(p) = p {
            total += p;
            max_part = max_part.max(*p);
            used += 1;
        }
    }
    Tally {
        total,
        max_part,
        used,
        complete: usize::from(used) == parts.len(),
        level: level_of(kind, total, max_part),
    }
}

fn build(kind: ScoreKind, scale: Option<Spo2Scale>, parts: &[(Param, Option<u8>)]) -> Score {
    let t = tally_parts(kind, parts);
    Score {
        kind,
        scale,
        total: t.total,
        parts: parts
            .iter()
            .filter_map(|(k, p)| p.map(|p| (*k, p)))
            .collect(),
        used: parts
            .iter()
            .filter(|(_, p)| p.is_some())
            .map(|(k, _)| *k)
            .collect(),
        missing: parts
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(k, _)| *k)
            .collect(),
        complete: t.complete,
        level: t.level,
    }
}

fn level_of(kind: ScoreKind, total: u8, max_part: u8) -> Level {
    match kind {
        ScoreKind::News2 => {
            if total >= 7 {
                Level::High
            } else if total >= 5 {
                Level::Medium
            } else if max_part >= 3 {
                Level::LowMedium
            } else if total >= 1 {
                Level::Low
            } else {
                Level::Routine
            }
        }
        ScoreKind::Mews => {
            if total >= 5 {
                Level::High
            } else {
                Level::Routine
            }
        }
        ScoreKind::Qsofa => {
            if total >= 2 {
                Level::High
            } else {
                Level::Routine
            }
        }
    }
}

fn news2_parts(v: &Vitals, scale: Spo2Scale) -> Parts<7> {
    let spo2 = v.spo2.and_then(|s| match scale {
        Spo2Scale::Scale1 => Some(news2_spo2_scale1(s)),
        Spo2Scale::Scale2 => news2_spo2_scale2(s, v.on_oxygen),
    });
    [
        (Param::Respiration, v.respiration.map(news2_respiration)),
        (Param::Spo2, spo2),
        (
            Param::AirOrOxygen,
            v.on_oxygen.map(|o| if o { 2 } else { 0 }),
        ),
        (Param::Systolic, v.systolic.map(news2_systolic)),
        (Param::HeartRate, v.heart_rate.map(news2_pulse)),
        (
            Param::Consciousness,
            v.consciousness.map(news2_consciousness),
        ),
        (Param::Temperature, v.temperature.map(news2_temperature)),
    ]
}

fn mews_parts(v: &Vitals) -> Parts<5> {
    [
        (Param::Systolic, v.systolic.map(mews_systolic)),
        (Param::HeartRate, v.heart_rate.map(mews_heart_rate)),
        (Param::Respiration, v.respiration.map(mews_respiration)),
        (Param::Temperature, v.temperature.map(mews_temperature)),
        (Param::Consciousness, v.consciousness.map(mews_avpu)),
    ]
}

fn qsofa_parts(v: &Vitals) -> Parts<3> {
    [
        (
            Param::Respiration,
            v.respiration.map(|r| u8::from(r >= 22.0)),
        ),
        (
            Param::Consciousness,
            v.consciousness.map(|c| u8::from(c != Avpu::Alert)),
        ),
        (Param::Systolic, v.systolic.map(|s| u8::from(s <= 100.0))),
    ]
}

// NEWS2 — each abnormal band scores once the value reaches its printed edge.

fn news2_respiration(r: f64) -> u8 {
    if r <= 8.0 {
        3
    } else if r <= 11.0 {
        1
    } else if r >= 25.0 {
        3
    } else if r >= 21.0 {
        2
    } else {
        0
    }
}

fn news2_spo2_scale1(s: f64) -> u8 {
    if s <= 91.0 {
        3
    } else if s <= 93.0 {
        2
    } else if s <= 95.0 {
        1
    } else {
        0
    }
}

/// Scale 2: at ≥ 93 % the points depend on oxygen; unknown oxygen leaves SpO2 unscored.
fn news2_spo2_scale2(s: f64, on_oxygen: Option<bool>) -> Option<u8> {
    if s <= 83.0 {
        Some(3)
    } else if s <= 85.0 {
        Some(2)
    } else if s <= 87.0 {
        Some(1)
    } else if s < 93.0 {
        Some(0)
    } else {
        match on_oxygen {
            None => None,
            Some(false) => Some(0),
            Some(true) if s >= 97.0 => Some(3),
            Some(true) if s >= 95.0 => Some(2),
            Some(true) => Some(1),
        }
    }
}

fn news2_systolic(s: f64) -> u8 {
    if s <= 90.0 {
        3
    } else if s <= 100.0 {
        2
    } else if s <= 110.0 {
        1
    } else if s >= 220.0 {
        3
    } else {
        0
    }
}

fn news2_pulse(p: f64) -> u8 {
    if p <= 40.0 {
        3
    } else if p <= 50.0 {
        1
    } else if p >= 131.0 {
        3
    } else if p >= 111.0 {
        2
    } else if p >= 91.0 {
        1
    } else {
        0
    }
}

fn news2_consciousness(c: Avpu) -> u8 {
    if c == Avpu::Alert { 0 } else { 3 }
}

fn news2_temperature(t: f64) -> u8 {
    if t <= 35.0 {
        3
    } else if t <= 36.0 {
        1
    } else if t >= 39.1 {
        2
    } else if t >= 38.1 {
        1
    } else {
        0
    }
}

// MEWS

fn mews_systolic(s: f64) -> u8 {
    if s <= 70.0 {
        3
    } else if s <= 80.0 {
        2
    } else if s <= 100.0 {
        1
    } else if s >= 200.0 {
        2
    } else {
        0
    }
}

fn mews_heart_rate(h: f64) -> u8 {
    if h < 40.0 {
        2
    } else if h <= 50.0 {
        1
    } else if h >= 130.0 {
        3
    } else if h >= 111.0 {
        2
    } else if h >= 101.0 {
        1
    } else {
        0
    }
}

fn mews_respiration(r: f64) -> u8 {
    if r < 9.0 {
        2
    } else if r >= 30.0 {
        3
    } else if r >= 21.0 {
        2
    } else if r >= 15.0 {
        1
    } else {
        0
    }
}

fn mews_temperature(t: f64) -> u8 {
    if (35.0..38.5).contains(&t) { 0 } else { 2 }
}

/// AVPU: A 0, V 1, P 2, U 3. MEWS predates the "new confusion" of ACVPU; a new confusion is
/// scored like V (1), as later MEWS charts do ("confused / responds to voice").
fn mews_avpu(c: Avpu) -> u8 {
    match c {
        Avpu::Alert => 0,
        Avpu::NewConfusion | Avpu::Voice => 1,
        Avpu::Pain => 2,
        Avpu::Unresponsive => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks a parameter function on a table of (value, points). The tables below list
    /// both sides of every printed edge plus values between bands.
    fn table(name: &str, f: impl Fn(f64) -> u8, rows: &[(f64, u8)]) {
        for &(v, want) in rows {
            assert_eq!(f(v), want, "{name}({v})");
        }
    }

    #[test]
    fn news2_respiration_bands() {
        table(
            "news2_respiration",
            news2_respiration,
            &[
                (3.0, 3),
                (8.0, 3),
                (8.5, 1),
                (9.0, 1),
                (11.0, 1),
                (11.5, 0),
                (12.0, 0),
                (20.0, 0),
                (20.5, 0),
                (21.0, 2),
                (24.0, 2),
                (24.5, 2),
                (25.0, 3),
                (60.0, 3),
            ],
        );
    }

    #[test]
    fn news2_spo2_scale1_bands() {
        table(
            "news2_spo2_scale1",
            news2_spo2_scale1,
            &[
                (50.0, 3),
                (91.0, 3),
                (91.5, 2),
                (92.0, 2),
                (93.0, 2),
                (93.5, 1),
                (94.0, 1),
                (95.0, 1),
                (95.5, 0),
                (96.0, 0),
                (100.0, 0),
            ],
        );
    }

    #[test]
    fn news2_spo2_scale2_bands() {
        // (spo2, on oxygen, points)
        let rows: &[(f64, Option<bool>, Option<u8>)] = &[
            (83.0, None, Some(3)),
            (83.5, None, Some(2)),
            (84.0, Some(true), Some(2)),
            (85.0, Some(false), Some(2)),
            (85.5, None, Some(1)),
            (86.0, None, Some(1)),
            (87.0, Some(true), Some(1)),
            (87.5, None, Some(0)),
            (88.0, None, Some(0)),
            (92.0, Some(true), Some(0)),
            (92.0, Some(false), Some(0)),
            (92.5, Some(true), Some(0)),
            (93.0, Some(false), Some(0)),
            (100.0, Some(false), Some(0)),
            (93.0, Some(true), Some(1)),
            (94.0, Some(true), Some(1)),
            (94.5, Some(true), Some(1)),
            (95.0, Some(true), Some(2)),
            (96.0, Some(true), Some(2)),
            (96.5, Some(true), Some(2)),
            (97.0, Some(true), Some(3)),
            (100.0, Some(true), Some(3)),
            (93.0, None, None),
            (99.0, None, None),
        ];
        for &(s, o, want) in rows {
            assert_eq!(news2_spo2_scale2(s, o), want, "scale2({s}, {o:?})");
        }
    }

    #[test]
    fn news2_systolic_bands() {
        table(
            "news2_systolic",
            news2_systolic,
            &[
                (40.0, 3),
                (90.0, 3),
                (90.5, 2),
                (91.0, 2),
                (100.0, 2),
                (100.5, 1),
                (101.0, 1),
                (110.0, 1),
                (110.5, 0),
                (111.0, 0),
                (219.0, 0),
                (219.5, 0),
                (220.0, 3),
                (300.0, 3),
            ],
        );
    }

    #[test]
    fn news2_pulse_bands() {
        table(
            "news2_pulse",
            news2_pulse,
            &[
                (20.0, 3),
                (40.0, 3),
                (40.5, 1),
                (41.0, 1),
                (50.0, 1),
                (50.5, 0),
                (51.0, 0),
                (90.0, 0),
                (90.5, 0),
                (91.0, 1),
                (110.0, 1),
                (110.5, 1),
                (111.0, 2),
                (130.0, 2),
                (130.5, 2),
                (131.0, 3),
                (250.0, 3),
            ],
        );
    }

    #[test]
    fn news2_temperature_bands_in_tenths() {
        table(
            "news2_temperature",
            news2_temperature,
            &[
                (30.0, 3),
                (35.0, 3),
                (35.05, 1),
                (35.1, 1),
                (36.0, 1),
                (36.05, 0),
                (36.1, 0),
                (38.0, 0),
                (38.05, 0),
                (38.1, 1),
                (39.0, 1),
                (39.05, 1),
                (39.1, 2),
                (42.0, 2),
            ],
        );
    }

    #[test]
    fn news2_consciousness_and_oxygen() {
        assert_eq!(news2_consciousness(Avpu::Alert), 0);
        for c in [
            Avpu::NewConfusion,
            Avpu::Voice,
            Avpu::Pain,
            Avpu::Unresponsive,
        ] {
            assert_eq!(news2_consciousness(c), 3, "{c:?}");
        }
        let on = news2(
            &Vitals {
                on_oxygen: Some(true),
                ..Vitals::default()
            },
            Spo2Scale::Scale1,
        );
        assert_eq!(on.parts, vec![(Param::AirOrOxygen, 2)]);
        let air = news2(
            &Vitals {
                on_oxygen: Some(false),
                ..Vitals::default()
            },
            Spo2Scale::Scale1,
        );
        assert_eq!(air.parts, vec![(Param::AirOrOxygen, 0)]);
    }

    #[test]
    fn mews_systolic_bands() {
        table(
            "mews_systolic",
            mews_systolic,
            &[
                (40.0, 3),
                (70.0, 3),
                (70.5, 2),
                (71.0, 2),
                (80.0, 2),
                (80.5, 1),
                (81.0, 1),
                (100.0, 1),
                (100.5, 0),
                (101.0, 0),
                (199.0, 0),
                (199.5, 0),
                (200.0, 2),
                (280.0, 2),
            ],
        );
    }

    #[test]
    fn mews_heart_rate_bands() {
        table(
            "mews_heart_rate",
            mews_heart_rate,
            &[
                (20.0, 2),
                (39.0, 2),
                (39.9, 2),
                (40.0, 1), // the table has <40 and 41–50: 40 scores with 41–50
                (41.0, 1),
                (50.0, 1),
                (50.5, 0),
                (51.0, 0),
                (100.0, 0),
                (100.5, 0),
                (101.0, 1),
                (110.0, 1),
                (110.5, 1),
                (111.0, 2),
                (129.0, 2),
                (129.5, 2),
                (130.0, 3),
                (200.0, 3),
            ],
        );
    }

    #[test]
    fn mews_respiration_bands() {
        table(
            "mews_respiration",
            mews_respiration,
            &[
                (3.0, 2),
                (8.0, 2),
                (8.9, 2),
                (9.0, 0),
                (14.0, 0),
                (14.5, 0),
                (15.0, 1),
                (20.0, 1),
                (20.5, 1),
                (21.0, 2),
                (29.0, 2),
                (29.5, 2),
                (30.0, 3),
                (50.0, 3),
            ],
        );
    }

    #[test]
    fn mews_temperature_bands() {
        table(
            "mews_temperature",
            mews_temperature,
            &[
                (30.0, 2),
                (34.9, 2),
                (35.0, 0),
                (38.4, 0),
                (38.45, 0),
                (38.5, 2),
                (41.0, 2),
            ],
        );
    }

    #[test]
    fn mews_avpu_points() {
        for (c, p) in [
            (Avpu::Alert, 0),
            (Avpu::NewConfusion, 1),
            (Avpu::Voice, 1),
            (Avpu::Pain, 2),
            (Avpu::Unresponsive, 3),
        ] {
            assert_eq!(mews_avpu(c), p, "{c:?}");
        }
    }

    #[test]
    fn qsofa_edges() {
        let one = |v: Vitals| qsofa(&v).total;
        for (rr, p) in [(21.0, 0), (21.5, 0), (22.0, 1), (30.0, 1)] {
            assert_eq!(
                one(Vitals {
                    respiration: Some(rr),
                    ..Vitals::default()
                }),
                p,
                "rr {rr}"
            );
        }
        for (sbp, p) in [(100.0, 1), (100.5, 0), (101.0, 0), (90.0, 1)] {
            assert_eq!(
                one(Vitals {
                    systolic: Some(sbp),
                    ..Vitals::default()
                }),
                p,
                "sbp {sbp}"
            );
        }
        for c in Avpu::ALL {
            assert_eq!(
                one(Vitals {
                    consciousness: Some(c),
                    ..Vitals::default()
                }),
                u8::from(c != Avpu::Alert),
                "{c:?}"
            );
        }
    }

    fn full(rr: f64, spo2: f64, o2: bool, sbp: f64, hr: f64, c: Avpu, t: f64) -> Vitals {
        Vitals {
            respiration: Some(rr),
            spo2: Some(spo2),
            on_oxygen: Some(o2),
            systolic: Some(sbp),
            heart_rate: Some(hr),
            consciousness: Some(c),
            temperature: Some(t),
            ..Vitals::default()
        }
    }

    #[test]
    fn news2_levels_follow_the_clinical_response() {
        // (vitals, total, level)
        let rows = [
            (
                full(16.0, 98.0, false, 120.0, 70.0, Avpu::Alert, 37.0),
                0,
                Level::Routine,
            ),
            (
                full(16.0, 95.0, false, 120.0, 70.0, Avpu::Alert, 37.0),
                1,
                Level::Low,
            ),
            (
                full(22.0, 94.0, false, 105.0, 70.0, Avpu::Alert, 37.0),
                4,
                Level::Low,
            ),
            // a single 3 (respiration 8) with total 3
            (
                full(8.0, 98.0, false, 120.0, 70.0, Avpu::Alert, 37.0),
                3,
                Level::LowMedium,
            ),
            // a single 3 (new confusion) with total 4
            (
                full(16.0, 95.0, false, 120.0, 70.0, Avpu::NewConfusion, 37.0),
                4,
                Level::LowMedium,
            ),
            // total 5 with a single 3 is urgent, not low-medium
            (
                full(16.0, 91.0, true, 120.0, 70.0, Avpu::Alert, 37.0),
                5,
                Level::Medium,
            ),
            (
                full(21.0, 93.0, false, 105.0, 70.0, Avpu::Alert, 37.0),
                5,
                Level::Medium,
            ),
            (
                full(21.0, 93.0, false, 100.0, 70.0, Avpu::Alert, 37.0),
                6,
                Level::Medium,
            ),
            (
                full(21.0, 93.0, true, 100.0, 70.0, Avpu::Alert, 37.0),
                8,
                Level::High,
            ),
            (
                full(21.0, 93.0, false, 100.0, 91.0, Avpu::Alert, 37.0),
                7,
                Level::High,
            ),
            (
                full(8.0, 80.0, true, 80.0, 140.0, Avpu::Unresponsive, 34.0),
                20,
                Level::High,
            ),
        ];
        for (v, total, level) in rows {
            let s = news2(&v, Spo2Scale::Scale1);
            assert!(s.complete, "{v:?}");
            assert!(s.missing.is_empty());
            assert_eq!(s.used.len(), 7);
            assert_eq!((s.total, s.level), (total, level), "{v:?}");
            assert_eq!(
                s.parts.iter().map(|(_, p)| u32::from(*p)).sum::<u32>(),
                u32::from(total)
            );
            let t = tally(ScoreKind::News2, &v, Spo2Scale::Scale1);
            assert_eq!(
                (t.total, t.level, t.complete, t.used),
                (total, level, true, 7)
            );
        }
    }

    #[test]
    fn partial_scores_name_used_and_missing_parameters() {
        let band = Vitals {
            heart_rate: Some(112.0),
            spo2: Some(95.0),
            temperature: Some(38.2),
            ..Vitals::default()
        };
        let s = news2(&band, Spo2Scale::Scale1);
        assert!(!s.complete);
        assert_eq!(s.total, 4);
        assert_eq!(s.level, Level::Low);
        assert_eq!(
            s.parts,
            vec![
                (Param::Spo2, 1),
                (Param::HeartRate, 2),
                (Param::Temperature, 1)
            ]
        );
        assert_eq!(
            s.used,
            vec![Param::Spo2, Param::HeartRate, Param::Temperature]
        );
        assert_eq!(
            s.missing,
            vec![
                Param::Respiration,
                Param::AirOrOxygen,
                Param::Systolic,
                Param::Consciousness
            ]
        );
        assert_eq!(
            s.summary(),
            "NEWS2部分评分 4分 · 低风险（仅依据血氧饱和度、心率、体温；缺少呼吸频率、吸氧、收缩压、意识水平）"
        );
        let m = mews(&band);
        assert_eq!(
            (m.total, m.complete, m.used.len(), m.missing.len()),
            (2, false, 2, 3)
        );
        let q = qsofa(&band);
        assert_eq!((q.total, q.complete, q.used.len()), (0, false, 0));
        assert_eq!(
            q.summary(),
            "qSOFA部分评分 0分 · 未达高风险（仅依据无；缺少呼吸频率、意识水平、收缩压）"
        );
    }

    #[test]
    fn implausible_values_are_not_scored() {
        let v = Vitals {
            heart_rate: Some(0.0),
            spo2: Some(97.0),
            ..Vitals::default()
        };
        let s = news2(&v, Spo2Scale::Scale1);
        assert_eq!(s.used, vec![Param::Spo2]);
        assert!(s.missing.contains(&Param::HeartRate));
    }

    #[test]
    fn scale2_needs_oxygen_above_92() {
        let v = Vitals {
            spo2: Some(96.0),
            ..Vitals::default()
        };
        let s = news2(&v, Spo2Scale::Scale2);
        assert_eq!(s.scale, Some(Spo2Scale::Scale2));
        assert!(s.missing.contains(&Param::Spo2));
        assert!(s.missing.contains(&Param::AirOrOxygen));
        // the same value on scale 1 is scored
        assert!(news2(&v, Spo2Scale::Scale1).used.contains(&Param::Spo2));
        // on oxygen at 96 %: scale 2 gives 2 (SpO2) + 2 (oxygen)
        let o = Vitals {
            spo2: Some(96.0),
            on_oxygen: Some(true),
            ..Vitals::default()
        };
        assert_eq!(news2(&o, Spo2Scale::Scale2).total, 4);
        assert_eq!(news2(&o, Spo2Scale::Scale1).total, 2);
        // 90 % is the target range on scale 2 and 3 points on scale 1
        let low = Vitals {
            spo2: Some(90.0),
            on_oxygen: Some(false),
            ..Vitals::default()
        };
        assert_eq!(news2(&low, Spo2Scale::Scale2).total, 0);
        assert_eq!(news2(&low, Spo2Scale::Scale1).total, 3);
    }

    #[test]
    fn mews_and_qsofa_levels() {
        for (v, total, level) in [
            (
                full(14.0, 98.0, false, 120.0, 70.0, Avpu::Alert, 37.0),
                0,
                Level::Routine,
            ),
            (
                full(21.0, 98.0, false, 90.0, 105.0, Avpu::Alert, 37.0),
                4,
                Level::Routine,
            ),
            (
                full(21.0, 98.0, false, 90.0, 111.0, Avpu::Alert, 37.0),
                5,
                Level::High,
            ),
            (
                full(30.0, 98.0, false, 70.0, 130.0, Avpu::Unresponsive, 34.0),
                14,
                Level::High,
            ),
        ] {
            let s = mews(&v);
            assert!(s.complete);
            assert_eq!((s.total, s.level), (total, level), "{v:?}");
        }
        for (v, total, level) in [
            (
                full(21.0, 98.0, false, 101.0, 70.0, Avpu::Alert, 37.0),
                0,
                Level::Routine,
            ),
            (
                full(22.0, 98.0, false, 101.0, 70.0, Avpu::Alert, 37.0),
                1,
                Level::Routine,
            ),
            (
                full(22.0, 98.0, false, 100.0, 70.0, Avpu::Alert, 37.0),
                2,
                Level::High,
            ),
            (
                full(22.0, 98.0, false, 100.0, 70.0, Avpu::Voice, 37.0),
                3,
                Level::High,
            ),
        ] {
            let s = qsofa(&v);
            assert!(s.complete);
            assert_eq!((s.total, s.level), (total, level), "{v:?}");
        }
    }

    #[test]
    fn labels_and_responses() {
        let mut s = news2(&Vitals::default(), Spo2Scale::Scale1);
        let want = [
            (Level::Routine, "常规", "至少每12小时监测一次"),
            (
                Level::Low,
                "低风险",
                "至少每4–6小时监测一次，由病区责任护士评估",
            ),
            (
                Level::LowMedium,
                "低-中风险（单项3分）",
                "至少每小时监测一次，通知医疗团队复核",
            ),
            (
                Level::Medium,
                "中风险（紧急）",
                "至少每小时监测一次，由具备急症处置能力的医生紧急评估，转入有监护条件的环境",
            ),
            (
                Level::High,
                "高风险（紧急抢救）",
                "持续监测生命体征，通知重症团队紧急评估，考虑转入HDU/ICU",
            ),
        ];
        for (level, label, response) in want {
            s.level = level;
            assert_eq!((s.label(), s.response()), (label, response));
        }
        let mut m = mews(&Vitals::default());
        assert_eq!(m.label(), "未达高风险");
        m.level = Level::High;
        assert_eq!(m.label(), "高风险");
        let v = full(22.0, 98.0, false, 100.0, 91.0, Avpu::Alert, 37.0);
        assert_eq!(qsofa(&v).summary(), "qSOFA 2分 · 高风险");
        assert_eq!(
            news2(&v, Spo2Scale::Scale1).summary(),
            "NEWS2 5分 · 中风险（紧急）"
        );
    }

    #[test]
    fn kinds_codes_and_maxima() {
        for k in ScoreKind::ALL {
            assert_eq!(ScoreKind::from_code(k.code()), Some(k));
            let worst = full(30.0, 80.0, true, 60.0, 150.0, Avpu::Unresponsive, 30.0);
            let s = score(k, &worst, Spo2Scale::Scale1);
            assert_eq!(s.total, k.max_total(), "{k:?}");
            assert_eq!(s.used.len(), k.params().len());
        }
        assert_eq!(
            serde_json::to_string(&Spo2Scale::Scale2).unwrap(),
            "\"scale2\""
        );
        assert_eq!(ScoreKind::from_code("news"), None);
    }
}
