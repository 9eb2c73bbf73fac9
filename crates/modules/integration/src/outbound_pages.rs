//! Pages of the outbound subscriptions (发布订阅): subscriptions with their queue figures,
//! the create/edit form (errors shown beside their fields), test events, the deliveries
//! list with the dead-letter queue, one delivery's payload, and retries.

use crate::outbound::{
    self, DeliveryQuery, EVENT_KINDS, KINDS, Subscription, SubscriptionInput, event_label,
    status_label,
};
use crate::pages::{msgs, orgs_for, p};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::{AppError, perm};
use yiyang_platform::masking::Unmask;
use yiyang_platform::web::kit::{self, BatchAction, Col, ListQuery, Table, filter_bar};
use yiyang_platform::web::layout::{badge, csrf, opt_ts, shell, ts};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Authed, Page, PageResult};

type Params = HashMap<String, String>;
/// A submitted form, keeping repeated keys (the event checkboxes).
type Raw = Vec<(String, String)>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/integration/subscriptions",
            get(list_page).post(create_submit),
        )
        .route(
            "/integration/subscriptions/{id}",
            get(detail_page).post(update_submit),
        )
        .route(
            "/integration/subscriptions/{id}/enabled",
            post(enabled_submit),
        )
        .route("/integration/subscriptions/{id}/test", post(test_submit))
        .route(
            "/integration/subscriptions/{id}/retry-dead",
            post(retry_dead_submit),
        )
        .route("/integration/deliveries", get(deliveries_page))
        .route("/integration/deliveries/retry", post(retry_batch))
        .route("/integration/deliveries/{id}", get(delivery_page))
        .route("/integration/deliveries/{id}/retry", post(retry_submit))
}

fn raw_get<'a>(raw: &'a Raw, k: &str) -> &'a str {
    raw.iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn num(raw: &Raw, k: &str, empty: i64) -> i64 {
    let v = raw_get(raw, k).trim();
    if v.is_empty() {
        empty
    } else {
        v.parse().unwrap_or(-1)
    }
}

fn input_from(raw: &Raw) -> SubscriptionInput {
    SubscriptionInput {
        org_id: num(raw, "org_id", 0),
        name: raw_get(raw, "name").into(),
        kind: raw_get(raw, "kind").into(),
        host: raw_get(raw, "host").into(),
        port: num(raw, "port", 0),
        url: raw_get(raw, "url").into(),
        secret: raw_get(raw, "secret").into(),
        events: raw
            .iter()
            .filter(|(k, _)| k == "events")
            .map(|(_, v)| v.clone())
            .collect(),
        enabled: raw_get(raw, "enabled") == "1",
        max_attempts: num(raw, "max_attempts", outbound::default_attempts()),
        timeout_secs: num(raw, "timeout_secs", outbound::default_timeout()),
    }
}

/// The form's state: blank, an existing subscription, or a rejected submission.
struct FormState<'a> {
    existing: Option<&'a Subscription>,
    raw: Option<&'a Raw>,
    err: Option<&'a AppError>,
}

impl FormState<'_> {
    fn value(&self, k: &str, from: impl Fn(&Subscription) -> String, default: &str) -> String {
        match (self.raw, self.existing) {
            (Some(r), _) => raw_get(r, k).to_string(),
            (None, Some(s)) => from(s),
            (None, None) => default.to_string(),
        }
    }

    fn bad(&self, field: &str) -> bool {
        self.err
            .is_some_and(|e| e.details.get("field").and_then(|f| f.as_str()) == Some(field))
    }

    /// The error message beside `field`, when it is the one rejected.
    fn err_for(&self, field: &str) -> Markup {
        html! {
            @if self.bad(field) {
                div.error.small id=(format!("{field}-err")) role="alert" { (self.err.map(|e| e.message.as_str()).unwrap_or("")) }
            }
        }
    }

    fn described(&self, field: &str) -> Option<String> {
        self.bad(field).then(|| format!("{field}-err"))
    }

    fn event_checked(&self, kind: &str) -> bool {
        match (self.raw, self.existing) {
            (Some(r), _) => r.iter().any(|(k, v)| k == "events" && v == kind),
            (None, Some(s)) => s.events.iter().any(|e| e == kind),
            (None, None) => false,
        }
    }
}

