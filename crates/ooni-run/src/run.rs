//! `ooni-pipeline run`: lock → reconcile the state → list → read and normalize in parallel,
//! batch by batch → drop duplicates → stage → commit the batch → aggregate → summarize.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use chrono::NaiveDate;
use ooni_model::Table;
use ooni_parquet::Measured;
use ooni_source::{ArchiveKey, ObjectMeta, Store, Twins};
use rayon::prelude::*;

use crate::error::IoContext;
use crate::lock::Lock;
use crate::read::{ArchiveOutput, process_archive};
use crate::rejects::RejectWriter;
use crate::remote::Remote;
use crate::seen::{PartitionKey, Seen, SeenIds, id_key};
use crate::state::{self, Manifest, Scope};
use crate::summary::{Conservation, Counts, Fallback, Requests, RetryLater, RunSummary};
use crate::{Event, Observer, RunError, RunPlan};

/// Runs the whole job; returns the summary (also written to `DIR/_runs/<run_id>.json`).
///
/// A stop the observer requests ends the run after its last committed batch, with
/// `summary.interrupted` set. Bad records never make this fail: they are counted,
/// quarantined in `DIR/rejects/`, and the run goes on.
pub fn run(
    plan: &RunPlan,
    store: &dyn Store,
    observer: &dyn Observer,
) -> Result<RunSummary, RunError> {
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let scope = plan.shard.map_or(Scope::Whole, Scope::Shard);
    let run_id = new_run_id(now, scope);
    let (run_id, started_at) = (run_id.as_str(), now.to_rfc3339());
    let mut seconds = BTreeMap::new();
    let started = Instant::now();
    check_mode(&plan.out, scope)?;
    let note = |message: &str| observer.event(Event::Note(message));
    let (lock, stale_lock) =
        Lock::acquire(&scope.state_dir(&plan.out), run_id, &started_at, &note)?;
    if let Some(stale) = &stale_lock {
        note(stale);
    }
    let remote = open_remote(plan, scope, run_id, &started_at, &note)?;
    let remote = remote.as_ref();
    check_mode(&plan.out, scope)?;
    if plan.full_refresh {
        let removed = state::full_refresh(&plan.out, scope)?;
        note(&format!(
            "--full-refresh: removed the {removed} files this pipeline wrote; everything else in {} is left as it was",
            plan.out.display()
        ));
    }
    let mut manifest = Manifest::load(&plan.out, scope)?;
    let repairs = manifest.reconcile(&plan.out, scope, remote.is_some())?;
    if repairs.uncommitted_removed > 0 {
        note(&format!(
            "removed {} files an interrupted run left uncommitted; its objects are read again",
            repairs.uncommitted_removed
        ));
    }
    for missing in &repairs.missing_files {
        note(&format!(
            "{missing} is listed in the manifest but gone: its batch's files are removed and {} objects of that run are read again",
            repairs.objects_to_reread
        ));
    }
    manifest.last_run = Some(state::LastRun {
        run_id: run_id.to_owned(),
        finished: false,
        days: format!("{}..{}", plan.selection.since, plan.selection.until),
    });
    manifest.save(&plan.out, scope)?;
    if let Some(remote) = remote {
        remote.push(&plan.out, &manifest, &[], observer)?;
    }
    // Files other shards committed: a measurement whose (country, test) moved to this shard
    // since must still be recognised as written.
    let others = other_scopes_files(&plan.out, scope);

    let inventory = ooni_source::inventory_with_progress(store, &plan.selection, &mut |p| {
        observer.event(Event::Listing {
            prefixes_done: p.prefixes_done,
            prefixes_total: p.prefixes_total,
            objects_found: p.objects_found,
        });
    })
    .map_err(|source| RunError::Listing {
        location: store.location(),
        source,
    })?;
    if !inventory.symlinks_ignored.is_empty() {
        note(&format!(
            "ignored {} symbolic links in the source (never followed), e.g. {}",
            inventory.symlinks_ignored.len(),
            inventory.symlinks_ignored[0]
        ));
    }
    let archives_listed = inventory.archives.len() as u64;
    let bytes_listed = inventory.archives.iter().map(|(o, _)| o.size).sum();
    let listed: BTreeMap<String, ObjectMeta> = inventory
        .archives
        .iter()
        .map(|(o, k)| (k.key.clone(), o.clone()))
        .collect();
    let keys: Vec<ArchiveKey> = inventory.archives.iter().map(|(_, k)| k.clone()).collect();
    let mut twins = ooni_source::pair_twins(keys);
    let mut shard_plan = None;
    if let Some(shard) = plan.shard {
        let (mine, stats) = crate::shards::assign(twins, &listed, shard);
        note(&format!(
            "shard {shard}: {} of {} (country, test) units, {} of {} listed",
            stats.units_mine,
            stats.units_total,
            human_bytes(stats.bytes_mine),
            human_bytes(stats.bytes_total)
        ));
        twins = mine;
        shard_plan = Some(stats);
    }
    let filter = filter_tag(plan);
    let (todo, already_processed): (Vec<Twins>, Vec<Twins>) = twins.into_iter().partition(|t| {
        needs_reading(
            manifest.objects.get(&t.chosen.key),
            &listed[&t.chosen.key],
            plan,
            &filter,
        )
    });
    seconds.insert("list".to_owned(), started.elapsed().as_secs_f64());
    note(&format!(
        "listed {archives_listed} archives ({}) in {} ({} LIST calls); {} new objects to read, {} already processed",
        human_bytes(bytes_listed),
        store.location(),
        inventory.list_calls,
        todo.len(),
        already_processed.len()
    ));

    // Archives are read in batches of bounded size, each batch committed before the next is
    // read, so memory stays bounded however many days a run covers and a stopped run keeps
    // what it committed. raw/ archives come first (the keys are sorted by layout), so OONI's
    // postcan uid wins over a jsonl/ copy of the same measurement even across batches.
    let read_started = Instant::now();
    observer.event(Event::ReadStarted {
        archives: todo.len() as u64,
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.jobs)
        .build()
        .map_err(|e| RunError::Workers(format!("starting worker threads: {e}")))?;
    let mut totals = Totals::default();
    let mut write_seconds = 0.0;
    let mut interrupted = None;
    for (batch_no, batch) in batches(&todo, &listed, plan.batch_bytes)
        .into_iter()
        .enumerate()
    {
        if let Some(reason) = observer.stop_requested() {
            interrupted = Some(reason);
            break;
        }
        let rejects = RejectWriter::new(&plan.out, run_id, batch_no);
        let read = read_batch(store, batch, &listed, plan, &pool, &rejects, observer)?;
        if let Some(reason) = observer.stop_requested() {
            // Abandon the batch: nothing of it was committed, and its objects are read
            // again by the next run.
            remove_staging(&plan.out, run_id)?;
            interrupted = Some(reason);
            break;
        }
        let write_started = Instant::now();
        let context = BatchContext {
            out: &plan.out,
            scope,
            run_id,
            batch_no,
            listed: &listed,
            filter: &filter,
            others: &others,
            remote,
            observer,
        };
        // In the run's pool, like the reading: `--jobs` bounds the threads of the whole run.
        let staged =
            pool.install(|| stage_batch(&context, &manifest, read, rejects, &mut totals))?;
        lock.check()?;
        commit_batch(&context, &mut manifest, staged, &mut totals)?;
        write_seconds += write_started.elapsed().as_secs_f64();
    }
    observer.event(Event::ReadFinished);
    remove_staging(&plan.out, run_id)?;
    seconds.insert(
        "read".to_owned(),
        read_started.elapsed().as_secs_f64() - write_seconds,
    );
    seconds.insert("write".to_owned(), write_seconds);

    let mut aggregated_days = 0;
    let mut worst_cells = Vec::new();
    if let Some(signal) = interrupted {
        note(&format!(
            "stopped by {signal}: {} batches committed, the batch being read was abandoned; the next run reads its objects and aggregates the days touched",
            totals.batches_committed
        ));
    } else if let Some(shard) = plan.shard {
        note(&format!(
            "shard {shard} committed; `ooni-pipeline aggregate --out {}` builds the aggregates once every shard has",
            plan.out.display()
        ));
    } else {
        let aggregate_started = Instant::now();
        aggregated_days = manifest.stale_aggregate_days.len() as u64;
        lock.check()?;
        let inputs = manifest.files.clone();
        if let Some(remote) = remote {
            remote.ensure(
                &plan.out,
                crate::tables::aggregation_reads(&inputs, &manifest),
            )?;
        }
        let window = (plan.selection.since, plan.selection.until);
        let aggregates = crate::tables::aggregate_stale_days(
            &plan.out,
            scope,
            run_id,
            &inputs,
            &mut manifest,
            window,
            observer,
        )?;
        if let Some(remote) = remote {
            remote.push(&plan.out, &manifest, &aggregates.files, observer)?;
        }
        totals.written_files.extend(aggregates.files);
        worst_cells = aggregates.worst_cells;
        seconds.insert(
            "aggregate".to_owned(),
            aggregate_started.elapsed().as_secs_f64(),
        );
    }
    if let Some(last) = manifest.last_run.as_mut() {
        last.finished = interrupted.is_none();
    }
    manifest.save(&plan.out, scope)?;
    if let Some(remote) = remote {
        remote.push(&plan.out, &manifest, &[], observer)?;
    }
    seconds.insert("total".to_owned(), started.elapsed().as_secs_f64());

    let stats = store.request_stats();
    let duplicates = totals.duplicates_in_run + totals.already_in_output;
    let conservation = Conservation::check(&totals.counts, totals.measurements, duplicates);
    let summary = RunSummary {
        run_id: run_id.to_owned(),
        version: env!("CARGO_PKG_VERSION"),
        source: store.location(),
        since: plan.selection.since.to_string(),
        until: plan.selection.until.to_string(),
        late_upload_days: plan.selection.late_upload_days,
        first_accepted_day: plan.first_accepted_day().to_string(),
        shard: plan.shard.map(|s| s.to_string()),
        shard_plan,
        probe_cc: plan.selection.probe_cc.iter().cloned().collect(),
        test_names: plan.selection.test_names.iter().cloned().collect(),
        out: remote.map_or_else(|| plan.out.display().to_string(), Remote::location),
        work_dir: remote.map(|_| plan.out.display().to_string()),
        files_downloaded: remote.map_or(0, Remote::downloaded),
        jobs: plan.jobs,
        archives_listed,
        bytes_listed,
        twins_skipped: totals.twins_listed - totals.fallbacks.len() as u64,
        twins_fallback: totals.fallbacks,
        new_objects: todo.len() as u64,
        already_processed_objects: already_processed.len() as u64,
        uncommitted_files_removed: repairs.uncommitted_removed,
        missing_files_repaired: repairs.missing_files,
        stale_lock,
        skipped_archives: inventory.skipped.len() as u64,
        unrecognized_keys: inventory.unrecognized.len() as u64,
        unrecognized_examples: inventory
            .unrecognized
            .iter()
            .take(5)
            .map(|e| e.key.clone())
            .collect(),
        symlinks_ignored: inventory.symlinks_ignored.len() as u64,
        symlink_examples: inventory.symlinks_ignored.iter().take(5).cloned().collect(),
        requests: Requests {
            list: stats.list_calls,
            get: stats.get_calls,
            retries: stats.retries,
            resumed_bytes: stats.resumed_bytes,
        },
        counts: totals.counts,
        measurements_written: totals.measurements,
        duplicates_in_run: totals.duplicates_in_run,
        already_in_output: totals.already_in_output,
        observations_written: totals.observations,
        ooni_dropped: totals.ooni_dropped,
        retry_later: totals.retry_later,
        rejects_not_stored: totals.rejects_not_stored,
        batches_committed: totals.batches_committed,
        files_written: totals.written_files.len() as u64,
        rejects_files: totals
            .written_files
            .iter()
            .filter(|f| matches!(state::classify(f), Some(state::Owned::Rejects)))
            .map(|f| plan.out.join(f).display().to_string())
            .collect(),
        written_files: totals.written_files,
        aggregated_days,
        conservation,
        seconds,
        interrupted: interrupted.map(str::to_owned),
        peak_rss_bytes: peak_rss_bytes(),
        worst_cells,
    };
    let summary_path = write_summary(&plan.out, &summary)?;
    if let Some(remote) = remote {
        remote.upload(&plan.out, &state::relative(&plan.out, &summary_path))?;
    }
    drop(lock);
    Ok(summary)
}

/// What one batch read: the archives' outputs, by key.
struct BatchRead {
    outputs: Vec<(ArchiveKey, ArchiveOutput)>,
    fallbacks: Vec<Fallback>,
    twins_listed: u64,
}

/// Reads a batch's archives in parallel; a chosen twin that turns out damaged is followed
/// by a read of its sibling. Each archive's rejects go to the batch's file as it finishes.
fn read_batch(
    store: &dyn Store,
    batch: &[Twins],
    listed: &BTreeMap<String, ObjectMeta>,
    plan: &RunPlan,
    pool: &rayon::ThreadPool,
    rejects: &RejectWriter,
    observer: &dyn Observer,
) -> Result<BatchRead, RunError> {
    let read_all = |keys: Vec<&ArchiveKey>| -> Result<Vec<(ArchiveKey, ArchiveOutput)>, RunError> {
        pool.install(|| {
            keys.par_iter()
                .map(|key| {
                    if observer.stop_requested().is_some() {
                        return Ok(None);
                    }
                    let out = process_archive(store, key, listed[&key.key].size, plan);
                    if out.retry_later.is_none() {
                        rejects.write(&key.key, &out.rejects)?;
                    }
                    observer.event(Event::ArchiveRead {
                        key: &key.key,
                        stored_bytes: out.counts.stored_bytes,
                        records: out.counts.records_read,
                    });
                    Ok(Some(((*key).clone(), out)))
                })
                .filter_map(Result::transpose)
                .collect()
        })
    };
    let mut outputs = read_all(batch.iter().map(|t| &t.chosen).collect())?;
    let alternatives: HashMap<&str, &ArchiveKey> = batch
        .iter()
        .filter_map(|t| Some((t.chosen.key.as_str(), t.alternative.as_ref()?)))
        .collect();
    let mut fallbacks = Vec::new();
    let second: Vec<&ArchiveKey> = outputs
        .iter()
        .filter(|(_, out)| out.damaged)
        .filter_map(|(key, _)| {
            let alternative = alternatives.get(key.key.as_str())?;
            fallbacks.push(Fallback {
                damaged: key.key.clone(),
                read_instead: alternative.key.clone(),
            });
            Some(*alternative)
        })
        .collect();
    for fallback in &fallbacks {
        observer.event(Event::Note(&format!(
            "{} is damaged: reading its twin {} too",
            fallback.damaged, fallback.read_instead
        )));
    }
    outputs.extend(read_all(second)?);
    Ok(BatchRead {
        outputs,
        fallbacks,
        twins_listed: alternatives.len() as u64,
    })
}

/// A batch's files in the staging area, ready to be committed.
struct StagedBatch {
    files: Vec<(PathBuf, String)>,
    objects: BTreeMap<String, state::ObjectRecord>,
    days: BTreeSet<String>,
}

/// Where a batch is written, and what the manifest needs to know about its objects.
struct BatchContext<'a> {
    out: &'a Path,
    scope: Scope,
    run_id: &'a str,
    batch_no: usize,
    listed: &'a BTreeMap<String, ObjectMeta>,
    filter: &'a str,
    /// Partition files committed by other scopes (other shards).
    others: &'a BTreeSet<String>,
    /// The bucket that holds the output, when it is remote.
    remote: Option<&'a Remote>,
    /// Who follows the run.
    observer: &'a dyn Observer,
}

