//! The route table and the OpenAPI 3.1 document generated from it.
//!
//! Every route is registered here through `utoipa_axum::routes!`, which adds the handler to
//! the router and its `#[utoipa::path]` to the document in one step, so the two cannot
//! drift; a test checks that no route is added any other way.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use entitled_core::rate_limits::Domain;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};
use utoipa::{Modify, OpenApi as _, PartialSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::{v1, v2};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "entitled",
        description = "Self-hosted backend for in-app subscriptions, speaking RevenueCat's v1 (SDK) and v2 (management) APIs."
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every route of the server, each with its OpenAPI operation.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(v1::health::health))
        .routes(routes!(v1::health::ready))
        .routes(routes!(v1::coffee::brew))
        .routes(routes!(v2::coffee::brew))
        .routes(routes!(v2::projects::list_projects))
        .routes(routes!(v2::apps::list_apps, v2::apps::create_app))
        .routes(routes!(
            v2::apps::get_app,
            v2::apps::update_app,
            v2::apps::delete_app
        ))
        .routes(routes!(v2::apps::list_public_api_keys))
        .routes(routes!(
            v2::api_keys::list_api_keys,
            v2::api_keys::create_api_key
        ))
        .routes(routes!(
            v2::api_keys::get_api_key,
            v2::api_keys::revoke_api_key
        ))
        .routes(routes!(v2::audit_logs::list_audit_logs))
        .routes(routes!(
            v2::products::list_products,
            v2::products::create_product
        ))
        .routes(routes!(
            v2::products::get_product,
            v2::products::delete_product
        ))
        .routes(routes!(
            v2::entitlements::list_entitlements,
            v2::entitlements::create_entitlement
        ))
        .routes(routes!(
            v2::entitlements::get_entitlement,
            v2::entitlements::update_entitlement,
            v2::entitlements::delete_entitlement
        ))
        .routes(routes!(v2::entitlements::list_entitlement_products))
        .routes(routes!(v2::entitlements::attach_products))
        .routes(routes!(v2::entitlements::detach_products))
        .routes(routes!(
            v2::offerings::list_offerings,
            v2::offerings::create_offering
        ))
        .routes(routes!(
            v2::offerings::get_offering,
            v2::offerings::update_offering,
            v2::offerings::delete_offering
        ))
        .routes(routes!(
            v2::packages::list_packages,
            v2::packages::create_package
        ))
        .routes(routes!(
            v2::packages::get_package,
            v2::packages::update_package,
            v2::packages::delete_package
        ))
        .routes(routes!(v2::packages::list_package_products))
        .routes(routes!(v2::packages::attach_products))
        .routes(routes!(v2::packages::detach_products))
        .routes(routes!(
            v2::customers::list_customers,
            v2::customers::create_customer
        ))
        .routes(routes!(
            v2::customers::get_customer,
            v2::customers::delete_customer
        ))
        .routes(routes!(v2::customers::list_aliases))
        .routes(routes!(
            v2::customers::list_attributes,
            v2::customers::set_attributes
        ))
        .routes(routes!(v2::customers::list_active_entitlements))
        .routes(routes!(v2::customers::list_subscriptions))
        .routes(routes!(v2::customers::list_purchases))
        .routes(routes!(v2::customer_actions::grant_entitlement))
        .routes(routes!(v2::customer_actions::revoke_granted_entitlement))
        .routes(routes!(v2::customer_actions::assign_offering))
        .routes(routes!(v2::customer_actions::transfer))
        .routes(routes!(
            v1::subscribers::get_subscriber,
            v1::subscribers::delete_subscriber
        ))
        .routes(routes!(v1::subscribers::identify))
        .routes(routes!(v1::subscribers::set_attributes))
        .routes(routes!(v1::receipts::post_receipt))
        .routes(routes!(v1::app_store_notifications::receive))
        .routes(routes!(v1::play_store_notifications::receive))
        .routes(routes!(v1::offerings::get_offerings))
        .routes(routes!(v1::offerings::product_entitlement_mapping))
        .routes(routes!(v1::offerings::intro_eligibility))
        .routes(routes!(v1::web_billing::products))
        .routes(routes!(v1::web_billing::virtual_currencies))
        .routes(routes!(v1::promotional::grant))
        .routes(routes!(v1::promotional::revoke))
        .routes(routes!(v2::test_store::act))
        .routes(routes!(v2::test_store::advance_clock))
        .routes(routes!(v2::test_store_outage::set_outage))
        .routes(routes!(
            v2::webhooks::list_integrations,
            v2::webhooks::create_integration
        ))
        .routes(routes!(
            v2::webhooks::get_integration,
            v2::webhooks::update_integration,
            v2::webhooks::delete_integration
        ))
        .routes(routes!(v2::webhooks::list_deliveries))
        .routes(routes!(v2::webhooks::send_test))
        .routes(routes!(v2::webhooks::rotate_signing_secret))
        .routes(routes!(v2::webhooks::redeliver))
        .routes(routes!(v2::jobs::get_job))
        .routes(routes!(v2::jobs::job_file))
        .routes(routes!(v2::jobs::start_export))
        .routes(routes!(v2::jobs::start_import))
        .routes(routes!(openapi_json))
        .routes(routes!(error_docs))
}

/// The OpenAPI document of this server.
pub fn document() -> OpenApi {
    let mut document = api_router().split_for_parts().1;
    // After the routes: `ApiDoc`'s own modifiers run before any path is in the document.
    ContractErrors.modify(&mut document);
    document
}

