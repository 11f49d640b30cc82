//! Where archives come from: a listing of keys and a way to open one.
//!
//! [`Store`] is the seam between the pipeline and storage. [`LocalStore`] reads a directory
//! that holds OONI's key layout (`raw/…`, `jsonl/…`, `canned/…`); an S3 store implements the
//! same trait.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;

use crate::key::{ArchiveKey, KeyError};
use crate::select::{Selection, cans_end, cans_start, raw_layout_start};

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectMeta {
    /// The key, `/`-separated, relative to the store's root.
    pub key: String,
    /// Size in bytes, as listed.
    pub size: u64,
    /// What identifies this version of the object: S3's ETag, or size and modification time
    /// for local files. A changed tag means the object must be read again.
    pub etag: Option<String>,
}

/// Listing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A listing call failed.
    #[error("listing {location}/{prefix} failed")]
    List {
        /// The store (directory or bucket).
        location: String,
        /// The prefix being listed.
        prefix: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An object could not be opened.
    #[error("opening {location}/{key} failed")]
    Open {
        /// The store (directory or bucket).
        location: String,
        /// The key.
        key: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Requests a store made, for the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// LIST calls (one per page for S3; one per prefix for a directory).
    pub list_calls: u64,
    /// GET calls (including retries and resumed ranges) or file opens.
    pub get_calls: u64,
    /// Requests retried after throttling, server errors or connection resets.
    pub retries: u64,
    /// Bytes fetched again with a Range request after a body was cut mid-way,
    /// i.e. bytes *not* downloaded twice.
    pub resumed_bytes: u64,
}

/// A source of OONI archives.
pub trait Store: Send + Sync {
    /// A human description of the store (`./examples/bucket`, `s3://ooni-data-eu-fra`).
    fn location(&self) -> String;
    /// Every object whose key starts with `prefix` (which ends in `/`).
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
    /// [`Store::list`] for several prefixes, in prefix order; remote stores list them
    /// concurrently.
    fn list_many(&self, prefixes: &[String]) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut out = Vec::new();
        for prefix in prefixes {
            out.extend(self.list(prefix)?);
        }
        Ok(out)
    }
    /// A streaming reader over one object's bytes. `expected_size` is the listed size, when
    /// known; a store that can check it makes a short or long body a read error.
    fn open(
        &self,
        key: &str,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn Read + Send>, StoreError>;
    /// Requests made so far.
    fn request_stats(&self) -> RequestStats;
}

/// The narrowest prefixes that can hold the selection's archives: per upload day in `raw/`
/// (per hour, country and test when those are given), per test/country/day in `jsonl/`, and,
/// when [`Selection::cans`] is set, `canned/YYYY-MM-DD/` for each upload day from 2012-12-05
/// up to and including 2020-10-21 (cans are per day only: the test and country filters apply
/// to the listed keys). Which bucket holds a `canned/` day: [`can_bucket`](crate::can_bucket).
pub fn plan_prefixes(selection: &Selection) -> Vec<String> {
    let mut prefixes = Vec::new();
    let raw_start = raw_layout_start();
    let (first_can, last_can) = (cans_start(), cans_end());
    for day in selection.bucket_days() {
        let compact = day.format("%Y%m%d").to_string();
        if day >= raw_start {
            prefixes.extend(raw_prefixes(&compact, selection));
        }
        if day <= raw_start {
            prefixes.extend(jsonl_prefixes(&compact, selection));
        }
        if selection.cans && day >= first_can && day <= last_can {
            prefixes.push(format!("canned/{}/", day.format("%Y-%m-%d")));
        }
    }
    prefixes
}

fn raw_prefixes(day: &str, selection: &Selection) -> Vec<String> {
    if selection.probe_cc.is_empty() || selection.test_names.is_empty() {
        return vec![format!("raw/{day}/")];
    }
    let mut out = Vec::new();
    for hour in 0..24 {
        for cc in &selection.probe_cc {
            for tn in &selection.test_names {
                out.push(format!("raw/{day}/{hour:02}/{cc}/{tn}/"));
            }
        }
    }
    out
}

fn jsonl_prefixes(day: &str, selection: &Selection) -> Vec<String> {
    if selection.probe_cc.is_empty() || selection.test_names.is_empty() {
        // Without both, jsonl/ cannot be narrowed by day alone: list it per test (or whole)
        // and let the key filter drop other days. Deduplicated by the caller.
        if selection.test_names.is_empty() {
            return vec!["jsonl/".to_owned()];
        }
        return selection
            .test_names
            .iter()
            .map(|tn| format!("jsonl/{tn}/"))
            .collect();
    }
    let mut out = Vec::new();
    for tn in &selection.test_names {
        for cc in &selection.probe_cc {
            out.push(format!("jsonl/{tn}/{cc}/{day}/"));
        }
    }
    out
}

/// The result of listing a selection: archives to read, and keys that were not understood.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Listed objects inside the selection with their parsed keys, in key order.
    pub archives: Vec<(ObjectMeta, ArchiveKey)>,
    /// Listed objects inside the selection whose format is never decoded
    /// ([`ArchiveFormat::is_skipped`](crate::ArchiveFormat::is_skipped): YAML reportcans and
    /// can indexes), in key order: to be counted, not fetched.
    pub skipped: Vec<(ObjectMeta, ArchiveKey)>,
    /// Listed keys that do not follow OONI's layout (never silently ignored: reported).
    pub unrecognized: Vec<KeyError>,
    /// Number of list calls made (pages, for S3).
    pub list_calls: u64,
}

