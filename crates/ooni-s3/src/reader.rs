//! Streaming downloads: a task that GETs (and resumes) an object into a bounded channel, and a
//! blocking [`Read`] over that channel.

use std::future::Future;
use std::io::{self, Read};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use aws_sdk_s3::config::ResponseChecksumValidation;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::CHUNK_BYTES;
use crate::error::S3Error;
use crate::retry::Failure;
use crate::store::{Inner, RuntimeGuard, Stats};

/// What the download task tells the reader.
pub(crate) enum Message {
    /// The next bytes (at most [`CHUNK_BYTES`]).
    Data(Vec<u8>),
    /// The object ended, complete.
    End,
    /// The download failed for good.
    Failed(io::Error),
}

/// Waits for `future` on the calling thread, which must not be one of the store's runtime
/// workers. Works on any other thread, inside or outside another runtime: it only parks.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        thread::park();
    }
}

/// The first GET of an object, retried until it answers with headers.
pub(crate) async fn first_get(inner: &Inner, full_key: &str) -> Result<GetObjectOutput, S3Error> {
    inner
        .retrying("GET", full_key, inner.policy.timeout, || {
            Stats::add(&inner.stats.get_calls, 1);
            let request = inner
                .client
                .get_object()
                .bucket(&inner.bucket)
                .key(full_key);
            async move { request.send().await.map_err(Failure::from_sdk) }
        })
        .await
}

/// Streams the object into `sender`, resuming with Range GETs when the body breaks off. Stops
/// early when the reader goes away.
pub(crate) async fn pump(
    inner: Arc<Inner>,
    full_key: String,
    expected_size: Option<u64>,
    first: GetObjectOutput,
    sender: mpsc::Sender<Message>,
) {
    let watcher = sender.clone();
    tokio::select! {
        () = watcher.closed() => {}
        () = download(&inner, &full_key, expected_size, first, sender) => {}
    }
}

async fn download(
    inner: &Inner,
    full_key: &str,
    expected_size: Option<u64>,
    first: GetObjectOutput,
    sender: mpsc::Sender<Message>,
) {
    let url = format!("s3://{}/{}", inner.bucket, full_key);
    let fail =
        |kind: io::ErrorKind, message: String| Message::Failed(io::Error::new(kind, message));
    let etag = first.e_tag().map(str::to_owned);
    let length = first.content_length().and_then(|n| u64::try_from(n).ok());
    if let (Some(expected), Some(length)) = (expected_size, length)
        && expected != length
    {
        let message = format!(
            "{url}: the object is {length} bytes but {expected} bytes were expected (listed size)"
        );
        let _ = sender.send(fail(io::ErrorKind::InvalidData, message)).await;
        return;
    }
    let total = length.or(expected_size);
    let max_retries = inner.policy.max_retries;
    let max_resumes = max_retries.saturating_mul(4);

    let mut body = Box::pin(first.body.into_async_read());
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut received: u64 = 0;
    // Bytes of the current response to drop (a server that ignored our Range header).
    let mut skip: u64 = 0;
    let mut fruitless: u32 = 0;
    let mut resumes: u32 = 0;
    loop {
        // Stream the current body until it ends or breaks.
        let received_before = received;
        let broke = loop {
            let n = match tokio::time::timeout(inner.policy.timeout, body.read(&mut buffer)).await {
                Err(_) => {
                    break format!("no body bytes for {:?}", inner.policy.timeout);
                }
                Ok(Err(e)) => break describe(&e),
                Ok(Ok(0)) => match total {
                    Some(total) if received < total => {
                        break format!("the body ended at byte {received} of {total}");
                    }
                    _ => {
                        let _ = sender.send(Message::End).await;
                        return;
                    }
                },
                Ok(Ok(n)) => n,
            };
            let mut chunk = &buffer[..n];
            if skip > 0 {
                let dropped = usize::try_from(skip).unwrap_or(usize::MAX).min(chunk.len());
                chunk = &chunk[dropped..];
                skip -= dropped as u64;
                if chunk.is_empty() {
                    continue;
                }
            }
            let chunk_len = chunk.len() as u64;
            if let Some(total) = total
                && received + chunk_len > total
            {
                let message = format!(
                    "{url}: the body is longer than {total} bytes (expected size {})",
                    expected_size.map_or_else(|| "not given".to_owned(), |e| e.to_string())
                );
                let _ = sender.send(fail(io::ErrorKind::InvalidData, message)).await;
                return;
            }
            if sender.send(Message::Data(chunk.to_vec())).await.is_err() {
                return;
            }
            received += chunk_len;
        };
        if total == Some(received) {
            // Every byte arrived, then the body failed (e.g. its checksum): nothing to resume.
            let message = format!("{url}: reading the body after all {received} bytes: {broke}");
            let _ = sender.send(fail(io::ErrorKind::InvalidData, message)).await;
            return;
        }

        // Resume from `received`, retrying until a response comes back.
        if received > received_before {
            fruitless = 0;
        }
        let mut cause = broke;
        loop {
            fruitless += 1;
            resumes += 1;
            if fruitless > max_retries || resumes > max_resumes {
                let total = total.map_or_else(|| "?".to_owned(), |t| t.to_string());
                let message = format!(
                    "{url}: download failed at byte {received} of {total} after {} retries: {cause}",
                    resumes - 1
                );
                let kind = if received > 0 {
                    io::ErrorKind::UnexpectedEof
                } else {
                    io::ErrorKind::Other
                };
                let _ = sender.send(fail(kind, message)).await;
                return;
            }
            Stats::add(&inner.stats.retries, 1);
            tokio::time::sleep(inner.policy.backoff(fruitless)).await;
            Stats::add(&inner.stats.get_calls, 1);
            let request = inner
                .client
                .get_object()
                .bucket(&inner.bucket)
                .key(full_key)
                .set_if_match(etag.clone())
                .set_range((received > 0).then(|| format!("bytes={received}-")))
                // A whole-object checksum cannot check a range: do not ask for one.
                .customize()
                .config_override(
                    aws_sdk_s3::config::Builder::default()
                        .response_checksum_validation(ResponseChecksumValidation::WhenRequired),
                );
            let response = match tokio::time::timeout(inner.policy.timeout, request.send()).await {
                Err(_) => {
                    cause = format!("no response within {:?}", inner.policy.timeout);
                    continue;
                }
                Ok(Err(e)) => {
                    let failure = Failure::from_sdk(e);
                    if !failure.retryable {
                        let message = format!(
                            "{url}: resuming at byte {received} failed: {}",
                            failure.detail
                        );
                        let _ = sender.send(fail(io::ErrorKind::Other, message)).await;
                        return;
                    }
                    cause = failure.detail;
                    continue;
                }
                Ok(Ok(response)) => response,
            };
            skip = match response.content_range().and_then(range_start) {
                Some(start) if start == received => {
                    Stats::add(&inner.stats.resumed_bytes, received);
                    0
                }
                Some(start) => {
                    let message =
                        format!("{url}: asked for bytes from {received}, got a range from {start}");
                    let _ = sender.send(fail(io::ErrorKind::InvalidData, message)).await;
                    return;
                }
                // A whole body: drop what the reader already has.
                None => received,
            };
            body = Box::pin(response.body.into_async_read());
            break;
        }
    }
}

