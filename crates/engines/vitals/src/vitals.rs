//! Vital-sign measurements ([`Vitals`]), what they measure ([`Metric`]), the level of
//! consciousness ([`Avpu`]) and plausibility checks.
//!
//! # Plausible ranges
//!
//! A value outside these inclusive ranges cannot be a human measurement and is reported by
//! [`Vitals::check`] (the device is off the wrist, a sensor glitched, a unit was mixed up).
//! The ranges are deliberately wide — they reject impossible values, not abnormal ones:
//!
//! | Metric | Range | Why |
//! |---|---|---|
//! | heart rate | 20–300 次/分 | below 20 there is no measurable pulse on a band; 300 covers infant and SVT rates |
//! | SpO2 | 50–100 % | above 100 impossible; pulse oximeters are not calibrated far below 70, 50 leaves margin |
//! | systolic | 40–300 mmHg | cuff devices measure 40–300 at most (ISO 81060-2 devices typically 40–280) |
//! | diastolic | 20–200 mmHg | and below the systolic pressure of the same reading |
//! | temperature | 25.0–45.0 ℃ | deep hypothermia to lethal hyperthermia; band skin sensors stay well inside |
//! | respiration | 3–80 次/分 | agonal breathing to neonatal tachypnoea |
//! | glucose | 0.5–55.5 mmol/L | 55.5 mmol/L = 1000 mg/dL, the usual reporting ceiling of laboratories |
//! | steps | 0–100000 步 | a day's count |

use crate::problem::{Problem, fmt_num};
use serde::{Deserialize, Serialize};

/// What a measurement measures.
///
/// Serialised with [`Metric::code`] (`heart_rate`, `spo2`, …); the MQTT uplink uses the
/// shorter [`Metric::wire`] keys (`hr`, `spo2`, `sbp`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Heart rate (pulse), beats per minute.
    HeartRate,
    /// Peripheral oxygen saturation, percent.
    Spo2,
    /// Systolic blood pressure, mmHg.
    Systolic,
    /// Diastolic blood pressure, mmHg.
    Diastolic,
    /// Body temperature, degrees Celsius.
    Temperature,
    /// Respiration rate, breaths per minute.
    Respiration,
    /// Blood glucose, mmol/L.
    Glucose,
    /// Step count (a day's total).
    Steps,
}

impl Metric {
    /// Every metric, in the order of [`Metric::index`].
    pub const ALL: [Metric; 8] = [
        Metric::HeartRate,
        Metric::Spo2,
        Metric::Systolic,
        Metric::Diastolic,
        Metric::Temperature,
        Metric::Respiration,
        Metric::Glucose,
        Metric::Steps,
    ];

