//! MLLP load generator. Every message is an ADT^A01 for a new patient with a new inpatient
//! admission (a fictional resident from the patient index's synthetic Meizhou population:
//! name, sex, birth date, ID number, phone, address; new MRN and visit number; unique
//! MSH-10), so processing takes the full path: patient index registration (blocking,
//! scoring, insert) and an encounter, each audited.
//!
//! ```sh
//! cargo run --release -p yiyang --example mllp_load -- [options]
//!   --addr 127.0.0.1:2575   MLLP address (the demo channel listens on 2575)
//!   --conns 64              concurrent connections
//!   --count 500             messages per connection
//!   --window 1              messages in flight per connection (1 = wait for each ACK;
//!                           more = a pipelining sender)
//!   --rate 0                total messages per second (0 = as fast as ACKs come back);
//!                           latency is then measured from each message's scheduled time
//!   --db URL                the server's database (sqlite://… or postgres://…): after the
//!                           run, wait until every message of the run is processed and
//!                           report the processing rate from the stored timestamps
//! ```
//!
//! Prints accepted messages per second, ACK latency percentiles and, with `--db`, how many
//! messages per second went through processing into persons and encounters.

use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yiyang_hl7v2::{MllpDecoder, encode_frame};

/// One ADT^A01 per fictional resident of the synthetic Meizhou population (the patient
/// index's own generator: realistic surname frequencies, diverse given names, valid ID
/// numbers, phones and addresses), each with a new inpatient admission.
fn messages(run: u64, conn: usize, count: usize) -> Vec<Vec<u8>> {
    use yiyang_mpi::Field;
    let mut g = yiyang_mpi::synth::Generator::new(run ^ ((conn as u64 + 1) * 0x9e37_79b9));
    (0..count)
        .map(|i| {
            let r = g.person(format!("{conn}-{i}"));
            let v = |f: Field| r.get(&f).unwrap_or("").to_string();
            let birth = v(Field::BirthDate).replace('-', "");
            let sex = if v(Field::Sex) == "男" { "M" } else { "F" };
            let n = conn * 1_000_000 + i;
            let msg = format!(
                "MSH|^~\\&|HIS|MZH|YIYANG|MZ|20261126093000||ADT^A01^ADT_A01|L{run}-{conn}-{i}|P|2.5\r\
                 EVN|A01|20261126093000\r\
                 PID|1||L{run}MR{n}^^^MZH^MR~{}^^^^ID||{}||{birth}|{sex}|||{}^^梅州市^广东省^^^^{}||{}\r\
                 PV1|1|I|内科一病区^{}^{}|||||||MED||||||||||L{run}V{n}",
                v(Field::IdNumber),
                v(Field::FullName),
                v(Field::AddressDetail),
                v(Field::District),
                v(Field::Phone),
                300 + n % 40,
                1 + n % 4,
            );
            encode_frame(msg.as_bytes())
        })
        .collect()
}

struct Opts {
    addr: String,
    conns: usize,
    count: usize,
    window: usize,
    rate: f64,
    db: Option<String>,
}

