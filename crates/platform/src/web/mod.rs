//! The web shell every module plugs into: shared state, the authentication middleware
//! (session cookie or OAuth bearer token, CSRF check), extractors that hand a handler its
//! [`RequestContext`], error responses, security headers, metrics and the page layout.

pub mod assets;
pub mod chart;
pub mod icons;
pub mod kit;
pub mod labels;
pub mod layout;
pub mod metrics;
pub mod metrics_access;
pub mod pages;
pub mod rejection;

use crate::audit::AuditSink;
use crate::crypto::Keys;
use crate::identity;
use crate::jobs::JobStats;
use crate::masking::Masking;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use yiyang_core::{Actor, ActorKind, AppError, Clock, RequestContext};
use yiyang_store::Db;

pub use layout::NavItem;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Services>);

pub struct Services {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<Keys>,
    pub audit: AuditSink,
    pub masking: Masking,
    pub metrics: Arc<metrics::Metrics>,
    pub job_stats: Arc<JobStats>,
    pub nav: Vec<NavItem>,
    /// The modules of this platform (`module::Registry`).
    pub registry: Arc<crate::module::Registry>,
    /// Mark cookies `Secure` (when served over HTTPS).
    pub cookie_secure: bool,
    /// Who may read `/metrics`.
    pub metrics_access: metrics_access::MetricsAccess,
}

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub const SESSION_COOKIE: &str = "yy_session";
pub const LARGE_TEXT_COOKIE: &str = "yy_lt";

/// The browser session behind a request (absent for bearer tokens).
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: i64,
    pub csrf: String,
    pub must_change_password: bool,
    pub large_text: bool,
}

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Authed {
    pub ctx: RequestContext,
    pub session: Option<SessionInfo>,
}

impl Authed {
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map(|s| s.csrf.as_str()).unwrap_or("")
    }
}

/// Request id and client address, set for every request.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub client_addr: Option<String>,
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

fn new_request_id() -> String {
    let t = crate::crypto::random_token();
    t[..16].to_string()
}