/// Drops duplicates (within the run and against committed files), writes the batch's
/// partitions to the staging area and notes what the manifest will record.
fn stage_batch(
    context: &BatchContext<'_>,
    manifest: &Manifest,
    read: BatchRead,
    rejects: RejectWriter,
    totals: &mut Totals,
) -> Result<StagedBatch, RunError> {
    // The rows stay where each archive's reader put them; the batch is staged over
    // references (moving ≈600-byte rows into new vectors cost fresh pages and copies).
    let mut measured = Vec::with_capacity(read.outputs.len());
    let mut objects = BTreeMap::new();
    for (key, output) in read.outputs {
        if let Some(error) = output.retry_later {
            context.observer.event(Event::Note(&format!(
                "could not read {}: {error}; the next run tries again",
                key.key
            )));
            totals.retry_later.push(RetryLater {
                key: key.key.clone(),
                error,
            });
            continue;
        }
        let meta = &context.listed[&key.key];
        objects.insert(
            key.key.clone(),
            state::ObjectRecord {
                size: meta.size,
                etag: meta.etag.clone(),
                run_id: context.run_id.to_owned(),
                days_left_out: output
                    .days_left_out
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                filter_left_out: output.filter_left_out.then(|| context.filter.to_owned()),
            },
        );
        totals.rejects_not_stored += output.rejects.not_kept();
        totals.counts += output.counts;
        measured.push(output.measured);
    }
    totals.fallbacks.extend(read.fallbacks);
    totals.twins_listed += read.twins_listed;
    let (mut partitions, duplicates) = deduplicate(measured.iter().flatten().collect());
    totals.duplicates_in_run += duplicates;
    let (in_run, in_output) =
        drop_seen(context, &manifest.files, &mut partitions, &mut totals.seen)?;
    totals.duplicates_in_run += in_run;
    totals.already_in_output += in_output;
    let mut days = BTreeSet::new();
    for (key, rows) in &partitions {
        days.insert(key.1.to_string());
        for m in rows {
            totals.seen.add_written(key, id_key(&m.row.content_id));
            totals.measurements += 1;
            totals.observations += m.observations.len() as u64;
            if let Some(reason) = &m.judgement.ooni_drop_reason {
                // Looked up before inserting: most rows repeat a reason already counted.
                match totals.ooni_dropped.get_mut(reason) {
                    Some(count) => *count += 1,
                    None => {
                        totals.ooni_dropped.insert(reason.clone(), 1);
                    }
                }
            }
        }
    }
    let mut files = write_partitions(context, &partitions)?;
    files.extend(rejects.finish()?);
    drop(partitions);
    // Freeing a batch's rows (millions of strings allocated on the reader threads) took
    // the main thread ≈0.3 s over the benchmark archive's four batches, the other core
    // idle; it now runs beside the commit and the next batch's reading.
    rayon::spawn(move || drop(measured));
    Ok(StagedBatch {
        files,
        objects,
        days,
    })
}

