//! Google service account key files (the JSON an app's owner pastes as its Play
//! credentials) through `ServiceAccount::from_json`, and an accepted account's `assertion`.
//! The first byte picks the mode:
//!
//! - even: the rest, as text, is the key file.
//! - odd: the rest is a plan: which fields the file has (`type`, `client_email`,
//!   `private_key_id`, `token_uri`, an unknown one) with what values, and its `private_key`:
//!   none, a text, or an RSA key the target generates once, as PKCS#8 or PKCS#1 PEM, with
//!   its line breaks changed, junk around it, or its label, base64 or DER spoiled. A file
//!   with an intact key, a `client_email`, no other `type` than `service_account` and an
//!   https (or loopback http) `token_uri` must be accepted (the URI as the URL parser reads it); a file without a key,
//!   without `client_email`, of another `type` or with an http `token_uri` to another host
//!   must be refused.
//!
//! Nothing panics; refusals are `ServiceAccount` errors (422); an accepted token URI parses
//! as https, or http to a loopback host; an accepted account signs an assertion whose claims
//! name it and its token URI. Neither the `Debug` output of an accepted account nor the
//! message of a refusal contains the `private_key` given (nor any of its lines) when it is 16
//! characters or more, other than as part of another printed field's value or of the
//! message's own words.
#![no_main]

use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::RsaKeyPair;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entitled_core::UnixMillis;
use entitled_stores::play_store::{
    ANDROID_PUBLISHER_SCOPE, DEFAULT_TOKEN_URI, PlayError, ServiceAccount,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const NOW: UnixMillis = UnixMillis(1_795_514_400_000);
/// Secrets shorter than this are not looked for: they could be any word of a message.
const SHORTEST_SECRET: usize = 16;

/// The words of `from_json`'s messages and of the account's `Debug` output: a secret found
/// only inside them was not leaked.
const MESSAGE_WORDS: [&str; 22] = [
    "the Play service account credentials are unusable: ",
    "not a service account key file: ",
    "a field is not a string",
    "not a JSON object",
    " (line ",
    " column ",
    "\"type\" is ",
    ", not \"service_account\"",
    "\"client_email\" is missing",
    "\"private_key\" is missing",
    "\"private_key\" must be a PEM \"PRIVATE KEY\" (PKCS#8) RSA key",
    "\"private_key\" is not a PEM block",
    "\"private_key\" is not base64 inside its PEM markers",
    "\"private_key\" is not a usable RSA key (",
    "\"token_uri\" ",
    " is not a URL",
    " must be an https URL",
    "ServiceAccount { client_email: ",
    ", private_key_id: ",
    ", token_uri: ",
    ", private_key: \"<redacted>\" }",
    "Some(",
];

/// The message before aws-lc's reason for refusing a key.
const UNUSABLE_KEY: &str = "\"private_key\" is not a usable RSA key (";

/// The fields `from_json` may print (in messages or `Debug`).
const PRINTED_FIELDS: [&str; 4] = ["type", "client_email", "private_key_id", "token_uri"];

/// One RSA key for every run: its PKCS#8 and PKCS#1 DER.
struct Keys {
    pkcs8: Vec<u8>,
    pkcs1: Vec<u8>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA key");
    let pkcs8: Pkcs8V1Der<'static> = key.as_der().expect("the key as PKCS#8");
    let pkcs8 = pkcs8.as_ref().to_vec();
    // PKCS#8 of RSA-2048: SEQUENCE (4 bytes) { INTEGER 0 (3), AlgorithmIdentifier (15),
    // OCTET STRING (4) { PKCS#1 } }.
    assert_eq!(pkcs8[22..24], [0x04, 0x82], "PKCS#8 of an RSA-2048 key");
    let pkcs1 = pkcs8[26..].to_vec();
    Keys { pkcs8, pkcs1 }
});

fn pem(label: &str, der: &[u8], width: usize) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(width.max(1)) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// Replaces every occurrence of each of `words` (longest first) by a NUL.
fn mask(text: &str, words: &mut [String]) -> String {
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    let mut text = text.to_string();
    for word in words.iter().filter(|w| !w.is_empty()) {
        text = text.replace(word.as_str(), "\0");
    }
    text
}

