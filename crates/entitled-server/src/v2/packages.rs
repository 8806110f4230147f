//! Packages: the choices inside an offering, each with at most one product per app.
//! `/v2/projects/{project_id}/offerings/{offering_id}/packages` and `…/packages/{package_id}`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::validation::{display_name, lookup_key};
use entitled_core::{AuditEntry, IdKind, Package, PackageProduct, Scope, new_id};
use entitled_storage::PackageChanges;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::expand::Expand;
use crate::extract::{ApiJson, ApiQuery, id_list};
use crate::pagination::{ListBody, ListParams, next_cursor};
use crate::v2::entitlements::ProductIdsBody;
use crate::v2::products::ProductView;

const PACKAGES: &str = "project_configuration:packages";

/// Who may buy a package's product: RevenueCat's `EligibilityCriteria`.
const ELIGIBILITY: [&str; 3] = ["all", "google_sdk_lt_6", "google_sdk_ge_6"];

/// A product of a package, as v2 shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PackageProductView {
    /// The product.
    pub product: ProductView,
    /// `all`, `google_sdk_lt_6` or `google_sdk_ge_6`.
    pub eligibility_criteria: String,
}

impl From<PackageProduct> for PackageProductView {
    fn from(attached: PackageProduct) -> Self {
        Self {
            product: attached.product.into(),
            eligibility_criteria: attached.eligibility_criteria,
        }
    }
}

/// A package as v2 shows it (RevenueCat's `Package`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PackageView {
    /// Always `package`.
    pub object: &'static str,
    /// `pkge…`.
    pub id: String,
    /// Its key, unique in the offering (e.g. `$rc_monthly`).
    pub lookup_key: String,
    /// A name for people.
    pub display_name: String,
    /// Where it is shown among the offering's packages, if set.
    pub position: Option<i64>,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Its products, with `expand=product` (`items.product` on lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub products: Option<ListBody<PackageProductView>>,
}

impl From<Package> for PackageView {
    fn from(package: Package) -> Self {
        Self {
            object: "package",
            id: package.id,
            lookup_key: package.lookup_key,
            display_name: package.display_name,
            position: package.position,
            created_at: package.created_at.0,
            products: None,
        }
    }
}

/// The body of `POST …/offerings/{offering_id}/packages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePackageBody {
    /// Its key, unique in the offering.
    pub lookup_key: String,
    /// A name for people.
    pub display_name: String,
    /// Where it is shown (1 first).
    pub position: Option<i64>,
}

/// The body of `POST …/packages/{package_id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePackageBody {
    /// A new name.
    pub display_name: Option<String>,
    /// A new position (1 or more).
    pub position: Option<i64>,
}

/// One product to attach to a package.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageProductInput {
    /// The product.
    pub product_id: String,
    /// `all`, `google_sdk_lt_6` or `google_sdk_ge_6`.
    pub eligibility_criteria: String,
}

/// The body of `…/packages/{package_id}/actions/attach_products`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachPackageProductsBody {
    /// 1 to 50 products, at most one per app.
    pub products: Vec<PackageProductInput>,
}

fn package_url(project_id: &str, package_id: &str) -> String {
    format!("/v2/projects/{project_id}/packages/{package_id}")
}

fn position(value: Option<i64>) -> Result<Option<i64>, ApiError> {
    match value {
        Some(p) if p < 1 => Err(ApiError::parameter(
            "position",
            "position must be 1 or more",
        )),
        other => Ok(other),
    }
}

/// Renders packages, embedding their products when asked.
pub(crate) async fn render(
    state: &AppState,
    project_id: &str,
    packages: Vec<Package>,
    with_products: bool,
) -> Result<Vec<PackageView>, ApiError> {
    let mut products: HashMap<String, Vec<PackageProductView>> = HashMap::new();
    if with_products && !packages.is_empty() {
        let ids: Vec<String> = packages.iter().map(|p| p.id.clone()).collect();
        for (owner, attached) in state.storage.products_of_packages(project_id, &ids).await? {
            products.entry(owner).or_default().push(attached.into());
        }
    }
    Ok(packages
        .into_iter()
        .map(|package| {
            let embedded = with_products.then(|| {
                ListBody::whole(
                    products.remove(&package.id).unwrap_or_default(),
                    format!("{}/products", package_url(project_id, &package.id)),
                )
            });
            let mut view = PackageView::from(package);
            view.products = embedded;
            view
        })
        .collect())
}

