//! Base data as a module of the registry.

use crate::service;
use axum::Router;
use std::sync::Arc;
use utoipa::OpenApi;
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::jobs::Handler;
use yiyang_platform::module::{
    BoxFut, Card, EncryptedColumn, ErrorCode, Module, Permission, Schedule,
};
use yiyang_platform::web::{AppState, NavItem};
use yiyang_store::Migration;

pub struct BasedataModule;

const fn p(name: &'static str, label: &'static str, roles: &'static [&'static str]) -> Permission {
    Permission { name, label, roles }
}

const PERMISSIONS: &[Permission] = &[
    p(
        perm::ORG_READ,
        "查看机构",
        &[
            "platform_admin",
            "org_admin",
            "data_reviewer",
            "security_auditor",
            "doctor",
            "nurse",
            "caregiver",
            "pharmacist",
            "insurance_auditor",
        ],
    ),
    p(
        perm::ORG_WRITE,
        "录入/修改机构",
        &["platform_admin", "org_admin"],
    ),
    p(
        perm::ORG_REVIEW,
        "审核机构",
        &["platform_admin", "data_reviewer"],
    ),
    p(
        perm::DEPT_READ,
        "查看科室",
        &[
            "platform_admin",
            "org_admin",
            "data_reviewer",
            "doctor",
            "nurse",
            "pharmacist",
        ],
    ),
    p(
        perm::DEPT_WRITE,
        "维护科室",
        &["platform_admin", "org_admin"],
    ),
    p(
        perm::STAFF_READ,
        "查看人员",
        &[
            "platform_admin",
            "org_admin",
            "data_reviewer",
            "doctor",
            "nurse",
        ],
    ),
    p(
        perm::STAFF_WRITE,
        "录入/修改人员",
        &["platform_admin", "org_admin"],
    ),
    p(
        perm::STAFF_REVIEW,
        "审核人员",
        &["platform_admin", "data_reviewer"],
    ),
    p(
        perm::STAFF_READ_UNMASKED,
        "查看人员明文信息",
        &["platform_admin", "org_admin"],
    ),
];

/// Columns this module encrypts with the data key (re-encrypted by `keys rewrap`).
const ENCRYPTED: &[EncryptedColumn] = &[EncryptedColumn {
    table: "staff",
    id_column: "id",
    cipher_column: "id_cipher",
    nullable: false,
}];

/// An entry of this module's group.
fn nav_item(
    href: &'static str,
    label: &'static str,
    permission: &'static str,
    icon: &'static str,
) -> NavItem {
    yiyang_platform::web::layout::nav_item(href, label, "基础信息", Some(permission), icon)
}

impl Module for BasedataModule {
    fn name(&self) -> &'static str {
        "basedata"
    }
    fn title(&self) -> &'static str {
        "基础信息"
    }
    fn migrations(&self) -> &'static [Migration] {
        crate::schema::MIGRATIONS
    }
    fn routes(&self) -> Router<AppState> {
        crate::pages::routes().merge(crate::api::routes())
    }
    fn nav(&self) -> Vec<NavItem> {
        vec![
            nav_item("/orgs", "机构信息", perm::ORG_READ, "building"),
            nav_item("/staff", "人员信息", perm::STAFF_READ, "idcard"),
            nav_item("/review", "待审核", perm::ORG_REVIEW, "check"),
            nav_item("/import", "批量导入", perm::STAFF_WRITE, "upload"),
        ]
    }
    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        Some(crate::api::ApiDoc::openapi())
    }
    fn error_codes(&self) -> &'static [ErrorCode] {
        crate::errors::ERROR_CODES
    }
    fn permissions(&self) -> &'static [Permission] {
        PERMISSIONS
    }
    fn encrypted_columns(&self) -> &'static [EncryptedColumn] {
        ENCRYPTED
    }
    fn jobs(&self, st: &AppState) -> Vec<(&'static str, Handler)> {
        let s = st.clone();
        let licence: Handler = Arc::new(move |_| {
            let s = s.clone();
            Box::pin(async move {
                service::warn_expiring_licences(&s)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.message)
            })
        });
        vec![(service::LICENCE_JOB, licence)]
    }
    fn schedules(&self) -> &'static [Schedule] {
        &[Schedule {
            name: "证照到期提醒",
            job: service::LICENCE_JOB,
            cron: "0 0 8 * * *",
        }]
    }
    fn home_cards<'a>(
        &'a self,
        st: &'a AppState,
        ctx: &'a RequestContext,
    ) -> BoxFut<'a, AppResult<Vec<Card>>> {
        Box::pin(crate::dashboard::home_cards(st, ctx))
    }
    fn home_charts<'a>(
        &'a self,
        st: &'a AppState,
        ctx: &'a RequestContext,
    ) -> BoxFut<'a, AppResult<Vec<yiyang_platform::web::chart::Chart>>> {
        Box::pin(crate::dashboard::home_charts(st, ctx))
    }
}
