//! What a run read, wrote, skipped and rejected: counted per archive, summed, checked for
//! conservation, printed for people and written as JSON for machines.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::Serialize;

/// Counts from reading archives; summed across threads with `+=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Archives opened.
    pub archives_read: u64,
    /// Archive bytes as stored (compressed).
    pub stored_bytes: u64,
    /// Archive bytes after decompression.
    pub decoded_bytes: u64,
    /// Records (JSONL lines and postcan members) read, including broken ones.
    pub records_read: u64,
    /// Measurements normalized (before duplicates are dropped).
    pub measurements: u64,
    /// Records that are not measurements, by reason (placeholders, out-of-window days, …).
    pub skipped: BTreeMap<String, u64>,
    /// Records quarantined in rejects/, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Archives whose end could not be read (truncated gzip, broken tar, I/O errors).
    pub archive_errors: u64,
    /// Tar members that are not `.post` files.
    pub other_tar_members: u64,
    /// YAML reports inside legacy cans (pre-2016 data format), not decoded.
    pub yaml_reports: u64,
    /// Measurements whose body disagrees with the country or test in their key.
    pub key_body_mismatches: u64,
}

impl Counts {
    /// Adds one to a skip reason.
    pub fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_owned()).or_default() += 1;
    }

    /// Adds one to a reject reason.
    pub fn reject(&mut self, reason: &str) {
        *self.rejected.entry(reason.to_owned()).or_default() += 1;
    }

    /// All skipped records.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// All rejected records.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.archives_read += other.archives_read;
        self.stored_bytes += other.stored_bytes;
        self.decoded_bytes += other.decoded_bytes;
        self.records_read += other.records_read;
        self.measurements += other.measurements;
        for (k, v) in other.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
        for (k, v) in other.rejected {
            *self.rejected.entry(k).or_default() += v;
        }
        self.archive_errors += other.archive_errors;
        self.other_tar_members += other.other_tar_members;
        self.yaml_reports += other.yaml_reports;
        self.key_body_mismatches += other.key_body_mismatches;
    }
}

/// `records_read = measurements_written + duplicates + skipped + rejected`.
#[derive(Debug, Clone, Serialize)]
pub struct Conservation {
    /// Left side.
    pub records_read: u64,
    /// Distinct measurements written.
    pub measurements_written: u64,
    /// Copies of a measurement already written (in this run or an earlier one).
    pub duplicates: u64,
    /// Not measurements, on purpose.
    pub skipped: u64,
    /// Quarantined.
    pub rejected: u64,
    /// Whether the two sides are equal.
    pub holds: bool,
}

impl Conservation {
    /// Checks the balance.
    pub fn check(counts: &Counts, measurements_written: u64, duplicates: u64) -> Conservation {
        let skipped = counts.skipped_total();
        let rejected = counts.rejected_total();
        Conservation {
            records_read: counts.records_read,
            measurements_written,
            duplicates,
            skipped,
            rejected,
            holds: counts.records_read == measurements_written + duplicates + skipped + rejected,
        }
    }
}

/// One line of the "worst cells" table.
#[derive(Debug, Clone, Serialize)]
pub struct WorstCell {
    /// Country.
    pub probe_cc: Option<String>,
    /// ASN.
    pub probe_asn: u32,
    /// Test.
    pub test_name: String,
    /// Target domain.
    pub domain: String,
    /// Measurements with an outcome (stage `any`), summed over the run's days.
    pub measurement_count: u64,
    /// Of those, failed.
    pub failure_count: u64,
    /// Of those, blocked: the network interfered (outcome status `blocked`).
    pub blocked_count: u64,
    /// Of those, down: the control failed the same way (outcome status `down`).
    pub down_count: u64,
    /// The most frequent failure.
    pub top_failure: Option<String>,
}

/// Requests a run made to its store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Requests {
    /// LIST calls (pages).
    pub list: u64,
    /// GET calls (files opened, for a directory).
    pub get: u64,
    /// Requests retried.
    pub retries: u64,
    /// Bytes not downloaded twice thanks to Range resumes.
    pub resumed_bytes: u64,
}

