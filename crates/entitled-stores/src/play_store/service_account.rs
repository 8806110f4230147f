//! A Google service account key file (the JSON the Cloud console downloads), and the RS256
//! JWT assertion it signs to ask Google for an access token (OAuth 2.0 JWT bearer grant,
//! RFC 7523).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entitled_core::UnixMillis;
use serde::Deserialize;

use super::PlayError;
use super::token::ACCESS_TOKEN_LIFETIME_SECS;

/// The OAuth scope of the Google Play Developer API.
pub const ANDROID_PUBLISHER_SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";

/// Google's token endpoint, used when a key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The fields of the key file entitled reads; the others (`project_id`, `client_id`, the
/// certificate URLs) are ignored.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// A parsed service account: who it is, where it trades assertions for tokens, and its
/// private key (loaded, never printed: `Debug` shows `<redacted>`).
#[derive(Clone)]
pub struct ServiceAccount {
    client_email: String,
    private_key_id: Option<String>,
    token_uri: String,
    key: Arc<RsaKeyPair>,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn unusable(message: impl Into<String>) -> PlayError {
    PlayError::ServiceAccount(message.into())
}

impl ServiceAccount {
    /// Parses a key file. Errors name the missing or unusable field and never quote the
    /// private key (nor serde's excerpt of the input, which could hold it).
    ///
    /// `token_uri` defaults to [`DEFAULT_TOKEN_URI`]; it must be `https`, or `http` to a
    /// loopback address (a local stand-in), so a key file cannot send the signed assertion
    /// in the clear or have the server post to arbitrary hosts of its network.
    pub fn from_json(json: &str) -> Result<Self, PlayError> {
        let file: KeyFile = serde_json::from_str(json).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => "a field is not a string",
                _ => "not a JSON object",
            };
            unusable(format!(
                "not a service account key file: {what} (line {} column {})",
                e.line(),
                e.column()
            ))
        })?;
        if let Some(kind) = file.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(unusable(format!(
                "\"type\" is {kind:?}, not \"service_account\""
            )));
        }
        let client_email = file
            .client_email
            .filter(|e| !e.trim().is_empty())
            .ok_or_else(|| unusable("\"client_email\" is missing"))?;
        let pem = file
            .private_key
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| unusable("\"private_key\" is missing"))?;
        let key = load_private_key(&pem)?;
        let token_uri = check_token_uri(
            &file
                .token_uri
                .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string()),
        )?;
        Ok(Self {
            client_email,
            private_key_id: file.private_key_id.filter(|id| !id.is_empty()),
            token_uri,
            key: Arc::new(key),
        })
    }

    /// The account's email: the assertion's issuer.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// Where assertions are exchanged for access tokens.
    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// The signed JWT asking for `scope`, issued at `now` and valid for an hour (Google's
    /// maximum): header `{"alg":"RS256","typ":"JWT","kid":…}`, claims `iss`, `scope`,
    /// `aud` (the token URI), `iat`, `exp` in seconds.
    pub fn assertion(&self, scope: &str, now: UnixMillis) -> Result<String, PlayError> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.private_key_id {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let iat = now.0.div_euclid(1000);
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ACCESS_TOKEN_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| unusable("the private key could not sign"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// Loads an RSA private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what Google issues) or
/// PKCS#1 (`BEGIN RSA PRIVATE KEY`).
fn load_private_key(pem: &str) -> Result<RsaKeyPair, PlayError> {
    let (label, der) = pem_body(pem)?;
    let loaded = match label {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
        _ => {
            return Err(unusable(
                "\"private_key\" must be a PEM \"PRIVATE KEY\" (PKCS#8) RSA key",
            ));
        }
    };
    loaded.map_err(|e| unusable(format!("\"private_key\" is not a usable RSA key ({e})")))
}

/// The label and DER bytes of the first PEM block in `pem`.
fn pem_body(pem: &str) -> Result<(&str, Vec<u8>), PlayError> {
    let not_pem = || unusable("\"private_key\" is not a PEM block");
    let start = pem.find("-----BEGIN ").ok_or_else(not_pem)?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or_else(not_pem)?;
    let label = &rest[..label_end];
    let body_and_end = &rest[label_end + "-----".len()..];
    let end = body_and_end
        .find(&format!("-----END {label}-----"))
        .ok_or_else(not_pem)?;
    let body: String = body_and_end[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| unusable("\"private_key\" is not base64 inside its PEM markers"))?;
    Ok((label, der))
}

/// The token URI as the URL parser reads it (surrounding spaces and control characters
/// dropped, so the JWT's `aud` is what Google expects), if it is https or loopback http.
fn check_token_uri(uri: &str) -> Result<String, PlayError> {
    let parsed = reqwest::Url::parse(uri)
        .map_err(|_| unusable(format!("\"token_uri\" {uri:?} is not a URL")))?;
    let loopback = match parsed.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(parsed.to_string()),
        "http" if loopback => Ok(parsed.to_string()),
        _ => Err(unusable(format!(
            "\"token_uri\" {uri:?} must be an https URL"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_are_named_and_keys_never_shown() {
        let err = ServiceAccount::from_json(r#"{"private_key": "x"}"#).unwrap_err();
        assert!(
            err.to_string().contains("\"client_email\" is missing"),
            "{err}"
        );
        let err = ServiceAccount::from_json(r#"{"client_email": "a@b"}"#).unwrap_err();
        assert!(
            err.to_string().contains("\"private_key\" is missing"),
            "{err}"
        );
        let secret =
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
        let json = serde_json::json!({"client_email": "a@b", "private_key": secret}).to_string();
        let err = ServiceAccount::from_json(&json).unwrap_err();
        assert!(matches!(err, PlayError::ServiceAccount(_)));
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
        let err = ServiceAccount::from_json(&format!("{json} trailing c2VjcmV0")).unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
        let err = ServiceAccount::from_json(r#"{"client_email": 5}"#).unwrap_err();
        assert!(err.to_string().contains("not a string"), "{err}");
        let err = ServiceAccount::from_json(r#"{"type": "authorized_user"}"#).unwrap_err();
        assert!(err.to_string().contains("service_account"), "{err}");
    }

    #[test]
    fn token_uris_must_be_https_or_loopback() {
        assert!(check_token_uri("https://oauth2.googleapis.com/token").is_ok());
        assert!(check_token_uri("http://127.0.0.1:4000/token").is_ok());
        assert!(check_token_uri("http://localhost/token").is_ok());
        assert!(check_token_uri("http://[::1]:80/token").is_ok());
        assert!(check_token_uri("http://oauth2.googleapis.com/token").is_err());
        // Found by fuzz/fuzz_targets/play_service_account.rs: what the parser drops around
        // a URL stayed in the stored token URI (and so in the JWT's `aud`).
        assert_eq!(
            check_token_uri(" \0https://oauth2.googleapis.com/token\0").unwrap(),
            "https://oauth2.googleapis.com/token"
        );
        assert!(check_token_uri("http://10.0.0.1/token").is_err());
        assert!(check_token_uri("file:///etc/passwd").is_err());
        assert!(check_token_uri("token").is_err());
    }

    #[test]
    fn pem_blocks_are_read_whatever_the_line_breaks() {
        let (label, der) =
            pem_body("junk\n-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----")
                .unwrap();
        assert_eq!(label, "PRIVATE KEY");
        assert_eq!(der, vec![0, 1, 2, 3]);
        assert!(pem_body("-----BEGIN PRIVATE KEY-----\nAAEC").is_err());
        assert!(pem_body("AAEC").is_err());
    }
}
