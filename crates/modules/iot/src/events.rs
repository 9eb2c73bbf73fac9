//! Items other than readings: BLE scans (zone presence), NFC scans, SOS and falls, GPS
//! fixes (geofences), device status and command acknowledgements.

use crate::alarms::{self, Raise};
use crate::evaluate::Evaluator;
use crate::ingest::Dev;
use crate::payload::Item;
use yiyang_core::AppResult;
use yiyang_store::{Tx, args};

/// Stores one item in `tx`; returns whether anything new was stored.
/// `gw` sent the item, `dev` is the device it is about (the sender itself when it speaks for
/// itself).
pub async fn store(
    tx: &mut Tx,
    now: i64,
    gw: &Dev,
    dev: &Dev,
    item: &Item,
    eval: &mut Evaluator,
) -> AppResult<bool> {
    match item {
        // Readings and scans are stored in batches by the ingest.
        Item::Reading { .. } | Item::Scan { .. } => Ok(false),
        Item::Status {
            battery,
            signal,
            firmware,
            at,
            ..
        } => {
            tx.execute(
                "UPDATE iot_devices SET battery = COALESCE($1, battery), signal = COALESCE($2, signal), \
                 firmware = COALESCE($3, firmware), last_seen_at = $4 WHERE id = $5 AND (last_seen_at IS NULL OR last_seen_at <= $4)",
                args![*battery, *signal, firmware.clone(), *at, dev.id],
            )
            .await?;
            Ok(true)
        }
        Item::Nfc { uid, at, .. } => {
            // The tag is a registered band or card: its wearer is identified.
            let wearer: Option<(i64, Option<i64>)> = tx
                .fetch_optional(
                    "SELECT d.id, b.person_id FROM iot_devices d LEFT JOIN iot_bindings b ON b.device_id = d.id AND b.unbound_at IS NULL \
                     WHERE d.nfc_uid = $1 AND d.org_id = $2",
                    args![uid, gw.org_id],
                )
                .await?;
            let (tag_dev, person) = wearer.map(|(d, p)| (Some(d), p)).unwrap_or((None, None));
            let n = tx
                .execute(
                    "INSERT INTO iot_nfc_scans (org_id, reader_id, tag_uid, device_id, person_id, purpose, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reader_id, tag_uid, at) DO NOTHING",
                    args![gw.org_id, dev.id, uid, tag_dev, person, "", *at],
                )
                .await?;
            Ok(n > 0)
        }
        Item::Event { kind, at, .. } => {
            let (title, detail, priority, code) = match kind.as_str() {
                "sos" => (
                    "SOS 呼救",
                    "佩戴者按下了 SOS 呼救键，请立即前往",
                    "high",
                    "sos",
                ),
                "fall" => ("疑似跌倒", "设备检测到跌倒，请立即前往查看", "high", "fall"),
                _ => (
                    "手环被摘除",
                    "手环离开了佩戴者，监测中断，请确认",
                    "medium",
                    "removed",
                ),
            };
            let r = Raise {
                org_id: dev.org_id,
                person_id: dev.person_id,
                device_id: Some(dev.id),
                kind: code,
                rule_code: format!("event.{kind}"),
                priority,
                title: title.into(),
                detail: detail.into(),
                ward: dev.ward.clone(),
                bed: dev.bed.clone(),
                at: *at,
            };
            let (id, new) = alarms::raise(tx, now, &r).await?;
            eval.alarm_changed(id);
            Ok(new)
        }
        Item::Gps {
            at,
            lat,
            lon,
            accuracy,
            ..
        } => eval.gps(tx, now, dev, *at, *lat, *lon, *accuracy).await,
        Item::Ack {
            cmd,
            ok,
            version,
            message,
            at,
            ..
        } => {
            crate::firmware::acknowledge(
                tx,
                now,
                dev,
                cmd,
                *ok,
                version,
                message,
                *at,
                &mut eval.downlinks,
            )
            .await
        }
    }
}
