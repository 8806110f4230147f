//! The Google Play adapter against a local fake of Google's token endpoint and Play
//! Developer API (entitled_testkit::google), and the RTDN fixtures (fixtures/google,
//! CONSTRUCTED from Google's documented example).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use entitled_core::UnixMillis;
use entitled_core::purchases::{Environment, LifecycleKind, Store};
use entitled_stores::play_store::{
    DeveloperNotification, NotificationAction, PlayClient, PlayClientConfig, PlayError,
    PushEnvelope, ServiceAccount,
};
use entitled_testkit::google::FakeGooglePlay;
use serde_json::json;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/google"
);
const PACKAGE: &str = "com.some.thing";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The real time: the fake checks assertions against it, as Google does.
fn now() -> UnixMillis {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    UnixMillis(i64::try_from(since.as_millis()).unwrap())
}

fn client(fake: &FakeGooglePlay, timeout: Duration) -> PlayClient {
    let account = ServiceAccount::from_json(&fake.service_account_json()).unwrap();
    PlayClient::new(
        account,
        PlayClientConfig {
            base_url: fake.base_url(),
            timeout,
        },
    )
    .unwrap()
}

fn subscription_resource() -> serde_json::Value {
    json!({
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "startTime": "2026-10-24T10:00:00.123Z",
        "regionCode": "US",
        "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
        "latestOrderId": "GPA.3345-1234-5678-90123",
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
        "testPurchase": {},
        "lineItems": [{
            "productId": "pro.monthly",
            "expiryTime": "2026-11-24T10:00:00.123Z",
            "autoRenewingPlan": {
                "autoRenewEnabled": true,
                "recurringPrice": {"currencyCode": "EUR", "units": "9", "nanos": 990000000}
            },
            "offerDetails": {"basePlanId": "monthly"}
        }]
    })
}

#[tokio::test]
async fn subscriptions_are_looked_up_with_one_cached_token() {
    let fake = FakeGooglePlay::start().await;
    fake.add_subscription("sub-token", subscription_resource());
    let play = client(&fake, Duration::from_secs(5));
    let purchase = play
        .subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap();
    let again = play
        .subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap();
    assert_eq!(purchase, again);
    assert_eq!(
        fake.token_requests(),
        1,
        "the second lookup reuses the token"
    );
    assert_eq!(fake.api_requests(), 2);

    let fact = purchase
        .to_fact("sub-token", "app1", "cus1", now())
        .unwrap();
    assert_eq!(fact.store, Store::PlayStore);
    assert_eq!(fact.store_transaction_id, "GPA.3345-1234-5678-90123");
    assert_eq!(fact.original_transaction_id, "sub-token");
    assert_eq!(fact.product_id, "pro.monthly");
    assert_eq!(fact.product_plan_id.as_deref(), Some("monthly"));
    assert_eq!(fact.purchased_at, UnixMillis(1_792_836_000_123));
    assert_eq!(fact.expires_at, Some(UnixMillis(1_795_514_400_123)));
    assert_eq!(fact.environment, Environment::Sandbox);
    assert_eq!(fact.price.unwrap().amount_micros, 9_990_000);
}

#[tokio::test]
async fn tokens_are_exchanged_again_when_they_run_out() {
    let fake = FakeGooglePlay::start().await;
    fake.add_subscription("sub-token", subscription_resource());
    fake.set_token_lifetime(30);
    let play = client(&fake, Duration::from_secs(5));
    play.subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap();
    play.subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap();
    assert_eq!(
        fake.token_requests(),
        2,
        "a token within a minute of expiry is replaced"
    );

    fake.set_token_lifetime(3599);
    play.subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap();
    let later = UnixMillis(now().0 + 3_000_000);
    play.subscription(PACKAGE, "sub-token", later)
        .await
        .unwrap();
    assert_eq!(fake.token_requests(), 3, "a fresh token is kept");
    let past_expiry = UnixMillis(now().0 + 3_560_000);
    play.subscription(PACKAGE, "sub-token", past_expiry)
        .await
        .unwrap();
    assert_eq!(fake.token_requests(), 4, "and replaced before it expires");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let fake = FakeGooglePlay::start().await;
    fake.add_subscription("sub-token", subscription_resource());
    let play = client(&fake, Duration::from_secs(5));
    play.subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap();
    fake.revoke_tokens();
    play.subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap();
    assert_eq!(fake.token_requests(), 2);
    assert_eq!(fake.api_requests(), 3);
}

