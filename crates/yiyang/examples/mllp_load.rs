//! MLLP load generator: N concurrent connections each sending M ADT^A01 messages (a new
//! patient and admission each, unique MSH-10) and waiting for every ACK before the next.
//! Prints messages per second and ACK latency percentiles.
//!
//! ```sh
//! cargo run --release --example mllp_load -- 127.0.0.1:2575 8 250
//! ```

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yiyang_hl7v2::{MllpDecoder, encode_frame};

const SURNAMES: &[&str] = &["钟", "李", "张", "黄", "陈", "刘", "曾", "丘", "罗", "廖"];
const GIVEN: &[&str] = &[
    "伟明", "秀英", "建国", "丽华", "志强", "美玲", "国平", "春梅", "振华", "玉兰",
];

fn message(run: u64, conn: usize, i: usize) -> String {
    let n = conn * 1_000_000 + i;
    format!(
        "MSH|^~\\&|HIS|MZH|YIYANG|MZ|20261126093000||ADT^A01^ADT_A01|L{run}-{conn}-{i}|P|2.5\r\
         EVN|A01|20261126093000\r\
         PID|1||L{run}MR{n}^^^MZH^MR||{}^{}||19{:02}{:02}{:02}|{}|||江南路{}号^^梅州市^广东省||139{:08}\r\
         PV1|1|I|内科一病区^{}^{}|||||||MED||||||||||L{run}V{n}",
        SURNAMES[n % SURNAMES.len()],
        GIVEN[(n / 10) % GIVEN.len()],
        30 + n % 60,
        1 + n % 12,
        1 + n % 28,
        if n.is_multiple_of(2) { "M" } else { "F" },
        n % 500,
        n % 100_000_000,
        300 + n % 40,
        1 + n % 4,
    )
}

/// One connection sending `count` messages in turn. When the server closes the connection
/// without an ACK (it could not store the message), the client reconnects and resends the
/// same message, as a real sender would; the dedupe makes that safe.
async fn client(
    addr: String,
    run: u64,
    conn: usize,
    count: usize,
) -> (Vec<Duration>, usize, usize) {
    let connect = || async {
        let s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let _ = s.set_nodelay(true);
        s
    };
    let mut s = connect().await;
    let mut lat = Vec::with_capacity(count);
    let (mut not_aa, mut retries) = (0, 0);
    let mut dec = MllpDecoder::new(1 << 20);
    let mut buf = vec![0u8; 16 * 1024];
    for i in 0..count {
        let frame = encode_frame(message(run, conn, i).as_bytes());
        let t = Instant::now();
        let ack = 'send: loop {
            if s.write_all(&frame).await.is_ok() {
                loop {
                    if let Some(f) = dec.next_frame() {
                        break 'send f.expect("frame");
                    }
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => dec.push(&buf[..n]),
                        _ => break,
                    }
                }
            }
            retries += 1;
            dec = MllpDecoder::new(1 << 20);
            s = connect().await;
        };
        lat.push(t.elapsed());
        if !String::from_utf8_lossy(&ack).contains("MSA|AA|") {
            not_aa += 1;
        }
    }
    (lat, not_aa, retries)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:2575".into());
    let conns: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(8);
    let per: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(250);
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|c| tokio::spawn(client(addr.clone(), run, c, per)))
        .collect();
    let mut all = Vec::new();
    let (mut not_aa, mut retries) = (0, 0);
    for t in tasks {
        let (l, n, r) = t.await.expect("client");
        all.extend(l);
        not_aa += n;
        retries += r;
    }
    let wall = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{} messages over {conns} connections in {:.2} s: {:.0} msg/s; ACK latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; not AA: {not_aa}; resent after the server closed without ACK: {retries}",
        all.len(),
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        all.last().unwrap().as_secs_f64() * 1e3,
    );
}
