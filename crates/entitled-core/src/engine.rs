//! The entitlement engine: what a customer has, computed from facts and the catalog at a
//! given `now`. Pure and deterministic: the same facts, in any order, give the same state.

use std::collections::{BTreeMap, HashMap};

use crate::customers::PromotionalGrant;
use crate::purchases::{
    LifecycleEvent, LifecycleKind, Money, Ownership, PeriodType, Store, StoreTransaction,
    TemporaryGrant,
};
use crate::time::UnixMillis;

/// What the engine needs of the catalog: which entitlements each product unlocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogView {
    /// Store product identifier → lookup keys of the entitlements it unlocks.
    pub entitlements_by_product: HashMap<String, Vec<String>>,
    /// Entitlement id → lookup key (for promotional grants, which name entitlements by id).
    pub lookup_keys: HashMap<String, String>,
}

/// A subscription as the customer has it now (RevenueCat's `subscriptions` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The store product identifier.
    pub product_id: String,
    /// For Play subscriptions, the base plan.
    pub product_plan_id: Option<String>,
    /// The store.
    pub store: Store,
    /// Whether bought in a sandbox.
    pub is_sandbox: bool,
    /// The current period's kind.
    pub period_type: PeriodType,
    /// When the current period was bought.
    pub purchase_date: UnixMillis,
    /// When the subscription was first bought.
    pub original_purchase_date: UnixMillis,
    /// When access ends (a refund or an early expiry moves it earlier); `None`: never.
    pub expires_date: Option<UnixMillis>,
    /// End of the grace period after a billing issue, if one is running.
    pub grace_period_expires_date: Option<UnixMillis>,
    /// When auto-renewal was turned off, if it is off.
    pub unsubscribe_detected_at: Option<UnixMillis>,
    /// When a billing issue was detected, if one is unresolved.
    pub billing_issues_detected_at: Option<UnixMillis>,
    /// When it was refunded, if it was.
    pub refunded_at: Option<UnixMillis>,
    /// When a paused subscription renews again, if it is paused.
    pub auto_resume_date: Option<UnixMillis>,
    /// Bought or family-shared.
    pub ownership: Ownership,
    /// The store's id for the latest transaction.
    pub store_transaction_id: String,
    /// The store's id for the first transaction.
    pub original_transaction_id: String,
    /// What the latest period cost.
    pub price: Option<Money>,
}

impl SubscriptionState {
    /// Whether it gives access at `now` (grace periods count).
    pub fn is_active(&self, now: UnixMillis) -> bool {
        let end = match (self.expires_date, self.grace_period_expires_date) {
            (None, _) => return self.refunded_at.is_none(),
            (Some(expires), Some(grace)) => expires.max(grace),
            (Some(expires), None) => expires,
        };
        end > now
    }

    /// Whether the store will renew it (not cancelled, refunded or over).
    pub fn will_renew(&self, now: UnixMillis) -> bool {
        self.unsubscribe_detected_at.is_none()
            && self.refunded_at.is_none()
            && self.auto_resume_date.is_none()
            && self.is_active(now)
    }
}

/// A one-time purchase (RevenueCat's `non_subscriptions` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonSubscriptionPurchase {
    /// Our transaction id.
    pub id: String,
    /// The store product identifier.
    pub product_id: String,
    /// The store.
    pub store: Store,
    /// Whether bought in a sandbox.
    pub is_sandbox: bool,
    /// When it was bought.
    pub purchase_date: UnixMillis,
    /// The store's transaction id.
    pub store_transaction_id: String,
    /// What it cost.
    pub price: Option<Money>,
}

/// An entitlement the customer has, or had (RevenueCat's `entitlements` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementState {
    /// The entitlement's lookup key.
    pub lookup_key: String,
    /// The product that gives it (the one lasting longest).
    pub product_id: String,
    /// For Play subscriptions, the base plan.
    pub product_plan_id: Option<String>,
    /// When that product was bought (current period).
    pub purchase_date: UnixMillis,
    /// When access ends; `None`: never (lifetime).
    pub expires_date: Option<UnixMillis>,
    /// End of a running grace period.
    pub grace_period_expires_date: Option<UnixMillis>,
    /// The store of that product.
    pub store: Store,
}

impl EntitlementState {
    /// Whether it gives access at `now`.
    pub fn is_active(&self, now: UnixMillis) -> bool {
        match self.expires_date {
            None => true,
            Some(expires) => expires.max(self.grace_period_expires_date.unwrap_or(expires)) > now,
        }
    }

    /// The instant access ends, for choosing the longest-lasting product.
    fn end(&self) -> Option<UnixMillis> {
        self.expires_date
            .map(|e| e.max(self.grace_period_expires_date.unwrap_or(e)))
    }
}

