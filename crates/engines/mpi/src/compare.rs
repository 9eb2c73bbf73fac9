//! Comparison levels evaluated on pairs of normalised persons.
//!
//! A pair's level index for one comparison: `0` = null (a value is missing),
//! `1..=k` = the configured levels in order, `k + 1` = else (no level held).

use crate::config::{Comparison, Field, Level};
use crate::error::{Error, Result};
use crate::normalize::Date;
use crate::record::{Person, Schema, slot, text_initials, text_pinyin};
use crate::similarity::{
    common_upper_bound, jaro_winkler, jaro_winkler_upper_bound, osa_bounded, osa_within,
};

/// Level index meaning "a value is missing".
pub const NULL_LEVEL: u8 = 0;

#[derive(Debug, Clone)]
enum CLevel {
    Exact,
    Jw(f64),
    Lev(usize),
    SamePinyin,
    PinyinJw(f64),
    Initials,
    Prefix(usize),
    Swapped(usize),
    DateTransposed,
    DateYearSlip(u16),
    DateWithinDays(u32),
    DateTwoOfThree,
    NumericAbs(f64),
    Contains,
    IdTypo,
}

/// A comparison compiled against a schema.
#[derive(Debug, Clone)]
pub struct CompiledComparison {
    pub name: String,
    pub field: Field,
    pub slot: usize,
    pub tf_adjust: bool,
    /// Labels: `null`, configured levels…, `else`.
    pub labels: Vec<String>,
    levels: Vec<CLevel>,
    name_idx: Option<usize>,
    /// Largest Levenshtein bound among the levels.
    max_lev: usize,
}

/// Small char buffer: bytes for ASCII, chars otherwise.
enum Units<'a> {
    Bytes(&'a [u8]),
    Chars(Vec<char>),
}

fn units(s: &str) -> Units<'_> {
    if s.is_ascii() {
        Units::Bytes(s.as_bytes())
    } else {
        Units::Chars(s.chars().collect())
    }
}

fn jw_str(a: &str, b: &str) -> f64 {
    match (units(a), units(b)) {
        (Units::Bytes(x), Units::Bytes(y)) => jaro_winkler(x, y),
        (x, y) => {
            let xc: Vec<char> = match x {
                Units::Bytes(b) => b.iter().map(|&c| c as char).collect(),
                Units::Chars(c) => c,
            };
            let yc: Vec<char> = match y {
                Units::Bytes(b) => b.iter().map(|&c| c as char).collect(),
                Units::Chars(c) => c,
            };
            jaro_winkler(&xc, &yc)
        }
    }
}

/// OSA distance if at most `max` (with a cheap lower-bound reject for ASCII).
fn lev_bounded(a: &str, b: &str, max: usize) -> Option<usize> {
    if a.is_ascii() && b.is_ascii() {
        let (x, y) = (a.as_bytes(), b.as_bytes());
        if x.len().abs_diff(y.len()) > max {
            return None;
        }
        if x.len().max(y.len()) - common_upper_bound(x, y) > max {
            return None;
        }
        if max == 0 {
            return (x == y).then_some(0);
        }
        // distance: smallest k with osa_within(k); the last probe answers for max
        if osa_within(x, y, max) {
            osa_bounded(x, y, max)
        } else {
            None
        }
    } else {
        let ac: Vec<char> = a.chars().collect();
        let bc: Vec<char> = b.chars().collect();
        if ac.len().abs_diff(bc.len()) > max || !osa_within(&ac, &bc, max) {
            return None;
        }
        osa_bounded(&ac, &bc, max)
    }
}

