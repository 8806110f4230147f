//! Facts about purchases: verified store transactions and what stores later say about them.
//! Facts are only ever added; everything a customer has is derived from them (see
//! [`crate::engine`]).

use crate::time::UnixMillis;

/// Where a purchase was made. Names are RevenueCat's `store` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Store {
    /// Apple's App Store.
    AppStore,
    /// Google Play.
    PlayStore,
    /// Stripe.
    Stripe,
    /// entitled's test store.
    TestStore,
    /// Granted by the project, not bought.
    Promotional,
}

impl Store {
    /// The wire name, e.g. `app_store`.
    pub fn as_str(self) -> &'static str {
        match self {
            Store::AppStore => "app_store",
            Store::PlayStore => "play_store",
            Store::Stripe => "stripe",
            Store::TestStore => "test_store",
            Store::Promotional => "promotional",
        }
    }

    /// Parses a stored name.
    pub fn from_stored(value: &str) -> Option<Self> {
        [
            Store::AppStore,
            Store::PlayStore,
            Store::Stripe,
            Store::TestStore,
            Store::Promotional,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// Sandbox (test purchases) or production (real money).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// Test purchases.
    Sandbox,
    /// Real purchases.
    Production,
}

impl Environment {
    /// `SANDBOX` or `PRODUCTION`, as webhooks spell it; lower case in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }

    /// Parses [`Environment::as_str`]'s output back.
    pub fn from_stored(value: &str) -> Option<Self> {
        match value {
            "sandbox" => Some(Environment::Sandbox),
            "production" => Some(Environment::Production),
            _ => None,
        }
    }
}

/// What part of a subscription's life a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodType {
    /// A paid period at the regular price.
    Normal,
    /// A free trial.
    Trial,
    /// An introductory price.
    Intro,
    /// Granted by the project.
    Promotional,
}

impl PeriodType {
    /// The wire name: `normal`, `trial`, `intro`, `promotional`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodType::Normal => "normal",
            PeriodType::Trial => "trial",
            PeriodType::Intro => "intro",
            PeriodType::Promotional => "promotional",
        }
    }

    /// Parses a wire name.
    pub fn from_stored(value: &str) -> Option<Self> {
        [
            PeriodType::Normal,
            PeriodType::Trial,
            PeriodType::Intro,
            PeriodType::Promotional,
        ]
        .into_iter()
        .find(|p| p.as_str() == value)
    }
}

/// Whether the customer bought it or a family member shares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ownership {
    /// Bought by the customer.
    Purchased,
    /// Shared through Family Sharing.
    FamilyShared,
}

impl Ownership {
    /// `PURCHASED` or `FAMILY_SHARED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::Purchased => "PURCHASED",
            Ownership::FamilyShared => "FAMILY_SHARED",
        }
    }
}

/// An amount of money: integer millionths of the currency unit, and the ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Money {
    /// Millionths of a unit: 4.99 USD is 4_990_000.
    pub amount_micros: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
}

/// A verified store transaction: one purchase or one renewal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreTransaction {
    /// `txn…`.
    pub id: String,
    /// The customer who owns it now.
    pub customer_key: String,
    /// The app it was bought through.
    pub app_id: String,
    /// The store.
    pub store: Store,
    /// The store's id for this transaction; unique per store.
    pub store_transaction_id: String,
    /// The store's id for the first transaction of this subscription (itself for one-offs).
    pub original_transaction_id: String,
    /// The store product identifier.
    pub product_id: String,
    /// For Play subscriptions, the base plan.
    pub product_plan_id: Option<String>,
    /// When this transaction was bought.
    pub purchased_at: UnixMillis,
    /// For subscriptions, when this period ends; `None` for one-time purchases.
    pub expires_at: Option<UnixMillis>,
    /// What kind of period this is.
    pub period_type: PeriodType,
    /// Sandbox or production.
    pub environment: Environment,
    /// Bought or family-shared.
    pub ownership: Ownership,
    /// What was paid, if known.
    pub price: Option<Money>,
    /// Whether the product is a subscription (else a one-time purchase).
    pub is_subscription: bool,
}

/// How long a temporary grant lasts at most: RevenueCat's limit for the access it gives while
/// a store cannot verify a purchase.
pub const TEMPORARY_GRANT_MS: i64 = crate::time::DAY_MS;

/// Access given to a customer for a purchase the store could not verify when it was posted
/// (an outage): the product's entitlements until `expires_at`, at most a day. The purchase
/// is verified again later; once the store has answered (`settled_at`), the grant gives
/// nothing more and a verified purchase, if any, takes its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryGrant {
    /// `tmpg…`.
    pub id: String,
    /// The customer who posted the purchase.
    pub customer_key: String,
    /// The app it was bought through.
    pub app_id: String,
    /// The store that could not verify it.
    pub store: Store,
    /// Sandbox or production, as far as known.
    pub environment: Environment,
    /// The store's proof of purchase as posted (the receipt's `fetch_token`).
    pub fetch_token: String,
    /// The store product identifier posted with it.
    pub product_id: String,
    /// The price the app reported, if any.
    pub price: Option<Money>,
    /// When the purchase was posted: the grant starts, and the purchase is dated, then.
    pub granted_at: UnixMillis,
    /// When the grant's access ends unless the store verifies the purchase first.
    pub expires_at: UnixMillis,
    /// When the store answered (verified or refused the purchase), if it has.
    pub settled_at: Option<UnixMillis>,
}