/// Everything a customer has, as of `now`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomerState {
    /// Subscriptions by product identifier (promotional ones as `rc_promo_<key>_<kind>`).
    pub subscriptions: BTreeMap<String, SubscriptionState>,
    /// One-time purchases by product identifier, oldest first.
    pub non_subscriptions: BTreeMap<String, Vec<NonSubscriptionPurchase>>,
    /// Every entitlement the customer has or had, by lookup key.
    pub entitlements: BTreeMap<String, EntitlementState>,
}

impl CustomerState {
    /// The lookup keys of the entitlements active at `now`.
    pub fn active_entitlements(&self, now: UnixMillis) -> Vec<&EntitlementState> {
        self.entitlements
            .values()
            .filter(|e| e.is_active(now))
            .collect()
    }
}

/// A subscription's transactions and lifecycle, folded.
#[derive(Default)]
struct Lifecycle {
    unsubscribed_at: Option<UnixMillis>,
    billing_issue_at: Option<UnixMillis>,
    grace_until: Option<UnixMillis>,
    refunded_at: Option<UnixMillis>,
    expired_at: Option<UnixMillis>,
    extended_to: Option<UnixMillis>,
    paused_until: Option<UnixMillis>,
}

fn fold_lifecycle(events: &[&LifecycleEvent], latest_purchase: UnixMillis) -> Lifecycle {
    let mut ordered: Vec<&&LifecycleEvent> = events.iter().collect();
    ordered.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    let mut state = Lifecycle::default();
    for event in ordered {
        match event.kind {
            LifecycleKind::Cancelled => state.unsubscribed_at = Some(event.occurred_at),
            LifecycleKind::Uncancelled => state.unsubscribed_at = None,
            LifecycleKind::BillingIssue {
                grace_period_expires_at,
            } => {
                state.billing_issue_at = Some(event.occurred_at);
                state.grace_until = grace_period_expires_at;
            }
            LifecycleKind::Recovered => {
                state.billing_issue_at = None;
                state.grace_until = None;
            }
            LifecycleKind::Expired => state.expired_at = Some(event.occurred_at),
            LifecycleKind::Refunded => state.refunded_at = Some(event.occurred_at),
            LifecycleKind::RefundReversed => state.refunded_at = None,
            LifecycleKind::Paused { resumes_at } => state.paused_until = Some(resumes_at),
            LifecycleKind::Extended { expires_at } => {
                state.extended_to =
                    Some(state.extended_to.map_or(expires_at, |e| e.max(expires_at)));
            }
        }
    }
    // A renewal at (or after) the resume date ends a pause.
    if state
        .paused_until
        .is_some_and(|resume| latest_purchase >= resume)
    {
        state.paused_until = None;
    }
    // A renewal bought after a billing issue settles it.
    if state
        .billing_issue_at
        .is_some_and(|at| latest_purchase > at)
    {
        state.billing_issue_at = None;
        state.grace_until = None;
    }
    state
}

/// Orders transactions so the "latest" one is the same whatever order facts arrived in.
fn transaction_order(t: &StoreTransaction) -> (UnixMillis, Option<UnixMillis>, &str) {
    (
        t.purchased_at,
        t.expires_at,
        t.store_transaction_id.as_str(),
    )
}

/// One subscription's state from its transactions and lifecycle events (all of one original
/// transaction), ignoring nothing: callers pass only the facts known at their `now`.
pub fn subscription_of(
    transactions: &[&StoreTransaction],
    events: &[&LifecycleEvent],
) -> Option<SubscriptionState> {
    let latest = transactions
        .iter()
        .max_by(|a, b| transaction_order(a).cmp(&transaction_order(b)))?;
    let first = transactions
        .iter()
        .min_by(|a, b| transaction_order(a).cmp(&transaction_order(b)))?;
    let life = fold_lifecycle(events, latest.purchased_at);
    let expires = transactions
        .iter()
        .filter_map(|t| t.expires_at)
        .chain(life.extended_to)
        .max();
    let mut expires_date = expires;
    for cut in [life.refunded_at, life.expired_at].into_iter().flatten() {
        expires_date = Some(expires_date.map_or(cut, |e| e.min(cut)));
    }
    let grace = life
        .grace_until
        .filter(|_| life.refunded_at.is_none() && life.expired_at.is_none());
    Some(SubscriptionState {
        product_id: latest.product_id.clone(),
        product_plan_id: latest.product_plan_id.clone(),
        store: latest.store,
        is_sandbox: latest.environment == crate::purchases::Environment::Sandbox,
        period_type: latest.period_type,
        purchase_date: latest.purchased_at,
        original_purchase_date: first.purchased_at,
        expires_date,
        grace_period_expires_date: grace,
        unsubscribe_detected_at: life.unsubscribed_at,
        billing_issues_detected_at: life.billing_issue_at,
        refunded_at: life.refunded_at,
        auto_resume_date: life.paused_until,
        ownership: latest.ownership,
        store_transaction_id: latest.store_transaction_id.clone(),
        original_transaction_id: latest.original_transaction_id.clone(),
        price: latest.price.clone(),
    })
}