/// Lists the selection's prefixes and keeps the keys whose day, country and test match.
pub fn inventory(store: &dyn Store, selection: &Selection) -> Result<Inventory, StoreError> {
    let mut prefixes = plan_prefixes(selection);
    prefixes.sort();
    prefixes.dedup();
    // A broader prefix already covers narrower ones (e.g. `jsonl/` covers `jsonl/tn/`).
    let mut kept: Vec<String> = Vec::new();
    for p in prefixes {
        if !kept.iter().any(|k| p.starts_with(k.as_str())) {
            kept.push(p);
        }
    }
    let mut inv = Inventory::default();
    let mut seen = std::collections::BTreeSet::new();
    let before = store.request_stats().list_calls;
    for obj in store.list_many(&kept)? {
        if !seen.insert(obj.key.clone()) {
            continue;
        }
        match ArchiveKey::parse(&obj.key) {
            Ok(key) if selection.selects(&key) && key.format.is_skipped() => {
                inv.skipped.push((obj, key));
            }
            Ok(key) if selection.selects(&key) => inv.archives.push((obj, key)),
            Ok(_) => {}
            Err(e) => inv.unrecognized.push(e),
        }
    }
    inv.list_calls = store.request_stats().list_calls - before;
    inv.archives.sort();
    inv.skipped.sort();
    Ok(inv)
}

/// A directory laid out like OONI's bucket.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    lists: AtomicU64,
    opens: AtomicU64,
}

impl LocalStore {
    /// A store rooted at `root` (which holds `raw/`, `jsonl/` and/or `canned/`).
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore {
            root: root.into(),
            lists: AtomicU64::new(0),
            opens: AtomicU64::new(0),
        }
    }

    fn list_error(&self, prefix: &str, source: std::io::Error) -> StoreError {
        StoreError::List {
            location: self.location(),
            prefix: prefix.to_owned(),
            source: Box::new(source),
        }
    }
}

