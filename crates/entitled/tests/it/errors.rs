//! The error contract: statuses, both body dialects, request ids, no leaked internals.

use reqwest::Method;

use crate::helpers::{TestServer, assert_v2_error, on_both_backends, send};

on_both_backends!(
    health_is_200_without_auth_and_carries_a_request_id,
    incoming_request_ids_are_honoured,
    coffee_is_418_in_both_dialects,
    unknown_routes_and_methods_are_404_in_the_path_dialect,
    a_corrupt_row_is_a_500_that_leaks_nothing,
    readiness_is_200_while_storage_answers,
);

async fn health_is_200_without_auth_and_carries_a_request_id(server: &TestServer) {
    let (status, headers, body) = send(server.request(Method::GET, "/v1/health")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(id.len() >= 16, "generated request id {id}");
    let (_, second, _) = send(server.request(Method::GET, "/v1/health")).await;
    assert_ne!(second["x-request-id"], headers["x-request-id"]);
}

async fn incoming_request_ids_are_honoured(server: &TestServer) {
    let (status, headers, _) = send(
        server
            .request(Method::GET, "/v2/projects/nope/apps")
            .header("X-Request-Id", "trace-abc-123"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(headers["x-request-id"], "trace-abc-123");
}

async fn coffee_is_418_in_both_dialects(server: &TestServer) {
    let (status, headers, body) = send(server.request(Method::POST, "/v1/coffee")).await;
    assert_eq!(status, 418);
    assert_eq!(body["code"], 7226);
    assert!(body["message"].as_str().unwrap().contains("teapot"));
    assert!(headers.contains_key("x-request-id"));
    // Even with a valid key and a body: always 418.
    let (status, _, body) = send(
        server
            .secret(Method::POST, "/v2/coffee")
            .json(&serde_json::json!({"size": "large"})),
    )
    .await;
    assert_v2_error(status, &body, 418, "invalid_request");
}

async fn unknown_routes_and_methods_are_404_in_the_path_dialect(server: &TestServer) {
    let (status, _, body) = send(server.secret(Method::GET, "/v2/no/such/thing")).await;
    assert_v2_error(status, &body, 404, "resource_missing");
    let (status, _, body) = send(server.request(Method::GET, "/v1/no/such/thing")).await;
    assert_eq!(status, 404);
    assert!(
        body["code"].is_u64() && body["message"].is_string(),
        "{body}"
    );
    let (status, _, body) = send(server.request(Method::DELETE, "/v1/health")).await;
    assert_eq!(status, 404, "{body}");
}

async fn a_corrupt_row_is_a_500_that_leaks_nothing(server: &TestServer) {
    let (status, _, created) = send(
        server
            .secret(Method::POST, &server.project_path("/apps"))
            .json(&serde_json::json!({"name": "Doomed", "type": "test_store"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    entitled_testkit::raw::execute(
        &server.database_url,
        "UPDATE apps SET app_type = 'floppy_disk_store'",
    )
    .await;
    let path = server.project_path(&format!("/apps/{}", created["id"].as_str().unwrap()));
    let (status, headers, body) = send(server.secret(Method::GET, &path)).await;
    assert_v2_error(status, &body, 500, "server_error");
    assert_eq!(body["retryable"], false);
    let message = body["message"].as_str().unwrap();
    let request_id = headers["x-request-id"].to_str().unwrap();
    assert!(
        message.contains(request_id),
        "500 names its request id: {message}"
    );
    assert!(!message.contains("floppy"), "no internals: {message}");
    assert!(
        !body.to_string().contains("app_type"),
        "no internals: {body}"
    );
    assert!(
        server.logs().contains("floppy_disk_store"),
        "the cause is logged"
    );
}

async fn readiness_is_200_while_storage_answers(server: &TestServer) {
    let (status, _, body) = send(server.request(Method::GET, "/v1/health/ready")).await;
    assert_eq!(status, 200, "{body}");
}
