//! The page layout: header, navigation filtered by permission, main area.

use super::Authed;
use maud::{DOCTYPE, Markup, html};
use yiyang_core::AppError;

/// One navigation entry; shown only when the user holds `permission`.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub group: &'static str,
    pub permission: Option<&'static str>,
    /// An icon name from [`super::icons`] (`home`, `users`, `chart`, …); unknown → a dot.
    pub icon: &'static str,
}

/// The icon names a navigation entry may use (drawn as inline SVG by the layout).
pub const ICONS: &[&str] = &[
    "home", "inbox", "user", "users", "building", "idcard", "merge", "chart", "settings", "plug",
    "message", "alert", "monitor", "shield", "log", "key", "clock", "book", "upload", "check",
    "heart", "send", "list", "bed", "watch", "tool", "map", "tv",
];

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · 梅州智慧医养平台" }
        link rel="stylesheet" href=(super::assets::CSS_PATH);
        link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
        script src=(super::assets::JS_PATH) defer {}
    }
}

/// The `<body>` classes: one attribute, never two (a second `class` is ignored by browsers).
fn body_class(large: bool, extra: &str) -> Option<String> {
    let mut c: Vec<&str> = Vec::new();
    if !extra.is_empty() {
        c.push(extra);
    }
    if large {
        c.push("large-text");
    }
    (!c.is_empty()).then(|| c.join(" "))
}

fn visible<'a>(nav: &'a [NavItem], a: &Authed) -> Vec<(&'a str, Vec<&'a NavItem>)> {
    let mut groups: Vec<(&str, Vec<&NavItem>)> = Vec::new();
    for item in nav
        .iter()
        .filter(|i| i.permission.is_none_or(|p| a.ctx.has(p)))
    {
        match groups.iter_mut().find(|(g, _)| *g == item.group) {
            Some((_, v)) => v.push(item),
            None => groups.push((item.group, vec![item])),
        }
    }
    groups
}

/// 首页 › group › entry [› title]: where the page sits in the navigation.
fn breadcrumbs(nav: &[NavItem], title: &str, active: &str) -> Markup {
    let item = nav.iter().find(|i| i.href == active && i.href != "/");
    html! {
        nav.crumbs aria-label="当前位置" { ol {
            li { a href="/" { "首页" } }
            @if let Some(i) = item {
                li { (i.group) }
                @if i.label == title {
                    li aria-current="page" { (i.label) }
                } @else {
                    li { a href=(i.href) { (i.label) } }
                    li aria-current="page" { (title) }
                }
            } @else if title != "首页" {
                li aria-current="page" { (title) }
            }
        } }
    }
}

/// A navigation entry (what modules list in `Module::nav`).
pub fn nav_item(
    href: &'static str,
    label: &'static str,
    group: &'static str,
    permission: Option<&'static str>,
    icon: &'static str,
) -> NavItem {
    NavItem {
        href,
        label,
        group,
        permission,
        icon,
    }
}

/// A full page for a signed-in user.
pub fn shell(nav: &[NavItem], a: &Authed, title: &str, active: &str, content: Markup) -> Markup {
    let large = a.session.as_ref().is_some_and(|s| s.large_text);
    let groups = visible(nav, a);
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head { (head(title)) }
            body class=[body_class(large, "")] data-echarts=(super::assets::ECHARTS_PATH) {
                a.skip href="#main" { "跳到主要内容" }
                header.top {
                    button.menu-toggle type="button" data-menu-toggle aria-controls="side-nav" aria-expanded="false" hidden {
                        span aria-hidden="true" { "☰" } span.sr-only { "菜单" }
                    }
                    a.brand href="/" { "梅州智慧医养平台" }
                    div.user {
                        span { (a.ctx.actor.display_name) "（" (a.ctx.actor.login) "）" }
                        form.inline method="post" action="/prefs/large-text" {
                            input type="hidden" name="_csrf" value=(a.csrf());
                            input type="hidden" name="on" value=(if large { "0" } else { "1" });
                            button.link type="submit" { (if large { "标准字号" } else { "大字模式" }) }
                        }
                        a href="/account/password" { "修改密码" }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="_csrf" value=(a.csrf());
                            button.link type="submit" { "退出登录" }
                        }
                    }
                }
                div.frame {
                    nav.side #side-nav aria-label="主导航" {
                        button.side-toggle type="button" data-side-toggle aria-controls="side-nav" title="收起/展开菜单" hidden {
                            span aria-hidden="true" { "«" } span.sr-only { "收起或展开菜单" }
                        }
                        @for (g, items) in &groups {
                            div.group {
                                div.group-title { (g) }
                                ul { @for i in items {
                                    li { a href=(i.href) title=(i.label) aria-current=[(i.href == active).then_some("page")] {
                                        (super::icons::icon(i.icon)) span.label { (i.label) }
                                    } }
                                } }
                            }
                        }
                    }
                    main #main tabindex="-1" {
                        (breadcrumbs(nav, title, active))
                        h1 { (title) }
                        (content)
                    }
                }
            }
        }
    }
}

