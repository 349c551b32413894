//! Every eventID read, kept on disk in buckets by ID, for a report whose input outgrows memory
//! (`load::spill`): every copy of an ID lands in one bucket, so the copies are resolved a
//! bucket at a time and only one bucket is ever held. The answer is the one
//! [`EventIds::resolve`] gives over all of them at once: the same survivors, counts and named
//! IDs, in the same order.
//!
//! A bucket is chosen by a hash seeded anew for each run, so that IDs written by an attacker
//! cannot all be steered into one bucket.

use std::fs::File;
use std::hash::BuildHasher;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::{Duplicates, EventIds, FIRST, NAMED, groups, uuid_text};

/// Buckets per run: at 30M records of 32 bytes, about 15 MB each.
const BUCKETS: usize = 64;

/// Bytes an ID takes in memory until it is written: the figure [`crate::analyzer::load`]'s
/// budget counts.
pub fn held_bytes(ids: &EventIds) -> usize {
    ids.uuids.len() * 32 + ids.other.iter().map(|o| o.0.len() + 40).sum::<usize>()
}

pub struct IdBuckets {
    dir: PathBuf,
    hasher: foldhash::fast::RandomState,
    files: Vec<BufWriter<File>>,
}

/// A record's kind in a bucket: a canonical UUID (16 bytes), or any other ID (length, bytes).
const UUID_TAG: u8 = 0;
const OTHER_TAG: u8 = 1;

impl IdBuckets {
    /// Buckets in `dir` (made, readable by its owner only).
    pub fn create(dir: &Path) -> std::io::Result<IdBuckets> {
        std::fs::create_dir(dir)?;
        let files = (0..BUCKETS)
            .map(|i| private_file(&bucket(dir, i)).map(BufWriter::new))
            .collect::<std::io::Result<_>>()?;
        Ok(IdBuckets {
            dir: dir.to_path_buf(),
            hasher: foldhash::fast::RandomState::default(),
            files,
        })
    }

    /// Write `ids` to their buckets. Event times are not kept: a report does not use them.
    pub fn append(&mut self, ids: EventIds) -> std::io::Result<()> {
        for (u, seq, hash) in ids.uuids {
            let f = &mut self.files[self.hasher.hash_one(u) as usize % BUCKETS];
            f.write_all(&[UUID_TAG])?;
            f.write_all(&u.to_le_bytes())?;
            f.write_all(&seq.to_le_bytes())?;
            f.write_all(&hash.to_le_bytes())?;
        }
        for (id, seq, hash) in ids.other {
            let f = &mut self.files[self.hasher.hash_one(&id) as usize % BUCKETS];
            f.write_all(&[OTHER_TAG])?;
            f.write_all(&(id.len() as u32).to_le_bytes())?;
            f.write_all(id.as_bytes())?;
            f.write_all(&seq.to_le_bytes())?;
            f.write_all(&hash.to_le_bytes())?;
        }
        Ok(())
    }

