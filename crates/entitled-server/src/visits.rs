//! Last-seen writes, committed in groups, off the request's path.
//!
//! Every CustomerInfo read whose customer was last seen over a minute ago records the visit.
//! One write per read serialised reads on SQLite's single writer (bench/README.md); here each
//! request hands its visit to one recorder task, and the recorder writes the visits of the
//! next `GATHER` (or up to `MAX_BATCH` of them) in one write (on SQLite, one job of the group
//! writer, sharing its commit with receipts). Requests do not wait for the commit: last-seen
//! is bookkeeping, not what the reader asked for, and waiting put every write stall (a WAL
//! rewind, a slow disk) into read latency (CustomerInfo's p99 was 135 ms with waiting, 37 ms
//! without writes). A request waits only while the queue is full, so a
//! recorder that falls behind slows readers down instead of growing memory.
//! [`VisitRecorder::flush`] waits for everything handed over so far (a stopping server calls
//! it).

use std::sync::Arc;

use entitled_storage::{Storage, StorageError, Visit};
use tokio::sync::{mpsc, oneshot};

/// The most visits one write carries.
const MAX_BATCH: usize = 1024;

/// The most visits that wait for the recorder while it writes: about a second of visits at
/// 8,000 reads a second, so a write held up by a WAL rewind (0.3 s) does not hold up reads
/// (about 1.6 MB at most).
const MAX_WAITING: usize = 8 * MAX_BATCH;

/// How long the recorder gathers visits before writing them (unless the batch fills or
/// someone waits for a flush). Every commit makes the synchronous readers drop their page
/// caches (SQLite resets a connection's cache when the WAL changed under it), so writing ten
/// times a second instead of after every few requests keeps the reads' pages cached; a
/// visit is never waited for, so gathering costs no request any time.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

/// What the recorder is handed: a visit to write, or a caller waiting for what came before.
#[derive(Debug)]
enum Handed {
    Visit(Visit),
    Flush(oneshot::Sender<()>),
}

/// Hands visits to the recorder task.
#[derive(Debug, Clone)]
pub struct VisitRecorder {
    queue: mpsc::Sender<Handed>,
}

impl VisitRecorder {
    /// Starts the recorder task writing to `storage`; it ends when the last handle is dropped.
    pub fn spawn(storage: Arc<dyn Storage>) -> Self {
        let (queue, waiting) = mpsc::channel(MAX_WAITING);
        tokio::spawn(record(storage, waiting));
        Self { queue }
    }

    /// Hands a visit to the recorder; waits only while the recorder's queue is full.
    pub async fn note(&self, visit: Visit) -> Result<(), StorageError> {
        self.queue
            .send(Handed::Visit(visit))
            .await
            .map_err(|_| stopped())
    }

    /// Returns once every visit handed over before the call has been written (or its write
    /// has failed and been logged).
    pub async fn flush(&self) -> Result<(), StorageError> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Handed::Flush(done))
            .await
            .map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())
    }
}

fn stopped() -> StorageError {
    StorageError::Unavailable("the visit recorder has stopped".to_string())
}

/// Writes whatever is waiting, one write per round, until every handle is gone. A
/// failed write is logged and its visits dropped: the customers' next visits record them.
async fn record(storage: Arc<dyn Storage>, mut waiting: mpsc::Receiver<Handed>) {
    let mut batch: Vec<Handed> = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        gather(&mut waiting, &mut batch).await;
        let mut visits = Vec::with_capacity(batch.len());
        let mut flushes = Vec::new();
        for handed in batch.drain(..) {
            match handed {
                Handed::Visit(visit) => visits.push(visit),
                Handed::Flush(done) => flushes.push(done),
            }
        }
        if !visits.is_empty()
            && let Err(err) = storage.touch_customers(&visits).await
        {
            tracing::warn!(error = %err, visits = visits.len(), "last-seen visits not written");
        }
        for done in flushes {
            // A caller that gave up no longer listens: fine.
            let _ = done.send(());
        }
    }
}

