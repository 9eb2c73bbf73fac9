//! Records: raw input values and normalised persons.

use crate::config::{FIXED_FIELDS, Field, MappingConfig};
use crate::normalize::{
    Date, initials_key, is_cjk, name_syllables, normalize_code, normalize_name, normalize_phone,
    normalize_text, parse_date, parse_id_number, parse_sex, pinyin_key, pinyin_syllables,
    split_chinese_name, surname_syllables,
};

/// A record as it comes in: an identifier (never used for matching) and raw
/// values for engine fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawRecord {
    pub id: String,
    pub values: Vec<(Field, String)>,
}

impl RawRecord {
    pub fn new(id: impl Into<String>) -> Self {
        RawRecord {
            id: id.into(),
            values: Vec::new(),
        }
    }
    /// Builder: set a field (empty values are ignored).
    pub fn with(mut self, f: Field, v: impl Into<String>) -> Self {
        self.set(f, v);
        self
    }
    pub fn set(&mut self, f: Field, v: impl Into<String>) {
        let v = v.into();
        self.values.retain(|(k, _)| *k != f);
        if !v.trim().is_empty() {
            self.values.push((f, v));
        }
    }
    pub fn get(&self, f: &Field) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == f)
            .map(|(_, v)| v.as_str())
    }
    pub fn remove(&mut self, f: &Field) {
        self.values.retain(|(k, _)| k != f);
    }
}

/// Field slots: the fixed fields followed by the configured other ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub other_ids: Vec<String>,
}

impl Schema {
    pub fn new(cfg: &MappingConfig) -> Self {
        Schema {
            other_ids: cfg.columns.other_ids.keys().cloned().collect(),
        }
    }
    pub fn len(&self) -> usize {
        FIXED_FIELDS.len() + self.other_ids.len()
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn slot(&self, f: &Field) -> Option<usize> {
        match f {
            Field::Other(n) => self
                .other_ids
                .iter()
                .position(|o| o == n)
                .map(|p| FIXED_FIELDS.len() + p),
            _ => FIXED_FIELDS.iter().position(|x| x == f),
        }
    }
    pub fn field(&self, slot: usize) -> Field {
        if slot < FIXED_FIELDS.len() {
            FIXED_FIELDS[slot].clone()
        } else {
            Field::Other(self.other_ids[slot - FIXED_FIELDS.len()].clone())
        }
    }
}

/// Slot numbers of the fixed fields.
pub mod slot {
    pub const FULL_NAME: usize = 0;
    pub const SURNAME: usize = 1;
    pub const GIVEN_NAME: usize = 2;
    pub const SEX: usize = 3;
    pub const BIRTH_DATE: usize = 4;
    pub const ID_NUMBER: usize = 5;
    pub const PHONE: usize = 6;
}

/// A normalised person record. `values` is indexed by [`Schema::slot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// Record identifier, carried along, never compared.
    pub id: String,
    pub values: Vec<Option<Box<str>>>,
    pub birth: Option<Date>,
    /// Pinyin keys of full name, surname, given name (surname readings applied).
    pub pinyin: [Option<Box<str>>; 3],
    /// Initials of full name, surname, given name.
    pub initials: [Option<Box<str>>; 3],
    /// The ID number is 18 chars with valid check char and birth date.
    pub id_valid: bool,
}

impl Person {
    #[inline]
    pub fn value(&self, slot: usize) -> Option<&str> {
        self.values.get(slot).and_then(|v| v.as_deref())
    }
}

/// Turns raw records into normalised persons according to a configuration.
#[derive(Debug, Clone)]
pub struct Normalizer {
    pub schema: Schema,
    date_format: Option<String>,
    derive_from_id: bool,
}

fn boxed(s: String) -> Option<Box<str>> {
    if s.is_empty() {
        None
    } else {
        Some(s.into_boxed_str())
    }
}

impl Normalizer {
    pub fn new(cfg: &MappingConfig) -> Self {
        Normalizer {
            schema: Schema::new(cfg),
            date_format: cfg.columns.birth_date_format.clone(),
            derive_from_id: cfg.columns.derive_from_id_number,
        }
    }

