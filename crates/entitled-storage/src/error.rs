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
            sqlx::Error::Database(db) if db.code().as_deref().is_some_and(is_server_away) => {
                StorageError::Unavailable(err.to_string())
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

/// Whether a PostgreSQL error code (SQLSTATE) says the server is away or refusing sessions
/// for now rather than that the statement was wrong: a lost connection (class 08), a session
/// ended by an administrator or a crash, or a server starting up (57P01–57P03), too many
/// connections (53300). Retrying later may work: 503, not 500.
fn is_server_away(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

impl From<sqlx::migrate::MigrateError> for StorageError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => StorageError::Internal(format!("migration: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A database error with only a code, as a driver reports one.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "error"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn from_code(code: &'static str) -> StorageError {
        sqlx::Error::Database(Box::new(Coded(code))).into()
    }

    #[test]
    fn a_server_away_is_unavailable_and_a_wrong_statement_is_internal() {
        for away in ["57P01", "57P02", "57P03", "53300", "08006", "08003"] {
            assert!(
                matches!(from_code(away), StorageError::Unavailable(_)),
                "{away}"
            );
        }
        for wrong in ["42601", "42P01", "22P02", "40001"] {
            assert!(
                matches!(from_code(wrong), StorageError::Internal(_)),
                "{wrong}"
            );
        }
    }
}
