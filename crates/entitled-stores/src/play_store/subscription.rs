//! What `purchases.subscriptionsv2.get` answers (Google's `SubscriptionPurchaseV2`), and the
//! facts entitled keeps of it: the latest order as a transaction, and what the
//! subscription's state says about it (cancelled, billing trouble, paused, paid up).

use entitled_core::purchases::{
    Environment, LifecycleEvent, LifecycleKind, Money, Ownership, PeriodType, Store,
    StoreTransaction,
};
use entitled_core::{IdKind, UnixMillis, new_id};
use serde::Deserialize;

use super::PlayError;
use super::ids::event_id;
use super::rfc3339::{self, lenient_i64};

/// The fields of a `SubscriptionPurchaseV2` entitled uses; Google's others are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPurchaseV2 {
    /// `androidpublisher#subscriptionPurchaseV2`.
    pub kind: Option<String>,
    /// ISO 3166-1 alpha-2 billing country of the buyer.
    pub region_code: Option<String>,
    /// The products bought (one, unless the subscription has add-ons).
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// When the subscription was bought (RFC 3339).
    pub start_time: Option<String>,
    /// `SUBSCRIPTION_STATE_ACTIVE`, `_CANCELED`, `_IN_GRACE_PERIOD`, `_ON_HOLD`, `_PAUSED`,
    /// `_EXPIRED`, `_PENDING`, `_PENDING_PURCHASE_CANCELED`.
    pub subscription_state: Option<String>,
    /// The order of the latest charge: `GPA.…` for the first, `GPA.…..N` for the Nth renewal.
    pub latest_order_id: Option<String>,
    /// The token of the subscription this one replaced (upgrade, downgrade, resubscribe).
    pub linked_purchase_token: Option<String>,
    /// Set while paused.
    pub paused_state_context: Option<PausedStateContext>,
    /// Set once the subscription will not renew, saying who ended it.
    pub canceled_state_context: Option<CanceledStateContext>,
    /// Present (an empty object) for license testers' purchases.
    pub test_purchase: Option<serde_json::Value>,
    /// `ACKNOWLEDGEMENT_STATE_PENDING` or `_ACKNOWLEDGED`.
    pub acknowledgement_state: Option<String>,
}

/// One product of a subscription purchase.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    /// The subscription's product id.
    pub product_id: Option<String>,
    /// When access ends unless it renews (RFC 3339); during a grace period, its end.
    pub expiry_time: Option<String>,
    /// Set for auto-renewing base plans.
    pub auto_renewing_plan: Option<AutoRenewingPlan>,
    /// Set for prepaid base plans (which never renew by themselves).
    pub prepaid_plan: Option<serde_json::Value>,
    /// The base plan and offer bought.
    pub offer_details: Option<OfferDetails>,
    /// Which phase of the offer the current period is.
    pub offer_phase: Option<OfferPhase>,
    /// The latest order charged for this item.
    pub latest_successful_order_id: Option<String>,
}

/// An auto-renewing plan's renewal settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoRenewingPlan {
    /// Whether it renews at `expiryTime` (false once the buyer cancels).
    pub auto_renew_enabled: Option<bool>,
    /// What each renewal costs.
    pub recurring_price: Option<PlayMoney>,
}

/// Google's `Money`: whole `units` plus `nanos` (billionths) of `currencyCode`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayMoney {
    /// ISO 4217 code.
    pub currency_code: Option<String>,
    /// Whole units (int64, written as a string).
    #[serde(default, deserialize_with = "lenient_i64")]
    pub units: Option<i64>,
    /// Billionths of a unit.
    pub nanos: Option<i64>,
}

/// The base plan and offer of a line item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferDetails {
    /// The base plan id (entitled's `product_plan_id`).
    pub base_plan_id: Option<String>,
    /// The offer id, when bought through an offer.
    pub offer_id: Option<String>,
    /// The offer's tags.
    #[serde(default)]
    pub offer_tags: Vec<String>,
}

/// Which phase of its offer a line item is in; exactly one field is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferPhase {
    /// The base plan's regular price.
    pub base_price: Option<serde_json::Value>,
    /// A free trial.
    pub free_trial: Option<serde_json::Value>,
    /// An introductory price.
    pub introductory_price: Option<serde_json::Value>,
    /// A proration period (after a plan change).
    pub proration_period: Option<serde_json::Value>,
}

