//! Real-time developer notifications: Google publishes a `DeveloperNotification` to the
//! app's Pub/Sub topic, and Pub/Sub pushes it to entitled wrapped in an envelope
//! (`{"message":{"data":<base64>,"messageId":…},"subscription":…}`).
//!
//! A notification is only a hint that a purchase changed: it is not signed, so entitled
//! looks the purchase up with Google before recording anything (except refunds, which name
//! the order they void). [`DeveloperNotification::action`] says what to do.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use entitled_core::UnixMillis;
use entitled_core::purchases::{LifecycleEvent, LifecycleKind, Store};
use serde::Deserialize;

use super::PlayError;
use super::ids::event_id;
use super::rfc3339::{self, lenient_i64};
use super::subscription::SubscriptionPurchaseV2;

/// Standard base64, padded or not (Pub/Sub pads; hand-made pushes may not).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn malformed(message: impl Into<String>) -> PlayError {
    PlayError::MalformedNotification(message.into())
}

/// The body of a Pub/Sub push.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PushEnvelope {
    /// The message.
    pub message: PushMessage,
    /// The Pub/Sub subscription that pushed it (`projects/…/subscriptions/…`).
    pub subscription: Option<String>,
}

/// A pushed Pub/Sub message. Pub/Sub writes its id both as `messageId` and `message_id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PushMessage {
    /// The payload, base64: a `DeveloperNotification` as JSON.
    pub data: Option<String>,
    /// Pub/Sub's id of the message (redeliveries repeat it).
    #[serde(rename = "messageId")]
    pub message_id: Option<String>,
    #[serde(rename = "message_id")]
    message_id_snake: Option<String>,
    /// When Pub/Sub received it (RFC 3339).
    #[serde(rename = "publishTime")]
    pub publish_time: Option<String>,
}

impl PushMessage {
    /// The message id, under either of its names.
    pub fn id(&self) -> Option<&str> {
        self.message_id
            .as_deref()
            .or(self.message_id_snake.as_deref())
    }
}

impl PushEnvelope {
    /// Parses a push body.
    pub fn parse(body: &[u8]) -> Result<Self, PlayError> {
        serde_json::from_slice(body).map_err(|e| malformed(format!("not a Pub/Sub push body: {e}")))
    }

    /// The developer notification inside.
    pub fn notification(&self) -> Result<DeveloperNotification, PlayError> {
        let data = self
            .message
            .data
            .as_deref()
            .ok_or_else(|| malformed("the Pub/Sub message has no data"))?;
        let json = BASE64
            .decode(data.trim())
            .map_err(|_| malformed("the Pub/Sub message's data is not base64"))?;
        DeveloperNotification::from_json(&json)
    }
}

/// Google's `DeveloperNotification`: which app, when, and one of four kinds of news.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeveloperNotification {
    /// `1.0`.
    pub version: Option<String>,
    /// The app's package name (check it is the app the push was configured for).
    pub package_name: String,
    /// When the change happened, ms since 1970 (written as a string).
    #[serde(default, deserialize_with = "lenient_i64")]
    pub event_time_millis: Option<i64>,
    /// A subscription changed.
    pub subscription_notification: Option<SubscriptionNotification>,
    /// A one-time product was bought or its pending purchase canceled.
    pub one_time_product_notification: Option<OneTimeProductNotification>,
    /// A purchase was refunded, charged back or canceled.
    pub voided_purchase_notification: Option<VoidedPurchaseNotification>,
    /// Sent from the Play Console to test the setup.
    pub test_notification: Option<TestNotification>,
}

/// A subscription's news.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionNotification {
    /// `1.0`.
    pub version: Option<String>,
    /// 1 recovered, 2 renewed, 3 canceled, 4 purchased, 5 on hold, 6 in grace period,
    /// 7 restarted, 8 price change confirmed, 9 deferred, 10 paused, 11 pause schedule
    /// changed, 12 revoked, 13 expired, 17 items changed, 18 cancellation scheduled,
    /// 19 price change updated, 20 pending purchase canceled, 22 price step-up consent updated.
    pub notification_type: i64,
    /// The subscription's purchase token.
    pub purchase_token: String,
    /// The product id (absent in newer notifications).
    pub subscription_id: Option<String>,
}

/// A one-time product's news.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneTimeProductNotification {
    /// `1.0`.
    pub version: Option<String>,
    /// 1 purchased, 2 (pending purchase) canceled.
    pub notification_type: i64,
    /// The purchase token.
    pub purchase_token: String,
    /// The product id.
    pub sku: String,
}

/// A voided purchase: refunded, charged back, or canceled by Google.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoidedPurchaseNotification {
    /// The voided purchase's token.
    pub purchase_token: String,
    /// The voided order (`GPA.…`, with its `..N` suffix for a renewal).
    pub order_id: String,
    /// 1 subscription, 2 one-time product.
    pub product_type: Option<i64>,
    /// 1 full refund, 2 quantity-based partial refund.
    pub refund_type: Option<i64>,
}

