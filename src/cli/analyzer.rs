//! The analyzer's commands: their arguments, and the requests they make.

use crate::cli::sources::{
    ApiArgs, LimitArgs, MirrorArgs, OutputArgs, ViewArgs, WindowArgs, bound, formats, window,
};
use crate::cli::values::UsageError;
use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::{Args, Subcommand};

use crate::cli::values::choice;
use crate::{
    analyzer::acquire::ApiSource,
    analyzer::cmd::answer::{self, Source},
    analyzer::cmd::report,
    analyzer::model::ProviderFilter,
    analyzer::query::findings::{Severity, Thresholds},
    analyzer::query::timeline::Entity,
    analyzer::render::Format,
    analyzer::schedule::state::Plan,
    base::timefmt::{self, Bound, Millis},
};

#[derive(Debug, Subcommand)]
pub enum AnalyzerCommand {
    /// Activity per GCP instance (role session name): keys, calls, source IPs, services.
    #[command(after_long_help = crate::cli::examples::BY_INSTANCE)]
    ByInstance(ReportArgs),
    /// One row per issued temporary key and what was done with it.
    #[command(after_long_help = crate::cli::examples::SESSIONS)]
    Sessions(ReportArgs),
    /// Run any SQL (a file, a query in queries/, or inline) over the tables.
    #[command(after_long_help = crate::cli::examples::QUERY)]
    Query {
        /// A .sql file, the name of a shipped query (by_instance), or inline SQL ('SELECT ...').
        sql: String,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        thresholds: ThresholdArgs,
    },
    /// Suspicious activity, one row per finding; each detection is a SQL file in queries/findings/.
    #[command(after_long_help = crate::cli::examples::FINDINGS)]
    Findings {
        #[command(flatten)]
        report: ReportArgs,
        /// Exit with status 4 when a finding at or above this severity exists (for cron and CI).
        #[arg(long, value_name = "SEVERITY", value_parser = severities(), help_heading = "Findings")]
        fail_on: Option<Severity>,
        /// Also a finding per (Sigma rule, key) for the rules at RULES (a file or directory;
        /// `--sigma=DIR`), or with `--sigma` alone the SigmaHQ CloudTrail rules janus-audit ships.
        #[arg(long, value_name = "RULES", num_args = 0..=1, require_equals = true,
              default_missing_value = "shipped", help_heading = "Findings")]
        sigma: Option<PathBuf>,
        #[command(flatten)]
        thresholds: ThresholdArgs,
    },
    /// Evaluate Sigma rules on every record in the window: one row per (rule, event), each event
    /// made with a Google-federated key attributed to its instance, session and root key.
    #[command(after_long_help = crate::cli::examples::SIGMA)]
    Sigma {
        /// A Sigma rule file or a directory of them (walked for .yml/.yaml), or `shipped` for the
        /// SigmaHQ CloudTrail rules janus-audit ships.
        rules: PathBuf,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Every event of one instance, session, key or sub in time order, foreign IPs marked.
    #[command(after_long_help = crate::cli::examples::TIMELINE)]
    Timeline {
        #[command(flatten)]
        entity: EntityArgs,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// The scheduled report: by-instance, sessions and findings for each owed window, in CSV and
    /// Parquet, with a manifest, each window directory written atomically (for cron/systemd).
    #[command(after_long_help = crate::cli::examples::REPORT)]
    Report(Box<ScheduledArgs>),
    /// Parse log files (or the API) once into a Parquet dataset, partitioned by event date, that
    /// every report reads with --dataset DIR (and Spark, Athena or DuckDB can read too).
    #[command(after_long_help = crate::cli::examples::INGEST)]
    Ingest(Box<IngestArgs>),
    /// Mirror a trail's days from S3 into DIR, keeping each digest's signature and the public
    /// keys so that `verify` works offline; a rerun fetches only what is new or changed.
    #[command(after_long_help = crate::cli::examples::SYNC)]
    Sync(Box<SyncArgs>),
    /// CloudTrail log file integrity validation: digest signatures and chain, each log file's
    /// hash, and what no digest covers, per account and region.
    #[command(after_long_help = crate::cli::examples::VERIFY)]
    Verify(Box<VerifyArgs>),
    /// Which Google identities each role's trust policy admits, statement by statement: how far
    /// the session names CloudTrail shows for it can be believed.
    #[command(after_long_help = crate::cli::examples::TRUST)]
    Trust(Box<crate::cli::trust::TrustArgs>),
    /// Work with a dataset made by `ingest`.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Print the tables and columns that queries can use.
    #[command(after_long_help = crate::cli::examples::TABLES)]
    Tables {
        /// Describe `calls` as the override in DIR/calls.sql derives it.
        #[arg(long, value_name = "DIR", env = "JANUS_AUDIT_QUERIES")]
        queries: Option<PathBuf>,
        /// `markdown`: the listing as docs/TABLES.md has it.
        #[arg(long, value_enum, default_value_t = TablesFormat::Text)]
        format: TablesFormat,
    },
}

/// How `tables` prints the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TablesFormat {
    Text,
    Markdown,
}

