//! The test store's controls: act on a test purchase as a store would, and move the
//! project's test clock (renewing what is due).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use entitled_core::engine::subscription_of;
use entitled_core::events::{event_for_lifecycle, event_for_transaction};
use entitled_core::purchases::{
    LifecycleEvent, LifecycleKind, PeriodType, Store, StoreTransaction, is_refunded,
};
use entitled_core::test_store::{DEFAULT_PERIOD, add_period};
use entitled_core::{IdKind, ProductType, Scope, UnixMillis, new_id};
use entitled_storage::PageRequest;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ErrorKind};
use crate::extract::ApiJson;
use crate::pagination::MAX_LIMIT;
use crate::subscribers::{lock_customers, project_now};
use crate::webhooks::emit;

const PURCHASES: &str = "customer_information:purchases";
/// The actions [`act`] takes (`ActionBody`'s documented pattern lists the same).
const ACTIONS: [&str; 11] = [
    "renew",
    "change_product",
    "cancel",
    "uncancel",
    "billing_issue",
    "recover",
    "expire",
    "refund",
    "extend",
    "pause",
    "reverse_refund",
];

#[cfg(test)]
fn is_known_action(action: &str) -> bool {
    ACTIONS.contains(&action)
}

/// The furthest one call may move the clock: ten years.
const MAX_ADVANCE_MS: i64 = 10 * 366 * 86_400_000;

/// The body of `…/test_store/transactions/{transaction_id}/actions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// `renew`, `change_product` (a period of `product_id` starts now, as an upgrade
    /// does), `cancel`, `uncancel`, `billing_issue`, `recover`, `expire`, `refund`,
    /// `extend` (the period ends one period later, as a store's renewal-date extension),
    /// `pause` (no renewal for one period, as Play's pause) or `reverse_refund`.
    #[schema(
        pattern = "^(renew|change_product|cancel|uncancel|billing_issue|recover|expire|refund|extend|pause|reverse_refund)$"
    )]
    pub action: String,
    /// For `change_product`: the store identifier of the subscription product to change to.
    #[schema(max_length = 100)]
    pub product_id: Option<String>,
}

/// A test purchase after an action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestTransactionView {
    /// Always `test_store.transaction`.
    pub object: &'static str,
    /// The purchase's original transaction id (the first `fetch_token`).
    pub id: String,
    /// The action taken.
    pub action: String,
    /// The product.
    pub product_id: String,
    /// When access ends now, ms since epoch (null for one-time purchases).
    pub expires_at: Option<i64>,
    /// Whether it will renew.
    pub will_renew: bool,
}

/// The body of `…/test_store/clock`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockBody {
    /// How far to move the clock forward, in ms (1 ms to 10 years).
    #[schema(minimum = 1, maximum = 316_224_000_000.0)]
    pub advance_ms: i64,
}

/// The test clock after a move.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    /// Always `test_store.clock`.
    pub object: &'static str,
    /// How far the clock is ahead of real time, ms.
    pub offset_ms: i64,
    /// The project's time now, ms since epoch.
    pub now_ms: i64,
    /// Renewals made by this move.
    pub renewals: u64,
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(ErrorKind::Unprocessable, message)
}

/// 422 for a purchase whose period would end past the range of time (imported dates).
fn out_of_time() -> ApiError {
    forbidden("The purchase's period would end too far in the future")
}

/// Each product's billing period by store identifier (`P1M` where a product names none).
pub(crate) async fn periods(
    state: &AppState,
    project_id: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    let all = PageRequest {
        starting_after: None,
        limit: MAX_LIMIT,
    };
    Ok(state
        .storage
        .list_products(project_id, None, &all)
        .await?
        .items
        .into_iter()
        .map(|p| {
            let period = p
                .subscription_duration
                .unwrap_or_else(|| DEFAULT_PERIOD.to_string());
            (p.store_identifier, period)
        })
        .collect())
}

