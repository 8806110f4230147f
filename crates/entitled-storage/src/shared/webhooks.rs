//! Webhook integrations, the outbox and deliveries, for both backends. Each backend module
//! defines `claim_lock!()`: what locks claimed rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
//! nothing on SQLite, whose writers are serialized already).

/// Expands [`WebhookStore`](crate::WebhookStore) and `insert_outbox` for a backend.
macro_rules! impl_webhook_store {
    ($storage:ty) => {
        #[async_trait::async_trait]
        impl $crate::WebhookStore for $storage {
            async fn create_integration(
                &self,
                integration: &entitled_core::webhooks::WebhookIntegration,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let insert = sqlx::query(concat!("INSERT INTO webhook_integrations (",
                    $crate::shared::integration_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"));
                bind_integration(insert, integration)
                    .bind(integration.created_at.0)
                    .execute(&mut *tx)
                    .await?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_integration(
                &self,
                project_id: &str,
                id: &str,
            ) -> Result<Option<entitled_core::webhooks::WebhookIntegration>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::integration_columns!(),
                    " FROM webhook_integrations WHERE project_id = $1 AND id = $2");
                let found = select_all!(self, sql, [project_id, id], $crate::shared::integration_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn list_integrations(
                &self,
                project_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::webhooks::WebhookIntegration>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::Integrations, project_id, None::<&str>, page, $crate::shared::integration_from_row)
            }

            async fn update_integration(
                &self,
                integration: &entitled_core::webhooks::WebhookIntegration,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let update = sqlx::query(
                    "UPDATE webhook_integrations SET name = $3, url = $4, authorization_header = $5, \
                     environment = $6, event_types = $7, app_id = $8, signing_secret = $9 \
                     WHERE id = $1 AND project_id = $2",
                );
                let updated = bind_integration(update, integration)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::StorageError::NotFound("webhook integration"));
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_integration(
                &self,
                project_id: &str,
                id: &str,
                audit: &entitled_core::AuditEntry,
            ) -> Result<bool, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM webhook_attempts WHERE delivery_id IN \
                             (SELECT id FROM webhook_deliveries WHERE integration_id = $1)")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM webhook_deliveries WHERE integration_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let sql = "DELETE FROM webhook_integrations WHERE project_id = $1 AND id = $2";
                delete_audited(tx, sql, project_id, id, audit).await
            }

            async fn record_events(
                &self,
                events: &[entitled_core::webhooks::OutboxEvent],
                now: entitled_core::UnixMillis,
            ) -> Result<u64, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let written = insert_outbox(&mut tx, events, now).await?;
                tx.commit().await?;
                Ok(written)
            }

            async fn claim_deliveries(
                &self,
                now: entitled_core::UnixMillis,
                lease_ms: i64,
                limit: u32,
            ) -> Result<Vec<$crate::ClaimedDelivery>, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let sql = concat!(
                    "SELECT d.id AS id FROM webhook_deliveries d \
                     WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
                     AND (d.lease_until IS NULL OR d.lease_until <= $1) \
                     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                       WHERE e.integration_id = d.integration_id AND e.customer_key = d.customer_key \
                       AND e.seq < d.seq AND e.status = 'pending') \
                     ORDER BY d.seq LIMIT $2", claim_lock!()
                );
                let rows = sqlx::query(sql)
                    .bind(now.0)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut claimed = Vec::with_capacity(rows.len());
                for row in &rows {
                    let id = $crate::shared::RowExt::text(row, "id")?;
                    sqlx::query("UPDATE webhook_deliveries SET lease_until = $2 WHERE id = $1")
                        .bind(&id)
                        .bind(now.0.saturating_add(lease_ms))
                        .execute(&mut *tx)
                        .await?;
                    let detail = sqlx::query(
                        "SELECT d.attempts AS attempts, d.event_id AS event_id, o.body AS body, \
                         i.url AS url, i.authorization_header AS authorization_header, \
                         i.signing_secret AS signing_secret \
                         FROM webhook_deliveries d \
                         JOIN outbox_events o ON o.id = d.event_id \
                         JOIN webhook_integrations i ON i.id = d.integration_id \
                         WHERE d.id = $1",
                    )
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?;
                    claimed.push($crate::ClaimedDelivery {
                        delivery_id: id,
                        attempts: $crate::shared::RowExt::int(&detail, "attempts")?,
                        event_id: $crate::shared::RowExt::text(&detail, "event_id")?,
                        body: $crate::shared::RowExt::text(&detail, "body")?,
                        url: $crate::shared::RowExt::text(&detail, "url")?,
                        authorization_header: $crate::shared::RowExt::opt_text(&detail, "authorization_header")?,
                        signing_secret: $crate::shared::RowExt::text(&detail, "signing_secret")?,
                    });
                }
                tx.commit().await?;
                Ok(claimed)
            }

            async fn finish_attempt(
                &self,
                delivery_id: &str,
                outcome: &entitled_core::webhooks::AttemptOutcome,
                now: entitled_core::UnixMillis,
                retry_at: Option<entitled_core::UnixMillis>,
            ) -> Result<(), $crate::StorageError> {
                use entitled_core::webhooks::DeliveryStatus;
                let status = if outcome.succeeded() {
                    DeliveryStatus::Succeeded
                } else if retry_at.is_some() {
                    DeliveryStatus::Pending
                } else {
                    DeliveryStatus::Failed
                };
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_ms, error) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(delivery_id)
                .bind(now.0)
                .bind(outcome.status_code.map(i64::from))
                .bind(outcome.latency_ms)
                .bind(&outcome.error)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, \
                     next_attempt_at = $3, lease_until = NULL, last_status_code = $4, last_error = $5 \
                     WHERE id = $1",
                )
                .bind(delivery_id)
                .bind(status.as_str())
                .bind(retry_at.unwrap_or(now).0)
                .bind(outcome.status_code.map(i64::from))
                .bind(&outcome.error)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn redeliver(
                &self,
                integration: &entitled_core::webhooks::WebhookIntegration,
                from: entitled_core::UnixMillis,
                to: entitled_core::UnixMillis,
                now: entitled_core::UnixMillis,
            ) -> Result<u64, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let rows = sqlx::query(
                    "SELECT id, customer_key, event_type, environment, app_id FROM outbox_events \
                     WHERE project_id = $1 AND created_at >= $2 AND created_at <= $3 ORDER BY seq",
                )
                .bind(&integration.project_id)
                .bind(from.0)
                .bind(to.0)
                .fetch_all(&mut *tx)
                .await?;
                let mut queued = 0;
                for row in &rows {
                    use $crate::shared::RowExt;
                    let environment = match row.text("environment")?.as_str() {
                        "sandbox" => entitled_core::purchases::Environment::Sandbox,
                        _ => entitled_core::purchases::Environment::Production,
                    };
                    let event_type = row.text("event_type")?;
                    let app_id = row.opt_text("app_id")?;
                    if event_type != "TEST" && !integration.wants(&event_type, environment, app_id.as_deref()) {
                        continue;
                    }
                    let event_id = row.text("id")?;
                    let reset = sqlx::query(
                        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, lease_until = NULL \
                         WHERE integration_id = $1 AND event_id = $2",
                    )
                    .bind(&integration.id)
                    .bind(&event_id)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if reset == 0 {
                        sqlx::query(
                            "INSERT INTO webhook_deliveries (id, project_id, integration_id, event_id, customer_key, \
                             status, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
                        )
                        .bind(entitled_core::new_id(entitled_core::IdKind::Delivery))
                        .bind(&integration.project_id)
                        .bind(&integration.id)
                        .bind(&event_id)
                        .bind(row.opt_text("customer_key")?)
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await?;
                    }
                    queued += 1;
                }
                tx.commit().await?;
                Ok(queued)
            }

            async fn create_job(
                &self,
                job: &entitled_core::webhooks::Job,
                input: Option<&str>,
            ) -> Result<(), $crate::StorageError> {
                sqlx::query(
                    "INSERT INTO jobs (id, project_id, kind, status, progress, params, result, created_at, updated_at, input) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&job.id)
                .bind(&job.project_id)
                .bind(&job.kind)
                .bind(&job.status)
                .bind(job.progress)
                .bind(job.params.to_string())
                .bind(job.result.as_ref().map(|r| r.to_string()))
                .bind(job.created_at.0)
                .bind(job.updated_at.0)
                .bind(input)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn claim_job(
                &self,
                kinds: &[&str],
                now: entitled_core::UnixMillis,
                lease_ms: i64,
            ) -> Result<Option<(entitled_core::webhooks::Job, Option<String>)>, $crate::StorageError> {
                let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
                let mut tx = self.begin_write().await?;
                let sql = concat!(
                    "SELECT d.id AS id FROM jobs d WHERE d.kind IN ", ids_in_param2!(),
                    " AND (d.status = 'pending' OR (d.status = 'running' AND d.lease_until < $1)) \
                     ORDER BY d.seq LIMIT 1", claim_lock!()
                );
                let Some(row) = sqlx::query(sql)
                    .bind(now.0)
                    .bind($crate::shared::json_ids(&kinds))
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                let id = $crate::shared::RowExt::text(&row, "id")?;
                sqlx::query("UPDATE jobs SET status = 'running', lease_until = $2, updated_at = $3 WHERE id = $1")
                    .bind(&id)
                    .bind(now.0.saturating_add(lease_ms))
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query(
                    "SELECT id, project_id, kind, status, progress, params, result, created_at, updated_at, input \
                     FROM jobs WHERE id = $1",
                )
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
                let job = $crate::shared::job_from_row(&row)?;
                let input = $crate::shared::RowExt::opt_text(&row, "input")?;
                tx.commit().await?;
                Ok(Some((job, input)))
            }

            async fn save_job(
                &self,
                job: &entitled_core::webhooks::Job,
                lease_until: Option<entitled_core::UnixMillis>,
                file: Option<&str>,
            ) -> Result<(), $crate::StorageError> {
                sqlx::query(
                    "UPDATE jobs SET status = $2, progress = $3, result = $4, updated_at = $5, lease_until = $6, \
                     file = COALESCE($7, file) WHERE id = $1",
                )
                .bind(&job.id)
                .bind(&job.status)
                .bind(job.progress)
                .bind(job.result.as_ref().map(|r| r.to_string()))
                .bind(job.updated_at.0)
                .bind(lease_until.map(|t| t.0))
                .bind(file)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn job_file(
                &self,
                project_id: &str,
                id: &str,
            ) -> Result<Option<String>, $crate::StorageError> {
                let row = sqlx::query("SELECT file FROM jobs WHERE project_id = $1 AND id = $2")
                    .bind(project_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => $crate::shared::RowExt::opt_text(&row, "file"),
                    None => Ok(None),
                }
            }

            async fn expire_job_files(
                &self,
                finished_before: entitled_core::UnixMillis,
            ) -> Result<u64, $crate::StorageError> {
                let expired = sqlx::query(
                    "UPDATE jobs SET input = NULL, file = NULL \
                     WHERE status IN ('succeeded', 'failed') AND updated_at < $1 \
                     AND (input IS NOT NULL OR file IS NOT NULL)",
                )
                .bind(finished_before.0)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(expired)
            }

            async fn update_job(&self, job: &entitled_core::webhooks::Job) -> Result<(), $crate::StorageError> {
                sqlx::query("UPDATE jobs SET status = $2, progress = $3, result = $4, updated_at = $5 WHERE id = $1")
                    .bind(&job.id)
                    .bind(&job.status)
                    .bind(job.progress)
                    .bind(job.result.as_ref().map(|r| r.to_string()))
                    .bind(job.updated_at.0)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn get_job(
                &self,
                project_id: &str,
                id: &str,
            ) -> Result<Option<entitled_core::webhooks::Job>, $crate::StorageError> {
                let row = sqlx::query(
                    "SELECT id, project_id, kind, status, progress, params, result, created_at, updated_at \
                     FROM jobs WHERE project_id = $1 AND id = $2",
                )
                .bind(project_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map($crate::shared::job_from_row).transpose()
            }

            async fn list_deliveries(
                &self,
                integration_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<$crate::DeliveryRecord>, $crate::StorageError> {
                let mut page_out = $crate::shared::page_of!(self, $crate::shared::Listing::DeliveriesOfIntegration, integration_id, None::<&str>, page, $crate::shared::delivery_from_row)?;
                for delivery in &mut page_out.items {
                    let attempts = sqlx::query(
                        "SELECT attempted_at, status_code, latency_ms, error FROM webhook_attempts \
                         WHERE delivery_id = $1 ORDER BY seq",
                    )
                    .bind(&delivery.id)
                    .fetch_all(&self.pool)
                    .await?;
                    delivery.attempts = attempts
                        .iter()
                        .map($crate::shared::attempt_from_row)
                        .collect::<Result<Vec<_>, _>>()?;
                }
                Ok(page_out)
            }
        }

        /// Writes events (known ids are skipped) and one delivery per matching integration.
        /// Binds an integration's id, project and changeable fields as `$1`…`$9`.
        fn bind_integration<'q>(
            query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>,
            integration: &'q entitled_core::webhooks::WebhookIntegration,
        ) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments> {
            query
                .bind(&integration.id)
                .bind(&integration.project_id)
                .bind(&integration.name)
                .bind(&integration.url)
                .bind(&integration.authorization_header)
                .bind(integration.environment.map(|e| e.as_str()))
                .bind(integration.event_types.as_ref().map(|t| $crate::shared::json_ids(t)))
                .bind(&integration.app_id)
                .bind(&integration.signing_secret)
        }

        async fn insert_outbox(
            tx: &mut sqlx::Transaction<'_, Db>,
            events: &[entitled_core::webhooks::OutboxEvent],
            now: entitled_core::UnixMillis,
        ) -> Result<u64, $crate::StorageError> {
            let mut written = 0;
            for event in events {
                let inserted = sqlx::query($crate::shared::purchase_writes::insert_outbox_event_sql!())
                .bind(&event.id)
                .bind(&event.project_id)
                .bind(&event.customer_key)
                .bind(&event.event_type)
                .bind(event.environment.as_str())
                .bind(&event.app_id)
                .bind(event.body.to_string())
                .bind(event.created_at.0)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    continue;
                }
                written += 1;
                let sql = $crate::shared::purchase_writes::integrations_of_project_sql!();
                let rows = sqlx::query(sql).bind(&event.project_id).fetch_all(&mut **tx).await?;
                for row in &rows {
                    let integration = $crate::shared::integration_from_row(row)?;
                    if !$crate::shared::purchase_writes::delivers_to(event, &integration) {
                        continue;
                    }
                    sqlx::query($crate::shared::purchase_writes::insert_delivery_sql!())
                    .bind(entitled_core::new_id(entitled_core::IdKind::Delivery))
                    .bind(&event.project_id)
                    .bind(&integration.id)
                    .bind(&event.id)
                    .bind(&event.customer_key)
                    .bind(now.0)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            Ok(written)
        }
    };
}
pub(crate) use impl_webhook_store;
