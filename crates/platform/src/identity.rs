//! Accounts, roles, sessions and the grants that become a request's permissions and scope.

use crate::audit::{self, AuditEntry};
use crate::crypto::{random_token, sha256_hex};
use crate::password;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use yiyang_core::{Actor, ActorKind, AppError, AppResult, Clock, RequestContext, Scope, perm};
use yiyang_store::{Conn, Db, args};

/// Failed logins before a lockout, and how long it lasts.
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const LOCKOUT_MICROS: i64 = 15 * 60 * 1_000_000;
/// Sessions end after 12 hours, or 2 hours without activity.
pub const SESSION_ABSOLUTE_MICROS: i64 = 12 * 3600 * 1_000_000;
pub const SESSION_IDLE_MICROS: i64 = 2 * 3600 * 1_000_000;

/// Account kinds.
pub const ACCOUNT_KINDS: &[(&str, &str)] = &[("staff", "工作人员"), ("resident", "居民")];

/// Built-in roles: code, zh-CN name, city-wide by default, permissions.
pub const BUILTIN_ROLES: &[(&str, &str, bool, &[&str])] = &[
    (
        "platform_admin",
        "平台管理员",
        true,
        &[
            perm::ORG_READ,
            perm::ORG_WRITE,
            perm::ORG_REVIEW,
            perm::DEPT_READ,
            perm::DEPT_WRITE,
            perm::STAFF_READ,
            perm::STAFF_WRITE,
            perm::STAFF_REVIEW,
            perm::STAFF_READ_UNMASKED,
            perm::ACCOUNT_READ,
            perm::ACCOUNT_WRITE,
            perm::ROLE_MANAGE,
            perm::CLIENT_MANAGE,
            perm::MASKING_MANAGE,
            perm::AUDIT_READ,
            perm::JOBS_READ,
            perm::JOBS_MANAGE,
            perm::PATIENT_READ,
            perm::PATIENT_WRITE,
            perm::PATIENT_READ_UNMASKED,
            perm::PATIENT_MERGE,
            perm::MPI_MANAGE,
            perm::INTEGRATION_READ,
            perm::INTEGRATION_MANAGE,
            perm::CRITICAL_MANAGE,
        ],
    ),
    (
        "org_admin",
        "机构管理员",
        false,
        &[
            perm::ORG_READ,
            perm::ORG_WRITE,
            perm::DEPT_READ,
            perm::DEPT_WRITE,
            perm::STAFF_READ,
            perm::STAFF_WRITE,
            perm::STAFF_READ_UNMASKED,
            perm::ACCOUNT_READ,
            perm::ACCOUNT_WRITE,
            perm::JOBS_READ,
            perm::PATIENT_READ,
            perm::PATIENT_WRITE,
            perm::PATIENT_READ_UNMASKED,
            perm::PATIENT_MERGE,
            perm::INTEGRATION_READ,
            perm::CRITICAL_MANAGE,
        ],
    ),
    (
        "data_reviewer",
        "信息审核员",
        true,
        &[
            perm::ORG_READ,
            perm::ORG_REVIEW,
            perm::DEPT_READ,
            perm::STAFF_READ,
            perm::STAFF_REVIEW,
        ],
    ),
    (
        "security_auditor",
        "安全审计员",
        true,
        &[perm::AUDIT_READ, perm::ORG_READ],
    ),
    (
        "doctor",
        "医生",
        false,
        &[
            perm::ORG_READ,
            perm::DEPT_READ,
            perm::STAFF_READ,
            perm::PATIENT_READ,
            perm::PATIENT_WRITE,
        ],
    ),
    (
        "nurse",
        "护士",
        false,
        &[
            perm::ORG_READ,
            perm::DEPT_READ,
            perm::STAFF_READ,
            perm::PATIENT_READ,
            perm::PATIENT_WRITE,
        ],
    ),
    (
        "caregiver",
        "护理员",
        false,
        &[perm::ORG_READ, perm::PATIENT_READ, perm::PATIENT_WRITE],
    ),
    (
        "pharmacist",
        "药师",
        false,
        &[perm::ORG_READ, perm::DEPT_READ, perm::PATIENT_READ],
    ),
    (
        "insurance_auditor",
        "医保审核员",
        true,
        &[perm::ORG_READ, perm::PATIENT_READ],
    ),
    ("elder", "老人", false, &[perm::RESIDENT_SELF]),
    ("family", "家属", false, &[perm::RESIDENT_SELF]),
];

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

