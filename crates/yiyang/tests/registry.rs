//! Tests over the module registry: what every module declares is complete and consistent,
//! and what it registers works (navigation entries open, error codes are listed).

mod common;

use common::{TestApp, backends, get_json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use yiyang_platform::web::layout::ICONS;

fn registry() -> std::sync::Arc<yiyang_platform::module::Registry> {
    yiyang::app::registry()
}

#[test]
fn every_permission_is_granted_to_the_platform_administrator() {
    let r = registry();
    let perms = r.permissions();
    assert!(perms.len() >= 20, "{}", perms.len());
    let roles: BTreeSet<&str> = r.roles().iter().map(|r| r.code).collect();
    let mut seen = BTreeSet::new();
    for p in &perms {
        assert!(seen.insert(p.name), "{} declared twice", p.name);
        assert!(
            p.roles.contains(&"platform_admin"),
            "{} is not granted to platform_admin",
            p.name
        );
        for role in p.roles {
            assert!(roles.contains(role), "{} names unknown role {role}", p.name);
        }
        assert!(!p.label.is_ascii(), "{} needs a zh-CN label", p.name);
    }
    let grants = r.role_grants();
    let (_, admin) = grants
        .iter()
        .find(|(r, _)| r.code == "platform_admin")
        .expect("platform_admin is declared");
    assert_eq!(admin.len(), perms.len());
    // The process-wide list (role editor, system context) is the union over modules.
    let all: BTreeSet<&str> = yiyang_core::perm::all().iter().map(|(p, _)| *p).collect();
    assert_eq!(all, perms.iter().map(|p| p.name).collect());
    // Role markers go only to the roles they name, never to staff roles.
    for m in r.role_markers() {
        assert!(
            !all.contains(m.name),
            "{} is a marker and a permission",
            m.name
        );
        for (role, granted) in &grants {
            assert_eq!(
                granted.contains(&m.name),
                m.roles.contains(&role.code),
                "{} for {}",
                m.name,
                role.code
            );
        }
    }
    assert!(!r.role_markers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_in_roles_in_the_database_hold_what_the_modules_grant() {
    for b in backends() {
        let app = TestApp::start(b).await;
        for (role, perms) in registry().role_grants() {
            let stored: Vec<(String,)> = app
                .state
                .db
                .fetch_all(
                    "SELECT rp.permission FROM role_permissions rp JOIN roles r ON r.id = rp.role_id WHERE r.code = $1 ORDER BY 1",
                    yiyang_store::args![role.code],
                )
                .await
                .unwrap();
            let stored: BTreeSet<String> = stored.into_iter().map(|(p,)| p).collect();
            let declared: BTreeSet<String> = perms.iter().map(|p| p.to_string()).collect();
            assert_eq!(stored, declared, "{b} {}", role.code);
        }
        app.stop().await;
    }
}

#[test]
fn navigation_entries_have_known_icons_and_unique_links() {
    let nav = registry().nav();
    let mut hrefs = BTreeSet::new();
    for n in &nav {
        assert!(
            ICONS.contains(&n.icon),
            "{} has unknown icon {:?}",
            n.href,
            n.icon
        );
        assert!(hrefs.insert(n.href), "{} listed twice", n.href);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_navigation_entry_answers_200_for_every_demo_role_that_sees_it() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let mut opened = 0;
        for (login, _, _, _) in yiyang::seed::DEMO_ACCOUNTS {
            let (c, _) = app.login(login).await;
            let me = get_json(&c, app.url("/api/v1/me")).await;
            let held: BTreeSet<&str> = me["permissions"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p.as_str())
                .collect();
            let home = c.get(app.url("/")).send().await.unwrap();
            let html = home.text().await.unwrap();
            for n in app.state.nav.iter() {
                let visible = n.permission.is_none_or(|p| held.contains(p));
                let link = format!("href=\"{}\"", n.href);
                assert_eq!(
                    html.contains(&link),
                    visible,
                    "{b} {login}: navigation shows {} iff the role holds {:?}",
                    n.href,
                    n.permission
                );
                if !visible {
                    continue;
                }
                let r = c.get(app.url(n.href)).send().await.unwrap();
                assert_eq!(r.status(), 200, "{b} {login} GET {}", n.href);
                opened += 1;
            }
        }
        assert!(opened > 50, "{b}: {opened}");
        app.stop().await;
    }
}

/// The `.rs` files of the workspace outside tests, examples and fuzz targets.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() {
            if !matches!(
                name.as_str(),
                "tests" | "examples" | "fuzz" | "benches" | "target"
            ) {
                sources(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// The module each table belongs to: the one whose migrations create it. `orgs` is created
/// by the platform (accounts, role grants and the audit log refer to it) but is the base
/// data's institution register.
fn table_owners() -> BTreeMap<String, &'static str> {
    let mut owners = BTreeMap::new();
    for m in &registry().modules {
        for mig in m.migrations() {
            for (i, _) in mig.sql.match_indices("CREATE TABLE ") {
                let rest = mig.sql[i + 13..].trim_start_matches("IF NOT EXISTS ");
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                owners.insert(name, m.name());
            }
        }
    }
    owners.insert("orgs".into(), "basedata");
    owners
}

/// Reads of another module's table left in place, each with its reason.
const FOREIGN_TABLE_READS: &[(&str, &str, &str)] = &[
    (
        "crates/platform/src/identity/roles.rs",
        "orgs",
        "the platform creates `orgs` for its foreign keys and names the institution of a role grant; it cannot depend on the base data",
    ),
    (
        "crates/platform/src/web/pages.rs",
        "orgs",
        "the same: the institutions an account may belong to, on the account form",
    ),
];

/// The tables named after `FROM`, `JOIN`, `INTO` or `UPDATE` on each line of `text`.
fn tables_named(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for kw in ["FROM ", "JOIN ", "INTO ", "UPDATE "] {
            for (i, _) in line.match_indices(kw) {
                let name: String = line[i + kw.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push((n + 1, name));
                }
            }
        }
    }
    out
}

#[test]
fn no_module_reads_another_modules_tables() {
    let owners = table_owners();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut own = 0;
    let mut foreign = Vec::new();
    for m in &registry().modules {
        let dir = match m.name() {
            "platform" => root.join("crates/platform/src"),
            name => root.join("crates/modules").join(name).join("src"),
        };
        let mut files = Vec::new();
        sources(&dir, &mut files);
        assert!(
            !files.is_empty(),
            "{}: no sources at {}",
            m.name(),
            dir.display()
        );
        for f in files {
            let rel = f.strip_prefix(&root).unwrap().display().to_string();
            if rel.ends_with("schema.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            for (line, table) in tables_named(&text) {
                let excused = FOREIGN_TABLE_READS
                    .iter()
                    .any(|(file, t, _)| rel == *file && table == *t);
                match owners.get(&table) {
                    Some(o) if *o == m.name() => own += 1,
                    Some(o) if !excused => {
                        foreign.push(format!("{rel}:{line}: {table} (belongs to {o})"));
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(own > 100, "the scan finds each module's own tables: {own}");
    assert!(
        foreign.is_empty(),
        "a module reads another module's data through that module's public functions, never its tables:\n{}",
        foreign.join("\n")
    );
}

fn is_code(s: &str) -> bool {
    s.contains('.')
        && s.split('.').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// Error codes passed as a literal to an `AppError` constructor (or a local helper that
/// takes `code: &'static str` and returns an `AppError`), with the file they appear in.
fn codes_in_source() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    sources(&root.join("crates"), &mut files);
    let mut found = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut openers = vec!["AppError::".to_string(), "Self::new(".to_string()];
        for (i, _) in text.match_indices("(code: &'static str") {
            let head = &text[..i];
            let line_end = text[i..].find('\n').map(|n| i + n).unwrap_or(text.len());
            if let Some(fn_at) = head.rfind("fn ")
                && text[i..line_end].contains("-> AppError")
            {
                openers.push(format!("{}(", &head[fn_at + 3..]));
            }
        }
        for opener in &openers {
            for (i, _) in text.match_indices(opener.as_str()) {
                let rest = &text[i + opener.len()..];
                let Some(open) = rest.find('(') else { continue };
                let args = if opener.ends_with('(') {
                    rest
                } else {
                    &rest[open + 1..]
                };
                let args = args.trim_start();
                let Some(lit) = args.strip_prefix('"') else {
                    continue;
                };
                let code = &lit[..lit.find('"').unwrap_or(0)];
                if is_code(code) {
                    found
                        .entry(code.to_string())
                        .or_insert_with(|| f.display().to_string());
                }
            }
        }
    }
    found
}

#[test]
fn every_error_code_in_the_source_is_in_the_list() {
    let listed = yiyang::api::error_codes(&registry());
    let mut seen = BTreeSet::new();
    for (m, e) in &listed {
        assert!(seen.insert(e.code), "{} listed twice ({m})", e.code);
        assert!((400..600).contains(&e.status), "{}: {}", e.code, e.status);
        assert!(!e.message.is_ascii(), "{} needs a zh-CN message", e.code);
    }
    let used = codes_in_source();
    assert!(used.len() > 150, "the scan finds the codes: {}", used.len());
    let missing: Vec<String> = used
        .iter()
        .filter(|(c, _)| !seen.contains(c.as_str()))
        .map(|(c, f)| format!("{c} ({f})"))
        .collect();
    assert!(
        missing.is_empty(),
        "error codes used but not in any module's errors.rs: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_codes_are_a_page_of_the_api_documentation_and_part_of_openapi() {
    let app = TestApp::start("sqlite").await;
    let (admin, _) = app.login("admin").await;
    let r = admin.get(app.url("/api/docs/errors")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let all = yiyang::api::error_codes(&registry()).len();
    assert!(
        html.contains(&format!("共 <strong>{all}</strong> 条")),
        "every code is listed"
    );
    let r = admin
        .get(app.url("/api/docs/errors?q=common.not_found"))
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("common.not_found") && html.contains("记录不存在或无权访问"));
    let (doctor, _) = app.login("doctor").await;
    let r = doctor
        .get(app.url("/api/docs/errors"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let doc = get_json(&admin, app.url("/api/openapi.json")).await;
    let tag = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "错误码")
        .expect("error code tag");
    assert!(
        tag["description"]
            .as_str()
            .unwrap()
            .contains("`auth.forbidden` | 403")
    );
    app.stop().await;
}
