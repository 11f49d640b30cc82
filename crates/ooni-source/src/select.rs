//! Which archives a run reads: days, countries and tests, decided from keys alone.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};

use crate::key::{ArchiveFormat, ArchiveKey, Layout};

/// The first upload day of the `raw/` layout; `jsonl/` ends on the same day (both hold it).
pub fn raw_layout_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 10, 20).unwrap_or_default()
}

/// No OONI archive is older than this day: the first can (`canned/2012-12-05/`) is a few
/// days later, and nothing older exists in any layout.
fn first_data_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2012, 12, 1).unwrap_or_default()
}

/// The first upload day of OONI's legacy cans (`canned/YYYY-MM-DD/` in the `ooni-data` bucket).
pub fn cans_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2012, 12, 5).unwrap_or_default()
}

/// The last upload day of OONI's legacy cans (`canned/2020-10-21/`, in `ooni-data-eu-fra`).
pub fn cans_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 10, 21).unwrap_or_default()
}

/// The public bucket that holds `canned/<day>/`: `ooni-data` (region us-east-1, unverified)
/// for 2012-12-05 … 2020-06-01, `ooni-data-eu-fra` for 2020-06-02 … 2020-10-21 (the older
/// bucket also has copies of some of those days; only the newer one is meant to be read), and
/// `None` outside the cans' days. A store over a single bucket lists only its own share.
pub fn can_bucket(day: NaiveDate) -> Option<&'static str> {
    let eu_fra_start = NaiveDate::from_ymd_opt(2020, 6, 2).unwrap_or_default();
    if day < cans_start() || day > cans_end() {
        None
    } else if day < eu_fra_start {
        Some("ooni-data")
    } else {
        Some("ooni-data-eu-fra")
    }
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
///
/// `Default` is an empty window (1970-01-01 … 1970-01-01) with every country and test and no
/// cans; build one with `Selection { since, until, ..Selection::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Also read OONI's legacy cans, `canned/YYYY-MM-DD/`, for the bucket days up to and
    /// including 2020-10-21 ([`cans_end`]), next to `jsonl/` (which was regenerated from them
    /// and has gaps). Default `false`: `canned/` is then never listed nor selected.
    ///
    /// Tarcans are per test but not per country, so a country filter still fetches every
    /// country's cans of the selected tests and drops measurements by their body
    /// ([`Selection::wants_measurement`]). Can lines duplicate jsonl/ lines: jsonl/ lines carry
    /// `measurement_uid` = OONI's `trivial_id` of the can line, so dedupe on the uid.
    pub cans: bool,
}

impl Selection {
    /// The upload days whose archives can hold measurements of `[since, until)`.
    ///
    /// Never a day before 2012-12-01: OONI has no data that old (its first cans are of
    /// 2012-12-05), and a window opened wide (`--since 0001-01-01`) would otherwise plan
    /// hundreds of thousands of prefixes that can only list empty.
    pub fn bucket_days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        let end = self
            .until
            .checked_add_days(Days::new(u64::from(self.late_upload_days)))
            .unwrap_or(self.until);
        self.since
            .max(first_data_day())
            .iter_days()
            .take_while(move |d| *d < end)
    }

    /// Whether a key's upload day, country and test fall inside the selection.
    ///
    /// `canned/` keys need [`Selection::cans`]. Keys that mix countries (tarcans) pass the
    /// country filter, which is then applied per measurement; can indexes (no test) pass the
    /// test filter. Skipped formats ([`ArchiveFormat::is_skipped`]) are selected like the
    /// others, so they can be counted.
    pub fn selects(&self, key: &ArchiveKey) -> bool {
        if key.layout == Layout::Canned && !self.cans {
            return false;
        }
        let end = self
            .until
            .checked_add_days(Days::new(u64::from(self.late_upload_days)))
            .unwrap_or(self.until);
        key.bucket_day >= self.since
            && key.bucket_day < end
            && (self.probe_cc.is_empty()
                || key.mixes_countries()
                || self.probe_cc.contains(&key.probe_cc))
            && (self.test_names.is_empty()
                || key.format == ArchiveFormat::CanIndex
                || self.test_names.contains(&key.test_name))
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

/// An archive to read, with the other archive of its `raw/` twin pair, if that was listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Twins {
    /// The archive to read: of a `jsonl.gz`/`tar.gz` pair, the postcan (it carries OONI's
    /// `measurement_uid`).
    pub chosen: ArchiveKey,
    /// The other archive of the pair, which holds the same measurements: to be read instead
    /// when `chosen` turns out broken (empty, truncated, corrupt). `None` for archives
    /// without a listed twin (including every `canned/` key).
    pub alternative: Option<ArchiveKey>,
}