/// Seeds the built-in roles and their permissions (idempotent; built-in permission sets are reset).
pub async fn seed_roles(db: &Db) -> AppResult<()> {
    let mut tx = db.begin().await?;
    for (code, name, city, perms) in BUILTIN_ROLES {
        let id = tx
            .scalar(
                "INSERT INTO roles (code, name, description, builtin, city_wide) VALUES ($1, $2, '', TRUE, $3) \
                 ON CONFLICT (code) DO UPDATE SET name = $2 RETURNING id",
                args![*code, *name, *city],
            )
            .await?;
        for p in perms.iter() {
            tx.execute(
                "INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                args![id, *p],
            )
            .await?;
        }
    }
    tx.commit().await?;
    evict_sessions(Evict::All);
    Ok(())
}

/// Active accounts holding `permission` for the institution (granted there or city-wide):
/// the people a piece of work for that institution should reach.
pub async fn holders_of(mut db: impl Conn, permission: &str, org_id: i64) -> AppResult<Vec<i64>> {
    let rows: Vec<(i64,)> = db
        .fetch_all(
            "SELECT DISTINCT ar.account_id FROM account_roles ar JOIN role_permissions rp ON rp.role_id = ar.role_id \
             JOIN accounts a ON a.id = ar.account_id \
             WHERE rp.permission = $1 AND a.status = 'active' AND (ar.org_id IS NULL OR ar.org_id = $2) ORDER BY ar.account_id",
            args![permission, org_id],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Loads roles and grants of an account into (actor roles, grants).
pub async fn load_grants(
    db: &Db,
    account_id: i64,
) -> AppResult<(Vec<String>, Vec<(String, Scope)>)> {
    let rows: Vec<(String, Option<i64>, Option<String>)> = db
        .fetch_all(
            "SELECT r.code, ar.org_id, rp.permission FROM account_roles ar JOIN roles r ON r.id = ar.role_id \
             LEFT JOIN role_permissions rp ON rp.role_id = r.id WHERE ar.account_id = $1 ORDER BY ar.id",
            args![account_id],
        )
        .await?;
    let mut roles: Vec<String> = Vec::new();
    let mut grants = Vec::new();
    for (role, org, p) in rows {
        if !roles.contains(&role) {
            roles.push(role);
        }
        if let Some(p) = p {
            let scope = match org {
                None => Scope::City,
                Some(o) => Scope::Orgs(BTreeSet::from([o])),
            };
            grants.push((p, scope));
        }
    }
    Ok((roles, grants))
}

/// Builds the context of a signed-in account.
pub async fn account_context(
    db: &Db,
    clock: Arc<dyn Clock>,
    s: &SessionRow,
    request_id: String,
    client_addr: Option<String>,
) -> AppResult<RequestContext> {
    let (roles, grants) = load_grants(db, s.account_id).await?;
    Ok(RequestContext {
        actor: Actor {
            kind: ActorKind::Account,
            id: s.account_id,
            login: s.login.clone(),
            display_name: s.display_name.clone(),
            roles,
            org_id: s.org_id,
        },
        grants: Arc::new(grants),
        clock,
        request_id,
        client_addr,
    })
}

/// The result of a successful login.
#[derive(Debug, Clone)]
pub struct LoginOk {
    pub token: String,
    pub account_id: i64,
    pub must_change_password: bool,
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    id: i64,
    password_hash: String,
    failed_attempts: i64,
    locked_until: Option<i64>,
    status: String,
    must_change_password: bool,
    org_id: Option<i64>,
}

fn bad_credentials(failed: i64) -> AppError {
    AppError::new("auth.invalid_credentials", 401, "用户名或密码错误").with_details(
        serde_json::json!({ "remaining_attempts": (MAX_FAILED_LOGINS - failed).max(0) }),
    )
}

fn locked_error(now: i64, until: i64) -> AppError {
    let minutes = (until - now + 59_999_999) / 60_000_000;
    AppError::new(
        "auth.locked",
        423,
        format!("连续登录失败次数过多，账号已锁定，请{minutes}分钟后再试"),
    )
    .with_details(serde_json::json!({ "locked_until": until }))
}

/// A login that is no account fails exactly as a real one does: the same password hashing
/// time, the same remaining-attempts count, the same lockout after five failures.
async fn unknown_login(
    db: &Db,
    now: i64,
    login: &str,
    password_input: &str,
    audit: AuditEntry,
) -> AppResult<LoginOk> {
    let pw = password_input.to_string();
    tokio::task::spawn_blocking(move || password::verify(&pw, password::dummy_hash()))
        .await
        .ok();
    let key: String = login.to_lowercase().chars().take(128).collect();
    let mut tx = db.begin().await?;
    let row: Option<(i64, Option<i64>)> = tx
        .fetch_optional(
            "SELECT failed_attempts, locked_until FROM login_failures WHERE login_key = $1",
            args![&key],
        )
        .await?;
    if let Some((_, Some(until))) = row
        && until > now
    {
        return Err(locked_error(now, until));
    }
    let failed = row.map(|r| r.0).unwrap_or(0) + 1;
    let (stored, until) = if failed >= MAX_FAILED_LOGINS {
        (0, Some(now + LOCKOUT_MICROS))
    } else {
        (failed, None)
    };
    tx.execute(
        "INSERT INTO login_failures (login_key, failed_attempts, locked_until, last_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (login_key) DO UPDATE SET failed_attempts = $2, locked_until = $3, last_at = $4",
        args![&key, stored, until, now],
    )
    .await?;
    audit::append(&mut tx, &[audit]).await?;
    tx.commit().await?;
    match until {
        Some(u) => Err(locked_error(now, u)),
        None => Err(bad_credentials(failed)),
    }
}

/// Checks credentials, enforces lockout (kept in the database), opens a session.
pub async fn login(
    db: &Db,
    ctx: &RequestContext,
    login: &str,
    password_input: &str,
    user_agent: &str,
) -> AppResult<LoginOk> {
    let now = ctx.clock.now_micros();
    let login = login.trim();
    let row: Option<LoginRow> = db
        .fetch_optional(
            "SELECT id, password_hash, failed_attempts, locked_until, status, must_change_password, org_id FROM accounts WHERE login = $1",
            args![login],
        )
        .await?;
    let audit_fail = |id: i64, org: Option<i64>, why: &str| {
        let mut e = AuditEntry::new(ctx, "auth.login", "account", id)
            .outcome("failure")
            .org(org);
        e.actor_login = login.to_string();
        e.actor_id = id;
        e.details(serde_json::json!({ "reason": why }))
    };
    let Some(row) = row else {
        return unknown_login(
            db,
            now,
            login,
            password_input,
            audit_fail(0, None, "unknown_login"),
        )
        .await;
    };
    if let Some(until) = row.locked_until
        && until > now
    {
        return Err(locked_error(now, until));
    }
    let (pw, hash) = (password_input.to_string(), row.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .map_err(AppError::internal)?;
    let mut tx = db.begin().await?;
    if !ok {
        let failed = row.failed_attempts + 1;
        if failed >= MAX_FAILED_LOGINS {
            tx.execute(
                "UPDATE accounts SET failed_attempts = 0, locked_until = $1 WHERE id = $2",
                args![now + LOCKOUT_MICROS, row.id],
            )
            .await?;
            audit::append(&mut tx, &[audit_fail(row.id, row.org_id, "locked")]).await?;
            tx.commit().await?;
            return Err(locked_error(now, now + LOCKOUT_MICROS));
        }
        tx.execute(
            "UPDATE accounts SET failed_attempts = $1 WHERE id = $2",
            args![failed, row.id],
        )
        .await?;
        audit::append(&mut tx, &[audit_fail(row.id, row.org_id, "bad_password")]).await?;
        tx.commit().await?;
        return Err(bad_credentials(failed));
    }
    // Only someone who knows the password learns that the account is disabled.
    if row.status != "active" {
        return Err(AppError::new(
            "auth.disabled",
            403,
            "账号已停用，请联系管理员",
        ));
    }
    let token = random_token();
    let csrf = random_token();
    tx.execute(
        "UPDATE accounts SET failed_attempts = 0, locked_until = NULL WHERE id = $1",
        args![row.id],
    )
    .await?;
    let sid = tx
        .scalar(
            "INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, expires_at, last_seen_at, client_addr, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $4, $6, $7) RETURNING id",
            args![
                sha256_hex(token.as_bytes()),
                row.id,
                csrf,
                now,
                now + SESSION_ABSOLUTE_MICROS,
                ctx.client_addr.clone().unwrap_or_default(),
                user_agent.chars().take(200).collect::<String>()
            ],
        )
        .await?;
    let mut e = AuditEntry::new(ctx, "auth.login", "session", sid).org(row.org_id);
    e.actor_login = login.to_string();
    e.actor_id = row.id;
    audit::append(&mut tx, &[e]).await?;
    tx.commit().await?;
    Ok(LoginOk {
        token,
        account_id: row.id,
        must_change_password: row.must_change_password,
    })
}

/// Finds the live session of a cookie token; refreshes its idle timer at most once a minute.
pub async fn resolve_session(
    db: &Db,
    clock: &dyn Clock,
    token: &str,
) -> AppResult<Option<SessionRow>> {
    let now = clock.now_micros();
    let row: Option<SessionRow> = db
        .fetch_optional(
            "SELECT s.id, s.account_id, s.csrf_token, s.expires_at, s.last_seen_at, a.login, a.display_name, a.org_id, \
             a.status, a.must_change_password, a.large_text FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL",
            args![sha256_hex(token.as_bytes())],
        )
        .await?;
    let Some(s) = row else { return Ok(None) };
    if s.expires_at <= now || s.last_seen_at + SESSION_IDLE_MICROS <= now || s.status != "active" {
        return Ok(None);
    }
    if now - s.last_seen_at > 60_000_000 {
        db.execute(
            "UPDATE sessions SET last_seen_at = $1 WHERE id = $2",
            args![now, s.id],
        )
        .await?;
    }
    Ok(Some(s))
}

/// How long a resolved session (account, roles, grants) is reused without a database round
/// trip. Logout, password change or reset, disabling an account and role or permission
/// changes made through this node evict the affected entries at once; the same changes made
/// through another node (or the CLI) take effect here within this bound.
pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(1);
const SESSION_CACHE_MAX: usize = 10_000;

/// A live session with its account's roles and grants, as the auth middleware needs it.
#[derive(Debug)]
pub struct ResolvedSession {
    pub session: SessionRow,
    pub roles: Vec<String>,
    pub grants: Arc<Vec<(String, Scope)>>,
}

struct CachedSession {
    at: Instant,
    s: Arc<ResolvedSession>,
}

/// Process-wide (this node's) cache of resolved sessions, keyed by token hash. `generation`
/// is bumped by every eviction so that a lookup which raced with a revocation does not put
/// the stale result back.
struct SessionCache {
    generation: AtomicU64,
    map: Mutex<HashMap<String, CachedSession>>,
}

static SESSION_CACHE: LazyLock<SessionCache> = LazyLock::new(|| SessionCache {
    generation: AtomicU64::new(0),
    map: Mutex::new(HashMap::new()),
});

/// Which cached sessions to drop.
#[derive(Debug, Clone, Copy)]
pub enum Evict {
    Session(i64),
    Account(i64),
    All,
}

/// Drops cached sessions; call after the change is committed.
pub fn evict_sessions(which: Evict) {
    let c = &*SESSION_CACHE;
    c.generation.fetch_add(1, Ordering::SeqCst);
    let mut m = c.map.lock().unwrap_or_else(|e| e.into_inner());
    match which {
        Evict::Session(id) => m.retain(|_, e| e.s.session.id != id),
        Evict::Account(id) => m.retain(|_, e| e.s.session.account_id != id),
        Evict::All => m.clear(),
    }
}

/// [`resolve_session`] plus [`load_grants`], served from a cache entry at most
/// [`SESSION_CACHE_TTL`] old. Expiry (absolute and idle) is checked against `clock` on every
/// call; the idle timer is refreshed in the database by the lookups that miss the cache.
pub async fn resolve_session_cached(
    db: &Db,
    clock: &dyn Clock,
    token: &str,
) -> AppResult<Option<Arc<ResolvedSession>>> {
    let key = sha256_hex(token.as_bytes());
    let now = clock.now_micros();
    let c = &*SESSION_CACHE;
    {
        let m = c.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = m.get(&key)
            && e.at.elapsed() < SESSION_CACHE_TTL
        {
            let s = &e.s.session;
            if s.expires_at <= now || s.last_seen_at + SESSION_IDLE_MICROS <= now {
                return Ok(None);
            }
            return Ok(Some(e.s.clone()));
        }
    }
    let generation = c.generation.load(Ordering::SeqCst);
    let Some(session) = resolve_session(db, clock, token).await? else {
        return Ok(None);
    };
    let (roles, grants) = load_grants(db, session.account_id).await?;
    let resolved = Arc::new(ResolvedSession {
        session,
        roles,
        grants: Arc::new(grants),
    });
    let mut m = c.map.lock().unwrap_or_else(|e| e.into_inner());
    if c.generation.load(Ordering::SeqCst) == generation {
        if m.len() >= SESSION_CACHE_MAX {
            m.retain(|_, e| e.at.elapsed() < SESSION_CACHE_TTL);
            if m.len() >= SESSION_CACHE_MAX {
                m.clear();
            }
        }
        m.insert(
            key,
            CachedSession {
                at: Instant::now(),
                s: resolved.clone(),
            },
        );
    }
    Ok(Some(resolved))
}

/// Ends a session.
pub async fn logout(db: &Db, ctx: &RequestContext, session_id: i64) -> AppResult<()> {
    let mut tx = db.begin().await?;
    tx.execute(
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        args![ctx.clock.now_micros(), session_id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "auth.logout", "session", session_id)],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Session(session_id));
    Ok(())
}

/// Changes the caller's password and ends their other sessions.
pub async fn change_password(
    db: &Db,
    ctx: &RequestContext,
    keep_session: Option<i64>,
    old: &str,
    new: &str,
) -> AppResult<()> {
    let (hash,): (String,) = db
        .fetch_one(
            "SELECT password_hash FROM accounts WHERE id = $1",
            args![ctx.actor.id],
        )
        .await?;
    let old_s = old.to_string();
    let ok = tokio::task::spawn_blocking(move || password::verify(&old_s, &hash))
        .await
        .map_err(AppError::internal)?;
    if !ok {
        return Err(AppError::field(
            "auth.old_password_wrong",
            "old_password",
            "原密码不正确",
        ));
    }
    if old == new {
        return Err(AppError::field(
            "auth.password_reused",
            "new_password",
            "新密码不能与原密码相同",
        ));
    }
    password::check_policy(new, &ctx.actor.login)?;
    let new_hash = password::hash(new)?;
    let now = ctx.clock.now_micros();
    let mut tx = db.begin().await?;
    tx.execute(
        "UPDATE accounts SET password_hash = $1, must_change_password = FALSE, password_changed_at = $2 WHERE id = $3",
        args![new_hash, now, ctx.actor.id],
    )
    .await?;
    tx.execute(
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL AND id <> $3",
        args![now, ctx.actor.id, keep_session.unwrap_or(0)],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(
            ctx,
            "auth.change_password",
            "account",
            ctx.actor.id,
        )],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Account(ctx.actor.id));
    Ok(())
}

/// Input for creating an account.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewAccount {
    pub login: String,
    pub display_name: String,
    #[serde(default = "staff_kind")]
    pub kind: String,
    pub org_id: Option<i64>,
    #[serde(default)]
    pub phone: String,
    pub password: String,
    /// Role code to grant in `org_id` (city-wide when `org_id` is empty).
    pub role: String,
    #[serde(default)]
    pub must_change_password: bool,
}

