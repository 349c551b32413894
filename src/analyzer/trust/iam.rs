//! `--policies iam`: every role's trust policy from the live IAM API, through the standard AWS
//! credential chain (`--profile`; `--iam-endpoint-url`, else `AWS_ENDPOINT_URL_IAM`, else
//! `AWS_ENDPOINT_URL`).
//!
//! `ListRoles` returns each role's document; a role it lists without one is asked for with
//! `GetRole`. Real IAM returns documents URL-encoded; moto encodes only `GetRole`'s: both are read
//! by `source::document`.

use crate::analyzer::source::s3::{AwsFailure, custom_endpoint, describe, retrying_config};
use crate::analyzer::trust::source::{RolePolicy, document};

/// The name that means "the live IAM API" among `--policies` sources.
pub const SOURCE: &str = "iam";

/// How the IAM API is reached.
#[derive(Debug, Clone, Default)]
pub struct IamOptions {
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("cannot start the IAM client: {0}")]
    Runtime(std::io::Error),
    #[error("iam:ListRoles failed: {0}")]
    List(AwsFailure),
}

/// Every role's policy, and the roles whose document `GetRole` could not give (named).
pub fn roles(opts: &IamOptions) -> Result<(Vec<RolePolicy>, Vec<String>), IamError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(IamError::Runtime)?;
    rt.block_on(fetch(opts))
}

async fn fetch(opts: &IamOptions) -> Result<(Vec<RolePolicy>, Vec<String>), IamError> {
    let shared = retrying_config(opts.profile.as_deref()).await;
    let mut b = aws_sdk_iam::config::Builder::from(&shared);
    // IAM is global; its endpoint answers in us-east-1.
    if shared.region().is_none() {
        b = b.region(aws_config::Region::new("us-east-1"));
    }
    if let Some(url) = &custom_endpoint(opts.endpoint_url.as_deref(), "IAM") {
        b = b.endpoint_url(url);
    }
    let client = aws_sdk_iam::Client::from_conf(b.build());
    let origin = format!("{SOURCE} (ListRoles)");
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut pages = client.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| IamError::List(describe(&e)))?;
        for role in page.roles() {
            let text = match role.assume_role_policy_document() {
                Some(t) => Some(t.to_string()),
                None => match client.get_role().role_name(role.role_name()).send().await {
                    Ok(r) => r
                        .role()
                        .and_then(|r| r.assume_role_policy_document())
                        .map(str::to_string),
                    Err(e) => {
                        problems.push(format!(
                            "iam:GetRole {}: {}",
                            crate::base::text::excerpt(role.arn()),
                            describe(&e)
                        ));
                        continue;
                    }
                },
            };
            out.push(RolePolicy {
                role_arn: role.arn().to_string(),
                document: document(text.map(serde_json::Value::String).as_ref()),
                origin: origin.clone(),
            });
        }
    }
    Ok((out, problems))
}
