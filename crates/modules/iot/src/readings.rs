//! Readings as people look at them: the ward screen's beds with their latest vitals, a
//! person's timeline, and the minute check that turns silence and flat batteries into alarms.

use crate::alarms::{self, Raise};
use crate::devices::LOW_BATTERY;
use crate::{IOT_READ, IotConfig};
use serde::Serialize;
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, args};

/// The job that checks devices every minute.
pub const CHECK_JOB: &str = "iot.device_check";

/// One stored reading.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Reading {
    pub device_id: i64,
    pub person_id: Option<i64>,
    pub measured_at: i64,
    pub hr: Option<f64>,
    pub spo2: Option<f64>,
    pub sbp: Option<f64>,
    pub dbp: Option<f64>,
    pub temp: Option<f64>,
    pub rr: Option<f64>,
    pub glu: Option<f64>,
    pub steps: Option<i64>,
    pub battery: Option<i64>,
}

const READING_COLS: &str =
    "device_id, person_id, measured_at, hr, spo2, sbp, dbp, temp, rr, glu, steps, battery";

/// One bed of a ward screen.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Bed {
    pub device_id: i64,
    pub serial: String,
    pub ward: String,
    pub bed: String,
    pub person_id: Option<i64>,
    /// Masked for the viewer.
    pub person_name: String,
    pub latest: Option<Reading>,
    /// NEWS2 from the latest vitals and the nurse's latest observation.
    pub news2: Option<crate::evaluate::ScoreView>,
    pub battery: Option<i64>,
    pub offline: bool,
}