const FORM_FIELDS: &[&str] = &[
    "name",
    "org_id",
    "kind",
    "host",
    "port",
    "url",
    "secret",
    "events",
    "max_attempts",
    "timeout_secs",
];

fn subscription_form(
    a: &Authed,
    action: &str,
    orgs: &[(i64, String)],
    f: &FormState<'_>,
) -> Markup {
    let existing = f.existing;
    let org_sel = f.value("org_id", |s| s.org_id.to_string(), "");
    let kind = f.value("kind", |s| s.kind.clone(), "webhook");
    let enabled = match (f.raw, existing) {
        (Some(r), _) => raw_get(r, "enabled") == "1",
        (None, Some(s)) => s.enabled,
        (None, None) => true,
    };
    let general = f
        .err
        .filter(|e| {
            !e.details
                .get("field")
                .and_then(|x| x.as_str())
                .is_some_and(|x| FORM_FIELDS.contains(&x))
        })
        .map(|e| e.message.clone());
    let secret_value = match (f.raw, existing) {
        (Some(r), None) => raw_get(r, "secret").to_string(),
        (None, None) => yiyang_platform::crypto::random_token(),
        _ => String::new(),
    };
    html! {
        @if let Some(m) = general { div.notice.err role="alert" { (m) } }
        @if f.err.is_some() && f.err.is_some_and(|_| FORM_FIELDS.iter().any(|x| f.bad(x))) {
            div.notice.err role="alert" { "未保存：请按各项下方的提示修改" }
        }
        form method="post" action=(action) {
            (csrf(a))
            div.fields {
                div {
                    label for="name" { "订阅名称" span.req { "*" } }
                    input #name type="text" name="name" value=(f.value("name", |s| s.name.clone(), "")) required placeholder="如 区域平台-住院事件" aria-invalid=[f.bad("name").then_some("true")] aria-describedby=[f.described("name")];
                    (f.err_for("name"))
                }
                div {
                    label for="org_id" { "所属机构" span.req { "*" } }
                    @if let Some(s) = existing {
                        input type="hidden" name="org_id" value=(s.org_id);
                        input #org_id type="text" value=(orgs.iter().find(|o| o.0 == s.org_id).map(|o| o.1.as_str()).unwrap_or("")) readonly aria-describedby="org-note";
                        div.muted.small #org-note { "创建后不能修改" }
                    } @else {
                        select #org_id name="org_id" aria-invalid=[f.bad("org_id").then_some("true")] aria-describedby=[f.described("org_id")] {
                            @for (id, n) in orgs { option value=(id) selected[org_sel == id.to_string()] { (n) } }
                        }
                    }
                    (f.err_for("org_id"))
                }
                div {
                    label for="kind" { "投递方式" span.req { "*" } }
                    @if let Some(s) = existing {
                        input type="hidden" name="kind" value=(s.kind);
                        input #kind type="text" value=(kind_label(&s.kind)) readonly aria-describedby="kind-note";
                        div.muted.small #kind-note { "创建后不能修改" }
                    } @else {
                        select #kind name="kind" aria-invalid=[f.bad("kind").then_some("true")] aria-describedby=[f.described("kind")] {
                            @for (k, l) in KINDS { option value=(k) selected[kind == *k] { (l) } }
                        }
                    }
                    (f.err_for("kind"))
                }
                div {
                    label for="max_attempts" { "最大尝试次数" }
                    input #max_attempts type="number" min="1" max="50" name="max_attempts" value=(f.value("max_attempts", |s| s.max_attempts.to_string(), "10")) aria-invalid=[f.bad("max_attempts").then_some("true")] aria-describedby=[f.described("max_attempts")];
                    (f.err_for("max_attempts"))
                }
                div {
                    label for="timeout_secs" { "超时（秒）" }
                    input #timeout_secs type="number" min="1" max="120" name="timeout_secs" value=(f.value("timeout_secs", |s| s.timeout_secs.to_string(), "10")) aria-invalid=[f.bad("timeout_secs").then_some("true")] aria-describedby=[f.described("timeout_secs")];
                    (f.err_for("timeout_secs"))
                }
            }
            @if existing.is_none_or(|s| s.kind == "mllp") {
                fieldset {
                    legend { "HL7 v2 / MLLP 目标" @if existing.is_none() { "（投递方式为 MLLP 时填写）" } }
                    div.fields {
                        div {
                            label for="host" { "目标主机" }
                            input #host type="text" name="host" value=(f.value("host", |s| s.host.clone(), "")) placeholder="如 10.20.1.15 或 his.hospital.local" aria-invalid=[f.bad("host").then_some("true")] aria-describedby=[f.described("host")];
                            (f.err_for("host"))
                        }
                        div {
                            label for="port" { "目标端口" }
                            input #port type="number" min="1" max="65535" name="port" value=(f.value("port", |s| if s.port > 0 { s.port.to_string() } else { String::new() }, "")) aria-invalid=[f.bad("port").then_some("true")] aria-describedby=[f.described("port")];
                            (f.err_for("port"))
                        }
                    }
                    p.muted.small { "每条消息以 MLLP 帧发送，对方回执 AA（或 CA）才算投递成功；AE、AR、超时或连接失败都会按退避间隔重试。" }
                }
            }
            @if existing.is_none_or(|s| s.kind == "webhook") {
                fieldset {
                    legend { "JSON Webhook 目标" @if existing.is_none() { "（投递方式为 Webhook 时填写）" } }
                    div.fields {
                        div {
                            label for="url" { "接收地址" }
                            input #url type="text" name="url" value=(f.value("url", |s| s.url.clone(), "")) placeholder="http://主机:端口/路径" aria-invalid=[f.bad("url").then_some("true")] aria-describedby=[f.described("url")];
                            (f.err_for("url"))
                        }
                        div {
                            label for="secret" { "签名密钥" }
                            @if let Some(s) = existing {
                                input #secret type="password" name="secret" autocomplete="new-password" placeholder=(format!("留空则保持不变（当前 {}）", s.secret_hint)) aria-invalid=[f.bad("secret").then_some("true")] aria-describedby=[f.described("secret")];
                            } @else {
                                input #secret type="text" name="secret" autocomplete="off" value=(secret_value) aria-invalid=[f.bad("secret").then_some("true")] aria-describedby=[f.described("secret")];
                            }
                            (f.err_for("secret"))
                        }
                    }
                    // Field and header names are what the receiver's program reads: shown as code.
                    p.muted.small { "以 POST 发送 JSON：" code { "{event, occurred_at, org_id, message_id, data}" } "；请求头 " code { "X-Yiyang-Event" } "、" code { "X-Yiyang-Delivery" } "（投递编号，可用于去重）与 " code { "X-Yiyang-Signature: sha256=<以签名密钥对请求体计算的 HMAC-SHA256>" } "。对方返回 2xx 才算成功。保存后密钥只显示末四位，请先复制给接收方。" }
                }
            }
            fieldset aria-describedby=[f.described("events")] {
                legend { "订阅的事件" span.req { "*" } }
                @for (k, l) in EVENT_KINDS {
                    label.chk { input type="checkbox" name="events" value=(k) checked[f.event_checked(k)]; " " (l) " " code.muted.small { (k) } }
                }
                (f.err_for("events"))
            }
            div { label.chk for="enabled" { input #enabled type="checkbox" name="enabled" value="1" checked[enabled]; " 启用" } }
            div { button type="submit" { (if existing.is_some() { "保存修改" } else { "新建订阅" }) } }
        }
    }
}

