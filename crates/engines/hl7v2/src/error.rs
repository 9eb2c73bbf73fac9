//! Error type shared by the parser, the character-set layer and the typed views.

use thiserror::Error;

/// Everything that can go wrong while decoding, parsing or reading an HL7 v2 message.
///
/// Positions are byte offsets into the text that was handed to the parser
/// (for [`crate::Batch`] that is the whole batch text). Segment indices are
/// 0-based positions of the segment within its message; field numbers follow
/// the HL7 convention (`PID-3` is field 3, `MSH-1` is the field separator).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The input holds no segment at all (empty or only whitespace).
    #[error("empty input: no HL7 segment found")]
    Empty,

    /// The input is larger than the parser's 32-bit offsets can address.
    #[error("input of {len} bytes is too large (max {max})")]
    TooLarge {
        /// Length of the rejected input.
        len: usize,
        /// Largest accepted length.
        max: usize,
    },

    /// The first segment is not a header segment (`MSH`, or `FHS`/`BHS` for batches).
    #[error("expected {expected} header segment at byte {position}, found {found:?}")]
    MissingHeader {
        /// The header that was expected (e.g. `"MSH"`).
        expected: &'static str,
        /// The start of the segment that was found instead.
        found: String,
        /// Byte position of that segment.
        position: usize,
    },

    /// A header segment (`MSH`/`FHS`/`BHS`) declares unusable delimiters.
    #[error("segment {segment} (#{index}) at byte {position}: invalid delimiters: {reason}")]
    InvalidDelimiters {
        /// Segment id.
        segment: String,
        /// 0-based index of the segment.
        index: usize,
        /// Byte position of the segment.
        position: usize,
        /// What is wrong.
        reason: &'static str,
    },

    /// A segment id is not three ASCII letters/digits.
    #[error("segment #{index} at byte {position}: invalid segment id {found:?}")]
    InvalidSegmentId {
        /// 0-based index of the segment.
        index: usize,
        /// Byte position of the segment.
        position: usize,
        /// The offending id (possibly truncated).
        found: String,
    },

    /// A segment appears where the message/batch structure does not allow it.
    #[error("segment {segment} (#{index}) at byte {position}: {reason}")]
    UnexpectedSegment {
        /// Segment id.
        segment: String,
        /// 0-based index of the segment.
        index: usize,
        /// Byte position of the segment.
        position: usize,
        /// What is wrong.
        reason: &'static str,
    },

    /// A segment the typed view needs is absent.
    #[error("required segment {segment} is missing")]
    MissingSegment {
        /// Segment id.
        segment: &'static str,
    },

    /// A field the typed view needs is empty or absent.
    #[error(
        "segment {segment} (#{index}) field {field}: required value missing (segment at byte {position})"
    )]
    MissingField {
        /// Segment id.
        segment: String,
        /// 0-based index of the segment in its message.
        index: usize,
        /// HL7 field number.
        field: usize,
        /// Byte position of the segment (or of the field when present).
        position: usize,
    },

    /// A field holds a value that cannot be interpreted as its data type.
    #[error(
        "segment {segment} (#{index}) field {field} at byte {position}: invalid value {value:?}: {reason}"
    )]
    InvalidValue {
        /// Segment id.
        segment: String,
        /// 0-based index of the segment in its message.
        index: usize,
        /// HL7 field number.
        field: usize,
        /// Byte position of the field.
        position: usize,
        /// The raw value.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },

    /// The message is not of the type a typed view expects.
    #[error("message type {found:?} is not {expected}")]
    WrongMessageType {
        /// The expected type(s).
        expected: &'static str,
        /// The MSH-9 value found.
        found: String,
    },

    /// Bytes are not valid in the character set they were decoded with.
    #[error("invalid {charset} byte sequence at byte {position}")]
    InvalidEncoding {
        /// Name of the character set.
        charset: &'static str,
        /// Byte position of the first bad sequence.
        position: usize,
    },

    /// MSH-18 names a character set this crate does not handle.
    #[error("unsupported character set {0:?} in MSH-18")]
    UnsupportedCharset(String),

    /// Text cannot be represented in the target character set.
    #[error("character {ch:?} cannot be encoded as {charset}")]
    Unencodable {
        /// Target character set.
        charset: &'static str,
        /// First character that failed.
        ch: char,
    },
}

/// Convenience alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
