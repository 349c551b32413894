//! Records → column builders → polars tables. The schemas here are the contract users write SQL
//! against (documented in the README); keep them stable.
//!
//! Tables:
//! - `events`: every unique record in the window (built only when a query reads it).
//! - `role_calls`: every record made inside an assumed-role session (temporary `ASIA` key or
//!   `AssumedRole` identity), in the window.
//! - `assumptions`: every `AssumeRoleWithWebIdentity`, successful or not, whatever its time, with
//!   `in_window` saying whether it counts in the report; earlier ones still own later calls.
//! - `files`: one row per input file and what became of it.

use polars::prelude::*;

use crate::naming::{self, InstanceSource};
use crate::record::{
    self, Record, SessionContext, UserIdentity, WebIdentityRequest, WebIdentityResponse,
    account_from_arn, is_service_source, session_name_from_arn,
};
use crate::timefmt::{Millis, Window, parse_event_time, parse_expiration};

pub const ARWWI: &str = "AssumeRoleWithWebIdentity";
pub const GOOGLE: &str = "accounts.google.com";

/// Which tables ingest must build. `events` is by far the largest, so it is opt-in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub events: bool,
}

/// Declares a table: a struct of builders, a `new`, and a `finish` into a DataFrame whose column
/// order is the declaration order. One place names every column once.
macro_rules! table {
    ($name:ident { $($col:ident : $kind:ident),* $(,)? }) => {
        pub struct $name {
            len: usize,
            $(pub $col: table!(@ty $kind),)*
        }
        impl $name {
            pub fn new(cap: usize) -> Self {
                Self { len: 0, $($col: table!(@new $kind, stringify!($col), cap),)* }
            }
            fn finish(self) -> DataFrame {
                let cols = vec![$(table!(@finish $kind, stringify!($col), self.$col)),*];
                DataFrame::new(self.len, cols).expect("builders of one table have one length")
            }
        }
    };
    (@ty str) => { StringChunkedBuilder };
    (@ty time) => { Vec<Option<Millis>> };
    (@ty i64) => { Vec<Option<i64>> };
    (@ty u32) => { Vec<u32> };
    (@ty bool) => { Vec<bool> };
    (@new str, $n:expr, $cap:expr) => { StringChunkedBuilder::new($n.into(), $cap) };
    (@new $other:ident, $n:expr, $cap:expr) => { Vec::with_capacity($cap) };
    (@finish str, $n:expr, $b:expr) => { $b.finish().into_column() };
    (@finish time, $n:expr, $v:expr) => {
        Int64Chunked::from_iter_options($n.into(), $v.into_iter())
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
            .into_column()
    };
    (@finish i64, $n:expr, $v:expr) => {
        Int64Chunked::from_iter_options($n.into(), $v.into_iter()).into_column()
    };
    (@finish u32, $n:expr, $v:expr) => { UInt32Chunked::from_vec($n.into(), $v).into_column() };
    (@finish bool, $n:expr, $v:expr) => {
        BooleanChunked::from_iter_values($n.into(), $v.into_iter()).into_column()
    };
}

table!(EventCols {
    event_id: str,
    event_time: time,
    event_source: str,
    event_name: str,
    event_type: str,
    aws_region: str,
    source_ip: str,
    user_agent: str,
    error_code: str,
    error_message: str,
    identity_type: str,
    principal_id: str,
    identity_arn: str,
    account_id: str,
    recipient_account_id: str,
    access_key_id: str,
    user_name: str,
    invoked_by: str,
    session_issuer_arn: str,
    session_name: str,
    web_id_provider: str,
    web_id_sub: str,
    file_id: u32,
});

table!(RoleCallCols {
    event_id: str,
    event_time: time,
    event_source: str,
    event_name: str,
    aws_region: str,
    source_ip: str,
    user_agent: str,
    error_code: str,
    access_key_id: str,
    identity_arn: str,
    account_id: str,
    session_issuer_arn: str,
    session_name: str,
    session_created_at: time,
    invoked_by: str,
    is_service: bool,
    web_id_provider: str,
    web_id_sub: str,
    file_id: u32,
    // From `--trusted-cidrs`: the call came from one of the project's own ranges. Filled with
    // false here; the engine sets it when ranges are given.
    trusted_source: bool,
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
    provider: str,
    aud: str,
    sub: str,
    project: str,
    instance: str,
    zone: str,
    instance_source: str,
    in_window: bool,
    file_id: u32,
});