/// Commits a staged batch: names its files in a pending list, moves them into place, and
/// records them and the batch's objects in the manifest (the commit point).
fn commit_batch(
    context: &BatchContext<'_>,
    manifest: &mut Manifest,
    staged: StagedBatch,
    totals: &mut Totals,
) -> Result<(), RunError> {
    let (out, run_id) = (context.out, context.run_id);
    let pending = state::pending_path(out, context.scope, run_id, context.batch_no);
    let finals: Vec<&String> = staged.files.iter().map(|(_, rel)| rel).collect();
    state::write_atomically(&pending, &serde_json::to_vec(&finals)?)?;
    for (staged_path, final_rel) in &staged.files {
        let final_path = out.join(final_rel);
        if let Some(dir) = final_path.parent() {
            std::fs::create_dir_all(dir).at("creating", dir)?;
        }
        std::fs::rename(staged_path, &final_path)
            .at(&format!("moving {} to", staged_path.display()), &final_path)?;
        context
            .observer
            .event(Event::FileCommitted { path: &final_path });
    }
    manifest
        .files
        .extend(staged.files.iter().map(|(_, rel)| rel.clone()));
    manifest.objects.extend(staged.objects);
    manifest.stale_aggregate_days.extend(staged.days);
    if manifest.runs.last().map(String::as_str) != Some(run_id) {
        manifest.runs.push(run_id.to_owned());
    }
    manifest.save(out, context.scope)?;
    if let Some(remote) = context.remote {
        let written: Vec<String> = staged.files.iter().map(|(_, rel)| rel.clone()).collect();
        remote.push(out, manifest, &written, context.observer)?;
    }
    std::fs::remove_file(&pending).at("removing", &pending)?;
    // Only now: a partition forgotten here is read back from files the manifest lists.
    totals.seen.shrink();
    totals.batches_committed += 1;
    totals
        .written_files
        .extend(staged.files.into_iter().map(|(_, rel)| rel));
    Ok(())
}

