//! Zone presence (区域定位) of BLE tags from gateway RSSI scans, and restricted zones
//! (电子围栏准入控制).
//!
//! Each gateway uplink that carries scans is one *scan batch*: the tags that gateway heard,
//! with their RSSI. [`Presence::scan`] feeds a batch, [`Presence::tick`] the passing of
//! time; both answer [`PresenceEvent`]s. Per tag, the state machine is:
//!
//! 1. A gateway hears a tag when the RSSI is at least the floor ([`PresenceConfig::floor_dbm`],
//!    −85 dBm); weaker receptions count as not heard.
//! 2. The tag is assigned to the strongest gateway hearing it. It switches to another
//!    gateway only when that one is at least [`PresenceConfig::hysteresis_db`] (5 dB)
//!    stronger than the assigned one.
//! 3. The zone of the assigned gateway must stay the same for
//!    [`PresenceConfig::dwell_seconds`] (5 s) before an [`PresenceKind::Enter`] (with an
//!    [`PresenceKind::Exit`] of the previous zone first). A gateway that belongs to no zone
//!    (a corridor) counts as "no zone": staying there for the dwell exits the previous zone.
//! 4. A gateway stops hearing a tag after [`PresenceConfig::exit_missed_scans`] (3) of its
//!    batches without the tag, or when it has not heard it for
//!    [`PresenceConfig::stale_seconds`] (30 s; a gateway gone silent). When no gateway
//!    hears the tag any more, it exits its zone at once (already debounced by 4.).
//! 5. Entering a restricted zone without one of its allowed roles also yields a
//!    [`PresenceKind::Violation`].
//!
//! Times are µs since the Unix epoch; a batch or tick older than what a tag has seen is
//! ignored for that tag.

use crate::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const MICROS: i64 = 1_000_000;

/// Parameters of zone presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceConfig {
    /// Weakest RSSI that counts as heard, dBm (default −85).
    pub floor_dbm: i16,
    /// How much stronger another gateway must be to take the tag over, dB (default 5).
    pub hysteresis_db: i16,
    /// How long a new zone must hold before ENTER, seconds (default 5).
    pub dwell_seconds: u32,
    /// Batches of a gateway without the tag before that gateway stops hearing it (default 3).
    pub exit_missed_scans: u32,
    /// Time without hearing after which a gateway stops hearing a tag, seconds (default 30).
    pub stale_seconds: u32,
    /// Gateways remembered per tag, the strongest kept (default 8).
    pub max_gateways_per_tag: usize,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            floor_dbm: -85,
            hysteresis_db: 5,
            dwell_seconds: 5,
            exit_missed_scans: 3,
            stale_seconds: 30,
            max_gateways_per_tag: 8,
        }
    }
}

impl PresenceConfig {
    /// Checks the parameters (every problem at once, zh-CN).
    pub fn check(&self) -> Result<(), Vec<Problem>> {
        let mut p = Vec::new();
        if !(-120..=0).contains(&self.floor_dbm) {
            p.push(Problem::new(
                "floor_dbm",
                self.floor_dbm.to_string(),
                "信号强度下限应在−120至0 dBm之间",
            ));
        }
        if !(0..=30).contains(&self.hysteresis_db) {
            p.push(Problem::new(
                "hysteresis_db",
                self.hysteresis_db.to_string(),
                "切换回差应在0–30 dB之间",
            ));
        }
        if self.dwell_seconds > 600 {
            p.push(Problem::new(
                "dwell_seconds",
                self.dwell_seconds.to_string(),
                "最短停留时间不能超过600秒",
            ));
        }
        if !(1..=100).contains(&self.exit_missed_scans) {
            p.push(Problem::new(
                "exit_missed_scans",
                self.exit_missed_scans.to_string(),
                "判定离开的漏扫次数应在1–100之间",
            ));
        }
        if !(1..=3600).contains(&self.stale_seconds) {
            p.push(Problem::new(
                "stale_seconds",
                self.stale_seconds.to_string(),
                "信号超时应在1–3600秒之间",
            ));
        }
        if !(1..=32).contains(&self.max_gateways_per_tag) {
            p.push(Problem::new(
                "max_gateways_per_tag",
                self.max_gateways_per_tag.to_string(),
                "每个标签记录的网关数应在1–32之间",
            ));
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }
}

/// A zone (区域): the gateways that cover it, and who may be in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Stable code.
    pub code: String,
    /// zh-CN name (e.g. 重症监护室).
    pub name: String,
    /// Serial numbers of the gateways covering the zone (each in one zone only).
    pub gateways: Vec<String>,
    /// Whether only `allowed_roles` may enter (手术室, 重症监护室, 药品库房).
    #[serde(default)]
    pub restricted: bool,
    /// Roles allowed into a restricted zone (none: nobody).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_roles: Vec<String>,
}

