//! CustomerInfo, the JSON the SDKs decode (`{"request_date", "subscriber": {…}}`), and its
//! ETag.
//!
//! Written straight from the engine's state through borrowed, typed views: no JSON tree is
//! built, and the subscriber object is serialised once, for the ETag and the body both.

use std::collections::BTreeMap;

use entitled_core::engine::{
    CustomerState, EntitlementState, NonSubscriptionPurchase, SubscriptionState,
};
use entitled_core::purchases::{Money, PeriodType};
use entitled_core::{Attribute, Customer, UnixMillis};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A time as the SDKs read it: RFC 3339 in UTC, whole seconds.
struct Date(UnixMillis);

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.rfc3339().as_str())
    }
}

/// Money on the v1 wire: a decimal amount (from integer micros) and the currency code.
#[derive(Serialize)]
struct Price<'a> {
    amount: f64,
    currency: &'a str,
}

fn price(money: &Option<Money>) -> Option<Price<'_>> {
    money.as_ref().map(|money| Price {
        amount: money.amount_micros as f64 / 1_000_000.0,
        currency: &money.currency,
    })
}

// Every object's fields are declared in alphabetical order: that is the order the JSON has
// always been written in, so a subscriber's ETag stays the same across versions.

#[derive(Serialize)]
struct Entitlement<'a> {
    expires_date: Option<Date>,
    grace_period_expires_date: Option<Date>,
    product_identifier: &'a str,
    product_plan_identifier: Option<&'a str>,
    purchase_date: Date,
}

fn entitlement(e: &EntitlementState) -> Entitlement<'_> {
    Entitlement {
        expires_date: e.expires_date.map(Date),
        grace_period_expires_date: e.grace_period_expires_date.map(Date),
        product_identifier: &e.product_id,
        product_plan_identifier: e.product_plan_id.as_deref(),
        purchase_date: Date(e.purchase_date),
    }
}

#[derive(Serialize)]
struct Subscription<'a> {
    auto_resume_date: Option<Date>,
    billing_issues_detected_at: Option<Date>,
    expires_date: Option<Date>,
    grace_period_expires_date: Option<Date>,
    is_sandbox: bool,
    original_purchase_date: Date,
    ownership_type: &'static str,
    period_type: &'static str,
    price: Option<Price<'a>>,
    product_plan_identifier: Option<&'a str>,
    purchase_date: Date,
    refunded_at: Option<Date>,
    store: &'static str,
    store_transaction_id: &'a str,
    unsubscribe_detected_at: Option<Date>,
}

fn subscription(s: &SubscriptionState) -> Subscription<'_> {
    Subscription {
        auto_resume_date: s.auto_resume_date.map(Date),
        billing_issues_detected_at: s.billing_issues_detected_at.map(Date),
        expires_date: s.expires_date.map(Date),
        grace_period_expires_date: s.grace_period_expires_date.map(Date),
        is_sandbox: s.is_sandbox,
        original_purchase_date: Date(s.original_purchase_date),
        ownership_type: s.ownership.as_str(),
        // The SDKs know normal, intro, trial and prepaid; grants show as normal, as
        // RevenueCat's do.
        period_type: match s.period_type {
            PeriodType::Promotional => PeriodType::Normal.as_str(),
            other => other.as_str(),
        },
        price: price(&s.price),
        product_plan_identifier: s.product_plan_id.as_deref(),
        purchase_date: Date(s.purchase_date),
        refunded_at: s.refunded_at.map(Date),
        store: s.store.as_str(),
        store_transaction_id: &s.store_transaction_id,
        unsubscribe_detected_at: s.unsubscribe_detected_at.map(Date),
    }
}

#[derive(Serialize)]
struct NonSubscription<'a> {
    id: &'a str,
    is_sandbox: bool,
    original_purchase_date: Date,
    price: Option<Price<'a>>,
    purchase_date: Date,
    store: &'static str,
    store_transaction_id: &'a str,
}

fn non_subscription(p: &NonSubscriptionPurchase) -> NonSubscription<'_> {
    NonSubscription {
        id: &p.id,
        is_sandbox: p.is_sandbox,
        original_purchase_date: Date(p.purchase_date),
        price: price(&p.price),
        purchase_date: Date(p.purchase_date),
        store: p.store.as_str(),
        store_transaction_id: &p.store_transaction_id,
    }
}

#[derive(Serialize)]
struct AttributeValue<'a> {
    updated_at_ms: i64,
    value: Option<&'a str>,
}

/// An empty JSON object.
#[derive(Serialize)]
struct Empty {}

