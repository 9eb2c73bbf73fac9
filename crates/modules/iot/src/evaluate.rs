//! Early warning at ingest: each new reading, with the nurse's latest observation
//! (respiration, consciousness, oxygen) and the clinician's SpO2 scale for the person, is
//! scored (NEWS2, partial when parameters are missing) and run through the active alarm rules;
//! BLE scans move persons between zones; GPS fixes are tested against safe areas.
//!
//! The per-subject rule states (durations, trends) and presence and geofence states live in
//! this node's memory; they rebuild from the next readings after a restart.

use crate::alarms::{self, Raise};
use crate::firmware::Downlink;
use crate::ingest::Row;
use serde::Serialize;
use std::collections::HashMap;
use yiyang_core::AppResult;
use yiyang_store::{Conn, Filter, Tx};
use yiyang_vitals::{Avpu, Spo2Scale, Vitals};

/// A nurse's latest observation of a person and the person's SpO2 scale.
#[derive(Debug, Clone, Default)]
pub struct Obs {
    pub rr: Option<f64>,
    pub avpu: Option<Avpu>,
    pub on_oxygen: Option<bool>,
    pub scale2: bool,
    pub at: i64,
    /// The person's own thresholds (per-rule overrides set by a clinician).
    pub overrides: yiyang_vitals::Overrides,
}

/// Observations older than this are not used in scores (µs).
const OBS_VALID: i64 = 12 * 3_600_000_000;

/// The latest observation (within 12 hours of now) and scale of each of `persons`.
pub async fn observations_of(mut db: impl Conn, persons: &[i64]) -> AppResult<HashMap<i64, Obs>> {
    let mut out: HashMap<i64, Obs> = HashMap::new();
    if persons.is_empty() {
        return Ok(out);
    }
    let mut f = Filter::new();
    f.any_of("person_id", persons);
    type Row = (i64, Option<f64>, Option<String>, Option<bool>, i64);
    let rows: Vec<Row> = db
        .fetch_all(
            &format!(
                "SELECT person_id, rr, avpu, on_oxygen, observed_at FROM iot_observations{} ORDER BY observed_at DESC",
                f.sql()
            ),
            f.args,
        )
        .await?;
    for (p, rr, avpu, o2, at) in rows {
        out.entry(p).or_insert(Obs {
            rr,
            avpu: avpu.as_deref().and_then(Avpu::from_code),
            on_oxygen: o2,
            scale2: false,
            at,
            overrides: Default::default(),
        });
    }
    let mut f = Filter::new();
    f.any_of("person_id", persons);
    let settings: Vec<(i64, bool, String)> = db
        .fetch_all(
            &format!(
                "SELECT person_id, news2_scale2, thresholds FROM iot_person_settings{}",
                f.sql()
            ),
            f.args,
        )
        .await?;
    for (p, scale2, thresholds) in settings {
        let o = out.entry(p).or_default();
        o.scale2 = scale2;
        o.overrides = serde_json::from_str(&thresholds).unwrap_or_default();
    }
    Ok(out)
}

/// The engine's vitals of a reading plus an observation taken within 12 hours of it.
pub fn vitals_of(v: &crate::payload::Vitals, at: i64, o: Option<&Obs>) -> Vitals {
    let o = o.filter(|o| o.at > 0 && (at - o.at).abs() <= OBS_VALID);
    Vitals {
        heart_rate: v.hr,
        spo2: v.spo2,
        systolic: v.sbp,
        diastolic: v.dbp,
        temperature: v.temp,
        respiration: v.rr.or(o.and_then(|o| o.rr)),
        glucose: v.glu,
        steps: v.steps.and_then(|s| u32::try_from(s).ok()),
        on_oxygen: o.and_then(|o| o.on_oxygen),
        consciousness: o.and_then(|o| o.avpu),
    }
}

fn scale_of(o: Option<&Obs>) -> Spo2Scale {
    if o.is_some_and(|o| o.scale2) {
        Spo2Scale::Scale2
    } else {
        Spo2Scale::Scale1
    }
}

/// A score as screens show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoreView {
    pub total: i64,
    pub complete: bool,
    /// routine | low | low_medium | medium | high
    pub level: String,
    pub label: String,
    pub summary: String,
    pub response: String,
    /// (parameter, points) of the parameters used.
    pub parts: Vec<(String, i64)>,
    pub missing: Vec<String>,
}

impl ScoreView {
    pub fn of(s: &yiyang_vitals::Score) -> ScoreView {
        ScoreView {
            total: i64::from(s.total),
            complete: s.complete,
            level: s.level.code().into(),
            label: s.label().into(),
            summary: s.summary(),
            response: s.response().into(),
            parts: s
                .parts
                .iter()
                .map(|(p, n)| (p.label().to_string(), i64::from(*n)))
                .collect(),
            missing: s.missing.iter().map(|p| p.label().to_string()).collect(),
        }
    }
}

