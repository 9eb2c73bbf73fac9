//! Processing: ADT into the patient index and encounters, ORU into observations with
//! critical-value alerts. Runs with a context scoped to the channel's institution.

use crate::channels::Channel;
use crate::outbound;
use yiyang_core::{AppError, AppResult, RequestContext};
use yiyang_hl7v2::{
    Adt, AdtEvent, Message, Obx, ObxValue, OrderGroup, Orders, Oru, Pid, Pl, Pv1, Siu, Timestamp,
};
use yiyang_patients::record::{self, EncounterInput, ObservationInput};
use yiyang_patients::service::{self, IdentifierInput, PersonInput};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Tx, args};

/// Source recorded on encounters and observations created from HL7.
pub const SOURCE: &str = "hl7";

fn bad(code: &'static str, msg: impl Into<String>) -> AppError {
    AppError::validation(code, msg)
}

/// PID-3 identifier types that carry the resident ID number rather than a local number.
fn is_id_number_type(t: &str) -> bool {
    matches!(
        t.to_uppercase().as_str(),
        "ID" | "SFZ" | "NI" | "NNCHN" | "CN" | "PPN_CN"
    )
}

/// Maps a PID-3 identifier type onto the patient index's source identifier types.
fn map_id_type(t: &str) -> &'static str {
    match t.to_uppercase().as_str() {
        "" | "MR" | "MRN" => "MRN",
        "PI" | "PT" | "MZ" | "OP" => "MZ",
        "ZY" | "IP" | "AN" => "ZY",
        "JKDA" => "JKDA",
        "INS" | "HC" | "YB" => "INS",
        _ => "OTHER",
    }
}

