//! Request extractors whose rejections are contract errors naming the offending `param`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorKind};

/// A JSON body. Wrong content type, malformed JSON, wrong field types, unknown or missing
/// fields and oversized bodies are 400s; the error names the field where there is one.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                ErrorKind::InvalidRequest,
                "Content-Type must be application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    let too_large = matches!(&rejection, BytesRejection::FailedToBufferBody(inner)
        if matches!(inner, axum::extract::rejection::FailedToBufferBody::LengthLimitError(_)));
    if too_large {
        ApiError::new(
            ErrorKind::InvalidRequest,
            "The request body is larger than the server accepts",
        )
    } else {
        ApiError::new(
            ErrorKind::InvalidRequest,
            "The request body could not be read",
        )
    }
}

/// Parses JSON into `T`, turning serde's complaint into a 400 that names the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let inner = err.inner();
        if inner.is_syntax() || inner.is_eof() {
            return not_json(inner);
        }
        let message = describe(&inner.to_string());
        match param_of(&err.path().to_string(), &message) {
            Some(param) => ApiError::parameter(param, message),
            None => ApiError::new(ErrorKind::InvalidRequest, message),
        }
    })?;
    deserializer.end().map_err(|err| not_json(&err))?;
    Ok(value)
}

fn not_json(err: &serde_json::Error) -> ApiError {
    ApiError::new(
        ErrorKind::InvalidRequest,
        format!("The request body is not valid JSON: {err}"),
    )
}

/// The dotted name of the field at fault: serde's path, extended by the field a
/// "missing field" message names (that path points at the parent object).
fn param_of(path: &str, message: &str) -> Option<String> {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|marker| message.split(marker).nth(1))
        .and_then(|rest| rest.split('`').next())
        .filter(|field| !field.is_empty());
    // An unknown field named `""` gives an empty path: there is no name to report then.
    let parent = (path != "." && !path.is_empty()).then_some(path);
    match (parent, named) {
        (Some(parent), Some(field)) if parent.rsplit('.').next() == Some(field) => {
            Some(parent.to_string())
        }
        (Some(parent), Some(field)) => Some(format!("{parent}.{field}")),
        (None, Some(field)) => Some(field.to_string()),
        (Some(parent), None) => Some(parent.to_string()),
        (None, None) => None,
    }
}

/// serde's message without its trailing " at line 1 column 9".
fn describe(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Query parameters, with the same error treatment as [`ApiJson`].
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// Parses a query string (without the `?`) into `T`, with the same errors as [`parse_json`].
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let message = describe(&err.inner().to_string());
        match param_of(&err.path().to_string(), &message) {
            Some(param) => ApiError::parameter(param, message),
            None => ApiError::new(ErrorKind::InvalidRequest, message),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn param(json: &str) -> (ErrorKind, Option<String>) {
        let err = parse_json::<Body>(json.as_bytes()).unwrap_err();
        (err.kind, err.param)
    }

    #[test]
    fn field_errors_name_the_field() {
        assert_eq!(
            param(r#"{"name": 5}"#),
            (ErrorKind::Parameter, Some("name".into()))
        );
        assert_eq!(param(r#"{}"#), (ErrorKind::Parameter, Some("name".into())));
        assert_eq!(
            param(r#"{"name":"a","x":1}"#),
            (ErrorKind::Parameter, Some("x".into()))
        );
        assert_eq!(
            param(r#"{"name":"a","inner":{"count":"many"}}"#),
            (ErrorKind::Parameter, Some("inner.count".into()))
        );
        assert_eq!(
            param(r#"{"name":"a","inner":{}}"#),
            (ErrorKind::Parameter, Some("inner.count".into()))
        );
    }

    #[test]
    fn malformed_json_is_an_invalid_request() {
        assert_eq!(param(r#"{"name": "#), (ErrorKind::InvalidRequest, None));
        assert_eq!(
            param(r#"{"name": "a"} trailing"#),
            (ErrorKind::InvalidRequest, None)
        );
        assert_eq!(param(""), (ErrorKind::InvalidRequest, None));
    }

    /// Found by `fuzz/fuzz_targets/json_bodies.rs`: an unknown field named `""` gave a
    /// `parameter_error` whose `param` was empty.
    #[test]
    fn unknown_fields_without_a_name_name_no_param() {
        assert_eq!(param(r#"{"": 1}"#), (ErrorKind::InvalidRequest, None));
        let (_, nested) = param(r#"{"name":"a","inner":{"":1}}"#);
        assert!(
            nested.as_deref().is_none_or(|p| !p.is_empty()),
            "{nested:?}"
        );
    }

    #[test]
    fn valid_json_parses() {
        let body: Body = parse_json(br#"{"name":"a","inner":{"count":2}}"#).unwrap();
        assert_eq!(body.name, "a");
    }
}

/// For `Option<Option<T>>` fields: absent stays `None`, `null` becomes `Some(None)`.
pub fn present_or_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `?force=true` on deletes of objects that are still in use.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForceParams {
    /// Delete even when in use (detaching it everywhere).
    pub force: Option<bool>,
}

/// Checks a list of ids sent in a body: 1 to 50 non-empty ids.
pub fn id_list(ids: &[String], param: &str) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > 50 {
        return Err(ApiError::parameter(
            param,
            format!("{param} must list 1 to 50 ids"),
        ));
    }
    if ids.iter().any(|id| id.is_empty() || id.len() > 255) {
        return Err(ApiError::parameter(
            param,
            format!("{param} must hold ids of 1 to 255 characters"),
        ));
    }
    Ok(())
}
