//! The MQTT/HTTP uplink contract v1 (`docs/iot-mqtt.md`): topics, payload types and a
//! parser that turns one JSON document into typed messages with per-item problems.
//!
//! Topics are `yiyang/v1/{org_code}/{gw|dev}/{sn}/{channel}`: `gw` for a BLE gateway,
//! `dev` for a device talking to the platform itself (a 4G band, an NFC reader), channels
//! `up` (readings and BLE scans), `status`, `nfc`, `event` (SOS, fall), `gps`, `ack`; the
//! platform sends commands on `yiyang/v1/{org_code}/{gw|dev}/{sn}/cmd`.
//!
//! [`parse`] checks a whole document: one bad item of a batch (a reading with an
//! impossible timestamp, an unknown event type) is dropped and reported with its index and
//! reason in zh-CN ([`ItemProblem`]) while the other items pass; a bad field of an
//! otherwise good reading (an SpO2 of 140) drops that field only. Only a document that is
//! not JSON, not an object, on a wrong topic or too large fails as a whole.
//!
//! Timestamps are epoch milliseconds (a number) or RFC 3339 text with an offset
//! (`2026-12-05T08:00:00+08:00`), converted to µs UTC; an item without `ts` takes the
//! document's `ts`. A time more than [`ParseOptions::max_future_seconds`] (5 min) ahead of
//! the server or older than [`ParseOptions::horizon_seconds`] (7 days) drops the item.
//! Unknown fields are ignored, so v1 can grow by adding fields.

use crate::geofence::{Crs, Fix, LonLat, to_wgs84};
use crate::problem::{Problem, fmt_duration, fmt_num};
use crate::vitals::{Metric, Vitals};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// First topic segment.
pub const TOPIC_ROOT: &str = "yiyang";
/// Contract version (second topic segment).
pub const TOPIC_VERSION: &str = "v1";
/// What the platform subscribes to (commands on `…/cmd` are its own and are skipped).
pub const SUBSCRIPTIONS: [&str; 2] = ["yiyang/v1/+/gw/+/+", "yiyang/v1/+/dev/+/+"];

const MICROS: i64 = 1_000_000;

/// Who publishes: a gateway relaying its bands, or a device on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A BLE gateway (`gw`).
    Gateway,
    /// A device talking to the platform itself (`dev`).
    Device,
}

impl Via {
    /// Topic segment (`gw`, `dev`).
    pub const fn segment(self) -> &'static str {
        match self {
            Via::Gateway => "gw",
            Via::Device => "dev",
        }
    }
}

/// Uplink channel (last topic segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Readings and BLE scans (`up`).
    Up,
    /// Battery, signal, firmware (`status`).
    Status,
    /// NFC reads (`nfc`).
    Nfc,
    /// SOS, fall, band removed (`event`).
    Event,
    /// GPS fixes (`gps`).
    Gps,
    /// Command acknowledgements (`ack`).
    Ack,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 6] = [
        Channel::Up,
        Channel::Status,
        Channel::Nfc,
        Channel::Event,
        Channel::Gps,
        Channel::Ack,
    ];

    /// Topic segment.
    pub const fn segment(self) -> &'static str {
        match self {
            Channel::Up => "up",
            Channel::Status => "status",
            Channel::Nfc => "nfc",
            Channel::Event => "event",
            Channel::Gps => "gps",
            Channel::Ack => "ack",
        }
    }

    /// zh-CN label.
    pub const fn label(self) -> &'static str {
        match self {
            Channel::Up => "体征与扫描上报",
            Channel::Status => "设备状态",
            Channel::Nfc => "NFC刷卡",
            Channel::Event => "报警事件",
            Channel::Gps => "GPS定位",
            Channel::Ack => "命令回执",
        }
    }
}

/// A topic of the v1 contract.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Topic {
    /// Published by a gateway or device: `yiyang/v1/{org}/{gw|dev}/{sn}/{channel}`.
    Uplink {
        /// Institution code.
        org: String,
        /// Gateway or device.
        via: Via,
        /// Serial number of the publisher.
        sn: String,
        /// What is published.
        channel: Channel,
    },
    /// A command to a gateway or device: `yiyang/v1/{org}/{gw|dev}/{sn}/cmd`.
    Command {
        /// Institution code.
        org: String,
        /// Gateway or device.
        via: Via,
        /// Serial number of the receiver.
        sn: String,
    },
}

