//! `/v2/projects/{project_id}/integrations/webhooks`: where a project's customer events go
//! (RevenueCat's webhook integrations), plus entitled's additions: every delivery and
//! attempt, a test event, and the signing secret.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::purchases::Environment;
use entitled_core::validation::display_name;
use entitled_core::webhooks::{OutboxEvent, WebhookIntegration};
use entitled_core::{AuditEntry, GeneratedKey, IdKind, Scope, new_id};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, present_or_null};
use crate::pagination::{ListBody, ListParams};

const INTEGRATIONS: &str = "project_configuration:integrations";

/// RevenueCat's webhook event types, as integrations filter them.
const EVENT_TYPES: &[&str] = &[
    "initial_purchase",
    "renewal",
    "product_change",
    "cancellation",
    "billing_issue",
    "non_renewing_purchase",
    "uncancellation",
    "transfer",
    "subscription_paused",
    "expiration",
    "subscription_extended",
    "invoice_issuance",
    "temporary_entitlement_grant",
    "refund_reversed",
    "virtual_currency_transaction",
];

/// An integration as v2 shows it (RevenueCat's `WebhookIntegration`); the authorization
/// header and signing secret are never shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    /// Always `webhook_integration`.
    pub object: &'static str,
    /// `whk…`.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// A name for people.
    pub name: String,
    /// Where events are POSTed.
    pub url: String,
    /// `production`, `sandbox`, or null for both.
    pub environment: Option<&'static str>,
    /// The event types sent, or null for all.
    pub event_types: Option<Vec<String>>,
    /// Only events of this app, or null for all.
    pub app_id: Option<String>,
    /// Creation time, ms since epoch.
    pub created_at: i64,
}

impl From<WebhookIntegration> for IntegrationView {
    fn from(i: WebhookIntegration) -> Self {
        Self {
            object: "webhook_integration",
            id: i.id,
            project_id: i.project_id,
            name: i.name,
            url: i.url,
            environment: i.environment.map(Environment::as_str),
            event_types: i.event_types,
            app_id: i.app_id,
            created_at: i.created_at.0,
        }
    }
}

/// The body of a create (`name` and `url` required) or update (all optional).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationBody {
    /// A name for people.
    pub name: Option<String>,
    /// An `http://` or `https://` URL.
    pub url: Option<String>,
    /// Sent as the `Authorization` header (null removes it).
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    pub authorization_header: Option<Option<String>>,
    /// `production`, `sandbox`, or null for both.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    pub environment: Option<Option<String>>,
    /// Event types to send, or null for all.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    /// Only events of this app, or null for all.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    pub app_id: Option<Option<String>>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    /// When, ms since epoch.
    pub attempted_at: i64,
    /// The receiver's status code, if it answered.
    pub status_code: Option<u16>,
    /// How long it took, ms.
    pub latency_ms: i64,
    /// Why it failed without an answer.
    pub error: Option<String>,
}

/// A delivery of one event to this integration, with every attempt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// Always `webhook_delivery`.
    pub object: &'static str,
    /// `dlv…`.
    pub id: String,
    /// The event's id (the same in every attempt).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: &'static str,
    /// When the next attempt is due (pending deliveries), ms since epoch.
    pub next_attempt_at: Option<i64>,
    /// When the event was queued, ms since epoch.
    pub created_at: i64,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

/// The answer of a secret rotation: the new secret, shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SigningSecretView {
    /// Always `webhook_signing_secret`.
    pub object: &'static str,
    /// Verify `X-Entitled-Signature` (`t=…,v1=…`, HMAC-SHA256 of `"<t>.<body>"`) with it.
    pub signing_secret: String,
}

/// Checks a webhook integration's `url`: an `http://` or `https://` URL of at most 5000 bytes.
pub fn validate_url(url: &str) -> Result<String, ApiError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    // The delivery worker's HTTP client must be able to post to it, too.
    let valid = url.len() <= 5000
        && rest.is_some_and(|r| {
            !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace)
        })
        && reqwest::Url::parse(url).is_ok_and(|parsed| parsed.host().is_some());
    if valid {
        Ok(url.to_string())
    } else {
        Err(ApiError::parameter(
            "url",
            "url must be an http:// or https:// URL",
        ))
    }
}

