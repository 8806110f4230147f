//! The SQL of recording a purchase (its transaction, its outbox events and their webhook
//! deliveries), in one place for the sqlx writers of both backends and SQLite's synchronous
//! writer (`sqlite_writer.rs`).

/// Inserts a transaction unless its store transaction id is known: `$1` project, `$2`
/// recorded at, then the [`transaction_columns`](crate::shared::transaction_columns) in order.
macro_rules! insert_transaction_sql {
    () => {
        concat!(
            "INSERT INTO store_transactions (project_id, recorded_at, ",
            $crate::shared::transaction_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (project_id, store, store_transaction_id) DO NOTHING"
        )
    };
}
pub(crate) use insert_transaction_sql;

/// The transaction a project (`$1`) recorded for a store (`$2`) and store transaction id (`$3`).
macro_rules! transaction_by_store_id_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::shared::transaction_columns!(),
            " FROM store_transactions WHERE project_id = $1 AND store = $2 AND store_transaction_id = $3"
        )
    };
}
pub(crate) use transaction_by_store_id_sql;

/// Inserts an outbox event unless its id is known.
macro_rules! insert_outbox_event_sql {
    () => {
        "INSERT INTO outbox_events (id, project_id, customer_key, event_type, environment, app_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING"
    };
}
pub(crate) use insert_outbox_event_sql;

/// A project's (`$1`) webhook integrations, oldest first.
macro_rules! integrations_of_project_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::shared::integration_columns!(),
            " FROM webhook_integrations WHERE project_id = $1 ORDER BY seq"
        )
    };
}
pub(crate) use integrations_of_project_sql;

/// A pending delivery of an event to an integration, due at once (`$6`), unless one exists.
macro_rules! insert_delivery_sql {
    () => {
        "INSERT INTO webhook_deliveries (id, project_id, integration_id, event_id, customer_key, \
         status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) \
         ON CONFLICT (integration_id, event_id) DO NOTHING"
    };
}
pub(crate) use insert_delivery_sql;

/// Whether an outbox event goes to an integration: the one it names, or any that wants it.
pub(crate) fn delivers_to(
    event: &entitled_core::webhooks::OutboxEvent,
    integration: &entitled_core::webhooks::WebhookIntegration,
) -> bool {
    match &event.only_to {
        Some(only) => *only == integration.id,
        None => integration.wants(
            &event.event_type,
            event.environment,
            event.app_id.as_deref(),
        ),
    }
}
