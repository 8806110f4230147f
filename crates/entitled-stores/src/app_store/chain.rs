//! The certificate chain in a signed payload's `x5c` header: it must lead from a leaf Apple
//! marks as App Store signing, through an intermediate Apple marks as its WWDR CA, to a root
//! entitled trusts (Apple Root CA - G3 unless configured otherwise).

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

/// The roots a chain may end at.
#[derive(Debug, Clone)]
pub struct TrustedRoots {
    anchors: Vec<TrustAnchor<'static>>,
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
        Ok(Self { anchors })
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
        })
    }

    /// Checks `x5c` (leaf first, then its intermediate; a trailing root copy is ignored) was
    /// valid at `at_ms` and ends at a trusted root, with Apple's markers on leaf and
    /// intermediate. Returns the leaf's public key (an uncompressed P-256 point).
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
        let leaf_der = CertificateDer::from(leaf.as_slice());
        let end_entity = EndEntityCert::try_from(&leaf_der)
            .map_err(|e| SignedDataError::Certificate(format!("the leaf: {e}")))?;
        let intermediates = [CertificateDer::from(intermediate.as_slice())];
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
        Ok(leaf_cert.public_key().subject_public_key.data.to_vec())
    }
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
