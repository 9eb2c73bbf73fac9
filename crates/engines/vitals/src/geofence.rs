//! GPS geofences (安全区域/电子围栏) for wearers at home: polygons in WGS-84, point in
//! polygon with an accuracy buffer, a debouncing state machine, and GCJ-02 → WGS-84.
//!
//! - [`Polygon::place`]: a fix whose accuracy circle crosses the edge is
//!   [`Placement::Uncertain`] — neither inside nor outside.
//! - [`FenceState::observe`]: [`FenceEvent::LeftSafeArea`] only after
//!   [`FenceConfig::leave_after`] (3) consecutive outside fixes, [`FenceEvent::Returned`]
//!   after [`FenceConfig::return_after`] (3) consecutive inside fixes. Uncertain fixes and
//!   fixes less accurate than [`FenceConfig::max_accuracy_m`] neither count nor break a run.
//!   A person first seen outside (state unknown) also raises `LeftSafeArea`; first seen
//!   inside, the state becomes inside silently.
//! - Distances use a local equirectangular projection around the fix (error well below a
//!   metre for fences of a few kilometres); fences must not cross the antimeridian.
//! - Maps in China (高德, 腾讯, and devices with their chips) report GCJ-02;
//!   [`gcj02_to_wgs84`] converts with the published GCJ-02 transform (Krasovsky 1940
//!   ellipsoid, a = 6378245 m, e² = 0.00669342162296594323), inverted by fixed-point
//!   iteration to well under a centimetre. Outside China both systems coincide.

use crate::problem::{Problem, fmt_num};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;
const MAX_VERTICES: usize = 1000;

/// A position: longitude and latitude in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LonLat {
    /// Longitude, degrees east.
    pub lon: f64,
    /// Latitude, degrees north.
    pub lat: f64,
}

impl LonLat {
    /// A position.
    pub const fn new(lon: f64, lat: f64) -> Self {
        Self { lon, lat }
    }

    /// Whether both coordinates are finite and in range.
    pub fn is_valid(&self) -> bool {
        self.lon.is_finite()
            && self.lat.is_finite()
            && (-180.0..=180.0).contains(&self.lon)
            && (-90.0..=90.0).contains(&self.lat)
    }
}

/// Coordinate system of a reported position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crs {
    /// WGS-84 (GPS).
    #[default]
    Wgs84,
    /// GCJ-02 (国测局坐标, China's obfuscated datum).
    Gcj02,
}

impl Crs {
    /// Stable code (`wgs84`, `gcj02`).
    pub const fn code(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
        }
    }

    /// The system with this code.
    pub fn from_code(code: &str) -> Option<Crs> {
        match code {
            "wgs84" => Some(Crs::Wgs84),
            "gcj02" => Some(Crs::Gcj02),
            _ => None,
        }
    }
}

/// Whether GCJ-02 leaves a position unchanged (outside China's bounding box).
pub fn out_of_china(p: LonLat) -> bool {
    !(72.004..=137.8347).contains(&p.lon) || !(0.8293..=55.8271).contains(&p.lat)
}

const GCJ_A: f64 = 6_378_245.0;
const GCJ_EE: f64 = 0.006_693_421_622_965_943;

fn gcj_transform(x: f64, y: f64) -> (f64, f64) {
    let xy = x * y;
    let abs_x = x.abs().sqrt();
    let x_pi = x * PI;
    let y_pi = y * PI;
    let d = 20.0 * (6.0 * x_pi).sin() + 20.0 * (2.0 * x_pi).sin();
    let mut lat = d;
    let mut lon = d;
    lat += 20.0 * y_pi.sin() + 40.0 * (y_pi / 3.0).sin();
    lon += 20.0 * x_pi.sin() + 40.0 * (x_pi / 3.0).sin();
    lat += 160.0 * (y_pi / 12.0).sin() + 320.0 * (y_pi / 30.0).sin();
    lon += 150.0 * (x_pi / 12.0).sin() + 300.0 * (x_pi / 30.0).sin();
    lat *= 2.0 / 3.0;
    lon *= 2.0 / 3.0;
    lat += -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * xy + 0.2 * abs_x;
    lon += 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * xy + 0.1 * abs_x;
    (lat, lon)
}

