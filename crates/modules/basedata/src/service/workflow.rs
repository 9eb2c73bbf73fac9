//! 录入 → 审核 → 展示: the state transitions institutions and staff share (separation of
//! duties, notifications of submitter and reviewers) and the review queue.

use super::{Org, OrgQuery, Staff, StaffQuery, Unmask, list_orgs, list_staff};
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::identity;
use yiyang_platform::web::AppState;
use yiyang_store::args;

pub(super) async fn review(
    st: &AppState,
    ctx: &RequestContext,
    rec: Rec<'_>,
    approve: bool,
    note: &str,
) -> AppResult<()> {
    if !approve && note.trim().is_empty() {
        return Err(AppError::field(
            "review.note_required",
            "note",
            "退回时请填写审核意见",
        ));
    }
    let to = if approve { "approved" } else { "rejected" };
    transition(st, ctx, rec, &["pending"], to, note.trim()).await
}

/// A reviewable record: its table, audit resource type and id.
#[derive(Clone, Copy)]
pub(super) struct Rec<'a> {
    pub(super) table: &'a str,
    pub(super) kind: &'a str,
    pub(super) id: i64,
}

pub(super) async fn transition(
    st: &AppState,
    ctx: &RequestContext,
    rec: Rec<'_>,
    from: &[&str],
    to: &str,
    note: &str,
) -> AppResult<()> {
    let Rec { table, kind, id } = rec;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let from_sql: Vec<String> = from.iter().map(|s| format!("'{s}'")).collect();
    let reviewed = matches!(to, "approved" | "rejected");
    let (name, submitted_by): (String, Option<i64>) = tx
        .fetch_optional(
            &format!("SELECT name, submitted_by FROM {table} WHERE id = $1"),
            args![id],
        )
        .await?
        .ok_or_else(|| AppError::not_found(kind))?;
    // Separation of duties: the one who submitted a record does not approve it.
    let person = (ctx.actor.kind == yiyang_core::ActorKind::Account).then_some(ctx.actor.id);
    if reviewed && person.is_some() && submitted_by == person {
        return Err(AppError::new(
            "review.own_submission",
            403,
            "不能审核本人提交的记录，请由其他审核人员处理",
        ));
    }
    let n = tx
        .execute(
            &format!(
                "UPDATE {table} SET status = $1, review_note = CASE WHEN $2 THEN $3 ELSE review_note END, \
                 reviewed_by = CASE WHEN $2 THEN $4 ELSE reviewed_by END, reviewed_at = CASE WHEN $2 THEN $5 ELSE reviewed_at END, \
                 updated_at = $5 WHERE id = $6 AND status IN ({})",
                from_sql.join(", ")
            ),
            args![to, reviewed, note, ctx.actor.id, now, id],
        )
        .await?;
    if n == 0 {
        return Err(AppError::conflict(
            "review.state",
            "当前状态不能执行此操作（可能已被他人处理）",
        ));
    }
    let org = if table == "orgs" {
        Some(id)
    } else {
        tx.fetch_optional::<(i64,)>("SELECT org_id FROM staff WHERE id = $1", args![id])
            .await?
            .map(|r| r.0)
    };
    let what = if table == "orgs" { "机构" } else { "人员" };
    let link = format!("/{}/{id}", if table == "orgs" { "orgs" } else { "staff" });
    let mut notes = Vec::new();
    if to == "pending" {
        tx.execute(
            &format!("UPDATE {table} SET submitted_by = $1 WHERE id = $2"),
            args![person, id],
        )
        .await?;
        let review_perm = if table == "orgs" {
            perm::ORG_REVIEW
        } else {
            perm::STAFF_REVIEW
        };
        for account_id in identity::holders_of(&mut tx, review_perm, org.unwrap_or(0)).await? {
            if Some(account_id) != person {
                notes.push(note_for(
                    account_id,
                    format!("待审核：{what}“{name}”"),
                    format!("{} 提交了{what}“{name}”，请审核。", ctx.actor.display_name),
                    "/review".into(),
                ));
            }
        }
    } else if let Some(submitter) = submitted_by.filter(|_| reviewed) {
        let (title, body) = if to == "approved" {
            (
                format!("审核通过：{what}“{name}”"),
                format!("{} 已审核通过。", ctx.actor.display_name),
            )
        } else {
            (
                format!("审核退回：{what}“{name}”"),
                format!("{} 退回了该记录，意见：{note}", ctx.actor.display_name),
            )
        };
        notes.push(note_for(submitter, title, body, link));
    }
    yiyang_platform::notify::send_in(&mut tx, now, &notes).await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, &format!("{kind}.{to}"), kind, id)
            .org(org)
            .details(serde_json::json!({"note": note}))],
    )
    .await?;
    tx.commit().await
}

fn note_for(
    account_id: i64,
    title: String,
    body: String,
    link: String,
) -> yiyang_platform::notify::Notification {
    yiyang_platform::notify::Notification {
        account_id,
        title,
        body,
        link,
        channel: "inbox".into(),
        dedupe_key: None,
    }
}

/// Records waiting for the caller's review.
pub async fn pending(st: &AppState, ctx: &RequestContext) -> AppResult<(Vec<Org>, Vec<Staff>)> {
    let orgs = if ctx.has(perm::ORG_REVIEW) {
        list_orgs(
            st,
            ctx,
            &OrgQuery {
                status: Some("pending".into()),
                ..Default::default()
            },
        )
        .await?
    } else {
        vec![]
    };
    let staff = if ctx.has(perm::STAFF_REVIEW) {
        list_staff(
            st,
            ctx,
            &StaffQuery {
                status: Some("pending".into()),
                ..Default::default()
            },
            &Unmask::default(),
        )
        .await?
    } else {
        vec![]
    };
    Ok((orgs, staff))
}
