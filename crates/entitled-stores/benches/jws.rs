//! How long the App Store adapter takes to verify what Apple signs: one signed transaction
//! (x5c chain to the root, ES256 signature, payload decoded), one server notification with
//! its nested signed transaction and renewal info (three of those), and Apple's own signed
//! transaction fixture under Apple's test CA. Every App Store receipt and notification pays
//! this before anything is stored. Run with `cargo bench -p entitled-stores --bench jws`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entitled_core::UnixMillis;
use entitled_stores::app_store::{NotificationBody, SignedDataVerifier, TrustedRoots};
use entitled_testkit::apple::{AppleSigner, transaction_payload};
use serde_json::json;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/apple"
);
const BUNDLE: &str = "com.acme.app";
const NOW: UnixMillis = UnixMillis(1_795_514_400_000);

fn transaction() -> serde_json::Value {
    transaction_payload(
        BUNDLE,
        "2000",
        "1000",
        "pro_monthly",
        1_790_000_000_000,
        Some(1_792_592_000_000),
    )
}

/// A `DID_RENEW` notification as Apple posts it: the signed payload holds the signed
/// transaction and the signed renewal info.
fn notification(signer: &AppleSigner) -> NotificationBody {
    let renewal = json!({"originalTransactionId": "1000", "autoRenewStatus": 1,
        "signedDate": 1_790_000_000_000_i64});
    NotificationBody {
        signed_payload: signer.sign(&json!({
            "notificationType": "DID_RENEW",
            "notificationUUID": "bench-uuid",
            "signedDate": 1_790_000_000_000_i64,
            "version": "2.0",
            "data": {"bundleId": BUNDLE, "environment": "Sandbox",
                "signedTransactionInfo": signer.sign(&transaction()),
                "signedRenewalInfo": signer.sign(&renewal)},
        })),
    }
}

fn jws(c: &mut Criterion) {
    let signer = AppleSigner::new();
    let verifier = SignedDataVerifier::new(
        TrustedRoots::new(&[signer.root_der()]).expect("the test root is a root"),
    );
    let signed = signer.sign(&transaction());
    let body = notification(&signer);
    verifier
        .verify_transaction(&signed, BUNDLE, NOW)
        .expect("the signed transaction verifies");
    verifier
        .verify_notification(&body, BUNDLE, NOW)
        .expect("the notification verifies");

    let apple_root = std::fs::read(format!("{FIXTURES}/certs/testCA.der")).expect("testCA.der");
    let apple = SignedDataVerifier::new(
        TrustedRoots::new(&[apple_root]).expect("Apple's test CA is a root"),
    );
    let apple_signed =
        std::fs::read_to_string(format!("{FIXTURES}/mock_signed_data/transactionInfo"))
            .expect("Apple's signed transaction fixture");
    apple
        .verify_bytes(&apple_signed, NOW)
        .expect("Apple's fixture verifies under its test CA");

    let mut group = c.benchmark_group("app_store_jws");
    group.throughput(Throughput::Elements(1));
    group.bench_function("transaction", |b| {
        b.iter(|| verifier.verify_transaction(black_box(&signed), BUNDLE, NOW))
    });
    group.bench_function("notification", |b| {
        b.iter(|| verifier.verify_notification(black_box(&body), BUNDLE, NOW))
    });
    group.bench_function("apple_fixture", |b| {
        b.iter(|| apple.verify_bytes(black_box(&apple_signed), NOW))
    });
    group.finish();
}

criterion_group!(benches, jws);
criterion_main!(benches);
