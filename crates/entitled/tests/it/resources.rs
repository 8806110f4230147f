//! v2 apps and api_keys: 200, 201, 204, 404 and pagination.

use reqwest::Method;
use serde_json::{Value, json};

use crate::conformance::assert_conforms_or_own;
use crate::helpers::{TestServer, assert_v2_error, on_both_backends, send};

on_both_backends!(
    apps_are_created_read_listed_and_deleted,
    app_store_and_play_apps_carry_their_identifiers,
    unknown_apps_are_404,
    lists_page_with_cursors,
    api_keys_never_show_the_key_after_creation,
    projects_list_shows_the_key_project,
);

async fn create_app(server: &TestServer, body: Value) -> Value {
    let (status, _, created) = send(
        server
            .secret(Method::POST, &server.project_path("/apps"))
            .json(&body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_conforms_or_own("POST", "/projects/{project_id}/apps", status, &created, &[]);
    created
}

async fn apps_are_created_read_listed_and_deleted(server: &TestServer) {
    let created = create_app(server, json!({"name": "Sandbox", "type": "test_store"})).await;
    assert_eq!(created["object"], "app");
    assert_eq!(created["type"], "test_store");
    assert_eq!(created["project_id"], server.project_id.as_str());
    assert!(created["created_at"].as_i64().unwrap() > 1_700_000_000_000);
    let key = created["public_api_key"].as_str().unwrap();
    assert!(key.starts_with("test_"), "{key}");
    let id = created["id"].as_str().unwrap();
    let path = server.project_path(&format!("/apps/{id}"));

    let (status, _, fetched) = send(server.secret(Method::GET, &path)).await;
    assert_eq!(status, 200);
    assert_conforms_or_own(
        "GET",
        "/projects/{project_id}/apps/{app_id}",
        status,
        &fetched,
        &[],
    );
    assert_eq!(fetched["name"], "Sandbox");
    assert!(
        fetched.get("public_api_key").is_none(),
        "the key is shown only at creation"
    );

    let (status, _, list) = send(server.secret(Method::GET, &server.project_path("/apps"))).await;
    assert_eq!(status, 200);
    assert_conforms_or_own("GET", "/projects/{project_id}/apps", status, &list, &[]);
    assert_eq!(list["object"], "list");
    assert_eq!(list["url"], server.project_path("/apps"));
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "the first-start app and this one: {list}");
    assert_eq!(ids[1], id);
    assert!(list["items"][0].get("public_api_key").is_none());

    let (status, _, body) = send(server.secret(Method::DELETE, &path)).await;
    assert_eq!(status, 204);
    assert_eq!(body, Value::Null);
    let (status, _, body) = send(server.secret(Method::GET, &path)).await;
    assert_v2_error(status, &body, 404, "resource_missing");
    assert_conforms_or_own(
        "GET",
        "/projects/{project_id}/apps/{app_id}",
        status,
        &body,
        &[],
    );
    let (status, _, body) = send(server.secret(Method::DELETE, &path)).await;
    assert_v2_error(status, &body, 404, "resource_missing");
}

async fn app_store_and_play_apps_carry_their_identifiers(server: &TestServer) {
    let ios = create_app(
        server,
        json!({"name": "iOS", "type": "app_store", "app_store": {"bundle_id": "com.example.weather"}}),
    )
    .await;
    assert_eq!(ios["app_store"]["bundle_id"], "com.example.weather");
    assert!(ios["public_api_key"].as_str().unwrap().starts_with("appl_"));
    let android = create_app(
        server,
        json!({"name": "Android", "type": "play_store", "play_store": {"package_name": "com.example.weather"}}),
    )
    .await;
    assert_eq!(android["play_store"]["package_name"], "com.example.weather");
    assert!(
        android["public_api_key"]
            .as_str()
            .unwrap()
            .starts_with("goog_")
    );
    let stripe = create_app(server, json!({"name": "Web", "type": "stripe"})).await;
    assert!(
        stripe["public_api_key"]
            .as_str()
            .unwrap()
            .starts_with("strp_")
    );
}

async fn unknown_apps_are_404(server: &TestServer) {
    let (status, _, body) =
        send(server.secret(Method::GET, &server.project_path("/apps/appdoesnotexist"))).await;
    assert_v2_error(status, &body, 404, "resource_missing");
}

async fn lists_page_with_cursors(server: &TestServer) {
    let mut created = vec![];
    for i in 0..7 {
        created.push(
            create_app(
                server,
                json!({"name": format!("App {i}"), "type": "test_store"}),
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen: Vec<String> = vec![];
    let mut next = Some(server.project_path("/apps?limit=3"));
    let mut pages = 0;
    while let Some(path) = next {
        let (status, _, page) = send(server.secret(Method::GET, &path)).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string()),
        );
        next = page["next_page"].as_str().map(str::to_string);
    }
    assert_eq!(pages, 3, "8 apps in pages of 3");
    assert_eq!(seen.len(), 8);
    assert_eq!(seen[1..], created[..]);

    for bad in [
        "/apps?limit=0",
        "/apps?limit=1001",
        "/apps?limit=ten",
        "/apps?starting_after=appunknown",
    ] {
        let (status, _, body) = send(server.secret(Method::GET, &server.project_path(bad))).await;
        assert_v2_error(status, &body, 400, "parameter_error");
        assert!(
            body["param"] == "limit" || body["param"] == "starting_after",
            "{bad}: {body}"
        );
    }
}

async fn api_keys_never_show_the_key_after_creation(server: &TestServer) {
    let (status, _, created) = send(
        server
            .secret(Method::POST, &server.project_path("/api_keys"))
            .json(&json!({"name": "reporting", "permissions": ["charts_metrics:*:read"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["object"], "api_key");
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("sk_"));
    assert_eq!(
        created["permissions"],
        json!(["charts_metrics:charts:read", "charts_metrics:overview:read"])
    );
    let id = created["id"].as_str().unwrap();
    let (status, _, fetched) = send(server.secret(
        Method::GET,
        &server.project_path(&format!("/api_keys/{id}")),
    ))
    .await;
    assert_eq!(status, 200);
    assert!(fetched.get("key").is_none());
    assert_eq!(fetched["revoked_at"], Value::Null);
    let (status, _, list) =
        send(server.secret(Method::GET, &server.project_path("/api_keys"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "first-start key and this one"
    );
    assert!(!list.to_string().contains(key));
    assert!(!list.to_string().contains(&server.secret_key));
}

async fn projects_list_shows_the_key_project(server: &TestServer) {
    let (status, _, list) = send(server.secret(Method::GET, "/v2/projects")).await;
    assert_eq!(status, 200);
    assert_conforms_or_own("GET", "/projects", status, &list, &[]);
    assert_eq!(list["items"][0]["id"], server.project_id.as_str());
    assert_eq!(list["items"][0]["name"], "default");
    assert_eq!(list["items"][0]["object"], "project");
}