/// A pause's details.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PausedStateContext {
    /// When the subscription resumes (RFC 3339).
    pub auto_resume_time: Option<String>,
}

/// Who ended a subscription's renewals; one field is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanceledStateContext {
    /// The buyer cancelled.
    pub user_initiated_cancellation: Option<UserInitiatedCancellation>,
    /// Google cancelled (a billing problem not resolved in time).
    pub system_initiated_cancellation: Option<serde_json::Value>,
    /// The developer cancelled (through the API or the Play Console).
    pub developer_initiated_cancellation: Option<serde_json::Value>,
    /// Replaced by another subscription (an upgrade or downgrade).
    pub replacement_cancellation: Option<serde_json::Value>,
}

/// A buyer's cancellation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInitiatedCancellation {
    /// When the buyer cancelled (RFC 3339).
    pub cancel_time: Option<String>,
}

fn upstream(message: impl Into<String>) -> PlayError {
    PlayError::Upstream(format!(
        "the subscription purchase is not usable: {}",
        message.into()
    ))
}

impl SubscriptionPurchaseV2 {
    /// The state, `SUBSCRIPTION_STATE_UNSPECIFIED` when Google gave none.
    pub fn state(&self) -> &str {
        self.subscription_state
            .as_deref()
            .unwrap_or("SUBSCRIPTION_STATE_UNSPECIFIED")
    }

    /// The line item entitled records: the first. Subscriptions with add-ons (several line
    /// items) are recorded by their first product only.
    pub fn line_item(&self) -> Option<&LineItem> {
        self.line_items.first()
    }

    /// Whether a license tester bought it (no money changed hands).
    pub fn is_test(&self) -> bool {
        self.test_purchase.is_some()
    }

    /// The id entitled files the subscription under: the token it replaced
    /// (`linkedPurchaseToken`) when there is one, so an upgrade, downgrade or resubscription
    /// continues the same subscription; else `purchase_token` itself.
    ///
    /// Limitation: this follows one link only. After A → B → C, C's original is B, not A;
    /// reaching A needs B's own record (the server's original for B) or looking B up too.
    pub fn original_transaction_id<'a>(&'a self, purchase_token: &'a str) -> &'a str {
        self.linked_purchase_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(purchase_token)
    }

    /// The latest order's id (`latestOrderId`, else the line item's
    /// `latestSuccessfulOrderId`), kept whole: renewals are told apart by their `..N` suffix.
    /// License testers' purchases may have none; then the purchase token stands in.
    pub fn order_id<'a>(&'a self, purchase_token: &'a str) -> &'a str {
        self.google_order_id().unwrap_or(purchase_token)
    }

    fn google_order_id(&self) -> Option<&str> {
        self.latest_order_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .or_else(|| {
                self.line_item()
                    .and_then(|i| i.latest_successful_order_id.as_deref())
                    .filter(|id| !id.is_empty())
            })
    }

    /// Whether the latest order is a renewal (`GPA.…..N`) rather than the first charge.
    pub fn is_renewal(&self) -> bool {
        self.google_order_id().is_some_and(|id| id.contains(".."))
    }

