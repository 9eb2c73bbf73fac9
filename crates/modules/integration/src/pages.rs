//! Pages of the integration engine.

use crate::channels::{self, Channel, ChannelInput};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::web::layout::{badge, csrf, flash, opt_ts, shell};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Authed, Page, PageResult};
use yiyang_store::{Filter, args};

type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/integration/channels",
            get(channels_page).post(channel_create),
        )
        .route(
            "/integration/channels/{id}",
            get(channel_page).post(channel_update),
        )
        .route("/integration/channels/{id}/delete", post(channel_delete))
}

pub(crate) fn p<'a>(q: &'a Params, k: &str) -> &'a str {
    q.get(k).map(String::as_str).unwrap_or("")
}

pub(crate) fn msgs(q: &Params) -> Markup {
    flash(
        q.get("ok").map(String::as_str),
        q.get("err").map(String::as_str),
    )
}

/// Institutions the caller may hold `permission` for, as (id, name).
pub(crate) async fn orgs_for(
    st: &AppState,
    ctx: &RequestContext,
    permission: &str,
) -> AppResult<Vec<(i64, String)>> {
    let Some(scope) = ctx.scope_of(permission) else {
        return Ok(vec![]);
    };
    let mut f = Filter::new();
    if let Some(ids) = scope.org_ids() {
        f.any_of("id", &ids);
    }
    st.db
        .fetch_all(
            &format!("SELECT id, name FROM orgs{} ORDER BY code", f.sql()),
            f.args,
        )
        .await
}

pub(crate) fn listen_badge(c: &Channel) -> Markup {
    match (c.enabled, c.listen_state.as_str()) {
        (false, _) => badge("mute", "已停用"),
        (true, "listening") => badge("ok", "监听中"),
        (true, "error") => badge("err", "监听失败"),
        _ => badge("warn", "启动中"),
    }
}

