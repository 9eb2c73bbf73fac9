//! The demo city: a fictional platform operator, hospital, nursing home, community health
//! centre and pharmacy in Meizhou, with departments, staff and one account per role.
//! Every name and number here is made up; ID numbers are generated with valid check digits.

use chrono::NaiveDate;
use yiyang_basedata::service::{self, DeptInput, OrgInput, StaffInput};
use yiyang_core::{AppResult, RequestContext, idnumber};
use yiyang_platform::identity;
use yiyang_platform::web::AppState;
use yiyang_store::args;

pub const DEMO_PASSWORD: &str = "Meizhou#2026";

/// (login, name, role, org code or "" for city-wide)
pub const DEMO_ACCOUNTS: &[(&str, &str, &str, &str)] = &[
    ("admin", "平台管理员", "platform_admin", ""),
    ("reviewer", "审核员 林晓", "data_reviewer", ""),
    ("auditor", "安全审计员 何静", "security_auditor", ""),
    ("ybaudit", "医保审核员 古志强", "insurance_auditor", ""),
    ("hospadmin", "医院管理员 黄志明", "org_admin", "MZ-HOSP-01"),
    ("doctor", "医生 曾国华", "doctor", "MZ-HOSP-01"),
    ("nurse", "护士 李秀梅", "nurse", "MZ-HOSP-01"),
    ("pharmacist", "药师 张伟", "pharmacist", "MZ-PHAR-01"),
    ("nhadmin", "养老院管理员 陈丽", "org_admin", "MZ-NH-01"),
    ("caregiver", "护理员 钟美玲", "caregiver", "MZ-NH-01"),
    ("elder", "居民 丘伯", "elder", "MZ-CHC-01"),
    ("family", "家属 丘小燕", "family", "MZ-CHC-01"),
];

/// code, name, kind, level, district, address, beds, service scope
type OrgSeed = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    &'static str,
);

const ORGS: &[OrgSeed] = &[
    (
        "MZ-PLAT",
        "梅州市智慧医养平台运营中心",
        "platform",
        "",
        "梅江区",
        "梅州市梅江区彬芳大道（示例）1号",
        0,
        "平台运营、数据治理",
    ),
    (
        "MZ-HOSP-01",
        "梅州市示例人民医院",
        "hospital",
        "三级甲等",
        "梅江区",
        "梅州市梅江区新中路（示例）63号",
        1200,
        "综合医疗、急诊、老年医学",
    ),
    (
        "MZ-NH-01",
        "梅江区康乐颐养院（示例）",
        "nursing_home",
        "四星级",
        "梅江区",
        "梅州市梅江区江南路（示例）28号",
        260,
        "长期照护、失能照护、日间照料",
    ),
    (
        "MZ-CHC-01",
        "江南街道社区卫生服务中心（示例）",
        "community_health",
        "一级",
        "梅江区",
        "梅州市梅江区江南街道（示例）9号",
        40,
        "基本公共卫生、家庭医生签约、慢病管理",
    ),
    (
        "MZ-PHAR-01",
        "梅州市中心药房（示例）",
        "pharmacy",
        "",
        "梅县区",
        "梅州市梅县区新城（示例）18号",
        0,
        "药品配送、药师咨询",
    ),
    (
        "XN-NH-02",
        "兴宁市福寿养老中心（示例）",
        "nursing_home",
        "三星级",
        "兴宁市",
        "兴宁市兴城街道（示例）66号",
        180,
        "长期照护、康复护理",
    ),
];

const DEPTS: &[(&str, &str, &str, &str)] = &[
    ("MZ-HOSP-01", "NEI", "心血管内科", "clinical"),
    ("MZ-HOSP-01", "GER", "老年医学科", "clinical"),
    ("MZ-HOSP-01", "ER", "急诊科", "clinical"),
    ("MZ-HOSP-01", "LAB", "检验科", "medtech"),
    ("MZ-NH-01", "CARE1", "一区护理单元", "nursing"),
    ("MZ-NH-01", "CARE2", "二区护理单元", "nursing"),
    ("MZ-CHC-01", "GP", "全科门诊", "clinical"),
];

/// (org, dept, name, sex, birth, seq, profession, title, licence, expiry offset days)
/// org, dept, name, sex, birth (y, m, d), sequence, profession, title, licence number, licence expiry in days from today
type StaffSeed = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    (i32, u32, u32),
    u16,
    &'static str,
    &'static str,
    &'static str,
    i64,
);

