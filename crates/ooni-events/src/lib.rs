//! Blocking events: where blocking of a target starts and ends on a network, detected from
//! the daily `failure_rates` and written as the `blocking_events` table.
//!
//! The principal items:
//! - [`blocking_events`]: the whole table from explicit lists of files ([`Inputs`]): the
//!   `failure_rates` files (required), plus optionally `outcomes` (witness measurements) and
//!   `measurements` (network names); [`write_table`] writes it with the project's Parquet
//!   settings;
//! - [`detect`] and [`detect_series`]: the detector as pure functions over daily counts
//!   ([`SeriesKey`], [`DailyCount`] → [`Event`], [`Episode`]), tuned by [`Params`];
//! - [`Signal`]: which column is counted: `blocked_count` when every `failure_rates` file
//!   has it (interference confirmed against a control), `failure_count` otherwise.
//!
//! The detector is stateless and deterministic: it is recomputed from the daily aggregates
//! over the available history, so a backfill, a late upload or a rerun gives the same events
//! as one run over the whole period. The method and its parameters are in `docs/events.md`.
//!
//! Nothing here lists directories: callers pass the files their manifest lists, so files a
//! user keeps in the output directory are never read.

mod detect;
mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;

pub use detect::{
    Counts, DailyCount, Episode, Event, Params, SeriesEvents, SeriesKey, Signal, detect,
    detect_series, event_id,
};
pub use stats::wilson;

/// The base of OONI Explorer's measurement pages: `<base><measurement_uid>`.
pub const EXPLORER_MEASUREMENT_URL: &str = "https://explorer.ooni.org/m/";

/// The stages the detector runs on. `any` is left out: it repeats the stage rows, and an
/// event should name the stage that carries the signal.
pub const STAGES: [&str; 4] = ["dns", "tcp", "tls", "http"];

/// The columns of `blocking_events`, in order.
pub const COLUMNS: [&str; 35] = [
    "event_id",
    "group_id",
    "probe_cc",
    "probe_asn",
    "probe_network_name",
    "test_name",
    "domain",
    "stage",
    "blocking_kind",
    "signal",
    "onset_last_clean_day",
    "onset_day",
    "end_last_blocked_day",
    "end_day",
    "end_confirmed",
    "ongoing",
    "days_with_data",
    "days_without_data",
    "measurement_count",
    "blocked_count",
    "blocked_rate",
    "blocked_ci_low",
    "blocked_ci_high",
    "baseline_measurement_count",
    "baseline_blocked_count",
    "baseline_rate",
    "baseline_ci_low",
    "baseline_ci_high",
    "evidence_llr",
    "detector_p0",
    "detector_p1",
    "detector_h",
    "witness_uids",
    "witness_links",
    "group_size",
];

/// Detecting or writing events failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// Polars failed while reading or computing.
    #[error("{what}")]
    Polars {
        /// What was being done, with the file when there is one.
        what: String,
        /// The cause.
        #[source]
        source: PolarsError,
    },
    /// Encoding the table through `ooni-aggregate` failed.
    #[error("encoding blocking_events")]
    Aggregate(#[from] ooni_aggregate::AggregateError),
    /// A required column is missing from an input file.
    #[error("{file}: no column {column:?} (is this a {table} file?)")]
    MissingColumn {
        /// The file.
        file: PathBuf,
        /// The table it should belong to.
        table: &'static str,
        /// The missing column.
        column: &'static str,
    },
    /// Writing the Parquet file failed.
    #[error("writing {path}")]
    Write {
        /// The destination.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ooni_parquet::WriteError,
    },
}

fn polars_err(what: impl Into<String>) -> impl FnOnce(PolarsError) -> EventsError {
    let what = what.into();
    move |source| EventsError::Polars { what, source }
}

/// Typed columns of a collected frame; a missing or mistyped column is an error naming it.
fn str_col(df: &DataFrame, name: &str) -> Result<StringChunked, EventsError> {
    df.column(name)
        .and_then(|c| c.str().cloned())
        .map_err(polars_err(name))
}

fn u32_col(df: &DataFrame, name: &str) -> Result<UInt32Chunked, EventsError> {
    df.column(name)
        .and_then(|c| c.u32().cloned())
        .map_err(polars_err(name))
}

fn u64_col(df: &DataFrame, name: &str) -> Result<UInt64Chunked, EventsError> {
    df.column(name)
        .and_then(|c| c.u64().cloned())
        .map_err(polars_err(name))
}

