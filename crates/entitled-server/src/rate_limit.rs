//! Rate limiting per API key and endpoint domain (429 with `Retry-After` and `backoff_ms`),
//! with RevenueCat's usage headers on every response of a limited domain. One node counts in
//! memory; nodes sharing PostgreSQL count in the database (or in Redis, when configured), so
//! together they allow the configured rate, not a multiple of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use entitled_core::UnixMillis;
use entitled_core::rate_limits::{Domain, RateLimits};
use entitled_storage::{Backend, Storage};
use sha2::{Digest, Sha256};

use crate::Clock;
use crate::error::{ApiError, ErrorKind};

/// Usage so far in the current window.
pub const USAGE_HEADER: &str = "revenuecat-rate-limit-current-usage";
/// The window's limit.
pub const LIMIT_HEADER: &str = "revenuecat-rate-limit-current-limit";

/// Where the counts live.
enum Counter {
    /// This process only (one node on SQLite).
    Local(Mutex<HashMap<(String, i64), u64>>),
    /// The shared database (several nodes on PostgreSQL).
    Shared(Arc<dyn Storage>),
    /// A Redis server the nodes share.
    Redis(redis::aio::ConnectionManager),
}

/// How long a count may take in Redis before the request goes on uncounted.
const REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// The limiter every request of a limited domain passes through.
pub struct RateLimiter {
    limits: RateLimits,
    counter: Counter,
    clock: Clock,
}

impl RateLimiter {
    /// A limiter for `storage`: shared counts on PostgreSQL, in-memory ones on SQLite.
    pub fn new(limits: RateLimits, storage: Arc<dyn Storage>, clock: Clock) -> Self {
        let counter = match storage.backend() {
            Backend::Postgres => Counter::Shared(storage),
            Backend::Sqlite => Counter::Local(Mutex::new(HashMap::new())),
        };
        Self {
            limits,
            counter,
            clock,
        }
    }

    /// A limiter counting where `store` says (`--rate-limit-store`): empty for the default of
    /// [`RateLimiter::new`], `memory`, `database`, or a `redis://` URL (connected now, so a
    /// wrong address stops start-up rather than every limit).
    pub async fn open(
        store: &str,
        limits: RateLimits,
        storage: Arc<dyn Storage>,
        clock: Clock,
    ) -> Result<Self, String> {
        let counter = match store {
            "" => return Ok(Self::new(limits, storage, clock)),
            "memory" => Counter::Local(Mutex::new(HashMap::new())),
            "database" => Counter::Shared(storage),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                let redacted = entitled_storage::redact_url(url);
                let client = redis::Client::open(url)
                    .map_err(|e| format!("rate-limit store {redacted}: {e}"))?;
                let connect = client.get_connection_manager();
                let manager = tokio::time::timeout(std::time::Duration::from_secs(5), connect)
                    .await
                    .map_err(|_| format!("rate-limit store {redacted}: no answer in 5 s"))?
                    .map_err(|e| format!("rate-limit store {redacted}: {e}"))?;
                Counter::Redis(manager)
            }
            other => {
                return Err(format!(
                    "rate-limit store {:?}: expected memory, database or redis://…",
                    entitled_storage::redact_url(other)
                ));
            }
        };
        Ok(Self {
            limits,
            counter,
            clock,
        })
    }

    /// Counts a request; returns (count in window, limit, ms until the next window).
    async fn count(&self, bucket: &str, domain: Domain) -> Option<(u64, u64, i64)> {
        let rate = self.limits.rate(domain);
        if rate.limit == 0 {
            return None;
        }
        let now: UnixMillis = (self.clock)();
        let window = rate.window_start(now);
        let key = format!("{bucket}:{}", domain.as_str());
        let count = match &self.counter {
            Counter::Local(counts) => {
                let mut counts = counts
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                counts.retain(|(_, start), _| *start >= window - rate.period_ms);
                let entry = counts.entry((key, window)).or_insert(0);
                *entry += 1;
                *entry
            }
            Counter::Shared(storage) => {
                match storage
                    .count_request(&key, window, window - rate.period_ms)
                    .await
                {
                    Ok(count) => count,
                    Err(err) => {
                        // Failing open: an unreachable counter must not take the API down.
                        tracing::warn!(error = %err, "rate limit counter unavailable");
                        return None;
                    }
                }
            }
            Counter::Redis(manager) => {
                let mut connection = manager.clone();
                let redis_key = format!("entitled:rate:{key}:{window}");
                let mut pipeline = redis::pipe();
                pipeline
                    .atomic()
                    .incr(&redis_key, 1u64)
                    .pexpire(&redis_key, rate.period_ms.saturating_mul(2))
                    .ignore();
                let counted = pipeline.query_async::<(u64,)>(&mut connection);
                match tokio::time::timeout(REDIS_TIMEOUT, counted).await {
                    Ok(Ok((count,))) => count,
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "rate limit counter unavailable (redis)");
                        return None;
                    }
                    Err(_) => {
                        tracing::warn!("rate limit counter unavailable (redis timed out)");
                        return None;
                    }
                }
            }
        };
        Some((count, rate.limit, rate.wait_ms(now)))
    }
}

/// The bucket of a request: a digest of its API key (never the key itself).
fn bucket_of(request: &Request) -> Option<String> {
    let token = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    Some(hex::encode(&Sha256::digest(token.as_bytes())[..12]))
}

/// Middleware: 429 beyond the domain's rate; usage headers on every limited response.
pub async fn limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    // The bucket (a digest of the key) only for a domain with a limit: the SDK's has none
    // by default, and it carries most of the traffic.
    let Some(domain) = Domain::of_path(request.uri().path())
        .filter(|domain| limiter.limits.rate(*domain).limit != 0)
    else {
        return next.run(request).await;
    };
    let Some(bucket) = bucket_of(&request) else {
        return next.run(request).await;
    };
    let Some((count, limit, wait_ms)) = limiter.count(&bucket, domain).await else {
        return next.run(request).await;
    };
    let mut response = if count > limit {
        let mut err = ApiError::new(
            ErrorKind::RateLimited,
            format!(
                "Rate limit of {limit} requests per window exceeded for {}; retry later",
                domain.as_str()
            ),
        );
        err.retry_after_secs = Some(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1));
        err.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(USAGE_HEADER, HeaderValue::from(count.min(limit)));
    headers.insert(LIMIT_HEADER, HeaderValue::from(limit));
    response
}
