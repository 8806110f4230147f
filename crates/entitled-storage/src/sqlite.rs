//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::shared::{
    impl_audit_store, impl_catalog_store, impl_customer_store, impl_project_store,
    impl_purchase_store, impl_row_ext, impl_webhook_store,
};
use crate::{Backend, StorageError};

type Db = Sqlite;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite storage. Writers wait on each other up to a busy timeout; readers never block.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
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
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
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

impl_row_ext!(sqlx::sqlite::SqliteRow);
impl_project_store!(SqliteStorage);
impl_catalog_store!(SqliteStorage);
impl_customer_store!(SqliteStorage);
impl_purchase_store!(SqliteStorage);
impl_webhook_store!(SqliteStorage);
impl_audit_store!(SqliteStorage);