/// GCJ-02 offset (Δlon, Δlat) in degrees at a WGS-84 position.
fn gcj_delta(p: LonLat) -> (f64, f64) {
    let (dlat, dlon) = gcj_transform(p.lon - 105.0, p.lat - 35.0);
    let rad_lat = p.lat / 180.0 * PI;
    let magic = 1.0 - GCJ_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrt_magic) * PI);
    let dlon = (dlon * 180.0) / (GCJ_A / sqrt_magic * rad_lat.cos() * PI);
    (dlon, dlat)
}

/// WGS-84 → GCJ-02 (identity outside China).
pub fn wgs84_to_gcj02(p: LonLat) -> LonLat {
    if out_of_china(p) {
        return p;
    }
    let (dlon, dlat) = gcj_delta(p);
    LonLat::new(p.lon + dlon, p.lat + dlat)
}

/// GCJ-02 → WGS-84 (identity outside China): the forward transform inverted by
/// fixed-point iteration (converges to < 1e-9° in a few steps).
pub fn gcj02_to_wgs84(g: LonLat) -> LonLat {
    if out_of_china(g) {
        return g;
    }
    let (dlon, dlat) = gcj_delta(g);
    let mut w = LonLat::new(g.lon - dlon, g.lat - dlat);
    for _ in 0..10 {
        let f = wgs84_to_gcj02(w);
        let (ex, ey) = (f.lon - g.lon, f.lat - g.lat);
        w = LonLat::new(w.lon - ex, w.lat - ey);
        if ex.abs() < 1e-11 && ey.abs() < 1e-11 {
            break;
        }
    }
    w
}

/// A position in `crs` as WGS-84.
pub fn to_wgs84(p: LonLat, crs: Crs) -> LonLat {
    match crs {
        Crs::Wgs84 => p,
        Crs::Gcj02 => gcj02_to_wgs84(p),
    }
}

/// Great-circle distance in metres (haversine).
pub fn distance_m(a: LonLat, b: LonLat) -> f64 {
    let (la, lb) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lb - la;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la.cos() * lb.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

/// Where a fix is relative to a fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Inside, the accuracy circle too.
    Inside,
    /// Outside, the accuracy circle too.
    Outside,
    /// The accuracy circle crosses the edge.
    Uncertain,
}

/// A simple polygon in WGS-84 (no holes, no self-intersection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<LonLat>", into = "Vec<LonLat>")]
pub struct Polygon {
    vertices: Vec<LonLat>,
}

impl TryFrom<Vec<LonLat>> for Polygon {
    type Error = String;
    fn try_from(v: Vec<LonLat>) -> Result<Self, String> {
        Polygon::new(v).map_err(|p| {
            p.into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
                .join("；")
        })
    }
}

impl From<Polygon> for Vec<LonLat> {
    fn from(p: Polygon) -> Self {
        p.vertices
    }
}

