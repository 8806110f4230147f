//! `/v2/projects/{project_id}/jobs/{job_id}`: work done in the background (202 answers point
//! here), with status, progress and result.

use axum::Json;
use axum::extract::{Path, State};
use entitled_core::Scope;
use entitled_core::webhooks::Job;
use serde::Serialize;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};

/// A job as v2 shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// Always `job`.
    pub object: &'static str,
    /// `job…`.
    pub id: String,
    /// What it does, e.g. `webhook_redelivery`.
    pub kind: String,
    /// `pending`, `running`, `succeeded` or `failed`.
    pub status: String,
    /// Percent done.
    pub progress: i64,
    /// What it was asked to do.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// What it did, once finished.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// When it was queued, ms since epoch.
    pub created_at: i64,
    /// When it last changed, ms since epoch.
    pub updated_at: i64,
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        Self {
            object: "job",
            id: job.id,
            kind: job.kind,
            status: job.status,
            progress: job.progress,
            params: job.params,
            result: job.result,
            created_at: job.created_at.0,
            updated_at: job.updated_at.0,
        }
    }
}

/// The path where a job can be polled.
pub fn job_path(project_id: &str, job_id: &str) -> String {
    format!("/v2/projects/{project_id}/jobs/{job_id}")
}

/// One job.
#[utoipa::path(get, path = "/v2/projects/{project_id}/jobs/{job_id}", tag = "jobs",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("job_id" = String, Path, description = "The job")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, job_id)): Path<(String, String)>,
) -> Result<Json<JobView>, ApiError> {
    caller.authorize(
        &project_id,
        Scope::read("project_configuration:integrations"),
    )?;
    let job = state
        .storage
        .get_job(&project_id, &job_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Job"))?;
    Ok(Json(job.into()))
}
