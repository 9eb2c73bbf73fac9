//! Online matching on the platform's own path: registering one person (validation,
//! candidate lookup by block keys in the database, scoring, insert, audit) against an
//! index of N synthetic Meizhou residents (default 1,000,000).
//!
//! `cargo run --release -p yiyang --example mpi_online_bench [-- N QUERIES DATABASE_URL]`
//!
//! The index is bulk-loaded with the same normalisation and block keys `register` uses;
//! then QUERIES registrations (half corrupted duplicates of indexed persons, half new
//! people) are timed one by one. Prints load time, p50/p99/max latency and outcomes.

use std::sync::Arc;
use std::time::Instant;
use yiyang_core::{Clock, RequestContext, SystemClock};
use yiyang_mpi::{Field, RawRecord, synth::Generator};
use yiyang_patients::matching::{self, MatchFields};
use yiyang_patients::service::{self, PersonInput};
use yiyang_store::{Arg, args};

fn fields(r: &RawRecord) -> MatchFields {
    let g = |f: Field| r.get(&f).unwrap_or("").to_string();
    MatchFields {
        name: g(Field::FullName),
        sex: g(Field::Sex),
        birth_date: g(Field::BirthDate),
        id_number: g(Field::IdNumber),
        phone: g(Field::Phone),
        district: g(Field::District),
        town: g(Field::Town),
        address_detail: g(Field::AddressDetail),
        insurance_no: String::new(),
    }
}

