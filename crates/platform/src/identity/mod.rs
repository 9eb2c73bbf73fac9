//! Accounts, roles, sessions and the grants that become a request's permissions and scope.
//!
//! One file per feature, re-exported here, so callers name `identity::…`: `login` (sign-in,
//! lockout, logout, password change), `sessions` (resolving a cookie, the session cache),
//! `accounts` (administration of accounts), `roles` (roles, assignments, grants). The shared
//! rows and limits are here.

mod accounts;
mod login;
mod roles;
mod sessions;

pub use accounts::*;
pub use login::*;
pub use roles::*;
pub use sessions::*;

use serde::Serialize;

/// Failed logins before a lockout, and how long it lasts.
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const LOCKOUT_MICROS: i64 = 15 * 60 * 1_000_000;
/// Sessions end after 12 hours, or 2 hours without activity.
pub const SESSION_ABSOLUTE_MICROS: i64 = 12 * 3600 * 1_000_000;
pub const SESSION_IDLE_MICROS: i64 = 2 * 3600 * 1_000_000;

/// Account kinds.
pub const ACCOUNT_KINDS: &[(&str, &str)] = &[("staff", "工作人员"), ("resident", "居民")];

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Account {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub kind: String,
    pub org_id: Option<i64>,
    pub phone: String,
    pub must_change_password: bool,
    pub failed_attempts: i64,
    pub locked_until: Option<i64>,
    pub status: String,
    pub large_text: bool,
    pub created_at: i64,
}

const ACCOUNT_COLS: &str = "id, login, display_name, kind, org_id, phone, must_change_password, failed_attempts, locked_until, status, large_text, created_at";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Role {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub description: String,
    pub builtin: bool,
    pub city_wide: bool,
}

/// An account's role in an institution (or city-wide when `org_id` is empty).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Assignment {
    pub id: i64,
    pub account_id: i64,
    pub role_code: String,
    pub role_name: String,
    pub org_id: Option<i64>,
    pub org_name: Option<String>,
}

/// A signed-in browser session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub account_id: i64,
    pub csrf_token: String,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub login: String,
    pub display_name: String,
    pub org_id: Option<i64>,
    pub status: String,
    pub must_change_password: bool,
    pub large_text: bool,
}
