//! Background jobs: customer exports and purchase imports, claimed by one node at a time
//! (a lease in the database), with progress saved as they run, surviving restarts.

pub mod csv;
pub mod export;
pub mod import;
pub mod runner;
