//! `janus-audit trust`'s arguments.

use std::path::PathBuf;

use clap::Args;

use crate::analyzer::render::Format;

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// CloudTrail log files or directories (or s3://bucket/prefix): their CreateRole and
    /// UpdateAssumeRolePolicy events are the policies' history, and each Google assumption is
    /// judged against the policy in force when it happened.
    pub paths: Vec<PathBuf>,
    /// Where the roles' trust policies are (repeatable): `iam` (the live IAM API), `aws iam
    /// get-account-authorization-details` or `list-roles` output, `aws iam get-role` output, a
    /// file {"RoleArn": ..., "AssumeRolePolicyDocument": ...}, or a directory of these.
    #[arg(long, value_name = "SOURCE", required_unless_present_any = ["paths", "dataset"])]
    pub policies: Vec<PathBuf>,
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
    /// Output format.
    #[arg(long, default_value = "table", value_parser = crate::cli::sources::formats())]
    pub format: Format,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub view: crate::cli::sources::ViewArgs,
    /// --policies iam: the AWS profile (else the standard chain: env, SSO, instance role…).
    #[arg(long, help_heading = "AWS")]
    pub profile: Option<String>,
    /// --policies iam: IAM's endpoint (AWS_ENDPOINT_URL_IAM sets it too).
    #[arg(long, value_name = "URL", help_heading = "AWS")]
    pub endpoint_url: Option<String>,
    #[command(flatten)]
    pub limits: crate::cli::sources::LimitArgs,
}

impl TrustArgs {
    pub fn request(&self) -> crate::analyzer::cmd::trust::Request {
        crate::analyzer::cmd::trust::Request {
            policies: self.policies.clone(),
            paths: self.paths.clone(),
            dataset: self.dataset.clone(),
            limits: self.limits.limits(),
            observed: self.observed,
            tighten: self.tighten,
            iam: crate::analyzer::trust::iam::IamOptions {
                profile: self.profile.clone(),
                endpoint_url: self.endpoint_url.clone(),
            },
            format: self.format,
            output: self.output.clone(),
            view: self.view.view(),
        }
    }
}