/// NEWS2 of a stored reading with the person's observation.
pub fn news2_view(r: &crate::readings::Reading, o: Option<&Obs>) -> ScoreView {
    let v = crate::payload::Vitals {
        hr: r.hr,
        spo2: r.spo2,
        sbp: r.sbp,
        dbp: r.dbp,
        temp: r.temp,
        rr: r.rr,
        glu: r.glu,
        steps: r.steps,
    };
    ScoreView::of(&yiyang_vitals::news2(
        &vitals_of(&v, r.measured_at, o),
        scale_of(o),
    ))
}

/// The node's evaluation state.
pub struct Evaluator {
    rules: crate::rules::Active,
    obs: HashMap<i64, (Obs, i64)>,
    obs_generation: u64,
    /// Commands to send after the batch commits (firmware waves).
    pub downlinks: Vec<Downlink>,
    changed: Vec<i64>,
    pub(crate) location: crate::geo::Location,
}

impl Default for Evaluator {
    fn default() -> Self {
        Self::new()
    }
}

/// How long a cached observation is trusted before it is read again (µs).
const OBS_TTL: i64 = 60_000_000;

impl Evaluator {
    pub fn new() -> Evaluator {
        Evaluator {
            rules: crate::rules::Active::default(),
            obs: HashMap::new(),
            obs_generation: 0,
            downlinks: Vec::new(),
            changed: Vec::new(),
            location: crate::geo::Location::default(),
        }
    }

    /// Alarms raised or cleared since the last call (to publish after commit).
    pub fn take_changed(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.changed)
    }

    pub fn alarm_changed(&mut self, id: i64) {
        self.changed.push(id);
    }

    /// Loads what a batch needs: the active rules and the observations of its persons.
    pub async fn prepare(&mut self, tx: &mut Tx, now: i64, rows: &[&Row]) -> AppResult<()> {
        self.rules.refresh(&mut *tx).await?;
        let generation = crate::rules::observation_generation();
        if generation != self.obs_generation {
            self.obs.clear();
            self.obs_generation = generation;
        }
        let mut need: Vec<i64> = rows
            .iter()
            .filter_map(|r| r.dev.person_id)
            .filter(|p| self.obs.get(p).is_none_or(|(_, at)| now - at > OBS_TTL))
            .collect();
        need.sort_unstable();
        need.dedup();
        if !need.is_empty() {
            let got = observations_of(&mut *tx, &need).await?;
            for p in need {
                self.obs
                    .insert(p, (got.get(&p).cloned().unwrap_or_default(), now));
            }
        }
        Ok(())
    }

    /// Scores one new reading and runs the rules; alarms are written in `tx`. Returns the
    /// NEWS2 (total, complete) and how many alarms were raised or cleared.
    pub async fn observe(
        &mut self,
        tx: &mut Tx,
        now: i64,
        r: &Row,
    ) -> AppResult<(Option<(i64, bool)>, u64)> {
        let o = r
            .dev
            .person_id
            .and_then(|p| self.obs.get(&p))
            .map(|(o, _)| o.clone());
        let v = vitals_of(&r.vitals, r.at, o.as_ref());
        let scale = scale_of(o.as_ref());
        let overrides = o.map(|o| o.overrides).unwrap_or_default();
        let t = yiyang_vitals::tally(yiyang_vitals::ScoreKind::News2, &v, scale);
        let subject = match r.dev.person_id {
            Some(p) => p,
            None => -r.dev.id,
        };
        let mut n = 0;
        for ev in self.rules.evaluate(subject, r.at, &v, scale, &overrides) {
            let raise = Raise {
                org_id: r.dev.org_id,
                person_id: r.dev.person_id,
                device_id: Some(r.dev.id),
                kind: ev.kind,
                rule_code: ev.code,
                priority: ev.priority,
                title: ev.title,
                detail: ev.detail,
                ward: r.dev.ward.clone(),
                bed: r.dev.bed.clone(),
                at: r.at,
            };
            if ev.raise {
                let (id, new) = alarms::raise(tx, now, &raise).await?;
                if new {
                    self.changed.push(id);
                    n += 1;
                }
            } else if let Some(id) = alarms::clear(tx, now, &raise).await? {
                self.changed.push(id);
                n += 1;
            }
        }
        let news2 = (t.used > 0).then_some((i64::from(t.total), t.complete));
        Ok((news2, n))
    }
}
