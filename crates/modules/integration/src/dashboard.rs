//! The integration figures of the home page: work queues that each open the filtered list
//! they count (危急值待确认, 异常消息, 死信, 今日预约, 有效申请单) and charts (messages per
//! hour, critical values per day), each only for a caller who may open its list.

use crate::messages::{self, ClinicalQuery, MessageQuery};
use crate::outbound::{self, DeliveryQuery};
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::module::Card;
use yiyang_platform::web::AppState;
use yiyang_platform::web::chart::{self, Chart, Series};
use yiyang_store::{Filter, Window};

/// Days of the critical-value chart.
const ALERT_DAYS: i64 = 7;

fn today(st: &AppState) -> chrono::NaiveDate {
    yiyang_core::clock::today_cst(st.clock.as_ref())
}

/// Open critical values in the caller's `patient.read` scope (as 危急值提醒 filters them).
async fn open_alerts(st: &AppState, ctx: &RequestContext) -> AppResult<i64> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    f.raw("status = 'open'");
    st.db
        .scalar(
            &format!("SELECT COUNT(*) FROM critical_alerts{}", f.sql()),
            f.args,
        )
        .await
}

pub async fn home_cards(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Card>> {
    let mut cards = Vec::new();
    if ctx.has(perm::PATIENT_READ) {
        cards.push(Card::queue(
            "危急值待确认",
            open_alerts(st, ctx).await?,
            "/integration/alerts?status=open",
        ));
        let day = today(st).format("%Y-%m-%d").to_string();
        let q = ClinicalQuery {
            status: Some("booked".into()),
            date: Some(day.clone()),
            ..Default::default()
        };
        let f = messages::appointment_filter(ctx, &q)?;
        let n = st
            .db
            .scalar(
                &format!("SELECT COUNT(*) FROM appointments{}", f.sql()),
                f.args,
            )
            .await?;
        cards.push(Card::queue(
            "今日预约",
            n,
            format!("/integration/appointments?status=booked&date={day}"),
        ));
        let q = ClinicalQuery {
            status: Some("active".into()),
            ..Default::default()
        };
        let f = messages::order_filter(ctx, &q)?;
        let n = st
            .db
            .scalar(&format!("SELECT COUNT(*) FROM orders{}", f.sql()), f.args)
            .await?;
        cards.push(Card::new(
            "有效检查检验申请单",
            n,
            "/integration/orders?status=active",
        ));
    }
    if ctx.has(perm::INTEGRATION_READ) {
        let q = MessageQuery {
            status: Some("queue".into()),
            ..Default::default()
        };
        let p = messages::search_page(st, ctx, &q, &Window::first(1)).await?;
        cards.push(Card::queue("异常消息", p.total, "/integration/errors"));
        let q = DeliveryQuery {
            status: Some("dead".into()),
            ..Default::default()
        };
        let p = outbound::deliveries_page(st, ctx, &q, &Window::first(1)).await?;
        cards.push(Card::queue(
            "投递死信",
            p.total,
            "/integration/deliveries?status=dead",
        ));
    }
    Ok(cards)
}

pub async fn home_charts(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Chart>> {
    let mut charts = Vec::new();
    if ctx.has(perm::PATIENT_READ) {
        let scope = ctx.require(perm::PATIENT_READ)?;
        let first = today(st) - chrono::Duration::days(ALERT_DAYS - 1);
        let from = messages::day_start(first);
        let mut f = Filter::new();
        if let Some(orgs) = scope.org_ids() {
            f.any_of("org_id", &orgs);
        }
        f.add("created_at >= ?", from);
        let rows: Vec<(i64, String)> = st
            .db
            .fetch_all(
                &format!("SELECT created_at, status FROM critical_alerts{}", f.sql()),
                f.args,
            )
            .await?;
        if !rows.is_empty() {
            let n = ALERT_DAYS as usize;
            let (mut open, mut done) = (vec![0f64; n], vec![0f64; n]);
            for (at, status) in &rows {
                let i = ((at - from) / 86_400_000_000) as usize;
                if i < n {
                    if status == "open" {
                        open[i] += 1.0;
                    } else {
                        done[i] += 1.0;
                    }
                }
            }
            let cats: Vec<String> = (0..ALERT_DAYS)
                .map(|i| {
                    (first + chrono::Duration::days(i))
                        .format("%-m/%-d")
                        .to_string()
                })
                .collect();
            charts.push(
                chart::bar(
                    "近7天危急值",
                    &cats,
                    &[Series::new("待确认", open), Series::new("已确认", done)],
                )
                .small(),
            );
        }
    }
    if ctx.has(perm::INTEGRATION_READ) {
        let (hours, per_channel) = messages::hourly(st, ctx, 24).await?;
        if !per_channel.is_empty() {
            let total: Vec<f64> = (0..hours.len())
                .map(|i| {
                    per_channel
                        .iter()
                        .map(|(_, v)| v.get(i).copied().unwrap_or(0) as f64)
                        .sum()
                })
                .collect();
            charts.push(
                chart::line(
                    "近24小时接收的 HL7 消息",
                    &hours,
                    &[Series::new("消息数", total)],
                )
                .small(),
            );
        }
    }
    Ok(charts)
}
