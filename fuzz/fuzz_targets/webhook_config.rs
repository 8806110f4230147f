//! Webhook integrations (`POST/PATCH /v2/projects/{id}/integrations/webhooks`): the body,
//! the `url` and `authorization_header` checks. What is accepted must be usable by the
//! delivery worker: a URL the HTTP client can post to and a header value it can send.
#![no_main]

use arbitrary::Arbitrary;
use entitled_core::webhooks::signature;
use entitled_server::extract::parse_json;
use entitled_server::v2::webhooks::{IntegrationBody, validate_authorization_header, validate_url};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    url: &'a str,
    header: &'a str,
    body: &'a [u8],
    secret: &'a str,
    timestamp: i64,
}

fuzz_target!(|input: Input<'_>| {
    if let Ok(url) = validate_url(input.url) {
        assert_eq!(url, input.url);
        let parsed = reqwest::Url::parse(&url);
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(err) => panic!("accepted url {url:?} does not parse: {err}"),
        };
        assert!(matches!(parsed.scheme(), "http" | "https"));
        assert!(parsed.host().is_some(), "accepted url {url:?} has no host");
    }
    if validate_authorization_header(input.header).is_ok() {
        assert!(
            reqwest::header::HeaderValue::from_str(input.header).is_ok(),
            "accepted authorization_header {:?} cannot be sent",
            input.header
        );
    }
    if let Ok(body) = parse_json::<IntegrationBody>(input.body) {
        if let Some(url) = body.url.as_deref() {
            let _ = validate_url(url);
        }
        if let Some(Some(header)) = &body.authorization_header {
            let _ = validate_authorization_header(header);
        }
    }
    // Signatures are `t=<timestamp>,v1=<64 hex>`, and the same input signs the same.
    let signed = signature(input.secret, input.timestamp, input.body);
    let expected_prefix = format!("t={},v1=", input.timestamp);
    let hex = signed.strip_prefix(&expected_prefix).expect("t=…,v1=…");
    assert_eq!(hex.len(), 64);
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(signed, signature(input.secret, input.timestamp, input.body));
});
