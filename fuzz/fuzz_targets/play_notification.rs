//! Google Play Real-time developer notifications as Pub/Sub pushes them
//! (`{"message":{"data":<base64>,…},"subscription":…}`): `PushEnvelope::parse`, then
//! `PushEnvelope::notification`, then `DeveloperNotification::action` at a fixed `now`, and
//! the follow-up events of subscription news (`FollowUp::event`) for a few looked-up
//! purchases. The first byte picks the mode:
//!
//! - even: the rest is the push body as posted; the rest is also tried as a bare
//!   notification (`DeveloperNotification::from_json`).
//! - odd: the rest is the notification JSON, which the target base64-encodes into a valid
//!   push (padded or not, the data surrounded by whitespace or not, the message id under
//!   either name), so mutations reach the notification decoder instead of stopping at
//!   base64. The push must parse, and decode to exactly what `from_json` makes of the JSON.
//!
//! Nothing panics; every refusal is `MalformedNotification` (answered 400); the action
//! matches the kind of news (a canceled pending purchase or a partial refund is `Nothing`,
//! recovered/restarted/deferred/revoked subscription news carries a follow-up) and is the
//! same when the notification is redelivered; every lifecycle event (a refund, a follow-up's)
//! is the Play Store's and dated within 1970..=9999, at the notification's event time, which
//! is `eventTimeMillis` when that is in range and `now` otherwise.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use entitled_core::UnixMillis;
use entitled_core::purchases::{LifecycleEvent, LifecycleKind, Store};
use entitled_core::time::LATEST;
use entitled_stores::play_store::{
    DeveloperNotification, NotificationAction, PlayError, PushEnvelope, SubscriptionPurchaseV2,
};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

const NOW: UnixMillis = UnixMillis(1_795_514_400_000);

/// Subscriptions as a lookup after a notification may find them: a replacement with an
/// expiry, one without line items, one whose expiry is past 9999.
static PURCHASES: LazyLock<Vec<(SubscriptionPurchaseV2, Option<UnixMillis>)>> = LazyLock::new(
    || {
        let purchase = |value| serde_json::from_value(value).expect("a subscription purchase");
        vec![
            (
                purchase(json!({
                    "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
                    "startTime": "2026-10-24T10:00:00Z",
                    "linkedPurchaseToken": "OLD_TOKEN",
                    "lineItems": [{"productId": "pro.monthly", "expiryTime": "2026-11-24T10:00:00.250Z"}]
                })),
                Some(UnixMillis(1_795_514_400_250)),
            ),
            (
                purchase(json!({"subscriptionState": "SUBSCRIPTION_STATE_ACTIVE"})),
                None,
            ),
            (
                purchase(json!({
                    "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
                    "lineItems": [{"productId": "p", "expiryTime": "10000-01-01T00:00:00Z"}]
                })),
                None,
            ),
        ]
    },
);

fn in_range(at: UnixMillis) -> bool {
    (0..=LATEST.0).contains(&at.0)
}

fn check_refusal(err: &PlayError) {
    assert!(
        matches!(err, PlayError::MalformedNotification(_)),
        "a notification refused as {err:?}"
    );
    assert_eq!(err.contract_status(), 400);
    assert!(!err.to_string().is_empty());
}

fn check_event(event: &LifecycleEvent, event_time: UnixMillis) {
    assert_eq!(event.store, Store::PlayStore);
    assert!(event.id.starts_with("evt_play_"), "{event:?}");
    assert!(in_range(event.occurred_at), "{event:?}");
    assert_eq!(event.occurred_at, event_time);
    match event.kind {
        LifecycleKind::Extended { expires_at: at }
        | LifecycleKind::Paused { resumes_at: at }
        | LifecycleKind::BillingIssue {
            grace_period_expires_at: Some(at),
        } => assert!(in_range(at), "{event:?}"),
        _ => {}
    }
}

