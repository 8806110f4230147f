//! The admin commands, run against the database of a running server.

use reqwest::Method;

use crate::helpers::{Db, TestDb, TestServer, cli_json, on_both_backends, run_cli, send};

on_both_backends!(
    projects_apps_and_keys_are_created_while_the_server_runs,
    revoking_from_the_command_line_takes_effect,
    bad_arguments_fail_with_a_message,
);

async fn projects_apps_and_keys_are_created_while_the_server_runs(server: &TestServer) {
    let project = cli_json(&server.cli(&["projects", "create", "--name", "Weather"]));
    assert_eq!(project["object"], "project");
    assert_eq!(project["name"], "Weather");
    let project_id = project["id"].as_str().unwrap();
    assert!(project_id.starts_with("proj"));

    let app = cli_json(&server.cli(&[
        "apps",
        "create",
        "--project",
        project_id,
        "--type",
        "app_store",
        "--name",
        "Weather iOS",
        "--bundle-id",
        "com.example.weather",
    ]));
    assert_eq!(app["object"], "app");
    assert_eq!(app["app_store"]["bundle_id"], "com.example.weather");
    assert!(app["public_api_key"].as_str().unwrap().starts_with("appl_"));

    let key = cli_json(&server.cli(&[
        "keys",
        "create",
        "--project",
        project_id,
        "--name",
        "backend",
        "--permissions",
        "project_configuration:apps:read",
    ]));
    assert_eq!(key["object"], "api_key");
    assert_eq!(
        key["permissions"],
        serde_json::json!(["project_configuration:apps:read"])
    );
    let secret = key["key"].as_str().unwrap();

    let (status, _, list) = send(server.with_key(
        Method::GET,
        &format!("/v2/projects/{project_id}/apps"),
        secret,
    ))
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["id"], app["id"]);
}

async fn revoking_from_the_command_line_takes_effect(server: &TestServer) {
    let key = cli_json(&server.cli(&["keys", "create", "--project", &server.project_id]));
    let secret = key["key"].as_str().unwrap();
    let apps = server.project_path("/apps");
    assert_eq!(
        send(server.with_key(Method::GET, &apps, secret)).await.0,
        200
    );
    let revoked = cli_json(&server.cli(&[
        "keys",
        "revoke",
        "--project",
        &server.project_id,
        key["id"].as_str().unwrap(),
    ]));
    assert!(revoked["revoked_at"].as_i64().is_some(), "{revoked}");
    assert!(revoked.get("key").is_none());
    assert_eq!(
        send(server.with_key(Method::GET, &apps, secret)).await.0,
        401
    );
}

async fn bad_arguments_fail_with_a_message(server: &TestServer) {
    let cases: [&[&str]; 4] = [
        &[
            "apps",
            "create",
            "--project",
            "projnope",
            "--type",
            "test_store",
            "--name",
            "x",
        ],
        &[
            "apps",
            "create",
            "--project",
            &server.project_id,
            "--type",
            "amazon",
            "--name",
            "x",
        ],
        &[
            "keys",
            "create",
            "--project",
            &server.project_id,
            "--permissions",
            "godmode",
        ],
        &["keys", "revoke", "--project", &server.project_id, "keynope"],
    ];
    for args in cases {
        let output = server.cli(args);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(output.stdout.is_empty(), "{args:?} printed to stdout");
        assert!(!output.stderr.is_empty(), "{args:?} explained nothing");
    }
}

async fn first_start_prints_keys_once(db: Db) {
    let Some(test_db) = TestDb::create(db).await else {
        return;
    };
    let migrated = run_cli(&test_db.url, &["migrate"]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let mut first = TestServer::start_on(&test_db.url, &[]).await;
    assert!(
        first.project_id.starts_with("proj"),
        "{}",
        first.stdout_text
    );
    assert!(first.public_key.starts_with("test_"));
    assert!(first.secret_key.starts_with("sk_"));
    let (status, _, _) = send(first.secret(Method::GET, &first.project_path("/apps"))).await;
    assert_eq!(status, 200);
    first.sigterm();
    assert!(first.wait_exit().await);

    let second = TestServer::start_on(&test_db.url, &[]).await;
    assert!(
        second.public_key.is_empty() && second.secret_key.is_empty(),
        "{}",
        second.stdout_text
    );
    assert!(!second.stdout_text.contains(&first.secret_key));
    // The first start's key still works after the restart.
    let (status, _, _) =
        send(second.with_key(Method::GET, &first.project_path("/apps"), &first.secret_key)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn first_start_prints_keys_once_on_sqlite() {
    first_start_prints_keys_once(Db::Sqlite).await;
}

#[tokio::test]
async fn first_start_prints_keys_once_on_postgres() {
    first_start_prints_keys_once(Db::Postgres).await;
}
