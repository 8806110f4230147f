//! The SQL of the reads behind one customer's state (their facts and the catalog view), in
//! one place for the single reads and for [`customer_facts`](crate::PurchaseStore::customer_facts),
//! which makes them all in one snapshot.

/// The customer an id or alias (`$2`) names in a project (`$1`).
///
/// A customer's own id is an alias of it too, so either arm finds the same customer; the
/// first, by the customer's own id, reaches its row in two pages instead of the alias
/// path's four, and it is the usual case (`LIMIT 1` leaves the second arm unread then).
macro_rules! customer_by_alias_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::shared::customer_columns!(),
            " FROM customers WHERE project_id = $1 AND id = $2 \
             UNION ALL SELECT ",
            $crate::shared::customer_columns!(),
            " FROM customers WHERE key = (SELECT customer_key FROM customer_aliases \
             WHERE project_id = $1 AND alias = $2) LIMIT 1"
        )
    };
}
pub(crate) use customer_by_alias_sql;

/// A customer by key (`$1`).
macro_rules! customer_by_key_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::shared::customer_columns!(),
            " FROM customers WHERE key = $1"
        )
    };
}
pub(crate) use customer_by_key_sql;

/// A customer's (`$1`) first aliases (at most `$2`), oldest first.
macro_rules! first_aliases_sql {
    () => {
        "SELECT alias, created_at FROM customer_aliases WHERE customer_key = $1 \
         ORDER BY seq LIMIT $2"
    };
}
pub(crate) use first_aliases_sql;

/// A project's (`$1`) test-store clock offset (no row: 0).
macro_rules! test_clock_offset_sql {
    () => {
        "SELECT offset_ms FROM test_clocks WHERE project_id = $1"
    };
}
pub(crate) use test_clock_offset_sql;

/// A customer's (`$1`) transactions, oldest first.
macro_rules! transactions_of_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::shared::transaction_columns!(),
            " FROM store_transactions WHERE customer_key = $1 ORDER BY seq"
        )
    };
}
pub(crate) use transactions_of_sql;

/// The lifecycle events of the purchases a customer (`$2`) of a project (`$1`) owns, in the
/// order they were recorded; an event appears once per transaction of its purchase, so the
/// reader drops the repeats (they are adjacent).
///
/// A join driven from the customer's transactions, so each read looks up their purchases'
/// events by index (an EXISTS here scanned every event of the project: a read's cost grew
/// with the project). An `IN (SELECT …)` list cost as much as the customer's own row: SQLite
/// builds a temporary index for the list on every read (bench/README.md, run 9).
macro_rules! lifecycle_events_of_sql {
    () => {
        "SELECT e.id, e.store, e.original_transaction_id, e.kind, e.until_at, e.occurred_at \
         FROM store_transactions t JOIN lifecycle_events e ON e.project_id = $1 \
         AND e.store = t.store AND e.original_transaction_id = t.original_transaction_id \
         WHERE t.customer_key = $2 ORDER BY e.seq"
    };
}
pub(crate) use lifecycle_events_of_sql;

/// A customer's (`$1`) promotional grants, oldest first.
macro_rules! grants_of_sql {
    () => {
        "SELECT id, customer_key, entitlement_id, starts_at, expires_at, revoked_at \
         FROM promotional_grants WHERE customer_key = $1 ORDER BY seq"
    };
}
pub(crate) use grants_of_sql;

/// A customer's (`$1`) temporary grants not settled yet, oldest first.
macro_rules! pending_temporary_grants_of_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::shared::temporary_grants::temporary_grant_columns!(),
            " FROM temporary_grants WHERE customer_key = $1 AND settled_at IS NULL ORDER BY seq"
        )
    };
}
pub(crate) use pending_temporary_grants_of_sql;

/// The configuration version: the counter of the `config_version` table, which triggers
/// move with every change to API keys, the catalog and offerings (SQLite migration 0014;
/// what reader connections keep under it: sqlite_reader.rs).
macro_rules! config_version_sql {
    () => {
        "SELECT version FROM config_version"
    };
}
pub(crate) use config_version_sql;

/// The configuration version (as [`config_version_sql`]) and a project's (`$1`) test-store
/// clock offset (`NULL`: 0), in one statement.
macro_rules! config_version_and_clock_offset_sql {
    () => {
        "SELECT (SELECT version FROM config_version) AS version, \
         (SELECT offset_ms FROM test_clocks WHERE project_id = $1) AS offset_ms"
    };
}
pub(crate) use config_version_and_clock_offset_sql;

