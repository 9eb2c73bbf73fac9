//! Pages of the base-data module.

use crate::service::{
    self, DEPT_KINDS, DISTRICTS, ORG_KINDS, OrgInput, OrgQuery, PROFESSIONS, STATUSES, StaffInput,
    StaffQuery, Unmask, label,
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
    BatchAction, Col, FormError, ListQuery, Table, back_to_form, batch_summary, dialog,
    dialog_button, filter_bar,
};
use yiyang_platform::web::layout::{badge, csrf, flash, shell, ts};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Page, PageResult};

type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs", get(orgs_page).post(org_create))
        .route("/orgs/{id}", get(org_page).post(org_update))
        .route("/orgs/{id}/submit", post(org_submit))
        .route("/orgs/{id}/review", post(org_review))
        .route("/orgs/{id}/departments", post(dept_create))
        .route("/staff", get(staff_page).post(staff_create))
        .route("/staff/{id}", get(staff_detail))
        .route("/staff/batch/{action}", post(staff_batch))
        .route("/staff/{id}/submit", post(staff_submit))
        .route("/staff/{id}/review", post(staff_review))
        .route("/staff/{id}/delete", post(staff_delete))
        .route("/staff/{id}/restore", post(staff_restore))
        .route("/review", get(review_page))
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