impl CompiledComparison {
    pub fn compile(c: &Comparison, schema: &Schema) -> Result<Self> {
        let slot = schema
            .slot(&c.field)
            .ok_or_else(|| Error::Config(format!("unknown field `{}`", c.field)))?;
        let mut levels = Vec::new();
        for l in &c.levels {
            levels.push(match l {
                Level::Exact => CLevel::Exact,
                Level::JaroWinkler { min } => CLevel::Jw(*min),
                Level::Levenshtein { max } => CLevel::Lev(*max as usize),
                Level::SamePinyin => CLevel::SamePinyin,
                Level::PinyinJaroWinkler { min } => CLevel::PinyinJw(*min),
                Level::Initials => CLevel::Initials,
                Level::Prefix { len } => CLevel::Prefix(*len),
                Level::Swapped { with } => CLevel::Swapped(
                    schema
                        .slot(with)
                        .ok_or_else(|| Error::Config(format!("unknown field `{with}`")))?,
                ),
                Level::DateTransposed => CLevel::DateTransposed,
                Level::DateYearSlip { max_years } => CLevel::DateYearSlip(*max_years),
                Level::DateWithinDays { days } => CLevel::DateWithinDays(*days),
                Level::DateTwoOfThree => CLevel::DateTwoOfThree,
                Level::NumericAbs { max } => CLevel::NumericAbs(*max),
                Level::Contains => CLevel::Contains,
                Level::IdTypo => CLevel::IdTypo,
            });
        }
        let mut labels = vec!["null".to_string()];
        labels.extend(c.levels.iter().map(|l| l.label()));
        labels.push("else".into());
        let name_idx = match slot {
            slot::FULL_NAME => Some(0),
            slot::SURNAME => Some(1),
            slot::GIVEN_NAME => Some(2),
            _ => None,
        };
        Ok(CompiledComparison {
            name: c.name.clone(),
            field: c.field.clone(),
            slot,
            tf_adjust: c.tf_adjust,
            labels,
            max_lev: levels
                .iter()
                .map(|l| match l {
                    CLevel::Lev(m) => *m,
                    CLevel::IdTypo => 1,
                    _ => 0,
                })
                .max()
                .unwrap_or(0),
            levels,
            name_idx,
        })
    }

    /// Number of level indices including null and else.
    pub fn n_levels(&self) -> usize {
        self.levels.len() + 2
    }

    /// Index of the `exact` level, if configured.
    pub fn exact_level(&self) -> Option<u8> {
        self.levels
            .iter()
            .position(|l| matches!(l, CLevel::Exact))
            .map(|p| p as u8 + 1)
    }

