//! Exports and imports as 202 jobs: 100,000 purchases each way, progress while they run,
//! idempotent re-runs, and jobs that survive a crash of the node that accepted them.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Db, TestDb, TestServer, assert_v2_error, send};

const HEADER: &str =
    "app_user_id,store,product_id,store_transaction_id,purchased_at_ms,expires_at_ms";

/// `count` purchases for `count / 2` customers: a subscription and a lifetime purchase each.
fn rows(count: usize, prefix: &str) -> String {
    let mut data = String::with_capacity(count * 64);
    data.push_str(HEADER);
    data.push('\n');
    let day = 86_400_000i64;
    for i in 0..count {
        let user = format!("{prefix}{}", i / 2);
        if i % 2 == 0 {
            data.push_str(&format!(
                "{user},test_store,pro_monthly,{prefix}sub{i},{},{}\n",
                1_700_000_000_000i64,
                1_700_000_000_000i64 + 30 * day
            ));
        } else {
            data.push_str(&format!(
                "{user},test_store,lifetime,{prefix}life{i},{},\n",
                1_700_000_000_000i64
            ));
        }
    }
    data
}

/// Polls a job until it succeeds; returns it and the progress values seen on the way.
pub(crate) async fn await_job(server: &TestServer, location: &str) -> (Value, Vec<i64>) {
    let mut seen = Vec::new();
    for _ in 0..2_400 {
        let (status, _, job) = send(server.secret(Method::GET, location)).await;
        assert_eq!(status, 200, "{job}");
        seen.push(job["progress"].as_i64().unwrap());
        if job["status"] == "succeeded" || job["status"] == "failed" {
            return (job, seen);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job did not finish: {location}");
}

pub(crate) async fn start(server: &TestServer, path: &str, body: Value) -> String {
    let (status, headers, job) = send(
        server
            .secret(Method::POST, &server.project_path(path))
            .json(&body),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["object"], "job");
    headers["location"].to_str().unwrap().to_string()
}

async fn import_and_export(server: &TestServer, count: usize) {
    crate::sdk::catalog(server).await;
    let data = rows(count, "imp");
    let location = start(server, "/imports", json!({"format": "csv", "data": data})).await;
    let (job, progress) = await_job(server, &location).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["imported"], count as u64, "{job}");
    assert_eq!(job["result"]["rejected"], 0);
    if count >= 50_000 {
        assert!(
            progress.iter().any(|p| *p > 0 && *p < 100),
            "progress visible while running: {progress:?}"
        );
    }
    let (_, _, info) =
        send(server.with_key(Method::GET, "/v1/subscribers/imp7", &server.public_key)).await;
    assert_eq!(
        info["subscriber"]["non_subscriptions"]["lifetime"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(info["subscriber"]["subscriptions"]["pro_monthly"].is_object());

    // Running the same import again changes nothing.
    let again = start(server, "/imports", json!({"format": "csv", "data": data})).await;
    let (job, _) = await_job(server, &again).await;
    assert_eq!(
        (
            job["result"]["imported"].as_u64(),
            job["result"]["already_known"].as_u64()
        ),
        (Some(0), Some(count as u64))
    );

    let export = start(server, "/customers/exports", json!({"format": "csv"})).await;
    let (job, _) = await_job(server, &export).await;
    assert_eq!(job["result"]["purchases"], count as u64, "{job}");
    let (status, headers, file) = send(server.secret(Method::GET, &format!("{export}/file"))).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/csv");
    let text = file.as_str().unwrap();
    assert_eq!(
        text.lines().count(),
        count + 1,
        "a header and a row per purchase"
    );
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("app_user_id,first_seen_at_ms,active_entitlements")
    );
    assert!(
        text.contains(",pro,") || text.contains(",pro "),
        "active entitlements exported"
    );

    let ndjson = start(server, "/customers/exports", json!({"format": "ndjson"})).await;
    await_job(server, &ndjson).await;
    let (_, _, file) = send(server.secret(Method::GET, &format!("{ndjson}/file"))).await;
    let lines: Vec<Value> = file
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), count / 2, "a line per customer");
    assert_eq!(lines[0]["transactions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_hundred_thousand_purchases_in_and_out_on_sqlite() {
    let server = TestServer::start_with(Db::Sqlite, &["--webhook-poll-ms", "20"])
        .await
        .expect("sqlite");
    import_and_export(&server, 100_000).await;
}

#[tokio::test]
async fn imports_and_exports_on_postgres() {
    let Some(server) = TestServer::start_with(Db::Postgres, &["--webhook-poll-ms", "20"]).await
    else {
        return;
    };
    import_and_export(&server, 10_000).await;
}

#[tokio::test]
async fn bad_imports_and_unknown_jobs_are_refused() {
    let server = TestServer::start(Db::Sqlite).await.expect("sqlite");
    let imports = server.project_path("/imports");
    let (status, _, body) = send(
        server
            .secret(Method::POST, &imports)
            .json(&json!({"format": "csv", "data": "a,b\n1,2"})),
    )
    .await;
    assert_v2_error(status, &body, 400, "parameter_error");
    assert_eq!(body["param"], "data");
    let (status, _, body) = send(
        server
            .secret(Method::POST, &imports)
            .json(&json!({"format": "play_tokens",
                "data": "app_user_id,product_id,purchase_token\nu,p,token\n"})),
    )
    .await;
    // A real cause: the project has no Play app to ask Google with.
    assert_v2_error(status, &body, 422, "unprocessable_entity_error");
    let (status, _, body) = send(
        server
            .secret(Method::POST, &server.project_path("/customers/exports"))
            .json(&json!({"format": "xml"})),
    )
    .await;
    assert_v2_error(status, &body, 400, "parameter_error");
    let (status, _, body) =
        send(server.secret(Method::GET, &server.project_path("/jobs/jobnope/file"))).await;
    assert_v2_error(status, &body, 404, "resource_missing");
    // Rows with problems are counted and explained, the rest imported.
    crate::sdk::catalog(&server).await;
    let data = format!(
        "{HEADER}\nok_user,test_store,lifetime,t1,1000,\nbad_user,floppy,lifetime,t2,1000,\n"
    );
    let location = start(&server, "/imports", json!({"format": "csv", "data": data})).await;
    let (job, _) = await_job(&server, &location).await;
    assert_eq!(job["result"]["imported"], 1);
    assert_eq!(job["result"]["rejected"], 1);
    assert_eq!(job["result"]["errors"][0]["line"], 3);
}

#[tokio::test]
async fn a_job_survives_the_crash_of_the_node_that_accepted_it() {
    let db = TestDb::create(Db::Sqlite).await.expect("sqlite");
    // A node that would not look for jobs for a while: it accepts the job, then dies.
    let mut first = TestServer::start_on(&db.url, &["--webhook-poll-ms", "60000"]).await;
    crate::sdk::catalog(&first).await;
    let location = start(
        &first,
        "/imports",
        json!({"format": "csv", "data": rows(2_000, "crash")}),
    )
    .await;
    first.kill_hard().await;
    let second = TestServer::start_on(&db.url, &["--webhook-poll-ms", "20"]).await;
    let (status, _, _) = send(second.with_key(Method::GET, &location, &first.secret_key)).await;
    assert_eq!(status, 200);
    for _ in 0..400 {
        let (_, _, job) = send(second.with_key(Method::GET, &location, &first.secret_key)).await;
        if job["status"] == "succeeded" {
            assert_eq!(job["result"]["imported"], 2_000);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job never ran after the restart");
}
