//! Timestamps of the database: microseconds since the Unix epoch, shown and read as
//! UTC ISO 8601 (`2026-11-30T04:05:06.123456Z`).

use crate::calendar::{civil_from_days, days_from_civil};

/// `2026-11-30T04:05:06.123456Z`.
pub fn format_us(us: i64) -> String {
    let (days, rem) = (us.div_euclid(86_400_000_000), us.rem_euclid(86_400_000_000));
    let (y, m, d) = civil_from_days(days);
    let s = rem / 1_000_000;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z", s / 3600, s / 60 % 60, s % 60, rem % 1_000_000)
}

/// Reads `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z]` (a space may replace the T;
/// always UTC) or an integer of microseconds since the epoch.
pub fn parse_us(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(us) = s.parse::<i64>() {
        return Some(us);
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, t),
        None => (s, "00:00:00"),
    };
    let mut dp = date.split('-');
    let (y, m, d): (i64, i64, i64) = (dp.next()?.parse().ok()?, dp.next()?.parse().ok()?, dp.next()?.parse().ok()?);
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut tp = time.split(':');
    let hh: i64 = tp.next()?.parse().ok()?;
    let mm: i64 = tp.next()?.parse().ok()?;
    let (ss, frac) = match tp.next() {
        Some(sec) => match sec.split_once('.') {
            Some((a, f)) => {
                let digits: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
                (a.parse::<i64>().ok()?, digits.parse::<i64>().ok()?)
            }
            None => (sec.parse().ok()?, 0),
        },
        None => (0, 0),
    };
    if tp.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some((days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000 + frac)
}

/// Now, from the system clock.
pub fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Now, as [`format_us`] writes it (the time stamps of records and markers).
pub fn now_text() -> String {
    format_us(now_us())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_instants() {
        // 2000-03-01T00:00:00Z is 951868800 s after the epoch (by `date -u -d`).
        assert_eq!(parse_us("2000-03-01"), Some(951_868_800_000_000));
        assert_eq!(format_us(951_868_800_000_000), "2000-03-01T00:00:00.000000Z");
        assert_eq!(parse_us("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        for us in [0, 1, 1_764_474_306_123_456, -86_400_000_000] {
            assert_eq!(parse_us(&format_us(us)), Some(us));
        }
        assert_eq!(parse_us("2026-13-01"), None);
        assert_eq!(parse_us("yesterday"), None);
    }
}
