//! The store: a client, a runtime, counters.

use std::future::Future;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, ProvideCredentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::DisplayErrorContext;
use ooni_source::{ObjectMeta, RequestStats, Store, StoreError};
use tokio::sync::{Semaphore, mpsc};

use crate::error::S3Error;
use crate::options::{S3Options, endpoint_needs_path_style};
use crate::reader::{self, ObjectReader, block_on};
use crate::retry::{Failure, Policy};
use crate::{READ_AHEAD_CHUNKS, upload};

/// An S3 bucket (or a prefix of one) read as an OONI archive [`Store`].
///
/// Built by [`S3Store::connect`]. See the [crate documentation](crate) for threading, retries and
/// resumption.
pub struct S3Store {
    pub(crate) inner: Arc<Inner>,
    runtime: Arc<RuntimeGuard>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("location", &self.inner.location)
            .field("signed", &self.inner.signed)
            .field("stats", &self.inner.stats.snapshot())
            .finish_non_exhaustive()
    }
}

/// What the runtime's tasks share.
pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) bucket: String,
    /// The store's key prefix, empty or ending in `/`.
    pub(crate) prefix: String,
    pub(crate) location: String,
    pub(crate) policy: Policy,
    pub(crate) list_concurrency: usize,
    pub(crate) signed: bool,
    pub(crate) stats: Stats,
}

/// Request counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) list_calls: AtomicU64,
    pub(crate) get_calls: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) resumed_bytes: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RequestStats {
        RequestStats {
            list_calls: self.list_calls.load(Ordering::Relaxed),
            get_calls: self.get_calls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            resumed_bytes: self.resumed_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Owns the runtime; shutting it down never blocks, so the last owner may drop it anywhere.
pub(crate) struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl RuntimeGuard {
    /// A guard without a runtime (unit tests of the reader).
    #[cfg(test)]
    pub(crate) fn empty() -> RuntimeGuard {
        RuntimeGuard(None)
    }

    pub(crate) fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }
}

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Inner {
    /// The full key of a store-relative key.
    pub(crate) fn full_key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key.trim_start_matches('/'))
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retry budget is spent. Each
    /// attempt gets `timeout`; a retry waits for the backoff and counts in `retries`.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        operation: &'static str,
        key: &str,
        timeout: Duration,
        mut attempt: F,
    ) -> Result<T, S3Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let failure = match tokio::time::timeout(timeout, attempt()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(failure)) => failure,
                Err(_) => Failure::retryable(format!("no response within {timeout:?}")),
            };
            if !failure.retryable || attempts > self.policy.max_retries {
                return Err(S3Error::Request {
                    operation,
                    bucket: self.bucket.clone(),
                    key: key.to_owned(),
                    attempts,
                    detail: failure.detail,
                });
            }
            Stats::add(&self.stats.retries, 1);
            tokio::time::sleep(self.policy.backoff(attempts)).await;
        }
    }

    /// Every page of a ListObjectsV2 of one store-relative prefix (with delimiter `/` when
    /// `levels`), following continuation tokens, each page retried on its own.
    async fn list_pages(
        &self,
        prefix: &str,
        levels: bool,
    ) -> Result<Vec<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output>, S3Error> {
        let full = self.full_key(prefix);
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retrying("LIST", &full, self.policy.timeout, || {
                    Stats::add(&self.stats.list_calls, 1);
                    let request = self
                        .client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&full)
                        .set_delimiter(levels.then(|| "/".to_owned()))
                        .max_keys(1000)
                        .set_continuation_token(token.clone());
                    async move { request.send().await.map_err(Failure::from_sdk) }
                })
                .await?;
            token = match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => Some(next.to_owned()),
                _ => None,
            };
            pages.push(page);
            if token.is_none() {
                return Ok(pages);
            }
        }
    }

    /// Lists one store-relative prefix, page by page.
    async fn list_prefix(&self, prefix: &str) -> Result<Vec<ObjectMeta>, S3Error> {
        let mut out = Vec::new();
        for page in self.list_pages(prefix, false).await? {
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let Some(relative) = key.strip_prefix(self.prefix.as_str()) else {
                    continue;
                };
                // "Directory" placeholder objects are not archives (a local store lists files).
                if relative.is_empty() || relative.ends_with('/') {
                    continue;
                }
                out.push(ObjectMeta {
                    key: relative.to_owned(),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                    etag: object.e_tag().map(str::to_owned),
                });
            }
        }
        Ok(out)
    }
}

impl Inner {
    /// The common prefixes directly below one store-relative prefix (ListObjectsV2 with
    /// delimiter `/`), page by page, relative to the store's prefix, in S3's order.
    async fn list_levels(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let mut out = Vec::new();
        for page in self.list_pages(prefix, true).await? {
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|common| common.prefix())
                    .filter_map(|p| p.strip_prefix(self.prefix.as_str()))
                    // `a//b`: S3 keys may hold an empty level; no directory can.
                    .filter(|p| p.len() > prefix.len() + 1)
                    .map(str::to_owned),
            );
        }
        Ok(out)
    }
}

