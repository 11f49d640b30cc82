//! Parquet output: the Arrow schemas of the tables, the one place that decides writer
//! settings, and atomic, hive-partitioned files.
//!
//! The principal items:
//! - [`writer_properties`]: zstd, statistics, row-group size, `created_by` — every file
//!   this project writes goes through it;
//! - [`measurements_batch`]: [`Measured`] rows (from `ooni-model`) → an Arrow `RecordBatch`
//!   in the contract's column order and types (UTC timestamps, `Date32` days, integer ASNs);
//! - [`partition_dir`] and [`write_file_atomically`]: `table/test_name=…/measurement_day=…/`,
//!   written to a `.parquet.tmp` name and renamed, so readers never see a partial file.
//!
//! Partition values live in the directory names only (hive style), not in the files, so that
//! polars, pyarrow and DuckDB agree on them.

mod batch;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

pub use batch::{
    measurements_batch, measurements_schema, observations_batch, observations_schema,
    outcomes_batch, outcomes_schema,
};
/// The rows a measurement makes and where it was read; they live in `ooni-model`.
pub use ooni_model::{Measured, Provenance};

/// Writing a file failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Filesystem error at `path`.
    #[error("writing {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Arrow or Parquet encoding error.
    #[error("encoding {path}")]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A partition value that is not safe as a directory name.
    #[error("refusing partition value {value:?} for {column}: not a plain identifier")]
    UnsafePartitionValue {
        /// The partition column.
        column: &'static str,
        /// The value.
        value: String,
    },
}

/// The writer settings for every Parquet file of this project.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_created_by(format!("ooni-pipeline {}", env!("CARGO_PKG_VERSION")))
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_dictionary_enabled(true)
        // Unique per row: a dictionary interns values until its page is full, then falls
        // back to plain. Without it the benchmark's measurements files are 4.5% smaller.
        .set_column_dictionary_enabled(ColumnPath::from("measurement_uid"), false)
        .set_column_dictionary_enabled(ColumnPath::from("content_id"), false)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build()
}

/// `root/table/test_name=<test_name>/measurement_day=<YYYY-MM-DD>`, after checking that the
/// test name cannot escape the directory (it comes from untrusted measurement bodies): the
/// one test-name rule, [`ooni_model::TestName::is_valid`], which every row's name passed.
pub fn partition_dir(
    root: &Path,
    table: &str,
    test_name: &str,
    day: NaiveDate,
) -> Result<PathBuf, WriteError> {
    if !ooni_model::TestName::is_valid(test_name) {
        return Err(WriteError::UnsafePartitionValue {
            column: "test_name",
            value: test_name.to_owned(),
        });
    }
    Ok(root
        .join(table)
        .join(format!("test_name={test_name}"))
        .join(format!("measurement_day={}", day.format("%Y-%m-%d"))))
}

/// Writes `batches` to `path` through a `.parquet.tmp` sibling and a rename, so that a
/// crash never leaves a partial file under a name readers glob for (`*.parquet`).
pub fn write_file_atomically(path: &Path, batches: &[RecordBatch]) -> Result<(), WriteError> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    let io = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let pq = |source| WriteError::Parquet {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("parquet.tmp");
    let file = fs::File::create(&tmp).map_err(io)?;
    let mut writer =
        ArrowWriter::try_new(file, Arc::clone(&first.schema()), Some(writer_properties()))
            .map_err(pq)?;
    for batch in batches {
        writer.write(batch).map_err(pq)?;
    }
    let file = writer.into_inner().map_err(pq)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

/// Re-encodes Parquet bytes produced elsewhere (the polars aggregations) with
/// [`writer_properties`], so every file of the output has the same settings.
pub fn rewrite_parquet_bytes(bytes: Vec<u8>, path: &Path) -> Result<(), WriteError> {
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    let pq = |source| WriteError::Parquet {
        path: path.to_owned(),
        source,
    };
    // Without polars' embedded Arrow schema, types come from the Parquet logical types
    // (plain Utf8 rather than polars' string views), which every reader understands.
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(bytes::Bytes::from(bytes), options)
            .map_err(pq)?;
    let schema = Arc::clone(builder.schema());
    let mut batches = builder
        .build()
        .map_err(pq)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pq(e.into()))?;
    if batches.is_empty() {
        // An empty table is still a readable file with its columns.
        batches.push(RecordBatch::new_empty(schema));
    }
    write_file_atomically(path, &batches)
}

/// Passes each non-null value of one string column of a Parquet file to `visit`, without
/// keeping them (e.g. the `content_id`s already written to a partition, to keep late uploads
/// from adding duplicates).
pub fn for_each_string(
    path: &Path,
    column: &str,
    mut visit: impl FnMut(&str),
) -> Result<(), WriteError> {
    use arrow::array::{Array, AsArray};
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let pq = |source| WriteError::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(|source| WriteError::Io {
        path: path.to_owned(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let index = builder
        .schema()
        .index_of(column)
        .map_err(|e| pq(e.into()))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
    for batch in builder.with_projection(mask).build().map_err(pq)? {
        let batch = batch.map_err(|e| pq(e.into()))?;
        let array = batch.column(0);
        let Some(strings) = array.as_string_opt::<i32>() else {
            return Err(pq(parquet::errors::ParquetError::General(format!(
                "column {column} is not a string column"
            ))));
        };
        (0..strings.len())
            .filter(|i| strings.is_valid(*i))
            .for_each(|i| visit(strings.value(i)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writer_properties_are_zstd_with_statistics() {
        let props = writer_properties();
        let col = parquet::schema::types::ColumnPath::from("x");
        assert!(matches!(props.compression(&col), Compression::ZSTD(_)));
        assert!(props.dictionary_enabled(&col));
        assert_eq!(props.statistics_enabled(&col), EnabledStatistics::Page);
        assert!(props.created_by().starts_with("ooni-pipeline "));
    }

    #[test]
    fn hostile_test_names_never_become_paths() {
        let day = NaiveDate::from_ymd_opt(2020, 10, 20).unwrap();
        let root = Path::new("/out");
        for bad in ["../../x", "AZ/..", "a\0b", "", &"x".repeat(65)] {
            assert!(
                partition_dir(root, "measurements", bad, day).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            partition_dir(root, "measurements", "web_connectivity", day).unwrap(),
            Path::new("/out/measurements/test_name=web_connectivity/measurement_day=2020-10-20")
        );
    }
}
