//! Typed, zero-copy views over parsed messages: MSH header, ADT, ORU,
//! ORM/OML orders and SIU scheduling. Views wrap [`Segment`]s and read
//! fields on demand; text comes back escape-decoded as `Cow<str>`.
//!
//! Lenient by design (v2.3–v2.5.1 as found in the field): optional segments
//! may be missing, extra fields are ignored, absent fields read as empty.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::message::{Element, Message, Segment};
use crate::types::{Ce, Cx, Ei, Hd, Pl, Sn, Timestamp, Xad, Xcn, Xpn, Xtn};

type S<'a> = Cow<'a, str>;

macro_rules! seg_view {
    ($(#[$m:meta])* $name:ident, $id:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<'m, 'a>(pub Segment<'m, 'a>);

        impl<'m, 'a> $name<'m, 'a> {
            /// Segment id this view reads.
            pub const ID: &'static str = $id;

            /// Wraps `seg` when its id matches.
            pub fn new(seg: Segment<'m, 'a>) -> Option<Self> {
                (seg.id() == $id).then_some(Self(seg))
            }

            /// The underlying segment.
            pub fn segment(&self) -> Segment<'m, 'a> {
                self.0
            }

            #[allow(dead_code)]
            fn reps<T: 'm>(&self, n: usize, f: fn(Element<'m, 'a>) -> T) -> impl Iterator<Item = T> + use<'m, 'a, T> {
                self.0.field(n).non_empty_repetitions().map(f)
            }
        }
    };
}

