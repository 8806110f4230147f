//! The v1 API that RevenueCat's SDKs call.

pub mod app_store_notifications;
pub mod coffee;
pub mod customer_info;
pub mod health;
pub mod offerings;
pub mod play_store_notifications;
pub mod promotional;
pub mod receipts;
pub mod respond;
pub mod subscribers;
pub mod web_billing;