fn staff_kind() -> String {
    "staff".into()
}

fn validate_login(login: &str) -> AppResult<()> {
    let ok = (3..=40).contains(&login.len())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AppError::field(
            "account.login_invalid",
            "login",
            "登录名须为3-40位字母、数字或 _ . -",
        ))
    }
}

/// Whether the caller may manage accounts of `org_id` (city-wide accounts need city scope).
fn require_account_admin(ctx: &RequestContext, org_id: Option<i64>) -> AppResult<()> {
    let scope = ctx.require(perm::ACCOUNT_WRITE)?;
    let ok = match org_id {
        Some(o) => scope.allows(o),
        None => scope == Scope::City,
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::forbidden(perm::ACCOUNT_WRITE))
    }
}

/// Creates an account with one role assignment. `ctx` must hold `account.write` for the institution.
pub async fn create_account(db: &Db, ctx: &RequestContext, a: &NewAccount) -> AppResult<i64> {
    let login = a.login.trim();
    validate_login(login)?;
    {
        use yiyang_core::text::{Checks, Kind};
        Checks::new()
            .text("display_name", "姓名", &a.display_name, 40, Kind::Name)
            .text("phone", "手机号", &a.phone, 32, Kind::Line)
            .finish()?;
    }
    if a.display_name.trim().is_empty() {
        return Err(AppError::field(
            "account.name_required",
            "display_name",
            "请填写姓名",
        ));
    }
    if !ACCOUNT_KINDS.iter().any(|(k, _)| *k == a.kind) {
        return Err(AppError::field(
            "account.kind_invalid",
            "kind",
            "账号类型不存在",
        ));
    }
    require_account_admin(ctx, a.org_id)?;
    password::check_policy(&a.password, login)?;
    let role: Option<(i64, bool)> = db
        .fetch_optional(
            "SELECT id, city_wide FROM roles WHERE code = $1",
            args![a.role.trim()],
        )
        .await?;
    let Some((role_id, city_wide)) = role else {
        return Err(AppError::field(
            "account.role_missing",
            "role",
            "角色不存在",
        ));
    };
    if city_wide && ctx.scope_of(perm::ACCOUNT_WRITE) != Some(Scope::City) {
        return Err(AppError::forbidden(perm::ACCOUNT_WRITE));
    }
    if !city_wide && a.org_id.is_none() {
        return Err(AppError::field(
            "account.org_required",
            "org_id",
            "该角色须指定所属机构",
        ));
    }
    let hash = password::hash(&a.password)?;
    let now = ctx.clock.now_micros();
    let mut tx = db.begin().await?;
    let exists: Option<(i64,)> = tx
        .fetch_optional("SELECT id FROM accounts WHERE login = $1", args![login])
        .await?;
    if exists.is_some() {
        return Err(AppError::conflict("account.login_taken", "登录名已被使用"));
    }
    let id = tx
        .scalar(
            "INSERT INTO accounts (login, display_name, kind, org_id, phone, password_hash, must_change_password, created_at, password_changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
            args![login, a.display_name.trim(), &a.kind, a.org_id, a.phone.trim(), hash, a.must_change_password, now],
        )
        .await?;
    let grant_org = if city_wide { None } else { a.org_id };
    tx.execute(
        "INSERT INTO account_roles (account_id, role_id, org_id) VALUES ($1, $2, $3)",
        args![id, role_id, grant_org],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "account.create", "account", id)
            .org(a.org_id)
            .details(serde_json::json!({"login": login, "role": a.role, "org_id": a.org_id}))],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Sets a new password chosen by an administrator; the user must change it at next login.
