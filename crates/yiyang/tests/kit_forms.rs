//! HTTP tests of the lists and forms moved onto the UI kit: the departments of an
//! institution (filter, export, scope), the review queue (tabs, batch approval naming every
//! failure), API clients (batch revoke, export) and dialog forms that come back open with
//! what was typed and every field's problem beside its field.
//! Each test runs on SQLite, and on PostgreSQL when `YIYANG_TEST_DATABASE_URL` is set.

mod common;

use calamine::{Data, Reader, Xlsx};
use common::{TestApp, backends, post};
use serde_json::json;
use yiyang_store::args;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

async fn get_text(c: &reqwest::Client, url: String) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts a form (with the CSRF token); returns status, Location and body.
async fn form(
    c: &reqwest::Client,
    csrf: &str,
    url: String,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let mut all: Vec<(&str, &str)> = vec![("_csrf", csrf)];
    all.extend_from_slice(fields);
    let r = c.post(url).form(&all).send().await.unwrap();
    let s = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (s, loc, r.text().await.unwrap())
}

fn decode(loc: &str) -> String {
    reqwest::Url::parse(&format!("http://x{loc}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn sheet(bytes: Vec<u8>) -> Vec<Vec<String>> {
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let name = wb.sheet_names()[0].clone();
    let range = wb.worksheet_range(&name).unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_institutions_departments_are_a_list_that_filters_exports_and_keeps_scope() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let all = db
            .scalar(
                "SELECT COUNT(*) FROM departments WHERE org_id = $1",
                args![hosp],
            )
            .await
            .unwrap();
        let clinical = db
            .scalar(
                "SELECT COUNT(*) FROM departments WHERE org_id = $1 AND kind = 'clinical'",
                args![hosp],
            )
            .await
            .unwrap();
        assert!(
            all > clinical && clinical > 0,
            "{b}: the demo has several kinds"
        );
        let (c, _) = app.login("hospadmin").await;
        let (s, page) = get_text(&c, app.url(&format!("/orgs/{hosp}"))).await;
        assert_eq!(s, 200, "{b}");
        assert!(
            page.contains(&format!("共 <strong>{all}</strong> 条")),
            "{b}"
        );
        assert!(
            page.contains("data-table=\"departments\""),
            "{b}: a kit table"
        );
        assert!(
            page.contains("data-dialog=\"dlg-dept\""),
            "{b}: 新增科室 opens a dialog"
        );
        assert!(
            page.contains("data-dialog=\"dlg-org-edit\""),
            "{b}: 编辑 opens a dialog"
        );
        let (_, page) = get_text(&c, app.url(&format!("/orgs/{hosp}?kind=clinical"))).await;
        assert!(
            page.contains(&format!("共 <strong>{clinical}</strong> 条")),
            "{b}"
        );
        let (s, _) = get_text(&c, app.url(&format!("/orgs/{hosp}?kind=nonsense"))).await;
        assert_eq!(s, 400, "{b}: an unknown kind is refused, not ignored");
        // The export holds the filtered set with the screen's columns, and is audited.
        let r = c
            .get(app.url(&format!("/orgs/{hosp}?kind=clinical&export=xlsx")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], XLSX, "{b}");
        let rows = sheet(r.bytes().await.unwrap().to_vec());
        assert_eq!(rows.len() as i64 - 1, clinical, "{b}");
        assert_eq!(&rows[0][..3], ["编码", "名称", "类型"], "{b}");
        assert!(
            rows[1..].iter().all(|r| r[2] == "临床科室"),
            "{b}: {rows:?}"
        );
        app.state.audit.flush().await;
        let audited = db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'export.xlsx' AND resource_type = 'department'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(audited, 1, "{b}");
        // A draft institution of the platform is not the nursing home's to read: neither
        // its page nor its departments' export.
        let (admin, csrf) = app.login("admin").await;
        let (s, o) = post(
            &admin,
            &csrf,
            app.url("/api/v1/orgs"),
            json!({"code": "MZ-DRAFT-9", "name": "草稿医院", "kind": "hospital"}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {o}");
        let draft = o["id"].as_i64().unwrap();
        let (s, _) = post(
            &admin,
            &csrf,
            app.url(&format!("/api/v1/orgs/{draft}/departments")),
            json!({"code": "NK", "name": "内科"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let (n, _) = app.login("nhadmin").await;
        for path in [
            format!("/orgs/{draft}"),
            format!("/orgs/{draft}?export=xlsx"),
        ] {
            let (s, body) = get_text(&n, app.url(&path)).await;
            assert_eq!(s, 404, "{b}: {path}");
            assert!(!body.contains("内科"), "{b}");
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialog_form_comes_back_open_with_what_was_typed_and_every_problem() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (c, csrf) = app.login("hospadmin").await;
        let before = app
            .state
            .db
            .scalar("SELECT COUNT(*) FROM staff", vec![])
            .await
            .unwrap();
        // Three problems in one staff record: all reported at once, each beside its field.
        let (s, _, page) = form(
            &c,
            &csrf,
            app.url("/staff"),
            &[
                ("org_id", &hosp.to_string()),
                ("name", "欧阳测试"),
                ("sex", "F"),
                ("id_number", "123"),
                ("phone", "12"),
                ("profession", "doctor"),
                ("title", "主治医师"),
            ],
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert!(
            page.contains("<dialog id=\"dlg-staff\"") && page.contains(" open"),
            "{b}"
        );
        assert!(
            page.contains("value=\"欧阳测试\"") && page.contains("value=\"主治医师\""),
            "{b}: typed values kept"
        );
        for field in ["id_number", "phone", "licence_no"] {
            assert!(
                page.contains(&format!("id=\"err-staff-{field}\"")),
                "{b}: {field} has its problem beside it"
            );
        }
        assert!(page.contains("共3处需要修改"), "{b}");
        let after = app
            .state
            .db
            .scalar("SELECT COUNT(*) FROM staff", vec![])
            .await
            .unwrap();
        assert_eq!(before, after, "{b}: nothing written");
        // A department: the long name and the long phone at once; the code stays typed.
        let long = "科".repeat(60);
        let (s, _, page) = form(
            &c,
            &csrf,
            app.url(&format!("/orgs/{hosp}/departments")),
            &[
                ("code", "XK-9"),
                ("name", &long),
                ("kind", "clinical"),
                ("phone", &"1".repeat(40)),
            ],
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert!(page.contains("<dialog id=\"dlg-dept\""), "{b}");
        assert!(page.contains("value=\"XK-9\""), "{b}");
        assert!(
            page.contains("id=\"err-dept-name\"") && page.contains("id=\"err-dept-phone\""),
            "{b}"
        );
        // The close link leads back to the institution, not to the form's action.
        assert!(
            page.contains(&format!("href=\"/orgs/{hosp}\" data-dialog-close")),
            "{b}"
        );
        // A password is never sent back.
        let (admin, acsrf) = app.login("admin").await;
        let (s, _, page) = form(
            &admin,
            &acsrf,
            app.url("/admin/accounts"),
            &[
                ("login", "new.user"),
                ("display_name", "新用户"),
                ("kind", "staff"),
                ("role", "doctor"),
                ("org_id", &hosp.to_string()),
                ("password", "Short-1"),
            ],
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert!(page.contains("value=\"新用户\""), "{b}");
        assert!(!page.contains("Short-1"), "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_queue_is_two_lists_with_batch_approval_that_names_every_failure() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (h, hcsrf) = app.login("hospadmin").await;
        let mut ids = Vec::new();
        for (name, idn) in [
            ("待审甲", "44140219900315002X"),
            ("待审乙", "441402198807120040"),
        ] {
            let (s, st) = post(&h, &hcsrf, app.url("/api/v1/staff"), json!({
                "org_id": hosp, "name": name, "sex": "F", "id_number": idn, "profession": "social_worker"})).await;
            assert_eq!(s, 200, "{b}: {st}");
            let id = st["id"].as_i64().unwrap();
            let (s, _) = post(
                &h,
                &hcsrf,
                app.url(&format!("/api/v1/staff/{id}/submit")),
                json!({}),
            )
            .await;
            assert_eq!(s, 200, "{b}");
            ids.push(id);
        }
        // The platform administrator submits one of their own: they may not approve it.
        let (admin, acsrf) = app.login("admin").await;
        let (s, own) = post(&admin, &acsrf, app.url("/api/v1/staff"), json!({
            "org_id": hosp, "name": "自审丙", "sex": "M", "id_number": "11010519491231002X", "profession": "social_worker"})).await;
        assert_eq!(s, 200, "{b}: {own}");
        let own = own["id"].as_i64().unwrap();
        let (s, _) = post(
            &admin,
            &acsrf,
            app.url(&format!("/api/v1/staff/{own}/submit")),
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let pending = app
            .state
            .db
            .scalar(
                "SELECT COUNT(*) FROM staff WHERE status = 'pending' AND deleted_at IS NULL",
                vec![],
            )
            .await
            .unwrap();
        let (s, page) = get_text(&admin, app.url("/review?tab=staff")).await;
        assert_eq!(s, 200, "{b}");
        assert!(
            page.contains(&format!("共 <strong>{pending}</strong> 条")),
            "{b}"
        );
        assert!(page.contains("kit-tabs"), "{b}");
        let r = admin
            .get(app.url("/review?tab=staff&export=xlsx"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], XLSX, "{b}");
        assert_eq!(
            sheet(r.bytes().await.unwrap().to_vec()).len() as i64 - 1,
            pending,
            "{b}"
        );
        let mut fields = vec![
            ("ids", ids[0].to_string()),
            ("ids", ids[1].to_string()),
            ("ids", own.to_string()),
        ];
        fields.push(("_csrf", acsrf.clone()));
        let r = admin
            .post(app.url("/review/staff/approve"))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let loc = decode(r.headers()["location"].to_str().unwrap());
        assert!(
            loc.contains("已处理 2 条") && loc.contains(&format!("编号 {own}")),
            "{b}: {loc}"
        );
        assert!(loc.contains("不能审核本人提交的记录"), "{b}: {loc}");
        let approved = app
            .state
            .db
            .scalar(
                &format!(
                    "SELECT COUNT(*) FROM staff WHERE status = 'approved' AND id IN ({}, {})",
                    ids[0], ids[1]
                ),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(approved, 2, "{b}");
        // A doctor has no review queue at all.
        let (d, _) = app.login("doctor").await;
        let (s, _) = get_text(&d, app.url("/review")).await;
        assert_eq!(s, 403, "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_clients_are_a_list_with_batch_revoke_export_and_a_dialog() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (c, csrf) = app.login("admin").await;
        // Nothing chosen: both problems at once, beside their fields.
        let (s, _, page) = form(
            &c,
            &csrf,
            app.url("/admin/clients"),
            &[("name", ""), ("org_id", "")],
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert!(
            page.contains("id=\"err-client-name\"") && page.contains("id=\"err-client-scopes\""),
            "{b}"
        );
        let mut made = Vec::new();
        for name in ["测试HIS", "测试LIS"] {
            let (s, _, page) = form(
                &c,
                &csrf,
                app.url("/admin/clients"),
                &[("name", name), ("org_id", ""), ("scopes", "patient.read")],
            )
            .await;
            assert_eq!(s, 200, "{b}: {page}");
            let id: i64 = app
                .state
                .db
                .scalar("SELECT id FROM oauth_clients WHERE name = $1", args![name])
                .await
                .unwrap();
            made.push(id);
        }
        let (_, page) = get_text(&c, app.url("/admin/clients?q=测试&status=active")).await;
        assert!(page.contains("共 <strong>2</strong> 条"), "{b}");
        let mut fields: Vec<(&str, String)> = made.iter().map(|i| ("ids", i.to_string())).collect();
        fields.push(("_csrf", csrf.clone()));
        let r = c
            .post(app.url("/admin/clients/revoke"))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let loc = decode(r.headers()["location"].to_str().unwrap());
        assert!(loc.contains("已处理 2 条"), "{b}: {loc}");
        // Revoking again names each one as already revoked.
        let r = c
            .post(app.url("/admin/clients/revoke"))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let loc = decode(r.headers()["location"].to_str().unwrap());
        assert!(
            loc.contains("已处理 0 条") && loc.contains("该客户端已吊销"),
            "{b}: {loc}"
        );
        let r = c
            .get(app.url("/admin/clients?q=测试&status=revoked&export=xlsx"))
            .send()
            .await
            .unwrap();
        let rows = sheet(r.bytes().await.unwrap().to_vec());
        assert_eq!(rows.len(), 3, "{b}: {rows:?}");
        assert!(
            rows[1..].iter().all(|r| r.contains(&"已吊销".to_string())),
            "{b}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masking_rules_and_algorithms_are_lists_with_batch_switches_and_checked_dialogs() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        let (c, csrf) = app.login("admin").await;
        let rules: Vec<(i64, i64)> = db
            .fetch_all(
                "SELECT id, version FROM mask_rules ORDER BY id LIMIT 2",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(rules.len(), 2, "{b}: the demo has rules");
        let mut fields: Vec<(&str, String)> =
            rules.iter().map(|(i, _)| ("ids", i.to_string())).collect();
        fields.push(("_csrf", csrf.clone()));
        let r = c
            .post(app.url("/admin/masking/rules/batch/off"))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let loc = decode(r.headers()["location"].to_str().unwrap());
        assert!(loc.contains("已处理 2 条"), "{b}: {loc}");
        for (id, version) in &rules {
            let (enabled, v): (bool, i64) = db
                .fetch_one(
                    "SELECT enabled, version FROM mask_rules WHERE id = $1",
                    args![*id],
                )
                .await
                .unwrap();
            assert!(
                !enabled && v == version + 1,
                "{b}: rule {id} is off in a new version"
            );
        }
        let off = db
            .scalar(
                "SELECT COUNT(*) FROM mask_rules WHERE enabled = FALSE",
                vec![],
            )
            .await
            .unwrap();
        let (_, page) = get_text(&c, app.url("/admin/masking?enabled=0")).await;
        assert!(
            page.contains(&format!("共 <strong>{off}</strong> 条")),
            "{b}"
        );
        // An algorithm with a bad code and too many kept characters: both at once.
        let (s, _, page) = form(
            &c,
            &csrf,
            app.url("/admin/masking/algorithms"),
            &[
                ("code", "坏 编码"),
                ("name", "测试算法"),
                ("kind", "partial"),
                ("keep_head", "99"),
                ("keep_tail", "1"),
                ("replacement", "*"),
            ],
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert!(page.contains("<dialog id=\"dlg-algorithm\""), "{b}");
        assert!(
            page.contains("id=\"err-algorithm-code\"")
                && page.contains("id=\"err-algorithm-keep_head\""),
            "{b}"
        );
        assert!(page.contains("value=\"测试算法\""), "{b}");
        assert!(
            page.contains("aria-current=\"page\">脱敏算法"),
            "{b}: the algorithms tab is shown"
        );
        app.stop().await;
    }
}

/// The audit entries of `action` on `resource_id`: (actor, details as JSON).
async fn audited(
    app: &TestApp,
    action: &str,
    resource_id: i64,
) -> Vec<(String, serde_json::Value)> {
    app.state.audit.flush().await;
    let rows: Vec<(String, String)> = app
        .state
        .db
        .fetch_all(
            "SELECT actor_login, details FROM audit_log WHERE action = $1 AND resource_id = $2 ORDER BY seq",
            args![action, resource_id.to_string()],
        )
        .await
        .unwrap();
    rows.into_iter()
        .map(|(a, d)| (a, serde_json::from_str(&d).unwrap_or_default()))
        .collect()
}

async fn dept_row(app: &TestApp, id: i64) -> (String, String, String, String, String) {
    app.state
        .db
        .fetch_one(
            "SELECT code, name, kind, phone, status FROM departments WHERE id = $1",
            args![id],
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_is_edited_in_its_dialog_stopped_and_started_audited_and_kept_in_scope() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let db = &app.state.db;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let nh = app.org_id("MZ-NH-01").await;
        let er: i64 = db
            .scalar(
                "SELECT id FROM departments WHERE org_id = $1 AND code = 'ER'",
                args![hosp],
            )
            .await
            .unwrap();
        let (c, csrf) = app.login("hospadmin").await;
        // 编辑 on the row opens the dialog filled for that department.
        let (s, page) = get_text(&c, app.url(&format!("/orgs/{hosp}"))).await;
        assert_eq!(s, 200, "{b}");
        assert!(
            page.contains(&format!(
                "href=\"/orgs/{hosp}?new=dept-edit&amp;edit={er}\""
            )),
            "{b}: an edit link on the row"
        );
        assert!(
            !page.contains("<dialog id=\"dlg-dept-edit\""),
            "{b}: no edit dialog until asked"
        );
        let (s, page) = get_text(
            &c,
            app.url(&format!("/orgs/{hosp}?new=dept-edit&edit={er}")),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        assert!(page.contains("<dialog id=\"dlg-dept-edit\""), "{b}");
        assert!(
            page.contains(&format!("action=\"/orgs/{hosp}/departments/{er}\"")),
            "{b}"
        );
        assert!(
            page.contains("value=\"急诊科\"") && page.contains("value=\"ER\""),
            "{b}: filled with the department's values"
        );
        // Every problem at once: a code another department has, an empty name, an
        // over-long phone, a bidi override in the code's place… each beside its field.
        let before = dept_row(&app, er).await;
        let long_phone = "1".repeat(40);
        let (s, _, page) = form(
            &c,
            &csrf,
            app.url(&format!("/orgs/{hosp}/departments/{er}")),
            &[
                ("code", "nei"),
                ("name", ""),
                ("kind", "clinical"),
                ("phone", &long_phone),
                ("status", "active"),
            ],
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert!(
            page.contains("<dialog id=\"dlg-dept-edit\"") && page.contains(" open"),
            "{b}: the dialog comes back open"
        );
        for field in ["code", "name", "phone"] {
            assert!(
                page.contains(&format!("id=\"err-dept-edit-{field}\"")),
                "{b}: {field} has its problem beside it"
            );
        }
        assert!(page.contains("共3处需要修改"), "{b}");
        assert!(page.contains("本机构已有相同编码的科室"), "{b}");
        assert!(
            page.contains("value=\"nei\""),
            "{b}: what was typed is kept"
        );
        let (s, _, page) = form(
            &c,
            &csrf,
            app.url(&format!("/orgs/{hosp}/departments/{er}")),
            &[
                ("code", "ER"),
                ("name", "急诊\u{202E}科"),
                ("kind", "nonsense"),
                ("phone", ""),
                ("status", "closed"),
            ],
        )
        .await;
        assert_eq!(s, 400, "{b}");
        for field in ["name", "kind", "status"] {
            assert!(
                page.contains(&format!("id=\"err-dept-edit-{field}\"")),
                "{b}: {field}"
            );
        }
        assert!(page.contains("不可见字符或控制字符"), "{b}");
        assert_eq!(dept_row(&app, er).await, before, "{b}: nothing written");
        assert!(audited(&app, "dept.update", er).await.is_empty(), "{b}");
        // A good edit: saved, normalised, audited with the record before and after.
        let (s, loc, _) = form(
            &c,
            &csrf,
            app.url(&format!("/orgs/{hosp}/departments/{er}")),
            &[
                ("code", "er-1"),
                ("name", "急诊医学科"),
                ("kind", "clinical"),
                ("phone", "0753-2100001"),
                ("status", "active"),
            ],
        )
        .await;
        assert_eq!(s, 303, "{b}");
        assert!(decode(&loc).contains("ok=科室已保存"), "{b}: {loc}");
        assert_eq!(
            dept_row(&app, er).await,
            (
                "ER-1".into(),
                "急诊医学科".into(),
                "clinical".into(),
                "07532100001".into(),
                "active".into()
            ),
            "{b}"
        );
        let log = audited(&app, "dept.update", er).await;
        assert_eq!(log.len(), 1, "{b}");
        assert_eq!(log[0].0, "hospadmin", "{b}");
        assert_eq!(
            (
                log[0].1["before"]["code"].as_str(),
                log[0].1["after"]["code"].as_str(),
                log[0].1["after"]["name"].as_str()
            ),
            (Some("ER"), Some("ER-1"), Some("急诊医学科")),
            "{b}: {:?}",
            log[0].1
        );
        // 停用 from the row, then 启用: each audited; a stopped department is shown so and is
        // no longer offered for new staff.
        let (s, _, _) = form(
            &c,
            &csrf,
            app.url(&format!("/orgs/{hosp}/departments/{er}/status")),
            &[("status", "inactive")],
        )
        .await;
        assert_eq!(s, 303, "{b}");
        assert_eq!(dept_row(&app, er).await.4, "inactive", "{b}");
        assert_eq!(audited(&app, "dept.disable", er).await.len(), 1, "{b}");
        let (_, page) = get_text(&c, app.url(&format!("/orgs/{hosp}?q=ER-1"))).await;
        assert!(
            page.contains("停用") && page.contains("aria-label=\"启用急诊医学科\""),
            "{b}: the row offers 启用"
        );
        let (_, staff) = get_text(&c, app.url("/staff?new=staff")).await;
        let offered = staff
            .split_once("name=\"dept_id\"")
            .and_then(|(_, rest)| rest.split_once("</select>"))
            .map(|(opts, _)| opts.to_string())
            .unwrap_or_else(|| panic!("{b}: the staff form has a department choice"));
        assert!(offered.contains("心血管内科"), "{b}: {offered}");
        assert!(
            !offered.contains("急诊医学科"),
            "{b}: not offered for new staff"
        );
        let (s, _, _) = form(
            &c,
            &csrf,
            app.url(&format!("/orgs/{hosp}/departments/{er}/status")),
            &[("status", "active")],
        )
        .await;
        assert_eq!(s, 303, "{b}");
        assert_eq!(dept_row(&app, er).await.4, "active", "{b}");
        assert_eq!(audited(&app, "dept.enable", er).await.len(), 1, "{b}");
        // Another institution's administrator: the department is not there for them,
        // whichever institution's address they use, and nothing changes.
        let before = dept_row(&app, er).await;
        let (n, ncsrf) = app.login("nhadmin").await;
        for path in [
            format!("/orgs/{hosp}/departments/{er}"),
            format!("/orgs/{nh}/departments/{er}"),
        ] {
            let (s, _, body) = form(
                &n,
                &ncsrf,
                app.url(&path),
                &[
                    ("code", "HACK"),
                    ("name", "越权科室"),
                    ("kind", "clinical"),
                    ("status", "inactive"),
                ],
            )
            .await;
            assert_eq!(s, 404, "{b}: {path}");
            assert!(!body.contains("急诊医学科"), "{b}");
            let (s, _, _) = form(
                &n,
                &ncsrf,
                app.url(&format!("{path}/status")),
                &[("status", "inactive")],
            )
            .await;
            assert_eq!(s, 404, "{b}: {path}/status");
        }
        let (s, _) = get_text(&n, app.url(&format!("/orgs/{nh}?new=dept-edit&edit={er}"))).await;
        assert_eq!(
            s, 404,
            "{b}: no dialog for another institution's department"
        );
        assert_eq!(dept_row(&app, er).await, before, "{b}: unchanged");
        // And a draft institution the nursing home cannot see at all.
        let (admin, acsrf) = app.login("admin").await;
        let (s, o) = post(
            &admin,
            &acsrf,
            app.url("/api/v1/orgs"),
            json!({"code": "MZ-DRAFT-7", "name": "草稿医院七", "kind": "hospital"}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {o}");
        let draft = o["id"].as_i64().unwrap();
        let (s, d) = post(
            &admin,
            &acsrf,
            app.url(&format!("/api/v1/orgs/{draft}/departments")),
            json!({"code": "NK", "name": "内科"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let dd = d["id"].as_i64().unwrap();
        let (s, _, _) = form(
            &n,
            &ncsrf,
            app.url(&format!("/orgs/{draft}/departments/{dd}")),
            &[("code", "NK"), ("name", "越权"), ("kind", "clinical")],
        )
        .await;
        assert_eq!(s, 404, "{b}");
        assert_eq!(dept_row(&app, dd).await.1, "内科", "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_reports_every_problem_at_once_beside_its_fields() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (admin, csrf) = app.login("admin").await;
        let count = || async {
            app.state
                .db
                .scalar("SELECT COUNT(*) FROM accounts", vec![])
                .await
                .unwrap()
        };
        let before = count().await;
        // A login already taken, a weak password, a name with a right-to-left override and a
        // phone of 40 characters: four problems, one answer.
        let long_phone = "1".repeat(40);
        let (s, _, page) = form(
            &admin,
            &csrf,
            app.url("/admin/accounts"),
            &[
                ("login", "doctor"),
                ("display_name", "王\u{202E}五"),
                ("kind", "staff"),
                ("org_id", &hosp.to_string()),
                ("role", "doctor"),
                ("phone", &long_phone),
                ("password", "short"),
            ],
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert!(
            page.contains("<dialog id=\"dlg-account\"") && page.contains(" open"),
            "{b}"
        );
        for field in ["login", "display_name", "phone", "password"] {
            assert!(
                page.contains(&format!("id=\"err-account-{field}\"")),
                "{b}: {field} has its problem beside it"
            );
        }
        assert!(page.contains("共4处需要修改"), "{b}");
        assert!(page.contains("登录名已被使用"), "{b}");
        assert!(page.contains("密码至少10位"), "{b}");
        assert!(
            !page.contains("value=\"short\""),
            "{b}: a password is never sent back"
        );
        // A bad login, no name, an unknown role: three more, also at once.
        let (s, _, page) = form(
            &admin,
            &csrf,
            app.url("/admin/accounts"),
            &[
                ("login", "x"),
                ("display_name", " "),
                ("kind", "staff"),
                ("org_id", &hosp.to_string()),
                ("role", "no_such_role"),
                ("password", "Meizhou#2026-ok"),
            ],
        )
        .await;
        assert_eq!(s, 400, "{b}");
        for field in ["login", "display_name", "role"] {
            assert!(
                page.contains(&format!("id=\"err-account-{field}\"")),
                "{b}: {field}"
            );
        }
        assert!(page.contains("共3处需要修改"), "{b}");
        // The JSON API answers the same list of fields.
        let (s, e) = post(
            &admin,
            &csrf,
            app.url("/api/v1/accounts"),
            json!({"login": "doctor", "display_name": "", "kind": "staff", "org_id": hosp, "role": "doctor", "password": "short"}),
        )
        .await;
        assert_eq!(s, 400, "{b}: {e}");
        assert_eq!(e["code"], "input.invalid", "{b}");
        let fields: Vec<&str> = e["details"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["display_name", "password", "login"], "{b}: {e}");
        assert_eq!(count().await, before, "{b}: nothing written");
        // Only the taken login: its own code and status.
        let (s, e) = post(
            &admin,
            &csrf,
            app.url("/api/v1/accounts"),
            json!({"login": "doctor", "display_name": "王五", "kind": "staff", "org_id": hosp, "role": "doctor", "password": "Meizhou#2026-ok"}),
        )
        .await;
        assert_eq!(
            (s, e["code"].as_str()),
            (409, Some("account.login_taken")),
            "{b}: {e}"
        );
        assert_eq!(e["details"]["field"], "login", "{b}");
        // Everything right: created.
        let (s, loc, _) = form(
            &admin,
            &csrf,
            app.url("/admin/accounts"),
            &[
                ("login", "wang.wu"),
                ("display_name", "王五"),
                ("kind", "staff"),
                ("org_id", &hosp.to_string()),
                ("role", "doctor"),
                ("password", "Meizhou#2026-ok"),
            ],
        )
        .await;
        assert_eq!(s, 303, "{b}");
        assert!(decode(&loc).contains("账号已创建"), "{b}: {loc}");
        assert_eq!(count().await, before + 1, "{b}");
        app.stop().await;
    }
}
