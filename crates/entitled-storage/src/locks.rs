//! Per-customer locks: a request that changes a customer holds its lock until it answers.
//! On SQLite (one node) they live in this process; on PostgreSQL they are session advisory
//! locks, so they hold across every node.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::StorageError;

/// A held customer lock; dropping it releases the lock.
pub struct CustomerLock {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for CustomerLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerLock")
    }
}

impl Drop for CustomerLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

tokio::task_local! {
    /// Database releases of locks dropped inside [`releasing_locks`], to wait for.
    static RELEASES: Mutex<Vec<tokio::task::JoinHandle<()>>>;
}

/// Runs `work`, then waits until every customer lock it dropped is released in the database.
/// A request's answer must not leave while its customer is still locked: the client's next
/// request (on any node) would otherwise meet its own lock and get 423.
pub async fn releasing_locks<F: std::future::Future>(work: F) -> F::Output {
    RELEASES
        .scope(Mutex::new(Vec::new()), async move {
            let output = work.await;
            let pending = RELEASES.with(|releases| {
                std::mem::take(&mut *releases.lock().unwrap_or_else(|p| p.into_inner()))
            });
            for release in pending {
                // A release that failed closed its connection, which released the lock too.
                let _ = release.await;
            }
            output
        })
        .await
}

/// How long to sleep between tries while waiting for a lock.
const RETRY_EVERY: Duration = Duration::from_millis(10);

/// Where locks are kept.
#[derive(Clone)]
pub enum CustomerLocks {
    /// In this process.
    Local(Arc<Mutex<HashSet<String>>>),
    /// PostgreSQL advisory locks, each held by a session of this pool (kept apart from the
    /// pool the changes use: see `PostgresStorage`).
    Postgres(PgPool),
}

impl CustomerLocks {
    /// Tries to take `key`'s lock, waiting up to `wait`; `None` when another holder kept it.
    pub async fn try_lock(
        &self,
        key: &str,
        wait: Duration,
    ) -> Result<Option<CustomerLock>, StorageError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(lock) = self.try_once(key).await? {
                return Ok(Some(lock));
            }
            if Instant::now() + RETRY_EVERY > deadline {
                return Ok(None);
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    async fn try_once(&self, key: &str) -> Result<Option<CustomerLock>, StorageError> {
        match self {
            CustomerLocks::Local(held) => {
                let mut guard = held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if !guard.insert(key.to_string()) {
                    return Ok(None);
                }
                let held = held.clone();
                let key = key.to_string();
                Ok(Some(CustomerLock {
                    release: Some(Box::new(move || {
                        held.lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .remove(&key);
                    })),
                }))
            }
            CustomerLocks::Postgres(pool) => {
                let mut connection = pool.acquire().await?;
                let taken: bool =
                    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                        .bind(key)
                        .fetch_one(&mut *connection)
                        .await?;
                if !taken {
                    return Ok(None);
                }
                let key = key.to_string();
                Ok(Some(CustomerLock {
                    release: Some(Box::new(move || {
                        let release = tokio::spawn(async move {
                            let mut connection = connection;
                            let released =
                                sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
                                    .bind(&key)
                                    .execute(&mut *connection)
                                    .await;
                            if released.is_err() {
                                // A connection that could not unlock must not go back to the
                                // pool still holding the lock: closing it releases the lock.
                                let _ = connection.close().await;
                            }
                        });
                        // Outside a request (jobs, tests) nobody waits; the release still runs.
                        let _ = RELEASES.try_with(|releases| {
                            releases
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(release);
                        });
                    })),
                }))
            }
        }
    }
}
