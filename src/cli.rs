//! The command line: clap definitions turned into typed options.

#[cfg(feature = "analyzer")]
use std::path::PathBuf;

#[cfg(feature = "analyzer")]
use chrono::{DateTime, Utc};
#[cfg(feature = "analyzer")]
use clap::{Args, ValueEnum};
use clap::{Parser, Subcommand};

#[cfg(feature = "analyzer")]
use crate::timefmt::{self, BadTime, Window};

#[derive(Debug, Parser)]
#[command(
    name = "janus-audit",
    version,
    about = "Which GCP instance did what in AWS: CloudTrail forensics for Google-federated roles",
    propagate_version = true,
    after_help = "Exit status: 0 success; 1 error; 2 usage error; 3 report written but some input was skipped (named on stderr); 4 --fail-on: findings at or above that severity; 5 no ID token; 6 STS refused; 7 STS unavailable; 130 --from-api interrupted (resumable). See the README."
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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print temporary AWS credentials for a Google workload (an AWS credential_process).
    #[cfg(feature = "credentials")]
    Credentials(Box<crate::credentials_cli::CredentialsArgs>),
    /// Activity per GCP instance (role session name): keys, calls, source IPs, services.
    #[cfg(feature = "analyzer")]
    ByInstance(ReportArgs),
    /// One row per issued temporary key and what was done with it.
    #[cfg(feature = "analyzer")]
    Sessions(ReportArgs),
    /// Run any SQL (a file, a query in queries/, or inline) over the tables.
    #[cfg(feature = "analyzer")]
    Query {
        /// A .sql file, the name of a shipped query (by_instance), or inline SQL ('SELECT ...').
        sql: String,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        thresholds: Thresholds,
    },
    /// Suspicious activity, one row per finding; each detection is a SQL file in queries/findings/.
    #[cfg(feature = "analyzer")]
    Findings {
        #[command(flatten)]
        report: ReportArgs,
        /// Exit with status 4 when a finding at or above this severity exists (for cron and CI).
        #[arg(long, value_enum, value_name = "SEVERITY")]
        fail_on: Option<crate::findings::Severity>,
        /// Source IPs in these ranges (one CIDR or address per line, # comments) are never foreign.
        #[arg(long, value_name = "FILE")]
        trusted_cidrs: Option<PathBuf>,
        #[command(flatten)]
        thresholds: Thresholds,
    },
    /// Every event of one instance, session, key or sub in time order, foreign IPs marked.
    #[cfg(feature = "analyzer")]
    Timeline {
        #[command(flatten)]
        entity: Entity,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// The scheduled report: by-instance, sessions and findings for each owed window, in CSV and
    /// Parquet, with a manifest, each window directory written atomically (for cron/systemd).
    #[cfg(feature = "analyzer")]
    Report(Box<ScheduledArgs>),
    /// Print the tables and columns that queries can use.
    #[cfg(feature = "analyzer")]
    Tables,
}

#[cfg(feature = "analyzer")]
#[derive(Debug, Args)]
pub struct ScheduledArgs {
    /// Where window directories (DIR/2026-10-05T00-00Z_2026-10-06T00-00Z/) are written.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// CloudTrail log files or directories, as for the other reports.
    #[arg(required_unless_present_any = ["from_api", "store"])]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Window length: windows are aligned to multiples of it since the epoch (24h = midnight to
    /// midnight UTC); the latest whole one is reported, or every one owed since --state.
    #[arg(long, default_value = "24h", conflicts_with_all = ["since", "until"])]
    pub window: String,
    /// One explicit window instead: start (RFC 3339 or a date). Needs --until.
    #[arg(long, requires = "until")]
    pub since: Option<String>,
    /// One explicit window instead: end, exclusive. Needs --since.
    #[arg(long, requires = "since")]
    pub until: Option<String>,
    /// Remember the last completed window here, so a missed night is caught up next run.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["since", "until"])]
    pub state: Option<PathBuf>,
    /// A window is owed only once this long has passed since its end (CloudTrail delivers log
    /// files within about 15 minutes).
    #[arg(long, default_value = "1h", value_name = "SPAN")]
    pub settle: String,
    /// Plan windows as if it were this time (RFC 3339); for backfills.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Formats to write, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv,parquet")]
    pub formats: Vec<crate::output::Format>,
    /// Read queries from DIR first, as for the other reports.
    #[arg(long, value_name = "DIR", env = "JANUS_AUDIT_QUERIES")]
    pub queries: Option<PathBuf>,
    /// Which web identity providers to report on.
    #[arg(long, value_enum, default_value_t = Provider::Google)]
    pub provider: Provider,
    /// Source IPs in these ranges are never foreign (see `findings`).
    #[arg(long, value_name = "FILE")]
    pub trusted_cidrs: Option<PathBuf>,
    /// Exit with status 4 when a finding at or above this severity was reported.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<crate::findings::Severity>,
    #[command(flatten)]
    pub thresholds: Thresholds,
}

