//! The sweep: what the passing of time alone changes for customers. Test-store subscriptions
//! renew at their period ends and lapsed subscriptions get their EXPIRATION event even when no
//! request touches the customer, so webhooks report them in real time, not only when the test
//! clock is moved.
//!
//! Every node sweeps. Each pass looks, per project, at what ended since the last pass (by
//! index, not by scanning every purchase). Renewal and event ids are deterministic, so passes
//! that overlap, on one node or several, or race the test clock, write nothing twice.

use std::time::Duration;

use entitled_core::events::{event_for_transaction, expirations_due};
use entitled_core::purchases::{LifecycleEvent, StoreTransaction};
use entitled_core::test_store::renewals_due;
use entitled_core::{IdKind, UnixMillis, new_id};

use crate::AppState;
use crate::error::ApiError;
use crate::v2::test_store::periods;
use crate::webhooks::emit;

/// What settling made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Test-store renewals recorded.
    pub renewals: u64,
    /// EXPIRATION events due (already known ones included: recording them again is a no-op).
    pub expirations: u64,
}

impl std::ops::AddAssign for Settled {
    fn add_assign(&mut self, other: Self) {
        self.renewals += other.renewals;
        self.expirations += other.expirations;
    }
}

/// Among the given facts of a project's purchases, records the test store's renewals due by
/// `now`, each with its event, then the EXPIRATION of every subscription that lapsed by `now`.
pub async fn settle(
    state: &AppState,
    project_id: &str,
    transactions: Vec<StoreTransaction>,
    events: &[LifecycleEvent],
    now: UnixMillis,
) -> Result<Settled, ApiError> {
    let mut settled = Settled::default();
    let product_periods = periods(state, project_id).await?;
    let due = renewals_due(&transactions, events, &product_periods, now, || {
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