impl AnalyzerCommand {
    /// The request this command makes, or the usage error that stops it (exit 2).
    pub fn request(&self) -> Result<crate::analyzer::cmd::Request, UsageError> {
        use crate::analyzer::cmd::Request as R;
        use answer::Command as Report;
        Ok(match self {
            AnalyzerCommand::ByInstance(args) => R::Answer(args.request(Report::ByInstance)?),
            AnalyzerCommand::Sessions(args) => R::Answer(args.request(Report::Sessions)?),
            AnalyzerCommand::Query {
                sql,
                report,
                thresholds,
            } => R::Answer(report.request(Report::Query {
                sql: sql.clone(),
                thresholds: thresholds.thresholds()?,
            })?),
            AnalyzerCommand::Findings {
                report,
                fail_on,
                sigma,
                thresholds,
            } => R::Answer(report.request(Report::Findings {
                thresholds: thresholds.thresholds()?,
                fail_on: *fail_on,
                sigma: sigma.as_deref().map(sigma_rules),
            })?),
            AnalyzerCommand::Sigma { rules, report } => {
                R::Answer(report.request(Report::Sigma(sigma_rules(rules)))?)
            }
            AnalyzerCommand::Timeline { entity, report } => {
                R::Answer(report.request(Report::Timeline(entity.entity()))?)
            }
            AnalyzerCommand::Report(args) => R::Report(args.request()?),
            AnalyzerCommand::Ingest(args) => R::Ingest(args.request()),
            AnalyzerCommand::Dataset(DatasetCommand::Ddl {
                dataset,
                engine,
                location,
            }) => R::Ddl(crate::analyzer::cmd::dataset::DdlRequest {
                dataset: dataset.clone(),
                engine: *engine,
                location: location.clone(),
            }),
            AnalyzerCommand::Tables { queries, format } => R::Tables {
                queries: queries.clone(),
                markdown: *format == TablesFormat::Markdown,
            },
            AnalyzerCommand::Sync(args) => R::Sync(args.request()?),
            AnalyzerCommand::Verify(args) => R::Verify(args.request()?),
            AnalyzerCommand::Trust(args) => R::Trust(args.request()?),
        })
    }
}

/// `--fail-on`'s severities (`low`: only Sigma findings are low).
fn severities() -> impl TypedValueParser<Value = Severity> {
    use clap::builder::{PossibleValue, PossibleValuesParser};
    let values = Severity::ALL.iter().map(|(_, n)| PossibleValue::new(*n));
    PossibleValuesParser::new(values).map(|s| Severity::parse(&s).expect("clap checked the value"))
}

/// The formats `report` writes files in: not `table`, which is for a terminal.
fn file_formats() -> impl TypedValueParser<Value = Format> {
    choice(
        Format::ALL
            .iter()
            .filter(|(f, _)| *f != Format::Table)
            .map(|(f, n)| (*f, *n, ""))
            .collect(),
    )
}

fn providers() -> impl TypedValueParser<Value = ProviderFilter> {
    choice(ProviderFilter::ALL.to_vec())
}

