//! The platform module on its own, through the module test harness (no HTTP server).

use std::sync::Arc;
use yiyang_core::perm;
use yiyang_platform::PlatformModule;
use yiyang_platform::testing::{Harness, backends};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_in_roles_masking_defaults_and_role_contexts() {
    for b in backends() {
        let h = Harness::start(b, vec![Arc::new(PlatformModule::default())]).await;
        let db = &h.state.db;
        let roles = db
            .scalar("SELECT COUNT(*) FROM roles", vec![])
            .await
            .unwrap();
        assert_eq!(roles, 11, "{b}");
        let defaults = db
            .scalar(
                "SELECT COUNT(*) FROM mask_rules WHERE role_code = '*'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(defaults, 5, "{b}: one default rule per declared field kind");
        let auditor = h.ctx("security_auditor", None);
        assert!(auditor.has(perm::AUDIT_READ), "{b}");
        assert!(auditor.require(perm::MASKING_MANAGE).is_err(), "{b}");
        let admin = h.ctx("org_admin", Some(7));
        assert!(admin.has_for(perm::ACCOUNT_WRITE, 7) && !admin.has_for(perm::ACCOUNT_WRITE, 8));
        h.stop().await;
    }
}
