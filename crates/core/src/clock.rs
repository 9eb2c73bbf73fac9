//! Time is a parameter: code asks a [`Clock`], never the system time directly.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;

    /// Microseconds since the Unix epoch: the storage format of every timestamp.
    fn now_micros(&self) -> i64 {
        self.now().timestamp_micros()
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved; for tests and simulations.
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Arc::new(AtomicI64::new(t.timestamp_micros())))
    }

    pub fn advance(&self, d: chrono::Duration) {
        let micros = d.num_microseconds().unwrap_or(i64::MAX);
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

/// Renders stored microseconds in China Standard Time for people.
pub fn format_micros_cst(micros: i64) -> String {
    let Some(t) = DateTime::from_timestamp_micros(micros) else {
        return String::new();
    };
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    t.with_timezone(&cst)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Today's date in China Standard Time.
pub fn today_cst(clock: &dyn Clock) -> chrono::NaiveDate {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    clock.now().with_timezone(&cst).date_naive()
}

/// Microseconds (UTC) of 00:00 China Standard Time on `d`.
pub fn day_start_cst(d: chrono::NaiveDate) -> i64 {
    (d.and_hms_opt(0, 0, 0).expect("midnight") - chrono::Duration::hours(8))
        .and_utc()
        .timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_advanced() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let c = FixedClock::at(t);
        assert_eq!(c.now(), t);
        c.advance(chrono::Duration::minutes(5));
        assert_eq!(c.now_micros() - t.timestamp_micros(), 300_000_000);
    }

    #[test]
    fn formats_in_china_standard_time() {
        assert_eq!(format_micros_cst(0), "1970-01-01 08:00:00");
    }
}
