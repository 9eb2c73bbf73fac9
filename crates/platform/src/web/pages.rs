//! Platform pages: login, password, inbox, accounts and roles, integration clients,
//! masking, audit log, jobs.

use super::kit::{self, Col, ListQuery, Table};
use super::labels;
use super::layout::{self, badge, csrf, flash, opt_ts, shell, ts};
use super::{AppState, Meta, Page, PageError, PageResult, SESSION_COOKIE, session_cookie};
use crate::{audit, identity, jobs, masking, notify, oauth};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Router, routing::get, routing::post};
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::{AppError, perm};

type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(super::assets::routes())
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/prefs/large-text", post(large_text))
        .route(
            "/account/password",
            get(password_page).post(password_submit),
        )
        .route("/inbox", get(inbox_page))
        .route("/inbox/read", post(inbox_read))
        .route("/admin/accounts", get(accounts_page).post(account_create))
        .route("/admin/accounts/{id}", get(account_page))
        .route("/admin/accounts/{id}/roles", post(account_grant))
        .route(
            "/admin/accounts/{id}/roles/{aid}/revoke",
            post(account_revoke),
        )
        .route("/admin/accounts/{id}/password", post(account_reset))
        .route("/admin/accounts/{id}/status", post(account_status))
        .route("/admin/roles", get(roles_page).post(role_save))
        .route("/admin/clients", get(clients_page).post(client_create))
        .route("/admin/clients/{id}/revoke", post(client_revoke))
        .route("/admin/masking", get(masking_page))
        .route("/admin/masking/algorithms", post(algorithm_save))
        .route("/admin/masking/rules", post(rule_save))
        .route("/audit", get(audit_page))
        .route("/audit/verify", post(audit_verify))
        .route("/jobs", get(jobs_page))
        .route("/jobs/{id}/retry", post(job_retry))
        .route("/jobs/retry", post(jobs_retry_batch))
        .route("/jobs/schedules/{id}/run", post(schedule_run))
}

/// Redirects to `to` with a success or error message.
pub fn back(to: &str, result: Result<String, AppError>) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let (k, m) = match result {
        Ok(m) => ("ok", m),
        Err(e) => ("err", e.message),
    };
    let enc: String = form_urlencoded::byte_serialize(m.as_bytes()).collect();
    Redirect::to(&format!("{to}{sep}{k}={enc}")).into_response()
}

fn p<'a>(q: &'a Params, k: &str) -> &'a str {
    q.get(k).map(String::as_str).unwrap_or("")
}

fn opt_i64(q: &Params, k: &str) -> Option<i64> {
    q.get(k).and_then(|v| v.trim().parse().ok())
}

