//! HTTP tests of the home dashboards: for every demo role, every card opens the filtered
//! list it counts (the list says the same number), a role sees only cards it can open,
//! work queues come first, charts carry their data; residents get the phone-first page
//! with their own blood-pressure trend.
//! Each test runs on SQLite, and on PostgreSQL when `YIYANG_TEST_DATABASE_URL` is set.

mod common;

use common::{TestApp, backends, post};
use serde_json::json;
use yiyang_store::args;

/// A card on the home page: (link, number, label).
#[derive(Debug, Clone)]
struct Card {
    href: String,
    n: i64,
    label: String,
}

/// Every `<a … data-card="n">` of the page with its link and label.
fn cards(html: &str) -> Vec<Card> {
    html.split("<a ")
        .skip(1)
        .filter_map(|part| {
            let (tag, rest) = part.split_once('>')?;
            let n = tag.split_once("data-card=\"")?.1.split_once('"')?.0;
            let href = tag.split_once("href=\"")?.1.split_once('"')?.0;
            let label = ["<div class=\"l\">", "<span class=\"tile-t\">"]
                .iter()
                .find_map(|m| rest.split_once(m))?
                .1
                .split_once('<')?
                .0;
            Some(Card {
                href: href.replace("&amp;", "&"),
                n: n.parse().ok()?,
                label: label.to_string(),
            })
        })
        .collect()
}

fn card<'a>(cards: &'a [Card], label: &str) -> Option<&'a Card> {
    cards.iter().find(|c| c.label == label)
}

