//! Projects, apps, API keys and first-start seeding, for both backends.

/// Expands the backend-independent `Storage` methods for a type with a `pool` field.
macro_rules! impl_project_store {
    ($storage:ty) => {
        #[async_trait::async_trait]
        impl $crate::ProjectStore for $storage {
            fn backend(&self) -> $crate::Backend {
                Self::BACKEND
            }

            fn customer_locks(&self) -> $crate::CustomerLocks {
                self.locks()
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
                let mut tx = self.begin_write().await?;
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
                insert_app(&mut tx, &seed.app, None).await?;
                insert_key(&mut tx, &seed.public_key).await?;
                insert_key(&mut tx, &seed.secret_key).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn create_project(
                &self,
                project: &entitled_core::Project,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                insert_project(&mut tx, project).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_project(
                &self,
                id: &str,
            ) -> Result<Option<entitled_core::Project>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::project_columns!(), " FROM projects WHERE id = $1");
                let found = select_all!(self, sql, [id], $crate::shared::project_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn create_app(
                &self,
                app: &entitled_core::App,
                sealed_credentials: Option<&str>,
                public_key: &entitled_core::ApiKey,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                insert_app(&mut tx, app, sealed_credentials).await?;
                insert_key(&mut tx, public_key).await?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_app(
                &self,
                project_id: &str,
                app_id: &str,
            ) -> Result<Option<entitled_core::App>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::app_columns!(), " FROM apps WHERE project_id = $1 AND id = $2");
                let found = select_all!(self, sql, [project_id, app_id], $crate::shared::app_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn app_by_id(
                &self,
                app_id: &str,
            ) -> Result<Option<entitled_core::App>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::app_columns!(), " FROM apps WHERE id = $1");
                let found = select_all!(self, sql, [app_id], $crate::shared::app_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn list_apps(
                &self,
                project_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::App>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::Apps, project_id, None::<&str>, page, $crate::shared::app_from_row)
            }

            async fn update_app(
                &self,
                app: &entitled_core::App,
                sealed_credentials: Option<&str>,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query(
                    "UPDATE apps SET name = $3, bundle_id = $4, package_name = $5, stripe_account_id = $6, \
                     credential_names = $7, sealed_credentials = $8 WHERE project_id = $1 AND id = $2",
                )
                .bind(&app.project_id)
                .bind(&app.id)
                .bind(&app.name)
                .bind(&app.bundle_id)
                .bind(&app.package_name)
                .bind(&app.stripe_account_id)
                .bind(app.credential_names.join(","))
                .bind(sealed_credentials)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::StorageError::NotFound("app"));
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn app_credentials(
                &self,
                project_id: &str,
                app_id: &str,
            ) -> Result<Option<String>, $crate::StorageError> {
                let row = sqlx::query(
                    "SELECT sealed_credentials FROM apps WHERE project_id = $1 AND id = $2",
                )
                .bind(project_id)
                .bind(app_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or($crate::StorageError::NotFound("app"))?;
                $crate::shared::RowExt::opt_text(&row, "sealed_credentials")
            }

            async fn delete_app(
                &self,
                project_id: &str,
                app_id: &str,
                audit: &entitled_core::AuditEntry,
            ) -> Result<bool, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM api_keys WHERE project_id = $1 AND app_id = $2")
                    .bind(project_id)
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                let sql = "DELETE FROM apps WHERE project_id = $1 AND id = $2";
                delete_audited(tx, sql, project_id, app_id, audit).await
            }

            async fn create_api_key(
                &self,
                key: &entitled_core::ApiKey,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                insert_key(&mut tx, key).await?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_secret_keys(
                &self,
                project_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::ApiKey>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::SecretKeys, project_id, None::<&str>, page, $crate::shared::key_from_row)
            }

            async fn get_api_key(
                &self,
                project_id: &str,
                key_id: &str,
            ) -> Result<Option<entitled_core::ApiKey>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::key_columns!(), " FROM api_keys WHERE project_id = $1 AND id = $2");
                let found = select_all!(self, sql, [project_id, key_id], $crate::shared::key_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn revoke_api_key(
                &self,
                project_id: &str,
                key_id: &str,
                now: entitled_core::UnixMillis,
                audit: &entitled_core::AuditEntry,
            ) -> Result<bool, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let revoked = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 \
                     WHERE project_id = $2 AND id = $3 AND revoked_at IS NULL",
                )
                .bind(now.0)
                .bind(project_id)
                .bind(key_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if revoked == 0 {
                    return Ok(false);
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn public_keys_of_app(
                &self,
                project_id: &str,
                app_id: &str,
            ) -> Result<Vec<entitled_core::ApiKey>, $crate::StorageError> {
                let sql = concat!(
                    "SELECT ", $crate::shared::key_columns!(),
                    " FROM api_keys WHERE project_id = $1 AND app_id = $2 AND kind = 'public' ORDER BY seq"
                );
                select_all!(self, sql, [project_id, app_id], $crate::shared::key_from_row)
            }

            async fn find_keys_by_lookup(
                &self,
                lookup: &str,
            ) -> Result<Vec<entitled_core::ApiKey>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::key_columns!(), " FROM api_keys WHERE lookup = $1");
                keys_by_lookup!(self, sql, lookup)
            }
        }

        async fn insert_project(
            tx: &mut sqlx::Transaction<'_, Db>,
            project: &entitled_core::Project,
        ) -> Result<(), $crate::StorageError> {
            sqlx::query("INSERT INTO projects (id, name, transfer_rule, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&project.id)
                .bind(&project.name)
                .bind(project.transfer_rule.as_str())
                .bind(project.created_at.0)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        async fn insert_app(
            tx: &mut sqlx::Transaction<'_, Db>,
            app: &entitled_core::App,
            sealed_credentials: Option<&str>,
        ) -> Result<(), $crate::StorageError> {
            sqlx::query(
                "INSERT INTO apps (id, project_id, name, app_type, bundle_id, package_name, \
                 stripe_account_id, credential_names, sealed_credentials, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&app.id)
            .bind(&app.project_id)
            .bind(&app.name)
            .bind(app.app_type.as_str())
            .bind(&app.bundle_id)
            .bind(&app.package_name)
            .bind(&app.stripe_account_id)
            .bind(app.credential_names.join(","))
            .bind(sealed_credentials)
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
pub(crate) use impl_project_store;
