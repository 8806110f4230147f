//! Authentication (`Authorization: Bearer <key>`, 401) and authorization (403).
//!
//! Keys are looked up by their short `lookup` and checked against the stored SHA-256 in
//! constant time; the presented key is never logged.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use entitled_core::{Actor, ApiKey, KeyKind, Scope, lookup_of, verify_key_hash};

use crate::AppState;
use crate::error::{ApiError, ErrorKind};

/// The authenticated key behind a request: secret or public, active, of some project.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The stored key record (its hash only).
    pub key: ApiKey,
}

impl Caller {
    /// Who this caller is, for the audit log.
    pub fn actor(&self) -> Actor {
        Actor::ApiKey(self.key.id.clone())
    }

    /// The project the key belongs to (v1 paths name no project).
    pub fn project_id(&self) -> &str {
        &self.key.project_id
    }

    /// Checks that this is a secret key (403 for a public SDK key).
    pub fn require_secret(&self) -> Result<(), ApiError> {
        if self.key.kind == KeyKind::Secret {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorKind::Authorization,
                "This endpoint requires a secret API key",
            ))
        }
    }

    /// Checks that the key belongs to `project_id` and holds `scope` (403 otherwise).
    pub fn authorize(&self, project_id: &str, scope: Scope) -> Result<(), ApiError> {
        if self.key.project_id != project_id {
            return Err(ApiError::new(
                ErrorKind::Authorization,
                "This API key does not belong to this project",
            ));
        }
        if self.key.kind != KeyKind::Secret {
            return Err(ApiError::new(
                ErrorKind::Authorization,
                "This endpoint requires a secret API key",
            ));
        }
        if !self.key.permissions.allows(scope) {
            return Err(ApiError::new(
                ErrorKind::Authorization,
                format!("This API key lacks the permission {scope}"),
            ));
        }
        Ok(())
    }
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(ErrorKind::Authentication, message)
}

/// The key in an `Authorization: Bearer …` header, if the header is well formed.
fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        unauthenticated("Missing Authorization header: send Authorization: Bearer <API key>")
    })?;
    let value = header
        .to_str()
        .map_err(|_| unauthenticated("Malformed Authorization header"))?;
    parse_bearer(value)
}

/// The key in the value of an `Authorization` header (`Bearer <key>`, scheme in any case),
/// trimmed; 401 when the value is not of that form.
pub fn parse_bearer(value: &str) -> Result<&str, ApiError> {
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        unauthenticated("Malformed Authorization header: expected Bearer <API key>")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthenticated(
            "Malformed Authorization header: expected Bearer <API key>",
        ));
    }
    Ok(token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let invalid = || unauthenticated("Invalid API key");
        let lookup = lookup_of(token).ok_or_else(invalid)?;
        let candidates = state.storage.find_keys_by_lookup(&lookup).await?;
        let key = candidates
            .into_iter()
            .find(|candidate| verify_key_hash(token, &candidate.hash))
            .ok_or_else(invalid)?;
        if !key.is_active() {
            return Err(unauthenticated("This API key has been revoked"));
        }
        Ok(Caller { key })
    }
}
