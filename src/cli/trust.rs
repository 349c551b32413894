//! `janus-audit trust`'s arguments.

use std::path::PathBuf;

use clap::Args;

use crate::analyzer::render::Format;

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Where the roles' trust policies are (repeatable): `aws iam
    /// get-account-authorization-details` or `list-roles` output, `aws iam get-role` output, a
    /// file {"RoleArn": ..., "AssumeRolePolicyDocument": ...}, or a directory of these.
    #[arg(long, value_name = "SOURCE", required = true)]
    pub policies: Vec<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = crate::cli::sources::formats())]
    pub format: Format,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Show only these columns, in this order, e.g. --columns role_arn,who.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub columns: Option<Vec<String>>,
    /// A table on a terminal shows every column, not the usual few.
    #[arg(long, conflicts_with = "columns")]
    pub wide: bool,
    /// Fit a table to N terminal columns (default: the terminal's width when stdout is a
    /// terminal; a table piped or written to a file keeps its full width).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(20..))]
    pub width: Option<u16>,
}

impl TrustArgs {
    pub fn request(&self) -> crate::analyzer::cmd::trust::Request {
        crate::analyzer::cmd::trust::Request {
            policies: self.policies.clone(),
            format: self.format,
            output: self.output.clone(),
            view: crate::analyzer::cmd::view::View {
                columns: self.columns.clone(),
                wide: self.wide,
                width: self.width.map(usize::from),
            },
        }
    }
}