    /// Normalise one raw record.
    pub fn normalize(&self, raw: &RawRecord) -> Person {
        let mut values: Vec<Option<Box<str>>> = vec![None; self.schema.len()];
        let mut birth = None;
        let mut id_valid = false;
        let mut full = None;
        let mut surname = None;
        let mut given = None;
        let mut id_sex = None;
        let mut id_birth = None;
        for (f, v) in &raw.values {
            let Some(s) = self.schema.slot(f) else {
                continue;
            };
            let nv: Option<String> = match f {
                Field::FullName => {
                    full = Some(normalize_name(v)).filter(|x| !x.is_empty());
                    None
                }
                Field::Surname => {
                    surname = Some(normalize_name(v)).filter(|x| !x.is_empty());
                    None
                }
                Field::GivenName => {
                    given = Some(normalize_name(v)).filter(|x| !x.is_empty());
                    None
                }
                Field::Sex => parse_sex(v).map(|x| x.code().to_string()),
                Field::BirthDate => {
                    birth = parse_date(v, self.date_format.as_deref());
                    match birth {
                        Some(d) => Some(d.compact()),
                        None => Some(normalize_code(v)),
                    }
                }
                Field::IdNumber => parse_id_number(v).map(|info| {
                    id_valid = info.valid;
                    if info.valid {
                        id_sex = info.sex;
                        id_birth = info.birth_date;
                    }
                    info.normalized
                }),
                Field::Phone => normalize_phone(v),
                Field::Postcode | Field::Other(_) => Some(normalize_code(v)),
                _ => Some(normalize_text(v)),
            };
            if let Some(nv) = nv {
                values[s] = boxed(nv);
            }
        }
        // names: derive the missing parts
        if full.is_none() {
            full = match (&surname, &given) {
                (Some(s), Some(g)) => {
                    if s.chars().all(is_cjk) && g.chars().all(is_cjk) {
                        Some(format!("{s}{g}"))
                    } else {
                        Some(format!("{g} {s}"))
                    }
                }
                (Some(s), None) => Some(s.clone()),
                (None, Some(g)) => Some(g.clone()),
                (None, None) => None,
            };
        } else if surname.is_none()
            && given.is_none()
            && let Some((s, g)) = full.as_deref().and_then(split_chinese_name)
        {
            surname = Some(s);
            given = Some(g);
        }
        let mut pinyin: [Option<Box<str>>; 3] = [None, None, None];
        let mut initials: [Option<Box<str>>; 3] = [None, None, None];
        let cjk_parts = surname.as_deref().is_some_and(|s| s.chars().any(is_cjk));
        if let Some(f) = &full {
            let syl = if cjk_parts {
                let mut v = surname
                    .as_deref()
                    .map(surname_syllables)
                    .unwrap_or_default();
                v.extend(given.as_deref().map(pinyin_syllables).unwrap_or_default());
                v
            } else {
                name_syllables(f)
            };
            pinyin[0] = boxed(pinyin_key(&syl));
            initials[0] = boxed(initials_key(&syl));
        }
        if let Some(s) = &surname {
            let syl = surname_syllables(s);
            pinyin[1] = boxed(pinyin_key(&syl));
            initials[1] = boxed(initials_key(&syl));
        }
        if let Some(g) = &given {
            let syl = pinyin_syllables(g);
            pinyin[2] = boxed(pinyin_key(&syl));
            initials[2] = boxed(initials_key(&syl));
        }
        values[slot::FULL_NAME] = full.and_then(boxed);
        values[slot::SURNAME] = surname.and_then(boxed);
        values[slot::GIVEN_NAME] = given.and_then(boxed);
        if self.derive_from_id {
            if values[slot::SEX].is_none()
                && let Some(sx) = id_sex
            {
                values[slot::SEX] = boxed(sx.code().to_string());
            }
            if values[slot::BIRTH_DATE].is_none()
                && let Some(d) = id_birth
            {
                birth = Some(d);
                values[slot::BIRTH_DATE] = boxed(d.compact());
            }
        }
        Person {
            id: raw.id.trim().to_string(),
            values,
            birth,
            pinyin,
            initials,
            id_valid,
        }
    }
}

/// Pinyin key of an arbitrary text (for non-name fields).
pub fn text_pinyin(s: &str) -> String {
    pinyin_key(&pinyin_syllables(s))
}

/// Initials of an arbitrary text (for non-name fields).
pub fn text_initials(s: &str) -> String {
    initials_key(&pinyin_syllables(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ColumnMap;

    fn cfg() -> MappingConfig {
        MappingConfig::with_columns(
            "t",
            ColumnMap {
                full_name: Some("name".into()),
                id_number: Some("id".into()),
                derive_from_id_number: true,
                ..Default::default()
            },
        )
    }

    #[test]
    fn chinese_person() {
        let n = Normalizer::new(&cfg());
        let raw = RawRecord::new(" r1 ")
            .with(Field::FullName, "單 田芳")
            .with(Field::IdNumber, "441402800101123");
        let p = n.normalize(&raw);
        assert_eq!(p.id, "r1");
        assert_eq!(p.value(slot::FULL_NAME), Some("单田芳"));
        assert_eq!(p.value(slot::SURNAME), Some("单"));
        assert_eq!(p.value(slot::GIVEN_NAME), Some("田芳"));
        assert_eq!(p.pinyin[0].as_deref(), Some("shantianfang"));
        assert_eq!(p.initials[0].as_deref(), Some("stf"));
        assert!(p.id_valid);
        assert_eq!(p.value(slot::SEX), Some("M"));
        assert_eq!(p.value(slot::BIRTH_DATE), Some("19800101"));
        assert_eq!(p.birth, Some(Date::new(1980, 1, 1)));
    }

    #[test]
    fn latin_person() {
        let n = Normalizer::new(&cfg());
        let raw = RawRecord::new("x")
            .with(Field::GivenName, " Elk I ")
            .with(Field::Surname, "MENZIES");
        let p = n.normalize(&raw);
        assert_eq!(p.value(slot::FULL_NAME), Some("elk i menzies"));
        assert_eq!(p.pinyin[2].as_deref(), Some("elki"));
        assert_eq!(p.initials[2].as_deref(), Some("ei"));
    }
}