fn date_of(t: &Timestamp) -> String {
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

fn local_time(t: &Timestamp) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

/// The registration a PID describes, for the channel's institution.
pub fn person_from_pid(pid: &Pid<'_, '_>, org_id: i64) -> AppResult<PersonInput> {
    let n = pid.name();
    let (fam, given) = (n.family.trim(), n.given.trim());
    let name = if fam.is_ascii() && given.is_ascii() && !fam.is_empty() && !given.is_empty() {
        format!("{given} {fam}")
    } else {
        format!("{fam}{given}")
    };
    if name.trim().is_empty() {
        return Err(bad("hl7.name_missing", "PID-5 缺少患者姓名"));
    }
    let birth_date = match pid.birth_date() {
        Ok(Some(t)) => date_of(&t),
        Ok(None) => String::new(),
        Err(_) => {
            return Err(bad(
                "hl7.birth_invalid",
                format!("PID-7 出生日期格式不正确：{}", pid.segment().text(7)),
            ));
        }
    };
    let sex = match pid.sex().trim() {
        "M" => "M",
        "F" => "F",
        _ => "",
    };
    let mut id_number = String::new();
    let mut identifiers = Vec::new();
    for cx in pid.identifiers() {
        let v = cx.id.trim();
        if v.is_empty() {
            continue;
        }
        if is_id_number_type(&cx.identifier_type) {
            id_number = v.to_string();
        } else {
            identifiers.push(IdentifierInput {
                id_type: map_id_type(&cx.identifier_type).into(),
                value: v.to_string(),
            });
        }
    }
    if id_number.is_empty() {
        // PID-19 carries the resident ID number in Chinese feeds, a foreign social security
        // number elsewhere: only the shape of a 身份证号 (15 or 18 characters) is taken.
        let ssn = pid.ssn().trim().to_string();
        let shaped = matches!(ssn.len(), 15 | 18)
            && ssn
                .char_indices()
                .all(|(i, c)| c.is_ascii_digit() || (i == ssn.len() - 1 && matches!(c, 'X' | 'x')));
        if shaped {
            id_number = ssn;
        }
    }
    if identifiers.is_empty() {
        return Err(bad(
            "hl7.identifier_missing",
            "PID-3 缺少院内患者标识（如病案号）",
        ));
    }
    let phone = pid
        .home_phones()
        .map(|t| {
            if t.number.trim().is_empty() {
                format!("{}{}", t.area_code, t.local_number)
            } else {
                t.number.to_string()
            }
        })
        .find(|p| !p.trim().is_empty())
        .unwrap_or_default();
    let address_detail = pid
        .addresses()
        .next()
        .map(|a| format!("{}{}{}{}", a.state, a.city, a.street, a.other))
        .unwrap_or_default();
    Ok(PersonInput {
        org_id,
        name,
        sex: sex.into(),
        birth_date,
        id_number,
        phone,
        address_detail,
        identifiers,
        ..Default::default()
    })
}

async fn register(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    pid: &Pid<'_, '_>,
    org: i64,
) -> AppResult<i64> {
    Ok(register_v(st, tx, ctx, pid, org).await?.0)
}

/// [`register`], also returning the validated registration.
async fn register_v(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    pid: &Pid<'_, '_>,
    org: i64,
) -> AppResult<(i64, service::ValidPerson)> {
    let input = person_from_pid(pid, org)?;
    let v = input.validate(yiyang_core::clock::today_cst(ctx.clock.as_ref()))?;
    let id = service::register_in(st, tx, ctx, &v).await?.person_id;
    Ok((id, v))
}

/// Finds a person by the source identifiers of a PID-3 / MRG-1 list.
async fn find_person(
    tx: &mut Tx,
    org: i64,
    ids: impl Iterator<Item = (String, String)>,
) -> AppResult<Option<i64>> {
    for (t, v) in ids {
        if let Some(p) = service::person_by_identifier(&mut *tx, org, &t, &v).await? {
            return Ok(Some(service::survivor(&mut *tx, p).await?));
        }
    }
    Ok(None)
}

fn location(pv1: &Pv1<'_, '_>) -> String {
    place(&pv1.assigned_location())
}

fn place(l: &Pl<'_>) -> String {
    [&l.point_of_care, &l.room, &l.bed]
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

async fn encounter_by_visit(
    tx: &mut Tx,
    org: i64,
    visit: &str,
    open_only: bool,
) -> AppResult<Option<i64>> {
    record::encounter_by_source(&mut *tx, org, SOURCE, visit, open_only).await
}

fn obx_values<'a>(obx: &Obx<'_, 'a>) -> AppResult<Vec<ObxValue<'a>>> {
    obx.values().map_err(|e| {
        bad(
            "hl7.obx_value",
            format!("OBX-5 结果值不正确（OBX {}）：{e}", obx.set_id()),
        )
    })
}

fn placer_of(g: &OrderGroup<'_, '_>) -> AppResult<String> {
    let placer = g.placer_order_number().id.trim().to_string();
    if placer.is_empty() {
        return Err(bad("hl7.placer_missing", "缺少申请单号（ORC-2/OBR-2）"));
    }
    Ok(placer)
}

/// SCH-2 (filler) or SCH-1 (placer) appointment id.
fn appointment_no(s: &Siu<'_, '_>) -> AppResult<String> {
    let sch = s.sch();
    let f = sch.filler_appointment_id().id.trim().to_string();
    let no = if f.is_empty() {
        sch.placer_appointment_id().id.trim().to_string()
    } else {
        f
    };
    if no.is_empty() {
        return Err(bad("hl7.appt_missing", "缺少预约号（SCH-1/SCH-2）"));
    }
    Ok(no)
}

/// The patient's name as sent (PID-5), for event payloads.
fn name_of(pid: &Pid<'_, '_>) -> String {
    let n = pid.name();
    format!("{}{}", n.family.trim(), n.given.trim())
}

/// The first source identifier of PID-3, for event payloads.
fn first_id(pid: &Pid<'_, '_>) -> String {
    pid.identifiers()
        .find(|c| !is_id_number_type(&c.identifier_type))
        .map(|c| c.id.trim().to_string())
        .unwrap_or_default()
}

/// The visit number (PV1-19) of a message, trimmed; empty when absent.
fn visit_of(pv1: Option<Pv1<'_, '_>>) -> String {
    pv1.map(|p| p.visit_number().id.trim().to_string())
        .unwrap_or_default()
}

/// A registration from a PID, validated as the patient index will validate it.
fn checked_person(pid: &Pid<'_, '_>, org: i64, today: chrono::NaiveDate) -> AppResult<()> {
    person_from_pid(pid, org)?.validate(today).map(|_| ())
}

/// Checks what can be checked without the database, so that a message that cannot be
/// processed as it stands is answered AE at once and waits in the error queue. Processing
/// repeats these checks; what it adds depends on stored data (a visit that must exist, a
/// person to merge).
pub fn precheck(msg: &Message<'_>, today: chrono::NaiveDate) -> AppResult<()> {
    match msg.msh().field(9).component(1).value().as_ref() {
        "ADT" => {
            let adt = Adt::new(msg).map_err(|e| bad("hl7.adt", format!("ADT 消息不正确：{e}")))?;
            match adt.event() {
                AdtEvent::Merge => {
                    for (pid, mrg) in adt.merges() {
                        if mrg.is_none() {
                            return Err(bad("hl7.mrg_missing", "A40 消息缺少 MRG 段"));
                        }
                        person_from_pid(&pid, 0)?;
                    }
                }
                AdtEvent::Admit | AdtEvent::Register | AdtEvent::Update => {
                    checked_person(&adt.pid(), 0, today)?;
                }
                AdtEvent::Transfer | AdtEvent::Discharge => {
                    checked_person(&adt.pid(), 0, today)?;
                    if visit_of(adt.pv1()).is_empty() {
                        return Err(bad("hl7.visit_missing", "缺少就诊号（PV1-19）"));
                    }
                }
                _ => {}
            }
        }
        "ORU" => {
            let oru = Oru::new(msg).map_err(|e| bad("hl7.oru", format!("ORU 消息不正确：{e}")))?;
            let pid = oru
                .pid()
                .ok_or_else(|| bad("hl7.pid_missing", "ORU 消息缺少 PID 段"))?;
            checked_person(&pid, 0, today)?;
            for g in oru.groups() {
                for obx in &g.observations {
                    obx_values(obx)?;
                }
            }
        }
        "ORM" | "OML" => {
            let o = Orders::new(msg)
                .map_err(|e| bad("hl7.orders", format!("医嘱/申请消息不正确：{e}")))?;
            let pid = o
                .pid()
                .ok_or_else(|| bad("hl7.pid_missing", "申请消息缺少 PID 段"))?;
            checked_person(&pid, 0, today)?;
            let groups = o.orders();
            if groups.is_empty() {
                return Err(bad("hl7.orc_missing", "申请消息缺少 ORC 段"));
            }
            for g in &groups {
                placer_of(g)?;
            }
        }
        "SIU" => {
            let s = Siu::new(msg).map_err(|e| bad("hl7.siu", format!("预约消息不正确：{e}")))?;
            appointment_no(&s)?;
            let pid = s
                .pid()
                .ok_or_else(|| bad("hl7.pid_missing", "预约消息缺少 PID 段"))?;
            checked_person(&pid, 0, today)?;
        }
        _ => {}
    }
    Ok(())
}

/// Processes one stored message; returns a note for the message history.
pub async fn process(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    ch: &Channel,
    msg: &Message<'_>,
    message_id: i64,
    publish: bool,
) -> AppResult<String> {
    let em = Emit {
        org: ch.org_id,
        message_id,
        hl7: msg.as_str(),
        on: publish,
    };
    let code = msg.msh().field(9).component(1).value().to_string();
    match code.as_str() {
        "ADT" => adt(st, tx, ctx, ch, msg, &em).await,
        "ORU" => oru(st, tx, ctx, ch, msg, &em).await,
        "ORM" | "OML" => orders(st, tx, ctx, ch, msg, &em).await,
        "SIU" => appointment(st, tx, ctx, ch, msg, &em).await,
        other => Ok(format!("已存储，{other} 消息暂不做业务处理")),
    }
}

/// Publishes the events of one message to the outbound subscriptions, inside the
/// processing transaction: an event exists exactly when its change committed.
struct Emit<'x> {
    org: i64,
    message_id: i64,
    hl7: &'x str,
    /// Whether the institution has any enabled subscription (looked up once per batch).
    on: bool,
}

impl Emit<'_> {
    async fn send(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext,
        kind: &str,
        json: serde_json::Value,
    ) -> AppResult<()> {
        if !self.on {
            return Ok(());
        }
        outbound::publish_in(
            tx,
            ctx.clock.now_micros(),
            &outbound::Event {
                org_id: self.org,
                kind,
                message_id: Some(self.message_id),
                hl7: Some(self.hl7),
                json,
            },
        )
        .await
        .map(|_| ())
    }
}

