//! API keys: generation, the hash we store instead of the key, and constant-time checks.
//!
//! A key is `<prefix><32 random alphanumerics>`. We store only its SHA-256 and a short
//! `lookup` (the prefix plus the first random characters) used to find candidate rows;
//! the full key is shown once, at creation. The random part carries ~190 bits, so a fast
//! hash is enough: there is nothing to brute-force.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether a key is a secret server key or a public SDK key embedded in apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `sk_…`: server-side, carries permissions.
    Secret,
    /// `appl_…`, `goog_…`, `strp_…`, `test_…`: one per app, v1 SDK endpoints only.
    Public,
}

impl KeyKind {
    /// The stored name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Public => "public",
        }
    }

    /// Parses a stored name.
    pub fn from_stored(value: &str) -> Option<Self> {
        match value {
            "secret" => Some(KeyKind::Secret),
            "public" => Some(KeyKind::Public),
            _ => None,
        }
    }
}

/// The prefix of every secret key.
pub const SECRET_KEY_PREFIX: &str = "sk_";
const RANDOM_LEN: usize = 32;
const LOOKUP_RANDOM_LEN: usize = 8;

/// A freshly generated key: the plaintext (show once, then drop) and what to store.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// The full key, to hand to the user exactly once.
    pub plaintext: String,
    /// The prefix plus the first random characters, used to find the stored row.
    pub lookup: String,
    /// Hex SHA-256 of the full key.
    pub hash: String,
}

impl GeneratedKey {
    /// A new random key with the given prefix (`sk_`, `test_`, …).
    pub fn generate(prefix: &str) -> Self {
        let mut rng = rand::rng();
        let random: String = (0..RANDOM_LEN)
            .map(|_| char::from(rng.sample(Alphanumeric)))
            .collect();
        let plaintext = format!("{prefix}{random}");
        let lookup = lookup_of(&plaintext).unwrap_or_default();
        let hash = hash_key(&plaintext);
        Self {
            plaintext,
            lookup,
            hash,
        }
    }
}

/// The lookup part of a presented key, or `None` when it cannot be one of ours.
pub fn lookup_of(key: &str) -> Option<String> {
    let (prefix, random) = key.split_once('_')?;
    let valid_shape = !prefix.is_empty()
        && prefix.len() <= 8
        && prefix.chars().all(|c| c.is_ascii_lowercase())
        && random.len() == RANDOM_LEN
        && random.chars().all(|c| c.is_ascii_alphanumeric());
    valid_shape.then(|| format!("{prefix}_{}", &random[..LOOKUP_RANDOM_LEN]))
}

/// Hex SHA-256 of a key, the only form in which keys are stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether `presented` hashes to `stored_hash`, compared in constant time.
pub fn verify_key_hash(presented: &str, stored_hash: &str) -> bool {
    let Ok(stored) = hex::decode(stored_hash) else {
        return false;
    };
    let computed = Sha256::digest(presented.as_bytes());
    computed[..].ct_eq(stored.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_verify_against_their_hash_only() {
        let key = GeneratedKey::generate(SECRET_KEY_PREFIX);
        assert!(key.plaintext.starts_with("sk_"));
        assert_eq!(key.plaintext.len(), 3 + RANDOM_LEN);
        assert!(verify_key_hash(&key.plaintext, &key.hash));
        let other = GeneratedKey::generate(SECRET_KEY_PREFIX);
        assert!(!verify_key_hash(&other.plaintext, &key.hash));
        assert!(!verify_key_hash(&key.plaintext, "not hex"));
        assert!(!key.hash.contains(&key.plaintext));
    }

    #[test]
    fn lookup_is_prefix_and_start_of_random_part() {
        let key = GeneratedKey::generate("test_");
        assert_eq!(key.lookup, key.plaintext[..5 + LOOKUP_RANDOM_LEN]);
        assert_eq!(lookup_of(&key.plaintext), Some(key.lookup.clone()));
    }

    #[test]
    fn malformed_keys_have_no_lookup() {
        assert_eq!(lookup_of(""), None);
        assert_eq!(lookup_of("sk_short"), None);
        assert_eq!(lookup_of("nounderscore"), None);
        assert_eq!(lookup_of(&format!("SK_{}", "a".repeat(32))), None);
        assert_eq!(lookup_of(&format!("sk_{}", "é".repeat(16))), None);
        assert_eq!(lookup_of(&format!("sk_{}!", "a".repeat(31))), None);
    }
}
