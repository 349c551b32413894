//! Where records come from.

pub mod api;
pub mod envelope;
pub mod files;
pub mod repair;
pub mod store;