impl Zone {
    /// Whether a holder of `roles` may be in the zone.
    pub fn allows(&self, roles: &[String]) -> bool {
        !self.restricted || roles.iter().any(|r| self.allowed_roles.contains(r))
    }
}

/// The zones of a site, checked, with their gateways indexed.
#[derive(Debug, Clone, Default)]
pub struct ZoneMap {
    zones: Vec<Zone>,
    by_gateway: HashMap<String, usize>,
}

impl ZoneMap {
    /// Checks the zones (every problem at once, zh-CN): codes present, valid and unique,
    /// names present, at least one gateway each, no gateway in two zones, allowed roles
    /// only on restricted zones.
    pub fn new(zones: Vec<Zone>) -> Result<ZoneMap, Vec<Problem>> {
        let mut p = Vec::new();
        let mut by_gateway: HashMap<String, usize> = HashMap::new();
        for (i, z) in zones.iter().enumerate() {
            let path = format!("zones[{i}]");
            let code_ok = !z.code.is_empty()
                && z.code.len() <= 64
                && z.code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if z.code.is_empty() {
                p.push(Problem::new(
                    format!("{path}.code"),
                    "",
                    format!("第{}个区域的代码不能为空", i + 1),
                ));
            } else if !code_ok {
                p.push(Problem::new(
                    format!("{path}.code"),
                    &z.code,
                    format!(
                        "区域代码 {} 只能由字母、数字、下划线、点或连字符组成，最长64个字符",
                        z.code
                    ),
                ));
            } else if let Some(j) = zones[..i].iter().position(|o| o.code == z.code) {
                p.push(Problem::new(
                    format!("{path}.code"),
                    &z.code,
                    format!("区域代码 {} 重复（与第{}个区域相同）", z.code, j + 1),
                ));
            }
            let who = if z.code.is_empty() {
                format!("第{}个区域", i + 1)
            } else {
                format!("区域 {}", z.code)
            };
            if z.name.trim().is_empty() {
                p.push(Problem::new(
                    format!("{path}.name"),
                    "",
                    format!("{who}：名称不能为空"),
                ));
            }
            if z.gateways.is_empty() {
                p.push(Problem::new(
                    format!("{path}.gateways"),
                    "",
                    format!("{who}：至少需要一个网关"),
                ));
            }
            for gw in &z.gateways {
                if gw.trim().is_empty() {
                    p.push(Problem::new(
                        format!("{path}.gateways"),
                        "",
                        format!("{who}：网关编号不能为空"),
                    ));
                } else if let Some(&j) = by_gateway.get(gw) {
                    let message = if j == i {
                        format!("{who}：网关 {gw} 重复")
                    } else {
                        let other = if zones[j].code.is_empty() {
                            format!("第{}个区域", j + 1)
                        } else {
                            format!("区域 {}", zones[j].code)
                        };
                        format!("网关 {gw} 同时属于两个区域：{other}、{who}")
                    };
                    p.push(Problem::new(format!("{path}.gateways"), gw, message));
                } else {
                    by_gateway.insert(gw.clone(), i);
                }
            }
            if !z.restricted && !z.allowed_roles.is_empty() {
                p.push(Problem::new(
                    format!("{path}.allowed_roles"),
                    z.allowed_roles.join(","),
                    format!(
                        "{who}：不是限制区域，却设置了允许进入的角色（请勾选限制区域或清空角色）"
                    ),
                ));
            }
        }
        if p.is_empty() {
            Ok(ZoneMap { zones, by_gateway })
        } else {
            Err(p)
        }
    }

