//! `GET /v2/projects`: the projects the key can see (its own).

use axum::Json;
use axum::extract::State;
use entitled_core::{Project, Scope};
use serde::Serialize;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::pagination::ListBody;

/// RevenueCat's `Project` object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    /// Always `project`.
    pub object: &'static str,
    /// `proj…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
}

impl From<Project> for ProjectView {
    fn from(project: Project) -> Self {
        Self {
            object: "project",
            id: project.id,
            name: project.name,
            created_at: project.created_at.0,
        }
    }
}

/// Lists the key's project.
#[utoipa::path(get, path = "/v2/projects", tag = "projects",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key's project", body = ListBody<ProjectView>),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ListBody<ProjectView>>, ApiError> {
    let project_id = caller.key.project_id.clone();
    caller.authorize(&project_id, Scope::read("project_configuration:projects"))?;
    let project = state
        .storage
        .get_project(&project_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Project"))?;
    Ok(Json(ListBody {
        object: "list",
        items: vec![project.into()],
        next_page: None,
        url: "/v2/projects".to_string(),
    }))
}
