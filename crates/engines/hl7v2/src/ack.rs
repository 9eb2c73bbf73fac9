//! ACK building (MSH + MSA + ERR) in the version of the original message.
//! The caller supplies the new control id and timestamp: no clock here.

use crate::escape::Delimiters;
use crate::message::Message;
use crate::value::{FieldValue, MessageValue, SegmentValue};

/// MSA-1 acknowledgment code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckCode {
    /// `AA` application accept.
    Accept,
    /// `AE` application error.
    Error,
    /// `AR` application reject.
    Reject,
    /// `CA` commit accept (enhanced mode).
    CommitAccept,
    /// `CE` commit error.
    CommitError,
    /// `CR` commit reject.
    CommitReject,
}

impl AckCode {
    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::Accept => "AA",
            AckCode::Error => "AE",
            AckCode::Reject => "AR",
            AckCode::CommitAccept => "CA",
            AckCode::CommitError => "CE",
            AckCode::CommitReject => "CR",
        }
    }
}

/// HL7 table 0357 message error condition codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0 message accepted.
    Accepted,
    /// 100 segment sequence error.
    SegmentSequence,
    /// 101 required field missing.
    RequiredFieldMissing,
    /// 102 data type error.
    DataType,
    /// 103 table value not found.
    TableValueNotFound,
    /// 200 unsupported message type.
    UnsupportedMessageType,
    /// 201 unsupported event code.
    UnsupportedEvent,
    /// 202 unsupported processing id.
    UnsupportedProcessingId,
    /// 203 unsupported version id.
    UnsupportedVersion,
    /// 204 unknown key identifier.
    UnknownKey,
    /// 205 duplicate key identifier.
    DuplicateKey,
    /// 206 application record locked.
    RecordLocked,
    /// 207 application internal error.
    InternalError,
}

impl ErrorCode {
    /// Numeric code.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::Accepted => 0,
            ErrorCode::SegmentSequence => 100,
            ErrorCode::RequiredFieldMissing => 101,
            ErrorCode::DataType => 102,
            ErrorCode::TableValueNotFound => 103,
            ErrorCode::UnsupportedMessageType => 200,
            ErrorCode::UnsupportedEvent => 201,
            ErrorCode::UnsupportedProcessingId => 202,
            ErrorCode::UnsupportedVersion => 203,
            ErrorCode::UnknownKey => 204,
            ErrorCode::DuplicateKey => 205,
            ErrorCode::RecordLocked => 206,
            ErrorCode::InternalError => 207,
        }
    }

    /// Table 0357 description.
    pub fn text(self) -> &'static str {
        match self {
            ErrorCode::Accepted => "Message accepted",
            ErrorCode::SegmentSequence => "Segment sequence error",
            ErrorCode::RequiredFieldMissing => "Required field missing",
            ErrorCode::DataType => "Data type error",
            ErrorCode::TableValueNotFound => "Table value not found",
            ErrorCode::UnsupportedMessageType => "Unsupported message type",
            ErrorCode::UnsupportedEvent => "Unsupported event code",
            ErrorCode::UnsupportedProcessingId => "Unsupported processing id",
            ErrorCode::UnsupportedVersion => "Unsupported version id",
            ErrorCode::UnknownKey => "Unknown key identifier",
            ErrorCode::DuplicateKey => "Duplicate key identifier",
            ErrorCode::RecordLocked => "Application record locked",
            ErrorCode::InternalError => "Application internal error",
        }
    }
}

/// ERR-4 severity (HL7 table 0516).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// `E` error.
    Error,
    /// `W` warning.
    Warning,
    /// `I` information.
    Information,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "E",
            Severity::Warning => "W",
            Severity::Information => "I",
        }
    }
}

/// One ERR segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// Segment id of the error location (e.g. `PID`), empty if not applicable.
    pub segment: String,
    /// 1-based sequence of that segment among segments with the same id.
    pub sequence: Option<usize>,
    /// Field position, if applicable.
    pub field: Option<usize>,
    /// Table 0357 code.
    pub code: ErrorCode,
    /// Severity.
    pub severity: Severity,
    /// Diagnostic text (ERR-7, or ELD text in v2.3/2.4).
    pub diagnostic: String,
}

impl AckError {
    /// An error at `segment`/`field` with the given code.
    pub fn new(segment: &str, field: Option<usize>, code: ErrorCode, diagnostic: &str) -> Self {
        AckError {
            segment: segment.to_owned(),
            sequence: Some(1),
            field,
            code,
            severity: Severity::Error,
            diagnostic: diagnostic.to_owned(),
        }
    }

