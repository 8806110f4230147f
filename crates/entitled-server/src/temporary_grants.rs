//! Temporary grants: when a store cannot verify a purchase as it is posted (an outage), the
//! customer gets the product's entitlements for at most a day and receivers a
//! TEMPORARY_ENTITLEMENT_GRANT; once the store answers, the purchase is verified, dated when
//! it was posted, and announced as usual (INITIAL_PURCHASE), or the grant just ends.
//!
//! Only the test store has outages so far (simulated, `…/test_store/outage`); the App Store
//! and Play adapters will reach the same path when their stores fail to answer.

use std::time::Duration;

use entitled_core::events::{event_for_temporary_grant, event_for_transaction};
use entitled_core::purchases::{Environment, Money, Store, TEMPORARY_GRANT_MS, TemporaryGrant};
use entitled_core::{Customer, IdKind, Product, UnixMillis, new_id};

use crate::AppState;
use crate::error::ApiError;
use crate::v1::receipts::test_store_transaction;
use crate::webhooks::emit;

/// How long settling waits for a customer a request is changing; past it, the grant is
/// left for the next pass.
const CUSTOMER_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Grants `product`'s entitlements to `customer` (whose lock the caller holds) for the
/// purchase posted with `fetch_token` that the test store could not verify at `now`. A
/// purchase posted again during the outage keeps its first grant and event.
pub async fn grant(
    state: &AppState,
    project_id: &str,
    customer: &Customer,
    product: &Product,
    fetch_token: &str,
    price: Option<Money>,
    now: UnixMillis,
) -> Result<TemporaryGrant, ApiError> {
    let grant = TemporaryGrant {
        id: new_id(IdKind::TemporaryGrant),
        customer_key: customer.key.clone(),
        app_id: product.app_id.clone(),
        store: Store::TestStore,
        environment: Environment::Sandbox,
        fetch_token: fetch_token.to_string(),
        product_id: product.store_identifier.clone(),
        price,
        granted_at: now,
        expires_at: UnixMillis(now.0.saturating_add(TEMPORARY_GRANT_MS)),
        settled_at: None,
    };
    let events = emit::for_customer(
        state,
        project_id,
        &customer.key,
        Some(&grant.app_id),
        &[event_for_temporary_grant(&grant)],
        None,
    )
    .await?;
    Ok(state
        .storage
        .record_temporary_grant(project_id, &grant, &events, state.now())
        .await?)
}

/// Asks the store again about a pending grant's purchase (the caller holds the grant
/// customer's lock and knows the store is up): the verified purchase is recorded with its
/// event, dated when it was posted, and the grant is settled at `now`. A product deleted
/// meanwhile is refused: the grant is settled with no purchase. `false` when another pass
/// settled it first.
pub async fn settle(
    state: &AppState,
    project_id: &str,
    grant: &TemporaryGrant,
    now: UnixMillis,
) -> Result<bool, ApiError> {
    let product = state
        .storage
        .product_by_identifier(project_id, &grant.app_id, &grant.product_id)
        .await?;
    let Some(product) = product else {
        return Ok(state
            .storage
            .settle_temporary_grant(project_id, &grant.id, now, None, &[], state.now())
            .await?);
    };
    let transaction = test_store_transaction(
        &product,
        &grant.customer_key,
        &grant.fetch_token,
        grant.price.clone(),
        grant.granted_at,
    )?;
    // A new purchase: nothing of it was recorded before (if it was, nothing is written).
    let events = emit::for_customer(
        state,
        project_id,
        &grant.customer_key,
        Some(&grant.app_id),
        &[event_for_transaction(&transaction, &[])],
        None,
    )
    .await?;
    Ok(state
        .storage
        .settle_temporary_grant(
            project_id,
            &grant.id,
            now,
            Some(&transaction),
            &events,
            state.now(),
        )
        .await?)
}

/// Settles every pending grant of a project whose test store is up, each under its
/// customer's lock; returns how many were settled. A customer locked past the wait is left
/// for the next pass.
pub async fn settle_pending(
    state: &AppState,
    project_id: &str,
    now: UnixMillis,
) -> Result<u64, ApiError> {
    let mut settled = 0;
    for pending in state.storage.pending_temporary_grants(project_id).await? {
        let Some(_lock) = state
            .storage
            .customer_locks()
            .try_lock(&pending.customer_key, CUSTOMER_LOCK_WAIT)
            .await?
        else {
            continue;
        };
        // Read again under the lock: a receipt may have settled it, or a merge moved it.
        let fresh = state
            .storage
            .temporary_grant_for(&pending.app_id, &pending.fetch_token)
            .await?
            .filter(|g| g.settled_at.is_none() && g.customer_key == pending.customer_key);
        if let Some(grant) = fresh
            && settle(state, project_id, &grant, now).await?
        {
            settled += 1;
        }
    }
    Ok(settled)
}