/// A positive span (`90s`, `10m`, `24h`, `7d`), in milliseconds.
fn positive_span(s: &str) -> Result<Millis, String> {
    timefmt::parse_span(s)
        .map(|d| d.num_milliseconds())
        .filter(|ms| *ms > 0)
        .ok_or_else(|| format!("'{s}': expected a span like 1h, 24h or 7d"))
}

fn span_ms(s: &str) -> Result<Millis, String> {
    timefmt::parse_span(s)
        .map(|d| d.num_milliseconds())
        .ok_or_else(|| format!("'{s}': expected a span like 30m"))
}

fn rfc3339(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("'{s}': {e}"))
}

#[derive(Debug, Args)]
pub struct ScheduledArgs {
    /// Where window directories (DIR/2026-10-05T00-00Z_2026-10-06T00-00Z/) are written.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Window length: windows are aligned to multiples of it since the epoch (24h = midnight to
    /// midnight UTC); the latest whole one is reported, or every one owed since --state.
    #[arg(long, default_value = "24h", value_parser = positive_span, conflicts_with_all = ["since", "until"])]
    pub window: Millis,
    /// One explicit window instead: start (RFC 3339 or a date). Needs --until.
    #[arg(long, requires = "until", value_parser = bound)]
    pub since: Option<Bound>,
    /// One explicit window instead: end, exclusive. Needs --since.
    #[arg(long, requires = "since", value_parser = bound)]
    pub until: Option<Bound>,
    /// Remember the last completed window here, so a missed night is caught up next run.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["since", "until"])]
    pub state: Option<PathBuf>,
    /// A window is owed only once this long has passed since its end (CloudTrail delivers log
    /// files within about 15 minutes).
    #[arg(long, default_value = "1h", value_name = "SPAN", value_parser = span_ms)]
    pub settle: Millis,
    /// Plan windows as if it were this time (RFC 3339); for backfills.
    #[arg(long, value_name = "TIME", value_parser = rfc3339)]
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// Formats to write, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "csv,parquet", value_parser = file_formats(), help_heading = "Output")]
    pub formats: Vec<Format>,
    /// Source IPs in these ranges (one CIDR or address per line, # comments) are never
    /// foreign: not in any report's foreign-IP counts, marks or findings.
    #[arg(long, value_name = "FILE")]
    pub trusted_cidrs: Option<PathBuf>,
    /// Exit with status 4 when a finding at or above this severity was reported.
    #[arg(long, value_name = "SEVERITY", value_parser = severities())]
    pub fail_on: Option<Severity>,
    /// Also a finding per (Sigma rule, key) in each window's findings, as `findings --sigma`:
    /// the rules at RULES (`--sigma=DIR`), or with `--sigma` alone those janus-audit ships.
    #[arg(long, value_name = "RULES", num_args = 0..=1, require_equals = true,
          default_missing_value = "shipped")]
    pub sigma: Option<PathBuf>,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

/// Detection thresholds, the `findings_params` table the findings SQL reads.
#[derive(Debug, Args)]
pub struct ThresholdArgs {
    /// Override a detection threshold, e.g. --set recon_min_distinct=12 --set recon_window_s=10m
    /// (names and defaults: `janus-audit tables`, docs/TABLES.md).
    #[arg(long = "set", value_name = "NAME=VALUE", help_heading = "Findings")]
    pub set: Vec<String>,
}

/// Exactly one entity to follow.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct EntityArgs {
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

/// `sync`: an incremental mirror of a trail's window, with what validation needs.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The trail: s3://bucket[/prefix] (the prefix above AWSLogs/).
    pub source: String,
    /// The mirror, laid out like the bucket below the prefix.
    pub dir: PathBuf,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub aws: MirrorArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `verify`: log-file integrity validation of a trail.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trails: local directories (a `sync` mirror, or an `aws s3 sync` copy) or s3://bucket/prefix.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub aws: MirrorArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Trust only these CloudTrail public keys: the JSON `aws cloudtrail list-public-keys`
    /// prints, or a report manifest's recorded fingerprints. Without it, keys come from AWS for
    /// s3:// inputs and from the mirror's own key file (unauthenticated) for local ones.
    #[arg(long, value_name = "FILE")]
    pub public_keys: Option<PathBuf>,
    /// Fetch the public keys for the digests' time range from AWS (ListPublicKeys) and use them
    /// instead of the mirror's; name any mirror key AWS does not list.
    #[arg(long)]
    pub online: bool,
}

