//! The one error type of the HTTP layer and its mapping onto the contract
//! (`shared/spec/error-codes.md`): v2 error objects on `/v2/…`, v1 `{"code","message"}`
//! bodies on `/v1/…`.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only sets the status and stashes the
//! error in the response extensions. [`render_errors`] then writes the body in the dialect
//! of the request's path, so every failure, from a handler, an extractor, a fallback or a
//! caught panic, is rendered in one place.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use entitled_storage::StorageError;
use serde::Serialize;
use tower_http::request_id::RequestId;

/// The contract's error categories: each fixes the status, the v2 `type` and retryability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400 `parameter_error`: a named parameter is missing or invalid.
    Parameter,
    /// 400 `invalid_request`: the request as a whole is unusable (bad JSON, wrong content type).
    InvalidRequest,
    /// 401 `authentication_error`.
    Authentication,
    /// 403 `authorization_error`.
    Authorization,
    /// 404 `resource_missing`.
    NotFound,
    /// 409 `resource_already_exists`.
    AlreadyExists,
    /// 418 for the coffee endpoints (v2 type `invalid_request`).
    Teapot,
    /// 422 `unprocessable_entity_error`.
    Unprocessable,
    /// 423 `resource_locked_error`, retryable: another request is changing the customer.
    Locked,
    /// 429 `rate_limit_error`, retryable.
    RateLimited,
    /// 500 `server_error`.
    Internal,
    /// 503 `server_error`, retryable: draining, storage unreachable, overload.
    Unavailable,
    /// 502 `store_error`, retryable: a store's API answered with an error or garbage.
    StoreError,
    /// 504 `store_error`, retryable: a store's API did not answer in time.
    StoreTimeout,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::Parameter | ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Authentication => StatusCode::UNAUTHORIZED,
            ErrorKind::Authorization => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::AlreadyExists => StatusCode::CONFLICT,
            ErrorKind::Teapot => StatusCode::IM_A_TEAPOT,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Locked => StatusCode::LOCKED,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::StoreError => StatusCode::BAD_GATEWAY,
            ErrorKind::StoreTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The v2 error object's `type`, one of RevenueCat's `Error.type` values.
    pub fn v2_type(self) -> &'static str {
        match self {
            ErrorKind::Parameter => "parameter_error",
            ErrorKind::InvalidRequest | ErrorKind::Teapot => "invalid_request",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Authorization => "authorization_error",
            ErrorKind::NotFound => "resource_missing",
            ErrorKind::AlreadyExists => "resource_already_exists",
            ErrorKind::Unprocessable => "unprocessable_entity_error",
            ErrorKind::Locked => "resource_locked_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Internal | ErrorKind::Unavailable => "server_error",
            ErrorKind::StoreError | ErrorKind::StoreTimeout => "store_error",
        }
    }

    /// RevenueCat's numeric backend error code for v1 bodies (the SDKs' `BackendErrorCode`):
    /// 7225 invalid API key, 7226 bad request, 7110 internal error; kinds RevenueCat has no
    /// code for use the generic one of their class.
    pub fn v1_code(self) -> u32 {
        match self {
            ErrorKind::Authentication | ErrorKind::Authorization => 7225,
            ErrorKind::Internal | ErrorKind::Unavailable => 7110,
            // The SDKs' "there was a problem with the store".
            ErrorKind::StoreError | ErrorKind::StoreTimeout => 7101,
            // purchases-js's BackendTooManyRequests.
            ErrorKind::RateLimited => 7114,
            // The SDKs' "request already in progress".
            ErrorKind::Locked => 7638,
            _ => 7226,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable
                | ErrorKind::RateLimited
                | ErrorKind::Locked
                | ErrorKind::StoreError
                | ErrorKind::StoreTimeout
        )
    }
}

/// A failure of a request, as the client will see it.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The category.
    pub kind: ErrorKind,
    /// A message for the developer; never internals.
    pub message: String,
    /// The offending parameter, where there is one.
    pub param: Option<String>,
    /// For retryable errors: seconds to wait (sent as `Retry-After`).
    pub retry_after_secs: Option<u64>,
    /// A v1 code more precise than the kind's default (e.g. 7259 subscriber not found).
    pub v1_code: Option<u32>,
}

impl ApiError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            param: None,
            retry_after_secs: None,
            v1_code: None,
        }
    }

    /// 400 `parameter_error` about `param`.
    pub fn parameter(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Parameter, message).with_param(param)
    }

    /// 404 for a resource of the given kind.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    /// 500 with a generic message; the cause is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorKind::Internal, "An internal error occurred")
    }

    /// 503, retryable after `retry_after_secs`.
    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut err = Self::new(ErrorKind::Unavailable, message);
        err.retry_after_secs = Some(retry_after_secs);
        err
    }

    /// Names the parameter at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }
}

impl From<entitled_core::ValidationError> for ApiError {
    fn from(err: entitled_core::ValidationError) -> Self {
        ApiError::parameter(err.param, err.message)
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Conflict(what) => {
                tracing::info!(constraint = %what, "uniqueness conflict");
                ApiError::new(
                    ErrorKind::AlreadyExists,
                    "A resource with these values already exists",
                )
            }
            StorageError::NotFound(what) => ApiError::not_found(&capitalized(what)),
            StorageError::InUse(message) => ApiError::new(ErrorKind::Unprocessable, message),
            StorageError::UnknownCursor => ApiError::parameter(
                "starting_after",
                "starting_after does not name an item of this list",
            ),
            StorageError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "storage unavailable");
                ApiError::unavailable("Storage is unavailable, try again shortly", 5)
            }
            other => ApiError::internal(other),
        }
    }
}

