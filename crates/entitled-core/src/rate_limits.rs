//! Rate limits: which endpoint domain a request counts against, and how much each allows.
//! Windows are fixed (`floor(now / period)`), so several nodes sharing a counter agree on
//! where a window starts.

use crate::time::UnixMillis;

/// RevenueCat's rate-limit domains, plus one for the v1 SDK API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    /// v1: what the SDKs call.
    Sdk,
    /// v2 customers, subscriptions, purchases.
    CustomerInformation,
    /// v2 configuration: apps, products, entitlements, offerings, keys, integrations…
    ProjectConfiguration,
    /// v2 metrics and charts.
    ChartsMetrics,
}

impl Domain {
    /// Every domain.
    pub const ALL: [Domain; 4] = [
        Domain::Sdk,
        Domain::CustomerInformation,
        Domain::ProjectConfiguration,
        Domain::ChartsMetrics,
    ];

    /// The configuration name, e.g. `customer_information`.
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Sdk => "sdk",
            Domain::CustomerInformation => "customer_information",
            Domain::ProjectConfiguration => "project_configuration",
            Domain::ChartsMetrics => "charts_metrics",
        }
    }

    /// The domain of a request path, or `None` for paths that are never limited.
    pub fn of_path(path: &str) -> Option<Domain> {
        if path.starts_with("/v1/subscribers")
            || path.starts_with("/v1/receipts")
            || path.starts_with("/v1/product_entitlement_mapping")
            || path.starts_with("/rcbilling/")
        {
            return Some(Domain::Sdk);
        }
        let rest = path.strip_prefix("/v2/projects/")?;
        let resource = rest.split('/').nth(1).unwrap_or("");
        Some(match resource {
            "customers" | "subscriptions" | "purchases" => Domain::CustomerInformation,
            "metrics" | "charts" => Domain::ChartsMetrics,
            _ => Domain::ProjectConfiguration,
        })
    }
}

/// How many requests a domain allows per window; `limit == 0` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed per window.
    pub limit: u64,
    /// The window, in ms.
    pub period_ms: i64,
}

/// The rates of every domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    rates: [(Domain, Rate); 4],
}

impl Default for RateLimits {
    /// RevenueCat's documented defaults per minute; the SDK domain is unlimited unless set,
    /// as one public key serves every user of an app.
    fn default() -> Self {
        let per_minute = |limit| Rate {
            limit,
            period_ms: 60_000,
        };
        Self {
            rates: [
                (Domain::Sdk, per_minute(0)),
                (Domain::CustomerInformation, per_minute(480)),
                (Domain::ProjectConfiguration, per_minute(60)),
                (Domain::ChartsMetrics, per_minute(5)),
            ],
        }
    }
}

impl RateLimits {
    /// The defaults changed by `domain=N/period` items, e.g.
    /// `project_configuration=120/60s,sdk=1000/1s` (periods in `ms`, `s`, `m` or `h`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut limits = Self::default();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, rate) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not domain=N/period"))?;
            let domain = Domain::ALL
                .into_iter()
                .find(|d| d.as_str() == name.trim())
                .ok_or_else(|| format!("{name:?} is not a rate-limit domain"))?;
            let (count, period) = rate
                .split_once('/')
                .ok_or_else(|| format!("{item:?} is not domain=N/period"))?;
            let limit: u64 = count
                .trim()
                .parse()
                .map_err(|_| format!("{item:?}: the count is not a number"))?;
            let period = period.trim();
            let (number, unit) = if let Some(n) = period.strip_suffix("ms") {
                (n, 1)
            } else if let Some(n) = period.strip_suffix('s') {
                (n, 1_000)
            } else if let Some(n) = period.strip_suffix('m') {
                (n, 60_000)
            } else if let Some(n) = period.strip_suffix('h') {
                (n, 3_600_000)
            } else {
                return Err(format!("{item:?}: the period needs a unit (ms, s, m, h)"));
            };
            let amount: i64 = number
                .parse()
                .map_err(|_| format!("{item:?}: the period is not a number"))?;
            if amount <= 0 {
                return Err(format!("{item:?}: the period must be positive"));
            }
            let period_ms = amount
                .checked_mul(unit)
                .ok_or_else(|| format!("{item:?}: the period is too long"))?;
            let slot = limits
                .rates
                .iter_mut()
                .find(|(d, _)| *d == domain)
                .ok_or_else(|| format!("{name:?} has no rate"))?;
            slot.1 = Rate { limit, period_ms };
        }
        Ok(limits)
    }

    /// The rate of a domain.
    pub fn rate(&self, domain: Domain) -> Rate {
        self.rates.iter().find(|(d, _)| *d == domain).map_or(
            Rate {
                limit: 0,
                period_ms: 60_000,
            },
            |(_, r)| *r,
        )
    }
}

