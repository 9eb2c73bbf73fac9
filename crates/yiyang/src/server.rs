//! The HTTP(S) server with the job worker beside it, and graceful shutdown.

use crate::app;
use crate::config::Config;
use crate::seed;
use std::net::SocketAddr;
use std::time::Duration;
use yiyang_core::{AppError, AppResult};
use yiyang_platform::web::AppState;

pub async fn serve(cfg: &Config, st: AppState) -> AppResult<()> {
    if cfg.seed_demo && seed::seed_demo(&st).await? {
        tracing::info!("seeded the demo city");
    }
    if cfg.seed_demo {
        seed::seed_demo_channel(&st, cfg.demo_mllp_port).await?;
    }
    let addr: SocketAddr = cfg.listen.parse().map_err(|_| {
        AppError::validation("config.listen", format!("监听地址无效：{}", cfg.listen))
    })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = app::worker(&st, format!("node-{}", std::process::id()));
    let listeners = st.registry.listeners(&st, &stop_rx);
    let worker_task =
        tokio::spawn(worker.run_forever(Duration::from_millis(500), st.job_stats.clone(), stop_rx));
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    print_banner(&format!("{scheme}://{addr}"), cfg);
    let router = app::router(st.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        h.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let result = match &cfg.tls {
        Some((cert, key)) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| {
                    AppError::validation("config.tls", format!("无法加载 TLS 证书或私钥：{e}"))
                })?;
            axum_server::bind_rustls(addr, tls)
                .handle(handle)
                .serve(router)
                .await
        }
        None => axum_server::bind(addr).handle(handle).serve(router).await,
    };
    let _ = stop_tx.send(true);
    let _ = worker_task.await;
    for task in listeners {
        let _ = task.await;
    }
    result.map_err(|e| AppError::new("server.bind", 500, format!("无法监听 {addr}：{e}")))
}

fn print_banner(url: &str, cfg: &Config) {
    println!("\n梅州智慧医养平台已启动：{url}/");
    println!(
        "数据库：{}",
        if cfg.database_url.starts_with("sqlite") {
            cfg.database_url.clone()
        } else {
            "PostgreSQL".into()
        }
    );
    if cfg.seed_demo {
        println!("示例账号（密码均为 {}）：", seed::DEMO_PASSWORD);
        for (login, name, role, _) in seed::DEMO_ACCOUNTS {
            println!("  {login:<11} {name}（{role}）");
        }
    }
    println!("接口文档：{url}/api/docs  OpenAPI：{url}/api/openapi.json  指标：{url}/metrics\n");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
