//! v2 secret-key permissions, as RevenueCat scopes them: `domain:resource:read|read_write`.

use std::collections::BTreeMap;
use std::fmt;

use crate::validation::ValidationError;

/// How much a key may do with a resource. `ReadWrite` includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// GET only.
    Read,
    /// Everything.
    ReadWrite,
}

impl Access {
    /// The scope suffix: `read` or `read_write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::ReadWrite => "read_write",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "read" => Some(Access::Read),
            "read_write" => Some(Access::ReadWrite),
            _ => None,
        }
    }
}

/// A resource a permission is about, `domain:resource`, e.g. `project_configuration:apps`.
pub type Resource = &'static str;

/// Every resource a v2 key can be given access to: RevenueCat's scopes plus entitled's
/// own `project_configuration:api_keys` for managing secret keys.
pub const RESOURCES: &[Resource] = &[
    "project_configuration:projects",
    "project_configuration:apps",
    "project_configuration:api_keys",
    "project_configuration:audit_logs",
    "project_configuration:collaborators",
    "project_configuration:entitlements",
    "project_configuration:integrations",
    "project_configuration:offerings",
    "project_configuration:packages",
    "project_configuration:products",
    "project_configuration:virtual_currencies",
    "customer_information:customers",
    "customer_information:invoices",
    "customer_information:purchases",
    "customer_information:subscriptions",
    "charts_metrics:charts",
    "charts_metrics:overview",
];

/// One required permission: a resource and the access an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The resource, one of [`RESOURCES`].
    pub resource: Resource,
    /// The access needed.
    pub access: Access,
}

impl Scope {
    /// Read access to `resource`.
    pub const fn read(resource: Resource) -> Self {
        Self {
            resource,
            access: Access::Read,
        }
    }

    /// Read-write access to `resource`.
    pub const fn read_write(resource: Resource) -> Self {
        Self {
            resource,
            access: Access::ReadWrite,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.access.as_str())
    }
}

/// The permissions a secret key holds: for each resource, at most one access level.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    granted: BTreeMap<Resource, Access>,
}

impl Permissions {
    /// Read-write on every resource.
    pub fn all() -> Self {
        Self::uniform(Access::ReadWrite)
    }

    /// Read on every resource.
    pub fn read_only() -> Self {
        Self::uniform(Access::Read)
    }

    fn uniform(access: Access) -> Self {
        Self {
            granted: RESOURCES.iter().map(|r| (*r, access)).collect(),
        }
    }

    /// Parses `all`, `read`, or a comma-separated list of scopes such as
    /// `project_configuration:apps:read_write,customer_information:*:read`.
    pub fn parse(spec: &str, param: &str) -> Result<Self, ValidationError> {
        match spec.trim() {
            "all" => return Ok(Self::all()),
            "read" => return Ok(Self::read_only()),
            _ => {}
        }
        let mut permissions = Self::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let invalid = || {
                ValidationError::new(
                    param,
                    format!(
                        "{item:?} is not a permission: use all, read, or scopes like project_configuration:apps:read_write"
                    ),
                )
            };
            let (resource_part, access_part) = item.rsplit_once(':').ok_or_else(invalid)?;
            let access = Access::parse(access_part).ok_or_else(invalid)?;
            let matched: Vec<Resource> = match resource_part.strip_suffix(":*") {
                Some(domain) => RESOURCES
                    .iter()
                    .copied()
                    .filter(|r| r.split(':').next() == Some(domain))
                    .collect(),
                None => RESOURCES
                    .iter()
                    .copied()
                    .filter(|r| *r == resource_part)
                    .collect(),
            };
            if matched.is_empty() {
                return Err(invalid());
            }
            for resource in matched {
                let entry = permissions.granted.entry(resource).or_insert(access);
                *entry = (*entry).max(access);
            }
        }
        if permissions.granted.is_empty() {
            return Err(ValidationError::new(
                param,
                format!("{param} must name at least one permission"),
            ));
        }
        Ok(permissions)
    }

    /// Whether these permissions satisfy `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.granted
            .get(scope.resource)
            .is_some_and(|held| *held >= scope.access)
    }

    /// Whether every permission here is also held by `other` (no escalation).
    pub fn is_within(&self, other: &Permissions) -> bool {
        self.granted.iter().all(|(resource, access)| {
            other.allows(Scope {
                resource,
                access: *access,
            })
        })
    }

    /// The scopes held, e.g. `["project_configuration:apps:read"]`, in a stable order.
    pub fn scopes(&self) -> Vec<String> {
        self.granted
            .iter()
            .map(|(resource, access)| format!("{resource}:{}", access.as_str()))
            .collect()
    }

    /// The storage form: scopes joined by commas; [`Permissions::parse`] reads it back.
    pub fn to_stored(&self) -> String {
        self.scopes().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPS_READ: Scope = Scope::read("project_configuration:apps");
    const APPS_WRITE: Scope = Scope::read_write("project_configuration:apps");

    #[test]
    fn all_and_read_cover_every_resource() {
        for resource in RESOURCES {
            assert!(Permissions::all().allows(Scope::read_write(resource)));
            assert!(Permissions::read_only().allows(Scope::read(resource)));
            assert!(!Permissions::read_only().allows(Scope::read_write(resource)));
        }
    }

    #[test]
    fn read_write_implies_read_but_not_the_reverse() {
        let p = Permissions::parse("project_configuration:apps:read_write", "permissions").unwrap();
        assert!(p.allows(APPS_READ));
        assert!(p.allows(APPS_WRITE));
        assert!(!p.allows(Scope::read("customer_information:customers")));
        let p = Permissions::parse("project_configuration:apps:read", "permissions").unwrap();
        assert!(p.allows(APPS_READ));
        assert!(!p.allows(APPS_WRITE));
    }

    #[test]
    fn domain_wildcards_expand_and_stored_form_round_trips() {
        let p = Permissions::parse(
            "customer_information:*:read, charts_metrics:charts:read",
            "p",
        )
        .unwrap();
        assert!(p.allows(Scope::read("customer_information:purchases")));
        assert!(p.allows(Scope::read("charts_metrics:charts")));
        assert!(!p.allows(Scope::read("charts_metrics:overview")));
        assert_eq!(Permissions::parse(&p.to_stored(), "p").unwrap(), p);
    }

    #[test]
    fn subsets_do_not_escalate() {
        let read_apps = Permissions::parse("project_configuration:apps:read", "p").unwrap();
        assert!(read_apps.is_within(&Permissions::all()));
        assert!(read_apps.is_within(&Permissions::read_only()));
        assert!(!Permissions::all().is_within(&Permissions::read_only()));
        assert!(!Permissions::read_only().is_within(&read_apps));
    }

    #[test]
    fn bad_specs_are_rejected_with_the_param() {
        for spec in [
            "",
            "write",
            "project_configuration:apps:write",
            "nope:*:read",
            "apps:read",
        ] {
            let err = Permissions::parse(spec, "permissions").unwrap_err();
            assert_eq!(err.param, "permissions", "{spec}");
        }
    }
}
