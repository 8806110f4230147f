//! The v2 management API, one module per resource.

pub mod api_keys;
pub mod apps;
pub mod coffee;
pub mod projects;
