//! The base-data figures of the home page: cards that each open the filtered list they
//! count (the same filters as the list, in the caller's scope), work queues (licences
//! expiring, records to submit, correct or review) and charts.

use crate::service::{self, ORG_KINDS, OrgQuery, PROFESSIONS, label};
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::module::Card;
use yiyang_platform::web::AppState;
use yiyang_platform::web::chart::{self, Chart, Series};
use yiyang_store::{Filter, Window};

/// Days ahead the licence card looks (证照到期预警, as the warning job).
pub const LICENCE_CARD_DAYS: i64 = 60;

/// Submissions waiting for the caller's review, as the two tabs of 待审核 count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingCounts {
    pub orgs: i64,
    pub staff: i64,
}

/// Pending institutions (with `org.review`) and staff (with `staff.review` and
/// `staff.read`), each as its list on the review page counts them.
pub async fn pending_counts(st: &AppState, ctx: &RequestContext) -> AppResult<PendingCounts> {
    let orgs = if ctx.has(perm::ORG_REVIEW) {
        org_count(st, ctx, Some("pending"), None).await?
    } else {
        0
    };
    let staff = if ctx.has(perm::STAFF_REVIEW) && ctx.has(perm::STAFF_READ) {
        staff_count(st, ctx, &StaffFilter::status("pending")).await?
    } else {
        0
    };
    Ok(PendingCounts { orgs, staff })
}

/// Institutions the caller sees on 机构信息 with these filters (its own count).
async fn org_count(
    st: &AppState,
    ctx: &RequestContext,
    status: Option<&str>,
    kind: Option<&str>,
) -> AppResult<i64> {
    let q = OrgQuery {
        status: status.map(str::to_string),
        kind: kind.map(str::to_string),
        ..Default::default()
    };
    Ok(service::list_orgs_page(st, ctx, &q, &Window::first(1))
        .await?
        .total)
}

/// The filters of 人员信息 a card uses.
#[derive(Debug, Clone, Default)]
struct StaffFilter {
    status: Option<&'static str>,
    /// `licence_expiry` on or before this date (YYYY-MM-DD).
    expiring_until: Option<String>,
}

impl StaffFilter {
    fn status(s: &'static str) -> Self {
        Self {
            status: Some(s),
            ..Self::default()
        }
    }
}

