//! Customer events (RevenueCat's webhook event types), derived from purchase facts.
//!
//! Each event's id is a digest of the fact that caused it, so deriving events again from the
//! same facts (a replay, a retry, a second node) yields the same ids: storing them under a
//! unique id makes delivery exactly-once per event id.

use sha2::{Digest, Sha256};

use crate::purchases::{
    Environment, LifecycleEvent, LifecycleKind, Money, PeriodType, Store, StoreTransaction,
};
use crate::time::UnixMillis;

/// RevenueCat's webhook event types that purchase facts cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The first purchase of a subscription.
    InitialPurchase,
    /// A subscription renewed.
    Renewal,
    /// A renewal bought a different product than the period before.
    ProductChange,
    /// Auto-renewal was turned off, or the purchase was refunded.
    Cancellation,
    /// Auto-renewal was turned back on.
    Uncancellation,
    /// A one-time purchase.
    NonRenewingPurchase,
    /// A renewal payment failed.
    BillingIssue,
    /// A subscription ended.
    Expiration,
    /// A refund was reversed.
    RefundReversed,
    /// A purchase moved to another customer.
    Transfer,
    /// The store moved a period's end later.
    SubscriptionExtended,
    /// A subscription will pause at the end of its period.
    SubscriptionPaused,
    /// A store could not verify a purchase, so its entitlements were granted for a short time.
    TemporaryEntitlementGrant,
}

impl EventType {
    /// The wire name, e.g. `INITIAL_PURCHASE`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::InitialPurchase => "INITIAL_PURCHASE",
            EventType::Renewal => "RENEWAL",
            EventType::ProductChange => "PRODUCT_CHANGE",
            EventType::Cancellation => "CANCELLATION",
            EventType::Uncancellation => "UNCANCELLATION",
            EventType::NonRenewingPurchase => "NON_RENEWING_PURCHASE",
            EventType::BillingIssue => "BILLING_ISSUE",
            EventType::Expiration => "EXPIRATION",
            EventType::RefundReversed => "REFUND_REVERSED",
            EventType::Transfer => "TRANSFER",
            EventType::SubscriptionExtended => "SUBSCRIPTION_EXTENDED",
            EventType::SubscriptionPaused => "SUBSCRIPTION_PAUSED",
            EventType::TemporaryEntitlementGrant => "TEMPORARY_ENTITLEMENT_GRANT",
        }
    }
}

/// An event about one customer's purchase, ready to render as a webhook body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerEvent {
    /// Stable id: the same fact always gives the same id.
    pub id: String,
    /// What happened.
    pub event_type: EventType,
    /// When it happened.
    pub event_timestamp: UnixMillis,
    /// The store.
    pub store: Store,
    /// Sandbox or production.
    pub environment: Environment,
    /// The store product identifier.
    pub product_id: String,
    /// The kind of period.
    pub period_type: PeriodType,
    /// When the transaction concerned was bought.
    pub purchased_at: UnixMillis,
    /// When its period ends (subscriptions).
    pub expiration_at: Option<UnixMillis>,
    /// The store's transaction id.
    pub transaction_id: String,
    /// The store's original transaction id.
    pub original_transaction_id: String,
    /// What was paid.
    pub price: Option<Money>,
    /// For CANCELLATION: `UNSUBSCRIBE` or `CUSTOMER_SUPPORT` (a refund).
    pub cancel_reason: Option<&'static str>,
    /// For EXPIRATION: `UNSUBSCRIBE`, `BILLING_ERROR`, `SUBSCRIPTION_PAUSED` or `CUSTOMER_SUPPORT`.
    pub expiration_reason: Option<&'static str>,
    /// For SUBSCRIPTION_PAUSED: when it renews again.
    pub auto_resume_at: Option<UnixMillis>,
}

/// A UUID-shaped id from the parts that identify an event's cause.
fn stable_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let h = hex::encode(&hasher.finalize()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn from_transaction(
    event_type: EventType,
    t: &StoreTransaction,
    at: UnixMillis,
    cause: &str,
) -> CustomerEvent {
    CustomerEvent {
        id: stable_id(&[event_type.as_str(), t.store.as_str(), cause]),
        event_type,
        event_timestamp: at,
        store: t.store,
        environment: t.environment,
        product_id: t.product_id.clone(),
        period_type: t.period_type,
        purchased_at: t.purchased_at,
        expiration_at: t.expires_at,
        transaction_id: t.store_transaction_id.clone(),
        original_transaction_id: t.original_transaction_id.clone(),
        price: t.price.clone(),
        cancel_reason: None,
        expiration_reason: None,
        auto_resume_at: None,
    }
}

fn latest<'a>(
    transactions: impl Iterator<Item = &'a StoreTransaction>,
) -> Option<&'a StoreTransaction> {
    transactions.max_by(|a, b| {
        (a.purchased_at, a.expires_at, &a.store_transaction_id).cmp(&(
            b.purchased_at,
            b.expires_at,
            &b.store_transaction_id,
        ))
    })
}

