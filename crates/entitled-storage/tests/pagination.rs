//! Property test of cursor pagination (`starting_after` + `limit`) on both backends.
//!
//! A model (the list of live products in creation order) is compared with what walking the
//! pages returns, while products are created and deleted between page requests. Whatever the
//! page size, filter and interleaving, a walk must return every product that exists from its
//! start to its end exactly once, in creation order, never a deleted or non-matching one, and
//! `has_more` must be true exactly when a further page holds items.

use std::collections::HashSet;
use std::sync::Arc;

use entitled_core::{
    Actor, App, AppType, AuditEntry, GeneratedKey, IdKind, KeyKind, Permissions, Product,
    ProductType, Project, UnixMillis, new_id,
};
use entitled_storage::{PageRequest, Storage};
use entitled_testkit::postgres::TestDatabase;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const T0: UnixMillis = UnixMillis(1_790_000_000_000);
/// Apps per case; products belong to one of them and walks may filter by one.
const APPS: usize = 2;

/// A change to the product list.
#[derive(Debug, Clone)]
enum Change {
    /// Creates a product of app `n % APPS`.
    Create(usize),
    /// Deletes the live product at `n % live`, unless it is the walk's current cursor.
    Delete(usize),
}

/// One generated case: the history before the walk, the walk, and changes during it.
#[derive(Debug, Clone)]
struct Case {
    before: Vec<Change>,
    limit: u32,
    filter: Option<usize>,
    /// Applied after the page of the same index (pages beyond the list are ignored).
    between_pages: Vec<Vec<Change>>,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => (0..APPS).prop_map(Change::Create),
        1 => any::<usize>().prop_map(Change::Delete),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(change(), 0..24),
        1u32..=7,
        prop::option::of(0..APPS),
        prop::collection::vec(prop::collection::vec(change(), 0..3), 0..6),
    )
        .prop_map(|(before, limit, filter, between_pages)| Case {
            before,
            limit,
            filter,
            between_pages,
        })
}

/// A project with [`APPS`] apps, the products created so far, and a counter for names.
struct Fixture {
    storage: Arc<dyn Storage>,
    project: Project,
    apps: Vec<App>,
    /// Live products, oldest first: (id, app index).
    live: Vec<(String, usize)>,
    /// Every product ever created, oldest first.
    ever: Vec<String>,
    created: usize,
}

impl Fixture {
    async fn new(storage: Arc<dyn Storage>) -> Self {
        let project = Project {
            id: new_id(IdKind::Project),
            name: "pages".into(),
            transfer_rule: entitled_core::TransferRule::Transfer,
            created_at: T0,
        };
        storage.create_project(&project).await.expect("project");
        let mut apps = Vec::new();
        for n in 0..APPS {
            let app = App {
                id: new_id(IdKind::App),
                project_id: project.id.clone(),
                name: format!("app {n}"),
                app_type: AppType::TestStore,
                bundle_id: None,
                package_name: None,
                stripe_account_id: None,
                credential_names: Vec::new(),
                created_at: T0,
            };
            let generated = GeneratedKey::generate("test_");
            let key = entitled_core::ApiKey {
                id: new_id(IdKind::PublicKey),
                project_id: project.id.clone(),
                app_id: Some(app.id.clone()),
                kind: KeyKind::Public,
                name: "sdk".into(),
                lookup: generated.lookup,
                hash: generated.hash,
                permissions: Permissions::default(),
                created_at: T0,
                revoked_at: None,
            };
            let audit = self_audit(&project);
            storage
                .create_app(&app, None, &key, &audit)
                .await
                .expect("app");
            apps.push(app);
        }
        Fixture {
            storage,
            project,
            apps,
            live: Vec::new(),
            ever: Vec::new(),
            created: 0,
        }
    }

    /// Applies a change, leaving `protected` (the current cursor) in place.
    async fn apply(&mut self, change: &Change, protected: Option<&str>) {
        match *change {
            Change::Create(app) => {
                let app = app % APPS;
                self.created += 1;
                let product = Product {
                    id: new_id(IdKind::Product),
                    project_id: self.project.id.clone(),
                    app_id: self.apps[app].id.clone(),
                    store_identifier: format!("product_{}", self.created),
                    product_type: ProductType::Consumable,
                    display_name: None,
                    subscription_duration: None,
                    test_store_price: None,
                    created_at: T0,
                };
                self.storage
                    .create_product(&product, &self_audit(&self.project))
                    .await
                    .expect("create product");
                self.ever.push(product.id.clone());
                self.live.push((product.id, app));
            }
            Change::Delete(n) => {
                if self.live.is_empty() {
                    return;
                }
                let index = n % self.live.len();
                if protected == Some(self.live[index].0.as_str()) {
                    return;
                }
                let (id, _) = self.live.remove(index);
                self.storage
                    .delete_product(&self.project.id, &id, false, &self_audit(&self.project))
                    .await
                    .expect("delete product");
            }
        }
    }

