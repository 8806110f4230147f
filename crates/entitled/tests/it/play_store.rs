//! Google Play through HTTP: purchase tokens posted as receipts and imported, and Real-time
//! developer notifications pushed by Pub/Sub, all verified against a local stand-in for
//! Google's OAuth2 token endpoint and Play Developer API (`entitled_testkit::google`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use entitled_testkit::google::FakeGooglePlay;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Db, TestServer, send};

const PACKAGE: &str = "com.acme.android";
const SECRETS_KEY: &str = "4f1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff0";
const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A subscription of `pro.monthly` as Google reports it.
fn subscription(order: &str, start_ms: i64, expiry_ms: i64, state: &str, renewing: bool) -> Value {
    json!({
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "startTime": rfc3339(start_ms),
        "regionCode": "US",
        "subscriptionState": state,
        "latestOrderId": order,
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
        "testPurchase": {},
        "lineItems": [{
            "productId": "pro.monthly",
            "expiryTime": rfc3339(expiry_ms),
            "autoRenewingPlan": {"autoRenewEnabled": renewing,
                "recurringPrice": {"currencyCode": "USD", "units": "4", "nanos": 990000000}},
            "offerDetails": {"basePlanId": "monthly"}
        }]
    })
}

/// A Pub/Sub push of a developer notification.
fn push(notification: Value) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(notification.to_string());
    json!({"message": {"data": data, "messageId": "m1"},
        "subscription": "projects/acme/subscriptions/play"})
}

fn subscription_news(kind: i64, token: &str) -> Value {
    push(
        json!({"version": "1.0", "packageName": PACKAGE, "eventTimeMillis": now_ms().to_string(),
        "subscriptionNotification": {"version": "1.0", "notificationType": kind,
            "purchaseToken": token, "subscriptionId": "pro.monthly"}}),
    )
}

struct PlaySetup {
    server: TestServer,
    google: FakeGooglePlay,
    app_id: String,
    key: String,
}

async fn start(db: Db) -> Option<PlaySetup> {
    let google = FakeGooglePlay::start().await;
    let base = google.base_url();
    let server = TestServer::start_with(
        db,
        &[
            "--secrets-key",
            SECRETS_KEY,
            "--google-api-base",
            &base,
            "--store-timeout-ms",
            "500",
        ],
    )
    .await?;
    let post = |path: &str, body: Value| {
        server
            .secret(Method::POST, &server.project_path(path))
            .json(&body)
    };
    let (status, _, app) = send(post(
        "/apps",
        json!({"name": "Android", "type": "play_store", "play_store": {"package_name": PACKAGE,
            "service_account_credentials_json": google.service_account_json()}}),
    ))
    .await;
    assert_eq!(status, 201, "{app}");
    let app_id = app["id"].as_str().unwrap().to_string();
    let key = app["public_api_key"].as_str().unwrap().to_string();
    let (_, _, monthly) = send(post(
        "/products",
        json!({"store_identifier": "pro.monthly", "app_id": app_id, "type": "subscription"}),
    ))
    .await;
    let (_, _, coins) = send(post(
        "/products",
        json!({"store_identifier": "coins.100", "app_id": app_id, "type": "consumable"}),
    ))
    .await;
    let (_, _, pro) = send(post(
        "/entitlements",
        json!({"lookup_key": "pro", "display_name": "Pro"}),
    ))
    .await;
    let (status, _, _) = send(post(
        &format!(
            "/entitlements/{}/actions/attach_products",
            pro["id"].as_str().unwrap()
        ),
        json!({"product_ids": [monthly["id"]]}),
    ))
    .await;
    assert_eq!(status, 200);
    assert!(coins["id"].is_string(), "{coins}");
    Some(PlaySetup {
        server,
        google,
        app_id,
        key,
    })
}

