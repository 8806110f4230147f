//! Purchase facts, merges and the test-store clock, for both backends.

/// Expands [`PurchaseStore`](crate::PurchaseStore) for a backend.
macro_rules! impl_purchase_store {
    ($storage:ty) => {
        #[async_trait::async_trait]
        impl $crate::PurchaseStore for $storage {
            async fn record_transaction(
                &self,
                project_id: &str,
                transaction: &entitled_core::purchases::StoreTransaction,
                events: &[entitled_core::webhooks::OutboxEvent],
                now: entitled_core::UnixMillis,
            ) -> Result<$crate::Recorded, $crate::StorageError> {
                if let Some(recorded) = record_transaction_in_group!(self, project_id, transaction, events, now) {
                    return recorded;
                }
                let mut tx = self.begin_write().await?;
                if insert_transaction(&mut tx, project_id, transaction, now).await? {
                    insert_outbox(&mut tx, events, now).await?;
                    tx.commit().await?;
                    return Ok($crate::Recorded::New);
                }
                let sql = $crate::shared::purchase_writes::transaction_by_store_id_sql!();
                let row = sqlx::query(sql)
                    .bind(project_id)
                    .bind(transaction.store.as_str())
                    .bind(&transaction.store_transaction_id)
                    .fetch_one(&mut *tx)
                    .await?;
                Ok($crate::Recorded::Known(Box::new($crate::shared::transaction_from_row(&row)?)))
            }

            async fn record_transactions(
                &self,
                project_id: &str,
                transactions: &[entitled_core::purchases::StoreTransaction],
                events: &[entitled_core::webhooks::OutboxEvent],
                now: entitled_core::UnixMillis,
            ) -> Result<u64, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let mut written = 0;
                for transaction in transactions {
                    if insert_transaction(&mut tx, project_id, transaction, now).await? {
                        written += 1;
                    }
                }
                insert_outbox(&mut tx, events, now).await?;
                tx.commit().await?;
                Ok(written)
            }

            async fn import_purchases(
                &self,
                project_id: &str,
                rows: &[(String, entitled_core::purchases::StoreTransaction)],
                now: entitled_core::UnixMillis,
            ) -> Result<u64, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let mut written = 0;
                for (app_user_id, transaction) in rows {
                    let found = sqlx::query(
                        "SELECT customer_key FROM customer_aliases WHERE project_id = $1 AND alias = $2",
                    )
                    .bind(project_id)
                    .bind(app_user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let customer_key = match found {
                        Some(row) => $crate::shared::RowExt::text(&row, "customer_key")?,
                        None => {
                            let key = entitled_core::new_id(entitled_core::IdKind::CustomerKey);
                            sqlx::query(
                                "INSERT INTO customers (key, project_id, id, first_seen_at) VALUES ($1, $2, $3, $4)",
                            )
                            .bind(&key)
                            .bind(project_id)
                            .bind(app_user_id)
                            .bind(transaction.purchased_at.0.min(now.0))
                            .execute(&mut *tx)
                            .await?;
                            sqlx::query(
                                "INSERT INTO customer_aliases (project_id, alias, customer_key, created_at) \
                                 VALUES ($1, $2, $3, $4)",
                            )
                            .bind(project_id)
                            .bind(app_user_id)
                            .bind(&key)
                            .bind(now.0)
                            .execute(&mut *tx)
                            .await?;
                            key
                        }
                    };
                    let owned = entitled_core::purchases::StoreTransaction {
                        customer_key,
                        ..transaction.clone()
                    };
                    if insert_transaction(&mut tx, project_id, &owned, now).await? {
                        written += 1;
                    }
                }
                tx.commit().await?;
                Ok(written)
            }

            async fn facts_of_customers(
                &self,
                project_id: &str,
                customer_keys: &[String],
            ) -> Result<
                (
                    Vec<entitled_core::purchases::StoreTransaction>,
                    Vec<entitled_core::purchases::LifecycleEvent>,
                    Vec<entitled_core::PromotionalGrant>,
                ),
                $crate::StorageError,
            > {
                let keys = $crate::shared::json_ids(customer_keys);
                let sql = concat!("SELECT ", $crate::shared::transaction_columns!(),
                    " FROM store_transactions WHERE project_id = $1 AND customer_key IN ", ids_in_param2!(),
                    " ORDER BY seq");
                let rows = sqlx::query(sql).bind(project_id).bind(&keys).fetch_all(&self.pool).await?;
                let transactions = rows
                    .iter()
                    .map($crate::shared::transaction_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let sql = concat!(
                    "SELECT e.id AS id, e.store AS store, e.original_transaction_id AS original_transaction_id, \
                     e.kind AS kind, e.until_at AS until_at, e.occurred_at AS occurred_at \
                     FROM lifecycle_events e WHERE e.project_id = $1 AND EXISTS (SELECT 1 FROM store_transactions t \
                     WHERE t.store = e.store AND t.original_transaction_id = e.original_transaction_id \
                     AND t.project_id = $1 AND t.customer_key IN ", ids_in_param2!(), ") ORDER BY e.seq");
                let rows = sqlx::query(sql).bind(project_id).bind(&keys).fetch_all(&self.pool).await?;
                let events = rows
                    .iter()
                    .map($crate::shared::lifecycle_event_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let sql = concat!(
                    "SELECT id, customer_key, entitlement_id, starts_at, expires_at, revoked_at \
                     FROM promotional_grants WHERE customer_key IN ", ids_in_param2!(),
                    " AND customer_key IN (SELECT key FROM customers WHERE project_id = $1) ORDER BY seq");
                let rows = sqlx::query(sql).bind(project_id).bind(&keys).fetch_all(&self.pool).await?;
                let grants = rows
                    .iter()
                    .map($crate::shared::grant_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((transactions, events, grants))
            }

            async fn find_transaction(
                &self,
                project_id: &str,
                store: entitled_core::purchases::Store,
                store_transaction_id: &str,
            ) -> Result<Option<entitled_core::purchases::StoreTransaction>, $crate::StorageError> {
                let sql = $crate::shared::purchase_writes::transaction_by_store_id_sql!();
                let found = select_all!(self, sql, [project_id, store.as_str(), store_transaction_id], $crate::shared::transaction_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn latest_transaction_of_purchase(
                &self,
                project_id: &str,
                store: entitled_core::purchases::Store,
                original_transaction_id: &str,
            ) -> Result<Option<entitled_core::purchases::StoreTransaction>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::transaction_columns!(),
                    " FROM store_transactions WHERE project_id = $1 AND store = $2 AND original_transaction_id = $3",
                    " ORDER BY purchased_at DESC, seq DESC LIMIT 1");
                let found = select_all!(self, sql, [project_id, store.as_str(), original_transaction_id], $crate::shared::transaction_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn transactions_of(
                &self,
                customer_key: &str,
            ) -> Result<Vec<entitled_core::purchases::StoreTransaction>, $crate::StorageError> {
                let sql = $crate::shared::customer_reads::transactions_of_sql!();
                select_all!(self, sql, [customer_key], $crate::shared::transaction_from_row)
            }

            async fn lifecycle_events_of(
                &self,
                project_id: &str,
                customer_key: &str,
            ) -> Result<Vec<entitled_core::purchases::LifecycleEvent>, $crate::StorageError> {
                let sql = $crate::shared::customer_reads::lifecycle_events_of_sql!();
                let events = select_all!(self, sql, [project_id, customer_key], $crate::shared::lifecycle_event_from_row)?;
                Ok($crate::shared::customer_reads::each_event_once(events))
            }

            async fn store_facts(
                &self,
                project_id: &str,
                store: entitled_core::purchases::Store,
            ) -> Result<
                (Vec<entitled_core::purchases::StoreTransaction>, Vec<entitled_core::purchases::LifecycleEvent>),
                $crate::StorageError,
            > {
                let sql = concat!("SELECT ", $crate::shared::transaction_columns!(),
                    " FROM store_transactions WHERE project_id = $1 AND store = $2 ORDER BY seq");
                let transactions = select_all!(self, sql, [project_id, store.as_str()],
                    $crate::shared::transaction_from_row)?;
                let sql = "SELECT id, store, original_transaction_id, kind, until_at, occurred_at \
                     FROM lifecycle_events WHERE project_id = $1 AND store = $2 ORDER BY seq";
                let events = select_all!(self, sql, [project_id, store.as_str()],
                    $crate::shared::lifecycle_event_from_row)?;
                Ok((transactions, events))
            }

            async fn add_lifecycle_event(
                &self,
                project_id: &str,
                event: &entitled_core::purchases::LifecycleEvent,
                events: &[entitled_core::webhooks::OutboxEvent],
                now: entitled_core::UnixMillis,
            ) -> Result<(), $crate::StorageError> {
                let (kind, grace) = $crate::shared::lifecycle_kind_to_stored(event.kind);
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO lifecycle_events (id, project_id, store, original_transaction_id, kind, \
                     until_at, occurred_at, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&event.id)
                .bind(project_id)
                .bind(event.store.as_str())
                .bind(&event.original_transaction_id)
                .bind(kind)
                .bind(grace)
                .bind(event.occurred_at.0)
                .bind(now.0)
                .execute(&mut *tx)
                .await?;
                insert_outbox(&mut tx, events, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn move_purchase(
                &self,
                transfer: &entitled_core::Transfer,
                store: entitled_core::purchases::Store,
                original_transaction_id: &str,
                events: &[entitled_core::webhooks::OutboxEvent],
            ) -> Result<u64, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let moved = sqlx::query(
                    "UPDATE store_transactions SET customer_key = $4 \
                     WHERE project_id = $1 AND store = $2 AND original_transaction_id = $3",
                )
                .bind(&transfer.project_id)
                .bind(store.as_str())
                .bind(original_transaction_id)
                .bind(&transfer.target_customer_key)
                .execute(&mut *tx)
                .await?
                .rows_affected();
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
                .execute(&mut *tx)
                .await?;
                insert_outbox(&mut tx, events, transfer.transferred_at).await?;
                tx.commit().await?;
                Ok(moved)
            }

            async fn merge_customers(
                &self,
                from_key: &str,
                into_key: &str,
                now: entitled_core::UnixMillis,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                for sql in [
                    "UPDATE customer_aliases SET customer_key = $2 WHERE customer_key = $1",
                    "UPDATE store_transactions SET customer_key = $2 WHERE customer_key = $1",
                    "UPDATE promotional_grants SET customer_key = $2 WHERE customer_key = $1",
                    "UPDATE temporary_grants SET customer_key = $2 WHERE customer_key = $1",
                    "DELETE FROM customer_attributes WHERE customer_key = $1 AND name IN \
                     (SELECT name FROM customer_attributes WHERE customer_key = $2)",
                    "UPDATE customer_attributes SET customer_key = $2 WHERE customer_key = $1",
                    "UPDATE customer_transfers SET source_customer_key = $2 WHERE source_customer_key = $1",
                    "UPDATE customer_transfers SET target_customer_key = $2 WHERE target_customer_key = $1",
                ] {
                    sqlx::query(sql).bind(from_key).bind(into_key).execute(&mut *tx).await?;
                }
                sqlx::query("UPDATE customers SET last_seen_at = $2 WHERE key = $1")
                    .bind(into_key)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM customers WHERE key = $1")
                    .bind(from_key)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn touch_customers(&self, visits: &[$crate::Visit]) -> Result<(), $crate::StorageError> {
                // The latest visit of each customer, in the order of their keys.
                let mut latest: std::collections::BTreeMap<&str, &$crate::Visit> = Default::default();
                for visit in visits {
                    let entry = latest.entry(visit.customer_key.as_str()).or_insert(visit);
                    if visit.seen_at >= entry.seen_at {
                        *entry = visit;
                    }
                }
                if latest.is_empty() {
                    return Ok(());
                }
                let latest: Vec<$crate::Visit> = latest.into_values().cloned().collect();
                // Through the group writer where there is one (SQLite); else one statement
                // for the whole batch, its visits as one JSON array.
                let Some(latest) = touch_in_group!(self, latest) else {
                    return Ok(());
                };
                let rows: Vec<serde_json::Value> = latest
                    .iter()
                    .map(|v| serde_json::json!({
                        "customer_key": v.customer_key,
                        "seen_at": v.seen_at.0,
                        "app_version": v.app_version,
                        "platform": v.platform,
                        "platform_version": v.platform_version,
                    }))
                    .collect();
                let sql = concat!(
                    "UPDATE customers SET ",
                    $crate::shared::customers::last_seen_set_sql!(
                        "v.seen_at", "v.app_version", "v.platform", "v.platform_version"
                    ),
                    " FROM ", visits_in_param1!(), " WHERE customers.key = v.customer_key");
                sqlx::query(sql)
                    .bind(serde_json::Value::Array(rows).to_string())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn catalog_view(
                &self,
                project_id: &str,
            ) -> Result<entitled_core::engine::CatalogView, $crate::StorageError> {
                read_together!(self, |view| Ok(catalog_view!(view, project_id)))
            }

            async fn customer_facts(
                &self,
                project_id: &str,
                customer_key: &str,
            ) -> Result<$crate::FactsSnapshot, $crate::StorageError> {
                read_together!(self, |view| {
                    Ok($crate::shared::customer_reads::read_facts!(view, project_id, customer_key))
                })
            }

            async fn event_subject(
                &self,
                project_id: &str,
                customer_key: &str,
                max_aliases: u32,
            ) -> Result<Option<$crate::EventSubject>, $crate::StorageError> {
                use $crate::shared::customer_reads as sql;
                read_together!(self, |view| {
                    let found = select_all!(view, sql::customer_by_key_sql!(), [customer_key],
                        $crate::shared::customer_from_row)?;
                    let Some(customer) = found.into_iter().next() else {
                        return Ok(None);
                    };
                    let aliases = select_all!(view, sql::first_aliases_sql!(), [customer_key, i64::from(max_aliases)],
                        $crate::shared::alias_from_row)?;
                    let catalog = catalog_view!(view, project_id);
                    Ok(Some($crate::EventSubject { customer, aliases, catalog }))
                })
            }

            async fn customer_snapshot(
                &self,
                project_id: &str,
                id_or_alias: &str,
            ) -> Result<Option<(entitled_core::Customer, $crate::FactsSnapshot)>, $crate::StorageError> {
                read_together!(self, |view| {
                    let sql = $crate::shared::customer_reads::customer_by_alias_sql!();
                    let found = select_all!(view, sql, [project_id, id_or_alias], $crate::shared::customer_from_row)?;
                    let Some(customer) = found.into_iter().next() else {
                        return Ok(None);
                    };
                    let facts = $crate::shared::customer_reads::read_facts!(view, project_id, customer.key.as_str());
                    Ok(Some((customer, facts)))
                })
            }

            async fn test_clock_offset(&self, project_id: &str) -> Result<i64, $crate::StorageError> {
                let sql = $crate::shared::customer_reads::test_clock_offset_sql!();
                let offsets = select_all!(self, sql, [project_id], $crate::shared::offset_from_row)?;
                Ok(offsets.into_iter().next().unwrap_or(0))
            }

            async fn advance_test_clock(
                &self,
                project_id: &str,
                by_ms: i64,
            ) -> Result<i64, $crate::StorageError> {
                let row = sqlx::query(
                    "INSERT INTO test_clocks (project_id, offset_ms) VALUES ($1, $2) \
                     ON CONFLICT (project_id) DO UPDATE SET offset_ms = test_clocks.offset_ms + excluded.offset_ms \
                     RETURNING offset_ms",
                )
                .bind(project_id)
                .bind(by_ms)
                .fetch_one(&self.pool)
                .await?;
                $crate::shared::RowExt::int(&row, "offset_ms")
            }

            async fn sweep_targets(&self) -> Result<Vec<$crate::SweepTarget>, $crate::StorageError> {
                let rows = sqlx::query(
                    "SELECT p.id AS project_id, COALESCE(c.offset_ms, 0) AS offset_ms, s.swept_until AS swept_until, \
                     o.since_ms AS down_since FROM projects p LEFT JOIN test_clocks c ON c.project_id = p.id \
                     LEFT JOIN sweeps s ON s.project_id = p.id \
                     LEFT JOIN test_store_outages o ON o.project_id = p.id ORDER BY p.id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        use $crate::shared::RowExt;
                        Ok($crate::SweepTarget {
                            project_id: row.text("project_id")?,
                            clock_offset_ms: row.int("offset_ms")?,
                            swept_until: row.opt_int("swept_until")?.map(entitled_core::UnixMillis),
                            test_store_down: row.opt_int("down_since")?.is_some(),
                        })
                    })
                    .collect()
            }

            async fn facts_ending_between(
                &self,
                project_id: &str,
                after: entitled_core::UnixMillis,
                until: entitled_core::UnixMillis,
            ) -> Result<
                (Vec<entitled_core::purchases::StoreTransaction>, Vec<entitled_core::purchases::LifecycleEvent>),
                $crate::StorageError,
            > {
                let sql = concat!(
                    "SELECT ", $crate::shared::transaction_columns!(),
                    " FROM ", $crate::shared::rows_of_purchases_ending_between!("store_transactions"),
                    " ORDER BY t.seq"
                );
                let transactions = select_all!(self, sql, [project_id, after.0, until.0],
                    $crate::shared::transaction_from_row)?;
                let sql = concat!(
                    "SELECT id, store, original_transaction_id, kind, until_at, occurred_at FROM ",
                    $crate::shared::rows_of_purchases_ending_between!("lifecycle_events"),
                    " ORDER BY t.seq"
                );
                let events = select_all!(self, sql, [project_id, after.0, until.0],
                    $crate::shared::lifecycle_event_from_row)?;
                Ok((transactions, events))
            }

            async fn mark_swept(
                &self,
                project_id: &str,
                until: entitled_core::UnixMillis,
            ) -> Result<(), $crate::StorageError> {
                sqlx::query(
                    "INSERT INTO sweeps (project_id, swept_until) VALUES ($1, $2) \
                     ON CONFLICT (project_id) DO UPDATE SET swept_until = CASE \
                     WHEN excluded.swept_until > sweeps.swept_until THEN excluded.swept_until \
                     ELSE sweeps.swept_until END",
                )
                .bind(project_id)
                .bind(until.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }

        /// Inserts a transaction unless already known; true when written.
        async fn insert_transaction(
            tx: &mut sqlx::Transaction<'_, Db>,
            project_id: &str,
            t: &entitled_core::purchases::StoreTransaction,
            now: entitled_core::UnixMillis,
        ) -> Result<bool, $crate::StorageError> {
            let written = sqlx::query($crate::shared::purchase_writes::insert_transaction_sql!())
            .bind(project_id)
            .bind(now.0)
            .bind(&t.id)
            .bind(&t.customer_key)
            .bind(&t.app_id)
            .bind(t.store.as_str())
            .bind(&t.store_transaction_id)
            .bind(&t.original_transaction_id)
            .bind(&t.product_id)
            .bind(&t.product_plan_id)
            .bind(t.purchased_at.0)
            .bind(t.expires_at.map(|e| e.0))
            .bind(t.period_type.as_str())
            .bind(t.environment.as_str())
            .bind(t.ownership.as_str())
            .bind(t.price.as_ref().map(|p| p.amount_micros))
            .bind(t.price.as_ref().map(|p| p.currency.clone()))
            .bind(t.is_subscription)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            Ok(written > 0)
        }
    };
}
pub(crate) use impl_purchase_store;
