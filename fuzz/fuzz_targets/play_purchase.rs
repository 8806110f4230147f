//! What Google's Play Developer API answers for a purchase token, as entitled reads it: the
//! input parsed (`serde_json::from_slice`) both as a `SubscriptionPurchaseV2`
//! (`purchases.subscriptionsv2.get`), turned into facts with `to_fact` and
//! `lifecycle_events`, and as a `ProductPurchase` (`purchases.products.get`) with its
//! `to_fact`; each seen at a few instants within 1970..=9999 (`now`, the first and the last).
//!
//! Nothing panics. An accepted subscription fact is the Play Store's, a subscription with a
//! product, is dated within 1970..=9999 with an expiry after its purchase, keeps the token's
//! original (`linkedPurchaseToken` or the token) and the latest order (or the token), and has
//! a non-negative price in an ISO 4217 code; pending or state-less subscriptions are refused
//! as invalid purchases (422), anything else unusable as Google's fault (502). Lifecycle
//! events are the Play Store's, of the token's original, dated within 1970..=9999, with
//! distinct ids that do not change when the same state is seen at another time. An accepted
//! one-time fact is dated within 1970..=9999, has no expiry and no price; a canceled,
//! pending or unknown purchase state is an invalid purchase (422).
#![no_main]

use entitled_core::UnixMillis;
use entitled_core::purchases::{LifecycleKind, Store, StoreTransaction};
use entitled_core::time::LATEST;
use entitled_stores::play_store::{PlayError, ProductPurchase, SubscriptionPurchaseV2};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "purchase-token";
const APP: &str = "app1";
const CUSTOMER: &str = "cus1";
const PRODUCT: &str = "coins.100";
const NOW: UnixMillis = UnixMillis(1_795_514_400_000);
/// The instants a lookup may be made at: a notification's event time is always in range.
const SEEN_AT: [UnixMillis; 3] = [NOW, UnixMillis(0), LATEST];

fn in_range(at: UnixMillis) -> bool {
    (0..=LATEST.0).contains(&at.0)
}

/// What every fact must be, whichever the kind of purchase.
fn check_fact(fact: &StoreTransaction) {
    assert_eq!(fact.store, Store::PlayStore);
    assert_eq!(fact.app_id, APP);
    assert_eq!(fact.customer_key, CUSTOMER);
    assert!(fact.id.starts_with("txn"), "{fact:?}");
    assert!(!fact.store_transaction_id.is_empty());
    assert!(!fact.original_transaction_id.is_empty());
    assert!(!fact.product_id.is_empty());
    assert!(in_range(fact.purchased_at), "{fact:?}");
    if let Some(expires_at) = fact.expires_at {
        assert!(in_range(expires_at), "{fact:?}");
        assert!(
            expires_at > fact.purchased_at,
            "a fact that expires {} ms after its purchase: {fact:?}",
            expires_at.0 - fact.purchased_at.0
        );
    }
    if let Some(price) = &fact.price {
        assert!(price.amount_micros >= 0, "{fact:?}");
        assert!(
            price.currency.len() == 3 && price.currency.chars().all(|c| c.is_ascii_uppercase()),
            "{fact:?}"
        );
    }
}

fn subscription(purchase: &SubscriptionPurchaseV2) {
    let original = purchase.original_transaction_id(TOKEN);
    assert!(!original.is_empty());
    let mut ids: Option<Vec<String>> = None;
    for seen_at in SEEN_AT {
        match purchase.to_fact(TOKEN, APP, CUSTOMER, seen_at) {
            Ok(fact) => {
                assert!(fact.is_subscription);
                assert!(fact.expires_at.is_some(), "{fact:?}");
                assert_eq!(fact.original_transaction_id, original);
                assert_eq!(fact.store_transaction_id, purchase.order_id(TOKEN));
                assert_eq!(
                    Some(fact.product_id.as_str()),
                    purchase.line_item().and_then(|i| i.product_id.as_deref())
                );
                check_fact(&fact);
            }
            Err(err) => {
                let invalid = matches!(
                    purchase.state(),
                    "SUBSCRIPTION_STATE_PENDING"
                        | "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED"
                        | "SUBSCRIPTION_STATE_UNSPECIFIED"
                );
                if invalid {
                    assert!(matches!(err, PlayError::InvalidPurchase(_)), "{err:?}");
                    assert_eq!(err.contract_status(), 422);
                } else {
                    assert!(matches!(err, PlayError::Upstream(_)), "{err:?}");
                    assert_eq!(err.contract_status(), 502);
                }
            }
        }

        let events = purchase.lifecycle_events(TOKEN, seen_at);
        assert_eq!(events, purchase.lifecycle_events(TOKEN, seen_at));
        for event in &events {
            assert_eq!(event.store, Store::PlayStore);
            assert_eq!(event.original_transaction_id, original);
            assert!(event.id.starts_with("evt_play_"), "{event:?}");
            assert!(in_range(event.occurred_at), "{event:?}");
            match event.kind {
                LifecycleKind::Paused { resumes_at: at }
                | LifecycleKind::Extended { expires_at: at }
                | LifecycleKind::BillingIssue {
                    grace_period_expires_at: Some(at),
                } => assert!(in_range(at), "{event:?}"),
                _ => {}
            }
        }
        let mut these: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        let count = these.len();
        these.sort();
        these.dedup();
        assert_eq!(these.len(), count, "two events with one id: {events:?}");
        // The same state seen again records nothing new.
        match &ids {
            Some(first) => assert_eq!(first, &these, "ids depend on when the state is seen"),
            None => ids = Some(these),
        }
    }
}

fn product(purchase: &ProductPurchase) {
    match purchase.to_fact(PRODUCT, TOKEN, APP, CUSTOMER) {
        Ok(fact) => {
            assert!(!fact.is_subscription);
            assert_eq!(fact.expires_at, None);
            assert_eq!(fact.price, None);
            assert_eq!(fact.product_id, PRODUCT);
            assert_eq!(fact.original_transaction_id, TOKEN);
            assert!(matches!(purchase.purchase_state, None | Some(0)));
            assert_eq!(
                Some(fact.purchased_at.0),
                purchase.purchase_time_millis,
                "{fact:?}"
            );
            check_fact(&fact);
        }
        Err(err) => match purchase.purchase_state {
            None | Some(0) => {
                assert!(matches!(err, PlayError::Upstream(_)), "{err:?}");
                assert_eq!(err.contract_status(), 502);
            }
            Some(_) => {
                assert!(matches!(err, PlayError::InvalidPurchase(_)), "{err:?}");
                assert_eq!(err.contract_status(), 422);
            }
        },
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(purchase) = serde_json::from_slice::<SubscriptionPurchaseV2>(data) {
        subscription(&purchase);
    }
    if let Ok(purchase) = serde_json::from_slice::<ProductPurchase>(data) {
        product(&purchase);
    }
});