/// What must not be printed of `key`: itself (as written and as `Debug` escapes it) and each
/// of its lines, when long enough to tell from a word of a message.
fn secrets(key: &str) -> Vec<String> {
    let mut secrets = vec![key.to_string()];
    let escaped = format!("{key:?}");
    secrets.push(escaped[1..escaped.len() - 1].to_string());
    secrets.extend(
        key.lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("-----"))
            .map(str::to_string),
    );
    secrets.retain(|s| s.chars().count() >= SHORTEST_SECRET);
    secrets.sort();
    secrets.dedup();
    secrets
}

/// `output` (an account's `Debug` or a refusal's message) shows none of the key file's secrets.
fn check_no_leak(file: &Map<String, Value>, output: &str, token_uri: Option<&str>) {
    let Some(Value::String(key)) = file.get("private_key") else {
        return;
    };
    let mut words: Vec<String> = MESSAGE_WORDS.iter().map(|w| w.to_string()).collect();
    // The token URI is printed as the URL parser reads it, which may differ from the file's.
    if let Some(uri) = token_uri {
        let quoted = format!("{uri:?}");
        if quoted.chars().count() >= SHORTEST_SECRET {
            words.push(quoted);
        }
    }
    for field in PRINTED_FIELDS {
        if let Some(Value::String(value)) = file.get(field) {
            let quoted = format!("{value:?}");
            if quoted.chars().count() >= SHORTEST_SECRET {
                words.push(quoted);
                words.push(value.clone());
            }
        }
    }
    // aws-lc's reason for rejecting a key is in its own words, after ours.
    let shown = match output.find(UNUSABLE_KEY) {
        Some(at) => &output[..at + UNUSABLE_KEY.len()],
        None => output,
    };
    let masked = mask(shown, &mut words);
    for secret in secrets(key) {
        assert!(
            !masked.contains(&secret),
            "the private key shows in {output:?}: {secret:?}"
        );
    }
}

/// The account's signed JWT: three parts, claims naming the account and its token URI.
fn check_assertion(account: &ServiceAccount) {
    let assertion = account
        .assertion(ANDROID_PUBLISHER_SCOPE, NOW)
        .expect("a loaded key signs");
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3, "{assertion}");
    let claims = URL_SAFE_NO_PAD
        .decode(parts[1])
        .expect("claims in base64url");
    let claims: Value = serde_json::from_slice(&claims).expect("claims in JSON");
    assert_eq!(claims["iss"], json!(account.client_email()));
    assert_eq!(claims["aud"], json!(account.token_uri()));
    assert_eq!(claims["scope"], json!(ANDROID_PUBLISHER_SCOPE));
    assert!(!parts[2].is_empty());
}

/// An accepted token URI is an https URL with a host, or an http URL to a loopback host.
/// (It is kept as the URL parser reads it: leading and trailing spaces and control characters
/// dropped, so that the JWT's `aud` is the URL itself.)
fn check_token_uri(uri: &str) {
    let url = reqwest::Url::parse(uri).expect("an accepted token URI is a URL");
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => assert!(!host.is_empty(), "token URI {uri:?}"),
        "http" => assert!(loopback, "token URI {uri:?}"),
        _ => panic!("token URI {uri:?}"),
    }
}

/// `from_json` on `text`; checks what holds whatever the text. `file` is the text as a
/// JSON object, when it is one.
fn parse(text: &str, file: Option<&Map<String, Value>>) -> Result<ServiceAccount, PlayError> {
    let parsed = ServiceAccount::from_json(text);
    let output = match &parsed {
        Ok(account) => {
            assert!(!account.client_email().trim().is_empty());
            check_token_uri(account.token_uri());
            let debug = format!("{account:?}");
            assert!(debug.contains("<redacted>"));
            check_assertion(account);
            debug
        }
        Err(err) => {
            assert!(matches!(err, PlayError::ServiceAccount(_)), "{err:?}");
            assert_eq!(err.contract_status(), 422);
            err.to_string()
        }
    };
    if let Some(file) = file {
        check_no_leak(
            file,
            &output,
            parsed.as_ref().ok().map(ServiceAccount::token_uri),
        );
    }
    parsed
}