/// Checks a webhook integration's `authorization_header`: at most 5000 bytes without control
/// characters (line breaks included), so that it can be sent as a header.
pub fn validate_authorization_header(value: &str) -> Result<(), ApiError> {
    if value.len() > 5000 || value.contains(char::is_control) {
        return Err(ApiError::parameter(
            "authorization_header",
            "authorization_header must be one line of at most 5000 characters, without control characters",
        ));
    }
    Ok(())
}

fn parse_environment(value: &str) -> Result<Environment, ApiError> {
    match value {
        "production" => Ok(Environment::Production),
        "sandbox" => Ok(Environment::Sandbox),
        _ => Err(ApiError::parameter(
            "environment",
            "environment must be production, sandbox or null",
        )),
    }
}

/// Applies a body's fields to an integration, validating each.
async fn apply(
    state: &AppState,
    integration: &mut WebhookIntegration,
    body: IntegrationBody,
) -> Result<(), ApiError> {
    if let Some(name) = body.name {
        integration.name = display_name(&name, "name", 1500)?;
    }
    if let Some(url) = body.url {
        integration.url = validate_url(&url)?;
    }
    if let Some(header) = body.authorization_header {
        if let Some(value) = &header {
            validate_authorization_header(value)?;
        }
        integration.authorization_header = header;
    }
    if let Some(environment) = body.environment {
        integration.environment = environment.as_deref().map(parse_environment).transpose()?;
    }
    if let Some(types) = body.event_types {
        if let Some(unknown) = types
            .iter()
            .flatten()
            .find(|t| !EVENT_TYPES.contains(&t.as_str()))
        {
            return Err(ApiError::parameter(
                "event_types",
                format!("{unknown:?} is not a webhook event type"),
            ));
        }
        integration.event_types = types;
    }
    if let Some(app_id) = body.app_id {
        if let Some(app_id) = &app_id {
            state
                .storage
                .get_app(&integration.project_id, app_id)
                .await?
                .ok_or_else(|| ApiError::not_found("App"))?;
        }
        integration.app_id = app_id;
    }
    Ok(())
}

async fn existing(
    state: &AppState,
    project_id: &str,
    id: &str,
) -> Result<WebhookIntegration, ApiError> {
    state
        .storage
        .get_integration(project_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Webhook integration"))
}

/// Lists the project's webhook integrations.
#[utoipa::path(get, path = "/v2/projects/{project_id}/integrations/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"), ListParams),
    responses(
        (status = 200, description = "A page of integrations", body = ListBody<IntegrationView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_integrations(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<IntegrationView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(INTEGRATIONS))?;
    let request = params.page_request()?;
    let page = state
        .storage
        .list_integrations(&project_id, &request)
        .await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("/v2/projects/{project_id}/integrations/webhooks"),
        request.limit,
        |i| i.id.as_str(),
        IntegrationView::from,
    )))
}

