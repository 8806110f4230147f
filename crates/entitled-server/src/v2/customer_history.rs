//! A customer's store subscriptions and one-time purchases as v2 lists them
//! (RevenueCat's `Subscription` and `Purchase`), derived from their purchase facts.

use std::collections::BTreeMap;

use entitled_core::engine::subscription_of;
use entitled_core::purchases::{
    Environment, LifecycleEvent, Money, Ownership, Store, StoreTransaction, UsdRates, is_refunded,
};
use entitled_core::{Customer, Entitlement, Product, UnixMillis};
use entitled_storage::PageRequest;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::pagination::{ListBody, MAX_LIMIT};
use crate::subscribers::project_now;
use crate::v2::entitlements::EntitlementView;

/// Revenue in USD as RevenueCat's `MonetaryAmount`; amounts in currencies without a
/// configured rate (`ENTITLED_USD_RATES`) count as 0.
fn revenue_in_usd(rates: &UsdRates, prices: &[&Option<Money>]) -> Value {
    let total: f64 = prices
        .iter()
        .filter_map(|p| p.as_ref())
        .filter_map(|m| rates.to_usd(m))
        .sum();
    let gross = (total * 100.0).round() / 100.0;
    json!({"currency": "USD", "gross": gross, "commission": 0.0, "tax": 0.0, "proceeds": gross})
}

fn environment(e: Environment) -> &'static str {
    e.as_str()
}

fn ownership(o: Ownership) -> &'static str {
    match o {
        Ownership::Purchased => "purchased",
        Ownership::FamilyShared => "family_shared",
    }
}

/// What the list rendering needs of the catalog.
struct Catalog {
    products: Vec<Product>,
    entitlements: Vec<Entitlement>,
    keys_by_product: BTreeMap<String, Vec<String>>,
}

async fn catalog(state: &AppState, project_id: &str) -> Result<Catalog, ApiError> {
    let all = PageRequest {
        starting_after: None,
        limit: MAX_LIMIT,
    };
    let view = state.storage.catalog_view(project_id).await?;
    Ok(Catalog {
        products: state
            .storage
            .list_products(project_id, None, &all)
            .await?
            .items,
        entitlements: state
            .storage
            .list_entitlements(project_id, &all)
            .await?
            .items,
        keys_by_product: view.entitlements_by_product.into_iter().collect(),
    })
}

impl Catalog {
    fn product_id(&self, t: &StoreTransaction) -> Option<String> {
        self.products
            .iter()
            .find(|p| p.app_id == t.app_id && p.store_identifier == t.product_id)
            .map(|p| p.id.clone())
    }

    fn entitlements(&self, store_product: &str, url: String) -> ListBody<EntitlementView> {
        let keys = self
            .keys_by_product
            .get(store_product)
            .cloned()
            .unwrap_or_default();
        let items = self
            .entitlements
            .iter()
            .filter(|e| keys.contains(&e.lookup_key))
            .cloned()
            .map(EntitlementView::from)
            .collect();
        ListBody::whole(items, url)
    }
}

/// The facts of a customer, grouped per purchase (store and original transaction).
async fn grouped(
    state: &AppState,
    customer: &Customer,
) -> Result<
    (
        BTreeMap<(Store, String), Vec<StoreTransaction>>,
        Vec<LifecycleEvent>,
    ),
    ApiError,
> {
    let mut groups: BTreeMap<(Store, String), Vec<StoreTransaction>> = BTreeMap::new();
    for t in state.storage.transactions_of(&customer.key).await? {
        groups
            .entry((t.store, t.original_transaction_id.clone()))
            .or_default()
            .push(t);
    }
    let events = state
        .storage
        .lifecycle_events_of(&customer.project_id, &customer.key)
        .await?;
    Ok((groups, events))
}

