//! Where an analyzer command reads from: the LookupEvents API and its store, AWS (S3, a
//! trail's accounts and regions), what one input file may cost, and the formats answers take.

use std::path::PathBuf;

use clap::Args;

use crate::analyzer::acquire::ApiSource;
use crate::analyzer::render::Format;
use crate::base::timefmt::{self, Bound, Millis, Window};
use crate::cli::values::UsageError;

/// Where and how a command without a page of its own (`verify`, `trust`) writes its table.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, default_value = "table", value_parser = formats())]
    pub format: Format,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub view: ViewArgs,
}

/// How an answer is shown: its columns, and a table's width on a terminal.
#[derive(Debug, Clone, Args)]
pub struct ViewArgs {
    /// Show only these columns, in this order (every format but html); a name the answer does
    /// not have is refused with the names it has.
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

impl ViewArgs {
    pub fn view(&self) -> crate::analyzer::cmd::view::View {
        crate::analyzer::cmd::view::View {
            columns: self.columns.clone(),
            wide: self.wide,
            width: self.width.map(usize::from),
        }
    }
}

/// `--format`'s values: every format an answer can be written in.
pub fn formats() -> impl clap::builder::TypedValueParser<Value = Format> {
    crate::cli::values::choice(Format::ALL.iter().map(|(f, n)| (*f, *n, "")).collect())
}

/// The LookupEvents API as a source, and the local store it fills.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Fetch events from the CloudTrail LookupEvents API into the store, and read them from
    /// there (management events only, last 90 days).
    #[arg(long, help_heading = "API")]
    pub from_api: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Fetch every event in the window, not just assumptions and the issued keys' calls.
    #[arg(long, requires = "from_api", help_heading = "API")]
    pub full: bool,
    /// Fetch by key in every region, even where reading the region whole would cost fewer
    /// requests (the default picks the cheaper per region).
    #[arg(
        long,
        requires = "from_api",
        conflicts_with = "full",
        help_heading = "API"
    )]
    pub by_key: bool,
    /// The local store of fetched events (default: the cache dir). Without --from-api, read
    /// what the store holds, fetching nothing.
    #[arg(long, value_name = "DIR", help_heading = "API")]
    pub store: Option<PathBuf>,
}

/// Where AWS is (profile, endpoint) and which accounts and regions to read.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// --from-api: regions to fetch (default us-east-1), or `all` (every region enabled by
    /// default). s3:// input: only these regions' folders (default: every region found).
    #[arg(long, value_delimiter = ',', help_heading = "AWS")]
    pub regions: Vec<String>,
    /// s3:// input: only these accounts' folders (default: every account found).
    #[arg(long, value_delimiter = ',', help_heading = "AWS")]
    pub accounts: Vec<String>,
    /// AWS profile for the API calls (else the standard chain: env, SSO, instance role…).
    #[arg(long, help_heading = "AWS")]
    pub profile: Option<String>,
    /// Endpoint of the AWS API the command reads: S3 for s3:// input, CloudTrail for
    /// --from-api (AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_CLOUDTRAIL set them apart).
    #[arg(long, value_name = "URL", help_heading = "AWS")]
    pub endpoint_url: Option<String>,
    /// s3:// input: objects fetched at once.
    #[arg(long, value_name = "N", default_value = "16", value_parser = clap::value_parser!(u16).range(1..=512), help_heading = "AWS")]
    pub s3_concurrency: u16,
}

/// Where S3 is and which of a trail's folders `sync` and `verify` read.
#[derive(Debug, Clone, Args)]
pub struct MirrorArgs {
    /// Only these regions' folders (default: every region found).
    #[arg(long, value_delimiter = ',', help_heading = "AWS")]
    pub regions: Vec<String>,
    /// Only these accounts' folders (default: every account found).
    #[arg(long, value_delimiter = ',', help_heading = "AWS")]
    pub accounts: Vec<String>,
    /// AWS profile (else the standard chain: env, SSO, instance role…).
    #[arg(long, help_heading = "AWS")]
    pub profile: Option<String>,
    /// Endpoint of S3 (and of CloudTrail, for the public keys).
    #[arg(long, value_name = "URL", help_heading = "AWS")]
    pub endpoint_url: Option<String>,
    /// Objects fetched at once.
    #[arg(long, value_name = "N", default_value = "16", value_parser = clap::value_parser!(u16).range(1..=512), help_heading = "AWS")]
    pub s3_concurrency: u16,
}

