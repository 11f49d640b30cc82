//! What an analyst publishes: a static, self-contained HTML report per country, and CSV
//! exports of the tables for spreadsheets.
//!
//! The principal items:
//! - [`Report`]: the data of a report, loaded once from explicit lists of files
//!   ([`Inputs`]: `failure_rates`, and `blocking_events` — or, when none are given, the
//!   events are detected on the spot with `ooni-events`); [`Report::render_country`]
//!   returns one country's page; [`write_reports`] writes `<dest>/<CC>.html`;
//! - [`export_csv`]: `failure_rates` or `blocking_events` as CSV, filtered by [`Filter`]
//!   (countries, `[since, until)`), for the tables named by [`Table`].
//!
//! A page opens offline: its heatmaps are inline SVG drawn with plotters (no scripts, no
//! fonts, no external files) and its HTML is escaped by maud, so names from measurements
//! (network names, domains) cannot inject markup.

mod export;
mod heatmap;
mod html;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ooni_events::{EventsError, Signal};
use polars::prelude::*;

pub use export::{Filter, Table, export_csv};

/// Building a report or an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the tables or detecting the events failed.
    #[error(transparent)]
    Events(#[from] EventsError),
    /// Reading a table through `ooni-aggregate` failed.
    #[error(transparent)]
    Aggregate(#[from] ooni_aggregate::AggregateError),
    /// Polars failed while reading.
    #[error("{what}")]
    Polars {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: PolarsError,
    },
    /// plotters failed to draw a heatmap.
    #[error("drawing a heatmap: {0}")]
    Draw(String),
    /// The country has no measurements in the files given.
    #[error("no measurements for country {0:?} in the failure_rates files given")]
    NoData(String),
    /// A country code that is not two capital letters (it names the output file).
    #[error("{0:?} is not a country code (two capital letters)")]
    BadCountry(String),
    /// An unknown table name for export.
    #[error("unknown table {0:?}: expected failure_rates or blocking_events")]
    UnknownTable(String),
    /// Writing a file or the CSV stream failed.
    #[error("writing {path}")]
    Io {
        /// The file (or `-` for a stream).
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Encoding CSV failed.
    #[error("writing CSV")]
    Csv(#[from] csv::Error),
}

pub(crate) fn polars_err(what: impl Into<String>) -> impl FnOnce(PolarsError) -> ReportError {
    let what = what.into();
    move |source| ReportError::Polars { what, source }
}

/// The files a report reads, each list exactly as the caller's manifest has it.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `failure_rates/<day>.parquet` files (required).
    pub failure_rates: Vec<PathBuf>,
    /// `blocking_events` files. When empty, the events are detected from the other inputs
    /// with `ooni_events::Params::default()`.
    pub blocking_events: Vec<PathBuf>,
    /// `outcomes` files: witnesses, when the events are detected here (optional).
    pub outcomes: Vec<PathBuf>,
    /// `measurements` files: network names (optional).
    pub measurements: Vec<PathBuf>,
}

/// One series' cell: (test, domain, stage, ASN) → day → (measurements, positives).
pub(crate) type Counts =
    BTreeMap<(String, Option<String>, String, u32), BTreeMap<NaiveDate, (u64, u64)>>;

/// An event as the report shows it.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub event_id: String,
    pub group_id: String,
    pub probe_asn: u32,
    pub test_name: String,
    pub domain: Option<String>,
    pub stage: String,
    pub kind: Option<String>,
    pub onset_last_clean_day: Option<NaiveDate>,
    pub onset_day: NaiveDate,
    pub end_last_blocked_day: NaiveDate,
    pub end_day: Option<NaiveDate>,
    pub end_confirmed: Option<bool>,
    pub days_without_data: u32,
    pub inside: (u64, u64),
    pub inside_ci: Option<(f64, f64, f64)>,
    pub baseline: (u64, u64),
    pub baseline_ci: Option<(f64, f64, f64)>,
    pub witnesses: Vec<(String, Option<String>)>,
}

/// One country's data.
#[derive(Debug, Clone, Default)]
pub(crate) struct Country {
    pub counts: Counts,
    pub events: Vec<Event>,
}

/// The data of the reports: daily counts per series and the events, per country.
#[derive(Debug, Clone)]
pub struct Report {
    pub(crate) signal: Signal,
    pub(crate) countries: BTreeMap<String, Country>,
    pub(crate) network_names: BTreeMap<(String, u32), String>,
}

fn date_of(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(days.into()))
}