    /// Maps a parse/view error to an ERR entry (code 100/101/102/200/207).
    pub fn from_error(e: &crate::Error) -> Self {
        use crate::Error as E;
        let (segment, field, code) = match e {
            E::MissingSegment { segment } => {
                ((*segment).to_owned(), None, ErrorCode::SegmentSequence)
            }
            E::MissingField { segment, field, .. } => (
                segment.clone(),
                Some(*field),
                ErrorCode::RequiredFieldMissing,
            ),
            E::InvalidValue { segment, field, .. } => {
                (segment.clone(), Some(*field), ErrorCode::DataType)
            }
            E::UnexpectedSegment { segment, .. } => {
                (segment.clone(), None, ErrorCode::SegmentSequence)
            }
            E::WrongMessageType { .. } => {
                ("MSH".to_owned(), Some(9), ErrorCode::UnsupportedMessageType)
            }
            _ => (String::new(), None, ErrorCode::InternalError),
        };
        AckError::new(&segment, field, code, &e.to_string())
    }
}

/// Builds ACK messages.
///
/// ```
/// use yiyang_hl7v2::{Message, ack::{AckBuilder, AckCode}};
/// let m = Message::parse("MSH|^~\\&|HIS|H|LIS|L|20240101||ORM^O01|C1|P|2.4").unwrap();
/// let ack = AckBuilder::new(AckCode::Accept, "A1", "20240101120000").build(&m);
/// assert_eq!(ack, "MSH|^~\\&|LIS|L|HIS|H|20240101120000||ACK^O01^ACK|A1|P|2.4\rMSA|AA|C1");
/// ```
#[derive(Debug, Clone)]
pub struct AckBuilder {
    code: AckCode,
    control_id: String,
    timestamp: String,
    text: Option<String>,
    errors: Vec<AckError>,
}

impl AckBuilder {
    /// `control_id` becomes the ACK's MSH-10, `timestamp` its MSH-7 (HL7 format, supplied by caller).
    pub fn new(code: AckCode, control_id: &str, timestamp: &str) -> Self {
        AckBuilder {
            code,
            control_id: control_id.to_owned(),
            timestamp: timestamp.to_owned(),
            text: None,
            errors: Vec::new(),
        }
    }

    /// Sets MSA-3 text message.
    pub fn text(mut self, text: &str) -> Self {
        self.text = Some(text.to_owned());
        self
    }

    /// Adds an ERR segment.
    pub fn error(mut self, e: AckError) -> Self {
        self.errors.push(e);
        self
    }

    /// Builds the ACK for `original` as a value (to tweak before encoding).
    pub fn build_value(&self, original: &Message<'_>) -> MessageValue {
        let msh = original.msh();
        let f = |n| msh.field(n).to_value();
        self.assemble(
            *original.delimiters(),
            [f(5), f(6), f(3), f(4)],
            &msh.field(9).component(2).value(),
            &msh.text(10),
            f(11),
            &msh.text(12),
            f(18),
        )
    }

    /// Builds the ACK text for `original` (`\r` separated).
    pub fn build(&self, original: &Message<'_>) -> String {
        self.build_value(original).encode()
    }

    /// Builds an ACK when the original could not be parsed: only what is
    /// known (its control id, if any, and the version to answer in).
    pub fn build_minimal(&self, original_control_id: &str, version: &str) -> String {
        self.assemble(
            Delimiters::default(),
            Default::default(),
            "",
            original_control_id,
            FieldValue::from("P"),
            version,
            FieldValue::empty(),
        )
        .encode()
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        &self,
        d: Delimiters,
        apps: [FieldValue; 4],
        trigger: &str,
        original_id: &str,
        processing: FieldValue,
        version: &str,
        charset: FieldValue,
    ) -> MessageValue {
        let v = Version::parse(version);
        let mut m = MessageValue::with_msh(d);
        let [s_app, s_fac, r_app, r_fac] = apps;
        if let Some(msh) = m.segment_mut("MSH") {
            msh.set(3, s_app).set(4, s_fac).set(5, r_app).set(6, r_fac);
            msh.set(7, self.timestamp.as_str());
            let mut t = vec!["ACK"];
            if !trigger.is_empty() || v >= Version(2, 3, 1) {
                t.push(trigger);
            }
            if v >= Version(2, 3, 1) {
                t.push("ACK");
            }
            msh.set(9, FieldValue::components(&t));
            msh.set(10, self.control_id.as_str());
            msh.set(11, processing);
            msh.set(12, version);
            if charset.first() != "" {
                msh.set(18, charset);
            }
        }
        let mut msa = SegmentValue::new("MSA")
            .with(1, self.code.as_str())
            .with(2, original_id);
        if let Some(t) = &self.text {
            msa.set(3, t.as_str());
        }
        m.push(msa);
        for e in &self.errors {
            m.push(err_segment(e, v));
        }
        m
    }
}

