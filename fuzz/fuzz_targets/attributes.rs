//! Subscriber attribute maps: the v1 body of `POST /v1/subscribers/{id}/attributes`
//! (name → `{"value", "updated_at_ms"}`) and the v2 attribute lists of customer create and
//! `POST …/customers/{id}/attributes`.
#![no_main]

use entitled_core::customers::{MAX_ATTRIBUTE_VALUE_CHARS, RESERVED_ATTRIBUTES, attribute};
use entitled_server::extract::parse_json;
use entitled_server::v1::subscribers::{AttributesBody, check_attributes};
use entitled_server::v2::customers::{CreateCustomerBody, SetAttributesBody, validated_attributes};
use libfuzzer_sys::fuzz_target;

/// What every saved attribute must satisfy, whichever API it came through.
fn assert_within_limits(name: &str, value: Option<&str>) {
    if name.starts_with('$') {
        assert!(RESERVED_ATTRIBUTES.contains(&name), "{name:?}");
    } else {
        assert!((1..=40).contains(&name.len()), "{name:?}");
        assert!(
            name.starts_with(|c: char| c.is_ascii_alphabetic()),
            "{name:?}"
        );
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{name:?}"
        );
    }
    if let Some(value) = value {
        assert!(value.chars().count() <= MAX_ATTRIBUTE_VALUE_CHARS);
    }
    assert!(attribute(name, value, "attributes").is_ok());
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            let Ok(body) = parse_json::<AttributesBody>(json) else {
                return;
            };
            let sent = body.attributes.len();
            let names: Vec<String> = body.attributes.keys().cloned().collect();
            let (valid, errors) = check_attributes(body.attributes);
            // Every attribute is either saved or reported, never both, never lost.
            assert_eq!(valid.len() + errors.len(), sent);
            for saved in &valid {
                assert!(names.contains(&saved.name));
                assert_within_limits(&saved.name, saved.value.as_deref());
            }
            for error in &errors {
                let name = error["key_name"]
                    .as_str()
                    .expect("errors name the attribute");
                assert!(names.iter().any(|n| n == name));
                assert!(!valid.iter().any(|v| v.name == name));
                assert!(error["message"].is_string());
            }
        }
        1 => {
            let Ok(body) = parse_json::<SetAttributesBody>(json) else {
                return;
            };
            check_v2(
                body.attributes.len(),
                validated_attributes(body.attributes, "attributes"),
            );
        }
        _ => {
            let Ok(body) = parse_json::<CreateCustomerBody>(json) else {
                return;
            };
            let Some(attributes) = body.attributes else {
                return;
            };
            check_v2(
                attributes.len(),
                validated_attributes(attributes, "attributes"),
            );
        }
    }
});

type Checked = Result<Vec<(String, Option<String>)>, entitled_server::ApiError>;

fn check_v2(sent: usize, checked: Checked) {
    match checked {
        Ok(attributes) => {
            assert!(attributes.len() <= 50);
            assert_eq!(attributes.len(), sent);
            for (name, value) in &attributes {
                assert_within_limits(name, value.as_deref());
            }
        }
        Err(err) => {
            let param = err.param.expect("attribute errors name the parameter");
            assert!(param.starts_with("attributes"), "{param}");
        }
    }
}
