//! HL7 composite data types (CX, XPN, XAD, XTN, XCN, PL, HD, CE/CWE, EI, SN)
//! and date/time values, read from parsed elements. Text values are
//! escape-decoded `Cow`s borrowing from the message text when possible.

use std::borrow::Cow;
use std::fmt;

use crate::message::{Element, Level};

type S<'a> = Cow<'a, str>;

/// Component `n` of a composite element (subcomponent `n` when the element
/// is itself a component, as for an HD inside a CX).
#[inline]
fn part<'a>(e: &Element<'_, 'a>, n: usize) -> S<'a> {
    if e.level() >= Level::Component {
        e.sub(n).value()
    } else {
        e.component(n).value()
    }
}

/// HD — hierarchic designator (assigning authority, application, facility).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hd<'a> {
    /// HD-1 namespace id.
    pub namespace_id: S<'a>,
    /// HD-2 universal id (e.g. an OID).
    pub universal_id: S<'a>,
    /// HD-3 universal id type (`ISO`, ...).
    pub universal_id_type: S<'a>,
}

impl<'a> Hd<'a> {
    /// Reads an HD from a field/repetition (components) or a component (subcomponents).
    pub fn from_element(e: Element<'_, 'a>) -> Self {
        Hd {
            namespace_id: part(&e, 1),
            universal_id: part(&e, 2),
            universal_id_type: part(&e, 3),
        }
    }

    /// True when all parts are empty.
    pub fn is_empty(&self) -> bool {
        self.namespace_id.is_empty() && self.universal_id.is_empty()
    }
}

/// CX — extended composite id (patient identifiers, visit numbers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cx<'a> {
    /// CX-1 the id.
    pub id: S<'a>,
    /// CX-2 check digit.
    pub check_digit: S<'a>,
    /// CX-3 check digit scheme.
    pub check_digit_scheme: S<'a>,
    /// CX-4 assigning authority.
    pub assigning_authority: Hd<'a>,
    /// CX-5 identifier type code (`MR`, `NI`, `PI`, `VN`, ...).
    pub identifier_type: S<'a>,
    /// CX-6 assigning facility.
    pub assigning_facility: Hd<'a>,
}

impl<'a> Cx<'a> {
    /// Reads a CX from one repetition.
    pub fn from_element(e: Element<'_, 'a>) -> Self {
        Cx {
            id: e.component(1).value(),
            check_digit: e.component(2).value(),
            check_digit_scheme: e.component(3).value(),
            assigning_authority: Hd::from_element(e.component(4)),
            identifier_type: e.component(5).value(),
            assigning_facility: Hd::from_element(e.component(6)),
        }
    }
}

/// XPN — person name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Xpn<'a> {
    /// XPN-1 family name (surname, e.g. `张`); only its first subcomponent.
    pub family: S<'a>,
    /// XPN-2 given name.
    pub given: S<'a>,
    /// XPN-3 second/further given names or initials.
    pub middle: S<'a>,
    /// XPN-4 suffix.
    pub suffix: S<'a>,
    /// XPN-5 prefix.
    pub prefix: S<'a>,
    /// XPN-6 degree.
    pub degree: S<'a>,
    /// XPN-7 name type code (`L` legal, `A` alias, ...).
    pub name_type: S<'a>,
}

impl<'a> Xpn<'a> {
    /// Reads an XPN from one repetition.
    pub fn from_element(e: Element<'_, 'a>) -> Self {
        Xpn {
            family: e.component(1).sub(1).value(),
            given: e.component(2).value(),
            middle: e.component(3).value(),
            suffix: e.component(4).value(),
            prefix: e.component(5).value(),
            degree: e.component(6).value(),
            name_type: e.component(7).value(),
        }
    }

    /// Family + given (no space when both are CJK, as is usual for Chinese names).
    pub fn display_name(&self) -> String {
        let cjk = |s: &str| {
            s.chars()
                .next()
                .is_some_and(|c| ('\u{3400}'..='\u{9fff}').contains(&c))
        };
        if self.given.is_empty() {
            self.family.to_string()
        } else if cjk(&self.family) && cjk(&self.given) {
            format!("{}{}", self.family, self.given)
        } else {
            format!("{} {}", self.given, self.family)
        }
    }
}

