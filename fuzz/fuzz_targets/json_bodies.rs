//! Every JSON request body of the v1 and v2 APIs, parsed as the server parses them
//! (`ApiJson` → `parse_json`), plus the checks a receipt's fields get before any storage.
//! The first byte picks the body type; the rest is the body.
#![no_main]

use entitled_server::error::ErrorKind;
use entitled_server::extract::parse_json;
use entitled_server::subscribers::check_app_user_id;
use entitled_server::v1::receipts::{ReceiptBody, price_micros};
use entitled_server::{ApiError, v1, v2};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

/// A body that does not parse is a 400 naming the field when there is one.
fn parse<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    match parse_json::<T>(json) {
        Ok(body) => Some(body),
        Err(err) => {
            assert_contract(&err);
            None
        }
    }
}

fn assert_contract(err: &ApiError) {
    match err.kind {
        ErrorKind::InvalidRequest => assert!(err.param.is_none()),
        ErrorKind::Parameter => {
            assert!(
                err.param.as_deref().is_some_and(|p| !p.is_empty()),
                "{err:?}"
            )
        }
        other => panic!("a body parse failed with {other:?}"),
    }
    assert!(!err.message.is_empty());
}

fn receipt(json: &[u8]) {
    let Some(body) = parse::<ReceiptBody>(json) else {
        return;
    };
    if let Err(err) = check_app_user_id(&body.app_user_id, "app_user_id") {
        assert_eq!(err.param.as_deref(), Some("app_user_id"));
    }
    match price_micros(body.price.as_ref(), body.currency.as_deref()) {
        Ok(Some(money)) => {
            assert!(
                (0..=1_000_000_000_000_000).contains(&money.amount_micros),
                "{money:?}"
            );
            assert_eq!(money.currency.len(), 3);
            assert!(money.currency.bytes().all(|b| b.is_ascii_uppercase()));
            assert_eq!(Some(money.currency.as_str()), body.currency.as_deref());
        }
        Ok(None) => assert!(
            body.currency.is_none() || matches!(body.price, None | Some(serde_json::Value::Null))
        ),
        Err(err) => {
            assert_eq!(err.kind, ErrorKind::Parameter);
            let param = err.param.as_deref();
            assert!(
                param == Some("price") || param == Some("currency"),
                "{err:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    match selector % 26 {
        0 => receipt(json),
        1 => drop(parse::<v1::subscribers::IdentifyBody>(json)),
        2 => drop(parse::<v1::subscribers::AttributesBody>(json)),
        3 => drop(parse::<v1::offerings::IntroEligibilityBody>(json)),
        4 => drop(parse::<v1::promotional::GrantBody>(json)),
        5 => drop(parse::<v2::apps::CreateAppBody>(json)),
        6 => drop(parse::<v2::apps::UpdateAppBody>(json)),
        7 => drop(parse::<v2::jobs::ExportBody>(json)),
        8 => drop(parse::<v2::jobs::ImportBody>(json)),
        9 => drop(parse::<v2::entitlements::CreateEntitlementBody>(json)),
        10 => drop(parse::<v2::entitlements::UpdateEntitlementBody>(json)),
        11 => drop(parse::<v2::entitlements::ProductIdsBody>(json)),
        12 => drop(parse::<v2::offerings::CreateOfferingBody>(json)),
        13 => drop(parse::<v2::offerings::UpdateOfferingBody>(json)),
        14 => drop(parse::<v2::webhooks::IntegrationBody>(json)),
        15 => drop(parse::<v2::webhooks::RedeliverBody>(json)),
        16 => drop(parse::<v2::products::CreateProductBody>(json)),
        17 => drop(parse::<v2::test_store::ActionBody>(json)),
        18 => drop(parse::<v2::test_store::ClockBody>(json)),
        19 => drop(parse::<v2::customer_actions::GrantEntitlementBody>(json)),
        20 => drop(parse::<v2::customer_actions::RevokeGrantBody>(json)),
        21 => drop(parse::<v2::customer_actions::AssignOfferingBody>(json)),
        22 => drop(parse::<v2::customer_actions::TransferBody>(json)),
        23 => drop(parse::<v2::api_keys::CreateApiKeyBody>(json)),
        24 => drop(parse::<v2::packages::CreatePackageBody>(json)),
        _ => {
            drop(parse::<v2::packages::UpdatePackageBody>(json));
            drop(parse::<v2::packages::AttachPackageProductsBody>(json));
            drop(parse::<v2::customers::CreateCustomerBody>(json));
        }
    }
});
