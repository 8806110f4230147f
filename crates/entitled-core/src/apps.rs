//! App types: which store an app sells through, and what that implies for its keys.

use serde::{Deserialize, Serialize};

use crate::validation::ValidationError;

/// The store an app belongs to. Names are RevenueCat's `App.type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    /// Apple's App Store (iOS, iPadOS, macOS via StoreKit).
    AppStore,
    /// Google Play.
    PlayStore,
    /// Stripe (web purchases).
    Stripe,
    /// entitled's own store for testing purchase flows with no real store.
    #[default]
    TestStore,
}

impl AppType {
    /// Every supported app type, in a stable order.
    pub const ALL: [AppType; 4] = [
        AppType::AppStore,
        AppType::PlayStore,
        AppType::Stripe,
        AppType::TestStore,
    ];

    /// The wire name, e.g. `app_store`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppType::AppStore => "app_store",
            AppType::PlayStore => "play_store",
            AppType::Stripe => "stripe",
            AppType::TestStore => "test_store",
        }
    }

    /// Parses a wire name; `param` names the field in the error.
    pub fn parse(value: &str, param: &str) -> Result<Self, ValidationError> {
        AppType::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| {
                ValidationError::new(
                    param,
                    format!(
                        "{param} must be one of app_store, play_store, stripe, test_store (got {value:?})"
                    ),
                )
            })
    }

    /// The prefix of this app's public SDK key, as RevenueCat's SDKs expect it.
    pub fn public_key_prefix(self) -> &'static str {
        match self {
            AppType::AppStore => "appl_",
            AppType::PlayStore => "goog_",
            AppType::Stripe => "strp_",
            AppType::TestStore => "test_",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in AppType::ALL {
            assert_eq!(AppType::parse(t.as_str(), "type"), Ok(t));
        }
    }

    #[test]
    fn unknown_type_names_the_param() {
        let err = AppType::parse("amazon", "type").unwrap_err();
        assert_eq!(err.param, "type");
        assert!(err.message.contains("amazon"));
    }
}