async fn adt(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    ch: &Channel,
    msg: &Message<'_>,
    em: &Emit<'_>,
) -> AppResult<String> {
    let adt = Adt::new(msg).map_err(|e| bad("hl7.adt", format!("ADT 消息不正确：{e}")))?;
    let org = ch.org_id;
    let event = adt.event();
    if event == AdtEvent::Merge {
        return merge(tx, ctx, &adt, org, em).await;
    }
    let visit = adt
        .pv1()
        .map(|p| p.visit_number().id.trim().to_string())
        .unwrap_or_default();
    match event {
        AdtEvent::Admit | AdtEvent::Register | AdtEvent::Update => {
            let (person, v) = register_v(st, tx, ctx, &adt.pid(), org).await?;
            // A08: the sender's current demographics (the home institution's win).
            let updated = if event == AdtEvent::Update {
                Some(service::update_in(st, tx, ctx, person, &v).await?)
            } else {
                None
            };
            em.send(
                tx,
                ctx,
                outbound::PATIENT_REGISTERED,
                serde_json::json!({"person_id": person, "name": name_of(&adt.pid()), "mrn": first_id(&adt.pid())}),
            )
            .await?;
            let wants_encounter =
                event == AdtEvent::Admit || (event == AdtEvent::Register && !visit.is_empty());
            let Some(pv1) = adt.pv1().filter(|_| wants_encounter) else {
                return Ok(match updated {
                    Some(u) if !u.changed.is_empty() => {
                        format!("患者 {person} 信息已更新：{}", u.changed.join("、"))
                    }
                    Some(u) if !u.proposed.is_empty() => format!(
                        "患者 {person} 由其他机构建档，差异（{}）已记入档案历史待核对",
                        u.proposed.join("、")
                    ),
                    Some(_) => format!("患者 {person} 信息无变化"),
                    None => format!("患者 {person} 已登记"),
                });
            };
            if !visit.is_empty() && encounter_by_visit(tx, org, &visit, false).await?.is_some() {
                return Ok(format!("患者 {person} 已登记，就诊 {visit} 已存在"));
            }
            let e = encounter_of(&pv1, event, org, &visit);
            let id = record::add_encounter_in(tx, ctx, person, &e).await?;
            em.send(
                tx,
                ctx,
                outbound::ENCOUNTER_ADMITTED,
                serde_json::json!({"person_id": person, "encounter_id": id, "visit_number": visit, "kind": e.kind, "dept": e.dept, "location": e.location}),
            )
            .await?;
            Ok(format!("患者 {person} 已登记，就诊 {id} 已建立"))
        }
        AdtEvent::Transfer | AdtEvent::Discharge => {
            let person = register(st, tx, ctx, &adt.pid(), org).await?;
            if visit.is_empty() {
                return Err(bad("hl7.visit_missing", "缺少就诊号（PV1-19）"));
            }
            let Some(enc) = encounter_by_visit(tx, org, &visit, true).await? else {
                return Err(bad(
                    "hl7.encounter_not_found",
                    format!("未找到就诊号 {visit} 的在院记录（PV1-19）"),
                ));
            };
            let pv1 = adt.pv1().expect("visit number implies PV1");
            if event == AdtEvent::Transfer {
                record::move_encounter_in(tx, ctx, enc, "transfer", &location(&pv1), None).await?;
                em.send(
                    tx,
                    ctx,
                    outbound::ENCOUNTER_TRANSFERRED,
                    serde_json::json!({"person_id": person, "encounter_id": enc, "visit_number": visit, "location": location(&pv1)}),
                )
                .await?;
                Ok(format!("就诊 {enc} 已转至 {}", location(&pv1)))
            } else {
                let at = pv1
                    .discharge_datetime()
                    .ok()
                    .flatten()
                    .map(|t| local_time(&t));
                record::move_encounter_in(tx, ctx, enc, "discharge", "", at.clone()).await?;
                em.send(
                    tx,
                    ctx,
                    outbound::ENCOUNTER_DISCHARGED,
                    serde_json::json!({"person_id": person, "encounter_id": enc, "visit_number": visit, "discharged_at": at}),
                )
                .await?;
                Ok(format!("就诊 {enc} 已出院"))
            }
        }
        _ => Ok(format!(
            "已存储，ADT^{} 暂不做业务处理",
            msg.msh().field(9).component(2).value()
        )),
    }
}

