//! 401 and 403 for real causes.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestServer, assert_v2_error, cli_json, on_both_backends, send};

on_both_backends!(
    missing_malformed_and_unknown_keys_are_401,
    a_revoked_key_is_401_at_once,
    a_public_sdk_key_on_v2_is_403,
    a_key_of_another_project_is_403,
    a_key_without_the_permission_is_403,
    a_key_cannot_mint_a_stronger_key,
);

async fn missing_malformed_and_unknown_keys_are_401(server: &TestServer) {
    let path = server.project_path("/apps");
    let (status, _, body) = send(server.request(Method::GET, &path)).await;
    assert_v2_error(status, &body, 401, "authentication_error");
    let (status, _, body) = send(
        server
            .request(Method::GET, &path)
            .header("Authorization", "Basic dXNlcjpwYXNz"),
    )
    .await;
    assert_v2_error(status, &body, 401, "authentication_error");
    let (status, _, body) = send(server.with_key(Method::GET, &path, "sk_tooShort")).await;
    assert_v2_error(status, &body, 401, "authentication_error");
    // Well-formed, right lookup prefix, wrong secret.
    let forged = format!("{}{}", &server.secret_key[..11], "x".repeat(24));
    let (status, _, body) = send(server.with_key(Method::GET, &path, &forged)).await;
    assert_v2_error(status, &body, 401, "authentication_error");
}

async fn a_revoked_key_is_401_at_once(server: &TestServer) {
    let (status, _, created) = send(
        server
            .secret(Method::POST, &server.project_path("/api_keys"))
            .json(&json!({"name": "ci", "permissions": ["all"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let apps = server.project_path("/apps");
    assert_eq!(send(server.with_key(Method::GET, &apps, &key)).await.0, 200);
    let revoke = server.project_path(&format!("/api_keys/{}", created["id"].as_str().unwrap()));
    let (status, _, body) = send(server.secret(Method::DELETE, &revoke)).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(body, serde_json::Value::Null);
    let (status, _, body) = send(server.with_key(Method::GET, &apps, &key)).await;
    assert_v2_error(status, &body, 401, "authentication_error");
    let (status, _, body) = send(server.secret(Method::DELETE, &revoke)).await;
    assert_v2_error(status, &body, 404, "resource_missing");
}

async fn a_public_sdk_key_on_v2_is_403(server: &TestServer) {
    assert!(server.public_key.starts_with("test_"));
    let (status, _, body) = send(server.with_key(
        Method::GET,
        &server.project_path("/apps"),
        &server.public_key,
    ))
    .await;
    assert_v2_error(status, &body, 403, "authorization_error");
}

async fn a_key_of_another_project_is_403(server: &TestServer) {
    let other = cli_json(&server.cli(&["projects", "create", "--name", "Other"]));
    let other_id = other["id"].as_str().unwrap();
    let other_key = cli_json(&server.cli(&["keys", "create", "--project", other_id]));
    let other_key = other_key["key"].as_str().unwrap();
    // The other project's key works on its own project…
    let (status, _, _) = send(server.with_key(
        Method::GET,
        &format!("/v2/projects/{other_id}/apps"),
        other_key,
    ))
    .await;
    assert_eq!(status, 200);
    // …and is refused on ours, for reads and writes alike.
    let (status, _, body) =
        send(server.with_key(Method::GET, &server.project_path("/apps"), other_key)).await;
    assert_v2_error(status, &body, 403, "authorization_error");
    let (status, _, body) = send(
        server
            .with_key(Method::POST, &server.project_path("/apps"), other_key)
            .json(&json!({"name": "Sneaky", "type": "test_store"})),
    )
    .await;
    assert_v2_error(status, &body, 403, "authorization_error");
}

async fn a_key_without_the_permission_is_403(server: &TestServer) {
    let (status, _, created) = send(
        server
            .secret(Method::POST, &server.project_path("/api_keys"))
            .json(&json!({"name": "reader", "permissions": ["read"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let reader = created["key"].as_str().unwrap();
    let apps = server.project_path("/apps");
    assert_eq!(
        send(server.with_key(Method::GET, &apps, reader)).await.0,
        200
    );
    let (status, _, body) = send(
        server
            .with_key(Method::POST, &apps, reader)
            .json(&json!({"name": "Nope", "type": "test_store"})),
    )
    .await;
    assert_v2_error(status, &body, 403, "authorization_error");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("project_configuration:apps:read_write")
    );

    let (status, _, created) = send(
        server
            .secret(Method::POST, &server.project_path("/api_keys"))
            .json(&json!({"permissions": ["customer_information:customers:read"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let customers_only = created["key"].as_str().unwrap();
    let (status, _, body) = send(server.with_key(Method::GET, &apps, customers_only)).await;
    assert_v2_error(status, &body, 403, "authorization_error");
}

async fn a_key_cannot_mint_a_stronger_key(server: &TestServer) {
    let (_, _, created) = send(
        server
            .secret(Method::POST, &server.project_path("/api_keys"))
            .json(&json!({"permissions": ["project_configuration:api_keys:read_write"]})),
    )
    .await;
    let key_admin = created["key"].as_str().unwrap();
    let (status, _, body) = send(
        server
            .with_key(Method::POST, &server.project_path("/api_keys"), key_admin)
            .json(&json!({"permissions": ["all"]})),
    )
    .await;
    assert_v2_error(status, &body, 403, "authorization_error");
}
