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
    /// Icon name, one of [`ICONS`].
    pub icon: &'static str,
}

/// The icon names a navigation entry may use (drawn as inline SVG by the layout).
pub const ICONS: &[&str] = &[
    "home", "inbox", "user", "users", "building", "idcard", "merge", "chart", "settings", "plug",
    "message", "alert", "monitor", "shield", "log", "key", "clock", "book", "upload", "check",
    "heart", "send", "list",
];

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · 梅州智慧医养平台" }
        link rel="stylesheet" href=(super::assets::CSS_PATH);
        link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
    }
}

/// A full page for a signed-in user.
pub fn shell(nav: &[NavItem], a: &Authed, title: &str, active: &str, content: Markup) -> Markup {
    let large = a.session.as_ref().is_some_and(|s| s.large_text);
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
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head { (head(title)) }
            body class=[large.then_some("large-text")] {
                a.skip href="#main" { "跳到主要内容" }
                header.top {
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
                    nav.side aria-label="主导航" {
                        @for (g, items) in &groups {
                            div.group {
                                div.group-title { (g) }
                                ul { @for i in items {
                                    li { a href=(i.href) aria-current=[(i.href == active).then_some("page")] { (i.label) } }
                                } }
                            }
                        }
                    }
                    main #main tabindex="-1" {
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
            body.bare class=[large.then_some("large-text")] {
                main #main { (content) }
            }
        }
    }
}

pub fn error_page(e: &AppError) -> Markup {
    bare(
        "出错了",
        false,
        html! {
            div.card.narrow {
                h1 { "出错了" }
                p.error { (e.message) }
                p.muted { "错误代码：" code { (e.code) } }
                p { a href="javascript:history.back()" { "返回上一页" } " · " a href="/" { "回到首页" } }
            }
        },
    )
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