async fn render_one(
    state: &AppState,
    project_id: &str,
    package: Package,
    with_products: bool,
) -> Result<Json<PackageView>, ApiError> {
    let mut views = render(state, project_id, vec![package], with_products).await?;
    views
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Package"))
}

/// Lists an offering's packages.
#[utoipa::path(get, path = "/v2/projects/{project_id}/offerings/{offering_id}/packages", tag = "packages",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("offering_id" = String, Path, description = "The offering"), ListParams,
        ("expand" = Option<Vec<String>>, Query, description = "`items.product`")),
    responses(
        (status = 200, description = "A page of packages", body = ListBody<PackageView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_packages(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, offering_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
    expand: Expand,
) -> Result<Json<ListBody<PackageView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(PACKAGES))?;
    let expand = expand.only(&["items.product"])?;
    let request = params.page_request()?;
    let page = state
        .storage
        .list_packages(&project_id, &offering_id, &request)
        .await?;
    let cursor = next_cursor(&page, |p| p.id.as_str());
    let items = render(&state, &project_id, page.items, expand.has("items.product")).await?;
    let url = format!("/v2/projects/{project_id}/offerings/{offering_id}/packages");
    Ok(Json(ListBody::paged(items, cursor, url, request.limit)))
}

/// Creates a package in an offering.
#[utoipa::path(post, path = "/v2/projects/{project_id}/offerings/{offering_id}/packages", tag = "packages",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("offering_id" = String, Path, description = "The offering")),
    request_body = CreatePackageBody,
    responses(
        (status = 201, description = "The created package", body = PackageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn create_package(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, offering_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreatePackageBody>,
) -> Result<(StatusCode, Json<PackageView>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(PACKAGES))?;
    let now = state.now();
    let package = Package {
        id: new_id(IdKind::Package),
        project_id: project_id.clone(),
        offering_id,
        lookup_key: lookup_key(&body.lookup_key, "lookup_key")?,
        display_name: display_name(&body.display_name, "display_name", 1500)?,
        position: position(body.position)?,
        created_at: now,
    };
    let audit = AuditEntry::new(
        &project_id,
        "package",
        &package.id,
        "created",
        &caller.actor(),
        now,
        json!({"lookup_key": package.lookup_key, "offering_id": package.offering_id}),
    );
    state.storage.create_package(&package, &audit).await?;
    Ok((StatusCode::CREATED, Json(package.into())))
}

/// One package.
#[utoipa::path(get, path = "/v2/projects/{project_id}/packages/{package_id}", tag = "packages",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("package_id" = String, Path, description = "The package"),
        ("expand" = Option<Vec<String>>, Query, description = "`product`")),
    responses(
        (status = 200, description = "The package", body = PackageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_package(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, package_id)): Path<(String, String)>,
    expand: Expand,
) -> Result<Json<PackageView>, ApiError> {
    caller.authorize(&project_id, Scope::read(PACKAGES))?;
    let expand = expand.only(&["product"])?;
    let package = state
        .storage
        .get_package(&project_id, &package_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Package"))?;
    render_one(&state, &project_id, package, expand.has("product")).await
}

/// Changes a package's name or position.
#[utoipa::path(post, path = "/v2/projects/{project_id}/packages/{package_id}", tag = "packages",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("package_id" = String, Path, description = "The package")),
    request_body = UpdatePackageBody,
    responses(
        (status = 200, description = "The package", body = PackageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_package(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, package_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdatePackageBody>,
) -> Result<Json<PackageView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(PACKAGES))?;
    let changes = PackageChanges {
        display_name: body
            .display_name
            .map(|name| display_name(&name, "display_name", 1500))
            .transpose()?,
        position: position(body.position)?,
    };
    let audit = AuditEntry::new(
        &project_id,
        "package",
        &package_id,
        "updated",
        &caller.actor(),
        state.now(),
        json!({"display_name": changes.display_name, "position": changes.position}),
    );
    let package = state
        .storage
        .update_package(&project_id, &package_id, &changes, &audit)
        .await?;
    Ok(Json(package.into()))
}

/// Deletes a package.
#[utoipa::path(delete, path = "/v2/projects/{project_id}/packages/{package_id}", tag = "packages",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("package_id" = String, Path, description = "The package")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_package(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, package_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(PACKAGES))?;
    let audit = AuditEntry::new(
        &project_id,
        "package",
        &package_id,
        "deleted",
        &caller.actor(),
        state.now(),
        json!({}),
    );
    state
        .storage
        .delete_package(&project_id, &package_id, &audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a package's products.
#[utoipa::path(get, path = "/v2/projects/{project_id}/packages/{package_id}/products", tag = "packages",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("package_id" = String, Path, description = "The package"), ListParams),
    responses(
        (status = 200, description = "A page of the package's products", body = ListBody<PackageProductView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_package_products(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, package_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<PackageProductView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(PACKAGES))?;
    let request = params.page_request()?;
    let page = state
        .storage
        .list_package_products(&project_id, &package_id, &request)
        .await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("{}/products", package_url(&project_id, &package_id)),
        request.limit,
        |p| p.product.id.as_str(),
        PackageProductView::from,
    )))
}

