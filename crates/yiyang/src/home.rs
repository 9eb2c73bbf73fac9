//! The home dashboard and the browsable API documentation page.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::perm;
use yiyang_platform::module::ErrorCode;
use yiyang_platform::web::kit::{self, Col, ListQuery, Table};
use yiyang_platform::web::labels;
use yiyang_platform::web::layout::{shell, with_code};
use yiyang_platform::web::{AppState, Page, PageResult};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/api/docs", get(api_docs))
        .route("/api/docs/errors", get(error_docs))
}

/// The home dashboard of the caller's roles: work queues (待办事项) first, then figures of
/// the caller's area (概况) and charts — every card opens the filtered list it counts, and
/// a module shows only what the caller may open. Residents (elders and families) get a
/// phone-first page with large tiles instead.
async fn home(State(st): State<AppState>, Page(a): Page) -> PageResult<Markup> {
    let ctx = &a.ctx;
    let cards = st.registry.home_cards(&st, ctx).await?;
    let charts = st.registry.home_charts(&st, ctx).await?;
    let resident = !ctx.actor.roles.is_empty()
        && ctx
            .actor
            .roles
            .iter()
            .all(|r| r == "elder" || r == "family");
    let roles = labels::role(&ctx.actor.roles.join(","));
    if resident {
        return Ok(shell(
            &st.nav,
            &a,
            "首页",
            "/",
            html! {
                div.resident-home {
                    p.big { "您好，" (ctx.actor.display_name) "。" }
                    div.tiles {
                        a.tile href="/my" { span.tile-t { "我的健康档案" } span.tile-s { "测量、用药、过敏、就诊" } }
                        @for c in &cards {
                            a.tile href=(c.href) data-card=(c.value) { span.tile-n { (c.value) } span.tile-t { (c.label) } }
                        }
                    }
                    @if !charts.is_empty() {
                        div.charts.resident-charts { @for c in &charts { (c.render()) } }
                    }
                    p.muted { "提示：点击页面右上角的“大字模式”可放大文字。" }
                }
            },
        ));
    }
    let (mut queues, stats): (Vec<_>, Vec<_>) = cards.iter().partition(|c| c.queue);
    // What waits comes first; empty queues stay visible (nothing waiting is news too).
    queues.sort_by_key(|c| c.value == 0);
    let waiting: i64 = queues.iter().map(|c| c.value).sum();
    Ok(shell(
        &st.nav,
        &a,
        "首页",
        "/",
        html! {
            p { "您好，" (ctx.actor.display_name) "。" @if !roles.is_empty() { span.muted { "（" (roles) "）" } } }
            @if !queues.is_empty() {
                section aria-labelledby="home-queues" {
                    h2 #home-queues { "待办事项" @if waiting > 0 { " " span.badge.b-warn { (waiting) } } }
                    div.cards { @for c in &queues {
                        a.stat.queue.todo[c.value > 0] href=(c.href) data-card=(c.value) { div.n { (c.value) } div.l { (c.label) } }
                    } }
                }
            }
            @if !stats.is_empty() {
                section aria-labelledby="home-stats" {
                    h2 #home-stats { "概况" }
                    div.cards { @for c in &stats {
                        a.stat href=(c.href) data-card=(c.value) { div.n { (c.value) } div.l { (c.label) } }
                    } }
                }
            }
            @if !charts.is_empty() {
                section aria-labelledby="home-charts" {
                    h2 #home-charts { "统计图表" }
                    div.charts { @for c in &charts { (c.render()) } }
                }
            }
        },
    ))
}

type Params = HashMap<String, String>;
/// One error code with the module that declares it.
type ErrorRow = (&'static str, ErrorCode);

fn p<'a>(q: &'a Params, k: &str) -> &'a str {
    q.get(k).map(String::as_str).unwrap_or("")
}

/// An operation's summary, with its `backticked` parameter names shown as code.
fn doc_text(s: &str) -> Markup {
    html! {
        @for (i, part) in s.split('`').enumerate() {
            @if i % 2 == 1 { code { (part) } } @else { (part) }
        }
    }
}

/// One operation of the OpenAPI document: (group, method, path, summary).
type Operation = (String, String, String, String);

