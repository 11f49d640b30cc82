//! The aggregate tables, recomputed from what is on disk after the partitions are written.

use std::path::Path;

use anyhow::Context;
use ooni_aggregate as agg;
use ooni_source::Selection;
use polars::prelude::*;

use crate::summary::WorstCell;

/// What [`write_aggregates`] produced.
pub struct Aggregates {
    /// Files written.
    pub files_written: u64,
    /// Cells with the highest failure rates in the run's days.
    pub worst_cells: Vec<WorstCell>,
}

/// Writes `failure_rates/` and `ooni_counts/` over everything under `out`.
pub fn write_aggregates(out: &Path, selection: &Selection) -> anyhow::Result<Aggregates> {
    let mut rates = agg::collect(
        agg::failure_rates(agg::scan_outcomes(&out.join("outcomes"))?),
        "failure_rates",
    )?;
    let mut counts = agg::collect(
        agg::ooni_counts(agg::scan_measurements(&out.join("measurements"))?),
        "ooni_counts",
    )?;
    let worst = agg::collect(
        agg::worst_cells(rates.clone().lazy(), selection.since, selection.until, 15),
        "failure_rates",
    )?;
    for (table, frame) in [("failure_rates", &mut rates), ("ooni_counts", &mut counts)] {
        let bytes = agg::to_parquet_bytes(frame, table)?;
        let path = out.join(table).join("part-0.parquet");
        ooni_parquet::rewrite_parquet_bytes(bytes, &path)
            .with_context(|| format!("writing {table}"))?;
    }
    Ok(Aggregates {
        files_written: 2,
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
