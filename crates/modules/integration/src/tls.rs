//! TLS and mutual TLS for MLLP listeners (rustls with the ring provider). Certificates and
//! keys are PEM files on the server, named per channel; they are loaded when the channel is
//! saved (so a wrong path is a form error) and again when its listener starts.

use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use yiyang_core::{AppError, AppResult};

fn field_err(field: &'static str, msg: String) -> AppError {
    AppError::field("integration.tls_invalid", field, msg)
}

fn certs(path: &str, field: &'static str, label: &str) -> AppResult<Vec<CertificateDer<'static>>> {
    let list: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| field_err(field, format!("无法读取{label}文件 {path}：{e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            field_err(
                field,
                format!("{label}文件 {path} 不是有效的 PEM 证书：{e}"),
            )
        })?;
    if list.is_empty() {
        return Err(field_err(field, format!("{label}文件 {path} 中没有证书")));
    }
    Ok(list)
}

/// The server configuration of a channel: `tls` presents `cert`/`key`; `mtls` also requires
/// a client certificate issued by a CA in `client_ca`.
pub fn server_config(
    mode: &str,
    cert: &str,
    key: &str,
    client_ca: &str,
) -> AppResult<Arc<ServerConfig>> {
    let chain = certs(cert, "tls_cert", "服务器证书")?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| field_err("tls_key", format!("无法读取服务器私钥 {key}：{e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| AppError::internal(format!("tls: {e}")))?;
    let builder = if mode == "mtls" {
        let mut roots = RootCertStore::empty();
        for c in certs(client_ca, "tls_client_ca", "客户端 CA 证书")? {
            roots
                .add(c)
                .map_err(|e| field_err("tls_client_ca", format!("客户端 CA 证书不可用：{e}")))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| field_err("tls_client_ca", format!("客户端 CA 证书不可用：{e}")))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| field_err("tls_key", format!("证书与私钥不匹配或不可用：{e}")))?;
    Ok(Arc::new(config))
}
