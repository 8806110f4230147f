//! One structured log line per request: method, route, status, latency, request id.
//! Headers (and so keys) are never logged.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::{MakeRequestId, RequestId};

/// Gives a request without an `X-Request-Id` a new one ([`new_request_id`]: tower-http's
/// `MakeRequestUuid` asks the OS for randomness on every request, a system call each).
///
/// [`new_request_id`]: entitled_core::ids::new_request_id
#[derive(Debug, Clone, Copy)]
pub struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&entitled_core::ids::new_request_id())
            .ok()
            .map(RequestId::new)
    }
}

/// Middleware: logs the request once its response is ready.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_string(), |p| p.as_str().to_string());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
        .to_string();
    let response = next.run(request).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms,
        request_id = %request_id,
        "request"
    );
    response
}