impl TemporaryGrant {
    /// Whether the grant still stands in for its purchase at `now`: given, and not yet settled.
    pub fn is_pending(&self, now: UnixMillis) -> bool {
        self.granted_at <= now && self.settled_at.is_none_or(|settled| settled > now)
    }
}

/// Something a store said about a subscription (or one-time purchase) after it was bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleKind {
    /// Auto-renewal was turned off; the subscription ends at its expiry.
    Cancelled,
    /// Auto-renewal was turned back on.
    Uncancelled,
    /// A renewal payment failed; access continues until the grace period ends, if any.
    BillingIssue {
        /// End of the grace period, if the store grants one.
        grace_period_expires_at: Option<UnixMillis>,
    },
    /// Payment recovered after a billing issue.
    Recovered,
    /// The subscription ended now, whatever its expiry said.
    Expired,
    /// The purchase was refunded (or revoked): it ends now.
    Refunded,
    /// A refund was reversed: the purchase counts again.
    RefundReversed,
    /// The subscription pauses at the end of the current period and resumes (renews) at
    /// `resumes_at` (Google Play's pause).
    Paused {
        /// When it renews again.
        resumes_at: UnixMillis,
    },
    /// The store moved the end of the current period later (a renewal-date extension).
    Extended {
        /// The new end of the period.
        expires_at: UnixMillis,
    },
}

/// A store's later word about a purchase (a fact).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LifecycleEvent {
    /// `evt…`.
    pub id: String,
    /// The store.
    pub store: Store,
    /// Which purchase: its original transaction id.
    pub original_transaction_id: String,
    /// What happened.
    pub kind: LifecycleKind,
    /// When it happened.
    pub occurred_at: UnixMillis,
}

/// Whether a purchase stands refunded after these events of it: the latest refund or
/// reversal decides.
pub fn is_refunded<'a>(events: impl IntoIterator<Item = &'a LifecycleEvent>) -> bool {
    events
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind,
                LifecycleKind::Refunded | LifecycleKind::RefundReversed
            )
        })
        .max_by_key(|e| (e.occurred_at, e.id.as_str()))
        .is_some_and(|e| e.kind == LifecycleKind::Refunded)
}

/// Largest exchange rate accepted: larger ones would turn amounts into infinite dollars.
pub const MAX_USD_RATE: f64 = 1e9;

/// Exchange rates into US dollars: what one unit of each currency is worth in USD.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsdRates {
    rates: std::collections::BTreeMap<String, f64>,
}

impl UsdRates {
    /// Parses `EUR=1.08,GBP=1.27` (USD itself is always 1).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rates = std::collections::BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (code, rate) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not CODE=RATE"))?;
            let code = code.trim();
            let valid_code = code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase());
            let rate: f64 = rate
                .trim()
                .parse()
                .map_err(|_| format!("{item:?} has no numeric rate"))?;
            if !valid_code || !rate.is_finite() || rate <= 0.0 || rate > MAX_USD_RATE {
                return Err(format!(
                    "{item:?} needs an ISO 4217 code and a positive rate of at most {MAX_USD_RATE}"
                ));
            }
            rates.insert(code.to_string(), rate);
        }
        Ok(Self { rates })
    }

    /// An amount in USD, when the currency's rate is known.
    pub fn to_usd(&self, money: &Money) -> Option<f64> {
        let amount = money.amount_micros as f64 / 1_000_000.0;
        if money.currency == "USD" {
            return Some(amount);
        }
        self.rates
            .get(&money.currency)
            .map(|rate| (amount * rate * 100.0).round() / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(micros: i64, currency: &str) -> Money {
        Money {
            amount_micros: micros,
            currency: currency.into(),
        }
    }

    #[test]
    fn usd_conversion_needs_a_rate() {
        let rates = UsdRates::parse("EUR=1.08, GBP=1.27").unwrap();
        assert_eq!(rates.to_usd(&money(4_990_000, "USD")), Some(4.99));
        assert_eq!(rates.to_usd(&money(10_000_000, "EUR")), Some(10.8));
        assert_eq!(rates.to_usd(&money(1_000_000, "JPY")), None);
        assert!(UsdRates::parse("EUR").is_err());
        assert!(UsdRates::parse("eur=1").is_err());
        assert!(UsdRates::parse("EUR=-1").is_err());
        assert_eq!(UsdRates::parse("").unwrap(), UsdRates::default());
    }

    /// Found by `fuzz/fuzz_targets/config_values.rs`: a huge rate made every converted
    /// amount infinite (sent as `null` in webhooks).
    #[test]
    fn huge_rates_are_refused() {
        assert!(UsdRates::parse("EUR=01e308").is_err());
        assert!(UsdRates::parse("EUR=1e10").is_err());
        let rates = UsdRates::parse("BTC=1e9").unwrap();
        let usd = rates.to_usd(&money(i64::MAX, "BTC")).unwrap();
        assert!(usd.is_finite());
    }
}
