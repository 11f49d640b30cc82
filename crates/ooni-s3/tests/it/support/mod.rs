//! Test fixtures: stores and data; the moto server, seeding client and fault-injecting
//! proxy come from `ooni-testkit`.

use std::io::Read;
use std::time::Duration;

use ooni_s3::{S3Options, S3Store};
use ooni_source::Store;

pub use ooni_testkit::{Fault, Moto, Proxy, Seeder};

/// Deterministic bytes that do not compress (xorshift).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Options for an anonymous, path-style store at `endpoint`, with fast retries.
pub fn options(endpoint: &str, bucket: &str) -> S3Options {
    S3Options {
        bucket: bucket.to_owned(),
        endpoint_url: Some(endpoint.to_owned()),
        path_style: true,
        backoff_base: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
        ..S3Options::default()
    }
}

/// An anonymous store on `endpoint`.
pub fn anonymous_store(endpoint: &str, bucket: &str) -> S3Store {
    S3Store::connect(options(endpoint, bucket)).unwrap()
}

/// Reads a whole object through `store`, in small reads, as the pipeline's decoders do.
pub fn read_all(store: &dyn Store, key: &str, expected: Option<u64>) -> std::io::Result<Vec<u8>> {
    let mut reader = store.open(key, expected).map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8 * 1024 + 3];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// A moto server with a fresh public-read bucket named after `stem`, and its seeder.
pub fn public_bucket(stem: &str) -> (Moto, Seeder, String) {
    let moto = Moto::start();
    let seeder = Seeder::new(&moto.endpoint);
    let bucket = bucket_name(stem);
    seeder.public_bucket(&bucket);
    (moto, seeder, bucket)
}

/// A bucket name unique within the process.
pub fn bucket_name(stem: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{stem}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// An error and its causes, as one line.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// A moto server with a fresh bucket named after `stem` that anyone may read, write and
/// delete in, and its seeder.
///
/// moto checks an anonymous request against the bucket policy only when it would replace
/// or delete an object (a new key is always accepted), and then answers a bare `403` before
/// evaluating `If-None-Match` / `If-Match`. So anonymous conditional writes need write
/// permission here; on AWS they need signed credentials anyway (the signed path is tested in
/// `signing.rs`).
pub fn read_write_bucket(stem: &str) -> (Moto, Seeder, String) {
    // One request at a time, so that conditional writes are atomic as on S3 (see
    // `Moto::start_serial`); the writers of a race still race to reach it.
    let moto = Moto::start_serial();
    let seeder = Seeder::new(&moto.endpoint);
    let bucket = bucket_name(stem);
    seeder.create_bucket(&bucket);
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicReadWrite","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket","s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}}]}}"#
    );
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("eu-central-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "policy",
        ))
        .endpoint_url(&moto.endpoint)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(
            client
                .put_bucket_policy()
                .bucket(&bucket)
                .policy(policy)
                .send(),
        )
        .unwrap();
    (moto, seeder, bucket)
}
