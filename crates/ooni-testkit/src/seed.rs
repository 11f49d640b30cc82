//! Seeding a moto bucket with dummy *signed* credentials (only this client has them).

use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// A signed client for fixtures, with its own runtime.
pub struct Seeder {
    runtime: Runtime,
    /// Uploads with the SDK's default CRC32 checksums (stored, and checked on full GETs).
    client: Client,
    /// Uploads without checksums: moto stores these faster (bulk listing fixtures).
    plain: Client,
}

impl Seeder {
    /// A client for the server at `endpoint`.
    pub fn new(endpoint: &str) -> Seeder {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-central-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "seed"))
            .endpoint_url(endpoint)
            .force_path_style(true);
        Seeder {
            runtime,
            client: Client::from_conf(config.clone().build()),
            plain: Client::from_conf(
                config
                    .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                    .build(),
            ),
        }
    }

    /// Creates `bucket` (in eu-central-1).
    pub fn create_bucket(&self, bucket: &str) {
        self.runtime
            .block_on(
                self.client
                    .create_bucket()
                    .bucket(bucket)
                    .create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::EuCentral1)
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
    }

    /// Lets anyone list `bucket` and get its objects, like OONI's public bucket.
    pub fn make_public(&self, bucket: &str) {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}}]}}"#
        );
        self.runtime
            .block_on(
                self.client
                    .put_bucket_policy()
                    .bucket(bucket)
                    .policy(policy)
                    .send(),
            )
            .unwrap();
    }

    /// Creates a public bucket.
    pub fn public_bucket(&self, bucket: &str) {
        self.create_bucket(bucket);
        self.make_public(bucket);
    }

    /// Uploads one object.
    pub fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.put_many(bucket, vec![(key.to_owned(), body)]);
    }

    /// Uploads objects, 32 at a time.
    pub fn put_many(&self, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
        self.upload(&self.client, bucket, objects);
    }

    /// Uploads objects without checksums, 32 at a time.
    pub fn put_many_plain(&self, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
        self.upload(&self.plain, bucket, objects);
    }

    fn upload(&self, client: &Client, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
        self.runtime.block_on(async {
            let permits = Arc::new(Semaphore::new(32));
            let mut tasks = tokio::task::JoinSet::new();
            for (key, body) in objects {
                let request = client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(body));
                let permits = Arc::clone(&permits);
                tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await.unwrap();
                    request.send().await.unwrap();
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        });
    }
}
