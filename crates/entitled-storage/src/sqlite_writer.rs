//! Receipts' writes (and batches of last-seen visits) on SQLite: committed in groups, each
//! write made in one go through a write connection of our own, instead of statement by
//! statement through sqlx's worker thread.
//!
//! Why: a receipt's write (begin, the transaction, its outbox event, the integrations, the
//! deliveries, commit) took six round trips to sqlx's thread, each a wake-up of a sleeping
//! thread and of the waiting task; under load the task waited its turn on a busy runtime
//! between them, all the while holding SQLite's one write lock (bench/README.md, run 7).
//! Here one task takes every write waiting, runs each in a savepoint of one transaction (a
//! write that fails is rolled back alone, and its caller told), commits once, and answers
//! each caller after the commit. A group shares its commit and the pages its writes touch
//! in common, so the WAL grows less per receipt and is rewound less often.
//!
//! Turns: the task checks out the storage's one sqlx connection and holds it for the group,
//! so this connection never races sqlx's (nor the WAL rewinds, which run on it) for SQLite's
//! write lock: every writer still queues in one line.

use std::path::Path;
use std::time::Duration;

use entitled_core::UnixMillis;
use entitled_core::purchases::StoreTransaction;
use entitled_core::webhooks::OutboxEvent;
use rusqlite::{Connection, ToSql};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::shared::purchase_writes::{
    delivers_to, insert_delivery_sql, insert_outbox_event_sql, insert_transaction_sql,
    integrations_of_project_sql, transaction_by_store_id_sql,
};
use crate::shared::{integration_from_row, transaction_from_row};
use crate::sqlite_reader::{bind_numbered, select_all};
use crate::{Recorded, StorageError, Visit};

/// The most writes one group (one commit) carries.
const MAX_GROUP: usize = 128;

/// The most writes that wait while a group is written.
const MAX_WAITING: usize = 4096;

/// What a caller is told once its group's commit is over: `Err` with the commit's error.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One caller's write: run inside the group's transaction, it says whether it succeeded
/// (or must be rolled back) and how to answer its caller after the commit.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// Hands writes to the group writer task; the task ends when the last handle is dropped.
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    queue: mpsc::Sender<Job>,
}

impl SqliteWriter {
    /// Starts the group writer on the database at `path`, taking its turns with `pool`'s
    /// connection. Its connection has the sqlx connection's settings: WAL, `synchronous =
    /// NORMAL`, foreign keys, no automatic checkpoints (the checkpoint thread runs them).
    pub(crate) fn start(path: &Path, pool: SqlitePool) -> Result<Self, StorageError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
        )?;
        conn.set_prepared_statement_cache_capacity(32);
        crate::sqlite_reader::plan_once(&conn)?;
        let (queue, jobs) = mpsc::channel(MAX_WAITING);
        tokio::spawn(write_groups(conn, pool, jobs));
        Ok(Self { queue })
    }

    /// Runs `write` in the next group and returns its result once the group has committed;
    /// a failed `write` leaves nothing behind.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = write(conn);
            let succeeded = result.is_ok();
            let reply: Reply = Box::new(move |committed| {
                let outcome = match committed {
                    Ok(()) => result,
                    Err(e) => Err(StorageError::Unavailable(format!(
                        "the write was not committed: {e}"
                    ))),
                };
                // A caller that gave up no longer listens: fine.
                let _ = answer.send(outcome);
            });
            (succeeded, reply)
        });
        self.queue.send(job).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StorageError {
    StorageError::Unavailable(
        "the write was not made (no write turn in time, or the writer stopped)".to_string(),
    )
}

/// Writes each visit's last-seen fields onto its customer, one prepared statement each;
/// what a visit does not report stays as it was.
pub(crate) fn touch_customers(conn: &Connection, visits: &[Visit]) -> Result<(), StorageError> {
    let mut update = conn.prepare_cached(concat!(
        "UPDATE customers SET ",
        crate::shared::customers::last_seen_set_sql!("?2", "?3", "?4", "?5"),
        " WHERE key = ?1"
    ))?;
    for visit in visits {
        update.execute(rusqlite::params![
            visit.customer_key,
            visit.seen_at.0,
            visit.app_version,
            visit.platform,
            visit.platform_version,
        ])?;
    }
    Ok(())
}

