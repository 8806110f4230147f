//! The certificate chain in a signed payload's `x5c` header: it must lead from a leaf Apple
//! marks as App Store signing, through an intermediate Apple marks as its WWDR CA, to a root
//! entitled trusts (Apple Root CA - G3 unless configured otherwise).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};
use x509_parser::certificate::X509Certificate;

use super::SignedDataError;

/// Apple's marker extension on the leaf that signs App Store data.
const LEAF_MARKER_OID: &str = "1.2.840.113635.100.6.11.1";
/// Apple's marker extension on the WWDR intermediate that issues those leaves.
const INTERMEDIATE_MARKER_OID: &str = "1.2.840.113635.100.6.2.1";

/// Apple Root CA - G3, the root of every chain the App Store signs with (public, DER).
pub const APPLE_ROOT_CA_G3: &[u8] = include_bytes!("AppleRootCA-G3.cer");

/// How many verified chains are remembered; Apple signs with a handful at a time, so the
/// bound only stops a flood of distinct (still valid) chains from growing memory.
const REMEMBERED_CHAINS: usize = 64;

/// A chain that verified: its leaf's key, and the span in which every certificate on the
/// path is valid (the anchor has no validity), so that data signed then verifies again
/// without redoing the path. Keyed by a digest of the leaf and intermediate DER.
#[derive(Debug, Clone)]
struct VerifiedChain {
    leaf_key: Vec<u8>,
    valid_from_ms: i64,
    valid_until_ms: i64,
}

/// The roots a chain may end at, and the chains already verified under them.
#[derive(Debug, Clone)]
pub struct TrustedRoots {
    anchors: Vec<TrustAnchor<'static>>,
    verified: Arc<Mutex<HashMap<[u8; 32], VerifiedChain>>>,
}

impl TrustedRoots {
    /// Trusts exactly these root certificates (DER).
    pub fn new(roots: &[Vec<u8>]) -> Result<Self, SignedDataError> {
        let anchors = roots
            .iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                    .map(|anchor| anchor.to_owned())
                    .map_err(|e| SignedDataError::Certificate(format!("a trusted root: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if anchors.is_empty() {
            return Err(SignedDataError::Certificate(
                "at least one trusted root is needed".into(),
            ));
        }
        Ok(Self {
            anchors,
            verified: Arc::default(),
        })
    }

    /// Trusts the certificates in `files` (each DER, or PEM with one or more certificates):
    /// how tests and private deployments name their own roots.
    pub fn from_files(files: &[(String, Vec<u8>)]) -> Result<Self, SignedDataError> {
        let mut roots = Vec::new();
        for (name, bytes) in files {
            let found = certificates_in(bytes)
                .map_err(|e| SignedDataError::Certificate(format!("{name}: {e}")))?;
            roots.extend(found);
        }
        Self::new(&roots)
    }

    /// Trusts Apple Root CA - G3 only: what production uses.
    pub fn apple() -> Self {
        // The embedded root is a well-formed certificate; a test checks it parses.
        Self::new(&[APPLE_ROOT_CA_G3.to_vec()]).unwrap_or(Self {
            anchors: Vec::new(),
            verified: Arc::default(),
        })
    }

    /// Checks `x5c` (leaf first, then its intermediate; a trailing root copy is ignored) was
    /// valid at `at_ms` and ends at a trusted root, with Apple's markers on leaf and
    /// intermediate. Returns the leaf's public key (an uncompressed P-256 point).
    ///
    /// The same chain signs every payload for months, so a chain that verified is
    /// remembered with the span its certificates are valid in: two thirds of a
    /// verification's cost (`bench/README.md`, "JWS verification").
    pub fn verify(&self, x5c: &[Vec<u8>], at_ms: i64) -> Result<Vec<u8>, SignedDataError> {
        let [leaf, intermediate, ..] = x5c else {
            return Err(SignedDataError::Certificate(
                "x5c must hold the leaf and its intermediate".into(),
            ));
        };
        if x5c.len() > 3 {
            return Err(SignedDataError::Certificate(
                "x5c holds more than leaf, intermediate and root".into(),
            ));
        }
        let key = chain_digest(leaf, intermediate);
        if let Some(known) = self.remembered(&key)
            && (known.valid_from_ms..=known.valid_until_ms).contains(&at_ms)
        {
            return Ok(known.leaf_key);
        }
        let verified = self.verify_path(leaf, intermediate, at_ms)?;
        let leaf_key = verified.leaf_key.clone();
        if let Ok(mut remembered) = self.verified.lock() {
            if remembered.len() >= REMEMBERED_CHAINS {
                remembered.clear();
            }
            remembered.insert(key, verified);
        }
        Ok(leaf_key)
    }

    fn remembered(&self, key: &[u8; 32]) -> Option<VerifiedChain> {
        self.verified.lock().ok()?.get(key).cloned()
    }

    /// The full check: path building to an anchor with webpki, then Apple's markers.
    fn verify_path(
        &self,
        leaf: &[u8],
        intermediate: &[u8],
        at_ms: i64,
    ) -> Result<VerifiedChain, SignedDataError> {
        let leaf_der = CertificateDer::from(leaf);
        let end_entity = EndEntityCert::try_from(&leaf_der)
            .map_err(|e| SignedDataError::Certificate(format!("the leaf: {e}")))?;
        let intermediates = [CertificateDer::from(intermediate)];
        let at = UnixTime::since_unix_epoch(Duration::from_millis(at_ms.max(0).unsigned_abs()));
        end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                &intermediates,
                at,
                AnyUsage,
                None,
                None,
            )
            .map_err(|e| SignedDataError::Certificate(format!("the chain: {e}")))?;
        let leaf_cert = parse(leaf, "leaf")?;
        let intermediate_cert = parse(intermediate, "intermediate")?;
        require_marker(&leaf_cert, LEAF_MARKER_OID, "leaf")?;
        require_marker(&intermediate_cert, INTERMEDIATE_MARKER_OID, "intermediate")?;
        let ms = |seconds: i64| seconds.saturating_mul(1000);
        Ok(VerifiedChain {
            leaf_key: leaf_cert.public_key().subject_public_key.data.to_vec(),
            valid_from_ms: ms(leaf_cert
                .validity()
                .not_before
                .timestamp()
                .max(intermediate_cert.validity().not_before.timestamp())),
            valid_until_ms: ms(leaf_cert
                .validity()
                .not_after
                .timestamp()
                .min(intermediate_cert.validity().not_after.timestamp())),
        })
    }
}

/// SHA-256 of the leaf and intermediate, each preceded by its length.
fn chain_digest(leaf: &[u8], intermediate: &[u8]) -> [u8; 32] {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for der in [leaf, intermediate] {
        context.update(&(der.len() as u64).to_be_bytes());
        context.update(der);
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(context.finish().as_ref());
    digest
}

/// Apple's signing leaves carry no extended key usage; any present is accepted, since the
/// marker extension is what says "App Store signing".
struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

fn parse<'a>(der: &'a [u8], which: &str) -> Result<X509Certificate<'a>, SignedDataError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| SignedDataError::Certificate(format!("the {which}: {e}")))
}

