//! The raw tables' columns, declared once each: the builders ingest fills, and so the schemas
//! users write SQL against (docs/TABLES.md is generated from them).

use polars::prelude::*;

use crate::base::timefmt::Millis;

/// Declares a table: a struct of builders, a `new`, and a `finish` into a DataFrame whose column
/// order is the declaration order. One place names every column once.
///
/// A kind written `opt(KIND)` is a column built only when asked for: `lean` leaves it out (each
/// row then costs it nothing) and `finish` gives a column of nulls of its type in its place.
macro_rules! table {
    ($name:ident { $($col:ident : $kind:ident $(($inner:ident))?),* $(,)? }) => {
        pub struct $name {
            pub len: usize,
            $(pub $col: table!(@ty $kind $($inner)?),)*
        }
        impl $name {
            /// Every column built.
            pub fn new(cap: usize) -> Self {
                Self { len: 0, $($col: table!(@new $kind $($inner)?, stringify!($col), cap, true),)* }
            }
            /// The `opt` columns left out.
            pub fn lean(cap: usize) -> Self {
                Self { len: 0, $($col: table!(@new $kind $($inner)?, stringify!($col), cap, false),)* }
            }
            pub fn finish(self) -> DataFrame {
                let len = self.len;
                let cols = vec![$(table!(@finish $kind $($inner)?, stringify!($col), self.$col, len)),*];
                DataFrame::new(len, cols).expect("builders of one table have one length")
            }
        }
    };
    (@ty opt $inner:ident) => { Option<table!(@ty $inner)> };
    (@new opt $inner:ident, $n:expr, $cap:expr, $full:expr) => {
        $full.then(|| table!(@new $inner, $n, $cap, true))
    };
    (@finish opt $inner:ident, $n:expr, $b:expr, $len:expr) => {
        match $b {
            Some(b) => {
                // The list builder finishes through `&mut`; the others by value.
                #[allow(unused_mut)]
                let mut b = b;
                table!(@finish $inner, $n, b, $len)
            }
            None => Column::full_null($n.into(), $len, &table!(@dtype $inner)),
        }
    };
    (@dtype str) => { DataType::String };
    (@dtype dict) => { DataType::String };
    (@dtype list) => { DataType::List(Box::new(DataType::String)) };
    (@ty list) => { ListStringChunkedBuilder };
    (@new list, $n:expr, $cap:expr, $full:expr) => {
        ListStringChunkedBuilder::new($n.into(), $cap, $cap * 2)
    };
    (@finish list, $n:expr, $b:expr, $len:expr) => { $b.finish().into_column() };
    (@ty str) => { StringChunkedBuilder };
    (@ty dict) => { Dict };
    (@ty time) => { Vec<Option<Millis>> };
    (@ty i64) => { Vec<Option<i64>> };
    (@ty u32) => { Vec<u32> };
    (@ty u64) => { Vec<u64> };
    (@ty bool) => { Vec<bool> };
    (@new str, $n:expr, $cap:expr, $full:expr) => { StringChunkedBuilder::new($n.into(), $cap) };
    (@new dict, $n:expr, $cap:expr, $full:expr) => { Dict::new($cap) };
    (@new $other:ident, $n:expr, $cap:expr, $full:expr) => { Vec::with_capacity($cap) };
    (@finish str, $n:expr, $b:expr, $len:expr) => { $b.finish().into_column() };
    (@finish dict, $n:expr, $b:expr, $len:expr) => { $b.finish($n).into_column() };
    (@finish time, $n:expr, $v:expr, $len:expr) => {
        Int64Chunked::from_iter_options($n.into(), $v.into_iter())
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
            .into_column()
    };
    (@finish i64, $n:expr, $v:expr, $len:expr) => {
        Int64Chunked::from_iter_options($n.into(), $v.into_iter()).into_column()
    };
    (@finish u32, $n:expr, $v:expr, $len:expr) => { UInt32Chunked::from_vec($n.into(), $v).into_column() };
    (@finish u64, $n:expr, $v:expr, $len:expr) => { UInt64Chunked::from_vec($n.into(), $v).into_column() };
    (@finish bool, $n:expr, $v:expr, $len:expr) => {
        BooleanChunked::from_iter_values($n.into(), $v.into_iter()).into_column()
    };
}

table!(EventCols {
    event_id: str,
    event_time: time,
    event_source: dict,
    event_name: dict,
    event_type: dict,
    aws_region: dict,
    source_ip: dict,
    user_agent: dict,
    error_code: dict,
    error_message: str,
    identity_type: dict,
    principal_id: dict,
    identity_arn: dict,
    account_id: dict,
    recipient_account_id: dict,
    access_key_id: dict,
    user_name: dict,
    invoked_by: dict,
    session_issuer_arn: dict,
    session_name: dict,
    web_id_provider: dict,
    web_id_sub: dict,
    file_id: u32,
    // What the call touched (`source::touched`): built only for a report whose queries name
    // them, and always for a dataset.
    request_parameters: opt(str),
    resources: opt(list),
    s3_bucket: opt(dict),
    s3_key: opt(str),
    // Input order (dedupe::SEQ): decides which copy of a repeated eventID survives; dropped
    // once it has.
    __seq: u64,
});

