//! Errors of the S3 store outside the `Store` trait.

use std::path::PathBuf;

/// Something an [`S3Store`](crate::S3Store) could not do. Messages name the bucket, key and
/// operation; they never contain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The options cannot work (empty bucket name, …).
    #[error("invalid S3 options: {0}")]
    Options(String),
    /// The store's tokio runtime could not be started.
    #[error("could not start the S3 client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Signed access was asked for, but no credentials were found.
    #[error("signed access to s3://{bucket} needs AWS credentials, none were found: {detail}")]
    Credentials {
        /// The bucket.
        bucket: String,
        /// What the credential chain said (never a secret).
        detail: String,
    },
    /// A request failed for good: a non-retryable answer, or retries exhausted.
    #[error("{operation} s3://{bucket}/{key} failed after {attempts} attempt(s): {detail}")]
    Request {
        /// `LIST`, `GET`, `PUT`, …
        operation: &'static str,
        /// The bucket.
        bucket: String,
        /// The full key (or listed prefix).
        key: String,
        /// Requests sent.
        attempts: u32,
        /// The last cause: HTTP status and S3 error code, or the connection error.
        detail: String,
    },
    /// A local file could not be read.
    #[error("reading {path} for upload to s3://{bucket}/{key}: {source}")]
    LocalFile {
        /// The local file.
        path: PathBuf,
        /// The bucket.
        bucket: String,
        /// The full key it was going to.
        key: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The local file changed size while it was being uploaded (it was not complete).
    #[error(
        "{path} changed from {before} to {after} bytes while being uploaded to s3://{bucket}/{key}"
    )]
    FileChanged {
        /// The local file.
        path: PathBuf,
        /// The bucket.
        bucket: String,
        /// The full key.
        key: String,
        /// Size when the upload started.
        before: u64,
        /// Size when it ended.
        after: u64,
    },
    /// A background task of the store's runtime failed (panicked or was cancelled).
    #[error("S3 background task for s3://{bucket} failed: {detail}")]
    Task {
        /// The bucket.
        bucket: String,
        /// What happened.
        detail: String,
    },
}
