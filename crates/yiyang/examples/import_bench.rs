//! Times the bulk import of 1,000 staff rows (CSV) through the same code the upload uses.
//!
//! `cargo run --release -p yiyang --example import_bench [-- DATABASE_URL [ROWS]]`
//! (default: a temporary SQLite file and 1,000 rows).

use std::sync::Arc;
use std::time::Instant;
use yiyang_core::{Clock, RequestContext, SystemClock};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| {
        let dir = std::env::temp_dir().join(format!("yiyang-import-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        format!("sqlite://{}/bench.db", dir.display())
    });
    let rows: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let db = yiyang_store::Db::connect(&url, &Default::default())
        .await
        .unwrap();
    yiyang::app::prepare(&db, clock.as_ref()).await.unwrap();
    let keys = yiyang_platform::crypto::Keys::for_tests();
    let platform = yiyang::app::Platform::start(db, keys, clock.clone(), false).await;
    let st = platform.state.clone();
    yiyang::seed::seed_demo(&st).await.unwrap();
    let mut csv = String::from(
        "机构编码,科室编码,姓名,性别,身份证号,手机号,职业类别,职称,资格证书编号,执业证书编号,执业证书有效期\n",
    );
    let start = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap();
    let tag = std::process::id() % 1000;
    for i in 0..rows {
        let birth = start + chrono::Duration::days(i64::from(i) * 11 + i64::from(tag));
        let id = yiyang_core::idnumber::compose("441424", birth, (i % 499 * 2 + 1) as u16);
        csv.push_str(&format!(
            "MZ-NH-01,CARE1,导入测试{i},男,{id},137{:08},护理员,,,,\n",
            i
        ));
    }
    let ctx = RequestContext::system(clock, "import-bench");
    let t = Instant::now();
    let parsed = yiyang_basedata::import::read_rows(
        "bench.csv",
        csv.as_bytes(),
        yiyang_basedata::import::STAFF_COLUMNS,
    )
    .unwrap();
    let report = yiyang_basedata::import::import_staff(&st, &ctx, parsed, false)
        .await
        .unwrap();
    let elapsed = t.elapsed();
    println!(
        "imported {} of {} rows in {:.0} ms ({} errors) on {}",
        report.imported,
        report.total_rows,
        elapsed.as_secs_f64() * 1e3,
        report.errors.len(),
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    platform.shutdown().await;
}