/// `product` → `Product`, for messages.
fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.kind.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// v2 error object: RevenueCat's `Error` schema.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Always `error`.
    pub object: &'static str,
    /// The error type.
    #[serde(rename = "type")]
    pub error_type: &'static str,
    /// The parameter at fault, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// What went wrong.
    pub message: String,
    /// Whether retrying may help.
    pub retryable: bool,
    /// Where the error type is explained.
    pub doc_url: String,
    /// For retryable errors, how long to wait in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
}

/// v1 error body, as RevenueCat's SDKs parse it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct V1ErrorBody {
    /// RevenueCat backend error code.
    pub code: u32,
    /// What went wrong.
    pub message: String,
}

/// Where error types are explained; served by the server itself.
pub const ERROR_DOCS_PATH: &str = "/docs/errors";

/// Whether `path` belongs to the v1 (SDK) dialect of errors.
pub(crate) fn speaks_v1(path: &str) -> bool {
    path.starts_with("/v1/") || path == "/v1" || path.starts_with("/rcbilling/")
}

/// Middleware: renders any [`ApiError`] left in a response in the dialect of the path.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let v1 = speaks_v1(request.uri().path());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<ApiError>().cloned() else {
        return response;
    };
    let mut message = error.message.clone();
    if error.kind == ErrorKind::Internal
        && let Some(id) = &request_id
    {
        message = format!("{message} (request id {id})");
    }
    let (mut parts, _) = response.into_parts();
    let body = if v1 {
        Json(V1ErrorBody {
            code: error.v1_code.unwrap_or(error.kind.v1_code()),
            message,
        })
        .into_response()
    } else {
        let kind_type = error.kind.v2_type();
        Json(ErrorBody {
            object: "error",
            error_type: kind_type,
            param: error.param.clone(),
            message,
            retryable: error.kind.retryable(),
            doc_url: format!("{ERROR_DOCS_PATH}#{kind_type}"),
            backoff_ms: error.retry_after_secs.map(|s| s * 1000),
        })
        .into_response()
    };
    let (body_parts, body) = body.into_parts();
    parts.headers.extend(body_parts.headers);
    if let Some(secs) = error.retry_after_secs
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        parts.headers.insert(header::RETRY_AFTER, value);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_contract_table() {
        let table = [
            (ErrorKind::Parameter, 400, "parameter_error"),
            (ErrorKind::InvalidRequest, 400, "invalid_request"),
            (ErrorKind::Authentication, 401, "authentication_error"),
            (ErrorKind::Authorization, 403, "authorization_error"),
            (ErrorKind::NotFound, 404, "resource_missing"),
            (ErrorKind::AlreadyExists, 409, "resource_already_exists"),
            (ErrorKind::Teapot, 418, "invalid_request"),
            (ErrorKind::Unprocessable, 422, "unprocessable_entity_error"),
            (ErrorKind::RateLimited, 429, "rate_limit_error"),
            (ErrorKind::Locked, 423, "resource_locked_error"),
            (ErrorKind::Internal, 500, "server_error"),
            (ErrorKind::Unavailable, 503, "server_error"),
            (ErrorKind::StoreError, 502, "store_error"),
            (ErrorKind::StoreTimeout, 504, "store_error"),
        ];
        for (kind, status, v2_type) in table {
            assert_eq!(kind.status().as_u16(), status, "{kind:?}");
            assert_eq!(kind.v2_type(), v2_type, "{kind:?}");
            assert_eq!(
                kind.retryable(),
                [423, 429, 502, 503, 504].contains(&status),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn storage_errors_map_to_statuses() {
        let cases = [
            (StorageError::Conflict("apps_id_key".into()), 409),
            (StorageError::UnknownCursor, 400),
            (StorageError::Unavailable("connection refused".into()), 503),
            (StorageError::Internal("corrupt row".into()), 500),
            (StorageError::Config("bad url".into()), 500),
            (StorageError::NotFound("product"), 404),
            (StorageError::InUse("attached to pro".into()), 422),
        ];
        for (storage_error, status) in cases {
            let api: ApiError = storage_error.into();
            assert_eq!(api.kind.status().as_u16(), status);
        }
        let unavailable: ApiError = StorageError::Unavailable("x".into()).into();
        assert_eq!(unavailable.retry_after_secs, Some(5));
        let internal: ApiError = StorageError::Internal("secret detail".into()).into();
        assert!(!internal.message.contains("secret detail"));
    }

    #[test]
    fn v1_codes_are_revenuecats() {
        assert_eq!(ErrorKind::Authentication.v1_code(), 7225);
        assert_eq!(ErrorKind::Parameter.v1_code(), 7226);
        assert_eq!(ErrorKind::Internal.v1_code(), 7110);
    }

    #[test]
    fn dialect_follows_the_path() {
        assert!(speaks_v1("/v1/subscribers/x"));
        assert!(speaks_v1("/rcbilling/v1/subscribers/x/products"));
        assert!(!speaks_v1("/v2/projects/p/apps"));
        assert!(!speaks_v1("/v10/x"));
        assert!(!speaks_v1("/openapi.json"));
    }
}
