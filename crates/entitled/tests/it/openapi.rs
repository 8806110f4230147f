//! The OpenAPI document covers every route, and routes can only be added with their docs.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Db, TestServer, send};

/// Every (method, path) the server serves; a route added without updating this list or the
/// document fails one of the two tests below.
const SERVED: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("get", "/v1/health/ready"),
    ("post", "/v1/coffee"),
    ("post", "/v2/coffee"),
    ("get", "/v2/projects"),
    ("get", "/v2/projects/{project_id}/apps"),
    ("post", "/v2/projects/{project_id}/apps"),
    ("get", "/v2/projects/{project_id}/apps/{app_id}"),
    ("post", "/v2/projects/{project_id}/apps/{app_id}"),
    ("delete", "/v2/projects/{project_id}/apps/{app_id}"),
    (
        "get",
        "/v2/projects/{project_id}/apps/{app_id}/public_api_keys",
    ),
    ("get", "/v2/projects/{project_id}/api_keys"),
    ("post", "/v2/projects/{project_id}/api_keys"),
    ("get", "/v2/projects/{project_id}/api_keys/{key_id}"),
    ("delete", "/v2/projects/{project_id}/api_keys/{key_id}"),
    ("get", "/v2/projects/{project_id}/audit_logs"),
    ("get", "/v2/projects/{project_id}/products"),
    ("post", "/v2/projects/{project_id}/products"),
    ("get", "/v2/projects/{project_id}/products/{product_id}"),
    ("delete", "/v2/projects/{project_id}/products/{product_id}"),
    ("get", "/v2/projects/{project_id}/entitlements"),
    ("post", "/v2/projects/{project_id}/entitlements"),
    (
        "get",
        "/v2/projects/{project_id}/entitlements/{entitlement_id}",
    ),
    (
        "post",
        "/v2/projects/{project_id}/entitlements/{entitlement_id}",
    ),
    (
        "delete",
        "/v2/projects/{project_id}/entitlements/{entitlement_id}",
    ),
    (
        "get",
        "/v2/projects/{project_id}/entitlements/{entitlement_id}/products",
    ),
    (
        "post",
        "/v2/projects/{project_id}/entitlements/{entitlement_id}/actions/attach_products",
    ),
    (
        "post",
        "/v2/projects/{project_id}/entitlements/{entitlement_id}/actions/detach_products",
    ),
    ("get", "/v2/projects/{project_id}/offerings"),
    ("post", "/v2/projects/{project_id}/offerings"),
    ("get", "/v2/projects/{project_id}/offerings/{offering_id}"),
    ("post", "/v2/projects/{project_id}/offerings/{offering_id}"),
    (
        "delete",
        "/v2/projects/{project_id}/offerings/{offering_id}",
    ),
    (
        "get",
        "/v2/projects/{project_id}/offerings/{offering_id}/packages",
    ),
    (
        "post",
        "/v2/projects/{project_id}/offerings/{offering_id}/packages",
    ),
    ("get", "/v2/projects/{project_id}/packages/{package_id}"),
    ("post", "/v2/projects/{project_id}/packages/{package_id}"),
    ("delete", "/v2/projects/{project_id}/packages/{package_id}"),
    (
        "get",
        "/v2/projects/{project_id}/packages/{package_id}/products",
    ),
    (
        "post",
        "/v2/projects/{project_id}/packages/{package_id}/actions/attach_products",
    ),
    (
        "post",
        "/v2/projects/{project_id}/packages/{package_id}/actions/detach_products",
    ),
    ("get", "/v2/projects/{project_id}/customers"),
    ("post", "/v2/projects/{project_id}/customers"),
    ("get", "/v2/projects/{project_id}/customers/{customer_id}"),
    (
        "delete",
        "/v2/projects/{project_id}/customers/{customer_id}",
    ),
    (
        "get",
        "/v2/projects/{project_id}/customers/{customer_id}/aliases",
    ),
    (
        "get",
        "/v2/projects/{project_id}/customers/{customer_id}/attributes",
    ),
    (
        "post",
        "/v2/projects/{project_id}/customers/{customer_id}/attributes",
    ),
    (
        "get",
        "/v2/projects/{project_id}/customers/{customer_id}/active_entitlements",
    ),
    (
        "get",
        "/v2/projects/{project_id}/customers/{customer_id}/subscriptions",
    ),
    (
        "get",
        "/v2/projects/{project_id}/customers/{customer_id}/purchases",
    ),
    (
        "post",
        "/v2/projects/{project_id}/customers/{customer_id}/actions/grant_entitlement",
    ),
    (
        "post",
        "/v2/projects/{project_id}/customers/{customer_id}/actions/revoke_granted_entitlement",
    ),
    (
        "post",
        "/v2/projects/{project_id}/customers/{customer_id}/actions/assign_offering",
    ),
    (
        "post",
        "/v2/projects/{project_id}/customers/{customer_id}/actions/transfer",
    ),
    ("get", "/v1/subscribers/{app_user_id}"),
    ("delete", "/v1/subscribers/{app_user_id}"),
    ("post", "/v1/subscribers/identify"),
    ("post", "/v1/subscribers/{app_user_id}/attributes"),
    ("post", "/v1/receipts"),
    (
        "post",
        "/v1/incoming-webhooks/apple-server-to-server-notification/{app_id}",
    ),
    (
        "post",
        "/v1/incoming-webhooks/google-server-to-server-notification/{app_id}",
    ),
    ("get", "/v1/subscribers/{app_user_id}/offerings"),
    ("get", "/v1/product_entitlement_mapping"),
    ("post", "/v1/subscribers/{app_user_id}/intro_eligibility"),
    (
        "post",
        "/v1/subscribers/{app_user_id}/entitlements/{entitlement_identifier}/promotional",
    ),
    (
        "post",
        "/v1/subscribers/{app_user_id}/entitlements/{entitlement_identifier}/revoke_promotionals",
    ),
    (
        "post",
        "/v2/projects/{project_id}/test_store/transactions/{transaction_id}/actions",
    ),
    ("post", "/v2/projects/{project_id}/test_store/clock"),
    ("post", "/v2/projects/{project_id}/test_store/outage"),
    ("get", "/rcbilling/v1/subscribers/{app_user_id}/products"),
    ("get", "/v1/subscribers/{app_user_id}/virtual_currencies"),
    ("get", "/v2/projects/{project_id}/integrations/webhooks"),
    ("post", "/v2/projects/{project_id}/integrations/webhooks"),
    (
        "get",
        "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}",
    ),
    (
        "post",
        "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}",
    ),
    (
        "delete",
        "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}",
    ),
    (
        "get",
        "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}/deliveries",
    ),
    (
        "post",
        "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}/actions/test",
    ),
    (
        "post",
        "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}/actions/rotate_signing_secret",
    ),
    (
        "post",
        "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}/actions/redeliver",
    ),
    ("get", "/v2/projects/{project_id}/jobs/{job_id}"),
    ("get", "/v2/projects/{project_id}/jobs/{job_id}/file"),
    ("post", "/v2/projects/{project_id}/customers/exports"),
    ("post", "/v2/projects/{project_id}/imports"),
    ("get", "/openapi.json"),
    ("get", "/docs/errors"),
];

fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut operations = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            operations.push((method.clone(), path.clone()));
        }
    }
    operations.sort();
    operations
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_exactly_the_served_routes() {
    let server = TestServer::start(Db::Sqlite).await.expect("sqlite");
    let (status, headers, doc) = send(server.request(Method::GET, "/openapi.json")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let mut served: Vec<(String, String)> = SERVED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    served.sort();
    assert_eq!(documented(&doc), served);
    for schema in ["Error", "AppView", "ApiKeyView", "CreateAppBody"] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema} missing"
        );
    }
}

#[tokio::test]
async fn every_served_route_answers_and_no_other_does() {
    let server = TestServer::start(Db::Sqlite).await.expect("sqlite");
    for (method, path) in SERVED {
        let concrete = path
            .replace("{project_id}", &server.project_id)
            .replace("{app_id}", "appnope")
            .replace("{key_id}", "keynope")
            .replace("{product_id}", "prodnope")
            .replace("{entitlement_id}", "entlnope")
            .replace("{offering_id}", "ofrngnope")
            .replace("{package_id}", "pkgenope")
            .replace("{customer_id}", "nobody")
            .replace("{app_user_id}", "nobody")
            .replace("{entitlement_identifier}", "nope")
            .replace("{transaction_id}", "nope")
            .replace("{webhook_integration_id}", "whknope")
            .replace("{job_id}", "jobnope");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, _, body) = send(server.secret(method.clone(), &concrete)).await;
        let route_missing = status == 404 && body["message"] == "No such route";
        assert!(
            !route_missing,
            "{method} {path} is documented but not routed"
        );
    }
}

/// Routes are only ever registered through `utoipa_axum::routes!` (which documents them):
/// the HTTP crate's sources must not call axum's undocumented `.route(…)` / `.nest(…)`.
#[test]
fn no_route_bypasses_the_document() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../entitled-server/src");
    let mut offenders = vec![];
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read file");
                for needle in [
                    ".route(",
                    ".route_service(",
                    ".nest(",
                    ".nest_service(",
                    ".merge(",
                ] {
                    if text.contains(needle) {
                        offenders.push(format!("{} uses {needle}", path.display()));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "undocumented routes: {offenders:?}");
}
