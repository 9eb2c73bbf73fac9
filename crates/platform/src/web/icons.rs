//! Navigation icons drawn as inline SVG (no icon font, nothing fetched). Each is a 24×24
//! outline in `currentColor`, so it takes the link's colour in every mode.

use maud::{Markup, PreEscaped, html};

/// The SVG path data of a named icon; unknown names get a neutral dot.
fn paths(name: &str) -> &'static str {
    match name {
        "home" => "M3 11l9-7 9 7M5 10v10h5v-6h4v6h5V10",
        "inbox" => "M3 13l3-8h12l3 8v6H3zM3 13h5l1 3h6l1-3h5",
        "user" => "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21c0-4 4-6 8-6s8 2 8 6",
        "users" => {
            "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM2 21c0-4 3-6 7-6s7 2 7 6M16 3a4 4 0 0 1 0 8M18 15c2 1 4 3 4 6"
        }
        "building" => "M4 21V4h10v17M14 9h6v12M2 21h20M7 8h2M7 12h2M7 16h2M17 13h1M17 17h1",
        "idcard" => {
            "M3 5h18v14H3zM9 11a2 2 0 1 0 0-4 2 2 0 0 0 0 4zM5 16c1-2 7-2 8 0M15 9h3M15 13h3"
        }
        "merge" => "M6 3v6a6 6 0 0 0 6 6h6M18 15l-3-3M18 15l-3 3M6 21v-6",
        "chart" => "M4 20V4M4 20h16M8 16v-5M12 16V8M16 16v-3M20 16V6",
        "settings" => {
            "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM12 2v3M12 19v3M2 12h3M19 12h3M5 5l2 2M17 17l2 2M5 19l2-2M17 7l2-2"
        }
        "plug" => "M9 2v6M15 2v6M6 8h12v4a6 6 0 0 1-12 0zM12 18v4",
        "message" => "M4 4h16v12H8l-4 4z",
        "alert" => "M12 3l10 18H2zM12 10v5M12 18v.5",
        "monitor" => "M3 4h18v12H3zM8 21h8M12 16v5M6 12l3-3 3 3 4-5",
        "shield" => "M12 3l8 3v6c0 5-4 8-8 9-4-1-8-4-8-9V6zM9 12l2 2 4-4",
        "log" => "M6 3h9l4 4v14H6zM14 3v5h5M9 12h7M9 16h7",
        "key" => "M14 10a4 4 0 1 0-1 3l2 2h2v2h2v2h2v-3l-6-6",
        "clock" => "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 7v5l3 3",
        "book" => "M4 4h7a3 3 0 0 1 3 3v14a2 2 0 0 0-2-2H4zM20 4h-6M20 4v15h-6",
        "upload" => "M12 16V4M7 9l5-5 5 5M4 16v4h16v-4",
        "check" => "M4 12l5 5L20 6",
        "heart" => "M12 20s-8-5-8-11a4 4 0 0 1 8-1 4 4 0 0 1 8 1c0 6-8 11-8 11z",
        "send" => "M3 11l18-8-8 18-2-8z",
        "list" => "M9 6h12M9 12h12M9 18h12M4 6h.5M4 12h.5M4 18h.5",
        "bed" => {
            "M3 6v13M3 15h18v4M21 15v-3a3 3 0 0 0-3-3h-7v6M7 12.5a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3"
        }
        "watch" => "M8 3h8l1 4v10l-1 4H8l-1-4V7zM7 7h10M7 17h10M12 10v2l1.5 1.5",
        "tool" => "M14 6a4 4 0 0 0 5 5l-9 9a2 2 0 0 1-3-3l9-9a4 4 0 0 1-2-2z",
        "map" => "M9 4l-6 2v14l6-2 6 2 6-2V4l-6 2zM9 4v14M15 6v14",
        "tv" => "M3 5h18v12H3zM8 21h8M12 17v4",
        _ => "",
    }
}

/// The icon named `name` (decorative: the link's text names it).
pub fn icon(name: &str) -> Markup {
    let d = paths(name);
    html! {
        svg.icon viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false" {
            @if d.is_empty() {
                circle cx="12" cy="12" r="3" fill="currentColor" {}
            } @else {
                path d=(PreEscaped(d)) fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_has_a_drawing_and_others_a_dot() {
        for n in [
            "home", "inbox", "user", "users", "building", "idcard", "merge", "chart", "settings",
            "plug", "message", "alert", "monitor", "shield", "log", "key", "clock", "book",
            "upload", "check", "heart", "send", "list", "bed",
        ] {
            assert!(!paths(n).is_empty(), "{n}");
            assert!(icon(n).into_string().contains("<path"));
        }
        assert!(icon("nope").into_string().contains("<circle"));
    }
}
