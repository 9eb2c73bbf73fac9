//! Location (定位与电子围栏): BLE zone presence from gateway scans (zones and restricted
//! zones are data: `iot_zones`, a gateway's zone is `iot_devices.zone_id`), and GPS safe
//! areas around an elder's home (`iot_geofences`). Both feed the alarms.

use crate::alarms::{self, Raise};
use crate::evaluate::Evaluator;
use crate::ingest::Dev;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use yiyang_core::AppResult;
use yiyang_store::{Conn, Tx, args};
use yiyang_vitals::geofence::{
    self, Crs, FenceConfig, FenceEvent, FenceState, Fix, Geofence, LonLat, Polygon,
};
use yiyang_vitals::presence::{Presence, PresenceConfig, PresenceKind, Zone, ZoneMap};

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Zones, gateways' zones or safe areas changed: read them again.
pub fn invalidate() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// GCJ-02 (Chinese map providers) to WGS-84, as (lat, lon).
pub fn gcj02_to_wgs84(lat: f64, lon: f64) -> (f64, f64) {
    let p = geofence::to_wgs84(LonLat { lon, lat }, Crs::Gcj02);
    (p.lat, p.lon)
}

/// A polygon from `lon,lat; lon,lat; …` text (what the safe-area form takes).
pub fn parse_polygon(text: &str) -> Result<Polygon, String> {
    let mut pts = Vec::new();
    for (i, part) in text
        .split([';', '；', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let mut it = part.split([',', '，']).map(str::trim);
        let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
            return Err(format!(
                "第 {} 个点格式不正确：{part}（应为 经度,纬度）",
                i + 1
            ));
        };
        let (Ok(lon), Ok(lat)) = (a.parse::<f64>(), b.parse::<f64>()) else {
            return Err(format!("第 {} 个点不是数字：{part}", i + 1));
        };
        pts.push(LonLat { lon, lat });
    }
    Polygon::new(pts).map_err(|p| {
        p.iter()
            .map(|x| x.message.clone())
            .collect::<Vec<_>>()
            .join("；")
    })
}

