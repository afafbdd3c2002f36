//! The only place that reads the wall clock.
//!
//! Everything that needs "now" takes a `&dyn Clock` (or an instant as a parameter), so
//! tests move time by hand instead of sleeping. Invariant: no other module calls
//! `Utc::now()` or `SystemTime::now()`; `clippy.toml` forbids it.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Cloning shares the same instant.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    pub fn set(&self, t: DateTime<Utc>) {
        // A poisoned lock only means another thread panicked while holding it; the
        // instant inside is still a valid value, so keep using it.
        let mut guard = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *guard = t;
    }

    pub fn advance(&self, by: Duration) {
        let mut guard = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *guard += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Formats an instant the way the database stores it: fixed width, UTC, milliseconds,
/// so that text order is time order. Instants outside years 0000–9999 (which chrono would
/// write as `+10000-…`, sorting before `2026-…`) are clamped to the nearest end; no
/// command accepts such a date, so this only guards against arithmetic gone wrong.
pub fn to_db(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, TimeZone};
    let t = match t.year() {
        y if y > 9999 => Utc
            .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
            .single()
            .unwrap_or(t),
        y if y < 0 => Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single().unwrap_or(t),
        _ => t,
    };
    // Written digit by digit: this runs for every instant of every row (thirteen per
    // report filed), and `format!` (chrono's, or std's with padded fields) cost thousands
    // of instructions a call.
    use chrono::Timelike;
    let nanos = t.nanosecond();
    // A leap second is `:60`, as chrono writes it.
    let second = t.second() + u32::from(nanos >= 1_000_000_000);
    let year = u32::try_from(t.year()).unwrap_or(0);
    let mut s = String::with_capacity(24);
    let fields = [
        (year, 4, '-'),
        (t.month(), 2, '-'),
        (t.day(), 2, 'T'),
        (t.hour(), 2, ':'),
        (t.minute(), 2, ':'),
        (second, 2, '.'),
        ((nanos % 1_000_000_000) / 1_000_000, 3, 'Z'),
    ];
    for (value, width, then) in fields {
        push_digits(&mut s, value, width);
        s.push(then);
    }
    s
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(s: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        s.push(char::from(b'0' + digit as u8));
    }
}

/// Reads an instant written by [`to_db`] (or any RFC 3339 text).
pub fn from_db(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn database_instants_are_written_as_chrono_writes_them() {
        let mut instants: Vec<DateTime<Utc>> = vec![
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(999, 2, 3, 4, 5, 6).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            // A leap second: chrono keeps it in the nanoseconds.
            Utc.with_ymd_and_hms(2016, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(1_500_000_000 - 1_000_000_000),
        ];
        if let Some(leap) = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_234_567_890))
        {
            instants.push(leap.and_utc());
        }
        let mut t = Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap();
        for step in 0..2000_i64 {
            instants.push(t);
            t += chrono::Duration::microseconds(step * 7_919_993 + 1);
        }
        for t in instants {
            assert_eq!(to_db(t), t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        }
    }

    #[test]
    fn database_instants_are_fixed_width_so_text_order_is_time_order() {
        let far = Utc.with_ymd_and_hms(9999, 12, 31, 23, 0, 0).unwrap() + Duration::days(2);
        let near = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        assert_eq!(to_db(far), "9999-12-31T23:59:59.000Z");
        assert!(to_db(near) < to_db(far));
        assert_eq!(to_db(near).len(), to_db(far).len());
        assert_eq!(from_db(&to_db(near)), Some(near));
    }
}
