//! Records into rows: what one ingest worker makes of each record it is handed, into the raw
//! tables' builders, and what it counts about the records beyond their number.

use polars::prelude::*;

use crate::analyzer::model::dedupe::{self, Duplicates, EventIds};
use crate::analyzer::model::schema::{
    AssumptionCols, Dict, EventCols, HopCols, PolicyChangeCols, RoleCallCols, SigmaMatchCols,
    push_str,
};
use crate::analyzer::sigma::RuleSet;
use crate::analyzer::source::record::{
    self, Record, RoleRequest, SessionContext, UserIdentity, WebIdentityResponse, account_from_arn,
    is_service_source, session_name_from_arn,
};
use crate::analyzer::source::touched;
use crate::base::naming::{self, InstanceSource};
use crate::base::timefmt::{Millis, Window, parse_event_time, parse_expiration};

use crate::analyzer::source::record::{ARWWI, ASSUME_ROLE, GOOGLE};

/// The provider of an assumption whose record names none and whose evidence is not Google's.
pub const UNKNOWN: &str = "unknown";

/// Which tables ingest must build. `events` is by far the largest, so it is opt-in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub events: bool,
    /// Keep each eventID's time (a dataset partitions its `ids` table by date).
    pub id_times: bool,
    /// Build what each call touched (`source::touched`) in `role_calls`: its request is often
    /// the widest thing in a record, so only for queries that name those columns, and a dataset.
    pub touched: bool,
    /// No query reads `calls` or `role_calls` whole, only their groups (`key_activity`, when
    /// `groups`) or the tables made a call at a time (`query::PER_CALL`): a dataset then reads
    /// the calls piece by piece and keeps only those, never the calls.
    pub piecewise: bool,
    /// A query reads `key_activity`.
    pub groups: bool,
}

/// What ingest noticed about records beyond their count.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecordStats {
    /// Records read (before de-duplication).
    pub records: u64,
    /// Records without an `eventID` (cannot be de-duplicated; all kept).
    pub without_event_id: u64,
    /// Records without an `eventTime` (kept; they fall outside any bounded window).
    pub without_time: u64,
    /// Records whose `eventTime` is there but not a time (kept, like those without one).
    pub unreadable_time: u64,
    /// AssumeRoleWithWebIdentity records that issued no readable key or expiration.
    pub incomplete_assumptions: u64,
    /// Values inside a record that could not be read and were taken as null.
    pub values_nulled: u64,
    /// The first unreadable `eventTime`, as an example for the summary (escaped and capped).
    pub unreadable_time_example: Option<String>,
    /// Of `without_time`, records that carry only a Logstash/Elastic `@timestamp`.
    pub only_at_timestamp: u64,
    /// Each record with an eventID and no readable time: (ID, input position, whether its
    /// eventTime was there but unreadable, whether it had only `@timestamp`). The counts are
    /// taken again once repeated IDs are resolved, so that they count the records the tables
    /// hold (few records lack a time).
    pub timeless: Vec<(String, u64, bool, bool)>,
    /// Records whose time falls in the window (before de-duplication).
    pub in_window: u64,
    /// The earliest and latest readable eventTime of every record read, in the window or not.
    pub earliest: Option<Millis>,
    pub latest: Option<Millis>,
}

impl RecordStats {
    pub(super) fn add(&mut self, o: &RecordStats) {
        self.records += o.records;
        self.without_event_id += o.without_event_id;
        self.without_time += o.without_time;
        self.unreadable_time += o.unreadable_time;
        self.incomplete_assumptions += o.incomplete_assumptions;
        self.values_nulled += o.values_nulled;
        self.only_at_timestamp += o.only_at_timestamp;
        self.timeless.extend(o.timeless.iter().cloned());
        self.in_window += o.in_window;
        self.earliest = self.earliest.into_iter().chain(o.earliest).min();
        self.latest = self.latest.max(o.latest);
        if self.unreadable_time_example.is_none() {
            self.unreadable_time_example = o.unreadable_time_example.clone();
        }
    }

