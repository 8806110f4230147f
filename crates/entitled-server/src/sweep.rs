//! The sweep: what the passing of time alone changes for customers. Test-store subscriptions
//! renew at their period ends and lapsed subscriptions get their EXPIRATION event even when no
//! request touches the customer, so webhooks report them in real time, not only when the test
//! clock is moved. Purchases given temporary grants during a store outage are verified once
//! the store is up again.
//!
//! Every node sweeps. Each pass looks, per project, at what ended since the last pass (by
//! index, not by scanning every purchase). Renewal and event ids are deterministic, so passes
//! that overlap, on one node or several, or race the test clock, write nothing twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use entitled_core::events::{event_for_transaction, expirations_due};
use entitled_core::purchases::{LifecycleEvent, Store, StoreTransaction};
use entitled_core::test_store::renewals_due;
use entitled_core::{IdKind, UnixMillis, new_id};

use crate::AppState;
use crate::error::{ApiError, ErrorKind};
use crate::v2::test_store::periods;
use crate::webhooks::emit;

/// What settling made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Test-store renewals recorded.
    pub renewals: u64,
    /// EXPIRATION events due (already known ones included: recording them again is a no-op).
    pub expirations: u64,
    /// Temporary grants settled because their store is up again.
    pub temporary_grants: u64,
}

impl std::ops::AddAssign for Settled {
    fn add_assign(&mut self, other: Self) {
        self.renewals += other.renewals;
        self.expirations += other.expirations;
        self.temporary_grants += other.temporary_grants;
    }
}

/// How long settling waits for a customer a request is changing before giving up (the next
/// pass, or the next clock move, tries again).
const CUSTOMER_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Among the given facts of a project's purchases, records the test store's renewals due by
/// `now`, each with its event, then the EXPIRATION of every subscription that lapsed by `now`.
///
/// The facts given were read without locks; they only say which customers have something
/// due. Each of those is then settled under its lock, from its purchases read again, so a
/// change a request made meanwhile (a cancellation just before the period end) is seen.
pub async fn settle(
    state: &AppState,
    project_id: &str,
    transactions: Vec<StoreTransaction>,
    events: &[LifecycleEvent],
    now: UnixMillis,
) -> Result<Settled, ApiError> {
    let product_periods = periods(state, project_id).await?;
    let purchases: BTreeSet<(Store, &str)> = transactions
        .iter()
        .map(|t| (t.store, t.original_transaction_id.as_str()))
        .collect();
    let mut settled = Settled::default();
    for owner in owners_with_something_due(&transactions, events, &product_periods, now) {
        let _lock = state
            .storage
            .customer_locks()
            .try_lock(&owner, CUSTOMER_LOCK_WAIT)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::Locked,
                    "A customer stayed locked while settling; retry shortly",
                )
            })?;
        let of_these = |store: Store, original: &str| purchases.contains(&(store, original));
        let fresh: Vec<StoreTransaction> = state
            .storage
            .transactions_of(&owner)
            .await?
            .into_iter()
            .filter(|t| of_these(t.store, &t.original_transaction_id))
            .collect();
        let fresh_events: Vec<LifecycleEvent> = state
            .storage
            .lifecycle_events_of(project_id, &owner)
            .await?
            .into_iter()
            .filter(|e| of_these(e.store, &e.original_transaction_id))
            .collect();
        settled += settle_customer(
            state,
            project_id,
            fresh,
            &fresh_events,
            &product_periods,
            now,
        )
        .await?;
    }
    Ok(settled)
}

/// The customers owning a purchase that renews or lapses by `now`, by these facts.
fn owners_with_something_due(
    transactions: &[StoreTransaction],
    events: &[LifecycleEvent],
    product_periods: &BTreeMap<String, String>,
    now: UnixMillis,
) -> BTreeSet<String> {
    let renewals = renewals_due(transactions, events, product_periods, now, String::new);
    let mut owners: BTreeSet<String> = renewals.iter().map(|r| r.customer_key.clone()).collect();
    let known: Vec<StoreTransaction> = transactions.iter().cloned().chain(renewals).collect();
    for expiration in expirations_due(&known, events, now) {
        if let Some(owner) = known
            .iter()
            .find(|t| t.original_transaction_id == expiration.original_transaction_id)
        {
            owners.insert(owner.customer_key.clone());
        }
    }
    owners
}