/// The event a newly recorded transaction causes, given the transactions of the same
/// purchase recorded before it.
pub fn event_for_transaction(
    new: &StoreTransaction,
    earlier: &[StoreTransaction],
) -> CustomerEvent {
    let cause = new.store_transaction_id.as_str();
    if !new.is_subscription {
        return from_transaction(EventType::NonRenewingPurchase, new, new.purchased_at, cause);
    }
    let previous = latest(earlier.iter().filter(|t| {
        t.store == new.store
            && t.original_transaction_id == new.original_transaction_id
            && t.store_transaction_id != new.store_transaction_id
    }));
    let event_type = match previous {
        None => EventType::InitialPurchase,
        Some(previous) if previous.product_id != new.product_id => EventType::ProductChange,
        Some(_) => EventType::Renewal,
    };
    from_transaction(event_type, new, new.purchased_at, cause)
}

/// The event a store's later word causes, given the purchase's latest transaction.
pub fn event_for_lifecycle(
    event: &LifecycleEvent,
    latest: &StoreTransaction,
) -> Option<CustomerEvent> {
    let (event_type, cancel_reason, expiration_reason) = match event.kind {
        LifecycleKind::Cancelled => (EventType::Cancellation, Some("UNSUBSCRIBE"), None),
        LifecycleKind::Refunded => (EventType::Cancellation, Some("CUSTOMER_SUPPORT"), None),
        LifecycleKind::Uncancelled => (EventType::Uncancellation, None, None),
        LifecycleKind::BillingIssue { .. } => (EventType::BillingIssue, None, None),
        LifecycleKind::RefundReversed => (EventType::RefundReversed, None, None),
        LifecycleKind::Expired => (EventType::Expiration, None, Some("CUSTOMER_SUPPORT")),
        LifecycleKind::Extended { .. } => (EventType::SubscriptionExtended, None, None),
        LifecycleKind::Paused { .. } => (EventType::SubscriptionPaused, None, None),
        LifecycleKind::Recovered => return None,
    };
    let mut derived = from_transaction(event_type, latest, event.occurred_at, &event.id);
    match event.kind {
        LifecycleKind::Extended { expires_at } => derived.expiration_at = Some(expires_at),
        LifecycleKind::Paused { resumes_at } => derived.auto_resume_at = Some(resumes_at),
        _ => {}
    }
    derived.cancel_reason = cancel_reason;
    derived.expiration_reason = expiration_reason;
    Some(derived)
}

/// The TRANSFER event of a purchase moving between customers (`transfer_id` names the
/// recorded transfer), given the purchase's latest transaction.
pub fn event_for_transfer(
    transfer_id: &str,
    at: UnixMillis,
    latest: &StoreTransaction,
) -> CustomerEvent {
    from_transaction(EventType::Transfer, latest, at, transfer_id)
}

/// The TEMPORARY_ENTITLEMENT_GRANT event of a grant given for an unverified purchase. Its id
/// names the purchase (app and fetch token), so posting it again during the outage, or
/// from another node, gives the same id.
pub fn event_for_temporary_grant(grant: &crate::purchases::TemporaryGrant) -> CustomerEvent {
    let event_type = EventType::TemporaryEntitlementGrant;
    CustomerEvent {
        id: stable_id(&[
            event_type.as_str(),
            grant.store.as_str(),
            &grant.app_id,
            &grant.fetch_token,
        ]),
        event_type,
        event_timestamp: grant.granted_at,
        store: grant.store,
        environment: grant.environment,
        product_id: grant.product_id.clone(),
        period_type: PeriodType::Normal,
        purchased_at: grant.granted_at,
        expiration_at: Some(grant.expires_at),
        transaction_id: grant.fetch_token.clone(),
        original_transaction_id: grant.fetch_token.clone(),
        price: grant.price.clone(),
        cancel_reason: None,
        expiration_reason: None,
        auto_resume_at: None,
    }
}

