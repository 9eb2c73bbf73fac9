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
        .route("/admin/clients/revoke", post(clients_revoke_batch))
        .route("/admin/clients/{id}/revoke", post(client_revoke))
        .route("/admin/masking", get(masking_page))
        .route("/admin/masking/algorithms", post(algorithm_save))
        .route("/admin/masking/rules", post(rule_save))
        .route("/admin/masking/rules/batch/{action}", post(rules_batch))
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
    accounts_view(&st, &a, &q, None).await
}

async fn accounts_view(
    st: &AppState,
    a: &super::Authed,
    q: &Params,
    failed: Option<&kit::FormError>,
) -> PageResult {
    let lq = ListQuery::from_params(q);
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
    let table = Table::new("accounts", "/admin/accounts", q, &lq)
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
        return table.export(st, &a.ctx, "账号", "account", &accounts).await;
    }
    let roles = identity::list_roles(&st.db).await?;
    let orgs = org_options(st).await?;
    let scope = a.ctx.scope_of(perm::ACCOUNT_WRITE);
    let err = kit::FormError::pick("account", q, failed);
    let my_orgs: Vec<(i64, String)> = orgs
        .iter()
        .filter(|(id, _)| scope.as_ref().is_some_and(|s| s.allows(*id)))
        .cloned()
        .collect();
    Ok(shell(
        &st.nav,
        a,
        "账号与角色",
        "/admin/accounts",
        html! {
            @if !err.is_some() { (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str))) }
            (kit::filter_bar("/admin/accounts", &lq, html! {
                div { label for="q" { "搜索" } input #q type="search" name="q" value=(p(q, "q")) placeholder="登录名或姓名"; }
            }))
            div.page-actions {
                @if scope.is_some() { (kit::dialog_button("account", "新建账号", "/admin/accounts")) }
                a.btn.secondary href="/admin/roles" { "角色与权限" }
            }
            (table.render(&accounts, a))
            @if scope.is_some() {
                (kit::dialog(&err, "新建账号", "/admin/accounts", html! { form.grid method="post" action="/admin/accounts" {
                    (csrf(a))
                    (err.input("login", "登录名", "").required().autocomplete("off"))
                    (err.input("display_name", "姓名", "").required())
                    (err.select("kind", "账号类型", identity::ACCOUNT_KINDS.iter().copied(), "staff", None))
                    (err.select("org_id", "所属机构", my_orgs.iter().cloned(), "", Some("（无，全市）")))
                    (err.select("role", "角色", roles.iter().map(|r| (r.code.clone(), r.name.clone())), "", None).required())
                    (err.input("phone", "手机号", ""))
                    (err.input("password", "初始密码", "").kind("password").required())
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
        Err(e) => {
            let failed = kit::FormError::from_error("account", &e, f);
            let page = accounts_view(&st, &a, &Params::new(), Some(&failed)).await;
            kit::form_failed(&e, page)
        }
    }
}

async fn account_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> PageResult {
    account_view(&st, &a, id, &q, None).await
}

async fn account_view(
    st: &AppState,
    a: &super::Authed,
    id: i64,
    q: &Params,
    failed: Option<&kit::FormError>,
) -> PageResult {
    let x = identity::get_account(&st.db, &a.ctx, id).await?;
    let asg = identity::assignments(&st.db, &[id]).await?;
    let roles = identity::list_roles(&st.db).await?;
    let orgs = org_options(st).await?;
    let can_write = a.ctx.has(perm::ACCOUNT_WRITE);
    let now = st.clock.now_micros();
    let base = format!("/admin/accounts/{id}");
    let lq = ListQuery::from_params(q);
    let rows = kit::page_in_memory(asg, &lq);
    let token = a.csrf().to_string();
    let revoke_base = base.clone();
    let table = Table::new("account-roles", &base, q, &lq)
        .col(Col::new("role", "角色", |g: &identity::Assignment| {
            g.role_name.clone()
        }))
        .col(Col::new("scope", "数据范围", |g: &identity::Assignment| {
            g.org_name.clone().unwrap_or_else(|| "全市".into())
        }))
        .col(Col::action("actions", "操作", move |g: &identity::Assignment| html! {
            @if can_write {
                form.inline method="post" action=(format!("{revoke_base}/roles/{}/revoke", g.id)) {
                    input type="hidden" name="_csrf" value=(token);
                    button.link type="submit" data-confirm="撤销这个角色？" { "撤销" }
                }
            }
        }))
        .empty("尚未授予任何角色");
    if lq.export {
        return table
            .export(st, &a.ctx, &format!("{}的角色", x.login), "account", &rows)
            .await;
    }
    let grant = kit::FormError::pick("grant", q, failed);
    let reset = kit::FormError::pick("password", q, failed);
    let any_failed = grant.is_some() || reset.is_some();
    let role_options: Vec<(String, String)> = roles
        .iter()
        .map(|r| {
            (
                r.code.clone(),
                format!("{}{}", r.name, if r.city_wide { "（全市）" } else { "" }),
            )
        })
        .collect();
    Ok(shell(
        &st.nav,
        a,
        &format!("账号：{}", x.display_name),
        "/admin/accounts",
        html! {
            @if !any_failed { (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str))) }
            div.card { dl.kv {
                dt { "登录名" } dd { (x.login) }
                dt { "姓名" } dd { (x.display_name) }
                dt { "状态" } dd { (account_status_badge(&x, now)) @if let Some(t) = x.locked_until.filter(|t| *t > now) { " 至 " (ts(t)) } }
                dt { "所属机构" } dd { (x.org_id.and_then(|o| orgs.iter().find(|(i, _)| *i == o)).map(|(_, n)| n.as_str()).unwrap_or("（无）")) }
                dt { "须修改密码" } dd { (if x.must_change_password { "是" } else { "否" }) }
                dt { "创建时间" } dd { (ts(x.created_at)) }
            } }
            @if can_write {
                div.page-actions {
                    (kit::dialog_button("grant", "授予角色", &base))
                    (kit::dialog_button("password", "重置密码", &base))
                    @for (s, l) in [("unlock", "解除锁定"), ("disabled", "停用账号"), ("active", "启用账号")] {
                        form.inline method="post" action=(format!("{base}/status")) { (csrf(a)) input type="hidden" name="status" value=(s); button.secondary type="submit" { (l) } }
                    }
                }
            }
            h2 { "角色" }
            (table.render(&rows, a))
            @if can_write {
                (kit::dialog(&grant, "授予角色", &base, html! { form.grid method="post" action=(format!("{base}/roles")) {
                    (csrf(a))
                    (grant.select("role", "角色", role_options.iter().cloned(), "", None).required())
                    (grant.select("org_id", "机构（按机构授权的角色）", orgs.iter().cloned(), "", Some("（账号所属机构）")))
                    div { button type="submit" { "授予" } }
                } }))
                (kit::dialog(&reset, "重置密码", &base, html! { form.grid method="post" action=(format!("{base}/password")) {
                    (csrf(a))
                    p.muted { "重置后该用户下次登录须修改密码，其他设备上的登录立即失效。" }
                    (reset.input("password", "新密码", "").kind("password").required())
                    div { button type="submit" { "重置密码" } }
                } }))
            }
        },
    )
    .into_response())
}

async fn account_grant(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    match identity::grant_role(&st.db, &a.ctx, id, p(&f, "role"), opt_i64(&f, "org_id")).await {
        Ok(_) => back(&format!("/admin/accounts/{id}"), Ok("角色已授予".into())),
        Err(e) => {
            let failed = kit::FormError::from_error("grant", &e, f);
            let page = account_view(&st, &a, id, &Params::new(), Some(&failed)).await;
            kit::form_failed(&e, page)
        }
    }
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
    match identity::reset_password(&st.db, &a.ctx, id, p(&f, "password")).await {
        Ok(_) => back(
            &format!("/admin/accounts/{id}"),
            Ok("密码已重置，用户下次登录须修改密码".into()),
        ),
        Err(e) => {
            let failed = kit::FormError::from_error("password", &e, f);
            let page = account_view(&st, &a, id, &Params::new(), Some(&failed)).await;
            kit::form_failed(&e, page)
        }
    }
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
) -> PageResult {
    roles_view(&st, &a, &q, None).await
}

/// The roles with their permissions (filter by name/code and scope), 新建/编辑 in a dialog.
async fn roles_view(
    st: &AppState,
    a: &super::Authed,
    q: &Params,
    failed: Option<&kit::FormError>,
) -> PageResult {
    a.ctx.require(perm::ACCOUNT_READ)?;
    let roles = identity::list_roles(&st.db).await?;
    let rp = identity::role_permissions(&st.db).await?;
    let text = p(q, "q").trim().to_lowercase();
    let range = p(q, "range");
    yiyang_core::text::one_of("range", "范围", range, &["", "city", "org"])?;
    let builtin = p(q, "builtin");
    yiyang_core::text::one_of("builtin", "来源", builtin, &["", "1", "0"])?;
    let shown: Vec<identity::Role> = roles
        .iter()
        .filter(|r| {
            text.is_empty()
                || r.name.to_lowercase().contains(&text)
                || r.code.to_lowercase().contains(&text)
        })
        .filter(|r| match range {
            "city" => r.city_wide,
            "org" => !r.city_wide,
            _ => true,
        })
        .filter(|r| match builtin {
            "1" => r.builtin,
            "0" => !r.builtin,
            _ => true,
        })
        .cloned()
        .collect();
    let lq = ListQuery::from_params(q);
    let rows = kit::page_in_memory(shown, &lq);
    let can = a.ctx.has(perm::ROLE_MANAGE);
    let perms_of = |r: &identity::Role| -> Vec<String> {
        rp.iter()
            .filter(|(rid, _)| *rid == r.id)
            .map(|(_, pm)| perm::label(pm).to_string())
            .collect()
    };
    let table = Table::new("roles", "/admin/roles", q, &lq)
        .col(
            Col::new("name", "角色", |r: &identity::Role| r.name.clone())
                .cell(|r| html! { (r.name) @if r.builtin { " " (badge("mute", "内置")) } }),
        )
        .col(Col::new("code", "编码", |r: &identity::Role| r.code.clone()).class("mono"))
        .col(Col::new("range", "范围", |r: &identity::Role| {
            (if r.city_wide { "全市" } else { "按机构" }).to_string()
        }))
        .col(
            Col::new("permissions", "权限", move |r: &identity::Role| {
                perms_of(r).join("、")
            })
            .cell(move |r| html! { @for l in perms_of(r) { span.badge.b-info { (l) } " " } }),
        )
        .col(Col::action(
            "actions",
            "操作",
            move |r: &identity::Role| {
                html! {
                    @if can { (kit::edit_link("role", "编辑", "/admin/roles", &r.code)) }
                }
            },
        ))
        .empty("没有符合条件的角色");
    if lq.export {
        return table.export(st, &a.ctx, "角色与权限", "role", &rows).await;
    }
    let err = kit::FormError::pick("role", q, failed);
    let editing = if err.kept() {
        roles.iter().find(|r| r.code == err.value("code", ""))
    } else {
        q.get("edit")
            .and_then(|c| roles.iter().find(|r| &r.code == c))
    };
    Ok(shell(
        &st.nav,
        a,
        "角色与权限",
        "/admin/accounts",
        html! {
            @if !err.is_some() { (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str))) }
            (kit::filter_bar("/admin/roles", &lq, html! {
                div { label for="q" { "名称/编码" } input #q type="search" name="q" value=(p(q, "q")); }
                div { label for="range" { "范围" } select #range name="range" {
                    option value="" { "全部" }
                    option value="city" selected[range == "city"] { "全市" }
                    option value="org" selected[range == "org"] { "按机构" }
                } }
                div { label for="builtin" { "来源" } select #builtin name="builtin" {
                    option value="" { "全部" }
                    option value="1" selected[builtin == "1"] { "内置" }
                    option value="0" selected[builtin == "0"] { "自定义" }
                } }
            }))
            @if can { div.page-actions { (kit::dialog_button("role", "新建角色", "/admin/roles")) } }
            (table.render(&rows, a))
            @if can {
                (kit::dialog(&err, if editing.is_some() { "编辑角色" } else { "新建角色" }, "/admin/roles", html! {
                    form method="post" action="/admin/roles" {
                        (csrf(a))
                        div.fields {
                            (err.input("code", "编码", editing.map(|r| r.code.as_str()).unwrap_or("")).required().readonly(editing.is_some()).placeholder("小写字母、数字、下划线"))
                            (err.input("name", "名称", editing.map(|r| r.name.as_str()).unwrap_or("")).required())
                            div { (err.check("city_wide", "1", "全市范围", editing.is_some_and(|r| r.city_wide))) }
                        }
                        fieldset aria-describedby=[err.described("permissions")] { legend { "权限" }
                            @for (pm, label) in perm::all() {
                                @let on = editing.is_some_and(|r| rp.iter().any(|(rid, x)| *rid == r.id && x == pm));
                                (err.check("permissions", pm, label, on))
                            }
                            (err.beside("permissions"))
                        }
                        p { button type="submit" { "保存角色" } }
                    }
                }))
            }
        },
    )
    .into_response())
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
    match identity::save_role(&st.db, &a.ctx, &input).await {
        Ok(_) => back("/admin/roles", Ok("角色已保存".into())),
        Err(e) => {
            let failed = kit::FormError::from_error("role", &e, pairs);
            let page = roles_view(&st, &a, &Params::new(), Some(&failed)).await;
            kit::form_failed(&e, page)
        }
    }
}

