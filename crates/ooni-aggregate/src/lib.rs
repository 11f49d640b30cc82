//! Aggregations over the normalized Parquet, with polars' lazy engine.
//!
//! The principal functions:
//! - [`failure_rates`]: per (day, country, ASN, test, domain, stage) failure rates from the
//!   `outcomes` table, with the counts behind them and a 95% Wilson interval;
//! - [`ooni_counts`]: per (day, country, ASN, test, domain) anomaly / confirmed / failure / ok
//!   counts with the semantics of OONI's `/api/v1/aggregation`;
//! - [`to_parquet_bytes`]: a frame as uncompressed Parquet bytes, handed to `ooni-parquet`,
//!   which owns the writer settings of every file this project writes.
//!
//! Both tables read hive-partitioned directories (`test_name=…/measurement_day=…`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use polars::prelude::*;

/// An aggregation failed.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// Polars reported an error while scanning or computing.
    #[error("aggregating {table}")]
    Polars {
        /// The table being computed.
        table: &'static str,
        /// The cause.
        #[source]
        source: PolarsError,
    },
}

/// The group keys of `failure_rates`.
pub const FAILURE_RATE_KEYS: [&str; 6] = [
    "measurement_day",
    "probe_cc",
    "probe_asn",
    "test_name",
    "domain",
    "stage",
];

/// The group keys of `ooni_counts`.
pub const OONI_COUNT_KEYS: [&str; 5] = [
    "measurement_day",
    "probe_cc",
    "probe_asn",
    "test_name",
    "domain",
];

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The failure share and its 95% Wilson score interval, as expressions over a failure count
/// and a measurement count: `(rate, low, high)`. Callers handle `n = 0`.
fn wilson(failures: Expr, n: Expr) -> (Expr, Expr, Expr) {
    let n = n.cast(DataType::Float64);
    let p = failures.cast(DataType::Float64) / n.clone();
    let z2 = lit(Z95 * Z95);
    let denom = lit(1.0) + z2.clone() / n.clone();
    let center = (p.clone() + z2.clone() / (lit(2.0) * n.clone())) / denom.clone();
    let half = lit(Z95)
        * (p.clone() * (lit(1.0) - p.clone()) / n.clone()
            + z2 / (lit(4.0) * n.clone() * n.clone()))
        .sqrt()
        / denom;
    (p, center.clone() - half.clone(), center + half)
}

/// Scans the given files of a hive-partitioned table (the committed files the caller's
/// manifest lists: a user's own files in the same directories are never read). No files
/// read as an empty frame with the given columns, so aggregates of an empty run are empty
/// tables, not errors.
fn scan_files(
    files: &[PathBuf],
    columns: &[(&str, DataType)],
    hive: bool,
    table: &'static str,
) -> Result<LazyFrame, AggregateError> {
    if files.is_empty() {
        let schema: Schema = columns
            .iter()
            .map(|(name, dtype)| Field::new((*name).into(), dtype.clone()))
            .collect();
        return Ok(DataFrame::empty_with_schema(&schema).lazy());
    }
    let args = ScanArgsParquet {
        hive_options: if hive {
            HiveOptions::new_enabled()
        } else {
            HiveOptions::new_disabled()
        },
        ..ScanArgsParquet::default()
    };
    let polars = |source| AggregateError::Polars { table, source };
    let scan = |paths: Vec<&PathBuf>| {
        let paths = paths
            .iter()
            .map(|p| PlRefPath::from(p.to_string_lossy().as_ref()))
            .collect();
        LazyFrame::scan_parquet_files(paths, args.clone())
    };
    // Files written by different versions may differ in columns (a column added later):
    // scan each shape of file on its own and give every frame exactly `columns`, null
    // where a file predates a column, so one output directory can span versions.
    let mut shapes: BTreeMap<Vec<String>, Vec<&PathBuf>> = BTreeMap::new();
    for file in files {
        let schema = scan(vec![file])
            .and_then(|mut lf| lf.collect_schema())
            .map_err(polars)?;
        let names = schema.iter_names().map(ToString::to_string).collect();
        shapes.entry(names).or_default().push(file);
    }
    let frames = shapes
        .into_iter()
        .map(|(names, paths)| {
            let select: Vec<Expr> = columns
                .iter()
                .map(|(name, dtype)| {
                    if names.iter().any(|n| n == name) {
                        col(*name).cast(dtype.clone())
                    } else {
                        lit(NULL).cast(dtype.clone()).alias(*name)
                    }
                })
                .collect();
            scan(paths).map(|lf| lf.select(select))
        })
        .collect::<PolarsResult<Vec<_>>>()
        .map_err(polars)?;
    concat(frames, UnionArgs::default()).map_err(polars)
}

/// Scans files of the `outcomes` table.
pub fn scan_outcomes(files: &[PathBuf]) -> Result<LazyFrame, AggregateError> {
    scan_files(
        files,
        &[
            ("measurement_uid", DataType::String),
            ("probe_cc", DataType::String),
            ("probe_asn", DataType::UInt32),
            ("domain", DataType::String),
            ("stage", DataType::String),
            ("failed", DataType::Boolean),
            ("failure", DataType::String),
            ("msm_failure", DataType::Boolean),
            ("ooni_drop_reason", DataType::String),
            ("test_name", DataType::String),
            ("measurement_day", DataType::Date),
            ("report_id", DataType::String),
            ("target_id", DataType::String),
            ("status", DataType::String),
            ("blocking_kind", DataType::String),
            ("is_hop", DataType::Boolean),
        ],
        true,
        "failure_rates",
    )
}

