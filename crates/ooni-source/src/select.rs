//! Which archives a run reads: days, countries and tests, decided from keys alone.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};

use crate::key::{ArchiveFormat, ArchiveKey, Layout};

/// The first upload day of the `raw/` layout; `jsonl/` ends on the same day (both hold it).
pub fn raw_layout_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 10, 20).unwrap_or_default()
}

/// A test name as users type it (`web_connectivity`, `webconnectivity`, `Web_Connectivity`)
/// reduced to the spelling used in bucket keys (`webconnectivity`).
pub fn compact_test_name(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// What to read. Days are UTC; `since` is inclusive and `until` exclusive, as in OONI's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// First measurement day (inclusive).
    pub since: NaiveDate,
    /// Last measurement day (exclusive).
    pub until: NaiveDate,
    /// Extra upload days read after `until`, so that late uploads are counted.
    pub late_upload_days: u32,
    /// Countries to keep; empty means all.
    pub probe_cc: BTreeSet<String>,
    /// Tests to keep, in key spelling (see [`compact_test_name`]); empty means all.
    pub test_names: BTreeSet<String>,
}

impl Selection {
    /// The upload days whose archives can hold measurements of `[since, until)`.
    pub fn bucket_days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        let end = self
            .until
            .checked_add_days(Days::new(u64::from(self.late_upload_days)))
            .unwrap_or(self.until);
        self.since.iter_days().take_while(move |d| *d < end)
    }

    /// Whether a key's upload day, country and test fall inside the selection.
    pub fn selects(&self, key: &ArchiveKey) -> bool {
        let end = self
            .until
            .checked_add_days(Days::new(u64::from(self.late_upload_days)))
            .unwrap_or(self.until);
        key.bucket_day >= self.since
            && key.bucket_day < end
            && (self.probe_cc.is_empty() || self.probe_cc.contains(&key.probe_cc))
            && (self.test_names.is_empty() || self.test_names.contains(&key.test_name))
    }

    /// Whether a measurement's own country and test (from its body) are wanted.
    pub fn wants_measurement(&self, probe_cc: &str, test_name: &str) -> bool {
        (self.probe_cc.is_empty() || self.probe_cc.contains(probe_cc))
            && (self.test_names.is_empty()
                || self.test_names.contains(&compact_test_name(test_name)))
    }

    /// Whether a measurement day is inside `[since, until)`.
    pub fn contains_day(&self, day: NaiveDate) -> bool {
        day >= self.since && day < self.until
    }
}

/// Keeps one archive of each `raw/` jsonl.gz/tar.gz twin (the postcan, which carries OONI's
/// `measurement_uid`), and returns the archives in key order so runs are reproducible.
/// The second element counts the twins that were left unread.
pub fn pick_one_of_each_twin(keys: Vec<ArchiveKey>) -> (Vec<ArchiveKey>, u64) {
    let mut by_stem: BTreeMap<(Layout, String), ArchiveKey> = BTreeMap::new();
    let mut skipped = 0;
    for key in keys {
        let slot = (key.layout, key.stem.clone());
        match by_stem.get(&slot) {
            Some(existing) if existing.format == ArchiveFormat::Postcan => skipped += 1,
            Some(_) if key.format == ArchiveFormat::Postcan => {
                skipped += 1;
                by_stem.insert(slot, key);
            }
            Some(_) => skipped += 1,
            None => {
                by_stem.insert(slot, key);
            }
        }
    }
    (by_stem.into_values().collect(), skipped)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn test_names_with_or_without_underscores_are_one() {
        assert_eq!(compact_test_name("web_connectivity"), "webconnectivity");
        assert_eq!(compact_test_name("webconnectivity"), "webconnectivity");
        assert_eq!(compact_test_name("Facebook_Messenger"), "facebookmessenger");
    }

    #[test]
    fn until_is_exclusive_and_late_uploads_extend_the_read_window() {
        let sel = Selection {
            since: day("2020-09-27"),
            until: day("2020-09-29"),
            late_upload_days: 2,
            probe_cc: BTreeSet::new(),
            test_names: BTreeSet::new(),
        };
        let days: Vec<_> = sel.bucket_days().map(|d| d.to_string()).collect();
        assert_eq!(
            days,
            ["2020-09-27", "2020-09-28", "2020-09-29", "2020-09-30"]
        );
        assert!(sel.contains_day(day("2020-09-28")));
        assert!(!sel.contains_day(day("2020-09-29")));
    }

    #[test]
    fn postcan_wins_over_its_jsonl_twin_in_either_order() {
        let jsonl =
            ArchiveKey::parse("raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.jsonl.gz")
                .unwrap();
        let tar =
            ArchiveKey::parse("raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.tar.gz")
                .unwrap();
        for keys in [
            vec![jsonl.clone(), tar.clone()],
            vec![tar.clone(), jsonl.clone()],
        ] {
            let (picked, skipped) = pick_one_of_each_twin(keys);
            assert_eq!(picked, vec![tar.clone()]);
            assert_eq!(skipped, 1);
        }
    }
}
