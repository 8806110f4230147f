//! `/v2/projects/{project_id}/customers/{customer_id}/actions/…`: promotional grants,
//! offering overrides and purchase transfers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::{IdKind, PromotionalGrant, Scope, Transfer, UnixMillis, new_id};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, present_or_null};
use crate::subscribers::lock_customers;
use crate::v2::customers::{CUSTOMERS, CustomerView, render, resolve};
use crate::webhooks::emit;

/// The body of `…/actions/grant_entitlement`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantEntitlementBody {
    /// The entitlement to grant.
    pub entitlement_id: String,
    /// When the grant ends, ms since epoch; must be in the future.
    pub expires_at: i64,
}

/// The body of `…/actions/revoke_granted_entitlement`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeGrantBody {
    /// The entitlement whose promotional grants end now.
    pub entitlement_id: String,
}

/// The body of `…/actions/assign_offering`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignOfferingBody {
    /// The offering this customer gets instead of the current one; null clears it.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    pub offering_id: Option<Option<String>>,
}

/// The body of `…/actions/transfer`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// Who receives the purchases.
    pub target_customer_id: String,
    /// Only the purchases of these apps (all when absent).
    pub app_ids: Option<Vec<String>>,
}

/// The answer of a transfer: both customers afterwards.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TransferView {
    /// The customer the purchases left.
    pub source_customer: CustomerView,
    /// The customer the purchases went to.
    pub target_customer: CustomerView,
}

/// Grants an entitlement until `expires_at`, outside any store.
#[utoipa::path(post, path = "/v2/projects/{project_id}/customers/{customer_id}/actions/grant_entitlement", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias")),
    request_body = GrantEntitlementBody,
    responses(
        (status = 201, description = "The customer, with the grant", body = CustomerView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = ErrorBody)))]
pub async fn grant_entitlement(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<GrantEntitlementBody>,
) -> Result<(StatusCode, Json<CustomerView>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(CUSTOMERS))?;
    let now = state.now();
    if body.expires_at <= now.0 {
        return Err(ApiError::parameter(
            "expires_at",
            "expires_at must be in the future",
        ));
    }
    if body.expires_at > entitled_core::time::LATEST.0 {
        return Err(ApiError::parameter(
            "expires_at",
            "expires_at must be before the year 10000",
        ));
    }
    let customer = resolve(&state, &project_id, &customer_id).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    let entitlement = state
        .storage
        .get_entitlement(&project_id, &body.entitlement_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Entitlement"))?;
    let grant = PromotionalGrant {
        id: new_id(IdKind::Grant),
        customer_key: customer.key.clone(),
        entitlement_id: body.entitlement_id,
        starts_at: now,
        expires_at: Some(UnixMillis(body.expires_at)),
        revoked_at: None,
    };
    let events = emit::for_grant(&state, &project_id, &grant, &entitlement.lookup_key).await?;
    state.storage.add_grant(&grant, &events, now).await?;
    Ok((
        StatusCode::CREATED,
        Json(render(&state, customer, false).await?),
    ))
}

/// Ends a customer's promotional grants of an entitlement now.
#[utoipa::path(post, path = "/v2/projects/{project_id}/customers/{customer_id}/actions/revoke_granted_entitlement", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias")),
    request_body = RevokeGrantBody,
    responses(
        (status = 200, description = "The customer, without the grant", body = CustomerView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = ErrorBody)))]
pub async fn revoke_granted_entitlement(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RevokeGrantBody>,
) -> Result<Json<CustomerView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(CUSTOMERS))?;
    let customer = resolve(&state, &project_id, &customer_id).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    let now = state.now();
    let lookup_key = state
        .storage
        .get_entitlement(&project_id, &body.entitlement_id)
        .await?
        .map(|e| e.lookup_key)
        .unwrap_or_default();
    let events = emit::for_revocation(
        &state,
        &project_id,
        &customer.key,
        &body.entitlement_id,
        &lookup_key,
        now,
    )
    .await?;
    let revoked = state
        .storage
        .revoke_grants(&customer.key, &body.entitlement_id, &events, now)
        .await?;
    if revoked == 0 {
        return Err(ApiError::not_found(
            "Active promotional grant of that entitlement",
        ));
    }
    Ok(Json(render(&state, customer, false).await?))
}

/// Gives a customer a specific offering instead of the project's current one.
#[utoipa::path(post, path = "/v2/projects/{project_id}/customers/{customer_id}/actions/assign_offering", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias")),
    request_body = AssignOfferingBody,
    responses(
        (status = 200, description = "Assigned (no body)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = ErrorBody)))]
pub async fn assign_offering(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AssignOfferingBody>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(CUSTOMERS))?;
    let offering_id = body.offering_id.ok_or_else(|| {
        ApiError::parameter(
            "offering_id",
            "offering_id is required (null clears the assignment)",
        )
    })?;
    let customer = resolve(&state, &project_id, &customer_id).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    state
        .storage
        .assign_offering(&project_id, &customer.key, offering_id.as_deref())
        .await?;
    Ok(StatusCode::OK)
}

/// Moves a customer's store purchases (all, or those of some apps) to another customer.
#[utoipa::path(post, path = "/v2/projects/{project_id}/customers/{customer_id}/actions/transfer", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer whose purchases move")),
    request_body = TransferBody,
    responses(
        (status = 200, description = "Both customers afterwards", body = TransferView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = ErrorBody)))]
pub async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Json<TransferView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(CUSTOMERS))?;
    let source = resolve(&state, &project_id, &customer_id).await?;
    let target = resolve(&state, &project_id, &body.target_customer_id).await?;
    let _locks = lock_customers(&state, &[&source.key, &target.key]).await?;
    if source.key == target.key {
        return Err(ApiError::parameter(
            "target_customer_id",
            "target_customer_id names the same customer",
        ));
    }
    if let Some(app_ids) = &body.app_ids {
        for app_id in app_ids {
            state
                .storage
                .get_app(&project_id, app_id)
                .await?
                .ok_or_else(|| ApiError::not_found("App"))?;
        }
    }
    let record = Transfer {
        id: new_id(IdKind::Transfer),
        project_id: project_id.clone(),
        source_customer_key: source.key.clone(),
        target_customer_key: target.key.clone(),
        app_ids: body.app_ids,
        transferred_at: state.now(),
    };
    state.storage.record_transfer(&record).await?;
    Ok(Json(TransferView {
        source_customer: render(&state, source, false).await?,
        target_customer: render(&state, target, false).await?,
    }))
}
