//! Where records come from.

pub mod api;
pub mod envelope;
pub mod files;
pub mod gunzip;
pub mod layout;
pub mod record;
pub mod repair;
pub mod s3;
pub mod security_lake;
pub mod store;
pub mod touched;
