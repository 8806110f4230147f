//! What both backends share: row decoding and the SQL that reads the same in SQLite and
//! PostgreSQL (numbered `$n` parameters, `ON CONFLICT`, `RETURNING`, partial indexes).
//!
//! Each store trait's methods are written once, as a macro in this module's children, and
//! expanded for each backend's pool type; each backend supplies `connect` and
//! `run_migrations` itself.

pub(crate) mod audit;
pub(crate) mod catalog;
pub(crate) mod customer_reads;
pub(crate) mod customers;
pub(crate) mod offering_tree;
pub(crate) mod projects;
pub(crate) mod purchase_writes;
pub(crate) mod purchases;
pub(crate) mod temporary_grants;
pub(crate) mod webhooks;

pub(crate) use audit::impl_audit_store;
pub(crate) use catalog::impl_catalog_store;
pub(crate) use customers::impl_customer_store;
pub(crate) use projects::impl_project_store;
pub(crate) use purchases::impl_purchase_store;
pub(crate) use temporary_grants::impl_temporary_grant_store;
pub(crate) use webhooks::impl_webhook_store;

use entitled_core::{
    Actor, ApiKey, App, AppType, AuditEntry, Entitlement, KeyKind, Offering, Package, Permissions,
    Product, ProductType, Project, UnixMillis, ValidationError,
};

use crate::StorageError;

