//! Webhooks through HTTP: a real receiver on a random port gets the events of a test-store
//! story, signed; failures are retried with the same event id; a silent receiver is cut at
//! the deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Db, TestServer, send};

const FAST: &[&str] = &[
    "--webhook-poll-ms",
    "50",
    "--webhook-retry-schedule",
    "300ms,300ms,300ms",
    "--webhook-deadline-secs",
    "1",
];

/// What the receiver saw, and how it answers (statuses are used in turn; then 200).
#[derive(Default)]
struct Receiver {
    seen: Mutex<Vec<(HeaderMap, Value)>>,
    answers: Mutex<Vec<u16>>,
    silent: bool,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if receiver.silent {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    receiver.seen.lock().unwrap().push((headers, parsed));
    let mut answers = receiver.answers.lock().unwrap();
    let code = if answers.is_empty() {
        200
    } else {
        answers.remove(0)
    };
    StatusCode::from_u16(code).unwrap()
}

async fn start_receiver(answers: Vec<u16>, silent: bool) -> (String, Arc<Receiver>) {
    let receiver = Arc::new(Receiver {
        answers: Mutex::new(answers),
        silent,
        ..Receiver::default()
    });
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/hook"), receiver)
}

async fn integration(server: &TestServer, url: &str) -> (String, String) {
    let (status, _, created) = send(server.secret(Method::POST, &server.project_path("/integrations/webhooks"))
        .json(&json!({"name": "backend", "url": url, "authorization_header": "Bearer hook-token"}))).await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("authorization_header").is_none(), "write-only");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, _, secret) = send(server.secret(
        Method::POST,
        &server.project_path(&format!(
            "/integrations/webhooks/{id}/actions/rotate_signing_secret"
        )),
    ))
    .await;
    assert_eq!(status, 200);
    (id, secret["signing_secret"].as_str().unwrap().to_string())
}

/// A receiver that answers 200, registered with `server`; with the integration's id and
/// signing secret.
async fn listening(server: &TestServer) -> (Arc<Receiver>, String, String) {
    let (url, receiver) = start_receiver(vec![], false).await;
    let (id, secret) = integration(server, &url).await;
    (receiver, id, secret)
}