/// A page without navigation (login, errors).
pub fn bare(title: &str, large: bool, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head { (head(title)) }
            body class=[body_class(large, "bare")] {
                main #main { (content) }
            }
        }
    }
}

/// What an error means to a person, by status.
fn error_title(status: u16) -> &'static str {
    match status {
        403 => "没有访问权限",
        404 => "页面不存在",
        400 | 422 => "请求有误",
        409 => "操作未完成",
        423 => "账号已锁定",
        429 => "操作太频繁",
        s if s >= 500 => "系统出错了",
        _ => "出错了",
    }
}

fn error_body(e: &AppError) -> Markup {
    html! {
        div.card.error-card role="alert" {
            p.big { (e.message) }
            @if e.status == 404 { p.muted { "您访问的地址不存在，或者记录不在您的数据范围内。" } }
            @if e.status == 403 { p.muted { "如需开通，请联系本机构的系统管理员。" } }
            @if e.status >= 500 { p.muted { "请稍后重试；如果一直出现，请把下面的错误代码告诉系统管理员。" } }
            p.muted.small { "错误代码：" code { (e.code) } }
            p { a.btn href="/" { "回到首页" } }
        }
    }
}

/// The error page without navigation (signed-out callers).
pub fn error_page(e: &AppError) -> Markup {
    let title = error_title(e.status);
    bare(
        title,
        false,
        html! {
            div.narrow {
                h1 { (title) }
                (error_body(e))
            }
        },
    )
}

/// The error page inside the layout, for signed-in users.
pub fn error_in_shell(nav: &[NavItem], a: &Authed, e: &AppError) -> Markup {
    shell(nav, a, error_title(e.status), "", error_body(e))
}

/// A hidden CSRF field for forms.
pub fn csrf(a: &Authed) -> Markup {
    html! { input type="hidden" name="_csrf" value=(a.csrf()); }
}

/// A notice box for messages after a redirect (`?ok=` / `?err=`).
pub fn flash(ok: Option<&str>, err: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = ok.filter(|m| !m.is_empty()) { div.notice.ok role="status" { (m) } }
        @if let Some(m) = err.filter(|m| !m.is_empty()) { div.notice.err role="alert" { (m) } }
    }
}

/// Timestamp (micros) in China Standard Time.
pub fn ts(micros: i64) -> String {
    yiyang_core::clock::format_micros_cst(micros)
}

pub fn opt_ts(micros: Option<i64>) -> String {
    micros.map(ts).unwrap_or_default()
}

/// A status badge.
pub fn badge(kind: &str, label: &str) -> Markup {
    html! { span class=(format!("badge b-{kind}")) { (label) } }
}

/// Text in which configuration keys and codes (ASCII words such as `tls_cert` or
/// `integration.hl7_run`) are set as code, so a reader sees them as names to type, not prose.
pub fn with_code(text: &str) -> Markup {
    let mut parts: Vec<(bool, String)> = Vec::new();
    for c in text.chars() {
        let ident = c.is_ascii_alphanumeric() || c == '_' || c == '.';
        match parts.last_mut() {
            Some((is, s)) if *is == ident => s.push(c),
            _ => parts.push((ident, c.to_string())),
        }
    }
    html! {
        @for (ident, s) in &parts {
            @if *ident && s.chars().any(|c| c.is_ascii_alphabetic()) { code { (s) } } @else { (s) }
        }
    }
}