    /// Take the counts of records without a readable time again over the copies that survive
    /// de-duplication: a record delivered twice is one record in every table.
    pub(super) fn recount_timeless(&mut self, dups: &Duplicates) {
        let firsts = dups.first_copies(self.timeless.iter().map(|t| t.0.as_str()));
        for (id, seq, unreadable, at_only) in std::mem::take(&mut self.timeless) {
            if firsts.get(id.as_str()).is_some_and(|first| *first != seq) {
                match unreadable {
                    true => self.unreadable_time -= 1,
                    false => self.without_time -= 1,
                }
                self.only_at_timestamp -= at_only as u64;
            }
        }
    }
}

/// The builders one ingest worker fills. Workers finish into [`Part`]s that are stacked in input
/// order, so de-duplication keeps the first copy in path order on every run.
pub struct Sink {
    window: Window,
    events: Option<EventCols>,
    calls: RoleCallCols,
    assumptions: AssumptionCols,
    hops: HopCols,
    policy_changes: PolicyChangeCols,
    ids: EventIds,
    /// The Sigma rules evaluated on each record in the window, and what they matched.
    sigma: Option<(std::sync::Arc<RuleSet>, SigmaMatchCols, Vec<u32>)>,
    pub stats: RecordStats,
}

pub struct Part {
    pub(super) events: Option<DataFrame>,
    pub(super) calls: DataFrame,
    pub(super) assumptions: DataFrame,
    pub(super) hops: DataFrame,
    pub(super) policy_changes: DataFrame,
    pub(super) ids: EventIds,
    pub(super) sigma_matches: Option<DataFrame>,
    pub(super) stats: RecordStats,
}

impl Sink {
    pub fn new(needs: Needs, window: Window) -> Self {
        Sink {
            window,
            events: needs.events.then(|| EventCols::new(1024)),
            calls: match needs.touched {
                true => RoleCallCols::new(1024),
                false => RoleCallCols::lean(1024),
            },
            assumptions: AssumptionCols::new(16),
            hops: HopCols::new(0),
            policy_changes: PolicyChangeCols::new(0),
            ids: if needs.id_times {
                EventIds::with_times()
            } else {
                EventIds::default()
            },
            sigma: None,
            stats: RecordStats::default(),
        }
    }

    /// Evaluate `rules` on every record in the window ([`Sink::push_sigma`]).
    pub fn with_sigma(mut self, rules: Option<std::sync::Arc<RuleSet>>) -> Self {
        self.sigma = rules.map(|r| (r, SigmaMatchCols::new(0), Vec::new()));
        self
    }

    /// Whether records must come with their own text ([`Sink::push_sigma`]).
    pub fn wants_texts(&self) -> bool {
        self.sigma.is_some()
    }

    /// The Sigma rules `text`, its record's own JSON, holds for. Every copy of a repeated
    /// eventID is evaluated: the matches of the copies that do not survive are dropped with
    /// them.
    fn push_sigma(&mut self, text: &str, f: &Fields<'_>) {
        let Some((rules, m, found)) = self.sigma.as_mut() else {
            return;
        };
        rules.matching(text, found);
        for &rule in found.iter() {
            m.rule_no.push(rule);
            push_str(&mut m.event_id, f.event_id);
            m.event_time.push(f.time);
            m.__seq.push(f.seq);
            m.len += 1;
        }
    }

    /// Add record number `index` of file `file_id`. Never fails: what a record lacks is
    /// counted, not fatal.
    pub fn push(&mut self, r: &Record<'_>, file_id: u32, index: u32) {
        self.push_with_text(r, None, file_id, index);
    }

