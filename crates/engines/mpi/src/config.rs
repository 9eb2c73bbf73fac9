//! The versioned matching configuration (`MappingConfig`), stored as TOML.
//!
//! It maps input columns to the engine's fields, and holds the deterministic
//! rules, blocking passes, comparisons with their levels, EM training settings
//! and the two decision thresholds. Sections that are left out get defaults
//! derived from the mapped columns (see [`MappingConfig::effective_comparisons`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// An engine field. Serialised as its snake_case name; any other name refers to
/// an entry of `columns.other_ids` (e.g. `"soc_sec_id"`, `"insurance_no"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Field {
    FullName,
    Surname,
    GivenName,
    Sex,
    BirthDate,
    IdNumber,
    Phone,
    Province,
    City,
    District,
    Town,
    AddressDetail,
    StreetNumber,
    Address1,
    Address2,
    Suburb,
    State,
    Postcode,
    Other(String),
}

/// Fixed fields, in slot order.
pub const FIXED_FIELDS: [Field; 18] = [
    Field::FullName,
    Field::Surname,
    Field::GivenName,
    Field::Sex,
    Field::BirthDate,
    Field::IdNumber,
    Field::Phone,
    Field::Province,
    Field::City,
    Field::District,
    Field::Town,
    Field::AddressDetail,
    Field::StreetNumber,
    Field::Address1,
    Field::Address2,
    Field::Suburb,
    Field::State,
    Field::Postcode,
];

impl Field {
    pub fn name(&self) -> &str {
        match self {
            Field::FullName => "full_name",
            Field::Surname => "surname",
            Field::GivenName => "given_name",
            Field::Sex => "sex",
            Field::BirthDate => "birth_date",
            Field::IdNumber => "id_number",
            Field::Phone => "phone",
            Field::Province => "province",
            Field::City => "city",
            Field::District => "district",
            Field::Town => "town",
            Field::AddressDetail => "address_detail",
            Field::StreetNumber => "street_number",
            Field::Address1 => "address_1",
            Field::Address2 => "address_2",
            Field::Suburb => "suburb",
            Field::State => "state",
            Field::Postcode => "postcode",
            Field::Other(s) => s,
        }
    }
    /// Name fields carry pinyin keys.
    pub fn is_name(&self) -> bool {
        matches!(self, Field::FullName | Field::Surname | Field::GivenName)
    }
}

impl From<Field> for String {
    fn from(f: Field) -> String {
        f.name().to_string()
    }
}

impl TryFrom<String> for Field {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty field name".into());
        }
        Ok(FIXED_FIELDS
            .iter()
            .find(|f| f.name() == t)
            .cloned()
            .unwrap_or_else(|| Field::Other(t.to_string())))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which input column feeds which engine field. Every entry is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    /// Record identifier; carried to the output, never used for matching.
    pub record_id: Option<String>,
    /// Whole name (Chinese names are split into surname / given name when those
    /// columns are absent).
    pub full_name: Option<String>,
    pub surname: Option<String>,
    pub given_name: Option<String>,
    pub sex: Option<String>,
    pub birth_date: Option<String>,
    /// Layout of `birth_date`, e.g. `"%Y%m%d"`, `"%Y-%m-%d"`, `"%d/%m/%Y"`;
    /// common layouts are detected when absent.
    pub birth_date_format: Option<String>,
    /// Chinese resident identity card number (身份证号).
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    /// 区/县
    pub district: Option<String>,
    /// 镇/街道
    pub town: Option<String>,
    /// 详细地址 (village, street, building, room)
    pub address_detail: Option<String>,
    pub street_number: Option<String>,
    pub address_1: Option<String>,
    pub address_2: Option<String>,
    pub suburb: Option<String>,
    pub state: Option<String>,
    pub postcode: Option<String>,
    /// Other identifiers: engine field name → column (e.g. medical insurance
    /// number, hospital MRN of another system, social security id).
    #[serde(default)]
    pub other_ids: BTreeMap<String, String>,
    /// Fill birth date and sex from a valid ID number when they are missing.
    #[serde(default = "yes")]
    pub derive_from_id_number: bool,
}