async fn clients_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    clients_view(&st, &a, &q, None).await
}

/// 接入客户端: the clients in scope (filter, sort, page, export), 批量吊销, and 登记 in a dialog.
async fn clients_view(
    st: &AppState,
    a: &super::Authed,
    q: &Params,
    failed: Option<&kit::FormError>,
) -> PageResult {
    let lq = ListQuery::from_params(q);
    let cq = oauth::ClientQuery {
        q: q.get("q").cloned(),
        status: q.get("status").cloned(),
    };
    let clients = oauth::list_page(&st.db, &a.ctx, &cq, &lq.window(oauth::CLIENT_SORTS)).await?;
    let orgs = org_options(st).await?;
    let org_name = |o: Option<i64>| -> String {
        o.and_then(|o| orgs.iter().find(|(i, _)| *i == o))
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| "全市".into())
    };
    let scope_labels = |c: &oauth::Client| -> String {
        c.scopes
            .split_whitespace()
            .map(perm::label)
            .collect::<Vec<_>>()
            .join("、")
    };
    let token = a.csrf().to_string();
    let table = Table::new("clients", "/admin/clients", q, &lq)
        .col(Col::new("name", "名称", |c: &oauth::Client| c.name.clone()).sort())
        .col(Col::new("client_id", "客户端 ID", |c: &oauth::Client| c.client_id.clone()).class("mono"))
        .col(Col::new("scopes", "授权范围", scope_labels))
        .col(Col::new("org", "机构", move |c: &oauth::Client| org_name(c.org_id)))
        .col(
            Col::new("status", "状态", |c: &oauth::Client| {
                (if c.status == "active" { "有效" } else { "已吊销" }).to_string()
            })
            .sort()
            .cell(|c| html! { @if c.status == "active" { (badge("ok", "有效")) } @else { (badge("mute", "已吊销")) } }),
        )
        .col(Col::new("created_at", "登记时间", |c: &oauth::Client| ts(c.created_at)).sort().class("nowrap").hidden())
        .col(Col::new("last_token_at", "最近取令牌", |c: &oauth::Client| opt_ts(c.last_token_at)).sort().class("nowrap"))
        .col(Col::action("actions", "操作", move |c: &oauth::Client| html! {
            @if c.status == "active" {
                form.inline method="post" action=(format!("/admin/clients/{}/revoke", c.id)) {
                    input type="hidden" name="_csrf" value=(token);
                    button.link type="submit" data-confirm="吊销后该客户端的令牌立即失效，确定吊销？" { "吊销" }
                }
            }
        }))
        .batch(|c| c.id, vec![kit::BatchAction::new("批量吊销", "/admin/clients/revoke").danger("吊销所选客户端？其令牌立即失效。")])
        .empty("没有符合条件的客户端");
    if lq.export {
        return table
            .export(st, &a.ctx, "接入客户端", "oauth_client", &clients)
            .await;
    }
    let scope = a.ctx.scope_of(perm::CLIENT_MANAGE);
    let mut choices: Vec<(String, String)> = Vec::new();
    if scope == Some(yiyang_core::Scope::City) {
        choices.push((String::new(), "全市".into()));
    }
    choices.extend(
        orgs.iter()
            .filter(|(id, _)| scope.as_ref().is_some_and(|s| s.allows(*id)))
            .map(|(id, n)| (id.to_string(), n.clone())),
    );
    let err = kit::FormError::pick("client", q, failed);
    let status = p(q, "status");
    Ok(shell(
        &st.nav,
        a,
        "接入客户端",
        "/admin/clients",
        html! {
            @if !err.is_some() { (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str))) }
            p.muted { "HIS、LIS、网关等系统使用 OAuth 2.0 客户端凭证模式（POST /oauth/token）获取有效期" (oauth::TOKEN_TTL_SECS / 60) "分钟的访问令牌。吊销后令牌立即失效。" }
            (kit::filter_bar("/admin/clients", &lq, html! {
                div { label for="q" { "名称/客户端 ID" } input #q type="search" name="q" value=(p(q, "q")); }
                div { label for="status" { "状态" } select #status name="status" {
                    option value="" { "全部" }
                    option value="active" selected[status == "active"] { "有效" }
                    option value="revoked" selected[status == "revoked"] { "已吊销" }
                } }
            }))
            div.page-actions { (kit::dialog_button("client", "登记客户端", "/admin/clients")) }
            (table.render(&clients, a))
            (kit::dialog(&err, "登记客户端", "/admin/clients", html! { form method="post" action="/admin/clients" {
                (csrf(a))
                div.fields {
                    (err.input("name", "名称", "").required().placeholder("如：梅州市人民医院 HIS"))
                    (err.select("org_id", "所属机构（数据范围）", choices.iter().cloned(), "", None))
                }
                fieldset aria-describedby=[err.described("scopes")] { legend { "授权范围" span.req { "*" } }
                    @for s in oauth::CLIENT_SCOPES {
                        label.chk { input type="checkbox" name="scopes" value=(s) checked[err.checked("scopes", s, false)]; " " (perm::label(s)) " (" code { (s) } ")" }
                    }
                    (err.beside("scopes"))
                }
                p { button type="submit" { "登记并生成密钥" } }
            } }))
        },
    )
    .into_response())
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
        Err(e) => {
            let failed = kit::FormError::from_error("client", &e, pairs);
            Ok(kit::form_failed(
                &e,
                clients_view(&st, &a, &Params::new(), Some(&failed)).await,
            ))
        }
    }
}

