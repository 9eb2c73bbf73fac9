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