fn yes() -> bool {
    true
}

impl Default for ColumnMap {
    fn default() -> Self {
        ColumnMap {
            record_id: None,
            full_name: None,
            surname: None,
            given_name: None,
            sex: None,
            birth_date: None,
            birth_date_format: None,
            id_number: None,
            phone: None,
            province: None,
            city: None,
            district: None,
            town: None,
            address_detail: None,
            street_number: None,
            address_1: None,
            address_2: None,
            suburb: None,
            state: None,
            postcode: None,
            other_ids: BTreeMap::new(),
            derive_from_id_number: true,
        }
    }
}

impl ColumnMap {
    /// Column mapped to a fixed field.
    pub fn column(&self, f: &Field) -> Option<&str> {
        let c = match f {
            Field::FullName => &self.full_name,
            Field::Surname => &self.surname,
            Field::GivenName => &self.given_name,
            Field::Sex => &self.sex,
            Field::BirthDate => &self.birth_date,
            Field::IdNumber => &self.id_number,
            Field::Phone => &self.phone,
            Field::Province => &self.province,
            Field::City => &self.city,
            Field::District => &self.district,
            Field::Town => &self.town,
            Field::AddressDetail => &self.address_detail,
            Field::StreetNumber => &self.street_number,
            Field::Address1 => &self.address_1,
            Field::Address2 => &self.address_2,
            Field::Suburb => &self.suburb,
            Field::State => &self.state,
            Field::Postcode => &self.postcode,
            Field::Other(n) => return self.other_ids.get(n).map(|s| s.as_str()),
        };
        c.as_deref()
    }

    /// Whether the field has data: mapped directly, or derivable
    /// (names from `full_name`, birth date / sex from the ID number).
    pub fn has(&self, f: &Field) -> bool {
        if self.column(f).is_some() {
            return true;
        }
        match f {
            Field::FullName => self.surname.is_some() || self.given_name.is_some(),
            Field::Surname | Field::GivenName => self.full_name.is_some(),
            Field::BirthDate | Field::Sex => self.derive_from_id_number && self.id_number.is_some(),
            _ => false,
        }
    }
}

/// One comparison level. Levels of a comparison are tried in order; the first
/// that holds is the pair's level. "Either value missing" (null) is implicit and
/// checked first; "else" (nothing held) is implicit and last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Level {
    /// Normalised values equal.
    Exact,
    /// Jaro–Winkler similarity ≥ `min`.
    JaroWinkler { min: f64 },
    /// Damerau–Levenshtein (OSA) distance ≤ `max` (characters, so one Chinese
    /// character counts 1).
    Levenshtein { max: u32 },
    /// Same pinyin (homophones 伟/玮; also latin text with spaces removed).
    SamePinyin,
    /// Jaro–Winkler on pinyin keys ≥ `min`.
    PinyinJaroWinkler { min: f64 },
    /// Same initials (pinyin first letters / first letter of each word).
    Initials,
    /// Same first `len` characters.
    Prefix { len: usize },
    /// Value equals the other record's `with` field (e.g. surname ↔ given name swap).
    Swapped { with: Field },
    /// Dates with day and month swapped.
    DateTransposed,
    /// Same month and day, years at most `max_years` apart.
    DateYearSlip {
        #[serde(default = "one_u16")]
        max_years: u16,
    },
    /// Dates at most `days` apart.
    DateWithinDays { days: u32 },
    /// Two of year / month / day equal.
    DateTwoOfThree,
    /// Numeric values at most `max` apart.
    NumericAbs { max: f64 },
    /// One value contains the other (addresses).
    Contains,
    /// ID numbers one edit apart (a transposition counts one) where at least
    /// one fails its check character: a typing error. Two *valid* different
    /// numbers are different persons even when they differ in one digit
    /// (people born the same day in the same county share 14 digits).
    /// On fields without a checksum this is `levenshtein` 1.
    IdTypo,
}

fn one_u16() -> u16 {
    1
}

