//! The output directory's state: which source objects were processed, which Parquet files
//! are committed, which aggregate days are stale — and the lock that keeps two runs from
//! writing the same output at once.
//!
//! `DIR/_state/manifest.json` is the commit record. A file under a table directory that
//! the manifest does not list was left by a run that died before committing; the next run
//! deletes it and reads that run's objects again, so a run killed at any point and rerun
//! gives the output of an uninterrupted run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The tables whose files the manifest tracks.
pub const TABLES: [&str; 5] = [
    "measurements",
    "observations",
    "outcomes",
    "failure_rates",
    "ooni_counts",
];

/// What the manifest remembers about one source object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Listed size.
    pub size: u64,
    /// Listed ETag (S3) or a size/mtime tag (local files), when known.
    pub etag: Option<String>,
    /// The run that read it.
    pub run_id: String,
    /// Measurement days found in the object but outside that run's days: a later run whose
    /// days include one of them reads the object again.
    #[serde(default)]
    pub days_left_out: BTreeSet<String>,
    /// The country/test filter under which measurements were left out because their body
    /// did not match it (`None`: none were); a run with another filter reads it again.
    #[serde(default)]
    pub filter_left_out: Option<String>,
}

/// The committed state of an output directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Source objects read, by key.
    pub objects: BTreeMap<String, ObjectRecord>,
    /// Committed files, relative to the output directory.
    pub files: BTreeSet<String>,
    /// Measurement days whose aggregates must be recomputed (set before aggregation starts,
    /// cleared when it finished), so a run killed while aggregating is completed by the next.
    #[serde(default)]
    pub stale_aggregate_days: BTreeSet<String>,
    /// Runs that committed, oldest first.
    pub runs: Vec<String>,
}

impl Manifest {
    /// Reads `DIR/_state/manifest.json`, or an empty manifest for a new directory.
    pub fn load(out: &Path) -> anyhow::Result<Manifest> {
        let path = manifest_path(out);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!("reading {} (delete it with --full-refresh)", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: 1,
                ..Manifest::default()
            }),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the manifest atomically (tmp + fsync + rename).
    pub fn save(&self, out: &Path) -> anyhow::Result<()> {
        let path = manifest_path(out);
        write_atomically(&path, &serde_json::to_vec_pretty(self)?)
    }
}

fn manifest_path(out: &Path) -> PathBuf {
    out.join("_state").join("manifest.json")
}

/// Writes `bytes` to `path` through a `.tmp` sibling, fsync and rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))
}

/// Deletes what a dead run left behind: files under the tables that the manifest does not
/// list, `*.tmp` files, and the staging directory. Returns the number of files removed.
pub fn remove_uncommitted(out: &Path, manifest: &Manifest) -> anyhow::Result<u64> {
    let mut removed = 0;
    for table in TABLES {
        for file in files_under(&out.join(table))? {
            let rel = relative(out, &file);
            if !manifest.files.contains(&rel) {
                std::fs::remove_file(&file)
                    .with_context(|| format!("removing uncommitted {}", file.display()))?;
                removed += 1;
            }
        }
    }
    let staging = out.join("_staging");
    if staging.exists() {
        removed += files_under(&staging)?.len() as u64;
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("removing {}", staging.display()))?;
    }
    Ok(removed)
}

/// Every file below `dir` (none if it does not exist), sorted.
pub fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", d.display())),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `path` relative to `out`, with `/` separators (as stored in the manifest).
pub fn relative(out: &Path, path: &Path) -> String {
    path.strip_prefix(out)
        .unwrap_or(path)
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Held while a run writes to an output directory; released on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

/// What is written into the lock file.
#[derive(Debug, Serialize, Deserialize)]
struct LockInfo {
    pid: u32,
    host: String,
    run_id: String,
    started: String,
}

impl Lock {
    /// Takes `DIR/_state/lock`. Another live run holding it is an error that names it; a
    /// lock left by a process that no longer exists (on this host) is reported and taken
    /// over, never waited on.
    pub fn acquire(
        out: &Path,
        run_id: &str,
        started: &str,
    ) -> anyhow::Result<(Lock, Option<String>)> {
        let dir = out.join("_state");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("lock");
        let info = LockInfo {
            pid: std::process::id(),
            host: hostname(),
            run_id: run_id.to_owned(),
            started: started.to_owned(),
        };
        let mut stale = None;
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(&serde_json::to_vec(&info)?)?;
                    file.sync_all()?;
                    return Ok((Lock { path }, stale));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder: Option<LockInfo> = serde_json::from_str(&text).ok();
                    match holder {
                        Some(h) if h.host == info.host && !process_alive(h.pid) => {
                            stale = Some(format!(
                                "removed a stale lock of run {} (pid {} no longer exists, started {})",
                                h.run_id, h.pid, h.started
                            ));
                            std::fs::remove_file(&path)
                                .with_context(|| format!("removing stale {}", path.display()))?;
                        }
                        Some(h) => bail!(
                            "{} is locked by run {} (pid {} on {}, started {}); if that run is \
                             dead on another machine, delete {} and rerun",
                            out.display(),
                            h.run_id,
                            h.pid,
                            h.host,
                            h.started,
                            path.display()
                        ),
                        None => bail!(
                            "{} is locked ({} exists but is unreadable); delete it if no run is \
                             writing there",
                            out.display(),
                            path.display()
                        ),
                    }
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        bail!("could not take {}", path.display())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_second_run_is_refused_and_a_dead_runs_lock_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("ooni-lock-test-{}", std::process::id()));
        let (lock, stale) = Lock::acquire(&dir, "run-a", "now").unwrap();
        assert!(stale.is_none());
        let err = Lock::acquire(&dir, "run-b", "now").unwrap_err();
        assert!(err.to_string().contains("locked by run run-a"), "{err}");
        drop(lock);
        // A lock whose process is gone (pid beyond the kernel's range).
        let info = LockInfo {
            pid: u32::MAX - 1,
            host: hostname(),
            run_id: "run-dead".into(),
            started: "then".into(),
        };
        std::fs::write(dir.join("_state/lock"), serde_json::to_vec(&info).unwrap()).unwrap();
        let (_lock, stale) = Lock::acquire(&dir, "run-c", "now").unwrap();
        assert!(stale.unwrap().contains("run-dead"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn uncommitted_files_are_removed_and_committed_ones_kept() {
        let dir = std::env::temp_dir().join(format!("ooni-state-test-{}", std::process::id()));
        let part = dir.join("measurements/test_name=x/measurement_day=2020-10-20");
        std::fs::create_dir_all(&part).unwrap();
        std::fs::write(part.join("part-a.parquet"), b"x").unwrap();
        std::fs::write(part.join("part-b.parquet"), b"x").unwrap();
        let mut manifest = Manifest::default();
        manifest
            .files
            .insert("measurements/test_name=x/measurement_day=2020-10-20/part-a.parquet".into());
        assert_eq!(remove_uncommitted(&dir, &manifest).unwrap(), 1);
        assert!(part.join("part-a.parquet").exists());
        assert!(!part.join("part-b.parquet").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