    /// Which copies survive, a bucket at a time (see the module's documentation).
    pub fn resolve(self) -> Result<Duplicates, ResolveError> {
        let mut files = self.files;
        for f in &mut files {
            f.flush()?;
        }
        drop(files);
        let mut d = Duplicates::default();
        // Repeated IDs as (name, first copy) and the differing ones, by kind: UUIDs come
        // before other IDs, each kind in its sorted order, as EventIds::resolve lists them.
        let mut repeated: [Vec<(String, u64)>; 2] = Default::default();
        let mut differing: [Vec<String>; 2] = Default::default();
        for i in 0..BUCKETS {
            let path = bucket(&self.dir, i);
            let mut ids_of = read_bucket(&path)?;
            ids_of.uuids.sort_unstable();
            ids_of.other.sort_unstable();
            for kind in 0..2 {
                let (mut one, mut ids, mut firsts) =
                    (Duplicates::default(), Vec::new(), Vec::new());
                match kind {
                    0 => groups(&ids_of.uuids, &mut one, &mut ids, &mut firsts, uuid_text),
                    _ => groups(
                        &ids_of.other,
                        &mut one,
                        &mut ids,
                        &mut firsts,
                        String::clone,
                    ),
                }
                d.differing += one.differing;
                d.dropped_seqs.append(&mut one.dropped_seqs);
                differing[kind].append(&mut one.differing_ids);
                repeated[kind].extend(ids.into_iter().zip(firsts));
            }
            std::fs::remove_file(path)?;
        }
        d.dropped_seqs.sort_unstable();
        // A UUID's hyphenated lowercase text sorts as its number does.
        for kind in 0..2 {
            repeated[kind].sort_unstable();
            differing[kind].sort_unstable();
        }
        let [uuids, other] = differing;
        d.differing_ids = uuids.into_iter().chain(other).take(NAMED).collect();
        let (ids, firsts): (Vec<String>, Vec<u64>) = repeated.into_iter().flatten().unzip();
        if !ids.is_empty() {
            d.survivors = Some(df!("event_id" => ids, FIRST => firsts)?);
        }
        Ok(d)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Polars(#[from] PolarsError),
    #[error("a bucket of event IDs ends inside a record")]
    Truncated,
}

/// Where bucket `i` of the buckets in `dir` is.
fn bucket(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("ids-{i}.bin"))
}

fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn read_bucket(path: &Path) -> Result<EventIds, ResolveError> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut out = EventIds::default();
    let mut rest = bytes.as_slice();
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        if tag == UUID_TAG {
            let u = u128::from_le_bytes(take(&mut rest)?);
            let (seq, hash) = (
                u64::from_le_bytes(take(&mut rest)?),
                u64::from_le_bytes(take(&mut rest)?),
            );
            out.uuids.push((u, seq, hash));
        } else {
            let len = u32::from_le_bytes(take(&mut rest)?) as usize;
            let (id, tail) = rest.split_at_checked(len).ok_or(ResolveError::Truncated)?;
            rest = tail;
            let id = String::from_utf8_lossy(id).into_owned();
            let (seq, hash) = (
                u64::from_le_bytes(take(&mut rest)?),
                u64::from_le_bytes(take(&mut rest)?),
            );
            out.other.push((id, seq, hash));
        }
    }
    Ok(out)
}

/// The next `N` bytes of `rest`.
fn take<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], ResolveError> {
    let (head, tail) = rest
        .split_first_chunk::<N>()
        .ok_or(ResolveError::Truncated)?;
    *rest = tail;
    Ok(*head)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IDs with repeats, differing repeats (more than are named), other spellings and IDs that
    /// are not UUIDs, in a scrambled input order.
    fn ids(seed: u64) -> Vec<(String, u64, u64)> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        let mut out = Vec::new();
        for seq in 0..20_000u64 {
            let n = next();
            let id = match n % 10 {
                0 => format!("other-{}", n % 300),
                1 => format!("{:08X}-1111-2222-3333-444444444444", n % 200),
                _ => uuid::Uuid::from_u128(u128::from(n % 9_000) * 0x9e37_79b9_7f4a_7c15)
                    .hyphenated()
                    .to_string(),
            };
            let hash = if n % 7 == 0 { n } else { 42 };
            out.push((id, seq, hash));
        }
        out
    }

    #[test]
    fn resolving_by_bucket_gives_what_resolving_at_once_gives() {
        for seed in [1, 2, 3] {
            let all = ids(seed);
            let mut at_once = EventIds::default();
            let dir = tempfile::tempdir().unwrap();
            let mut buckets = IdBuckets::create(&dir.path().join("ids")).unwrap();
            for chunk in all.chunks(3_000) {
                let mut part = EventIds::default();
                for (id, seq, hash) in chunk {
                    at_once.push(id, *seq, *hash);
                    part.push(id, *seq, *hash);
                }
                buckets.append(part).unwrap();
            }
            let want = at_once.resolve().unwrap();
            let got = buckets.resolve().unwrap();
            assert!(want.differing > NAMED as u64);
            assert_eq!(got.differing, want.differing);
            assert_eq!(got.differing_ids, want.differing_ids);
            assert_eq!(got.dropped_seqs, want.dropped_seqs);
            assert!(got.survivors.unwrap().equals(&want.survivors.unwrap()));
            assert_eq!(
                std::fs::read_dir(dir.path().join("ids")).unwrap().count(),
                0
            );
        }
    }

    #[test]
    fn a_bucket_cut_inside_a_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        std::fs::write(&path, [UUID_TAG, 1, 2, 3]).unwrap();
        assert!(matches!(read_bucket(&path), Err(ResolveError::Truncated)));
        std::fs::write(&path, [OTHER_TAG, 200, 0, 0, 0, b'x']).unwrap();
        assert!(matches!(read_bucket(&path), Err(ResolveError::Truncated)));
    }
}