/// Scans files of the `failure_rates` table (one file per day, not hive-partitioned).
pub fn scan_failure_rates(files: &[PathBuf]) -> Result<LazyFrame, AggregateError> {
    scan_files(
        files,
        &[
            ("measurement_day", DataType::Date),
            ("probe_cc", DataType::String),
            ("probe_asn", DataType::UInt32),
            ("test_name", DataType::String),
            ("domain", DataType::String),
            ("stage", DataType::String),
            ("measurement_count", DataType::UInt32),
            ("failure_count", DataType::UInt32),
            ("top_failure", DataType::String),
            ("rollup", DataType::Boolean),
            ("blocked_count", DataType::UInt32),
            ("down_count", DataType::UInt32),
        ],
        false,
        "failure_rates",
    )
}

/// Scans files of the `measurements` table.
pub fn scan_measurements(files: &[PathBuf]) -> Result<LazyFrame, AggregateError> {
    scan_files(
        files,
        &[
            ("probe_cc", DataType::String),
            ("probe_asn", DataType::UInt32),
            ("domain", DataType::String),
            ("anomaly", DataType::Boolean),
            ("confirmed", DataType::Boolean),
            ("msm_failure", DataType::Boolean),
            ("ooni_drop_reason", DataType::String),
            ("test_name", DataType::String),
            ("measurement_day", DataType::Date),
        ],
        true,
        "ooni_counts",
    )
}

/// The `target_id`s that pool interchangeable hosts (OONI `targets.py` combination rule
/// `any_of`: reaching any member is reaching the service). Each gets rows of its own; the
/// other roles are required services (`all_of`) whose hosts' own rows say it.
const POOLED_TARGETS: [&str; 2] = ["whatsapp/endpoints", "telegram/dc_pool"];

/// Columns of `outcomes` that files written before issue 9 lack (absent, or null where a
/// scan spanning file versions fills them), with the value they stand for: a failed stage
/// is a `failure`, any other `ok`; nothing is a hop.
fn with_outcome_defaults(mut outcomes: LazyFrame) -> LazyFrame {
    let Ok(schema) = outcomes.collect_schema() else {
        // The error surfaces when the frame is collected.
        return outcomes;
    };
    let implied_status = when(col("failed"))
        .then(lit("failure"))
        .otherwise(lit("ok"));
    let mut fill: Vec<Expr> = vec![
        if schema.contains("status") {
            col("status").fill_null(implied_status)
        } else {
            implied_status
        }
        .alias("status"),
        if schema.contains("is_hop") {
            col("is_hop").fill_null(lit(false))
        } else {
            lit(false)
        }
        .alias("is_hop"),
    ];
    for name in ["blocking_kind", "report_id", "target_id"] {
        if !schema.contains(name) {
            fill.push(lit(NULL).cast(DataType::String).alias(name));
        }
    }
    outcomes.with_columns(fill)
}

/// One row per (measurement, pooled target_id, stage) combining the outcomes of the pool's
/// hosts: ok when any host is ok, else blocked when any is blocked, else down when any is
/// down, else failure; failed when every host failed.
fn target_rollups(outcomes: LazyFrame) -> LazyFrame {
    let is_status = |s: &str| col("status").eq(lit(s.to_owned()));
    let count = |e: Expr| e.cast(DataType::UInt32).sum();
    let pooled = POOLED_TARGETS
        .iter()
        .map(|t| col("target_id").eq(lit(*t)))
        .reduce(Expr::or)
        .unwrap_or(lit(false));
    let status = when(col("n_ok").gt(lit(0)))
        .then(lit("ok"))
        .when(col("n_blocked").gt(lit(0)))
        .then(lit("blocked"))
        .when(col("n_down").gt(lit(0)))
        .then(lit("down"))
        .otherwise(lit("failure"));
    outcomes
        .filter(pooled)
        .group_by([
            col("measurement_day"),
            col("probe_cc"),
            col("probe_asn"),
            col("test_name"),
            col("target_id"),
            col("stage"),
            col("measurement_uid"),
        ])
        .agg([
            col("report_id").first(),
            col("msm_failure").first(),
            len().cast(DataType::UInt32).alias("n"),
            count(is_status("ok")).alias("n_ok"),
            count(is_status("blocked")).alias("n_blocked"),
            count(is_status("down")).alias("n_down"),
            count(col("failed")).alias("n_failed"),
            col("failure").drop_nulls().first().alias("member_failure"),
            col("blocking_kind")
                .drop_nulls()
                .first()
                .alias("member_kind"),
        ])
        .with_columns([
            status.alias("status"),
            col("n_failed").eq(col("n")).alias("failed"),
        ])
        .with_columns([
            when(col("failed"))
                .then(col("member_failure"))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("failure"),
            when(col("status").eq(lit("blocked")))
                .then(col("member_kind"))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("blocking_kind"),
            col("target_id").alias("domain"),
            lit(true).alias("rollup"),
        ])
}