/// The staff-list filter in the caller's `staff.read` scope: not deleted, then `f`.
fn staff_where(ctx: &RequestContext, sf: &StaffFilter) -> AppResult<Filter> {
    let scope = ctx.require(perm::STAFF_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    f.raw("deleted_at IS NULL");
    if let Some(s) = sf.status {
        f.add("status = ?", s);
    }
    if let Some(until) = &sf.expiring_until {
        f.add("licence_expiry <= ?", until.clone());
    }
    Ok(f)
}

async fn staff_count(st: &AppState, ctx: &RequestContext, sf: &StaffFilter) -> AppResult<i64> {
    let f = staff_where(ctx, sf)?;
    st.db
        .scalar(&format!("SELECT COUNT(*) FROM staff{}", f.sql()), f.args)
        .await
}

/// Whoever keeps or reviews the register (administrators, reviewers): their home shows
/// the register's figures. Clinicians see their clinical work instead.
fn keeps_register(ctx: &RequestContext) -> bool {
    ctx.has(perm::STAFF_WRITE) || ctx.has(perm::STAFF_REVIEW)
}

/// Whoever keeps, reviews or oversees institutions city-wide.
fn oversees_orgs(ctx: &RequestContext) -> bool {
    ctx.has(perm::ORG_READ)
        && (ctx.has(perm::ORG_WRITE)
            || ctx.has(perm::ORG_REVIEW)
            || ctx.scope_of(perm::ORG_READ) == Some(yiyang_core::Scope::City))
}

fn today(st: &AppState) -> chrono::NaiveDate {
    yiyang_core::clock::today_cst(st.clock.as_ref())
}

/// Approved institutions per kind, staff on the register, licences expiring within 60
/// days, records to submit or correct, and submissions waiting for review — each only
/// for a caller who may open its list.
pub async fn home_cards(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Card>> {
    let mut cards = Vec::new();
    // Licences are the work of who keeps or reviews the register (not of every reader).
    if ctx.has(perm::STAFF_READ) && keeps_register(ctx) {
        let until = (today(st) + chrono::Duration::days(LICENCE_CARD_DAYS))
            .format("%Y-%m-%d")
            .to_string();
        let n = staff_count(
            st,
            ctx,
            &StaffFilter {
                expiring_until: Some(until),
                ..StaffFilter::default()
            },
        )
        .await?;
        cards.push(Card::queue(
            format!("{LICENCE_CARD_DAYS}天内证照到期"),
            n,
            format!("/staff?expiring_within_days={LICENCE_CARD_DAYS}"),
        ));
    }
    if ctx.has(perm::STAFF_WRITE) && ctx.has(perm::STAFF_READ) {
        for (status, l) in [
            ("draft", "人员待提交审核"),
            ("rejected", "人员被退回待修改"),
        ] {
            let n = staff_count(st, ctx, &StaffFilter::status(status)).await?;
            cards.push(Card::queue(l, n, format!("/staff?status={status}")));
        }
    }
    if ctx.has(perm::ORG_WRITE) && ctx.has(perm::ORG_READ) {
        let n = org_count(st, ctx, Some("rejected"), None).await?;
        cards.push(Card::queue("机构被退回待修改", n, "/orgs?status=rejected"));
    }
    let pending = pending_counts(st, ctx).await?;
    if ctx.has(perm::ORG_REVIEW) {
        cards.push(Card::queue("待审核机构", pending.orgs, "/review?tab=orgs"));
    }
    if ctx.has(perm::STAFF_REVIEW) && ctx.has(perm::STAFF_READ) {
        cards.push(Card::queue(
            "待审核人员",
            pending.staff,
            "/review?tab=staff",
        ));
    }
    if oversees_orgs(ctx) {
        for (k, l) in ORG_KINDS.iter().filter(|(k, _)| *k != "platform") {
            let n = org_count(st, ctx, Some("approved"), Some(k)).await?;
            if n > 0 {
                cards.push(Card::new(*l, n, format!("/orgs?kind={k}&status=approved")));
            }
        }
    }
    if ctx.has(perm::STAFF_READ) && keeps_register(ctx) {
        let n = staff_count(st, ctx, &StaffFilter::default()).await?;
        cards.push(Card::new("在册人员", n, "/staff"));
    }
    Ok(cards)
}

/// Institutions by kind, staff by profession, and licences expiring per month (next six).
pub async fn home_charts(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Chart>> {
    let mut charts = Vec::new();
    if oversees_orgs(ctx) {
        let orgs = service::list_orgs(
            st,
            ctx,
            &OrgQuery {
                status: Some("approved".into()),
                ..Default::default()
            },
        )
        .await?;
        let parts: Vec<(String, f64)> = ORG_KINDS
            .iter()
            .filter(|(k, _)| *k != "platform")
            .map(|(k, l)| {
                (
                    l.to_string(),
                    orgs.iter().filter(|o| o.kind == *k).count() as f64,
                )
            })
            .filter(|(_, n)| *n > 0.0)
            .collect();
        if !parts.is_empty() {
            charts.push(chart::pie("已审核机构类型分布", &parts).small());
        }
    }
    if ctx.has(perm::STAFF_READ) && keeps_register(ctx) {
        let f = staff_where(ctx, &StaffFilter::default())?;
        let rows: Vec<(String, i64)> = st
            .db
            .fetch_all(
                &format!(
                    "SELECT profession, COUNT(*) FROM staff{} GROUP BY profession ORDER BY profession",
                    f.sql()
                ),
                f.args,
            )
            .await?;
        if !rows.is_empty() {
            let cats: Vec<String> = rows
                .iter()
                .map(|(p, _)| label(PROFESSIONS, p).to_string())
                .collect();
            let values: Vec<f64> = rows.iter().map(|(_, n)| *n as f64).collect();
            charts.push(
                chart::bar("在册人员职业构成", &cats, &[Series::new("人数", values)]).small(),
            );
        }
        let start = today(st);
        let months: Vec<chrono::NaiveDate> = (0..6)
            .map(|i| {
                start
                    .checked_add_months(chrono::Months::new(i))
                    .unwrap_or(start)
            })
            .collect();
        let mut f = staff_where(ctx, &StaffFilter::default())?;
        f.add("licence_expiry >= ?", start.format("%Y-%m-01").to_string());
        let rows: Vec<(String, i64)> = st
            .db
            .fetch_all(
                &format!(
                    "SELECT SUBSTR(licence_expiry, 1, 7), COUNT(*) FROM staff{} GROUP BY SUBSTR(licence_expiry, 1, 7)",
                    f.sql()
                ),
                f.args,
            )
            .await?;
        let cats: Vec<String> = months
            .iter()
            .map(|m| m.format("%Y年%-m月").to_string())
            .collect();
        let values: Vec<f64> = months
            .iter()
            .map(|m| {
                let key = m.format("%Y-%m").to_string();
                rows.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, n)| *n as f64)
                    .unwrap_or(0.0)
            })
            .collect();
        charts.push(
            chart::bar(
                "执业证书到期（未来6个月）",
                &cats,
                &[Series::new("到期人数", values)],
            )
            .small(),
        );
    }
    Ok(charts)
}
