//! Google's timestamps: RFC 3339 strings (`2026-11-24T10:00:00.123Z`, up to nanoseconds) in
//! the v3 purchase resources, int64 milliseconds written as JSON strings elsewhere.

use ::time::OffsetDateTime;
use ::time::format_description::well_known::Rfc3339;
use entitled_core::UnixMillis;
use serde::{Deserialize, Deserializer};

/// `text` as milliseconds since 1970 (fractions below a millisecond dropped), or `None` when
/// it is not RFC 3339 or falls outside 1970..=9999, the range entitled accepts.
pub(crate) fn parse(text: &str) -> Option<UnixMillis> {
    let at = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    let ms = i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).ok()?;
    in_range(ms)
}

/// `ms` when it falls within 1970..=9999.
pub(crate) fn in_range(ms: i64) -> Option<UnixMillis> {
    (0..=entitled_core::time::LATEST.0)
        .contains(&ms)
        .then_some(UnixMillis(ms))
}

/// An int64 that Google's JSON writes as a string (`"1503349566168"`); a plain number is
/// accepted too.
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Number(i64),
        Text(String),
    }
    match Option::<Int>::deserialize(d)? {
        None => Ok(None),
        Some(Int::Number(n)) => Ok(Some(n)),
        Some(Int::Text(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an integer"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_offsets_and_range() {
        assert_eq!(
            parse("2026-11-24T10:00:00Z"),
            Some(UnixMillis(1_795_514_400_000))
        );
        assert_eq!(
            parse("2026-11-24T10:00:00.123456789Z"),
            Some(UnixMillis(1_795_514_400_123))
        );
        assert_eq!(
            parse("2026-11-24T11:00:00.5+01:00"),
            Some(UnixMillis(1_795_514_400_500))
        );
        assert_eq!(parse("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse("1503349566168"), None);
        assert_eq!(parse(""), None);
    }
}
