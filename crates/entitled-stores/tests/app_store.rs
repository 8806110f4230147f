//! The App Store adapter against Apple's own test vectors (fixtures/apple, MIT, from
//! apple/app-store-server-library-python) and against data signed by a test CA made here.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entitled_core::UnixMillis;
use entitled_core::purchases::{LifecycleKind, Store};
use entitled_stores::app_store::{
    APPLE_ROOT_CA_G3, NotificationBody, NotificationEffect, SignedDataError, SignedDataVerifier,
    TrustedRoots,
};
use entitled_testkit::apple::{AppleSigner, transaction_payload};
use serde_json::json;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/apple"
);
/// The moment Apple's chain tests verify at (their EFFECTIVE_DATE), in ms.
const APPLE_EFFECTIVE_MS: i64 = 1_761_962_975_000;
const NOW: UnixMillis = UnixMillis(1_795_514_400_000);

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}"))
        .unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn pem_der(path: &str) -> Vec<u8> {
    let body: String = fixture(path)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).expect("PEM body is base64")
}

fn apple_test_roots() -> TrustedRoots {
    let der = std::fs::read(format!("{FIXTURES}/certs/testCA.der")).expect("testCA.der");
    TrustedRoots::new(&[der]).expect("Apple's test CA is a root")
}

#[test]
fn apples_signed_transaction_verifies_under_its_test_root_only() {
    let jws = fixture("mock_signed_data/transactionInfo");
    let verifier = SignedDataVerifier::new(apple_test_roots());
    let payload: serde_json::Value = verifier.verify(&jws, NOW).unwrap();
    assert_eq!(payload["bundleId"], "com.example");
    assert_eq!(payload["signedDate"], 1672956154000_i64);

    let production = SignedDataVerifier::new(TrustedRoots::apple());
    let err = production.verify_bytes(&jws, NOW).unwrap_err();
    assert!(matches!(err, SignedDataError::Certificate(_)), "{err:?}");
}

#[test]
fn apples_negative_vectors_are_refused_for_their_reasons() {
    let verifier = SignedDataVerifier::new(apple_test_roots());
    let missing = fixture("mock_signed_data/missingX5CHeaderClaim");
    let err = verifier.verify_bytes(&missing, NOW).unwrap_err();
    assert!(
        matches!(err, SignedDataError::Certificate(ref m) if m.contains("x5c")),
        "{err:?}"
    );

    let wrong_bundle = NotificationBody {
        signed_payload: fixture("mock_signed_data/wrongBundleId"),
    };
    let err = verifier
        .verify_notification(&wrong_bundle, "com.example", NOW)
        .unwrap_err();
    assert_eq!(
        err,
        SignedDataError::WrongBundle {
            expected: "com.example".into(),
            found: "com.example.wrong".into()
        }
    );

    let test = NotificationBody {
        signed_payload: fixture("mock_signed_data/testNotification"),
    };
    let notification = verifier
        .verify_notification(&test, "com.example", NOW)
        .unwrap();
    assert_eq!(notification.notification_type, "TEST");
    assert_eq!(notification.effect(), NotificationEffect::Nothing);

    let original = fixture("mock_signed_data/transactionInfo");
    let payload = URL_SAFE_NO_PAD.encode(
        br#"{"environment":"Production","bundleId":"com.example","signedDate":1672956154000}"#,
    );
    let parts: Vec<&str> = original.trim().split('.').collect();
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(
        verifier.verify_bytes(&tampered, NOW).unwrap_err(),
        SignedDataError::Signature
    );
}