impl Polygon {
    /// Checks and makes a polygon (every problem at once, zh-CN): 3–1000 distinct vertices
    /// with valid coordinates, a closing vertex equal to the first is dropped, no area of
    /// zero, no edges crossing.
    pub fn new(mut vertices: Vec<LonLat>) -> Result<Polygon, Vec<Problem>> {
        let mut p = Vec::new();
        if vertices.len() > 1 && vertices.first() == vertices.last() {
            vertices.pop();
        }
        for (i, v) in vertices.iter().enumerate() {
            if !v.is_valid() {
                p.push(Problem::new(
                    format!("vertices[{i}]"),
                    format!("{},{}", fmt_num(v.lon), fmt_num(v.lat)),
                    format!(
                        "第{}个顶点坐标无效（经度应在−180至180之间，纬度应在−90至90之间）",
                        i + 1
                    ),
                ));
            }
        }
        if vertices.len() > MAX_VERTICES {
            p.push(Problem::new(
                "vertices",
                vertices.len().to_string(),
                format!("多边形顶点不能超过{MAX_VERTICES}个"),
            ));
        }
        let mut distinct = vertices.clone();
        distinct.sort_by(|a, b| a.lon.total_cmp(&b.lon).then(a.lat.total_cmp(&b.lat)));
        distinct.dedup();
        if distinct.len() < 3 {
            p.push(Problem::new(
                "vertices",
                vertices.len().to_string(),
                "多边形至少需要3个不同的顶点",
            ));
        }
        if !p.is_empty() {
            return Err(p);
        }
        let poly = Polygon { vertices };
        let n = poly.vertices.len();
        let edge = |i: usize| (poly.vertices[i], poly.vertices[(i + 1) % n]);
        'outer: for i in 0..n {
            for j in i + 1..n {
                let adjacent = j == i + 1 || (i == 0 && j == n - 1);
                if adjacent {
                    continue;
                }
                let (a, b) = edge(i);
                let (c, d) = edge(j);
                if segments_intersect(a, b, c, d) {
                    p.push(Problem::new(
                        "vertices",
                        "",
                        format!(
                            "多边形的第{}条边与第{}条边相交，请按顺序排列顶点",
                            i + 1,
                            j + 1
                        ),
                    ));
                    break 'outer;
                }
            }
        }
        // (the area of a crossing polygon means nothing)
        if p.is_empty() && poly.area_m2() < 1.0 {
            p.push(Problem::new("vertices", "", "多边形面积为零（顶点共线）"));
        }
        if p.is_empty() { Ok(poly) } else { Err(p) }
    }

    /// The vertices (without a closing repeat).
    pub fn vertices(&self) -> &[LonLat] {
        &self.vertices
    }

    /// Whether `p` is inside (ray casting; a point exactly on an edge may fall either way —
    /// [`Polygon::place`] calls it uncertain unless the accuracy is zero).
    pub fn contains(&self, p: LonLat) -> bool {
        let v = &self.vertices;
        let mut inside = false;
        let mut j = v.len() - 1;
        for i in 0..v.len() {
            let (a, b) = (v[i], v[j]);
            if (a.lat > p.lat) != (b.lat > p.lat) {
                let x = (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon;
                if p.lon < x {
                    inside = !inside;
                }
            }
            j = i;
        }
        inside
    }

    /// Distance from `p` to the nearest edge, metres.
    pub fn distance_to_edge_m(&self, p: LonLat) -> f64 {
        let k = PI / 180.0 * EARTH_RADIUS_M;
        let c = p.lat.to_radians().cos();
        let proj = |q: LonLat| ((q.lon - p.lon) * k * c, (q.lat - p.lat) * k);
        let n = self.vertices.len();
        (0..n)
            .map(|i| {
                let (ax, ay) = proj(self.vertices[i]);
                let (bx, by) = proj(self.vertices[(i + 1) % n]);
                let (dx, dy) = (bx - ax, by - ay);
                let len2 = dx * dx + dy * dy;
                let t = if len2 == 0.0 {
                    0.0
                } else {
                    (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
                };
                let (x, y) = (ax + t * dx, ay + t * dy);
                (x * x + y * y).sqrt()
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// Where a fix with an accuracy radius (metres) is: uncertain when its circle crosses
    /// the edge (the edge nearer than the radius).
    pub fn place(&self, p: LonLat, accuracy_m: f64) -> Placement {
        if accuracy_m > 0.0 && self.distance_to_edge_m(p) < accuracy_m {
            Placement::Uncertain
        } else if self.contains(p) {
            Placement::Inside
        } else {
            Placement::Outside
        }
    }

    /// Area in square metres (shoelace on the local projection around the first vertex).
    pub fn area_m2(&self) -> f64 {
        let o = self.vertices[0];
        let k = PI / 180.0 * EARTH_RADIUS_M;
        let c = o.lat.to_radians().cos();
        let pts: Vec<(f64, f64)> = self
            .vertices
            .iter()
            .map(|q| ((q.lon - o.lon) * k * c, (q.lat - o.lat) * k))
            .collect();
        let n = pts.len();
        let twice: f64 = (0..n)
            .map(|i| {
                let (x1, y1) = pts[i];
                let (x2, y2) = pts[(i + 1) % n];
                x1 * y2 - x2 * y1
            })
            .sum();
        twice.abs() / 2.0
    }
}

fn orient(a: LonLat, b: LonLat, c: LonLat) -> f64 {
    (b.lon - a.lon) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lon - a.lon)
}

fn on_segment(a: LonLat, b: LonLat, p: LonLat) -> bool {
    p.lon >= a.lon.min(b.lon)
        && p.lon <= a.lon.max(b.lon)
        && p.lat >= a.lat.min(b.lat)
        && p.lat <= a.lat.max(b.lat)
}

fn segments_intersect(a: LonLat, b: LonLat, c: LonLat, d: LonLat) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0))
        && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0))
    {
        return true;
    }
    (o1 == 0.0 && on_segment(a, b, c))
        || (o2 == 0.0 && on_segment(a, b, d))
        || (o3 == 0.0 && on_segment(c, d, a))
        || (o4 == 0.0 && on_segment(c, d, b))
}

