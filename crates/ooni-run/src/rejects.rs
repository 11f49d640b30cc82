//! Quarantined input: every record that could not become a measurement, with its reason,
//! its archive key and line (or tar member), and the bytes themselves (truncated).
//!
//! Rejects are written as each archive finishes, to the batch's file in the staging area,
//! and committed with the batch's Parquet files. Each archive keeps at most
//! [`MAX_KEPT_PER_ARCHIVE`] rejects and [`MAX_KEPT_BYTES_PER_ARCHIVE`] bytes of them; the
//! rest are counted (in the run summary, and in a closing line of the file), not stored, so
//! memory and disk stay bounded whatever the input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::RunError;
use crate::error::IoContext;
use serde::Serialize;

/// How much of a rejected record is kept in the rejects file.
const KEPT_BYTES: usize = 64 * 1024;
/// Rejects stored per archive; more are counted only.
pub const MAX_KEPT_PER_ARCHIVE: u64 = 1000;
/// Bytes of rejected records stored per archive; more are counted only.
pub const MAX_KEPT_BYTES_PER_ARCHIVE: usize = 8 * 1024 * 1024;

/// One quarantined record.
#[derive(Debug, Clone, Serialize)]
pub struct Reject {
    /// Stable reason (`invalid_json`, `wrong_type`, `too_large`, `truncated_archive`,
    /// `corrupt_member`, …).
    pub reason: String,
    /// Human detail.
    pub detail: String,
    /// The archive's key.
    pub source_key: String,
    /// Line number, from 1, for `.jsonl.gz`.
    pub source_line: Option<u64>,
    /// Tar member, for postcans.
    pub source_member: Option<String>,
    /// Size of the record in bytes (for oversized lines, the full length).
    pub bytes: u64,
    /// The record as text (invalid UTF-8 replaced), at most 64 KiB.
    pub raw: String,
    /// Whether `raw` was cut.
    pub raw_truncated: bool,
}

impl Reject {
    /// A reject for a record of `len` bytes of which `head` is known.
    pub fn new(
        reason: &str,
        detail: String,
        source_key: &str,
        position: &ooni_source::Position,
        len: u64,
        head: &[u8],
    ) -> Reject {
        let kept = &head[..head.len().min(KEPT_BYTES)];
        Reject {
            reason: reason.to_owned(),
            detail,
            source_key: source_key.to_owned(),
            source_line: position.line(),
            source_member: position.member().map(str::to_owned),
            bytes: len,
            raw: String::from_utf8_lossy(kept).into_owned(),
            raw_truncated: (kept.len() as u64) < len,
        }
    }
}

/// The rejects of one archive, capped.
#[derive(Debug, Default)]
pub struct RejectBuffer {
    kept: Vec<Reject>,
    /// For each kept reject, the index of the push that made it.
    kept_push: Vec<u64>,
    kept_bytes: usize,
    pushes: u64,
}

impl RejectBuffer {
    /// Adds a reject; it is stored while the archive's caps allow, else only counted.
    pub fn push(&mut self, reject: Reject) {
        let size = reject.raw.len() + reject.detail.len();
        if (self.kept.len() as u64) < MAX_KEPT_PER_ARCHIVE
            && self.kept_bytes + size <= MAX_KEPT_BYTES_PER_ARCHIVE
        {
            self.kept_bytes += size;
            self.kept.push(reject);
            self.kept_push.push(self.pushes);
        }
        self.pushes += 1;
    }

    /// Undoes the last push.
    pub fn pop(&mut self) {
        let Some(last) = self.pushes.checked_sub(1) else {
            return;
        };
        self.pushes = last;
        if self.kept_push.last() == Some(&last) {
            self.kept_push.pop();
            if let Some(r) = self.kept.pop() {
                self.kept_bytes -= r.raw.len() + r.detail.len();
            }
        }
    }

    /// Rejects counted but not stored.
    pub fn not_kept(&self) -> u64 {
        self.pushes - self.kept.len() as u64
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.pushes == 0
    }
}

/// A line closing an archive's rejects when some were counted but not stored.
#[derive(Serialize)]
struct NotKept<'a> {
    reason: &'static str,
    detail: String,
    source_key: &'a str,
    not_stored: u64,
}

