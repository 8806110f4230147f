//! The v2 catalog (products, entitlements, offerings, packages) and the audit log, on both
//! backends, with every answer checked against RevenueCat's schemas.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestServer, assert_v2_error, checked as call, on_both_backends, send};

on_both_backends!(
    products_are_created_read_listed_and_deleted,
    product_identifiers_are_unique_per_app,
    entitlements_attach_and_detach_products_atomically,
    deleting_what_is_in_use_needs_force,
    offerings_have_one_current_and_bounded_metadata,
    packages_hold_one_product_per_app,
    every_change_is_in_the_audit_log,
    parallel_creates_of_one_lookup_key_give_one_201,
    pagination_is_stable_over_thousands_with_inserts_between_pages,
);

async fn app(server: &TestServer, kind: &str) -> String {
    let body = match kind {
        "app_store" => {
            json!({"name": "iOS", "type": "app_store", "app_store": {"bundle_id": "com.example.ios"}})
        }
        "play_store" => {
            json!({"name": "Android", "type": "play_store", "play_store": {"package_name": "com.example.android"}})
        }
        other => json!({"name": other, "type": other}),
    };
    let (status, answer) = call(
        server,
        Method::POST,
        "/projects/{project_id}/apps",
        "/apps",
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    answer["id"].as_str().unwrap().to_string()
}

async fn product(server: &TestServer, app_id: &str, identifier: &str) -> String {
    let (status, answer) = call(
        server,
        Method::POST,
        "/projects/{project_id}/products",
        "/products",
        Some(
            json!({"store_identifier": identifier, "app_id": app_id, "type": "subscription",
                    "display_name": identifier, "subscription": {"duration": "P1M"}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    answer["id"].as_str().unwrap().to_string()
}

async fn entitlement(server: &TestServer, key: &str) -> String {
    let (status, answer) = call(
        server,
        Method::POST,
        "/projects/{project_id}/entitlements",
        "/entitlements",
        Some(json!({"lookup_key": key, "display_name": format!("{key} access")})),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    answer["id"].as_str().unwrap().to_string()
}

async fn offering(server: &TestServer, key: &str) -> String {
    let (status, answer) = call(
        server,
        Method::POST,
        "/projects/{project_id}/offerings",
        "/offerings",
        Some(json!({"lookup_key": key, "display_name": key})),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    answer["id"].as_str().unwrap().to_string()
}

async fn products_are_created_read_listed_and_deleted(server: &TestServer) {
    let ios = app(server, "app_store").await;
    let (status, created) = call(
        server,
        Method::POST,
        "/projects/{project_id}/products",
        "/products",
        Some(
            json!({"store_identifier": "pro.monthly", "app_id": ios, "type": "subscription",
                    "display_name": "Pro monthly", "subscription": {"duration": "P1M"}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["subscription"]["duration"], "P1M");
    assert_eq!(created["one_time"], Value::Null);
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("prod"));
    let (status, lifetime) = call(
        server,
        Method::POST,
        "/projects/{project_id}/products",
        "/products",
        Some(json!({"store_identifier": "lifetime", "app_id": ios, "type": "non_consumable"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(lifetime["one_time"]["is_consumable"], false);
    assert_eq!(lifetime["display_name"], Value::Null);

    let template = "/projects/{project_id}/products/{product_id}";
    let (status, fetched) = call(
        server,
        Method::GET,
        template,
        &format!("/products/{id}?expand=app"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["app"]["id"], ios.as_str());
    let (status, _) = call(
        server,
        Method::GET,
        template,
        &format!("/products/{id}?expand=bogus"),
        None,
    )
    .await;
    assert_eq!(status, 400);

    let other = app(server, "stripe").await;
    product(server, &other, "web_pro").await;
    let (status, list) = call(
        server,
        Method::GET,
        "/projects/{project_id}/products",
        &format!("/products?app_id={ios}&expand=items.app"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let identifiers: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["store_identifier"].as_str().unwrap())
        .collect();
    assert_eq!(identifiers, ["pro.monthly", "lifetime"]);
    assert_eq!(list["items"][0]["app"]["type"], "app_store");

    for (body, param) in [
        (
            json!({"store_identifier": "x", "app_id": ios, "type": "gift"}),
            "type",
        ),
        (
            json!({"store_identifier": "has space", "app_id": ios, "type": "consumable"}),
            "store_identifier",
        ),
        (
            json!({"store_identifier": "x", "app_id": ios, "type": "subscription", "subscription": {"duration": "monthly"}}),
            "subscription.duration",
        ),
        (
            json!({"store_identifier": "x", "app_id": ios, "type": "consumable", "subscription": {"duration": "P1M"}}),
            "subscription",
        ),
        (json!({"store_identifier": "x", "app_id": ios}), "type"),
    ] {
        let (status, answer) = call(
            server,
            Method::POST,
            "/projects/{project_id}/products",
            "/products",
            Some(body),
        )
        .await;
        assert_v2_error(status, &answer, 400, "parameter_error");
        assert_eq!(answer["param"], param);
    }
    let (status, answer) = call(
        server,
        Method::POST,
        "/projects/{project_id}/products",
        "/products",
        Some(json!({"store_identifier": "x", "app_id": "appnope", "type": "consumable"})),
    )
    .await;
    assert_v2_error(status, &answer, 404, "resource_missing");

    let (status, body) = call(
        server,
        Method::DELETE,
        template,
        &format!("/products/{id}"),
        None,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, _) = call(
        server,
        Method::GET,
        template,
        &format!("/products/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        server,
        Method::DELETE,
        template,
        &format!("/products/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

async fn product_identifiers_are_unique_per_app(server: &TestServer) {
    let ios = app(server, "app_store").await;
    let android = app(server, "play_store").await;
    product(server, &ios, "pro").await;
    let (status, answer) = call(
        server,
        Method::POST,
        "/projects/{project_id}/products",
        "/products",
        Some(json!({"store_identifier": "pro", "app_id": ios, "type": "subscription"})),
    )
    .await;
    assert_v2_error(status, &answer, 409, "resource_already_exists");
    product(server, &android, "pro").await;
}

async fn entitlements_attach_and_detach_products_atomically(server: &TestServer) {
    let ios = app(server, "app_store").await;
    let monthly = product(server, &ios, "pro.monthly").await;
    let yearly = product(server, &ios, "pro.yearly").await;
    let pro = entitlement(server, "pro").await;
    let (status, answer) = call(
        server,
        Method::POST,
        "/projects/{project_id}/entitlements",
        "/entitlements",
        Some(json!({"lookup_key": "pro", "display_name": "again"})),
    )
    .await;
    assert_v2_error(status, &answer, 409, "resource_already_exists");
    for (body, param) in [
        (
            json!({"lookup_key": "has space", "display_name": "x"}),
            "lookup_key",
        ),
        (
            json!({"lookup_key": "k".repeat(201), "display_name": "x"}),
            "lookup_key",
        ),
        (
            json!({"lookup_key": "ok", "display_name": ""}),
            "display_name",
        ),
        (json!({"lookup_key": "ok"}), "display_name"),
    ] {
        let (status, answer) = call(
            server,
            Method::POST,
            "/projects/{project_id}/entitlements",
            "/entitlements",
            Some(body),
        )
        .await;
        assert_v2_error(status, &answer, 400, "parameter_error");
        assert_eq!(answer["param"], param);
    }

    let attach = "/projects/{project_id}/entitlements/{entitlement_id}/actions/attach_products";
    let attach_path = format!("/entitlements/{pro}/actions/attach_products");
    // One unknown product: 404, and nothing is attached.
    let (status, answer) = call(
        server,
        Method::POST,
        attach,
        &attach_path,
        Some(json!({"product_ids": [monthly, "prodnope"]})),
    )
    .await;
    assert_v2_error(status, &answer, 404, "resource_missing");
    let products_template = "/projects/{project_id}/entitlements/{entitlement_id}/products";
    let products_path = format!("/entitlements/{pro}/products");
    let (_, listed) = call(server, Method::GET, products_template, &products_path, None).await;
    assert_eq!(listed["items"], json!([]));

    let (status, attached) = call(
        server,
        Method::POST,
        attach,
        &attach_path,
        Some(json!({"product_ids": [monthly, yearly, monthly]})),
    )
    .await;
    assert_eq!(status, 200, "{attached}");
    assert_eq!(attached["products"]["items"].as_array().unwrap().len(), 2);
    let (status, answer) = call(
        server,
        Method::POST,
        attach,
        &attach_path,
        Some(json!({"product_ids": []})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");

    let (_, listed) = call(server, Method::GET, products_template, &products_path, None).await;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [monthly.as_str(), yearly.as_str()]);
    let (status, expanded) = call(
        server,
        Method::GET,
        "/projects/{project_id}/entitlements",
        "/entitlements?expand=items.product",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        expanded["items"][0]["products"]["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (status, body) = call(
        server,
        Method::POST,
        "/projects/{project_id}/entitlements/{entitlement_id}/actions/detach_products",
        &format!("/entitlements/{pro}/actions/detach_products"),
        Some(json!({"product_ids": [monthly]})),
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    let (_, listed) = call(server, Method::GET, products_template, &products_path, None).await;
    assert_eq!(listed["items"][0]["id"], yearly.as_str());
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    let (status, renamed) = call(
        server,
        Method::POST,
        "/projects/{project_id}/entitlements/{entitlement_id}",
        &format!("/entitlements/{pro}"),
        Some(json!({"display_name": "Pro access"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["display_name"], "Pro access");
    assert_eq!(renamed["lookup_key"], "pro");
    let (status, _) = call(
        server,
        Method::POST,
        "/projects/{project_id}/entitlements/{entitlement_id}",
        "/entitlements/entlnope",
        Some(json!({"display_name": "x"})),
    )
    .await;
    assert_eq!(status, 404);
}

async fn deleting_what_is_in_use_needs_force(server: &TestServer) {
    let ios = app(server, "app_store").await;
    let monthly = product(server, &ios, "pro.monthly").await;
    let pro = entitlement(server, "pro").await;
    call(
        server,
        Method::POST,
        "/projects/{project_id}/entitlements/{entitlement_id}/actions/attach_products",
        &format!("/entitlements/{pro}/actions/attach_products"),
        Some(json!({"product_ids": [monthly]})),
    )
    .await;

    let product_template = "/projects/{project_id}/products/{product_id}";
    let (status, answer) = call(
        server,
        Method::DELETE,
        product_template,
        &format!("/products/{monthly}"),
        None,
    )
    .await;
    assert_v2_error(status, &answer, 422, "unprocessable_entity_error");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("entitlement pro"),
        "{answer}"
    );
    let entitlement_template = "/projects/{project_id}/entitlements/{entitlement_id}";
    let (status, answer) = call(
        server,
        Method::DELETE,
        entitlement_template,
        &format!("/entitlements/{pro}"),
        None,
    )
    .await;
    assert_v2_error(status, &answer, 422, "unprocessable_entity_error");
    assert!(
        answer["message"].as_str().unwrap().contains("pro.monthly"),
        "{answer}"
    );
    // Both still exist and are still linked.
    let (_, listed) = call(
        server,
        Method::GET,
        "/projects/{project_id}/entitlements/{entitlement_id}/products",
        &format!("/entitlements/{pro}/products"),
        None,
    )
    .await;
    assert_eq!(listed["items"][0]["id"], monthly.as_str());

    let (status, _) = call(
        server,
        Method::DELETE,
        product_template,
        &format!("/products/{monthly}?force=true"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, listed) = call(
        server,
        Method::GET,
        "/projects/{project_id}/entitlements/{entitlement_id}/products",
        &format!("/entitlements/{pro}/products"),
        None,
    )
    .await;
    assert_eq!(listed["items"], json!([]));
    let (status, _) = call(
        server,
        Method::DELETE,
        entitlement_template,
        &format!("/entitlements/{pro}"),
        None,
    )
    .await;
    assert_eq!(status, 204, "no products left: no force needed");
    let (status, answer) = call(
        server,
        Method::DELETE,
        product_template,
        "/products/prodnope?force=maybe",
        None,
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");
    assert_eq!(answer["param"], "force");
}

async fn offerings_have_one_current_and_bounded_metadata(server: &TestServer) {
    let default = offering(server, "default").await;
    let sale = offering(server, "sale").await;
    let template = "/projects/{project_id}/offerings/{offering_id}";
    let (status, fetched) = call(
        server,
        Method::GET,
        template,
        &format!("/offerings/{default}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["is_current"], false);
    let (status, made) = call(
        server,
        Method::POST,
        template,
        &format!("/offerings/{default}"),
        Some(json!({"is_current": true, "metadata": {"theme": {"color": "#fff"}}})),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["is_current"], true);
    assert_eq!(made["metadata"]["theme"]["color"], "#fff");
    let (_, made) = call(
        server,
        Method::POST,
        template,
        &format!("/offerings/{sale}"),
        Some(json!({"is_current": true})),
    )
    .await;
    assert_eq!(made["is_current"], true);
    let (_, list) = call(
        server,
        Method::GET,
        "/projects/{project_id}/offerings",
        "/offerings",
        None,
    )
    .await;
    let current: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["is_current"] == true)
        .map(|o| o["lookup_key"].as_str().unwrap())
        .collect();
    assert_eq!(current, ["sale"]);
    assert_eq!(
        list["items"][0]["metadata"]["theme"]["color"], "#fff",
        "untouched by the switch"
    );

    let (_, cleared) = call(
        server,
        Method::POST,
        template,
        &format!("/offerings/{default}"),
        Some(json!({"metadata": null})),
    )
    .await;
    assert_eq!(cleared["metadata"], Value::Null);
    let mut deep = json!("leaf");
    for _ in 0..20 {
        deep = json!({ "nested": deep });
    }
    let (status, answer) = call(
        server,
        Method::POST,
        template,
        &format!("/offerings/{default}"),
        Some(json!({"metadata": deep})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");
    assert_eq!(answer["param"], "metadata");
    let (status, answer) = call(
        server,
        Method::POST,
        "/projects/{project_id}/offerings",
        "/offerings",
        Some(json!({"lookup_key": "default", "display_name": "dup"})),
    )
    .await;
    assert_v2_error(status, &answer, 409, "resource_already_exists");
    let (status, answer) = call(
        server,
        Method::POST,
        "/projects/{project_id}/offerings",
        "/offerings",
        Some(json!({"lookup_key": "x", "display_name": "x", "metadata": [1, 2]})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");
    let (status, _) = call(
        server,
        Method::DELETE,
        template,
        &format!("/offerings/{default}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        server,
        Method::GET,
        template,
        &format!("/offerings/{default}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

async fn packages_hold_one_product_per_app(server: &TestServer) {
    let ios = app(server, "app_store").await;
    let android = app(server, "play_store").await;
    let ios_monthly = product(server, &ios, "pro.monthly").await;
    let ios_yearly = product(server, &ios, "pro.yearly").await;
    let android_monthly = product(server, &android, "pro_monthly").await;
    let default = offering(server, "default").await;
    let other = offering(server, "other").await;

    let create = "/projects/{project_id}/offerings/{offering_id}/packages";
    let (status, monthly) = call(
        server,
        Method::POST,
        create,
        &format!("/offerings/{default}/packages"),
        Some(json!({"lookup_key": "$rc_monthly", "display_name": "Monthly", "position": 1})),
    )
    .await;
    assert_eq!(status, 201, "{monthly}");
    let package = monthly["id"].as_str().unwrap().to_string();
    let (status, answer) = call(
        server,
        Method::POST,
        create,
        &format!("/offerings/{default}/packages"),
        Some(json!({"lookup_key": "$rc_monthly", "display_name": "Again"})),
    )
    .await;
    assert_v2_error(status, &answer, 409, "resource_already_exists");
    let (status, _) = call(
        server,
        Method::POST,
        create,
        &format!("/offerings/{other}/packages"),
        Some(json!({"lookup_key": "$rc_monthly", "display_name": "Elsewhere"})),
    )
    .await;
    assert_eq!(status, 201, "the same key in another offering");
    let (status, answer) = call(
        server,
        Method::POST,
        create,
        "/offerings/ofrngnope/packages",
        Some(json!({"lookup_key": "x", "display_name": "x"})),
    )
    .await;
    assert_v2_error(status, &answer, 404, "resource_missing");
    let (status, answer) = call(
        server,
        Method::POST,
        create,
        &format!("/offerings/{default}/packages"),
        Some(json!({"lookup_key": "x", "display_name": "x", "position": 0})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");

    let attach = "/projects/{project_id}/packages/{package_id}/actions/attach_products";
    let attach_path = format!("/packages/{package}/actions/attach_products");
    let (status, attached) = call(
        server,
        Method::POST,
        attach,
        &attach_path,
        Some(json!({"products": [
            {"product_id": ios_monthly, "eligibility_criteria": "all"},
            {"product_id": android_monthly, "eligibility_criteria": "google_sdk_ge_6"},
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{attached}");
    assert_eq!(attached["products"]["items"].as_array().unwrap().len(), 2);
    let (status, answer) = call(
        server,
        Method::POST,
        attach,
        &attach_path,
        Some(json!({"products": [
        {"product_id": ios_yearly, "eligibility_criteria": "all"}]})),
    )
    .await;
    assert_v2_error(status, &answer, 409, "resource_already_exists");
    let (status, answer) = call(
        server,
        Method::POST,
        attach,
        &attach_path,
        Some(json!({"products": [
        {"product_id": ios_yearly, "eligibility_criteria": "everyone"}]})),
    )
    .await;
    assert_v2_error(status, &answer, 400, "parameter_error");

    let (status, fetched) = call(
        server,
        Method::GET,
        "/projects/{project_id}/offerings/{offering_id}",
        &format!("/offerings/{default}?expand=package.product"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let packages = fetched["packages"]["items"].as_array().unwrap();
    assert_eq!(packages.len(), 1);
    assert_eq!(
        packages[0]["products"]["items"][0]["product"]["store_identifier"],
        "pro.monthly"
    );

    let (status, listed) = call(
        server,
        Method::GET,
        "/projects/{project_id}/offerings/{offering_id}/packages",
        &format!("/offerings/{default}/packages?expand=items.product"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["items"][0]["products"]["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, unexpanded) = call(
        server,
        Method::GET,
        "/projects/{project_id}/offerings/{offering_id}/packages",
        &format!("/offerings/{default}/packages"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(unexpanded["items"][0].get("products").is_none());

    let (status, updated) = call(
        server,
        Method::POST,
        "/projects/{project_id}/packages/{package_id}",
        &format!("/packages/{package}"),
        Some(json!({"position": 3, "display_name": "Monthly!"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            updated["position"].as_i64(),
            updated["display_name"].as_str()
        ),
        (Some(3), Some("Monthly!"))
    );

    let (status, _) = call(
        server,
        Method::POST,
        "/projects/{project_id}/packages/{package_id}/actions/detach_products",
        &format!("/packages/{package}/actions/detach_products"),
        Some(json!({"product_ids": [ios_monthly]})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, listed) = call(
        server,
        Method::GET,
        "/projects/{project_id}/packages/{package_id}/products",
        &format!("/packages/{package}/products"),
        None,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        listed["items"][0]["product"]["id"],
        android_monthly.as_str()
    );

    // Deleting the offering takes its packages with it.
    call(
        server,
        Method::DELETE,
        "/projects/{project_id}/offerings/{offering_id}",
        &format!("/offerings/{default}"),
        None,
    )
    .await;
    let (status, _) = call(
        server,
        Method::GET,
        "/projects/{project_id}/packages/{package_id}",
        &format!("/packages/{package}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

async fn every_change_is_in_the_audit_log(server: &TestServer) {
    let pro = entitlement(server, "pro").await;
    call(
        server,
        Method::POST,
        "/projects/{project_id}/entitlements/{entitlement_id}",
        &format!("/entitlements/{pro}"),
        Some(json!({"display_name": "Pro!"})),
    )
    .await;
    call(
        server,
        Method::DELETE,
        "/projects/{project_id}/entitlements/{entitlement_id}",
        &format!("/entitlements/{pro}"),
        None,
    )
    .await;
    // A failed change leaves no entry.
    call(
        server,
        Method::POST,
        "/projects/{project_id}/entitlements",
        "/entitlements",
        Some(json!({"lookup_key": "bad key", "display_name": "x"})),
    )
    .await;

    let (status, log) = call(
        server,
        Method::GET,
        "/projects/{project_id}/audit_logs",
        "/audit_logs",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let actions: Vec<(&str, &str)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action_type"].as_str().unwrap(),
                e["target_identifier"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("entitlement.created", pro.as_str()),
            ("entitlement.updated", pro.as_str()),
            ("entitlement.deleted", pro.as_str())
        ]
    );
    assert_eq!(log["items"][0]["actor_type"], "api_key");
    assert!(
        log["items"][0]["actor_identifier"]
            .as_str()
            .unwrap()
            .starts_with("key")
    );
    assert!(!log.to_string().contains(&server.secret_key));

    let (_, _, created) = send(
        server
            .secret(Method::POST, &server.project_path("/api_keys"))
            .json(&json!({"permissions": ["project_configuration:entitlements:read"]})),
    )
    .await;
    let (status, _, answer) = send(server.with_key(
        Method::GET,
        &server.project_path("/audit_logs"),
        created["key"].as_str().unwrap(),
    ))
    .await;
    assert_v2_error(status, &answer, 403, "authorization_error");
}

async fn parallel_creates_of_one_lookup_key_give_one_201(server: &TestServer) {
    let mut attempts = Vec::new();
    for i in 0..16 {
        let request = server
            .secret(Method::POST, &server.project_path("/entitlements"))
            .json(&json!({"lookup_key": "contested", "display_name": format!("attempt {i}")}));
        attempts.push(tokio::spawn(send(request)));
    }
    let mut statuses = Vec::new();
    for attempt in attempts {
        let (status, _, body) = attempt.await.unwrap();
        if status == 409 {
            assert_v2_error(status, &body, 409, "resource_already_exists");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
    let (_, list) = call(
        server,
        Method::GET,
        "/projects/{project_id}/entitlements",
        "/entitlements",
        None,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn create_entitlements(server: &TestServer, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(16) {
        let mut batch = Vec::new();
        for i in chunk {
            let request = server
                .secret(Method::POST, &server.project_path("/entitlements"))
                .json(&json!({"lookup_key": format!("{prefix}{i:05}"), "display_name": "e"}));
            batch.push(tokio::spawn(send(request)));
        }
        for done in batch {
            let (status, _, body) = done.await.unwrap();
            assert_eq!(status, 201, "{body}");
            ids.push((
                body["created_at"].as_i64().unwrap(),
                body["lookup_key"].as_str().unwrap().to_string(),
            ));
        }
    }
    ids.into_iter().map(|(_, key)| key).collect()
}

async fn pagination_is_stable_over_thousands_with_inserts_between_pages(server: &TestServer) {
    let created = create_entitlements(server, "bulk", 2_000).await;
    let mut seen: Vec<String> = Vec::new();
    let mut next = Some(server.project_path("/entitlements?limit=250"));
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
                .map(|e| e["lookup_key"].as_str().unwrap().to_string()),
        );
        if pages == 2 {
            // Rows inserted mid-walk appear once, after everything seen so far.
            create_entitlements(server, "late", 30).await;
        }
        next = page["next_page"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 2_030);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 2_030, "no row twice");
    let mut originals: Vec<&String> = seen.iter().filter(|k| k.starts_with("bulk")).collect();
    assert_eq!(originals.len(), created.len());
    assert!(
        seen[..2_000].iter().all(|k| k.starts_with("bulk")),
        "late rows come last"
    );
    originals.sort();
    let mut expected: Vec<&String> = created.iter().collect();
    expected.sort();
    assert_eq!(originals, expected);
    let (status, _, last) = send(server.secret(
        Method::GET,
        &server.project_path("/entitlements?limit=1000"),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(last["items"].as_array().unwrap().len(), 1000);
}