impl Level {
    /// Short label used in explanations.
    pub fn label(&self) -> String {
        match self {
            Level::Exact => "exact".into(),
            Level::JaroWinkler { min } => format!("jaro_winkler>={min}"),
            Level::Levenshtein { max } => format!("levenshtein<={max}"),
            Level::SamePinyin => "same_pinyin".into(),
            Level::PinyinJaroWinkler { min } => format!("pinyin_jaro_winkler>={min}"),
            Level::Initials => "initials".into(),
            Level::Prefix { len } => format!("prefix{len}"),
            Level::Swapped { with } => format!("swapped_with_{with}"),
            Level::DateTransposed => "day_month_transposed".into(),
            Level::DateYearSlip { max_years } => format!("year_slip<={max_years}"),
            Level::DateWithinDays { days } => format!("within_{days}_days"),
            Level::DateTwoOfThree => "two_of_ymd".into(),
            Level::NumericAbs { max } => format!("numeric_diff<={max}"),
            Level::Contains => "contains".into(),
            Level::IdTypo => "id_typo".into(),
        }
    }
}

/// A comparison of one field between two records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub name: String,
    pub field: Field,
    /// Term-frequency adjustment of the `exact` level: agreeing on a rare value
    /// (梅, "zoe") weighs more than agreeing on a common one (王, "smith").
    #[serde(default)]
    pub tf_adjust: bool,
    pub levels: Vec<Level>,
}

/// A blocking pass: pairs that agree on all keys become candidates.
/// Keys are field names, optionally wrapped in a transform:
/// `pinyin(f)`, `initials(f)`, `prefixN(f)`, `suffixN(f)`, `year(f)`, `digits(f)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockingRule {
    pub name: String,
    pub keys: Vec<String>,
    /// Blocks with more records than this (on either side) are skipped.
    #[serde(default)]
    pub max_block_size: Option<usize>,
}

/// Whether a veto needs all or any of its fields to disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VetoMode {
    /// Veto only when every veto field disagrees (both values present).
    All,
    /// Veto when any veto field disagrees (the default: a rule links only
    /// pairs that nothing contradicts; the others go to scoring).
    #[default]
    Any,
}

/// A deterministic rule: pairs agreeing exactly on every field in `fields` are
/// linked, unless the veto fields disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeterministicRule {
    pub name: String,
    pub fields: Vec<Field>,
    /// For `id_number`: only numbers with a valid check character and birth date count.
    #[serde(default = "yes")]
    pub require_valid_id: bool,
    #[serde(default)]
    pub veto: Vec<Field>,
    #[serde(default)]
    pub veto_mode: VetoMode,
}

/// Decision thresholds on the match probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// probability ≥ link → Link
    pub link: f64,
    /// review ≤ probability < link → Review (疑似重复)
    pub review: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            link: 0.9,
            review: 0.1,
        }
    }
}

/// Unsupervised training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Training {
    pub max_iterations: usize,
    /// Stop when no parameter moves more than this.
    pub tolerance: f64,
    /// Random pairs sampled to estimate u probabilities.
    pub random_pairs: usize,
    pub seed: u64,
    /// Keep u fixed at the random-pair estimate during EM (Splink style).
    /// When false EM also re-estimates u among the candidate pairs (used only
    /// inside EM; scoring uses the random-pair u).
    pub fix_u: bool,
    /// Lower bound for probabilities (avoids infinite weights).
    pub min_probability: f64,
    /// Lower bound for m probabilities after EM: no single disagreement may
    /// weigh more than log2(min_m) (real data has moves, typos, re-registrations
    /// that a training sample may not show).
    pub min_m: f64,
    /// Lower bound for term-frequency u values.
    pub tf_min_u: f64,
}

impl Default for Training {
    fn default() -> Self {
        Training {
            max_iterations: 100,
            tolerance: 1e-6,
            random_pairs: 100_000,
            seed: 20_240_601,
            fix_u: false,
            min_probability: 1e-6,
            min_m: 1e-3,
            tf_min_u: 1e-6,
        }
    }
}

