//! Firmware campaigns (固件升级): pick the devices of a model (and from-version), send each
//! the upgrade command over MQTT (`yiyang/v1/{org}/dev/{serial}/cmd`), track each device's
//! acknowledgement and the version it then reports, and pause the campaign when the
//! failure rate passes its limit (after at least five answers).

use crate::ingest::Dev;
use crate::{IOT_MANAGE, IOT_READ};
use serde::{Deserialize, Serialize};
use yiyang_core::text::{Checks, Kind};
use yiyang_core::{AppError, AppResult, RequestContext};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Tx, args};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Campaign {
    pub id: i64,
    pub org_id: i64,
    pub model_id: i64,
    pub model_name: String,
    pub from_version: String,
    pub to_version: String,
    pub package_url: String,
    pub sha256: String,
    pub status: String,
    pub max_failure_pct: i64,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub targets: i64,
    pub ok: i64,
    pub failed: i64,
}

const CAMPAIGN_SELECT: &str = "SELECT c.id, c.org_id, c.model_id, m.name AS model_name, c.from_version, c.to_version, c.package_url, c.sha256, c.status, \
    c.max_failure_pct, c.note, c.created_by, c.created_at, c.started_at, c.finished_at, \
    (SELECT COUNT(*) FROM iot_fw_targets t WHERE t.campaign_id = c.id) AS targets, \
    (SELECT COUNT(*) FROM iot_fw_targets t WHERE t.campaign_id = c.id AND t.status = 'ok') AS ok, \
    (SELECT COUNT(*) FROM iot_fw_targets t WHERE t.campaign_id = c.id AND t.status = 'failed') AS failed \
    FROM iot_fw_campaigns c JOIN iot_models m ON m.id = c.model_id";

