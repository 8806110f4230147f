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
        self.try_lock_all(&[key], wait).await
    }

    /// Tries to take the locks of all `keys` together, waiting up to `wait`; `None` when
    /// another holder kept any of them (then none is held). One guard releases them all.
    /// On PostgreSQL they are held by one session: a change of two customers (a login that
    /// merges, a transfer) takes one of the node's lock sessions, not two, so such changes
    /// at once cannot each hold a session while waiting for another.
    pub async fn try_lock_all(
        &self,
        keys: &[&str],
        wait: Duration,
    ) -> Result<Option<CustomerLock>, StorageError> {
        let mut keys: Vec<String> = keys.iter().map(|key| key.to_string()).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            // Nothing to lock (a login whose ids are both new): no session either.
            return Ok(Some(CustomerLock { release: None }));
        }
        let deadline = Instant::now() + wait;
        loop {
            if let Some(lock) = self.try_once(&keys).await? {
                return Ok(Some(lock));
            }
            if Instant::now() + RETRY_EVERY > deadline {
                return Ok(None);
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    async fn try_once(&self, keys: &[String]) -> Result<Option<CustomerLock>, StorageError> {
        match self {
            CustomerLocks::Local(held) => {
                let mut guard = held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if keys.iter().any(|key| guard.contains(key)) {
                    return Ok(None);
                }
                guard.extend(keys.iter().cloned());
                let held = held.clone();
                let keys = keys.to_vec();
                Ok(Some(CustomerLock {
                    release: Some(Box::new(move || {
                        let mut guard =
                            held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                        for key in &keys {
                            guard.remove(key);
                        }
                    })),
                }))
            }
            CustomerLocks::Postgres(pool) => {
                let mut connection = pool.acquire().await?;
                let taken: Vec<bool> = sqlx::query_scalar(
                    "SELECT pg_try_advisory_lock(hashtextextended(k, 0)) \
                     FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n",
                )
                .bind(keys)
                .fetch_all(&mut *connection)
                .await?;
                let held: Vec<String> = keys
                    .iter()
                    .zip(&taken)
                    .filter(|(_, taken)| **taken)
                    .map(|(key, _)| key.clone())
                    .collect();
                if held.len() < keys.len() {
                    // Some were taken: give back those this try got.
                    release_on(connection, held).await;
                    return Ok(None);
                }
                Ok(Some(CustomerLock {
                    release: Some(Box::new(move || {
                        let release = tokio::spawn(release_on(connection, held));
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

/// Releases the advisory locks of `keys` that `connection`'s session holds, so it goes back
/// to the pool holding nothing; a connection that could not unlock is closed instead, which
/// releases them too.
async fn release_on(mut connection: sqlx::pool::PoolConnection<sqlx::Postgres>, keys: Vec<String>) {
    if keys.is_empty() {
        return;
    }
    let unlocked = sqlx::query(
        "SELECT pg_advisory_unlock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k",
    )
    .bind(&keys)
    .execute(&mut *connection)
    .await;
    if unlocked.is_err() {
        let _ = connection.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> CustomerLocks {
        CustomerLocks::Local(Arc::new(Mutex::new(HashSet::new())))
    }

    #[tokio::test]
    async fn locks_are_taken_all_together_or_not_at_all() {
        let locks = local();
        let both = locks
            .try_lock_all(&["b", "a", "a"], Duration::ZERO)
            .await
            .unwrap()
            .expect("a and b are free");
        assert!(
            locks
                .try_lock_all(&["c", "b"], Duration::ZERO)
                .await
                .unwrap()
                .is_none(),
            "b is held"
        );
        assert!(
            locks
                .try_lock_all(&[], Duration::ZERO)
                .await
                .unwrap()
                .is_some(),
            "no keys: nothing to wait for"
        );
        // The refused try took nothing: c is still free.
        let c = locks.try_lock("c", Duration::ZERO).await.unwrap();
        assert!(c.is_some());
        drop(both);
        assert!(
            locks
                .try_lock_all(&["a", "b"], Duration::ZERO)
                .await
                .unwrap()
                .is_some(),
            "released together"
        );
    }
}
