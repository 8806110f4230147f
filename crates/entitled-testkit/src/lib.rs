#![warn(missing_docs)]
//! Test support for entitled's suites. Never a dependency of production code.

pub mod apple;
pub mod google;
pub mod postgres;
pub mod proxy;
pub mod query_counter;
pub mod raw;
pub mod redis;
