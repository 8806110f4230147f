//! The field validators request handlers run on client text: display names, bundle ids,
//! lookup keys, store identifiers, customer and app user ids, enum names, free-form JSON
//! metadata, store credentials and id lists. Each accepted value must obey its rule.
#![no_main]

use arbitrary::Arbitrary;
use entitled_core::AppType;
use entitled_core::catalog::{ProductType, TransferRule};
use entitled_core::customers::customer_id;
use entitled_core::validation::{
    MAX_JSON_BYTES, MAX_JSON_DEPTH, display_name, json_object, lookup_key, reverse_dns,
    store_identifier,
};
use entitled_server::credentials::{CREDENTIAL_NAMES, validate};
use entitled_server::extract::id_list;
use entitled_server::subscribers::{MAX_APP_USER_ID_CHARS, check_app_user_id, is_anonymous};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    text: &'a str,
    max: u8,
    credential: u8,
    ids: Vec<String>,
    json: &'a [u8],
}

fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|input: Input<'_>| {
    let text = input.text;

    let max = usize::from(input.max).max(1);
    if let Ok(name) = display_name(text, "name", max) {
        assert_eq!(name, text.trim());
        assert!((1..=max).contains(&name.chars().count()));
        assert!(!name.chars().any(char::is_control));
    }

    if let Ok(id) = reverse_dns(text, "bundle_id") {
        assert!(id.len() <= 255 && !id.starts_with('.') && !id.ends_with('.'));
        assert!(!id.contains(".."));
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        );
    }

    if let Ok(key) = lookup_key(text, "lookup_key") {
        assert!((1..=200).contains(&key.len()));
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.$:".contains(&b))
        );
    }
    if let Ok(id) = store_identifier(text, "store_identifier") {
        assert!((1..=200).contains(&id.len()));
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
        );
        assert!(lookup_key(text, "lookup_key").is_ok());
    }

    // A v2 customer id is also a valid v1 app user id (never the reverse in general).
    if let Ok(id) = customer_id(text, "id") {
        assert!((1..=1500).contains(&id.len()));
        assert!(check_app_user_id(text, "app_user_id").is_ok());
    }
    if check_app_user_id(text, "app_user_id").is_ok() {
        assert!(!text.trim().is_empty());
        assert!(text.chars().count() <= MAX_APP_USER_ID_CHARS);
    }
    if is_anonymous(text) {
        assert!(text.starts_with("$RCAnonymousID:"));
        assert!(check_app_user_id(text, "app_user_id").is_ok() || text.len() > 1500);
    }

    // Enum names parse exactly to the value that prints as them.
    if let Ok(t) = AppType::parse(text, "type") {
        assert_eq!(t.as_str(), text);
    }
    if let Ok(t) = ProductType::parse(text, "type") {
        assert_eq!(t.as_str(), text);
    }
    if let Ok(rule) = TransferRule::parse(text, "rule") {
        assert_eq!(rule.as_str(), text);
    }

    // Credentials: a known name either passes or is a 400 naming it; unknown names never pass.
    let name = CREDENTIAL_NAMES[usize::from(input.credential) % CREDENTIAL_NAMES.len()];
    if let Err(err) = validate(name, text) {
        assert_eq!(err.param.as_deref(), Some(name));
    }
    assert!(validate(text, "x").is_err() || CREDENTIAL_NAMES.contains(&text));

    if id_list(&input.ids, "ids").is_ok() {
        assert!((1..=50).contains(&input.ids.len()));
        assert!(input.ids.iter().all(|id| (1..=255).contains(&id.len())));
    }

    // Free-form metadata: accepted JSON is an object within the depth and size limits.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(input.json) {
        if json_object(&value, "metadata").is_ok() {
            assert!(value.is_object());
            assert!(depth(&value) <= MAX_JSON_DEPTH);
            assert!(value.to_string().len() <= MAX_JSON_BYTES);
        }
    }
});
