//! 危急值 routing: who is told of a critical value, and who next when nobody acknowledges it.
//!
//! Each institution keeps routing rules (`critical_routes`): steps, each with a delay after
//! the alert and its targets — the patient's attending doctor, the ward's nurses, or every
//! holder of a role in the institution — optionally for one department only. Step 0 is sent
//! in the transaction that raises the alert; each later step is a delayed job that sends only
//! if the alert is still open. An institution without rules uses [`DEFAULT_STEPS`]. When a
//! step reaches nobody (no linked account), the institution's administrators are told, so an
//! alert is never silently dropped.

use serde::{Deserialize, Serialize};
use yiyang_basedata::service as basedata;
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::identity;
use yiyang_platform::jobs;
use yiyang_platform::notify::{self, Notification};
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, Tx, args};

pub const ESCALATE_JOB: &str = "integration.critical_escalate";

/// Target codes with their zh-CN labels.
pub const TARGETS: &[(&str, &str)] = &[
    ("attending", "主管医生"),
    ("ward_nurses", "病区护士"),
    ("role:org_admin", "机构管理员（医务科）"),
    ("role:doctor", "本机构全部医生"),
    ("role:nurse", "本机构全部护士"),
];

pub fn target_label(t: &str) -> &str {
    TARGETS
        .iter()
        .find(|(c, _)| *c == t)
        .map(|(_, l)| *l)
        .unwrap_or(t)
}

/// Without rules of its own, an institution tells the attending doctor and the ward's nurses
/// at once and its administrators after 10 minutes without acknowledgement.
pub const DEFAULT_STEPS: &[(i64, &[&str])] = &[
    (0, &["attending", "ward_nurses"]),
    (10, &["role:org_admin"]),
];

/// One routing rule.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Route {
    pub id: i64,
    pub org_id: i64,
    /// Empty: every department.
    pub department: String,
    /// 0 = at once; 1, 2, … = escalation steps.
    pub step: i64,
    pub delay_minutes: i64,
    /// Comma-separated target codes (see [`TARGETS`]).
    pub targets: String,
}

/// A new rule.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RouteInput {
    pub org_id: i64,
    #[serde(default)]
    pub department: String,
    pub step: i64,
    #[serde(default)]
    pub delay_minutes: i64,
    pub targets: Vec<String>,
}

/// What routing needs to know of an alert.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertFacts {
    pub id: i64,
    pub org_id: i64,
    pub person_id: i64,
    pub department: String,
    pub ward: String,
    pub attending: String,
    pub item: String,
    pub value_text: String,
    pub bed: String,
    pub status: String,
    /// From the patient index (stored name; notices go to staff of the institution).
    #[sqlx(default)]
    pub person_name: String,
}

/// The steps that apply to an alert of this department: the institution's rules (those
/// for the department win over those for every department), else the defaults.
async fn steps_for(
    mut db: impl Conn,
    org: i64,
    department: &str,
) -> AppResult<Vec<(i64, Vec<String>)>> {
    let rules: Vec<Route> = db
        .fetch_all(
            "SELECT id, org_id, department, step, delay_minutes, targets FROM critical_routes WHERE org_id = $1 ORDER BY step, id",
            args![org],
        )
        .await?;
    let own: Vec<&Route> = rules
        .iter()
        .filter(|r| !r.department.is_empty() && r.department == department)
        .collect();
    let chosen: Vec<&Route> = if own.is_empty() {
        rules.iter().filter(|r| r.department.is_empty()).collect()
    } else {
        own
    };
    if chosen.is_empty() {
        return Ok(DEFAULT_STEPS
            .iter()
            .map(|(d, t)| (*d, t.iter().map(|s| s.to_string()).collect()))
            .collect());
    }
    let mut steps: Vec<(i64, i64, Vec<String>)> = Vec::new();
    for r in chosen {
        let targets = r
            .targets
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        match steps.iter_mut().find(|s| s.0 == r.step) {
            Some(s) => {
                s.1 = s.1.max(r.delay_minutes);
                s.2.extend(targets);
            }
            None => steps.push((r.step, r.delay_minutes, targets.collect())),
        }
    }
    steps.sort_by_key(|s| s.0);
    Ok(steps.into_iter().map(|(_, d, t)| (d, t)).collect())
}

