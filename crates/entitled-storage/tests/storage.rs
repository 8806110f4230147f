//! The storage suite: every case runs against SQLite and against PostgreSQL.

use std::sync::Arc;

use entitled_core::keys::SECRET_KEY_PREFIX;
use entitled_core::{
    Actor, ApiKey, App, AppType, AuditEntry, GeneratedKey, IdKind, KeyKind, Permissions, Project,
    UnixMillis, new_id,
};
use entitled_storage::{BootstrapSeed, PageRequest, Storage, StorageError, Visit};
use entitled_testkit::postgres::TestDatabase;

/// A migrated storage under test, its URL, and whatever must live as long as it.
struct Subject {
    storage: Arc<dyn Storage>,
    url: String,
    _backing: Box<dyn std::any::Any>,
}

async fn sqlite() -> Subject {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let storage = entitled_storage::open(&url).await.expect("open sqlite");
    storage.migrate().await.expect("migrate sqlite");
    Subject {
        storage,
        url,
        _backing: Box::new(dir),
    }
}

async fn postgres() -> Option<Subject> {
    let database = TestDatabase::create().await?;
    let url = database.url().to_string();
    let storage = entitled_storage::open(&url).await.expect("open postgres");
    storage.migrate().await.expect("migrate postgres");
    Some(Subject {
        storage,
        url,
        _backing: Box::new(database),
    })
}

/// Generates `mod sqlite { #[tokio::test] fn case }` and `mod postgres { … }` for each case.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $case() {
                let subject = super::sqlite().await;
                super::$case(&subject).await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $case() {
                let Some(subject) = super::postgres().await else { return };
                super::$case(&subject).await;
            })*
        }
    };
}

on_both_backends!(
    migrations_are_idempotent,
    bootstrap_happens_once_even_when_raced,
    projects_apps_and_keys_round_trip,
    lists_page_in_creation_order,
    unknown_cursor_is_reported,
    deleting_an_app_removes_its_keys,
    revoking_is_once_and_scoped_to_the_project,
    duplicate_ids_conflict,
    corrupt_rows_are_internal_errors,
    app_updates_keep_sealed_credentials_apart,
    mutations_and_their_audit_entries_commit_together,
    a_batch_of_visits_keeps_each_customers_latest,
    temporary_grants_are_given_once_settled_once_and_follow_their_customer,
    finished_jobs_lose_their_files_after_retention_and_nothing_else,
    a_purchase_is_recorded_once_with_its_deliveries,
    a_customers_snapshot_agrees_with_the_single_reads,
    the_offering_tree_agrees_with_the_single_reads_and_follows_changes,
);

const T0: UnixMillis = UnixMillis(1_790_000_000_000);

fn project(name: &str) -> Project {
    Project {
        id: new_id(IdKind::Project),
        name: name.to_string(),
        transfer_rule: entitled_core::TransferRule::Transfer,
        created_at: T0,
    }
}

fn audit(project: &Project) -> AuditEntry {
    AuditEntry::new(
        &project.id,
        "test",
        "target",
        "changed",
        &Actor::CommandLine,
        T0,
        serde_json::json!({"n": 1}),
    )
}

fn app(project: &Project, name: &str) -> App {
    App {
        id: new_id(IdKind::App),
        project_id: project.id.clone(),
        name: name.to_string(),
        app_type: AppType::AppStore,
        bundle_id: Some("com.example.app".into()),
        package_name: None,
        stripe_account_id: None,
        credential_names: Vec::new(),
        created_at: T0,
    }
}

fn key(project: &Project, app: Option<&App>) -> (ApiKey, String) {
    let (kind, prefix, id_kind) = match app {
        Some(_) => (KeyKind::Public, "appl_", IdKind::PublicKey),
        None => (KeyKind::Secret, SECRET_KEY_PREFIX, IdKind::ApiKey),
    };
    let generated = GeneratedKey::generate(prefix);
    let record = ApiKey {
        id: new_id(id_kind),
        project_id: project.id.clone(),
        app_id: app.map(|a| a.id.clone()),
        kind,
        name: "k".into(),
        lookup: generated.lookup,
        hash: generated.hash,
        permissions: if app.is_some() {
            Permissions::default()
        } else {
            Permissions::read_only()
        },
        created_at: T0,
        revoked_at: None,
    };
    (record, generated.plaintext)
}

async fn migrations_are_idempotent(subject: &Subject) {
    let storage = subject.storage.clone();
    storage.migrate().await.expect("second migrate is a no-op");
    storage.ping().await.expect("ping");
}

