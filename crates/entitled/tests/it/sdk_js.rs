//! RevenueCat's web SDK (`@revenuecat/purchases-js`, pinned in `tests/sdk-js/package.json`)
//! against the real server, through Node's test runner. `.ci/run` installs it; elsewhere
//! the test prints why it skips, unless `ENTITLED_REQUIRE_NODE=1`, where it fails.

use std::path::Path;
use std::process::Command;

use crate::helpers::{Db, TestServer};

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
    crate::sdk::catalog(&server).await;

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
