//! `POST /v1/receipts`: an app posts a purchase. Test-store purchases, App Store signed
//! transactions (StoreKit 2) and Play purchase tokens (asked of Google) are verified and
//! recorded here; Stripe verification comes with its adapter.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use entitled_core::purchases::{
    Environment, Money, Ownership, PeriodType, Store, StoreTransaction,
};
use entitled_core::test_store::{DEFAULT_PERIOD, add_period};
use entitled_core::{
    AppType, Customer, IdKind, KeyKind, Product, ProductType, Transfer, TransferRule, UnixMillis,
    new_id,
};
use entitled_storage::Recorded;
use serde::Deserialize;

use crate::AppState;
use crate::app_store;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorKind, V1ErrorBody};
use crate::extract::ApiJson;
use crate::play_store;
use crate::store_facts::{self, VerifiedPurchase};
use crate::subscribers::{check_app_user_id, find_or_create, lock_customers, project_now};
use crate::temporary_grants;
use crate::v1::respond::{customer_info, touch};
use crate::webhooks::emit;
use entitled_core::events::{event_for_transaction, event_for_transfer};
use serde_json::json;

/// RevenueCat's code for a purchase that belongs to another customer.
const RECEIPT_IN_USE: u32 = 7102;

/// The body the SDKs post. Fields entitled does not use yet are accepted and ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReceiptBody {
    /// Who bought it.
    pub app_user_id: String,
    /// The store's proof of purchase; for the test store, any new token makes a purchase.
    pub fetch_token: String,
    /// The store product identifier (iOS, web).
    pub product_id: Option<String>,
    /// The store product identifiers (Android sends a list).
    pub product_ids: Option<Vec<String>>,
    /// The price paid, in the currency's units: a number (Android) or a decimal string (iOS).
    #[schema(value_type = Option<f64>)]
    pub price: Option<serde_json::Value>,
    /// ISO 4217 currency code.
    pub currency: Option<String>,
    /// Whether the SDK is restoring purchases.
    pub is_restore: Option<bool>,
    /// Whether the app completes purchases itself.
    pub observer_mode: Option<bool>,
    /// The offering the purchase was made from.
    pub presented_offering_identifier: Option<String>,
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Unprocessable, message)
}

/// Converts a decimal price (number or string) to integer micros, refusing what is not a price;
/// `None` unless both a price and a currency are given.
pub fn price_micros(
    price: Option<&serde_json::Value>,
    currency: Option<&str>,
) -> Result<Option<Money>, ApiError> {
    let amount = match price {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => Some(
            s.trim()
                .parse::<f64>()
                .map_err(|_| ApiError::parameter("price", "price must be a decimal amount"))?,
        ),
        Some(_) => {
            return Err(ApiError::parameter(
                "price",
                "price must be a decimal amount",
            ));
        }
    };
    match (amount, currency) {
        (Some(amount), Some(currency)) => {
            if !amount.is_finite() || !(0.0..=1_000_000_000.0).contains(&amount) {
                return Err(ApiError::parameter(
                    "price",
                    "price must be a non-negative amount",
                ));
            }
            let valid_currency =
                currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase());
            if !valid_currency {
                return Err(ApiError::parameter(
                    "currency",
                    "currency must be an ISO 4217 code like USD",
                ));
            }
            Ok(Some(Money {
                amount_micros: (amount * 1_000_000.0).round() as i64,
                currency: currency.to_string(),
            }))
        }
        _ => Ok(None),
    }
}

/// The transaction the test store verifies for a purchase of `product` posted with `token`
/// at `purchased_at`: a subscription runs one billing period from then.
pub(crate) fn test_store_transaction(
    product: &Product,
    customer_key: &str,
    token: &str,
    price: Option<Money>,
    purchased_at: UnixMillis,
) -> Result<StoreTransaction, ApiError> {
    let is_subscription = matches!(
        product.product_type,
        ProductType::Subscription | ProductType::NonRenewingSubscription
    );
    let expires_at = if is_subscription {
        let period = product
            .subscription_duration
            .as_deref()
            .unwrap_or(DEFAULT_PERIOD);
        Some(
            add_period(purchased_at, period)
                .ok_or_else(|| ApiError::internal("stored period is invalid"))?,
        )
    } else {
        None
    };
    Ok(StoreTransaction {
        id: new_id(IdKind::Transaction),
        customer_key: customer_key.to_string(),
        app_id: product.app_id.clone(),
        store: Store::TestStore,
        store_transaction_id: token.to_string(),
        original_transaction_id: token.to_string(),
        product_id: product.store_identifier.clone(),
        product_plan_id: None,
        purchased_at,
        expires_at,
        period_type: PeriodType::Normal,
        environment: Environment::Sandbox,
        ownership: Ownership::Purchased,
        price,
        is_subscription,
    })
}

