//! What a verified App Store transaction says (Apple's `JWSTransactionDecodedPayload`), and
//! the facts entitled keeps of it.

use entitled_core::purchases::{
    Environment, LifecycleEvent, LifecycleKind, Money, Ownership, PeriodType, Store,
    StoreTransaction,
};
use entitled_core::{IdKind, UnixMillis, new_id};
use serde::Deserialize;

use super::SignedDataError;

/// The fields of a signed transaction entitled uses; Apple's other fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStoreTransaction {
    /// Apple's id of this transaction (a purchase, renewal or restore).
    pub transaction_id: String,
    /// The id of the subscription's first transaction (itself for one-time purchases).
    pub original_transaction_id: String,
    /// The app's bundle id.
    pub bundle_id: String,
    /// The store product identifier.
    pub product_id: String,
    /// When this transaction was charged, ms since 1970.
    pub purchase_date: i64,
    /// For auto-renewable subscriptions, when this period ends.
    pub expires_date: Option<i64>,
    /// `Auto-Renewable Subscription`, `Non-Consumable`, `Consumable` or
    /// `Non-Renewing Subscription`.
    #[serde(rename = "type")]
    pub product_type: String,
    /// `PURCHASED` or `FAMILY_SHARED`.
    pub in_app_ownership_type: Option<String>,
    /// `Production`, `Sandbox`, `Xcode` or `LocalTesting`.
    pub environment: String,
    /// When Apple signed it.
    pub signed_date: i64,
    /// Price in milliunits of `currency` (4.99 is 4990).
    pub price: Option<i64>,
    /// ISO 4217 code of `price`.
    pub currency: Option<String>,
    /// 1 introductory, 2 promotional, 3 offer code, 4 win-back.
    pub offer_type: Option<i64>,
    /// `FREE_TRIAL`, `PAY_AS_YOU_GO` or `PAY_UP_FRONT`.
    pub offer_discount_type: Option<String>,
    /// When Apple refunded or revoked it, if it did.
    pub revocation_date: Option<i64>,
    /// The app's own id for the buyer, if it set one.
    pub app_account_token: Option<String>,
}

impl AppStoreTransaction {
    /// Whether the product renews or runs for a period (and has an expiry to show).
    pub fn is_subscription(&self) -> bool {
        self.expires_date.is_some()
            && matches!(
                self.product_type.as_str(),
                "Auto-Renewable Subscription" | "Non-Renewing Subscription"
            )
    }

    /// The transaction as a fact of `customer_key`, bought through `app_id`.
    pub fn to_fact(
        &self,
        app_id: &str,
        customer_key: &str,
    ) -> Result<StoreTransaction, SignedDataError> {
        let latest = entitled_core::time::LATEST.0;
        let in_range = |ms: i64| (0..=latest).contains(&ms);
        if !in_range(self.purchase_date) || !self.expires_date.is_none_or(in_range) {
            return Err(SignedDataError::Payload(
                "purchaseDate and expiresDate must fall between 1970 and 9999".into(),
            ));
        }
        if self.transaction_id.is_empty() || self.original_transaction_id.is_empty() {
            return Err(SignedDataError::Payload(
                "transactionId and originalTransactionId must not be empty".into(),
            ));
        }
        let is_subscription = self.is_subscription();
        Ok(StoreTransaction {
            id: new_id(IdKind::Transaction),
            customer_key: customer_key.to_string(),
            app_id: app_id.to_string(),
            store: Store::AppStore,
            store_transaction_id: self.transaction_id.clone(),
            original_transaction_id: self.original_transaction_id.clone(),
            product_id: self.product_id.clone(),
            product_plan_id: None,
            purchased_at: UnixMillis(self.purchase_date),
            expires_at: if is_subscription {
                self.expires_date.map(UnixMillis)
            } else {
                None
            },
            period_type: self.period_type(),
            environment: self.environment(),
            ownership: if self.in_app_ownership_type.as_deref() == Some("FAMILY_SHARED") {
                Ownership::FamilyShared
            } else {
                Ownership::Purchased
            },
            price: self.money(),
            is_subscription,
        })
    }

