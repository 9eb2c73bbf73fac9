//! The two-tenant sweep: with data in a hospital (甲) and a nursing home (乙), every demo
//! account of any institution tries every operation of the OpenAPI document (the registry
//! of JSON routes) with the other institution's ids: read, list, search, update, delete,
//! merge, unmask. Any 2xx that carries the other institution's data fails the test, and so
//! does any change to the other institution's rows.
//!
//! A new module joins the sweep by registering its routes: an operation with an `{id}` needs
//! a query for a victim's id in [`victim_ids`], a write needs a body in [`body_for`]. The
//! test fails for an operation it does not know, so nothing new is left unswept.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use yiyang_store::args;

const TAG_H: &str = "甲院越权样本";
const TAG_N: &str = "乙院越权样本";

/// Operations that carry no institution's data or are anonymous by design.
const NOT_TENANT_DATA: &[&str] = &[
    "POST /api/v1/auth/login",
    "POST /oauth/token",
    "GET /api/v1/me",
    "GET /api/v1/inbox",
    "GET /api/v1/masking/algorithms",
    "GET /api/v1/masking/rules",
    // Creating a draft institution names no existing one.
    "POST /api/v1/orgs",
    // Devices authenticate with their own credentials, not accounts (a device of one
    // institution speaking for another's is tested in tests/iot.rs).
    "POST /device-api/v1/{kind}",
    "POST /device-api/v1/mqtt/auth",
];

/// One institution's sample data, made through the API by the platform administrator.
#[derive(Debug, Clone, Default)]
struct Tenant {
    code: &'static str,
    tag: &'static str,
    org: i64,
    person: i64,
    person2: i64,
    staff: i64,
    encounter: i64,
    channel: i64,
    subscription: i64,
    delivery: i64,
    message: i64,
    alert: i64,
    review: i64,
    route: i64,
    device: i64,
    alarm: i64,
}

async fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "{}", r.1);
    r.1
}