pub async fn reset_password(
    db: &Db,
    ctx: &RequestContext,
    account_id: i64,
    new_password: &str,
) -> AppResult<()> {
    let acc = get_account(db, ctx, account_id).await?;
    require_account_admin(ctx, acc.org_id)?;
    password::check_policy(new_password, &acc.login)?;
    let hash = password::hash(new_password)?;
    let now = ctx.clock.now_micros();
    let mut tx = db.begin().await?;
    tx.execute(
        "UPDATE accounts SET password_hash = $1, must_change_password = TRUE, failed_attempts = 0, locked_until = NULL, password_changed_at = $2 WHERE id = $3",
        args![hash, now, account_id],
    )
    .await?;
    tx.execute(
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        args![now, account_id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "account.reset_password", "account", account_id).org(acc.org_id)],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Account(account_id));
    Ok(())
}

/// Enables, disables or unlocks an account.
pub async fn set_account_status(
    db: &Db,
    ctx: &RequestContext,
    account_id: i64,
    status: &str,
) -> AppResult<()> {
    let acc = get_account(db, ctx, account_id).await?;
    require_account_admin(ctx, acc.org_id)?;
    if account_id == ctx.actor.id {
        return Err(AppError::validation(
            "account.self",
            "不能停用或解锁自己的账号",
        ));
    }
    let now = ctx.clock.now_micros();
    let mut tx = db.begin().await?;
    match status {
        "active" | "disabled" => {
            tx.execute(
                "UPDATE accounts SET status = $1 WHERE id = $2",
                args![status, account_id],
            )
            .await?;
            if status == "disabled" {
                tx.execute("UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL", args![now, account_id])
                    .await?;
            }
        }
        "unlock" => {
            tx.execute(
                "UPDATE accounts SET locked_until = NULL, failed_attempts = 0 WHERE id = $1",
                args![account_id],
            )
            .await?;
        }
        _ => {
            return Err(AppError::field(
                "account.status_invalid",
                "status",
                "账号状态不正确",
            ));
        }
    }
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, &format!("account.{status}"), "account", account_id)
                .org(acc.org_id),
        ],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Account(account_id));
    Ok(())
}

