//! Pages of the integration engine.

use crate::channels::{self, ACK_MODES, Channel, ChannelInput, TLS_MODES};
use crate::engine::{self, StoredMessage};
use crate::messages::{self, MessageQuery, STATUSES, Unmask, status_label};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::web::chart::{self, Series};
use yiyang_platform::web::kit::{
    BatchAction, Col, FormError, ListQuery, Table, dialog, dialog_button, filter_bar, form_failed,
    page_in_memory,
};
use yiyang_platform::web::labels;
use yiyang_platform::web::layout::{badge, csrf, flash, opt_ts, shell, ts};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Authed, Page, PageResult};
use yiyang_store::Filter;

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
        .route("/integration/monitor", get(monitor_page))
        .route("/integration/screen", get(screen_page))
        .route("/integration/messages", get(messages_page))
        .route("/integration/messages/{id}", get(message_page))
        .route("/integration/messages/{id}/replay", post(message_replay))
        .route("/integration/errors", get(errors_page))
        .route("/integration/alerts", get(alerts_page))
        .route("/integration/alerts/{id}/ack", post(alert_ack))
        .route("/integration/alerts/ack", post(alerts_ack))
        .route("/integration/orders", get(orders_page))
        .route("/integration/appointments", get(appointments_page))
        .merge(crate::outbound_pages::routes())
        .merge(crate::critical_pages::routes())
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
    yiyang_basedata::service::org_choices(&st.db, false, scope.org_ids().as_deref()).await
}

fn listen_state(c: &Channel) -> (&'static str, &'static str) {
    match (c.enabled, c.listen_state.as_str()) {
        (false, _) => ("mute", "已停用"),
        (true, "listening") => ("ok", "监听中"),
        (true, "error") => ("err", "监听失败"),
        _ => ("warn", "启动中"),
    }
}

pub(crate) fn listen_badge(c: &Channel) -> Markup {
    let (k, l) = listen_state(c);
    badge(k, l)
}

fn channel_form(
    a: &Authed,
    action: &str,
    orgs: &[(i64, String)],
    c: Option<&Channel>,
    e: &FormError,
) -> Markup {
    let v = |f: fn(&Channel) -> String| c.map(f).unwrap_or_default();
    let types = c
        .map(|c| c.message_types.clone())
        .unwrap_or_else(|| "ADT^A01,ADT^A02,ADT^A03,ADT^A04,ADT^A08,ADT^A40,ORU^R01".into());
    html! { form.grid method="post" action=(action) {
        (csrf(a))
        (e.input("name", "通道名称", &v(|c| c.name.clone())).required().placeholder("如 人民医院HIS-ADT"))
        (e.select("org_id", "所属机构", orgs.iter().cloned(), &v(|c| c.org_id.to_string()), None).required())
        (e.input("port", "监听端口", &v(|c| c.port.to_string())).kind("number").range("1024", "65535").required())
        (e.input("message_types", "接收的消息类型", &types).required())
        (e.input("allowed_apps", "允许的发送系统（MSH-3）", &v(|c| c.allowed_apps.clone())).placeholder("逗号分隔，留空为不限"))
        (e.input("allowed_facilities", "允许的发送机构（MSH-4）", &v(|c| c.allowed_facilities.clone())).placeholder("逗号分隔，留空为不限"))
        (e.input("max_connections", "最大连接数", &c.map(|c| c.max_connections).unwrap_or(8).to_string()).kind("number").range("1", "256"))
        (e.input("read_timeout_secs", "读超时（秒）", &c.map(|c| c.read_timeout_secs).unwrap_or(30).to_string()).kind("number").range("5", "3600"))
        (e.select("ack_mode", "应答方式", ACK_MODES.iter().copied(), c.map_or("commit", |c| c.ack_mode.as_str()), None))
        (e.select("tls_mode", "传输加密", TLS_MODES.iter().copied(), c.map_or("off", |c| c.tls_mode.as_str()), None))
        (e.input("tls_cert", "服务器证书（PEM 文件路径）", &v(|c| c.tls_cert.clone())).placeholder("如 /etc/yiyang/mllp/server.crt"))
        (e.input("tls_key", "服务器私钥（PEM 文件路径）", &v(|c| c.tls_key.clone())).placeholder("如 /etc/yiyang/mllp/server.key"))
        (e.input("tls_client_ca", "客户端 CA 证书（双向 TLS，PEM 文件路径）", &v(|c| c.tls_client_ca.clone())))
        div { (e.check("enabled", "1", "启用", c.is_none_or(|c| c.enabled))) }
        div { button type="submit" { (if c.is_some() { "保存修改" } else { "新建通道" }) } }
    } }
}

