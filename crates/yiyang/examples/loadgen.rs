//! Load generator for the authenticated, scoped, audited JSON read `GET /api/v1/staff/{id}`.
//!
//! Logs in (`POST /api/v1/auth/login`), picks a staff id visible to the account
//! (`GET /api/v1/staff`), then keeps `--connections` keep-alive HTTP/1.1 connections busy for
//! `--duration` (closed loop: each connection sends its next request when the previous
//! response has arrived) and prints throughput, errors and latency percentiles.
//!
//! The measuring loop uses a minimal HTTP/1.1 client over `tokio::net::TcpStream` so the
//! generator spends as little CPU as possible (it shares the machine with the server);
//! reqwest is used only for login and setup.
//!
//! ```sh
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8091 --duration 20s --connections 64
//! ```

use clap::Parser;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(about = "Benchmark GET /api/v1/staff/{id} with a session cookie")]
struct Args {
    /// Base URL of a running yiyang (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8091")]
    url: String,
    #[arg(long, default_value = "doctor")]
    login: String,
    #[arg(long, default_value = "Meizhou#2026")]
    password: String,
    /// Measured duration, e.g. `20s`, `500ms`, `1m`.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before the measured run.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    warmup: Duration,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Worker threads of the generator's runtime (it shares the cores with the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Staff id to read (default: the first one `GET /api/v1/staff` returns).
    #[arg(long)]
    id: Option<i64>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| format!("bad duration: {s}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit: {s}")),
    };
    if !(0.0..=3600.0).contains(&secs) {
        return Err("duration must be between 0 and 1 h".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

async fn run(args: Args) -> Result<(), BoxErr> {
    let base = args.url.trim_end_matches('/').to_string();
    let authority = base
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?
        .to_string();
    if !(authority.starts_with("127.0.0.1:") || authority.starts_with("localhost:")) {
        return Err("refusing to load anything but 127.0.0.1/localhost".into());
    }

    // Login and setup with reqwest.
    let http = reqwest::Client::builder().cookie_store(true).build()?;
    let resp = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"login": args.login, "password": args.password}))
        .send()
        .await?;
    if !resp.status().is_success() {
        return Err(format!("login failed: {} {}", resp.status(), resp.text().await?).into());
    }
    let token = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("yy_session="))
        .and_then(|v| v.split(';').next())
        .ok_or("login set no yy_session cookie")?
        .to_string();
    let id = match args.id {
        Some(id) => id,
        None => {
            let list: serde_json::Value = http
                .get(format!("{base}/api/v1/staff?size=1"))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            list["items"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|s| s["id"].as_i64())
                .ok_or("GET /api/v1/staff returned no staff visible to this account")?
        }
    };
    let path = format!("/api/v1/staff/{id}");
    let sample = http.get(format!("{base}{path}")).send().await?;
    let status = sample.status();
    let body = sample.text().await?;
    if !status.is_success() {
        return Err(format!("{path}: {status} {body}").into());
    }
    println!(
        "target   GET {path} as {} ({} bytes)",
        args.login,
        body.len()
    );
    println!("sample   {}", body.chars().take(160).collect::<String>());

    let request: Arc<[u8]> = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nCookie: yy_session={token}\r\n\r\n"
    )
    .into_bytes()
    .into();

    if !args.warmup.is_zero() {
        let r = phase(&authority, &request, args.connections, args.warmup).await;
        println!(
            "warm-up  {:.1} s, {} requests, {} errors",
            args.warmup.as_secs_f64(),
            r.latencies.len(),
            r.errors
        );
    }
    let started = Instant::now();
    let mut r = phase(&authority, &request, args.connections, args.duration).await;
    let elapsed = started.elapsed().as_secs_f64();
    r.latencies.sort_unstable();
    let n = r.latencies.len();
    let pct = |p: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        let i = ((p / 100.0) * n as f64).ceil() as usize;
        r.latencies[i.clamp(1, n) - 1] as f64 / 1000.0
    };
    let mean = if n == 0 {
        0.0
    } else {
        r.latencies.iter().map(|&v| v as f64).sum::<f64>() / n as f64 / 1000.0
    };
    println!(
        "run      {:.1} s, {} connections, generator threads {}",
        elapsed, args.connections, args.threads
    );
    println!("requests {n} ok, {} errors", r.errors);
    if let Some(e) = &r.first_error {
        println!("first error: {e}");
    }
    println!("rate     {:.0} requests/s", n as f64 / elapsed);
    println!(
        "latency  mean {mean:.2} ms  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(99.9),
        pct(100.0)
    );
    Ok(())
}

struct PhaseResult {
    /// Latency of each successful request, microseconds.
    latencies: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

async fn phase(authority: &str, request: &Arc<[u8]>, conns: usize, d: Duration) -> PhaseResult {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (a, r, s) = (authority.to_string(), request.clone(), stop.clone());
        tasks.push(tokio::spawn(connection(a, r, s)));
    }
    tokio::time::sleep(d).await;
    stop.store(true, Ordering::Relaxed);
    let mut out = PhaseResult {
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
    };
    for t in tasks {
        if let Ok(r) = t.await {
            out.latencies.extend(r.latencies);
            out.errors += r.errors;
            if out.first_error.is_none() {
                out.first_error = r.first_error;
            }
        }
    }
    out
}

/// One keep-alive connection sending requests back to back until `stop`.
async fn connection(authority: String, request: Arc<[u8]>, stop: Arc<AtomicBool>) -> PhaseResult {
    let mut r = PhaseResult {
        latencies: Vec::with_capacity(1 << 16),
        errors: 0,
        first_error: None,
    };
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut stream: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        if stream.is_none() {
            match TcpStream::connect(&authority).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    stream = Some(s);
                }
                Err(e) => {
                    r.errors += 1;
                    r.first_error.get_or_insert_with(|| format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let s = stream.as_mut().expect("connected");
        let t0 = Instant::now();
        let res = exchange(s, &request, &mut buf).await;
        let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
        match res {
            Ok((200, keep)) => {
                r.latencies.push(us);
                if !keep {
                    stream = None;
                }
            }
            Ok((status, keep)) => {
                r.errors += 1;
                r.first_error.get_or_insert_with(|| {
                    format!("HTTP {status}: {}", String::from_utf8_lossy(&buf))
                });
                if !keep {
                    stream = None;
                }
            }
            Err(e) => {
                r.errors += 1;
                r.first_error.get_or_insert_with(|| format!("I/O: {e}"));
                stream = None;
            }
        }
    }
    r
}

/// Sends one request and reads one response; returns (status, keep-alive). The body is left
/// in `buf`.
async fn exchange(s: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> Result<(u16, bool), BoxErr> {
    s.write_all(req).await?;
    buf.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?.to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("bad status line")?;
    let mut len: Option<usize> = None;
    let mut chunked = false;
    let mut keep = true;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.eq_ignore_ascii_case("chunked");
            } else if k.eq_ignore_ascii_case("connection") {
                keep = !v.eq_ignore_ascii_case("close");
            }
        }
    }
    buf.drain(..head_end);
    if chunked {
        // Read until the terminating zero-length chunk; the body is kept raw.
        while find(buf, b"\r\n0\r\n\r\n").is_none() && !buf.starts_with(b"0\r\n\r\n") {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err("connection closed in body".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    } else {
        let len = len.ok_or("response without length")?;
        while buf.len() < len {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err("connection closed in body".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    Ok((status, keep))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