/// The transactions and lifecycle events of one test purchase known at `now`, read from
/// its owner's history (every transaction of a purchase has one owner; reading the
/// project's test-store history instead took a second per action at 42,000 purchases).
async fn purchase_facts(
    state: &AppState,
    project_id: &str,
    owner_key: &str,
    original: &str,
    now: UnixMillis,
) -> Result<(Vec<StoreTransaction>, Vec<LifecycleEvent>), ApiError> {
    let transactions = state.storage.transactions_of(owner_key).await?;
    let events = state
        .storage
        .lifecycle_events_of(project_id, owner_key)
        .await?;
    Ok((
        transactions
            .into_iter()
            .filter(|t| {
                t.store == Store::TestStore
                    && t.original_transaction_id == original
                    && t.purchased_at <= now
            })
            .collect(),
        events
            .into_iter()
            .filter(|e| {
                e.store == Store::TestStore
                    && e.original_transaction_id == original
                    && e.occurred_at <= now
            })
            .collect(),
    ))
}

/// Acts on a test purchase as the store would: renew, change_product, cancel, uncancel,
/// billing_issue, recover, expire, refund, extend, pause or reverse_refund. 422 when the purchase's state forbids the action.
#[utoipa::path(post, path = "/v2/projects/{project_id}/test_store/transactions/{transaction_id}/actions", tag = "test_store",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("transaction_id" = String, Path, description = "The purchase's fetch_token (store transaction id)")),
    request_body = ActionBody,
    responses(
        (status = 200, description = "The purchase after the action", body = TestTransactionView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = ErrorBody)))]
