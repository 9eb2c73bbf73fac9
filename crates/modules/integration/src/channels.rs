//! Channels (系统接入管理): one MLLP listener per channel, belonging to one institution, with
//! the sending applications/facilities and message types it accepts.

use serde::{Deserialize, Serialize};
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Conn, Filter, args};

/// A configured channel.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Channel {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub port: i64,
    /// Allowed MSH-3 sending applications, comma separated; empty = any.
    pub allowed_apps: String,
    /// Allowed MSH-4 sending facilities, comma separated; empty = any.
    pub allowed_facilities: String,
    /// Accepted message types, e.g. `ADT^A01,ADT^A04,ORU^R01` (`ADT^*` or `ADT` = every trigger).
    pub message_types: String,
    pub enabled: bool,
    pub max_connections: i64,
    pub read_timeout_secs: i64,
    /// When the ACK is sent: `commit` (once the message is durably stored and has passed
    /// validation; processing follows in order) or `application` (after processing, so a
    /// processing failure answers AE).
    pub ack_mode: String,
    /// `off`, `tls` (server certificate) or `mtls` (client certificates required too).
    pub tls_mode: String,
    /// PEM files on the server: certificate chain, private key, CA of accepted clients.
    pub tls_cert: String,
    pub tls_key: String,
    pub tls_client_ca: String,
    /// `listening`, `stopped` or `error` as last reported by a node's supervisor.
    pub listen_state: String,
    pub listen_error: String,
    pub listen_checked_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const CHANNEL_COLS: &str = "id, org_id, name, port, allowed_apps, allowed_facilities, message_types, enabled, max_connections, read_timeout_secs, ack_mode, tls_mode, tls_cert, tls_key, tls_client_ca, listen_state, listen_error, listen_checked_at, created_at, updated_at";

/// What an operator enters for a channel.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelInput {
    pub org_id: i64,
    pub name: String,
    pub port: i64,
    #[serde(default)]
    pub allowed_apps: String,
    #[serde(default)]
    pub allowed_facilities: String,
    pub message_types: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_max_conn")]
    pub max_connections: i64,
    #[serde(default = "default_timeout")]
    pub read_timeout_secs: i64,
    /// `commit` (default) or `application`.
    #[serde(default = "default_ack_mode")]
    pub ack_mode: String,
    /// `off` (default), `tls` or `mtls`.
    #[serde(default = "default_tls_mode")]
    pub tls_mode: String,
    #[serde(default)]
    pub tls_cert: String,
    #[serde(default)]
    pub tls_key: String,
    #[serde(default)]
    pub tls_client_ca: String,
}