    /// The latest order as a fact of `customer_key`, bought through `app_id`, looked up with
    /// `purchase_token` and seen at `seen_at`.
    ///
    /// The purchase date is `startTime` for the first order. Google does not date renewals,
    /// so a renewal is dated when entitled first sees it (`seen_at`, kept between `startTime`
    /// and just before `expiryTime`): pass the notification's `eventTimeMillis` when a notification caused
    /// the lookup. Facts are keyed by order id, so the first sighting's date stays.
    ///
    /// Pending purchases (not paid yet) are refused as [`PlayError::InvalidPurchase`]; a
    /// resource without line item, product, expiry or start is an upstream error.
    pub fn to_fact(
        &self,
        purchase_token: &str,
        app_id: &str,
        customer_key: &str,
        seen_at: UnixMillis,
    ) -> Result<StoreTransaction, PlayError> {
        match self.state() {
            "SUBSCRIPTION_STATE_PENDING" => {
                return Err(PlayError::InvalidPurchase(
                    "the subscription is pending: Google Play has not been paid yet".into(),
                ));
            }
            "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED" => {
                return Err(PlayError::InvalidPurchase(
                    "the pending subscription purchase was canceled before it was paid".into(),
                ));
            }
            "SUBSCRIPTION_STATE_UNSPECIFIED" => {
                return Err(PlayError::InvalidPurchase(
                    "Google Play gives the subscription no state".into(),
                ));
            }
            _ => {}
        }
        let item = self
            .line_item()
            .ok_or_else(|| upstream("it has no line items"))?;
        let product_id = item
            .product_id
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| upstream("its line item has no productId"))?;
        let expires_at = item
            .expiry_time
            .as_deref()
            .and_then(rfc3339::parse)
            .ok_or_else(|| upstream("its expiryTime is missing or not an RFC 3339 time"))?;
        let started_at = self
            .start_time
            .as_deref()
            .and_then(rfc3339::parse)
            .ok_or_else(|| upstream("its startTime is missing or not an RFC 3339 time"))?;
        if expires_at <= started_at {
            return Err(upstream("its expiryTime is not after its startTime"));
        }
        // A renewal seen at or after its expiry (a late lookup) is dated just before it ends,
        // so every period has a length (found by fuzz/fuzz_targets/play_purchase.rs).
        let purchased_at = if self.is_renewal() {
            UnixMillis(seen_at.0.min(expires_at.0 - 1).max(started_at.0))
        } else {
            started_at
        };
        let period_type = item.period_type();
        Ok(StoreTransaction {
            id: new_id(IdKind::Transaction),
            customer_key: customer_key.to_string(),
            app_id: app_id.to_string(),
            store: Store::PlayStore,
            store_transaction_id: self.order_id(purchase_token).to_string(),
            original_transaction_id: self.original_transaction_id(purchase_token).to_string(),
            product_id: product_id.to_string(),
            product_plan_id: item
                .offer_details
                .as_ref()
                .and_then(|o| o.base_plan_id.clone())
                .filter(|p| !p.is_empty()),
            purchased_at,
            expires_at: Some(expires_at),
            period_type,
            environment: if self.is_test() {
                Environment::Sandbox
            } else {
                Environment::Production
            },
            ownership: Ownership::Purchased,
            price: item.price(period_type),
            is_subscription: true,
        })
    }

    /// What the subscription's state says beyond its latest order, as lifecycle facts seen
    /// at `seen_at`:
    ///
    /// - renewal turned off by the buyer or the developer → `Cancelled`, dated by the
    ///   buyer's `cancelTime` when Google gives it (not for Google's own cancellation after
    ///   unpaid renewals, nor for a replacement by another plan);
    /// - `IN_GRACE_PERIOD` → `BillingIssue` with the grace period ending at `expiryTime`;
    ///   `ON_HOLD` → `BillingIssue` without grace;
    /// - `PAUSED` → `Paused` until `autoResumeTime`;
    /// - `ACTIVE` → `Recovered` (paid up: settles an earlier billing issue; it causes no
    ///   customer event).
    ///
    /// Ids derive from the original purchase, the latest order and the state's own dates, so
    /// looking the same state up again records nothing new. A snapshot cannot show a
    /// cancellation being undone within one period; `SUBSCRIPTION_RESTARTED` notifications
    /// carry that (see [`super::NotificationAction`]).
    pub fn lifecycle_events(
        &self,
        purchase_token: &str,
        seen_at: UnixMillis,
    ) -> Vec<LifecycleEvent> {
        let original = self.original_transaction_id(purchase_token);
        let order = self.order_id(purchase_token);
        let item = self.line_item();
        let event = |what: &str, extra: &str, kind: LifecycleKind, at: UnixMillis| LifecycleEvent {
            id: event_id(what, &[original, order, extra]),
            store: Store::PlayStore,
            original_transaction_id: original.to_string(),
            kind,
            occurred_at: at,
        };
        let mut events = Vec::new();
        if self.cancelled_by_choice() {
            let cancel_time = self
                .canceled_state_context
                .as_ref()
                .and_then(|c| c.user_initiated_cancellation.as_ref())
                .and_then(|u| u.cancel_time.as_deref());
            let at = cancel_time.and_then(rfc3339::parse).unwrap_or(seen_at);
            events.push(event(
                "cancelled",
                cancel_time.unwrap_or(""),
                LifecycleKind::Cancelled,
                at,
            ));
        }
        let expiry = item
            .and_then(|i| i.expiry_time.as_deref())
            .and_then(rfc3339::parse);
        match self.state() {
            "SUBSCRIPTION_STATE_IN_GRACE_PERIOD" => events.push(event(
                "grace",
                "",
                LifecycleKind::BillingIssue {
                    grace_period_expires_at: expiry,
                },
                seen_at,
            )),
            "SUBSCRIPTION_STATE_ON_HOLD" => events.push(event(
                "on_hold",
                "",
                LifecycleKind::BillingIssue {
                    grace_period_expires_at: None,
                },
                seen_at,
            )),
            "SUBSCRIPTION_STATE_PAUSED" => {
                let resume = self
                    .paused_state_context
                    .as_ref()
                    .and_then(|p| p.auto_resume_time.as_deref());
                if let Some(resumes_at) = resume.and_then(rfc3339::parse) {
                    events.push(event(
                        "paused",
                        resume.unwrap_or(""),
                        LifecycleKind::Paused { resumes_at },
                        seen_at,
                    ));
                }
            }
            "SUBSCRIPTION_STATE_ACTIVE" => {
                events.push(event("recovered", "", LifecycleKind::Recovered, seen_at));
            }
            _ => {}
        }
        events
    }

    /// Whether renewal was turned off by someone's choice: the buyer or the developer, or
    /// auto-renew off without Google saying who.
    fn cancelled_by_choice(&self) -> bool {
        match &self.canceled_state_context {
            Some(context) => {
                context.user_initiated_cancellation.is_some()
                    || context.developer_initiated_cancellation.is_some()
            }
            None => self
                .line_item()
                .and_then(|i| i.auto_renewing_plan.as_ref())
                .is_some_and(|plan| plan.auto_renew_enabled == Some(false)),
        }
    }
}