fn label_of(list: &[(&str, &'static str)], code: &str) -> &'static str {
    list.iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
        .unwrap_or("")
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
        ack_mode: p(f, "ack_mode").into(),
        tls_mode: p(f, "tls_mode").into(),
        tls_cert: p(f, "tls_cert").into(),
        tls_key: p(f, "tls_key").into(),
        tls_client_ca: p(f, "tls_client_ca").into(),
    }
}

async fn channels_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    channels_view(&st, &a, &q, None).await
}

async fn channels_view(
    st: &AppState,
    a: &Authed,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let lq = ListQuery::from_params(q);
    let text = p(q, "q").trim().to_lowercase();
    let org_filter = p(q, "org_id");
    let state = p(q, "state");
    yiyang_core::text::one_of(
        "state",
        "状态",
        state,
        &["", "enabled", "disabled", "error"],
    )?;
    let all: Vec<Channel> = channels::list(st, &a.ctx)
        .await?
        .into_iter()
        .filter(|c| {
            text.is_empty() || c.name.to_lowercase().contains(&text) || c.port.to_string() == text
        })
        .filter(|c| org_filter.is_empty() || c.org_id.to_string() == org_filter)
        .filter(|c| match state {
            "enabled" => c.enabled,
            "disabled" => !c.enabled,
            "error" => !c.listen_error.is_empty(),
            _ => true,
        })
        .collect();
    let list = page_in_memory(all, &lq);
    let orgs = orgs_for(st, &a.ctx, perm::INTEGRATION_MANAGE).await?;
    let readable = orgs_for(st, &a.ctx, perm::INTEGRATION_READ).await?;
    let names: HashMap<i64, String> = readable.iter().cloned().collect();
    let table = Table::new("channels", "/integration/channels", q, &lq)
        .col(
            Col::new("name", "名称", |c: &Channel| c.name.clone())
                .cell(|c| html! { a href=(format!("/integration/channels/{}", c.id)) { (c.name) } }),
        )
        .col(Col::new("org", "所属机构", |c: &Channel| names.get(&c.org_id).cloned().unwrap_or_default()))
        .col(Col::new("port", "端口", |c: &Channel| c.port.to_string()).class("mono").numeric())
        .col(Col::new("types", "消息类型", |c: &Channel| c.message_types.clone()).class("mono"))
        .col(
            Col::new("apps", "发送系统", |c: &Channel| {
                if c.allowed_apps.is_empty() { "不限".to_string() } else { c.allowed_apps.clone() }
            }),
        )
        .col(
            Col::new("state", "状态", |c: &Channel| {
                let (_, l) = listen_state(c);
                if c.listen_error.is_empty() { l.to_string() } else { format!("{l} {}", c.listen_error) }
            })
            .cell(|c| html! { (listen_badge(c)) @if !c.listen_error.is_empty() { " " span.muted { (c.listen_error) } } }),
        )
        .col(Col::new("checked", "最近检查", |c: &Channel| opt_ts(c.listen_checked_at)).class("nowrap"))
        .empty("尚未配置接入通道");
    if lq.export {
        return table.export(st, &a.ctx, "接入通道", "channel", &list).await;
    }
    let err = FormError::pick("channel", q, failed);
    Ok(shell(
        &st.nav,
        a,
        "系统接入管理",
        "/integration/channels",
        html! {
            @if !err.is_some() { (msgs(q)) }
            p.muted { "每个通道在一个端口上以 MLLP 协议接收 HL7 v2 消息；消息先落库再回执（ACK）。启用、停用或修改后，各节点数秒内自动重启监听。" }
            (filter_bar("/integration/channels", &lq, html! {
                div { label for="q" { "名称/端口" } input #q type="search" name="q" value=(p(q, "q")); }
                div { label for="org" { "所属机构" } select #org name="org_id" {
                    option value="" { "全部" }
                    @for (id, n) in &readable { option value=(id) selected[org_filter == id.to_string()] { (n) } }
                } }
                div { label for="state" { "状态" } select #state name="state" {
                    option value="" { "全部" }
                    @for (v, l) in [("enabled", "已启用"), ("disabled", "已停用"), ("error", "监听异常")] { option value=(v) selected[state == v] { (l) } }
                } }
            }))
            @if !orgs.is_empty() {
                div.page-actions { (dialog_button("channel", "新建通道", "/integration/channels")) }
                (dialog(&err, "新建通道", "/integration/channels", channel_form(a, "/integration/channels", &orgs, None, &err)))
            }
            (table.render(&list, a))
        },
    )
    .into_response())
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
        Err(e) => {
            let failed = FormError::from_error("channel", &e, f);
            form_failed(
                &e,
                channels_view(&st, &a, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn channel_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    channel_view(&st, &a, id, &q, None).await
}

async fn channel_view(
    st: &AppState,
    a: &Authed,
    id: i64,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult<Markup> {
    let c = channels::get(st, &a.ctx, id).await?;
    let can_manage = a.ctx.has_for(perm::INTEGRATION_MANAGE, c.org_id);
    let orgs = orgs_for(st, &a.ctx, perm::INTEGRATION_MANAGE).await?;
    let edit = FormError::pick("channel-edit", q, failed);
    let here = format!("/integration/channels/{id}");
    let org_name = yiyang_basedata::service::org_names(&st.db, &[c.org_id])
        .await?
        .remove(&c.org_id);
    Ok(shell(
        &st.nav,
        a,
        &c.name,
        "/integration/channels",
        html! {
            @if !edit.is_some() { (msgs(q)) }
            div.card { dl.kv {
                dt { "状态" } dd { (listen_badge(&c)) @if !c.listen_error.is_empty() { " " (c.listen_error) } }
                dt { "所属机构" } dd { (org_name.unwrap_or_default()) }
                dt { "监听端口" } dd.mono { (c.port) }
                dt { "消息类型" } dd.mono { (c.message_types) }
                dt { "发送系统" } dd { @if c.allowed_apps.is_empty() { "不限" } @else { (c.allowed_apps) } }
                dt { "发送机构" } dd { @if c.allowed_facilities.is_empty() { "不限" } @else { (c.allowed_facilities) } }
                dt { "最大连接数 / 读超时" } dd { (c.max_connections) " / " (c.read_timeout_secs) " 秒" }
                dt { "应答方式" } dd { (label_of(ACK_MODES, &c.ack_mode)) }
                dt { "传输加密" } dd { (label_of(TLS_MODES, &c.tls_mode)) @if c.tls_mode != "off" { " " span.mono { (c.tls_cert) } } }
                dt { "最近检查" } dd { (opt_ts(c.listen_checked_at)) }
            } }
            div.toolbar {
                @if can_manage { (dialog_button("channel-edit", "修改通道", &here)) }
                a.btn.secondary href=(format!("/integration/messages?channel_id={id}")) { "查看本通道消息" }
                @if can_manage {
                    form.inline method="post" action=(format!("/integration/channels/{id}/delete")) {
                        (csrf(a)) button.danger type="submit" data-confirm="删除后该端口停止接收消息，已收到的消息保留。确定删除？" { "删除通道" }
                    }
                }
            }
            @if can_manage {
                (dialog(&edit, "修改通道", &here, channel_form(a, &here, &orgs, Some(&c), &edit)))
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
    match channels::update(&st, &a.ctx, id, channel_input(&f)).await {
        Ok(_) => back(
            &format!("/integration/channels/{id}"),
            Ok("已保存，监听将在数秒内按新配置重启".into()),
        ),
        Err(e) => {
            let failed = FormError::from_error("channel-edit", &e, f);
            form_failed(
                &e,
                channel_view(&st, &a, id, &Params::new(), Some(&failed)).await,
            )
        }
    }
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

fn status_badge(s: &str) -> Markup {
    let kind = match s {
        "processed" => "ok",
        "error" | "rejected" => "err",
        "duplicate" | "superseded" => "mute",
        _ => "warn",
    };
    badge(kind, status_label(s))
}

/// The message list (消息查询 and the error queue share it).
fn message_table<'a>(
    id: &'static str,
    path: &'a str,
    q: &'a Params,
    lq: &'a ListQuery,
    names: &'a HashMap<i64, String>,
) -> Table<'a, StoredMessage> {
    Table::new(id, path, q, lq)
        .col(
            Col::new("id", "编号", |m: &StoredMessage| m.id.to_string())
                .numeric()
                .cell(|m| html! { a href=(format!("/integration/messages/{}", m.id)) { (m.id) } }),
        )
        .col(
            Col::new("received_at", "接收时间", |m: &StoredMessage| {
                ts(m.received_at)
            })
            .class("nowrap"),
        )
        .col(Col::new("channel", "通道", move |m: &StoredMessage| {
            names.get(&m.channel_id).cloned().unwrap_or_default()
        }))
        .col(
            Col::new(
                "control_id",
                "控制号（MSH-10）",
                |m: &StoredMessage| m.control_id.clone(),
            )
            .class("mono"),
        )
        .col(
            Col::new("type", "类型", |m: &StoredMessage| {
                format!("{}^{}", m.msg_type, m.trigger_event)
            })
            .class("mono"),
        )
        .col(Col::new(
            "sending_app",
            "发送系统",
            |m: &StoredMessage| m.sending_app.clone(),
        ))
        .col(
            Col::new("patient_key", "患者标识", |m: &StoredMessage| {
                m.patient_key.clone()
            })
            .class("mono")
            .hidden(),
        )
        .col(
            Col::new("status", "状态", |m: &StoredMessage| {
                status_label(&m.status).to_string()
            })
            .cell(|m| status_badge(&m.status)),
        )
        .col(Col::new("ack", "ACK", |m: &StoredMessage| m.ack_code.clone()).class("mono"))
        .col(Col::new("error", "原因", |m: &StoredMessage| {
            m.error.clone()
        }))
        .empty("没有符合条件的消息")
}

async fn channel_names(st: &AppState, ctx: &RequestContext) -> AppResult<HashMap<i64, String>> {
    Ok(channels::list(st, ctx)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

fn ack_text(r: &yiyang_platform::web::metrics::Recent) -> String {
    if r.count == 0 {
        "—".into()
    } else {
        format!("{:.1} / {:.1} 毫秒", r.p50_ms, r.p99_ms)
    }
}

async fn monitor_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let stats = messages::monitor(&st, &a.ctx).await?;
    let today: i64 = stats.iter().map(|s| s.today).sum();
    let queue: i64 = stats.iter().map(|s| s.queue).sum();
    let listening = stats
        .iter()
        .filter(|s| s.channel.enabled && s.channel.listen_state == "listening")
        .count();
    let rate: f64 = stats.iter().map(|s| s.per_minute).sum();
    let (hours, per_channel) = messages::hourly(&st, &a.ctx, 24).await?;
    let hourly = chart::line(
        "近24小时每小时消息量",
        &hours,
        &per_channel
            .iter()
            .map(|(n, v)| Series::new(n.clone(), v.iter().map(|x| *x as f64)))
            .collect::<Vec<_>>(),
    );
    let names: Vec<String> = stats.iter().map(|s| s.channel.name.clone()).collect();
    let per_channel_today = chart::bar(
        "今日各通道消息与异常",
        &names,
        &[
            Series::new("今日消息", stats.iter().map(|s| s.today as f64)),
            Series::new("今日异常", stats.iter().map(|s| s.errors_today as f64)),
        ],
    );
    let errors_today: i64 = stats.iter().map(|s| s.errors_today).sum();
    let error_rate = if today > 0 {
        errors_today as f64 * 100.0 / today as f64
    } else {
        0.0
    };
    let gauge = chart::gauge(
        "今日错误率",
        "失败+拒收/全部",
        error_rate,
        (error_rate * 1.5).ceil().max(5.0),
        "%",
    );
    let quadrant = chart::scatter(
        "通道：消息量与错误率",
        "今日消息",
        "错误率（%）",
        &stats
            .iter()
            .map(|s| chart::Point {
                name: s.channel.name.clone(),
                x: s.today as f64,
                y: s.error_rate,
            })
            .collect::<Vec<_>>(),
        Some((
            if stats.is_empty() {
                0.0
            } else {
                today as f64 / stats.len() as f64
            },
            error_rate,
        )),
    );
    let lq = ListQuery::from_params(&q);
    let rows = page_in_memory(stats.clone(), &lq);
    let table = Table::new("monitor", "/integration/monitor", &q, &lq)
        .col(
            Col::new("channel", "通道", |s: &messages::ChannelStats| s.channel.name.clone())
                .cell(|s| html! { a href=(format!("/integration/messages?channel_id={}", s.channel.id)) { (s.channel.name) } }),
        )
        .col(Col::new("port", "端口", |s: &messages::ChannelStats| s.channel.port.to_string()).class("mono"))
        .col(
            Col::new("state", "监听状态", |s: &messages::ChannelStats| listen_state(&s.channel).1.to_string())
                .cell(|s| html! { (listen_badge(&s.channel)) @if !s.channel.listen_error.is_empty() { " " span.muted { (s.channel.listen_error) } } }),
        )
        .col(Col::new("today", "今日", |s: &messages::ChannelStats| s.today.to_string()).numeric())
        .col(Col::new("total", "累计", |s: &messages::ChannelStats| s.total.to_string()).numeric())
        .col(Col::new("rate", "速率（条/分）", |s: &messages::ChannelStats| format!("{:.1}", s.per_minute)).numeric())
        .col(Col::new("errors", "今日异常（错误率）", |s: &messages::ChannelStats| format!("{}（{:.1}%）", s.errors_today, s.error_rate)))
        .col(
            Col::new("queue", "异常队列", |s: &messages::ChannelStats| s.queue.to_string())
                .numeric()
                .cell(|s| html! { @if s.queue > 0 { a href=(format!("/integration/messages?channel_id={}&status=queue", s.channel.id)) { (s.queue) } } @else { "0" } }),
        )
        .col(Col::new("pending", "待处理", |s: &messages::ChannelStats| s.pending.to_string()).numeric())
        .col(Col::new("ack", "ACK 延迟 p50 / p99", |s: &messages::ChannelStats| ack_text(&s.ack)))
        .col(Col::new("processing", "处理耗时（均值）", |s: &messages::ChannelStats| {
            s.processing_ms.map(|m| format!("{m:.0} 毫秒")).unwrap_or_else(|| "—".into())
        }))
        .col(Col::new("last", "最近消息", |s: &messages::ChannelStats| opt_ts(s.last_received_at)).class("nowrap"))
        .empty("尚未配置接入通道");
    if lq.export {
        return table
            .export(&st, &a.ctx, "服务监控", "channel", &rows)
            .await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "服务监控",
        "/integration/monitor",
        html! {
            p { a.btn.secondary href="/integration/screen" { "大屏模式（每10秒刷新）" } }
            div.cards {
                div.stat { div.n { (today) } div.l { "今日消息" } }
                div.stat { div.n { (format!("{rate:.1}")) } div.l { "近5分钟速率（条/分）" } }
                a.stat href="/integration/errors" { div.n { (queue) } div.l { "异常队列" } }
                div.stat { div.n { (listening) " / " (stats.len()) } div.l { "监听中的通道" } }
                div.stat { div.n { (stats.iter().map(|s| s.pending).sum::<i64>()) } div.l { "待处理" } }
            }
            div.charts {
                (hourly.render())
                (per_channel_today.render())
                (gauge.render())
                (quadrant.render())
            }
            p.muted { "ACK 延迟为本节点近5分钟的统计（从收到完整消息到回执就绪）；处理耗时为近5分钟从接收到处理完成的平均时间。" }
            (table.render(&rows, &a))
        },
    )
    .into_response())
}

/// The big-screen view of the monitoring figures for a wall display: large, high contrast,
/// refreshing itself every 10 seconds (no script needed).
async fn screen_page(State(st): State<AppState>, Page(a): Page) -> PageResult<Markup> {
    let stats = messages::monitor(&st, &a.ctx).await?;
    let today: i64 = stats.iter().map(|s| s.today).sum();
    let total: i64 = stats.iter().map(|s| s.total).sum();
    let queue: i64 = stats.iter().map(|s| s.queue).sum();
    let errors: i64 = stats.iter().map(|s| s.errors_today).sum();
    let rate: f64 = stats.iter().map(|s| s.per_minute).sum();
    let orgs: Vec<i64> = stats.iter().map(|s| s.channel.org_id).collect();
    let mut f = Filter::new();
    f.any_of("org_id", &orgs);
    f.raw("status = 'open'");
    let open_alerts = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM critical_alerts{}", f.sql()),
            f.args,
        )
        .await?;
    let now = yiyang_core::clock::format_micros_cst(st.clock.now_micros());
    Ok(html! {
        (maud::DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="10";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "集成平台服务监控大屏" }
                link rel="stylesheet" href=(yiyang_platform::web::assets::CSS_PATH);
                // Without an icon link the browser asks for /favicon.ico, which is a 404.
                link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
            }
            body.screen {
                header { h1 { "梅州智慧医养平台 · 集成平台服务监控" } span.muted { "更新于 " (now) " · " a href="/integration/monitor" { "返回" } } }
                div.screen-cards {
                    div.tile { div.n { (today) } div.l { "今日消息" } }
                    div.tile { div.n { (format!("{rate:.1}")) } div.l { "速率（条/分，近5分钟）" } }
                    div.tile { div.n { (total) } div.l { "累计消息" } }
                    div class=(if errors > 0 { "tile warn" } else { "tile" }) { div.n { (errors) } div.l { "今日异常" } }
                    div class=(if queue > 0 { "tile warn" } else { "tile" }) { div.n { (queue) } div.l { "异常队列" } }
                    div class=(if open_alerts > 0 { "tile alert" } else { "tile" }) { div.n { (open_alerts) } div.l { "未确认危急值" } }
                }
                div.screen-channels {
                    @for s in &stats {
                        div class=(if s.channel.enabled && s.channel.listen_state != "listening" { "chan down" } else { "chan" }) {
                            div.name { (s.channel.name) }
                            div { (listen_badge(&s.channel)) " 端口 " (s.channel.port) }
                            div.big { (s.today) " 条" }
                            div { "异常 " (s.errors_today) "（" (format!("{:.1}%", s.error_rate)) "）· 队列 " (s.queue) " · 待处理 " (s.pending) }
                            div { "ACK " (ack_text(&s.ack)) " · 最近 " (opt_ts(s.last_received_at)) }
                        }
                    }
                    @if stats.is_empty() { p { "尚未配置接入通道" } }
                }
            }
        }
    })
}

async fn messages_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let mq = MessageQuery {
        channel_id: q.get("channel_id").and_then(|v| v.parse().ok()),
        control_id: q.get("control_id").cloned(),
        msg_type: q.get("msg_type").cloned(),
        status: q.get("status").cloned(),
        date: q.get("date").cloned(),
        limit: None,
    };
    let lq = ListQuery::from_params(&q);
    let list = messages::search_page(&st, &a.ctx, &mq, &lq.window(&[])).await?;
    let names = channel_names(&st, &a.ctx).await?;
    let table = message_table("messages", "/integration/messages", &q, &lq, &names);
    if lq.export {
        return table
            .export(&st, &a.ctx, "消息查询", "hl7_message", &list)
            .await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "消息查询",
        "/integration/messages",
        html! {
            (msgs(&q))
            (filter_bar("/integration/messages", &lq, html! {
                div { label for="channel_id" { "通道" } select #channel_id name="channel_id" {
                    option value="" { "全部" }
                    @for (id, n) in &names { option value=(id) selected[mq.channel_id == Some(*id)] { (n) } }
                } }
                div { label for="control_id" { "控制号" } input #control_id type="search" name="control_id" value=(p(&q, "control_id")); }
                div { label for="msg_type" { "类型" } input #msg_type type="text" name="msg_type" value=(p(&q, "msg_type")) placeholder="ADT 或 ADT^A01"; }
                div { label for="status" { "状态" } select #status name="status" {
                    option value="" { "全部" }
                    option value="queue" selected[p(&q, "status") == "queue"] { "异常（失败+拒收）" }
                    @for (v, l) in STATUSES { option value=(v) selected[p(&q, "status") == *v] { (l) } }
                } }
                div { label for="date" { "接收日期" } input #date type="date" name="date" value=(p(&q, "date")); }
            }))
            (table.render(&list, &a))
        },
    )
    .into_response())
}

async fn errors_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let mq = MessageQuery {
        channel_id: q.get("channel_id").and_then(|v| v.parse().ok()),
        status: Some("queue".into()),
        ..Default::default()
    };
    let lq = ListQuery::from_params(&q);
    let list = messages::search_page(&st, &a.ctx, &mq, &lq.window(&[])).await?;
    let names = channel_names(&st, &a.ctx).await?;
    let table =
        message_table("errors", "/integration/errors", &q, &lq, &names).empty("异常消息队列是空的");
    if lq.export {
        return table
            .export(&st, &a.ctx, "异常消息队列", "hl7_message", &list)
            .await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "异常消息队列",
        "/integration/errors",
        html! {
            (msgs(&q))
            p.muted { "处理失败（已回 AE）与被拒收（已回 AR）的消息在此等待处理。打开消息可查看原因、修改原文并重放；重放会重新执行处理，历史保留。" }
            (filter_bar("/integration/errors", &lq, html! {
                div { label for="channel_id" { "通道" } select #channel_id name="channel_id" {
                    option value="" { "全部" }
                    @for (id, n) in &names { option value=(id) selected[mq.channel_id == Some(*id)] { (n) } }
                } }
            }))
            (table.render(&list, &a))
        },
    )
    .into_response())
}