#[test]
fn apples_chain_vectors() {
    let test_roots = TrustedRoots::new(&[pem_der("x509-chain/test-root.pem")]).unwrap();
    let leaf_key = test_roots
        .verify(
            &[
                pem_der("x509-chain/test-leaf.pem"),
                pem_der("x509-chain/test-intermediate.pem"),
            ],
            APPLE_EFFECTIVE_MS,
        )
        .unwrap();
    let expected = pem_der("x509-chain/test-leaf-public-key.pem");
    assert!(expected.ends_with(&leaf_key), "the leaf's key is returned");

    for (leaf, intermediate) in [
        ("test-leaf-invalid-oid.pem", "test-intermediate.pem"),
        (
            "test-leaf-under-invalid-oid-intermediate.pem",
            "test-intermediate-invalid-oid.pem",
        ),
    ] {
        let err = test_roots
            .verify(
                &[
                    pem_der(&format!("x509-chain/{leaf}")),
                    pem_der(&format!("x509-chain/{intermediate}")),
                ],
                APPLE_EFFECTIVE_MS,
            )
            .unwrap_err();
        assert!(
            matches!(err, SignedDataError::Certificate(ref m) if m.contains("marker")),
            "{leaf}: {err:?}"
        );
    }

    let apple = TrustedRoots::apple();
    assert_eq!(
        pem_der("x509-chain/real-apple-root-g3.pem"),
        APPLE_ROOT_CA_G3,
        "the embedded root is Apple Root CA - G3"
    );
    apple
        .verify(
            &[
                pem_der("x509-chain/real-apple-signing-leaf.pem"),
                pem_der("x509-chain/real-apple-wwdr-intermediate.pem"),
            ],
            APPLE_EFFECTIVE_MS,
        )
        .expect("Apple's real chain verifies under the embedded root");
    let err = apple
        .verify(
            &[
                pem_der("x509-chain/test-leaf.pem"),
                pem_der("x509-chain/test-intermediate.pem"),
            ],
            APPLE_EFFECTIVE_MS,
        )
        .unwrap_err();
    assert!(matches!(err, SignedDataError::Certificate(_)));
}

fn verifier_for(signer: &AppleSigner) -> SignedDataVerifier {
    SignedDataVerifier::new(TrustedRoots::new(&[signer.root_der()]).unwrap())
}

#[test]
fn a_transaction_signed_by_a_trusted_chain_becomes_a_fact() {
    let signer = AppleSigner::new();
    let payload = transaction_payload(
        "com.acme.app",
        "2000",
        "1000",
        "pro_monthly",
        1_790_000_000_000,
        Some(1_792_592_000_000),
    );
    let jws = signer.sign(&payload);
    let verifier = verifier_for(&signer);
    let transaction = verifier
        .verify_transaction(&jws, "com.acme.app", NOW)
        .unwrap();
    let fact = transaction.to_fact("app1", "cus1").unwrap();
    assert_eq!(fact.store, Store::AppStore);
    assert_eq!(fact.original_transaction_id, "1000");
    assert_eq!(fact.expires_at, Some(UnixMillis(1_792_592_000_000)));
    assert_eq!(fact.price.unwrap().amount_micros, 4_990_000);

    assert!(matches!(
        verifier.verify_transaction(&jws, "com.other", NOW),
        Err(SignedDataError::WrongBundle { .. })
    ));
    let stranger = AppleSigner::new();
    assert!(matches!(
        verifier_for(&stranger).verify_transaction(&jws, "com.acme.app", NOW),
        Err(SignedDataError::Certificate(_))
    ));
}

#[test]
fn chains_without_apples_marker_or_outside_their_validity_are_refused() {
    let unmarked = AppleSigner::without_leaf_marker();
    let payload = transaction_payload("b", "1", "1", "p", 1_790_000_000_000, None);
    let err = verifier_for(&unmarked)
        .verify_bytes(&unmarked.sign(&payload), NOW)
        .unwrap_err();
    assert!(matches!(err, SignedDataError::Certificate(ref m) if m.contains("marker")));

    let signer = AppleSigner::new();
    let mut late = payload.clone();
    late["signedDate"] = json!(2_300_000_000_000_i64); // 2042: the test leaf expired in 2040
    let err = verifier_for(&signer)
        .verify_bytes(&signer.sign(&late), NOW)
        .unwrap_err();
    assert!(
        matches!(err, SignedDataError::Certificate(ref m) if m.contains("chain")),
        "{err:?}"
    );
}

