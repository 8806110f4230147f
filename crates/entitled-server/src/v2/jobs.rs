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

/// The body of `POST …/customers/exports`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// `csv` (a row per transaction) or `ndjson` (a line per customer).
    #[schema(pattern = "^(csv|ndjson)$")]
    pub format: String,
    /// Only customers first seen from (ms since epoch).
    pub from_ms: Option<i64>,
    /// Only customers first seen until (ms since epoch).
    pub to_ms: Option<i64>,
}

/// The body of `POST …/imports`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// `csv`, `app_store_signed_transactions` (StoreKit 2 signed transactions, verified as
    /// receipts are) or `play_tokens` (each looked up with Google under the app's service
    /// account).
    #[schema(pattern = "^(csv|app_store_signed_transactions|play_tokens)$")]
    pub format: String,
    /// The rows: for `csv` under the header
    /// `app_user_id,store,product_id,store_transaction_id,purchased_at_ms,expires_at_ms`; for
    /// `app_store_signed_transactions` under `app_user_id,signed_transaction`; for
    /// `play_tokens` under `app_user_id,product_id,purchase_token`.
    pub data: String,
}

/// Largest import accepted, in bytes.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

async fn queue(
    state: &AppState,
    project_id: &str,
    kind: &str,
    params: serde_json::Value,
    input: Option<&str>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let now = state.now();
    let job = Job {
        id: entitled_core::new_id(entitled_core::IdKind::Job),
        project_id: project_id.to_string(),
        kind: kind.to_string(),
        status: "pending".to_string(),
        progress: 0,
        params,
        result: None,
        created_at: now,
        updated_at: now,
    };
    state.storage.create_job(&job, input).await?;
    let location = job_path(project_id, &job.id);
    Ok((
        axum::http::StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, location)],
        Json(JobView::from(job)),
    )
        .into_response())
}

/// Starts an export of the project's customers with their entitlements and transactions.
#[utoipa::path(post, path = "/v2/projects/{project_id}/customers/exports", tag = "jobs",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = ExportBody,
    responses(
        (status = 202, description = "The export job; poll Location, then download its file", body = JobView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn start_export(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    crate::extract::ApiJson(body): crate::extract::ApiJson<ExportBody>,
) -> Result<axum::response::Response, ApiError> {
    caller.authorize(&project_id, Scope::read("customer_information:customers"))?;
    if body.format != "csv" && body.format != "ndjson" {
        return Err(ApiError::parameter(
            "format",
            "format must be csv or ndjson",
        ));
    }
    if let (Some(from), Some(to)) = (body.from_ms, body.to_ms)
        && from > to
    {
        return Err(ApiError::parameter(
            "from_ms",
            "from_ms must not be after to_ms",
        ));
    }
    let params =
        serde_json::json!({"format": body.format, "from_ms": body.from_ms, "to_ms": body.to_ms});
    queue(&state, &project_id, "customer_export", params, None).await
}

/// Starts an import of historical purchases (up to 64 MiB): CSV rows, or App Store signed
/// transactions.
#[utoipa::path(post, path = "/v2/projects/{project_id}/imports", tag = "jobs",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = ImportBody,
    responses(
        (status = 202, description = "The import job; poll Location", body = JobView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn start_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    body: axum::body::Body,
) -> Result<axum::response::Response, ApiError> {
    use http_body_util::BodyExt;
    caller.authorize(
        &project_id,
        Scope::read_write("customer_information:customers"),
    )?;
    let bytes = http_body_util::Limited::new(body, MAX_IMPORT_BYTES)
        .collect()
        .await
        .map_err(|_| {
            ApiError::new(
                crate::error::ErrorKind::InvalidRequest,
                "The import is larger than 64 MiB",
            )
        })?
        .to_bytes();
    let body: ImportBody = crate::extract::parse_json(&bytes)?;
    match body.format.as_str() {
        "csv" | crate::jobs::import::SIGNED_FORMAT | crate::jobs::import::PLAY_FORMAT => {}
        _ => {
            return Err(ApiError::parameter(
                "format",
                "format must be csv, app_store_signed_transactions or play_tokens",
            ));
        }
    }
    crate::jobs::import::check_header(&body.format, &body.data)
        .map_err(|m| ApiError::parameter("data", m))?;
    let needs = match body.format.as_str() {
        crate::jobs::import::SIGNED_FORMAT => Some(entitled_core::AppType::AppStore),
        crate::jobs::import::PLAY_FORMAT => Some(entitled_core::AppType::PlayStore),
        _ => None,
    };
    if let Some(app_type) = needs {
        let apps = state
            .storage
            .list_apps(
                &project_id,
                &entitled_storage::PageRequest {
                    starting_after: None,
                    limit: crate::pagination::MAX_LIMIT,
                },
            )
            .await?;
        if !apps.items.iter().any(|a| a.app_type == app_type) {
            return Err(ApiError::new(
                crate::error::ErrorKind::Unprocessable,
                format!(
                    "This project has no {} app to verify these purchases with",
                    app_type.as_str()
                ),
            ));
        }
    }
    let rows = body
        .data
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    let params = serde_json::json!({"format": body.format, "rows": rows});
    queue(
        &state,
        &project_id,
        "purchase_import",
        params,
        Some(&body.data),
    )
    .await
}

/// A finished job's file (an export's CSV or NDJSON).
#[utoipa::path(get, path = "/v2/projects/{project_id}/jobs/{job_id}/file", tag = "jobs",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("job_id" = String, Path, description = "The job")),
    responses(
        (status = 200, description = "The file", content_type = "text/csv"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn job_file(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, job_id)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.authorize(&project_id, Scope::read("customer_information:customers"))?;
    let job = state
        .storage
        .get_job(&project_id, &job_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Job"))?;
    let file = state
        .storage
        .job_file(&project_id, &job_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("Job file (the job has not finished, or finished over a week ago)")
        })?;
    let content_type = if job.params["format"] == "ndjson" {
        "application/x-ndjson"
    } else {
        "text/csv"
    };
    Ok(([(axum::http::header::CONTENT_TYPE, content_type)], file).into_response())
}
