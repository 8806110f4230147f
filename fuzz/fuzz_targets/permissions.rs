//! Secret-key permission specs (`all`, `read`, `domain:resource:read_write,…`), as sent in
//! `POST /v2/projects/{id}/api_keys` and given to `entitled keys create --permissions`.
#![no_main]

use entitled_core::Permissions;
use entitled_core::permissions::RESOURCES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|spec: &str| {
    let Ok(permissions) = Permissions::parse(spec, "permissions") else {
        return;
    };
    // Something was granted, only known resources, nothing beyond `all`.
    let scopes = permissions.scopes();
    assert!(!scopes.is_empty());
    assert!(permissions.is_within(&Permissions::all()));
    for scope in &scopes {
        let (resource, access) = scope.rsplit_once(':').expect("resource:access");
        assert!(RESOURCES.contains(&resource), "{scope}");
        assert!(access == "read" || access == "read_write", "{scope}");
    }
    // The stored form reads back to the same permissions.
    let stored = permissions.to_stored();
    assert_eq!(
        Permissions::parse(&stored, "permissions").ok(),
        Some(permissions.clone())
    );
    // Parsing is insensitive to surrounding spaces.
    assert_eq!(
        Permissions::parse(&format!(" {spec} "), "permissions").ok(),
        Some(permissions)
    );
});
