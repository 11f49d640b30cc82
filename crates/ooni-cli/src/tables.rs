//! The aggregate tables, one file per measurement day, recomputed for the days a run
//! touched (and any day an interrupted run left stale) from what is committed on disk.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use chrono::NaiveDate;
use ooni_aggregate as agg;
use ooni_source::Selection;
use polars::prelude::*;

use crate::state::Manifest;
use crate::summary::WorstCell;

/// What [`write_aggregates`] produced.
pub struct Aggregates {
    /// Files written, relative to the output directory.
    pub files: Vec<String>,
    /// Cells with the highest failure rates in the run's days.
    pub worst_cells: Vec<WorstCell>,
}

/// Rewrites `failure_rates/<day>.parquet` and `ooni_counts/<day>.parquet` for every day in
/// `manifest.stale_aggregate_days`, recording the files in the manifest (the caller saves it).
pub fn write_aggregates(
    out: &Path,
    manifest: &mut Manifest,
    selection: &Selection,
) -> anyhow::Result<Aggregates> {
    let days: BTreeSet<NaiveDate> = manifest
        .stale_aggregate_days
        .iter()
        .filter_map(|d| ooni_source::parse_day(d))
        .collect();
    let mut files = Vec::new();
    if !days.is_empty() {
        // Days between the first and last stale day are read (partition pruning keeps
        // that cheap); only the stale days' files are rewritten.
        let (first, last) = (days.first().copied(), days.last().copied());
        let in_days = |lf: LazyFrame| match (first, last) {
            (Some(first), Some(last)) => lf.filter(
                col("measurement_day")
                    .gt_eq(lit(first))
                    .and(col("measurement_day").lt_eq(lit(last))),
            ),
            _ => lf,
        };
        let rates = agg::collect(
            agg::failure_rates(in_days(agg::scan_outcomes(&out.join("outcomes"))?)),
            "failure_rates",
        )?;
        let counts = agg::collect(
            agg::ooni_counts(in_days(agg::scan_measurements(&out.join("measurements"))?)),
            "ooni_counts",
        )?;
        for (table, frame) in [("failure_rates", &rates), ("ooni_counts", &counts)] {
            for day in &days {
                let rel = format!("{table}/{day}.parquet");
                let path = out.join(&rel);
                let mut day_frame = frame
                    .clone()
                    .lazy()
                    .filter(col("measurement_day").eq(lit(*day)))
                    .collect()
                    .map_err(|e| anyhow::anyhow!("selecting {day} of {table}: {e}"))?;
                if day_frame.height() == 0 {
                    // Nothing measured that day any more: no file.
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(e).with_context(|| format!("removing {}", path.display()));
                        }
                        _ => {}
                    }
                    manifest.files.remove(&rel);
                    continue;
                }
                let bytes = agg::to_parquet_bytes(&mut day_frame, table)?;
                ooni_parquet::rewrite_parquet_bytes(bytes, &path)
                    .with_context(|| format!("writing {}", path.display()))?;
                manifest.files.insert(rel.clone());
                files.push(rel);
                crate::pause::step(crate::pause::Phase::Aggregate);
            }
        }
    }
    let worst = agg::collect(
        agg::worst_cells(
            agg::scan_failure_rates(&out.join("failure_rates"))?,
            selection.since,
            selection.until,
            15,
        ),
        "failure_rates",
    )?;
    Ok(Aggregates {
        files,
        worst_cells: worst_cells(&worst)?,
    })
}

fn worst_cells(frame: &DataFrame) -> PolarsResult<Vec<WorstCell>> {
    let cc = frame.column("probe_cc")?.str()?;
    let asn = frame.column("probe_asn")?.u32()?;
    let test = frame.column("test_name")?.str()?;
    let domain = frame.column("domain")?.str()?;
    let n = frame.column("measurement_count")?.u64()?;
    let f = frame.column("failure_count")?.u64()?;
    let top = frame.column("top_failure")?.str()?;
    Ok((0..frame.height())
        .map(|i| WorstCell {
            probe_cc: cc.get(i).map(str::to_owned),
            probe_asn: asn.get(i).unwrap_or(0),
            test_name: test.get(i).unwrap_or("").to_owned(),
            domain: domain.get(i).unwrap_or("").to_owned(),
            measurement_count: n.get(i).unwrap_or(0),
            failure_count: f.get(i).unwrap_or(0),
            top_failure: top.get(i).map(str::to_owned),
        })
        .collect())
}
