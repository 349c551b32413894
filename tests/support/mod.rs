//! Loopback fakes that speak the real wire protocols. See README.md here.
#![allow(dead_code)]

pub mod cloudtrail;
pub mod faulty;
pub mod metadata;
pub mod moto;
pub mod sts;
