//! The patient figures of the home page: for staff, work queues and figures that each open
//! the filtered list they count (在院患者, 今日就诊, 居民档案, 疑似重复) and charts of the
//! encounters in their institutions; for residents, the trend of their own (or their
//! family member's) blood pressure and heart rate.

use crate::encounters::{self, EncounterQuery};
use crate::record;
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::module::Card;
use yiyang_platform::web::AppState;
use yiyang_platform::web::chart::{self, Chart, Series};
use yiyang_store::{Filter, Window, args};

/// How many days the encounter chart covers.
const CHART_DAYS: i64 = 14;

fn today(st: &AppState) -> chrono::NaiveDate {
    yiyang_core::clock::today_cst(st.clock.as_ref())
}

use yiyang_core::clock::day_start_cst as day_start;

/// Active persons the caller sees on 居民档案 without filters (the list's own count).
async fn person_count(st: &AppState, ctx: &RequestContext) -> AppResult<i64> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        let list = f.placeholders(&orgs);
        f.raw(&format!("EXISTS (SELECT 1 FROM person_orgs po WHERE po.person_id = persons.id AND po.org_id IN ({list}))"));
    }
    f.raw("status = 'active'");
    st.db
        .scalar(&format!("SELECT COUNT(*) FROM persons{}", f.sql()), f.args)
        .await
}

