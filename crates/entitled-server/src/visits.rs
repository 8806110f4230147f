//! Last-seen writes, committed in groups.
//!
//! Every CustomerInfo read whose customer was last seen over a minute ago records the visit.
//! One write per read serialised reads on SQLite's single writer (bench/README.md); here each
//! request hands its visit to one recorder task and waits until it is committed, and the
//! recorder writes all visits waiting at that moment in one statement. A caller still sees
//! its visit stored when its answer leaves (as before), and an idle server writes each visit
//! at once; under load one write carries many visits.

use std::sync::Arc;

use entitled_storage::{Storage, StorageError, Visit};
use tokio::sync::{mpsc, oneshot};

/// The most visits one write carries.
const MAX_BATCH: usize = 1024;

/// A visit waiting to be written, and who waits for it.
type Pending = (Visit, oneshot::Sender<Result<(), StorageError>>);

/// Hands visits to the recorder task.
#[derive(Debug, Clone)]
pub struct VisitRecorder {
    queue: mpsc::Sender<Pending>,
}

impl VisitRecorder {
    /// Starts the recorder task writing to `storage`; it ends when the last handle is dropped.
    pub fn spawn(storage: Arc<dyn Storage>) -> Self {
        let (queue, waiting) = mpsc::channel(MAX_BATCH);
        tokio::spawn(record(storage, waiting));
        Self { queue }
    }

    /// Records a visit; returns once it is committed.
    pub async fn record(&self, visit: Visit) -> Result<(), StorageError> {
        let (done, committed) = oneshot::channel();
        let gone = || StorageError::Unavailable("the visit recorder has stopped".to_string());
        self.queue.send((visit, done)).await.map_err(|_| gone())?;
        committed.await.map_err(|_| gone())?
    }
}

/// Writes whatever is waiting, one statement per round, until every handle is gone.
async fn record(storage: Arc<dyn Storage>, mut waiting: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let visits: Vec<Visit> = batch.iter().map(|(visit, _)| visit.clone()).collect();
        let outcome = storage.touch_customers(&visits).await;
        for (_, done) in batch.drain(..) {
            // A caller that gave up (its request was cancelled) no longer listens: fine.
            let _ = done.send(match &outcome {
                Ok(()) => Ok(()),
                Err(err) => Err(same_kind(err)),
            });
        }
    }
}

/// A copy of a storage failure for each waiter (the error type is not `Clone`).
fn same_kind(err: &StorageError) -> StorageError {
    match err {
        StorageError::Unavailable(why) => StorageError::Unavailable(why.clone()),
        other => StorageError::Internal(other.to_string()),
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

    #[tokio::test]
    async fn concurrent_visits_are_all_stored_and_the_latest_of_a_customer_wins() {
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
                    .record(Visit {
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
