//! Access tokens for the Play Developer API: the service account's signed assertion traded
//! at its token URI (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`), and kept
//! until shortly before it expires so lookups do not each cost a token exchange.

use std::fmt;

use entitled_core::UnixMillis;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::PlayError;
use super::client::{google_message, read_capped, transport_error};
use super::service_account::{ANDROID_PUBLISHER_SCOPE, ServiceAccount};

/// How long an assertion (and so the token asked with it) is valid: Google's maximum, an hour.
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 3600;

/// A token is replaced this long before Google says it expires, so a request never leaves
/// with a token that runs out on the way.
const REFRESH_MARGIN_MS: i64 = 60_000;

/// The longest lifetime believed from a token response (a day): a larger `expires_in` is a
/// broken answer, and trusting it would keep a dead token.
const MAX_LIFETIME_SECS: i64 = 86_400;

/// The OAuth 2.0 JWT bearer grant type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A bearer token and when it expires. `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    value: String,
    expires_at: UnixMillis,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<i64>,
    token_type: Option<String>,
}

impl AccessToken {
    /// A token valid until `expires_at`.
    pub fn new(value: impl Into<String>, expires_at: UnixMillis) -> Self {
        Self {
            value: value.into(),
            expires_at,
        }
    }

    /// Reads a token endpoint's success body (`{"access_token","expires_in","token_type"}`)
    /// received at `now`. A body without a token, or with a type other than `Bearer`, is an
    /// upstream error; `expires_in` is capped at a day, and a missing one makes the token
    /// good for this use only.
    pub fn from_response(body: &[u8], now: UnixMillis) -> Result<Self, PlayError> {
        let response: TokenResponse = serde_json::from_slice(body).map_err(|_| {
            PlayError::Upstream("the token endpoint's answer is not a token response".into())
        })?;
        let value = response
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                PlayError::Upstream("the token endpoint's answer has no access_token".into())
            })?;
        if let Some(kind) = response
            .token_type
            .filter(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(PlayError::Upstream(format!(
                "the token endpoint issued a {kind:?} token, not a Bearer token"
            )));
        }
        let lifetime_secs = response.expires_in.unwrap_or(0).clamp(0, MAX_LIFETIME_SECS);
        Ok(Self::new(
            value,
            UnixMillis(now.0.saturating_add(lifetime_secs * 1000)),
        ))
    }

    /// The token, for an `Authorization: Bearer` header.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// When Google stops accepting it.
    pub fn expires_at(&self) -> UnixMillis {
        self.expires_at
    }

    /// Whether it can still be sent at `now`: more than a minute before it expires.
    pub fn is_fresh(&self, now: UnixMillis) -> bool {
        now.0 < self.expires_at.0.saturating_sub(REFRESH_MARGIN_MS)
    }
}

/// Access tokens of one service account for the Play Developer API, exchanged when needed and
/// cached while fresh. One exchange runs at a time; concurrent callers wait for it and share
/// its token.
#[derive(Debug)]
pub struct TokenSource {
    account: ServiceAccount,
    http: reqwest::Client,
    cached: Mutex<Option<AccessToken>>,
}

impl TokenSource {
    /// A source for `account` that posts to its token URI with `http` (whose timeout applies).
    pub fn new(account: ServiceAccount, http: reqwest::Client) -> Self {
        Self {
            account,
            http,
            cached: Mutex::new(None),
        }
    }

    /// The account tokens are asked for.
    pub fn account(&self) -> &ServiceAccount {
        &self.account
    }

    /// A token that is fresh at `now`: the cached one, or a new one from the token URI.
    ///
    /// Errors: [`PlayError::Credentials`] when the endpoint refuses the assertion (4xx),
    /// [`PlayError::Upstream`] for 5xx, 429, unreachable endpoints and unreadable answers,
    /// [`PlayError::Timeout`] when it does not answer in time.
    pub async fn access_token(&self, now: UnixMillis) -> Result<AccessToken, PlayError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| t.is_fresh(now)) {
            return Ok(token.clone());
        }
        let token = self.exchange(now).await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Forgets the cached token (after the API refused it), so the next call asks anew.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn exchange(&self, now: UnixMillis) -> Result<AccessToken, PlayError> {
        let assertion = self.account.assertion(ANDROID_PUBLISHER_SCOPE, now)?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", JWT_BEARER)
            .append_pair("assertion", &assertion)
            .finish();
        let response = self
            .http
            .post(self.account.token_uri())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error("the token endpoint", &e))?;
        let status = response.status();
        let body = read_capped(response).await?;
        match status.as_u16() {
            200..=299 => AccessToken::from_response(&body, now),
            429 => Err(PlayError::Upstream(format!(
                "the token endpoint is rate limiting: {}",
                google_message(&body)
            ))),
            400..=499 => Err(PlayError::Credentials(format!(
                "the token endpoint refused service account {} ({status}): {}",
                self.account.client_email(),
                google_message(&body)
            ))),
            _ => Err(PlayError::Upstream(format!(
                "the token endpoint answered {status}: {}",
                google_message(&body)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = UnixMillis(1_795_514_400_000);

    #[test]
    fn token_responses_are_read_and_expire_early() {
        let body = br#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#;
        let token = AccessToken::from_response(body, NOW).unwrap();
        assert_eq!(token.value(), "ya29.x");
        assert_eq!(token.expires_at(), UnixMillis(NOW.0 + 3_599_000));
        assert!(token.is_fresh(NOW));
        assert!(token.is_fresh(UnixMillis(NOW.0 + 3_538_999)));
        assert!(!token.is_fresh(UnixMillis(NOW.0 + 3_539_000)));
        assert!(!format!("{token:?}").contains("ya29"));
    }

    #[test]
    fn broken_token_responses_are_upstream_errors() {
        for body in [
            &b"<html>"[..],
            br#"{"expires_in":3599}"#,
            br#"{"access_token":"","expires_in":1}"#,
            br#"{"access_token":"x","token_type":"MAC"}"#,
        ] {
            assert!(matches!(
                AccessToken::from_response(body, NOW),
                Err(PlayError::Upstream(_))
            ));
        }
        let forever = br#"{"access_token":"x","expires_in":9223372036854775807}"#;
        let token = AccessToken::from_response(forever, NOW).unwrap();
        assert_eq!(token.expires_at(), UnixMillis(NOW.0 + 86_400_000));
        let unknown = AccessToken::from_response(br#"{"access_token":"x"}"#, NOW).unwrap();
        assert!(!unknown.is_fresh(NOW));
    }
}