/// What ingest noticed about records beyond their count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecordStats {
    /// Records read (before de-duplication).
    pub records: u64,
    /// Records without an `eventID` (cannot be de-duplicated; all kept).
    pub without_event_id: u64,
    /// Records without a readable `eventTime` (kept; they fall outside any bounded window).
    pub without_time: u64,
    /// AssumeRoleWithWebIdentity records that issued no readable key or expiration.
    pub incomplete_assumptions: u64,
}

impl RecordStats {
    fn add(&mut self, o: &RecordStats) {
        self.records += o.records;
        self.without_event_id += o.without_event_id;
        self.without_time += o.without_time;
        self.incomplete_assumptions += o.incomplete_assumptions;
    }
}

/// The builders one ingest worker fills. Workers finish into [`Part`]s that are stacked in input
/// order, so de-duplication keeps the first copy in path order on every run.
pub struct Sink {
    window: Window,
    events: Option<EventCols>,
    calls: RoleCallCols,
    assumptions: AssumptionCols,
    ids: EventIds,
    pub stats: RecordStats,
}

/// Every `eventID` read, only to count duplicates. CloudTrail IDs are lowercase UUIDs, kept as
/// 128-bit integers: sorting a million of those is far cheaper than hashing a million strings.
#[derive(Default)]
pub struct EventIds {
    uuids: Vec<u128>,
    other: Vec<String>,
}

impl EventIds {
    fn push(&mut self, id: &str) {
        // Only the canonical spelling (36 chars, lowercase): try_parse also reads braced, URN
        // and bare-hex forms, and two spellings of one UUID must count as two IDs here, as they
        // do in the string-keyed de-duplication of the tables.
        let canonical = id.len() == 36 && !id.bytes().any(|b| b.is_ascii_uppercase());
        match uuid::Uuid::try_parse(id) {
            Ok(u) if canonical => self.uuids.push(u.as_u128()),
            _ => self.other.push(id.to_string()),
        }
    }

    fn len(&self) -> usize {
        self.uuids.len() + self.other.len()
    }

    fn append(&mut self, mut o: EventIds) {
        self.uuids.append(&mut o.uuids);
        self.other.append(&mut o.other);
    }

    fn unique(mut self) -> usize {
        use rayon::slice::ParallelSliceMut;
        self.uuids.par_sort_unstable();
        self.uuids.dedup();
        self.other.sort_unstable();
        self.other.dedup();
        self.uuids.len() + self.other.len()
    }
}

pub struct Part {
    events: Option<DataFrame>,
    calls: DataFrame,
    assumptions: DataFrame,
    ids: EventIds,
    stats: RecordStats,
}

fn push_str(b: &mut StringChunkedBuilder, v: Option<&str>) {
    b.append_option(v);
}

impl Sink {
    pub fn new(needs: Needs, window: Window) -> Self {
        Sink {
            window,
            events: needs.events.then(|| EventCols::new(1024)),
            calls: RoleCallCols::new(1024),
            assumptions: AssumptionCols::new(16),
            ids: EventIds::default(),
            stats: RecordStats::default(),
        }
    }

    /// Add one record. Never fails: what a record lacks is counted, not fatal.
    pub fn push(&mut self, r: &Record<'_>, file_id: u32) {
        self.stats.records += 1;
        let f = Fields::of(r);
        match f.event_id {
            Some(id) => self.ids.push(id),
            None => self.stats.without_event_id += 1,
        }
        if f.time.is_none() {
            self.stats.without_time += 1;
        }
        let in_window = self.window.contains(f.time);
        if f.is_arwwi {
            self.push_assumption(r, f.time, in_window, file_id);
        }
        if !in_window {
            return;
        }
        if let Some(ev) = self.events.as_mut() {
            push_event(ev, r, &f, file_id);
        }
        let in_session = f.identity_type == Some("AssumedRole")
            || f.access_key.is_some_and(|k| k.starts_with("ASIA"));
        if in_session && !f.is_arwwi {
            push_call(&mut self.calls, r, &f, file_id);
        }
    }

