//! Store credentials (App Store keys, Play service accounts, Stripe keys and webhook
//! secrets): validated, sealed with AES-256-GCM under the server's secrets key, bound to
//! their app, and never shown again.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};

use crate::error::{ApiError, ErrorKind};

/// The credentials an app can hold, by their dotted request name.
pub const CREDENTIAL_NAMES: &[&str] = &[
    "app_store.shared_secret",
    "app_store.subscription_private_key",
    "app_store.subscription_key_id",
    "app_store.subscription_key_issuer",
    "play_store.service_account_credentials_json",
    "stripe.secret_key",
    "stripe.webhook_secret",
];

/// Checks one credential's shape, so mistakes surface when they are set, not when used.
pub fn validate(name: &str, value: &str) -> Result<(), ApiError> {
    let invalid = |why: &str| ApiError::parameter(name, format!("{name} {why}"));
    let ok = match name {
        "app_store.shared_secret" => {
            value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit())
        }
        "app_store.subscription_private_key" => {
            value.contains("-----BEGIN") && value.contains("PRIVATE KEY-----")
        }
        "app_store.subscription_key_id" => {
            value.len() == 10 && value.chars().all(|c| c.is_ascii_alphanumeric())
        }
        "app_store.subscription_key_issuer" => {
            value.len() == 36
                && value.chars().enumerate().all(|(i, c)| {
                    if [8, 13, 18, 23].contains(&i) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                })
        }
        "play_store.service_account_credentials_json" => {
            serde_json::from_str::<serde_json::Value>(value).is_ok_and(|json| {
                json.get("client_email")
                    .is_some_and(serde_json::Value::is_string)
                    && json
                        .get("private_key")
                        .is_some_and(serde_json::Value::is_string)
            })
        }
        "stripe.secret_key" => value.starts_with("sk_") || value.starts_with("rk_"),
        "stripe.webhook_secret" => value.starts_with("whsec_"),
        _ => return Err(invalid("is not a credential entitled stores")),
    };
    if ok {
        Ok(())
    } else {
        let expected = match name {
            "app_store.shared_secret" => "must be the 32 hex characters App Store Connect shows",
            "app_store.subscription_private_key" => "must be the PEM text of the .p8 key",
            "app_store.subscription_key_id" => "must be the 10-character key id",
            "app_store.subscription_key_issuer" => "must be the issuer UUID",
            "play_store.service_account_credentials_json" => {
                "must be the service account's JSON key file, with client_email and private_key"
            }
            "stripe.secret_key" => "must be a Stripe secret (sk_…) or restricted (rk_…) key",
            _ => "must be a Stripe webhook signing secret (whsec_…)",
        };
        Err(invalid(expected))
    }
}

/// Seals and opens credential sets with the server's 32-byte secrets key.
pub struct Sealer {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

const FORMAT: &str = "v1";

impl Sealer {
    /// A sealer from the key as 64 hex characters (e.g. `openssl rand -hex 32`).
    pub fn from_hex(key_hex: &str) -> Result<Self, String> {
        let bytes = hex::decode(key_hex.trim())
            .map_err(|_| "the secrets key must be 64 hex characters".to_string())?;
        if bytes.len() != 32 {
            return Err("the secrets key must be 32 bytes (64 hex characters)".to_string());
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| "the secrets key was refused by the cipher".to_string())?;
        Ok(Self { key })
    }

    /// Seals `credentials` for the app `app_id` (the id is authenticated, so a sealed blob
    /// cannot be moved to another app).
    pub fn seal(
        &self,
        app_id: &str,
        credentials: &BTreeMap<String, String>,
    ) -> Result<String, ApiError> {
        let mut data = serde_json::to_vec(credentials).map_err(ApiError::internal)?;
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(app_id.as_bytes()), &mut data)
            .map_err(|_| ApiError::internal("sealing credentials failed"))?;
        Ok(format!(
            "{FORMAT}.{}.{}",
            hex::encode(nonce.as_ref()),
            hex::encode(data)
        ))
    }

    /// Opens what [`Sealer::seal`] produced for the same app.
    pub fn open(&self, app_id: &str, sealed: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let broken =
            || ApiError::internal("stored credentials cannot be opened with this secrets key");
        let mut parts = sealed.split('.');
        let (Some(FORMAT), Some(nonce_hex), Some(data_hex), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(broken());
        };
        let nonce_bytes: [u8; NONCE_LEN] = hex::decode(nonce_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(broken)?;
        let mut data = hex::decode(data_hex).map_err(|_| broken())?;
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(app_id.as_bytes()),
                &mut data,
            )
            .map_err(|_| broken())?;
        serde_json::from_slice(plain).map_err(|_| broken())
    }
}

/// The error for credentials sent to a server that has no secrets key.
pub fn no_secrets_key() -> ApiError {
    ApiError::new(
        ErrorKind::Unprocessable,
        "This server has no secrets key, so it cannot store credentials: start it with \
         --secrets-key or ENTITLED_SECRETS_KEY (64 hex characters, e.g. from `openssl rand -hex 32`)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sealed_credentials_open_only_for_their_app_and_key() {
        let sealer = Sealer::from_hex(KEY).unwrap();
        let credentials = set(&[("stripe.secret_key", "sk_test_123")]);
        let sealed = sealer.seal("app1", &credentials).unwrap();
        assert!(!sealed.contains("sk_test_123"));
        assert_eq!(sealer.open("app1", &sealed).unwrap(), credentials);
        assert!(sealer.open("app2", &sealed).is_err(), "bound to its app");
        let other = Sealer::from_hex(&KEY.replace("00", "ff")).unwrap();
        assert!(other.open("app1", &sealed).is_err(), "bound to its key");
        assert_ne!(
            sealer.seal("app1", &credentials).unwrap(),
            sealed,
            "fresh nonce each time"
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('0') { '1' } else { '0' });
        assert!(sealer.open("app1", &tampered).is_err());
        assert!(sealer.open("app1", "garbage").is_err());
    }

    #[test]
    fn keys_must_be_32_bytes_of_hex() {
        assert!(Sealer::from_hex("abc").is_err());
        assert!(Sealer::from_hex(&"zz".repeat(32)).is_err());
        assert!(Sealer::from_hex(&"ab".repeat(16)).is_err());
        assert!(Sealer::from_hex(KEY).is_ok());
    }

    #[test]
    fn credential_shapes_are_checked() {
        assert!(validate("app_store.shared_secret", &"a1".repeat(16)).is_ok());
        assert!(validate("app_store.shared_secret", "short").is_err());
        assert!(validate("app_store.subscription_key_id", "ABCDE12345").is_ok());
        assert!(
            validate(
                "app_store.subscription_key_issuer",
                "5a049d62-1b9b-453c-b605-1988189d8129"
            )
            .is_ok()
        );
        assert!(validate("app_store.subscription_key_issuer", "5a049d62").is_err());
        assert!(
            validate(
                "app_store.subscription_private_key",
                "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"
            )
            .is_ok()
        );
        assert!(
            validate(
                "play_store.service_account_credentials_json",
                r#"{"client_email":"a@b","private_key":"k"}"#
            )
            .is_ok()
        );
        assert!(validate("play_store.service_account_credentials_json", "{}").is_err());
        assert!(validate("stripe.webhook_secret", "whsec_abc").is_ok());
        let err = validate("stripe.secret_key", "pk_live_x").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("stripe.secret_key"));
        assert!(!err.message.contains("pk_live_x"), "values never echo back");
    }
}
