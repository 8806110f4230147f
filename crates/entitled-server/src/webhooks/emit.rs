//! Turning derived customer events into outbox events, with what receivers need to know of
//! the customer (ids, aliases) and the catalog (entitlements).

use entitled_core::events::CustomerEvent;
use entitled_core::webhooks::OutboxEvent;
use entitled_storage::PageRequest;
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
    let Some(customer) = state.storage.customer_by_key(customer_key).await? else {
        return Ok(Vec::new());
    };
    let all = PageRequest {
        starting_after: None,
        limit: MAX_LIMIT,
    };
    let aliases = state.storage.list_aliases(customer_key, &all).await?.items;
    let catalog = state.storage.catalog_view(project_id).await?;
    let subject = Subject {
        customer: &customer,
        aliases: &aliases,
        app_id,
    };
    let now = state.now();
    Ok(events
        .iter()
        .map(|event| outbox_event(project_id, event, &subject, &catalog, extra.as_ref(), now))
        .collect())
}
