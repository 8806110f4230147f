//! 429 for real: per key and domain, with RevenueCat's headers, on one node and across two
//! nodes sharing PostgreSQL or Redis.

use reqwest::Method;

use crate::helpers::{self, Db, TestDb, TestServer, assert_v2_error, send};

#[tokio::test]
async fn a_key_over_its_domain_rate_gets_429_with_backoff() {
    let server = TestServer::start_with(
        Db::Sqlite,
        &["--rate-limits", "project_configuration=3/1h,sdk=2/1h"],
    )
    .await
    .expect("sqlite");
    let apps = server.project_path("/apps");
    for expected_usage in 1..=3 {
        let (status, headers, _) = send(server.secret(Method::GET, &apps)).await;
        assert_eq!(status, 200);
        assert_eq!(
            headers["revenuecat-rate-limit-current-usage"],
            expected_usage.to_string().as_str()
        );
        assert_eq!(headers["revenuecat-rate-limit-current-limit"], "3");
    }
    let (status, headers, body) = send(server.secret(Method::GET, &apps)).await;
    assert_v2_error(status, &body, 429, "rate_limit_error");
    assert_eq!(body["retryable"], true);
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after));
    assert_eq!(body["backoff_ms"].as_u64(), Some(retry_after * 1000));
    crate::conformance::assert_conforms("GET", "/projects/{project_id}/apps", 429, &body);
    // Another domain and another key are counted apart.
    let (status, headers, _) =
        send(server.secret(Method::GET, &server.project_path("/customers"))).await;
    assert_eq!(status, 200);
    assert_eq!(headers["revenuecat-rate-limit-current-usage"], "1");
    // v1 answers in its own dialect.
    let user = "/v1/subscribers/rl_user";
    assert_eq!(
        send(server.with_key(Method::GET, user, &server.public_key))
            .await
            .0,
        201
    );
    assert_eq!(
        send(server.with_key(Method::GET, user, &server.public_key))
            .await
            .0,
        200
    );
    let (status, headers, body) =
        send(server.with_key(Method::GET, user, &server.public_key)).await;
    assert_eq!((status, body["code"].as_i64()), (429, Some(7114)), "{body}");
    assert!(headers.contains_key("retry-after"));
    // Unlimited paths stay unlimited.
    for _ in 0..5 {
        assert_eq!(send(server.request(Method::GET, "/v1/health")).await.0, 200);
    }
}

#[tokio::test]
async fn two_nodes_on_one_postgresql_share_the_rate() {
    let Some(db) = TestDb::create(Db::Postgres).await else {
        return;
    };
    let limits = ["--rate-limits", "project_configuration=10/1h"];
    let one = TestServer::start_on(&db.url, &limits).await;
    let two = TestServer::start_on(&db.url, &limits).await;
    assert_eq!(
        allowed_alternating(&one, &two, 30).await,
        10,
        "the two nodes together allow the configured rate"
    );
}

/// Sends `total` project-configuration requests with one key, alternating between two nodes;
/// answers how many were allowed (every refusal must be a 429 with `Retry-After`).
async fn allowed_alternating(one: &TestServer, two: &TestServer, total: usize) -> usize {
    let path = one.project_path("/apps");
    let mut allowed = 0;
    for i in 0..total {
        let node = if i % 2 == 0 { one } else { two };
        let (status, headers, _) = send(node.with_key(Method::GET, &path, &one.secret_key)).await;
        match status {
            200 => allowed += 1,
            429 => assert!(headers.contains_key("retry-after")),
            other => panic!("unexpected {other}"),
        }
    }
    allowed
}

#[tokio::test]
async fn two_nodes_sharing_redis_share_the_rate() {
    let Some(redis_url) = entitled_testkit::redis::available().await else {
        return;
    };
    let Some(db) = TestDb::create(Db::Postgres).await else {
        return;
    };
    let flags = [
        "--rate-limits",
        "project_configuration=10/1h",
        "--rate-limit-store",
        redis_url.as_str(),
    ];
    let one = TestServer::start_on(&db.url, &flags).await;
    let two = TestServer::start_on(&db.url, &flags).await;
    assert_eq!(
        allowed_alternating(&one, &two, 30).await,
        10,
        "the two nodes together allow the configured rate"
    );
    let in_database = entitled_testkit::raw::postgres_scalar(
        &db.url,
        "SELECT COUNT(*)::BIGINT FROM rate_limit_windows",
    )
    .await;
    assert_eq!(in_database, 0, "Redis, not PostgreSQL, held the counts");
}

#[tokio::test]
async fn an_unusable_rate_limit_store_stops_start_up_with_a_reason() {
    for (store, reason) in [
        ("carrier-pigeon", "expected memory, database or redis"),
        ("redis://:hunter2@127.0.0.1:1/", "rate-limit store"),
    ] {
        let output = tokio::process::Command::new(helpers::binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                "sqlite::memory:",
            ])
            .args(["--rate-limit-store", store])
            .env_remove("DATABASE_URL")
            .output()
            .await
            .expect("run entitled");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{store} should not start");
        assert!(stderr.contains(reason), "{store}: {stderr}");
        assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
    }
}

#[tokio::test]
async fn a_per_second_rate_holds_across_two_busy_nodes() {
    let Some(db) = TestDb::create(Db::Postgres).await else {
        return;
    };
    const RATE: usize = 40;
    const SECONDS: u64 = 3;
    let limits = ["--rate-limits", "project_configuration=40/1s"];
    let one = TestServer::start_on(&db.url, &limits).await;
    let two = TestServer::start_on(&db.url, &limits).await;
    // Begin just after a window opens and stop just before the last one closes, so exactly
    // SECONDS windows are touched, each driven far past its rate by 8 senders per node.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    let to_next_second = 1_000 - u64::from(since_epoch.subsec_millis());
    tokio::time::sleep(std::time::Duration::from_millis(to_next_second + 20)).await;
    let deadline =
        tokio::time::Instant::now() + std::time::Duration::from_millis(SECONDS * 1_000 - 150);
    let path = one.project_path("/apps");
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..16 {
        let node = if sender % 2 == 0 { &one } else { &two };
        let request = node.with_key(Method::GET, &path, &one.secret_key);
        senders.spawn(async move {
            let (mut allowed, mut refused) = (0usize, 0usize);
            while tokio::time::Instant::now() < deadline {
                let attempt = request.try_clone().expect("a bodiless request clones");
                match send(attempt).await.0 {
                    200 => allowed += 1,
                    429 => refused += 1,
                    other => panic!("unexpected {other}"),
                }
            }
            (allowed, refused)
        });
    }
    let counts = senders.join_all().await;
    let allowed: usize = counts.iter().map(|c| c.0).sum();
    let refused: usize = counts.iter().map(|c| c.1).sum();
    let expected = RATE * SECONDS as usize;
    println!("{allowed} allowed and {refused} refused in {SECONDS} s at {RATE}/s");
    assert!(
        refused > expected,
        "the nodes were not driven past the rate ({refused} refused)"
    );
    assert!(
        allowed.abs_diff(expected) * 10 <= expected,
        "{allowed} allowed in {SECONDS} s at {RATE}/s over two nodes (expected {expected} ± 10 %)"
    );
}
