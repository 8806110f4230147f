//! The App Store through HTTP: StoreKit 2 signed transactions posted as receipts, App Store
//! Server Notifications V2, and imports of signed transactions, all signed by a test CA the
//! test makes (with Apple's marker extensions) and trusted through `--apple-root-certs`.

use std::time::{SystemTime, UNIX_EPOCH};

use entitled_testkit::apple::{AppleSigner, transaction_payload};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Db, TestServer, send};

const BUNDLE: &str = "com.acme.app";
const PRODUCT: &str = "com.acme.pro";
const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A server trusting `signer`'s root, with an App Store app (`BUNDLE`) whose `PRODUCT`
/// unlocks `pro`; returns the server, the app's id and its public SDK key.
struct AppleSetup {
    server: TestServer,
    app_id: String,
    key: String,
    _root_dir: tempfile::TempDir,
}

async fn start(db: Db, signer: &AppleSigner, extra: &[&str]) -> Option<AppleSetup> {
    let root_dir = tempfile::tempdir().unwrap();
    let root_path = root_dir.path().join("root.der");
    std::fs::write(&root_path, signer.root_der()).unwrap();
    let mut flags = vec![
        "--apple-root-certs",
        root_path.to_str().unwrap(),
        "--webhook-poll-ms",
        "50",
    ];
    flags.extend(extra);
    let server = TestServer::start_with(db, &flags).await?;
    let post = |path: &str, body: Value| {
        server
            .secret(Method::POST, &server.project_path(path))
            .json(&body)
    };
    let (status, _, app) = send(post(
        "/apps",
        json!({"name": "iOS", "type": "app_store", "app_store": {"bundle_id": BUNDLE}}),
    ))
    .await;
    assert_eq!(status, 201, "{app}");
    let app_id = app["id"].as_str().unwrap().to_string();
    let key = app["public_api_key"].as_str().unwrap().to_string();
    let (status, _, product) = send(post(
        "/products",
        json!({"store_identifier": PRODUCT, "app_id": app_id, "type": "subscription"}),
    ))
    .await;
    assert_eq!(status, 201, "{product}");
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
        json!({"product_ids": [product["id"]]}),
    ))
    .await;
    assert_eq!(status, 200);
    Some(AppleSetup {
        server,
        app_id,
        key,
        _root_dir: root_dir,
    })
}

impl AppleSetup {
    async fn receipt(&self, user: &str, fetch_token: &str) -> (u16, Value) {
        let (status, _, body) = send(
            self.server
                .with_key(Method::POST, "/v1/receipts", &self.key)
                .json(&json!({"app_user_id": user, "fetch_token": fetch_token,
                    "product_id": PRODUCT})),
        )
        .await;
        (status, body)
    }

    async fn notify(&self, signed_payload: &str) -> (u16, Value) {
        let (status, _, body) = send(
            self.server
                .request(
                    Method::POST,
                    &format!(
                        "/v1/incoming-webhooks/apple-server-to-server-notification/{}",
                        self.app_id
                    ),
                )
                .json(&json!({"signedPayload": signed_payload})),
        )
        .await;
        (status, body)
    }

    async fn subscriber(&self, user: &str) -> Value {
        let (status, _, body) = send(self.server.with_key(
            Method::GET,
            &format!("/v1/subscribers/{user}"),
            &self.key,
        ))
        .await;
        assert!(status == 200 || status == 201, "{body}");
        body["subscriber"].clone()
    }
}

/// How many App Store transactions the server's database holds (a fact the HTTP API shows
/// only piecemeal).
async fn app_store_transactions(server: &TestServer) -> i64 {
    const SQL: &str = "SELECT count(*) FROM store_transactions WHERE store = 'app_store'";
    if server.database_url.starts_with("postgres") {
        entitled_testkit::raw::postgres_scalar(&server.database_url, SQL).await
    } else {
        let pool = sqlx::SqlitePool::connect(&server.database_url)
            .await
            .expect("open the server's database");
        sqlx::query_scalar(SQL)
            .fetch_one(&pool)
            .await
            .expect("count")
    }
}

