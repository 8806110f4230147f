//! Answers for requests no handler takes: unknown routes and panics.

use std::any::Any;

use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorKind};

/// Fallback for unknown paths and methods: 404 in the contract's body.
pub async fn route_not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "No such route")
}

/// Turns a caught panic into a 500; the panic message is logged, never sent.
pub fn panic_to_error(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic payload)");
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}
