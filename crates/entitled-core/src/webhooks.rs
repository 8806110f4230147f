//! Webhooks: where events go (integrations), the events waiting to go (the outbox), how
//! delivery is retried, and how receivers can check a delivery came from us (signatures).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::purchases::Environment;
use crate::time::UnixMillis;

/// A receiver of a project's events (RevenueCat's `WebhookIntegration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookIntegration {
    /// `whk…`.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// A name for people.
    pub name: String,
    /// Where events are POSTed.
    pub url: String,
    /// Sent as the `Authorization` header, if set.
    pub authorization_header: Option<String>,
    /// Only events of this environment, if set.
    pub environment: Option<Environment>,
    /// Only these event types (lower case, e.g. `initial_purchase`), if set.
    pub event_types: Option<Vec<String>>,
    /// Only events of this app, if set.
    pub app_id: Option<String>,
    /// The key deliveries are signed with (HMAC-SHA256).
    pub signing_secret: String,
    /// When it was created.
    pub created_at: UnixMillis,
}

impl WebhookIntegration {
    /// Whether an event of this type, environment and app goes to this integration.
    pub fn wants(&self, event_type: &str, environment: Environment, app_id: Option<&str>) -> bool {
        self.environment.is_none_or(|e| e == environment)
            && self
                .event_types
                .as_ref()
                .is_none_or(|types| types.iter().any(|t| t.eq_ignore_ascii_case(event_type)))
            && self
                .app_id
                .as_deref()
                .is_none_or(|wanted| app_id.is_none_or(|a| a == wanted))
    }
}

/// An event waiting in the outbox, written with the facts that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// The event's stable id (see [`crate::events`]).
    pub id: String,
    /// The project.
    pub project_id: String,
    /// The customer it is about (none for TEST events).
    pub customer_key: Option<String>,
    /// The type, e.g. `INITIAL_PURCHASE`.
    pub event_type: String,
    /// Sandbox or production.
    pub environment: Environment,
    /// The app the purchase was made in, if any.
    pub app_id: Option<String>,
    /// The webhook body, `{"api_version": "1.0", "event": {…}}`.
    pub body: serde_json::Value,
    /// When it was written.
    pub created_at: UnixMillis,
    /// Deliver to this integration only (TEST events), instead of every matching one.
    pub only_to: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Every attempt of the schedule failed.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn from_stored(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(DeliveryStatus::Pending),
            "succeeded" => Some(DeliveryStatus::Succeeded),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The receiver's status code, if it answered.
    pub status_code: Option<u16>,
    /// How long the attempt took.
    pub latency_ms: i64,
    /// Why it failed without an answer (timeout, refused…), if it did.
    pub error: Option<String>,
}

impl AttemptOutcome {
    /// Whether the receiver took the event (2xx).
    pub fn succeeded(&self) -> bool {
        self.status_code
            .is_some_and(|code| (200..300).contains(&code))
    }
}

/// RevenueCat's retry schedule: five retries, after 5, 10, 20, 40 and 80 minutes.
pub const DEFAULT_RETRY_SCHEDULE_MS: [i64; 5] = [
    5 * 60_000,
    10 * 60_000,
    20 * 60_000,
    40 * 60_000,
    80 * 60_000,
];

/// When to try again after `attempts` failed attempts, or `None` when the schedule is spent.
pub fn next_attempt_at(
    schedule_ms: &[i64],
    attempts: usize,
    now: UnixMillis,
) -> Option<UnixMillis> {
    let delay = schedule_ms.get(attempts.checked_sub(1)?)?;
    Some(UnixMillis(now.0.saturating_add(*delay)))
}

/// The signature header value for a delivery: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">`, as Stripe signs its webhooks, so receivers can reuse their verifiers.
pub fn signature(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty signature would be
    // rejected by every receiver rather than accepted.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp_secs},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration() -> WebhookIntegration {
        WebhookIntegration {
            id: "whk1".into(),
            project_id: "p".into(),
            name: "n".into(),
            url: "http://127.0.0.1:1/hook".into(),
            authorization_header: None,
            environment: None,
            event_types: None,
            app_id: None,
            signing_secret: "whsec_test".into(),
            created_at: UnixMillis(0),
        }
    }

    #[test]
    fn filters_narrow_what_an_integration_wants() {
        let all = integration();
        assert!(all.wants("RENEWAL", Environment::Sandbox, Some("app1")));
        let production = WebhookIntegration {
            environment: Some(Environment::Production),
            ..integration()
        };
        assert!(!production.wants("RENEWAL", Environment::Sandbox, None));
        let renewals = WebhookIntegration {
            event_types: Some(vec!["renewal".into()]),
            ..integration()
        };
        assert!(renewals.wants("RENEWAL", Environment::Sandbox, None));
        assert!(!renewals.wants("CANCELLATION", Environment::Sandbox, None));
        let one_app = WebhookIntegration {
            app_id: Some("app1".into()),
            ..integration()
        };
        assert!(one_app.wants("RENEWAL", Environment::Sandbox, Some("app1")));
        assert!(!one_app.wants("RENEWAL", Environment::Sandbox, Some("app2")));
    }

    #[test]
    fn the_schedule_runs_out() {
        let schedule = [1_000, 2_000];
        assert_eq!(
            next_attempt_at(&schedule, 1, UnixMillis(10)),
            Some(UnixMillis(1_010))
        );
        assert_eq!(
            next_attempt_at(&schedule, 2, UnixMillis(10)),
            Some(UnixMillis(2_010))
        );
        assert_eq!(next_attempt_at(&schedule, 3, UnixMillis(10)), None);
        assert_eq!(next_attempt_at(&schedule, 0, UnixMillis(10)), None);
        assert_eq!(DEFAULT_RETRY_SCHEDULE_MS.len(), 5);
    }

    #[test]
    fn signatures_cover_time_and_body() {
        let a = signature("secret", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_eq!(a, signature("secret", 1_700_000_000, b"{}"));
        assert_ne!(a, signature("secret", 1_700_000_001, b"{}"));
        assert_ne!(a, signature("secret", 1_700_000_000, b"{ }"));
        assert_ne!(a, signature("other", 1_700_000_000, b"{}"));
        // RFC 4231 test case 2 shape check: a known HMAC-SHA256 vector.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

/// Work done in the background, whose status can be polled.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// `job…`.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// What it does, e.g. `webhook_redelivery`.
    pub kind: String,
    /// `pending`, `running`, `succeeded` or `failed`.
    pub status: String,
    /// Percent done.
    pub progress: i64,
    /// What it was asked to do.
    pub params: serde_json::Value,
    /// What it did, once finished.
    pub result: Option<serde_json::Value>,
    /// When it was queued.
    pub created_at: UnixMillis,
    /// When it last changed.
    pub updated_at: UnixMillis,
}
