//! Customers: who they are (ids and aliases), what they tell us (attributes), and what they
//! are granted outside any store (promotional grants).

use crate::time::UnixMillis;
use crate::validation::ValidationError;

/// A customer of a project, known by its original app user id and any number of aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Internal, globally unique key that never changes (`cust…`); never shown.
    pub key: String,
    /// The project.
    pub project_id: String,
    /// The original app user id: the customer's id in the API.
    pub id: String,
    /// When the customer was first seen.
    pub first_seen_at: UnixMillis,
    /// When the customer was last seen by an SDK, if ever.
    pub last_seen_at: Option<UnixMillis>,
    /// The app version last seen.
    pub last_seen_app_version: Option<String>,
    /// The country last seen (ISO 3166-1 alpha-2).
    pub last_seen_country: Option<String>,
    /// The platform last seen (`iOS`, `Android`, …).
    pub last_seen_platform: Option<String>,
    /// The platform version last seen.
    pub last_seen_platform_version: Option<String>,
    /// An offering assigned to this customer instead of the project's current one.
    pub offering_id: Option<String>,
}

/// How stale `last_seen_at` may get before a read records the visit again. Reads are most of
/// an SDK's traffic; writing on each one would serialize them all behind the database's
/// writer for a timestamp nobody needs to the millisecond.
pub const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;

impl Customer {
    /// A customer first seen at `at`, with nothing else known about it yet.
    pub fn first_seen(key: String, project_id: String, id: String, at: UnixMillis) -> Self {
        Self {
            key,
            project_id,
            id,
            first_seen_at: at,
            last_seen_at: None,
            last_seen_app_version: None,
            last_seen_country: None,
            last_seen_platform: None,
            last_seen_platform_version: None,
            offering_id: None,
        }
    }

    /// Whether a visit at `now` reporting this client should be written: the last one is
    /// older than [`LAST_SEEN_RESOLUTION_MS`] (or in the future, after a clock change), or
    /// the client reports something new. `None` fields report nothing.
    pub fn visit_is_news(
        &self,
        now: UnixMillis,
        app_version: Option<&str>,
        platform: Option<&str>,
        platform_version: Option<&str>,
    ) -> bool {
        let stale = self.last_seen_at.is_none_or(|seen| {
            now.0.saturating_sub(seen.0) >= LAST_SEEN_RESOLUTION_MS || seen > now
        });
        let changed = |reported: Option<&str>, known: &Option<String>| {
            reported.is_some_and(|r| known.as_deref() != Some(r))
        };
        stale
            || changed(app_version, &self.last_seen_app_version)
            || changed(platform, &self.last_seen_platform)
            || changed(platform_version, &self.last_seen_platform_version)
    }
}

/// Another app user id that resolves to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAlias {
    /// The alias (an app user id).
    pub id: String,
    /// When it was linked.
    pub created_at: UnixMillis,
}

/// A subscriber attribute (`$email`, or a custom key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The name.
    pub name: String,
    /// The value.
    pub value: Option<String>,
    /// When it was last set.
    pub updated_at: UnixMillis,
}

/// An entitlement granted to a customer by the project, not bought in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionalGrant {
    /// `grant…`.
    pub id: String,
    /// The customer's internal key.
    pub customer_key: String,
    /// The entitlement granted.
    pub entitlement_id: String,
    /// When the grant starts.
    pub starts_at: UnixMillis,
    /// When it ends; `None` for lifetime grants.
    pub expires_at: Option<UnixMillis>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixMillis>,
}

/// An entitlement active for a customer now, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveEntitlement {
    /// The entitlement.
    pub entitlement_id: String,
    /// When it stops being active; `None` when it never does.
    pub expires_at: Option<UnixMillis>,
}

/// Checks an app user id for a customer created through v2: 1 to 1500 of letters, digits,
/// `_` and `-` (RevenueCat's rule; SDK ids such as `$RCAnonymousID:…` arrive through v1).
pub fn customer_id(value: &str, param: &str) -> Result<String, ValidationError> {
    let valid = !value.is_empty()
        && value.len() <= 1500
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(value.to_string())
    } else {
        Err(ValidationError::new(
            param,
            format!("{param} must be 1 to 1500 letters, digits, '_' or '-'"),
        ))
    }
}