impl S3Store {
    /// Builds the client for `options`. Makes no request, except that signed mode checks that the
    /// credential chain yields credentials.
    pub fn connect(options: S3Options) -> Result<S3Store, S3Error> {
        if options.region.trim().is_empty() {
            return Err(S3Error::Options("the region must not be empty".to_owned()));
        }
        if options.bucket.is_empty() || options.bucket.contains('/') {
            return Err(S3Error::Options(format!(
                "bucket name {:?} must be non-empty and contain no '/'",
                options.bucket
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ooni-s3")
            .enable_all()
            .build()
            .map_err(S3Error::Runtime)?;
        let runtime = Arc::new(RuntimeGuard(Some(runtime)));
        let prefix = options.normalized_prefix();
        let location = if prefix.is_empty() {
            format!("s3://{}", options.bucket)
        } else {
            format!("s3://{}/{}", options.bucket, prefix.trim_end_matches('/'))
        };
        let client = run_on(&runtime, &options.bucket, build_client(options.clone()))??;
        let inner = Inner {
            client,
            bucket: options.bucket,
            prefix,
            location,
            policy: Policy {
                max_retries: options.max_retries,
                backoff_base: options.backoff_base,
                timeout: options.timeout,
            },
            list_concurrency: options.list_concurrency.max(1),
            signed: options.signed,
            stats: Stats::default(),
        };
        Ok(S3Store {
            inner: Arc::new(inner),
            runtime,
        })
    }

    /// Lists several prefixes concurrently (at most [`S3Options::list_concurrency`] at once). The
    /// result is the same as calling [`Store::list`] for each prefix, concatenated in prefix order.
    pub fn list_many(&self, prefixes: &[String]) -> Result<Vec<ObjectMeta>, StoreError> {
        let listed = self.concurrently(prefixes, |inner, prefix| async move {
            inner.list_prefix(&prefix).await
        })?;
        Ok(listed.into_iter().flatten().collect())
    }

    /// Runs `list` for each prefix, at most [`S3Options::list_concurrency`] at once, and returns
    /// the answers in prefix order. The first failure (in prefix order) aborts the listings
    /// still running and is returned, naming its prefix.
    fn concurrently<T, F, Fut>(&self, prefixes: &[String], list: F) -> Result<Vec<T>, StoreError>
    where
        T: Send + 'static,
        F: Fn(Arc<Inner>, String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, S3Error>> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let prefixes = prefixes.to_vec();
        let listed = self.run(async move {
            let permits = Arc::new(Semaphore::new(inner.list_concurrency));
            let mut tasks = prefixes
                .into_iter()
                .map(|prefix| {
                    let listing = list(Arc::clone(&inner), prefix.clone());
                    let permits = Arc::clone(&permits);
                    tokio::spawn(async move {
                        let _permit = permits.acquire_owned().await.ok();
                        listing.await.map_err(|e| (prefix, e))
                    })
                })
                .collect::<Vec<_>>()
                .into_iter();
            let mut out = Vec::new();
            while let Some(task) = tasks.next() {
                let failed = match task.await {
                    Ok(Ok(answer)) => {
                        out.push(answer);
                        continue;
                    }
                    Ok(Err(failed)) => failed,
                    Err(join) => (
                        String::new(),
                        S3Error::Task {
                            bucket: inner.bucket.clone(),
                            detail: join.to_string(),
                        },
                    ),
                };
                tasks.for_each(|task| task.abort());
                return Err(failed);
            }
            Ok(out)
        });
        match listed {
            Ok(Ok(answers)) => Ok(answers),
            Ok(Err((prefix, source))) => Err(self.list_error(&prefix, source)),
            Err(source) => Err(self.list_error("", source)),
        }
    }

    /// Uploads the local file `local` to `key` (relative to the store's prefix). The object
    /// appears only once complete: a single PUT up to [`MULTIPART_THRESHOLD`](crate::MULTIPART_THRESHOLD)
    /// bytes, else a multipart upload (16 MiB parts, four at a time) that is completed only when
    /// every part is stored and aborted on failure. The file must not change meanwhile.
    pub fn upload_file(&self, local: &Path, key: &str) -> Result<(), S3Error> {
        let inner = Arc::clone(&self.inner);
        let local = local.to_path_buf();
        let full = self.inner.full_key(key);
        self.run(upload::upload_file(inner, local, full))?
    }

    /// Runs `future` on the store's runtime and waits for it from the calling thread.
    pub(crate) fn run<F>(&self, future: F) -> Result<F::Output, S3Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        run_on(&self.runtime, &self.inner.bucket, future)
    }

    fn list_error(&self, prefix: &str, source: S3Error) -> StoreError {
        StoreError::List {
            location: self.location(),
            prefix: prefix.to_owned(),
            source: Box::new(source),
        }
    }
}

fn run_on<F>(runtime: &RuntimeGuard, bucket: &str, future: F) -> Result<F::Output, S3Error>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task_error = |detail: String| S3Error::Task {
        bucket: bucket.to_owned(),
        detail,
    };
    let handle = runtime
        .handle()
        .ok_or_else(|| task_error("the runtime is shut down".to_owned()))?;
    block_on(handle.spawn(future)).map_err(|e| task_error(e.to_string()))
}

async fn build_client(options: S3Options) -> Result<Client, S3Error> {
    let endpoint = options.resolved_endpoint();
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(options.region.clone()));
    if !options.signed {
        loader = loader.no_credentials();
    }
    if let Some(endpoint) = &endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let shared = loader.load().await;
    if options.signed {
        let Some(provider) = shared.credentials_provider() else {
            return Err(S3Error::Credentials {
                bucket: options.bucket,
                detail: "no credential provider is configured".to_owned(),
            });
        };
        if let Err(e) = provider.provide_credentials().await {
            return Err(S3Error::Credentials {
                bucket: options.bucket,
                detail: DisplayErrorContext(&e).to_string(),
            });
        }
    }
    let path_style =
        options.path_style || endpoint.as_deref().is_some_and(endpoint_needs_path_style);
    let mut config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(path_style)
        .retry_config(RetryConfig::disabled());
    if !options.signed {
        // With no signer, the default aws-chunked upload checksums panic inside the SDK.
        config = config.request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
    }
    Ok(Client::from_conf(config.build()))
}

impl Store for S3Store {
    fn location(&self) -> String {
        self.inner.location.clone()
    }

