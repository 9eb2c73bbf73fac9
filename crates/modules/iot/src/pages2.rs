//! Pages of the IoT module, part 2: maintenance and firmware, alarm rules, ingest and
//! dead letters, a person's monitoring page, and the resident's own view.

use crate::alarms::{self, AlarmQuery};
use crate::firmware::{self, Campaign, CampaignInput};
use crate::labels::{CAMPAIGN_STATUSES, KINDS, TARGET_STATUSES, WORK_KINDS, WORK_STATUSES, label};
use crate::maintenance::{self, DoneInput, PlanInput, WorkOrder, WorkQuery};
use crate::pages::{Params, manage_orgs, msgs, p, priority_badge, sel, status_badge};
use crate::{IOT_MANAGE, IOT_READ};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use yiyang_core::{AppError, Scope, perm};
use yiyang_platform::web::chart::{self, Series};
use yiyang_platform::web::kit::{
    Col, FormError, ListQuery, Table, dialog, dialog_button, edit_link, filter_bar, form_failed,
    tabs,
};
use yiyang_platform::web::layout::{badge, csrf, opt_ts, shell, ts};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Authed, Page, PageResult};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/iot/maintenance", get(maintenance_page))
        .route("/iot/maintenance/plans", post(plan_create))
        .route("/iot/maintenance/orders/{id}", post(order_done))
        .route("/iot/firmware", post(campaign_create))
        .route("/iot/firmware/{id}", get(campaign_page))
        .route("/iot/firmware/{id}/{action}", post(campaign_act))
        .route("/iot/rules", get(rules_page).post(rules_import))
        .route("/iot/rules/export", get(rules_export))
        .route("/iot/ingest", get(ingest_page))
        .route("/iot/persons/{id}", get(person_page))
        .route("/iot/persons/{id}/observe", post(person_observe))
        .route("/iot/persons/{id}/scale", post(person_scale))
        .route("/iot/persons/{id}/thresholds", post(person_thresholds))
        .route("/iot/my", get(my_page))
}

// ---------------------------------------------------------------- maintenance & firmware

async fn maintenance_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    maintenance_view(&st, &a, &q, None).await
}

