//! An S3 implementation of [`ooni_source::Store`]: narrow listings, streaming GETs that retry and
//! resume, request statistics; and of [`ooni_source::OutputStore`]: uploads, downloads and the
//! conditional writes (`If-None-Match`, `If-Match`) a run's state rests on when no disk is
//! shared.
//!
//! The principal types are [`S3Store`] (the store, built with [`S3Store::connect`]) and
//! [`S3Options`] (bucket, key prefix, region, endpoint, signing, retry budget). Errors outside the
//! [`Store`](ooni_source::Store) trait are [`S3Error`]s.
//!
//! ```no_run
//! use ooni_s3::{S3Options, S3Store};
//! use ooni_source::Store;
//!
//! // OONI's public bucket, read without signing (the defaults).
//! let store = S3Store::connect(S3Options::default())?;
//! let objects = store.list("raw/20201021/10/AZ/whatsapp/")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Threads
//!
//! The [`Store`](ooni_source::Store) trait is synchronous. Each store owns a small multi-thread
//! tokio runtime (two worker threads) that runs every request; the public methods block the
//! calling thread until the work is done, so they may be called from any thread, rayon workers
//! included. A reader returned by `open` is `Send` and pulls its bytes from a bounded channel
//! (at most [`READ_AHEAD_CHUNKS`] chunks of at most [`CHUNK_BYTES`] each) that a download task
//! fills, so memory per open object stays below about half a MiB whatever the object's size.
//!
//! # Retry and resume policy
//!
//! The SDK's own retries are turned off; the store retries by itself so that it can count what it
//! does ([`RequestStats`](ooni_source::RequestStats)).
//!
//! - **What is retried:** HTTP 5xx (`500 InternalError`, `503 SlowDown`, …), 429, 408 and S3's
//!   throttling codes, connection errors (refused, reset, cut), responses that cannot be parsed
//!   because the connection dropped, and attempts that see no response headers or no body bytes
//!   within [`S3Options::timeout`]. Other errors (`404 NoSuchKey`, `403 AccessDenied`, …) fail at
//!   once.
//! - **Backoff:** exponential from [`S3Options::backoff_base`] (doubling per retry, capped at
//!   20 s) with jitter: each wait is drawn uniformly from the upper half of the exponential step.
//! - **Budget:** a LIST page, a GET's first response and an upload request get
//!   [`S3Options::max_retries`] retries each. A download whose body breaks off is resumed;
//!   `max_retries` bounds the consecutive failures that bring no new byte (a resumed request that
//!   delivers data resets the count), and at most `4 × max_retries` resumptions are made per
//!   object. When the budget is spent, the reader returns an [`std::io::Error`] naming the object,
//!   the byte reached and the last cause; it never hangs.
//! - **Resume:** when a body is cut (connection reset, early end of the body, no bytes within
//!   the timeout), the next request is `GET` with `Range: bytes=<received>-` and `If-Match: <ETag of the first
//!   response>`, so bytes already handed to the reader are not fetched again and an object replaced
//!   in the meantime is an error rather than a splice. `resumed_bytes` counts the bytes not
//!   fetched again.
//! - **Counting:** every GET sent (first, retried or ranged) counts in `get_calls`, every LIST
//!   page request (retries included) in `list_calls`, every retried request (LIST, GET, resume or
//!   upload) in `retries`. Without faults, a listing costs one call per page of 1,000 keys and a
//!   read one GET.
//! - **Length:** the object's length (its `Content-Length`) must equal the `expected_size` given
//!   to `open` (the listed size); a mismatch, or a body longer than that length, is an
//!   [`std::io::ErrorKind::InvalidData`] error that names both sizes. So is a body that fails the
//!   SDK's checksum check (full GETs of objects stored with a checksum); that is not retried.
//!
//! # Listings
//!
//! `list` pages through ListObjectsV2 (1,000 keys a page) under the store's prefix plus the given
//! one; keys come back relative to the store's prefix, in S3's (byte) order, with their size and
//! S3's ETag (quoted, as S3 sends it). Keys ending in `/` ("directory" placeholders) are left
//! out, as a local store lists only files. [`S3Store::list_many`] runs several listings at
//! once. [`Store::list_common_prefixes`](ooni_source::Store::list_common_prefixes) lists one
//! key level (ListObjectsV2 with delimiter `/`, S3's `CommonPrefixes`), so a planner can
//! discover `raw/DAY/` → hours, `jsonl/` → tests → countries → days without listing the
//! keys below; [`Store::list_common_prefixes_many`](ooni_source::Store::list_common_prefixes_many)
//! lists several levels at once, as `list_many` does. Both count in `list_calls`, one per
//! page.
//!
//! # Conditional writes
//!
//! State that several machines share without a shared disk (a shard's commit, a lock) is
//! written with S3's conditional writes: [`S3Store::put_if_absent`] (`If-None-Match: *`) and
//! [`S3Store::put_if_match`] (`If-Match: <ETag>`) return a [`Conditional`]: `Written` with the
//! new ETag, or `PreconditionFailed` (`412`, or `409 ConditionalRequestConflict` when a
//! concurrent write won). S3 checks and stores in one step, so two writers can never both win.
//! [`S3Store::get_with_etag`] reads an object with the ETag to write against;
//! [`S3Store::delete`] and [`S3Store::delete_if_match`] remove one. A conditional write that had
//! to be retried and is then refused reads the object back: if it holds exactly the bytes sent,
//! the refusal was caused by this writer's own earlier attempt, and `Written` is returned.
//!
//! # Addressing and signing
//!
//! The default region is `eu-central-1` (OONI's `ooni-data-eu-fra`). Requests use virtual-host
//! addressing unless [`S3Options::path_style`] is set or the endpoint is an IP address or
//! `localhost`. Without [`S3Options::endpoint_url`], `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`
//! is honoured. Unsigned mode (the default) sends no `Authorization` header at all; signed mode
//! takes credentials from the standard AWS environment and profile chain and checks at connect
//! time that some exist. Credentials never appear in errors.

mod conditional;
mod error;
mod options;
mod output;
mod reader;
mod retry;
mod store;
mod upload;

pub use conditional::Conditional;
pub use error::S3Error;
pub use options::S3Options;
pub use store::S3Store;

/// Largest chunk a download task hands to its reader, in bytes.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks a download may hold ahead of its reader.
pub const READ_AHEAD_CHUNKS: usize = 8;

/// Files larger than this are uploaded in parts ([`S3Store::upload_file`]).
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
