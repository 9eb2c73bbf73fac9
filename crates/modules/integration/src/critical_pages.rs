//! 危急值通知规则: the page where an institution decides who is told of a critical value.

use crate::critical::{self, DEFAULT_STEPS, Route, RouteInput, TARGETS, target_label};
use crate::pages::{msgs, orgs_for, p};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use std::collections::HashMap;
use yiyang_core::{AppError, perm};
use yiyang_platform::web::kit::{
    self, BatchAction, Col, FormError, ListQuery, Table, batch_summary, dialog, dialog_button,
    filter_bar, form_failed,
};
use yiyang_platform::web::layout::{csrf, shell};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Authed, Page, PageResult};

type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integration/critical-routes", get(page).post(add))
        .route("/integration/critical-routes/delete", post(delete_batch))
        .route("/integration/critical-routes/{id}/delete", post(delete))
}

fn targets_text(t: &str) -> String {
    t.split(',')
        .map(target_label)
        .collect::<Vec<_>>()
        .join("、")
}

async fn page(State(st): State<AppState>, Page(a): Page, Query(q): Query<Params>) -> PageResult {
    view(&st, &a, &q, None).await
}

/// The rules in scope (filter by institution and department, page, export; 批量删除 for
/// the institutions the caller manages) and 新增规则 in a dialog.
async fn view(st: &AppState, a: &Authed, q: &Params, failed: Option<&FormError>) -> PageResult {
    let readable = orgs_for(st, &a.ctx, perm::INTEGRATION_READ).await?;
    let names: HashMap<i64, String> = readable.iter().cloned().collect();
    let manage = orgs_for(st, &a.ctx, perm::CRITICAL_MANAGE).await?;
    let org_filter = p(q, "org_id");
    let dept = p(q, "department").trim();
    let list: Vec<Route> = critical::routes(st, &a.ctx)
        .await?
        .into_iter()
        .filter(|r| org_filter.is_empty() || r.org_id.to_string() == org_filter)
        .filter(|r| dept.is_empty() || r.department.contains(dept))
        .collect();
    let lq = ListQuery::from_params(q);
    let rows = kit::page_in_memory(list, &lq);
    let managed: Vec<i64> = manage.iter().map(|(id, _)| *id).collect();
    let token = a.csrf().to_string();
    let can_delete = move |r: &Route| managed.contains(&r.org_id);
    let can_batch = !manage.is_empty();
    let table = Table::new("critical-routes", "/integration/critical-routes", q, &lq)
        .col(Col::new("org", "机构", move |r: &Route| names.get(&r.org_id).cloned().unwrap_or_default()))
        .col(Col::new("department", "科室", |r: &Route| {
            if r.department.is_empty() { "全院".to_string() } else { r.department.clone() }
        }))
        .col(Col::new("step", "步骤", |r: &Route| {
            if r.step == 0 { "即时".to_string() } else { format!("第{}次升级", r.step) }
        }))
        .col(Col::new("delay", "延迟", |r: &Route| {
            if r.step == 0 { "—".to_string() } else { format!("{} 分钟", r.delay_minutes) }
        }))
        .col(Col::new("targets", "通知对象", |r: &Route| targets_text(&r.targets)))
        .col(Col::action("actions", "操作", move |r: &Route| html! {
            @if can_delete(r) {
                form.inline method="post" action=(format!("/integration/critical-routes/{}/delete", r.id)) {
                    input type="hidden" name="_csrf" value=(token);
                    button.link type="submit" data-confirm="删除这条规则？" { "删除" }
                }
            }
        }))
        .batch(
            |r| r.id,
            if can_batch {
                vec![BatchAction::new("批量删除", "/integration/critical-routes/delete").danger("删除所选规则？删除后按默认流程或其余规则通知。")]
            } else {
                vec![]
            },
        )
        .empty("尚未设置规则，按默认流程通知");
    if lq.export {
        return table
            .export(st, &a.ctx, "危急值通知规则", "critical_route", &rows)
            .await;
    }
    let err = FormError::pick("route", q, failed);
    Ok(shell(
        &st.nav,
        a,
        "危急值通知规则",
        "/integration/critical-routes",
        html! {
            @if !err.is_some() { (msgs(q)) }
            p.muted { "检验、检查系统发来的危急值先按“步骤0”立即通知；在设定的分钟数内仍无人确认，则按后续步骤逐级升级通知。规则可按科室单独设置，科室规则优先于全院规则。" }
            details.card {
                summary { "未设置规则时的默认流程" }
                ol { @for (delay, targets) in DEFAULT_STEPS {
                    li { @if *delay == 0 { "立即" } @else { (delay) "分钟内无人确认" } "：通知" (targets.iter().map(|t| target_label(t)).collect::<Vec<_>>().join("、")) }
                } }
                p.muted { "主管医生按就诊记录的主管医生姓名匹配本机构已关联账号的人员；病区护士按病区（PV1-3）或科室匹配科室下的护士。找不到任何人时通知机构管理员，提醒不会丢失。" }
            }
            (filter_bar("/integration/critical-routes", &lq, html! {
                div { label for="org" { "机构" } select #org name="org_id" {
                    option value="" { "全部" }
                    @for (id, n) in &readable { option value=(id) selected[org_filter == id.to_string()] { (n) } }
                } }
                div { label for="dept" { "科室" } input #dept type="search" name="department" value=(dept); }
            }))
            @if !manage.is_empty() { div.page-actions { (dialog_button("route", "新增规则", "/integration/critical-routes")) } }
            (table.render(&rows, a))
            @if !manage.is_empty() {
                (dialog(&err, "新增危急值通知规则", "/integration/critical-routes", html! {
                    form method="post" action="/integration/critical-routes" {
                        (csrf(a))
                        div.fields {
                            (err.select("org_id", "机构", manage.iter().cloned(), "", None).required())
                            (err.input("department", "科室（留空为全院）", "").maxlength(50))
                            (err.select("step", "步骤", (0..=5).map(|s| (s, if s == 0 { "即时通知".to_string() } else { format!("第{s}次升级") })), "0", None))
                            (err.input("delay_minutes", "无人确认多少分钟后（升级步骤）", "0").kind("number").range("0", "240"))
                        }
                        fieldset aria-describedby=[err.described("targets")] { legend { "通知对象" span.req { "*" } }
                            @for (code, label) in TARGETS { (err.check("targets", code, label, false)) " " }
                            (err.beside("targets"))
                        }
                        button type="submit" { "保存规则" }
                    }
                }))
            }
        },
    )
    .into_response())
}

