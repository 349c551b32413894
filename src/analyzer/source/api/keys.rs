//! Which keys the store's records say were issued: by the assumptions (the roots), and by
//! AssumeRoles made with those keys (chained), so that a fetch can look up each one's calls.

use std::collections::BTreeMap;

use crate::analyzer::source::api::records::{chained_key, issued_key};
use crate::analyzer::source::files;
use crate::analyzer::source::store::{self, Store, StoreError};
use crate::base::timefmt::{Millis, Window};

/// Keys seen issued (from this run or earlier ones): `(key, issued) -> expires`. One key ID can
/// be issued more than once (AWS reuses temporary key IDs), and each issuance's lifetime is
/// looked up.
pub(super) type Keys = BTreeMap<(String, Millis), Millis>;

pub(super) const ARWWI: &str = "EventName=AssumeRoleWithWebIdentity";
/// Keys are followed this long past their expiration, so a use after expiry is still seen.
pub(super) const AFTER_EXPIRY: Millis = 12 * 3600 * 1000;
/// Keys issued in `[start, until)` to the selected providers, according to the
/// AssumeRoleWithWebIdentity records in the store: this run's and earlier runs'.
pub(super) fn root_keys(
    store: &Store,
    account: &str,
    start: Millis,
    until: Millis,
    all_providers: bool,
) -> Result<Keys, StoreError> {
    let mut keys = Keys::new();
    scan(
        store,
        account,
        start,
        until,
        &ARWWI.replace('=', "-"),
        |line| {
            if let Some((key, issued, expires)) = issued_key(line, all_providers)
                && issued >= start
                && issued < until
            {
                keys.insert((key, issued), expires);
            }
        },
    )?;
    Ok(keys)
}

/// Keys that an AssumeRole made with one of `parents` issued, according to the `AccessKeyId=`
/// lookups in the store.
pub(super) fn chained_keys(
    store: &Store,
    account: &str,
    start: Millis,
    until: Millis,
    parents: &Keys,
) -> Result<Keys, StoreError> {
    let mut keys = Keys::new();
    scan(store, account, start, until, "AccessKeyId-", |line| {
        // Made with an issuance of the parent's key ID that was alive then (to a key's
        // lifetime past its expiration, as its calls are looked up).
        let alive = |parent: &str, at: Millis| {
            parents
                .range((parent.to_string(), Millis::MIN)..=(parent.to_string(), at))
                .any(|(_, expires)| at <= expires + AFTER_EXPIRY)
        };
        if let Some((parent, key, issued, expires)) = chained_key(line)
            && alive(&parent, issued)
            && issued < until
        {
            keys.insert((key, issued), expires);
        }
    })?;
    Ok(keys)
}

/// Every record of the store's lookups whose file name holds `slug`, in `[start, until)`. Read
/// like any trail: the same walk, day pruning and gunzip.
fn scan(
    store: &Store,
    account: &str,
    start: Millis,
    until: Millis,
    slug: &str,
    mut each: impl FnMut(&str),
) -> Result<(), StoreError> {
    let root = store.account_dir(account);
    if !root.exists() {
        return Ok(());
    }
    let window = Window {
        since: Some(start),
        until: Some(until),
    };
    let (found, walk_errors) = files::discover(std::slice::from_ref(&root), &window);
    if let Some(e) = walk_errors.into_iter().next() {
        return Err(store::at(&e.path)(std::io::Error::other(e.reason)));
    }
    let mut bufs = files::Buffers::default();
    for f in found {
        let named = f
            .path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(slug));
        if f.plan != files::Plan::Read || !named {
            continue;
        }
        files::read_decoded(&f.path, &mut bufs, files::Limits::default().max_file_bytes).map_err(
            |e| store::at(&f.path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        )?;
        let text = std::str::from_utf8(&bufs.decoded).map_err(|e| {
            store::at(&f.path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?;
        text.lines().for_each(&mut each);
    }
    Ok(())
}