/// The wards with bound devices in the caller's scope, as (org id, ward).
pub async fn wards(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<(i64, String)>> {
    let scope = ctx.require(IOT_READ)?;
    let mut f = Filter::new();
    f.raw("unbound_at IS NULL AND ward <> ''");
    if let Some(ids) = scope.org_ids() {
        f.any_of("org_id", &ids);
    }
    st.db
        .fetch_all(
            &format!(
                "SELECT DISTINCT org_id, ward FROM iot_bindings{} ORDER BY org_id, ward",
                f.sql()
            ),
            f.args,
        )
        .await
}

/// The beds of `ward` at institution `org_id` with their latest readings (the last hour).
pub async fn ward_beds(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
    ward: &str,
) -> AppResult<Vec<Bed>> {
    if !ctx.has_for(IOT_READ, org_id) {
        return Err(AppError::not_found("ward"));
    }
    type B = (
        i64,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<B> = st
        .db
        .fetch_all(
            "SELECT d.id, d.serial, b.ward, b.bed, b.person_id, d.battery, d.last_seen_at FROM iot_bindings b \
             JOIN iot_devices d ON d.id = b.device_id JOIN iot_models m ON m.id = d.model_id \
             WHERE b.unbound_at IS NULL AND b.org_id = $1 AND b.ward = $2 AND m.kind IN ('band', 'mattress', 'bp_cuff', 'glucometer') \
             ORDER BY b.bed, d.serial",
            args![org_id, ward],
        )
        .await?;
    let now = ctx.clock.now_micros();
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let latest = latest_of(st, &ids, now - 3_600_000_000).await?;
    let persons: Vec<i64> = rows.iter().filter_map(|r| r.4).collect();
    let names = yiyang_patients::service::names_of(&st.db, &persons).await?;
    let obs = crate::evaluate::observations_of(&st.db, &persons).await?;
    let m = st.masking.masker(ctx, false).await?;
    let offline_after = IotConfig::get().offline_micros();
    let mut out = Vec::with_capacity(rows.len());
    for (id, serial, ward, bed, person_id, battery, seen) in rows {
        let latest = latest.iter().find(|r| r.device_id == id).cloned();
        let news2 = latest.as_ref().map(|r| {
            let o = person_id.and_then(|p| obs.get(&p));
            crate::evaluate::news2_view(r, o)
        });
        out.push(Bed {
            device_id: id,
            serial,
            ward,
            bed,
            person_id,
            person_name: person_id
                .map(|p| m.mask("name", names.get(&p).map(String::as_str).unwrap_or("")))
                .unwrap_or_default(),
            latest,
            news2,
            battery,
            offline: seen.is_none_or(|s| now - s > offline_after),
        });
    }
    Ok(out)
}

/// The latest reading since `since` of each of `devices`.
async fn latest_of(st: &AppState, devices: &[i64], since: i64) -> AppResult<Vec<Reading>> {
    if devices.is_empty() {
        return Ok(vec![]);
    }
    let mut f = Filter::new();
    f.any_of("device_id", devices);
    f.add("measured_at >= ?", since);
    let w = f.sql();
    let args = f.args;
    st.db
        .fetch_all(
            &format!(
                "SELECT {READING_COLS} FROM iot_readings r WHERE r.id IN (SELECT MAX(id) FROM iot_readings{w} GROUP BY device_id)"
            ),
            args,
        )
        .await
}

/// The readings of a person between `from` and `to` (µs), oldest first, at most `limit`;
/// the person must be visible to the caller (staff in scope, or the resident and authorised
/// family). Audited.
pub async fn timeline(
    st: &AppState,
    ctx: &RequestContext,
    person_id: i64,
    from: i64,
    to: i64,
    limit: i64,
) -> AppResult<Vec<Reading>> {
    let survivor = yiyang_patients::service::survivor(&st.db, person_id).await?;
    let cluster = yiyang_patients::service::cluster(&st.db, survivor).await?;
    if cluster.is_empty()
        || !yiyang_patients::service::can_see(&st.db, ctx, &cluster, perm::PATIENT_READ).await?
    {
        return Err(AppError::not_found("person"));
    }
    let mut f = Filter::new();
    f.any_of("person_id", &cluster);
    f.add("measured_at >= ?", from);
    f.add("measured_at < ?", to);
    // Staff see the readings taken at institutions in their scope; residents their own.
    if let Some(scope) = ctx.scope_of(IOT_READ)
        && let Some(orgs) = scope.org_ids()
    {
        let resident = ctx.scope_of(perm::RESIDENT_SELF).is_some();
        if !resident {
            f.any_of("org_id", &orgs);
        }
    }
    let w = f.sql();
    let mut args = f.args;
    args.push(limit.clamp(1, 20_000).into());
    let rows: Vec<Reading> = st
        .db
        .fetch_all(
            &format!(
                "SELECT {READING_COLS} FROM (SELECT {READING_COLS} FROM iot_readings{w} ORDER BY measured_at DESC LIMIT ${}) t ORDER BY measured_at",
                args.len()
            ),
            args,
        )
        .await?;
    st.audit
        .record(
            yiyang_platform::audit::AuditEntry::new(ctx, "iot.readings.read", "person", survivor)
                .details(serde_json::json!({"from": from, "to": to, "count": rows.len()})),
        )
        .await;
    Ok(rows)
}

/// The minute check: offline and low-battery alarms raised for devices in use, and cleared
/// when the device is heard again or charged.
pub async fn check_devices(st: &AppState) -> AppResult<()> {
    let now = st.clock.now_micros();
    let offline_after = IotConfig::get().offline_micros();
    type D = (
        i64,
        i64,
        Option<i64>,
        String,
        String,
        Option<i64>,
        Option<i64>,
        i64,
    );
    let rows: Vec<D> = st
        .db
        .fetch_all(
            "SELECT d.id, d.org_id, b.person_id, COALESCE(b.ward, ''), COALESCE(b.bed, ''), d.last_seen_at, d.battery, d.created_at \
             FROM iot_devices d JOIN iot_models m ON m.id = d.model_id \
             LEFT JOIN iot_bindings b ON b.device_id = d.id AND b.unbound_at IS NULL \
             WHERE d.status = 'active' AND m.kind NOT IN ('nfc_tag', 'cane', 'wheelchair')",
            vec![],
        )
        .await?;
    // Only differences touch the database: the active alarms of these kinds, read once.
    let active: std::collections::HashSet<String> = st
        .db
        .fetch_all::<(String,)>(
            "SELECT active_key FROM iot_alarms WHERE active_key IS NOT NULL AND kind IN ('offline', 'low_battery')",
            vec![],
        )
        .await?
        .into_iter()
        .map(|r| r.0)
        .collect();
    let mut tx = st.db.begin().await?;
    let mut changed = Vec::new();
    for (id, org_id, person_id, ward, bed, seen, battery, created) in rows {
        let silent_for = now - seen.unwrap_or(created);
        let minutes = silent_for / 60_000_000;
        let offline = Raise {
            org_id,
            person_id: None,
            device_id: Some(id),
            kind: "offline",
            rule_code: "device.offline".into(),
            priority: if person_id.is_some() { "medium" } else { "low" },
            title: "设备离线".into(),
            detail: format!("已 {minutes} 分钟没有数据"),
            ward: ward.clone(),
            bed: bed.clone(),
            at: now,
        };
        let was = active.contains(&offline.key());
        if silent_for > offline_after {
            let (a, new) = alarms::raise(&mut tx, now, &offline).await?;
            if new {
                changed.push(a);
            }
        } else if was && let Some(a) = alarms::clear(&mut tx, now, &offline).await? {
            changed.push(a);
        }
        let low = Raise {
            kind: "low_battery",
            rule_code: "device.battery".into(),
            priority: "low",
            title: "设备电量低".into(),
            detail: format!("电量 {}%，请及时充电或更换", battery.unwrap_or(0)),
            ..offline
        };
        let was = active.contains(&low.key());
        match battery {
            Some(b) if b < LOW_BATTERY && !was => {
                let (a, new) = alarms::raise(&mut tx, now, &low).await?;
                if new {
                    changed.push(a);
                }
            }
            Some(b) if b >= LOW_BATTERY + 10 && was => {
                if let Some(a) = alarms::clear(&mut tx, now, &low).await? {
                    changed.push(a);
                }
            }
            _ => {}
        }
    }
    tx.commit().await?;
    for a in alarms::by_ids(&st.db, &changed).await? {
        crate::live::publish_alarm(&a);
    }
    Ok(())
}
