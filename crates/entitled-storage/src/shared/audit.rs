//! The audit log: written in the same transaction as the change it records.

/// Expands [`AuditStore`](crate::AuditStore) and `insert_audit` for a backend.
macro_rules! impl_audit_store {
    ($storage:ty) => {
        #[async_trait::async_trait]
        impl $crate::AuditStore for $storage {
            async fn list_audit_logs(
                &self,
                project_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::AuditEntry>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::AuditLogs, project_id, None::<&str>, page, $crate::shared::audit_from_row)
            }
        }

        #[async_trait::async_trait]
        impl $crate::RateLimitStore for $storage {
            async fn count_request(
                &self,
                bucket: &str,
                window_start: i64,
                expired_before: i64,
            ) -> Result<u64, $crate::StorageError> {
                let row = sqlx::query(
                    "INSERT INTO rate_limit_windows (bucket, window_start, count) VALUES ($1, $2, 1) \
                     ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limit_windows.count + 1 \
                     RETURNING count",
                )
                .bind(bucket)
                .bind(window_start)
                .fetch_one(&self.pool)
                .await?;
                let count = $crate::shared::RowExt::int(&row, "count")?;
                if count == 1 {
                    // The first request of a window sweeps windows long over.
                    sqlx::query("DELETE FROM rate_limit_windows WHERE bucket = $1 AND window_start < $2")
                        .bind(bucket)
                        .bind(expired_before)
                        .execute(&self.pool)
                        .await?;
                }
                Ok(u64::try_from(count).unwrap_or(0))
            }
        }

        async fn insert_audit(
            tx: &mut sqlx::Transaction<'_, Db>,
            entry: &entitled_core::AuditEntry,
        ) -> Result<(), $crate::StorageError> {
            sqlx::query(
                "INSERT INTO audit_logs (id, project_id, action_type, target_type, target_identifier, \
                 actor_type, actor_identifier, occurred_at, additional_data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&entry.id)
            .bind(&entry.project_id)
            .bind(&entry.action_type)
            .bind(&entry.target_type)
            .bind(&entry.target_identifier)
            .bind(entry.actor.actor_type())
            .bind(entry.actor.identifier())
            .bind(entry.occurred_at.0)
            .bind(entry.additional_data.to_string())
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Deletes the row `delete_sql` names (`$1` project, `$2` id), records `entry` and
        /// commits; answers false, writing nothing, when there was no such row.
        async fn delete_audited(
            mut tx: sqlx::Transaction<'_, Db>,
            delete_sql: &'static str,
            project_id: &str,
            id: &str,
            entry: &entitled_core::AuditEntry,
        ) -> Result<bool, $crate::StorageError> {
            let deleted = sqlx::query(delete_sql)
                .bind(project_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Ok(false);
            }
            insert_audit(&mut tx, entry).await?;
            tx.commit().await?;
            Ok(true)
        }
    };
}
pub(crate) use impl_audit_store;