/// Parameters of the fence state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FenceConfig {
    /// Consecutive outside fixes before LeftSafeArea (default 3).
    pub leave_after: u32,
    /// Consecutive inside fixes before Returned (default 3).
    pub return_after: u32,
    /// Fixes less accurate than this are ignored, metres (default 500).
    pub max_accuracy_m: f64,
    /// Accuracy assumed when a fix reports none, metres (default 50).
    pub default_accuracy_m: f64,
}

impl Default for FenceConfig {
    fn default() -> Self {
        Self {
            leave_after: 3,
            return_after: 3,
            max_accuracy_m: 500.0,
            default_accuracy_m: 50.0,
        }
    }
}

impl FenceConfig {
    /// Checks the parameters (every problem at once, zh-CN).
    pub fn check(&self) -> Result<(), Vec<Problem>> {
        let mut p = Vec::new();
        for (field, v, what) in [
            (
                "leave_after",
                self.leave_after,
                "判定离开所需的连续定位次数",
            ),
            (
                "return_after",
                self.return_after,
                "判定返回所需的连续定位次数",
            ),
        ] {
            if !(1..=20).contains(&v) {
                p.push(Problem::new(
                    field,
                    v.to_string(),
                    format!("{what}应在1–20之间"),
                ));
            }
        }
        for (field, v, what) in [
            (
                "max_accuracy_m",
                self.max_accuracy_m,
                "可接受的最大定位误差",
            ),
            (
                "default_accuracy_m",
                self.default_accuracy_m,
                "默认定位误差",
            ),
        ] {
            if !(v.is_finite() && (0.0..=10_000.0).contains(&v)) {
                p.push(Problem::new(
                    field,
                    fmt_num(v),
                    format!("{what}应在0–10000米之间"),
                ));
            }
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }
}

/// Where a wearer is, as far as the fence knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FenceStatus {
    /// Not yet decided.
    #[default]
    Unknown,
    /// In the safe area.
    Inside,
    /// Out of the safe area (alarm raised).
    Outside,
}