/// The columns of the rows `failure_rates` groups (domain rows and target rollups alike).
fn rate_input(frame: LazyFrame) -> LazyFrame {
    frame.select([
        col("measurement_day"),
        col("probe_cc").cast(DataType::String),
        col("probe_asn").cast(DataType::UInt32),
        col("test_name").cast(DataType::String),
        col("domain").cast(DataType::String),
        col("stage").cast(DataType::String),
        col("measurement_uid").cast(DataType::String),
        col("report_id").cast(DataType::String),
        col("target_id").cast(DataType::String),
        col("failed").cast(DataType::Boolean),
        col("failure").cast(DataType::String),
        col("status").cast(DataType::String),
        col("blocking_kind").cast(DataType::String),
        col("msm_failure").cast(DataType::Boolean),
        col("rollup").cast(DataType::Boolean),
    ])
}

/// The most frequent value of `column` among the rows where `filter` holds, per cell
/// (ties: the smallest value).
fn top(rows: LazyFrame, keys: &[Expr], column: &str, filter: Expr, alias: &str) -> LazyFrame {
    let mut with_value = keys.to_vec();
    with_value.push(col(column));
    rows.filter(filter.and(col(column).is_not_null()))
        .group_by(with_value)
        .agg([len().alias("n")])
        .group_by(keys)
        .agg([col(column)
            .sort_by(
                [col("n"), col(column)],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            )
            .first()
            .alias(alias)])
}

/// `failure_rates` from the `outcomes` directory (one row per measurement, domain and stage
/// that the measurement reached; see `ooni-observations` for the first-failing-stage rule
/// and the statuses, `docs/blocking.md` for how to read them).
///
/// `measurement_count` counts distinct measurements with an outcome, excluding those OONI
/// would call a test failure (`msm_failure`), which are counted in `msm_failure_count`
/// instead; measurements OONI drops (no report id, ZZ, AS0) are left out entirely.
/// `failure_rate`, `ci_low` and `ci_high` are null when `measurement_count` is 0: an empty
/// cell must not read as "reachable".
///
/// Of the counted measurements, `failure_count` failed there (a failure string; unchanged
/// meaning), `blocked_count` were judged blocked (interference: failed while the control
/// succeeded, or a manipulated result) with `blocked_rate` and its Wilson interval
/// `blocked_ci_low`/`blocked_ci_high`, and `down_count` failed like the control did.
/// `top_blocking_kind` is the most frequent blocking kind, `report_count` the distinct
/// report ids (independent probe runs) behind the cell.
///
/// Redirect hops of URL-input tests (`is_hop`) are left out: their outcome is filed under
/// the input's domain, so web_connectivity's `domain` is the input's, as in `ooni_counts`,
/// and the two tables join on (day, country, ASN, test, domain). `target_id` is the
/// domain's service role; the pools of interchangeable hosts (`whatsapp/endpoints`,
/// `telegram/dc_pool`) also get rows of their own (`rollup` true, `domain` = the role id)
/// combining their hosts per measurement: the pool is ok when any host is, failed when
/// every host failed.
pub fn failure_rates(outcomes: LazyFrame) -> LazyFrame {
    let outcomes = with_outcome_defaults(outcomes)
        .filter(col("ooni_drop_reason").is_null())
        .filter(col("is_hop").not());
    let domains = rate_input(outcomes.clone().with_column(lit(false).alias("rollup")));
    let rollups = rate_input(target_rollups(outcomes));
    // `concat` fails only on an empty list of frames.
    let rows = concat([domains.clone(), rollups], UnionArgs::default()).unwrap_or(domains);
    let keys: Vec<Expr> = FAILURE_RATE_KEYS.iter().map(|k| col(*k)).collect();
    let valid = col("msm_failure").not();
    let distinct = |filter: Expr, name: &str| {
        col("measurement_uid")
            .filter(filter)
            .n_unique()
            .cast(DataType::UInt32)
            .alias(name)
    };
    let counts = rows.clone().group_by(keys.clone()).agg([
        distinct(valid.clone(), "measurement_count"),
        distinct(valid.clone().and(col("failed")), "failure_count"),
        distinct(col("msm_failure"), "msm_failure_count"),
        distinct(
            valid.clone().and(col("status").eq(lit("blocked"))),
            "blocked_count",
        ),
        distinct(
            valid.clone().and(col("status").eq(lit("down"))),
            "down_count",
        ),
        col("report_id")
            .filter(valid.clone())
            .drop_nulls()
            .n_unique()
            .cast(DataType::UInt32)
            .alias("report_count"),
        col("target_id").drop_nulls().first().alias("target_id"),
        col("rollup").any(false).alias("rollup"),
    ]);
    let top_failure = top(
        rows.clone(),
        &keys,
        "failure",
        valid.clone().and(col("failed")),
        "top_failure",
    );
    let top_kind = top(
        rows,
        &keys,
        "blocking_kind",
        valid.and(col("status").eq(lit("blocked"))),
        "top_blocking_kind",
    );
    let (p, low, high) = wilson(col("failure_count"), col("measurement_count"));
    let (bp, blow, bhigh) = wilson(col("blocked_count"), col("measurement_count"));
    // Null, not 0, for empty cells: an empty cell must not read as "reachable".
    let when_counted = |e: Expr| {
        when(col("measurement_count").gt(lit(0)))
            .then(e)
            .otherwise(lit(NULL).cast(DataType::Float64))
    };
    // The Wilson bounds are exactly 0 with no positives and 1 with all positives.
    let bounds = |k: &str, low: Expr, high: Expr, names: [&str; 2]| {
        [
            when_counted(when(col(k).eq(lit(0))).then(lit(0.0)).otherwise(low)).alias(names[0]),
            when_counted(
                when(col(k).eq(col("measurement_count")))
                    .then(lit(1.0))
                    .otherwise(high),
            )
            .alias(names[1]),
        ]
    };
    let [ci_low, ci_high] = bounds("failure_count", low, high, ["ci_low", "ci_high"]);
    let [b_low, b_high] = bounds(
        "blocked_count",
        blow,
        bhigh,
        ["blocked_ci_low", "blocked_ci_high"],
    );
    let join = || JoinArgs::new(JoinType::Left).with_coalesce(JoinCoalesce::CoalesceColumns);
    let sort_keys: Vec<PlSmallStr> = FAILURE_RATE_KEYS.iter().map(|k| (*k).into()).collect();
    counts
        .join(top_failure, keys.clone(), keys.clone(), join())
        .join(top_kind, keys.clone(), keys, join())
        .with_columns([
            when_counted(p).alias("failure_rate"),
            ci_low,
            ci_high,
            when_counted(bp).alias("blocked_rate"),
            b_low,
            b_high,
        ])
        .select([
            col("measurement_day"),
            col("probe_cc"),
            col("probe_asn"),
            col("test_name"),
            col("domain"),
            col("stage"),
            col("measurement_count"),
            col("failure_count"),
            col("failure_rate"),
            col("ci_low"),
            col("ci_high"),
            col("top_failure"),
            col("msm_failure_count"),
            col("blocked_count"),
            col("blocked_rate"),
            col("blocked_ci_low"),
            col("blocked_ci_high"),
            col("down_count"),
            col("top_blocking_kind"),
            col("report_count"),
            col("target_id"),
            col("rollup"),
        ])
        .sort(
            sort_keys,
            SortMultipleOptions::default().with_nulls_last(true),
        )
}

