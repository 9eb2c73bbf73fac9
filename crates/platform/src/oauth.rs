//! OAuth 2.0 client-credentials for integration clients (HIS, LIS, gateways, partners).
//!
//! Tokens are short-lived HS256-signed JWTs; every use also checks that the client is
//! still active, so revoking a client in the UI takes effect at once.

use crate::audit::{self, AuditEntry};
use crate::crypto::{Keys, random_token, sha256_hex};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use yiyang_core::{Actor, ActorKind, AppError, AppResult, Clock, RequestContext, Scope, perm};
use yiyang_store::{Db, args};

/// Lifetime of an access token.
pub const TOKEN_TTL_SECS: i64 = 600;

/// Scopes a client may be granted: the permissions an integration may use.
pub const CLIENT_SCOPES: &[&str] = &[
    perm::ORG_READ,
    perm::DEPT_READ,
    perm::STAFF_READ,
    perm::PATIENT_READ,
    perm::PATIENT_WRITE,
];

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Client {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub org_id: Option<i64>,
    pub status: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_token_at: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewClient {
    pub name: String,
    pub scopes: Vec<String>,
    pub org_id: Option<i64>,
}

/// Registers a client; returns it with its secret, shown once.
pub async fn register(db: &Db, ctx: &RequestContext, c: &NewClient) -> AppResult<(Client, String)> {
    let scope = ctx.require(perm::CLIENT_MANAGE)?;
    // Every problem of the form at once (a single one keeps its own code).
    let mut checks = yiyang_core::text::Checks::new();
    checks.text(
        "name",
        "客户端名称",
        &c.name,
        80,
        yiyang_core::text::Kind::Name,
    );
    if c.name.trim().is_empty() {
        checks.result::<()>(Err(AppError::field(
            "client.name_required",
            "name",
            "请填写客户端名称",
        )));
    }
    if c.scopes.is_empty() {
        checks.result::<()>(Err(AppError::field(
            "client.scope_required",
            "scopes",
            "请至少选择一个授权范围",
        )));
    } else if let Some(s) = c
        .scopes
        .iter()
        .find(|s| !CLIENT_SCOPES.contains(&s.as_str()))
    {
        checks.result::<()>(Err(AppError::field(
            "client.scope_invalid",
            "scopes",
            format!("不允许的授权范围：{s}"),
        )));
    }
    checks.finish()?;
    match c.org_id {
        Some(o) if !scope.allows(o) => return Err(AppError::forbidden(perm::CLIENT_MANAGE)),
        None if scope != Scope::City => return Err(AppError::forbidden(perm::CLIENT_MANAGE)),
        _ => {}
    }
    let client_id = format!("cli_{}", &random_token()[..16]);
    let secret = random_token();
    let now = ctx.clock.now_micros();
    let mut tx = db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO oauth_clients (client_id, name, secret_hash, scopes, org_id, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING id",
            args![&client_id, c.name.trim(), sha256_hex(secret.as_bytes()), c.scopes.join(" "), c.org_id, now],
        )
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "client.register", "oauth_client", id)
            .org(c.org_id)
            .details(serde_json::json!({"client_id": client_id, "scopes": c.scopes}))],
    )
    .await?;
    tx.commit().await?;
    let client = get(db, id).await?;
    Ok((client, secret))
}

async fn get(db: &Db, id: i64) -> AppResult<Client> {
    db.fetch_optional(
        "SELECT id, client_id, name, scopes, org_id, status, created_at, revoked_at, last_token_at FROM oauth_clients WHERE id = $1",
        args![id],
    )
    .await?
    .ok_or_else(|| AppError::not_found("oauth_client"))
}

pub async fn list(db: &Db, ctx: &RequestContext) -> AppResult<Vec<Client>> {
    let scope = ctx.require(perm::CLIENT_MANAGE)?;
    let mut f = yiyang_store::Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    db.fetch_all(
        &format!("SELECT id, client_id, name, scopes, org_id, status, created_at, revoked_at, last_token_at FROM oauth_clients{} ORDER BY id", f.sql()),
        f.args,
    )
    .await
}

/// Filters of the client list.
#[derive(Debug, Clone, Default)]
pub struct ClientQuery {
    /// A fragment of the name or the client id.
    pub q: Option<String>,
    /// `active` or `revoked`.
    pub status: Option<String>,
}

/// Columns the client list sorts by.
pub const CLIENT_SORTS: &[yiyang_store::Sort] = &[
    yiyang_store::Sort {
        key: "name",
        sql: "name",
    },
    yiyang_store::Sort {
        key: "status",
        sql: "status",
    },
    yiyang_store::Sort {
        key: "created_at",
        sql: "created_at",
    },
    yiyang_store::Sort {
        key: "last_token_at",
        sql: "last_token_at",
    },
];

/// One window of the clients in the caller's `client.manage` scope and their number.
pub async fn list_page(
    db: &Db,
    ctx: &RequestContext,
    q: &ClientQuery,
    win: &yiyang_store::Window,
) -> AppResult<yiyang_store::Paged<Client>> {
    let scope = ctx.require(perm::CLIENT_MANAGE)?;
    let mut f = yiyang_store::Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        yiyang_core::text::one_of("status", "状态", s, &["active", "revoked"])?;
        f.add("status = ?", s);
    }
    if let Some(t) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let a = f.next();
        f.args.push(yiyang_store::like_pattern(t).into());
        f.raw(&format!(
            "(LOWER(name) LIKE {a} ESCAPE '\\' OR LOWER(client_id) LIKE {a} ESCAPE '\\')"
        ));
    }
    let total = db
        .scalar(
            &format!("SELECT COUNT(*) FROM oauth_clients{}", f.sql()),
            f.args.clone(),
        )
        .await?;
    let w = f.sql();
    let tail = win.tail(&mut f, "id DESC");
    let rows = db
        .fetch_all(
            &format!("SELECT id, client_id, name, scopes, org_id, status, created_at, revoked_at, last_token_at FROM oauth_clients{w}{tail}"),
            f.args,
        )
        .await?;
    Ok(yiyang_store::Paged::exact(rows, total))
}