/// The customer's subscriptions as RevenueCat's `Subscription` objects, oldest first.
pub(crate) async fn subscriptions(
    state: &AppState,
    customer: &Customer,
    environment_filter: Option<&str>,
) -> Result<Vec<(String, Value)>, ApiError> {
    let now = project_now(state, &customer.project_id).await?;
    let catalog = catalog(state, &customer.project_id).await?;
    let (groups, events) = grouped(state, customer).await?;
    let mut rendered = Vec::new();
    for ((store, original), transactions) in &groups {
        let known: Vec<&StoreTransaction> = transactions
            .iter()
            .filter(|t| t.is_subscription && t.purchased_at <= now)
            .collect();
        let group_events: Vec<&LifecycleEvent> = events
            .iter()
            .filter(|e| {
                e.store == *store && &e.original_transaction_id == original && e.occurred_at <= now
            })
            .collect();
        let (Some(first), Some(state_now)) = (
            known
                .iter()
                .min_by_key(|t| (t.purchased_at, t.store_transaction_id.clone())),
            subscription_of(&known, &group_events),
        ) else {
            continue;
        };
        if environment_filter.is_some_and(|e| e != environment(first.environment)) {
            continue;
        }
        let gives_access = state_now.is_active(now);
        let will_renew = state_now.will_renew(now);
        let status = if !gives_access {
            "expired"
        } else if state_now.billing_issues_detected_at.is_some() {
            if state_now.grace_period_expires_date.is_some_and(|g| g > now) {
                "in_grace_period"
            } else {
                "in_billing_retry"
            }
        } else if state_now.period_type == entitled_core::purchases::PeriodType::Trial {
            "trialing"
        } else {
            "active"
        };
        let url = format!(
            "/v2/projects/{}/subscriptions/{}/entitlements",
            customer.project_id, first.id
        );
        let prices: Vec<&Option<Money>> = known.iter().map(|t| &t.price).collect();
        rendered.push((
            first.id.clone(),
            json!({
                "object": "subscription",
                "id": first.id,
                "customer_id": customer.id,
                "original_customer_id": customer.id,
                "product_id": catalog.product_id(first),
                "starts_at": state_now.original_purchase_date.0,
                "current_period_starts_at": state_now.purchase_date.0,
                "current_period_ends_at": state_now.expires_date.map(|t| t.0),
                "ends_at": if will_renew { None } else { state_now.expires_date.map(|t: UnixMillis| t.0) },
                "gives_access": gives_access,
                "pending_payment": state_now.billing_issues_detected_at.is_some(),
                "auto_renewal_status": if will_renew { "will_renew" } else { "will_not_renew" },
                "status": status,
                "total_revenue_in_usd": revenue_in_usd(&state.usd_rates, &prices),
                "presented_offering_id": null,
                "entitlements": catalog.entitlements(&first.product_id, url),
                "environment": environment(first.environment),
                "store": store.as_str(),
                "store_subscription_identifier": original,
                "ownership": ownership(first.ownership),
                "management_url": null,
            }),
        ));
    }
    Ok(rendered)
}

/// The customer's one-time purchases as RevenueCat's `Purchase` objects, oldest first.
pub(crate) async fn purchases(
    state: &AppState,
    customer: &Customer,
    environment_filter: Option<&str>,
) -> Result<Vec<(String, Value)>, ApiError> {
    let now = project_now(state, &customer.project_id).await?;
    let catalog = catalog(state, &customer.project_id).await?;
    let (groups, events) = grouped(state, customer).await?;
    let mut rendered = Vec::new();
    for ((store, original), transactions) in &groups {
        let refunded = is_refunded(events.iter().filter(|e| {
            e.store == *store && &e.original_transaction_id == original && e.occurred_at <= now
        }));
        for t in transactions
            .iter()
            .filter(|t| !t.is_subscription && t.purchased_at <= now)
        {
            if environment_filter.is_some_and(|e| e != environment(t.environment)) {
                continue;
            }
            let url = format!(
                "/v2/projects/{}/purchases/{}/entitlements",
                customer.project_id, t.id
            );
            rendered.push((
                t.id.clone(),
                json!({
                    "object": "purchase",
                    "id": t.id,
                    "customer_id": customer.id,
                    "original_customer_id": customer.id,
                    "product_id": catalog.product_id(t).unwrap_or_else(|| t.product_id.clone()),
                    "purchased_at": t.purchased_at.0,
                    "revenue_in_usd": revenue_in_usd(&state.usd_rates, &[&t.price]),
                    "quantity": 1,
                    "status": if refunded { "refunded" } else { "owned" },
                    "presented_offering_id": null,
                    "entitlements": catalog.entitlements(&t.product_id, url),
                    "environment": environment(t.environment),
                    "store": store.as_str(),
                    "store_purchase_identifier": t.store_transaction_id,
                    "ownership": ownership(t.ownership),
                }),
            ));
        }
    }
    Ok(rendered)
}