/// The rejects file of one batch, in the staging area; created on the first reject.
pub struct RejectWriter {
    /// Staged path.
    pub staged: PathBuf,
    /// Path relative to the output directory once committed.
    pub rel: String,
    file: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
}

impl RejectWriter {
    /// The writer of batch `batch` of run `run_id`.
    pub fn new(out: &Path, run_id: &str, batch: usize) -> RejectWriter {
        let rel = format!("{}/{run_id}-{batch:04}.jsonl", crate::state::REJECTS_DIR);
        RejectWriter {
            staged: out.join("_staging").join(run_id).join(&rel),
            rel,
            file: Mutex::new(None),
        }
    }

    /// Appends one archive's rejects.
    pub fn write(&self, key: &str, buffer: &RejectBuffer) -> Result<(), RunError> {
        if buffer.is_empty() {
            return Ok(());
        }
        let mut guard = self
            .file
            .lock()
            .map_err(|_| RunError::Workers("a rejects writer thread panicked".to_owned()))?;
        if guard.is_none() {
            if let Some(dir) = self.staged.parent() {
                std::fs::create_dir_all(dir).at("creating", dir)?;
            }
            let file = std::fs::File::create(&self.staged).at("creating", &self.staged)?;
            *guard = Some(std::io::BufWriter::new(file));
        }
        let Some(file) = guard.as_mut() else {
            return Ok(());
        };
        let mut write = || -> std::io::Result<()> {
            for reject in &buffer.kept {
                serde_json::to_writer(&mut *file, reject)?;
                file.write_all(b"\n")?;
            }
            if buffer.not_kept() > 0 {
                serde_json::to_writer(
                    &mut *file,
                    &NotKept {
                        reason: "not_stored",
                        detail: format!(
                            "{} more rejects of this archive were counted but not stored (at \
                             most {MAX_KEPT_PER_ARCHIVE} rejects and {} MiB per archive)",
                            buffer.not_kept(),
                            MAX_KEPT_BYTES_PER_ARCHIVE / (1024 * 1024)
                        ),
                        source_key: key,
                        not_stored: buffer.not_kept(),
                    },
                )?;
                file.write_all(b"\n")?;
            }
            Ok(())
        };
        write().at("writing", &self.staged)
    }

    /// Flushes and syncs the file; `Some((staged, rel))` when anything was written.
    pub fn finish(self) -> Result<Option<(PathBuf, String)>, RunError> {
        let file = self
            .file
            .into_inner()
            .map_err(|_| RunError::Workers("a rejects writer thread panicked".to_owned()))?;
        let Some(file) = file else { return Ok(None) };
        file.into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .and_then(|f| f.sync_all())
            .at("writing", &self.staged)?;
        Ok(Some((self.staged, self.rel)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn reject(n: usize) -> Reject {
        Reject::new(
            "invalid_json",
            String::new(),
            "k",
            &ooni_source::Position::Line(n as u64),
            70_000,
            &vec![b'x'; 70_000],
        )
    }

    #[test]
    fn an_archive_keeps_a_bounded_number_of_rejects_and_counts_the_rest() {
        let mut buffer = RejectBuffer::default();
        for n in 0..15_000 {
            buffer.push(reject(n));
        }
        assert!(buffer.kept_bytes <= MAX_KEPT_BYTES_PER_ARCHIVE);
        assert_eq!(buffer.kept.len() as u64 + buffer.not_kept(), 15_000);
        assert!(buffer.kept.len() < 200);
    }

    #[test]
    fn pop_undoes_exactly_the_last_push() {
        let mut buffer = RejectBuffer::default();
        for n in 0..200 {
            buffer.push(reject(n));
        }
        let kept = buffer.kept.len();
        buffer.pop(); // was not kept
        assert_eq!(buffer.kept.len(), kept);
        for _ in 0..199 {
            buffer.pop();
        }
        assert!(buffer.is_empty());
        assert!(buffer.kept.is_empty());
        assert_eq!(buffer.kept_bytes, 0);
    }
}
