//! `/v2/projects/{project_id}/offerings`: what a paywall shows; one of them is current.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::validation::{display_name, json_object, lookup_key};
use entitled_core::{AuditEntry, IdKind, Offering, Scope, new_id};
use entitled_storage::OfferingChanges;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::expand::Expand;
use crate::extract::{ApiJson, ApiQuery, present_or_null};
use crate::pagination::{ListBody, ListParams, next_cursor};
use crate::v2::packages::{self, PackageView};

const OFFERINGS: &str = "project_configuration:offerings";

/// An offering as v2 shows it (RevenueCat's `Offering`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OfferingView {
    /// Always `offering`.
    pub object: &'static str,
    /// `ofrng…`.
    pub id: String,
    /// The key apps fetch it by.
    pub lookup_key: String,
    /// A name for people.
    pub display_name: String,
    /// Whether apps get it by default.
    pub is_current: bool,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// The owning project.
    pub project_id: String,
    /// Free-form paywall configuration.
    pub metadata: Option<serde_json::Value>,
    /// Its packages, with `expand=package` (`items.package` on lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packages: Option<ListBody<PackageView>>,
}

impl From<Offering> for OfferingView {
    fn from(offering: Offering) -> Self {
        Self {
            object: "offering",
            id: offering.id,
            lookup_key: offering.lookup_key,
            display_name: offering.display_name,
            is_current: offering.is_current,
            created_at: offering.created_at.0,
            project_id: offering.project_id,
            metadata: offering.metadata,
            packages: None,
        }
    }
}

/// The body of `POST …/offerings`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOfferingBody {
    /// The key apps fetch it by, unique in the project.
    pub lookup_key: String,
    /// A name for people.
    pub display_name: String,
    /// Free-form JSON object (at most 16 levels deep, 64 KiB).
    pub metadata: Option<serde_json::Value>,
}

/// The body of `POST …/offerings/{id}`: every field optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOfferingBody {
    /// A new name.
    pub display_name: Option<String>,
    /// `true` makes it the current offering (the previous one stops being current).
    pub is_current: Option<bool>,
    /// New metadata; `null` clears it.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<serde_json::Value>>,
}

fn url(project_id: &str) -> String {
    format!("/v2/projects/{project_id}/offerings")
}

/// Renders offerings, embedding packages (and their products) when asked.
async fn render(
    state: &AppState,
    project_id: &str,
    offerings: Vec<Offering>,
    with_packages: bool,
    with_products: bool,
) -> Result<Vec<OfferingView>, ApiError> {
    let mut packages: HashMap<String, Vec<PackageView>> = HashMap::new();
    if with_packages && !offerings.is_empty() {
        let ids: Vec<String> = offerings.iter().map(|o| o.id.clone()).collect();
        let found = state
            .storage
            .packages_of_offerings(project_id, &ids)
            .await?;
        let offering_ids: Vec<String> = found.iter().map(|p| p.offering_id.clone()).collect();
        let views = packages::render(state, project_id, found, with_products).await?;
        for (offering_id, view) in offering_ids.into_iter().zip(views) {
            packages.entry(offering_id).or_default().push(view);
        }
    }
    Ok(offerings
        .into_iter()
        .map(|offering| {
            let embedded = with_packages.then(|| {
                ListBody::whole(
                    packages.remove(&offering.id).unwrap_or_default(),
                    format!("{}/{}/packages", url(project_id), offering.id),
                )
            });
            let mut view = OfferingView::from(offering);
            view.packages = embedded;
            view
        })
        .collect())
}

/// Lists the project's offerings.
#[utoipa::path(get, path = "/v2/projects/{project_id}/offerings", tag = "offerings",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"), ListParams,
        ("expand" = Option<Vec<String>>, Query, description = "`items.package`, `items.package.product`")),
    responses(
        (status = 200, description = "A page of offerings", body = ListBody<OfferingView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_offerings(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
    expand: Expand,
) -> Result<Json<ListBody<OfferingView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(OFFERINGS))?;
    let expand = expand.only(&["items.package", "items.package.product"])?;
    let request = params.page_request()?;
    let page = state.storage.list_offerings(&project_id, &request).await?;
    let cursor = next_cursor(&page, |o| o.id.as_str());
    let with_products = expand.has("items.package.product");
    let with_packages = with_products || expand.has("items.package");
    let items = render(
        &state,
        &project_id,
        page.items,
        with_packages,
        with_products,
    )
    .await?;
    Ok(Json(ListBody::paged(
        items,
        cursor,
        url(&project_id),
        request.limit,
    )))
}

