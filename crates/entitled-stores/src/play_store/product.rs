//! What `purchases.products.get` answers (Google's `ProductPurchase`, a one-time product),
//! and the fact entitled keeps of it.

use entitled_core::purchases::{Environment, Ownership, PeriodType, Store, StoreTransaction};
use entitled_core::{IdKind, new_id};
use serde::Deserialize;

use super::PlayError;
use super::rfc3339::{self, lenient_i64};

/// The fields of a `ProductPurchase` entitled uses; Google's others are ignored. Google
/// writes int64 fields as strings; both forms are read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductPurchase {
    /// `androidpublisher#productPurchase`.
    pub kind: Option<String>,
    /// When it was bought, ms since 1970.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub purchase_time_millis: Option<i64>,
    /// 0 purchased, 1 canceled, 2 pending.
    pub purchase_state: Option<i64>,
    /// 0 not yet consumed, 1 consumed.
    pub consumption_state: Option<i64>,
    /// The order: `GPA.…`. License testers' purchases may have none.
    pub order_id: Option<String>,
    /// Absent for real purchases; 0 test (license tester), 1 promo code, 2 rewarded ad.
    pub purchase_type: Option<i64>,
    /// 0 not yet acknowledged, 1 acknowledged.
    pub acknowledgement_state: Option<i64>,
    /// The product id, when Google includes it.
    pub product_id: Option<String>,
    /// How many were bought (absent means one).
    pub quantity: Option<i64>,
    /// ISO 3166-1 alpha-2 billing country of the buyer.
    pub region_code: Option<String>,
    /// The app's obfuscated account id of the buyer, if it set one.
    pub obfuscated_external_account_id: Option<String>,
}

impl ProductPurchase {
    /// Whether a license tester bought it.
    pub fn is_test(&self) -> bool {
        self.purchase_type == Some(0)
    }

    /// The purchase of `product_id` (the product it was looked up as) bought with
    /// `purchase_token`, as a one-time fact of `customer_key` bought through `app_id`.
    ///
    /// The transaction id is the order id (the token when a tester's purchase has none);
    /// the original transaction id is the purchase token, which refunds
    /// (`voidedPurchaseNotification`) name. Canceled (state 1) and pending (state 2)
    /// purchases are refused as [`PlayError::InvalidPurchase`]; a purchase without a valid
    /// time is an upstream error. Google does not say what was paid: the price is `None`.
    pub fn to_fact(
        &self,
        product_id: &str,
        purchase_token: &str,
        app_id: &str,
        customer_key: &str,
    ) -> Result<StoreTransaction, PlayError> {
        match self.purchase_state {
            Some(0) | None => {}
            Some(1) => {
                return Err(PlayError::InvalidPurchase(
                    "the one-time purchase was canceled".into(),
                ));
            }
            Some(2) => {
                return Err(PlayError::InvalidPurchase(
                    "the one-time purchase is pending: Google Play has not been paid yet".into(),
                ));
            }
            Some(other) => {
                return Err(PlayError::InvalidPurchase(format!(
                    "the one-time purchase has unknown state {other}"
                )));
            }
        }
        let purchased_at = self
            .purchase_time_millis
            .and_then(rfc3339::in_range)
            .ok_or_else(|| {
                PlayError::Upstream(
                    "the product purchase's purchaseTimeMillis is missing or out of range".into(),
                )
            })?;
        Ok(StoreTransaction {
            id: new_id(IdKind::Transaction),
            customer_key: customer_key.to_string(),
            app_id: app_id.to_string(),
            store: Store::PlayStore,
            store_transaction_id: self
                .order_id
                .as_deref()
                .filter(|id| !id.is_empty())
                .unwrap_or(purchase_token)
                .to_string(),
            original_transaction_id: purchase_token.to_string(),
            product_id: product_id.to_string(),
            product_plan_id: None,
            purchased_at,
            expires_at: None,
            period_type: PeriodType::Normal,
            environment: if self.is_test() {
                Environment::Sandbox
            } else {
                Environment::Production
            },
            ownership: Ownership::Purchased,
            price: None,
            is_subscription: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entitled_core::UnixMillis;

    fn bought() -> ProductPurchase {
        serde_json::from_value(serde_json::json!({
            "kind": "androidpublisher#productPurchase",
            "purchaseTimeMillis": "1795514400000",
            "purchaseState": 0,
            "consumptionState": 0,
            "orderId": "GPA.1111-2222-3333-44444",
            "acknowledgementState": 1,
            "regionCode": "DE"
        }))
        .unwrap()
    }

    #[test]
    fn a_bought_product_becomes_a_one_time_fact() {
        let fact = bought()
            .to_fact("coins.100", "ptok", "app1", "cus1")
            .unwrap();
        assert_eq!(fact.store, Store::PlayStore);
        assert_eq!(fact.store_transaction_id, "GPA.1111-2222-3333-44444");
        assert_eq!(fact.original_transaction_id, "ptok");
        assert_eq!(fact.product_id, "coins.100");
        assert_eq!(fact.purchased_at, UnixMillis(1_795_514_400_000));
        assert_eq!(fact.expires_at, None);
        assert!(!fact.is_subscription);
        assert_eq!(fact.environment, Environment::Production);
    }

    #[test]
    fn tests_canceled_pending_and_broken_purchases() {
        let mut p = bought();
        p.purchase_type = Some(0);
        p.order_id = None;
        let fact = p.to_fact("x", "ptok", "a", "c").unwrap();
        assert_eq!(fact.environment, Environment::Sandbox);
        assert_eq!(fact.store_transaction_id, "ptok");
        for state in [1, 2, 7] {
            let mut p = bought();
            p.purchase_state = Some(state);
            assert!(matches!(
                p.to_fact("x", "ptok", "a", "c"),
                Err(PlayError::InvalidPurchase(_))
            ));
        }
        let mut p = bought();
        p.purchase_time_millis = Some(-1);
        assert!(matches!(
            p.to_fact("x", "ptok", "a", "c"),
            Err(PlayError::Upstream(_))
        ));
        let numbers: ProductPurchase =
            serde_json::from_str(r#"{"purchaseTimeMillis": 5, "purchaseState": 0}"#).unwrap();
        assert_eq!(numbers.purchase_time_millis, Some(5));
        assert!(serde_json::from_str::<ProductPurchase>(r#"{"purchaseTimeMillis":"x"}"#).is_err());
    }
}
