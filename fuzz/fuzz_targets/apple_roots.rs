//! The root certificates an operator configures for App Store verification (files of DER,
//! or PEM with one certificate or more) through `TrustedRoots::from_files`.
//!
//! Nothing panics. A refusal is a `Certificate` error; a refusal of a PEM file names the file.
//! A file that is not PEM (not UTF-8, or without `-----BEGIN`) is trusted exactly when it
//! is one certificate `TrustedRoots::new` accepts as DER. Roots that were accepted verify
//! Apple's test chain (the `x5c` of Apple's signed fixtures) only if one of them carries the
//! public key of Apple's test CA (`shared/fixtures/apple/certs/testCA.der`), which signed it.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entitled_stores::app_store::{SignedDataError, TrustedRoots};
use libfuzzer_sys::fuzz_target;

const TEST_CA: &[u8] = include_bytes!("../../../shared/fixtures/apple/certs/testCA.der");
/// Apple's signed transaction under its test CA (apple/app-store-server-library-python, MIT).
const APPLE_SIGNED: &str =
    include_str!("../../../shared/fixtures/apple/mock_signed_data/transactionInfo");
/// Within the validity of Apple's test chain.
const NOW_MS: i64 = 1_795_514_400_000;
const NAME: &str = "roots.pem";
/// The start of a P-256 `SubjectPublicKeyInfo`; the uncompressed point's 64 bytes follow.
const P256_SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
];

struct Apple {
    /// The `x5c` of Apple's signed fixture: leaf, intermediate, root.
    chain: Vec<Vec<u8>>,
    /// The x coordinate of Apple's test CA's public key: in its point whether compressed
    /// or not.
    test_ca_key: Vec<u8>,
}

static APPLE: LazyLock<Apple> = LazyLock::new(|| {
    let header = APPLE_SIGNED.trim().split('.').next().expect("a header");
    let header = URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .expect("base64url");
    let header: serde_json::Value = serde_json::from_slice(&header).expect("a JSON header");
    let chain: Vec<Vec<u8>> = header["x5c"]
        .as_array()
        .expect("an x5c chain")
        .iter()
        .map(|c| STANDARD.decode(c.as_str().expect("base64")).expect("DER"))
        .collect();
    let at = find(TEST_CA, &P256_SPKI_PREFIX).expect("the test CA has a P-256 key");
    let start = at + P256_SPKI_PREFIX.len();
    let test_ca_key = TEST_CA[start..start + 32].to_vec();
    let roots = TrustedRoots::new(&[TEST_CA.to_vec()]).expect("the test CA is a root");
    roots
        .verify(&chain, NOW_MS)
        .expect("Apple's test chain verifies under its CA");
    Apple { chain, test_ca_key }
});

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The DER of every PEM block in `text`, decoded leniently; what the roots may hold.
fn pem_blocks(text: &str) -> Vec<Vec<u8>> {
    let mut blocks = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("-----BEGIN") {
            body = Some(String::new());
        } else if line.starts_with("-----END") {
            if let Some(block) = body.take() {
                blocks.extend(STANDARD.decode(block).ok());
            }
        } else if let Some(block) = body.as_mut() {
            block.push_str(line);
        }
    }
    blocks
}

fuzz_target!(|data: &[u8]| {
    let files = [(NAME.to_string(), data.to_vec())];
    let roots = TrustedRoots::from_files(&files);
    let pem = std::str::from_utf8(data)
        .ok()
        .filter(|t| t.contains("-----BEGIN"));
    match &roots {
        Err(SignedDataError::Certificate(message)) => {
            if pem.is_some() && !message.starts_with("a trusted root") {
                assert!(message.contains(NAME), "{message}");
            }
        }
        Err(other) => panic!("roots refused as {other:?}"),
        Ok(_) => {}
    }
    if pem.is_none() {
        assert_eq!(
            roots.is_ok(),
            TrustedRoots::new(&[data.to_vec()]).is_ok(),
            "a DER file read otherwise than as one certificate"
        );
    }
    if let Ok(roots) = roots {
        let apple = &*APPLE;
        if roots.verify(&apple.chain, NOW_MS).is_ok() {
            let candidates = match pem {
                Some(text) => pem_blocks(text),
                None => vec![data.to_vec()],
            };
            assert!(
                candidates
                    .iter()
                    .any(|der| find(der, &apple.test_ca_key).is_some()),
                "Apple's test chain verified under roots without its CA's key"
            );
        }
    }
});
