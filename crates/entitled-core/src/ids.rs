//! Opaque, prefixed identifiers (`proj…`, `app…`, `key…`) as RevenueCat uses them.

use rand::Rng;
use rand::distr::Alphanumeric;

/// The kinds of objects that get a generated id, each with its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A project: `proj…`.
    Project,
    /// An app inside a project: `app…`.
    App,
    /// A secret API key record: `sk_id…` is avoided so ids never look like keys: `key…`.
    ApiKey,
    /// A public SDK key record: `pubkey…`.
    PublicKey,
    /// A product: `prod…`.
    Product,
    /// An entitlement: `entl…`.
    Entitlement,
    /// An offering: `ofrng…`.
    Offering,
    /// A package: `pkge…`.
    Package,
    /// An audit log entry: `audit…`.
    AuditLog,
    /// A customer's internal key: `cust…`.
    CustomerKey,
    /// A promotional grant: `grant…`.
    Grant,
    /// A transfer of purchases between customers: `xfer…`.
    Transfer,
    /// A recorded store transaction: `txn…`.
    Transaction,
    /// A recorded lifecycle event: `evt…`.
    LifecycleEvent,
    /// A webhook integration: `whk…`.
    WebhookIntegration,
    /// A webhook delivery: `dlv…`.
    Delivery,
    /// A background job: `job…`.
    Job,
    /// A temporary entitlement granted while a store could not verify a purchase: `tmpg…`.
    TemporaryGrant,
}

impl IdKind {
    /// The prefix every id of this kind starts with.
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Project => "proj",
            IdKind::App => "app",
            IdKind::ApiKey => "key",
            IdKind::PublicKey => "pubkey",
            IdKind::Product => "prod",
            IdKind::Entitlement => "entl",
            IdKind::Offering => "ofrng",
            IdKind::Package => "pkge",
            IdKind::AuditLog => "audit",
            IdKind::CustomerKey => "cust",
            IdKind::Grant => "grant",
            IdKind::Transfer => "xfer",
            IdKind::Transaction => "txn",
            IdKind::LifecycleEvent => "evt",
            IdKind::WebhookIntegration => "whk",
            IdKind::Delivery => "dlv",
            IdKind::Job => "job",
            IdKind::TemporaryGrant => "tmpg",
        }
    }
}

/// Length of the random part of an id: 12 lowercase alphanumerics, about 62 bits.
const ID_RANDOM_LEN: usize = 12;

/// A fresh random id of the given kind, e.g. `proj3k9x0a1b2c4d`.
pub fn new_id(kind: IdKind) -> String {
    let mut rng = rand::rng();
    let random: String = (0..ID_RANDOM_LEN)
        .map(|_| char::from(rng.sample(Alphanumeric)).to_ascii_lowercase())
        .collect();
    format!("{}{}", kind.prefix(), random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let a = new_id(IdKind::Project);
        let b = new_id(IdKind::Project);
        assert!(a.starts_with("proj"));
        assert_eq!(a.len(), 4 + ID_RANDOM_LEN);
        assert_ne!(a, b);
        assert!(new_id(IdKind::App).starts_with("app"));
        assert!(
            a[4..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
