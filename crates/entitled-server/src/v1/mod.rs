//! The v1 API that RevenueCat's SDKs call.

pub mod coffee;
pub mod health;
