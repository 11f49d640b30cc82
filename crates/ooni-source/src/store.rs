//! Where archives come from: a listing of keys and a way to open one.
//!
//! [`Store`] is the seam between the pipeline and storage. [`LocalStore`] reads a directory
//! that holds OONI's key layout (`raw/…`, `jsonl/…`, `canned/…`); an S3 store implements the
//! same trait.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

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
    /// The keys of the symbolic links met while listing so far, sorted: they were neither
    /// listed nor followed. Empty for stores without links (S3).
    fn ignored_symlinks(&self) -> Vec<String> {
        Vec::new()
    }
    /// The key levels directly below `prefix` (`""` or ending in `/`): each distinct
    /// `prefix + NAME + "/"` under which the store holds something, sorted, like S3's
    /// `CommonPrefixes` for a listing with delimiter `/`. `raw/20201021/` gives
    /// `raw/20201021/00/`, `raw/20201021/01/`, …; objects directly under `prefix` are not
    /// returned. A returned prefix may hold nothing to read (an empty directory, an S3
    /// "directory" placeholder object).
    ///
    /// This is how a planner discovers the next level of a layout when a filter is missing,
    /// at the cost of one call per level instead of a listing of everything below. The
    /// default derives the levels from [`Store::list`], which is correct but lists the whole
    /// subtree; [`LocalStore`] and the S3 store answer from one directory read or one
    /// delimiter listing (a call per page of 1,000 prefixes). A `prefix` that is neither
    /// empty nor ends in `/` is an error.
    fn list_common_prefixes(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        check_level_prefix(&self.location(), prefix)?;
        let mut out = BTreeSet::new();
        for object in self.list(prefix)? {
            if let Some(rest) = object.key.strip_prefix(prefix)
                && let Some((name, _)) = rest.split_once('/')
                && !name.is_empty()
            {
                out.insert(format!("{prefix}{name}/"));
            }
        }
        Ok(out.into_iter().collect())
    }
    /// [`Store::list_common_prefixes`] for several prefixes: one answer per prefix, in
    /// prefix order. The default lists them one after another; remote stores list them
    /// concurrently, as [`Store::list_many`] does. Fails on the first prefix that fails
    /// (including a prefix that does not end a key level).
    fn list_common_prefixes_many(
        &self,
        prefixes: &[String],
    ) -> Result<Vec<Vec<String>>, StoreError> {
        prefixes
            .iter()
            .map(|prefix| self.list_common_prefixes(prefix))
            .collect()
    }
}

/// Refuses a [`Store::list_common_prefixes`] prefix that does not end at a key level: the
/// answer would depend on the store (S3 would match partial names, a directory cannot).
fn check_level_prefix(location: &str, prefix: &str) -> Result<(), StoreError> {
    if prefix.is_empty() || prefix.ends_with('/') {
        return Ok(());
    }
    Err(StoreError::List {
        location: location.to_owned(),
        prefix: prefix.to_owned(),
        source: Box::new(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a prefix listed by level must be empty or end in '/'",
        )),
    })
}

/// How a selection is listed: the prefixes to list, and what finding them cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingPlan {
    /// The prefixes to list, sorted and distinct; none holds another.
    pub prefixes: Vec<String>,
    /// LIST calls made to discover the key levels the filters left open (delimiter listings:
    /// one call per page of 1,000 prefixes on S3, one per directory read locally).
    pub discovery_calls: u64,
}

/// Plans the listing of `selection` on `store`: the narrowest prefixes that can hold its
/// archives. Where a filter leaves a key level open, the level is discovered with delimiter
/// listings ([`Store::list_common_prefixes_many`], concurrent on S3) instead of being listed
/// whole, so that the listing grows with the selection and not with the bucket.
///
/// - `raw/` (upload days from 2020-10-20): the hours of each day are discovered (one
///   delimiter listing of `raw/DAY/` per day), then each hour found is listed as narrowly as
///   the filters allow: `raw/DAY/HH/CC/TEST/` with countries and tests, `raw/DAY/HH/CC/` per
///   country without tests, `raw/DAY/HH/` without countries (the key filter keeps the
///   selected tests). Never a whole `raw/DAY/`, which could only be listed page after page.
/// - `jsonl/` (upload days up to 2020-10-20): `jsonl/TEST/CC/DAY/` for each (test, country)
///   unit. Without tests, the tests are the levels of `jsonl/`; without countries, each test's
///   countries are the levels of `jsonl/TEST/`: discovered once per plan, whatever the number
///   of days. On a one-day window each unit's day is listed directly; on a longer one each
///   unit's days are discovered (one delimiter listing of `jsonl/TEST/CC/`) and only those
///   inside the window are listed: a long window costs a call per day a unit holds, not per
///   day of the window.
/// - `canned/` (with [`Selection::cans`]): `canned/YYYY-MM-DD/` for each upload day from
///   2012-12-05 up to and including 2020-10-21; cans are per day only, so the test and
///   country filters apply to the listed keys. Which bucket holds a day:
///   [`can_bucket`](crate::can_bucket).
pub fn plan_listing(store: &dyn Store, selection: &Selection) -> Result<ListingPlan, StoreError> {
    let before = store.request_stats().list_calls;
    let raw_start = raw_layout_start();
    let compact = |day: &NaiveDate| day.format("%Y%m%d").to_string();
    let days: Vec<NaiveDate> = selection.bucket_days().collect();
    let raw_days: Vec<String> = days
        .iter()
        .filter(|d| **d >= raw_start)
        .map(compact)
        .collect();
    let jsonl_days: Vec<String> = days
        .iter()
        .filter(|d| **d <= raw_start)
        .map(compact)
        .collect();
    let mut prefixes = raw_prefixes(store, selection, &raw_days)?;
    prefixes.extend(jsonl_prefixes(store, selection, &jsonl_days)?);
    if selection.cans {
        prefixes.extend(
            days.iter()
                .filter(|day| **day >= cans_start() && **day <= cans_end())
                .map(|day| format!("canned/{}/", day.format("%Y-%m-%d"))),
        );
    }
    prefixes.sort();
    prefixes.dedup();
    Ok(ListingPlan {
        prefixes,
        discovery_calls: store.request_stats().list_calls.saturating_sub(before),
    })
}