    fn push_assumption(
        &mut self,
        r: &Record<'_>,
        time: Option<Millis>,
        in_window: bool,
        file_id: u32,
    ) {
        let ui = r.user_identity.get();
        let req: WebIdentityRequest = record::parse_raw(r.request_parameters);
        let resp: WebIdentityResponse = record::parse_raw(r.response_elements);
        let who = record::web_identity(
            ui.and_then(|u| u.principal_id.get()),
            ui.and_then(|u| u.identity_provider.get()),
            ui.and_then(|u| u.user_name.get()),
            &resp,
        );
        let creds = resp.credentials.get();
        let key = creds.and_then(|c| c.access_key_id.get());
        let expiration_raw = creds.and_then(|c| c.expiration.get());
        let expires_at = expiration_raw.and_then(parse_expiration);
        let failed = r.error_code.get().is_some();
        if !failed && (key.is_none() || expires_at.is_none()) {
            self.stats.incomplete_assumptions += 1;
        }
        let role_arn = req.role_arn.get();
        let session_name = req.role_session_name.get().or_else(|| {
            resp.assumed_role_user
                .get()
                .and_then(|u| u.arn.get())
                .and_then(session_name_from_arn)
        });
        let parsed = session_name.map(naming::parse_session_name);
        // A bare numeric session name is the Google `sub` itself.
        let source = parsed
            .as_ref()
            .map(|p| p.source)
            .unwrap_or(InstanceSource::Unrecognized);

        let a = &mut self.assumptions;
        a.len += 1;
        push_str(&mut a.event_id, r.event_id.get());
        a.event_time.push(time);
        push_str(&mut a.aws_region, r.aws_region.get());
        push_str(&mut a.issuing_ip, r.source_ip.get());
        push_str(&mut a.user_agent, r.user_agent.get());
        push_str(&mut a.error_code, r.error_code.get());
        push_str(&mut a.error_message, r.error_message.get());
        push_str(&mut a.access_key_id, key);
        a.expires_at.push(expires_at);
        push_str(&mut a.expiration_raw, expiration_raw);
        a.duration_seconds
            .push(req.duration_seconds.as_ref().and_then(|n| n.as_i64()));
        push_str(&mut a.role_arn, role_arn);
        push_str(
            &mut a.account_id,
            role_arn
                .and_then(account_from_arn)
                .or_else(|| r.recipient_account_id.get()),
        );
        push_str(&mut a.session_name, session_name);
        push_str(
            &mut a.assumed_role_arn,
            resp.assumed_role_user.get().and_then(|u| u.arn.get()),
        );
        push_str(&mut a.provider, who.provider);
        push_str(&mut a.aud, who.aud);
        push_str(&mut a.sub, who.sub);
        push_str(&mut a.project, parsed.as_ref().and_then(|p| p.project));
        push_str(&mut a.instance, parsed.as_ref().and_then(|p| p.instance));
        push_str(&mut a.zone, parsed.as_ref().and_then(|p| p.zone));
        push_str(&mut a.instance_source, Some(source.as_str()));
        a.in_window.push(in_window);
        a.file_id.push(file_id);
    }

    pub fn finish(self) -> Part {
        Part {
            events: self.events.map(EventCols::finish),
            calls: self.calls.finish(),
            assumptions: self.assumptions.finish(),
            ids: self.ids,
            stats: self.stats,
        }
    }
}

/// The fields of a record that more than one table reads, looked up once.
struct Fields<'r> {
    event_id: Option<&'r str>,
    time: Option<Millis>,
    ui: Option<&'r UserIdentity<'r>>,
    ctx: Option<&'r SessionContext<'r>>,
    issuer_arn: Option<&'r str>,
    identity_arn: Option<&'r str>,
    identity_type: Option<&'r str>,
    access_key: Option<&'r str>,
    event_name: Option<&'r str>,
    is_arwwi: bool,
    web_sub: Option<&'r str>,
    web_provider: Option<&'r str>,
    session_name: Option<&'r str>,
}

impl<'r> Fields<'r> {
    fn of(r: &'r Record<'r>) -> Self {
        let ui = r.user_identity.get();
        let ctx = ui.and_then(|u| u.session_context.get());
        let webfed = ctx.and_then(|c| c.web_id_federation_data.get());
        let identity_arn = ui.and_then(|u| u.arn.get());
        let event_name = r.event_name.get();
        let is_arwwi = event_name == Some(ARWWI);
        Fields {
            event_id: r.event_id.get(),
            time: r.event_time.get().and_then(parse_event_time),
            ui,
            ctx,
            issuer_arn: ctx
                .and_then(|c| c.session_issuer.get())
                .and_then(|i| i.arn.get()),
            identity_arn,
            identity_type: ui.and_then(|u| u.kind.get()),
            access_key: ui.and_then(|u| u.access_key_id.get()),
            event_name,
            is_arwwi,
            web_sub: webfed.and_then(|w| {
                w.attributes
                    .get()?
                    .iter()
                    .find(|(k, _)| k.ends_with(":sub"))
                    .and_then(|(_, v)| v.get())
            }),
            web_provider: webfed
                .and_then(|w| w.federated_provider.get())
                .or_else(|| is_arwwi.then(|| ui.and_then(|u| u.identity_provider.get()))?),
            session_name: identity_arn.and_then(session_name_from_arn),
        }
    }
}