    /// Position in [`Metric::ALL`] (0–7), for arrays indexed by metric.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Stable code (`heart_rate`, `spo2`, `systolic`, `diastolic`, `temperature`,
    /// `respiration`, `glucose`, `steps`), used in rules and storage.
    pub const fn code(self) -> &'static str {
        match self {
            Metric::HeartRate => "heart_rate",
            Metric::Spo2 => "spo2",
            Metric::Systolic => "systolic",
            Metric::Diastolic => "diastolic",
            Metric::Temperature => "temperature",
            Metric::Respiration => "respiration",
            Metric::Glucose => "glucose",
            Metric::Steps => "steps",
        }
    }

    /// Key in the MQTT uplink (`hr`, `spo2`, `sbp`, `dbp`, `temp`, `rr`, `glu`, `steps`).
    pub const fn wire(self) -> &'static str {
        match self {
            Metric::HeartRate => "hr",
            Metric::Spo2 => "spo2",
            Metric::Systolic => "sbp",
            Metric::Diastolic => "dbp",
            Metric::Temperature => "temp",
            Metric::Respiration => "rr",
            Metric::Glucose => "glu",
            Metric::Steps => "steps",
        }
    }

    /// zh-CN label (心率, 血氧饱和度, …).
    pub const fn label(self) -> &'static str {
        match self {
            Metric::HeartRate => "心率",
            Metric::Spo2 => "血氧饱和度",
            Metric::Systolic => "收缩压",
            Metric::Diastolic => "舒张压",
            Metric::Temperature => "体温",
            Metric::Respiration => "呼吸频率",
            Metric::Glucose => "血糖",
            Metric::Steps => "步数",
        }
    }

    /// Unit as people write it (次/分, %, mmHg, ℃, mmol/L, 步).
    pub const fn unit(self) -> &'static str {
        match self {
            Metric::HeartRate | Metric::Respiration => "次/分",
            Metric::Spo2 => "%",
            Metric::Systolic | Metric::Diastolic => "mmHg",
            Metric::Temperature => "℃",
            Metric::Glucose => "mmol/L",
            Metric::Steps => "步",
        }
    }

    /// Physiologically possible range, inclusive (see the module documentation).
    pub const fn range(self) -> (f64, f64) {
        match self {
            Metric::HeartRate => (20.0, 300.0),
            Metric::Spo2 => (50.0, 100.0),
            Metric::Systolic => (40.0, 300.0),
            Metric::Diastolic => (20.0, 200.0),
            Metric::Temperature => (25.0, 45.0),
            Metric::Respiration => (3.0, 80.0),
            Metric::Glucose => (0.5, 55.5),
            Metric::Steps => (0.0, 100_000.0),
        }
    }

    /// Whether `v` is a finite number inside [`Metric::range`].
    pub fn plausible(self, v: f64) -> bool {
        let (lo, hi) = self.range();
        v.is_finite() && v >= lo && v <= hi
    }

    /// The metric with this [`Metric::code`].
    pub fn from_code(code: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The metric with this uplink key ([`Metric::wire`]).
    pub fn from_wire(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.wire() == key)
    }

    /// A value with its unit, spaced as written in Chinese text: `97%`, `36.5℃`,
    /// `72次/分`, `120 mmHg`, `5.6 mmol/L`.
    pub fn format(self, v: f64) -> String {
        let n = fmt_num(v);
        match self {
            Metric::Systolic | Metric::Diastolic | Metric::Glucose => {
                format!("{n} {}", self.unit())
            }
            _ => format!("{n}{}", self.unit()),
        }
    }
}

/// Level of consciousness on the ACVPU scale used by NEWS2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Avpu {
    /// Alert (清醒).
    Alert,
    /// New confusion (新发意识混乱).
    NewConfusion,
    /// Responds to voice (对声音有反应).
    Voice,
    /// Responds to pain (对疼痛有反应).
    Pain,
    /// Unresponsive (无反应).
    Unresponsive,
}

impl Avpu {
    /// Every level, from alert to unresponsive.
    pub const ALL: [Avpu; 5] = [
        Avpu::Alert,
        Avpu::NewConfusion,
        Avpu::Voice,
        Avpu::Pain,
        Avpu::Unresponsive,
    ];

    /// Stable code (`alert`, `new_confusion`, `voice`, `pain`, `unresponsive`).
    pub const fn code(self) -> &'static str {
        match self {
            Avpu::Alert => "alert",
            Avpu::NewConfusion => "new_confusion",
            Avpu::Voice => "voice",
            Avpu::Pain => "pain",
            Avpu::Unresponsive => "unresponsive",
        }
    }

    /// zh-CN label.
    pub const fn label(self) -> &'static str {
        match self {
            Avpu::Alert => "清醒",
            Avpu::NewConfusion => "新发意识混乱",
            Avpu::Voice => "对声音有反应",
            Avpu::Pain => "对疼痛有反应",
            Avpu::Unresponsive => "无反应",
        }
    }

    /// The level with this code.
    pub fn from_code(code: &str) -> Option<Avpu> {
        Avpu::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// One set of measurements of one person at one time; every field is optional because
/// devices measure different things (a band: pulse, SpO2, temperature; a cuff: blood
/// pressure; staff: respiration, consciousness, oxygen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Vitals {
    /// Heart rate (pulse), 次/分.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heart_rate: Option<f64>,
    /// SpO2, %.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spo2: Option<f64>,
    /// Systolic blood pressure, mmHg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systolic: Option<f64>,
    /// Diastolic blood pressure, mmHg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diastolic: Option<f64>,
    /// Temperature, ℃.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Respiration rate, 次/分.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respiration: Option<f64>,
    /// Blood glucose, mmol/L.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glucose: Option<f64>,
    /// Steps (a day's total).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    /// Whether the person breathes supplemental oxygen (entered by staff; NEWS2 "air or oxygen").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_oxygen: Option<bool>,
    /// Level of consciousness (entered by staff).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consciousness: Option<Avpu>,
}

