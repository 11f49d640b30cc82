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

/// `failure_rates` from the `outcomes` directory (one row per measurement, domain and stage
/// that the measurement reached; see `ooni-observations` for the first-failing-stage rule).
///
/// `measurement_count` counts distinct measurements with an outcome, excluding those OONI
/// would call a test failure (`msm_failure`), which are counted in `msm_failure_count`
/// instead; measurements OONI drops (no report id, ZZ, AS0) are left out entirely.
/// `failure_rate`, `ci_low` and `ci_high` are null when `measurement_count` is 0: an empty
/// cell must not read as "reachable".
pub fn failure_rates(outcomes: LazyFrame) -> LazyFrame {
    let outcomes = outcomes.filter(col("ooni_drop_reason").is_null());
    let keys: Vec<Expr> = FAILURE_RATE_KEYS.iter().map(|k| col(*k)).collect();
    let valid = col("msm_failure").not();
    let counts = outcomes.clone().group_by(keys.clone()).agg([
        col("measurement_uid")
            .filter(valid.clone())
            .n_unique()
            .cast(DataType::UInt32)
            .alias("measurement_count"),
        col("measurement_uid")
            .filter(valid.clone().and(col("failed")))
            .n_unique()
            .cast(DataType::UInt32)
            .alias("failure_count"),
        col("measurement_uid")
            .filter(col("msm_failure"))
            .n_unique()
            .cast(DataType::UInt32)
            .alias("msm_failure_count"),
    ]);
    let mut failure_keys = keys.clone();
    failure_keys.push(col("failure"));
    let top_failure = outcomes
        .filter(valid.and(col("failed")))
        .group_by(failure_keys)
        .agg([len().alias("n")])
        .group_by(keys.clone())
        .agg([col("failure")
            .sort_by(
                [col("n"), col("failure")],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            )
            .first()
            .alias("top_failure")]);
    let (p, low, high) = wilson(col("failure_count"), col("measurement_count"));
    // Null, not 0, for empty cells: an empty cell must not read as "reachable".
    let when_counted = |e: Expr| {
        when(col("measurement_count").gt(lit(0)))
            .then(e)
            .otherwise(lit(NULL).cast(DataType::Float64))
    };
    let sort_keys: Vec<PlSmallStr> = FAILURE_RATE_KEYS.iter().map(|k| (*k).into()).collect();
    counts
        .join(
            top_failure,
            keys.clone(),
            keys,
            JoinArgs::new(JoinType::Left).with_coalesce(JoinCoalesce::CoalesceColumns),
        )
        .with_columns([
            when_counted(p).alias("failure_rate"),
            // The Wilson bounds are exactly 0 with no failures and 1 with all failures.
            when_counted(
                when(col("failure_count").eq(lit(0)))
                    .then(lit(0.0))
                    .otherwise(low),
            )
            .alias("ci_low"),
            when_counted(
                when(col("failure_count").eq(col("measurement_count")))
                    .then(lit(1.0))
                    .otherwise(high),
            )
            .alias("ci_high"),
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
        ])
        .sort(
            sort_keys,
            SortMultipleOptions::default().with_nulls_last(true),
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
/// (country, ASN, test, domain) with the counts behind each rate, ranked by the lower
/// bound of the 95% Wilson interval.
pub fn worst_cells(
    failure_rates: LazyFrame,
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
    failure_rates
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
        )
        .unwrap()
        .lazy();
        let next = day().succ_opt().unwrap();
        let worst = worst_cells(rates, day(), next, 10).collect().unwrap();
        let column = worst.column("domain").unwrap().str().unwrap();
        let domains: Vec<_> = (0..column.len()).filter_map(|i| column.get(i)).collect();
        assert_eq!(domains, ["many.example", "one.example"]);
    }
}
