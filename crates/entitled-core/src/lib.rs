#![warn(missing_docs)]
//! The domain core of entitled: identifiers, API keys, permissions and the rules of the
//! catalog. Nothing here performs I/O or reads the clock; callers pass `now` in.

pub mod apps;
pub mod catalog;
pub mod customers;
pub mod engine;
pub mod events;
pub mod ids;
pub mod keys;
pub mod permissions;
pub mod purchases;
pub mod rate_limits;
pub mod test_store;
pub mod time;
pub mod validation;
pub mod webhooks;

pub use apps::AppType;
pub use catalog::{
    Actor, ApiKey, App, AuditEntry, Entitlement, Offering, Package, PackageProduct, Product,
    ProductType, Project, TransferRule,
};
pub use customers::{
    ActiveEntitlement, Attribute, Customer, CustomerAlias, PromotionalGrant, Transfer,
};
pub use ids::{IdKind, new_id};
pub use keys::{GeneratedKey, KeyKind, hash_key, lookup_of, verify_key_hash};
pub use permissions::{Access, Permissions, Scope};
pub use time::UnixMillis;
pub use validation::ValidationError;
