//! `POST /v2/coffee`: the same refusal as v1, as a v2 error object.

use crate::error::ApiError;

/// Always 418.
#[utoipa::path(post, path = "/v2/coffee", tag = "coffee",
    responses((status = 418, description = "Refuses to brew coffee", body = crate::error::ErrorBody)))]
pub async fn brew() -> ApiError {
    crate::v1::coffee::refuse_to_brew()
}
