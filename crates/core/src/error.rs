//! One error type with stable codes, an HTTP status, a zh-CN message and details.

use serde::Serialize;
use serde_json::Value;

/// Result alias used across the platform.
pub type AppResult<T> = Result<T, AppError>;

/// The platform's single error type. `code` is a stable machine identifier
/// (e.g. `auth.invalid_credentials`), `message` is for people, in zh-CN.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AppError {
    pub code: &'static str,
    #[serde(skip)]
    pub status: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for AppError {}

impl AppError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// Attach machine-readable details (field errors, limits, ...).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn validation(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, 400, message)
    }

    /// Invalid value of one named field.
    pub fn field(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        Self::new(code, 400, message).with_details(serde_json::json!({ "field": field }))
    }

    pub fn unauthenticated() -> Self {
        Self::new("auth.unauthenticated", 401, "请先登录")
    }

    pub fn forbidden(permission: &str) -> Self {
        Self::new("auth.forbidden", 403, "您没有执行此操作的权限")
            .with_details(serde_json::json!({ "permission": permission }))
    }

    /// Used both for missing rows and for rows outside the caller's data scope,
    /// so that a caller cannot probe for the existence of other institutions' data.
    pub fn not_found(resource: &str) -> Self {
        Self::new("common.not_found", 404, "记录不存在或无权访问")
            .with_details(serde_json::json!({ "resource": resource }))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, 409, message)
    }

    /// An internal failure; the cause is logged, never shown to users.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new("common.internal", 500, "系统内部错误，请稍后重试")
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_code_message_and_details_but_not_status() {
        let e = AppError::field("org.code_invalid", "code", "机构编码格式不正确");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "org.code_invalid");
        assert_eq!(v["details"]["field"], "code");
        assert!(v.get("status").is_none());
        assert_eq!(e.status, 400);
    }
}
