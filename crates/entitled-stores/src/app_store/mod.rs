//! The App Store adapter: Apple's signed transactions and server notifications, verified
//! offline against Apple's root certificate and turned into entitled's facts.

mod chain;
mod jws;
mod notification;
mod transaction;

pub use chain::{APPLE_ROOT_CA_G3, TrustedRoots};
pub use jws::{MAX_SIGNED_DATA_LEN, SignedDataVerifier, encode_part};
pub use notification::{AppStoreNotification, NotificationBody, NotificationEffect, RenewalInfo};
pub use transaction::AppStoreTransaction;

/// Why signed data was not accepted. Messages say what is wrong, never echo secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedDataError {
    /// Not a compact JWS, or not one Apple would sign.
    #[error("the signed data is malformed: {0}")]
    Malformed(String),
    /// The certificate chain is missing, invalid, expired or not Apple's.
    #[error("the signing certificate is not trusted: {0}")]
    Certificate(String),
    /// The signature does not match the data.
    #[error("the signature does not match the signed data")]
    Signature,
    /// The verified payload is not what was expected.
    #[error("the signed payload is not usable: {0}")]
    Payload(String),
    /// Signed for another app.
    #[error("the signed data is for bundle {found:?}, not this app's {expected:?}")]
    WrongBundle {
        /// The app's bundle id.
        expected: String,
        /// The bundle id Apple signed.
        found: String,
    },
}

impl SignedDataVerifier {
    /// Verifies a signed transaction (StoreKit 2's `jwsRepresentation`) of the app with
    /// `bundle_id`.
    pub fn verify_transaction(
        &self,
        jws: &str,
        bundle_id: &str,
        now: entitled_core::UnixMillis,
    ) -> Result<AppStoreTransaction, SignedDataError> {
        let transaction: AppStoreTransaction = self.verify(jws, now)?;
        if transaction.bundle_id != bundle_id {
            return Err(SignedDataError::WrongBundle {
                expected: bundle_id.to_string(),
                found: transaction.bundle_id,
            });
        }
        Ok(transaction)
    }
}

/// Whether `text` looks like compact JWS rather than an old base64 app receipt (which has
/// no dots), so receipts can say which kind they could not verify.
pub fn looks_like_jws(text: &str) -> bool {
    text.trim().split('.').count() == 3
}