fn remove_staging(out: &Path, run_id: &str) -> Result<(), RunError> {
    let dir = out.join("_staging").join(run_id);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at("removing", &dir),
        _ => {
            let _ = std::fs::remove_dir(out.join("_staging"));
            Ok(())
        }
    }
}

/// Takes the remote output's lease and syncs the local directory with it, when the output
/// is remote; tells the operator what the sync found.
fn open_remote(
    plan: &RunPlan,
    scope: Scope,
    run_id: &str,
    started_at: &str,
    note: &dyn Fn(&str),
) -> Result<Option<Remote>, RunError> {
    let Some(store) = &plan.remote else {
        return Ok(None);
    };
    let (remote, synced) = Remote::open(
        std::sync::Arc::clone(store),
        &plan.out,
        scope,
        run_id,
        started_at,
        plan.full_refresh,
        note,
    )?;
    if let Some(stale) = &synced.stale_lease {
        note(stale);
    }
    if synced.orphans_removed > 0 {
        note(&format!(
            "removed {} files an interrupted run left uncommitted in {}",
            synced.orphans_removed,
            remote.location()
        ));
    }
    if synced.local_replaced {
        note(&format!(
            "{} did not hold {}'s state: replaced it with the bucket's (files are downloaded when read)",
            plan.out.display(),
            remote.location()
        ));
    }
    Ok(Some(remote))
}

