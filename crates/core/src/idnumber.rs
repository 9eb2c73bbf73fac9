//! Resident identity numbers (居民身份证号码, GB 11643-1999).
//!
//! Validation follows `shared/reference/identity-numbers.md`: length and charset, the
//! ISO 7064 MOD 11-2 check character, a real date between 1890 and today; an unknown
//! area code or a sex that disagrees with the record is a warning, not a rejection.

use crate::error::AppError;
use chrono::{Datelike, NaiveDate};

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// Sex as encoded by the sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }

    pub fn from_code(s: &str) -> Option<Sex> {
        match s.trim() {
            "M" | "m" | "男" | "1" => Some(Sex::Male),
            "F" | "f" | "女" | "2" => Some(Sex::Female),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
}

/// A valid, normalised 18-character identity number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber {
    value: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub area_code: String,
}

impl IdNumber {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// Data-quality warnings that do not reject a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdWarning {
    UnknownArea(String),
    SexMismatch { recorded: Sex, encoded: Sex },
    UpgradedFrom15,
}

impl IdWarning {
    pub fn message(&self) -> String {
        match self {
            IdWarning::UnknownArea(a) => format!("行政区划代码 {a} 不在已知列表中，请核对"),
            IdWarning::SexMismatch { recorded, encoded } => format!(
                "登记性别（{}）与身份证号码所示性别（{}）不一致",
                recorded.label(),
                encoded.label()
            ),
            IdWarning::UpgradedFrom15 => "15位旧号码已升级为18位".into(),
        }
    }
}

/// Computes the check character for the first 17 digits.
pub fn check_char(first17: &[u8]) -> Option<char> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(CHECK[(sum % 11) as usize] as char)
}

/// Upgrades a 15-digit number to 18 characters (19 inserted before the year).
pub fn upgrade15(old: &str) -> Option<String> {
    let b = old.as_bytes();
    if b.len() != 15 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut s = String::with_capacity(18);
    s.push_str(&old[..6]);
    s.push_str("19");
    s.push_str(&old[6..]);
    let c = check_char(s.as_bytes())?;
    s.push(c);
    Some(s)
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::field("idnumber.invalid", "id_number", message)
}

/// Validates and normalises `input` (trims, accepts lower-case x, upgrades 15 digits).
/// `today` bounds the birth date; `recorded_sex` adds a warning on mismatch.
pub fn parse(
    input: &str,
    today: NaiveDate,
    recorded_sex: Option<Sex>,
) -> Result<(IdNumber, Vec<IdWarning>), AppError> {
    let trimmed: String = input
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            // Full-width digits and letter X, as typed with a Chinese input method.
            '\u{FF10}'..='\u{FF19}' => {
                char::from_u32(c as u32 - 0xFF10 + u32::from(b'0')).unwrap_or(c)
            }
            'x' | '\u{FF58}' | '\u{FF38}' => 'X',
            _ => c,
        })
        .collect();
    let mut warnings = Vec::new();
    let value = match trimmed.len() {
        18 => trimmed,
        15 => {
            warnings.push(IdWarning::UpgradedFrom15);
            upgrade15(&trimmed).ok_or_else(|| invalid("15位身份证号码只能包含数字"))?
        }
        n => return Err(invalid(format!("身份证号码应为18位，实际为{n}位"))),
    };
    let b = value.as_bytes();
    if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(invalid("身份证号码前17位须为数字，最后一位为数字或X"));
    }
    let expected = check_char(&b[..17]).expect("17 digits");
    if b[17] as char != expected {
        return Err(invalid("身份证号码校验位不正确，请核对"));
    }
    let birth = NaiveDate::parse_from_str(&value[6..14], "%Y%m%d")
        .map_err(|_| invalid("身份证号码中的出生日期不是有效日期"))?;
    if birth.year() < 1890 || birth > today {
        return Err(invalid("身份证号码中的出生日期超出合理范围"));
    }
    let seq = u32::from(b[16] - b'0');
    let sex = if seq % 2 == 1 { Sex::Male } else { Sex::Female };
    let area_code = value[..6].to_string();
    if !known_area(&area_code) {
        warnings.push(IdWarning::UnknownArea(area_code.clone()));
    }
    if let Some(r) = recorded_sex
        && r != sex
    {
        warnings.push(IdWarning::SexMismatch {
            recorded: r,
            encoded: sex,
        });
    }
    Ok((
        IdNumber {
            value,
            birth_date: birth,
            sex,
            area_code,
        },
        warnings,
    ))
}

