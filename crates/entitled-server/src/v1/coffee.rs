//! `POST /v1/coffee`: RevenueCat's 418. entitled brews no coffee either.

use crate::error::{ApiError, ErrorKind};

/// The refusal shared by both coffee endpoints.
pub fn refuse_to_brew() -> ApiError {
    ApiError::new(
        ErrorKind::Teapot,
        "I'm a teapot: this server refuses to brew coffee",
    )
}

/// Always 418.
#[utoipa::path(post, path = "/v1/coffee", tag = "coffee",
    responses((status = 418, description = "Refuses to brew coffee", body = crate::error::V1ErrorBody)))]
pub async fn brew() -> ApiError {
    refuse_to_brew()
}
