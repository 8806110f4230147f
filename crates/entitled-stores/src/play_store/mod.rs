//! The Google Play adapter: purchases looked up with Google's Play Developer API
//! (androidpublisher v3) under the app's service account, Real-time developer notifications
//! read from their Pub/Sub push, and both turned into entitled's facts.
//!
//! Unlike the App Store's signed transactions, a Play purchase token proves nothing by
//! itself: every purchase is verified by asking Google. [`PlayClient`] does that I/O (a token
//! exchange and a GET); everything else here is pure and takes `now` from the caller.

mod client;
mod ids;
mod notification;
mod product;
mod rfc3339;
mod service_account;
mod subscription;
mod token;

pub use client::{DEFAULT_BASE_URL, DEFAULT_TIMEOUT, PlayClient, PlayClientConfig};
pub use notification::{
    DeveloperNotification, FollowUp, NotificationAction, OneTimeProductNotification, PushEnvelope,
    PushMessage, SubscriptionNotification, TestNotification, VoidedPurchaseNotification,
};
pub use product::ProductPurchase;
pub use service_account::{ANDROID_PUBLISHER_SCOPE, DEFAULT_TOKEN_URI, ServiceAccount};
pub use subscription::{
    AutoRenewingPlan, CanceledStateContext, LineItem, OfferDetails, OfferPhase, PausedStateContext,
    PlayMoney, SubscriptionPurchaseV2, UserInitiatedCancellation,
};
pub use token::{ACCESS_TOKEN_LIFETIME_SECS, AccessToken, TokenSource};

/// Why a Play purchase or notification was not accepted, in the groups the API contract
/// answers differently. Messages say what is wrong and never carry the service account's
/// private key or an access token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayError {
    /// The service account JSON is unusable: not JSON, a required field missing, a private
    /// key that is not an RSA PKCS#8 PEM key, a token URI that is not https. A
    /// configuration problem of the app (answer 422).
    #[error("the Play service account credentials are unusable: {0}")]
    ServiceAccount(String),
    /// Google refused the service account: the token endpoint rejected its signed assertion
    /// (a revoked or foreign key), or the API answered 401/403 (the account was not given
    /// access to the app in the Play Console). A configuration problem of the app (422).
    #[error("the Play service account lacks access to the Google Play Developer API: {0}")]
    Credentials(String),
    /// The purchase is not valid: Google does not know the token (400/404/410), or the
    /// purchase is canceled or still pending (422).
    #[error("the purchase is not valid: {0}")]
    InvalidPurchase(String),
    /// Google answered with a server error, or with a body that is not what the API
    /// documents; the purchase may be fine (502).
    #[error("Google Play could not be asked: {0}")]
    Upstream(String),
    /// Google did not answer within the client's timeout (504).
    #[error("Google Play did not answer in time")]
    Timeout,
    /// A push body or notification that is not what Google sends (400).
    #[error("the notification is malformed: {0}")]
    MalformedNotification(String),
}

impl PlayError {
    /// The HTTP status the API contract answers a client with for this error: 422 for
    /// credentials and invalid purchases, 502 for upstream errors, 504 for timeouts, 400 for
    /// malformed notifications.
    pub fn contract_status(&self) -> u16 {
        match self {
            PlayError::ServiceAccount(_)
            | PlayError::Credentials(_)
            | PlayError::InvalidPurchase(_) => 422,
            PlayError::Upstream(_) => 502,
            PlayError::Timeout => 504,
            PlayError::MalformedNotification(_) => 400,
        }
    }
}
