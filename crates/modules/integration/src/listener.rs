//! MLLP listeners: a supervisor reconciles running listeners with the enabled channels every
//! few seconds (start, restart on change, stop), and reports each listener's state on its
//! channel row. A listener speaks plain TCP, TLS or mutual TLS as its channel says. Each
//! connection reads frames with [`MllpDecoder`], prepares each payload ([`engine::prepare`]),
//! hands it to the [`Pipeline`] and writes the ACK back only after the store has committed.
//! Frames that arrive together (a pipelining sender) are stored together and answered in
//! order.

use crate::channels::{CHANNEL_COLS, Channel};
use crate::engine;
use crate::pipeline::Pipeline;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use yiyang_hl7v2::{MllpDecoder, encode_frame};
use yiyang_platform::web::AppState;
use yiyang_store::args;

/// Metrics series of ACK latency (frame decoded → ACK ready), per channel.
pub const ACK_SERIES: &str = "hl7_ack";

/// Largest accepted message (bytes).
pub const MAX_FRAME: usize = 4 << 20;

struct Running {
    config: String,
    stop: watch::Sender<bool>,
}

/// Starts the message pipeline and the supervisor; they run until `stop` turns true, then
/// every listener stops.
pub fn spawn(
    st: AppState,
    bind: String,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let pipeline = Pipeline::start(&st, stop.clone());
    tokio::spawn(async move {
        let mut running: HashMap<i64, Running> = HashMap::new();
        loop {
            if let Err(e) = reconcile(&st, &pipeline, &bind, &mut running).await {
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

/// Everything a running listener depends on: a change restarts it.
fn config_of(c: &Channel) -> String {
    let mut c = c.clone();
    c.listen_state.clear();
    c.listen_error.clear();
    c.listen_checked_at = None;
    serde_json::to_string(&c).unwrap_or_default()
}

async fn reconcile(
    st: &AppState,
    pipeline: &Pipeline,
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
        .filter(|(id, r)| wanted.get(id).is_none_or(|c| config_of(c) != r.config))
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
        let tls = if c.tls_mode == "off" {
            None
        } else {
            match crate::tls::server_config(&c.tls_mode, &c.tls_cert, &c.tls_key, &c.tls_client_ca)
            {
                Ok(cfg) => Some(TlsAcceptor::from(cfg)),
                Err(e) => {
                    set_state(st, id, "error", &e.message).await;
                    continue;
                }
            }
        };
        match TcpListener::bind(&addr).await {
            Ok(l) => {
                let (tx, rx) = watch::channel(false);
                tokio::spawn(accept_loop(
                    st.clone(),
                    pipeline.clone(),
                    c.clone(),
                    l,
                    tls,
                    rx,
                ));
                running.insert(
                    id,
                    Running {
                        config: config_of(c),
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

async fn accept_loop(
    st: AppState,
    pipeline: Pipeline,
    ch: Channel,
    l: TcpListener,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
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
                let _ = sock.set_nodelay(true);
                let (st, pipeline, ch, stop, tls) =
                    (st.clone(), pipeline.clone(), ch.clone(), stop.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => connection(&st, &pipeline, &ch, sock, stop).await,
                        Some(acceptor) => {
                            let timeout = Duration::from_secs(ch.read_timeout_secs.max(1) as u64);
                            match tokio::time::timeout(timeout, acceptor.accept(sock)).await {
                                Ok(Ok(s)) => connection(&st, &pipeline, &ch, s, stop).await,
                                Ok(Err(e)) => {
                                    tracing::warn!(channel = ch.id, %peer, error = %e, "mllp: TLS handshake failed");
                                }
                                Err(_) => {
                                    tracing::warn!(channel = ch.id, %peer, "mllp: TLS handshake timed out");
                                }
                            }
                        }
                    }
                    drop(permit);
                });
            }
        }
    }
}

/// Serves one connection until the peer closes, the read timeout passes, a framing error
/// occurs, or the listener stops.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    st: &AppState,
    pipeline: &Pipeline,
    ch: &Channel,
    mut sock: S,
    mut stop: watch::Receiver<bool>,
) {
    let timeout = Duration::from_secs(ch.read_timeout_secs.max(1) as u64);
    let mut dec = MllpDecoder::new(MAX_FRAME);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = tokio::select! {
            _ = stop.changed() => return,
            r = tokio::time::timeout(timeout, sock.read(&mut buf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => n,
            },
        };
        dec.push(&buf[..n]);
        let arrived = std::time::Instant::now();
        // Every complete frame that arrived goes to the store together; a batch frame
        // (FHS/BHS) contributes each of its messages and is answered with a batch of ACKs.
        let mut frames: Vec<(Option<String>, Vec<crate::pipeline::Ticket>)> = Vec::new();
        let mut close = false;
        'frames: while let Some(frame) = dec.next_frame() {
            let payload = match frame {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(channel = ch.id, error = %e, "mllp: framing error, closing");
                    close = true;
                    break;
                }
            };
            let now = st.clock.now_micros();
            let (batch_id, members) = match engine::batch_members(&payload) {
                None => (None, vec![payload]),
                Some(Ok(b)) => (Some(b.control_id), b.messages),
                Some(Err(reason)) => {
                    tracing::warn!(channel = ch.id, %reason, "mllp: malformed batch, closing");
                    close = true;
                    break;
                }
            };
            let mut tickets = Vec::with_capacity(members.len());
            for m in members {
                let Some(row) = engine::prepare(ch, &m, now) else {
                    tracing::warn!(
                        channel = ch.id,
                        "mllp: payload is not an HL7 message, closing"
                    );
                    close = true;
                    break 'frames;
                };
                match pipeline.submit(row).await {
                    Ok(t) => tickets.push(t),
                    Err(_) => {
                        close = true;
                        break 'frames;
                    }
                }
            }
            frames.push((batch_id, tickets));
        }
        out.clear();
        'answers: for (batch_id, tickets) in frames {
            let mut acks = Vec::with_capacity(tickets.len());
            for t in tickets {
                match pipeline.finish(st, t).await {
                    Ok(ack) => {
                        st.metrics.sample(ACK_SERIES, ch.id, arrived.elapsed());
                        acks.push(ack);
                    }
                    Err(e) => {
                        // Not stored (or still pending): no ACK; the sender retries.
                        tracing::error!(channel = ch.id, error = %e.message, "mllp: no ACK for a message");
                        close = true;
                        break 'answers;
                    }
                }
            }
            let bytes = match batch_id {
                Some(id) => engine::batch_ack(&id, &acks, st.clock.now_micros()),
                None => {
                    let text = acks.pop().unwrap_or_default();
                    yiyang_hl7v2::encode_message(&text)
                        .map(|c| c.into_owned())
                        .unwrap_or_else(|_| text.into_bytes())
                }
            };
            out.extend_from_slice(&encode_frame(&bytes));
        }
        if !out.is_empty() && sock.write_all(&out).await.is_err() {
            return;
        }
        if close {
            let _ = sock.shutdown().await;
            return;
        }
    }
}
