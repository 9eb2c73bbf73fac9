//! What an operator enters for a subscription, and its validation.

use super::{EVENT_KINDS, split_events};
use serde::Deserialize;
use yiyang_core::{AppError, AppResult};

/// What an operator enters for a subscription.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionInput {
    /// The institution whose events are sent; cannot change after creation.
    #[serde(default)]
    pub org_id: i64,
    #[serde(default)]
    pub name: String,
    /// `mllp` or `webhook`; cannot change after creation.
    #[serde(default)]
    pub kind: String,
    /// MLLP: target host name or IP address.
    #[serde(default)]
    pub host: String,
    /// MLLP: target port (1–65535).
    #[serde(default)]
    pub port: i64,
    /// Webhook: `http://…` URL.
    #[serde(default)]
    pub url: String,
    /// Webhook: HMAC-SHA256 signing secret (16–200 characters). On update, empty keeps the
    /// stored secret.
    #[serde(default)]
    pub secret: String,
    /// Event kinds, at least one (see `EVENT_KINDS`).
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Attempts before a delivery goes to the dead-letter queue (1–50).
    #[serde(default = "default_attempts")]
    pub max_attempts: i64,
    /// Connect + send + reply timeout per attempt, seconds (1–120).
    #[serde(default = "default_timeout")]
    pub timeout_secs: i64,
}

fn yes() -> bool {
    true
}
pub fn default_attempts() -> i64 {
    10
}
pub fn default_timeout() -> i64 {
    10
}

fn host_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        && !h.starts_with(['.', '-'])
}

impl SubscriptionInput {
    /// Trims and normalises the input; every problem of the subscription is reported at
    /// once as zh-CN errors naming their fields (a single problem keeps its own code).
    pub fn validate(mut self, creating: bool) -> AppResult<SubscriptionInput> {
        use yiyang_core::text::{Checks, Kind};
        let mut c = Checks::new();
        self.name = self.name.trim().to_string();
        c.text("name", "订阅名称", &self.name, 50, Kind::Name);
        if self.name.is_empty() || self.name.chars().count() > 50 {
            c.result::<()>(Err(AppError::field(
                "integration.sub_name_invalid",
                "name",
                "请填写订阅名称（不超过50字）",
            )));
        }
        self.kind = self.kind.trim().to_lowercase();
        match self.kind.as_str() {
            "mllp" => {
                self.host = self.host.trim().to_string();
                if !host_ok(&self.host) {
                    c.result::<()>(Err(AppError::field(
                        "integration.sub_host_invalid",
                        "host",
                        "请填写正确的目标主机（域名或 IP 地址）",
                    )));
                }
                if !(1..=65535).contains(&self.port) {
                    c.result::<()>(Err(AppError::field(
                        "integration.sub_port_invalid",
                        "port",
                        "目标端口须在 1–65535 之间",
                    )));
                }
                self.url.clear();
                self.secret.clear();
            }
            "webhook" => {
                self.url = self.url.trim().to_string();
                c.result(check_url(&self.url));
                self.secret = self.secret.trim().to_string();
                let n = self.secret.chars().count();
                if (creating || n > 0) && !(16..=200).contains(&n) {
                    c.result::<()>(Err(AppError::field(
                        "integration.sub_secret_invalid",
                        "secret",
                        "签名密钥须为 16–200 个字符，并与接收方配置一致",
                    )));
                }
                self.host.clear();
                self.port = 0;
            }
            _ => {
                c.result::<()>(Err(AppError::field(
                    "integration.sub_kind_invalid",
                    "kind",
                    "请选择投递方式：HL7 v2 / MLLP 或 JSON Webhook",
                )));
            }
        }
        let mut events: Vec<String> = Vec::new();
        let mut unknown = None;
        for e in self.events.iter().flat_map(|e| split_events(e)) {
            if !EVENT_KINDS.iter().any(|(k, _)| *k == e) {
                unknown.get_or_insert(e);
            } else if !events.iter().any(|x| x == e) {
                events.push(e.to_string());
            }
        }
        if let Some(e) = unknown {
            c.result::<()>(Err(AppError::field(
                "integration.sub_event_unknown",
                "events",
                format!("未知的事件类型：{e}"),
            )));
        } else if events.is_empty() {
            c.result::<()>(Err(AppError::field(
                "integration.sub_events_required",
                "events",
                "请至少选择一种订阅的事件",
            )));
        }
        // Display order, so the stored list does not depend on the order of the form.
        events.sort_by_key(|e| EVENT_KINDS.iter().position(|(k, _)| k == e));
        if !(1..=50).contains(&self.max_attempts) {
            c.result::<()>(Err(AppError::field(
                "integration.sub_attempts_invalid",
                "max_attempts",
                "最大尝试次数须在 1–50 之间",
            )));
        }
        if !(1..=120).contains(&self.timeout_secs) {
            c.result::<()>(Err(AppError::field(
                "integration.sub_timeout_invalid",
                "timeout_secs",
                "超时须在 1–120 秒之间",
            )));
        }
        c.finish()?;
        self.events = events;
        Ok(self)
    }

