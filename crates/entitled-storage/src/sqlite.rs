//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::shared::{
    impl_audit_store, impl_catalog_store, impl_customer_store, impl_project_store,
    impl_purchase_store, impl_row_ext, impl_temporary_grant_store, impl_webhook_store,
};
use crate::{Backend, StorageError};

type Db = Sqlite;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite storage. Writers wait on each other up to a busy timeout; readers never block.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
    /// Synchronous read-only connections for hot reads; `None` for in-memory databases,
    /// which other connections cannot open.
    reader: Option<std::sync::Arc<crate::sqlite_reader::SqliteReader>>,
    /// Writes receipts in groups, taking turns with `pool`'s connection (see
    /// sqlite_writer.rs); `None` for in-memory databases, as `reader`.
    writer: Option<std::sync::Arc<crate::sqlite_writer::SqliteWriter>>,
    /// Checkpoints the WAL while any clone of this storage lives (none in memory).
    _checkpointer: Option<std::sync::Arc<crate::sqlite_checkpoint::Checkpointer>>,
    locks: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl SqliteStorage {
    const BACKEND: Backend = Backend::Sqlite;

    /// Opens (creating if missing) the database a `sqlite://path` URL names.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Checkpoints run on their own thread (sqlite_checkpoint.rs), not inside commits.
            .pragma("wal_autocheckpoint", "0");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let path = options.get_filename().to_path_buf();
        let reader = (!in_memory)
            .then(|| std::sync::Arc::new(crate::sqlite_reader::SqliteReader::new(path.clone())));
        // One connection for writes (and the reads the synchronous readers do not serve):
        // SQLite runs one writer at a time anyway, and queueing for this connection is fair
        // and prompt, where several connections racing for the write lock wait in SQLite's
        // busy handler, which sleeps up to 100 ms between tries (receipts' p99.9 was 850 ms).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            // A file connection does not go stale: skip the ping (a thread hand-off) that
            // would precede every checkout.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let checkpointer = if in_memory {
            None
        } else {
            // Rewinds take their turn in the write connection's queue, then run on the
            // checkpoint thread's connection (see sqlite_checkpoint.rs).
            let (pool, runtime) = (pool.clone(), tokio::runtime::Handle::current());
            let rewind: crate::sqlite_checkpoint::Rewind = Box::new(move |conn| {
                let turn = runtime
                    .block_on(pool.acquire())
                    .map_err(|e| e.to_string())?;
                let rewound = crate::sqlite_checkpoint::restart(conn);
                // Handing the connection back spawns a task: inside the runtime.
                let _entered = runtime.enter();
                drop(turn);
                rewound
            });
            let started = crate::sqlite_checkpoint::Checkpointer::start(path.clone(), rewind)
                .map_err(|e| {
                    StorageError::Internal(format!("starting the checkpoint thread: {e}"))
                })?;
            Some(std::sync::Arc::new(started))
        };
        // Opened after the pool, which created the file and set it to WAL.
        let writer = if in_memory {
            None
        } else {
            Some(std::sync::Arc::new(
                crate::sqlite_writer::SqliteWriter::start(&path, pool.clone())?,
            ))
        };
        Ok(Self {
            pool,
            reader,
            writer,
            _checkpointer: checkpointer,
            locks: Default::default(),
        })
    }

    async fn run_migrations(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    fn locks(&self) -> crate::CustomerLocks {
        crate::CustomerLocks::Local(self.locks.clone())
    }

    /// A transaction that will write.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>, StorageError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// SQLite runs one writer at a time (`BEGIN IMMEDIATE`): nothing more to lock.
async fn lock_project(
    _tx: &mut sqlx::Transaction<'_, Db>,
    _project_id: &str,
) -> Result<(), StorageError> {
    Ok(())
}

/// What locks the delivery rows a worker claims.
macro_rules! claim_lock {
    () => {
        ""
    };
}

/// SQL for the ids in the JSON array bound as `$2`.
macro_rules! ids_in_param2 {
    () => {
        "(SELECT value FROM json_each($2))"
    };
}

/// A join whose left side SQLite must drive (its `CROSS JOIN` fixes the loop order).
macro_rules! driving_join {
    () => {
        " CROSS JOIN "
    };
}

/// The visits of `touch_customers`, a JSON array bound as `$1`, as a table `v`.
macro_rules! visits_in_param1 {
    () => {
        "(SELECT value ->> 'customer_key' AS customer_key, value ->> 'seen_at' AS seen_at, \
         value ->> 'app_version' AS app_version, value ->> 'platform' AS platform, \
         value ->> 'platform_version' AS platform_version FROM json_each($1)) AS v"
    };
}

/// The rows a hot-path read selects (`$sql` with `[binds]`), each decoded by `$decode`:
/// synchronously through the read-only connections when there are some, else through sqlx.
macro_rules! select_all {
    ($storage:expr, $sql:expr, [$($bind:expr),* $(,)?], $decode:path) => {
        match &$storage.reader {
            Some(reader) => reader.with(|conn| {
                $crate::sqlite_reader::select_all(conn, $sql, rusqlite::params![$($bind),*], |row| $decode(row))
            }),
            None => {
                let rows = sqlx::query($sql)$(.bind($bind))*.fetch_all(&$storage.pool).await?;
                rows.iter().map(|row| $decode(row)).collect::<Result<Vec<_>, $crate::StorageError>>()
            }
        }
    };
}

/// The rows `$sql` with `[binds]` selects through a bare reader connection `$conn`, each
/// decoded by `$decode` (`select_all!`'s shape, for reads a reader connection keeps).
macro_rules! select_on {
    ($conn:expr, $sql:expr, [$($bind:expr),* $(,)?], $decode:path) => {
        $crate::sqlite_reader::select_all($conn, $sql, rusqlite::params![$($bind),*], |row| $decode(row))
    };
}

/// The API keys whose lookup is `$lookup` (`$sql` selects them by `$1`): through a reader
/// connection's kept keys when there are synchronous readers (see
/// `SqliteReader::keys_by_lookup`), else through sqlx.
macro_rules! keys_by_lookup {
    ($storage:expr, $sql:expr, $lookup:expr) => {{
        let lookup: &str = $lookup;
        match &$storage.reader {
            Some(reader) => reader.keys_by_lookup(lookup, |conn| {
                $crate::sqlite_reader::select_all(conn, $sql, rusqlite::params![lookup], |row| {
                    $crate::shared::key_from_row(row)
                })
            }),
            None => select_all!($storage, $sql, [lookup], $crate::shared::key_from_row),
        }
    }};
}

/// Reads that belong together (one answer's), as `select_all!` sees a storage: through one
/// pinned read transaction when there are synchronous readers, else through the pool.
pub(crate) struct SqliteReadTogether {
    reader: Option<crate::sqlite_reader::PinnedRead>,
    pool: SqlitePool,
}

impl SqliteStorage {
    /// The view `read_together!` hands its body.
    fn read_together(&self) -> Result<SqliteReadTogether, StorageError> {
        let reader = match &self.reader {
            Some(reader) => Some(reader.pin()?),
            None => None,
        };
        Ok(SqliteReadTogether {
            reader,
            pool: self.pool.clone(),
        })
    }
}

/// Runs `$body` (whose reads use `select_all!($view, …)`) with `$view` bound to one
/// snapshot of the database: one read transaction for all its statements.
macro_rules! read_together {
    ($storage:expr, |$view:ident| $body:expr) => {{
        let $view = $storage.read_together()?;
        $body
    }};
}

/// A project's (`$project_id`) catalog view under configuration version `$version`, read
/// through the pinned reader `$pinned`: the connection's kept view while the configuration
/// did not change since it was read (see `PinnedRead::catalog_view`); `?` returns its errors.
macro_rules! kept_catalog_view {
    ($pinned:expr, $project_id:expr, $version:expr) => {{
        let project_id: &str = $project_id;
        $pinned.catalog_view(project_id, $version, |conn| {
            Ok($crate::shared::customer_reads::read_catalog!(
                select_on, conn, project_id
            ))
        })?
    }};
}

/// A project's (`$project_id`) catalog view, read through `$view` (a `read_together!`
/// view); `?` returns its errors. Through a pinned reader, kept (`kept_catalog_view!`).
macro_rules! catalog_view {
    ($view:expr, $project_id:expr) => {{
        let project_id: &str = $project_id;
        match &$view.reader {
            Some(pinned) => kept_catalog_view!(pinned, project_id, pinned.config_version()?),
            None => $crate::shared::customer_reads::read_catalog!(select_all, $view, project_id),
        }
    }};
}

/// A project's (`$project_id`) catalog view and test-store clock offset, read through
/// `$view` (a `read_together!` view); `?` returns its errors. Through a pinned reader, the
/// catalog is kept (`kept_catalog_view!`), and the clock offset comes with the version.
macro_rules! project_facts {
    ($view:expr, $project_id:expr) => {{
        let project_id: &str = $project_id;
        match &$view.reader {
            Some(pinned) => {
                let (version, offset) = pinned.version_and_clock_offset(project_id)?;
                (kept_catalog_view!(pinned, project_id, version), offset)
            }
            None => $crate::shared::customer_reads::read_project_facts!($view, project_id),
        }
    }};
}

/// A project's (`$project_id`) offering tree, read through `$view` (a `read_together!`
/// view); `?` returns its errors. Through a pinned reader, it comes from the connection's
/// keeping while the configuration did not change since it was read (see
/// `PinnedRead::offering_tree`).
macro_rules! offering_tree {
    ($view:expr, $project_id:expr) => {{
        use $crate::shared::offering_tree::read_offering_tree;
        let project_id: &str = $project_id;
        match &$view.reader {
            Some(pinned) => {
                let version = pinned.config_version()?;
                pinned.offering_tree(project_id, version, |conn| {
                    Ok(read_offering_tree!(select_on, conn, project_id))
                })?
            }
            None => std::sync::Arc::new(read_offering_tree!(select_all, $view, project_id)),
        }
    }};
}

/// Records a transaction through the group writer (see sqlite_writer.rs); `None` when there
/// is no writer (in memory).
macro_rules! record_transaction_in_group {
    ($storage:expr, $project_id:expr, $transaction:expr, $events:expr, $now:expr) => {
        match &$storage.writer {
            Some(writer) => {
                let (project_id, transaction, events, now) = (
                    $project_id.to_string(),
                    $transaction.clone(),
                    $events.to_vec(),
                    $now,
                );
                Some(
                    writer
                        .write(move |conn| {
                            $crate::sqlite_writer::record_transaction(
                                conn,
                                &project_id,
                                &transaction,
                                &events,
                                now,
                            )
                        })
                        .await,
                )
            }
            None => None,
        }
    };
}

/// Writes last-seen visits (`Vec<Visit>`, one per customer) through the group writer (see
/// sqlite_writer.rs), so they share commits with receipts and need no JSON; evaluates to the
/// visits left to write: none, or all of them when there is no writer (in memory).
macro_rules! touch_in_group {
    ($storage:expr, $visits:expr) => {{
        let visits: Vec<$crate::Visit> = $visits;
        match &$storage.writer {
            Some(writer) => {
                writer
                    .write(move |conn| $crate::sqlite_writer::touch_customers(conn, &visits))
                    .await?;
                None
            }
            None => Some(visits),
        }
    }};
}

impl_row_ext!(sqlx::sqlite::SqliteRow);
impl_project_store!(SqliteStorage);
impl_catalog_store!(SqliteStorage);
impl_customer_store!(SqliteStorage);
impl_purchase_store!(SqliteStorage);
impl_temporary_grant_store!(SqliteStorage);
impl_webhook_store!(SqliteStorage);
impl_audit_store!(SqliteStorage);
