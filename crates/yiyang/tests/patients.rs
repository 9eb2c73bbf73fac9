//! The patient master index and health record over HTTP, on SQLite and (when configured)
//! PostgreSQL: registration through the index, scope, review, merge and unmerge without
//! loss, the health record and the 360 view, residents' own view.

mod common;

use common::{TestApp, backends, get_items, post};
use serde_json::{Value, json};
use yiyang_store::args;

fn idn(area: &str, y: i32, m: u32, d: u32, seq: u16) -> String {
    yiyang_core::idnumber::compose(area, chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap(), seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_human_is_one_person_across_institutions_and_scope_holds() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let nh = app.org_id("MZ-NH-01").await;
        let (nhadmin, nh_csrf) = app.login("nhadmin").await;
        let id_number = idn("441426", 1947, 2, 14, 35);
        let (s, out) = post(&nhadmin, &nh_csrf, app.url("/api/v1/persons"), json!({
            "org_id": nh, "name": "廖振华", "id_number": id_number, "phone": "13800138000", "district": "平远县",
            "identifiers": [{"id_type": "MRN", "value": "NH-7001"}]
        })).await;
        assert_eq!(s, 200, "{b}: {out}");
        assert_eq!(out["outcome"], "created");
        let pid = out["person_id"].as_i64().unwrap();
        // The hospital has never seen this person: not by id, not by search.
        let (doctor, _) = app.login("doctor").await;
        assert_eq!(
            doctor
                .get(app.url(&format!("/api/v1/persons/{pid}")))
                .send()
                .await
                .unwrap()
                .status(),
            404,
            "{b}"
        );
        let found: Value = doctor
            .get(app.url(&format!("/api/v1/persons?q={id_number}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(found["total"], 0, "{b}");
        // The hospital registers the same human (full-width digits, spaces, its own number): linked, not duplicated.
        let (hospadmin, h_csrf) = app.login("hospadmin").await;
        let wide: String = id_number
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from_u32(c as u32 + 0xFEE0).unwrap()
                } else {
                    c
                }
            })
            .collect();
        let (s, out) = post(&hospadmin, &h_csrf, app.url("/api/v1/persons"), json!({
            "org_id": hosp, "name": " 廖振华 ", "sex": "男", "id_number": wide, "phone": "138 0013 8000",
            "identifiers": [{"id_type": "ZY", "value": "ZY2026-9001"}]
        })).await;
        assert_eq!(s, 200, "{b}: {out}");
        assert_eq!(
            (
                out["outcome"].as_str().unwrap(),
                out["person_id"].as_i64().unwrap()
            ),
            ("linked", pid),
            "{b}: {out}"
        );
        let n = app
            .state
            .db
            .scalar("SELECT COUNT(*) FROM persons WHERE name = '廖振华'", vec![])
            .await
            .unwrap();
        assert_eq!(n, 1, "{b}");
        // Now the hospital sees the person, with both institutions' identifiers.
        let ids: Vec<Value> = doctor
            .get(app.url(&format!("/api/v1/persons/{pid}/identifiers")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let values: Vec<&str> = ids.iter().map(|i| i["value"].as_str().unwrap()).collect();
        assert!(
            values.contains(&"NH-7001") && values.contains(&"ZY2026-9001"),
            "{b}: {values:?}"
        );
        // A known source identifier names the person outright, even with a misspelt name.
        let (_, out) = post(&hospadmin, &h_csrf, app.url("/api/v1/persons"), json!({
            "org_id": hosp, "name": "廖振化", "identifiers": [{"id_type": "ZY", "value": "ZY2026-9001"}]
        })).await;
        assert_eq!(
            (
                out["outcome"].as_str().unwrap(),
                out["person_id"].as_i64().unwrap()
            ),
            ("linked", pid)
        );
        // Bad input is refused and changes nothing.
        let before = app
            .state
            .db
            .scalar("SELECT COUNT(*) FROM persons", vec![])
            .await
            .unwrap();
        let (s, out) = post(
            &hospadmin,
            &h_csrf,
            app.url("/api/v1/persons"),
            json!({"org_id": hosp, "name": "王五", "id_number": "441426194702140351"}),
        )
        .await;
        assert_eq!(
            (s, out["code"].as_str().unwrap()),
            (400, "idnumber.invalid"),
            "{b}"
        );
        let (s, _) = post(
            &hospadmin,
            &h_csrf,
            app.url("/api/v1/persons"),
            json!({"org_id": nh, "name": "王五"}),
        )
        .await;
        assert_eq!(s, 403, "cannot register for another institution ({b})");
        assert_eq!(
            app.state
                .db
                .scalar("SELECT COUNT(*) FROM persons", vec![])
                .await
                .unwrap(),
            before
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn possible_duplicates_are_queued_explained_merged_and_unmerged_without_loss() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (admin, csrf) = app.login("admin").await;
        // Strict thresholds (a new configuration version) so that a near match is reviewed.
        let active: String = app
            .state
            .db
            .fetch_one::<(String,)>("SELECT config FROM mpi_configs WHERE active = TRUE", vec![])
            .await
            .unwrap()
            .0;
        let strict = active.replace("version = \"meizhou-1\"", "version = \"meizhou-strict\"");
        let strict = regex_like_thresholds(&strict);
        let r = admin
            .post(app.url("/mpi/config"))
            .header("x-csrf-token", &csrf)
            .form(&[
                ("config", strict.as_str()),
                ("note", "严格阈值"),
                ("activate", "1"),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            r.headers()["location"].to_str().unwrap().contains("ok="),
            "{b}: {:?}",
            r.headers()["location"]
        );
        let (hospadmin, h) = app.login("hospadmin").await;
        let (_, a) = post(&hospadmin, &h, app.url("/api/v1/persons"), json!({"org_id": hosp, "name": "张秋菊", "sex": "F", "birth_date": "1950-05-06", "district": "梅江区", "town": "西郊街道", "phone": "13711112222"})).await;
        let (_, bb) = post(&hospadmin, &h, app.url("/api/v1/persons"), json!({"org_id": hosp, "name": "张秋菊", "sex": "F", "birth_date": "1950-06-05", "district": "梅江区"})).await;
        assert_eq!(a["outcome"], "created", "{b}: {a}");
        assert_eq!(bb["outcome"], "review", "{b}: {bb}");
        let (pa, pb) = (
            a["person_id"].as_i64().unwrap(),
            bb["person_id"].as_i64().unwrap(),
        );
        assert_eq!(bb["matched_id"].as_i64().unwrap(), pa);
        // Record something on each before the merge.
        post(
            &hospadmin,
            &h,
            app.url(&format!("/api/v1/persons/{pa}/observations")),
            json!({"org_id": hosp, "code": "8867-4", "value": 76}),
        )
        .await;
        post(
            &hospadmin,
            &h,
            app.url(&format!("/api/v1/persons/{pb}/observations")),
            json!({"org_id": hosp, "code": "8867-4", "value": 118}),
        )
        .await;
        let reviews = get_items(&hospadmin, app.url("/api/v1/mpi/reviews")).await;
        let review = reviews
            .iter()
            .find(|r| r["person_id"] == pb)
            .expect("queued")
            .clone();
        let ex: Value = serde_json::from_str(review["explanation"].as_str().unwrap()).unwrap();
        let sum: f64 = ex["prior_weight"].as_f64().unwrap()
            + ex["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["weight"].as_f64().unwrap())
                .sum::<f64>();
        assert!(
            (sum - ex["match_weight"].as_f64().unwrap()).abs() < 1e-6,
            "explanation adds up ({b})"
        );
        let page = hospadmin
            .get(app.url(&format!("/mpi/reviews/{}", review["id"])))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("匹配解释") && page.contains("log2"), "{b}");
        let before = app
            .state
            .db
            .scalar("SELECT COUNT(*) FROM persons", vec![])
            .await
            .unwrap();
        let (s, _) = post(
            &hospadmin,
            &h,
            app.url(&format!("/api/v1/mpi/reviews/{}", review["id"])),
            json!({"decision": "merge"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(
            app.state
                .db
                .scalar("SELECT COUNT(*) FROM persons", vec![])
                .await
                .unwrap(),
            before,
            "a merge deletes nothing ({b})"
        );
        let rec: Value = hospadmin
            .get(app.url(&format!("/api/v1/persons/{pa}/record")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            rec["observations"].as_array().unwrap().len(),
            2,
            "merged record gathers both ({b})"
        );
        let merged: Value = hospadmin
            .get(app.url(&format!("/api/v1/persons/{pb}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                merged["status"].as_str().unwrap(),
                merged["merged_into"].as_i64()
            ),
            ("merged", Some(pa))
        );
        let (s, _) = post(
            &hospadmin,
            &h,
            app.url(&format!("/api/v1/mpi/reviews/{}", review["id"])),
            json!({"decision": "merge"}),
        )
        .await;
        assert_eq!(s, 409, "decided once ({b})");
        // Unmerge restores the exact prior state.
        let (s, _) = post(
            &hospadmin,
            &h,
            app.url(&format!("/api/v1/persons/{pb}/unmerge")),
            json!({"reason": "核实为不同人"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let ra: Value = hospadmin
            .get(app.url(&format!("/api/v1/persons/{pa}/record")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rb: Value = hospadmin
            .get(app.url(&format!("/api/v1/persons/{pb}/record")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ra["observations"][0]["value_num"], 76.0, "{b}");
        assert_eq!(rb["observations"][0]["value_num"], 118.0, "{b}");
        assert_eq!(ra["observations"].as_array().unwrap().len(), 1);
        let p: Value = hospadmin
            .get(app.url(&format!("/api/v1/persons/{pb}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (p["status"].as_str().unwrap(), p["merged_into"].is_null()),
            ("active", true)
        );
        let history: Vec<Value> = hospadmin
            .get(app.url(&format!("/api/v1/persons/{pa}/history")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kinds: Vec<&str> = history
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"merge") && kinds.contains(&"unmerge"),
            "{b}: {kinds:?}"
        );
        // Merging into itself or a cycle is refused.
        let (s, _) = post(
            &hospadmin,
            &h,
            app.url(&format!("/api/v1/persons/{pa}/merge")),
            json!({"merged_id": pa}),
        )
        .await;
        assert_eq!(s, 400);
        app.state.audit.flush().await;
        let audited = app
            .state
            .db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action IN ('person.merge', 'person.unmerge')",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(audited, 2, "{b}");
        app.stop().await;
    }
}

/// Raises the link threshold and lowers the review threshold of a configuration.
fn regex_like_thresholds(toml: &str) -> String {
    let mut out = String::new();
    let mut in_thresholds = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_thresholds = t == "[thresholds]";
        }
        if in_thresholds && t.starts_with("link") {
            out.push_str("link = 0.999999999\n");
        } else if in_thresholds && t.starts_with("review") {
            out.push_str("review = 0.000001\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_record_flags_values_refuses_bad_codes_and_shows_in_the_360_view() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (c, h) = app.login("doctor").await;
        let (_, out) = post(
            &c,
            &h,
            app.url("/api/v1/persons"),
            json!({"org_id": hosp, "name": "刘国栋", "id_number": idn("441481", 1955, 8, 8, 41)}),
        )
        .await;
        let pid = out["person_id"].as_i64().unwrap();
        let (s, _) = post(
            &c,
            &h,
            app.url(&format!("/api/v1/persons/{pid}/observations")),
            json!({"org_id": hosp, "code": "8480-6", "value": 172}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let (s, _) = post(&c, &h, app.url(&format!("/api/v1/persons/{pid}/observations")), json!({"org_id": hosp, "code": "2345-7", "display": "葡萄糖", "value": 3.1, "unit": "mmol/L", "ref_low": 3.9, "ref_high": 6.1})).await;
        assert_eq!(s, 200);
        let before = app
            .state
            .db
            .scalar("SELECT COUNT(*) FROM conditions", vec![])
            .await
            .unwrap();
        let (s, e) = post(
            &c,
            &h,
            app.url(&format!("/api/v1/persons/{pid}/conditions")),
            json!({"org_id": hosp, "code": "高血压", "display": "高血压"}),
        )
        .await;
        assert_eq!(
            (s, e["code"].as_str().unwrap()),
            (400, "record.icd10_invalid"),
            "{b}"
        );
        assert_eq!(
            app.state
                .db
                .scalar("SELECT COUNT(*) FROM conditions", vec![])
                .await
                .unwrap(),
            before
        );
        let (s, _) = post(
            &c,
            &h,
            app.url(&format!("/api/v1/persons/{pid}/conditions")),
            json!({"org_id": hosp, "code": "i10", "display": "原发性高血压"}),
        )
        .await;
        assert_eq!(s, 200);
        let (_, enc) = post(
            &c,
            &h,
            app.url(&format!("/api/v1/persons/{pid}/encounters")),
            json!({"org_id": hosp, "kind": "inpatient", "dept": "心内科", "location": "5病区 3床"}),
        )
        .await;
        let enc = enc["id"].as_i64().unwrap();
        assert_eq!(
            post(
                &c,
                &h,
                app.url(&format!("/api/v1/encounters/{enc}/transfer")),
                json!({"to_location": "ICU 2床"})
            )
            .await
            .0,
            200
        );
        assert_eq!(
            post(
                &c,
                &h,
                app.url(&format!("/api/v1/encounters/{enc}/discharge")),
                json!({})
            )
            .await
            .0,
            200
        );
        assert_eq!(
            post(
                &c,
                &h,
                app.url(&format!("/api/v1/encounters/{enc}/discharge")),
                json!({})
            )
            .await
            .0,
            409,
            "{b}"
        );
        let rec: Value = c
            .get(app.url(&format!("/api/v1/persons/{pid}/record")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let flags: Vec<(&str, &str)> = rec["observations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["code"].as_str().unwrap(), o["flag"].as_str().unwrap()))
            .collect();
        assert!(
            flags.contains(&("8480-6", "H")) && flags.contains(&("2345-7", "L")),
            "{b}: {flags:?}"
        );
        assert_eq!(
            rec["observations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["code"] == "8480-6")
                .unwrap()["unit"],
            "mm[Hg]"
        );
        assert_eq!(rec["conditions"][0]["code"], "I10");
        assert_eq!(
            rec["conditions"][0]["system"],
            "http://hl7.org/fhir/sid/icd-10"
        );
        assert_eq!(rec["encounters"][0]["status"], "finished");
        assert_eq!(rec["encounters"][0]["location"], "ICU 2床");
        let page = c
            .get(app.url(&format!("/persons/{pid}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        for needle in [
            "健康360视图",
            "原发性高血压",
            "收缩压",
            "ICU 2床",
            "mmHg",
            "偏高",
        ] {
            assert!(html.contains(needle), "{b}: 360 view shows {needle}");
        }
        // Units as people write them, not UCUM notation.
        assert!(!html.contains("mm[Hg]"), "{b}: no UCUM unit on screen");
        app.state.audit.flush().await;
        let reads = app
            .state
            .db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'record.read' AND resource_id = $1",
                args![pid.to_string()],
            )
            .await
            .unwrap();
        assert!(reads >= 2, "{b}: {reads}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_see_their_own_record_and_authorised_family_theirs_but_nothing_else() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let (elder, _) = app.login("elder").await;
        let page = elder
            .get(app.url("/my"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("丘德明") && page.contains("苯磺酸氨氯地平片") && page.contains("青霉素"),
            "{b}"
        );
        let (family, _) = app.login("family").await;
        let page = family
            .get(app.url("/my"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("丘德明的健康档案") && page.contains("您以“女儿”的身份查看"),
            "{b}"
        );
        let other: i64 = app
            .state
            .db
            .scalar("SELECT id FROM persons WHERE name = '钟玉兰'", vec![])
            .await
            .unwrap();
        assert_eq!(
            elder
                .get(app.url(&format!("/api/v1/persons/{other}")))
                .send()
                .await
                .unwrap()
                .status(),
            404,
            "{b}"
        );
        assert_eq!(
            elder
                .get(app.url(&format!("/api/v1/persons/{other}/record")))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            elder
                .get(app.url("/api/v1/persons"))
                .send()
                .await
                .unwrap()
                .status(),
            403,
            "no search for residents ({b})"
        );
        // The 360 view of the elder, for the elder's linked person, masks the ID number even for them.
        let me: i64 = app
            .state
            .db
            .scalar(
                "SELECT person_id FROM person_contacts WHERE relation = '本人'",
                vec![],
            )
            .await
            .unwrap();
        let p: Value = elder
            .get(app.url(&format!("/api/v1/persons/{me}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(p["id_number"].as_str().unwrap().contains('*'));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmasked_person_reads_need_permission_and_purpose_and_are_audited() {
    let app = TestApp::start("sqlite").await;
    let me: i64 = app
        .state
        .db
        .scalar(
            "SELECT person_id FROM person_contacts WHERE relation = '本人'",
            vec![],
        )
        .await
        .unwrap();
    let (doctor, _) = app.login("doctor").await;
    let p: Value = doctor
        .get(app.url(&format!("/api/v1/persons/{me}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["name"], "丘德明", "clinicians see names");
    assert!(p["id_number"].as_str().unwrap().contains("**********"));
    assert_eq!(
        doctor
            .get(app.url(&format!(
                "/api/v1/persons/{me}?unmask=true&purpose=办理住院"
            )))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let (hosp, _) = app.login("hospadmin").await;
    assert_eq!(
        hosp.get(app.url(&format!("/api/v1/persons/{me}?unmask=true")))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let p: Value = hosp
        .get(app.url(&format!(
            "/api/v1/persons/{me}?unmask=true&purpose=办理住院"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["id_number"].as_str().unwrap().len(), 18);
    app.state.audit.flush().await;
    let (purpose,): (String,) = app.state.db.fetch_one("SELECT purpose FROM audit_log WHERE action = 'person.read_unmasked' AND outcome = 'success'", vec![]).await.unwrap();
    assert_eq!(purpose, "办理住院");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_model_links_the_same_person_queues_near_misses_and_keeps_namesakes_apart() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let (c, h) = app.login("hospadmin").await;
        let reg = |body: Value| {
            let (c, h) = (c.clone(), h.clone());
            let url = app.url("/api/v1/persons");
            async move { post(&c, &h, url, body).await.1 }
        };
        let orig: i64 = app
            .state
            .db
            .scalar("SELECT id FROM persons WHERE name = '李伯华'", vec![])
            .await
            .unwrap();
        // Same name, sex and birth date, no ID number: the same person.
        let o = reg(json!({"org_id": hosp, "name": "李伯华", "sex": "M", "birth_date": "1951-11-02", "district": "梅县区"})).await;
        assert_eq!(
            (
                o["outcome"].as_str().unwrap(),
                o["person_id"].as_i64().unwrap()
            ),
            ("linked", orig),
            "{b}: {o}"
        );
        // A different surname born the same day in the same district is someone else.
        let o = reg(json!({"org_id": hosp, "name": "王伯华", "sex": "M", "birth_date": "1951-11-02", "district": "梅县区"})).await;
        assert_eq!(o["outcome"], "created", "{b}: {o}");
        // The seeded homophone with day and month swapped waits for a person to decide.
        let pending = app
            .state
            .db
            .scalar(
                "SELECT COUNT(*) FROM mpi_reviews WHERE status = 'pending'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(pending, 1, "{b}");
        app.stop().await;
    }
}