fn opts() -> Opts {
    let mut o = Opts {
        addr: "127.0.0.1:2575".into(),
        conns: 64,
        count: 500,
        window: 1,
        rate: 0.0,
        db: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--addr" => o.addr = v,
            "--conns" => o.conns = v.parse().expect("--conns"),
            "--count" => o.count = v.parse().expect("--count"),
            "--window" => o.window = v.parse::<usize>().expect("--window").max(1),
            "--rate" => o.rate = v.parse().expect("--rate"),
            "--db" => o.db = Some(v),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    o
}

struct Outcome {
    latencies: Vec<Duration>,
    not_aa: usize,
    reconnects: usize,
}

/// One connection sending `count` messages, up to `window` in flight. When the server
/// closes the connection, the client reconnects and resends what was unanswered, as a
/// real sender would; the dedupe makes that safe.
async fn client(addr: String, frames: Vec<Vec<u8>>, o: (usize, f64)) -> Outcome {
    let count = frames.len();
    let (window, rate) = o;
    let connect = || async {
        let s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let _ = s.set_nodelay(true);
        s
    };
    let mut s = connect().await;
    let mut out = Outcome {
        latencies: Vec::with_capacity(count),
        not_aa: 0,
        reconnects: 0,
    };
    let mut dec = MllpDecoder::new(1 << 20);
    let mut buf = vec![0u8; 64 * 1024];
    // (index, scheduled or sent time) of messages awaiting their ACK, in order.
    let mut in_flight: VecDeque<(usize, Instant)> = VecDeque::new();
    let start = Instant::now();
    let gap = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
    let mut next = 0;
    while out.latencies.len() < count {
        // Send while the window has room (and, when paced, the schedule says so).
        let mut batch = Vec::new();
        while next < count && in_flight.len() < window {
            let due = gap.map(|g| start + g * next as u32);
            if let Some(d) = due {
                let now = Instant::now();
                if d > now {
                    if in_flight.is_empty() && batch.is_empty() {
                        tokio::time::sleep(d - now).await;
                    } else {
                        break;
                    }
                }
            }
            batch.extend_from_slice(&frames[next]);
            in_flight.push_back((next, due.unwrap_or_else(Instant::now)));
            next += 1;
        }
        if !batch.is_empty() && s.write_all(&batch).await.is_err() {
            reconnect(
                &mut s,
                &mut dec,
                &mut in_flight,
                &mut next,
                &mut out,
                &connect,
            )
            .await;
            continue;
        }
        if in_flight.is_empty() {
            continue;
        }
        // Read at least one ACK (or, when paced, until the next message is due).
        let wait = match gap {
            Some(g) if next < count => {
                (start + g * next as u32).saturating_duration_since(Instant::now())
            }
            _ => Duration::from_secs(60),
        };
        let n = match tokio::time::timeout(wait.max(Duration::from_millis(1)), s.read(&mut buf))
            .await
        {
            Err(_) => continue,
            Ok(Ok(n)) if n > 0 => n,
            Ok(_) => {
                reconnect(
                    &mut s,
                    &mut dec,
                    &mut in_flight,
                    &mut next,
                    &mut out,
                    &connect,
                )
                .await;
                continue;
            }
        };
        dec.push(&buf[..n]);
        while let Some(f) = dec.next_frame() {
            let ack = f.expect("frame");
            let (_, t) = in_flight.pop_front().expect("an ACK for a sent message");
            out.latencies.push(t.elapsed());
            if !String::from_utf8_lossy(&ack).contains("MSA|AA|") {
                out.not_aa += 1;
            }
        }
    }
    out
}

async fn reconnect<F, Fut>(
    s: &mut tokio::net::TcpStream,
    dec: &mut MllpDecoder,
    in_flight: &mut VecDeque<(usize, Instant)>,
    next: &mut usize,
    out: &mut Outcome,
    connect: &F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = tokio::net::TcpStream>,
{
    out.reconnects += 1;
    *dec = MllpDecoder::new(1 << 20);
    if let Some((first, _)) = in_flight.front() {
        *next = *first;
    }
    in_flight.clear();
    *s = connect().await;
}

#[tokio::main]
async fn main() {
    let o = opts();
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let per_conn_rate = o.rate / o.conns as f64;
    let frames: Vec<Vec<Vec<u8>>> = (0..o.conns).map(|c| messages(run, c, o.count)).collect();
    let start = Instant::now();
    let tasks: Vec<_> = frames
        .into_iter()
        .map(|f| tokio::spawn(client(o.addr.clone(), f, (o.window, per_conn_rate))))
        .collect();
    let mut all = Vec::new();
    let (mut not_aa, mut reconnects) = (0, 0);
    for t in tasks {
        let r = t.await.expect("client");
        all.extend(r.latencies);
        not_aa += r.not_aa;
        reconnects += r.reconnects;
    }
    let wall = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "accepted: {} messages over {} connections (window {}{}) in {:.2} s = {:.0} msg/s; ACK latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; not AA: {not_aa}; reconnects: {reconnects}",
        all.len(),
        o.conns,
        o.window,
        if o.rate > 0.0 {
            format!(", paced at {:.0} msg/s", o.rate)
        } else {
            String::new()
        },
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        all.last().unwrap().as_secs_f64() * 1e3,
    );
    if let Some(url) = o.db {
        processing(&url, run, all.len()).await;
    }
}

/// Waits until the run's messages are processed; reports the rate from stored timestamps.
async fn processing(url: &str, run: u64, sent: usize) {
    let db = yiyang_store::Db::connect(url, &yiyang_store::DbOptions::default())
        .await
        .expect("database");
    let pattern = format!("L{run}-%");
    let waited = Instant::now();
    loop {
        let left = db
            .scalar(
                "SELECT COUNT(*) FROM hl7_messages WHERE control_id LIKE $1 AND status = 'received'",
                yiyang_store::args![&pattern],
            )
            .await
            .expect("count");
        if left == 0 {
            break;
        }
        if waited.elapsed() > Duration::from_secs(1800) {
            println!("processing: {left} messages still waiting after 30 min");
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (n, ok, first, last): (i64, i64, i64, i64) = db
        .fetch_one(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'processed' THEN 1 ELSE 0 END), 0), MIN(received_at), MAX(processed_at) \
             FROM hl7_messages WHERE control_id LIKE $1 AND status <> 'duplicate'",
            yiyang_store::args![&pattern],
        )
        .await
        .expect("figures");
    let secs = (last - first) as f64 / 1e6;
    println!(
        "processed: {ok} of {n} stored messages ({sent} ACKed) into persons and encounters; first stored → last processed {secs:.2} s = {:.0} msg/s",
        n as f64 / secs.max(1e-6)
    );
}