table!(RoleCallCols {
    event_id: str,
    event_time: time,
    event_source: dict,
    event_name: dict,
    aws_region: dict,
    source_ip: dict,
    user_agent: dict,
    error_code: dict,
    access_key_id: dict,
    identity_arn: dict,
    account_id: dict,
    session_issuer_arn: dict,
    session_name: dict,
    session_created_at: time,
    invoked_by: dict,
    is_service: bool,
    web_id_provider: dict,
    web_id_sub: dict,
    file_id: u32,
    // From `--trusted-cidrs`: the call came from one of the project's own ranges. Filled with
    // false here; the engine sets it when ranges are given.
    trusted_source: bool,
    // What the call touched (`source::touched`): built only for a report whose queries name
    // them, and always for a dataset.
    request_parameters: opt(str),
    resources: opt(list),
    s3_bucket: opt(dict),
    s3_key: opt(str),
    // Input order (dedupe::SEQ): decides which copy of a repeated eventID survives; dropped
    // once it has.
    __seq: u64,
});

table!(AssumptionCols {
    event_id: str,
    event_time: time,
    aws_region: str,
    issuing_ip: str,
    user_agent: str,
    error_code: str,
    error_message: str,
    access_key_id: str,
    expires_at: time,
    expiration_raw: str,
    duration_seconds: i64,
    role_arn: str,
    account_id: str,
    session_name: str,
    assumed_role_arn: str,
    source_identity: str,
    provider: str,
    aud: str,
    sub: str,
    project: str,
    instance: str,
    zone: str,
    instance_source: str,
    in_window: bool,
    file_id: u32,
    // Input order (dedupe::SEQ): decides which copy of a repeated eventID survives; dropped
    // once it has.
    __seq: u64,
});

table!(SigmaMatchCols {
    // The rule's place in the rule set (`sigma_rules.rule_no`).
    rule_no: u32,
    event_id: str,
    event_time: time,
    // Input order (dedupe::SEQ): the matches of a copy that does not survive go with it.
    __seq: u64,
});

table!(HopCols {
    event_id: str,
    event_time: time,
    aws_region: str,
    source_ip: str,
    user_agent: str,
    error_code: str,
    identity_type: str,
    parent_key: str,
    parent_arn: str,
    // The parent session's creationDate: with parent_key and parent_arn, which issuance of a
    // key ID the hop was made with (temporary key IDs repeat; see `lineage`).
    parent_created_at: time,
    access_key_id: str,
    // The issued session's ARN (responseElements.assumedRoleUser.arn, else made from the role
    // and session name): part of the issued key's identity.
    assumed_role_arn: str,
    expires_at: time,
    role_arn: str,
    account_id: str,
    session_name: str,
    source_identity: str,
    shared_event_id: str,
    recipient_account_id: str,
    in_window: bool,
    file_id: u32,
    // Input order (dedupe::SEQ): decides which copy of a repeated eventID survives; dropped
    // once it has.
    __seq: u64,
});

/// The `opt` columns of `role_calls` (and `events`): what a call touched.
pub const TOUCHED: [&str; 4] = ["request_parameters", "resources", "s3_bucket", "s3_key"];

table!(PolicyChangeCols {
    event_id: str,
    event_time: time,
    event_name: str,
    account_id: str,
    caller_arn: str,
    source_ip: str,
    // The request as JSON text: CreateRole's assumeRolePolicyDocument, UpdateAssumeRolePolicy's
    // policyDocument, the role's name and path.
    request_parameters: str,
    error_code: str,
    file_id: u32,
    // Input order (dedupe::SEQ): decides which copy of a repeated eventID survives; dropped
    // once it has.
    __seq: u64,
});

pub fn push_str(b: &mut impl PushStr, v: Option<&str>) {
    b.push_str(v);
}

pub trait PushStr {
    fn push_str(&mut self, v: Option<&str>);
}

impl PushStr for StringChunkedBuilder {
    fn push_str(&mut self, v: Option<&str>) {
        self.append_option(v);
    }
}

/// A string column of few distinct values (services, names, regions, user agents, ARNs, keys):
/// each value is kept once per file and each row holds its code, and the finished column's
/// views all point into that one copy. Calls repeat a handful of values a million times; stored
/// whole, a 130-byte user agent alone was a quarter of the memory of a 3M-event report.
pub struct Dict {
    index: std::collections::HashMap<Box<str>, IdxSize, foldhash::fast::RandomState>,
    codes: Vec<Option<IdxSize>>,
}

impl Dict {
    pub(crate) fn new(cap: usize) -> Dict {
        Dict {
            index: Default::default(),
            codes: Vec::with_capacity(cap),
        }
    }

    pub(crate) fn finish(self, name: &str) -> StringChunked {
        let mut values = vec![""; self.index.len()];
        for (v, &code) in &self.index {
            values[code as usize] = v;
        }
        let dict = StringChunked::from_iter_values(name.into(), values.into_iter());
        let codes = IdxCa::from_iter_options("".into(), self.codes.into_iter());
        // Every code indexes `values`: take cannot fail.
        dict.take(&codes).expect("codes index the dictionary")
    }
}