/// Records a purchase the store verified for `customer` (whose lock the caller holds) with
/// its event; a purchase another customer owns moves to this one, unless the project keeps
/// purchases with their first owner (409, code 7102).
async fn record_verified(
    state: &AppState,
    project_id: &str,
    customer: &Customer,
    transaction: &StoreTransaction,
    now: UnixMillis,
) -> Result<(), ApiError> {
    let initial = event_for_transaction(transaction, &[]);
    let events = emit::for_customer(
        state,
        project_id,
        &customer.key,
        Some(&transaction.app_id),
        &[initial],
        None,
    )
    .await?;
    match state
        .storage
        .record_transaction(project_id, transaction, &events, state.now())
        .await?
    {
        Recorded::New => {}
        Recorded::Known(existing) if existing.customer_key == customer.key => {}
        Recorded::Known(existing) => {
            let project = state
                .storage
                .get_project(project_id)
                .await?
                .ok_or_else(|| ApiError::not_found("Project"))?;
            if project.transfer_rule == TransferRule::KeepWithOriginal {
                let mut err = ApiError::new(
                    ErrorKind::AlreadyExists,
                    "This purchase belongs to another customer and this project keeps purchases with their first owner",
                );
                err.v1_code = Some(RECEIPT_IN_USE);
                return Err(err);
            }
            let transfer = Transfer {
                id: new_id(IdKind::Transfer),
                project_id: project_id.to_string(),
                source_customer_key: existing.customer_key.clone(),
                target_customer_key: customer.key.clone(),
                app_ids: None,
                transferred_at: state.now(),
            };
            let moved = event_for_transfer(&transfer.id, now, &existing);
            let from = state
                .storage
                .customer_by_key(&existing.customer_key)
                .await?;
            let extra = json!({
                "transferred_from": from.map(|c| vec![c.id]).unwrap_or_default(),
                "transferred_to": [customer.id.clone()],
            });
            let events = emit::for_customer(
                state,
                project_id,
                &customer.key,
                Some(&transaction.app_id),
                &[moved],
                Some(extra),
            )
            .await?;
            state
                .storage
                .move_purchase(
                    &transfer,
                    existing.store,
                    &existing.original_transaction_id,
                    &events,
                )
                .await?;
        }
    }
    Ok(())
}

/// What a posted receipt turned out to be before anything is written.
enum Posted {
    /// A purchase its store vouched for.
    Verified(VerifiedPurchase),
    /// A test-store purchase of this product (the test store verifies by recording).
    TestStore(Product),
}

/// Records a purchase a store verified for `customer` (whose lock the caller holds), with
/// what the store said about it besides; the app's price stands in where the store gave none.
async fn record_store_purchase(
    state: &AppState,
    project_id: &str,
    customer: &Customer,
    purchase: VerifiedPurchase,
    price: Option<Money>,
    now: UnixMillis,
) -> Result<(), ApiError> {
    let VerifiedPurchase {
        mut transaction,
        lifecycle,
    } = purchase;
    transaction.customer_key = customer.key.clone();
    if transaction.price.is_none() {
        transaction.price = price;
    }
    record_verified(state, project_id, customer, &transaction, now).await?;
    for fact in &lifecycle {
        store_facts::record_lifecycle(
            state,
            project_id,
            &customer.key,
            fact,
            &transaction,
            state.now(),
        )
        .await?;
    }
    Ok(())
}

/// Records a test-store purchase for `customer` (whose lock the caller holds): during a
/// simulated outage a new purchase gets a temporary grant; otherwise a grant pending for it
/// is settled and the purchase recorded.
async fn record_test_store_purchase(
    state: &AppState,
    project_id: &str,
    customer: &Customer,
    product: &Product,
    fetch_token: &str,
    price: Option<Money>,
    now: UnixMillis,
) -> Result<(), ApiError> {
    let store_down = state.storage.test_store_outage(project_id).await?.is_some();
    if store_down
        && state
            .storage
            .find_transaction(project_id, Store::TestStore, fetch_token)
            .await?
            .is_none()
    {
        // The store cannot verify a new purchase: grant its entitlements for a while.
        temporary_grants::grant(
            state,
            project_id,
            customer,
            product,
            fetch_token,
            price,
            now,
        )
        .await?;
        return Ok(());
    }
    let pending = state
        .storage
        .temporary_grant_for(&product.app_id, fetch_token)
        .await?
        .filter(|g| !store_down && g.is_pending(now) && g.customer_key == customer.key);
    if let Some(grant) = pending {
        // The store is back: verify the purchase granted for, dated when it was posted.
        temporary_grants::settle(state, project_id, &grant, now).await?;
    }
    let transaction = test_store_transaction(product, &customer.key, fetch_token, price, now)?;
    record_verified(state, project_id, customer, &transaction, now).await
}