fn err_segment(e: &AckError, v: Version) -> SegmentValue {
    let seq = e.sequence.map(|s| s.to_string()).unwrap_or_default();
    let field = e.field.map(|s| s.to_string()).unwrap_or_default();
    let code = e.code.code().to_string();
    if v >= Version(2, 5, 0) {
        let mut s = SegmentValue::new("ERR");
        if !e.segment.is_empty() {
            s.set(
                2,
                FieldValue::components(&[e.segment.as_str(), &seq, &field]),
            );
        }
        s.set(
            3,
            FieldValue::components(&[code.as_str(), e.code.text(), "HL70357"]),
        );
        s.set(4, e.severity.as_str());
        if !e.diagnostic.is_empty() {
            s.set(7, e.diagnostic.as_str());
        }
        s
    } else {
        // v2.3/2.4: ERR-1 ELD = segment ^ sequence ^ field ^ code&text&HL70357
        let mut f = FieldValue::components(&[e.segment.as_str(), &seq, &field, ""]);
        f.reps[0][3] = vec![code, e.code.text().to_owned(), "HL70357".to_owned()];
        if !e.diagnostic.is_empty() {
            f.reps[0][3][1] = e.diagnostic.clone();
        }
        SegmentValue::new("ERR").with(1, f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Version(u8, u8, u8);

impl Version {
    fn parse(s: &str) -> Version {
        let mut it = s.trim().split('.').map(|p| p.parse::<u8>().unwrap_or(0));
        let major = it.next().unwrap_or(2);
        Version(
            if major == 0 { 2 } else { major },
            it.next().unwrap_or(5),
            it.next().unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(Version::parse("2.3") < Version(2, 3, 1));
        assert!(Version::parse("2.3.1") >= Version(2, 3, 1));
        assert!(Version::parse("2.5.1") >= Version(2, 5, 0));
        assert!(Version::parse("2.4") < Version(2, 5, 0));
        assert_eq!(Version::parse(""), Version(2, 5, 0));
    }

    #[test]
    fn ack_v23_and_v251_with_errors() {
        let m = Message::parse("MSH|^~\\&|HIS|MZPH|EMR|MZPH|20240101||ADT^A01|X9|P|2.3").unwrap();
        let ack = AckBuilder::new(AckCode::Error, "ACK1", "20240101010101")
            .text("bad PID")
            .error(AckError::new(
                "PID",
                Some(3),
                ErrorCode::RequiredFieldMissing,
                "",
            ))
            .build(&m);
        assert_eq!(
            ack,
            "MSH|^~\\&|EMR|MZPH|HIS|MZPH|20240101010101||ACK^A01|ACK1|P|2.3\rMSA|AE|X9|bad PID\rERR|PID^1^3^101&Required field missing&HL70357"
        );
        let m = Message::parse(
            "MSH|^~\\&|HIS|MZPH|EMR|MZPH|20240101||ADT^A01^ADT_A01|X9|T|2.5.1||||||UNICODE UTF-8",
        )
        .unwrap();
        let ack = AckBuilder::new(AckCode::Reject, "ACK2", "20240101010101+0800")
            .error(AckError::new(
                "",
                None,
                ErrorCode::UnsupportedEvent,
                "A01 not | supported",
            ))
            .build(&m);
        assert_eq!(
            ack,
            "MSH|^~\\&|EMR|MZPH|HIS|MZPH|20240101010101+0800||ACK^A01^ACK|ACK2|T|2.5.1||||||UNICODE UTF-8\rMSA|AR|X9\rERR|||201^Unsupported event code^HL70357|E|||A01 not \\F\\ supported"
        );
        let parsed = Message::parse(&ack).unwrap();
        assert_eq!(
            parsed.segment("ERR").unwrap().field(7).value(),
            "A01 not | supported"
        );
    }
}