    /// [`Sink::push`], with the record's own JSON text when Sigma rules are evaluated
    /// ([`Sink::wants_texts`]): a record in the window is matched against them.
    pub fn push_with_text(&mut self, r: &Record<'_>, text: Option<&str>, file_id: u32, index: u32) {
        self.stats.records += 1;
        let f = Fields::of(r, dedupe::seq(file_id, index));
        match f.event_id {
            Some(id) => self
                .ids
                .push_timed(id, f.seq, dedupe::content_hash(r), f.time),
            None => self.stats.without_event_id += 1,
        }
        // Only a Logstash/Elastic `@timestamp` where eventTime should be.
        let at_only = r.event_time.get().is_none() && r.at_timestamp.is_some();
        match (r.event_time.get(), f.time) {
            (None, _) => {
                self.stats.without_time += 1;
                self.stats.only_at_timestamp += at_only as u64;
            }
            (Some(raw), None) => {
                self.stats.unreadable_time += 1;
                if self.stats.unreadable_time_example.is_none() {
                    self.stats.unreadable_time_example = Some(crate::base::text::excerpt(raw));
                }
            }
            _ => {}
        }
        if f.time.is_none()
            && let Some(id) = f.event_id
        {
            self.stats.timeless.push((
                id.to_string(),
                f.seq,
                r.event_time.get().is_some(),
                at_only,
            ));
        }
        let in_window = self.window.contains(f.time);
        self.stats.in_window += in_window as u64;
        if let Some(t) = f.time {
            self.stats.earliest = Some(self.stats.earliest.map_or(t, |e| e.min(t)));
            self.stats.latest = Some(self.stats.latest.map_or(t, |l| l.max(t)));
        }
        if f.is_arwwi {
            self.push_assumption(r, &f, in_window, file_id);
        } else if is_hop(&f) {
            self.push_hop(r, &f, in_window, file_id);
        } else if is_policy_change(r, &f) {
            push_policy_change(&mut self.policy_changes, r, &f, file_id);
        }
        if !in_window {
            return;
        }
        if let Some(t) = text {
            self.push_sigma(t, &f);
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

    fn push_assumption(&mut self, r: &Record<'_>, f: &Fields<'_>, in_window: bool, file_id: u32) {
        let time = f.time;
        let ui = r.user_identity.get();
        let mut repaired = String::new();
        let req = role_request(r, &mut repaired, &mut self.stats);
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
        let session_name = session_asked(&req, &resp);
        let parsed = session_name.map(naming::parse_session_name);
        // A bare 21-digit session name is the Google `sub` itself: only when the provider is
        // Google's, or not named.
        let source = match parsed.as_ref().map(|p| p.source) {
            Some(InstanceSource::NumericSub) if who.provider.is_some_and(|p| p != GOOGLE) => {
                InstanceSource::Unrecognized
            }
            Some(s) => s,
            None => InstanceSource::Unrecognized,
        };

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
            .push(req.duration_seconds.get().and_then(|n| n.parse().ok()));
        push_str(&mut a.role_arn, role_arn);
        push_str(&mut a.account_id, role_account(role_arn, r));
        push_str(&mut a.session_name, session_name);
        let mut made = None;
        push_str(
            &mut a.assumed_role_arn,
            issued_session_arn(&resp, role_arn, session_name, &mut made),
        );
        push_str(&mut a.source_identity, req.source_identity.get());
        push_str(&mut a.provider, who.provider);
        push_str(&mut a.aud, who.aud);
        push_str(&mut a.sub, who.sub);
        push_str(&mut a.project, parsed.as_ref().and_then(|p| p.project));
        push_str(&mut a.instance, parsed.as_ref().and_then(|p| p.instance));
        push_str(&mut a.zone, parsed.as_ref().and_then(|p| p.zone));
        push_str(&mut a.instance_source, Some(source.as_str()));
        a.in_window.push(in_window);
        a.file_id.push(file_id);
        a.__seq.push(f.seq);
    }

    fn push_hop(&mut self, r: &Record<'_>, f: &Fields<'_>, in_window: bool, file_id: u32) {
        let mut repaired = String::new();
        let req = role_request(r, &mut repaired, &mut self.stats);
        let resp: WebIdentityResponse = record::parse_raw(r.response_elements);
        let creds = resp.credentials.get();
        let role_arn = req.role_arn.get();
        let h = &mut self.hops;
        h.len += 1;
        push_str(&mut h.event_id, f.event_id);
        h.event_time.push(f.time);
        push_str(&mut h.aws_region, r.aws_region.get());
        push_str(&mut h.source_ip, r.source_ip.get());
        push_str(&mut h.user_agent, r.user_agent.get());
        push_str(&mut h.error_code, r.error_code.get());
        push_str(&mut h.identity_type, f.identity_type);
        push_str(&mut h.parent_key, f.access_key);
        push_str(&mut h.parent_arn, f.identity_arn);
        h.parent_created_at.push(session_created_at(f));
        push_str(
            &mut h.access_key_id,
            creds.and_then(|c| c.access_key_id.get()),
        );
        let session = session_asked(&req, &resp);
        let mut made = None;
        push_str(
            &mut h.assumed_role_arn,
            issued_session_arn(&resp, role_arn, session, &mut made),
        );
        h.expires_at.push(
            creds
                .and_then(|c| c.expiration.get())
                .and_then(parse_expiration),
        );
        push_str(&mut h.role_arn, role_arn);
        push_str(&mut h.account_id, role_account(role_arn, r));
        push_str(&mut h.session_name, session);
        push_str(&mut h.source_identity, req.source_identity.get());
        push_str(&mut h.shared_event_id, r.shared_event_id.get());
        push_str(&mut h.recipient_account_id, r.recipient_account_id.get());
        h.in_window.push(in_window);
        h.file_id.push(file_id);
        h.__seq.push(f.seq);
    }

    /// The tables, `role_calls` cut to `columns` when given: a worker's share is held until
    /// every file is read, and the columns no query names need not be.
    pub fn finish(self, columns: Option<&[String]>) -> Part {
        let calls = self.calls.finish();
        let calls = match columns {
            Some(c) => calls
                .select(c.iter().map(String::as_str))
                .expect("columns of role_calls"),
            None => calls,
        };
        Part {
            events: self.events.map(EventCols::finish),
            calls,
            assumptions: self.assumptions.finish(),
            hops: self.hops.finish(),
            policy_changes: self.policy_changes.finish(),
            ids: self.ids,
            sigma_matches: self.sigma.map(|(_, m, _)| m.finish()),
            stats: self.stats,
        }
    }
}

/// The request of an AssumeRole*. A value serde_json cannot read (`"durationSeconds": 1e999`)
/// must cost that value, not the role ARN beside it: a repaired copy (kept in `repaired`) is
/// read instead, and what was nulled is counted.
fn role_request<'t>(
    r: &Record<'t>,
    repaired: &'t mut String,
    stats: &mut RecordStats,
) -> RoleRequest<'t> {
    if let Some(req) = record::try_parse_raw(r.request_parameters) {
        return req;
    }
    let (text, nulled) = crate::analyzer::source::repair::nulled_copy(
        r.request_parameters.map_or("", |raw| raw.get()),
    );
    stats.values_nulled += nulled;
    *repaired = text;
    record::try_parse_raw_str(repaired).unwrap_or_default()
}