async fn bootstrap_happens_once_even_when_raced(subject: &Subject) {
    let storage = subject.storage.clone();
    let mut attempts = Vec::new();
    for _ in 0..8 {
        let storage = storage.clone();
        attempts.push(tokio::spawn(async move {
            let project = project("default");
            let app = app(&project, "Test Store");
            let (public_key, _) = key(&project, Some(&app));
            let (secret_key, _) = key(&project, None);
            let seed = BootstrapSeed {
                project,
                app,
                public_key,
                secret_key,
            };
            storage
                .bootstrap(&seed)
                .await
                .map(|created| (created, seed))
        }));
    }
    let mut winners = Vec::new();
    for attempt in attempts {
        let (created, seed) = attempt.await.expect("task").expect("bootstrap");
        if created {
            winners.push(seed);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one start seeds the database");
    let seed = &winners[0];
    assert_eq!(
        storage.get_project(&seed.project.id).await.unwrap(),
        Some(seed.project.clone())
    );
    let keys = storage
        .find_keys_by_lookup(&seed.secret_key.lookup)
        .await
        .unwrap();
    assert_eq!(keys, vec![seed.secret_key.clone()]);
}

async fn projects_apps_and_keys_round_trip(subject: &Subject) {
    let storage = subject.storage.clone();
    let project = project("Weather");
    storage.create_project(&project).await.unwrap();
    assert_eq!(
        storage.get_project(&project.id).await.unwrap(),
        Some(project.clone())
    );
    assert_eq!(storage.get_project("projmissing").await.unwrap(), None);

    let app = app(&project, "iOS");
    let (public_key, plaintext) = key(&project, Some(&app));
    storage
        .create_app(&app, None, &public_key, &audit(&project))
        .await
        .unwrap();
    assert_eq!(
        storage.get_app(&project.id, &app.id).await.unwrap(),
        Some(app.clone())
    );
    assert_eq!(storage.get_app("projother", &app.id).await.unwrap(), None);

    let found = storage
        .find_keys_by_lookup(&entitled_core::lookup_of(&plaintext).unwrap())
        .await
        .unwrap();
    assert_eq!(found, vec![public_key.clone()]);
    assert!(entitled_core::verify_key_hash(&plaintext, &found[0].hash));

    let (secret, _) = key(&project, None);
    storage
        .create_api_key(&secret, &audit(&project))
        .await
        .unwrap();
    assert_eq!(
        storage.get_api_key(&project.id, &secret.id).await.unwrap(),
        Some(secret.clone())
    );
    let secrets = storage
        .list_secret_keys(
            &project.id,
            &PageRequest {
                starting_after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        secrets.items,
        vec![secret],
        "public keys are not listed as secret keys"
    );
}

async fn lists_page_in_creation_order(subject: &Subject) {
    let storage = subject.storage.clone();
    let project = project("P");
    storage.create_project(&project).await.unwrap();
    let mut created = Vec::new();
    for i in 0..25 {
        let app = app(&project, &format!("app {i}"));
        let (k, _) = key(&project, Some(&app));
        storage
            .create_app(&app, None, &k, &audit(&project))
            .await
            .unwrap();
        created.push(app.id);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = storage
            .list_apps(
                &project.id,
                &PageRequest {
                    starting_after: cursor.clone(),
                    limit: 10,
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|a| a.id.clone()));
        // An insert between pages lands after everything seen so far.
        if seen.len() == 10 {
            let late = app(&project, "late");
            let (k, _) = key(&project, Some(&late));
            storage
                .create_app(&late, None, &k, &audit(&project))
                .await
                .unwrap();
            created.push(late.id);
        }
        if !page.has_more {
            break;
        }
        cursor = page.items.last().map(|a| a.id.clone());
    }
    assert_eq!(seen, created);
}

async fn unknown_cursor_is_reported(subject: &Subject) {
    let storage = subject.storage.clone();
    let project = project("P");
    storage.create_project(&project).await.unwrap();
    let err = storage
        .list_apps(
            &project.id,
            &PageRequest {
                starting_after: Some("appnope".into()),
                limit: 5,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::UnknownCursor), "{err:?}");
}

async fn deleting_an_app_removes_its_keys(subject: &Subject) {
    let storage = subject.storage.clone();
    let project = project("P");
    storage.create_project(&project).await.unwrap();
    let app = app(&project, "A");
    let (k, _) = key(&project, Some(&app));
    storage
        .create_app(&app, None, &k, &audit(&project))
        .await
        .unwrap();
    assert!(
        !storage
            .delete_app("projother", &app.id, &audit(&project))
            .await
            .unwrap()
    );
    assert!(
        storage
            .delete_app(&project.id, &app.id, &audit(&project))
            .await
            .unwrap()
    );
    assert!(
        !storage
            .delete_app(&project.id, &app.id, &audit(&project))
            .await
            .unwrap()
    );
    assert_eq!(storage.get_app(&project.id, &app.id).await.unwrap(), None);
    assert!(
        storage
            .find_keys_by_lookup(&k.lookup)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn revoking_is_once_and_scoped_to_the_project(subject: &Subject) {
    let storage = subject.storage.clone();
    let project = project("P");
    storage.create_project(&project).await.unwrap();
    let (k, _) = key(&project, None);
    storage.create_api_key(&k, &audit(&project)).await.unwrap();
    let later = UnixMillis(T0.0 + 5);
    assert!(
        !storage
            .revoke_api_key("projother", &k.id, later, &audit(&project))
            .await
            .unwrap()
    );
    assert!(
        storage
            .revoke_api_key(&project.id, &k.id, later, &audit(&project))
            .await
            .unwrap()
    );
    assert!(
        !storage
            .revoke_api_key(&project.id, &k.id, later, &audit(&project))
            .await
            .unwrap()
    );
    let stored = storage
        .get_api_key(&project.id, &k.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_at, Some(later));
    assert!(!stored.is_active());
}

async fn duplicate_ids_conflict(subject: &Subject) {
    let storage = subject.storage.clone();
    let project = project("P");
    storage.create_project(&project).await.unwrap();
    let err = storage.create_project(&project).await.unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    // A failed create_app writes nothing: the app insert conflicts, its key is not kept.
    let app = app(&project, "A");
    let (k1, _) = key(&project, Some(&app));
    storage
        .create_app(&app, None, &k1, &audit(&project))
        .await
        .unwrap();
    let (k2, _) = key(&project, Some(&app));
    let err = storage
        .create_app(&app, None, &k2, &audit(&project))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    assert!(
        storage
            .find_keys_by_lookup(&k2.lookup)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn corrupt_rows_are_internal_errors(subject: &Subject) {
    let storage = subject.storage.clone();
    let project = project("P");
    storage.create_project(&project).await.unwrap();
    let app = app(&project, "A");
    let (k, _) = key(&project, Some(&app));
    storage
        .create_app(&app, None, &k, &audit(&project))
        .await
        .unwrap();
    entitled_testkit::raw::execute(
        &subject.url,
        "UPDATE apps SET app_type = 'floppy_disk_store'",
    )
    .await;
    let err = storage.get_app(&project.id, &app.id).await.unwrap_err();
    assert!(matches!(err, StorageError::Internal(_)), "{err:?}");
    entitled_testkit::raw::execute(
        &subject.url,
        "UPDATE api_keys SET permissions = 'everything'",
    )
    .await;
    let err = storage.find_keys_by_lookup(&k.lookup).await.unwrap_err();
    assert!(matches!(err, StorageError::Internal(_)), "{err:?}");
}

async fn app_updates_keep_sealed_credentials_apart(subject: &Subject) {
    let storage = subject.storage.clone();
    let project = project("P");
    storage.create_project(&project).await.unwrap();
    let mut app = app(&project, "A");
    app.credential_names = vec!["app_store.shared_secret".into()];
    let (k, _) = key(&project, Some(&app));
    storage
        .create_app(&app, Some("sealed-1"), &k, &audit(&project))
        .await
        .unwrap();
    assert_eq!(
        storage
            .app_credentials(&project.id, &app.id)
            .await
            .unwrap()
            .as_deref(),
        Some("sealed-1")
    );
    app.name = "Renamed".into();
    app.credential_names
        .push("app_store.subscription_key_id".into());
    storage
        .update_app(&app, Some("sealed-2"), &audit(&project))
        .await
        .unwrap();
    let stored = storage
        .get_app(&project.id, &app.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, app);
    assert_eq!(
        storage
            .app_credentials(&project.id, &app.id)
            .await
            .unwrap()
            .as_deref(),
        Some("sealed-2")
    );
    let mut stranger = app.clone();
    stranger.project_id = "projother".into();
    let err = storage
        .update_app(&stranger, None, &audit(&project))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound("app")), "{err:?}");
    let err = storage
        .app_credentials("projother", &app.id)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound("app")), "{err:?}");
}

async fn mutations_and_their_audit_entries_commit_together(subject: &Subject) {
    let storage = subject.storage.clone();
    let project = project("P");
    storage.create_project(&project).await.unwrap();
    let app = app(&project, "A");
    let (k1, _) = key(&project, Some(&app));
    storage
        .create_app(&app, None, &k1, &audit(&project))
        .await
        .unwrap();
    // A create that conflicts writes no audit entry either.
    let (k2, _) = key(&project, Some(&app));
    assert!(
        storage
            .create_app(&app, None, &k2, &audit(&project))
            .await
            .is_err()
    );
    // Deleting nothing records nothing.
    assert!(
        !storage
            .delete_app(&project.id, "appnope", &audit(&project))
            .await
            .unwrap()
    );
    let page = PageRequest {
        starting_after: None,
        limit: 10,
    };
    let log = storage.list_audit_logs(&project.id, &page).await.unwrap();
    assert_eq!(log.items.len(), 1);
    assert_eq!(log.items[0].additional_data, serde_json::json!({"n": 1}));
    assert_eq!(log.items[0].actor, Actor::CommandLine);
}

fn customer(project: &Project, id: &str) -> entitled_core::Customer {
    entitled_core::Customer {
        last_seen_at: Some(T0),
        last_seen_app_version: Some("1.0".to_string()),
        ..entitled_core::Customer::first_seen(
            new_id(IdKind::CustomerKey),
            project.id.clone(),
            id.to_string(),
            T0,
        )
    }
}

async fn a_batch_of_visits_keeps_each_customers_latest(subject: &Subject) {
    let storage = &subject.storage;
    let project = project("visits");
    storage.create_project(&project).await.unwrap();
    let (a, b, untouched) = (
        customer(&project, "a"),
        customer(&project, "b"),
        customer(&project, "c"),
    );
    for c in [&a, &b, &untouched] {
        storage.create_customer(c, &[]).await.unwrap();
    }
    let visit = |c: &entitled_core::Customer, at: i64, platform: Option<&str>| Visit {
        customer_key: c.key.clone(),
        seen_at: UnixMillis(T0.0 + at),
        app_version: None,
        platform: platform.map(str::to_string),
        platform_version: Some(format!("v{at}")),
    };
    storage
        .touch_customers(&[
            visit(&a, 30, Some("iOS")),
            visit(&b, 10, None),
            // Arrives later in the batch but happened earlier: a's visit at 30 wins.
            visit(&a, 20, Some("android")),
        ])
        .await
        .unwrap();
    storage.touch_customers(&[]).await.unwrap();
    let seen = |id: &'static str| {
        let storage = storage.clone();
        let project_id = project.id.clone();
        async move {
            storage
                .find_customer(&project_id, id)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let a = seen("a").await;
    assert_eq!(a.last_seen_at, Some(UnixMillis(T0.0 + 30)));
    assert_eq!(a.last_seen_platform.as_deref(), Some("iOS"));
    assert_eq!(a.last_seen_platform_version.as_deref(), Some("v30"));
    // What a visit does not report stays as it was.
    assert_eq!(a.last_seen_app_version.as_deref(), Some("1.0"));
    let b = seen("b").await;
    assert_eq!(b.last_seen_at, Some(UnixMillis(T0.0 + 10)));
    assert_eq!(b.last_seen_platform, None);
    assert_eq!(seen("c").await.last_seen_at, Some(T0));
}

fn temporary_grant(
    customer: &entitled_core::Customer,
    token: &str,
) -> entitled_core::purchases::TemporaryGrant {
    use entitled_core::purchases::{Environment, Money, Store, TemporaryGrant};
    TemporaryGrant {
        id: new_id(IdKind::TemporaryGrant),
        customer_key: customer.key.clone(),
        app_id: "app_x".to_string(),
        store: Store::TestStore,
        environment: Environment::Sandbox,
        fetch_token: token.to_string(),
        product_id: "pro_monthly".to_string(),
        price: Some(Money {
            amount_micros: 4_990_000,
            currency: "EUR".to_string(),
        }),
        granted_at: T0,
        expires_at: UnixMillis(T0.0 + 86_400_000),
        settled_at: None,
    }
}

async fn temporary_grants_are_given_once_settled_once_and_follow_their_customer(subject: &Subject) {
    use entitled_core::purchases::StoreTransaction;
    let storage = &subject.storage;
    let project = project("outages");
    storage.create_project(&project).await.unwrap();

    assert_eq!(storage.test_store_outage(&project.id).await.unwrap(), None);
    let since = storage
        .set_test_store_outage(&project.id, true, T0)
        .await
        .unwrap();
    assert_eq!(since, Some(T0));
    let later = UnixMillis(T0.0 + 5);
    assert_eq!(
        storage
            .set_test_store_outage(&project.id, true, later)
            .await
            .unwrap(),
        Some(T0),
        "an outage keeps its start"
    );
    assert_eq!(
        storage.test_store_outage(&project.id).await.unwrap(),
        Some(T0)
    );
    let targets = storage.sweep_targets().await.unwrap();
    assert!(
        targets
            .iter()
            .any(|t| t.project_id == project.id && t.test_store_down)
    );

    let (a, b) = (customer(&project, "a"), customer(&project, "b"));
    storage.create_customer(&a, &[]).await.unwrap();
    storage.create_customer(&b, &[]).await.unwrap();
    let first = temporary_grant(&a, "tok_a");
    assert_eq!(
        storage
            .record_temporary_grant(&project.id, &first, &[], T0)
            .await
            .unwrap(),
        first
    );
    let repeat = temporary_grant(&a, "tok_a");
    assert_eq!(
        storage
            .record_temporary_grant(&project.id, &repeat, &[], later)
            .await
            .unwrap(),
        first,
        "the purchase keeps its first grant"
    );
    assert_eq!(
        storage.pending_temporary_grants_of(&a.key).await.unwrap(),
        vec![first.clone()]
    );

    let transaction = StoreTransaction {
        price: None,
        ..purchase(&a, "tok_a")
    };
    let settle = || {
        storage.settle_temporary_grant(
            &project.id,
            &first.id,
            later,
            Some(&transaction),
            &[],
            later,
        )
    };
    assert!(settle().await.unwrap());
    assert!(!settle().await.unwrap(), "settled once");
    assert_eq!(storage.transactions_of(&a.key).await.unwrap().len(), 1);
    assert!(
        storage
            .pending_temporary_grants_of(&a.key)
            .await
            .unwrap()
            .is_empty()
    );
    let settled = storage
        .temporary_grant_for("app_x", "tok_a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settled.settled_at, Some(later));

    // A grant of a customer merged into another follows it; deleting that customer removes it.
    let of_b = temporary_grant(&b, "tok_b");
    storage
        .record_temporary_grant(&project.id, &of_b, &[], T0)
        .await
        .unwrap();
    assert_eq!(
        storage
            .pending_temporary_grants(&project.id)
            .await
            .unwrap()
            .len(),
        1
    );
    storage
        .merge_customers(&b.key, &a.key, later)
        .await
        .unwrap();
    let moved = storage.pending_temporary_grants_of(&a.key).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].fetch_token, "tok_b");
    // The merged-away id now names the customer it was merged into (through its alias), and
    // the remaining customer's own id still names it.
    for id in [&b.id, &a.id] {
        let found = storage.find_customer(&project.id, id).await.unwrap();
        assert_eq!(found.map(|c| c.key), Some(a.key.clone()), "{id}");
        let snapshot = storage.customer_snapshot(&project.id, id).await.unwrap();
        assert_eq!(snapshot.map(|(c, _)| c.key), Some(a.key.clone()), "{id}");
    }
    assert!(storage.delete_customer(&a.key).await.unwrap());
    assert_eq!(
        storage.temporary_grant_for("app_x", "tok_b").await.unwrap(),
        None
    );

    assert_eq!(
        storage
            .set_test_store_outage(&project.id, false, later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(storage.test_store_outage(&project.id).await.unwrap(), None);
}

async fn finished_jobs_lose_their_files_after_retention_and_nothing_else(subject: &Subject) {
    use entitled_core::webhooks::Job;
    let storage = &subject.storage;
    let project = project("jobs");
    storage.create_project(&project).await.unwrap();
    let job = |status: &str, updated_at: i64| Job {
        id: new_id(IdKind::Job),
        project_id: project.id.clone(),
        kind: "customer_export".to_string(),
        status: status.to_string(),
        progress: 100,
        params: serde_json::json!({"format": "csv"}),
        result: Some(serde_json::json!({"customers": 1})),
        created_at: T0,
        updated_at: UnixMillis(updated_at),
    };
    let old_done = job("succeeded", T0.0);
    let old_failed = job("failed", T0.0);
    let old_running = job("running", T0.0);
    let recent_done = job("succeeded", T0.0 + 10_000);
    for j in [&old_done, &old_failed, &old_running, &recent_done] {
        storage.create_job(j, Some("input")).await.unwrap();
        storage.save_job(j, None, Some("file")).await.unwrap();
    }
    let cutoff = UnixMillis(T0.0 + 5_000);
    assert_eq!(storage.expire_job_files(cutoff).await.unwrap(), 2);
    assert_eq!(storage.expire_job_files(cutoff).await.unwrap(), 0, "once");
    let file = |j: &Job| {
        let (storage, id, project_id) = (storage.clone(), j.id.clone(), project.id.clone());
        async move { storage.job_file(&project_id, &id).await.unwrap() }
    };
    assert_eq!(file(&old_done).await, None);
    assert_eq!(file(&old_failed).await, None);
    assert_eq!(
        file(&old_running).await.as_deref(),
        Some("file"),
        "still running"
    );
    assert_eq!(
        file(&recent_done).await.as_deref(),
        Some("file"),
        "within retention"
    );
    let kept = storage
        .get_job(&project.id, &old_done.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.status, "succeeded");
    assert_eq!(kept.result, old_done.result, "the job and its result stay");
}

fn purchase(
    customer: &entitled_core::Customer,
    store_transaction_id: &str,
) -> entitled_core::purchases::StoreTransaction {
    use entitled_core::purchases::{Environment, Money, Ownership, PeriodType, Store};
    entitled_core::purchases::StoreTransaction {
        id: new_id(IdKind::Transaction),
        customer_key: customer.key.clone(),
        app_id: "app_x".to_string(),
        store: Store::TestStore,
        store_transaction_id: store_transaction_id.to_string(),
        original_transaction_id: store_transaction_id.to_string(),
        product_id: "pro_monthly".to_string(),
        product_plan_id: None,
        purchased_at: T0,
        expires_at: Some(UnixMillis(T0.0 + 30 * 86_400_000)),
        period_type: PeriodType::Normal,
        environment: Environment::Sandbox,
        ownership: Ownership::Purchased,
        price: Some(Money {
            amount_micros: 4_990_000,
            currency: "USD".to_string(),
        }),
        is_subscription: true,
    }
}

fn outbox_event(
    project: &Project,
    customer: &entitled_core::Customer,
    id: &str,
) -> entitled_core::webhooks::OutboxEvent {
    entitled_core::webhooks::OutboxEvent {
        id: id.to_string(),
        project_id: project.id.clone(),
        customer_key: Some(customer.key.clone()),
        event_type: "INITIAL_PURCHASE".to_string(),
        environment: entitled_core::purchases::Environment::Sandbox,
        app_id: Some("app_x".to_string()),
        body: serde_json::json!({"api_version": "1.0", "event": {"id": id}}),
        created_at: T0,
        only_to: None,
    }
}

fn integration(
    project: &Project,
    event_types: Option<Vec<String>>,
) -> entitled_core::webhooks::WebhookIntegration {
    entitled_core::webhooks::WebhookIntegration {
        id: new_id(IdKind::WebhookIntegration),
        project_id: project.id.clone(),
        name: "hooks".to_string(),
        url: "http://127.0.0.1:9/hooks".to_string(),
        authorization_header: None,
        environment: None,
        event_types,
        app_id: None,
        signing_secret: "whsec_test".to_string(),
        created_at: T0,
    }
}

/// `record_transaction` (on SQLite, the synchronous writer's path): a new purchase is
/// written with its outbox event and one delivery per integration that wants it; posted
/// again, nothing is written and the stored transaction comes back.
async fn a_purchase_is_recorded_once_with_its_deliveries(subject: &Subject) {
    use entitled_storage::Recorded;
    let storage = &subject.storage;
    let project = project("purchases");
    storage.create_project(&project).await.unwrap();
    let buyer = customer(&project, "buyer");
    storage.create_customer(&buyer, &[]).await.unwrap();
    let wants_all = integration(&project, None);
    let wants_other = integration(&project, Some(vec!["renewal".to_string()]));
    for i in [&wants_all, &wants_other] {
        storage
            .create_integration(i, &audit(&project))
            .await
            .unwrap();
    }
    let first = purchase(&buyer, "token-1");
    let event = outbox_event(&project, &buyer, "evt_initial_1");
    let recorded = storage
        .record_transaction(&project.id, &first, std::slice::from_ref(&event), T0)
        .await
        .unwrap();
    assert_eq!(recorded, Recorded::New);
    let repeat = entitled_core::purchases::StoreTransaction {
        id: new_id(IdKind::Transaction),
        ..first.clone()
    };
    let again = storage
        .record_transaction(
            &project.id,
            &repeat,
            &[outbox_event(&project, &buyer, "evt_other")],
            T0,
        )
        .await
        .unwrap();
    assert_eq!(again, Recorded::Known(Box::new(first.clone())));
    assert_eq!(
        storage.transactions_of(&buyer.key).await.unwrap(),
        vec![first]
    );
    let all = PageRequest {
        starting_after: None,
        limit: 100,
    };
    let delivered = storage
        .list_deliveries(&wants_all.id, &all)
        .await
        .unwrap()
        .items;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].event_id, event.id);
    let filtered = storage
        .list_deliveries(&wants_other.id, &all)
        .await
        .unwrap()
        .items;
    assert!(filtered.is_empty(), "{filtered:?}");
}

/// `customer_snapshot` and `customer_facts` read what the single reads read (facts,
/// catalog view, test clock), and nothing for an unknown id.
/// A new entitlement of `project` named `lookup_key`, unlocked by the product `product_id`.
async fn entitlement_unlocking(
    storage: &dyn Storage,
    project: &Project,
    lookup_key: &str,
    product_id: &str,
) -> entitled_core::Entitlement {
    let entitlement = entitled_core::Entitlement {
        id: new_id(IdKind::Entitlement),
        project_id: project.id.clone(),
        lookup_key: lookup_key.to_string(),
        display_name: lookup_key.to_uppercase(),
        created_at: T0,
    };
    storage
        .create_entitlement(&entitlement, &audit(project))
        .await
        .unwrap();
    storage
        .attach_entitlement_products(
            &project.id,
            &entitlement.id,
            &[product_id.to_string()],
            T0,
            &audit(project),
        )
        .await
        .unwrap();
    entitlement
}

async fn a_customers_snapshot_agrees_with_the_single_reads(subject: &Subject) {
    use entitled_core::purchases::{LifecycleEvent, LifecycleKind, Store};
    let storage = &subject.storage;
    let (project, app) = project_with_app(storage.as_ref(), "snapshots").await;
    let product = product_of(storage.as_ref(), &project, &app, "pro_monthly").await;
    let pro = entitlement_unlocking(storage.as_ref(), &project, "pro", &product.id).await;
    let buyer = customer(&project, "buyer");
    let bystander = customer(&project, "bystander");
    for c in [&buyer, &bystander] {
        storage.create_customer(c, &[]).await.unwrap();
    }
    // b-2 renews once (same original): its purchase's events must still be read once each.
    let mut renewal = purchase(&buyer, "b-2r");
    renewal.original_transaction_id = "b-2".to_string();
    for transaction in [
        purchase(&buyer, "b-1"),
        purchase(&buyer, "b-2"),
        renewal,
        purchase(&bystander, "o-1"),
    ] {
        storage
            .record_transaction(&project.id, &transaction, &[], T0)
            .await
            .unwrap();
    }
    let event = |original: &str, kind, at| LifecycleEvent {
        id: new_id(IdKind::LifecycleEvent),
        store: Store::TestStore,
        original_transaction_id: original.to_string(),
        kind,
        occurred_at: UnixMillis(T0.0 + at),
    };
    let cancelled = event("b-2", LifecycleKind::Cancelled, 1_000);
    let bystanders = event("o-1", LifecycleKind::Cancelled, 1_500);
    let uncancelled = event("b-2", LifecycleKind::Uncancelled, 2_000);
    for recorded in [&cancelled, &bystanders, &uncancelled] {
        storage
            .add_lifecycle_event(&project.id, recorded, &[], T0)
            .await
            .unwrap();
    }
    let grant = entitled_core::PromotionalGrant {
        id: new_id(IdKind::Grant),
        customer_key: buyer.key.clone(),
        entitlement_id: pro.id.clone(),
        starts_at: T0,
        expires_at: None,
        revoked_at: None,
    };
    storage.add_grant(&grant, &[], T0).await.unwrap();
    storage
        .record_temporary_grant(&project.id, &temporary_grant(&buyer, "t-1"), &[], T0)
        .await
        .unwrap();
    storage
        .advance_test_clock(&project.id, 5_000)
        .await
        .unwrap();

    let (found, snapshot) = storage
        .customer_snapshot(&project.id, "buyer")
        .await
        .unwrap()
        .expect("a known customer");
    assert_eq!(found.key, buyer.key);
    let by_key = storage
        .customer_facts(&project.id, &buyer.key)
        .await
        .unwrap();
    for read in [&snapshot, &by_key] {
        assert_eq!(
            read.transactions,
            storage.transactions_of(&buyer.key).await.unwrap()
        );
        assert_eq!(read.transactions.len(), 3);
        assert_eq!(read.events, vec![cancelled.clone(), uncancelled.clone()]);
        assert_eq!(read.grants, vec![grant.clone()]);
        assert_eq!(
            read.temporary,
            storage
                .pending_temporary_grants_of(&buyer.key)
                .await
                .unwrap()
        );
        assert_eq!(read.temporary.len(), 1);
        assert_eq!(
            read.catalog,
            storage.catalog_view(&project.id).await.unwrap()
        );
        assert_eq!(
            read.catalog.entitlements_by_product.get("pro_monthly"),
            Some(&vec!["pro".to_string()])
        );
        assert_eq!(read.clock_offset_ms, 5_000);
    }
    assert_eq!(
        storage
            .lifecycle_events_of(&project.id, &buyer.key)
            .await
            .unwrap(),
        vec![cancelled.clone(), uncancelled.clone()]
    );
    // A catalog change shows in the next read (SQLite's readers keep the catalog they read
    // last until something is committed).
    let gold = entitlement_unlocking(storage.as_ref(), &project, "gold", &product.id).await;
    let (_, after) = storage
        .customer_snapshot(&project.id, "buyer")
        .await
        .unwrap()
        .expect("a known customer");
    assert_eq!(
        after.catalog.entitlements_by_product.get("pro_monthly"),
        Some(&vec!["pro".to_string(), "gold".to_string()])
    );
    assert_eq!(
        after.catalog.lookup_keys.get(&gold.id),
        Some(&"gold".to_string())
    );
    assert!(
        storage
            .customer_snapshot(&project.id, "nobody")
            .await
            .unwrap()
            .is_none()
    );

    // What webhook events say of the customer: the same customer, aliases and catalog.
    storage
        .add_alias(&project.id, &buyer.key, "buyer@example.com", T0)
        .await
        .unwrap();
    let subject = storage
        .event_subject(&project.id, &buyer.key, 100)
        .await
        .unwrap()
        .expect("a known customer");
    assert_eq!(subject.customer.id, "buyer");
    let all = PageRequest {
        starting_after: None,
        limit: 100,
    };
    let aliases = storage.list_aliases(&buyer.key, &all).await.unwrap().items;
    assert_eq!(subject.aliases, aliases);
    assert_eq!(subject.aliases.len(), 2);
    let first = storage
        .event_subject(&project.id, &buyer.key, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.aliases, aliases[..1]);
    assert_eq!(subject.catalog, after.catalog);
    assert!(
        storage
            .event_subject(&project.id, "custnope", 100)
            .await
            .unwrap()
            .is_none()
    );
}

/// A new project with an iOS app (and the app's public key).
async fn project_with_app(storage: &dyn Storage, name: &str) -> (Project, App) {
    let project = project(name);
    storage.create_project(&project).await.unwrap();
    let app = app(&project, "iOS");
    let (public_key, _) = key(&project, Some(&app));
    storage
        .create_app(&app, None, &public_key, &audit(&project))
        .await
        .unwrap();
    (project, app)
}

/// A monthly subscription product of `app` with this store identifier.
async fn product_of(
    storage: &dyn Storage,
    project: &Project,
    app: &App,
    store_identifier: &str,
) -> entitled_core::Product {
    let product = entitled_core::Product {
        id: new_id(IdKind::Product),
        project_id: project.id.clone(),
        app_id: app.id.clone(),
        store_identifier: store_identifier.to_string(),
        product_type: entitled_core::ProductType::Subscription,
        display_name: None,
        subscription_duration: Some("P1M".to_string()),
        test_store_price: None,
        created_at: T0,
    };
    storage
        .create_product(&product, &audit(project))
        .await
        .unwrap();
    product
}

async fn the_offering_tree_agrees_with_the_single_reads_and_follows_changes(subject: &Subject) {
    let storage = &subject.storage;
    let other = project("another");
    storage.create_project(&other).await.unwrap();
    let (project, app) = project_with_app(storage.as_ref(), "offering tree").await;
    let monthly = product_of(storage.as_ref(), &project, &app, "monthly").await;
    let annual = product_of(storage.as_ref(), &project, &app, "annual").await;
    assert_eq!(
        *storage.offering_tree(&project.id).await.unwrap(),
        entitled_storage::OfferingTree::default()
    );
    let mut offerings = Vec::new();
    for lookup_key in ["default", "sale"] {
        let offering = entitled_core::Offering {
            id: new_id(IdKind::Offering),
            project_id: project.id.clone(),
            lookup_key: lookup_key.to_string(),
            display_name: lookup_key.to_uppercase(),
            is_current: false,
            metadata: Some(serde_json::json!({"color": lookup_key})),
            created_at: T0,
        };
        storage
            .create_offering(&offering, &audit(&project))
            .await
            .unwrap();
        offerings.push(offering);
    }
    let mut packages = Vec::new();
    for (offering, lookup_key) in [
        (&offerings[0], "$rc_monthly"),
        (&offerings[1], "$rc_annual"),
    ] {
        let package = entitled_core::Package {
            id: new_id(IdKind::Package),
            project_id: project.id.clone(),
            offering_id: offering.id.clone(),
            lookup_key: lookup_key.to_string(),
            display_name: lookup_key.to_string(),
            position: None,
            created_at: T0,
        };
        storage
            .create_package(&package, &audit(&project))
            .await
            .unwrap();
        packages.push(package);
    }
    for (package, product) in [(&packages[0], &monthly), (&packages[1], &annual)] {
        storage
            .attach_package_products(
                &project.id,
                &package.id,
                &[(product.id.clone(), "all".to_string())],
                T0,
                &audit(&project),
            )
            .await
            .unwrap();
    }

    let tree = storage.offering_tree(&project.id).await.unwrap();
    let ids = |items: &[String]| items.to_vec();
    let offering_ids: Vec<String> = offerings.iter().map(|o| o.id.clone()).collect();
    let package_ids: Vec<String> = packages.iter().map(|p| p.id.clone()).collect();
    assert_eq!(tree.offerings, offerings);
    assert_eq!(
        tree.packages,
        storage
            .packages_of_offerings(&project.id, &ids(&offering_ids))
            .await
            .unwrap()
    );
    assert_eq!(tree.packages.len(), 2);
    assert_eq!(
        tree.products,
        storage
            .products_of_packages(&project.id, &ids(&package_ids))
            .await
            .unwrap()
    );
    let attached: Vec<(&str, &str)> = tree
        .products
        .iter()
        .map(|(package, p)| (package.as_str(), p.product.store_identifier.as_str()))
        .collect();
    assert_eq!(
        attached,
        [
            (packages[0].id.as_str(), "monthly"),
            (packages[1].id.as_str(), "annual")
        ]
    );
    // Another project's tree is its own, even right after this one's was read.
    assert_eq!(
        *storage.offering_tree(&other.id).await.unwrap(),
        entitled_storage::OfferingTree::default()
    );
    // A change shows in the next read (SQLite's readers keep the tree they read last until
    // something is committed).
    assert_eq!(storage.offering_tree(&project.id).await.unwrap(), tree);
    storage
        .detach_package_products(
            &project.id,
            &packages[1].id,
            std::slice::from_ref(&annual.id),
            &audit(&project),
        )
        .await
        .unwrap();
    let after = storage.offering_tree(&project.id).await.unwrap();
    assert_eq!(after.products.len(), 1);
    assert_eq!(after.products[0].1.product.id, monthly.id);
    assert_eq!(after.offerings, tree.offerings);
}
