//! Demo data of the patient index: residents of the fictional demo city registered through
//! the index, a health record for the demo elder, links to the elder and family accounts, a
//! linked duplicate and a review. Runs once per database, after the platform and base data
//! seeded the city (institutions and accounts). Every name and number is made up.

use chrono::NaiveDate;
use yiyang_core::{AppResult, RequestContext, idnumber};
use yiyang_platform::web::AppState;

async fn org_id(st: &AppState, code: &str) -> AppResult<Option<i64>> {
    yiyang_basedata::service::org_id_by_code(&st.db, code).await
}

/// (name, sex, birth, area, seq, phone, district, town, village, living, org code, id type, id value)
type PersonSeed = (
    &'static str,
    &'static str,
    (i32, u32, u32),
    &'static str,
    u16,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const PERSONS: &[PersonSeed] = &[
    (
        "丘德明",
        "M",
        (1944, 3, 8),
        "441402",
        17,
        "13923001001",
        "梅江区",
        "江南街道",
        "龙丰社区",
        "empty_nest",
        "MZ-CHC-01",
        "JKDA",
        "JN-2019-00017",
    ),
    (
        "黄秀英",
        "F",
        (1948, 7, 21),
        "441402",
        26,
        "13923001002",
        "梅江区",
        "江南街道",
        "鸿都社区",
        "alone",
        "MZ-CHC-01",
        "JKDA",
        "JN-2019-00026",
    ),
    (
        "李伯华",
        "M",
        (1951, 11, 2),
        "441403",
        33,
        "13923001003",
        "梅县区",
        "程江镇",
        "大浪口村",
        "left_behind",
        "MZ-HOSP-01",
        "MZ",
        "MZ0000331",
    ),
    (
        "钟玉兰",
        "F",
        (1939, 1, 15),
        "441402",
        48,
        "13923001004",
        "梅江区",
        "金山街道",
        "新中社区",
        "institution",
        "MZ-NH-01",
        "MRN",
        "NH-0048",
    ),
    (
        "曾庆祥",
        "M",
        (1946, 9, 30),
        "441481",
        55,
        "13923001005",
        "兴宁市",
        "兴田街道",
        "河西社区",
        "with_family",
        "MZ-HOSP-01",
        "ZY",
        "ZY2026-0155",
    ),
    (
        "罗美华",
        "F",
        (1953, 4, 4),
        "441424",
        62,
        "13923001006",
        "五华县",
        "水寨镇",
        "大坝村",
        "empty_nest",
        "MZ-CHC-01",
        "JKDA",
        "JN-2020-00062",
    ),
    (
        "温志强",
        "M",
        (1958, 12, 12),
        "441422",
        71,
        "13923001007",
        "大埔县",
        "湖寮镇",
        "黎家坪村",
        "with_family",
        "MZ-HOSP-01",
        "MZ",
        "MZ0000771",
    ),
    (
        "古淑贞",
        "F",
        (1942, 6, 18),
        "441427",
        84,
        "13923001008",
        "蕉岭县",
        "蕉城镇",
        "城东社区",
        "alone",
        "MZ-NH-01",
        "MRN",
        "NH-0084",
    ),
];

/// Registers the demo residents through the master index, with a health record for the
/// demo elder, links to the elder and family accounts, a linked duplicate and a review.
pub async fn seed(st: &AppState) -> AppResult<()> {
    use crate::record::{
        self, AllergyInput, ConditionInput, EncounterInput, MedicationInput, ObservationInput,
    };
    use crate::service::{self as ps, IdentifierInput, PersonInput};
    let ctx = RequestContext::system(st.clock.clone(), "seed-demo");
    let mut ids = Vec::new();
    for (
        name,
        sex,
        (y, m, d),
        area,
        seq,
        phone,
        district,
        town,
        village,
        living,
        org,
        id_type,
        id_value,
    ) in PERSONS
    {
        let org_id = org_id(st, org).await?.expect("seeded org");
        let birth = NaiveDate::from_ymd_opt(*y, *m, *d).expect("valid date");
        let seq = if *sex == "M" { seq | 1 } else { seq & !1 };
        let out = ps::register(
            st,
            &ctx,
            PersonInput {
                org_id,
                name: name.to_string(),
                sex: sex.to_string(),
                id_number: idnumber::compose(area, birth, seq),
                phone: phone.to_string(),
                district: district.to_string(),
                town: town.to_string(),
                village: village.to_string(),
                address_detail: format!("{}号", 10 + seq),
                living_situation: living.to_string(),
                insurance_no: format!("4414{:010}", u64::from(seq) * 7919),
                identifiers: vec![IdentifierInput {
                    id_type: id_type.to_string(),
                    value: id_value.to_string(),
                }],
                ..Default::default()
            },
        )
        .await?;
        ids.push(out.person_id);
    }
    let hosp = org_id(st, "MZ-HOSP-01").await?.expect("org");
    let chc = org_id(st, "MZ-CHC-01").await?.expect("org");
    // The hospital registers 丘德明 again with its own outpatient number: the index links it.
    let elder_birth = NaiveDate::from_ymd_opt(1944, 3, 8).expect("date");
    ps::register(
        st,
        &ctx,
        PersonInput {
            org_id: hosp,
            name: "丘德明".into(),
            sex: "男".into(),
            id_number: idnumber::compose("441402", elder_birth, 17),
            phone: "139 2300 1001".into(),
            district: "梅江区".into(),
            identifiers: vec![IdentifierInput {
                id_type: "MZ".into(),
                value: "MZ0001017".into(),
            }],
            ..Default::default()
        },
    )
    .await?;
    // Without an ID number, a homophone in the name and day and month swapped: a possible duplicate.
    ps::register(
        st,
        &ctx,
        PersonInput {
            org_id: hosp,
            name: "黄秀瑛".into(),
            sex: "F".into(),
            birth_date: "1948-07-12".into(),
            district: "梅江区".into(),
            identifiers: vec![IdentifierInput {
                id_type: "MZ".into(),
                value: "MZ0002026".into(),
            }],
            ..Default::default()
        },
    )
    .await?;
    let elder = ids[0];
    let now = st.clock.now();
    let at = |days: i64, hour: i64| {
        let t = now - chrono::Duration::days(days) + chrono::Duration::hours(hour);
        Some(
            (t + chrono::Duration::hours(8))
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
        )
    };
    record::add_condition(
        st,
        &ctx,
        elder,
        &ConditionInput {
            org_id: chc,
            code: "I10".into(),
            display: "原发性高血压".into(),
            onset: Some("2012-05".into()),
            ..Default::default()
        },
    )
    .await?;
    record::add_condition(
        st,
        &ctx,
        elder,
        &ConditionInput {
            org_id: chc,
            code: "E11.9".into(),
            display: "2型糖尿病".into(),
            onset: Some("2016-09".into()),
            ..Default::default()
        },
    )
    .await?;
    record::add_allergy(
        st,
        &ctx,
        elder,
        &AllergyInput {
            org_id: chc,
            substance: "青霉素".into(),
            reaction: "皮疹".into(),
            severity: "moderate".into(),
            ..Default::default()
        },
    )
    .await?;
    record::add_medication(
        st,
        &ctx,
        elder,
        &MedicationInput {
            org_id: chc,
            kind: "prescribed".into(),
            name: "苯磺酸氨氯地平片".into(),
            dose: "5mg".into(),
            route: "口服".into(),
            frequency: "每日一次".into(),
            ..Default::default()
        },
    )
    .await?;
    record::add_medication(
        st,
        &ctx,
        elder,
        &MedicationInput {
            org_id: chc,
            kind: "prescribed".into(),
            name: "盐酸二甲双胍片".into(),
            dose: "0.5g".into(),
            route: "口服".into(),
            frequency: "每日两次".into(),
            ..Default::default()
        },
    )
    .await?;
    record::add_encounter(
        st,
        &ctx,
        elder,
        &EncounterInput {
            org_id: chc,
            kind: "follow_up".into(),
            dept: "全科门诊".into(),
            reason: "高血压季度随访".into(),
            start: at(40, 1),
            ..Default::default()
        },
    )
    .await?;
    let stay = record::add_encounter(
        st,
        &ctx,
        elder,
        &EncounterInput {
            org_id: hosp,
            kind: "inpatient".into(),
            dept: "心血管内科".into(),
            location: "心内科一病区 12床".into(),
            reason: "头晕、血压控制不佳".into(),
            start: at(20, 2),
            ..Default::default()
        },
    )
    .await?;
    record::move_encounter(st, &ctx, stay, "transfer", "老年医学科 3床", at(18, 3)).await?;
    record::move_encounter(st, &ctx, stay, "discharge", "", at(14, 2)).await?;
    for day in 0..14i64 {
        let wobble = ((day * 7) % 5) as f64;
        for (code, v) in [
            ("8480-6", 138.0 + wobble * 3.0 - day as f64 * 0.8),
            ("8462-4", 84.0 + wobble),
            ("8867-4", 72.0 + wobble * 2.0),
            ("2339-0", 7.2 + wobble * 0.3),
        ] {
            record::add_observation(
                st,
                &ctx,
                elder,
                &ObservationInput {
                    org_id: chc,
                    code: code.into(),
                    value: Some(v),
                    effective: at(day, 0),
                    ..Default::default()
                },
            )
            .await?;
        }
    }
    for (login, relation, emergency) in [("elder", "本人", false), ("family", "女儿", true)] {
        let account = yiyang_platform::identity::account_by_login(&st.db, login).await?;
        let c = ps::Contact {
            id: 0,
            name: if login == "elder" {
                "丘德明".into()
            } else {
                "丘小燕".into()
            },
            relation: relation.into(),
            phone: if login == "family" {
                "13923009999".into()
            } else {
                String::new()
            },
            is_emergency: emergency,
            account_id: account.map(|a| a.0),
            can_view: true,
        };
        ps::add_contact(st, &ctx, elder, &c, None).await?;
    }
    Ok(())
}
