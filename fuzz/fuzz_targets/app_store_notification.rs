//! App Store Server Notifications V2 (`POST` bodies `{"signedPayload": …}`) through
//! `SignedDataVerifier::verify_notification` and `AppStoreNotification::effect`. The first
//! byte picks the mode:
//!
//! - even: the rest is the body as Apple posts it, parsed as `NotificationBody` and verified
//!   with Apple's test CA trusted (`shared/fixtures/apple/certs/testCA.der`); only what
//!   Apple signed may be accepted.
//! - odd: the rest is a plan. The target signs a notification (its type, subtype, dates,
//!   bundle, and a nested signed transaction and renewal info) with `entitled-testkit`'s
//!   `AppleSigner`, whose root is trusted too, then spoils the outer or a nested JWS as the
//!   plan says: header (`alg`, the `x5c` entries, their DER), payload or signature bytes,
//!   the parts themselves. Signed data left as signed must verify to what was signed, with
//!   lifecycle facts in range; any change to what a signature covers must be refused.
#![no_main]

use std::num::NonZeroU8;
use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use entitled_core::UnixMillis;
use entitled_core::purchases::{LifecycleKind, Store};
use entitled_core::time::LATEST;
use entitled_stores::app_store::{
    AppStoreNotification, NotificationBody, NotificationEffect, SignedDataError,
    SignedDataVerifier, TrustedRoots, encode_part,
};
use entitled_testkit::apple::{AppleSigner, transaction_payload};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const TEST_CA: &[u8] = include_bytes!("../../../shared/fixtures/apple/certs/testCA.der");
/// Apple's signed notifications under its test CA (apple/app-store-server-library-python,
/// MIT): the only outer payloads the body mode may see accepted.
const APPLE_SIGNED: [&str; 2] = [
    include_str!("../../../shared/fixtures/apple/mock_signed_data/testNotification"),
    include_str!("../../../shared/fixtures/apple/mock_signed_data/wrongBundleId"),
];
/// The bundle of Apple's fixtures, and of the notifications signed here.
const BUNDLE: &str = "com.example";
/// The moment of verification: inside the validity of both test chains.
const NOW: UnixMillis = UnixMillis(1_795_514_400_000);
/// `AppleSigner`'s certificates are valid 2020-01-01 to 2040-01-01.
const SIGNER_FROM: i64 = 1_577_836_800_000;
const SIGNER_UNTIL: i64 = 2_208_988_800_000;
const DAY: i64 = 86_400_000;

/// base64url as the verifier reads it: padded or not.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

struct Keys {
    signer: AppleSigner,
    verifier: SignedDataVerifier,
    /// The `x5c` of Apple's test chain: trusted, but not the signer's.
    apple_chain: Value,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let signer = AppleSigner::new();
    let roots = TrustedRoots::new(&[TEST_CA.to_vec(), signer.root_der()]).expect("roots");
    let header = BASE64URL
        .decode(APPLE_SIGNED[0].trim().split('.').next().unwrap_or_default())
        .expect("Apple's header is base64url");
    let header: Value = serde_json::from_slice(&header).expect("Apple's header is JSON");
    Keys {
        signer,
        verifier: SignedDataVerifier::new(roots),
        apple_chain: header["x5c"].clone(),
    }
});

#[derive(Debug, Arbitrary)]
struct Plan {
    kind: Kind,
    subtype: Option<Subtype>,
    uuid: String,
    signed_date: Date,
    /// Whether the payload has `data` at all (summary and test notifications may not).
    with_data: bool,
    bundle: Bundle,
    environment: Option<String>,
    transaction: Option<Signed<TransactionPlan>>,
    renewal: Option<Signed<RenewalPlan>>,
    mutation: Mutation,
}

