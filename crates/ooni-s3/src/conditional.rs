//! Small objects written under a condition, for state that needs no shared disk: S3's
//! conditional writes (`If-None-Match: *`, `If-Match: <ETag>`), reads that return the ETag to
//! write against, and deletes.
//!
//! S3 evaluates the condition and stores the object as one step, so of several writers racing
//! for the same key with the same condition, at most one is told [`Conditional::Written`].

use std::sync::Arc;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use crate::S3Store;
use crate::error::S3Error;
use crate::retry::Failure;
use crate::store::{Inner, Stats};

pub use ooni_source::Conditional;

/// Which condition a write carries.
#[derive(Debug, Clone, Copy)]
enum Condition<'a> {
    /// `If-None-Match: *`.
    Absent,
    /// `If-Match: <etag>`.
    Matches(&'a str),
}

/// What one attempt of a conditional request learnt.
enum Answer<T> {
    Done(T),
    PreconditionFailed,
}

/// Whether S3 refused the request because its condition did not hold.
fn refused<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, condition: Condition) -> bool {
    let SdkError::ServiceError(service) = err else {
        return false;
    };
    let status = service.raw().status().as_u16();
    let code = err.code();
    status == 412
        || code == Some("PreconditionFailed")
        || code == Some("ConditionalRequestConflict")
        // `If-Match` on a key that no longer exists: S3 answers 404 NoSuchKey.
        || (matches!(condition, Condition::Matches(_))
            && (code == Some("NoSuchKey") || (status == 404 && code.is_none())))
}

