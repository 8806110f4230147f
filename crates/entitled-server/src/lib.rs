#![warn(missing_docs)]
//! entitled's HTTP layer: the v1 SDK API, the v2 management API, authentication, the
//! error contract and the OpenAPI document, assembled into one axum [`Router`].

pub mod admin;
mod app_store;
pub mod auth;
pub mod credentials;
pub mod drain;
pub mod error;
pub mod expand;
pub mod extract;
pub mod jobs;
mod logging;
mod meta;
pub mod openapi;
pub mod pagination;
pub mod play_store;
pub mod rate_limit;
pub mod shed;
mod store_facts;
pub mod subscribers;
pub mod sweep;
pub mod temporary_grants;
pub mod v1;
pub mod v2;
pub mod visits;
pub mod webhooks;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::middleware;
use entitled_core::UnixMillis;
use entitled_storage::Storage;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

pub use drain::Drain;
pub use error::{ApiError, ErrorKind};

/// Where the current time comes from; tests can fix it, production reads the system clock.
pub type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// The system clock, in UTC milliseconds.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        UnixMillis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    })
}

/// Tunables of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes; larger ones get 400.
    pub body_limit_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
        }
    }
}

/// What every handler can reach: one shared [`Services`], so that handing it to a handler
/// (axum clones the state for every request, and every layer holding it) costs one
/// reference count instead of one per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state of a server made of `services`.
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The parts of the server handlers use.
pub struct Services {
    /// The database.
    pub storage: Arc<dyn Storage>,
    /// The current time.
    pub clock: Clock,
    /// Shutdown state: while draining, new requests get 503.
    pub drain: Arc<Drain>,
    /// Seals store credentials; `None` when no secrets key is configured.
    pub sealer: Option<Arc<credentials::Sealer>>,
    /// Exchange rates for the USD amounts of webhooks and revenue.
    pub usd_rates: Arc<entitled_core::purchases::UsdRates>,
    /// Per-key, per-domain request limits.
    pub rate_limiter: Arc<rate_limit::RateLimiter>,
    /// How long a change waits for a customer's lock before answering 423.
    pub lock_wait: Duration,
    /// The node's concurrency limit.
    pub shedder: Arc<shed::Shedder>,
    /// Writes last-seen visits in groups.
    pub visits: visits::VisitRecorder,
    /// Verifies what Apple signs (StoreKit 2 transactions, server notifications).
    pub apple: Arc<entitled_stores::app_store::SignedDataVerifier>,
    /// Asks Google Play about purchase tokens, one client per app.
    pub play: Arc<play_store::PlayClients>,
}

impl Services {
    /// Now, by the state's clock.
    pub fn now(&self) -> UnixMillis {
        (self.clock)()
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The complete application: every route, with the error contract, request ids, request
/// logs, panic recovery, body limits and drain handling applied.
pub fn app(state: AppState, config: &HttpConfig) -> Router {
    let (routes, _) = openapi::api_router().split_for_parts();
    with_contract_layers(routes, state, config)
}

/// Holds each answer until the customer locks its handler took are released.
async fn release_locks_before_answering(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    entitled_storage::releasing_locks(next.run(request)).await
}

/// Wraps routes in everything that makes them speak the contract.
fn with_contract_layers(routes: Router<AppState>, state: AppState, config: &HttpConfig) -> Router {
    routes
        .fallback(meta::route_not_found)
        .method_not_allowed_fallback(meta::route_not_found)
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(middleware::from_fn(release_locks_before_answering))
        .layer(CatchPanicLayer::custom(meta::panic_to_error))
        .layer(middleware::from_fn_with_state(
            state.rate_limiter.clone(),
            rate_limit::limit,
        ))
        .layer(middleware::from_fn(logging::log_request))
        .layer(middleware::from_fn_with_state(
            state.shedder.clone(),
            shed::shed,
        ))
        .layer(middleware::from_fn_with_state(
            state.drain.clone(),
            drain::reject_while_draining,
        ))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, logging::NewRequestId))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(error::render_errors)),
        )
}

/// A state over a fresh, migrated SQLite database in a temporary directory (kept alive by
/// the returned guard), with default limits and `clock`.
#[cfg(test)]
pub(crate) async fn test_state(clock: Clock) -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let storage = entitled_storage::open(&url).await.expect("open sqlite");
    storage.migrate().await.expect("migrate sqlite");
    let state = AppState::new(Services {
        storage: storage.clone(),
        clock,
        drain: Arc::new(Drain::new()),
        sealer: None,
        usd_rates: Arc::default(),
        rate_limiter: Arc::new(rate_limit::RateLimiter::new(
            entitled_core::rate_limits::RateLimits::default(),
            storage.clone(),
            system_clock(),
        )),
        lock_wait: Duration::ZERO,
        shedder: Arc::new(shed::Shedder::new(64)),
        visits: visits::VisitRecorder::spawn(storage),
        apple: Arc::new(entitled_stores::app_store::SignedDataVerifier::new(
            entitled_stores::app_store::TrustedRoots::apple(),
        )),
        play: Arc::new(play_store::PlayClients::new(Default::default())),
    });
    (state, dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    /// A handler with a bug.
    #[utoipa::path(get, path = "/v2/explode", responses((status = 500)))]
    async fn explode() -> &'static str {
        let secret_detail = "table customers is on fire";
        panic!("{secret_detail}")
    }

    #[tokio::test]
    async fn a_panic_becomes_a_500_with_the_request_id_and_no_internals() {
        let (state, _dir) = test_state(system_clock()).await;
        let (routes, _) = OpenApiRouter::new()
            .routes(routes!(explode))
            .split_for_parts();
        let app = with_contract_layers(routes, state.clone(), &HttpConfig::default());
        let request = Request::get("/v2/explode")
            .header("x-request-id", "panic-1")
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["x-request-id"], "panic-1");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], "server_error");
        assert!(body["message"].as_str().unwrap().contains("panic-1"));
        assert!(!body.to_string().contains("fire"));
        // The server keeps serving after the panic, and nothing stays counted in flight.
        let again = Request::get("/v2/explode").body(Body::empty()).unwrap();
        assert_eq!(app.oneshot(again).await.unwrap().status(), 500);
        assert_eq!(state.drain.in_flight(), 0);
    }
}
