//! Promotional entitlements over v1 (secret key): grant for a duration or until a time, revoke.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use entitled_core::test_store::add_period;
use entitled_core::time::LATEST;
use entitled_core::{Entitlement, IdKind, PromotionalGrant, UnixMillis, new_id};
use entitled_storage::PageRequest;
use serde::Deserialize;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorKind, V1ErrorBody};
use crate::extract::ApiJson;
use crate::pagination::MAX_LIMIT;
use crate::subscribers::{check_app_user_id, find_or_create, lock_customers, project_now};
use crate::v1::respond::customer_info;
use crate::v1::subscribers::existing;
use crate::webhooks::emit;

/// RevenueCat's promotional durations and the periods they last; `None`: forever.
const DURATIONS: &[(&str, Option<&str>)] = &[
    ("daily", Some("P1D")),
    ("three_day", Some("P3D")),
    ("weekly", Some("P1W")),
    ("two_week", Some("P2W")),
    ("monthly", Some("P1M")),
    ("two_month", Some("P2M")),
    ("three_month", Some("P3M")),
    ("six_month", Some("P6M")),
    ("yearly", Some("P1Y")),
    ("lifetime", None),
];

/// The body of a promotional grant: a `duration` name, or an `end_time_ms`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GrantBody {
    /// `daily`, `three_day`, `weekly`, `two_week`, `monthly`, `two_month`, `three_month`,
    /// `six_month`, `yearly` or `lifetime`.
    pub duration: Option<String>,
    /// Alternatively, when the grant ends (ms since epoch).
    pub end_time_ms: Option<i64>,
    /// When the grant starts (ms since epoch); now if absent.
    pub start_time_ms: Option<i64>,
}

async fn entitlement_by_key(
    state: &AppState,
    project_id: &str,
    key: &str,
) -> Result<Entitlement, ApiError> {
    let all = PageRequest {
        starting_after: None,
        limit: MAX_LIMIT,
    };
    state
        .storage
        .list_entitlements(project_id, &all)
        .await?
        .items
        .into_iter()
        .find(|e| e.lookup_key == key)
        .ok_or_else(|| ApiError::not_found("Entitlement"))
}

/// Grants an entitlement; 201 with CustomerInfo.
#[utoipa::path(post, path = "/v1/subscribers/{app_user_id}/entitlements/{entitlement_identifier}/promotional", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id"),
        ("entitlement_identifier" = String, Path, description = "The entitlement's lookup key")),
    request_body = GrantBody,
    responses(
        (status = 201, description = "CustomerInfo with the grant", body = Object),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody),
        (status = 403, body = V1ErrorBody), (status = 404, body = V1ErrorBody),
        (status = 422, body = V1ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = V1ErrorBody)))]
pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_user_id, entitlement_key)): Path<(String, String)>,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<Response, ApiError> {
    caller.require_secret()?;
    check_app_user_id(&app_user_id, "app_user_id")?;
    let project_id = caller.project_id().to_string();
    let entitlement = entitlement_by_key(&state, &project_id, &entitlement_key).await?;
    let now = project_now(&state, &project_id).await?;
    let starts_at = body.start_time_ms.map_or(now, UnixMillis);
    if starts_at > LATEST {
        return Err(ApiError::parameter(
            "start_time_ms",
            "start_time_ms must be before the year 10000",
        ));
    }
    let expires_at = match (&body.duration, body.end_time_ms) {
        (Some(name), None) => {
            let period = DURATIONS
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, period)| *period)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::Unprocessable,
                        format!(
                            "{name:?} is not a promotional duration (daily … yearly, lifetime)"
                        ),
                    )
                })?;
            // The periods above are valid, so only a start near the end of time fails.
            period
                .map(|p| {
                    add_period(starts_at, p)
                        .filter(|ends| *ends <= LATEST)
                        .ok_or_else(|| {
                            ApiError::parameter(
                                "start_time_ms",
                                "start_time_ms is too far in the future for this duration",
                            )
                        })
                })
                .transpose()?
        }
        (None, Some(end)) if end > LATEST.0 => {
            return Err(ApiError::parameter(
                "end_time_ms",
                "end_time_ms must be before the year 10000",
            ));
        }
        (None, Some(end)) if end > starts_at.0 => Some(UnixMillis(end)),
        (None, Some(_)) => {
            return Err(ApiError::parameter(
                "end_time_ms",
                "end_time_ms must be after the start",
            ));
        }
        _ => {
            return Err(ApiError::parameter(
                "duration",
                "send either duration or end_time_ms",
            ));
        }
    };
    let (customer, _) = find_or_create(&state, &project_id, &app_user_id, state.now()).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    let grant = PromotionalGrant {
        id: new_id(IdKind::Grant),
        customer_key: customer.key.clone(),
        entitlement_id: entitlement.id,
        starts_at,
        expires_at,
        revoked_at: None,
    };
    let events = emit::for_grant(&state, &project_id, &grant, &entitlement.lookup_key).await?;
    state
        .storage
        .add_grant(&grant, &events, state.now())
        .await?;
    customer_info(
        &state,
        &caller,
        &customer,
        now,
        StatusCode::CREATED,
        &HeaderMap::new(),
        None,
    )
    .await
}

/// Revokes a customer's promotional grants of an entitlement; 200 with CustomerInfo.
#[utoipa::path(post, path = "/v1/subscribers/{app_user_id}/entitlements/{entitlement_identifier}/revoke_promotionals", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id"),
        ("entitlement_identifier" = String, Path, description = "The entitlement's lookup key")),
    responses(
        (status = 200, description = "CustomerInfo without the grants", body = Object),
        (status = 401, body = V1ErrorBody), (status = 403, body = V1ErrorBody),
        (status = 404, body = V1ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = V1ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_user_id, entitlement_key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require_secret()?;
    let project_id = caller.project_id().to_string();
    let entitlement = entitlement_by_key(&state, &project_id, &entitlement_key).await?;
    let customer = existing(&state, &project_id, &app_user_id).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    let now = project_now(&state, &project_id).await?;
    state
        .storage
        .revoke_grants(
            &customer.key,
            &entitlement.id,
            &emit::for_revocation(
                &state,
                &project_id,
                &customer.key,
                &entitlement.id,
                &entitlement.lookup_key,
                now,
            )
            .await?,
            now,
        )
        .await?;
    customer_info(
        &state,
        &caller,
        &customer,
        now,
        StatusCode::OK,
        &HeaderMap::new(),
        None,
    )
    .await
}