impl Store for LocalStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        // Prefixes here always end at a directory boundary.
        let dir = self.root.join(prefix.trim_end_matches('/'));
        let mut out = Vec::new();
        if !dir.is_dir() {
            return Ok(out);
        }
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|e| self.list_error(prefix, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| self.list_error(prefix, e))?;
                let file_type = entry.file_type().map_err(|e| self.list_error(prefix, e))?;
                let path = entry.path();
                if file_type.is_dir() {
                    stack.push(path);
                } else if file_type.is_file() {
                    let meta = entry.metadata().map_err(|e| self.list_error(prefix, e))?;
                    let modified = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    if let Some(key) = relative_key(&self.root, &path) {
                        out.push(ObjectMeta {
                            key,
                            size: meta.len(),
                            etag: Some(format!("{}-{modified}", meta.len())),
                        });
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn open(
        &self,
        key: &str,
        _expected_size: Option<u64>,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        self.opens.fetch_add(1, Ordering::Relaxed);
        let path = self.root.join(key);
        fs::File::open(&path)
            .map(|f| Box::new(f) as Box<dyn Read + Send>)
            .map_err(|e| StoreError::Open {
                location: self.location(),
                key: key.to_owned(),
                source: Box::new(e),
            })
    }

    fn request_stats(&self) -> RequestStats {
        RequestStats {
            list_calls: self.lists.load(Ordering::Relaxed),
            get_calls: self.opens.load(Ordering::Relaxed),
            ..RequestStats::default()
        }
    }
}

fn relative_key(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Parses a `YYYY-MM-DD` day as given on the command line.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeSet;

    fn selection(cc: &[&str], tn: &[&str], since: &str, until: &str) -> Selection {
        Selection {
            since: parse_day(since).unwrap(),
            until: parse_day(until).unwrap(),
            late_upload_days: 0,
            probe_cc: cc.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            test_names: tn.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            cans: false,
        }
    }

    #[test]
    fn one_country_one_test_one_day_lists_hourly_prefixes_only() {
        let p = plan_prefixes(&selection(
            &["AZ"],
            &["whatsapp"],
            "2020-11-01",
            "2020-11-02",
        ));
        assert_eq!(p.len(), 24);
        assert_eq!(p[0], "raw/20201101/00/AZ/whatsapp/");
    }

    #[test]
    fn the_overlap_day_is_listed_in_both_layouts() {
        let p = plan_prefixes(&selection(
            &["AZ"],
            &["whatsapp"],
            "2020-10-20",
            "2020-10-21",
        ));
        assert!(p.contains(&"raw/20201020/13/AZ/whatsapp/".to_owned()));
        assert!(p.contains(&"jsonl/whatsapp/AZ/20201020/".to_owned()));
        let before = plan_prefixes(&selection(
            &["AZ"],
            &["whatsapp"],
            "2020-10-19",
            "2020-10-20",
        ));
        assert_eq!(before, vec!["jsonl/whatsapp/AZ/20201019/".to_owned()]);
    }

    #[test]
    fn local_store_lists_relative_slash_keys() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("raw/20201021/10/AZ/whatsapp");
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join("2020102110_AZ_whatsapp.n0.0.jsonl.gz"), b"abc").unwrap();
        fs::write(dir.path().join("raw/README"), b"x").unwrap();
        let store = LocalStore::new(dir.path());
        let sel = selection(&[], &[], "2020-10-21", "2020-10-22");
        let inv = inventory(&store, &sel).unwrap();
        assert_eq!(inv.archives.len(), 1);
        assert_eq!(inv.archives[0].0.size, 3);
        assert!(
            inv.unrecognized.is_empty(),
            "raw/README is outside raw/20201021/"
        );
        let mut content = String::new();
        store
            .open(
                "raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.jsonl.gz",
                Some(3),
            )
            .unwrap()
            .read_to_string(&mut content)
            .unwrap();
        assert_eq!(content, "abc");
    }

    #[test]
    fn cans_are_listed_per_day_only_when_asked_and_stop_after_2020_10_21() {
        let mut sel = selection(&["AZ"], &["webconnectivity"], "2020-10-19", "2020-10-23");
        let without = plan_prefixes(&sel);
        assert!(
            without.iter().all(|p| !p.starts_with("canned/")),
            "{without:?}"
        );
        sel.cans = true;
        let with = plan_prefixes(&sel);
        let cans: Vec<&str> = with
            .iter()
            .filter(|p| p.starts_with("canned/"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            cans,
            [
                "canned/2020-10-19/",
                "canned/2020-10-20/",
                "canned/2020-10-21/"
            ]
        );
        // Everything else is unchanged.
        let rest: Vec<String> = with
            .into_iter()
            .filter(|p| !p.starts_with("canned/"))
            .collect();
        assert_eq!(rest, without);
        // Before the first can day, nothing.
        let mut early = selection(&[], &[], "2012-12-04", "2012-12-06");
        early.cans = true;
        let early: Vec<String> = plan_prefixes(&early)
            .into_iter()
            .filter(|p| p.starts_with("canned/"))
            .collect();
        assert_eq!(early, ["canned/2012-12-05/"]);
    }

    #[test]
    fn local_store_inventory_keeps_cans_of_the_selected_tests_and_sets_skipped_ones_aside() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("canned/2020-10-20");
        fs::create_dir_all(&day).unwrap();
        let files = [
            "web_connectivity.00.tar.lz4",
            "web_connectivity.01.tar.lz4",
            "whatsapp.0.tar.lz4",
            "20201020T101010Z-AZ-AS28787-web_connectivity-20201020T101011Z_AS28787_abc-0.2.0-probe.json.lz4",
            "20201020T101010Z-US-AS7922-web_connectivity-20201020T101011Z_AS7922_abc-0.2.0-probe.json.lz4",
            "20201020T101010Z-AZ-AS28787-web_connectivity-20201020T101011Z_AS28787_def-0.1.0-probe.yaml.lz4",
            "index.json.gz",
            "notes.txt",
        ];
        for f in files {
            fs::write(day.join(f), b"x").unwrap();
        }
        // A day outside the window, and jsonl/ for the same day.
        fs::create_dir_all(dir.path().join("canned/2020-10-22")).unwrap();
        fs::write(
            dir.path()
                .join("canned/2020-10-22/web_connectivity.00.tar.lz4"),
            b"x",
        )
        .unwrap();
        let jsonl = dir.path().join("jsonl/webconnectivity/AZ/20201020/00");
        fs::create_dir_all(&jsonl).unwrap();
        fs::write(jsonl.join("20201020_AZ_webconnectivity.l.0.jsonl.gz"), b"x").unwrap();

        let store = LocalStore::new(dir.path());
        let mut sel = selection(&["AZ"], &["webconnectivity"], "2020-10-20", "2020-10-21");
        let inv = inventory(&store, &sel).unwrap();
        assert_eq!(inv.archives.len(), 1, "without cans, only jsonl/");
        assert!(inv.skipped.is_empty());

        sel.cans = true;
        let inv = inventory(&store, &sel).unwrap();
        let keys: Vec<&str> = inv.archives.iter().map(|(o, _)| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "canned/2020-10-20/20201020T101010Z-AZ-AS28787-web_connectivity-20201020T101011Z_AS28787_abc-0.2.0-probe.json.lz4",
                "canned/2020-10-20/web_connectivity.00.tar.lz4",
                "canned/2020-10-20/web_connectivity.01.tar.lz4",
                "jsonl/webconnectivity/AZ/20201020/00/20201020_AZ_webconnectivity.l.0.jsonl.gz",
            ]
        );
        let skipped: Vec<&str> = inv.skipped.iter().map(|(o, _)| o.key.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "canned/2020-10-20/20201020T101010Z-AZ-AS28787-web_connectivity-20201020T101011Z_AS28787_def-0.1.0-probe.yaml.lz4",
                "canned/2020-10-20/index.json.gz",
            ]
        );
        assert_eq!(inv.unrecognized.len(), 1);
        assert_eq!(inv.unrecognized[0].key, "canned/2020-10-20/notes.txt");
        let (picked, twins) =
            crate::pick_one_of_each_twin(inv.archives.into_iter().map(|(_, k)| k).collect());
        assert_eq!(picked.len(), 4);
        assert_eq!(twins, 0);
    }
}