impl Rate {
    /// The start of the window `now` falls in.
    pub fn window_start(&self, now: UnixMillis) -> i64 {
        now.0.div_euclid(self.period_ms) * self.period_ms
    }

    /// Milliseconds from `now` until the window after it starts.
    pub fn wait_ms(&self, now: UnixMillis) -> i64 {
        self.window_start(now) + self.period_ms - now.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_revenuecats_domains() {
        assert_eq!(Domain::of_path("/v1/subscribers/u1"), Some(Domain::Sdk));
        assert_eq!(Domain::of_path("/v1/receipts"), Some(Domain::Sdk));
        assert_eq!(Domain::of_path("/v1/health"), None);
        assert_eq!(
            Domain::of_path("/v2/projects/p/customers/c"),
            Some(Domain::CustomerInformation)
        );
        assert_eq!(
            Domain::of_path("/v2/projects/p/apps"),
            Some(Domain::ProjectConfiguration)
        );
        assert_eq!(
            Domain::of_path("/v2/projects/p/charts/revenue"),
            Some(Domain::ChartsMetrics)
        );
        assert_eq!(Domain::of_path("/openapi.json"), None);
    }

    #[test]
    fn rates_parse_over_the_defaults() {
        let limits = RateLimits::parse("project_configuration=3/1h, sdk=10/1s").unwrap();
        assert_eq!(
            limits.rate(Domain::ProjectConfiguration),
            Rate {
                limit: 3,
                period_ms: 3_600_000
            }
        );
        assert_eq!(
            limits.rate(Domain::Sdk),
            Rate {
                limit: 10,
                period_ms: 1_000
            }
        );
        assert_eq!(limits.rate(Domain::CustomerInformation).limit, 480);
        assert!(RateLimits::parse("nope=1/1s").is_err());
        assert!(RateLimits::parse("sdk=1").is_err());
        assert!(RateLimits::parse("sdk=1/1").is_err());
        assert!(RateLimits::parse("sdk=x/1s").is_err());
        assert_eq!(RateLimits::parse("").unwrap(), RateLimits::default());
    }

    #[test]
    fn windows_are_fixed() {
        let rate = Rate {
            limit: 5,
            period_ms: 1_000,
        };
        assert_eq!(rate.window_start(UnixMillis(2_345)), 2_000);
        assert_eq!(rate.wait_ms(UnixMillis(2_345)), 655);
        assert_eq!(rate.window_start(UnixMillis(3_000)), 3_000);
    }

    /// Found by `fuzz/fuzz_targets/config_values.rs`: the window overflowed (a panic at
    /// startup in debug builds, a negative window in release).
    #[test]
    fn windows_too_long_are_refused() {
        assert!(RateLimits::parse("sdk=922/+922337203685477m").is_err());
        assert!(RateLimits::parse("sdk=1/9223372036854775807h").is_err());
        assert_eq!(
            RateLimits::parse("sdk=1/2562047h")
                .unwrap()
                .rate(Domain::Sdk)
                .period_ms,
            2_562_047 * 3_600_000
        );
    }
}