async fn login_page(headers: HeaderMap, Query(q): Query<Params>) -> Markup {
    let large = super::cookie(&headers, super::LARGE_TEXT_COOKIE) == Some("1");
    layout::bare(
        "登录",
        large,
        html! {
            div.card.narrow {
                h1 { "梅州智慧医养平台" }
                p.muted { "医院、养老机构、社区卫生服务中心、药房与家庭，一个平台。" }
                (flash(None, q.get("err").map(String::as_str)))
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(p(&q, "next"));
                    p { label for="login" { "登录名" } input #login type="text" name="login" autocomplete="username" required autofocus; }
                    p { label for="password" { "密码" } input #password type="password" name="password" autocomplete="current-password" required; }
                    p { button type="submit" { "登录" } }
                }
                form method="post" action="/prefs/large-text" {
                    input type="hidden" name="on" value=(if large { "0" } else { "1" });
                    button.link type="submit" { (if large { "切换为标准字号" } else { "切换为大字模式" }) }
                }
            }
        },
    )
}

async fn login_submit(
    State(st): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<Params>,
) -> Response {
    let ctx = st.anonymous_ctx(&meta);
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match identity::login(&st.db, &ctx, p(&f, "login"), p(&f, "password"), ua).await {
        Ok(ok) => {
            let next = p(&f, "next");
            let to = if ok.must_change_password {
                "/account/password?err=首次登录或密码已被重置，请先修改密码"
            } else if is_local_path(next) {
                next
            } else {
                "/"
            };
            let cookie = session_cookie(
                &ok.token,
                st.cookie_secure,
                identity::SESSION_ABSOLUTE_MICROS / 1_000_000,
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
        }
        Err(e) => back("/login", Err(e)),
    }
}

/// Whether `next` is a path of this site. Browsers treat `\` like `/` and drop tabs and
/// newlines, so `/\evil.example` or `/\t/evil.example` would leave the site.
pub fn is_local_path(next: &str) -> bool {
    let b = next.as_bytes();
    b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
}

async fn logout(State(st): State<AppState>, Page(a): Page) -> PageResult {
    if let Some(s) = &a.session {
        identity::logout(&st.db, &a.ctx, s.id).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}

/// Toggles large-text mode: saved on the account when signed in, in a cookie otherwise.
async fn large_text(
    State(st): State<AppState>,
    a: Option<axum::Extension<super::Authed>>,
    headers: HeaderMap,
    Form(f): Form<Params>,
) -> PageResult {
    let on = p(&f, "on") == "1";
    if let Some(axum::Extension(a)) = &a {
        identity::set_large_text(&st.db, &a.ctx, on).await?;
    }
    let to = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.find("://")
                .and_then(|i| r[i + 3..].find('/').map(|j| r[i + 3 + j..].to_string()))
        })
        .unwrap_or_else(|| "/".into());
    let c = format!(
        "{}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        super::LARGE_TEXT_COOKIE,
        if on { "1" } else { "0" }
    );
    Ok(([(header::SET_COOKIE, c)], Redirect::to(&to)).into_response())
}

async fn password_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> Markup {
    shell(
        &st.nav,
        &a,
        "修改密码",
        "",
        html! {
            (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str)))
            div.card {
                p.muted { "密码至少10位，须包含大写字母、小写字母、数字、符号中的至少三类，且不能包含登录名。修改后其他设备上的登录将失效。" }
                form.grid method="post" action="/account/password" {
                    (csrf(&a))
                    div { label for="old" { "原密码" } input #old type="password" name="old_password" autocomplete="current-password" required; }
                    div { label for="new" { "新密码" } input #new type="password" name="new_password" autocomplete="new-password" required; }
                    div { label for="new2" { "确认新密码" } input #new2 type="password" name="new_password2" autocomplete="new-password" required; }
                    div { button type="submit" { "保存" } }
                }
            }
        },
    )
}

async fn password_submit(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    if p(&f, "new_password") != p(&f, "new_password2") {
        return back(
            "/account/password",
            Err(AppError::validation(
                "auth.password_mismatch",
                "两次输入的新密码不一致",
            )),
        );
    }
    let sid = a.session.as_ref().map(|s| s.id);
    let r = identity::change_password(
        &st.db,
        &a.ctx,
        sid,
        p(&f, "old_password"),
        p(&f, "new_password"),
    )
    .await;
    back("/account/password", r.map(|_| "密码已修改".into()))
}

async fn inbox_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let lq = ListQuery::from_params(&q);
    let unread = p(&q, "unread") == "1";
    let items = notify::inbox_page(&st.db, &a.ctx, unread, &lq.window(&[])).await?;
    let table = Table::new("inbox", "/inbox", &q, &lq)
        .col(
            Col::new("title", "标题", |m: &notify::InboxItem| m.title.clone()).cell(|m| {
                html! { strong { (m.title) } " " @if m.read_at.is_none() { (badge("info", "未读")) } }
            }),
        )
        .col(Col::new("body", "内容", |m: &notify::InboxItem| m.body.clone()))
        .col(Col::new("created_at", "时间", |m: &notify::InboxItem| ts(m.created_at)).class("nowrap"))
        .col(Col::action("link", "操作", |m: &notify::InboxItem| {
            html! { @if !m.link.is_empty() { a href=(m.link) { "查看" } } }
        }))
        .batch(|m| m.id, vec![kit::BatchAction::new("标为已读", "/inbox/read")])
        .no_export()
        .empty(if unread { "没有未读消息" } else { "暂无消息" });
    Ok(shell(
        &st.nav,
        &a,
        "消息中心",
        "/inbox",
        html! {
            (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str)))
            div.page-actions {
                form.inline method="post" action="/inbox/read" { (csrf(&a)) input type="hidden" name="all" value="1"; button.secondary type="submit" { "全部标为已读" } }
                @if unread { a.btn.secondary href="/inbox" { "全部消息" } } @else { a.btn.secondary href="/inbox?unread=1" { "只看未读" } }
            }
            (table.render(&items, &a))
        },
    )
    .into_response())
}

/// Marks messages read: the ticked ones (`ids`), one (`id`) or all (`all=1`).
async fn inbox_read(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let ids = kit::ids(&f);
    let one = f
        .iter()
        .find(|(k, _)| k == "id")
        .and_then(|(_, v)| v.trim().parse::<i64>().ok());
    let all = f.iter().any(|(k, v)| k == "all" && v == "1");
    let r = if ids.is_empty() {
        if one.is_none() && !all {
            Err(AppError::validation(
                "inbox.none",
                "请先勾选要标为已读的消息",
            ))
        } else {
            notify::mark_read(&st.db, &a.ctx, one).await
        }
    } else {
        let mut r = Ok(());
        for id in &ids {
            r = notify::mark_read(&st.db, &a.ctx, Some(*id)).await;
            if r.is_err() {
                break;
            }
        }
        r
    };
    back("/inbox", r.map(|_| "已标为已读".into()))
}

async fn org_options(st: &AppState) -> Result<Vec<(i64, String)>, AppError> {
    st.db
        .fetch_all("SELECT id, name FROM orgs ORDER BY id", vec![])
        .await
}

