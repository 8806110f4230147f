//! API keys: `lookup_of` (which rows a presented key may match), the key hash check, and
//! the `Authorization: Bearer …` header that carries them.
#![no_main]

use arbitrary::Arbitrary;
use entitled_core::{hash_key, lookup_of, verify_key_hash};
use entitled_server::auth::parse_bearer;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// A key as a client may present it.
    key: &'a str,
    /// A stored hash, as a corrupted row may hold it.
    stored_hash: &'a str,
    /// A whole `Authorization` header value.
    header: &'a str,
    /// Material for a well-formed key: prefix and random part.
    prefix: Vec<u8>,
    random: [u8; 32],
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fuzz_target!(|input: Input<'_>| {
    // Any key that has a lookup has the shape of ours, and the lookup is its start.
    if let Some(lookup) = lookup_of(input.key) {
        let (prefix, random) = input.key.split_once('_').expect("a lookup needs a '_'");
        assert!((1..=8).contains(&prefix.len()));
        assert!(prefix.bytes().all(|b| b.is_ascii_lowercase()));
        assert_eq!(random.len(), 32);
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(lookup.len(), prefix.len() + 1 + 8);
        assert!(input.key.starts_with(&lookup));
        // The lookup is itself no key.
        assert_eq!(lookup_of(&lookup), None);
    }

    // A key always verifies against its own hash, and a wrong hash never panics.
    let hash = hash_key(input.key);
    assert_eq!(hash.len(), 64);
    assert!(verify_key_hash(input.key, &hash));
    let matches = verify_key_hash(input.key, input.stored_hash);
    assert_eq!(matches, input.stored_hash.eq_ignore_ascii_case(&hash));

    // Every well-formed key has a lookup, and it is the prefix plus 8 characters.
    let prefix: String = input
        .prefix
        .iter()
        .take(8)
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    if !prefix.is_empty() {
        let random: String = input
            .random
            .iter()
            .map(|b| char::from(ALPHANUMERIC[usize::from(*b) % ALPHANUMERIC.len()]))
            .collect();
        let key = format!("{prefix}_{random}");
        assert_eq!(lookup_of(&key), Some(format!("{prefix}_{}", &random[..8])));
    }

    // A bearer token, when there is one, is the non-empty trimmed rest of the header.
    if let Ok(token) = parse_bearer(input.header) {
        assert!(!token.is_empty());
        assert_eq!(token, token.trim());
        let (scheme, rest) = input.header.split_once(' ').expect("a scheme and a token");
        assert!(scheme.eq_ignore_ascii_case("bearer"));
        assert_eq!(rest.trim(), token);
    }
});
