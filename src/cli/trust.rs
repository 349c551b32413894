//! `janus-audit trust`'s arguments.

use std::path::PathBuf;

use clap::Args;

use crate::analyzer::acquire::ApiSource;
use crate::analyzer::cmd::answer::Source;
use crate::analyzer::model::ProviderFilter;
use crate::cli::sources::{ApiArgs, LimitArgs, OutputArgs, WindowArgs};
use crate::cli::values::UsageError;

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// CloudTrail log files or directories (or s3://bucket/prefix): their CreateRole and
    /// UpdateAssumeRolePolicy events are the policies' history, and each Google assumption is
    /// judged against the policy in force when it happened.
    pub paths: Vec<PathBuf>,
    /// Where the roles' trust policies are (repeatable): `iam` (the live IAM API), `aws iam
    /// get-account-authorization-details` or `list-roles` output, `aws iam get-role` output, a
    /// file {"RoleArn": ..., "AssumeRolePolicyDocument": ...}, or a directory of these.
    #[arg(
        long,
        value_name = "SOURCE",
        required_unless_present_any = ["paths", "dataset", "from_api", "store"]
    )]
    pub policies: Vec<PathBuf>,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Read the trail from a dataset made by `janus-audit ingest`.
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// Print each role's Google assumptions (per sub and policy in force), and whether that
    /// policy admits the sub, instead of the policies.
    #[arg(long)]
    pub observed: bool,
    /// Print, as JSON `trust --policies` reads back, a policy for each role that admits more
    /// than listed identities, pinned to the sub and aud values the trail shows assuming it.
    #[arg(long, conflicts_with = "observed")]
    pub tighten: bool,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    /// --policies iam: IAM's endpoint (AWS_ENDPOINT_URL_IAM sets it too; --profile is shared).
    #[arg(long, value_name = "URL", help_heading = "AWS")]
    pub iam_endpoint_url: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

impl TrustArgs {
    pub fn request(&self) -> Result<crate::analyzer::cmd::trust::Request, UsageError> {
        Ok(crate::analyzer::cmd::trust::Request {
            policies: self.policies.clone(),
            source: Source {
                paths: self.paths.clone(),
                // With --from-api, the trust policies' changes are looked up too.
                api: ApiSource {
                    policy_history: true,
                    ..self.api.source()
                },
                providers: ProviderFilter::Google,
                queries: None,
                limits: self.limits.limits(),
                dataset: self.dataset.clone(),
                s3: self.api.aws.s3(),
                verify: false,
                public_keys: None,
                gcp: Default::default(),
            },
            window: self.window.window()?,
            observed: self.observed,
            tighten: self.tighten,
            iam: crate::analyzer::trust::iam::IamOptions {
                profile: self.api.aws.profile.clone(),
                endpoint_url: self.iam_endpoint_url.clone(),
            },
            format: self.out.format,
            output: self.out.output.clone(),
            view: self.out.view.view(),
        })
    }
}