impl SyncArgs {
    pub fn request(&self) -> Result<crate::analyzer::cmd::sync::Request, UsageError> {
        let source = crate::analyzer::source::s3::S3Uri::parse(&self.source).ok_or_else(|| {
            UsageError(format!("'{}': expected s3://bucket[/prefix]", self.source))
        })?;
        Ok(crate::analyzer::cmd::sync::Request {
            source,
            dir: self.dir.clone(),
            window: self.window.window()?,
            s3: self.aws.s3(),
            limits: self.limits.limits(),
        })
    }
}

impl VerifyArgs {
    pub fn request(&self) -> Result<crate::analyzer::cmd::verify::Request, UsageError> {
        Ok(crate::analyzer::cmd::verify::Request {
            paths: self.paths.clone(),
            window: self.window.window()?,
            s3: self.aws.s3(),
            limits: self.limits.limits(),
            format: self.out.format,
            output: self.out.output.clone(),
            view: self.out.view.view(),
            keys: crate::analyzer::verify::gather::KeyOptions {
                pinned: self.public_keys.clone(),
                online: self.online,
            },
        })
    }
}

/// What every report reads, and which SQL it runs.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// CloudTrail log files or directories (walked recursively; S3 layout, org trails,
    /// .json/.json.gz/.jsonl, Security Lake's OCSF Parquet), or s3://bucket/prefix (only the
    /// window's day folders are listed).
    #[arg(required_unless_present_any = ["from_api", "store", "dataset"])]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Read queries from DIR first; NAME.sql there overrides the embedded query of that name.
    #[arg(
        long,
        value_name = "DIR",
        env = "JANUS_AUDIT_QUERIES",
        help_heading = "Input"
    )]
    pub queries: Option<PathBuf>,
    /// Which web identity providers to report on.
    #[arg(long, default_value = "google", value_parser = providers(), help_heading = "Input")]
    pub provider: ProviderFilter,
    /// Read a Parquet dataset made by `janus-audit ingest` instead of log files: only the date
    /// partitions the window needs.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["paths", "from_api", "store"], help_heading = "Input")]
    pub dataset: Option<PathBuf>,
    /// Validate every input log file against its trail's signed digests (log-file integrity
    /// validation, as `janus-audit verify`); each file's status goes to the manifest and the
    /// `files` table, and a failure sets the exit status.
    #[arg(long, conflicts_with_all = ["dataset", "from_api", "store"], help_heading = "Input")]
    pub verify: bool,
    /// With --verify: trust only these CloudTrail public keys (the JSON `aws cloudtrail
    /// list-public-keys` prints, or a report manifest's recorded fingerprints), not the keys a
    /// mirror carries.
    #[arg(long, value_name = "FILE", requires = "verify", help_heading = "Input")]
    pub public_keys: Option<PathBuf>,
    #[command(flatten)]
    pub gcp: GcpArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The Google side: GCP Cloud Audit Logs and the listings of what existed before them.
#[derive(Debug, Args)]
pub struct GcpArgs {
    /// GCP Cloud Audit Logs, written after the trail's paths: a logging sink's files
    /// (cloudaudit.googleapis.com/activity/..., .../data_access/...), `gcloud logging read
    /// --format=json` output, or NDJSON; files or directories, gzipped or not. Adds
    /// `gcp_instance` to by-instance and sessions, the Google-side events to timeline, the GCP
    /// findings, and the gcp_* tables.
    #[arg(long, value_name = "PATH", num_args = 1.., help_heading = "Google side")]
    pub gcp_logs: Vec<PathBuf>,
    /// Instances that existed before the logs begin: `gcloud compute instances list
    /// --format=json`.
    #[arg(long, value_name = "FILE", help_heading = "Google side")]
    pub gcp_instances: Option<PathBuf>,
    /// Service accounts created before the logs begin (their unique IDs are the subs
    /// CloudTrail shows): `gcloud iam service-accounts list --format=json`.
    #[arg(long, value_name = "FILE", help_heading = "Google side")]
    pub gcp_service_accounts: Option<PathBuf>,
}

