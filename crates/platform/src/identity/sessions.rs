//! Resolving a session cookie, and this node's short-lived cache of resolved sessions.

use super::{SESSION_IDLE_MICROS, SessionRow, load_grants};
use crate::crypto::sha256_hex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use yiyang_core::{AppResult, Clock, Scope};
use yiyang_store::{Db, args};

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
