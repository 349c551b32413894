//! Loopback fakes that speak the real wire protocols. See README.md here.
#![allow(dead_code)]

pub mod metadata;
pub mod sts;