    pub(super) fn audit_details(&self) -> serde_json::Value {
        serde_json::json!({
            "org_id": self.org_id, "name": self.name, "kind": self.kind, "host": self.host,
            "port": self.port, "url": self.url, "events": self.events, "enabled": self.enabled,
            "max_attempts": self.max_attempts, "timeout_secs": self.timeout_secs,
            "secret_changed": !self.secret.is_empty(),
        })
    }
}

fn check_url(url: &str) -> AppResult<()> {
    let bad = |m: &str| AppError::field("integration.sub_url_invalid", "url", m.to_string());
    if url.is_empty() {
        return Err(bad(
            "请填写接收地址，如 http://his.example.local/hooks/yiyang",
        ));
    }
    if url.len() > 500 {
        return Err(bad("接收地址过长（不超过500字符）"));
    }
    let u = reqwest::Url::parse(url)
        .map_err(|_| bad("接收地址格式不正确，应如 http://主机:端口/路径"))?;
    match u.scheme() {
        "http" => {}
        "https" => {
            return Err(bad(
                "暂不支持 https 直连，请填写 http 地址并由 TLS 代理转发（与通知网关相同）",
            ));
        }
        _ => return Err(bad("接收地址须以 http:// 开头")),
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("接收地址缺少主机名"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("接收地址中不能包含用户名或密码，请使用签名密钥"));
    }
    if u.fragment().is_some() {
        return Err(bad("接收地址中不能包含 #"));
    }
    Ok(())
}

/// `••••` and the last four characters of a secret.
pub fn secret_hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("••••{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::{CRITICAL_RAISED, ENCOUNTER_ADMITTED};

    fn input() -> SubscriptionInput {
        SubscriptionInput {
            org_id: 1,
            name: " 区域平台 ".into(),
            kind: "webhook".into(),
            url: "http://10.0.0.5:8080/hooks/yiyang".into(),
            secret: "0123456789abcdef".into(),
            events: vec![
                "critical.raised, encounter.admitted".into(),
                "encounter.admitted".into(),
            ],
            enabled: true,
            max_attempts: 10,
            timeout_secs: 10,
            ..Default::default()
        }
    }

    #[test]
    fn validation_normalises_and_names_the_bad_field() {
        let v = input().validate(true).unwrap();
        assert_eq!(v.name, "区域平台");
        assert_eq!(v.events, vec![ENCOUNTER_ADMITTED, CRITICAL_RAISED]);
        let field = |i: SubscriptionInput| {
            let e = i.validate(true).unwrap_err();
            (e.details["field"].as_str().unwrap().to_string(), e.message)
        };
        for (i, f) in [
            (
                SubscriptionInput {
                    url: "ftp://x/y".into(),
                    ..input()
                },
                "url",
            ),
            (
                SubscriptionInput {
                    url: "http://user:pw@x/y".into(),
                    ..input()
                },
                "url",
            ),
            (
                SubscriptionInput {
                    url: "https://x/y".into(),
                    ..input()
                },
                "url",
            ),
            (
                SubscriptionInput {
                    secret: "short".into(),
                    ..input()
                },
                "secret",
            ),
            (
                SubscriptionInput {
                    events: vec![],
                    ..input()
                },
                "events",
            ),
            (
                SubscriptionInput {
                    events: vec!["patient.deleted".into()],
                    ..input()
                },
                "events",
            ),
            (
                SubscriptionInput {
                    kind: "mllp".into(),
                    host: "his.local".into(),
                    port: 70000,
                    ..input()
                },
                "port",
            ),
            (
                SubscriptionInput {
                    kind: "mllp".into(),
                    host: "bad host".into(),
                    port: 2575,
                    ..input()
                },
                "host",
            ),
            (
                SubscriptionInput {
                    kind: "ftp".into(),
                    ..input()
                },
                "kind",
            ),
        ] {
            assert_eq!(field(i).0, f);
        }
        // On update an empty secret keeps the stored one.
        assert!(
            SubscriptionInput {
                secret: String::new(),
                ..input()
            }
            .validate(false)
            .is_ok()
        );
    }
}