impl LineItem {
    /// The period's kind: trial or introductory price by the offer phase, else normal.
    pub fn period_type(&self) -> PeriodType {
        match &self.offer_phase {
            Some(phase) if phase.free_trial.is_some() => PeriodType::Trial,
            Some(phase) if phase.introductory_price.is_some() => PeriodType::Intro,
            _ => PeriodType::Normal,
        }
    }

    /// What the current period cost, when the line item tells: the recurring price for a
    /// normal period, nothing for a free trial, unknown (`None`) for an introductory price.
    fn price(&self, period_type: PeriodType) -> Option<Money> {
        let recurring = self.auto_renewing_plan.as_ref()?.recurring_price.as_ref()?;
        let money = recurring.to_money()?;
        match period_type {
            PeriodType::Normal => Some(money),
            PeriodType::Trial => Some(Money {
                amount_micros: 0,
                ..money
            }),
            PeriodType::Intro | PeriodType::Promotional => None,
        }
    }
}

impl PlayMoney {
    /// As entitled's money (millionths), when the currency is an ISO 4217 code and the
    /// amount is non-negative and fits.
    pub fn to_money(&self) -> Option<Money> {
        let currency = self.currency_code.as_deref()?;
        let valid_currency =
            currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase());
        let units = self.units.unwrap_or(0);
        let nanos = self.nanos.unwrap_or(0);
        if !valid_currency || units < 0 || !(0..1_000_000_000).contains(&nanos) {
            return None;
        }
        Some(Money {
            amount_micros: units.checked_mul(1_000_000)?.checked_add(nanos / 1_000)?,
            currency: currency.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "tok-1";
    const NOW: UnixMillis = UnixMillis(1_795_514_400_000);

    fn active() -> SubscriptionPurchaseV2 {
        serde_json::from_value(serde_json::json!({
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "startTime": "2026-10-24T10:00:00.250Z",
            "regionCode": "US",
            "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
            "latestOrderId": "GPA.3345-1234-5678-90123",
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
            "lineItems": [{
                "productId": "pro.monthly",
                "expiryTime": "2026-11-24T10:00:00.250Z",
                "autoRenewingPlan": {
                    "autoRenewEnabled": true,
                    "recurringPrice": {"currencyCode": "USD", "units": "4", "nanos": 990000000}
                },
                "offerDetails": {"basePlanId": "monthly", "offerTags": []},
                "latestSuccessfulOrderId": "GPA.3345-1234-5678-90123"
            }]
        }))
        .unwrap()
    }

    #[test]
    fn an_active_subscription_becomes_a_fact() {
        let fact = active().to_fact(TOKEN, "app1", "cus1", NOW).unwrap();
        assert_eq!(fact.store, Store::PlayStore);
        assert_eq!(fact.store_transaction_id, "GPA.3345-1234-5678-90123");
        assert_eq!(fact.original_transaction_id, TOKEN);
        assert_eq!(fact.product_id, "pro.monthly");
        assert_eq!(fact.product_plan_id.as_deref(), Some("monthly"));
        assert_eq!(fact.purchased_at, UnixMillis(1_792_836_000_250));
        assert_eq!(fact.expires_at, Some(UnixMillis(1_795_514_400_250)));
        assert_eq!(fact.environment, Environment::Production);
        assert_eq!(fact.period_type, PeriodType::Normal);
        assert!(fact.is_subscription);
        assert_eq!(
            fact.price,
            Some(Money {
                amount_micros: 4_990_000,
                currency: "USD".into()
            })
        );
        assert!(fact.id.starts_with("txn"));
        let events = active().lifecycle_events(TOKEN, NOW);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, LifecycleKind::Recovered);
        assert_eq!(events[0].occurred_at, NOW);
    }

    #[test]
    fn renewals_keep_their_order_suffix_and_are_dated_when_seen() {
        let mut s = active();
        s.latest_order_id = Some("GPA.3345-1234-5678-90123..2".into());
        let fact = s.to_fact(TOKEN, "a", "c", NOW).unwrap();
        assert_eq!(fact.store_transaction_id, "GPA.3345-1234-5678-90123..2");
        assert_eq!(fact.purchased_at, NOW);
        let late = s
            .to_fact(TOKEN, "a", "c", UnixMillis(NOW.0 + 86_400_000))
            .unwrap();
        // Found by fuzz/fuzz_targets/play_purchase.rs: a renewal seen after its expiry was
        // dated at its expiry (a period of no length), and an expiry before the start passed.
        assert_eq!(late.purchased_at, UnixMillis(1_795_514_400_249));
        assert!(late.purchased_at < late.expires_at.unwrap());
        let early = s.to_fact(TOKEN, "a", "c", UnixMillis(0)).unwrap();
        assert_eq!(early.purchased_at, UnixMillis(1_792_836_000_250));
        let mut backwards = active();
        backwards.start_time = Some("2026-12-01T00:00:00Z".into());
        assert!(matches!(
            backwards.to_fact(TOKEN, "a", "c", NOW),
            Err(PlayError::Upstream(_))
        ));
    }

    #[test]
    fn linked_tokens_test_purchases_and_trials() {
        let mut s = active();
        s.linked_purchase_token = Some("tok-0".into());
        s.test_purchase = Some(serde_json::json!({}));
        s.latest_order_id = None;
        s.line_items[0].latest_successful_order_id = None;
        s.line_items[0].offer_phase = Some(OfferPhase {
            free_trial: Some(serde_json::json!({})),
            ..OfferPhase::default()
        });
        let fact = s.to_fact("tok..1", "a", "c", NOW).unwrap();
        assert_eq!(fact.original_transaction_id, "tok-0");
        assert_eq!(fact.store_transaction_id, "tok..1");
        assert_eq!(
            fact.purchased_at,
            UnixMillis(1_792_836_000_250),
            "not a renewal"
        );
        assert_eq!(fact.environment, Environment::Sandbox);
        assert_eq!(fact.period_type, PeriodType::Trial);
        assert_eq!(fact.price.map(|p| p.amount_micros), Some(0));
        s.line_items[0].offer_phase = Some(OfferPhase {
            introductory_price: Some(serde_json::json!({})),
            ..OfferPhase::default()
        });
        let fact = s.to_fact(TOKEN, "a", "c", NOW).unwrap();
        assert_eq!(fact.period_type, PeriodType::Intro);
        assert_eq!(fact.price, None);
    }

    #[test]
    fn pending_and_broken_subscriptions_are_refused() {
        let mut s = active();
        s.subscription_state = Some("SUBSCRIPTION_STATE_PENDING".into());
        assert!(matches!(
            s.to_fact(TOKEN, "a", "c", NOW),
            Err(PlayError::InvalidPurchase(_))
        ));
        let mut s = active();
        s.line_items.clear();
        assert!(matches!(
            s.to_fact(TOKEN, "a", "c", NOW),
            Err(PlayError::Upstream(_))
        ));
        let mut s = active();
        s.line_items[0].expiry_time = Some("10000-01-01T00:00:00Z".into());
        assert!(matches!(
            s.to_fact(TOKEN, "a", "c", NOW),
            Err(PlayError::Upstream(_))
        ));
        let mut s = active();
        s.start_time = None;
        assert!(s.to_fact(TOKEN, "a", "c", NOW).is_err());
    }

    #[test]
    fn states_imply_lifecycle_facts() {
        let mut s = active();
        s.subscription_state = Some("SUBSCRIPTION_STATE_CANCELED".into());
        s.line_items[0]
            .auto_renewing_plan
            .as_mut()
            .unwrap()
            .auto_renew_enabled = Some(false);
        s.canceled_state_context = Some(CanceledStateContext {
            user_initiated_cancellation: Some(UserInitiatedCancellation {
                cancel_time: Some("2026-11-01T00:00:00Z".into()),
            }),
            ..CanceledStateContext::default()
        });
        let events = s.lifecycle_events(TOKEN, NOW);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, LifecycleKind::Cancelled);
        assert_eq!(events[0].occurred_at, UnixMillis(1_793_491_200_000));
        assert_eq!(events[0].original_transaction_id, TOKEN);
        assert_eq!(events, s.lifecycle_events(TOKEN, UnixMillis(NOW.0 + 1)));

        // Google's own cancellation after failed renewals is no buyer's choice.
        s.canceled_state_context = Some(CanceledStateContext {
            system_initiated_cancellation: Some(serde_json::json!({})),
            ..CanceledStateContext::default()
        });
        assert!(s.lifecycle_events(TOKEN, NOW).is_empty());

        let mut s = active();
        s.subscription_state = Some("SUBSCRIPTION_STATE_IN_GRACE_PERIOD".into());
        let events = s.lifecycle_events(TOKEN, NOW);
        assert_eq!(
            events[0].kind,
            LifecycleKind::BillingIssue {
                grace_period_expires_at: Some(UnixMillis(1_795_514_400_250))
            }
        );
        s.subscription_state = Some("SUBSCRIPTION_STATE_ON_HOLD".into());
        let on_hold = s.lifecycle_events(TOKEN, NOW);
        assert_eq!(
            on_hold[0].kind,
            LifecycleKind::BillingIssue {
                grace_period_expires_at: None
            }
        );
        assert_ne!(on_hold[0].id, events[0].id);

        s.subscription_state = Some("SUBSCRIPTION_STATE_PAUSED".into());
        s.paused_state_context = Some(PausedStateContext {
            auto_resume_time: Some("2026-12-24T10:00:00Z".into()),
        });
        assert_eq!(
            s.lifecycle_events(TOKEN, NOW)[0].kind,
            LifecycleKind::Paused {
                resumes_at: UnixMillis(1_798_106_400_000)
            }
        );
        s.subscription_state = Some("SUBSCRIPTION_STATE_EXPIRED".into());
        assert!(s.lifecycle_events(TOKEN, NOW).is_empty());
    }

    #[test]
    fn money_is_checked() {
        let money = |code: &str, units: i64, nanos: i64| PlayMoney {
            currency_code: Some(code.into()),
            units: Some(units),
            nanos: Some(nanos),
        };
        assert_eq!(
            money("EUR", 0, 500_000_000)
                .to_money()
                .unwrap()
                .amount_micros,
            500_000
        );
        assert_eq!(money("eur", 1, 0).to_money(), None);
        assert_eq!(money("EUR", -1, 0).to_money(), None);
        assert_eq!(money("EUR", i64::MAX, 0).to_money(), None);
        assert_eq!(money("EUR", 1, 1_000_000_000).to_money(), None);
    }
}