fn kind_label(k: &str) -> &str {
    KINDS
        .iter()
        .find(|(c, _)| *c == k)
        .map(|(_, l)| *l)
        .unwrap_or(k)
}

fn health_label(s: &Subscription) -> (&'static str, &'static str) {
    let failing = s.pending > 0
        && s.last_error_at
            .is_some_and(|e| s.last_success_at.is_none_or(|ok| e > ok));
    match (s.enabled, failing) {
        (false, _) => ("mute", "已停用"),
        (true, true) => ("warn", "重试中"),
        (true, false) => ("ok", "启用"),
    }
}

fn health_badge(s: &Subscription) -> Markup {
    let (k, l) = health_label(s);
    badge(k, l)
}

fn delivery_badge(status: &str) -> Markup {
    let kind = match status {
        "delivered" => "ok",
        "dead" => "err",
        _ => "warn",
    };
    badge(kind, status_label(status))
}

fn events_text(s: &Subscription) -> String {
    s.events
        .iter()
        .map(|e| event_label(e))
        .collect::<Vec<_>>()
        .join("、")
}

/// The dialog of `form`, drawn open when asked for or when the form came back (the form's
/// own markup shows its errors beside the fields).
fn dialog_state(form: &str, open: bool) -> kit::FormError {
    if open {
        kit::FormError::opened(form)
    } else {
        kit::FormError::blank(form)
    }
}

