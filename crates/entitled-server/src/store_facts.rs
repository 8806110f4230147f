//! Recording what a store says about a purchase it already sold (a lifecycle fact), for every
//! store adapter: ids scoped to the project, the webhook event in the same transaction.

use entitled_core::UnixMillis;
use entitled_core::events::{event_for_lifecycle, event_for_transaction};
use entitled_core::purchases::{LifecycleEvent, StoreTransaction};

use crate::AppState;
use crate::error::ApiError;
use crate::webhooks::emit;

/// How long a store notification waits for a customer another request is changing: the
/// store would only retry it later, so waiting a little beats failing.
pub(crate) const NOTIFICATION_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A purchase a store vouched for: its transaction, and what the store says about it
/// besides (a refund, a cancellation, a billing issue).
pub struct VerifiedPurchase {
    /// The transaction; its customer is set once the buyer is known.
    pub transaction: StoreTransaction,
    /// Lifecycle facts the store's answer carries.
    pub lifecycle: Vec<LifecycleEvent>,
}

/// A lifecycle fact under an id scoped to its project: the same Apple notification or
/// refund may reach two projects (a staging and a production project of one app).
pub(crate) fn scoped(project_id: &str, fact: &LifecycleEvent) -> LifecycleEvent {
    LifecycleEvent {
        id: format!("evt_{project_id}_{}", fact.id),
        ..fact.clone()
    }
}

/// Records what Apple said about a purchase of `owner_key` (whose lock the caller holds),
/// with the event it causes; `latest` is the purchase's latest transaction. Recording the
/// same fact again changes nothing.
pub(crate) async fn record_lifecycle(
    state: &AppState,
    project_id: &str,
    owner_key: &str,
    fact: &LifecycleEvent,
    latest: &StoreTransaction,
    now: UnixMillis,
) -> Result<(), ApiError> {
    let fact = scoped(project_id, fact);
    let derived: Vec<_> = event_for_lifecycle(&fact, latest).into_iter().collect();
    let events = emit::for_customer(
        state,
        project_id,
        owner_key,
        Some(&latest.app_id),
        &derived,
        None,
    )
    .await?;
    state
        .storage
        .add_lifecycle_event(project_id, &fact, &events, now)
        .await?;
    Ok(())
}

/// Records `transaction` for `owner_key` (whose lock the caller holds) unless the purchase
/// already has it, with its INITIAL_PURCHASE / RENEWAL / PRODUCT_CHANGE event; returns the
/// purchase's latest transaction afterwards.
pub(crate) async fn record_store_transaction(
    state: &AppState,
    project_id: &str,
    owner_key: &str,
    transaction: StoreTransaction,
    now: UnixMillis,
) -> Result<StoreTransaction, ApiError> {
    let mut purchase: Vec<_> = state
        .storage
        .transactions_of(owner_key)
        .await?
        .into_iter()
        .filter(|t| {
            t.store == transaction.store
                && t.original_transaction_id == transaction.original_transaction_id
        })
        .collect();
    if !purchase
        .iter()
        .any(|t| t.store_transaction_id == transaction.store_transaction_id)
    {
        let derived = event_for_transaction(&transaction, &purchase);
        let events = emit::for_customer(
            state,
            project_id,
            owner_key,
            Some(&transaction.app_id),
            &[derived],
            None,
        )
        .await?;
        state
            .storage
            .record_transactions(project_id, std::slice::from_ref(&transaction), &events, now)
            .await?;
        purchase.push(transaction);
    }
    purchase
        .into_iter()
        .max_by_key(|t| (t.purchased_at, t.expires_at))
        .ok_or_else(|| ApiError::internal("a purchase without transactions"))
}