const STAFF: &[StaffSeed] = &[
    (
        "MZ-HOSP-01",
        "NEI",
        "曾国华",
        "M",
        (1978, 4, 12),
        31,
        "doctor",
        "主任医师",
        "110441400012345",
        900,
    ),
    (
        "MZ-HOSP-01",
        "NEI",
        "李秀梅",
        "F",
        (1986, 9, 3),
        42,
        "nurse",
        "主管护师",
        "N-4414-2012-0087",
        30,
    ),
    (
        "MZ-HOSP-01",
        "GER",
        "黄志明",
        "M",
        (1972, 1, 25),
        15,
        "doctor",
        "副主任医师",
        "110441400023456",
        400,
    ),
    (
        "MZ-HOSP-01",
        "GER",
        "温丽华",
        "F",
        (1990, 11, 18),
        62,
        "nurse",
        "护师",
        "N-4414-2015-0311",
        -5,
    ),
    (
        "MZ-HOSP-01",
        "ER",
        "饶建新",
        "M",
        (1983, 6, 7),
        77,
        "doctor",
        "主治医师",
        "110441400034567",
        1200,
    ),
    (
        "MZ-HOSP-01",
        "LAB",
        "刘晓红",
        "F",
        (1988, 2, 29),
        24,
        "technician",
        "主管技师",
        "",
        0,
    ),
    (
        "MZ-NH-01",
        "CARE1",
        "钟美玲",
        "F",
        (1975, 8, 8),
        86,
        "caregiver",
        "高级护理员",
        "",
        0,
    ),
    (
        "MZ-NH-01",
        "CARE1",
        "罗桂英",
        "F",
        (1969, 12, 1),
        8,
        "caregiver",
        "护理员",
        "",
        0,
    ),
    (
        "MZ-NH-01",
        "CARE2",
        "陈丽",
        "F",
        (1981, 5, 20),
        44,
        "admin",
        "院长",
        "",
        0,
    ),
    (
        "MZ-CHC-01",
        "GP",
        "丘文辉",
        "M",
        (1980, 3, 14),
        57,
        "doctor",
        "全科主治医师",
        "110441400045678",
        45,
    ),
    (
        "MZ-PHAR-01",
        "",
        "张伟",
        "M",
        (1985, 7, 30),
        93,
        "pharmacist",
        "主管药师",
        "P-4414-2016-0042",
        700,
    ),
    (
        "XN-NH-02",
        "",
        "廖春燕",
        "F",
        (1979, 10, 10),
        66,
        "caregiver",
        "护理员",
        "",
        0,
    ),
];

async fn org_id(st: &AppState, code: &str) -> AppResult<Option<i64>> {
    Ok(st
        .db
        .fetch_optional::<(i64,)>("SELECT id FROM orgs WHERE code = $1", args![code])
        .await?
        .map(|r| r.0))
}

/// Seeds the demo city once; returns false when it was already there. Nodes starting
/// together take turns on a lock, and the second finds the work done.
pub async fn seed_demo(st: &AppState) -> AppResult<bool> {
    let lock = st.db.lock(0x5969_5961_6e68).await?;
    let result = seed_demo_locked(st).await;
    lock.release().await;
    result
}

