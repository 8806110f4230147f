//! The Play Developer API client: `purchases.subscriptionsv2.get` and
//! `purchases.products.get` under a service account, with Google's answers sorted into the
//! errors the API contract tells apart.

use std::time::Duration;

use entitled_core::UnixMillis;
use serde::de::DeserializeOwned;

use super::PlayError;
use super::product::ProductPurchase;
use super::service_account::ServiceAccount;
use super::subscription::SubscriptionPurchaseV2;
use super::token::TokenSource;

/// Google's Play Developer API.
pub const DEFAULT_BASE_URL: &str = "https://androidpublisher.googleapis.com";

/// How long one request to Google (a token exchange or a lookup) may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read from Google: purchase resources are a few kilobytes.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The longest excerpt of Google's error message kept in an error.
const MAX_MESSAGE_CHARS: usize = 200;

/// Where [`PlayClient`] sends its lookups and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayClientConfig {
    /// The API's root, without a trailing path: [`DEFAULT_BASE_URL`], or a local stand-in.
    pub base_url: String,
    /// Per-request timeout (connect, send, answer), for token exchanges and lookups alike.
    pub timeout: Duration,
}

impl Default for PlayClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Looks up Play purchases of the apps one service account may see. Holds that account's
/// cached access token, so keep one client per service account (per app credential) rather
/// than one per request.
#[derive(Debug)]
pub struct PlayClient {
    http: reqwest::Client,
    base_url: reqwest::Url,
    tokens: TokenSource,
}

impl PlayClient {
    /// A client for `account`. Fails only when `config.base_url` is not an http(s) URL or
    /// the HTTP client cannot be built ([`PlayError::Upstream`]).
    pub fn new(account: ServiceAccount, config: PlayClientConfig) -> Result<Self, PlayError> {
        let base_url = reqwest::Url::parse(config.base_url.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                PlayError::Upstream(format!(
                    "the Play API base URL {:?} is not an http(s) URL",
                    config.base_url
                ))
            })?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PlayError::Upstream(format!("no HTTP client: {e}")))?;
        Ok(Self {
            tokens: TokenSource::new(account, http.clone()),
            http,
            base_url,
        })
    }

    /// The service account's token source (its cache).
    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    /// `purchases.subscriptionsv2.get`: the subscription bought with `purchase_token` in the
    /// app `package_name`, as Google knows it at `now`.
    pub async fn subscription(
        &self,
        package_name: &str,
        purchase_token: &str,
        now: UnixMillis,
    ) -> Result<SubscriptionPurchaseV2, PlayError> {
        let url = self.url(&[
            "androidpublisher",
            "v3",
            "applications",
            package_name,
            "purchases",
            "subscriptionsv2",
            "tokens",
            purchase_token,
        ]);
        self.get(url, now).await
    }

    /// `purchases.products.get`: the one-time purchase of `product_id` bought with
    /// `purchase_token` in the app `package_name`.
    pub async fn product(
        &self,
        package_name: &str,
        product_id: &str,
        purchase_token: &str,
        now: UnixMillis,
    ) -> Result<ProductPurchase, PlayError> {
        let url = self.url(&[
            "androidpublisher",
            "v3",
            "applications",
            package_name,
            "purchases",
            "products",
            product_id,
            "tokens",
            purchase_token,
        ]);
        self.get(url, now).await
    }

    /// The base URL with `segments` appended, each percent-encoded (a token cannot add path
    /// segments or a query).
    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// GETs `url` with a bearer token and reads the answer as `T`. A 401 may be a token
    /// Google revoked early: the token is dropped and the request tried once more with a
    /// new one.
    async fn get<T: DeserializeOwned>(
        &self,
        url: reqwest::Url,
        now: UnixMillis,
    ) -> Result<T, PlayError> {
        let mut retried = false;
        loop {
            let token = self.tokens.access_token(now).await?;
            let response = self
                .http
                .get(url.clone())
                .bearer_auth(token.value())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| transport_error("the Play Developer API", &e))?;
            let status = response.status().as_u16();
            let body = read_capped(response).await?;
            match status {
                200..=299 => {
                    return serde_json::from_slice(&body).map_err(|e| {
                        PlayError::Upstream(format!(
                            "the Play Developer API's answer is not the documented resource: {e}"
                        ))
                    });
                }
                401 if !retried => {
                    self.tokens.invalidate().await;
                    retried = true;
                }
                401 | 403 => {
                    return Err(PlayError::Credentials(format!(
                        "Google answered {status} for service account {}; grant it access to \
                         this app in the Play Console: {}",
                        self.tokens.account().client_email(),
                        google_message(&body)
                    )));
                }
                400 | 404 | 410 => {
                    return Err(PlayError::InvalidPurchase(format!(
                        "Google Play does not know this purchase ({status}): {}",
                        google_message(&body)
                    )));
                }
                _ => {
                    return Err(PlayError::Upstream(format!(
                        "the Play Developer API answered {status}: {}",
                        google_message(&body)
                    )));
                }
            }
        }
    }
}

/// A request that got no answer: [`PlayError::Timeout`] when it ran out of time, else
/// [`PlayError::Upstream`] naming `what` could not be reached.
pub(crate) fn transport_error(what: &str, error: &reqwest::Error) -> PlayError {
    if error.is_timeout() {
        PlayError::Timeout
    } else {
        PlayError::Upstream(format!("{what} could not be reached: {error}"))
    }
}

/// The answer's body, at most [`MAX_BODY_BYTES`] (more is an upstream error).
pub(crate) async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, PlayError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(PlayError::Upstream(format!(
                        "Google's answer is longer than {MAX_BODY_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(transport_error("Google's answer", &e)),
        }
    }
}

/// What Google's error body says, shortened: `error.message` of an API error
/// (`{"error":{"code":404,"message":…}}`), `error: error_description` of an OAuth error
/// (`{"error":"invalid_grant","error_description":…}`), else the start of the text.
pub(crate) fn google_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let text = match parsed.as_ref().and_then(|v| v.get("error")) {
        Some(serde_json::Value::Object(error)) => error
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("no message")
            .to_string(),
        Some(serde_json::Value::String(code)) => {
            match parsed
                .as_ref()
                .and_then(|v| v.get("error_description"))
                .and_then(|d| d.as_str())
            {
                Some(description) => format!("{code}: {description}"),
                None => code.clone(),
            }
        }
        _ if body.is_empty() => "no message".to_string(),
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    let mut short: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if text.chars().count() > MAX_MESSAGE_CHARS {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_messages_are_found_and_shortened() {
        let api = br#"{"error":{"code":404,"message":"The purchase token was not found.","status":"NOT_FOUND"}}"#;
        assert_eq!(google_message(api), "The purchase token was not found.");
        let oauth = br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
        assert_eq!(
            google_message(oauth),
            "invalid_grant: Invalid JWT Signature."
        );
        assert_eq!(google_message(b""), "no message");
        assert_eq!(google_message(b"bad\ngateway"), "bad gateway");
        let long = "x".repeat(500);
        assert_eq!(google_message(long.as_bytes()).chars().count(), 201);
    }
}
