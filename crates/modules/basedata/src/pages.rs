//! Pages of the base-data module.

use crate::service::{
    self, DEPT_KINDS, DEPT_STATUSES, DISTRICTS, ORG_KINDS, OrgInput, OrgQuery, PROFESSIONS,
    STATUSES, StaffInput, StaffQuery, Unmask, label,
};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::{AppError, perm};
use yiyang_platform::web::kit::{
    self, BatchAction, Col, FormError, ListQuery, Table, back_to_form, batch_summary, dialog,
    dialog_button, filter_bar, form_failed,
};
use yiyang_platform::web::layout::{badge, csrf, flash, shell, ts};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Authed, Page, PageResult};

type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs", get(orgs_page).post(org_create))
        .route("/orgs/{id}", get(org_page).post(org_update))
        .route("/orgs/{id}/submit", post(org_submit))
        .route("/orgs/{id}/review", post(org_review))
        .route("/orgs/{id}/departments", post(dept_create))
        .route("/orgs/{id}/departments/{dept}", post(dept_update))
        .route("/orgs/{id}/departments/{dept}/status", post(dept_status))
        .route("/staff", get(staff_page).post(staff_create))
        .route("/staff/{id}", get(staff_detail))
        .route("/staff/batch/{action}", post(staff_batch))
        .route("/staff/{id}/submit", post(staff_submit))
        .route("/staff/{id}/review", post(staff_review))
        .route("/staff/{id}/delete", post(staff_delete))
        .route("/staff/{id}/restore", post(staff_restore))
        .route("/review", get(review_page))
        .route("/review/{kind}/approve", post(review_batch))
        .route("/import", get(import_page).post(import_submit))
        .route("/import/template/{kind}", get(import_template))
}

fn p<'a>(q: &'a Params, k: &str) -> &'a str {
    q.get(k).map(String::as_str).unwrap_or("")
}

fn msgs(q: &Params) -> Markup {
    flash(
        q.get("ok").map(String::as_str),
        q.get("err").map(String::as_str),
    )
}

fn status_badge(s: &str) -> Markup {
    let kind = match s {
        "approved" => "ok",
        "pending" => "warn",
        "rejected" => "err",
        _ => "mute",
    };
    badge(kind, label(STATUSES, s))
}

fn select(
    name: &str,
    id: &str,
    options: &[(&str, &str)],
    current: &str,
    blank: Option<&str>,
) -> Markup {
    html! { select id=(id) name=(name) {
        @if let Some(b) = blank { option value="" { (b) } }
        @for (v, l) in options { option value=(v) selected[*v == current] { (l) } }
    } }
}

fn org_form(a: &Authed, action: &str, o: Option<&service::Org>, e: &FormError) -> Markup {
    let v = |f: fn(&service::Org) -> String| o.map(f).unwrap_or_default();
    let districts: Vec<(&str, &str)> = DISTRICTS.iter().map(|d| (*d, *d)).collect();
    html! { form.grid method="post" action=(action) {
        (csrf(a))
        (e.input("code", "机构编码", &v(|o| o.code.clone())).required().readonly(o.is_some()))
        (e.input("name", "机构名称", &v(|o| o.name.clone())).required())
        (e.select("kind", "机构类型", ORG_KINDS.iter().copied(), &v(|o| o.kind.clone()), None).required())
        (e.input("level", "等级", &v(|o| o.level.clone())).placeholder("如 三级甲等"))
        (e.select("district", "所属区县", districts, &v(|o| o.district.clone()), Some("（请选择）")))
        (e.input("address", "地址", &v(|o| o.address.clone())))
        (e.input("phone", "联系电话", &v(|o| o.phone.clone())))
        (e.input("beds", "床位数", &o.map(|o| o.beds).unwrap_or(0).to_string()).kind("number").range("0", "100000"))
        (e.input("service_scope", "服务范围", &v(|o| o.service_scope.clone())))
        (e.input("licence_no", "执业/设立许可证号", &v(|o| o.licence_no.clone())))
        (e.input("licence_expiry", "许可证有效期", &v(|o| o.licence_expiry.clone().unwrap_or_default())).kind("date"))
        div { button type="submit" { (if o.is_some() { "保存修改" } else { "录入机构" }) } }
    } }
}

fn org_input(f: &Params) -> OrgInput {
    OrgInput {
        code: p(f, "code").into(),
        name: p(f, "name").into(),
        kind: p(f, "kind").into(),
        level: p(f, "level").into(),
        district: p(f, "district").into(),
        address: p(f, "address").into(),
        phone: p(f, "phone").into(),
        beds: p(f, "beds")
            .trim()
            .parse()
            .unwrap_or(if p(f, "beds").trim().is_empty() {
                0
            } else {
                -1
            }),
        service_scope: p(f, "service_scope").into(),
        licence_no: p(f, "licence_no").into(),
        licence_expiry: Some(p(f, "licence_expiry").to_string()),
    }
}

async fn orgs_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    orgs_view(&st, &a, &q, None).await
}

