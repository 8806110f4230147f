//! The engine's rules, by example and by property.

use proptest::prelude::*;

use super::*;
use crate::purchases::Environment;

const DAY: i64 = 86_400_000;

fn catalog() -> CatalogView {
    CatalogView {
        entitlements_by_product: HashMap::from([
            ("pro_monthly".to_string(), vec!["pro".to_string()]),
            ("pro_yearly".to_string(), vec!["pro".to_string()]),
            (
                "lifetime".to_string(),
                vec!["pro".to_string(), "extras".to_string()],
            ),
            ("coins".to_string(), vec![]),
        ]),
        lookup_keys: HashMap::from([("entl_pro".to_string(), "pro".to_string())]),
    }
}

fn txn(
    id: &str,
    original: &str,
    product: &str,
    bought: i64,
    expires: Option<i64>,
) -> StoreTransaction {
    StoreTransaction {
        id: format!("txn{id}"),
        customer_key: "cust1".into(),
        app_id: "app1".into(),
        store: Store::TestStore,
        store_transaction_id: id.into(),
        original_transaction_id: original.into(),
        product_id: product.into(),
        product_plan_id: None,
        purchased_at: UnixMillis(bought),
        expires_at: expires.map(UnixMillis),
        period_type: PeriodType::Normal,
        environment: Environment::Sandbox,
        ownership: Ownership::Purchased,
        price: Some(Money {
            amount_micros: 4_990_000,
            currency: "USD".into(),
        }),
        is_subscription: expires.is_some(),
    }
}

fn event(id: &str, original: &str, kind: LifecycleKind, at: i64) -> LifecycleEvent {
    LifecycleEvent {
        id: id.into(),
        store: Store::TestStore,
        original_transaction_id: original.into(),
        kind,
        occurred_at: UnixMillis(at),
    }
}

fn state(transactions: &[StoreTransaction], events: &[LifecycleEvent], now: i64) -> CustomerState {
    customer_state(transactions, events, &[], &catalog(), UnixMillis(now))
}

#[test]
fn a_renewed_subscription_shows_its_latest_period() {
    let t = [
        txn("1", "1", "pro_monthly", 0, Some(30 * DAY)),
        txn("2", "1", "pro_monthly", 30 * DAY, Some(60 * DAY)),
    ];
    let s = state(&t, &[], 40 * DAY);
    let sub = &s.subscriptions["pro_monthly"];
    assert_eq!(sub.purchase_date, UnixMillis(30 * DAY));
    assert_eq!(sub.original_purchase_date, UnixMillis(0));
    assert_eq!(sub.expires_date, Some(UnixMillis(60 * DAY)));
    assert_eq!(sub.store_transaction_id, "2");
    assert!(sub.is_sandbox);
    assert_eq!(
        s.entitlements["pro"].expires_date,
        Some(UnixMillis(60 * DAY))
    );
    assert!(s.entitlements["pro"].is_active(UnixMillis(40 * DAY)));
    assert!(!s.entitlements["pro"].is_active(UnixMillis(60 * DAY)));
}

#[test]
fn facts_from_the_future_are_ignored() {
    let t = [
        txn("1", "1", "pro_monthly", 0, Some(30 * DAY)),
        txn("2", "1", "pro_monthly", 30 * DAY, Some(60 * DAY)),
    ];
    let s = state(&t, &[], 10 * DAY);
    assert_eq!(
        s.subscriptions["pro_monthly"].expires_date,
        Some(UnixMillis(30 * DAY))
    );
}

