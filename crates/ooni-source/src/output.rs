//! Where a run's output and state are kept when they must outlive the machine: an object
//! store with conditional writes (S3), the seam between the run and the bucket it writes.

use std::path::Path;

/// The outcome of a conditional write ([`OutputStore::put_if_absent`],
/// [`OutputStore::put_if_match`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a conditional write may not have happened"]
pub enum Conditional {
    /// The object now holds the bytes given.
    Written {
        /// Its new ETag, quoted as S3 sends it: what the next
        /// [`put_if_match`](OutputStore::put_if_match) must name.
        etag: String,
    },
    /// The condition did not hold, and nothing was written: the key already exists
    /// (`put_if_absent`), or it does not hold the version named (`put_if_match`: another
    /// writer replaced or deleted it). S3 answers `412 Precondition Failed`, or
    /// `409 ConditionalRequestConflict` when a concurrent write to the key won the race;
    /// both are reported here, since in both cases another writer got there first.
    PreconditionFailed,
}

/// A request to the output store failed (after the store's own retries).
#[derive(Debug, thiserror::Error)]
#[error("{action} {location}/{key} failed")]
pub struct OutputError {
    /// What was being done (`uploading`, `reading`, `deleting`, …).
    pub action: &'static str,
    /// The store (`s3://bucket/prefix`).
    pub location: String,
    /// The key, relative to the store's prefix.
    pub key: String,
    /// The cause.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// A bucket prefix that holds a run's committed files and state, written by several
/// machines that share no disk. Keys are relative to the prefix and use the output
/// directory's layout (`measurements/test_name=…/…`, `_state/…`).
///
/// The conditional writes are what make state safe without a shared disk: of two writers
/// racing for one key under the same condition, at most one is told
/// [`Conditional::Written`].
pub trait OutputStore: Send + Sync + std::fmt::Debug {
    /// The store as a URL (`s3://bucket/prefix`).
    fn location(&self) -> String;
    /// The object at `key` and its ETag, or `None` when there is none. For small state
    /// objects: the body is held in memory.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, OutputError>;
    /// Copies the object at `key` into the local file `dest`, which appears only once
    /// complete.
    fn download(&self, key: &str, dest: &Path) -> Result<(), OutputError>;
    /// Uploads the local file `local` to `key`; the object appears only once complete.
    fn upload(&self, local: &Path, key: &str) -> Result<(), OutputError>;
    /// Writes `bytes` at `key` only if nothing is there (`If-None-Match: *`).
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<Conditional, OutputError>;
    /// Replaces the object at `key` only if it is still the version `etag` names
    /// (`If-Match`).
    fn put_if_match(&self, key: &str, bytes: &[u8], etag: &str)
    -> Result<Conditional, OutputError>;
    /// Deletes `key`; deleting what is not there is not an error.
    fn delete(&self, key: &str) -> Result<(), OutputError>;
    /// Deletes `key` only if it is still the version `etag` names; `false` when it is not.
    fn delete_if_match(&self, key: &str, etag: &str) -> Result<bool, OutputError>;
    /// Every key under `prefix` (`""` or ending in `/`), sorted.
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, OutputError>;
}
