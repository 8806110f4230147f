//! The test store's rules: billing periods on the calendar, and the renewals a sandbox would
//! make as its clock moves.

use std::collections::BTreeMap;

use crate::engine::subscription_of;
use crate::purchases::{LifecycleEvent, PeriodType, Store, StoreTransaction};
use crate::time::{UnixMillis, civil_from_days, days_from_civil};

use crate::time::DAY_MS;

fn days_in_month(year: i64, month: i64) -> i64 {
    let next = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    days_from_civil(next.0, next.1, 1) - days_from_civil(year, month, 1)
}

/// The billing period of test subscriptions whose product names none.
pub const DEFAULT_PERIOD: &str = "P1M";

/// Largest number of years, of months and of days (a week counts 7) [`add_period`] accepts:
/// ten thousand years in days, far more than any store period, small enough that the
/// calendar arithmetic cannot overflow.
const MAX_PERIOD_AMOUNT: i64 = 10_000 * 366;

/// `at` plus an ISO 8601 period of years, months, weeks and days, on the UTC calendar:
/// a month after January 31 is the last day of February. `None` for a malformed period, an
/// amount above [`MAX_PERIOD_AMOUNT`], or a result beyond the range of [`UnixMillis`].
pub fn add_period(at: UnixMillis, period: &str) -> Option<UnixMillis> {
    let body = period.strip_prefix('P')?;
    let (mut years, mut months, mut days) = (0i64, 0i64, 0i64);
    let mut digits = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok().filter(|n| *n <= MAX_PERIOD_AMOUNT)?;
        digits.clear();
        match c {
            'Y' => years += n,
            'M' => months += n,
            'W' => days += 7 * n,
            'D' => days += n,
            _ => return None,
        }
        if years.max(months).max(days) > MAX_PERIOD_AMOUNT {
            return None;
        }
    }
    if !digits.is_empty() {
        return None;
    }
    // Days since 1970 of any `UnixMillis` fit a few hundred million years, so the calendar
    // arithmetic below stays far inside i64; only the final milliseconds can overflow.
    let day_index = at.0.div_euclid(DAY_MS);
    let time_of_day = at.0.rem_euclid(DAY_MS);
    let (year, month, day) = civil_from_days(day_index);
    let total_months = year * 12 + (month - 1) + years * 12 + months;
    let (new_year, new_month) = (total_months.div_euclid(12), total_months.rem_euclid(12) + 1);
    let new_day = day.min(days_in_month(new_year, new_month));
    let shifted = days_from_civil(new_year, new_month, new_day) + days;
    let millis = shifted.checked_mul(DAY_MS)?.checked_add(time_of_day)?;
    Some(UnixMillis(millis))
}

