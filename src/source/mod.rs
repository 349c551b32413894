//! Where records come from.

pub mod api;
pub mod envelope;
pub mod files;
pub mod store;
