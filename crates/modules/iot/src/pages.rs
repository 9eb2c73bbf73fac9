//! Pages of the IoT module: the ward screen, the alarm centre, devices. Maintenance,
//! firmware, rules, ingest and the person's monitoring page are in `pages2`.

use crate::alarms::{self, Alarm, AlarmQuery};
use crate::devices::{self, BindInput, Device, DeviceInput, DeviceQuery};
use crate::labels::{
    self, ACQUISITIONS, ALARM_KINDS, ALARM_STATUSES, HEALTH, KINDS, PRIORITIES, STATUSES, label,
};
use crate::live::LiveEvent;
use crate::{IOT_ALARM, IOT_MANAGE, IOT_READ};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::{AppError, Scope};
use yiyang_platform::web::kit::{
    BatchAction, Col, FormError, ListQuery, Table, batch_summary, dialog, dialog_button, edit_link,
    filter_bar, form_failed, tabs,
};
use yiyang_platform::web::layout::{badge, csrf, flash, opt_ts, shell, ts};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Authed, Page, PageResult};

pub(crate) type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/iot/screen", get(screen_page))
        .route("/iot/screen/stream", get(screen_stream))
        .route("/iot/assets/screen-1.js", get(screen_js))
        .route("/iot/alarms", get(alarms_page))
        .route("/iot/alarms/batch/{action}", post(alarms_batch))
        .route("/iot/alarms/{id}", get(alarm_page))
        .route("/iot/alarms/{id}/{action}", post(alarm_act))
        .route("/iot/devices", get(devices_page).post(device_create))
        .route("/iot/devices/import", post(device_import))
        .route("/iot/devices/import/template", get(import_template))
        .route("/iot/models", post(model_create))
        .route("/iot/devices/{id}", get(device_page).post(device_update))
        .route("/iot/devices/{id}/bind", post(device_bind))
        .route("/iot/devices/{id}/unbind", post(device_unbind))
        .route("/iot/devices/{id}/secret", post(device_secret))
        .merge(crate::pages2::routes())
        .merge(crate::location_pages::routes())
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

pub(crate) fn priority_badge(p: &str) -> Markup {
    let k = match p {
        "high" => "err",
        "medium" => "warn",
        _ => "mute",
    };
    badge(k, &format!("{}优先级", label(PRIORITIES, p)))
}

pub(crate) fn status_badge(s: &str) -> Markup {
    let k = match s {
        "raised" => "err",
        "acknowledged" => "warn",
        _ => "ok",
    };
    badge(k, label(ALARM_STATUSES, s))
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "—".into())
}

// ---------------------------------------------------------------- ward screen

async fn screen_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult<Response> {
    let org: Option<i64> = p(&q, "org").parse().ok();
    let ward = p(&q, "ward").to_string();
    let Some(org) = org.filter(|_| !ward.is_empty()) else {
        return Ok(ward_picker(&st, &a).await?.into_response());
    };
    let beds = crate::readings::ward_beds(&st, &a.ctx, org, &ward).await?;
    let aq = AlarmQuery {
        status: Some("active".into()),
        ward: Some(ward.clone()),
        ..Default::default()
    };
    let mut f = aq.clone();
    f.status = Some("active".into());
    let active = alarms::list_page(&st, &a.ctx, &f, &yiyang_store::Window::first(50)).await?;
    let active: Vec<&Alarm> = active.rows.iter().filter(|x| x.org_id == org).collect();
    let org_name = yiyang_basedata::service::org_names(&st.db, &[org])
        .await?
        .remove(&org)
        .unwrap_or_default();
    let now = yiyang_core::clock::format_micros_cst(st.clock.now_micros());
    let can_ack = a.ctx.has_for(IOT_ALARM, org);
    let large = a.session.as_ref().is_some_and(|s| s.large_text);
    Ok(html! {
        (maud::DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (ward) " · 病区监护大屏" }
                link rel="stylesheet" href=(yiyang_platform::web::assets::CSS_PATH);
                link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
                script src="/iot/assets/screen-1.js" defer {}
            }
            body class=(if large { "screen ward large-text" } else { "screen ward" })
                data-stream=(format!("/iot/screen/stream?org={org}&ward={}", urlencode(&ward))) data-csrf=(a.csrf()) data-can-ack=(can_ack) {
                header {
                    h1 { (org_name) " · " (ward) " · 病区监护" }
                    span.muted { span #live-state { "实时连接中…" } " · 打开于 " (now) " · " a href="/iot/screen" { "切换病区" } " · " a href="/iot/alarms" { "告警中心" } }
                }
                noscript { p.notice.err { "本页需要浏览器脚本以实时更新；未启用脚本时请手动刷新。" } }
                div.ward-layout {
                    div.beds #beds {
                        @for b in &beds { (bed_tile(b)) }
                        @if beds.is_empty() { p { "该病区尚无绑定到床位的监测设备。" } }
                    }
                    aside.ward-alarms aria-label="未解除的告警" {
                        h2 { "告警 " span #alarm-count { (active.len()) } }
                        ol #alarms {
                            @for al in &active { (alarm_item(al, can_ack, &a)) }
                        }
                    }
                }
            }
        }
    }
    .into_response())
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn bed_tile(b: &crate::readings::Bed) -> Markup {
    let level = b.news2.as_ref().map(|s| s.level.as_str()).unwrap_or("");
    let class = match (b.offline, level) {
        (true, _) => "bed offline",
        (_, "high") => "bed alert",
        (_, "medium" | "low_medium") => "bed warn",
        _ => "bed",
    };
    let r = b.latest.as_ref();
    html! {
        section class=(class) data-device=(b.device_id) {
            div.bed-head { span.bed-no { (b.bed) } " " span.bed-name { (b.person_name) } }
            dl.vitals {
                div { dt { "心率" } dd data-k="hr" { (num(r.and_then(|r| r.hr), 0)) } span.u { "次/分" } }
                div { dt { "血氧" } dd data-k="spo2" { (num(r.and_then(|r| r.spo2), 0)) } span.u { "%" } }
                div { dt { "体温" } dd data-k="temp" { (num(r.and_then(|r| r.temp), 1)) } span.u { "℃" } }
                div { dt { "血压" } dd data-k="bp" { (num(r.and_then(|r| r.sbp), 0)) "/" (num(r.and_then(|r| r.dbp), 0)) } span.u { "mmHg" } }
            }
            div.score data-k="news2" {
                @if let Some(s) = &b.news2 {
                    "NEWS2 " strong { (s.total) } (if s.complete { "" } else { "（部分）" }) " " (s.label)
                } @else { "NEWS2 —" }
            }
            div.bed-foot.muted {
                span data-k="at" { @if let Some(r) = r { (ts(r.measured_at)) } @else { "近1小时无数据" } }
                @if b.offline { " · " span.off { "离线" } }
                @if let Some(bat) = b.battery { " · 电量 " (bat) "%" }
                @if let Some(p) = b.person_id { " · " a href=(format!("/iot/persons/{p}")) { "详情" } }
            }
        }
    }
}

