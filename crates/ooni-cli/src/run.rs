//! `ooni-pipeline run`: list → read and normalize in parallel → drop duplicates → write
//! partitions → aggregate → summarize.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::IsTerminal;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use ooni_normalize::{Normalized, Outcome, normalize};
use ooni_parquet::{Measured, Provenance};
use ooni_source::{ArchiveKey, ObjectMeta, RecordError, Store, compact_test_name, read_records};
use rayon::prelude::*;

use crate::config::RunPlan;
use crate::pause;
use crate::rejects::{Reject, write_rejects};
use crate::state;
use crate::summary::{Conservation, Counts, Requests, RunSummary};

/// What one archive produced.
#[derive(Default)]
struct ArchiveOutput {
    measured: Vec<Measured>,
    rejects: Vec<Reject>,
    counts: Counts,
    /// Measurement days found but outside the run's days (read again by a run that wants them).
    days_left_out: BTreeSet<NaiveDate>,
    /// Whether measurements were left out because their body's country or test was not selected.
    filter_left_out: bool,
}

/// Runs the whole job; returns the summary (also written to `DIR/_runs/<run_id>.json`).
pub fn run(
    plan: &RunPlan,
    store: &dyn Store,
    run_id: &str,
    started_at: &str,
) -> anyhow::Result<RunSummary> {
    let mut seconds = BTreeMap::new();
    let started = Instant::now();
    let (_lock, stale_lock) = state::Lock::acquire(&plan.out, run_id, started_at)?;
    if let Some(note) = &stale_lock {
        log(note);
    }
    if plan.full_refresh {
        full_refresh(&plan.out)?;
    }
    let mut manifest = state::Manifest::load(&plan.out)?;
    let uncommitted_removed = state::remove_uncommitted(&plan.out, &manifest)?;
    if uncommitted_removed > 0 {
        log(&format!(
            "removed {uncommitted_removed} files an interrupted run left uncommitted; its objects are read again"
        ));
    }

    let inventory = ooni_source::inventory(store, &plan.selection)
        .with_context(|| format!("listing {}", store.location()))?;
    let archives_listed = inventory.archives.len() as u64;
    let bytes_listed = inventory.archives.iter().map(|(o, _)| o.size).sum();
    let listed: BTreeMap<String, ObjectMeta> = inventory
        .archives
        .iter()
        .map(|(o, k)| (k.key.clone(), o.clone()))
        .collect();
    let keys: Vec<ArchiveKey> = inventory.archives.into_iter().map(|(_, k)| k).collect();
    let (archives, twins_skipped) = ooni_source::pick_one_of_each_twin(keys);
    let filter = filter_tag(plan);
    let (archives, already_processed): (Vec<ArchiveKey>, Vec<ArchiveKey>) =
        archives.into_iter().partition(|key| {
            needs_reading(
                manifest.objects.get(&key.key),
                &listed[&key.key],
                plan,
                &filter,
            )
        });
    seconds.insert("list".to_owned(), started.elapsed().as_secs_f64());
    log(&format!(
        "listed {archives_listed} archives ({}) in {} ({} LIST calls); {} new objects to read, {} already processed",
        human_bytes(bytes_listed),
        store.location(),
        inventory.list_calls,
        archives.len(),
        already_processed.len()
    ));

    // Archives are read in batches of bounded size, each batch's new rows staged before the
    // next is read, so memory stays bounded however many days a run covers. raw/ archives
    // come first (the keys are sorted by layout), so OONI's postcan uid wins over a jsonl/
    // copy of the same measurement even when the two land in different batches.
    let read_started = Instant::now();
    let progress = Progress::new(archives.len() as u64);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.jobs)
        .build()
        .context("starting worker threads")?;
    let mut counts = Counts::default();
    let mut rejects = Vec::new();
    let mut objects = BTreeMap::new();
    let mut written_ids: HashSet<String> = HashSet::new();
    let mut committed_ids = CommittedIds::default();
    let mut totals = Totals::default();
    let mut staged = Vec::new();
    let mut write_seconds = 0.0;
    for (batch_no, batch) in batches(&archives, &listed, plan.batch_bytes)
        .into_iter()
        .enumerate()
    {
        let outputs: Vec<ArchiveOutput> = pool.install(|| {
            batch
                .par_iter()
                .map(|key| {
                    let out = process_archive(store, key, Some(listed[&key.key].size), plan);
                    progress.advance(out.counts.stored_bytes, out.counts.records_read);
                    pause::step(pause::Phase::Read);
                    out
                })
                .collect()
        });
        let mut measured = Vec::new();
        for (key, out) in batch.iter().zip(outputs) {
            let meta = &listed[&key.key];
            objects.insert(
                key.key.clone(),
                state::ObjectRecord {
                    size: meta.size,
                    etag: meta.etag.clone(),
                    run_id: run_id.to_owned(),
                    days_left_out: out.days_left_out.iter().map(ToString::to_string).collect(),
                    filter_left_out: out.filter_left_out.then(|| filter.clone()),
                },
            );
            counts += out.counts;
            measured.extend(out.measured);
            rejects.extend(out.rejects);
        }
        let (mut partitions, duplicates) = deduplicate(measured);
        totals.duplicates_in_run += duplicates;
        for rows in partitions.values_mut() {
            let before = rows.len();
            rows.retain(|m| !written_ids.contains(&m.row.content_id));
            totals.duplicates_in_run += (before - rows.len()) as u64;
        }
        totals.already_in_output +=
            drop_already_written(&plan.out, &manifest, &mut partitions, &mut committed_ids)?;
        for ((_, day), rows) in &partitions {
            totals.affected_days.insert(day.to_string());
            for m in rows {
                written_ids.insert(m.row.content_id.clone());
                totals.measurements += 1;
                totals.observations += m.observations.len() as u64;
                if let Some(reason) = &m.judgement.ooni_drop_reason {
                    *totals.ooni_dropped.entry(reason.clone()).or_default() += 1;
                }
            }
        }
        let write_started = Instant::now();
        staged.extend(write_partitions(&plan.out, run_id, batch_no, &partitions)?);
        write_seconds += write_started.elapsed().as_secs_f64();
    }
    progress.finish();
    seconds.insert(
        "read".to_owned(),
        read_started.elapsed().as_secs_f64() - write_seconds,
    );
    let duplicates = totals.duplicates_in_run + totals.already_in_output;

    let write_started = Instant::now();
    let rejects_file = write_rejects(&plan.out, run_id, &rejects)?;
    // Commit: move the staged files into place, then record them (the manifest is the
    // commit point: anything not in it is removed by the next run).
    let mut committed = Vec::new();
    for (staged_path, final_rel) in &staged {
        let final_path = plan.out.join(final_rel);
        if let Some(dir) = final_path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::rename(staged_path, &final_path)
            .with_context(|| format!("committing {}", final_path.display()))?;
        committed.push(final_rel.clone());
        pause::step(pause::Phase::Commit);
    }
    let _ = std::fs::remove_dir_all(plan.out.join("_staging").join(run_id));
    manifest.files.extend(committed);
    manifest.objects.extend(objects);
    manifest.stale_aggregate_days.extend(totals.affected_days);
    manifest.runs.push(run_id.to_owned());
    manifest.save(&plan.out)?;
    seconds.insert(
        "write".to_owned(),
        write_seconds + write_started.elapsed().as_secs_f64(),
    );

    let aggregate_started = Instant::now();
    let aggregated_days = manifest.stale_aggregate_days.len() as u64;
    let aggregates = crate::tables::write_aggregates(&plan.out, &mut manifest, &plan.selection)?;
    manifest.stale_aggregate_days.clear();
    manifest.save(&plan.out)?;
    seconds.insert(
        "aggregate".to_owned(),
        aggregate_started.elapsed().as_secs_f64(),
    );
    seconds.insert("total".to_owned(), started.elapsed().as_secs_f64());

    let measurements_written = totals.measurements;
    let stats = store.request_stats();
    let conservation = Conservation::check(&counts, measurements_written, duplicates);
    let summary = RunSummary {
        run_id: run_id.to_owned(),
        version: env!("CARGO_PKG_VERSION"),
        source: store.location(),
        since: plan.selection.since.to_string(),
        until: plan.selection.until.to_string(),
        late_upload_days: plan.selection.late_upload_days,
        probe_cc: plan.selection.probe_cc.iter().cloned().collect(),
        test_names: plan.selection.test_names.iter().cloned().collect(),
        out: plan.out.display().to_string(),
        jobs: plan.jobs,
        archives_listed,
        bytes_listed,
        twins_skipped,
        new_objects: archives.len() as u64,
        already_processed_objects: already_processed.len() as u64,
        uncommitted_files_removed: uncommitted_removed,
        stale_lock,
        skipped_archives: inventory.skipped.len() as u64,
        unrecognized_keys: inventory.unrecognized.len() as u64,
        unrecognized_examples: inventory
            .unrecognized
            .iter()
            .take(5)
            .map(|e| e.key.clone())
            .collect(),
        requests: Requests {
            list: stats.list_calls,
            get: stats.get_calls,
            retries: stats.retries,
            resumed_bytes: stats.resumed_bytes,
        },
        counts,
        measurements_written,
        duplicates_in_run: totals.duplicates_in_run,
        already_in_output: totals.already_in_output,
        observations_written: totals.observations,
        ooni_dropped: totals.ooni_dropped,
        files_written: staged.len() as u64 + aggregates.files.len() as u64,
        written_files: staged
            .iter()
            .map(|(_, rel)| rel.clone())
            .chain(aggregates.files.iter().cloned())
            .chain(rejects_file.iter().map(|p| state::relative(&plan.out, p)))
            .collect(),
        aggregated_days,
        conservation,
        seconds,
        rejects_file: rejects_file.as_ref().map(|p| p.display().to_string()),
        worst_cells: aggregates.worst_cells,
    };
    write_summary(&plan.out, &summary)?;
    Ok(summary)
}