fn push_event(ev: &mut EventCols, r: &Record<'_>, f: &Fields<'_>, file_id: u32) {
    let ui = f.ui;
    ev.len += 1;
    push_str(&mut ev.event_id, f.event_id);
    ev.event_time.push(f.time);
    push_str(&mut ev.event_source, r.event_source.get());
    push_str(&mut ev.event_name, f.event_name);
    push_str(&mut ev.event_type, r.event_type.get());
    push_str(&mut ev.aws_region, r.aws_region.get());
    push_str(&mut ev.source_ip, r.source_ip.get());
    push_str(&mut ev.user_agent, r.user_agent.get());
    push_str(&mut ev.error_code, r.error_code.get());
    push_str(&mut ev.error_message, r.error_message.get());
    push_str(&mut ev.identity_type, f.identity_type);
    push_str(&mut ev.principal_id, ui.and_then(|u| u.principal_id.get()));
    push_str(&mut ev.identity_arn, f.identity_arn);
    push_str(&mut ev.account_id, ui.and_then(|u| u.account_id.get()));
    push_str(&mut ev.recipient_account_id, r.recipient_account_id.get());
    push_str(&mut ev.access_key_id, f.access_key);
    push_str(&mut ev.user_name, ui.and_then(|u| u.user_name.get()));
    push_str(&mut ev.invoked_by, ui.and_then(|u| u.invoked_by.get()));
    push_str(&mut ev.session_issuer_arn, f.issuer_arn);
    push_str(&mut ev.session_name, f.session_name);
    push_str(&mut ev.web_id_provider, f.web_provider);
    push_str(
        &mut ev.web_id_sub,
        f.web_sub
            .or_else(|| f.is_arwwi.then(|| ui.and_then(|u| u.user_name.get()))?),
    );
    ev.file_id.push(file_id);
}

fn push_call(c: &mut RoleCallCols, r: &Record<'_>, f: &Fields<'_>, file_id: u32) {
    let ui = f.ui;
    c.len += 1;
    let source_ip = r.source_ip.get();
    let invoked_by = ui.and_then(|u| u.invoked_by.get());
    push_str(&mut c.event_id, f.event_id);
    c.event_time.push(f.time);
    push_str(&mut c.event_source, r.event_source.get());
    push_str(&mut c.event_name, f.event_name);
    push_str(&mut c.aws_region, r.aws_region.get());
    push_str(&mut c.source_ip, source_ip);
    push_str(&mut c.user_agent, r.user_agent.get());
    push_str(&mut c.error_code, r.error_code.get());
    push_str(&mut c.access_key_id, f.access_key);
    push_str(&mut c.identity_arn, f.identity_arn);
    push_str(
        &mut c.account_id,
        ui.and_then(|u| u.account_id.get())
            .or_else(|| r.recipient_account_id.get()),
    );
    push_str(&mut c.session_issuer_arn, f.issuer_arn);
    push_str(&mut c.session_name, f.session_name);
    c.session_created_at.push(
        f.ctx
            .and_then(|c| c.attributes.get())
            .and_then(|a| a.creation_date.get())
            .and_then(parse_event_time),
    );
    push_str(&mut c.invoked_by, invoked_by);
    c.is_service
        .push(invoked_by.is_some() || source_ip.is_some_and(is_service_source));
    push_str(&mut c.web_id_provider, f.web_provider);
    push_str(&mut c.web_id_sub, f.web_sub);
    c.file_id.push(file_id);
    c.trusted_source.push(false);
}

/// The tables after every file is read and duplicates are gone.
pub struct Tables {
    pub events: Option<DataFrame>,
    pub role_calls: DataFrame,
    pub assumptions: DataFrame,
    pub stats: RecordStats,
    /// Records dropped because their `eventID` was already seen (org trail + account trail).
    pub duplicates: u64,
}

/// Which web-identity providers the reports cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderFilter {
    Google,
    Any,
}

