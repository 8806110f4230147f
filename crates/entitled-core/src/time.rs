//! Points in time as UTC milliseconds since the Unix epoch, the unit of v2's `…_at` fields.

use serde::{Deserialize, Serialize};

/// A UTC instant in whole milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// The raw millisecond count.
    pub fn as_i64(self) -> i64 {
        self.0
    }
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The latest instant entitled accepts from outside, 9999-12-31T23:59:59.999Z: CustomerInfo
/// shows dates as RFC 3339, whose years have four digits, and the SDKs parse them.
pub const LATEST: UnixMillis = UnixMillis(253_402_300_799_999);

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl UnixMillis {
    /// RFC 3339 in UTC with second precision, e.g. `2026-11-24T10:00:00Z` (v1's date format).
    pub fn to_rfc3339(self) -> String {
        self.rfc3339().as_str().to_string()
    }

    /// [`to_rfc3339`](Self::to_rfc3339) without allocating: CustomerInfo writes dozens of
    /// dates per answer, and `format!` was most of the cost of writing it (bench/README.md).
    pub fn rfc3339(self) -> Rfc3339 {
        let days = self.0.div_euclid(DAY_MS);
        let secs = self.0.rem_euclid(DAY_MS) / 1000;
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            // Outside RFC 3339's four-digit years (entitled refuses such instants from
            // outside, see LATEST); written as `format!` would, to stay total.
            return Rfc3339::Long(format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            ));
        }
        let mut text = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, value: i64, width: usize| {
            let mut rest = value;
            for i in (at..at + width).rev() {
                // Each digit is 0..=9, so the cast cannot truncate.
                text[i] = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
        };
        put(0, year, 4);
        put(5, month, 2);
        put(8, day, 2);
        put(11, secs / 3600, 2);
        put(14, (secs / 60) % 60, 2);
        put(17, secs % 60, 2);
        Rfc3339::Short(text)
    }
}

/// An instant written as RFC 3339 (see [`UnixMillis::rfc3339`]), on the stack for the years
/// 0–9999.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rfc3339 {
    /// The usual case: `YYYY-MM-DDTHH:MM:SSZ`, ASCII.
    Short([u8; 20]),
    /// A year outside 0–9999.
    Long(String),
}

impl Rfc3339 {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and separators are ever written into it.
            Rfc3339::Short(bytes) => std::str::from_utf8(bytes).unwrap_or("invalid date"),
            Rfc3339::Long(text) => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_in_utc() {
        assert_eq!(UnixMillis(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            UnixMillis(1_795_514_400_000).to_rfc3339(),
            "2026-11-24T10:00:00Z"
        );
        assert_eq!(
            UnixMillis(1_795_514_400_999).to_rfc3339(),
            "2026-11-24T10:00:00Z"
        );
        assert_eq!(UnixMillis(-1).to_rfc3339(), "1969-12-31T23:59:59Z");
        assert_eq!(LATEST.to_rfc3339(), "9999-12-31T23:59:59Z");
        assert_eq!(
            UnixMillis(LATEST.0 + 1).to_rfc3339(),
            "10000-01-01T00:00:00Z"
        );
    }

    /// The form `format!` gives, the reference the stack-written one must match.
    fn formatted(at: UnixMillis) -> String {
        let (year, month, day) = civil_from_days(at.0.div_euclid(DAY_MS));
        let secs = at.0.rem_euclid(DAY_MS) / 1000;
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        )
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_matches_the_formatted_form(ms in -70_000_000_000_000i64..300_000_000_000_000) {
            let at = UnixMillis(ms);
            let written = at.rfc3339();
            proptest::prop_assert_eq!(written.as_str(), formatted(at));
        }
    }
}
