//! Quarantined input: every record that could not become a measurement, with its reason,
//! its archive key and line (or tar member), and the bytes themselves (truncated).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

/// How much of a rejected record is kept in the rejects file.
const KEPT_BYTES: usize = 64 * 1024;

/// One quarantined record.
#[derive(Debug, Clone, Serialize)]
pub struct Reject {
    /// Stable reason (`invalid_json`, `wrong_type`, `too_large`, `truncated_archive`, …).
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

/// Writes `DIR/rejects/<run_id>.jsonl` (atomically); returns its path, or `None` when there
/// is nothing to write.
pub fn write_rejects(
    out: &Path,
    run_id: &str,
    rejects: &[Reject],
) -> anyhow::Result<Option<PathBuf>> {
    if rejects.is_empty() {
        return Ok(None);
    }
    let dir = out.join("rejects");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{run_id}.jsonl"));
    let tmp = path.with_extension("jsonl.tmp");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    for reject in rejects {
        serde_json::to_writer(&mut file, reject)?;
        file.write_all(b"\n")?;
    }
    file.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(Some(path))
}