#[test]
fn cancel_and_uncancel_toggle_unsubscribe_detection() {
    let t = [txn("1", "1", "pro_monthly", 0, Some(30 * DAY))];
    let cancelled = [event("e1", "1", LifecycleKind::Cancelled, DAY)];
    let s = state(&t, &cancelled, 2 * DAY);
    assert_eq!(
        s.subscriptions["pro_monthly"].unsubscribe_detected_at,
        Some(UnixMillis(DAY))
    );
    assert!(
        s.entitlements["pro"].is_active(UnixMillis(2 * DAY)),
        "active until expiry"
    );
    assert!(!s.subscriptions["pro_monthly"].will_renew(UnixMillis(2 * DAY)));
    let both = [
        cancelled[0].clone(),
        event("e2", "1", LifecycleKind::Uncancelled, 3 * DAY),
    ];
    assert_eq!(
        state(&t, &both, 4 * DAY).subscriptions["pro_monthly"].unsubscribe_detected_at,
        None
    );
}

#[test]
fn refunds_end_access_at_once_and_reversals_restore_it() {
    let t = [txn("1", "1", "pro_monthly", 0, Some(30 * DAY))];
    let refunded = [event("e1", "1", LifecycleKind::Refunded, 5 * DAY)];
    let s = state(&t, &refunded, 6 * DAY);
    let sub = &s.subscriptions["pro_monthly"];
    assert_eq!(sub.refunded_at, Some(UnixMillis(5 * DAY)));
    assert_eq!(sub.expires_date, Some(UnixMillis(5 * DAY)));
    assert!(!s.entitlements["pro"].is_active(UnixMillis(6 * DAY)));
    let reversed = [
        refunded[0].clone(),
        event("e2", "1", LifecycleKind::RefundReversed, 7 * DAY),
    ];
    let s = state(&t, &reversed, 8 * DAY);
    assert!(s.entitlements["pro"].is_active(UnixMillis(8 * DAY)));
}

#[test]
fn billing_issues_keep_access_through_grace_until_recovered_or_renewed() {
    let t = [txn("1", "1", "pro_monthly", 0, Some(30 * DAY))];
    let issue = event(
        "e1",
        "1",
        LifecycleKind::BillingIssue {
            grace_period_expires_at: Some(UnixMillis(36 * DAY)),
        },
        30 * DAY,
    );
    let s = state(&t, std::slice::from_ref(&issue), 32 * DAY);
    let sub = &s.subscriptions["pro_monthly"];
    assert_eq!(sub.billing_issues_detected_at, Some(UnixMillis(30 * DAY)));
    assert_eq!(sub.grace_period_expires_date, Some(UnixMillis(36 * DAY)));
    assert!(
        s.entitlements["pro"].is_active(UnixMillis(32 * DAY)),
        "grace period"
    );
    assert!(!s.entitlements["pro"].is_active(UnixMillis(37 * DAY)));
    let renewed = [
        t[0].clone(),
        txn("2", "1", "pro_monthly", 33 * DAY, Some(63 * DAY)),
    ];
    let s = state(&renewed, std::slice::from_ref(&issue), 34 * DAY);
    assert_eq!(
        s.subscriptions["pro_monthly"].billing_issues_detected_at,
        None
    );
    let recovered = [issue, event("e2", "1", LifecycleKind::Recovered, 31 * DAY)];
    assert_eq!(
        state(&t, &recovered, 31 * DAY).subscriptions["pro_monthly"].grace_period_expires_date,
        None
    );
}

#[test]
fn an_expired_event_ends_access_early() {
    let t = [txn("1", "1", "pro_monthly", 0, Some(30 * DAY))];
    let s = state(
        &t,
        &[event("e1", "1", LifecycleKind::Expired, 10 * DAY)],
        11 * DAY,
    );
    assert_eq!(
        s.subscriptions["pro_monthly"].expires_date,
        Some(UnixMillis(10 * DAY))
    );
    assert!(!s.entitlements["pro"].is_active(UnixMillis(11 * DAY)));
}

