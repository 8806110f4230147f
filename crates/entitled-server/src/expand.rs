//! The `expand` query parameter: which related objects to embed in an answer.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;

/// The `expand` values of a request (`?expand=a&expand=b` or `?expand=a,b`).
#[derive(Debug, Clone, Default)]
pub struct Expand(Vec<String>);

impl Expand {
    /// Whether `value` was asked for.
    pub fn has(&self, value: &str) -> bool {
        self.0.iter().any(|v| v == value)
    }

    /// Fails with a 400 naming `expand` unless every value is one of `allowed`.
    pub fn only(self, allowed: &[&str]) -> Result<Self, ApiError> {
        if let Some(unknown) = self.0.iter().find(|v| !allowed.contains(&v.as_str())) {
            let choices = if allowed.is_empty() {
                "nothing can be expanded here".to_string()
            } else {
                format!("allowed: {}", allowed.join(", "))
            };
            return Err(ApiError::parameter(
                "expand",
                format!("expand value {unknown:?} is not supported ({choices})"),
            ));
        }
        Ok(self)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Expand {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let values = form_urlencoded::parse(query.as_bytes())
            .filter(|(key, _)| key == "expand" || key == "expand[]")
            .flat_map(|(_, value)| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(Expand(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    async fn expand_of(uri: &str) -> Expand {
        let (mut parts, ()) = Request::get(uri).body(()).unwrap().into_parts();
        Expand::from_request_parts(&mut parts, &()).await.unwrap()
    }

    #[tokio::test]
    async fn repeated_and_comma_separated_values_are_collected() {
        let expand =
            expand_of("/x?expand=items.package&expand=items.package.product,other&limit=2").await;
        assert!(expand.has("items.package"));
        assert!(expand.has("items.package.product"));
        assert!(!expand.has("limit"));
        let err = expand
            .only(&["items.package", "items.package.product"])
            .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("expand"));
        assert!(expand_of("/x").await.only(&[]).is_ok());
    }
}