/// Detection thresholds, the `findings_params` table the findings SQL reads.
#[cfg(feature = "analyzer")]
#[derive(Debug, Args)]
pub struct Thresholds {
    /// Override a detection threshold, e.g. --set recon_min_distinct=12 --set recon_window_s=10m
    /// (names and defaults: README, "Findings").
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

/// Exactly one entity to follow.
#[cfg(feature = "analyzer")]
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Entity {
    /// A GCP instance name (as parsed from session names).
    #[arg(long)]
    pub instance: Option<String>,
    /// A role session name.
    #[arg(long)]
    pub session_name: Option<String>,
    /// A temporary access key (ASIA…).
    #[arg(long)]
    pub access_key: Option<String>,
    /// A web identity subject (the Google service account's unique ID).
    #[arg(long)]
    pub sub: Option<String>,
}

#[cfg(feature = "analyzer")]
impl From<Provider> for crate::model::ProviderFilter {
    fn from(p: Provider) -> Self {
        match p {
            Provider::Google => crate::model::ProviderFilter::Google,
            Provider::Any => crate::model::ProviderFilter::Any,
        }
    }
}

#[cfg(feature = "analyzer")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    /// Only sessions federated from accounts.google.com.
    Google,
    /// Every web identity provider (GitHub Actions, EKS, ...).
    Any,
}

/// The LookupEvents API as a source, and the local store it fills.
#[cfg(feature = "analyzer")]
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Fetch events from the CloudTrail LookupEvents API into the store, then report from it
    /// (management events only, last 90 days).
    #[arg(long)]
    pub from_api: bool,
    /// Regions to fetch, comma-separated, or `all` (every region enabled by default).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "from_api",
        default_value = "us-east-1"
    )]
    pub regions: Vec<String>,
    /// AWS profile for the API calls (else the standard chain: env, SSO, instance role…).
    #[arg(long, requires = "from_api")]
    pub profile: Option<String>,
    /// CloudTrail endpoint (AWS_ENDPOINT_URL_CLOUDTRAIL is honoured too).
    #[arg(long, value_name = "URL", requires = "from_api")]
    pub endpoint_url: Option<String>,
    /// Fetch every event in the window, not just assumptions and the issued keys' calls.
    #[arg(long, requires = "from_api")]
    pub full: bool,
    /// The local store of fetched events (default: the cache dir). Without --from-api, report
    /// from the store alone.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

#[cfg(feature = "analyzer")]
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// CloudTrail log files or directories (walked recursively; S3 layout, org trails, .json/.json.gz/.jsonl).
    #[arg(required_unless_present_any = ["from_api", "store"])]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Start of the window: RFC 3339, a date (UTC midnight) or a span back from now (24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// End of the window (exclusive), same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::output::Format::Table)]
    pub format: crate::output::Format,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read queries from DIR first; NAME.sql there overrides the embedded query of that name.
    #[arg(long, value_name = "DIR", env = "JANUS_AUDIT_QUERIES")]
    pub queries: Option<PathBuf>,
    /// Which web identity providers to report on.
    #[arg(long, value_enum, default_value_t = Provider::Google)]
    pub provider: Provider,
}

#[cfg(feature = "analyzer")]
impl ReportArgs {
    pub fn window(&self, now: DateTime<Utc>) -> Result<Window, BadTime> {
        let bound = |s: &Option<String>| {
            s.as_deref()
                .map(|s| timefmt::parse_bound(s, now).map(|t| t.timestamp_millis()))
                .transpose()
        };
        Ok(Window {
            since: bound(&self.since)?,
            until: bound(&self.until)?,
        })
    }
}
