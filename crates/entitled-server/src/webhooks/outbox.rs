//! Outbox events for webhooks: the body RevenueCat's receivers expect
//! (`{"api_version": "1.0", "event": {…}}`), built from a derived [`CustomerEvent`] and what
//! is known of the customer when the fact is written.

use entitled_core::engine::CatalogView;
use entitled_core::events::CustomerEvent;
use entitled_core::purchases::{Environment, PeriodType, Store, UsdRates};
use entitled_core::webhooks::OutboxEvent;
use entitled_core::{Customer, CustomerAlias, UnixMillis};
use serde_json::{Value, json};

/// Who the event is about, as receivers see it.
pub struct Subject<'a> {
    /// The customer.
    pub customer: &'a Customer,
    /// Every id the customer answers to.
    pub aliases: &'a [CustomerAlias],
    /// The app the purchase was made in.
    pub app_id: Option<&'a str>,
}

fn upper(value: &str) -> String {
    value.to_ascii_uppercase()
}

/// Webhook spelling of a store: `APP_STORE`, `TEST_STORE`, …
pub fn store_name(store: Store) -> String {
    upper(store.as_str())
}

/// Webhook spelling of an environment: `SANDBOX` or `PRODUCTION`.
pub fn environment_name(environment: Environment) -> String {
    upper(environment.as_str())
}

fn period_name(period: PeriodType) -> String {
    upper(period.as_str())
}

/// The outbox event for a derived customer event; `extra`'s fields (a JSON object) are added
/// to the event body.
pub fn outbox_event(
    project_id: &str,
    event: &CustomerEvent,
    subject: &Subject<'_>,
    catalog: &CatalogView,
    extra: Option<&Value>,
    usd_rates: &UsdRates,
    now: UnixMillis,
) -> OutboxEvent {
    let entitlement_ids = catalog
        .entitlements_by_product
        .get(&event.product_id)
        .cloned()
        .unwrap_or_default();
    let price_in_purchased_currency = event
        .price
        .as_ref()
        .map(|p| p.amount_micros as f64 / 1_000_000.0);
    let price_in_usd = event.price.as_ref().and_then(|p| usd_rates.to_usd(p));
    let aliases: Vec<&str> = subject.aliases.iter().map(|a| a.id.as_str()).collect();
    let mut body = json!({
        "id": event.id,
        "type": event.event_type.as_str(),
        "app_id": subject.app_id,
        "app_user_id": subject.customer.id,
        "original_app_user_id": subject.customer.id,
        "aliases": aliases,
        "product_id": event.product_id,
        "entitlement_ids": entitlement_ids,
        "entitlement_id": entitlement_ids.first(),
        "period_type": period_name(event.period_type),
        "purchased_at_ms": event.purchased_at.0,
        "expiration_at_ms": event.expiration_at.map(|t| t.0),
        "event_timestamp_ms": event.event_timestamp.0,
        "environment": environment_name(event.environment),
        "store": store_name(event.store),
        "transaction_id": event.transaction_id,
        "original_transaction_id": event.original_transaction_id,
        "is_family_share": false,
        "currency": event.price.as_ref().map(|p| p.currency.clone()),
        "price": price_in_usd,
        "price_in_purchased_currency": price_in_purchased_currency,
        "takehome_percentage": Value::Null,
        "presented_offering_id": Value::Null,
        "country_code": Value::Null,
        "cancel_reason": event.cancel_reason,
        "expiration_reason": event.expiration_reason,
    });
    if let (Some(resume), Some(object)) = (event.auto_resume_at, body.as_object_mut()) {
        object.insert("auto_resume_at_ms".to_string(), json!(resume.0));
    }
    if let (Some(Value::Object(fields)), Some(object)) = (extra, body.as_object_mut()) {
        for (key, value) in fields {
            object.insert(key.clone(), value.clone());
        }
    }
    OutboxEvent {
        id: event.id.clone(),
        project_id: project_id.to_string(),
        customer_key: Some(subject.customer.key.clone()),
        event_type: event.event_type.as_str().to_string(),
        environment: event.environment,
        app_id: subject.app_id.map(str::to_owned),
        body: json!({"api_version": "1.0", "event": body}),
        created_at: now,
        only_to: None,
    }
}
