//! Which Sigma rules the batches behind a window were evaluated with at ingest (see
//! `dataset::sigma`): a rule is answered from the dataset only where every one of them was.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::analyzer::dataset::sigma::RULES;
use crate::analyzer::dataset::{Dataset, DatasetError, part_name, read_parquet};
use crate::analyzer::sigma::Rule;
use crate::base::timefmt::Window;

/// Which rules the window's batches were evaluated with.
#[derive(Debug, Default)]
pub struct Coverage {
    /// Committed batches that can hold records of the window.
    pub batches: usize,
    /// Of those, how many were evaluated with each rule (id, detection hash).
    evaluated: HashMap<(String, String), usize>,
}

impl Coverage {
    /// How many of the window's batches were not evaluated with `rule`.
    pub fn not_evaluated(&self, rule: &Rule) -> usize {
        let key = (rule.id.clone(), rule.detection_hash.clone());
        self.batches
            - self
                .evaluated
                .get(&key)
                .copied()
                .unwrap_or(0)
                .min(self.batches)
    }
}

/// Which rules every batch that can hold records of `w` was evaluated with: a batch with a file
/// whose events (first to last) reach into the window, or whose events have no known time. A
/// batch counts as evaluated only when its list of parts names its `sigma_rules` part, written
/// before the batch's commit; a listed part that is missing is damage, not "not evaluated".
pub fn coverage(ds: &Dataset, w: &Window) -> Result<Coverage, DatasetError> {
    let committed = ds.committed()?;
    let overlaps = |first: Option<i64>, last: Option<i64>| match (first, last) {
        (Some(f), Some(l)) => w.since.is_none_or(|s| l >= s) && w.until.is_none_or(|u| f < u),
        _ => true,
    };
    let files = ds.files()?;
    let batch = files.column("batch")?.u32()?;
    let records = files.column("records")?.u64()?;
    let first = files.column("first_event")?.datetime()?.phys.clone();
    let last = files.column("last_event")?.datetime()?.phys.clone();
    let mut batches = BTreeSet::new();
    for i in 0..files.height() {
        let (Some(b), Some(n)) = (batch.get(i), records.get(i)) else {
            continue;
        };
        if n > 0 && committed.contains(&b) && overlaps(first.get(i), last.get(i)) {
            batches.insert(b);
        }
    }
    let mut out = Coverage {
        batches: batches.len(),
        evaluated: HashMap::new(),
    };
    for b in batches {
        if !ds
            .batch_parts(b)?
            .is_some_and(|parts| parts.iter().any(|p| p == RULES))
        {
            continue;
        }
        let path = ds.dir.join(RULES).join(part_name(b));
        if !path.is_file() {
            return Err(DatasetError::MissingPart(path));
        }
        let rules = read_parquet(&path, Some(&["rule_id".into(), "detection_hash".into()]))?;
        let (ids, hashes) = (
            rules.column("rule_id")?.str()?,
            rules.column("detection_hash")?.str()?,
        );
        let once: HashSet<(String, String)> = ids
            .iter()
            .zip(hashes.iter())
            .filter_map(|(i, h)| Some((i?.to_string(), h?.to_string())))
            .collect();
        for key in once {
            *out.evaluated.entry(key).or_default() += 1;
        }
    }
    Ok(out)
}
