//! Character sets: UTF-8 by default, GB18030 (and Latin-1) when MSH-18 says so.
//!
//! Decoding must happen *before* parsing: GB18030 trail bytes can equal
//! `|`, `^`, `~` or `\`, so splitting raw GB18030 bytes would be wrong.

use std::borrow::Cow;

use encoding_rs::{DecoderResult, Encoding, GB18030, WINDOWS_1252};

use crate::error::{Error, Result};

/// A character set named in MSH-18 (HL7 table 0211) that this crate handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charset {
    /// `ASCII` (decoded as UTF-8, its superset).
    Ascii,
    /// `UNICODE UTF-8` (also the default when MSH-18 is empty).
    Utf8,
    /// `GB 18030-2000` (also accepted: `GB18030`, `GBK`, `GB2312`, `ISO IR58`, `CP936`, `CHINESE`).
    Gb18030,
    /// `8859/1` (decoded as windows-1252, a superset).
    Latin1,
}

impl Charset {
    /// Interprets an MSH-18 value, leniently (case, spaces, `-`, `_`, `/` ignored).
    /// An empty value means the default, UTF-8.
    pub fn from_hl7(name: &str) -> Option<Charset> {
        let norm: String = name
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_' | '/' | '.'))
            .flat_map(char::to_uppercase)
            .collect();
        Some(match norm.as_str() {
            "" | "UNICODEUTF8" | "UTF8" | "UNICODE" => Charset::Utf8,
            "ASCII" | "USASCII" => Charset::Ascii,
            "88591" | "ISO88591" | "LATIN1" | "ISOIR100" => Charset::Latin1,
            "GBK" | "GB2312" | "ISOIR58" | "CP936" | "CHINESE" | "EUCCN" => Charset::Gb18030,
            n if n.starts_with("GB18030") => Charset::Gb18030,
            _ => return None,
        })
    }

    /// The HL7 table 0211 code to put in MSH-18.
    pub fn hl7_name(self) -> &'static str {
        match self {
            Charset::Ascii => "ASCII",
            Charset::Utf8 => "UNICODE UTF-8",
            Charset::Gb18030 => "GB 18030-2000",
            Charset::Latin1 => "8859/1",
        }
    }

    fn encoding(self) -> Option<&'static Encoding> {
        match self {
            Charset::Gb18030 => Some(GB18030),
            Charset::Latin1 => Some(WINDOWS_1252),
            _ => None,
        }
    }
}

/// Finds the first MSH line in raw bytes and returns the first repetition /
/// component of MSH-18, if present.
fn raw_msh18(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut rest = bytes;
    loop {
        let end = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
        let line = &rest[..end];
        let line = line.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(line);
        if line.len() > 4 && line.starts_with(b"MSH") {
            let sep = line[3];
            let comp = line[4];
            let rep = line.get(5).copied().unwrap_or(b'~');
            let value = line.split(|&b| b == sep).nth(17).and_then(|f| {
                let f = f.split(|&b| b == rep).next()?;
                f.split(|&b| b == comp).next()
            });
            return Some((line, value.unwrap_or(b"")));
        }
        if end >= rest.len() {
            return None;
        }
        rest = &rest[end + 1..];
    }
}

fn mentions_gb(line: &[u8]) -> bool {
    let upper: Vec<u8> = line.iter().map(u8::to_ascii_uppercase).collect();
    [&b"GB18030"[..], b"GB 18030", b"GBK", b"GB2312"]
        .iter()
        .any(|pat| upper.windows(pat.len()).any(|w| w == *pat))
}

/// The character set declared in MSH-18 of raw message bytes
/// (`Ok(None)` when there is no MSH or MSH-18 is empty).
pub fn detect_charset(bytes: &[u8]) -> Result<Option<Charset>> {
    let Some((line, v)) = raw_msh18(bytes) else {
        return Ok(None);
    };
    let v = String::from_utf8_lossy(v);
    let v = v.trim();
    if v.is_empty() {
        // the field count may be off when earlier MSH fields hold GB18030
        // text whose trail bytes look like separators: look for a marker
        return Ok(if std::str::from_utf8(line).is_err() && mentions_gb(line) {
            Some(Charset::Gb18030)
        } else {
            None
        });
    }
    match Charset::from_hl7(v) {
        Some(c) => Ok(Some(c)),
        None if mentions_gb(line) => Ok(Some(Charset::Gb18030)),
        None => Err(Error::UnsupportedCharset(v.to_owned())),
    }
}

/// Decodes raw message bytes to text according to MSH-18 (UTF-8 when absent).
/// Borrows when the bytes are already valid UTF-8 (or pure ASCII).
///
/// ```
/// let bytes = b"MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5||||||GB 18030-2000\rPID|1||1||\xd5\xc5^\xc8\xfd";
/// let text = yiyang_hl7v2::decode_message(bytes).unwrap();
/// assert!(text.ends_with("张^三"));
/// ```
pub fn decode_message(bytes: &[u8]) -> Result<Cow<'_, str>> {
    decode_message_with_fallback(bytes, None)
}