fn require_marker(
    cert: &X509Certificate<'_>,
    oid: &str,
    which: &str,
) -> Result<(), SignedDataError> {
    if cert
        .extensions()
        .iter()
        .any(|ext| ext.oid.to_id_string() == oid)
    {
        Ok(())
    } else {
        Err(SignedDataError::Certificate(format!(
            "the {which} lacks Apple's marker {oid}"
        )))
    }
}

/// The certificates in a file: the PEM `CERTIFICATE` blocks if it is PEM, else the file
/// itself as one DER certificate.
fn certificates_in(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(vec![bytes.to_vec()]);
    };
    if !text.contains("-----BEGIN") {
        return Ok(vec![bytes.to_vec()]);
    }
    let mut certificates = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let block = body.take().ok_or("an END line without its BEGIN")?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(block)
                .map_err(|_| "a PEM block is not base64")?;
            certificates.push(der);
        } else if let Some(block) = body.as_mut() {
            block.push_str(line);
        }
    }
    if certificates.is_empty() {
        return Err("no CERTIFICATE block in the PEM file".into());
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_load_from_der_or_pem_files() {
        use base64::Engine;
        let pem_body = base64::engine::general_purpose::STANDARD.encode(APPLE_ROOT_CA_G3);
        let pem = format!("-----BEGIN CERTIFICATE-----\n{pem_body}\n-----END CERTIFICATE-----\n");
        assert_eq!(
            certificates_in(pem.as_bytes()).unwrap(),
            vec![APPLE_ROOT_CA_G3.to_vec()]
        );
        assert_eq!(
            certificates_in(APPLE_ROOT_CA_G3).unwrap(),
            vec![APPLE_ROOT_CA_G3.to_vec()]
        );
        let files = [("a.pem".to_string(), pem.into_bytes())];
        assert!(TrustedRoots::from_files(&files).is_ok());
        let broken = [(
            "b.pem".to_string(),
            b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----".to_vec(),
        )];
        let err = TrustedRoots::from_files(&broken).unwrap_err();
        assert!(err.to_string().contains("b.pem"));
        let garbage = [("c.der".to_string(), b"not a certificate".to_vec())];
        assert!(TrustedRoots::from_files(&garbage).is_err());
    }
}
