//! The objects a project is configured with: projects, apps and API keys.

use crate::apps::AppType;
use crate::keys::KeyKind;
use crate::permissions::Permissions;
use crate::time::UnixMillis;

/// A project: the unit that owns apps, customers and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `proj…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What happens when a purchase owned by one customer is posted by another.
    pub transfer_rule: TransferRule,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// RevenueCat's "transfer behavior": who owns a purchase restored by another customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferRule {
    /// The purchase moves to the customer who posted it (RevenueCat's default).
    #[default]
    Transfer,
    /// The purchase stays with its first owner; the other customer gets 409.
    KeepWithOriginal,
}

impl TransferRule {
    /// The stored name: `transfer` or `keep_with_original`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferRule::Transfer => "transfer",
            TransferRule::KeepWithOriginal => "keep_with_original",
        }
    }

    /// Parses a stored or command-line name.
    pub fn parse(value: &str, param: &str) -> Result<Self, crate::ValidationError> {
        match value {
            "transfer" => Ok(TransferRule::Transfer),
            "keep_with_original" => Ok(TransferRule::KeepWithOriginal),
            _ => Err(crate::ValidationError::new(
                param,
                format!("{param} must be transfer or keep_with_original"),
            )),
        }
    }
}

/// An app of a project, selling through one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// `app…`.
    pub id: String,
    /// The owning project.
    pub project_id: String,
    /// Display name.
    pub name: String,
    /// The store it sells through.
    pub app_type: AppType,
    /// App Store bundle id, for `app_store` apps.
    pub bundle_id: Option<String>,
    /// Play package name, for `play_store` apps.
    pub package_name: Option<String>,
    /// Connected Stripe account, for `stripe` apps.
    pub stripe_account_id: Option<String>,
    /// Names of the store credentials set (e.g. `app_store.shared_secret`); never the values.
    pub credential_names: Vec<String>,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// A stored API key: never the key itself, only its lookup and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// `key…` for secret keys, `pubkey…` for public SDK keys.
    pub id: String,
    /// The project the key belongs to.
    pub project_id: String,
    /// For a public SDK key, the app it belongs to.
    pub app_id: Option<String>,
    /// Secret or public.
    pub kind: KeyKind,
    /// A label chosen by the operator.
    pub name: String,
    /// The key's prefix and first random characters (see [`crate::keys`]).
    pub lookup: String,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// What a secret key may do (empty for public keys).
    pub permissions: Permissions,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixMillis>,
}

impl ApiKey {
    /// Whether the key is still usable.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// What kind of thing a product sells (RevenueCat's `ProductType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductType {
    /// An auto-renewing subscription.
    Subscription,
    /// A one-time purchase whose kind the store decides.
    OneTime,
    /// A purchase that can be bought again and used up.
    Consumable,
    /// A purchase owned forever.
    NonConsumable,
    /// A subscription that does not renew by itself.
    NonRenewingSubscription,
}

impl ProductType {
    /// Every product type, in RevenueCat's order.
    pub const ALL: [ProductType; 5] = [
        ProductType::Subscription,
        ProductType::OneTime,
        ProductType::Consumable,
        ProductType::NonConsumable,
        ProductType::NonRenewingSubscription,
    ];

    /// The wire name, e.g. `non_consumable`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductType::Subscription => "subscription",
            ProductType::OneTime => "one_time",
            ProductType::Consumable => "consumable",
            ProductType::NonConsumable => "non_consumable",
            ProductType::NonRenewingSubscription => "non_renewing_subscription",
        }
    }

    /// Parses a wire name; `param` names the field in the error.
    pub fn parse(value: &str, param: &str) -> Result<Self, crate::ValidationError> {
        ProductType::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| {
                crate::ValidationError::new(
                    param,
                    format!(
                        "{param} must be one of subscription, one_time, consumable, non_consumable, non_renewing_subscription"
                    ),
                )
            })
    }
}

