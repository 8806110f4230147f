//! 503 for real: a node past its concurrency limit sheds requests (with Retry-After) instead
//! of queueing them, keeps health checks answering, and loses no write it accepted.

use std::time::Duration;

use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Db, TestServer, assert_v2_error, purchases_at_once, send};

/// Starts a POST whose body is still to come, so it holds a slot.
async fn slow_request(server: &TestServer, body: &[u8]) -> TcpStream {
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.project_path("/entitlements"),
        server.secret_key,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..5]).await.unwrap();
    stream
}

async fn finish(mut stream: TcpStream, body: &[u8]) -> String {
    stream.write_all(&body[5..]).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .unwrap()
    .unwrap();
    response
}

#[tokio::test]
async fn past_the_limit_requests_are_shed_and_health_still_answers() {
    let server = TestServer::start_with(Db::Sqlite, &["--max-concurrent-requests", "2"])
        .await
        .expect("sqlite");
    let first = br#"{"lookup_key": "one", "display_name": "One"}"#;
    let second = br#"{"lookup_key": "two", "display_name": "Two"}"#;
    let a = slow_request(&server, first).await;
    let b = slow_request(&server, second).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, headers, body) =
        send(server.secret(Method::GET, &server.project_path("/apps"))).await;
    assert_v2_error(status, &body, 503, "server_error");
    assert_eq!(body["retryable"], true);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(
        send(server.request(Method::GET, "/v1/health")).await.0,
        200,
        "health is never shed"
    );

    assert!(finish(a, first).await.starts_with("HTTP/1.1 201"));
    assert!(finish(b, second).await.starts_with("HTTP/1.1 201"));
    assert_eq!(
        send(server.secret(Method::GET, &server.project_path("/apps")))
            .await
            .0,
        200,
        "slots are given back"
    );
}

#[tokio::test]
async fn a_load_past_the_limit_gets_only_200_or_503_and_loses_no_write() {
    let server = TestServer::start_with(Db::Sqlite, &["--max-concurrent-requests", "4"])
        .await
        .expect("sqlite");
    crate::sdk::catalog(&server).await;
    let requests = purchases_at_once(&server, "load", 200);
    let mut accepted = Vec::new();
    let mut shed = 0;
    for (i, request) in requests.into_iter().enumerate() {
        let (status, headers, _) = request.await.unwrap();
        match status {
            200 => accepted.push(i),
            503 => {
                assert!(headers.contains_key("retry-after"));
                shed += 1;
            }
            other => panic!("only 200 or 503 under load, got {other}"),
        }
    }
    assert!(shed > 0, "the load went past the limit");
    assert!(!accepted.is_empty());
    for i in accepted {
        let (_, _, info) =
            send(server.secret(Method::GET, &format!("/v1/subscribers/load_{i}"))).await;
        assert_eq!(
            info["subscriber"]["non_subscriptions"]["lifetime"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "accepted purchase {i} is recorded"
        );
    }
}
