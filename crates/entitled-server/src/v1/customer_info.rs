//! CustomerInfo, the JSON the SDKs decode (`{"request_date", "subscriber": {…}}`), and its
//! ETag.

use std::collections::BTreeMap;

use entitled_core::engine::{
    CustomerState, EntitlementState, NonSubscriptionPurchase, SubscriptionState,
};
use entitled_core::purchases::{Money, PeriodType};
use entitled_core::{Attribute, Customer, UnixMillis};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

fn date(at: UnixMillis) -> Value {
    Value::String(at.to_rfc3339())
}

fn optional_date(at: Option<UnixMillis>) -> Value {
    at.map_or(Value::Null, date)
}

/// Money on the v1 wire: a decimal amount (from integer micros) and the currency code.
fn price(money: &Option<Money>) -> Value {
    match money {
        Some(money) => {
            let amount = money.amount_micros as f64 / 1_000_000.0;
            json!({"amount": amount, "currency": money.currency})
        }
        None => Value::Null,
    }
}

fn entitlement(e: &EntitlementState) -> Value {
    json!({
        "expires_date": optional_date(e.expires_date),
        "grace_period_expires_date": optional_date(e.grace_period_expires_date),
        "product_identifier": e.product_id,
        "product_plan_identifier": e.product_plan_id,
        "purchase_date": date(e.purchase_date),
    })
}

fn subscription(s: &SubscriptionState) -> Value {
    json!({
        "store": s.store.as_str(),
        "is_sandbox": s.is_sandbox,
        // The SDKs know normal, intro, trial and prepaid; grants show as normal, as RevenueCat's do.
        "period_type": match s.period_type {
            PeriodType::Promotional => PeriodType::Normal.as_str(),
            other => other.as_str(),
        },
        "purchase_date": date(s.purchase_date),
        "original_purchase_date": date(s.original_purchase_date),
        "expires_date": optional_date(s.expires_date),
        "grace_period_expires_date": optional_date(s.grace_period_expires_date),
        "unsubscribe_detected_at": optional_date(s.unsubscribe_detected_at),
        "billing_issues_detected_at": optional_date(s.billing_issues_detected_at),
        "refunded_at": optional_date(s.refunded_at),
        "auto_resume_date": optional_date(s.auto_resume_date),
        "ownership_type": s.ownership.as_str(),
        "store_transaction_id": s.store_transaction_id,
        "product_plan_identifier": s.product_plan_id,
        "price": price(&s.price),
    })
}

fn non_subscription(p: &NonSubscriptionPurchase) -> Value {
    json!({
        "id": p.id,
        "is_sandbox": p.is_sandbox,
        "purchase_date": date(p.purchase_date),
        "original_purchase_date": date(p.purchase_date),
        "store": p.store.as_str(),
        "store_transaction_id": p.store_transaction_id,
        "price": price(&p.price),
    })
}

/// The `subscriber` object of CustomerInfo. `attributes` are shown only to secret keys
/// (as RevenueCat does): an app's public key must not read its users' emails.
pub fn subscriber(
    customer: &Customer,
    state: &CustomerState,
    attributes: Option<&[Attribute]>,
) -> Value {
    let entitlements: Map<String, Value> = state
        .entitlements
        .iter()
        .map(|(key, e)| (key.clone(), entitlement(e)))
        .collect();
    let subscriptions: Map<String, Value> = state
        .subscriptions
        .iter()
        .map(|(product, s)| (product.clone(), subscription(s)))
        .collect();
    let non_subscriptions: Map<String, Value> = state
        .non_subscriptions
        .iter()
        .map(|(product, purchases)| {
            (
                product.clone(),
                Value::Array(purchases.iter().map(non_subscription).collect()),
            )
        })
        .collect();
    let subscriber_attributes: BTreeMap<&str, Value> = attributes
        .unwrap_or_default()
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                json!({"value": a.value, "updated_at_ms": a.updated_at.0}),
            )
        })
        .collect();
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
    json!({
        "original_app_user_id": customer.id,
        "original_application_version": Value::Null,
        "original_purchase_date": optional_date(original_purchase_date),
        "first_seen": date(customer.first_seen_at),
        "last_seen": date(customer.last_seen_at.unwrap_or(customer.first_seen_at)),
        "management_url": Value::Null,
        "entitlements": entitlements,
        "subscriptions": subscriptions,
        "non_subscriptions": non_subscriptions,
        "other_purchases": {},
        "subscriber_attributes": subscriber_attributes,
    })
}

/// A whole CustomerInfo answer at `now`.
pub fn body(now: UnixMillis, subscriber: Value) -> Value {
    json!({
        "request_date": date(now),
        "request_date_ms": now.0,
        "subscriber": subscriber,
    })
}

/// The ETag of a subscriber object: changes when anything the SDK shows changes, except
/// `last_seen`, which moves with every request. Hashes the JSON as it is written, without
/// copying the object or building the text.
pub fn etag(subscriber: &mut Value) -> String {
    let last_seen = subscriber
        .as_object_mut()
        .and_then(|object| object.remove("last_seen"));
    let mut digest = DigestWriter(Sha256::new());
    // Writing into a hasher cannot fail, and a `Value` always serialises.
    let _ = serde_json::to_writer(&mut digest, &*subscriber);
    if let (Some(seen), Some(object)) = (last_seen, subscriber.as_object_mut()) {
        object.insert("last_seen".to_string(), seen);
    }
    hex::encode(&digest.0.finalize()[..16])
}

/// Feeds what is written to it into a SHA-256.
struct DigestWriter(Sha256);

impl std::io::Write for DigestWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
