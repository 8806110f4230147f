//! Black-box tests: each starts the real `entitled` binary on a random port, on SQLite and on
//! PostgreSQL, and talks to it over HTTP and through its command line.

mod helpers;

mod jobs;

mod admin_cli;
mod app_credentials;
mod app_store;
mod auth;
mod bodies;
mod catalog;
mod conformance;
mod customers;
mod errors;
mod lifecycle;
mod locks;
mod openapi;
mod overload;
mod play_store;
mod query_counts;
mod rate_limits;
mod resources;
mod sdk;
mod sdk_js;
mod webhooks;