impl PushStr for Dict {
    fn push_str(&mut self, v: Option<&str>) {
        let code = v.map(|v| match self.index.get(v) {
            Some(&c) => c,
            None => {
                let c = self.index.len() as IdxSize;
                self.index.insert(v.into(), c);
                c
            }
        });
        self.codes.push(code);
    }
}

/// The tables SQL reads, by the names it reads them under: one home for them. The model builds
/// the first five from the records; `queries/calls.sql` derives `calls`, and the other queries
/// of derived tables (`query::DERIVED`) theirs; `files` says what
/// became of each input file; `timeline_filter`, `findings_params` and `trust_versions` are
/// parameter tables a command fills; the `gcp_` tables come from `--gcp-logs` (see `gcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Events,
    RoleCalls,
    Assumptions,
    Hops,
    PolicyChanges,
    KeyLineage,
    KeyActivity,
    Calls,
    CallGroups,
    FlaggedCalls,
    OrphanCalls,
    Files,
    TimelineFilter,
    FindingsParams,
    TrustVersions,
    GcpInstances,
    GcpServiceAccounts,
    GcpMints,
    GcpChanges,
    GcpCoverage,
    GcpTimeline,
    GcpVerdicts,
    SigmaRules,
    SigmaMatches,
}

impl Table {
    /// Every table, in the order above.
    pub const ALL: [Table; 24] = [
        Table::Events,
        Table::RoleCalls,
        Table::Assumptions,
        Table::Hops,
        Table::PolicyChanges,
        Table::KeyLineage,
        Table::KeyActivity,
        Table::Calls,
        Table::CallGroups,
        Table::FlaggedCalls,
        Table::OrphanCalls,
        Table::Files,
        Table::TimelineFilter,
        Table::FindingsParams,
        Table::TrustVersions,
        Table::GcpInstances,
        Table::GcpServiceAccounts,
        Table::GcpMints,
        Table::GcpChanges,
        Table::GcpCoverage,
        Table::GcpTimeline,
        Table::GcpVerdicts,
        Table::SigmaRules,
        Table::SigmaMatches,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::RoleCalls => "role_calls",
            Table::Assumptions => "assumptions",
            Table::Hops => "hops",
            Table::PolicyChanges => "policy_changes",
            Table::KeyLineage => "key_lineage",
            Table::KeyActivity => "key_activity",
            Table::Calls => "calls",
            Table::CallGroups => "call_groups",
            Table::FlaggedCalls => "flagged_calls",
            Table::OrphanCalls => "orphan_calls",
            Table::Files => "files",
            Table::TimelineFilter => "timeline_filter",
            Table::FindingsParams => "findings_params",
            Table::TrustVersions => "trust_versions",
            Table::GcpInstances => "gcp_instances",
            Table::GcpServiceAccounts => "gcp_service_accounts",
            Table::GcpMints => "gcp_mints",
            Table::GcpChanges => "gcp_changes",
            Table::GcpCoverage => "gcp_coverage",
            Table::GcpTimeline => "gcp_timeline",
            Table::GcpVerdicts => "gcp_verdicts",
            Table::SigmaRules => "sigma_rules",
            Table::SigmaMatches => "sigma_matches",
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Empty raw tables, for a dataset partition that holds no rows of one of them.
pub fn empty_raw(table: &str) -> Option<DataFrame> {
    match table {
        t if t == Table::Events.name() => Some(EventCols::new(0).finish()),
        t if t == Table::RoleCalls.name() => Some(RoleCallCols::new(0).finish()),
        t if t == Table::Assumptions.name() => Some(AssumptionCols::new(0).finish()),
        t if t == Table::Hops.name() => Some(HopCols::new(0).finish()),
        t if t == Table::PolicyChanges.name() => Some(PolicyChangeCols::new(0).finish()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dictionary_column_gives_back_every_value_in_order_and_stores_each_once() {
        let agent = "aws-cli/2.27.0 md/awscrt#0.23.8 ua/2.1 os/linux#6.1.0 md/arch#x86_64 lang/python#3.12.9";
        let input: Vec<Option<&str>> = (0..1000)
            .map(|i| match i % 4 {
                0 => Some(agent),
                1 => None,
                2 => Some("s3.amazonaws.com"),
                _ => Some(if i % 8 == 3 {
                    ""
                } else {
                    "a-value-longer-than-twelve-bytes"
                }),
            })
            .collect();
        let mut d = Dict::new(0);
        for v in &input {
            d.push_str(*v);
        }
        let col = d.finish("c");
        assert_eq!(col.name().as_str(), "c");
        assert_eq!(col.iter().collect::<Vec<_>>(), input);
        // 250 copies of a long value share one copy of its bytes.
        let bytes: usize = col.downcast_iter().map(|a| a.total_buffer_len()).sum();
        assert!(bytes < 2 * agent.len() + 64, "{bytes} bytes of string data");
    }
}
