//! `/v2/projects/{project_id}/products`: store products of the project's apps.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::validation::{display_name, iso_period, store_identifier};
use entitled_core::{AuditEntry, IdKind, Product, ProductType, Scope, new_id};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::expand::Expand;
use crate::extract::{ApiJson, ApiQuery, ForceParams};
use crate::pagination::{ListBody, next_cursor, page_request};
use crate::v2::apps::AppView;

const PRODUCTS: &str = "project_configuration:products";

/// Billing details of a subscription product.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionDetails {
    /// The billing period, an ISO 8601 duration (e.g. `P1M`), if known.
    pub duration: Option<String>,
    /// Grace period length, if configured (not yet: always null).
    pub grace_period_duration: Option<String>,
    /// Trial length, if configured (not yet: always null).
    pub trial_duration: Option<String>,
}

/// Details of a one-time product.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OneTimeDetails {
    /// Whether it is used up when bought (null when the store decides).
    pub is_consumable: Option<bool>,
}

/// A product as v2 shows it (RevenueCat's `Product`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductView {
    /// Always `product`.
    pub object: &'static str,
    /// `prod…`.
    pub id: String,
    /// The store's identifier for it.
    pub store_identifier: String,
    /// What it sells.
    #[serde(rename = "type")]
    pub product_type: &'static str,
    /// Subscription details, for subscriptions.
    pub subscription: Option<SubscriptionDetails>,
    /// One-time details, for one-time products.
    pub one_time: Option<OneTimeDetails>,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// The app it belongs to.
    pub app_id: String,
    /// The app, with `expand=app` (or `items.app` on lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppView>,
    /// A name for people.
    pub display_name: Option<String>,
}

impl From<Product> for ProductView {
    fn from(product: Product) -> Self {
        let subscription = matches!(
            product.product_type,
            ProductType::Subscription | ProductType::NonRenewingSubscription
        )
        .then(|| SubscriptionDetails {
            duration: product.subscription_duration.clone(),
            grace_period_duration: None,
            trial_duration: None,
        });
        let one_time = match product.product_type {
            ProductType::Consumable => Some(Some(true)),
            ProductType::NonConsumable => Some(Some(false)),
            ProductType::OneTime => Some(None),
            _ => None,
        }
        .map(|is_consumable| OneTimeDetails { is_consumable });
        Self {
            object: "product",
            id: product.id,
            store_identifier: product.store_identifier,
            product_type: product.product_type.as_str(),
            subscription,
            one_time,
            created_at: product.created_at.0,
            app_id: product.app_id,
            app: None,
            display_name: product.display_name,
        }
    }
}

/// `subscription` in a create body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// The billing period, an ISO 8601 duration such as `P1M`.
    pub duration: String,
}

/// The body of `POST …/products`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductBody {
    /// The store's identifier, unique per app.
    pub store_identifier: String,
    /// The app that sells it.
    pub app_id: String,
    /// `subscription`, `one_time`, `consumable`, `non_consumable` or `non_renewing_subscription`.
    #[serde(rename = "type")]
    #[schema(
        pattern = "^(subscription|one_time|consumable|non_consumable|non_renewing_subscription)$"
    )]
    pub product_type: String,
    /// A name for people.
    pub display_name: Option<String>,
    /// Subscription details (subscription types only).
    pub subscription: Option<SubscriptionInput>,
    /// Accepted for compatibility; stored as the display name when that is absent.
    pub title: Option<String>,
    /// What the test store charges (test-store apps only; an entitled addition, not shown
    /// in answers, whose schema RevenueCat closes).
    pub test_store_price: Option<PriceInput>,
}

/// A price: integer micros and an ISO 4217 currency.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// Millionths of the currency unit: 4.99 is 4990000.
    pub amount_micros: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
}

/// Query of `GET …/products`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductListParams {
    /// Only the products of this app.
    pub app_id: Option<String>,
    /// Return products created after the one with this id.
    pub starting_after: Option<String>,
    /// Page size, 1 to 1000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Embeds each product's app where `expand` asks for it.
async fn with_apps(
    state: &AppState,
    project_id: &str,
    products: Vec<Product>,
    expand_app: bool,
) -> Result<Vec<ProductView>, ApiError> {
    let mut views = Vec::with_capacity(products.len());
    let mut apps: Vec<entitled_core::App> = Vec::new();
    for product in products {
        let app = if expand_app {
            match apps.iter().find(|a| a.id == product.app_id) {
                Some(app) => Some(app.clone()),
                None => {
                    let app = state.storage.get_app(project_id, &product.app_id).await?;
                    apps.extend(app.clone());
                    app
                }
            }
        } else {
            None
        };
        let mut view = ProductView::from(product);
        view.app = app.map(AppView::from);
        views.push(view);
    }
    Ok(views)
}

