//! Temporary grants and the test store's simulated outages, for both backends.

use entitled_core::UnixMillis;
use entitled_core::purchases::{Environment, Store, TemporaryGrant};

use crate::StorageError;
use crate::shared::RowExt;

/// The columns [`temporary_grant_from_row`] reads.
macro_rules! temporary_grant_columns {
    () => {
        "id, customer_key, app_id, store, environment, fetch_token, product_id, price_micros, \
         currency, granted_at, expires_at, settled_at"
    };
}
pub(crate) use temporary_grant_columns;

pub(crate) fn temporary_grant_from_row<R: RowExt>(row: &R) -> Result<TemporaryGrant, StorageError> {
    let bad = |what: &str, value: String| {
        StorageError::Internal(format!(
            "stored temporary grant has an invalid {what}: {value:?}"
        ))
    };
    let store_text = row.text("store")?;
    let store = Store::from_stored(&store_text).ok_or_else(|| bad("store", store_text))?;
    let environment_text = row.text("environment")?;
    let environment = Environment::from_stored(&environment_text)
        .ok_or_else(|| bad("environment", environment_text))?;
    let price = crate::shared::price_from_row(row)?;
    Ok(TemporaryGrant {
        id: row.text("id")?,
        customer_key: row.text("customer_key")?,
        app_id: row.text("app_id")?,
        store,
        environment,
        fetch_token: row.text("fetch_token")?,
        product_id: row.text("product_id")?,
        price,
        granted_at: UnixMillis(row.int("granted_at")?),
        expires_at: UnixMillis(row.int("expires_at")?),
        settled_at: row.opt_int("settled_at")?.map(UnixMillis),
    })
}

pub(crate) fn since_from_row<R: RowExt>(row: &R) -> Result<UnixMillis, StorageError> {
    Ok(UnixMillis(row.int("since_ms")?))
}

/// Expands [`TemporaryGrantStore`](crate::TemporaryGrantStore) for a backend.
macro_rules! impl_temporary_grant_store {
    ($storage:ty) => {
        #[async_trait::async_trait]
        impl $crate::TemporaryGrantStore for $storage {
            async fn record_temporary_grant(
                &self,
                project_id: &str,
                grant: &entitled_core::purchases::TemporaryGrant,
                events: &[entitled_core::webhooks::OutboxEvent],
                now: entitled_core::UnixMillis,
            ) -> Result<entitled_core::purchases::TemporaryGrant, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let written = sqlx::query(concat!(
                    "INSERT INTO temporary_grants (project_id, ",
                    $crate::shared::temporary_grants::temporary_grant_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                     ON CONFLICT (app_id, fetch_token) DO NOTHING"
                ))
                .bind(project_id)
                .bind(&grant.id)
                .bind(&grant.customer_key)
                .bind(&grant.app_id)
                .bind(grant.store.as_str())
                .bind(grant.environment.as_str())
                .bind(&grant.fetch_token)
                .bind(&grant.product_id)
                .bind(grant.price.as_ref().map(|p| p.amount_micros))
                .bind(grant.price.as_ref().map(|p| p.currency.clone()))
                .bind(grant.granted_at.0)
                .bind(grant.expires_at.0)
                .bind(grant.settled_at.map(|s| s.0))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if written > 0 {
                    insert_outbox(&mut tx, events, now).await?;
                    tx.commit().await?;
                    return Ok(grant.clone());
                }
                let row = sqlx::query(concat!(
                    "SELECT ", $crate::shared::temporary_grants::temporary_grant_columns!(),
                    " FROM temporary_grants WHERE app_id = $1 AND fetch_token = $2"
                ))
                .bind(&grant.app_id)
                .bind(&grant.fetch_token)
                .fetch_one(&mut *tx)
                .await?;
                $crate::shared::temporary_grants::temporary_grant_from_row(&row)
            }

            async fn temporary_grant_for(
                &self,
                app_id: &str,
                fetch_token: &str,
            ) -> Result<Option<entitled_core::purchases::TemporaryGrant>, $crate::StorageError> {
                let sql = concat!(
                    "SELECT ", $crate::shared::temporary_grants::temporary_grant_columns!(),
                    " FROM temporary_grants WHERE app_id = $1 AND fetch_token = $2"
                );
                let found = select_all!(self, sql, [app_id, fetch_token],
                    $crate::shared::temporary_grants::temporary_grant_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn pending_temporary_grants_of(
                &self,
                customer_key: &str,
            ) -> Result<Vec<entitled_core::purchases::TemporaryGrant>, $crate::StorageError> {
                let sql = $crate::shared::customer_reads::pending_temporary_grants_of_sql!();
                select_all!(self, sql, [customer_key],
                    $crate::shared::temporary_grants::temporary_grant_from_row)
            }

            async fn pending_temporary_grants(
                &self,
                project_id: &str,
            ) -> Result<Vec<entitled_core::purchases::TemporaryGrant>, $crate::StorageError> {
                let sql = concat!(
                    "SELECT ", $crate::shared::temporary_grants::temporary_grant_columns!(),
                    " FROM temporary_grants WHERE project_id = $1 AND settled_at IS NULL ORDER BY seq"
                );
                select_all!(self, sql, [project_id],
                    $crate::shared::temporary_grants::temporary_grant_from_row)
            }

            async fn settle_temporary_grant(
                &self,
                project_id: &str,
                grant_id: &str,
                settled_at: entitled_core::UnixMillis,
                transaction: Option<&entitled_core::purchases::StoreTransaction>,
                events: &[entitled_core::webhooks::OutboxEvent],
                now: entitled_core::UnixMillis,
            ) -> Result<bool, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let settled = sqlx::query(
                    "UPDATE temporary_grants SET settled_at = $3 \
                     WHERE project_id = $1 AND id = $2 AND settled_at IS NULL",
                )
                .bind(project_id)
                .bind(grant_id)
                .bind(settled_at.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if settled == 0 {
                    return Ok(false);
                }
                if let Some(transaction) = transaction
                    && insert_transaction(&mut tx, project_id, transaction, now).await?
                {
                    insert_outbox(&mut tx, events, now).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn set_test_store_outage(
                &self,
                project_id: &str,
                down: bool,
                now: entitled_core::UnixMillis,
            ) -> Result<Option<entitled_core::UnixMillis>, $crate::StorageError> {
                if !down {
                    sqlx::query("DELETE FROM test_store_outages WHERE project_id = $1")
                        .bind(project_id)
                        .execute(&self.pool)
                        .await?;
                    return Ok(None);
                }
                let row = sqlx::query(
                    "INSERT INTO test_store_outages (project_id, since_ms) VALUES ($1, $2) \
                     ON CONFLICT (project_id) DO UPDATE SET since_ms = test_store_outages.since_ms \
                     RETURNING since_ms",
                )
                .bind(project_id)
                .bind(now.0)
                .fetch_one(&self.pool)
                .await?;
                Ok(Some($crate::shared::temporary_grants::since_from_row(&row)?))
            }

            async fn test_store_outage(
                &self,
                project_id: &str,
            ) -> Result<Option<entitled_core::UnixMillis>, $crate::StorageError> {
                let sql = "SELECT since_ms FROM test_store_outages WHERE project_id = $1";
                let since = select_all!(self, sql, [project_id],
                    $crate::shared::temporary_grants::since_from_row)?;
                Ok(since.into_iter().next())
            }
        }
    };
}
pub(crate) use impl_temporary_grant_store;