#[derive(Debug, Arbitrary)]
struct Plan {
    kind: Field,
    service_account_type: bool,
    client_email: Field,
    private_key_id: Field,
    token_uri: TokenUri,
    key: Key,
    unknown: Option<(String, String)>,
    pretty: bool,
}

/// A string field of the file.
#[derive(Debug, Arbitrary)]
enum Field {
    Absent,
    Null,
    Text(String),
    Number(i64),
}

impl Field {
    fn value(&self) -> Option<Value> {
        match self {
            Field::Absent => None,
            Field::Null => Some(Value::Null),
            Field::Text(text) => Some(json!(text)),
            Field::Number(n) => Some(json!(n)),
        }
    }

    fn is_string_or_absent(&self) -> bool {
        !matches!(self, Field::Number(_))
    }
}

#[derive(Debug, Arbitrary)]
enum TokenUri {
    Absent,
    Google,
    Loopback(u16),
    /// http to a host that is not loopback.
    Cleartext(u8),
    Text(String),
}

#[derive(Debug, Arbitrary)]
enum Key {
    Absent,
    Null,
    Blank(u8),
    Text(String),
    Pem {
        pkcs1: bool,
        /// Characters a line (64 when 0).
        width: u8,
        layout: Layout,
        spoil: Option<Spoil>,
    },
}

/// How an intact key is laid out: what `from_json` must read the same.
#[derive(Debug, Arbitrary)]
enum Layout {
    AsIs,
    CrLf,
    Junk(String, String),
    Indented,
}

/// How a key is spoiled.
#[derive(Debug, Arbitrary)]
enum Spoil {
    Label(String),
    FlipBit(u16),
    Truncate(u16),
    NotBase64(u16, char),
    DropEnd,
    OtherForm,
}

impl Key {
    /// The key's text, and whether it must load (`None`: not predicted).
    fn text(&self) -> (Option<Value>, Option<bool>) {
        let keys = &*KEYS;
        match self {
            Key::Absent => (None, Some(false)),
            Key::Null => (Some(Value::Null), Some(false)),
            Key::Blank(n) => (
                Some(json!(" \n\t".repeat(usize::from(*n % 8)))),
                Some(false),
            ),
            Key::Text(text) => (
                Some(json!(text)),
                (!text.contains("-----BEGIN ")).then_some(false),
            ),
            Key::Pem {
                pkcs1,
                width,
                layout,
                spoil,
            } => {
                let (mut label, mut der) = if *pkcs1 {
                    ("RSA PRIVATE KEY".to_string(), keys.pkcs1.clone())
                } else {
                    ("PRIVATE KEY".to_string(), keys.pkcs8.clone())
                };
                let width = if *width == 0 { 64 } else { usize::from(*width) };
                let mut loads = Some(true);
                let mut broken_body = None;
                let mut drop_end = false;
                match spoil {
                    None => {}
                    Some(Spoil::Label(other)) => {
                        if *other != label {
                            label = other.clone();
                            loads = if other.contains('-') || other.contains('\n') {
                                None
                            } else {
                                Some(false)
                            };
                        }
                    }
                    Some(Spoil::FlipBit(bit)) => {
                        let bit = usize::from(*bit) % (der.len() * 8);
                        der[bit / 8] ^= 1 << (bit % 8);
                        loads = None;
                    }
                    Some(Spoil::Truncate(len)) => {
                        der.truncate(usize::from(*len) % der.len());
                        loads = Some(false);
                    }
                    Some(Spoil::NotBase64(at, c)) => {
                        broken_body = Some((usize::from(*at), *c));
                        loads = None;
                    }
                    Some(Spoil::DropEnd) => {
                        drop_end = true;
                        loads = Some(false);
                    }
                    Some(Spoil::OtherForm) => {
                        // PKCS#1 DER under the PKCS#8 label, and the other way round.
                        der = if *pkcs1 {
                            keys.pkcs8.clone()
                        } else {
                            keys.pkcs1.clone()
                        };
                        loads = Some(false);
                    }
                }
                let mut text = pem(&label, &der, width);
                if let Some((at, c)) = broken_body {
                    let start = text.find('\n').map_or(0, |i| i + 1);
                    let end = text.rfind("-----END").unwrap_or(text.len());
                    if start < end {
                        let at = start + at % (end - start);
                        if text.is_char_boundary(at) {
                            text.insert(at, c);
                        }
                    }
                }
                if drop_end {
                    if let Some(at) = text.rfind("-----END") {
                        text.truncate(at);
                    }
                }
                match layout {
                    Layout::AsIs => {}
                    Layout::CrLf => text = text.replace('\n', "\r\n"),
                    Layout::Indented => text = text.replace('\n', "\n    "),
                    Layout::Junk(before, after) => {
                        if before.contains("-----") || after.contains("-----") {
                            loads = None;
                        }
                        text = format!("{before}\n{text}\n{after}");
                    }
                }
                (Some(json!(text)), loads)
            }
        }
    }
}