#[test]
fn extensions_move_the_period_end() {
    let t = [txn("1", "1", "pro_monthly", 0, Some(30 * DAY))];
    let extended = [event(
        "x",
        "1",
        LifecycleKind::Extended {
            expires_at: UnixMillis(45 * DAY),
        },
        10 * DAY,
    )];
    let s = state(&t, &extended, 35 * DAY);
    assert_eq!(
        s.subscriptions["pro_monthly"].expires_date,
        Some(UnixMillis(45 * DAY))
    );
    assert!(s.entitlements["pro"].is_active(UnixMillis(35 * DAY)));
}

#[test]
fn the_longest_product_grants_and_lifetime_beats_all() {
    let t = [
        txn("1", "1", "pro_monthly", 0, Some(30 * DAY)),
        txn("2", "2", "pro_yearly", 0, Some(365 * DAY)),
    ];
    let s = state(&t, &[], DAY);
    assert_eq!(s.entitlements["pro"].product_id, "pro_yearly");
    let with_lifetime = [
        t[0].clone(),
        t[1].clone(),
        txn("3", "3", "lifetime", DAY, None),
    ];
    let s = state(&with_lifetime, &[], 2 * DAY);
    assert_eq!(s.entitlements["pro"].product_id, "lifetime");
    assert_eq!(s.entitlements["pro"].expires_date, None);
    assert_eq!(s.entitlements["extras"].product_id, "lifetime");
    assert_eq!(s.non_subscriptions["lifetime"].len(), 1);
    assert!(!s.subscriptions.contains_key("lifetime"));
}

#[test]
fn refunded_one_time_purchases_disappear() {
    let t = [txn("3", "3", "lifetime", 0, None)];
    let s = state(
        &t,
        &[event("e1", "3", LifecycleKind::Refunded, DAY)],
        2 * DAY,
    );
    assert!(s.non_subscriptions.is_empty());
    assert!(s.entitlements.is_empty());
}

#[test]
fn promotional_grants_appear_as_promotional_subscriptions() {
    let grant = PromotionalGrant {
        id: "grant1".into(),
        customer_key: "cust1".into(),
        entitlement_id: "entl_pro".into(),
        starts_at: UnixMillis(0),
        expires_at: Some(UnixMillis(7 * DAY)),
        revoked_at: None,
    };
    let s = customer_state(
        &[],
        &[],
        std::slice::from_ref(&grant),
        &catalog(),
        UnixMillis(DAY),
    );
    let sub = &s.subscriptions["rc_promo_pro_custom"];
    assert_eq!(sub.store, Store::Promotional);
    assert_eq!(sub.period_type, PeriodType::Promotional);
    assert_eq!(s.entitlements["pro"].product_id, "rc_promo_pro_custom");
    let revoked = PromotionalGrant {
        revoked_at: Some(UnixMillis(2 * DAY)),
        ..grant
    };
    let s = customer_state(&[], &[], &[revoked], &catalog(), UnixMillis(3 * DAY));
    assert!(!s.entitlements["pro"].is_active(UnixMillis(3 * DAY)));
}

#[test]
fn products_unknown_to_the_catalog_grant_nothing() {
    let t = [txn("1", "1", "mystery", 0, Some(30 * DAY))];
    let s = state(&t, &[], DAY);
    assert!(s.subscriptions.contains_key("mystery"));
    assert!(s.entitlements.is_empty());
}

fn any_kind() -> impl Strategy<Value = LifecycleKind> {
    prop_oneof![
        Just(LifecycleKind::Cancelled),
        Just(LifecycleKind::Uncancelled),
        (0i64..100).prop_map(|g| LifecycleKind::BillingIssue {
            grace_period_expires_at: (g % 2 == 0).then_some(UnixMillis(g * DAY)),
        }),
        Just(LifecycleKind::Recovered),
        Just(LifecycleKind::Expired),
        Just(LifecycleKind::Refunded),
        Just(LifecycleKind::RefundReversed),
        (0i64..150).prop_map(|d| LifecycleKind::Extended {
            expires_at: UnixMillis(d * DAY)
        }),
    ]
}