/// 批量吊销 of the ticked clients; every failure named.
async fn clients_revoke_batch(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let mut done = 0;
    let mut failures = Vec::new();
    for id in kit::ids(&f) {
        match oauth::revoke(&st.db, &a.ctx, id).await {
            Ok(()) => done += 1,
            Err(e) => failures.push((id, e)),
        }
    }
    back("/admin/clients", kit::batch_summary(done, &failures))
}

async fn client_revoke(State(st): State<AppState>, Page(a): Page, Path(id): Path<i64>) -> Response {
    let r = oauth::revoke(&st.db, &a.ctx, id).await;
    back("/admin/clients", r.map(|_| "客户端已吊销".into()))
}

async fn masking_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    masking_view(&st, &a, &q, None).await
}

/// Sample values shown masked beside each rule and algorithm.
const MASK_SAMPLES: [(&str, &str); 5] = [
    ("name", "欧阳秀兰"),
    ("id_number", "44140219490101123X"),
    ("phone", "13812345678"),
    ("address", "梅州市梅江区江南街道彬芳大道98号3栋"),
    ("free_text", "患者自述夜间胸闷"),
];

/// 脱敏规则 and 脱敏算法 as two tabs of lists (filter, page, export); 新增/编辑 in dialogs.
async fn masking_view(
    st: &AppState,
    a: &super::Authed,
    q: &Params,
    failed: Option<&kit::FormError>,
) -> PageResult {
    a.ctx.require(perm::MASKING_MANAGE)?;
    let algs = st.masking.algorithms().await?;
    let rules = st.masking.rules().await?;
    let roles = identity::list_roles(&st.db).await?;
    let tab = match failed.map(|f| f.form.as_str()) {
        Some("algorithm") => "algorithms",
        Some(_) => "rules",
        None => p(q, "tab"),
    };
    yiyang_core::text::one_of("tab", "分类", tab, &["", "rules", "algorithms"])?;
    let lq = ListQuery::from_params(q);
    let kind_label = |k: &str| -> String {
        masking::field_kinds()
            .iter()
            .find(|(c, _)| *c == k)
            .map(|(_, l)| l.to_string())
            .unwrap_or_else(|| k.to_string())
    };
    let role_label = |c: &str| -> String {
        if c == "*" {
            "*（默认）".to_string()
        } else {
            roles
                .iter()
                .find(|x| x.code == c)
                .map(|x| x.name.clone())
                .unwrap_or_else(|| labels::role(c))
        }
    };
    let alg_of = |id: i64| algs.iter().find(|x| x.id == id);
    let keys = st.keys.clone();
    let sample = move |alg: Option<&masking::Algorithm>, kind: &str| -> String {
        let v = MASK_SAMPLES
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| *v)
            .unwrap_or("梅州市示例文本");
        alg.map(|x| masking::apply(x, v, &keys)).unwrap_or_default()
    };
    let rule_err = kit::FormError::pick("rule", q, failed);
    let alg_err = kit::FormError::pick("algorithm", q, failed);
    let any_failed = rule_err.is_some() || alg_err.is_some();
    let counts = [rules.len() as i64, algs.len() as i64];
    let tabs = kit::tabs(&[
        (
            "/admin/masking".into(),
            "脱敏规则",
            Some(counts[0]),
            tab != "algorithms",
        ),
        (
            "/admin/masking?tab=algorithms".into(),
            "脱敏算法",
            Some(counts[1]),
            tab == "algorithms",
        ),
    ]);
    let body = if tab == "algorithms" {
        let text = p(q, "q").trim().to_lowercase();
        let kind = p(q, "kind");
        let shown: Vec<masking::Algorithm> = algs
            .iter()
            .filter(|x| {
                text.is_empty()
                    || x.name.to_lowercase().contains(&text)
                    || x.code.to_lowercase().contains(&text)
            })
            .filter(|x| kind.is_empty() || x.kind == kind)
            .cloned()
            .collect();
        let rows = kit::page_in_memory(shown, &lq);
        let table = Table::new("mask-algorithms", "/admin/masking", q, &lq)
            .col(
                Col::new("name", "名称", |x: &masking::Algorithm| x.name.clone())
                    .cell(|x| html! { (x.name) @if x.builtin { " " (badge("mute", "内置")) } }),
            )
            .col(Col::new("code", "编码", |x: &masking::Algorithm| x.code.clone()).class("mono"))
            .col(Col::new("kind", "类型", |x: &masking::Algorithm| {
                masking::ALGORITHM_KINDS
                    .iter()
                    .find(|(k, _)| *k == x.kind)
                    .map(|(_, l)| l.to_string())
                    .unwrap_or_else(|| x.kind.clone())
            }))
            .col(
                Col::new("keep_head", "保留前", |x: &masking::Algorithm| {
                    x.keep_head.to_string()
                })
                .numeric(),
            )
            .col(
                Col::new("keep_tail", "保留后", |x: &masking::Algorithm| {
                    x.keep_tail.to_string()
                })
                .numeric(),
            )
            .col(
                Col::new(
                    "replacement",
                    "替换/遮盖字符",
                    |x: &masking::Algorithm| x.replacement.clone(),
                )
                .class("mono"),
            )
            .col(
                Col::new("sample", "示例（手机号）", {
                    let sample = sample.clone();
                    move |x: &masking::Algorithm| sample(Some(x), "phone")
                })
                .class("mono"),
            )
            .col(Col::action(
                "actions",
                "操作",
                |x: &masking::Algorithm| {
                    kit::edit_link(
                        "algorithm",
                        "编辑",
                        "/admin/masking?tab=algorithms",
                        &x.code,
                    )
                },
            ))
            .empty("没有符合条件的脱敏算法");
        if lq.export {
            return table
                .export(st, &a.ctx, "脱敏算法", "mask_algorithm", &rows)
                .await;
        }
        let editing = if alg_err.kept() {
            algs.iter().find(|x| x.code == alg_err.value("code", ""))
        } else {
            q.get("edit")
                .and_then(|c| algs.iter().find(|x| &x.code == c))
        };
        let e = &alg_err;
        let num = |f: fn(&masking::Algorithm) -> i64| {
            editing
                .map(|x| f(x).to_string())
                .unwrap_or_else(|| "0".into())
        };
        html! {
            (kit::filter_bar("/admin/masking", &lq, html! {
                input type="hidden" name="tab" value="algorithms";
                div { label for="q" { "名称/编码" } input #q type="search" name="q" value=(p(q, "q")); }
                div { label for="kind" { "类型" } select #kind name="kind" {
                    option value="" { "全部" }
                    @for (k, l) in masking::ALGORITHM_KINDS { option value=(k) selected[kind == *k] { (l) } }
                } }
            }))
            div.page-actions { (kit::dialog_button("algorithm", "新增算法", "/admin/masking?tab=algorithms")) }
            (table.render(&rows, a))
            (kit::dialog(e, if editing.is_some() { "编辑脱敏算法" } else { "新增脱敏算法" }, "/admin/masking?tab=algorithms", html! {
                form.grid method="post" action="/admin/masking/algorithms" {
                    (csrf(a))
                    (e.input("code", "编码", editing.map(|x| x.code.as_str()).unwrap_or("")).required().readonly(editing.is_some()).placeholder("字母、数字或下划线"))
                    (e.input("name", "名称", editing.map(|x| x.name.as_str()).unwrap_or("")).required())
                    (e.select("kind", "类型", masking::ALGORITHM_KINDS.iter().copied(), editing.map(|x| x.kind.as_str()).unwrap_or(""), None))
                    (e.input("keep_head", "保留前几位", &num(|x| x.keep_head)).kind("number").range("0", "32"))
                    (e.input("keep_tail", "保留后几位", &num(|x| x.keep_tail)).kind("number").range("0", "32"))
                    (e.input("replacement", "替换文本/遮盖字符", editing.map(|x| x.replacement.as_str()).unwrap_or("*")))
                    div { button type="submit" { "保存算法" } }
                }
            }))
        }
    } else {
        let fk = p(q, "field_kind");
        let role = p(q, "role_code");
        let status = p(q, "enabled");
        yiyang_core::text::one_of("enabled", "状态", status, &["", "1", "0"])?;
        let shown: Vec<masking::Rule> = rules
            .iter()
            .filter(|r| fk.is_empty() || r.field_kind == fk)
            .filter(|r| role.is_empty() || r.role_code == role)
            .filter(|r| match status {
                "1" => r.enabled,
                "0" => !r.enabled,
                _ => true,
            })
            .cloned()
            .collect();
        let rows = kit::page_in_memory(shown, &lq);
        let table = Table::new("mask-rules", "/admin/masking", q, &lq)
            .col(Col::new("field_kind", "字段类型", move |r: &masking::Rule| kind_label(&r.field_kind)))
            .col(Col::new("role", "角色", move |r: &masking::Rule| role_label(&r.role_code)))
            .col(Col::new("algorithm", "算法", move |r: &masking::Rule| alg_of(r.algorithm_id).map(|x| x.name.clone()).unwrap_or_default()))
            .col(Col::new("sample", "示例", {
                let sample = sample.clone();
                move |r: &masking::Rule| sample(alg_of(r.algorithm_id), &r.field_kind)
            }).class("mono"))
            .col(Col::new("version", "版本", |r: &masking::Rule| format!("v{}", r.version)))
            .col(
                Col::new("enabled", "状态", |r: &masking::Rule| (if r.enabled { "启用" } else { "停用" }).to_string())
                    .cell(|r| html! { @if r.enabled { (badge("ok", "启用")) } @else { (badge("mute", "停用")) } }),
            )
            .col(Col::action("actions", "操作", |r: &masking::Rule| {
                kit::edit_link("rule", "编辑", "/admin/masking", &r.id.to_string())
            }))
            .batch(
                |r| r.id,
                vec![
                    kit::BatchAction::new("批量启用", "/admin/masking/rules/batch/on"),
                    kit::BatchAction::new("批量停用", "/admin/masking/rules/batch/off")
                        .danger("停用后这些字段按默认规则（角色 *）脱敏，确定停用？"),
                ],
            )
            .empty("没有符合条件的脱敏规则");
        if lq.export {
            return table
                .export(st, &a.ctx, "脱敏规则", "mask_rule", &rows)
                .await;
        }
        let editing = q
            .get("edit")
            .and_then(|i| i.parse::<i64>().ok())
            .and_then(|i| rules.iter().find(|r| r.id == i));
        let e = &rule_err;
        let mut role_choices: Vec<(String, String)> = vec![("*".into(), "*（默认）".into())];
        role_choices.extend(roles.iter().map(|r| (r.code.clone(), r.name.clone())));
        html! {
            (kit::filter_bar("/admin/masking", &lq, html! {
                div { label for="fk" { "字段类型" } select #fk name="field_kind" {
                    option value="" { "全部" }
                    @for (k, l) in masking::field_kinds() { option value=(k) selected[fk == k] { (l) } }
                } }
                div { label for="rc" { "角色" } select #rc name="role_code" {
                    option value="" { "全部" }
                    @for (c, l) in &role_choices { option value=(c) selected[role == c] { (l) } }
                } }
                div { label for="en" { "状态" } select #en name="enabled" {
                    option value="" { "全部" }
                    option value="1" selected[status == "1"] { "启用" }
                    option value="0" selected[status == "0"] { "停用" }
                } }
            }))
            div.page-actions { (kit::dialog_button("rule", "新增规则", "/admin/masking")) }
            (table.render(&rows, a))
            (kit::dialog(e, if editing.is_some() { "编辑脱敏规则" } else { "新增脱敏规则" }, "/admin/masking", html! {
                p.muted { "同一字段类型与角色只有一条规则：保存已存在的组合即修改它（版本加一），各节点5秒内生效。" }
                form.grid method="post" action="/admin/masking/rules" {
                    (csrf(a))
                    (e.select("field_kind", "字段类型", masking::field_kinds().iter().map(|(k, l)| (k.to_string(), l.to_string())), editing.map(|r| r.field_kind.as_str()).unwrap_or(""), None))
                    (e.select("role_code", "角色", role_choices.iter().cloned(), editing.map(|r| r.role_code.as_str()).unwrap_or("*"), None))
                    (e.select("algorithm_id", "算法", algs.iter().map(|x| (x.id, x.name.clone())), &editing.map(|r| r.algorithm_id.to_string()).unwrap_or_default(), None))
                    (e.select("enabled", "状态", [("1", "启用"), ("0", "停用")], if editing.is_some_and(|r| !r.enabled) { "0" } else { "1" }, None))
                    div { button type="submit" { "保存规则" } }
                }
            }))
        }
    };
    Ok(shell(
        &st.nav,
        a,
        "脱敏算法与规则",
        "/admin/masking",
        html! {
            @if !any_failed { (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str))) }
            p.muted { "规则按“字段类型 × 角色”指定算法；角色为 * 的规则是默认规则。拥有明文权限的用户须填写用途才能查看明文，每次查看都记入审计日志。" }
            (tabs)
            (body)
        },
    )
    .into_response())
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
    match st.masking.save_algorithm(&a.ctx, &input).await {
        Ok(_) => back("/admin/masking?tab=algorithms", Ok("算法已保存".into())),
        Err(e) => {
            let failed = kit::FormError::from_error("algorithm", &e, f);
            let page = masking_view(&st, &a, &Params::new(), Some(&failed)).await;
            kit::form_failed(&e, page)
        }
    }
}

