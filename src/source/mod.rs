//! Where records come from.

pub mod envelope;
pub mod files;