/// Typed column access, implemented for each backend's row type.
pub(crate) trait RowExt {
    fn text(&self, column: &str) -> Result<String, StorageError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StorageError>;
    fn int(&self, column: &str) -> Result<i64, StorageError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StorageError>;
    fn boolean(&self, column: &str) -> Result<bool, StorageError>;
    /// A text column lent to `decode`, for values only matched (stored enums): no `String`.
    fn text_as<T>(&self, column: &str, decode: impl FnOnce(&str) -> T) -> Result<T, StorageError>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl $crate::shared::RowExt for $row {
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
            fn boolean(&self, column: &str) -> Result<bool, $crate::StorageError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn text_as<T>(
                &self,
                column: &str,
                decode: impl FnOnce(&str) -> T,
            ) -> Result<T, $crate::StorageError> {
                let text: &str = sqlx::Row::try_get(self, column)?;
                Ok(decode(text))
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
        "id, name, transfer_rule, created_at"
    };
}
pub(crate) use project_columns;

/// The columns [`app_from_row`] reads.
macro_rules! app_columns {
    () => {
        "id, project_id, name, app_type, bundle_id, package_name, stripe_account_id, \
         credential_names, created_at"
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
    let transfer_rule =
        entitled_core::TransferRule::parse(&row.text("transfer_rule")?, "transfer_rule")
            .map_err(|e| corrupt("project", e))?;
    Ok(Project {
        id: row.text("id")?,
        name: row.text("name")?,
        transfer_rule,
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
        stripe_account_id: row.opt_text("stripe_account_id")?,
        credential_names: row
            .text("credential_names")?
            .split(',')
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect(),
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

/// The columns [`product_from_row`] reads (qualified, as products are often joined).
macro_rules! product_columns {
    () => {
        "products.id, products.project_id, products.app_id, products.store_identifier, \
         products.product_type, products.display_name, products.subscription_duration, \
         products.test_store_price_micros, products.test_store_currency, products.created_at"
    };
}
pub(crate) use product_columns;

/// The columns [`entitlement_from_row`] reads.
macro_rules! entitlement_columns {
    () => {
        "id, project_id, lookup_key, display_name, created_at"
    };
}
pub(crate) use entitlement_columns;

/// The columns [`offering_from_row`] reads.
macro_rules! offering_columns {
    () => {
        "id, project_id, lookup_key, display_name, is_current, metadata, created_at"
    };
}
pub(crate) use offering_columns;

/// The columns [`package_from_row`] reads.
macro_rules! package_columns {
    () => {
        "id, project_id, offering_id, lookup_key, display_name, position, created_at"
    };
}
pub(crate) use package_columns;

/// The columns [`customer_from_row`] reads.
macro_rules! customer_columns {
    () => {
        "key, project_id, id, first_seen_at, last_seen_at, last_seen_app_version, \
         last_seen_country, last_seen_platform, last_seen_platform_version, offering_id"
    };
}
pub(crate) use customer_columns;

/// A `(product, lookup_key)` pair of texts.
pub(crate) fn text_pair_from_row<R: RowExt>(row: &R) -> Result<(String, String), StorageError> {
    Ok((row.text("product")?, row.text("lookup_key")?))
}

/// A test clock's `offset_ms`.
pub(crate) fn offset_from_row<R: RowExt>(row: &R) -> Result<i64, StorageError> {
    row.int("offset_ms")
}

pub(crate) fn customer_from_row<R: RowExt>(
    row: &R,
) -> Result<entitled_core::Customer, StorageError> {
    Ok(entitled_core::Customer {
        key: row.text("key")?,
        project_id: row.text("project_id")?,
        id: row.text("id")?,
        first_seen_at: UnixMillis(row.int("first_seen_at")?),
        last_seen_at: row.opt_int("last_seen_at")?.map(UnixMillis),
        last_seen_app_version: row.opt_text("last_seen_app_version")?,
        last_seen_country: row.opt_text("last_seen_country")?,
        last_seen_platform: row.opt_text("last_seen_platform")?,
        last_seen_platform_version: row.opt_text("last_seen_platform_version")?,
        offering_id: row.opt_text("offering_id")?,
    })
}

pub(crate) fn alias_from_row<R: RowExt>(
    row: &R,
) -> Result<entitled_core::CustomerAlias, StorageError> {
    Ok(entitled_core::CustomerAlias {
        id: row.text("alias")?,
        created_at: UnixMillis(row.int("created_at")?),
    })
}

pub(crate) fn attribute_from_row<R: RowExt>(
    row: &R,
) -> Result<entitled_core::Attribute, StorageError> {
    Ok(entitled_core::Attribute {
        name: row.text("name")?,
        value: row.opt_text("value")?,
        updated_at: UnixMillis(row.int("updated_at")?),
    })
}

pub(crate) fn grant_from_row<R: RowExt>(
    row: &R,
) -> Result<entitled_core::PromotionalGrant, StorageError> {
    Ok(entitled_core::PromotionalGrant {
        id: row.text("id")?,
        customer_key: row.text("customer_key")?,
        entitlement_id: row.text("entitlement_id")?,
        starts_at: UnixMillis(row.int("starts_at")?),
        expires_at: row.opt_int("expires_at")?.map(UnixMillis),
        revoked_at: row.opt_int("revoked_at")?.map(UnixMillis),
    })
}

/// The columns [`audit_from_row`] reads.
macro_rules! audit_columns {
    () => {
        "id, project_id, action_type, target_type, target_identifier, actor_type, \
         actor_identifier, occurred_at, additional_data"
    };
}

pub(crate) fn product_from_row<R: RowExt>(row: &R) -> Result<Product, StorageError> {
    let product_type = ProductType::parse(&row.text("product_type")?, "product_type")
        .map_err(|e| corrupt("product", e))?;
    Ok(Product {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        app_id: row.text("app_id")?,
        store_identifier: row.text("store_identifier")?,
        product_type,
        display_name: row.opt_text("display_name")?,
        subscription_duration: row.opt_text("subscription_duration")?,
        test_store_price: match (
            row.opt_int("test_store_price_micros")?,
            row.opt_text("test_store_currency")?,
        ) {
            (Some(amount_micros), Some(currency)) => Some(entitled_core::purchases::Money {
                amount_micros,
                currency,
            }),
            _ => None,
        },
        created_at: UnixMillis(row.int("created_at")?),
    })
}

pub(crate) fn entitlement_from_row<R: RowExt>(row: &R) -> Result<Entitlement, StorageError> {
    Ok(Entitlement {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        lookup_key: row.text("lookup_key")?,
        display_name: row.text("display_name")?,
        created_at: UnixMillis(row.int("created_at")?),
    })
}

pub(crate) fn offering_from_row<R: RowExt>(row: &R) -> Result<Offering, StorageError> {
    let metadata = row
        .opt_text("metadata")?
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| StorageError::Internal(format!("stored offering metadata is invalid: {e}")))?;
    Ok(Offering {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        lookup_key: row.text("lookup_key")?,
        display_name: row.text("display_name")?,
        is_current: row.boolean("is_current")?,
        metadata,
        created_at: UnixMillis(row.int("created_at")?),
    })
}

pub(crate) fn package_from_row<R: RowExt>(row: &R) -> Result<Package, StorageError> {
    Ok(Package {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        offering_id: row.text("offering_id")?,
        lookup_key: row.text("lookup_key")?,
        display_name: row.text("display_name")?,
        position: row.opt_int("position")?,
        created_at: UnixMillis(row.int("created_at")?),
    })
}

pub(crate) fn audit_from_row<R: RowExt>(row: &R) -> Result<AuditEntry, StorageError> {
    let actor_identifier = row.text("actor_identifier")?;
    let actor = match row.text("actor_type")?.as_str() {
        "api_key" => Actor::ApiKey(actor_identifier),
        _ => Actor::CommandLine,
    };
    let additional_data = serde_json::from_str(&row.text("additional_data")?)
        .map_err(|e| StorageError::Internal(format!("stored audit data is invalid: {e}")))?;
    Ok(AuditEntry {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        action_type: row.text("action_type")?,
        target_type: row.text("target_type")?,
        target_identifier: row.text("target_identifier")?,
        actor,
        occurred_at: UnixMillis(row.int("occurred_at")?),
        additional_data,
    })
}

/// The lists that page by creation order (`seq`). `$1` is the scope (a project id, or an
/// offering, entitlement or package id for nested lists), `$2` the cursor's `seq`, `$3` the
/// limit; `$4`, where a list has it, an optional filter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Listing {
    Apps,
    SecretKeys,
    AuditLogs,
    Entitlements,
    Offerings,
    /// `$4`: an app id, or NULL for every app.
    Products,
    /// Scoped by offering id.
    PackagesOfOffering,
    /// Scoped by entitlement id; the cursor is a product id.
    ProductsOfEntitlement,
    /// Scoped by package id; the cursor is a product id.
    ProductsOfPackage,
    /// `$4`: a search term (an alias or `$email`), or NULL.
    Customers,
    /// Scoped by customer key; the cursor is an alias.
    AliasesOfCustomer,
    /// Scoped by customer key; the cursor is an attribute name.
    AttributesOfCustomer,
    Integrations,
    /// Scoped by integration id.
    DeliveriesOfIntegration,
}

impl Listing {
    /// Finds the `seq` of the `starting_after` item ($1 project, $2 id).
    pub(crate) fn cursor_sql(self) -> &'static str {
        match self {
            Listing::Apps => "SELECT seq FROM apps WHERE project_id = $1 AND id = $2",
            Listing::SecretKeys => {
                "SELECT seq FROM api_keys WHERE project_id = $1 AND id = $2 AND kind = 'secret'"
            }
            Listing::AuditLogs => "SELECT seq FROM audit_logs WHERE project_id = $1 AND id = $2",
            Listing::Entitlements => {
                "SELECT seq FROM entitlements WHERE project_id = $1 AND id = $2"
            }
            Listing::Offerings => "SELECT seq FROM offerings WHERE project_id = $1 AND id = $2",
            Listing::Products => "SELECT seq FROM products WHERE project_id = $1 AND id = $2",
            Listing::PackagesOfOffering => {
                "SELECT seq FROM packages WHERE offering_id = $1 AND id = $2"
            }
            Listing::ProductsOfEntitlement => {
                "SELECT seq FROM entitlement_products WHERE entitlement_id = $1 AND product_id = $2"
            }
            Listing::ProductsOfPackage => {
                "SELECT seq FROM package_products WHERE package_id = $1 AND product_id = $2"
            }
            Listing::Customers => "SELECT seq FROM customers WHERE project_id = $1 AND id = $2",
            Listing::AliasesOfCustomer => {
                "SELECT seq FROM customer_aliases WHERE customer_key = $1 AND alias = $2"
            }
            Listing::AttributesOfCustomer => {
                "SELECT seq FROM customer_attributes WHERE customer_key = $1 AND name = $2"
            }
            Listing::Integrations => {
                "SELECT seq FROM webhook_integrations WHERE project_id = $1 AND id = $2"
            }
            Listing::DeliveriesOfIntegration => {
                "SELECT seq FROM webhook_deliveries WHERE integration_id = $1 AND id = $2"
            }
        }
    }

    /// Whether the page query takes the `$4` filter.
    pub(crate) fn has_filter(self) -> bool {
        matches!(self, Listing::Products | Listing::Customers)
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
            Listing::AuditLogs => concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_logs WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ),
            Listing::Entitlements => concat!(
                "SELECT ",
                entitlement_columns!(),
                " FROM entitlements WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ),
            Listing::Offerings => concat!(
                "SELECT ",
                offering_columns!(),
                " FROM offerings WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ),
            Listing::Products => concat!(
                "SELECT ",
                product_columns!(),
                " FROM products WHERE project_id = $1 AND seq > $2 \
                 AND ($4 IS NULL OR app_id = $4) ORDER BY seq LIMIT $3"
            ),
            Listing::PackagesOfOffering => concat!(
                "SELECT ",
                package_columns!(),
                " FROM packages WHERE offering_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ),
            Listing::ProductsOfEntitlement => concat!(
                "SELECT ",
                product_columns!(),
                " FROM entitlement_products JOIN products ON products.id = entitlement_products.product_id \
                 WHERE entitlement_products.entitlement_id = $1 AND entitlement_products.seq > $2 \
                 ORDER BY entitlement_products.seq LIMIT $3"
            ),
            Listing::ProductsOfPackage => concat!(
                "SELECT ",
                product_columns!(),
                ", package_products.eligibility_criteria FROM package_products \
                 JOIN products ON products.id = package_products.product_id \
                 WHERE package_products.package_id = $1 AND package_products.seq > $2 \
                 ORDER BY package_products.seq LIMIT $3"
            ),
            Listing::Customers => concat!(
                "SELECT ",
                customer_columns!(),
                " FROM customers WHERE project_id = $1 AND seq > $2 AND ($4 IS NULL \
                 OR EXISTS (SELECT 1 FROM customer_aliases a WHERE a.customer_key = customers.key AND a.alias = $4) \
                 OR EXISTS (SELECT 1 FROM customer_attributes t WHERE t.customer_key = customers.key \
                            AND t.name = '$email' AND t.value = $4)) \
                 ORDER BY seq LIMIT $3"
            ),
            Listing::AliasesOfCustomer => {
                "SELECT alias, created_at FROM customer_aliases \
                 WHERE customer_key = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            }
            Listing::AttributesOfCustomer => {
                "SELECT name, value, updated_at FROM customer_attributes \
                 WHERE customer_key = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            }
            Listing::Integrations => concat!(
                "SELECT ",
                integration_columns!(),
                " FROM webhook_integrations WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ),
            Listing::DeliveriesOfIntegration => {
                "SELECT d.id AS id, d.event_id AS event_id, o.event_type AS event_type, d.status AS status, \
                 d.next_attempt_at AS next_attempt_at, d.created_at AS created_at \
                 FROM webhook_deliveries d JOIN outbox_events o ON o.id = d.event_id \
                 WHERE d.integration_id = $1 AND d.seq > $2 ORDER BY d.seq LIMIT $3"
            }
        }
    }
}

/// One page of a listing through the backend's `select_all!` (so, on SQLite, through the
/// synchronous readers): `$scope` is the listing's `$1`, `$filter` its optional `$4`.
macro_rules! page_of {
    ($storage:expr, $listing:expr, $scope:expr, $filter:expr, $page:expr, $decode:path) => {{
        let listing: $crate::shared::Listing = $listing;
        let page: &$crate::PageRequest = $page;
        let after: i64 = match &page.starting_after {
            None => 0,
            Some(after) => select_all!(
                $storage,
                listing.cursor_sql(),
                [$scope, after.as_str()],
                $crate::shared::seq_from_row
            )?
            .into_iter()
            .next()
            .ok_or($crate::StorageError::UnknownCursor)?,
        };
        let limit = i64::from(page.limit) + 1;
        let mut items = if listing.has_filter() {
            select_all!(
                $storage,
                listing.page_sql(),
                [$scope, after, limit, $filter],
                $decode
            )?
        } else {
            select_all!(
                $storage,
                listing.page_sql(),
                [$scope, after, limit],
                $decode
            )?
        };
        let has_more = items.len() > page.limit as usize;
        items.truncate(page.limit as usize);
        Ok::<_, $crate::StorageError>($crate::Page { items, has_more })
    }};
}
pub(crate) use page_of;

/// A product with the id of what it is attached to (`owner_id`).
pub(crate) fn owned_product_from_row<R: RowExt>(
    row: &R,
) -> Result<(String, Product), StorageError> {
    Ok((row.text("owner_id")?, product_from_row(row)?))
}

/// A package's product with the id of the package (`owner_id`).
pub(crate) fn owned_package_product_from_row<R: RowExt>(
    row: &R,
) -> Result<(String, entitled_core::PackageProduct), StorageError> {
    Ok((row.text("owner_id")?, package_product_from_row(row)?))
}

/// A row's `seq`, its place in creation order.
pub(crate) fn seq_from_row<R: RowExt>(row: &R) -> Result<i64, StorageError> {
    row.int("seq")
}

pub(crate) fn package_product_from_row<R: RowExt>(
    row: &R,
) -> Result<entitled_core::PackageProduct, StorageError> {
    Ok(entitled_core::PackageProduct {
        product: product_from_row(row)?,
        eligibility_criteria: row.text("eligibility_criteria")?,
    })
}

/// Ids as the JSON array the backends' `ids_in_param2!()` unpacks.
pub(crate) fn json_ids(ids: &[String]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

/// The columns [`transaction_from_row`] reads.
macro_rules! transaction_columns {
    () => {
        "id, customer_key, app_id, store, store_transaction_id, original_transaction_id, \
         product_id, product_plan_id, purchased_at, expires_at, period_type, environment, \
         ownership, price_micros, currency, is_subscription"
    };
}
pub(crate) use transaction_columns;

/// The purchases ($1 project) with a subscription period, an extension or a grace period
/// ending in ($2, $3], joined to the rows of `$table` (as `t`) that belong to them.
///
/// The query is driven from the few purchases ending (by the expiry indexes) to their rows
/// (by the original-transaction indexes); written as `(store, original_transaction_id) IN
/// (…)`, or as a plain join, SQLite 3.51 scanned every row of the project instead (1–4 s at
/// 425,000 transactions, holding the write connection); each backend's `driving_join!()`
/// keeps the order.
macro_rules! rows_of_purchases_ending_between {
    ($table:literal) => {
        concat!(
            "(SELECT store AS ending_store, original_transaction_id AS ending_original \
             FROM store_transactions WHERE project_id = $1 AND expires_at > $2 AND expires_at <= $3 \
             UNION SELECT store, original_transaction_id FROM lifecycle_events \
             WHERE project_id = $1 AND until_at > $2 AND until_at <= $3) AS ending ",
             driving_join!(), $table, " t ON t.project_id = $1 AND t.store = ending.ending_store \
             AND t.original_transaction_id = ending.ending_original"
        )
    };
}
pub(crate) use rows_of_purchases_ending_between;

/// The price kept in `price_micros` and `currency`, when both are there.
pub(crate) fn price_from_row<R: RowExt>(
    row: &R,
) -> Result<Option<entitled_core::purchases::Money>, StorageError> {
    Ok(
        match (row.opt_int("price_micros")?, row.opt_text("currency")?) {
            (Some(amount_micros), Some(currency)) => Some(entitled_core::purchases::Money {
                amount_micros,
                currency,
            }),
            _ => None,
        },
    )
}

/// A transaction from a row of [`transaction_columns`], its columns read in that order (the
/// order the SQLite reader finds them fastest in).
pub(crate) fn transaction_from_row<R: RowExt>(
    row: &R,
) -> Result<entitled_core::purchases::StoreTransaction, StorageError> {
    use entitled_core::purchases::{Environment, Ownership, PeriodType, Store};
    let bad = |what: &str, value: &str| {
        StorageError::Internal(format!(
            "stored transaction has an invalid {what}: {value:?}"
        ))
    };
    let id = row.text("id")?;
    let customer_key = row.text("customer_key")?;
    let app_id = row.text("app_id")?;
    let store = row.text_as("store", |text| {
        Store::from_stored(text).ok_or_else(|| bad("store", text))
    })??;
    let store_transaction_id = row.text("store_transaction_id")?;
    let original_transaction_id = row.text("original_transaction_id")?;
    let product_id = row.text("product_id")?;
    let product_plan_id = row.opt_text("product_plan_id")?;
    let purchased_at = UnixMillis(row.int("purchased_at")?);
    let expires_at = row.opt_int("expires_at")?.map(UnixMillis);
    let period_type = row.text_as("period_type", |text| {
        PeriodType::from_stored(text).ok_or_else(|| bad("period_type", text))
    })??;
    let environment = row.text_as("environment", |text| {
        Environment::from_stored(text).ok_or_else(|| bad("environment", text))
    })??;
    let ownership = row.text_as("ownership", |text| match text {
        "PURCHASED" => Ok(Ownership::Purchased),
        "FAMILY_SHARED" => Ok(Ownership::FamilyShared),
        other => Err(bad("ownership", other)),
    })??;
    let price = price_from_row(row)?;
    Ok(entitled_core::purchases::StoreTransaction {
        id,
        customer_key,
        app_id,
        store,
        store_transaction_id,
        original_transaction_id,
        product_id,
        product_plan_id,
        purchased_at,
        expires_at,
        period_type,
        environment,
        ownership,
        price,
        is_subscription: row.boolean("is_subscription")?,
    })
}

/// Lifecycle kinds as stored: a name, and the instant that goes with it (the grace period
/// end of a billing issue, the new end of an extension), kept in `until_at`.
pub(crate) fn lifecycle_kind_to_stored(
    kind: entitled_core::purchases::LifecycleKind,
) -> (&'static str, Option<i64>) {
    use entitled_core::purchases::LifecycleKind;
    match kind {
        LifecycleKind::Cancelled => ("cancelled", None),
        LifecycleKind::Uncancelled => ("uncancelled", None),
        LifecycleKind::BillingIssue {
            grace_period_expires_at,
        } => ("billing_issue", grace_period_expires_at.map(|t| t.0)),
        LifecycleKind::Recovered => ("recovered", None),
        LifecycleKind::Expired => ("expired", None),
        LifecycleKind::Refunded => ("refunded", None),
        LifecycleKind::RefundReversed => ("refund_reversed", None),
        LifecycleKind::Extended { expires_at } => ("extended", Some(expires_at.0)),
        LifecycleKind::Paused { resumes_at } => ("paused", Some(resumes_at.0)),
    }
}

pub(crate) fn lifecycle_event_from_row<R: RowExt>(
    row: &R,
) -> Result<entitled_core::purchases::LifecycleEvent, StorageError> {
    use entitled_core::purchases::{LifecycleKind, Store};
    let store_text = row.text("store")?;
    let store = Store::from_stored(&store_text)
        .ok_or_else(|| StorageError::Internal(format!("stored event has store {store_text:?}")))?;
    let kind = match row.text("kind")?.as_str() {
        "cancelled" => LifecycleKind::Cancelled,
        "uncancelled" => LifecycleKind::Uncancelled,
        "billing_issue" => LifecycleKind::BillingIssue {
            grace_period_expires_at: row.opt_int("until_at")?.map(UnixMillis),
        },
        "recovered" => LifecycleKind::Recovered,
        "expired" => LifecycleKind::Expired,
        "refunded" => LifecycleKind::Refunded,
        "refund_reversed" => LifecycleKind::RefundReversed,
        "paused" => LifecycleKind::Paused {
            resumes_at: UnixMillis(row.opt_int("until_at")?.ok_or_else(|| {
                StorageError::Internal("stored pause has no resume date".to_string())
            })?),
        },
        "extended" => LifecycleKind::Extended {
            expires_at: UnixMillis(row.opt_int("until_at")?.ok_or_else(|| {
                StorageError::Internal("stored extension has no new expiry".to_string())
            })?),
        },
        other => {
            return Err(StorageError::Internal(format!(
                "stored event has kind {other:?}"
            )));
        }
    };
    Ok(entitled_core::purchases::LifecycleEvent {
        id: row.text("id")?,
        store,
        original_transaction_id: row.text("original_transaction_id")?,
        kind,
        occurred_at: UnixMillis(row.int("occurred_at")?),
    })
}

/// The columns [`integration_from_row`] reads.
macro_rules! integration_columns {
    () => {
        "id, project_id, name, url, authorization_header, environment, event_types, app_id, \
         signing_secret, created_at"
    };
}
pub(crate) use integration_columns;

pub(crate) fn integration_from_row<R: RowExt>(
    row: &R,
) -> Result<entitled_core::webhooks::WebhookIntegration, StorageError> {
    use entitled_core::purchases::Environment;
    let environment = match row.opt_text("environment")?.as_deref() {
        None => None,
        Some("sandbox") => Some(Environment::Sandbox),
        Some("production") => Some(Environment::Production),
        Some(other) => {
            return Err(StorageError::Internal(format!(
                "stored integration environment {other:?}"
            )));
        }
    };
    let event_types = row
        .opt_text("event_types")?
        .map(|json| serde_json::from_str::<Vec<String>>(&json))
        .transpose()
        .map_err(|e| StorageError::Internal(format!("stored integration event types: {e}")))?;
    Ok(entitled_core::webhooks::WebhookIntegration {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        name: row.text("name")?,
        url: row.text("url")?,
        authorization_header: row.opt_text("authorization_header")?,
        environment,
        event_types,
        app_id: row.opt_text("app_id")?,
        signing_secret: row.text("signing_secret")?,
        created_at: UnixMillis(row.int("created_at")?),
    })
}

pub(crate) fn delivery_from_row<R: RowExt>(row: &R) -> Result<crate::DeliveryRecord, StorageError> {
    let status_text = row.text("status")?;
    let status = entitled_core::webhooks::DeliveryStatus::from_stored(&status_text)
        .ok_or_else(|| StorageError::Internal(format!("stored delivery status {status_text:?}")))?;
    Ok(crate::DeliveryRecord {
        id: row.text("id")?,
        event_id: row.text("event_id")?,
        event_type: row.text("event_type")?,
        status,
        next_attempt_at: UnixMillis(row.int("next_attempt_at")?),
        created_at: UnixMillis(row.int("created_at")?),
        attempts: Vec::new(),
    })
}

pub(crate) fn attempt_from_row<R: RowExt>(
    row: &R,
) -> Result<(UnixMillis, entitled_core::webhooks::AttemptOutcome), StorageError> {
    Ok((
        UnixMillis(row.int("attempted_at")?),
        entitled_core::webhooks::AttemptOutcome {
            status_code: row
                .opt_int("status_code")?
                .and_then(|c| u16::try_from(c).ok()),
            latency_ms: row.int("latency_ms")?,
            error: row.opt_text("error")?,
        },
    ))
}

pub(crate) fn job_from_row<R: RowExt>(
    row: &R,
) -> Result<entitled_core::webhooks::Job, StorageError> {
    let json = |text: String| {
        serde_json::from_str(&text)
            .map_err(|e| StorageError::Internal(format!("stored job JSON is invalid: {e}")))
    };
    Ok(entitled_core::webhooks::Job {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        kind: row.text("kind")?,
        status: row.text("status")?,
        progress: row.int("progress")?,
        params: json(row.text("params")?)?,
        result: row.opt_text("result")?.map(json).transpose()?,
        created_at: UnixMillis(row.int("created_at")?),
        updated_at: UnixMillis(row.int("updated_at")?),
    })
}
