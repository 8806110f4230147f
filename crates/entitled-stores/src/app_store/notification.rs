//! App Store Server Notifications V2: a `signedPayload` whose payload holds the notification
//! type and, signed again inside it, the transaction and renewal info it is about.

use entitled_core::UnixMillis;
use entitled_core::purchases::{LifecycleEvent, LifecycleKind, Store};
use serde::Deserialize;

use super::transaction::AppStoreTransaction;
use super::{SignedDataError, SignedDataVerifier};

/// The body Apple posts.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationBody {
    /// The notification, signed.
    pub signed_payload: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecodedPayload {
    notification_type: String,
    subtype: Option<String>,
    #[serde(rename = "notificationUUID")]
    notification_uuid: String,
    signed_date: Option<i64>,
    data: Option<NotificationData>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationData {
    bundle_id: Option<String>,
    environment: Option<String>,
    signed_transaction_info: Option<String>,
    signed_renewal_info: Option<String>,
}

/// The fields of Apple's `JWSRenewalInfoDecodedPayload` entitled uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalInfo {
    /// The subscription this is about.
    pub original_transaction_id: String,
    /// End of the billing grace period, while Apple retries a failed renewal.
    pub grace_period_expires_date: Option<i64>,
}

/// A verified notification: what happened, and the verified transaction it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStoreNotification {
    /// Apple's unique id for the notification (retries repeat it).
    pub notification_uuid: String,
    /// e.g. `DID_RENEW`.
    pub notification_type: String,
    /// e.g. `AUTO_RENEW_DISABLED`.
    pub subtype: Option<String>,
    /// When Apple signed it.
    pub signed_date: i64,
    /// The app's bundle id (absent only on summary notifications).
    pub bundle_id: Option<String>,
    /// `Production` or `Sandbox`.
    pub environment: Option<String>,
    /// The transaction it is about, verified.
    pub transaction: Option<AppStoreTransaction>,
    /// The subscription's renewal info, verified.
    pub renewal: Option<RenewalInfo>,
}

/// What a notification asks entitled to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationEffect {
    /// A transaction (purchase, renewal, upgrade) to record.
    Transaction,
    /// A transaction to record, then what the store says about its purchase.
    TransactionThen(LifecycleEvent),
    /// Nothing to record (a test, a summary, a change that takes effect at renewal).
    Nothing,
}

impl SignedDataVerifier {
    /// Verifies a notification for the app with `bundle_id`, and the signed transaction
    /// and renewal info inside it.
    pub fn verify_notification(
        &self,
        body: &NotificationBody,
        bundle_id: &str,
        now: UnixMillis,
    ) -> Result<AppStoreNotification, SignedDataError> {
        let decoded: DecodedPayload = self.verify(&body.signed_payload, now)?;
        let data = decoded.data;
        let signed_bundle = data.as_ref().and_then(|d| d.bundle_id.as_deref());
        if let Some(found) = signed_bundle.filter(|found| *found != bundle_id) {
            return Err(SignedDataError::WrongBundle {
                expected: bundle_id.to_string(),
                found: found.to_string(),
            });
        }
        let transaction = match data
            .as_ref()
            .and_then(|d| d.signed_transaction_info.as_ref())
        {
            Some(jws) => Some(self.verify_transaction(jws, bundle_id, now)?),
            None => None,
        };
        let renewal = match data.as_ref().and_then(|d| d.signed_renewal_info.as_ref()) {
            Some(jws) => Some(self.verify::<RenewalInfo>(jws, now)?),
            None => None,
        };
        Ok(AppStoreNotification {
            notification_uuid: decoded.notification_uuid,
            notification_type: decoded.notification_type,
            subtype: decoded.subtype,
            signed_date: decoded.signed_date.unwrap_or(now.0),
            bundle_id: data.as_ref().and_then(|d| d.bundle_id.clone()),
            environment: data.and_then(|d| d.environment),
            transaction,
            renewal,
        })
    }
}

impl AppStoreNotification {
    /// What this notification means for the purchase it is about. Lifecycle facts take
    /// their id from the notification, so a retried notification records nothing new.
    pub fn effect(&self) -> NotificationEffect {
        let Some(transaction) = &self.transaction else {
            return NotificationEffect::Nothing;
        };
        let at = UnixMillis(self.signed_date.clamp(0, entitled_core::time::LATEST.0));
        let kind = match (self.notification_type.as_str(), self.subtype.as_deref()) {
            ("SUBSCRIBED" | "DID_RENEW" | "OFFER_REDEEMED" | "ONE_TIME_CHARGE", _)
            | ("DID_CHANGE_RENEWAL_PREF", Some("UPGRADE")) => {
                return match self.subtype.as_deref() {
                    Some("BILLING_RECOVERY") => {
                        self.then(transaction, LifecycleKind::Recovered, at)
                    }
                    _ => NotificationEffect::Transaction,
                };
            }
            ("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED")) => LifecycleKind::Cancelled,
            ("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_ENABLED")) => LifecycleKind::Uncancelled,
            ("DID_FAIL_TO_RENEW", _) => LifecycleKind::BillingIssue {
                grace_period_expires_at: self
                    .renewal
                    .as_ref()
                    .and_then(|r| r.grace_period_expires_date)
                    .map(|ms| UnixMillis(ms.clamp(0, entitled_core::time::LATEST.0))),
            },
            // A period that simply ran out is announced by the sweep when it ends (one
            // EXPIRATION, whichever comes first); only an early end is a fact of its own.
            ("EXPIRED", _)
                if transaction
                    .expires_date
                    .is_some_and(|e| e <= self.signed_date) =>
            {
                return NotificationEffect::Transaction;
            }
            ("EXPIRED", _) => LifecycleKind::Expired,
            ("REFUND" | "REVOKE", _) => {
                // The refund the transaction records, under the id a posted receipt gives it.
                return match transaction.refund() {
                    Some(refund) => NotificationEffect::TransactionThen(refund),
                    None => self.then(transaction, LifecycleKind::Refunded, at),
                };
            }
            ("REFUND_REVERSED", _) => LifecycleKind::RefundReversed,
            ("RENEWAL_EXTENDED", _) => match transaction.expires_date {
                Some(expires) => LifecycleKind::Extended {
                    expires_at: UnixMillis(expires.clamp(0, entitled_core::time::LATEST.0)),
                },
                None => return NotificationEffect::Transaction,
            },
            _ => return NotificationEffect::Nothing,
        };
        self.then(transaction, kind, at)
    }

    fn then(
        &self,
        transaction: &AppStoreTransaction,
        kind: LifecycleKind,
        at: UnixMillis,
    ) -> NotificationEffect {
        NotificationEffect::TransactionThen(LifecycleEvent {
            id: format!("evt_apple_{}", self.notification_uuid),
            store: Store::AppStore,
            original_transaction_id: transaction.original_transaction_id.clone(),
            kind,
            occurred_at: at,
        })
    }
}