/// Outcome rows `failure_rates_in_passes` aggregates in one pass at most: about 0.5 KB of
/// memory each while polars groups them, so a pass stays near 250 MB however large the day.
pub const OUTCOME_ROWS_PER_PASS: u32 = 500_000;

/// [`failure_rates`] of the outcomes `scan` reads, computed in passes over contiguous ranges
/// of (country, ASN), each of at most `max_rows` outcome rows (a single (country, ASN) with
/// more is a pass of its own), so memory follows `max_rows`, not the size of the day. Every
/// cell, pooled rollups included, lies within one (country, ASN), so the passes together
/// give exactly the rows of one pass, in the same order. `scan` is called once per pass
/// (each pass reads the files again, filtered).
pub fn failure_rates_in_passes(
    scan: impl Fn() -> Result<LazyFrame, AggregateError>,
    max_rows: u32,
) -> Result<DataFrame, AggregateError> {
    let pairs = [
        col("probe_cc").cast(DataType::String),
        col("probe_asn").cast(DataType::UInt32),
    ];
    let sizes = collect(
        scan()?
            .group_by(pairs.clone())
            .agg([len().alias("rows")])
            .sort(["probe_cc", "probe_asn"], SortMultipleOptions::default()),
        "failure_rates",
    )?;
    let polars = |source| AggregateError::Polars {
        table: "failure_rates",
        source,
    };
    let cc = sizes
        .column("probe_cc")
        .and_then(|c| c.str())
        .map_err(polars)?;
    let asn = sizes
        .column("probe_asn")
        .and_then(|c| c.u32())
        .map_err(polars)?;
    let rows = sizes.column("rows").and_then(|c| c.u32()).map_err(polars)?;
    // Where each pass after the first starts. A null key cannot bound a range: one pass.
    let mut starts: Vec<(String, u32)> = Vec::new();
    let mut held = 0u32;
    if cc.null_count() == 0 && asn.null_count() == 0 {
        for i in 0..sizes.height() {
            let (Some(c), Some(a), n) = (cc.get(i), asn.get(i), rows.get(i).unwrap_or(0)) else {
                continue;
            };
            if held > 0 && held.saturating_add(n) > max_rows {
                starts.push((c.to_owned(), a));
                held = 0;
            }
            held = held.saturating_add(n);
        }
    }
    if starts.is_empty() {
        return collect(failure_rates(scan()?), "failure_rates");
    }
    let at_or_after = |(c, a): &(String, u32)| {
        col("probe_cc").gt(lit(c.clone())).or(col("probe_cc")
            .eq(lit(c.clone()))
            .and(col("probe_asn").gt_eq(lit(*a))))
    };
    let mut frames = Vec::with_capacity(starts.len() + 1);
    for pass in 0..=starts.len() {
        let mut range = lit(true);
        if let Some(start) = pass.checked_sub(1).map(|i| &starts[i]) {
            range = range.and(at_or_after(start));
        }
        if let Some(end) = starts.get(pass) {
            range = range.and(at_or_after(end).not());
        }
        frames.push(collect(failure_rates(scan()?.filter(range)), "failure_rates")?.lazy());
    }
    let sort_keys: Vec<PlSmallStr> = FAILURE_RATE_KEYS.iter().map(|k| (*k).into()).collect();
    collect(
        concat(frames, UnionArgs::default()).map_err(polars)?.sort(
            sort_keys,
            SortMultipleOptions::default().with_nulls_last(true),
        ),
        "failure_rates",
    )
}

