//! HTTP tests of the demo hospital's HL7 day (made by the integration module's demo data
//! through the path an MLLP message takes): the message list, monitoring, the critical-value
//! list and the home cards show it; critical values are acknowledged from their list, one by
//! one in the row or several at once, each checked against the caller's scope.
//! Each test runs on SQLite, and on PostgreSQL when `YIYANG_TEST_DATABASE_URL` is set.

mod common;

use common::{TestApp, backends, get_items, get_json};
use yiyang_store::args;

async fn get_text(c: &reqwest::Client, url: String) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts a form (with the CSRF token); returns status and the decoded Location.
async fn form(
    c: &reqwest::Client,
    csrf: &str,
    url: String,
    fields: &[(&str, String)],
) -> (u16, String) {
    let mut all: Vec<(&str, String)> = vec![("_csrf", csrf.to_string())];
    all.extend_from_slice(fields);
    let r = c.post(url).form(&all).send().await.unwrap();
    let loc = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    let loc = reqwest::Url::parse(&format!("http://x{loc}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    (r.status().as_u16(), loc)
}

async fn count(app: &TestApp, sql: &str, a: Vec<yiyang_store::Arg>) -> i64 {
    app.state.db.scalar(sql, a).await.unwrap()
}

/// The number on the home card labelled `label`, if the page has it.
fn card(home: &str, label: &str) -> Option<i64> {
    home.split("<a ").skip(1).find_map(|part| {
        let (tag, rest) = part.split_once('>')?;
        let n = tag.split_once("data-card=\"")?.1.split_once('"')?.0;
        let shown = ["<div class=\"l\">", "<span class=\"tile-t\">"]
            .iter()
            .find_map(|m| rest.split_once(m))?
            .1
            .split_once('<')?
            .0;
        (shown == label).then(|| n.parse().ok())?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_hospital_has_a_day_of_hl7_traffic_that_its_pages_show() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let channel: i64 = app
            .state
            .db
            .scalar(
                "SELECT id FROM hl7_channels WHERE name = $1",
                args![yiyang::seed::DEMO_CHANNEL],
            )
            .await
            .unwrap();
        let of = |status: &'static str| {
            let app = &app;
            async move {
                count(
                    app,
                    "SELECT COUNT(*) FROM hl7_messages WHERE channel_id = $1 AND status = $2",
                    args![channel, status],
                )
                .await
            }
        };
        // Everything was processed before the seed returned; one refusal, one duplicate.
        let processed = of("processed").await;
        assert!(processed >= 50, "{b}: {processed}");
        assert_eq!(
            (
                of("received").await,
                of("error").await,
                of("duplicate").await
            ),
            (0, 1, 1),
            "{b}"
        );
        let (ack, error): (String, String) = app
            .state
            .db
            .fetch_one(
                "SELECT ack_code, error FROM hl7_messages WHERE channel_id = $1 AND status = 'error'",
                args![channel],
            )
            .await
            .unwrap();
        assert_eq!(ack, "AE", "{b}");
        assert!(error.contains("就诊号"), "{b}: a zh-CN reason: {error}");
        // Each kind of message did its work: stays, moves, discharges, results.
        for (sql, what) in [
            (
                "SELECT COUNT(*) FROM encounters WHERE org_id = $1 AND source_id LIKE 'V26%'",
                "admissions",
            ),
            (
                "SELECT COUNT(*) FROM encounters WHERE org_id = $1 AND source_id LIKE 'V26%' AND status = 'finished'",
                "discharges",
            ),
            (
                "SELECT COUNT(*) FROM observations WHERE org_id = $1 AND source LIKE 'hl7%'",
                "results",
            ),
        ] {
            assert!(count(&app, sql, args![hosp]).await > 0, "{b}: {what}");
        }
        let hours = count(
            &app,
            "SELECT COUNT(*) FROM hl7_channel_hours WHERE channel_id = $1",
            args![channel],
        )
        .await;
        assert!(hours >= 12, "{b}: spread over the day ({hours} hours)");
        // Critical values were routed: the cardiology patient's reached the demo doctor
        // and the ward's nurse at once.
        let open = count(
            &app,
            "SELECT COUNT(*) FROM critical_alerts WHERE org_id = $1 AND status = 'open'",
            args![hosp],
        )
        .await;
        assert!(open >= 3, "{b}: {open}");
        let notified: Vec<(String, String)> = app
            .state
            .db
            .fetch_all(
                "SELECT ward, notified FROM critical_alerts WHERE org_id = $1",
                args![hosp],
            )
            .await
            .unwrap();
        assert!(
            notified
                .iter()
                .any(|(w, n)| w == "NEI" && n.contains("曾国华") && n.contains("李秀梅")),
            "{b}: {notified:?}"
        );
        let worker = yiyang::app::worker(&app.state, "t".into());
        worker
            .run_due(&yiyang_platform::jobs::JobStats::default())
            .await
            .unwrap();
        for login in ["doctor", "nurse"] {
            let told = count(
                &app,
                "SELECT COUNT(*) FROM inbox i JOIN accounts a ON a.id = i.account_id WHERE a.login = $1 AND i.title LIKE '%危急值提醒%'",
                args![login],
            )
            .await;
            assert!(told >= 1, "{b}: {login}");
        }
        // The pages: the message list, monitoring, the critical-value list, the home cards.
        let (admin, _) = app.login("admin").await;
        let total = count(
            &app,
            "SELECT COUNT(*) FROM hl7_messages WHERE channel_id = $1",
            args![channel],
        )
        .await;
        let (s, page) = get_text(&admin, app.url("/integration/messages")).await;
        assert_eq!(s, 200, "{b}");
        assert!(
            page.contains(&format!("共 <strong>{total}</strong> 条")),
            "{b}: {total} messages listed"
        );
        let (s, page) = get_text(&admin, app.url("/integration/monitor")).await;
        assert_eq!(s, 200, "{b}");
        assert!(page.contains(yiyang::seed::DEMO_CHANNEL), "{b}");
        let stats = get_json(&admin, app.url("/api/v1/integration/monitor")).await;
        let demo = stats
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["channel"]["id"] == channel)
            .unwrap_or_else(|| panic!("{b}: {stats}"));
        assert_eq!(demo["total"].as_i64(), Some(total), "{b}: {demo}");
        assert!(demo["today"].as_i64().unwrap() > 0, "{b}: {demo}");
        assert!(demo["per_minute"].as_f64().unwrap() > 0.0, "{b}: {demo}");
        let (_, home) = get_text(&admin, app.url("/")).await;
        assert!(card(&home, "异常消息").unwrap() >= 1, "{b}");
        assert!(home.contains("近24小时接收的 HL7 消息"), "{b}: the chart");
        let (h, _) = app.login("hospadmin").await;
        let (_, home) = get_text(&h, app.url("/")).await;
        assert_eq!(card(&home, "危急值待确认"), Some(open), "{b}");
        let (s, page) = get_text(&h, app.url("/integration/alerts")).await;
        assert_eq!(s, 200, "{b}");
        assert!(
            page.contains(&format!("共 <strong>{open}</strong> 条")) && page.contains("血钾"),
            "{b}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_values_are_acknowledged_from_their_list_one_or_several_each_in_scope() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let hosp = app.org_id("MZ-HOSP-01").await;
        let open: Vec<(i64,)> = app
            .state
            .db
            .fetch_all(
                "SELECT id FROM critical_alerts WHERE org_id = $1 AND status = 'open' ORDER BY id",
                args![hosp],
            )
            .await
            .unwrap();
        let open: Vec<i64> = open.into_iter().map(|r| r.0).collect();
        assert!(open.len() >= 3, "{b}: the demo has open critical values");
        let status = |id: i64| {
            let app = &app;
            async move {
                let r: (String, Option<String>, String) = app
                    .state
                    .db
                    .fetch_one(
                        "SELECT status, acknowledged_by, note FROM critical_alerts WHERE id = $1",
                        args![id],
                    )
                    .await
                    .unwrap();
                r
            }
        };
        // The list offers 确认 in each open row (with the CSRF token) and 批量确认.
        let (nurse, ncsrf) = app.login("nurse").await;
        let (s, page) = get_text(&nurse, app.url("/integration/alerts")).await;
        assert_eq!(s, 200, "{b}");
        assert!(
            page.contains(&format!("action=\"/integration/alerts/{}/ack\"", open[0])),
            "{b}: a form in the row"
        );
        assert!(
            page.contains("formaction=\"/integration/alerts/ack\""),
            "{b}: 批量确认"
        );
        let row_form = page
            .split(&format!("action=\"/integration/alerts/{}/ack\"", open[0]))
            .nth(1)
            .unwrap()
            .split("</form>")
            .next()
            .unwrap();
        assert!(
            row_form.contains(&format!("name=\"_csrf\" value=\"{ncsrf}\"")),
            "{b}"
        );
        // One from its row, with a note.
        let (s, loc) = form(
            &nurse,
            &ncsrf,
            app.url(&format!("/integration/alerts/{}/ack", open[0])),
            &[("note", "已通知值班医生复查".into())],
        )
        .await;
        assert_eq!(s, 303, "{b}");
        assert!(loc.contains("ok=危急值已确认"), "{b}: {loc}");
        assert_eq!(
            status(open[0]).await,
            (
                "acknowledged".into(),
                Some("nurse".into()),
                "已通知值班医生复查".into()
            ),
            "{b}"
        );
        // Another institution's administrator ticks the hospital's alerts: none is
        // acknowledged, each is named.
        let (nh, nhcsrf) = app.login("nhadmin").await;
        let (s, loc) = form(
            &nh,
            &nhcsrf,
            app.url("/integration/alerts/ack"),
            &[("ids", open[1].to_string()), ("ids", open[2].to_string())],
        )
        .await;
        assert_eq!(s, 303, "{b}");
        assert!(
            loc.contains("已处理 0 条")
                && loc.contains(&format!("编号 {}", open[1]))
                && loc.contains(&format!("编号 {}", open[2])),
            "{b}: {loc}"
        );
        assert_eq!(status(open[1]).await.0, "open", "{b}");
        assert_eq!(status(open[2]).await.0, "open", "{b}");
        // Several at once by the hospital's administrator: the ones still open are
        // acknowledged, the one already done is named.
        let (h, hcsrf) = app.login("hospadmin").await;
        let (s, loc) = form(
            &h,
            &hcsrf,
            app.url("/integration/alerts/ack"),
            &[
                ("ids", open[0].to_string()),
                ("ids", open[1].to_string()),
                ("ids", open[2].to_string()),
            ],
        )
        .await;
        assert_eq!(s, 303, "{b}");
        assert!(
            loc.contains("已处理 2 条") && loc.contains(&format!("编号 {}", open[0])),
            "{b}: {loc}"
        );
        for id in &open[1..3] {
            assert_eq!(
                status(*id).await.0,
                "acknowledged",
                "{b}: {id} acknowledged in the batch"
            );
            assert_eq!(status(*id).await.1.as_deref(), Some("hospadmin"), "{b}");
        }
        app.state.audit.flush().await;
        let audited = count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'integration.alert_ack'",
            vec![],
        )
        .await;
        assert_eq!(audited, 3, "{b}: each acknowledgement audited");
        // Nothing ticked: said so, nothing done.
        let (s, loc) = form(&h, &hcsrf, app.url("/integration/alerts/ack"), &[]).await;
        assert_eq!(s, 303, "{b}");
        assert!(loc.contains("err=请先勾选"), "{b}: {loc}");
        // The acknowledged ones leave the open list (and its card).
        let left = get_items(&h, app.url("/api/v1/integration/alerts?status=open")).await;
        assert_eq!(left.len(), open.len() - 3, "{b}");
        app.stop().await;
    }
}
