//! What a run reads and writes, resolved (the CLI builds it from flags and TOML files).

use std::path::PathBuf;

use std::sync::Arc;

use chrono::NaiveDate;
use ooni_source::{Limits, OutputStore, Selection};

use crate::state::Shard;

/// A run, fully resolved: what to read, where to write, and how hard to work.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// What to read.
    pub selection: Selection,
    /// Where to write: the output directory, or, with [`RunPlan::remote`], the local work
    /// directory that caches the remote output.
    pub out: PathBuf,
    /// The bucket that holds the output and its state, when they must outlive the machine
    /// (`--out s3://…`): each commit is pushed there, conditionally.
    pub remote: Option<Arc<dyn OutputStore>>,
    /// Worker threads.
    pub jobs: usize,
    /// Record and object size limits.
    pub limits: Limits,
    /// Rebuild the output from scratch (removing only the files this pipeline wrote).
    pub full_refresh: bool,
    /// Stored bytes of archives per batch: what bounds memory.
    pub batch_bytes: u64,
    /// This run's shard, when sharded.
    pub shard: Option<Shard>,
}

impl RunPlan {
    /// The earliest measurement day a run keeps: `--since` minus the late-upload days.
    /// The archives a nightly run reads hold measurements uploaded late; keeping those of
    /// the last few days (not only of the requested ones) is what makes a schedule of
    /// nightly runs equal one run over the whole period.
    pub fn first_accepted_day(&self) -> NaiveDate {
        self.selection
            .since
            .checked_sub_days(chrono::Days::new(u64::from(
                self.selection.late_upload_days,
            )))
            .unwrap_or(self.selection.since)
    }

    /// Whether measurements of `day` are kept: from [`RunPlan::first_accepted_day`] up to
    /// `--until` (exclusive).
    pub fn accepts_day(&self, day: NaiveDate) -> bool {
        day >= self.first_accepted_day() && day < self.selection.until
    }
}
