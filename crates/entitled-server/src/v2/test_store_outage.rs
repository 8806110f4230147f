//! The test store's simulated outage: while it lasts, test purchases cannot be verified, so
//! posting one gives a temporary grant (TEMPORARY_ENTITLEMENT_GRANT), as a real store outage
//! would; ending it verifies every purchase granted for. Apps use it to test how their
//! backend handles a purchase the store has not confirmed yet.

use axum::Json;
use axum::extract::{Path, State};
use entitled_core::{Scope, UnixMillis};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::subscribers::project_now;

const PURCHASES: &str = "customer_information:purchases";

/// The body of `…/test_store/outage`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageBody {
    /// `true` starts the outage (the test store verifies nothing); `false` ends it.
    pub active: bool,
}

/// The test store's outage after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutageView {
    /// Always `test_store.outage`.
    pub object: &'static str,
    /// Whether the test store is down.
    pub active: bool,
    /// Since when it is down, ms since epoch (null when it is up).
    pub since_ms: Option<i64>,
    /// Purchases verified because this change ended the outage.
    pub verified: u64,
}

/// Starts or ends the project's simulated test-store outage. Ending it verifies, at once,
/// every purchase given a temporary grant meanwhile (the sweep would do it on its next pass).
#[utoipa::path(post, path = "/v2/projects/{project_id}/test_store/outage", tag = "test_store",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = OutageBody,
    responses(
        (status = 200, description = "The outage after the change", body = OutageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn set_outage(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<OutageBody>,
) -> Result<Json<OutageView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(PURCHASES))?;
    let since = state
        .storage
        .set_test_store_outage(&project_id, body.active, state.now())
        .await?;
    let verified = if body.active {
        0
    } else {
        let now = project_now(&state, &project_id).await?;
        crate::temporary_grants::settle_pending(&state, &project_id, now).await?
    };
    Ok(Json(OutageView {
        object: "test_store.outage",
        active: since.is_some(),
        since_ms: since.map(|UnixMillis(ms)| ms),
        verified,
    }))
}