/// Adds what arrives in the next [`GATHER`] to `batch`, returning early once it is full, a
/// flush is asked for, or every handle is gone.
async fn gather(waiting: &mut mpsc::Receiver<Handed>, batch: &mut Vec<Handed>) {
    let deadline = tokio::time::Instant::now() + GATHER;
    let flush_asked = |batch: &[Handed]| batch.iter().any(|h| matches!(h, Handed::Flush(_)));
    while batch.len() < MAX_BATCH && !flush_asked(batch) {
        let room = MAX_BATCH - batch.len();
        match tokio::time::timeout_at(deadline, waiting.recv_many(batch, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entitled_core::{Customer, UnixMillis};

    fn customer(project_id: &str, id: &str) -> Customer {
        Customer::first_seen(
            format!("key_{id}"),
            project_id.to_string(),
            id.to_string(),
            UnixMillis(1),
        )
    }

    /// A migrated SQLite storage in a temporary directory (kept alive by the guard) with one
    /// project.
    async fn storage_with_project() -> (Arc<dyn Storage>, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("v.db").display());
        let storage = entitled_storage::open(&url).await.unwrap();
        storage.migrate().await.unwrap();
        let project = crate::admin::create_project(
            storage.as_ref(),
            "visits",
            entitled_core::TransferRule::default(),
            UnixMillis(1),
        )
        .await
        .unwrap()
        .id;
        (storage, project, dir)
    }

    #[tokio::test]
    async fn a_visit_is_written_soon_without_anyone_flushing() {
        let (storage, project, _dir) = storage_with_project().await;
        storage
            .create_customer(&customer(&project, "lone"), &[])
            .await
            .unwrap();
        let recorder = VisitRecorder::spawn(storage.clone());
        recorder
            .note(Visit {
                customer_key: "key_lone".to_string(),
                seen_at: UnixMillis(5_000),
                app_version: None,
                platform: None,
                platform_version: None,
            })
            .await
            .unwrap();
        // Gathered for GATHER, then written: well within ten times that.
        let deadline = std::time::Instant::now() + GATHER * 10;
        loop {
            let seen = storage
                .find_customer(&project, "lone")
                .await
                .unwrap()
                .unwrap()
                .last_seen_at;
            if seen == Some(UnixMillis(5_000)) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the visit was not written within {:?}",
                GATHER * 10
            );
            tokio::time::sleep(GATHER / 10).await;
        }
    }

    #[tokio::test]
    async fn concurrent_visits_are_all_stored_and_the_latest_of_a_customer_wins() {
        let (storage, project, _dir) = storage_with_project().await;
        for i in 0..50 {
            storage
                .create_customer(&customer(&project, &format!("u{i}")), &[])
                .await
                .unwrap();
        }
        let recorder = VisitRecorder::spawn(storage.clone());
        let visits = (0..50).map(|i| {
            let recorder = recorder.clone();
            async move {
                recorder
                    .note(Visit {
                        customer_key: format!("key_u{i}"),
                        seen_at: UnixMillis(1_000 + i),
                        app_version: Some(format!("1.{i}")),
                        platform: (i % 2 == 0).then(|| "iOS".to_string()),
                        platform_version: None,
                    })
                    .await
            }
        });
        let tasks: Vec<_> = visits.map(tokio::spawn).collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        recorder.flush().await.unwrap();
        // Two visits of one customer in one batch: the later one is kept.
        let later = Visit {
            customer_key: "key_u0".to_string(),
            seen_at: UnixMillis(9_000),
            app_version: None,
            platform: Some("android".to_string()),
            platform_version: Some("14".to_string()),
        };
        let earlier = Visit {
            seen_at: UnixMillis(8_000),
            platform: Some("web".to_string()),
            ..later.clone()
        };
        storage.touch_customers(&[later, earlier]).await.unwrap();
        for i in 0..50 {
            let seen = storage
                .find_customer(&project, &format!("u{i}"))
                .await
                .unwrap()
                .unwrap();
            if i == 0 {
                assert_eq!(seen.last_seen_at, Some(UnixMillis(9_000)));
                assert_eq!(seen.last_seen_platform.as_deref(), Some("android"));
                // Not reported this time: the earlier report stays.
                assert_eq!(seen.last_seen_app_version.as_deref(), Some("1.0"));
            } else {
                assert_eq!(seen.last_seen_at, Some(UnixMillis(1_000 + i)));
                assert_eq!(seen.last_seen_app_version, Some(format!("1.{i}")));
                let platform = (i % 2 == 0).then_some("iOS");
                assert_eq!(seen.last_seen_platform.as_deref(), platform);
            }
        }
    }
}
