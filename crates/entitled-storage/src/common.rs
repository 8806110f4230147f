//! What both backends share: row decoding and the SQL that reads the same in SQLite and
//! PostgreSQL (numbered `$n` parameters, `ON CONFLICT`, `RETURNING`).
//!
//! The shared [`Storage`](crate::Storage) methods are written once in
//! [`impl_shared_storage!`] and expanded for each backend's pool type; each backend
//! supplies `backend_kind`, `run_migrations` and `connect` itself.

use entitled_core::{
    ApiKey, App, AppType, KeyKind, Permissions, Project, UnixMillis, ValidationError,
};

use crate::StorageError;

/// Typed column access, implemented for each backend's row type.
pub(crate) trait RowExt {
    fn text(&self, column: &str) -> Result<String, StorageError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StorageError>;
    fn int(&self, column: &str) -> Result<i64, StorageError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StorageError>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl $crate::common::RowExt for $row {
            fn text(&self, column: &str) -> Result<String, $crate::StorageError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, $crate::StorageError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn int(&self, column: &str) -> Result<i64, $crate::StorageError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, $crate::StorageError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
        }
    };
}
pub(crate) use impl_row_ext;

fn corrupt(what: &str, err: ValidationError) -> StorageError {
    StorageError::Internal(format!("stored {what} is invalid: {err}"))
}

/// The columns [`project_from_row`] reads, as a literal for `concat!`.
macro_rules! project_columns {
    () => {
        "id, name, created_at"
    };
}
pub(crate) use project_columns;

/// The columns [`app_from_row`] reads.
macro_rules! app_columns {
    () => {
        "id, project_id, name, app_type, bundle_id, package_name, created_at"
    };
}
pub(crate) use app_columns;

/// The columns [`key_from_row`] reads.
macro_rules! key_columns {
    () => {
        "id, project_id, app_id, kind, name, lookup, hash, permissions, created_at, revoked_at"
    };
}
pub(crate) use key_columns;

pub(crate) fn project_from_row<R: RowExt>(row: &R) -> Result<Project, StorageError> {
    Ok(Project {
        id: row.text("id")?,
        name: row.text("name")?,
        created_at: UnixMillis(row.int("created_at")?),
    })
}

pub(crate) fn app_from_row<R: RowExt>(row: &R) -> Result<App, StorageError> {
    let app_type =
        AppType::parse(&row.text("app_type")?, "app_type").map_err(|e| corrupt("app", e))?;
    Ok(App {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        name: row.text("name")?,
        app_type,
        bundle_id: row.opt_text("bundle_id")?,
        package_name: row.opt_text("package_name")?,
        created_at: UnixMillis(row.int("created_at")?),
    })
}

pub(crate) fn key_from_row<R: RowExt>(row: &R) -> Result<ApiKey, StorageError> {
    let kind_text = row.text("kind")?;
    let kind = KeyKind::from_stored(&kind_text).ok_or_else(|| {
        StorageError::Internal(format!("stored key kind {kind_text:?} is invalid"))
    })?;
    let stored_permissions = row.text("permissions")?;
    let permissions = if stored_permissions.is_empty() {
        Permissions::default()
    } else {
        Permissions::parse(&stored_permissions, "permissions").map_err(|e| corrupt("key", e))?
    };
    Ok(ApiKey {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        app_id: row.opt_text("app_id")?,
        kind,
        name: row.text("name")?,
        lookup: row.text("lookup")?,
        hash: row.text("hash")?,
        permissions,
        created_at: UnixMillis(row.int("created_at")?),
        revoked_at: row.opt_int("revoked_at")?.map(UnixMillis),
    })
}

/// The lists that page by creation order (`seq`) within a project.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Listing {
    Apps,
    SecretKeys,
}