/// The events of a `blocking_events` frame (the columns of `ooni_events::COLUMNS`).
fn events_from_frame(
    frame: &DataFrame,
) -> Result<Vec<(String, Option<String>, Event)>, ReportError> {
    let err = |what: &str| polars_err(format!("reading blocking_events column {what}"));
    let s = |name: &str| -> Result<StringChunked, ReportError> {
        let column = frame.column(name).map_err(err(name))?;
        Ok(column
            .cast(&DataType::String)
            .map_err(err(name))?
            .str()
            .map_err(err(name))?
            .clone())
    };
    let num = |name: &str, dtype: DataType| -> Result<Column, ReportError> {
        frame
            .column(name)
            .map_err(err(name))?
            .cast(&dtype)
            .map_err(err(name))
    };
    let date = |name: &str| -> Result<Int32Chunked, ReportError> {
        Ok(num(name, DataType::Int32)?
            .i32()
            .map_err(err(name))?
            .clone())
    };
    let u64s = |name: &str| -> Result<UInt64Chunked, ReportError> {
        Ok(num(name, DataType::UInt64)?
            .u64()
            .map_err(err(name))?
            .clone())
    };
    let f64s = |name: &str| -> Result<Float64Chunked, ReportError> {
        Ok(num(name, DataType::Float64)?
            .f64()
            .map_err(err(name))?
            .clone())
    };
    let (event_id, group_id, cc, name, test, domain, stage, kind) = (
        s("event_id")?,
        s("group_id")?,
        s("probe_cc")?,
        s("probe_network_name")?,
        s("test_name")?,
        s("domain")?,
        s("stage")?,
        s("blocking_kind")?,
    );
    let asn = num("probe_asn", DataType::UInt32)?;
    let asn = asn.u32().map_err(err("probe_asn"))?;
    let (onset_clean, onset, end_last, end) = (
        date("onset_last_clean_day")?,
        date("onset_day")?,
        date("end_last_blocked_day")?,
        date("end_day")?,
    );
    let confirmed = num("end_confirmed", DataType::Boolean)?;
    let confirmed = confirmed.bool().map_err(err("end_confirmed"))?;
    let without = u64s("days_without_data")?;
    let (n, k, bn, bk) = (
        u64s("measurement_count")?,
        u64s("blocked_count")?,
        u64s("baseline_measurement_count")?,
        u64s("baseline_blocked_count")?,
    );
    let (rate, lo, hi) = (
        f64s("blocked_rate")?,
        f64s("blocked_ci_low")?,
        f64s("blocked_ci_high")?,
    );
    let (brate, blo, bhi) = (
        f64s("baseline_rate")?,
        f64s("baseline_ci_low")?,
        f64s("baseline_ci_high")?,
    );
    let uids = frame
        .column("witness_uids")
        .map_err(err("witness_uids"))?
        .list()
        .map_err(err("witness_uids"))?
        .clone();
    let links = frame
        .column("witness_links")
        .map_err(err("witness_links"))?
        .list()
        .map_err(err("witness_links"))?
        .clone();
    let strings = |list: &ListChunked, i: usize| -> Vec<Option<String>> {
        list.get_as_series(i)
            .and_then(|s| s.str().ok().cloned())
            .map(|s| s.iter().map(|v| v.map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let triple = |a: Option<f64>, b: Option<f64>, c: Option<f64>| Some((a?, b?, c?));
    let mut out = Vec::new();
    for i in 0..frame.height() {
        let (Some(cc), Some(asn), Some(test), Some(stage), Some(onset), Some(end_last)) = (
            cc.get(i),
            asn.get(i),
            test.get(i),
            stage.get(i),
            onset.get(i).and_then(date_of),
            end_last.get(i).and_then(date_of),
        ) else {
            continue;
        };
        let witnesses = strings(&uids, i)
            .into_iter()
            .zip(
                strings(&links, i)
                    .into_iter()
                    .chain(std::iter::repeat(None)),
            )
            .filter_map(|(u, l)| u.map(|u| (u, l)))
            .collect();
        out.push((
            cc.to_owned(),
            name.get(i).map(str::to_owned),
            Event {
                event_id: event_id.get(i).unwrap_or_default().to_owned(),
                group_id: group_id.get(i).unwrap_or_default().to_owned(),
                probe_asn: asn,
                test_name: test.to_owned(),
                domain: domain.get(i).map(str::to_owned),
                stage: stage.to_owned(),
                kind: kind.get(i).map(str::to_owned),
                onset_last_clean_day: onset_clean.get(i).and_then(date_of),
                onset_day: onset,
                end_last_blocked_day: end_last,
                end_day: end.get(i).and_then(date_of),
                end_confirmed: confirmed.get(i),
                days_without_data: u32::try_from(without.get(i).unwrap_or(0)).unwrap_or(u32::MAX),
                inside: (n.get(i).unwrap_or(0), k.get(i).unwrap_or(0)),
                inside_ci: triple(rate.get(i), lo.get(i), hi.get(i)),
                baseline: (bn.get(i).unwrap_or(0), bk.get(i).unwrap_or(0)),
                baseline_ci: triple(brate.get(i), blo.get(i), bhi.get(i)),
                witnesses,
            },
        ));
    }
    Ok(out)
}

impl Report {
    /// Reads the daily counts and the events (from `blocking_events` files, or detected
    /// from the other inputs when none are given).
    pub fn load(inputs: &Inputs) -> Result<Report, ReportError> {
        let signal = ooni_events::signal_of(&inputs.failure_rates)?;
        let mut countries: BTreeMap<String, Country> = BTreeMap::new();
        for (key, day) in ooni_events::read_counts(&inputs.failure_rates, signal)? {
            let cell = countries
                .entry(key.probe_cc)
                .or_default()
                .counts
                .entry((key.test_name, key.domain, key.stage, key.probe_asn))
                .or_default()
                .entry(day.day)
                .or_default();
            cell.0 += day.measurements;
            cell.1 += day.positives;
        }
        let frame = if inputs.blocking_events.is_empty() {
            let params = ooni_events::Params::default();
            let events = ooni_events::detect_files(
                &ooni_events::Inputs {
                    failure_rates: inputs.failure_rates.clone(),
                    outcomes: inputs.outcomes.clone(),
                    measurements: inputs.measurements.clone(),
                },
                &params,
            )?;
            ooni_events::events_frame(&events, &params)?
        } else {
            ooni_events::read_table(&inputs.blocking_events)?
        };
        let mut network_names = if inputs.measurements.is_empty() {
            BTreeMap::new()
        } else {
            ooni_events::network_names(&inputs.measurements)?
        };
        for (cc, name, event) in events_from_frame(&frame)? {
            if let Some(name) = name {
                network_names
                    .entry((cc.clone(), event.probe_asn))
                    .or_insert(name);
            }
            countries.entry(cc).or_default().events.push(event);
        }
        Ok(Report {
            signal,
            countries,
            network_names,
        })
    }

    /// The countries with measurements, sorted.
    pub fn countries(&self) -> Vec<String> {
        self.countries
            .iter()
            .filter(|(_, c)| !c.counts.is_empty())
            .map(|(cc, _)| cc.clone())
            .collect()
    }

    /// The self-contained HTML page of country `cc`.
    pub fn render_country(&self, cc: &str) -> Result<String, ReportError> {
        check_country(cc)?;
        let country = self
            .countries
            .get(cc)
            .filter(|c| !c.counts.is_empty())
            .ok_or_else(|| ReportError::NoData(cc.to_owned()))?;
        html::page(self, cc, country)
    }

    pub(crate) fn network_name(&self, cc: &str, asn: u32) -> Option<&str> {
        self.network_names
            .get(&(cc.to_owned(), asn))
            .map(String::as_str)
    }
}

fn check_country(cc: &str) -> Result<(), ReportError> {
    if cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ReportError::BadCountry(cc.to_owned()))
    }
}

/// One country's page from `inputs` (see [`Report::load`]).
pub fn render_country(inputs: &Inputs, cc: &str) -> Result<String, ReportError> {
    Report::load(inputs)?.render_country(cc)
}

/// Writes `<dest>/<CC>.html` for each of `countries` (every country with measurements when
/// empty), each through a temporary file and a rename so a reader never sees half a page.
/// Returns the files written.
pub fn write_reports(
    inputs: &Inputs,
    dest: &Path,
    countries: &[String],
) -> Result<Vec<PathBuf>, ReportError> {
    let report = Report::load(inputs)?;
    let wanted: BTreeSet<String> = if countries.is_empty() {
        report.countries().into_iter().collect()
    } else {
        countries.iter().cloned().collect()
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ReportError::Io { path, source }
    };
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let mut written = Vec::new();
    for cc in wanted {
        let page = report.render_country(&cc)?;
        let path = dest.join(format!("{cc}.html"));
        let tmp = dest.join(format!(".{cc}.html.tmp"));
        std::fs::write(&tmp, page).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}