/// Renewals the test store makes up to `now`: for each auto-renewing test-store subscription
/// (not cancelled, refunded, expired early or in billing trouble), one transaction per
/// period end that has passed. `periods` gives each product's billing period (`P1M`, …).
/// Renewal `i` of original `o` has store transaction id `o.renewal.i`, so re-running this
/// after its renewals were recorded makes nothing new.
pub fn renewals_due(
    transactions: &[StoreTransaction],
    events: &[LifecycleEvent],
    periods: &BTreeMap<String, String>,
    now: UnixMillis,
    mut new_id: impl FnMut() -> String,
) -> Vec<StoreTransaction> {
    let mut groups: BTreeMap<&str, Vec<&StoreTransaction>> = BTreeMap::new();
    for t in transactions
        .iter()
        .filter(|t| t.store == Store::TestStore && t.is_subscription)
    {
        groups
            .entry(&t.original_transaction_id)
            .or_default()
            .push(t);
    }
    let mut renewals = Vec::new();
    for (original, group) in groups {
        let group_events: Vec<&LifecycleEvent> = events
            .iter()
            .filter(|e| e.store == Store::TestStore && e.original_transaction_id == original)
            .collect();
        let Some(state) = subscription_of(&group, &group_events) else {
            continue;
        };
        let stopped = state.unsubscribe_detected_at.is_some()
            || state.refunded_at.is_some()
            || state.billing_issues_detected_at.is_some();
        // A paused subscription renews at its resume date, not at its period end.
        let resume = state.auto_resume_date;
        let Some(latest) = group
            .iter()
            .max_by_key(|t| (t.purchased_at, t.expires_at, t.store_transaction_id.clone()))
        else {
            continue;
        };
        let (Some(mut period_end), Some(period)) = (
            state.expires_date.map(|e| resume.map_or(e, |r| r.max(e))),
            periods.get(&latest.product_id),
        ) else {
            continue;
        };
        let ended_early = group_events
            .iter()
            .any(|e| e.kind == crate::purchases::LifecycleKind::Expired);
        if stopped || ended_early {
            continue;
        }
        let mut count = group.len();
        while period_end <= now {
            let Some(next_end) = add_period(period_end, period) else {
                break;
            };
            renewals.push(StoreTransaction {
                id: new_id(),
                store_transaction_id: format!("{original}.renewal.{count}"),
                purchased_at: period_end,
                expires_at: Some(next_end),
                period_type: PeriodType::Normal,
                ..(*latest).clone()
            });
            count += 1;
            period_end = next_end;
        }
    }
    renewals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purchases::{Environment, LifecycleKind, Ownership};

    fn at(year: i64, month: i64, day: i64) -> UnixMillis {
        UnixMillis(days_from_civil(year, month, day) * DAY_MS)
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-800_000, -1, 0, 1, 59, 60, 365, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn periods_follow_the_calendar() {
        assert_eq!(add_period(at(2026, 1, 31), "P1M"), Some(at(2026, 2, 28)));
        assert_eq!(add_period(at(2024, 1, 31), "P1M"), Some(at(2024, 2, 29)));
        assert_eq!(add_period(at(2026, 11, 15), "P3M"), Some(at(2027, 2, 15)));
        assert_eq!(add_period(at(2024, 2, 29), "P1Y"), Some(at(2025, 2, 28)));
        assert_eq!(add_period(at(2026, 12, 30), "P1W"), Some(at(2027, 1, 6)));
        assert_eq!(
            add_period(UnixMillis(at(2026, 3, 1).0 + 1234), "P1D"),
            Some(UnixMillis(at(2026, 3, 2).0 + 1234))
        );
        assert_eq!(add_period(at(2026, 1, 1), "P1Y6M"), Some(at(2027, 7, 1)));
        assert_eq!(add_period(at(2026, 1, 1), "1M"), None);
        assert_eq!(add_period(at(2026, 1, 1), "P1H"), None);
    }

    /// Found by `fuzz/fuzz_targets/periods.rs`: these overflowed (a panic in debug builds, a
    /// date in the past in release) — a v1 promotional grant adds its period to the client's
    /// `start_time_ms`.
    #[test]
    fn periods_past_the_end_of_time_are_none_not_an_overflow() {
        assert_eq!(add_period(UnixMillis(i64::MAX), "P1Y"), None);
        assert_eq!(add_period(UnixMillis(i64::MAX - DAY_MS + 1), "P1D"), None);
        assert_eq!(
            add_period(UnixMillis(i64::MAX - DAY_MS), "P1D"),
            Some(UnixMillis(i64::MAX))
        );
        assert_eq!(add_period(UnixMillis(0), "P9223372036854775807W"), None);
        assert_eq!(add_period(UnixMillis(0), "P1317624576693539401W"), None);
        assert_eq!(
            add_period(UnixMillis(0), &format!("P{}", "3000000Y".repeat(4))),
            None
        );
        assert!(add_period(UnixMillis(i64::MIN), "P1Y").is_some());
        assert_eq!(add_period(at(2026, 1, 1), "P9999Y"), Some(at(12025, 1, 1)));
    }

    fn purchase(original: &str, bought: UnixMillis, expires: UnixMillis) -> StoreTransaction {
        StoreTransaction {
            id: format!("txn{original}"),
            customer_key: "c".into(),
            app_id: "app".into(),
            store: Store::TestStore,
            store_transaction_id: original.into(),
            original_transaction_id: original.into(),
            product_id: "pro_monthly".into(),
            product_plan_id: None,
            purchased_at: bought,
            expires_at: Some(expires),
            period_type: PeriodType::Trial,
            environment: Environment::Sandbox,
            ownership: Ownership::Purchased,
            price: None,
            is_subscription: true,
        }
    }

    fn periods() -> BTreeMap<String, String> {
        BTreeMap::from([("pro_monthly".to_string(), "P1M".to_string())])
    }

    #[test]
    fn each_passed_period_end_renews_once() {
        let first = purchase("t1", at(2026, 1, 10), at(2026, 2, 10));
        let mut counter = 0;
        let mut next = || {
            counter += 1;
            format!("txn-new-{counter}")
        };
        let renewals = renewals_due(
            std::slice::from_ref(&first),
            &[],
            &periods(),
            at(2026, 4, 10),
            &mut next,
        );
        let ends: Vec<UnixMillis> = renewals.iter().filter_map(|r| r.expires_at).collect();
        assert_eq!(ends, [at(2026, 3, 10), at(2026, 4, 10), at(2026, 5, 10)]);
        assert_eq!(renewals[0].purchased_at, at(2026, 2, 10));
        assert_eq!(renewals[0].period_type, PeriodType::Normal);
        assert_eq!(renewals[0].original_transaction_id, "t1");
        assert_eq!(renewals[2].store_transaction_id, "t1.renewal.3");
        let mut all = vec![first];
        all.extend(renewals);
        assert!(
            renewals_due(&all, &[], &periods(), at(2026, 4, 10), &mut next).is_empty(),
            "nothing twice"
        );
        assert!(
            renewals_due(&all[..1], &[], &periods(), at(2026, 2, 9), &mut next).is_empty(),
            "nothing early"
        );
    }

    #[test]
    fn a_paused_subscription_renews_at_its_resume_date() {
        let first = purchase("t1", at(2026, 1, 10), at(2026, 2, 10));
        let pause = LifecycleEvent {
            id: "p".into(),
            store: Store::TestStore,
            original_transaction_id: "t1".into(),
            kind: crate::purchases::LifecycleKind::Paused {
                resumes_at: at(2026, 3, 10),
            },
            occurred_at: at(2026, 1, 20),
        };
        let events = [pause];
        let paused = renewals_due(
            std::slice::from_ref(&first),
            &events,
            &periods(),
            at(2026, 3, 1),
            || "x".into(),
        );
        assert!(paused.is_empty(), "no renewal during the pause");
        let resumed = renewals_due(
            std::slice::from_ref(&first),
            &events,
            &periods(),
            at(2026, 3, 11),
            || "x".into(),
        );
        assert_eq!(resumed.len(), 1);
        assert_eq!(resumed[0].purchased_at, at(2026, 3, 10));
        assert_eq!(resumed[0].expires_at, Some(at(2026, 4, 10)));
    }

    #[test]
    fn cancelled_or_troubled_subscriptions_do_not_renew() {
        let first = purchase("t1", at(2026, 1, 10), at(2026, 2, 10));
        for kind in [
            LifecycleKind::Cancelled,
            LifecycleKind::Refunded,
            LifecycleKind::Expired,
            LifecycleKind::BillingIssue {
                grace_period_expires_at: None,
            },
        ] {
            let event = LifecycleEvent {
                id: "e".into(),
                store: Store::TestStore,
                original_transaction_id: "t1".into(),
                kind,
                occurred_at: at(2026, 1, 20),
            };
            let renewals = renewals_due(
                std::slice::from_ref(&first),
                &[event],
                &periods(),
                at(2026, 6, 1),
                || "x".into(),
            );
            assert!(renewals.is_empty(), "{kind:?}");
        }
    }
}