async fn rule_save(State(st): State<AppState>, Page(a): Page, Form(f): Form<Params>) -> Response {
    let Some(algorithm_id) = opt_i64(&f, "algorithm_id") else {
        let e = AppError::field("masking.algorithm_missing", "algorithm_id", "请选择算法");
        let failed = kit::FormError::from_error("rule", &e, f);
        let page = masking_view(&st, &a, &Params::new(), Some(&failed)).await;
        return kit::form_failed(&e, page);
    };
    let input = masking::RuleInput {
        field_kind: p(&f, "field_kind").into(),
        role_code: p(&f, "role_code").into(),
        algorithm_id,
        enabled: p(&f, "enabled") != "0",
    };
    match st.masking.save_rule(&a.ctx, &input).await {
        Ok(_) => back("/admin/masking", Ok("规则已保存，各节点5秒内生效".into())),
        Err(e) => {
            let failed = kit::FormError::from_error("rule", &e, f);
            let page = masking_view(&st, &a, &Params::new(), Some(&failed)).await;
            kit::form_failed(&e, page)
        }
    }
}

/// 批量启用/停用 of the ticked masking rules (each saved as a new version); every failure
/// named.
async fn rules_batch(
    State(st): State<AppState>,
    Page(a): Page,
    Path(action): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let enabled = match action.as_str() {
        "on" => true,
        "off" => false,
        _ => return back("/admin/masking", Err(AppError::not_found("batch_action"))),
    };
    let rules = match st.masking.rules().await {
        Ok(r) => r,
        Err(e) => return back("/admin/masking", Err(e)),
    };
    let (mut done, mut failures) = (0, Vec::new());
    for id in kit::ids(&f) {
        let Some(r) = rules.iter().find(|r| r.id == id) else {
            failures.push((id, AppError::not_found("mask_rule")));
            continue;
        };
        let input = masking::RuleInput {
            field_kind: r.field_kind.clone(),
            role_code: r.role_code.clone(),
            algorithm_id: r.algorithm_id,
            enabled,
        };
        match st.masking.save_rule(&a.ctx, &input).await {
            Ok(_) => done += 1,
            Err(e) => failures.push((id, e)),
        }
    }
    back("/admin/masking", kit::batch_summary(done, &failures))
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
                div { label for="oc" { "结果" } select #oc name="outcome" { option value="" { "全部" } @for o in ["success", "failure", "denied", "not_found"] { option value=(o) selected[q.outcome.as_deref() == Some(o)] { (labels::outcome(o)) } } } }
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
    let tab = p(&q, "tab");
    yiyang_core::text::one_of("tab", "分类", tab, &["", "schedules"])?;
    if tab == "schedules" {
        return schedules_view(&st, &a, &q, &lq).await;
    }
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
            (jobs_tabs(false))
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

fn jobs_tabs(schedules: bool) -> Markup {
    kit::tabs(&[
        ("/jobs".into(), "任务记录", None, !schedules),
        ("/jobs?tab=schedules".into(), "定时任务", None, schedules),
    ])
}

/// 定时任务: every schedule with its next run, 立即执行 for managers.
async fn schedules_view(
    st: &AppState,
    a: &super::Authed,
    q: &Params,
    lq: &ListQuery,
) -> PageResult {
    a.ctx.require(perm::JOBS_READ)?;
    let can = a.ctx.has(perm::JOBS_MANAGE);
    let rows = kit::page_in_memory(jobs::schedules(&st.db).await?, lq);
    let token = a.csrf().to_string();
    let table = Table::new("schedules", "/jobs", q, lq)
        .col(Col::new("name", "名称", |s: &jobs::Schedule| {
            s.name.clone()
        }))
        .col(Col::new("kind", "任务类型", |s: &jobs::Schedule| s.kind.clone()).class("mono"))
        .col(
            Col::new("cron", "Cron（北京时间）", |s: &jobs::Schedule| {
                s.cron.clone()
            })
            .class("mono"),
        )
        .col(
            Col::new("next_run_at", "下次执行", |s: &jobs::Schedule| {
                ts(s.next_run_at)
            })
            .class("nowrap"),
        )
        .col(Col::new("enabled", "状态", |s: &jobs::Schedule| {
            (if s.enabled { "启用" } else { "停用" }).to_string()
        }))
        .col(Col::action(
            "actions",
            "操作",
            move |s: &jobs::Schedule| {
                html! {
                    @if can {
                        form.inline method="post" action=(format!("/jobs/schedules/{}/run", s.id)) {
                            input type="hidden" name="_csrf" value=(token);
                            button.link type="submit" { "立即执行" }
                        }
                    }
                }
            },
        ))
        .empty("没有定时任务");
    if lq.export {
        return table.export(st, &a.ctx, "定时任务", "job", &rows).await;
    }
    Ok(shell(
        &st.nav,
        a,
        "后台任务",
        "/jobs",
        html! {
            (flash(q.get("ok").map(String::as_str), q.get("err").map(String::as_str)))
            (jobs_tabs(true))
            (table.render(&rows, a))
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
    back(
        "/jobs?tab=schedules",
        r.map(|j| format!("已加入队列（任务 {j}）")),
    )
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
