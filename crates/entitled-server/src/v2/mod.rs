//! The v2 management API, one module per resource.

pub mod api_keys;
pub mod apps;
pub mod audit_logs;
pub mod coffee;
pub mod customer_actions;
pub mod customer_history;
pub mod customers;
pub mod entitlements;
pub mod jobs;
pub mod offerings;
pub mod packages;
pub mod products;
pub mod projects;
pub mod test_store;
pub mod test_store_outage;
pub mod webhooks;