/// Resolves who is calling and checks CSRF for cookie-authenticated writes.
pub async fn auth_middleware(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    let client_addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let meta = RequestMeta {
        request_id: request_id.clone(),
        client_addr: client_addr.clone(),
    };
    req.extensions_mut().insert(meta);
    // `/metrics` has its own token (a scraper is no OAuth client): see `metrics::render`;
    // `/device-api/` carries device credentials (a gateway is no OAuth client either).
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::to_string)
        .filter(|_| {
            req.uri().path() != "/metrics" && !req.uri().path().starts_with("/device-api/")
        });
    let authed = if let Some(token) = bearer {
        match crate::oauth::authenticate(
            &st.db,
            &st.keys,
            st.clock.clone(),
            &token,
            request_id.clone(),
            client_addr.clone(),
        )
        .await
        {
            Ok(ctx) => Some(Authed { ctx, session: None }),
            Err(e) => return api_error_response(&e, &request_id),
        }
    } else if let Some(token) = cookie(req.headers(), SESSION_COOKIE).map(str::to_string) {
        match identity::resolve_session_cached(&st.db, st.clock.as_ref(), &token).await {
            Ok(Some(r)) => {
                let s = &r.session;
                Some(Authed {
                    ctx: RequestContext {
                        actor: Actor {
                            kind: ActorKind::Account,
                            id: s.account_id,
                            login: s.login.clone(),
                            display_name: s.display_name.clone(),
                            roles: r.roles.clone(),
                            org_id: s.org_id,
                        },
                        grants: r.grants.clone(),
                        clock: st.clock.clone(),
                        request_id: request_id.clone(),
                        client_addr: client_addr.clone(),
                    },
                    session: Some(SessionInfo {
                        id: s.id,
                        csrf: s.csrf_token.clone(),
                        must_change_password: s.must_change_password,
                        large_text: s.large_text,
                    }),
                })
            }
            Ok(None) => None,
            Err(e) => return api_error_response(&e, &request_id),
        }
    } else {
        None
    };
    if let Some(Authed {
        session: Some(s), ..
    }) = &authed
        && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
    {
        match check_csrf(req, &s.csrf).await {
            Ok(r) => req = r,
            Err(resp) => return resp,
        }
    }
    let page = is_page_path(req.uri().path());
    let page_user = authed
        .as_ref()
        .filter(|a| page && a.session.is_some())
        .cloned();
    if let Some(a) = authed {
        req.extensions_mut().insert(a);
    }
    let mut resp = next.run(req).await;
    if page && let Some(e) = page_error(&resp) {
        let status = resp.status();
        let body = match &page_user {
            Some(a) => layout::error_in_shell(&st.nav, a, &e),
            None => layout::error_page(&e),
        };
        resp = (status, body).into_response();
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Paths whose errors people read as pages (not the JSON API, assets or probes).
fn is_page_path(path: &str) -> bool {
    ![
        "/api/",
        "/assets/",
        "/oauth/",
        "/metrics",
        "/healthz",
        "/readyz",
        "/device-api/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// Marks a response drawn by [`PageError`], so it can be redrawn inside the layout.
#[derive(Debug, Clone)]
struct ErrorMarker(AppError);

/// The error an HTML page must show instead of `resp`: an error page (drawn again inside
/// the layout for a signed-in user), an unknown path (axum's empty 404) or an extractor's
/// rejection (English `text/plain`, e.g. `/orgs/abc`), which becomes a zh-CN page.
fn page_error(resp: &Response) -> Option<AppError> {
    if let Some(ErrorMarker(e)) = resp.extensions().get::<ErrorMarker>() {
        return Some(e.clone());
    }
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let plain = match resp.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|v| v.starts_with("text/plain")),
    };
    if !plain {
        return None;
    }
    Some(match status.as_u16() {
        404 => AppError::new("common.page_not_found", 404, "页面不存在"),
        405 => AppError::new(
            "common.method_not_allowed",
            405,
            "不支持以这种方式访问此页面",
        ),
        413 => AppError::new("common.body_too_large", 413, "提交的内容太大"),
        415 => AppError::new(
            "common.unsupported_media_type",
            415,
            "提交的内容格式不受支持",
        ),
        s if s < 500 => AppError::new(
            "common.bad_request",
            s,
            "请求有误：地址中的编号或提交的内容格式不正确",
        ),
        s => AppError::new("common.internal", s, "系统内部错误，请稍后重试"),
    })
}

/// Accepts the token in the `x-csrf-token` header, the `_csrf` query parameter (multipart
/// uploads) or the `_csrf` field of a url-encoded form; the body is put back for the handler.
async fn check_csrf(req: Request, expected: &str) -> Result<Request, Response> {
    let reject = || {
        let e = AppError::new(
            "auth.csrf",
            403,
            "页面已过期或请求来源不可信，请刷新页面后重试",
        );
        api_error_response(&e, "")
    };
    let ok = |v: &str| constant_eq(v.as_bytes(), expected.as_bytes());
    if req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(ok)
    {
        return Ok(req);
    }
    if let Some(q) = req.uri().query()
        && form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "_csrf" && ok(&v))
    {
        return Ok(req);
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if content_type.starts_with("multipart/form-data") {
        return check_multipart_csrf(req, expected).await.ok_or_else(reject);
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(reject());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 2 * 1024 * 1024)
        .await
        .map_err(|_| reject())?;
    if !form_urlencoded::parse(&bytes).any(|(k, v)| k == "_csrf" && ok(&v)) {
        return Err(reject());
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// An upload form carries its token as a `_csrf` field, so it never shows in the address
/// bar. The body is buffered (within the upload limit) and handed on unchanged.
async fn check_multipart_csrf(req: Request, expected: &str) -> Option<Request> {
    use axum::extract::FromRequest;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, UPLOAD_LIMIT).await.ok()?;
    let probe = Request::from_parts(parts.clone(), axum::body::Body::from(bytes.clone()));
    let mut mp = axum::extract::Multipart::from_request(probe, &())
        .await
        .ok()?;
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some("_csrf") {
            let v = field.text().await.ok()?;
            return constant_eq(v.as_bytes(), expected.as_bytes())
                .then(|| Request::from_parts(parts, axum::body::Body::from(bytes)));
        }
    }
    None
}

/// The largest request body the platform accepts (uploads of import files and documents).
pub const UPLOAD_LIMIT: usize = 20 * 1024 * 1024;

pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Security headers on every response.
pub async fn security_headers(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    if st.cookie_secure {
        h.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !is_asset && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// JSON error body: `{code, message, details, request_id}`.
pub fn api_error_response(e: &AppError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = serde_json::to_value(e).unwrap_or_default();
    if !request_id.is_empty() {
        body["request_id"] = serde_json::Value::String(request_id.to_string());
    }
    (status, axum::Json(body)).into_response()
}

/// Error type of JSON handlers.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        api_error_response(&self.0, "")
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Error type of HTML handlers: 401 goes to the login page, others render an error page.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.0.status == 401 {
            return Redirect::to("/login").into_response();
        }
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, layout::error_page(&self.0)).into_response();
        resp.extensions_mut().insert(ErrorMarker(self.0));
        resp
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

/// The caller's context, for JSON endpoints (401 when not authenticated).
#[derive(Debug, Clone)]
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Authed>()
            .map(|a| Ctx(a.ctx.clone()))
            .ok_or_else(|| ApiError(AppError::unauthenticated()))
    }
}

/// The signed-in user of an HTML page (redirects to the login page otherwise).
#[derive(Debug, Clone)]
pub struct Page(pub Authed);

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Authed>() {
            Some(a) if a.session.is_some() => Ok(Page(a.clone())),
            _ => Err(PageError(AppError::unauthenticated())),
        }
    }
}

/// Request id and address, for anonymous endpoints (login, token).
#[derive(Debug, Clone)]
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(
            parts
                .extensions
                .get::<RequestMeta>()
                .cloned()
                .unwrap_or(RequestMeta {
                    request_id: new_request_id(),
                    client_addr: None,
                }),
        ))
    }
}

impl AppState {
    /// A context for an anonymous caller (used to audit login attempts).
    pub fn anonymous_ctx(&self, meta: &RequestMeta) -> RequestContext {
        RequestContext {
            actor: Actor {
                kind: ActorKind::Account,
                id: 0,
                login: String::new(),
                display_name: String::new(),
                roles: vec![],
                org_id: None,
            },
            grants: Arc::new(vec![]),
            clock: self.clock.clone(),
            request_id: meta.request_id.clone(),
            client_addr: meta.client_addr.clone(),
        }
    }
}

/// The `Set-Cookie` value for a session token.
pub fn session_cookie(token: &str, secure: bool, max_age_secs: i64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}