/// Province-level prefixes of GB/T 2260; a code outside them is surely unknown.
/// Finer checks would reject real people whose district has since been merged.
fn known_area(code: &str) -> bool {
    const PROVINCES: &[&str] = &[
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82",
    ];
    PROVINCES.contains(&&code[..2])
}

/// Meizhou districts by area code, for display and demo data.
pub const MEIZHOU_AREAS: &[(&str, &str)] = &[
    ("441402", "梅江区"),
    ("441403", "梅县区"),
    ("441422", "大埔县"),
    ("441423", "丰顺县"),
    ("441424", "五华县"),
    ("441426", "平远县"),
    ("441427", "蕉岭县"),
    ("441481", "兴宁市"),
];

/// Builds a valid number from parts; for fictional demo and test data only.
pub fn compose(area: &str, birth: NaiveDate, seq: u16) -> String {
    let mut s = format!("{area}{}{:03}", birth.format("%Y%m%d"), seq % 1000);
    let c = check_char(s.as_bytes()).expect("digits");
    s.push(c);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    }

    #[test]
    fn reference_example_validates_as_female_born_1949() {
        let (id, w) = parse("11010519491231002X", today(), None).unwrap();
        assert_eq!(
            id.birth_date,
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.sex, Sex::Female);
        assert!(w.is_empty());
    }

    #[test]
    fn lower_case_x_and_spaces_are_normalised() {
        let (id, _) = parse(" 11010519491231002x ", today(), None).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn full_width_digits_and_inner_spaces_are_normalised() {
        let (id, _) = parse("１１０１０５ １９４９１２３１ ００２ｘ", today(), None).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn wrong_check_char_is_rejected() {
        let e = parse("110105194912310021", today(), None).unwrap_err();
        assert_eq!(e.code, "idnumber.invalid");
    }

    #[test]
    fn impossible_or_future_dates_are_rejected() {
        assert!(
            parse(
                &compose("441402", NaiveDate::from_ymd_opt(1885, 1, 1).unwrap(), 11),
                today(),
                None
            )
            .is_err()
        );
        assert!(
            parse(
                &compose("441402", NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(), 11),
                today(),
                None
            )
            .is_err()
        );
        let mut bad = "44140219490230001".to_string();
        bad.push(check_char(bad.as_bytes()).unwrap());
        assert!(parse(&bad, today(), None).is_err());
    }

    #[test]
    fn fifteen_digit_number_is_upgraded() {
        let (id, w) = parse("441402490101001", today(), None).unwrap();
        assert_eq!(&id.as_str()[..14], "44140219490101");
        assert_eq!(id.as_str().len(), 18);
        assert!(w.contains(&IdWarning::UpgradedFrom15));
    }

    #[test]
    fn sex_mismatch_and_unknown_area_are_warnings_not_errors() {
        let n = compose("991402", NaiveDate::from_ymd_opt(1950, 3, 4).unwrap(), 13);
        let (_, w) = parse(&n, today(), Some(Sex::Female)).unwrap();
        assert!(w.iter().any(|x| matches!(x, IdWarning::UnknownArea(_))));
        assert!(w.iter().any(|x| matches!(x, IdWarning::SexMismatch { .. })));
    }

    #[test]
    fn wrong_lengths_and_letters_are_rejected() {
        for s in [
            "",
            "123",
            "4414021949010100",
            "44140219490101001A",
            "X4140219490101001X",
        ] {
            assert!(parse(s, today(), None).is_err(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn composed_numbers_always_validate(days in 0i64..40_000, seq in 0u16..1000, area in 0usize..8) {
            let birth = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            let n = compose(MEIZHOU_AREAS[area].0, birth, seq);
            let (id, w) = parse(&n, today(), None).unwrap();
            prop_assert_eq!(id.birth_date, birth);
            prop_assert_eq!(id.sex == Sex::Male, seq % 2 == 1);
            prop_assert!(w.is_empty());
        }

        #[test]
        fn any_single_digit_change_is_detected(days in 0i64..40_000, seq in 0u16..1000, pos in 0usize..17, delta in 1u8..10) {
            let birth = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            let n = compose("441402", birth, seq);
            let mut b = n.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let s = String::from_utf8(b).unwrap();
            prop_assert!(parse(&s, today(), None).is_err());
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s, today(), None);
        }

        #[test]
        fn upgrade_yields_valid_checksum(s in "[0-9]{6}[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}") {
            let up = upgrade15(&s).unwrap();
            prop_assert_eq!(check_char(&up.as_bytes()[..17]).unwrap(), up.as_bytes()[17] as char);
        }
    }
}