fn alarm_item(al: &Alarm, can_ack: bool, a: &Authed) -> Markup {
    html! {
        li class=(format!("al al-{} st-{}", al.priority, al.status)) data-alarm=(al.id) {
            div { (priority_badge(&al.priority)) " " (status_badge(&al.status)) " " strong { (al.title) } }
            div { (al.bed) " " (al.person_name) " · " (al.detail) }
            div.muted { (ts(al.raised_at)) }
            @if can_ack && al.status != "resolved" {
                div.al-actions {
                    @if al.status == "raised" {
                        form.inline method="post" action=(format!("/iot/alarms/{}/ack", al.id)) {
                            (csrf(a)) input type="hidden" name="back" value="screen"; button type="submit" { "确认" }
                        }
                    }
                    form.inline method="post" action=(format!("/iot/alarms/{}/resolve", al.id)) {
                        (csrf(a)) input type="hidden" name="back" value="screen"; button.secondary type="submit" { "解除" }
                    }
                }
            }
        }
    }
}

async fn ward_picker(st: &AppState, a: &Authed) -> Result<Markup, AppError> {
    let wards = crate::readings::wards(st, &a.ctx).await?;
    let orgs: Vec<i64> = wards.iter().map(|w| w.0).collect();
    let names = yiyang_basedata::service::org_names(&st.db, &orgs).await?;
    Ok(shell(
        &st.nav,
        a,
        "病区监护大屏",
        "/iot/screen",
        html! {
            p.muted { "选择病区，在护士站或病区电视上全屏打开：实时体征、NEWS2 评分与告警，每个床位一格，远处可读。" }
            @if wards.is_empty() { p { "您的机构尚无绑定到病区床位的监测设备。可在“设备管理”中绑定手环到床位。" } }
            div.cards {
                @for (org, ward) in &wards {
                    a.card href=(format!("/iot/screen?org={org}&ward={}", urlencode(ward))) {
                        div.l { (names.get(org).cloned().unwrap_or_default()) }
                        div.n { (ward) }
                    }
                }
            }
        },
    ))
}