/// A product: one store SKU of one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `prod…`.
    pub id: String,
    /// The owning project.
    pub project_id: String,
    /// The app whose store sells it.
    pub app_id: String,
    /// The identifier the store knows it by; unique per app.
    pub store_identifier: String,
    /// What it sells.
    pub product_type: ProductType,
    /// A name for people.
    pub display_name: Option<String>,
    /// For subscriptions: the billing period as an ISO 8601 duration, e.g. `P1M`.
    pub subscription_duration: Option<String>,
    /// What the test store charges for it (test-store products only).
    pub test_store_price: Option<crate::purchases::Money>,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// An entitlement: a level of access (e.g. `pro`) that products unlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    /// `entl…`.
    pub id: String,
    /// The owning project.
    pub project_id: String,
    /// The key apps check, unique per project.
    pub lookup_key: String,
    /// A name for people.
    pub display_name: String,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// An offering: a set of packages shown together on a paywall.
#[derive(Debug, Clone, PartialEq)]
pub struct Offering {
    /// `ofrng…`.
    pub id: String,
    /// The owning project.
    pub project_id: String,
    /// The key apps fetch it by, unique per project.
    pub lookup_key: String,
    /// A name for people.
    pub display_name: String,
    /// Whether apps get this offering by default; at most one per project.
    pub is_current: bool,
    /// Free-form JSON configuration for the paywall.
    pub metadata: Option<serde_json::Value>,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// A package: one choice inside an offering (e.g. `$rc_monthly`), with a product per app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `pkge…`.
    pub id: String,
    /// The owning project.
    pub project_id: String,
    /// The offering it belongs to.
    pub offering_id: String,
    /// Its key, unique within the offering.
    pub lookup_key: String,
    /// A name for people.
    pub display_name: String,
    /// Where it is shown among the offering's packages (1 first), if set.
    pub position: Option<i64>,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// A product attached to a package, with who may buy it that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageProduct {
    /// The product.
    pub product: Product,
    /// `all`, `google_sdk_lt_6` or `google_sdk_ge_6` (RevenueCat's `EligibilityCriteria`).
    pub eligibility_criteria: String,
}

/// Who made a change, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A request authenticated with this secret key id.
    ApiKey(String),
    /// The operator, through the `entitled` command line.
    CommandLine,
}

impl Actor {
    /// RevenueCat's `actor_type`: `api_key` or `system`.
    pub fn actor_type(&self) -> &'static str {
        match self {
            Actor::ApiKey(_) => "api_key",
            Actor::CommandLine => "system",
        }
    }

    /// The key id, or `command_line`.
    pub fn identifier(&self) -> &str {
        match self {
            Actor::ApiKey(id) => id,
            Actor::CommandLine => "command_line",
        }
    }
}

/// One entry of a project's audit log: a change to its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// `audit…`.
    pub id: String,
    /// The project changed.
    pub project_id: String,
    /// What happened, e.g. `entitlement.created`.
    pub action_type: String,
    /// The kind of object changed, e.g. `entitlement`.
    pub target_type: String,
    /// The id of the object changed.
    pub target_identifier: String,
    /// Who did it.
    pub actor: Actor,
    /// When.
    pub occurred_at: UnixMillis,
    /// Details of the change (never secrets).
    pub additional_data: serde_json::Value,
}

impl AuditEntry {
    /// An entry for `action` (e.g. `created`) on `target_type` `target_id`.
    pub fn new(
        project_id: &str,
        target_type: &str,
        target_id: &str,
        action: &str,
        actor: &Actor,
        now: UnixMillis,
        additional_data: serde_json::Value,
    ) -> Self {
        Self {
            id: crate::new_id(crate::IdKind::AuditLog),
            project_id: project_id.to_string(),
            action_type: format!("{target_type}.{action}"),
            target_type: target_type.to_string(),
            target_identifier: target_id.to_string(),
            actor: actor.clone(),
            occurred_at: now,
            additional_data,
        }
    }
}
