//! The scale-out store: PostgreSQL, shared by several `entitled serve` nodes.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::shared::{
    impl_audit_store, impl_catalog_store, impl_customer_store, impl_project_store,
    impl_purchase_store, impl_row_ext, impl_temporary_grant_store, impl_webhook_store,
};
use crate::{Backend, StorageError};

type Db = Postgres;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections a node opens for its reads and writes.
const POOLED_CONNECTIONS: u32 = 16;

/// Database sessions a node keeps for customer locks: one per change in progress on this
/// node, whatever number of customers it locks; more changes at once wait for a session. With the pooled connections, a
/// node opens at most 24 connections (PostgreSQL allows 100 by default; README.md).
const LOCK_SESSIONS: u32 = 8;

/// How long a call waits for a free connection (or lock session) before it fails as
/// `Unavailable` (503).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a pooled connection may sit idle before it is pinged when taken from the pool.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Pool settings shared by both pools: at most `max` connections; a connection idle for
/// [`PING_IDLE_AFTER`] or longer is pinged before use (a dead one is replaced then instead of
/// failing its caller's statement), one in use moments ago is not. sqlx pings on every
/// acquire by default, a round trip per statement: half of a CustomerInfo read's round trips
/// on this store were pings (bench/README.md, run 13).
fn pool_options(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IDLE_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PostgresStorage {
    pool: PgPool,
    /// The sessions that hold customer locks, apart from `pool`: a held lock keeps its
    /// session until released, and the change it guards needs connections of its own; from
    /// one pool, as many changes at once as it has connections would each hold one and wait
    /// for another until the timeout.
    lock_sessions: PgPool,
}

impl PostgresStorage {
    const BACKEND: Backend = Backend::Postgres;

    /// Connects to the server a `postgres://` URL names. A connection that breaks later is
    /// replaced by the pool; while the server is unreachable, calls fail as `Unavailable`.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = pool_options(POOLED_CONNECTIONS)
            .connect_with(options.clone())
            .await?;
        // Opened when the first lock is taken: a node that changes no customer holds none.
        let lock_sessions = pool_options(LOCK_SESSIONS).connect_lazy_with(options);
        Ok(Self {
            pool,
            lock_sessions,
        })
    }

    async fn run_migrations(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    fn locks(&self) -> crate::CustomerLocks {
        crate::CustomerLocks::Postgres(self.lock_sessions.clone())
    }

    /// A transaction that will write.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>, StorageError> {
        Ok(self.pool.begin().await?)
    }
}

/// Serializes changes that span a project's rows (e.g. which offering is current).
async fn lock_project(
    tx: &mut sqlx::Transaction<'_, Db>,
    project_id: &str,
) -> Result<(), StorageError> {
    sqlx::query("SELECT id FROM projects WHERE id = $1 FOR UPDATE")
        .bind(project_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What locks the delivery rows a worker claims.
macro_rules! claim_lock {
    () => {
        " FOR UPDATE OF d SKIP LOCKED"
    };
}

/// SQL for the ids in the JSON array bound as `$2`.
macro_rules! ids_in_param2 {
    () => {
        "(SELECT json_array_elements_text($2::json))"
    };
}

/// A join whose left side should drive it (PostgreSQL's planner picks that by itself).
macro_rules! driving_join {
    () => {
        " JOIN "
    };
}

/// The visits of `touch_customers`, a JSON array bound as `$1`, as a table `v`.
macro_rules! visits_in_param1 {
    () => {
        "jsonb_to_recordset($1::jsonb) AS v(customer_key text, seen_at bigint, \
         app_version text, platform text, platform_version text)"
    };
}

/// The rows a hot-path read selects (`$sql` with `[binds]`), each decoded by `$decode`.
macro_rules! select_all {
    ($storage:expr, $sql:expr, [$($bind:expr),* $(,)?], $decode:path) => {{
        let rows = sqlx::query($sql)$(.bind($bind))*.fetch_all(&$storage.pool).await?;
        rows.iter().map(|row| $decode(row)).collect::<Result<Vec<_>, $crate::StorageError>>()
    }};
}

/// The API keys whose lookup is `$lookup` (`$sql` selects them by `$1`), read each time.
macro_rules! keys_by_lookup {
    ($storage:expr, $sql:expr, $lookup:expr) => {
        select_all!($storage, $sql, [$lookup], $crate::shared::key_from_row)
    };
}

/// Runs `$body` (whose reads use `select_all!($view, …)`) with `$view` bound to the
/// storage: each statement through the pool (PostgreSQL's reads need no pinning to be fast,
/// and every fact they read was committed whole).
macro_rules! read_together {
    ($storage:expr, |$view:ident| $body:expr) => {{
        let $view = $storage;
        $body
    }};
}

/// A project's (`$project_id`) catalog view, read through `$view` each time; `?` returns
/// its errors.
macro_rules! catalog_view {
    ($view:expr, $project_id:expr) => {
        $crate::shared::customer_reads::read_catalog!(select_all, $view, $project_id)
    };
}

/// A project's (`$project_id`) catalog view and test-store clock offset, read through
/// `$view` each time; `?` returns its errors.
macro_rules! project_facts {
    ($view:expr, $project_id:expr) => {
        $crate::shared::customer_reads::read_project_facts!($view, $project_id)
    };
}

/// A project's (`$project_id`) offering tree, read through `$view` each time.
macro_rules! offering_tree {
    ($view:expr, $project_id:expr) => {
        std::sync::Arc::new($crate::shared::offering_tree::read_offering_tree!(
            select_all,
            $view,
            $project_id
        ))
    };
}

/// PostgreSQL records transactions through sqlx only, one transaction each (no group writer).
macro_rules! record_transaction_in_group {
    ($storage:expr, $project_id:expr, $transaction:expr, $events:expr, $now:expr) => {
        None::<Result<$crate::Recorded, $crate::StorageError>>
    };
}

/// PostgreSQL writes visits through sqlx, one statement per batch (no group writer): every
/// visit is left to the caller.
macro_rules! touch_in_group {
    ($storage:expr, $visits:expr) => {
        Some::<Vec<$crate::Visit>>($visits)
    };
}

impl_row_ext!(sqlx::postgres::PgRow);
impl_project_store!(PostgresStorage);
impl_catalog_store!(PostgresStorage);
impl_customer_store!(PostgresStorage);
impl_purchase_store!(PostgresStorage);
impl_temporary_grant_store!(PostgresStorage);
impl_webhook_store!(PostgresStorage);
impl_audit_store!(PostgresStorage);