impl Topic {
    /// Parses a topic; the problem says what is wrong in zh-CN.
    pub fn parse(topic: &str) -> Result<Topic, Problem> {
        let bad = |m: String| Problem::new("topic", topic, m);
        let parts: Vec<&str> = topic.split('/').collect();
        if parts.len() != 6 || parts[0] != TOPIC_ROOT {
            return Err(bad(
                "主题应为 yiyang/v1/{机构代码}/{gw|dev}/{序列号}/{up|status|nfc|event|gps|ack|cmd}"
                    .to_string(),
            ));
        }
        if parts[1] != TOPIC_VERSION {
            return Err(bad(format!(
                "不支持的协议版本 {}（当前为 {TOPIC_VERSION}）",
                parts[1]
            )));
        }
        let (org, via, sn, last) = (parts[2], parts[3], parts[4], parts[5]);
        if !valid_id(org) {
            return Err(bad(format!(
                "机构代码 {org} 无效（1–64个字母、数字或 _ . : -）"
            )));
        }
        let via = match via {
            "gw" => Via::Gateway,
            "dev" => Via::Device,
            other => return Err(bad(format!("发送方类型 {other} 无效（应为 gw 或 dev）"))),
        };
        if !valid_id(sn) {
            return Err(bad(format!(
                "序列号 {sn} 无效（1–64个字母、数字或 _ . : -）"
            )));
        }
        let (org, sn) = (org.to_string(), sn.to_string());
        if last == "cmd" {
            return Ok(Topic::Command { org, via, sn });
        }
        match Channel::ALL.into_iter().find(|c| c.segment() == last) {
            Some(channel) => Ok(Topic::Uplink {
                org,
                via,
                sn,
                channel,
            }),
            None => Err(bad(format!(
                "未知的消息类型 {last}（应为 up、status、nfc、event、gps、ack 或 cmd）"
            ))),
        }
    }

    /// The uplink topic of a publisher.
    pub fn uplink(org: &str, via: Via, sn: &str, channel: Channel) -> Topic {
        Topic::Uplink {
            org: org.to_string(),
            via,
            sn: sn.to_string(),
            channel,
        }
    }

    /// The command topic of a device (`via` Device) or gateway.
    pub fn command(org: &str, via: Via, sn: &str) -> Topic {
        Topic::Command {
            org: org.to_string(),
            via,
            sn: sn.to_string(),
        }
    }

    /// Institution code.
    pub fn org(&self) -> &str {
        match self {
            Topic::Uplink { org, .. } | Topic::Command { org, .. } => org,
        }
    }

    /// Serial number of the publisher or receiver.
    pub fn sn(&self) -> &str {
        match self {
            Topic::Uplink { sn, .. } | Topic::Command { sn, .. } => sn,
        }
    }

    /// Gateway or device.
    pub fn via(&self) -> Via {
        match self {
            Topic::Uplink { via, .. } | Topic::Command { via, .. } => *via,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Uplink {
                org,
                via,
                sn,
                channel,
            } => write!(
                f,
                "{TOPIC_ROOT}/{TOPIC_VERSION}/{org}/{}/{sn}/{}",
                via.segment(),
                channel.segment()
            ),
            Topic::Command { org, via, sn } => {
                write!(
                    f,
                    "{TOPIC_ROOT}/{TOPIC_VERSION}/{org}/{}/{sn}/cmd",
                    via.segment()
                )
            }
        }
    }
}

/// An identifier in topics and payloads: 1–64 ASCII letters, digits, `_ . : -`.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

/// Limits of the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// The server's time, µs.
    pub now_micros: i64,
    /// How far ahead of the server a timestamp may be, seconds (default 300).
    pub max_future_seconds: u32,
    /// How old a timestamp may be, seconds (default 7 days).
    pub horizon_seconds: u32,
    /// Most items of one array (default 2000).
    pub max_items: usize,
    /// Largest document, bytes (default 1 MiB).
    pub max_bytes: usize,
}

impl ParseOptions {
    /// Default limits at `now_micros`.
    pub fn new(now_micros: i64) -> Self {
        Self {
            now_micros,
            max_future_seconds: 300,
            horizon_seconds: 7 * 86_400,
            max_items: 2000,
            max_bytes: 1 << 20,
        }
    }
}

/// A problem with one item (or the document's own fields) of a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemProblem {
    /// The array (`readings`, `scans`, `devices`, `events`, `fixes`); empty for the
    /// document's own fields.
    pub section: String,
    /// Position in the array, from 0.
    pub index: Option<usize>,
    /// The item's device, when known.
    pub dev: Option<String>,
    /// The field (`ts`, `spo2`, …).
    pub field: String,
    /// The offending value as text.
    pub value: String,
    /// zh-CN, naming the item: `第3条读数（BAND-0001）：时间比服务器时间超前12分钟（最多允许5分钟）`.
    pub message: String,
    /// True: the whole item was dropped; false: only this field.
    pub dropped: bool,
}

/// One set of measurements of one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Position in `readings`.
    pub index: usize,
    /// Device serial number.
    pub dev: String,
    /// When measured, µs UTC.
    pub at_micros: i64,
    /// The plausible measurements.
    pub vitals: Vitals,
    /// Battery, percent.
    pub battery: Option<u8>,
    /// RSSI at the gateway, dBm.
    pub rssi: Option<i16>,
}

/// A BLE tag heard by the publishing gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    /// Position in `scans`.
    pub index: usize,
    /// Tag serial number.
    pub dev: String,
    /// RSSI, dBm.
    pub rssi: i16,
    /// When heard, µs UTC.
    pub at_micros: i64,
}