/// Records one customer's renewals and expirations due by `now`, from its facts read under
/// its lock.
async fn settle_customer(
    state: &AppState,
    project_id: &str,
    transactions: Vec<StoreTransaction>,
    events: &[LifecycleEvent],
    product_periods: &BTreeMap<String, String>,
    now: UnixMillis,
) -> Result<Settled, ApiError> {
    let mut settled = Settled::default();
    let due = renewals_due(&transactions, events, product_periods, now, || {
        new_id(IdKind::Transaction)
    });
    let mut known = transactions;
    for renewal in due {
        let derived = event_for_transaction(&renewal, &known);
        let outbox = emit::for_customer(
            state,
            project_id,
            &renewal.customer_key,
            Some(&renewal.app_id),
            &[derived],
            None,
        )
        .await?;
        settled.renewals += state
            .storage
            .record_transactions(
                project_id,
                std::slice::from_ref(&renewal),
                &outbox,
                state.now(),
            )
            .await?;
        known.push(renewal);
    }
    for expiration in expirations_due(&known, events, now) {
        let Some(owner) = known
            .iter()
            .find(|t| t.original_transaction_id == expiration.original_transaction_id)
        else {
            continue;
        };
        let outbox = emit::for_customer(
            state,
            project_id,
            &owner.customer_key,
            Some(&owner.app_id),
            std::slice::from_ref(&expiration),
            None,
        )
        .await?;
        state.storage.record_events(&outbox, state.now()).await?;
        settled.expirations += 1;
    }
    Ok(settled)
}

/// One pass over every project: settles what ended since the previous pass, in each
/// project's own time (its test clock included). A project's first pass only notes where
/// it starts watching, so purchases that ended before the sweep existed are not announced.
pub async fn sweep_once(state: &AppState) -> Result<Settled, ApiError> {
    let real_now = state.now();
    let mut settled = Settled::default();
    for target in state.storage.sweep_targets().await? {
        let now = UnixMillis(real_now.0.saturating_add(target.clock_offset_ms));
        if let Some(after) = target.swept_until.filter(|after| *after < now) {
            let (transactions, events) = state
                .storage
                .facts_ending_between(&target.project_id, after, now)
                .await?;
            if !transactions.is_empty() {
                settled += settle(state, &target.project_id, transactions, &events, now).await?;
            }
        }
        if !target.test_store_down {
            settled.temporary_grants +=
                crate::temporary_grants::settle_pending(state, &target.project_id, now).await?;
        }
        state.storage.mark_swept(&target.project_id, now).await?;
    }
    Ok(settled)
}

