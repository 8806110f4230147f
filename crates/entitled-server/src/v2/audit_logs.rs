//! `GET /v2/projects/{project_id}/audit_logs`: every change to the project's configuration.

use axum::Json;
use axum::extract::{Path, State};
use entitled_core::{AuditEntry, Scope};
use serde::Serialize;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::pagination::{ListBody, ListParams};

/// An audit log entry (RevenueCat's `AuditLog`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditLogView {
    /// Always `audit_log`.
    pub object: &'static str,
    /// `audit…`.
    pub id: String,
    /// The project changed.
    pub project_id: String,
    /// What happened, e.g. `entitlement.created`.
    pub action_type: String,
    /// The kind of object changed.
    pub target_type: String,
    /// The id of the object changed.
    pub target_identifier: String,
    /// `api_key` or `system` (the command line).
    pub actor_type: &'static str,
    /// The key id, or `command_line`.
    pub actor_identifier: String,
    /// When, ms since epoch.
    pub occurred_at: i64,
    /// Details of the change.
    #[schema(value_type = Object)]
    pub additional_data: serde_json::Value,
}

impl From<AuditEntry> for AuditLogView {
    fn from(entry: AuditEntry) -> Self {
        Self {
            object: "audit_log",
            actor_type: entry.actor.actor_type(),
            actor_identifier: entry.actor.identifier().to_string(),
            id: entry.id,
            project_id: entry.project_id,
            action_type: entry.action_type,
            target_type: entry.target_type,
            target_identifier: entry.target_identifier,
            occurred_at: entry.occurred_at.0,
            additional_data: entry.additional_data,
        }
    }
}

/// Lists the project's configuration changes, oldest first.
#[utoipa::path(get, path = "/v2/projects/{project_id}/audit_logs", tag = "audit_logs",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"), ListParams),
    responses(
        (status = 200, description = "A page of audit log entries", body = ListBody<AuditLogView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_audit_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<AuditLogView>>, ApiError> {
    caller.authorize(&project_id, Scope::read("project_configuration:audit_logs"))?;
    let request = params.page_request()?;
    let page = state.storage.list_audit_logs(&project_id, &request).await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("/v2/projects/{project_id}/audit_logs"),
        request.limit,
        |entry| entry.id.as_str(),
        AuditLogView::from,
    )))
}
