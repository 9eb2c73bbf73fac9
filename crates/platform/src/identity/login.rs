//! Sign-in with lockout kept in the database (unknown logins fail alike), logout and the
//! caller's password change.

use super::{
    Evict, LOCKOUT_MICROS, MAX_FAILED_LOGINS, SESSION_ABSOLUTE_MICROS, SessionRow, evict_sessions,
    load_grants,
};
use crate::audit::{self, AuditEntry};
use crate::crypto::{random_token, sha256_hex};
use crate::password;
use std::sync::Arc;
use yiyang_core::{Actor, ActorKind, AppError, AppResult, Clock, RequestContext};
use yiyang_store::{Db, args};

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