async fn message_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
    Query(um): Query<Unmask>,
) -> PageResult {
    let v = match messages::view(&st, &a.ctx, id, &um).await {
        Ok(v) => v,
        Err(e) if um.unmask == Some(true) && e.status != 404 => {
            return Ok(back(&format!("/integration/messages/{id}"), Err(e)));
        }
        Err(e) => return Err(e.into()),
    };
    let m = &v.message;
    let names = channel_names(&st, &a.ctx).await?;
    let can_unmask = a.ctx.has_for(perm::PATIENT_READ_UNMASKED, m.org_id);
    let can_replay = a.ctx.has_for(perm::INTEGRATION_MANAGE, m.org_id)
        && (m.status == "error" || m.status == "rejected");
    let er7 = v.raw.replace('\r', "\n");
    Ok(shell(
        &st.nav,
        &a,
        &format!("消息 {}", m.id),
        "/integration/messages",
        html! {
            (msgs(&q))
            div.card { dl.kv {
                dt { "状态" } dd { (status_badge(&m.status)) @if !m.error.is_empty() { " " (m.error) } }
                dt { "通道" } dd { (names.get(&m.channel_id).cloned().unwrap_or_default()) }
                dt { "控制号（MSH-10）" } dd.mono { (m.control_id) }
                dt { "类型 / 版本" } dd.mono { (m.msg_type) "^" (m.trigger_event) " / " (m.version) }
                dt { "发送系统 / 机构" } dd { (m.sending_app) " / " (m.sending_facility) }
                dt { "患者标识（PID-3）" } dd.mono { (m.patient_key) }
                dt { "接收 / 处理时间" } dd { (ts(m.received_at)) " / " (opt_ts(m.processed_at)) }
                dt { "回执" } dd.mono { (m.ack_code) }
                @if let Some(d) = m.duplicate_of { dt { "重复于" } dd { a href=(format!("/integration/messages/{d}")) { "消息 " (d) } } }
                dt { "处理次数" } dd { (m.attempts) }
            } }
            h2 { "消息原文" @if !v.unmasked { " " span.muted { "（个人信息已脱敏）" } } }
            pre.er7 { (er7) }
            @if can_unmask && !v.unmasked {
                div.toolbar { (yiyang_platform::web::kit::unmask_button(&format!("/integration/messages/{id}"), "如：核对患者身份", &q)) }
            }
            @if !v.ack_text.is_empty() {
                h2 { "回执（ACK）" }
                pre.er7 { (v.ack_text.replace('\r', "\n")) }
            }
            @if can_replay {
                h2 { "重放" }
                div.toolbar {
                    form.inline method="post" action=(format!("/integration/messages/{id}/replay")) {
                        (csrf(&a)) button type="submit" { "按原文重放" }
                    }
                    @if v.unmasked {
                        (dialog_button("replay", "修改原文并重放", &yiyang_platform::web::kit::list_href(&format!("/integration/messages/{id}"), &q, &[])))
                    } @else {
                        span.muted { "如需修改原文，请先以明文查看。" }
                    }
                }
                @if v.unmasked {
                    (dialog(&FormError::from_params(&q, "replay"), "修改原文并重放", &format!("/integration/messages/{id}"), html! {
                        form method="post" action=(format!("/integration/messages/{id}/replay")) {
                            (csrf(&a))
                            label for="replay-raw" { "消息原文（每行一个段）" }
                            textarea.er7-edit #replay-raw name="raw" { (er7) }
                            div { button type="submit" { "保存修改并重放" } }
                        }
                    }))
                }
            }
            h2 { "处理历史" }
            div.table-wrap { table {
                thead { tr { th { "时间" } th { "事件" } th { "操作者" } th { "说明" } } }
                tbody {
                    @for e in &v.events { tr {
                        td { (ts(e.at)) }
                        td { (match e.kind.as_str() { "processed" => "处理成功", "error" => "处理失败", "edit" => "修改原文（下为修改前）", "replay" => "重放", k => k }) }
                        td { (e.actor_login) }
                        td { @if e.kind == "edit" { pre.er7 { (e.detail.replace('\r', "\n")) } } @else { (e.detail) } }
                    } }
                    @if v.events.is_empty() { tr { td colspan="4" { span.muted { "无" } } } }
                }
            } }
        },
    )
    .into_response())
}

