//! The patient index through the module test harness: a person registered in one
//! institution is invisible to another institution's doctor.

use std::sync::Arc;
use yiyang_basedata::BasedataModule;
use yiyang_basedata::service::{self as base, OrgInput};
use yiyang_patients::PatientsModule;
use yiyang_patients::service::{self, PersonInput};
use yiyang_platform::PlatformModule;
use yiyang_platform::masking::Unmask;
use yiyang_platform::testing::{Harness, backends};

async fn org(h: &Harness, code: &str, name: &str) -> i64 {
    let input = OrgInput {
        code: code.into(),
        name: name.into(),
        kind: "hospital".into(),
        district: "梅江区".into(),
        ..Default::default()
    };
    base::create_org(&h.state, &h.system(), input)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_visible_to_its_institution_only() {
    for b in backends() {
        let h = Harness::start(
            b,
            vec![
                Arc::new(PlatformModule::default()),
                Arc::new(BasedataModule),
                Arc::new(PatientsModule),
            ],
        )
        .await;
        let a = org(&h, "T-A", "甲医院（测试）").await;
        let other = org(&h, "T-B", "乙医院（测试）").await;
        let input: PersonInput = serde_json::from_value(serde_json::json!({
            "org_id": a, "name": "测试居民", "sex": "F", "birth_date": "1950-03-04"
        }))
        .unwrap();
        let out = service::register(&h.state, &h.system(), input)
            .await
            .unwrap();
        let none = Unmask::default();
        let doctor = h.ctx("doctor", Some(a));
        let p = service::get_person(&h.state, &doctor, out.person_id, &none)
            .await
            .unwrap();
        assert!(p.name.starts_with('测'), "{b}");
        let stranger = h.ctx("doctor", Some(other));
        let e = service::get_person(&h.state, &stranger, out.person_id, &none)
            .await
            .unwrap_err();
        assert_eq!(e.status, 404, "{b}");
        h.stop().await;
    }
}
