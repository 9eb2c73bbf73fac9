//! One problem found while checking input: which field, the offending value and a zh-CN message.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A problem with one field of an input (a measurement, a rule, a zone, a payload item).
///
/// Checks in this crate report every problem of an input at once, so a caller can show
/// them all together (the platform's `Checks` takes `field` → `message` pairs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The field in English, as the input names it: a metric code (`spo2`), a payload key
    /// (`readings[3].ts`) or a rule path (`rules[2].condition.any[0].reading.value`).
    pub field: String,
    /// The offending value as text (empty when the value is absent).
    pub value: String,
    /// What is wrong, in zh-CN, for people.
    pub message: String,
}

impl Problem {
    /// A problem with `field` whose value was `value`.
    pub fn new(
        field: impl Into<String>,
        value: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            value: value.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}：{}", self.field, self.message)
        }
    }
}

/// A number as people read it: at most two decimals, no trailing zeros (`36.5`, `140`, `35.05`).
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".to_string()
        } else if v > 0.0 {
            "∞".to_string()
        } else {
            "-∞".to_string()
        };
    }
    let mut s = format!("{v:.2}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// A span of seconds as people say it: `45秒`, `10分钟`, `10分12秒`, `2小时`, `1小时5分`,
/// `7天`, `2天3小时`.
pub fn fmt_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m, s) {
        (0, 0, 0, s) => format!("{s}秒"),
        (0, 0, m, 0) => format!("{m}分钟"),
        (0, 0, m, s) => format!("{m}分{s}秒"),
        (0, h, 0, 0) => format!("{h}小时"),
        (0, h, m, _) => format!("{h}小时{m}分"),
        (d, 0, _, _) => format!("{d}天"),
        (d, h, _, _) => format!("{d}天{h}小时"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_people_read_them() {
        for (v, want) in [
            (140.0, "140"),
            (36.5, "36.5"),
            (35.05, "35.05"),
            (0.1 + 0.2, "0.3"),
            (-0.001, "0"),
            (-85.0, "-85"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "∞"),
        ] {
            assert_eq!(fmt_num(v), want, "{v}");
        }
    }

    #[test]
    fn display_puts_the_field_first() {
        let p = Problem::new("spo2", "140", "超出范围");
        assert_eq!(p.to_string(), "spo2：超出范围");
        assert_eq!(Problem::new("", "", "格式错误").to_string(), "格式错误");
    }

    #[test]
    fn durations_are_written_as_people_say_them() {
        for (secs, want) in [
            (0, "0秒"),
            (45, "45秒"),
            (60, "1分钟"),
            (612, "10分12秒"),
            (3600, "1小时"),
            (3900, "1小时5分"),
            (604_800, "7天"),
            (183_600, "2天3小时"),
            (-5, "0秒"),
        ] {
            assert_eq!(fmt_duration(secs), want);
        }
    }
}