/// Creates a webhook integration.
#[utoipa::path(post, path = "/v2/projects/{project_id}/integrations/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = IntegrationBody,
    responses(
        (status = 201, description = "The created integration", body = IntegrationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_integration(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<IntegrationBody>,
) -> Result<(StatusCode, Json<IntegrationView>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(INTEGRATIONS))?;
    if body.name.is_none() {
        return Err(ApiError::parameter("name", "name is required"));
    }
    if body.url.is_none() {
        return Err(ApiError::parameter("url", "url is required"));
    }
    let now = state.now();
    let mut integration = WebhookIntegration {
        id: new_id(IdKind::WebhookIntegration),
        project_id: project_id.clone(),
        name: String::new(),
        url: String::new(),
        authorization_header: None,
        environment: None,
        event_types: None,
        app_id: None,
        signing_secret: GeneratedKey::generate("whsec_").plaintext,
        created_at: now,
    };
    apply(&state, &mut integration, body).await?;
    let audit = AuditEntry::new(
        &project_id,
        "webhook_integration",
        &integration.id,
        "created",
        &caller.actor(),
        now,
        json!({"name": integration.name, "url": integration.url}),
    );
    state
        .storage
        .create_integration(&integration, &audit)
        .await?;
    Ok((StatusCode::CREATED, Json(integration.into())))
}

/// One webhook integration.
#[utoipa::path(get, path = "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("webhook_integration_id" = String, Path, description = "The integration")),
    responses(
        (status = 200, description = "The integration", body = IntegrationView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_integration(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, id)): Path<(String, String)>,
) -> Result<Json<IntegrationView>, ApiError> {
    caller.authorize(&project_id, Scope::read(INTEGRATIONS))?;
    Ok(Json(existing(&state, &project_id, &id).await?.into()))
}

/// Changes a webhook integration.
#[utoipa::path(post, path = "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("webhook_integration_id" = String, Path, description = "The integration")),
    request_body = IntegrationBody,
    responses(
        (status = 200, description = "The integration", body = IntegrationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_integration(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<IntegrationBody>,
) -> Result<Json<IntegrationView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(INTEGRATIONS))?;
    let mut integration = existing(&state, &project_id, &id).await?;
    apply(&state, &mut integration, body).await?;
    let audit = AuditEntry::new(
        &project_id,
        "webhook_integration",
        &id,
        "updated",
        &caller.actor(),
        state.now(),
        json!({"name": integration.name, "url": integration.url}),
    );
    state
        .storage
        .update_integration(&integration, &audit)
        .await?;
    Ok(Json(integration.into()))
}

/// Deletes a webhook integration and its deliveries.
#[utoipa::path(delete, path = "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("webhook_integration_id" = String, Path, description = "The integration")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_integration(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(INTEGRATIONS))?;
    let audit = AuditEntry::new(
        &project_id,
        "webhook_integration",
        &id,
        "deleted",
        &caller.actor(),
        state.now(),
        json!({}),
    );
    if state
        .storage
        .delete_integration(&project_id, &id, &audit)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("Webhook integration"))
    }
}

/// Every delivery to this integration, with each attempt's time, status code, latency and error.
#[utoipa::path(get, path = "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}/deliveries", tag = "webhooks",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("webhook_integration_id" = String, Path, description = "The integration"), ListParams),
    responses(
        (status = 200, description = "A page of deliveries", body = ListBody<DeliveryView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<DeliveryView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(INTEGRATIONS))?;
    let request = params.page_request()?;
    existing(&state, &project_id, &id).await?;
    let page = state.storage.list_deliveries(&id, &request).await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("/v2/projects/{project_id}/integrations/webhooks/{id}/deliveries"),
        request.limit,
        |d| d.id.as_str(),
        |d| DeliveryView {
            object: "webhook_delivery",
            next_attempt_at: (d.status == entitled_core::webhooks::DeliveryStatus::Pending)
                .then_some(d.next_attempt_at.0),
            status: d.status.as_str(),
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            created_at: d.created_at.0,
            attempts: d
                .attempts
                .into_iter()
                .map(|(at, outcome)| AttemptView {
                    attempted_at: at.0,
                    status_code: outcome.status_code,
                    latency_ms: outcome.latency_ms,
                    error: outcome.error,
                })
                .collect(),
        },
    )))
}

