//! `/v1/subscribers/{app_user_id}`: CustomerInfo, log in (`identify`), attributes, deletion.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use entitled_core::customers::attribute;
use entitled_core::{Customer, UnixMillis};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorKind, V1ErrorBody};
use crate::extract::ApiJson;
use crate::subscribers::{
    check_app_user_id, find_or_create, is_anonymous, lock_customers, project_now, snapshot_now,
};
use crate::v1::respond::{customer_info, customer_info_of, touch};

/// RevenueCat's code for invalid subscriber attributes.
const INVALID_ATTRIBUTES: u32 = 7263;

/// The customer a v1 path names, or 404 (v1 code 7259, subscriber not found).
pub(crate) async fn existing(
    state: &AppState,
    project_id: &str,
    app_user_id: &str,
) -> Result<Customer, ApiError> {
    state
        .storage
        .find_customer(project_id, app_user_id)
        .await?
        .ok_or_else(|| {
            let mut err = ApiError::not_found("Subscriber");
            err.v1_code = Some(7259);
            err
        })
}

/// CustomerInfo; creates the customer on first sight (201 then, 200 after).
#[utoipa::path(get, path = "/v1/subscribers/{app_user_id}", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id (or an alias)")),
    responses(
        (status = 200, description = "CustomerInfo", body = Object),
        (status = 201, description = "CustomerInfo of a customer created now", body = Object),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody)))]
pub async fn get_subscriber(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_user_id): Path<String>,
    // The request itself rather than a `HeaderMap`, which would be a copy of its headers.
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    check_app_user_id(&app_user_id, "app_user_id")?;
    let project_id = caller.project_id();
    // One snapshot for the usual case, a customer already known.
    let (customer, facts, created) = match state
        .storage
        .customer_snapshot(project_id, &app_user_id)
        .await?
    {
        Some((customer, facts)) => (customer, facts, false),
        None => {
            let (customer, created) =
                find_or_create(&state, project_id, &app_user_id, state.now()).await?;
            let facts = state
                .storage
                .customer_facts(project_id, &customer.key)
                .await?;
            (customer, facts, created)
        }
    };
    let now = snapshot_now(&state, &facts);
    touch(&state, &customer, headers).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    customer_info_of(&state, &caller, &customer, &facts, now, status, headers).await
}

/// The body of `POST /v1/subscribers/identify`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IdentifyBody {
    /// The id the app used until now (often `$RCAnonymousID:…`).
    pub app_user_id: String,
    /// The id to log in as.
    pub new_app_user_id: String,
}

/// Logs in: an anonymous customer is merged into the known one (or becomes it, when the new
/// id is unseen); a known customer just switches. 201 when the new id was created.
#[utoipa::path(post, path = "/v1/subscribers/identify", tag = "v1",
    security(("bearer" = [])),
    request_body = IdentifyBody,
    responses(
        (status = 200, description = "CustomerInfo of the existing customer", body = Object),
        (status = 201, description = "CustomerInfo; the new id was created", body = Object),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = V1ErrorBody)))]
pub async fn identify(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IdentifyBody>,
) -> Result<Response, ApiError> {
    check_app_user_id(&body.app_user_id, "app_user_id")?;
    check_app_user_id(&body.new_app_user_id, "new_app_user_id")?;
    let project_id = caller.project_id().to_string();
    let now = project_now(&state, &project_id).await?;
    let current = state
        .storage
        .find_customer(&project_id, &body.app_user_id)
        .await?;
    let target = state
        .storage
        .find_customer(&project_id, &body.new_app_user_id)
        .await?;
    let keys: Vec<String> = current
        .iter()
        .chain(target.iter())
        .map(|c| c.key.clone())
        .collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let _locks = lock_customers(&state, &key_refs).await?;
    let (customer, created) = match (current, target) {
        (Some(current), Some(target)) => {
            if current.key != target.key
                && is_anonymous(&body.app_user_id)
                && is_anonymous(&current.id)
            {
                state
                    .storage
                    .merge_customers(&current.key, &target.key, state.now())
                    .await?;
            }
            (target, false)
        }
        (Some(current), None) if is_anonymous(&current.id) => {
            // The anonymous customer becomes the known one: the new id is an alias of it.
            state
                .storage
                .add_alias(
                    &project_id,
                    &current.key,
                    &body.new_app_user_id,
                    state.now(),
                )
                .await?;
            (current, true)
        }
        _ => find_or_create(&state, &project_id, &body.new_app_user_id, state.now()).await?,
    };
    touch(&state, &customer, &headers).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    customer_info(
        &state,
        &caller,
        &customer,
        now,
        status,
        &HeaderMap::new(),
        Some(("created", json!(created))),
    )
    .await
}