#[test]
fn only_es256_compact_jws_is_read() {
    let signer = AppleSigner::new();
    let verifier = verifier_for(&signer);
    let jws = signer.sign(&transaction_payload(
        "b",
        "1",
        "1",
        "p",
        1_790_000_000_000,
        None,
    ));
    let parts: Vec<&str> = jws.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","x5c":[]}"#);
    for (bad, why) in [
        (format!("{none_header}.{}.", parts[1]), "alg none"),
        (format!("{}.{}", parts[0], parts[1]), "two parts"),
        (format!("{jws}.x"), "four parts"),
        (
            format!("{}.!!!.{}", parts[0], parts[2]),
            "payload not base64url",
        ),
        ("x".repeat(70_000), "too long"),
    ] {
        let err = verifier.verify_bytes(&bad, NOW).unwrap_err();
        assert!(
            matches!(err, SignedDataError::Malformed(_)),
            "{why}: {err:?}"
        );
    }
}

fn notification(
    signer: &AppleSigner,
    kind: &str,
    subtype: Option<&str>,
    transaction: &serde_json::Value,
) -> NotificationBody {
    let renewal = json!({"originalTransactionId": "1000",
        "gracePeriodExpiresDate": 1_795_000_000_000_i64, "signedDate": 1_790_000_000_000_i64});
    NotificationBody {
        signed_payload: signer.sign(&json!({
            "notificationType": kind,
            "subtype": subtype,
            "notificationUUID": format!("uuid-{kind}"),
            "signedDate": 1_791_000_000_000_i64,
            "version": "2.0",
            "data": {"bundleId": "com.acme.app", "environment": "Sandbox",
                "signedTransactionInfo": signer.sign(transaction),
                "signedRenewalInfo": signer.sign(&renewal)},
        })),
    }
}

#[test]
fn notifications_say_what_to_record() {
    let signer = AppleSigner::new();
    let verifier = verifier_for(&signer);
    let plain = transaction_payload(
        "com.acme.app",
        "2000",
        "1000",
        "pro",
        1_790_000_000_000,
        Some(1_792_592_000_000),
    );
    let mut refunded = plain.clone();
    refunded["revocationDate"] = json!(1_790_500_000_000_i64);
    let at = UnixMillis(1_791_000_000_000);
    let grace = Some(UnixMillis(1_795_000_000_000));
    let cases: Vec<(
        &str,
        Option<&str>,
        &serde_json::Value,
        Option<LifecycleKind>,
    )> = vec![
        ("DID_RENEW", None, &plain, None),
        ("SUBSCRIBED", Some("INITIAL_BUY"), &plain, None),
        (
            "DID_CHANGE_RENEWAL_STATUS",
            Some("AUTO_RENEW_DISABLED"),
            &plain,
            Some(LifecycleKind::Cancelled),
        ),
        (
            "DID_CHANGE_RENEWAL_STATUS",
            Some("AUTO_RENEW_ENABLED"),
            &plain,
            Some(LifecycleKind::Uncancelled),
        ),
        (
            "DID_FAIL_TO_RENEW",
            Some("GRACE_PERIOD"),
            &plain,
            Some(LifecycleKind::BillingIssue {
                grace_period_expires_at: grace,
            }),
        ),
        (
            "DID_RENEW",
            Some("BILLING_RECOVERY"),
            &plain,
            Some(LifecycleKind::Recovered),
        ),
        (
            "EXPIRED",
            Some("VOLUNTARY"),
            &plain,
            Some(LifecycleKind::Expired),
        ),
        ("REFUND", None, &refunded, Some(LifecycleKind::Refunded)),
        (
            "REFUND_REVERSED",
            None,
            &plain,
            Some(LifecycleKind::RefundReversed),
        ),
        (
            "RENEWAL_EXTENDED",
            None,
            &plain,
            Some(LifecycleKind::Extended {
                expires_at: UnixMillis(1_792_592_000_000),
            }),
        ),
    ];
    for (kind, subtype, transaction, expected) in cases {
        let body = notification(&signer, kind, subtype, transaction);
        let verified = verifier
            .verify_notification(&body, "com.acme.app", NOW)
            .unwrap();
        assert_eq!(
            verified.transaction.as_ref().unwrap().transaction_id,
            "2000"
        );
        match (verified.effect(), expected) {
            (NotificationEffect::Transaction, None) => {}
            (NotificationEffect::TransactionThen(event), Some(kind_expected)) => {
                assert_eq!(event.kind, kind_expected, "{kind}");
                assert_eq!(event.original_transaction_id, "1000");
                if kind == "REFUND" {
                    assert_eq!(event.occurred_at, UnixMillis(1_790_500_000_000));
                } else {
                    assert_eq!(event.occurred_at, at, "{kind}");
                    assert_eq!(event.id, format!("evt_apple_uuid-{kind}"));
                }
            }
            (other, expected) => panic!("{kind}: {other:?}, expected {expected:?}"),
        }
    }
    for (kind, subtype) in [
        ("DID_CHANGE_RENEWAL_PREF", Some("DOWNGRADE")),
        ("CONSUMPTION_REQUEST", None),
        ("PRICE_INCREASE", Some("ACCEPTED")),
    ] {
        let body = notification(&signer, kind, subtype, &plain);
        let verified = verifier
            .verify_notification(&body, "com.acme.app", NOW)
            .unwrap();
        assert_eq!(verified.effect(), NotificationEffect::Nothing, "{kind}");
    }
    // A period that ran out before Apple said so is the sweep's EXPIRATION, not a new fact.
    let mut lapsed = plain.clone();
    lapsed["expiresDate"] = json!(1_790_900_000_000_i64);
    let body = notification(&signer, "EXPIRED", Some("VOLUNTARY"), &lapsed);
    let verified = verifier
        .verify_notification(&body, "com.acme.app", NOW)
        .unwrap();
    assert_eq!(verified.effect(), NotificationEffect::Transaction);
    // A nested transaction signed by someone else spoils the whole notification.
    let stranger = AppleSigner::new();
    let forged = json!({"notificationType": "DID_RENEW", "notificationUUID": "u",
        "signedDate": 1_791_000_000_000_i64,
        "data": {"bundleId": "com.acme.app", "signedTransactionInfo": stranger.sign(&plain)}});
    let body = NotificationBody {
        signed_payload: signer.sign(&forged),
    };
    assert!(matches!(
        verifier.verify_notification(&body, "com.acme.app", NOW),
        Err(SignedDataError::Certificate(_))
    ));
}