async fn message_replay(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let raw = f.get("raw").map(String::as_str);
    match engine::replay(&st, &a.ctx, id, raw).await {
        Ok(o) if o.status == "processed" => back(
            &format!("/integration/messages/{id}"),
            Ok("重放成功，消息已处理".into()),
        ),
        Ok(o) => back(
            &format!("/integration/messages/{id}"),
            Err(yiyang_core::AppError::validation(
                "hl7.replay_failed",
                format!("重放后仍未成功：{}", o.error),
            )),
        ),
        Err(e) => back(&format!("/integration/messages/{id}"), Err(e)),
    }
}

async fn alerts_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let status = match p(&q, "status") {
        "" => Some("open"),
        "all" => None,
        s => Some(s),
    };
    let lq = ListQuery::from_params(&q);
    let list = messages::alerts_page(&st, &a.ctx, status, &lq.window(&[])).await?;
    let highlight: Option<i64> = q.get("id").and_then(|v| v.parse().ok());
    let token = a.csrf().to_string();
    let ctx = a.ctx.clone();
    let ctx2 = a.ctx.clone();
    let table = Table::new("alerts", "/integration/alerts", &q, &lq)
        .col(Col::new("created_at", "时间", |al: &messages::CriticalAlert| ts(al.created_at)).class("nowrap"))
        .col(
            Col::new("person", "患者", |al: &messages::CriticalAlert| al.person_name.clone())
                .cell(|al| html! { a href=(format!("/persons/{}", al.person_id)) { (al.person_name) } }),
        )
        .col(Col::new("ward", "病区", |al: &messages::CriticalAlert| al.ward.clone()))
        .col(Col::new("bed", "床号", |al: &messages::CriticalAlert| al.bed.clone()))
        .col(Col::new("department", "科室", |al: &messages::CriticalAlert| al.department.clone()))
        .col(Col::new("item", "项目", |al: &messages::CriticalAlert| al.item.clone()))
        .col(Col::new("value", "结果", |al: &messages::CriticalAlert| al.value_text.clone()).class("mono"))
        .col(
            Col::new("ref_range", "参考范围", |al: &messages::CriticalAlert| {
                if !al.ref_range.is_empty() && !al.unit.is_empty() {
                    format!("{} {}", al.ref_range, labels::unit(&al.unit))
                } else {
                    al.ref_range.clone()
                }
            })
            .class("mono"),
        )
        .col(
            Col::new("flag", "标志", |al: &messages::CriticalAlert| messages::flag_label(&al.flag).to_string())
                .cell(|al| badge("err", messages::flag_label(&al.flag))),
        )
        .col(
            Col::new("notified", "已通知", |al: &messages::CriticalAlert| {
                if al.level > 0 { format!("已升级{}次 {}", al.level, al.notified) } else { al.notified.clone() }
            })
            .cell(|al| html! { @if al.level > 0 { (badge("warn", &format!("已升级{}次", al.level))) " " } (al.notified) }),
        )
        .col(
            Col::new("message", "来源消息", |al: &messages::CriticalAlert| al.message_id.to_string())
                .hidden()
                .cell(move |al| html! {
                    @if ctx.has_for(perm::INTEGRATION_READ, al.org_id) { a href=(format!("/integration/messages/{}", al.message_id)) { (al.message_id) } } @else { (al.message_id) }
                }),
        )
        .col(
            Col::new("status", "状态", |al: &messages::CriticalAlert| {
                (if al.status == "open" { "待确认" } else { "已确认" }).to_string()
            })
            .cell(|al| html! { @if al.status == "open" { (badge("err", "待确认")) } @else { (badge("ok", "已确认")) } }),
        )
        .col(
            Col::new("ack", "确认", |al: &messages::CriticalAlert| match &al.acknowledged_by {
                Some(by) => format!("{by} {} {}", opt_ts(al.acknowledged_at), al.note),
                None => String::new(),
            })
            .cell(move |al| html! {
                @if al.status == "open" && ctx2.has_for(perm::PATIENT_WRITE, al.org_id) {
                    form.inline method="post" action=(format!("/integration/alerts/{}/ack", al.id)) {
                        input type="hidden" name="_csrf" value=(token);
                        input type="text" name="note" aria-label="处置说明" placeholder="处置说明（可选）";
                        " " button type="submit" { "确认" }
                    }
                } @else if let Some(by) = &al.acknowledged_by {
                    (by) " " (opt_ts(al.acknowledged_at)) @if !al.note.is_empty() { "：" (al.note) }
                }
            }),
        )
        .row_class(move |al| (highlight == Some(al.id)).then_some("hl"))
        .batch(
            |al: &messages::CriticalAlert| al.id,
            if a.ctx.has(perm::PATIENT_WRITE) && status != Some("acknowledged") {
                vec![BatchAction::new("批量确认", "/integration/alerts/ack")]
            } else {
                vec![]
            },
        )
        .empty("没有危急值提醒");
    if lq.export {
        return table
            .export(&st, &a.ctx, "危急值提醒", "critical_alert", &list)
            .await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "危急值提醒",
        "/integration/alerts",
        html! {
            (msgs(&q))
            div.page-actions {
                a.btn.secondary href="/integration/alerts" aria-current=[(status == Some("open")).then_some("true")] { "待确认" }
                a.btn.secondary href="/integration/alerts?status=acknowledged" aria-current=[(status == Some("acknowledged")).then_some("true")] { "已确认" }
                a.btn.secondary href="/integration/alerts?status=all" aria-current=[status.is_none().then_some("true")] { "全部" }
            }
            (table.render(&list, &a))
        },
    )
    .into_response())
}

