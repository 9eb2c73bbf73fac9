//! HTTP-level tests of identity, sessions, CSRF, OAuth clients, RBAC and data scope,
//! masking with audited unmasking, the audit chain, import and the review flow.
//! Each test runs on SQLite, and on PostgreSQL when `YIYANG_TEST_DATABASE_URL` is set.

mod common;

use common::{TestApp, backends, items};
use serde_json::{Value, json};
use yiyang_store::args;

async fn staff_id_of(app: &TestApp, org_code: &str) -> i64 {
    let org = app.org_id(org_code).await;
    app.state
        .db
        .scalar("SELECT MIN(id) FROM staff WHERE org_id = $1", args![org])
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_roles_log_in_and_see_only_their_navigation() {
    for b in backends() {
        let app = TestApp::start(b).await;
        for (login, _, _, _) in yiyang::seed::DEMO_ACCOUNTS {
            let (c, _) = app.login(login).await;
            let home = c.get(app.url("/")).send().await.unwrap();
            assert_eq!(home.status(), 200, "{b} {login}");
            let html = home.text().await.unwrap();
            let sees_audit = html.contains("href=\"/audit\"");
            assert_eq!(
                sees_audit,
                matches!(*login, "admin" | "auditor"),
                "{b} {login} audit link"
            );
            let sees_accounts = html.contains("href=\"/admin/accounts\"");
            assert_eq!(
                sees_accounts,
                matches!(*login, "admin" | "hospadmin" | "nhadmin"),
                "{b} {login} accounts link"
            );
        }
        let (doctor, _) = app.login("doctor").await;
        assert_eq!(
            doctor.get(app.url("/audit")).send().await.unwrap().status(),
            403,
            "{b}"
        );
        assert_eq!(
            doctor
                .get(app.url("/api/v1/audit"))
                .send()
                .await
                .unwrap()
                .status(),
            403,
            "{b}"
        );
        let anon = app.client();
        let r = anon.get(app.url("/staff")).send().await.unwrap();
        assert_eq!(r.status(), 303, "{b}");
        assert_eq!(
            anon.get(app.url("/api/v1/staff"))
                .send()
                .await
                .unwrap()
                .status(),
            401,
            "{b}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_lock_the_account_across_nodes_until_the_lockout_ends() {
    for b in backends() {
        let app = TestApp::start(b).await;
        for i in 1..5 {
            let (status, body) = app
                .login_with("nurse", "Wrong#Password1")
                .await
                .unwrap_err();
            assert_eq!(status, 401, "{b}");
            assert_eq!(body["code"], "auth.invalid_credentials");
            assert_eq!(body["details"]["remaining_attempts"], 5 - i);
        }
        let (status, body) = app
            .login_with("nurse", "Wrong#Password1")
            .await
            .unwrap_err();
        assert_eq!(
            (status, body["code"].as_str().unwrap()),
            (423, "auth.locked"),
            "{b}"
        );
        // The right password is refused while locked, also on another node of the same database.
        let other = TestApp::start_on(b, app.url.clone(), false).await;
        let (status, _) = other
            .login_with("nurse", yiyang::seed::DEMO_PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(status, 423, "{b}");
        app.clock.advance(chrono::Duration::minutes(16));
        other.clock.advance(chrono::Duration::minutes(16));
        assert!(
            other
                .login_with("nurse", yiyang::seed::DEMO_PASSWORD)
                .await
                .is_ok(),
            "{b}"
        );
        // Unknown logins get the same answer as wrong passwords.
        let (status, body) = app
            .login_with("nobody", "Wrong#Password1")
            .await
            .unwrap_err();
        assert_eq!(
            (status, body["code"].as_str().unwrap()),
            (401, "auth.invalid_credentials")
        );
        other.stop().await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_password_change_revoke_sessions_server_side() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (c1, csrf1) = app.login("doctor").await;
        let (c2, _) = app.login("doctor").await;
        assert_eq!(
            c2.get(app.url("/api/v1/me")).send().await.unwrap().status(),
            200
        );
        // Changing the password needs the old one and a strong new one.
        let weak = c1
            .post(app.url("/account/password"))
            .header("x-csrf-token", &csrf1)
            .form(&[
                ("old_password", yiyang::seed::DEMO_PASSWORD),
                ("new_password", "short"),
                ("new_password2", "short"),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            weak.headers()["location"]
                .to_str()
                .unwrap()
                .contains("err="),
            "{b}"
        );
        let ok = c1
            .post(app.url("/account/password"))
            .header("x-csrf-token", &csrf1)
            .form(&[
                ("old_password", yiyang::seed::DEMO_PASSWORD),
                ("new_password", "Hakka#Tulou2026"),
                ("new_password2", "Hakka#Tulou2026"),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            ok.headers()["location"].to_str().unwrap().contains("ok="),
            "{b}"
        );
        assert_eq!(
            c2.get(app.url("/api/v1/me")).send().await.unwrap().status(),
            401,
            "other session revoked ({b})"
        );
        assert_eq!(
            c1.get(app.url("/api/v1/me")).send().await.unwrap().status(),
            200,
            "current session kept ({b})"
        );
        c1.post(app.url("/logout"))
            .header("x-csrf-token", &csrf1)
            .send()
            .await
            .unwrap();
        assert_eq!(
            c1.get(app.url("/api/v1/me")).send().await.unwrap().status(),
            401,
            "{b}"
        );
        assert!(app.login_with("doctor", "Hakka#Tulou2026").await.is_ok());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_ok_on_each_backend() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let r = app.client().get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{b}");
        app.stop().await;
    }
}

/// Resolved sessions are cached for up to a second per node; a revocation made through the
/// node must still hold on the very next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_revocation_and_disabling_take_effect_at_once_despite_the_session_cache() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (admin, csrf) = app.login("admin").await;
        let (doc, _) = app.login("doctor").await;
        let (nurse, _) = app.login("nurse").await;
        let id_of = |c: reqwest::Client| {
            let url = app.url("/api/v1/me");
            async move {
                let me: Value = c.get(url).send().await.unwrap().json().await.unwrap();
                me["id"].as_i64().unwrap()
            }
        };
        let doc_id = id_of(doc.clone()).await;
        let nurse_id = id_of(nurse.clone()).await;
        assert_eq!(
            doc.get(app.url("/api/v1/staff"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{b}"
        );
        let assignments = yiyang_platform::identity::assignments(&app.state.db, &[doc_id])
            .await
            .unwrap();
        assert!(!assignments.is_empty());
        for a in &assignments {
            let r = admin
                .post(app.url(&format!("/admin/accounts/{doc_id}/roles/{}/revoke", a.id)))
                .header("x-csrf-token", &csrf)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_redirection(), "{b}");
        }
        assert_eq!(
            doc.get(app.url("/api/v1/staff"))
                .send()
                .await
                .unwrap()
                .status(),
            403,
            "grants reloaded at once ({b})"
        );
        assert_eq!(
            nurse
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{b}"
        );
        let r = admin
            .post(app.url(&format!("/admin/accounts/{nurse_id}/status")))
            .header("x-csrf-token", &csrf)
            .form(&[("status", "disabled")])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{b}");
        assert_eq!(
            nurse
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .unwrap()
                .status(),
            401,
            "disabled at once ({b})"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_without_the_csrf_token_are_refused_and_change_nothing() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (c, csrf) = app.login("admin").await;
        let before = app
            .state
            .db
            .scalar("SELECT COUNT(*) FROM orgs", vec![])
            .await
            .unwrap();
        let body = json!({"code": "MZ-X-1", "name": "测试机构", "kind": "hospital"});
        let r = c
            .post(app.url("/api/v1/orgs"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{b}");
        let r = c
            .post(app.url("/orgs"))
            .form(&[
                ("code", "MZ-X-2"),
                ("name", "测试"),
                ("kind", "hospital"),
                ("_csrf", "forged"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{b}");
        assert_eq!(
            app.state
                .db
                .scalar("SELECT COUNT(*) FROM orgs", vec![])
                .await
                .unwrap(),
            before
        );
        let r = c
            .post(app.url("/api/v1/orgs"))
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn institution_scope_holds_by_id_by_list_and_by_search() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp_staff = staff_id_of(&app, "MZ-HOSP-01").await;
        let nh_staff = staff_id_of(&app, "MZ-NH-01").await;
        let (nh, _) = app.login("nhadmin").await;
        // By id: another institution's record looks exactly like a missing one.
        let r = nh
            .get(app.url(&format!("/api/v1/staff/{hosp_staff}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{b}");
        let missing = nh
            .get(app.url("/api/v1/staff/999999"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(
            nh.get(app.url(&format!("/api/v1/staff/{nh_staff}")))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            nh.get(app.url(&format!("/staff/{hosp_staff}")))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        // By list.
        let list = items(
            nh.get(app.url("/api/v1/staff"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        );
        let nh_org = app.org_id("MZ-NH-01").await;
        assert!(!list.is_empty());
        assert!(list.iter().all(|s| s["org_id"] == nh_org), "{b}: {list:?}");
        let list = items(
            nh.get(app.url(&format!(
                "/api/v1/staff?org_id={}",
                app.org_id("MZ-HOSP-01").await
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
        );
        assert!(list.is_empty(), "{b}");
        // By search: the exact ID number of a hospital doctor finds nothing for the nursing home.
        let birth = chrono::NaiveDate::from_ymd_opt(1978, 4, 12).unwrap();
        let idn = yiyang_core::idnumber::compose("441402", birth, 31);
        let found = items(
            nh.get(app.url(&format!("/api/v1/staff?q={idn}")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        );
        assert!(found.is_empty(), "{b}");
        let (hosp, _) = app.login("hospadmin").await;
        let found = items(
            hosp.get(app.url(&format!("/api/v1/staff?q={idn}")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        );
        assert_eq!(found.len(), 1, "{b}");
        assert_eq!(found[0]["name"], "曾*华");
        // Writes are scoped too.
        let (_, nh_csrf) = (nh.clone(), app.login("nhadmin").await.1);
        let _ = nh_csrf;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masked_by_default_unmasked_only_with_permission_and_purpose_and_always_audited() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let id = staff_id_of(&app, "MZ-HOSP-01").await;
        let (doctor, _) = app.login("doctor").await;
        let s: Value = doctor
            .get(app.url(&format!("/api/v1/staff/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let idn = s["id_number"].as_str().unwrap();
        assert!(
            idn.starts_with("4414") && idn.contains("**********"),
            "{b}: {idn}"
        );
        assert!(s["phone"].as_str().unwrap().contains("****"));
        assert_eq!(s["masked"], true);
        let r = doctor
            .get(app.url(&format!("/api/v1/staff/{id}?unmask=true&purpose=核对")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "doctor lacks staff.read_unmasked ({b})");
        let (admin, _) = app.login("hospadmin").await;
        let r = admin
            .get(app.url(&format!("/api/v1/staff/{id}?unmask=true")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "purpose required ({b})");
        let s: Value = admin
            .get(app.url(&format!(
                "/api/v1/staff/{id}?unmask=true&purpose=核对执业注册"
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let plain = s["id_number"].as_str().unwrap();
        assert_eq!(plain.len(), 18);
        assert!(!plain.contains('*'));
        assert_eq!(s["masked"], false);
        // The page's 查看明文 form sends the same query and shows the plain number.
        let page = admin
            .get(app.url(&format!("/staff/{id}?unmask=true&purpose=核对执业注册")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(plain),
            "{b}: the unmasked page shows the plain ID number"
        );
        let masked_page = admin
            .get(app.url(&format!("/staff/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!masked_page.contains(plain), "{b}");
        assert!(
            masked_page.contains("name=\"unmask\" value=\"true\""),
            "{b}: the form asks in the form the handler reads"
        );
        // The ID number is encrypted at rest: the plain value is nowhere in the row.
        let (cipher,): (Vec<u8>,) = app
            .state
            .db
            .fetch_one("SELECT id_cipher FROM staff WHERE id = $1", args![id])
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&cipher).contains(plain));
        app.state.audit.flush().await;
        let rows: Vec<(String, String, String)> = app.state.db
            .fetch_all("SELECT actor_login, action, purpose FROM audit_log WHERE resource_type = 'staff' AND resource_id = $1 ORDER BY seq", args![id.to_string()])
            .await.unwrap();
        assert!(
            rows.contains(&("doctor".into(), "staff.read".into(), "".into())),
            "{b}: {rows:?}"
        );
        assert!(
            rows.contains(&(
                "hospadmin".into(),
                "staff.read_unmasked".into(),
                "核对执业注册".into()
            )),
            "{b}: {rows:?}"
        );
        assert!(
            rows.iter()
                .any(|r| r.0 == "doctor" && r.1 == "staff.read_unmasked"),
            "denied attempt audited ({b})"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masking_rules_per_role_change_what_a_role_sees() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let id = staff_id_of(&app, "MZ-HOSP-01").await;
        let (admin, csrf) = app.login("admin").await;
        let algs: Vec<Value> = admin
            .get(app.url("/api/v1/masking/algorithms"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hash = algs.iter().find(|a| a["code"] == "keyed_hash").unwrap()["id"]
            .as_i64()
            .unwrap();
        let r = admin
            .post(app.url("/admin/masking/rules"))
            .header("x-csrf-token", &csrf)
            .form(&[
                ("field_kind", "phone"),
                ("role_code", "doctor"),
                ("algorithm_id", &hash.to_string()),
                ("enabled", "1"),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            r.headers()["location"].to_str().unwrap().contains("ok="),
            "{b}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let (doctor, _) = app.login("doctor").await;
        let s: Value = doctor
            .get(app.url(&format!("/api/v1/staff/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(s["phone"].as_str().unwrap().starts_with('#'), "{b}: {s}");
        let (nurse, _) = app.login("nurse").await;
        let s: Value = nurse
            .get(app.url(&format!("/api/v1/staff/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(s["phone"].as_str().unwrap().contains("****"), "{b}");
        // A bad rule is refused and changes nothing.
        let r = admin
            .post(app.url("/admin/masking/rules"))
            .header("x-csrf-token", &csrf)
            .form(&[
                ("field_kind", "shoe_size"),
                ("role_code", "doctor"),
                ("algorithm_id", &hash.to_string()),
            ])
            .send()
            .await
            .unwrap();
        // The rule dialog comes back open with the field's problem beside it.
        assert_eq!(r.status().as_u16(), 400, "{b}");
        let page = r.text().await.unwrap();
        assert!(page.contains("字段类型不存在"), "{b}: {page}");
        assert!(
            page.contains("id=\"dlg-rule\"") && page.contains("aria-invalid=\"true\""),
            "{b}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_clients_get_scoped_short_lived_tokens_that_die_with_revocation() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (client, secret) = yiyang_platform::oauth::register(
            &app.state.db,
            &app.system(),
            &yiyang_platform::oauth::NewClient {
                name: "示例医院 HIS".into(),
                scopes: vec!["staff.read".into(), "org.read".into()],
                org_id: Some(hosp),
            },
        )
        .await
        .unwrap();
        let c = app.client();
        let bad = c
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client.client_id.as_str()),
                ("client_secret", "nope"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401, "{b}");
        let wide = c
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client.client_id.as_str()),
                ("client_secret", secret.as_str()),
                ("scope", "staff.read patient.write"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(wide.status(), 400);
        let t: Value = c
            .post(app.url("/oauth/token"))
            .basic_auth(&client.client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = t["access_token"].as_str().unwrap().to_string();
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["expires_in"], 600);
        let list = items(
            c.get(app.url("/api/v1/staff"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        );
        assert!(
            !list.is_empty() && list.iter().all(|s| s["org_id"] == hosp),
            "{b}"
        );
        let nh_staff = staff_id_of(&app, "MZ-NH-01").await;
        assert_eq!(
            c.get(app.url(&format!("/api/v1/staff/{nh_staff}")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        // Bearer requests need no CSRF token, but still need the permission.
        let r = c
            .post(app.url("/api/v1/orgs"))
            .bearer_auth(&token)
            .json(&json!({"code": "X1", "name": "x", "kind": "hospital"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{b}");
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            c.get(app.url("/api/v1/staff"))
                .bearer_auth(&forged)
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        app.clock.advance(chrono::Duration::minutes(11));
        assert_eq!(
            c.get(app.url("/api/v1/staff"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status(),
            401,
            "expired ({b})"
        );
        let t: Value = c
            .post(app.url("/oauth/token"))
            .basic_auth(&client.client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = t["access_token"].as_str().unwrap().to_string();
        yiyang_platform::oauth::revoke(&app.state.db, &app.system(), client.id)
            .await
            .unwrap();
        assert_eq!(
            c.get(app.url("/api/v1/staff"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status(),
            401,
            "revoked ({b})"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_the_first_tampered_or_deleted_entry() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (c, _) = app.login("auditor").await;
        let page: Value = c
            .get(app.url("/api/v1/audit?action=auth.login"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(page["total"].as_i64().unwrap() >= 1, "{b}");
        app.state.audit.flush().await;
        let db = &app.state.db;
        let ok = yiyang_platform::audit::verify(db).await.unwrap();
        assert!(ok.first_broken.is_none() && ok.checked > 10, "{b}: {ok:?}");
        db.execute(
            "UPDATE audit_log SET actor_login = 'mallory' WHERE seq = 5",
            vec![],
        )
        .await
        .unwrap();
        let r = yiyang_platform::audit::verify(db).await.unwrap();
        assert_eq!(r.first_broken.as_ref().map(|x| x.0), Some(5), "{b}");
        assert_eq!(r.checked, 4);
        let app2 = TestApp::start(b).await;
        app2.state.audit.flush().await;
        app2.state
            .db
            .execute("DELETE FROM audit_log WHERE seq = 7", vec![])
            .await
            .unwrap();
        let r = yiyang_platform::audit::verify(&app2.state.db)
            .await
            .unwrap();
        assert_eq!(r.first_broken.map(|x| x.0), Some(7), "{b}");
        app2.stop().await;
        app.stop().await;
    }
}

fn staff_csv(rows: &[String]) -> String {
    let mut s = String::from(
        "机构编码,科室编码,姓名,性别,身份证号,手机号,职业类别,职称,资格证书编号,执业证书编号,执业证书有效期\n",
    );
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

fn valid_row(i: u32) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1960, 1, 1).unwrap()
        + chrono::Duration::days(i64::from(i) * 7);
    let seq = (i % 500) as u16 * 2 + 1;
    format!(
        "MZ-NH-01,CARE1,测试护理员{i},男,{},1380000{:04},护理员,,,,",
        yiyang_core::idnumber::compose("441403", birth, seq),
        i % 10000
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_reports_every_bad_row_and_imports_nothing_until_the_file_is_clean() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (c, csrf) = app.login("nhadmin").await;
        let count = || async {
            app.state
                .db
                .scalar("SELECT COUNT(*) FROM staff", vec![])
                .await
                .unwrap()
        };
        let before = count().await;
        let mut rows: Vec<String> = (0..5).map(valid_row).collect();
        rows.push("MZ-NH-01,,王五,男,441402194901010011,,护理员,,,,".into()); // bad check digit
        rows.push("MZ-HOSP-01,,赵六,女,11010519491231002X,,护士,,,N-1,2027-01-01".into()); // outside scope
        rows.push("MZ-NH-01,NOPE,钱七,女,11010519491231002X,,护理员,,,,".into()); // unknown department
        rows.push(valid_row(1)); // duplicate of row 3
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(staff_csv(&rows).into_bytes()).file_name("staff.csv"),
        );
        let r: Value = c
            .post(app.url("/api/v1/import/staff"))
            .header("x-csrf-token", &csrf)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["imported"], 0, "{b}: {r}");
        let errs = r["errors"].as_array().unwrap();
        let bad_rows: Vec<i64> = errs.iter().map(|e| e["row"].as_i64().unwrap()).collect();
        assert_eq!(bad_rows, vec![7, 8, 9, 10], "{b}: {r}");
        assert_eq!(errs[0]["column"], "id_number");
        assert_eq!(count().await, before, "nothing half-imported ({b})");
        let rows: Vec<String> = (0..5).map(valid_row).collect();
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(staff_csv(&rows).into_bytes()).file_name("staff.csv"),
        );
        let r: Value = c
            .post(app.url("/api/v1/import/staff"))
            .header("x-csrf-token", &csrf)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["imported"], 5, "{b}: {r}");
        assert_eq!(count().await, before + 5);
        // Wrong file type and missing columns are clear errors.
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.pdf"),
        );
        let r = c
            .post(app.url("/api/v1/import/staff"))
            .header("x-csrf-token", &csrf)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes("姓名\n张三\n".as_bytes().to_vec()).file_name("a.csv"),
        );
        let r: Value = c
            .post(app.url("/api/v1/import/staff"))
            .header("x-csrf-token", &csrf)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["code"], "import.columns_missing");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xlsx_files_import_like_csv() {
    let app = TestApp::start("sqlite").await;
    let (c, csrf) = app.login("nhadmin").await;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let header = [
        "机构编码",
        "科室编码",
        "姓名",
        "性别",
        "身份证号",
        "手机号",
        "职业类别",
        "职称",
        "资格证书编号",
        "执业证书编号",
        "执业证书有效期",
    ];
    for (i, h) in header.iter().enumerate() {
        ws.write_string(0, i as u16, *h).unwrap();
    }
    for r in 0..3u32 {
        for (i, v) in valid_row(100 + r).split(',').enumerate() {
            ws.write_string(r + 1, i as u16, v).unwrap();
        }
    }
    let bytes = wb.save_to_buffer().unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("staff.xlsx"),
    );
    let r: Value = c
        .post(app.url("/api/v1/import/staff"))
        .header("x-csrf-token", &csrf)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["imported"], 3, "{r}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn institutions_go_from_entry_through_review_to_display() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (admin, csrf) = app.login("admin").await;
        let r: Value = admin.post(app.url("/api/v1/orgs")).header("x-csrf-token", &csrf)
            .json(&json!({"code": "mz-nh-09", "name": "平远县夕阳红养老院（示例）", "kind": "养老机构", "district": "平远县", "beds": 80}))
            .send().await.unwrap().json().await.unwrap();
        let id = r["id"].as_i64().unwrap();
        let (doctor, _) = app.login("doctor").await;
        assert_eq!(
            doctor
                .get(app.url(&format!("/api/v1/orgs/{id}")))
                .send()
                .await
                .unwrap()
                .status(),
            404,
            "draft hidden ({b})"
        );
        let bad = admin
            .post(app.url("/api/v1/orgs"))
            .header("x-csrf-token", &csrf)
            .json(
                &json!({"code": "MZ-NH-10", "name": "x", "kind": "养老机构", "district": "广州市"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        assert_eq!(
            admin
                .post(app.url(&format!("/api/v1/orgs/{id}/submit")))
                .header("x-csrf-token", &csrf)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let (rev, rcsrf) = app.login("reviewer").await;
        let r = rev
            .post(app.url(&format!("/api/v1/orgs/{id}/review")))
            .header("x-csrf-token", &rcsrf)
            .json(&json!({"approve": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "reject needs a note ({b})");
        let r = rev
            .post(app.url(&format!("/api/v1/orgs/{id}/review")))
            .header("x-csrf-token", &rcsrf)
            .json(&json!({"approve": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let o: Value = doctor
            .get(app.url(&format!("/api/v1/orgs/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(o["status"], "approved");
        assert_eq!(o["code"], "MZ-NH-09");
        let again = rev
            .post(app.url(&format!("/api/v1/orgs/{id}/review")))
            .header("x-csrf-token", &rcsrf)
            .json(&json!({"approve": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_staff_go_to_the_recycle_bin_and_come_back() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let id = staff_id_of(&app, "MZ-NH-01").await;
        let (c, csrf) = app.login("nhadmin").await;
        assert_eq!(
            c.delete(app.url(&format!("/api/v1/staff/{id}")))
                .header("x-csrf-token", &csrf)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let list = items(
            c.get(app.url("/api/v1/staff"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        );
        assert!(list.iter().all(|s| s["id"] != id), "{b}");
        let bin = items(
            c.get(app.url("/api/v1/staff?deleted=true"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        );
        assert!(bin.iter().any(|s| s["id"] == id));
        c.post(app.url(&format!("/api/v1/staff/{id}/restore")))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        let list = items(
            c.get(app.url("/api/v1/staff"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        );
        assert!(list.iter().any(|s| s["id"] == id), "{b}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_switches_to_large_text_with_one_class_attribute() {
    let app = TestApp::start("sqlite").await;
    let html = app
        .client()
        .get(app.url("/login"))
        .header("cookie", "yy_lt=1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Two class attributes on <body> (the old markup) make browsers ignore the second one.
    assert!(html.contains(r#"<body class="bare large-text">"#), "{html}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_answer_with_security_headers_and_openapi_lists_the_api() {
    let app = TestApp::start("sqlite").await;
    let (c, _) = app.login("admin").await;
    for path in [
        "/",
        "/orgs",
        "/staff",
        "/review",
        "/import",
        "/admin/accounts",
        "/admin/roles",
        "/admin/clients",
        "/admin/masking",
        "/audit",
        "/jobs",
        "/inbox",
        "/api/docs",
        "/account/password",
        "/persons",
        "/persons/1",
        "/mpi/reviews",
        "/mpi/reviews/1",
        "/mpi/stats",
        "/mpi/config",
        "/my",
        "/integration/monitor",
        "/integration/screen",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'self'")
        );
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external asset on {path}"
        );
        assert!(
            !html.contains("style=\""),
            "no inline style (the CSP blocks it) on {path}"
        );
    }
    let doc: Value = c
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/staff",
        "/api/v1/staff/{id}",
        "/oauth/token",
        "/api/v1/audit",
        "/api/v1/import/{kind}",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} in OpenAPI");
    }
    let m = c
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("yiyang_http_requests_total{method=\"GET\",route=\"/orgs\",status=\"200\"}")
    );
    assert!(m.contains("yiyang_db_pool_connections"));
    app.stop().await;
}