/// Which entitlement (`lookup_key`) each product (`product`) of a project (`$1`) unlocks.
macro_rules! entitlements_by_product_sql {
    () => {
        "SELECT products.store_identifier AS product, entitlements.lookup_key AS lookup_key \
         FROM entitlement_products \
         JOIN products ON products.id = entitlement_products.product_id \
         JOIN entitlements ON entitlements.id = entitlement_products.entitlement_id \
         WHERE entitlements.project_id = $1 ORDER BY entitlement_products.seq"
    };
}
pub(crate) use entitlements_by_product_sql;

/// Each entitlement id (as `product`) of a project (`$1`) with its lookup key.
macro_rules! entitlement_lookup_keys_sql {
    () => {
        "SELECT id AS product, lookup_key FROM entitlements WHERE project_id = $1"
    };
}
pub(crate) use entitlement_lookup_keys_sql;

/// The engine's catalog view of a project (`$project_id`), each statement run by
/// `$select!($view, sql, [binds], decode)` (the backend's `select_all!`, or the SQLite
/// reader's `select_on!` for a bare connection); `?` returns its errors.
macro_rules! read_catalog {
    ($select:ident, $view:expr, $project_id:expr) => {{
        use $crate::shared::customer_reads as sql;
        let project_id: &str = $project_id;
        let by_product = $select!(
            $view,
            sql::entitlements_by_product_sql!(),
            [project_id],
            $crate::shared::text_pair_from_row
        )?;
        let lookup_keys = $select!(
            $view,
            sql::entitlement_lookup_keys_sql!(),
            [project_id],
            $crate::shared::text_pair_from_row
        )?;
        sql::catalog_view_of(by_product, lookup_keys)
    }};
}
pub(crate) use read_catalog;

/// A project's (`$project_id`) catalog view and test-store clock offset, each read through
/// `$view` with the backend's `select_all!`; `?` returns its errors.
macro_rules! read_project_facts {
    ($view:expr, $project_id:expr) => {{
        let project_id: &str = $project_id;
        let catalog = $crate::shared::customer_reads::read_catalog!(select_all, $view, project_id);
        let offsets = select_all!(
            $view,
            $crate::shared::customer_reads::test_clock_offset_sql!(),
            [project_id],
            $crate::shared::offset_from_row
        )?;
        (catalog, offsets.into_iter().next().unwrap_or(0))
    }};
}
pub(crate) use read_project_facts;

/// A [`FactsSnapshot`](crate::FactsSnapshot) of one customer (`$customer_key`) of a project,
/// each read through `$view` with the backend's `select_all!` (the project's part through
/// its `project_facts!`, after the customer's rows); `?` returns its errors.
macro_rules! read_facts {
    ($view:expr, $project_id:expr, $customer_key:expr) => {{
        use $crate::shared::customer_reads as sql;
        let (project_id, customer_key): (&str, &str) = ($project_id, $customer_key);
        let transactions = select_all!(
            $view,
            sql::transactions_of_sql!(),
            [customer_key],
            $crate::shared::transaction_from_row
        )?;
        let events = sql::each_event_once(select_all!(
            $view,
            sql::lifecycle_events_of_sql!(),
            [project_id, customer_key],
            $crate::shared::lifecycle_event_from_row
        )?);
        let grants = select_all!(
            $view,
            sql::grants_of_sql!(),
            [customer_key],
            $crate::shared::grant_from_row
        )?;
        let temporary = select_all!(
            $view,
            sql::pending_temporary_grants_of_sql!(),
            [customer_key],
            $crate::shared::temporary_grants::temporary_grant_from_row
        )?;
        let (catalog, clock_offset_ms) = project_facts!($view, project_id);
        $crate::FactsSnapshot {
            transactions,
            events,
            grants,
            temporary,
            catalog,
            clock_offset_ms,
        }
    }};
}
pub(crate) use read_facts;

/// The rows of [`lifecycle_events_of_sql`] without the repeats its join gives (an event
/// once per transaction of its purchase; the repeats are adjacent, the rows being in order).
pub(crate) fn each_event_once(
    mut events: Vec<entitled_core::purchases::LifecycleEvent>,
) -> Vec<entitled_core::purchases::LifecycleEvent> {
    events.dedup_by(|later, earlier| later.id == earlier.id);
    events
}

/// The engine's catalog view from the rows of the two catalog reads above.
pub(crate) fn catalog_view_of(
    by_product: Vec<(String, String)>,
    lookup_keys: Vec<(String, String)>,
) -> entitled_core::engine::CatalogView {
    let mut view = entitled_core::engine::CatalogView::default();
    for (product, lookup_key) in by_product {
        let keys = view.entitlements_by_product.entry(product).or_default();
        if !keys.contains(&lookup_key) {
            keys.push(lookup_key);
        }
    }
    view.lookup_keys.extend(lookup_keys);
    view
}