/// 批量确认: each ticked alert acknowledged on its own (its institution checked against the
/// caller's scope, as for one); every one that could not be is named.
async fn alerts_ack(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let ids = yiyang_platform::web::kit::ids(&f);
    if ids.is_empty() {
        return back(
            "/integration/alerts",
            Err(yiyang_core::AppError::validation(
                "common.batch_empty",
                "请先勾选要处理的记录",
            )),
        );
    }
    let note = f
        .iter()
        .find(|(k, _)| k == "note")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let mut done = 0;
    let mut failures = Vec::new();
    for id in ids {
        match messages::acknowledge(&st, &a.ctx, id, note).await {
            Ok(()) => done += 1,
            Err(e) => failures.push((id, e)),
        }
    }
    back(
        "/integration/alerts",
        yiyang_platform::web::kit::batch_summary(done, &failures)
            .map(|m| format!("{m}：危急值已确认")),
    )
}

async fn alert_ack(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let r = messages::acknowledge(&st, &a.ctx, id, p(&f, "note")).await;
    back("/integration/alerts", r.map(|_| "危急值已确认".into()))
}

const ORDER_STATUSES: &[(&str, &str, &str)] = &[
    ("active", "有效", "ok"),
    ("on-hold", "暂停", "warn"),
    ("completed", "已完成", "mute"),
    ("cancelled", "已取消", "err"),
];