impl PlaySetup {
    async fn receipt(&self, user: &str, token: &str, product: &str) -> (u16, Value) {
        let (status, _, body) = send(
            self.server
                .with_key(Method::POST, "/v1/receipts", &self.key)
                .json(&json!({"app_user_id": user, "fetch_token": token,
                    "product_ids": [product]})),
        )
        .await;
        (status, body)
    }

    async fn notify(&self, body: &Value) -> (u16, Value) {
        let (status, _, answer) = send(
            self.server
                .request(
                    Method::POST,
                    &format!(
                        "/v1/incoming-webhooks/google-server-to-server-notification/{}",
                        self.app_id
                    ),
                )
                .json(body),
        )
        .await;
        (status, answer)
    }

    async fn subscriber(&self, user: &str) -> Value {
        let (_, _, body) = send(self.server.with_key(
            Method::GET,
            &format!("/v1/subscribers/{user}"),
            &self.key,
        ))
        .await;
        body["subscriber"].clone()
    }
}

async fn a_play_purchase_is_verified_with_google_and_follows_its_news(db: Db) {
    let Some(setup) = start(db).await else {
        return;
    };
    let now = now_ms();
    setup.google.add_subscription(
        "sub-token",
        subscription(
            "GPA.1000-0000-0000-00001",
            now - DAY_MS,
            now + 29 * DAY_MS,
            "SUBSCRIPTION_STATE_ACTIVE",
            true,
        ),
    );

    // The app posts the purchase token; Google confirms it.
    let (status, body) = setup.receipt("ann", "sub-token", "pro.monthly").await;
    assert_eq!(status, 200, "{body}");
    let sub = &body["subscriber"]["subscriptions"]["pro.monthly"];
    assert_eq!(sub["store"], "play_store", "{body}");
    assert_eq!(sub["is_sandbox"], true);
    assert_eq!(sub["store_transaction_id"], "GPA.1000-0000-0000-00001");
    assert!(
        body["subscriber"]["entitlements"]["pro"].is_object(),
        "{body}"
    );

    // A token Google does not know is 422; Google failing is 502; Google silent is 504.
    let (status, body) = setup.receipt("ann", "no-such-token", "pro.monthly").await;
    assert_eq!(status, 422, "{body}");
    setup.google.fail_with(Some(500));
    let (status, body) = setup.receipt("ann", "sub-token", "pro.monthly").await;
    assert_eq!((status, body["code"].clone()), (502, json!(7101)), "{body}");
    setup.google.fail_with(None);
    setup.google.delay(Duration::from_secs(2));
    let (status, body) = setup.receipt("ann", "sub-token", "pro.monthly").await;
    assert_eq!(status, 504, "{body}");
    setup.google.delay(Duration::ZERO);

    // A one-time product.
    setup.google.add_product(
        "coin-token",
        json!({"kind": "androidpublisher#productPurchase", "purchaseTimeMillis": now.to_string(),
            "purchaseState": 0, "consumptionState": 0, "orderId": "GPA.2000-0000-0000-00002",
            "purchaseType": 0, "acknowledgementState": 1}),
    );
    let (status, body) = setup.receipt("ann", "coin-token", "coins.100").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["subscriber"]["non_subscriptions"]["coins.100"][0]["store"], "play_store",
        "{body}"
    );

    // RENEWED: Google now reports the next order; entitled records it.
    setup.google.add_subscription(
        "sub-token",
        subscription(
            "GPA.1000-0000-0000-00001..0",
            now - DAY_MS,
            now + 59 * DAY_MS,
            "SUBSCRIPTION_STATE_ACTIVE",
            true,
        ),
    );
    let (status, body) = setup.notify(&subscription_news(2, "sub-token")).await;
    assert_eq!(
        (status, body["recorded"].clone()),
        (200, json!(true)),
        "{body}"
    );
    let subscriber = setup.subscriber("ann").await;
    assert_eq!(
        subscriber["subscriptions"]["pro.monthly"]["store_transaction_id"],
        "GPA.1000-0000-0000-00001..0",
        "{subscriber}"
    );

    // CANCELED: auto-renew off, access until the period ends.
    setup.google.add_subscription(
        "sub-token",
        subscription(
            "GPA.1000-0000-0000-00001..0",
            now - DAY_MS,
            now + 59 * DAY_MS,
            "SUBSCRIPTION_STATE_CANCELED",
            false,
        ),
    );
    let (status, _) = setup.notify(&subscription_news(3, "sub-token")).await;
    assert_eq!(status, 200);
    let subscriber = setup.subscriber("ann").await;
    assert!(
        subscriber["subscriptions"]["pro.monthly"]["unsubscribe_detected_at"].is_string(),
        "{subscriber}"
    );
    assert!(subscriber["entitlements"]["pro"].is_object());

    // Tests and unknown purchases are acknowledged; other packages, junk and unknown apps
    // are not.
    let test = push(json!({"version": "1.0", "packageName": PACKAGE,
        "eventTimeMillis": now.to_string(), "testNotification": {"version": "1.0"}}));
    let (status, body) = setup.notify(&test).await;
    assert_eq!((status, body["recorded"].clone()), (200, json!(false)));
    setup.google.add_subscription(
        "stranger-token",
        subscription(
            "GPA.3",
            now - DAY_MS,
            now + DAY_MS,
            "SUBSCRIPTION_STATE_ACTIVE",
            true,
        ),
    );
    let (status, body) = setup.notify(&subscription_news(4, "stranger-token")).await;
    assert_eq!((status, body["recorded"].clone()), (200, json!(false)));
    let other = push(json!({"version": "1.0", "packageName": "com.other",
        "eventTimeMillis": now.to_string(), "testNotification": {"version": "1.0"}}));
    assert_eq!(setup.notify(&other).await.0, 422);
    assert_eq!(setup.notify(&json!({"message": "nope"})).await.0, 400);
    let (status, _, _) = send(
        setup
            .server
            .request(
                Method::POST,
                "/v1/incoming-webhooks/google-server-to-server-notification/app_nope",
            )
            .json(&test),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_play_purchase_is_verified_with_google_and_follows_its_news_on_sqlite() {
    a_play_purchase_is_verified_with_google_and_follows_its_news(Db::Sqlite).await;
}

#[tokio::test]
async fn a_play_purchase_is_verified_with_google_and_follows_its_news_on_postgres() {
    a_play_purchase_is_verified_with_google_and_follows_its_news(Db::Postgres).await;
}

#[tokio::test]
async fn play_tokens_are_imported_after_google_confirms_them() {
    let setup = start(Db::Sqlite).await.expect("sqlite");
    let now = now_ms();
    for i in 0..5 {
        setup.google.add_subscription(
            &format!("imp-{i}"),
            subscription(
                &format!("GPA.9{i}"),
                now - 10 * DAY_MS,
                now + 20 * DAY_MS,
                "SUBSCRIPTION_STATE_ACTIVE",
                true,
            ),
        );
    }
    let mut data = String::from("app_user_id,product_id,purchase_token\n");
    for i in 0..5 {
        data.push_str(&format!("player-{i},pro.monthly,imp-{i}\n"));
    }
    data.push_str("player-x,pro.monthly,unknown-token\n");
    let location = crate::jobs::start(
        &setup.server,
        "/imports",
        json!({"format": "play_tokens", "data": data}),
    )
    .await;
    let (job, _) = crate::jobs::await_job(&setup.server, &location).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["imported"], 5, "{job}");
    assert_eq!(job["result"]["rejected"], 1, "{job}");
    assert_eq!(job["result"]["errors"][0]["line"], 7, "{job}");
    let subscriber = setup.subscriber("player-3").await;
    assert_eq!(
        subscriber["subscriptions"]["pro.monthly"]["store_transaction_id"], "GPA.93",
        "{subscriber}"
    );
    let tokens = setup.google.token_requests();
    assert_eq!(tokens, 1, "six lookups under one cached access token");
}