/// Writes every group of waiting jobs until every handle is gone.
async fn write_groups(conn: Connection, pool: SqlitePool, mut jobs: mpsc::Receiver<Job>) {
    let mut conn = Some(conn);
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while jobs.recv_many(&mut group, MAX_GROUP).await > 0 {
        let Some(taken) = conn.take() else { return };
        let batch = std::mem::take(&mut group);
        // The turn: nothing else writes while this is held. Jobs dropped unrun (no turn,
        // or the group could not begin) tell their callers the write was not made.
        let Ok(turn) = pool.acquire().await else {
            tracing::warn!(
                writes = batch.len(),
                "no write turn: the writes were not made"
            );
            conn = Some(taken);
            continue;
        };
        let written = tokio::task::spawn_blocking(move || {
            write_group(&taken, batch);
            taken
        })
        .await;
        drop(turn);
        match written {
            Ok(back) => conn = Some(back),
            Err(e) => {
                tracing::error!(error = %e, "the group writer failed; receipts cannot be written");
                return;
            }
        }
    }
}

/// Runs each job in a savepoint of one immediate transaction, commits, then answers them.
fn write_group(conn: &Connection, jobs: Vec<Job>) {
    if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
        tracing::warn!(error = %e, writes = jobs.len(), "a write group could not begin");
        return;
    }
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        if let Err(e) = run(conn, "SAVEPOINT one_write") {
            tracing::warn!(error = %e, "a write could not begin");
            continue;
        }
        // A write that panics is rolled back like one that failed (its caller, whose answer
        // is dropped with it, is told the write was not made); the group goes on.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn)));
        let (succeeded, reply) = match ran {
            Ok(ran) => ran,
            Err(_) => {
                tracing::error!("a write panicked; rolled back");
                let _ = conn.execute_batch("ROLLBACK TO one_write; RELEASE one_write");
                continue;
            }
        };
        let ended = if succeeded {
            run(conn, "RELEASE one_write")
        } else {
            conn.execute_batch("ROLLBACK TO one_write; RELEASE one_write")
        };
        match ended {
            Ok(()) => replies.push(reply),
            Err(e) => reply(Err(e.to_string())),
        }
    }
    let committed = run(conn, "COMMIT").map_err(|e| e.to_string());
    if committed.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for reply in replies {
        reply(committed.clone());
    }
}

