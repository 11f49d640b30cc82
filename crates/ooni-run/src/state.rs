//! The output directory's state: which source objects were processed and which files are
//! committed, checked against the disk before a run writes anything.
//!
//! `DIR/_state/manifest.json` is the commit record. The pipeline owns exactly the files it
//! lists (plus, while a batch is being committed, the files named by a
//! `_state/pending-<run>-<batch>.json` written just before they were moved into place, and
//! everything under `_staging/`). Everything else in the output directory belongs to the
//! user and is never touched; symbolic links are never followed.
//!
//! A run commits batch by batch: staged files are written under `_staging/<run>/`, a pending
//! list names their final paths, the files are renamed into place, and the manifest is
//! saved — that is the commit — before the pending list is removed. A run that died leaves
//! at most a staging directory and a pending list; the next run removes exactly those files
//! and reads the objects again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use ooni_model::Table;

use crate::RunError;
use crate::error::IoContext;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The tables whose files are partitioned by test and day (one `part-<run>-<batch>` file per
/// partition and batch, the same name in each table).
pub const PARTITIONED_TABLES: [Table; 3] = Table::PARTITIONED;
/// The aggregate tables (one `<day>.parquet` file per measurement day).
pub const AGGREGATE_TABLES: [Table; 2] = [Table::FailureRates, Table::OoniCounts];
/// Where quarantined records go.
pub const REJECTS_DIR: &str = "rejects";
/// The blocking events table: one file, rewritten whenever the aggregates are.
pub const EVENTS_FILE: &str = "blocking_events/blocking_events.parquet";

/// The manifest format this binary writes. Version 1 (before pending lists and committed
/// rejects) is read and upgraded.
pub const MANIFEST_VERSION: u32 = 2;

/// One shard of a sharded run: `index` of `count` (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: u32,
    /// How many shards the plan has.
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Whose state a manifest, a lock and pending lists are: a whole (unsharded) output, one
/// shard of a plan, or the fan-in that aggregates the shards. Each keeps them in its own
/// directory, and a shard's files carry its id in their names (its run ids start with
/// `s<index>n<count>`), so shards never write or remove each other's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// An unsharded run: `_state/`.
    Whole,
    /// One shard: `_state/shards/<count>/<index>/`.
    Shard(Shard),
    /// `ooni-pipeline aggregate`: `_state/aggregate/`.
    Aggregate,
}

impl Scope {
    /// Where this scope's manifest, lock and pending lists live.
    pub fn state_dir(&self, out: &Path) -> PathBuf {
        match self {
            Scope::Whole => out.join("_state"),
            Scope::Shard(s) => out
                .join("_state/shards")
                .join(s.count.to_string())
                .join(s.index.to_string()),
            Scope::Aggregate => out.join("_state/aggregate"),
        }
    }

    /// The start of this scope's run-id tags.
    pub fn tag_prefix(&self) -> String {
        match self {
            Scope::Whole => String::new(),
            Scope::Shard(s) => format!("s{}n{}x", s.index, s.count),
            Scope::Aggregate => "agg".to_owned(),
        }
    }

    /// Whether a file the pipeline generates belongs to this scope.
    fn owns(&self, owned: &Owned, rel: &str) -> bool {
        let run = match owned {
            Owned::Aggregate { .. } | Owned::Events => {
                return matches!(self, Scope::Whole | Scope::Aggregate);
            }
            Owned::Part { file, .. } => run_of_part(file),
            Owned::Rejects => rel
                .rsplit('/')
                .next()
                .and_then(|f| f.strip_suffix(".jsonl"))
                .map(|stem| match stem.rsplit_once('-') {
                    Some((run, batch)) if is_batch(batch) && is_run_id(run) => run,
                    _ => stem,
                }),
        };
        let Some(tag) = run.and_then(|r| r.split_once('-')).map(|(_, tag)| tag) else {
            return false;
        };
        match self {
            Scope::Whole => shard_of_tag(tag).is_none(),
            Scope::Shard(shard) => shard_of_tag(tag) == Some(*shard),
            Scope::Aggregate => false,
        }
    }
}