/// `…/up`: readings and BLE scans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uplink {
    /// The document's time, µs UTC.
    pub at_micros: Option<i64>,
    /// The publisher's sequence number (for duplicate detection).
    pub seq: Option<u64>,
    /// Whether the document had a `scans` array (a scan batch for presence, even if empty).
    pub has_scans: bool,
    /// Good readings.
    pub readings: Vec<Reading>,
    /// Good scans.
    pub scans: Vec<Scan>,
}

/// Status of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// Position in `devices` (none: the publisher itself).
    pub index: Option<usize>,
    /// Device serial number.
    pub dev: String,
    /// When, µs UTC.
    pub at_micros: i64,
    /// Battery, percent.
    pub battery: Option<u8>,
    /// Signal strength, dBm.
    pub signal: Option<i16>,
    /// Firmware version.
    pub firmware: Option<String>,
}

/// `…/status`: the publisher's status and, from a gateway, its devices'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The document's time, µs UTC.
    pub at_micros: Option<i64>,
    /// Sequence number.
    pub seq: Option<u64>,
    /// The publisher's own status (when the document has a valid `ts`).
    pub sender: Option<DeviceStatus>,
    /// Statuses of relayed devices.
    pub devices: Vec<DeviceStatus>,
}

/// One NFC read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NfcScan {
    /// Position in `scans`.
    pub index: usize,
    /// Reader serial number (default: the publisher).
    pub reader: String,
    /// Tag UID, upper-case hex without separators.
    pub uid: String,
    /// When, µs UTC.
    pub at_micros: i64,
}

/// `…/nfc`: NFC reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NfcBatch {
    /// The document's time, µs UTC.
    pub at_micros: Option<i64>,
    /// Sequence number.
    pub seq: Option<u64>,
    /// Good reads.
    pub scans: Vec<NfcScan>,
}

/// What a device signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceEventKind {
    /// SOS button (SOS呼救).
    Sos,
    /// Fall detected (跌倒).
    Fall,
    /// Wearable taken off (手环摘除).
    Removed,
}

impl DeviceEventKind {
    /// Every kind.
    pub const ALL: [DeviceEventKind; 3] = [
        DeviceEventKind::Sos,
        DeviceEventKind::Fall,
        DeviceEventKind::Removed,
    ];

    /// Wire code (`sos`, `fall`, `removed`).
    pub const fn code(self) -> &'static str {
        match self {
            DeviceEventKind::Sos => "sos",
            DeviceEventKind::Fall => "fall",
            DeviceEventKind::Removed => "removed",
        }
    }

    /// zh-CN label.
    pub const fn label(self) -> &'static str {
        match self {
            DeviceEventKind::Sos => "SOS呼救",
            DeviceEventKind::Fall => "跌倒",
            DeviceEventKind::Removed => "手环摘除",
        }
    }
}

/// One device event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEvent {
    /// Position in `events`.
    pub index: usize,
    /// Device serial number (default: the publisher).
    pub dev: String,
    /// What happened.
    pub kind: DeviceEventKind,
    /// When, µs UTC.
    pub at_micros: i64,
}

/// `…/event`: device events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBatch {
    /// The document's time, µs UTC.
    pub at_micros: Option<i64>,
    /// Sequence number.
    pub seq: Option<u64>,
    /// Good events.
    pub events: Vec<DeviceEvent>,
}

/// One GPS fix, converted to WGS-84.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpsFix {
    /// Position in `fixes`.
    pub index: usize,
    /// Device serial number (default: the publisher).
    pub dev: String,
    /// Position in WGS-84.
    pub position: LonLat,
    /// Position as reported.
    pub reported: LonLat,
    /// Coordinate system as reported.
    pub crs: Crs,
    /// Accuracy radius, metres.
    pub accuracy_m: Option<f64>,
    /// When, µs UTC.
    pub at_micros: i64,
}

impl GpsFix {
    /// The fix for [`crate::geofence::Geofence::observe`].
    pub fn fix(&self) -> Fix {
        Fix {
            at_micros: self.at_micros,
            position: self.position,
            accuracy_m: self.accuracy_m,
        }
    }
}

/// `…/gps`: GPS fixes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpsBatch {
    /// The document's time, µs UTC.
    pub at_micros: Option<i64>,
    /// Sequence number.
    pub seq: Option<u64>,
    /// Good fixes.
    pub fixes: Vec<GpsFix>,
}

/// Outcome of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckResult {
    /// Done (成功).
    Ok,
    /// Failed (失败).
    Error,
    /// The device does not know the command (不支持).
    Unsupported,
}

impl AckResult {
    /// zh-CN label.
    pub const fn label(self) -> &'static str {
        match self {
            AckResult::Ok => "成功",
            AckResult::Error => "失败",
            AckResult::Unsupported => "不支持",
        }
    }
}