/// Starts sweeping every `interval` in the background.
pub fn spawn(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match sweep_once(&state).await {
                Ok(settled) if settled != Settled::default() => tracing::info!(
                    renewals = settled.renewals,
                    expirations = settled.expirations,
                    temporary_grants = settled.temporary_grants,
                    "sweep settled what time changed"
                ),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err.message, "sweep failed; the next pass retries")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use entitled_core::purchases::{Environment, LifecycleKind, Ownership, PeriodType};
    use entitled_core::{Actor, AuditEntry, Customer, Product, ProductType};

    use super::*;

    const NOW: UnixMillis = UnixMillis(1_790_000_000_000);
    const DAY: i64 = 86_400_000;

    /// A customer with a monthly test-store subscription whose period ended a second ago.
    async fn subscriber(state: &AppState, project_id: &str, app_id: &str, id: &str) -> String {
        let customer = Customer::first_seen(
            format!("cust_{id}"),
            project_id.to_string(),
            id.to_string(),
            UnixMillis(NOW.0 - 40 * DAY),
        );
        state.storage.create_customer(&customer, &[]).await.unwrap();
        let purchase = StoreTransaction {
            id: new_id(IdKind::Transaction),
            customer_key: customer.key.clone(),
            app_id: app_id.to_string(),
            store: Store::TestStore,
            store_transaction_id: format!("t_{id}"),
            original_transaction_id: format!("t_{id}"),
            product_id: "pro_monthly".to_string(),
            product_plan_id: None,
            purchased_at: UnixMillis(NOW.0 - 30 * DAY - 1_000),
            expires_at: Some(UnixMillis(NOW.0 - 1_000)),
            period_type: PeriodType::Normal,
            environment: Environment::Sandbox,
            ownership: Ownership::Purchased,
            price: None,
            is_subscription: true,
        };
        state
            .storage
            .record_transaction(project_id, &purchase, &[], NOW)
            .await
            .unwrap();
        customer.key
    }

    /// A project with a monthly test-store product `pro_monthly`: (state, its temp dir,
    /// project id, app id).
    async fn project_with_monthly_product() -> (AppState, tempfile::TempDir, String, String) {
        let (state, dir) = crate::test_state(Arc::new(|| NOW)).await;
        let boot = crate::admin::bootstrap(state.storage.as_ref(), NOW)
            .await
            .unwrap()
            .unwrap();
        let (project_id, app_id) = (boot.project.id.clone(), boot.app.id.clone());
        let product = Product {
            id: new_id(IdKind::Product),
            project_id: project_id.clone(),
            app_id: app_id.clone(),
            store_identifier: "pro_monthly".to_string(),
            product_type: ProductType::Subscription,
            display_name: None,
            subscription_duration: Some("P1M".to_string()),
            test_store_price: None,
            created_at: NOW,
        };
        let audit = AuditEntry::new(
            &project_id,
            "product",
            &product.id,
            "created",
            &Actor::CommandLine,
            NOW,
            serde_json::json!({}),
        );
        state
            .storage
            .create_product(&product, &audit)
            .await
            .unwrap();
        (state, dir, project_id, app_id)
    }

    #[tokio::test]
    async fn a_cancellation_made_while_settling_waits_for_the_customer_stops_its_renewal() {
        let (state, _dir, project_id, app_id) = project_with_monthly_product().await;
        let canceller = subscriber(&state, &project_id, &app_id, "canceller").await;
        let keeper = subscriber(&state, &project_id, &app_id, "keeper").await;

        // What the sweep read before a request took the canceller's lock: nothing cancelled.
        let (transactions, events) = state
            .storage
            .facts_ending_between(&project_id, UnixMillis(NOW.0 - DAY), NOW)
            .await
            .unwrap();
        assert_eq!(transactions.len(), 2);
        let held = state
            .storage
            .customer_locks()
            .try_lock(&canceller, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        let settling = tokio::spawn({
            let (state, project_id) = (state.clone(), project_id.clone());
            async move { settle(&state, &project_id, transactions, &events, NOW).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The request holding the lock records the cancellation, dated before the period end.
        let cancellation = LifecycleEvent {
            id: new_id(IdKind::LifecycleEvent),
            store: Store::TestStore,
            original_transaction_id: "t_canceller".to_string(),
            kind: LifecycleKind::Cancelled,
            occurred_at: UnixMillis(NOW.0 - 2_000),
        };
        state
            .storage
            .add_lifecycle_event(&project_id, &cancellation, &[], NOW)
            .await
            .unwrap();
        drop(held);
        let settled = settling.await.unwrap().unwrap();

        assert_eq!(settled.renewals, 1, "only the keeper renews: {settled:?}");
        let renewed = |key: String| {
            let storage = state.storage.clone();
            async move { storage.transactions_of(&key).await.unwrap().len() }
        };
        assert_eq!(renewed(keeper).await, 2);
        assert_eq!(
            renewed(canceller).await,
            1,
            "renewed despite the cancellation"
        );
    }

    #[tokio::test]
    async fn the_sweep_verifies_temporary_grants_once_the_store_is_up() {
        let (state, _dir, project_id, app_id) = project_with_monthly_product().await;
        let customer = Customer::first_seen(
            "cust_olga".to_string(),
            project_id.clone(),
            "olga".to_string(),
            NOW,
        );
        state.storage.create_customer(&customer, &[]).await.unwrap();
        let product = state
            .storage
            .product_by_identifier(&project_id, &app_id, "pro_monthly")
            .await
            .unwrap()
            .unwrap();
        let granted_at = UnixMillis(NOW.0 - DAY / 2);
        state
            .storage
            .set_test_store_outage(&project_id, true, granted_at)
            .await
            .unwrap();
        crate::temporary_grants::grant(
            &state,
            &project_id,
            &customer,
            &product,
            "tok",
            None,
            granted_at,
        )
        .await
        .unwrap();

        let down = sweep_once(&state).await.unwrap();
        assert_eq!(
            down.temporary_grants, 0,
            "nothing is verified while the store is down"
        );
        assert!(
            state
                .storage
                .transactions_of(&customer.key)
                .await
                .unwrap()
                .is_empty()
        );

        state
            .storage
            .set_test_store_outage(&project_id, false, NOW)
            .await
            .unwrap();
        let up = sweep_once(&state).await.unwrap();
        assert_eq!(up.temporary_grants, 1);
        let verified = state.storage.transactions_of(&customer.key).await.unwrap();
        assert_eq!(verified.len(), 1);
        assert_eq!(verified[0].store_transaction_id, "tok");
        assert_eq!(
            verified[0].purchased_at, granted_at,
            "dated when it was posted"
        );
        assert!(
            state
                .storage
                .pending_temporary_grants_of(&customer.key)
                .await
                .unwrap()
                .is_empty()
        );
        let again = sweep_once(&state).await.unwrap();
        assert_eq!(again.temporary_grants, 0, "settled once");
    }
}
