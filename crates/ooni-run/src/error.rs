//! Why a run failed. Bad records are not errors (they are counted and quarantined); these
//! are the failures that stop a run: the output directory, its state, the listing, writes.

use std::path::{Path, PathBuf};

/// Why a run, a fan-in or a state query failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file operation in the output directory failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done (`creating`, `removing`, `moving … to`).
        action: String,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The output directory's state refuses this run; the message says how to fix it.
    #[error("{0}")]
    Refused(String),
    /// A state file (manifest, pending list, lock) cannot be read.
    #[error("reading {}: {reason}", path.display())]
    BadState {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Listing the source failed (after the store's retries).
    #[error("listing {location}")]
    Listing {
        /// The source.
        location: String,
        /// The cause.
        #[source]
        source: ooni_source::StoreError,
    },
    /// A request to the remote output (`--out s3://…`) failed, after the store's retries.
    #[error(transparent)]
    Remote(Box<ooni_source::OutputError>),
    /// A Parquet file could not be written or read back.
    #[error("{what}")]
    Parquet {
        /// Which file, and what was being done.
        what: String,
        /// The cause.
        #[source]
        source: ooni_parquet::WriteError,
    },
    /// An Arrow batch could not be built.
    #[error("building a {table} batch")]
    Arrow {
        /// The table.
        table: &'static str,
        /// The cause.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// An aggregate query failed (the cause names the table).
    #[error("computing the aggregates")]
    Aggregate(#[from] ooni_aggregate::AggregateError),
    /// A polars operation on an aggregate failed.
    #[error("computing {what}")]
    Polars {
        /// Which table or day.
        what: String,
        /// The cause.
        #[source]
        source: polars::error::PolarsError,
    },
    /// The blocking-events table could not be computed or written.
    #[error("detecting blocking events")]
    Events(#[from] ooni_events::EventsError),
    /// A state or summary file could not be encoded.
    #[error("encoding JSON")]
    Json(#[from] serde_json::Error),
    /// Worker threads could not start, or one panicked.
    #[error("{0}")]
    Workers(String),
}

/// Attaches the action and path to an I/O error.
pub(crate) trait IoContext<T> {
    /// `result.at("removing", path)`.
    fn at(self, action: &str, path: &Path) -> Result<T, RunError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &str, path: &Path) -> Result<T, RunError> {
        self.map_err(|source| RunError::Io {
            action: action.to_owned(),
            path: path.to_owned(),
            source,
        })
    }
}

impl RunError {
    /// A refusal with its fix.
    pub(crate) fn refused(message: impl Into<String>) -> RunError {
        RunError::Refused(message.into())
    }

    /// Whether the cause is a closed pipe (`ooni-pipeline list | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, RunError::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
