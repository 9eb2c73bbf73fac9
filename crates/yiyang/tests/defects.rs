//! Defects seen trying the platform as a new user (issue 13 §3), each with its test.

mod common;

use common::*;

async fn page(c: &reqwest::Client, url: String) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_see_their_record_and_staff_do_not_see_an_empty_one() {
    let app = TestApp::start("sqlite").await;
    let (doctor, _) = app.login("doctor").await;
    let (_, home) = page(&doctor, app.url("/")).await;
    assert!(
        !home.contains("href=\"/my\""),
        "staff get no 我的健康档案 entry"
    );
    let (elder, _) = app.login("elder").await;
    let (_, home) = page(&elder, app.url("/")).await;
    assert!(home.contains("href=\"/my\""));
    assert!(
        !home.contains("后续版本"),
        "the record already works: no 'later version' text"
    );
    let (family, _) = app.login("family").await;
    let (s, my) = page(&family, app.url("/my")).await;
    assert_eq!(s, 200);
    assert!(
        my.contains("的健康档案") && my.contains("您以“女儿”的身份查看"),
        "{my}"
    );
    assert!(
        !my.contains("（女儿）"),
        "the father is not titled as the daughter"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_shown_only_cards_and_links_they_can_open() {
    let app = TestApp::start("sqlite").await;
    for login in ["doctor", "nurse", "pharmacist", "ybaudit"] {
        let (c, _) = app.login(login).await;
        let (s, stats) = page(&c, app.url("/mpi/stats")).await;
        assert_eq!(s, 200, "{login}");
        assert!(
            !stats.contains("href=\"/mpi/reviews\""),
            "{login} gets no link to a 403 page"
        );
    }
    let (c, _) = app.login("hospadmin").await;
    let (_, stats) = page(&c, app.url("/mpi/stats")).await;
    assert!(stats.contains("href=\"/mpi/reviews\""));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_forms_carry_the_token_in_the_body_not_the_address() {
    let app = TestApp::start("sqlite").await;
    let (c, csrf) = app.login("hospadmin").await;
    let (_, form) = page(&c, app.url("/import")).await;
    assert!(
        form.contains("action=\"/import\"") && !form.contains("_csrf="),
        "no token in a form action"
    );
    let file = || {
        reqwest::multipart::Part::bytes(
            b"\xef\xbb\xbf\xe6\x9c\xba\xe6\x9e\x84\xe7\xbc\x96\xe7\xa0\x81\n".to_vec(),
        )
        .file_name("staff.csv")
    };
    let send = |form: reqwest::multipart::Form| c.post(app.url("/import")).multipart(form).send();
    let r = send(
        reqwest::multipart::Form::new()
            .text("kind", "staff")
            .part("file", file()),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403, "no token, no upload");
    let r = send(
        reqwest::multipart::Form::new()
            .text("_csrf", "forged")
            .text("kind", "staff")
            .part("file", file()),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = send(
        reqwest::multipart::Form::new()
            .text("_csrf", csrf.clone())
            .text("kind", "staff")
            .part("file", file()),
    )
    .await
    .unwrap();
    // Taken (the file's problems are reported on the page it leads to), and no token in sight.
    let s = r.status().as_u16();
    assert!(s == 200 || s == 303, "{s}");
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        !loc.contains("_csrf") && !r.url().as_str().contains("_csrf"),
        "{loc}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn institution_review_notifies_both_sides_and_no_one_approves_their_own_submission() {
    use serde_json::json;
    for b in backends() {
        let app = TestApp::start(b).await;
        let (admin, a_csrf) = app.login("admin").await;
        let (s, out) = post(&admin, &a_csrf, app.url("/api/v1/orgs"), json!({"code": "MZ-NH-09", "name": "梅江区康乐养老院", "kind": "nursing_home", "district": "梅江区"})).await;
        assert_eq!(s, 200, "{out}");
        let id = out["id"].as_i64().unwrap();
        let (s, out) = post(
            &admin,
            &a_csrf,
            app.url(&format!("/api/v1/orgs/{id}/submit")),
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{out}");
        let (s, out) = post(
            &admin,
            &a_csrf,
            app.url(&format!("/api/v1/orgs/{id}/review")),
            json!({"approve": true}),
        )
        .await;
        assert_eq!(
            (s, out["code"].as_str()),
            (403, Some("review.own_submission")),
            "{out}"
        );
        let status: String = app
            .state
            .db
            .fetch_one::<(String,)>(
                "SELECT status FROM orgs WHERE id = $1",
                yiyang_store::args![id],
            )
            .await
            .unwrap()
            .0;
        assert_eq!(status, "pending", "the refused review changed nothing");
        // The reviewer was told, and the result reaches the submitter.
        deliver(&app).await;
        let (reviewer, r_csrf) = app.login("reviewer").await;
        let inbox = get_json(&reviewer, app.url("/api/v1/inbox")).await;
        assert!(
            inbox.to_string().contains("待审核：机构“梅江区康乐养老院”"),
            "{b}: {inbox}"
        );
        let (s, out) = post(
            &reviewer,
            &r_csrf,
            app.url(&format!("/api/v1/orgs/{id}/review")),
            json!({"approve": false, "note": "许可证号缺失"}),
        )
        .await;
        assert_eq!(s, 200, "{out}");
        deliver(&app).await;
        let inbox = get_json(&admin, app.url("/api/v1/inbox")).await;
        assert!(
            inbox
                .to_string()
                .contains("审核退回：机构“梅江区康乐养老院”")
                && inbox.to_string().contains("许可证号缺失"),
            "{b}: {inbox}"
        );
        app.stop().await;
    }
}

/// Runs the due jobs (notification delivery) once.
async fn deliver(app: &TestApp) {
    let worker = yiyang::app::worker(&app.state, "t".into());
    worker
        .run_due(&yiyang_platform::jobs::JobStats::default())
        .await
        .unwrap();
}
