//! `/v2/projects/{project_id}/apps`: the apps of a project (RevenueCat's `App`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::{App, AppType, Scope};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::admin::{self, AppChanges, NewApp};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::pagination::{ListBody, ListParams};

const APPS: &str = "project_configuration:apps";

/// App Store details of an app.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppStoreDetails {
    /// The app's bundle id, e.g. `com.example.app`.
    pub bundle_id: String,
}

/// Google Play details of an app.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlayStoreDetails {
    /// The app's package name, e.g. `com.example.app`.
    pub package_name: String,
}

/// Stripe details of an app.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StripeDetails {
    /// The connected Stripe account, if set.
    pub stripe_account_id: Option<String>,
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
    /// Stripe details, for `stripe` apps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe: Option<StripeDetails>,
    /// Which store credentials are set (names only; values are never shown).
    pub credentials_set: Vec<String>,
    /// The app's public SDK key: present only in the answer that created the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_api_key: Option<String>,
}

impl From<App> for AppView {
    fn from(app: App) -> Self {
        let stripe = (app.app_type == AppType::Stripe).then(|| StripeDetails {
            stripe_account_id: app.stripe_account_id.clone(),
        });
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
            stripe,
            credentials_set: app.credential_names,
            public_api_key: None,
        }
    }
}

/// `app_store` in a create or update body: the bundle id and App Store credentials.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppStoreInput {
    /// The app's bundle id (required on create).
    pub bundle_id: Option<String>,
    /// The app-specific shared secret (32 hex characters).
    pub shared_secret: Option<String>,
    /// The In-App Purchase key (.p8 PEM text) for the App Store Server API.
    pub subscription_private_key: Option<String>,
    /// That key's 10-character id.
    pub subscription_key_id: Option<String>,
    /// That key's issuer UUID.
    pub subscription_key_issuer: Option<String>,
}

/// `play_store` in a create or update body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlayStoreInput {
    /// The app's package name (required on create).
    pub package_name: Option<String>,
    /// The service account's JSON key file, as a string (an entitled addition).
    pub service_account_credentials_json: Option<String>,
}

/// `stripe` in a create or update body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeInput {
    /// The connected account (`acct_…`).
    pub stripe_account_id: Option<String>,
    /// A secret or restricted API key (an entitled addition).
    pub secret_key: Option<String>,
    /// The webhook endpoint's signing secret, `whsec_…` (an entitled addition).
    pub webhook_secret: Option<String>,
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
    pub app_store: Option<AppStoreInput>,
    /// Required for `play_store` apps.
    pub play_store: Option<PlayStoreInput>,
    /// For `stripe` apps.
    pub stripe: Option<StripeInput>,
}

/// The body of `POST …/apps/{app_id}`: every field optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAppBody {
    /// A new name.
    pub name: Option<String>,
    /// App Store changes.
    pub app_store: Option<AppStoreInput>,
    /// Play changes.
    pub play_store: Option<PlayStoreInput>,
    /// Stripe changes.
    pub stripe: Option<StripeInput>,
}

/// A public SDK key as v2 lists it. entitled keeps only keys' hashes, so `key` shows the
/// key's first characters; the whole key is shown once, when the app is created.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicApiKeyView {
    /// Always `public_api_key`.
    pub object: &'static str,
    /// `pubkey…`.
    pub id: String,
    /// The key's first characters followed by `…`.
    pub key: String,
    /// `production` (test-store keys: `sandbox`).
    pub environment: &'static str,
    /// The app.
    pub app_id: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
}

/// The store fields and credentials of a body, by their dotted names.
struct StoreFields {
    bundle_id: Option<String>,
    package_name: Option<String>,
    stripe_account_id: Option<String>,
    credentials: BTreeMap<String, String>,
}

fn store_fields(
    app_store: Option<AppStoreInput>,
    play_store: Option<PlayStoreInput>,
    stripe: Option<StripeInput>,
) -> StoreFields {
    let app_store = app_store.unwrap_or_default();
    let play_store = play_store.unwrap_or_default();
    let stripe = stripe.unwrap_or_default();
    let credentials = [
        ("app_store.shared_secret", app_store.shared_secret),
        (
            "app_store.subscription_private_key",
            app_store.subscription_private_key,
        ),
        (
            "app_store.subscription_key_id",
            app_store.subscription_key_id,
        ),
        (
            "app_store.subscription_key_issuer",
            app_store.subscription_key_issuer,
        ),
        (
            "play_store.service_account_credentials_json",
            play_store.service_account_credentials_json,
        ),
        ("stripe.secret_key", stripe.secret_key),
        ("stripe.webhook_secret", stripe.webhook_secret),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name.to_string(), v)))
    .collect();
    StoreFields {
        bundle_id: app_store.bundle_id,
        package_name: play_store.package_name,
        stripe_account_id: stripe.stripe_account_id,
        credentials,
    }
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
    let fields = store_fields(body.app_store, body.play_store, body.stripe);
    let new = NewApp {
        name: body.name,
        app_type: AppType::parse(&body.app_type, "type")?,
        bundle_id: fields.bundle_id,
        package_name: fields.package_name,
        stripe_account_id: fields.stripe_account_id,
        credentials: fields.credentials,
    };
    let (app, key) = admin::create_app(
        state.storage.as_ref(),
        state.sealer.as_deref(),
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

/// Changes an app's name, store identifiers or store credentials (credentials are
/// write-only: the answer lists which are set, never their values).
#[utoipa::path(post, path = "/v2/projects/{project_id}/apps/{app_id}", tag = "apps",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("app_id" = String, Path, description = "The app")),
    request_body = UpdateAppBody,
    responses(
        (status = 200, description = "The app", body = AppView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_app(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, app_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateAppBody>,
) -> Result<Json<AppView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(APPS))?;
    let fields = store_fields(body.app_store, body.play_store, body.stripe);
    let changes = AppChanges {
        name: body.name,
        bundle_id: fields.bundle_id,
        package_name: fields.package_name,
        stripe_account_id: fields.stripe_account_id,
        credentials: fields.credentials,
    };
    let app = admin::update_app(
        state.storage.as_ref(),
        state.sealer.as_deref(),
        &project_id,
        &app_id,
        changes,
        &caller.actor(),
        state.now(),
    )
    .await?;
    Ok(Json(app.into()))
}

/// Lists an app's public SDK keys (their first characters only).
#[utoipa::path(get, path = "/v2/projects/{project_id}/apps/{app_id}/public_api_keys", tag = "apps",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("app_id" = String, Path, description = "The app")),
    responses(
        (status = 200, description = "The app's public keys", body = ListBody<PublicApiKeyView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list_public_api_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, app_id)): Path<(String, String)>,
) -> Result<Json<ListBody<PublicApiKeyView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(APPS))?;
    let app = state
        .storage
        .get_app(&project_id, &app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("App"))?;
    let keys = state
        .storage
        .public_keys_of_app(&project_id, &app_id)
        .await?;
    let environment = if app.app_type == AppType::TestStore {
        "sandbox"
    } else {
        "production"
    };
    let items = keys
        .into_iter()
        .map(|key| PublicApiKeyView {
            object: "public_api_key",
            id: key.id,
            key: format!("{}…", key.lookup),
            environment,
            app_id: app.id.clone(),
            created_at: key.created_at.0,
        })
        .collect();
    Ok(Json(ListBody::whole(
        items,
        format!("/v2/projects/{project_id}/apps/{app_id}/public_api_keys"),
    )))
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
