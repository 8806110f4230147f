//! Graceful shutdown: once draining starts, requests in flight finish and new ones are
//! answered 503 with `Retry-After`, until none are left.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

use crate::error::ApiError;

/// Seconds a client is told to wait before retrying on a draining node.
pub const DRAIN_RETRY_AFTER_SECS: u64 = 5;

/// Counts requests in flight and remembers whether the node is shutting down.
#[derive(Debug, Default)]
pub struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Drain {
    /// A node that is serving.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts draining: from now on new requests are refused.
    pub fn start(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.idle.notify_waiters();
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Resolves once no request is in flight.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Decrements the in-flight count when a request ends, however it ends.
struct InFlight(Arc<Drain>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Middleware: counts the request in flight, or refuses it with 503 while draining.
pub async fn reject_while_draining(
    State(drain): State<Arc<Drain>>,
    request: Request,
    next: Next,
) -> Response {
    if drain.is_draining() {
        return ApiError::unavailable(
            "This server is shutting down; retry on another node or shortly",
            DRAIN_RETRY_AFTER_SECS,
        )
        .into_response();
    }
    drain.in_flight.fetch_add(1, Ordering::SeqCst);
    let _guard = InFlight(drain.clone());
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wait_idle_returns_when_the_last_request_ends() {
        let drain = Arc::new(Drain::new());
        drain.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(drain.clone());
        drain.start();
        let waiter = tokio::spawn({
            let drain = drain.clone();
            async move { drain.wait_idle().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(guard);
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("drain should become idle")
            .expect("waiter task");
        assert!(drain.is_draining());
    }
}