/// One account, if within the caller's `account.read` scope.
pub async fn get_account(db: &Db, ctx: &RequestContext, id: i64) -> AppResult<Account> {
    let scope = ctx.require(perm::ACCOUNT_READ)?;
    let acc: Option<Account> = db
        .fetch_optional(
            &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1"),
            args![id],
        )
        .await?;
    match acc {
        Some(a) if a.org_id.map_or(scope == Scope::City, |o| scope.allows(o)) => Ok(a),
        _ => Err(AppError::not_found("account")),
    }
}

/// Accounts within the caller's scope, optionally filtered by login or name.
pub async fn list_accounts(
    db: &Db,
    ctx: &RequestContext,
    q: Option<&str>,
) -> AppResult<Vec<Account>> {
    Ok(
        list_accounts_page(db, ctx, q, &yiyang_store::Window::first(500))
            .await?
            .rows,
    )
}

/// Columns the account list sorts by.
pub const ACCOUNT_SORTS: &[yiyang_store::Sort] = &[
    yiyang_store::Sort {
        key: "login",
        sql: "login",
    },
    yiyang_store::Sort {
        key: "display_name",
        sql: "display_name",
    },
    yiyang_store::Sort {
        key: "created_at",
        sql: "created_at",
    },
];

/// Accounts in the caller's scope, one window and the number matching.
pub async fn list_accounts_page(
    db: &Db,
    ctx: &RequestContext,
    q: Option<&str>,
    w: &yiyang_store::Window,
) -> AppResult<yiyang_store::Paged<Account>> {
    let scope = ctx.require(perm::ACCOUNT_READ)?;
    let mut f = yiyang_store::Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    if let Some(q) = q.map(str::trim).filter(|s| !s.is_empty()) {
        let p = yiyang_store::like_pattern(q);
        let a = f.next();
        f.args.push(p.into());
        f.raw(&format!(
            "(LOWER(login) LIKE {a} ESCAPE '\\' OR display_name LIKE {a} ESCAPE '\\')"
        ));
    }
    let where_sql = f.sql();
    let total = db
        .scalar(
            &format!("SELECT COUNT(*) FROM accounts{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "id");
    let rows = db
        .fetch_all(
            &format!("SELECT {ACCOUNT_COLS} FROM accounts{where_sql}{tail}"),
            f.args,
        )
        .await?;
    Ok(yiyang_store::Paged::exact(rows, total))
}

pub async fn assignments(db: &Db, account_ids: &[i64]) -> AppResult<Vec<Assignment>> {
    let mut f = yiyang_store::Filter::new();
    f.any_of("ar.account_id", account_ids);
    db.fetch_all(
        &format!(
            "SELECT ar.id, ar.account_id, r.code AS role_code, r.name AS role_name, ar.org_id, o.name AS org_name \
             FROM account_roles ar JOIN roles r ON r.id = ar.role_id LEFT JOIN orgs o ON o.id = ar.org_id{} ORDER BY ar.id",
            f.sql()
        ),
        f.args,
    )
    .await
}

/// Grants a role to an account in an institution (or city-wide).
pub async fn grant_role(
    db: &Db,
    ctx: &RequestContext,
    account_id: i64,
    role: &str,
    org_id: Option<i64>,
) -> AppResult<()> {
    let acc = get_account(db, ctx, account_id).await?;
    let (role_id, city_wide): (i64, bool) = db
        .fetch_optional(
            "SELECT id, city_wide FROM roles WHERE code = $1",
            args![role],
        )
        .await?
        .ok_or_else(|| AppError::field("account.role_missing", "role", "角色不存在"))?;
    let org = if city_wide {
        None
    } else {
        org_id.or(acc.org_id)
    };
    require_account_admin(ctx, org)?;
    if !city_wide && org.is_none() {
        return Err(AppError::field(
            "account.org_required",
            "org_id",
            "该角色须指定所属机构",
        ));
    }
    let mut tx = db.begin().await?;
    let dup: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM account_roles WHERE account_id = $1 AND role_id = $2 AND COALESCE(org_id, 0) = $3",
            args![account_id, role_id, org.unwrap_or(0)],
        )
        .await?;
    if dup.is_some() {
        return Err(AppError::conflict(
            "account.role_exists",
            "该账号已拥有此角色",
        ));
    }
    tx.execute(
        "INSERT INTO account_roles (account_id, role_id, org_id) VALUES ($1, $2, $3)",
        args![account_id, role_id, org],
    )
    .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "account.grant_role", "account", account_id)
                .org(org)
                .details(serde_json::json!({"role": role, "org_id": org})),
        ],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Account(account_id));
    Ok(())
}