fn i32_col(df: &DataFrame, name: &str) -> Result<Int32Chunked, EventsError> {
    df.column(name)
        .and_then(|c| c.i32().cloned())
        .map_err(polars_err(name))
}

/// The files the detector reads, each list exactly as the caller's manifest has it.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `failure_rates/<day>.parquet` files: the daily counts (required for any event).
    pub failure_rates: Vec<PathBuf>,
    /// Hive-partitioned `outcomes` files: witness `measurement_uid`s (optional).
    pub outcomes: Vec<PathBuf>,
    /// Hive-partitioned `measurements` files: `probe_network_name` per ASN (optional).
    pub measurements: Vec<PathBuf>,
}

/// Days since 1970-01-01, as polars stores dates.
fn epoch_days(day: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    i32::try_from((day - epoch).num_days()).unwrap_or(i32::MAX)
}

/// The date `days` after 1970-01-01.
fn from_epoch_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(days.into()))
}

/// Scans `files` grouped by their set of columns (files written before and after a column
/// was added can be read together), one lazy frame per group.
fn scan_by_schema(
    files: &[PathBuf],
    hive: bool,
    table: &'static str,
) -> Result<Vec<(Schema, LazyFrame)>, EventsError> {
    let args = || ScanArgsParquet {
        hive_options: if hive {
            HiveOptions::new_enabled()
        } else {
            HiveOptions::new_disabled()
        },
        ..ScanArgsParquet::default()
    };
    let paths = |files: &[&PathBuf]| {
        files
            .iter()
            .map(|p| PlRefPath::from(p.to_string_lossy().as_ref()))
            .collect()
    };
    let mut groups: BTreeMap<Vec<String>, (Schema, Vec<&PathBuf>)> = BTreeMap::new();
    for file in files {
        let mut one = LazyFrame::scan_parquet_files(paths(&[file]), args()).map_err(polars_err(
            format!("reading {table} file {}", file.display()),
        ))?;
        let schema = one.collect_schema().map_err(polars_err(format!(
            "reading {table} file {}",
            file.display()
        )))?;
        let mut names: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
        names.sort();
        groups
            .entry(names)
            .or_insert_with(|| (schema.as_ref().clone(), Vec::new()))
            .1
            .push(file);
    }
    groups
        .into_values()
        .map(|(schema, group)| {
            let frame = LazyFrame::scan_parquet_files(paths(&group), args())
                .map_err(polars_err(format!("reading {table} files")))?;
            Ok((schema, frame))
        })
        .collect()
}

fn require(
    schema: &Schema,
    column: &'static str,
    table: &'static str,
    files: &[PathBuf],
) -> Result<(), EventsError> {
    if schema.contains(column) {
        Ok(())
    } else {
        Err(EventsError::MissingColumn {
            file: files.first().cloned().unwrap_or_default(),
            table,
            column,
        })
    }
}

/// The signal the files support: `blocked_count` only when every file has it, so that no
/// series mixes two meanings of "positive".
pub fn signal_of(failure_rates: &[PathBuf]) -> Result<Signal, EventsError> {
    let groups = scan_by_schema(failure_rates, false, "failure_rates")?;
    let all_blocked = !groups.is_empty() && groups.iter().all(|(s, _)| s.contains("blocked_count"));
    Ok(if all_blocked {
        Signal::BlockedCount
    } else {
        Signal::FailureCount
    })
}