/// A chain that verified is remembered, but only for the span its certificates are valid
/// in: data it signed outside that span is refused as before, and a tampered payload under
/// a remembered chain still fails its signature.
#[test]
fn remembered_chains_keep_every_check_but_the_path() {
    let signer = AppleSigner::new();
    let verifier = verifier_for(&signer);
    let payload = transaction_payload("b", "1", "1", "p", 1_790_000_000_000, None);
    for _ in 0..3 {
        verifier.verify_bytes(&signer.sign(&payload), NOW).unwrap();
    }
    let mut late = payload.clone();
    late["signedDate"] = json!(2_300_000_000_000_i64);
    assert!(matches!(
        verifier.verify_bytes(&signer.sign(&late), NOW),
        Err(SignedDataError::Certificate(_))
    ));
    let mut early = payload.clone();
    early["signedDate"] = json!(1_500_000_000_000_i64); // 2017: before the test CA's 2020
    assert!(matches!(
        verifier.verify_bytes(&signer.sign(&early), NOW),
        Err(SignedDataError::Certificate(_))
    ));
    let jws = signer.sign(&payload);
    let parts: Vec<&str> = jws.split('.').collect();
    let forged = URL_SAFE_NO_PAD
        .encode(transaction_payload("b", "2", "2", "p", 1_790_000_000_000, None).to_string());
    assert_eq!(
        verifier
            .verify_bytes(&format!("{}.{forged}.{}", parts[0], parts[2]), NOW)
            .unwrap_err(),
        SignedDataError::Signature
    );
    // Another verifier (other roots) does not share what this one remembered.
    let stranger = AppleSigner::new();
    assert!(matches!(
        verifier_for(&stranger).verify_bytes(&jws, NOW),
        Err(SignedDataError::Certificate(_))
    ));
}
