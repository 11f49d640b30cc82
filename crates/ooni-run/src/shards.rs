//! The shard plan: which archives each of N shards reads, computed from the listing alone,
//! so that every shard of a run, on any machine, computes the same plan.
//!
//! The unit of work is a (country, test) group: every copy of a measurement — the
//! `jsonl.gz`/`tar.gz` twins, the `jsonl/`/`raw/` overlap, `.l.`/`.x.` copies, late uploads —
//! carries the same country and test in its key, so all copies meet inside one shard and
//! its duplicate check sees them. Legacy cans mix countries: their unit is the test alone.
//! Units are dealt out largest first to the shard with the fewest bytes so far (ties to the
//! lowest index), which balances listed bytes within one largest unit.

use std::collections::BTreeMap;

use ooni_source::{ArchiveKey, ObjectMeta, Twins};
use serde::Serialize;

use crate::state::Shard;

/// What the plan gave one shard, for the run summary and `list`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanStats {
    /// Units in the whole listing.
    pub units_total: u64,
    /// Units of this shard.
    pub units_mine: u64,
    /// Listed bytes of the whole listing (chosen twins).
    pub bytes_total: u64,
    /// Listed bytes of this shard.
    pub bytes_mine: u64,
}

/// The unit an archive belongs to.
pub fn unit_of(key: &ArchiveKey) -> String {
    if key.mixes_countries() {
        format!("*/{}", key.test_name)
    } else {
        format!("{}/{}", key.probe_cc, key.test_name)
    }
}

/// Each unit's shard index, from the units' listed bytes.
pub fn plan(bytes_per_unit: &BTreeMap<String, u64>, count: u32) -> BTreeMap<String, u32> {
    let mut units: Vec<(&String, u64)> = bytes_per_unit.iter().map(|(u, b)| (u, *b)).collect();
    units.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut load = vec![0u64; count as usize];
    let mut assigned = BTreeMap::new();
    for (unit, bytes) in units {
        let (index, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(i, l)| (**l, *i))
            .unwrap_or((0, &0));
        load[index] += bytes;
        assigned.insert(unit.clone(), index as u32);
    }
    assigned
}

/// The listed bytes of each unit (the chosen archive of each twin pair).
pub fn bytes_per_unit(
    twins: &[Twins],
    listed: &BTreeMap<String, ObjectMeta>,
) -> BTreeMap<String, u64> {
    let mut bytes = BTreeMap::new();
    for t in twins {
        *bytes.entry(unit_of(&t.chosen)).or_default() +=
            listed.get(&t.chosen.key).map_or(0, |o| o.size);
    }
    bytes
}

/// Keeps the twins of `shard`'s units.
pub fn assign(
    twins: Vec<Twins>,
    listed: &BTreeMap<String, ObjectMeta>,
    shard: Shard,
) -> (Vec<Twins>, PlanStats) {
    let bytes = bytes_per_unit(&twins, listed);
    let plan = plan(&bytes, shard.count);
    let mut stats = PlanStats {
        units_total: bytes.len() as u64,
        bytes_total: bytes.values().sum(),
        ..PlanStats::default()
    };
    for (unit, index) in &plan {
        if *index == shard.index {
            stats.units_mine += 1;
            stats.bytes_mine += bytes[unit];
        }
    }
    let mine = twins
        .into_iter()
        .filter(|t| plan.get(&unit_of(&t.chosen)) == Some(&shard.index))
        .collect();
    (mine, stats)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn units_are_dealt_largest_first_to_the_lightest_shard() {
        let bytes: BTreeMap<String, u64> = [
            ("AZ/whatsapp", 50),
            ("RU/webconnectivity", 100),
            ("IR/telegram", 30),
            ("US/ndt", 30),
            ("IT/dash", 10),
        ]
        .iter()
        .map(|(u, b)| ((*u).to_owned(), *b))
        .collect();
        let plan = plan(&bytes, 2);
        assert_eq!(plan["RU/webconnectivity"], 0);
        assert_eq!(plan["AZ/whatsapp"], 1);
        assert_eq!(plan["IR/telegram"], 1);
        assert_eq!(plan["US/ndt"], 1);
        assert_eq!(plan["IT/dash"], 0);
        // Same input, same plan, whatever the map's history.
        assert_eq!(plan, super::plan(&bytes.clone(), 2));
        // One shard takes everything.
        assert!(super::plan(&bytes, 1).values().all(|i| *i == 0));
    }
}