/// Reads the daily counts of every series (stages dns/tcp/tls/http) from `failure_rates`
/// files, counting `signal`'s column as positives.
pub fn read_counts(
    failure_rates: &[PathBuf],
    signal: Signal,
) -> Result<Vec<(SeriesKey, DailyCount)>, EventsError> {
    let mut cells = Vec::new();
    for (schema, frame) in scan_by_schema(failure_rates, false, "failure_rates")? {
        for column in [
            "measurement_day",
            "probe_cc",
            "probe_asn",
            "test_name",
            "stage",
            "measurement_count",
            signal.column(),
        ] {
            require(&schema, column, "failure_rates", failure_rates)?;
        }
        let kind_column = match signal {
            Signal::BlockedCount => "top_blocking_kind",
            Signal::FailureCount => "top_failure",
        };
        let kind = if schema.contains(kind_column) {
            col(kind_column).cast(DataType::String)
        } else {
            lit(NULL).cast(DataType::String)
        };
        let domain = if schema.contains("domain") {
            col("domain").cast(DataType::String)
        } else {
            lit(NULL).cast(DataType::String)
        };
        let is_stage = STAGES
            .iter()
            .map(|s| col("stage").eq(lit(*s)))
            .reduce(Expr::or)
            .unwrap_or(lit(false));
        let df = frame
            .filter(is_stage.and(col("measurement_count").gt(lit(0))))
            .select([
                col("measurement_day").cast(DataType::Int32).alias("day"),
                col("probe_cc").cast(DataType::String),
                col("probe_asn").cast(DataType::UInt32),
                col("test_name").cast(DataType::String),
                domain.alias("domain"),
                col("stage").cast(DataType::String),
                col("measurement_count").cast(DataType::UInt64).alias("n"),
                col(signal.column()).cast(DataType::UInt64).alias("k"),
                kind.alias("kind"),
            ])
            .collect()
            .map_err(polars_err("reading failure_rates"))?;
        let day = i32_col(&df, "day")?;
        let cc = str_col(&df, "probe_cc")?;
        let asn = u32_col(&df, "probe_asn")?;
        let test = str_col(&df, "test_name")?;
        let dom = str_col(&df, "domain")?;
        let stage = str_col(&df, "stage")?;
        let n = u64_col(&df, "n")?;
        let k = u64_col(&df, "k")?;
        let kinds = str_col(&df, "kind")?;
        for i in 0..df.height() {
            // Rows without a day, country, ASN or test cannot be placed in a series.
            let (Some(day), Some(cc), Some(asn), Some(test), Some(stage)) = (
                day.get(i).and_then(from_epoch_days),
                cc.get(i),
                asn.get(i),
                test.get(i),
                stage.get(i),
            ) else {
                continue;
            };
            cells.push((
                SeriesKey {
                    probe_cc: cc.to_owned(),
                    probe_asn: asn,
                    test_name: test.to_owned(),
                    domain: dom.get(i).map(str::to_owned),
                    stage: stage.to_owned(),
                },
                DailyCount {
                    day,
                    measurements: n.get(i).unwrap_or(0),
                    positives: k.get(i).unwrap_or(0),
                    top_kind: kinds.get(i).map(str::to_owned),
                },
            ));
        }
    }
    Ok(cells)
}

/// The most frequent `probe_network_name` of each (country, ASN) in `measurements` files
/// (ties to the alphabetically first name).
pub fn network_names(
    measurements: &[PathBuf],
) -> Result<BTreeMap<(String, u32), String>, EventsError> {
    let mut counts: BTreeMap<(String, u32), BTreeMap<String, u64>> = BTreeMap::new();
    for (schema, frame) in scan_by_schema(measurements, true, "measurements")? {
        if !schema.contains("probe_network_name") {
            continue;
        }
        let df = frame
            .filter(col("probe_network_name").is_not_null())
            .group_by([
                col("probe_cc").cast(DataType::String),
                col("probe_asn").cast(DataType::UInt32),
                col("probe_network_name").cast(DataType::String),
            ])
            .agg([len().cast(DataType::UInt64).alias("n")])
            .collect()
            .map_err(polars_err("reading measurements"))?;
        let cc = str_col(&df, "probe_cc")?;
        let asn = u32_col(&df, "probe_asn")?;
        let name = str_col(&df, "probe_network_name")?;
        let n = u64_col(&df, "n")?;
        for i in 0..df.height() {
            if let (Some(cc), Some(asn), Some(name)) = (cc.get(i), asn.get(i), name.get(i)) {
                *counts
                    .entry((cc.to_owned(), asn))
                    .or_default()
                    .entry(name.to_owned())
                    .or_default() += n.get(i).unwrap_or(0);
            }
        }
    }
    Ok(counts
        .into_iter()
        .filter_map(|(key, names)| {
            names
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                .map(|(name, _)| (key, name))
        })
        .collect())
}

/// Whether a uid is one of OONI's own (`YYYYMMDDhhmmss.ffffff_CC_test_hex`), which OONI
/// Explorer can open, as opposed to a `trivial_id` (40 hex digits) the pipeline computed
/// for a record that came without one.
pub fn is_ooni_uid(uid: &str) -> bool {
    uid.contains('_') && uid.bytes().take(14).all(|b| b.is_ascii_digit())
}

