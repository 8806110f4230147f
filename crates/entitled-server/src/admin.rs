//! Creating and revoking projects, apps and keys: the operations behind both the v2
//! endpoints and the `entitled` admin commands, so both behave the same.

use std::collections::BTreeMap;

use entitled_core::keys::SECRET_KEY_PREFIX;
use entitled_core::validation::{display_name, reverse_dns};
use entitled_core::{
    Actor, ApiKey, App, AppType, AuditEntry, GeneratedKey, IdKind, KeyKind, Permissions, Project,
    TransferRule, UnixMillis, ValidationError, new_id,
};
use entitled_storage::{BootstrapSeed, Storage};
use serde_json::json;

use crate::credentials::Sealer;
use crate::error::ApiError;

/// Longest project, app or key name accepted.
pub const MAX_NAME_CHARS: usize = 255;

/// A request to create an app, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    /// Display name.
    pub name: String,
    /// The store.
    pub app_type: AppType,
    /// Bundle id (App Store apps only).
    pub bundle_id: Option<String>,
    /// Package name (Play apps only).
    pub package_name: Option<String>,
    /// Connected Stripe account (Stripe apps only).
    pub stripe_account_id: Option<String>,
    /// Store credentials by dotted name (e.g. `app_store.shared_secret`).
    pub credentials: BTreeMap<String, String>,
}

/// Changes to an app; `None` leaves a field as it is. Credentials merge into those set.
#[derive(Debug, Clone, Default)]
pub struct AppChanges {
    /// New display name.
    pub name: Option<String>,
    /// New bundle id (App Store apps).
    pub bundle_id: Option<String>,
    /// New package name (Play apps).
    pub package_name: Option<String>,
    /// New Stripe account (Stripe apps).
    pub stripe_account_id: Option<String>,
    /// Credentials to set, by dotted name.
    pub credentials: BTreeMap<String, String>,
}

/// Checks that credentials fit the app's store and their own shapes.
fn check_credentials(
    app_type: AppType,
    credentials: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    for (name, value) in credentials {
        let store = name.split('.').next().unwrap_or_default();
        if store != app_type.as_str() {
            return Err(ApiError::parameter(
                name.clone(),
                format!("{name} does not apply to {} apps", app_type.as_str()),
            ));
        }
        crate::credentials::validate(name, value)?;
    }
    Ok(())
}

/// Seals `credentials` merged over what `sealed` holds; returns the new blob and the names.
fn seal_merged(
    sealer: Option<&Sealer>,
    app_id: &str,
    sealed: Option<&str>,
    credentials: BTreeMap<String, String>,
) -> Result<(Option<String>, Vec<String>), ApiError> {
    let Some(sealer) = sealer else {
        return Err(crate::credentials::no_secrets_key());
    };
    let mut all = match sealed {
        Some(sealed) => sealer.open(app_id, sealed)?,
        None => BTreeMap::new(),
    };
    all.extend(credentials);
    let names = all.keys().cloned().collect();
    Ok((Some(sealer.seal(app_id, &all)?), names))
}

/// A created key and its plaintext, which exists only in this value.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The stored record.
    pub record: ApiKey,
    /// The key itself, to show once.
    pub plaintext: String,
}

/// What first start created, to print once.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The `default` project.
    pub project: Project,
    /// Its test-store app.
    pub app: App,
    /// The app's public SDK key.
    pub public_key: IssuedKey,
    /// The all-permissions secret key.
    pub secret_key: IssuedKey,
}

fn issue_key(
    project_id: &str,
    app_id: Option<&str>,
    kind: KeyKind,
    prefix: &str,
    name: String,
    permissions: Permissions,
    now: UnixMillis,
) -> IssuedKey {
    let generated = GeneratedKey::generate(prefix);
    let id_kind = match kind {
        KeyKind::Secret => IdKind::ApiKey,
        KeyKind::Public => IdKind::PublicKey,
    };
    IssuedKey {
        record: ApiKey {
            id: new_id(id_kind),
            project_id: project_id.to_string(),
            app_id: app_id.map(str::to_string),
            kind,
            name,
            lookup: generated.lookup,
            hash: generated.hash,
            permissions,
            created_at: now,
            revoked_at: None,
        },
        plaintext: generated.plaintext,
    }
}