pub async fn list(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Campaign>> {
    let scope = ctx.require(IOT_READ)?;
    let mut f = Filter::new();
    if let Some(ids) = scope.org_ids() {
        f.any_of("c.org_id", &ids);
    }
    st.db
        .fetch_all(
            &format!(
                "{CAMPAIGN_SELECT}{} ORDER BY c.created_at DESC, c.id DESC",
                f.sql()
            ),
            f.args,
        )
        .await
}

pub async fn get(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<Campaign> {
    let row: Option<Campaign> = st
        .db
        .fetch_optional(&format!("{CAMPAIGN_SELECT} WHERE c.id = $1"), args![id])
        .await?;
    row.filter(|c| ctx.has_for(IOT_READ, c.org_id))
        .ok_or_else(|| AppError::not_found("iot_campaign"))
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Target {
    pub device_id: i64,
    pub serial: String,
    pub status: String,
    pub command_id: String,
    pub sent_at: Option<i64>,
    pub acked_at: Option<i64>,
    pub result: String,
    pub version: String,
}

pub async fn targets(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<Vec<Target>> {
    get(st, ctx, id).await?;
    st.db
        .fetch_all(
            "SELECT t.device_id, d.serial, t.status, t.command_id, t.sent_at, t.acked_at, t.result, t.version \
             FROM iot_fw_targets t JOIN iot_devices d ON d.id = t.device_id WHERE t.campaign_id = $1 ORDER BY d.serial",
            args![id],
        )
        .await
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CampaignInput {
    pub org_id: i64,
    pub model_id: i64,
    /// Only devices on this version (empty: every version but the target).
    #[serde(default)]
    pub from_version: String,
    pub to_version: String,
    /// HTTPS address of the firmware image.
    pub package_url: String,
    /// SHA-256 of the image (hex).
    pub sha256: String,
    /// Pause when this share of answered devices failed (%).
    #[serde(default = "default_pct")]
    pub max_failure_pct: i64,
    #[serde(default)]
    pub note: String,
}

fn default_pct() -> i64 {
    10
}

/// Creates a campaign (draft) with its target devices.
pub async fn create(st: &AppState, ctx: &RequestContext, c: &CampaignInput) -> AppResult<i64> {
    let mut ch = Checks::new();
    ch.text("to_version", "目标版本", &c.to_version, 32, Kind::Line)
        .text("from_version", "原版本", &c.from_version, 32, Kind::Line)
        .text("note", "说明", &c.note, 500, Kind::Text);
    if !ctx.has_for(IOT_MANAGE, c.org_id) {
        ch.add("org_id", "无权为该机构发起升级");
    }
    if c.to_version.trim().is_empty() {
        ch.add("to_version", "请填写目标版本");
    }
    // The command each device will get must be valid (contract §4): every problem at once.
    let probe = crate::payload::firmware_command(
        "probe",
        1,
        c.to_version.trim(),
        c.package_url.trim(),
        c.sha256.trim(),
    );
    if let Err(problems) = probe.check() {
        for p in problems {
            let field = match p.field.as_str() {
                "args.url" => "package_url",
                "args.sha256" => "sha256",
                _ => "to_version",
            };
            ch.add(field, p.message);
        }
    }
    if !(1..=100).contains(&c.max_failure_pct) {
        ch.add("max_failure_pct", "失败率上限须在 1–100% 之间");
    }
    let mut f = Filter::new();
    f.add("org_id = ?", c.org_id);
    f.add("model_id = ?", c.model_id);
    f.add("firmware <> ?", c.to_version.trim());
    f.raw("status = 'active'");
    if !c.from_version.trim().is_empty() {
        f.add("firmware = ?", c.from_version.trim());
    }
    let devices: Vec<(i64,)> = st
        .db
        .fetch_all(
            &format!("SELECT id FROM iot_devices{} ORDER BY id", f.sql()),
            f.args,
        )
        .await?;
    if devices.is_empty() && ch.is_empty() {
        ch.add(
            "model_id",
            "没有需要升级的设备（该型号的在用设备都已是目标版本，或原版本不匹配）",
        );
    }
    ch.finish()?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO iot_fw_campaigns (org_id, model_id, from_version, to_version, package_url, sha256, status, max_failure_pct, note, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9, $10) RETURNING id",
            args![c.org_id, c.model_id, c.from_version.trim(), c.to_version.trim(), c.package_url.trim(), c.sha256.trim().to_lowercase(), c.max_failure_pct, c.note.trim(), &ctx.actor.login, now],
        )
        .await?;
    for (d,) in &devices {
        tx.execute(
            "INSERT INTO iot_fw_targets (campaign_id, device_id, status, command_id) VALUES ($1, $2, 'pending', $3)",
            args![id, *d, format!("fw-{id}-{d}")],
        )
        .await?;
    }
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "iot.campaign.create", "iot_campaign", id)
                .org(Some(c.org_id))
                .details(serde_json::json!({"to": c.to_version.trim(), "devices": devices.len()})),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Starts (or resumes) a campaign: every pending target is sent its command.
pub async fn start(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<usize> {
    let c = get(st, ctx, id).await?;
    if !ctx.has_for(IOT_MANAGE, c.org_id) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    if !matches!(c.status.as_str(), "draft" | "paused") {
        return Err(AppError::conflict(
            "iot.campaign_state",
            "只有草稿或已暂停的升级任务可以启动",
        ));
    }
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE iot_fw_campaigns SET status = 'running', started_at = COALESCE(started_at, $1) WHERE id = $2",
        args![now, id],
    )
    .await?;
    let wave = send_wave(&mut tx, now, id).await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.campaign.start", "iot_campaign", id).org(Some(c.org_id))],
    )
    .await?;
    tx.commit().await?;
    let n = wave.len();
    for d in wave {
        crate::mqtt::downlink(d).await;
    }
    Ok(n)
}

/// A command to send to one device after the transaction that recorded it commits.
#[derive(Debug, Clone)]
pub struct Downlink {
    pub org_code: String,
    pub serial: String,
    pub body: String,
}

/// Marks the next wave of pending targets as sent (a tenth of the campaign, at least five)
/// and returns their commands. Marked first, sent after commit: a command is never sent
/// without a record of it.
async fn send_wave(tx: &mut Tx, now: i64, campaign: i64) -> AppResult<Vec<Downlink>> {
    let (org_id, to_version, url, sha256, total): (i64, String, String, String, i64) = tx
        .fetch_one(
            "SELECT org_id, to_version, package_url, sha256, (SELECT COUNT(*) FROM iot_fw_targets WHERE campaign_id = $1) FROM iot_fw_campaigns WHERE id = $1",
            args![campaign],
        )
        .await?;
    let size = (total / 10).max(5);
    let wave: Vec<(i64, String, String)> = tx
        .fetch_all(
            "SELECT t.id, d.serial, t.command_id FROM iot_fw_targets t JOIN iot_devices d ON d.id = t.device_id \
             WHERE t.campaign_id = $1 AND t.status = 'pending' ORDER BY t.id LIMIT $2",
            args![campaign, size],
        )
        .await?;
    let org_code = yiyang_basedata::service::org_code(&mut *tx, org_id)
        .await?
        .unwrap_or_default();
    let mut out = Vec::with_capacity(wave.len());
    for (tid, serial, cmd) in wave {
        tx.execute(
            "UPDATE iot_fw_targets SET status = 'sent', sent_at = $1 WHERE id = $2",
            args![now, tid],
        )
        .await?;
        out.push(Downlink {
            org_code: org_code.clone(),
            serial,
            body: crate::payload::firmware_command(&cmd, now / 1000, &to_version, &url, &sha256)
                .to_json(),
        });
    }
    Ok(out)
}

/// Cancels a campaign: targets not yet answered are skipped.
pub async fn cancel(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<()> {
    let c = get(st, ctx, id).await?;
    if !ctx.has_for(IOT_MANAGE, c.org_id) {
        return Err(AppError::forbidden(IOT_MANAGE));
    }
    if matches!(c.status.as_str(), "done" | "cancelled") {
        return Err(AppError::conflict("iot.campaign_state", "升级任务已结束"));
    }
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE iot_fw_campaigns SET status = 'cancelled', finished_at = $1 WHERE id = $2",
        args![now, id],
    )
    .await?;
    tx.execute(
        "UPDATE iot_fw_targets SET status = 'skipped' WHERE campaign_id = $1 AND status IN ('pending', 'sent')",
        args![id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "iot.campaign.cancel", "iot_campaign", id).org(Some(c.org_id))],
    )
    .await?;
    tx.commit().await
}

/// A device acknowledged command `cmd`: record the result and the version, then pause the
/// campaign on too many failures or finish it when every target answered.
#[allow(clippy::too_many_arguments)]
pub async fn acknowledge(
    tx: &mut Tx,
    now: i64,
    dev: &Dev,
    cmd: &str,
    ok: bool,
    version: &str,
    message: &str,
    at: i64,
    downlinks: &mut Vec<Downlink>,
) -> AppResult<bool> {
    let row: Option<(i64, i64, String)> = tx
        .fetch_optional(
            "SELECT t.id, t.campaign_id, c.to_version FROM iot_fw_targets t JOIN iot_fw_campaigns c ON c.id = t.campaign_id \
             WHERE t.command_id = $1 AND t.device_id = $2 AND t.status = 'sent'",
            args![cmd, dev.id],
        )
        .await?;
    let Some((tid, campaign, to_version)) = row else {
        return Ok(false);
    };
    let ok = ok && (version.is_empty() || version == to_version);
    let result = if ok {
        "升级成功".to_string()
    } else if !message.is_empty() {
        format!("失败：{message}")
    } else if !version.is_empty() {
        format!("失败：设备报告版本 {version}，不是目标版本")
    } else {
        "失败".into()
    };
    tx.execute(
        "UPDATE iot_fw_targets SET status = $1, acked_at = $2, result = $3, version = $4 WHERE id = $5",
        args![if ok { "ok" } else { "failed" }, at, result, version, tid],
    )
    .await?;
    if ok {
        tx.execute(
            "UPDATE iot_devices SET firmware = $1, updated_at = $2 WHERE id = $3",
            args![&to_version, now, dev.id],
        )
        .await?;
    }
    let (answered, failed, sent, open, pct): (i64, i64, i64, i64, i64) = tx
        .fetch_one(
            "SELECT (SELECT COUNT(*) FROM iot_fw_targets WHERE campaign_id = $1 AND status IN ('ok', 'failed')), \
             (SELECT COUNT(*) FROM iot_fw_targets WHERE campaign_id = $1 AND status = 'failed'), \
             (SELECT COUNT(*) FROM iot_fw_targets WHERE campaign_id = $1 AND status = 'sent'), \
             (SELECT COUNT(*) FROM iot_fw_targets WHERE campaign_id = $1 AND status IN ('pending', 'sent')), \
             (SELECT max_failure_pct FROM iot_fw_campaigns WHERE id = $1)",
            args![campaign],
        )
        .await?;
    if open == 0 {
        tx.execute(
            "UPDATE iot_fw_campaigns SET status = 'done', finished_at = $1 WHERE id = $2 AND status = 'running'",
            args![now, campaign],
        )
        .await?;
    } else if answered >= 5 && failed * 100 > pct * answered {
        // Too many failures: stop sending. Commands already sent are still recorded.
        tx.execute(
            "UPDATE iot_fw_campaigns SET status = 'paused' WHERE id = $1 AND status = 'running'",
            args![campaign],
        )
        .await?;
    } else if sent == 0 {
        let running: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT id FROM iot_fw_campaigns WHERE id = $1 AND status = 'running'",
                args![campaign],
            )
            .await?;
        if running.is_some() {
            downlinks.extend(send_wave(tx, now, campaign).await?);
        }
    }
    Ok(true)
}
