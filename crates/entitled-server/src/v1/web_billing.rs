//! What RevenueCat's web SDK (purchases-js) asks besides v1: product prices
//! (`/rcbilling/v1/subscribers/{id}/products`) and virtual currency balances.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use entitled_core::{Product, ProductType};
use entitled_storage::PageRequest;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, V1ErrorBody};
use crate::pagination::MAX_LIMIT;
use crate::subscribers::check_app_user_id;

/// The option id every test-store product is sold under.
const OPTION_ID: &str = "base_option";

/// A product as purchases-js decodes it (`src/networking/responses/products-response.ts`),
/// or `None` when it has no price (the SDK drops such products).
fn product_details(product: &Product) -> Option<Value> {
    let price = product.test_store_price.as_ref()?;
    let price_json = json!({"amount_micros": price.amount_micros, "currency": price.currency});
    let (product_type, option) = match product.product_type {
        ProductType::Subscription | ProductType::NonRenewingSubscription => (
            "subscription",
            json!({
                "id": OPTION_ID, "price_id": format!("price_{}", product.id), "discount": null,
                "base": {
                    "period_duration": product.subscription_duration.as_deref().unwrap_or("P1M"),
                    "price": price_json, "cycle_count": 0
                },
                "trial": null, "intro_price": null,
            }),
        ),
        ProductType::Consumable => (
            "consumable",
            json!({"id": OPTION_ID, "price_id": format!("price_{}", product.id), "discount": null, "base_price": price_json}),
        ),
        ProductType::NonConsumable | ProductType::OneTime => (
            "non_consumable",
            json!({"id": OPTION_ID, "price_id": format!("price_{}", product.id), "discount": null, "base_price": price_json}),
        ),
    };
    Some(json!({
        "identifier": product.store_identifier,
        "product_type": product_type,
        "title": product.display_name.clone().unwrap_or_else(|| product.store_identifier.clone()),
        "description": null,
        "default_purchase_option_id": OPTION_ID,
        "purchase_options": { OPTION_ID: option },
    }))
}

/// Prices of the calling app's products named by `id` query parameters.
#[utoipa::path(get, path = "/rcbilling/v1/subscribers/{app_user_id}/products", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id"),
        ("id" = Vec<String>, Query, description = "Store product identifiers (repeated)")),
    responses(
        (status = 200, description = "Product details with prices", body = Object),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody)))]
pub async fn products(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_user_id): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    check_app_user_id(&app_user_id, "app_user_id")?;
    let wanted: Vec<String> = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == "id")
        .map(|(_, value)| value.into_owned())
        .collect();
    if wanted.len() > 1000 {
        return Err(ApiError::parameter("id", "at most 1000 products at once"));
    }
    let all = PageRequest {
        starting_after: None,
        limit: MAX_LIMIT,
    };
    let products = state
        .storage
        .list_products(caller.project_id(), caller.key.app_id.as_deref(), &all)
        .await?
        .items;
    let details: Vec<Value> = products
        .iter()
        .filter(|p| wanted.contains(&p.store_identifier))
        .filter_map(product_details)
        .collect();
    Ok(Json(json!({"product_details": details})))
}

/// Virtual currency balances. entitled has no virtual currencies yet, so every balance list
/// is empty (`{"virtual_currencies": {}}`), which the SDKs accept.
#[utoipa::path(get, path = "/v1/subscribers/{app_user_id}/virtual_currencies", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id")),
    responses(
        (status = 200, description = "Balances by currency code", body = Object),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody)))]
pub async fn virtual_currencies(
    _authenticated: Caller,
    Path(app_user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_app_user_id(&app_user_id, "app_user_id")?;
    Ok(Json(json!({"virtual_currencies": {}})))
}