    fn pinyin<'a>(&self, p: &'a Person, v: &str) -> std::borrow::Cow<'a, str> {
        match self.name_idx.and_then(|i| p.pinyin[i].as_deref()) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(text_pinyin(v)),
        }
    }

    fn initials<'a>(&self, p: &'a Person, v: &str) -> std::borrow::Cow<'a, str> {
        match self.name_idx.and_then(|i| p.initials[i].as_deref()) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(text_initials(v)),
        }
    }

    fn dates(&self, a: &Person, b: &Person) -> Option<(Date, Date)> {
        if self.slot == slot::BIRTH_DATE {
            Some((a.birth?, b.birth?))
        } else {
            None
        }
    }

    /// The level index of a pair.
    pub fn level(&self, a: &Person, b: &Person) -> u8 {
        let (Some(va), Some(vb)) = (a.value(self.slot), b.value(self.slot)) else {
            // a swap can still be seen when one side's field is empty
            return NULL_LEVEL;
        };
        let mut jw_cache: Option<f64> = None;
        let mut lev_cache: Option<Option<usize>> = None;
        for (i, l) in self.levels.iter().enumerate() {
            let hit = match l {
                CLevel::Exact => va == vb,
                CLevel::Jw(min) => match jw_cache {
                    Some(s) => s >= *min,
                    None => {
                        if va.is_ascii()
                            && vb.is_ascii()
                            && jaro_winkler_upper_bound(va.as_bytes(), vb.as_bytes()) < *min
                        {
                            false
                        } else {
                            let s = jw_str(va, vb);
                            jw_cache = Some(s);
                            s >= *min
                        }
                    }
                },
                CLevel::Lev(max) => {
                    let d = *lev_cache.get_or_insert_with(|| lev_bounded(va, vb, self.max_lev));
                    d.is_some_and(|d| d <= *max)
                }
                CLevel::SamePinyin => {
                    let (pa, pb) = (self.pinyin(a, va), self.pinyin(b, vb));
                    !pa.is_empty() && pa == pb
                }
                CLevel::PinyinJw(min) => {
                    let (pa, pb) = (self.pinyin(a, va), self.pinyin(b, vb));
                    !pa.is_empty() && jw_str(&pa, &pb) >= *min
                }
                CLevel::Initials => {
                    let (pa, pb) = (self.initials(a, va), self.initials(b, vb));
                    !pa.is_empty() && pa == pb
                }
                CLevel::Prefix(n) => {
                    let mut ia = va.chars();
                    let mut ib = vb.chars();
                    let mut ok = true;
                    for _ in 0..*n {
                        match (ia.next(), ib.next()) {
                            (Some(x), Some(y)) if x == y => {}
                            (None, None) => break,
                            _ => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    ok
                }
                CLevel::Swapped(other) => {
                    a.value(*other).is_some_and(|x| x == vb)
                        || b.value(*other).is_some_and(|x| x == va)
                }
                CLevel::DateTransposed => self.dates(a, b).is_some_and(|(x, y)| {
                    x.year == y.year && x.month == y.day && x.day == y.month && x.month != x.day
                }),
                CLevel::DateYearSlip(max) => self.dates(a, b).is_some_and(|(x, y)| {
                    x.month == y.month && x.day == y.day && x.year.abs_diff(y.year) <= *max
                }),
                CLevel::DateWithinDays(days) => self.dates(a, b).is_some_and(|(x, y)| {
                    x.is_valid()
                        && y.is_valid()
                        && (x.day_number() - y.day_number()).unsigned_abs() <= *days as u64
                }),
                CLevel::DateTwoOfThree => self.dates(a, b).is_some_and(|(x, y)| {
                    u8::from(x.year == y.year)
                        + u8::from(x.month == y.month)
                        + u8::from(x.day == y.day)
                        >= 2
                }),
                CLevel::NumericAbs(max) => match (va.parse::<f64>(), vb.parse::<f64>()) {
                    (Ok(x), Ok(y)) => (x - y).abs() <= *max,
                    _ => false,
                },
                CLevel::IdTypo => {
                    let typo_possible = self.slot != slot::ID_NUMBER || !(a.id_valid && b.id_valid);
                    typo_possible && {
                        let d = *lev_cache.get_or_insert_with(|| lev_bounded(va, vb, self.max_lev));
                        d.is_some_and(|d| d <= 1)
                    }
                }
                CLevel::Contains => {
                    let short = va.chars().count().min(vb.chars().count());
                    short >= 2 && (va.contains(vb) || vb.contains(va))
                }
            };
            if hit {
                return i as u8 + 1;
            }
        }
        self.levels.len() as u8 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ColumnMap, MappingConfig};
    use crate::record::{Normalizer, RawRecord};

    fn setup() -> (Normalizer, Schema) {
        let cfg = MappingConfig::with_columns(
            "t",
            ColumnMap {
                full_name: Some("n".into()),
                birth_date: Some("b".into()),
                ..Default::default()
            },
        );
        let n = Normalizer::new(&cfg);
        let s = n.schema.clone();
        (n, s)
    }

    #[test]
    fn name_levels() {
        let (n, s) = setup();
        let c = CompiledComparison::compile(
            &Comparison {
                name: "given".into(),
                field: Field::GivenName,
                tf_adjust: false,
                levels: vec![Level::Exact, Level::SamePinyin, Level::Initials],
            },
            &s,
        )
        .unwrap();
        let p = |x: &str| n.normalize(&RawRecord::new("i").with(Field::FullName, x));
        assert_eq!(c.level(&p("张伟"), &p("張偉")), 1);
        assert_eq!(c.level(&p("张伟"), &p("张玮")), 2);
        assert_eq!(c.level(&p("张伟明"), &p("张文媚")), 3);
        assert_eq!(c.level(&p("张伟"), &p("张强")), 4);
        assert_eq!(
            c.level(&p("张伟"), &n.normalize(&RawRecord::new("i"))),
            NULL_LEVEL
        );
    }

    #[test]
    fn date_levels() {
        let (n, s) = setup();
        let c = CompiledComparison::compile(
            &Comparison {
                name: "dob".into(),
                field: Field::BirthDate,
                tf_adjust: false,
                levels: vec![
                    Level::Exact,
                    Level::DateTransposed,
                    Level::DateYearSlip { max_years: 1 },
                    Level::DateWithinDays { days: 3 },
                ],
            },
            &s,
        )
        .unwrap();
        let p = |x: &str| n.normalize(&RawRecord::new("i").with(Field::BirthDate, x));
        assert_eq!(c.level(&p("1980-03-04"), &p("19800304")), 1);
        assert_eq!(c.level(&p("1980-03-04"), &p("1980-04-03")), 2);
        assert_eq!(c.level(&p("1980-03-04"), &p("1981-03-04")), 3);
        assert_eq!(c.level(&p("1980-03-04"), &p("1980-03-06")), 4);
        assert_eq!(c.level(&p("1980-03-04"), &p("1990-07-06")), 5);
    }
}