fn structured(plan: &Plan) {
    let mut file = Map::new();
    let mut accepted = Some(true);
    let and = |a: Option<bool>, b: Option<bool>| match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    };
    if plan.service_account_type {
        file.insert("type".into(), json!("service_account"));
    } else if let Some(kind) = plan.kind.value() {
        let fine = match &plan.kind {
            Field::Text(text) => text == "service_account",
            Field::Number(_) => false,
            Field::Null | Field::Absent => true,
        };
        accepted = and(accepted, Some(fine));
        file.insert("type".into(), kind);
    }
    if let Some(email) = plan.client_email.value() {
        file.insert("client_email".into(), email);
    }
    let email_fine = matches!(&plan.client_email, Field::Text(e) if !e.trim().is_empty());
    accepted = and(accepted, Some(email_fine));
    if let Some(id) = plan.private_key_id.value() {
        file.insert("private_key_id".into(), id);
    }
    accepted = and(accepted, Some(plan.private_key_id.is_string_or_absent()));
    let uri = match &plan.token_uri {
        TokenUri::Absent => None,
        TokenUri::Google => Some(DEFAULT_TOKEN_URI.to_string()),
        TokenUri::Loopback(port) => Some(format!("http://127.0.0.1:{port}/token")),
        TokenUri::Cleartext(octet) => Some(format!("http://10.0.0.{octet}/token")),
        TokenUri::Text(text) => {
            accepted = and(accepted, None);
            Some(text.clone())
        }
    };
    if matches!(plan.token_uri, TokenUri::Cleartext(_)) {
        accepted = Some(false);
    }
    if let Some(uri) = &uri {
        file.insert("token_uri".into(), json!(uri));
    }
    let (key, loads) = plan.key.text();
    if let Some(key) = key {
        file.insert("private_key".into(), key);
    }
    accepted = and(accepted, loads);
    if let Some((name, value)) = &plan.unknown {
        let known = PRINTED_FIELDS.contains(&name.as_str()) || name == "private_key";
        if !known {
            file.insert(name.clone(), json!(value));
        }
    }
    let text = if plan.pretty {
        serde_json::to_string_pretty(&file)
    } else {
        serde_json::to_string(&file)
    }
    .expect("a JSON object serialises");

    let parsed = parse(&text, Some(&file));
    match accepted {
        Some(true) => {
            let account = parsed.unwrap_or_else(|err| panic!("refused {err:?}: {plan:?}"));
            let Field::Text(email) = &plan.client_email else {
                unreachable!("accepted only with an email")
            };
            assert_eq!(account.client_email(), email);
            let written = uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI);
            let normalized = reqwest::Url::parse(written).map(|u| u.to_string());
            assert_eq!(Ok(account.token_uri().to_string()), normalized);
        }
        Some(false) => assert!(parsed.is_err(), "accepted {plan:?}"),
        None => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        let file = serde_json::from_str::<Value>(&text).ok();
        let _ = parse(&text, file.as_ref().and_then(Value::as_object));
    } else if let Ok(plan) = Plan::arbitrary_take_rest(Unstructured::new(rest)) {
        structured(&plan);
    }
});
