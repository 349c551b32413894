//! The CloudTrail analyzer. Data flows one way: sources → model (tables) → queries → reports →
//! render; `cmd` holds one file per subcommand and is the only layer that talks to a person.

pub mod acquire;
pub mod cmd;
pub mod dataset;
pub mod engine;
pub mod gcp;
pub mod load;
pub mod memory;
pub mod model;
pub mod notice;
pub mod query;
pub mod render;
pub mod schedule;
pub mod sigma;
pub mod source;
pub mod trust;
pub mod verify;
