//! 423 for real: concurrent changes to one customer, on one node and across two nodes on
//! PostgreSQL; reads never wait; nothing is lost or recorded twice.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Db, TestDb, TestServer, purchases_at_once, send};

/// Posts `count` receipts (new tokens) for one customer at once, spread over `nodes`, with
/// reads of the same customer in between; returns the receipt statuses.
async fn burst(nodes: &[&TestServer], user: &str, count: usize) -> Vec<u16> {
    let mut posts = Vec::new();
    for i in 0..count {
        let node = nodes[i % nodes.len()];
        let request = node
            .with_key(Method::POST, "/v1/receipts", &nodes[0].public_key)
            .json(&json!({"app_user_id": user, "fetch_token": format!("tok_{user}_{i}"), "product_id": "lifetime"}));
        posts.push(tokio::spawn(send(request)));
        let read = node.with_key(
            Method::GET,
            &format!("/v1/subscribers/{user}"),
            &nodes[0].public_key,
        );
        posts.push(tokio::spawn(send(read)));
    }
    let mut statuses = Vec::new();
    for (i, post) in posts.into_iter().enumerate() {
        let (status, _, body) = post.await.unwrap();
        if i % 2 == 1 {
            assert!(
                status == 200 || status == 201,
                "reads never wait on locks: {status} {body}"
            );
            continue;
        }
        if status == 423 {
            assert_eq!(body["code"], 7638, "{body}");
        }
        statuses.push(status);
    }
    statuses
}

async fn purchases_of(server: &TestServer, user: &str) -> usize {
    let (_, _, info) = send(server.with_key(
        Method::GET,
        &format!("/v1/subscribers/{user}"),
        &server.public_key,
    ))
    .await;
    info["subscriber"]["non_subscriptions"]["lifetime"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn concurrent_changes_to_one_customer_get_423_and_lose_nothing() {
    let server = TestServer::start(Db::Sqlite).await.expect("sqlite");
    crate::sdk::catalog(&server).await;
    send(server.with_key(Method::GET, "/v1/subscribers/busy", &server.public_key)).await;
    let statuses = burst(&[&server], "busy", 24).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 423),
        "{statuses:?}"
    );
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses.contains(&423), "some lost the race: {statuses:?}");
    assert_eq!(
        purchases_of(&server, "busy").await,
        ok,
        "every 200 recorded once, no 423 recorded"
    );
}

#[tokio::test]
async fn with_a_lock_wait_concurrent_changes_queue_instead() {
    let server = TestServer::start_with(Db::Sqlite, &["--customer-lock-wait-ms", "10000"])
        .await
        .expect("sqlite");
    crate::sdk::catalog(&server).await;
    send(server.with_key(Method::GET, "/v1/subscribers/patient", &server.public_key)).await;
    let statuses = burst(&[&server], "patient", 12).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(purchases_of(&server, "patient").await, 12);
}

#[tokio::test]
async fn two_nodes_on_postgresql_share_customer_locks() {
    let Some(db) = TestDb::create(Db::Postgres).await else {
        return;
    };
    let one = TestServer::start_on(&db.url, &[]).await;
    let two = TestServer::start_on(&db.url, &[]).await;
    crate::sdk::catalog(&one).await;
    send(one.with_key(Method::GET, "/v1/subscribers/shared", &one.public_key)).await;
    let statuses = burst(&[&one, &two], "shared", 24).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 423),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&423),
        "some lost the race across nodes: {statuses:?}"
    );
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(purchases_of(&one, "shared").await, ok);
}

/// A client's changes one after another, alternating between two nodes, never meet the lock
/// of the change before: an answer leaves only once its customer's lock is released.
#[tokio::test]
async fn sequential_changes_never_meet_their_own_lock() {
    let Some(db) = TestDb::create(Db::Postgres).await else {
        return;
    };
    let one = TestServer::start_on(&db.url, &[]).await;
    let two = TestServer::start_on(&db.url, &[]).await;
    crate::sdk::catalog(&one).await;
    for i in 0..40 {
        let node = if i % 2 == 0 { &one } else { &two };
        let (status, _, body) = send(
            node.with_key(Method::POST, "/v1/receipts", &one.public_key)
                .json(&json!({"app_user_id": "steady", "fetch_token": format!("tok_steady_{i}"), "product_id": "lifetime"})),
        )
        .await;
        assert_eq!(status, 200, "change {i}: {body}");
    }
    assert_eq!(purchases_of(&one, "steady").await, 40);
}

/// Many customers changed at once on PostgreSQL, more than the node's pool of connections:
/// every change succeeds. Each held customer lock keeps a database session; were those taken
/// from the pool the changes themselves use, the locks' holders would wait for connections
/// the locks hold, until the pool's timeout answered 503.
#[tokio::test]
async fn more_customers_changed_at_once_than_pooled_connections_all_succeed() {
    let Some(db) = TestDb::create(Db::Postgres).await else {
        return;
    };
    let server = TestServer::start_on(&db.url, &[]).await;
    crate::sdk::catalog(&server).await;
    for (i, post) in purchases_at_once(&server, "crowd", 48)
        .into_iter()
        .enumerate()
    {
        let (status, _, body) = post.await.unwrap();
        assert_eq!(status, 200, "customer {i}: {body}");
    }
    for i in [0, 47] {
        assert_eq!(purchases_of(&server, &format!("crowd_{i}")).await, 1);
    }
}

/// Logins that merge two customers, more at once than a node has lock sessions, on
/// PostgreSQL: every one succeeds. Each takes both customers' locks on one session; with a
/// session per lock, each could hold one session and wait for a second until the timeout.
#[tokio::test]
async fn merging_logins_at_once_on_postgresql_all_succeed() {
    let Some(db) = TestDb::create(Db::Postgres).await else {
        return;
    };
    let server = TestServer::start_on(&db.url, &[]).await;
    crate::sdk::catalog(&server).await;
    let pairs = 24;
    for i in 0..pairs {
        for user in [format!("$RCAnonymousID:merge{i}"), format!("member_{i}")] {
            let (status, _, body) = send(server.with_key(
                Method::GET,
                &format!("/v1/subscribers/{user}"),
                &server.public_key,
            ))
            .await;
            assert_eq!(status, 201, "{body}");
        }
    }
    let logins: Vec<_> = (0..pairs)
        .map(|i| {
            let request = server
                .with_key(Method::POST, "/v1/subscribers/identify", &server.public_key)
                .json(&json!({"app_user_id": format!("$RCAnonymousID:merge{i}"), "new_app_user_id": format!("member_{i}")}));
            tokio::spawn(send(request))
        })
        .collect();
    for (i, login) in logins.into_iter().enumerate() {
        let (status, _, body) = login.await.unwrap();
        assert_eq!(status, 200, "login {i}: {body}");
    }
}
