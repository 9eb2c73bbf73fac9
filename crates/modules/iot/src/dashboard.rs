//! The IoT figures of the home page: work queues that open the list they count (未处理告警,
//! 离线设备, 待处理维护工单) and charts (alarms of the last 7 days by kind, readings per hour
//! today), each only for a caller who may open its list.

use crate::alarms::{self, AlarmQuery};
use crate::devices::{self, DeviceQuery};
use crate::labels::{ALARM_KINDS, label};
use crate::maintenance::{self, WorkQuery};
use crate::{IOT_MANAGE, IOT_READ};
use yiyang_core::{AppResult, RequestContext};
use yiyang_platform::module::Card;
use yiyang_platform::web::AppState;
use yiyang_platform::web::chart::{self, Chart, Series};
use yiyang_store::Filter;

pub async fn home_cards(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Card>> {
    let mut cards = Vec::new();
    if ctx.scope_of(IOT_READ).is_none() {
        return Ok(cards);
    }
    let active = alarms::count(
        st,
        ctx,
        &AlarmQuery {
            status: Some("active".into()),
            ..Default::default()
        },
    )
    .await?;
    cards.push(Card::queue("未解除告警", active, "/iot/alarms"));
    let offline = devices::count(
        st,
        ctx,
        &DeviceQuery {
            health: Some("offline".into()),
            ..Default::default()
        },
    )
    .await?;
    cards.push(Card::queue(
        "离线设备",
        offline,
        "/iot/devices?health=offline",
    ));
    if ctx.scope_of(IOT_MANAGE).is_some() {
        let open = maintenance::count(
            st,
            ctx,
            &WorkQuery {
                status: Some("open".into()),
                ..Default::default()
            },
        )
        .await?;
        cards.push(Card::queue("待处理维护工单", open, "/iot/maintenance"));
    }
    Ok(cards)
}

pub async fn home_charts(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Chart>> {
    let Some(scope) = ctx.scope_of(IOT_READ) else {
        return Ok(vec![]);
    };
    let now = st.clock.now_micros();
    let mut f = Filter::new();
    if let Some(ids) = scope.org_ids() {
        f.any_of("org_id", &ids);
    }
    f.add("raised_at >= ?", now - 7 * 86_400_000_000);
    let by_kind: Vec<(String, i64)> = st
        .db
        .fetch_all(
            &format!(
                "SELECT kind, COUNT(*) FROM iot_alarms{} GROUP BY kind ORDER BY kind",
                f.sql()
            ),
            f.args,
        )
        .await?;
    let mut charts = Vec::new();
    if !by_kind.is_empty() {
        charts.push(chart::pie(
            "近7天告警（按类型）",
            &by_kind
                .iter()
                .map(|(k, n)| (label(ALARM_KINDS, k).to_string(), *n as f64))
                .collect::<Vec<_>>(),
        ));
    }
    let today = yiyang_core::clock::today_cst(st.clock.as_ref());
    let start = yiyang_core::clock::day_start_cst(today);
    let mut f = Filter::new();
    if let Some(ids) = scope.org_ids() {
        f.any_of("org_id", &ids);
    }
    f.add("measured_at >= ?", start);
    let hours: Vec<(i64, i64)> = st
        .db
        .fetch_all(
            &format!(
                "SELECT (measured_at - {start}) / 3600000000 AS h, COUNT(*) FROM iot_readings{} GROUP BY (measured_at - {start}) / 3600000000 ORDER BY h",
                f.sql()
            ),
            f.args,
        )
        .await?;
    if !hours.is_empty() {
        let last = hours.iter().map(|h| h.0).max().unwrap_or(0).clamp(0, 23);
        let cats: Vec<String> = (0..=last).map(|h| format!("{h:02}时")).collect();
        let values: Vec<f64> = (0..=last)
            .map(|h| {
                hours
                    .iter()
                    .find(|x| x.0 == h)
                    .map(|x| x.1 as f64)
                    .unwrap_or(0.0)
            })
            .collect();
        charts.push(chart::bar(
            "今日体征读数（每小时）",
            &cats,
            &[Series {
                name: "读数（条）".into(),
                values,
            }],
        ));
    }
    Ok(charts)
}