/// Output options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputOptions {
    /// Add an `explanation` column (field=level:weight;…).
    pub explain: bool,
    /// Write Review pairs too (not only Links).
    pub include_review: bool,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            explain: false,
            include_review: true,
        }
    }
}

/// The whole matching configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Configuration version (stored with every decision).
    pub version: String,
    #[serde(default)]
    pub description: String,
    pub columns: ColumnMap,
    /// Deterministic rules; defaults to "same valid ID number" when absent.
    #[serde(default)]
    pub rules: Option<Vec<DeterministicRule>>,
    #[serde(default)]
    pub blocking: Option<Vec<BlockingRule>>,
    #[serde(default)]
    pub comparisons: Option<Vec<Comparison>>,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub training: Training,
    #[serde(default)]
    pub output: OutputOptions,
    /// Link mode only: each record links to at most one record of the other
    /// file (best weight first). Use when both inputs are free of duplicates.
    #[serde(default)]
    pub one_to_one: bool,
}

impl MappingConfig {
    /// Parse from TOML text and validate.
    pub fn from_toml(s: &str) -> Result<Self> {
        let c: MappingConfig = toml::from_str(s).map_err(|e| Error::Config(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Serialise to TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))
    }

    /// A Chinese-first default configuration for the given columns.
    pub fn with_columns(version: &str, columns: ColumnMap) -> Self {
        MappingConfig {
            version: version.into(),
            description: String::new(),
            columns,
            rules: None,
            blocking: None,
            comparisons: None,
            thresholds: Thresholds::default(),
            training: Training::default(),
            output: OutputOptions::default(),
            one_to_one: false,
        }
    }

    /// Check references and values.
    pub fn validate(&self) -> Result<()> {
        let t = &self.thresholds;
        if !(0.0..=1.0).contains(&t.link) || !(0.0..=1.0).contains(&t.review) || t.review > t.link {
            return Err(Error::Config(
                "thresholds must satisfy 0 <= review <= link <= 1".into(),
            ));
        }
        let check_field = |f: &Field| -> Result<()> {
            if let Field::Other(n) = f
                && !self.columns.other_ids.contains_key(n)
            {
                return Err(Error::Config(format!(
                    "unknown field `{n}` (not a fixed field nor in columns.other_ids)"
                )));
            }
            Ok(())
        };
        for c in self.effective_comparisons() {
            check_field(&c.field)?;
            if c.levels.is_empty() {
                return Err(Error::Config(format!(
                    "comparison `{}` has no levels",
                    c.name
                )));
            }
            if c.levels.len() > 30 {
                return Err(Error::Config(format!(
                    "comparison `{}` has too many levels",
                    c.name
                )));
            }
            for l in &c.levels {
                if let Level::Swapped { with } = l {
                    check_field(with)?;
                }
            }
        }
        if self.effective_comparisons().len() > 64 {
            return Err(Error::Config("at most 64 comparisons".into()));
        }
        for b in self.effective_blocking() {
            if b.keys.is_empty() {
                return Err(Error::Config(format!(
                    "blocking rule `{}` has no keys",
                    b.name
                )));
            }
            for k in &b.keys {
                let key = crate::blocking::KeySpec::parse(k)?;
                check_field(&key.field)?;
            }
        }
        for r in self.effective_rules() {
            for f in r.fields.iter().chain(r.veto.iter()) {
                check_field(f)?;
            }
        }
        Ok(())
    }

    /// Comparisons in force: the configured ones, or defaults for the mapped columns.
    pub fn effective_comparisons(&self) -> Vec<Comparison> {
        match &self.comparisons {
            Some(c) => c.clone(),
            None => default_comparisons(&self.columns),
        }
    }

    /// Blocking passes in force.
    pub fn effective_blocking(&self) -> Vec<BlockingRule> {
        match &self.blocking {
            Some(b) => b.clone(),
            None => default_blocking(&self.columns),
        }
    }

    /// Deterministic rules in force.
    pub fn effective_rules(&self) -> Vec<DeterministicRule> {
        match &self.rules {
            Some(r) => r.clone(),
            None => default_rules(&self.columns),
        }
    }
}