/// The encounter an admission or registration opens.
fn encounter_of(pv1: &Pv1<'_, '_>, event: AdtEvent, org: i64, visit: &str) -> EncounterInput {
    let kind = match pv1.patient_class().trim() {
        "I" => "inpatient",
        "O" => "outpatient",
        "E" => "emergency",
        _ if event == AdtEvent::Admit => "inpatient",
        _ => "outpatient",
    };
    EncounterInput {
        org_id: org,
        kind: kind.into(),
        dept: pv1.hospital_service().trim().to_string(),
        location: location(pv1),
        attending: pv1
            .attending_doctor()
            .map(|d| format!("{}{}", d.family, d.given))
            .unwrap_or_default(),
        reason: String::new(),
        start: pv1.admit_datetime().ok().flatten().map(|t| local_time(&t)),
        source: SOURCE.into(),
        source_id: visit.to_string(),
    }
}

async fn merge(
    tx: &mut Tx,
    ctx: &RequestContext,
    adt: &Adt<'_, '_>,
    org: i64,
    em: &Emit<'_>,
) -> AppResult<String> {
    let mut done = Vec::new();
    for (pid, mrg) in adt.merges() {
        let Some(mrg) = mrg else {
            return Err(bad("hl7.mrg_missing", "A40 消息缺少 MRG 段"));
        };
        let ids = |list: Vec<(String, String)>| list.into_iter();
        let surv_ids: Vec<(String, String)> = pid
            .identifiers()
            .filter(|c| !is_id_number_type(&c.identifier_type))
            .map(|c| {
                (
                    map_id_type(&c.identifier_type).to_string(),
                    c.id.trim().to_string(),
                )
            })
            .collect();
        let prior_ids: Vec<(String, String)> = mrg
            .prior_identifiers()
            .filter(|c| !is_id_number_type(&c.identifier_type))
            .map(|c| {
                (
                    map_id_type(&c.identifier_type).to_string(),
                    c.id.trim().to_string(),
                )
            })
            .collect();
        let survivor = find_person(tx, org, ids(surv_ids.clone()))
            .await?
            .ok_or_else(|| {
                bad(
                    "hl7.merge_survivor",
                    format!("未找到保留的患者（PID-3：{}）", join_ids(&surv_ids)),
                )
            })?;
        // The prior record: look it up without following merges, so a repeat is recognised.
        let mut merged = None;
        for (t, v) in &prior_ids {
            if let Some(p) = service::person_by_identifier(&mut *tx, org, t, v).await? {
                merged = Some(p);
                break;
            }
        }
        let merged = merged.ok_or_else(|| {
            bad(
                "hl7.merge_prior",
                format!("未找到被合并的患者（MRG-1：{}）", join_ids(&prior_ids)),
            )
        })?;
        if service::survivor(&mut *tx, merged).await? == survivor {
            done.push(format!("{merged}→{survivor}（已合并）"));
            continue;
        }
        service::merge_in(tx, ctx, survivor, merged, "HL7 ADT^A40").await?;
        em.send(
            tx,
            ctx,
            outbound::PATIENT_MERGED,
            serde_json::json!({"survivor_id": survivor, "merged_id": merged}),
        )
        .await?;
        done.push(format!("{merged}→{survivor}"));
    }
    Ok(format!("患者合并：{}", done.join("，")))
}

fn join_ids(ids: &[(String, String)]) -> String {
    ids.iter()
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reference range `3.5-5.5`, `<5`, `>3` → (low, high).
pub fn parse_range(s: &str) -> (Option<f64>, Option<f64>) {
    let s = s.trim();
    if let Some(x) = s.strip_prefix("<=").or_else(|| s.strip_prefix('<')) {
        return (None, x.trim().parse().ok());
    }
    if let Some(x) = s.strip_prefix(">=").or_else(|| s.strip_prefix('>')) {
        return (x.trim().parse().ok(), None);
    }
    // the separator is the first '-' after the first character (a leading '-' is a sign)
    if let Some(i) = s
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '-')
        .map(|(i, _)| i)
    {
        let (a, b) = (&s[..i], &s[i + 1..]);
        return (a.trim().parse().ok(), b.trim().parse().ok());
    }
    (None, None)
}

