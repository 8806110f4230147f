//! ISO 8601 billing periods (`subscription.duration` of products, `P1M`, `P1Y6M`, …) and the
//! calendar arithmetic that applies them to client-given instants (a promotional grant's
//! `start_time_ms`, imported purchase dates, the test clock), plus RFC 3339 rendering.
#![no_main]

use arbitrary::Arbitrary;
use entitled_core::UnixMillis;
use entitled_core::test_store::add_period;
use entitled_core::time::{DAY_MS, civil_from_days, days_from_civil};
use entitled_core::validation::iso_period;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    period: &'a str,
    at: i64,
}

/// 9999-12-31T23:59:59.999Z, the last instant with a four-digit year.
const YEAR_9999_END: i64 = 253_402_300_799_999;

fuzz_target!(|input: Input<'_>| {
    let at = UnixMillis(input.at);
    // Any instant renders, and one within four-digit years renders as RFC 3339 does.
    let rendered = at.to_rfc3339();
    if (0..=YEAR_9999_END).contains(&input.at) {
        assert_eq!(rendered.len(), 20, "{rendered}");
        assert!(rendered.ends_with('Z'));
    }
    // The civil calendar round-trips for every day an instant can fall on.
    let day = input.at.div_euclid(DAY_MS);
    let (year, month, day_of_month) = civil_from_days(day);
    assert!((1..=12).contains(&month) && (1..=31).contains(&day_of_month));
    assert_eq!(days_from_civil(year, month, day_of_month), day);

    // Whatever the period and the instant, adding answers without overflowing.
    let added = add_period(at, input.period);
    if let Ok(valid) = iso_period(input.period, "duration") {
        assert_eq!(valid, input.period);
        // A valid period moves any instant of the next few thousand years forward.
        if (-YEAR_9999_END..=YEAR_9999_END).contains(&input.at) {
            let end = added.expect("a valid period applies");
            assert!(end > at, "{} + {} = {}", input.at, input.period, end.0);
            // Never by more than the period's units allow: 10000 years at most.
            assert!(end.0 - at.0 <= 10_000 * 366 * DAY_MS * 3);
        }
    }
    if let Some(end) = added {
        // Adding keeps the time of day.
        assert_eq!(end.0.rem_euclid(DAY_MS), input.at.rem_euclid(DAY_MS));
    }
});