impl Vitals {
    /// The value of one metric, if measured.
    pub fn get(&self, m: Metric) -> Option<f64> {
        match m {
            Metric::HeartRate => self.heart_rate,
            Metric::Spo2 => self.spo2,
            Metric::Systolic => self.systolic,
            Metric::Diastolic => self.diastolic,
            Metric::Temperature => self.temperature,
            Metric::Respiration => self.respiration,
            Metric::Glucose => self.glucose,
            Metric::Steps => self.steps.map(f64::from),
        }
    }

    /// Sets one metric. A step count is stored only when it is a whole number in
    /// 0..=u32::MAX; anything else clears it.
    pub fn set(&mut self, m: Metric, v: Option<f64>) {
        match m {
            Metric::HeartRate => self.heart_rate = v,
            Metric::Spo2 => self.spo2 = v,
            Metric::Systolic => self.systolic = v,
            Metric::Diastolic => self.diastolic = v,
            Metric::Temperature => self.temperature = v,
            Metric::Respiration => self.respiration = v,
            Metric::Glucose => self.glucose = v,
            Metric::Steps => {
                self.steps = v
                    .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x <= f64::from(u32::MAX))
                    .map(|x| x as u32)
            }
        }
    }

    /// The measured metrics with their values, in [`Metric::ALL`] order.
    pub fn measured(&self) -> impl Iterator<Item = (Metric, f64)> + '_ {
        Metric::ALL
            .into_iter()
            .filter_map(|m| self.get(m).map(|v| (m, v)))
    }

    /// Whether nothing at all is present (no metric, no oxygen, no consciousness).
    pub fn is_empty(&self) -> bool {
        self.measured().next().is_none() && self.on_oxygen.is_none() && self.consciousness.is_none()
    }

    /// Checks every measured value against its physiologically possible range (see the
    /// module documentation) and the diastolic pressure against the systolic one.
    /// Reports every problem at once, in [`Metric::ALL`] order; `field` is the metric code.
    ///
    /// ```
    /// use yiyang_vitals::Vitals;
    /// let v = Vitals { spo2: Some(140.0), ..Vitals::default() };
    /// let problems = v.check().unwrap_err();
    /// assert_eq!(problems[0].message, "血氧饱和度 140% 超出可能范围（50–100%）");
    /// ```
    pub fn check(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        for (m, v) in self.measured() {
            if let Some(message) = range_problem(m, v) {
                problems.push(Problem::new(m.code(), fmt_num(v), message));
            }
        }
        if let (Some(s), Some(d)) = (self.systolic, self.diastolic)
            && Metric::Systolic.plausible(s)
            && Metric::Diastolic.plausible(d)
            && d >= s
        {
            problems.push(Problem::new(
                Metric::Diastolic.code(),
                fmt_num(d),
                format!(
                    "舒张压 {} 应低于收缩压 {}",
                    Metric::Diastolic.format(d),
                    Metric::Systolic.format(s)
                ),
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// A copy without the values [`Vitals::check`] would report: implausible values are
    /// dropped, and when the diastolic pressure is not below the systolic one both are
    /// dropped (which of the two is wrong cannot be told). Scores and rules use this.
    pub fn plausible(&self) -> Vitals {
        let mut out = *self;
        for m in Metric::ALL {
            if let Some(v) = self.get(m)
                && !m.plausible(v)
            {
                out.set(m, None);
            }
        }
        if let (Some(s), Some(d)) = (out.systolic, out.diastolic)
            && d >= s
        {
            out.systolic = None;
            out.diastolic = None;
        }
        out
    }
}

/// zh-CN message when `v` is not a possible value of `m`.
pub(crate) fn range_problem(m: Metric, v: f64) -> Option<String> {
    if !v.is_finite() {
        return Some(format!("{}的值不是有效数字", m.label()));
    }
    if m.plausible(v) {
        return None;
    }
    Some(format!(
        "{} {} 超出可能范围（{}）",
        m.label(),
        m.format(v),
        range_text(m)
    ))
}

/// The plausible range of `m` as text: `50–100%`, `40–300 mmHg`.
pub(crate) fn range_text(m: Metric) -> String {
    let (lo, hi) = m.range();
    match m {
        Metric::Systolic | Metric::Diastolic | Metric::Glucose => {
            format!("{}–{} {}", fmt_num(lo), fmt_num(hi), m.unit())
        }
        _ => format!("{}–{}{}", fmt_num(lo), fmt_num(hi), m.unit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_codes_labels_units_round_trip() {
        let want = [
            (Metric::HeartRate, "heart_rate", "hr", "心率", "次/分"),
            (Metric::Spo2, "spo2", "spo2", "血氧饱和度", "%"),
            (Metric::Systolic, "systolic", "sbp", "收缩压", "mmHg"),
            (Metric::Diastolic, "diastolic", "dbp", "舒张压", "mmHg"),
            (Metric::Temperature, "temperature", "temp", "体温", "℃"),
            (
                Metric::Respiration,
                "respiration",
                "rr",
                "呼吸频率",
                "次/分",
            ),
            (Metric::Glucose, "glucose", "glu", "血糖", "mmol/L"),
            (Metric::Steps, "steps", "steps", "步数", "步"),
        ];
        for (i, (m, code, wire, label, unit)) in want.into_iter().enumerate() {
            assert_eq!(m.index(), i);
            assert_eq!(Metric::ALL[i], m);
            assert_eq!(m.code(), code);
            assert_eq!(m.wire(), wire);
            assert_eq!(m.label(), label);
            assert_eq!(m.unit(), unit);
            assert_eq!(Metric::from_code(code), Some(m));
            assert_eq!(Metric::from_wire(wire), Some(m));
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{code}\""));
        }
        assert_eq!(Metric::from_code("hr"), None);
        assert_eq!(Metric::from_wire("heart_rate"), None);
    }

    #[test]
    fn values_are_written_with_units_as_in_chinese_text() {
        assert_eq!(Metric::Spo2.format(97.0), "97%");
        assert_eq!(Metric::Temperature.format(36.5), "36.5℃");
        assert_eq!(Metric::HeartRate.format(72.0), "72次/分");
        assert_eq!(Metric::Systolic.format(120.0), "120 mmHg");
        assert_eq!(Metric::Glucose.format(5.6), "5.6 mmol/L");
        assert_eq!(Metric::Steps.format(3021.0), "3021步");
    }

    #[test]
    fn avpu_codes_and_labels() {
        for a in Avpu::ALL {
            assert_eq!(Avpu::from_code(a.code()), Some(a));
            assert_eq!(
                serde_json::to_string(&a).unwrap(),
                format!("\"{}\"", a.code())
            );
            assert!(!a.label().is_empty());
        }
        assert_eq!(Avpu::NewConfusion.label(), "新发意识混乱");
        assert_eq!(Avpu::from_code("confused"), None);
    }

    /// Both sides of both edges of every range: the edge itself passes, a step beyond fails.
    #[test]
    fn plausibility_edges_of_every_metric() {
        let eps = [
            (Metric::HeartRate, 1.0),
            (Metric::Spo2, 0.1),
            (Metric::Systolic, 1.0),
            (Metric::Diastolic, 1.0),
            (Metric::Temperature, 0.1),
            (Metric::Respiration, 1.0),
            (Metric::Glucose, 0.1),
            (Metric::Steps, 1.0),
        ];
        for (m, step) in eps {
            let (lo, hi) = m.range();
            for (v, ok) in [
                (lo, true),
                (hi, true),
                (lo - step, false),
                (hi + step, false),
            ] {
                if m == Metric::Steps && v < 0.0 {
                    continue; // a u32 cannot be negative
                }
                let mut vit = Vitals::default();
                vit.set(m, Some(v));
                assert_eq!(vit.check().is_ok(), ok, "{m:?} {v}");
                assert_eq!(vit.plausible().get(m).is_some(), ok, "{m:?} {v}");
                if !ok {
                    let p = &vit.check().unwrap_err()[0];
                    assert_eq!(p.field, m.code());
                    assert_eq!(p.value, fmt_num(v));
                    assert!(p.message.contains("超出可能范围"), "{}", p.message);
                }
            }
        }
    }

    #[test]
    fn problem_messages_name_the_value_and_the_range() {
        let v = Vitals {
            heart_rate: Some(310.0),
            spo2: Some(140.0),
            systolic: Some(20.0),
            temperature: Some(f64::NAN),
            glucose: Some(60.0),
            ..Vitals::default()
        };
        let p = v.check().unwrap_err();
        let messages: Vec<_> = p
            .iter()
            .map(|p| (p.field.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            vec![
                ("heart_rate", "心率 310次/分 超出可能范围（20–300次/分）"),
                ("spo2", "血氧饱和度 140% 超出可能范围（50–100%）"),
                ("systolic", "收缩压 20 mmHg 超出可能范围（40–300 mmHg）"),
                ("temperature", "体温的值不是有效数字"),
                ("glucose", "血糖 60 mmol/L 超出可能范围（0.5–55.5 mmol/L）"),
            ]
        );
    }

    #[test]
    fn diastolic_must_be_below_systolic() {
        for (s, d, ok) in [
            (120.0, 80.0, true),
            (120.0, 119.0, true),
            (120.0, 120.0, false),
            (110.0, 120.0, false),
        ] {
            let v = Vitals {
                systolic: Some(s),
                diastolic: Some(d),
                ..Vitals::default()
            };
            assert_eq!(v.check().is_ok(), ok, "{s}/{d}");
            let p = v.plausible();
            assert_eq!(p.systolic.is_some(), ok);
            assert_eq!(p.diastolic.is_some(), ok);
        }
        let v = Vitals {
            systolic: Some(110.0),
            diastolic: Some(120.0),
            ..Vitals::default()
        };
        assert_eq!(
            v.check().unwrap_err()[0].message,
            "舒张压 120 mmHg 应低于收缩压 110 mmHg"
        );
        // An implausible systolic is reported for itself only, not compared.
        let v = Vitals {
            systolic: Some(500.0),
            diastolic: Some(90.0),
            ..Vitals::default()
        };
        let p = v.check().unwrap_err();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "systolic");
        assert_eq!(v.plausible().diastolic, Some(90.0));
    }

    #[test]
    fn steps_are_whole_numbers() {
        let mut v = Vitals::default();
        v.set(Metric::Steps, Some(1200.0));
        assert_eq!(v.steps, Some(1200));
        v.set(Metric::Steps, Some(12.5));
        assert_eq!(v.steps, None);
        v.set(Metric::Steps, Some(-1.0));
        assert_eq!(v.steps, None);
    }

    #[test]
    fn serde_skips_absent_fields_and_refuses_unknown_ones() {
        let v = Vitals {
            heart_rate: Some(72.0),
            consciousness: Some(Avpu::Alert),
            ..Vitals::default()
        };
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#"{"heart_rate":72.0,"consciousness":"alert"}"#);
        assert_eq!(serde_json::from_str::<Vitals>(&json).unwrap(), v);
        assert!(serde_json::from_str::<Vitals>(r#"{"hr":72}"#).is_err());
        assert!(Vitals::default().is_empty());
        assert!(!v.is_empty());
        assert!(
            !Vitals {
                on_oxygen: Some(false),
                ..Vitals::default()
            }
            .is_empty()
        );
    }
}