/// Lists the project's products, optionally of one app.
#[utoipa::path(get, path = "/v2/projects/{project_id}/products", tag = "products",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"), ProductListParams,
        ("expand" = Option<Vec<String>>, Query, description = "`items.app`")),
    responses(
        (status = 200, description = "A page of products", body = ListBody<ProductView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiQuery(params): ApiQuery<ProductListParams>,
    expand: Expand,
) -> Result<Json<ListBody<ProductView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(PRODUCTS))?;
    let expand = expand.only(&["items.app"])?;
    let request = page_request(params.starting_after.as_deref(), params.limit)?;
    let page = state
        .storage
        .list_products(&project_id, params.app_id.as_deref(), &request)
        .await?;
    let cursor = next_cursor(&page, |p| p.id.as_str());
    let items = with_apps(&state, &project_id, page.items, expand.has("items.app")).await?;
    let url = format!("/v2/projects/{project_id}/products");
    Ok(Json(ListBody::paged(items, cursor, url, request.limit)))
}

/// Creates a product of one of the project's apps.
#[utoipa::path(post, path = "/v2/projects/{project_id}/products", tag = "products",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = CreateProductBody,
    responses(
        (status = 201, description = "The created product", body = ProductView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<CreateProductBody>,
) -> Result<(StatusCode, Json<ProductView>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(PRODUCTS))?;
    let product_type = ProductType::parse(&body.product_type, "type")?;
    let subscription_duration = match body.subscription {
        Some(subscription) => {
            if !matches!(
                product_type,
                ProductType::Subscription | ProductType::NonRenewingSubscription
            ) {
                return Err(ApiError::parameter(
                    "subscription",
                    "only subscription products have subscription details",
                ));
            }
            Some(iso_period(&subscription.duration, "subscription.duration")?)
        }
        None => None,
    };
    let display = match body.display_name.or(body.title) {
        Some(name) => Some(display_name(&name, "display_name", 1500)?),
        None => None,
    };
    let test_store_price = match body.test_store_price {
        Some(price) => {
            let valid_currency =
                price.currency.len() == 3 && price.currency.chars().all(|c| c.is_ascii_uppercase());
            if price.amount_micros < 0 || !valid_currency {
                return Err(ApiError::parameter(
                    "test_store_price",
                    "test_store_price needs amount_micros ≥ 0 and a currency like USD",
                ));
            }
            Some(entitled_core::purchases::Money {
                amount_micros: price.amount_micros,
                currency: price.currency,
            })
        }
        None => None,
    };
    let now = state.now();
    let product = Product {
        id: new_id(IdKind::Product),
        project_id: project_id.clone(),
        app_id: body.app_id,
        store_identifier: store_identifier(&body.store_identifier, "store_identifier")?,
        product_type,
        display_name: display,
        subscription_duration,
        test_store_price,
        created_at: now,
    };
    let audit = AuditEntry::new(
        &project_id,
        "product",
        &product.id,
        "created",
        &caller.actor(),
        now,
        json!({"store_identifier": product.store_identifier, "app_id": product.app_id}),
    );
    state.storage.create_product(&product, &audit).await?;
    Ok((StatusCode::CREATED, Json(product.into())))
}

/// One product.
#[utoipa::path(get, path = "/v2/projects/{project_id}/products/{product_id}", tag = "products",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("product_id" = String, Path, description = "The product"),
        ("expand" = Option<Vec<String>>, Query, description = "`app`")),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, product_id)): Path<(String, String)>,
    expand: Expand,
) -> Result<Json<ProductView>, ApiError> {
    caller.authorize(&project_id, Scope::read(PRODUCTS))?;
    let expand = expand.only(&["app"])?;
    let product = state
        .storage
        .get_product(&project_id, &product_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Product"))?;
    let mut views = with_apps(&state, &project_id, vec![product], expand.has("app")).await?;
    views
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Product"))
}

/// Deletes a product; one used by entitlements or packages needs `force=true`.
#[utoipa::path(delete, path = "/v2/projects/{project_id}/products/{product_id}", tag = "products",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("product_id" = String, Path, description = "The product"), ForceParams),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_product(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, product_id)): Path<(String, String)>,
    ApiQuery(force): ApiQuery<ForceParams>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(PRODUCTS))?;
    let force = force.force.unwrap_or(false);
    let audit = AuditEntry::new(
        &project_id,
        "product",
        &product_id,
        "deleted",
        &caller.actor(),
        state.now(),
        json!({"force": force}),
    );
    state
        .storage
        .delete_product(&project_id, &product_id, force, &audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
