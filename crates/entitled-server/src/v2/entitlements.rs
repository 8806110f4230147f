//! `/v2/projects/{project_id}/entitlements`: levels of access and the products that unlock them.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::validation::{display_name, lookup_key};
use entitled_core::{AuditEntry, Entitlement, IdKind, Product, Scope, new_id};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::expand::Expand;
use crate::extract::{ApiJson, ApiQuery, ForceParams, id_list};
use crate::pagination::{ListBody, ListParams, next_cursor};
use crate::v2::products::ProductView;

const ENTITLEMENTS: &str = "project_configuration:entitlements";

/// An entitlement as v2 shows it (RevenueCat's `Entitlement`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntitlementView {
    /// Always `entitlement`.
    pub object: &'static str,
    /// The owning project.
    pub project_id: String,
    /// `entl…`.
    pub id: String,
    /// The key apps check.
    pub lookup_key: String,
    /// A name for people.
    pub display_name: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// The products unlocking it, with `expand=product` (`items.product` on lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub products: Option<ListBody<ProductView>>,
}

impl From<Entitlement> for EntitlementView {
    fn from(entitlement: Entitlement) -> Self {
        Self {
            object: "entitlement",
            project_id: entitlement.project_id,
            id: entitlement.id,
            lookup_key: entitlement.lookup_key,
            display_name: entitlement.display_name,
            created_at: entitlement.created_at.0,
            products: None,
        }
    }
}

/// The body of `POST …/entitlements`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEntitlementBody {
    /// The key apps check, unique in the project: 1 to 200 of letters, digits, `_ - . $ :`.
    pub lookup_key: String,
    /// A name for people, 1 to 1500 characters.
    pub display_name: String,
}

/// The body of `POST …/entitlements/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEntitlementBody {
    /// The new name.
    pub display_name: String,
}

/// The body of `…/actions/attach_products` and `detach_products`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductIdsBody {
    /// 1 to 50 product ids.
    pub product_ids: Vec<String>,
}

fn url(project_id: &str) -> String {
    format!("/v2/projects/{project_id}/entitlements")
}

/// Renders entitlements, embedding their products when asked.
async fn render(
    state: &AppState,
    project_id: &str,
    entitlements: Vec<Entitlement>,
    with_products: bool,
) -> Result<Vec<EntitlementView>, ApiError> {
    let mut products: HashMap<String, Vec<Product>> = HashMap::new();
    if with_products && !entitlements.is_empty() {
        let ids: Vec<String> = entitlements.iter().map(|e| e.id.clone()).collect();
        for (owner, product) in state
            .storage
            .products_of_entitlements(project_id, &ids)
            .await?
        {
            products.entry(owner).or_default().push(product);
        }
    }
    Ok(entitlements
        .into_iter()
        .map(|entitlement| {
            let embedded = with_products.then(|| {
                let items = products.remove(&entitlement.id).unwrap_or_default();
                ListBody::whole(
                    items.into_iter().map(ProductView::from).collect(),
                    format!("{}/{}/products", url(project_id), entitlement.id),
                )
            });
            let mut view = EntitlementView::from(entitlement);
            view.products = embedded;
            view
        })
        .collect())
}

async fn render_one(
    state: &AppState,
    project_id: &str,
    entitlement: Entitlement,
    with_products: bool,
) -> Result<Json<EntitlementView>, ApiError> {
    let mut views = render(state, project_id, vec![entitlement], with_products).await?;
    views
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Entitlement"))
}

/// Lists the project's entitlements.
#[utoipa::path(get, path = "/v2/projects/{project_id}/entitlements", tag = "entitlements",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"), ListParams,
        ("expand" = Option<Vec<String>>, Query, description = "`items.product`")),
    responses(
        (status = 200, description = "A page of entitlements", body = ListBody<EntitlementView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_entitlements(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
    expand: Expand,
) -> Result<Json<ListBody<EntitlementView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(ENTITLEMENTS))?;
    let expand = expand.only(&["items.product"])?;
    let request = params.page_request()?;
    let page = state
        .storage
        .list_entitlements(&project_id, &request)
        .await?;
    let cursor = next_cursor(&page, |e| e.id.as_str());
    let items = render(&state, &project_id, page.items, expand.has("items.product")).await?;
    Ok(Json(ListBody::paged(
        items,
        cursor,
        url(&project_id),
        request.limit,
    )))
}

