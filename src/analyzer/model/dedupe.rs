//! Repeated `eventID`s. An organization trail and an account trail deliver the same event twice;
//! exports and redacted datasets also reuse IDs for different events (`"1"`, a redaction
//! placeholder). The surviving copy is decided once, for every table: the first copy in input
//! order (files in path order, records in file order). Repeats whose content differs from the
//! kept copy are counted apart and named, because they may be events lost to an ID collision.

use std::hash::{BuildHasher, Hash, Hasher};

use polars::prelude::*;

use crate::analyzer::source::record::Record;

pub mod buckets;

/// The hidden column that places a row in input order: file id, then position in the file.
pub const SEQ: &str = "__seq";
/// The content hash column of a dataset's `ids` table.
pub const HASH: &str = "__hash";
/// The column of a dataset's `ids` table that holds a canonical UUID's 16 bytes.
pub const UUID: &str = "event_uuid";
const FIRST: &str = "__first";
/// How many colliding IDs are named; the rest are counted.
const NAMED: usize = 20;

pub fn seq(file_id: u32, index: u32) -> u64 {
    (u64::from(file_id) << 32) | u64::from(index)
}

/// A hash of everything janus-audit reads from a record, to tell a re-delivery (the same bytes)
/// from a different event under the same ID.
pub fn content_hash(r: &Record<'_>) -> u64 {
    let mut h = foldhash::quality::FixedState::with_seed(0x006a_616e_7573).build_hasher();
    for t in [
        &r.event_time,
        &r.event_source,
        &r.event_name,
        &r.event_type,
        &r.aws_region,
        &r.source_ip,
        &r.user_agent,
        &r.error_code,
        &r.error_message,
        &r.recipient_account_id,
    ] {
        t.get().hash(&mut h);
    }
    if let Some(u) = r.user_identity.get() {
        for t in [
            &u.kind,
            &u.principal_id,
            &u.arn,
            &u.account_id,
            &u.access_key_id,
            &u.user_name,
            &u.identity_provider,
            &u.invoked_by,
        ] {
            t.get().hash(&mut h);
        }
    }
    // The same event written twice with other whitespace, key order or escapes (an S3 trail
    // beside a console download, a re-serialised export) is the same content: hash the JSON,
    // not its text.
    r.request_parameters
        .map(|v| canonical_hash(v.get()))
        .hash(&mut h);
    r.response_elements
        .map(|v| canonical_hash(v.get()))
        .hash(&mut h);
    r.resources.map(|v| canonical_hash(v.get())).hash(&mut h);
    h.finish()
}

