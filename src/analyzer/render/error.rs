//! What can go wrong writing a report.

use std::path::PathBuf;

use polars::prelude::PolarsError;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {}: {source}", crate::base::text::quoted(path))]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the report: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode the report: {0}")]
    Polars(#[from] PolarsError),
}

impl From<crate::base::atomic::WriteError> for OutputError {
    fn from(e: crate::base::atomic::WriteError) -> Self {
        OutputError::File {
            path: e.path,
            source: e.source,
        }
    }
}