/// The zone map of institution `org` (zones with at least one gateway).
pub async fn zone_map(mut db: impl Conn, org: i64) -> AppResult<(ZoneMap, HashMap<String, i64>)> {
    let zones: Vec<(i64, String, String, bool, String)> = db
        .fetch_all(
            "SELECT id, code, name, restricted, allowed_roles FROM iot_zones WHERE org_id = $1 ORDER BY code",
            args![org],
        )
        .await?;
    let gws: Vec<(i64, String)> = db
        .fetch_all(
            "SELECT zone_id, serial FROM iot_devices WHERE org_id = $1 AND zone_id IS NOT NULL ORDER BY serial",
            args![org],
        )
        .await?;
    let mut ids = HashMap::new();
    let list: Vec<Zone> = zones
        .into_iter()
        .filter_map(|(id, code, name, restricted, roles)| {
            let gateways: Vec<String> = gws
                .iter()
                .filter(|g| g.0 == id)
                .map(|g| g.1.clone())
                .collect();
            ids.insert(code.clone(), id);
            (!gateways.is_empty()).then(|| Zone {
                code,
                name,
                gateways,
                restricted,
                allowed_roles: if restricted {
                    roles
                        .split([',', '，'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                } else {
                    vec![]
                },
            })
        })
        .collect();
    let map = ZoneMap::new(list).unwrap_or_default();
    Ok((map, ids))
}

/// Per-node location state.
#[derive(Default)]
pub struct Location {
    generation: u64,
    sites: HashMap<i64, (Presence, HashMap<String, i64>)>,
    fences: HashMap<i64, Vec<(i64, String, Geofence, FenceState)>>,
}

impl Location {
    fn check_generation(&mut self) {
        let g = GENERATION.load(Ordering::SeqCst);
        if g != self.generation {
            self.generation = g;
            self.sites.clear();
            // Fence states restart from "unknown": the next N fixes decide again.
            self.fences.clear();
        }
    }
}

impl Evaluator {
    /// Loads the zone map of institution `org` once.
    async fn site(&mut self, tx: &mut Tx, org: i64) -> AppResult<()> {
        self.location.check_generation();
        if let std::collections::hash_map::Entry::Vacant(slot) = self.location.sites.entry(org) {
            let (map, ids) = zone_map(&mut *tx, org).await?;
            let p = Presence::new(PresenceConfig::default(), map)
                .map_err(|e| yiyang_core::AppError::internal(format!("{e:?}")))?;
            slot.insert((p, ids));
        }
        Ok(())
    }

    /// One gateway's scan batch: zone entries and exits are recorded (tags are device
    /// serials; an exit may concern a tag this batch did not hear); entering a restricted
    /// zone without an allowed role raises an alarm.
    pub async fn scans(
        &mut self,
        tx: &mut Tx,
        now: i64,
        gw: &Dev,
        at: i64,
        seen: &[(Dev, i16)],
        snap: &crate::ingest::Snapshot,
    ) -> AppResult<u64> {
        self.site(tx, gw.org_id).await?;
        let Some((presence, _)) = self.location.sites.get_mut(&gw.org_id) else {
            return Ok(0);
        };
        for (d, _) in seen {
            presence.set_roles(
                &d.serial,
                if d.person_id.is_some() {
                    vec!["patient".into()]
                } else {
                    vec![]
                },
            );
        }
        let batch: Vec<(&str, i16)> = seen.iter().map(|(d, r)| (d.serial.as_str(), *r)).collect();
        let events = presence.scan(at, &gw.serial, &batch);
        self.presence_events(tx, now, gw.org_id, events, snap).await
    }

    /// Passes time for every site (gateways gone silent, dwell completed); call it every few
    /// seconds.
    pub async fn presence_tick(
        &mut self,
        tx: &mut Tx,
        now: i64,
        snap: &crate::ingest::Snapshot,
    ) -> AppResult<u64> {
        self.location.check_generation();
        let orgs: Vec<i64> = self.location.sites.keys().copied().collect();
        let mut n = 0;
        for org in orgs {
            let events = match self.location.sites.get_mut(&org) {
                Some((p, _)) => p.tick(now),
                None => continue,
            };
            n += self.presence_events(tx, now, org, events, snap).await?;
        }
        Ok(n)
    }

    async fn presence_events(
        &mut self,
        tx: &mut Tx,
        now: i64,
        org: i64,
        events: Vec<yiyang_vitals::presence::PresenceEvent>,
        snap: &crate::ingest::Snapshot,
    ) -> AppResult<u64> {
        let mut n = 0;
        let mut changed = Vec::new();
        for e in events {
            let Some((presence, ids)) = self.location.sites.get(&org) else {
                break;
            };
            let Some(dev) = snap.by_serial.get(&e.tag).filter(|d| d.org_id == org) else {
                continue;
            };
            let Some(zone_id) = ids.get(&e.zone).copied() else {
                continue;
            };
            match e.kind {
                PresenceKind::Enter => {
                    tx.execute(
                        "INSERT INTO iot_presence (device_id, org_id, person_id, zone_id, entered_at) VALUES ($1, $2, $3, $4, $5)",
                        args![dev.id, dev.org_id, dev.person_id, zone_id, e.since_micros],
                    )
                    .await?;
                }
                PresenceKind::Exit => {
                    tx.execute(
                        "UPDATE iot_presence SET left_at = $1 WHERE device_id = $2 AND zone_id = $3 AND left_at IS NULL",
                        args![e.at_micros, dev.id, zone_id],
                    )
                    .await?;
                }
                PresenceKind::Violation => {
                    let zone_name = presence
                        .map()
                        .zone(&e.zone)
                        .map(|z| z.name.clone())
                        .unwrap_or_default();
                    let r = Raise {
                        org_id: dev.org_id,
                        person_id: dev.person_id,
                        device_id: Some(dev.id),
                        kind: "zone",
                        rule_code: format!("zone.{}", e.zone),
                        priority: "high",
                        title: "未授权进入限制区域".into(),
                        detail: format!("佩戴者进入了限制区域“{zone_name}”"),
                        ward: dev.ward.clone(),
                        bed: dev.bed.clone(),
                        at: e.at_micros,
                    };
                    let (id, new) = alarms::raise(tx, now, &r).await?;
                    if new {
                        changed.push(id);
                    }
                }
            }
            n += 1;
        }
        for id in changed {
            self.alarm_changed(id);
        }
        Ok(n)
    }

    /// A GPS fix: stored, and tested against the wearer's safe areas.
    #[allow(clippy::too_many_arguments)]
    pub async fn gps(
        &mut self,
        tx: &mut Tx,
        now: i64,
        dev: &Dev,
        at: i64,
        lat: f64,
        lon: f64,
        acc: Option<f64>,
    ) -> AppResult<bool> {
        self.location.check_generation();
        let mut outside = false;
        let mut raises = Vec::new();
        if let Some(person) = dev.person_id {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                self.location.fences.entry(dev.id)
            {
                let rows: Vec<(i64, String, String, i64)> = tx
                    .fetch_all(
                        "SELECT id, name, polygon, min_outside FROM iot_geofences WHERE person_id = $1 AND active = TRUE ORDER BY id",
                        args![person],
                    )
                    .await?;
                let fences = rows
                    .into_iter()
                    .filter_map(|(id, name, poly, n)| {
                        let pts: Vec<LonLat> = serde_json::from_str(&poly).ok()?;
                        let polygon = Polygon::new(pts).ok()?;
                        let cfg = FenceConfig {
                            leave_after: u32::try_from(n.max(1)).unwrap_or(3),
                            ..Default::default()
                        };
                        Some((
                            id,
                            name,
                            Geofence::new(polygon, cfg).ok()?,
                            FenceState::default(),
                        ))
                    })
                    .collect();
                slot.insert(fences);
            }
            let fix = Fix {
                at_micros: at,
                position: LonLat { lon, lat },
                accuracy_m: acc,
            };
            if let Some(list) = self.location.fences.get_mut(&dev.id) {
                for (id, name, fence, state) in list.iter_mut() {
                    outside |= !fence.polygon.contains(fix.position);
                    if let Some(ev) = fence.observe(state, &fix) {
                        raises.push((*id, name.clone(), ev));
                    }
                }
            }
        }
        let n = tx
            .execute(
                "INSERT INTO iot_gps_fixes (device_id, org_id, person_id, at, lat, lon, accuracy, outside) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (device_id, at) DO NOTHING",
                args![dev.id, dev.org_id, dev.person_id, at, lat, lon, acc, outside],
            )
            .await?;
        for (fence, name, ev) in raises {
            let r = Raise {
                org_id: dev.org_id,
                person_id: dev.person_id,
                device_id: Some(dev.id),
                kind: "geofence",
                rule_code: format!("geofence.{fence}"),
                priority: "high",
                title: "离开安全区域".into(),
                detail: format!("佩戴者离开了安全区域“{name}”，请联系确认"),
                ward: dev.ward.clone(),
                bed: dev.bed.clone(),
                at,
            };
            match ev {
                FenceEvent::LeftSafeArea { .. } => {
                    let (id, new) = alarms::raise(tx, now, &r).await?;
                    if new {
                        self.alarm_changed(id);
                    }
                }
                FenceEvent::Returned { .. } => {
                    if let Some(id) = alarms::clear(tx, now, &r).await? {
                        self.alarm_changed(id);
                    }
                }
            }
        }
        Ok(n > 0)
    }
}

/// A zone as listed.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct ZoneRow {
    pub id: i64,
    pub org_id: i64,
    pub code: String,
    pub name: String,
    pub floor: String,
    pub restricted: bool,
    pub allowed_roles: String,
    pub shape: String,
    #[sqlx(default)]
    pub gateways: String,
    #[sqlx(default)]
    pub occupants: i64,
}

/// The zones of the institutions in the caller's scope, with their gateways and how many
/// tags are in each now.
pub async fn zones(
    st: &yiyang_platform::web::AppState,
    ctx: &yiyang_core::RequestContext,
) -> AppResult<Vec<ZoneRow>> {
    let scope = ctx.require(crate::IOT_READ)?;
    let mut f = yiyang_store::Filter::new();
    if let Some(ids) = scope.org_ids() {
        f.any_of("org_id", &ids);
    }
    let mut rows: Vec<ZoneRow> = st
        .db
        .fetch_all(
            &format!("SELECT id, org_id, code, name, floor, restricted, allowed_roles, shape FROM iot_zones{} ORDER BY org_id, floor, code", f.sql()),
            f.args,
        )
        .await?;
    for z in &mut rows {
        let gws: Vec<(String,)> = st
            .db
            .fetch_all(
                "SELECT serial FROM iot_devices WHERE zone_id = $1 ORDER BY serial",
                args![z.id],
            )
            .await?;
        z.gateways = gws.into_iter().map(|g| g.0).collect::<Vec<_>>().join("、");
        z.occupants = st
            .db
            .scalar(
                "SELECT COUNT(*) FROM iot_presence WHERE zone_id = $1 AND left_at IS NULL",
                args![z.id],
            )
            .await?;
    }
    Ok(rows)
}

/// What a new zone holds.
#[derive(Debug, Clone, Default)]
pub struct ZoneInput {
    pub org_id: i64,
    pub code: String,
    pub name: String,
    pub floor: String,
    pub restricted: bool,
    pub allowed_roles: String,
    /// Gateway serials, separated by commas or spaces.
    pub gateways: String,
    /// Floor-plan outline `x,y; x,y; …` in a 1000 × 600 plan (optional).
    pub shape: String,
}

/// Adds a zone and hangs the named gateways in it (every problem at once).
pub async fn create_zone(
    st: &yiyang_platform::web::AppState,
    ctx: &yiyang_core::RequestContext,
    z: &ZoneInput,
) -> AppResult<i64> {
    use yiyang_core::text::{Checks, Kind};
    let mut c = Checks::new();
    c.text("code", "区域编码", &z.code, 32, Kind::Line)
        .text("name", "区域名称", &z.name, 40, Kind::Name)
        .text("floor", "楼层", &z.floor, 20, Kind::Line)
        .text(
            "allowed_roles",
            "允许进入的角色",
            &z.allowed_roles,
            200,
            Kind::Line,
        );
    if !ctx.has_for(crate::IOT_MANAGE, z.org_id) {
        c.add("org_id", "无权为该机构设置区域");
    }
    let code = z.code.trim().to_uppercase();
    if code.is_empty()
        || !code
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        c.add("code", "区域编码须为字母、数字、- 或 _");
    }
    if z.name.trim().is_empty() {
        c.add("name", "请填写区域名称");
    }
    let mut gw_ids = Vec::new();
    for serial in z
        .gateways
        .split([',', '，', ' ', '、'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let row: Option<(i64, i64)> = st
            .db
            .fetch_optional(
                "SELECT d.id, d.org_id FROM iot_devices d JOIN iot_models m ON m.id = d.model_id WHERE d.serial = $1 AND m.kind IN ('gateway', 'nfc_reader')",
                args![serial],
            )
            .await?;
        match row {
            Some((id, org)) if org == z.org_id => gw_ids.push(id),
            _ => {
                c.add("gateways", format!("本机构没有网关 {serial}"));
            }
        }
    }
    let shape = match z.shape.trim() {
        "" => "[]".to_string(),
        t => match parse_plan(t) {
            Ok(pts) => serde_json::to_string(&pts).unwrap_or_else(|_| "[]".into()),
            Err(e) => {
                c.add("shape", e);
                "[]".into()
            }
        },
    };
    let taken: Option<(i64,)> = st
        .db
        .fetch_optional(
            "SELECT id FROM iot_zones WHERE org_id = $1 AND code = $2",
            args![z.org_id, &code],
        )
        .await?;
    if taken.is_some() {
        c.add("code", format!("区域编码 {code} 已存在"));
    }
    c.finish()?;
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO iot_zones (org_id, code, name, floor, restricted, allowed_roles, shape) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            args![z.org_id, &code, z.name.trim(), z.floor.trim(), z.restricted, z.allowed_roles.trim(), shape],
        )
        .await?;
    for g in &gw_ids {
        tx.execute(
            "UPDATE iot_devices SET zone_id = $1 WHERE id = $2",
            args![id, *g],
        )
        .await?;
    }
    yiyang_platform::audit::append(
        &mut tx,
        &[
            yiyang_platform::audit::AuditEntry::new(ctx, "iot.zone.create", "iot_zone", id)
                .org(Some(z.org_id)),
        ],
    )
    .await?;
    tx.commit().await?;
    invalidate();
    crate::ingest::invalidate();
    Ok(id)
}