/// `s<index>n<count>x…` → the shard; `None` for an unsharded run's tag (hex digits, or an
/// old run's PID).
fn shard_of_tag(tag: &str) -> Option<Shard> {
    let rest = tag.strip_prefix('s')?;
    let (index, rest) = rest.split_once('n')?;
    let (count, _) = rest.split_once('x')?;
    Some(Shard {
        index: index.parse().ok()?,
        count: count.parse().ok()?,
    })
}

/// What the manifest remembers about one source object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Listed size.
    pub size: u64,
    /// Listed ETag (S3) or a size/mtime tag (local files), when known.
    pub etag: Option<String>,
    /// The run that read it.
    pub run_id: String,
    /// Measurement days found in the object but outside that run's days: a later run whose
    /// days include one of them reads the object again.
    #[serde(default)]
    pub days_left_out: BTreeSet<String>,
    /// The country/test filter under which measurements were left out because their body
    /// did not match it (`None`: none were); a run with another filter reads it again.
    #[serde(default)]
    pub filter_left_out: Option<String>,
}

/// The committed state of an output directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Source objects read, by key.
    pub objects: BTreeMap<String, ObjectRecord>,
    /// Committed files, relative to the output directory.
    pub files: BTreeSet<String>,
    /// Measurement days whose aggregates must be recomputed (set when a batch commits,
    /// cleared when aggregation finished), so a run stopped before aggregating is
    /// completed by the next.
    #[serde(default)]
    pub stale_aggregate_days: BTreeSet<String>,
    /// Runs that committed, oldest first.
    pub runs: Vec<String>,
    /// The last run of this scope and whether it finished (a shard's fan-in checks it).
    #[serde(default)]
    pub last_run: Option<LastRun>,
    /// For the fan-in: the partition files whose rows the aggregates hold.
    #[serde(default)]
    pub aggregated_inputs: BTreeSet<String>,
}

/// How the last run of a scope ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// Its id.
    pub run_id: String,
    /// Whether it read everything it planned (not stopped by a signal or an error).
    pub finished: bool,
    /// Its days, `since..until`.
    pub days: String,
}

/// What [`Manifest::reconcile`] found and repaired.
#[derive(Debug, Default)]
pub struct Repairs {
    /// Files removed: left by a run that died while committing (named by its pending list).
    pub uncommitted_removed: u64,
    /// Committed files found missing; their siblings were removed and their objects will be
    /// read again.
    pub missing_files: Vec<String>,
    /// Source objects forgotten so that they are read again.
    pub objects_to_reread: u64,
}