    /// The zones.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// The zone with `code`.
    pub fn zone(&self, code: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.code == code)
    }

    /// The zone a gateway covers.
    pub fn zone_of(&self, gateway: &str) -> Option<&Zone> {
        self.by_gateway.get(gateway).map(|&i| &self.zones[i])
    }
}

/// What happened to a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceKind {
    /// The tag entered the zone (进入).
    Enter,
    /// The tag left the zone (离开).
    Exit,
    /// The tag entered a restricted zone without an allowed role (越界闯入).
    Violation,
}

impl PresenceKind {
    /// zh-CN label.
    pub const fn label(self) -> &'static str {
        match self {
            PresenceKind::Enter => "进入",
            PresenceKind::Exit => "离开",
            PresenceKind::Violation => "未授权进入限制区域",
        }
    }
}

/// A presence change of one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEvent {
    /// The tag.
    pub tag: String,
    /// Enter, exit or violation.
    pub kind: PresenceKind,
    /// Zone code.
    pub zone: String,
    /// When it was decided, µs.
    pub at_micros: i64,
    /// Enter and violation: when the tag arrived (the dwell began); exit: when it had
    /// entered the zone. µs.
    pub since_micros: i64,
}

#[derive(Debug, Clone)]
struct Heard {
    gateway: String,
    rssi: i16,
    at: i64,
    batch: u64,
}

/// The presence state of one tag.
#[derive(Debug, Clone, Default)]
pub struct TagState {
    roles: Vec<String>,
    heard: Vec<Heard>,
    assigned: Option<String>,
    /// Candidate zone (None = no zone) and since when.
    pending: Option<(Option<String>, i64)>,
    /// Confirmed zone and when it was entered.
    zone: Option<(String, i64)>,
    last: i64,
}

impl TagState {
    /// The zone the tag is in (after its ENTER), with the time it entered.
    pub fn zone(&self) -> Option<(&str, i64)> {
        self.zone.as_ref().map(|(z, t)| (z.as_str(), *t))
    }

    /// The gateway the tag is assigned to.
    pub fn gateway(&self) -> Option<&str> {
        self.assigned.as_deref()
    }

    /// The tag holder's roles.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Gateways currently hearing the tag: (gateway, last RSSI, last heard µs).
    pub fn heard(&self) -> impl Iterator<Item = (&str, i16, i64)> {
        self.heard
            .iter()
            .map(|h| (h.gateway.as_str(), h.rssi, h.at))
    }
}

/// Zone presence of every tag of a site.
#[derive(Debug, Clone)]
pub struct Presence {
    config: PresenceConfig,
    map: ZoneMap,
    tags: HashMap<String, TagState>,
    /// Batches received per gateway (the miss counter's clock) and the time of the last.
    batches: HashMap<String, (u64, i64)>,
    /// Tags assigned to each gateway.
    assigned: HashMap<String, Vec<String>>,
}

impl Presence {
    /// Presence with checked parameters and zones.
    pub fn new(config: PresenceConfig, map: ZoneMap) -> Result<Presence, Vec<Problem>> {
        config.check()?;
        Ok(Presence {
            config,
            map,
            tags: HashMap::new(),
            batches: HashMap::new(),
            assigned: HashMap::new(),
        })
    }

    /// The parameters.
    pub fn config(&self) -> &PresenceConfig {
        &self.config
    }

    /// The zones.
    pub fn map(&self) -> &ZoneMap {
        &self.map
    }

    /// Replaces the zones (after an edit). Tags keep their state; the next batch or tick
    /// judges them by the new zones.
    pub fn set_map(&mut self, map: ZoneMap) {
        self.map = map;
    }

    /// Sets the roles of a tag's holder (checked when it enters a restricted zone).
    pub fn set_roles(&mut self, tag: &str, roles: Vec<String>) {
        self.tags.entry(tag.to_string()).or_default().roles = roles;
    }