/// Pairs each `raw/` `jsonl.gz`/`tar.gz` twin: the postcan is [`Twins::chosen`] and the other
/// its [`Twins::alternative`] (between two archives of the same format, the first listed is
/// chosen). Returns one [`Twins`] per stem, in key order (by layout, then stem) so runs are
/// reproducible. `canned/` keys have no twins (their stem is the whole key). A key listed
/// twice counts once.
pub fn pair_twins(keys: Vec<ArchiveKey>) -> Vec<Twins> {
    let mut by_stem: BTreeMap<(Layout, String), Twins> = BTreeMap::new();
    for key in keys {
        let twins = match by_stem.entry((key.layout, key.stem.clone())) {
            Entry::Vacant(slot) => {
                slot.insert(Twins {
                    chosen: key,
                    alternative: None,
                });
                continue;
            }
            Entry::Occupied(slot) => slot.into_mut(),
        };
        let listed_again = twins.chosen.key == key.key
            || twins.alternative.as_ref().is_some_and(|a| a.key == key.key);
        if listed_again {
            continue;
        }
        if twins.chosen.format != ArchiveFormat::Postcan && key.format == ArchiveFormat::Postcan {
            let other = std::mem::replace(&mut twins.chosen, key);
            twins.alternative = Some(other);
        } else if twins.alternative.is_none() {
            twins.alternative = Some(key);
        }
        // A third archive of one stem cannot be: a stem has two suffixes.
    }
    by_stem.into_values().collect()
}

