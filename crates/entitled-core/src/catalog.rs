//! The objects a project is configured with: projects, apps and API keys.

use crate::apps::AppType;
use crate::keys::KeyKind;
use crate::permissions::Permissions;
use crate::time::UnixMillis;

/// A project: the unit that owns apps, customers and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `proj…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// An app of a project, selling through one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// `app…`.
    pub id: String,
    /// The owning project.
    pub project_id: String,
    /// Display name.
    pub name: String,
    /// The store it sells through.
    pub app_type: AppType,
    /// App Store bundle id, for `app_store` apps.
    pub bundle_id: Option<String>,
    /// Play package name, for `play_store` apps.
    pub package_name: Option<String>,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// A stored API key: never the key itself, only its lookup and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// `key…` for secret keys, `pubkey…` for public SDK keys.
    pub id: String,
    /// The project the key belongs to.
    pub project_id: String,
    /// For a public SDK key, the app it belongs to.
    pub app_id: Option<String>,
    /// Secret or public.
    pub kind: KeyKind,
    /// A label chosen by the operator.
    pub name: String,
    /// The key's prefix and first random characters (see [`crate::keys`]).
    pub lookup: String,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// What a secret key may do (empty for public keys).
    pub permissions: Permissions,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixMillis>,
}

impl ApiKey {
    /// Whether the key is still usable.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}