async fn get_text(c: &reqwest::Client, url: String) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Work for the queues to count, in the hospital: two licences expiring soon, an admitted
/// patient, an open critical value and an appointment today.
async fn make_work(app: &TestApp) {
    let db = &app.state.db;
    db.execute(
        "UPDATE staff SET licence_expiry = '2026-12-20' WHERE id IN (SELECT id FROM staff ORDER BY id LIMIT 2)",
        vec![],
    )
    .await
    .unwrap();
    let hosp = app.org_id("MZ-HOSP-01").await;
    let (admin, csrf) = app.login("admin").await;
    let (s, p) = post(
        &admin,
        &csrf,
        app.url("/api/v1/persons"),
        json!({"org_id": hosp, "name": "看板测试甲", "sex": "F", "birth_date": "1950-02-03", "phone": "13911112222"}),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    let pid = p["person_id"].as_i64().unwrap();
    let (s, e) = post(
        &admin,
        &csrf,
        app.url(&format!("/api/v1/persons/{pid}/encounters")),
        json!({"org_id": hosp, "kind": "inpatient", "dept": "心内科", "location": "5病区 12床"}),
    )
    .await;
    assert_eq!(s, 200, "{e}");
    // A result message with a critical potassium and an appointment, as the integration
    // engine stores them (the rows it would write, without a listener).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (s, ch) = post(
        &admin,
        &csrf,
        app.url("/api/v1/integration/channels"),
        json!({"org_id": hosp, "name": "看板测试LIS", "port": port, "message_types": "ORU^R01,SIU^S12", "enabled": false}),
    )
    .await;
    assert_eq!(s, 200, "{ch}");
    let now = app.state.clock.now_micros();
    let mut tx = db.begin().await.unwrap();
    let msg = tx
        .scalar(
            "INSERT INTO hl7_messages (channel_id, org_id, control_id, msg_type, raw, status, error, received_at) \
             VALUES ($1, $2, 'DASH-1', 'ORU^R01', $3, 'error', '测试', $4) RETURNING id",
            args![ch["id"].as_i64().unwrap(), hosp, b"MSH|^~\\&|LIS".to_vec(), now],
        )
        .await
        .unwrap();
    let obs = tx
        .scalar(
            "INSERT INTO observations (person_id, org_id, category, system, code, display, value_num, unit, flag, effective_at, created_at) \
             VALUES ($1, $2, 'laboratory', 'http://loinc.org', '2823-3', '血钾', 6.9, 'mmol/L', 'HH', $3, $3) RETURNING id",
            args![pid, hosp, now],
        )
        .await
        .unwrap();
    tx.execute(
        "INSERT INTO critical_alerts (message_id, org_id, person_id, observation_id, department, item, value_text, flag, status, created_at) \
         VALUES ($1, $2, $3, $4, '心内科', '血钾', '6.9', 'HH', 'open', $5)",
        args![msg, hosp, pid, obs, now],
    )
    .await
    .unwrap();
    tx.execute(
        "INSERT INTO appointments (message_id, org_id, person_id, appt_no, status, start_at, service, location, provider, reason, created_at, updated_at) \
         VALUES ($1, $2, $3, 'YY-TEST-1', 'booked', $4, '心内科门诊', '门诊2楼', '曾国华', '复诊', $5, $5)",
        args![msg, hosp, pid, now + 3_600_000_000, now],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_home_card_of_every_demo_role_opens_the_list_it_counts() {
    for b in backends() {
        let app = TestApp::start(b).await;
        make_work(&app).await;
        for (login, _, role, _) in yiyang::seed::DEMO_ACCOUNTS {
            let (c, _) = app.login(login).await;
            let (s, home) = get_text(&c, app.url("/")).await;
            assert_eq!(s, 200, "{b} {login}");
            let found = cards(&home);
            assert!(!found.is_empty(), "{b} {login}: the home page has cards");
            for card in &found {
                let (s, list) = get_text(&c, app.url(&card.href)).await;
                assert_eq!(s, 200, "{b} {login}: {} → {}", card.label, card.href);
                assert!(
                    list.contains(&format!("共 <strong>{}</strong> 条", card.n)),
                    "{b} {login}: {} → {} shows the {} the card counts",
                    card.label,
                    card.href,
                    card.n
                );
            }
            let has = |l: &str| card(&found, l).is_some();
            match *role {
                "platform_admin" => {
                    let soon = card(&found, "60天内证照到期").unwrap();
                    assert!(soon.n >= 2 && soon.href.contains("expiring_within_days=60"));
                    for l in [
                        "住院中患者",
                        "危急值待确认",
                        "待审核机构",
                        "异常消息",
                        "失败任务",
                    ] {
                        assert!(has(l), "{b} admin: {l} in {found:?}");
                    }
                    assert!(card(&found, "住院中患者").unwrap().n >= 1);
                    assert!(card(&found, "危急值待确认").unwrap().n >= 1);
                    assert!(
                        home.contains("data-chart="),
                        "{b}: the admin's home has charts"
                    );
                }
                "doctor" | "nurse" => {
                    for l in ["住院中患者", "危急值待确认", "今日预约"] {
                        let c = card(&found, l).unwrap_or_else(|| panic!("{b} {login}: {l}"));
                        assert!(c.n >= 1, "{b} {login}: {l} counts the hospital's work");
                    }
                    // Not theirs to open: review, the integration engine, the index queue.
                    for l in [
                        "待审核机构",
                        "待审核人员",
                        "异常消息",
                        "疑似重复待处理",
                        "60天内证照到期",
                    ] {
                        assert!(!has(l), "{b} {login} must not see {l}");
                    }
                    assert!(home.contains("近14天就诊人次"), "{b} {login}");
                }
                "org_admin" => {
                    assert!(
                        has("60天内证照到期") && has("疑似重复待处理") && has("人员待提交审核")
                    );
                    assert!(
                        !has("待审核机构"),
                        "{b} {login}: reviewing is not an org admin's"
                    );
                }
                "data_reviewer" => assert!(has("待审核机构") && has("待审核人员")),
                "security_auditor" => assert!(has("今日被拒绝的操作")),
                "insurance_auditor" | "pharmacist" | "caregiver" => {
                    assert!(has("居民档案") && has("住院中患者"), "{b} {login}");
                    assert!(!has("异常消息") && !has("待审核机构"), "{b} {login}");
                }
                "elder" | "family" => {
                    assert!(home.contains("resident-home"), "{b} {login}: phone-first");
                    assert!(has("未读消息"), "{b} {login}");
                    assert!(!has("住院中患者"), "{b} {login}");
                }
                other => panic!("a demo role the test does not know: {other}"),
            }
            // Work queues come before the figures of the area.
            if let (Some(q), Some(s)) = (home.find("待办事项"), home.find("概况")) {
                assert!(q < s, "{b} {login}");
            }
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_elders_home_draws_their_own_blood_pressure_and_nobody_elses() {
    let app = TestApp::start("sqlite").await;
    let (c, _) = app.login("elder").await;
    let (s, home) = get_text(&c, app.url("/")).await;
    assert_eq!(s, 200);
    assert!(home.contains("href=\"/my\""), "the record is one tap away");
    let linked: Vec<(i64,)> = app
        .state
        .db
        .fetch_all(
            "SELECT pc.person_id FROM person_contacts pc JOIN accounts a ON a.id = pc.account_id WHERE a.login = 'elder' AND pc.can_view = TRUE",
            vec![],
        )
        .await
        .unwrap();
    let bp: i64 = app
        .state
        .db
        .scalar(
            &format!(
                "SELECT COUNT(*) FROM observations WHERE code = '8480-6' AND person_id IN ({})",
                linked
                    .iter()
                    .map(|(p,)| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            vec![],
        )
        .await
        .unwrap();
    assert!(bp > 0, "the demo elder has blood-pressure readings");
    assert!(home.contains("的血压（mmHg"), "{home}");
    assert!(home.contains("收缩压（高压）"));
    // The family member sees the record they were authorised for; the doctor's home has
    // no resident chart.
    let (d, _) = app.login("doctor").await;
    let (_, dh) = get_text(&d, app.url("/")).await;
    assert!(!dh.contains("的血压（mmHg") && !dh.contains("resident-home"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_follow_the_institution_scope() {
    let app = TestApp::start("sqlite").await;
    make_work(&app).await;
    // The nursing home's administrator counts the nursing home only: the hospital's open
    // critical value and admitted patient are not theirs.
    let (c, _) = app.login("nhadmin").await;
    let (_, home) = get_text(&c, app.url("/")).await;
    let found = cards(&home);
    let nh = app.org_id("MZ-NH-01").await;
    let open: i64 = app
        .state
        .db
        .scalar(
            "SELECT COUNT(*) FROM critical_alerts WHERE status = 'open' AND org_id = $1",
            args![nh],
        )
        .await
        .unwrap();
    assert_eq!(card(&found, "危急值待确认").unwrap().n, open);
    let (_, list) = get_text(&c, app.url("/encounters?kind=inpatient&status=in-progress")).await;
    assert!(!list.contains("看板测试"), "another institution's patient");
    let (h, _) = app.login("hospadmin").await;
    let (_, list) = get_text(&h, app.url("/encounters?kind=inpatient&status=in-progress")).await;
    assert!(
        list.contains("5病区 12床"),
        "the hospital's own inpatient is listed"
    );
    // A bad filter is refused, not ignored.
    let (s, _) = get_text(&h, app.url("/encounters?status=nonsense")).await;
    assert_eq!(s, 400);
    let (s, _) = get_text(&h, app.url("/encounters?date=2026-13-40")).await;
    assert_eq!(s, 400);
    app.stop().await;
}
