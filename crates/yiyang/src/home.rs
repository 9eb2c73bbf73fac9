//! The home dashboard and the browsable API documentation page.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use maud::{Markup, html};
use yiyang_core::perm;
use yiyang_platform::web::layout::shell;
use yiyang_platform::web::{AppState, Page, PageResult};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/api/docs", get(api_docs))
}

async fn home(State(st): State<AppState>, Page(a): Page) -> PageResult<Markup> {
    let ctx = &a.ctx;
    let unread = yiyang_platform::notify::unread_count(&st.db, ctx.actor.id).await?;
    let mut cards: Vec<(String, i64, String)> =
        vec![("未读消息".into(), unread, "/inbox?unread=1".into())];
    if ctx.has(perm::ORG_READ) {
        let orgs = yiyang_basedata::service::list_orgs(&st, ctx, &Default::default()).await?;
        for (k, l) in yiyang_basedata::service::ORG_KINDS
            .iter()
            .filter(|(k, _)| *k != "platform")
        {
            let n = orgs
                .iter()
                .filter(|o| o.kind == *k && o.status == "approved")
                .count() as i64;
            if n > 0 {
                cards.push((l.to_string(), n, format!("/orgs?kind={k}&status=approved")));
            }
        }
    }
    if let Some(scope) = ctx.scope_of(perm::STAFF_READ) {
        let mut f = yiyang_store::Filter::new();
        if let Some(orgs) = scope.org_ids() {
            f.any_of("org_id", &orgs);
        }
        f.raw("deleted_at IS NULL");
        let n = st
            .db
            .scalar(
                &format!("SELECT COUNT(*) FROM staff{}", f.sql()),
                f.args.clone(),
            )
            .await?;
        cards.push(("在册人员".into(), n, "/staff".into()));
        let soon = (yiyang_core::clock::today_cst(st.clock.as_ref()) + chrono::Duration::days(60))
            .format("%Y-%m-%d")
            .to_string();
        let ph = f.next();
        f.args.push(soon.into());
        f.raw(&format!("licence_expiry <= {ph}"));
        let n = st
            .db
            .scalar(&format!("SELECT COUNT(*) FROM staff{}", f.sql()), f.args)
            .await?;
        cards.push((
            "60天内证照到期".into(),
            n,
            "/staff?expiring_within_days=60".into(),
        ));
    }
    if ctx.has(perm::ORG_REVIEW) || ctx.has(perm::STAFF_REVIEW) {
        let (o, s) = yiyang_basedata::service::pending(&st, ctx).await?;
        cards.push((
            "待审核".into(),
            (o.len() + s.len()) as i64,
            "/review".into(),
        ));
    }
    if ctx.has(perm::JOBS_READ) {
        let counts = yiyang_platform::jobs::counts(&st.db).await?;
        let dead = counts
            .iter()
            .find(|(s, _)| s == "dead")
            .map(|(_, n)| *n)
            .unwrap_or(0);
        cards.push(("失败任务".into(), dead, "/jobs?status=dead".into()));
    }
    let resident = ctx
        .actor
        .roles
        .iter()
        .all(|r| r == "elder" || r == "family");
    Ok(shell(
        &st.nav,
        &a,
        "首页",
        "/",
        html! {
            p { "您好，" (ctx.actor.display_name) "。" }
            div.cards { @for (l, n, href) in &cards { a.stat href=(href) { div.n { (n) } div.l { (l) } } } }
            @if resident {
                div.card.big {
                    p { a href="/my" { "查看我的健康档案" } "：最近的测量、正在使用的药、过敏和就诊记录。" }
                    p { "提示：点击页面右上角的“大字模式”可放大文字。" }
                }
            }
        },
    ))
}

/// An operation's summary, with its `backticked` parameter names shown as code.
fn doc_text(s: &str) -> Markup {
    html! {
        @for (i, part) in s.split('`').enumerate() {
            @if i % 2 == 1 { code { (part) } } @else { (part) }
        }
    }
}

async fn api_docs(State(st): State<AppState>, Page(a): Page) -> PageResult<Markup> {
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
    Ok(shell(
        &st.nav,
        &a,
        "接口文档",
        "/api/docs",
        html! {
            p { "机器可读的 OpenAPI 3 文档：" a href="/api/openapi.json" { "/api/openapi.json" } "。接口使用会话 Cookie（写操作须带 x-csrf-token 头）或 OAuth 2.0 Bearer 令牌。" }
            div.table-wrap { table {
                thead { tr { th { "分组" } th { "方法" } th { "路径" } th { "说明" } } }
                tbody { @for (t, m, p, s) in &rows { tr { td { (t) } td.mono { (m) } td.mono { (p) } td { (doc_text(s)) } } } }
            } }
            h2 { "数据结构" }
            p.mono { (schemas.join(" · ")) }
        },
    ))
}
