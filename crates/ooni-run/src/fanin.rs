//! `ooni-pipeline aggregate`: the fan-in after sharded runs. Checks that every shard of the
//! plan has committed and finished, then recomputes the aggregates of the days whose
//! partition files changed since the last fan-in (all days the first time), over the union
//! of the shards' files. Rerunning it changes nothing; a late shard's rerun makes it
//! recompute only the days that shard touched.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;

use crate::lock::Lock;
use crate::remote::Remote;
use crate::state::{self, Manifest, Scope, Shard};
use crate::summary::WorstCell;
use crate::{Event, Observer, RunError};

/// What a fan-in did.
#[derive(Debug, Serialize)]
pub struct FanInSummary {
    /// Its id.
    pub run_id: String,
    /// The output directory.
    pub out: String,
    /// Shards in the plan.
    pub shards: u32,
    /// Partition files aggregated over.
    pub input_files: u64,
    /// Days whose aggregates were recomputed.
    pub days_aggregated: Vec<String>,
    /// Files written.
    pub written_files: Vec<String>,
    /// A stale lock taken over.
    pub stale_lock: Option<String>,
    /// Cells with the highest failure rates over the recomputed days.
    pub worst_cells: Vec<WorstCell>,
}

/// Runs the fan-in over `out`; `shards` picks the plan when the directory holds more than
/// one. With `remote`, the shards' output and state are read from that bucket (`out` is the
/// local work directory that caches it) and the aggregates are committed there.
pub fn aggregate(
    out: &Path,
    shards: Option<u32>,
    remote: Option<Arc<dyn ooni_source::OutputStore>>,
    observer: &dyn Observer,
) -> Result<FanInSummary, RunError> {
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let run_id = crate::run::new_run_id(now, Scope::Aggregate);
    let (run_id, started_at) = (run_id.as_str(), now.to_rfc3339());
    let note = |message: &str| observer.event(Event::Note(message));
    let remote = match remote {
        Some(store) => {
            let (remote, synced) = Remote::open(
                store,
                out,
                Scope::Aggregate,
                run_id,
                &started_at,
                false,
                &note,
            )?;
            if let Some(stale) = &synced.stale_lease {
                note(stale);
            }
            Some(remote)
        }
        None => None,
    };
    let location = remote
        .as_ref()
        .map_or_else(|| out.display().to_string(), Remote::location);
    if out.join("_state/manifest.json").is_file() {
        return Err(crate::RunError::refused(format!(
            "{location} holds an unsharded run's output, whose runs aggregate by themselves"
        )));
    }
    let plans = state::shard_plans(out);
    let count = match (shards, plans.len()) {
        (Some(n), _) => n,
        (None, 1) => plans.keys().copied().next().unwrap_or(1),
        (None, 0) => {
            return Err(crate::RunError::refused(format!(
                "no shard has committed into {location} yet: run `ooni-pipeline run --shard I/N --out {location}` for every I first"
            )));
        }
        (None, _) => {
            return Err(crate::RunError::refused(format!(
                "{location} holds shards of several plans ({}): say which with --shards N",
                state::plan_sizes(&plans)
            )));
        }
    };
    let mut inputs = BTreeSet::new();
    let mut problems = Vec::new();
    for index in 0..count {
        let shard = Shard { index, count };
        let scope = Scope::Shard(shard);
        let path = scope.state_dir(out).join("manifest.json");
        if !path.is_file() {
            let expected = match &remote {
                Some(remote) => format!("{}/{}", remote.location(), state::relative(out, &path)),
                None => path.display().to_string(),
            };
            problems.push(format!("shard {shard} has not committed (no {expected})"));
            continue;
        }
        let manifest = Manifest::load(out, scope)?;
        match &manifest.last_run {
            Some(last) if last.finished => {}
            Some(last) => problems.push(format!(
                "shard {shard}: its last run {} ({}) did not finish; run it again",
                last.run_id, last.days
            )),
            None => problems.push(format!("shard {shard} has no finished run")),
        }
        inputs.extend(
            manifest
                .files
                .into_iter()
                .filter(|f| matches!(state::classify(f), Some(state::Owned::Part { .. }))),
        );
    }
    if !problems.is_empty() {
        return Err(crate::RunError::refused(format!(
            "not aggregating {location}: {}",
            problems.join("; ")
        )));
    }

    let scope = Scope::Aggregate;
    let (lock, stale_lock) = Lock::acquire(&scope.state_dir(out), run_id, &started_at, &note)?;
    if let Some(stale) = &stale_lock {
        note(stale);
    }
    let mut manifest = Manifest::load(out, scope)?;
    manifest.reconcile(out, scope, remote.is_some())?;
    let changed: BTreeSet<String> = inputs
        .symmetric_difference(&manifest.aggregated_inputs)
        .filter_map(|f| state::day_of(f))
        .collect();
    manifest.stale_aggregate_days.extend(changed);
    let days: Vec<NaiveDate> = manifest
        .stale_aggregate_days
        .iter()
        .filter_map(|d| ooni_source::parse_day(d))
        .collect();
    let days_aggregated: Vec<String> = manifest.stale_aggregate_days.iter().cloned().collect();
    let window = match (days.first(), days.last()) {
        (Some(first), Some(last)) => (*first, last.succ_opt().unwrap_or(*last)),
        _ => (NaiveDate::MIN, NaiveDate::MIN),
    };
    lock.check()?;
    if let Some(remote) = &remote {
        remote.ensure(out, crate::tables::aggregation_reads(&inputs, &manifest))?;
    }
    let aggregates = crate::tables::aggregate_stale_days(
        out,
        scope,
        run_id,
        &inputs,
        &mut manifest,
        window,
        observer,
    )?;
    manifest.aggregated_inputs = inputs.clone();
    manifest.last_run = Some(state::LastRun {
        run_id: run_id.to_owned(),
        finished: true,
        days: format!("{} days", days_aggregated.len()),
    });
    manifest.save(out, scope)?;
    if let Some(remote) = &remote {
        remote.push(out, &manifest, &aggregates.files, observer)?;
    }
    let summary = FanInSummary {
        run_id: run_id.to_owned(),
        out: location,
        shards: count,
        input_files: inputs.len() as u64,
        days_aggregated,
        written_files: aggregates.files,
        stale_lock,
        worst_cells: aggregates.worst_cells,
    };
    let path = out.join("_runs").join(format!("{run_id}.json"));
    state::write_atomically(&path, &serde_json::to_vec_pretty(&summary)?)?;
    if let Some(remote) = &remote {
        remote.upload(out, &state::relative(out, &path))?;
    }
    drop(lock);
    Ok(summary)
}