fn input(org: i64, f: &MatchFields) -> PersonInput {
    let birth = chrono::NaiveDate::parse_from_str(&f.birth_date, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(&f.birth_date, "%Y%m%d"))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    PersonInput {
        org_id: org,
        name: f.name.clone(),
        sex: f.sex.clone(),
        birth_date: birth,
        id_number: f.id_number.clone(),
        phone: f.phone.clone(),
        district: f.district.clone(),
        town: f.town.clone(),
        address_detail: f.address_detail.clone(),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let q: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000);
    let url = args.get(3).cloned().unwrap_or_else(|| {
        let dir = std::env::temp_dir().join(format!("yiyang-mpi-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        format!("sqlite://{}/bench.db", dir.display())
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let db = yiyang_store::Db::connect(&url, &Default::default())
        .await
        .unwrap();
    yiyang::app::prepare(&db, clock.as_ref()).await.unwrap();
    let platform = yiyang::app::Platform::start(
        db.clone(),
        yiyang_platform::crypto::Keys::for_tests(),
        clock.clone(),
        false,
    )
    .await;
    let st = platform.state.clone();
    yiyang::seed::seed_demo(&st).await.unwrap();
    let org: i64 = db
        .scalar("SELECT id FROM orgs WHERE code = 'MZ-CHC-01'", vec![])
        .await
        .unwrap();
    let engine = matching::engine(&db).await.unwrap();

    // 1. Bulk-load the index.
    let t = Instant::now();
    let mut g = Generator::new(2026);
    let mut sample: Vec<RawRecord> = Vec::new();
    let now = clock.now_micros();
    let base: i64 = db
        .scalar("SELECT COALESCE(MAX(id), 0) FROM persons", vec![])
        .await
        .unwrap();
    let chunk = 400usize;
    let mut next_id = base + 1;
    let mut done = 0;
    while done < n {
        let m = chunk.min(n - done);
        let mut tx = db.begin().await.unwrap();
        let mut p_sql = String::from(
            "INSERT INTO persons (id, name, name_pinyin, sex, birth_date, id_cipher, id_blind, phone, district, town, address_detail, home_org_id, status, created_at, updated_at) VALUES ",
        );
        let mut p_args: Vec<Arg> = Vec::new();
        let mut k_sql = String::from("INSERT INTO person_block_keys (person_id, key) VALUES ");
        let mut k_args: Vec<Arg> = Vec::new();
        let mut o_sql = String::from("INSERT INTO person_orgs (person_id, org_id) VALUES ");
        let mut o_args: Vec<Arg> = Vec::new();
        for i in 0..m {
            let raw = g.person(format!("P{}", done + i));
            if (done + i) % (n / q.max(1)).max(1) == 0 && sample.len() < q / 2 {
                sample.push(raw.clone());
            }
            let f = fields(&raw);
            let person = engine.matcher.normalizer.normalize(&f.raw(next_id));
            let pin = input(org, &f);
            let pinyin = matching::stored_pinyin(&person);
            if i > 0 {
                p_sql.push_str(", ");
                o_sql.push_str(", ");
            }
            let b = p_args.len();
            p_sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 'active', ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10,
                b + 11,
                b + 12,
                b + 13,
                b + 13
            ));
            let sex = yiyang_core::idnumber::Sex::from_code(&pin.sex)
                .map(|s| s.code())
                .unwrap_or("");
            p_args.extend(args![
                next_id,
                &pin.name,
                pinyin,
                sex,
                (!pin.birth_date.is_empty()).then(|| pin.birth_date.clone()),
                st.keys.encrypt(&pin.id_number),
                st.keys.blind_index("id_number", &pin.id_number),
                &pin.phone,
                &pin.district,
                &pin.town,
                &pin.address_detail,
                org,
                now
            ]);
            let ob = o_args.len();
            o_sql.push_str(&format!("(${}, ${})", ob + 1, ob + 2));
            o_args.extend(args![next_id, org]);
            for row in matching::block_key_rows(&engine, next_id, &person) {
                if !k_args.is_empty() {
                    k_sql.push_str(", ");
                }
                let kb = k_args.len();
                k_sql.push_str(&format!("(${}, ${})", kb + 1, kb + 2));
                k_args.extend(row);
            }
            next_id += 1;
        }
        tx.execute(&p_sql, p_args).await.unwrap();
        tx.execute(&o_sql, o_args).await.unwrap();
        tx.execute(&k_sql, k_args).await.unwrap();
        tx.commit().await.unwrap();
        done += m;
        if done % 100_000 == 0 {
            eprintln!("loaded {done} persons ({:.0} s)", t.elapsed().as_secs_f64());
        }
    }
    if url.starts_with("postgres") {
        db.execute(
            "SELECT setval(pg_get_serial_sequence('persons', 'id'), (SELECT MAX(id) FROM persons))",
            vec![],
        )
        .await
        .unwrap();
        db.execute("ANALYZE", vec![]).await.unwrap();
    } else {
        db.execute("ANALYZE", vec![]).await.unwrap();
    }
    println!("indexed {n} persons in {:.1} s", t.elapsed().as_secs_f64());

    // 2. Registrations, one by one.
    let ctx = RequestContext::system(clock.clone(), "bench");
    let mut lat = Vec::new();
    let mut outcomes = std::collections::HashMap::<String, usize>::new();
    let mut dup_found = 0;
    for (k, orig) in sample.iter().enumerate() {
        let dup = g.duplicate(orig, format!("D{k}"));
        let fresh = g.person(format!("N{k}"));
        for (is_dup, r) in [(true, dup), (false, fresh)] {
            let t = Instant::now();
            let out = service::register(&st, &ctx, input(org, &fields(&r))).await;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            let o = out
                .map(|o| o.outcome)
                .unwrap_or_else(|e| format!("error:{}", e.code));
            if is_dup && (o == "linked" || o == "review") {
                dup_found += 1;
            }
            *outcomes
                .entry(format!("{}:{o}", if is_dup { "duplicate" } else { "new" }))
                .or_default() += 1;
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{} registrations against {} persons on {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        n,
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1]
    );
    let mut o: Vec<_> = outcomes.into_iter().collect();
    o.sort();
    println!(
        "outcomes: {o:?}; duplicates linked or queued: {dup_found}/{}",
        sample.len()
    );
    platform.shutdown().await;
}