/// The accounts a target reaches for this alert, with the name shown in the alert list:
/// staff records from the base data, accounts and roles from the platform, each asked
/// through its owner.
async fn reach(tx: &mut Tx, a: &AlertFacts, target: &str) -> AppResult<Vec<(i64, String)>> {
    let staff: Vec<(i64, String)> = match target {
        "attending" if !a.attending.is_empty() => {
            basedata::staff_accounts_named(&mut *tx, a.org_id, &a.attending).await?
        }
        "ward_nurses" => {
            basedata::nurse_accounts_of(&mut *tx, a.org_id, &[&a.ward, &a.department]).await?
        }
        t if t.starts_with("role:") => {
            return identity::role_holders(&mut *tx, &t[5..], Some(a.org_id)).await;
        }
        _ => return Ok(vec![]),
    };
    let ids: Vec<i64> = staff.iter().map(|s| s.0).collect();
    let active = identity::active_accounts(&mut *tx, &ids).await?;
    Ok(staff
        .into_iter()
        .filter(|s| active.contains(&s.0))
        .collect())
}

/// Sends one step of an alert; returns who was told. Nobody reached → the administrators.
async fn send_step(
    tx: &mut Tx,
    now: i64,
    a: &AlertFacts,
    level: i64,
    targets: &[String],
) -> AppResult<Vec<String>> {
    let mut told: Vec<(i64, String, String)> = Vec::new();
    for t in targets {
        for (acc, name) in reach(tx, a, t).await? {
            if !told.iter().any(|x| x.0 == acc) {
                told.push((acc, name, target_label(t).to_string()));
            }
        }
    }
    if told.is_empty() {
        for (acc, name) in reach(tx, a, "role:org_admin").await? {
            told.push((acc, name, "机构管理员（未找到规则所指人员）".into()));
        }
    }
    let escalated = if level > 0 {
        format!("【第{level}次升级】")
    } else {
        String::new()
    };
    let where_ = [a.ward.as_str(), a.bed.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let items: Vec<Notification> = told
        .iter()
        .map(|(acc, _, _)| Notification {
            account_id: *acc,
            title: format!(
                "{escalated}危急值提醒：{} {} {}",
                a.person_name, a.item, a.value_text
            ),
            body: format!(
                "{}{}{} 的 {} 结果为 {}，属危急值。请立即处置，并在“危急值提醒”中确认。",
                if a.department.is_empty() {
                    String::new()
                } else {
                    format!("{} ", a.department)
                },
                if where_.is_empty() {
                    String::new()
                } else {
                    format!("{where_} ")
                },
                a.person_name,
                a.item,
                a.value_text
            ),
            link: format!("/integration/alerts?id={}", a.id),
            channel: "inbox".into(),
            dedupe_key: Some(format!("critical:{}:{level}:{acc}", a.id)),
        })
        .collect();
    notify::send_in(tx, now, &items).await?;
    let names: Vec<String> = told
        .iter()
        .map(|(_, n, why)| format!("{why} {n}"))
        .collect();
    let line = format!(
        "{}{}",
        if level > 0 {
            format!("第{level}次升级：")
        } else {
            "即时：".into()
        },
        names.join("、")
    );
    tx.execute(
        "UPDATE critical_alerts SET level = $1, notified = CASE WHEN notified = '' THEN $2 ELSE notified || '；' || $2 END WHERE id = $3",
        args![level, line, a.id],
    )
    .await?;
    Ok(names)
}

async fn facts(mut db: impl Conn, id: i64) -> AppResult<Option<AlertFacts>> {
    let Some(mut a): Option<AlertFacts> = db
        .fetch_optional(
            "SELECT id, org_id, person_id, department, ward, attending, item, value_text, bed, status \
             FROM critical_alerts WHERE id = $1",
            args![id],
        )
        .await?
    else {
        return Ok(None);
    };
    a.person_name = yiyang_patients::service::names_of(&mut db, &[a.person_id])
        .await?
        .remove(&a.person_id)
        .unwrap_or_default();
    Ok(Some(a))
}

/// Routes a just-raised alert: step 0 now, the next step as a delayed job.
pub async fn route_new(tx: &mut Tx, now: i64, alert_id: i64) -> AppResult<()> {
    let Some(a) = facts(&mut *tx, alert_id).await? else {
        return Ok(());
    };
    let steps = steps_for(&mut *tx, a.org_id, &a.department).await?;
    let mut first = 0;
    if let Some((0, targets)) = steps.first() {
        send_step(tx, now, &a, 0, targets).await?;
        first = 1;
    }
    schedule(tx, now, &a, &steps, first).await
}

async fn schedule(
    tx: &mut Tx,
    now: i64,
    a: &AlertFacts,
    steps: &[(i64, Vec<String>)],
    index: usize,
) -> AppResult<()> {
    if let Some((delay, _)) = steps.get(index) {
        jobs::enqueue_in(
            tx,
            ESCALATE_JOB,
            &serde_json::json!({"alert_id": a.id, "step": index}),
            now.max(now + delay * 60_000_000),
            now,
        )
        .await?;
    }
    Ok(())
}

/// The job: if the alert is still open, send this step and schedule the next.
pub async fn escalate(st: &AppState, payload: &serde_json::Value) -> AppResult<()> {
    let id = payload["alert_id"].as_i64().unwrap_or(0);
    let index = payload["step"].as_u64().unwrap_or(0) as usize;
    let now = st.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let Some(a) = facts(&mut tx, id).await? else {
        return Ok(());
    };
    if a.status != "open" {
        return Ok(());
    }
    let steps = steps_for(&mut tx, a.org_id, &a.department).await?;
    if let Some((_, targets)) = steps.get(index) {
        send_step(&mut tx, now, &a, index as i64, targets).await?;
        schedule(&mut tx, now, &a, &steps, index + 1).await?;
    }
    tx.commit().await
}

/// The rules of the institutions in the caller's scope.
pub async fn routes(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Route>> {
    let scope = ctx.require(perm::INTEGRATION_READ)?;
    let mut f = yiyang_store::Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    st.db
        .fetch_all(
            &format!("SELECT id, org_id, department, step, delay_minutes, targets FROM critical_routes{} ORDER BY org_id, department, step, id", f.sql()),
            f.args,
        )
        .await
}

/// Adds a rule (every problem reported at once).
pub async fn add_route(st: &AppState, ctx: &RequestContext, r: &RouteInput) -> AppResult<i64> {
    if !ctx.has_for(perm::CRITICAL_MANAGE, r.org_id) {
        return Err(AppError::forbidden(perm::CRITICAL_MANAGE));
    }
    let mut c = yiyang_core::text::Checks::new();
    c.text(
        "department",
        "科室",
        &r.department,
        50,
        yiyang_core::text::Kind::Name,
    );
    if !(0..=5).contains(&r.step) {
        c.add("step", "步骤须为0（即时）到5");
    }
    if r.step == 0 && r.delay_minutes != 0 {
        c.add("delay_minutes", "即时通知（步骤0）不能设置延迟");
    }
    if r.step > 0 && !(1..=240).contains(&r.delay_minutes) {
        c.add("delay_minutes", "升级通知的延迟须为1到240分钟");
    }
    if r.targets.is_empty() {
        c.add("targets", "请至少选择一个通知对象");
    }
    for t in &r.targets {
        if !TARGETS.iter().any(|(code, _)| code == t) {
            c.add("targets", format!("通知对象不正确：{t}"));
        }
    }
    c.finish()?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO critical_routes (org_id, department, step, delay_minutes, targets, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            args![r.org_id, r.department.trim(), r.step, r.delay_minutes, r.targets.join(","), now],
        )
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "integration.critical_route_add", "critical_route", id)
            .org(Some(r.org_id))
            .details(serde_json::json!({"department": r.department, "step": r.step, "delay_minutes": r.delay_minutes, "targets": r.targets}))],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Deletes a rule of an institution the caller manages (others are not found).
pub async fn delete_route(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<()> {
    let org: Option<(i64,)> = st
        .db
        .fetch_optional(
            "SELECT org_id FROM critical_routes WHERE id = $1",
            args![id],
        )
        .await?;
    let Some((org,)) = org.filter(|(o,)| ctx.has_for(perm::CRITICAL_MANAGE, *o)) else {
        return Err(AppError::not_found("critical_route"));
    };
    let mut tx = st.db.begin().await?;
    tx.execute("DELETE FROM critical_routes WHERE id = $1", args![id])
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(
            ctx,
            "integration.critical_route_delete",
            "critical_route",
            id,
        )
        .org(Some(org))],
    )
    .await?;
    tx.commit().await
}
