//! Base data through the module test harness: scope of an institution's administrator.

use std::sync::Arc;
use yiyang_basedata::BasedataModule;
use yiyang_basedata::service::{self, OrgInput};
use yiyang_platform::PlatformModule;
use yiyang_platform::testing::{Harness, backends};

fn org(code: &str, name: &str) -> OrgInput {
    OrgInput {
        code: code.into(),
        name: name.into(),
        kind: "hospital".into(),
        district: "梅江区".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_admin_reads_their_institution_and_not_another() {
    for b in backends() {
        let h = Harness::start(
            b,
            vec![
                Arc::new(PlatformModule::default()),
                Arc::new(BasedataModule),
            ],
        )
        .await;
        let sys = h.system();
        let a = service::create_org(&h.state, &sys, org("T-A", "甲医院（测试）"))
            .await
            .unwrap();
        let other = service::create_org(&h.state, &sys, org("T-B", "乙医院（测试）"))
            .await
            .unwrap();
        let admin = h.ctx("org_admin", Some(a));
        assert_eq!(
            service::get_org(&h.state, &admin, a).await.unwrap().id,
            a,
            "{b}"
        );
        let e = service::get_org(&h.state, &admin, other).await.unwrap_err();
        assert_eq!(
            e.status, 404,
            "{b}: out of scope is indistinguishable from missing"
        );
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_modules_read_institutions_and_staff_through_the_lookups() {
    for b in backends() {
        let h = Harness::start(
            b,
            vec![
                Arc::new(PlatformModule::default()),
                Arc::new(BasedataModule),
            ],
        )
        .await;
        let sys = h.system();
        let a = service::create_org(&h.state, &sys, org("T-A", "甲医院（测试）"))
            .await
            .unwrap();
        let c = service::create_org(&h.state, &sys, org("T-C", "丙医院（测试）"))
            .await
            .unwrap();
        let db = &h.state.db;
        let names = service::org_names(db, &[c, a, a, 999_999]).await.unwrap();
        assert_eq!(
            names.len(),
            2,
            "{b}: unknown ids are left out, repeats once"
        );
        assert_eq!(names[&a], "甲医院（测试）");
        assert!(service::org_exists(db, c).await.unwrap());
        assert!(!service::org_exists(db, 999_999).await.unwrap());
        assert_eq!(service::org_id_by_code(db, "T-C").await.unwrap(), Some(c));
        assert_eq!(service::org_id_by_code(db, "NONE").await.unwrap(), None);
        assert_eq!(
            service::org_code(db, c).await.unwrap().as_deref(),
            Some("T-C")
        );
        assert_eq!(service::org_code(db, 999_999).await.unwrap(), None);
        let all = service::org_choices(db, false, Some(&[c, a]))
            .await
            .unwrap();
        assert_eq!(
            all,
            vec![
                (a, "甲医院（测试）".to_string()),
                (c, "丙医院（测试）".to_string())
            ],
            "{b}: in code order, within the ids"
        );
        assert!(
            service::org_choices(db, true, Some(&[c, a]))
                .await
                .unwrap()
                .is_empty(),
            "{b}: drafts are not offered where only approved ones are"
        );
        // Staff a notice reaches: by name, and the nurses of a ward (by department name or code).
        let dept = service::create_department(
            &h.state,
            &sys,
            a,
            &service::DeptInput {
                code: "NEI".into(),
                name: "内科病区".into(),
                kind: "nursing".into(),
                phone: String::new(),
                status: String::new(),
            },
        )
        .await
        .unwrap();
        let birth = chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap();
        let mut staff = Vec::new();
        for (n, (name, sex, profession, login)) in [
            ("李护士", "F", "nurse", Some("t-nurse")),
            ("王医生", "M", "doctor", Some("t-doctor")),
            ("赵护士", "F", "nurse", None),
        ]
        .into_iter()
        .enumerate()
        {
            let (id, _) = service::create_staff(
                &h.state,
                &sys,
                service::StaffInput {
                    org_id: a,
                    dept_id: Some(dept),
                    name: name.into(),
                    sex: sex.into(),
                    id_number: yiyang_core::idnumber::compose(
                        "441402",
                        birth,
                        10 + n as u16 * 2 + u16::from(sex == "M"),
                    ),
                    profession: profession.into(),
                    licence_no: format!("LIC-{n}"),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let account = match login {
                Some(login) => Some(
                    yiyang_platform::identity::create_account(
                        db,
                        &sys,
                        &yiyang_platform::identity::NewAccount {
                            login: login.into(),
                            display_name: name.into(),
                            kind: "staff".into(),
                            org_id: Some(a),
                            phone: String::new(),
                            password: "Meizhou#2026-test".into(),
                            role: profession.into(),
                            must_change_password: false,
                        },
                    )
                    .await
                    .unwrap(),
                ),
                None => None,
            };
            db.execute(
                "UPDATE staff SET account_id = $1 WHERE id = $2",
                yiyang_store::args![account, id],
            )
            .await
            .unwrap();
            staff.push(account);
        }
        let (nurse, doctor) = (staff[0].unwrap(), staff[1].unwrap());
        let named = service::staff_accounts_named(db, a, "王医生")
            .await
            .unwrap();
        assert_eq!(named, vec![(doctor, "王医生".to_string())], "{b}");
        assert!(
            service::staff_accounts_named(db, c, "王医生")
                .await
                .unwrap()
                .is_empty()
        );
        for ward in ["NEI", "内科病区"] {
            let nurses = service::nurse_accounts_of(db, a, &[ward, ""])
                .await
                .unwrap();
            assert_eq!(nurses, vec![(nurse, "李护士".to_string())], "{b}: {ward}");
        }
        assert!(
            service::nurse_accounts_of(db, a, &["外科"])
                .await
                .unwrap()
                .is_empty()
        );
        h.stop().await;
    }
}
