//! Configuration: built-in defaults, then an optional TOML file, then environment variables.
//! The binary's own settings are [`SETTINGS`] (top level of the file); each module declares
//! its settings (`Module::settings`, section `[module]` of the file) and receives them
//! resolved (`Module::configure`). `yiyang config docs` prints the one table of all of them
//! ([`docs_table`]); README's configuration table is that output (a test checks it).
//!
//! Keys are never written to the database. Without configured keys, a node creates
//! `{data_dir}/keys.toml` (mode 0600) on first start; production sets them explicitly.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use yiyang_core::{AppError, AppResult};
use yiyang_platform::crypto::{Keys, generate_key_hex, parse_key};
use yiyang_platform::module::{Section, Setting};
use yiyang_platform::web::metrics_access::MetricsAccess;

/// The binary's own settings (top level of the TOML file), for [`docs_table`].
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        env: "YIYANG_LISTEN",
        default: "127.0.0.1:8080",
        doc: "HTTP(S) 监听地址",
    },
    Setting {
        key: "data_dir",
        env: "YIYANG_DATA_DIR",
        default: "./data",
        doc: "数据目录（SQLite 文件、自动生成的密钥文件）",
    },
    Setting {
        key: "database_url",
        env: "YIYANG_DATABASE_URL",
        default: "sqlite://{data_dir}/yiyang.db",
        doc: "数据库地址；PostgreSQL 用 postgres://…",
    },
    Setting {
        key: "db_max_connections",
        env: "YIYANG_DB_MAX_CONNECTIONS",
        default: "6",
        doc: "连接池大小（2 核实测最佳，见 docs/benchmarks.md）；SQLite 另有一个写连接",
    },
    Setting {
        key: "tls_cert",
        env: "YIYANG_TLS_CERT",
        default: "",
        doc: "HTTPS 证书（PEM）；与 tls_key 同时配置才启用 HTTPS，否则为 HTTP",
    },
    Setting {
        key: "tls_key",
        env: "YIYANG_TLS_KEY",
        default: "",
        doc: "HTTPS 私钥（PEM）",
    },
    Setting {
        key: "data_keys",
        env: "YIYANG_DATA_KEYS",
        default: "",
        doc: "数据加密密钥 `1:<64 位十六进制>,2:<…>`，版本最高者用于加密；四个密钥都不配置时首次启动生成 {data_dir}/keys.toml",
    },
    Setting {
        key: "blind_key",
        env: "YIYANG_BLIND_KEY",
        default: "",
        doc: "盲索引密钥（32 字节，十六进制或 base64）",
    },
    Setting {
        key: "token_key",
        env: "YIYANG_TOKEN_KEY",
        default: "",
        doc: "令牌签名密钥（32 字节）",
    },
    Setting {
        key: "mask_key",
        env: "YIYANG_MASK_KEY",
        default: "",
        doc: "脱敏哈希密钥（32 字节）",
    },
    Setting {
        key: "seed_demo",
        env: "YIYANG_SEED_DEMO",
        default: "true",
        doc: "启动时创建示例城市数据（仅一次）",
    },
    Setting {
        key: "demo_mllp_port",
        env: "YIYANG_DEMO_MLLP_PORT",
        default: "2575",
        doc: "示例 HL7 通道的监听端口（示例数据含该通道一天的消息；0 = 不监听）",
    },
    Setting {
        key: "metrics_allow",
        env: "YIYANG_METRICS_ALLOW",
        default: "127.0.0.1,::1",
        doc: "可读取 /metrics 的地址或网段（逗号分隔，CIDR）",
    },
    Setting {
        key: "metrics_token",
        env: "YIYANG_METRICS_TOKEN",
        default: "",
        doc: "读取 /metrics 的 Bearer 令牌（至少 16 个字符，可从任意地址使用）",
    },
];

