//! # yiyang-hl7v2
//!
//! HL7 v2 (ER7) toolkit for the Yiyang platform: a zero-copy parser, an
//! escaping encoder, typed views for ADT/ORU/ORM/OML/SIU, ACK building,
//! GB18030/UTF-8 handling and a pure MLLP codec. No I/O, no clock, no async.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ack;
pub mod batch;
pub mod charset;
pub mod error;
pub mod escape;
pub mod message;
pub mod mllp;
pub mod types;
pub mod value;
pub mod views;

pub use ack::{AckBuilder, AckCode, AckError, ErrorCode, Severity};
pub use batch::Batch;
pub use charset::{Charset, decode_message, decode_message_with_fallback, encode_message};
pub use error::{Error, Result};
pub use escape::{Delimiters, escape, unescape};
pub use message::{Element, Level, MAX_MESSAGE_LEN, Message, ParseBuffers, Segment};
pub use mllp::{MllpDecoder, MllpError, encode_frame};
pub use types::{Ce, Cx, Ei, Hd, Pl, Precision, Sn, Timestamp, Xad, Xcn, Xpn, Xtn};
pub use value::{FieldValue, MessageValue, SegmentValue};
pub use views::{
    AbnormalFlag, Adt, AdtEvent, Ail, Aip, Ais, Evn, Header, MessageType, Mrg, Obr,
    ObservationGroup, Obx, ObxValue, Orc, OrderGroup, Orders, Oru, Pid, Pv1, ResultStatus, Sch,
    Siu,
};