/// The machine-readable run summary (`DIR/_runs/<run_id>.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// This run's id.
    pub run_id: String,
    /// ooni-pipeline version.
    pub version: &'static str,
    /// Where it read.
    pub source: String,
    /// First measurement day (inclusive).
    pub since: String,
    /// Last measurement day (exclusive).
    pub until: String,
    /// Upload days read after `until`.
    pub late_upload_days: u32,
    /// The earliest measurement day kept: `since` minus the late-upload days, so that
    /// measurements uploaded late into the archives a nightly run reads are never lost.
    pub first_accepted_day: String,
    /// This run's shard (`I/N`), when sharded.
    pub shard: Option<String>,
    /// What the shard plan gave this shard.
    pub shard_plan: Option<crate::shards::PlanStats>,
    /// Countries selected (empty: all).
    pub probe_cc: Vec<String>,
    /// Tests selected, key spelling (empty: all).
    pub test_names: Vec<String>,
    /// Output directory, or the bucket (`s3://…`) that holds a remote output.
    pub out: String,
    /// The local directory a remote output was built in (`--work-dir`).
    pub work_dir: Option<String>,
    /// Committed files of a remote output downloaded into the work directory (to find
    /// duplicates, to aggregate).
    pub files_downloaded: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Objects listed in the selection.
    pub archives_listed: u64,
    /// Bytes listed in the selection.
    pub bytes_listed: u64,
    /// `raw/` twins not read because their sibling was.
    pub twins_skipped: u64,
    /// Chosen twins that turned out damaged, and the sibling read instead.
    pub twins_fallback: Vec<Fallback>,
    /// Objects read by this run (never read before, changed, or holding measurements an
    /// earlier run left out that this one wants).
    pub new_objects: u64,
    /// Objects skipped because the output already holds what they contain.
    pub already_processed_objects: u64,
    /// Files an interrupted run left uncommitted, removed before this run.
    pub uncommitted_files_removed: u64,
    /// Committed files found missing at the start; their objects were read again.
    pub missing_files_repaired: Vec<String>,
    /// A lock left by a dead run, taken over (what it said).
    pub stale_lock: Option<String>,
    /// Selected objects that are never read: YAML reportcans and can indexes.
    pub skipped_archives: u64,
    /// Listed keys outside OONI's layout (first few shown).
    pub unrecognized_keys: u64,
    /// Examples of unrecognized keys.
    pub unrecognized_examples: Vec<String>,
    /// Symbolic links in a local source, never followed.
    pub symlinks_ignored: u64,
    /// Examples of them.
    pub symlink_examples: Vec<String>,
    /// Requests to the store.
    pub requests: Requests,
    /// Reading counts.
    pub counts: Counts,
    /// Distinct measurements written.
    pub measurements_written: u64,
    /// Copies of a measurement read more than once in this run (twins' content, `.l.`/`.x.`
    /// copies, the jsonl/raw overlap).
    pub duplicates_in_run: u64,
    /// Measurements the output already held from an earlier run.
    pub already_in_output: u64,
    /// Observation rows written.
    pub observations_written: u64,
    /// Measurements OONI's fastpath would drop (still written, left out of `ooni_counts`), by reason.
    pub ooni_dropped: BTreeMap<String, u64>,
    /// Archives the store could not deliver (S3 errors after retries, permission denied):
    /// not recorded as read, so the next run tries them again.
    pub retry_later: Vec<RetryLater>,
    /// Rejects counted but not stored (over the per-archive cap).
    pub rejects_not_stored: u64,
    /// Batches committed.
    pub batches_committed: u64,
    /// Files written (Parquet and rejects).
    pub files_written: u64,
    /// Those files, relative to the output directory.
    pub written_files: Vec<String>,
    /// Measurement days whose aggregates were recomputed.
    pub aggregated_days: u64,
    /// The balance check.
    pub conservation: Conservation,
    /// Wall-clock seconds per phase.
    pub seconds: BTreeMap<String, f64>,
    /// The rejects files written (one per batch with rejects).
    pub rejects_files: Vec<String>,
    /// The signal that stopped the run before it finished (`SIGTERM`, `SIGINT`).
    pub interrupted: Option<String>,
    /// Peak resident memory of the process, in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Cells with the highest failure rates.
    pub worst_cells: Vec<WorstCell>,
}

/// A chosen twin that turned out damaged, and its sibling, read instead.
#[derive(Debug, Clone, Serialize)]
pub struct Fallback {
    /// The damaged archive (empty, truncated or corrupt).
    pub damaged: String,
    /// Its twin, read as well.
    pub read_instead: String,
}

/// An archive to be read again by the next run.
#[derive(Debug, Clone, Serialize)]
pub struct RetryLater {
    /// Its key.
    pub key: String,
    /// Why it could not be read.
    pub error: String,
}