/// Revokes a client: its tokens stop working immediately.
pub async fn revoke(db: &Db, ctx: &RequestContext, id: i64) -> AppResult<()> {
    let scope = ctx.require(perm::CLIENT_MANAGE)?;
    let c = get(db, id).await?;
    if !c.org_id.map_or(scope == Scope::City, |o| scope.allows(o)) {
        return Err(AppError::not_found("oauth_client"));
    }
    if c.status == "revoked" {
        return Err(AppError::new(
            "client.already_revoked",
            409,
            "该客户端已吊销",
        ));
    }
    let mut tx = db.begin().await?;
    tx.execute(
        "UPDATE oauth_clients SET status = 'revoked', revoked_at = $1 WHERE id = $2",
        args![ctx.clock.now_micros(), id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "client.revoke", "oauth_client", id).org(c.org_id)],
    )
    .await?;
    tx.commit().await
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    cid: i64,
    scope: String,
    org: Option<i64>,
    iat: i64,
    exp: i64,
}

/// The token response of RFC 6749 §4.4.3.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

/// Issues a token for valid client credentials; `requested` narrows the scopes.
pub async fn issue_token(
    db: &Db,
    keys: &Keys,
    clock: &dyn Clock,
    client_id: &str,
    secret: &str,
    requested: Option<&str>,
) -> AppResult<TokenResponse> {
    let row: Option<(i64, String, String, Option<i64>, String)> = db
        .fetch_optional("SELECT id, secret_hash, scopes, org_id, status FROM oauth_clients WHERE client_id = $1", args![client_id.trim()])
        .await?;
    let invalid = || AppError::new("oauth.invalid_client", 401, "客户端认证失败");
    let Some((id, hash, scopes, org, status)) = row else {
        return Err(invalid());
    };
    if status != "active" || !constant_eq(sha256_hex(secret.as_bytes()).as_bytes(), hash.as_bytes())
    {
        return Err(invalid());
    }
    let allowed: BTreeSet<&str> = scopes.split_whitespace().collect();
    let granted: Vec<&str> = match requested.map(str::trim).filter(|s| !s.is_empty()) {
        None => allowed.iter().copied().collect(),
        Some(r) => {
            let req: Vec<&str> = r.split_whitespace().collect();
            if let Some(bad) = req.iter().find(|s| !allowed.contains(*s)) {
                return Err(AppError::new(
                    "oauth.invalid_scope",
                    400,
                    format!("未授权的范围：{bad}"),
                ));
            }
            req
        }
    };
    let now = clock.now().timestamp();
    let claims = Claims {
        iss: "yiyang".into(),
        sub: client_id.trim().into(),
        cid: id,
        scope: granted.join(" "),
        org,
        iat: now,
        exp: now + TOKEN_TTL_SECS,
    };
    db.execute(
        "UPDATE oauth_clients SET last_token_at = $1 WHERE id = $2",
        args![clock.now_micros(), id],
    )
    .await?;
    Ok(TokenResponse {
        access_token: sign_jwt(keys, &claims),
        token_type: "Bearer",
        expires_in: TOKEN_TTL_SECS,
        scope: claims.scope,
    })
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn sign_jwt(keys: &Keys, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims"));
    let signing_input = format!("{header}.{payload}");
    let sig = URL_SAFE_NO_PAD.encode(keys.sign(signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

/// Verifies a bearer token and builds the client's request context.
pub async fn authenticate(
    db: &Db,
    keys: &Keys,
    clock: Arc<dyn Clock>,
    token: &str,
    request_id: String,
    client_addr: Option<String>,
) -> AppResult<RequestContext> {
    let invalid = || AppError::new("oauth.invalid_token", 401, "访问令牌无效或已过期");
    let mut parts = token.trim().splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
    if !keys.verify_signature(format!("{h}.{p}").as_bytes(), &sig) {
        return Err(invalid());
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    if claims.exp <= clock.now().timestamp() {
        return Err(invalid());
    }
    let status: Option<(String, String)> = db
        .fetch_optional(
            "SELECT status, name FROM oauth_clients WHERE id = $1",
            args![claims.cid],
        )
        .await?;
    let Some((_, name)) = status.filter(|(s, _)| s == "active") else {
        return Err(invalid());
    };
    let scope = claims
        .org
        .map_or(Scope::City, |o| Scope::Orgs(BTreeSet::from([o])));
    let grants = claims
        .scope
        .split_whitespace()
        .map(|p| (p.to_string(), scope.clone()))
        .collect();
    Ok(RequestContext {
        actor: Actor {
            kind: ActorKind::Client,
            id: claims.cid,
            login: claims.sub,
            display_name: name,
            roles: vec!["integration_client".into()],
            org_id: claims.org,
        },
        grants: Arc::new(grants),
        clock,
        request_id,
        client_addr,
    })
}
