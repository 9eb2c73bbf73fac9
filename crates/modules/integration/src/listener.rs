//! MLLP listeners: a supervisor reconciles running listeners with the enabled channels every
//! few seconds (start, restart on change, stop), and reports each listener's state on its
//! channel row. Each connection reads frames with [`MllpDecoder`], hands each payload to
//! [`engine::ingest`] and writes the ACK back only after the store has committed.

use crate::channels::{CHANNEL_COLS, Channel};
use crate::engine;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use yiyang_hl7v2::{MllpDecoder, encode_frame};
use yiyang_platform::web::AppState;
use yiyang_store::args;

/// Largest accepted message (bytes).
pub const MAX_FRAME: usize = 4 << 20;

/// The bind address for MLLP listeners: `YIYANG_MLLP_BIND`, default `127.0.0.1`.
pub fn bind_from_env() -> String {
    std::env::var("YIYANG_MLLP_BIND")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "127.0.0.1".into())
}

struct Running {
    updated_at: i64,
    stop: watch::Sender<bool>,
}

/// Starts the supervisor; it runs until `stop` turns true, then stops every listener.
pub fn spawn(
    st: AppState,
    bind: String,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut running: HashMap<i64, Running> = HashMap::new();
        loop {
            if let Err(e) = reconcile(&st, &bind, &mut running).await {
                tracing::warn!(error = %e.message, "mllp supervisor: reconcile failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        for (_, r) in running.drain() {
            let _ = r.stop.send(true);
        }
    })
}

async fn set_state(st: &AppState, id: i64, state: &str, error: &str) {
    // Only the status shown on the channel page; the listener runs either way.
    if let Err(e) = st
        .db
        .execute(
            "UPDATE hl7_channels SET listen_state = $1, listen_error = $2, listen_checked_at = $3 WHERE id = $4",
            args![state, error, st.clock.now_micros(), id],
        )
        .await
    {
        tracing::warn!(channel = id, error = %e, "could not record the listener state");
    }
}

async fn reconcile(
    st: &AppState,
    bind: &str,
    running: &mut HashMap<i64, Running>,
) -> yiyang_core::AppResult<()> {
    let all: Vec<Channel> = st
        .db
        .fetch_all(&format!("SELECT {CHANNEL_COLS} FROM hl7_channels"), vec![])
        .await?;
    let wanted: HashMap<i64, &Channel> = all
        .iter()
        .filter(|c| c.enabled)
        .map(|c| (c.id, c))
        .collect();
    // Stop listeners whose channel was disabled, deleted or changed.
    let stale: Vec<i64> = running
        .iter()
        .filter(|(id, r)| wanted.get(id).is_none_or(|c| c.updated_at != r.updated_at))
        .map(|(id, _)| *id)
        .collect();
    for id in stale {
        if let Some(r) = running.remove(&id) {
            let _ = r.stop.send(true);
            tracing::info!(channel = id, "mllp listener stopped");
        }
    }
    for c in &all {
        if !c.enabled && c.listen_state != "stopped" {
            set_state(st, c.id, "stopped", "").await;
        }
    }
    for (id, c) in wanted {
        if running.contains_key(&id) {
            if c.listen_state != "listening" {
                set_state(st, id, "listening", "").await;
            }
            continue;
        }
        let addr = format!("{bind}:{}", c.port);
        match TcpListener::bind(&addr).await {
            Ok(l) => {
                let (tx, rx) = watch::channel(false);
                tokio::spawn(accept_loop(st.clone(), c.clone(), l, rx));
                running.insert(
                    id,
                    Running {
                        updated_at: c.updated_at,
                        stop: tx,
                    },
                );
                set_state(st, id, "listening", "").await;
                tracing::info!(channel = id, %addr, "mllp listener started");
            }
            Err(e) => {
                set_state(st, id, "error", &format!("无法监听 {addr}：{e}")).await;
            }
        }
    }
    Ok(())
}

async fn accept_loop(st: AppState, ch: Channel, l: TcpListener, mut stop: watch::Receiver<bool>) {
    let ch = Arc::new(ch);
    let slots = Arc::new(Semaphore::new(ch.max_connections.max(1) as usize));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = l.accept() => {
                let Ok((sock, peer)) = r else { continue };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(channel = ch.id, %peer, "mllp: too many connections, closing");
                    drop(sock);
                    continue;
                };
                let (st, ch, stop) = (st.clone(), ch.clone(), stop.clone());
                tokio::spawn(async move {
                    connection(&st, &ch, sock, stop).await;
                    drop(permit);
                });
            }
        }
    }
}

/// Serves one connection until the peer closes, the read timeout passes, a framing error
/// occurs, or the listener stops.
async fn connection(
    st: &AppState,
    ch: &Channel,
    mut sock: TcpStream,
    mut stop: watch::Receiver<bool>,
) {
    let _ = sock.set_nodelay(true);
    let timeout = Duration::from_secs(ch.read_timeout_secs.max(1) as u64);
    let mut dec = MllpDecoder::new(MAX_FRAME);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            _ = stop.changed() => return,
            r = tokio::time::timeout(timeout, sock.read(&mut buf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => n,
            },
        };
        dec.push(&buf[..n]);
        while let Some(frame) = dec.next_frame() {
            let payload = match frame {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(channel = ch.id, error = %e, "mllp: framing error, closing");
                    let _ = sock.shutdown().await;
                    return;
                }
            };
            match engine::ingest(st, ch, &payload).await {
                Ok(Some(ack)) => {
                    let bytes = yiyang_hl7v2::encode_message(&ack)
                        .map(|c| c.into_owned())
                        .unwrap_or_else(|_| ack.into_bytes());
                    if sock.write_all(&encode_frame(&bytes)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    tracing::warn!(
                        channel = ch.id,
                        "mllp: payload is not an HL7 message, closing"
                    );
                    let _ = sock.shutdown().await;
                    return;
                }
                Err(e) => {
                    // Not stored: no ACK; the sender will retry on a new connection.
                    tracing::error!(channel = ch.id, error = %e.message, "mllp: could not store message");
                    let _ = sock.shutdown().await;
                    return;
                }
            }
        }
    }
}
