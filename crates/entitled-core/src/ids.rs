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

/// A fresh request id: a random (version 4) UUID in its usual text form, drawn from the
/// thread's generator, which the OS seeds, instead of a system call for every request.
pub fn new_request_id() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
    let v = u128::from_be_bytes(bytes);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        v >> 96,
        (v >> 80) & 0xffff,
        (v >> 64) & 0xffff,
        (v >> 48) & 0xffff,
        v & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids_and_differ() {
        let ids: Vec<String> = (0..64).map(|_| new_request_id()).collect();
        for id in &ids {
            let groups: Vec<&str> = id.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
            assert!(
                id.chars()
                    .all(|c| c == '-' || matches!(c, '0'..='9' | 'a'..='f'))
            );
            assert!(groups[2].starts_with('4'), "version: {id}");
            assert!(
                matches!(&groups[3][..1], "8" | "9" | "a" | "b"),
                "variant: {id}"
            );
        }
        let mut distinct = ids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), ids.len());
    }

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
