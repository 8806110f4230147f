//! Liveness (`GET /v1/health`) and readiness (`GET /v1/health/ready`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::AppState;
use crate::error::ApiError;

/// A health answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthBody {
    /// `ok` when healthy.
    pub status: &'static str,
}

/// Liveness: the process answers HTTP. No authentication.
#[utoipa::path(get, path = "/v1/health", tag = "health",
    responses((status = 200, description = "The server is up", body = HealthBody)))]
pub async fn health() -> Json<HealthBody> {
    Json(HealthBody { status: "ok" })
}

/// Readiness: the server can reach its storage; 503 when it cannot.
#[utoipa::path(get, path = "/v1/health/ready", tag = "health",
    responses(
        (status = 200, description = "Storage answers", body = HealthBody),
        (status = 503, description = "Storage is unreachable", body = crate::error::V1ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<HealthBody>, ApiError> {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(3), state.storage.ping()).await;
    match ping {
        Ok(Ok(())) => Ok(Json(HealthBody { status: "ok" })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::unavailable("Storage is unreachable", 5))
        }
        Err(_) => Err(ApiError::unavailable("Storage did not answer in time", 5)),
    }
}