    /// The state of a tag.
    pub fn tag(&self, tag: &str) -> Option<&TagState> {
        self.tags.get(tag)
    }

    /// The tags in a zone (after their ENTER), sorted.
    pub fn occupants(&self, zone: &str) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .tags
            .iter()
            .filter(|(_, t)| t.zone.as_ref().is_some_and(|(z, _)| z == zone))
            .map(|(k, _)| k.as_str())
            .collect();
        v.sort_unstable();
        v
    }

    /// Forgets a tag (unbound, discharged). Emits nothing.
    pub fn forget(&mut self, tag: &str) {
        if let Some(t) = self.tags.remove(tag)
            && let Some(g) = t.assigned
            && let Some(list) = self.assigned.get_mut(&g)
        {
            list.retain(|x| x != tag);
        }
    }

    /// One scan batch of `gateway` at `at_micros`: the tags it heard with their RSSI (dBm).
    /// Tags this gateway heard before and not now count one missed scan. Call it once per
    /// uplink that carries scans (an uplink without `scans` is no batch). A batch older
    /// than the gateway's previous one is ignored.
    pub fn scan(
        &mut self,
        at_micros: i64,
        gateway: &str,
        seen: &[(&str, i16)],
    ) -> Vec<PresenceEvent> {
        let batch = {
            let b = self
                .batches
                .entry(gateway.to_string())
                .or_insert((0, i64::MIN));
            if at_micros < b.1 {
                return Vec::new(); // older than this gateway's last batch
            }
            b.0 += 1;
            b.1 = at_micros;
            b.0
        };
        let mut out = Vec::new();
        let mut touched: Vec<String> = Vec::with_capacity(seen.len());
        for &(tag, rssi) in seen {
            if rssi < self.config.floor_dbm && !self.tags.contains_key(tag) {
                continue; // a weak stranger is not tracked
            }
            let state = self.tags.entry(tag.to_string()).or_default();
            if at_micros < state.last {
                continue;
            }
            if rssi >= self.config.floor_dbm {
                match state.heard.iter_mut().find(|h| h.gateway == gateway) {
                    Some(h) => {
                        h.rssi = rssi;
                        h.at = at_micros;
                        h.batch = batch;
                    }
                    None => state.heard.push(Heard {
                        gateway: gateway.to_string(),
                        rssi,
                        at: at_micros,
                        batch,
                    }),
                }
            }
            touched.push(tag.to_string());
        }
        // tags assigned to this gateway that it did not hear this time
        if let Some(list) = self.assigned.get(gateway) {
            for t in list {
                if !seen.iter().any(|(s, _)| s == t) {
                    touched.push(t.clone());
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for tag in touched {
            self.update(&tag, at_micros, &mut out);
        }
        out
    }

    /// Re-judges every tag at `now_micros` (gateways gone silent, dwell completed). Call it
    /// every few seconds. Tags no gateway hears any more, in no zone and without roles
    /// are forgotten, so the state stays as large as the tags around.
    pub fn tick(&mut self, now_micros: i64) -> Vec<PresenceEvent> {
        let mut out = Vec::new();
        let mut tags: Vec<String> = self.tags.keys().cloned().collect();
        tags.sort_unstable();
        for tag in tags {
            self.update(&tag, now_micros, &mut out);
        }
        self.tags
            .retain(|_, t| !t.heard.is_empty() || t.zone.is_some() || !t.roles.is_empty());
        out
    }

    /// How many tags are tracked.
    pub fn tracked(&self) -> usize {
        self.tags.len()
    }

    fn update(&mut self, tag: &str, at: i64, out: &mut Vec<PresenceEvent>) {
        let cfg = &self.config;
        let Some(state) = self.tags.get_mut(tag) else {
            return;
        };
        if at < state.last {
            return;
        }
        state.last = at;
        let stale = i64::from(cfg.stale_seconds) * MICROS;
        let batches = &self.batches;
        state.heard.retain(|h| {
            let misses = batches
                .get(&h.gateway)
                .map_or(0, |b| b.0)
                .saturating_sub(h.batch);
            at - h.at <= stale && misses < u64::from(cfg.exit_missed_scans)
        });
        if state.heard.len() > cfg.max_gateways_per_tag {
            state
                .heard
                .sort_by(|a, b| b.rssi.cmp(&a.rssi).then(b.at.cmp(&a.at)));
            state.heard.truncate(cfg.max_gateways_per_tag);
        }

        // assignment with hysteresis
        let best = state
            .heard
            .iter()
            .max_by(|a, b| a.rssi.cmp(&b.rssi).then(b.at.cmp(&a.at)));
        let current = state
            .assigned
            .as_ref()
            .and_then(|g| state.heard.iter().find(|h| &h.gateway == g));
        let next: Option<String> = match (current, best) {
            (_, None) => None,
            (None, Some(b)) => Some(b.gateway.clone()),
            (Some(c), Some(b)) => {
                if b.gateway != c.gateway && b.rssi >= c.rssi.saturating_add(cfg.hysteresis_db) {
                    Some(b.gateway.clone())
                } else {
                    Some(c.gateway.clone())
                }
            }
        };
        if next != state.assigned {
            if let Some(old) = &state.assigned
                && let Some(list) = self.assigned.get_mut(old)
            {
                list.retain(|x| x != tag);
            }
            if let Some(new) = &next {
                self.assigned
                    .entry(new.clone())
                    .or_default()
                    .push(tag.to_string());
            }
            state.assigned = next;
        }

        let confirmed = state.zone.as_ref().map(|(z, _)| z.as_str());
        let Some(gw) = &state.assigned else {
            // heard nowhere: leave at once (the misses and staleness debounced it)
            state.pending = None;
            if let Some((zone, entered)) = state.zone.take() {
                out.push(PresenceEvent {
                    tag: tag.to_string(),
                    kind: PresenceKind::Exit,
                    zone,
                    at_micros: at,
                    since_micros: entered,
                });
            }
            return;
        };
        let target: Option<&Zone> = self.map.zone_of(gw);
        let target_code = target.map(|z| z.code.as_str());
        if target_code == confirmed {
            state.pending = None;
            return;
        }
        let since = match &state.pending {
            Some((p, since)) if p.as_deref() == target_code => *since,
            _ => {
                state.pending = Some((target_code.map(str::to_string), at));
                at
            }
        };
        if at - since < i64::from(cfg.dwell_seconds) * MICROS {
            return;
        }
        state.pending = None;
        if let Some((zone, entered)) = state.zone.take() {
            out.push(PresenceEvent {
                tag: tag.to_string(),
                kind: PresenceKind::Exit,
                zone,
                at_micros: at,
                since_micros: entered,
            });
        }
        if let Some(z) = target {
            state.zone = Some((z.code.clone(), at));
            out.push(PresenceEvent {
                tag: tag.to_string(),
                kind: PresenceKind::Enter,
                zone: z.code.clone(),
                at_micros: at,
                since_micros: since,
            });
            if !z.allows(&state.roles) {
                out.push(PresenceEvent {
                    tag: tag.to_string(),
                    kind: PresenceKind::Violation,
                    zone: z.code.clone(),
                    at_micros: at,
                    since_micros: since,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = MICROS;

    fn zone(code: &str, gateways: &[&str]) -> Zone {
        Zone {
            code: code.into(),
            name: format!("{code}区"),
            gateways: gateways.iter().map(|g| g.to_string()).collect(),
            restricted: false,
            allowed_roles: vec![],
        }
    }

    /// Ward A (gateways A1, A2), ward B (B1), ICU (restricted to nurses and doctors);
    /// gateway C1 in the corridor belongs to no zone.
    fn site() -> Presence {
        let mut icu = zone("icu", &["I1"]);
        icu.restricted = true;
        icu.allowed_roles = vec!["nurse".into(), "doctor".into()];
        let map = ZoneMap::new(vec![zone("a", &["A1", "A2"]), zone("b", &["B1"]), icu]).unwrap();
        Presence::new(PresenceConfig::default(), map).unwrap()
    }

    fn kinds(events: &[PresenceEvent]) -> Vec<(PresenceKind, &str)> {
        events.iter().map(|e| (e.kind, e.zone.as_str())).collect()
    }

    /// Feeds `gateway` hearing `tag` every second from `from` to `to` (inclusive) and
    /// returns the events.
    fn hear(
        p: &mut Presence,
        gateway: &str,
        tag: &str,
        rssi: i16,
        from: i64,
        to: i64,
    ) -> Vec<PresenceEvent> {
        (from..=to)
            .flat_map(|t| p.scan(t * S, gateway, &[(tag, rssi)]))
            .collect()
    }

    #[test]
    fn enter_only_after_the_dwell() {
        let mut p = site();
        assert!(hear(&mut p, "A1", "T1", -60, 0, 4).is_empty());
        assert!(p.scan(4 * S + 999_999, "A1", &[("T1", -60)]).is_empty());
        let e = p.scan(5 * S, "A1", &[("T1", -60)]);
        assert_eq!(kinds(&e), vec![(PresenceKind::Enter, "a")]);
        assert_eq!((e[0].since_micros, e[0].at_micros), (0, 5 * S));
        assert_eq!(p.tag("T1").unwrap().zone(), Some(("a", 5 * S)));
        assert_eq!(p.occupants("a"), vec!["T1"]);
        // the dwell is also reached by a tick
        let mut p = site();
        p.scan(0, "B1", &[("T2", -70)]);
        assert!(p.tick(4 * S).is_empty());
        assert_eq!(kinds(&p.tick(5 * S)), vec![(PresenceKind::Enter, "b")]);
    }

    #[test]
    fn the_floor_decides_what_is_heard() {
        let mut p = site();
        assert!(hear(&mut p, "A1", "T1", -86, 0, 10).is_empty());
        assert!(p.tag("T1").is_none(), "never heard: not even tracked");
        // a known tag heard below the floor is not assigned
        p.set_roles("T1", vec!["patient".into()]);
        assert!(hear(&mut p, "A1", "T1", -86, 11, 20).is_empty());
        assert_eq!(p.tag("T1").unwrap().gateway(), None);
        let mut p = site();
        assert_eq!(
            kinds(&hear(&mut p, "A1", "T1", -85, 0, 5)),
            vec![(PresenceKind::Enter, "a")]
        );
    }

    #[test]
    fn switching_needs_the_hysteresis() {
        for (rssi_b, switches) in [(-66i16, false), (-65, true)] {
            let mut p = site();
            hear(&mut p, "A1", "T1", -70, 0, 5);
            let mut events = Vec::new();
            for t in 6..=20 {
                events.extend(p.scan(t * S, "A1", &[("T1", -70)]));
                events.extend(p.scan(t * S, "B1", &[("T1", rssi_b)]));
            }
            if switches {
                assert_eq!(
                    kinds(&events),
                    vec![(PresenceKind::Exit, "a"), (PresenceKind::Enter, "b")]
                );
                assert_eq!(events[1].since_micros, 6 * S);
                assert_eq!(events[1].at_micros, 11 * S);
                assert_eq!(events[0].since_micros, 5 * S, "exit names when it entered");
            } else {
                assert!(events.is_empty(), "{rssi_b}: {events:?}");
                assert_eq!(p.tag("T1").unwrap().gateway(), Some("A1"));
            }
        }
    }

    #[test]
    fn a_flicker_shorter_than_the_dwell_changes_nothing() {
        let mut p = site();
        hear(&mut p, "A1", "T1", -70, 0, 5);
        let mut events = Vec::new();
        for t in 6..=7 {
            events.extend(p.scan(t * S, "A1", &[("T1", -70)]));
            events.extend(p.scan(t * S, "B1", &[("T1", -60)]));
        }
        assert_eq!(p.tag("T1").unwrap().gateway(), Some("B1"));
        // B fades: A1 takes over again once B1 has missed 3 scans (at 10 s, before the dwell)
        for t in 8..=20 {
            events.extend(p.scan(t * S, "A1", &[("T1", -70)]));
            events.extend(p.scan(t * S, "B1", &[]));
        }
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(p.tag("T1").unwrap().zone().map(|z| z.0), Some("a"));
        assert_eq!(p.tag("T1").unwrap().gateway(), Some("A1"));
    }

    #[test]
    fn gateways_of_one_zone_hand_over_silently() {
        let mut p = site();
        hear(&mut p, "A1", "T1", -70, 0, 5);
        let mut events = Vec::new();
        for t in 6..=20 {
            events.extend(p.scan(t * S, "A1", &[("T1", -80)]));
            events.extend(p.scan(t * S, "A2", &[("T1", -60)]));
        }
        assert!(events.is_empty());
        assert_eq!(p.tag("T1").unwrap().gateway(), Some("A2"));
    }

    #[test]
    fn exit_after_missed_scans() {
        let mut p = site();
        hear(&mut p, "A1", "T1", -60, 0, 5);
        assert!(p.scan(6 * S, "A1", &[]).is_empty());
        assert!(p.scan(7 * S, "A1", &[("T9", -50)]).is_empty());
        let e = p.scan(8 * S, "A1", &[]);
        assert_eq!(kinds(&e), vec![(PresenceKind::Exit, "a")]);
        assert_eq!(e[0].since_micros, 5 * S);
        assert_eq!(p.tag("T1").unwrap().zone(), None);
        // a scan below the floor is a miss too
        let mut p = site();
        hear(&mut p, "A1", "T1", -60, 0, 5);
        for t in 6..=7 {
            assert!(p.scan(t * S, "A1", &[("T1", -90)]).is_empty());
        }
        assert_eq!(
            kinds(&p.scan(8 * S, "A1", &[("T1", -90)])),
            vec![(PresenceKind::Exit, "a")]
        );
    }

    #[test]
    fn exit_when_the_gateway_goes_silent() {
        let mut p = site();
        hear(&mut p, "A1", "T1", -60, 0, 5);
        assert!(p.tick(35 * S).is_empty(), "30 s after the last reception");
        assert_eq!(kinds(&p.tick(35 * S + 1)), vec![(PresenceKind::Exit, "a")]);
        assert!(p.tick(100 * S).is_empty());
    }

    #[test]
    fn a_corridor_gateway_exits_the_zone_after_the_dwell() {
        let mut p = site();
        hear(&mut p, "A1", "T1", -70, 0, 5);
        let mut events = Vec::new();
        for t in 6..=12 {
            events.extend(p.scan(t * S, "A1", &[("T1", -80)]));
            events.extend(p.scan(t * S, "C1", &[("T1", -60)]));
        }
        assert_eq!(kinds(&events), vec![(PresenceKind::Exit, "a")]);
        assert_eq!(events[0].at_micros, 11 * S);
        assert_eq!(p.tag("T1").unwrap().gateway(), Some("C1"));
    }

    #[test]
    fn restricted_zones_need_an_allowed_role() {
        let mut p = site();
        p.set_roles("PATIENT", vec!["patient".into()]);
        p.set_roles("NURSE", vec!["nurse".into(), "staff".into()]);
        let seen = [("PATIENT", -60), ("NURSE", -62), ("STRANGER", -70)];
        let e: Vec<_> = (0..=5).flat_map(|t| p.scan(t * S, "I1", &seen)).collect();
        let of = |tag: &str| -> Vec<PresenceKind> {
            e.iter().filter(|x| x.tag == tag).map(|x| x.kind).collect()
        };
        assert_eq!(
            of("PATIENT"),
            vec![PresenceKind::Enter, PresenceKind::Violation]
        );
        assert_eq!(of("NURSE"), vec![PresenceKind::Enter]);
        // an unknown tag has no role
        assert_eq!(
            of("STRANGER"),
            vec![PresenceKind::Enter, PresenceKind::Violation]
        );
        let v = e
            .iter()
            .find(|x| x.kind == PresenceKind::Violation)
            .unwrap();
        assert_eq!(
            (v.zone.as_str(), v.since_micros, v.at_micros),
            ("icu", 0, 5 * S)
        );
        // open zones allow everyone
        assert!(p.map().zone("a").unwrap().allows(&[]));
        // nobody may enter a restricted zone without roles
        let mut store = zone("store", &["S1"]);
        store.restricted = true;
        assert!(!store.allows(&["doctor".into()]));
    }

    #[test]
    fn many_gateways_are_bounded_per_tag() {
        let mut p = site();
        for g in 0..20 {
            p.scan(0, &format!("X{g}"), &[("T1", -80 + g as i16)]);
        }
        p.tick(S);
        let t = p.tag("T1").unwrap();
        assert_eq!(t.heard().count(), 8);
        assert_eq!(t.heard().map(|h| h.1).min(), Some(-80 + 12));
    }

    #[test]
    fn tags_that_are_gone_are_forgotten() {
        let mut p = site();
        p.set_roles("NURSE", vec!["nurse".into()]);
        p.scan(0, "A1", &[("PHONE", -95)]);
        assert_eq!(p.tracked(), 1, "a weak stranger is not tracked");
        hear(&mut p, "A1", "T1", -60, 0, 5);
        p.scan(6 * S, "B1", &[("T2", -70)]);
        assert_eq!(p.tracked(), 3);
        p.tick(100 * S); // T1 exits, T2 fades before entering
        assert_eq!(p.tracked(), 1, "only the tag with roles stays");
        assert!(p.tag("NURSE").is_some());
    }

    #[test]
    fn forgetting_and_old_batches() {
        let mut p = site();
        hear(&mut p, "A1", "T1", -60, 10, 15);
        assert!(
            p.scan(5 * S, "A1", &[]).is_empty(),
            "an old batch changes nothing"
        );
        assert_eq!(p.tag("T1").unwrap().zone().map(|z| z.0), Some("a"));
        p.forget("T1");
        assert!(p.tag("T1").is_none());
        assert!(p.occupants("a").is_empty());
        assert!(p.scan(16 * S, "A1", &[]).is_empty());
    }

    #[test]
    fn zone_problems_are_reported_together() {
        let mut bad = zone("a", &["G1"]);
        bad.allowed_roles = vec!["nurse".into()];
        let zones = vec![
            bad,
            zone("a", &["G2", "G2"]),
            Zone {
                name: " ".into(),
                ..zone("B c", &[])
            },
            zone("", &["G1"]),
        ];
        let p = ZoneMap::new(zones).unwrap_err();
        let got: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.field.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "zones[0].allowed_roles",
                    "区域 a：不是限制区域，却设置了允许进入的角色（请勾选限制区域或清空角色）"
                ),
                ("zones[1].code", "区域代码 a 重复（与第1个区域相同）"),
                ("zones[1].gateways", "区域 a：网关 G2 重复"),
                (
                    "zones[2].code",
                    "区域代码 B c 只能由字母、数字、下划线、点或连字符组成，最长64个字符"
                ),
                ("zones[2].name", "区域 B c：名称不能为空"),
                ("zones[2].gateways", "区域 B c：至少需要一个网关"),
                ("zones[3].code", "第4个区域的代码不能为空"),
                (
                    "zones[3].gateways",
                    "网关 G1 同时属于两个区域：区域 a、第4个区域"
                ),
            ]
        );
    }

    #[test]
    fn config_problems_are_reported_together() {
        let c = PresenceConfig {
            floor_dbm: 5,
            hysteresis_db: -1,
            dwell_seconds: 601,
            exit_missed_scans: 0,
            stale_seconds: 0,
            max_gateways_per_tag: 0,
        };
        let p = c.check().unwrap_err();
        assert_eq!(p.len(), 6);
        assert_eq!(p[0].message, "信号强度下限应在−120至0 dBm之间");
        assert!(PresenceConfig::default().check().is_ok());
        let c: PresenceConfig = serde_json::from_str(r#"{"floor_dbm": -90}"#).unwrap();
        assert_eq!((c.floor_dbm, c.hysteresis_db), (-90, 5));
    }

    #[test]
    fn labels() {
        assert_eq!(PresenceKind::Enter.label(), "进入");
        assert_eq!(PresenceKind::Exit.label(), "离开");
        assert_eq!(
            serde_json::to_string(&PresenceKind::Violation).unwrap(),
            "\"violation\""
        );
    }
}