/// Removes one role assignment.
pub async fn revoke_role(db: &Db, ctx: &RequestContext, assignment_id: i64) -> AppResult<()> {
    let row: Option<(i64, Option<i64>)> = db
        .fetch_optional(
            "SELECT account_id, org_id FROM account_roles WHERE id = $1",
            args![assignment_id],
        )
        .await?;
    let Some((account_id, org)) = row else {
        return Err(AppError::not_found("assignment"));
    };
    get_account(db, ctx, account_id).await?;
    require_account_admin(ctx, org)?;
    if account_id == ctx.actor.id {
        return Err(AppError::validation("account.self", "不能撤销自己的角色"));
    }
    let mut tx = db.begin().await?;
    tx.execute(
        "DELETE FROM account_roles WHERE id = $1",
        args![assignment_id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "account.revoke_role", "account", account_id)
                .org(org)
                .details(serde_json::json!({"assignment": assignment_id})),
        ],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::Account(account_id));
    Ok(())
}

pub async fn list_roles(db: &Db) -> AppResult<Vec<Role>> {
    db.fetch_all(
        "SELECT id, code, name, description, builtin, city_wide FROM roles ORDER BY id",
        vec![],
    )
    .await
}

pub async fn role_permissions(db: &Db) -> AppResult<Vec<(i64, String)>> {
    db.fetch_all(
        "SELECT role_id, permission FROM role_permissions ORDER BY role_id, permission",
        vec![],
    )
    .await
}