/// The OONI Explorer page of a measurement, when Explorer can open it.
pub fn explorer_link(uid: &str) -> Option<String> {
    is_ooni_uid(uid).then(|| format!("{EXPLORER_MEASUREMENT_URL}{uid}"))
}

/// Fills each event's witnesses from `outcomes` files: up to `count` positive measurements
/// of the series inside the episode — the first and the last, and the first with an OONI
/// uid (the kind Explorer can open) — in that order, without repeats.
pub fn add_witnesses(
    outcomes: &[PathBuf],
    events: &mut [Event],
    count: usize,
) -> Result<(), EventsError> {
    if events.is_empty() || outcomes.is_empty() || count == 0 {
        return Ok(());
    }
    let keys = detect::keys_of(events);
    let key_frame = df!(
        "probe_cc" => keys.iter().map(|k| k.probe_cc.as_str()).collect::<Vec<_>>(),
        "probe_asn" => keys.iter().map(|k| k.probe_asn).collect::<Vec<_>>(),
        "test_name" => keys.iter().map(|k| k.test_name.as_str()).collect::<Vec<_>>(),
        "domain" => keys.iter().map(|k| k.domain.as_deref()).collect::<Vec<_>>(),
        "stage" => keys.iter().map(|k| k.stage.as_str()).collect::<Vec<_>>(),
    )
    .map_err(polars_err("building the event keys"))?;
    let signal = events.first().map_or(Signal::FailureCount, |e| e.signal);
    let key_cols = || {
        [
            col("probe_cc"),
            col("probe_asn"),
            col("test_name"),
            col("domain"),
            col("stage"),
        ]
    };
    let mut positives: BTreeMap<SeriesKey, Vec<(NaiveDate, String)>> = BTreeMap::new();
    for (schema, frame) in scan_by_schema(outcomes, true, "outcomes")? {
        for column in [
            "measurement_uid",
            "probe_cc",
            "probe_asn",
            "test_name",
            "domain",
            "stage",
            "measurement_day",
        ] {
            require(&schema, column, "outcomes", outcomes)?;
        }
        // The same positives failure_rates counts: blocked (or failed) outcomes of
        // measurements that are neither test failures nor dropped.
        let mut positive = match signal {
            Signal::BlockedCount if schema.contains("status") => col("status").eq(lit("blocked")),
            _ if schema.contains("failed") => col("failed").fill_null(lit(false)),
            _ => continue,
        };
        if schema.contains("msm_failure") {
            positive = positive.and(col("msm_failure").fill_null(lit(false)).not());
        }
        if schema.contains("ooni_drop_reason") {
            positive = positive.and(col("ooni_drop_reason").is_null());
        }
        let mut args = JoinArgs::new(JoinType::Inner);
        args.nulls_equal = true;
        let df = frame
            .filter(positive)
            .select([
                col("probe_cc").cast(DataType::String),
                col("probe_asn").cast(DataType::UInt32),
                col("test_name").cast(DataType::String),
                col("domain").cast(DataType::String),
                col("stage").cast(DataType::String),
                col("measurement_day").cast(DataType::Int32).alias("day"),
                col("measurement_uid").cast(DataType::String),
            ])
            .join(key_frame.clone().lazy(), key_cols(), key_cols(), args)
            .unique_stable(None, UniqueKeepStrategy::First)
            .collect()
            .map_err(polars_err("reading outcomes for witnesses"))?;
        let cc = str_col(&df, "probe_cc")?;
        let asn = u32_col(&df, "probe_asn")?;
        let test = str_col(&df, "test_name")?;
        let dom = str_col(&df, "domain")?;
        let stage = str_col(&df, "stage")?;
        let day = i32_col(&df, "day")?;
        let uid = str_col(&df, "measurement_uid")?;
        for i in 0..df.height() {
            let (Some(cc), Some(asn), Some(test), Some(stage), Some(day), Some(uid)) = (
                cc.get(i),
                asn.get(i),
                test.get(i),
                stage.get(i),
                day.get(i).and_then(from_epoch_days),
                uid.get(i),
            ) else {
                continue;
            };
            let key = SeriesKey {
                probe_cc: cc.to_owned(),
                probe_asn: asn,
                test_name: test.to_owned(),
                domain: dom.get(i).map(str::to_owned),
                stage: stage.to_owned(),
            };
            positives
                .entry(key)
                .or_default()
                .push((day, uid.to_owned()));
        }
    }
    for list in positives.values_mut() {
        list.sort();
        list.dedup();
    }
    for event in events.iter_mut() {
        let Some(list) = positives.get(&event.key) else {
            continue;
        };
        let (from, to) = (event.episode.onset_day, event.episode.end_last_blocked_day);
        let inside: Vec<&String> = list
            .iter()
            .filter(|(day, _)| *day >= from && *day <= to)
            .map(|(_, uid)| uid)
            .collect();
        let candidates = [
            inside.first().copied(),
            inside.last().copied(),
            inside.iter().find(|uid| is_ooni_uid(uid)).copied(),
        ];
        let mut chosen: Vec<String> = Vec::new();
        for uid in candidates.into_iter().flatten() {
            if chosen.len() < count && !chosen.contains(uid) {
                chosen.push(uid.clone());
            }
        }
        event.witnesses = chosen;
    }
    Ok(())
}