/// The role session name an AssumeRole* asked for, else the one its assumed-role ARN carries.
fn session_asked<'a>(
    req: &'a RoleRequest<'_>,
    resp: &'a WebIdentityResponse<'_>,
) -> Option<&'a str> {
    req.role_session_name.get().or_else(|| {
        resp.assumed_role_user
            .get()
            .and_then(|u| u.arn.get())
            .and_then(session_name_from_arn)
    })
}

/// The ARN of the session an AssumeRole* issued: its response's, else the one STS gives a session
/// of that role and name (kept in `made`).
fn issued_session_arn<'a>(
    resp: &'a WebIdentityResponse<'_>,
    role_arn: Option<&str>,
    session: Option<&str>,
    made: &'a mut Option<String>,
) -> Option<&'a str> {
    if let Some(arn) = resp.assumed_role_user.get().and_then(|u| u.arn.get()) {
        return Some(arn);
    }
    *made = role_arn
        .zip(session)
        .and_then(|(r, s)| crate::base::arn::assumed_role_arn(r, s));
    made.as_deref()
}

/// The account of the role an AssumeRole* asked for: its ARN's, else the account that logged it.
fn role_account<'a>(role_arn: Option<&'a str>, r: &'a Record<'_>) -> Option<&'a str> {
    role_arn
        .and_then(account_from_arn)
        .or_else(|| r.recipient_account_id.get())
}

