//! One file per subcommand, the analyzer's error type and what talks to a person (notices,
//! progress bars).

pub mod answer;
pub mod error;
pub mod progress;
pub mod sync;
pub mod tables;
pub mod verify;
