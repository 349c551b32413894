//! The command line: clap definitions, and their conversion into the library's plain option
//! types. Nothing else in the crate knows clap.

use clap::{Parser, Subcommand};

#[cfg(feature = "analyzer")]
mod analyzer;
mod examples;
pub mod generate;
#[cfg(feature = "analyzer")]
mod sources;
#[cfg(feature = "analyzer")]
mod trust;
mod values;

pub use values::UsageError;

#[cfg(feature = "analyzer")]
pub use analyzer::*;

#[derive(Debug, Parser)]
#[command(
    name = "janus-audit",
    version,
    about = "Which GCP instance did what in AWS: CloudTrail forensics for Google-federated roles",
    propagate_version = true,
    after_help = crate::base::exit::help()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More detail on stderr (-v info, -vv debug). Secrets are never logged at any level.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors and skipped inputs on stderr, no summary.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// End the run (exit 1, one line) rather than let it use more heap than this (512M, 8G,
    /// ...). Default: 3/4 of the machine's (or cgroup's) memory.
    #[cfg(feature = "analyzer")]
    #[arg(long, global = true, value_name = "SIZE", value_parser = sources::size, help_heading = "Limits")]
    pub max_memory: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print temporary AWS credentials for a Google workload (an AWS credential_process).
    #[cfg(feature = "credentials")]
    #[command(after_long_help = examples::CREDENTIALS)]
    Credentials(Box<CredentialsArgs>),
    #[cfg(feature = "analyzer")]
    #[command(flatten)]
    Analyzer(Box<AnalyzerCommand>),
    /// Print the manual page (roff), or write one page per subcommand into DIR.
    #[command(after_long_help = examples::MAN)]
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    #[command(after_long_help = examples::COMPLETIONS)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The command line as the library's plain requests: what `main` hands to a half's `cmd::run`.
#[derive(Debug)]
pub enum Request {
    /// `man` or `completions`: text made from these very definitions.
    Generate(generate::Generate),
    #[cfg(feature = "credentials")]
    Credentials(Box<crate::credentials::cmd::Request>),
    #[cfg(feature = "analyzer")]
    Analyzer(Box<crate::analyzer::cmd::Request>),
}

impl Command {
    /// The request this command makes, or the usage error that stops it (exit 2).
    pub fn request(&self) -> Result<Request, UsageError> {
        match self {
            Command::Man { dir } => Ok(Request::Generate(generate::Generate::Man {
                dir: dir.clone(),
            })),
            Command::Completions { shell } => {
                Ok(Request::Generate(generate::Generate::Completions(*shell)))
            }
            #[cfg(feature = "credentials")]
            Command::Credentials(args) => args.request().map(|r| Request::Credentials(Box::new(r))),
            #[cfg(feature = "analyzer")]
            Command::Analyzer(a) => a.request().map(|r| Request::Analyzer(Box::new(r))),
        }
    }
}

#[cfg(feature = "credentials")]
pub use credentials::{CredentialsArgs, ExecArgs, Mode, ServeArgs, ServerArgs};

#[cfg(feature = "credentials")]
mod credentials;