impl Manifest {
    /// Reads the scope's `manifest.json` (`DIR/_state/manifest.json` for a whole output), or
    /// an empty manifest for a new directory. A manifest of an unknown version or shape is
    /// refused with the fix.
    pub fn load(out: &Path, scope: Scope) -> Result<Manifest, RunError> {
        let path = manifest_path(out, scope);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest {
                    version: MANIFEST_VERSION,
                    ..Manifest::default()
                });
            }
            Err(e) => return Err(e).at("reading", &path),
        };
        let mut manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| RunError::BadState {
                path: path.clone(),
                reason: format!(
                    "not a manifest this version understands ({e}); rebuild the output with \
                     --full-refresh"
                ),
            })?;
        match manifest.version {
            MANIFEST_VERSION => {}
            1 => {
                // Version 1 did not record rejects files: adopt those of its runs.
                for run in &manifest.runs {
                    let rel = format!("{REJECTS_DIR}/{run}.jsonl");
                    if is_regular_file(&out.join(&rel)) {
                        manifest.files.insert(rel);
                    }
                }
                manifest.version = MANIFEST_VERSION;
            }
            other => {
                return Err(crate::RunError::refused(format!(
                    "{} has format version {other}, which this ooni-pipeline (format \
                 {MANIFEST_VERSION}) does not know: use the version that wrote it, or rebuild \
                 the output with --full-refresh",
                    path.display()
                )));
            }
        }
        Ok(manifest)
    }

    /// Writes the manifest atomically (tmp + fsync + rename).
    pub fn save(&self, out: &Path, scope: Scope) -> Result<(), RunError> {
        write_atomically(
            &manifest_path(out, scope),
            &serde_json::to_vec_pretty(self)?,
        )
    }

    /// Brings the directory and the manifest into agreement before a run writes anything:
    /// removes what a dead run left (its staging directory; the files its pending lists
    /// name that the manifest does not), repairs committed files that are gone (their
    /// siblings of the same batch and partition are removed and the objects of that run
    /// read again), and refuses files in the pipeline's own name space that nothing lists.
    ///
    /// With `files_elsewhere` (a remote output, whose bucket holds the committed files), a
    /// committed file the local directory lacks is not missing: it is downloaded when read.
    pub fn reconcile(
        &mut self,
        out: &Path,
        scope: Scope,
        files_elsewhere: bool,
    ) -> Result<Repairs, RunError> {
        let mut repairs = Repairs::default();
        repairs.uncommitted_removed += remove_staging_of(out, scope)?;
        for pending in pending_lists(out, scope)? {
            let text = std::fs::read(&pending).at("reading", &pending)?;
            // A pending list cut short by a crash was never acted on (it is written before
            // any file moves), so an unreadable one names nothing to remove.
            let files: Vec<String> = serde_json::from_slice(&text).unwrap_or_default();
            for rel in files {
                if self.files.contains(&rel) || classify(&rel).is_none() {
                    continue;
                }
                let path = out.join(&rel);
                if is_regular_file(&path) {
                    std::fs::remove_file(&path).at("removing uncommitted", &path)?;
                    repairs.uncommitted_removed += 1;
                }
            }
            std::fs::remove_file(&pending).at("removing", &pending)?;
        }

        // Committed files that are gone.
        let missing: Vec<String> = self
            .files
            .iter()
            .filter(|_| !files_elsewhere)
            .filter(|rel| !is_regular_file(&out.join(rel.as_str())))
            .cloned()
            .collect();
        let mut runs_to_reread = BTreeSet::new();
        for rel in &missing {
            if !self.files.remove(rel) {
                continue; // removed with a sibling already
            }
            repairs.missing_files.push(rel.clone());
            match classify(rel) {
                Some(Owned::Part {
                    file,
                    day,
                    test_name,
                }) => {
                    // The batch wrote one file per table for this partition: the rows of the
                    // others are keyed by the same measurements, so they go too, and the
                    // objects of that run are read again (duplicates are dropped by content).
                    for table in PARTITIONED_TABLES {
                        let sibling = part_path(table, &test_name, &day, &file);
                        if self.files.remove(&sibling) {
                            let path = out.join(&sibling);
                            if is_regular_file(&path) {
                                std::fs::remove_file(&path).at("removing", &path)?;
                            }
                        }
                    }
                    if let Some(run) = run_of_part(&file) {
                        runs_to_reread.insert(run.to_owned());
                    }
                    self.stale_aggregate_days.insert(day);
                }
                Some(Owned::Aggregate { day }) => {
                    self.stale_aggregate_days.insert(day);
                }
                // Rewritten by the next aggregation whatever changed.
                Some(Owned::Rejects | Owned::Events) | None => {}
            }
        }
        if !runs_to_reread.is_empty() {
            let before = self.objects.len();
            self.objects
                .retain(|_, record| !runs_to_reread.contains(&record.run_id));
            repairs.objects_to_reread = (before - self.objects.len()) as u64;
        }

        // Files that look like this scope's but that its manifest does not list.
        for rel in owned_looking_files(out, scope)? {
            if !self.files.contains(&rel) {
                return Err(crate::RunError::refused(format!(
                    "{} looks like a file ooni-pipeline wrote, but {} does not list it (was \
                     the manifest replaced or edited?). Move it out of {}, or rebuild the \
                     output with --full-refresh (which deletes it)",
                    out.join(&rel).display(),
                    manifest_path(out, scope).display(),
                    out.display()
                )));
            }
        }
        Ok(repairs)
    }
}

