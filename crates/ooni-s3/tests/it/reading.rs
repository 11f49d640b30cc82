//! Streaming reads, straight from moto.

use std::io::Read;
use std::time::{Duration, Instant};

use ooni_source::Store;

use crate::support::*;

const BIG: &str = "raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.tar.gz";

#[test]
fn a_large_object_streams_byte_for_byte_in_one_get() {
    let (moto, seeder, bucket) = public_bucket("reading");
    let body = pseudo_random(5 * 1024 * 1024 + 123, 1);
    seeder.put(&bucket, BIG, body.clone());
    let store = anonymous_store(&moto.endpoint, &bucket);

    let read = read_all(&store, BIG, Some(body.len() as u64)).unwrap();
    assert!(read == body, "bytes differ");
    let stats = store.request_stats();
    assert_eq!(
        (stats.get_calls, stats.retries, stats.resumed_bytes),
        (1, 0, 0)
    );

    // Without a listed size as well.
    assert!(read_all(&store, BIG, None).unwrap() == body);
    assert_eq!(store.request_stats().get_calls, 2);
}

#[test]
fn readers_work_concurrently_from_plain_threads() {
    let (moto, seeder, bucket) = public_bucket("threads");
    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|i| pseudo_random(300_000 + i * 77_777, i as u64 + 10))
        .collect();
    seeder.put_many(
        &bucket,
        bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("k/{i}"), b.clone()))
            .collect(),
    );
    let store = anonymous_store(&moto.endpoint, &bucket);
    std::thread::scope(|scope| {
        for (i, body) in bodies.iter().enumerate() {
            let store = &store;
            scope.spawn(move || {
                let read = read_all(store, &format!("k/{i}"), Some(body.len() as u64)).unwrap();
                assert!(&read == body, "object {i} differs");
            });
        }
    });
    assert_eq!(store.request_stats().get_calls, 6);
}

#[test]
fn size_mismatches_and_missing_objects_are_errors_without_retries() {
    let (moto, seeder, bucket) = public_bucket("errors");
    seeder.put(&bucket, "k/short", vec![7u8; 1000]);
    let store = anonymous_store(&moto.endpoint, &bucket);

    // The listing said 1,500 bytes; the object has 1,000.
    let err = read_all(&store, "k/short", Some(1500)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let message = err.to_string();
    assert!(
        message.contains("1000") && message.contains("1500"),
        "{message}"
    );
    assert!(
        message.contains(&format!("s3://{bucket}/k/short")),
        "{message}"
    );

    // A missing key fails at open, at once (404 is not retried).
    let started = Instant::now();
    let Err(err) = store.open("k/missing", Some(1)) else {
        panic!("opened a missing key")
    };
    let message = chain(&err);
    assert!(
        message.contains("k/missing") && message.contains("404"),
        "{message}"
    );
    assert!(message.contains("NoSuchKey"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let stats = store.request_stats();
    assert_eq!((stats.get_calls, stats.retries), (2, 0));
}

#[test]
fn a_private_bucket_refuses_anonymous_reads() {
    let moto = Moto::start();
    let seeder = Seeder::new(&moto.endpoint);
    let bucket = bucket_name("private");
    seeder.create_bucket(&bucket);
    seeder.put(&bucket, "k/secret", vec![1u8; 10]);
    let store = anonymous_store(&moto.endpoint, &bucket);
    let Err(err) = store.open("k/secret", Some(10)) else {
        panic!("anonymous read of a private object")
    };
    assert!(chain(&err).contains("403"), "{}", chain(&err));
    assert_eq!(store.request_stats().retries, 0);
}

#[test]
fn dropping_a_reader_early_is_clean() {
    let (moto, seeder, bucket) = public_bucket("drop");
    let body = pseudo_random(4 * 1024 * 1024, 3);
    seeder.put(&bucket, BIG, body.clone());
    let store = anonymous_store(&moto.endpoint, &bucket);
    for _ in 0..3 {
        let mut reader = store.open(BIG, Some(body.len() as u64)).unwrap();
        let mut head = vec![0u8; 1000];
        reader.read_exact(&mut head).unwrap();
        assert_eq!(head, body[..1000]);
        drop(reader);
    }
    // The store is still usable, and the readers outlive nothing.
    assert!(read_all(&store, BIG, None).unwrap() == body);
    // A reader may also outlive its store.
    let mut reader = store.open(BIG, None).unwrap();
    drop(store);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest == body);
}