const APPT_STATUSES: &[(&str, &str, &str)] = &[
    ("booked", "已预约", "ok"),
    ("noshow", "未到诊", "warn"),
    ("cancelled", "已取消", "err"),
];

/// The label and badge kind of a status code in `table`; unknown codes shown as they are.
fn state_of<'a>(table: &[(&str, &'a str, &'a str)], s: &'a str) -> (&'a str, &'a str) {
    table
        .iter()
        .find(|(c, _, _)| *c == s)
        .map(|(_, l, k)| (*l, *k))
        .unwrap_or((s, "mute"))
}

fn state_badge(table: &[(&str, &str, &str)], s: &str) -> Markup {
    let (l, k) = state_of(table, s);
    badge(k, l)
}

fn clinical_query(q: &Params) -> messages::ClinicalQuery {
    messages::ClinicalQuery {
        person_id: p(q, "person_id").parse().ok(),
        status: Some(p(q, "status").to_string()).filter(|s| !s.is_empty()),
        no: Some(p(q, "no").trim().to_string()).filter(|s| !s.is_empty()),
        date: Some(p(q, "date").trim().to_string()).filter(|s| !s.is_empty()),
    }
}

fn clinical_filters(q: &Params, statuses: &[(&str, &str, &str)], date_label: &str) -> Markup {
    html! {
        div { label for="no" { "单号" } input #no type="text" name="no" value=(p(q, "no")); }
        div { label for="date" { (date_label) } input #date type="date" name="date" value=(p(q, "date")); }
        div { label for="status" { "状态" } select #status name="status" {
            option value="" { "全部" }
            @for (c, l, _) in statuses { option value=(c) selected[p(q, "status") == *c] { (l) } }
        } }
        @if let Some(pid) = q.get("person_id").filter(|v| !v.is_empty()) { input type="hidden" name="person_id" value=(pid); }
    }
}

async fn orders_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let lq = ListQuery::from_params(&q);
    let rows = messages::orders_page(&st, &a.ctx, &clinical_query(&q), &lq.window(&[])).await?;
    let table = Table::new("orders", "/integration/orders", &q, &lq)
        .col(
            Col::new("placer_no", "申请单号", |o: &messages::Order| {
                o.placer_no.clone()
            })
            .class("mono"),
        )
        .col(
            Col::new("filler_no", "执行单号", |o: &messages::Order| {
                o.filler_no.clone()
            })
            .class("mono"),
        )
        .col(Col::new("service", "项目", |o: &messages::Order| {
            o.service_text.clone()
        }))
        .col(
            Col::new("service_code", "项目编码", |o: &messages::Order| {
                o.service_code.clone()
            })
            .class("mono")
            .hidden(),
        )
        .col(Col::new("priority", "优先级", |o: &messages::Order| {
            o.priority.clone()
        }))
        .col(Col::new(
            "provider",
            "申请医生",
            |o: &messages::Order| o.ordering_provider.clone(),
        ))
        .col(
            Col::new("ordered_at", "申请时间", |o: &messages::Order| {
                opt_ts(o.ordered_at)
            })
            .class("nowrap"),
        )
        .col(
            Col::new("status", "状态", |o: &messages::Order| {
                state_of(ORDER_STATUSES, &o.status).0.to_string()
            })
            .cell(|o| state_badge(ORDER_STATUSES, &o.status)),
        )
        .col(
            Col::new("updated_at", "更新时间", |o: &messages::Order| {
                ts(o.updated_at)
            })
            .class("nowrap"),
        )
        .col(
            Col::new("person", "患者ID", |o: &messages::Order| {
                o.person_id.to_string()
            })
            .cell(|o| html! { a href=(format!("/persons/{}", o.person_id)) { "查看档案" } }),
        )
        .empty("暂无申请单");
    if lq.export {
        return table
            .export(&st, &a.ctx, "检查检验申请单", "orders", &rows)
            .await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "检查检验申请单",
        "/integration/orders",
        html! {
            p.muted { "由 HL7 ORM/OML 消息接收的申请单，按申请单号（ORC-2）保持最新状态。" }
            (filter_bar("/integration/orders", &lq, clinical_filters(&q, ORDER_STATUSES, "开单日期")))
            (table.render(&rows, &a))
        },
    )
    .into_response())
}