pub async fn home_cards(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Card>> {
    let mut cards = Vec::new();
    if ctx.has(perm::PATIENT_READ) {
        let inpatients = EncounterQuery {
            kind: Some("inpatient".into()),
            status: Some("in-progress".into()),
            ..Default::default()
        };
        cards.push(Card::queue(
            "住院中患者",
            encounters::count(st, ctx, &inpatients).await?,
            "/encounters?kind=inpatient&status=in-progress",
        ));
    }
    if ctx.has(perm::PATIENT_MERGE) {
        let n = crate::service::pending_reviews_page(st, ctx, &Window::first(1))
            .await?
            .total;
        cards.push(Card::queue("疑似重复待处理", n, "/mpi/reviews"));
    }
    if ctx.has(perm::PATIENT_READ) {
        let day = today(st).format("%Y-%m-%d").to_string();
        let seen = EncounterQuery {
            date: Some(day.clone()),
            ..Default::default()
        };
        cards.push(Card::new(
            "今日就诊/入院",
            encounters::count(st, ctx, &seen).await?,
            format!("/encounters?date={day}"),
        ));
        cards.push(Card::new(
            "居民档案",
            person_count(st, ctx).await?,
            "/persons",
        ));
    }
    Ok(cards)
}

pub async fn home_charts(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Chart>> {
    if ctx.has(perm::PATIENT_READ) {
        staff_charts(st, ctx).await
    } else if ctx.has(perm::RESIDENT_SELF) {
        resident_charts(st, ctx).await
    } else {
        Ok(Vec::new())
    }
}

/// Encounters per day over two weeks (outpatient, inpatient, other) and the inpatients
/// now in hospital per department, in the caller's institutions.
async fn staff_charts(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Chart>> {
    let scope = ctx.require(perm::PATIENT_READ)?;
    let first = today(st) - chrono::Duration::days(CHART_DAYS - 1);
    let from = day_start(first);
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    f.add("start_at >= ?", from);
    let rows: Vec<(i64, String)> = st
        .db
        .fetch_all(
            &format!("SELECT start_at, kind FROM encounters{}", f.sql()),
            f.args,
        )
        .await?;
    let days: Vec<chrono::NaiveDate> = (0..CHART_DAYS)
        .map(|i| first + chrono::Duration::days(i))
        .collect();
    let mut by_kind = [
        vec![0f64; days.len()],
        vec![0f64; days.len()],
        vec![0f64; days.len()],
    ];
    for (at, kind) in &rows {
        let i = ((at - from) / 86_400_000_000) as usize;
        if i < days.len() {
            let k = match kind.as_str() {
                "outpatient" | "emergency" => 0,
                "inpatient" => 1,
                _ => 2,
            };
            by_kind[k][i] += 1.0;
        }
    }
    let cats: Vec<String> = days
        .iter()
        .map(|d| d.format("%-m/%-d").to_string())
        .collect();
    let [out, inp, other] = by_kind;
    let mut charts = vec![
        chart::line(
            "近14天就诊人次",
            &cats,
            &[
                Series::new("门急诊", out),
                Series::new("住院", inp),
                Series::new("上门/随访/远程", other),
            ],
        )
        .small(),
    ];
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    f.raw("kind = 'inpatient' AND status = 'in-progress'");
    let wards: Vec<(String, i64)> = st
        .db
        .fetch_all(
            &format!(
                "SELECT dept, COUNT(*) FROM encounters{} GROUP BY dept ORDER BY COUNT(*) DESC, dept LIMIT 12",
                f.sql()
            ),
            f.args,
        )
        .await?;
    if !wards.is_empty() {
        let cats: Vec<String> = wards
            .iter()
            .map(|(d, _)| {
                if d.is_empty() {
                    "未填科室".into()
                } else {
                    d.clone()
                }
            })
            .collect();
        charts.push(
            chart::bar(
                "住院中患者（按科室）",
                &cats,
                &[Series::new("人数", wards.iter().map(|(_, n)| *n as f64))],
            )
            .small(),
        );
    }
    Ok(charts)
}

/// LOINC codes of the resident's trend chart.
const SYSTOLIC: &str = "8480-6";
const DIASTOLIC: &str = "8462-4";
const HEART_RATE: &str = "8867-4";
/// Measurements shown per chart.
const LAST: usize = 10;

/// For each record the resident may see (their own, or a family member's they were
/// authorised for): blood pressure and heart rate of the last measurements.
async fn resident_charts(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Chart>> {
    let linked: Vec<(i64,)> = st
        .db
        .fetch_all(
            "SELECT person_id FROM person_contacts WHERE account_id = $1 AND can_view = TRUE ORDER BY id",
            args![ctx.actor.id],
        )
        .await?;
    let mut charts = Vec::new();
    for (pid,) in linked {
        // The record's own check (the resident's grant) decides; a refused one is skipped.
        let Ok((survivor, _, rec)) = record::read(st, ctx, pid).await else {
            continue;
        };
        let (name,): (String,) = st
            .db
            .fetch_one("SELECT name FROM persons WHERE id = $1", args![survivor])
            .await?;
        let series = |code: &str| -> Vec<&record::Observation> {
            let mut v: Vec<&record::Observation> = rec
                .observations
                .iter()
                .filter(|o| o.code == code && o.value_num.is_some())
                .collect();
            v.sort_by_key(|o| o.effective_at);
            let skip = v.len().saturating_sub(LAST);
            v.into_iter().skip(skip).collect()
        };
        let sys = series(SYSTOLIC);
        if !sys.is_empty() {
            let dia = series(DIASTOLIC);
            let cats: Vec<String> = sys.iter().map(|o| when(o.effective_at)).collect();
            let dia_values: Vec<f64> = sys
                .iter()
                .map(|s| {
                    dia.iter()
                        .find(|d| d.effective_at == s.effective_at)
                        .and_then(|d| d.value_num)
                        .unwrap_or(0.0)
                })
                .collect();
            charts.push(chart::line(
                &format!("{name}的血压（mmHg，最近{}次）", sys.len()),
                &cats,
                &[
                    Series::new(
                        "收缩压（高压）",
                        sys.iter().map(|o| o.value_num.unwrap_or(0.0)),
                    ),
                    Series::new("舒张压（低压）", dia_values),
                ],
            ));
        }
        let hr = series(HEART_RATE);
        if !hr.is_empty() {
            let cats: Vec<String> = hr.iter().map(|o| when(o.effective_at)).collect();
            charts.push(chart::line(
                &format!("{name}的心率（次/分，最近{}次）", hr.len()),
                &cats,
                &[Series::new(
                    "心率",
                    hr.iter().map(|o| o.value_num.unwrap_or(0.0)),
                )],
            ));
        }
    }
    Ok(charts)
}

/// A measurement's day and time as a chart label (China Standard Time).
fn when(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| {
            (t + chrono::Duration::hours(8))
                .format("%-m/%-d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}
