//! IoT monitoring (物联网监测) and device management (设备智能管理).
//!
//! Devices (wristbands, gateways, NFC readers, mattresses, glucometers, BP cuffs, wheelchairs)
//! are registered per institution and bound to persons or beds. Gateways publish over MQTT
//! (contract `docs/iot-mqtt.md`) or post over HTTP; the ingest stores each batch before it is
//! acknowledged, evaluates the early-warning scores and alarm rules, and feeds the live ward
//! screens. Alarms are raised → acknowledged → resolved, with repeats until acknowledged.

pub mod alarms;
pub mod api;
pub mod dashboard;
pub mod devices;
pub mod errors;
pub mod evaluate;
pub mod events;
pub mod firmware;
pub mod geo;
pub mod import;
pub mod ingest;
pub mod labels;
pub mod live;
pub mod loadgen;
pub mod location_pages;
pub mod maintenance;
pub mod module;
pub mod mqtt;
pub mod pages;
pub mod pages2;
pub mod payload;
pub mod readings;
pub mod rules;
pub mod schema;
pub mod simulate;

pub use module::{IotConfig, IotModule};

/// See the IoT lists and screens (devices, readings, alarms) of the institutions in scope.
pub const IOT_READ: &str = "iot.read";
/// Register devices, bind them, issue gateway credentials, maintain and upgrade them.
pub const IOT_MANAGE: &str = "iot.manage";
/// Acknowledge and resolve alarms.
pub const IOT_ALARM: &str = "iot.alarm";
