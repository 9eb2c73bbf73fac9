//! # yiyang-vitals — computing core of IoT monitoring (物联网监测)
//!
//! Pure functions and small state machines, no I/O, no clock, no async: the IoT module
//! feeds them what arrived (with its own timestamps, microseconds since the Unix epoch,
//! UTC, as the store keeps them) and stores what they answer.
//!
//! - [`vitals`]: [`Vitals`] (one set of measurements), [`Metric`], [`Avpu`], plausibility
//!   ([`Vitals::check`]).
//! - [`scores`]: NEWS2 (SpO2 scale 1 and 2), MEWS and qSOFA with partial scores.
//! - [`rules`]: alarm rules as versioned JSON ([`RuleSet`]), evaluated per subject
//!   ([`SubjectState`]) into raise/clear [`Event`]s.
//! - [`presence`]: BLE zone presence from gateway scans ([`Presence`]) with restricted zones.
//! - [`geofence`]: GPS safe areas ([`Geofence`]) with accuracy buffers, and GCJ-02 → WGS-84.
//! - [`payload`]: the MQTT/HTTP uplink contract v1 (`docs/iot-mqtt.md`): [`Topic`],
//!   [`parse`] into typed [`Message`]s with per-item problems, downlink [`Command`]s.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod geofence;
pub mod payload;
pub mod presence;
pub mod problem;
pub mod rules;
pub mod scores;
pub mod vitals;

pub use geofence::{
    Crs, FenceConfig, FenceEvent, FenceState, FenceStatus, Fix, Geofence, LonLat, Placement,
    Polygon, gcj02_to_wgs84, wgs84_to_gcj02,
};
pub use payload::{
    Ack, AckResult, Action, Channel, Command, DeviceEvent, DeviceEventKind, DeviceStatus,
    EventBatch, GpsBatch, GpsFix, ItemProblem, Message, NfcBatch, NfcScan, ParseOptions, Parsed,
    Reading, Scan, StatusReport, Topic, Uplink, Via, parse, parse_body,
};
pub use presence::{
    Presence, PresenceConfig, PresenceEvent, PresenceKind, TagState, Zone, ZoneMap,
};
pub use problem::Problem;
pub use rules::{
    Condition, DEFAULT_RULES_JSON, Direction, Event, History, MissingCondition, Op, Overrides,
    Priority, Profile, ReadingCondition, Rule, RuleKind, RuleOverride, RuleSet, RuleSetSpec,
    RuleState, ScoreCondition, Settings, SubjectState, Transition, TrendCondition,
};
pub use scores::{
    Level, Param, Score, ScoreKind, Spo2Scale, Tally, mews, news2, qsofa, score, tally,
};
pub use vitals::{Avpu, Metric, Vitals};
