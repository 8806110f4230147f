//! Starting the real server, and talking to it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use entitled_testkit::postgres::TestDatabase;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// Which storage a test server runs on.
#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database for a test server: a temp SQLite file or a throwaway PostgreSQL database.
pub struct TestDb {
    pub url: String,
    _dir: tempfile::TempDir,
    _postgres: Option<TestDatabase>,
}

impl TestDb {
    /// A fresh database, or `None` where PostgreSQL is wanted but absent (reason printed).
    pub async fn create(db: Db) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        match db {
            Db::Sqlite => Some(Self {
                url: format!("sqlite://{}", dir.path().join("entitled.db").display()),
                _dir: dir,
                _postgres: None,
            }),
            Db::Postgres => {
                let database = TestDatabase::create().await?;
                Some(Self {
                    url: database.url().to_string(),
                    _dir: dir,
                    _postgres: Some(database),
                })
            }
        }
    }
}

/// A running `entitled serve` and what its first start printed.
pub struct TestServer {
    pub base: String,
    pub project_id: String,
    pub public_key: String,
    pub secret_key: String,
    pub database_url: String,
    pub stdout_text: String,
    child: Child,
    _stdout: ChildStdout,
    log_path: PathBuf,
    _log_dir: tempfile::TempDir,
    pub db: Option<TestDb>,
}

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_entitled")
}

impl TestServer {
    /// Starts a server on a fresh database of the given kind.
    pub async fn start(db: Db) -> Option<Self> {
        Self::start_with(db, &[]).await
    }

    /// Starts a server on a fresh database with extra `serve` flags.
    pub async fn start_with(db: Db, extra: &[&str]) -> Option<Self> {
        let test_db = TestDb::create(db).await?;
        let url = test_db.url.clone();
        let mut server = Self::start_on(&url, extra).await;
        server.db = Some(test_db);
        Some(server)
    }