async fn seed_demo_locked(st: &AppState) -> AppResult<bool> {
    let done =
        yiyang_platform::settings::get(&st.db, yiyang_platform::settings::DEMO_SEEDED).await?;
    if done.is_some() {
        return Ok(false);
    }
    let ctx = RequestContext::system(st.clock.clone(), "seed-demo");
    let today = yiyang_core::clock::today_cst(st.clock.as_ref());
    for (code, name, kind, level, district, address, beds, scope) in ORGS {
        if org_id(st, code).await?.is_some() {
            continue;
        }
        let input = OrgInput {
            code: code.to_string(),
            name: name.to_string(),
            kind: kind.to_string(),
            level: level.to_string(),
            district: district.to_string(),
            address: address.to_string(),
            phone: format!("0753{:07}", 2_100_000 + beds),
            beds: *beds,
            service_scope: scope.to_string(),
            licence_no: if *kind == "platform" {
                String::new()
            } else {
                format!("PDY{}", 44_140_000 + beds)
            },
            licence_expiry: Some(
                (today + chrono::Duration::days(800))
                    .format("%Y-%m-%d")
                    .to_string(),
            ),
        };
        let id = service::create_org(st, &ctx, input).await?;
        service::submit_org(st, &ctx, id).await?;
        service::review_org(st, &ctx, id, true, "示例数据").await?;
    }
    for (org, code, name, kind) in DEPTS {
        let id = org_id(st, org).await?.expect("seeded org");
        service::create_department(
            st,
            &ctx,
            id,
            &DeptInput {
                code: code.to_string(),
                name: name.to_string(),
                kind: kind.to_string(),
                phone: String::new(),
                status: String::new(),
            },
        )
        .await?;
    }
    for (org, dept, name, sex, (y, m, d), seq, prof, title, lic, days) in STAFF {
        let oid = org_id(st, org).await?.expect("seeded org");
        let dept_id = if dept.is_empty() {
            None
        } else {
            st.db
                .fetch_optional::<(i64,)>(
                    "SELECT id FROM departments WHERE org_id = $1 AND code = $2",
                    args![oid, *dept],
                )
                .await?
                .map(|r| r.0)
        };
        let birth = NaiveDate::from_ymd_opt(*y, *m, *d).expect("valid date");
        let seq = if *sex == "M" { seq | 1 } else { seq & !1 };
        let input = StaffInput {
            org_id: oid,
            dept_id,
            name: name.to_string(),
            sex: sex.to_string(),
            id_number: idnumber::compose("441402", birth, seq),
            phone: format!("139{:08}", 26_000_000 + u32::from(seq) * 1013),
            profession: prof.to_string(),
            title: title.to_string(),
            qualification_no: String::new(),
            licence_no: lic.to_string(),
            licence_expiry: (!lic.is_empty()).then(|| {
                (today + chrono::Duration::days(*days))
                    .format("%Y-%m-%d")
                    .to_string()
            }),
        };
        let (id, _) = service::create_staff(st, &ctx, input).await?;
        if *days != 30 {
            service::submit_staff(st, &ctx, id).await?;
            if *days != 45 {
                service::review_staff(st, &ctx, id, true, "").await?;
            }
        }
    }
    for (login, name, role, org) in DEMO_ACCOUNTS {
        let org_id = if org.is_empty() {
            None
        } else {
            org_id(st, org).await?
        };
        let kind = if matches!(*role, "elder" | "family") {
            "resident"
        } else {
            "staff"
        };
        identity::create_account(
            &st.db,
            &ctx,
            &identity::NewAccount {
                login: login.to_string(),
                display_name: name.to_string(),
                kind: kind.into(),
                org_id,
                phone: String::new(),
                password: DEMO_PASSWORD.into(),
                role: role.to_string(),
                must_change_password: false,
            },
        )
        .await?;
    }
    // The hospital's doctor and nurse accounts are the staff records of the same people, so
    // a critical value reaches them as the attending doctor and the ward's nurse.
    for (login, staff_name) in [
        ("doctor", "曾国华"),
        ("nurse", "李秀梅"),
        ("caregiver", "钟美玲"),
    ] {
        st.db
            .execute(
                "UPDATE staff SET account_id = (SELECT id FROM accounts WHERE login = $1) WHERE name = $2 AND account_id IS NULL",
                args![login, staff_name],
            )
            .await?;
    }
    // Each module's own demo data (residents and their health record, the demo HL7 channel…).
    st.registry.seed_demo(st).await?;
    yiyang_platform::settings::set_once(
        &st.db,
        yiyang_platform::settings::DEMO_SEEDED,
        &st.clock.now_micros().to_string(),
    )
    .await?;
    Ok(true)
}

/// Name of the demo HL7 channel (created with the integration module's demo data).
pub use yiyang_integration::demo::DEMO_CHANNEL;

/// Turns the demo HL7 channel of 梅州市人民医院 (made, with a day of traffic, by the
/// integration module's demo data) on at `port` once (0 = leave its listener off). A
/// database seeded before the channel came with the demo data gets it here: every message
/// type the engine processes, storing-then-ACK, up to 128 connections.
pub async fn seed_demo_channel(st: &AppState, port: u16) -> AppResult<()> {
    if port == 0 {
        return Ok(());
    }
    if yiyang_integration::demo::listen_on(st, port).await? {
        return Ok(());
    }
    let taken = st
        .db
        .scalar(
            "SELECT COUNT(*) FROM hl7_channels WHERE name = $1 OR port = $2",
            args![DEMO_CHANNEL, i64::from(port)],
        )
        .await?;
    let Some(org) = org_id(st, "MZ-HOSP-01").await? else {
        return Ok(());
    };
    if taken > 0 {
        return Ok(());
    }
    let ctx = RequestContext::system(st.clock.clone(), "seed-demo");
    yiyang_integration::channels::create(
        st,
        &ctx,
        yiyang_integration::channels::ChannelInput {
            org_id: org,
            name: DEMO_CHANNEL.into(),
            port: i64::from(port),
            message_types: "ADT^*,ORU^R01,ORM^O01,OML^O21,SIU^*".into(),
            max_connections: 128,
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}
