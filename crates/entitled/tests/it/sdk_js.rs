//! RevenueCat's web SDK (`@revenuecat/purchases-js`, pinned in `tests/sdk-js/package.json`)
//! against the real server, through Node's test runner. `.ci/run` installs it; elsewhere
//! the test prints why it skips, unless `ENTITLED_REQUIRE_NODE=1`, where it fails.

use std::path::Path;
use std::process::Command;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Db, TestServer, send};

fn required() -> bool {
    std::env::var("ENTITLED_REQUIRE_NODE").is_ok_and(|v| v == "1" || v == "true")
}

fn skip(reason: &str) {
    assert!(
        !required(),
        "purchases-js end-to-end test required but: {reason}"
    );
    println!("SKIPPED: purchases-js end-to-end test: {reason}");
}

#[tokio::test]
async fn revenuecats_web_sdk_works_against_entitled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk-js");
    if !dir.join("node_modules/@revenuecat/purchases-js").exists() {
        return skip("run `npm install` in crates/entitled/tests/sdk-js first");
    }
    if Command::new("node").arg("--version").output().is_err() {
        return skip("node is not installed");
    }
    let server = TestServer::start(Db::Sqlite).await.expect("sqlite");
    let (_, _, apps) = send(server.secret(Method::GET, &server.project_path("/apps"))).await;
    let app_id = apps["items"][0]["id"].as_str().unwrap().to_string();
    let post = |path: &str, body: serde_json::Value| {
        server
            .secret(Method::POST, &server.project_path(path))
            .json(&body)
    };
    let (status, _, monthly) = send(post(
        "/products",
        json!({"store_identifier": "pro_monthly",
        "app_id": app_id, "type": "subscription", "subscription": {"duration": "P1M"},
        "test_store_price": {"amount_micros": 4_990_000, "currency": "USD"}}),
    ))
    .await;
    assert_eq!(status, 201, "{monthly}");
    let (_, _, pro) = send(post(
        "/entitlements",
        json!({"lookup_key": "pro", "display_name": "Pro"}),
    ))
    .await;
    send(post(
        &format!(
            "/entitlements/{}/actions/attach_products",
            pro["id"].as_str().unwrap()
        ),
        json!({"product_ids": [monthly["id"]]}),
    ))
    .await;
    let (_, _, offering) = send(post(
        "/offerings",
        json!({"lookup_key": "default", "display_name": "Standard"}),
    ))
    .await;
    let offering_id = offering["id"].as_str().unwrap();
    send(post(
        &format!("/offerings/{offering_id}"),
        json!({"is_current": true}),
    ))
    .await;
    let (_, _, package) = send(post(
        &format!("/offerings/{offering_id}/packages"),
        json!({"lookup_key": "$rc_monthly", "display_name": "Monthly"}),
    ))
    .await;
    send(post(
        &format!(
            "/packages/{}/actions/attach_products",
            package["id"].as_str().unwrap()
        ),
        json!({"products": [{"product_id": monthly["id"], "eligibility_criteria": "all"}]}),
    ))
    .await;

    let output = tokio::task::spawn_blocking({
        let base = server.base.clone();
        let public_key = server.public_key.clone();
        let secret_key = server.secret_key.clone();
        let project_id = server.project_id.clone();
        move || {
            Command::new("node")
                .args(["--test", "e2e.test.mjs"])
                .current_dir(&dir)
                .env("ENTITLED_URL", base)
                .env("ENTITLED_PUBLIC_KEY", public_key)
                .env("ENTITLED_SECRET_KEY", secret_key)
                .env("ENTITLED_PROJECT_ID", project_id)
                .output()
                .expect("run node")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "purchases-js tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("# pass 6"),
        "all six SDK tests ran:\n{stdout}"
    );
}
