//! Demo HL7 traffic: the demo hospital's HIS and LIS channel with a day of fictional
//! messages — admissions, transfers, updates and discharges (ADT^A01/A02/A08/A03) and
//! results (ORU^R01) with a few critical values (危急值), one message refused with AE and a
//! reason, and one resent duplicate — so the message list, monitoring, the critical-value
//! list and the home cards show a working platform after the first start.
//!
//! Every message goes through the path an MLLP message takes ([`engine::prepare`] at the
//! door, the [`Pipeline`]'s writer, the processor, duplicates through
//! [`engine::resend`]); nothing is written to the tables directly. Every name, number and
//! value is made up.

use crate::channels::{self, ChannelInput};
use crate::engine;
use crate::pipeline::{self, Lane, Pipeline};
use chrono::NaiveDate;
use yiyang_core::{AppError, AppResult, RequestContext, idnumber};
use yiyang_platform::web::AppState;
use yiyang_store::args;

/// Name of the demo HL7 channel.
pub const DEMO_CHANNEL: &str = "人民医院HIS（演示通道）";

/// The port the demo channel is created with (the binary's `demo_mllp_port` moves it and
/// turns its listener on).
pub const DEMO_PORT: i64 = 2575;

/// Institution of the demo channel.
const HOSPITAL: &str = "MZ-HOSP-01";

/// One hour, in microseconds.
const HOUR: i64 = 3_600_000_000;
const MINUTE: i64 = 60_000_000;

/// Surnames common in Meizhou and given names, combined into made-up patients.
const SURNAMES: &[&str] = &[
    "李", "张", "黄", "刘", "陈", "钟", "曾", "罗", "古", "温", "叶", "杨", "谢", "廖", "何", "林",
    "朱", "侯", "邓", "赖",
];
const GIVEN: &[&str] = &[
    "振兴", "桂英", "国强", "秀兰", "文华", "瑞芳", "石生", "月娥", "永康", "惠珍", "光明", "凤英",
    "德才", "玉珍", "汉文", "淑芬", "伟东", "丽娟", "宏达", "金凤", "锦荣", "春梅", "志坚", "美英",
];
const TOWNS: &[(&str, &str)] = &[
    ("441402", "梅江区江南街道"),
    ("441403", "梅县区程江镇"),
    ("441481", "兴宁市兴田街道"),
    ("441424", "五华县水寨镇"),
    ("441422", "大埔县湖寮镇"),
    ("441427", "蕉岭县蕉城镇"),
];

/// Wards of the demo hospital: (ward code, department, attending doctor (family, given),
/// rooms from).
const WARDS: &[(&str, &str, (&str, &str), u32)] = &[
    ("NEI", "心血管内科", ("曾", "国华"), 301),
    ("GER", "老年医学科", ("黄", "志明"), 401),
    ("ER", "急诊科", ("饶", "建新"), 101),
];

/// Laboratory items: (LOINC, name, unit (UCUM), low, high, decimals).
const LABS: &[(&str, &str, &str, f64, f64, usize)] = &[
    ("2823-3", "血钾", "mmol/L", 3.5, 5.5, 1),
    ("2951-2", "血钠", "mmol/L", 137.0, 147.0, 0),
    ("2345-7", "血糖", "mmol/L", 3.9, 6.1, 1),
    ("718-7", "血红蛋白", "g/L", 130.0, 175.0, 0),
    ("6690-2", "白细胞计数", "10*9/L", 3.5, 9.5, 1),
    ("777-3", "血小板计数", "10*9/L", 125.0, 350.0, 0),
    ("2160-0", "肌酐", "umol/L", 57.0, 111.0, 0),
];

/// Vital signs: (LOINC, name, unit (UCUM), low, high, decimals).
const VITALS: &[(&str, &str, &str, f64, f64, usize)] = &[
    ("8867-4", "心率", "/min", 60.0, 100.0, 0),
    ("8480-6", "收缩压", "mm[Hg]", 90.0, 139.0, 0),
    ("8462-4", "舒张压", "mm[Hg]", 60.0, 89.0, 0),
    ("8310-5", "体温", "Cel", 36.0, 37.3, 1),
    ("59408-5", "血氧饱和度", "%", 95.0, 100.0, 0),
];

