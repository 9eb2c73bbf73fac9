//! Errors raised before a handler runs (axum's extractor rejections, the router's 404/405,
//! the body limit) leave axum as English `text/plain`. This layer turns them into the
//! standard error: JSON `{code, message, details, request_id}` under `/api/` and `/oauth/`,
//! the zh-CN error page elsewhere.

use super::{RequestMeta, api_error_response};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use yiyang_core::AppError;

/// The standard error for a rejection with this status and axum's English text.
pub fn classify(status: StatusCode, text: &str) -> AppError {
    let reason = text.trim().to_string();
    let e = match status.as_u16() {
        404 => AppError::new("common.not_found", 404, "请求的页面或接口不存在"),
        405 => AppError::new("request.method_not_allowed", 405, "不支持该请求方法"),
        413 => AppError::new("request.too_large", 413, "请求内容过大"),
        415 => AppError::new(
            "request.content_type",
            415,
            "请求的内容类型不正确（JSON 接口须为 application/json）",
        ),
        422 if text.contains("JSON") => {
            return field_error(
                "request.json_field_invalid",
                "请求字段的类型或取值不正确",
                text,
            );
        }
        422 => {
            return field_error(
                "request.form_field_invalid",
                "表单字段的类型或取值不正确",
                text,
            );
        }
        400 if text.contains("JSON") => {
            AppError::new("request.json_invalid", 400, "请求体不是有效的 JSON")
        }
        400 if text.contains("query string") => {
            return field_error("request.query_invalid", "查询参数的格式不正确", text)
                .with_status(400);
        }
        400 if text.contains("URL") || text.contains("path") => AppError::new(
            "request.path_invalid",
            400,
            "路径参数的格式不正确（编号须为数字）",
        ),
        400 => AppError::new("request.invalid", 400, "请求格式不正确"),
        s => AppError::new("request.invalid", s, "请求无法处理"),
    };
    e.with_details(serde_json::json!({ "reason": reason }))
}

/// serde reports `field: problem`; keep the field so a form can show the error beside it.
fn field_error(code: &'static str, message: &str, text: &str) -> AppError {
    let detail = text
        .rsplit_once("target type: ")
        .map(|(_, r)| r)
        .unwrap_or(text);
    let field = detail
        .split_once(": ")
        .map(|(f, _)| f)
        .filter(|f| !f.contains(' ') && !f.is_empty());
    let mut details = serde_json::json!({ "reason": text.trim() });
    if let Some(f) = field {
        details["field"] = serde_json::Value::String(f.to_string());
    }
    AppError::new(code, 422, message).with_details(details)
}

trait WithStatus {
    fn with_status(self, s: u16) -> Self;
}

impl WithStatus for AppError {
    fn with_status(mut self, s: u16) -> Self {
        self.status = s;
        self
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/oauth/") || path.starts_with("/device-api/")
}

/// Rewrites rejections; a handler's own response is never touched (it is not `text/plain`).
pub async fn standard_errors(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let request_id = req
        .extensions()
        .get::<RequestMeta>()
        .map(|m| m.request_id.clone())
        .unwrap_or_default();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error()) {
        return resp;
    }
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(ct.is_empty() || ct.starts_with("text/plain")) {
        return resp;
    }
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let e = classify(status, &String::from_utf8_lossy(&body));
    if is_api(&path) {
        api_error_response(&e, &request_id)
    } else {
        super::PageError(e).into_response()
    }
}

/// Adds the standard error responses (and the `ErrorBody` schema) to every operation of an
/// OpenAPI document, so clients know every error has the same shape.
pub fn document_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let schema = ObjectBuilder::new()
        .description(Some("统一错误响应"))
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("稳定的错误代码，如 auth.forbidden")),
        )
        .property(
            "message",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("面向用户的中文说明")),
        )
        .property(
            "details",
            Object::with_type(Type::Object)
                .into_schema_with_description("机器可读的细节（字段名、上限等）"),
        )
        .property(
            "request_id",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("请求编号，便于排查")),
        )
        .required("code")
        .required("message");
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("ErrorBody".into(), schema.build().into());
    let errors = [
        (
            "400",
            "请求格式或取值不正确（含路径参数、查询参数、JSON 语法）",
        ),
        ("401", "未登录或令牌无效"),
        ("403", "没有执行此操作的权限"),
        ("404", "记录不存在或不在您的数据范围内"),
        ("409", "与当前状态冲突"),
        ("413", "请求内容过大"),
        ("415", "内容类型不正确"),
        ("422", "字段类型或取值不正确"),
        ("500", "系统内部错误"),
    ];
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            for (code, text) in errors {
                op.responses
                    .responses
                    .entry(code.into())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(text)
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build()
                            .into()
                    });
            }
        }
    }
}

trait DescribedSchema {
    fn into_schema_with_description(self, d: &str) -> utoipa::openapi::schema::Object;
}

impl DescribedSchema for utoipa::openapi::schema::Object {
    fn into_schema_with_description(mut self, d: &str) -> utoipa::openapi::schema::Object {
        self.description = Some(d.to_string());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_field_type_errors_name_the_field() {
        let e = classify(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Failed to deserialize the JSON body into the target type: merged_id: invalid type: string \"x\", expected i64 at line 1 column 17",
        );
        assert_eq!(e.code, "request.json_field_invalid");
        assert_eq!(e.details["field"], "merged_id");
        assert_eq!(e.status, 422);
    }

    #[test]
    fn each_rejection_has_its_own_code() {
        let c = |s: u16, t: &str| classify(StatusCode::from_u16(s).unwrap(), t).code;
        assert_eq!(
            c(400, "Failed to parse the request body as JSON: EOF"),
            "request.json_invalid"
        );
        assert_eq!(
            c(
                415,
                "Expected request with `Content-Type: application/json`"
            ),
            "request.content_type"
        );
        assert_eq!(
            c(400, "Invalid URL: Cannot parse `abc` to a `i64`"),
            "request.path_invalid"
        );
        assert_eq!(
            c(400, "Failed to deserialize query string: invalid digit"),
            "request.query_invalid"
        );
        assert_eq!(
            c(
                413,
                "Failed to buffer the request body: length limit exceeded"
            ),
            "request.too_large"
        );
        assert_eq!(c(404, ""), "common.not_found");
        assert_eq!(c(405, ""), "request.method_not_allowed");
    }
}