fn notification(
    signer: &AppleSigner,
    uuid: &str,
    kind: &str,
    subtype: Option<&str>,
    transaction: &Value,
) -> String {
    signer.sign(&json!({
        "notificationType": kind,
        "subtype": subtype,
        "notificationUUID": uuid,
        "signedDate": now_ms(),
        "version": "2.0",
        "data": {"bundleId": BUNDLE, "environment": "Sandbox",
            "signedTransactionInfo": signer.sign(transaction)},
    }))
}

async fn a_purchase_lives_through_receipts_and_notifications(db: Db) {
    let signer = AppleSigner::new();
    let Some(setup) = start(db, &signer, &[]).await else {
        return;
    };
    let now = now_ms();
    let first = transaction_payload(
        BUNDLE,
        "2000",
        "1000",
        PRODUCT,
        now - 2 * DAY_MS,
        Some(now + DAY_MS),
    );
    let jws = signer.sign(&first);

    // The app posts StoreKit 2's signed transaction: verified, recorded, entitled.
    let (status, body) = setup.receipt("alice", &jws).await;
    assert_eq!(status, 200, "{body}");
    let subscription = &body["subscriber"]["subscriptions"][PRODUCT];
    assert_eq!(subscription["store"], "app_store", "{body}");
    assert_eq!(subscription["is_sandbox"], true);
    assert_eq!(subscription["store_transaction_id"], "2000");
    assert_eq!(subscription["price"]["amount"], 4.99);
    assert!(
        body["subscriber"]["entitlements"]["pro"]["expires_date"].is_string(),
        "{body}"
    );
    // Posting it again changes nothing.
    let (status, again) = setup.receipt("alice", &jws).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(app_store_transactions(&setup.server).await, 1);

    // What Apple did not sign, or signed for another app, is refused with 422.
    let stranger = AppleSigner::new();
    for (token, why) in [
        (stranger.sign(&first), "another CA"),
        (
            signer.sign(&transaction_payload(
                "com.other",
                "3000",
                "3000",
                PRODUCT,
                now,
                None,
            )),
            "another bundle",
        ),
        (
            "MIIT0gYJKoZIhvcNAQcCoIIT".to_string(),
            "a StoreKit 1 receipt",
        ),
    ] {
        let (status, body) = setup.receipt("mallory", &token).await;
        assert_eq!(status, 422, "{why}: {body}");
        assert!(
            body["code"].is_number() && body["message"].is_string(),
            "{body}"
        );
    }

    // A renewal arrives as a notification, once however often Apple retries it.
    let renewal = transaction_payload(
        BUNDLE,
        "2001",
        "1000",
        PRODUCT,
        now - 60_000,
        Some(now + 30 * DAY_MS),
    );
    let renewed = notification(&signer, "n-renew", "DID_RENEW", None, &renewal);
    for _ in 0..2 {
        let (status, body) = setup.notify(&renewed).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["recorded"], true);
    }
    let subscriber = setup.subscriber("alice").await;
    assert_eq!(
        subscriber["subscriptions"][PRODUCT]["store_transaction_id"],
        "2001"
    );
    let expires = subscriber["entitlements"]["pro"]["expires_date"].clone();

    // Turning auto-renew off is a cancellation: access stays until the period ends.
    let cancel = notification(
        &signer,
        "n-cancel",
        "DID_CHANGE_RENEWAL_STATUS",
        Some("AUTO_RENEW_DISABLED"),
        &renewal,
    );
    let (status, _) = setup.notify(&cancel).await;
    assert_eq!(status, 200);
    let subscriber = setup.subscriber("alice").await;
    assert!(
        subscriber["subscriptions"][PRODUCT]["unsubscribe_detected_at"].is_string(),
        "{subscriber}"
    );
    assert_eq!(subscriber["entitlements"]["pro"]["expires_date"], expires);

    // A refund ends access now.
    let mut refunded = renewal.clone();
    refunded["revocationDate"] = json!(now_ms());
    let refund = notification(&signer, "n-refund", "REFUND", None, &refunded);
    let (status, _) = setup.notify(&refund).await;
    assert_eq!(status, 200);
    let subscriber = setup.subscriber("alice").await;
    assert!(
        subscriber["subscriptions"][PRODUCT]["refunded_at"].is_string(),
        "{subscriber}"
    );
    let pro_expires = subscriber["entitlements"]["pro"]["expires_date"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        pro_expires.as_str() < expires.as_str().unwrap(),
        "{subscriber}"
    );

    // Notifications that change nothing, or that no customer's purchase matches, are
    // acknowledged; forged ones and unknown apps are not.
    let test = signer.sign(&json!({"notificationType": "TEST", "notificationUUID": "t",
        "signedDate": now_ms(), "data": {"bundleId": BUNDLE}}));
    let (status, body) = setup.notify(&test).await;
    assert_eq!((status, body["recorded"].clone()), (200, json!(false)));
    let unknown = transaction_payload(BUNDLE, "9000", "9000", PRODUCT, now, Some(now + DAY_MS));
    let (status, body) = setup
        .notify(&notification(
            &signer,
            "n-unknown",
            "DID_RENEW",
            None,
            &unknown,
        ))
        .await;
    assert_eq!((status, body["recorded"].clone()), (200, json!(false)));
    let (status, body) = setup
        .notify(&notification(
            &stranger,
            "n-forged",
            "DID_RENEW",
            None,
            &renewal,
        ))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _, body) = send(
        setup
            .server
            .request(
                Method::POST,
                "/v1/incoming-webhooks/apple-server-to-server-notification/app_unknown",
            )
            .json(&json!({"signedPayload": renewed})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = send(
        setup
            .server
            .request(
                Method::POST,
                &format!(
                    "/v1/incoming-webhooks/apple-server-to-server-notification/{}",
                    setup.app_id
                ),
            )
            .json(&json!({"payload": "x"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        app_store_transactions(&setup.server).await,
        2,
        "the renewal once; nothing from refused or unmatched notifications"
    );
}

#[tokio::test]
async fn a_purchase_lives_through_receipts_and_notifications_on_sqlite() {
    a_purchase_lives_through_receipts_and_notifications(Db::Sqlite).await;
}

#[tokio::test]
async fn a_purchase_lives_through_receipts_and_notifications_on_postgres() {
    a_purchase_lives_through_receipts_and_notifications(Db::Postgres).await;
}

/// Notifications wait for a busy customer instead of failing: with app requests failing
/// fast (`--customer-lock-wait-ms 0`), renewals notified while the app posts receipts for
/// the same customer are all recorded, none answered 423.
#[tokio::test]
async fn notifications_wait_for_a_busy_customer() {
    let signer = AppleSigner::new();
    let setup = start(Db::Sqlite, &signer, &["--customer-lock-wait-ms", "0"])
        .await
        .expect("sqlite");
    let now = now_ms();
    let first = transaction_payload(BUNDLE, "5000", "5000", PRODUCT, now - DAY_MS, Some(now));
    let (status, body) = setup.receipt("bob", &signer.sign(&first)).await;
    assert_eq!(status, 200, "{body}");
    let setup = std::sync::Arc::new(setup);
    let signer = std::sync::Arc::new(signer);
    let mut tasks = Vec::new();
    for i in 0..20_i64 {
        let (setup, signer) = (setup.clone(), signer.clone());
        tasks.push(tokio::spawn(async move {
            let renewal = transaction_payload(
                BUNDLE,
                &format!("{}", 5001 + i),
                "5000",
                PRODUCT,
                now - (20 - i) * 1_000,
                Some(now + (i + 1) * DAY_MS),
            );
            let signed = notification(&signer, &format!("wait-{i}"), "DID_RENEW", None, &renewal);
            let receipt = signer.sign(&transaction_payload(
                BUNDLE,
                &format!("{}", 6000 + i),
                &format!("{}", 6000 + i),
                PRODUCT,
                now,
                Some(now + DAY_MS),
            ));
            let (notified, receipted) =
                tokio::join!(setup.notify(&signed), setup.receipt("bob", &receipt));
            (notified.0, receipted.0)
        }));
    }
    let mut receipt_statuses = Vec::new();
    for task in tasks {
        let (notified, receipted) = task.await.unwrap();
        assert_eq!(notified, 200, "a notification waits for the lock");
        receipt_statuses.push(receipted);
    }
    assert!(
        receipt_statuses.iter().all(|s| *s == 200 || *s == 423),
        "{receipt_statuses:?}"
    );
    let receipts_recorded = receipt_statuses.iter().filter(|s| **s == 200).count() as i64;
    assert_eq!(
        app_store_transactions(&setup.server).await,
        1 + 20 + receipts_recorded,
        "every renewal recorded, and each receipt that was not turned away"
    );
    let subscriber = setup.subscriber("bob").await;
    assert_eq!(
        subscriber["subscriptions"][PRODUCT]["store_transaction_id"], "5020",
        "the latest of the 20 renewals: {subscriber}"
    );
}

#[tokio::test]
async fn signed_transactions_are_imported_verified() {
    let signer = AppleSigner::new();
    let setup = start(Db::Sqlite, &signer, &[]).await.expect("sqlite");
    let now = now_ms();
    let mut data = String::from("app_user_id,signed_transaction\n");
    for i in 0..50 {
        let t = transaction_payload(
            BUNDLE,
            &format!("imp-{i}"),
            &format!("imp-{i}"),
            PRODUCT,
            now - 10 * DAY_MS,
            Some(now + 20 * DAY_MS),
        );
        data.push_str(&format!("user-{i},{}\n", signer.sign(&t)));
    }
    let mut refunded = transaction_payload(
        BUNDLE,
        "imp-refunded",
        "imp-refunded",
        PRODUCT,
        now - 10 * DAY_MS,
        Some(now + 20 * DAY_MS),
    );
    refunded["revocationDate"] = json!(now - DAY_MS);
    data.push_str(&format!("refunded-user,{}\n", signer.sign(&refunded)));
    let forged = AppleSigner::new().sign(&transaction_payload(
        BUNDLE,
        "imp-forged",
        "imp-forged",
        PRODUCT,
        now,
        None,
    ));
    data.push_str(&format!("forger,{forged}\n"));

    let location = crate::jobs::start(
        &setup.server,
        "/imports",
        json!({"format": "app_store_signed_transactions", "data": data}),
    )
    .await;
    let (job, _) = crate::jobs::await_job(&setup.server, &location).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["imported"], 51, "{job}");
    assert_eq!(job["result"]["rejected"], 1, "{job}");
    assert_eq!(job["result"]["errors"][0]["line"], 53, "{job}");
    assert!(
        job["result"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not trusted"),
        "{job}"
    );

    let subscriber = setup.subscriber("user-7").await;
    assert_eq!(
        subscriber["subscriptions"][PRODUCT]["store_transaction_id"],
        "imp-7"
    );
    assert!(
        subscriber["entitlements"]["pro"].is_object(),
        "{subscriber}"
    );
    let refunded = setup.subscriber("refunded-user").await;
    assert!(
        refunded["subscriptions"][PRODUCT]["refunded_at"].is_string(),
        "{refunded}"
    );

    // Importing again adds nothing; a wrong header and Play tokens are refused.
    let location = crate::jobs::start(
        &setup.server,
        "/imports",
        json!({"format": "app_store_signed_transactions", "data": data}),
    )
    .await;
    let (job, _) = crate::jobs::await_job(&setup.server, &location).await;
    assert_eq!(job["result"]["imported"], 0, "{job}");
    assert_eq!(job["result"]["already_known"], 51, "{job}");
    for (body, expected) in [
        (
            json!({"format": "app_store_signed_transactions", "data": "user,jws\n"}),
            400,
        ),
        (
            json!({"format": "play_tokens",
                "data": "app_user_id,product_id,purchase_token\nu,p,t\n"}),
            422,
        ),
    ] {
        let (status, _, answer) = send(
            setup
                .server
                .secret(Method::POST, &setup.server.project_path("/imports"))
                .json(&body),
        )
        .await;
        assert_eq!(status, expected, "{answer}");
    }
}