/// Whether an error belongs beside a form field (then the form is shown again).
fn is_field_error(e: &AppError) -> bool {
    e.status == 400
        && e.details
            .get("field")
            .and_then(|x| x.as_str())
            .is_some_and(|x| FORM_FIELDS.contains(&x))
}

async fn render_list(st: &AppState, a: &Authed, q: &Params, form: FormState<'_>) -> PageResult {
    let lq = ListQuery::from_params(q);
    let list = kit::page_in_memory(outbound::list(st, &a.ctx).await?, &lq);
    let orgs = orgs_for(st, &a.ctx, perm::INTEGRATION_MANAGE).await?;
    let names: HashMap<i64, String> = orgs_for(st, &a.ctx, perm::INTEGRATION_READ)
        .await?
        .into_iter()
        .collect();
    let table = Table::new("subscriptions", "/integration/subscriptions", q, &lq)
        .col(
            Col::new("name", "名称", |s: &Subscription| s.name.clone())
                .cell(|s| html! { a href=(format!("/integration/subscriptions/{}", s.id)) { (s.name) } }),
        )
        .col(Col::new("org", "所属机构", |s: &Subscription| names.get(&s.org_id).cloned().unwrap_or_default()))
        .col(Col::new("kind", "方式", |s: &Subscription| kind_label(&s.kind).to_string()))
        .col(Col::new("target", "目标", |s: &Subscription| s.target()).class("mono"))
        .col(Col::new("events", "事件", events_text))
        .col(
            Col::new("health", "状态", |s: &Subscription| health_label(s).1.to_string())
                .cell(health_badge),
        )
        .col(
            Col::new("pending", "待投递", |s: &Subscription| s.pending.to_string())
                .numeric()
                .cell(|s| html! { @if s.pending > 0 { a href=(format!("/integration/deliveries?subscription_id={}&status=pending", s.id)) { (s.pending) } } @else { "0" } }),
        )
        .col(Col::new("delivered", "已投递", |s: &Subscription| s.delivered.to_string()).numeric())
        .col(
            Col::new("dead", "死信", |s: &Subscription| s.dead.to_string())
                .numeric()
                .cell(|s| html! { @if s.dead > 0 { a href=(format!("/integration/deliveries?subscription_id={}&status=dead", s.id)) { (badge("err", &s.dead.to_string())) } } @else { "0" } }),
        )
        .col(Col::new("last_success", "最近成功", |s: &Subscription| opt_ts(s.last_success_at)).class("nowrap"))
        .col(
            Col::new("last_error", "最近错误", |s: &Subscription| {
                if s.last_error.is_empty() { String::new() } else { format!("{} {}", opt_ts(s.last_error_at), s.last_error) }
            })
            .cell(|s| html! { @if !s.last_error.is_empty() { (opt_ts(s.last_error_at)) " " span.muted { (s.last_error) } } }),
        )
        .empty("尚未登记订阅");
    if lq.export {
        return table
            .export(st, &a.ctx, "发布订阅", "subscription", &list)
            .await;
    }
    let open = form.err.is_some() || p(q, "new") == "subscription";
    Ok(shell(
        &st.nav,
        a,
        "发布订阅",
        "/integration/subscriptions",
        html! {
            (msgs(q))
            p.muted { "登记的接收方按所选事件收到消息：HL7 v2 经 MLLP，或签名的 JSON Webhook。每个订阅一条有序队列，失败按 5 秒、30 秒、2 分钟、10 分钟、30 分钟、此后每小时的间隔重试，达到最大尝试次数后进入死信队列，可查看内容并重新投递。" }
            div.page-actions {
                @if !orgs.is_empty() { (kit::dialog_button("subscription", "新建订阅", "/integration/subscriptions")) }
                a.btn.secondary href="/integration/deliveries" { "全部投递记录" }
                a.btn.secondary href="/integration/deliveries?status=dead" { "死信队列" }
            }
            @if !orgs.is_empty() {
                (kit::dialog(&dialog_state("subscription", open), "新建订阅", "/integration/subscriptions", subscription_form(a, "/integration/subscriptions", &orgs, &form)))
            }
            (table.render(&list, a))
        },
    )
    .into_response())
}

