//! Outbound subscriptions through the module test harness: an institution's administrator
//! sees its own subscriptions only, and the secret is stored encrypted.

use std::sync::Arc;
use yiyang_basedata::BasedataModule;
use yiyang_basedata::service::{self as base, OrgInput};
use yiyang_integration::IntegrationModule;
use yiyang_integration::outbound::{self, SubscriptionInput};
use yiyang_patients::PatientsModule;
use yiyang_platform::PlatformModule;
use yiyang_platform::module::Module;
use yiyang_platform::testing::{Harness, backends};

async fn org(h: &Harness, code: &str) -> i64 {
    let input = OrgInput {
        code: code.into(),
        name: format!("{code} 医院（测试）"),
        kind: "hospital".into(),
        district: "梅江区".into(),
        ..Default::default()
    };
    base::create_org(&h.state, &h.system(), input)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_scoped_to_their_institution() {
    for b in backends() {
        let h = Harness::start(
            b,
            vec![
                Arc::new(PlatformModule::default()),
                Arc::new(BasedataModule),
                Arc::new(PatientsModule),
                Arc::new(IntegrationModule),
            ],
        )
        .await;
        let a = org(&h, "T-A").await;
        let other = org(&h, "T-B").await;
        let input: SubscriptionInput = serde_json::from_value(serde_json::json!({
            "org_id": a, "name": "区域平台", "kind": "webhook",
            "url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef0123",
            "events": ["encounter.admitted"]
        }))
        .unwrap();
        let id = outbound::create(&h.state, &h.system(), input)
            .await
            .unwrap();
        let mine = outbound::list(&h.state, &h.ctx("org_admin", Some(a)))
            .await
            .unwrap();
        assert_eq!(
            mine.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![id],
            "{b}"
        );
        let theirs = outbound::list(&h.state, &h.ctx("org_admin", Some(other)))
            .await
            .unwrap();
        assert!(theirs.is_empty(), "{b}");
        let read = yiyang_platform::module::decrypt_all(
            &h.state.db,
            &h.state.keys,
            IntegrationModule.encrypted_columns(),
        )
        .await
        .unwrap();
        assert_eq!(read, 1, "{b}");
        h.stop().await;
    }
}
