//! Uploading finished output files: one PUT, or a multipart upload for large files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::MULTIPART_THRESHOLD;
use crate::error::S3Error;
use crate::retry::Failure;
use crate::store::Inner;

/// Size of a part (S3 allows at most 10,000; larger files get larger parts).
const PART_BYTES: u64 = 16 * 1024 * 1024;
/// Parts in flight at once.
const PART_CONCURRENCY: usize = 4;
/// The slowest upload rate an attempt is allowed before it counts as stalled.
const MIN_UPLOAD_BYTES_PER_SEC: u64 = 128 * 1024;

/// Uploads `local` to the full key `key`.
pub(crate) async fn upload_file(
    inner: Arc<Inner>,
    local: PathBuf,
    key: String,
) -> Result<(), S3Error> {
    let size = file_size(&inner, &local, &key).await?;
    if size <= MULTIPART_THRESHOLD {
        put_whole(&inner, &local, &key, size).await?;
    } else {
        put_in_parts(&inner, &local, &key, size).await?;
    }
    // For a multipart upload this was checked before completing; a whole PUT reads the length
    // it was given, so a file that grew meanwhile was cut and one that shrank failed.
    check_unchanged(&inner, &local, &key, size).await
}

async fn file_size(inner: &Inner, local: &Path, key: &str) -> Result<u64, S3Error> {
    tokio::fs::metadata(local)
        .await
        .map(|m| m.len())
        .map_err(|source| S3Error::LocalFile {
            path: local.to_path_buf(),
            bucket: inner.bucket.clone(),
            key: key.to_owned(),
            source,
        })
}

async fn check_unchanged(inner: &Inner, local: &Path, key: &str, size: u64) -> Result<(), S3Error> {
    let after = file_size(inner, local, key).await?;
    if after == size {
        Ok(())
    } else {
        Err(S3Error::FileChanged {
            path: local.to_path_buf(),
            bucket: inner.bucket.clone(),
            key: key.to_owned(),
            before: size,
            after,
        })
    }
}

/// Time allowed for one request that sends `bytes`.
fn send_timeout(inner: &Inner, bytes: u64) -> Duration {
    inner.policy.timeout + Duration::from_secs(bytes / MIN_UPLOAD_BYTES_PER_SEC)
}

/// A body reading `length` bytes of `local` from `offset`, built afresh for every attempt.
async fn file_body(local: &Path, offset: u64, length: u64) -> Result<ByteStream, Failure> {
    ByteStream::read_from()
        .path(local)
        .offset(offset)
        .length(Length::Exact(length))
        .build()
        .await
        .map_err(|e| Failure::fatal(format!("reading {}: {e}", local.display())))
}

async fn put_whole(inner: &Inner, local: &Path, key: &str, size: u64) -> Result<(), S3Error> {
    inner
        .retrying("PUT", key, send_timeout(inner, size), || async move {
            let body = file_body(local, 0, size).await?;
            inner
                .client
                .put_object()
                .bucket(&inner.bucket)
                .key(key)
                .content_length(i64::try_from(size).unwrap_or(i64::MAX))
                .body(body)
                .send()
                .await
                .map(drop)
                .map_err(Failure::from_sdk)
        })
        .await
}