/// `…/ack`: the acknowledgement of one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The command's `id`.
    pub cmd: String,
    /// Outcome.
    pub result: AckResult,
    /// Firmware version after the command (firmware upgrades), if reported.
    pub version: Option<String>,
    /// The device's message.
    pub message: Option<String>,
    /// When, µs UTC.
    pub at_micros: Option<i64>,
}

/// A parsed uplink document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Message {
    /// `…/up`
    Up(Uplink),
    /// `…/status`
    Status(StatusReport),
    /// `…/nfc`
    Nfc(NfcBatch),
    /// `…/event`
    Event(EventBatch),
    /// `…/gps`
    Gps(GpsBatch),
    /// `…/ack`
    Ack(Ack),
}

/// A parsed document: its topic, its good content and the problems of its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parsed {
    /// The topic.
    pub topic: Topic,
    /// What was good.
    pub message: Message,
    /// What was dropped, and why.
    pub problems: Vec<ItemProblem>,
}

/// Parses the document `body` published on `topic` (MQTT), with per-item problems.
///
/// ```
/// use yiyang_vitals::payload::{Message, ParseOptions, parse};
/// let now = 1_796_428_800_000_000; // 2026-12-05T08:00:00+08:00
/// let body = br#"{"ts":1796428800000,"seq":7,"readings":[
///     {"dev":"BAND-0001","hr":72,"spo2":97,"temp":36.5},
///     {"dev":"BAND-0002","ts":"2026-12-05T09:00:00+08:00","hr":80}]}"#;
/// let p = parse("yiyang/v1/MZ001/gw/GW-01/up", body, &ParseOptions::new(now)).unwrap();
/// let Message::Up(up) = &p.message else { unreachable!() };
/// assert_eq!(up.readings.len(), 1);
/// assert_eq!(p.problems[0].index, Some(1));
/// assert_eq!(p.problems[0].message, "第2条读数（BAND-0002）：时间比服务器时间超前1小时（最多允许5分钟）");
/// ```
pub fn parse(topic: &str, body: &[u8], opts: &ParseOptions) -> Result<Parsed, Problem> {
    let topic = Topic::parse(topic)?;
    let (message, problems) = parse_body(&topic, body, opts)?;
    Ok(Parsed {
        topic,
        message,
        problems,
    })
}

/// Parses a document for a known topic (HTTP uplink, where the address names the topic).
pub fn parse_body(
    topic: &Topic,
    body: &[u8],
    opts: &ParseOptions,
) -> Result<(Message, Vec<ItemProblem>), Problem> {
    let (sn, channel) = match topic {
        Topic::Uplink { sn, channel, .. } => (sn.as_str(), *channel),
        Topic::Command { .. } => {
            return Err(Problem::new(
                "topic",
                topic.to_string(),
                "cmd 主题是平台下发的命令，不能作为上行消息解析",
            ));
        }
    };
    if body.len() > opts.max_bytes {
        return Err(Problem::new(
            "",
            body.len().to_string(),
            format!(
                "消息体过大（{}字节，最多{}字节）",
                body.len(),
                opts.max_bytes
            ),
        ));
    }
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            "",
            "",
            format!("消息体不是有效的JSON（第{}行第{}列）", e.line(), e.column()),
        )
    })?;
    let Value::Object(obj) = doc else {
        return Err(Problem::new("", "", "消息体应为JSON对象"));
    };
    let mut cx = Cx {
        opts,
        problems: Vec::new(),
        envelope_ts: None,
        sn,
        via: topic.via(),
    };
    cx.envelope_ts = cx.envelope_time(&obj);
    let seq = cx.envelope_seq(&obj);
    let at = cx.envelope_ts;
    let message = match channel {
        Channel::Up => {
            let readings = array(&obj, "readings", opts)?;
            let scans = array(&obj, "scans", opts)?;
            Message::Up(Uplink {
                at_micros: at,
                seq,
                has_scans: scans.is_some(),
                readings: items(readings, |i, o| cx.reading(i, o)),
                scans: items(scans, |i, o| cx.scan(i, o)),
            })
        }
        Channel::Status => {
            let devices = array(&obj, "devices", opts)?;
            let sender = at.map(|t| cx.status_fields(&obj, None, sn.to_string(), t));
            Message::Status(StatusReport {
                at_micros: at,
                seq,
                sender,
                devices: items(devices, |i, o| cx.device_status(i, o)),
            })
        }
        Channel::Nfc => {
            let scans = array(&obj, "scans", opts)?;
            Message::Nfc(NfcBatch {
                at_micros: at,
                seq,
                scans: items(scans, |i, o| cx.nfc(i, o)),
            })
        }
        Channel::Event => {
            let events = array(&obj, "events", opts)?;
            Message::Event(EventBatch {
                at_micros: at,
                seq,
                events: items(events, |i, o| cx.event(i, o)),
            })
        }
        Channel::Gps => {
            let fixes = array(&obj, "fixes", opts)?;
            Message::Gps(GpsBatch {
                at_micros: at,
                seq,
                fixes: items(fixes, |i, o| cx.gps(i, o)),
            })
        }
        Channel::Ack => Message::Ack(cx.ack(&obj)?),
    };
    Ok((message, cx.problems))
}