async fn make_tenant(app: &TestApp, code: &'static str, tag: &'static str, n: u32) -> Tenant {
    let (admin, csrf) = app.login("admin").await;
    let org = app.org_id(code).await;
    let person = |name: String, birth: &str, phone: String, sex: &str| {
        json!({"org_id": org, "name": name, "sex": sex, "birth_date": birth,
               "phone": phone, "address_detail": format!("{tag}住址")})
    };
    let p1 = ok(post(
        &admin,
        &csrf,
        app.url("/api/v1/persons"),
        person(
            format!("{tag}甲"),
            &format!("1948-03-0{n}"),
            format!("1390000{n}{n}{n}{n}"),
            "F",
        ),
    )
    .await)
    .await;
    let p2 = ok(post(
        &admin,
        &csrf,
        app.url("/api/v1/persons"),
        person(
            format!("{tag}乙"),
            &format!("1961-11-1{n}"),
            format!("1370000{n}{n}{n}{n}"),
            "M",
        ),
    )
    .await)
    .await;
    assert_eq!(p2["outcome"], "created", "{p2}");
    let pid = p1["person_id"].as_i64().unwrap();
    let pid2 = p2["person_id"].as_i64().unwrap();
    ok(post(
        &admin,
        &csrf,
        app.url(&format!("/api/v1/persons/{pid}/observations")),
        json!({"org_id": org, "code": "8867-4", "value": 76}),
    )
    .await)
    .await;
    let enc = ok(post(
        &admin,
        &csrf,
        app.url(&format!("/api/v1/persons/{pid}/encounters")),
        json!({"org_id": org, "kind": "inpatient", "dept": "内科", "location": "3病区 1床"}),
    )
    .await)
    .await;
    let staff = ok(post(&admin, &csrf, app.url("/api/v1/staff"), json!({
        "org_id": org, "name": format!("{tag}员工"), "sex": "F", "id_number": if n == 1 { "44140219900315002X" } else { "441402198807120040" },
        "profession": "social_worker", "phone": "13800000000"})).await).await;
    let port = free_port();
    let ch = ok(send(&admin, &csrf, reqwest::Method::POST, app.url("/api/v1/integration/channels"),
        json!({"org_id": org, "name": format!("{tag}通道"), "port": port, "message_types": "ADT^A01,ORU^R01", "allowed_apps": "HIS,LIS", "ack_mode": "application"})).await).await;
    let sub = ok(post(&admin, &csrf, app.url("/api/v1/integration/subscriptions"),
        json!({"org_id": org, "name": format!("{tag}订阅"), "kind": "webhook", "url": "http://127.0.0.1:9/hook",
               "secret": "0123456789abcdef0123456789abcdef", "events": ["observation.reported", "critical.raised"], "max_attempts": 1})).await).await;
    // Messages through the channel: an admission, then a critical result (an alert).
    let (_stop, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(_stop);
    yiyang_integration::listener::spawn(
        app.state.clone(),
        "127.0.0.1".into(),
        std::time::Duration::from_millis(200),
        rx,
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mrn = format!("SW{n}001");
    let ack = mllp(
        port,
        format!(
            "MSH|^~\\&|HIS|{code}|YIYANG|MZ|20261126093000||ADT^A01^ADT_A01|SWA{n}|P|2.5\r\
         PID|1||{mrn}^^^H^MR||{tag}^丙||19500101|M\r\
         PV1|1|I|一病区^301^2||||||||||||||||SWV{n}"
        )
        .as_bytes(),
    )
    .await
    .expect("an ACK");
    assert!(ack.contains("|AA|"), "{ack}");
    let ack = mllp(
        port,
        format!(
            "MSH|^~\\&|LIS|{code}|YIYANG|MZ|20261126094500||ORU^R01^ORU_R01|SWO{n}|P|2.5\r\
         PID|1||{mrn}^^^H^MR||{tag}^丙||19500101|M\r\
         OBR|1|ORD{n}|LAB{n}|2823-3^Potassium^LN|||20261126093000\r\
         OBX|1|NM|2823-3^血钾^LN||6.9|mmol/L|3.5-5.5|HH|||F|||20261126094000"
        )
        .as_bytes(),
    )
    .await
    .expect("an ACK");
    assert!(ack.contains("|AA|"), "{ack}");
    let db = &app.state.db;
    let id = |sql: &'static str| async move { db.scalar(sql, args![org]).await.unwrap() };
    let message = id("SELECT MAX(m.id) FROM hl7_messages m JOIN hl7_channels c ON c.id = m.channel_id WHERE c.org_id = $1").await;
    let alert = id("SELECT MAX(id) FROM critical_alerts WHERE org_id = $1").await;
    let delivery = id("SELECT MAX(d.id) FROM integration_deliveries d JOIN integration_subscriptions s ON s.id = d.subscription_id WHERE s.org_id = $1").await;
    let route = ok(post(&admin, &csrf, app.url("/api/v1/integration/critical-routes"),
        json!({"org_id": org, "department": format!("{tag}科"), "step": 1, "delay_minutes": 5, "targets": ["role:org_admin"]})).await).await["id"].as_i64().unwrap();
    // A band bound to the first person on the tenant's ward, and an SOS from it through the
    // device API (a gateway with its own credentials): a device, a binding and an alarm.
    let device = ok(post(&admin, &csrf, app.url("/api/v1/iot/devices"),
        json!({"org_id": org, "model": "YB-Y3", "serial": format!("SWB-{n}"), "name": format!("{tag}手环")})).await).await["id"].as_i64().unwrap();
    ok(post(
        &admin,
        &csrf,
        app.url(&format!("/api/v1/iot/devices/{device}/bindings")),
        json!({"person_id": pid, "ward": format!("{tag}病区"), "bed": "01床"}),
    )
    .await)
    .await;
    let gw = ok(post(
        &admin,
        &csrf,
        app.url("/api/v1/iot/devices"),
        json!({"org_id": org, "model": "GW-B10", "serial": format!("SWG-{n}")}),
    )
    .await)
    .await["id"]
        .as_i64()
        .unwrap();
    let secret = ok(post(
        &admin,
        &csrf,
        app.url(&format!("/api/v1/iot/devices/{gw}/secret")),
        json!({}),
    )
    .await)
    .await;
    let r = app
        .client()
        .post(app.url("/device-api/v1/event"))
        .header("x-device-serial", format!("SWG-{n}"))
        .bearer_auth(secret["secret"].as_str().unwrap())
        .json(
            &json!({"ts": test_now().timestamp_millis(), "events": [{"dev": format!("SWB-{n}"), "type": "sos"}]}),
        )
        .send()
        .await
        .unwrap();
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["other"], 1, "the SOS is stored: {out}");
    let alarm = id("SELECT MAX(id) FROM iot_alarms WHERE org_id = $1 AND kind = 'sos'").await;
    let review = db
        .scalar(
            "INSERT INTO mpi_reviews (person_id, candidate_id, probability, weight, explanation, status, created_at) VALUES ($1, $2, 0.5, 1.0, '{}', 'pending', 0) RETURNING id",
            args![pid2, pid],
        )
        .await
        .unwrap();
    Tenant {
        code,
        tag,
        org,
        person: pid,
        person2: pid2,
        staff: staff["id"].as_i64().unwrap(),
        encounter: enc["id"].as_i64().unwrap(),
        channel: ch["id"].as_i64().unwrap(),
        subscription: sub["id"].as_i64().unwrap(),
        delivery,
        message,
        alert,
        review,
        route,
        device,
        alarm,
    }
}

/// The victim's id for the `{id}` of an operation, by the resource its path names.
fn victim_ids(path: &str, v: &Tenant) -> Option<i64> {
    let rules: &[(&str, i64)] = &[
        ("/api/v1/persons/{id}", v.person),
        ("/api/v1/encounters/{id}", v.encounter),
        ("/api/v1/staff/{id}", v.staff),
        ("/api/v1/orgs/{id}", v.org),
        ("/api/v1/integration/channels/{id}", v.channel),
        ("/api/v1/integration/subscriptions/{id}", v.subscription),
        ("/api/v1/integration/deliveries/{id}", v.delivery),
        ("/api/v1/integration/messages/{id}", v.message),
        ("/api/v1/integration/alerts/{id}", v.alert),
        ("/api/v1/mpi/reviews/{id}", v.review),
        ("/api/v1/integration/critical-routes/{id}", v.route),
        ("/api/v1/iot/devices/{id}", v.device),
        ("/api/v1/iot/alarms/{id}", v.alarm),
        ("/api/v1/iot/persons/{id}", v.person),
    ];
    rules
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map(|(_, id)| *id)
}

/// Bodies for writes: each tries to act on the victim's data (`a` is the attacker's own).
fn body_for(op: &str, v: &Tenant, a: &Tenant) -> Option<Vec<Value>> {
    let org = v.org;
    Some(match op {
        "POST /api/v1/persons" => vec![json!({"org_id": org, "name": "越权登记", "sex": "M"})],
        "POST /api/v1/persons/{id}/merge" => {
            vec![json!({"merged_id": a.person, "reason": "越权合并"})]
        }
        "POST /api/v1/persons/{id}/unmerge" => vec![json!({"reason": "越权拆分"})],
        "POST /api/v1/persons/{id}/contacts" => vec![
            json!({"name": "越权联系人", "relation": "子女", "phone": "13800000001", "can_view": true, "account_login": "family"}),
        ],
        "POST /api/v1/persons/{id}/encounters" => vec![
            json!({"org_id": org, "kind": "outpatient"}),
            json!({"org_id": a.org, "kind": "outpatient"}),
        ],
        "POST /api/v1/persons/{id}/conditions" => vec![
            json!({"org_id": org, "code": "I10", "display": "原发性高血压"}),
            json!({"org_id": a.org, "code": "I10", "display": "原发性高血压"}),
        ],
        "POST /api/v1/persons/{id}/observations" => vec![
            json!({"org_id": org, "code": "8867-4", "value": 80}),
            json!({"org_id": a.org, "code": "8867-4", "value": 80}),
        ],
        "POST /api/v1/persons/{id}/allergies" => vec![
            json!({"org_id": org, "substance": "青霉素"}),
            json!({"org_id": a.org, "substance": "青霉素"}),
        ],
        "POST /api/v1/persons/{id}/medications" => vec![
            json!({"org_id": org, "name": "氨氯地平片", "dose": "5mg", "frequency": "qd"}),
            json!({"org_id": a.org, "name": "氨氯地平片", "dose": "5mg", "frequency": "qd"}),
        ],
        "POST /api/v1/encounters/{id}/{action}" => vec![json!({"to_location": "越权床位"})],
        "POST /api/v1/mpi/reviews/{id}" => vec![
            json!({"decision": "merge"}),
            json!({"decision": "distinct"}),
        ],
        "PUT /api/v1/orgs/{id}" => {
            vec![json!({"code": v.code, "name": "越权改名", "kind": "hospital"})]
        }
        "POST /api/v1/orgs/{id}/departments" => {
            vec![json!({"code": "HACK", "name": "越权科室", "kind": "clinical"})]
        }
        "POST /api/v1/orgs/{id}/review" | "POST /api/v1/staff/{id}/review" => {
            vec![
                json!({"approve": true}),
                json!({"approve": false, "note": "越权驳回"}),
            ]
        }
        "POST /api/v1/orgs/{id}/submit"
        | "POST /api/v1/staff/{id}/submit"
        | "POST /api/v1/staff/{id}/restore" => vec![json!({})],
        "POST /api/v1/staff" => vec![
            json!({"org_id": org, "name": "越权员工", "sex": "M", "id_number": "441402198001010010", "profession": "social_worker"}),
        ],
        "DELETE /api/v1/staff/{id}" | "DELETE /api/v1/integration/channels/{id}" => vec![json!({})],
        "POST /api/v1/accounts" => vec![
            json!({"login": "hack.user", "display_name": "越权账号", "org_id": org, "password": "Hack#Passw0rd2026", "role": "org_admin"}),
        ],
        "POST /api/v1/integration/channels" => vec![
            json!({"org_id": org, "name": "越权通道", "port": 1, "message_types": "ADT^A01", "allowed_apps": "HIS"}),
        ],
        "PUT /api/v1/integration/channels/{id}" => vec![
            json!({"org_id": org, "name": "越权改名", "port": 1, "message_types": "ADT^A01", "allowed_apps": "HIS"}),
        ],
        "POST /api/v1/integration/subscriptions" => vec![
            json!({"org_id": org, "name": "越权订阅", "kind": "webhook", "url": "http://127.0.0.1:9/x", "secret": "0123456789abcdef0123456789abcdef", "events": ["order.updated"]}),
        ],
        "PUT /api/v1/integration/subscriptions/{id}" => vec![
            json!({"org_id": org, "name": "越权改名", "kind": "webhook", "url": "http://127.0.0.1:9/x", "events": ["order.updated"]}),
        ],
        "POST /api/v1/integration/subscriptions/{id}/retry-dead"
        | "POST /api/v1/integration/subscriptions/{id}/test"
        | "POST /api/v1/integration/deliveries/{id}/retry" => vec![json!({})],
        "POST /api/v1/integration/messages/{id}/replay" => vec![json!({})],
        "POST /api/v1/integration/alerts/{id}/ack" => vec![json!({"note": "越权确认"})],
        "POST /api/v1/integration/critical-routes" => {
            vec![json!({"org_id": org, "step": 0, "targets": ["role:org_admin"]})]
        }
        "DELETE /api/v1/integration/critical-routes/{id}" => vec![json!({})],
        "POST /api/v1/iot/models" => {
            vec![json!({"code": "HACK-M", "name": "越权型号", "kind": "band"})]
        }
        "POST /api/v1/iot/devices" => {
            vec![json!({"org_id": org, "model": "YB-Y3", "serial": "HACK-1"})]
        }
        "PUT /api/v1/iot/devices/{id}" => {
            vec![json!({"org_id": org, "model": "YB-Y3", "serial": "HACKED", "name": "越权改名"})]
        }
        "POST /api/v1/iot/devices/{id}/bindings" => vec![
            json!({"person_id": a.person, "ward": "越权病区", "bed": "9"}),
            json!({"person_id": v.person2, "ward": "越权病区", "bed": "9"}),
        ],
        "POST /api/v1/iot/devices/{id}/unbind" | "POST /api/v1/iot/devices/{id}/secret" => {
            vec![json!({})]
        }
        "POST /api/v1/iot/alarms/{id}/{action}" => vec![json!({"note": "越权处理"})],
        // Sent as a multipart upload naming the victim's institution (see `import_attempt`).
        "POST /api/v1/import/{kind}" => vec![json!({"multipart": true})],
        _ => return None,
    })
}

/// Extra query strings for reads: filters naming the victim, unmasking.
fn queries_for(op: &str, v: &Tenant) -> Vec<String> {
    let mut q = vec![String::new()];
    if op.starts_with("GET ") && !op.contains("{id}") {
        q.push(format!("?org_id={}", v.org));
        q.push(format!("?q={}", v.tag));
        q.push(format!("?org_id={}&q={}&size=200", v.org, v.tag));
    }
    if op == "GET /api/v1/persons/{id}" || op == "GET /api/v1/staff/{id}" {
        q.push("?unmask=true&purpose=越权查看明文".into());
    }
    q
}

/// A staff file whose one row belongs to the victim's institution.
fn import_attempt(v: &Tenant) -> reqwest::multipart::Form {
    let csv = format!(
        "机构编码,科室编码,姓名,性别,身份证号,手机号,职业类别,职称,资格证书编号,执业证书编号,执业证书有效期\n{},,越权导入,男,11010519491231002X,,社工,,,,\n",
        v.code
    );
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("staff.csv"),
    )
}

