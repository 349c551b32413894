//! One file per subcommand, the analyzer's error type and what talks to a person (notices,
//! progress bars).

pub mod answer;
pub mod error;
pub mod ingest;
pub mod progress;
pub mod report;
pub mod sync;
pub mod tables;
pub mod ui;
pub mod verify;
