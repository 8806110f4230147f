//! The v1 SDK API through HTTP, on both backends: the whole test-store purchase story, the
//! statuses RevenueCat's v1 documents, and the shapes the SDKs decode.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestServer, cli_json, on_both_backends, send};

on_both_backends!(
    the_test_store_purchase_story,
    receipts_are_idempotent_and_transfer_by_the_project_rule,
    customer_info_has_the_shapes_the_sdks_decode,
    offerings_show_the_current_offering_for_the_calling_app,
    v1_errors_carry_revenuecat_codes,
    attributes_report_bad_keys_one_by_one,
    promotional_grants_and_deletion_need_a_secret_key,
    logging_in_merges_anonymous_customers_and_switches_known_ones,
    every_test_store_action_moves_the_subscription,
    v2_lists_the_customers_store_subscriptions_and_purchases,
);

const ANON: &str = "$RCAnonymousID:0123456789abcdef0123456789abcdef";
const DAY_MS: i64 = 86_400_000;

/// A test-store app's catalog: `pro_monthly` (P1M, 4.99 USD on the test store) and
/// `lifetime` unlock `pro`; offering `default` (current) has `$rc_monthly`.
pub(crate) async fn catalog(server: &TestServer) -> Value {
    let (_, _, apps) = send(server.secret(Method::GET, &server.project_path("/apps"))).await;
    let app_id = apps["items"][0]["id"].as_str().unwrap().to_string();
    let post = |path: &str, body: Value| {
        server
            .secret(Method::POST, &server.project_path(path))
            .json(&body)
    };
    let (_, _, monthly) = send(post(
        "/products",
        json!({"store_identifier": "pro_monthly", "app_id": app_id,
        "type": "subscription", "subscription": {"duration": "P1M"},
        "test_store_price": {"amount_micros": 4_990_000, "currency": "USD"}}),
    ))
    .await;
    let (_, _, lifetime) = send(post(
        "/products",
        json!({"store_identifier": "lifetime", "app_id": app_id,
        "type": "non_consumable"}),
    ))
    .await;
    let (_, _, pro) = send(post(
        "/entitlements",
        json!({"lookup_key": "pro", "display_name": "Pro"}),
    ))
    .await;
    send(post(
        &format!(
            "/entitlements/{}/actions/attach_products",
            pro["id"].as_str().unwrap()
        ),
        json!({"product_ids": [monthly["id"], lifetime["id"]]}),
    ))
    .await;
    let (_, _, offering) = send(post(
        "/offerings",
        json!({"lookup_key": "default", "display_name": "Standard"}),
    ))
    .await;
    let offering_id = offering["id"].as_str().unwrap();
    send(post(
        &format!("/offerings/{offering_id}"),
        json!({"is_current": true}),
    ))
    .await;
    let (_, _, package) = send(post(
        &format!("/offerings/{offering_id}/packages"),
        json!({"lookup_key": "$rc_monthly", "display_name": "Monthly"}),
    ))
    .await;
    send(post(
        &format!(
            "/packages/{}/actions/attach_products",
            package["id"].as_str().unwrap()
        ),
        json!({"products": [{"product_id": monthly["id"], "eligibility_criteria": "all"}]}),
    ))
    .await;
    json!({"app_id": app_id, "entitlement_id": pro["id"]})
}

fn sdk(server: &TestServer, method: Method, path: &str) -> reqwest::RequestBuilder {
    server
        .with_key(method, path, &server.public_key)
        .header("X-Platform", "iOS")
        .header("X-Version", "5.0.0")
}

async fn receipt(server: &TestServer, user: &str, token: &str, product: &str) -> (u16, Value) {
    let (status, _, body) = send(sdk(server, Method::POST, "/v1/receipts").json(&json!({
        "app_user_id": user, "fetch_token": token, "product_id": product,
        "price": "4.99", "currency": "USD", "is_restore": false, "observer_mode": false})))
    .await;
    (status, body)
}

async fn customer(server: &TestServer, user: &str) -> Value {
    let (status, _, body) = send(sdk(
        server,
        Method::GET,
        &format!("/v1/subscribers/{}", urlencode(user)),
    ))
    .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    body
}

fn urlencode(value: &str) -> String {
    value.replace('$', "%24").replace(':', "%3A")
}