/// XAD — address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Xad<'a> {
    /// XAD-1 street address.
    pub street: S<'a>,
    /// XAD-2 other designation.
    pub other: S<'a>,
    /// XAD-3 city.
    pub city: S<'a>,
    /// XAD-4 state or province.
    pub state: S<'a>,
    /// XAD-5 zip or postal code.
    pub zip: S<'a>,
    /// XAD-6 country.
    pub country: S<'a>,
    /// XAD-7 address type (`H` home, `B` business, ...).
    pub address_type: S<'a>,
    /// XAD-8 other geographic designation.
    pub other_geographic: S<'a>,
    /// XAD-9 county/parish code.
    pub county: S<'a>,
}

impl<'a> Xad<'a> {
    /// Reads an XAD from one repetition.
    pub fn from_element(e: Element<'_, 'a>) -> Self {
        Xad {
            street: e.component(1).sub(1).value(),
            other: e.component(2).value(),
            city: e.component(3).value(),
            state: e.component(4).value(),
            zip: e.component(5).value(),
            country: e.component(6).value(),
            address_type: e.component(7).value(),
            other_geographic: e.component(8).value(),
            county: e.component(9).value(),
        }
    }
}

/// XTN — telecommunication number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Xtn<'a> {
    /// XTN-1 number in free format (deprecated in later versions, still common).
    pub number: S<'a>,
    /// XTN-2 use code (`PRN`, `WPN`, `NET`, ...).
    pub use_code: S<'a>,
    /// XTN-3 equipment type (`PH`, `CP`, `Internet`, ...).
    pub equipment_type: S<'a>,
    /// XTN-4 email address.
    pub email: S<'a>,
    /// XTN-5 country code.
    pub country_code: S<'a>,
    /// XTN-6 area/city code.
    pub area_code: S<'a>,
    /// XTN-7 local number.
    pub local_number: S<'a>,
    /// XTN-8 extension.
    pub extension: S<'a>,
}

impl<'a> Xtn<'a> {
    /// Reads an XTN from one repetition.
    pub fn from_element(e: Element<'_, 'a>) -> Self {
        Xtn {
            number: e.component(1).value(),
            use_code: e.component(2).value(),
            equipment_type: e.component(3).value(),
            email: e.component(4).value(),
            country_code: e.component(5).value(),
            area_code: e.component(6).value(),
            local_number: e.component(7).value(),
            extension: e.component(8).value(),
        }
    }

    /// Best single dialable/usable string: XTN-1, else `+cc area local`, else email.
    pub fn best(&self) -> String {
        if !self.number.is_empty() {
            return self.number.to_string();
        }
        if !self.local_number.is_empty() {
            let mut s = String::new();
            if !self.country_code.is_empty() {
                s.push('+');
                s.push_str(&self.country_code);
                s.push(' ');
            }
            if !self.area_code.is_empty() {
                s.push_str(&self.area_code);
                s.push(' ');
            }
            s.push_str(&self.local_number);
            return s;
        }
        self.email.to_string()
    }
}

/// XCN — extended composite id and name for persons (doctors, operators).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Xcn<'a> {
    /// XCN-1 id number.
    pub id: S<'a>,
    /// XCN-2 family name.
    pub family: S<'a>,
    /// XCN-3 given name.
    pub given: S<'a>,
    /// XCN-4 middle names.
    pub middle: S<'a>,
    /// XCN-5 suffix.
    pub suffix: S<'a>,
    /// XCN-6 prefix (`Dr.`).
    pub prefix: S<'a>,
    /// XCN-7 degree.
    pub degree: S<'a>,
    /// XCN-9 assigning authority.
    pub assigning_authority: Hd<'a>,
    /// XCN-13 identifier type code.
    pub identifier_type: S<'a>,
}

impl<'a> Xcn<'a> {
    /// Reads an XCN from one repetition.
    pub fn from_element(e: Element<'_, 'a>) -> Self {
        Xcn {
            id: e.component(1).value(),
            family: e.component(2).sub(1).value(),
            given: e.component(3).value(),
            middle: e.component(4).value(),
            suffix: e.component(5).value(),
            prefix: e.component(6).value(),
            degree: e.component(7).value(),
            assigning_authority: Hd::from_element(e.component(9)),
            identifier_type: e.component(13).value(),
        }
    }
}

