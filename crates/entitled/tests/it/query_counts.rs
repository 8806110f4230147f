//! The CustomerInfo read path runs a bounded number of statements however long a customer's
//! history is (no N+1), counted on the PostgreSQL wire between the server and the database.

use reqwest::Method;
use serde_json::json;

use entitled_testkit::postgres::TestDatabase;
use entitled_testkit::query_counter::QueryCounter;

use crate::helpers::{TestServer, send};
use crate::jobs::{await_job, start};

const DAY_MS: i64 = 86_400_000;

/// The fewest statements one `GET /v1/subscribers/{id}` ran over a few tries (background
/// workers poll the same database now and then; the minimum leaves them out).
async fn statements_per_read(server: &TestServer, counter: &QueryCounter, user: &str) -> u64 {
    let path = format!("/v1/subscribers/{user}");
    let mut fewest = u64::MAX;
    for _ in 0..5 {
        let before = counter.executed();
        let (status, _, body) = send(server.with_key(Method::GET, &path, &server.public_key)).await;
        assert_eq!(status, 200, "{body}");
        fewest = fewest.min(counter.executed() - before);
    }
    fewest
}

#[tokio::test]
async fn customer_info_reads_run_the_same_statements_for_1_or_300_transactions() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let target = "127.0.0.1:5432".parse().expect("address");
    let counter = QueryCounter::start(target).await.expect("counting proxy");
    // TLS would hide the messages; the counter needs the plain protocol.
    let url = format!(
        "{}?sslmode=disable",
        database.url_via(&counter.address().to_string())
    );
    let server = TestServer::start_on(&url, &[]).await;
    crate::sdk::catalog(&server).await;

    let mut data = String::from(
        "app_user_id,store,product_id,store_transaction_id,purchased_at_ms,expires_at_ms\n",
    );
    let start_ms = 1_700_000_000_000i64;
    data.push_str(&format!("short,test_store,lifetime,short-1,{start_ms},\n"));
    for i in 0..300 {
        let bought = start_ms + i * DAY_MS;
        let product = if i % 3 == 0 {
            "lifetime"
        } else {
            "pro_monthly"
        };
        let expires = if product == "lifetime" {
            String::new()
        } else {
            (bought + 30 * DAY_MS).to_string()
        };
        data.push_str(&format!(
            "long,test_store,{product},long-{i},{bought},{expires}\n"
        ));
    }
    let location = start(&server, "/imports", json!({"format": "csv", "data": data})).await;
    let (job, _) = await_job(&server, &location).await;
    assert_eq!(job["result"]["imported"], 301, "{job}");

    let short = statements_per_read(&server, &counter, "short").await;
    let long = statements_per_read(&server, &counter, "long").await;
    assert!(
        short > 0,
        "the counter saw no statements; is it in the path?"
    );
    assert_eq!(
        short, long,
        "a read of 300 transactions ran {long} statements, one of 1 ran {short}"
    );
    assert!(short <= 12, "a CustomerInfo read ran {short} statements");
    println!("a CustomerInfo read runs {short} statements");
}