/// The `$` attribute names RevenueCat reserves; any other `$` name is refused.
pub const RESERVED_ATTRIBUTES: &[&str] = &[
    "$ad",
    "$adGroup",
    "$adjustId",
    "$airbridgeDeviceId",
    "$airshipChannelId",
    "$amazonAdId",
    "$amplitudeDeviceId",
    "$amplitudeUserId",
    "$appleRefundHandlingPreference",
    "$appleAdsAdGroupId",
    "$appleAdsCampaignId",
    "$appleAdsKeywordId",
    "$apnsTokens",
    "$appsflyerId",
    "$appsflyerSharingFilter",
    "$attConsentStatus",
    "$branchId",
    "$brazeAliasLabel",
    "$brazeAliasName",
    "$campaign",
    "$clevertapId",
    "$creative",
    "$customerioId",
    "$displayName",
    "$email",
    "$fbAnonId",
    "$fcmTokens",
    "$firebaseAppInstanceId",
    "$gpsAdId",
    "$idfa",
    "$idfv",
    "$ip",
    "$iterableCampaignId",
    "$iterableTemplateId",
    "$iterableUserId",
    "$keyword",
    "$kochavaDeviceId",
    "$mediaSource",
    "$mixpanelDistinctId",
    "$mparticleId",
    "$onesignalId",
    "$onesignalUserId",
    "$phoneNumber",
    "$posthogUserId",
    "$telemetryDeckUserId",
    "$telemetryDeckAppId",
    "$segmentId",
    "$solarEngineDistinctId",
    "$solarEngineAccountId",
    "$solarEngineVisitorId",
    "$tenjinId",
    "$deviceVersion",
];

/// Longest attribute value accepted.
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 500;

/// Checks an attribute name and value: a reserved `$` name, or a custom name of 1 to 40
/// characters starting with a letter (letters, digits, `_`, `-`); values up to 500 characters.
pub fn attribute(name: &str, value: Option<&str>, param: &str) -> Result<(), ValidationError> {
    if name.starts_with('$') {
        if !RESERVED_ATTRIBUTES.contains(&name) {
            return Err(ValidationError::new(
                format!("{param}.name"),
                format!(
                    "{name:?} is not a reserved attribute; custom names must not start with '$'"
                ),
            ));
        }
    } else {
        let mut chars = name.chars();
        let valid = name.len() <= 40
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(ValidationError::new(
                format!("{param}.name"),
                "attribute names are 1 to 40 characters: a letter, then letters, digits, '_' or '-'",
            ));
        }
    }
    if value.is_some_and(|v| v.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS) {
        return Err(ValidationError::new(
            format!("{param}.value"),
            format!("attribute values are at most {MAX_ATTRIBUTE_VALUE_CHARS} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn visits_are_written_when_stale_or_new() {
        use super::{Customer, LAST_SEEN_RESOLUTION_MS};
        use crate::UnixMillis;
        let seen = UnixMillis(1_000_000);
        let customer = Customer {
            key: "custk".into(),
            project_id: "proj".into(),
            id: "u".into(),
            first_seen_at: seen,
            last_seen_at: Some(seen),
            last_seen_app_version: Some("1.0".into()),
            last_seen_country: None,
            last_seen_platform: Some("iOS".into()),
            last_seen_platform_version: None,
            offering_id: None,
        };
        let soon = UnixMillis(seen.0 + LAST_SEEN_RESOLUTION_MS - 1);
        let later = UnixMillis(seen.0 + LAST_SEEN_RESOLUTION_MS);
        assert!(!customer.visit_is_news(soon, Some("1.0"), Some("iOS"), None));
        assert!(
            !customer.visit_is_news(soon, None, None, None),
            "nothing reported"
        );
        assert!(customer.visit_is_news(later, None, None, None), "stale");
        assert!(
            customer.visit_is_news(soon, Some("1.1"), None, None),
            "new version"
        );
        assert!(
            customer.visit_is_news(soon, None, None, Some("17.0")),
            "first platform version"
        );
        assert!(
            customer.visit_is_news(UnixMillis(seen.0 - 1), None, None, None),
            "clock moved back"
        );
        let unseen = Customer {
            last_seen_at: None,
            ..customer
        };
        assert!(unseen.visit_is_news(seen, None, None, None), "never seen");
    }

    use super::*;

    #[test]
    fn attribute_names_and_values() {
        assert!(attribute("$email", Some("a@b.c"), "attributes[0]").is_ok());
        assert!(attribute("favorite_color", None, "a").is_ok());
        assert_eq!(
            attribute("$madeUp", None, "attributes[1]")
                .unwrap_err()
                .param,
            "attributes[1].name"
        );
        assert!(attribute("1abc", None, "a").is_err());
        assert!(attribute(&"a".repeat(41), None, "a").is_err());
        assert_eq!(
            attribute("note", Some(&"x".repeat(501)), "attributes[2]")
                .unwrap_err()
                .param,
            "attributes[2].value"
        );
    }

    #[test]
    fn customer_ids() {
        assert!(customer_id("user_123-abc", "id").is_ok());
        assert!(customer_id("", "id").is_err());
        assert!(customer_id("has space", "id").is_err());
        assert!(customer_id("$RCAnonymousID:abc", "id").is_err());
    }
}

/// A move of a customer's store purchases to another customer (a fact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// `xfer…`.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// Whose purchases move.
    pub source_customer_key: String,
    /// Who receives them.
    pub target_customer_key: String,
    /// Only the purchases of these apps; `None` for all.
    pub app_ids: Option<Vec<String>>,
    /// When.
    pub transferred_at: UnixMillis,
}