async fn put_in_parts(
    inner: &Arc<Inner>,
    local: &Path,
    key: &str,
    size: u64,
) -> Result<(), S3Error> {
    let created = inner
        .retrying("CreateMultipartUpload", key, inner.policy.timeout, || {
            let mut request = inner
                .client
                .create_multipart_upload()
                .bucket(&inner.bucket)
                .key(key);
            if inner.signed {
                request = request.checksum_algorithm(ChecksumAlgorithm::Crc32);
            }
            async move { request.send().await.map_err(Failure::from_sdk) }
        })
        .await?;
    let Some(upload_id) = created.upload_id().map(str::to_owned) else {
        return Err(S3Error::Request {
            operation: "CreateMultipartUpload",
            bucket: inner.bucket.clone(),
            key: key.to_owned(),
            attempts: 1,
            detail: "the answer has no UploadId".to_owned(),
        });
    };
    let result = upload_parts(inner, local, key, size, &upload_id).await;
    let result = match result {
        Ok(parts) => match check_unchanged(inner, local, key, size).await {
            Ok(()) => complete(inner, key, &upload_id, parts, size).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if result.is_err() {
        // Best effort: the upload is already failing; do not hide its error behind this one.
        let _ = inner
            .retrying("AbortMultipartUpload", key, inner.policy.timeout, || {
                let request = inner
                    .client
                    .abort_multipart_upload()
                    .bucket(&inner.bucket)
                    .key(key)
                    .upload_id(&upload_id);
                async move { request.send().await.map(drop).map_err(Failure::from_sdk) }
            })
            .await;
    }
    result
}

async fn upload_parts(
    inner: &Arc<Inner>,
    local: &Path,
    key: &str,
    size: u64,
    upload_id: &str,
) -> Result<Vec<CompletedPart>, S3Error> {
    let part_bytes = PART_BYTES.max(size.div_ceil(10_000));
    let permits = Arc::new(Semaphore::new(PART_CONCURRENCY));
    let mut tasks = JoinSet::new();
    let mut offset = 0u64;
    let mut number = 0i32;
    while offset < size {
        number += 1;
        let length = part_bytes.min(size - offset);
        let (inner, local, key, upload_id) = (
            Arc::clone(inner),
            local.to_path_buf(),
            key.to_owned(),
            upload_id.to_owned(),
        );
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            upload_part(&inner, &local, &key, &upload_id, number, offset, length).await
        });
        offset += length;
    }
    let mut parts = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(part)) => parts.push(part),
            Ok(Err(e)) => return Err(e),
            Err(e) => {
                return Err(S3Error::Task {
                    bucket: inner.bucket.clone(),
                    detail: e.to_string(),
                });
            }
        }
    }
    parts.sort_by_key(|p| p.part_number());
    Ok(parts)
}

async fn upload_part(
    inner: &Inner,
    local: &Path,
    key: &str,
    upload_id: &str,
    number: i32,
    offset: u64,
    length: u64,
) -> Result<CompletedPart, S3Error> {
    let output = inner
        .retrying(
            "UploadPart",
            key,
            send_timeout(inner, length),
            || async move {
                let body = file_body(local, offset, length).await?;
                let mut request = inner
                    .client
                    .upload_part()
                    .bucket(&inner.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_length(i64::try_from(length).unwrap_or(i64::MAX))
                    .body(body);
                if inner.signed {
                    request = request.checksum_algorithm(ChecksumAlgorithm::Crc32);
                }
                request.send().await.map_err(Failure::from_sdk)
            },
        )
        .await?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(output.e_tag().map(str::to_owned))
        .set_checksum_crc32(output.checksum_crc32().map(str::to_owned))
        .build())
}

async fn complete(
    inner: &Inner,
    key: &str,
    upload_id: &str,
    parts: Vec<CompletedPart>,
    size: u64,
) -> Result<(), S3Error> {
    let completed = CompletedMultipartUpload::builder()
        .set_parts(Some(parts))
        .build();
    let unparsed = inner
        .retrying("CompleteMultipartUpload", key, inner.policy.timeout, || {
            let request = inner
                .client
                .complete_multipart_upload()
                .bucket(&inner.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(completed.clone());
            async move {
                match request.send().await {
                    Ok(_) => Ok(false),
                    // A 200 without an S3 error code whose body the SDK could not read (moto
                    // names the root element differently): the upload completed.
                    Err(SdkError::ServiceError(e))
                        if e.raw().status().as_u16() == 200 && e.err().code().is_none() =>
                    {
                        Ok(true)
                    }
                    Err(e) => Err(Failure::from_sdk(e)),
                }
            }
        })
        .await?;
    if unparsed {
        confirm_size(inner, key, size).await?;
    }
    Ok(())
}

/// Checks with HEAD that `key` exists with `size` bytes.
async fn confirm_size(inner: &Inner, key: &str, size: u64) -> Result<(), S3Error> {
    let head = inner
        .retrying("HEAD", key, inner.policy.timeout, || {
            let request = inner.client.head_object().bucket(&inner.bucket).key(key);
            async move { request.send().await.map_err(Failure::from_sdk) }
        })
        .await?;
    let stored = head.content_length().and_then(|n| u64::try_from(n).ok());
    if stored == Some(size) {
        Ok(())
    } else {
        Err(S3Error::Request {
            operation: "CompleteMultipartUpload",
            bucket: inner.bucket.clone(),
            key: key.to_owned(),
            attempts: 1,
            detail: format!(
                "the object is {} bytes after completing, not {size}",
                stored.map_or_else(|| "?".to_owned(), |n| n.to_string())
            ),
        })
    }
}