/// The files of `table` among `files` (relative paths) for measurement days in `days` (all
/// days when `None`), as paths.
pub fn table_files(
    out: &Path,
    files: &BTreeSet<String>,
    table: Table,
    days: Option<&BTreeSet<NaiveDate>>,
) -> Vec<PathBuf> {
    let prefix = format!("{table}/");
    files
        .iter()
        .filter(|rel| rel.starts_with(&prefix) && rel.ends_with(".parquet"))
        .filter(|rel| {
            let Some(days) = days else { return true };
            match classify(rel) {
                Some(Owned::Part { day, .. } | Owned::Aggregate { day }) => {
                    ooni_source::parse_day(&day).is_some_and(|d| days.contains(&d))
                }
                _ => false,
            }
        })
        .map(|rel| out.join(rel))
        .collect()
}

/// The measurement day of a partition or aggregate file.
pub fn day_of(rel: &str) -> Option<String> {
    match classify(rel)? {
        Owned::Part { day, .. } | Owned::Aggregate { day } => Some(day),
        Owned::Rejects | Owned::Events => None,
    }
}

/// `--full-refresh`: removes every file the manifest lists, what pending lists name, the
/// staging directory, files in the pipeline's own name space, and the manifest; leaves
/// everything else. Returns the number of files removed.
pub fn full_refresh(out: &Path, scope: Scope) -> Result<u64, RunError> {
    // A manifest we cannot read is replaced; the name space sweep below still finds the
    // files it listed.
    let manifest = Manifest::load(out, scope).unwrap_or_default();
    let mut removed = 0;
    let mut targets: BTreeSet<String> = manifest.files;
    targets.extend(owned_looking_files(out, scope)?);
    for pending in pending_lists(out, scope)? {
        if let Ok(text) = std::fs::read(&pending) {
            targets.extend(serde_json::from_slice::<Vec<String>>(&text).unwrap_or_default());
        }
        std::fs::remove_file(&pending).at("removing", &pending)?;
    }
    for rel in targets.iter().filter(|rel| classify(rel).is_some()) {
        let path = out.join(rel);
        if is_regular_file(&path) {
            std::fs::remove_file(&path).at("removing", &path)?;
            removed += 1;
            remove_empty_parents(out, &path);
        }
    }
    remove_staging_of(out, scope)?;
    let manifest = manifest_path(out, scope);
    match std::fs::remove_file(&manifest) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).at("removing", &manifest);
        }
        _ => {}
    }
    Ok(removed)
}

/// Removes the staging directories of this scope's runs (a whole output's runs stage under
/// `_staging/<run>/`, a shard's under `_staging/<run>/` with its tag); returns the files
/// removed.
fn remove_staging_of(out: &Path, scope: Scope) -> Result<u64, RunError> {
    let staging = out.join("_staging");
    let Ok(entries) = std::fs::read_dir(&staging) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.at("listing", &staging)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let tag = name.split_once('-').map(|(_, tag)| tag).unwrap_or("");
        let ours = match scope {
            Scope::Whole => shard_of_tag(tag).is_none() && !tag.starts_with("agg"),
            Scope::Shard(shard) => shard_of_tag(tag) == Some(shard),
            Scope::Aggregate => tag.starts_with("agg"),
        };
        if !ours {
            continue;
        }
        let path = entry.path();
        removed += count_files(&path);
        // remove_dir_all does not follow symbolic links (it removes the link).
        std::fs::remove_dir_all(&path)
            .or_else(|_| std::fs::remove_file(&path))
            .at("removing", &path)?;
    }
    let _ = std::fs::remove_dir(&staging);
    Ok(removed)
}

