//! Receipts' writes on SQLite, made synchronously on the calling thread through a write
//! connection of our own, instead of statement by statement through sqlx's worker thread.
//!
//! Why: a receipt's write (begin, the transaction, its outbox event, the integrations, the
//! deliveries, commit) took six round trips to sqlx's thread, each a wake-up of a sleeping
//! thread and of the waiting task; under load the task waited its turn on a busy runtime
//! between them, all the while holding SQLite's one write lock (bench/README.md, run 7).
//! Here the whole write runs in one go, in tens of microseconds.
//!
//! Turns: the caller first checks out the storage's one sqlx connection and holds it for the
//! write, so this connection never races sqlx's (nor the WAL rewinds, which run on it) for
//! SQLite's write lock: writers still queue fairly, in the pool's order.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use entitled_core::UnixMillis;
use entitled_core::purchases::StoreTransaction;
use entitled_core::webhooks::OutboxEvent;
use rusqlite::{Connection, ToSql, TransactionBehavior};

use crate::shared::purchase_writes::{
    delivers_to, insert_delivery_sql, insert_outbox_event_sql, insert_transaction_sql,
    integrations_of_project_sql, transaction_by_store_id_sql,
};
use crate::shared::{integration_from_row, transaction_from_row};
use crate::sqlite_reader::{bind_numbered, select_all};
use crate::{Recorded, StorageError};

/// A read-write connection to the database file, used only while its caller holds the
/// storage's sqlx connection (see the module's doc).
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    conn: Mutex<Connection>,
}

impl SqliteWriter {
    /// A writer to the database at `path` (created and migrated already), with the same
    /// settings as the sqlx connection: WAL, `synchronous = NORMAL`, foreign keys, no
    /// automatic checkpoints (the checkpoint thread runs them).
    pub(crate) fn open(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
        )?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `write` in one immediate transaction, committed when it succeeds and rolled
    /// back when it fails.
    pub(crate) fn write<T>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let result = write(&tx)?;
        tx.commit()?;
        Ok(result)
    }
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
