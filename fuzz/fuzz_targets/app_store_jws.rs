//! App Store signed data as a receipt carries it (StoreKit 2's `jwsRepresentation`), through
//! `SignedDataVerifier::verify_bytes` and `verify_transaction`, with Apple's test CA
//! (`shared/fixtures/apple/certs/testCA.der`) the one trusted root. Each input is tried as
//! the compact JWS itself and, when it has two lines or more, as its decoded parts (the
//! header's JSON, the payload's JSON, then the signature in base64url, one a line), which the
//! target encodes: mutations then reach the `x5c` chain and the payload's JSON instead of
//! stopping at base64. Nothing panics, and nothing Apple's test CA did not sign is accepted.
#![no_main]

use std::sync::LazyLock;

use entitled_core::UnixMillis;
use entitled_stores::app_store::{
    MAX_SIGNED_DATA_LEN, SignedDataError, SignedDataVerifier, TrustedRoots, encode_part,
};
use libfuzzer_sys::fuzz_target;

const TEST_CA: &[u8] = include_bytes!("../../../shared/fixtures/apple/certs/testCA.der");
/// Apple's own signed data under its test CA (apple/app-store-server-library-python, MIT).
const APPLE_SIGNED: [&str; 5] = [
    include_str!("../../../shared/fixtures/apple/mock_signed_data/transactionInfo"),
    include_str!("../../../shared/fixtures/apple/mock_signed_data/renewalInfo"),
    include_str!("../../../shared/fixtures/apple/mock_signed_data/testNotification"),
    include_str!("../../../shared/fixtures/apple/mock_signed_data/wrongBundleId"),
    include_str!("../../../shared/fixtures/apple/mock_signed_data/missingX5CHeaderClaim"),
];
/// The bundle of Apple's fixtures.
const BUNDLE: &str = "com.example";
const NOW: UnixMillis = UnixMillis(1_795_514_400_000);

static VERIFIER: LazyLock<SignedDataVerifier> = LazyLock::new(|| {
    SignedDataVerifier::new(
        TrustedRoots::new(&[TEST_CA.to_vec()]).expect("Apple's test CA is a root"),
    )
});

/// The part a signature covers: header and payload as written, joined by their dot.
fn signed_part(jws: &str) -> Option<&str> {
    let jws = jws.trim();
    let (signed, signature) = jws.rsplit_once('.')?;
    (!signature.contains('.') && signed.matches('.').count() == 1).then_some(signed)
}

fn check(jws: &str) {
    let bytes = VERIFIER.verify_bytes(jws, NOW);
    match &bytes {
        Ok(payload) => {
            let signed = signed_part(jws).expect("accepted data has three parts");
            assert!(
                APPLE_SIGNED.iter().any(|s| signed_part(s) == Some(signed)),
                "accepted what Apple's test CA did not sign: {jws:?}"
            );
            assert!(serde_json::from_slice::<serde_json::Value>(payload).is_ok());
        }
        Err(SignedDataError::WrongBundle { .. }) => panic!("verify_bytes checks no bundle"),
        Err(err) => assert!(!err.to_string().is_empty()),
    }
    if jws.len() > MAX_SIGNED_DATA_LEN {
        assert!(matches!(bytes, Err(SignedDataError::Malformed(_))));
    }
    // A transaction is signed data first: the same refusal, or a payload read further.
    match (VERIFIER.verify_transaction(jws, BUNDLE, NOW), &bytes) {
        (Err(err), Err(expected)) => assert_eq!(&err, expected),
        (Ok(transaction), Ok(_)) => assert_eq!(transaction.bundle_id, BUNDLE),
        (Err(SignedDataError::WrongBundle { expected, found }), Ok(_)) => {
            assert_eq!(expected, BUNDLE);
            assert_ne!(found, BUNDLE);
        }
        (Err(SignedDataError::Payload(_)), Ok(_)) => {}
        (transaction, bytes) => panic!("verify_transaction {transaction:?} after {bytes:?}"),
    }
}

/// `header JSON \n payload JSON \n signature` as compact JWS.
fn encoded(text: &str) -> Option<String> {
    let mut lines = text.lines();
    let header = lines.next()?;
    let payload = lines.next()?;
    let signature = lines.next().unwrap_or("");
    Some(format!(
        "{}.{}.{signature}",
        encode_part(header.as_bytes()),
        encode_part(payload.as_bytes())
    ))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
    if let Some(jws) = encoded(&text) {
        check(&jws);
    }
});
