//! The aggregate tables, one file per measurement day, recomputed for the days a run
//! touched (and any day an interrupted run left stale) from the committed files the
//! manifest lists — never from other files a user keeps in the same directories.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::IoContext;
use crate::{Event, Observer, RunError};
use chrono::NaiveDate;
use ooni_aggregate as agg;
use ooni_model::Table;
use polars::prelude::*;

use crate::state::{self, Manifest, Scope};
use crate::summary::WorstCell;

/// What [`write_aggregates`] produced.
pub struct Aggregates {
    /// Files written, relative to the output directory.
    pub files: Vec<String>,
    /// Cells with the highest failure rates in the run's days.
    pub worst_cells: Vec<WorstCell>,
}

/// Recomputes the aggregates of `manifest.stale_aggregate_days` from the partition files in
/// `inputs`, and commits them like a batch: a pending list names the files about to be
/// (re)written, so that a run killed before the manifest records a new one leaves nothing
/// unlisted behind; the manifest (saved here) then records them and clears the stale days.
/// `window` bounds the days whose worst cells are reported.
pub fn aggregate_stale_days(
    out: &Path,
    scope: Scope,
    run_id: &str,
    inputs: &BTreeSet<String>,
    manifest: &mut Manifest,
    window: (NaiveDate, NaiveDate),
    observer: &dyn Observer,
) -> Result<Aggregates, RunError> {
    let pending = state::pending_path(out, scope, run_id, 9999);
    let rewrite_events =
        !manifest.stale_aggregate_days.is_empty() || !manifest.files.contains(state::EVENTS_FILE);
    let mut names: Vec<String> = manifest
        .stale_aggregate_days
        .iter()
        .flat_map(|day| state::AGGREGATE_TABLES.map(|t| format!("{t}/{day}.parquet")))
        .collect();
    names.push(state::EVENTS_FILE.to_owned());
    state::write_atomically(&pending, &serde_json::to_vec(&names)?)?;
    let mut aggregates = write_aggregates(out, run_id, inputs, manifest, window, observer)?;
    if rewrite_events {
        write_events(out, run_id, inputs, manifest)?;
        aggregates.files.push(state::EVENTS_FILE.to_owned());
    }
    manifest.stale_aggregate_days.clear();
    manifest.save(out, scope)?;
    std::fs::remove_file(&pending).at("removing", &pending)?;
    Ok(aggregates)
}

/// The committed files aggregation reads: the partition files of `inputs` and the
/// aggregates of `manifest` (the blocking events are recomputed over the whole history).
pub fn aggregation_reads<'a>(
    inputs: &'a BTreeSet<String>,
    manifest: &'a Manifest,
) -> impl Iterator<Item = &'a String> {
    let wanted = |rel: &&String| {
        matches!(
            state::classify(rel),
            Some(state::Owned::Part { .. } | state::Owned::Aggregate { .. })
        )
    };
    inputs
        .iter()
        .filter(wanted)
        .chain(manifest.files.iter().filter(wanted))
}

/// Rewrites `failure_rates/<day>.parquet` and `ooni_counts/<day>.parquet` for every day in
/// `manifest.stale_aggregate_days` from the partition files in `inputs`, recording the
/// files in the manifest (the caller saves it). Each file is written in the staging area
/// and renamed into place.
fn write_aggregates(
    out: &Path,
    run_id: &str,
    inputs: &BTreeSet<String>,
    manifest: &mut Manifest,
    (since, until): (NaiveDate, NaiveDate),
    observer: &dyn Observer,
) -> Result<Aggregates, RunError> {
    let days: BTreeSet<NaiveDate> = manifest
        .stale_aggregate_days
        .iter()
        .filter_map(|d| ooni_source::parse_day(d))
        .collect();
    let mut files = Vec::new();
    if !days.is_empty() {
        let staging = out.join("_staging").join(run_id);
        for table in [Table::FailureRates, Table::OoniCounts] {
            // One day at a time, and a large day in passes: memory follows neither the run
            // nor the day.
            for day in &days {
                let rel = format!("{table}/{day}.parquet");
                let path = out.join(&rel);
                let one_day = BTreeSet::from([*day]);
                let mut day_frame = match table {
                    Table::FailureRates => {
                        let files =
                            state::table_files(out, inputs, Table::Outcomes, Some(&one_day));
                        agg::failure_rates_in_passes(
                            || agg::scan_outcomes(&files),
                            agg::OUTCOME_ROWS_PER_PASS,
                        )?
                    }
                    _ => agg::collect(
                        agg::ooni_counts(agg::scan_measurements(&state::table_files(
                            out,
                            inputs,
                            Table::Measurements,
                            Some(&one_day),
                        ))?),
                        "ooni_counts",
                    )?,
                };
                if day_frame.height() == 0 {
                    // Nothing measured that day any more: no file (only ever ours).
                    if manifest.files.remove(&rel) {
                        match std::fs::remove_file(&path) {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                                return Err(e).at("removing", &path);
                            }
                            _ => {}
                        }
                    }
                    continue;
                }
                let bytes = agg::to_parquet_bytes(&mut day_frame, table.as_str())?;
                let staged = staging.join(&rel);
                ooni_parquet::rewrite_parquet_bytes(bytes, &staged).map_err(|source| {
                    RunError::Parquet {
                        what: format!("writing {}", staged.display()),
                        source,
                    }
                })?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).at("creating", dir)?;
                }
                std::fs::rename(&staged, &path)
                    .at(&format!("moving {} to", staged.display()), &path)?;
                manifest.files.insert(rel.clone());
                files.push(rel);
                observer.event(Event::AggregateWritten { path: &path });
            }
        }
        let _ = std::fs::remove_dir_all(&staging);
        let _ = std::fs::remove_dir(out.join("_staging"));
    }
    let run_days: BTreeSet<NaiveDate> = since.iter_days().take_while(|d| *d < until).collect();
    let worst = agg::collect(
        agg::worst_cells(
            agg::scan_failure_rates(&state::table_files(
                out,
                &manifest.files,
                Table::FailureRates,
                Some(&run_days),
            ))?,
            since,
            until,
            15,
        ),
        "failure_rates",
    )?;
    Ok(Aggregates {
        files,
        worst_cells: worst_cells(&worst).map_err(|source| RunError::Polars {
            what: "the worst cells".to_owned(),
            source,
        })?,
    })
}