/// Polls what the receiver saw until `done` holds of it (at most 10 s); returns it.
async fn wait_until(
    receiver: &Receiver,
    done: impl Fn(&[(HeaderMap, Value)]) -> bool,
) -> Vec<(HeaderMap, Value)> {
    for _ in 0..200 {
        let seen = receiver.seen.lock().unwrap().clone();
        if done(&seen) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver.seen.lock().unwrap().clone()
}

async fn wait_for(receiver: &Receiver, count: usize) -> Vec<(HeaderMap, Value)> {
    wait_until(receiver, |seen| seen.len() >= count).await
}

fn verify(secret: &str, headers: &HeaderMap, body: &Value) {
    let header = headers["x-entitled-signature"].to_str().unwrap();
    let (t, v1) = header.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", serde_json::to_string(body).unwrap()).as_bytes());
    assert_eq!(
        hex::encode(mac.finalize().into_bytes()),
        v1,
        "signature checks out"
    );
}

async fn the_story_arrives_in_order(db: Db) {
    let Some(server) = TestServer::start_with(db, FAST).await else {
        return;
    };
    let (receiver, _, secret) = listening(&server).await;
    crate::sdk::catalog(&server).await;
    let buy = |user: &str| {
        server.with_key(Method::POST, "/v1/receipts", &server.public_key)
        .json(&json!({"app_user_id": user, "fetch_token": "tok_story", "product_id": "pro_monthly", "price": 4.99, "currency": "USD"}))
    };
    assert_eq!(send(buy("wendy")).await.0, 200);
    let advance = |days: i64| {
        server
            .secret(Method::POST, &server.project_path("/test_store/clock"))
            .json(&json!({"advance_ms": days * 86_400_000}))
    };
    send(advance(32)).await;
    send(
        server
            .secret(
                Method::POST,
                &server.project_path("/test_store/transactions/tok_story/actions"),
            )
            .json(&json!({"action": "cancel"})),
    )
    .await;
    send(advance(40)).await;
    assert_eq!(
        send(buy("xavier")).await.0,
        200,
        "restored by another customer: transferred"
    );

    let all = wait_for(&receiver, 5).await;
    // Each customer's events arrive in order; different customers' may interleave.
    let of = |user: &str| -> Vec<(HeaderMap, Value)> {
        all.iter()
            .filter(|(_, b)| b["event"]["app_user_id"] == user)
            .cloned()
            .collect()
    };
    let mut seen = of("wendy");
    seen.extend(of("xavier"));
    assert_eq!(seen.len(), all.len());
    let types: Vec<&str> = seen
        .iter()
        .map(|(_, b)| b["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "INITIAL_PURCHASE",
            "RENEWAL",
            "CANCELLATION",
            "EXPIRATION",
            "TRANSFER"
        ]
    );
    let (headers, first) = &seen[0];
    assert_eq!(headers["authorization"], "Bearer hook-token");
    assert_eq!(headers["content-type"], "application/json");
    verify(&secret, headers, first);
    let event = &first["event"];
    assert_eq!(first["api_version"], "1.0");
    assert_eq!(event["app_user_id"], "wendy");
    assert_eq!(event["product_id"], "pro_monthly");
    assert_eq!(event["entitlement_ids"], json!(["pro"]));
    assert_eq!(event["environment"], "SANDBOX");
    assert_eq!(event["store"], "TEST_STORE");
    assert_eq!(event["price"], 4.99);
    assert_eq!(event["currency"], "USD");
    assert!(event["event_timestamp_ms"].is_i64() && event["expiration_at_ms"].is_i64());
    assert_eq!(seen[2].1["event"]["cancel_reason"], "UNSUBSCRIBE");
    assert_eq!(seen[3].1["event"]["expiration_reason"], "UNSUBSCRIBE");
    assert_eq!(seen[4].1["event"]["transferred_from"], json!(["wendy"]));
    assert_eq!(seen[4].1["event"]["transferred_to"], json!(["xavier"]));
    let ids: std::collections::BTreeSet<&str> = seen
        .iter()
        .map(|(_, b)| b["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "distinct ids");
    // Replaying the clock makes no new events.
    send(advance(1)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.seen.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn the_story_arrives_in_order_on_sqlite() {
    the_story_arrives_in_order(Db::Sqlite).await;
}

#[tokio::test]
async fn the_story_arrives_in_order_on_postgres() {
    the_story_arrives_in_order(Db::Postgres).await;
}

#[tokio::test]
async fn failures_are_retried_with_the_same_event_id() {
    let server = TestServer::start_with(Db::Sqlite, FAST)
        .await
        .expect("sqlite");
    let (url, receiver) = start_receiver(vec![500, 503], false).await;
    let (id, _) = integration(&server, &url).await;
    let (status, _, queued) = send(server.secret(
        Method::POST,
        &server.project_path(&format!("/integrations/webhooks/{id}/actions/test")),
    ))
    .await;
    assert_eq!(status, 202, "{queued}");
    let seen = wait_for(&receiver, 3).await;
    assert_eq!(seen.len(), 3);
    let ids: Vec<&str> = seen
        .iter()
        .map(|(_, b)| b["event"]["id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(seen[0].1["event"]["type"], "TEST");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, _, deliveries) = send(server.secret(
        Method::GET,
        &server.project_path(&format!("/integrations/webhooks/{id}/deliveries")),
    ))
    .await;
    let delivery = &deliveries["items"][0];
    assert_eq!(delivery["status"], "succeeded", "{deliveries}");
    let codes: Vec<i64> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 503, 200]);
}

#[tokio::test]
async fn a_silent_receiver_is_cut_at_the_deadline_and_given_up_after_the_schedule() {
    let server = TestServer::start_with(
        Db::Sqlite,
        &[
            "--webhook-poll-ms",
            "50",
            "--webhook-retry-schedule",
            "100ms",
            "--webhook-deadline-secs",
            "1",
        ],
    )
    .await
    .expect("sqlite");
    let (url, _receiver) = start_receiver(vec![], true).await;
    let (id, _) = integration(&server, &url).await;
    send(server.secret(
        Method::POST,
        &server.project_path(&format!("/integrations/webhooks/{id}/actions/test")),
    ))
    .await;
    let mut delivery = Value::Null;
    for _ in 0..100 {
        let (_, _, deliveries) = send(server.secret(
            Method::GET,
            &server.project_path(&format!("/integrations/webhooks/{id}/deliveries")),
        ))
        .await;
        delivery = deliveries["items"][0].clone();
        if delivery["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivery["status"], "failed", "{delivery}");
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "the first try and one retry");
    for attempt in attempts {
        assert_eq!(attempt["error"], "no answer before the deadline");
        let latency = attempt["latency_ms"].as_i64().unwrap();
        assert!(
            (900..3000).contains(&latency),
            "cut at about 1 s: {latency}"
        );
    }
}

#[tokio::test]
async fn integrations_are_managed_like_revenuecats() {
    let server = TestServer::start(Db::Sqlite).await.expect("sqlite");
    let path = server.project_path("/integrations/webhooks");
    for (body, param) in [
        (json!({"name": "x", "url": "ftp://example.com"}), "url"),
        (json!({"url": "https://example.com"}), "name"),
        (
            json!({"name": "x", "url": "https://example.com", "event_types": ["bogus"]}),
            "event_types",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "environment": "staging"}),
            "environment",
        ),
    ] {
        let (status, _, answer) = send(server.secret(Method::POST, &path).json(&body)).await;
        assert_eq!(
            (status, answer["param"].as_str()),
            (400, Some(param)),
            "{answer}"
        );
    }
    let (status, _, created) = send(server.secret(Method::POST, &path).json(&json!({
        "name": "prod only", "url": "https://example.com/hook", "environment": "production",
        "event_types": ["initial_purchase", "renewal"]})))
    .await;
    assert_eq!(status, 201);
    crate::conformance::assert_conforms(
        "POST",
        "/projects/{project_id}/integrations/webhooks",
        201,
        &created,
    );
    let one = format!("{path}/{}", created["id"].as_str().unwrap());
    let (status, _, updated) = send(
        server
            .secret(Method::POST, &one)
            .json(&json!({"environment": null, "name": "all"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["environment"], Value::Null);
    crate::conformance::assert_conforms(
        "POST",
        "/projects/{project_id}/integrations/webhooks/{webhook_integration_id}",
        200,
        &updated,
    );
    let (status, _, list) = send(server.secret(Method::GET, &path)).await;
    assert_eq!(status, 200);
    crate::conformance::assert_conforms(
        "GET",
        "/projects/{project_id}/integrations/webhooks",
        200,
        &list,
    );
    assert_eq!(send(server.secret(Method::DELETE, &one)).await.0, 204);
    assert_eq!(send(server.secret(Method::GET, &one)).await.0, 404);
}

/// Queues `count` TEST events for an integration; returns their ids.
async fn queue_tests(server: &TestServer, integration_id: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let (status, _, body) = send(server.secret(
            Method::POST,
            &server.project_path(&format!(
                "/integrations/webhooks/{integration_id}/actions/test"
            )),
        ))
        .await;
        assert_eq!(status, 202);
        ids.push(body["event"]["id"].as_str().unwrap().to_string());
    }
    ids
}

fn delivered_ids(receiver: &Receiver) -> Vec<String> {
    receiver
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b["event"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_crash_mid_delivery_loses_nothing_and_keeps_ids() {
    let db = crate::helpers::TestDb::create(Db::Sqlite)
        .await
        .expect("sqlite");
    let fast = [
        "--webhook-poll-ms",
        "50",
        "--webhook-retry-schedule",
        "200ms,200ms,200ms",
        "--webhook-deadline-secs",
        "1",
    ];
    let mut first = TestServer::start_on(&db.url, &fast).await;
    // A receiver that hangs: deliveries are in flight when the server dies.
    let (url, hanging) = start_receiver(vec![], true).await;
    let (id, _) = integration(&first, &url).await;
    let queued = queue_tests(&first, &id, 6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill_hard().await;
    assert!(
        delivered_ids(&hanging).is_empty(),
        "nothing completed before the crash"
    );

    // Restart on the same database with a receiver that answers: everything arrives.
    let second = TestServer::start_on(&db.url, &fast).await;
    let (url, answering) = start_receiver(vec![], false).await;
    send(
        second
            .with_key(
                Method::POST,
                &format!(
                    "/v2/projects/{}/integrations/webhooks/{id}",
                    first.project_id
                ),
                &first.secret_key,
            )
            .json(&json!({"url": url})),
    )
    .await;
    wait_for(&answering, queued.len()).await;
    let mut got = delivered_ids(&answering);
    got.sort();
    got.dedup();
    let mut expected = queued.clone();
    expected.sort();
    assert_eq!(got, expected, "every queued event, with its original id");
}

#[tokio::test]
async fn two_nodes_deliver_each_event_once() {
    let Some(db) = crate::helpers::TestDb::create(Db::Postgres).await else {
        return;
    };
    let fast = [
        "--webhook-poll-ms",
        "20",
        "--webhook-retry-schedule",
        "200ms",
        "--webhook-deadline-secs",
        "2",
    ];
    let one = TestServer::start_on(&db.url, &fast).await;
    let two = TestServer::start_on(&db.url, &fast).await;
    let (receiver, id, _) = listening(&one).await;
    let queued = queue_tests(&one, &id, 20).await;
    wait_until(&receiver, |seen| seen.len() >= queued.len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = delivered_ids(&receiver);
    assert_eq!(
        got.len(),
        queued.len(),
        "each event once across both nodes: {got:?}"
    );
    drop(two);
}

#[tokio::test]
async fn promotional_grants_and_revocations_are_events() {
    let server = TestServer::start_with(Db::Sqlite, FAST)
        .await
        .expect("sqlite");
    let (receiver, _, _) = listening(&server).await;
    crate::sdk::catalog(&server).await;
    let grant = "/v1/subscribers/yara/entitlements/pro/promotional";
    assert_eq!(
        send(
            server
                .secret(Method::POST, grant)
                .json(&json!({"duration": "monthly"}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        send(server.secret(
            Method::POST,
            "/v1/subscribers/yara/entitlements/pro/revoke_promotionals"
        ))
        .await
        .0,
        200
    );
    let seen = wait_for(&receiver, 2).await;
    let events: Vec<(&str, &str)> = seen
        .iter()
        .map(|(_, b)| {
            (
                b["event"]["type"].as_str().unwrap(),
                b["event"]["store"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("INITIAL_PURCHASE", "PROMOTIONAL"),
            ("EXPIRATION", "PROMOTIONAL")
        ]
    );
    assert_eq!(seen[0].1["event"]["entitlement_ids"], json!(["pro"]));
    assert_eq!(seen[1].1["event"]["expiration_reason"], "CUSTOMER_SUPPORT");
}

#[tokio::test]
async fn redelivery_is_a_job_that_sends_a_range_again() {
    let server = TestServer::start_with(Db::Sqlite, FAST)
        .await
        .expect("sqlite");
    let (receiver, id, _) = listening(&server).await;
    let queued = queue_tests(&server, &id, 2).await;
    wait_for(&receiver, 2).await;
    let path = server.project_path(&format!("/integrations/webhooks/{id}/actions/redeliver"));
    let (status, headers, job) = send(server.secret(Method::POST, &path).json(&json!({}))).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["object"], "job");
    let location = headers["location"].to_str().unwrap().to_string();
    assert!(location.ends_with(job["id"].as_str().unwrap()));
    let mut polled = Value::Null;
    for _ in 0..100 {
        polled = send(server.secret(Method::GET, &location)).await.2;
        if polled["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(polled["status"], "succeeded", "{polled}");
    assert_eq!(polled["result"]["queued"], 2);
    let seen = wait_for(&receiver, 4).await;
    let ids: Vec<&str> = seen
        .iter()
        .map(|(_, b)| b["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(
        queued
            .iter()
            .all(|q| ids.iter().filter(|i| *i == q).count() == 2),
        "each sent twice, same ids"
    );
    let (status, _, body) = send(
        server
            .secret(Method::POST, &path)
            .json(&json!({"from_ms": 10, "to_ms": 5})),
    )
    .await;
    assert_eq!((status, body["param"].as_str()), (400, Some("from_ms")));
    assert_eq!(
        send(server.secret(Method::GET, &server.project_path("/jobs/jobnope")))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn prices_are_sent_in_the_purchase_currency_and_in_usd_where_a_rate_is_set() {
    let mut args = FAST.to_vec();
    args.extend(["--usd-rates", "EUR=1.10"]);
    let server = TestServer::start_with(Db::Sqlite, &args)
        .await
        .expect("sqlite");
    let (receiver, _, _) = listening(&server).await;
    crate::sdk::catalog(&server).await;
    for (user, token, currency) in [("zoe", "tok_eur", "EUR"), ("zed", "tok_jpy", "JPY")] {
        let (status, _, _) = send(server.with_key(Method::POST, "/v1/receipts", &server.public_key).json(&json!({
            "app_user_id": user, "fetch_token": token, "product_id": "lifetime", "price": 10.0, "currency": currency}))).await;
        assert_eq!(status, 200);
    }
    let seen = wait_for(&receiver, 2).await;
    let by_currency = |c: &str| {
        seen.iter()
            .find(|(_, b)| b["event"]["currency"] == c)
            .unwrap()
            .1["event"]
            .clone()
    };
    let eur = by_currency("EUR");
    assert_eq!(eur["type"], "NON_RENEWING_PURCHASE");
    assert_eq!(eur["price_in_purchased_currency"], 10.0);
    assert_eq!(eur["price"], 11.0);
    let jpy = by_currency("JPY");
    assert_eq!(jpy["price_in_purchased_currency"], 10.0);
    assert_eq!(jpy["price"], Value::Null, "no rate for JPY");
}

#[tokio::test]
async fn extensions_and_refund_reversals_are_events() {
    let server = TestServer::start_with(Db::Sqlite, FAST)
        .await
        .expect("sqlite");
    let (receiver, _, _) = listening(&server).await;
    crate::sdk::catalog(&server).await;
    let act = |token: &str, action: &str| {
        server
            .secret(
                Method::POST,
                &server.project_path(&format!("/test_store/transactions/{token}/actions")),
            )
            .json(&json!({"action": action}))
    };
    send(
        server
            .with_key(Method::POST, "/v1/receipts", &server.public_key)
            .json(&json!({
        "app_user_id": "abby", "fetch_token": "tok_x", "product_id": "pro_monthly"})),
    )
    .await;
    let (status, _, before) = send(act("tok_x", "reverse_refund")).await;
    assert_eq!(status, 422, "nothing to reverse: {before}");
    let (status, _, extended) = send(act("tok_x", "extend")).await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(send(act("tok_x", "refund")).await.0, 200);
    assert_eq!(send(act("tok_x", "reverse_refund")).await.0, 200);
    let (_, _, info) =
        send(server.with_key(Method::GET, "/v1/subscribers/abby", &server.public_key)).await;
    assert!(
        info["subscriber"]["subscriptions"]["pro_monthly"]["refunded_at"].is_null(),
        "{info}"
    );
    let seen = wait_for(&receiver, 4).await;
    let types: Vec<&str> = seen
        .iter()
        .map(|(_, b)| b["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "INITIAL_PURCHASE",
            "SUBSCRIPTION_EXTENDED",
            "CANCELLATION",
            "REFUND_REVERSED"
        ]
    );
    let initial_end = seen[0].1["event"]["expiration_at_ms"].as_i64().unwrap();
    let extended_end = seen[1].1["event"]["expiration_at_ms"].as_i64().unwrap();
    assert!(
        extended_end > initial_end + 27 * 86_400_000,
        "{initial_end} → {extended_end}"
    );
    assert_eq!(seen[2].1["event"]["cancel_reason"], "CUSTOMER_SUPPORT");
}

#[tokio::test]
async fn a_pause_is_an_event_then_the_subscription_expires_and_resumes() {
    let server = TestServer::start_with(Db::Sqlite, FAST)
        .await
        .expect("sqlite");
    let (receiver, _, _) = listening(&server).await;
    crate::sdk::catalog(&server).await;
    send(
        server
            .with_key(Method::POST, "/v1/receipts", &server.public_key)
            .json(&json!({
        "app_user_id": "bea", "fetch_token": "tok_p", "product_id": "pro_monthly"})),
    )
    .await;
    let act = |action: &str| {
        server
            .secret(
                Method::POST,
                &server.project_path("/test_store/transactions/tok_p/actions"),
            )
            .json(&json!({"action": action}))
    };
    let (status, _, paused) = send(act("pause")).await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["will_renew"], false);
    assert_eq!(send(act("pause")).await.0, 422, "already paused");
    let (_, _, info) =
        send(server.with_key(Method::GET, "/v1/subscribers/bea", &server.public_key)).await;
    assert!(
        info["subscriber"]["subscriptions"]["pro_monthly"]["auto_resume_date"].is_string(),
        "{info}"
    );
    let advance = |days: i64| {
        server
            .secret(Method::POST, &server.project_path("/test_store/clock"))
            .json(&json!({"advance_ms": days * 86_400_000}))
    };
    let (_, _, clock) = send(advance(40)).await;
    assert_eq!(clock["renewals"], 0, "paused: no renewal at the period end");
    let (_, _, clock) = send(advance(30)).await;
    assert_eq!(clock["renewals"], 1, "renewed at the resume date");
    let seen = wait_for(&receiver, 4).await;
    let types: Vec<&str> = seen
        .iter()
        .map(|(_, b)| b["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "INITIAL_PURCHASE",
            "SUBSCRIPTION_PAUSED",
            "EXPIRATION",
            "RENEWAL"
        ]
    );
    assert!(seen[1].1["event"]["auto_resume_at_ms"].is_i64());
    assert_eq!(
        seen[2].1["event"]["expiration_reason"],
        "SUBSCRIPTION_PAUSED"
    );
}

/// Events of one type for one customer among what the receiver saw.
fn events_of(seen: &[(HeaderMap, Value)], kind: &str, user: &str) -> Vec<Value> {
    seen.iter()
        .map(|(_, body)| body["event"].clone())
        .filter(|event| event["type"] == kind && event["app_user_id"] == user)
        .collect()
}

/// With no request and no test-clock move, time alone renews a test-store subscription at
/// its period end and expires a store subscription that lapsed, each announced once.
async fn time_alone_renews_and_expires(db: Db) {
    let mut flags = FAST.to_vec();
    flags.extend(["--sweep-interval-secs", "1"]);
    let Some(server) = TestServer::start_with(db, &flags).await else {
        return;
    };
    let (receiver, _, _) = listening(&server).await;
    crate::sdk::catalog(&server).await;
    let (status, _, app) = send(server.secret(Method::POST, &server.project_path("/apps")).json(
        &json!({"name": "iOS", "type": "app_store", "app_store": {"bundle_id": "com.example.sweep"}}),
    ))
    .await;
    assert_eq!(status, 201, "{app}");

    // Both periods end three seconds from now, after the server's first sweep.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (start, end) = (now - 86_400_000, now + 3_000);
    let data = format!(
        "app_user_id,store,product_id,store_transaction_id,purchased_at_ms,expires_at_ms\n\
         renewer,test_store,pro_monthly,sweep-renew,{start},{end}\n\
         lapser,app_store,com.example.pro,sweep-lapse,{start},{end}\n"
    );
    let location =
        crate::jobs::start(&server, "/imports", json!({"format": "csv", "data": data})).await;
    let (job, _) = crate::jobs::await_job(&server, &location).await;
    assert_eq!(job["result"]["imported"], 2, "{job}");

    let seen = wait_until(&receiver, |seen| {
        !events_of(seen, "RENEWAL", "renewer").is_empty()
            && !events_of(seen, "EXPIRATION", "lapser").is_empty()
    })
    .await;
    let renewal = events_of(&seen, "RENEWAL", "renewer");
    let expiration = events_of(&seen, "EXPIRATION", "lapser");
    assert_eq!(renewal.len(), 1, "{seen:?}");
    assert_eq!(expiration.len(), 1, "{seen:?}");
    assert_eq!(renewal[0]["purchased_at_ms"], end, "{renewal:?}");
    assert!(
        renewal[0]["expiration_at_ms"].as_i64() > Some(end),
        "{renewal:?}"
    );
    assert_eq!(expiration[0]["store"], "APP_STORE");
    assert_eq!(
        expiration[0]["expiration_reason"], "UNSUBSCRIBE",
        "{expiration:?}"
    );
    assert!(
        events_of(&seen, "EXPIRATION", "renewer").is_empty(),
        "a renewal, not a lapse"
    );

    // Later sweeps look at later windows only: nothing is announced twice.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(events_of(&seen, "RENEWAL", "renewer").len(), 1);
    assert_eq!(events_of(&seen, "EXPIRATION", "lapser").len(), 1);
    let (_, _, info) =
        send(server.with_key(Method::GET, "/v1/subscribers/renewer", &server.public_key)).await;
    let expires = info["subscriber"]["subscriptions"]["pro_monthly"]["expires_date"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!expires.is_empty(), "{info}");
}

#[tokio::test]
async fn time_alone_renews_and_expires_on_sqlite() {
    time_alone_renews_and_expires(Db::Sqlite).await;
}

#[tokio::test]
async fn time_alone_renews_and_expires_on_postgres() {
    time_alone_renews_and_expires(Db::Postgres).await;
}

/// While the test store is down, a purchase gets a temporary grant (its entitlements for at
/// most a day, a TEMPORARY_ENTITLEMENT_GRANT with RevenueCat's guaranteed fields); posting it
/// again changes nothing; once the store is up, the purchase is verified, dated when it was
/// posted, and announced as an INITIAL_PURCHASE.
async fn an_outage_grants_temporarily_then_verifies(db: Db) {
    let Some(server) = TestServer::start_with(db, FAST).await else {
        return;
    };
    let (receiver, _, secret) = listening(&server).await;
    crate::sdk::catalog(&server).await;
    let outage = |active: bool| {
        server
            .secret(Method::POST, &server.project_path("/test_store/outage"))
            .json(&json!({ "active": active }))
    };
    let (status, _, bad) = send(
        server
            .secret(Method::POST, &server.project_path("/test_store/outage"))
            .json(&json!({ "active": "yes" })),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["type"], "parameter_error", "{bad}");
    let (status, _, foreign) = send(
        server
            .secret(Method::POST, "/v2/projects/projnope/test_store/outage")
            .json(&json!({ "active": true })),
    )
    .await;
    assert_eq!(status, 403, "another project's outage: {foreign}");
    let (status, _, down) = send(outage(true)).await;
    assert_eq!(status, 200, "{down}");
    assert_eq!(down["active"], true);
    let since = down["since_ms"].as_i64().expect("since_ms while down");
    let (_, _, again) = send(outage(true)).await;
    assert_eq!(
        again["since_ms"], since,
        "an outage started twice keeps its start"
    );

    let buy = || {
        server.with_key(Method::POST, "/v1/receipts", &server.public_key).json(
            &json!({"app_user_id": "olga", "fetch_token": "tok_outage", "product_id": "pro_monthly",
                    "price": 4.99, "currency": "USD"}),
        )
    };
    let (status, _, granted) = send(buy()).await;
    assert_eq!(status, 200, "{granted}");
    let pro = &granted["subscriber"]["entitlements"]["pro"];
    assert_eq!(pro["product_identifier"], "pro_monthly", "{granted}");
    let day_ms = 86_400_000;
    let purchased = crate::sdk::millis(&pro["purchase_date"]);
    let expires = crate::sdk::millis(&pro["expires_date"]);
    assert_eq!(expires - purchased, day_ms, "a day at most: {pro}");

    let seen = wait_until(&receiver, |seen| {
        !events_of(seen, "TEMPORARY_ENTITLEMENT_GRANT", "olga").is_empty()
    })
    .await;
    let grants = events_of(&seen, "TEMPORARY_ENTITLEMENT_GRANT", "olga");
    assert_eq!(grants.len(), 1, "{seen:?}");
    let event = &grants[0];
    for field in [
        "app_user_id",
        "purchased_at_ms",
        "expiration_at_ms",
        "event_timestamp_ms",
        "product_id",
        "entitlement_ids",
        "store",
    ] {
        assert!(!event[field].is_null(), "{field} missing: {event}");
    }
    assert_eq!(event["product_id"], "pro_monthly");
    assert_eq!(event["entitlement_ids"], json!(["pro"]));
    assert_eq!(event["environment"], "SANDBOX");
    assert_eq!(
        event["expiration_at_ms"].as_i64().unwrap() - event["purchased_at_ms"].as_i64().unwrap(),
        day_ms
    );
    verify(&secret, &seen[0].0, &seen[0].1);

    // Posted again during the outage: the same grant, no second event.
    let (status, _, repeat) = send(buy()).await;
    assert_eq!(status, 200);
    assert_eq!(
        repeat["subscriber"]["entitlements"]["pro"]["expires_date"],
        pro["expires_date"]
    );

    let (status, _, up) = send(outage(false)).await;
    assert_eq!(status, 200, "{up}");
    assert_eq!(up["active"], false);
    assert!(up["since_ms"].is_null());
    assert_eq!(up["verified"], 1, "{up}");
    let seen = wait_until(&receiver, |seen| {
        !events_of(seen, "INITIAL_PURCHASE", "olga").is_empty()
    })
    .await;
    let initial = events_of(&seen, "INITIAL_PURCHASE", "olga");
    assert_eq!(initial.len(), 1, "{seen:?}");
    assert_eq!(
        initial[0]["purchased_at_ms"], event["purchased_at_ms"],
        "dated when it was posted"
    );
    assert_eq!(initial[0]["transaction_id"], "tok_outage");
    assert_eq!(
        events_of(&seen, "TEMPORARY_ENTITLEMENT_GRANT", "olga").len(),
        1
    );

    let (_, _, info) =
        send(server.with_key(Method::GET, "/v1/subscribers/olga", &server.public_key)).await;
    let pro = &info["subscriber"]["entitlements"]["pro"];
    assert_eq!(
        crate::sdk::millis(&pro["purchase_date"]),
        purchased,
        "{info}"
    );
    assert!(
        crate::sdk::millis(&pro["expires_date"]) - purchased >= 28 * day_ms,
        "the verified month replaces the day: {info}"
    );
    // Posting it now answers the verified purchase and announces nothing more.
    let (status, _, _) = send(buy()).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(events_of(&seen, "INITIAL_PURCHASE", "olga").len(), 1);
}

#[tokio::test]
async fn an_outage_grants_temporarily_then_verifies_on_sqlite() {
    an_outage_grants_temporarily_then_verifies(Db::Sqlite).await;
}

#[tokio::test]
async fn an_outage_grants_temporarily_then_verifies_on_postgres() {
    an_outage_grants_temporarily_then_verifies(Db::Postgres).await;
}

/// A one-time purchase granted for during an outage stays pending while the store is down
/// (the sweep passes over it), and is verified as a one-time purchase when the store is up.
#[tokio::test]
async fn a_one_time_purchase_granted_during_an_outage_is_verified_as_one() {
    let mut flags = FAST.to_vec();
    flags.extend(["--sweep-interval-secs", "1"]);
    let Some(server) = TestServer::start_with(Db::Sqlite, &flags).await else {
        return;
    };
    let (receiver, _, _) = listening(&server).await;
    crate::sdk::catalog(&server).await;
    let outage = |active: bool| {
        server
            .secret(Method::POST, &server.project_path("/test_store/outage"))
            .json(&json!({ "active": active }))
    };
    assert_eq!(send(outage(true)).await.0, 200);
    let (status, _, body) = send(server.with_key(Method::POST, "/v1/receipts", &server.public_key)
        .json(&json!({"app_user_id": "sven", "fetch_token": "tok_lifetime", "product_id": "lifetime"})))
    .await;
    assert_eq!(status, 200, "{body}");
    // Still down: the sweep leaves it pending.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(
        events_of(&seen, "TEMPORARY_ENTITLEMENT_GRANT", "sven").len(),
        1,
        "{seen:?}"
    );
    assert!(events_of(&seen, "NON_RENEWING_PURCHASE", "sven").is_empty());

    let (_, _, up) = send(outage(false)).await;
    let seen = wait_until(&receiver, |seen| {
        !events_of(seen, "NON_RENEWING_PURCHASE", "sven").is_empty()
    })
    .await;
    assert_eq!(up["verified"], 1, "{up}");
    assert_eq!(
        events_of(&seen, "NON_RENEWING_PURCHASE", "sven").len(),
        1,
        "{seen:?}"
    );
    let (_, _, info) =
        send(server.with_key(Method::GET, "/v1/subscribers/sven", &server.public_key)).await;
    assert!(
        info["subscriber"]["entitlements"]["pro"]["expires_date"].is_null(),
        "a verified lifetime purchase no longer ends with the grant: {info}"
    );
    assert_eq!(
        info["subscriber"]["non_subscriptions"]["lifetime"][0]["store_transaction_id"],
        "tok_lifetime",
        "{info}"
    );
}

/// The test store's other actions reach receivers too: an uncancellation, a billing issue,
/// and a change to another product (an upgrade, taking effect at once).
#[tokio::test]
async fn uncancellations_billing_issues_and_product_changes_are_events() {
    let Some(server) = TestServer::start_with(Db::Sqlite, FAST).await else {
        return;
    };
    let (receiver, _, _) = listening(&server).await;
    crate::sdk::catalog(&server).await;
    let (_, _, apps) = send(server.secret(Method::GET, &server.project_path("/apps"))).await;
    let app_id = apps["items"][0]["id"].as_str().unwrap().to_string();
    let (status, _, annual) = send(
        server
            .secret(Method::POST, &server.project_path("/products"))
            .json(&json!({"store_identifier": "pro_annual", "app_id": app_id,
                "type": "subscription", "subscription": {"duration": "P1Y"}})),
    )
    .await;
    assert_eq!(status, 201, "{annual}");
    let (status, _, _) = send(server.with_key(Method::POST, "/v1/receipts", &server.public_key)
        .json(&json!({"app_user_id": "yuki", "fetch_token": "tok_yuki", "product_id": "pro_monthly"})))
    .await;
    assert_eq!(status, 200);
    let act = |body: Value| {
        server
            .secret(
                Method::POST,
                &server.project_path("/test_store/transactions/tok_yuki/actions"),
            )
            .json(&body)
    };
    for action in ["cancel", "uncancel", "billing_issue"] {
        let (status, _, view) = send(act(json!({ "action": action }))).await;
        assert_eq!(status, 200, "{action}: {view}");
    }
    let (status, _, missing) = send(act(json!({"action": "change_product"}))).await;
    assert_eq!(status, 400, "no product_id: {missing}");
    let (status, _, same) = send(act(
        json!({"action": "change_product", "product_id": "pro_monthly"}),
    ))
    .await;
    assert_eq!(status, 422, "{same}");
    let (status, _, changed) = send(act(
        json!({"action": "change_product", "product_id": "pro_annual"}),
    ))
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["product_id"], "pro_annual");

    let seen = wait_until(&receiver, |seen| {
        !events_of(seen, "PRODUCT_CHANGE", "yuki").is_empty()
    })
    .await;
    let types: Vec<&str> = seen
        .iter()
        .filter(|(_, b)| b["event"]["app_user_id"] == "yuki")
        .map(|(_, b)| b["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "INITIAL_PURCHASE",
            "CANCELLATION",
            "UNCANCELLATION",
            "BILLING_ISSUE",
            "PRODUCT_CHANGE"
        ]
    );
    let change = &events_of(&seen, "PRODUCT_CHANGE", "yuki")[0];
    assert_eq!(change["product_id"], "pro_annual");
    assert_eq!(change["original_transaction_id"], "tok_yuki");
    let (_, _, info) =
        send(server.with_key(Method::GET, "/v1/subscribers/yuki", &server.public_key)).await;
    let annual = &info["subscriber"]["subscriptions"]["pro_annual"];
    let year_ms = 365 * 86_400_000;
    assert!(
        crate::sdk::millis(&annual["expires_date"]) - crate::sdk::millis(&annual["purchase_date"])
            >= year_ms,
        "the new product's period: {info}"
    );
}
