//! The page of 就诊与住院 (the clinicians' work list; see [`crate::encounters`]).

use crate::encounters::{self, EncounterQuery, EncounterRow, STATUSES};
use crate::record::ENCOUNTER_KINDS;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use maud::html;
use std::collections::HashMap;
use yiyang_core::perm;
use yiyang_platform::web::kit::{Col, ListQuery, Table, filter_bar};
use yiyang_platform::web::layout::{badge, flash, shell, ts};
use yiyang_platform::web::{AppState, Page, PageResult};

type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new().route("/encounters", get(encounters_page))
}

fn p<'a>(q: &'a Params, k: &str) -> &'a str {
    q.get(k).map(String::as_str).unwrap_or("")
}

fn label(list: &[(&str, &'static str)], code: &str) -> String {
    list.iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| code.to_string())
}

/// Age in whole years on `today` of a `YYYY-MM-DD` birth date.
fn age(birth: Option<&str>, today: chrono::NaiveDate) -> String {
    birth
        .and_then(|b| chrono::NaiveDate::parse_from_str(b, "%Y-%m-%d").ok())
        .and_then(|b| today.years_since(b))
        .map(|y| y.to_string())
        .unwrap_or_default()
}

async fn encounters_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let eq = EncounterQuery {
        kind: q.get("kind").cloned(),
        status: q.get("status").cloned(),
        dept: q.get("dept").cloned(),
        q: q.get("q").cloned(),
        date: q.get("date").cloned(),
    };
    let lq = ListQuery::from_params(&q);
    let list = encounters::list_page(&st, &a.ctx, &eq, &lq.window(encounters::SORTS)).await?;
    let today = yiyang_core::clock::today_cst(st.clock.as_ref());
    let city = a.ctx.scope_of(perm::PATIENT_READ) == Some(yiyang_core::Scope::City);
    let mut org_col = Col::new("org", "机构", |e: &EncounterRow| e.org_name.clone());
    if !city {
        org_col = org_col.hidden();
    }
    let table = Table::new("encounters", "/encounters", &q, &lq)
        .col(
            Col::new("person", "患者", |e: &EncounterRow| e.person_name.clone())
                .class("nowrap")
                .cell(
                    |e| html! { a href=(format!("/persons/{}", e.person_id)) { (e.person_name) } },
                ),
        )
        .col(Col::new("sex", "性别", |e: &EncounterRow| {
            match e.sex.as_str() {
                "M" => "男",
                "F" => "女",
                _ => "",
            }
            .to_string()
        }))
        .col(
            Col::new("age", "年龄", move |e: &EncounterRow| {
                age(e.birth_date.as_deref(), today)
            })
            .numeric(),
        )
        .col(
            Col::new("kind", "类型", |e: &EncounterRow| {
                label(ENCOUNTER_KINDS, &e.kind)
            })
            .sort(),
        )
        .col(
            Col::new("status", "状态", |e: &EncounterRow| {
                label(STATUSES, &e.status)
            })
            .cell(|e| {
                if e.status == "in-progress" {
                    badge(
                        "warn",
                        if e.kind == "inpatient" {
                            "在院"
                        } else {
                            "进行中"
                        },
                    )
                } else {
                    badge("mute", "已结束")
                }
            }),
        )
        .col(org_col)
        .col(Col::new("dept", "科室", |e: &EncounterRow| e.dept.clone()).sort())
        .col(
            Col::new("location", "病区/床位", |e: &EncounterRow| {
                e.location.clone()
            })
            .sort(),
        )
        .col(Col::new("attending", "主管医生", |e: &EncounterRow| {
            e.attending.clone()
        }))
        .col(
            Col::new("start_at", "开始时间", |e: &EncounterRow| ts(e.start_at))
                .sort()
                .class("nowrap"),
        )
        .col(
            Col::new("end_at", "结束时间", |e: &EncounterRow| {
                e.end_at.map(ts).unwrap_or_default()
            })
            .class("nowrap")
            .hidden(),
        )
        .col(
            Col::new("reason", "就诊原因", |e: &EncounterRow| {
                e.reason.clone()
            })
            .hidden(),
        )
        .empty("没有符合条件的就诊记录（仅显示您有权访问的机构的记录）");
    if lq.export {
        return table
            .export(&st, &a.ctx, "就诊与住院", "person", &list)
            .await;
    }
    let kind = p(&q, "kind");
    let status = p(&q, "status");
    Ok(shell(
        &st.nav,
        &a,
        "就诊与住院",
        "/encounters",
        html! {
            (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str)))
            (filter_bar("/encounters", &lq, html! {
                div { label for="q" { "患者姓名" } input #q type="search" name="q" value=(p(&q, "q")); }
                div { label for="kind" { "类型" } select #kind name="kind" {
                    option value="" { "全部" }
                    @for (k, l) in ENCOUNTER_KINDS { option value=(k) selected[kind == *k] { (l) } }
                } }
                div { label for="status" { "状态" } select #status name="status" {
                    option value="" { "全部" }
                    @for (k, l) in STATUSES { option value=(k) selected[status == *k] { (l) } }
                } }
                div { label for="dept" { "科室/病区" } input #dept type="search" name="dept" value=(p(&q, "dept")); }
                div { label for="date" { "开始日期" } input #date type="date" name="date" value=(p(&q, "date")); }
            }))
            p.muted.small { "仅显示您有权访问的机构的就诊记录；患者姓名按脱敏规则显示，导出的表格同样脱敏。转科、出院在患者的健康360视图中办理。" }
            (table.render(&list, &a))
        },
    )
    .into_response())
}