/// Input for a custom role.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RoleInput {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub city_wide: bool,
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// Creates or updates a role and its permissions (`role.manage`, city-wide).
pub async fn save_role(db: &Db, ctx: &RequestContext, r: &RoleInput) -> AppResult<i64> {
    if ctx.require(perm::ROLE_MANAGE)? != Scope::City {
        return Err(AppError::forbidden(perm::ROLE_MANAGE));
    }
    let code = r.code.trim();
    if code.is_empty()
        || code.len() > 40
        || !code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(AppError::field(
            "role.code_invalid",
            "code",
            "角色编码须为1-40位小写字母、数字或下划线",
        ));
    }
    if r.name.trim().is_empty() {
        return Err(AppError::field(
            "role.name_required",
            "name",
            "请填写角色名称",
        ));
    }
    if let Some(p) = r.permissions.iter().find(|p| !perm::is_known(p)) {
        return Err(AppError::field(
            "role.permission_unknown",
            "permissions",
            format!("未知权限：{p}"),
        ));
    }
    let mut tx = db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO roles (code, name, description, builtin, city_wide) VALUES ($1, $2, $3, FALSE, $4) \
             ON CONFLICT (code) DO UPDATE SET name = $2, description = $3, city_wide = $4 RETURNING id",
            args![code, r.name.trim(), r.description.trim(), r.city_wide],
        )
        .await?;
    tx.execute("DELETE FROM role_permissions WHERE role_id = $1", args![id])
        .await?;
    for p in &r.permissions {
        tx.execute(
            "INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)",
            args![id, p],
        )
        .await?;
    }
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "role.save", "role", id)
            .details(serde_json::json!({"code": code, "permissions": r.permissions}))],
    )
    .await?;
    tx.commit().await?;
    evict_sessions(Evict::All);
    Ok(id)
}

/// Saves the large-text preference of the caller.
pub async fn set_large_text(db: &Db, ctx: &RequestContext, on: bool) -> AppResult<()> {
    db.execute(
        "UPDATE accounts SET large_text = $1 WHERE id = $2",
        args![on, ctx.actor.id],
    )
    .await?;
    evict_sessions(Evict::Account(ctx.actor.id));
    Ok(())
}
