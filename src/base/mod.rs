//! What both halves use: exit statuses, quoting, times, ARNs and session names. Imports nothing
//! else of the crate.

pub mod arn;
pub mod atomic;
pub mod exit;
pub mod hash;
pub mod naming;
pub mod text;
pub mod timefmt;
