//! The server's side of the Google Play adapter: a client per app (so its access token is
//! reused), made from the app's sealed service account, and Google's answers turned into
//! facts. Talking to Google lives in `entitled_stores::play_store`.

use std::collections::HashMap;
use std::sync::Arc;

use entitled_core::{App, ProductType, UnixMillis};
use entitled_storage::Storage;
use entitled_stores::play_store::{PlayClient, PlayClientConfig, PlayError, ServiceAccount};
use tokio::sync::Mutex;

use crate::credentials::Sealer;
use crate::error::{ApiError, ErrorKind};
use crate::store_facts::VerifiedPurchase;

/// The credential holding a Play app's service account JSON.
const SERVICE_ACCOUNT: &str = "play_store.service_account_credentials_json";

/// Play clients by app, each kept while the app's sealed credentials stay the same.
pub struct PlayClients {
    config: PlayClientConfig,
    clients: Mutex<HashMap<String, (String, Arc<PlayClient>)>>,
}

impl PlayClients {
    /// Clients that ask Google (or `config.base_url`) with `config.timeout`.
    pub fn new(config: PlayClientConfig) -> Self {
        Self {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client of a Play app; 422 when the app has no usable service account.
    pub async fn client_for(
        &self,
        storage: &dyn Storage,
        sealer: Option<&Sealer>,
        app: &App,
    ) -> Result<Arc<PlayClient>, ApiError> {
        let no_account = || {
            ApiError::new(
                ErrorKind::Unprocessable,
                "This Play app has no service account credentials; set play_store.service_account_credentials_json",
            )
        };
        let sealed = storage
            .app_credentials(&app.project_id, &app.id)
            .await?
            .ok_or_else(no_account)?;
        let mut clients = self.clients.lock().await;
        if let Some((known, client)) = clients.get(&app.id)
            && *known == sealed
        {
            return Ok(client.clone());
        }
        let sealer = sealer.ok_or_else(crate::credentials::no_secrets_key)?;
        let json = sealer
            .open(&app.id, &sealed)?
            .remove(SERVICE_ACCOUNT)
            .ok_or_else(no_account)?;
        let account = ServiceAccount::from_json(&json).map_err(play_error)?;
        let client = Arc::new(PlayClient::new(account, self.config.clone()).map_err(play_error)?);
        clients.insert(app.id.clone(), (sealed, client.clone()));
        Ok(client)
    }
}

/// The contract's answer to a Play failure: 422 (credentials, invalid purchase), 502
/// (Google's error or garbage), 504 (no answer in time), 400 (malformed notification).
pub fn play_error(err: PlayError) -> ApiError {
    let kind = match err.contract_status() {
        502 => ErrorKind::StoreError,
        504 => ErrorKind::StoreTimeout,
        400 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Unprocessable,
    };
    ApiError::new(kind, err.to_string())
}

/// The package name Google must know the purchase under; 422 when the app has none.
pub fn package_of(app: &App) -> Result<&str, ApiError> {
    app.package_name.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorKind::Unprocessable,
            "This Play app has no package_name; set it before posting its purchases",
        )
    })
}

/// Asks Google about `token` of `app` for `customer_key`: a subscription when the catalog
/// says the product is one (or does not know it), else a one-time product.
#[allow(clippy::too_many_arguments)]
pub async fn verify_token(
    storage: &dyn Storage,
    client: &PlayClient,
    app: &App,
    product_id: Option<&str>,
    token: &str,
    customer_key: &str,
    seen_at: UnixMillis,
    now: UnixMillis,
) -> Result<VerifiedPurchase, ApiError> {
    let package = package_of(app)?;
    let product = match product_id {
        Some(id) => {
            storage
                .product_by_identifier(&app.project_id, &app.id, id)
                .await?
        }
        None => None,
    };
    let one_time = product.as_ref().is_some_and(|p| {
        !matches!(
            p.product_type,
            ProductType::Subscription | ProductType::NonRenewingSubscription
        )
    });
    if !one_time {
        match client.subscription(package, token, now).await {
            Ok(purchase) => {
                return Ok(VerifiedPurchase {
                    transaction: purchase
                        .to_fact(token, &app.id, customer_key, seen_at)
                        .map_err(play_error)?,
                    lifecycle: purchase.lifecycle_events(token, seen_at),
                });
            }
            // Not a subscription Google knows: a one-time product, if one was named.
            Err(PlayError::InvalidPurchase(_)) if product.is_none() && product_id.is_some() => {}
            Err(err) => return Err(play_error(err)),
        }
    }
    let product_id = product_id.ok_or_else(|| {
        ApiError::parameter("product_id", "product_id is required for Play purchases")
    })?;
    let purchase = client
        .product(package, product_id, token, now)
        .await
        .map_err(play_error)?;
    Ok(VerifiedPurchase {
        transaction: purchase
            .to_fact(product_id, token, &app.id, customer_key)
            .map_err(play_error)?,
        lifecycle: Vec::new(),
    })
}
