//! Overload shedding: beyond a node's concurrency limit, requests are answered 503 with
//! `Retry-After` at once instead of queueing without bound. Health checks are never shed.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Seconds a shed client is told to wait.
pub const SHED_RETRY_AFTER_SECS: u64 = 1;

/// The node's request slots.
#[derive(Debug)]
pub struct Shedder {
    slots: Arc<Semaphore>,
}

impl Shedder {
    /// A node that handles at most `limit` requests at once.
    pub fn new(limit: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit.max(1))),
        }
    }
}

/// Middleware: takes a slot for the request, or sheds it with 503.
pub async fn shed(State(shedder): State<Arc<Shedder>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/v1/health") {
        return next.run(request).await;
    }
    let Ok(_slot) = shedder.slots.clone().try_acquire_owned() else {
        return ApiError::unavailable(
            "This server is at capacity; retry shortly",
            SHED_RETRY_AFTER_SECS,
        )
        .into_response();
    };
    next.run(request).await
}