/// Removes the now-empty directories between `file` and `out` (partition directories the
/// pipeline created); stops at the first that is not empty.
fn remove_empty_parents(out: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == out || !d.starts_with(out) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Every file committed in the output directory, whatever scope committed it (a whole
/// run, the shards, the fan-in): what `report` and `export` read.
pub fn all_committed_files(out: &Path) -> Result<BTreeSet<String>, RunError> {
    let mut files = BTreeSet::new();
    let mut scopes = vec![Scope::Whole, Scope::Aggregate];
    for (count, indices) in shard_plans(out) {
        scopes.extend(
            indices
                .into_iter()
                .map(|index| Scope::Shard(Shard { index, count })),
        );
    }
    for scope in scopes {
        if manifest_path(out, scope).is_file() {
            files.extend(Manifest::load(out, scope)?.files);
        }
    }
    Ok(files)
}

/// The pending lists of commits that may have been interrupted.
fn pending_lists(out: &Path, scope: Scope) -> Result<Vec<PathBuf>, RunError> {
    let dir = scope.state_dir(out);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("listing", &dir),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.at("listing", &dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("pending-")
            && name.ends_with(".json")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// The pending list of one batch's commit.
pub fn pending_path(out: &Path, scope: Scope, run_id: &str, batch: usize) -> PathBuf {
    scope
        .state_dir(out)
        .join(format!("pending-{run_id}-{batch:04}.json"))
}

/// Files below the output directory whose relative path matches a name the pipeline
/// generates for `scope` (without following symbolic links).
fn owned_looking_files(out: &Path, scope: Scope) -> Result<Vec<String>, RunError> {
    let mut found = Vec::new();
    for top in PARTITIONED_TABLES
        .iter()
        .chain(AGGREGATE_TABLES.iter())
        .map(|t| t.as_str())
        .chain([REJECTS_DIR, Table::BlockingEvents.as_str()])
    {
        let dir = out.join(top);
        if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        for entry in walkdir::WalkDir::new(&dir).follow_links(false).max_depth(3) {
            let entry = entry.map_err(std::io::Error::from).at("listing", &dir)?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = relative(out, entry.path());
            if classify(&rel).is_some_and(|owned| scope.owns(&owned, &rel)) {
                found.push(rel);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A file the pipeline generates, by its path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    /// `<table>/test_name=<t>/measurement_day=<day>/part-<run>-<batch>.parquet`.
    Part {
        /// `part-….parquet`.
        file: String,
        /// `YYYY-MM-DD`.
        day: String,
        /// The partition's test name.
        test_name: String,
    },
    /// `<aggregate table>/<day>.parquet`.
    Aggregate {
        /// `YYYY-MM-DD`.
        day: String,
    },
    /// `rejects/<run>[-<batch>].jsonl`.
    Rejects,
    /// `blocking_events/blocking_events.parquet`.
    Events,
}

/// Whether `rel` is a name the pipeline generates, and which kind.
pub fn classify(rel: &str) -> Option<Owned> {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        [table, test, day, file]
            if Table::from_name(table).is_some_and(|t| PARTITIONED_TABLES.contains(&t)) =>
        {
            let test_name = test.strip_prefix("test_name=")?;
            let day = day.strip_prefix("measurement_day=")?;
            let valid_test = !test_name.is_empty()
                && test_name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            (valid_test && is_day(day) && run_of_part(file).is_some()).then(|| Owned::Part {
                file: (*file).to_owned(),
                day: day.to_owned(),
                test_name: test_name.to_owned(),
            })
        }
        [table, file] if Table::from_name(table).is_some_and(|t| AGGREGATE_TABLES.contains(&t)) => {
            let day = file.strip_suffix(".parquet")?;
            is_day(day).then(|| Owned::Aggregate {
                day: day.to_owned(),
            })
        }
        _ if rel == EVENTS_FILE => Some(Owned::Events),
        [dir, file] if *dir == REJECTS_DIR => {
            let stem = file.strip_suffix(".jsonl")?;
            let run = match stem.rsplit_once('-') {
                Some((run, batch)) if is_batch(batch) && is_run_id(run) => run,
                _ => stem,
            };
            is_run_id(run).then_some(Owned::Rejects)
        }
        _ => None,
    }
}

/// `part-<run>-<batch>.parquet` → `<run>`.
fn run_of_part(file: &str) -> Option<&str> {
    let stem = file.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (run, batch) = stem.rsplit_once('-')?;
    (is_batch(batch) && is_run_id(run)).then_some(run)
}

fn part_path(table: Table, test_name: &str, day: &str, file: &str) -> String {
    format!("{table}/test_name={test_name}/measurement_day={day}/{file}")
}

fn is_batch(s: &str) -> bool {
    s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_day(s: &str) -> bool {
    ooni_source::parse_day(s).is_some() && s.len() == 10
}

/// `YYYYMMDDTHHMMSSZ-<tag>` with a tag of lower-case letters and digits.
pub fn is_run_id(s: &str) -> bool {
    let Some((time, tag)) = s.split_once('-') else {
        return false;
    };
    let b = time.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
        && !tag.is_empty()
        && tag.len() <= 32
        && tag
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// A regular file, not a symbolic link to one.
fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

fn count_files(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .count() as u64
}

fn manifest_path(out: &Path, scope: Scope) -> PathBuf {
    scope.state_dir(out).join("manifest.json")
}

/// The plan sizes of `shard_plans`, for messages: `4, 8`.
pub fn plan_sizes(plans: &BTreeMap<u32, BTreeSet<u32>>) -> String {
    plans
        .keys()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shards whose state the output directory holds: `(count, indices)` per plan size.
pub fn shard_plans(out: &Path) -> BTreeMap<u32, BTreeSet<u32>> {
    let mut plans = BTreeMap::new();
    let Ok(counts) = std::fs::read_dir(out.join("_state/shards")) else {
        return plans;
    };
    for count in counts.flatten() {
        let Some(n) = count
            .file_name()
            .to_str()
            .and_then(|c| c.parse::<u32>().ok())
        else {
            continue;
        };
        let indices: BTreeSet<u32> = std::fs::read_dir(count.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("manifest.json").is_file())
            .filter_map(|e| e.file_name().to_str().and_then(|i| i.parse().ok()))
            .collect();
        plans.insert(n, indices);
    }
    plans
}

/// The manifests of every scope in `out` (`_state/manifest.json`,
/// `_state/shards/<n>/<i>/manifest.json`, `_state/aggregate/manifest.json`), relative.
pub fn local_manifests(out: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for scope in [Scope::Whole, Scope::Aggregate] {
        if manifest_path(out, scope).is_file() {
            found.push(relative(out, &manifest_path(out, scope)));
        }
    }
    for (count, indices) in shard_plans(out) {
        for index in indices {
            let path = manifest_path(out, Scope::Shard(Shard { index, count }));
            found.push(relative(out, &path));
        }
    }
    found
}

/// Writes `bytes` to `path` through a `.tmp` sibling, fsync and rename; every error names
/// the file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at("creating", dir)?;
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().at("writing", &tmp)?;
    std::fs::rename(&tmp, path).at(&format!("renaming {} to", tmp.display()), path)
}

/// `path` relative to `out`, with `/` separators (as stored in the manifest).
pub fn relative(out: &Path, path: &Path) -> String {
    path.strip_prefix(out)
        .unwrap_or(path)
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PART: &str = "measurements/test_name=whatsapp/measurement_day=2020-10-20/part-20201021T000000Z-ab12-0000.parquet";
    const SHARD_PART: &str = "measurements/test_name=whatsapp/measurement_day=2020-10-20/part-20201021T000000Z-s1n4xab12-0000.parquet";

    #[test]
    fn each_scope_owns_only_its_files() {
        let shard = Scope::Shard(Shard { index: 1, count: 4 });
        let other = Scope::Shard(Shard { index: 2, count: 4 });
        let owned = |rel: &str| classify(rel).unwrap();
        assert!(Scope::Whole.owns(&owned(PART), PART));
        assert!(!shard.owns(&owned(PART), PART));
        assert!(shard.owns(&owned(SHARD_PART), SHARD_PART));
        assert!(!other.owns(&owned(SHARD_PART), SHARD_PART));
        assert!(!Scope::Whole.owns(&owned(SHARD_PART), SHARD_PART));
        let agg = "failure_rates/2020-10-20.parquet";
        assert!(Scope::Aggregate.owns(&owned(agg), agg));
        assert!(!shard.owns(&owned(agg), agg));
    }

    #[test]
    fn only_generated_names_are_the_pipelines() {
        assert!(matches!(classify(PART), Some(Owned::Part { .. })));
        assert!(matches!(
            classify("failure_rates/2020-10-20.parquet"),
            Some(Owned::Aggregate { .. })
        ));
        assert_eq!(classify(EVENTS_FILE), Some(Owned::Events));
        assert_eq!(classify("blocking_events/mine.parquet"), None);
        assert_eq!(
            classify("rejects/20201021T000000Z-123-0003.jsonl"),
            Some(Owned::Rejects)
        );
        assert_eq!(
            classify("rejects/20201021T000000Z-123.jsonl"),
            Some(Owned::Rejects)
        );
        for users in [
            "measurements/notes.txt",
            "measurements/mine/my_analysis.parquet",
            "failure_rates/README.md",
            "failure_rates/2020-10-20-mine.parquet",
            "outcomes/keep.csv",
            "measurements/test_name=x/measurement_day=2020-10-20/mine.parquet",
            "measurements/test_name=x/measurement_day=2020-13-20/part-20201021T000000Z-1-0000.parquet",
            "rejects/notes.jsonl",
        ] {
            assert_eq!(classify(users), None, "{users}");
        }
    }

    #[test]
    fn a_missing_file_takes_its_batch_siblings_and_its_runs_objects_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let mut manifest = Manifest {
            version: MANIFEST_VERSION,
            ..Manifest::default()
        };
        for table in PARTITIONED_TABLES {
            let rel = PART.replace("measurements", table.as_str());
            let path = out.join(&rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"x").unwrap();
            manifest.files.insert(rel);
        }
        let record = |run: &str| ObjectRecord {
            size: 1,
            etag: None,
            run_id: run.into(),
            days_left_out: BTreeSet::new(),
            filter_left_out: None,
        };
        manifest
            .objects
            .insert("a".into(), record("20201021T000000Z-ab12"));
        manifest
            .objects
            .insert("b".into(), record("20201022T000000Z-cd34"));
        std::fs::remove_file(out.join(PART.replace("measurements", "observations"))).unwrap();
        let repairs = manifest.reconcile(out, Scope::Whole, false).unwrap();
        assert_eq!(repairs.missing_files.len(), 1);
        assert_eq!(repairs.objects_to_reread, 1);
        assert!(manifest.files.is_empty());
        assert!(!out.join(PART).exists());
        assert!(manifest.objects.contains_key("b"));
        assert!(manifest.stale_aggregate_days.contains("2020-10-20"));
    }

    #[test]
    fn an_unlisted_file_in_the_pipelines_name_space_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PART);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        let err = Manifest::default()
            .reconcile(dir.path(), Scope::Whole, false)
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains(PART) && text.contains("--full-refresh"),
            "{text}"
        );
    }
}