/// An optional array field; too many items or a non-array fail the document.
fn array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    opts: &ParseOptions,
) -> Result<Option<&'a Vec<Value>>, Problem> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() > opts.max_items => Err(Problem::new(
            key,
            a.len().to_string(),
            format!("{key} 条目过多（{}条，最多{}条）", a.len(), opts.max_items),
        )),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(Problem::new(key, short(other), format!("{key} 应为数组"))),
    }
}

fn items<T>(arr: Option<&Vec<Value>>, mut f: impl FnMut(usize, &Value) -> Option<T>) -> Vec<T> {
    arr.map(|a| a.iter().enumerate().filter_map(|(i, v)| f(i, v)).collect())
        .unwrap_or_default()
}

/// A value as short text for problems.
fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

fn section_label(section: &str, channel_nfc: bool) -> &'static str {
    match section {
        "readings" => "读数",
        "scans" if channel_nfc => "NFC刷卡记录",
        "scans" => "扫描记录",
        "devices" => "设备状态",
        "events" => "事件",
        "fixes" => "定位",
        _ => "条目",
    }
}

struct Cx<'a> {
    opts: &'a ParseOptions,
    problems: Vec<ItemProblem>,
    envelope_ts: Option<i64>,
    sn: &'a str,
    via: Via,
}

/// Where a problem is: the section, index and device of an item.
#[derive(Clone)]
struct At {
    section: &'static str,
    nfc: bool,
    index: Option<usize>,
    dev: Option<String>,
}

