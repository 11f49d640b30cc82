//! The content ids already in the output, per partition, held in a cache of bounded size.
//!
//! A batch keeps a measurement only if its partition (test, day) does not hold its content
//! id yet. A content id hashes the report, test name and start time (or OONI's uid of one
//! measurement), so a duplicate lands in the partition of its first copy, and a
//! partition's own ids are all it can collide with. The ids of a partition are read from
//! its committed files the first time a batch touches it and kept as 16-byte digests, those
//! of this run's own files apart (a copy met again in the same run is a duplicate in the
//! run, not a measurement already in the output). When more than [`SEEN_IDS_CAP`] are held,
//! the partitions used least recently are forgotten and read again if a later batch
//! touches them. Memory therefore stays bounded however many days a run (or a backfill)
//! covers.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

/// How many content ids the cache holds before it forgets partitions (≈ 40–70 MB).
pub const SEEN_IDS_CAP: usize = 2_000_000;

/// A partition of the per-measurement tables: test name and measurement day.
pub type PartitionKey = (String, NaiveDate);

/// The content ids of the partitions a run has touched, least recently used forgotten first.
#[derive(Debug)]
pub struct SeenIds {
    partitions: HashMap<PartitionKey, Partition>,
    held: usize,
    cap: usize,
    clock: u64,
}

#[derive(Debug)]
struct Partition {
    /// In files committed before this run.
    committed: HashSet<u128>,
    /// Written by this run.
    written: HashSet<u128>,
    last_used: u64,
}

impl Partition {
    fn len(&self) -> usize {
        self.committed.len() + self.written.len()
    }
}

/// Where a partition already holds a content id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// In the output before this run.
    Committed,
    /// Written earlier in this run.
    Written,
}

impl Default for SeenIds {
    fn default() -> Self {
        Self::with_cap(SEEN_IDS_CAP)
    }
}

impl SeenIds {
    /// A cache that forgets partitions beyond `cap` ids.
    pub fn with_cap(cap: usize) -> Self {
        Self {
            partitions: HashMap::new(),
            held: 0,
            cap,
            clock: 0,
        }
    }

    /// Whether the ids of `key` are held (and marks it used).
    pub fn holds(&mut self, key: &PartitionKey) -> bool {
        self.clock += 1;
        match self.partitions.get_mut(key) {
            Some(partition) => {
                partition.last_used = self.clock;
                true
            }
            None => false,
        }
    }

    /// Holds the ids of `key` read from its files: those committed before this run, and
    /// those this run wrote.
    pub fn load(&mut self, key: PartitionKey, committed: HashSet<u128>, written: HashSet<u128>) {
        self.clock += 1;
        let partition = Partition {
            committed,
            written,
            last_used: self.clock,
        };
        self.held += partition.len();
        let replaced = self.partitions.insert(key, partition);
        self.held -= replaced.map_or(0, |p| p.len());
    }

    /// Where partition `key` holds `id` (`None` if not, or if the partition is not held).
    pub fn seen(&self, key: &PartitionKey, id: u128) -> Option<Seen> {
        let partition = self.partitions.get(key)?;
        if partition.committed.contains(&id) {
            Some(Seen::Committed)
        } else if partition.written.contains(&id) {
            Some(Seen::Written)
        } else {
            None
        }
    }

    /// Records `id` as written by this run to partition `key`, if that partition is held (a
    /// partition not held is read from its files, which then include it, when it is next
    /// needed).
    pub fn add_written(&mut self, key: &PartitionKey, id: u128) {
        if let Some(partition) = self.partitions.get_mut(key)
            && partition.written.insert(id)
        {
            self.held += 1;
        }
    }

    /// Forgets the least recently used partitions until at most `cap` ids are held.
    pub fn shrink(&mut self) {
        if self.held <= self.cap {
            return;
        }
        let mut by_age: Vec<(u64, PartitionKey)> = self
            .partitions
            .iter()
            .map(|(key, partition)| (partition.last_used, key.clone()))
            .collect();
        by_age.sort();
        for (_, key) in by_age {
            if self.held <= self.cap {
                break;
            }
            if let Some(partition) = self.partitions.remove(&key) {
                self.held -= partition.len();
            }
        }
    }

    /// How many ids are held.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held
    }
}

/// A content id as the 128-bit digest its 32 hex digits spell. Any other text (never
/// written by this pipeline) is folded into 128 bits with FNV-1a, so it still compares.
pub fn id_key(content_id: &str) -> u128 {
    if content_id.len() == 32
        && let Ok(digest) = u128::from_str_radix(content_id, 16)
    {
        return digest;
    }
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    content_id.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(test: &str, day: u32) -> PartitionKey {
        (
            test.to_owned(),
            NaiveDate::from_ymd_opt(2024, 1, day).unwrap(),
        )
    }

    #[test]
    fn hex_ids_are_their_digest_and_other_text_still_compares() {
        assert_eq!(id_key("000000000000000000000000000000ff"), 255);
        assert_eq!(
            id_key("ffffffffffffffffffffffffffffffff"),
            u128::MAX,
            "32 hex digits"
        );
        assert_eq!(id_key("not an id"), id_key("not an id"));
        assert_ne!(id_key("not an id"), id_key("not an ie"));
        // 31 digits are not a digest: hashed, so they cannot equal the number they spell.
        assert_ne!(id_key("0000000000000000000000000000ff"), 255);
    }

    #[test]
    fn forgets_the_least_recently_used_partitions_beyond_the_cap() {
        let mut seen = SeenIds::with_cap(4);
        seen.load(key("a", 1), [1].into(), [2].into());
        seen.load(key("b", 1), [3, 4].into(), HashSet::new());
        seen.load(key("c", 1), [5].into(), HashSet::new());
        assert!(
            seen.holds(&key("a", 1)),
            "a used again: b is now the oldest"
        );
        seen.shrink();
        assert_eq!(seen.held(), 3);
        assert!(!seen.holds(&key("b", 1)));
        assert_eq!(seen.seen(&key("a", 1), 1), Some(Seen::Committed));
        assert_eq!(seen.seen(&key("a", 1), 2), Some(Seen::Written));
        assert_eq!(seen.seen(&key("c", 1), 5), Some(Seen::Committed));
        assert_eq!(
            seen.seen(&key("b", 1), 3),
            None,
            "forgotten: read again when needed"
        );
    }

    #[test]
    fn ids_written_are_added_to_held_partitions_only() {
        let mut seen = SeenIds::with_cap(10);
        seen.load(key("a", 1), HashSet::new(), HashSet::new());
        seen.add_written(&key("a", 1), 7);
        seen.add_written(&key("a", 1), 7);
        seen.add_written(&key("b", 1), 8);
        assert_eq!(seen.held(), 1);
        assert_eq!(seen.seen(&key("a", 1), 7), Some(Seen::Written));
        assert_eq!(seen.seen(&key("b", 1), 8), None);
    }

    #[test]
    fn reloading_a_partition_counts_its_ids_once() {
        let mut seen = SeenIds::with_cap(10);
        seen.load(key("a", 1), [1, 2].into(), HashSet::new());
        seen.load(key("a", 1), [1, 2].into(), [3].into());
        assert_eq!(seen.held(), 3);
    }
}