/// The `raw/` prefixes of the upload days `days` (`YYYYMMDD`).
///
/// The hours are discovered rather than taken as the fixed 00..23: one call per day, made
/// for all days at once, finds nothing on a day not uploaded yet (the late-upload days of a
/// nightly run) or left empty, where the hour listings would find nothing 24 times per
/// country and test; on a full day it costs one call more.
fn raw_prefixes(
    store: &dyn Store,
    selection: &Selection,
    days: &[String],
) -> Result<Vec<String>, StoreError> {
    let (countries, tests) = (&selection.probe_cc, &selection.test_names);
    let parents: Vec<String> = days.iter().map(|day| format!("raw/{day}/")).collect();
    let mut out = Vec::new();
    for hours in store.list_common_prefixes_many(&parents)? {
        for hour in hours {
            if countries.is_empty() {
                out.push(hour);
            } else if tests.is_empty() {
                out.extend(countries.iter().map(|cc| format!("{hour}{cc}/")));
            } else {
                for cc in countries {
                    out.extend(tests.iter().map(|tn| format!("{hour}{cc}/{tn}/")));
                }
            }
        }
    }
    Ok(out)
}

/// The `jsonl/` prefixes of the upload days `days` (`YYYYMMDD`, in order).
fn jsonl_prefixes(
    store: &dyn Store,
    selection: &Selection,
    days: &[String],
) -> Result<Vec<String>, StoreError> {
    if days.is_empty() {
        return Ok(Vec::new());
    }
    let units = jsonl_units(store, selection)?;
    if let [day] = days {
        // A delimiter listing of each unit would cost as much as the listing it could save.
        return Ok(units.iter().map(|unit| format!("{unit}{day}/")).collect());
    }
    let window: BTreeSet<&str> = days.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for (unit, found) in units.iter().zip(store.list_common_prefixes_many(&units)?) {
        for day in level_names(unit, found) {
            if window.contains(day.as_str()) {
                out.push(format!("{unit}{day}/"));
            }
        }
    }
    Ok(out)
}

/// The (test, country) directories of `jsonl/` to list, `jsonl/TEST/CC/`: the filters' own
/// names where given, else the levels the store holds (`jsonl/` for the tests, `jsonl/TEST/`
/// for each test's countries).
fn jsonl_units(store: &dyn Store, selection: &Selection) -> Result<Vec<String>, StoreError> {
    let tests: Vec<String> = if selection.test_names.is_empty() {
        level_names("jsonl/", store.list_common_prefixes("jsonl/")?)
    } else {
        selection.test_names.iter().cloned().collect()
    };
    let parents: Vec<String> = tests.iter().map(|tn| format!("jsonl/{tn}/")).collect();
    if !selection.probe_cc.is_empty() {
        return Ok(parents
            .iter()
            .flat_map(|parent| {
                selection
                    .probe_cc
                    .iter()
                    .map(move |cc| format!("{parent}{cc}/"))
            })
            .collect());
    }
    let mut units = Vec::new();
    for (parent, found) in parents
        .iter()
        .zip(store.list_common_prefixes_many(&parents)?)
    {
        units.extend(
            level_names(parent, found)
                .into_iter()
                .map(|cc| format!("{parent}{cc}/")),
        );
    }
    Ok(units)
}

/// The names of the levels below `parent` (`jsonl/` and `jsonl/whatsapp/` give `whatsapp`).
fn level_names(parent: &str, levels: Vec<String>) -> Vec<String> {
    levels
        .into_iter()
        .filter_map(|level| {
            let name = level.strip_prefix(parent)?.strip_suffix('/')?;
            (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
        })
        .collect()
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
    /// LIST calls made in all, the discovery's included (pages, for S3): `discovery_calls`
    /// to plan, the rest to list the planned prefixes.
    pub list_calls: u64,
    /// LIST calls made to discover key levels before listing ([`ListingPlan::discovery_calls`]).
    pub discovery_calls: u64,
    /// Prefixes listed ([`ListingPlan::prefixes`]).
    pub prefixes_listed: u64,
    /// Keys of the symbolic links the store met under the listed prefixes (or on the way to
    /// them), sorted: never followed, so whatever they point to was not listed
    /// ([`Store::ignored_symlinks`]).
    pub symlinks_ignored: Vec<String>,
}

/// How far [`inventory_with_progress`] has got, reported after each chunk of prefixes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListProgress {
    /// Prefixes listed so far.
    pub prefixes_done: u64,
    /// Prefixes to list in all ([`ListingPlan::prefixes`]).
    pub prefixes_total: u64,
    /// Distinct objects listed so far, whether the selection keeps them or not.
    pub objects_found: u64,
}

/// How many prefixes go to one [`Store::list_many`] call: enough for a remote store's
/// concurrency, few enough that progress is reported every few seconds.
const LIST_CHUNK: usize = 256;

/// Lists the selection's prefixes and keeps the keys whose day, country and test match.
/// [`inventory_with_progress`] without the progress.
pub fn inventory(store: &dyn Store, selection: &Selection) -> Result<Inventory, StoreError> {
    inventory_with_progress(store, selection, &mut |_| {})
}

/// Plans the selection's listing ([`plan_listing`]), lists the planned prefixes and keeps
/// the keys whose day, country and test match. Prefixes are listed in chunks, in order, and
/// `progress` is called after each chunk, so that a wide window does not list for minutes
/// without a word.
pub fn inventory_with_progress(
    store: &dyn Store,
    selection: &Selection,
    progress: &mut dyn FnMut(ListProgress),
) -> Result<Inventory, StoreError> {
    let before = store.request_stats().list_calls;
    let plan = plan_listing(store, selection)?;
    let mut inv = Inventory {
        discovery_calls: plan.discovery_calls,
        prefixes_listed: plan.prefixes.len() as u64,
        ..Inventory::default()
    };
    let mut seen = BTreeSet::new();
    let mut listed = ListProgress {
        prefixes_total: plan.prefixes.len() as u64,
        ..ListProgress::default()
    };
    for chunk in plan.prefixes.chunks(LIST_CHUNK) {
        for obj in store.list_many(chunk)? {
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
        listed.prefixes_done += chunk.len() as u64;
        listed.objects_found = seen.len() as u64;
        progress(listed);
    }
    inv.list_calls = store.request_stats().list_calls - before;
    inv.symlinks_ignored = store.ignored_symlinks();
    inv.archives.sort();
    inv.skipped.sort();
    Ok(inv)
}

/// A directory laid out like OONI's bucket.
///
/// Below its root, symbolic links are never followed, whether they name an archive or a
/// directory (including `raw/`, `jsonl/…` or the listed day itself): a link could lead out
/// of the source, or list an archive twice. Each one met is remembered and reported
/// ([`Store::ignored_symlinks`]). The root itself may be a link.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    lists: AtomicU64,
    opens: AtomicU64,
    /// Keys of the symbolic links met while listing.
    symlinks: Mutex<BTreeSet<String>>,
}

