//! Purchase imports: rows of `app_user_id,store,product_id,store_transaction_id,
//! purchased_at_ms,expires_at_ms` (expiry empty for one-time purchases), or of
//! `app_user_id,signed_transaction` (App Store signed transactions, verified like receipts),
//! become customers and transactions; rows already imported change nothing, so a job cut
//! short can run again.

use entitled_core::purchases::{
    Environment, LifecycleEvent, Ownership, PeriodType, Store, StoreTransaction,
};
use entitled_core::{App, AppType, IdKind, UnixMillis, new_id};
use entitled_stores::app_store::SignedDataVerifier;

use crate::jobs::csv::parse_line;

/// The header an import must start with.
pub const HEADER: &str =
    "app_user_id,store,product_id,store_transaction_id,purchased_at_ms,expires_at_ms";

/// The import format of App Store signed transactions, and the header it starts with.
pub const SIGNED_FORMAT: &str = "app_store_signed_transactions";
/// The header of [`SIGNED_FORMAT`] imports.
pub const SIGNED_HEADER: &str = "app_user_id,signed_transaction";

/// The import format of Google Play purchase tokens (each verified with Google).
pub const PLAY_FORMAT: &str = "play_tokens";
/// The header of [`PLAY_FORMAT`] imports.
pub const PLAY_HEADER: &str = "app_user_id,product_id,purchase_token";

/// The latest date a row may hold ([`entitled_core::time::LATEST`]).
pub const LATEST_MS: i64 = entitled_core::time::LATEST.0;

/// A row that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number (the header is line 1).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Checks the header of an import in `format` (`csv` or [`SIGNED_FORMAT`]); the rows are
/// read while the job runs.
pub fn check_header(format: &str, data: &str) -> Result<(), String> {
    let expected = match format {
        SIGNED_FORMAT => SIGNED_HEADER,
        PLAY_FORMAT => PLAY_HEADER,
        _ => HEADER,
    };
    let first = data.lines().next().unwrap_or_default().trim();
    if first == expected {
        Ok(())
    } else {
        Err(format!("the first line must be {expected:?}"))
    }
}

/// Splits one `app_user_id,product_id,purchase_token` line; Google verifies it later.
pub fn parse_play_row(
    line_number: usize,
    line: &str,
) -> Result<(String, String, String), RowError> {
    let error = |message: &str| RowError {
        line: line_number,
        message: message.to_string(),
    };
    let fields = parse_line(line).ok_or_else(|| error("an unclosed quote"))?;
    let [user, product, token] = fields.as_slice() else {
        return Err(error(
            "3 fields expected: app_user_id,product_id,purchase_token",
        ));
    };
    if user.is_empty() || user.len() > 1500 {
        return Err(error("app_user_id must be 1 to 1500 characters"));
    }
    if product.is_empty() || token.is_empty() || token.len() > 10_000 {
        return Err(error(
            "product_id and a purchase_token of at most 10000 characters are required",
        ));
    }
    Ok((user.clone(), product.clone(), token.clone()))
}

/// Parses one `app_user_id,signed_transaction` line: the transaction must be signed by
/// Apple for the project's App Store app. A refunded transaction also gives its refund.
pub fn parse_signed_row(
    line_number: usize,
    line: &str,
    apps: &[App],
    apple: &SignedDataVerifier,
    now: UnixMillis,
) -> Result<((String, StoreTransaction), Option<LifecycleEvent>), RowError> {
    let error = |message: String| RowError {
        line: line_number,
        message,
    };
    let fields = parse_line(line).ok_or_else(|| error("an unclosed quote".into()))?;
    let [user, jws] = fields.as_slice() else {
        return Err(error(
            "2 fields expected: app_user_id,signed_transaction".into(),
        ));
    };
    if user.is_empty() || user.len() > 1500 {
        return Err(error("app_user_id must be 1 to 1500 characters".into()));
    }
    let app = apps
        .iter()
        .find(|a| a.app_type == AppType::AppStore)
        .ok_or_else(|| error("the project has no app_store app".into()))?;
    let bundle_id = app
        .bundle_id
        .as_deref()
        .ok_or_else(|| error("the project's app_store app has no bundle_id".into()))?;
    let transaction = apple
        .verify_transaction(jws.trim(), bundle_id, now)
        .map_err(|e| error(e.to_string()))?;
    let fact = transaction
        .to_fact(&app.id, "")
        .map_err(|e| error(e.to_string()))?;
    if fact.purchased_at > now {
        return Err(error("the purchase date is in the future".into()));
    }
    Ok(((user.to_string(), fact), transaction.refund()))
}

