//! entitled's store adapters. Each store's wire formats and rules stay inside its module;
//! what leaves is entitled's own facts ([`entitled_core::purchases`]).

pub mod app_store;
pub mod play_store;