/// A fence change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FenceEvent {
    /// Left the safe area (离开安全区域): `since_micros` is the first of the outside fixes.
    LeftSafeArea {
        /// When decided, µs.
        at_micros: i64,
        /// First outside fix, µs.
        since_micros: i64,
    },
    /// Back in the safe area (返回安全区域): `since_micros` is the first of the inside fixes.
    Returned {
        /// When decided, µs.
        at_micros: i64,
        /// First inside fix, µs.
        since_micros: i64,
    },
}

impl FenceEvent {
    /// zh-CN label.
    pub const fn label(&self) -> &'static str {
        match self {
            FenceEvent::LeftSafeArea { .. } => "离开安全区域",
            FenceEvent::Returned { .. } => "返回安全区域",
        }
    }
}

/// The fence state of one wearer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceState {
    status: FenceStatus,
    outside_run: u32,
    inside_run: u32,
    run_since: i64,
    last_at: Option<i64>,
}

impl FenceState {
    /// The current status.
    pub fn status(&self) -> FenceStatus {
        self.status
    }

    /// Steps the machine with the placement of a fix taken at `at_micros`. Fixes not newer
    /// than the last one and uncertain fixes change nothing.
    pub fn observe(
        &mut self,
        cfg: &FenceConfig,
        at_micros: i64,
        placement: Placement,
    ) -> Option<FenceEvent> {
        if self.last_at.is_some_and(|t| at_micros <= t) {
            return None;
        }
        self.last_at = Some(at_micros);
        match placement {
            Placement::Uncertain => None,
            Placement::Outside => {
                self.inside_run = 0;
                if self.outside_run == 0 {
                    self.run_since = at_micros;
                }
                self.outside_run = self.outside_run.saturating_add(1);
                if self.status != FenceStatus::Outside && self.outside_run >= cfg.leave_after {
                    self.status = FenceStatus::Outside;
                    return Some(FenceEvent::LeftSafeArea {
                        at_micros,
                        since_micros: self.run_since,
                    });
                }
                None
            }
            Placement::Inside => {
                self.outside_run = 0;
                if self.inside_run == 0 {
                    self.run_since = at_micros;
                }
                self.inside_run = self.inside_run.saturating_add(1);
                if self.status != FenceStatus::Inside && self.inside_run >= cfg.return_after {
                    let was = self.status;
                    self.status = FenceStatus::Inside;
                    if was == FenceStatus::Outside {
                        return Some(FenceEvent::Returned {
                            at_micros,
                            since_micros: self.run_since,
                        });
                    }
                }
                None
            }
        }
    }
}

/// A GPS fix in WGS-84.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// When, µs.
    pub at_micros: i64,
    /// Where (WGS-84).
    pub position: LonLat,
    /// Accuracy radius, metres, if reported.
    pub accuracy_m: Option<f64>,
}

/// A safe area: a polygon and the parameters of its state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Geofence {
    /// The area (WGS-84).
    pub polygon: Polygon,
    /// The parameters.
    #[serde(default)]
    pub config: FenceConfig,
}

impl Geofence {
    /// A checked fence.
    pub fn new(polygon: Polygon, config: FenceConfig) -> Result<Geofence, Vec<Problem>> {
        config.check()?;
        Ok(Geofence { polygon, config })
    }

    /// Where a fix is, with the configured accuracy rules (too inaccurate: uncertain).
    pub fn place(&self, fix: &Fix) -> Placement {
        let acc = fix.accuracy_m.unwrap_or(self.config.default_accuracy_m);
        if !acc.is_finite() || acc > self.config.max_accuracy_m {
            return Placement::Uncertain;
        }
        self.polygon.place(fix.position, acc.max(0.0))
    }