/// The promotional product identifier RevenueCat shows for a grant.
pub fn promotional_product_id(lookup_key: &str, grant: &PromotionalGrant) -> String {
    let kind = if grant.expires_at.is_none() {
        "lifetime"
    } else {
        "custom"
    };
    format!("rc_promo_{lookup_key}_{kind}")
}

/// How long a candidate lasts, then tie-breakers: lifetime beats all, later ends beat earlier.
fn rank(candidate: &EntitlementState) -> ((u8, i64), &str, UnixMillis) {
    let end = candidate.end().map_or((1, 0), |e| (0, e.0));
    (end, candidate.product_id.as_str(), candidate.purchase_date)
}

/// Offers a candidate for an entitlement; the best-ranked one stays.
fn offer(entitlements: &mut BTreeMap<String, EntitlementState>, candidate: EntitlementState) {
    let better = entitlements
        .get(&candidate.lookup_key)
        .is_none_or(|current| rank(&candidate) > rank(current));
    if better {
        entitlements.insert(candidate.lookup_key.clone(), candidate);
    }
}

/// A customer's facts, as the engine reads them.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerFacts<'a> {
    /// Verified store transactions.
    pub transactions: &'a [StoreTransaction],
    /// What the stores said about them later.
    pub events: &'a [LifecycleEvent],
    /// Promotional grants.
    pub grants: &'a [PromotionalGrant],
    /// Temporary grants for purchases a store could not verify yet.
    pub temporary: &'a [TemporaryGrant],
}

/// Computes a customer's subscriptions, purchases and entitlements from their facts.
pub fn customer_state(
    transactions: &[StoreTransaction],
    events: &[LifecycleEvent],
    grants: &[PromotionalGrant],
    catalog: &CatalogView,
    now: UnixMillis,
) -> CustomerState {
    state_of_facts(
        CustomerFacts {
            transactions,
            events,
            grants,
            temporary: &[],
        },
        catalog,
        now,
    )
}