/// Like [`decode_message`], but when MSH-18 is empty and the bytes are not
/// valid UTF-8, decodes with `fallback` (e.g. GB18030 for legacy senders).
pub fn decode_message_with_fallback(
    bytes: &[u8],
    fallback: Option<Charset>,
) -> Result<Cow<'_, str>> {
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    match detect_charset(bytes)? {
        Some(cs @ (Charset::Gb18030 | Charset::Latin1)) => decode_as(bytes, cs),
        _ => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(e) => match fallback {
                Some(cs) if cs.encoding().is_some() => decode_as(bytes, cs),
                _ => Err(Error::InvalidEncoding {
                    charset: "UTF-8",
                    position: e.valid_up_to(),
                }),
            },
        },
    }
}

/// Decodes `bytes` as `charset`, failing on malformed sequences.
pub fn decode_as(bytes: &[u8], charset: Charset) -> Result<Cow<'_, str>> {
    let Some(enc) = charset.encoding() else {
        return std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|e| Error::InvalidEncoding {
                charset: "UTF-8",
                position: e.valid_up_to(),
            });
    };
    if let Some(s) = enc.decode_without_bom_handling_and_without_replacement(bytes) {
        return Ok(s);
    }
    // find the position of the first malformed sequence
    let mut dec = enc.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(
        dec.max_utf8_buffer_length_without_replacement(bytes.len())
            .unwrap_or(bytes.len() * 3),
    );
    let (res, read) = dec.decode_to_string_without_replacement(bytes, &mut out, true);
    let position = match res {
        DecoderResult::Malformed(bad, back) => read.saturating_sub(bad as usize + back as usize),
        _ => read,
    };
    Err(Error::InvalidEncoding {
        charset: charset.hl7_name(),
        position,
    })
}

/// Encodes message text for the wire according to its MSH-18 (UTF-8 when absent).
pub fn encode_message(text: &str) -> Result<Cow<'_, [u8]>> {
    let cs = detect_charset(text.as_bytes())?.unwrap_or(Charset::Utf8);
    encode_as(text, cs)
}

/// Encodes `text` as `charset`.
pub fn encode_as(text: &str, charset: Charset) -> Result<Cow<'_, [u8]>> {
    match charset {
        Charset::Utf8 => Ok(Cow::Borrowed(text.as_bytes())),
        Charset::Ascii => match text.chars().find(|c| !c.is_ascii()) {
            None => Ok(Cow::Borrowed(text.as_bytes())),
            Some(ch) => Err(Error::Unencodable {
                charset: "ASCII",
                ch,
            }),
        },
        Charset::Gb18030 | Charset::Latin1 => {
            let enc = charset.encoding().unwrap_or(GB18030);
            let (bytes, _, had_errors) = enc.encode(text);
            if had_errors {
                let ch = text
                    .chars()
                    .find(|c| enc.encode(c.encode_utf8(&mut [0; 4])).2)
                    .unwrap_or('\u{fffd}');
                return Err(Error::Unencodable {
                    charset: charset.hl7_name(),
                    ch,
                });
            }
            Ok(bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for n in [
            "GB 18030-2000",
            "GB18030",
            "gb18030",
            "GBK",
            "CHINESE",
            "GB-18030-2005",
        ] {
            assert_eq!(Charset::from_hl7(n), Some(Charset::Gb18030), "{n}");
        }
        assert_eq!(Charset::from_hl7("UNICODE UTF-8"), Some(Charset::Utf8));
        assert_eq!(Charset::from_hl7("8859/1"), Some(Charset::Latin1));
        assert_eq!(Charset::from_hl7("ISO IR87"), None);
    }

    #[test]
    fn gb18030_roundtrip_with_separator_trail_bytes() {
        // 亅 (U+4E85) is 0x81 0x7C in GB18030: its trail byte is '|'
        let text =
            "MSH|^~\\&|梅州医院|亅|R|F|||ADT^A01|1|P|2.5||||||GB 18030-2000\rPID|1||1||亅^三";
        let bytes = encode_message(text).unwrap();
        assert!(bytes.windows(2).any(|w| w == [0x81, 0x7C]));
        assert_eq!(detect_charset(&bytes).unwrap(), Some(Charset::Gb18030));
        assert_eq!(decode_message(&bytes).unwrap(), text);
    }

    #[test]
    fn errors() {
        let bad = b"MSH|^~\\&|A|||||||1|P|2.5\rPID|1||\xff\xfe";
        assert_eq!(
            decode_message(bad).unwrap_err(),
            Error::InvalidEncoding {
                charset: "UTF-8",
                position: 32
            }
        );
        let gb =
            decode_message_with_fallback(b"MSH|^~\\&|\xd5\xc5", Some(Charset::Gb18030)).unwrap();
        assert_eq!(gb, "MSH|^~\\&|张");
        let unknown = b"MSH|^~\\&|A|||||||1|P|2.5||||||KLINGON";
        assert_eq!(
            decode_message(unknown).unwrap_err(),
            Error::UnsupportedCharset("KLINGON".into())
        );
        let bad_gb = b"MSH|^~\\&|A|||||||1|P|2.5||||||GB18030\rPID|\x81";
        assert!(matches!(
            decode_message(bad_gb),
            Err(Error::InvalidEncoding { .. })
        ));
        assert!(matches!(
            encode_as("中", Charset::Latin1),
            Err(Error::Unencodable { ch: '中', .. })
        ));
    }
}
