//! A stand-in for Apple's signing: a root CA made for the test, an intermediate and a leaf
//! carrying Apple's marker extensions, and ES256 compact JWS signed by the leaf with the
//! chain in `x5c`, as the App Store signs transactions and notifications.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

/// Apple's marker on App Store signing leaves.
const LEAF_MARKER: &[u64] = &[1, 2, 840, 113635, 100, 6, 11, 1];
/// Apple's marker on the WWDR intermediate.
const INTERMEDIATE_MARKER: &[u64] = &[1, 2, 840, 113635, 100, 6, 2, 1];

/// A test CA and leaf that sign like the App Store. Certificates are valid 2020–2040.
pub struct AppleSigner {
    root_der: Vec<u8>,
    chain: Vec<String>,
    leaf_key: EcdsaKeyPair,
}

fn key_pair() -> (EcdsaKeyPair, KeyPair) {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("a P-256 key");
    let signing = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .expect("the generated key loads");
    let for_certs = KeyPair::try_from(pkcs8.as_ref()).expect("rcgen reads the key");
    (signing, for_certs)
}

fn params(name: &str, ca: bool, marker: Option<&[u64]>) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty names are valid");
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2040, 1, 1);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    if let Some(oid) = marker {
        // Apple's markers hold an ASN.1 NULL.
        params.custom_extensions = vec![CustomExtension::from_oid_content(oid, vec![0x05, 0x00])];
    }
    params
}

impl AppleSigner {
    /// A fresh root, intermediate and leaf with Apple's markers.
    pub fn new() -> Self {
        Self::build(true)
    }

    /// Like [`AppleSigner::new`], but the leaf lacks Apple's marker: a valid chain that is
    /// not App Store signing, which must be refused.
    pub fn without_leaf_marker() -> Self {
        Self::build(false)
    }

    fn build(leaf_marker: bool) -> Self {
        let (_, root_key) = key_pair();
        let root_params = params("entitled test root", true, None);
        let root = root_params
            .self_signed(&root_key)
            .expect("root signs itself");
        let root_issuer = Issuer::new(root_params, root_key);
        let (_, intermediate_key) = key_pair();
        let intermediate_params = params("entitled test WWDR", true, Some(INTERMEDIATE_MARKER));
        let intermediate = intermediate_params
            .signed_by(&intermediate_key, &root_issuer)
            .expect("root signs the intermediate");
        let intermediate_issuer = Issuer::new(intermediate_params, intermediate_key);
        let (leaf_key, leaf_cert_key) = key_pair();
        let leaf_params = params(
            "entitled test App Store signing",
            false,
            leaf_marker.then_some(LEAF_MARKER),
        );
        let leaf = leaf_params
            .signed_by(&leaf_cert_key, &intermediate_issuer)
            .expect("intermediate signs the leaf");
        Self {
            root_der: root.der().to_vec(),
            chain: [leaf.der(), intermediate.der(), root.der()]
                .iter()
                .map(|der| STANDARD.encode(der.as_ref()))
                .collect(),
            leaf_key,
        }
    }

    /// The root certificate (DER) a verifier must trust to accept this signer's data.
    pub fn root_der(&self) -> Vec<u8> {
        self.root_der.clone()
    }

    /// The leaf's public key (an uncompressed P-256 point).
    pub fn leaf_public_key(&self) -> Vec<u8> {
        self.leaf_key.public_key().as_ref().to_vec()
    }

    /// Signs `payload` as compact JWS: ES256, `x5c` = leaf, intermediate, root.
    pub fn sign(&self, payload: &serde_json::Value) -> String {
        let header = serde_json::json!({"alg": "ES256", "x5c": self.chain});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let signature = self
            .leaf_key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("ES256 signs");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

impl Default for AppleSigner {
    fn default() -> Self {
        Self::new()
    }
}

/// A signed-transaction payload as StoreKit 2 gets it from Apple, for `bundle_id`.
pub fn transaction_payload(
    bundle_id: &str,
    transaction_id: &str,
    original_transaction_id: &str,
    product_id: &str,
    purchase_ms: i64,
    expires_ms: Option<i64>,
) -> serde_json::Value {
    let mut payload = serde_json::json!({
        "transactionId": transaction_id,
        "originalTransactionId": original_transaction_id,
        "bundleId": bundle_id,
        "productId": product_id,
        "purchaseDate": purchase_ms,
        "originalPurchaseDate": purchase_ms,
        "quantity": 1,
        "type": if expires_ms.is_some() { "Auto-Renewable Subscription" } else { "Non-Consumable" },
        "inAppOwnershipType": "PURCHASED",
        "signedDate": purchase_ms,
        "environment": "Sandbox",
        "transactionReason": "PURCHASE",
        "storefront": "USA",
        "price": 4990,
        "currency": "USD",
    });
    if let Some(expires) = expires_ms {
        payload["expiresDate"] = expires.into();
    }
    payload
}