async fn list_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let blank = FormState {
        existing: None,
        raw: None,
        err: None,
    };
    render_list(&st, &a, &q, blank).await
}

async fn create_submit(
    State(st): State<AppState>,
    Page(a): Page,
    Form(raw): Form<Raw>,
) -> PageResult {
    match outbound::create(&st, &a.ctx, input_from(&raw)).await {
        Ok(id) => Ok(back(
            &format!("/integration/subscriptions/{id}"),
            Ok("订阅已创建".into()),
        )),
        Err(e) if is_field_error(&e) => {
            let form = FormState {
                existing: None,
                raw: Some(&raw),
                err: Some(&e),
            };
            let mut page = render_list(&st, &a, &Params::new(), form).await?;
            *page.status_mut() = StatusCode::BAD_REQUEST;
            Ok(page)
        }
        Err(e) => Ok(back("/integration/subscriptions", Err(e))),
    }
}

async fn render_detail(
    st: &AppState,
    a: &Authed,
    id: i64,
    q: &Params,
    raw: Option<&Raw>,
    err: Option<&AppError>,
) -> PageResult<Markup> {
    let s = outbound::get(st, &a.ctx, id).await?;
    let can_manage = a.ctx.has_for(perm::INTEGRATION_MANAGE, s.org_id);
    let orgs = orgs_for(st, &a.ctx, perm::INTEGRATION_MANAGE).await?;
    let org_name = orgs_for(st, &a.ctx, perm::INTEGRATION_READ)
        .await?
        .into_iter()
        .find(|(i, _)| *i == s.org_id)
        .map(|(_, n)| n)
        .unwrap_or_default();
    let form = FormState {
        existing: Some(&s),
        raw,
        err,
    };
    let here = format!("/integration/subscriptions/{id}");
    let editing = err.is_some() || p(q, "new") == "subscription-edit";
    Ok(shell(
        &st.nav,
        a,
        &s.name,
        "/integration/subscriptions",
        html! {
            @if err.is_none() { (msgs(q)) }
            div.card { dl.kv {
                dt { "状态" } dd { (health_badge(&s)) }
                dt { "所属机构" } dd { (org_name) }
                dt { "投递方式" } dd { (kind_label(&s.kind)) }
                dt { "目标" } dd.mono { (s.target()) }
                @if s.kind == "webhook" { dt { "签名密钥" } dd.mono { (s.secret_hint) } }
                dt { "订阅的事件" } dd { (events_text(&s)) }
                dt { "最大尝试次数 / 超时" } dd { (s.max_attempts) " 次 / " (s.timeout_secs) " 秒" }
                dt { "队列" } dd {
                    a href=(format!("/integration/deliveries?subscription_id={id}&status=pending")) { "待投递 " (s.pending) }
                    " · " a href=(format!("/integration/deliveries?subscription_id={id}&status=delivered")) { "已投递 " (s.delivered) }
                    " · " a href=(format!("/integration/deliveries?subscription_id={id}&status=dead")) { "死信 " (s.dead) }
                }
                dt { "最近成功" } dd { (opt_ts(s.last_success_at)) }
                dt { "最近错误" } dd { @if !s.last_error.is_empty() { (opt_ts(s.last_error_at)) " " (s.last_error) } }
            } }
            div.toolbar {
                @if can_manage { (kit::dialog_button("subscription-edit", "修改订阅", &here)) }
                a.btn.secondary href=(format!("/integration/deliveries?subscription_id={id}")) { "查看投递记录" }
                @if can_manage {
                    @if s.enabled {
                        form.inline method="post" action=(format!("/integration/subscriptions/{id}/test")) {
                            (csrf(a)) button.secondary type="submit" { "发送测试事件" }
                        }
                    }
                    form.inline method="post" action=(format!("/integration/subscriptions/{id}/enabled")) {
                        (csrf(a))
                        input type="hidden" name="on" value=(if s.enabled { "0" } else { "1" });
                        @if s.enabled { button.danger type="submit" { "停用" } } @else { button type="submit" { "启用" } }
                    }
                    @if s.dead > 0 {
                        form.inline method="post" action=(format!("/integration/subscriptions/{id}/retry-dead")) {
                            (csrf(a)) button type="submit" { "全部死信重新投递（" (s.dead) " 条）" }
                        }
                    }
                }
            }
            @if !s.enabled { p.muted { "订阅已停用：不再接收新事件，待投递的消息暂停，启用后继续按顺序投递。" } }
            @if can_manage {
                (kit::dialog(&dialog_state("subscription-edit", editing), "修改订阅", &here, subscription_form(a, &here, &orgs, &form)))
            }
        },
    ))
}

