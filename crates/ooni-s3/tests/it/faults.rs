//! Reading through a proxy that throttles, resets, cuts and stalls.

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ooni_s3::{S3Options, S3Store};
use ooni_source::Store;

use crate::support::*;

fn is_object_get(method: &str, target: &str) -> bool {
    method == "GET" && target.contains("/obj/")
}

#[test]
fn throttling_resets_and_cut_bodies_are_retried_and_resumed() {
    let (moto, seeder, bucket) = public_bucket("faults");
    let sizes = [1_000_000usize, 2_500_000, 3_000_000, 700_000];
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| pseudo_random(n, 100 + i as u64))
        .collect();
    seeder.put_many(
        &bucket,
        bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("obj/{i}.tar.gz"), b.clone()))
            .collect(),
    );

    // Object GETs cycle through: cut after 300 kB, 503, reset, cut after 150 kB, pass.
    // The first LIST page is throttled.
    let gets = Arc::new(AtomicUsize::new(0));
    let lists = Arc::new(AtomicUsize::new(0));
    let (g, l) = (gets.clone(), lists.clone());
    let proxy = Proxy::start(moto.addr, move |seen| {
        if is_object_get(&seen.method, &seen.target) {
            match g.fetch_add(1, Ordering::SeqCst) % 5 {
                0 => Fault::CutAfter(300_000),
                1 => Fault::SlowDown,
                2 => Fault::Reset,
                3 => Fault::CutAfter(150_000),
                _ => Fault::Pass,
            }
        } else if seen.target.contains("list-type=2") && l.fetch_add(1, Ordering::SeqCst) == 0 {
            Fault::SlowDown
        } else {
            Fault::Pass
        }
    });
    let store = S3Store::connect(options(&proxy.endpoint, &bucket)).unwrap();

    let listed = store.list("obj/").unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(
        store.request_stats().list_calls,
        2,
        "one throttled, one retried"
    );
    assert_eq!(store.request_stats().retries, 1);

    std::thread::scope(|scope| {
        for (meta, body) in listed.iter().zip(&bodies) {
            let store = &store;
            scope.spawn(move || {
                let read = read_all(store, &meta.key, Some(meta.size)).unwrap();
                assert!(&read == body, "{} differs", meta.key);
            });
        }
    });
    let stats = store.request_stats();
    assert!(stats.retries > 4, "{stats:?}");
    assert!(stats.resumed_bytes >= 300_000, "{stats:?}");
    assert!(stats.get_calls > 8, "{stats:?}");
    let seen = proxy.seen();
    let ranged = seen.iter().filter(|s| s.header("range").is_some()).count();
    assert!(ranged > 0, "no Range request was made");
    for s in seen.iter().filter(|s| s.header("range").is_some()) {
        assert!(s.header("if-match").is_some(), "a resume without If-Match");
    }
    // Every GET the proxy saw was counted.
    let object_gets = seen
        .iter()
        .filter(|s| is_object_get(&s.method, &s.target))
        .count();
    assert_eq!(object_gets as u64, stats.get_calls);
    // Unsigned mode sends no Authorization header, ever.
    assert!(
        seen.iter().all(|s| s.header("authorization").is_none()),
        "an unsigned request carried an Authorization header"
    );
}

#[test]
fn a_stalled_body_is_abandoned_and_resumed() {
    let (moto, seeder, bucket) = public_bucket("stall");
    let body = pseudo_random(1_200_000, 7);
    seeder.put(&bucket, "obj/stalls", body.clone());
    let gets = Arc::new(AtomicUsize::new(0));
    let g = gets.clone();
    let proxy = Proxy::start(moto.addr, move |seen| {
        if is_object_get(&seen.method, &seen.target) && g.fetch_add(1, Ordering::SeqCst) == 0 {
            Fault::StallAfter(200_000)
        } else {
            Fault::Pass
        }
    });
    let store = S3Store::connect(S3Options {
        timeout: Duration::from_millis(700),
        ..options(&proxy.endpoint, &bucket)
    })
    .unwrap();
    let started = Instant::now();
    let read = read_all(&store, "obj/stalls", Some(body.len() as u64)).unwrap();
    assert!(read == body);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let stats = store.request_stats();
    assert_eq!(stats.get_calls, 2, "{stats:?}");
    assert_eq!(stats.resumed_bytes, 200_000, "{stats:?}");
}

#[test]
fn after_max_retries_the_reader_fails_instead_of_hanging() {
    let (moto, seeder, bucket) = public_bucket("giveup");
    let body = pseudo_random(800_000, 9);
    seeder.put(&bucket, "obj/doomed", body.clone());
    seeder.put(&bucket, "obj/throttled", body.clone());
    let gets = Arc::new(AtomicUsize::new(0));
    let g = gets.clone();
    // The first GET of obj/doomed delivers 100 kB; every later object GET is throttled.
    let proxy = Proxy::start(moto.addr, move |seen| {
        if !is_object_get(&seen.method, &seen.target) {
            Fault::Pass
        } else if seen.target.contains("doomed") && g.fetch_add(1, Ordering::SeqCst) == 0 {
            Fault::CutAfter(100_000)
        } else {
            Fault::SlowDown
        }
    });
    let store = S3Store::connect(S3Options {
        max_retries: 3,
        ..options(&proxy.endpoint, &bucket)
    })
    .unwrap();

    let started = Instant::now();
    let mut reader = store.open("obj/doomed", Some(body.len() as u64)).unwrap();
    let mut got = Vec::new();
    let err = std::io::Read::read_to_end(&mut reader, &mut got).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    assert_eq!(got, body[..100_000]);
    let message = err.to_string();
    assert!(message.contains("obj/doomed"), "{message}");
    assert!(message.contains("100000 of 800000"), "{message}");
    assert!(message.contains("SlowDown"), "{message}");
    let stats = store.request_stats();
    assert_eq!((stats.get_calls, stats.retries), (4, 3), "{stats:?}");

    // Throttled from the first request: open itself fails after 1 + 3 attempts.
    let Err(err) = store.open("obj/throttled", None) else {
        panic!("opened a throttled object")
    };
    let message = crate::support::chain(&err);
    assert!(
        message.contains("4 attempt(s)") && message.contains("503"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(store.request_stats().retries, 6);
}

#[test]
fn a_corrupted_body_fails_its_checksum() {
    let (moto, seeder, bucket) = public_bucket("corrupt");
    // Uploaded with a CRC32 checksum, which a full GET returns and the SDK checks.
    let body = pseudo_random(500_000, 11);
    seeder.put(&bucket, "obj/flipped", body.clone());
    let proxy = Proxy::start(moto.addr, |seen| {
        if is_object_get(&seen.method, &seen.target) {
            Fault::FlipByte(123_456)
        } else {
            Fault::Pass
        }
    });
    let store = S3Store::connect(options(&proxy.endpoint, &bucket)).unwrap();
    let err = read_all(&store, "obj/flipped", Some(body.len() as u64)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("obj/flipped"), "{err}");
    assert!(err.to_string().to_lowercase().contains("checksum"), "{err}");
    // Not retried: the bytes were all there, just wrong.
    assert_eq!(store.request_stats().get_calls, 1);
}