    /// Starts a server on an existing database URL.
    pub async fn start_on(database_url: &str, extra: &[&str]) -> Self {
        let log_dir = tempfile::tempdir().expect("temp dir");
        let log_path = log_dir.path().join("stderr.log");
        let log_file = std::fs::File::create(&log_path).expect("log file");
        let mut child = Command::new(binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                database_url,
            ])
            .args(extra)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            // Suites make thousands of requests: lift RevenueCat's per-minute defaults
            // (a test's own --rate-limits flag still wins over this).
            .env(
                "ENTITLED_RATE_LIMITS",
                "customer_information=1000000/1s,project_configuration=1000000/1s,charts_metrics=1000000/1s",
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn entitled");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = String::new();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                printed.push_str(&line);
                printed.push('\n');
                if let Some(address) = line.strip_prefix("entitled: listening on ") {
                    return address.trim().to_string();
                }
            }
            panic!("server exited before listening; stdout:\n{printed}");
        })
        .await
        .expect("server did not start within 60 s");
        let field = |label: &str| {
            printed
                .lines()
                .find_map(|l| l.trim().strip_prefix(label))
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_default()
                .to_string()
        };
        Self {
            base,
            project_id: field("project id:"),
            public_key: field("public SDK key:"),
            secret_key: field("secret key:"),
            database_url: database_url.to_string(),
            stdout_text: printed.clone(),
            child,
            _stdout: lines.into_inner().into_inner(),
            log_path,
            _log_dir: log_dir,
            db: None,
        }
    }

    /// A request to `path` with no credentials.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        client().request(method, format!("{}{path}", self.base))
    }

    /// A request authenticated with `key`.
    pub fn with_key(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(key)
    }

    /// A request authenticated with the first-start secret key.
    pub fn secret(&self, method: Method, path: &str) -> RequestBuilder {
        self.with_key(method, path, &self.secret_key)
    }

    /// This server's project's v2 path.
    pub fn project_path(&self, rest: &str) -> String {
        format!("/v2/projects/{}{rest}", self.project_id)
    }

    /// Runs an admin command of the binary against this server's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        run_cli(&self.database_url, args)
    }

    /// Sends SIGTERM to the server.
    pub fn sigterm(&self) {
        let pid = self.child.id().expect("server is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the server to exit and returns whether it exited cleanly.
    pub async fn wait_exit(&mut self) -> bool {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("server did not exit within 30 s")
            .expect("wait")
            .success()
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub async fn kill_hard(&mut self) {
        let _ = self.child.kill().await;
    }

    /// What the server has written to its log so far (request lines wait in a buffer for up
    /// to 100 ms; warnings and errors are written at once).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Everything the server logged before this call, once written: the log is written in
    /// order, so this waits for the line of a request made last, for the purpose.
    pub async fn logs_written(&self) -> String {
        let marker = format!("logs-written-{}", rand::random::<u64>());
        let (status, _, _) = send(
            self.request(Method::GET, "/v1/health")
                .header("X-Request-Id", marker.as_str()),
        )
        .await;
        assert_eq!(status, 200);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.contains(&marker) {
                return logs;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the log never showed request {marker}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs `entitled --database URL ARGS…` to completion.
pub fn run_cli(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .args(["--database", database_url])
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run entitled")
}

/// Parses an admin command's stdout as the one JSON object it prints.
pub fn cli_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        text.trim().lines().count(),
        1,
        "one JSON line expected: {text}"
    );
    serde_json::from_str(text.trim()).expect("stdout is JSON")
}

/// A shared HTTP client.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// `count` purchases of the test catalog's `lifetime` product posted at once, by customers
/// `{prefix}_0` … (one each, new fetch tokens); their answers, in order.
pub fn purchases_at_once(
    server: &TestServer,
    prefix: &str,
    count: usize,
) -> Vec<tokio::task::JoinHandle<(u16, reqwest::header::HeaderMap, Value)>> {
    (0..count)
        .map(|i| {
            let request = server
                .with_key(Method::POST, "/v1/receipts", &server.public_key)
                .json(&serde_json::json!({
                    "app_user_id": format!("{prefix}_{i}"),
                    "fetch_token": format!("tok_{prefix}_{i}"),
                    "product_id": "lifetime",
                }));
            tokio::spawn(send(request))
        })
        .collect()
}

/// Sends a request; returns status, headers and the JSON body (Null when empty).
pub async fn send(request: RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response: Response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, body)
}

/// Asserts a v2 error object of the given status and type; returns the body.
pub fn assert_v2_error(status: u16, body: &Value, expected_status: u16, expected_type: &str) {
    assert_eq!(status, expected_status, "body: {body}");
    assert_eq!(body["object"], "error", "body: {body}");
    assert_eq!(body["type"], expected_type, "body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
    assert!(body["retryable"].is_boolean(), "body: {body}");
    assert!(
        body["doc_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(expected_type)),
        "body: {body}"
    );
}

/// Generates one `#[tokio::test]` per backend for each `async fn case(server: &TestServer)`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $case() {
                let server = $crate::helpers::TestServer::start($crate::helpers::Db::Sqlite)
                    .await
                    .expect("sqlite always available");
                super::$case(&server).await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $case() {
                let Some(server) =
                    $crate::helpers::TestServer::start($crate::helpers::Db::Postgres).await
                else {
                    return;
                };
                super::$case(&server).await;
            })*
        }
    };
}
pub(crate) use on_both_backends;

/// Sends `body` (if any) to this server's project `path` with the secret key, checks the
/// answer against RevenueCat's schema for `template` (a RevenueCat path, without `/v2`;
/// 204 is entitled's own), and returns status and body.
pub async fn checked(
    server: &TestServer,
    method: Method,
    template: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server.secret(method.clone(), &server.project_path(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, _, answer) = send(request).await;
    crate::conformance::assert_conforms_or_own(method.as_str(), template, status, &answer, &[204]);
    (status, answer)
}