impl GcpArgs {
    pub fn inputs(&self) -> crate::analyzer::gcp::Inputs {
        crate::analyzer::gcp::Inputs {
            logs: self.gcp_logs.clone(),
            instances: self.gcp_instances.clone(),
            service_accounts: self.gcp_service_accounts.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Print the CREATE TABLE statements (and the views the reports read) that make the dataset
    /// queryable by Spark SQL or Athena.
    #[command(after_long_help = crate::cli::examples::DDL)]
    Ddl {
        /// The dataset (its _janus/schema.json names the columns).
        #[arg(long, value_name = "DIR")]
        dataset: PathBuf,
        /// The engine whose SQL to print: `spark` (Spark SQL, Hive-style tables) or `athena`
        /// (Athena's Trino SQL over S3).
        #[arg(long, value_parser = engines())]
        engine: crate::analyzer::dataset::ddl::Engine,
        /// Where the engine finds the dataset (an s3:// URI for Athena); default: DIR, absolute.
        #[arg(long, value_name = "URI")]
        location: Option<String>,
    },
}

fn engines() -> impl TypedValueParser<Value = crate::analyzer::dataset::ddl::Engine> {
    choice(crate::analyzer::dataset::ddl::Engine::ALL.to_vec())
}

/// `ingest`: log files (or the API) into a Parquet dataset.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// CloudTrail log files or directories, as for the reports.
    #[arg(required_unless_present_any = ["from_api", "store", "gcp_logs"])]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
    /// The dataset to create or add to.
    #[arg(long, value_name = "DIR")]
    pub dataset: PathBuf,
    /// Also write the `events` table (every record: by far the largest; needed only by queries
    /// that read `events`).
    #[arg(long)]
    pub events: bool,
    /// Evaluate the Sigma rules at RULES (a file or directory; `--sigma=DIR`), or with `--sigma`
    /// alone the SigmaHQ CloudTrail rules janus-audit ships, on every record, and keep their
    /// matches: `sigma --dataset` and `findings --sigma --dataset` answer for those rules only
    /// over what was ingested with them.
    #[arg(long, value_name = "RULES", num_args = 0..=1, require_equals = true,
          default_missing_value = "shipped")]
    pub sigma: Option<PathBuf>,
    /// Source files per batch. A batch is written while the next is parsed, so memory holds
    /// two.
    #[arg(long, value_name = "N", default_value = "192")]
    pub batch_files: usize,
    #[command(flatten)]
    pub gcp: GcpArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Start of the window: RFC 3339, a date (UTC midnight) or a span back from now (24h, 7d).
    #[arg(long, value_parser = bound)]
    pub since: Option<Bound>,
    /// End of the window (exclusive), same forms as --since.
    #[arg(long, value_parser = bound)]
    pub until: Option<Bound>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = formats())]
    pub format: Format,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub view: ViewArgs,
    /// Source IPs in these ranges (one CIDR or address per line, # comments) are never
    /// foreign: not in any report's foreign-IP counts, marks or findings.
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub trusted_cidrs: Option<PathBuf>,
    /// by-instance, sessions, findings: the roles' trust policies (repeatable; what `trust
    /// --policies` reads): name_trust (how far each session name can be believed) is appended,
    /// and the trust findings judge these policies too.
    #[arg(long, value_name = "SOURCE", help_heading = "Input")]
    pub policies: Vec<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
}

impl ThresholdArgs {
    pub fn thresholds(&self) -> Result<Thresholds, UsageError> {
        Thresholds::with_overrides(&self.set).map_err(|e| UsageError(e.to_string()))
    }
}