/// The one table of every setting: the binary's own, then each module's (markdown).
pub fn docs_table() -> String {
    let mut out =
        String::from("| setting (file) | environment | default | meaning |\n|---|---|---|---|\n");
    let mut row = |key: String, s: &Setting| {
        let default = if s.default.is_empty() {
            "(none)".to_string()
        } else {
            format!("`{}`", s.default)
        };
        out.push_str(&format!(
            "| `{key}` | `{}` | {default} | {} |\n",
            s.env, s.doc
        ));
    };
    for s in SETTINGS {
        row(s.key.to_string(), s);
    }
    for m in crate::app::modules() {
        for s in m.settings() {
            row(format!("[{}] {}", m.name(), s.key), s);
        }
    }
    out
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub db_max_connections: Option<u32>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub data_keys: Option<String>,
    pub blind_key: Option<String>,
    pub token_key: Option<String>,
    pub mask_key: Option<String>,
    pub seed_demo: Option<bool>,
    pub demo_mllp_port: Option<u16>,
    pub metrics_allow: Option<String>,
    pub metrics_token: Option<String>,
    /// Each module's section (`[patients]`, `[integration]`, …).
    #[serde(flatten)]
    pub sections: std::collections::BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub db_max_connections: u32,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub seed_demo: bool,
    /// Port of the demo MLLP channel created with the demo data (0 = none).
    pub demo_mllp_port: u16,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    key_source: FileConfig,
    sections: std::collections::BTreeMap<String, toml::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    data_keys: String,
    blind_key: String,
    token_key: String,
    mask_key: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Loads the file (if any) and applies environment overrides.
    pub fn load(path: Option<&Path>) -> AppResult<Config> {
        let file: FileConfig = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    AppError::validation(
                        "config.read",
                        format!("无法读取配置文件 {}：{e}", p.display()),
                    )
                })?;
                toml::from_str(&text).map_err(|e| {
                    AppError::validation("config.parse", format!("配置文件格式错误：{e}"))
                })?
            }
            None => FileConfig::default(),
        };
        let data_dir = PathBuf::from(
            env("YIYANG_DATA_DIR")
                .or(file.data_dir.clone())
                .unwrap_or_else(|| "./data".into()),
        );
        let database_url = env("YIYANG_DATABASE_URL")
            .or(file.database_url.clone())
            .unwrap_or_else(|| format!("sqlite://{}/yiyang.db", data_dir.display()));
        let cert = env("YIYANG_TLS_CERT").or(file.tls_cert.clone());
        let key = env("YIYANG_TLS_KEY").or(file.tls_key.clone());
        let tls = match (cert, key) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            _ => {
                return Err(AppError::validation(
                    "config.tls",
                    "启用 HTTPS 须同时配置证书（tls_cert）和私钥（tls_key）",
                ));
            }
        };
        let key_source = FileConfig {
            data_keys: env("YIYANG_DATA_KEYS").or(file.data_keys.clone()),
            blind_key: env("YIYANG_BLIND_KEY").or(file.blind_key.clone()),
            token_key: env("YIYANG_TOKEN_KEY").or(file.token_key.clone()),
            mask_key: env("YIYANG_MASK_KEY").or(file.mask_key.clone()),
            ..FileConfig::default()
        };
        let metrics_access = MetricsAccess::parse(
            &env("YIYANG_METRICS_ALLOW")
                .or(file.metrics_allow.clone())
                .unwrap_or_else(|| "127.0.0.1,::1".into()),
            env("YIYANG_METRICS_TOKEN").or(file.metrics_token.clone()),
        )?;
        Ok(Config {
            listen: env("YIYANG_LISTEN")
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir,
            database_url,
            db_max_connections: env("YIYANG_DB_MAX_CONNECTIONS")
                .and_then(|v| v.parse().ok())
                .or(file.db_max_connections)
                .unwrap_or(6),
            tls,
            seed_demo: env("YIYANG_SEED_DEMO")
                .map(|v| v != "false" && v != "0")
                .or(file.seed_demo)
                .unwrap_or(true),
            demo_mllp_port: env("YIYANG_DEMO_MLLP_PORT")
                .and_then(|v| v.parse().ok())
                .or(file.demo_mllp_port)
                .unwrap_or(2575),
            metrics_access,
            key_source,
            sections: file.sections,
        })
    }

    /// A module's settings: environment variable, then the file's `[module]` section, then
    /// the declared default.
    pub fn section(&self, module: &str, settings: &[Setting]) -> Section {
        let table = self.sections.get(module).and_then(|v| v.as_table());
        Section::resolve(module, settings, |s| {
            env(s.env).or_else(|| {
                table.and_then(|t| t.get(s.key)).map(|v| match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            })
        })
    }

    /// The node's keys: configured ones, or the generated key file in the data directory.
    pub fn keys(&self) -> AppResult<Keys> {
        let k = &self.key_source;
        let (data, blind, token, mask) =
            match (&k.data_keys, &k.blind_key, &k.token_key, &k.mask_key) {
                (Some(d), Some(b), Some(t), Some(m)) => {
                    (d.clone(), b.clone(), t.clone(), m.clone())
                }
                (None, None, None, None) => {
                    let f = self.key_file()?;
                    (f.data_keys, f.blind_key, f.token_key, f.mask_key)
                }
                _ => {
                    return Err(AppError::validation(
                        "config.keys",
                        "须同时配置 data_keys、blind_key、token_key、mask_key 四个密钥",
                    ));
                }
            };
        let mut versions = Vec::new();
        for part in data.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (v, key) = part.split_once(':').ok_or_else(|| {
                AppError::validation("config.keys", "data_keys 格式应为 版本:密钥,版本:密钥")
            })?;
            let v: u8 = v
                .trim()
                .parse()
                .map_err(|_| AppError::validation("config.keys", "密钥版本须为 1-255 的整数"))?;
            versions.push((v, parse_key(key)?));
        }
        Keys::new(
            versions,
            parse_key(&blind)?,
            parse_key(&token)?,
            parse_key(&mask)?,
        )
    }

    fn key_file(&self) -> AppResult<KeyFile> {
        let path = self.data_dir.join("keys.toml");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return toml::from_str(&text).map_err(|e| {
                AppError::validation(
                    "config.keys",
                    format!("密钥文件 {} 格式错误：{e}", path.display()),
                )
            });
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let f = KeyFile {
            data_keys: format!("1:{}", generate_key_hex()),
            blind_key: generate_key_hex(),
            token_key: generate_key_hex(),
            mask_key: generate_key_hex(),
        };
        let text = format!(
            "# Generated by yiyang on first start. Keep it secret and back it up: without it the\n# encrypted ID numbers cannot be read. Production sets the YIYANG_*_KEY variables instead.\n{}",
            toml::to_string(&f).map_err(AppError::internal)?
        );
        write_private(&path, &text)?;
        tracing::warn!(path = %path.display(), "generated new keys; back this file up");
        Ok(f)
    }
}