/// Server-sent events of one ward: readings and alarm changes as they are stored.
async fn screen_stream(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> Response {
    let org: i64 = p(&q, "org").parse().unwrap_or(0);
    let ward = p(&q, "ward").to_string();
    if !a.ctx.has_for(IOT_READ, org) {
        return yiyang_platform::web::PageError(AppError::not_found("ward")).into_response();
    }
    let rx = crate::live::subscribe();
    let masker = match st.masking.masker(&a.ctx, false).await {
        Ok(m) => m,
        Err(e) => return yiyang_platform::web::PageError(e).into_response(),
    };
    let db = st.db.clone();
    let stream = futures_util::stream::unfold(
        (rx, ward, db, masker),
        move |(mut rx, ward, db, masker)| async move {
            loop {
                match rx.recv().await {
                    Ok(e) if e.org_id() == org && e.ward() == ward => {
                        let mut v = serde_json::to_value(&e).unwrap_or_default();
                        if let LiveEvent::Alarm {
                            person_id: Some(p), ..
                        } = &e
                        {
                            let name = yiyang_patients::service::names_of(&db, &[*p])
                                .await
                                .ok()
                                .and_then(|mut m| m.remove(p))
                                .unwrap_or_default();
                            v["person_name"] =
                                serde_json::Value::String(masker.mask("name", &name));
                            v["label"] = serde_json::Value::String(format!(
                                "{}优先级",
                                label(PRIORITIES, v["priority"].as_str().unwrap_or(""))
                            ));
                            v["status_label"] = serde_json::Value::String(
                                label(ALARM_STATUSES, v["status"].as_str().unwrap_or(""))
                                    .to_string(),
                            );
                            v["time"] =
                                serde_json::Value::String(ts(v["raised_at"].as_i64().unwrap_or(0)));
                        }
                        if let LiveEvent::Reading {
                            at,
                            news2,
                            news2_complete,
                            ..
                        } = &e
                        {
                            v["time"] = serde_json::Value::String(ts(*at));
                            if let Some(n) = news2 {
                                v["news2_text"] = serde_json::Value::String(format!(
                                    "NEWS2 {n}{}",
                                    if *news2_complete { "" } else { "（部分）" }
                                ));
                            }
                        }
                        let ev = Event::default()
                            .event(if matches!(e, LiveEvent::Alarm { .. }) {
                                "alarm"
                            } else {
                                "reading"
                            })
                            .data(v.to_string());
                        return Some((
                            Ok::<Event, std::convert::Infallible>(ev),
                            (rx, ward, db, masker),
                        ));
                    }
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind: the page reloads its state.
                        let ev = Event::default().event("resync").data("{}");
                        return Some((Ok(ev), (rx, ward, db, masker)));
                    }
                    Err(_) => return None,
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

const SCREEN_JS: &str = include_str!("screen.js");

async fn screen_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        SCREEN_JS,
    )
        .into_response()
}

// ---------------------------------------------------------------- alarms

async fn alarms_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let aq = AlarmQuery {
        status: q
            .get("status")
            .cloned()
            .or(Some("active".into()))
            .filter(|s| s != "all"),
        priority: q.get("priority").cloned(),
        kind: q.get("kind").cloned(),
        ward: q.get("ward").cloned(),
        person_id: q.get("person_id").and_then(|v| v.parse().ok()),
        id: q.get("id").and_then(|v| v.parse().ok()),
    };
    let lq = ListQuery::from_params(&q);
    let rows = alarms::list_page(&st, &a.ctx, &aq, &lq.window(alarms::SORTS)).await?;
    let can_act = a.ctx.scope_of(IOT_ALARM).is_some();
    let mut table = Table::new("alarms", "/iot/alarms", &q, &lq)
        .col(Col::new("raised_at", "发生时间", |x: &Alarm| ts(x.raised_at)).sort())
        .col(
            Col::new("priority", "级别", |x: &Alarm| {
                format!("{}优先级", label(PRIORITIES, &x.priority))
            })
            .sort()
            .cell(|x| priority_badge(&x.priority)),
        )
        .col(Col::new("kind", "类型", |x: &Alarm| {
            label(ALARM_KINDS, &x.kind).to_string()
        }))
        .col(
            Col::new("title", "告警", |x: &Alarm| x.title.clone())
                .cell(|x| html! { a href=(format!("/iot/alarms/{}", x.id)) { (x.title) } }),
        )
        .col(Col::new("person", "人员", |x: &Alarm| {
            x.person_name.clone()
        }))
        .col(Col::new("ward", "病区", |x: &Alarm| x.ward.clone()).sort())
        .col(Col::new("bed", "床位", |x: &Alarm| x.bed.clone()))
        .col(Col::new("detail", "详情", |x: &Alarm| x.detail.clone()))
        .col(
            Col::new("status", "状态", |x: &Alarm| {
                label(ALARM_STATUSES, &x.status).to_string()
            })
            .cell(|x| status_badge(&x.status)),
        )
        .col(
            Col::new("acked_by", "确认人", |x: &Alarm| {
                x.acked_by.clone().unwrap_or_default()
            })
            .hidden(),
        )
        .col(Col::new("acked_at", "确认时间", |x: &Alarm| opt_ts(x.acked_at)).hidden())
        .col(
            Col::new("resolved_at", "解除时间", |x: &Alarm| {
                opt_ts(x.resolved_at)
            })
            .hidden(),
        )
        .row_class(|x| (x.status == "raised" && x.priority == "high").then_some("hl"))
        .empty("没有符合条件的告警");
    if can_act {
        table = table.batch(
            |x: &Alarm| x.id,
            vec![
                BatchAction::new("批量确认", "/iot/alarms/batch/ack"),
                BatchAction::new("批量解除", "/iot/alarms/batch/resolve"),
            ],
        );
    }
    if lq.export {
        return table
            .export(&st, &a.ctx, "告警记录", "iot_alarm", &rows)
            .await;
    }
    let status_opts: Vec<(&str, &str)> = [("active", "未解除"), ("all", "全部")]
        .into_iter()
        .chain(ALARM_STATUSES.iter().copied())
        .collect();
    Ok(shell(
        &st.nav,
        &a,
        "告警中心",
        "/iot/alarms",
        html! {
            (msgs(&q))
            p.muted { "SOS 呼救与跌倒为最高优先级，立即通知病区护士；未确认的高、中优先级告警每 2/10 分钟重复提醒，直到有人确认。" }
            (filter_bar("/iot/alarms", &lq, html! {
                div { label for="status" { "状态" } (sel("status", &status_opts, q.get("status").map(String::as_str).unwrap_or("active"), None)) }
                div { label for="priority" { "级别" } (sel("priority", PRIORITIES, p(&q, "priority"), Some("全部"))) }
                div { label for="kind" { "类型" } (sel("kind", ALARM_KINDS, p(&q, "kind"), Some("全部"))) }
                div { label for="ward" { "病区" } input #ward type="search" name="ward" value=(p(&q, "ward")); }
            }))
            (table.render(&rows, &a))
        },
    )
    .into_response())
}

pub(crate) fn sel(name: &str, opts: &[(&str, &str)], cur: &str, blank: Option<&str>) -> Markup {
    html! {
        select id=(name) name=(name) {
            @if let Some(b) = blank { option value="" selected[cur.is_empty()] { (b) } }
            @for (v, l) in opts { option value=(v) selected[*v == cur] { (l) } }
        }
    }
}

async fn alarm_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult {
    let aq = AlarmQuery {
        id: Some(id),
        ..Default::default()
    };
    let rows = alarms::list_page(&st, &a.ctx, &aq, &yiyang_store::Window::first(1)).await?;
    let al = rows
        .rows
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("iot_alarm"))?;
    let events = alarms::events(&st, &a.ctx, id).await?;
    let can_act = a.ctx.has_for(IOT_ALARM, al.org_id) && al.status != "resolved";
    Ok(shell(
        &st.nav,
        &a,
        &al.title,
        "/iot/alarms",
        html! {
            (msgs(&q))
            dl.kv {
                dt { "级别" } dd { (priority_badge(&al.priority)) }
                dt { "状态" } dd { (status_badge(&al.status)) }
                dt { "类型" } dd { (label(ALARM_KINDS, &al.kind)) }
                dt { "人员" } dd { @if let Some(p) = al.person_id { a href=(format!("/iot/persons/{p}")) { (al.person_name) } } @else { "—" } }
                dt { "病区/床位" } dd { (al.ward) " " (al.bed) }
                dt { "详情" } dd { (al.detail) }
                dt { "发生时间" } dd { (ts(al.raised_at)) }
                dt { "最近一次" } dd { (ts(al.last_seen_at)) }
                @if let Some(d) = al.device_id { dt { "设备" } dd { a href=(format!("/iot/devices/{d}")) { "查看设备" } } }
            }
            @if can_act {
                form.grid method="post" action=(format!("/iot/alarms/{id}/resolve")) {
                    (csrf(&a))
                    div { label for="note" { "处置说明（选填）" } textarea #note name="note" maxlength="200" {} }
                    div.actions {
                        @if al.status == "raised" { button type="submit" formaction=(format!("/iot/alarms/{id}/ack")) { "确认告警" } }
                        button.secondary type="submit" { "解除告警" }
                    }
                }
            }
            h2 { "处理经过" }
            table { thead { tr { th { "时间" } th { "事件" } th { "操作人" } th { "说明" } } }
                tbody { @for e in &events { tr {
                    td { (ts(e.at)) }
                    td { (match e.kind.as_str() { "raised" => "产生", "acknowledged" => "确认", "resolved" => "解除", k => k }) }
                    td { (if e.actor == "system" { "系统" } else { e.actor.as_str() }) }
                    td { (e.note) }
                } } }
            }
        },
    )
    .into_response())
}

async fn alarm_act(
    State(st): State<AppState>,
    Page(a): Page,
    Path((id, action)): Path<(i64, String)>,
    Form(f): Form<Params>,
) -> Response {
    let r = alarms::act(&st, &a.ctx, id, &action, p(&f, "note")).await;
    let to = match p(&f, "back") {
        "screen" => {
            let ward = r.as_ref().map(|x| (x.org_id, x.ward.clone())).ok();
            match ward {
                Some((o, w)) => format!("/iot/screen?org={o}&ward={}", urlencode(&w)),
                None => "/iot/alarms".into(),
            }
        }
        _ => format!("/iot/alarms/{id}"),
    };
    back(
        &to,
        r.map(|_| {
            if action == "ack" {
                "告警已确认".into()
            } else {
                "告警已解除".into()
            }
        }),
    )
}

async fn alarms_batch(
    State(st): State<AppState>,
    Page(a): Page,
    Path(action): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let mut failures = Vec::new();
    let mut done = 0;
    for id in yiyang_platform::web::kit::ids(&f) {
        match alarms::act(&st, &a.ctx, id, &action, "批量处理").await {
            Ok(_) => done += 1,
            Err(e) => failures.push((id, e)),
        }
    }
    back("/iot/alarms", batch_summary(done, &failures))
}

// ---------------------------------------------------------------- devices

fn device_query(q: &Params) -> DeviceQuery {
    DeviceQuery {
        q: q.get("q").cloned(),
        kind: q.get("kind").cloned(),
        status: q.get("status").cloned(),
        org_id: q.get("org_id").and_then(|v| v.parse().ok()),
        health: q.get("health").cloned(),
        model_id: q.get("model_id").and_then(|v| v.parse().ok()),
    }
}

async fn devices_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    devices_view(&st, &a, &q, None).await
}

pub(crate) async fn manage_orgs(st: &AppState, a: &Authed) -> Result<Vec<(i64, String)>, AppError> {
    let Some(scope) = a.ctx.scope_of(IOT_MANAGE) else {
        return Ok(vec![]);
    };
    yiyang_basedata::service::org_choices(&st.db, true, scope.org_ids().as_deref()).await
}

async fn devices_view(
    st: &AppState,
    a: &Authed,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let tab = p(q, "tab");
    if tab == "models" {
        return models_view(st, a, q, failed).await;
    }
    let lq = ListQuery::from_params(q);
    let rows = devices::list_page(st, &a.ctx, &device_query(q), &lq.window(devices::SORTS)).await?;
    let offline_after = crate::IotConfig::get().offline_micros();
    let now = st.clock.now_micros();
    let table = Table::new("devices", "/iot/devices", q, &lq)
        .col(Col::new("serial", "序列号", |d: &Device| d.serial.clone()).sort().class("mono").cell(|d| html! { a href=(format!("/iot/devices/{}", d.id)) { (d.serial) } }))
        .col(Col::new("kind", "类别", |d: &Device| label(KINDS, &d.kind).to_string()).sort())
        .col(Col::new("model", "型号", |d: &Device| d.model_name.clone()))
        .col(Col::new("org", "所属机构", |d: &Device| d.org_name.clone()))
        .col(Col::new("binding", "绑定", |d: &Device| binding_text(d)))
        .col(Col::new("battery", "电量", |d: &Device| d.battery.map(|b| format!("{b}%")).unwrap_or_default()).sort().numeric())
        .col(Col::new("last_seen_at", "最近数据", |d: &Device| opt_ts(d.last_seen_at)).sort().cell(move |d| {
            let off = d.status == "active" && d.last_seen_at.is_none_or(|s| now - s > offline_after);
            html! { (opt_ts(d.last_seen_at)) @if off && d.kind != "nfc_tag" { " " (badge("err", "离线")) } }
        }))
        .col(Col::new("firmware", "固件", |d: &Device| d.firmware.clone()))
        .col(Col::new("acquisition", "来源", |d: &Device| label(ACQUISITIONS, &d.acquisition).to_string()).hidden())
        .col(Col::new("rental_contract", "租赁合同", |d: &Device| d.rental_contract.clone()).hidden())
        .col(Col::new("calibration_due", "下次校准", |d: &Device| d.calibration_due.clone().unwrap_or_default()).sort().hidden())
        .col(Col::new("status", "状态", |d: &Device| label(STATUSES, &d.status).to_string()).sort())
        .empty("没有符合条件的设备");
    if lq.export {
        return table
            .export(st, &a.ctx, "物联网设备", "iot_device", &rows)
            .await;
    }
    let orgs = manage_orgs(st, a).await?;
    let models = devices::models(&st.db).await?;
    let err = FormError::pick("device", q, failed);
    Ok(shell(
        &st.nav,
        a,
        "设备管理",
        "/iot/devices",
        html! {
            @if !err.is_some() { (msgs(q)) }
            (tabs(&[("/iot/devices".into(), "设备", Some(rows.total), true), ("/iot/devices?tab=models".into(), "型号目录", None, false)]))
            (filter_bar("/iot/devices", &lq, html! {
                div { label for="q" { "序列号/名称" } input #q type="search" name="q" value=(p(q, "q")); }
                div { label for="kind" { "类别" } (sel("kind", KINDS, p(q, "kind"), Some("全部"))) }
                div { label for="health" { "状况" } (sel("health", HEALTH, p(q, "health"), Some("全部"))) }
                div { label for="status" { "状态" } (sel("status", STATUSES, p(q, "status"), Some("全部"))) }
            }))
            @if !orgs.is_empty() {
                div.page-actions {
                    (dialog_button("device", "登记设备", "/iot/devices"))
                    " " (dialog_button("import", "批量导入", "/iot/devices"))
                }
                (dialog(&err, "登记设备", "/iot/devices", device_form(a, "/iot/devices", &orgs, &models, None, &err)))
                (dialog(&FormError::pick("import", q, failed), "批量导入设备", "/iot/devices", html! {
                    p.muted { "CSV（UTF-8）或 XLSX，第一行为列名（中文或英文）。全部行校验通过才写入；任何一行有误则一行不写，并逐行列出问题。" }
                    p { a href="/iot/devices/import/template" { "下载导入模板（CSV）" } }
                    form method="post" action="/iot/devices/import" enctype="multipart/form-data" {
                        input type="hidden" name="_csrf" value=(a.csrf());
                        div { label for="file" { "文件" } input #file type="file" name="file" accept=".csv,.xlsx" required; }
                        div.actions { button type="submit" { "导入" } }
                    }
                }))
            }
            (table.render(&rows, a))
        },
    )
    .into_response())
}

fn binding_text(d: &Device) -> String {
    let mut parts = Vec::new();
    if !d.person_name.is_empty() {
        parts.push(d.person_name.clone());
    }
    if let Some(w) = d.ward.as_deref().filter(|w| !w.is_empty()) {
        parts.push(w.to_string());
    }
    if let Some(b) = d.bed.as_deref().filter(|b| !b.is_empty()) {
        parts.push(b.to_string());
    }
    parts.join(" ")
}

fn device_form(
    a: &Authed,
    action: &str,
    orgs: &[(i64, String)],
    models: &[devices::Model],
    d: Option<&Device>,
    err: &FormError,
) -> Markup {
    let v = |f: &dyn Fn(&Device) -> String| d.map(f).unwrap_or_default();
    let model_code = d
        .and_then(|d| models.iter().find(|m| m.id == d.model_id))
        .map(|m| m.code.clone())
        .unwrap_or_default();
    html! {
        form.grid method="post" action=(action) novalidate {
            (csrf(a))
            @if d.is_none() {
                (err.select("org_id", "所属机构", orgs.iter().cloned(), &orgs.first().map(|o| o.0.to_string()).unwrap_or_default(), None).required())
            }
            (err.select("model", "型号", models.iter().map(|m| (m.code.clone(), format!("{}（{}）", m.name, label(KINDS, &m.kind)))), &model_code, Some("请选择")).required())
            (err.input("serial", "序列号", &v(&|d| d.serial.clone())).required().maxlength(64))
            (err.input("nfc_uid", "NFC 标签号（手环/卡片，十六进制）", &v(&|d| d.nfc_uid.clone().unwrap_or_default())).maxlength(32))
            (err.input("name", "设备名称", &v(&|d| d.name.clone())).maxlength(60))
            (err.input("firmware", "固件版本", &v(&|d| d.firmware.clone())).maxlength(32))
            (err.select("acquisition", "来源", ACQUISITIONS.iter().copied(), &d.map(|d| d.acquisition.clone()).unwrap_or_else(|| "purchase".into()), None))
            (err.input("purchased_on", "购置日期", &v(&|d| d.purchased_on.clone().unwrap_or_default())).kind("date"))
            (err.input("rental_contract", "租赁合同号（租赁设备必填）", &v(&|d| d.rental_contract.clone())).maxlength(64))
            (err.input("rental_until", "租赁到期日", &v(&|d| d.rental_until.clone().unwrap_or_default())).kind("date"))
            (err.input("calibrated_on", "上次校准日期", &v(&|d| d.calibrated_on.clone().unwrap_or_default())).kind("date"))
            (err.select("status", "状态", STATUSES.iter().copied(), &d.map(|d| d.status.clone()).unwrap_or_else(|| "active".into()), None))
            div.actions { button type="submit" { "保存" } }
        }
    }
}

fn device_input(f: &Params) -> DeviceInput {
    DeviceInput {
        org_id: p(f, "org_id").parse().unwrap_or(0),
        model: p(f, "model").into(),
        serial: p(f, "serial").into(),
        nfc_uid: p(f, "nfc_uid").into(),
        name: p(f, "name").into(),
        firmware: p(f, "firmware").into(),
        acquisition: p(f, "acquisition").into(),
        purchased_on: p(f, "purchased_on").into(),
        rental_contract: p(f, "rental_contract").into(),
        rental_until: p(f, "rental_until").into(),
        status: p(f, "status").into(),
        calibrated_on: p(f, "calibrated_on").into(),
    }
}

async fn device_create(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    match devices::create(&st, &a.ctx, &device_input(&f)).await {
        Ok(id) => back(&format!("/iot/devices/{id}"), Ok("设备已登记".into())),
        Err(e) => {
            let failed = FormError::from_error("device", &e, f);
            form_failed(
                &e,
                devices_view(&st, &a, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn models_view(
    st: &AppState,
    a: &Authed,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let models = devices::models(&st.db).await?;
    let lq = ListQuery::from_params(q);
    let paged = yiyang_platform::web::kit::page_in_memory(models, &lq);
    let table = Table::new("models", "/iot/devices", q, &lq)
        .col(Col::new("code", "型号编码", |m: &devices::Model| m.code.clone()).class("mono"))
        .col(Col::new("name", "型号名称", |m: &devices::Model| m.name.clone()))
        .col(Col::new("kind", "类别", |m: &devices::Model| label(KINDS, &m.kind).to_string()))
        .col(Col::new("vendor", "生产厂家", |m: &devices::Model| m.vendor.clone()))
        .col(Col::new("spec", "规格", |m: &devices::Model| m.spec.clone()))
        .col(Col::new("latest_firmware", "最新固件", |m: &devices::Model| m.latest_firmware.clone()))
        .col(Col::new("calibration_days", "校准周期（天）", |m: &devices::Model| if m.calibration_days > 0 { m.calibration_days.to_string() } else { "无需".into() }).numeric())
        .col(Col::action("devices", "设备", |m: &devices::Model| html! { a href=(format!("/iot/devices?model_id={}", m.id)) { "查看设备" } }))
        .empty("型号目录为空");
    if lq.export {
        return table
            .export(st, &a.ctx, "设备型号目录", "iot_model", &paged)
            .await;
    }
    let can = a.ctx.scope_of(IOT_MANAGE) == Some(Scope::City);
    let err = FormError::pick("model", q, failed);
    Ok(shell(
        &st.nav,
        a,
        "设备管理",
        "/iot/devices",
        html! {
            @if !err.is_some() { (msgs(q)) }
            (tabs(&[("/iot/devices".into(), "设备", None, false), ("/iot/devices?tab=models".into(), "型号目录", Some(paged.total), true)]))
            @if can {
                div.page-actions { (dialog_button("model", "新增型号", "/iot/devices?tab=models")) }
                (dialog(&err, "新增型号", "/iot/devices?tab=models", html! {
                    form.grid method="post" action="/iot/models" novalidate {
                        (csrf(a))
                        (err.input("code", "型号编码", "").required().maxlength(32))
                        (err.input("name", "型号名称", "").required().maxlength(60))
                        (err.select("kind", "类别", KINDS.iter().copied(), "", Some("请选择")).required())
                        (err.input("vendor", "生产厂家", "").maxlength(60))
                        (err.input("spec", "规格", "").maxlength(200))
                        (err.input("latest_firmware", "最新固件版本", "").maxlength(32))
                        (err.input("calibration_days", "校准周期（天，0 为无需校准）", "0").kind("number").range("0", "3650"))
                        div.actions { button type="submit" { "保存" } }
                    }
                }))
            }
            (table.render(&paged, a))
        },
    )
    .into_response())
}

async fn model_create(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    let m = devices::ModelInput {
        code: p(&f, "code").into(),
        name: p(&f, "name").into(),
        kind: p(&f, "kind").into(),
        vendor: p(&f, "vendor").into(),
        spec: p(&f, "spec").into(),
        latest_firmware: p(&f, "latest_firmware").into(),
        calibration_days: p(&f, "calibration_days").trim().parse().unwrap_or(-1),
    };
    match devices::create_model(&st, &a.ctx, &m).await {
        Ok(_) => back("/iot/devices?tab=models", Ok("型号已添加".into())),
        Err(e) => {
            let failed = FormError::from_error("model", &e, f);
            let mut q = Params::new();
            q.insert("tab".into(), "models".into());
            form_failed(&e, models_view(&st, &a, &q, Some(&failed)).await)
        }
    }
}

async fn device_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult {
    device_view(&st, &a, id, &q, None).await
}

async fn device_view(
    st: &AppState,
    a: &Authed,
    id: i64,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let d = devices::get(st, &a.ctx, id).await?;
    let history = devices::bindings(st, &a.ctx, id).await?;
    let can = a.ctx.has_for(IOT_MANAGE, d.org_id);
    let models = devices::models(&st.db).await?;
    let here = format!("/iot/devices/{id}");
    let edit = FormError::pick("device-edit", q, failed);
    let bind = FormError::pick("bind", q, failed);
    let work = crate::maintenance::list_page(
        st,
        &a.ctx,
        &crate::maintenance::WorkQuery {
            device_id: Some(id),
            ..Default::default()
        },
        &yiyang_store::Window::first(20),
    )
    .await?;
    let alarms_open = alarms::count(
        st,
        &a.ctx,
        &AlarmQuery {
            status: Some("active".into()),
            ..Default::default()
        },
    )
    .await?;
    let _ = alarms_open;
    let secret = q.get("secret").cloned();
    Ok(shell(
        &st.nav,
        a,
        &format!("设备 {}", d.serial),
        "/iot/devices",
        html! {
            @if !edit.is_some() && !bind.is_some() { (msgs(q)) }
            @if let Some(s) = secret {
                div.notice.ok role="status" {
                    p { "接入凭据已签发，请立即抄录，关闭后不再显示：" }
                    p { "MQTT 用户名 / HTTP 头 X-Device-Serial：" code { (d.serial) } }
                    p { "密钥（MQTT 密码 / HTTP Bearer）：" code { (s) } }
                }
            }
            dl.kv {
                dt { "类别 / 型号" } dd { (label(KINDS, &d.kind)) " · " (d.model_name) }
                dt { "所属机构" } dd { (d.org_name) }
                dt { "名称" } dd { (d.name) }
                @if let Some(u) = &d.nfc_uid { dt { "NFC 标签号" } dd.mono { (u) } }
                dt { "状态" } dd { (label(STATUSES, &d.status)) }
                dt { "固件版本" } dd { (d.firmware) }
                dt { "来源" } dd { (label(ACQUISITIONS, &d.acquisition))
                    @if d.acquisition == "rental" { "（合同 " (d.rental_contract) "，到期 " (d.rental_until.clone().unwrap_or_default()) "）" }
                    @if let Some(p) = &d.purchased_on { "，购置于 " (p) } }
                dt { "电量 / 信号" } dd { (d.battery.map(|b| format!("{b}%")).unwrap_or_else(|| "—".into())) " / " (d.signal.map(|s| format!("{s} dBm")).unwrap_or_else(|| "—".into())) }
                dt { "最近数据" } dd { (opt_ts(d.last_seen_at)) }
                dt { "校准" } dd { "上次 " (d.calibrated_on.clone().unwrap_or_else(|| "—".into())) "，下次 " (d.calibration_due.clone().unwrap_or_else(|| "—".into())) }
                dt { "当前绑定" } dd { @if let Some(pid) = d.person_id { a href=(format!("/iot/persons/{pid}")) { (d.person_name) } " " } (d.ward.clone().unwrap_or_default()) " " (d.bed.clone().unwrap_or_default()) }
                @if matches!(d.kind.as_str(), "gateway" | "nfc_reader" | "gps_band") {
                    dt { "接入凭据" } dd { (if d.has_secret { "已签发" } else { "未签发" }) }
                }
            }
            @if can {
                div.page-actions {
                    (edit_link("device-edit", "编辑", &here, &id.to_string()))
                    " " (dialog_button("bind", "绑定人员/床位", &here))
                    @if d.person_id.is_some() || d.bed.as_deref().is_some_and(|b| !b.is_empty()) {
                        form.inline method="post" action=(format!("{here}/unbind")) { (csrf(a)) button.secondary type="submit" { "解除绑定" } }
                    }
                    @if matches!(d.kind.as_str(), "gateway" | "nfc_reader" | "gps_band") {
                        form.inline method="post" action=(format!("{here}/secret")) data-confirm="重新签发后旧密钥立即失效，确定吗？" { (csrf(a)) button.secondary type="submit" { (if d.has_secret { "重新签发凭据" } else { "签发接入凭据" }) } }
                    }
                }
                (dialog(&edit, "编辑设备", &here, device_form(a, &here, &[], &models, Some(&d), &edit)))
                (dialog(&bind, "绑定人员/床位", &here, html! {
                    form.grid method="post" action=(format!("{here}/bind")) novalidate {
                        (csrf(a))
                        (bind.input("person_id", "人员编号（居民档案号，可在“居民档案”中查到）", "").kind("number"))
                        (bind.input("ward", "病区", &d.ward.clone().unwrap_or_default()).maxlength(40))
                        (bind.input("bed", "床号", &d.bed.clone().unwrap_or_default()).maxlength(20))
                        p.muted { "绑定后原绑定自动结束并留存历史；同一人同类设备只能佩戴一个。" }
                        div.actions { button type="submit" { "绑定" } }
                    }
                }))
            }
            h2 { "绑定历史" }
            table { thead { tr { th { "佩戴人员" } th { "病区" } th { "床号" } th { "绑定时间" } th { "绑定人" } th { "解除时间" } th { "解除人" } } }
                tbody {
                    @for b in &history { tr {
                        td { @if let Some(pid) = b.person_id { a href=(format!("/iot/persons/{pid}")) { (b.person_name) } } }
                        td { (b.ward) } td { (b.bed) } td { (ts(b.bound_at)) } td { (b.bound_by) }
                        td { (opt_ts(b.unbound_at)) } td { (b.unbound_by.clone().unwrap_or_default()) }
                    } }
                    @if history.is_empty() { tr { td colspan="7" { "从未绑定" } } }
                }
            }
            h2 { "维护工单" }
            table { thead { tr { th { "类别" } th { "到期日" } th { "状态" } th { "记录" } th { "更换部件" } } }
                tbody {
                    @for w in &work.rows { tr {
                        td { (label(labels::WORK_KINDS, &w.kind)) } td { (w.due_on) } td { (label(labels::WORK_STATUSES, &w.status)) } td { (w.notes) } td { (w.parts) }
                    } }
                    @if work.rows.is_empty() { tr { td colspan="5" { "暂无工单" } } }
                }
            }
        },
    )
    .into_response())
}

async fn device_update(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    match devices::update(&st, &a.ctx, id, &device_input(&f)).await {
        Ok(()) => back(&format!("/iot/devices/{id}"), Ok("已保存".into())),
        Err(e) => {
            let failed = FormError::from_error("device-edit", &e, f);
            form_failed(
                &e,
                device_view(&st, &a, id, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn device_bind(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let person = p(&f, "person_id").trim();
    let b = BindInput {
        person_id: person.parse().ok(),
        ward: p(&f, "ward").into(),
        bed: p(&f, "bed").into(),
    };
    let r = if !person.is_empty() && b.person_id.is_none() {
        Err(AppError::field(
            "input.invalid",
            "person_id",
            "人员编号须为数字",
        ))
    } else {
        devices::bind(&st, &a.ctx, id, &b).await
    };
    match r {
        Ok(_) => back(&format!("/iot/devices/{id}"), Ok("已绑定".into())),
        Err(e) => {
            let failed = FormError::from_error("bind", &e, f);
            form_failed(
                &e,
                device_view(&st, &a, id, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn device_unbind(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    back(
        &format!("/iot/devices/{id}"),
        devices::unbind(&st, &a.ctx, id)
            .await
            .map(|_| "已解除绑定".into()),
    )
}

async fn device_secret(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    match devices::issue_secret(&st, &a.ctx, id).await {
        // Shown once on the page that answers (never put in an address).
        Ok(secret) => {
            let mut q = Params::new();
            q.insert("secret".into(), secret);
            match device_view(&st, &a, id, &q, None).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            }
        }
        Err(e) => back(&format!("/iot/devices/{id}"), Err(e)),
    }
}

async fn device_import(State(st): State<AppState>, Page(a): Page, mut mp: Multipart) -> PageResult {
    let (mut name, mut bytes) = (String::new(), Vec::new());
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
    {
        if field.name() == Some("file") {
            name = field.file_name().unwrap_or("").to_string();
            bytes = field
                .bytes()
                .await
                .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
                .to_vec();
        }
    }
    if bytes.is_empty() {
        return Ok(back(
            "/iot/devices",
            Err(AppError::validation("import.no_file", "请选择要导入的文件")),
        ));
    }
    let report = crate::import::import_devices(&st, &a.ctx, &name, &bytes).await?;
    Ok(shell(
        &st.nav,
        &a,
        "批量导入设备",
        "/iot/devices",
        html! {
            @if report.errors.is_empty() {
                div.notice.ok role="status" { "已导入 " (report.imported) " 台设备（共 " (report.total_rows) " 行）。" }
            } @else {
                div.notice.err role="alert" { "文件中有 " (report.errors.len()) " 处问题，未导入任何设备。请修改后重新导入。" }
                table { thead { tr { th { "行" } th { "列" } th { "问题" } } }
                    tbody { @for e in &report.errors { tr { td { (e.row) } td { (e.column) } td { (e.message) } } } } }
            }
            p { a.btn href="/iot/devices" { "返回设备列表" } }
        },
    )
    .into_response())
}

async fn import_template() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"iot-devices-template.csv\"",
            ),
        ],
        crate::import::template(),
    )
        .into_response()
}