impl Default for ChannelInput {
    fn default() -> Self {
        ChannelInput {
            org_id: 0,
            name: String::new(),
            port: 0,
            allowed_apps: String::new(),
            allowed_facilities: String::new(),
            message_types: String::new(),
            enabled: true,
            max_connections: default_max_conn(),
            read_timeout_secs: default_timeout(),
            ack_mode: default_ack_mode(),
            tls_mode: default_tls_mode(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_ca: String::new(),
        }
    }
}

/// ACK modes with their labels.
pub const ACK_MODES: &[(&str, &str)] = &[
    ("commit", "存储后应答（高吞吐，处理失败进异常队列）"),
    ("application", "处理后应答（处理失败回 AE）"),
];

/// TLS modes with their labels.
pub const TLS_MODES: &[(&str, &str)] = &[
    ("off", "不加密"),
    ("tls", "TLS"),
    ("mtls", "双向 TLS（校验客户端证书）"),
];

fn default_ack_mode() -> String {
    "commit".into()
}
fn default_tls_mode() -> String {
    "off".into()
}

fn yes() -> bool {
    true
}
fn default_max_conn() -> i64 {
    8
}
fn default_timeout() -> i64 {
    30
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', '，', ';', '；', ' ', '\n', '\r', '\t'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
}

fn type_ok(t: &str) -> bool {
    let code_ok = |c: &str| c.len() == 3 && c.chars().all(|x| x.is_ascii_alphanumeric());
    match t.split_once('^') {
        None => code_ok(t),
        Some((c, trig)) => code_ok(c) && (trig == "*" || code_ok(trig)),
    }
}

impl ChannelInput {
    /// Trims and normalises the input; every problem of the channel is reported at once as
    /// zh-CN field errors (a single problem keeps its own code).
    pub fn validate(mut self) -> AppResult<ChannelInput> {
        use yiyang_core::text::{Checks, Kind};
        let mut c = Checks::new();
        self.name = self.name.trim().to_string();
        c.text("name", "通道名称", &self.name, 50, Kind::Name);
        if self.name.is_empty() || self.name.chars().count() > 50 {
            c.result::<()>(Err(AppError::field(
                "integration.name_invalid",
                "name",
                "请填写通道名称（不超过50字）",
            )));
        }
        if !(1024..=65535).contains(&self.port) {
            c.result::<()>(Err(AppError::field(
                "integration.port_invalid",
                "port",
                "监听端口须在 1024–65535 之间",
            )));
        }
        let mut types = Vec::new();
        let mut bad_type = None;
        for t in split_list(&self.message_types) {
            let t = t.to_uppercase();
            if !type_ok(&t) {
                bad_type.get_or_insert(t);
            } else if !types.contains(&t) {
                types.push(t);
            }
        }
        if let Some(t) = bad_type {
            c.result::<()>(Err(AppError::field(
                "integration.type_invalid",
                "message_types",
                format!("消息类型格式不正确：{t}（应如 ADT^A01、ORU^R01 或 ADT^*）"),
            )));
        } else if types.is_empty() {
            c.result::<()>(Err(AppError::field(
                "integration.types_required",
                "message_types",
                "请至少填写一种接收的消息类型，如 ADT^A01",
            )));
        }
        self.message_types = types.join(",");
        for (field, label) in [
            ("allowed_apps", "发送系统"),
            ("allowed_facilities", "发送机构"),
        ] {
            let v = if field == "allowed_apps" {
                &mut self.allowed_apps
            } else {
                &mut self.allowed_facilities
            };
            let mut items = Vec::new();
            for x in split_list(v) {
                if x.chars().count() > 64 || x.contains(['|', '^', '~', '\\', '&']) {
                    c.result::<()>(Err(AppError::field(
                        "integration.list_invalid",
                        field,
                        format!("{label}名称不正确：{x}（不超过64字，不含 | ^ ~ \\ &）"),
                    )));
                }
                items.push(x.to_string());
            }
            *v = items.join(",");
        }
        if !(1..=256).contains(&self.max_connections) {
            c.result::<()>(Err(AppError::field(
                "integration.max_conn_invalid",
                "max_connections",
                "最大连接数须在 1–256 之间",
            )));
        }
        if !(5..=3600).contains(&self.read_timeout_secs) {
            c.result::<()>(Err(AppError::field(
                "integration.timeout_invalid",
                "read_timeout_secs",
                "读超时须在 5–3600 秒之间",
            )));
        }
        if !ACK_MODES.iter().any(|(m, _)| *m == self.ack_mode) {
            c.result::<()>(Err(AppError::field(
                "integration.ack_mode_invalid",
                "ack_mode",
                "应答方式须为 commit（存储后应答）或 application（处理后应答）",
            )));
        }
        let tls_known = TLS_MODES.iter().any(|(m, _)| *m == self.tls_mode);
        if !tls_known {
            c.result::<()>(Err(AppError::field(
                "integration.tls_mode_invalid",
                "tls_mode",
                "加密方式须为 off、tls 或 mtls",
            )));
        }
        for v in [
            &mut self.tls_cert,
            &mut self.tls_key,
            &mut self.tls_client_ca,
        ] {
            *v = v.trim().to_string();
        }
        if tls_known && self.tls_mode != "off" {
            let mut files_named = true;
            for (field, v, label) in [
                ("tls_cert", &self.tls_cert, "服务器证书"),
                ("tls_key", &self.tls_key, "服务器私钥"),
            ] {
                if v.is_empty() {
                    files_named = false;
                    c.result::<()>(Err(AppError::field(
                        "integration.tls_file_required",
                        field,
                        format!("启用 TLS 须填写{label}文件路径（PEM）"),
                    )));
                }
            }
            if self.tls_mode == "mtls" && self.tls_client_ca.is_empty() {
                files_named = false;
                c.result::<()>(Err(AppError::field(
                    "integration.tls_file_required",
                    "tls_client_ca",
                    "双向 TLS 须填写客户端 CA 证书文件路径（PEM）",
                )));
            }
            if files_named {
                let loaded = crate::tls::server_config(
                    &self.tls_mode,
                    &self.tls_cert,
                    &self.tls_key,
                    &self.tls_client_ca,
                );
                match loaded {
                    // A file that cannot be used is a problem of its field.
                    Err(e) if e.details["field"].is_string() => {
                        c.result::<()>(Err(e));
                    }
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
            }
        }
        c.finish()?;
        Ok(self)
    }
}

impl Channel {
    /// Whether MSH-3 is accepted.
    pub fn allows_app(&self, app: &str) -> bool {
        self.allowed_apps.is_empty() || split_list(&self.allowed_apps).any(|a| a == app)
    }