/// The `subscriber` object of CustomerInfo, borrowed from a customer and their state,
/// without `last_seen` (it moves with every request, so it stays out of the ETag and is
/// written beside this object).
#[derive(Serialize)]
pub struct Subscriber<'a> {
    entitlements: BTreeMap<&'a str, Entitlement<'a>>,
    first_seen: Date,
    management_url: Option<&'a str>,
    non_subscriptions: BTreeMap<&'a str, Vec<NonSubscription<'a>>>,
    original_app_user_id: &'a str,
    original_application_version: Option<&'a str>,
    original_purchase_date: Option<Date>,
    other_purchases: Empty,
    subscriber_attributes: BTreeMap<&'a str, AttributeValue<'a>>,
    subscriptions: BTreeMap<&'a str, Subscription<'a>>,
    #[serde(skip)]
    last_seen: UnixMillis,
}

/// The `subscriber` object of CustomerInfo. `attributes` are shown only to secret keys
/// (as RevenueCat does): an app's public key must not read its users' emails.
pub fn subscriber<'a>(
    customer: &'a Customer,
    state: &'a CustomerState,
    attributes: Option<&'a [Attribute]>,
) -> Subscriber<'a> {
    let original_purchase_date = state
        .subscriptions
        .values()
        .map(|s| s.original_purchase_date)
        .chain(
            state
                .non_subscriptions
                .values()
                .flatten()
                .map(|p| p.purchase_date),
        )
        .min();
    Subscriber {
        entitlements: state
            .entitlements
            .iter()
            .map(|(key, e)| (key.as_str(), entitlement(e)))
            .collect(),
        first_seen: Date(customer.first_seen_at),
        management_url: None,
        non_subscriptions: state
            .non_subscriptions
            .iter()
            .map(|(product, purchases)| {
                (
                    product.as_str(),
                    purchases.iter().map(non_subscription).collect(),
                )
            })
            .collect(),
        original_app_user_id: &customer.id,
        original_application_version: None,
        original_purchase_date: original_purchase_date.map(Date),
        other_purchases: Empty {},
        subscriber_attributes: attributes
            .unwrap_or_default()
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    AttributeValue {
                        updated_at_ms: a.updated_at.0,
                        value: a.value.as_deref(),
                    },
                )
            })
            .collect(),
        subscriptions: state
            .subscriptions
            .iter()
            .map(|(product, s)| (product.as_str(), subscription(s)))
            .collect(),
        last_seen: customer.last_seen_at.unwrap_or(customer.first_seen_at),
    }
}

/// A subscriber object written once: its JSON without `last_seen`, and its ETag.
pub struct Written {
    json: Vec<u8>,
    last_seen: UnixMillis,
    /// Changes when anything the SDK shows changes, except `last_seen`.
    pub etag: String,
}

/// Writes `subscriber` and hashes what was written into its ETag.
pub fn write(subscriber: &Subscriber<'_>) -> Result<Written, serde_json::Error> {
    let json = serde_json::to_vec(subscriber)?;
    let etag = hex::encode(&Sha256::digest(&json)[..16]);
    Ok(Written {
        json,
        last_seen: subscriber.last_seen,
        etag,
    })
}