impl ProviderFilter {
    /// Every choice, with the name `--provider` takes and what it covers.
    pub const ALL: [(ProviderFilter, &'static str, &'static str); 2] = [
        (
            ProviderFilter::Google,
            "google",
            "Only sessions federated from accounts.google.com",
        ),
        (
            ProviderFilter::Any,
            "any",
            "Every web identity provider (GitHub Actions, EKS, ...)",
        ),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderFilter::Google => "google",
            ProviderFilter::Any => "any",
        }
    }
}

fn stack(frames: impl Iterator<Item = DataFrame>) -> PolarsResult<Option<DataFrame>> {
    let mut out: Option<DataFrame> = None;
    for df in frames {
        match out.as_mut() {
            None => out = Some(df),
            Some(acc) => {
                acc.vstack_mut_owned(df)?;
            }
        }
    }
    Ok(out)
}

/// Keep the first row of each `event_id`, in input order; rows without one are all kept.
fn dedupe(df: DataFrame) -> PolarsResult<DataFrame> {
    let lf = df.lazy().with_row_index("__row", None);
    let with_id = lf
        .clone()
        .filter(col("event_id").is_not_null())
        .unique_stable(Some(cols(["event_id"])), UniqueKeepStrategy::First);
    let without_id = lf.filter(col("event_id").is_null());
    concat([with_id, without_id], UnionArgs::default())?
        .sort(["__row"], SortMultipleOptions::default())
        .drop(cols(["__row"]))
        .collect()
}

impl Tables {
    pub fn from_parts(parts: Vec<Part>, providers: &ProviderFilter) -> PolarsResult<Tables> {
        let mut stats = RecordStats::default();
        let mut events = Vec::new();
        let mut calls = Vec::new();
        let mut assumptions = Vec::new();
        let mut ids = EventIds::default();
        for p in parts {
            stats.add(&p.stats);
            events.extend(p.events);
            calls.push(p.calls);
            assumptions.push(p.assumptions);
            ids.append(p.ids);
        }
        let with_id = ids.len() as u64;
        let unique_ids = ids.unique() as u64;
        let duplicates = with_id - unique_ids;
        // Most inputs hold no duplicate at all; then de-duplication is pure cost.
        let dedupe_if_any = |df: DataFrame| {
            if duplicates == 0 { Ok(df) } else { dedupe(df) }
        };
        let empty_calls = || RoleCallCols::new(0).finish();
        let empty_assumptions = || AssumptionCols::new(0).finish();
        let events = stack(events.into_iter())?.map(dedupe_if_any).transpose()?;
        let role_calls = dedupe_if_any(stack(calls.into_iter())?.unwrap_or_else(empty_calls))?;
        let mut assumptions =
            dedupe_if_any(stack(assumptions.into_iter())?.unwrap_or_else(empty_assumptions))?;
        if *providers == ProviderFilter::Google {
            assumptions = assumptions
                .lazy()
                .filter(col("provider").eq(lit(GOOGLE)))
                .collect()?;
        }
        Ok(Tables {
            events,
            role_calls,
            assumptions,
            stats,
            duplicates,
        })
    }
}

/// Every table built here: name, what it holds, and its schema, for `janus-audit tables`.
pub fn schemas() -> Vec<(&'static str, &'static str, Schema)> {
    let s = |df: DataFrame| df.schema().as_ref().clone();
    vec![
        (
            "events",
            "every unique record in the window (built only when a query names it)",
            s(EventCols::new(0).finish()),
        ),
        (
            "role_calls",
            "records made in an assumed-role session, in the window",
            s(RoleCallCols::new(0).finish()),
        ),
        (
            "assumptions",
            "every AssumeRoleWithWebIdentity of the selected providers, whatever its time",
            s(AssumptionCols::new(0).finish()),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::EventIds;

    #[test]
    fn duplicate_count_follows_exact_strings() {
        let mut ids = EventIds::default();
        for id in [
            "be170ced-ba43-4a02-9b70-f18127034945",
            "be170ced-ba43-4a02-9b70-f18127034945", // a real duplicate
            "be170cedba434a029b70f18127034945",     // same UUID, another spelling: distinct
            "BE170CED-BA43-4A02-9B70-F18127034945", // upper case: distinct
            "bEXAMPLE-0b30-4246-b28c-e3da3EXAMPLE", // not a UUID at all
            "bEXAMPLE-0b30-4246-b28c-e3da3EXAMPLE",
        ] {
            ids.push(id);
        }
        assert_eq!(ids.len(), 6);
        assert_eq!(ids.unique(), 4);
    }
}