impl Listing {
    /// Finds the `seq` of the `starting_after` item ($1 project, $2 id).
    pub(crate) fn cursor_sql(self) -> &'static str {
        match self {
            Listing::Apps => "SELECT seq FROM apps WHERE project_id = $1 AND id = $2",
            Listing::SecretKeys => {
                "SELECT seq FROM api_keys WHERE project_id = $1 AND id = $2 AND kind = 'secret'"
            }
        }
    }

    /// One page after a `seq` ($1 project, $2 seq, $3 limit).
    pub(crate) fn page_sql(self) -> &'static str {
        match self {
            Listing::Apps => concat!(
                "SELECT ",
                app_columns!(),
                " FROM apps WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ),
            Listing::SecretKeys => concat!(
                "SELECT ",
                key_columns!(),
                " FROM api_keys WHERE project_id = $1 AND kind = 'secret' AND seq > $2 ORDER BY seq LIMIT $3"
            ),
        }
    }
}

/// Decodes `limit + 1` fetched rows into a page.
pub(crate) fn decode_page<R, T>(
    rows: &[R],
    limit: u32,
    decode: impl Fn(&R) -> Result<T, StorageError>,
) -> Result<crate::Page<T>, StorageError> {
    let has_more = rows.len() > limit as usize;
    let items = rows
        .iter()
        .take(limit as usize)
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::Page { items, has_more })
}