#[derive(Debug, Arbitrary)]
enum Kind {
    Subscribed,
    DidRenew,
    OfferRedeemed,
    OneTimeCharge,
    DidChangeRenewalPref,
    DidChangeRenewalStatus,
    DidFailToRenew,
    Expired,
    Refund,
    Revoke,
    RefundReversed,
    RenewalExtended,
    Test,
    Other(String),
}

impl Kind {
    fn name(&self) -> &str {
        match self {
            Kind::Subscribed => "SUBSCRIBED",
            Kind::DidRenew => "DID_RENEW",
            Kind::OfferRedeemed => "OFFER_REDEEMED",
            Kind::OneTimeCharge => "ONE_TIME_CHARGE",
            Kind::DidChangeRenewalPref => "DID_CHANGE_RENEWAL_PREF",
            Kind::DidChangeRenewalStatus => "DID_CHANGE_RENEWAL_STATUS",
            Kind::DidFailToRenew => "DID_FAIL_TO_RENEW",
            Kind::Expired => "EXPIRED",
            Kind::Refund => "REFUND",
            Kind::Revoke => "REVOKE",
            Kind::RefundReversed => "REFUND_REVERSED",
            Kind::RenewalExtended => "RENEWAL_EXTENDED",
            Kind::Test => "TEST",
            Kind::Other(name) => name,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Subtype {
    Upgrade,
    Downgrade,
    AutoRenewDisabled,
    AutoRenewEnabled,
    BillingRecovery,
    GracePeriod,
    Voluntary,
    Other(String),
}

impl Subtype {
    fn name(&self) -> &str {
        match self {
            Subtype::Upgrade => "UPGRADE",
            Subtype::Downgrade => "DOWNGRADE",
            Subtype::AutoRenewDisabled => "AUTO_RENEW_DISABLED",
            Subtype::AutoRenewEnabled => "AUTO_RENEW_ENABLED",
            Subtype::BillingRecovery => "BILLING_RECOVERY",
            Subtype::GracePeriod => "GRACE_PERIOD",
            Subtype::Voluntary => "VOLUNTARY",
            Subtype::Other(name) => name,
        }
    }
}

/// A `signedDate`.
#[derive(Debug, Arbitrary)]
enum Date {
    /// Within the signer's certificates' validity.
    Valid(u32),
    Absent,
    Any(i64),
}

impl Date {
    fn ms(&self) -> Option<i64> {
        match self {
            Date::Valid(offset) => Some(
                SIGNER_FROM + DAY + i64::from(*offset) % (SIGNER_UNTIL - SIGNER_FROM - 2 * DAY),
            ),
            Date::Absent => None,
            Date::Any(ms) => Some(*ms),
        }
    }

    /// Whether the signer's chain is valid at this date (absent: at `NOW`); `None` within a
    /// day of either end, where seconds and time zones are not worth modelling.
    fn chain_valid(&self) -> Option<bool> {
        let ms = self.ms().unwrap_or(NOW.0);
        if (SIGNER_FROM + DAY..=SIGNER_UNTIL - DAY).contains(&ms) {
            Some(true)
        } else if ms < SIGNER_FROM - DAY || ms > SIGNER_UNTIL + DAY {
            Some(false)
        } else {
            None
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Bundle {
    Ours,
    Absent,
    Other(String),
}

impl Bundle {
    fn id(&self) -> Option<&str> {
        match self {
            Bundle::Ours => Some(BUNDLE),
            Bundle::Absent => None,
            Bundle::Other(id) => Some(id),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Signed<T> {
    content: T,
    mutation: Mutation,
}

#[derive(Debug, Arbitrary)]
struct TransactionPlan {
    transaction_id: String,
    original_transaction_id: String,
    product_id: String,
    purchase_date: i64,
    expires_date: Option<i64>,
    product_type: Option<String>,
    family_shared: bool,
    production: bool,
    price: Option<i64>,
    currency: Option<String>,
    offer_type: Option<i64>,
    offer_discount_type: Option<String>,
    revocation_date: Option<i64>,
    signed_date: Date,
    bundle: Bundle,
}

#[derive(Debug, Arbitrary)]
struct RenewalPlan {
    original_transaction_id: String,
    grace_period_expires_date: Option<i64>,
    signed_date: Date,
}

/// How a JWS is spoiled after signing (or left as signed).
#[derive(Debug, Arbitrary)]
enum Mutation {
    None,
    /// Whitespace around it: still the same signed data.
    Surround(Vec<Whitespace>, Vec<Whitespace>),
    /// `==` after the signature: base64url padded, still the same signature.
    PadSignature,
    Header(HeaderMutation),
    Payload(BytesMutation),
    Signature(BytesMutation),
    DropSignature,
    ExtraPart(String),
    /// The standard base64 alphabet instead of base64url.
    StandardAlphabet,
}

#[derive(Debug, Arbitrary)]
enum Whitespace {
    Space,
    Tab,
    Cr,
    Lf,
}

#[derive(Debug, Arbitrary)]
enum HeaderMutation {
    Alg(String),
    Typ(String),
    Kid(String),
    DropX5c,
    KeepX5c(u8),
    SwapX5c,
    /// Apple's test chain, trusted too, whose leaf did not sign.
    ForeignX5c,
    CorruptCert {
        entry: u8,
        index: u16,
        xor: NonZeroU8,
    },
    ReplaceCert {
        entry: u8,
        der: Vec<u8>,
    },
    NotBase64 {
        entry: u8,
        text: String,
    },
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum BytesMutation {
    FlipBit(u16),
    Truncate(u16),
    Append(Vec<u8>),
    Raw(Vec<u8>),
}

impl BytesMutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            BytesMutation::FlipBit(bit) => {
                if !bytes.is_empty() {
                    let bit = usize::from(*bit) % (bytes.len() * 8);
                    bytes[bit / 8] ^= 1 << (bit % 8);
                }
            }
            BytesMutation::Truncate(len) => bytes.truncate(usize::from(*len)),
            BytesMutation::Append(more) => bytes.extend_from_slice(more),
            BytesMutation::Raw(raw) => *bytes = raw.clone(),
        }
    }
}

fn decode(part: &str) -> Vec<u8> {
    BASE64URL.decode(part).expect("the signer writes base64url")
}

fn mutate_header(header: &[u8], mutation: &HeaderMutation) -> Vec<u8> {
    let mut header: Value = serde_json::from_slice(header).expect("the signer writes JSON");
    let x5c =
        |header: &Value| -> Vec<Value> { header["x5c"].as_array().cloned().unwrap_or_default() };
    let pick = |chain: &[Value], entry: u8| usize::from(entry) % chain.len().max(1);
    match mutation {
        HeaderMutation::Alg(alg) => header["alg"] = json!(alg),
        HeaderMutation::Typ(typ) => header["typ"] = json!(typ),
        HeaderMutation::Kid(kid) => header["kid"] = json!(kid),
        HeaderMutation::DropX5c => {
            if let Some(fields) = header.as_object_mut() {
                fields.remove("x5c");
            }
        }
        HeaderMutation::KeepX5c(count) => {
            let mut chain = x5c(&header);
            chain.truncate(usize::from(*count));
            header["x5c"] = Value::Array(chain);
        }
        HeaderMutation::SwapX5c => {
            let mut chain = x5c(&header);
            if chain.len() > 1 {
                chain.swap(0, 1);
            }
            header["x5c"] = Value::Array(chain);
        }
        HeaderMutation::ForeignX5c => header["x5c"] = KEYS.apple_chain.clone(),
        HeaderMutation::CorruptCert { entry, index, xor } => {
            let mut chain = x5c(&header);
            let at = pick(&chain, *entry);
            if let Some(Value::String(cert)) = chain.get(at) {
                let mut der = STANDARD.decode(cert).expect("the signer writes base64");
                if !der.is_empty() {
                    let index = usize::from(*index) % der.len();
                    der[index] ^= xor.get();
                }
                chain[at] = json!(STANDARD.encode(der));
            }
            header["x5c"] = Value::Array(chain);
        }
        HeaderMutation::ReplaceCert { entry, der } => {
            let mut chain = x5c(&header);
            let at = pick(&chain, *entry);
            if at < chain.len() {
                chain[at] = json!(STANDARD.encode(der));
            }
            header["x5c"] = Value::Array(chain);
        }
        HeaderMutation::NotBase64 { entry, text } => {
            let mut chain = x5c(&header);
            let at = pick(&chain, *entry);
            if at < chain.len() {
                chain[at] = json!(text);
            }
            header["x5c"] = Value::Array(chain);
        }
        HeaderMutation::Raw(raw) => return raw.clone(),
    }
    serde_json::to_vec(&header).expect("a JSON value serialises")
}

fn mutate(jws: &str, mutation: &Mutation) -> String {
    let parts: Vec<&str> = jws.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        unreachable!("the signer writes three parts")
    };
    let join = |h: &str, p: &str, s: &str| format!("{h}.{p}.{s}");
    match mutation {
        Mutation::None => jws.to_string(),
        Mutation::Surround(before, after) => {
            let ws = |list: &[Whitespace]| -> String {
                list.iter()
                    .map(|w| match w {
                        Whitespace::Space => ' ',
                        Whitespace::Tab => '\t',
                        Whitespace::Cr => '\r',
                        Whitespace::Lf => '\n',
                    })
                    .collect()
            };
            format!("{}{jws}{}", ws(before), ws(after))
        }
        Mutation::PadSignature => format!("{jws}=="),
        Mutation::Header(how) => {
            let header = encode_part(&mutate_header(&decode(header), how));
            join(&header, payload, signature)
        }
        Mutation::Payload(how) => {
            let mut bytes = decode(payload);
            how.apply(&mut bytes);
            join(header, &encode_part(&bytes), signature)
        }
        Mutation::Signature(how) => {
            let mut bytes = decode(signature);
            how.apply(&mut bytes);
            join(header, payload, &encode_part(&bytes))
        }
        Mutation::DropSignature => format!("{header}.{payload}"),
        Mutation::ExtraPart(extra) => format!("{jws}.{extra}"),
        Mutation::StandardAlphabet => jws.replace('-', "+").replace('_', "/"),
    }
}

/// Whether `mutated` is still `original`'s signed data as the verifier reads it: the same
/// header and payload text, and the same signature bytes.
fn same_signed_data(original: &str, mutated: &str) -> bool {
    let mutated: Vec<&str> = mutated.trim().split('.').collect();
    let original: Vec<&str> = original.split('.').collect();
    mutated.len() == 3
        && mutated[..2] == original[..2]
        && BASE64URL.decode(mutated[2]).ok() == BASE64URL.decode(original[2]).ok()
}

/// What verifying one JWS of the plan should give: `Some(true)` accepted, `Some(false)`
/// refused, `None` not predicted.
fn predicted(original: &str, mutated: &str, date: &Date) -> Option<bool> {
    if !same_signed_data(original, mutated) {
        return Some(false);
    }
    date.chain_valid()
}

fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn transaction_json(plan: &TransactionPlan) -> Value {
    let mut t = transaction_payload(
        plan.bundle.id().unwrap_or_default(),
        &plan.transaction_id,
        &plan.original_transaction_id,
        &plan.product_id,
        plan.purchase_date,
        plan.expires_date,
    );
    let fields = [
        ("type", plan.product_type.as_ref().map(|v| json!(v))),
        ("price", plan.price.map(|v| json!(v))),
        ("currency", plan.currency.as_ref().map(|v| json!(v))),
        ("offerType", plan.offer_type.map(|v| json!(v))),
        (
            "offerDiscountType",
            plan.offer_discount_type.as_ref().map(|v| json!(v)),
        ),
        ("revocationDate", plan.revocation_date.map(|v| json!(v))),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            t[name] = value;
        }
    }
    if plan.family_shared {
        t["inAppOwnershipType"] = json!("FAMILY_SHARED");
    }
    if plan.production {
        t["environment"] = json!("Production");
    }
    let object = t.as_object_mut().expect("an object");
    match plan.signed_date.ms() {
        Some(ms) => object.insert("signedDate".into(), json!(ms)),
        None => object.remove("signedDate"),
    };
    if plan.bundle.id().is_none() {
        object.remove("bundleId");
    }
    t
}

fn structured(plan: &Plan) {
    let keys = &*KEYS;
    let sign = |payload: &Value, mutation: &Mutation| {
        let original = keys.signer.sign(payload);
        let mutated = mutate(&original, mutation);
        (original, mutated)
    };
    let transaction = plan.transaction.as_ref().map(|t| {
        let (original, mutated) = sign(&transaction_json(&t.content), &t.mutation);
        let mut ok = predicted(&original, &mutated, &t.content.signed_date);
        // Apple's fields entitled needs: a signed date and the app's bundle.
        if t.content.signed_date.ms().is_none() || t.content.bundle.id() != Some(BUNDLE) {
            ok = and(ok, Some(false));
        }
        (mutated, ok)
    });
    let renewal = plan.renewal.as_ref().map(|r| {
        let mut payload = json!({
            "originalTransactionId": r.content.original_transaction_id,
            "gracePeriodExpiresDate": r.content.grace_period_expires_date,
        });
        if let Some(ms) = r.content.signed_date.ms() {
            payload["signedDate"] = json!(ms);
        }
        let (original, mutated) = sign(&payload, &r.mutation);
        let ok = predicted(&original, &mutated, &r.content.signed_date);
        (mutated, ok)
    });

    let mut payload = json!({
        "notificationType": plan.kind.name(),
        "subtype": plan.subtype.as_ref().map(Subtype::name),
        "notificationUUID": plan.uuid,
        "version": "2.0",
    });
    if let Some(ms) = plan.signed_date.ms() {
        payload["signedDate"] = json!(ms);
    }
    let mut nested_ok = Some(true);
    if plan.with_data {
        let mut data = json!({});
        if let Some(bundle) = plan.bundle.id() {
            data["bundleId"] = json!(bundle);
        }
        if let Some(environment) = &plan.environment {
            data["environment"] = json!(environment);
        }
        if let Some((jws, ok)) = &transaction {
            data["signedTransactionInfo"] = json!(jws);
            nested_ok = and(nested_ok, *ok);
        }
        if let Some((jws, ok)) = &renewal {
            data["signedRenewalInfo"] = json!(jws);
            nested_ok = and(nested_ok, *ok);
        }
        payload["data"] = data;
    }
    let (original, mutated) = sign(&payload, &plan.mutation);
    let outer_ok = predicted(&original, &mutated, &plan.signed_date);
    let foreign_bundle = plan
        .with_data
        .then(|| plan.bundle.id())
        .flatten()
        .filter(|bundle| *bundle != BUNDLE);

    let body = NotificationBody {
        signed_payload: mutated,
    };
    let result = keys.verifier.verify_notification(&body, BUNDLE, NOW);
    if let Ok(notification) = &result {
        check_verified(notification);
    }
    match outer_ok {
        // Changed signed data, or a chain outside its validity: refused before anything
        // inside is looked at.
        Some(false) => match &result {
            Err(SignedDataError::WrongBundle { .. }) => panic!("read unverified data: {result:?}"),
            Err(_) => {}
            Ok(_) => panic!("accepted spoiled signed data: {plan:?}"),
        },
        Some(true) => {
            if let Some(found) = foreign_bundle {
                assert_eq!(
                    result,
                    Err(SignedDataError::WrongBundle {
                        expected: BUNDLE.into(),
                        found: found.into()
                    })
                );
                return;
            }
            match nested_ok {
                Some(false) => assert!(result.is_err(), "accepted spoiled nested data: {plan:?}"),
                Some(true) => {
                    let notification = match result {
                        Ok(notification) => notification,
                        Err(err) => panic!("refused intact data: {err:?} for {plan:?}"),
                    };
                    assert_eq!(notification.notification_uuid, plan.uuid);
                    assert_eq!(notification.notification_type, plan.kind.name());
                    assert_eq!(
                        notification.subtype.as_deref(),
                        plan.subtype.as_ref().map(Subtype::name)
                    );
                    assert_eq!(
                        notification.signed_date,
                        plan.signed_date.ms().unwrap_or(NOW.0)
                    );
                    let data = plan.with_data;
                    assert_eq!(
                        notification.transaction.is_some(),
                        data && plan.transaction.is_some()
                    );
                    assert_eq!(
                        notification.renewal.is_some(),
                        data && plan.renewal.is_some()
                    );
                    if let (Some(verified), Some(t)) =
                        (&notification.transaction, &plan.transaction)
                    {
                        assert_eq!(verified.transaction_id, t.content.transaction_id);
                        assert_eq!(verified.purchase_date, t.content.purchase_date);
                    }
                }
                None => {}
            }
        }
        None => {}
    }
}

/// What any accepted notification must satisfy, whoever signed it.
fn check_verified(notification: &AppStoreNotification) {
    if let Some(bundle) = &notification.bundle_id {
        assert_eq!(bundle, BUNDLE);
    }
    if let Some(transaction) = &notification.transaction {
        assert_eq!(transaction.bundle_id, BUNDLE);
        if let Ok(fact) = transaction.to_fact("app", "cus") {
            assert_eq!(fact.store, Store::AppStore);
            assert!((0..=LATEST.0).contains(&fact.purchased_at.0));
            assert!(
                fact.expires_at
                    .is_none_or(|at| (0..=LATEST.0).contains(&at.0))
            );
            assert!(fact.price.is_none_or(|p| p.amount_micros >= 0));
        }
    }
    let in_range = |at: UnixMillis| (0..=LATEST.0).contains(&at.0);
    match notification.effect() {
        NotificationEffect::Nothing => {}
        NotificationEffect::Transaction => assert!(notification.transaction.is_some()),
        NotificationEffect::TransactionThen(event) => {
            let transaction = notification
                .transaction
                .as_ref()
                .expect("about a transaction");
            assert_eq!(event.store, Store::AppStore);
            assert_eq!(
                event.original_transaction_id,
                transaction.original_transaction_id
            );
            assert!(in_range(event.occurred_at), "{event:?}");
            match event.kind {
                LifecycleKind::BillingIssue {
                    grace_period_expires_at: Some(at),
                }
                | LifecycleKind::Extended { expires_at: at } => assert!(in_range(at), "{event:?}"),
                _ => {}
            }
        }
    }
}

/// The body as Apple posts it; only Apple's own notifications can be accepted here.
fn body(json: &[u8]) {
    let Ok(body) = serde_json::from_slice::<NotificationBody>(json) else {
        return;
    };
    let result = KEYS.verifier.verify_notification(&body, BUNDLE, NOW);
    if let Ok(notification) = &result {
        let signed = |jws: &str| {
            jws.trim()
                .rsplit_once('.')
                .map(|(signed, _)| signed.to_string())
        };
        assert!(
            APPLE_SIGNED
                .iter()
                .any(|apple| signed(apple) == signed(&body.signed_payload)),
            "accepted what Apple's test CA did not sign: {body:?}"
        );
        check_verified(notification);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        body(rest);
    } else if let Ok(plan) = Plan::arbitrary_take_rest(Unstructured::new(rest)) {
        structured(&plan);
    }
});