/// The INITIAL_PURCHASE event of a promotional grant (store `promotional`), for the
/// entitlement with `lookup_key`.
pub fn event_for_grant(
    grant: &crate::customers::PromotionalGrant,
    lookup_key: &str,
) -> CustomerEvent {
    promotional(
        EventType::InitialPurchase,
        grant,
        lookup_key,
        grant.starts_at,
        &grant.id,
    )
}

/// The EXPIRATION event of a promotional grant revoked at `at`.
pub fn event_for_revocation(
    grant: &crate::customers::PromotionalGrant,
    lookup_key: &str,
    at: UnixMillis,
) -> CustomerEvent {
    let mut event = promotional(
        EventType::Expiration,
        grant,
        lookup_key,
        at,
        &format!("{}.revoked", grant.id),
    );
    event.expiration_at = Some(at);
    event.expiration_reason = Some("CUSTOMER_SUPPORT");
    event
}

fn promotional(
    event_type: EventType,
    grant: &crate::customers::PromotionalGrant,
    lookup_key: &str,
    at: UnixMillis,
    cause: &str,
) -> CustomerEvent {
    CustomerEvent {
        id: stable_id(&[event_type.as_str(), Store::Promotional.as_str(), cause]),
        event_type,
        event_timestamp: at,
        store: Store::Promotional,
        environment: Environment::Production,
        product_id: crate::engine::promotional_product_id(lookup_key, grant),
        period_type: PeriodType::Promotional,
        purchased_at: grant.starts_at,
        expiration_at: grant.expires_at,
        transaction_id: grant.id.clone(),
        original_transaction_id: grant.id.clone(),
        price: None,
        cancel_reason: None,
        expiration_reason: None,
        auto_resume_at: None,
    }
}