/// A whole CustomerInfo answer at `now` around a written subscriber, with an `extra`
/// top-level field when one is given.
pub fn body(
    now: UnixMillis,
    subscriber: &Written,
    extra: Option<(&str, &serde_json::Value)>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(subscriber.json.len() + 128);
    out.extend_from_slice(b"{\"request_date\":");
    serde_json::to_writer(&mut out, &Date(now))?;
    out.extend_from_slice(b",\"request_date_ms\":");
    serde_json::to_writer(&mut out, &now.0)?;
    out.extend_from_slice(b",\"subscriber\":{\"last_seen\":");
    serde_json::to_writer(&mut out, &Date(subscriber.last_seen))?;
    // The written object without its opening brace: its fields, then its closing brace.
    let fields = subscriber.json.get(1..).unwrap_or_default();
    if fields != b"}" {
        out.push(b',');
    }
    out.extend_from_slice(fields);
    if let Some((name, value)) = extra {
        out.push(b',');
        serde_json::to_writer(&mut out, name)?;
        out.push(b':');
        serde_json::to_writer(&mut out, value)?;
    }
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use entitled_core::engine::EntitlementState;
    use entitled_core::purchases::{Ownership, Store};
    use serde_json::{Value, json};

    fn customer() -> Customer {
        let mut customer = Customer::first_seen(
            "ck".into(),
            "proj".into(),
            "user-1".into(),
            UnixMillis(1_700_000_000_000),
        );
        customer.last_seen_at = Some(UnixMillis(1_700_000_500_000));
        customer
    }

    fn state() -> CustomerState {
        let mut state = CustomerState::default();
        state.entitlements.insert(
            "pro".into(),
            EntitlementState {
                lookup_key: "pro".into(),
                product_id: "pro_monthly".into(),
                product_plan_id: None,
                purchase_date: UnixMillis(1_700_000_000_000),
                expires_date: Some(UnixMillis(1_702_592_000_000)),
                grace_period_expires_date: None,
                store: Store::AppStore,
            },
        );
        state.subscriptions.insert(
            "pro_monthly".into(),
            SubscriptionState {
                product_id: "pro_monthly".into(),
                product_plan_id: None,
                store: Store::AppStore,
                is_sandbox: true,
                period_type: PeriodType::Promotional,
                purchase_date: UnixMillis(1_700_000_000_000),
                original_purchase_date: UnixMillis(1_690_000_000_000),
                expires_date: Some(UnixMillis(1_702_592_000_000)),
                grace_period_expires_date: None,
                unsubscribe_detected_at: None,
                billing_issues_detected_at: None,
                refunded_at: None,
                auto_resume_date: None,
                ownership: Ownership::Purchased,
                store_transaction_id: "t-1".into(),
                original_transaction_id: "t-1".into(),
                price: Some(Money {
                    amount_micros: 4_990_000,
                    currency: "USD".into(),
                }),
            },
        );
        state
    }

    fn answer(extra: Option<(&str, &Value)>) -> (Written, Value) {
        let (customer, state) = (customer(), state());
        let attributes = [Attribute {
            name: "$email".into(),
            value: Some("a@example.com".into()),
            updated_at: UnixMillis(5),
        }];
        let written = write(&subscriber(&customer, &state, Some(&attributes))).unwrap();
        let body = body(UnixMillis(1_700_001_000_000), &written, extra).unwrap();
        (written, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn the_body_is_customer_info_json() {
        let (_, body) = answer(None);
        assert_eq!(body["request_date"], "2023-11-14T22:30:00Z");
        assert_eq!(body["request_date_ms"], 1_700_001_000_000_i64);
        let subscriber = &body["subscriber"];
        assert_eq!(subscriber["last_seen"], "2023-11-14T22:21:40Z");
        assert_eq!(subscriber["first_seen"], "2023-11-14T22:13:20Z");
        assert_eq!(subscriber["original_app_user_id"], "user-1");
        assert_eq!(subscriber["original_purchase_date"], "2023-07-22T04:26:40Z");
        assert_eq!(subscriber["management_url"], Value::Null);
        assert_eq!(subscriber["other_purchases"], json!({}));
        assert_eq!(
            subscriber["entitlements"]["pro"]["product_identifier"],
            "pro_monthly"
        );
        let subscription = &subscriber["subscriptions"]["pro_monthly"];
        assert_eq!(
            subscription["period_type"], "normal",
            "grants show as normal"
        );
        assert_eq!(
            subscription["price"],
            json!({"amount": 4.99, "currency": "USD"})
        );
        assert_eq!(subscription["refunded_at"], Value::Null);
        assert_eq!(subscription["store"], "app_store");
        assert_eq!(
            subscriber["subscriber_attributes"]["$email"],
            json!({"value": "a@example.com", "updated_at_ms": 5})
        );
        assert_eq!(subscriber["non_subscriptions"], json!({}));
    }

    #[test]
    fn the_etag_ignores_last_seen_and_follows_everything_else() {
        let state = state();
        let mut seen = customer();
        let etag = |customer: &Customer| write(&subscriber(customer, &state, None)).unwrap().etag;
        let first = etag(&seen);
        seen.last_seen_at = Some(UnixMillis(1_800_000_000_000));
        assert_eq!(etag(&seen), first);
        seen.id = "user-2".into();
        assert_ne!(etag(&seen), first);
        assert_eq!(first.len(), 32);
    }

    #[test]
    fn fields_are_written_in_alphabetical_order() {
        let (written, _) = answer(None);
        let text = String::from_utf8(written.json).unwrap();
        let order = |names: &[&str]| {
            let at: Vec<usize> = names.iter().map(|n| text.find(n).unwrap()).collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{names:?} in {text}");
        };
        order(&[
            "\"entitlements\"",
            "\"first_seen\"",
            "\"management_url\"",
            "\"non_subscriptions\"",
            "\"original_app_user_id\"",
            "\"other_purchases\"",
            "\"subscriber_attributes\"",
            "\"subscriptions\"",
        ]);
        order(&[
            "\"auto_resume_date\"",
            "\"billing_issues_detected_at\"",
            "\"unsubscribe_detected_at\"",
        ]);
        assert!(!text.contains("last_seen"));
    }

    #[test]
    fn an_extra_field_sits_beside_the_subscriber() {
        let (_, body) = answer(Some(("created", &json!(true))));
        assert_eq!(body["created"], true);
        assert_eq!(body["subscriber"]["original_app_user_id"], "user-1");
    }

    #[test]
    fn a_subscriber_with_nothing_is_still_an_object_with_last_seen() {
        let customer = customer();
        let state = CustomerState::default();
        let written = write(&subscriber(&customer, &state, None)).unwrap();
        let body = body(UnixMillis(0), &written, None).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["subscriber"]["entitlements"], json!({}));
        assert_eq!(body["subscriber"]["last_seen"], "2023-11-14T22:21:40Z");
    }
}