fn any_facts() -> impl Strategy<
    Value = (
        Vec<StoreTransaction>,
        Vec<LifecycleEvent>,
        Vec<PromotionalGrant>,
    ),
> {
    let products = prop_oneof![
        Just("pro_monthly"),
        Just("pro_yearly"),
        Just("lifetime"),
        Just("coins")
    ];
    let transactions = prop::collection::vec((0u8..4, products, 0i64..100, 1i64..40), 0..12)
        .prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(i, (original, product, day, length))| {
                    let one_time = product == "lifetime" || product == "coins";
                    txn(
                        &format!("{i}"),
                        &format!("{product}-{original}"),
                        product,
                        day * DAY,
                        (!one_time).then_some((day + length) * DAY),
                    )
                })
                .collect::<Vec<_>>()
        });
    let events = prop::collection::vec(
        (
            0u8..4,
            prop_oneof![Just("pro_monthly"), Just("pro_yearly"), Just("lifetime")],
            any_kind(),
            0i64..120,
        ),
        0..10,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (original, product, kind, day))| {
                event(
                    &format!("e{i}"),
                    &format!("{product}-{original}"),
                    kind,
                    day * DAY,
                )
            })
            .collect::<Vec<_>>()
    });
    let grants = prop::collection::vec(
        (
            0i64..50,
            prop::option::of(1i64..60),
            prop::option::of(0i64..80),
        ),
        0..4,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (start, length, revoked))| PromotionalGrant {
                id: format!("grant{i}"),
                customer_key: "cust1".into(),
                entitlement_id: "entl_pro".into(),
                starts_at: UnixMillis(start * DAY),
                expires_at: length.map(|l| UnixMillis((start + l) * DAY)),
                revoked_at: revoked.map(|r| UnixMillis(r * DAY)),
            })
            .collect::<Vec<_>>()
    });
    (transactions, events, grants)
}

proptest! {
    #[test]
    fn recomputing_gives_the_same_state((t, e, g) in any_facts(), now in 0i64..150) {
        let now = UnixMillis(now * DAY);
        prop_assert_eq!(customer_state(&t, &e, &g, &catalog(), now), customer_state(&t, &e, &g, &catalog(), now));
    }

    #[test]
    fn facts_in_any_order_give_the_same_state((t, e, g) in any_facts(), now in 0i64..150, seed in any::<u64>()) {
        let now = UnixMillis(now * DAY);
        let expected = customer_state(&t, &e, &g, &catalog(), now);
        let rotate = |len: usize| if len == 0 { 0 } else { (seed as usize) % len };
        let (mut t2, mut e2, mut g2) = (t.clone(), e.clone(), g.clone());
        t2.reverse();
        let shift = rotate(t2.len());
        t2.rotate_left(shift);
        e2.reverse();
        let shift = rotate(e2.len());
        e2.rotate_left(shift);
        g2.reverse();
        let shift = rotate(g2.len());
        g2.rotate_left(shift);
        prop_assert_eq!(customer_state(&t2, &e2, &g2, &catalog(), now), expected);
    }

    #[test]
    fn expired_refunded_or_revoked_purchases_never_grant((t, e, g) in any_facts(), now in 0i64..150) {
        let now = UnixMillis(now * DAY);
        let state = customer_state(&t, &e, &g, &catalog(), now);
        for entitlement in state.active_entitlements(now) {
            if entitlement.store == Store::Promotional {
                let backing = g.iter().any(|grant| {
                    grant.starts_at <= now
                        && grant.expires_at.is_none_or(|x| x > now)
                        && grant.revoked_at.is_none_or(|r| r > now)
                });
                prop_assert!(backing, "an active promotional entitlement needs a live grant");
                continue;
            }
            let product = &entitlement.product_id;
            if let Some(sub) = state.subscriptions.get(product) {
                prop_assert!(sub.refunded_at.is_none(), "refunded subscription grants {:?}", entitlement);
                prop_assert!(sub.is_active(now), "expired subscription grants {:?}", entitlement);
            } else {
                prop_assert!(state.non_subscriptions.contains_key(product), "{:?} from nowhere", entitlement);
            }
        }
    }
}

