//! Customer exports: every customer (first seen in a time range), with the entitlements
//! active now and every transaction, as CSV (a row per transaction) or NDJSON (a line per
//! customer).

use entitled_core::engine::{CatalogView, customer_state};
use entitled_core::purchases::{LifecycleEvent, StoreTransaction};
use entitled_core::{Customer, PromotionalGrant, UnixMillis};
use serde_json::json;

use crate::jobs::csv::line;

/// The CSV header of an export.
pub const CSV_HEADER: &str = "app_user_id,first_seen_at_ms,active_entitlements,store,product_id,store_transaction_id,original_transaction_id,purchased_at_ms,expires_at_ms,environment";

/// One customer and the facts of theirs that an export writes.
pub struct CustomerFacts<'a> {
    /// The customer.
    pub customer: &'a Customer,
    /// Their store transactions.
    pub transactions: &'a [&'a StoreTransaction],
    /// Lifecycle events (may include other customers'; matched by transaction).
    pub events: &'a [LifecycleEvent],
    /// Their promotional grants.
    pub grants: &'a [&'a PromotionalGrant],
}

/// Appends one customer to the export in `format` (`csv` or `ndjson`).
pub fn append(
    out: &mut String,
    format: &str,
    facts: &CustomerFacts<'_>,
    catalog: &CatalogView,
    now: UnixMillis,
) {
    let CustomerFacts {
        customer,
        transactions,
        events,
        grants,
    } = *facts;
    let owned: Vec<StoreTransaction> = transactions.iter().map(|t| (*t).clone()).collect();
    let grants: Vec<PromotionalGrant> = grants.iter().map(|g| (*g).clone()).collect();
    let state = customer_state(&owned, events, &grants, catalog, now);
    let active: Vec<String> = state
        .active_entitlements(now)
        .iter()
        .map(|e| e.lookup_key.clone())
        .collect();
    if format == "ndjson" {
        let transactions: Vec<serde_json::Value> = transactions
            .iter()
            .map(|t| {
                json!({
                    "store": t.store.as_str(), "product_id": t.product_id,
                    "store_transaction_id": t.store_transaction_id,
                    "original_transaction_id": t.original_transaction_id,
                    "purchased_at_ms": t.purchased_at.0, "expires_at_ms": t.expires_at.map(|e| e.0),
                    "environment": t.environment.as_str(),
                })
            })
            .collect();
        let record = json!({
            "app_user_id": customer.id, "first_seen_at_ms": customer.first_seen_at.0,
            "active_entitlements": active, "transactions": transactions,
        });
        out.push_str(&record.to_string());
        out.push('\n');
        return;
    }
    let base = [
        customer.id.clone(),
        customer.first_seen_at.0.to_string(),
        active.join(" "),
    ];
    if transactions.is_empty() {
        let mut fields = base.to_vec();
        fields.extend(std::iter::repeat_n(String::new(), 7));
        out.push_str(&line(&fields));
        out.push('\n');
    }
    for t in transactions {
        let mut fields = base.to_vec();
        fields.extend([
            t.store.as_str().to_string(),
            t.product_id.clone(),
            t.store_transaction_id.clone(),
            t.original_transaction_id.clone(),
            t.purchased_at.0.to_string(),
            t.expires_at.map(|e| e.0.to_string()).unwrap_or_default(),
            t.environment.as_str().to_string(),
        ]);
        out.push_str(&line(&fields));
        out.push('\n');
    }
}