/// The Play Console's test of the setup.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestNotification {
    /// `1.0`.
    pub version: Option<String>,
}

/// What a notification asks entitled to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationAction {
    /// Look the subscription up ([`super::PlayClient::subscription`] with `purchase_token`)
    /// and record what Google says: [`SubscriptionPurchaseV2::to_fact`] (seen at
    /// `event_time`) and [`SubscriptionPurchaseV2::lifecycle_events`]; then `follow_up`'s
    /// event, if any. A lookup answering "not valid" means there is nothing to record.
    Subscription {
        /// The subscription's purchase token.
        purchase_token: String,
        /// The product id the notification names, if it does.
        subscription_id: Option<String>,
        /// When the change happened.
        event_time: UnixMillis,
        /// News the subscription's state does not show.
        follow_up: Option<FollowUp>,
    },
    /// Look the one-time purchase up ([`super::PlayClient::product`]) and record it.
    Product {
        /// The purchase token.
        purchase_token: String,
        /// The product id.
        product_id: String,
        /// When it was bought.
        event_time: UnixMillis,
    },
    /// Record `event` (a refund) for the purchase. Its `original_transaction_id` is the
    /// voided purchase token, which is a one-time purchase's original and a subscription's
    /// unless it replaced another; prefer the original of the recorded transaction whose
    /// store transaction id is `order_id` when there is one.
    Refund {
        /// The voided purchase's token.
        purchase_token: String,
        /// The voided order.
        order_id: String,
        /// The refund, id `evt_play_refund_<orderId>`.
        event: LifecycleEvent,
    },
    /// Nothing to record: a test, a canceled pending purchase, a partial refund.
    Nothing,
}

/// News in a subscription notification that the subscription's state does not show: a
/// recovery, an undone cancellation, a revocation, a deferred renewal. Its id names the
/// notification (token, type, time), so a redelivered notification records nothing new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    id: String,
    what: FollowUpKind,
    occurred_at: UnixMillis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FollowUpKind {
    Recovered,
    Uncancelled,
    Revoked,
    Deferred,
}

impl FollowUp {
    /// The event to record once the subscription has been looked up (`purchase`, with
    /// `purchase_token`): `Recovered`, `Uncancelled`, `Expired` (revoked: access ends now) or
    /// `Extended` to the new expiry (deferred; `None` when the purchase has no expiry).
    pub fn event(
        &self,
        purchase: &SubscriptionPurchaseV2,
        purchase_token: &str,
    ) -> Option<LifecycleEvent> {
        let kind = match self.what {
            FollowUpKind::Recovered => LifecycleKind::Recovered,
            FollowUpKind::Uncancelled => LifecycleKind::Uncancelled,
            FollowUpKind::Revoked => LifecycleKind::Expired,
            FollowUpKind::Deferred => LifecycleKind::Extended {
                expires_at: purchase
                    .line_item()
                    .and_then(|i| i.expiry_time.as_deref())
                    .and_then(rfc3339::parse)?,
            },
        };
        Some(LifecycleEvent {
            id: self.id.clone(),
            store: Store::PlayStore,
            original_transaction_id: purchase.original_transaction_id(purchase_token).to_string(),
            kind,
            occurred_at: self.occurred_at,
        })
    }
}

impl DeveloperNotification {
    /// Parses the notification JSON (the decoded `data` of a push).
    pub fn from_json(json: &[u8]) -> Result<Self, PlayError> {
        serde_json::from_slice(json)
            .map_err(|e| malformed(format!("not a developer notification: {e}")))
    }

    /// When the change happened; `now` when Google did not say or said something impossible.
    pub fn event_time(&self, now: UnixMillis) -> UnixMillis {
        self.event_time_millis
            .and_then(rfc3339::in_range)
            .unwrap_or(now)
    }

