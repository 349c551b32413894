//! The examples each command's long help (`--help`) ends with: the commands a first reader
//! needs, with the options they will reach for first.

#[cfg(feature = "analyzer")]
pub const BY_INSTANCE: &str = "\
Examples:
  janus-audit by-instance fixtures/cloudtrail
  janus-audit by-instance ~/trail --since 2026-10-01 --until 2026-10-08
  janus-audit by-instance s3://my-trail/org --since 7d --regions us-east-1,eu-west-1
  janus-audit by-instance --dataset ~/ds --since 30d --format csv -o by-instance.csv
  janus-audit by-instance ~/trail --columns instance,api_calls,foreign_ip_calls";

#[cfg(feature = "analyzer")]
pub const SESSIONS: &str = "\
Examples:
  janus-audit sessions fixtures/cloudtrail --format csv
  janus-audit sessions ~/trail --since 24h --wide
  janus-audit sessions --from-api --regions all --since 2d";

#[cfg(feature = "analyzer")]
pub const QUERY: &str = "\
Examples:
  janus-audit query calls fixtures/cloudtrail --format csv
  janus-audit query \"SELECT event_name, COUNT(*) n FROM calls GROUP BY 1 ORDER BY n DESC\" ~/trail
  janus-audit query my-report.sql --dataset ~/ds --since 30d
  janus-audit tables                      # the tables and columns a query can read";

#[cfg(feature = "analyzer")]
pub const FINDINGS: &str = "\
Examples:
  janus-audit findings fixtures/findings
  janus-audit findings ~/trail --since 24h --fail-on high          # exit 4 when one is found
  janus-audit findings ~/trail --trusted-cidrs egress.txt --set recon_min_distinct=12
  janus-audit findings ~/trail --sigma                 # and the SigmaHQ CloudTrail rules shipped";

#[cfg(feature = "analyzer")]
pub const SIGMA: &str = "\
Examples:
  janus-audit sigma shipped fixtures/sigma/trail       # the SigmaHQ CloudTrail rules shipped
  janus-audit sigma my-rules/ ~/trail --since 7d --format csv
  janus-audit findings ~/trail --sigma=my-rules/       # a finding per (rule, key)
  janus-audit sigma shipped --dataset ~/ds --since 30d # the matches `ingest --sigma` kept";

#[cfg(feature = "analyzer")]
pub const TIMELINE: &str = "\
Examples:
  janus-audit timeline fixtures/cloudtrail --instance etl-1
  janus-audit timeline ~/trail --access-key ASIAEXAMPLEKEY000001 --since 2026-10-05
  janus-audit timeline ~/trail --sub 111111111111111111111 --format csv";

#[cfg(feature = "analyzer")]
pub const REPORT: &str = "\
Examples:
  janus-audit report fixtures/findings --output-dir /tmp/reports --since 2026-10-01 --until 2026-11-01
  janus-audit report s3://my-trail/org --output-dir /srv/reports --state /srv/reports/state.json \\
      --formats csv,parquet,html --fail-on high                      # nightly from cron
  janus-audit report ~/trail --output-dir out --window 1h --as-of 2026-10-06T00:00:00Z --state s.json";

#[cfg(feature = "analyzer")]
pub const INGEST: &str = "\
Examples:
  janus-audit ingest fixtures/cloudtrail --dataset /tmp/ds
  janus-audit ingest s3://my-trail/org --since 2026-10-01 --dataset ~/ds --events
  janus-audit ingest ~/trail --dataset ~/ds --sigma                  # keep the Sigma rules' matches
  janus-audit by-instance --dataset ~/ds --since 2026-10-01          # then any report reads it";

#[cfg(feature = "analyzer")]
pub const SYNC: &str = "\
Examples:
  janus-audit sync s3://my-trail/org ~/mirror --since 7d
  janus-audit verify ~/mirror --since 7d                               # offline, from the mirror";

#[cfg(feature = "analyzer")]
pub const VERIFY: &str = "\
Examples:
  janus-audit verify ~/mirror --since 2026-10-01 --until 2026-10-08
  janus-audit verify s3://my-trail/org --since 24h
  aws cloudtrail list-public-keys > keys.json
  janus-audit verify ~/mirror --public-keys keys.json                  # trust only AWS's keys";

#[cfg(feature = "analyzer")]
pub const TRUST: &str = "\
Examples:
  aws iam get-account-authorization-details --filter Role > roles.json
  janus-audit trust --policies roles.json                          # every role, every statement
  janus-audit trust --policies roles.json --format csv -o trust.csv
  janus-audit trust --policies fixtures/trust/roles               # the bundled cases";

#[cfg(feature = "analyzer")]
pub const DDL: &str = "\
Examples:
  janus-audit dataset ddl --dataset ~/ds --engine spark > tables.sql
  janus-audit dataset ddl --dataset ~/ds --engine athena --location s3://my-bucket/ds";

#[cfg(feature = "analyzer")]
pub const TABLES: &str = "\
Examples:
  janus-audit tables
  janus-audit tables --format markdown > TABLES.md";

#[cfg(feature = "credentials")]
pub const CREDENTIALS: &str = "\
Examples:
  # On the VM: what the role's trust policy must say (create the role with it), and why
  janus-audit credentials --role-arn arn:aws:iam::111122223333:role/gcp-app --explain

  # ~/.aws/config, then any AWS SDK or the CLI uses it
  [profile gcp]
  credential_process = janus-audit credentials --role-arn arn:aws:iam::111122223333:role/gcp-app

  # Check: the session is named project-id.instance
  aws sts get-caller-identity --profile gcp

  # Not on GCE: a token from gcloud, a file, or by impersonating the service account
  janus-audit credentials --role-arn ARN --token-source gcloud
  janus-audit credentials --role-arn ARN --token-source impersonate --service-account SA_EMAIL

  # Clients that cannot run a credential_process
  janus-audit credentials serve --role-arn ARN --print-env
  janus-audit credentials exec --role-arn ARN -- aws s3 ls

The whole set-up, from a new GCP project and AWS account: docs/CREDENTIALS.md.";

#[cfg(feature = "credentials")]
pub const SERVE: &str = "\
Examples:
  janus-audit credentials serve --role-arn arn:aws:iam::111122223333:role/gcp-app --print-env
  janus-audit credentials serve --role-arn ARN --auth-token-file /run/janus/token --port 9911";

#[cfg(feature = "credentials")]
pub const EXEC: &str = "\
Examples:
  janus-audit credentials exec --role-arn arn:aws:iam::111122223333:role/gcp-app -- aws s3 ls
  janus-audit credentials exec --role-arn ARN -- terraform plan";

pub const MAN: &str = "\
Examples:
  janus-audit man | man -l -
  janus-audit man --dir ~/.local/share/man/man1";

pub const COMPLETIONS: &str = "\
Examples:
  janus-audit completions bash > ~/.local/share/bash-completion/completions/janus-audit
  janus-audit completions zsh > \"${fpath[1]}/_janus-audit\"";