/// Runs one statement without parameters, compiled once per connection (a savepoint and
/// its release come with every write).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `sql` with `params[i]` bound to `$i+1`; returns the rows changed.
fn execute(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<usize, StorageError> {
    let mut statement = conn.prepare_cached(sql)?;
    bind_numbered(&mut statement, params)?;
    Ok(statement.raw_execute()?)
}

/// [`PurchaseStore::record_transaction`](crate::PurchaseStore::record_transaction) inside
/// `conn`'s open write transaction.
pub(crate) fn record_transaction(
    conn: &Connection,
    project_id: &str,
    t: &StoreTransaction,
    events: &[OutboxEvent],
    now: UnixMillis,
) -> Result<Recorded, StorageError> {
    let price = t.price.as_ref();
    let inserted = execute(
        conn,
        insert_transaction_sql!(),
        rusqlite::params![
            project_id,
            now.0,
            t.id,
            t.customer_key,
            t.app_id,
            t.store.as_str(),
            t.store_transaction_id,
            t.original_transaction_id,
            t.product_id,
            t.product_plan_id,
            t.purchased_at.0,
            t.expires_at.map(|e| e.0),
            t.period_type.as_str(),
            t.environment.as_str(),
            t.ownership.as_str(),
            price.map(|p| p.amount_micros),
            price.map(|p| p.currency.as_str()),
            t.is_subscription,
        ],
    )?;
    if inserted > 0 {
        insert_outbox(conn, events, now)?;
        return Ok(Recorded::New);
    }
    let known = select_all(
        conn,
        transaction_by_store_id_sql!(),
        rusqlite::params![project_id, t.store.as_str(), t.store_transaction_id],
        |row| transaction_from_row(row),
    )?;
    known
        .into_iter()
        .next()
        .map(|existing| Recorded::Known(Box::new(existing)))
        .ok_or_else(|| StorageError::Internal("a known transaction vanished".to_string()))
}

/// Writes outbox events (known ones skipped) and a pending delivery of each to every
/// integration that takes it.
fn insert_outbox(
    conn: &Connection,
    events: &[OutboxEvent],
    now: UnixMillis,
) -> Result<(), StorageError> {
    for event in events {
        let inserted = execute(
            conn,
            insert_outbox_event_sql!(),
            rusqlite::params![
                event.id,
                event.project_id,
                event.customer_key,
                event.event_type,
                event.environment.as_str(),
                event.app_id,
                event.body.to_string(),
                event.created_at.0,
            ],
        )?;
        if inserted == 0 {
            continue;
        }
        let integrations = select_all(
            conn,
            integrations_of_project_sql!(),
            rusqlite::params![event.project_id],
            |row| integration_from_row(row),
        )?;
        for integration in integrations.iter().filter(|i| delivers_to(event, i)) {
            execute(
                conn,
                insert_delivery_sql!(),
                rusqlite::params![
                    entitled_core::new_id(entitled_core::IdKind::Delivery),
                    event.project_id,
                    integration.id,
                    event.id,
                    event.customer_key,
                    now.0,
                ],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;

    async fn writer_on(dir: &tempfile::TempDir) -> (SqliteWriter, SqlitePool, std::path::PathBuf) {
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (n INTEGER UNIQUE);")
            .unwrap();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let writer = SqliteWriter::start(&path, pool.clone()).unwrap();
        (writer, pool, path)
    }

    fn insert(conn: &Connection, n: i64) -> Result<usize, StorageError> {
        execute(conn, "INSERT INTO t (n) VALUES ($1)", rusqlite::params![n])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_writes_commit_and_a_failed_one_leaves_nothing_of_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, pool, path) = writer_on(&dir).await;
        let writer = std::sync::Arc::new(writer);
        // A row from before the group, for the failing write to collide with whatever order
        // the group's writes run in.
        Connection::open(&path)
            .unwrap()
            .execute("INSERT INTO t (n) VALUES (-1)", [])
            .unwrap();
        // Hold the turn so that every write below waits, then goes in one group.
        let turn = pool.acquire().await.unwrap();
        let mut waiting = Vec::new();
        for n in 0..20 {
            let writer = writer.clone();
            waiting.push(tokio::spawn(async move {
                writer.write(move |conn| insert(conn, n)).await
            }));
        }
        let failing = {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(|conn| {
                        insert(conn, 1000)?;
                        insert(conn, -1) // taken: this write fails after a first insert
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(turn);
        for write in waiting {
            assert_eq!(write.await.unwrap().unwrap(), 1);
        }
        assert!(failing.await.unwrap().is_err());
        let reader = Connection::open(&path).unwrap();
        let count: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(
            count, 21,
            "the row from before, every good write, and nothing of the failed one"
        );
        let leftover: i64 = reader
            .query_row("SELECT count(*) FROM t WHERE n = 1000", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(leftover, 0);
    }

    #[tokio::test]
    async fn a_write_waits_for_the_turn_held_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, pool, path) = writer_on(&dir).await;
        let turn = pool.acquire().await.unwrap();
        let write = tokio::spawn(async move { writer.write(|conn| insert(conn, 1)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!write.is_finished(), "wrote while another held the turn");
        drop(turn);
        assert_eq!(write.await.unwrap().unwrap(), 1);
        let reader = Connection::open(&path).unwrap();
        let count: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }
}
