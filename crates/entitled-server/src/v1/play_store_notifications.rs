//! `POST /v1/incoming-webhooks/google-server-to-server-notification/{app_id}`: Google Play
//! Real-time developer notifications, pushed by Pub/Sub, for one Play app. A notification is
//! only a hint: entitled asks Google for the purchase's state and records what Google says,
//! so a forged push can make it look a purchase up but never grant anything.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use entitled_core::AppType;
use entitled_core::purchases::Store;
use entitled_stores::play_store::{NotificationAction, PushEnvelope};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ErrorKind, V1ErrorBody};
use crate::play_store::{package_of, play_error};
use crate::store_facts::{self, NOTIFICATION_LOCK_WAIT};
use crate::subscribers::lock_customers_within;

fn not_recorded() -> Json<Value> {
    Json(json!({"recorded": false}))
}

/// Records what a Play notification is about: the subscription's or one-time purchase's
/// state as Google reports it (renewals, cancellations, billing issues, pauses), a
/// recovery, restart, revocation or deferral, or a voided purchase (refund). Notifications
/// about purchases no customer has posted yet, and tests, are acknowledged with 200.
#[utoipa::path(post, path = "/v1/incoming-webhooks/google-server-to-server-notification/{app_id}",
    tag = "v1",
    params(("app_id" = String, Path, description = "The Play app the notifications are for")),
    request_body(content = Object, description = "Pub/Sub push: {\"message\": {\"data\": base64 DeveloperNotification, \"messageId\"}, \"subscription\"}"),
    responses(
        (status = 200, description = "Recorded, or nothing to record", body = Object),
        (status = 400, body = V1ErrorBody), (status = 404, body = V1ErrorBody),
        (status = 422, description = "For another package, or the purchase is not valid", body = V1ErrorBody),
        (status = 423, description = "The customer stayed busy; Pub/Sub retries", body = V1ErrorBody),
        (status = 502, description = "Google answered with an error", body = V1ErrorBody),
        (status = 504, description = "Google did not answer in time", body = V1ErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let app = state
        .storage
        .app_by_id(&app_id)
        .await?
        .filter(|app| app.app_type == AppType::PlayStore)
        .ok_or_else(|| ApiError::not_found("Play app"))?;
    let notification = PushEnvelope::parse(&body)
        .and_then(|envelope| envelope.notification())
        .map_err(play_error)?;
    let package = package_of(&app)?;
    if notification.package_name != package {
        return Err(ApiError::new(
            ErrorKind::Unprocessable,
            format!(
                "The notification is for package {:?}, not this app's",
                notification.package_name
            ),
        ));
    }
    let now = state.now();
    let project_id = app.project_id.as_str();
    let client = state
        .play
        .client_for(state.storage.as_ref(), state.sealer.as_deref(), &app)
        .await?;
    match notification.action(now) {
        NotificationAction::Nothing => Ok(not_recorded()),
        NotificationAction::Subscription {
            purchase_token,
            event_time,
            follow_up,
            ..
        } => {
            let purchase = client
                .subscription(package, &purchase_token, now)
                .await
                .map_err(play_error)?;
            let original = purchase
                .original_transaction_id(&purchase_token)
                .to_string();
            let Some(owner) = owner_of(&state, project_id, &original, &purchase_token).await?
            else {
                return Ok(not_recorded());
            };
            let _lock = lock_customers_within(&state, &[&owner], NOTIFICATION_LOCK_WAIT).await?;
            let transaction = purchase
                .to_fact(&purchase_token, &app.id, &owner, event_time)
                .map_err(play_error)?;
            let latest =
                store_facts::record_store_transaction(&state, project_id, &owner, transaction, now)
                    .await?;
            let facts = purchase
                .lifecycle_events(&purchase_token, event_time)
                .into_iter()
                .chain(follow_up.and_then(|f| f.event(&purchase, &purchase_token)));
            for fact in facts {
                store_facts::record_lifecycle(&state, project_id, &owner, &fact, &latest, now)
                    .await?;
            }
            Ok(Json(json!({"recorded": true})))
        }
        NotificationAction::Product {
            purchase_token,
            product_id,
            ..
        } => {
            let purchase = client
                .product(package, &product_id, &purchase_token, now)
                .await
                .map_err(play_error)?;
            let Some(owner) =
                owner_of(&state, project_id, &purchase_token, &purchase_token).await?
            else {
                return Ok(not_recorded());
            };
            let _lock = lock_customers_within(&state, &[&owner], NOTIFICATION_LOCK_WAIT).await?;
            let transaction = purchase
                .to_fact(&product_id, &purchase_token, &app.id, &owner)
                .map_err(play_error)?;
            store_facts::record_store_transaction(&state, project_id, &owner, transaction, now)
                .await?;
            Ok(Json(json!({"recorded": true})))
        }
        NotificationAction::Refund {
            purchase_token,
            order_id,
            mut event,
        } => {
            let voided = match state
                .storage
                .find_transaction(project_id, Store::PlayStore, &order_id)
                .await?
            {
                Some(found) => Some(found),
                None => {
                    state
                        .storage
                        .latest_transaction_of_purchase(
                            project_id,
                            Store::PlayStore,
                            &purchase_token,
                        )
                        .await?
                }
            };
            let Some(voided) = voided else {
                return Ok(not_recorded());
            };
            event.original_transaction_id = voided.original_transaction_id.clone();
            let owner = voided.customer_key.clone();
            let _lock = lock_customers_within(&state, &[&owner], NOTIFICATION_LOCK_WAIT).await?;
            let latest = state
                .storage
                .latest_transaction_of_purchase(
                    project_id,
                    Store::PlayStore,
                    &voided.original_transaction_id,
                )
                .await?
                .unwrap_or(voided);
            store_facts::record_lifecycle(&state, project_id, &owner, &event, &latest, now).await?;
            Ok(Json(json!({"recorded": true})))
        }
    }
}

/// The customer owning the purchase `original` (or the one whose first token is `token`).
async fn owner_of(
    state: &AppState,
    project_id: &str,
    original: &str,
    token: &str,
) -> Result<Option<String>, ApiError> {
    for candidate in [original, token] {
        if let Some(found) = state
            .storage
            .latest_transaction_of_purchase(project_id, Store::PlayStore, candidate)
            .await?
        {
            return Ok(Some(found.customer_key));
        }
    }
    Ok(None)
}
