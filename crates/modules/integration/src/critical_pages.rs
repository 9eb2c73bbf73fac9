//! 危急值通知规则: the page where an institution decides who is told of a critical value.

use crate::critical::{self, DEFAULT_STEPS, RouteInput, TARGETS, target_label};
use crate::pages::{msgs, orgs_for};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::perm;
use yiyang_platform::web::layout::{csrf, shell};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Page, PageResult};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integration/critical-routes", get(page).post(add))
        .route("/integration/critical-routes/{id}/delete", post(delete))
}

fn targets_text(t: &str) -> String {
    t.split(',')
        .map(target_label)
        .collect::<Vec<_>>()
        .join("、")
}

async fn page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult<Markup> {
    let list = critical::routes(&st, &a.ctx).await?;
    let names: HashMap<i64, String> = orgs_for(&st, &a.ctx, perm::INTEGRATION_READ)
        .await?
        .into_iter()
        .collect();
    let manage = orgs_for(&st, &a.ctx, perm::CRITICAL_MANAGE).await?;
    Ok(shell(
        &st.nav,
        &a,
        "危急值通知规则",
        "/integration/critical-routes",
        html! {
            (msgs(&q))
            p.muted { "检验、检查系统发来的危急值先按“步骤0”立即通知；在设定的分钟数内仍无人确认，则按后续步骤逐级升级通知。规则可按科室单独设置，科室规则优先于全院规则。" }
            div.card {
                h2 { "未设置规则时的默认流程" }
                ol { @for (delay, targets) in DEFAULT_STEPS {
                    li { @if *delay == 0 { "立即" } @else { (delay) "分钟内无人确认" } "：通知" (targets.iter().map(|t| target_label(t)).collect::<Vec<_>>().join("、")) }
                } }
                p.muted { "主管医生按就诊记录的主管医生姓名匹配本机构已关联账号的人员；病区护士按病区（PV1-3）或科室匹配科室下的护士。找不到任何人时通知机构管理员，提醒不会丢失。" }
            }
            div.table-wrap { table {
                thead { tr { th { "机构" } th { "科室" } th { "步骤" } th { "延迟" } th { "通知对象" } th {} } }
                tbody {
                    @for r in &list { tr {
                        td { (names.get(&r.org_id).cloned().unwrap_or_default()) }
                        td { @if r.department.is_empty() { "全院" } @else { (r.department) } }
                        td { @if r.step == 0 { "即时" } @else { "第" (r.step) "次升级" } }
                        td { @if r.step == 0 { "—" } @else { (r.delay_minutes) " 分钟" } }
                        td { (targets_text(&r.targets)) }
                        td { @if manage.iter().any(|(id, _)| *id == r.org_id) {
                            form.inline method="post" action=(format!("/integration/critical-routes/{}/delete", r.id)) {
                                (csrf(&a)) button.link type="submit" { "删除" }
                            }
                        } }
                    } }
                    @if list.is_empty() { tr { td colspan="6" { span.muted { "尚未设置规则，按默认流程通知。" } } } }
                }
            } }
            @if !manage.is_empty() {
                div.card {
                    h2 { "新增规则" }
                    form method="post" action="/integration/critical-routes" {
                        (csrf(&a))
                        div.fields {
                            div { label for="org_id" { "机构" } select #org_id name="org_id" { @for (id, n) in &manage { option value=(id) { (n) } } } }
                            div { label for="department" { "科室（留空为全院）" } input #department type="text" name="department" maxlength="50"; }
                            div { label for="step" { "步骤" } select #step name="step" {
                                option value="0" { "即时通知" }
                                @for s in 1..=5 { option value=(s) { "第" (s) "次升级" } }
                            } }
                            div { label for="delay" { "无人确认多少分钟后（升级步骤）" } input #delay type="number" name="delay_minutes" min="0" max="240" value="0"; }
                        }
                        fieldset { legend { "通知对象" }
                            @for (code, label) in TARGETS { label.chk { input type="checkbox" name="targets" value=(code); " " (label) } " " }
                        }
                        button type="submit" { "保存规则" }
                    }
                }
            }
        },
    ))
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
            critical::add_route(&st, &a.ctx, &input)
                .await
                .map(|_| "规则已保存".to_string())
        }
        _ => Err(yiyang_core::AppError::validation(
            "critical.route_number",
            "机构、步骤和延迟须为数字",
        )),
    };
    back("/integration/critical-routes", r)
}

async fn delete(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    let r = critical::delete_route(&st, &a.ctx, id)
        .await
        .map(|_| "规则已删除".to_string());
    back("/integration/critical-routes", r)
}