/// Records a purchase and answers the buyer's CustomerInfo (200, also for a repeat).
#[utoipa::path(post, path = "/v1/receipts", tag = "v1",
    security(("bearer" = [])),
    request_body = ReceiptBody,
    responses(
        (status = 200, description = "CustomerInfo with the purchase", body = Object),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody),
        (status = 403, body = V1ErrorBody), (status = 409, body = V1ErrorBody),
        (status = 422, body = V1ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = V1ErrorBody),
        (status = 502, description = "The store answered with an error", body = V1ErrorBody),
        (status = 504, description = "The store did not answer in time", body = V1ErrorBody)))]
pub async fn post_receipt(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReceiptBody>,
) -> Result<Response, ApiError> {
    check_app_user_id(&body.app_user_id, "app_user_id")?;
    if body.fetch_token.trim().is_empty() || body.fetch_token.len() > 10_000 {
        return Err(ApiError::parameter(
            "fetch_token",
            "fetch_token must be 1 to 10000 characters",
        ));
    }
    let project_id = caller.project_id().to_string();
    let (Some(app_id), KeyKind::Public) = (caller.key.app_id.clone(), caller.key.kind) else {
        return Err(ApiError::new(
            ErrorKind::Authorization,
            "Post receipts with the public SDK key of the app that made the purchase",
        ));
    };
    let app = state
        .storage
        .get_app(&project_id, &app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("App"))?;
    let now = project_now(&state, &project_id).await?;
    let price = price_micros(body.price.as_ref(), body.currency.as_deref())?;
    let posted = match app.app_type {
        AppType::TestStore => {
            let product_id = body.product_id.clone().ok_or_else(|| {
                ApiError::parameter(
                    "product_id",
                    "product_id is required for test store purchases",
                )
            })?;
            let product = state
                .storage
                .product_by_identifier(&project_id, &app.id, &product_id)
                .await?
                .ok_or_else(|| {
                    unprocessable(format!("{product_id:?} is not a product of this app"))
                })?;
            Posted::TestStore(product)
        }
        AppType::AppStore => {
            let signed = app_store::verify_signed_transaction(&state, &app, &body.fetch_token)?;
            Posted::Verified(VerifiedPurchase {
                transaction: signed
                    .to_fact(&app.id, "")
                    .map_err(|e| unprocessable(e.to_string()))?,
                lifecycle: signed.refund().into_iter().collect(),
            })
        }
        AppType::PlayStore => {
            let client = state
                .play
                .client_for(state.storage.as_ref(), state.sealer.as_deref(), &app)
                .await?;
            let product_id = body.product_id.as_deref().or(body
                .product_ids
                .as_ref()
                .and_then(|ids| ids.first())
                .map(String::as_str));
            Posted::Verified(
                play_store::verify_token(
                    state.storage.as_ref(),
                    &client,
                    &app,
                    product_id,
                    &body.fetch_token,
                    "",
                    now,
                    state.now(),
                )
                .await?,
            )
        }
        other => {
            return Err(unprocessable(format!(
                "Receipts of {} apps cannot be verified by this server yet; test_store, app_store and play_store purchases are",
                other.as_str()
            )));
        }
    };
    // The purchase checks out (or is the test store's to make): now it becomes the customer's.
    let (customer, _) = find_or_create(&state, &project_id, &body.app_user_id, state.now()).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    touch(&state, &customer, &headers).await?;
    match posted {
        Posted::Verified(purchase) => {
            record_store_purchase(&state, &project_id, &customer, purchase, price, now).await?;
        }
        Posted::TestStore(product) => {
            record_test_store_purchase(
                &state,
                &project_id,
                &customer,
                &product,
                &body.fetch_token,
                price,
                now,
            )
            .await?;
        }
    }
    customer_info(
        &state,
        &caller,
        &customer,
        now,
        StatusCode::OK,
        &HeaderMap::new(),
        None,
    )
    .await
}