/// Queues a TEST event for this integration (202: the worker delivers it shortly).
#[utoipa::path(post, path = "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}/actions/test", tag = "webhooks",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("webhook_integration_id" = String, Path, description = "The integration")),
    responses(
        (status = 202, description = "The TEST event, queued", body = Object),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn send_test(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(INTEGRATIONS))?;
    let integration = existing(&state, &project_id, &id).await?;
    let now = state.now();
    let event_id = new_id(IdKind::LifecycleEvent);
    let environment = integration.environment.unwrap_or(Environment::Production);
    let body = json!({"api_version": "1.0", "event": {
        "id": event_id, "type": "TEST", "app_user_id": "test_user", "original_app_user_id": "test_user",
        "aliases": ["test_user"], "event_timestamp_ms": now.0,
        "environment": environment.as_str().to_ascii_uppercase(), "app_id": integration.app_id,
    }});
    let event = OutboxEvent {
        id: event_id.clone(),
        project_id: project_id.clone(),
        customer_key: None,
        event_type: "TEST".to_string(),
        environment,
        app_id: integration.app_id.clone(),
        body: body.clone(),
        created_at: now,
        only_to: Some(integration.id),
    };
    state.storage.record_events(&[event], now).await?;
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// Replaces the integration's signing secret and shows the new one, only here.
#[utoipa::path(post, path = "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}/actions/rotate_signing_secret", tag = "webhooks",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("webhook_integration_id" = String, Path, description = "The integration")),
    responses(
        (status = 200, description = "The new secret", body = SigningSecretView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_signing_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, id)): Path<(String, String)>,
) -> Result<Json<SigningSecretView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(INTEGRATIONS))?;
    let mut integration = existing(&state, &project_id, &id).await?;
    integration.signing_secret = GeneratedKey::generate("whsec_").plaintext;
    let audit = AuditEntry::new(
        &project_id,
        "webhook_integration",
        &id,
        "signing_secret_rotated",
        &caller.actor(),
        state.now(),
        json!({}),
    );
    state
        .storage
        .update_integration(&integration, &audit)
        .await?;
    Ok(Json(SigningSecretView {
        object: "webhook_signing_secret",
        signing_secret: integration.signing_secret,
    }))
}

/// The body of `…/actions/redeliver`: the events to send again, by when they were queued.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeliverBody {
    /// From (ms since epoch, inclusive); the beginning if absent.
    pub from_ms: Option<i64>,
    /// To (ms since epoch, inclusive); now if absent.
    pub to_ms: Option<i64>,
}

/// Sends a range of events to this integration again. 202: a job does it; poll `Location`.
#[utoipa::path(post, path = "/v2/projects/{project_id}/integrations/webhooks/{webhook_integration_id}/actions/redeliver", tag = "webhooks",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("webhook_integration_id" = String, Path, description = "The integration")),
    request_body = RedeliverBody,
    responses(
        (status = 202, description = "The redelivery job", body = crate::v2::jobs::JobView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RedeliverBody>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.authorize(&project_id, Scope::read_write(INTEGRATIONS))?;
    existing(&state, &project_id, &id).await?;
    let now = state.now();
    let from = entitled_core::UnixMillis(body.from_ms.unwrap_or(0));
    let to = entitled_core::UnixMillis(body.to_ms.unwrap_or(now.0));
    if from > to {
        return Err(ApiError::parameter(
            "from_ms",
            "from_ms must not be after to_ms",
        ));
    }
    let job = entitled_core::webhooks::Job {
        id: new_id(IdKind::Job),
        project_id: project_id.clone(),
        kind: "webhook_redelivery".to_string(),
        status: "pending".to_string(),
        progress: 0,
        params: json!({"webhook_integration_id": id, "from_ms": from.0, "to_ms": to.0}),
        result: None,
        created_at: now,
        updated_at: now,
    };
    state.storage.create_job(&job, None).await?;
    let location = crate::v2::jobs::job_path(&project_id, &job.id);
    let view = crate::v2::jobs::JobView::from(job);
    Ok((
        StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz/fuzz_targets/webhook_config.rs`: these were accepted, but no delivery
    /// could ever be made with them.
    #[test]
    fn urls_and_headers_the_worker_cannot_send_are_refused() {
        assert!(validate_authorization_header("Bearer abc").is_ok());
        assert!(validate_authorization_header("\u{5}]").is_err());
        assert!(validate_authorization_header("Bearer a\u{7f}").is_err());
        assert!(validate_authorization_header("a\r\nInjected: 1").is_err());
        assert!(validate_url("https://example.com/hook?x=1").is_ok());
        assert!(validate_url("http://127.0.0.1:8080/").is_ok());
        assert!(validate_url("http://example.com:99999/").is_err());
        assert!(validate_url("http://[").is_err());
        assert!(validate_url("https:///path").is_err());
    }
}
