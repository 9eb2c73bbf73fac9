//! Delimiters and escape sequences (HL7 v2 chapter 2.7).

use std::borrow::Cow;
use std::fmt::Write as _;

/// The delimiters declared in MSH-1/MSH-2 (or FHS/BHS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delimiters {
    /// Field separator (MSH-1), usually `|`.
    pub field: u8,
    /// Component separator, usually `^`.
    pub component: u8,
    /// Repetition separator, usually `~`.
    pub repetition: u8,
    /// Escape character, usually `\`.
    pub escape: u8,
    /// Subcomponent separator, usually `&`.
    pub subcomponent: u8,
    /// Truncation character (v2.7+, usually `#`), if declared.
    pub truncation: Option<u8>,
}

impl Default for Delimiters {
    fn default() -> Self {
        Self {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: b'\\',
            subcomponent: b'&',
            truncation: None,
        }
    }
}

impl Delimiters {
    /// The MSH-2 text for these delimiters (`^~\&`, plus the truncation char if any).
    pub fn encoding_characters(&self) -> String {
        let mut s = String::with_capacity(5);
        s.push(self.component as char);
        s.push(self.repetition as char);
        s.push(self.escape as char);
        s.push(self.subcomponent as char);
        if let Some(t) = self.truncation {
            s.push(t as char);
        }
        s
    }

    /// Checks that all delimiters are distinct printable ASCII punctuation-like bytes.
    pub fn validate(&self) -> Result<(), &'static str> {
        let mut all = vec![
            self.field,
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
        ];
        if let Some(t) = self.truncation {
            all.push(t);
        }
        for (i, &d) in all.iter().enumerate() {
            if !d.is_ascii_graphic() || d.is_ascii_alphanumeric() {
                return Err("delimiters must be printable, non-alphanumeric ASCII");
            }
            if all[..i].contains(&d) {
                return Err("delimiters must be distinct");
            }
        }
        Ok(())
    }

    /// Builds delimiters from a field separator and MSH-2 style encoding
    /// characters (component, repetition, escape, subcomponent, truncation).
    ///
    /// # Panics
    /// When the characters are not valid, distinct, non-alphanumeric ASCII.
    pub fn from_header_chars(field: char, encoding: &str) -> Self {
        assert!(
            field.is_ascii() && encoding.is_ascii(),
            "delimiters must be ASCII"
        );
        Self::from_header(field as u8, encoding.as_bytes()).expect("valid delimiters")
    }

    /// Parses encoding characters as found in MSH-2, with `field` as MSH-1.
    ///
    /// Missing trailing characters fall back to the standard ones (lenient), as
    /// long as the result stays distinct.
    pub(crate) fn from_header(field: u8, enc: &[u8]) -> Result<Self, &'static str> {
        if enc.len() > 5 {
            return Err("MSH-2 has more than 5 encoding characters");
        }
        if enc.is_empty() {
            return Err("MSH-2 (encoding characters) is empty");
        }
        let dflt = Delimiters::default();
        let d = Delimiters {
            field,
            component: enc[0],
            repetition: enc.get(1).copied().unwrap_or(dflt.repetition),
            escape: enc.get(2).copied().unwrap_or(dflt.escape),
            subcomponent: enc.get(3).copied().unwrap_or(dflt.subcomponent),
            truncation: enc.get(4).copied(),
        };
        d.validate()?;
        Ok(d)
    }
}

/// Decodes the escape sequences in `raw`.
///
/// Returns the input unchanged (borrowed) when it has no escape character.
/// Known sequences: `\F\ \S\ \T\ \R\ \E\ \P\` (delimiters), `\Xhh..\` (hex
/// bytes, if they form valid UTF-8), `\.br\` and `\.sp\` (line break).
/// Anything else (`\H\`, `\N\`, `\Cxxyy\`, `\Zxx\`, other formatting commands,
/// malformed or unterminated sequences) is preserved verbatim.
pub fn unescape<'a>(raw: &'a str, d: &Delimiters) -> Cow<'a, str> {
    let bytes = raw.as_bytes();
    // short values (the common case) are cheaper to scan inline
    let found = if bytes.len() < 32 {
        bytes.iter().position(|&b| b == d.escape)
    } else {
        memchr::memchr(d.escape, bytes)
    };
    let Some(first) = found else {
        return Cow::Borrowed(raw);
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    let mut i = first;
    while i < bytes.len() {
        // bytes[i] is the escape char
        let rest = &bytes[i + 1..];
        let Some(close) = memchr::memchr(d.escape, rest) else {
            out.push_str(&raw[i..]);
            return Cow::Owned(out);
        };
        let body = &raw[i + 1..i + 1 + close];
        let whole = &raw[i..i + close + 2];
        decode_one(body, whole, d, &mut out);
        i += close + 2;
        match memchr::memchr(d.escape, &bytes[i..]) {
            Some(n) => {
                out.push_str(&raw[i..i + n]);
                i += n;
            }
            None => {
                out.push_str(&raw[i..]);
                break;
            }
        }
    }
    Cow::Owned(out)
}

