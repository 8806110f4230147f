//! v2 customers: identity, attributes, promotional grants, offering overrides, transfers,
//! with every answer checked against RevenueCat's schemas.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestServer, assert_v2_error, checked as call, on_both_backends, send};

on_both_backends!(
    customers_are_created_found_listed_and_deleted,
    attributes_are_validated_set_and_removed,
    grants_make_entitlements_active_until_revoked,
    offerings_are_assigned_and_transfers_recorded,
    customer_keys_need_customer_permissions,
);

async fn create(server: &TestServer, body: Value) -> (u16, Value) {
    call(
        server,
        Method::POST,
        "/projects/{project_id}/customers",
        "/customers",
        Some(body),
    )
    .await
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

async fn customers_are_created_found_listed_and_deleted(server: &TestServer) {
    let (status, alice) = create(
        server,
        json!({"id": "alice", "attributes": [
        {"name": "$email", "value": "alice@example.com"}, {"name": "plan", "value": "gold"}]}),
    )
    .await;
    assert_eq!(status, 201, "{alice}");
    assert_eq!(alice["id"], "alice");
    assert_eq!(alice["project_id"], server.project_id.as_str());
    assert_eq!(alice["active_entitlements"]["items"], json!([]));
    let (status, answer) = create(server, json!({"id": "alice"})).await;
    assert_v2_error(status, &answer, 409, "resource_already_exists");
    for (body, param) in [
        (json!({"id": "has space"}), "id"),
        (json!({"id": ""}), "id"),
        (
            json!({"id": "x", "attributes": [{"name": "$unknown", "value": "v"}]}),
            "attributes[0].name",
        ),
        (json!({}), "id"),
    ] {
        let (status, answer) = create(server, body.clone()).await;
        assert_v2_error(status, &answer, 400, "parameter_error");
        assert_eq!(answer["param"], param, "{body}");
    }
    create(
        server,
        json!({"id": "bob", "attributes": [{"name": "$email", "value": "bob@example.com"}]}),
    )
    .await;

    let one = "/projects/{project_id}/customers/{customer_id}";
    let (status, fetched) = call(
        server,
        Method::GET,
        one,
        "/customers/alice?expand=attributes",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = fetched["attributes"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["$email", "plan"]);
    let (status, _) = call(server, Method::GET, one, "/customers/nobody", None).await;
    assert_eq!(status, 404);

    let list = "/projects/{project_id}/customers";
    let (status, all) = call(server, Method::GET, list, "/customers", None).await;
    assert_eq!(status, 200);
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let (_, by_email) = call(
        server,
        Method::GET,
        list,
        "/customers?search=bob@example.com",
        None,
    )
    .await;
    assert_eq!(by_email["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_email["items"][0]["id"], "bob");
    let (_, by_id) = call(server, Method::GET, list, "/customers?search=alice", None).await;
    assert_eq!(by_id["items"][0]["id"], "alice");
    let (_, none) = call(
        server,
        Method::GET,
        list,
        "/customers?search=nobody@example.com",
        None,
    )
    .await;
    assert_eq!(none["items"], json!([]));

    let (status, aliases) = call(
        server,
        Method::GET,
        "/projects/{project_id}/customers/{customer_id}/aliases",
        "/customers/alice/aliases",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(aliases["items"][0]["id"], "alice");
    assert_eq!(aliases["items"][0]["object"], "customer.alias");

    let (status, body) = call(server, Method::DELETE, one, "/customers/alice", None).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, _) = call(server, Method::GET, one, "/customers/alice", None).await;
    assert_eq!(status, 404);
    let (_, gone) = call(
        server,
        Method::GET,
        list,
        "/customers?search=alice@example.com",
        None,
    )
    .await;
    assert_eq!(
        gone["items"],
        json!([]),
        "attributes went with the customer"
    );
    let (status, again) = create(server, json!({"id": "alice"})).await;
    assert_eq!(status, 201, "the id is free again: {again}");
}

async fn attributes_are_validated_set_and_removed(server: &TestServer) {
    create(server, json!({"id": "carol"})).await;
    let template = "/projects/{project_id}/customers/{customer_id}/attributes";
    let (status, set) = call(
        server,
        Method::POST,
        template,
        "/customers/carol/attributes",
        Some(json!({"attributes": [
        {"name": "$displayName", "value": "Carol"}, {"name": "team", "value": "blue"}]})),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["items"].as_array().unwrap().len(), 2);
    let (_, set) = call(
        server,
        Method::POST,
        template,
        "/customers/carol/attributes",
        Some(json!({"attributes": [
        {"name": "team", "value": null}, {"name": "$displayName", "value": "Caz"}]})),
    )
    .await;
    let items = set["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0]["name"].as_str(), items[0]["value"].as_str()),
        (Some("$displayName"), Some("Caz"))
    );

    // One bad attribute: nothing of the request is written.
    let (status, answer) = call(
        server,
        Method::POST,
        template,
        "/customers/carol/attributes",
        Some(json!({"attributes": [
        {"name": "ok_name", "value": "v"}, {"name": "team", "value": "x".repeat(501)}]})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");
    assert_eq!(answer["param"], "attributes[1].value");
    let (status, answer) = call(
        server,
        Method::POST,
        template,
        "/customers/carol/attributes",
        Some(json!({"attributes": []})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");
    let (_, listed) = call(
        server,
        Method::GET,
        template,
        "/customers/carol/attributes",
        None,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (status, _) = call(
        server,
        Method::POST,
        template,
        "/customers/nobody/attributes",
        Some(json!({"attributes": [
        {"name": "team", "value": "v"}]})),
    )
    .await;
    assert_eq!(status, 404);
}

async fn grants_make_entitlements_active_until_revoked(server: &TestServer) {
    create(server, json!({"id": "dave"})).await;
    let (_, pro) = call(
        server,
        Method::POST,
        "/projects/{project_id}/entitlements",
        "/entitlements",
        Some(json!({"lookup_key": "pro", "display_name": "Pro"})),
    )
    .await;
    let pro = pro["id"].as_str().unwrap().to_string();
    let grant = "/projects/{project_id}/customers/{customer_id}/actions/grant_entitlement";
    let expires = now_ms() + 86_400_000;
    let (status, granted) = call(
        server,
        Method::POST,
        grant,
        "/customers/dave/actions/grant_entitlement",
        Some(json!({"entitlement_id": pro, "expires_at": expires})),
    )
    .await;
    assert_eq!(status, 201, "{granted}");
    assert_eq!(
        granted["active_entitlements"]["items"],
        json!([{
        "object": "customer.active_entitlement", "entitlement_id": pro, "expires_at": expires}])
    );
    let later = expires + 86_400_000;
    let (_, granted) = call(
        server,
        Method::POST,
        grant,
        "/customers/dave/actions/grant_entitlement",
        Some(json!({"entitlement_id": pro, "expires_at": later})),
    )
    .await;
    assert_eq!(
        granted["active_entitlements"]["items"][0]["expires_at"], later,
        "the longest grant wins"
    );

    for (body, status_expected) in [
        (
            json!({"entitlement_id": pro, "expires_at": now_ms() - 1000}),
            400,
        ),
        (
            json!({"entitlement_id": "entlnope", "expires_at": expires}),
            404,
        ),
        (json!({"entitlement_id": pro}), 400),
        // Past the year 9999 no SDK could read the date.
        (
            json!({"entitlement_id": pro, "expires_at": 253_402_300_800_000i64}),
            400,
        ),
    ] {
        let (status, answer) = call(
            server,
            Method::POST,
            grant,
            "/customers/dave/actions/grant_entitlement",
            Some(body),
        )
        .await;
        assert_eq!(status, status_expected, "{answer}");
    }

    let (status, active) = call(
        server,
        Method::GET,
        "/projects/{project_id}/customers/{customer_id}/active_entitlements",
        "/customers/dave/active_entitlements",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(active["items"].as_array().unwrap().len(), 1);

    let revoke =
        "/projects/{project_id}/customers/{customer_id}/actions/revoke_granted_entitlement";
    let (status, revoked) = call(
        server,
        Method::POST,
        revoke,
        "/customers/dave/actions/revoke_granted_entitlement",
        Some(json!({"entitlement_id": pro})),
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["active_entitlements"]["items"], json!([]));
    let (status, answer) = call(
        server,
        Method::POST,
        revoke,
        "/customers/dave/actions/revoke_granted_entitlement",
        Some(json!({"entitlement_id": pro})),
    )
    .await;
    assert_v2_error(status, &answer, 404, "resource_missing");
}

async fn offerings_are_assigned_and_transfers_recorded(server: &TestServer) {
    create(server, json!({"id": "erin"})).await;
    create(server, json!({"id": "frank"})).await;
    let (_, offering) = call(
        server,
        Method::POST,
        "/projects/{project_id}/offerings",
        "/offerings",
        Some(json!({"lookup_key": "vip", "display_name": "VIP"})),
    )
    .await;
    let assign = "/projects/{project_id}/customers/{customer_id}/actions/assign_offering";
    let (status, body) = call(
        server,
        Method::POST,
        assign,
        "/customers/erin/actions/assign_offering",
        Some(json!({"offering_id": offering["id"]})),
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    let (status, _) = call(
        server,
        Method::POST,
        assign,
        "/customers/erin/actions/assign_offering",
        Some(json!({"offering_id": null})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, answer) = call(
        server,
        Method::POST,
        assign,
        "/customers/erin/actions/assign_offering",
        Some(json!({"offering_id": "ofrngnope"})),
    )
    .await;
    assert_v2_error(status, &answer, 404, "resource_missing");
    let (status, answer) = call(
        server,
        Method::POST,
        assign,
        "/customers/erin/actions/assign_offering",
        Some(json!({})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");

    let transfer = "/projects/{project_id}/customers/{customer_id}/actions/transfer";
    let (status, moved) = call(
        server,
        Method::POST,
        transfer,
        "/customers/erin/actions/transfer",
        Some(json!({"target_customer_id": "frank"})),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["source_customer"]["id"], "erin");
    assert_eq!(moved["target_customer"]["id"], "frank");
    let (status, answer) = call(
        server,
        Method::POST,
        transfer,
        "/customers/erin/actions/transfer",
        Some(json!({"target_customer_id": "erin"})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");
    let (status, _) = call(
        server,
        Method::POST,
        transfer,
        "/customers/erin/actions/transfer",
        Some(json!({"target_customer_id": "nobody"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        server,
        Method::POST,
        transfer,
        "/customers/erin/actions/transfer",
        Some(json!({"target_customer_id": "frank", "app_ids": ["appnope"]})),
    )
    .await;
    assert_eq!(status, 404);

    for (path, template) in [
        (
            "/customers/erin/subscriptions?environment=sandbox",
            "/projects/{project_id}/customers/{customer_id}/subscriptions",
        ),
        (
            "/customers/erin/purchases",
            "/projects/{project_id}/customers/{customer_id}/purchases",
        ),
    ] {
        let (status, list) = call(server, Method::GET, template, path, None).await;
        assert_eq!(status, 200);
        assert_eq!(list["items"], json!([]), "no store purchases yet");
    }
    let (status, answer) = call(
        server,
        Method::GET,
        "/projects/{project_id}/customers/{customer_id}/purchases",
        "/customers/erin/purchases?environment=staging",
        None,
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");
}

async fn customer_keys_need_customer_permissions(server: &TestServer) {
    create(server, json!({"id": "gina"})).await;
    let (_, _, reader) = send(
        server
            .secret(Method::POST, &server.project_path("/api_keys"))
            .json(&json!({"permissions": ["customer_information:customers:read"]})),
    )
    .await;
    let reader = reader["key"].as_str().unwrap();
    let (status, _, _) =
        send(server.with_key(Method::GET, &server.project_path("/customers/gina"), reader)).await;
    assert_eq!(status, 200);
    let (status, _, answer) = send(server.with_key(
        Method::DELETE,
        &server.project_path("/customers/gina"),
        reader,
    ))
    .await;
    assert_v2_error(status, &answer, 403, "authorization_error");
    let (status, _, answer) = send(server.with_key(
        Method::GET,
        &server.project_path("/customers/gina/purchases"),
        reader,
    ))
    .await;
    assert_v2_error(status, &answer, 403, "authorization_error");
}