async fn detail_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    render_detail(&st, &a, id, &q, None, None).await
}

async fn update_submit(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(raw): Form<Raw>,
) -> PageResult {
    match outbound::update(&st, &a.ctx, id, input_from(&raw)).await {
        Ok(()) => Ok(back(
            &format!("/integration/subscriptions/{id}"),
            Ok("已保存".into()),
        )),
        Err(e) if is_field_error(&e) => {
            let page = render_detail(&st, &a, id, &Params::new(), Some(&raw), Some(&e)).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Ok(back(&format!("/integration/subscriptions/{id}"), Err(e))),
    }
}

async fn enabled_submit(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let on = p(&f, "on") == "1";
    let r = outbound::set_enabled(&st, &a.ctx, id, on).await;
    back(
        &format!("/integration/subscriptions/{id}"),
        r.map(|_| {
            if on {
                "订阅已启用".into()
            } else {
                "订阅已停用".into()
            }
        }),
    )
}

async fn test_submit(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    let r = outbound::queue_test(&st, &a.ctx, id).await;
    back(
        &format!("/integration/subscriptions/{id}"),
        r.map(|d| format!("测试事件已加入队列（投递编号 {d}），数秒内发送，结果见投递记录")),
    )
}

async fn retry_dead_submit(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
) -> Response {
    let r = outbound::retry_dead(&st, &a.ctx, id).await;
    back(
        &format!("/integration/deliveries?subscription_id={id}"),
        r.map(|n| format!("{n} 条死信已重新加入队列")),
    )
}

async fn deliveries_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let dq = DeliveryQuery {
        subscription_id: q.get("subscription_id").and_then(|v| v.parse().ok()),
        status: q.get("status").cloned(),
        limit: None,
    };
    let lq = ListQuery::from_params(&q);
    let list = outbound::deliveries_page(&st, &a.ctx, &dq, &lq.window(&[])).await?;
    let subs = outbound::list(&st, &a.ctx).await?;
    let names: HashMap<i64, (String, i64)> = subs
        .iter()
        .map(|s| (s.id, (s.name.clone(), s.org_id)))
        .collect();
    let chosen = dq
        .subscription_id
        .and_then(|id| subs.iter().find(|s| s.id == id));
    let can_retry = subs
        .iter()
        .any(|s| a.ctx.has_for(perm::INTEGRATION_MANAGE, s.org_id));
    let mut batch = Vec::new();
    if can_retry && p(&q, "status") == "dead" {
        batch.push(BatchAction::new(
            "批量重新投递",
            "/integration/deliveries/retry",
        ));
    }
    let sub_name = |d: &outbound::Delivery| {
        names
            .get(&d.subscription_id)
            .map(|n| n.0.clone())
            .unwrap_or_default()
    };
    let table = Table::new("deliveries", "/integration/deliveries", &q, &lq)
        .col(
            Col::new("id", "编号", |d: &outbound::Delivery| d.id.to_string())
                .numeric()
                .cell(|d| html! { a href=(format!("/integration/deliveries/{}", d.id)) { (d.id) } }),
        )
        .col(Col::new("subscription", "订阅", sub_name))
        .col(Col::new("event", "事件", |d: &outbound::Delivery| event_label(&d.event).to_string()))
        .col(
            Col::new("message", "来源消息", |d: &outbound::Delivery| {
                d.message_id.map(|m| m.to_string()).unwrap_or_default()
            })
            .cell(|d| html! { @if let Some(m) = d.message_id { a href=(format!("/integration/messages/{m}")) { (m) } } }),
        )
        .col(
            Col::new("status", "状态", |d: &outbound::Delivery| status_label(&d.status).to_string())
                .cell(|d| delivery_badge(&d.status)),
        )
        .col(Col::new("attempts", "尝试", |d: &outbound::Delivery| d.attempts.to_string()).numeric())
        .col(Col::new("next_attempt_at", "下次尝试", |d: &outbound::Delivery| {
            if d.status == "pending" { ts(d.next_attempt_at) } else { String::new() }
        }))
        .col(Col::new("last_error", "最近错误", |d: &outbound::Delivery| d.last_error.clone()))
        .col(Col::new("created_at", "创建时间", |d: &outbound::Delivery| ts(d.created_at)).class("nowrap"))
        .col(Col::new("delivered_at", "投递时间", |d: &outbound::Delivery| opt_ts(d.delivered_at)).class("nowrap"))
        .batch(|d| d.id, batch)
        .empty("没有符合条件的投递记录");
    if lq.export {
        return table
            .export(&st, &a.ctx, "投递记录", "delivery", &list)
            .await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "投递记录",
        "/integration/subscriptions",
        html! {
            (msgs(&q))
            (filter_bar("/integration/deliveries", &lq, html! {
                div { label for="subscription_id" { "订阅" } select #subscription_id name="subscription_id" {
                    option value="" { "全部" }
                    @for s in &subs { option value=(s.id) selected[dq.subscription_id == Some(s.id)] { (s.name) } }
                } }
                div { label for="status" { "状态" } select #status name="status" {
                    option value="" { "全部" }
                    @for (v, l) in outbound::STATUSES { option value=(v) selected[p(&q, "status") == *v] { (l) } }
                } }
            }))
            @if let Some(s) = chosen {
                div.page-actions {
                    a.btn.secondary href=(format!("/integration/subscriptions/{}", s.id)) { "返回订阅“" (s.name) "”" }
                    @if s.dead > 0 && a.ctx.has_for(perm::INTEGRATION_MANAGE, s.org_id) {
                        form.inline method="post" action=(format!("/integration/subscriptions/{}/retry-dead", s.id)) {
                            (csrf(&a)) button type="submit" { "全部死信重新投递（" (s.dead) " 条）" }
                        }
                    }
                }
            }
            p.muted.small { "死信（达到最大尝试次数仍未成功）可打开查看内容后重新投递，或筛选“死信”后勾选批量重新投递；重新投递会清零尝试次数并按原顺序排在该订阅队首。" }
            (table.render(&list, &a))
        },
    )
    .into_response())
}

