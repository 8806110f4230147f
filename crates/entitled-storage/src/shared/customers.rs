//! Customers, aliases, attributes, promotional grants and transfers, for both backends.

/// Expands [`CustomerStore`](crate::CustomerStore) for a backend.
macro_rules! impl_customer_store {
    ($storage:ty) => {
        #[async_trait::async_trait]
        impl $crate::CustomerStore for $storage {
            async fn create_customer(
                &self,
                customer: &entitled_core::Customer,
                attributes: &[entitled_core::Attribute],
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(concat!(
                    "INSERT INTO customers (", $crate::shared::customer_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(&customer.key)
                .bind(&customer.project_id)
                .bind(&customer.id)
                .bind(customer.first_seen_at.0)
                .bind(customer.last_seen_at.map(|t| t.0))
                .bind(&customer.last_seen_app_version)
                .bind(&customer.last_seen_country)
                .bind(&customer.last_seen_platform)
                .bind(&customer.last_seen_platform_version)
                .bind(&customer.offering_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO customer_aliases (project_id, alias, customer_key, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&customer.project_id)
                .bind(&customer.id)
                .bind(&customer.key)
                .bind(customer.first_seen_at.0)
                .execute(&mut *tx)
                .await?;
                for attribute in attributes {
                    upsert_attribute(&mut tx, &customer.key, &attribute.name, attribute.value.as_deref(), attribute.updated_at).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn customer_by_key(
                &self,
                customer_key: &str,
            ) -> Result<Option<entitled_core::Customer>, $crate::StorageError> {
                let sql = $crate::shared::customer_reads::customer_by_key_sql!();
                let found = select_all!(self, sql, [customer_key], $crate::shared::customer_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn find_customer(
                &self,
                project_id: &str,
                id_or_alias: &str,
            ) -> Result<Option<entitled_core::Customer>, $crate::StorageError> {
                let sql = $crate::shared::customer_reads::customer_by_alias_sql!();
                let found = select_all!(self, sql, [project_id, id_or_alias], $crate::shared::customer_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn list_customers(
                &self,
                project_id: &str,
                search: Option<&str>,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::Customer>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::Customers, project_id, search, page, $crate::shared::customer_from_row)
            }

            async fn add_alias(
                &self,
                project_id: &str,
                customer_key: &str,
                alias: &str,
                now: entitled_core::UnixMillis,
            ) -> Result<(), $crate::StorageError> {
                sqlx::query(
                    "INSERT INTO customer_aliases (project_id, alias, customer_key, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(project_id)
                .bind(alias)
                .bind(customer_key)
                .bind(now.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delete_customer(&self, customer_key: &str) -> Result<bool, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                for sql in [
                    "DELETE FROM lifecycle_events WHERE EXISTS (SELECT 1 FROM store_transactions t \
                     WHERE t.customer_key = $1 AND t.store = lifecycle_events.store \
                     AND t.original_transaction_id = lifecycle_events.original_transaction_id)",
                    "DELETE FROM store_transactions WHERE customer_key = $1",
                    "DELETE FROM customer_transfers WHERE source_customer_key = $1 OR target_customer_key = $1",
                    "DELETE FROM promotional_grants WHERE customer_key = $1",
                    "DELETE FROM temporary_grants WHERE customer_key = $1",
                    "DELETE FROM customer_attributes WHERE customer_key = $1",
                    "DELETE FROM customer_aliases WHERE customer_key = $1",
                ] {
                    sqlx::query(sql).bind(customer_key).execute(&mut *tx).await?;
                }
                let deleted = sqlx::query("DELETE FROM customers WHERE key = $1")
                    .bind(customer_key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(deleted > 0)
            }

            async fn list_aliases(
                &self,
                customer_key: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::CustomerAlias>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::AliasesOfCustomer, customer_key,
                    None::<&str>, page, $crate::shared::alias_from_row)
            }

            async fn list_attributes(
                &self,
                customer_key: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::Attribute>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::AttributesOfCustomer, customer_key,
                    None::<&str>, page, $crate::shared::attribute_from_row)
            }

            async fn set_attributes(
                &self,
                customer_key: &str,
                attributes: &[(String, Option<String>)],
                now: entitled_core::UnixMillis,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                for (name, value) in attributes {
                    match value {
                        Some(value) => upsert_attribute(&mut tx, customer_key, name, Some(value), now).await?,
                        None => {
                            sqlx::query("DELETE FROM customer_attributes WHERE customer_key = $1 AND name = $2")
                                .bind(customer_key)
                                .bind(name)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn add_grant(
                &self,
                grant: &entitled_core::PromotionalGrant,
                events: &[entitled_core::webhooks::OutboxEvent],
                now: entitled_core::UnixMillis,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO promotional_grants (id, customer_key, entitlement_id, starts_at, expires_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&grant.id)
                .bind(&grant.customer_key)
                .bind(&grant.entitlement_id)
                .bind(grant.starts_at.0)
                .bind(grant.expires_at.map(|t| t.0))
                .bind(grant.revoked_at.map(|t| t.0))
                .execute(&mut *tx)
                .await?;
                insert_outbox(&mut tx, events, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_grants(
                &self,
                customer_key: &str,
                entitlement_id: &str,
                events: &[entitled_core::webhooks::OutboxEvent],
                now: entitled_core::UnixMillis,
            ) -> Result<u64, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let revoked = sqlx::query(
                    "UPDATE promotional_grants SET revoked_at = $3 \
                     WHERE customer_key = $1 AND entitlement_id = $2 AND revoked_at IS NULL \
                     AND (expires_at IS NULL OR expires_at > $3)",
                )
                .bind(customer_key)
                .bind(entitlement_id)
                .bind(now.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if revoked > 0 {
                    insert_outbox(&mut tx, events, now).await?;
                }
                tx.commit().await?;
                Ok(revoked)
            }

            async fn grants_of(
                &self,
                customer_key: &str,
            ) -> Result<Vec<entitled_core::PromotionalGrant>, $crate::StorageError> {
                let sql = $crate::shared::customer_reads::grants_of_sql!();
                select_all!(self, sql, [customer_key], $crate::shared::grant_from_row)
            }

            async fn assign_offering(
                &self,
                project_id: &str,
                customer_key: &str,
                offering_id: Option<&str>,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                if let Some(offering_id) = offering_id {
                    require(&mut tx, "SELECT 1 AS found FROM offerings WHERE project_id = $1 AND id = $2",
                        project_id, offering_id, "offering").await?;
                }
                sqlx::query("UPDATE customers SET offering_id = $2 WHERE key = $1")
                    .bind(customer_key)
                    .bind(offering_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_transfer(
                &self,
                transfer: &entitled_core::Transfer,
            ) -> Result<(), $crate::StorageError> {
                sqlx::query(
                    "INSERT INTO customer_transfers (id, project_id, source_customer_key, target_customer_key, \
                     app_ids, transferred_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&transfer.id)
                .bind(&transfer.project_id)
                .bind(&transfer.source_customer_key)
                .bind(&transfer.target_customer_key)
                .bind(transfer.app_ids.as_ref().map(|ids| $crate::shared::json_ids(ids)))
                .bind(transfer.transferred_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }

        async fn upsert_attribute(
            tx: &mut sqlx::Transaction<'_, Db>,
            customer_key: &str,
            name: &str,
            value: Option<&str>,
            now: entitled_core::UnixMillis,
        ) -> Result<(), $crate::StorageError> {
            sqlx::query(
                "INSERT INTO customer_attributes (customer_key, name, value, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (customer_key, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(customer_key)
            .bind(name)
            .bind(value)
            .bind(now.0)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    };
}
pub(crate) use impl_customer_store;

/// The `SET` list a last-seen visit writes onto its customer, given the SQL of the visit's
/// time and of what it reported: the time always, each reported field only when reported
/// (`NULL` keeps what was seen before). One rule for the SQLite group writer's statement and
/// the batched statement of the other backends.
macro_rules! last_seen_set_sql {
    ($seen_at:literal, $app_version:literal, $platform:literal, $platform_version:literal) => {
        concat!(
            "last_seen_at = ",
            $seen_at,
            ", last_seen_app_version = COALESCE(",
            $app_version,
            ", last_seen_app_version), last_seen_platform = COALESCE(",
            $platform,
            ", last_seen_platform), last_seen_platform_version = COALESCE(",
            $platform_version,
            ", last_seen_platform_version)"
        )
    };
}
pub(crate) use last_seen_set_sql;