/// An unsharded run and shards never share an output directory: their files would not
/// know of each other.
fn check_mode(out: &Path, scope: Scope) -> Result<(), RunError> {
    let plans = state::shard_plans(out);
    match scope {
        Scope::Whole if !plans.is_empty() => Err(crate::RunError::refused(format!(
            "{} holds the output of a sharded run ({} shards): run with --shard I/N and then \
             `ooni-pipeline aggregate`, or use another output directory",
            out.display(),
            state::plan_sizes(&plans)
        ))),
        Scope::Shard(_) if out.join("_state/manifest.json").is_file() => {
            Err(crate::RunError::refused(format!(
                "{} holds the output of an unsharded run: shard into another output directory",
                out.display()
            )))
        }
        _ => Ok(()),
    }
}

/// The partition files other shards of this output committed (none for a whole output).
fn other_scopes_files(out: &Path, scope: Scope) -> BTreeSet<String> {
    let Scope::Shard(me) = scope else {
        return BTreeSet::new();
    };
    let mut files = BTreeSet::new();
    for (count, indices) in state::shard_plans(out) {
        for index in indices {
            let other = state::Shard { index, count };
            if other == me {
                continue;
            }
            if let Ok(m) = Manifest::load(out, Scope::Shard(other)) {
                files.extend(m.files);
            }
        }
    }
    files
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
        .any(|day| ooni_source::parse_day(day).is_some_and(|d| plan.accepts_day(d)));
    let other_filter = record
        .filter_left_out
        .as_deref()
        .is_some_and(|f| f != filter);
    wants_left_out_day || other_filter
}

/// What a run has done so far, summed over its batches.
#[derive(Default)]
struct Totals {
    counts: Counts,
    measurements: u64,
    observations: u64,
    duplicates_in_run: u64,
    already_in_output: u64,
    ooni_dropped: BTreeMap<String, u64>,
    retry_later: Vec<RetryLater>,
    fallbacks: Vec<Fallback>,
    twins_listed: u64,
    rejects_not_stored: u64,
    batches_committed: u64,
    written_files: Vec<String>,
    seen: SeenIds,
}