pub(crate) fn millis(date: &Value) -> i64 {
    let text = date.as_str().expect("a date string");
    // YYYY-MM-DDTHH:MM:SSZ
    let parts: Vec<i64> = text
        .trim_end_matches('Z')
        .split(['-', 'T', ':'])
        .map(|p| p.parse().unwrap())
        .collect();
    let (y, m, d) = (parts[0], parts[1], parts[2]);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 24 + parts[3]) * 60 + parts[4]) * 60_000 + parts[5] * 1000
}

fn is_active(info: &Value, entitlement: &str) -> bool {
    let request = info["request_date_ms"].as_i64().unwrap();
    match &info["subscriber"]["entitlements"][entitlement]["expires_date"] {
        Value::Null => info["subscriber"]["entitlements"]
            .get(entitlement)
            .is_some(),
        date => millis(date) > request,
    }
}

async fn act(server: &TestServer, token: &str, action: &str) -> (u16, Value) {
    let (status, _, body) = send(
        server
            .secret(
                Method::POST,
                &server.project_path(&format!("/test_store/transactions/{token}/actions")),
            )
            .json(&json!({"action": action})),
    )
    .await;
    (status, body)
}

async fn advance(server: &TestServer, days: i64) -> Value {
    let (status, _, body) = send(
        server
            .secret(Method::POST, &server.project_path("/test_store/clock"))
            .json(&json!({"advance_ms": days * DAY_MS})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn the_test_store_purchase_story(server: &TestServer) {
    let catalog_ids = catalog(server).await;
    // First sight of an anonymous customer: 201, then 200.
    let (status, headers, first) = send(sdk(
        server,
        Method::GET,
        &format!("/v1/subscribers/{}", urlencode(ANON)),
    ))
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["subscriber"]["original_app_user_id"], ANON);
    assert!(headers.contains_key("x-revenuecat-request-time"));
    let (status, headers, _) = send(sdk(
        server,
        Method::GET,
        &format!("/v1/subscribers/{}", urlencode(ANON)),
    ))
    .await;
    assert_eq!(status, 200);
    let etag = headers["x-revenuecat-etag"].to_str().unwrap().to_string();
    let (status, headers, body) = send(
        sdk(
            server,
            Method::GET,
            &format!("/v1/subscribers/{}", urlencode(ANON)),
        )
        .header("X-RevenueCat-ETag", &etag),
    )
    .await;
    assert_eq!((status, body), (304, Value::Null));
    assert_eq!(
        headers["x-revenuecat-etag"],
        etag.as_str(),
        "a 304 names the ETag the SDK should keep"
    );

    // The anonymous customer buys: the entitlement is active, the ETag moves.
    let (status, bought) = receipt(server, ANON, "test_token_1", "pro_monthly").await;
    assert_eq!(status, 200, "{bought}");
    assert!(is_active(&bought, "pro"));
    let subscription = &bought["subscriber"]["subscriptions"]["pro_monthly"];
    assert_eq!(subscription["store"], "test_store");
    assert_eq!(subscription["is_sandbox"], true);
    assert_eq!(
        subscription["price"],
        json!({"amount": 4.99, "currency": "USD"})
    );
    let (status, _, _) = send(
        sdk(
            server,
            Method::GET,
            &format!("/v1/subscribers/{}", urlencode(ANON)),
        )
        .header("X-RevenueCat-ETag", &etag),
    )
    .await;
    assert_eq!(status, 200, "the purchase changed CustomerInfo");

    // Logging in to a new id keeps the purchase (201: the id was created).
    let (status, _, logged_in) = send(
        sdk(server, Method::POST, "/v1/subscribers/identify")
            .json(&json!({"app_user_id": ANON, "new_app_user_id": "user_1"})),
    )
    .await;
    assert_eq!(status, 201, "{logged_in}");
    assert!(is_active(&logged_in, "pro"));
    assert!(is_active(&customer(server, "user_1").await, "pro"));
    // The management API sees the same entitlement, computed by the same engine.
    let (_, _, active) = send(server.secret(
        Method::GET,
        &server.project_path("/customers/user_1/active_entitlements"),
    ))
    .await;
    assert_eq!(
        active["items"].as_array().map(Vec::len),
        Some(1),
        "{active}"
    );
    assert_eq!(
        active["items"][0]["entitlement_id"],
        catalog_ids["entitlement_id"]
    );
    let (_, _, aliases) = send(server.secret(
        Method::GET,
        &server.project_path(&format!("/customers/{}/aliases", urlencode(ANON))),
    ))
    .await;
    let ids: Vec<&str> = aliases["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ANON, "user_1"]);

    // The sandbox renews at the period end on the test clock.
    let before = millis(
        &customer(server, "user_1").await["subscriber"]["entitlements"]["pro"]["expires_date"],
    );
    let clock = advance(server, 32).await;
    assert_eq!(clock["renewals"], 1, "{clock}");
    let renewed = customer(server, "user_1").await;
    assert!(is_active(&renewed, "pro"));
    let after = millis(&renewed["subscriber"]["entitlements"]["pro"]["expires_date"]);
    assert!(after > before + 27 * DAY_MS, "{before} → {after}");

    // Cancelling stops renewals; access lasts to the period end, then goes.
    let (status, cancelled) = act(server, "test_token_1", "cancel").await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["will_renew"], false);
    let (status, _) = act(server, "test_token_1", "cancel").await;
    assert_eq!(status, 422, "cancelling twice is refused");
    let still = customer(server, "user_1").await;
    assert!(is_active(&still, "pro"));
    assert!(
        !still["subscriber"]["subscriptions"]["pro_monthly"]["unsubscribe_detected_at"].is_null()
    );
    let clock = advance(server, 40).await;
    assert_eq!(clock["renewals"], 0);
    let expired = customer(server, "user_1").await;
    assert!(!is_active(&expired, "pro"), "{expired}");
    assert!(
        expired["subscriber"]["entitlements"]["pro"].is_object(),
        "expired entitlements stay listed"
    );
}

async fn receipts_are_idempotent_and_transfer_by_the_project_rule(server: &TestServer) {
    catalog(server).await;
    let (_, first) = receipt(server, "alice", "tok_shared", "pro_monthly").await;
    let (status, again) = receipt(server, "alice", "tok_shared", "pro_monthly").await;
    assert_eq!(status, 200);
    assert_eq!(
        first["subscriber"]["subscriptions"], again["subscriber"]["subscriptions"],
        "nothing new recorded"
    );
    // Another customer restores it: by default the purchase moves.
    let (status, bob) = receipt(server, "bob", "tok_shared", "pro_monthly").await;
    assert_eq!(status, 200);
    assert!(is_active(&bob, "pro"));
    assert!(!is_active(&customer(server, "alice").await, "pro"));
    assert!(
        customer(server, "alice").await["subscriber"]["subscriptions"]
            .as_object()
            .unwrap()
            .is_empty()
    );

    // A project that keeps purchases with their first owner answers 409 (7102).
    let project = cli_json(&server.cli(&[
        "projects",
        "create",
        "--name",
        "Strict",
        "--transfer-rule",
        "keep_with_original",
    ]));
    let project_id = project["id"].as_str().unwrap();
    let app = cli_json(&server.cli(&[
        "apps",
        "create",
        "--project",
        project_id,
        "--type",
        "test_store",
        "--name",
        "T",
    ]));
    let key = cli_json(&server.cli(&["keys", "create", "--project", project_id]));
    let secret = key["key"].as_str().unwrap();
    let public = app["public_api_key"].as_str().unwrap();
    send(
        server
            .with_key(
                Method::POST,
                &format!("/v2/projects/{project_id}/products"),
                secret,
            )
            .json(&json!({
        "store_identifier": "gems", "app_id": app["id"], "type": "consumable"})),
    )
    .await;
    let post = |user: &str| {
        server
            .with_key(Method::POST, "/v1/receipts", public)
            .json(&json!({"app_user_id": user, "fetch_token": "tok_strict", "product_id": "gems"}))
    };
    assert_eq!(send(post("carol")).await.0, 200);
    let (status, _, body) = send(post("dave")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], 7102);
    let (_, _, carol) = send(server.with_key(Method::GET, "/v1/subscribers/carol", public)).await;
    assert_eq!(
        carol["subscriber"]["non_subscriptions"]["gems"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The fields and JSON types each SDK's decoder requires, read from their sources:
/// purchases-js `src/networking/responses/subscriber-response.ts` (and `toCustomerInfo` in
/// `src/entities/customer-info.ts`), purchases-ios
/// `Sources/Networking/Responses/CustomerInfoResponse.swift`, and purchases-android
/// `purchases/src/main/kotlin/com/revenuecat/purchases/common/CustomerInfoFactory.kt` and
/// `EntitlementInfoFactories.kt`.
async fn customer_info_has_the_shapes_the_sdks_decode(server: &TestServer) {
    catalog(server).await;
    receipt(server, "eve", "tok_sub", "pro_monthly").await;
    let (_, info) = receipt(server, "eve", "tok_life", "lifetime").await;
    let is_date = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
    };
    let is_date_or_null = |v: &Value| v.is_null() || is_date(v);
    assert!(is_date(&info["request_date"]));
    assert!(info["request_date_ms"].is_i64());
    let subscriber = &info["subscriber"];
    assert!(subscriber["original_app_user_id"].is_string());
    assert!(is_date(&subscriber["first_seen"]));
    for key in [
        "entitlements",
        "subscriptions",
        "non_subscriptions",
        "other_purchases",
    ] {
        assert!(subscriber[key].is_object(), "{key}");
    }
    let entitlement = &subscriber["entitlements"]["pro"];
    assert!(entitlement["product_identifier"].is_string());
    assert!(
        is_date(&entitlement["purchase_date"]),
        "Android needs purchase_date"
    );
    assert!(is_date_or_null(&entitlement["expires_date"]));
    // Lifetime beats the subscription; its product is among non_subscriptions (JS throws otherwise).
    assert_eq!(entitlement["product_identifier"], "lifetime");
    assert_eq!(entitlement["expires_date"], Value::Null);
    let subscription = &subscriber["subscriptions"]["pro_monthly"];
    for key in ["purchase_date", "original_purchase_date"] {
        assert!(is_date(&subscription[key]), "{key}");
    }
    for key in [
        "expires_date",
        "unsubscribe_detected_at",
        "billing_issues_detected_at",
        "grace_period_expires_date",
        "refunded_at",
    ] {
        assert!(is_date_or_null(&subscription[key]), "{key}");
    }
    assert!(subscription["store"].is_string() && subscription["is_sandbox"].is_boolean());
    assert!(
        ["normal", "intro", "trial", "prepaid"]
            .contains(&subscription["period_type"].as_str().unwrap())
    );
    assert!(
        ["PURCHASED", "FAMILY_SHARED"].contains(&subscription["ownership_type"].as_str().unwrap())
    );
    assert!(
        subscription["price"]["amount"].is_f64() && subscription["price"]["currency"].is_string()
    );
    let one_time = &subscriber["non_subscriptions"]["lifetime"][0];
    assert!(
        one_time["id"].is_string()
            && one_time["is_sandbox"].is_boolean()
            && one_time["store"].is_string()
    );
    for key in ["purchase_date", "original_purchase_date"] {
        assert!(is_date(&one_time[key]), "{key}");
    }
    assert!(
        subscriber
            .get("subscriber_attributes")
            .is_some_and(|a| a.as_object().unwrap().is_empty()),
        "public keys never see attributes"
    );
}

async fn offerings_show_the_current_offering_for_the_calling_app(server: &TestServer) {
    catalog(server).await;
    let (status, _, offerings) =
        send(sdk(server, Method::GET, "/v1/subscribers/frank/offerings")).await;
    assert_eq!(status, 200, "{offerings}");
    // purchases-js `src/networking/responses/offerings-response.ts`, purchases-ios
    // `Sources/Networking/Responses/OfferingsResponse.swift`: identifier, description, packages.
    assert_eq!(offerings["current_offering_id"], "default");
    let offering = &offerings["offerings"][0];
    assert_eq!(offering["identifier"], "default");
    assert_eq!(offering["description"], "Standard");
    assert_eq!(
        offering["packages"],
        json!([{"identifier": "$rc_monthly", "platform_product_identifier": "pro_monthly"}])
    );
    let (status, _, mapping) =
        send(sdk(server, Method::GET, "/v1/product_entitlement_mapping")).await;
    assert_eq!(status, 200);
    assert_eq!(
        mapping["product_entitlement_mapping"]["pro_monthly"]["entitlements"],
        json!(["pro"])
    );
    receipt(server, "frank", "tok_f", "pro_monthly").await;
    let (status, _, eligibility) = send(
        sdk(
            server,
            Method::POST,
            "/v1/subscribers/frank/intro_eligibility",
        )
        .json(&json!({"product_identifiers": ["pro_monthly", "lifetime"]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(eligibility, json!({"pro_monthly": false, "lifetime": true}));
}

async fn v1_errors_carry_revenuecat_codes(server: &TestServer) {
    catalog(server).await;
    let (status, _, body) = send(server.request(Method::GET, "/v1/subscribers/x")).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(7225)));
    let (status, body) = receipt(server, "gina", "tok_g", "no_such_product").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["code"].is_u64() && body["message"].is_string());
    let (status, _, body) = send(sdk(server, Method::POST, "/v1/receipts").json(&json!({
        "app_user_id": "", "fetch_token": "t", "product_id": "pro_monthly"})))
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(7220)), "{body}");
    let (status, _, body) = send(
        sdk(server, Method::POST, "/v1/receipts")
            .body("{not json")
            .header("Content-Type", "application/json"),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(7226)));
    // A receipt posted with an App Store app's key: that store is not verified yet (422).
    let app = cli_json(&server.cli(&[
        "apps",
        "create",
        "--project",
        &server.project_id,
        "--type",
        "app_store",
        "--name",
        "iOS",
        "--bundle-id",
        "com.example.ios",
    ]));
    let (status, _, body) = send(
        server
            .with_key(
                Method::POST,
                "/v1/receipts",
                app["public_api_key"].as_str().unwrap(),
            )
            .json(
                &json!({"app_user_id": "gina", "fetch_token": "jws", "product_id": "pro_monthly"}),
            ),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // Test-store actions the purchase's state forbids, and unknown purchases.
    receipt(server, "gina", "tok_life_g", "lifetime").await;
    assert_eq!(act(server, "tok_life_g", "cancel").await.0, 422);
    assert_eq!(act(server, "tok_life_g", "refund").await.0, 200);
    assert_eq!(act(server, "tok_life_g", "refund").await.0, 422);
    assert_eq!(act(server, "nope", "refund").await.0, 404);
    assert_eq!(act(server, "tok_life_g", "teleport").await.0, 400);
    assert!(
        customer(server, "gina").await["subscriber"]["non_subscriptions"]
            .as_object()
            .unwrap()
            .is_empty(),
        "refunded"
    );
}

async fn attributes_report_bad_keys_one_by_one(server: &TestServer) {
    let (status, _, body) = send(
        sdk(server, Method::POST, "/v1/subscribers/hank/attributes").json(&json!({
        "attributes": {
            "$email": {"value": "hank@example.com", "updated_at_ms": 1_700_000_000_000i64},
            "$notReserved": {"value": "x", "updated_at_ms": 1},
            "favorite_color": {"value": "green", "updated_at_ms": 1_700_000_000_000i64}}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 7263);
    assert_eq!(body["attribute_errors"].as_array().unwrap().len(), 1);
    assert_eq!(body["attribute_errors"][0]["key_name"], "$notReserved");
    let (status, _, body) = send(
        sdk(server, Method::POST, "/v1/subscribers/hank/attributes").json(&json!({
        "attributes": {"$displayName": {"value": "Hank", "updated_at_ms": 1}}})),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({})),
        "a JSON body: purchases-js parses it"
    );
    let (_, _, secret_view) = send(server.secret(Method::GET, "/v1/subscribers/hank")).await;
    let attributes = &secret_view["subscriber"]["subscriber_attributes"];
    assert_eq!(attributes["$email"]["value"], "hank@example.com");
    assert_eq!(attributes["favorite_color"]["value"], "green");
    assert!(attributes.get("$notReserved").is_none());
}

async fn promotional_grants_and_deletion_need_a_secret_key(server: &TestServer) {
    catalog(server).await;
    let grant = "/v1/subscribers/ivy/entitlements/pro/promotional";
    let (status, _, body) =
        send(sdk(server, Method::POST, grant).json(&json!({"duration": "weekly"}))).await;
    assert_eq!((status, body["code"].as_i64()), (403, Some(7225)), "{body}");
    let (status, _, granted) = send(
        server
            .secret(Method::POST, grant)
            .json(&json!({"duration": "weekly"})),
    )
    .await;
    assert_eq!(status, 201, "{granted}");
    assert!(is_active(&granted, "pro"));
    let product = granted["subscriber"]["entitlements"]["pro"]["product_identifier"]
        .as_str()
        .unwrap();
    assert!(product.starts_with("rc_promo_pro"), "{product}");
    assert_eq!(
        granted["subscriber"]["subscriptions"][product]["store"],
        "promotional"
    );
    let (status, _, body) = send(
        server
            .secret(Method::POST, grant)
            .json(&json!({"duration": "fortnightly"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // Dates past the year 9999 (which no SDK could read) are refused, naming the field.
    let year_10000 = 253_402_300_800_000i64;
    for (body, param) in [
        (json!({"end_time_ms": year_10000}), "end_time_ms"),
        (
            json!({"duration": "weekly", "start_time_ms": year_10000}),
            "start_time_ms",
        ),
        (
            json!({"duration": "yearly", "start_time_ms": year_10000 - 86_400_000}),
            "start_time_ms",
        ),
        (
            json!({"duration": "lifetime", "start_time_ms": i64::MAX}),
            "start_time_ms",
        ),
    ] {
        let (status, _, refused) = send(server.secret(Method::POST, grant).json(&body)).await;
        assert_eq!(status, 400, "{body}: {refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap_or_default()
                .contains(param),
            "{body}: {refused}"
        );
    }
    let (status, _, _) = send(
        server
            .secret(
                Method::POST,
                "/v1/subscribers/ivy/entitlements/nope/promotional",
            )
            .json(&json!({"duration": "weekly"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, revoked) = send(server.secret(
        Method::POST,
        "/v1/subscribers/ivy/entitlements/pro/revoke_promotionals",
    ))
    .await;
    assert_eq!(status, 200);
    assert!(!is_active(&revoked, "pro"));

    let (status, _, _) = send(sdk(server, Method::DELETE, "/v1/subscribers/ivy")).await;
    assert_eq!(status, 403);
    let (status, _, body) = send(server.secret(Method::DELETE, "/v1/subscribers/ivy")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = send(server.secret(Method::DELETE, "/v1/subscribers/ivy")).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(7259)));
    let (status, _, _) = send(sdk(server, Method::GET, "/v1/subscribers/ivy")).await;
    assert_eq!(status, 201, "a deleted customer is new again");
}

async fn logging_in_merges_anonymous_customers_and_switches_known_ones(server: &TestServer) {
    catalog(server).await;
    customer(server, "known_user").await;
    receipt(server, ANON, "tok_anon", "pro_monthly").await;
    let (status, _, merged) = send(
        sdk(server, Method::POST, "/v1/subscribers/identify")
            .json(&json!({"app_user_id": ANON, "new_app_user_id": "known_user"})),
    )
    .await;
    assert_eq!(status, 200, "the known id existed: {merged}");
    assert_eq!(merged["subscriber"]["original_app_user_id"], "known_user");
    assert!(
        is_active(&merged, "pro"),
        "the anonymous purchase was merged in"
    );
    // The anonymous id now names the known customer.
    assert_eq!(
        customer(server, ANON).await["subscriber"]["original_app_user_id"],
        "known_user"
    );

    // Known → another known id: a switch, nothing merges.
    customer(server, "other_user").await;
    let (status, _, switched) = send(
        sdk(server, Method::POST, "/v1/subscribers/identify")
            .json(&json!({"app_user_id": "known_user", "new_app_user_id": "other_user"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(switched["subscriber"]["original_app_user_id"], "other_user");
    assert!(!is_active(&switched, "pro"));
    assert!(
        is_active(&customer(server, "known_user").await, "pro"),
        "known_user keeps its purchase"
    );

    let (status, _, body) = send(
        sdk(server, Method::POST, "/v1/subscribers/identify")
            .json(&json!({"app_user_id": "known_user", "new_app_user_id": ""})),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(7220)));
}

async fn every_test_store_action_moves_the_subscription(server: &TestServer) {
    catalog(server).await;
    receipt(server, "jules", "tok_j", "pro_monthly").await;
    let expires =
        |info: &Value| millis(&info["subscriber"]["subscriptions"]["pro_monthly"]["expires_date"]);
    let start = expires(&customer(server, "jules").await);

    let (status, renewed) = act(server, "tok_j", "renew").await;
    assert_eq!(status, 200, "{renewed}");
    let after_renew = customer(server, "jules").await;
    assert!(
        expires(&after_renew) > start + 27 * DAY_MS,
        "renew adds a period"
    );

    assert_eq!(
        act(server, "tok_j", "uncancel").await.0,
        422,
        "not cancelled"
    );
    assert_eq!(
        act(server, "tok_j", "recover").await.0,
        422,
        "no billing issue"
    );
    assert_eq!(act(server, "tok_j", "billing_issue").await.0, 200);
    let troubled = customer(server, "jules").await;
    assert!(
        !troubled["subscriber"]["subscriptions"]["pro_monthly"]["billing_issues_detected_at"]
            .is_null()
    );
    assert_eq!(
        act(server, "tok_j", "billing_issue").await.0,
        422,
        "already has one"
    );
    assert_eq!(act(server, "tok_j", "recover").await.0, 200);
    assert!(customer(server, "jules").await["subscriber"]["subscriptions"]["pro_monthly"]["billing_issues_detected_at"].is_null());
    assert_eq!(act(server, "tok_j", "cancel").await.0, 200);
    let (status, uncancelled) = act(server, "tok_j", "uncancel").await;
    assert_eq!(
        (status, uncancelled["will_renew"].as_bool()),
        (200, Some(true))
    );
    let (status, expired) = act(server, "tok_j", "expire").await;
    assert_eq!(status, 200, "{expired}");
    assert!(!is_active(&customer(server, "jules").await, "pro"));
    assert_eq!(act(server, "tok_j", "expire").await.0, 422, "already over");
    let (status, refunded) = act(server, "tok_j", "refund").await;
    assert_eq!(status, 200, "{refunded}");
    let info = customer(server, "jules").await;
    assert!(!info["subscriber"]["subscriptions"]["pro_monthly"]["refunded_at"].is_null());
    assert_eq!(
        act(server, "tok_j", "renew").await.0,
        422,
        "a refunded subscription cannot renew"
    );
}

async fn v2_lists_the_customers_store_subscriptions_and_purchases(server: &TestServer) {
    catalog(server).await;
    receipt(server, "kim", "tok_k_sub", "pro_monthly").await;
    receipt(server, "kim", "tok_k_life", "lifetime").await;
    act(server, "tok_k_life", "refund").await;
    let list = |path: &str| send(server.secret(Method::GET, &server.project_path(path)));
    let (status, _, subscriptions) = list("/customers/kim/subscriptions").await;
    assert_eq!(status, 200, "{subscriptions}");
    let items = subscriptions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let sub = &items[0];
    assert_eq!(sub["object"], "subscription");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["gives_access"], true);
    assert_eq!(sub["auto_renewal_status"], "will_renew");
    assert_eq!(sub["store"], "test_store");
    assert_eq!(sub["environment"], "sandbox");
    assert_eq!(sub["store_subscription_identifier"], "tok_k_sub");
    assert_eq!(sub["total_revenue_in_usd"]["gross"], 4.99);
    assert_eq!(sub["entitlements"]["items"][0]["lookup_key"], "pro");
    assert!(sub["product_id"].as_str().unwrap().starts_with("prod"));
    let (_, _, production) = list("/customers/kim/subscriptions?environment=production").await;
    assert_eq!(production["items"], json!([]));

    let (status, _, purchases) = list("/customers/kim/purchases").await;
    assert_eq!(status, 200);
    assert_eq!(purchases["items"][0]["status"], "refunded");
    assert_eq!(
        purchases["items"][0]["store_purchase_identifier"],
        "tok_k_life"
    );

    act(server, "tok_k_sub", "cancel").await;
    let (_, _, after) = list("/customers/kim/subscriptions").await;
    assert_eq!(after["items"][0]["auto_renewal_status"], "will_not_renew");
    assert!(after["items"][0]["ends_at"].is_i64());
    let (status, _, _) = list("/customers/kim/subscriptions?starting_after=nope").await;
    assert_eq!(status, 400);
}