    /// The refund Apple's signature records on this transaction, as a lifecycle fact whose
    /// id names the transaction (so seeing it twice records it once).
    pub fn refund(&self) -> Option<LifecycleEvent> {
        let revoked_at = self.revocation_date?;
        Some(LifecycleEvent {
            id: format!("evt_apple_refund_{}", self.transaction_id),
            store: Store::AppStore,
            original_transaction_id: self.original_transaction_id.clone(),
            kind: LifecycleKind::Refunded,
            occurred_at: UnixMillis(revoked_at.clamp(0, entitled_core::time::LATEST.0)),
        })
    }

    /// Sandbox for every environment but `Production`.
    pub fn environment(&self) -> Environment {
        if self.environment == "Production" {
            Environment::Production
        } else {
            Environment::Sandbox
        }
    }

    fn period_type(&self) -> PeriodType {
        match (self.offer_type, self.offer_discount_type.as_deref()) {
            (_, Some("FREE_TRIAL")) => PeriodType::Trial,
            (Some(1), _) => PeriodType::Intro,
            _ => PeriodType::Normal,
        }
    }

    fn money(&self) -> Option<Money> {
        let (price, currency) = (self.price?, self.currency.as_deref()?);
        let valid_currency =
            currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase());
        if !valid_currency || price < 0 {
            return None;
        }
        Some(Money {
            amount_micros: price.checked_mul(1_000)?,
            currency: currency.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apple_model() -> AppStoreTransaction {
        // Apple's model payload (fixtures/apple/models/signedTransaction.json, MIT).
        let text =
            include_str!("../../../../../shared/fixtures/apple/models/signedTransaction.json");
        serde_json::from_str(text).expect("Apple's model transaction parses")
    }

    #[test]
    fn apples_model_transaction_becomes_a_fact() {
        let t = apple_model();
        let fact = t.to_fact("app1", "cus1").unwrap();
        assert_eq!(fact.store, Store::AppStore);
        assert_eq!(fact.store_transaction_id, "23456");
        assert_eq!(fact.original_transaction_id, "12345");
        assert_eq!(fact.product_id, "com.example.product");
        assert_eq!(fact.purchased_at, UnixMillis(1698148900000));
        assert_eq!(fact.expires_at, Some(UnixMillis(1698149000000)));
        assert!(fact.is_subscription);
        assert_eq!(fact.environment, Environment::Sandbox);
        assert_eq!(fact.period_type, PeriodType::Intro);
        assert_eq!(
            fact.price,
            Some(Money {
                amount_micros: 10_990_000,
                currency: "USD".into()
            })
        );
        let refund = t.refund().unwrap();
        assert_eq!(refund.kind, LifecycleKind::Refunded);
        assert_eq!(refund.occurred_at, UnixMillis(1698148950000));
        assert_eq!(refund.id, t.refund().unwrap().id);
    }

    #[test]
    fn one_time_purchases_have_no_expiry_and_trials_are_trials() {
        let mut t = apple_model();
        t.product_type = "Non-Consumable".into();
        t.offer_discount_type = Some("FREE_TRIAL".into());
        t.environment = "Production".into();
        let fact = t.to_fact("a", "c").unwrap();
        assert!(!fact.is_subscription);
        assert_eq!(fact.expires_at, None);
        assert_eq!(fact.period_type, PeriodType::Trial);
        assert_eq!(fact.environment, Environment::Production);
    }

    #[test]
    fn impossible_dates_and_prices_are_refused_or_dropped() {
        let mut t = apple_model();
        t.expires_date = Some(i64::MAX);
        assert!(t.to_fact("a", "c").is_err());
        let mut t = apple_model();
        t.price = Some(i64::MAX);
        assert_eq!(t.to_fact("a", "c").unwrap().price, None);
        t.currency = Some("usd".into());
        t.price = Some(1);
        assert_eq!(t.to_fact("a", "c").unwrap().price, None);
    }
}