/// `ooni_counts` from the `measurements` directory, with the semantics of OONI's
/// aggregation API: `anomaly_count` = anomaly ∧ ¬confirmed ∧ ¬failure, `confirmed_count` =
/// confirmed ∧ ¬failure, `failure_count` = failure, `ok_count` = the rest; the four
/// partition `measurement_count`. Measurements OONI drops (no report id, ZZ, AS0) are left out.
pub fn ooni_counts(measurements: LazyFrame) -> LazyFrame {
    let count_if = |e: Expr, name: &str| e.cast(DataType::UInt32).sum().alias(name);
    let ok = col("anomaly")
        .not()
        .and(col("confirmed").not())
        .and(col("msm_failure").not());
    let keys: Vec<Expr> = OONI_COUNT_KEYS.iter().map(|k| col(*k)).collect();
    let sort_keys: Vec<PlSmallStr> = OONI_COUNT_KEYS.iter().map(|k| (*k).into()).collect();
    measurements
        .filter(col("ooni_drop_reason").is_null())
        .group_by(keys)
        .agg([
            len().cast(DataType::UInt32).alias("measurement_count"),
            count_if(
                col("anomaly")
                    .and(col("confirmed").not())
                    .and(col("msm_failure").not()),
                "anomaly_count",
            ),
            count_if(
                col("confirmed").and(col("msm_failure").not()),
                "confirmed_count",
            ),
            count_if(col("msm_failure"), "failure_count"),
            count_if(ok, "ok_count"),
        ])
        .sort(
            sort_keys,
            SortMultipleOptions::default().with_nulls_last(true),
        )
}