fn check_notification(notification: &DeveloperNotification) {
    let event_time = notification.event_time(NOW);
    assert!(in_range(event_time));
    match notification.event_time_millis {
        Some(ms) if (0..=LATEST.0).contains(&ms) => assert_eq!(event_time, UnixMillis(ms)),
        _ => assert_eq!(event_time, NOW),
    }
    let action = notification.action(NOW);
    // A redelivered notification asks for the same, with the same ids.
    assert_eq!(action, notification.action(NOW));
    let subscription = notification.subscription_notification.as_ref();
    let product = notification.one_time_product_notification.as_ref();
    let voided = notification.voided_purchase_notification.as_ref();
    match &action {
        NotificationAction::Subscription {
            purchase_token,
            subscription_id,
            event_time: at,
            follow_up,
        } => {
            let news = subscription.expect("a lookup comes from subscription news");
            assert_eq!(purchase_token, &news.purchase_token);
            assert_eq!(subscription_id, &news.subscription_id);
            assert_eq!(*at, event_time);
            assert_ne!(news.notification_type, 20);
            let kind = news.notification_type;
            assert_eq!(
                follow_up.is_some(),
                matches!(kind, 1 | 7 | 9 | 12),
                "{action:?}"
            );
            if let Some(follow_up) = follow_up {
                for (purchase, expiry) in PURCHASES.iter() {
                    let event = follow_up.event(purchase, purchase_token);
                    let Some(event) = event else {
                        assert!(kind == 9 && expiry.is_none(), "no event for {action:?}");
                        continue;
                    };
                    check_event(&event, event_time);
                    assert_eq!(
                        event.original_transaction_id,
                        purchase.original_transaction_id(purchase_token)
                    );
                    let expected = match kind {
                        1 => LifecycleKind::Recovered,
                        7 => LifecycleKind::Uncancelled,
                        12 => LifecycleKind::Expired,
                        _ => LifecycleKind::Extended {
                            expires_at: expiry.expect("deferred to a known expiry"),
                        },
                    };
                    assert_eq!(event.kind, expected);
                }
            }
        }
        NotificationAction::Product {
            purchase_token,
            product_id,
            event_time: at,
        } => {
            assert!(subscription.is_none());
            let news = product.expect("a product lookup comes from one-time product news");
            assert_ne!(news.notification_type, 2);
            assert_eq!(purchase_token, &news.purchase_token);
            assert_eq!(product_id, &news.sku);
            assert_eq!(*at, event_time);
        }
        NotificationAction::Refund {
            purchase_token,
            order_id,
            event,
        } => {
            assert!(subscription.is_none() && product.is_none());
            let news = voided.expect("a refund comes from a voided purchase");
            assert_ne!(news.refund_type, Some(2));
            assert_eq!(purchase_token, &news.purchase_token);
            assert_eq!(order_id, &news.order_id);
            check_event(event, event_time);
            assert_eq!(event.kind, LifecycleKind::Refunded);
            assert_eq!(&event.original_transaction_id, purchase_token);
            if !order_id.is_empty() {
                assert_eq!(event.id, format!("evt_play_refund_{order_id}"));
            }
        }
        NotificationAction::Nothing => match (subscription, product, voided) {
            (Some(news), _, _) => assert_eq!(news.notification_type, 20),
            (None, Some(news), _) => assert_eq!(news.notification_type, 2),
            (None, None, Some(news)) => assert_eq!(news.refund_type, Some(2)),
            (None, None, None) => {}
        },
    }
}

/// A notification as its JSON (`from_json`).
fn bare(json: &[u8]) -> Result<DeveloperNotification, PlayError> {
    let parsed = DeveloperNotification::from_json(json);
    match &parsed {
        Ok(notification) => check_notification(notification),
        Err(err) => check_refusal(err),
    }
    parsed
}

/// A push body as posted.
fn push(body: &[u8]) {
    let envelope = match PushEnvelope::parse(body) {
        Ok(envelope) => envelope,
        Err(err) => return check_refusal(&err),
    };
    match envelope.notification() {
        Ok(notification) => check_notification(&notification),
        Err(err) => check_refusal(&err),
    }
}

/// `json` wrapped into a push as Pub/Sub would send it, varied by `selector`'s bits.
fn wrapped(selector: u8, json: &[u8]) {
    let mut data = if selector & 2 == 0 {
        STANDARD.encode(json)
    } else {
        STANDARD_NO_PAD.encode(json)
    };
    if selector & 4 != 0 {
        data = format!(" \n{data}\r\n\t");
    }
    let id_field = if selector & 8 == 0 {
        "messageId"
    } else {
        "message_id"
    };
    let body = json!({
        "message": {
            "attributes": {},
            "data": data,
            id_field: "136969346945",
            "publishTime": "2017-08-21T21:06:06.168Z"
        },
        "subscription": "projects/myproject/subscriptions/mysubscription"
    });
    let envelope = PushEnvelope::parse(body.to_string().as_bytes())
        .unwrap_or_else(|err| panic!("a well-formed push refused: {err:?}"));
    assert_eq!(envelope.message.id(), Some("136969346945"));
    let decoded = envelope.notification();
    if let Ok(notification) = &decoded {
        check_notification(notification);
    }
    match (decoded, bare(json)) {
        (Ok(decoded), Ok(direct)) => assert_eq!(decoded, direct),
        (Err(decoded), Err(direct)) => {
            check_refusal(&decoded);
            assert_eq!(decoded, direct);
        }
        (decoded, direct) => panic!("the push gave {decoded:?}, the JSON itself {direct:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        push(rest);
        let _ = bare(rest);
    } else {
        wrapped(selector, rest);
    }
});
