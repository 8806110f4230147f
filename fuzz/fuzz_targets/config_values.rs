//! Operator-given settings parsed from flags, environment or the config file:
//! rate limits (`sdk=1000/1s,…`) and USD exchange rates (`EUR=1.08,…`).
#![no_main]

use entitled_core::purchases::{Money, UsdRates};
use entitled_core::rate_limits::{Domain, RateLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(limits) = RateLimits::parse(text) {
        for domain in Domain::ALL {
            assert!(limits.rate(domain).period_ms > 0, "{domain:?} in {text:?}");
        }
    }
    if let Ok(rates) = UsdRates::parse(text) {
        for code in text
            .split(',')
            .filter_map(|item| item.split_once('='))
            .map(|(c, _)| c.trim())
        {
            let money = Money {
                amount_micros: 1_000_000,
                currency: code.to_string(),
            };
            if let Some(usd) = rates.to_usd(&money) {
                assert!(usd.is_finite() && usd >= 0.0, "{code}: {usd}");
            }
        }
    }
});
