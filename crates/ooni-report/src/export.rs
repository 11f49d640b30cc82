//! CSV export of `failure_rates` and `blocking_events` for spreadsheets: filtered by
//! country and days, sorted, one header line, RFC 4180 quoting (the `csv` crate), dates as
//! `YYYY-MM-DD`, nulls as empty fields, lists (witnesses) joined with spaces.

use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::NaiveDate;
use polars::prelude::*;

use crate::{ReportError, polars_err};

/// A table that can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `failure_rates`: rows whose `measurement_day` is in `[since, until)`.
    FailureRates,
    /// `blocking_events`: events overlapping `[since, until)` (onset before `until`, and
    /// ongoing or ended after `since`).
    BlockingEvents,
}

impl FromStr for Table {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match ooni_model::Table::from_name(s) {
            Some(ooni_model::Table::FailureRates) => Ok(Table::FailureRates),
            Some(ooni_model::Table::BlockingEvents) => Ok(Table::BlockingEvents),
            _ => Err(ReportError::UnknownTable(s.to_owned())),
        }
    }
}

impl From<Table> for ooni_model::Table {
    fn from(table: Table) -> ooni_model::Table {
        match table {
            Table::FailureRates => ooni_model::Table::FailureRates,
            Table::BlockingEvents => ooni_model::Table::BlockingEvents,
        }
    }
}

impl Table {
    /// The table's name (its directory in the output).
    pub fn name(self) -> &'static str {
        ooni_model::Table::from(self).as_str()
    }

    fn sort_keys(self) -> &'static [&'static str] {
        match self {
            Table::FailureRates => &ooni_aggregate::FAILURE_RATE_KEYS,
            Table::BlockingEvents => &[
                "probe_cc",
                "onset_day",
                "probe_asn",
                "test_name",
                "domain",
                "stage",
            ],
        }
    }
}

/// Which rows to export. Empty `probe_cc` = every country; days are UTC, `since`
/// inclusive and `until` exclusive as everywhere in the pipeline.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Countries to keep (none = all).
    pub probe_cc: Vec<String>,
    /// First day kept.
    pub since: Option<NaiveDate>,
    /// First day no longer kept.
    pub until: Option<NaiveDate>,
}

impl Filter {
    fn predicate(&self, table: Table) -> Expr {
        let mut keep = lit(true);
        if !self.probe_cc.is_empty() {
            let any_cc = self
                .probe_cc
                .iter()
                .map(|cc| col("probe_cc").eq(lit(cc.clone())))
                .reduce(Expr::or)
                .unwrap_or(lit(false));
            keep = keep.and(any_cc);
        }
        match table {
            Table::FailureRates => {
                if let Some(since) = self.since {
                    keep = keep.and(col("measurement_day").gt_eq(lit(since)));
                }
                if let Some(until) = self.until {
                    keep = keep.and(col("measurement_day").lt(lit(until)));
                }
            }
            Table::BlockingEvents => {
                if let Some(until) = self.until {
                    keep = keep.and(col("onset_day").lt(lit(until)));
                }
                if let Some(since) = self.since {
                    keep = keep.and(col("end_day").is_null().or(col("end_day").gt(lit(since))));
                }
            }
        }
        keep
    }
}

/// Reads the rows of `files` that pass `filter` into one frame: files written before and
/// after a column was added are read together, the missing columns empty.
fn read(table: Table, files: &[PathBuf], filter: &Filter) -> Result<DataFrame, ReportError> {
    let what = || format!("reading {} for export", table.name());
    let mut frames = Vec::new();
    let mut columns: Vec<(PlSmallStr, DataType)> = Vec::new();
    for file in files {
        let path = PlRefPath::from(file.to_string_lossy().as_ref());
        let frame = LazyFrame::scan_parquet_files(vec![path].into(), ScanArgsParquet::default())
            .and_then(|lf| lf.filter(filter.predicate(table)).collect())
            .map_err(polars_err(format!("{} ({})", what(), file.display())))?;
        for (name, dtype) in frame.schema().iter() {
            if !columns.iter().any(|(n, _)| n == name) {
                columns.push((name.clone(), dtype.clone()));
            }
        }
        frames.push(frame);
    }
    let mut out: Option<DataFrame> = None;
    for frame in frames {
        let height = frame.height();
        let aligned: Vec<Column> = columns
            .iter()
            .map(|(name, dtype)| match frame.column(name) {
                Ok(c) => c.cast(dtype),
                Err(_) => Ok(Column::full_null(name.clone(), height, dtype)),
            })
            .collect::<PolarsResult<_>>()
            .map_err(polars_err(what()))?;
        let aligned = DataFrame::new(height, aligned).map_err(polars_err(what()))?;
        out = Some(match out {
            None => aligned,
            Some(mut acc) => {
                acc.vstack_mut(&aligned).map_err(polars_err(what()))?;
                acc
            }
        });
    }
    let Some(frame) = out else {
        return Ok(DataFrame::empty());
    };
    let keys: Vec<&str> = table
        .sort_keys()
        .iter()
        .copied()
        .filter(|k| frame.schema().contains(k))
        .collect();
    if keys.is_empty() {
        return Ok(frame);
    }
    frame
        .sort(
            keys,
            SortMultipleOptions::default()
                .with_nulls_last(true)
                .with_maintain_order(true),
        )
        .map_err(polars_err(what()))
}

/// A value as CSV text.
fn text(value: &AnyValue<'_>) -> String {
    match value {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => (*s).to_owned(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Date(days) => NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|e| e.checked_add_signed(chrono::Duration::days((*days).into())))
            .map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string()),
        AnyValue::List(series) => series
            .iter()
            .map(|v| text(&v))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// Writes the rows of `files` (a `table`'s Parquet files, as the caller's manifest lists
/// them) that pass `filter` to `out` as CSV, with a header line even when no row passes.
/// Returns the number of rows written.
pub fn export_csv<W: Write>(
    table: Table,
    files: &[PathBuf],
    filter: &Filter,
    out: W,
) -> Result<u64, ReportError> {
    let mut frame = read(table, files, filter)?;
    if frame.width() == 0 {
        // No file: the table's columns, so a spreadsheet still gets a header.
        frame = match table {
            Table::BlockingEvents => {
                ooni_events::events_frame(&[], &ooni_events::Params::default())?
            }
            Table::FailureRates => {
                ooni_aggregate::collect(ooni_aggregate::scan_failure_rates(&[])?, "failure_rates")?
            }
        };
    }
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(frame.get_column_names().iter().map(|n| n.as_str()))?;
    let columns = frame.columns();
    let mut rows = 0u64;
    let mut record: Vec<String> = Vec::with_capacity(columns.len());
    for i in 0..frame.height() {
        record.clear();
        for column in columns {
            let value = column
                .get(i)
                .map_err(polars_err("reading a row for export"))?;
            record.push(text(&value));
        }
        writer.write_record(&record)?;
        rows += 1;
    }
    writer.flush().map_err(|source| ReportError::Io {
        path: PathBuf::from("-"),
        source,
    })?;
    Ok(rows)
}
