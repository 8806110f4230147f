//! Turning derived customer events into outbox events, with what receivers need to know of
//! the customer (ids, aliases) and the catalog (entitlements).

use entitled_core::events::CustomerEvent;
use entitled_core::webhooks::OutboxEvent;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::pagination::MAX_LIMIT;
use crate::webhooks::outbox::{Subject, outbox_event};

/// Outbox events for `events` about the customer `customer_key`; `extra`'s fields are added
/// to every event body (e.g. a transfer's `transferred_from`).
pub async fn for_customer(
    state: &AppState,
    project_id: &str,
    customer_key: &str,
    app_id: Option<&str>,
    events: &[CustomerEvent],
    extra: Option<Value>,
) -> Result<Vec<OutboxEvent>, ApiError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let Some(read) = state
        .storage
        .event_subject(project_id, customer_key, MAX_LIMIT)
        .await?
    else {
        return Ok(Vec::new());
    };
    let subject = Subject {
        customer: &read.customer,
        aliases: &read.aliases,
        app_id,
    };
    let catalog = read.catalog;
    let now = state.now();
    Ok(events
        .iter()
        .map(|event| {
            outbox_event(
                project_id,
                event,
                &subject,
                &catalog,
                extra.as_ref(),
                &state.usd_rates,
                now,
            )
        })
        .collect())
}

/// The event of a new promotional grant of the entitlement `lookup_key`.
pub async fn for_grant(
    state: &AppState,
    project_id: &str,
    grant: &entitled_core::PromotionalGrant,
    lookup_key: &str,
) -> Result<Vec<OutboxEvent>, ApiError> {
    let event = entitled_core::events::event_for_grant(grant, lookup_key);
    let entitlement = promotional_entitlement(lookup_key);
    for_customer(
        state,
        project_id,
        &grant.customer_key,
        None,
        &[event],
        Some(entitlement),
    )
    .await
}

/// The events of revoking, at `now`, a customer's live grants of an entitlement.
pub async fn for_revocation(
    state: &AppState,
    project_id: &str,
    customer_key: &str,
    entitlement_id: &str,
    lookup_key: &str,
    now: entitled_core::UnixMillis,
) -> Result<Vec<OutboxEvent>, ApiError> {
    let live: Vec<CustomerEvent> = state
        .storage
        .grants_of(customer_key)
        .await?
        .iter()
        .filter(|g| {
            g.entitlement_id == entitlement_id
                && g.revoked_at.is_none()
                && g.expires_at.is_none_or(|e| e > now)
        })
        .map(|g| entitled_core::events::event_for_revocation(g, lookup_key, now))
        .collect();
    let entitlement = promotional_entitlement(lookup_key);
    for_customer(
        state,
        project_id,
        customer_key,
        None,
        &live,
        Some(entitlement),
    )
    .await
}

/// Promotional products are not in the catalog: their events name the entitlement directly.
fn promotional_entitlement(lookup_key: &str) -> Value {
    serde_json::json!({"entitlement_ids": [lookup_key], "entitlement_id": lookup_key})
}
