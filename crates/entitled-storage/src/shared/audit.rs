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
                let rows = self
                    .page_rows($crate::shared::Listing::AuditLogs, project_id, page)
                    .await?;
                $crate::shared::decode_page(&rows, page.limit, $crate::shared::audit_from_row)
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
    };
}
pub(crate) use impl_audit_store;
