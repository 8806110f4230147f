//! Storage failures, classified by what the caller can do about them.

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A uniqueness constraint was violated; names the constraint or table when known.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Something the call refers to does not exist in the project (names what).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The object is still used by others and the caller did not force the change.
    #[error("in use: {0}")]
    InUse(String),
    /// A `starting_after` cursor names no item of the list.
    #[error("unknown cursor")]
    UnknownCursor,
    /// The database cannot be reached right now; retrying later may work.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database URL or options are unusable.
    #[error("storage configuration: {0}")]
    Config(String),
    /// Anything else: a bug, a corrupt row, a failed migration.
    #[error("storage failure: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for StorageError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StorageError::Conflict(db.constraint().unwrap_or("unique").to_string())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StorageError::Unavailable(err.to_string()),
            sqlx::Error::Configuration(_) => StorageError::Config(err.to_string()),
            _ => StorageError::Internal(err.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StorageError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => StorageError::Internal(format!("migration: {other}")),
        }
    }
}