/// Attaches products to a package (all or none; one per app); answers the package with them.
#[utoipa::path(post, path = "/v2/projects/{project_id}/packages/{package_id}/actions/attach_products", tag = "packages",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("package_id" = String, Path, description = "The package")),
    request_body = AttachPackageProductsBody,
    responses(
        (status = 200, description = "The package, with its products", body = PackageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn attach_products(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, package_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AttachPackageProductsBody>,
) -> Result<Json<PackageView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(PACKAGES))?;
    let ids: Vec<String> = body.products.iter().map(|p| p.product_id.clone()).collect();
    id_list(&ids, "products")?;
    let mut products = Vec::with_capacity(body.products.len());
    for (index, input) in body.products.into_iter().enumerate() {
        if !ELIGIBILITY.contains(&input.eligibility_criteria.as_str()) {
            return Err(ApiError::parameter(
                format!("products[{index}].eligibility_criteria"),
                "eligibility_criteria must be one of all, google_sdk_lt_6, google_sdk_ge_6",
            ));
        }
        products.push((input.product_id, input.eligibility_criteria));
    }
    let now = state.now();
    let audit = AuditEntry::new(
        &project_id,
        "package",
        &package_id,
        "products_attached",
        &caller.actor(),
        now,
        json!({"product_ids": ids}),
    );
    state
        .storage
        .attach_package_products(&project_id, &package_id, &products, now, &audit)
        .await?;
    let package = state
        .storage
        .get_package(&project_id, &package_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Package"))?;
    render_one(&state, &project_id, package, true).await
}

/// Detaches products from a package.
#[utoipa::path(post, path = "/v2/projects/{project_id}/packages/{package_id}/actions/detach_products", tag = "packages",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("package_id" = String, Path, description = "The package")),
    request_body = ProductIdsBody,
    responses(
        (status = 204, description = "Detached"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn detach_products(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, package_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ProductIdsBody>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(PACKAGES))?;
    id_list(&body.product_ids, "product_ids")?;
    let audit = AuditEntry::new(
        &project_id,
        "package",
        &package_id,
        "products_detached",
        &caller.actor(),
        state.now(),
        json!({"product_ids": body.product_ids}),
    );
    state
        .storage
        .detach_package_products(&project_id, &package_id, &body.product_ids, &audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