fn jw(min: f64) -> Level {
    Level::JaroWinkler { min }
}

/// Default deterministic rules: the same valid ID number is the same person
/// unless sex or birth date disagree (then the pair is scored instead: think of
/// an infant registered under a parent's ID number).
pub fn default_rules(cols: &ColumnMap) -> Vec<DeterministicRule> {
    if cols.id_number.is_none() {
        return vec![];
    }
    vec![DeterministicRule {
        name: "same_valid_id_number".into(),
        fields: vec![Field::IdNumber],
        require_valid_id: true,
        veto: vec![Field::Sex, Field::BirthDate],
        veto_mode: VetoMode::Any,
    }]
}

/// Default comparisons for the mapped columns (Chinese identities first).
pub fn default_comparisons(cols: &ColumnMap) -> Vec<Comparison> {
    let mut v = Vec::new();
    let mut add = |name: &str, field: Field, tf: bool, levels: Vec<Level>| {
        if cols.has(&field) {
            v.push(Comparison {
                name: name.into(),
                field,
                tf_adjust: tf,
                levels,
            });
        }
    };
    let split_names = cols.surname.is_some() || cols.given_name.is_some();
    if !split_names && cols.full_name.is_some() {
        // whole names: works for Chinese (split only internally) and for
        // names in Latin script / pinyin whose order is unknown
        add(
            "full_name",
            Field::FullName,
            true,
            vec![
                Level::Exact,
                Level::SamePinyin,
                Level::Levenshtein { max: 1 },
                Level::PinyinJaroWinkler { min: 0.9 },
                jw(0.85),
                Level::Initials,
            ],
        );
    }
    if split_names {
        add(
            "surname",
            Field::Surname,
            true,
            vec![
                Level::Exact,
                Level::SamePinyin,
                Level::Swapped {
                    with: Field::GivenName,
                },
                jw(0.92),
                jw(0.8),
            ],
        );
        add(
            "given_name",
            Field::GivenName,
            true,
            vec![
                Level::Exact,
                Level::SamePinyin,
                Level::Swapped {
                    with: Field::Surname,
                },
                Level::Levenshtein { max: 1 },
                jw(0.92),
                Level::PinyinJaroWinkler { min: 0.88 },
                Level::Initials,
            ],
        );
    }
    add("sex", Field::Sex, false, vec![Level::Exact]);
    add(
        "birth_date",
        Field::BirthDate,
        false,
        vec![
            Level::Exact,
            Level::DateTransposed,
            Level::Levenshtein { max: 1 },
            Level::DateYearSlip { max_years: 1 },
            Level::DateWithinDays { days: 31 },
            Level::DateTwoOfThree,
        ],
    );
    add(
        "id_number",
        Field::IdNumber,
        false,
        vec![Level::Exact, Level::IdTypo],
    );
    add(
        "phone",
        Field::Phone,
        false,
        vec![Level::Exact, Level::Levenshtein { max: 1 }],
    );
    add(
        "district",
        Field::District,
        true,
        vec![Level::Exact, Level::Contains],
    );
    add(
        "town",
        Field::Town,
        true,
        vec![Level::Exact, Level::Contains, jw(0.85)],
    );
    add(
        "address_detail",
        Field::AddressDetail,
        false,
        vec![Level::Exact, Level::Contains, jw(0.9), jw(0.75)],
    );
    add(
        "street_number",
        Field::StreetNumber,
        false,
        vec![Level::Exact, Level::Levenshtein { max: 1 }],
    );
    add(
        "address_1",
        Field::Address1,
        true,
        vec![Level::Exact, jw(0.9), jw(0.75)],
    );
    add(
        "address_2",
        Field::Address2,
        true,
        vec![Level::Exact, jw(0.9), jw(0.75)],
    );
    add("suburb", Field::Suburb, true, vec![Level::Exact, jw(0.9)]);
    add("city", Field::City, true, vec![Level::Exact]);
    add("state", Field::State, false, vec![Level::Exact]);
    add(
        "postcode",
        Field::Postcode,
        false,
        vec![Level::Exact, Level::Levenshtein { max: 1 }],
    );
    for name in cols.other_ids.keys() {
        v.push(Comparison {
            name: name.clone(),
            field: Field::Other(name.clone()),
            tf_adjust: false,
            levels: vec![
                Level::Exact,
                Level::Levenshtein { max: 1 },
                Level::Levenshtein { max: 2 },
            ],
        });
    }
    v
}