/// A chained `AssumeRole`: made with a session's key (the parent), or the copy logged in the
/// target account (`AWSAccount`, no key of its own, the parent's `sharedEventID`). Other
/// AssumeRoles (an IAM user's long-term key) cannot extend a federated chain.
fn is_hop(f: &Fields<'_>) -> bool {
    f.event_name == Some(ASSUME_ROLE)
        && (matches!(f.identity_type, Some("AssumedRole") | Some("AWSAccount"))
            || f.access_key.is_some_and(|k| k.starts_with("ASIA")))
}

/// The fields of a record that more than one table reads, looked up once.
struct Fields<'r> {
    seq: u64,
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
    fn of(r: &'r Record<'r>, seq: u64) -> Self {
        let ui = r.user_identity.get();
        let ctx = ui.and_then(|u| u.session_context.get());
        let webfed = ctx.and_then(|c| c.web_id_federation_data.get());
        let identity_arn = ui.and_then(|u| u.arn.get());
        let event_name = r.event_name.get();
        let is_arwwi = event_name == Some(ARWWI);
        Fields {
            seq,
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
    push_touched(
        r,
        (&mut ev.request_parameters, &mut ev.resources),
        (&mut ev.s3_bucket, &mut ev.s3_key),
    );
    ev.file_id.push(file_id);
    ev.__seq.push(f.seq);
}

/// When the session a record was made in was created (`sessionContext.attributes.creationDate`).
fn session_created_at(f: &Fields<'_>) -> Option<Millis> {
    f.ctx
        .and_then(|c| c.attributes.get())
        .and_then(|a| a.creation_date.get())
        .and_then(parse_event_time)
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
    c.session_created_at.push(session_created_at(f));
    push_str(&mut c.invoked_by, invoked_by);
    c.is_service
        .push(invoked_by.is_some() || source_ip.is_some_and(is_service_source));
    push_str(&mut c.web_id_provider, f.web_provider);
    push_str(&mut c.web_id_sub, f.web_sub);
    push_touched(
        r,
        (&mut c.request_parameters, &mut c.resources),
        (&mut c.s3_bucket, &mut c.s3_key),
    );
    c.file_id.push(file_id);
    c.trusted_source.push(false);
    c.__seq.push(f.seq);
}

/// A change of a role's trust policy (whatever its time: `trust` needs the policy's history).
fn is_policy_change(r: &Record<'_>, f: &Fields<'_>) -> bool {
    r.event_source.get() == Some("iam.amazonaws.com")
        && matches!(f.event_name, Some("CreateRole" | "UpdateAssumeRolePolicy"))
}

fn push_policy_change(t: &mut PolicyChangeCols, r: &Record<'_>, f: &Fields<'_>, file_id: u32) {
    t.len += 1;
    push_str(&mut t.event_id, f.event_id);
    t.event_time.push(f.time);
    push_str(&mut t.event_name, f.event_name);
    push_str(
        &mut t.account_id,
        r.recipient_account_id
            .get()
            .or_else(|| f.ui.and_then(|u| u.account_id.get())),
    );
    push_str(&mut t.caller_arn, f.identity_arn);
    push_str(&mut t.source_ip, r.source_ip.get());
    let request = r.request_parameters.map(|v| touched::compact(v.get()));
    push_str(&mut t.request_parameters, request.as_deref());
    push_str(&mut t.error_code, r.error_code.get());
    t.file_id.push(file_id);
    t.__seq.push(f.seq);
}

/// What the call touched, into a table's four `opt` columns: none of them when the table was
/// made `lean`.
fn push_touched(
    r: &Record<'_>,
    (request, resources): (
        &mut Option<StringChunkedBuilder>,
        &mut Option<ListStringChunkedBuilder>,
    ),
    (bucket, key): (&mut Option<Dict>, &mut Option<StringChunkedBuilder>),
) {
    let (Some(request), Some(resources), Some(bucket), Some(key)) =
        (request, resources, bucket, key)
    else {
        return;
    };
    let t = touched::of(r.event_source.get(), r.request_parameters, r.resources);
    push_str(request, t.request_parameters.as_deref());
    match &t.resources {
        Some(arns) => resources.append_values_iter(arns.iter().map(|a| a.as_ref())),
        None => resources.append_null(),
    }
    push_str(bucket, t.s3_bucket.as_deref());
    push_str(key, t.s3_key.as_deref());
}

impl Part {
    /// What the part's calls take in memory, roughly (polars' estimate).
    pub fn calls_size(&self) -> usize {
        self.calls.estimated_size()
    }

    /// The part's event IDs, leaving it none: for a reader that keeps them elsewhere.
    pub fn take_ids(&mut self) -> EventIds {
        std::mem::take(&mut self.ids)
    }

    /// What the part's event IDs take in memory, roughly.
    pub fn ids_size(&self) -> usize {
        dedupe::buckets::held_bytes(&self.ids)
    }

    /// The part's calls, leaving it none (with the same columns): for a reader that keeps them
    /// elsewhere (`load::spill`).
    pub fn take_calls(&mut self) -> DataFrame {
        let none = DataFrame::empty_with_schema(self.calls.schema());
        std::mem::replace(&mut self.calls, none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = r#"{"eventID":"e1","eventTime":"2026-10-05T10:05:00Z",
        "eventSource":"s3.amazonaws.com","eventName":"GetObject",
        "userIdentity":{"type":"AssumedRole","accessKeyId":"ASIAEXAMPLE",
            "arn":"arn:aws:sts::111122223333:assumed-role/r/s"},
        "requestParameters":{ "bucketName" : "b", "key": "k" },
        "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"}]}"#;

    fn calls(touched: bool) -> DataFrame {
        let r: Record = serde_json::from_str(CALL).unwrap();
        let needs = Needs {
            touched,
            ..Needs::default()
        };
        let mut sink = Sink::new(needs, Window::default());
        sink.push(&r, 0, 0);
        sink.finish(None).calls
    }

    #[test]
    fn what_a_call_touched_is_built_only_when_asked_for() {
        let full = calls(true);
        let text = |c: &str| {
            full.column(c)
                .unwrap()
                .str()
                .unwrap()
                .get(0)
                .map(str::to_string)
        };
        assert_eq!(text("s3_bucket").as_deref(), Some("b"));
        assert_eq!(text("s3_key").as_deref(), Some("k"));
        assert_eq!(
            text("request_parameters").as_deref(),
            Some(r#"{"bucketName":"b","key":"k"}"#)
        );
        let lean = calls(false);
        assert_eq!(lean.schema(), full.schema(), "one schema either way");
        for c in crate::analyzer::model::schema::TOUCHED {
            let col = lean.column(c).unwrap();
            // Nulls that were never built: one value standing for every row.
            assert!(matches!(col, Column::Scalar(_)), "{c}");
            assert_eq!(col.null_count(), 1, "{c}");
        }
    }
}
