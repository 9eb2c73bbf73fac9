//! The review queue of possible duplicates and its decisions.

use super::{can_merge_each, event, merge};
use serde::Serialize;
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Sort, Window, args};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Review {
    pub id: i64,
    pub person_id: i64,
    pub candidate_id: i64,
    pub probability: f64,
    pub weight: f64,
    pub explanation: String,
    pub status: String,
    pub created_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

/// Columns the review queue sorts by.
pub const REVIEW_SORTS: &[Sort] = &[
    Sort {
        key: "probability",
        sql: "probability",
    },
    Sort {
        key: "created_at",
        sql: "created_at",
    },
];

/// One window of the pending possible duplicates the caller may decide on (most likely
/// first) and their number. City-wide callers page in SQL; an institution's reviewers see
/// the pairs whose every side is in their scope, checked pair by pair, so their whole
/// queue is read (no cut-off) and paged here.
pub async fn pending_reviews_page(
    st: &AppState,
    ctx: &RequestContext,
    w: &Window,
) -> AppResult<Paged<Review>> {
    ctx.require(perm::PATIENT_MERGE)?;
    const COLS: &str = "id, person_id, candidate_id, probability, weight, explanation, status, created_at, decided_by, decided_at";
    let mut f = Filter::new();
    f.raw("status = 'pending'");
    let where_sql = f.sql();
    if ctx.scope_of(perm::PATIENT_MERGE) == Some(Scope::City) {
        let total = st
            .db
            .scalar(
                &format!("SELECT COUNT(*) FROM mpi_reviews{where_sql}"),
                f.args.clone(),
            )
            .await?;
        let tail = w.tail(&mut f, "probability DESC, id");
        let rows = st
            .db
            .fetch_all(
                &format!("SELECT {COLS} FROM mpi_reviews{where_sql}{tail}"),
                f.args,
            )
            .await?;
        return Ok(Paged::exact(rows, total));
    }
    let mut all_f = Filter::new();
    all_f.raw("status = 'pending'");
    let tail = Window::new(REVIEW_SORTS, "", false, i64::MAX / 4, 0)
        .tail(&mut all_f, "probability DESC, id");
    let all: Vec<Review> = st
        .db
        .fetch_all(
            &format!("SELECT {COLS} FROM mpi_reviews{where_sql}{tail}"),
            all_f.args,
        )
        .await?;
    let mut mine = Vec::new();
    for r in all {
        if can_merge_each(&st.db, ctx, r.person_id, r.candidate_id).await? {
            mine.push(r);
        }
    }
    let total = mine.len() as i64;
    let rows = mine
        .into_iter()
        .skip(w.offset as usize)
        .take(w.limit as usize)
        .collect();
    Ok(Paged::exact(rows, total))
}

pub async fn get_review(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<Review> {
    let r: Review = st
        .db
        .fetch_optional("SELECT id, person_id, candidate_id, probability, weight, explanation, status, created_at, decided_by, decided_at FROM mpi_reviews WHERE id = $1", args![id])
        .await?
        .ok_or_else(|| AppError::not_found("review"))?;
    if !can_merge_each(&st.db, ctx, r.person_id, r.candidate_id).await? {
        return Err(AppError::not_found("review"));
    }
    Ok(r)
}

/// Decides a review: `merge` (the newer record into the older) or `distinct`.
pub async fn decide_review(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    decision: &str,
) -> AppResult<()> {
    let r = get_review(st, ctx, id).await?;
    if r.status != "pending" {
        return Err(AppError::conflict("mpi.review_decided", "该疑似重复已处理"));
    }
    match decision {
        "merge" => {
            merge(
                st,
                ctx,
                r.candidate_id,
                r.person_id,
                "疑似重复审核：确认为同一人",
            )
            .await
        }
        "distinct" => {
            let now = ctx.clock.now_micros();
            let mut tx = st.db.begin().await?;
            tx.execute("UPDATE mpi_reviews SET status = 'distinct', decided_by = $1, decided_at = $2 WHERE id = $3 AND status = 'pending'", args![&ctx.actor.login, now, id]).await?;
            event(
                &mut tx,
                ctx,
                "distinct",
                r.person_id,
                Some(r.candidate_id),
                serde_json::json!({"review": id}),
            )
            .await?;
            audit::append(
                &mut tx,
                &[
                    AuditEntry::new(ctx, "person.review_distinct", "person", r.person_id)
                        .details(serde_json::json!({"candidate": r.candidate_id})),
                ],
            )
            .await?;
            tx.commit().await
        }
        _ => Err(AppError::field(
            "mpi.decision_invalid",
            "decision",
            "处理结果须为 merge 或 distinct",
        )),
    }
}
