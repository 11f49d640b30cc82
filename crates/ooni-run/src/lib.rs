//! One ooni-pipeline run, end to end: plan → read → stage → commit → aggregate.
//!
//! The principal items:
//! - [`run`]: reads the archives a [`RunPlan`] selects from a [`Store`], normalizes them
//!   in parallel, commits them batch by batch into the output directory and recomputes the
//!   aggregates of the days that changed; returns a [`RunSummary`];
//! - [`aggregate`]: the fan-in after sharded runs ([`FanInSummary`]);
//! - [`Observer`] and [`Event`]: how a caller follows a run (progress, notes) and asks it to
//!   stop; tests use the same events to inject faults at chosen points;
//! - [`committed_files`] and [`table_files`]: the files a run committed, for readers;
//! - [`RunError`]: why a run failed (bad records are never errors: they are counted and
//!   quarantined in `rejects/`).
//!
//! The output directory's state (manifest, pending lists, lock) lives in `state.rs` and
//! `lock.rs`; `read.rs` turns one archive into rows, `tables.rs` writes the aggregates.
//! Nothing here parses flags, prints, or installs signal handlers: that is the CLI's.
//!
//! ```no_run
//! use std::collections::BTreeSet;
//!
//! use chrono::NaiveDate;
//! use ooni_run::{Event, Observer, RunPlan};
//! use ooni_source::{Limits, LocalStore, Selection};
//!
//! /// Prints the run's notes; stops nobody.
//! struct Notes;
//! impl Observer for Notes {
//!     fn event(&self, event: Event<'_>) {
//!         if let Event::Note(line) = event {
//!             eprintln!("{line}");
//!         }
//!     }
//! }
//!
//! let plan = RunPlan {
//!     selection: Selection {
//!         since: NaiveDate::from_ymd_opt(2020, 10, 20).unwrap(),
//!         until: NaiveDate::from_ymd_opt(2020, 10, 22).unwrap(),
//!         late_upload_days: 3,
//!         probe_cc: BTreeSet::from(["AZ".to_owned()]),
//!         test_names: BTreeSet::new(),
//!         cans: false,
//!     },
//!     out: "out/az".into(),
//!     jobs: 2,
//!     limits: Limits::default(),
//!     full_refresh: false,
//!     batch_bytes: 64 << 20,
//!     shard: None,
//!     remote: None,
//! };
//! let summary = ooni_run::run(&plan, &LocalStore::new("examples/bucket"), &Notes)?;
//! assert!(summary.conservation.holds);
//! # Ok::<(), ooni_run::RunError>(())
//! ```

mod error;
mod fanin;
mod lock;
mod plan;
mod read;
mod rejects;
mod remote;
mod run;
mod seen;
mod shards;
mod state;
mod summary;
mod tables;
#[cfg(test)]
mod testing;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use error::RunError;
pub use fanin::{FanInSummary, aggregate};
pub use ooni_model::Table;
pub use ooni_source::Store;
pub use plan::RunPlan;
pub use run::{human_bytes, run};
pub use shards::{bytes_per_unit, plan as plan_shards};
pub use state::Shard;
pub use summary::{RunSummary, WorstCell};

/// Something a run did, as it happens.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A line worth telling the operator (a repair, a stale lock taken over, a damaged
    /// archive, an archive left for the next run).
    Note(&'a str),
    /// Listing progress.
    Listing {
        /// Prefixes listed so far.
        prefixes_done: u64,
        /// Prefixes to list.
        prefixes_total: u64,
        /// Objects found so far.
        objects_found: u64,
    },
    /// The archives to read are known.
    ReadStarted {
        /// How many.
        archives: u64,
    },
    /// An archive was read and normalized.
    ArchiveRead {
        /// Its key.
        key: &'a str,
        /// Its stored bytes.
        stored_bytes: u64,
        /// Records read from it.
        records: u64,
    },
    /// A partition file was written to the staging area.
    FileStaged {
        /// The staged file.
        path: &'a Path,
    },
    /// A staged file was moved into place (before the manifest records it).
    FileCommitted {
        /// The committed file.
        path: &'a Path,
    },
    /// Every archive was read (or the run stopped reading).
    ReadFinished,
    /// An aggregate file was rewritten.
    AggregateWritten {
        /// The file.
        path: &'a Path,
    },
    /// A commit's files were uploaded to the remote output, before the conditional write
    /// of the manifest that commits them.
    Uploaded {
        /// How many.
        files: u64,
    },
}

/// Follows a run. Every method has a default, so an observer implements what it needs.
///
/// Events come from worker threads too, hence `Sync`.
pub trait Observer: Sync {
    /// Called as the run goes.
    fn event(&self, event: Event<'_>) {
        let _ = event;
    }

    /// Whether the run should stop, and why (e.g. `"SIGTERM"`): the run then reads no
    /// new archive, abandons the batch it was reading (nothing of it was committed),
    /// releases its lock and returns a summary with `interrupted` set.
    fn stop_requested(&self) -> Option<&'static str> {
        None
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// Every file committed in `out` by whole runs, shards and fan-ins (relative paths):
/// what readers (report, export) may open. An output directory that does not exist is
/// a [`RunError::Refused`] naming the fix.
pub fn committed_files(out: &Path) -> Result<BTreeSet<String>, RunError> {
    if !out.is_dir() {
        return Err(RunError::refused(format!(
            "--out {}: no such directory (run `ooni-pipeline run --out {}` first)",
            out.display(),
            out.display()
        )));
    }
    state::all_committed_files(out)
}

/// The files of `table` among `committed` (see [`committed_files`]), as paths.
pub fn table_files(out: &Path, committed: &BTreeSet<String>, table: Table) -> Vec<PathBuf> {
    state::table_files(out, committed, table, None)
}