fn public_key_for(app: &App, now: UnixMillis) -> IssuedKey {
    issue_key(
        &app.project_id,
        Some(&app.id),
        KeyKind::Public,
        app.app_type.public_key_prefix(),
        format!("{} public SDK key", app.name),
        Permissions::default(),
        now,
    )
}

/// Validates a new app: names, and that store identifiers fit the store.
pub fn validate_app(
    project_id: &str,
    new: NewApp,
    now: UnixMillis,
) -> Result<App, ValidationError> {
    let name = display_name(&new.name, "name", MAX_NAME_CHARS)?;
    let bundle_id = new
        .bundle_id
        .map(|b| reverse_dns(&b, "app_store.bundle_id"))
        .transpose()?;
    let package_name = new
        .package_name
        .map(|p| reverse_dns(&p, "play_store.package_name"))
        .transpose()?;
    match new.app_type {
        AppType::AppStore if bundle_id.is_none() => {
            return Err(ValidationError::new(
                "app_store.bundle_id",
                "app_store apps need app_store.bundle_id",
            ));
        }
        AppType::PlayStore if package_name.is_none() => {
            return Err(ValidationError::new(
                "play_store.package_name",
                "play_store apps need play_store.package_name",
            ));
        }
        _ => {}
    }
    if bundle_id.is_some() && new.app_type != AppType::AppStore {
        return Err(ValidationError::new(
            "app_store",
            "only app_store apps have a bundle id",
        ));
    }
    if package_name.is_some() && new.app_type != AppType::PlayStore {
        return Err(ValidationError::new(
            "play_store",
            "only play_store apps have a package name",
        ));
    }
    let stripe_account_id = new
        .stripe_account_id
        .map(|a| stripe_account(&a))
        .transpose()?;
    if stripe_account_id.is_some() && new.app_type != AppType::Stripe {
        return Err(ValidationError::new(
            "stripe",
            "only stripe apps have a Stripe account",
        ));
    }
    Ok(App {
        id: new_id(IdKind::App),
        project_id: project_id.to_string(),
        name,
        app_type: new.app_type,
        bundle_id,
        package_name,
        stripe_account_id,
        credential_names: Vec::new(),
        created_at: now,
    })
}

/// Checks a Stripe account id (`acct_…`).
fn stripe_account(value: &str) -> Result<String, ValidationError> {
    let valid = value.len() <= 255
        && value.strip_prefix("acct_").is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric())
        });
    if valid {
        Ok(value.to_string())
    } else {
        Err(ValidationError::new(
            "stripe.stripe_account_id",
            "stripe.stripe_account_id must look like acct_1A2b3C",
        ))
    }
}

/// Creates a project.
pub async fn create_project(
    storage: &dyn Storage,
    name: &str,
    transfer_rule: TransferRule,
    now: UnixMillis,
) -> Result<Project, ApiError> {
    let project = Project {
        id: new_id(IdKind::Project),
        name: display_name(name, "name", MAX_NAME_CHARS)?,
        transfer_rule,
        created_at: now,
    };
    storage.create_project(&project).await?;
    Ok(project)
}