#[tokio::test]
async fn products_are_looked_up() {
    let fake = FakeGooglePlay::start().await;
    fake.add_product(
        "product-token",
        json!({
            "kind": "androidpublisher#productPurchase",
            "purchaseTimeMillis": "1795514400000",
            "purchaseState": 0,
            "consumptionState": 0,
            "orderId": "GPA.1111-2222-3333-44444",
            "purchaseType": 0,
            "acknowledgementState": 1
        }),
    );
    fake.add_product(
        "pending-token",
        json!({"purchaseTimeMillis": "1795514400000", "purchaseState": 2}),
    );
    let play = client(&fake, Duration::from_secs(5));
    let purchase = play
        .product(PACKAGE, "coins.100", "product-token", now())
        .await
        .unwrap();
    let fact = purchase
        .to_fact("coins.100", "product-token", "app1", "cus1")
        .unwrap();
    assert_eq!(fact.store_transaction_id, "GPA.1111-2222-3333-44444");
    assert_eq!(fact.original_transaction_id, "product-token");
    assert_eq!(fact.purchased_at, UnixMillis(1_795_514_400_000));
    assert_eq!(fact.environment, Environment::Sandbox);
    assert!(!fact.is_subscription);

    let pending = play
        .product(PACKAGE, "coins.100", "pending-token", now())
        .await
        .unwrap();
    let refused = pending.to_fact("coins.100", "pending-token", "app1", "cus1");
    assert!(matches!(refused, Err(PlayError::InvalidPurchase(_))));
    assert_eq!(fake.token_requests(), 1);
}

#[tokio::test]
async fn unknown_and_gone_purchases_are_not_valid() {
    let fake = FakeGooglePlay::start().await;
    let play = client(&fake, Duration::from_secs(5));
    let unknown = play
        .subscription(PACKAGE, "nobody", now())
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, PlayError::InvalidPurchase(_)),
        "{unknown}"
    );
    assert_eq!(unknown.contract_status(), 422);
    let unknown = play
        .product(PACKAGE, "x", "nobody", now())
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, PlayError::InvalidPurchase(_)),
        "{unknown}"
    );
    for status in [400, 410] {
        fake.fail_with(Some(status));
        let gone = play
            .subscription(PACKAGE, "nobody", now())
            .await
            .unwrap_err();
        assert!(
            matches!(gone, PlayError::InvalidPurchase(_)),
            "{status}: {gone}"
        );
    }
}

#[tokio::test]
async fn server_errors_and_garbage_are_upstream_errors() {
    let fake = FakeGooglePlay::start().await;
    fake.add_subscription("garbage", json!(["not", "a", "purchase"]));
    let play = client(&fake, Duration::from_secs(5));
    let garbage = play
        .subscription(PACKAGE, "garbage", now())
        .await
        .unwrap_err();
    assert!(matches!(garbage, PlayError::Upstream(_)), "{garbage}");
    fake.fail_with(Some(500));
    let failed = play
        .subscription(PACKAGE, "garbage", now())
        .await
        .unwrap_err();
    assert!(matches!(failed, PlayError::Upstream(_)), "{failed}");
    assert_eq!(failed.contract_status(), 502);
    assert!(failed.to_string().contains("500"), "{failed}");
}

#[tokio::test]
async fn a_stalled_google_is_a_timeout() {
    let fake = FakeGooglePlay::start().await;
    fake.add_subscription("sub-token", subscription_resource());
    fake.delay(Duration::from_secs(3));
    let play = client(&fake, Duration::from_millis(300));
    let stalled = play
        .subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap_err();
    assert_eq!(stalled, PlayError::Timeout);
    assert_eq!(stalled.contract_status(), 504);
}