/// Keeps one archive of each `raw/` jsonl.gz/tar.gz twin (the postcan), in key order: the
/// [`Twins::chosen`] of [`pair_twins`]. The second element counts the keys left unread
/// (twins, and keys listed twice).
pub fn pick_one_of_each_twin(keys: Vec<ArchiveKey>) -> (Vec<ArchiveKey>, u64) {
    let listed = keys.len();
    let twins = pair_twins(keys);
    let skipped = listed.saturating_sub(twins.len()) as u64;
    (twins.into_iter().map(|t| t.chosen).collect(), skipped)
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
            cans: false,
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

    #[test]
    fn cans_are_selected_only_when_asked_and_tarcans_pass_the_country_filter() {
        let tarcan = ArchiveKey::parse("canned/2020-09-28/web_connectivity.01.tar.lz4").unwrap();
        let other_test = ArchiveKey::parse("canned/2020-09-28/whatsapp.0.tar.lz4").unwrap();
        let az = ArchiveKey::parse(
            "canned/2020-09-28/20200927T101010Z-AZ-AS28787-web_connectivity-20200927T101011Z_AS28787_abc-0.2.0-probe.json.lz4",
        )
        .unwrap();
        let us = ArchiveKey::parse(
            "canned/2020-09-28/20200927T101010Z-US-AS7922-web_connectivity-20200927T101011Z_AS7922_abc-0.2.0-probe.json.lz4",
        )
        .unwrap();
        let index = ArchiveKey::parse("canned/2020-09-28/index.json.gz").unwrap();
        let late = ArchiveKey::parse("canned/2020-09-29/web_connectivity.00.tar.lz4").unwrap();
        let mut sel = Selection {
            since: day("2020-09-28"),
            until: day("2020-09-29"),
            probe_cc: ["AZ".to_owned()].into(),
            test_names: ["webconnectivity".to_owned()].into(),
            ..Selection::default()
        };
        assert!(!sel.cans);
        for key in [&tarcan, &az, &index] {
            assert!(!sel.selects(key), "{}", key.key);
        }
        sel.cans = true;
        for key in [&tarcan, &az, &index] {
            assert!(sel.selects(key), "{}", key.key);
        }
        for key in [&other_test, &us, &late] {
            assert!(!sel.selects(key), "{}", key.key);
        }
        // A tarcan mixes countries: its measurements are filtered by their bodies.
        assert!(sel.wants_measurement("AZ", "web_connectivity"));
        assert!(!sel.wants_measurement("US", "web_connectivity"));
    }

    #[test]
    fn cans_live_in_two_buckets() {
        assert_eq!(can_bucket(day("2012-12-04")), None);
        assert_eq!(can_bucket(day("2012-12-05")), Some("ooni-data"));
        assert_eq!(can_bucket(day("2020-06-01")), Some("ooni-data"));
        assert_eq!(can_bucket(day("2020-06-02")), Some("ooni-data-eu-fra"));
        assert_eq!(can_bucket(day("2020-10-21")), Some("ooni-data-eu-fra"));
        assert_eq!(can_bucket(day("2020-10-22")), None);
    }

    #[test]
    fn twins_are_paired_with_the_postcan_chosen_in_either_order() {
        let dir = "raw/20201021/10/AZ/whatsapp";
        let jsonl =
            ArchiveKey::parse(&format!("{dir}/2020102110_AZ_whatsapp.n0.0.jsonl.gz")).unwrap();
        let tar = ArchiveKey::parse(&format!("{dir}/2020102110_AZ_whatsapp.n0.0.tar.gz")).unwrap();
        let single =
            ArchiveKey::parse(&format!("{dir}/2020102110_AZ_whatsapp.n0.1.jsonl.gz")).unwrap();
        let lone_tar =
            ArchiveKey::parse(&format!("{dir}/2020102110_AZ_whatsapp.n0.2.tar.gz")).unwrap();
        let can = ArchiveKey::parse("canned/2020-10-21/web_connectivity.00.tar.lz4").unwrap();
        let expected = vec![
            Twins {
                chosen: tar.clone(),
                alternative: Some(jsonl.clone()),
            },
            Twins {
                chosen: single.clone(),
                alternative: None,
            },
            Twins {
                chosen: lone_tar.clone(),
                alternative: None,
            },
            Twins {
                chosen: can.clone(),
                alternative: None,
            },
        ];
        for keys in [
            vec![
                jsonl.clone(),
                tar.clone(),
                single.clone(),
                lone_tar.clone(),
                can.clone(),
            ],
            vec![
                can.clone(),
                lone_tar.clone(),
                tar.clone(),
                single.clone(),
                jsonl.clone(),
            ],
            // Listed twice: counts once.
            vec![
                tar.clone(),
                jsonl.clone(),
                tar.clone(),
                jsonl.clone(),
                single.clone(),
                lone_tar.clone(),
                can.clone(),
            ],
        ] {
            let listed = keys.len() as u64;
            assert_eq!(pair_twins(keys.clone()), expected);
            let (picked, skipped) = pick_one_of_each_twin(keys);
            let chosen: Vec<ArchiveKey> = expected.iter().map(|t| t.chosen.clone()).collect();
            assert_eq!(picked, chosen);
            assert_eq!(skipped, listed - 4);
        }
    }

    #[test]
    fn bucket_days_never_start_before_ooni_had_data() {
        let sel = Selection {
            since: NaiveDate::MIN,
            until: day("2012-12-03"),
            ..Selection::default()
        };
        let days: Vec<_> = sel.bucket_days().map(|d| d.to_string()).collect();
        assert_eq!(days, ["2012-12-01", "2012-12-02"]);
        let sel = Selection {
            since: day("0001-01-01"),
            until: day("2012-12-01"),
            ..Selection::default()
        };
        assert_eq!(sel.bucket_days().count(), 0);
        // A later start is kept as it is.
        let sel = Selection {
            since: day("2012-12-02"),
            until: day("2012-12-03"),
            ..Selection::default()
        };
        let days: Vec<_> = sel.bucket_days().map(|d| d.to_string()).collect();
        assert_eq!(days, ["2012-12-02"]);
    }

    #[test]
    fn cans_have_no_twins() {
        let a = ArchiveKey::parse("canned/2020-10-21/web_connectivity.00.tar.lz4").unwrap();
        let b = ArchiveKey::parse("canned/2020-10-21/web_connectivity.01.tar.lz4").unwrap();
        let (picked, skipped) = pick_one_of_each_twin(vec![b.clone(), a.clone()]);
        assert_eq!(picked, vec![a, b]);
        assert_eq!(skipped, 0);
    }
}
