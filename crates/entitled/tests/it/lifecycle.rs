//! 503 for real causes (draining, storage unreachable), graceful shutdown, request logs.

use std::time::Duration;

use entitled_testkit::postgres::TestDatabase;
use entitled_testkit::proxy::TcpProxy;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Db, TestServer, assert_v2_error, on_both_backends, send};

on_both_backends!(
    sigterm_finishes_in_flight_requests_and_refuses_new_ones,
    every_request_is_logged_once_without_keys,
);

async fn sigterm_finishes_in_flight_requests_and_refuses_new_ones(server: &TestServer) {
    // Start a request whose body arrives slowly, so it is in flight when SIGTERM lands.
    let body = br#"{"name": "Slow but welcome", "type": "test_store"}"#;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut slow = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.project_path("/apps"),
        server.secret_key,
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.sigterm();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A new request while draining: 503 with Retry-After, in the path's dialect.
    let (status, headers, answer) =
        send(server.secret(Method::GET, &server.project_path("/apps"))).await;
    assert_v2_error(status, &answer, 503, "server_error");
    assert_eq!(answer["retryable"], true);
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(answer["backoff_ms"], 5000);
    let (status, headers, answer) = send(server.request(Method::GET, "/v1/health")).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["code"], 7110);
    assert!(headers.contains_key("retry-after"));

    // The in-flight request completes normally.
    slow.write_all(&body[10..]).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_string(&mut response))
        .await
        .expect("in-flight response")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("Slow but welcome"));
}

async fn every_request_is_logged_once_without_keys(server: &TestServer) {
    let (status, _, created) = send(
        server
            .secret(Method::POST, &server.project_path("/api_keys"))
            .header("X-Request-Id", "log-check-1")
            .json(&serde_json::json!({"permissions": ["read"]})),
    )
    .await;
    assert_eq!(status, 201);
    let new_key = created["key"].as_str().unwrap().to_string();
    send(
        server
            .with_key(Method::GET, "/v2/projects/x/apps", &new_key)
            .header("X-Request-Id", "log-check-2"),
    )
    .await;
    let logs = server.logs_written().await;
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &serde_json::Value| l["message"] == "request")
        .collect();
    let first: Vec<_> = lines
        .iter()
        .filter(|l| l["request_id"] == "log-check-1")
        .collect();
    assert_eq!(first.len(), 1, "{logs}");
    assert_eq!(first[0]["method"], "POST");
    assert_eq!(first[0]["route"], "/v2/projects/{project_id}/api_keys");
    assert_eq!(first[0]["status"], 201);
    assert!(first[0]["latency_ms"].as_f64().is_some());
    let second: Vec<_> = lines
        .iter()
        .filter(|l| l["request_id"] == "log-check-2")
        .collect();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["status"], 403);
    for secret in [&server.secret_key, &server.public_key, &new_key] {
        assert!(!logs.contains(secret.as_str()), "a key reached the logs");
    }
}

/// PostgreSQL ending the node's sessions (a restart, a failover, an administrator) costs no
/// request once the node has been idle a moment: a connection idle for a second is pinged
/// before use and replaced when dead (but not pinged before every statement).
#[tokio::test]
async fn sessions_the_database_ended_are_replaced_before_use() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let server = TestServer::start_on(database.url(), &[]).await;
    let apps = server.project_path("/apps");
    let reads: Vec<_> = (0..4)
        .map(|_| tokio::spawn(send(server.secret(Method::GET, &apps))))
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().0, 200);
    }
    assert!(database.end_sessions().await > 0, "the node had sessions");
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for _ in 0..8 {
        let (status, _, body) = send(server.secret(Method::GET, &apps)).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn storage_unreachable_is_503_and_readiness_says_so() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let target = "127.0.0.1:5432".parse().unwrap();
    let proxy = TcpProxy::start(target).await.unwrap();
    let url = database.url_via(&proxy.address().to_string());
    let server = TestServer::start_on(&url, &[]).await;
    let apps = server.project_path("/apps");
    assert_eq!(send(server.secret(Method::GET, &apps)).await.0, 200);
    assert_eq!(
        send(server.request(Method::GET, "/v1/health/ready"))
            .await
            .0,
        200
    );

    proxy.cut();

    let (status, headers, body) = send(server.request(Method::GET, "/v1/health/ready")).await;
    assert_eq!(status, 503, "{body}");
    assert!(headers.contains_key("retry-after"));
    let (status, headers, body) = send(server.secret(Method::GET, &apps)).await;
    assert_v2_error(status, &body, 503, "server_error");
    assert_eq!(body["retryable"], true);
    assert!(headers.contains_key("retry-after"));
    // Liveness still answers: the process is up, only storage is not.
    assert_eq!(send(server.request(Method::GET, "/v1/health")).await.0, 200);
}

#[tokio::test]
async fn sigterm_with_nothing_in_flight_exits_cleanly() {
    let mut server = TestServer::start(Db::Sqlite).await.expect("sqlite");
    assert_eq!(send(server.request(Method::GET, "/v1/health")).await.0, 200);
    server.sigterm();
    assert!(server.wait_exit().await, "exit status 0 after SIGTERM");
}
