//! App updates and store credentials: set through v2, sealed at rest, never shown again.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Db, TestServer, assert_v2_error, checked as call};

const SECRETS_KEY: &str = "7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a";
const SHARED_SECRET: &str = "0123456789abcdef0123456789abcdef";
const KEY_ID: &str = "ABCDE12345";

async fn credentials_are_write_only_and_sealed(db: Db) {
    let Some(server) = TestServer::start_with(db, &["--secrets-key", SECRETS_KEY]).await else {
        return;
    };
    let (status, app) = call(
        &server,
        Method::POST,
        "/projects/{project_id}/apps",
        "/apps",
        Some(json!({
        "name": "iOS", "type": "app_store",
        "app_store": {"bundle_id": "com.example.ios", "shared_secret": SHARED_SECRET}})),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    assert_eq!(app["credentials_set"], json!(["app_store.shared_secret"]));
    assert!(!app.to_string().contains(SHARED_SECRET));
    let id = app["id"].as_str().unwrap().to_string();
    let one = "/projects/{project_id}/apps/{app_id}";

    let (status, updated) = call(
        &server,
        Method::POST,
        one,
        &format!("/apps/{id}"),
        Some(json!({
        "name": "iOS app", "app_store": {"subscription_key_id": KEY_ID}})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "iOS app");
    assert_eq!(updated["app_store"]["bundle_id"], "com.example.ios");
    assert_eq!(
        updated["credentials_set"],
        json!(["app_store.shared_secret", "app_store.subscription_key_id"])
    );
    let (_, fetched) = call(&server, Method::GET, one, &format!("/apps/{id}"), None).await;
    assert_eq!(fetched["credentials_set"], updated["credentials_set"]);
    assert!(!fetched.to_string().contains(KEY_ID));

    for (body, param) in [
        (
            json!({"app_store": {"shared_secret": "too-short"}}),
            "app_store.shared_secret",
        ),
        (
            json!({"stripe": {"secret_key": "sk_test_1"}}),
            "stripe.secret_key",
        ),
        (
            json!({"play_store": {"package_name": "com.x"}}),
            "play_store",
        ),
        (
            json!({"app_store": {"bundle_id": "not valid"}}),
            "app_store.bundle_id",
        ),
        (json!({"name": ""}), "name"),
    ] {
        let (status, answer) = call(
            &server,
            Method::POST,
            one,
            &format!("/apps/{id}"),
            Some(body.clone()),
        )
        .await;
        assert_v2_error(status, &answer, 400, "parameter_error");
        assert_eq!(answer["param"], param, "{body}");
        assert!(!answer.to_string().contains("too-short"));
    }
    let (status, _) = call(
        &server,
        Method::POST,
        one,
        "/apps/appnope",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, 404);

    let (_, stripe) = call(&server, Method::POST, "/projects/{project_id}/apps", "/apps", Some(json!({
        "name": "Web", "type": "stripe", "stripe": {"stripe_account_id": "acct_1Abc", "webhook_secret": "whsec_xyz"}}))).await;
    assert_eq!(stripe["stripe"]["stripe_account_id"], "acct_1Abc");
    assert_eq!(stripe["credentials_set"], json!(["stripe.webhook_secret"]));

    let (status, keys) = call(
        &server,
        Method::GET,
        "/projects/{project_id}/apps/{app_id}/public_api_keys",
        &format!("/apps/{id}/public_api_keys"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let shown = keys["items"][0]["key"].as_str().unwrap();
    assert!(
        shown.starts_with("appl_") && shown.ends_with('…'),
        "{shown}"
    );
    assert_eq!(
        shown.chars().count(),
        5 + 8 + 1,
        "only the lookup prefix is shown"
    );
    assert!(
        !keys
            .to_string()
            .contains(app["public_api_key"].as_str().unwrap())
    );

    let (_, log) = call(
        &server,
        Method::GET,
        "/projects/{project_id}/audit_logs",
        "/audit_logs",
        None,
    )
    .await;
    assert!(log.to_string().contains("app_store.subscription_key_id"));
    assert!(!log.to_string().contains(KEY_ID) && !log.to_string().contains(SHARED_SECRET));
    let logs = server.logs_written().await;
    assert!(!logs.contains(SHARED_SECRET) && !logs.contains(KEY_ID));
    if let Some(path) = server.database_url.strip_prefix("sqlite://") {
        let bytes = std::fs::read(path).unwrap_or_default();
        let wal = std::fs::read(format!("{path}-wal")).unwrap_or_default();
        for file in [bytes, wal] {
            assert!(
                !file
                    .windows(SHARED_SECRET.len())
                    .any(|w| w == SHARED_SECRET.as_bytes()),
                "sealed at rest"
            );
        }
    }
}

#[tokio::test]
async fn credentials_are_write_only_and_sealed_on_sqlite() {
    credentials_are_write_only_and_sealed(Db::Sqlite).await;
}

#[tokio::test]
async fn credentials_are_write_only_and_sealed_on_postgres() {
    credentials_are_write_only_and_sealed(Db::Postgres).await;
}

#[tokio::test]
async fn without_a_secrets_key_credentials_are_refused_with_422() {
    let server = TestServer::start(Db::Sqlite).await.expect("sqlite");
    let (status, answer) = call(
        &server,
        Method::POST,
        "/projects/{project_id}/apps",
        "/apps",
        Some(json!({
        "name": "iOS", "type": "app_store",
        "app_store": {"bundle_id": "com.example.ios", "shared_secret": SHARED_SECRET}})),
    )
    .await;
    assert_v2_error(status, &answer, 422, "unprocessable_entity_error");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("ENTITLED_SECRETS_KEY")
    );
    let (_, list) = call(
        &server,
        Method::GET,
        "/projects/{project_id}/apps",
        "/apps",
        None,
    )
    .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing half-written"
    );
}

#[tokio::test]
async fn a_malformed_secrets_key_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("e.db").display());
    let output = std::process::Command::new(crate::helpers::binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &url,
            "--secrets-key",
            "nothex",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ENTITLED_SECRETS_KEY"), "{stderr}");
    assert!(!stderr.contains("nothex"));
}