    /// Whether MSH-4 is accepted.
    pub fn allows_facility(&self, f: &str) -> bool {
        self.allowed_facilities.is_empty() || split_list(&self.allowed_facilities).any(|a| a == f)
    }

    /// Whether a message type (code, trigger) is accepted.
    pub fn allows_type(&self, code: &str, trigger: &str) -> bool {
        split_list(&self.message_types).any(|t| match t.split_once('^') {
            None => t == code,
            Some((c, tr)) => c == code && (tr == "*" || tr == trigger),
        })
    }
}

pub async fn load(mut db: impl Conn, id: i64) -> AppResult<Option<Channel>> {
    db.fetch_optional(
        &format!("SELECT {CHANNEL_COLS} FROM hl7_channels WHERE id = $1"),
        args![id],
    )
    .await
}

/// Channels visible to the caller (`integration.read` scope).
pub async fn list(st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Channel>> {
    let scope = ctx.require(perm::INTEGRATION_READ)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("org_id", &orgs);
    }
    st.db
        .fetch_all(
            &format!(
                "SELECT {CHANNEL_COLS} FROM hl7_channels{} ORDER BY port",
                f.sql()
            ),
            f.args,
        )
        .await
}

/// One channel in the caller's scope (404 otherwise).
pub async fn get(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<Channel> {
    let scope = ctx.require(perm::INTEGRATION_READ)?;
    match load(&st.db, id).await? {
        Some(c) if scope.allows(c.org_id) => Ok(c),
        _ => Err(AppError::not_found("channel")),
    }
}

/// The `org_id` field names an existing institution (a field error otherwise).
pub(crate) async fn require_org(st: &AppState, org_id: i64) -> AppResult<()> {
    match yiyang_basedata::service::org_exists(&st.db, org_id).await? {
        true => Ok(()),
        false => Err(AppError::field(
            "integration.org_invalid",
            "org_id",
            "所属机构不存在",
        )),
    }
}

async fn check_unique(st: &AppState, c: &ChannelInput, except: i64) -> AppResult<()> {
    require_org(st, c.org_id).await?;
    let port: Option<(String,)> = st
        .db
        .fetch_optional(
            "SELECT name FROM hl7_channels WHERE port = $1 AND id <> $2",
            args![c.port, except],
        )
        .await?;
    if let Some((n,)) = port {
        return Err(AppError::field(
            "integration.port_taken",
            "port",
            format!("端口 {} 已被通道“{n}”使用", c.port),
        ));
    }
    let name: Option<(i64,)> = st
        .db
        .fetch_optional(
            "SELECT id FROM hl7_channels WHERE name = $1 AND id <> $2",
            args![&c.name, except],
        )
        .await?;
    if name.is_some() {
        return Err(AppError::field(
            "integration.name_taken",
            "name",
            format!("通道名称“{}”已存在", c.name),
        ));
    }
    Ok(())
}

fn require_manage(ctx: &RequestContext, org_id: i64) -> AppResult<()> {
    if ctx.has_for(perm::INTEGRATION_MANAGE, org_id) {
        Ok(())
    } else {
        Err(AppError::forbidden(perm::INTEGRATION_MANAGE))
    }
}

pub async fn create(st: &AppState, ctx: &RequestContext, input: ChannelInput) -> AppResult<i64> {
    let c = input.validate()?;
    require_manage(ctx, c.org_id)?;
    check_unique(st, &c, 0).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let id = tx
        .scalar(
            "INSERT INTO hl7_channels (org_id, name, port, allowed_apps, allowed_facilities, message_types, enabled, max_connections, read_timeout_secs, ack_mode, tls_mode, tls_cert, tls_key, tls_client_ca, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id",
            args![c.org_id, &c.name, c.port, &c.allowed_apps, &c.allowed_facilities, &c.message_types, c.enabled, c.max_connections, c.read_timeout_secs, &c.ack_mode, &c.tls_mode, &c.tls_cert, &c.tls_key, &c.tls_client_ca, now],
        )
        .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "integration.channel_create", "hl7_channel", id)
                .org(Some(c.org_id))
                .details(serde_json::to_value(&c).unwrap_or_default()),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    input: ChannelInput,
) -> AppResult<()> {
    let old = get(st, ctx, id).await?;
    require_manage(ctx, old.org_id)?;
    let c = input.validate()?;
    require_manage(ctx, c.org_id)?;
    check_unique(st, &c, id).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE hl7_channels SET org_id = $1, name = $2, port = $3, allowed_apps = $4, allowed_facilities = $5, message_types = $6, enabled = $7, \
         max_connections = $8, read_timeout_secs = $9, ack_mode = $10, tls_mode = $11, tls_cert = $12, tls_key = $13, tls_client_ca = $14, updated_at = $15 WHERE id = $16",
        args![c.org_id, &c.name, c.port, &c.allowed_apps, &c.allowed_facilities, &c.message_types, c.enabled, c.max_connections, c.read_timeout_secs, &c.ack_mode, &c.tls_mode, &c.tls_cert, &c.tls_key, &c.tls_client_ca, now, id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "integration.channel_update", "hl7_channel", id)
                .org(Some(c.org_id))
                .details(serde_json::to_value(&c).unwrap_or_default()),
        ],
    )
    .await?;
    tx.commit().await
}