/// Creates an app of an existing project, with its public SDK key.
pub async fn create_app(
    storage: &dyn Storage,
    sealer: Option<&Sealer>,
    project_id: &str,
    mut new: NewApp,
    actor: &Actor,
    now: UnixMillis,
) -> Result<(App, IssuedKey), ApiError> {
    if storage.get_project(project_id).await?.is_none() {
        return Err(ApiError::not_found("Project"));
    }
    let credentials = std::mem::take(&mut new.credentials);
    check_credentials(new.app_type, &credentials)?;
    let mut app = validate_app(project_id, new, now)?;
    let sealed = if credentials.is_empty() {
        None
    } else {
        let (sealed, names) = seal_merged(sealer, &app.id, None, credentials)?;
        app.credential_names = names;
        sealed
    };
    let key = public_key_for(&app, now);
    let audit = AuditEntry::new(
        project_id,
        "app",
        &app.id,
        "created",
        actor,
        now,
        json!({"name": app.name, "type": app.app_type.as_str(), "credentials_set": app.credential_names}),
    );
    storage
        .create_app(&app, sealed.as_deref(), &key.record, &audit)
        .await?;
    Ok((app, key))
}

/// Changes an app; credentials given are validated, merged with those set, and sealed.
pub async fn update_app(
    storage: &dyn Storage,
    sealer: Option<&Sealer>,
    project_id: &str,
    app_id: &str,
    changes: AppChanges,
    actor: &Actor,
    now: UnixMillis,
) -> Result<App, ApiError> {
    let mut app = storage
        .get_app(project_id, app_id)
        .await?
        .ok_or_else(|| ApiError::not_found("App"))?;
    if let Some(name) = changes.name {
        app.name = display_name(&name, "name", MAX_NAME_CHARS)?;
    }
    let mismatch = |field: &str, store: AppType| {
        ApiError::parameter(field, format!("only {} apps have {field}", store.as_str()))
    };
    if let Some(bundle_id) = changes.bundle_id {
        if app.app_type != AppType::AppStore {
            return Err(mismatch("app_store", AppType::AppStore));
        }
        app.bundle_id = Some(reverse_dns(&bundle_id, "app_store.bundle_id")?);
    }
    if let Some(package_name) = changes.package_name {
        if app.app_type != AppType::PlayStore {
            return Err(mismatch("play_store", AppType::PlayStore));
        }
        app.package_name = Some(reverse_dns(&package_name, "play_store.package_name")?);
    }
    if let Some(account) = changes.stripe_account_id {
        if app.app_type != AppType::Stripe {
            return Err(mismatch("stripe", AppType::Stripe));
        }
        app.stripe_account_id = Some(stripe_account(&account)?);
    }
    check_credentials(app.app_type, &changes.credentials)?;
    let current = storage.app_credentials(project_id, app_id).await?;
    let sealed = if changes.credentials.is_empty() {
        current
    } else {
        let changed: Vec<&String> = changes.credentials.keys().collect();
        tracing::info!(app = %app.id, credentials = ?changed, "credentials updated");
        let (sealed, names) = seal_merged(
            sealer,
            &app.id,
            current.as_deref(),
            changes.credentials.clone(),
        )?;
        app.credential_names = names;
        sealed
    };
    let audit = AuditEntry::new(
        project_id,
        "app",
        &app.id,
        "updated",
        actor,
        now,
        json!({"name": app.name, "credentials_changed": changes.credentials.keys().collect::<Vec<_>>()}),
    );
    storage.update_app(&app, sealed.as_deref(), &audit).await?;
    Ok(app)
}

/// Deletes an app with its public key and products; 404 when there is no such app.
pub async fn delete_app(
    storage: &dyn Storage,
    project_id: &str,
    app_id: &str,
    actor: &Actor,
    now: UnixMillis,
) -> Result<(), ApiError> {
    let audit = AuditEntry::new(project_id, "app", app_id, "deleted", actor, now, json!({}));
    if storage.delete_app(project_id, app_id, &audit).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("App"))
    }
}

/// Creates a secret key of an existing project.
pub async fn create_secret_key(
    storage: &dyn Storage,
    project_id: &str,
    name: Option<&str>,
    permissions: Permissions,
    actor: &Actor,
    now: UnixMillis,
) -> Result<IssuedKey, ApiError> {
    if storage.get_project(project_id).await?.is_none() {
        return Err(ApiError::not_found("Project"));
    }
    let name = display_name(name.unwrap_or("secret key"), "name", MAX_NAME_CHARS)?;
    let key = issue_key(
        project_id,
        None,
        KeyKind::Secret,
        SECRET_KEY_PREFIX,
        name,
        permissions,
        now,
    );
    let audit = AuditEntry::new(
        project_id,
        "api_key",
        &key.record.id,
        "created",
        actor,
        now,
        json!({"name": key.record.name, "permissions": key.record.permissions.scopes()}),
    );
    storage.create_api_key(&key.record, &audit).await?;
    Ok(key)
}

