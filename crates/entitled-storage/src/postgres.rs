//! The scale-out store: PostgreSQL, shared by several `entitled serve` nodes.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::common::{impl_row_ext, impl_shared_storage};
use crate::{Backend, StorageError};

type Db = Postgres;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PostgresStorage {
    pool: PgPool,
}

impl PostgresStorage {
    const BACKEND: Backend = Backend::Postgres;

    /// Connects to the server a `postgres://` URL names. A connection that breaks later is
    /// replaced by the pool; while the server is unreachable, calls fail as `Unavailable`.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    async fn run_migrations(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}

impl_row_ext!(sqlx::postgres::PgRow);
impl_shared_storage!(PostgresStorage);