/// Deletes a channel that never received a message; one with history can only be disabled.
pub async fn delete(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<()> {
    let old = get(st, ctx, id).await?;
    require_manage(ctx, old.org_id)?;
    let n = st
        .db
        .scalar(
            // The hourly counters: a busy channel's millions of messages are not counted.
            "SELECT CAST(COALESCE(SUM(received), 0) AS BIGINT) FROM hl7_channel_hours WHERE channel_id = $1",
            args![id],
        )
        .await?;
    if n > 0 {
        return Err(AppError::conflict(
            "integration.channel_in_use",
            format!("该通道已接收 {n} 条消息，不能删除，请改为停用"),
        ));
    }
    let mut tx = st.db.begin().await?;
    tx.execute("DELETE FROM hl7_channels WHERE id = $1", args![id])
        .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "integration.channel_delete", "hl7_channel", id)
                .org(Some(old.org_id))
                .details(serde_json::json!({"name": old.name, "port": old.port})),
        ],
    )
    .await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ChannelInput {
        ChannelInput {
            org_id: 1,
            name: " 医院HIS ".into(),
            port: 2575,
            allowed_apps: "HIS, LIS".into(),
            allowed_facilities: String::new(),
            message_types: "adt^a01，ORU^R01 ADT^*".into(),
            enabled: true,
            max_connections: 8,
            read_timeout_secs: 30,
            ..Default::default()
        }
    }

    #[test]
    fn normalises_lists_and_rejects_bad_values() {
        let c = input().validate().unwrap();
        assert_eq!(c.name, "医院HIS");
        assert_eq!(c.message_types, "ADT^A01,ORU^R01,ADT^*");
        assert_eq!(c.allowed_apps, "HIS,LIS");
        let e = ChannelInput {
            port: 80,
            ..input()
        }
        .validate()
        .unwrap_err();
        assert!(e.message.contains("1024"));
        let e = ChannelInput {
            message_types: "ADT-A01".into(),
            ..input()
        }
        .validate()
        .unwrap_err();
        assert!(e.message.contains("ADT-A01"), "{}", e.message);
        let e = ChannelInput {
            message_types: " ".into(),
            ..input()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.code, "integration.types_required");
    }

    #[test]
    fn matches_types_apps_and_facilities() {
        let v = input().validate().unwrap();
        let c = Channel {
            id: 1,
            org_id: 1,
            name: v.name,
            port: v.port,
            allowed_apps: v.allowed_apps,
            allowed_facilities: v.allowed_facilities,
            message_types: "ADT^A01,ORU^*".into(),
            enabled: true,
            max_connections: 8,
            read_timeout_secs: 30,
            ack_mode: v.ack_mode,
            tls_mode: v.tls_mode,
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_ca: String::new(),
            listen_state: String::new(),
            listen_error: String::new(),
            listen_checked_at: None,
            created_at: 0,
            updated_at: 0,
        };
        assert!(c.allows_type("ADT", "A01"));
        assert!(!c.allows_type("ADT", "A03"));
        assert!(c.allows_type("ORU", "R01"));
        assert!(c.allows_app("LIS") && !c.allows_app("PACS"));
        assert!(c.allows_facility("anything"));
    }
}
