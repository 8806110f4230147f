//! `GET /v1/subscribers/{app_user_id}/offerings` and `GET /v1/product_entitlement_mapping`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use entitled_storage::PageRequest;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, V1ErrorBody};
use crate::pagination::MAX_LIMIT;
use crate::subscribers::{check_app_user_id, find_or_create};

fn everything() -> PageRequest {
    PageRequest {
        starting_after: None,
        limit: MAX_LIMIT,
    }
}

/// The project's offerings with, in each package, the product of the calling key's app.
#[utoipa::path(get, path = "/v1/subscribers/{app_user_id}/offerings", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id")),
    responses(
        (status = 200, description = "Offerings", body = Object),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody)))]
pub async fn get_offerings(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_app_user_id(&app_user_id, "app_user_id")?;
    let project_id = caller.project_id();
    let (customer, _) = find_or_create(&state, project_id, &app_user_id, state.now()).await?;
    let offerings = state
        .storage
        .list_offerings(project_id, &everything())
        .await?
        .items;
    let offering_ids: Vec<String> = offerings.iter().map(|o| o.id.clone()).collect();
    let mut packages = state
        .storage
        .packages_of_offerings(project_id, &offering_ids)
        .await?;
    packages.sort_by_key(|p| (p.position.unwrap_or(i64::MAX), p.created_at));
    let package_ids: Vec<String> = packages.iter().map(|p| p.id.clone()).collect();
    let mut products: BTreeMap<String, Vec<entitled_core::PackageProduct>> = BTreeMap::new();
    for (package_id, attached) in state
        .storage
        .products_of_packages(project_id, &package_ids)
        .await?
    {
        products.entry(package_id).or_default().push(attached);
    }
    let app_id = caller.key.app_id.as_deref();
    let rendered: Vec<Value> = offerings
        .iter()
        .map(|offering| {
            let offering_packages: Vec<Value> = packages
                .iter()
                .filter(|p| p.offering_id == offering.id)
                .filter_map(|package| {
                    let attached = products.get(&package.id)?;
                    let product = match app_id {
                        Some(app_id) => attached.iter().find(|a| a.product.app_id == app_id),
                        None => attached.first(),
                    }?;
                    Some(json!({
                        "identifier": package.lookup_key,
                        "platform_product_identifier": product.product.store_identifier,
                    }))
                })
                .collect();
            json!({
                "identifier": offering.lookup_key,
                "description": offering.display_name,
                "metadata": offering.metadata,
                "packages": offering_packages,
            })
        })
        .collect();
    let assigned = customer
        .offering_id
        .as_deref()
        .and_then(|id| offerings.iter().find(|o| o.id == id));
    let current = assigned
        .or_else(|| offerings.iter().find(|o| o.is_current))
        .map(|o| o.lookup_key.clone());
    Ok(Json(json!({
        "current_offering_id": current,
        "offerings": rendered,
    })))
}

/// Which store products unlock which entitlements.
#[utoipa::path(get, path = "/v1/product_entitlement_mapping", tag = "v1",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Product → entitlements", body = Object),
        (status = 401, body = V1ErrorBody)))]
pub async fn product_entitlement_mapping(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.storage.catalog_view(caller.project_id()).await?;
    let mapping: BTreeMap<String, Value> = catalog
        .entitlements_by_product
        .into_iter()
        .map(|(product, entitlements)| {
            let entry = json!({"product_identifier": product, "entitlements": entitlements});
            (product, entry)
        })
        .collect();
    Ok(Json(json!({"product_entitlement_mapping": mapping})))
}

/// The body iOS posts to ask about introductory offers.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct IntroEligibilityBody {
    /// The products to ask about.
    pub product_identifiers: Vec<String>,
}

/// Whether the customer may still get each product's introductory offer: `true` unless
/// they bought it (or anything of its subscription) before.
#[utoipa::path(post, path = "/v1/subscribers/{app_user_id}/intro_eligibility", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id")),
    request_body = IntroEligibilityBody,
    responses(
        (status = 200, description = "Product id → eligible", body = Object),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody)))]
pub async fn intro_eligibility(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_user_id): Path<String>,
    crate::extract::ApiJson(body): crate::extract::ApiJson<IntroEligibilityBody>,
) -> Result<Json<Value>, ApiError> {
    check_app_user_id(&app_user_id, "app_user_id")?;
    if body.product_identifiers.len() > 1000 {
        return Err(ApiError::parameter(
            "product_identifiers",
            "at most 1000 products",
        ));
    }
    let bought: std::collections::BTreeSet<String> = match state
        .storage
        .find_customer(caller.project_id(), &app_user_id)
        .await?
    {
        Some(customer) => state
            .storage
            .transactions_of(&customer.key)
            .await?
            .into_iter()
            .map(|t| t.product_id)
            .collect(),
        None => Default::default(),
    };
    let answer: serde_json::Map<String, Value> = body
        .product_identifiers
        .into_iter()
        .map(|id| {
            let eligible = !bought.contains(&id);
            (id, Value::Bool(eligible))
        })
        .collect();
    Ok(Json(Value::Object(answer)))
}