async fn oru(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    ch: &Channel,
    msg: &Message<'_>,
    em: &Emit<'_>,
) -> AppResult<String> {
    let oru = Oru::new(msg).map_err(|e| bad("hl7.oru", format!("ORU 消息不正确：{e}")))?;
    let org = ch.org_id;
    let pid = oru
        .pid()
        .ok_or_else(|| bad("hl7.pid_missing", "ORU 消息缺少 PID 段"))?;
    let person = register(st, tx, ctx, &pid, org).await?;
    let pv1 = oru.pv1();
    let visit = pv1
        .map(|p| p.visit_number().id.trim().to_string())
        .unwrap_or_default();
    let encounter_id = if visit.is_empty() {
        None
    } else {
        encounter_by_visit(tx, org, &visit, false).await?
    };
    let department = pv1
        .map(|p| {
            let s = p.hospital_service().trim().to_string();
            if s.is_empty() {
                p.assigned_location().point_of_care.trim().to_string()
            } else {
                s
            }
        })
        .unwrap_or_default();
    let place = alert_place(tx, pv1.as_ref(), encounter_id).await?;
    let (mut n, mut critical) = (0, 0);
    let mut reported = Vec::new();
    // Each OBX is keyed by message and position, so a replay of a message that failed
    // halfway adds only what is missing (and raises only the alerts not yet raised).
    let mut position = 0;
    for g in oru.groups() {
        for obx in &g.observations {
            position += 1;
            let source = format!("{SOURCE}:{}:{position}", em.message_id);
            let values = obx_values(obx)?;
            let Some(v) = values.into_iter().next() else {
                continue;
            };
            let (value, value_text) = match &v {
                ObxValue::Numeric { value, .. } => (Some(*value), String::new()),
                ObxValue::Structured(sn) => match (sn.comparator.as_str(), sn.num1, sn.num2) {
                    ("" | "=", Some(x), None) => (Some(x), String::new()),
                    _ => (
                        None,
                        format!(
                            "{}{}{}{}",
                            sn.comparator,
                            sn.num1.map(|x| x.to_string()).unwrap_or_default(),
                            sn.separator,
                            sn.num2.map(|x| x.to_string()).unwrap_or_default()
                        ),
                    ),
                },
                ObxValue::String(s) | ObxValue::Text(s) => (None, s.to_string()),
                ObxValue::Coded(c) => (
                    None,
                    if c.text.is_empty() {
                        c.identifier.to_string()
                    } else {
                        c.text.to_string()
                    },
                ),
                ObxValue::Other { value, .. } => (None, value.to_string()),
                ObxValue::Date(t) => (None, date_of(t)),
                ObxValue::DateTime(t) => (None, local_time(t).replace('T', " ")),
            };
            let id = obx.observation_id();
            let system = match id.coding_system.trim() {
                "LN" | "LOINC" => record::LOINC.to_string(),
                "" => format!("urn:yiyang:local:{}", ch.name),
                s => format!("urn:yiyang:local:{s}"),
            };
            let (ref_low, ref_high) = parse_range(&obx.reference_range());
            let flag = obx
                .segment()
                .field(8)
                .non_empty_repetitions()
                .next()
                .map(|r| r.component(1).value().trim().to_uppercase())
                .unwrap_or_default();
            let input = ObservationInput {
                org_id: org,
                encounter_id,
                category: "laboratory".into(),
                system,
                code: id.identifier.trim().to_string(),
                display: id.text.trim().to_string(),
                value,
                value_text: value_text.clone(),
                unit: obx.units().identifier.trim().to_string(),
                ref_low,
                ref_high,
                flag: flag.clone(),
                effective: obx
                    .observation_datetime()
                    .ok()
                    .flatten()
                    .map(|t| local_time(&t)),
                source: source.clone(),
            };
            let existing = record::observation_by_source(&mut *tx, &source).await?;
            let obs = match existing {
                Some(id) => id,
                None => record::add_observation_in(tx, ctx, person, &input).await?,
            };
            n += 1;
            reported.push(obs);
            let alerted = existing.is_some()
                && tx
                    .scalar(
                        "SELECT COUNT(*) FROM critical_alerts WHERE observation_id = $1",
                        args![obs],
                    )
                    .await?
                    > 0;
            if obx.is_critical() && !alerted {
                let item = if input.display.is_empty() {
                    input.code.clone()
                } else {
                    input.display.clone()
                };
                let shown = match value {
                    Some(x) => format!("{x} {}", input.unit),
                    None => value_text,
                };
                let alert = raise_alert(
                    tx,
                    ctx,
                    org,
                    em.message_id,
                    person,
                    obs,
                    &department,
                    &item,
                    shown.trim(),
                    &flag,
                    &AlertExtra {
                        unit: input.unit.clone(),
                        ref_range: obx.reference_range().trim().to_string(),
                        place: place.clone(),
                    },
                )
                .await?;
                em.send(
                    tx,
                    ctx,
                    outbound::CRITICAL_RAISED,
                    serde_json::json!({"alert_id": alert, "person_id": person, "observation_id": obs, "department": department, "item": item, "value": shown.trim(), "flag": flag}),
                )
                .await?;
                critical += 1;
            }
        }
    }
    em.send(
        tx,
        ctx,
        outbound::OBSERVATION_REPORTED,
        serde_json::json!({"person_id": person, "encounter_id": encounter_id, "observation_ids": reported}),
    )
    .await?;
    Ok(format!(
        "患者 {person}：{n} 项结果已入档{}",
        if critical > 0 {
            format!("，{critical} 项危急值已提醒")
        } else {
            String::new()
        }
    ))
}