/// PL — person location (ward / room / bed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pl<'a> {
    /// PL-1 point of care (nursing unit / ward).
    pub point_of_care: S<'a>,
    /// PL-2 room.
    pub room: S<'a>,
    /// PL-3 bed.
    pub bed: S<'a>,
    /// PL-4 facility.
    pub facility: Hd<'a>,
    /// PL-5 location status.
    pub location_status: S<'a>,
    /// PL-6 person location type.
    pub location_type: S<'a>,
    /// PL-7 building.
    pub building: S<'a>,
    /// PL-8 floor.
    pub floor: S<'a>,
    /// PL-9 location description.
    pub description: S<'a>,
}

impl<'a> Pl<'a> {
    /// Reads a PL from one repetition.
    pub fn from_element(e: Element<'_, 'a>) -> Self {
        Pl {
            point_of_care: e.component(1).value(),
            room: e.component(2).value(),
            bed: e.component(3).value(),
            facility: Hd::from_element(e.component(4)),
            location_status: e.component(5).value(),
            location_type: e.component(6).value(),
            building: e.component(7).value(),
            floor: e.component(8).value(),
            description: e.component(9).value(),
        }
    }
}

/// CE / CWE — coded element (with optional alternate coding).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ce<'a> {
    /// Identifier (code).
    pub identifier: S<'a>,
    /// Text.
    pub text: S<'a>,
    /// Name of coding system (`LN`, `HL70063`, ...).
    pub coding_system: S<'a>,
    /// Alternate identifier.
    pub alt_identifier: S<'a>,
    /// Alternate text.
    pub alt_text: S<'a>,
    /// Alternate coding system.
    pub alt_coding_system: S<'a>,
}

impl<'a> Ce<'a> {
    /// Reads a CE/CWE from one repetition (or a component, reading subcomponents).
    pub fn from_element(e: Element<'_, 'a>) -> Self {
        Ce {
            identifier: part(&e, 1),
            text: part(&e, 2),
            coding_system: part(&e, 3),
            alt_identifier: part(&e, 4),
            alt_text: part(&e, 5),
            alt_coding_system: part(&e, 6),
        }
    }

    /// True when both code and text are empty.
    pub fn is_empty(&self) -> bool {
        self.identifier.is_empty() && self.text.is_empty()
    }
}

/// EI — entity identifier (placer/filler order numbers, appointment ids).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ei<'a> {
    /// EI-1 entity identifier.
    pub id: S<'a>,
    /// EI-2 namespace id.
    pub namespace_id: S<'a>,
    /// EI-3 universal id.
    pub universal_id: S<'a>,
    /// EI-4 universal id type.
    pub universal_id_type: S<'a>,
}

impl<'a> Ei<'a> {
    /// Reads an EI from one repetition.
    pub fn from_element(e: Element<'_, 'a>) -> Self {
        Ei {
            id: part(&e, 1),
            namespace_id: part(&e, 2),
            universal_id: part(&e, 3),
            universal_id_type: part(&e, 4),
        }
    }
}

/// SN — structured numeric (`>^10`, `^1^:^128`, `^2^-^5`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sn {
    /// SN-1 comparator (`>`, `<`, `>=`, `<=`, `=`, `<>`), empty when absent.
    pub comparator: String,
    /// SN-2 first number.
    pub num1: Option<f64>,
    /// SN-3 separator/suffix (`-`, `+`, `/`, `.`, `:`).
    pub separator: String,
    /// SN-4 second number.
    pub num2: Option<f64>,
}

/// Date/time precision of a [`Timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    /// `YYYY`
    Year,
    /// `YYYYMM`
    Month,
    /// `YYYYMMDD`
    Day,
    /// `YYYYMMDDHH`
    Hour,
    /// `YYYYMMDDHHMM`
    Minute,
    /// `YYYYMMDDHHMMSS`
    Second,
    /// with fractional seconds
    Fraction,
}