impl InputArgs {
    pub fn source(&self) -> Source {
        Source {
            paths: self.paths.clone(),
            api: ApiSource {
                all_providers: self.provider == ProviderFilter::Any,
                ..self.api.source()
            },
            providers: self.provider,
            queries: self.queries.clone(),
            limits: self.limits.limits(),
            dataset: self.dataset.clone(),
            s3: self.api.aws.s3(),
            verify: self.verify,
            public_keys: self.public_keys.clone(),
            gcp: self.gcp.inputs(),
        }
    }
}

impl IngestArgs {
    pub fn request(&self) -> crate::analyzer::cmd::ingest::Request {
        crate::analyzer::cmd::ingest::Request {
            source: Source {
                paths: self.paths.clone(),
                api: ApiSource {
                    all_providers: true,
                    ..self.api.source()
                },
                providers: ProviderFilter::Any,
                queries: None,
                limits: self.limits.limits(),
                dataset: None,
                s3: self.api.aws.s3(),
                verify: false,
                public_keys: None,
                gcp: self.gcp.inputs(),
            },
            dataset: self.dataset.clone(),
            events: self.events,
            sigma: self.sigma.as_deref().map(sigma_rules),
            batch_files: self.batch_files,
        }
    }
}

impl ReportArgs {
    pub fn request(&self, command: answer::Command) -> Result<answer::Request, UsageError> {
        let now = chrono::Utc::now();
        if !self.policies.is_empty()
            && !matches!(
                command,
                answer::Command::ByInstance
                    | answer::Command::Sessions
                    | answer::Command::Findings { .. }
            )
        {
            return Err(UsageError(
                "--policies applies to by-instance, sessions and findings (and `trust`)".into(),
            ));
        }
        if self.format == Format::Ocsf && !matches!(command, answer::Command::Findings { .. }) {
            return Err(UsageError(
                "--format ocsf writes findings (OCSF Detection Findings); use it with `findings`"
                    .into(),
            ));
        }
        if self.format == Format::Ocsf && self.view.columns.is_some() {
            return Err(UsageError(
                "--columns does not apply to --format ocsf: an OCSF finding has its own fields"
                    .into(),
            ));
        }
        if self.format == Format::Html && self.view.columns.is_some() {
            return Err(UsageError(
                "--columns does not apply to --format html: the page lays out its own tables"
                    .into(),
            ));
        }
        Ok(answer::Request {
            command,
            source: self.input.source(),
            window: window(&self.since, &self.until, now)?,
            format: self.format,
            output: self.output.clone(),
            view: self.view.view(),
            trusted_cidrs: self.trusted_cidrs.clone(),
            policies: self.policies.clone(),
        })
    }
}

/// `shipped` (when no such file is there) names the rules janus-audit ships.
fn sigma_rules(path: &std::path::Path) -> answer::SigmaRules {
    match path == std::path::Path::new("shipped") && !path.exists() {
        true => answer::SigmaRules::Shipped,
        false => answer::SigmaRules::Paths(vec![path.to_path_buf()]),
    }
}

impl EntityArgs {
    pub fn entity(&self) -> Entity {
        Entity {
            instance: self.instance.clone(),
            session_name: self.session_name.clone(),
            access_key_id: self.access_key.clone(),
            sub: self.sub.clone(),
        }
    }
}

impl ScheduledArgs {
    pub fn request(&self) -> Result<report::Request, UsageError> {
        let now = self.as_of.unwrap_or_else(chrono::Utc::now);
        let w = window(&self.since, &self.until, now)?;
        let plan = match (w.since, w.until) {
            (Some(since), Some(until)) => Plan::Explicit { since, until },
            _ => Plan::Owed {
                width: self.window,
                settle: self.settle,
                now: now.timestamp_millis(),
            },
        };
        Ok(report::Request {
            source: self.input.source(),
            output_dir: self.output_dir.clone(),
            plan,
            state: self.state.clone(),
            formats: self.formats.clone(),
            trusted_cidrs: self.trusted_cidrs.clone(),
            fail_on: self.fail_on,
            sigma: self.sigma.as_deref().map(sigma_rules),
            thresholds: self.thresholds.thresholds()?,
            command_line: std::env::args().collect(),
        })
    }
}
