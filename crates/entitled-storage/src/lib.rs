//! entitled's storage: one [`Storage`] interface, two real backends.
//!
//! SQLite (the default, one embedded file in WAL mode) and PostgreSQL (for several nodes on
//! one database). Both run the same raw SQL where the dialects agree (see [`common`]) and
//! keep their own migrations; the same test suite runs against both.

mod common;
mod error;
mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use entitled_core::{ApiKey, App, Project};

pub use error::StorageError;
pub use postgres::PostgresStorage;
pub use sqlite::SqliteStorage;

/// Which database a [`Storage`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A request for one page of a list, in creation order.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Return only items created after the item with this id.
    pub starting_after: Option<String>,
    /// At most this many items.
    pub limit: u32,
}

/// One page of a list: the items, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// True when another page exists after the last item.
    pub has_more: bool,
}

/// What a fresh database is seeded with on first start, written atomically and only once.
#[derive(Debug, Clone)]
pub struct BootstrapSeed {
    /// The `default` project.
    pub project: Project,
    /// Its `test_store` app.
    pub app: App,
    /// The app's public SDK key.
    pub public_key: ApiKey,
    /// A secret key with every permission.
    pub secret_key: ApiKey,
}

/// Everything entitled persists. Implementations must make each method atomic.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StorageError>;
    /// Checks that the database answers (readiness).
    async fn ping(&self) -> Result<(), StorageError>;
    /// Writes the first-start seed unless the database was seeded before; true if written now.
    async fn bootstrap(&self, seed: &BootstrapSeed) -> Result<bool, StorageError>;

    /// Creates a project.
    async fn create_project(&self, project: &Project) -> Result<(), StorageError>;
    /// A project by id.
    async fn get_project(&self, id: &str) -> Result<Option<Project>, StorageError>;

    /// Creates an app together with its public SDK key.
    async fn create_app(&self, app: &App, public_key: &ApiKey) -> Result<(), StorageError>;
    /// An app of a project.
    async fn get_app(&self, project_id: &str, app_id: &str) -> Result<Option<App>, StorageError>;
    /// A page of a project's apps.
    async fn list_apps(
        &self,
        project_id: &str,
        page: &PageRequest,
    ) -> Result<Page<App>, StorageError>;
    /// Deletes an app and its keys; false when there was no such app.
    async fn delete_app(&self, project_id: &str, app_id: &str) -> Result<bool, StorageError>;

    /// Stores a new key (its hash).
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StorageError>;
    /// A page of a project's secret keys, revoked ones included.
    async fn list_secret_keys(
        &self,
        project_id: &str,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, StorageError>;
    /// A key of a project by id.
    async fn get_api_key(
        &self,
        project_id: &str,
        key_id: &str,
    ) -> Result<Option<ApiKey>, StorageError>;
    /// Marks a key revoked at `now`; false when the project has no such active key.
    async fn revoke_api_key(
        &self,
        project_id: &str,
        key_id: &str,
        now: entitled_core::UnixMillis,
    ) -> Result<bool, StorageError>;
    /// The keys whose lookup matches, for authenticating a presented key.
    async fn find_keys_by_lookup(&self, lookup: &str) -> Result<Vec<ApiKey>, StorageError>;
}

/// Opens the storage a URL names: `sqlite://path` (or `sqlite::memory:`) or `postgres://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Storage>, StorageError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStorage::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStorage::connect(url).await?))
    } else {
        Err(StorageError::Config(format!(
            "unsupported database URL scheme in {:?}: use sqlite://PATH or postgres://…",
            redact_url(url)
        )))
    }
}

/// A database URL with any password replaced, safe to log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@localhost/db"),
            "postgres://u:***@localhost/db"
        );
        assert_eq!(
            redact_url("postgres://u@localhost/db"),
            "postgres://u@localhost/db"
        );
        assert_eq!(redact_url("sqlite://entitled.db"), "sqlite://entitled.db");
    }
}