impl Cx<'_> {
    fn report(&mut self, at: &At, field: &str, value: String, message: String, dropped: bool) {
        let who = match (at.index, &at.dev) {
            (None, _) => "消息".to_string(),
            (Some(i), Some(d)) => {
                format!("第{}条{}（{d}）", i + 1, section_label(at.section, at.nfc))
            }
            (Some(i), None) => format!("第{}条{}", i + 1, section_label(at.section, at.nfc)),
        };
        self.problems.push(ItemProblem {
            section: at.section.to_string(),
            index: at.index,
            dev: at.dev.clone(),
            field: field.to_string(),
            value,
            message: format!("{who}：{message}"),
            dropped,
        });
    }

    /// The document's `ts` (a bad one is reported; items then need their own).
    fn envelope_time(&mut self, obj: &Map<String, Value>) -> Option<i64> {
        let v = obj.get("ts").filter(|v| !v.is_null())?;
        let at = At {
            section: "",
            nfc: false,
            index: None,
            dev: None,
        };
        match time(v, self.opts) {
            Ok(t) => Some(t),
            Err(m) => {
                self.report(&at, "ts", short(v), m, false);
                None
            }
        }
    }

    fn envelope_seq(&mut self, obj: &Map<String, Value>) -> Option<u64> {
        let v = obj.get("seq").filter(|v| !v.is_null())?;
        match v.as_u64() {
            Some(s) => Some(s),
            None => {
                let at = At {
                    section: "",
                    nfc: false,
                    index: None,
                    dev: None,
                };
                self.report(&at, "seq", short(v), "序号 seq 应为非负整数".into(), false);
                None
            }
        }
    }

    /// Common head of an item: an object with a device id (or the default) and a time.
    /// Reports and returns None when the item must be dropped.
    fn head<'v>(
        &mut self,
        section: &'static str,
        nfc: bool,
        index: usize,
        v: &'v Value,
        dev_key: &str,
        dev_default: bool,
    ) -> Option<(&'v Map<String, Value>, At, String, i64)> {
        let mut at = At {
            section,
            nfc,
            index: Some(index),
            dev: None,
        };
        let Value::Object(o) = v else {
            self.report(&at, "", short(v), "应为JSON对象".into(), true);
            return None;
        };
        let dev = match o.get(dev_key) {
            None | Some(Value::Null) if dev_default => self.sn.to_string(),
            None | Some(Value::Null) => {
                self.report(
                    &at,
                    dev_key,
                    String::new(),
                    format!("缺少设备编号 {dev_key}"),
                    true,
                );
                return None;
            }
            Some(Value::String(s)) if valid_id(s) => s.clone(),
            Some(other) => {
                self.report(
                    &at,
                    dev_key,
                    short(other),
                    format!(
                        "设备编号 {} 无效（1–64个字母、数字或 _ . : -）",
                        short(other)
                    ),
                    true,
                );
                return None;
            }
        };
        at.dev = Some(dev.clone());
        let ts = match o.get("ts").filter(|v| !v.is_null()) {
            Some(t) => match time(t, self.opts) {
                Ok(t) => t,
                Err(m) => {
                    self.report(&at, "ts", short(t), m, true);
                    return None;
                }
            },
            None => match self.envelope_ts {
                Some(t) => t,
                None => {
                    self.report(
                        &at,
                        "ts",
                        String::new(),
                        "缺少有效的时间戳 ts（条目和消息都没有）".into(),
                        true,
                    );
                    return None;
                }
            },
        };
        Some((o, at, dev, ts))
    }

    fn reading(&mut self, index: usize, v: &Value) -> Option<Reading> {
        let own = self.via == Via::Device;
        let (o, at, dev, ts) = self.head("readings", false, index, v, "dev", own)?;
        let mut vitals = Vitals::default();
        for m in Metric::ALL {
            let key = m.wire();
            let Some(x) = o.get(key).filter(|x| !x.is_null()) else {
                continue;
            };
            let Some(n) = x.as_f64() else {
                self.report(&at, key, short(x), format!("{}应为数字", m.label()), false);
                continue;
            };
            if m == Metric::Steps && (n.fract() != 0.0 || n < 0.0) {
                self.report(&at, key, short(x), "步数应为非负整数".into(), false);
                continue;
            }
            vitals.set(m, Some(n));
            if m == Metric::Steps && vitals.steps.is_none() {
                self.report(
                    &at,
                    key,
                    short(x),
                    "步数超出可能范围（0–100000步）".into(),
                    false,
                );
            }
        }
        if let Err(ps) = vitals.check() {
            for p in ps {
                let key = Metric::from_code(&p.field).map_or("", Metric::wire);
                self.report(&at, key, p.value, p.message, false);
            }
            vitals = vitals.plausible();
        }
        let battery = self
            .int_field(o, &at, "bat", 0, 100, "电量应为0–100的整数")
            .map(|b| b as u8);
        let rssi = self
            .int_field(
                o,
                &at,
                "rssi",
                -127,
                20,
                "信号强度 rssi 应为−127至20的整数（dBm）",
            )
            .map(|r| r as i16);
        Some(Reading {
            index,
            dev,
            at_micros: ts,
            vitals,
            battery,
            rssi,
        })
    }

    /// An optional integer field in `lo..=hi`; a bad value is reported (field dropped).
    fn int_field(
        &mut self,
        o: &Map<String, Value>,
        at: &At,
        key: &str,
        lo: i64,
        hi: i64,
        message: &str,
    ) -> Option<i64> {
        let x = o.get(key).filter(|x| !x.is_null())?;
        match x.as_i64() {
            Some(n) if (lo..=hi).contains(&n) => Some(n),
            _ => {
                self.report(at, key, short(x), message.to_string(), false);
                None
            }
        }
    }

    fn scan(&mut self, index: usize, v: &Value) -> Option<Scan> {
        let (o, at, dev, ts) = self.head("scans", false, index, v, "dev", false)?;
        match o.get("rssi").and_then(Value::as_i64) {
            Some(r) if (-127..=20).contains(&r) => Some(Scan {
                index,
                dev,
                rssi: r as i16,
                at_micros: ts,
            }),
            _ => {
                let value = o.get("rssi").map(short).unwrap_or_default();
                self.report(
                    &at,
                    "rssi",
                    value,
                    "缺少有效的信号强度 rssi（−127至20的整数，dBm）".into(),
                    true,
                );
                None
            }
        }
    }

    fn status_fields(
        &mut self,
        o: &Map<String, Value>,
        index: Option<usize>,
        dev: String,
        ts: i64,
    ) -> DeviceStatus {
        let at = At {
            section: if index.is_some() { "devices" } else { "" },
            nfc: false,
            index,
            dev: Some(dev.clone()),
        };
        let battery = self
            .int_field(o, &at, "bat", 0, 100, "电量应为0–100的整数")
            .map(|b| b as u8);
        let signal = self
            .int_field(
                o,
                &at,
                "signal",
                -150,
                0,
                "信号强度 signal 应为−150至0的整数（dBm）",
            )
            .map(|s| s as i16);
        let firmware = match o.get("fw").filter(|x| !x.is_null()) {
            None => None,
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 64 => {
                Some(s.trim().to_string())
            }
            Some(x) => {
                self.report(
                    &at,
                    "fw",
                    short(x),
                    "固件版本 fw 应为1–64个字符的文本".into(),
                    false,
                );
                None
            }
        };
        DeviceStatus {
            index,
            dev,
            at_micros: ts,
            battery,
            signal,
            firmware,
        }
    }

    fn device_status(&mut self, index: usize, v: &Value) -> Option<DeviceStatus> {
        let (o, _, dev, ts) = self.head("devices", false, index, v, "dev", false)?;
        Some(self.status_fields(o, Some(index), dev, ts))
    }

    fn nfc(&mut self, index: usize, v: &Value) -> Option<NfcScan> {
        let (o, at, reader, ts) = self.head("scans", true, index, v, "reader", true)?;
        let raw = o.get("uid").filter(|x| !x.is_null());
        let uid = raw.and_then(Value::as_str).map(|s| {
            s.chars()
                .filter(|c| !matches!(c, ':' | '-' | ' '))
                .collect::<String>()
                .to_ascii_uppercase()
        });
        match uid {
            Some(u)
                if matches!(u.len(), 8 | 14 | 20) && u.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Some(NfcScan {
                    index,
                    reader,
                    uid: u,
                    at_micros: ts,
                })
            }
            _ => {
                self.report(
                    &at,
                    "uid",
                    raw.map(short).unwrap_or_default(),
                    "标签 UID 应为4、7或10字节的十六进制（如 04:A2:24:1B）".into(),
                    true,
                );
                None
            }
        }
    }

    fn event(&mut self, index: usize, v: &Value) -> Option<DeviceEvent> {
        let (o, at, dev, ts) = self.head("events", false, index, v, "dev", true)?;
        let raw = o.get("type");
        let kind = raw
            .and_then(Value::as_str)
            .and_then(|s| DeviceEventKind::ALL.into_iter().find(|k| k.code() == s));
        match kind {
            Some(kind) => Some(DeviceEvent {
                index,
                dev,
                kind,
                at_micros: ts,
            }),
            None => {
                let value = raw.map(short).unwrap_or_default();
                let message = if value.is_empty() {
                    "缺少事件类型 type（sos、fall 或 removed）".to_string()
                } else {
                    format!("未知的事件类型 {value}（应为 sos、fall 或 removed）")
                };
                self.report(&at, "type", value, message, true);
                None
            }
        }
    }

    fn gps(&mut self, index: usize, v: &Value) -> Option<GpsFix> {
        let (o, at, dev, ts) = self.head("fixes", false, index, v, "dev", true)?;
        let lat = o.get("lat").and_then(Value::as_f64);
        let lon = o.get("lon").and_then(Value::as_f64);
        let mut ok = true;
        let reported = match (lon, lat) {
            (Some(lon), Some(lat)) => {
                let p = LonLat::new(lon, lat);
                if !p.is_valid() {
                    self.report(
                        &at,
                        "lat",
                        format!("{},{}", fmt_num(lat), fmt_num(lon)),
                        "坐标超出范围（纬度−90至90，经度−180至180）".into(),
                        true,
                    );
                    ok = false;
                } else if lat == 0.0 && lon == 0.0 {
                    self.report(
                        &at,
                        "lat",
                        "0,0".into(),
                        "坐标 (0,0) 表示未定位".into(),
                        true,
                    );
                    ok = false;
                }
                p
            }
            _ => {
                self.report(
                    &at,
                    "lat",
                    String::new(),
                    "缺少有效的经纬度 lat、lon".into(),
                    true,
                );
                return None;
            }
        };
        let crs = match o.get("crs").filter(|x| !x.is_null()) {
            None => Crs::Wgs84,
            Some(x) => match x.as_str().and_then(Crs::from_code) {
                Some(c) => c,
                None => {
                    self.report(
                        &at,
                        "crs",
                        short(x),
                        format!("坐标系 {} 不支持（应为 wgs84 或 gcj02）", short(x)),
                        true,
                    );
                    return None;
                }
            },
        };
        let accuracy_m = match o.get("acc").filter(|x| !x.is_null()) {
            None => None,
            Some(x) => match x.as_f64() {
                Some(a) if (0.0..=100_000.0).contains(&a) => Some(a),
                _ => {
                    self.report(
                        &at,
                        "acc",
                        short(x),
                        "定位精度 acc 应为0–100000米".into(),
                        false,
                    );
                    None
                }
            },
        };
        ok.then(|| GpsFix {
            index,
            dev,
            position: to_wgs84(reported, crs),
            reported,
            crs,
            accuracy_m,
            at_micros: ts,
        })
    }

    fn ack(&mut self, o: &Map<String, Value>) -> Result<Ack, Problem> {
        let cmd = match o.get("cmd") {
            Some(Value::String(s)) if valid_id(s) => s.clone(),
            other => {
                return Err(Problem::new(
                    "cmd",
                    other.map(short).unwrap_or_default(),
                    "回执缺少有效的命令编号 cmd",
                ));
            }
        };
        let result = match o.get("result").and_then(Value::as_str) {
            Some("ok") => AckResult::Ok,
            Some("error") => AckResult::Error,
            Some("unsupported") => AckResult::Unsupported,
            _ => {
                return Err(Problem::new(
                    "result",
                    o.get("result").map(short).unwrap_or_default(),
                    "回执结果 result 应为 ok、error 或 unsupported",
                ));
            }
        };
        let text = |key: &str| {
            o.get(key)
                .and_then(Value::as_str)
                .map(|s| s.chars().take(200).collect::<String>())
        };
        Ok(Ack {
            cmd,
            result,
            version: text("version"),
            message: text("msg"),
            at_micros: self.envelope_ts,
        })
    }
}