/// An error and its causes on one line (the body's errors hide the cause in the chain).
fn describe(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn range_start(content_range: &str) -> Option<u64> {
    let range = content_range.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// A blocking reader over the chunks a download task sends.
pub(crate) struct ObjectReader {
    receiver: mpsc::Receiver<Message>,
    chunk: Vec<u8>,
    position: usize,
    state: State,
    url: String,
    /// Keeps the runtime (and so the download task) alive while the reader is.
    _runtime: Arc<RuntimeGuard>,
}

enum State {
    Open,
    Done,
    Failed(io::ErrorKind, String),
}

impl ObjectReader {
    pub(crate) fn new(
        receiver: mpsc::Receiver<Message>,
        url: String,
        runtime: Arc<RuntimeGuard>,
    ) -> ObjectReader {
        ObjectReader {
            receiver,
            chunk: Vec::new(),
            position: 0,
            state: State::Open,
            url,
            _runtime: runtime,
        }
    }
}

impl Read for ObjectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.position < self.chunk.len() {
                let n = out.len().min(self.chunk.len() - self.position);
                out[..n].copy_from_slice(&self.chunk[self.position..self.position + n]);
                self.position += n;
                return Ok(n);
            }
            if out.is_empty() {
                return Ok(0);
            }
            match &self.state {
                State::Open => {}
                State::Done => return Ok(0),
                State::Failed(kind, message) => return Err(io::Error::new(*kind, message.clone())),
            }
            match block_on(self.receiver.recv()) {
                Some(Message::Data(chunk)) => {
                    self.chunk = chunk;
                    self.position = 0;
                }
                Some(Message::End) => self.state = State::Done,
                Some(Message::Failed(error)) => {
                    self.state = State::Failed(error.kind(), error.to_string());
                    return Err(error);
                }
                None => {
                    let message = format!("{}: the download stopped before the end", self.url);
                    self.state = State::Failed(io::ErrorKind::UnexpectedEof, message.clone());
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, message));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn content_range_start() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes 0-0/1"), Some(0));
        assert_eq!(range_start("items 0-0/1"), None);
    }

    fn reader(messages: Vec<Message>, close: bool) -> ObjectReader {
        let (sender, receiver) = mpsc::channel(messages.len().max(1));
        for m in messages {
            sender.try_send(m).ok().unwrap();
        }
        if !close {
            std::mem::forget(sender);
        }
        ObjectReader::new(
            receiver,
            "s3://b/k".to_owned(),
            Arc::new(RuntimeGuard::empty()),
        )
    }

    #[test]
    fn reads_chunks_then_end() {
        let mut r = reader(
            vec![
                Message::Data(b"hello ".to_vec()),
                Message::Data(b"world".to_vec()),
                Message::End,
            ],
            true,
        );
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world");
        assert_eq!(r.read(&mut [0; 4]).unwrap(), 0);
    }

    #[test]
    fn a_task_that_vanishes_is_an_error_not_an_end() {
        let mut r = reader(vec![Message::Data(b"abc".to_vec())], true);
        let mut v = Vec::new();
        let e = r.read_to_end(&mut v).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(v, b"abc");
        // Still an error afterwards.
        assert!(r.read(&mut [0; 4]).is_err());
    }

    #[test]
    fn failures_repeat() {
        let mut r = reader(
            vec![Message::Failed(io::Error::new(
                io::ErrorKind::InvalidData,
                "size",
            ))],
            false,
        );
        assert_eq!(
            r.read(&mut [0; 4]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            r.read(&mut [0; 4]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn block_on_works_inside_another_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let value = rt.block_on(async { block_on(async { 7 }) });
        assert_eq!(value, 7);
    }
}