/// Computes a customer's subscriptions, purchases and entitlements from all their facts,
/// temporary grants included.
pub fn state_of_facts(
    facts: CustomerFacts<'_>,
    catalog: &CatalogView,
    now: UnixMillis,
) -> CustomerState {
    let CustomerFacts {
        transactions,
        events,
        grants,
        temporary,
    } = facts;
    let mut state = CustomerState::default();

    let mut by_original: BTreeMap<(Store, &str), Vec<&StoreTransaction>> = BTreeMap::new();
    for transaction in transactions.iter().filter(|t| t.purchased_at <= now) {
        by_original
            .entry((
                transaction.store,
                transaction.original_transaction_id.as_str(),
            ))
            .or_default()
            .push(transaction);
    }
    let mut events_by_original: HashMap<(Store, &str), Vec<&LifecycleEvent>> = HashMap::new();
    for event in events.iter().filter(|e| e.occurred_at <= now) {
        events_by_original
            .entry((event.store, event.original_transaction_id.as_str()))
            .or_default()
            .push(event);
    }

    for (key, group) in &by_original {
        let group_events = events_by_original
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if group.iter().any(|t| t.is_subscription) {
            let Some(subscription) = subscription_of(group, group_events) else {
                continue;
            };
            let keep = match state.subscriptions.get(&subscription.product_id) {
                Some(existing) => {
                    (
                        subscription.expires_date,
                        subscription.purchase_date,
                        &subscription.original_transaction_id,
                    ) > (
                        existing.expires_date,
                        existing.purchase_date,
                        &existing.original_transaction_id,
                    )
                }
                None => true,
            };
            if keep {
                state
                    .subscriptions
                    .insert(subscription.product_id.clone(), subscription);
            }
        } else {
            let life = fold_lifecycle(group_events, UnixMillis(i64::MIN));
            if life.refunded_at.is_some() {
                continue;
            }
            for transaction in group {
                state
                    .non_subscriptions
                    .entry(transaction.product_id.clone())
                    .or_default()
                    .push(NonSubscriptionPurchase {
                        id: transaction.id.clone(),
                        product_id: transaction.product_id.clone(),
                        store: transaction.store,
                        is_sandbox: transaction.environment
                            == crate::purchases::Environment::Sandbox,
                        purchase_date: transaction.purchased_at,
                        store_transaction_id: transaction.store_transaction_id.clone(),
                        price: transaction.price.clone(),
                    });
            }
        }
    }
    for purchases in state.non_subscriptions.values_mut() {
        purchases.sort_by(|a, b| {
            (a.purchase_date, &a.store_transaction_id)
                .cmp(&(b.purchase_date, &b.store_transaction_id))
        });
        purchases.dedup_by(|a, b| {
            a.store_transaction_id == b.store_transaction_id && a.store == b.store
        });
    }

    for grant in grants.iter().filter(|g| g.starts_at <= now) {
        let Some(lookup_key) = catalog.lookup_keys.get(&grant.entitlement_id) else {
            continue;
        };
        let product_id = promotional_product_id(lookup_key, grant);
        let ended = match (grant.expires_at, grant.revoked_at.filter(|r| *r <= now)) {
            (Some(e), Some(r)) => Some(e.min(r)),
            (None, Some(r)) => Some(r),
            (e, None) => e,
        };
        let subscription = SubscriptionState {
            product_id: product_id.clone(),
            product_plan_id: None,
            store: Store::Promotional,
            is_sandbox: false,
            period_type: PeriodType::Promotional,
            purchase_date: grant.starts_at,
            original_purchase_date: grant.starts_at,
            expires_date: ended,
            grace_period_expires_date: None,
            unsubscribe_detected_at: None,
            billing_issues_detected_at: None,
            refunded_at: None,
            auto_resume_date: None,
            ownership: Ownership::Purchased,
            store_transaction_id: grant.id.clone(),
            original_transaction_id: grant.id.clone(),
            price: None,
        };
        let grant_rank =
            |end: Option<UnixMillis>, id: &str| (end.map_or((1, 0), |e| (0, e.0)), id.to_string());
        let keep = state.subscriptions.get(&product_id).is_none_or(|existing| {
            grant_rank(ended, &grant.id)
                > grant_rank(existing.expires_date, &existing.store_transaction_id)
        });
        if keep {
            state.subscriptions.insert(product_id.clone(), subscription);
        }
        offer(
            &mut state.entitlements,
            EntitlementState {
                lookup_key: lookup_key.clone(),
                product_id,
                product_plan_id: None,
                purchase_date: grant.starts_at,
                expires_date: ended,
                grace_period_expires_date: None,
                store: Store::Promotional,
            },
        );
    }

    // A pending temporary grant stands in for its purchase: a period of the product ending
    // when the grant does, unless a verified purchase of the product is already shown.
    for grant in temporary.iter().filter(|g| g.is_pending(now)) {
        state
            .subscriptions
            .entry(grant.product_id.clone())
            .or_insert_with(|| SubscriptionState {
                product_id: grant.product_id.clone(),
                product_plan_id: None,
                store: grant.store,
                is_sandbox: grant.environment == crate::purchases::Environment::Sandbox,
                period_type: PeriodType::Normal,
                purchase_date: grant.granted_at,
                original_purchase_date: grant.granted_at,
                expires_date: Some(grant.expires_at),
                grace_period_expires_date: None,
                unsubscribe_detected_at: None,
                billing_issues_detected_at: None,
                refunded_at: None,
                auto_resume_date: None,
                ownership: Ownership::Purchased,
                store_transaction_id: grant.fetch_token.clone(),
                original_transaction_id: grant.fetch_token.clone(),
                price: grant.price.clone(),
            });
    }

    for subscription in state.subscriptions.values() {
        if subscription.store == Store::Promotional {
            continue;
        }
        let keys = catalog
            .entitlements_by_product
            .get(&subscription.product_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for lookup_key in keys {
            offer(
                &mut state.entitlements,
                EntitlementState {
                    lookup_key: lookup_key.clone(),
                    product_id: subscription.product_id.clone(),
                    product_plan_id: subscription.product_plan_id.clone(),
                    purchase_date: subscription.purchase_date,
                    expires_date: subscription.expires_date,
                    grace_period_expires_date: subscription.grace_period_expires_date,
                    store: subscription.store,
                },
            );
        }
    }
    for purchases in state.non_subscriptions.values() {
        for purchase in purchases {
            let keys = catalog
                .entitlements_by_product
                .get(&purchase.product_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for lookup_key in keys {
                offer(
                    &mut state.entitlements,
                    EntitlementState {
                        lookup_key: lookup_key.clone(),
                        product_id: purchase.product_id.clone(),
                        product_plan_id: None,
                        purchase_date: purchase.purchase_date,
                        expires_date: None,
                        grace_period_expires_date: None,
                        store: purchase.store,
                    },
                );
            }
        }
    }
    state
}

#[cfg(test)]
mod tests;