/// Detects the events of every series in `inputs` and returns them typed, with network
/// names and witnesses when those inputs are given.
pub fn detect_files(inputs: &Inputs, params: &Params) -> Result<Vec<Event>, EventsError> {
    if inputs.failure_rates.is_empty() {
        return Ok(Vec::new());
    }
    let signal = signal_of(&inputs.failure_rates)?;
    let cells = read_counts(&inputs.failure_rates, signal)?;
    let mut events = detect(cells, signal, params);
    if !inputs.measurements.is_empty() {
        let names = network_names(&inputs.measurements)?;
        for e in &mut events {
            e.probe_network_name = names
                .get(&(e.key.probe_cc.clone(), e.key.probe_asn))
                .cloned();
        }
    }
    add_witnesses(&inputs.outcomes, &mut events, params.witnesses)?;
    Ok(events)
}

/// The `blocking_events` table from the files in `inputs` (see [`COLUMNS`]).
pub fn blocking_events(inputs: &Inputs, params: &Params) -> Result<DataFrame, EventsError> {
    events_frame(&detect_files(inputs, params)?, params)
}

fn date_column(name: &str, values: impl Iterator<Item = Option<NaiveDate>>) -> Column {
    Int32Chunked::from_iter_options(name.into(), values.map(|d| d.map(epoch_days)))
        .into_date()
        .into_column()
}

fn list_column(name: &str, values: Vec<Vec<Option<String>>>) -> Column {
    let dtype = DataType::List(Box::new(DataType::String));
    if values.is_empty() {
        return Column::new_empty(name.into(), &dtype);
    }
    let list: ListChunked = values
        .iter()
        .map(|v| {
            let s = Series::new(PlSmallStr::EMPTY, v.as_slice());
            // An empty list must still be a list of strings, not of nulls.
            Some(s.cast(&DataType::String).unwrap_or(s))
        })
        .collect();
    list.with_name(name.into()).into_column()
}