async fn orgs_view(
    st: &AppState,
    a: &Authed,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let oq = OrgQuery {
        q: q.get("q").cloned(),
        kind: q.get("kind").cloned(),
        status: q.get("status").cloned(),
        district: q.get("district").cloned(),
    };
    let lq = ListQuery::from_params(q);
    let orgs = service::list_orgs_page(st, &a.ctx, &oq, &lq.window(service::ORG_SORTS)).await?;
    let table = Table::new("orgs", "/orgs", q, &lq)
        .col(
            Col::new("code", "编码", |o: &service::Org| o.code.clone())
                .sort()
                .class("mono"),
        )
        .col(
            Col::new("name", "名称", |o: &service::Org| o.name.clone())
                .sort()
                .cell(|o| html! { a href=(format!("/orgs/{}", o.id)) { (o.name) } }),
        )
        .col(
            Col::new("kind", "类型", |o: &service::Org| {
                label(ORG_KINDS, &o.kind).to_string()
            })
            .sort(),
        )
        .col(Col::new("level", "等级", |o: &service::Org| {
            o.level.clone()
        }))
        .col(Col::new("district", "区县", |o: &service::Org| o.district.clone()).sort())
        .col(
            Col::new("beds", "床位", |o: &service::Org| o.beds.to_string())
                .sort()
                .numeric(),
        )
        .col(Col::new("phone", "联系电话", |o: &service::Org| {
            o.phone.clone()
        }))
        .col(Col::new("address", "地址", |o: &service::Org| o.address.clone()).hidden())
        .col(
            Col::new("licence_no", "许可证号", |o: &service::Org| {
                o.licence_no.clone()
            })
            .hidden(),
        )
        .col(
            Col::new(
                "licence_expiry",
                "许可证有效期",
                |o: &service::Org| o.licence_expiry.clone().unwrap_or_default(),
            )
            .sort()
            .hidden(),
        )
        .col(
            Col::new("status", "状态", |o: &service::Org| {
                label(STATUSES, &o.status).to_string()
            })
            .sort()
            .cell(|o| status_badge(&o.status)),
        )
        .empty("没有符合条件的机构");
    if lq.export {
        return table.export(st, &a.ctx, "机构信息", "orgs", &orgs).await;
    }
    let districts: Vec<(&str, &str)> = DISTRICTS.iter().map(|d| (*d, *d)).collect();
    let can_create = a.ctx.scope_of(perm::ORG_WRITE) == Some(yiyang_core::Scope::City);
    let err = FormError::pick("org", q, failed);
    Ok(shell(
        &st.nav,
        a,
        "机构信息",
        "/orgs",
        html! {
            @if !err.is_some() { (msgs(q)) }
            (filter_bar("/orgs", &lq, html! {
                div { label for="q" { "名称/编码" } input #q type="search" name="q" value=(p(q, "q")); }
                div { label for="kind" { "类型" } (select("kind", "kind", ORG_KINDS, p(q, "kind"), Some("全部"))) }
                div { label for="district" { "区县" } (select("district", "district", &districts, p(q, "district"), Some("全部"))) }
                div { label for="status" { "状态" } (select("status", "status", STATUSES, p(q, "status"), Some("全部"))) }
            }))
            @if can_create {
                div.page-actions { (dialog_button("org", "新增机构", "/orgs")) }
                (dialog(&err, "新增机构", "/orgs", html! {
                    p.muted { "录入后为“待提交”，提交审核、审核通过后对全平台展示。" }
                    (org_form(a, "/orgs", None, &err))
                }))
            }
            (table.render(&orgs, a))
        },
    )
    .into_response())
}

async fn org_create(State(st): State<AppState>, Page(a): Page, Form(f): Form<Params>) -> Response {
    match service::create_org(&st, &a.ctx, org_input(&f)).await {
        Ok(id) => back(
            &format!("/orgs/{id}"),
            Ok("机构已录入，请核对后提交审核".into()),
        ),
        Err(e) => {
            let failed = FormError::from_error("org", &e, f);
            form_failed(&e, orgs_view(&st, &a, &Params::new(), Some(&failed)).await)
        }
    }
}

async fn org_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult {
    org_view(&st, &a, id, &q, None).await
}

/// One institution: its details, review actions, its departments (a list of the kit:
/// filter, sort, page, export) and the 编辑/新增科室/退回 forms in dialogs.
async fn org_view(
    st: &AppState,
    a: &Authed,
    id: i64,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let o = service::get_org(st, &a.ctx, id).await?;
    let path = format!("/orgs/{id}");
    let lq = ListQuery::from_params(q);
    let dq = crate::departments::DeptQuery {
        q: q.get("q").cloned(),
        kind: q.get("kind").cloned(),
    };
    let depts = if a.ctx.has(perm::DEPT_READ) {
        Some(
            crate::departments::list_page(
                st,
                &a.ctx,
                id,
                &dq,
                &lq.window(crate::departments::DEPT_SORTS),
            )
            .await?,
        )
    } else {
        None
    };
    let can_dept = a.ctx.has_for(perm::DEPT_WRITE, id);
    let token = a.csrf().to_string();
    let dept_path = path.clone();
    let table = Table::new("departments", &path, q, &lq)
        .col(
            Col::new("code", "编码", |d: &service::Department| d.code.clone())
                .sort()
                .class("mono"),
        )
        .col(Col::new("name", "名称", |d: &service::Department| d.name.clone()).sort())
        .col(
            Col::new("kind", "类型", |d: &service::Department| {
                label(DEPT_KINDS, &d.kind).to_string()
            })
            .sort(),
        )
        .col(Col::new("phone", "电话", |d: &service::Department| {
            d.phone.clone()
        }))
        .col(
            Col::new("status", "状态", |d: &service::Department| {
                label(DEPT_STATUSES, &d.status).to_string()
            })
            .cell(|d| {
                if d.status == "active" {
                    badge("ok", "启用")
                } else {
                    badge("mute", "停用")
                }
            }),
        )
        .col(Col::action(
            "actions",
            "操作",
            move |d: &service::Department| {
                let (to, verb) = if d.status == "active" {
                    ("inactive", "停用")
                } else {
                    ("active", "启用")
                };
                html! {
                    @if can_dept {
                        (kit::edit_link("dept-edit", "编辑", &dept_path, &d.id.to_string()))
                        " "
                        form.inline method="post" action=(format!("{dept_path}/departments/{}/status", d.id)) {
                            input type="hidden" name="_csrf" value=(token);
                            input type="hidden" name="status" value=(to);
                            button.secondary.small-btn type="submit" aria-label=(format!("{verb}{}", d.name)) { (verb) }
                        }
                    }
                }
            },
        ))
        .empty("没有符合条件的科室");
    if lq.export
        && let Some(d) = &depts
    {
        return table
            .export(st, &a.ctx, &format!("{}科室", o.name), "department", d)
            .await;
    }
    let can_edit = a.ctx.has_for(perm::ORG_WRITE, id);
    let can_review = a.ctx.has_for(perm::ORG_REVIEW, id);
    let edit = FormError::pick("org-edit", q, failed);
    let dept = FormError::pick("dept", q, failed);
    let dept_edit = FormError::pick("dept-edit", q, failed);
    let reject = FormError::pick("reject", q, failed);
    let any = edit.is_some() || dept.is_some() || dept_edit.is_some() || reject.is_some();
    // 编辑科室: the department asked for (`?new=dept-edit&edit=<id>`), or the one whose
    // form came back.
    let editing = match q.get("edit").map(|e| e.trim().parse::<i64>()) {
        Some(Ok(d)) if can_dept && dept_edit.open() => {
            Some(service::department_for_edit(st, &a.ctx, id, d).await?)
        }
        Some(Err(_)) if dept_edit.open() => return Err(AppError::not_found("department").into()),
        _ => None,
    };
    let kind = p(q, "kind");
    Ok(shell(
        &st.nav,
        a,
        &o.name,
        "/orgs",
        html! {
            @if !any { (msgs(q)) }
            div.card { dl.kv {
                dt { "状态" } dd { (status_badge(&o.status)) @if !o.review_note.is_empty() { " 审核意见：" (o.review_note) } }
                dt { "编码" } dd.mono { (o.code) }
                dt { "类型" } dd { (label(ORG_KINDS, &o.kind)) " " (o.level) }
                dt { "地址" } dd { (o.district) " " (o.address) }
                dt { "联系电话" } dd { (o.phone) }
                dt { "床位数" } dd { (o.beds) }
                dt { "服务范围" } dd { (o.service_scope) }
                dt { "许可证" } dd { (o.licence_no) " 有效期至 " (o.licence_expiry.clone().unwrap_or_default()) }
                dt { "更新时间" } dd { (ts(o.updated_at)) }
            } }
            div.toolbar {
                @if can_edit { (dialog_button("org-edit", "编辑机构信息", &path)) }
                @if can_edit && (o.status == "draft" || o.status == "rejected") {
                    form.inline method="post" action=(format!("/orgs/{id}/submit")) { (csrf(a)) button type="submit" { "提交审核" } }
                }
                @if can_review && o.status == "pending" {
                    form.inline method="post" action=(format!("/orgs/{id}/review")) { (csrf(a)) input type="hidden" name="approve" value="1"; button type="submit" { "审核通过" } }
                    (dialog_button("reject", "退回", &path))
                }
                a.btn.secondary href=(format!("/staff?org_id={id}")) { "查看本机构人员" }
            }
            @if let Some(depts) = &depts {
                h2 { "科室" }
                (filter_bar(&path, &lq, html! {
                    div { label for="dq" { "编码/名称" } input #dq type="search" name="q" value=(p(q, "q")); }
                    div { label for="dk" { "类型" } (select("kind", "dk", DEPT_KINDS, kind, Some("全部"))) }
                }))
                @if can_dept { div.page-actions { (dialog_button("dept", "新增科室", &path)) } }
                (table.render(depts, a))
            }
            @if can_dept {
                (dialog(&dept, "新增科室", &path, html! { form.grid method="post" action=(format!("/orgs/{id}/departments")) {
                    (csrf(a))
                    (dept.input("code", "科室编码", "").required().placeholder("字母、数字或 -"))
                    (dept.input("name", "科室名称", "").required())
                    (dept.select("kind", "类型", DEPT_KINDS.iter().copied(), "clinical", None))
                    (dept.input("phone", "电话", ""))
                    div { button type="submit" { "添加科室" } }
                } }))
            }
            @if let Some(d) = &editing {
                (dialog(&dept_edit, "编辑科室", &path, html! { form.grid method="post" action=(format!("/orgs/{id}/departments/{}", d.id)) {
                    (csrf(a))
                    (dept_edit.input("code", "科室编码", &d.code).required().placeholder("字母、数字或 -"))
                    (dept_edit.input("name", "科室名称", &d.name).required())
                    (dept_edit.select("kind", "类型", DEPT_KINDS.iter().copied(), &d.kind, None))
                    (dept_edit.input("phone", "电话", &d.phone))
                    (dept_edit.select("status", "状态", DEPT_STATUSES.iter().copied(), &d.status, None))
                    div { button type="submit" { "保存修改" } }
                } }))
            }
            @if can_edit {
                (dialog(&edit, "编辑机构信息", &path, html! {
                    p.muted { "已审核的机构修改后将重新进入审核。" }
                    (org_form(a, &path, Some(&o), &edit))
                }))
            }
            @if can_review && o.status == "pending" {
                (dialog(&reject, "退回机构信息", &path, html! { form.grid method="post" action=(format!("/orgs/{id}/review")) {
                    (csrf(a))
                    input type="hidden" name="approve" value="0";
                    (reject.input("note", "退回意见", "").required().placeholder("请写明需要修改的内容"))
                    div { button.danger type="submit" { "退回" } }
                } }))
            }
        },
    )
    .into_response())
}

async fn org_update(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    match service::update_org(&st, &a.ctx, id, org_input(&f)).await {
        Ok(_) => back(&format!("/orgs/{id}"), Ok("已保存".into())),
        Err(e) => {
            let failed = FormError::from_error("org-edit", &e, f);
            form_failed(
                &e,
                org_view(&st, &a, id, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn org_submit(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    let r = service::submit_org(&st, &a.ctx, id).await;
    back(&format!("/orgs/{id}"), r.map(|_| "已提交审核".into()))
}

async fn org_review(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let approve = p(&f, "approve") == "1";
    let r = service::review_org(&st, &a.ctx, id, approve, p(&f, "note")).await;
    if let (false, Err(e)) = (approve, &r) {
        let failed = FormError::from_error("reject", e, f);
        return form_failed(
            e,
            org_view(&st, &a, id, &Params::new(), Some(&failed)).await,
        );
    }
    back(
        &format!("/orgs/{id}"),
        r.map(|_| {
            if approve {
                "已审核通过，机构信息已对全平台展示".into()
            } else {
                "已退回".into()
            }
        }),
    )
}

fn dept_input(f: &Params) -> service::DeptInput {
    service::DeptInput {
        code: p(f, "code").into(),
        name: p(f, "name").into(),
        kind: p(f, "kind").into(),
        phone: p(f, "phone").into(),
        status: p(f, "status").into(),
    }
}

/// 编辑科室: saved, or the dialog again with every problem beside its field.
async fn dept_update(
    State(st): State<AppState>,
    Page(a): Page,
    Path((id, dept)): Path<(i64, i64)>,
    Form(f): Form<Params>,
) -> Response {
    match service::update_department(&st, &a.ctx, id, dept, &dept_input(&f)).await {
        Ok(()) => back(&format!("/orgs/{id}"), Ok("科室已保存".into())),
        Err(e) => {
            let failed = FormError::from_error("dept-edit", &e, f);
            let q: Params = [("edit".to_string(), dept.to_string())].into();
            form_failed(&e, org_view(&st, &a, id, &q, Some(&failed)).await)
        }
    }
}

/// 停用/启用 a department from its row.
async fn dept_status(
    State(st): State<AppState>,
    Page(a): Page,
    Path((id, dept)): Path<(i64, i64)>,
    Form(f): Form<Params>,
) -> Response {
    let status = p(&f, "status");
    let r = service::set_department_status(&st, &a.ctx, id, dept, status).await;
    if let Err(e) = &r
        && matches!(e.status, 403 | 404)
    {
        return yiyang_platform::web::PageError(e.clone()).into_response();
    }
    back(
        &format!("/orgs/{id}"),
        r.map(|_| {
            if status == "active" {
                "科室已启用".into()
            } else {
                "科室已停用".into()
            }
        }),
    )
}

async fn dept_create(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let d = dept_input(&f);
    match service::create_department(&st, &a.ctx, id, &d).await {
        Ok(_) => back(&format!("/orgs/{id}"), Ok("科室已添加".into())),
        Err(e) => {
            let failed = FormError::from_error("dept", &e, f);
            form_failed(
                &e,
                org_view(&st, &a, id, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn staff_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    staff_view(&st, &a, &q, None).await
}

async fn staff_view(
    st: &AppState,
    a: &Authed,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let deleted = p(q, "deleted") == "1";
    let sq = StaffQuery {
        q: q.get("q").cloned(),
        org_id: q.get("org_id").and_then(|v| v.parse().ok()),
        profession: q.get("profession").cloned(),
        status: q.get("status").cloned(),
        deleted: Some(deleted),
        expiring_within_days: q.get("expiring_within_days").and_then(|v| v.parse().ok()),
    };
    let lq = ListQuery::from_params(q);
    let list = service::list_staff_page(
        st,
        &a.ctx,
        &sq,
        &Unmask::default(),
        &lq.window(service::STAFF_SORTS),
    )
    .await?;
    let write_scope = a.ctx.scope_of(perm::STAFF_WRITE);
    let mut batch = Vec::new();
    if write_scope.is_some() {
        if deleted {
            batch.push(BatchAction::new("批量恢复", "/staff/batch/restore"));
        } else {
            batch.push(BatchAction::new("批量提交审核", "/staff/batch/submit"));
            batch.push(
                BatchAction::new("批量移入回收站", "/staff/batch/delete")
                    .danger("确定把选中的人员移入回收站吗？可在回收站恢复。"),
            );
        }
    }
    let table = Table::new("staff", "/staff", q, &lq)
        .col(
            Col::new("name", "姓名", |s: &service::Staff| s.name.clone())
                .sort()
                .class("nowrap")
                .cell(|s| html! { a href=(format!("/staff/{}", s.id)) { (s.name) } }),
        )
        .col(Col::new("sex", "性别", |s: &service::Staff| {
            (if s.sex == "M" { "男" } else { "女" }).to_string()
        }))
        .col(
            Col::new("id_number", "身份证号", |s: &service::Staff| {
                s.id_number.clone()
            })
            .class("mono"),
        )
        .col(Col::new("phone", "手机号", |s: &service::Staff| s.phone.clone()).class("mono"))
        .col(Col::new("org", "机构", |s: &service::Staff| s.org_name.clone()).sort())
        .col(
            Col::new("dept", "科室", |s: &service::Staff| {
                s.dept_name.clone().unwrap_or_default()
            })
            .sort(),
        )
        .col(
            Col::new("profession", "职业", |s: &service::Staff| {
                label(PROFESSIONS, &s.profession).to_string()
            })
            .sort(),
        )
        .col(
            Col::new("title", "职称", |s: &service::Staff| s.title.clone())
                .sort()
                .hidden(),
        )
        .col(
            Col::new("licence_no", "执业证书编号", |s: &service::Staff| {
                s.licence_no.clone()
            })
            .hidden(),
        )
        .col(
            Col::new(
                "licence_expiry",
                "执业证有效期",
                |s: &service::Staff| s.licence_expiry.clone().unwrap_or_default(),
            )
            .sort(),
        )
        .col(
            Col::new("status", "状态", |s: &service::Staff| {
                label(STATUSES, &s.status).to_string()
            })
            .sort()
            .cell(|s| status_badge(&s.status)),
        )
        .batch(|s| s.id, batch)
        .empty(if deleted {
            "回收站是空的"
        } else {
            "没有符合条件的人员"
        });
    if lq.export {
        return table.export(st, &a.ctx, "人员信息", "staff", &list).await;
    }
    let orgs: Vec<(i64, String)> = st
        .db
        .fetch_all("SELECT id, name FROM orgs ORDER BY id", vec![])
        .await?;
    let my_orgs: Vec<&(i64, String)> = orgs
        .iter()
        .filter(|(id, _)| write_scope.as_ref().is_some_and(|s| s.allows(*id)))
        .collect();
    let depts: Vec<(i64, i64, String)> =
        st.db.fetch_all("SELECT id, org_id, name FROM departments WHERE status = 'active' ORDER BY org_id, code", vec![]).await?;
    let depts: Vec<(i64, String)> = depts
        .into_iter()
        .filter(|(_, o, _)| my_orgs.iter().any(|(id, _)| id == o))
        .map(|(id, o, n)| {
            (
                id,
                format!(
                    "{} · {n}",
                    orgs.iter()
                        .find(|(i, _)| *i == o)
                        .map(|(_, x)| x.as_str())
                        .unwrap_or("")
                ),
            )
        })
        .collect();
    let err = FormError::pick("staff", q, failed);
    Ok(shell(
        &st.nav,
        a,
        "人员信息",
        "/staff",
        html! {
            @if !err.is_some() { (msgs(q)) }
            (filter_bar("/staff", &lq, html! {
                div { label for="q" { "姓名/身份证号/手机号" } input #q type="search" name="q" value=(p(q, "q")); }
                div { label for="pr" { "职业类别" } (select("profession", "pr", PROFESSIONS, p(q, "profession"), Some("全部"))) }
                div { label for="stt" { "状态" } (select("status", "stt", STATUSES, p(q, "status"), Some("全部"))) }
                div { label for="exp" { "证照到期" } select #exp name="expiring_within_days" {
                    option value="" { "不限" }
                    @for (d, l) in [("30", "30天内到期或已过期"), ("60", "60天内到期或已过期"), ("90", "90天内到期或已过期")] {
                        option value=(d) selected[p(q, "expiring_within_days") == d] { (l) }
                    }
                } }
                @if let Some(o) = q.get("org_id") { input type="hidden" name="org_id" value=(o); }
                div { label.chk { input type="checkbox" name="deleted" value="1" checked[deleted]; " 回收站" } }
            }))
            p.muted.small { "身份证号按完整号码精确查找（加密存储，盲索引检索）。个人信息按脱敏规则显示，导出的表格同样脱敏。" }
            @if !my_orgs.is_empty() {
                div.page-actions { (dialog_button("staff", "新增人员", "/staff")) }
                (dialog(&err, "新增人员", "/staff", html! { form.grid method="post" action="/staff" {
                    (csrf(a))
                    (err.select("org_id", "所属机构", my_orgs.iter().map(|(id, n)| (*id, n.clone())), "", None).required())
                    (err.select("dept_id", "科室（须属于所选机构）", depts.iter().cloned(), "", Some("（不指定）")))
                    (err.input("name", "姓名", "").required())
                    (err.select("sex", "性别", [("M", "男"), ("F", "女")], "M", None).required())
                    (err.input("id_number", "身份证号", "").required().maxlength(18).autocomplete("off"))
                    (err.input("phone", "手机号", ""))
                    (err.select("profession", "职业类别", PROFESSIONS.iter().copied(), "", None).required())
                    (err.input("title", "职称", ""))
                    (err.input("qualification_no", "资格证书编号", ""))
                    (err.input("licence_no", "执业证书编号", ""))
                    (err.input("licence_expiry", "执业证书有效期", "").kind("date"))
                    div { button type="submit" { "录入" } }
                } }))
            }
            (table.render(&list, a))
        },
    )
    .into_response())
}

async fn staff_create(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    let input = StaffInput {
        org_id: p(&f, "org_id").parse().unwrap_or(0),
        dept_id: p(&f, "dept_id").trim().parse().ok(),
        name: p(&f, "name").into(),
        sex: p(&f, "sex").into(),
        id_number: p(&f, "id_number").into(),
        phone: p(&f, "phone").into(),
        profession: p(&f, "profession").into(),
        title: p(&f, "title").into(),
        qualification_no: p(&f, "qualification_no").into(),
        licence_no: p(&f, "licence_no").into(),
        licence_expiry: Some(p(&f, "licence_expiry").to_string()),
    };
    match service::create_staff(&st, &a.ctx, input).await {
        Ok((id, w)) if w.is_empty() => back(&format!("/staff/{id}"), Ok("人员已录入".into())),
        Ok((id, w)) => back(
            &format!("/staff/{id}"),
            Ok(format!("人员已录入。请注意：{}", w.join("；"))),
        ),
        Err(e) => {
            let failed = FormError::from_error("staff", &e, f);
            form_failed(&e, staff_view(&st, &a, &Params::new(), Some(&failed)).await)
        }
    }
}

async fn staff_detail(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
    Query(um): Query<Unmask>,
) -> PageResult<Markup> {
    let s = match service::get_staff(&st, &a.ctx, id, &um).await {
        Err(e) if um.unmask == Some(true) && e.status != 404 => {
            return Ok(yiyang_platform::web::layout::error_page(&e));
        }
        r => r?,
    };
    let can_unmask = a.ctx.has_for(perm::STAFF_READ_UNMASKED, s.org_id);
    let can_write = a.ctx.has_for(perm::STAFF_WRITE, s.org_id);
    let can_review = a.ctx.has_for(perm::STAFF_REVIEW, s.org_id);
    let reject = FormError::from_params(&q, "reject");
    Ok(shell(
        &st.nav,
        &a,
        &format!("人员：{}", s.name),
        "/staff",
        html! {
            @if !reject.is_some() { (msgs(&q)) }
            div.card { dl.kv {
                dt { "状态" } dd { (status_badge(&s.status)) @if s.deleted { " " (badge("err", "已删除（回收站）")) } @if !s.review_note.is_empty() { " 审核意见：" (s.review_note) } }
                dt { "姓名" } dd { (s.name) }
                dt { "性别" } dd { (if s.sex == "M" { "男" } else { "女" }) }
                dt { "出生日期" } dd { (s.birth_date) }
                dt { "身份证号" } dd.mono { (s.id_number) }
                dt { "手机号" } dd.mono { (s.phone) }
                dt { "机构/科室" } dd { a href=(format!("/orgs/{}", s.org_id)) { (s.org_name) } " " (s.dept_name.clone().unwrap_or_default()) }
                dt { "职业类别/职称" } dd { (label(PROFESSIONS, &s.profession)) " " (s.title) }
                dt { "资格证书" } dd { (s.qualification_no) }
                dt { "执业证书" } dd { (s.licence_no) " 有效期至 " (s.licence_expiry.clone().unwrap_or_default()) }
                dt { "录入时间" } dd { (ts(s.created_at)) }
            } }
            @if s.masked && can_unmask {
                div.toolbar { (kit::unmask_button(&format!("/staff/{id}"), "如：核对执业注册信息", &q)) }
            }
            div.toolbar {
                @if can_write && !s.deleted && (s.status == "draft" || s.status == "rejected") {
                    form.inline method="post" action=(format!("/staff/{id}/submit")) { (csrf(&a)) button type="submit" { "提交审核" } }
                }
                @if can_review && s.status == "pending" {
                    form.inline method="post" action=(format!("/staff/{id}/review")) { (csrf(&a)) input type="hidden" name="approve" value="1"; button type="submit" { "审核通过" } }
                    (dialog_button("reject", "退回", &format!("/staff/{id}")))
                }
                @if can_write {
                    @if s.deleted {
                        form.inline method="post" action=(format!("/staff/{id}/restore")) { (csrf(&a)) button.secondary type="submit" { "从回收站恢复" } }
                    } @else {
                        form.inline method="post" action=(format!("/staff/{id}/delete")) { (csrf(&a)) button.secondary type="submit" { "移入回收站" } }
                    }
                }
            }
            @if can_review && s.status == "pending" {
                (dialog(&reject, "退回人员信息", &format!("/staff/{id}"), html! { form.grid method="post" action=(format!("/staff/{id}/review")) {
                    (csrf(&a))
                    input type="hidden" name="approve" value="0";
                    (reject.input("note", "退回意见", "").required().placeholder("请写明需要修改的内容"))
                    div { button.danger type="submit" { "退回" } }
                } }))
            }
        },
    ))
}

async fn staff_submit(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    back(
        &format!("/staff/{id}"),
        service::submit_staff(&st, &a.ctx, id)
            .await
            .map(|_| "已提交审核".into()),
    )
}

async fn staff_review(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let approve = p(&f, "approve") == "1";
    let r = service::review_staff(&st, &a.ctx, id, approve, p(&f, "note")).await;
    if let (false, Err(e)) = (approve, &r) {
        return back_to_form(&format!("/staff/{id}"), "reject", e);
    }
    back(
        &format!("/staff/{id}"),
        r.map(|_| {
            if approve {
                "已审核通过".into()
            } else {
                "已退回".into()
            }
        }),
    )
}

/// 批量操作 on the ticked staff: each record on its own, every failure reported.
async fn staff_batch(
    State(st): State<AppState>,
    Page(a): Page,
    Path(action): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let ids = yiyang_platform::web::kit::ids(&f);
    let (to, mut failures, mut done) = match action.as_str() {
        "restore" => ("/staff?deleted=1", Vec::new(), 0),
        "delete" | "submit" => ("/staff", Vec::new(), 0),
        _ => return back("/staff", Err(AppError::not_found("batch_action"))),
    };
    for id in ids {
        let r = match action.as_str() {
            "restore" => service::set_staff_deleted(&st, &a.ctx, id, false).await,
            "delete" => service::set_staff_deleted(&st, &a.ctx, id, true).await,
            _ => service::submit_staff(&st, &a.ctx, id).await,
        };
        match r {
            Ok(()) => done += 1,
            Err(e) => failures.push((id, e)),
        }
    }
    back(to, batch_summary(done, &failures))
}

async fn staff_delete(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    back(
        &format!("/staff/{id}"),
        service::set_staff_deleted(&st, &a.ctx, id, true)
            .await
            .map(|_| "已移入回收站，可随时恢复".into()),
    )
}

async fn staff_restore(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    back(
        &format!("/staff/{id}"),
        service::set_staff_deleted(&st, &a.ctx, id, false)
            .await
            .map(|_| "已恢复".into()),
    )
}

async fn review_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let can_orgs = a.ctx.has(perm::ORG_REVIEW);
    let can_staff = a.ctx.has(perm::STAFF_REVIEW);
    if !can_orgs && !can_staff {
        return Err(AppError::forbidden(perm::ORG_REVIEW).into());
    }
    let tab = match p(&q, "tab") {
        "" if can_orgs => "orgs",
        "" => "staff",
        t => t,
    };
    yiyang_core::text::one_of("tab", "分类", tab, &["orgs", "staff"])?;
    let lq = ListQuery::from_params(&q);
    let counts = crate::dashboard::pending_counts(&st, &a.ctx).await?;
    let mut tabs = Vec::new();
    if can_orgs {
        tabs.push((
            "/review?tab=orgs".to_string(),
            "机构",
            Some(counts.orgs),
            tab == "orgs",
        ));
    }
    if can_staff {
        tabs.push((
            "/review?tab=staff".to_string(),
            "人员",
            Some(counts.staff),
            tab == "staff",
        ));
    }
    let batch_note = "批量审核通过：逐条处理，不能审核自己提交的记录，未通过的逐条说明原因。";
    let body = if tab == "orgs" {
        a.ctx.require(perm::ORG_REVIEW)?;
        let oq = OrgQuery {
            q: q.get("q").cloned(),
            kind: q.get("kind").cloned(),
            status: Some("pending".into()),
            district: q.get("district").cloned(),
        };
        let list =
            service::list_orgs_page(&st, &a.ctx, &oq, &lq.window(service::ORG_SORTS)).await?;
        let table = Table::new("review-orgs", "/review", &q, &lq)
            .col(
                Col::new("code", "编码", |o: &service::Org| o.code.clone())
                    .sort()
                    .class("mono"),
            )
            .col(
                Col::new("name", "名称", |o: &service::Org| o.name.clone())
                    .sort()
                    .cell(|o| html! { a href=(format!("/orgs/{}", o.id)) { (o.name) } }),
            )
            .col(
                Col::new("kind", "类型", |o: &service::Org| {
                    label(ORG_KINDS, &o.kind).to_string()
                })
                .sort(),
            )
            .col(Col::new("district", "区县", |o: &service::Org| o.district.clone()).sort())
            .col(
                Col::new("licence_no", "许可证号", |o: &service::Org| {
                    o.licence_no.clone()
                })
                .hidden(),
            )
            .col(
                Col::new("updated_at", "提交时间", |o: &service::Org| {
                    ts(o.updated_at)
                })
                .class("nowrap"),
            )
            .col(Col::action(
                "actions",
                "操作",
                |o: &service::Org| html! { a href=(format!("/orgs/{}", o.id)) { "审核" } },
            ))
            .batch(
                |o| o.id,
                vec![
                    BatchAction::new("批量审核通过", "/review/orgs/approve")
                        .danger("确定审核通过所选机构？通过后对全平台展示。"),
                ],
            )
            .empty("没有待审核的机构");
        if lq.export {
            return table.export(&st, &a.ctx, "待审核机构", "orgs", &list).await;
        }
        let districts: Vec<(&str, &str)> = DISTRICTS.iter().map(|d| (*d, *d)).collect();
        html! {
            (filter_bar("/review", &lq, html! {
                input type="hidden" name="tab" value="orgs";
                div { label for="q" { "名称/编码" } input #q type="search" name="q" value=(p(&q, "q")); }
                div { label for="kind" { "类型" } (select("kind", "kind", ORG_KINDS, p(&q, "kind"), Some("全部"))) }
                div { label for="district" { "区县" } (select("district", "district", &districts, p(&q, "district"), Some("全部"))) }
            }))
            p.muted.small { (batch_note) }
            (table.render(&list, &a))
        }
    } else {
        a.ctx.require(perm::STAFF_REVIEW)?;
        let sq = StaffQuery {
            q: q.get("q").cloned(),
            org_id: q.get("org_id").and_then(|v| v.parse().ok()),
            profession: q.get("profession").cloned(),
            status: Some("pending".into()),
            deleted: Some(false),
            expiring_within_days: None,
        };
        let list = service::list_staff_page(
            &st,
            &a.ctx,
            &sq,
            &Unmask::default(),
            &lq.window(service::STAFF_SORTS),
        )
        .await?;
        let table = Table::new("review-staff", "/review", &q, &lq)
            .col(
                Col::new("name", "姓名", |s: &service::Staff| s.name.clone())
                    .sort()
                    .cell(|s| html! { a href=(format!("/staff/{}", s.id)) { (s.name) } }),
            )
            .col(Col::new("org", "机构", |s: &service::Staff| s.org_name.clone()).sort())
            .col(Col::new("dept", "科室", |s: &service::Staff| {
                s.dept_name.clone().unwrap_or_default()
            }))
            .col(
                Col::new("profession", "职业", |s: &service::Staff| {
                    label(PROFESSIONS, &s.profession).to_string()
                })
                .sort(),
            )
            .col(Col::new("title", "职称", |s: &service::Staff| s.title.clone()).hidden())
            .col(
                Col::new("licence_no", "执业证书编号", |s: &service::Staff| {
                    s.licence_no.clone()
                })
                .hidden(),
            )
            .col(
                Col::new(
                    "licence_expiry",
                    "执业证有效期",
                    |s: &service::Staff| s.licence_expiry.clone().unwrap_or_default(),
                )
                .sort(),
            )
            .col(Col::action(
                "actions",
                "操作",
                |s: &service::Staff| html! { a href=(format!("/staff/{}", s.id)) { "审核" } },
            ))
            .batch(
                |s| s.id,
                vec![
                    BatchAction::new("批量审核通过", "/review/staff/approve")
                        .danger("确定审核通过所选人员？"),
                ],
            )
            .empty("没有待审核的人员");
        if lq.export {
            return table
                .export(&st, &a.ctx, "待审核人员", "staff", &list)
                .await;
        }
        html! {
            (filter_bar("/review", &lq, html! {
                input type="hidden" name="tab" value="staff";
                div { label for="q" { "姓名/身份证号/手机号" } input #q type="search" name="q" value=(p(&q, "q")); }
                div { label for="pr" { "职业类别" } (select("profession", "pr", PROFESSIONS, p(&q, "profession"), Some("全部"))) }
            }))
            p.muted.small { (batch_note) }
            (table.render(&list, &a))
        }
    };
    Ok(shell(
        &st.nav,
        &a,
        "待审核",
        "/review",
        html! {
            (msgs(&q))
            (kit::tabs(&tabs))
            (body)
        },
    )
    .into_response())
}

/// 批量审核通过 on the review page: each record on its own (separation of duties and
/// scope are checked per record), every failure named.
async fn review_batch(
    State(st): State<AppState>,
    Page(a): Page,
    Path(kind): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let to = match kind.as_str() {
        "orgs" => "/review?tab=orgs",
        "staff" => "/review?tab=staff",
        _ => return back("/review", Err(AppError::not_found("batch_action"))),
    };
    let (mut done, mut failures) = (0, Vec::new());
    for id in kit::ids(&f) {
        let r = if kind == "orgs" {
            service::review_org(&st, &a.ctx, id, true, "").await
        } else {
            service::review_staff(&st, &a.ctx, id, true, "").await
        };
        match r {
            Ok(()) => done += 1,
            Err(e) => failures.push((id, e)),
        }
    }
    back(to, batch_summary(done, &failures))
}

async fn import_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    a.ctx.require(perm::STAFF_WRITE)?;
    Ok(import_view(&st, &a, &q, None))
}

fn import_view(
    st: &AppState,
    a: &yiyang_platform::web::Authed,
    q: &Params,
    report: Option<(&str, &crate::import::ImportReport)>,
) -> Markup {
    let city = a.ctx.scope_of(perm::ORG_WRITE) == Some(yiyang_core::Scope::City);
    shell(
        &st.nav,
        a,
        "批量导入",
        "/import",
        html! {
            (msgs(q))
            @if let Some((kind, r)) = report {
                div.card {
                    h2 { (if kind == "orgs" { "机构" } else { "人员" }) "导入结果" }
                    @if r.errors.is_empty() && !r.dry_run { div.notice.ok { "共 " (r.total_rows) " 行，已全部导入 " (r.imported) " 行。" } }
                    @if r.errors.is_empty() && r.dry_run { div.notice.ok { "校验通过：共 " (r.total_rows) " 行，均可导入（本次仅校验，未写入）。" } }
                    @if !r.errors.is_empty() { div.notice.err { "共 " (r.total_rows) " 行，" (r.errors.len()) " 处错误。为保证数据完整，本次未导入任何数据，请修改后重新上传。" } }
                    @if !r.errors.is_empty() || !r.warnings.is_empty() {
                        div.table-wrap { table {
                            thead { tr { th { "行号" } th { "列" } th { "级别" } th { "说明" } } }
                            tbody {
                                @let cols = if kind == "orgs" { crate::import::ORG_COLUMNS } else { crate::import::STAFF_COLUMNS };
                                @for e in &r.errors { tr { td { (e.row) } td { (crate::import::column_label(cols, &e.column)) } td { (badge("err", "错误")) } td { (e.message) } } }
                                @for e in &r.warnings { tr { td { (e.row) } td { (crate::import::column_label(cols, &e.column)) } td { (badge("warn", "提示")) } td { (e.message) } } }
                            }
                        } }
                    }
                }
            }
            div.card {
                p { "支持 CSV（UTF-8）与 XLSX 文件，第一行为列名（中文或英文）。所有行校验通过后才会在一个事务中全部写入；任何一行有误则不导入，并逐行列出错误。" }
                p { "模板：" a href="/import/template/staff" { "人员导入模板.csv" } @if city { " · " a href="/import/template/orgs" { "机构导入模板.csv" } } }
                form.grid method="post" action="/import" enctype="multipart/form-data" { (csrf(a))
                    div { label for="kind" { "导入内容" } select #kind name="kind" { option value="staff" { "人员信息" } @if city { option value="orgs" { "机构信息" } } } }
                    div { label for="file" { "文件" } input #file type="file" name="file" accept=".csv,.xlsx" required; }
                    div { label { input type="checkbox" name="dry_run" value="1"; " 仅校验，不写入" } }
                    div { button type="submit" { "上传" } }
                }
            }
        },
    )
}

async fn import_submit(State(st): State<AppState>, Page(a): Page, mut mp: Multipart) -> PageResult {
    let (mut kind, mut name, mut bytes, mut dry) =
        (String::new(), String::new(), Vec::new(), false);
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
    {
        match field.name() {
            Some("kind") => kind = field.text().await.unwrap_or_default(),
            Some("dry_run") => dry = field.text().await.unwrap_or_default() == "1",
            Some("file") => {
                name = field.file_name().unwrap_or("").to_string();
                bytes = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
                    .to_vec();
            }
            _ => {}
        }
    }
    if bytes.is_empty() {
        return Ok(back(
            "/import",
            Err(AppError::validation("import.no_file", "请选择要导入的文件")),
        ));
    }
    match crate::api::run_import(&st, &a.ctx, &kind, &name, &bytes, dry).await {
        Ok(r) => Ok(import_view(&st, &a, &Params::new(), Some((&kind, &r))).into_response()),
        Err(e) => Ok(back("/import", Err(e))),
    }
}

async fn import_template(Path(kind): Path<String>) -> Response {
    match crate::import::template(&kind) {
        Some(csv) => {
            let fname = if kind == "orgs" {
                "orgs-template.csv"
            } else {
                "staff-template.csv"
            };
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{fname}\""),
                    ),
                ],
                csv,
            )
                .into_response()
        }
        None => (axum::http::StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
