//! The server's side of the App Store adapter: turning Apple-signed data into recorded
//! facts for a project. Verification itself lives in `entitled_stores::app_store`.

use entitled_core::App;
use entitled_stores::app_store::{AppStoreTransaction, looks_like_jws};

use crate::AppState;
use crate::error::{ApiError, ErrorKind};

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Unprocessable, message)
}

/// The bundle id Apple must have signed for `app`; 422 when the app has none.
pub(crate) fn bundle_id_of(app: &App) -> Result<&str, ApiError> {
    app.bundle_id.as_deref().ok_or_else(|| {
        unprocessable("This App Store app has no bundle_id; set it before posting its purchases")
    })
}

/// Verifies a StoreKit 2 signed transaction posted by `app` (422 when it is not one, is not
/// signed by Apple, or is another app's).
pub(crate) fn verify_signed_transaction(
    state: &AppState,
    app: &App,
    fetch_token: &str,
) -> Result<AppStoreTransaction, ApiError> {
    if !looks_like_jws(fetch_token) {
        return Err(unprocessable(
            "This App Store receipt is not a StoreKit 2 signed transaction; entitled verifies signed transactions (jwsRepresentation) and does not call the App Store Server API",
        ));
    }
    state
        .apple
        .verify_transaction(fetch_token, bundle_id_of(app)?, state.now())
        .map_err(|e| unprocessable(format!("The App Store purchase was not verified: {e}")))
}
