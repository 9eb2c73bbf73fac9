//! Configuration: built-in defaults, then an optional TOML file, then environment variables.
//!
//! | key (file)      | environment              | default                               |
//! |-----------------|--------------------------|---------------------------------------|
//! | listen          | YIYANG_LISTEN            | 127.0.0.1:8080                        |
//! | data_dir        | YIYANG_DATA_DIR          | ./data                                |
//! | database_url    | YIYANG_DATABASE_URL      | sqlite://{data_dir}/yiyang.db         |
//! | db_max_connections | YIYANG_DB_MAX_CONNECTIONS | 6                               |
//! | tls_cert / tls_key | YIYANG_TLS_CERT / YIYANG_TLS_KEY | (none: plain HTTP)         |
//! | data_keys       | YIYANG_DATA_KEYS ("1:hex,2:hex") | generated into {data_dir}/keys.toml |
//! | blind_key, token_key, mask_key | YIYANG_BLIND_KEY, YIYANG_TOKEN_KEY, YIYANG_MASK_KEY | same |
//! | seed_demo       | YIYANG_SEED_DEMO         | true                                  |
//! | demo_mllp_port  | YIYANG_DEMO_MLLP_PORT    | 2575 (demo HL7 channel; 0 = none)     |
//!
//! Keys are never written to the database. Without configured keys, a node creates
//! `{data_dir}/keys.toml` (mode 0600) on first start; production sets them explicitly.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use yiyang_core::{AppError, AppResult};
use yiyang_platform::crypto::{Keys, generate_key_hex, parse_key};
use yiyang_platform::module::{Section, Setting};

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
