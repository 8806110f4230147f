//! Webhooks: turning facts into outbox events, and the worker that delivers them.

pub mod emit;
pub mod outbox;
pub mod worker;