/// Splits the work into batches of at most `max_bytes` listed (stored) bytes each.
fn batches<'a>(
    todo: &'a [Twins],
    listed: &BTreeMap<String, ObjectMeta>,
    max_bytes: u64,
) -> Vec<&'a [Twins]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, twins) in todo.iter().enumerate() {
        let size = listed[&twins.chosen.key].size;
        if i > start && bytes + size > max_bytes {
            out.push(&todo[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < todo.len() {
        out.push(&todo[start..]);
    }
    out
}

/// Drops measurements whose partition already holds their content id: late uploads,
/// re-read objects and copies met in an earlier batch never add duplicates. Returns how many
/// were written earlier in this run, and how many were in the output before it.
fn drop_seen(
    context: &BatchContext<'_>,
    files: &BTreeSet<String>,
    partitions: &mut Partitions<'_>,
    seen: &mut SeenIds,
) -> Result<(u64, u64), RunError> {
    let (out, others) = (context.out, context.others);
    let this_run = format!("/part-{}-", context.run_id);
    let (mut in_run, mut in_output) = (0, 0);
    for (key, rows) in partitions.iter_mut() {
        let (test_name, day) = key;
        if !seen.holds(key) {
            let dir =
                ooni_parquet::partition_dir(out, Table::Measurements.as_str(), test_name, *day)
                    .map_err(|source| {
                        parquet_error(format!("measurements of {test_name}"), source)
                    })?;
            let prefix = format!("{}/", state::relative(out, &dir));
            let partition: Vec<&String> = files
                .iter()
                .chain(others.iter())
                .filter(|f| f.starts_with(&prefix))
                .collect();
            if let Some(remote) = context.remote {
                remote.ensure(out, partition.iter().copied())?;
            }
            let (mut committed, mut written) = (HashSet::new(), HashSet::new());
            for file in partition {
                let ids = if file.contains(&this_run) {
                    &mut written
                } else {
                    &mut committed
                };
                ooni_parquet::for_each_string(&out.join(file), "content_id", |id| {
                    ids.insert(id_key(id));
                })
                .map_err(|source| {
                    parquet_error(format!("reading the content ids of {file}"), source)
                })?;
            }
            seen.load(key.clone(), committed, written);
        }
        rows.retain(|m| match seen.seen(key, id_key(&m.row.content_id)) {
            Some(Seen::Written) => {
                in_run += 1;
                false
            }
            Some(Seen::Committed) => {
                in_output += 1;
                false
            }
            None => true,
        });
    }
    partitions.retain(|_, rows| !rows.is_empty());
    Ok((in_run, in_output))
}

type Partitions<'a> = BTreeMap<PartitionKey, Vec<&'a Measured>>;

/// Keeps one copy of each measurement (same content identity), preferring OONI's own uid,
/// then the first by key and position, so the result does not depend on thread timing;
/// groups by partition and sorts each partition by time and uid.
///
/// Both sorts run over keys copied next to each reference: comparing the rows through
/// their references missed the cache at every step, on the main thread while the other
/// cores waited (≈5% of the job's CPU on the benchmark archive).
fn deduplicate(measured: Vec<&Measured>) -> (Partitions<'_>, u64) {
    let before = measured.len() as u64;
    let mut by_id: Vec<(u128, &Measured)> = measured
        .into_par_iter()
        .map(|m| (id_key(&m.row.content_id), m))
        .collect();
    // Equal digests are equal ids (or, for text that is not a digest, a collision the
    // string comparison then tells apart); only copies of one measurement reach the rest.
    by_id.par_sort_unstable_by(|(a_key, a), (b_key, b)| {
        a_key.cmp(b_key).then_with(|| {
            (&a.row.content_id, a.row.uid_source.rank(), &a.provenance).cmp(&(
                &b.row.content_id,
                b.row.uid_source.rank(),
                &b.provenance,
            ))
        })
    });
    by_id.dedup_by(|(_, later), (_, first)| later.row.content_id == first.row.content_id);
    let duplicates = before - by_id.len() as u64;
    let mut grouped: BTreeMap<(&str, NaiveDate), Vec<_>> = BTreeMap::new();
    for (_, m) in by_id {
        let row = &m.row;
        grouped
            .entry((row.test_name.as_str(), row.measurement_day))
            .or_default()
            .push((row.measurement_start_time, row.measurement_uid.as_str(), m));
    }
    let partitions = grouped
        .into_par_iter()
        .map(|((test_name, day), mut rows)| {
            rows.sort_unstable_by(|(a_time, a_uid, a), (b_time, b_uid, b)| {
                (a_time, a_uid)
                    .cmp(&(b_time, b_uid))
                    .then_with(|| a.row.content_id.cmp(&b.row.content_id))
            });
            let rows = rows.into_iter().map(|(_, _, m)| m).collect();
            ((test_name.to_owned(), day), rows)
        })
        .collect();
    (partitions, duplicates)
}

/// The per-measurement tables, each partitioned by test and day.
pub(crate) const PARTITIONED_TABLES: [(Table, BatchFn); 3] = [
    (Table::Measurements, ooni_parquet::measurements_batch),
    (Table::Observations, ooni_parquet::observations_batch),
    (Table::Outcomes, ooni_parquet::outcomes_batch),
];

pub(crate) type BatchFn =
    fn(&[&Measured]) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError>;

/// Writes each partition's new rows to `_staging/<run>/…/part-<run>-<batch>.parquet`; returns
/// (staged file, path relative to the output directory once committed).
fn write_partitions(
    context: &BatchContext<'_>,
    partitions: &Partitions<'_>,
) -> Result<Vec<(PathBuf, String)>, RunError> {
    let (out, run_id, batch_no) = (context.out, context.run_id, context.batch_no);
    let staging = out.join("_staging").join(run_id);
    let staged = Mutex::new(Vec::new());
    let panicked = || RunError::Workers("a writer thread panicked".to_owned());
    // One task per (partition, table): a day's web_connectivity partition dwarfs the
    // others, and its three tables then go to different cores.
    let tasks: Vec<_> = partitions
        .iter()
        .flat_map(|(key, rows)| PARTITIONED_TABLES.map(|table| (key, rows, table)))
        .collect();
    tasks.into_par_iter().try_for_each(
        |((test_name, day), rows, (table, build))| -> Result<(), RunError> {
            let batch = build(rows).map_err(|source| RunError::Arrow {
                table: table.as_str(),
                source,
            })?;
            if batch.num_rows() == 0 {
                return Ok(()); // tests without observations
            }
            let dir = ooni_parquet::partition_dir(out, table.as_str(), test_name, *day)
                .map_err(|source| parquet_error(format!("{table} of {test_name}"), source))?;
            let rel = format!(
                "{}/part-{run_id}-{batch_no:04}.parquet",
                state::relative(out, &dir)
            );
            let path = staging.join(&rel);
            ooni_parquet::write_file_atomically(&path, &[batch])
                .map_err(|source| parquet_error(format!("staging {rel}"), source))?;
            context.observer.event(Event::FileStaged { path: &path });
            staged.lock().map_err(|_| panicked())?.push((path, rel));
            Ok(())
        },
    )?;
    let mut staged = staged.into_inner().map_err(|_| panicked())?;
    staged.sort();
    Ok(staged)
}

fn write_summary(out: &Path, summary: &RunSummary) -> Result<PathBuf, RunError> {
    let path = out.join("_runs").join(format!("{}.json", summary.run_id));
    state::write_atomically(&path, &serde_json::to_vec_pretty(summary)?)?;
    Ok(path)
}

/// A run's id: its start, its scope's tag and random digits
/// (`20201021T030000Z-5a0c3e1f`, `…-s2of4-…` for a shard, `…-agg…` for a fan-in).
pub(crate) fn new_run_id(now: chrono::DateTime<chrono::Utc>, scope: Scope) -> String {
    format!(
        "{}-{}{}",
        now.format("%Y%m%dT%H%M%SZ"),
        scope.tag_prefix(),
        crate::lock::random_tag()
    )
}

fn parquet_error(what: String, source: ooni_parquet::WriteError) -> RunError {
    RunError::Parquet { what, source }
}

/// This process's peak resident memory, from the kernel (`VmHWM`), when known.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::{fixture_rows, write_as_run};
    use ooni_model::UidSource;

    #[test]
    fn deduplicate_keeps_the_preferred_copy_and_sorts_each_partition_by_time_and_uid() {
        let originals = fixture_rows();
        // A second copy of every measurement, as a jsonl/ can would give it: OONI's
        // trivial id rather than its uid, read from a key that sorts after every other.
        let copies: Vec<Measured> = originals
            .iter()
            .map(|m| {
                let mut copy = m.clone();
                copy.row.uid_source = UidSource::TrivialId;
                copy.row.measurement_uid = format!("copy-{}", m.row.measurement_uid);
                copy.provenance.source_key = "~later".to_owned();
                copy
            })
            .collect();
        let distinct: HashSet<&str> = originals
            .iter()
            .map(|m| m.row.content_id.as_str())
            .collect();
        // Copies first, so the input order alone would keep them.
        let batch: Vec<&Measured> = copies.iter().chain(originals.iter().rev()).collect();
        let (partitions, duplicates) = deduplicate(batch);

        let kept: Vec<&Measured> = partitions.values().flatten().copied().collect();
        assert_eq!(kept.len(), distinct.len());
        assert_eq!(duplicates as usize, originals.len() * 2 - distinct.len());
        assert!(kept.iter().all(|m| m.provenance.source_key != "~later"));
        assert!(
            partitions.len() > 10,
            "the fixtures span many tests and days"
        );
        for ((test_name, day), rows) in &partitions {
            assert!(
                rows.iter()
                    .all(|m| (&m.row.test_name, m.row.measurement_day) == (test_name, *day))
            );
            let order = |m: &&Measured| {
                let r = &m.row;
                (
                    r.measurement_start_time,
                    r.measurement_uid.clone(),
                    r.content_id.clone(),
                )
            };
            assert!(
                rows.windows(2).all(|w| order(&w[0]) < order(&w[1])),
                "{test_name} {day} is sorted by time, uid and content id"
            );
        }
    }

    /// Records how many threads the pool had wherever the run reported from.
    #[derive(Default)]
    struct PoolSizes(std::sync::Mutex<Vec<(&'static str, usize)>>);

    impl Observer for PoolSizes {
        fn event(&self, event: Event<'_>) {
            let at = match event {
                Event::ArchiveRead { .. } => "reading",
                Event::FileStaged { .. } => "writing",
                _ => return,
            };
            let threads = rayon::current_num_threads();
            self.0.lock().unwrap().push((at, threads));
        }
    }

    #[test]
    fn one_job_reads_and_writes_on_one_thread() {
        let out = tempfile::tempdir().unwrap();
        let day = |d| chrono::NaiveDate::from_ymd_opt(2020, 10, d).unwrap();
        let plan = RunPlan {
            selection: ooni_source::Selection {
                since: day(20),
                until: day(22),
                late_upload_days: 0,
                probe_cc: BTreeSet::from(["AZ".to_owned()]),
                test_names: BTreeSet::new(),
                cans: false,
            },
            out: out.path().to_owned(),
            jobs: 1,
            limits: ooni_source::Limits::default(),
            full_refresh: false,
            batch_bytes: 64 << 20,
            shard: None,
            remote: None,
        };
        let bucket = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/bucket");
        let sizes = PoolSizes::default();
        let summary = run(&plan, &ooni_source::LocalStore::new(bucket), &sizes).unwrap();
        assert!(summary.conservation.holds);
        let sizes = sizes.0.into_inner().unwrap();
        for at in ["reading", "writing"] {
            assert!(
                sizes.iter().any(|(where_, _)| *where_ == at),
                "nothing {at}"
            );
        }
        assert!(
            sizes.iter().all(|(_, threads)| *threads == 1),
            "--jobs 1 ran on more threads: {sizes:?}"
        );
    }

    #[test]
    fn forgotten_partitions_are_read_back_with_this_runs_files_apart() {
        let out = tempfile::tempdir().unwrap();
        let rows = fixture_rows();
        let (earlier, this_run): (Vec<_>, Vec<_>) = rows
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        let ids = |rows: &[(usize, Measured)]| -> HashSet<String> {
            rows.iter().map(|(_, m)| m.row.content_id.clone()).collect()
        };
        let (earlier_ids, this_run_ids) = (ids(&earlier), ids(&this_run));
        let run_id = "20240102T000000Z-00000002";
        let mut files: BTreeSet<String> = BTreeSet::new();
        for (run, rows) in [("20240101T000000Z-00000001", earlier), (run_id, this_run)] {
            let rows: Vec<Measured> = rows.into_iter().map(|(_, m)| m).collect();
            files.extend(write_as_run(out.path(), Table::Measurements, run, &rows));
        }
        let (listed, others) = (BTreeMap::new(), BTreeSet::new());
        let context = BatchContext {
            out: out.path(),
            scope: Scope::Whole,
            run_id,
            batch_no: 2,
            listed: &listed,
            filter: "",
            others: &others,
            remote: None,
            observer: &crate::Quiet,
        };
        // A cache that holds nothing past a batch: every round reads the partitions back.
        let mut seen = SeenIds::with_cap(0);
        for round in 0..2 {
            let (mut partitions, _) = deduplicate(rows.iter().collect());
            let batch: Vec<String> = partitions
                .values()
                .flatten()
                .map(|m| m.row.content_id.clone())
                .collect();
            let expected_in_output = batch.iter().filter(|id| earlier_ids.contains(*id)).count();
            let expected_in_run = batch
                .iter()
                .filter(|id| !earlier_ids.contains(*id) && this_run_ids.contains(*id))
                .count();
            let (in_run, in_output) =
                drop_seen(&context, &files, &mut partitions, &mut seen).unwrap();
            assert_eq!(
                (in_run as usize, in_output as usize),
                (expected_in_run, expected_in_output),
                "round {round}"
            );
            assert!(expected_in_run > 50 && expected_in_output > 50);
            assert!(partitions.is_empty(), "every row was written before");
            seen.shrink();
        }
    }
}
