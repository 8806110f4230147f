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
        let days = self.0.div_euclid(DAY_MS);
        let ms_of_day = self.0.rem_euclid(DAY_MS);
        let (year, month, day) = civil_from_days(days);
        let secs = ms_of_day / 1000;
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        )
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
    }
}