    fn list_many(&self, prefixes: &[String]) -> Result<Vec<ObjectMeta>, StoreError> {
        // The inherent method: concurrent, bounded by `list_concurrency`.
        S3Store::list_many(self, prefixes)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let inner = Arc::clone(&self.inner);
        let owned = prefix.to_owned();
        match self.run(async move { inner.list_prefix(&owned).await }) {
            Ok(Ok(objects)) => Ok(objects),
            Ok(Err(source)) | Err(source) => Err(self.list_error(prefix, source)),
        }
    }

    fn open(
        &self,
        key: &str,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let full = self.inner.full_key(key);
        let url = format!("s3://{}/{}", self.inner.bucket, full);
        let (sender, receiver) = mpsc::channel(READ_AHEAD_CHUNKS);
        let inner = Arc::clone(&self.inner);
        let started = self.run(async move {
            let first = reader::first_get(&inner, &full).await?;
            tokio::spawn(reader::pump(inner, full, expected_size, first, sender));
            Ok::<(), S3Error>(())
        });
        match started {
            Ok(Ok(())) => Ok(Box::new(ObjectReader::new(
                receiver,
                url,
                Arc::clone(&self.runtime),
            ))),
            Ok(Err(source)) | Err(source) => Err(StoreError::Open {
                location: self.location(),
                key: key.to_owned(),
                source: Box::new(source),
            }),
        }
    }

    fn request_stats(&self) -> RequestStats {
        self.inner.stats.snapshot()
    }

    /// One delimiter listing (ListObjectsV2 with delimiter `/`): S3's `CommonPrefixes`, one
    /// call per page of 1,000, without listing the keys below them. Calls from several
    /// threads run concurrently.
    fn list_common_prefixes(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.check_level_prefix(prefix)?;
        let inner = Arc::clone(&self.inner);
        let owned = prefix.to_owned();
        match self.run(async move { inner.list_levels(&owned).await }) {
            Ok(Ok(levels)) => Ok(levels),
            Ok(Err(source)) | Err(source) => Err(self.list_error(prefix, source)),
        }
    }

    /// The delimiter listings of several prefixes, concurrently (at most
    /// [`S3Options::list_concurrency`] at once), like [`S3Store::list_many`]: each call counts in
    /// `list_calls`. Every prefix is checked before any request is made.
    fn list_common_prefixes_many(
        &self,
        prefixes: &[String],
    ) -> Result<Vec<Vec<String>>, StoreError> {
        for prefix in prefixes {
            self.check_level_prefix(prefix)?;
        }
        self.concurrently(prefixes, |inner, prefix| async move {
            inner.list_levels(&prefix).await
        })
    }
}

impl S3Store {
    /// Refuses a prefix that does not end a key level (S3 would match partial names).
    fn check_level_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        if prefix.is_empty() || prefix.ends_with('/') {
            return Ok(());
        }
        Err(StoreError::List {
            location: self.location(),
            prefix: prefix.to_owned(),
            source: Box::new(S3Error::Options(
                "a prefix listed by level must be empty or end in '/'".to_owned(),
            )),
        })
    }
}