macro_rules! text {
    ($($(#[$m:meta])* $name:ident = $n:expr;)*) => {
        $( $(#[$m])* pub fn $name(&self) -> S<'a> { self.0.text($n) } )*
    };
}

macro_rules! ts {
    ($($(#[$m:meta])* $name:ident = $n:expr;)*) => {
        $( $(#[$m])* pub fn $name(&self) -> Result<Option<Timestamp>> { self.0.timestamp($n) } )*
    };
}

macro_rules! composite {
    ($($(#[$m:meta])* $name:ident: $ty:ident = $n:expr;)*) => {
        $( $(#[$m])* pub fn $name(&self) -> $ty<'a> { $ty::from_element(self.0.field($n).rep(1)) } )*
    };
}

macro_rules! repeated {
    ($($(#[$m:meta])* $name:ident: $ty:ident = $n:expr;)*) => {
        $( $(#[$m])* pub fn $name(&self) -> impl Iterator<Item = $ty<'a>> + use<'m, 'a> { self.reps($n, $ty::from_element) } )*
    };
}

// ---------------------------------------------------------------- MSH

/// MSH-9: message code, trigger event and structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageType<'a> {
    /// MSG-1 message code (`ADT`, `ORU`, ...).
    pub code: S<'a>,
    /// MSG-2 trigger event (`A01`, `R01`, ...).
    pub trigger: S<'a>,
    /// MSG-3 message structure (`ADT_A01`), empty in v2.3 messages.
    pub structure: S<'a>,
}

/// The header facts of a message (MSH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// MSH-3.
    pub sending_application: Hd<'a>,
    /// MSH-4.
    pub sending_facility: Hd<'a>,
    /// MSH-5.
    pub receiving_application: Hd<'a>,
    /// MSH-6.
    pub receiving_facility: Hd<'a>,
    /// MSH-7 raw date/time of message.
    pub timestamp: S<'a>,
    /// MSH-9.
    pub message_type: MessageType<'a>,
    /// MSH-10 message control id.
    pub control_id: S<'a>,
    /// MSH-11 processing id (`P`, `T`, `D`).
    pub processing_id: S<'a>,
    /// MSH-12 version id (`2.3` … `2.5.1`).
    pub version: S<'a>,
    /// MSH-15 accept acknowledgment type.
    pub accept_ack_type: S<'a>,
    /// MSH-16 application acknowledgment type.
    pub app_ack_type: S<'a>,
    /// MSH-18 first character set (empty = default).
    pub charset: S<'a>,
}

impl<'a> Message<'a> {
    /// The MSH segment.
    pub fn msh(&self) -> Segment<'_, 'a> {
        // parse() guarantees MSH is segment 0
        self.segment_at(0)
            .unwrap_or_else(|| unreachable!("a parsed message has an MSH"))
    }

    /// MSH-9 (message type, trigger, structure). Fails when MSH-9.1 is empty.
    pub fn message_type(&self) -> Result<MessageType<'a>> {
        let msh = self.msh();
        let f = msh.field(9);
        let code = msh.require(9)?;
        Ok(MessageType {
            code,
            trigger: f.component(2).value(),
            structure: f.component(3).value(),
        })
    }

    /// MSH-10, the message control id.
    pub fn control_id(&self) -> S<'a> {
        self.msh().text(10)
    }

    /// MSH-12, the version id.
    pub fn version(&self) -> S<'a> {
        self.msh().text(12)
    }

    /// The header facts (MSH). Fails only when MSH-9 is empty.
    pub fn header(&self) -> Result<Header<'a>> {
        let msh = self.msh();
        Ok(Header {
            sending_application: Hd::from_element(msh.field(3).rep(1)),
            sending_facility: Hd::from_element(msh.field(4).rep(1)),
            receiving_application: Hd::from_element(msh.field(5).rep(1)),
            receiving_facility: Hd::from_element(msh.field(6).rep(1)),
            timestamp: msh.text(7),
            message_type: self.message_type()?,
            control_id: msh.text(10),
            processing_id: msh.text(11),
            version: msh.text(12),
            accept_ack_type: msh.text(15),
            app_ack_type: msh.text(16),
            charset: msh.field(18).rep(1).value(),
        })
    }
}

fn check_type(msg: &Message<'_>, codes: &[&str], expected: &'static str) -> Result<()> {
    let t = msg.message_type()?;
    if codes.iter().any(|c| t.code == *c) {
        Ok(())
    } else {
        Err(Error::WrongMessageType {
            expected,
            found: msg.msh().field(9).raw().to_owned(),
        })
    }
}

fn required<'m, 'a, T>(
    msg: &'m Message<'a>,
    id: &'static str,
    wrap: fn(Segment<'m, 'a>) -> T,
) -> Result<T> {
    msg.segment(id)
        .map(wrap)
        .ok_or(Error::MissingSegment { segment: id })
}

// ---------------------------------------------------------------- segments

seg_view!(
    /// EVN — event type.
    Evn, "EVN"
);
impl<'m, 'a> Evn<'m, 'a> {
    text! {
        /// EVN-1 event type code (v2.3; optional later).
        event_type_code = 1;
        /// EVN-4 event reason code.
        reason_code = 4;
    }
    ts! {
        /// EVN-2 recorded date/time.
        recorded = 2;
        /// EVN-3 planned event date/time.
        planned = 3;
        /// EVN-6 event occurred.
        occurred = 6;
    }
    repeated! {
        /// EVN-5 operator ids.
        operators: Xcn = 5;
    }
}

seg_view!(
    /// PID — patient identification.
    Pid, "PID"
);
impl<'m, 'a> Pid<'m, 'a> {
    text! {
        /// PID-1 set id.
        set_id = 1;
        /// PID-8 administrative sex (`M`, `F`, `O`, `U`, ...).
        sex = 8;
        /// PID-12 county code.
        county_code = 12;
        /// PID-19 SSN / national id number as sent (in China often the resident ID card number).
        ssn = 19;
        /// PID-20 driver's license number.
        drivers_license = 20;
        /// PID-23 birth place.
        birth_place = 23;
        /// PID-24 multiple birth indicator.
        multiple_birth = 24;
        /// PID-30 patient death indicator.
        death_indicator = 30;
    }
    ts! {
        /// PID-7 date/time of birth.
        birth_date = 7;
        /// PID-29 patient death date and time.
        death_datetime = 29;
    }
    composite! {
        /// PID-2 patient id (external id; v2.3 style).
        external_id: Cx = 2;
        /// PID-6 mother's maiden name.
        mothers_maiden_name: Xpn = 6;
        /// PID-15 primary language.
        language: Ce = 15;
        /// PID-16 marital status.
        marital_status: Ce = 16;
        /// PID-17 religion.
        religion: Ce = 17;
        /// PID-18 patient account number.
        account_number: Cx = 18;
        /// PID-28 nationality.
        nationality: Ce = 28;
    }
    repeated! {
        /// PID-3 patient identifier list.
        identifiers: Cx = 3;
        /// PID-4 alternate patient ids.
        alternate_ids: Cx = 4;
        /// PID-5 patient names.
        names: Xpn = 5;
        /// PID-9 aliases.
        aliases: Xpn = 9;
        /// PID-10 race.
        races: Ce = 10;
        /// PID-11 addresses.
        addresses: Xad = 11;
        /// PID-13 home phone numbers.
        home_phones: Xtn = 13;
        /// PID-14 business phone numbers.
        business_phones: Xtn = 14;
        /// PID-22 ethnic groups.
        ethnic_groups: Ce = 22;
    }

    /// The first PID-5 name.
    pub fn name(&self) -> Xpn<'a> {
        Xpn::from_element(self.0.field(5).rep(1))
    }

    /// The first PID-3 identifier with this identifier type code (e.g. `MR`).
    pub fn identifier_of_type(&self, code: &str) -> Option<Cx<'a>> {
        self.identifiers().find(|c| c.identifier_type == code)
    }
}

seg_view!(
    /// PV1 — patient visit.
    Pv1, "PV1"
);
impl<'m, 'a> Pv1<'m, 'a> {
    text! {
        /// PV1-1 set id.
        set_id = 1;
        /// PV1-2 patient class (`I` inpatient, `O` outpatient, `E` emergency, ...).
        patient_class = 2;
        /// PV1-4 admission type.
        admission_type = 4;
        /// PV1-10 hospital service.
        hospital_service = 10;
        /// PV1-14 admit source.
        admit_source = 14;
        /// PV1-16 VIP indicator.
        vip_indicator = 16;
        /// PV1-18 patient type.
        patient_type = 18;
        /// PV1-20 financial class.
        financial_class = 20;
        /// PV1-36 discharge disposition.
        discharge_disposition = 36;
        /// PV1-41 account status.
        account_status = 41;
        /// PV1-51 visit indicator.
        visit_indicator = 51;
    }
    ts! {
        /// PV1-44 admit date/time.
        admit_datetime = 44;
        /// PV1-45 discharge date/time (first repetition).
        discharge_datetime = 45;
    }
    composite! {
        /// PV1-3 assigned patient location (ward/room/bed).
        assigned_location: Pl = 3;
        /// PV1-5 preadmit number.
        preadmit_number: Cx = 5;
        /// PV1-6 prior patient location.
        prior_location: Pl = 6;
        /// PV1-11 temporary location.
        temporary_location: Pl = 11;
        /// PV1-19 visit number.
        visit_number: Cx = 19;
        /// PV1-42 pending location.
        pending_location: Pl = 42;
        /// PV1-43 prior temporary location.
        prior_temporary_location: Pl = 43;
        /// PV1-50 alternate visit id.
        alternate_visit_id: Cx = 50;
    }
    repeated! {
        /// PV1-7 attending doctors.
        attending_doctors: Xcn = 7;
        /// PV1-8 referring doctors.
        referring_doctors: Xcn = 8;
        /// PV1-9 consulting doctors.
        consulting_doctors: Xcn = 9;
        /// PV1-17 admitting doctors.
        admitting_doctors: Xcn = 17;
    }

    /// The first attending doctor.
    pub fn attending_doctor(&self) -> Option<Xcn<'a>> {
        self.attending_doctors().next()
    }
}

seg_view!(
    /// MRG — merge patient information (prior identifiers).
    Mrg, "MRG"
);
impl<'m, 'a> Mrg<'m, 'a> {
    composite! {
        /// MRG-3 prior patient account number.
        prior_account_number: Cx = 3;
        /// MRG-4 prior patient id.
        prior_patient_id: Cx = 4;
        /// MRG-5 prior visit number.
        prior_visit_number: Cx = 5;
        /// MRG-6 prior alternate visit id.
        prior_alternate_visit_id: Cx = 6;
    }
    repeated! {
        /// MRG-1 prior patient identifier list.
        prior_identifiers: Cx = 1;
        /// MRG-2 prior alternate patient ids.
        prior_alternate_ids: Cx = 2;
        /// MRG-7 prior patient names.
        prior_names: Xpn = 7;
    }
}

seg_view!(
    /// ORC — common order.
    Orc, "ORC"
);
impl<'m, 'a> Orc<'m, 'a> {
    text! {
        /// ORC-1 order control (`NW`, `CA`, `OC`, `XO`, `SC`, `RE`, ...).
        order_control = 1;
        /// ORC-5 order status.
        order_status = 5;
        /// ORC-6 response flag.
        response_flag = 6;
    }
    ts! {
        /// ORC-9 date/time of transaction.
        transaction_datetime = 9;
        /// ORC-15 order effective date/time.
        effective_datetime = 15;
    }
    composite! {
        /// ORC-2 placer order number.
        placer_order_number: Ei = 2;
        /// ORC-3 filler order number.
        filler_order_number: Ei = 3;
        /// ORC-4 placer group number.
        placer_group_number: Ei = 4;
        /// ORC-10 entered by.
        entered_by: Xcn = 10;
        /// ORC-16 order control code reason.
        control_reason: Ce = 16;
    }
    repeated! {
        /// ORC-12 ordering providers.
        ordering_providers: Xcn = 12;
    }

    /// ORC-7.6 priority (quantity/timing, v2.3–2.4 style).
    pub fn timing_priority(&self) -> S<'a> {
        self.0.field(7).component(6).value()
    }

    /// ORC-7.4 start date/time (quantity/timing).
    pub fn timing_start(&self) -> Result<Option<Timestamp>> {
        self.0.timestamp_at(self.0.field(7).component(4), 7)
    }
}

seg_view!(
    /// OBR — observation request.
    Obr, "OBR"
);
impl<'m, 'a> Obr<'m, 'a> {
    text! {
        /// OBR-1 set id.
        set_id = 1;
        /// OBR-5 priority (deprecated, still sent).
        priority = 5;
        /// OBR-11 specimen action code.
        specimen_action = 11;
        /// OBR-15 specimen source (first component).
        specimen_source = 15;
        /// OBR-24 diagnostic service section id.
        diagnostic_service = 24;
        /// OBR-25 result status.
        result_status = 25;
    }
    ts! {
        /// OBR-6 requested date/time.
        requested_datetime = 6;
        /// OBR-7 observation date/time.
        observation_datetime = 7;
        /// OBR-8 observation end date/time.
        observation_end = 8;
        /// OBR-14 specimen received date/time.
        specimen_received = 14;
        /// OBR-22 results report/status change date/time.
        status_changed = 22;
    }
    composite! {
        /// OBR-2 placer order number.
        placer_order_number: Ei = 2;
        /// OBR-3 filler order number.
        filler_order_number: Ei = 3;
        /// OBR-4 universal service identifier.
        universal_service_id: Ce = 4;
        /// OBR-31 reason for study.
        reason_for_study: Ce = 31;
    }
    repeated! {
        /// OBR-16 ordering providers.
        ordering_providers: Xcn = 16;
    }

    /// OBR-27.6 priority (quantity/timing).
    pub fn timing_priority(&self) -> S<'a> {
        self.0.field(27).component(6).value()
    }
}

/// OBX-8 abnormal flag (HL7 table 0078).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbnormalFlag<'a> {
    /// `L` below low normal.
    Low,
    /// `H` above high normal.
    High,
    /// `LL` below lower panic limit (critical).
    CriticalLow,
    /// `HH` above upper panic limit (critical).
    CriticalHigh,
    /// `<` below absolute low (off scale).
    BelowScale,
    /// `>` above absolute high (off scale).
    AboveScale,
    /// `N` normal.
    Normal,
    /// `A` abnormal.
    Abnormal,
    /// `AA` very abnormal (critical).
    CriticalAbnormal,
    /// Any other code (`U`, `D`, `B`, `W`, `S`, `R`, `I`, `MS`, `VS`, ...).
    Other(S<'a>),
}

impl<'a> AbnormalFlag<'a> {
    /// Interprets a table 0078 code.
    pub fn from_code(code: S<'a>) -> Self {
        match code.trim() {
            "L" => Self::Low,
            "H" => Self::High,
            "LL" => Self::CriticalLow,
            "HH" => Self::CriticalHigh,
            "<" => Self::BelowScale,
            ">" => Self::AboveScale,
            "N" => Self::Normal,
            "A" => Self::Abnormal,
            "AA" => Self::CriticalAbnormal,
            _ => Self::Other(code),
        }
    }

    /// True for the panic/critical flags `LL`, `HH` and `AA`.
    pub fn is_critical(&self) -> bool {
        matches!(
            self,
            Self::CriticalLow | Self::CriticalHigh | Self::CriticalAbnormal
        )
    }
}

/// OBX-11 / OBR-25 result status (HL7 table 0085).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultStatus<'a> {
    /// `F` final.
    Final,
    /// `P` preliminary.
    Preliminary,
    /// `C` correction of a final result.
    Corrected,
    /// `X` results cannot be obtained.
    CannotObtain,
    /// `R` entered, not verified.
    NotVerified,
    /// `I` specimen in lab, pending.
    Pending,
    /// `D` delete.
    Deleted,
    /// `W` posted to wrong patient.
    Wrong,
    /// `S` partial.
    Partial,
    /// Empty field.
    Unknown,
    /// Any other code.
    Other(S<'a>),
}

impl<'a> ResultStatus<'a> {
    /// Interprets a table 0085 code.
    pub fn from_code(code: S<'a>) -> Self {
        match code.trim() {
            "F" => Self::Final,
            "P" => Self::Preliminary,
            "C" => Self::Corrected,
            "X" => Self::CannotObtain,
            "R" => Self::NotVerified,
            "I" => Self::Pending,
            "D" => Self::Deleted,
            "W" => Self::Wrong,
            "S" => Self::Partial,
            "" => Self::Unknown,
            _ => Self::Other(code),
        }
    }
}

/// A typed OBX-5 value.
#[derive(Debug, Clone, PartialEq)]
pub enum ObxValue<'a> {
    /// `NM` numeric (the raw text is kept for exact display).
    Numeric {
        /// Parsed value.
        value: f64,
        /// Text as sent.
        raw: S<'a>,
    },
    /// `ST` string.
    String(S<'a>),
    /// `TX` / `FT` text (`\.br\` decoded to newlines).
    Text(S<'a>),
    /// `CE` / `CWE` / `CNE` coded value.
    Coded(Ce<'a>),
    /// `SN` structured numeric.
    Structured(Sn),
    /// `DT` date.
    Date(Timestamp),
    /// `TS` / `DTM` date/time.
    DateTime(Timestamp),
    /// Any other type (or empty OBX-2): the decoded text of the repetition.
    Other {
        /// OBX-2 value type.
        value_type: S<'a>,
        /// Decoded text.
        value: S<'a>,
    },
}

seg_view!(
    /// OBX — observation/result.
    Obx, "OBX"
);
impl<'m, 'a> Obx<'m, 'a> {
    text! {
        /// OBX-1 set id.
        set_id = 1;
        /// OBX-2 value type (`NM`, `ST`, `TX`, `CE`, `CWE`, `SN`, `DT`, `TS`, ...).
        value_type = 2;
        /// OBX-4 observation sub-id.
        sub_id = 4;
        /// OBX-7 reference range (e.g. `3.5-5.5`).
        reference_range = 7;
    }
    ts! {
        /// OBX-14 date/time of the observation.
        observation_datetime = 14;
        /// OBX-19 date/time of the analysis (v2.5).
        analysis_datetime = 19;
    }
    composite! {
        /// OBX-3 observation identifier.
        observation_id: Ce = 3;
        /// OBX-6 units.
        units: Ce = 6;
        /// OBX-15 producer's id.
        producer: Ce = 15;
    }
    repeated! {
        /// OBX-16 responsible observers.
        responsible_observers: Xcn = 16;
    }

    /// OBX-8 abnormal flags (repeating since v2.5).
    pub fn abnormal_flags(&self) -> Vec<AbnormalFlag<'a>> {
        self.0
            .field(8)
            .non_empty_repetitions()
            .map(|r| AbnormalFlag::from_code(r.component(1).value()))
            .collect()
    }

    /// True when any abnormal flag is critical (`LL`, `HH`, `AA`).
    pub fn is_critical(&self) -> bool {
        self.abnormal_flags().iter().any(AbnormalFlag::is_critical)
    }

    /// OBX-11 observation result status.
    pub fn result_status(&self) -> ResultStatus<'a> {
        ResultStatus::from_code(self.0.text(11))
    }

    /// The first OBX-5 value, if any.
    pub fn value(&self) -> Result<Option<ObxValue<'a>>> {
        Ok(self.values()?.into_iter().next())
    }

    /// All OBX-5 repetitions, typed by OBX-2.
    pub fn values(&self) -> Result<Vec<ObxValue<'a>>> {
        let vt = self.value_type();
        let seg = self.0;
        seg.field(5)
            .non_empty_repetitions()
            .map(|r| {
                Ok(match vt.as_ref() {
                    "NM" => {
                        let raw = r.component(1).value();
                        let value = raw
                            .trim()
                            .parse::<f64>()
                            .map_err(|_| seg.invalid(5, &raw, "NM value is not a number"))?;
                        ObxValue::Numeric { value, raw }
                    }
                    "ST" => ObxValue::String(r.value()),
                    "TX" | "FT" => ObxValue::Text(r.value()),
                    "CE" | "CWE" | "CNE" => ObxValue::Coded(Ce::from_element(r)),
                    "SN" => ObxValue::Structured(parse_sn(r).ok_or_else(|| {
                        seg.invalid(5, r.raw(), "SN value is not a structured numeric")
                    })?),
                    "DT" | "TS" | "DTM" => {
                        let t = seg
                            .timestamp_at(r.component(1), 5)?
                            .ok_or_else(|| seg.invalid(5, r.raw(), "empty date"))?;
                        if vt == "DT" {
                            ObxValue::Date(t)
                        } else {
                            ObxValue::DateTime(t)
                        }
                    }
                    _ => ObxValue::Other {
                        value_type: vt.clone(),
                        value: r.value(),
                    },
                })
            })
            .collect()
    }
}

fn parse_sn(r: Element<'_, '_>) -> Option<Sn> {
    let num = |n: usize| -> Option<Option<f64>> {
        let v = r.component(n).value();
        let v = v.trim();
        if v.is_empty() {
            Some(None)
        } else {
            v.parse().ok().map(Some)
        }
    };
    let comparator = r.component(1).value().trim().to_owned();
    if !matches!(
        comparator.as_str(),
        "" | ">" | "<" | ">=" | "<=" | "=" | "<>"
    ) {
        return None;
    }
    Some(Sn {
        comparator,
        num1: num(2)?,
        separator: r.component(3).value().trim().to_owned(),
        num2: num(4)?,
    })
}

seg_view!(
    /// SCH — scheduling activity information.
    Sch, "SCH"
);
impl<'m, 'a> Sch<'m, 'a> {
    text! {
        /// SCH-3 occurrence number.
        occurrence_number = 3;
        /// SCH-9 appointment duration.
        duration = 9;
    }
    composite! {
        /// SCH-1 placer appointment id.
        placer_appointment_id: Ei = 1;
        /// SCH-2 filler appointment id.
        filler_appointment_id: Ei = 2;
        /// SCH-6 event reason.
        event_reason: Ce = 6;
        /// SCH-7 appointment reason.
        appointment_reason: Ce = 7;
        /// SCH-8 appointment type.
        appointment_type: Ce = 8;
        /// SCH-10 appointment duration units.
        duration_units: Ce = 10;
        /// SCH-20 entered by person.
        entered_by: Xcn = 20;
        /// SCH-25 filler status code (`Booked`, `Cancelled`, `Pending`, ...).
        filler_status: Ce = 25;
    }
    repeated! {
        /// SCH-12 placer contact persons.
        placer_contacts: Xcn = 12;
        /// SCH-16 filler contact persons.
        filler_contacts: Xcn = 16;
    }

    /// SCH-11.4 appointment start (v2.3–2.5 timing quantity).
    pub fn start(&self) -> Result<Option<Timestamp>> {
        self.0.timestamp_at(self.0.field(11).component(4), 11)
    }

    /// SCH-11.5 appointment end.
    pub fn end(&self) -> Result<Option<Timestamp>> {
        self.0.timestamp_at(self.0.field(11).component(5), 11)
    }
}

macro_rules! resource_common {
    ($name:ident, $start:expr) => {
        impl<'m, 'a> $name<'m, 'a> {
            text! {
                /// Set id.
                set_id = 1;
                /// Segment action code (`A`, `D`, `U`).
                action_code = 2;
                /// Start date/time offset.
                start_offset = $start + 1;
                /// Duration.
                duration = $start + 3;
                /// Allow substitution code.
                allow_substitution = $start + 5;
            }
            ts! {
                /// Start date/time.
                start = $start;
            }
            composite! {
                /// Start offset units.
                start_offset_units: Ce = $start + 2;
                /// Duration units.
                duration_units: Ce = $start + 4;
                /// Filler status code.
                filler_status: Ce = $start + 6;
            }
        }
    };
}

seg_view!(
    /// AIS — appointment information, service.
    Ais, "AIS"
);
resource_common!(Ais, 4);
impl<'m, 'a> Ais<'m, 'a> {
    composite! {
        /// AIS-3 universal service identifier.
        universal_service_id: Ce = 3;
    }
}

seg_view!(
    /// AIL — appointment information, location resource.
    Ail, "AIL"
);
resource_common!(Ail, 6);
impl<'m, 'a> Ail<'m, 'a> {
    composite! {
        /// AIL-3 location resource id.
        location: Pl = 3;
        /// AIL-4 location type.
        location_type: Ce = 4;
        /// AIL-5 location group.
        location_group: Ce = 5;
    }
}

seg_view!(
    /// AIP — appointment information, personnel resource.
    Aip, "AIP"
);
resource_common!(Aip, 6);
impl<'m, 'a> Aip<'m, 'a> {
    composite! {
        /// AIP-3 personnel resource id.
        personnel: Xcn = 3;
        /// AIP-4 resource type / role.
        resource_role: Ce = 4;
        /// AIP-5 resource group.
        resource_group: Ce = 5;
    }
}

// ---------------------------------------------------------------- messages

/// ADT trigger events with a typed view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdtEvent<'a> {
    /// A01 admit/visit notification.
    Admit,
    /// A02 transfer.
    Transfer,
    /// A03 discharge/end visit.
    Discharge,
    /// A04 register a patient.
    Register,
    /// A08 update patient information.
    Update,
    /// A11 cancel admit/visit.
    CancelAdmit,
    /// A13 cancel discharge.
    CancelDischarge,
    /// A40 merge patient — patient identifier list.
    Merge,
    /// Any other trigger.
    Other(S<'a>),
}

/// View of an ADT message (A01/A02/A03/A04/A08/A11/A13/A40, others leniently).
#[derive(Debug, Clone, Copy)]
pub struct Adt<'m, 'a> {
    msg: &'m Message<'a>,
    pid: Pid<'m, 'a>,
}

impl<'m, 'a> Adt<'m, 'a> {
    /// Checks MSH-9 is ADT and a PID is present.
    pub fn new(msg: &'m Message<'a>) -> Result<Self> {
        check_type(msg, &["ADT"], "ADT")?;
        let pid = required(msg, "PID", Pid)?;
        Ok(Adt { msg, pid })
    }

    /// The message.
    pub fn message(&self) -> &'m Message<'a> {
        self.msg
    }

    /// The trigger event (MSH-9.2, falling back to EVN-1).
    pub fn event(&self) -> AdtEvent<'a> {
        let mut t = self.msg.msh().field(9).component(2).value();
        if t.is_empty()
            && let Some(evn) = self.evn()
        {
            t = evn.event_type_code();
        }
        match t.as_ref() {
            "A01" => AdtEvent::Admit,
            "A02" => AdtEvent::Transfer,
            "A03" => AdtEvent::Discharge,
            "A04" => AdtEvent::Register,
            "A08" => AdtEvent::Update,
            "A11" => AdtEvent::CancelAdmit,
            "A13" => AdtEvent::CancelDischarge,
            "A40" => AdtEvent::Merge,
            _ => AdtEvent::Other(t),
        }
    }

    /// EVN, if present.
    pub fn evn(&self) -> Option<Evn<'m, 'a>> {
        self.msg.segment("EVN").map(Evn)
    }

    /// The (first) PID.
    pub fn pid(&self) -> Pid<'m, 'a> {
        self.pid
    }

    /// PV1, if present.
    pub fn pv1(&self) -> Option<Pv1<'m, 'a>> {
        self.msg.segment("PV1").map(Pv1)
    }

    /// The first MRG (A40 and other merge events).
    pub fn mrg(&self) -> Option<Mrg<'m, 'a>> {
        self.msg.segment("MRG").map(Mrg)
    }

    /// A40's repeating PATIENT groups: each PID with the MRG that follows it.
    pub fn merges(&self) -> Vec<(Pid<'m, 'a>, Option<Mrg<'m, 'a>>)> {
        let mut out: Vec<(Pid<'m, 'a>, Option<Mrg<'m, 'a>>)> = Vec::new();
        for s in self.msg.segments() {
            match s.id() {
                "PID" => out.push((Pid(s), None)),
                "MRG" => {
                    if let Some(last) = out.last_mut().filter(|l| l.1.is_none()) {
                        last.1 = Some(Mrg(s));
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// One ORDER_OBSERVATION group of an ORU^R01.
#[derive(Debug, Clone)]
pub struct ObservationGroup<'m, 'a> {
    /// The ORC before the OBR, if any.
    pub orc: Option<Orc<'m, 'a>>,
    /// The OBR.
    pub obr: Obr<'m, 'a>,
    /// The OBX segments of this group.
    pub observations: Vec<Obx<'m, 'a>>,
}

/// View of an ORU^R01 (results).
#[derive(Debug, Clone, Copy)]
pub struct Oru<'m, 'a> {
    msg: &'m Message<'a>,
}

impl<'m, 'a> Oru<'m, 'a> {
    /// Checks MSH-9 is ORU.
    pub fn new(msg: &'m Message<'a>) -> Result<Self> {
        check_type(msg, &["ORU"], "ORU")?;
        Ok(Oru { msg })
    }

    /// The (first) PID, if present.
    pub fn pid(&self) -> Option<Pid<'m, 'a>> {
        self.msg.segment("PID").map(Pid)
    }

    /// The (first) PV1, if present.
    pub fn pv1(&self) -> Option<Pv1<'m, 'a>> {
        self.msg.segment("PV1").map(Pv1)
    }

    /// OBR groups with their ORC and OBX segments, in order. OBX segments
    /// before any OBR are ignored (lenient).
    pub fn groups(&self) -> Vec<ObservationGroup<'m, 'a>> {
        let mut out: Vec<ObservationGroup<'m, 'a>> = Vec::new();
        let mut pending_orc = None;
        for s in self.msg.segments() {
            match s.id() {
                "ORC" => pending_orc = Some(Orc(s)),
                "OBR" => out.push(ObservationGroup {
                    orc: pending_orc.take(),
                    obr: Obr(s),
                    observations: Vec::new(),
                }),
                "OBX" => {
                    if let Some(g) = out.last_mut() {
                        g.observations.push(Obx(s));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// All OBX segments in the message.
    pub fn observations(&self) -> impl Iterator<Item = Obx<'m, 'a>> + use<'m, 'a> {
        self.msg.segments().filter_map(Obx::new)
    }
}

/// One ORDER group of an ORM^O01 / OML^O21: the ORC and what follows it.
#[derive(Debug, Clone)]
pub struct OrderGroup<'m, 'a> {
    /// The ORC.
    pub orc: Orc<'m, 'a>,
    /// The OBR of the order detail, if any.
    pub obr: Option<Obr<'m, 'a>>,
    /// TQ1 (v2.5 timing), if any.
    pub tq1: Option<Segment<'m, 'a>>,
}

impl<'a> OrderGroup<'_, 'a> {
    /// Placer order number: ORC-2, else OBR-2.
    pub fn placer_order_number(&self) -> Ei<'a> {
        let e = self.orc.placer_order_number();
        match (&self.obr, e.id.is_empty()) {
            (Some(obr), true) => obr.placer_order_number(),
            _ => e,
        }
    }

    /// Filler order number: ORC-3, else OBR-3.
    pub fn filler_order_number(&self) -> Ei<'a> {
        let e = self.orc.filler_order_number();
        match (&self.obr, e.id.is_empty()) {
            (Some(obr), true) => obr.filler_order_number(),
            _ => e,
        }
    }

    /// Universal service id (OBR-4), empty when there is no OBR.
    pub fn universal_service_id(&self) -> Ce<'a> {
        self.obr
            .map(|o| o.universal_service_id())
            .unwrap_or_default()
    }

    /// Priority: TQ1-9, else ORC-7.6, else OBR-27.6, else OBR-5 (`S` stat, `A` asap, `R` routine, ...).
    pub fn priority(&self) -> S<'a> {
        let candidates = [
            self.tq1.map(|t| t.text(9)),
            Some(self.orc.timing_priority()),
            self.obr.map(|o| o.timing_priority()),
            self.obr.map(|o| o.priority()),
        ];
        candidates
            .into_iter()
            .flatten()
            .find(|p| !p.is_empty())
            .unwrap_or_default()
    }
}

/// View of an order message: ORM^O01 or OML^O21.
#[derive(Debug, Clone, Copy)]
pub struct Orders<'m, 'a> {
    msg: &'m Message<'a>,
}

impl<'m, 'a> Orders<'m, 'a> {
    /// Checks MSH-9 is ORM or OML.
    pub fn new(msg: &'m Message<'a>) -> Result<Self> {
        check_type(msg, &["ORM", "OML"], "ORM or OML")?;
        Ok(Orders { msg })
    }

    /// The (first) PID, if present.
    pub fn pid(&self) -> Option<Pid<'m, 'a>> {
        self.msg.segment("PID").map(Pid)
    }

    /// The (first) PV1, if present.
    pub fn pv1(&self) -> Option<Pv1<'m, 'a>> {
        self.msg.segment("PV1").map(Pv1)
    }

    /// Orders: each ORC with the first TQ1/OBR that follows before the next ORC.
    pub fn orders(&self) -> Vec<OrderGroup<'m, 'a>> {
        let mut out: Vec<OrderGroup<'m, 'a>> = Vec::new();
        for s in self.msg.segments() {
            match s.id() {
                "ORC" => out.push(OrderGroup {
                    orc: Orc(s),
                    obr: None,
                    tq1: None,
                }),
                "OBR" => {
                    if let Some(g) = out.last_mut().filter(|g| g.obr.is_none()) {
                        g.obr = Some(Obr(s));
                    }
                }
                "TQ1" => {
                    if let Some(g) = out.last_mut().filter(|g| g.tq1.is_none()) {
                        g.tq1 = Some(s);
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// View of a scheduling message SIU^S12–S15 (others leniently).
#[derive(Debug, Clone, Copy)]
pub struct Siu<'m, 'a> {
    msg: &'m Message<'a>,
    sch: Sch<'m, 'a>,
}

impl<'m, 'a> Siu<'m, 'a> {
    /// Checks MSH-9 is SIU and an SCH is present.
    pub fn new(msg: &'m Message<'a>) -> Result<Self> {
        check_type(msg, &["SIU"], "SIU")?;
        let sch = required(msg, "SCH", Sch)?;
        Ok(Siu { msg, sch })
    }

    /// The trigger (`S12` new, `S13` reschedule, `S14` modify, `S15` cancel).
    pub fn trigger(&self) -> S<'a> {
        self.msg.msh().field(9).component(2).value()
    }

    /// SCH.
    pub fn sch(&self) -> Sch<'m, 'a> {
        self.sch
    }

    /// The (first) PID, if present.
    pub fn pid(&self) -> Option<Pid<'m, 'a>> {
        self.msg.segment("PID").map(Pid)
    }

    /// TQ1 (v2.5 timing), if present.
    pub fn tq1(&self) -> Option<Segment<'m, 'a>> {
        self.msg.segment("TQ1")
    }

    /// Appointment start: TQ1-7 when present, else SCH-11.4.
    pub fn start(&self) -> Result<Option<Timestamp>> {
        if let Some(t) = self.tq1()
            && let Some(ts) = t.timestamp(7)?
        {
            return Ok(Some(ts));
        }
        self.sch.start()
    }

    /// Appointment end: TQ1-8 when present, else SCH-11.5.
    pub fn end(&self) -> Result<Option<Timestamp>> {
        if let Some(t) = self.tq1()
            && let Some(ts) = t.timestamp(8)?
        {
            return Ok(Some(ts));
        }
        self.sch.end()
    }

    /// AIS segments (services).
    pub fn services(&self) -> impl Iterator<Item = Ais<'m, 'a>> + use<'m, 'a> {
        self.msg.segments().filter_map(Ais::new)
    }

    /// AIL segments (locations).
    pub fn locations(&self) -> impl Iterator<Item = Ail<'m, 'a>> + use<'m, 'a> {
        self.msg.segments().filter_map(Ail::new)
    }

    /// AIP segments (personnel).
    pub fn personnel(&self) -> impl Iterator<Item = Aip<'m, 'a>> + use<'m, 'a> {
        self.msg.segments().filter_map(Aip::new)
    }
}