async fn api_docs(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    a.ctx.require(perm::CLIENT_MANAGE)?;
    let doc = serde_json::to_value(crate::api::openapi()).unwrap_or_default();
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            if let Some(ops) = item.as_object() {
                for (method, op) in ops {
                    let tag = op["tags"][0].as_str().unwrap_or("").to_string();
                    let summary = op["summary"]
                        .as_str()
                        .or(op["description"].as_str())
                        .unwrap_or("")
                        .to_string();
                    rows.push((tag, method.to_uppercase(), path.clone(), summary));
                }
            }
        }
    }
    rows.sort();
    let schemas: Vec<String> = doc["components"]["schemas"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let tags: Vec<String> = {
        let mut t: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        t.dedup();
        t
    };
    let tag = p(&q, "tag");
    let text = p(&q, "q").trim().to_lowercase();
    let shown: Vec<Operation> = rows
        .into_iter()
        .filter(|r| tag.is_empty() || r.0 == tag)
        .filter(|r| {
            text.is_empty()
                || r.2.to_lowercase().contains(&text)
                || r.3.to_lowercase().contains(&text)
        })
        .collect();
    let lq = ListQuery::from_params(&q);
    let page = kit::page_in_memory(shown, &lq);
    let table = Table::new("api-docs", "/api/docs", &q, &lq)
        .col(Col::new("tag", "分组", |r: &Operation| r.0.clone()))
        .col(Col::new("method", "方法", |r: &Operation| r.1.clone()).class("mono"))
        .col(Col::new("path", "路径", |r: &Operation| r.2.clone()).class("mono"))
        .col(
            Col::new("summary", "说明", |r: &Operation| r.3.replace('`', ""))
                .cell(|r| doc_text(&r.3)),
        )
        .empty("没有符合条件的接口");
    if lq.export {
        return table.export(&st, &a.ctx, "接口文档", "api", &page).await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "接口文档",
        "/api/docs",
        html! {
            p { "机器可读的 OpenAPI 3 文档：" a href="/api/openapi.json" { "/api/openapi.json" } "；错误码一览：" a href="/api/docs/errors" { "/api/docs/errors" } "。接口使用会话 Cookie（写操作须带 x-csrf-token 头）或 OAuth 2.0 Bearer 令牌。" }
            (kit::filter_bar("/api/docs", &lq, html! {
                div { label for="tag" { "分组" } select #tag name="tag" {
                    option value="" { "全部" }
                    @for t in &tags { option value=(t) selected[tag == t] { (t) } }
                } }
                div { label for="q" { "路径/说明" } input #q type="search" name="q" value=(p(&q, "q")); }
            }))
            (table.render(&page, &a))
            h2 { "数据结构" }
            p.mono { (schemas.join(" · ")) }
        },
    )
    .into_response())
}

/// The error codes of every module (zh-CN table), behind the same permission as /api/docs.
async fn error_docs(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    a.ctx.require(perm::CLIENT_MANAGE)?;
    let codes = crate::api::error_codes(&st.registry);
    let modules: Vec<&'static str> = {
        let mut m: Vec<&'static str> = codes.iter().map(|(m, _)| *m).collect();
        m.sort();
        m.dedup();
        m
    };
    let module = p(&q, "module");
    let text = p(&q, "q").trim().to_lowercase();
    let shown: Vec<ErrorRow> = codes
        .into_iter()
        .filter(|(m, _)| module.is_empty() || *m == module)
        .filter(|(_, e)| {
            text.is_empty() || e.code.contains(&text) || e.message.to_lowercase().contains(&text)
        })
        .collect();
    let lq = ListQuery::from_params(&q);
    let page = kit::page_in_memory(shown, &lq);
    let table = Table::new("error-codes", "/api/docs/errors", &q, &lq)
        .col(Col::new("code", "错误码", |r: &ErrorRow| r.1.code.to_string()).class("mono"))
        .col(
            Col::new("status", "HTTP 状态", |r: &ErrorRow| {
                r.1.status.to_string()
            })
            .class("mono")
            .numeric(),
        )
        .col(
            Col::new("message", "说明", |r: &ErrorRow| r.1.message.to_string())
                .cell(|r| with_code(r.1.message)),
        )
        .col(Col::new("module", "模块", |r: &ErrorRow| {
            st.registry.title(r.0).to_string()
        }))
        .empty("没有符合条件的错误码");
    if lq.export {
        return table.export(&st, &a.ctx, "错误码", "api", &page).await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "错误码",
        "/api/docs",
        html! {
            p { "接口出错时返回 JSON 正文 " code { "{code, message, details, request_id}" } "，" code { "code" } " 为下表中的稳定错误码，" code { "message" } " 为中文说明（可能比下表更具体）。" a href="/api/docs" { "返回接口文档" } }
            (kit::filter_bar("/api/docs/errors", &lq, html! {
                div { label for="module" { "模块" } select #module name="module" {
                    option value="" { "全部" }
                    @for m in &modules { option value=(m) selected[module == *m] { (st.registry.title(m)) } }
                } }
                div { label for="q" { "错误码/说明" } input #q type="search" name="q" value=(p(&q, "q")); }
            }))
            (table.render(&page, &a))
        },
    )
    .into_response())
}