/// A hash of a JSON text's value, whatever its whitespace, object key order or string escapes:
/// an object's members are hashed one by one and summed, so their order cannot matter. Text
/// that is not JSON is hashed as text.
pub fn canonical_hash(json: &str) -> u64 {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    fn state() -> impl Hasher {
        foldhash::quality::FixedState::with_seed(0x0063_616e_6f6e).build_hasher()
    }
    fn tagged(tag: u8, f: impl FnOnce(&mut dyn Hasher)) -> u64 {
        let mut h = state();
        h.write_u8(tag);
        f(&mut h);
        h.finish()
    }
    struct Canon(u64);
    impl<'de> Deserialize<'de> for Canon {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Canon, D::Error> {
            d.deserialize_any(V)
        }
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Canon;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Canon, E> {
            Ok(Canon(tagged(0, |_| {})))
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Canon, E> {
            Ok(Canon(tagged(1, |h| h.write_u8(v as u8))))
        }
        // Numbers by value: 1, 1.0 and 1e0 are one number to JSON's readers.
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Canon, E> {
            self.visit_f64(v as f64)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Canon, E> {
            self.visit_f64(v as f64)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Canon, E> {
            Ok(Canon(tagged(2, |h| h.write_u64(v.to_bits()))))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Canon, E> {
            Ok(Canon(tagged(3, |h| h.write(v.as_bytes()))))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Canon, A::Error> {
            let mut h = state();
            h.write_u8(4);
            while let Some(Canon(item)) = seq.next_element()? {
                h.write_u64(item);
            }
            Ok(Canon(h.finish()))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Canon, A::Error> {
            let mut sum: u64 = 0;
            while let Some(Canon(key)) = map.next_key()? {
                let Canon(value) = map.next_value()?;
                sum = sum.wrapping_add(tagged(5, |h| {
                    h.write_u64(key);
                    h.write_u64(value);
                }));
            }
            Ok(Canon(tagged(6, |h| h.write_u64(sum))))
        }
    }
    match serde_json::from_str::<Canon>(json) {
        Ok(Canon(h)) => h,
        Err(_) => tagged(7, |h| h.write(json.as_bytes())),
    }
}

/// Every `eventID` read, with where (input order), what (a content hash) and when (its event
/// time, which places it in a dataset's date partition). CloudTrail IDs are lowercase UUIDs, kept as
/// 128-bit integers: sorting a million of those is far cheaper than sorting a million strings.
#[derive(Default)]
pub struct EventIds {
    uuids: Vec<(u128, u64, u64)>,
    other: Vec<(String, u64, u64)>,
    /// Event time by `__seq`, kept only when a dataset is written.
    times: Option<Vec<(u64, Option<i64>)>>,
}

/// What the repeats were, and which copies survive.
#[derive(Debug, Default)]
pub struct Duplicates {
    /// Of those, copies whose content differs from the kept one.
    pub differing: u64,
    /// The first few IDs with differing copies.
    pub differing_ids: Vec<String>,
    /// `event_id` → the surviving copy's `__seq`, for repeated IDs only.
    survivors: Option<DataFrame>,
    /// The `__seq` of every copy dropped (every copy after the first), sorted: what
    /// [`Duplicates::apply`] takes out, by position alone, so that no table has to keep its
    /// event IDs for it.
    dropped_seqs: Vec<u64>,
}

impl EventIds {
    /// Keep each ID's event time too (for a dataset's `ids` table).
    pub fn with_times() -> EventIds {
        EventIds {
            times: Some(Vec::new()),
            ..EventIds::default()
        }
    }

    pub fn push_timed(&mut self, id: &str, seq: u64, hash: u64, time: Option<i64>) {
        if let Some(t) = self.times.as_mut() {
            t.push((seq, time));
        }
        self.push(id, seq, hash);
    }

    pub fn push(&mut self, id: &str, seq: u64, hash: u64) {
        // Only the canonical spelling (36 chars, lowercase): try_parse also reads braced, URN
        // and bare-hex forms, and two spellings of one UUID are two IDs, as they are in the
        // string-keyed join that applies the result.
        let canonical = id.len() == 36 && !id.bytes().any(|b| b.is_ascii_uppercase());
        match uuid::Uuid::try_parse(id) {
            Ok(u) if canonical => self.uuids.push((u.as_u128(), seq, hash)),
            _ => self.other.push((id.to_string(), seq, hash)),
        }
    }

    pub fn append(&mut self, mut o: EventIds) {
        self.uuids.append(&mut o.uuids);
        self.other.append(&mut o.other);
        match (self.times.as_mut(), o.times) {
            (Some(t), Some(mut more)) => t.append(&mut more),
            (None, Some(more)) => self.times = Some(more),
            _ => {}
        }
    }

    /// The `ids` table of a dataset: `event_id`, `event_uuid`, `__seq`, `__hash`, `event_time`.
    /// An ID in CloudTrail's own spelling (a lowercase UUID) is `event_uuid`, its 16 bytes
    /// (big-endian), and `event_id` is null; any other ID is `event_id`, `event_uuid` null. The
    /// 36-character spelling was most of the bytes ingest encoded and wrote.
    pub fn to_frame(&self) -> PolarsResult<DataFrame> {
        let n = self.uuids.len() + self.other.len();
        let mut ids = StringChunkedBuilder::new("event_id".into(), n);
        let mut uuids = BinaryChunkedBuilder::new(UUID.into(), n);
        let mut seqs = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        for (u, seq, h) in &self.uuids {
            ids.append_null();
            uuids.append_value(u.to_be_bytes());
            seqs.push(*seq);
            hashes.push(*h);
        }
        for (id, seq, h) in &self.other {
            ids.append_value(id);
            uuids.append_null();
            seqs.push(*seq);
            hashes.push(*h);
        }
        let time = Int64Chunked::from_iter_options("event_time".into(), self.row_times(&seqs))
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
            .into_column();
        DataFrame::new(
            n,
            vec![
                ids.finish().into_column(),
                uuids.finish().into_column(),
                Column::new(SEQ.into(), seqs),
                Column::new(HASH.into(), hashes),
                time,
            ],
        )
    }

    /// The event time of each row `to_frame` writes (UUIDs, then other IDs), `seqs` being
    /// theirs. Times are kept in push order, as each list is, so one pass pairs them up; a map
    /// from `__seq` (a hash per ID, on the writer's critical path) is left for lists that were
    /// not filled side by side.
    fn row_times(&self, seqs: &[u64]) -> std::vec::IntoIter<Option<i64>> {
        let Some(times) = &self.times else {
            return vec![None; seqs.len()].into_iter();
        };
        let mut by_list = (
            Vec::with_capacity(self.uuids.len()),
            Vec::with_capacity(self.other.len()),
        );
        let (mut u, mut o) = (self.uuids.iter().peekable(), self.other.iter().peekable());
        for &(seq, t) in times {
            if u.next_if(|x| x.1 == seq).is_some() {
                by_list.0.push(t);
            } else if o.next_if(|x| x.1 == seq).is_some() {
                by_list.1.push(t);
            } else {
                break;
            }
        }
        if by_list.0.len() + by_list.1.len() == seqs.len() && times.len() == seqs.len() {
            by_list.0.append(&mut by_list.1);
            return by_list.0.into_iter();
        }
        let by_seq: std::collections::HashMap<u64, Option<i64>, foldhash::fast::RandomState> =
            times.iter().copied().collect();
        seqs.iter()
            .map(|s| by_seq.get(s).copied().flatten())
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Read back an `ids` table (see [`EventIds::to_frame`]). A row with neither an ID nor
    /// 16 bytes of UUID names no event and is passed over.
    pub fn from_frame(df: &DataFrame) -> PolarsResult<EventIds> {
        let mut out = EventIds::default();
        let ids = df.column("event_id")?.str()?;
        let uuids = df.column(UUID)?.binary()?;
        let seqs = df.column(SEQ)?.u64()?;
        let hashes = df.column(HASH)?.u64()?;
        for (((id, uuid), seq), h) in ids
            .iter()
            .zip(uuids.iter())
            .zip(seqs.iter())
            .zip(hashes.iter())
        {
            let (Some(seq), Some(h)) = (seq, h) else {
                continue;
            };
            match (uuid.and_then(|u| <[u8; 16]>::try_from(u).ok()), id) {
                (Some(u), _) => out.uuids.push((u128::from_be_bytes(u), seq, h)),
                (None, Some(id)) => out.push(id, seq, h),
                (None, None) => {}
            }
        }
        Ok(out)
    }

    pub fn resolve(mut self) -> PolarsResult<Duplicates> {
        use rayon::slice::ParallelSliceMut;
        self.uuids.par_sort_unstable();
        self.other.sort_unstable();
        let mut d = Duplicates::default();
        let mut ids: Vec<String> = Vec::new();
        let mut firsts: Vec<u64> = Vec::new();
        groups(&self.uuids, &mut d, &mut ids, &mut firsts, uuid_text);
        groups(&self.other, &mut d, &mut ids, &mut firsts, |s: &String| {
            s.clone()
        });
        d.dropped_seqs.sort_unstable();
        if !ids.is_empty() {
            d.survivors = Some(df!("event_id" => ids, FIRST => firsts)?);
        }
        Ok(d)
    }
}

/// A canonical UUID as CloudTrail spells it (hyphenated, lowercase): the text of the IDs kept as
/// numbers.
fn uuid_text(u: &u128) -> String {
    uuid::Uuid::from_u128(*u).hyphenated().to_string()
}

/// Walk sorted `(id, seq, hash)` runs: count repeats, note colliding IDs, keep each first seq.
fn groups<K: PartialEq>(
    sorted: &[(K, u64, u64)],
    d: &mut Duplicates,
    ids: &mut Vec<String>,
    firsts: &mut Vec<u64>,
    text: impl Fn(&K) -> String,
) {
    for run in sorted.chunk_by(|a, b| a.0 == b.0) {
        let Some(((id, first, hash), rest)) = run.split_first() else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        d.dropped_seqs.extend(rest.iter().map(|r| r.1));
        let differing = rest.iter().filter(|(_, _, h)| h != hash).count() as u64;
        d.differing += differing;
        let name = text(id);
        if differing > 0 && d.differing_ids.len() < NAMED {
            d.differing_ids.push(name.clone());
        }
        ids.push(name);
        firsts.push(*first);
    }
}

/// [`Duplicates`] as plain data, kept beside a dataset so that a report does not read its whole
/// `ids` table again while nothing was ingested (see `dataset::read`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SavedDuplicates {
    differing: u64,
    differing_ids: Vec<String>,
    /// Repeated IDs and the `__seq` of each one's surviving copy.
    survivors: Vec<(String, u64)>,
    /// The `__seq` of each copy dropped. Required: a saved answer from before it was kept
    /// does not read, and is made again.
    dropped_seqs: Vec<u64>,
}

impl Duplicates {
    pub fn save(&self) -> PolarsResult<SavedDuplicates> {
        let mut survivors = Vec::new();
        if let Some(df) = &self.survivors {
            let ids = df.column("event_id")?.str()?;
            let firsts = df.column(FIRST)?.u64()?;
            for (id, first) in ids.iter().zip(firsts.iter()) {
                if let (Some(id), Some(first)) = (id, first) {
                    survivors.push((id.to_string(), first));
                }
            }
        }
        Ok(SavedDuplicates {
            differing: self.differing,
            differing_ids: self.differing_ids.clone(),
            survivors,
            dropped_seqs: self.dropped_seqs.clone(),
        })
    }

    pub fn restore(saved: SavedDuplicates) -> PolarsResult<Duplicates> {
        let survivors = if saved.survivors.is_empty() {
            None
        } else {
            let (ids, firsts): (Vec<String>, Vec<u64>) = saved.survivors.into_iter().unzip();
            Some(df!("event_id" => ids, FIRST => firsts)?)
        };
        Ok(Duplicates {
            differing: saved.differing,
            differing_ids: saved.differing_ids,
            survivors,
            dropped_seqs: saved.dropped_seqs,
        })
    }

    /// Copies dropped (every copy after the first).
    pub fn dropped(&self) -> u64 {
        self.dropped_seqs.len() as u64
    }

    /// Whether a copy at a place from `lo` to `hi` (both included) is dropped.
    pub fn drops_between(&self, lo: u64, hi: u64) -> bool {
        let at = self.dropped_seqs.partition_point(|&s| s < lo);
        self.dropped_seqs.get(at).is_some_and(|&s| s <= hi)
    }

    /// The surviving copy's input position of each of `ids` that was repeated.
    pub fn first_copies<'i>(
        &self,
        ids: impl Iterator<Item = &'i str>,
    ) -> std::collections::HashMap<String, u64> {
        let wanted: std::collections::HashSet<&str> = ids.collect();
        let mut out = std::collections::HashMap::new();
        let Some(s) = &self.survivors else {
            return out;
        };
        if wanted.is_empty() {
            return out;
        }
        let (Ok(id), Ok(first)) = (s.column("event_id"), s.column(FIRST)) else {
            return out;
        };
        let (Ok(id), Ok(first)) = (id.str(), first.u64()) else {
            return out;
        };
        for (i, f) in id.iter().zip(first.iter()) {
            if let (Some(i), Some(f)) = (i, f)
                && wanted.contains(i)
            {
                out.insert(i.to_string(), f);
            }
        }
        out
    }

    /// `df` with only the surviving copy of each repeated ID (rows without an ID all stay), in
    /// input order, and without the hidden `__seq` column: the copies are known by `__seq`, so
    /// `df` needs no `event_id`.
    pub fn apply(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        if self.dropped_seqs.is_empty() {
            return df.drop(SEQ);
        }
        let keep: BooleanChunked = df
            .column(SEQ)?
            .u64()?
            .iter()
            .map(|s| s.is_none_or(|s| self.dropped_seqs.binary_search(&s).is_err()))
            .collect();
        df.filter(&keep)?.drop(SEQ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_value_in_other_whitespace_key_order_or_escapes_hashes_alike() {
        let a = r#"{"bucketName":"b","key":"k/\u0041","tags":[1,2],"n":1}"#;
        let b = "{ \"n\": 1.0,\n  \"tags\": [1, 2], \"key\": \"k/A\", \"bucketName\": \"b\" }";
        assert_eq!(canonical_hash(a), canonical_hash(b));
        // Order inside an array is content; so are values and nesting.
        for other in [
            r#"{"bucketName":"b","key":"k/A","tags":[2,1],"n":1}"#,
            r#"{"bucketName":"b","key":"k/B","tags":[1,2],"n":1}"#,
            r#"{"bucketName":"b","key":{"k/A":null},"tags":[1,2],"n":1}"#,
            r#"{"bucketName":"k/A","key":"b","tags":[1,2],"n":1}"#,
        ] {
            assert_ne!(canonical_hash(a), canonical_hash(other), "{other}");
        }
        assert_ne!(canonical_hash("null"), canonical_hash("\"null\""));
        assert_ne!(canonical_hash("{not json"), canonical_hash("{not  json"));
    }

    fn texts<'a>(df: &'a DataFrame, column: &str) -> Vec<Option<&'a str>> {
        df.column(column).unwrap().str().unwrap().iter().collect()
    }

    #[test]
    fn duplicate_count_follows_exact_strings() {
        let mut ids = EventIds::default();
        for (i, id) in [
            "be170ced-ba43-4a02-9b70-f18127034945",
            "be170ced-ba43-4a02-9b70-f18127034945", // a real duplicate
            "be170cedba434a029b70f18127034945",     // same UUID, another spelling: distinct
            "BE170CED-BA43-4A02-9B70-F18127034945", // upper case: distinct
            "bEXAMPLE-0b30-4246-b28c-e3da3EXAMPLE", // not a UUID at all
            "bEXAMPLE-0b30-4246-b28c-e3da3EXAMPLE",
        ]
        .iter()
        .enumerate()
        {
            ids.push(id, i as u64, 7);
        }
        let d = ids.resolve().unwrap();
        assert_eq!(d.dropped(), 2);
        assert_eq!(d.differing, 0);
    }

    #[test]
    fn the_first_copy_survives_in_every_table_and_collisions_are_named() {
        let mut ids = EventIds::default();
        ids.push("1", seq(0, 0), 10);
        ids.push("1", seq(1, 5), 11); // same ID, other content: a collision
        ids.push("2", seq(0, 1), 20);
        ids.push("2", seq(2, 0), 20); // a re-delivery
        let d = ids.resolve().unwrap();
        assert_eq!((d.dropped(), d.differing), (2, 1));
        assert_eq!(d.differing_ids, ["1"]);
        // A table that only holds the second copy of "1" (the first was not its kind of row)
        // must not keep it: the surviving copy is decided for all tables at once.
        let table = df!(
            "event_id" => [Some("1"), Some("2"), None, Some("3")],
            SEQ => [seq(1, 5), seq(0, 1), seq(3, 0), seq(3, 1)],
        )
        .unwrap();
        let kept = d.apply(table).unwrap();
        assert_eq!(texts(&kept, "event_id"), [Some("2"), None, Some("3")]);
        assert!(kept.column(SEQ).is_err());
        // The copies are known by their place: a table read without its event IDs (no query
        // names them) loses the same rows; so does one after a save and a restore.
        let bare = df!("n" => [1u32, 2, 3, 4], SEQ => [seq(1, 5), seq(0, 1), seq(3, 0), seq(2, 0)])
            .unwrap();
        let restored = Duplicates::restore(d.save().unwrap()).unwrap();
        for d in [&d, &restored] {
            let kept = d.apply(bare.clone()).unwrap();
            let n: Vec<Option<u32>> = kept.column("n").unwrap().u32().unwrap().iter().collect();
            assert_eq!(n, [Some(2), Some(3)]);
        }
    }

    #[test]
    fn the_ids_table_keeps_every_spelling_and_reads_back_the_same() {
        let mut ids = EventIds::with_times();
        for (i, id) in [
            "be170ced-ba43-4a02-9b70-f18127034945",
            "BE170CED-BA43-4A02-9B70-F18127034945",
            "be170cedba434a029b70f18127034945",
            "1",
            "be170ced-ba43-4a02-9b70-f18127034945",
        ]
        .iter()
        .enumerate()
        {
            // The last is a repeat of the first with other content: a collision.
            ids.push_timed(id, i as u64, 7 + u64::from(i == 4), Some(i as i64));
        }
        let df = ids.to_frame().unwrap();
        // Only CloudTrail's own spelling becomes 16 bytes; the others stay text.
        assert_eq!(
            texts(&df, "event_id"),
            [
                None,
                None,
                Some("BE170CED-BA43-4A02-9B70-F18127034945"),
                Some("be170cedba434a029b70f18127034945"),
                Some("1")
            ]
        );
        let bytes = df.column(UUID).unwrap().binary().unwrap().get(0).unwrap();
        assert_eq!(bytes[..4], [0xbe, 0x17, 0x0c, 0xed]);
        let back = EventIds::from_frame(&df).unwrap().resolve().unwrap();
        assert_eq!((back.dropped(), back.differing), (1, 1));
        assert_eq!(back.differing_ids, ["be170ced-ba43-4a02-9b70-f18127034945"]);
        // A row that names no event (a damaged part) is passed over.
        let odd = df!(
            "event_id" => [None::<&str>, Some("x")],
            UUID => [Some(&b"short"[..]), None],
            SEQ => [1u64, 2],
            HASH => [0u64, 0],
        )
        .unwrap();
        assert_eq!(EventIds::from_frame(&odd).unwrap().other.len(), 1);
        assert!(EventIds::from_frame(&odd).unwrap().uuids.is_empty());
    }

    #[test]
    fn each_id_gets_its_own_time_however_its_lists_were_filled() {
        let times = |ids: &EventIds| -> Vec<(u64, Option<i64>)> {
            let df = ids.to_frame().unwrap();
            let seqs = df.column(SEQ).unwrap().u64().unwrap().clone();
            let times = df.column("event_time").unwrap().datetime().unwrap().clone();
            seqs.into_no_null_iter().zip(times.phys.iter()).collect()
        };
        let uuid = |i: u64| format!("00000000-0000-4000-8000-{i:012}");
        // Side by side, UUIDs and other IDs interleaved, as a batch's parts are appended.
        let mut a = EventIds::with_times();
        a.push_timed(&uuid(1), 1, 0, Some(10));
        a.push_timed("x", 2, 0, None);
        let mut b = EventIds::with_times();
        b.push_timed(&uuid(3), 3, 0, Some(30));
        b.push_timed("y", 4, 0, Some(40));
        a.append(b);
        let want = [(1, Some(10)), (3, Some(30)), (2, None), (4, Some(40))];
        assert_eq!(times(&a), want);
        // A part without times appended to one with them: the lists no longer go side by side.
        let mut c = EventIds::default();
        c.push(&uuid(5), 5, 0);
        let mut d = EventIds::with_times();
        d.push_timed(&uuid(6), 6, 0, Some(60));
        c.append(d);
        assert_eq!(times(&c), [(5, None), (6, Some(60))]);
    }
}