/// The table's frame from typed events, in [`COLUMNS`] order.
pub fn events_frame(events: &[Event], params: &Params) -> Result<DataFrame, EventsError> {
    let mut group_sizes: BTreeMap<&str, u32> = BTreeMap::new();
    for e in events {
        *group_sizes.entry(e.group_id.as_str()).or_default() += 1;
    }
    let strs = |f: &dyn Fn(&Event) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let inside: Vec<_> = events.iter().map(|e| e.episode.inside.wilson()).collect();
    let base: Vec<_> = events.iter().map(|e| e.baseline.wilson()).collect();
    let f64s = |v: &[Option<(f64, f64, f64)>], i: usize| -> Vec<Option<f64>> {
        v.iter()
            .map(|w| {
                w.map(|(a, b, c)| match i {
                    0 => a,
                    1 => b,
                    _ => c,
                })
            })
            .collect()
    };
    let u64s = |f: &dyn Fn(&Event) -> u64| events.iter().map(f).collect::<Vec<u64>>();
    let h = params.threshold();
    let columns = vec![
        Column::new("event_id".into(), strs(&|e| Some(e.event_id.clone()))),
        Column::new("group_id".into(), strs(&|e| Some(e.group_id.clone()))),
        Column::new("probe_cc".into(), strs(&|e| Some(e.key.probe_cc.clone()))),
        Column::new(
            "probe_asn".into(),
            events.iter().map(|e| e.key.probe_asn).collect::<Vec<u32>>(),
        ),
        Column::new(
            "probe_network_name".into(),
            strs(&|e| e.probe_network_name.clone()),
        ),
        Column::new("test_name".into(), strs(&|e| Some(e.key.test_name.clone()))),
        Column::new("domain".into(), strs(&|e| e.key.domain.clone())),
        Column::new("stage".into(), strs(&|e| Some(e.key.stage.clone()))),
        Column::new("blocking_kind".into(), strs(&|e| e.episode.kind.clone())),
        Column::new(
            "signal".into(),
            strs(&|e| Some(e.signal.column().to_owned())),
        ),
        date_column(
            "onset_last_clean_day",
            events.iter().map(|e| e.episode.onset_last_clean_day),
        ),
        date_column(
            "onset_day",
            events.iter().map(|e| Some(e.episode.onset_day)),
        ),
        date_column(
            "end_last_blocked_day",
            events.iter().map(|e| Some(e.episode.end_last_blocked_day)),
        ),
        date_column("end_day", events.iter().map(|e| e.episode.end_day)),
        Column::new(
            "end_confirmed".into(),
            events
                .iter()
                .map(|e| e.episode.end_confirmed)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "ongoing".into(),
            events
                .iter()
                .map(|e| e.episode.end_day.is_none())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "days_with_data".into(),
            events
                .iter()
                .map(|e| e.episode.days_with_data)
                .collect::<Vec<u32>>(),
        ),
        Column::new(
            "days_without_data".into(),
            events
                .iter()
                .map(|e| e.episode.days_without_data)
                .collect::<Vec<u32>>(),
        ),
        Column::new(
            "measurement_count".into(),
            u64s(&|e| e.episode.inside.measurements),
        ),
        Column::new(
            "blocked_count".into(),
            u64s(&|e| e.episode.inside.positives),
        ),
        Column::new("blocked_rate".into(), f64s(&inside, 0)),
        Column::new("blocked_ci_low".into(), f64s(&inside, 1)),
        Column::new("blocked_ci_high".into(), f64s(&inside, 2)),
        Column::new(
            "baseline_measurement_count".into(),
            u64s(&|e| e.baseline.measurements),
        ),
        Column::new(
            "baseline_blocked_count".into(),
            u64s(&|e| e.baseline.positives),
        ),
        Column::new("baseline_rate".into(), f64s(&base, 0)),
        Column::new("baseline_ci_low".into(), f64s(&base, 1)),
        Column::new("baseline_ci_high".into(), f64s(&base, 2)),
        Column::new(
            "evidence_llr".into(),
            events
                .iter()
                .map(|e| e.episode.evidence)
                .collect::<Vec<f64>>(),
        ),
        Column::new(
            "detector_p0".into(),
            events.iter().map(|e| e.p0).collect::<Vec<f64>>(),
        ),
        Column::new("detector_p1".into(), vec![params.p1; events.len()]),
        Column::new("detector_h".into(), vec![h; events.len()]),
        list_column(
            "witness_uids",
            events
                .iter()
                .map(|e| e.witnesses.iter().cloned().map(Some).collect())
                .collect(),
        ),
        list_column(
            "witness_links",
            events
                .iter()
                .map(|e| e.witnesses.iter().map(|u| explorer_link(u)).collect())
                .collect(),
        ),
        Column::new(
            "group_size".into(),
            events
                .iter()
                .map(|e| group_sizes.get(e.group_id.as_str()).copied().unwrap_or(1))
                .collect::<Vec<u32>>(),
        ),
    ];
    DataFrame::new(events.len(), columns).map_err(polars_err("building blocking_events"))
}

/// Writes the table to `path` (atomically, with the project's Parquet writer settings).
/// The CLI passes a path in its staging area and renames it into place.
pub fn write_table(events: &DataFrame, path: &Path) -> Result<(), EventsError> {
    let mut frame = events.clone();
    let bytes = ooni_aggregate::to_parquet_bytes(&mut frame, "blocking_events")?;
    ooni_parquet::rewrite_parquet_bytes(bytes, path).map_err(|source| EventsError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Reads `blocking_events` files written by [`write_table`].
pub fn read_table(files: &[PathBuf]) -> Result<DataFrame, EventsError> {
    if files.is_empty() {
        return events_frame(&[], &Params::default());
    }
    let frames = scan_by_schema(files, false, "blocking_events")?
        .into_iter()
        .map(|(_, f)| f)
        .collect::<Vec<_>>();
    concat(frames, UnionArgs::default())
        .and_then(LazyFrame::collect)
        .map_err(polars_err("reading blocking_events"))
}