impl LocalStore {
    /// A store rooted at `root` (which holds `raw/`, `jsonl/` and/or `canned/`).
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore {
            root: root.into(),
            lists: AtomicU64::new(0),
            opens: AtomicU64::new(0),
            symlinks: Mutex::new(BTreeSet::new()),
        }
    }

    fn ignore_symlink(&self, key: String) {
        // A panic elsewhere while the set was held leaves it whole: use it anyway.
        self.symlinks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
    }

    /// The directory that `prefix` names, reached one component at a time from the root so
    /// that a symbolic link on the way is noted and not followed. `None` when there is no
    /// such directory (or a link stands in the way).
    fn prefix_dir(&self, prefix: &str) -> Result<Option<PathBuf>, StoreError> {
        let mut dir = self.root.clone();
        let mut key = String::new();
        for part in prefix.split('/').filter(|part| !part.is_empty()) {
            if part == "." || part == ".." {
                return Ok(None);
            }
            dir.push(part);
            if !key.is_empty() {
                key.push('/');
            }
            key.push_str(part);
            match fs::symlink_metadata(&dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    self.ignore_symlink(key);
                    return Ok(None);
                }
                Ok(meta) if meta.is_dir() => {}
                // A file where the prefix wants a directory: nothing below it.
                Ok(_) => return Ok(None),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(self.list_error(prefix, e)),
            }
        }
        Ok(Some(dir))
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
        let mut out = Vec::new();
        // Prefixes here always end at a directory boundary.
        let Some(dir) = self.prefix_dir(prefix)? else {
            return Ok(out);
        };
        // Links are never followed (walkdir's entry type is the link's own), only noted.
        for entry in walkdir::WalkDir::new(&dir).follow_links(false).min_depth(1) {
            let entry = entry.map_err(|e| self.list_error(prefix, e.into()))?;
            let file_type = entry.file_type();
            if file_type.is_symlink() {
                if let Some(key) = relative_key(&self.root, entry.path()) {
                    self.ignore_symlink(key);
                }
            } else if file_type.is_file() {
                let meta = entry
                    .metadata()
                    .map_err(|e| self.list_error(prefix, e.into()))?;
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                if let Some(key) = relative_key(&self.root, entry.path()) {
                    out.push(ObjectMeta {
                        key,
                        size: meta.len(),
                        etag: Some(format!("{}-{modified}", meta.len())),
                    });
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

    fn ignored_symlinks(&self) -> Vec<String> {
        self.symlinks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The subdirectories of the directory `prefix` names, from one directory read. Symbolic
    /// links, on the way to it or inside it, are never followed: each one met is noted
    /// ([`Store::ignored_symlinks`]) and left out, as [`Store::list`] leaves it out. Names
    /// that are not UTF-8 are left out too (no key can name them).
    fn list_common_prefixes(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        check_level_prefix(&self.location(), prefix)?;
        self.lists.fetch_add(1, Ordering::Relaxed);
        let Some(dir) = self.prefix_dir(prefix)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let entries = fs::read_dir(&dir).map_err(|e| self.list_error(prefix, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.list_error(prefix, e))?;
            // The entry's own type: a link is a link, whatever it points to.
            let file_type = entry.file_type().map_err(|e| self.list_error(prefix, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if file_type.is_symlink() {
                self.ignore_symlink(format!("{prefix}{name}"));
            } else if file_type.is_dir() {
                out.push(format!("{prefix}{name}/"));
            }
        }
        out.sort();
        Ok(out)
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

    /// The plan of `selection` over an empty store: what the filters alone give (a key level
    /// discovered where a filter is missing, or a unit's days, holds nothing).
    fn plan_on_empty_store(selection: &Selection) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan_listing(&LocalStore::new(dir.path()), selection).unwrap();
        plan.prefixes
    }

    /// The plan of `selection` over a store whose `raw/` days `days` hold the hours `hours`
    /// (empty directories): the hours are discovered, the rest comes from the filters.
    fn plan_with_hours(
        selection: &Selection,
        days: &[&str],
        hours: std::ops::Range<u32>,
    ) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for day in days {
            for hour in hours.clone() {
                fs::create_dir_all(dir.path().join(format!("raw/{day}/{hour:02}"))).unwrap();
            }
        }
        plan_listing(&LocalStore::new(dir.path()), selection)
            .unwrap()
            .prefixes
    }

    #[test]
    fn one_country_one_test_one_day_lists_the_hours_found_narrowly() {
        let sel = selection(&["AZ"], &["whatsapp"], "2020-11-01", "2020-11-02");
        let p = plan_with_hours(&sel, &["20201101"], 0..24);
        assert_eq!(p.len(), 24);
        assert_eq!(p[0], "raw/20201101/00/AZ/whatsapp/");
        // A day uploaded up to 03:00 so far; a day not uploaded yet costs no hour listing.
        assert_eq!(plan_with_hours(&sel, &["20201101"], 0..3).len(), 3);
        assert!(plan_on_empty_store(&sel).is_empty());
        let two = selection(
            &["AZ", "BY"],
            &["signal", "whatsapp"],
            "2020-11-01",
            "2020-11-02",
        );
        assert_eq!(
            plan_with_hours(&two, &["20201101"], 5..6),
            [
                "raw/20201101/05/AZ/signal/",
                "raw/20201101/05/AZ/whatsapp/",
                "raw/20201101/05/BY/signal/",
                "raw/20201101/05/BY/whatsapp/"
            ]
        );
    }

    #[test]
    fn the_overlap_day_is_listed_in_both_layouts() {
        let p = plan_with_hours(
            &selection(&["AZ"], &["whatsapp"], "2020-10-20", "2020-10-21"),
            &["20201020"],
            0..24,
        );
        assert!(p.contains(&"raw/20201020/13/AZ/whatsapp/".to_owned()));
        assert!(p.contains(&"jsonl/whatsapp/AZ/20201020/".to_owned()));
        let before = plan_on_empty_store(&selection(
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
        let without = plan_on_empty_store(&sel);
        assert!(
            without.iter().all(|p| !p.starts_with("canned/")),
            "{without:?}"
        );
        sel.cans = true;
        let with = plan_on_empty_store(&sel);
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
        let early: Vec<String> = plan_on_empty_store(&early)
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

    /// Writes `bytes` at `path`, creating its directories.
    fn put(path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn local_store_never_follows_symlinks_and_reports_them() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let root = dir.path();
        let hour = root.join("raw/20201021/10/AZ/whatsapp");
        let real = hour.join("2020102110_AZ_whatsapp.n0.0.jsonl.gz");
        put(&real, b"abc");
        // An archive that is a link to another (inside the root).
        symlink(&real, hour.join("2020102110_AZ_whatsapp.n0.1.jsonl.gz")).unwrap();
        // An hour directory that is a link to a directory outside the root.
        let away_hour = elsewhere.path().join("hour");
        put(
            &away_hour.join("AZ/whatsapp/2020102111_AZ_whatsapp.n0.0.jsonl.gz"),
            b"x",
        );
        symlink(&away_hour, root.join("raw/20201021/11")).unwrap();
        // A day directory (a listed prefix itself) that is a link outside the root.
        let away_day = elsewhere.path().join("day");
        put(
            &away_day.join("10/AZ/whatsapp/2020102210_AZ_whatsapp.n0.0.jsonl.gz"),
            b"x",
        );
        symlink(&away_day, root.join("raw/20201022")).unwrap();
        let links = [
            "raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.1.jsonl.gz",
            "raw/20201021/11",
            "raw/20201022",
        ];

        // Listed per day, and per hour, country and test (the hour link is then met on
        // the way down to the prefix).
        for sel in [
            selection(&[], &[], "2020-10-21", "2020-10-23"),
            selection(&["AZ"], &["whatsapp"], "2020-10-21", "2020-10-23"),
        ] {
            let store = LocalStore::new(root);
            let inv = inventory(&store, &sel).unwrap();
            let keys: Vec<&str> = inv.archives.iter().map(|(o, _)| o.key.as_str()).collect();
            assert_eq!(
                keys,
                ["raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.jsonl.gz"]
            );
            assert!(inv.unrecognized.is_empty());
            assert_eq!(inv.symlinks_ignored, links);
            assert_eq!(store.ignored_symlinks(), links);
        }

        // The root itself may be a link.
        let link_to_root = elsewhere.path().join("root");
        symlink(root, &link_to_root).unwrap();
        let store = LocalStore::new(&link_to_root);
        let sel = selection(&[], &[], "2020-10-21", "2020-10-23");
        let inv = inventory(&store, &sel).unwrap();
        assert_eq!(inv.archives.len(), 1);
        assert_eq!(inv.symlinks_ignored, links);

        // A link higher up (`raw` itself) hides everything below it.
        let other = tempfile::tempdir().unwrap();
        symlink(root.join("raw"), other.path().join("raw")).unwrap();
        let store = LocalStore::new(other.path());
        let inv = inventory(&store, &sel).unwrap();
        assert!(inv.archives.is_empty());
        assert_eq!(inv.symlinks_ignored, ["raw"]);
    }

    /// A local store that remembers how many prefixes each `list_many` call was given.
    struct Chunked {
        inner: LocalStore,
        calls: std::sync::Mutex<Vec<usize>>,
    }

    impl Store for Chunked {
        fn location(&self) -> String {
            self.inner.location()
        }
        fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
            self.inner.list(prefix)
        }
        fn list_many(&self, prefixes: &[String]) -> Result<Vec<ObjectMeta>, StoreError> {
            self.calls.lock().unwrap().push(prefixes.len());
            self.inner.list_many(prefixes)
        }
        fn open(
            &self,
            key: &str,
            expected_size: Option<u64>,
        ) -> Result<Box<dyn Read + Send>, StoreError> {
            self.inner.open(key, expected_size)
        }
        fn request_stats(&self) -> RequestStats {
            self.inner.request_stats()
        }
    }

    #[test]
    fn inventory_lists_in_chunks_and_reports_progress_after_each() {
        let dir = tempfile::tempdir().unwrap();
        // 25 days from 2020-10-21, 24 hour prefixes each for one country and test (600 in
        // all); archives in the 1st, 300th and 600th prefix, so one in each chunk.
        let first = parse_day("2020-10-21").unwrap();
        // Every hour holds another country's archive, so that every hour is found.
        for n in 0..600 {
            let day = (first + chrono::Days::new(n / 24)).format("%Y%m%d");
            let hour = n % 24;
            put(
                &dir.path().join(format!(
                    "raw/{day}/{hour:02}/BY/whatsapp/{day}{hour:02}_BY_whatsapp.n0.0.jsonl.gz"
                )),
                b"x",
            );
        }
        for n in [0, 299, 599] {
            let day = (first + chrono::Days::new(n / 24)).format("%Y%m%d");
            let hour = n % 24;
            put(
                &dir.path().join(format!(
                    "raw/{day}/{hour:02}/AZ/whatsapp/{day}{hour:02}_AZ_whatsapp.n0.0.jsonl.gz"
                )),
                b"x",
            );
        }
        let store = Chunked {
            inner: LocalStore::new(dir.path()),
            calls: std::sync::Mutex::new(Vec::new()),
        };
        let sel = selection(&["AZ"], &["whatsapp"], "2020-10-21", "2020-11-15");
        let mut seen = Vec::new();
        let inv = inventory_with_progress(&store, &sel, &mut |p| seen.push(p)).unwrap();
        assert_eq!(inv.archives.len(), 3);
        // One level listing per day (the trait's default here: a listing of the day), then
        // the 600 hour prefixes.
        assert_eq!(inv.list_calls, 25 + 600);
        assert_eq!((inv.discovery_calls, inv.prefixes_listed), (25, 600));
        assert_eq!(*store.calls.lock().unwrap(), [256, 256, 88]);
        let progress = |done, found| ListProgress {
            prefixes_done: done,
            prefixes_total: 600,
            objects_found: found,
        };
        assert_eq!(seen, [progress(256, 1), progress(512, 2), progress(600, 3)]);
    }

    #[test]
    fn a_window_opened_wide_plans_nothing_before_2012_12_01() {
        let dir = tempfile::tempdir().unwrap();
        for day in ["20121130", "20121201", "20121202"] {
            put(
                &dir.path().join(format!(
                    "jsonl/whatsapp/AZ/{day}/00/{day}_AZ_whatsapp.l.0.jsonl.gz"
                )),
                b"x",
            );
        }
        let sel = selection(&["AZ"], &["whatsapp"], "0001-01-01", "2012-12-03");
        let plan = plan_listing(&LocalStore::new(dir.path()), &sel).unwrap();
        assert_eq!(
            plan.prefixes,
            ["jsonl/whatsapp/AZ/20121201/", "jsonl/whatsapp/AZ/20121202/"]
        );
        assert_eq!(plan.discovery_calls, 1, "the unit's days");
    }

    #[cfg(unix)]
    #[test]
    fn local_store_lists_key_levels_without_following_links() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let root = dir.path();
        let day = root.join("raw/20201021");
        put(
            &day.join("00/AZ/whatsapp/2020102100_AZ_whatsapp.n0.0.jsonl.gz"),
            b"a",
        );
        put(
            &day.join("10/AZ/telegram/2020102110_AZ_telegram.n0.0.jsonl.gz"),
            b"b",
        );
        put(
            &day.join("10/RU/whatsapp/2020102110_RU_whatsapp.n0.0.jsonl.gz"),
            b"c",
        );
        // A file beside the hours is not a level; an empty directory is one.
        put(&day.join("README"), b"x");
        fs::create_dir_all(day.join("23")).unwrap();
        // An hour that is a link to a directory outside the root, and a link to a file.
        put(&elsewhere.path().join("hour/AZ/x.jsonl.gz"), b"x");
        symlink(elsewhere.path().join("hour"), day.join("11")).unwrap();
        symlink(day.join("README"), day.join("12")).unwrap();
        put(&root.join("jsonl/whatsapp/AZ/20201020/00/a.jsonl.gz"), b"d");

        let store = LocalStore::new(root);
        assert_eq!(store.list_common_prefixes("").unwrap(), ["jsonl/", "raw/"]);
        assert_eq!(
            store.list_common_prefixes("raw/").unwrap(),
            ["raw/20201021/"]
        );
        assert_eq!(
            store.list_common_prefixes("raw/20201021/").unwrap(),
            ["raw/20201021/00/", "raw/20201021/10/", "raw/20201021/23/"]
        );
        assert_eq!(
            store.list_common_prefixes("raw/20201021/10/").unwrap(),
            ["raw/20201021/10/AZ/", "raw/20201021/10/RU/"]
        );
        assert_eq!(
            store.list_common_prefixes("raw/20201021/10/AZ/").unwrap(),
            ["raw/20201021/10/AZ/telegram/"]
        );
        // Below the last level, and where nothing is, there is nothing.
        assert!(
            store
                .list_common_prefixes("raw/20201021/10/AZ/telegram/")
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .list_common_prefixes("raw/20991231/")
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .list_common_prefixes("raw/20201021/README/")
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .list_common_prefixes("raw/../raw/")
                .unwrap()
                .is_empty()
        );
        // Through a link: nothing, and the link is reported.
        assert!(
            store
                .list_common_prefixes("raw/20201021/11/")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.ignored_symlinks(),
            ["raw/20201021/11", "raw/20201021/12"]
        );
        // One directory read per call (the refused prefix below costs none).
        assert_eq!(store.request_stats().list_calls, 10);

        let err = store.list_common_prefixes("raw/2020").unwrap_err();
        assert!(matches!(&err, StoreError::List { prefix, .. } if prefix == "raw/2020"));
        assert_eq!(store.request_stats().list_calls, 10);
    }

    #[test]
    fn the_default_key_levels_come_from_the_listing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for key in [
            "raw/20201021/00/AZ/whatsapp/2020102100_AZ_whatsapp.n0.0.jsonl.gz",
            "raw/20201021/10/AZ/telegram/2020102110_AZ_telegram.n0.0.jsonl.gz",
            "raw/20201021/10/RU/whatsapp/2020102110_RU_whatsapp.n0.0.jsonl.gz",
            "raw/20201021/README",
            "raw/20201022/00/AZ/whatsapp/2020102200_AZ_whatsapp.n0.0.jsonl.gz",
        ] {
            put(&root.join(key), b"x");
        }
        // `Chunked` does not override list_common_prefixes: the trait's default answers.
        let derived = Chunked {
            inner: LocalStore::new(root),
            calls: std::sync::Mutex::new(Vec::new()),
        };
        let local = LocalStore::new(root);
        for prefix in [
            "",
            "raw/",
            "raw/20201021/",
            "raw/20201021/10/",
            "raw/20201021/10/AZ/",
            "jsonl/",
        ] {
            assert_eq!(
                derived.list_common_prefixes(prefix).unwrap(),
                local.list_common_prefixes(prefix).unwrap(),
                "{prefix}"
            );
        }
        assert_eq!(
            derived.list_common_prefixes("raw/20201021/").unwrap(),
            ["raw/20201021/00/", "raw/20201021/10/"]
        );
        assert!(derived.list_common_prefixes("raw").is_err());
    }

    /// A local store that records the prefixes it lists, whole (`list`, `list_many`) or by
    /// level (`list_common_prefixes` and the trait's default `list_common_prefixes_many`).
    struct Recording {
        inner: LocalStore,
        listed: Mutex<Vec<String>>,
        levels: Mutex<Vec<String>>,
    }

    impl Recording {
        fn new(root: &Path) -> Recording {
            Recording {
                inner: LocalStore::new(root),
                listed: Mutex::new(Vec::new()),
                levels: Mutex::new(Vec::new()),
            }
        }

        /// The prefixes listed whole and by level since the last call, each sorted.
        fn take(&self) -> (Vec<String>, Vec<String>) {
            let mut listed = std::mem::take(&mut *self.listed.lock().unwrap());
            listed.sort();
            let mut levels = std::mem::take(&mut *self.levels.lock().unwrap());
            levels.sort();
            (listed, levels)
        }
    }

    impl Store for Recording {
        fn location(&self) -> String {
            self.inner.location()
        }
        fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
            self.listed.lock().unwrap().push(prefix.to_owned());
            self.inner.list(prefix)
        }
        fn open(
            &self,
            key: &str,
            expected_size: Option<u64>,
        ) -> Result<Box<dyn Read + Send>, StoreError> {
            self.inner.open(key, expected_size)
        }
        fn request_stats(&self) -> RequestStats {
            self.inner.request_stats()
        }
        fn ignored_symlinks(&self) -> Vec<String> {
            self.inner.ignored_symlinks()
        }
        fn list_common_prefixes(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            self.levels.lock().unwrap().push(prefix.to_owned());
            self.inner.list_common_prefixes(prefix)
        }
    }

    /// The jsonl/ (test, countries) of [`two_layouts`], on each of its jsonl/ days.
    const JSONL_UNITS: [(&str, &[&str]); 3] = [
        ("telegram", &["AZ", "IT"]),
        ("webconnectivity", &["AZ", "IT", "RU"]),
        ("whatsapp", &["AZ"]),
    ];

    /// The hours of [`two_layouts`]'s raw/ days: three on 2020-10-20 and 2020-10-21, all on
    /// 2020-10-22.
    fn raw_hours(day: &str) -> Vec<String> {
        match day {
            "20201022" => (0..24).map(|h| format!("{h:02}")).collect(),
            _ => ["00", "13", "23"].map(String::from).to_vec(),
        }
    }

    /// A directory with both layouts: jsonl/ on 2018-01-01 (webconnectivity/IT only),
    /// 2019-01-01, 2019-01-02 and 2020-10-20 ([`JSONL_UNITS`]); raw/ on 2020-10-20,
    /// 2020-10-21 and 2020-10-22 ([`raw_hours`]; each hour: AZ whatsapp with postcan twins,
    /// AZ and RU webconnectivity, IT telegram); cans on 2019-01-01 and 2020-10-20.
    fn two_layouts() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let jsonl = |tn: &str, cc: &str, day: &str| {
            put(
                &root.join(format!(
                    "jsonl/{tn}/{cc}/{day}/00/{day}_{cc}_{tn}.l.0.jsonl.gz"
                )),
                b"j",
            );
        };
        jsonl("webconnectivity", "IT", "20180101");
        for day in ["20190101", "20190102", "20201020"] {
            for (tn, ccs) in JSONL_UNITS {
                for cc in ccs {
                    jsonl(tn, cc, day);
                }
            }
        }
        for day in ["20201020", "20201021", "20201022"] {
            for hour in raw_hours(day) {
                for (cc, tn, suffixes) in [
                    ("AZ", "whatsapp", &["jsonl.gz", "tar.gz"][..]),
                    ("AZ", "webconnectivity", &["jsonl.gz"][..]),
                    ("RU", "webconnectivity", &["jsonl.gz"][..]),
                    ("IT", "telegram", &["jsonl.gz"][..]),
                ] {
                    for suffix in suffixes {
                        put(
                            &root.join(format!(
                                "raw/{day}/{hour}/{cc}/{tn}/{day}{hour}_{cc}_{tn}.n0.0.{suffix}"
                            )),
                            b"r",
                        );
                    }
                }
            }
        }
        for key in [
            "canned/2019-01-01/web_connectivity.00.tar.lz4",
            "canned/2019-01-01/index.json.gz",
            "canned/2020-10-20/whatsapp.0.tar.lz4",
            "canned/2020-10-20/20201020T101010Z-AZ-AS28787-web_connectivity-20201020T101011Z_AS28787_def-0.1.0-probe.yaml.lz4",
        ] {
            put(&root.join(key), b"c");
        }
        dir
    }

    /// The planner this one replaced, kept as the reference for what a selection holds: one
    /// `raw/DAY/` without both filters, all of `jsonl/` without tests, `jsonl/TEST/` without
    /// countries.
    fn whole_listing_prefixes(selection: &Selection) -> Vec<String> {
        let mut prefixes = Vec::new();
        for day in selection.bucket_days() {
            let compact = day.format("%Y%m%d").to_string();
            let (cc, tn) = (&selection.probe_cc, &selection.test_names);
            if day >= raw_layout_start() {
                if cc.is_empty() || tn.is_empty() {
                    prefixes.push(format!("raw/{compact}/"));
                } else {
                    for hour in 0..24 {
                        for (c, t) in cc.iter().flat_map(|c| tn.iter().map(move |t| (c, t))) {
                            prefixes.push(format!("raw/{compact}/{hour:02}/{c}/{t}/"));
                        }
                    }
                }
            }
            if day <= raw_layout_start() {
                if tn.is_empty() {
                    prefixes.push("jsonl/".to_owned());
                } else if cc.is_empty() {
                    prefixes.extend(tn.iter().map(|t| format!("jsonl/{t}/")));
                } else {
                    for (t, c) in tn.iter().flat_map(|t| cc.iter().map(move |c| (t, c))) {
                        prefixes.push(format!("jsonl/{t}/{c}/{compact}/"));
                    }
                }
            }
            if selection.cans && day >= cans_start() && day <= cans_end() {
                prefixes.push(format!("canned/{}/", day.format("%Y-%m-%d")));
            }
        }
        prefixes.sort();
        prefixes.dedup();
        let mut kept: Vec<String> = Vec::new();
        for p in prefixes {
            if !kept.last().is_some_and(|k| p.starts_with(k.as_str())) {
                kept.push(p);
            }
        }
        kept
    }

    /// The selected keys (archives, then skipped) an inventory holds.
    fn selected_keys(inv: &Inventory) -> Vec<String> {
        inv.archives
            .iter()
            .chain(&inv.skipped)
            .map(|(o, _)| o.key.clone())
            .collect()
    }

    #[test]
    fn the_planner_finds_what_listing_whole_days_and_layouts_found() {
        let dir = two_layouts();
        let windows = [
            ("2018-01-01", "2018-01-02"),
            ("2019-01-01", "2019-01-03"),
            ("2020-10-19", "2020-10-22"),
            ("2020-10-21", "2020-10-24"),
            ("2017-12-30", "2020-10-23"),
            ("2012-01-01", "2021-01-01"),
        ];
        let countries: [&[&str]; 4] = [&[], &["AZ"], &["AZ", "RU"], &["FR"]];
        let tests: [&[&str]; 4] = [
            &[],
            &["whatsapp"],
            &["webconnectivity", "whatsapp"],
            &["dash"],
        ];
        let mut selections = 0;
        for (since, until) in windows {
            for cc in countries {
                for tn in tests {
                    for cans in [false, true] {
                        let mut sel = selection(cc, tn, since, until);
                        sel.cans = cans;
                        let store = LocalStore::new(dir.path());
                        let planned = inventory(&store, &sel).unwrap();
                        let mut whole = Inventory::default();
                        for object in store.list_many(&whole_listing_prefixes(&sel)).unwrap() {
                            match ArchiveKey::parse(&object.key) {
                                Ok(key) if sel.selects(&key) && key.format.is_skipped() => {
                                    whole.skipped.push((object, key));
                                }
                                Ok(key) if sel.selects(&key) => whole.archives.push((object, key)),
                                _ => {}
                            }
                        }
                        whole.archives.sort();
                        whole.skipped.sort();
                        assert_eq!(planned.archives, whole.archives, "{sel:?}");
                        assert_eq!(planned.skipped, whole.skipped, "{sel:?}");
                        assert!(planned.unrecognized.is_empty());
                        selections += 1;
                    }
                }
            }
        }
        assert_eq!(selections, 6 * 4 * 4 * 2);
        // The tree has something for the selections to find: jsonl/, raw/ (5 archives an
        // hour) and cans.
        let all = inventory(
            &LocalStore::new(dir.path()),
            &Selection {
                cans: true,
                ..selection(&[], &[], "2017-12-30", "2020-10-23")
            },
        )
        .unwrap();
        assert_eq!(all.archives.len(), 1 + 3 * 6 + (3 + 3 + 24) * 5 + 2);
        assert_eq!(all.skipped.len(), 2);
    }

    #[test]
    fn a_country_without_tests_on_a_jsonl_day_lists_that_country_and_day_of_each_test() {
        let dir = two_layouts();
        let store = Recording::new(dir.path());
        let sel = selection(&["AZ"], &[], "2019-01-01", "2019-01-02");
        let inv = inventory(&store, &sel).unwrap();
        let (listed, levels) = store.take();
        // The tests are discovered with one delimiter listing; neither jsonl/ nor any
        // jsonl/TEST/ is listed whole.
        assert_eq!(levels, ["jsonl/"]);
        assert_eq!(
            listed,
            [
                "jsonl/telegram/AZ/20190101/",
                "jsonl/webconnectivity/AZ/20190101/",
                "jsonl/whatsapp/AZ/20190101/",
            ]
        );
        assert_eq!(inv.discovery_calls, 1);
        assert_eq!(inv.prefixes_listed, 3);
        assert_eq!(inv.list_calls, 1 + 3);
        assert_eq!(
            selected_keys(&inv),
            [
                "jsonl/telegram/AZ/20190101/00/20190101_AZ_telegram.l.0.jsonl.gz",
                "jsonl/webconnectivity/AZ/20190101/00/20190101_AZ_webconnectivity.l.0.jsonl.gz",
                "jsonl/whatsapp/AZ/20190101/00/20190101_AZ_whatsapp.l.0.jsonl.gz",
            ]
        );
    }

    #[test]
    fn a_raw_day_without_a_country_filter_lists_each_of_its_hours_not_the_day() {
        let dir = two_layouts();
        let store = Recording::new(dir.path());
        // 2020-10-21 has 3 hours, 2020-10-22 all 24, 2020-10-23 none.
        let days = ["raw/20201021/", "raw/20201022/", "raw/20201023/"];
        let hours = |suffix: &str| -> Vec<String> {
            let mut out: Vec<String> = ["20201021", "20201022"]
                .into_iter()
                .flat_map(|day| raw_hours(day).into_iter().map(move |h| (day, h)))
                .map(|(day, h)| format!("raw/{day}/{h}/{suffix}"))
                .collect();
            out.sort();
            out
        };
        for tests in [&["whatsapp"][..], &[]] {
            let sel = selection(&[], tests, "2020-10-21", "2020-10-24");
            let inv = inventory(&store, &sel).unwrap();
            let (listed, levels) = store.take();
            assert_eq!(listed, hours(""), "{tests:?}");
            assert_eq!(levels, days, "one delimiter listing per day");
            assert_eq!(
                (inv.discovery_calls, inv.prefixes_listed, inv.list_calls),
                (3, 27, 3 + 27)
            );
            // 27 hours × AZ whatsapp's twins, and without a test filter 27 × 3 more.
            let expected = if tests.is_empty() { 27 * 5 } else { 27 * 2 };
            assert_eq!(inv.archives.len(), expected, "{tests:?}");
        }
        // A country without tests: that country's directory in each hour found.
        let sel = selection(&["AZ"], &[], "2020-10-21", "2020-10-24");
        let inv = inventory(&store, &sel).unwrap();
        let (listed, levels) = store.take();
        assert_eq!(listed, hours("AZ/"));
        assert_eq!(levels, days);
        assert_eq!(inv.archives.len(), 27 * 3);
        // Both filters: as narrow as the layout goes, in each hour found.
        let sel = selection(&["AZ"], &["whatsapp"], "2020-10-21", "2020-10-24");
        let inv = inventory(&store, &sel).unwrap();
        let (listed, levels) = store.take();
        assert_eq!(listed, hours("AZ/whatsapp/"));
        assert_eq!(levels, days);
        assert_eq!(inv.archives.len(), 27 * 2);
    }

    #[test]
    fn jsonl_tests_and_countries_are_discovered_once_and_days_per_unit() {
        let dir = two_layouts();
        let store = Recording::new(dir.path());
        let units: Vec<String> = JSONL_UNITS
            .iter()
            .flat_map(|(tn, ccs)| ccs.iter().map(move |cc| format!("jsonl/{tn}/{cc}/")))
            .collect();
        let tests = [
            "jsonl/",
            "jsonl/telegram/",
            "jsonl/webconnectivity/",
            "jsonl/whatsapp/",
        ];

        // No filter, one day: the tests, then each test's countries (one call per test),
        // then that day of each (test, country).
        let sel = selection(&[], &[], "2019-01-02", "2019-01-03");
        let plan = plan_listing(&store, &sel).unwrap();
        let (listed, levels) = store.take();
        assert!(
            listed.is_empty(),
            "planning lists nothing whole: {listed:?}"
        );
        assert_eq!(levels, tests);
        assert_eq!(plan.discovery_calls, 4);
        let day: Vec<String> = units.iter().map(|u| format!("{u}20190102/")).collect();
        assert_eq!(plan.prefixes, day);
        let inv = inventory(&store, &sel).unwrap();
        assert_eq!(store.take().0, day);
        assert_eq!((inv.list_calls, inv.archives.len()), (4 + 6, 6));

        // No filter, a year: the same discovery, once, then each unit's days; only the
        // 13 (unit, day) that exist are listed, not 6 units × 368 days.
        let sel = selection(&[], &[], "2018-01-01", "2019-01-04");
        let inv = inventory(&store, &sel).unwrap();
        let (listed, levels) = store.take();
        let mut expected_levels: Vec<String> = tests.map(String::from).to_vec();
        expected_levels.extend(units.iter().cloned());
        expected_levels.sort();
        assert_eq!(levels, expected_levels);
        let mut expected: Vec<String> = ["20190101", "20190102"]
            .iter()
            .flat_map(|day| units.iter().map(move |u| format!("{u}{day}/")))
            .collect();
        expected.push("jsonl/webconnectivity/IT/20180101/".to_owned());
        expected.sort();
        assert_eq!(listed, expected);
        assert_eq!(inv.discovery_calls, 4 + 6);
        assert_eq!(inv.list_calls, 4 + 6 + 13);
        assert_eq!(inv.archives.len(), 13);

        // Tests without countries: only those tests' countries are discovered.
        let sel = selection(&[], &["whatsapp", "dash"], "2019-01-01", "2019-01-02");
        let inv = inventory(&store, &sel).unwrap();
        let (listed, levels) = store.take();
        assert_eq!(levels, ["jsonl/dash/", "jsonl/whatsapp/"]);
        assert_eq!(listed, ["jsonl/whatsapp/AZ/20190101/"]);
        assert_eq!((inv.discovery_calls, inv.list_calls), (2, 3));

        // Both filters on several days: only the unit's days are discovered.
        let sel = selection(&["IT"], &["webconnectivity"], "2017-06-01", "2019-06-01");
        let inv = inventory(&store, &sel).unwrap();
        let (listed, levels) = store.take();
        assert_eq!(levels, ["jsonl/webconnectivity/IT/"]);
        assert_eq!(
            listed,
            [
                "jsonl/webconnectivity/IT/20180101/",
                "jsonl/webconnectivity/IT/20190101/",
                "jsonl/webconnectivity/IT/20190102/",
            ]
        );
        assert_eq!((inv.discovery_calls, inv.list_calls), (1, 4));

        // The overlap day: raw/'s hours, and jsonl/ per discovered test.
        let sel = selection(&["AZ"], &[], "2020-10-20", "2020-10-21");
        let inv = inventory(&store, &sel).unwrap();
        let (listed, levels) = store.take();
        assert_eq!(levels, ["jsonl/", "raw/20201020/"]);
        assert_eq!(listed.len(), 3 + 3);
        assert!(listed.contains(&"jsonl/whatsapp/AZ/20201020/".to_owned()));
        assert!(listed.contains(&"raw/20201020/13/AZ/".to_owned()));
        assert_eq!(inv.archives.len(), 3 + 3 * 3);

        // Both filters on one jsonl/ day, or no jsonl/ day: nothing to discover in jsonl/
        // (raw/ days still have their hours found).
        let plan = plan_listing(
            &store,
            &selection(&["AZ"], &["whatsapp"], "2019-01-01", "2019-01-02"),
        )
        .unwrap();
        assert_eq!(plan.discovery_calls, 0);
        assert_eq!(store.take(), (Vec::new(), Vec::new()));
        let plan = plan_listing(
            &store,
            &selection(&["AZ"], &["whatsapp"], "2020-10-21", "2020-10-23"),
        )
        .unwrap();
        assert_eq!(plan.discovery_calls, 2);
        assert_eq!(
            store.take(),
            (
                Vec::new(),
                vec!["raw/20201021/".to_owned(), "raw/20201022/".to_owned()]
            )
        );
    }

    #[test]
    fn the_default_many_level_listing_answers_each_prefix_in_order() {
        let dir = two_layouts();
        // `Recording` does not override list_common_prefixes_many: the trait's default.
        let store = Recording::new(dir.path());
        let prefixes = ["jsonl/whatsapp/", "raw/20991231/", "jsonl/telegram/"].map(String::from);
        assert_eq!(
            store.list_common_prefixes_many(&prefixes).unwrap(),
            [
                vec!["jsonl/whatsapp/AZ/".to_owned()],
                vec![],
                vec![
                    "jsonl/telegram/AZ/".to_owned(),
                    "jsonl/telegram/IT/".to_owned()
                ],
            ]
        );
        assert_eq!(store.take().1.len(), 3, "one call per prefix");
        assert!(store.list_common_prefixes_many(&[]).unwrap().is_empty());
        let bad = ["jsonl/".to_owned(), "raw".to_owned()];
        assert!(store.list_common_prefixes_many(&bad).is_err());
    }
}