    /// What entitled must do about this notification, received at `now`.
    ///
    /// Subscription news always means looking the subscription up (its state is the truth;
    /// unknown types too), except a canceled pending purchase, which was never recorded.
    /// Recovered (1), restarted (7), revoked (12) and deferred (9) add a [`FollowUp`].
    /// One-time purchases (1) are looked up; a canceled pending one (2) needs nothing.
    /// Voided purchases become a refund with an id derived from the order id; partial
    /// (quantity-based) refunds are not recorded.
    pub fn action(&self, now: UnixMillis) -> NotificationAction {
        let event_time = self.event_time(now);
        if let Some(n) = &self.subscription_notification {
            let follow_up = |what| {
                Some(FollowUp {
                    id: event_id(
                        match what {
                            FollowUpKind::Recovered => "recovered",
                            FollowUpKind::Uncancelled => "uncancelled",
                            FollowUpKind::Revoked => "revoked",
                            FollowUpKind::Deferred => "deferred",
                        },
                        &[
                            &n.purchase_token,
                            &n.notification_type.to_string(),
                            &event_time.0.to_string(),
                        ],
                    ),
                    what,
                    occurred_at: event_time,
                })
            };
            let follow_up = match n.notification_type {
                20 => return NotificationAction::Nothing,
                1 => follow_up(FollowUpKind::Recovered),
                7 => follow_up(FollowUpKind::Uncancelled),
                9 => follow_up(FollowUpKind::Deferred),
                12 => follow_up(FollowUpKind::Revoked),
                _ => None,
            };
            return NotificationAction::Subscription {
                purchase_token: n.purchase_token.clone(),
                subscription_id: n.subscription_id.clone(),
                event_time,
                follow_up,
            };
        }
        if let Some(n) = &self.one_time_product_notification {
            if n.notification_type == 2 {
                return NotificationAction::Nothing;
            }
            return NotificationAction::Product {
                purchase_token: n.purchase_token.clone(),
                product_id: n.sku.clone(),
                event_time,
            };
        }
        if let Some(n) = &self.voided_purchase_notification {
            if n.refund_type == Some(2) {
                return NotificationAction::Nothing;
            }
            let id = if n.order_id.is_empty() {
                event_id("refund", &[&n.purchase_token])
            } else {
                format!("evt_play_refund_{}", n.order_id)
            };
            return NotificationAction::Refund {
                purchase_token: n.purchase_token.clone(),
                order_id: n.order_id.clone(),
                event: LifecycleEvent {
                    id,
                    store: Store::PlayStore,
                    original_transaction_id: n.purchase_token.clone(),
                    kind: LifecycleKind::Refunded,
                    occurred_at: event_time,
                },
            };
        }
        NotificationAction::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = UnixMillis(1_795_514_400_000);

    fn subscription_news(kind: i64) -> DeveloperNotification {
        DeveloperNotification::from_json(
            serde_json::json!({
                "version": "1.0",
                "packageName": "com.some.thing",
                "eventTimeMillis": "1503349566168",
                "subscriptionNotification": {
                    "version": "1.0",
                    "notificationType": kind,
                    "purchaseToken": "PURCHASE_TOKEN",
                    "subscriptionId": "my.sku"
                }
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    fn purchase() -> SubscriptionPurchaseV2 {
        serde_json::from_value(serde_json::json!({
            "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
            "startTime": "2017-08-21T21:06:06.168Z",
            "linkedPurchaseToken": "OLD_TOKEN",
            "lineItems": [{"productId": "my.sku", "expiryTime": "2017-09-21T21:06:06.168Z"}]
        }))
        .unwrap()
    }

    #[test]
    fn subscription_news_means_a_lookup_and_maybe_a_follow_up() {
        for kind in [2, 3, 4, 5, 6, 10, 13, 99] {
            let NotificationAction::Subscription {
                purchase_token,
                event_time,
                follow_up,
                ..
            } = subscription_news(kind).action(NOW)
            else {
                panic!("type {kind} is a lookup");
            };
            assert_eq!(purchase_token, "PURCHASE_TOKEN");
            assert_eq!(event_time, UnixMillis(1_503_349_566_168));
            assert_eq!(follow_up, None, "type {kind}");
        }
        let kinds = [
            (1, LifecycleKind::Recovered),
            (7, LifecycleKind::Uncancelled),
            (12, LifecycleKind::Expired),
            (
                9,
                LifecycleKind::Extended {
                    expires_at: UnixMillis(1_506_027_966_168),
                },
            ),
        ];
        for (kind, expected) in kinds {
            let NotificationAction::Subscription {
                follow_up: Some(follow_up),
                ..
            } = subscription_news(kind).action(NOW)
            else {
                panic!("type {kind} has a follow-up");
            };
            let event = follow_up.event(&purchase(), "PURCHASE_TOKEN").unwrap();
            assert_eq!(event.kind, expected);
            assert_eq!(event.original_transaction_id, "OLD_TOKEN");
            assert_eq!(event.occurred_at, UnixMillis(1_503_349_566_168));
            let again = subscription_news(kind).action(NOW);
            let NotificationAction::Subscription {
                follow_up: Some(again),
                ..
            } = again
            else {
                unreachable!()
            };
            assert_eq!(
                again.event(&purchase(), "PURCHASE_TOKEN").unwrap().id,
                event.id
            );
        }
        assert_eq!(
            subscription_news(20).action(NOW),
            NotificationAction::Nothing
        );
    }

    #[test]
    fn missing_or_impossible_event_times_fall_back_to_now() {
        let mut n = subscription_news(4);
        n.event_time_millis = None;
        assert_eq!(n.event_time(NOW), NOW);
        n.event_time_millis = Some(i64::MAX);
        assert_eq!(n.event_time(NOW), NOW);
    }

    #[test]
    fn pushes_need_base64_json_data() {
        let push = |data: &str| {
            PushEnvelope::parse(
                serde_json::json!({"message": {"data": data, "messageId": "1", "message_id": "1"}})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(push("e30=").message.id(), Some("1"));
        assert!(matches!(
            push("not base64!").notification(),
            Err(PlayError::MalformedNotification(_))
        ));
        // `{}` has no packageName.
        assert!(push("e30").notification().is_err());
        assert!(PushEnvelope::parse(b"{}").is_err());
    }
}