/// A timestamp (epoch ms or RFC 3339 with offset) within the window, as µs; or a zh-CN
/// reason.
pub fn time(v: &Value, opts: &ParseOptions) -> Result<i64, String> {
    let micros = match v {
        Value::Number(n) => {
            let ms = n.as_f64().ok_or("时间戳应为毫秒数")?;
            if !ms.is_finite() || ms < 0.0 {
                return Err(format!("时间戳 {n} 无效"));
            }
            if ms < 100_000_000_000.0 {
                return Err(format!("时间戳 {n} 像是以秒为单位，应为毫秒"));
            }
            if ms > 9.0e15 {
                return Err(format!("时间戳 {n} 无效"));
            }
            (ms * 1000.0).round() as i64
        }
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.timestamp_micros(),
            Err(_) => {
                let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .is_ok()
                    || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok();
                return Err(if naive {
                    format!("时间 {s} 缺少时区（例如 2026-12-05T08:00:00+08:00）")
                } else {
                    format!("时间 {s} 不是 RFC 3339 格式（例如 2026-12-05T08:00:00+08:00）")
                });
            }
        },
        _ => return Err("时间戳 ts 应为毫秒数或 RFC 3339 文本".into()),
    };
    let ahead = micros - opts.now_micros;
    if ahead > i64::from(opts.max_future_seconds) * MICROS {
        return Err(format!(
            "时间比服务器时间超前{}（最多允许{}）",
            fmt_duration(ahead / MICROS),
            fmt_duration(i64::from(opts.max_future_seconds))
        ));
    }
    if -ahead > i64::from(opts.horizon_seconds) * MICROS {
        return Err(format!(
            "时间早于{}前，超出补传期限",
            fmt_duration(i64::from(opts.horizon_seconds))
        ));
    }
    Ok(micros)
}

