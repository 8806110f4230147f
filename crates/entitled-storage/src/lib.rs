#![warn(missing_docs)]
//! entitled's storage: one [`Storage`] interface, two real backends.
//!
//! SQLite (the default, one embedded file in WAL mode) and PostgreSQL (for several nodes on
//! one database). Both run the same raw SQL where the dialects agree and keep their own
//! migrations; the same test suite runs against both.
//!
//! The interface is split by concern ([`ProjectStore`], [`CatalogStore`], [`AuditStore`]);
//! [`Storage`] is all of them. Every mutating call is one transaction, and writes the audit
//! entry it is given in that same transaction.

mod error;
mod locks;
mod postgres;
mod shared;
mod sqlite;
mod sqlite_checkpoint;
mod sqlite_reader;
mod sqlite_writer;

use std::sync::Arc;

use async_trait::async_trait;
use entitled_core::engine::CatalogView;
use entitled_core::purchases::{LifecycleEvent, Store, StoreTransaction, TemporaryGrant};
use entitled_core::webhooks::{OutboxEvent, WebhookIntegration};
use entitled_core::{
    ApiKey, App, Attribute, AuditEntry, Customer, CustomerAlias, Entitlement, Offering, Package,
    PackageProduct, Product, Project, PromotionalGrant, Transfer, UnixMillis,
};

pub use error::StorageError;
pub use locks::{CustomerLock, CustomerLocks, releasing_locks};
pub use postgres::PostgresStorage;
pub use sqlite::SqliteStorage;

/// Which database a [`Storage`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A request for one page of a list, in creation order.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Return only items created after the item with this id.
    pub starting_after: Option<String>,
    /// At most this many items.
    pub limit: u32,
}

/// One page of a list: the items, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// True when another page exists after the last item.
    pub has_more: bool,
}

/// What a fresh database is seeded with on first start, written atomically and only once.
#[derive(Debug, Clone)]
pub struct BootstrapSeed {
    /// The `default` project.
    pub project: Project,
    /// Its `test_store` app.
    pub app: App,
    /// The app's public SDK key.
    pub public_key: ApiKey,
    /// A secret key with every permission.
    pub secret_key: ApiKey,
}

/// Everything entitled persists.
pub trait Storage:
    ProjectStore
    + CatalogStore
    + CustomerStore
    + PurchaseStore
    + TemporaryGrantStore
    + WebhookStore
    + RateLimitStore
    + AuditStore
{
}

impl<T> Storage for T where
    T: ProjectStore
        + CatalogStore
        + CustomerStore
        + PurchaseStore
        + TemporaryGrantStore
        + WebhookStore
        + RateLimitStore
        + AuditStore
{
}

