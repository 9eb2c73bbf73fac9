//! HTTP tests of the admin UI kit: paging, sorting, batch actions and Excel export of the
//! filtered set (masked, audited, formulas as text), error pages inside the layout, the
//! large-text toggle and the assets served from the binary.
//! Each test runs on SQLite, and on PostgreSQL when `YIYANG_TEST_DATABASE_URL` is set.

mod common;

use calamine::{Data, Reader, Xlsx};
use common::{TestApp, backends};
use yiyang_store::args;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn rows_on_page(html: &str) -> usize {
    html.matches("name=\"ids\"").count()
}

async fn get_text(c: &reqwest::Client, url: String) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn sheet(bytes: Vec<u8>) -> (Vec<Vec<String>>, usize) {
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let name = wb.sheet_names()[0].clone();
    let range = wb.worksheet_range(&name).unwrap();
    let formulas = wb.worksheet_formula(&name).unwrap();
    let n_formulas = formulas
        .used_cells()
        .filter(|(_, _, f)| !f.is_empty())
        .count();
    let rows = range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Float(f) => f.to_string(),
                    Data::Int(i) => i.to_string(),
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    (rows, n_formulas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_list_pages_sorts_and_exports_the_filtered_set_masked_and_audited() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        // More than a few pages: copies of the demo staff (same encrypted ID numbers).
        for copy in ["-a", "-b", "-c"] {
            db.execute(
                "INSERT INTO staff (org_id, dept_id, name, sex, birth_date, id_cipher, id_blind, phone, profession, title, \
                 qualification_no, licence_no, licence_expiry, status, review_note, created_at, updated_at) \
                 SELECT org_id, dept_id, name, sex, birth_date, id_cipher, id_blind || $1, phone, profession, title, \
                 qualification_no, licence_no, licence_expiry, status, review_note, created_at, updated_at FROM staff",
                args![copy],
            )
            .await
            .unwrap();
        }
        let total = db
            .scalar(
                "SELECT COUNT(*) FROM staff WHERE deleted_at IS NULL",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            total > 20,
            "{b}: the demo city has more than one page of staff"
        );
        let (c, _) = app.login("admin").await;

        let (s, html) = get_text(&c, app.url("/staff")).await;
        assert_eq!(s, 200, "{b}");
        assert!(
            html.contains(&format!("共 <strong>{total}</strong> 条")),
            "{b}"
        );
        assert_eq!(rows_on_page(&html), 20, "{b}: default page size");
        let last = (total + 49) / 50;
        let (_, html) = get_text(&c, app.url(&format!("/staff?size=50&page={last}"))).await;
        assert_eq!(
            rows_on_page(&html) as i64,
            total - (last - 1) * 50,
            "{b}: the last page holds the rest"
        );
        let (_, html) = get_text(&c, app.url("/staff?size=7")).await;
        assert_eq!(rows_on_page(&html), 20, "{b}: only offered page sizes");

        let (s, html) = get_text(&c, app.url("/staff?sort=licence_expiry&dir=desc")).await;
        assert_eq!(s, 200, "{b}");
        assert!(html.contains("aria-sort=\"descending\""), "{b}");
        let (s, _) = get_text(
            &c,
            app.url("/staff?sort=name%3BDROP%20TABLE%20staff&dir=desc"),
        )
        .await;
        assert_eq!(
            s, 200,
            "{b}: an unknown sort key falls back to the default order"
        );

        // Export: every matching row (not one page), Chinese headers, masked ID numbers,
        // a formula-looking value kept as text.
        let evil = "=HYPERLINK(\"http://evil.example\",\"点我\")";
        let victim = db
            .scalar(
                "SELECT MIN(id) FROM staff WHERE profession = 'doctor'",
                vec![],
            )
            .await
            .unwrap();
        db.execute(
            "UPDATE staff SET title = $1 WHERE id = $2",
            args![evil, victim],
        )
        .await
        .unwrap();
        let doctors = db
            .scalar(
                "SELECT COUNT(*) FROM staff WHERE deleted_at IS NULL AND profession = 'doctor'",
                vec![],
            )
            .await
            .unwrap();
        let r = c
            .get(app.url("/staff?profession=doctor&export=xlsx&page=3"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{b}");
        assert_eq!(r.headers()["content-type"], XLSX, "{b}");
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;"),
            "{b}"
        );
        let (rows, formulas) = sheet(r.bytes().await.unwrap().to_vec());
        assert_eq!(formulas, 0, "{b}: nothing in an export is a formula");
        let head = &rows[0];
        for h in ["姓名", "身份证号", "机构", "职称", "执业证有效期", "状态"] {
            assert!(head.iter().any(|x| x == h), "{b}: header {h} in {head:?}");
        }
        assert_eq!(
            rows.len() as i64 - 1,
            doctors,
            "{b}: all matching rows, not a page"
        );
        let idc = head.iter().position(|h| h == "身份证号").unwrap();
        assert!(
            rows[1..].iter().all(|r| r[idc].contains('*')),
            "{b}: ID numbers masked in the export"
        );
        assert!(
            rows.iter().any(|r| r.iter().any(|x| x == evil)),
            "{b}: the formula-looking title is there, as text"
        );
        app.state.audit.flush().await;
        let audited = db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'export.xlsx' AND resource_type = 'staff' AND actor_login = 'admin'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(audited, 1, "{b}: the export is audited");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_actions_apply_in_scope_and_name_every_failure() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let nh = app.org_id("MZ-NH-01").await;
        let mine = db
            .scalar("SELECT MIN(id) FROM staff WHERE org_id = $1", args![hosp])
            .await
            .unwrap();
        let theirs = db
            .scalar("SELECT MIN(id) FROM staff WHERE org_id = $1", args![nh])
            .await
            .unwrap();
        let (c, csrf) = app.login("hospadmin").await;
        let (_, html) = get_text(&c, app.url("/staff")).await;
        assert!(html.contains("批量移入回收站"), "{b}");
        let r = c
            .post(app.url("/staff/batch/delete"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("ids", &mine.to_string()),
                ("ids", &theirs.to_string()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{b}");
        let to = r.headers()["location"].to_str().unwrap().to_string();
        let msg: String = url_param(&to, "err");
        assert!(
            msg.contains("已处理 1 条") && msg.contains(&format!("编号 {theirs}")),
            "{b}: {msg}"
        );
        let deleted = |id: i64| async move {
            db.scalar(
                "SELECT COUNT(*) FROM staff WHERE id = $1 AND deleted_at IS NOT NULL",
                args![id],
            )
            .await
            .unwrap()
        };
        assert_eq!(deleted(mine).await, 1, "{b}");
        assert_eq!(deleted(theirs).await, 0, "{b}: out of scope, untouched");
        let (c2, _) = app.login("doctor").await;
        let (_, html) = get_text(&c2, app.url("/staff")).await;
        assert!(
            !html.contains("批量移入回收站") && !html.contains("data-select-all"),
            "{b}: no batch actions without the right to use them"
        );
        app.stop().await;
    }
}

fn url_param(url: &str, key: &str) -> String {
    let q = url.split_once('?').map(|x| x.1).unwrap_or("");
    form_urlencoded_parse(q)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn form_urlencoded_parse(q: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_chinese_pages_inside_the_layout() {
    let app = TestApp::start("sqlite").await;
    let (c, _) = app.login("admin").await;
    let (s, html) = get_text(&c, app.url("/nonexistent")).await;
    assert_eq!(s, 404);
    assert!(
        html.contains("页面不存在") && html.contains("aria-label=\"主导航\""),
        "{html}"
    );
    let (s, html) = get_text(&c, app.url("/orgs/abc")).await;
    assert_eq!(s, 400);
    assert!(
        html.contains("请求有误") && html.contains("aria-label=\"主导航\""),
        "{html}"
    );
    assert!(
        !html.contains("Invalid URL") && !html.contains("Cannot parse"),
        "{html}"
    );
    let (s, html) = get_text(&c, app.url("/orgs/999999")).await;
    assert_eq!(s, 404);
    assert!(html.contains("记录不存在或无权访问") && html.contains("aria-label=\"主导航\""));
    let (doctor, _) = app.login("doctor").await;
    let (s, html) = get_text(&doctor, app.url("/audit")).await;
    assert_eq!(s, 403);
    assert!(html.contains("没有访问权限") && html.contains("aria-label=\"主导航\""));
    let anon = app.client();
    let (s, html) = get_text(&anon, app.url("/nonexistent")).await;
    assert_eq!(s, 404);
    assert!(html.contains("页面不存在") && !html.contains("主导航"));
    let r = c.get(app.url("/api/v1/orgs/abc")).send().await.unwrap();
    assert!(
        !r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "the API never answers with a page"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_has_icons_breadcrumbs_menu_and_a_working_large_text_toggle() {
    let app = TestApp::start("sqlite").await;
    let anon = app.client();
    let r = anon
        .get(app.url("/login"))
        .header("cookie", "yy_lt=1")
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("<body class=\"bare large-text\">"), "{html}");
    assert_eq!(html.matches("<body").count(), 1);
    assert!(
        !html.contains("<body class=\"bare\" class="),
        "one class attribute"
    );
    assert!(html.contains("切换为标准字号"));

    let (c, _) = app.login("admin").await;
    let (_, html) = get_text(&c, app.url("/staff")).await;
    assert!(html.contains("<svg class=\"icon\""), "sidebar icons");
    assert!(html.contains("data-menu-toggle") && html.contains("data-side-toggle"));
    assert!(
        html.contains("aria-label=\"当前位置\"") && html.contains("基础信息"),
        "breadcrumbs"
    );
    assert!(html.contains(yiyang_platform::web::assets::JS_PATH));
    for (path, kind) in [
        (yiyang_platform::web::assets::JS_PATH, "text/javascript"),
        (
            yiyang_platform::web::assets::ECHARTS_PATH,
            "text/javascript",
        ),
        (yiyang_platform::web::assets::CSS_PATH, "text/css"),
    ] {
        let r = anon.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable"),
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_pages_carry_charts_as_data_not_script() {
    let app = TestApp::start("sqlite").await;
    let (c, _) = app.login("admin").await;
    for path in ["/mpi/stats", "/integration/monitor"] {
        let (s, html) = get_text(&c, app.url(path)).await;
        assert_eq!(s, 200, "{path}");
        assert!(html.contains("data-chart=\"{"), "{path}: a chart option");
        assert!(html.contains("查看数据"), "{path}: the numbers as a table");
        assert!(!html.contains("<script>"), "{path}: no inline script");
        assert!(
            html.contains(&format!(
                "data-echarts=\"{}\"",
                yiyang_platform::web::assets::ECHARTS_PATH
            )),
            "{path}"
        );
    }
    let (_, html) = get_text(&c, app.url("/mpi/stats")).await;
    assert!(html.contains("按机构登记的居民") && html.contains("重复率"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_queue_counts_every_pending_pair_and_exports_them() {
    let app = TestApp::start("sqlite").await;
    let pending = app
        .state
        .db
        .scalar(
            "SELECT COUNT(*) FROM mpi_reviews WHERE status = 'pending'",
            vec![],
        )
        .await
        .unwrap();
    assert!(pending > 0, "the demo has a review case");
    let (c, _) = app.login("admin").await;
    let (s, html) = get_text(&c, app.url("/mpi/reviews?sort=probability&dir=desc")).await;
    assert_eq!(s, 200);
    assert!(
        html.contains(&format!("共 <strong>{pending}</strong> 条")),
        "{html}"
    );
    let r = c
        .get(app.url("/mpi/reviews?export=xlsx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], XLSX);
    let (rows, _) = sheet(r.bytes().await.unwrap().to_vec());
    assert_eq!(rows.len() as i64 - 1, pending);
    assert!(rows[0].iter().any(|h| h == "匹配概率"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_rules_are_a_form_not_only_toml() {
    let app = TestApp::start("sqlite").await;
    let (c, csrf) = app.login("admin").await;
    let (s, html) = get_text(&c, app.url("/mpi/config")).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("name=\"link\"") && html.contains("name=\"review\""),
        "thresholds as fields"
    );
    assert!(
        html.contains("name=\"pass_0\"") && html.contains("name=\"rule_0\""),
        "passes and rules as fields"
    );
    assert!(
        !html.contains("cargo run"),
        "no developer advice to an administrator"
    );
    let base = app
        .state
        .db
        .fetch_all::<(String,)>(
            "SELECT version FROM mpi_configs WHERE active = TRUE",
            vec![],
        )
        .await
        .unwrap()[0]
        .0
        .clone();
    let post = |form: Vec<(&'static str, String)>| {
        let c = c.clone();
        let url = app.url("/mpi/config");
        async move { c.post(url).form(&form).send().await.unwrap() }
    };
    let form = |review: &str, version: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("mode", "form".to_string()),
            ("base", base.clone()),
            ("version", version.to_string()),
            ("note", "提高阈值".to_string()),
            ("link", "0.95".to_string()),
            ("review", review.to_string()),
            ("rule_0", "1".to_string()),
            ("pass_0", "1".to_string()),
            ("cap_0", "300".to_string()),
            ("activate", "1".to_string()),
        ]
    };
    let r = post(form("0.97", "bad-1")).await;
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(url_param(&to, "err").contains("审核阈值不能高于"), "{to}");
    let r = post(form("0.2", "ui-form-1")).await;
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(url_param(&to, "ok").contains("ui-form-1"), "{to}");
    let (version, config): (String, String) = app
        .state
        .db
        .fetch_one(
            "SELECT version, config FROM mpi_configs WHERE active = TRUE",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(version, "ui-form-1");
    let cfg = yiyang_mpi::MappingConfig::from_toml(&config).unwrap();
    assert_eq!((cfg.thresholds.link, cfg.thresholds.review), (0.95, 0.2));
    assert_eq!(
        cfg.blocking.as_ref().unwrap().len(),
        1,
        "unticked passes dropped"
    );
    assert_eq!(cfg.blocking.unwrap()[0].max_block_size, Some(300));
    app.stop().await;
}