/// Floor-plan points `x,y; …` within 0–1000 × 0–600.
pub fn parse_plan(t: &str) -> Result<Vec<(f64, f64)>, String> {
    let mut pts = Vec::new();
    for part in t
        .split([';', '；'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let mut it = part.split([',', '，']).map(str::trim);
        match (
            it.next().and_then(|x| x.parse::<f64>().ok()),
            it.next().and_then(|y| y.parse::<f64>().ok()),
        ) {
            (Some(x), Some(y)) if (0.0..=1000.0).contains(&x) && (0.0..=600.0).contains(&y) => {
                pts.push((x, y))
            }
            _ => return Err(format!("平面图坐标不正确：{part}（应为 0–1000,0–600）")),
        }
    }
    if pts.len() < 3 {
        return Err("平面图轮廓至少需要 3 个点".into());
    }
    Ok(pts)
}

/// A safe area as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FenceRow {
    pub id: i64,
    pub org_id: i64,
    pub person_id: i64,
    pub name: String,
    pub polygon: String,
    pub min_outside: i64,
    pub active: bool,
    #[sqlx(default)]
    pub person_name: String,
}

pub async fn fences(
    st: &yiyang_platform::web::AppState,
    ctx: &yiyang_core::RequestContext,
) -> AppResult<Vec<FenceRow>> {
    let scope = ctx.require(crate::IOT_READ)?;
    let mut f = yiyang_store::Filter::new();
    if let Some(ids) = scope.org_ids() {
        f.any_of("org_id", &ids);
    }
    let mut rows: Vec<FenceRow> = st
        .db
        .fetch_all(
            &format!("SELECT id, org_id, person_id, name, polygon, min_outside, active FROM iot_geofences{} ORDER BY id", f.sql()),
            f.args,
        )
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.person_id).collect();
    let names = yiyang_patients::service::names_of(&st.db, &ids).await?;
    let m = st.masking.masker(ctx, false).await?;
    for r in &mut rows {
        r.person_name = m.mask(
            "name",
            names.get(&r.person_id).map(String::as_str).unwrap_or(""),
        );
    }
    Ok(rows)
}

