//! 查询统计: figures for the index.

use super::pending_reviews_page;
use serde::Serialize;
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Window};

/// 查询统计: figures for the index.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub persons: i64,
    pub merged: i64,
    pub identifiers: i64,
    pub links: i64,
    /// Pairs the caller may decide on; absent for roles that cannot merge.
    pub pending_reviews: Option<i64>,
    /// merged / (active + merged)
    pub duplicate_rate: f64,
    pub per_org: Vec<(String, i64)>,
    pub per_month: Vec<(String, i64)>,
}

pub async fn stats(st: &AppState, ctx: &RequestContext) -> AppResult<Stats> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("po.org_id", &orgs);
    }
    let w = f.sql();
    let scoped = format!("SELECT DISTINCT po.person_id FROM person_orgs po{w}");
    let count = |extra: &str| format!("SELECT COUNT(*) FROM persons WHERE id IN ({scoped}){extra}");
    let persons = st
        .db
        .scalar(&count(" AND status = 'active'"), f.args.clone())
        .await?;
    let merged = st
        .db
        .scalar(&count(" AND status = 'merged'"), f.args.clone())
        .await?;
    let identifiers = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM person_identifiers WHERE person_id IN ({scoped})"),
            f.args.clone(),
        )
        .await?;
    let links = st
        .db
        .scalar(
            &format!(
                "SELECT COUNT(*) FROM mpi_events WHERE kind = 'link' AND person_id IN ({scoped})"
            ),
            f.args.clone(),
        )
        .await?;
    let pending_reviews = if ctx.has(perm::PATIENT_MERGE) {
        Some(
            pending_reviews_page(st, ctx, &Window::first(1))
                .await?
                .total,
        )
    } else {
        None
    };
    let counts: Vec<(i64, i64)> = st
        .db
        .fetch_all(
            &format!("SELECT po.org_id, COUNT(*) FROM person_orgs po{w} GROUP BY po.org_id"),
            f.args.clone(),
        )
        .await?;
    let ids: Vec<i64> = counts.iter().map(|c| c.0).collect();
    let names = yiyang_basedata::service::org_names(&st.db, &ids).await?;
    let mut by_name: std::collections::BTreeMap<String, i64> = Default::default();
    for (org, n) in counts {
        if let Some(name) = names.get(&org) {
            *by_name.entry(name.clone()).or_default() += n;
        }
    }
    let mut per_org: Vec<(String, i64)> = by_name.into_iter().collect();
    per_org.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rows: Vec<(i64,)> = st
        .db
        .fetch_all(
            &format!("SELECT created_at FROM persons WHERE id IN ({scoped})"),
            f.args,
        )
        .await?;
    let mut months: std::collections::BTreeMap<String, i64> = Default::default();
    for (t,) in rows {
        *months
            .entry(yiyang_core::clock::format_micros_cst(t)[..7].to_string())
            .or_default() += 1;
    }
    let total = persons + merged;
    Ok(Stats {
        persons,
        merged,
        identifiers,
        links,
        pending_reviews,
        duplicate_rate: if total > 0 {
            merged as f64 / total as f64
        } else {
            0.0
        },
        per_org,
        per_month: months.into_iter().collect(),
    })
}