/// Everything of the victim that a change would touch, as text.
async fn snapshot(app: &TestApp, v: &Tenant) -> Vec<String> {
    let db = &app.state.db;
    let queries = [
        "SELECT 'p' || CAST(id AS TEXT) || status || COALESCE(CAST(merged_into AS TEXT), '-') || name || address_detail FROM persons ORDER BY id",
        "SELECT 'po' || CAST(person_id AS TEXT) || ':' || CAST(org_id AS TEXT) FROM person_orgs ORDER BY person_id, org_id",
        "SELECT 'pc' || CAST(id AS TEXT) || name || CAST(person_id AS TEXT) FROM person_contacts ORDER BY id",
        "SELECT 'e' || CAST(id AS TEXT) || status || location FROM encounters ORDER BY id",
        "SELECT 'o' || CAST(COUNT(*) AS TEXT) FROM observations",
        "SELECT 'c' || CAST(COUNT(*) AS TEXT) FROM conditions",
        "SELECT 'a' || CAST(COUNT(*) AS TEXT) FROM allergies",
        "SELECT 'm' || CAST(COUNT(*) AS TEXT) FROM medications",
        "SELECT 's' || CAST(id AS TEXT) || name || status || COALESCE(CAST(deleted_at AS TEXT), '-') FROM staff ORDER BY id",
        "SELECT 'org' || CAST(id AS TEXT) || name || status FROM orgs ORDER BY id",
        "SELECT 'd' || CAST(id AS TEXT) || name FROM departments ORDER BY id",
        "SELECT 'acc' || login FROM accounts ORDER BY id",
        "SELECT 'ch' || CAST(id AS TEXT) || name || CAST(port AS TEXT) FROM hl7_channels ORDER BY id",
        "SELECT 'sub' || CAST(id AS TEXT) || name FROM integration_subscriptions ORDER BY id",
        "SELECT 'del' || CAST(id AS TEXT) || status || CAST(attempts AS TEXT) FROM integration_deliveries ORDER BY id",
        "SELECT 'msg' || CAST(id AS TEXT) || status FROM hl7_messages ORDER BY id",
        "SELECT 'al' || CAST(id AS TEXT) || status || COALESCE(acknowledged_by, '-') FROM critical_alerts ORDER BY id",
        "SELECT 'rv' || CAST(id AS TEXT) || status FROM mpi_reviews ORDER BY id",
        "SELECT 'cr' || CAST(id AS TEXT) || targets FROM critical_routes ORDER BY id",
        "SELECT 'dev' || CAST(id AS TEXT) || serial || name || status || COALESCE(secret_hash, '-') FROM iot_devices ORDER BY id",
        "SELECT 'bind' || CAST(id AS TEXT) || COALESCE(CAST(unbound_at AS TEXT), '-') FROM iot_bindings ORDER BY id",
        "SELECT 'iotal' || CAST(id AS TEXT) || status FROM iot_alarms ORDER BY id",
        "SELECT 'mod' || code FROM iot_models ORDER BY id",
    ];
    let mut out = vec![format!("victim {}", v.code)];
    for q in queries {
        let rows: Vec<(String,)> = db
            .fetch_all(q, vec![])
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        out.extend(rows.into_iter().map(|r| r.0));
    }
    out
}

fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                ops.push((m.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_account_reads_or_changes_another_institutions_data_through_any_route() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let h = make_tenant(&app, "MZ-HOSP-01", TAG_H, 1).await;
        let n = make_tenant(&app, "MZ-NH-01", TAG_N, 2).await;
        let (anon, _) = (app.client(), ());
        let doc: Value = get_json(&anon, app.url("/api/openapi.json")).await;
        let ops = operations(&doc);
        assert!(ops.len() > 50, "the OpenAPI document lists the JSON routes");

        // Every operation is known to the sweep: a new module must register its routes.
        let mut unknown = Vec::new();
        for (m, p) in &ops {
            let op = format!("{m} {p}");
            if NOT_TENANT_DATA.contains(&op.as_str()) {
                continue;
            }
            if p.contains("{id}") && victim_ids(p, &h).is_none() {
                unknown.push(format!("{op}: no victim id query"));
            }
            if m != "GET" && body_for(&op, &h, &n).is_none() {
                unknown.push(format!("{op}: no sweep body"));
            }
        }
        assert!(
            unknown.is_empty(),
            "register these routes in the sweep:\n{}",
            unknown.join("\n")
        );

        let mut failures: Vec<String> = Vec::new();
        let mut tried: BTreeMap<String, usize> = BTreeMap::new();
        let attackers: Vec<(&str, &str)> = yiyang::seed::DEMO_ACCOUNTS
            .iter()
            .filter(|a| !a.3.is_empty())
            .map(|a| (a.0, a.3))
            .collect();
        for (login, own_code) in attackers {
            let (c, csrf) = app.login(login).await;
            for (victim, own) in [(&h, &n), (&n, &h)] {
                if victim.code == own_code {
                    continue;
                }
                // `own` is the other sample: the attacker's own institution's, or, for
                // accounts of a third institution, simply the other one.
                let before = snapshot(&app, victim).await;
                for (m, p) in &ops {
                    let op = format!("{m} {p}");
                    if NOT_TENANT_DATA.contains(&op.as_str()) {
                        continue;
                    }
                    let mut path = p.clone();
                    if let Some(id) = victim_ids(p, victim) {
                        path = path.replacen("{id}", &id.to_string(), 1);
                    }
                    let action = if p.starts_with("/api/v1/iot/alarms/") {
                        "resolve"
                    } else {
                        "transfer"
                    };
                    path = path
                        .replace("{action}", action)
                        .replace("{kind}", "staff")
                        .replace("{org}", &victim.org.to_string())
                        .replace("{ward}", &format!("{}病区", victim.tag));
                    let bodies = if m == "GET" {
                        vec![Value::Null]
                    } else {
                        body_for(&op, victim, own).unwrap()
                    };
                    for q in queries_for(&op, victim) {
                        for body in &bodies {
                            *tried.entry(op.clone()).or_default() += 1;
                            let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
                            let mut req = c
                                .request(method, app.url(&format!("{path}{q}")))
                                .header("x-csrf-token", &csrf);
                            if body.get("multipart").is_some() {
                                req = req.multipart(import_attempt(victim));
                            } else if !body.is_null() {
                                req = req.json(body);
                            }
                            let r = req.send().await.unwrap();
                            let status = r.status().as_u16();
                            let text = r.text().await.unwrap_or_default();
                            // A write must be refused; an import may answer with its row report
                            // as long as it imported nothing.
                            let refused_import = body.get("multipart").is_some()
                                && serde_json::from_str::<Value>(&text)
                                    .is_ok_and(|v| v["imported"] == 0);
                            let leaked = (200..300).contains(&status)
                                && (text.contains(victim.tag) || (m != "GET" && !refused_import));
                            if leaked {
                                failures.push(format!(
                                    "{b} {login} {m} {path}{q} {body} → {status}: {}",
                                    text.chars().take(300).collect::<String>()
                                ));
                            }
                        }
                    }
                    // Reverse merge: the attacker's own person absorbs the victim's.
                    if op == "POST /api/v1/persons/{id}/merge" {
                        let (s, out) = post(
                            &c,
                            &csrf,
                            app.url(&format!("/api/v1/persons/{}/merge", own.person)),
                            json!({"merged_id": victim.person, "reason": "越权合并"}),
                        )
                        .await;
                        if (200..300).contains(&s) {
                            failures.push(format!(
                                "{b} {login} merged {}'s person into {}: {out}",
                                victim.code, own.code
                            ));
                        }
                    }
                }
                let after = snapshot(&app, victim).await;
                if before != after {
                    let was: BTreeSet<_> = before.iter().collect();
                    let now: BTreeSet<_> = after.iter().collect();
                    failures.push(format!(
                        "{b} {login} changed data while attacking {}: removed {:?} added {:?}",
                        victim.code,
                        was.difference(&now).collect::<Vec<_>>(),
                        now.difference(&was).collect::<Vec<_>>()
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "cross-institution access:\n{}",
            failures.join("\n")
        );
        // Every operation was tried at least once.
        for (m, p) in &ops {
            let op = format!("{m} {p}");
            assert!(
                NOT_TENANT_DATA.contains(&op.as_str()) || tried.contains_key(&op),
                "{op} never tried"
            );
        }
        // The sweep can fail: the platform administrator (city-wide) does read the samples.
        let (admin, _) = app.login("admin").await;
        let text = admin
            .get(app.url(&format!("/api/v1/persons/{}", n.person)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains(TAG_N), "{text}");
        app.stop().await;
    }
}

/// The defect that started the sweep, on its own: neither side of a merge may be out of scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_needs_both_records_in_scope_each_on_its_own() {
    for b in backends() {
        let app = TestApp::start(b).await;
        let h = make_tenant(&app, "MZ-HOSP-01", TAG_H, 1).await;
        let n = make_tenant(&app, "MZ-NH-01", TAG_N, 2).await;
        for (login, own, other) in [("hospadmin", &h, &n), ("nhadmin", &n, &h)] {
            let (c, csrf) = app.login(login).await;
            let read = c
                .get(app.url(&format!("/api/v1/persons/{}", other.person)))
                .send()
                .await
                .unwrap();
            assert_eq!(
                read.status().as_u16(),
                404,
                "{login} cannot read the other's resident"
            );
            for (path_id, merged) in [(own.person, other.person), (other.person, own.person)] {
                let (s, out) = post(
                    &c,
                    &csrf,
                    app.url(&format!("/api/v1/persons/{path_id}/merge")),
                    json!({"merged_id": merged, "reason": "测试"}),
                )
                .await;
                assert_eq!(s, 404, "{b} {login} merge {merged} into {path_id}: {out}");
            }
            // Within its own institution the merge works, and unmerge restores it.
            let (s, out) = post(
                &c,
                &csrf,
                app.url(&format!("/api/v1/persons/{}/merge", own.person)),
                json!({"merged_id": own.person2, "reason": "同一人"}),
            )
            .await;
            assert_eq!(s, 200, "{b} {login}: {out}");
            let (s, out) = post(
                &c,
                &csrf,
                app.url(&format!("/api/v1/persons/{}/unmerge", own.person2)),
                json!({"reason": "误合并"}),
            )
            .await;
            assert_eq!(s, 200, "{b} {login}: {out}");
        }
        // The review pair across institutions is not offered to either administrator.
        let cross = app
            .state
            .db
            .scalar(
                "INSERT INTO mpi_reviews (person_id, candidate_id, probability, weight, explanation, status, created_at) VALUES ($1, $2, 0.5, 1.0, '{}', 'pending', 0) RETURNING id",
                args![n.person, h.person],
            )
            .await
            .unwrap();
        for login in ["hospadmin", "nhadmin"] {
            let (c, _) = app.login(login).await;
            let list = get_items(&c, app.url("/api/v1/mpi/reviews")).await;
            let ids: Vec<i64> = list.iter().map(|r| r["id"].as_i64().unwrap()).collect();
            assert!(
                !ids.contains(&cross),
                "{login} sees the cross-institution pair {cross}"
            );
            let page = c
                .get(app.url(&format!("/mpi/reviews/{cross}")))
                .send()
                .await
                .unwrap();
            assert_eq!(page.status().as_u16(), 404);
        }
        let (admin, _) = app.login("admin").await;
        let list = get_items(&admin, app.url("/api/v1/mpi/reviews")).await;
        assert!(list.iter().any(|r| r["id"].as_i64() == Some(cross)));
        app.stop().await;
    }
}