/// The last `n` fixes of a person's devices (for the map), newest first.
pub async fn recent_fixes(
    st: &yiyang_platform::web::AppState,
    person: i64,
    n: i64,
) -> AppResult<Vec<(i64, f64, f64, bool)>> {
    st.db
        .fetch_all(
            "SELECT at, lat, lon, outside FROM iot_gps_fixes WHERE person_id = $1 ORDER BY at DESC LIMIT $2",
            args![person, n],
        )
        .await
}

/// What a new safe area holds.
#[derive(Debug, Clone, Default)]
pub struct FenceInput {
    pub person_id: String,
    pub name: String,
    /// `lon,lat; lon,lat; …` (WGS-84; GCJ-02 from a Chinese map when `gcj02`).
    pub polygon: String,
    pub gcj02: bool,
    pub min_outside: String,
}

/// Adds a safe area around a person's home (every problem at once).
pub async fn create_fence(
    st: &yiyang_platform::web::AppState,
    ctx: &yiyang_core::RequestContext,
    f: &FenceInput,
) -> AppResult<i64> {
    use yiyang_core::text::{Checks, Kind};
    let mut c = Checks::new();
    c.text("name", "围栏名称", &f.name, 40, Kind::Name);
    if f.name.trim().is_empty() {
        c.add("name", "请填写围栏名称");
    }
    let min_outside = match f.min_outside.trim().parse::<i64>() {
        Ok(n) if (1..=20).contains(&n) => n,
        _ => {
            c.add("min_outside", "连续定位次数须为 1–20");
            3
        }
    };
    let mut person = None;
    match f.person_id.trim().parse::<i64>() {
        Ok(pid) => {
            let survivor = yiyang_patients::service::survivor(&st.db, pid).await?;
            let cluster = yiyang_patients::service::cluster(&st.db, survivor).await?;
            let orgs = yiyang_patients::service::cluster_orgs(&st.db, &cluster).await?;
            match orgs
                .into_iter()
                .find(|o| ctx.has_for(crate::IOT_MANAGE, *o))
            {
                Some(org) if !cluster.is_empty() => person = Some((survivor, org)),
                _ => {
                    c.add("person_id", "人员不存在或不在您的管辖范围内");
                }
            }
        }
        Err(_) => {
            c.add("person_id", "请填写人员编号");
        }
    }
    let poly = match parse_polygon(&f.polygon) {
        Ok(p) => {
            let pts: Vec<LonLat> = p
                .vertices()
                .iter()
                .map(|v| {
                    if f.gcj02 {
                        geofence::to_wgs84(*v, Crs::Gcj02)
                    } else {
                        *v
                    }
                })
                .collect();
            Some(pts)
        }
        Err(e) => {
            c.add("polygon", e);
            None
        }
    };
    c.finish()?;
    let (Some((person, org)), Some(pts)) = (person, poly) else {
        return Err(yiyang_core::AppError::validation(
            "input.invalid",
            "围栏信息不完整",
        ));
    };
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO iot_geofences (org_id, person_id, name, polygon, min_outside, active, created_at) VALUES ($1, $2, $3, $4, $5, TRUE, $6) RETURNING id",
            args![org, person, f.name.trim(), serde_json::to_string(&pts).unwrap_or_default(), min_outside, ctx.clock.now_micros()],
        )
        .await?;
    yiyang_platform::audit::append(
        &mut tx,
        &[
            yiyang_platform::audit::AuditEntry::new(ctx, "iot.geofence.create", "person", person)
                .org(Some(org)),
        ],
    )
    .await?;
    tx.commit().await?;
    invalidate();
    Ok(id)
}