async fn accounts_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let lq = ListQuery::from_params(&q);
    let accounts = identity::list_accounts_page(
        &st.db,
        &a.ctx,
        q.get("q").map(String::as_str),
        &lq.window(identity::ACCOUNT_SORTS),
    )
    .await?;
    let ids: Vec<i64> = accounts.rows.iter().map(|x| x.id).collect();
    let asg = identity::assignments(&st.db, &ids).await?;
    let now = st.clock.now_micros();
    let roles_of = |x: &identity::Account| -> Vec<String> {
        asg.iter()
            .filter(|g| g.account_id == x.id)
            .map(|g| {
                format!(
                    "{}（{}）",
                    g.role_name,
                    g.org_name.clone().unwrap_or_else(|| "全市".into())
                )
            })
            .collect()
    };
    let table = Table::new("accounts", "/admin/accounts", &q, &lq)
        .col(
            Col::new("login", "登录名", |x: &identity::Account| {
                x.login.clone()
            })
            .sort()
            .cell(|x| html! { a href=(format!("/admin/accounts/{}", x.id)) { (x.login) } }),
        )
        .col(
            Col::new("display_name", "姓名", |x: &identity::Account| {
                x.display_name.clone()
            })
            .sort(),
        )
        .col(Col::new("kind", "类型", |x: &identity::Account| {
            (if x.kind == "resident" {
                "居民"
            } else {
                "工作人员"
            })
            .to_string()
        }))
        .col(
            Col::new(
                "roles",
                "角色（机构）",
                move |x: &identity::Account| roles_of(x).join("；"),
            )
            .cell(move |x| html! { @for r in roles_of(x) { div { (r) } } }),
        )
        .col(
            Col::new("status", "状态", move |x: &identity::Account| {
                account_state(x, now).1.to_string()
            })
            .cell(move |x| account_status_badge(x, now)),
        )
        .col(
            Col::new("created_at", "创建时间", |x: &identity::Account| {
                ts(x.created_at)
            })
            .sort(),
        );
    if lq.export {
        return table
            .export(&st, &a.ctx, "账号", "account", &accounts)
            .await;
    }
    let roles = identity::list_roles(&st.db).await?;
    let orgs = org_options(&st).await?;
    let scope = a.ctx.scope_of(perm::ACCOUNT_WRITE);
    let err = kit::FormError::from_params(&q, "account");
    Ok(shell(
        &st.nav,
        &a,
        "账号与角色",
        "/admin/accounts",
        html! {
            @if !err.is_some() { (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str))) }
            (kit::filter_bar("/admin/accounts", &lq, html! {
                div { label for="q" { "搜索" } input #q type="search" name="q" value=(p(&q, "q")) placeholder="登录名或姓名"; }
            }))
            div.page-actions {
                @if scope.is_some() { (kit::dialog_button("dlg-account", "新建账号", "/admin/accounts?new=account")) }
                a.btn.secondary href="/admin/roles" { "角色与权限" }
            }
            (table.render(&accounts, &a))
            @if scope.is_some() {
                (kit::dialog("dlg-account", "新建账号", p(&q, "new") == "account", &err, html! { form.grid method="post" action="/admin/accounts" {
                    (csrf(&a))
                    div { label for="login" { "登录名" span.req { "*" } } input #login type="text" name="login" required; }
                    div { label for="display_name" { "姓名" span.req { "*" } } input #display_name type="text" name="display_name" required; }
                    div { label for="kind" { "账号类型" } select #kind name="kind" { @for (k, l) in identity::ACCOUNT_KINDS { option value=(k) { (l) } } } }
                    div { label for="org_id" { "所属机构" } select #org_id name="org_id" {
                        option value="" { "（无，全市）" }
                        @for (id, name) in orgs.iter().filter(|(id, _)| scope.as_ref().is_some_and(|s| s.allows(*id))) { option value=(id) { (name) } }
                    } }
                    div { label for="role" { "角色" span.req { "*" } } select #role name="role" { @for r in &roles { option value=(r.code) { (r.name) } } } }
                    div { label for="phone" { "手机号" } input #phone type="text" name="phone"; }
                    div { label for="password" { "初始密码" span.req { "*" } } input #password type="password" name="password" autocomplete="new-password" required; }
                    div { button type="submit" { "创建（首次登录须改密码）" } }
                } }))
            }
        },
    )
    .into_response())
}

/// The badge kind and label of an account's state.
fn account_state(x: &identity::Account, now: i64) -> (&'static str, &'static str) {
    if x.status != "active" {
        ("mute", "已停用")
    } else if x.locked_until.is_some_and(|t| t > now) {
        ("err", "已锁定")
    } else {
        ("ok", "正常")
    }
}

fn account_status_badge(x: &identity::Account, now: i64) -> Markup {
    let (kind, label) = account_state(x, now);
    badge(kind, label)
}

async fn account_create(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    let input = identity::NewAccount {
        login: p(&f, "login").into(),
        display_name: p(&f, "display_name").into(),
        kind: p(&f, "kind").into(),
        org_id: opt_i64(&f, "org_id"),
        phone: p(&f, "phone").into(),
        password: p(&f, "password").into(),
        role: p(&f, "role").into(),
        must_change_password: true,
    };
    match identity::create_account(&st.db, &a.ctx, &input).await {
        Ok(id) => back(&format!("/admin/accounts/{id}"), Ok("账号已创建".into())),
        Err(e) => kit::back_to_form("/admin/accounts", "account", &e),
    }
}

async fn account_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    let x = identity::get_account(&st.db, &a.ctx, id).await?;
    let asg = identity::assignments(&st.db, &[id]).await?;
    let roles = identity::list_roles(&st.db).await?;
    let orgs = org_options(&st).await?;
    let can_write = a.ctx.has(perm::ACCOUNT_WRITE);
    let now = st.clock.now_micros();
    let base = format!("/admin/accounts/{id}");
    Ok(shell(
        &st.nav,
        &a,
        &format!("账号：{}", x.display_name),
        "/admin/accounts",
        html! {
            (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str)))
            div.card { dl.kv {
                dt { "登录名" } dd { (x.login) }
                dt { "姓名" } dd { (x.display_name) }
                dt { "状态" } dd { (account_status_badge(&x, now)) @if let Some(t) = x.locked_until.filter(|t| *t > now) { " 至 " (ts(t)) } }
                dt { "所属机构" } dd { (x.org_id.and_then(|o| orgs.iter().find(|(i, _)| *i == o)).map(|(_, n)| n.as_str()).unwrap_or("（无）")) }
                dt { "须修改密码" } dd { (if x.must_change_password { "是" } else { "否" }) }
                dt { "创建时间" } dd { (ts(x.created_at)) }
            } }
            h2 { "角色" }
            div.table-wrap { table {
                thead { tr { th { "角色" } th { "数据范围" } th {} } }
                tbody { @for g in &asg { tr {
                    td { (g.role_name) } td { (g.org_name.clone().unwrap_or_else(|| "全市".into())) }
                    td { @if can_write { form.inline method="post" action=(format!("{base}/roles/{}/revoke", g.id)) { (csrf(&a)) button.link type="submit" { "撤销" } } } }
                } } }
            } }
            @if can_write {
                h2 { "授予角色" }
                div.card { form.grid method="post" action=(format!("{base}/roles")) {
                    (csrf(&a))
                    div { label for="role" { "角色" } select #role name="role" { @for r in &roles { option value=(r.code) { (r.name) (if r.city_wide { "（全市）" } else { "" }) } } } }
                    div { label for="org_id" { "机构（按机构授权的角色）" } select #org_id name="org_id" { option value="" { "（账号所属机构）" } @for (oid, n) in &orgs { option value=(oid) { (n) } } } }
                    div { button type="submit" { "授予" } }
                } }
                h2 { "账号操作" }
                div.card {
                    form.grid method="post" action=(format!("{base}/password")) {
                        (csrf(&a))
                        div { label for="np" { "重置密码为" } input #np type="password" name="password" autocomplete="new-password" required; }
                        div { button type="submit" { "重置密码" } }
                    }
                    div.toolbar {
                        @for (s, l) in [("unlock", "解除锁定"), ("disabled", "停用账号"), ("active", "启用账号")] {
                            form.inline method="post" action=(format!("{base}/status")) { (csrf(&a)) input type="hidden" name="status" value=(s); button.secondary type="submit" { (l) } }
                        }
                    }
                }
            }
        },
    ))
}

async fn account_grant(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let r = identity::grant_role(&st.db, &a.ctx, id, p(&f, "role"), opt_i64(&f, "org_id")).await;
    back(
        &format!("/admin/accounts/{id}"),
        r.map(|_| "角色已授予".into()),
    )
}

async fn account_revoke(
    State(st): State<AppState>,
    Page(a): Page,
    Path((id, aid)): Path<(i64, i64)>,
) -> Response {
    let r = identity::revoke_role(&st.db, &a.ctx, aid).await;
    back(
        &format!("/admin/accounts/{id}"),
        r.map(|_| "角色已撤销".into()),
    )
}

async fn account_reset(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let r = identity::reset_password(&st.db, &a.ctx, id, p(&f, "password")).await;
    back(
        &format!("/admin/accounts/{id}"),
        r.map(|_| "密码已重置，用户下次登录须修改密码".into()),
    )
}

async fn account_status(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let r = identity::set_account_status(&st.db, &a.ctx, id, p(&f, "status")).await;
    back(&format!("/admin/accounts/{id}"), r.map(|_| "已更新".into()))
}

async fn roles_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    a.ctx.require(perm::ACCOUNT_READ)?;
    let roles = identity::list_roles(&st.db).await?;
    let rp = identity::role_permissions(&st.db).await?;
    let editing = q
        .get("edit")
        .and_then(|c| roles.iter().find(|r| &r.code == c));
    let can = a.ctx.has(perm::ROLE_MANAGE);
    Ok(shell(
        &st.nav,
        &a,
        "角色与权限",
        "/admin/accounts",
        html! {
            (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str)))
            div.table-wrap { table {
                thead { tr { th { "角色" } th { "编码" } th { "范围" } th { "权限" } th {} } }
                tbody { @for r in &roles { tr {
                    td { (r.name) @if r.builtin { " " (badge("mute", "内置")) } }
                    td.mono { (r.code) }
                    td { (if r.city_wide { "全市" } else { "按机构" }) }
                    td { @for (_, pm) in rp.iter().filter(|(rid, _)| *rid == r.id) { span.badge.b-info { (perm::label(pm)) } " " } }
                    td { @if can { a href=(format!("/admin/roles?edit={}", r.code)) { "编辑" } } }
                } } }
            } }
            @if can {
                h2 { (if editing.is_some() { "编辑角色" } else { "新建角色" }) }
                div.card { form method="post" action="/admin/roles" {
                    (csrf(&a))
                    div.fields {
                        div { label for="code" { "编码" } input #code type="text" name="code" value=[editing.map(|r| r.code.as_str())] required; }
                        div { label for="name" { "名称" } input #name type="text" name="name" value=[editing.map(|r| r.name.as_str())] required; }
                        div { label { input type="checkbox" name="city_wide" value="1" checked[editing.is_some_and(|r| r.city_wide)]; " 全市范围" } }
                    }
                    fieldset { legend { "权限" }
                        @for (pm, label) in perm::ALL {
                            @let on = editing.is_some_and(|r| rp.iter().any(|(rid, x)| *rid == r.id && x == pm));
                            label.chk { input type="checkbox" name="permissions" value=(pm) checked[on]; " " (label) }
                        }
                    }
                    p { button type="submit" { "保存角色" } }
                } }
            }
        },
    ))
}

async fn role_save(State(st): State<AppState>, Page(a): Page, body: axum::body::Bytes) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let input = identity::RoleInput {
        code: get("code"),
        name: get("name"),
        description: String::new(),
        city_wide: get("city_wide") == "1",
        permissions: pairs
            .iter()
            .filter(|(k, _)| k == "permissions")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let r = identity::save_role(&st.db, &a.ctx, &input).await;
    back("/admin/roles", r.map(|_| "角色已保存".into()))
}

async fn clients_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    let clients = oauth::list(&st.db, &a.ctx).await?;
    let orgs = org_options(&st).await?;
    Ok(shell(
        &st.nav,
        &a,
        "接入客户端",
        "/admin/clients",
        html! {
            (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str)))
            p.muted { "HIS、LIS、网关等系统使用 OAuth 2.0 客户端凭证模式（POST /oauth/token）获取有效期" (oauth::TOKEN_TTL_SECS / 60) "分钟的访问令牌。吊销后令牌立即失效。" }
            div.table-wrap { table {
                thead { tr { th { "名称" } th { "客户端 ID" } th { "授权范围" } th { "机构" } th { "状态" } th { "最近取令牌" } th {} } }
                tbody { @for c in &clients { tr {
                    td { (c.name) } td.mono { (c.client_id) } td { (c.scopes) }
                    td { (c.org_id.and_then(|o| orgs.iter().find(|(i, _)| *i == o)).map(|(_, n)| n.as_str()).unwrap_or("全市")) }
                    td { @if c.status == "active" { (badge("ok", "有效")) } @else { (badge("mute", "已吊销")) } }
                    td { (opt_ts(c.last_token_at)) }
                    td { @if c.status == "active" { form.inline method="post" action=(format!("/admin/clients/{}/revoke", c.id)) { (csrf(&a)) button.link type="submit" { "吊销" } } } }
                } } }
            } }
            h2 { "登记客户端" }
            div.card { form method="post" action="/admin/clients" {
                (csrf(&a))
                div.fields {
                    div { label for="name" { "名称" } input #name type="text" name="name" placeholder="如：梅州市人民医院 HIS" required; }
                    div { label for="org_id" { "所属机构（数据范围）" } select #org_id name="org_id" { option value="" { "全市" } @for (id, n) in &orgs { option value=(id) { (n) } } } }
                }
                fieldset { legend { "授权范围" } @for s in oauth::CLIENT_SCOPES {
                    label.chk { input type="checkbox" name="scopes" value=(s); " " (perm::label(s)) " (" code { (s) } ")" }
                } }
                p { button type="submit" { "登记并生成密钥" } }
            } }
        },
    ))
}

async fn client_create(
    State(st): State<AppState>,
    Page(a): Page,
    body: axum::body::Bytes,
) -> PageResult {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let input = oauth::NewClient {
        name: get("name"),
        scopes: pairs
            .iter()
            .filter(|(k, _)| k == "scopes")
            .map(|(_, v)| v.clone())
            .collect(),
        org_id: get("org_id").parse().ok(),
    };
    match oauth::register(&st.db, &a.ctx, &input).await {
        Ok((c, secret)) => Ok(shell(&st.nav, &a, "客户端已登记", "/admin/clients", html! {
            div.card {
                p { "请立即复制客户端密钥，它只显示这一次，平台只保存其哈希。" }
                dl.kv { dt { "client_id" } dd.mono { (c.client_id) } dt { "client_secret" } dd { div.secret.mono { (secret) } } dt { "授权范围" } dd { (c.scopes) } }
                p { a href="/admin/clients" { "返回客户端列表" } }
            }
        })
        .into_response()),
        Err(e) => Ok(back("/admin/clients", Err(e))),
    }
}

async fn client_revoke(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    let r = oauth::revoke(&st.db, &a.ctx, id).await;
    back("/admin/clients", r.map(|_| "客户端已吊销".into()))
}

async fn masking_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult<Markup> {
    a.ctx.require(perm::MASKING_MANAGE)?;
    let algs = st.masking.algorithms().await?;
    let rules = st.masking.rules().await?;
    let roles = identity::list_roles(&st.db).await?;
    let samples = [
        ("name", "欧阳秀兰"),
        ("id_number", "44140219490101123X"),
        ("phone", "13812345678"),
        ("address", "梅州市梅江区江南街道彬芳大道98号3栋"),
        ("free_text", "患者自述夜间胸闷"),
    ];
    Ok(shell(
        &st.nav,
        &a,
        "脱敏算法与规则",
        "/admin/masking",
        html! {
            (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str)))
            h2 { "脱敏规则管理" }
            p.muted { "规则按“字段类型 × 角色”指定算法；角色为 * 的规则是默认规则。拥有明文权限的用户须填写用途才能查看明文，每次查看都记入审计日志。" }
            div.table-wrap { table {
                thead { tr { th { "字段类型" } th { "角色" } th { "算法" } th { "示例" } th { "版本" } th { "状态" } } }
                tbody { @for r in &rules {
                    @let alg = algs.iter().find(|x| x.id == r.algorithm_id);
                    @let sample = samples.iter().find(|(k, _)| *k == r.field_kind).map(|(_, v)| *v).unwrap_or("");
                    tr {
                        td { (masking::FIELD_KINDS.iter().find(|(k, _)| *k == r.field_kind).map(|(_, l)| *l).unwrap_or(&r.field_kind)) }
                        td { (if r.role_code == "*" { "*（默认）".to_string() } else { roles.iter().find(|x| x.code == r.role_code).map(|x| x.name.clone()).unwrap_or(r.role_code.clone()) }) }
                        td { (alg.map(|x| x.name.as_str()).unwrap_or("?")) }
                        td.mono { @if let Some(x) = alg { (masking::apply(x, sample, &st.keys)) } }
                        td { "v" (r.version) }
                        td { @if r.enabled { (badge("ok", "启用")) } @else { (badge("mute", "停用")) } }
                    }
                } }
            } }
            div.card { form.grid method="post" action="/admin/masking/rules" {
                (csrf(&a))
                div { label for="fk" { "字段类型" } select #fk name="field_kind" { @for (k, l) in masking::FIELD_KINDS { option value=(k) { (l) } } } }
                div { label for="rc" { "角色" } select #rc name="role_code" { option value="*" { "*（默认）" } @for r in &roles { option value=(r.code) { (r.name) } } } }
                div { label for="al" { "算法" } select #al name="algorithm_id" { @for x in &algs { option value=(x.id) { (x.name) } } } }
                div { label for="en" { "状态" } select #en name="enabled" { option value="1" { "启用" } option value="0" { "停用" } } }
                div { button type="submit" { "保存规则" } }
            } }
            h2 { "脱敏算法管理" }
            div.table-wrap { table {
                thead { tr { th { "名称" } th { "编码" } th { "类型" } th { "保留前" } th { "保留后" } th { "替换/遮盖字符" } } }
                tbody { @for x in &algs { tr {
                    td { (x.name) @if x.builtin { " " (badge("mute", "内置")) } }
                    td.mono { (x.code) }
                    td { (masking::ALGORITHM_KINDS.iter().find(|(k, _)| *k == x.kind).map(|(_, l)| *l).unwrap_or(&x.kind)) }
                    td { (x.keep_head) } td { (x.keep_tail) } td.mono { (x.replacement) }
                } } }
            } }
            div.card { form.grid method="post" action="/admin/masking/algorithms" {
                (csrf(&a))
                div { label for="c" { "编码（已存在则修改）" } input #c type="text" name="code" required; }
                div { label for="n" { "名称" } input #n type="text" name="name" required; }
                div { label for="k" { "类型" } select #k name="kind" { @for (k, l) in masking::ALGORITHM_KINDS { option value=(k) { (l) } } } }
                div { label for="h" { "保留前几位" } input #h type="number" name="keep_head" value="0" min="0" max="32"; }
                div { label for="t" { "保留后几位" } input #t type="number" name="keep_tail" value="0" min="0" max="32"; }
                div { label for="r" { "替换文本/遮盖字符" } input #r type="text" name="replacement" value="*"; }
                div { button type="submit" { "保存算法" } }
            } }
        },
    ))
}

async fn algorithm_save(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    let input = masking::AlgorithmInput {
        code: p(&f, "code").into(),
        name: p(&f, "name").into(),
        kind: p(&f, "kind").into(),
        keep_head: opt_i64(&f, "keep_head").unwrap_or(0),
        keep_tail: opt_i64(&f, "keep_tail").unwrap_or(0),
        replacement: p(&f, "replacement").into(),
    };
    let r = st.masking.save_algorithm(&a.ctx, &input).await;
    back("/admin/masking", r.map(|_| "算法已保存".into()))
}

async fn rule_save(State(st): State<AppState>, Page(a): Page, Form(f): Form<Params>) -> Response {
    let Some(algorithm_id) = opt_i64(&f, "algorithm_id") else {
        return back(
            "/admin/masking",
            Err(AppError::field(
                "masking.algorithm_missing",
                "algorithm_id",
                "请选择算法",
            )),
        );
    };
    let input = masking::RuleInput {
        field_kind: p(&f, "field_kind").into(),
        role_code: p(&f, "role_code").into(),
        algorithm_id,
        enabled: p(&f, "enabled") != "0",
    };
    let r = st.masking.save_rule(&a.ctx, &input).await;
    back(
        "/admin/masking",
        r.map(|_| "规则已保存，各节点5秒内生效".into()),
    )
}

async fn audit_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<audit::AuditQuery>,
    Query(m): Query<Params>,
) -> PageResult {
    let lq = ListQuery::from_params(&m);
    let rows = audit::search_page(&st.db, &a.ctx, &q, &lq.window(&[])).await?;
    st.audit
        .record(audit::AuditEntry::new(&a.ctx, "audit.search", "audit_log", "").details(serde_json::json!({"actor": q.actor, "action": q.action, "resource_id": q.resource_id})))
        .await;
    let table = Table::new("audit", "/audit", &m, &lq)
        .col(Col::new("seq", "序号", |r: &audit::AuditRow| r.seq.to_string()).numeric())
        .col(Col::new("at", "时间", |r: &audit::AuditRow| ts(r.at)).class("nowrap"))
        .col(Col::new("actor", "操作人", |r: &audit::AuditRow| r.actor_login.clone()))
        .col(Col::new("role", "角色", |r: &audit::AuditRow| labels::role(&r.role)))
        .col(Col::new("org", "机构", |r: &audit::AuditRow| r.org_id.map(|o| o.to_string()).unwrap_or_default()).hidden())
        .col(
            Col::new("action", "操作", |r: &audit::AuditRow| labels::action(&r.action))
                .cell(|r| html! { span title=(r.action) { (labels::action(&r.action)) } }),
        )
        .col(Col::new("resource", "资源", |r: &audit::AuditRow| {
            format!("{} {}", labels::resource(&r.resource_type), r.resource_id)
        }))
        .col(
            Col::new("outcome", "结果", |r: &audit::AuditRow| labels::outcome(&r.outcome)).cell(|r| {
                html! { @if r.outcome == "success" { (badge("ok", "成功")) } @else { (badge("err", &labels::outcome(&r.outcome))) } }
            }),
        )
        .col(Col::new("purpose", "用途", |r: &audit::AuditRow| r.purpose.clone()))
        .col(Col::new("client_addr", "来源地址", |r: &audit::AuditRow| r.client_addr.clone()).hidden())
        .col(Col::new("details", "详情", |r: &audit::AuditRow| r.details.clone()).class("mono").hidden())
        .empty("没有符合条件的审计记录");
    if lq.export {
        return table
            .export(&st, &a.ctx, "审计日志", "audit_log", &rows)
            .await;
    }
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok(shell(
        &st.nav,
        &a,
        "审计日志",
        "/audit",
        html! {
            (flash(m.get("ok").map(String::as_str), m.get("err").map(String::as_str)))
            (kit::filter_bar("/audit", &lq, html! {
                div { label for="actor" { "操作人（登录名）" } input #actor type="text" name="actor" value=(v(&q.actor)); }
                div { label for="action" { "操作" } select #action name="action" {
                    option value="" { "全部" }
                    @for (c, l) in labels::actions() { option value=(c) selected[q.action.as_deref() == Some(*c)] { (l) } }
                } }
                div { label for="rt" { "资源类型" } input #rt type="text" name="resource_type" value=(v(&q.resource_type)); }
                div { label for="rid" { "资源ID" } input #rid type="text" name="resource_id" value=(v(&q.resource_id)); }
                div { label for="oc" { "结果" } select #oc name="outcome" { option value="" { "全部" } option value="success" selected[q.outcome.as_deref() == Some("success")] { "成功" } option value="failure" selected[q.outcome.as_deref() == Some("failure")] { "失败" } } }
                div { label for="from" { "开始日期" } input #from type="date" name="from" value=(v(&q.from)); }
                div { label for="to" { "结束日期" } input #to type="date" name="to" value=(v(&q.to)); }
            }))
            div.page-actions { form.inline method="post" action="/audit/verify" { (csrf(&a)) button.secondary type="submit" { "校验哈希链完整性" } } }
            (table.render(&rows, &a))
        },
    )
    .into_response())
}

async fn audit_verify(State(st): State<AppState>, Page(a): Page) -> Result<Response, PageError> {
    a.ctx.require(perm::AUDIT_READ)?;
    st.audit.flush().await;
    let rep = audit::verify(&st.db).await?;
    let msg = match &rep.first_broken {
        None => Ok(format!("哈希链完整：已校验 {} 条记录", rep.checked)),
        Some((seq, why)) => Err(AppError::new(
            "audit.chain_broken",
            409,
            format!("哈希链在第 {seq} 条记录处断裂：{why}"),
        )),
    };
    Ok(back("/audit", msg))
}

async fn jobs_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let lq = ListQuery::from_params(&q);
    let list = jobs::list_page(
        &st.db,
        &a.ctx,
        q.get("status").map(String::as_str),
        &lq.window(jobs::JOB_SORTS),
    )
    .await?;
    let can = a.ctx.has(perm::JOBS_MANAGE);
    let token = a.csrf().to_string();
    let mut batch = Vec::new();
    if can && p(&q, "status") == "dead" {
        batch.push(kit::BatchAction::new("批量重试", "/jobs/retry"));
    }
    let table = Table::new("jobs", "/jobs", &q, &lq)
        .col(Col::new("id", "ID", |j: &jobs::Job| j.id.to_string()).numeric())
        .col(Col::new("kind", "类型", |j: &jobs::Job| j.kind.clone()).sort().class("mono"))
        .col(
            Col::new("status", "状态", |j: &jobs::Job| labels::job_state(&j.status))
                .sort()
                .cell(|j| badge(match j.status.as_str() { "done" => "ok", "dead" => "err", "running" => "info", _ => "warn" }, &labels::job_state(&j.status))),
        )
        .col(Col::new("run_at", "计划时间", |j: &jobs::Job| ts(j.run_at)).sort().class("nowrap"))
        .col(Col::new("attempts", "尝试", |j: &jobs::Job| format!("{}/{}", j.attempts, j.max_attempts)).sort())
        .col(Col::new("last_error", "最后错误", |j: &jobs::Job| j.last_error.clone()))
        .col(Col::new("schedule", "来源", |j: &jobs::Job| {
            if j.schedule.is_empty() { "即时".to_string() } else { j.schedule.clone() }
        }))
        .col(Col::action("actions", "操作", move |j: &jobs::Job| html! {
            @if can && j.status == "dead" { form.inline method="post" action=(format!("/jobs/{}/retry", j.id)) { input type="hidden" name="_csrf" value=(token); button.link type="submit" { "重试" } } }
        }))
        .batch(|j| j.id, batch)
        .empty("没有符合条件的任务");
    if lq.export {
        return table.export(&st, &a.ctx, "后台任务", "job", &list).await;
    }
    let counts = jobs::counts(&st.db).await?;
    let schedules = jobs::schedules(&st.db).await?;
    Ok(shell(
        &st.nav,
        &a,
        "后台任务",
        "/jobs",
        html! {
            (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str)))
            div.cards {
                a.stat href="/jobs" { div.n { (counts.iter().map(|(_, n)| n).sum::<i64>()) } div.l { "全部" } }
                @for (s, n) in &counts { a.stat href=(format!("/jobs?status={s}")) { div.n { (n) } div.l { (labels::job_state(s)) } } }
            }
            @if !counts.is_empty() {
                div.charts {
                    (super::chart::pie(
                        "任务状态分布",
                        &counts.iter().map(|(s, n)| (labels::job_state(s), *n as f64)).collect::<Vec<_>>(),
                    ).small().render())
                }
            }
            h2 { "定时任务" }
            div.table-wrap { table {
                thead { tr { th { "名称" } th { "任务类型" } th { "Cron（北京时间）" } th { "下次执行" } th { "操作" } } }
                tbody { @for s in &schedules { tr {
                    td { (s.name) } td.mono { (s.kind) } td.mono { (s.cron) } td { (ts(s.next_run_at)) }
                    td { @if can { form.inline method="post" action=(format!("/jobs/schedules/{}/run", s.id)) { (csrf(&a)) button.link type="submit" { "立即执行" } } } }
                } } }
            } }
            h2 { "任务记录" }
            (kit::filter_bar("/jobs", &lq, html! {
                div { label for="st" { "状态" } select #st name="status" {
                    option value="" { "全部" }
                    @for s in ["queued", "running", "done", "dead"] { option value=(s) selected[p(&q, "status") == s] { (labels::job_state(s)) } }
                } }
            }))
            @if can && p(&q, "status") != "dead" { p.muted.small { "筛选“已失败”的任务后可批量重试。" } }
            (table.render(&list, &a))
        },
    )
    .into_response())
}

/// 批量重试 of the ticked dead jobs; every failure named.
async fn jobs_retry_batch(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let mut done = 0;
    let mut failures = Vec::new();
    for id in kit::ids(&f) {
        match jobs::retry(&st.db, &a.ctx, id).await {
            Ok(_) => done += 1,
            Err(e) => failures.push((id, e)),
        }
    }
    back("/jobs?status=dead", kit::batch_summary(done, &failures))
}

async fn job_retry(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    let r = jobs::retry(&st.db, &a.ctx, id).await;
    back("/jobs", r.map(|_| "任务已重新排队".into()))
}

async fn schedule_run(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    let r = jobs::trigger_schedule(&st.db, &a.ctx, id).await;
    back("/jobs", r.map(|j| format!("已加入队列（任务 {j}）")))
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn login_redirect_accepts_only_paths_of_this_site() {
        for ok in ["/", "/persons/1", "/mpi/reviews?x=1"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "https://evil.example",
            "/a\\b",
            "evil.example",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }
}