/// Critical values among the day's results: (patient index, LOINC, value, flag).
const CRITICAL: &[(usize, &str, f64, &str)] = &[
    (0, "2823-3", 6.9, "HH"),
    (4, "2345-7", 1.9, "LL"),
    (8, "718-7", 52.0, "LL"),
    (9, "2823-3", 2.4, "LL"),
];

/// Patients admitted during the demo day.
const PATIENTS: usize = 18;

/// A small deterministic generator (the demo is the same on every start).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [lo, hi).
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() % 10_000) as f64 / 10_000.0 * (hi - lo)
    }
}

struct Patient {
    mrn: String,
    family: &'static str,
    given: &'static str,
    sex: &'static str,
    birth: NaiveDate,
    id_number: String,
    address: &'static str,
    phone: String,
    ward: usize,
    room: u32,
    bed: u32,
    visit: String,
}

/// HL7 TS of an instant, China Standard Time.
fn ts(micros: i64) -> String {
    (chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default()
        + chrono::Duration::hours(8))
    .format("%Y%m%d%H%M%S")
    .to_string()
}

fn fmt(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

fn msh(app: &str, at: i64, kind: &str, control: &str) -> String {
    format!(
        "MSH|^~\\&|{app}|{HOSPITAL}|YIYANG|MZ|{}||{kind}|{control}|P|2.5|||AL|NE||UNICODE UTF-8",
        ts(at)
    )
}

fn pid(p: &Patient) -> String {
    format!(
        "PID|1||{}^^^MZH^MR~{}^^^^ID||{}^{}||{}|{}|||{}^^梅州市^广东省||{}",
        p.mrn,
        p.id_number,
        p.family,
        p.given,
        p.birth.format("%Y%m%d"),
        p.sex,
        p.address,
        p.phone
    )
}

/// PV1 with the patient's ward, bed, attending doctor, department and visit number;
/// `admitted`/`discharged` fill PV1-44/45.
fn pv1(p: &Patient, admitted: Option<i64>, discharged: Option<i64>) -> String {
    let (ward, dept, (fam, given), _) = WARDS[p.ward];
    let mut f = vec![String::new(); 46];
    f[1] = "1".into();
    f[2] = "I".into();
    f[3] = format!("{ward}^{}^{}", p.room, p.bed);
    f[7] = format!("D{:03}^{fam}^{given}", p.ward + 1);
    f[10] = dept.into();
    f[19] = p.visit.clone();
    if let Some(t) = admitted {
        f[44] = ts(t);
    }
    if let Some(t) = discharged {
        f[45] = ts(t);
    }
    format!(
        "PV1{}",
        f[1..].iter().fold(String::new(), |s, x| s + "|" + x)
    )
}

/// One day of the hospital's traffic, in the order it arrives: (received at, ER7 text).
fn traffic(now: i64, today: NaiveDate) -> Vec<(i64, String)> {
    let mut rng = Rng(0x5945_5941_4e47);
    let start = now - 22 * HOUR;
    let mut patients: Vec<Patient> = Vec::with_capacity(PATIENTS);
    for i in 0..PATIENTS {
        let (area, town) = TOWNS[rng.below(TOWNS.len())];
        let female = i % 2 == 1;
        let year = 1932 + rng.below(40) as i32;
        let birth =
            NaiveDate::from_ymd_opt(year, 1 + rng.below(12) as u32, 1 + rng.below(28) as u32)
                .unwrap_or(today);
        let seq = 900 + i as u16 * 2 + u16::from(!female);
        let ward = i % WARDS.len();
        patients.push(Patient {
            mrn: format!("ZY26{:05}", 10_421 + i * 7),
            family: SURNAMES[(i * 7 + rng.below(3)) % SURNAMES.len()],
            given: GIVEN[(i * 5 + usize::from(female)) % GIVEN.len()],
            sex: if female { "F" } else { "M" },
            birth,
            id_number: idnumber::compose(area, birth, seq),
            address: town,
            phone: format!("139{:08}", 27_500_000 + i * 3_137),
            ward,
            room: WARDS[ward].3 + (i / WARDS.len()) as u32,
            bed: 1 + rng.below(3) as u32,
            visit: format!("V26{:06}", 108_300 + i * 11),
        });
    }
    let mut out: Vec<(i64, String)> = Vec::new();
    let (mut his, mut lis) = (0u32, 0u32);
    let mut control = |app: &str| {
        let n = if app == "HIS" {
            his += 1;
            his
        } else {
            lis += 1;
            lis
        };
        format!("{app}{:06}", 240_000 + n)
    };
    // Admissions through the day, each followed by vital signs and a laboratory panel.
    for (i, p) in patients.iter().enumerate() {
        let at = start + (i as i64) * 70 * MINUTE + rng.below(20) as i64 * MINUTE;
        out.push((
            at,
            [
                msh("HIS", at, "ADT^A01^ADT_A01", &control("HIS")),
                format!("EVN|A01|{}", ts(at)),
                pid(p),
                pv1(p, Some(at - 20 * MINUTE), None),
            ]
            .join("\r"),
        ));
        let vitals_at = at + 25 * MINUTE;
        let mut obx = Vec::new();
        for (k, (code, name, unit, lo, hi, d)) in VITALS.iter().enumerate() {
            let v = rng.between(*lo, *hi);
            obx.push(format!(
                "OBX|{}|NM|{code}^{name}^LN||{}|{unit}|{}-{}|N|||F|||{}",
                k + 1,
                fmt(v, *d),
                fmt(*lo, *d),
                fmt(*hi, *d),
                ts(vitals_at - 5 * MINUTE)
            ));
        }
        out.push((
            vitals_at,
            [
                msh("HIS", vitals_at, "ORU^R01^ORU_R01", &control("HIS")),
                pid(p),
                pv1(p, None, None),
                format!(
                    "OBR|1|{}V|{}V|85353-1^生命体征^LN|||{}",
                    p.visit,
                    p.visit,
                    ts(vitals_at - 5 * MINUTE)
                ),
            ]
            .into_iter()
            .chain(obx)
            .collect::<Vec<_>>()
            .join("\r"),
        ));
        let lab_at = at + 95 * MINUTE;
        let mut obx = Vec::new();
        for (k, (code, name, unit, lo, hi, d)) in LABS.iter().enumerate() {
            let critical = CRITICAL.iter().find(|c| c.0 == i && c.1 == *code);
            let (v, flag) = match critical {
                Some((_, _, v, f)) => (*v, *f),
                None => {
                    // Mostly within range, now and then a little outside it.
                    let v = if rng.below(9) == 0 {
                        hi * rng.between(1.05, 1.25)
                    } else {
                        rng.between(*lo, *hi)
                    };
                    (v, if v > *hi { "H" } else { "N" })
                }
            };
            obx.push(format!(
                "OBX|{}|NM|{code}^{name}^LN||{}|{unit}|{}-{}|{flag}|||F|||{}",
                k + 1,
                fmt(v, *d),
                fmt(*lo, *d),
                fmt(*hi, *d),
                ts(lab_at - 10 * MINUTE)
            ));
        }
        out.push((
            lab_at,
            [
                msh("LIS", lab_at, "ORU^R01^ORU_R01", &control("LIS")),
                pid(p),
                pv1(p, None, None),
                format!(
                    "OBR|1|{}L|{}L|24323-8^生化全套及血常规^LN|||{}",
                    p.visit,
                    p.visit,
                    ts(lab_at - 40 * MINUTE)
                ),
            ]
            .into_iter()
            .chain(obx)
            .collect::<Vec<_>>()
            .join("\r"),
        ));
    }
    // Later in the day: transfers, updated demographics, discharges.
    let later = start + 17 * HOUR;
    for (n, i) in [2usize, 5, 9].into_iter().enumerate() {
        let p = &mut patients[i];
        let at = later + n as i64 * 23 * MINUTE;
        p.ward = (p.ward + 1) % WARDS.len();
        p.room = WARDS[p.ward].3 + 5;
        out.push((
            at,
            [
                msh("HIS", at, "ADT^A02^ADT_A02", &control("HIS")),
                format!("EVN|A02|{}", ts(at)),
                pid(p),
                pv1(p, None, None),
            ]
            .join("\r"),
        ));
    }
    for (n, i) in [3usize, 8].into_iter().enumerate() {
        let p = &mut patients[i];
        let at = later + 80 * MINUTE + n as i64 * 17 * MINUTE;
        p.phone = format!("137{:08}", 61_200_000 + i * 911);
        out.push((
            at,
            [
                msh("HIS", at, "ADT^A08^ADT_A01", &control("HIS")),
                format!("EVN|A08|{}", ts(at)),
                pid(p),
                pv1(p, None, None),
            ]
            .join("\r"),
        ));
    }
    for (n, i) in [1usize, 6, 11].into_iter().enumerate() {
        let p = &patients[i];
        let at = later + 2 * HOUR + n as i64 * 31 * MINUTE;
        out.push((
            at,
            [
                msh("HIS", at, "ADT^A03^ADT_A03", &control("HIS")),
                format!("EVN|A03|{}", ts(at)),
                pid(p),
                pv1(p, None, Some(at - 10 * MINUTE)),
            ]
            .join("\r"),
        ));
    }
    // A discharge the HIS sent without its visit number: refused with AE and the reason,
    // it waits in the error queue.
    {
        let p = &patients[12];
        let at = later + 3 * HOUR + 40 * MINUTE;
        let mut pv = pv1(p, None, Some(at - 5 * MINUTE));
        pv = pv.replace(&format!("|{}|", p.visit), "||");
        out.push((
            at,
            [
                msh("HIS", at, "ADT^A03^ADT_A03", &control("HIS")),
                format!("EVN|A03|{}", ts(at)),
                pid(p),
                pv,
            ]
            .join("\r"),
        ));
    }
    // The last few minutes: vital signs of the patients still in hospital.
    for (n, i) in [0usize, 4, 13, 15].into_iter().enumerate() {
        let p = &patients[i];
        let at = now - (4 - n as i64) * MINUTE;
        let (code, name, unit, lo, hi, d) = VITALS[0];
        let v = rng.between(lo, hi);
        out.push((
            at,
            [
                msh("HIS", at, "ORU^R01^ORU_R01", &control("HIS")),
                pid(p),
                pv1(p, None, None),
                format!(
                    "OBR|1|{}V{n}|{}V{n}|85353-1^生命体征^LN|||{}",
                    p.visit,
                    p.visit,
                    ts(at - MINUTE)
                ),
                format!(
                    "OBX|1|NM|{code}^{name}^LN||{}|{unit}|{}-{}|N|||F|||{}",
                    fmt(v, d),
                    fmt(lo, d),
                    fmt(hi, d),
                    ts(at - MINUTE)
                ),
            ]
            .join("\r"),
        ));
    }
    out.sort_by_key(|m| m.0);
    out
}

/// Creates the demo channel (its listener off until the binary turns it on) and sends it
/// the demo day's messages. Runs once: nothing is done when the channel exists.
pub async fn seed(st: &AppState) -> AppResult<()> {
    let Some(org) = yiyang_basedata::service::org_id_by_code(&st.db, HOSPITAL).await? else {
        return Ok(());
    };
    let taken: Vec<(String, i64)> = st
        .db
        .fetch_all("SELECT name, port FROM hl7_channels", vec![])
        .await?;
    if taken.iter().any(|(n, _)| n == DEMO_CHANNEL) {
        return Ok(());
    }
    let port = (DEMO_PORT..DEMO_PORT + 100)
        .find(|p| !taken.iter().any(|t| t.1 == *p))
        .unwrap_or(DEMO_PORT);
    let ctx = RequestContext::system(st.clock.clone(), "seed-demo");
    let id = channels::create(
        st,
        &ctx,
        ChannelInput {
            org_id: org,
            name: DEMO_CHANNEL.into(),
            port,
            message_types: "ADT^*,ORU^R01,ORM^O01,OML^O21,SIU^*".into(),
            enabled: false,
            max_connections: 128,
            ..Default::default()
        },
    )
    .await?;
    let ch = channels::load(&st.db, id)
        .await?
        .ok_or_else(|| AppError::internal("demo channel vanished"))?;
    let now = st.clock.now_micros();
    let today = yiyang_core::clock::today_cst(st.clock.as_ref());
    let day = traffic(now, today);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let line = Pipeline::start(st, stop_rx);
    let result = async {
        // As a sender would: the messages of the day, then the HIS resending one it had
        // sent (a lost ACK) — a byte-identical duplicate, answered with the first ACK.
        let mut tickets = Vec::with_capacity(day.len());
        for (at, text) in &day {
            let row = engine::prepare(&ch, text.as_bytes(), *at)
                .ok_or_else(|| AppError::internal("demo message is not HL7"))?;
            tickets.push(line.submit(row).await?);
        }
        for t in tickets {
            line.finish(st, t).await?;
        }
        let (at, text) = &day[day.len() / 2];
        let resend = engine::prepare(&ch, text.as_bytes(), at + 2 * MINUTE)
            .ok_or_else(|| AppError::internal("demo message is not HL7"))?;
        let t = line.submit(resend).await?;
        line.finish(st, t).await?;
        // Process what is stored before the seed returns (the pipeline's own lanes work
        // alongside; each lane is one processor at a time).
        let lanes = pipeline::lanes(st.db.backend());
        for _ in 0..600 {
            let mut done = 0;
            for index in 0..lanes {
                done +=
                    pipeline::process_pending(st, Lane { index, of: lanes }, None, None).await?;
            }
            if done > 0 {
                continue;
            }
            // Nothing for us: done, or a lane is busy in the pipeline's own processor.
            if waiting(st, id).await? == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok::<(), AppError>(())
    }
    .await;
    let _ = stop_tx.send(true);
    result?;
    let left = waiting(st, id).await?;
    if left > 0 {
        tracing::info!(left, "demo HL7 messages left for the processor");
    }
    Ok(())
}

/// Messages of channel `id` stored and not yet processed.
async fn waiting(st: &AppState, id: i64) -> AppResult<i64> {
    st.db
        .scalar(
            "SELECT COUNT(*) FROM hl7_messages WHERE channel_id = $1 AND status = 'received'",
            args![id],
        )
        .await
}

/// Turns the demo channel's listener on at `port` (the binary's `demo_mllp_port`), once:
/// only while the channel is as the demo seed left it (never edited), and only when no
/// other channel has the port. Returns whether it did.
pub async fn listen_on(st: &AppState, port: u16) -> AppResult<bool> {
    let port = i64::from(port);
    let row: Option<(i64, i64, i64)> = st
        .db
        .fetch_optional(
            "SELECT id, created_at, updated_at FROM hl7_channels WHERE name = $1 AND enabled = $2",
            args![DEMO_CHANNEL, false],
        )
        .await?;
    let Some((id, _, _)) = row.filter(|r| r.1 == r.2) else {
        return Ok(false);
    };
    let others = st
        .db
        .scalar(
            "SELECT COUNT(*) FROM hl7_channels WHERE port = $1 AND id <> $2",
            args![port, id],
        )
        .await?;
    if others > 0 {
        return Ok(false);
    }
    let ctx = RequestContext::system(st.clock.clone(), "seed-demo");
    let ch = channels::get(st, &ctx, id).await?;
    channels::update(
        st,
        &ctx,
        id,
        ChannelInput {
            org_id: ch.org_id,
            name: ch.name,
            port,
            allowed_apps: ch.allowed_apps,
            allowed_facilities: ch.allowed_facilities,
            message_types: ch.message_types,
            enabled: true,
            max_connections: ch.max_connections,
            read_timeout_secs: ch.read_timeout_secs,
            ack_mode: ch.ack_mode,
            tls_mode: ch.tls_mode,
            tls_cert: ch.tls_cert,
            tls_key: ch.tls_key,
            tls_client_ca: ch.tls_client_ca,
        },
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_day_is_well_formed_hl7_in_time_order() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T10:00:00+08:00")
            .unwrap()
            .timestamp_micros();
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let day = traffic(now, today);
        assert!((60..=300).contains(&day.len()), "{}", day.len());
        assert!(day.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(
            day.iter()
                .all(|(at, _)| *at <= now && *at > now - 24 * HOUR)
        );
        for (_, text) in &day {
            let msg = yiyang_hl7v2::Message::parse(text).unwrap();
            let msh = msg.msh();
            let kind = format!(
                "{}^{}",
                msh.field(9).component(1).value(),
                msh.field(9).component(2).value()
            );
            assert!(
                ["ADT^A01", "ADT^A02", "ADT^A03", "ADT^A08", "ORU^R01"].contains(&kind.as_str()),
                "{kind}"
            );
        }
        let critical = day
            .iter()
            .filter(|(_, t)| t.contains("|HH|") || t.contains("|LL|"))
            .count();
        assert_eq!(critical, CRITICAL.len());
        for trigger in ["A01", "A02", "A03", "A08"] {
            assert!(
                day.iter()
                    .any(|(_, t)| t.contains(&format!("ADT^{trigger}")))
            );
        }
    }
}