/// Projects, apps, API keys, and the database itself.
#[async_trait]
pub trait ProjectStore: Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// The per-customer locks that fit this backend.
    fn customer_locks(&self) -> CustomerLocks;
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StorageError>;
    /// Checks that the database answers (readiness).
    async fn ping(&self) -> Result<(), StorageError>;
    /// Writes the first-start seed unless the database was seeded before; true if written now.
    async fn bootstrap(&self, seed: &BootstrapSeed) -> Result<bool, StorageError>;

    /// Creates a project.
    async fn create_project(&self, project: &Project) -> Result<(), StorageError>;
    /// A project by id.
    async fn get_project(&self, id: &str) -> Result<Option<Project>, StorageError>;

    /// Creates an app (with its sealed store credentials, if any) and its public SDK key.
    async fn create_app(
        &self,
        app: &App,
        sealed_credentials: Option<&str>,
        public_key: &ApiKey,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// Replaces an app's changeable fields and sealed credentials.
    async fn update_app(
        &self,
        app: &App,
        sealed_credentials: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// An app's sealed store credentials, if any were set.
    async fn app_credentials(
        &self,
        project_id: &str,
        app_id: &str,
    ) -> Result<Option<String>, StorageError>;
    /// An app of a project.
    async fn get_app(&self, project_id: &str, app_id: &str) -> Result<Option<App>, StorageError>;
    /// An app by its id alone, whatever its project (store notifications name only the app).
    async fn app_by_id(&self, app_id: &str) -> Result<Option<App>, StorageError>;
    /// A page of a project's apps.
    async fn list_apps(
        &self,
        project_id: &str,
        page: &PageRequest,
    ) -> Result<Page<App>, StorageError>;
    /// Deletes an app, its keys and its products; false when there was no such app.
    async fn delete_app(
        &self,
        project_id: &str,
        app_id: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StorageError>;

    /// Stores a new key (its hash).
    async fn create_api_key(&self, key: &ApiKey, audit: &AuditEntry) -> Result<(), StorageError>;
    /// A page of a project's secret keys, revoked ones included.
    async fn list_secret_keys(
        &self,
        project_id: &str,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, StorageError>;
    /// A key of a project by id.
    async fn get_api_key(
        &self,
        project_id: &str,
        key_id: &str,
    ) -> Result<Option<ApiKey>, StorageError>;
    /// Marks a key revoked at `now`; false when the project has no such active key.
    async fn revoke_api_key(
        &self,
        project_id: &str,
        key_id: &str,
        now: UnixMillis,
        audit: &AuditEntry,
    ) -> Result<bool, StorageError>;
    /// The public SDK keys of an app.
    async fn public_keys_of_app(
        &self,
        project_id: &str,
        app_id: &str,
    ) -> Result<Vec<ApiKey>, StorageError>;
    /// The keys whose lookup matches, for authenticating a presented key.
    async fn find_keys_by_lookup(&self, lookup: &str) -> Result<Vec<ApiKey>, StorageError>;
}

/// Changes to an offering; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OfferingChanges {
    /// New display name.
    pub display_name: Option<String>,
    /// Make it the current offering (unsetting the previous one), or stop it being current.
    pub is_current: Option<bool>,
    /// New metadata; `Some(None)` clears it.
    pub metadata: Option<Option<serde_json::Value>>,
}

/// Changes to a package; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PackageChanges {
    /// New display name.
    pub display_name: Option<String>,
    /// New position.
    pub position: Option<i64>,
}

/// Products, entitlements, offerings and packages. Calls naming an object that does not
/// exist in the project fail with [`StorageError::NotFound`]; deleting an object still in
/// use without `force` fails with [`StorageError::InUse`].
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// Creates a product (of an app of the same project).
    async fn create_product(
        &self,
        product: &Product,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// A product of a project.
    async fn get_product(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Option<Product>, StorageError>;
    /// The product an app knows by this store identifier (the id the store and SDK use).
    async fn product_by_identifier(
        &self,
        project_id: &str,
        app_id: &str,
        store_identifier: &str,
    ) -> Result<Option<Product>, StorageError>;
    /// A page of a project's products, optionally of one app.
    async fn list_products(
        &self,
        project_id: &str,
        app_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Product>, StorageError>;
    /// Deletes a product; in use by entitlements or packages, only with `force`.
    async fn delete_product(
        &self,
        project_id: &str,
        id: &str,
        force: bool,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;

    /// Creates an entitlement.
    async fn create_entitlement(
        &self,
        entitlement: &Entitlement,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// An entitlement of a project.
    async fn get_entitlement(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Option<Entitlement>, StorageError>;
    /// A page of a project's entitlements.
    async fn list_entitlements(
        &self,
        project_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Entitlement>, StorageError>;
    /// Renames an entitlement; returns it as changed.
    async fn update_entitlement(
        &self,
        project_id: &str,
        id: &str,
        display_name: &str,
        audit: &AuditEntry,
    ) -> Result<Entitlement, StorageError>;
    /// Deletes an entitlement; with products attached, only with `force`.
    async fn delete_entitlement(
        &self,
        project_id: &str,
        id: &str,
        force: bool,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// Attaches products to an entitlement, all or none; attaching twice is a no-op.
    async fn attach_entitlement_products(
        &self,
        project_id: &str,
        entitlement_id: &str,
        product_ids: &[String],
        now: UnixMillis,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// Detaches products from an entitlement; products not attached are ignored.
    async fn detach_entitlement_products(
        &self,
        project_id: &str,
        entitlement_id: &str,
        product_ids: &[String],
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// A page of the products attached to an entitlement.
    async fn list_entitlement_products(
        &self,
        project_id: &str,
        entitlement_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Product>, StorageError>;
    /// The products attached to each of these entitlements, as (entitlement id, product).
    async fn products_of_entitlements(
        &self,
        project_id: &str,
        entitlement_ids: &[String],
    ) -> Result<Vec<(String, Product)>, StorageError>;

    /// Creates an offering (not current; make it current with an update).
    async fn create_offering(
        &self,
        offering: &Offering,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// An offering of a project.
    async fn get_offering(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Option<Offering>, StorageError>;
    /// Every offering of a project with its packages and their products, read together:
    /// what the SDK's offerings endpoint shows on every app launch. On SQLite a reader
    /// connection keeps it until something is committed.
    async fn offering_tree(&self, project_id: &str) -> Result<Arc<OfferingTree>, StorageError>;
    /// A page of a project's offerings.
    async fn list_offerings(
        &self,
        project_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Offering>, StorageError>;
    /// Changes an offering; returns it as changed.
    async fn update_offering(
        &self,
        project_id: &str,
        id: &str,
        changes: &OfferingChanges,
        audit: &AuditEntry,
    ) -> Result<Offering, StorageError>;
    /// Deletes an offering and its packages.
    async fn delete_offering(
        &self,
        project_id: &str,
        id: &str,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;

    /// Creates a package in an offering of the same project.
    async fn create_package(
        &self,
        package: &Package,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// A package of a project.
    async fn get_package(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Option<Package>, StorageError>;
    /// A page of an offering's packages.
    async fn list_packages(
        &self,
        project_id: &str,
        offering_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Package>, StorageError>;
    /// The packages of each of these offerings.
    async fn packages_of_offerings(
        &self,
        project_id: &str,
        offering_ids: &[String],
    ) -> Result<Vec<Package>, StorageError>;
    /// Changes a package; returns it as changed.
    async fn update_package(
        &self,
        project_id: &str,
        id: &str,
        changes: &PackageChanges,
        audit: &AuditEntry,
    ) -> Result<Package, StorageError>;
    /// Deletes a package.
    async fn delete_package(
        &self,
        project_id: &str,
        id: &str,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// Attaches products (with eligibility criteria) to a package, all or none: at most one
    /// product per app ([`StorageError::Conflict`] otherwise); attaching twice is a no-op.
    async fn attach_package_products(
        &self,
        project_id: &str,
        package_id: &str,
        products: &[(String, String)],
        now: UnixMillis,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// Detaches products from a package; products not attached are ignored.
    async fn detach_package_products(
        &self,
        project_id: &str,
        package_id: &str,
        product_ids: &[String],
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// A page of a package's products.
    async fn list_package_products(
        &self,
        project_id: &str,
        package_id: &str,
        page: &PageRequest,
    ) -> Result<Page<PackageProduct>, StorageError>;
    /// The products of each of these packages, as (package id, product).
    async fn products_of_packages(
        &self,
        project_id: &str,
        package_ids: &[String],
    ) -> Result<Vec<(String, PackageProduct)>, StorageError>;
}

/// Customers: identity (ids and aliases), attributes, promotional grants, transfers.
/// Customers are addressed by their internal `key` once found.
#[async_trait]
pub trait CustomerStore: Send + Sync + 'static {
    /// Creates a customer (its id becomes its first alias) with initial attributes;
    /// [`StorageError::Conflict`] when the id already names a customer of the project.
    async fn create_customer(
        &self,
        customer: &Customer,
        attributes: &[Attribute],
    ) -> Result<(), StorageError>;
    /// A customer by internal key.
    async fn customer_by_key(&self, customer_key: &str) -> Result<Option<Customer>, StorageError>;
    /// The customer an id or alias names.
    async fn find_customer(
        &self,
        project_id: &str,
        id_or_alias: &str,
    ) -> Result<Option<Customer>, StorageError>;
    /// A page of a project's customers; `search` keeps those with that alias or `$email`.
    async fn list_customers(
        &self,
        project_id: &str,
        search: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Customer>, StorageError>;
    /// Links another app user id to a customer; [`StorageError::Conflict`] when taken.
    async fn add_alias(
        &self,
        project_id: &str,
        customer_key: &str,
        alias: &str,
        now: UnixMillis,
    ) -> Result<(), StorageError>;
    /// Deletes a customer and everything stored about them; false when already gone.
    async fn delete_customer(&self, customer_key: &str) -> Result<bool, StorageError>;
    /// A page of a customer's aliases (the original id first).
    async fn list_aliases(
        &self,
        customer_key: &str,
        page: &PageRequest,
    ) -> Result<Page<CustomerAlias>, StorageError>;
    /// A page of a customer's attributes, by when each name was first set.
    async fn list_attributes(
        &self,
        customer_key: &str,
        page: &PageRequest,
    ) -> Result<Page<Attribute>, StorageError>;
    /// Sets attributes (a `None` value removes the attribute), all or none.
    async fn set_attributes(
        &self,
        customer_key: &str,
        attributes: &[(String, Option<String>)],
        now: UnixMillis,
    ) -> Result<(), StorageError>;
    /// Records a promotional grant.
    async fn add_grant(
        &self,
        grant: &PromotionalGrant,
        events: &[OutboxEvent],
        now: UnixMillis,
    ) -> Result<(), StorageError>;
    /// Revokes a customer's live grants of an entitlement at `now`, with the events that
    /// causes; returns how many.
    async fn revoke_grants(
        &self,
        customer_key: &str,
        entitlement_id: &str,
        events: &[OutboxEvent],
        now: UnixMillis,
    ) -> Result<u64, StorageError>;
    /// Every grant of a customer, revoked and expired ones included.
    async fn grants_of(&self, customer_key: &str) -> Result<Vec<PromotionalGrant>, StorageError>;
    /// Assigns an offering of the project to a customer (`None` clears it).
    async fn assign_offering(
        &self,
        project_id: &str,
        customer_key: &str,
        offering_id: Option<&str>,
    ) -> Result<(), StorageError>;
    /// Records a transfer of purchases between two customers.
    async fn record_transfer(&self, transfer: &Transfer) -> Result<(), StorageError>;
}

/// How recording a transaction went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// It was new and is now stored.
    New,
    /// The store transaction was already recorded (nothing was written); here it is.
    Known(Box<StoreTransaction>),
}

/// An SDK's visit to a customer: when, and what the SDK reported about the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// The customer seen.
    pub customer_key: String,
    /// When.
    pub seen_at: UnixMillis,
    /// The app's version, when reported.
    pub app_version: Option<String>,
    /// `iOS`, `android`, …, when reported.
    pub platform: Option<String>,
    /// The platform's version, when reported.
    pub platform_version: Option<String>,
}

/// A project's offerings, packages and the products attached to them, from one snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfferingTree {
    /// Every offering, in creation order.
    pub offerings: Vec<Offering>,
    /// Every package of those offerings, in creation order.
    pub packages: Vec<Package>,
    /// The products attached to those packages as (package id, product), in attachment order.
    pub products: Vec<(String, PackageProduct)>,
}

/// Everything the engine needs to compute one customer's state, read from one snapshot of
/// the database (one read transaction on SQLite), so the parts agree with each other.
#[derive(Debug, Clone, Default)]
pub struct FactsSnapshot {
    /// The customer's transactions, oldest first.
    pub transactions: Vec<StoreTransaction>,
    /// What the stores said later about the customer's purchases.
    pub events: Vec<LifecycleEvent>,
    /// Promotional grants.
    pub grants: Vec<PromotionalGrant>,
    /// Temporary grants not settled yet.
    pub temporary: Vec<TemporaryGrant>,
    /// Which entitlements each product of the project unlocks.
    pub catalog: CatalogView,
    /// How far the project's test-store clock is ahead of real time, in ms.
    pub clock_offset_ms: i64,
}

/// What a webhook event says about its customer, read in one snapshot: the customer, their
/// first aliases and the project's catalog view.
#[derive(Debug, Clone)]
pub struct EventSubject {
    /// The customer.
    pub customer: Customer,
    /// Their aliases, oldest first (at most the number asked for).
    pub aliases: Vec<CustomerAlias>,
    /// Which entitlements each product of the project unlocks.
    pub catalog: CatalogView,
}

/// A project as the sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepTarget {
    /// The project.
    pub project_id: String,
    /// How far its test clock is ahead of real time, in ms.
    pub clock_offset_ms: i64,
    /// How far (in project time) the sweep has looked; `None` before its first sweep.
    pub swept_until: Option<UnixMillis>,
    /// Whether the project's test store is in a simulated outage (nothing can be verified).
    pub test_store_down: bool,
}

/// Purchase facts: store transactions, lifecycle events, and the test store's clock.
#[async_trait]
pub trait PurchaseStore: Send + Sync + 'static {
    /// Imports historical purchases: each row's customer is found or created, and its
    /// transaction recorded unless known. Returns how many transactions were new.
    async fn import_purchases(
        &self,
        project_id: &str,
        rows: &[(String, StoreTransaction)],
        now: UnixMillis,
    ) -> Result<u64, StorageError>;
    /// The transactions, lifecycle events and grants of several customers, for exports.
    async fn facts_of_customers(
        &self,
        project_id: &str,
        customer_keys: &[String],
    ) -> Result<
        (
            Vec<StoreTransaction>,
            Vec<LifecycleEvent>,
            Vec<PromotionalGrant>,
        ),
        StorageError,
    >;
    /// Records a verified transaction with the events it causes, unless its store transaction
    /// id is already known (then nothing is written).
    async fn record_transaction(
        &self,
        project_id: &str,
        transaction: &StoreTransaction,
        events: &[OutboxEvent],
        now: UnixMillis,
    ) -> Result<Recorded, StorageError>;
    /// Records several transactions (e.g. renewals) in one transaction; known ones are skipped.
    async fn record_transactions(
        &self,
        project_id: &str,
        transactions: &[StoreTransaction],
        events: &[OutboxEvent],
        now: UnixMillis,
    ) -> Result<u64, StorageError>;
    /// A transaction by its store and store transaction id.
    async fn find_transaction(
        &self,
        project_id: &str,
        store: Store,
        store_transaction_id: &str,
    ) -> Result<Option<StoreTransaction>, StorageError>;
    /// The latest transaction of one purchase (its original transaction), whoever owns it.
    async fn latest_transaction_of_purchase(
        &self,
        project_id: &str,
        store: Store,
        original_transaction_id: &str,
    ) -> Result<Option<StoreTransaction>, StorageError>;
    /// A customer's transactions, oldest first.
    async fn transactions_of(
        &self,
        customer_key: &str,
    ) -> Result<Vec<StoreTransaction>, StorageError>;
    /// The lifecycle events of the purchases a customer owns.
    async fn lifecycle_events_of(
        &self,
        project_id: &str,
        customer_key: &str,
    ) -> Result<Vec<LifecycleEvent>, StorageError>;
    /// Every transaction and lifecycle event of a store in a project (the test store's clock).
    async fn store_facts(
        &self,
        project_id: &str,
        store: Store,
    ) -> Result<(Vec<StoreTransaction>, Vec<LifecycleEvent>), StorageError>;
    /// Records what a store said about a purchase; a fact whose id is known is skipped (with
    /// its events), so a store repeating itself records nothing new.
    async fn add_lifecycle_event(
        &self,
        project_id: &str,
        event: &LifecycleEvent,
        events: &[OutboxEvent],
        now: UnixMillis,
    ) -> Result<(), StorageError>;
    /// Moves every transaction of one purchase (its original transaction) to a customer,
    /// recording the transfer; returns how many moved.
    async fn move_purchase(
        &self,
        transfer: &Transfer,
        store: Store,
        original_transaction_id: &str,
        events: &[OutboxEvent],
    ) -> Result<u64, StorageError>;
    /// Folds one customer into another (logging an anonymous id in): aliases, purchases,
    /// grants and attributes move (the target's attributes win), then the source is deleted.
    async fn merge_customers(
        &self,
        from_key: &str,
        into_key: &str,
        now: UnixMillis,
    ) -> Result<(), StorageError>;
    /// Notes that SDKs saw these customers, with what they reported, in one write (a
    /// customer's latest visit wins when the batch holds several).
    async fn touch_customers(&self, visits: &[Visit]) -> Result<(), StorageError>;
    /// Which entitlements each product unlocks, for the engine.
    async fn catalog_view(&self, project_id: &str) -> Result<CatalogView, StorageError>;
    /// A customer's facts, the project's catalog view and test clock, in one snapshot: what
    /// a CustomerInfo read needs, in one read transaction instead of seven.
    async fn customer_facts(
        &self,
        project_id: &str,
        customer_key: &str,
    ) -> Result<FactsSnapshot, StorageError>;
    /// A customer (by key) as webhook events describe them, with at most `max_aliases`
    /// aliases; `None` for an unknown key.
    async fn event_subject(
        &self,
        project_id: &str,
        customer_key: &str,
        max_aliases: u32,
    ) -> Result<Option<EventSubject>, StorageError>;
    /// The customer an id or alias names with their [`FactsSnapshot`], all from one
    /// snapshot: a CustomerInfo read in one read transaction. `None` for an unknown id.
    async fn customer_snapshot(
        &self,
        project_id: &str,
        id_or_alias: &str,
    ) -> Result<Option<(Customer, FactsSnapshot)>, StorageError>;
    /// How far the project's test-store clock is ahead of real time, in ms.
    async fn test_clock_offset(&self, project_id: &str) -> Result<i64, StorageError>;
    /// Moves the project's test-store clock forward; returns the new offset.
    async fn advance_test_clock(&self, project_id: &str, by_ms: i64) -> Result<i64, StorageError>;
    /// Every project, with its test-clock offset and how far the sweep has looked.
    async fn sweep_targets(&self) -> Result<Vec<SweepTarget>, StorageError>;
    /// The transactions and lifecycle events of every purchase with something ending in
    /// (`after`, `until`]: a subscription period, an extension or a grace period.
    async fn facts_ending_between(
        &self,
        project_id: &str,
        after: UnixMillis,
        until: UnixMillis,
    ) -> Result<(Vec<StoreTransaction>, Vec<LifecycleEvent>), StorageError>;
    /// Notes that the sweep has looked up to `until`; it never moves back.
    async fn mark_swept(&self, project_id: &str, until: UnixMillis) -> Result<(), StorageError>;
}

/// Temporary grants, given for purchases a store could not verify when they were posted, and
/// the test store's simulated outages that cause them.
#[async_trait]
pub trait TemporaryGrantStore: Send + Sync + 'static {
    /// Records a grant with the events it causes, unless its purchase (app and fetch token)
    /// already has one: then nothing is written and the grant first given is returned.
    async fn record_temporary_grant(
        &self,
        project_id: &str,
        grant: &TemporaryGrant,
        events: &[OutboxEvent],
        now: UnixMillis,
    ) -> Result<TemporaryGrant, StorageError>;
    /// The grant given for a posted purchase, if any.
    async fn temporary_grant_for(
        &self,
        app_id: &str,
        fetch_token: &str,
    ) -> Result<Option<TemporaryGrant>, StorageError>;
    /// A customer's grants the store has not answered for yet, oldest first.
    async fn pending_temporary_grants_of(
        &self,
        customer_key: &str,
    ) -> Result<Vec<TemporaryGrant>, StorageError>;
    /// A project's grants the store has not answered for yet, oldest first.
    async fn pending_temporary_grants(
        &self,
        project_id: &str,
    ) -> Result<Vec<TemporaryGrant>, StorageError>;
    /// Settles a pending grant at `settled_at` (project time), in one transaction with what
    /// the store said: the
    /// verified `transaction` and its events (unless the transaction is known), or `None` when
    /// the store refused the purchase. `false` when the grant was settled before (nothing is
    /// written then).
    async fn settle_temporary_grant(
        &self,
        project_id: &str,
        grant_id: &str,
        settled_at: UnixMillis,
        transaction: Option<&StoreTransaction>,
        events: &[OutboxEvent],
        now: UnixMillis,
    ) -> Result<bool, StorageError>;
    /// Starts (`down`) or ends the project's simulated test-store outage; returns since when
    /// the store is down (kept from the first start), `None` once it is up.
    async fn set_test_store_outage(
        &self,
        project_id: &str,
        down: bool,
        now: UnixMillis,
    ) -> Result<Option<UnixMillis>, StorageError>;
    /// Since when the project's test store is down, if it is.
    async fn test_store_outage(&self, project_id: &str)
    -> Result<Option<UnixMillis>, StorageError>;
}

/// A delivery handed to a worker, with everything needed to attempt it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// The delivery.
    pub delivery_id: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The event's id.
    pub event_id: String,
    /// The JSON body to POST.
    pub body: String,
    /// Where to POST it.
    pub url: String,
    /// The `Authorization` header to send, if any.
    pub authorization_header: Option<String>,
    /// The integration's signing key.
    pub signing_secret: String,
}

/// A delivery as the API lists it, with its attempts.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// `dlv…`.
    pub id: String,
    /// The event delivered.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// Where it stands.
    pub status: entitled_core::webhooks::DeliveryStatus,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: UnixMillis,
    /// When it was created.
    pub created_at: UnixMillis,
    /// Every attempt, oldest first: (when, outcome).
    pub attempts: Vec<(UnixMillis, entitled_core::webhooks::AttemptOutcome)>,
}

/// Webhook integrations, the event outbox and deliveries. Events are written with the facts
/// that cause them (see [`PurchaseStore`]) or alone through [`WebhookStore::record_events`];
/// either way each event id is stored once and fanned out once per matching integration.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Creates an integration.
    async fn create_integration(
        &self,
        integration: &WebhookIntegration,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// An integration of a project.
    async fn get_integration(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Option<WebhookIntegration>, StorageError>;
    /// A page of a project's integrations.
    async fn list_integrations(
        &self,
        project_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookIntegration>, StorageError>;
    /// Replaces an integration's settings.
    async fn update_integration(
        &self,
        integration: &WebhookIntegration,
        audit: &AuditEntry,
    ) -> Result<(), StorageError>;
    /// Deletes an integration and its deliveries; false when there was none.
    async fn delete_integration(
        &self,
        project_id: &str,
        id: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StorageError>;
    /// Writes events not tied to a new fact (e.g. TEST, expirations); known ids are skipped.
    async fn record_events(
        &self,
        events: &[OutboxEvent],
        now: UnixMillis,
    ) -> Result<u64, StorageError>;
    /// Claims up to `limit` due deliveries for `lease_ms`, keeping each customer's order and
    /// never handing the same delivery to two workers at once.
    async fn claim_deliveries(
        &self,
        now: UnixMillis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StorageError>;
    /// Records an attempt; `retry_at` schedules the next one, `None` ends a failed delivery.
    async fn finish_attempt(
        &self,
        delivery_id: &str,
        outcome: &entitled_core::webhooks::AttemptOutcome,
        now: UnixMillis,
        retry_at: Option<UnixMillis>,
    ) -> Result<(), StorageError>;
    /// Queues the project's events created in `[from, to]` for this integration again
    /// (deliveries that exist go back to pending; missing ones are created); returns how many.
    async fn redeliver(
        &self,
        integration: &WebhookIntegration,
        from: UnixMillis,
        to: UnixMillis,
        now: UnixMillis,
    ) -> Result<u64, StorageError>;
    /// Records a new job, with its input (e.g. an import's rows), if any.
    async fn create_job(
        &self,
        job: &entitled_core::webhooks::Job,
        input: Option<&str>,
    ) -> Result<(), StorageError>;
    /// Claims the oldest pending job (or one whose holder's lease ran out) for `lease_ms`.
    async fn claim_job(
        &self,
        kinds: &[&str],
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<Option<(entitled_core::webhooks::Job, Option<String>)>, StorageError>;
    /// Saves a job's status and progress, renewing its lease until `lease_until`.
    async fn save_job(
        &self,
        job: &entitled_core::webhooks::Job,
        lease_until: Option<UnixMillis>,
        file: Option<&str>,
    ) -> Result<(), StorageError>;
    /// A finished job's output file.
    async fn job_file(&self, project_id: &str, id: &str) -> Result<Option<String>, StorageError>;
    /// Drops the stored input and output file of every job that finished (succeeded or
    /// failed) before `finished_before`; the job itself, its status and result stay. Returns
    /// how many jobs had something dropped.
    async fn expire_job_files(&self, finished_before: UnixMillis) -> Result<u64, StorageError>;
    /// Updates a job's status, progress and result.
    async fn update_job(&self, job: &entitled_core::webhooks::Job) -> Result<(), StorageError>;
    /// A job of a project.
    async fn get_job(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Option<entitled_core::webhooks::Job>, StorageError>;
    /// A page of an integration's deliveries, newest last.
    async fn list_deliveries(
        &self,
        integration_id: &str,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>, StorageError>;
}

/// Request counters for rate limits shared by several nodes.
#[async_trait]
pub trait RateLimitStore: Send + Sync + 'static {
    /// Counts one request in `bucket`'s window starting at `window_start`; returns the
    /// window's count including it. Windows older than `expired_before` may be dropped.
    async fn count_request(
        &self,
        bucket: &str,
        window_start: i64,
        expired_before: i64,
    ) -> Result<u64, StorageError>;
}

/// The audit log of configuration changes.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// A page of a project's audit log, oldest first.
    async fn list_audit_logs(
        &self,
        project_id: &str,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StorageError>;
}

/// Opens the storage a URL names: `sqlite://path` (or `sqlite::memory:`) or `postgres://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Storage>, StorageError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStorage::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStorage::connect(url).await?))
    } else {
        Err(StorageError::Config(format!(
            "unsupported database URL scheme in {:?}: use sqlite://PATH or postgres://…",
            redact_url(url)
        )))
    }
}

/// A database URL with any password replaced, safe to log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@localhost/db"),
            "postgres://u:***@localhost/db"
        );
        assert_eq!(
            redact_url("postgres://u@localhost/db"),
            "postgres://u@localhost/db"
        );
        assert_eq!(redact_url("sqlite://entitled.db"), "sqlite://entitled.db");
    }
}