pub async fn act(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, transaction_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ActionBody>,
) -> Result<Json<TestTransactionView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(PURCHASES))?;
    let found = state
        .storage
        .find_transaction(&project_id, Store::TestStore, &transaction_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Test store transaction"))?;
    let original = found.original_transaction_id.clone();
    let _lock = lock_customers(&state, &[&found.customer_key]).await?;
    let now = project_now(&state, &project_id).await?;
    let (owned, owned_events) =
        purchase_facts(&state, &project_id, &found.customer_key, &original, now).await?;
    let group: Vec<&StoreTransaction> = owned.iter().collect();
    let group_events: Vec<&LifecycleEvent> = owned_events.iter().collect();
    let subscription = if found.is_subscription {
        subscription_of(&group, &group_events)
    } else {
        None
    };
    let refunded = is_refunded(group_events.iter().copied());
    let active = subscription.as_ref().is_some_and(|s| s.is_active(now));
    let event = |kind| LifecycleEvent {
        id: new_id(IdKind::LifecycleEvent),
        store: Store::TestStore,
        original_transaction_id: original.clone(),
        kind,
        occurred_at: now,
    };
    let needs_subscription = || {
        subscription
            .as_ref()
            .ok_or_else(|| forbidden("Only subscriptions can take this action"))
    };
    let mut pending: Vec<LifecycleEvent> = Vec::new();
    let mut renewal_made: Option<StoreTransaction> = None;
    match body.action.as_str() {
        "renew" => {
            let current = needs_subscription()?;
            if current.refunded_at.is_some() {
                return Err(forbidden("A refunded subscription cannot renew"));
            }
            let product_periods = periods(&state, &project_id).await?;
            let period = product_periods
                .get(&found.product_id)
                .map_or(DEFAULT_PERIOD, String::as_str);
            let starts = current.expires_date.filter(|e| *e > now).unwrap_or(now);
            let ends = add_period(starts, period).ok_or_else(out_of_time)?;
            let renewal = StoreTransaction {
                id: new_id(IdKind::Transaction),
                store_transaction_id: format!("{original}.renewal.{}", group.len()),
                purchased_at: now,
                expires_at: Some(ends),
                period_type: PeriodType::Normal,
                ..found.clone()
            };
            renewal_made = Some(renewal);
            if current.unsubscribe_detected_at.is_some() {
                pending.push(event(LifecycleKind::Uncancelled));
            }
            if current.billing_issues_detected_at.is_some() {
                pending.push(event(LifecycleKind::Recovered));
            }
        }
        "change_product" => {
            let current = needs_subscription()?;
            if !active || current.refunded_at.is_some() {
                return Err(forbidden("Only an active subscription can change product"));
            }
            let target = body.product_id.as_deref().ok_or_else(|| {
                ApiError::parameter("product_id", "change_product needs a product_id")
            })?;
            let product = state
                .storage
                .product_by_identifier(&project_id, &found.app_id, target)
                .await?
                .filter(|p| p.product_type == ProductType::Subscription)
                .ok_or_else(|| {
                    forbidden("product_id must name another subscription product of this app")
                })?;
            if product.store_identifier == current.product_id {
                return Err(forbidden("The subscription is already on this product"));
            }
            let period = product
                .subscription_duration
                .as_deref()
                .unwrap_or(DEFAULT_PERIOD);
            // An upgrade takes effect at once: the new product's period starts now.
            renewal_made = Some(StoreTransaction {
                id: new_id(IdKind::Transaction),
                store_transaction_id: format!("{original}.change.{}", group.len()),
                product_id: product.store_identifier,
                purchased_at: now,
                expires_at: Some(add_period(now, period).ok_or_else(out_of_time)?),
                period_type: PeriodType::Normal,
                ..found.clone()
            });
        }
        "cancel" => {
            let current = needs_subscription()?;
            if !active || current.unsubscribe_detected_at.is_some() {
                return Err(forbidden(
                    "Only an active, renewing subscription can be cancelled",
                ));
            }
            pending.push(event(LifecycleKind::Cancelled));
        }
        "uncancel" => {
            let current = needs_subscription()?;
            if !active || current.unsubscribe_detected_at.is_none() {
                return Err(forbidden(
                    "Only an active, cancelled subscription can be uncancelled",
                ));
            }
            pending.push(event(LifecycleKind::Uncancelled));
        }
        "billing_issue" => {
            let current = needs_subscription()?;
            if !active || current.billing_issues_detected_at.is_some() {
                return Err(forbidden(
                    "Only an active subscription without a billing issue can get one",
                ));
            }
            let issue = LifecycleKind::BillingIssue {
                grace_period_expires_at: None,
            };
            pending.push(event(issue));
        }
        "recover" => {
            let current = needs_subscription()?;
            if current.billing_issues_detected_at.is_none() {
                return Err(forbidden(
                    "Only a subscription with a billing issue can recover",
                ));
            }
            pending.push(event(LifecycleKind::Recovered));
        }
        "expire" => {
            needs_subscription()?;
            if !active {
                return Err(forbidden("Only an active subscription can expire"));
            }
            pending.push(event(LifecycleKind::Expired));
        }
        "refund" => {
            if refunded {
                return Err(forbidden("This purchase was refunded already"));
            }
            pending.push(event(LifecycleKind::Refunded));
        }
        "extend" => {
            let current = needs_subscription()?;
            let Some(ends) = current.expires_date.filter(|_| active) else {
                return Err(forbidden("Only an active subscription can be extended"));
            };
            let product_periods = periods(&state, &project_id).await?;
            let period = product_periods
                .get(&found.product_id)
                .map_or(DEFAULT_PERIOD, String::as_str);
            let expires_at = add_period(ends, period).ok_or_else(out_of_time)?;
            pending.push(event(LifecycleKind::Extended { expires_at }));
        }
        "pause" => {
            let current = needs_subscription()?;
            let Some(ends) = current.expires_date.filter(|_| active) else {
                return Err(forbidden("Only an active subscription can be paused"));
            };
            if current.unsubscribe_detected_at.is_some() || current.auto_resume_date.is_some() {
                return Err(forbidden(
                    "Only a renewing, unpaused subscription can be paused",
                ));
            }
            let product_periods = periods(&state, &project_id).await?;
            let period = product_periods
                .get(&found.product_id)
                .map_or(DEFAULT_PERIOD, String::as_str);
            let resumes_at = add_period(ends, period).ok_or_else(out_of_time)?;
            pending.push(event(LifecycleKind::Paused { resumes_at }));
        }
        "reverse_refund" => {
            if !refunded {
                return Err(forbidden(
                    "Only a refunded purchase can have its refund reversed",
                ));
            }
            pending.push(event(LifecycleKind::RefundReversed));
        }
        other => {
            return Err(ApiError::parameter(
                "action",
                format!("{other:?} is not an action: {}", ACTIONS.join(", ")),
            ));
        }
    }
    record(&state, &project_id, &owned, renewal_made, pending).await?;
    let (owned, owned_events) =
        purchase_facts(&state, &project_id, &found.customer_key, &original, now).await?;
    let group: Vec<&StoreTransaction> = owned.iter().collect();
    let group_events: Vec<&LifecycleEvent> = owned_events.iter().collect();
    let after = if found.is_subscription {
        subscription_of(&group, &group_events)
    } else {
        None
    };
    Ok(Json(TestTransactionView {
        object: "test_store.transaction",
        id: original,
        action: body.action,
        product_id: after
            .as_ref()
            .map_or(found.product_id, |s| s.product_id.clone()),
        expires_at: after.as_ref().and_then(|s| s.expires_date).map(|t| t.0),
        will_renew: after.as_ref().is_some_and(|s| s.will_renew(now)),
    }))
}