async fn appointments_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let lq = ListQuery::from_params(&q);
    let rows =
        messages::appointments_page(&st, &a.ctx, &clinical_query(&q), &lq.window(&[])).await?;
    let table = Table::new("appointments", "/integration/appointments", &q, &lq)
        .col(
            Col::new("appt_no", "预约号", |o: &messages::Appointment| {
                o.appt_no.clone()
            })
            .class("mono"),
        )
        .col(
            Col::new("start_at", "就诊时间", |o: &messages::Appointment| {
                opt_ts(o.start_at)
            })
            .class("nowrap"),
        )
        .col(Col::new(
            "service",
            "服务",
            |o: &messages::Appointment| o.service.clone(),
        ))
        .col(Col::new(
            "location",
            "地点",
            |o: &messages::Appointment| o.location.clone(),
        ))
        .col(Col::new(
            "provider",
            "医生",
            |o: &messages::Appointment| o.provider.clone(),
        ))
        .col(Col::new("reason", "原因", |o: &messages::Appointment| {
            o.reason.clone()
        }))
        .col(
            Col::new("status", "状态", |o: &messages::Appointment| {
                state_of(APPT_STATUSES, &o.status).0.to_string()
            })
            .cell(|o| state_badge(APPT_STATUSES, &o.status)),
        )
        .col(
            Col::new("updated_at", "更新时间", |o: &messages::Appointment| {
                ts(o.updated_at)
            })
            .class("nowrap"),
        )
        .col(
            Col::new("person", "患者ID", |o: &messages::Appointment| {
                o.person_id.to_string()
            })
            .cell(|o| html! { a href=(format!("/persons/{}", o.person_id)) { "查看档案" } }),
        )
        .empty("暂无预约");
    if lq.export {
        return table
            .export(&st, &a.ctx, "预约挂号", "appointments", &rows)
            .await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "预约挂号",
        "/integration/appointments",
        html! {
            p.muted { "由 HL7 SIU 消息接收的预约，按预约号（SCH-2，缺省用 SCH-1）保持最新状态。" }
            (filter_bar("/integration/appointments", &lq, clinical_filters(&q, APPT_STATUSES, "就诊日期")))
            (table.render(&rows, &a))
        },
    )
    .into_response())
}
