//! 400s for bad bodies and parameters, naming the offending `param`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Db, TestServer, assert_v2_error, on_both_backends, send};

on_both_backends!(
    malformed_json_is_400,
    wrong_content_type_is_400,
    wrong_field_types_name_the_param,
    missing_and_unknown_fields_name_the_param,
    invalid_values_name_the_param,
);

async fn post_apps(
    server: &TestServer,
    body: &str,
    content_type: &str,
) -> (u16, serde_json::Value) {
    let (status, _, body) = send(
        server
            .secret(Method::POST, &server.project_path("/apps"))
            .header("Content-Type", content_type)
            .body(body.to_string()),
    )
    .await;
    (status, body)
}

async fn malformed_json_is_400(server: &TestServer) {
    for broken in [
        "{\"name\": ",
        "not json",
        "",
        "{\"name\":\"a\",\"type\":\"test_store\"} extra",
    ] {
        let (status, body) = post_apps(server, broken, "application/json").await;
        assert_v2_error(status, &body, 400, "invalid_request");
    }
}

async fn wrong_content_type_is_400(server: &TestServer) {
    let (status, body) =
        post_apps(server, r#"{"name":"a","type":"test_store"}"#, "text/plain").await;
    assert_v2_error(status, &body, 400, "invalid_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
}

async fn wrong_field_types_name_the_param(server: &TestServer) {
    let (status, body) = post_apps(
        server,
        r#"{"name":42,"type":"test_store"}"#,
        "application/json",
    )
    .await;
    assert_v2_error(status, &body, 400, "parameter_error");
    assert_eq!(body["param"], "name");
    let (status, body) = post_apps(
        server,
        r#"{"name":"a","type":"app_store","app_store":{"bundle_id":["x"]}}"#,
        "application/json",
    )
    .await;
    assert_v2_error(status, &body, 400, "parameter_error");
    assert_eq!(body["param"], "app_store.bundle_id");
}

async fn missing_and_unknown_fields_name_the_param(server: &TestServer) {
    let (status, body) = post_apps(server, r#"{"type":"test_store"}"#, "application/json").await;
    assert_v2_error(status, &body, 400, "parameter_error");
    assert_eq!(body["param"], "name");
    let (status, body) = post_apps(
        server,
        r#"{"name":"a","type":"test_store","colour":"red"}"#,
        "application/json",
    )
    .await;
    assert_v2_error(status, &body, 400, "parameter_error");
    assert_eq!(body["param"], "colour");
}

async fn invalid_values_name_the_param(server: &TestServer) {
    let cases = [
        (json!({"name": "a", "type": "amazon"}), "type"),
        (json!({"name": "", "type": "test_store"}), "name"),
        (
            json!({"name": "x".repeat(256), "type": "test_store"}),
            "name",
        ),
        (
            json!({"name": "a", "type": "app_store"}),
            "app_store.bundle_id",
        ),
        (
            json!({"name": "a", "type": "app_store", "app_store": {"bundle_id": "not a bundle"}}),
            "app_store.bundle_id",
        ),
        (
            json!({"name": "a", "type": "play_store"}),
            "play_store.package_name",
        ),
    ];
    for (body, param) in cases {
        let (status, _, answer) = send(
            server
                .secret(Method::POST, &server.project_path("/apps"))
                .json(&body),
        )
        .await;
        assert_v2_error(status, &answer, 400, "parameter_error");
        assert_eq!(answer["param"], param, "{body}");
    }
    let (status, _, answer) = send(
        server
            .secret(Method::POST, &server.project_path("/api_keys"))
            .json(&json!({"permissions": ["project_configuration:apps:write"]})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");
    assert_eq!(answer["param"], "permissions");
    // Nothing was half-written: only the first-start app exists.
    let (_, _, list) = send(server.secret(Method::GET, &server.project_path("/apps"))).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bodies_over_the_configured_limit_are_400() {
    let server = TestServer::start_with(Db::Sqlite, &["--body-limit-bytes", "1024"])
        .await
        .expect("sqlite");
    let big_name = "x".repeat(2000);
    let (status, _, body) = send(
        server
            .secret(Method::POST, &server.project_path("/apps"))
            .json(&json!({"name": big_name, "type": "test_store"})),
    )
    .await;
    assert_v2_error(status, &body, 400, "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("larger"),
        "{body}"
    );
    // Just under the limit is fine.
    let (status, _, body) = send(
        server
            .secret(Method::POST, &server.project_path("/apps"))
            .json(&json!({"name": "x".repeat(200), "type": "test_store"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}
