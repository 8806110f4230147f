//! A stand-in for Google's side of Play purchase verification, on a loopback port: the OAuth
//! token endpoint of a service account it creates (checking the RS256 assertion as Google
//! does) and the two Play Developer API lookups (`purchases.subscriptionsv2.get`,
//! `purchases.products.get`) answering the purchases a test registered. Tests can make the
//! API fail or stall, and count what was asked.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The OAuth scope the token endpoint requires.
pub const ANDROID_PUBLISHER_SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";

/// The service account's email.
pub const CLIENT_EMAIL: &str = "entitled-test@entitled-test.iam.gserviceaccount.com";

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A running fake of Google's token endpoint and Play Developer API. Stops when dropped.
pub struct FakeGooglePlay {
    address: SocketAddr,
    shared: Arc<Shared>,
    private_key_pem: String,
    server: JoinHandle<()>,
}

struct Shared {
    public_key: Vec<u8>,
    token_uri: String,
    token_lifetime_secs: AtomicI64,
    token_requests: AtomicUsize,
    api_requests: AtomicUsize,
    issued: Mutex<HashSet<String>>,
    subscriptions: Mutex<HashMap<String, Value>>,
    products: Mutex<HashMap<String, Value>>,
    api_status: Mutex<Option<u16>>,
    api_delay: Mutex<Duration>,
}

impl FakeGooglePlay {
    /// Generates the service account's RSA key and starts serving on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let (private_key_pem, public_key) = new_key();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("the bound address");
        let shared = Arc::new(Shared {
            public_key,
            token_uri: format!("http://{address}/token"),
            token_lifetime_secs: AtomicI64::new(3599),
            token_requests: AtomicUsize::new(0),
            api_requests: AtomicUsize::new(0),
            issued: Mutex::new(HashSet::new()),
            subscriptions: Mutex::new(HashMap::new()),
            products: Mutex::new(HashMap::new()),
            api_status: Mutex::new(None),
            api_delay: Mutex::new(Duration::ZERO),
        });
        let app = Router::new()
            .route("/token", post(token))
            .route(
                "/androidpublisher/v3/applications/{package}/purchases/subscriptionsv2/tokens/{token}",
                get(subscription),
            )
            .route(
                "/androidpublisher/v3/applications/{package}/purchases/products/{product}/tokens/{token}",
                get(product),
            )
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            address,
            shared,
            private_key_pem,
            server,
        }
    }

    /// The API's base URL, e.g. `http://127.0.0.1:41234` (for the client's configuration).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The token endpoint's URL (the key file's `token_uri`).
    pub fn token_uri(&self) -> String {
        self.shared.token_uri.clone()
    }

    /// A service account key file whose token URI is this fake and whose key it trusts.
    pub fn service_account_json(&self) -> String {
        key_file(&self.private_key_pem, &self.shared.token_uri)
    }

    /// A key file like [`FakeGooglePlay::service_account_json`] but with another, freshly
    /// generated key: the fake refuses its assertions (`invalid_grant`), as Google does for
    /// a deleted key.
    pub fn foreign_service_account_json(&self) -> String {
        let (pem, _) = new_key();
        key_file(&pem, &self.shared.token_uri)
    }

    /// Makes `purchases.subscriptionsv2.get` answer `resource` for `purchase_token`.
    pub fn add_subscription(&self, purchase_token: &str, resource: Value) {
        lock(&self.shared.subscriptions).insert(purchase_token.to_string(), resource);
    }

    /// Makes `purchases.products.get` answer `resource` for `purchase_token`.
    pub fn add_product(&self, purchase_token: &str, resource: Value) {
        lock(&self.shared.products).insert(purchase_token.to_string(), resource);
    }

    /// Makes both API lookups answer `status` (with a Google-style error body) instead of the
    /// registered purchases, after checking the token; `None` restores normal answers.
    pub fn fail_with(&self, status: Option<u16>) {
        *lock(&self.shared.api_status) = status;
    }

    /// Makes both API lookups wait `delay` before answering.
    pub fn delay(&self, delay: Duration) {
        *lock(&self.shared.api_delay) = delay;
    }

    /// Sets the `expires_in` of tokens issued from now on (3599 s by default).
    pub fn set_token_lifetime(&self, seconds: i64) {
        self.shared
            .token_lifetime_secs
            .store(seconds, Ordering::SeqCst);
    }

    /// Forgets every issued token: the API answers 401 to them, as Google does for revoked ones.
    pub fn revoke_tokens(&self) {
        lock(&self.shared.issued).clear();
    }

    /// How many token requests arrived (granted or not).
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// How many API lookups arrived (answered or not).
    pub fn api_requests(&self) -> usize {
        self.shared.api_requests.load(Ordering::SeqCst)
    }
}

