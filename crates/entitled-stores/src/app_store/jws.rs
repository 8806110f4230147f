//! Apple's signed data: compact JWS (RFC 7515) signed with ES256 by the leaf of the `x5c`
//! chain in its header. Nothing in the payload is trusted until chain and signature check out.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose};
use entitled_core::UnixMillis;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::SignedDataError;
use super::chain::TrustedRoots;

/// The largest signed payload accepted: Apple's are a few kilobytes (three certificates and
/// a small JSON object); a notification nests two of them.
pub const MAX_SIGNED_DATA_LEN: usize = 64 * 1024;

/// base64url, padded or not (Apple omits padding; some tools add it).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    x5c: Vec<String>,
}

#[derive(Deserialize)]
struct SignedAt {
    #[serde(rename = "signedDate")]
    signed_date: Option<i64>,
}

/// Verifies Apple-signed data against a set of trusted roots.
#[derive(Debug, Clone)]
pub struct SignedDataVerifier {
    roots: TrustedRoots,
}

impl SignedDataVerifier {
    /// A verifier that trusts these roots.
    pub fn new(roots: TrustedRoots) -> Self {
        Self { roots }
    }

    /// Checks `jws` and decodes its payload as `T`.
    ///
    /// The chain is checked as of the payload's `signedDate` (`now` when it has none), as
    /// Apple's own libraries do offline: data signed while its certificates were valid stays
    /// verifiable afterwards (imports of old transactions depend on that).
    pub fn verify<T: DeserializeOwned>(
        &self,
        jws: &str,
        now: UnixMillis,
    ) -> Result<T, SignedDataError> {
        let payload = self.verify_bytes(jws, now)?;
        serde_json::from_slice(&payload).map_err(|e| SignedDataError::Payload(e.to_string()))
    }

    /// Checks `jws` and returns its payload's bytes.
    pub fn verify_bytes(&self, jws: &str, now: UnixMillis) -> Result<Vec<u8>, SignedDataError> {
        if jws.len() > MAX_SIGNED_DATA_LEN {
            return Err(SignedDataError::Malformed(format!(
                "signed data is longer than {MAX_SIGNED_DATA_LEN} bytes"
            )));
        }
        let jws = jws.trim();
        let mut parts = jws.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SignedDataError::Malformed(
                "signed data must be three base64url parts joined by dots".into(),
            ));
        };
        let header: Header = serde_json::from_slice(&decode(header_b64, "header")?)
            .map_err(|e| SignedDataError::Malformed(format!("the header: {e}")))?;
        if header.alg != "ES256" {
            let shown: String = header.alg.chars().take(16).collect();
            return Err(SignedDataError::Malformed(format!(
                "the algorithm must be ES256, not {shown:?}"
            )));
        }
        if header.x5c.is_empty() {
            return Err(SignedDataError::Certificate(
                "the header has no x5c certificate chain".into(),
            ));
        }
        let chain = header
            .x5c
            .iter()
            .map(|cert| {
                STANDARD
                    .decode(cert)
                    .map_err(|_| SignedDataError::Malformed("an x5c entry is not base64".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let payload = decode(payload_b64, "payload")?;
        let signed_at: SignedAt = serde_json::from_slice(&payload)
            .map_err(|e| SignedDataError::Payload(e.to_string()))?;
        let signed_date = signed_at.signed_date.unwrap_or(now.0);
        let leaf_key = self.roots.verify(&chain, signed_date)?;
        let signature = decode(signature_b64, "signature")?;
        let signing_input = &jws[..header_b64.len() + 1 + payload_b64.len()];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &leaf_key)
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|_| SignedDataError::Signature)?;
        Ok(payload)
    }
}

fn decode(part: &str, which: &str) -> Result<Vec<u8>, SignedDataError> {
    BASE64URL
        .decode(part)
        .map_err(|_| SignedDataError::Malformed(format!("the {which} is not base64url")))
}

/// base64url without padding, as JWS writes its parts (for code that builds signed data).
pub fn encode_part(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
