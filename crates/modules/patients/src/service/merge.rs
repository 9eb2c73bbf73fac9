//! Merge and unmerge (each side checked on its own) and the index history.

use super::{can_see, cluster, event, load_row, survivor};
use serde::Serialize;
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, Db, Filter, Tx, args};

/// Each side of a merge, unmerge or review must be in the caller's merge scope on its own:
/// one side in scope never carries the other along.
async fn require_merge(mut db: impl Conn, ctx: &RequestContext, sides: &[&[i64]]) -> AppResult<()> {
    ctx.require(perm::PATIENT_MERGE)?;
    for ids in sides {
        if !can_see(&mut db, ctx, ids, perm::PATIENT_MERGE).await? {
            return Err(AppError::not_found("person"));
        }
    }
    Ok(())
}

/// Whether the caller may decide on both records of a pair (each on its own).
pub async fn can_merge_each(db: &Db, ctx: &RequestContext, a: i64, b: i64) -> AppResult<bool> {
    for id in [a, b] {
        let ids = cluster(db, survivor(db, id).await?).await?;
        if !can_see(db, ctx, &ids, perm::PATIENT_MERGE).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Merges `merged` into `survivor`. Nothing is deleted or moved: the merged record points
/// at the survivor, whose views gather the whole cluster, so unmerge restores it exactly.
pub async fn merge(
    st: &AppState,
    ctx: &RequestContext,
    survivor_id: i64,
    merged_id: i64,
    reason: &str,
) -> AppResult<()> {
    let mut tx = st.db.begin().await?;
    merge_in(&mut tx, ctx, survivor_id, merged_id, reason).await?;
    tx.commit().await
}

/// [`merge`] inside the caller's transaction.
pub async fn merge_in(
    tx: &mut Tx,
    ctx: &RequestContext,
    survivor_id: i64,
    merged_id: i64,
    reason: &str,
) -> AppResult<()> {
    if survivor_id == merged_id {
        return Err(AppError::validation(
            "mpi.merge_self",
            "不能将患者合并到自身",
        ));
    }
    let s = survivor(&mut *tx, survivor_id).await?;
    let m_row = load_row(&mut *tx, merged_id)
        .await?
        .ok_or_else(|| AppError::not_found("person"))?;
    if m_row.status != "active" {
        return Err(AppError::conflict(
            "mpi.already_merged",
            "该记录已被合并，请先拆分",
        ));
    }
    if s == merged_id || cluster(&mut *tx, merged_id).await?.contains(&s) {
        return Err(AppError::validation("mpi.merge_cycle", "合并会形成循环"));
    }
    let survivor_ids = cluster(&mut *tx, s).await?;
    let merged_ids = cluster(&mut *tx, merged_id).await?;
    require_merge(&mut *tx, ctx, &[&survivor_ids, &merged_ids]).await?;
    let now = ctx.clock.now_micros();
    let n = tx
        .execute("UPDATE persons SET status = 'merged', merged_into = $1, updated_at = $2 WHERE id = $3 AND status = 'active'", args![s, now, merged_id])
        .await?;
    if n != 1 {
        return Err(AppError::conflict(
            "mpi.already_merged",
            "该记录已被合并，请刷新后重试",
        ));
    }
    tx.execute(
        "UPDATE mpi_reviews SET status = 'merged', decided_by = $1, decided_at = $2 WHERE status = 'pending' AND ((person_id = $3 AND candidate_id = $4) OR (person_id = $4 AND candidate_id = $3))",
        args![&ctx.actor.login, now, s, merged_id],
    )
    .await?;
    event(
        tx,
        ctx,
        "merge",
        s,
        Some(merged_id),
        serde_json::json!({"reason": reason, "before": {"status": "active", "merged_into": null}}),
    )
    .await?;
    audit::append(
        tx,
        &[AuditEntry::new(ctx, "person.merge", "person", s)
            .details(serde_json::json!({"merged": merged_id, "reason": reason}))],
    )
    .await
}

/// Undoes a merge: the record stands on its own again, exactly as before.
pub async fn unmerge(
    st: &AppState,
    ctx: &RequestContext,
    merged_id: i64,
    reason: &str,
) -> AppResult<()> {
    let row = load_row(&st.db, merged_id)
        .await?
        .ok_or_else(|| AppError::not_found("person"))?;
    let Some(into) = row.merged_into else {
        return Err(AppError::conflict("mpi.not_merged", "该记录未被合并"));
    };
    let all = cluster(&st.db, survivor(&st.db, merged_id).await?).await?;
    let leaving = cluster(&st.db, merged_id).await?;
    let staying: Vec<i64> = all
        .iter()
        .copied()
        .filter(|x| !leaving.contains(x))
        .collect();
    require_merge(&st.db, ctx, &[&staying, &leaving]).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE persons SET status = 'active', merged_into = NULL, updated_at = $1 WHERE id = $2",
        args![now, merged_id],
    )
    .await?;
    event(
        &mut tx,
        ctx,
        "unmerge",
        into,
        Some(merged_id),
        serde_json::json!({"reason": reason}),
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "person.unmerge", "person", into)
            .details(serde_json::json!({"unmerged": merged_id, "reason": reason}))],
    )
    .await?;
    tx.commit().await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EventView {
    pub id: i64,
    pub kind: String,
    pub person_id: i64,
    pub other_id: Option<i64>,
    pub actor_login: String,
    pub at: i64,
    pub details: String,
}

/// The index history of a cluster (register, link, merge, unmerge, review decisions).
pub async fn history(db: &Db, ids: &[i64]) -> AppResult<Vec<EventView>> {
    let mut f = Filter::new();
    let list = f.placeholders(ids);
    db.fetch_all(
        &format!("SELECT id, kind, person_id, other_id, actor_login, at, details FROM mpi_events WHERE person_id IN ({list}) OR other_id IN ({list}) ORDER BY id"),
        f.args,
    )
    .await
}