fn channel_form(a: &Authed, action: &str, orgs: &[(i64, String)], c: Option<&Channel>) -> Markup {
    let v = |f: fn(&Channel) -> String| c.map(f).unwrap_or_default();
    html! { form.grid method="post" action=(action) {
        (csrf(a))
        div { label for="name" { "通道名称" span.req { "*" } } input #name type="text" name="name" value=(v(|c| c.name.clone())) required placeholder="如 人民医院HIS-ADT"; }
        div { label for="org_id" { "所属机构" span.req { "*" } } select #org_id name="org_id" {
            @for (id, n) in orgs { option value=(id) selected[c.is_some_and(|c| c.org_id == *id)] { (n) } }
        } }
        div { label for="port" { "监听端口" span.req { "*" } } input #port type="number" min="1024" max="65535" name="port" value=(v(|c| c.port.to_string())) required; }
        div { label for="types" { "接收的消息类型" span.req { "*" } } input #types type="text" name="message_types" value=(c.map(|c| c.message_types.clone()).unwrap_or_else(|| "ADT^A01,ADT^A02,ADT^A03,ADT^A04,ADT^A08,ADT^A40,ORU^R01".into())) required; }
        div { label for="apps" { "允许的发送系统（MSH-3）" } input #apps type="text" name="allowed_apps" value=(v(|c| c.allowed_apps.clone())) placeholder="逗号分隔，留空为不限"; }
        div { label for="facs" { "允许的发送机构（MSH-4）" } input #facs type="text" name="allowed_facilities" value=(v(|c| c.allowed_facilities.clone())) placeholder="逗号分隔，留空为不限"; }
        div { label for="maxc" { "最大连接数" } input #maxc type="number" min="1" max="256" name="max_connections" value=(c.map(|c| c.max_connections).unwrap_or(8)); }
        div { label for="rto" { "读超时（秒）" } input #rto type="number" min="5" max="3600" name="read_timeout_secs" value=(c.map(|c| c.read_timeout_secs).unwrap_or(30)); }
        div { label.chk for="enabled" { input #enabled type="checkbox" name="enabled" value="1" checked[c.is_none_or(|c| c.enabled)]; " 启用" } }
        div { button type="submit" { (if c.is_some() { "保存修改" } else { "新建通道" }) } }
    } }
}

fn num(f: &Params, k: &str) -> i64 {
    let v = p(f, k).trim();
    if v.is_empty() {
        0
    } else {
        v.parse().unwrap_or(-1)
    }
}

fn channel_input(f: &Params) -> ChannelInput {
    ChannelInput {
        org_id: num(f, "org_id"),
        name: p(f, "name").into(),
        port: num(f, "port"),
        allowed_apps: p(f, "allowed_apps").into(),
        allowed_facilities: p(f, "allowed_facilities").into(),
        message_types: p(f, "message_types").into(),
        enabled: p(f, "enabled") == "1",
        max_connections: num(f, "max_connections"),
        read_timeout_secs: num(f, "read_timeout_secs"),
    }
}

async fn channels_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    let list = channels::list(&st, &a.ctx).await?;
    let orgs = orgs_for(&st, &a.ctx, perm::INTEGRATION_MANAGE).await?;
    let names: HashMap<i64, String> = orgs_for(&st, &a.ctx, perm::INTEGRATION_READ)
        .await?
        .into_iter()
        .collect();
    Ok(shell(
        &st.nav,
        &a,
        "系统接入管理",
        "/integration/channels",
        html! {
            (msgs(&q))
            p.muted { "每个通道在一个端口上以 MLLP 协议接收 HL7 v2 消息；消息先落库再回执（ACK）。启用、停用或修改后，各节点数秒内自动重启监听。" }
            div.table-wrap { table {
                thead { tr { th { "名称" } th { "所属机构" } th { "端口" } th { "消息类型" } th { "发送系统" } th { "状态" } th { "最近检查" } } }
                tbody {
                    @for c in &list { tr {
                        td { a href=(format!("/integration/channels/{}", c.id)) { (c.name) } }
                        td { (names.get(&c.org_id).cloned().unwrap_or_default()) }
                        td.mono { (c.port) }
                        td.mono { (c.message_types) }
                        td { @if c.allowed_apps.is_empty() { span.muted { "不限" } } @else { (c.allowed_apps) } }
                        td { (listen_badge(c)) @if !c.listen_error.is_empty() { " " span.muted { (c.listen_error) } } }
                        td { (opt_ts(c.listen_checked_at)) }
                    } }
                    @if list.is_empty() { tr { td colspan="7" { span.muted { "尚未配置接入通道" } } } }
                }
            } }
            @if !orgs.is_empty() {
                h2 { "新建通道" }
                div.card { (channel_form(&a, "/integration/channels", &orgs, None)) }
            }
        },
    ))
}

async fn channel_create(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    match channels::create(&st, &a.ctx, channel_input(&f)).await {
        Ok(id) => back(
            &format!("/integration/channels/{id}"),
            Ok("通道已创建，数秒内开始监听".into()),
        ),
        Err(e) => back("/integration/channels", Err(e)),
    }
}

async fn channel_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    let c = channels::get(&st, &a.ctx, id).await?;
    let can_manage = a.ctx.has_for(perm::INTEGRATION_MANAGE, c.org_id);
    let orgs = orgs_for(&st, &a.ctx, perm::INTEGRATION_MANAGE).await?;
    let org_name: Option<(String,)> = st
        .db
        .fetch_optional("SELECT name FROM orgs WHERE id = $1", args![c.org_id])
        .await?;
    Ok(shell(
        &st.nav,
        &a,
        &c.name,
        "/integration/channels",
        html! {
            (msgs(&q))
            div.card { dl.kv {
                dt { "状态" } dd { (listen_badge(&c)) @if !c.listen_error.is_empty() { " " (c.listen_error) } }
                dt { "所属机构" } dd { (org_name.map(|o| o.0).unwrap_or_default()) }
                dt { "监听端口" } dd.mono { (c.port) }
                dt { "消息类型" } dd.mono { (c.message_types) }
                dt { "发送系统" } dd { @if c.allowed_apps.is_empty() { "不限" } @else { (c.allowed_apps) } }
                dt { "发送机构" } dd { @if c.allowed_facilities.is_empty() { "不限" } @else { (c.allowed_facilities) } }
                dt { "最大连接数 / 读超时" } dd { (c.max_connections) " / " (c.read_timeout_secs) " 秒" }
                dt { "最近检查" } dd { (opt_ts(c.listen_checked_at)) }
            } }
            div.toolbar {
                a.btn.secondary href=(format!("/integration/messages?channel_id={id}")) { "查看本通道消息" }
                @if can_manage {
                    form.inline method="post" action=(format!("/integration/channels/{id}/delete")) {
                        (csrf(&a)) button.danger type="submit" { "删除通道" }
                    }
                }
            }
            @if can_manage {
                h2 { "修改通道" }
                div.card { (channel_form(&a, &format!("/integration/channels/{id}"), &orgs, Some(&c))) }
            }
        },
    ))
}

async fn channel_update(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let r = channels::update(&st, &a.ctx, id, channel_input(&f)).await;
    back(
        &format!("/integration/channels/{id}"),
        r.map(|_| "已保存，监听将在数秒内按新配置重启".into()),
    )
}

async fn channel_delete(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
) -> Response {
    match channels::delete(&st, &a.ctx, id).await {
        Ok(()) => back("/integration/channels", Ok("通道已删除".into())),
        Err(e) => back(&format!("/integration/channels/{id}"), Err(e)),
    }
}