/// `--full-refresh`: forget everything this output directory holds and rebuild it.
fn full_refresh(out: &Path) -> anyhow::Result<()> {
    for dir in state::TABLES
        .iter()
        .copied()
        .chain(["_state/manifest.json", "_staging"])
    {
        let path = out.join(dir);
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", path.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The country/test filter of a run, as recorded with objects it left measurements out of.
fn filter_tag(plan: &RunPlan) -> String {
    let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
    format!(
        "cc={};test={}",
        join(&plan.selection.probe_cc),
        join(&plan.selection.test_names)
    )
}

/// Whether an object must be read: never read, changed since (size or ETag), or holding
/// measurements an earlier run left out that this run wants.
fn needs_reading(
    record: Option<&state::ObjectRecord>,
    listed: &ObjectMeta,
    plan: &RunPlan,
    filter: &str,
) -> bool {
    let Some(record) = record else { return true };
    if record.size != listed.size || (listed.etag.is_some() && record.etag != listed.etag) {
        return true;
    }
    let wants_left_out_day = record
        .days_left_out
        .iter()
        .any(|day| ooni_source::parse_day(day).is_some_and(|d| plan.selection.contains_day(d)));
    let other_filter = record
        .filter_left_out
        .as_deref()
        .is_some_and(|f| f != filter);
    wants_left_out_day || other_filter
}

/// What a run has written so far, summed over its batches.
#[derive(Default)]
struct Totals {
    measurements: u64,
    observations: u64,
    duplicates_in_run: u64,
    already_in_output: u64,
    affected_days: BTreeSet<String>,
    ooni_dropped: BTreeMap<String, u64>,
}

/// Content ids held by the committed files of each partition, read once per run.
type CommittedIds = HashMap<(String, NaiveDate), HashSet<String>>;

/// Splits the archives into batches of at most `max_bytes` listed (stored) bytes each.
fn batches<'a>(
    archives: &'a [ArchiveKey],
    listed: &BTreeMap<String, ObjectMeta>,
    max_bytes: u64,
) -> Vec<&'a [ArchiveKey]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, key) in archives.iter().enumerate() {
        let size = listed[&key.key].size;
        if i > start && bytes + size > max_bytes {
            out.push(&archives[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < archives.len() {
        out.push(&archives[start..]);
    }
    out
}

/// Drops measurements that committed files of their partition already hold (same content
/// id): late uploads and re-read objects never add duplicates. Returns how many.
fn drop_already_written(
    out: &Path,
    manifest: &state::Manifest,
    partitions: &mut Partitions,
    committed: &mut CommittedIds,
) -> anyhow::Result<u64> {
    let mut dropped = 0;
    for ((test_name, day), rows) in partitions.iter_mut() {
        let key = (test_name.clone(), *day);
        if !committed.contains_key(&key) {
            let dir = ooni_parquet::partition_dir(out, "measurements", test_name, *day)?;
            let prefix = format!("{}/", state::relative(out, &dir));
            let mut ids = HashSet::new();
            for file in manifest.files.iter().filter(|f| f.starts_with(&prefix)) {
                ids.extend(ooni_parquet::read_string_column(
                    &out.join(file),
                    "content_id",
                )?);
            }
            committed.insert(key.clone(), ids);
        }
        let existing = &committed[&key];
        if existing.is_empty() {
            continue;
        }
        let before = rows.len();
        rows.retain(|m| !existing.contains(&m.row.content_id));
        dropped += (before - rows.len()) as u64;
    }
    partitions.retain(|_, rows| !rows.is_empty());
    Ok(dropped)
}

fn process_archive(
    store: &dyn Store,
    key: &ArchiveKey,
    size: Option<u64>,
    plan: &RunPlan,
) -> ArchiveOutput {
    let mut out = ArchiveOutput::default();
    out.counts.archives_read = 1;
    let reader = match store.open(&key.key, size) {
        Ok(reader) => reader,
        Err(e) => {
            out.counts.archive_errors += 1;
            out.rejects.push(Reject::new(
                "unreadable_archive",
                e.to_string(),
                &key.key,
                &ooni_source::Position::Line(0),
                0,
                &[],
            ));
            return out;
        }
    };
    let stats = read_records(
        &key.key,
        key.format,
        reader,
        plan.limits,
        |item| match item {
            Ok(record) => {
                out.counts.records_read += 1;
                process_record(key, &record, plan, &mut out);
            }
            Err(RecordError::TooLarge {
                position,
                len,
                max,
                head,
                ..
            }) => {
                out.counts.records_read += 1;
                out.counts.reject("too_large");
                out.rejects.push(Reject::new(
                    "too_large",
                    format!("{len} bytes, over the {max}-byte limit (--max-record-mib)"),
                    &key.key,
                    &position,
                    len,
                    &head,
                ));
            }
            Err(error @ RecordError::Truncated { .. }) => {
                let too_large = error.is_object_too_large();
                let RecordError::Truncated {
                    position,
                    partial,
                    source,
                    ..
                } = error
                else {
                    return;
                };
                out.counts.archive_errors += 1;
                // A record cut short counts as read and rejected; an archive that ends between
                // records lost nothing we could count, and is reported as an archive error.
                let reason = match (too_large, partial.is_empty()) {
                    (true, _) => "object_too_large",
                    (false, true) => "truncated_archive",
                    (false, false) => "truncated_record",
                };
                if !partial.is_empty() {
                    out.counts.records_read += 1;
                    out.counts.reject(reason);
                }
                out.rejects.push(Reject::new(
                    reason,
                    if too_large {
                        format!("object read up to here: {source} (--max-object-mib)")
                    } else {
                        format!("archive unreadable from here on: {source}")
                    },
                    &key.key,
                    &position,
                    partial.len() as u64,
                    &partial,
                ));
            }
        },
    );
    out.counts.stored_bytes = stats.stored_bytes;
    out.counts.decoded_bytes = stats.decoded_bytes;
    out.counts.other_tar_members = stats.other_members;
    out.counts.yaml_reports = stats.yaml_members;
    out
}

fn process_record(
    key: &ArchiveKey,
    record: &ooni_source::Record,
    plan: &RunPlan,
    out: &mut ArchiveOutput,
) {
    let uid = record.position.archive_uid();
    let reject = |out: &mut ArchiveOutput, reason: &str, detail: String| {
        out.counts.reject(reason);
        out.rejects.push(Reject::new(
            reason,
            detail,
            &key.key,
            &record.position,
            record.bytes.len() as u64,
            &record.bytes,
        ));
    };
    // A bug on one odd measurement must not take the run down: it becomes a reject.
    let outcome = match catch_unwind(AssertUnwindSafe(|| normalize(&record.bytes, uid))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            reject(out, "panic", panic_message(&panic));
            return;
        }
    };
    let normalized = match outcome {
        Ok(Outcome::Measurement(n)) => n,
        Ok(Outcome::Skipped(skip)) => {
            out.counts.skip(skip.as_str());
            return;
        }
        Err(e) => {
            reject(out, e.reason(), e.to_string());
            return;
        }
    };
    let Normalized {
        row,
        judgement,
        observations,
        outcomes,
    } = *normalized;
    let cc = row.probe_cc.as_deref().unwrap_or("");
    if (!key.mixes_countries() && cc != key.probe_cc)
        || compact_test_name(&row.test_name) != key.test_name
    {
        out.counts.key_body_mismatches += 1;
    }
    if !plan.selection.wants_measurement(cc, &row.test_name) {
        out.counts.skip("other_country_or_test");
        out.filter_left_out = true;
        return;
    }
    if !plan.selection.contains_day(row.measurement_day) {
        out.counts.skip("outside_days");
        out.days_left_out.insert(row.measurement_day);
        return;
    }
    out.counts.measurements += 1;
    out.measured.push(Measured {
        row,
        judgement,
        provenance: Provenance {
            source_key: key.key.clone(),
            source_line: record.position.line(),
            source_member: record.position.member().map(str::to_owned),
        },
        observations,
        outcomes,
    });
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

type Partitions = BTreeMap<(String, chrono::NaiveDate), Vec<Measured>>;

/// Keeps one copy of each measurement (same content identity), preferring OONI's own uid,
/// then the first by key and position, so the result does not depend on thread timing;
/// groups by partition and sorts each partition by time and uid.
fn deduplicate(mut measured: Vec<Measured>) -> (Partitions, u64) {
    measured.sort_by(|a, b| {
        (&a.row.content_id, a.row.uid_source.rank(), &a.provenance).cmp(&(
            &b.row.content_id,
            b.row.uid_source.rank(),
            &b.provenance,
        ))
    });
    let before = measured.len() as u64;
    measured.dedup_by(|later, first| later.row.content_id == first.row.content_id);
    let duplicates = before - measured.len() as u64;
    let mut partitions: Partitions = BTreeMap::new();
    for m in measured {
        partitions
            .entry((m.row.test_name.clone(), m.row.measurement_day))
            .or_default()
            .push(m);
    }
    for rows in partitions.values_mut() {
        rows.sort_by(|a, b| {
            (a.row.measurement_start_time, &a.row.measurement_uid)
                .cmp(&(b.row.measurement_start_time, &b.row.measurement_uid))
        });
    }
    (partitions, duplicates)
}

/// The per-measurement tables, each partitioned by test and day.
const PARTITIONED_TABLES: [(&str, BatchFn); 3] = [
    ("measurements", ooni_parquet::measurements_batch),
    ("observations", ooni_parquet::observations_batch),
    ("outcomes", ooni_parquet::outcomes_batch),
];

type BatchFn =
    fn(&[&Measured]) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError>;

/// Writes each partition's new rows to `_staging/<run>/…/part-<run>-<batch>.parquet`; returns
/// (staged file, path relative to the output directory once committed).
fn write_partitions(
    out: &Path,
    run_id: &str,
    batch_no: usize,
    partitions: &Partitions,
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let staging = out.join("_staging").join(run_id);
    let staged = Mutex::new(Vec::new());
    partitions
        .par_iter()
        .try_for_each(|((test_name, day), rows)| -> anyhow::Result<()> {
            let refs: Vec<&Measured> = rows.iter().collect();
            for (table, build) in PARTITIONED_TABLES {
                let batch = build(&refs)?;
                if batch.num_rows() == 0 {
                    continue; // tests without observations
                }
                let dir = ooni_parquet::partition_dir(out, table, test_name, *day)?;
                let rel = format!(
                    "{}/part-{run_id}-{batch_no:04}.parquet",
                    state::relative(out, &dir)
                );
                let path = staging.join(&rel);
                ooni_parquet::write_file_atomically(&path, &[batch])?;
                pause::step(pause::Phase::Write);
                staged
                    .lock()
                    .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?
                    .push((path, rel));
            }
            Ok(())
        })?;
    let mut staged = staged
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?;
    staged.sort();
    Ok(staged)
}

fn write_summary(out: &Path, summary: &RunSummary) -> anyhow::Result<PathBuf> {
    let dir = out.join("_runs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.json", summary.run_id));
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(summary)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(path)
}

/// Progress on stderr: a bar on a terminal, a log line every few seconds otherwise
/// (cron, Kubernetes and Airflow logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: AtomicU64,
    bytes: AtomicU64,
    records: AtomicU64,
    last_log: Mutex<Instant>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} archives {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            total,
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            records: AtomicU64::new(0),
            last_log: Mutex::new(Instant::now()),
        }
    }

    fn advance(&self, bytes: u64, records: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let records = self.records.fetch_add(records, Ordering::Relaxed) + records;
        let msg = format!("{} read, {records} records", human_bytes(bytes));
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(msg);
        } else if let Ok(mut last) = self.last_log.lock()
            && (last.elapsed() >= Duration::from_secs(10) || done == self.total)
        {
            *last = Instant::now();
            log(&format!("read {done}/{} archives, {msg}", self.total));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A log line on stderr.
pub fn log(message: &str) {
    eprintln!("[ooni-pipeline] {message}");
}

/// `1234567` → `1.2 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