fn org_form(a: &yiyang_platform::web::Authed, action: &str, o: Option<&service::Org>) -> Markup {
    let v = |f: fn(&service::Org) -> String| o.map(f).unwrap_or_default();
    let districts: Vec<(&str, &str)> = DISTRICTS.iter().map(|d| (*d, *d)).collect();
    html! { form.grid method="post" action=(action) {
        (csrf(a))
        div { label for="code" { "机构编码" span.req { "*" } } input #code type="text" name="code" value=(v(|o| o.code.clone())) required readonly[o.is_some()]; }
        div { label for="name" { "机构名称" span.req { "*" } } input #name type="text" name="name" value=(v(|o| o.name.clone())) required; }
        div { label for="kind" { "机构类型" span.req { "*" } } (select("kind", "kind", ORG_KINDS, &v(|o| o.kind.clone()), None)) }
        div { label for="level" { "等级" } input #level type="text" name="level" value=(v(|o| o.level.clone())) placeholder="如 三级甲等"; }
        div { label for="district" { "所属区县" } (select("district", "district", &districts, &v(|o| o.district.clone()), Some("（请选择）"))) }
        div { label for="address" { "地址" } input #address type="text" name="address" value=(v(|o| o.address.clone())); }
        div { label for="phone" { "联系电话" } input #phone type="text" name="phone" value=(v(|o| o.phone.clone())); }
        div { label for="beds" { "床位数" } input #beds type="number" min="0" name="beds" value=(o.map(|o| o.beds).unwrap_or(0)); }
        div { label for="scope" { "服务范围" } input #scope type="text" name="service_scope" value=(v(|o| o.service_scope.clone())); }
        div { label for="lic" { "执业/设立许可证号" } input #lic type="text" name="licence_no" value=(v(|o| o.licence_no.clone())); }
        div { label for="exp" { "许可证有效期" } input #exp type="date" name="licence_expiry" value=(v(|o| o.licence_expiry.clone().unwrap_or_default())); }
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
    let oq = OrgQuery {
        q: q.get("q").cloned(),
        kind: q.get("kind").cloned(),
        status: q.get("status").cloned(),
        district: q.get("district").cloned(),
    };
    let lq = ListQuery::from_params(&q);
    let orgs = service::list_orgs_page(&st, &a.ctx, &oq, &lq.window(service::ORG_SORTS)).await?;
    let table = Table::new("orgs", "/orgs", &q, &lq)
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
        return table.export(&st, &a.ctx, "机构信息", "orgs", &orgs).await;
    }
    let districts: Vec<(&str, &str)> = DISTRICTS.iter().map(|d| (*d, *d)).collect();
    let can_create = a.ctx.scope_of(perm::ORG_WRITE) == Some(yiyang_core::Scope::City);
    let err = FormError::from_params(&q, "org");
    Ok(shell(
        &st.nav,
        &a,
        "机构信息",
        "/orgs",
        html! {
            @if !err.is_some() { (msgs(&q)) }
            (filter_bar("/orgs", &lq, html! {
                div { label for="q" { "名称/编码" } input #q type="search" name="q" value=(p(&q, "q")); }
                div { label for="kind" { "类型" } (select("kind", "kind", ORG_KINDS, p(&q, "kind"), Some("全部"))) }
                div { label for="district" { "区县" } (select("district", "district", &districts, p(&q, "district"), Some("全部"))) }
                div { label for="status" { "状态" } (select("status", "status", STATUSES, p(&q, "status"), Some("全部"))) }
            }))
            @if can_create {
                div.page-actions { (dialog_button("dlg-org", "新增机构", "/orgs?new=org")) }
                (dialog("dlg-org", "新增机构", p(&q, "new") == "org", &err, html! {
                    p.muted { "录入后为“待提交”，提交审核、审核通过后对全平台展示。" }
                    (org_form(&a, "/orgs", None))
                }))
            }
            (table.render(&orgs, &a))
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
        Err(e) => back_to_form("/orgs", "org", &e),
    }
}

async fn org_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    let o = service::get_org(&st, &a.ctx, id).await?;
    let depts = if a.ctx.has(perm::DEPT_READ) {
        service::list_departments(&st, &a.ctx, id).await?
    } else {
        vec![]
    };
    let can_edit = a.ctx.has_for(perm::ORG_WRITE, id);
    let can_review = a.ctx.has_for(perm::ORG_REVIEW, id);
    let can_dept = a.ctx.has_for(perm::DEPT_WRITE, id);
    Ok(shell(
        &st.nav,
        &a,
        &o.name,
        "/orgs",
        html! {
            (msgs(&q))
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
                @if can_edit && (o.status == "draft" || o.status == "rejected") {
                    form.inline method="post" action=(format!("/orgs/{id}/submit")) { (csrf(&a)) button type="submit" { "提交审核" } }
                }
                @if can_review && o.status == "pending" {
                    form.inline method="post" action=(format!("/orgs/{id}/review")) { (csrf(&a)) input type="hidden" name="approve" value="1"; button type="submit" { "审核通过" } }
                    form.inline method="post" action=(format!("/orgs/{id}/review")) {
                        (csrf(&a)) input type="hidden" name="approve" value="0";
                        label.muted.chk for="note" { "退回意见 " } input #note type="text" name="note" required;
                        " " button.danger type="submit" { "退回" }
                    }
                }
                a.btn.secondary href=(format!("/staff?org_id={id}")) { "查看本机构人员" }
            }
            h2 { "科室" }
            div.table-wrap { table {
                thead { tr { th { "编码" } th { "名称" } th { "类型" } th { "电话" } } }
                tbody { @for d in &depts { tr { td.mono { (d.code) } td { (d.name) } td { (label(DEPT_KINDS, &d.kind)) } td { (d.phone) } } } }
            } }
            @if can_dept {
                div.card { form.grid method="post" action=(format!("/orgs/{id}/departments")) {
                    (csrf(&a))
                    div { label for="dc" { "科室编码" } input #dc type="text" name="code" required; }
                    div { label for="dn" { "科室名称" } input #dn type="text" name="name" required; }
                    div { label for="dk" { "类型" } (select("kind", "dk", DEPT_KINDS, "clinical", None)) }
                    div { label for="dp" { "电话" } input #dp type="text" name="phone"; }
                    div { button type="submit" { "添加科室" } }
                } }
            }
            @if can_edit {
                h2 { "修改机构信息" }
                p.muted { "已审核的机构修改后将重新进入审核。" }
                div.card { (org_form(&a, &format!("/orgs/{id}"), Some(&o))) }
            }
        },
    ))
}

async fn org_update(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let r = service::update_org(&st, &a.ctx, id, org_input(&f)).await;
    back(&format!("/orgs/{id}"), r.map(|_| "已保存".into()))
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

async fn dept_create(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let d = service::DeptInput {
        code: p(&f, "code").into(),
        name: p(&f, "name").into(),
        kind: p(&f, "kind").into(),
        phone: p(&f, "phone").into(),
    };
    let r = service::create_department(&st, &a.ctx, id, &d).await;
    back(&format!("/orgs/{id}"), r.map(|_| "科室已添加".into()))
}

async fn staff_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let deleted = p(&q, "deleted") == "1";
    let sq = StaffQuery {
        q: q.get("q").cloned(),
        org_id: q.get("org_id").and_then(|v| v.parse().ok()),
        profession: q.get("profession").cloned(),
        status: q.get("status").cloned(),
        deleted: Some(deleted),
        expiring_within_days: q.get("expiring_within_days").and_then(|v| v.parse().ok()),
    };
    let lq = ListQuery::from_params(&q);
    let list = service::list_staff_page(
        &st,
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
    let table = Table::new("staff", "/staff", &q, &lq)
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
        return table.export(&st, &a.ctx, "人员信息", "staff", &list).await;
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
    let err = FormError::from_params(&q, "staff");
    Ok(shell(
        &st.nav,
        &a,
        "人员信息",
        "/staff",
        html! {
            @if !err.is_some() { (msgs(&q)) }
            (filter_bar("/staff", &lq, html! {
                div { label for="q" { "姓名/身份证号/手机号" } input #q type="search" name="q" value=(p(&q, "q")); }
                div { label for="pr" { "职业类别" } (select("profession", "pr", PROFESSIONS, p(&q, "profession"), Some("全部"))) }
                div { label for="stt" { "状态" } (select("status", "stt", STATUSES, p(&q, "status"), Some("全部"))) }
                div { label for="exp" { "证照到期" } select #exp name="expiring_within_days" {
                    option value="" { "不限" }
                    @for (d, l) in [("30", "30天内到期或已过期"), ("60", "60天内到期或已过期"), ("90", "90天内到期或已过期")] {
                        option value=(d) selected[p(&q, "expiring_within_days") == d] { (l) }
                    }
                } }
                @if let Some(o) = q.get("org_id") { input type="hidden" name="org_id" value=(o); }
                div { label.chk { input type="checkbox" name="deleted" value="1" checked[deleted]; " 回收站" } }
            }))
            p.muted.small { "身份证号按完整号码精确查找（加密存储，盲索引检索）。个人信息按脱敏规则显示，导出的表格同样脱敏。" }
            @if !my_orgs.is_empty() {
                div.page-actions { (dialog_button("dlg-staff", "新增人员", "/staff?new=staff")) }
                (dialog("dlg-staff", "新增人员", p(&q, "new") == "staff", &err, html! { form.grid method="post" action="/staff" {
                    (csrf(&a))
                    div { label for="org" { "所属机构" span.req { "*" } } select #org name="org_id" { @for (id, n) in &my_orgs { option value=(id) { (n) } } } }
                    div { label for="dept" { "科室（须属于所选机构）" } select #dept name="dept_id" { option value="" { "（不指定）" } @for (id, n) in &depts { option value=(id) { (n) } } } }
                    div { label for="nm" { "姓名" span.req { "*" } } input #nm type="text" name="name" required; }
                    div { label for="sx" { "性别" span.req { "*" } } select #sx name="sex" { option value="M" { "男" } option value="F" { "女" } } }
                    div { label for="idn" { "身份证号" span.req { "*" } } input #idn type="text" name="id_number" required maxlength="18" autocomplete="off"; }
                    div { label for="ph" { "手机号" } input #ph type="text" name="phone"; }
                    div { label for="pf" { "职业类别" span.req { "*" } } (select("profession", "pf", PROFESSIONS, "", None)) }
                    div { label for="tt" { "职称" } input #tt type="text" name="title"; }
                    div { label for="qn" { "资格证书编号" } input #qn type="text" name="qualification_no"; }
                    div { label for="ln" { "执业证书编号" } input #ln type="text" name="licence_no"; }
                    div { label for="le" { "执业证书有效期" } input #le type="date" name="licence_expiry"; }
                    div { button type="submit" { "录入" } }
                } }))
            }
            (table.render(&list, &a))
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
        Err(e) => back_to_form("/staff", "staff", &e),
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
    Ok(shell(
        &st.nav,
        &a,
        &format!("人员：{}", s.name),
        "/staff",
        html! {
            (msgs(&q))
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
                div.card { form.toolbar method="get" action=(format!("/staff/{id}")) {
                    input type="hidden" name="unmask" value="true";
                    div { label for="purpose" { "查看明文的用途（将记入审计日志）" } input #purpose type="text" name="purpose" required minlength="2" placeholder="如：核对执业注册信息"; }
                    button type="submit" { "查看明文" }
                } }
            }
            div.toolbar {
                @if can_write && !s.deleted && (s.status == "draft" || s.status == "rejected") {
                    form.inline method="post" action=(format!("/staff/{id}/submit")) { (csrf(&a)) button type="submit" { "提交审核" } }
                }
                @if can_review && s.status == "pending" {
                    form.inline method="post" action=(format!("/staff/{id}/review")) { (csrf(&a)) input type="hidden" name="approve" value="1"; button type="submit" { "审核通过" } }
                    form.inline method="post" action=(format!("/staff/{id}/review")) {
                        (csrf(&a)) input type="hidden" name="approve" value="0";
                        input type="text" name="note" placeholder="退回意见" required; " " button.danger type="submit" { "退回" }
                    }
                }
                @if can_write {
                    @if s.deleted {
                        form.inline method="post" action=(format!("/staff/{id}/restore")) { (csrf(&a)) button.secondary type="submit" { "从回收站恢复" } }
                    } @else {
                        form.inline method="post" action=(format!("/staff/{id}/delete")) { (csrf(&a)) button.secondary type="submit" { "移入回收站" } }
                    }
                }
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
    back(
        &format!("/staff/{id}"),
        service::review_staff(&st, &a.ctx, id, approve, p(&f, "note"))
            .await
            .map(|_| {
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
) -> PageResult<Markup> {
    let (orgs, staff) = service::pending(&st, &a.ctx).await?;
    Ok(shell(
        &st.nav,
        &a,
        "待审核",
        "/review",
        html! {
            (msgs(&q))
            h2 { "机构（" (orgs.len()) "）" }
            @if orgs.is_empty() { p.muted { "没有待审核的机构。" } }
            ul { @for o in &orgs { li { a href=(format!("/orgs/{}", o.id)) { (o.name) } " · " (label(ORG_KINDS, &o.kind)) " · 更新于 " (ts(o.updated_at)) } } }
            h2 { "人员（" (staff.len()) "）" }
            @if staff.is_empty() { p.muted { "没有待审核的人员。" } }
            ul { @for s in &staff { li { a href=(format!("/staff/{}", s.id)) { (s.name) } " · " (s.org_name) " · " (label(PROFESSIONS, &s.profession)) } } }
        },
    ))
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