/// Where the patient lies and who is responsible, for a critical-value alert.
#[derive(Debug, Clone, Default)]
struct AlertPlace {
    ward: String,
    bed: String,
    attending: String,
}

struct AlertExtra {
    unit: String,
    ref_range: String,
    place: AlertPlace,
}

/// Ward and bed from PV1-3, the attending doctor from the open encounter (else PV1-7).
async fn alert_place(
    tx: &mut Tx,
    pv1: Option<&Pv1<'_, '_>>,
    encounter: Option<i64>,
) -> AppResult<AlertPlace> {
    let mut p = AlertPlace::default();
    if let Some(pv1) = pv1 {
        let l = pv1.assigned_location();
        p.ward = l.point_of_care.trim().to_string();
        p.bed = [l.room.trim(), l.bed.trim()]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("-");
        p.attending = pv1
            .attending_doctor()
            .map(|d| format!("{}{}", d.family, d.given))
            .unwrap_or_default();
    }
    if let Some(e) = encounter
        && let Some(a) = record::encounter_attending(&mut *tx, e)
            .await?
            .filter(|a| !a.is_empty())
    {
        p.attending = a;
    }
    Ok(p)
}

/// Opens a critical-value alert and routes it (`critical`): the responsible doctor and the
/// ward's nurses at once, escalation while nobody acknowledges it.
#[allow(clippy::too_many_arguments)]
async fn raise_alert(
    tx: &mut Tx,
    ctx: &RequestContext,
    org: i64,
    message_id: i64,
    person: i64,
    observation: i64,
    department: &str,
    item: &str,
    value: &str,
    flag: &str,
    extra: &AlertExtra,
) -> AppResult<i64> {
    let now = ctx.clock.now_micros();
    let id = tx
        .scalar(
            "INSERT INTO critical_alerts (message_id, org_id, person_id, observation_id, department, item, value_text, flag, status, created_at, ward, bed, unit, ref_range, attending) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13, $14) RETURNING id",
            args![message_id, org, person, observation, department, item, value, flag, now,
                &extra.place.ward, &extra.place.bed, &extra.unit, &extra.ref_range, &extra.place.attending],
        )
        .await?;
    crate::critical::route_new(tx, now, id).await?;
    audit::append(
        tx,
        &[
            AuditEntry::new(ctx, "integration.critical_alert", "person", person)
                .org(Some(org))
                .details(
                    serde_json::json!({"alert": id, "observation": observation, "flag": flag}),
                ),
        ],
    )
    .await?;
    Ok(id)
}

/// An HL7 timestamp as UTC micros (CST unless the timestamp carries an offset).
fn micros(t: &Timestamp) -> Option<i64> {
    let d = chrono::NaiveDate::from_ymd_opt(t.year as i32, t.month as u32, t.day as u32)?
        .and_hms_opt(t.hour as u32, t.minute as u32, (t.second as u32).min(59))?;
    let offset = t.offset_minutes.map(i64::from).unwrap_or(8 * 60);
    Some(
        (d - chrono::Duration::minutes(offset))
            .and_utc()
            .timestamp_micros(),
    )
}

/// ORM/OML: one 申请单 per ORC/OBR group, upserted by placer order number.
async fn orders(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    ch: &Channel,
    msg: &Message<'_>,
    em: &Emit<'_>,
) -> AppResult<String> {
    let o = Orders::new(msg).map_err(|e| bad("hl7.orders", format!("医嘱/申请消息不正确：{e}")))?;
    let pid = o
        .pid()
        .ok_or_else(|| bad("hl7.pid_missing", "申请消息缺少 PID 段"))?;
    let person = register(st, tx, ctx, &pid, ch.org_id).await?;
    let now = ctx.clock.now_micros();
    let groups = o.orders();
    if groups.is_empty() {
        return Err(bad("hl7.orc_missing", "申请消息缺少 ORC 段"));
    }
    let mut nos = Vec::new();
    for g in &groups {
        let placer = placer_of(g)?;
        let control = g.orc.order_control().trim().to_uppercase();
        let status = match (control.as_str(), g.orc.order_status().trim()) {
            ("CA" | "OC" | "DC" | "CR", _) => "cancelled",
            ("HD", _) => "on-hold",
            (_, "CM") => "completed",
            _ => "active",
        };
        let svc = g.universal_service_id();
        let provider = g
            .orc
            .ordering_providers()
            .next()
            .map(|x| format!("{}{}", x.family, x.given))
            .unwrap_or_default();
        let ordered_at = g
            .orc
            .transaction_datetime()
            .ok()
            .flatten()
            .and_then(|t| micros(&t));
        tx.execute(
            "INSERT INTO orders (message_id, org_id, person_id, placer_no, filler_no, status, service_code, service_text, service_system, priority, ordering_provider, ordered_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
             ON CONFLICT (org_id, placer_no) DO UPDATE SET message_id = excluded.message_id, person_id = excluded.person_id, filler_no = excluded.filler_no, \
             status = excluded.status, service_code = excluded.service_code, service_text = excluded.service_text, service_system = excluded.service_system, \
             priority = excluded.priority, ordering_provider = excluded.ordering_provider, ordered_at = excluded.ordered_at, updated_at = excluded.updated_at",
            args![em.message_id, ch.org_id, person, &placer, g.filler_order_number().id.trim(), status, svc.identifier.trim(), svc.text.trim(), svc.coding_system.trim(), g.priority().trim(), provider, ordered_at, now],
        )
        .await?;
        em.send(
            tx,
            ctx,
            outbound::ORDER_UPDATED,
            serde_json::json!({"person_id": person, "placer_no": placer, "status": status, "service_code": svc.identifier.trim(), "service_text": svc.text.trim()}),
        )
        .await?;
        nos.push(format!("{placer}（{status}）"));
    }
    Ok(format!("申请单：{}", nos.join("，")))
}