/// What a command asks (`cmd` and `args` of the downlink).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", content = "args", rename_all = "snake_case")]
pub enum Action {
    /// Measure and report every `seconds` (上报间隔).
    SetInterval {
        /// 10–86400.
        seconds: u32,
    },
    /// Report a GPS fix now (立即定位).
    Locate,
    /// Vibrate to be found (寻找手环).
    Vibrate {
        /// 1–60.
        seconds: u32,
    },
    /// Set the clock to the command's `ts` (校时).
    SyncTime,
    /// Restart (重启).
    Reboot,
    /// Install firmware (固件升级); acknowledged with the new `version`.
    Firmware {
        /// Version label.
        version: String,
        /// HTTPS address of the image.
        url: String,
        /// SHA-256 of the image, hex.
        sha256: String,
    },
}

impl Action {
    /// zh-CN label.
    pub const fn label(&self) -> &'static str {
        match self {
            Action::SetInterval { .. } => "设置上报间隔",
            Action::Locate => "立即定位",
            Action::Vibrate { .. } => "振动寻找",
            Action::SyncTime => "校时",
            Action::Reboot => "重启",
            Action::Firmware { .. } => "固件升级",
        }
    }
}

/// A downlink command (`yiyang/v1/{org}/{gw|dev}/{sn}/cmd`), acknowledged on `…/ack` with
/// its `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Unique id, echoed in the acknowledgement.
    pub id: String,
    /// When sent, epoch ms.
    pub ts: i64,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
}

impl Command {
    /// Checks the command (every problem at once, zh-CN).
    pub fn check(&self) -> Result<(), Vec<Problem>> {
        let mut p = Vec::new();
        if !valid_id(&self.id) {
            p.push(Problem::new(
                "id",
                &self.id,
                "命令编号应为1–64个字母、数字或 _ . : -",
            ));
        }
        if self.ts <= 0 {
            p.push(Problem::new(
                "ts",
                self.ts.to_string(),
                "命令时间 ts 应为毫秒时间戳",
            ));
        }
        match &self.action {
            Action::SetInterval { seconds } if !(10..=86_400).contains(seconds) => {
                p.push(Problem::new(
                    "args.seconds",
                    seconds.to_string(),
                    "上报间隔应在10–86400秒之间",
                ));
            }
            Action::Vibrate { seconds } if !(1..=60).contains(seconds) => {
                p.push(Problem::new(
                    "args.seconds",
                    seconds.to_string(),
                    "振动时长应在1–60秒之间",
                ));
            }
            Action::Firmware {
                version,
                url,
                sha256,
            } => {
                if version.trim().is_empty() || version.chars().count() > 32 {
                    p.push(Problem::new(
                        "args.version",
                        version,
                        "固件版本应为1–32个字符",
                    ));
                }
                if !url.starts_with("https://") || url.len() > 512 {
                    p.push(Problem::new(
                        "args.url",
                        url,
                        "固件地址应为 https:// 开头、不超过512个字符",
                    ));
                }
                if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    p.push(Problem::new(
                        "args.sha256",
                        sha256,
                        "固件校验值应为64位十六进制 SHA-256",
                    ));
                }
            }
            _ => {}
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }

    /// The JSON document to publish.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a command serialises")
    }
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
