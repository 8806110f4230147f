//! `POST /v1/incoming-webhooks/apple-server-to-server-notification/{app_id}`: App Store
//! Server Notifications V2 for one App Store app. Apple sends no credentials; what makes a
//! notification authentic is Apple's signature on it, checked before anything is read.

use axum::Json;
use axum::extract::{Path, State};
use entitled_core::AppType;
use entitled_core::purchases::Store;
use entitled_stores::app_store::{NotificationBody, NotificationEffect};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::app_store;
use crate::error::{ApiError, ErrorKind, V1ErrorBody};
use crate::extract::ApiJson;
use crate::store_facts::{self, NOTIFICATION_LOCK_WAIT};
use crate::subscribers::lock_customers_within;

/// The body Apple posts.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppleNotificationBody {
    /// The notification as compact JWS, signed by Apple.
    pub signed_payload: String,
}

/// Records what an App Store notification says about a purchase entitled knows: a renewal,
/// upgrade or new purchase, a cancellation, billing issue, expiry, refund or extension.
/// Notifications about purchases not posted yet, and those that change nothing (tests,
/// summaries, downgrades at renewal), are acknowledged with 200 and nothing recorded;
/// a retried notification records nothing twice.
#[utoipa::path(post, path = "/v1/incoming-webhooks/apple-server-to-server-notification/{app_id}",
    tag = "v1",
    params(("app_id" = String, Path, description = "The App Store app the notifications are for")),
    request_body = AppleNotificationBody,
    responses(
        (status = 200, description = "Recorded, or nothing to record", body = Object),
        (status = 400, body = V1ErrorBody), (status = 404, body = V1ErrorBody),
        (status = 422, description = "Not signed by Apple, or for another app", body = V1ErrorBody),
        (status = 423, description = "The customer stayed busy; Apple retries", body = V1ErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<AppleNotificationBody>,
) -> Result<Json<Value>, ApiError> {
    let app = state
        .storage
        .app_by_id(&app_id)
        .await?
        .filter(|app| app.app_type == AppType::AppStore)
        .ok_or_else(|| ApiError::not_found("App Store app"))?;
    let now = state.now();
    let notification = state
        .apple
        .verify_notification(
            &NotificationBody {
                signed_payload: body.signed_payload,
            },
            app_store::bundle_id_of(&app)?,
            now,
        )
        .map_err(|e| {
            ApiError::new(
                ErrorKind::Unprocessable,
                format!("The notification was not verified: {e}"),
            )
        })?;
    let effect = notification.effect();
    let (Some(signed), false) = (
        &notification.transaction,
        effect == NotificationEffect::Nothing,
    ) else {
        return Ok(Json(json!({"recorded": false})));
    };
    let project_id = app.project_id.as_str();
    let Some(known) = state
        .storage
        .latest_transaction_of_purchase(
            project_id,
            Store::AppStore,
            &signed.original_transaction_id,
        )
        .await?
    else {
        tracing::info!(
            notification = %notification.notification_uuid,
            "App Store notification for a purchase no customer has posted yet; nothing recorded"
        );
        return Ok(Json(json!({"recorded": false})));
    };
    let owner = known.customer_key.clone();
    let _lock = lock_customers_within(&state, &[&owner], NOTIFICATION_LOCK_WAIT).await?;
    let transaction = signed
        .to_fact(&app.id, &owner)
        .map_err(|e| ApiError::new(ErrorKind::Unprocessable, e.to_string()))?;
    let latest =
        store_facts::record_store_transaction(&state, project_id, &owner, transaction, now).await?;
    if let NotificationEffect::TransactionThen(fact) = &effect {
        store_facts::record_lifecycle(&state, project_id, &owner, fact, &latest, now).await?;
    }
    Ok(Json(json!({"recorded": true})))
}