/// SIU: one 预约 per SCH appointment id, upserted; S15/S17 cancel it.
async fn appointment(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    ch: &Channel,
    msg: &Message<'_>,
    em: &Emit<'_>,
) -> AppResult<String> {
    let s = Siu::new(msg).map_err(|e| bad("hl7.siu", format!("预约消息不正确：{e}")))?;
    let sch = s.sch();
    let no = appointment_no(&s)?;
    let pid = s
        .pid()
        .ok_or_else(|| bad("hl7.pid_missing", "预约消息缺少 PID 段"))?;
    let person = register(st, tx, ctx, &pid, ch.org_id).await?;
    let status = match s.trigger().trim() {
        "S15" | "S16" | "S17" => "cancelled",
        "S26" => "noshow",
        _ => "booked",
    };
    let start = s.start().ok().flatten().and_then(|t| micros(&t));
    let end = s.end().ok().flatten().and_then(|t| micros(&t));
    let service = s
        .services()
        .next()
        .map(|a| {
            let c = a.universal_service_id();
            if c.text.is_empty() {
                c.identifier.to_string()
            } else {
                c.text.to_string()
            }
        })
        .unwrap_or_default();
    let location = s
        .locations()
        .next()
        .map(|l| place(&l.location()))
        .unwrap_or_default();
    let provider = s
        .personnel()
        .next()
        .map(|p| {
            let x = p.personnel();
            format!("{}{}", x.family, x.given)
        })
        .unwrap_or_default();
    let reason = sch.appointment_reason().text.trim().to_string();
    let now = ctx.clock.now_micros();
    tx.execute(
            "INSERT INTO appointments (message_id, org_id, person_id, appt_no, status, start_at, end_at, service, location, provider, reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (org_id, appt_no) DO UPDATE SET message_id = excluded.message_id, person_id = excluded.person_id, status = excluded.status, \
             start_at = COALESCE(excluded.start_at, appointments.start_at), end_at = COALESCE(excluded.end_at, appointments.end_at), \
             service = CASE WHEN excluded.service = '' THEN appointments.service ELSE excluded.service END, \
             location = CASE WHEN excluded.location = '' THEN appointments.location ELSE excluded.location END, \
             provider = CASE WHEN excluded.provider = '' THEN appointments.provider ELSE excluded.provider END, \
             reason = CASE WHEN excluded.reason = '' THEN appointments.reason ELSE excluded.reason END, updated_at = excluded.updated_at",
            args![em.message_id, ch.org_id, person, &no, status, start, end, &service, &location, &provider, reason, now],
        )
        .await?;
    em.send(
        tx,
        ctx,
        outbound::APPOINTMENT_UPDATED,
        serde_json::json!({"person_id": person, "appointment_no": no, "status": status, "start_at": start, "service": service, "location": location, "provider": provider}),
    )
    .await?;
    Ok(format!("预约 {no}：{status}"))
}

/// One message of a run of admissions and registrations processed together.
pub struct Admission<'m, 'x> {
    pub ctx: RequestContext,
    pub org: i64,
    pub msg: &'m Message<'x>,
    pub message_id: i64,
    /// Whether the institution publishes events (see [`Emit`]).
    pub publish: bool,
    pub person: service::ValidPerson,
}

/// The registration of an ADT^A01/A04 that can join a run (see [`admissions`]), or `None`
/// when the message needs processing on its own (another event, or data the patient index
/// would refuse: processing it alone records the reason).
pub fn admission_person(
    msg: &Message<'_>,
    org: i64,
    today: chrono::NaiveDate,
) -> Option<service::ValidPerson> {
    if msg.msh().field(9).component(1).value().as_ref() != "ADT" {
        return None;
    }
    let adt = Adt::new(msg).ok()?;
    if !matches!(adt.event(), AdtEvent::Admit | AdtEvent::Register) {
        return None;
    }
    person_from_pid(&adt.pid(), org).ok()?.validate(today).ok()
}