#[tokio::test]
async fn refused_credentials_are_credentials_errors() {
    let fake = FakeGooglePlay::start().await;
    fake.add_subscription("sub-token", subscription_resource());
    let foreign = ServiceAccount::from_json(&fake.foreign_service_account_json()).unwrap();
    let play = PlayClient::new(
        foreign,
        PlayClientConfig {
            base_url: fake.base_url(),
            timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    let refused = play
        .subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap_err();
    assert!(matches!(refused, PlayError::Credentials(_)), "{refused}");
    assert!(refused.to_string().contains("invalid_grant"), "{refused}");
    assert!(refused.to_string().contains("lacks access"), "{refused}");
    assert_eq!(refused.contract_status(), 422);
    assert_eq!(fake.api_requests(), 0);

    // An assertion issued two hours ago has expired.
    let play = client(&fake, Duration::from_secs(5));
    let stale = UnixMillis(now().0 - 7_200_000);
    let expired = play
        .subscription(PACKAGE, "sub-token", stale)
        .await
        .unwrap_err();
    assert!(matches!(expired, PlayError::Credentials(_)), "{expired}");

    // A key file the API does not let in (not given access in the Play Console).
    for status in [401, 403] {
        let play = client(&fake, Duration::from_secs(5));
        fake.fail_with(Some(status));
        let denied = play
            .subscription(PACKAGE, "sub-token", now())
            .await
            .unwrap_err();
        assert!(
            matches!(denied, PlayError::Credentials(_)),
            "{status}: {denied}"
        );
    }
}

#[test]
fn service_accounts_never_show_their_key() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(FakeGooglePlay::start());
    let json = fake.service_account_json();
    let account = ServiceAccount::from_json(&json).unwrap();
    let pem: serde_json::Value = serde_json::from_str(&json).unwrap();
    let key_line = pem["private_key"].as_str().unwrap().lines().nth(1).unwrap();
    let shown = format!("{account:?}");
    assert!(!shown.contains(key_line), "{shown}");
    assert!(shown.contains("<redacted>"));
    assert_eq!(account.token_uri(), fake.token_uri());
}

#[test]
fn every_rtdn_fixture_parses() {
    let now = UnixMillis(1_795_514_400_000);
    let notification = |name: &str| DeveloperNotification::from_json(&fixture(name)).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 7, "{names:?}");
    for name in &names {
        let parsed = if name.starts_with("pubsub-push-envelope") {
            let envelope = PushEnvelope::parse(&fixture(name)).unwrap();
            assert_eq!(envelope.message.id(), Some("136969346945"));
            envelope.notification().unwrap()
        } else {
            notification(name)
        };
        assert_eq!(parsed.package_name, PACKAGE, "{name}");
        assert_eq!(
            parsed.event_time(now),
            UnixMillis(1_503_349_566_168),
            "{name}"
        );
    }

    for (name, kind) in [
        ("rtdn-subscription-purchased.json", 4),
        ("rtdn-subscription-renewed.json", 2),
        ("rtdn-subscription-expired.json", 13),
    ] {
        let n = notification(name);
        assert_eq!(
            n.subscription_notification
                .as_ref()
                .unwrap()
                .notification_type,
            kind
        );
        let NotificationAction::Subscription {
            purchase_token,
            subscription_id,
            event_time,
            follow_up,
        } = n.action(now)
        else {
            panic!("{name} means looking the subscription up");
        };
        assert_eq!(purchase_token, "PURCHASE_TOKEN");
        assert_eq!(subscription_id.as_deref(), Some("my.sku"));
        assert_eq!(event_time, UnixMillis(1_503_349_566_168));
        assert_eq!(follow_up, None);
    }

    let pushed = PushEnvelope::parse(&fixture("pubsub-push-envelope-subscription-purchased.json"))
        .unwrap()
        .notification()
        .unwrap();
    assert_eq!(pushed, notification("rtdn-subscription-purchased.json"));

    assert_eq!(
        notification("rtdn-one-time-product-purchased.json").action(now),
        NotificationAction::Product {
            purchase_token: "PURCHASE_TOKEN".into(),
            product_id: "my.sku".into(),
            event_time: UnixMillis(1_503_349_566_168),
        }
    );
    assert_eq!(
        notification("rtdn-test-notification.json").action(now),
        NotificationAction::Nothing
    );
    let NotificationAction::Refund {
        purchase_token,
        order_id,
        event,
    } = notification("rtdn-voided-purchase.json").action(now)
    else {
        panic!("a voided purchase is a refund");
    };
    assert_eq!(purchase_token, "PURCHASE_TOKEN");
    assert_eq!(order_id, "GS.0000-0000-0000");
    assert_eq!(event.id, "evt_play_refund_GS.0000-0000-0000");
    assert_eq!(event.kind, LifecycleKind::Refunded);
    assert_eq!(event.store, Store::PlayStore);
    assert_eq!(event.original_transaction_id, "PURCHASE_TOKEN");
    assert_eq!(event.occurred_at, UnixMillis(1_503_349_566_168));
}

#[tokio::test]
async fn an_unreachable_google_is_an_upstream_error() {
    let fake = FakeGooglePlay::start().await;
    let play = client(&fake, Duration::from_secs(5));
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let unreachable = play
        .subscription(PACKAGE, "sub-token", now())
        .await
        .unwrap_err();
    assert!(
        matches!(unreachable, PlayError::Upstream(_)),
        "{unreachable}"
    );
    assert!(
        unreachable.to_string().contains("token endpoint"),
        "{unreachable}"
    );
}
