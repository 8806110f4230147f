//! Customers as the v1 API sees them: found or created on first sight, with their state
//! computed by the engine at the project's `now` (real time plus the test-store clock).

use entitled_core::engine::{CustomerFacts, CustomerState, state_of_facts};
use entitled_core::{Customer, IdKind, UnixMillis, new_id};
use entitled_storage::{CustomerLock, FactsSnapshot, StorageError};

use crate::AppState;
use crate::error::{ApiError, ErrorKind};

/// Longest app user id accepted.
pub const MAX_APP_USER_ID_CHARS: usize = 1500;

/// RevenueCat's code for an empty app user id.
const EMPTY_APP_USER_ID: u32 = 7220;

/// Checks an app user id from the SDK (any text, `$RCAnonymousID:…` included).
pub fn check_app_user_id(id: &str, param: &str) -> Result<(), ApiError> {
    if id.trim().is_empty() {
        let mut err = ApiError::parameter(param, format!("{param} must not be empty"));
        err.v1_code = Some(EMPTY_APP_USER_ID);
        return Err(err);
    }
    if id.chars().count() > MAX_APP_USER_ID_CHARS || id.chars().any(char::is_control) {
        return Err(ApiError::parameter(
            param,
            format!("{param} must be at most {MAX_APP_USER_ID_CHARS} printable characters"),
        ));
    }
    Ok(())
}

/// Whether an id is one the SDKs generate for anonymous users.
pub fn is_anonymous(id: &str) -> bool {
    id.strip_prefix("$RCAnonymousID:")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The project's `now`: real time moved by its test-store clock.
pub async fn project_now(state: &AppState, project_id: &str) -> Result<UnixMillis, ApiError> {
    let offset = state.storage.test_clock_offset(project_id).await?;
    Ok(UnixMillis(state.now().0.saturating_add(offset)))
}

/// The customer an id names, created if unseen; `true` when created now.
pub async fn find_or_create(
    state: &AppState,
    project_id: &str,
    app_user_id: &str,
    now: UnixMillis,
) -> Result<(Customer, bool), ApiError> {
    if let Some(customer) = state.storage.find_customer(project_id, app_user_id).await? {
        return Ok((customer, false));
    }
    let customer = Customer {
        last_seen_at: Some(now),
        ..Customer::first_seen(
            new_id(IdKind::CustomerKey),
            project_id.to_string(),
            app_user_id.to_string(),
            now,
        )
    };
    match state.storage.create_customer(&customer, &[]).await {
        Ok(()) => Ok((customer, true)),
        // Created by a concurrent request a moment ago: use that one.
        Err(StorageError::Conflict(_)) => state
            .storage
            .find_customer(project_id, app_user_id)
            .await?
            .map(|c| (c, false))
            .ok_or_else(|| ApiError::internal("customer vanished after a conflicting create")),
        Err(other) => Err(other.into()),
    }
}

/// Takes the locks of these customers, all together or none, for as long as the returned
/// guard lives; 423 when another request holds one.
pub async fn lock_customers(state: &AppState, keys: &[&str]) -> Result<CustomerLock, ApiError> {
    lock_customers_within(state, keys, state.lock_wait).await
}

/// Like [`lock_customers`], waiting up to `wait` for each lock (store notifications wait
/// longer than the apps' requests: the store would only retry later).
pub async fn lock_customers_within(
    state: &AppState,
    keys: &[&str],
    wait: std::time::Duration,
) -> Result<CustomerLock, ApiError> {
    match state
        .storage
        .customer_locks()
        .try_lock_all(keys, wait)
        .await?
    {
        Some(lock) => Ok(lock),
        None => {
            let mut err = ApiError::new(
                ErrorKind::Locked,
                "Another request is changing this customer; retry shortly",
            );
            err.retry_after_secs = Some(1);
            Err(err)
        }
    }
}

/// A customer's subscriptions, purchases and entitlements at `now`.
pub async fn state_of(
    state: &AppState,
    customer: &Customer,
    now: UnixMillis,
) -> Result<CustomerState, ApiError> {
    let read = state
        .storage
        .customer_facts(&customer.project_id, &customer.key)
        .await?;
    Ok(state_from(&read, now))
}

/// The state a snapshot of a customer's facts gives at `now`.
pub fn state_from(read: &FactsSnapshot, now: UnixMillis) -> CustomerState {
    let facts = CustomerFacts {
        transactions: &read.transactions,
        events: &read.events,
        grants: &read.grants,
        temporary: &read.temporary,
    };
    state_of_facts(facts, &read.catalog, now)
}

/// The project's `now` as a snapshot of its facts gives it (real time plus its test clock).
pub fn snapshot_now(state: &AppState, read: &FactsSnapshot) -> UnixMillis {
    UnixMillis(state.now().0.saturating_add(read.clock_offset_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_ids_are_recognised() {
        assert!(is_anonymous(
            "$RCAnonymousID:0123456789abcdef0123456789abcdef"
        ));
        assert!(!is_anonymous("$RCAnonymousID:"));
        assert!(!is_anonymous("$RCAnonymousID:xyz"));
        assert!(!is_anonymous("user_1"));
    }

    #[test]
    fn app_user_ids_must_be_present_and_printable() {
        assert!(check_app_user_id("user_1", "app_user_id").is_ok());
        assert_eq!(
            check_app_user_id(" ", "app_user_id").unwrap_err().v1_code,
            Some(7220)
        );
        assert!(check_app_user_id("a\nb", "app_user_id").is_err());
        assert!(check_app_user_id(&"x".repeat(1501), "app_user_id").is_err());
    }
}