    fn matching(&self, filter: Option<usize>) -> Vec<String> {
        self.live
            .iter()
            .filter(|(_, app)| filter.is_none_or(|f| f == *app))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

fn self_audit(project: &Project) -> AuditEntry {
    AuditEntry::new(
        &project.id,
        "product",
        "target",
        "changed",
        &Actor::CommandLine,
        T0,
        serde_json::json!({}),
    )
}

/// Runs one case on a fresh project of `storage`.
async fn check(storage: Arc<dyn Storage>, case: Case) -> Result<(), TestCaseError> {
    let mut fixture = Fixture::new(storage.clone()).await;
    for change in &case.before {
        fixture.apply(change, None).await;
    }
    let at_start: Vec<String> = fixture.matching(case.filter);
    let app_filter = case.filter.map(|f| fixture.apps[f].id.clone());

    let mut seen: Vec<String> = Vec::new();
    let mut deleted_during: HashSet<String> = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0usize;
    // Deleting what follows the cursor may leave a promised page empty; nothing else may.
    let mut deleted_since_last_page = false;
    loop {
        let page = storage
            .list_products(
                &fixture.project.id,
                app_filter.as_deref(),
                &PageRequest {
                    starting_after: cursor.clone(),
                    limit: case.limit,
                },
            )
            .await
            .map_err(|err| TestCaseError::fail(format!("page {pages}: {err}")))?;
        prop_assert!(page.items.len() <= case.limit as usize);
        if page.has_more {
            prop_assert_eq!(
                page.items.len(),
                case.limit as usize,
                "a short page claims more"
            );
        }
        if pages > 0 && !deleted_since_last_page {
            prop_assert!(!page.items.is_empty(), "a cursor led to an empty page");
        }
        for product in &page.items {
            if let Some(filter) = &app_filter {
                prop_assert_eq!(
                    &product.app_id,
                    filter,
                    "the filter let another app's product through"
                );
            }
            prop_assert!(!seen.contains(&product.id), "{} returned twice", product.id);
            seen.push(product.id.clone());
        }
        if !page.has_more {
            break;
        }
        cursor = page.items.last().map(|p| p.id.clone());
        deleted_since_last_page = false;
        if let Some(changes) = case.between_pages.get(pages) {
            for change in changes {
                let before: HashSet<String> =
                    fixture.live.iter().map(|(id, _)| id.clone()).collect();
                fixture.apply(change, cursor.as_deref()).await;
                let after: HashSet<String> =
                    fixture.live.iter().map(|(id, _)| id.clone()).collect();
                let deleted: Vec<String> = before.difference(&after).cloned().collect();
                deleted_since_last_page |= !deleted.is_empty();
                deleted_during.extend(deleted);
            }
        }
        pages += 1;
        prop_assert!(pages <= 64, "the walk does not end");
    }

    // Creation order: `seen` is a subsequence of every product ever created, in order, and
    // everything live at the end that matches (old or new) was seen exactly once.
    let in_creation_order: Vec<String> = fixture
        .ever
        .iter()
        .filter(|id| seen.contains(id))
        .cloned()
        .collect();
    prop_assert_eq!(&seen, &in_creation_order, "pages out of creation order");
    let at_end = fixture.matching(case.filter);
    for id in &at_end {
        prop_assert!(seen.contains(id), "{id} exists throughout but was skipped");
    }
    for id in &seen {
        prop_assert!(
            at_end.contains(id) || deleted_during.contains(id),
            "{id} was returned but never existed in the walk"
        );
    }
    for id in &at_start {
        prop_assert!(
            seen.contains(id) || deleted_during.contains(id),
            "{id} existed at the start, was not deleted, and was skipped"
        );
    }
    Ok(())
}

fn run_cases(storage: Arc<dyn Storage>, runtime: &tokio::runtime::Runtime) {
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        runtime.block_on(check(storage.clone(), case))
    });
    if let Err(err) = result {
        panic!("{err}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn cursor_pages_walk_every_item_once_on_sqlite() {
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("pages.db").display());
    let storage = runtime.block_on(async {
        let storage = entitled_storage::open(&url).await.expect("open sqlite");
        storage.migrate().await.expect("migrate");
        storage
    });
    run_cases(storage, &runtime);
}

#[test]
fn cursor_pages_walk_every_item_once_on_postgres() {
    let runtime = runtime();
    let Some((database, storage)) = runtime.block_on(async {
        let database = TestDatabase::create().await?;
        let storage = entitled_storage::open(database.url())
            .await
            .expect("open postgres");
        storage.migrate().await.expect("migrate");
        Some((database, storage))
    }) else {
        return;
    };
    run_cases(storage, &runtime);
    drop(database);
}