/// 批量重新投递 of the ticked dead letters; every failure named.
async fn retry_batch(State(st): State<AppState>, Page(a): Page, Form(f): Form<Raw>) -> Response {
    let mut done = 0;
    let mut failures = Vec::new();
    for id in kit::ids(&f) {
        match outbound::retry(&st, &a.ctx, id).await {
            Ok(_) => done += 1,
            Err(e) => failures.push((id, e)),
        }
    }
    back(
        "/integration/deliveries?status=dead",
        kit::batch_summary(done, &failures),
    )
}

async fn delivery_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
    Query(um): Query<Unmask>,
) -> PageResult {
    let v = match outbound::view(&st, &a.ctx, id, &um).await {
        Ok(v) => v,
        Err(e) if um.unmask == Some(true) && e.status != 404 => {
            return Ok(back(&format!("/integration/deliveries/{id}"), Err(e)));
        }
        Err(e) => return Err(e.into()),
    };
    let d = &v.delivery;
    let can_unmask = a.ctx.has_for(perm::PATIENT_READ_UNMASKED, v.org_id);
    let can_retry = d.status == "dead" && a.ctx.has_for(perm::INTEGRATION_MANAGE, v.org_id);
    Ok(shell(
        &st.nav,
        &a,
        &format!("投递 {}", d.id),
        "/integration/subscriptions",
        html! {
            (msgs(&q))
            div.card { dl.kv {
                dt { "订阅" } dd { a href=(format!("/integration/subscriptions/{}", d.subscription_id)) { (v.subscription_name) } }
                dt { "事件" } dd { (event_label(&d.event)) " " code.muted { (d.event) } }
                dt { "来源消息" } dd { @if let Some(m) = d.message_id { a href=(format!("/integration/messages/{m}")) { "消息 " (m) } } }
                dt { "状态" } dd { (delivery_badge(&d.status)) }
                dt { "尝试次数" } dd { (d.attempts) }
                @if d.status == "pending" { dt { "下次尝试" } dd { (ts(d.next_attempt_at)) } }
                dt { "最近尝试" } dd { (opt_ts(d.last_attempt_at)) }
                dt { "最近错误" } dd { (d.last_error) }
                dt { "创建 / 投递时间" } dd { (ts(d.created_at)) " / " (opt_ts(d.delivered_at)) }
            } }
            @if can_retry {
                div.toolbar {
                    form.inline method="post" action=(format!("/integration/deliveries/{id}/retry")) {
                        (csrf(&a)) button type="submit" { "重新投递" }
                    }
                }
            }
            h2 { "发送内容" @if !v.unmasked { " " span.muted { "（个人信息已脱敏）" } } }
            pre.er7 { (v.payload.replace('\r', "\n")) }
            @if can_unmask && !v.unmasked {
                div.toolbar { (kit::unmask_button(&format!("/integration/deliveries/{id}"), "如：核对接收方报错", &q)) }
            }
            @if !d.last_response.is_empty() {
                h2 { "对方的最近应答" }
                pre.er7 { (d.last_response.replace('\r', "\n")) }
            }
        },
    )
    .into_response())
}

async fn retry_submit(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let r = outbound::retry(&st, &a.ctx, id).await;
    let to = match p(&f, "back") {
        b if b.starts_with("/integration/deliveries?") => b.to_string(),
        _ => format!("/integration/deliveries/{id}"),
    };
    back(&to, r.map(|_| format!("投递 {id} 已重新加入队列")))
}