/// Processes a run of ADT^A01/A04 messages together: the same persons, encounters, events
/// and notes as processing them one after another with [`process`], with a few multi-row
/// statements for the whole run. Any error fails the whole run; the caller then rolls it
/// back and processes its messages one by one, so each failure is reported on its own.
pub async fn admissions(
    st: &AppState,
    tx: &mut Tx,
    run: &[Admission<'_, '_>],
) -> AppResult<Vec<String>> {
    use std::collections::{HashMap, HashSet};
    let regs: Vec<(&RequestContext, &service::ValidPerson)> =
        run.iter().map(|a| (&a.ctx, &a.person)).collect();
    let persons = service::register_many_in(st, tx, &regs).await?;
    let adts: Vec<Adt<'_, '_>> = run
        .iter()
        .map(|a| Adt::new(a.msg).map_err(|e| bad("hl7.adt", format!("ADT 消息不正确：{e}"))))
        .collect::<AppResult<_>>()?;
    let visits: Vec<String> = adts.iter().map(|a| visit_of(a.pv1())).collect();
    // Visits already stored, per institution, in one query each.
    let mut stored: HashSet<(i64, String)> = HashSet::new();
    let mut by_org: HashMap<i64, Vec<&str>> = HashMap::new();
    for (a, v) in run.iter().zip(&visits) {
        if !v.is_empty() {
            by_org.entry(a.org).or_default().push(v);
        }
    }
    for (org, vs) in by_org {
        let found = record::stored_encounter_sources(tx, org, SOURCE, &vs).await?;
        stored.extend(found.into_iter().map(|v| (org, v)));
    }
    // Decide each message's encounter in order (a visit opened earlier in the run exists).
    let mut notes: Vec<Option<String>> = vec![None; run.len()];
    let mut opens: Vec<(usize, EncounterInput)> = Vec::new();
    for (i, (a, adt)) in run.iter().zip(&adts).enumerate() {
        let person = persons[i].person_id;
        let event = adt.event();
        let visit = &visits[i];
        let wants = event == AdtEvent::Admit || (event == AdtEvent::Register && !visit.is_empty());
        let Some(pv1) = adt.pv1().filter(|_| wants) else {
            notes[i] = Some(format!("患者 {person} 已登记"));
            continue;
        };
        if !visit.is_empty() && !stored.insert((a.org, visit.clone())) {
            notes[i] = Some(format!("患者 {person} 已登记，就诊 {visit} 已存在"));
            continue;
        }
        opens.push((i, encounter_of(&pv1, event, a.org, visit)));
    }
    let items: Vec<(&RequestContext, i64, &EncounterInput)> = opens
        .iter()
        .map(|(i, e)| (&run[*i].ctx, persons[*i].person_id, e))
        .collect();
    let ids = record::add_encounters_in(tx, &items).await?;
    let mut opened: HashMap<usize, (i64, &EncounterInput)> = HashMap::new();
    for ((i, e), id) in opens.iter().zip(ids) {
        opened.insert(*i, (id, e));
        notes[*i] = Some(format!(
            "患者 {} 已登记，就诊 {id} 已建立",
            persons[*i].person_id
        ));
    }
    // Events, in message order.
    for (i, (a, adt)) in run.iter().zip(&adts).enumerate() {
        if !a.publish {
            continue;
        }
        let em = Emit {
            org: a.org,
            message_id: a.message_id,
            hl7: a.msg.as_str(),
            on: true,
        };
        let person = persons[i].person_id;
        em.send(
            tx,
            &a.ctx,
            outbound::PATIENT_REGISTERED,
            serde_json::json!({"person_id": person, "name": name_of(&adt.pid()), "mrn": first_id(&adt.pid())}),
        )
        .await?;
        if let Some((id, e)) = opened.get(&i) {
            em.send(
                tx,
                &a.ctx,
                outbound::ENCOUNTER_ADMITTED,
                serde_json::json!({"person_id": person, "encounter_id": id, "visit_number": visits[i], "kind": e.kind, "dept": e.dept, "location": e.location}),
            )
            .await?;
        }
    }
    Ok(notes.into_iter().map(Option::unwrap_or_default).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("3.5-5.5"), (Some(3.5), Some(5.5)));
        assert_eq!(parse_range("<5"), (None, Some(5.0)));
        assert_eq!(parse_range(">=3"), (Some(3.0), None));
        assert_eq!(parse_range("-1-1"), (Some(-1.0), Some(1.0)));
        assert_eq!(parse_range(""), (None, None));
    }

    #[test]
    fn pid_becomes_a_registration() {
        let text = "MSH|^~\\&|HIS|H|YY|MZ|20261126100000||ADT^A01|1|P|2.5\rPID|1||ZY001^^^H^MR~441402194702140035^^^^ID||张^三||19470214|M|||梅江路1号^^梅州市^广东省||13800138000";
        let m = Message::parse(text).unwrap();
        let pid = Pid::new(m.segment("PID").unwrap()).unwrap();
        let p = person_from_pid(&pid, 7).unwrap();
        assert_eq!(p.name, "张三");
        assert_eq!(p.birth_date, "1947-02-14");
        assert_eq!(p.id_number, "441402194702140035");
        assert_eq!(p.identifiers.len(), 1);
        assert_eq!(p.identifiers[0].id_type, "MRN");
        assert_eq!(p.phone, "13800138000");
        assert!(p.address_detail.contains("梅江路1号"));
    }

    #[test]
    fn pid19_counts_as_id_number_only_in_its_shape() {
        let us = "MSH|^~\\&|ADT1|GHH|LAB|GHH|198808181126||ADT^A01|1|P|2.5.1\rPID|1||PATID1234^^^GHH^MR||EVERYMAN^ADAM||19610615|M|||||||||||444333333";
        let m = Message::parse(us).unwrap();
        let p = person_from_pid(&Pid::new(m.segment("PID").unwrap()).unwrap(), 1).unwrap();
        assert_eq!(p.id_number, "");
        let cn = us.replace("444333333", "44140219470214003X");
        let m = Message::parse(&cn).unwrap();
        let p = person_from_pid(&Pid::new(m.segment("PID").unwrap()).unwrap(), 1).unwrap();
        assert_eq!(p.id_number, "44140219470214003X");
    }
}