/// The cells most clearly failing at stage `any`, summed over the days in `[since, until)`:
/// (country, ASN, test, domain) with the counts behind each rate (failed, and of those
/// blocked and down), ranked by the lower bound of the 95% Wilson interval. `target_id`
/// rollup rows are left out (their measurements are already in their domains' rows).
pub fn worst_cells(
    mut failure_rates: LazyFrame,
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
    limit: u32,
) -> LazyFrame {
    let keys = [
        col("probe_cc"),
        col("probe_asn"),
        col("test_name"),
        col("domain"),
    ];
    // Domains only: a target_id rollup repeats its domains' measurements.
    let domains_only = match failure_rates.collect_schema() {
        Ok(schema) if schema.contains("rollup") => col("rollup").fill_null(lit(false)).not(),
        _ => lit(true),
    };
    failure_rates
        .filter(domains_only)
        .filter(
            col("stage")
                .eq(lit("any"))
                .and(col("measurement_day").gt_eq(lit(since)))
                .and(col("measurement_day").lt(lit(until)))
                .and(col("measurement_count").gt(lit(0))),
        )
        .group_by(keys)
        .agg([
            col("measurement_count").cast(DataType::UInt64).sum(),
            col("failure_count").cast(DataType::UInt64).sum(),
            // Null in files from before outcomes had a status: nothing counted.
            col("blocked_count").cast(DataType::UInt64).sum(),
            col("down_count").cast(DataType::UInt64).sum(),
            col("top_failure")
                .sort_by(
                    [col("failure_count")],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .drop_nulls()
                .first(),
        ])
        .with_columns({
            let (rate, low, _) = wilson(col("failure_count"), col("measurement_count"));
            [rate.alias("failure_rate"), low.alias("ci_low")]
        })
        // Ranked by the interval's lower bound, so a cell with much evidence outranks a
        // single failed measurement.
        .sort_by_exprs(
            [
                col("ci_low"),
                col("failure_count"),
                col("domain"),
                col("probe_asn"),
            ],
            SortMultipleOptions::default().with_order_descending_multi([true, true, false, false]),
        )
        .limit(limit)
}

/// Runs a lazy frame.
pub fn collect(frame: LazyFrame, table: &'static str) -> Result<DataFrame, AggregateError> {
    frame
        .collect()
        .map_err(|source| AggregateError::Polars { table, source })
}

/// A frame as uncompressed Parquet bytes (re-encoded by `ooni-parquet` with the project's
/// writer settings).
pub fn to_parquet_bytes(
    frame: &mut DataFrame,
    table: &'static str,
) -> Result<Vec<u8>, AggregateError> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .with_compression(ParquetCompression::Uncompressed)
        .finish(frame)
        .map_err(|source| AggregateError::Polars { table, source })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn day() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2020, 10, 1).unwrap()
    }

    /// Outcome rows for one cell: `fails` failed measurements out of `n`, plus extras.
    fn outcomes(rows: &[(&str, bool, Option<&str>, bool)]) -> LazyFrame {
        let n = rows.len();
        df!(
            "measurement_uid" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "probe_cc" => vec!["AZ"; n],
            "probe_asn" => vec![28787u32; n],
            "domain" => vec!["web.whatsapp.com"; n],
            "stage" => vec!["tls"; n],
            "failed" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "failure" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "msm_failure" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            "ooni_drop_reason" => vec![None::<&str>; n],
            "test_name" => vec!["whatsapp"; n],
            "measurement_day" => vec![day(); n],
        )
        .unwrap()
        .lazy()
    }

    #[test]
    fn rates_count_distinct_measurements_with_wilson_bounds_and_the_top_failure() {
        let mut rows = vec![
            ("a", true, Some("generic_timeout_error"), false),
            ("b", true, Some("generic_timeout_error"), false),
            ("c", true, Some("connection_reset"), false),
            // A measurement OONI calls a test failure: counted apart, not in the rate.
            ("x", true, Some("connection_reset"), true),
        ];
        for uid in ["d", "e", "f", "g", "h", "i", "j"] {
            rows.push((uid, false, None, false));
        }
        let out = failure_rates(outcomes(&rows)).collect().unwrap();
        assert_eq!(out.height(), 1);
        let get_u32 = |c: &str| out.column(c).unwrap().u32().unwrap().get(0).unwrap();
        let get_f64 = |c: &str| out.column(c).unwrap().f64().unwrap().get(0).unwrap();
        assert_eq!(get_u32("measurement_count"), 10);
        assert_eq!(get_u32("failure_count"), 3);
        assert_eq!(get_u32("msm_failure_count"), 1);
        assert!((get_f64("failure_rate") - 0.3).abs() < 1e-12);
        // Wilson 95% for 3/10 (e.g. statsmodels proportion_confint(3, 10, method="wilson")).
        assert!((get_f64("ci_low") - 0.107_789).abs() < 1e-5);
        assert!((get_f64("ci_high") - 0.603_222).abs() < 1e-5);
        let top = out.column("top_failure").unwrap().str().unwrap().get(0);
        assert_eq!(top, Some("generic_timeout_error"));
    }

    #[test]
    fn all_or_nothing_cells_have_exact_bounds_and_empty_cells_no_rate() {
        let none_failed = failure_rates(outcomes(&[("a", false, None, false)]))
            .collect()
            .unwrap();
        assert_eq!(
            none_failed.column("ci_low").unwrap().f64().unwrap().get(0),
            Some(0.0)
        );
        let all_failed = failure_rates(outcomes(&[("a", true, Some("eof_error"), false)]))
            .collect()
            .unwrap();
        assert_eq!(
            all_failed.column("ci_high").unwrap().f64().unwrap().get(0),
            Some(1.0)
        );
        let only_test_failures = failure_rates(outcomes(&[("a", true, Some("eof_error"), true)]))
            .collect()
            .unwrap();
        assert_eq!(
            only_test_failures
                .column("failure_rate")
                .unwrap()
                .f64()
                .unwrap()
                .get(0),
            None
        );
    }

    #[test]
    fn worst_cells_rank_strong_evidence_above_a_single_failure() {
        let rates = df!(
            "measurement_day" => [day(), day()],
            "probe_cc" => ["AZ", "AZ"],
            "probe_asn" => [1u32, 2],
            "test_name" => ["whatsapp", "whatsapp"],
            "domain" => ["one.example", "many.example"],
            "stage" => ["any", "any"],
            "measurement_count" => [1u32, 40],
            "failure_count" => [1u32, 30],
            "top_failure" => [Some("eof_error"), Some("generic_timeout_error")],
            "blocked_count" => [0u32, 25],
            "down_count" => [1u32, 0],
        )
        .unwrap()
        .lazy();
        let next = day().succ_opt().unwrap();
        let worst = worst_cells(rates.clone(), day(), next, 10)
            .collect()
            .unwrap();
        let column = worst.column("domain").unwrap().str().unwrap();
        let domains: Vec<_> = (0..column.len()).filter_map(|i| column.get(i)).collect();
        assert_eq!(domains, ["many.example", "one.example"]);
        let counts = |frame: &DataFrame, name: &str| -> Vec<u64> {
            let c = frame.column(name).unwrap().u64().unwrap();
            (0..c.len()).filter_map(|i| c.get(i)).collect()
        };
        assert_eq!(counts(&worst, "blocked_count"), [25, 0]);
        assert_eq!(counts(&worst, "down_count"), [0, 1]);

        // Files from before outcomes had a status, scanned with those columns null.
        let old = rates.with_columns([
            lit(NULL).cast(DataType::UInt32).alias("blocked_count"),
            lit(NULL).cast(DataType::UInt32).alias("down_count"),
        ]);
        let worst = worst_cells(old, day(), next, 10).collect().unwrap();
        assert_eq!(counts(&worst, "blocked_count"), [0, 0]);
        assert_eq!(counts(&worst, "down_count"), [0, 0]);
    }

    /// One outcome row with the issue-9 columns.
    struct Row {
        uid: &'static str,
        report: Option<&'static str>,
        domain: &'static str,
        target_id: Option<&'static str>,
        stage: &'static str,
        failed: bool,
        failure: Option<&'static str>,
        status: &'static str,
        kind: Option<&'static str>,
        is_hop: bool,
        test: &'static str,
    }

    fn row(
        uid: &'static str,
        domain: &'static str,
        stage: &'static str,
        status: &'static str,
    ) -> Row {
        Row {
            uid,
            report: Some("r1"),
            domain,
            target_id: None,
            stage,
            failed: matches!(status, "down" | "failure"),
            failure: None,
            status,
            kind: None,
            is_hop: false,
            test: "web_connectivity",
        }
    }

    fn frame(rows: &[Row]) -> LazyFrame {
        let n = rows.len();
        df!(
            "measurement_uid" => rows.iter().map(|r| r.uid).collect::<Vec<_>>(),
            "report_id" => rows.iter().map(|r| r.report).collect::<Vec<_>>(),
            "probe_cc" => vec!["RU"; n],
            "probe_asn" => vec![12389u32; n],
            "domain" => rows.iter().map(|r| r.domain).collect::<Vec<_>>(),
            "target_id" => rows.iter().map(|r| r.target_id).collect::<Vec<_>>(),
            "stage" => rows.iter().map(|r| r.stage).collect::<Vec<_>>(),
            "failed" => rows.iter().map(|r| r.failed).collect::<Vec<_>>(),
            "failure" => rows.iter().map(|r| r.failure).collect::<Vec<_>>(),
            "status" => rows.iter().map(|r| r.status).collect::<Vec<_>>(),
            "blocking_kind" => rows.iter().map(|r| r.kind).collect::<Vec<_>>(),
            "inferred" => vec![false; n],
            "is_hop" => rows.iter().map(|r| r.is_hop).collect::<Vec<_>>(),
            "msm_failure" => vec![false; n],
            "ooni_drop_reason" => vec![None::<&str>; n],
            "test_name" => rows.iter().map(|r| r.test).collect::<Vec<_>>(),
            "measurement_day" => vec![day(); n],
        )
        .unwrap()
        .lazy()
    }

    /// The failure_rates row of (domain, stage).
    fn cell(out: &DataFrame, domain: &str, stage: &str) -> DataFrame {
        out.clone()
            .lazy()
            .filter(
                col("domain")
                    .eq(lit(domain))
                    .and(col("stage").eq(lit(stage))),
            )
            .collect()
            .unwrap()
    }

    fn u32_of(df: &DataFrame, c: &str) -> u32 {
        df.column(c).unwrap().u32().unwrap().get(0).unwrap()
    }

    fn str_of(df: &DataFrame, c: &str) -> Option<String> {
        df.column(c)
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .map(str::to_owned)
    }

    #[test]
    fn blocked_and_down_counts_with_wilson_bounds_kind_and_reports() {
        let mut rows = Vec::new();
        for (uid, report, status, kind) in [
            ("a", "r1", "blocked", Some("http.blockpage")),
            ("b", "r1", "blocked", Some("http.blockpage")),
            ("c", "r2", "blocked", Some("http.diff")),
            ("d", "r2", "down", None),
            ("e", "r3", "ok", None),
            ("f", "r3", "ok", None),
            ("g", "r3", "ok", None),
            ("h", "r4", "ok", None),
            ("i", "r4", "ok", None),
            ("j", "r4", "ok", None),
        ] {
            rows.push(Row {
                report: Some(report),
                kind,
                ..row(uid, "rutor.org", "http", status)
            });
        }
        let out = failure_rates(frame(&rows)).collect().unwrap();
        let c = cell(&out, "rutor.org", "http");
        assert_eq!(c.height(), 1);
        assert_eq!(u32_of(&c, "measurement_count"), 10);
        assert_eq!(u32_of(&c, "blocked_count"), 3);
        assert_eq!(u32_of(&c, "down_count"), 1);
        assert_eq!(
            u32_of(&c, "failure_count"),
            1,
            "a blockpage is no failure string"
        );
        assert_eq!(u32_of(&c, "report_count"), 4);
        assert_eq!(
            str_of(&c, "top_blocking_kind").as_deref(),
            Some("http.blockpage")
        );
        let f = |name: &str| c.column(name).unwrap().f64().unwrap().get(0).unwrap();
        assert!((f("blocked_rate") - 0.3).abs() < 1e-12);
        // Wilson 95% for 3/10, as for the failure rate.
        assert!((f("blocked_ci_low") - 0.107_789).abs() < 1e-5);
        assert!((f("blocked_ci_high") - 0.603_222).abs() < 1e-5);
    }

    /// bit.ly redirects to www.example.com, which is blocked: the verdict is bit.ly's; the
    /// hop's own rows stay in `outcomes` but not in failure_rates, so failure_rates and
    /// ooni_counts meet on the same five keys.
    #[test]
    fn hops_are_filed_under_the_input_and_the_tables_join_on_the_input_domain() {
        let rows = vec![
            row("m1", "bit.ly", "dns", "ok"),
            row("m1", "bit.ly", "tcp", "ok"),
            Row {
                failed: true,
                failure: Some("connection_refused"),
                kind: Some("tcp.refused"),
                ..row("m1", "bit.ly", "http", "blocked")
            },
            Row {
                failed: true,
                failure: Some("connection_refused"),
                kind: Some("tcp.refused"),
                ..row("m1", "bit.ly", "any", "blocked")
            },
            Row {
                is_hop: true,
                failed: true,
                kind: Some("tcp.refused"),
                ..row("m1", "www.example.com", "tcp", "blocked")
            },
            Row {
                is_hop: true,
                ..row("m1", "www.example.com", "any", "blocked")
            },
        ];
        let rates = failure_rates(frame(&rows)).collect().unwrap();
        let domains = rates.column("domain").unwrap().str().unwrap();
        assert!((0..domains.len()).all(|i| domains.get(i) == Some("bit.ly")));
        let any = cell(&rates, "bit.ly", "any");
        assert_eq!(u32_of(&any, "blocked_count"), 1);
        assert_eq!(u32_of(&any, "failure_count"), 1);

        let measurements = df!(
            "probe_cc" => ["RU"],
            "probe_asn" => [12389u32],
            "domain" => ["bit.ly"],
            "anomaly" => [true],
            "confirmed" => [false],
            "msm_failure" => [false],
            "ooni_drop_reason" => [None::<&str>],
            "test_name" => ["web_connectivity"],
            "measurement_day" => [day()],
        )
        .unwrap()
        .lazy();
        let keys: Vec<Expr> = OONI_COUNT_KEYS.iter().map(|k| col(*k)).collect();
        let joined = ooni_counts(measurements)
            .join(
                failure_rates(frame(&rows)).filter(col("stage").eq(lit("any"))),
                keys.clone(),
                keys,
                JoinArgs::new(JoinType::Inner),
            )
            .collect()
            .unwrap();
        assert_eq!(joined.height(), 1);
        assert_eq!(u32_of(&joined, "anomaly_count"), 1);
        assert_eq!(u32_of(&joined, "blocked_count"), 1);
    }

    #[test]
    fn pooled_targets_are_ok_when_any_member_is() {
        let dc = |uid, domain, status| Row {
            test: "telegram",
            target_id: Some("telegram/dc_pool"),
            ..row(uid, domain, "tcp", status)
        };
        let web = |uid, domain, status| Row {
            test: "whatsapp",
            target_id: Some("whatsapp/web"),
            ..row(uid, domain, "tls", status)
        };
        let rows = vec![
            // m1: one data centre fails, the other works: the pool works.
            dc("m1", "149.154.175.50", "failure"),
            dc("m1", "149.154.167.51", "ok"),
            // m2: every data centre is blocked: the pool is blocked.
            Row {
                failed: true,
                failure: Some("generic_timeout_error"),
                kind: Some("tcp.timeout"),
                ..dc("m2", "149.154.175.50", "blocked")
            },
            Row {
                failed: true,
                failure: Some("generic_timeout_error"),
                kind: Some("tcp.timeout"),
                ..dc("m2", "149.154.167.51", "blocked")
            },
            web("m3", "web.whatsapp.com", "blocked"),
        ];
        let out = failure_rates(frame(&rows)).collect().unwrap();
        let pool = cell(&out, "telegram/dc_pool", "tcp");
        assert_eq!(u32_of(&pool, "measurement_count"), 2);
        assert_eq!(u32_of(&pool, "blocked_count"), 1);
        assert_eq!(
            u32_of(&pool, "failure_count"),
            1,
            "only m2 failed everywhere"
        );
        assert_eq!(
            str_of(&pool, "top_blocking_kind").as_deref(),
            Some("tcp.timeout")
        );
        assert_eq!(
            pool.column("rollup").unwrap().bool().unwrap().get(0),
            Some(true)
        );
        // The data centres keep their own rows, with their role.
        let one = cell(&out, "149.154.175.50", "tcp");
        assert_eq!(u32_of(&one, "measurement_count"), 2);
        assert_eq!(
            str_of(&one, "target_id").as_deref(),
            Some("telegram/dc_pool")
        );
        // A role of one host per measurement has no rows of its own: its host's are.
        assert_eq!(cell(&out, "whatsapp/web", "tls").height(), 0);
        let web = cell(&out, "web.whatsapp.com", "tls");
        assert_eq!(u32_of(&web, "blocked_count"), 1);
        assert_eq!(str_of(&web, "target_id").as_deref(), Some("whatsapp/web"));
    }

    #[test]
    fn rates_of_no_files_are_an_empty_table_with_every_column() {
        let out = failure_rates(scan_outcomes(&[]).unwrap())
            .collect()
            .unwrap();
        assert_eq!(out.height(), 0);
        for c in [
            "blocked_count",
            "blocked_rate",
            "blocked_ci_low",
            "blocked_ci_high",
            "down_count",
            "top_blocking_kind",
            "report_count",
            "target_id",
            "rollup",
        ] {
            assert!(out.column(c).is_ok(), "{c}");
        }
    }

    #[test]
    fn failure_rates_in_passes_equal_one_pass() {
        // Four (country, ASN) networks, pooled WhatsApp endpoints among them.
        let mut networks = Vec::new();
        for (i, (cc, asn)) in [
            ("AZ", 28787u32),
            ("AZ", 29049),
            ("IR", 197207),
            ("RU", 12389),
        ]
        .into_iter()
        .enumerate()
        {
            let mut rows = vec![
                row("a", "web.whatsapp.com", "tls", "blocked"),
                row("b", "web.whatsapp.com", "tls", "ok"),
                row(
                    "c",
                    "example.org",
                    "dns",
                    if i % 2 == 0 { "down" } else { "ok" },
                ),
            ];
            for (uid, host, status) in [
                ("d", "e1.whatsapp.net", "ok"),
                ("d", "e2.whatsapp.net", "blocked"),
            ] {
                rows.push(Row {
                    target_id: Some("whatsapp/endpoints"),
                    test: "whatsapp",
                    ..row(uid, host, "tcp", status)
                });
            }
            networks.push(frame(&rows).with_columns([
                lit(cc).alias("probe_cc"),
                lit(asn).cast(DataType::UInt32).alias("probe_asn"),
            ]));
        }
        let all = || Ok(concat(networks.clone(), UnionArgs::default()).unwrap());
        let one_pass = failure_rates(all().unwrap()).collect().unwrap();
        assert_eq!(one_pass.column("probe_asn").unwrap().n_unique().unwrap(), 4);
        for max_rows in [1, 5, 6, 11, 1_000] {
            let passes = failure_rates_in_passes(all, max_rows).unwrap();
            assert!(
                passes.equals_missing(&one_pass),
                "max_rows {max_rows}:\n{passes}\n{one_pass}"
            );
        }
    }
}