async fn add(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    };
    let num = |k: &str| get(k).parse::<i64>();
    let r = match (num("org_id"), num("step"), num("delay_minutes")) {
        (Ok(org_id), Ok(step), Ok(delay_minutes)) => {
            let input = RouteInput {
                org_id,
                department: get("department").to_string(),
                step,
                delay_minutes,
                targets: f
                    .iter()
                    .filter(|(n, _)| n == "targets")
                    .map(|(_, v)| v.clone())
                    .collect(),
            };
            critical::add_route(&st, &a.ctx, &input).await
        }
        _ => Err(AppError::field(
            "critical.route_number",
            "delay_minutes",
            "机构、步骤和延迟须为数字",
        )),
    };
    match r {
        Ok(_) => back("/integration/critical-routes", Ok("规则已保存".to_string())),
        Err(e) => {
            let failed = FormError::from_error("route", &e, f);
            form_failed(&e, view(&st, &a, &Params::new(), Some(&failed)).await)
        }
    }
}

/// 批量删除 of the ticked rules; every failure named.
async fn delete_batch(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let (mut done, mut failures) = (0, Vec::new());
    for id in kit::ids(&f) {
        match critical::delete_route(&st, &a.ctx, id).await {
            Ok(()) => done += 1,
            Err(e) => failures.push((id, e)),
        }
    }
    back(
        "/integration/critical-routes",
        batch_summary(done, &failures),
    )
}

async fn delete(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    let r = critical::delete_route(&st, &a.ctx, id)
        .await
        .map(|_| "规则已删除".to_string());
    back("/integration/critical-routes", r)
}
