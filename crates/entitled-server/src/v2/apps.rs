//! `/v2/projects/{project_id}/apps`: the apps of a project (RevenueCat's `App`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::{App, AppType, Scope};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::admin::{self, NewApp};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::pagination::{ListBody, ListParams};

const APPS: &str = "project_configuration:apps";

/// App Store details of an app.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppStoreDetails {
    /// The app's bundle id, e.g. `com.example.app`.
    pub bundle_id: String,
}

/// Google Play details of an app.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlayStoreDetails {
    /// The app's package name, e.g. `com.example.app`.
    pub package_name: String,
}

/// An app as v2 shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppView {
    /// Always `app`.
    pub object: &'static str,
    /// `app…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// The store: `app_store`, `play_store`, `stripe` or `test_store`.
    #[serde(rename = "type")]
    pub app_type: &'static str,
    /// The owning project.
    pub project_id: String,
    /// App Store details, for `app_store` apps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_store: Option<AppStoreDetails>,
    /// Play details, for `play_store` apps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_store: Option<PlayStoreDetails>,
    /// The app's public SDK key: present only in the answer that created the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_api_key: Option<String>,
}

impl From<App> for AppView {
    fn from(app: App) -> Self {
        Self {
            object: "app",
            id: app.id,
            name: app.name,
            created_at: app.created_at.0,
            app_type: app.app_type.as_str(),
            project_id: app.project_id,
            app_store: app.bundle_id.map(|bundle_id| AppStoreDetails { bundle_id }),
            play_store: app
                .package_name
                .map(|package_name| PlayStoreDetails { package_name }),
            public_api_key: None,
        }
    }
}

/// The body of `POST …/apps`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppBody {
    /// Display name, 1 to 255 characters.
    pub name: String,
    /// `app_store`, `play_store`, `stripe` or `test_store`.
    #[serde(rename = "type")]
    pub app_type: String,
    /// Required for `app_store` apps.
    pub app_store: Option<AppStoreDetails>,
    /// Required for `play_store` apps.
    pub play_store: Option<PlayStoreDetails>,
}

/// Lists a project's apps, oldest first.
#[utoipa::path(get, path = "/v2/projects/{project_id}/apps", tag = "apps",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"), ListParams),
    responses(
        (status = 200, description = "A page of apps", body = ListBody<AppView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_apps(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<AppView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(APPS))?;
    let request = params.page_request()?;
    let page = state.storage.list_apps(&project_id, &request).await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("/v2/projects/{project_id}/apps"),
        request.limit,
        |app| app.id.as_str(),
        AppView::from,
    )))
}

/// Creates an app; the answer carries its public SDK key, shown only here.
#[utoipa::path(post, path = "/v2/projects/{project_id}/apps", tag = "apps",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = CreateAppBody,
    responses(
        (status = 201, description = "The created app", body = AppView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn create_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<CreateAppBody>,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(APPS))?;
    let new = NewApp {
        name: body.name,
        app_type: AppType::parse(&body.app_type, "type")?,
        bundle_id: body.app_store.map(|s| s.bundle_id),
        package_name: body.play_store.map(|s| s.package_name),
    };
    let (app, key) = admin::create_app(
        state.storage.as_ref(),
        &project_id,
        new,
        &caller.actor(),
        state.now(),
    )
    .await?;
    let mut view = AppView::from(app);
    view.public_api_key = Some(key.plaintext);
    Ok((StatusCode::CREATED, Json(view)))
}

/// One app.
#[utoipa::path(get, path = "/v2/projects/{project_id}/apps/{app_id}", tag = "apps",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("app_id" = String, Path, description = "The app")),
    responses(
        (status = 200, description = "The app", body = AppView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_app(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, app_id)): Path<(String, String)>,
) -> Result<Json<AppView>, ApiError> {
    caller.authorize(&project_id, Scope::read(APPS))?;
    let app = state
        .storage
        .get_app(&project_id, &app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("App"))?;
    Ok(Json(app.into()))
}

/// Deletes an app and its public SDK key.
#[utoipa::path(delete, path = "/v2/projects/{project_id}/apps/{app_id}", tag = "apps",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("app_id" = String, Path, description = "The app")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_app(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, app_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(APPS))?;
    admin::delete_app(
        state.storage.as_ref(),
        &project_id,
        &app_id,
        &caller.actor(),
        state.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