/// A person's zone stays (newest first) and NFC scans, within the institutions of
/// `orgs` (None: all): the track history of the person page.
pub async fn track(
    st: &yiyang_platform::web::AppState,
    person: i64,
    orgs: Option<&[i64]>,
    limit: i64,
) -> AppResult<(Vec<(String, i64, Option<i64>)>, Vec<(String, String, i64)>)> {
    let mut f = yiyang_store::Filter::new();
    f.add("p.person_id = ?", person);
    if let Some(o) = orgs {
        f.any_of("p.org_id", o);
    }
    let w = f.sql();
    let mut a = f.args;
    a.push(limit.into());
    let stays: Vec<(String, i64, Option<i64>)> = st
        .db
        .fetch_all(
            &format!(
                "SELECT z.name, p.entered_at, p.left_at FROM iot_presence p JOIN iot_zones z ON z.id = p.zone_id{w} ORDER BY p.entered_at DESC LIMIT ${}",
                a.len()
            ),
            a,
        )
        .await?;
    let mut f = yiyang_store::Filter::new();
    f.add("n.person_id = ?", person);
    if let Some(o) = orgs {
        f.any_of("n.org_id", o);
    }
    let w = f.sql();
    let mut a = f.args;
    a.push(limit.into());
    let scans: Vec<(String, String, i64)> = st
        .db
        .fetch_all(
            &format!(
                "SELECT COALESCE(d.name, d.serial), n.tag_uid, n.at FROM iot_nfc_scans n JOIN iot_devices d ON d.id = n.reader_id{w} ORDER BY n.at DESC LIMIT ${}",
                a.len()
            ),
            a,
        )
        .await?;
    Ok((stays, scans))
}
