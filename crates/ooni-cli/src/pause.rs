//! A test hook: `OONI_PIPELINE_PAUSE_AT=<phase>:<n>` makes a run stop at a chosen point
//! (after `n` archives read, staged files written, files committed, or aggregate files
//! written), create the file named by `OONI_PIPELINE_PAUSE_FILE`, and wait while that file
//! exists — so the crash-safety tests can SIGKILL it at exactly that point, or signal it
//! and let it go on. Without the variable it costs one lookup per run.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The points a run can be paused at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// After an archive was read and normalized.
    Read,
    /// After a file was written to the staging directory.
    Write,
    /// After a staged file was moved into place (before the manifest records it).
    Commit,
    /// After an aggregate file was rewritten.
    Aggregate,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Read => "read",
            Phase::Write => "write",
            Phase::Commit => "commit",
            Phase::Aggregate => "aggregate",
        }
    }
}

static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
static COUNTS: [AtomicU64; 4] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// Marks one more step of `phase`; pauses forever if it is the configured one.
pub fn step(phase: Phase) {
    let target = TARGET.get_or_init(|| {
        let value = std::env::var("OONI_PIPELINE_PAUSE_AT").ok()?;
        let (name, n) = value.split_once(':')?;
        Some((name.to_owned(), n.parse().ok()?))
    });
    let Some((name, n)) = target else { return };
    if name != phase.name() {
        return;
    }
    let count = COUNTS[phase as usize].fetch_add(1, Ordering::SeqCst) + 1;
    if count == *n {
        let Ok(file) = std::env::var("OONI_PIPELINE_PAUSE_FILE") else {
            return;
        };
        if std::fs::write(&file, phase.name()).is_err() {
            return;
        }
        while std::path::Path::new(&file).exists() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
