//! Sigma rules over the dataset. A rule reads any field of a record, and the dataset keeps only
//! the fields janus-audit reads, so rules are evaluated when the records are parsed, by
//! `ingest --sigma`: each batch stores its matches (`sigma_matches`, by date, every copy with
//! its input position, like every table) and the rules it was evaluated with (`sigma_rules`,
//! one part per batch). A report answers for a rule only over a window whose every batch was
//! evaluated with that rule (same id, same detection; see `sigma_coverage`); for any other
//! rule, what the dataset holds is not an answer, and the caller says so.
//!
//! ```text
//! DIR/sigma_matches/date=YYYY-MM-DD/part-<batch>.parquet   rule_id, detection_hash, event_id, event_time, __seq
//! DIR/sigma_rules/part-<batch>.parquet                     rule_id, detection_hash, title, level, author
//! ```

use std::collections::HashMap;

use polars::prelude::*;

use crate::analyzer::model::dedupe::SEQ;
use crate::analyzer::sigma::{Rule, RuleSet};

/// The matches' table (date-partitioned).
pub const MATCHES: &str = "sigma_matches";
/// The rules each batch was evaluated with (one part per batch, unpartitioned).
pub const RULES: &str = "sigma_rules";

/// A batch's matches as stored: each rule named by its id and detection hash rather than by
/// its place in this run's rule set.
pub fn stored_matches(matches: &DataFrame, rules: &RuleSet) -> PolarsResult<DataFrame> {
    let nos = matches.column("rule_no")?.u32()?;
    let rule = |n: Option<u32>| n.and_then(|n| rules.rules.get(n as usize));
    let ids: StringChunked = nos.iter().map(|n| rule(n).map(|r| r.id.as_str())).collect();
    let hashes: StringChunked = nos
        .iter()
        .map(|n| rule(n).map(|r| r.detection_hash.as_str()))
        .collect();
    let mut out = matches.drop("rule_no")?;
    out.insert_column(0, ids.with_name("rule_id".into()).into_column())?;
    out.insert_column(1, hashes.with_name("detection_hash".into()).into_column())?;
    Ok(out)
}

/// `sigma_rules`' part of a batch: the rules it was evaluated with.
pub fn rules_frame(rules: &RuleSet) -> PolarsResult<DataFrame> {
    let col = |name: &str, f: fn(&Rule) -> Option<&str>| {
        StringChunked::from_iter(rules.rules.iter().map(f))
            .with_name(name.into())
            .into_column()
    };
    DataFrame::new(
        rules.rules.len(),
        vec![
            col("rule_id", |r| Some(r.id.as_str())),
            col("detection_hash", |r| Some(r.detection_hash.as_str())),
            col("title", |r| Some(r.title.as_str())),
            col("level", |r| r.level.as_deref()),
            col("author", |r| r.author.as_deref()),
        ],
    )
}

/// `sigma_matches` with no row, as stored.
pub fn empty_matches() -> DataFrame {
    let m = crate::analyzer::model::schema::SigmaMatchCols::new(0).finish();
    stored_matches(&m, &RuleSet::default()).expect("static columns")
}

/// `stored` (a window's stored matches, in input order) as `sigma_matches` for `rules`: each row
/// given its rule's place in `rules`; rows of other rules (or other detections) dropped.
pub fn for_rules(stored: DataFrame, rules: &RuleSet) -> PolarsResult<DataFrame> {
    let index: HashMap<(&str, &str), u32> = rules
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.id.as_str(), r.detection_hash.as_str()), i as u32))
        .collect();
    let (ids, hashes) = (
        stored.column("rule_id")?.str()?,
        stored.column("detection_hash")?.str()?,
    );
    let nos: UInt32Chunked = ids
        .iter()
        .zip(hashes.iter())
        .map(|(i, h)| index.get(&(i?, h?)).copied())
        .collect();
    let keep = nos.is_not_null();
    let mut out = stored.select(["event_id", "event_time", SEQ])?;
    out.insert_column(0, nos.with_name("rule_no".into()).into_column())?;
    out.filter(&keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule per (id, eventName it matches).
    fn rules(of: &[(&str, &str)]) -> RuleSet {
        let mut set = RuleSet::default();
        let head = "logsource:\n  product: aws\n  service: cloudtrail\n";
        for (id, name) in of {
            set.add_text(
                "\"r.yml\"",
                &format!("title: {id}\nid: {id}\n{head}detection:\n  s:\n    eventName: {name}\n  condition: s\n"),
            );
        }
        set
    }

    #[test]
    fn matches_are_stored_by_rule_and_read_back_for_another_rule_set() {
        let set = rules(&[("a", "X"), ("b", "Y")]);
        let m = df!(
            "rule_no" => [1u32, 0],
            "event_id" => ["e1", "e2"],
            "event_time" => [1i64, 2],
            SEQ => [10u64, 11],
        )
        .unwrap();
        let stored = stored_matches(&m, &set).unwrap();
        assert_eq!(
            stored.column("rule_id").unwrap().str().unwrap().get(0),
            Some("b")
        );
        // Read for a rule set that holds only `b`, and `a` with another detection.
        let other = rules(&[("b", "Y"), ("a", "Z")]);
        let back = for_rules(stored, &other).unwrap();
        assert_eq!(back.height(), 1);
        assert_eq!(
            back.column("rule_no").unwrap().u32().unwrap().get(0),
            Some(0)
        );
        assert_eq!(
            back.column("event_id").unwrap().str().unwrap().get(0),
            Some("e1")
        );
    }

    #[test]
    fn the_detection_hash_ignores_layout_and_metadata_only() {
        let mut set = RuleSet::default();
        set.add_text(
            "\"r.yml\"",
            "title: one\nid: r\nlogsource: {product: aws, service: cloudtrail}\ndetection: {s: {eventName: X, eventSource: s3.amazonaws.com}, condition: s}\n",
        );
        set.add_text(
            "\"r.yml\"",
            "id: r\ntitle: renamed\nlevel: high\nlogsource:\n  service: cloudtrail\n  product: aws\ndetection:\n  condition: s\n  s:\n    eventSource: s3.amazonaws.com\n    eventName: X\n",
        );
        set.add_text(
            "\"r.yml\"",
            "title: one\nid: r\nlogsource: {product: aws, service: cloudtrail}\ndetection: {s: {eventName: Y, eventSource: s3.amazonaws.com}, condition: s}\n",
        );
        let h: Vec<&str> = set
            .rules
            .iter()
            .map(|r| r.detection_hash.as_str())
            .collect();
        assert_eq!(h[0], h[1]);
        assert_ne!(h[0], h[2]);
        assert_eq!(h[0].len(), 32);
    }
}
