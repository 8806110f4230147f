//! Answering with CustomerInfo: the SDKs' ETag protocol and the request headers they send.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entitled_core::{Customer, KeyKind, UnixMillis};
use entitled_storage::{FactsSnapshot, PageRequest, Visit};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::pagination::MAX_LIMIT;
use crate::subscribers::state_from;
use crate::v1::customer_info;

/// The header carrying CustomerInfo's ETag, both ways. A 304 carries it too: the SDKs need
/// it to use their cached body.
pub const ETAG_HEADER: &str = "x-revenuecat-etag";
/// The time the answer describes (epoch ms); the mobile SDKs prefer it to `request_date`.
pub const REQUEST_TIME_HEADER: &str = "x-revenuecat-request-time";

/// What the SDK says about itself in headers, for `last_seen_*`.
pub struct ClientInfo {
    /// `X-Version` / `X-Client-Version`: the app's version.
    pub app_version: Option<String>,
    /// `X-Platform`: `iOS`, `android`, `web`, …
    pub platform: Option<String>,
    /// `X-Platform-Version`.
    pub platform_version: Option<String>,
}

impl ClientInfo {
    /// Reads the SDK headers.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(100).collect::<String>())
        };
        Self {
            app_version: text("x-client-version").or_else(|| text("x-version")),
            platform: text("x-platform"),
            platform_version: text("x-platform-version"),
        }
    }
}

/// Records that the SDK saw `customer` now.
pub async fn touch(
    state: &AppState,
    customer: &Customer,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let client = ClientInfo::from_headers(headers);
    let now = state.now();
    if !customer.visit_is_news(
        now,
        client.app_version.as_deref(),
        client.platform.as_deref(),
        client.platform_version.as_deref(),
    ) {
        return Ok(());
    }
    state
        .visits
        .note(Visit {
            customer_key: customer.key.clone(),
            seen_at: now,
            app_version: client.app_version,
            platform: client.platform,
            platform_version: client.platform_version,
        })
        .await?;
    Ok(())
}

/// The CustomerInfo `subscriber` object of a customer at `now` (attributes for secret
/// keys), written.
pub async fn subscriber_json(
    state: &AppState,
    caller: &Caller,
    customer: &Customer,
    now: UnixMillis,
) -> Result<customer_info::Written, ApiError> {
    let facts = state
        .storage
        .customer_facts(&customer.project_id, &customer.key)
        .await?;
    subscriber_of(state, caller, customer, &facts, now).await
}

/// The `subscriber` object a snapshot of the customer's facts gives at `now`, written.
async fn subscriber_of(
    state: &AppState,
    caller: &Caller,
    customer: &Customer,
    facts: &FactsSnapshot,
    now: UnixMillis,
) -> Result<customer_info::Written, ApiError> {
    let computed = state_from(facts, now);
    let attributes = if caller.key.kind == KeyKind::Secret {
        let all = PageRequest {
            starting_after: None,
            limit: MAX_LIMIT,
        };
        Some(
            state
                .storage
                .list_attributes(&customer.key, &all)
                .await?
                .items,
        )
    } else {
        None
    };
    let subscriber = customer_info::subscriber(customer, &computed, attributes.as_deref());
    customer_info::write(&subscriber).map_err(ApiError::internal)
}

/// Answers CustomerInfo with `status`, or 304 when the request's ETag is still current.
pub async fn customer_info(
    state: &AppState,
    caller: &Caller,
    customer: &Customer,
    now: UnixMillis,
    status: StatusCode,
    request_headers: &HeaderMap,
    extra: Option<(&str, serde_json::Value)>,
) -> Result<Response, ApiError> {
    let subscriber = subscriber_json(state, caller, customer, now).await?;
    answer(&subscriber, now, status, request_headers, extra)
}

/// Like [`customer_info`], from a snapshot of the customer's facts already read.
pub async fn customer_info_of(
    state: &AppState,
    caller: &Caller,
    customer: &Customer,
    facts: &FactsSnapshot,
    now: UnixMillis,
    status: StatusCode,
    request_headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let subscriber = subscriber_of(state, caller, customer, facts, now).await?;
    answer(&subscriber, now, status, request_headers, None)
}

/// CustomerInfo around `subscriber`, or 304 when the request's ETag is still current.
fn answer(
    subscriber: &customer_info::Written,
    now: UnixMillis,
    status: StatusCode,
    request_headers: &HeaderMap,
    extra: Option<(&str, serde_json::Value)>,
) -> Result<Response, ApiError> {
    let etag_header = HeaderValue::from_str(&subscriber.etag).map_err(ApiError::internal)?;
    let request_time = HeaderValue::from(now.0);
    let unchanged = request_headers
        .get(ETAG_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sent| sent == subscriber.etag);
    if unchanged && status == StatusCode::OK {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (ETAG_HEADER, etag_header),
                (REQUEST_TIME_HEADER, request_time),
            ],
        )
            .into_response());
    }
    let extra = extra.as_ref().map(|(name, value)| (*name, value));
    let body = customer_info::body(now, subscriber, extra).map_err(ApiError::internal)?;
    Ok((
        status,
        [
            (
                header::CONTENT_TYPE.as_str(),
                HeaderValue::from_static("application/json"),
            ),
            (ETAG_HEADER, etag_header),
            (REQUEST_TIME_HEADER, request_time),
        ],
        body,
    )
        .into_response())
}