/// EXPIRATION events for subscriptions whose last period ended by `now` without a renewal
/// (or an early end, which has its own event). One per period end, so repeated calls, or
/// calls from several nodes, give the same ids.
pub fn expirations_due(
    transactions: &[StoreTransaction],
    events: &[LifecycleEvent],
    now: UnixMillis,
) -> Vec<CustomerEvent> {
    let mut originals: Vec<(Store, &str)> = transactions
        .iter()
        .filter(|t| t.is_subscription)
        .map(|t| (t.store, t.original_transaction_id.as_str()))
        .collect();
    originals.sort();
    originals.dedup();
    let mut due = Vec::new();
    for (store, original) in originals {
        let of_purchase = |t: &&StoreTransaction| {
            t.store == store && t.original_transaction_id == original && t.purchased_at <= now
        };
        let Some(last) = latest(transactions.iter().filter(of_purchase)) else {
            continue;
        };
        let extended_to = events
            .iter()
            .filter(|e| {
                e.store == store && e.original_transaction_id == original && e.occurred_at <= now
            })
            .filter_map(|e| match e.kind {
                LifecycleKind::Extended { expires_at } => Some(expires_at),
                _ => None,
            })
            .max();
        let Some(ends) = last
            .expires_at
            .map(|e| extended_to.map_or(e, |x| x.max(e)))
            .filter(|e| *e <= now)
        else {
            continue;
        };
        let ended_early = events.iter().any(|e| {
            e.store == store
                && e.original_transaction_id == original
                && matches!(e.kind, LifecycleKind::Expired | LifecycleKind::Refunded)
                && e.occurred_at <= ends
        });
        if ended_early {
            continue;
        }
        let billing_trouble = events.iter().any(|e| {
            e.store == store
                && e.original_transaction_id == original
                && matches!(e.kind, LifecycleKind::BillingIssue { .. })
                && e.occurred_at >= last.purchased_at
        });
        let paused = events.iter().any(|e| {
            e.store == store
                && e.original_transaction_id == original
                && matches!(e.kind, LifecycleKind::Paused { resumes_at } if resumes_at > ends)
                && e.occurred_at <= ends
        });
        let mut event = from_transaction(
            EventType::Expiration,
            last,
            ends,
            &format!("{}@{}", last.store_transaction_id, ends.0),
        );
        event.expiration_reason = Some(if billing_trouble {
            "BILLING_ERROR"
        } else if paused {
            "SUBSCRIPTION_PAUSED"
        } else {
            "UNSUBSCRIBE"
        });
        due.push(event);
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purchases::Ownership;

    const DAY: i64 = 86_400_000;

    fn txn(id: &str, product: &str, bought: i64, expires: Option<i64>) -> StoreTransaction {
        StoreTransaction {
            id: format!("txn{id}"),
            customer_key: "c".into(),
            app_id: "app".into(),
            store: Store::TestStore,
            store_transaction_id: id.into(),
            original_transaction_id: "o1".into(),
            product_id: product.into(),
            product_plan_id: None,
            purchased_at: UnixMillis(bought),
            expires_at: expires.map(UnixMillis),
            period_type: PeriodType::Normal,
            environment: Environment::Sandbox,
            ownership: Ownership::Purchased,
            price: None,
            is_subscription: expires.is_some(),
        }
    }

    fn lifecycle(id: &str, kind: LifecycleKind, at: i64) -> LifecycleEvent {
        LifecycleEvent {
            id: id.into(),
            store: Store::TestStore,
            original_transaction_id: "o1".into(),
            kind,
            occurred_at: UnixMillis(at),
        }
    }

    #[test]
    fn first_transactions_are_initial_purchases_then_renewals_or_product_changes() {
        let first = txn("1", "monthly", 0, Some(30 * DAY));
        let second = txn("2", "monthly", 30 * DAY, Some(60 * DAY));
        let third = txn("3", "yearly", 60 * DAY, Some(425 * DAY));
        assert_eq!(
            event_for_transaction(&first, &[]).event_type,
            EventType::InitialPurchase
        );
        assert_eq!(
            event_for_transaction(&second, std::slice::from_ref(&first)).event_type,
            EventType::Renewal
        );
        assert_eq!(
            event_for_transaction(&third, &[first.clone(), second.clone()]).event_type,
            EventType::ProductChange
        );
        let one_time = txn("9", "coins", 5, None);
        assert_eq!(
            event_for_transaction(&one_time, &[]).event_type,
            EventType::NonRenewingPurchase
        );
    }

    #[test]
    fn a_temporary_grant_is_announced_once_per_posted_purchase() {
        let grant = crate::purchases::TemporaryGrant {
            id: "tmpg1".into(),
            customer_key: "c".into(),
            app_id: "app".into(),
            store: Store::TestStore,
            environment: Environment::Sandbox,
            fetch_token: "tok".into(),
            product_id: "monthly".into(),
            price: None,
            granted_at: UnixMillis(DAY),
            expires_at: UnixMillis(2 * DAY),
            settled_at: None,
        };
        let event = event_for_temporary_grant(&grant);
        assert_eq!(event.event_type.as_str(), "TEMPORARY_ENTITLEMENT_GRANT");
        assert_eq!(event.expiration_at, Some(UnixMillis(2 * DAY)));
        assert_eq!(event.purchased_at, UnixMillis(DAY));
        assert_eq!(event.product_id, "monthly");
        let again = crate::purchases::TemporaryGrant {
            id: "tmpg2".into(),
            ..grant.clone()
        };
        assert_eq!(event_for_temporary_grant(&again).id, event.id);
        let other = crate::purchases::TemporaryGrant {
            fetch_token: "tok2".into(),
            ..grant
        };
        assert_ne!(event_for_temporary_grant(&other).id, event.id);
        let purchase = event_for_transaction(&txn("tok", "monthly", DAY, Some(30 * DAY)), &[]);
        assert_ne!(
            purchase.id, event.id,
            "the verified purchase has its own event"
        );
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let first = txn("1", "monthly", 0, Some(30 * DAY));
        let a = event_for_transaction(&first, &[]);
        let b = event_for_transaction(&first, &[]);
        assert_eq!(a.id, b.id, "replaying a fact gives the same id");
        assert_eq!(a.id.len(), 36);
        let other = event_for_transaction(
            &txn("2", "monthly", 30 * DAY, Some(60 * DAY)),
            std::slice::from_ref(&first),
        );
        assert_ne!(a.id, other.id);
        let cancel =
            event_for_lifecycle(&lifecycle("e1", LifecycleKind::Cancelled, DAY), &first).unwrap();
        assert_ne!(cancel.id, a.id);
    }

    #[test]
    fn lifecycle_facts_map_to_revenuecat_types() {
        let t = txn("1", "monthly", 0, Some(30 * DAY));
        let kind = |k| {
            event_for_lifecycle(&lifecycle("e", k, DAY), &t)
                .map(|e| (e.event_type, e.cancel_reason))
        };
        assert_eq!(
            kind(LifecycleKind::Cancelled),
            Some((EventType::Cancellation, Some("UNSUBSCRIBE")))
        );
        assert_eq!(
            kind(LifecycleKind::Refunded),
            Some((EventType::Cancellation, Some("CUSTOMER_SUPPORT")))
        );
        assert_eq!(
            kind(LifecycleKind::Uncancelled),
            Some((EventType::Uncancellation, None))
        );
        assert_eq!(
            kind(LifecycleKind::RefundReversed),
            Some((EventType::RefundReversed, None))
        );
        assert_eq!(kind(LifecycleKind::Recovered), None);
        let issue = LifecycleKind::BillingIssue {
            grace_period_expires_at: None,
        };
        assert_eq!(kind(issue).map(|k| k.0), Some(EventType::BillingIssue));
        let expired =
            event_for_lifecycle(&lifecycle("e", LifecycleKind::Expired, DAY), &t).unwrap();
        assert_eq!(expired.event_timestamp, UnixMillis(DAY));
    }

    #[test]
    fn grants_and_revocations_are_promotional_events() {
        let grant = crate::customers::PromotionalGrant {
            id: "grant1".into(),
            customer_key: "c".into(),
            entitlement_id: "entl1".into(),
            starts_at: UnixMillis(10),
            expires_at: Some(UnixMillis(100)),
            revoked_at: None,
        };
        let granted = event_for_grant(&grant, "pro");
        assert_eq!(granted.event_type, EventType::InitialPurchase);
        assert_eq!(granted.store, Store::Promotional);
        assert_eq!(granted.product_id, "rc_promo_pro_custom");
        let revoked = event_for_revocation(&grant, "pro", UnixMillis(50));
        assert_eq!(revoked.event_type, EventType::Expiration);
        assert_eq!(revoked.expiration_at, Some(UnixMillis(50)));
        assert_ne!(granted.id, revoked.id);
        assert_eq!(
            revoked.id,
            event_for_revocation(&grant, "pro", UnixMillis(50)).id
        );
    }

    #[test]
    fn extensions_are_events_and_move_the_expiration() {
        let first = txn("1", "monthly", 0, Some(30 * DAY));
        let extension = lifecycle(
            "x",
            LifecycleKind::Extended {
                expires_at: UnixMillis(40 * DAY),
            },
            5 * DAY,
        );
        let event = event_for_lifecycle(&extension, &first).unwrap();
        assert_eq!(event.event_type, EventType::SubscriptionExtended);
        assert_eq!(event.expiration_at, Some(UnixMillis(40 * DAY)));
        let extensions = [extension];
        assert!(
            expirations_due(
                std::slice::from_ref(&first),
                &extensions,
                UnixMillis(35 * DAY)
            )
            .is_empty()
        );
        let due = expirations_due(
            std::slice::from_ref(&first),
            &extensions,
            UnixMillis(41 * DAY),
        );
        assert_eq!(due[0].event_timestamp, UnixMillis(40 * DAY));
    }

    #[test]
    fn one_expiration_per_ended_period() {
        let first = txn("1", "monthly", 0, Some(30 * DAY));
        assert!(
            expirations_due(std::slice::from_ref(&first), &[], UnixMillis(29 * DAY)).is_empty()
        );
        let due = expirations_due(std::slice::from_ref(&first), &[], UnixMillis(31 * DAY));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].event_timestamp, UnixMillis(30 * DAY));
        assert_eq!(due[0].expiration_reason, Some("UNSUBSCRIBE"));
        let again = expirations_due(std::slice::from_ref(&first), &[], UnixMillis(90 * DAY));
        assert_eq!(
            again[0].id, due[0].id,
            "the same period end, the same event"
        );
        let renewed = [first.clone(), txn("2", "monthly", 30 * DAY, Some(60 * DAY))];
        assert!(
            expirations_due(&renewed, &[], UnixMillis(31 * DAY)).is_empty(),
            "renewed in time"
        );
        let later = expirations_due(&renewed, &[], UnixMillis(61 * DAY));
        assert_ne!(
            later[0].id, due[0].id,
            "a later period end is another event"
        );
        let refunded = [lifecycle("r", LifecycleKind::Refunded, 10 * DAY)];
        assert!(
            expirations_due(
                std::slice::from_ref(&first),
                &refunded,
                UnixMillis(31 * DAY)
            )
            .is_empty()
        );
        let trouble = [lifecycle(
            "b",
            LifecycleKind::BillingIssue {
                grace_period_expires_at: None,
            },
            29 * DAY,
        )];
        assert_eq!(
            expirations_due(std::slice::from_ref(&first), &trouble, UnixMillis(31 * DAY))[0]
                .expiration_reason,
            Some("BILLING_ERROR")
        );
    }
}
