//! Creating and revoking projects, apps and keys: the operations behind both the v2
//! endpoints and the `entitled` admin commands, so both behave the same.

use entitled_core::keys::SECRET_KEY_PREFIX;
use entitled_core::validation::{display_name, reverse_dns};
use entitled_core::{
    Actor, ApiKey, App, AppType, AuditEntry, GeneratedKey, IdKind, KeyKind, Permissions, Project,
    UnixMillis, ValidationError, new_id,
};
use entitled_storage::{BootstrapSeed, Storage};
use serde_json::json;

use crate::error::ApiError;

/// Longest project, app or key name accepted.
pub const MAX_NAME_CHARS: usize = 255;

/// A request to create an app, before validation.
#[derive(Debug, Clone)]
pub struct NewApp {
    /// Display name.
    pub name: String,
    /// The store.
    pub app_type: AppType,
    /// Bundle id (App Store apps only).
    pub bundle_id: Option<String>,
    /// Package name (Play apps only).
    pub package_name: Option<String>,
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
    Ok(App {
        id: new_id(IdKind::App),
        project_id: project_id.to_string(),
        name,
        app_type: new.app_type,
        bundle_id,
        package_name,
        created_at: now,
    })
}

/// Creates a project.
pub async fn create_project(
    storage: &dyn Storage,
    name: &str,
    now: UnixMillis,
) -> Result<Project, ApiError> {
    let project = Project {
        id: new_id(IdKind::Project),
        name: display_name(name, "name", MAX_NAME_CHARS)?,
        created_at: now,
    };
    storage.create_project(&project).await?;
    Ok(project)
}

/// Creates an app of an existing project, with its public SDK key.
pub async fn create_app(
    storage: &dyn Storage,
    project_id: &str,
    new: NewApp,
    actor: &Actor,
    now: UnixMillis,
) -> Result<(App, IssuedKey), ApiError> {
    if storage.get_project(project_id).await?.is_none() {
        return Err(ApiError::not_found("Project"));
    }
    let app = validate_app(project_id, new, now)?;
    let key = public_key_for(&app, now);
    let audit = AuditEntry::new(
        project_id,
        "app",
        &app.id,
        "created",
        actor,
        now,
        json!({"name": app.name, "type": app.app_type.as_str()}),
    );
    storage.create_app(&app, &key.record, &audit).await?;
    Ok((app, key))
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
        created_at: now,
    };
    let app = validate_app(
        &project.id,
        NewApp {
            name: "Test Store".to_string(),
            app_type: AppType::TestStore,
            bundle_id: None,
            package_name: None,
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
