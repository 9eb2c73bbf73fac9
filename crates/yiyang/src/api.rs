//! Platform JSON API (auth, OAuth token, accounts, audit, masking, jobs, inbox) and the
//! merged OpenAPI document.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::OpenApi;
use yiyang_core::AppError;
use yiyang_platform::audit::{self, AuditQuery, AuditRow};
use yiyang_platform::identity::{self, Account, NewAccount};
use yiyang_platform::masking::{Algorithm, Rule};
use yiyang_platform::notify::{self, InboxItem};
use yiyang_platform::oauth::{self, TokenResponse};
use yiyang_platform::paging::{ApiPage, PageQuery};
use yiyang_platform::web::{ApiError, ApiResult, AppState, Ctx, Meta, session_cookie};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/oauth/token", post(token))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/me", get(me))
        .route("/api/v1/accounts", get(list_accounts).post(create_account))
        .route("/api/v1/audit", get(search_audit))
        .route("/api/v1/masking/algorithms", get(list_algorithms))
        .route("/api/v1/masking/rules", get(list_rules))
        .route("/api/v1/inbox", get(inbox))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginInput {
    pub login: String,
    pub password: String,
}

/// 登录；设置会话 Cookie，并返回写请求所需的 CSRF 令牌。
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "身份与访问", request_body = LoginInput, responses((status = 200), (status = 401), (status = 423)))]
pub async fn login(
    State(st): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Json(i): Json<LoginInput>,
) -> ApiResult<Response> {
    let ctx = st.anonymous_ctx(&meta);
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = identity::login(&st.db, &ctx, &i.login, &i.password, ua).await?;
    let s = identity::resolve_session(&st.db, st.clock.as_ref(), &ok.token)
        .await?
        .ok_or_else(AppError::unauthenticated)?;
    let cookie = session_cookie(
        &ok.token,
        st.cookie_secure,
        identity::SESSION_ABSOLUTE_MICROS / 1_000_000,
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(
            json!({ "csrf_token": s.csrf_token, "must_change_password": ok.must_change_password }),
        ),
    )
        .into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub kind: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

/// 调用方的身份与权限。
#[utoipa::path(get, path = "/api/v1/me", tag = "身份与访问", responses((status = 200, body = Me)))]
pub async fn me(Ctx(ctx): Ctx) -> Json<Me> {
    let mut permissions: Vec<String> = ctx.grants.iter().map(|(p, _)| p.clone()).collect();
    permissions.sort();
    permissions.dedup();
    Json(Me {
        id: ctx.actor.id,
        login: ctx.actor.login.clone(),
        display_name: ctx.actor.display_name.clone(),
        kind: format!("{:?}", ctx.actor.kind).to_lowercase(),
        roles: ctx.actor.roles.clone(),
        permissions,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
}

/// OAuth 2.0 令牌端点（客户端凭据模式；凭据放在表单或 HTTP Basic 头中）。
#[utoipa::path(post, path = "/oauth/token", tag = "身份与访问", request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"), responses((status = 200, body = TokenResponse), (status = 401)))]
pub async fn token(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(r): Form<TokenRequest>,
) -> Response {
    let oauth_err = |status: u16, error: &str, desc: &str| {
        (
            axum::http::StatusCode::from_u16(status).unwrap_or_default(),
            Json(json!({"error": error, "error_description": desc})),
        )
            .into_response()
    };
    if r.grant_type != "client_credentials" {
        return oauth_err(
            400,
            "unsupported_grant_type",
            "仅支持 client_credentials 授权模式",
        );
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(base64_decode)
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        });
    let (id, secret) = match (basic, r.client_id, r.client_secret) {
        (Some(pair), _, _) => pair,
        (None, Some(i), Some(s)) => (i, s),
        _ => return oauth_err(401, "invalid_client", "缺少客户端凭证"),
    };
    match oauth::issue_token(
        &st.db,
        &st.keys,
        st.clock.as_ref(),
        &id,
        &secret,
        r.scope.as_deref(),
    )
    .await
    {
        Ok(t) => ([(header::CACHE_CONTROL, "no-store")], Json(t)).into_response(),
        Err(e) if e.code == "oauth.invalid_scope" => oauth_err(400, "invalid_scope", &e.message),
        Err(e) if e.status == 401 => oauth_err(401, "invalid_client", &e.message),
        Err(e) => ApiError(e).into_response(),
    }
}

fn base64_decode(s: &str) -> Option<String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AccountQuery {
    pub q: Option<String>,
}

/// 调用方范围内的账号，分页（`page`、`size`）并给出总数。
#[utoipa::path(get, path = "/api/v1/accounts", tag = "身份与访问", params(AccountQuery, PageQuery), responses((status = 200, body = ApiPage<Account>)))]
pub async fn list_accounts(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<AccountQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<Account>>> {
    let p = pq.paging()?;
    let rows = identity::list_accounts_page(&st.db, &ctx, q.q.as_deref(), &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

/// 新建账号并授予一个角色。
#[utoipa::path(post, path = "/api/v1/accounts", tag = "身份与访问", request_body = NewAccount, responses((status = 200)))]
pub async fn create_account(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Json(a): Json<NewAccount>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "id": identity::create_account(&st.db, &ctx, &a).await? }),
    ))
}

/// 查询审计日志（最新在前），分页（`page`、`size`）并给出总数。
#[utoipa::path(get, path = "/api/v1/audit", tag = "数据安全", params(AuditQuery, PageQuery), responses((status = 200, body = ApiPage<AuditRow>)))]
pub async fn search_audit(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<AuditQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<AuditRow>>> {
    let p = pq.paging()?;
    let rows = audit::search_page(&st.db, &ctx, &q, &p.window()).await?;
    st.audit
        .record(audit::AuditEntry::new(
            &ctx,
            "audit.search",
            "audit_log",
            "",
        ))
        .await;
    Ok(Json(p.answer(rows)))
}

/// 脱敏算法。
#[utoipa::path(get, path = "/api/v1/masking/algorithms", tag = "数据安全", responses((status = 200, body = [Algorithm])))]
pub async fn list_algorithms(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
) -> ApiResult<Json<Vec<Algorithm>>> {
    ctx.require(yiyang_core::perm::MASKING_MANAGE)?;
    Ok(Json(st.masking.algorithms().await?))
}

/// 脱敏规则。
#[utoipa::path(get, path = "/api/v1/masking/rules", tag = "数据安全", responses((status = 200, body = [Rule])))]
pub async fn list_rules(State(st): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<Json<Vec<Rule>>> {
    ctx.require(yiyang_core::perm::MASKING_MANAGE)?;
    Ok(Json(st.masking.rules().await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct InboxQuery {
    /// 只看未读（`true`）。
    pub unread: Option<bool>,
}

/// 调用方的消息中心（最新在前），分页（`page`、`size`）并给出总数。
#[utoipa::path(get, path = "/api/v1/inbox", tag = "消息", params(InboxQuery, PageQuery), responses((status = 200, body = ApiPage<InboxItem>)))]
pub async fn inbox(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Query(q): Query<InboxQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Json<ApiPage<InboxItem>>> {
    let p = pq.paging()?;
    let rows = notify::inbox_page(&st.db, &ctx, q.unread.unwrap_or(false), &p.window()).await?;
    Ok(Json(p.answer(rows)))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "梅州智慧医养平台 API",
        version = "1.0.0",
        description = "统一错误格式：{code, message, details, request_id}"
    ),
    paths(
        login,
        me,
        token,
        list_accounts,
        create_account,
        search_audit,
        list_algorithms,
        list_rules,
        inbox
    ),
    components(schemas(
        LoginInput,
        Me,
        TokenRequest,
        TokenResponse,
        Account,
        NewAccount,
        AuditRow,
        Algorithm,
        Rule,
        InboxItem
    ))
)]
struct PlatformDoc;

/// The merged OpenAPI document of every module, with the error codes as a tag.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let registry = crate::app::registry();
    let mut doc = registry.openapi(PlatformDoc::openapi());
    let mut table = String::from(
        "错误响应的正文为 `{code, message, details, request_id}`；`code` 取值如下（浏览页面：/api/docs/errors）。\n\n| 错误码 | HTTP 状态 | 说明 |\n|---|---|---|\n",
    );
    for (_, e) in error_codes(&registry) {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            e.code, e.status, e.message
        ));
    }
    let tag = utoipa::openapi::tag::TagBuilder::new()
        .name("错误码")
        .description(Some(table))
        .build();
    doc.tags.get_or_insert_with(Vec::new).push(tag);
    let info = doc.info.description.take().unwrap_or_default();
    doc.info.description = Some(format!(
        "{info}\n\n错误码一览见标签“错误码”及页面 /api/docs/errors。"
    ));
    yiyang_platform::web::rejection::document_errors(&mut doc);
    doc
}

/// Every error code with the module that answers it: each module's, then the binary's.
pub fn error_codes(
    registry: &yiyang_platform::module::Registry,
) -> Vec<(&'static str, yiyang_platform::module::ErrorCode)> {
    let mut v: Vec<_> = registry
        .modules
        .iter()
        .flat_map(|m| m.error_codes().iter().map(move |e| (m.name(), *e)))
        .collect();
    v.extend(crate::errors::ERROR_CODES.iter().map(|e| ("yiyang", *e)));
    v
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}