/// Revokes a key of a project; 404 when it has no such active key.
pub async fn revoke_key(
    storage: &dyn Storage,
    project_id: &str,
    key_id: &str,
    actor: &Actor,
    now: UnixMillis,
) -> Result<(), ApiError> {
    let audit = AuditEntry::new(
        project_id,
        "api_key",
        key_id,
        "revoked",
        actor,
        now,
        json!({}),
    );
    if storage
        .revoke_api_key(project_id, key_id, now, &audit)
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::not_found("API key"))
    }
}

/// On first start against an empty database: creates the `default` project, a test-store
/// app and a secret key with every permission. `None` when the database was seeded before.
pub async fn bootstrap(
    storage: &dyn Storage,
    now: UnixMillis,
) -> Result<Option<Bootstrapped>, ApiError> {
    let project = Project {
        id: new_id(IdKind::Project),
        name: "default".to_string(),
        transfer_rule: TransferRule::default(),
        created_at: now,
    };
    let app = validate_app(
        &project.id,
        NewApp {
            name: "Test Store".to_string(),
            app_type: AppType::TestStore,
            ..NewApp::default()
        },
        now,
    )?;
    let public_key = public_key_for(&app, now);
    let secret_key = issue_key(
        &project.id,
        None,
        KeyKind::Secret,
        SECRET_KEY_PREFIX,
        "default secret key".to_string(),
        Permissions::all(),
        now,
    );
    let seed = BootstrapSeed {
        project: project.clone(),
        app: app.clone(),
        public_key: public_key.record.clone(),
        secret_key: secret_key.record.clone(),
    };
    let created = storage.bootstrap(&seed).await?;
    Ok(created.then_some(Bootstrapped {
        project,
        app,
        public_key,
        secret_key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_app(app_type: AppType, bundle: Option<&str>, package: Option<&str>) -> NewApp {
        NewApp {
            name: "My App".into(),
            app_type,
            bundle_id: bundle.map(Into::into),
            package_name: package.map(Into::into),
            ..NewApp::default()
        }
    }

    #[test]
    fn store_identifiers_must_fit_the_store() {
        let now = UnixMillis(1);
        assert!(validate_app("p", new_app(AppType::AppStore, Some("com.a.b"), None), now).is_ok());
        assert_eq!(
            validate_app("p", new_app(AppType::AppStore, None, None), now)
                .unwrap_err()
                .param,
            "app_store.bundle_id"
        );
        assert_eq!(
            validate_app("p", new_app(AppType::PlayStore, None, None), now)
                .unwrap_err()
                .param,
            "play_store.package_name"
        );
        assert_eq!(
            validate_app("p", new_app(AppType::TestStore, Some("com.a"), None), now)
                .unwrap_err()
                .param,
            "app_store"
        );
        let app = validate_app("p", new_app(AppType::TestStore, None, None), now).unwrap();
        assert!(app.id.starts_with("app"));
        assert_eq!(app.created_at, now);
    }

    #[test]
    fn public_keys_carry_the_store_prefix() {
        let app = validate_app(
            "p",
            new_app(AppType::PlayStore, None, Some("com.x")),
            UnixMillis(5),
        )
        .unwrap();
        let key = public_key_for(&app, UnixMillis(5));
        assert!(key.plaintext.starts_with("goog_"));
        assert_eq!(key.record.kind, KeyKind::Public);
        assert_eq!(key.record.app_id.as_deref(), Some(app.id.as_str()));
        assert!(!key.record.hash.contains(&key.plaintext));
    }
}