/// Recomputes `blocking_events` over the whole history of `failure_rates` (the detector is
/// stateless: the same history gives the same events, whatever the order it arrived in),
/// with witnesses from `outcomes` and network names from `measurements`.
fn write_events(
    out: &Path,
    run_id: &str,
    inputs: &BTreeSet<String>,
    manifest: &mut Manifest,
) -> Result<(), RunError> {
    let events = ooni_events::blocking_events(
        &ooni_events::Inputs {
            failure_rates: state::table_files(out, &manifest.files, Table::FailureRates, None),
            outcomes: state::table_files(out, inputs, Table::Outcomes, None),
            measurements: state::table_files(out, inputs, Table::Measurements, None),
        },
        &ooni_events::Params::default(),
    )?;
    let staged = out.join("_staging").join(run_id).join(state::EVENTS_FILE);
    ooni_events::write_table(&events, &staged)?;
    let path = out.join(state::EVENTS_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).at("creating", dir)?;
    }
    std::fs::rename(&staged, &path).at(&format!("moving {} to", staged.display()), &path)?;
    let _ = std::fs::remove_dir_all(out.join("_staging").join(run_id));
    let _ = std::fs::remove_dir(out.join("_staging"));
    manifest.files.insert(state::EVENTS_FILE.to_owned());
    Ok(())
}

fn worst_cells(frame: &DataFrame) -> PolarsResult<Vec<WorstCell>> {
    let cc = frame.column("probe_cc")?.str()?;
    let asn = frame.column("probe_asn")?.u32()?;
    let test = frame.column("test_name")?.str()?;
    let domain = frame.column("domain")?.str()?;
    let n = frame.column("measurement_count")?.u64()?;
    let f = frame.column("failure_count")?.u64()?;
    let blocked = frame.column("blocked_count")?.u64()?;
    let down = frame.column("down_count")?.u64()?;
    let top = frame.column("top_failure")?.str()?;
    Ok((0..frame.height())
        .map(|i| WorstCell {
            probe_cc: cc.get(i).map(str::to_owned),
            probe_asn: asn.get(i).unwrap_or(0),
            test_name: test.get(i).unwrap_or("").to_owned(),
            domain: domain.get(i).unwrap_or("").to_owned(),
            measurement_count: n.get(i).unwrap_or(0),
            failure_count: f.get(i).unwrap_or(0),
            blocked_count: blocked.get(i).unwrap_or(0),
            down_count: down.get(i).unwrap_or(0),
            top_failure: top.get(i).map(str::to_owned),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::{fixture_rows, write_as_run};

    /// `failure_rates` in passes over (country, ASN) ranges, as a large day is aggregated,
    /// equals one pass on the outcomes of the real fixtures (29 networks, many days, the
    /// WhatsApp and Telegram pools).
    #[test]
    fn passes_over_country_and_asn_ranges_equal_one_pass_on_the_real_fixtures() {
        let rows = fixture_rows();
        let networks: BTreeSet<_> = rows
            .iter()
            .filter(|m| !m.outcomes.is_empty())
            .map(|m| (m.row.probe_cc.clone(), m.row.probe_asn))
            .collect();
        assert!(networks.len() > 20, "{} networks", networks.len());
        let out = tempfile::tempdir().unwrap();
        let files: Vec<_> = write_as_run(out.path(), Table::Outcomes, "run", &rows)
            .iter()
            .map(|rel| out.path().join(rel))
            .collect();
        let scan = || agg::scan_outcomes(&files);
        let one_pass = agg::collect(agg::failure_rates(scan().unwrap()), "failure_rates").unwrap();
        assert!(one_pass.height() > 500, "{} rows", one_pass.height());
        let outcome_rows: usize = rows.iter().map(|m| m.outcomes.len()).sum();
        // One network per pass, a few networks per pass, everything in one pass.
        for max_rows in [1, 400, u32::try_from(outcome_rows).unwrap()] {
            let passes = agg::failure_rates_in_passes(scan, max_rows).unwrap();
            assert!(
                passes.equals_missing(&one_pass),
                "max_rows {max_rows}: {} vs {} rows",
                passes.height(),
                one_pass.height()
            );
        }
    }
}