/// Creates an offering; it becomes current only through an update.
#[utoipa::path(post, path = "/v2/projects/{project_id}/offerings", tag = "offerings",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = CreateOfferingBody,
    responses(
        (status = 201, description = "The created offering", body = OfferingView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_offering(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<CreateOfferingBody>,
) -> Result<(StatusCode, Json<OfferingView>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(OFFERINGS))?;
    if let Some(metadata) = &body.metadata {
        json_object(metadata, "metadata")?;
    }
    let now = state.now();
    let offering = Offering {
        id: new_id(IdKind::Offering),
        project_id: project_id.clone(),
        lookup_key: lookup_key(&body.lookup_key, "lookup_key")?,
        display_name: display_name(&body.display_name, "display_name", 1500)?,
        is_current: false,
        metadata: body.metadata,
        created_at: now,
    };
    let audit = AuditEntry::new(
        &project_id,
        "offering",
        &offering.id,
        "created",
        &caller.actor(),
        now,
        json!({"lookup_key": offering.lookup_key}),
    );
    state.storage.create_offering(&offering, &audit).await?;
    Ok((StatusCode::CREATED, Json(offering.into())))
}

/// One offering.
#[utoipa::path(get, path = "/v2/projects/{project_id}/offerings/{offering_id}", tag = "offerings",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("offering_id" = String, Path, description = "The offering"),
        ("expand" = Option<Vec<String>>, Query, description = "`package`, `package.product`")),
    responses(
        (status = 200, description = "The offering", body = OfferingView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_offering(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, offering_id)): Path<(String, String)>,
    expand: Expand,
) -> Result<Json<OfferingView>, ApiError> {
    caller.authorize(&project_id, Scope::read(OFFERINGS))?;
    let expand = expand.only(&["package", "package.product"])?;
    let offering = state
        .storage
        .get_offering(&project_id, &offering_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Offering"))?;
    let with_products = expand.has("package.product");
    let with_packages = with_products || expand.has("package");
    let mut views = render(
        &state,
        &project_id,
        vec![offering],
        with_packages,
        with_products,
    )
    .await?;
    views
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Offering"))
}

/// Changes an offering's name, metadata, or whether it is current.
#[utoipa::path(post, path = "/v2/projects/{project_id}/offerings/{offering_id}", tag = "offerings",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("offering_id" = String, Path, description = "The offering")),
    request_body = UpdateOfferingBody,
    responses(
        (status = 200, description = "The offering", body = OfferingView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_offering(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, offering_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateOfferingBody>,
) -> Result<Json<OfferingView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(OFFERINGS))?;
    if let Some(Some(metadata)) = &body.metadata {
        json_object(metadata, "metadata")?;
    }
    let changes = OfferingChanges {
        display_name: body
            .display_name
            .map(|name| display_name(&name, "display_name", 1500))
            .transpose()?,
        is_current: body.is_current,
        metadata: body.metadata,
    };
    let audit = AuditEntry::new(
        &project_id,
        "offering",
        &offering_id,
        "updated",
        &caller.actor(),
        state.now(),
        json!({"display_name": changes.display_name, "is_current": changes.is_current,
               "metadata_changed": changes.metadata.is_some()}),
    );
    let offering = state
        .storage
        .update_offering(&project_id, &offering_id, &changes, &audit)
        .await?;
    Ok(Json(offering.into()))
}

/// Deletes an offering and its packages.
#[utoipa::path(delete, path = "/v2/projects/{project_id}/offerings/{offering_id}", tag = "offerings",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("offering_id" = String, Path, description = "The offering")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_offering(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, offering_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(OFFERINGS))?;
    let audit = AuditEntry::new(
        &project_id,
        "offering",
        &offering_id,
        "deleted",
        &caller.actor(),
        state.now(),
        json!({}),
    );
    state
        .storage
        .delete_offering(&project_id, &offering_id, &audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