/// One attribute as the SDKs send it.
#[derive(Debug, Deserialize)]
struct AttributeUpdate {
    value: Option<String>,
    updated_at_ms: Option<i64>,
}

/// The body of `POST /v1/subscribers/{app_user_id}/attributes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AttributesBody {
    /// Attribute name → `{"value": …, "updated_at_ms": …}`.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, Value>,
}

/// One attribute of a v1 attributes body that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidAttribute {
    /// The name: reserved `$…` or custom.
    pub name: String,
    /// The value; `None` removes the attribute.
    pub value: Option<String>,
    /// When the SDK says it set the value, ms since epoch.
    pub updated_at_ms: Option<i64>,
}

/// Splits the attribute map of a v1 attributes body into the valid attributes and one
/// `{"key_name", "message"}` error per invalid one.
pub fn check_attributes(
    attributes: serde_json::Map<String, Value>,
) -> (Vec<ValidAttribute>, Vec<Value>) {
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for (name, raw) in attributes {
        let update: AttributeUpdate = match serde_json::from_value(raw) {
            Ok(update) => update,
            Err(_) => {
                errors.push(json!({"key_name": name, "message": "must be {\"value\": string or null, \"updated_at_ms\": integer}"}));
                continue;
            }
        };
        match attribute(&name, update.value.as_deref(), "attributes") {
            Ok(()) => valid.push(ValidAttribute {
                name,
                value: update.value,
                updated_at_ms: update.updated_at_ms,
            }),
            Err(err) => errors.push(json!({"key_name": name, "message": err.message})),
        }
    }
    (valid, errors)
}

/// Sets subscriber attributes. Valid ones are saved; invalid ones are reported one by one
/// (400, code 7263, `attribute_errors`), as RevenueCat does.
#[utoipa::path(post, path = "/v1/subscribers/{app_user_id}/attributes", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id")),
    request_body = AttributesBody,
    responses(
        (status = 200, description = "Saved", body = Object),
        (status = 400, description = "Some attributes were invalid", body = Object),
        (status = 401, body = V1ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = V1ErrorBody)))]
pub async fn set_attributes(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_user_id): Path<String>,
    ApiJson(body): ApiJson<AttributesBody>,
) -> Result<Response, ApiError> {
    check_app_user_id(&app_user_id, "app_user_id")?;
    let project_id = caller.project_id();
    let (customer, _) = find_or_create(&state, project_id, &app_user_id, state.now()).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    let (valid, errors) = check_attributes(body.attributes);
    let now = state.now();
    let updates: Vec<(String, Option<String>)> = valid
        .iter()
        .map(|a| (a.name.clone(), a.value.clone()))
        .collect();
    if !updates.is_empty() {
        let stamped = valid
            .iter()
            .filter_map(|a| a.updated_at_ms)
            .max()
            .map_or(now, |at| UnixMillis(at.min(now.0)));
        state
            .storage
            .set_attributes(&customer.key, &updates, stamped)
            .await?;
    }
    if errors.is_empty() {
        return Ok(axum::response::IntoResponse::into_response(Json(json!({}))));
    }
    let body = json!({
        "code": INVALID_ATTRIBUTES,
        "message": "Some subscriber attributes were invalid and were not saved",
        "attribute_errors": errors,
    });
    Ok(axum::response::IntoResponse::into_response((
        StatusCode::BAD_REQUEST,
        Json(body),
    )))
}

/// Deletes a customer and all their data (privacy requests). Secret key only.
#[utoipa::path(delete, path = "/v1/subscribers/{app_user_id}", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id")),
    responses(
        (status = 200, description = "Deleted", body = Object),
        (status = 401, body = V1ErrorBody), (status = 403, body = V1ErrorBody),
        (status = 404, body = V1ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = V1ErrorBody)))]
pub async fn delete_subscriber(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_secret()?;
    let customer = existing(&state, caller.project_id(), &app_user_id).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    if !state.storage.delete_customer(&customer.key).await? {
        return Err(ApiError::new(ErrorKind::NotFound, "Subscriber not found"));
    }
    Ok(Json(json!({"app_user_id": customer.id})))
}