fn write_private(path: &Path, text: &str) -> AppResult<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_configuration_table_is_the_generated_one() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .expect("README.md");
        let start = readme
            .find("<!-- settings:begin -->\n")
            .expect("README has <!-- settings:begin -->");
        let end = readme
            .find("<!-- settings:end -->")
            .expect("README has <!-- settings:end -->");
        let table = &readme[start + "<!-- settings:begin -->\n".len()..end];
        assert_eq!(
            table,
            docs_table(),
            "README's configuration table differs from `yiyang config docs`; paste its output"
        );
    }

    #[test]
    fn every_env_setting_is_documented_once() {
        let table = docs_table();
        for env in [
            "YIYANG_MPI_CANDIDATES",
            "YIYANG_MLLP_BIND",
            "YIYANG_HL7_LANES",
            "YIYANG_HL7_BATCH_MS",
            "YIYANG_HL7_RUN",
            "YIYANG_NOTIFY_TOKEN",
            "YIYANG_NOTIFY_SMS_URL",
            "YIYANG_LISTEN",
        ] {
            assert_eq!(table.matches(&format!("`{env}`")).count(), 1, "{env}");
        }
    }

    #[test]
    fn a_module_section_comes_from_the_file_and_the_environment_wins() {
        let file: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:1\"\n[integration]\nhl7_run = 64\nmllp_bind = \"0.0.0.0\"\n",
        )
        .unwrap();
        let cfg = Config {
            listen: String::new(),
            data_dir: PathBuf::new(),
            database_url: String::new(),
            db_max_connections: 1,
            tls: None,
            seed_demo: false,
            demo_mllp_port: 0,
            key_source: FileConfig::default(),
            sections: file.sections,
            metrics_access: MetricsAccess::default(),
        };
        let m = yiyang_integration::IntegrationModule;
        use yiyang_platform::module::Module;
        let s = cfg.section("integration", m.settings());
        assert_eq!(s.get("hl7_run"), "64");
        assert_eq!(s.get("hl7_lanes"), "4");
        let c = yiyang_integration::IntegrationConfig::from_section(&s).unwrap();
        assert_eq!((c.hl7_run, c.mllp_bind.as_str()), (64, "0.0.0.0"));
        let bad = Section::resolve("integration", m.settings(), |s| {
            (s.key == "hl7_lanes").then(|| "many".to_string())
        });
        let e = yiyang_integration::IntegrationConfig::from_section(&bad).unwrap_err();
        assert!(e.message.contains("YIYANG_HL7_LANES"), "{}", e.message);
    }
}