    /// Steps a wearer's state with a fix.
    pub fn observe(&self, state: &mut FenceState, fix: &Fix) -> Option<FenceEvent> {
        state.observe(&self.config, fix.at_micros, self.place(fix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (WGS-84 lat, lon, GCJ-02 lat, lon): the eviltransform test points (Shanghai,
    /// Shenzhen, Beijing) and the coordtransform example (Tiananmen).
    const KNOWN: [(f64, f64, f64, f64); 4] = [
        (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
        (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
        (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
        (39.915, 116.404, 39.91640428150164, 116.41024449916938),
    ];

    #[test]
    fn wgs84_to_gcj02_matches_known_points() {
        for (wlat, wlon, glat, glon) in KNOWN {
            let g = wgs84_to_gcj02(LonLat::new(wlon, wlat));
            assert!(
                (g.lon - glon).abs() < 1e-9 && (g.lat - glat).abs() < 1e-9,
                "{g:?} vs {glon},{glat}"
            );
        }
    }

    #[test]
    fn gcj02_to_wgs84_inverts_known_points_to_a_centimetre() {
        for (wlat, wlon, glat, glon) in KNOWN {
            let w = gcj02_to_wgs84(LonLat::new(glon, glat));
            let err = distance_m(w, LonLat::new(wlon, wlat));
            assert!(err < 0.01, "{err} m at {wlon},{wlat}");
            assert_eq!(to_wgs84(LonLat::new(glon, glat), Crs::Gcj02), w);
        }
        // the offset is hundreds of metres in China (Meizhou here)
        let meizhou = LonLat::new(116.1226, 24.2886);
        let off = distance_m(meizhou, wgs84_to_gcj02(meizhou));
        assert!((100.0..1000.0).contains(&off), "{off}");
    }

    #[test]
    fn round_trip_over_china() {
        let mut worst: f64 = 0.0;
        for lon in (74..135).step_by(3) {
            for lat in (4..54).step_by(3) {
                let p = LonLat::new(f64::from(lon) + 0.37, f64::from(lat) + 0.61);
                worst = worst.max(distance_m(p, gcj02_to_wgs84(wgs84_to_gcj02(p))));
            }
        }
        assert!(worst < 0.001, "{worst} m");
    }

    #[test]
    fn outside_china_nothing_moves() {
        for p in [
            LonLat::new(-0.1276, 51.5072),
            LonLat::new(139.7, 35.7),
            LonLat::new(100.0, 0.5),
        ] {
            assert!(out_of_china(p));
            assert_eq!(wgs84_to_gcj02(p), p);
            assert_eq!(gcj02_to_wgs84(p), p);
        }
        assert!(!out_of_china(LonLat::new(116.1, 24.3)));
        assert_eq!(Crs::from_code("gcj02"), Some(Crs::Gcj02));
        assert_eq!(Crs::from_code("bd09"), None);
        assert_eq!(
            to_wgs84(LonLat::new(116.1, 24.3), Crs::Wgs84),
            LonLat::new(116.1, 24.3)
        );
    }

    /// A home's yard in Meizhou: 116.1200–116.1210 E, 24.2880–24.2890 N (about 101 × 111 m).
    fn yard() -> Polygon {
        Polygon::new(vec![
            LonLat::new(116.1200, 24.2880),
            LonLat::new(116.1210, 24.2880),
            LonLat::new(116.1210, 24.2890),
            LonLat::new(116.1200, 24.2890),
            LonLat::new(116.1200, 24.2880),
        ])
        .unwrap()
    }

    /// Metres per degree of latitude on the sphere used.
    const K: f64 = PI / 180.0 * EARTH_RADIUS_M;

    #[test]
    fn ray_casting_with_concave_polygons() {
        assert!(yard().contains(LonLat::new(116.1205, 24.2885)));
        assert!(!yard().contains(LonLat::new(116.1215, 24.2885)));
        assert!(!yard().contains(LonLat::new(116.1205, 24.2875)));
        assert_eq!(yard().vertices().len(), 4, "the closing vertex is dropped");
        // an L: the notch (upper right) is outside
        let l = Polygon::new(vec![
            LonLat::new(0.0, 0.0),
            LonLat::new(2.0, 0.0),
            LonLat::new(2.0, 1.0),
            LonLat::new(1.0, 1.0),
            LonLat::new(1.0, 2.0),
            LonLat::new(0.0, 2.0),
        ])
        .unwrap();
        for (p, want) in [
            ((0.5, 0.5), true),
            ((1.5, 0.5), true),
            ((0.5, 1.5), true),
            ((1.5, 1.5), false),
            ((2.5, 0.5), false),
            ((-0.5, 1.5), false),
        ] {
            assert_eq!(l.contains(LonLat::new(p.0, p.1)), want, "{p:?}");
        }
    }

    #[test]
    fn the_accuracy_circle_decides_uncertainty() {
        let y = yard();
        // 20 m north of the southern edge, in the middle of it
        let inside = LonLat::new(116.1205, 24.2880 + 20.0 / K);
        assert!((y.distance_to_edge_m(inside) - 20.0).abs() < 1e-6);
        assert_eq!(y.place(inside, 19.9), Placement::Inside);
        assert_eq!(y.place(inside, 20.1), Placement::Uncertain);
        // 20 m south of it
        let outside = LonLat::new(116.1205, 24.2880 - 20.0 / K);
        assert_eq!(y.place(outside, 19.9), Placement::Outside);
        assert_eq!(y.place(outside, 20.1), Placement::Uncertain);
        assert_eq!(y.place(outside, 0.0), Placement::Outside);
        // far away with a poor fix is still outside
        let far = LonLat::new(116.1300, 24.2885);
        assert_eq!(y.place(far, 500.0), Placement::Outside);
        // distance to a corner
        let corner = LonLat::new(
            116.1210 + 30.0 / (K * 24.2880f64.to_radians().cos()),
            24.2880 - 40.0 / K,
        );
        assert!((y.distance_to_edge_m(corner) - 50.0).abs() < 0.01);
    }

    #[test]
    fn polygon_problems_are_reported_together() {
        let p =
            Polygon::new(vec![LonLat::new(200.0, 0.0), LonLat::new(0.0, f64::NAN)]).unwrap_err();
        let got: Vec<&str> = p.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            got,
            vec![
                "第1个顶点坐标无效（经度应在−180至180之间，纬度应在−90至90之间）",
                "第2个顶点坐标无效（经度应在−180至180之间，纬度应在−90至90之间）",
                "多边形至少需要3个不同的顶点",
            ]
        );
        let line = Polygon::new(vec![
            LonLat::new(0.0, 0.0),
            LonLat::new(1.0, 1.0),
            LonLat::new(2.0, 2.0),
        ]);
        assert_eq!(line.unwrap_err()[0].message, "多边形面积为零（顶点共线）");
        let bowtie = Polygon::new(vec![
            LonLat::new(0.0, 0.0),
            LonLat::new(1.0, 1.0),
            LonLat::new(1.0, 0.0),
            LonLat::new(0.0, 1.0),
        ]);
        assert_eq!(
            bowtie.unwrap_err()[0].message,
            "多边形的第1条边与第3条边相交，请按顺序排列顶点"
        );
        let dup = Polygon::new(vec![
            LonLat::new(0.0, 0.0),
            LonLat::new(1.0, 0.0),
            LonLat::new(1.0, 0.0),
        ]);
        assert_eq!(dup.unwrap_err()[0].message, "多边形至少需要3个不同的顶点");
        // serde checks too
        assert!(
            serde_json::from_str::<Polygon>(r#"[{"lon":0,"lat":0},{"lon":1,"lat":0}]"#).is_err()
        );
        let ok: Polygon = serde_json::from_str(&serde_json::to_string(&yard()).unwrap()).unwrap();
        assert_eq!(ok, yard());
        assert!(
            (yard().area_m2() - 101.4 * 111.2).abs() < 100.0,
            "{}",
            yard().area_m2()
        );
    }

    fn step(s: &mut FenceState, t: i64, p: Placement) -> Option<FenceEvent> {
        s.observe(&FenceConfig::default(), t, p)
    }

    #[test]
    fn leaving_needs_consecutive_outside_fixes() {
        use Placement::*;
        let mut s = FenceState::default();
        for t in 1..=3 {
            assert_eq!(step(&mut s, t, Inside), None);
        }
        assert_eq!(
            s.status(),
            FenceStatus::Inside,
            "first seen inside: silently"
        );
        assert_eq!(step(&mut s, 4, Outside), None);
        assert_eq!(step(&mut s, 5, Outside), None);
        // an inside fix breaks the run
        assert_eq!(step(&mut s, 6, Inside), None);
        assert_eq!(step(&mut s, 7, Outside), None);
        assert_eq!(step(&mut s, 8, Outside), None);
        // an uncertain fix neither counts nor breaks it
        assert_eq!(step(&mut s, 9, Uncertain), None);
        assert_eq!(
            step(&mut s, 10, Outside),
            Some(FenceEvent::LeftSafeArea {
                at_micros: 10,
                since_micros: 7
            })
        );
        assert_eq!(step(&mut s, 11, Outside), None, "raised once");
        assert_eq!(step(&mut s, 12, Inside), None);
        assert_eq!(step(&mut s, 13, Inside), None);
        assert_eq!(
            step(&mut s, 14, Inside),
            Some(FenceEvent::Returned {
                at_micros: 14,
                since_micros: 12
            })
        );
        assert_eq!(s.status(), FenceStatus::Inside);
    }

    #[test]
    fn first_seen_outside_raises_and_old_fixes_are_ignored() {
        use Placement::*;
        let mut s = FenceState::default();
        assert_eq!(step(&mut s, 10, Outside), None);
        assert_eq!(step(&mut s, 9, Outside), None);
        assert_eq!(step(&mut s, 10, Outside), None, "same time again");
        assert_eq!(step(&mut s, 11, Outside), None);
        assert_eq!(
            step(&mut s, 12, Outside),
            Some(FenceEvent::LeftSafeArea {
                at_micros: 12,
                since_micros: 10
            })
        );
        let cfg = FenceConfig {
            leave_after: 1,
            ..FenceConfig::default()
        };
        let mut s = FenceState::default();
        assert!(s.observe(&cfg, 1, Outside).is_some());
    }

    #[test]
    fn geofence_uses_accuracy_rules() {
        let g = Geofence::new(yard(), FenceConfig::default()).unwrap();
        let centre = LonLat::new(116.1205, 24.2885);
        let fix = |acc: Option<f64>| Fix {
            at_micros: 1,
            position: centre,
            accuracy_m: acc,
        };
        assert_eq!(g.place(&fix(Some(10.0))), Placement::Inside);
        // no accuracy: 50 m assumed, the centre is ~50.6 m from the nearest edge
        assert_eq!(g.place(&fix(None)), Placement::Inside);
        assert_eq!(g.place(&fix(Some(60.0))), Placement::Uncertain);
        assert_eq!(g.place(&fix(Some(501.0))), Placement::Uncertain);
        let away = Fix {
            at_micros: 2,
            position: LonLat::new(116.1300, 24.2885),
            accuracy_m: Some(20.0),
        };
        let mut s = FenceState::default();
        let mut events = vec![];
        for t in 0..3 {
            events.extend(g.observe(
                &mut s,
                &Fix {
                    at_micros: t,
                    ..away
                },
            ));
        }
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].label(), "离开安全区域");
        let bad = FenceConfig {
            leave_after: 0,
            max_accuracy_m: f64::NAN,
            ..FenceConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().len(), 2);
        assert_eq!(
            serde_json::to_string(&events[0]).unwrap(),
            r#"{"kind":"left_safe_area","at_micros":2,"since_micros":0}"#
        );
    }
}