/// Parses one data line into (app user id, transaction), given the project's apps.
pub fn parse_row(
    line_number: usize,
    line: &str,
    apps: &[App],
    now: UnixMillis,
) -> Result<(String, StoreTransaction), RowError> {
    let error = |message: String| RowError {
        line: line_number,
        message,
    };
    let fields = parse_line(line).ok_or_else(|| error("an unclosed quote".into()))?;
    let [user, store, product, transaction_id, purchased, expires] = fields.as_slice() else {
        return Err(error(format!("{} fields; 6 expected", fields.len())));
    };
    if user.is_empty() || user.len() > 1500 {
        return Err(error("app_user_id must be 1 to 1500 characters".into()));
    }
    let (store, app_type) = match store.as_str() {
        "app_store" => (Store::AppStore, AppType::AppStore),
        "play_store" => (Store::PlayStore, AppType::PlayStore),
        "stripe" => (Store::Stripe, AppType::Stripe),
        "test_store" => (Store::TestStore, AppType::TestStore),
        other => {
            return Err(error(format!(
                "store {other:?} is not app_store, play_store, stripe or test_store"
            )));
        }
    };
    let app = apps
        .iter()
        .find(|a| a.app_type == app_type)
        .ok_or_else(|| error(format!("the project has no {} app", app_type.as_str())))?;
    if product.is_empty() || transaction_id.is_empty() {
        return Err(error(
            "product_id and store_transaction_id are required".into(),
        ));
    }
    let purchased_at: i64 = purchased
        .parse()
        .map_err(|_| error("purchased_at_ms must be milliseconds since 1970".into()))?;
    if purchased_at > now.0 {
        return Err(error("purchased_at_ms is in the future".into()));
    }
    if purchased_at < 0 {
        return Err(error("purchased_at_ms must not be before 1970".into()));
    }
    let expires_at = if expires.is_empty() {
        None
    } else {
        let value: i64 = expires
            .parse()
            .map_err(|_| error("expires_at_ms must be milliseconds since 1970, or empty".into()))?;
        if value <= purchased_at {
            return Err(error("expires_at_ms must be after purchased_at_ms".into()));
        }
        if value > LATEST_MS {
            return Err(error("expires_at_ms must be before the year 10000".into()));
        }
        Some(UnixMillis(value))
    };
    Ok((
        user.clone(),
        StoreTransaction {
            id: new_id(IdKind::Transaction),
            customer_key: String::new(),
            app_id: app.id.clone(),
            store,
            store_transaction_id: transaction_id.clone(),
            original_transaction_id: transaction_id.clone(),
            product_id: product.clone(),
            product_plan_id: None,
            purchased_at: UnixMillis(purchased_at),
            expires_at,
            period_type: PeriodType::Normal,
            environment: if store == Store::TestStore {
                Environment::Sandbox
            } else {
                Environment::Production
            },
            ownership: Ownership::Purchased,
            price: None,
            is_subscription: expires_at.is_some(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apps() -> Vec<App> {
        vec![App {
            id: "app1".into(),
            project_id: "p".into(),
            name: "t".into(),
            app_type: AppType::TestStore,
            bundle_id: None,
            package_name: None,
            stripe_account_id: None,
            credential_names: vec![],
            created_at: UnixMillis(0),
        }]
    }

    #[test]
    fn rows_become_transactions_or_say_what_is_wrong() {
        let now = UnixMillis(10_000);
        let (user, t) = parse_row(2, "u1,test_store,pro,tx1,1000,5000", &apps(), now).unwrap();
        assert_eq!(user, "u1");
        assert!(t.is_subscription);
        assert_eq!(t.app_id, "app1");
        let (_, one_time) =
            parse_row(3, "\"u,2\",test_store,life,tx2,1000,", &apps(), now).unwrap();
        assert!(!one_time.is_subscription);
        for bad in [
            "u1,app_store,pro,tx,1,2",
            "u1,test_store,pro,tx,soon,",
            "u1,test_store,pro,tx,2000,1000",
            "u1,test_store,pro",
            "u1,floppy,pro,tx,1,",
        ] {
            let err = parse_row(4, bad, &apps(), now).unwrap_err();
            assert_eq!(err.line, 4, "{bad}");
        }
        assert!(check_header("csv", &format!("{HEADER}\nrow")).is_ok());
        // Found by `fuzz/fuzz_targets/csv_import.rs`: expiry dates past the year 9999 and
        // purchases before 1970 were accepted.
        for bad in [
            "u2,test_store,pro,tx1,1000,5922337203685807000",
            "u2,test_store,pro,tx1,1000,9223372036854775807",
            "u2,test_store,pro,tx1,-5,1000",
        ] {
            assert!(parse_row(5, bad, &apps(), now).is_err(), "{bad}");
        }
        let latest = format!("u2,test_store,pro,tx1,1000,{LATEST_MS}");
        assert!(parse_row(6, &latest, &apps(), now).is_ok());
        assert!(check_header("csv", "nope").is_err());
    }
}
