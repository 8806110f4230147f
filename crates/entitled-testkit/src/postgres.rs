//! Throwaway PostgreSQL databases, one per test, on the local server.
//!
//! The server is `ENTITLED_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! Where it cannot be reached, [`TestDatabase::create`] prints why and returns `None` so the
//! test can skip, unless `ENTITLED_REQUIRE_POSTGRES=1` (as CI sets), where it panics.

use rand::Rng;
use rand::distr::Alphanumeric;
use sqlx::{Connection, Executor, PgConnection};

/// The server tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("ENTITLED_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn required() -> bool {
    std::env::var("ENTITLED_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

/// A fresh, empty database, dropped when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a database, or returns `None` (after printing the reason) where no server runs.
    pub async fn create() -> Option<Self> {
        let admin = admin_url();
        let mut connection = match PgConnection::connect(&admin).await {
            Ok(connection) => connection,
            Err(err) => {
                assert!(
                    !required(),
                    "PostgreSQL at {admin} is required (ENTITLED_REQUIRE_POSTGRES=1) but unreachable: {err}"
                );
                println!("SKIPPED: PostgreSQL test: no server at {admin}: {err}");
                return None;
            }
        };
        let suffix: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(12)
            .map(|c| char::from(c).to_ascii_lowercase())
            .collect();
        let name = format!("entitled_test_{suffix}");
        let statement = format!("CREATE DATABASE {name}");
        connection
            .execute(sqlx::AssertSqlSafe(statement))
            .await
            .expect("creating a test database");
        let url = match admin.rfind('/') {
            Some(slash) => format!("{}/{name}", &admin[..slash]),
            None => panic!("ENTITLED_TEST_POSTGRES_URL must end in /DATABASE"),
        };
        Some(Self { name, url })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Ends every session connected to the database, as a restart or failover of the server
    /// would; returns how many there were.
    pub async fn end_sessions(&self) -> u64 {
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("connecting to the PostgreSQL server");
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&self.name)
        .fetch_all(&mut admin)
        .await
        .expect("ending the database's sessions");
        ended.into_iter().filter(|ended| *ended).count() as u64
    }

    /// The database's URL with its host and port replaced, e.g. to go through a proxy.
    pub fn url_via(&self, host_port: &str) -> String {
        let after_at = self.url.rfind('@').map_or(0, |at| at + 1);
        let slash = self.url[after_at..]
            .find('/')
            .map_or(self.url.len(), |s| after_at + s);
        format!("{}{host_port}{}", &self.url[..after_at], &self.url[slash..])
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut connection) = PgConnection::connect(&admin_url()).await {
                    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = connection.execute(sqlx::AssertSqlSafe(statement)).await;
                }
            });
        });
        let _ = dropping.join();
    }
}