/// An ETag as `If-Match` wants it: quoted (S3 accepts both, HTTP asks for quotes).
fn quoted(etag: &str) -> String {
    let etag = etag.trim();
    if etag.starts_with('"') || etag.starts_with("W/") {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

impl Inner {
    /// `PutObject` of `body` at the full key `key` under `condition`.
    ///
    /// A retried request is ambiguous: the attempt whose answer was lost (a reset, a timeout,
    /// a 5xx) may have stored the object, and then the retry is refused because of that very
    /// write. So a refusal after a retry is checked by reading the object back: if it holds
    /// exactly `body`, the write is reported as done.
    async fn put_conditional(
        &self,
        key: &str,
        body: Arc<Vec<u8>>,
        condition: Condition<'_>,
    ) -> Result<Conditional, S3Error> {
        let mut attempts = 0u32;
        let answer = self
            .retrying("PUT", key, self.policy.timeout, || {
                attempts += 1;
                let mut request = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_length(i64::try_from(body.len()).unwrap_or(i64::MAX))
                    .body(ByteStream::from(body.as_ref().clone()));
                request = match condition {
                    Condition::Absent => request.if_none_match("*"),
                    Condition::Matches(etag) => request.if_match(quoted(etag)),
                };
                async move {
                    match request.send().await {
                        Ok(output) => Ok(Answer::Done(output.e_tag().map(str::to_owned))),
                        Err(err) if refused(&err, condition) => Ok(Answer::PreconditionFailed),
                        Err(err) => Err(Failure::from_sdk(err)),
                    }
                }
            })
            .await?;
        match answer {
            Answer::Done(Some(etag)) => Ok(Conditional::Written { etag }),
            // S3 always sends the ETag of a stored object; ask for it rather than guess.
            Answer::Done(None) => match self.get_with_etag(key).await? {
                Some((stored, etag)) if stored == *body => Ok(Conditional::Written { etag }),
                _ => Err(S3Error::Request {
                    operation: "PUT",
                    bucket: self.bucket.clone(),
                    key: key.to_owned(),
                    attempts,
                    detail: "the answer has no ETag, and the object does not hold what was written"
                        .to_owned(),
                }),
            },
            Answer::PreconditionFailed if attempts > 1 => match self.get_with_etag(key).await? {
                Some((stored, etag)) if stored == *body => Ok(Conditional::Written { etag }),
                _ => Ok(Conditional::PreconditionFailed),
            },
            Answer::PreconditionFailed => Ok(Conditional::PreconditionFailed),
        }
    }

    /// The whole object at the full key `key` and its ETag; `None` when there is no such key.
    async fn get_with_etag(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, S3Error> {
        let found = self
            .retrying("GET", key, self.policy.timeout, || {
                Stats::add(&self.stats.get_calls, 1);
                let request = self.client.get_object().bucket(&self.bucket).key(key);
                async move {
                    let output = match request.send().await {
                        Ok(output) => output,
                        Err(err) if is_missing(&err) => return Ok(None),
                        Err(err) => return Err(Failure::from_sdk(err)),
                    };
                    let etag = output.e_tag().map(str::to_owned);
                    // A body cut short is fetched again whole: these objects are small.
                    let bytes = output
                        .body
                        .collect()
                        .await
                        .map_err(|e| Failure::retryable(format!("reading the body: {e}")))?;
                    Ok(Some((bytes.to_vec(), etag)))
                }
            })
            .await?;
        match found {
            Some((bytes, Some(etag))) => Ok(Some((bytes, etag))),
            Some((_, None)) => Err(S3Error::Request {
                operation: "GET",
                bucket: self.bucket.clone(),
                key: key.to_owned(),
                attempts: 1,
                detail: "the answer has no ETag".to_owned(),
            }),
            None => Ok(None),
        }
    }

    /// `DeleteObject` of the full key `key`, with `If-Match` when `etag` is given. `false`
    /// when the condition did not hold (the object changed, or is gone).
    async fn delete(&self, key: &str, etag: Option<&str>) -> Result<bool, S3Error> {
        let condition = etag.map(Condition::Matches);
        self.retrying("DELETE", key, self.policy.timeout, || {
            let mut request = self.client.delete_object().bucket(&self.bucket).key(key);
            if let Some(etag) = etag {
                request = request.if_match(quoted(etag));
            }
            async move {
                match request.send().await {
                    Ok(_) => Ok(true),
                    Err(err) if condition.is_some_and(|c| refused(&err, c)) => Ok(false),
                    Err(err) => Err(Failure::from_sdk(err)),
                }
            }
        })
        .await
    }
}

/// Whether a GET failed because the key does not exist.
fn is_missing<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(service) => {
            err.code() == Some("NoSuchKey")
                || (service.raw().status().as_u16() == 404 && err.code().is_none())
        }
        _ => false,
    }
}

impl S3Store {
    /// Writes `bytes` at `key` (relative to the store's prefix) only if no object is there
    /// (`PutObject` with `If-None-Match: *`). Of several writers racing for one key, at most
    /// one gets [`Conditional::Written`]; the others get [`Conditional::PreconditionFailed`].
    ///
    /// Requests are retried like every other (throttling, 5xx, resets). When a retry is
    /// refused, the object is read back: if it holds exactly `bytes`, the lost answer was this
    /// writer's success and `Written` is returned. So put something unique to the writer in
    /// `bytes` (a run id): two writers with byte-identical contents cannot be told apart.
    pub fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<Conditional, S3Error> {
        let inner = Arc::clone(&self.inner);
        let full = self.inner.full_key(key);
        let body = Arc::new(bytes.to_vec());
        self.run(async move { inner.put_conditional(&full, body, Condition::Absent).await })?
    }

    /// Replaces the object at `key` with `bytes` only if it is still the version `etag`
    /// names (`PutObject` with `If-Match`), as returned by [`S3Store::get_with_etag`] or an
    /// earlier write. [`Conditional::PreconditionFailed`] when another writer replaced it
    /// since, or it is gone. Retries are resolved as for [`S3Store::put_if_absent`].
    pub fn put_if_match(
        &self,
        key: &str,
        bytes: &[u8],
        etag: &str,
    ) -> Result<Conditional, S3Error> {
        let inner = Arc::clone(&self.inner);
        let full = self.inner.full_key(key);
        let body = Arc::new(bytes.to_vec());
        let etag = etag.to_owned();
        self.run(async move {
            inner
                .put_conditional(&full, body, Condition::Matches(&etag))
                .await
        })?
    }

    /// The whole object at `key` and its ETag (quoted, as S3 sends it), or `None` when there
    /// is no such key. For small state objects: the body is held in memory.
    pub fn get_with_etag(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, S3Error> {
        let inner = Arc::clone(&self.inner);
        let full = self.inner.full_key(key);
        self.run(async move { inner.get_with_etag(&full).await })?
    }

    /// Deletes the object at `key`. Deleting a key that does not exist is not an error.
    pub fn delete(&self, key: &str) -> Result<(), S3Error> {
        let inner = Arc::clone(&self.inner);
        let full = self.inner.full_key(key);
        self.run(async move { inner.delete(&full, None).await.map(drop) })?
    }

    /// Deletes the object at `key` only if it is still the version `etag` names
    /// (`DeleteObject` with `If-Match`): releasing a lock without removing a successor's.
    /// `Ok(false)` when the condition did not hold (the object changed or is gone) and
    /// nothing was deleted, including when a retried request's earlier attempt was the one
    /// that deleted it (its answer lost): either way the object is no longer that version.
    pub fn delete_if_match(&self, key: &str, etag: &str) -> Result<bool, S3Error> {
        let inner = Arc::clone(&self.inner);
        let full = self.inner.full_key(key);
        let etag = etag.to_owned();
        self.run(async move { inner.delete(&full, Some(&etag)).await })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_once() {
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted("\"abc\""), "\"abc\"");
        assert_eq!(quoted(" \"abc\" "), "\"abc\"");
        assert_eq!(quoted("W/\"abc\""), "W/\"abc\"");
    }
}