fn decode_one(body: &str, whole: &str, d: &Delimiters, out: &mut String) {
    let b = body.as_bytes();
    match b {
        b"F" => out.push(d.field as char),
        b"S" => out.push(d.component as char),
        b"T" => out.push(d.subcomponent as char),
        b"R" => out.push(d.repetition as char),
        b"E" => out.push(d.escape as char),
        b"P" if d.truncation.is_some() => out.push(d.truncation.unwrap_or(b'#') as char),
        b".br" | b".sp" => out.push('\n'),
        [b'X', hex @ ..] if !hex.is_empty() && hex.len() % 2 == 0 => {
            let mut buf = [0u8; 32];
            if hex.len() / 2 <= buf.len() {
                let n = hex.len() / 2;
                let mut ok = true;
                for k in 0..n {
                    match (hexval(hex[2 * k]), hexval(hex[2 * k + 1])) {
                        (Some(h), Some(l)) => buf[k] = (h << 4) | l,
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                }
                if ok && let Ok(s) = std::str::from_utf8(&buf[..n]) {
                    out.push_str(s);
                    return;
                }
            }
            out.push_str(whole);
        }
        _ => out.push_str(whole),
    }
}

#[inline]
fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Escapes `value` so it can be placed in an ER7 leaf (subcomponent) position.
///
/// Delimiters become `\F\ \S\ \T\ \R\ \E\` (`\P\` for a declared truncation
/// character); CR and LF become `\X0D\` / `\X0A\`. Other text (including
/// Chinese) is copied unchanged.
pub fn escape<'a>(value: &'a str, d: &Delimiters) -> Cow<'a, str> {
    let needs = value.bytes().any(|b| needs_escape(b, d));
    if !needs {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    escape_into(value, d, &mut out);
    Cow::Owned(out)
}

#[inline]
fn needs_escape(b: u8, d: &Delimiters) -> bool {
    b == d.field
        || b == d.component
        || b == d.repetition
        || b == d.escape
        || b == d.subcomponent
        || b == b'\r'
        || b == b'\n'
        || Some(b) == d.truncation
}

/// Appends the escaped form of `value` to `out` (see [`escape`]).
pub fn escape_into(value: &str, d: &Delimiters, out: &mut String) {
    let e = d.escape as char;
    let mut last = 0;
    for (i, b) in value.bytes().enumerate() {
        if !needs_escape(b, d) {
            continue;
        }
        out.push_str(&value[last..i]);
        last = i + 1;
        let code = if b == d.field {
            "F"
        } else if b == d.component {
            "S"
        } else if b == d.repetition {
            "R"
        } else if b == d.escape {
            "E"
        } else if b == d.subcomponent {
            "T"
        } else if b == b'\r' {
            "X0D"
        } else if b == b'\n' {
            "X0A"
        } else {
            "P"
        };
        let _ = write!(out, "{e}{code}{e}");
    }
    out.push_str(&value[last..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_escape() {
        let d = Delimiters::default();
        let raw = r"a\F\b\S\c\T\d\R\e\E\f\X0D0A\g\.br\h\H\bold\N\i\Zcustom\j\X4E2D\k";
        let s = unescape(raw, &d);
        assert_eq!(s, "a|b^c&d~e\\f\r\ng\nh\\H\\bold\\N\\i\\Zcustom\\jN-k");
    }

    #[test]
    fn hex_utf8_and_unterminated() {
        let d = Delimiters::default();
        assert_eq!(unescape(r"\XE4B8AD\", &d), "中");
        assert_eq!(unescape(r"abc\F", &d), r"abc\F");
        assert_eq!(unescape(r"\X0\", &d), r"\X0\");
        assert_eq!(unescape(r"\\", &d), r"\\");
        assert!(matches!(unescape("plain", &d), Cow::Borrowed(_)));
    }

    #[test]
    fn truncation_escape() {
        let d = Delimiters::from_header(b'|', b"^~\\&#").unwrap();
        assert_eq!(unescape(r"a\P\b", &d), "a#b");
        assert_eq!(escape("a#b", &d), r"a\P\b");
        // without a declared truncation char, \P\ is unknown and kept
        assert_eq!(unescape(r"a\P\b", &Delimiters::default()), r"a\P\b");
    }

    #[test]
    fn escape_roundtrip() {
        let d = Delimiters::default();
        let v = "A|B^C~D\\E&F\r\nG 中文";
        let e = escape(v, &d);
        assert_eq!(e, r"A\F\B\S\C\R\D\E\E\T\F\X0D\\X0A\G 中文");
        assert_eq!(unescape(&e, &d), v);
    }

    #[test]
    fn bad_delimiters() {
        assert!(Delimiters::from_header(b'|', b"^^\\&").is_err());
        assert!(Delimiters::from_header(b'|', b"A~\\&").is_err());
        assert!(Delimiters::from_header(b'|', b"").is_err());
        assert!(Delimiters::from_header(b'|', b"^~\\&#!").is_err());
        assert!(Delimiters::from_header(b'|', b"^~").is_ok());
    }
}