fn temporary(token: &str, product: &str, granted: i64, settled: Option<i64>) -> TemporaryGrant {
    TemporaryGrant {
        id: format!("tmpg{token}"),
        customer_key: "cust1".into(),
        app_id: "app1".into(),
        store: Store::TestStore,
        environment: Environment::Sandbox,
        fetch_token: token.into(),
        product_id: product.into(),
        price: None,
        granted_at: UnixMillis(granted),
        expires_at: UnixMillis(granted + crate::purchases::TEMPORARY_GRANT_MS),
        settled_at: settled.map(UnixMillis),
    }
}

fn with_temporary(
    transactions: &[StoreTransaction],
    temporary: &[TemporaryGrant],
    now: i64,
) -> CustomerState {
    let facts = CustomerFacts {
        transactions,
        temporary,
        ..CustomerFacts::default()
    };
    state_of_facts(facts, &catalog(), UnixMillis(now))
}

#[test]
fn a_pending_temporary_grant_gives_its_products_entitlements_for_at_most_a_day() {
    let grants = [temporary("tok", "lifetime", 10 * DAY, None)];
    let during = with_temporary(&[], &grants, 10 * DAY + 1_000);
    let keys: Vec<&str> = during
        .active_entitlements(UnixMillis(10 * DAY + 1_000))
        .iter()
        .map(|e| e.lookup_key.as_str())
        .collect();
    assert_eq!(keys, ["extras", "pro"]);
    assert_eq!(
        during.entitlements["pro"].expires_date,
        Some(UnixMillis(11 * DAY)),
        "even a lifetime product is only granted until the grant ends"
    );
    assert_eq!(during.subscriptions["lifetime"].store_transaction_id, "tok");

    let after = with_temporary(&[], &grants, 11 * DAY);
    assert!(after.active_entitlements(UnixMillis(11 * DAY)).is_empty());
    let before = with_temporary(&[], &grants, 10 * DAY - 1);
    assert!(
        before.entitlements.is_empty(),
        "nothing before it was given"
    );
}

#[test]
fn a_settled_temporary_grant_gives_way_to_the_verified_purchase() {
    let verified = [txn("tok", "tok", "pro_monthly", 10 * DAY, Some(40 * DAY))];
    let grants = [temporary(
        "tok",
        "pro_monthly",
        10 * DAY,
        Some(10 * DAY + 5_000),
    )];
    let s = with_temporary(&verified, &grants, 12 * DAY);
    assert_eq!(
        s.entitlements["pro"].expires_date,
        Some(UnixMillis(40 * DAY))
    );
    assert_eq!(s.subscriptions.len(), 1);

    let refused = with_temporary(&[], &grants, 10 * DAY + 6_000);
    assert!(
        refused.entitlements.is_empty(),
        "a grant the store settled without a purchase gives nothing"
    );
    // Before it was settled, it gave access.
    let pending = with_temporary(&[], &grants, 10 * DAY + 4_000);
    assert!(pending.entitlements["pro"].is_active(UnixMillis(10 * DAY + 4_000)));
}

#[test]
fn a_verified_subscription_of_the_product_is_shown_instead_of_a_pending_grant() {
    let owned = [txn("old", "old", "pro_monthly", 0, Some(30 * DAY))];
    let grants = [temporary("tok", "pro_monthly", 10 * DAY, None)];
    let s = with_temporary(&owned, &grants, 10 * DAY + 1);
    assert_eq!(s.subscriptions["pro_monthly"].store_transaction_id, "old");
    assert_eq!(
        s.entitlements["pro"].expires_date,
        Some(UnixMillis(30 * DAY))
    );
}