impl MirrorArgs {
    /// The same options a report's `AwsArgs` give, worded for a mirror's help.
    pub fn s3(&self) -> crate::analyzer::source::s3::S3Options {
        AwsArgs {
            regions: self.regions.clone(),
            accounts: self.accounts.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            s3_concurrency: self.s3_concurrency,
        }
        .s3()
    }
}

impl AwsArgs {
    /// `all` is for `--from-api`; for `s3://` no region list is every region.
    pub fn s3(&self) -> crate::analyzer::source::s3::S3Options {
        crate::analyzer::source::s3::S3Options {
            endpoint_url: self.endpoint_url.clone(),
            profile: self.profile.clone(),
            concurrency: self.s3_concurrency as usize,
            accounts: self.accounts.clone(),
            regions: self
                .regions
                .iter()
                .filter(|r| *r != "all")
                .cloned()
                .collect(),
        }
    }
}

/// What one input file may cost.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Skip (and name) a file larger than this, on disk or decompressed: 1G, 512M, 100K or bytes.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = size, help_heading = "Limits")]
    pub max_file_size: u64,
    /// Skip (and name) a file holding more records than this.
    #[arg(
        long,
        value_name = "N",
        default_value = "2000000",
        help_heading = "Limits"
    )]
    pub max_records_per_file: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> crate::analyzer::source::files::Limits {
        crate::analyzer::source::files::Limits {
            max_file_bytes: self.max_file_size,
            max_records: self.max_records_per_file,
        }
    }
}

/// A size: a whole number with an optional K, M, G or T (powers of 1024).
pub(crate) fn size(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("'{s}': expected a size like 512M or 2G")),
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{s}': expected a size like 512M or 2G"))
}

impl ApiArgs {
    pub fn source(&self) -> ApiSource {
        ApiSource {
            from_api: self.from_api,
            regions: self.aws.regions.clone(),
            profile: self.aws.profile.clone(),
            endpoint_url: self.aws.endpoint_url.clone(),
            full: self.full,
            by_key: self.by_key,
            all_providers: false,
            policy_history: false,
            store: self.store.clone(),
        }
    }
}

/// The window `sync` and `verify` read: the day folders it needs, with a day of margin each side.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// Start: RFC 3339, a date (UTC midnight) or a span back from now (24h, 7d).
    #[arg(long, value_parser = bound)]
    pub since: Option<Bound>,
    /// End (exclusive), same forms as --since.
    #[arg(long, value_parser = bound)]
    pub until: Option<Bound>,
}

impl WindowArgs {
    pub fn window(&self) -> Result<Window, UsageError> {
        window(&self.since, &self.until, chrono::Utc::now())
    }
}

pub fn bound(s: &str) -> Result<Bound, timefmt::BadTime> {
    Bound::parse(s)
}

/// `[since, until)`, refused when it holds no time at all: an empty report would look like a
/// quiet one.
pub fn window(
    since: &Option<Bound>,
    until: &Option<Bound>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Window, UsageError> {
    let w = Window {
        since: resolve(since, now)?,
        until: resolve(until, now)?,
    };
    if let (Some(s), Some(u)) = (w.since, w.until)
        && s >= u
    {
        return Err(UsageError(format!(
            "--since ({}) is not before --until ({}): the window [since, until) holds no time",
            crate::base::timefmt::format_millis(s),
            crate::base::timefmt::format_millis(u)
        )));
    }
    Ok(w)
}

fn resolve(
    b: &Option<Bound>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Millis>, UsageError> {
    b.as_ref()
        .map(|b| b.resolve(now).map(|t| t.timestamp_millis()))
        .transpose()
        .map_err(|e| UsageError(e.to_string()))
}
