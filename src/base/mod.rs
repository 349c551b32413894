//! What both halves use: exit statuses, quoting, times, ARNs, session names and the model of a
//! trust policy. Imports nothing else of the crate.

pub mod arn;
pub mod atomic;
pub mod debug_knob;
pub mod exit;
pub mod hash;
pub mod naming;
pub mod text;
pub mod timefmt;
pub mod trust;