async fn maintenance_view(
    st: &AppState,
    a: &Authed,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let tab = p(q, "tab");
    let lq = ListQuery::from_params(q);
    let open_orders = maintenance::count(
        st,
        &a.ctx,
        &WorkQuery {
            status: Some("open".into()),
            ..Default::default()
        },
    )
    .await?;
    let campaigns = firmware::list(st, &a.ctx).await?;
    let plans = maintenance::plans(st, &a.ctx).await?;
    let tab_bar = tabs(&[
        (
            "/iot/maintenance".into(),
            "维护工单",
            Some(open_orders),
            tab.is_empty(),
        ),
        (
            "/iot/maintenance?tab=plans".into(),
            "维护计划",
            Some(plans.len() as i64),
            tab == "plans",
        ),
        (
            "/iot/maintenance?tab=firmware".into(),
            "固件升级",
            Some(campaigns.len() as i64),
            tab == "firmware",
        ),
    ]);
    let content = match tab {
        "plans" => {
            let paged = yiyang_platform::web::kit::page_in_memory(plans, &lq);
            let table = Table::new("plans", "/iot/maintenance", q, &lq)
                .col(Col::new(
                    "model",
                    "设备型号",
                    |x: &maintenance::Plan| x.model_name.clone(),
                ))
                .col(Col::new("name", "计划名称", |x: &maintenance::Plan| {
                    x.name.clone()
                }))
                .col(Col::new("kind", "类别", |x: &maintenance::Plan| {
                    label(WORK_KINDS, &x.kind).to_string()
                }))
                .col(
                    Col::new("interval", "周期（天）", |x: &maintenance::Plan| {
                        x.interval_days.to_string()
                    })
                    .numeric(),
                )
                .col(Col::new(
                    "content",
                    "维护内容",
                    |x: &maintenance::Plan| x.content.clone(),
                ))
                .empty("尚无维护计划");
            if lq.export {
                return table
                    .export(st, &a.ctx, "维护计划", "iot_plan", &paged)
                    .await;
            }
            let err = FormError::pick("plan", q, failed);
            let models = crate::devices::models(&st.db).await?;
            html! {
                p.muted { "计划按型号制定；系统每天 06:30 为到期的设备生成工单（提前 7 天），完成后按周期排下一次。" }
                @if a.ctx.scope_of(IOT_MANAGE) == Some(Scope::City) {
                    div.page-actions { (dialog_button("plan", "新增维护计划", "/iot/maintenance?tab=plans")) }
                    (dialog(&err, "新增维护计划", "/iot/maintenance?tab=plans", html! {
                        form.grid method="post" action="/iot/maintenance/plans" novalidate {
                            (csrf(a))
                            (err.select("model_id", "设备型号", models.iter().map(|m| (m.id, format!("{}（{}）", m.name, label(KINDS, &m.kind)))), "", Some("请选择")).required())
                            (err.input("name", "计划名称", "").required().maxlength(60))
                            (err.select("kind", "类别", WORK_KINDS.iter().copied(), "", Some("请选择")).required())
                            (err.input("interval_days", "周期（天）", "30").kind("number").range("1", "3650").required())
                            div { label for=(err.id("content")) { "维护内容" } textarea id=(err.id("content")) name="content" maxlength="500" { (err.value("content", "")) } (err.beside("content")) }
                            div.actions { button type="submit" { "保存" } }
                        }
                    }))
                }
                (table.render(&paged, a))
            }
        }
        "firmware" => {
            let paged = yiyang_platform::web::kit::page_in_memory(campaigns, &lq);
            let table = Table::new("campaigns", "/iot/maintenance", q, &lq)
                .col(
                    Col::new("id", "编号", |c: &Campaign| c.id.to_string()).cell(
                        |c| html! { a href=(format!("/iot/firmware/{}", c.id)) { "#" (c.id) } },
                    ),
                )
                .col(Col::new("model", "型号", |c: &Campaign| {
                    c.model_name.clone()
                }))
                .col(Col::new("versions", "版本", |c: &Campaign| {
                    format!(
                        "{} → {}",
                        if c.from_version.is_empty() {
                            "任意"
                        } else {
                            &c.from_version
                        },
                        c.to_version
                    )
                }))
                .col(Col::new("progress", "进度", |c: &Campaign| {
                    format!("成功 {} / 失败 {} / 共 {}", c.ok, c.failed, c.targets)
                }))
                .col(Col::new("status", "状态", |c: &Campaign| {
                    label(CAMPAIGN_STATUSES, &c.status).to_string()
                }))
                .col(Col::new("created", "创建", |c: &Campaign| {
                    format!("{} {}", c.created_by, ts(c.created_at))
                }))
                .empty("尚无升级任务");
            if lq.export {
                return table
                    .export(st, &a.ctx, "固件升级任务", "iot_campaign", &paged)
                    .await;
            }
            let err = FormError::pick("campaign", q, failed);
            let orgs = manage_orgs(st, a).await?;
            let models = crate::devices::models(&st.db).await?;
            html! {
                p.muted { "按型号（和原版本）选出设备，通过 MQTT 下发升级指令，分批进行（每批约十分之一），跟踪每台设备的应答与升级后版本；失败率超过上限时自动暂停。" }
                @if !orgs.is_empty() {
                    div.page-actions { (dialog_button("campaign", "新建升级任务", "/iot/maintenance?tab=firmware")) }
                    (dialog(&err, "新建升级任务", "/iot/maintenance?tab=firmware", html! {
                        form.grid method="post" action="/iot/firmware" novalidate {
                            (csrf(a))
                            (err.select("org_id", "机构", orgs.iter().cloned(), &orgs.first().map(|o| o.0.to_string()).unwrap_or_default(), None).required())
                            (err.select("model_id", "设备型号", models.iter().map(|m| (m.id, format!("{}（最新 {}）", m.name, m.latest_firmware))), "", Some("请选择")).required())
                            (err.input("from_version", "原版本（不填则升级所有非目标版本的设备）", "").maxlength(32))
                            (err.input("to_version", "目标版本", "").required().maxlength(32))
                            (err.input("package_url", "固件包地址（https://）", "").required().maxlength(512))
                            (err.input("sha256", "固件包 SHA-256（64 位十六进制）", "").required().maxlength(64))
                            (err.input("max_failure_pct", "失败率上限（%）", "10").kind("number").range("1", "100"))
                            div { label for=(err.id("note")) { "说明" } textarea id=(err.id("note")) name="note" maxlength="500" { (err.value("note", "")) } (err.beside("note")) }
                            div.actions { button type="submit" { "创建（草稿）" } }
                        }
                    }))
                }
                (table.render(&paged, a))
            }
        }
        _ => {
            let wq = WorkQuery {
                status: q
                    .get("status")
                    .cloned()
                    .or(Some("open".into()))
                    .filter(|s| s != "all"),
                kind: q.get("kind").cloned(),
                due_by: q.get("due_by").cloned(),
                device_id: q.get("device_id").and_then(|v| v.parse().ok()),
            };
            let rows =
                maintenance::list_page(st, &a.ctx, &wq, &lq.window(maintenance::SORTS)).await?;
            let table = Table::new("orders", "/iot/maintenance", q, &lq)
                .col(Col::new("due_on", "到期日", |w: &WorkOrder| w.due_on.clone()).sort())
                .col(Col::new("serial", "设备", |w: &WorkOrder| w.serial.clone()).sort().cell(|w| html! { a href=(format!("/iot/devices/{}", w.device_id)) { (w.serial) } }))
                .col(Col::new("model", "型号", |w: &WorkOrder| w.model_name.clone()))
                .col(Col::new("kind", "类别", |w: &WorkOrder| label(WORK_KINDS, &w.kind).to_string()).sort())
                .col(Col::new("plan", "计划", |w: &WorkOrder| w.plan_name.clone().unwrap_or_default()))
                .col(Col::new("status", "状态", |w: &WorkOrder| label(WORK_STATUSES, &w.status).to_string()))
                .col(Col::new("notes", "处理记录", |w: &WorkOrder| w.notes.clone()))
                .col(Col::new("parts", "更换部件", |w: &WorkOrder| w.parts.clone()))
                .col(Col::new("done", "完成", |w: &WorkOrder| format!("{} {}", w.done_by.clone().unwrap_or_default(), opt_ts(w.done_at))).hidden())
                .col(Col::action("act", "操作", |w: &WorkOrder| html! {
                    @if w.status == "open" { (edit_link("done", "登记完成", "/iot/maintenance", &w.id.to_string())) }
                }))
                .empty("没有符合条件的工单");
            if lq.export {
                return table
                    .export(st, &a.ctx, "维护工单", "iot_work_order", &rows)
                    .await;
            }
            let err = FormError::pick("done", q, failed);
            let editing = p(q, "edit")
                .parse::<i64>()
                .ok()
                .or_else(|| failed.and_then(|f| f.value("id", "").parse().ok()));
            let status_opts: Vec<(&str, &str)> = WORK_STATUSES
                .iter()
                .copied()
                .chain([("all", "全部")])
                .collect();
            html! {
                (filter_bar("/iot/maintenance", &lq, html! {
                    div { label for="status" { "状态" } (sel("status", &status_opts, q.get("status").map(String::as_str).unwrap_or("open"), None)) }
                    div { label for="kind" { "类别" } (sel("kind", WORK_KINDS, p(q, "kind"), Some("全部"))) }
                    div { label for="due_by" { "到期不晚于" } input #due_by type="date" name="due_by" value=(p(q, "due_by")); }
                }))
                @if let Some(id) = editing {
                    (dialog(&err, "登记维护完成", "/iot/maintenance", html! {
                        form.grid method="post" action=(format!("/iot/maintenance/orders/{id}")) novalidate {
                            (csrf(a))
                            input type="hidden" name="id" value=(id);
                            div { label for=(err.id("notes")) { "处理记录（做了什么、结果如何）" } textarea id=(err.id("notes")) name="notes" maxlength="500" required { (err.value("notes", "")) } (err.beside("notes")) }
                            (err.input("parts", "更换部件（选填）", "").maxlength(200))
                            div.actions { button type="submit" { "完成" } button.secondary type="submit" name="cancel" value="1" { "取消工单" } }
                        }
                    }))
                }
                (table.render(&rows, a))
            }
        }
    };
    Ok(shell(
        &st.nav,
        a,
        "维护与升级",
        "/iot/maintenance",
        html! {
            @if failed.is_none() { (msgs(q)) }
            (tab_bar)
            (content)
        },
    )
    .into_response())
}

fn tab_params(tab: &str) -> Params {
    let mut q = Params::new();
    if !tab.is_empty() {
        q.insert("tab".into(), tab.into());
    }
    q
}

async fn plan_create(State(st): State<AppState>, Page(a): Page, Form(f): Form<Params>) -> Response {
    let input = PlanInput {
        model_id: p(&f, "model_id").parse().unwrap_or(0),
        name: p(&f, "name").into(),
        kind: p(&f, "kind").into(),
        interval_days: p(&f, "interval_days").trim().parse().unwrap_or(0),
        content: p(&f, "content").into(),
    };
    match maintenance::create_plan(&st, &a.ctx, &input).await {
        Ok(_) => {
            let _ = maintenance::generate(&st).await;
            back(
                "/iot/maintenance?tab=plans",
                Ok("维护计划已添加，到期设备的工单已生成".into()),
            )
        }
        Err(e) => {
            let failed = FormError::from_error("plan", &e, f);
            form_failed(
                &e,
                maintenance_view(&st, &a, &tab_params("plans"), Some(&failed)).await,
            )
        }
    }
}

async fn order_done(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let input = DoneInput {
        notes: p(&f, "notes").into(),
        parts: p(&f, "parts").into(),
    };
    let cancel = p(&f, "cancel") == "1";
    match maintenance::complete(&st, &a.ctx, id, &input, cancel).await {
        Ok(()) => back(
            "/iot/maintenance",
            Ok(if cancel {
                "工单已取消".into()
            } else {
                "已登记完成".into()
            }),
        ),
        Err(e) => {
            let failed = FormError::from_error("done", &e, f);
            form_failed(
                &e,
                maintenance_view(&st, &a, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn campaign_create(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    let input = CampaignInput {
        org_id: p(&f, "org_id").parse().unwrap_or(0),
        model_id: p(&f, "model_id").parse().unwrap_or(0),
        from_version: p(&f, "from_version").into(),
        to_version: p(&f, "to_version").into(),
        package_url: p(&f, "package_url").into(),
        sha256: p(&f, "sha256").into(),
        max_failure_pct: p(&f, "max_failure_pct").trim().parse().unwrap_or(0),
        note: p(&f, "note").into(),
    };
    match firmware::create(&st, &a.ctx, &input).await {
        Ok(id) => back(
            &format!("/iot/firmware/{id}"),
            Ok("升级任务已创建（草稿），确认设备清单后点击“开始升级”".into()),
        ),
        Err(e) => {
            let failed = FormError::from_error("campaign", &e, f);
            form_failed(
                &e,
                maintenance_view(&st, &a, &tab_params("firmware"), Some(&failed)).await,
            )
        }
    }
}

async fn campaign_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult {
    let c = firmware::get(&st, &a.ctx, id).await?;
    let targets = firmware::targets(&st, &a.ctx, id).await?;
    let can = a.ctx.has_for(IOT_MANAGE, c.org_id);
    let here = format!("/iot/firmware/{id}");
    let pie = chart::pie(
        "升级进度",
        &TARGET_STATUSES
            .iter()
            .map(|(code, l)| {
                (
                    l.to_string(),
                    targets.iter().filter(|t| t.status == *code).count() as f64,
                )
            })
            .filter(|x| x.1 > 0.0)
            .collect::<Vec<_>>(),
    );
    Ok(shell(
        &st.nav,
        &a,
        &format!("固件升级 #{id}"),
        "/iot/maintenance",
        html! {
            (msgs(&q))
            dl.kv {
                dt { "型号" } dd { (c.model_name) }
                dt { "版本" } dd { (if c.from_version.is_empty() { "任意" } else { &c.from_version }) " → " (c.to_version) }
                dt { "状态" } dd { (label(CAMPAIGN_STATUSES, &c.status)) }
                dt { "固件包" } dd { code { (c.package_url) } " · SHA-256 " code { (c.sha256.get(..16).unwrap_or_default()) "…" } }
                dt { "失败率上限" } dd { (c.max_failure_pct) "%" }
                dt { "进度" } dd { "成功 " (c.ok) "，失败 " (c.failed) "，共 " (c.targets) " 台" }
                dt { "说明" } dd { (c.note) }
                dt { "创建" } dd { (c.created_by) " " (ts(c.created_at)) }
                dt { "开始 / 结束" } dd { (opt_ts(c.started_at)) " / " (opt_ts(c.finished_at)) }
            }
            @if can && matches!(c.status.as_str(), "draft" | "paused" | "running") {
                div.page-actions {
                    @if matches!(c.status.as_str(), "draft" | "paused") {
                        form.inline method="post" action=(format!("{here}/start")) { (csrf(&a)) button type="submit" { (if c.status == "paused" { "继续升级" } else { "开始升级" }) } }
                    }
                    form.inline method="post" action=(format!("{here}/cancel")) data-confirm="取消后未应答的设备不再升级，确定吗？" { (csrf(&a)) button.secondary type="submit" { "取消任务" } }
                }
            }
            @if !targets.is_empty() { (pie.render()) }
            h2 { "设备清单" }
            table { thead { tr { th { "设备" } th { "状态" } th { "下发时间" } th { "应答时间" } th { "结果" } th { "上报版本" } } }
                tbody { @for t in &targets { tr {
                    td { a href=(format!("/iot/devices/{}", t.device_id)) { (t.serial) } }
                    td { (badge(match t.status.as_str() { "ok" => "ok", "failed" => "err", "sent" => "warn", _ => "mute" }, label(TARGET_STATUSES, &t.status))) }
                    td { (opt_ts(t.sent_at)) } td { (opt_ts(t.acked_at)) } td { (t.result) } td { (t.version) }
                } } }
            }
        },
    )
    .into_response())
}

async fn campaign_act(
    State(st): State<AppState>,
    Page(a): Page,
    Path((id, action)): Path<(i64, String)>,
) -> Response {
    let r = match action.as_str() {
        "start" => firmware::start(&st, &a.ctx, id)
            .await
            .map(|n| format!("已向 {n} 台设备下发升级指令，其余设备随应答分批下发")),
        "cancel" => firmware::cancel(&st, &a.ctx, id)
            .await
            .map(|_| "升级任务已取消".to_string()),
        _ => Err(AppError::not_found("action")),
    };
    back(&format!("/iot/firmware/{id}"), r)
}

// ---------------------------------------------------------------- rules

async fn rules_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    a.ctx.require(IOT_READ)?;
    let versions = crate::rules::versions(&st.db).await?;
    let active = crate::rules::active_set(&st.db).await?;
    let can = a.ctx.scope_of(IOT_MANAGE) == Some(Scope::City);
    Ok(shell(
        &st.nav,
        &a,
        "预警规则",
        "/iot/rules",
        html! {
            (msgs(&q))
            p.muted { "每条读数到达时，连同护士最近录入的呼吸、意识与吸氧情况，计算 NEWS2 早期预警评分（缺参数时为“部分评分”，注明所用参数），并按下列规则判断是否告警。规则为版本化数据：导出、修改、导入后即生效，每次变更记入审计。" }
            div.page-actions {
                a.btn.secondary href="/iot/rules/export" { "导出当前规则（JSON）" }
                @if can { " " (dialog_button("rules", "导入新版本", "/iot/rules")) }
            }
            @if can {
                (dialog(&FormError::pick("rules", &q, None), "导入预警规则", "/iot/rules", html! {
                    p.muted { "上传导出格式的 JSON 文件；全部规则校验通过才生效，否则逐条列出问题，规则保持不变。" }
                    form method="post" action="/iot/rules" enctype="multipart/form-data" {
                        input type="hidden" name="_csrf" value=(a.csrf());
                        div { label for="file" { "规则文件" } input #file type="file" name="file" accept=".json" required; }
                        div { label for="note" { "变更说明" } input #note type="text" name="note" maxlength="200"; }
                        div.actions { button type="submit" { "导入并生效" } }
                    }
                }))
            }
            h2 { "当前生效规则（第 " (active.version) " 版）" }
            table { thead { tr { th { "编码" } th { "名称" } th { "级别" } th { "条件" } th { "持续" } } }
                tbody { @for r in &active.rules { tr {
                    td.mono { (r.code) } td { (r.name) } td { (priority_badge(&r.priority)) } td { (r.condition) } td { (r.duration) }
                } } }
            }
            h2 { "版本历史" }
            table { thead { tr { th { "版本" } th { "说明" } th { "导入人" } th { "时间" } th { "状态" } } }
                tbody {
                    @for v in &versions { tr {
                        td { (v.version) } td { (v.note) } td { (v.created_by) } td { (ts(v.created_at)) }
                        td { @if v.active { (badge("ok", "生效中")) } @else { (badge("mute", "历史")) } }
                    } }
                    @if versions.is_empty() { tr { td colspan="5" { "使用内置默认规则（尚未导入新版本）" } } }
                }
            }
        },
    )
    .into_response())
}

async fn rules_export(State(st): State<AppState>, Page(a): Page) -> PageResult<Response> {
    a.ctx.require(IOT_READ)?;
    let body = crate::rules::export(&st.db).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"iot-alarm-rules.json\"",
            ),
        ],
        body,
    )
        .into_response())
}

async fn rules_import(
    State(st): State<AppState>,
    Page(a): Page,
    mut mp: Multipart,
) -> PageResult<Response> {
    let (mut bytes, mut note) = (Vec::new(), String::new());
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
    {
        match field.name() {
            Some("file") => {
                bytes = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
                    .to_vec()
            }
            Some("note") => note = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    let r = crate::rules::import(&st, &a.ctx, &bytes, &note)
        .await
        .map(|v| format!("已导入第 {v} 版规则并生效"));
    Ok(back("/iot/rules", r))
}

// ---------------------------------------------------------------- ingest

#[derive(Debug, Clone, sqlx::FromRow)]
struct DeadLetter {
    id: i64,
    source: String,
    topic: String,
    reason_code: String,
    reason: String,
    payload: String,
    received_at: i64,
}

async fn ingest_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let scope = a.ctx.require(IOT_MANAGE)?;
    let lq = ListQuery::from_params(&q);
    let mut f = yiyang_store::Filter::new();
    if let Some(ids) = scope.org_ids() {
        f.any_of("org_id", &ids);
    }
    if let Some(code) = q.get("reason").filter(|s| !s.is_empty()) {
        f.add("reason_code = ?", code.clone());
    }
    let sorts = &[yiyang_store::Sort {
        key: "received_at",
        sql: "received_at",
    }];
    let w = lq.window(sorts);
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM iot_dead_letters{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "received_at DESC, id DESC");
    let rows: Vec<DeadLetter> = st
        .db
        .fetch_all(
            &format!("SELECT id, source, topic, reason_code, reason, payload, received_at FROM iot_dead_letters{where_sql}{tail}"),
            f.args,
        )
        .await?;
    let paged = yiyang_store::Paged::exact(rows, total);
    let table = Table::new("dead", "/iot/ingest", &q, &lq)
        .col(
            Col::new("received_at", "接收时间", |d: &DeadLetter| {
                ts(d.received_at)
            })
            .sort(),
        )
        .col(Col::new("source", "通道", |d: &DeadLetter| {
            if d.source == "mqtt" {
                "MQTT".into()
            } else {
                "HTTP".into()
            }
        }))
        .col(Col::new("topic", "主题", |d: &DeadLetter| d.topic.clone()).class("mono"))
        .col(Col::new("reason", "原因", |d: &DeadLetter| {
            d.reason.clone()
        }))
        .col(
            Col::new("reason_code", "原因代码", |d: &DeadLetter| {
                reason_label(&d.reason_code).to_string()
            })
            .hidden(),
        )
        .col(
            Col::new("payload", "原文", |d: &DeadLetter| {
                d.payload.chars().take(2000).collect()
            })
            .hidden()
            .class("mono"),
        )
        .col(Col::new("id", "编号", |d: &DeadLetter| d.id.to_string()).hidden())
        .empty("没有被拒收的数据");
    if lq.export {
        return table
            .export(&st, &a.ctx, "物联网死信", "iot_dead_letter", &paged)
            .await;
    }
    use std::sync::atomic::Ordering::Relaxed;
    let cfg = crate::IotConfig::get();
    let broker = if cfg.mqtt_url.is_empty() {
        html! { (badge("mute", "未配置代理")) " 演示模式：模拟器在进程内直接写入。生产环境请设置 " code { "iot.mqtt_url" } "。" }
    } else if crate::mqtt::CONNECTED.load(Relaxed) {
        html! { (badge("ok", "已连接")) " " (cfg.mqtt_url) "（共享订阅组 " (cfg.mqtt_group) "，累计连接 " (crate::mqtt::CONNECTS.load(Relaxed)) " 次）" }
    } else {
        html! { (badge("err", "未连接")) " " (cfg.mqtt_url) "，正在重连" }
    };
    let reasons = [
        ("json_invalid", "JSON 格式错误"),
        ("topic_invalid", "主题格式错误"),
        ("unknown_gateway", "未登记的网关"),
        ("unknown_device", "未登记的设备"),
        ("foreign_device", "其他机构的设备"),
        ("time_future", "时间超前"),
        ("time_too_old", "时间过旧"),
        ("implausible", "数值不可能"),
        ("field_missing", "缺少字段"),
        ("field_invalid", "字段格式错误"),
    ];
    Ok(shell(
        &st.nav,
        &a,
        "数据接入与死信",
        "/iot/ingest",
        html! {
            div.cards {
                div.card { div.l { "本节点已存读数" } div.n { (crate::ingest::STORED.load(Relaxed)) } }
                div.card { div.l { "重复投递（已忽略）" } div.n { (crate::ingest::DUPLICATES.load(Relaxed)) } }
                div.card { div.l { "拒收（进入死信）" } div.n { (crate::ingest::REJECTED.load(Relaxed)) } }
                div.card { div.l { "收到消息" } div.n { (crate::ingest::MESSAGES.load(Relaxed)) } }
            }
            p { "MQTT 代理：" (broker) }
            p.muted { "上行主题 " code { "yiyang/v1/机构编码/gw/网关序列号/up|status|nfc|event|gps|ack" } "，下行 " code { "yiyang/v1/机构编码/dev/设备序列号/cmd" }
                "；不能用 MQTT 的设备可 POST 到 " code { "/device-api/v1/up" } " 等（请求头 " code { "X-Device-Serial" } " 与 Bearer 密钥）。接口说明见仓库中的 " code { "docs/iot-mqtt.md" } "。每批数据先写入数据库再向代理确认（QoS 1），崩溃不丢数据。" }
            h2 { "死信列表" }
            (filter_bar("/iot/ingest", &lq, html! {
                div { label for="reason" { "原因" } (sel("reason", &reasons, p(&q, "reason"), Some("全部"))) }
            }))
            (table.render(&paged, &a))
        },
    )
    .into_response())
}

fn reason_label(code: &str) -> &str {
    match code {
        "json_invalid" => "JSON 格式错误",
        "topic_invalid" => "主题格式错误",
        "unknown_gateway" => "未登记的网关",
        "unknown_device" => "未登记的设备",
        "foreign_device" => "其他机构的设备",
        "wrong_sender" => "凭据与发送方不符",
        "retired" => "设备已报废",
        "time_future" => "时间超前",
        "time_too_old" => "时间过旧",
        "time_invalid" => "时间格式错误",
        "implausible" => "数值不可能",
        "field_missing" => "缺少字段",
        "field_invalid" => "字段格式错误",
        "too_many_items" => "数据项过多",
        "empty" => "没有数据项",
        c => c,
    }
}

// ---------------------------------------------------------------- a person's monitoring

fn day_chart(rows: &[crate::readings::Reading]) -> Vec<chart::Chart> {
    if rows.is_empty() {
        return vec![];
    }
    // Hourly means keep the chart readable whatever the reading rate.
    let mut buckets: std::collections::BTreeMap<i64, [(f64, u32); 4]> =
        std::collections::BTreeMap::new();
    for r in rows {
        let h = r.measured_at / 3_600_000_000;
        let b = buckets.entry(h).or_insert([(0.0, 0); 4]);
        for (i, v) in [r.hr, r.spo2, r.temp, r.sbp].into_iter().enumerate() {
            if let Some(v) = v {
                b[i].0 += v;
                b[i].1 += 1;
            }
        }
    }
    let cats: Vec<String> = buckets
        .keys()
        .map(|h| {
            ts(h * 3_600_000_000)
                .get(5..16)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let series = |i: usize, name: &str| Series {
        name: name.into(),
        values: buckets
            .values()
            .map(|b| {
                if b[i].1 > 0 {
                    (b[i].0 / f64::from(b[i].1) * 10.0).round() / 10.0
                } else {
                    0.0
                }
            })
            .collect(),
    };
    vec![
        chart::line(
            "心率与收缩压（小时均值）",
            &cats,
            &[series(0, "心率（次/分）"), series(3, "收缩压（mmHg）")],
        ),
        chart::line(
            "血氧与体温（小时均值）",
            &cats,
            &[series(1, "血氧（%）"), series(2, "体温（℃）")],
        ),
    ]
}

/// The vitals section of the 健康360视图: the latest reading and NEWS2, and the day's
/// trend (shown to staff with `iot.read`; only readings of institutions in their scope).
pub async fn person_panel(
    st: &AppState,
    ctx: &yiyang_core::RequestContext,
    id: i64,
) -> yiyang_core::AppResult<Vec<yiyang_platform::module::PersonPanel>> {
    if ctx.scope_of(IOT_READ).is_none() {
        return Ok(vec![]);
    }
    let now = st.clock.now_micros();
    let rows = crate::readings::timeline(st, ctx, id, now - 86_400_000_000, now + 1, 5000).await?;
    let Some(latest) = rows.last() else {
        return Ok(vec![]);
    };
    let obs = crate::evaluate::observations_of(&st.db, &[id]).await?;
    let s = crate::evaluate::news2_view(latest, obs.get(&id));
    let body = html! {
        p { "最近 " (ts(latest.measured_at)) "：心率 " (latest.hr.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into())) " 次/分 · 血氧 "
            (latest.spo2.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into())) "% · 体温 "
            (latest.temp.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())) "℃ · " strong { (s.summary) } }
        @for c in day_chart(&rows) { (c.render()) }
    };
    Ok(vec![yiyang_platform::module::PersonPanel {
        title: "物联网体征监测（近24小时）".into(),
        body,
        href: format!("/iot/persons/{id}"),
    }])
}

async fn person_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult {
    person_view(&st, &a, id, &q, None).await
}

async fn person_view(
    st: &AppState,
    a: &Authed,
    id: i64,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let now = st.clock.now_micros();
    let rows = crate::readings::timeline(st, &a.ctx, id, now - 86_400_000_000, now, 5000).await?;
    let name = yiyang_patients::service::names_of(&st.db, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    let m = st.masking.masker(&a.ctx, false).await?;
    let obs = crate::evaluate::observations_of(&st.db, &[id]).await?;
    let o = obs.get(&id);
    let latest = rows.last();
    let score = latest.map(|r| crate::evaluate::news2_view(r, o));
    let alarms = alarms::list_page(
        st,
        &a.ctx,
        &AlarmQuery {
            person_id: Some(id),
            status: Some("active".into()),
            ..Default::default()
        },
        &yiyang_store::Window::first(20),
    )
    .await?;
    let orgs = a.ctx.scope_of(IOT_READ).and_then(|s| s.org_ids());
    let (stays, nfc) = crate::geo::track(st, id, orgs.as_deref(), 30).await?;
    let can_obs = a.ctx.scope_of(crate::IOT_ALARM).is_some();
    let can_scale =
        a.ctx.actor.roles.iter().any(|r| r == "doctor") || a.ctx.scope_of(IOT_MANAGE).is_some();
    let err = FormError::pick("observe", q, failed);
    let terr = FormError::pick("thresholds", q, failed);
    let (limits, rule_list) = crate::rules::thresholds(st, id).await?;
    let own_count = limits.iter().filter(|t| t.own.is_some()).count()
        + rule_list.iter().filter(|r| !r.2).count();
    let here = format!("/iot/persons/{id}");
    Ok(shell(
        &st.nav,
        a,
        &format!("{} · 体征监测", m.mask("name", &name)),
        "/iot/screen",
        html! {
            @if !err.is_some() { (msgs(q)) }
            p { a href=(format!("/persons/{id}")) { "健康360视图" } " · " a href=(format!("/iot/alarms?person_id={id}&status=all")) { "告警历史" } }
            @if let Some(s) = &score {
                div class=(format!("card big score-{}", s.level)) {
                    div.l { "NEWS2 早期预警评分" (if s.complete { "" } else { "（部分评分）" }) }
                    div.n { (s.total) " 分 · " (s.label) }
                    p { (s.response) }
                    p.muted { "各项：" @for (pname, pts) in &s.parts { (pname) " " (pts) " 分；" }
                        @if !s.missing.is_empty() { "缺少：" (s.missing.join("、")) "（请录入护理观察以得到完整评分）" } }
                    p.muted { "SpO2 量表：" (if o.is_some_and(|o| o.scale2) { "量表2（高碳酸血症型呼吸衰竭，医生设定）" } else { "量表1" }) }
                }
            } @else { p { "近 24 小时没有监测数据。" } }
            @if !alarms.rows.is_empty() {
                h2 { "未解除的告警" }
                ul { @for al in &alarms.rows { li { (priority_badge(&al.priority)) " " (status_badge(&al.status)) " " a href=(format!("/iot/alarms/{}", al.id)) { (al.title) } " · " (al.detail) " · " (ts(al.raised_at)) } } }
            }
            @for c in day_chart(&rows) { (c.render()) }
            @if can_obs {
                div.page-actions { (dialog_button("observe", "录入护理观察", &here)) }
                (dialog(&err, "录入护理观察（呼吸、意识、吸氧）", &here, html! {
                    form.grid method="post" action=(format!("{here}/observe")) novalidate {
                        (csrf(a))
                        (err.input("rr", "呼吸频率（次/分）", "").kind("number").range("3", "80"))
                        (err.select("avpu", "意识水平（ACVPU）", yiyang_vitals::Avpu::ALL.iter().map(|x| (x.code(), x.label())), "", Some("未评估")))
                        (err.select("on_oxygen", "吸氧", [("0", "未吸氧（空气）"), ("1", "吸氧")], "", Some("未评估")))
                        div.actions { button type="submit" { "保存" } }
                    }
                }))
            }
            @if can_scale {
                div.page-actions { (dialog_button("thresholds", &format!("个人预警阈值（已调整 {own_count} 项）"), &here)) }
                (dialog(&terr, "个人预警阈值", &here, html! {
                    p.muted { "为这位患者单独设定阈值（留空则用全院规则），或关闭不适用的规则；保存后对其后的读数生效，并记入审计。" }
                    form.grid method="post" action=(format!("{here}/thresholds")) novalidate {
                        (csrf(a))
                        @for t in &limits {
                            @let name = format!("t.{}.{}", t.rule, t.key);
                            (terr.input(&name, &format!("{}：{}（全院 {}）", t.rule_name, t.condition, t.default), &t.own.map(|v| v.to_string()).unwrap_or_default()).kind("number").step("any"))
                        }
                        fieldset { legend { "关闭的规则" }
                            @for (code, name, on) in &rule_list { (terr.check("off", code, name, !on)) }
                        }
                        div.actions { button type="submit" { "保存" } }
                    }
                }))
                form.inline method="post" action=(format!("{here}/scale")) {
                    (csrf(a))
                    input type="hidden" name="scale2" value=(if o.is_some_and(|o| o.scale2) { "0" } else { "1" });
                    button.secondary type="submit" { (if o.is_some_and(|o| o.scale2) { "改回 SpO2 量表1" } else { "设为 SpO2 量表2（确诊高碳酸血症型呼吸衰竭）" }) }
                }
            }
            div.grid2 {
                div.card {
                    h2 { "位置轨迹（区域进出）" }
                    table { thead { tr { th { "区域" } th { "进入" } th { "离开" } } }
                        tbody {
                            @for (zone, from, to) in &stays { tr { td { (zone) } td { (ts(*from)) } td { @if let Some(t) = to { (ts(*t)) } @else { "仍在区域内" } } } }
                            @if stays.is_empty() { tr { td colspan="3" { "暂无区域定位记录" } } }
                        }
                    }
                }
                div.card {
                    h2 { "NFC 身份核验" }
                    table { thead { tr { th { "读写器" } th { "标签" } th { "时间" } } }
                        tbody {
                            @for (reader, uid, at) in &nfc { tr { td { (reader) } td.mono { (uid) } td { (ts(*at)) } } }
                            @if nfc.is_empty() { tr { td colspan="3" { "暂无刷卡记录" } } }
                        }
                    }
                }
            }
            h2 { "近 24 小时读数" }
            table { thead { tr { th { "时间" } th { "心率 次/分" } th { "血氧 %" } th { "体温 ℃" } th { "血压 mmHg" } th { "血糖 mmol/L" } } }
                tbody { @for r in rows.iter().rev().take(50) { tr {
                    td { (ts(r.measured_at)) }
                    td { (r.hr.map(|v| format!("{v:.0}")).unwrap_or_default()) }
                    td { (r.spo2.map(|v| format!("{v:.0}")).unwrap_or_default()) }
                    td { (r.temp.map(|v| format!("{v:.1}")).unwrap_or_default()) }
                    td { (r.sbp.map(|v| format!("{v:.0}")).unwrap_or_default()) "/" (r.dbp.map(|v| format!("{v:.0}")).unwrap_or_default()) }
                    td { (r.glu.map(|v| format!("{v:.1}")).unwrap_or_default()) }
                } } }
            }
        },
    )
    .into_response())
}

async fn person_observe(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let input = crate::rules::ObservationInput {
        rr: p(&f, "rr").trim().to_string(),
        avpu: p(&f, "avpu").to_string(),
        on_oxygen: p(&f, "on_oxygen").to_string(),
    };
    match crate::rules::observe(&st, &a.ctx, id, &input).await {
        Ok(()) => back(
            &format!("/iot/persons/{id}"),
            Ok("护理观察已保存，评分已更新".into()),
        ),
        Err(e) => {
            let failed = FormError::from_error("observe", &e, f);
            form_failed(
                &e,
                person_view(&st, &a, id, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn person_thresholds(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let values: Vec<(String, String, String)> = f
        .iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix("t.")?;
            let (rule, key) = rest.split_once('.')?;
            Some((rule.to_string(), key.to_string(), v.clone()))
        })
        .collect();
    let off: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "off")
        .map(|(_, v)| v.clone())
        .collect();
    match crate::rules::set_overrides(&st, &a.ctx, id, &values, &off).await {
        Ok(()) => back(
            &format!("/iot/persons/{id}"),
            Ok("个人预警阈值已保存".into()),
        ),
        Err(e) => {
            let failed = FormError::from_error("thresholds", &e, f);
            form_failed(
                &e,
                person_view(&st, &a, id, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn person_scale(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let on = p(&f, "scale2") == "1";
    back(
        &format!("/iot/persons/{id}"),
        crate::rules::set_scale2(&st, &a.ctx, id, on)
            .await
            .map(|_| {
                if on {
                    "已设为 SpO2 量表2".into()
                } else {
                    "已改回 SpO2 量表1".into()
                }
            }),
    )
}

// ---------------------------------------------------------------- residents

async fn my_page(State(st): State<AppState>, Page(a): Page) -> PageResult<Markup> {
    a.ctx.require(perm::RESIDENT_SELF)?;
    let linked = yiyang_patients::service::viewable_by(&st.db, a.ctx.actor.id).await?;
    let now = st.clock.now_micros();
    let today = yiyang_core::clock::today_cst(st.clock.as_ref());
    let start = yiyang_core::clock::day_start_cst(today);
    let mut blocks = Vec::new();
    for (pid, relation) in &linked {
        let rows = crate::readings::timeline(&st, &a.ctx, *pid, start, now + 1, 2000).await?;
        let name = yiyang_patients::service::names_of(&st.db, &[*pid])
            .await?
            .remove(pid)
            .unwrap_or_default();
        let alarms = crate::alarms::for_person_today(&st, *pid, start).await?;
        blocks.push((name, relation.clone(), rows, alarms));
    }
    Ok(shell(
        &st.nav,
        &a,
        "今日监测",
        "/iot/my",
        html! {
            @if blocks.is_empty() { div.card.big { p { "您的账号还没有关联健康档案，暂无监测数据。" } } }
            @for (name, relation, rows, alarms) in &blocks {
                section.card.big {
                    h2 { (name) @if relation != "self" && !relation.is_empty() { "（" (relation_label(relation)) "）" } }
                    @if let Some(r) = rows.last() {
                        p.muted { "最近一次：" (ts(r.measured_at)) }
                        div.resident-vitals {
                            div { span.l { "心率" } span.v { (r.hr.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into())) } span.u { "次/分" } }
                            div { span.l { "血氧" } span.v { (r.spo2.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into())) } span.u { "%" } }
                            div { span.l { "体温" } span.v { (r.temp.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())) } span.u { "℃" } }
                            div { span.l { "血压" } span.v { (r.sbp.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into())) "/" (r.dbp.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into())) } span.u { "mmHg" } }
                        }
                        p { "今天共 " (rows.len()) " 次测量。" }
                    } @else { p { "今天还没有测量数据。请确认手环已佩戴并充电。" } }
                    h3 { "今天的提醒" }
                    @if alarms.is_empty() { p { "今天没有异常提醒。" } }
                    ul { @for al in alarms { li { (ts(al.raised_at)) " " strong { (al.title) } " · " (al.detail) " · " (crate::labels::label(crate::labels::ALARM_STATUSES, &al.status)) } } }
                }
            }
        },
    ))
}

fn relation_label(r: &str) -> &str {
    match r {
        "self" => "本人",
        "child" => "子女",
        "spouse" => "配偶",
        "parent" => "父母",
        "sibling" => "兄弟姐妹",
        "guardian" => "监护人",
        o => o,
    }
}
