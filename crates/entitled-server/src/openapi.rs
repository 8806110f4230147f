//! The route table and the OpenAPI 3.1 document generated from it.
//!
//! Every route is registered here through `utoipa_axum::routes!`, which adds the handler to
//! the router and its `#[utoipa::path]` to the document in one step, so the two cannot
//! drift; a test checks that no route is added any other way.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi as _};
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
        .routes(routes!(v1::offerings::get_offerings))
        .routes(routes!(v1::offerings::product_entitlement_mapping))
        .routes(routes!(v1::offerings::intro_eligibility))
        .routes(routes!(v1::web_billing::products))
        .routes(routes!(v1::web_billing::virtual_currencies))
        .routes(routes!(v1::promotional::grant))
        .routes(routes!(v1::promotional::revoke))
        .routes(routes!(v2::test_store::act))
        .routes(routes!(v2::test_store::advance_clock))
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
    api_router().split_for_parts().1
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