/// Expands the backend-independent `Storage` methods for a type with a `pool` field.
macro_rules! impl_shared_storage {
    ($storage:ty) => {
        #[async_trait::async_trait]
        impl $crate::Storage for $storage {
            fn backend(&self) -> $crate::Backend {
                Self::BACKEND
            }

            async fn migrate(&self) -> Result<(), $crate::StorageError> {
                self.run_migrations().await
            }

            async fn ping(&self) -> Result<(), $crate::StorageError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn bootstrap(
                &self,
                seed: &$crate::BootstrapSeed,
            ) -> Result<bool, $crate::StorageError> {
                let mut tx = self.pool.begin().await?;
                let claimed = sqlx::query(
                    "INSERT INTO bootstrap (singleton, project_id, created_at) VALUES (1, $1, $2) \
                     ON CONFLICT (singleton) DO NOTHING",
                )
                .bind(&seed.project.id)
                .bind(seed.project.created_at.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if claimed == 0 {
                    return Ok(false);
                }
                insert_project(&mut tx, &seed.project).await?;
                insert_app(&mut tx, &seed.app).await?;
                insert_key(&mut tx, &seed.public_key).await?;
                insert_key(&mut tx, &seed.secret_key).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn create_project(
                &self,
                project: &entitled_core::Project,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.pool.begin().await?;
                insert_project(&mut tx, project).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_project(
                &self,
                id: &str,
            ) -> Result<Option<entitled_core::Project>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::common::project_columns!(), " FROM projects WHERE id = $1");
                let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map($crate::common::project_from_row).transpose()
            }

            async fn create_app(
                &self,
                app: &entitled_core::App,
                public_key: &entitled_core::ApiKey,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.pool.begin().await?;
                insert_app(&mut tx, app).await?;
                insert_key(&mut tx, public_key).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_app(
                &self,
                project_id: &str,
                app_id: &str,
            ) -> Result<Option<entitled_core::App>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::common::app_columns!(), " FROM apps WHERE project_id = $1 AND id = $2");
                let row = sqlx::query(sql)
                    .bind(project_id)
                    .bind(app_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map($crate::common::app_from_row).transpose()
            }

            async fn list_apps(
                &self,
                project_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::App>, $crate::StorageError> {
                let rows = self
                    .page_rows($crate::common::Listing::Apps, project_id, page)
                    .await?;
                $crate::common::decode_page(&rows, page.limit, $crate::common::app_from_row)
            }

            async fn delete_app(
                &self,
                project_id: &str,
                app_id: &str,
            ) -> Result<bool, $crate::StorageError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM api_keys WHERE project_id = $1 AND app_id = $2")
                    .bind(project_id)
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                let deleted = sqlx::query("DELETE FROM apps WHERE project_id = $1 AND id = $2")
                    .bind(project_id)
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(deleted > 0)
            }

            async fn create_api_key(
                &self,
                key: &entitled_core::ApiKey,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.pool.begin().await?;
                insert_key(&mut tx, key).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_secret_keys(
                &self,
                project_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::ApiKey>, $crate::StorageError> {
                let rows = self
                    .page_rows($crate::common::Listing::SecretKeys, project_id, page)
                    .await?;
                $crate::common::decode_page(&rows, page.limit, $crate::common::key_from_row)
            }

            async fn get_api_key(
                &self,
                project_id: &str,
                key_id: &str,
            ) -> Result<Option<entitled_core::ApiKey>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::common::key_columns!(), " FROM api_keys WHERE project_id = $1 AND id = $2");
                let row = sqlx::query(sql)
                    .bind(project_id)
                    .bind(key_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map($crate::common::key_from_row).transpose()
            }

            async fn revoke_api_key(
                &self,
                project_id: &str,
                key_id: &str,
                now: entitled_core::UnixMillis,
            ) -> Result<bool, $crate::StorageError> {
                let revoked = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 \
                     WHERE project_id = $2 AND id = $3 AND revoked_at IS NULL",
                )
                .bind(now.0)
                .bind(project_id)
                .bind(key_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(revoked > 0)
            }

            async fn find_keys_by_lookup(
                &self,
                lookup: &str,
            ) -> Result<Vec<entitled_core::ApiKey>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::common::key_columns!(), " FROM api_keys WHERE lookup = $1");
                let rows = sqlx::query(sql).bind(lookup).fetch_all(&self.pool).await?;
                rows.iter().map($crate::common::key_from_row).collect()
            }
        }

        impl $storage {
            /// The rows of one page of a listing (one more than the limit, to tell if more follow).
            async fn page_rows(
                &self,
                listing: $crate::common::Listing,
                project_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<Vec<<Db as sqlx::Database>::Row>, $crate::StorageError> {
                let after = match &page.starting_after {
                    None => 0,
                    Some(after) => {
                        let row = sqlx::query(listing.cursor_sql())
                            .bind(project_id)
                            .bind(after)
                            .fetch_optional(&self.pool)
                            .await?
                            .ok_or($crate::StorageError::UnknownCursor)?;
                        $crate::common::RowExt::int(&row, "seq")?
                    }
                };
                Ok(sqlx::query(listing.page_sql())
                    .bind(project_id)
                    .bind(after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?)
            }
        }

        async fn insert_project(
            tx: &mut sqlx::Transaction<'_, Db>,
            project: &entitled_core::Project,
        ) -> Result<(), $crate::StorageError> {
            sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&project.id)
                .bind(&project.name)
                .bind(project.created_at.0)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        async fn insert_app(
            tx: &mut sqlx::Transaction<'_, Db>,
            app: &entitled_core::App,
        ) -> Result<(), $crate::StorageError> {
            sqlx::query(
                "INSERT INTO apps (id, project_id, name, app_type, bundle_id, package_name, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&app.id)
            .bind(&app.project_id)
            .bind(&app.name)
            .bind(app.app_type.as_str())
            .bind(&app.bundle_id)
            .bind(&app.package_name)
            .bind(app.created_at.0)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        async fn insert_key(
            tx: &mut sqlx::Transaction<'_, Db>,
            key: &entitled_core::ApiKey,
        ) -> Result<(), $crate::StorageError> {
            sqlx::query(
                "INSERT INTO api_keys (id, project_id, app_id, kind, name, lookup, hash, permissions, \
                 created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&key.id)
            .bind(&key.project_id)
            .bind(&key.app_id)
            .bind(key.kind.as_str())
            .bind(&key.name)
            .bind(&key.lookup)
            .bind(&key.hash)
            .bind(key.permissions.to_stored())
            .bind(key.created_at.0)
            .bind(key.revoked_at.map(|t| t.0))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    };
}
pub(crate) use impl_shared_storage;
