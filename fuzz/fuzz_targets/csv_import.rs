//! Purchase imports (`POST /v2/projects/{id}/imports`, format `csv`): the header check, the
//! CSV line splitter, and the row parser that turns a line into a customer's transaction.
#![no_main]

use entitled_core::{App, AppType, UnixMillis};
use entitled_server::jobs::csv::{line, parse_line};
use entitled_server::jobs::import::{HEADER, check_header, parse_row};
use libfuzzer_sys::fuzz_target;

struct Input<'a> {
    data: &'a str,
}

/// 9999-12-31T23:59:59.999Z, the last instant with a four-digit year.
const YEAR_9999_END: i64 = 253_402_300_799_999;

fn apps(mask: u8) -> Vec<App> {
    [
        AppType::AppStore,
        AppType::PlayStore,
        AppType::Stripe,
        AppType::TestStore,
    ]
    .into_iter()
    .enumerate()
    .filter(|(i, _)| mask & (1 << i) != 0)
    .map(|(i, app_type)| App {
        id: format!("app{i}"),
        project_id: "proj1".into(),
        name: "app".into(),
        app_type,
        bundle_id: None,
        package_name: None,
        stripe_account_id: None,
        credential_names: vec![],
        created_at: UnixMillis(0),
    })
    .collect()
}

// The input: the server's clock (8 bytes), which app types the project has (1 byte), then
// the uploaded data, whose `|`-separated pieces also serve as fields for a round trip.
fuzz_target!(|bytes: &[u8]| {
    if bytes.len() < 9 {
        return;
    }
    let (clock, rest) = bytes.split_at(8);
    let now = UnixMillis(i64::from_le_bytes(clock.try_into().expect("8 bytes")));
    let apps = apps(rest[0]);
    let text = String::from_utf8_lossy(&rest[1..]);
    let input = Input { data: &text };

    // Fields written as a line read back as the same fields (one line: no line breaks).
    let fields: Vec<String> = input.data.split('|').map(str::to_owned).collect();
    if !fields.iter().any(|f| f.contains(['\n', '\r'])) {
        let written = line(&fields);
        assert_eq!(parse_line(&written).as_ref(), Some(&fields), "{written:?}");
    }

    let header_ok = check_header("csv", input.data).is_ok();
    if header_ok {
        assert_eq!(input.data.lines().next().map(str::trim), Some(HEADER));
    }
    // The rows as the import job reads them.
    for (index, text) in input.data.lines().enumerate().skip(1) {
        if text.trim().is_empty() {
            continue;
        }
        let line_number = index + 1;
        match parse_row(line_number, text, &apps, now) {
            Ok((user, transaction)) => {
                assert!(!user.is_empty() && user.len() <= 1500);
                assert!(!transaction.product_id.is_empty());
                assert!(!transaction.store_transaction_id.is_empty());
                assert_eq!(
                    transaction.store_transaction_id,
                    transaction.original_transaction_id
                );
                assert!(transaction.purchased_at <= now);
                // Imported dates are ones CustomerInfo can show as RFC 3339 (four-digit years).
                assert!((0..=YEAR_9999_END).contains(&transaction.purchased_at.0));
                if let Some(expires) = transaction.expires_at {
                    assert!(expires > transaction.purchased_at);
                    assert!(expires.0 <= YEAR_9999_END, "{expires:?}");
                }
                assert_eq!(
                    transaction.is_subscription,
                    transaction.expires_at.is_some()
                );
                let app = apps.iter().find(|a| a.id == transaction.app_id);
                assert!(app.is_some(), "the row names an app the project has");
                let fields = parse_line(text).expect("a parsed row is a CSV line");
                assert_eq!(fields.len(), 6);
                assert_eq!(fields[0], user);
            }
            Err(err) => {
                assert_eq!(err.line, line_number);
                assert!(!err.message.is_empty());
            }
        }
    }
});
