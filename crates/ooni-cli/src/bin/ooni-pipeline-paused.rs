//! The `ooni-pipeline` command for the crash-safety tests, never installed: with
//! `OONI_PIPELINE_PAUSE_AT=<phase>:<n>` it stops at the n-th `read` (archive read),
//! `write` (file staged), `commit` (file moved into place, before the manifest records
//! it), `aggregate` (aggregate file written) or `upload` (a commit's files uploaded to an
//! s3:// output, before its manifest), creates the file named by
//! `OONI_PIPELINE_PAUSE_FILE`, and waits while that file exists, so a test can SIGKILL it
//! at exactly that point, or signal it and let it go on.
//!
//! The pause is an `ooni_run::Observer`: the production binary has no such code path.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ooni_run::{Event, Observer};

struct Pause {
    phase: String,
    at: u64,
    file: PathBuf,
    seen: AtomicU64,
}

impl Observer for Pause {
    fn event(&self, event: Event<'_>) {
        let phase = match event {
            Event::ArchiveRead { .. } => "read",
            Event::FileStaged { .. } => "write",
            Event::FileCommitted { .. } => "commit",
            Event::AggregateWritten { .. } => "aggregate",
            Event::Uploaded { .. } => "upload",
            _ => return,
        };
        if phase != self.phase || self.seen.fetch_add(1, Ordering::SeqCst) + 1 != self.at {
            return;
        }
        if std::fs::write(&self.file, phase).is_err() {
            return;
        }
        while self.file.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn main() -> std::process::ExitCode {
    let point = std::env::var("OONI_PIPELINE_PAUSE_AT").ok();
    let file = std::env::var_os("OONI_PIPELINE_PAUSE_FILE").map(PathBuf::from);
    let pause = point
        .as_deref()
        .and_then(|p| p.split_once(':'))
        .and_then(|(phase, n)| Some((phase.to_owned(), n.parse().ok()?)))
        .zip(file)
        .map(|((phase, at), file)| Pause {
            phase,
            at,
            file,
            seen: AtomicU64::new(0),
        });
    match &pause {
        Some(pause) => ooni_cli::main(pause),
        None => ooni_cli::main(&ooni_run::Quiet),
    }
}