/// An HL7 DT/DTM/TS value: `YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]`.
/// Missing parts are 1 (month/day) or 0 (time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Year.
    pub year: u16,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
    /// Hour 0–23.
    pub hour: u8,
    /// Minute 0–59.
    pub minute: u8,
    /// Second 0–59 (60 tolerated for leap seconds).
    pub second: u8,
    /// Fraction of a second in nanoseconds.
    pub nanos: u32,
    /// UTC offset in minutes, when given.
    pub offset_minutes: Option<i16>,
    /// How much of the value was given.
    pub precision: Precision,
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0')))
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Timestamp {
    /// Parses an HL7 date/time; `None` when malformed or out of range.
    /// Only the first component is read (v2.3 TS carries a precision in TS-2).
    pub fn parse(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        let (body, offset) = match s.find(['+', '-']) {
            Some(p) => {
                let z = &s.as_bytes()[p + 1..];
                if z.len() != 4 {
                    return None;
                }
                let (hh, mm) = (digits(&z[..2])?, digits(&z[2..])?);
                if hh > 14 || mm > 59 {
                    return None;
                }
                let sign: i16 = if s.as_bytes()[p] == b'-' { -1 } else { 1 };
                (&s[..p], Some(sign * (hh * 60 + mm) as i16))
            }
            None => (s, None),
        };
        let (main, frac) = match body.find('.') {
            Some(p) => (&body[..p], Some(&body[p + 1..])),
            None => (body, None),
        };
        let b = main.as_bytes();
        if !matches!(b.len(), 4 | 6 | 8 | 10 | 12 | 14) {
            return None;
        }
        let year = digits(&b[..4])? as u16;
        let get = |i: usize, dflt: u32| -> Option<u32> {
            if b.len() > i {
                digits(&b[i..i + 2])
            } else {
                Some(dflt)
            }
        };
        let (month, day) = (get(4, 1)? as u8, get(6, 1)? as u8);
        let (hour, minute, second) = (get(8, 0)? as u8, get(10, 0)? as u8, get(12, 0)? as u8);
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let mut precision = match b.len() {
            4 => Precision::Year,
            6 => Precision::Month,
            8 => Precision::Day,
            10 => Precision::Hour,
            12 => Precision::Minute,
            _ => Precision::Second,
        };
        let mut nanos = 0;
        if let Some(f) = frac {
            if b.len() != 14 || f.is_empty() || f.len() > 9 {
                return None;
            }
            nanos = digits(f.as_bytes())? * 10u32.pow(9 - f.len() as u32);
            precision = Precision::Fraction;
        }
        Some(Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
            offset_minutes: offset,
            precision,
        })
    }

    /// HL7 form, at the value's precision (`20240315083012+0800`).
    pub fn to_hl7(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        let p = self.precision;
        if p >= Precision::Month {
            write!(f, "{:02}", self.month)?;
        }
        if p >= Precision::Day {
            write!(f, "{:02}", self.day)?;
        }
        if p >= Precision::Hour {
            write!(f, "{:02}", self.hour)?;
        }
        if p >= Precision::Minute {
            write!(f, "{:02}", self.minute)?;
        }
        if p >= Precision::Second {
            write!(f, "{:02}", self.second)?;
        }
        if p == Precision::Fraction {
            let s = format!("{:09}", self.nanos);
            let t = s.trim_end_matches('0');
            write!(f, ".{}", if t.is_empty() { "0" } else { t })?;
        }
        if let Some(o) = self.offset_minutes {
            let sign = if o < 0 { '-' } else { '+' };
            let o = o.unsigned_abs();
            write!(f, "{sign}{:02}{:02}", o / 60, o % 60)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = Timestamp::parse("20240315083012.25+0800").unwrap();
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2024, 3, 15, 8, 30, 12)
        );
        assert_eq!(t.nanos, 250_000_000);
        assert_eq!(t.offset_minutes, Some(480));
        assert_eq!(t.to_string(), "20240315083012.25+0800");
        let d = Timestamp::parse("19500315").unwrap();
        assert_eq!(d.precision, Precision::Day);
        assert_eq!(d.to_string(), "19500315");
        assert_eq!(
            Timestamp::parse("202402").unwrap().precision,
            Precision::Month
        );
        assert!(Timestamp::parse("20230229").is_none());
        assert!(Timestamp::parse("20240229").is_some());
        assert!(Timestamp::parse("2024131").is_none());
        assert!(Timestamp::parse("20241301").is_none());
        assert!(Timestamp::parse("2024-03-15").is_none());
        assert!(Timestamp::parse("202403152500").is_none());
        assert!(Timestamp::parse("").is_none());
        assert!(Timestamp::parse("20240315+08").is_none());
    }
}