impl Drop for FakeGooglePlay {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl std::fmt::Debug for FakeGooglePlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGooglePlay")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A fresh RSA-2048 key: its PKCS#8 PEM and its public key (PKCS#1 `RSAPublicKey` DER).
fn new_key() -> (String, Vec<u8>) {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA key");
    let pkcs8: Pkcs8V1Der<'static> = key.as_der().expect("the key as PKCS#8");
    let body = STANDARD.encode(pkcs8.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    (pem, key.public_key().as_ref().to_vec())
}

fn key_file(private_key_pem: &str, token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "entitled-test",
        "private_key_id": "0123456789abcdef",
        "private_key": private_key_pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn invalid_grant(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_grant", "error_description": description})),
    )
        .into_response()
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    if form.get("grant_type").map(String::as_str) != Some(JWT_BEARER) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})),
        )
            .into_response();
    }
    let Some(assertion) = form.get("assertion") else {
        return invalid_grant("Missing assertion.");
    };
    if let Err(problem) = check_assertion(&shared, assertion) {
        return invalid_grant(problem);
    }
    let access_token = format!("ya29.fake-{}", shared.token_requests.load(Ordering::SeqCst));
    lock(&shared.issued).insert(access_token.clone());
    Json(json!({
        "access_token": access_token,
        "expires_in": shared.token_lifetime_secs.load(Ordering::SeqCst),
        "token_type": "Bearer",
    }))
    .into_response()
}

/// Checks a JWT bearer assertion as Google's token endpoint does.
fn check_assertion(shared: &Shared, assertion: &str) -> Result<(), &'static str> {
    let mut parts = assertion.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("Invalid JWT: not three parts.");
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| "Invalid JWT: not base64url.")
    };
    let header: Value =
        serde_json::from_slice(&decode(header)?).map_err(|_| "Invalid JWT: header.")?;
    if header["alg"] != "RS256" {
        return Err("Invalid JWT: alg must be RS256.");
    }
    let signing_input = &assertion[..assertion.len() - signature.len() - 1];
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &shared.public_key)
        .verify(signing_input.as_bytes(), &decode(signature)?)
        .map_err(|_| "Invalid JWT Signature.")?;
    let claims: Value =
        serde_json::from_slice(&decode(claims)?).map_err(|_| "Invalid JWT: claims.")?;
    if claims["iss"] != CLIENT_EMAIL {
        return Err("Invalid JWT: unknown issuer.");
    }
    if claims["aud"] != shared.token_uri.as_str() {
        return Err("Invalid JWT: Failed audience check.");
    }
    let scopes = claims["scope"].as_str().unwrap_or("");
    if !scopes.split(' ').any(|s| s == ANDROID_PUBLISHER_SCOPE) {
        return Err("Invalid JWT: scope does not include androidpublisher.");
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return Err("Invalid JWT: iat and exp must be numbers.");
    };
    if exp <= unix_now() {
        return Err(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    if exp - iat > 3600 || exp < iat {
        return Err("Invalid JWT: exp must be at most an hour after iat.");
    }
    Ok(())
}

/// Google's API error body.
fn api_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "status": status.canonical_reason().unwrap_or("UNKNOWN").to_uppercase().replace(' ', "_"),
        }})),
    )
        .into_response()
}

/// Counts the request, checks its bearer token, then applies the delay and forced status.
async fn gate(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    shared.api_requests.fetch_add(1, Ordering::SeqCst);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let known = bearer.is_some_and(|token| lock(&shared.issued).contains(token));
    if !known {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        ));
    }
    let delay = *lock(&shared.api_delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = *lock(&shared.api_status) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err(api_error(status, "The fake was told to fail."));
    }
    Ok(())
}

fn found(resource: Option<Value>) -> Response {
    match resource {
        Some(resource) => Json(resource).into_response(),
        None => api_error(StatusCode::NOT_FOUND, "The purchase token was not found."),
    }
}

async fn subscription(
    State(shared): State<Arc<Shared>>,
    Path((_package, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = gate(&shared, &headers).await {
        return refused;
    }
    found(lock(&shared.subscriptions).get(&token).cloned())
}

async fn product(
    State(shared): State<Arc<Shared>>,
    Path((_package, _product, token)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = gate(&shared, &headers).await {
        return refused;
    }
    found(lock(&shared.products).get(&token).cloned())
}
