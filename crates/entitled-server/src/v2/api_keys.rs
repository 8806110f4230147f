//! `/v2/projects/{project_id}/api_keys`: secret keys (an entitled addition to v2).
//! A key is shown in full only in the answer that creates it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::{ApiKey, Permissions, Scope};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::admin;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ErrorKind};
use crate::extract::{ApiJson, ApiQuery};
use crate::pagination::{ListBody, ListParams};

const API_KEYS: &str = "project_configuration:api_keys";

/// A secret key as v2 shows it: never the key, except at creation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    /// Always `api_key`.
    pub object: &'static str,
    /// `key…`.
    pub id: String,
    /// Label.
    pub name: String,
    /// The owning project.
    pub project_id: String,
    /// Scopes held, e.g. `project_configuration:apps:read`.
    pub permissions: Vec<String>,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Revocation time, ms since epoch, or null while active.
    pub revoked_at: Option<i64>,
    /// The key itself: present only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            object: "api_key",
            permissions: key.permissions.scopes(),
            id: key.id,
            name: key.name,
            project_id: key.project_id,
            created_at: key.created_at.0,
            revoked_at: key.revoked_at.map(|t| t.0),
            key: None,
        }
    }
}

/// The body of `POST …/api_keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyBody {
    /// Label, 1 to 255 characters.
    pub name: Option<String>,
    /// Scopes such as `project_configuration:apps:read_write` or `customer_information:*:read`,
    /// or `all` / `read`. A key can grant only permissions it holds itself.
    pub permissions: Vec<String>,
}

/// Lists the project's secret keys, revoked ones included.
#[utoipa::path(get, path = "/v2/projects/{project_id}/api_keys", tag = "api_keys",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"), ListParams),
    responses(
        (status = 200, description = "A page of keys", body = ListBody<ApiKeyView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<ApiKeyView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(API_KEYS))?;
    let request = params.page_request()?;
    let page = state
        .storage
        .list_secret_keys(&project_id, &request)
        .await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("/v2/projects/{project_id}/api_keys"),
        request.limit,
        |key| key.id.as_str(),
        ApiKeyView::from,
    )))
}

/// Creates a secret key; the answer carries the key, shown only here.
#[utoipa::path(post, path = "/v2/projects/{project_id}/api_keys", tag = "api_keys",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = CreateApiKeyBody,
    responses(
        (status = 201, description = "The created key, with `key`", body = ApiKeyView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<CreateApiKeyBody>,
) -> Result<(StatusCode, Json<ApiKeyView>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(API_KEYS))?;
    let permissions = Permissions::parse(&body.permissions.join(","), "permissions")?;
    if !permissions.is_within(&caller.key.permissions) {
        return Err(ApiError::new(
            ErrorKind::Authorization,
            "A key can only grant permissions it holds itself",
        ));
    }
    let issued = admin::create_secret_key(
        state.storage.as_ref(),
        &project_id,
        body.name.as_deref(),
        permissions,
        &caller.actor(),
        state.now(),
    )
    .await?;
    let mut view = ApiKeyView::from(issued.record);
    view.key = Some(issued.plaintext);
    Ok((StatusCode::CREATED, Json(view)))
}

/// One secret key (without the key).
#[utoipa::path(get, path = "/v2/projects/{project_id}/api_keys/{key_id}", tag = "api_keys",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("key_id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key", body = ApiKeyView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, key_id)): Path<(String, String)>,
) -> Result<Json<ApiKeyView>, ApiError> {
    caller.authorize(&project_id, Scope::read(API_KEYS))?;
    let key = state
        .storage
        .get_api_key(&project_id, &key_id)
        .await?
        .filter(|key| key.kind == entitled_core::KeyKind::Secret)
        .ok_or_else(|| ApiError::not_found("API key"))?;
    Ok(Json(key.into()))
}

/// Revokes a secret key: it stops working at once.
#[utoipa::path(delete, path = "/v2/projects/{project_id}/api_keys/{key_id}", tag = "api_keys",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("key_id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(API_KEYS))?;
    admin::revoke_key(
        state.storage.as_ref(),
        &project_id,
        &key_id,
        &caller.actor(),
        state.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