/// Default blocking passes for the mapped columns. Broad passes (one name
/// part, birth date alone) carry a block-size cap so they stay cheap on large
/// files; the narrow passes (ID number, phone, full-name pinyin, name part +
/// birth date) carry recall.
pub fn default_blocking(cols: &ColumnMap) -> Vec<BlockingRule> {
    let mut v = Vec::new();
    let mut add = |name: &str, keys: &[&str], fields: &[Field], cap: Option<usize>| {
        if fields.iter().all(|f| cols.has(f)) {
            v.push(BlockingRule {
                name: name.into(),
                keys: keys.iter().map(|s| s.to_string()).collect(),
                max_block_size: cap,
            });
        }
    };
    add("id_number", &["id_number"], &[Field::IdNumber], None);
    add("phone", &["phone"], &[Field::Phone], Some(50));
    add(
        "name_pinyin",
        &["pinyin(full_name)"],
        &[Field::FullName],
        Some(1000),
    );
    add(
        "surname_birth_date",
        &["pinyin(surname)", "birth_date"],
        &[Field::Surname, Field::BirthDate],
        None,
    );
    add(
        "given_birth_year",
        &["pinyin(given_name)", "year(birth_date)"],
        &[Field::GivenName, Field::BirthDate],
        Some(1000),
    );
    add(
        "initials_birth_date",
        &["initials(full_name)", "birth_date"],
        &[Field::FullName, Field::BirthDate],
        None,
    );
    add(
        "given_name",
        &["pinyin(given_name)"],
        &[Field::GivenName],
        Some(100),
    );
    add(
        "surname",
        &["pinyin(surname)"],
        &[Field::Surname],
        Some(100),
    );
    add(
        "birth_date",
        &["birth_date"],
        &[Field::BirthDate],
        Some(100),
    );
    add(
        "postcode_street_number",
        &["postcode", "street_number"],
        &[Field::Postcode, Field::StreetNumber],
        Some(1000),
    );
    add(
        "address_detail",
        &["address_detail"],
        &[Field::AddressDetail],
        Some(300),
    );
    for name in cols.other_ids.keys() {
        v.push(BlockingRule {
            name: name.clone(),
            keys: vec![name.clone()],
            max_block_size: Some(1000),
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_toml() {
        let cols = ColumnMap {
            record_id: Some("id".into()),
            full_name: Some("姓名".into()),
            id_number: Some("身份证号".into()),
            phone: Some("电话".into()),
            ..Default::default()
        };
        let mut c = MappingConfig::with_columns("v1", cols);
        c.comparisons = Some(c.effective_comparisons());
        c.blocking = Some(c.effective_blocking());
        let s = c.to_toml().unwrap();
        let back = MappingConfig::from_toml(&s).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_field_rejected() {
        let s = r#"
version = "x"
[columns]
record_id = "id"
[[comparisons]]
name = "foo"
field = "foo"
levels = [{ type = "exact" }]
"#;
        assert!(MappingConfig::from_toml(s).is_err());
    }

    #[test]
    fn defaults_follow_columns() {
        let cols = ColumnMap {
            full_name: Some("name".into()),
            id_number: Some("idno".into()),
            derive_from_id_number: true,
            ..Default::default()
        };
        let c = MappingConfig::with_columns("v", cols);
        let names: Vec<String> = c
            .effective_comparisons()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(names.contains(&"full_name".to_string()));
        assert!(!names.contains(&"surname".to_string()));
        assert!(names.contains(&"birth_date".to_string()));
        assert!(names.contains(&"sex".to_string()));
        assert!(!names.contains(&"phone".to_string()));
        assert_eq!(c.effective_rules().len(), 1);
    }
}