/// Documents, on every operation, the contract's errors (`shared/spec/error-codes.md`) that
/// come from the layers around the handlers rather than from the handler itself, each with
/// the error body of the path's dialect (v2 `Error`, v1 `V1ErrorBody`):
///
/// - 400 where the operation reads a body or a query string (malformed JSON, wrong types,
///   wrong content type, oversized body);
/// - 401 on operations that take a key (missing, malformed, unknown or revoked), 403 on the
///   v2 ones among them (permission, another project's key, a public SDK key);
/// - 404 where the path names something that may not exist (not the project, not v1's app
///   user: see [`NEVER_MISSING`]);
/// - 429 on the paths a rate limit counts ([`Domain::of_path`]);
/// - 500 everywhere (a bug; the message names the request id), 503 everywhere (draining,
///   overload shedding, storage unreachable).
///
/// A status an operation documents itself is left as it is. Handler-specific errors (409,
/// 422, 423) stay in each handler's `#[utoipa::path]`.
pub struct ContractErrors;

impl Modify for ContractErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, schema) in [
            ("Error", crate::error::ErrorBody::schema()),
            ("V1ErrorBody", crate::error::V1ErrorBody::schema()),
        ] {
            components.schemas.entry(name.to_string()).or_insert(schema);
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let v1 = crate::error::speaks_v1(path);
            let rate_limited = Domain::of_path(path).is_some();
            // Unknown projects are 403 (the key's project), unknown app users are created.
            let names_something = path
                .split('/')
                .any(|segment| segment.starts_with('{') && !NEVER_MISSING.contains(&segment));
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let reads_input =
                    operation.request_body.is_some()
                        || operation.parameters.iter().flatten().any(
                            |p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query),
                        );
                let applies = [
                    (400, reads_input),
                    (401, secured),
                    (403, secured && !v1),
                    (404, names_something),
                    (429, rate_limited),
                    (500, true),
                    (503, true),
                ];
                for (status, applies) in applies {
                    if applies {
                        add_error_response(operation, status, v1);
                    }
                }
            }
        }
    }
}

/// Path parameters whose value cannot be "not found": the project (another project's id is
/// 403) and v1's app user id (customers are created on first sight).
const NEVER_MISSING: [&str; 2] = ["{project_id}", "{app_user_id}"];

/// Adds the contract's `status` response to `operation` unless it documents one already.
fn add_error_response(operation: &mut Operation, status: u16, v1: bool) {
    let description = match status {
        400 => "The request is malformed or a parameter is invalid",
        401 => "No API key, or a malformed, unknown or revoked one",
        403 => "The key may not do this (permission, project or key type)",
        404 => "Nothing of that id exists",
        429 => "Rate limited: retry after `Retry-After` seconds",
        500 => "An internal error (a bug); the message names the request id",
        _ => "Draining, overloaded or storage unreachable: retry after `Retry-After` seconds",
    };
    let schema = if v1 { "V1ErrorBody" } else { "Error" };
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name(schema))),
    );
    if status == 429 || status == 503 {
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(seconds))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(response.build()));
}

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
});

/// This server's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT_JSON.as_str(),
    )
}

/// What each error type means (the target of every error's `doc_url`).
#[utoipa::path(get, path = "/docs/errors", tag = "meta",
    responses((status = 200, description = "The error types, in Markdown", content_type = "text/markdown")))]
pub async fn error_docs() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        include_str!("../../../docs/errors.md"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::to_value(super::document()).expect("document as JSON")
    }

    fn error_schema(response: &Value) -> &str {
        response["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_default()
    }

    #[test]
    fn every_operation_documents_the_contract_errors_of_its_dialect() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("path item") {
                let responses = &operation["responses"];
                for status in ["500", "503"] {
                    assert!(
                        responses.get(status).is_some(),
                        "{method} {path} lacks {status}"
                    );
                }
                if operation.get("security").is_some() {
                    assert!(responses.get("401").is_some(), "{method} {path} lacks 401");
                }
            }
        }
        let v2 = &doc["paths"]["/v2/projects/{project_id}/apps"]["get"]["responses"];
        assert_eq!(error_schema(&v2["429"]), "#/components/schemas/Error");
        assert!(v2["429"]["headers"].get("Retry-After").is_some());
        let one_app = &doc["paths"]["/v2/projects/{project_id}/apps/{app_id}/public_api_keys"]["get"]
            ["responses"];
        assert_eq!(error_schema(&one_app["404"]), "#/components/schemas/Error");
        let v1 = &doc["paths"]["/v1/subscribers/{app_user_id}"]["get"]["responses"];
        assert_eq!(error_schema(&v1["503"]), "#/components/schemas/V1ErrorBody");
        assert!(
            v1.get("403").is_none(),
            "public SDK endpoints never answer 403"
        );
        // Handlers' own descriptions win over the generic ones.
        let ready = &doc["paths"]["/v1/health/ready"]["get"]["responses"]["503"];
        assert_eq!(ready["description"], "Storage is unreachable");
        // Nothing to read, nothing named: no 400, no 404.
        let health = &doc["paths"]["/v1/health"]["get"]["responses"];
        assert!(health.get("400").is_none() && health.get("404").is_none());
        let apps = &doc["paths"]["/v2/projects/{project_id}/apps"]["get"]["responses"];
        assert!(apps.get("404").is_none(), "an unknown project is 403");
    }
}