/// Creates an entitlement.
#[utoipa::path(post, path = "/v2/projects/{project_id}/entitlements", tag = "entitlements",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = CreateEntitlementBody,
    responses(
        (status = 201, description = "The created entitlement", body = EntitlementView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_entitlement(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<CreateEntitlementBody>,
) -> Result<(StatusCode, Json<EntitlementView>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(ENTITLEMENTS))?;
    let now = state.now();
    let entitlement = Entitlement {
        id: new_id(IdKind::Entitlement),
        project_id: project_id.clone(),
        lookup_key: lookup_key(&body.lookup_key, "lookup_key")?,
        display_name: display_name(&body.display_name, "display_name", 1500)?,
        created_at: now,
    };
    let audit = AuditEntry::new(
        &project_id,
        "entitlement",
        &entitlement.id,
        "created",
        &caller.actor(),
        now,
        json!({"lookup_key": entitlement.lookup_key}),
    );
    state
        .storage
        .create_entitlement(&entitlement, &audit)
        .await?;
    Ok((StatusCode::CREATED, Json(entitlement.into())))
}

/// One entitlement.
#[utoipa::path(get, path = "/v2/projects/{project_id}/entitlements/{entitlement_id}", tag = "entitlements",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("entitlement_id" = String, Path, description = "The entitlement"),
        ("expand" = Option<Vec<String>>, Query, description = "`product`")),
    responses(
        (status = 200, description = "The entitlement", body = EntitlementView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_entitlement(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, entitlement_id)): Path<(String, String)>,
    expand: Expand,
) -> Result<Json<EntitlementView>, ApiError> {
    caller.authorize(&project_id, Scope::read(ENTITLEMENTS))?;
    let expand = expand.only(&["product"])?;
    let entitlement = state
        .storage
        .get_entitlement(&project_id, &entitlement_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Entitlement"))?;
    render_one(&state, &project_id, entitlement, expand.has("product")).await
}

/// Renames an entitlement.
#[utoipa::path(post, path = "/v2/projects/{project_id}/entitlements/{entitlement_id}", tag = "entitlements",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("entitlement_id" = String, Path, description = "The entitlement")),
    request_body = UpdateEntitlementBody,
    responses(
        (status = 200, description = "The entitlement", body = EntitlementView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_entitlement(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, entitlement_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateEntitlementBody>,
) -> Result<Json<EntitlementView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(ENTITLEMENTS))?;
    let name = display_name(&body.display_name, "display_name", 1500)?;
    let audit = AuditEntry::new(
        &project_id,
        "entitlement",
        &entitlement_id,
        "updated",
        &caller.actor(),
        state.now(),
        json!({"display_name": name}),
    );
    let entitlement = state
        .storage
        .update_entitlement(&project_id, &entitlement_id, &name, &audit)
        .await?;
    Ok(Json(entitlement.into()))
}

/// Deletes an entitlement; one with products attached needs `force=true`.
#[utoipa::path(delete, path = "/v2/projects/{project_id}/entitlements/{entitlement_id}", tag = "entitlements",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("entitlement_id" = String, Path, description = "The entitlement"), ForceParams),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_entitlement(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, entitlement_id)): Path<(String, String)>,
    ApiQuery(force): ApiQuery<ForceParams>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(ENTITLEMENTS))?;
    let force = force.force.unwrap_or(false);
    let audit = AuditEntry::new(
        &project_id,
        "entitlement",
        &entitlement_id,
        "deleted",
        &caller.actor(),
        state.now(),
        json!({"force": force}),
    );
    state
        .storage
        .delete_entitlement(&project_id, &entitlement_id, force, &audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the products that unlock an entitlement.
#[utoipa::path(get, path = "/v2/projects/{project_id}/entitlements/{entitlement_id}/products", tag = "entitlements",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("entitlement_id" = String, Path, description = "The entitlement"), ListParams),
    responses(
        (status = 200, description = "A page of products", body = ListBody<ProductView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_entitlement_products(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, entitlement_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<ProductView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(ENTITLEMENTS))?;
    let request = params.page_request()?;
    let page = state
        .storage
        .list_entitlement_products(&project_id, &entitlement_id, &request)
        .await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("{}/{entitlement_id}/products", url(&project_id)),
        request.limit,
        |p| p.id.as_str(),
        ProductView::from,
    )))
}

/// Attaches products to an entitlement (all or none); answers the entitlement with them.
#[utoipa::path(post, path = "/v2/projects/{project_id}/entitlements/{entitlement_id}/actions/attach_products", tag = "entitlements",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("entitlement_id" = String, Path, description = "The entitlement")),
    request_body = ProductIdsBody,
    responses(
        (status = 200, description = "The entitlement, with its products", body = EntitlementView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn attach_products(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, entitlement_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ProductIdsBody>,
) -> Result<Json<EntitlementView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(ENTITLEMENTS))?;
    id_list(&body.product_ids, "product_ids")?;
    let now = state.now();
    let audit = AuditEntry::new(
        &project_id,
        "entitlement",
        &entitlement_id,
        "products_attached",
        &caller.actor(),
        now,
        json!({"product_ids": body.product_ids}),
    );
    state
        .storage
        .attach_entitlement_products(&project_id, &entitlement_id, &body.product_ids, now, &audit)
        .await?;
    let entitlement = state
        .storage
        .get_entitlement(&project_id, &entitlement_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Entitlement"))?;
    render_one(&state, &project_id, entitlement, true).await
}

/// Detaches products from an entitlement.
#[utoipa::path(post, path = "/v2/projects/{project_id}/entitlements/{entitlement_id}/actions/detach_products", tag = "entitlements",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("entitlement_id" = String, Path, description = "The entitlement")),
    request_body = ProductIdsBody,
    responses(
        (status = 204, description = "Detached"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn detach_products(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, entitlement_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ProductIdsBody>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(ENTITLEMENTS))?;
    id_list(&body.product_ids, "product_ids")?;
    let audit = AuditEntry::new(
        &project_id,
        "entitlement",
        &entitlement_id,
        "products_detached",
        &caller.actor(),
        state.now(),
        json!({"product_ids": body.product_ids}),
    );
    state
        .storage
        .detach_entitlement_products(&project_id, &entitlement_id, &body.product_ids, &audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