/// Writes an action's facts, each with the customer events it causes, in one transaction
/// per fact.
async fn record(
    state: &AppState,
    project_id: &str,
    earlier: &[StoreTransaction],
    renewal: Option<StoreTransaction>,
    lifecycle: Vec<LifecycleEvent>,
) -> Result<(), ApiError> {
    let Some(latest) = earlier
        .iter()
        .max_by_key(|t| (t.purchased_at, t.expires_at, t.store_transaction_id.clone()))
    else {
        return Ok(());
    };
    let owner = latest.customer_key.clone();
    let app_id = latest.app_id.clone();
    let latest = renewal.clone().unwrap_or_else(|| latest.clone());
    if let Some(renewal) = renewal {
        let derived = event_for_transaction(&renewal, earlier);
        let events =
            emit::for_customer(state, project_id, &owner, Some(&app_id), &[derived], None).await?;
        state
            .storage
            .record_transactions(project_id, &[renewal], &events, state.now())
            .await?;
    }
    for fact in lifecycle {
        let derived: Vec<_> = event_for_lifecycle(&fact, &latest).into_iter().collect();
        let events =
            emit::for_customer(state, project_id, &owner, Some(&app_id), &derived, None).await?;
        state
            .storage
            .add_lifecycle_event(project_id, &fact, &events, state.now())
            .await?;
    }
    Ok(())
}

/// Moves the project's test clock forward; test subscriptions renew at each period end
/// passed, until cancelled.
#[utoipa::path(post, path = "/v2/projects/{project_id}/test_store/clock", tag = "test_store",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = ClockBody,
    responses(
        (status = 200, description = "The clock after the move", body = ClockView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn advance_clock(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<ClockBody>,
) -> Result<Json<ClockView>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(PURCHASES))?;
    if !(1..=MAX_ADVANCE_MS).contains(&body.advance_ms) {
        return Err(ApiError::parameter(
            "advance_ms",
            "advance_ms must be between 1 ms and 10 years",
        ));
    }
    let offset = state
        .storage
        .advance_test_clock(&project_id, body.advance_ms)
        .await?;
    let now = UnixMillis(state.now().0.saturating_add(offset));
    let (transactions, events) = state
        .storage
        .store_facts(&project_id, Store::TestStore)
        .await?;
    let settled = crate::sweep::settle(&state, &project_id, transactions, &events, now).await?;
    Ok(Json(ClockView {
        object: "test_store.clock",
        offset_ms: offset,
        now_ms: now.0,
        renewals: settled.renewals,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_bounds_are_the_enforced_ones() {
        let (_, api) = crate::openapi::api_router().split_for_parts();
        let api = serde_json::to_value(&api).unwrap();
        let schemas = &api["components"]["schemas"];
        let advance = &schemas["ClockBody"]["properties"]["advance_ms"];
        assert_eq!(advance["minimum"].as_f64(), Some(1.0));
        assert_eq!(advance["maximum"].as_f64(), Some(MAX_ADVANCE_MS as f64));
        let pattern = schemas["ActionBody"]["properties"]["action"]["pattern"]
            .as_str()
            .unwrap();
        let documented: Vec<&str> = pattern
            .trim_start_matches("^(")
            .trim_end_matches(")$")
            .split('|')
            .collect();
        assert_eq!(documented.len(), 11, "{pattern}");
        // Every documented action is one the handler knows (an unknown one answers 400).
        for action in documented {
            assert!(
                is_known_action(action),
                "{action} is documented but not handled"
            );
        }
        assert!(!is_known_action("teleport"));
    }
}
