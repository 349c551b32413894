//! `janus-audit dataset ddl`: the statements that make a dataset queryable by Spark SQL or
//! Athena.

use std::io::Write;
use std::path::PathBuf;

use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::dataset::Dataset;
use crate::analyzer::dataset::ddl::{self, Engine};
use crate::base::exit;

#[derive(Debug, Clone)]
pub struct DdlRequest {
    pub dataset: PathBuf,
    pub engine: Engine,
    /// Where the engine finds the dataset; default: the dataset's absolute path.
    pub location: Option<String>,
}

pub fn ddl(req: &DdlRequest, stdout: &mut dyn Write) -> Result<i32, AnalyzerError> {
    let ds = Dataset::open(&req.dataset)?;
    let absolute = std::path::absolute(&req.dataset)?;
    let location = req
        .location
        .clone()
        .unwrap_or_else(|| absolute.display().to_string());
    let text = ddl::ddl(&ds, req.engine, &location)?;
    stdout.write_all(text.as_bytes())?;
    Ok(exit::OK)
}
