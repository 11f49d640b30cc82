//! Conditional writes (`If-None-Match: *`, `If-Match`) for state shared without a shared disk.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use ooni_s3::{Conditional, S3Store};

use crate::support::*;

/// Writers per race, each with its own store (its own client and connections), as separate
/// machines would be.
const WRITERS: usize = 8;

fn written(outcome: &Conditional) -> Option<&str> {
    match outcome {
        Conditional::Written { etag } => Some(etag),
        Conditional::PreconditionFailed => None,
    }
}

/// Runs `write(store, writer)` on every store at once (released together by a barrier) and
/// returns the outcomes in writer order.
fn race(
    stores: &[S3Store],
    write: impl Fn(&S3Store, usize) -> Conditional + Sync,
) -> Vec<Conditional> {
    let barrier = Barrier::new(stores.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(writer, store)| {
                let (barrier, write) = (&barrier, &write);
                scope.spawn(move || {
                    barrier.wait();
                    write(store, writer)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn token(writer: usize, round: usize) -> Vec<u8> {
    format!("{{\"writer\":{writer},\"round\":{round}}}").into_bytes()
}

#[test]
fn racing_writers_put_if_absent_exactly_one_wins() {
    let (moto, _seeder, bucket) = read_write_bucket("cond-absent");
    let stores: Vec<S3Store> = (0..WRITERS)
        .map(|_| anonymous_store(&moto.endpoint, &bucket))
        .collect();
    for round in 0..25 {
        let key = format!("_state/shards/3-of-8/commit-{round}.json");
        let outcomes = race(&stores, |store, writer| {
            store.put_if_absent(&key, &token(writer, round)).unwrap()
        });
        let winners: Vec<usize> = (0..WRITERS)
            .filter(|&w| written(&outcomes[w]).is_some())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let winner = winners[0];
        // The object is the winner's, with the ETag the winner was given.
        let (bytes, etag) = stores[0].get_with_etag(&key).unwrap().unwrap();
        assert_eq!(bytes, token(winner, round));
        assert_eq!(Some(etag.as_str()), written(&outcomes[winner]));
    }
    // Losing is an answer, not a retried error.
    assert!(stores.iter().all(|s| s.request_stats_retries() == 0));
}

#[test]
fn put_if_match_with_a_stale_etag_fails_and_changes_nothing() {
    let (moto, _seeder, bucket) = read_write_bucket("cond-match");
    let store = anonymous_store(&moto.endpoint, &bucket);
    let key = "_state/lock";

    assert_eq!(store.get_with_etag(key).unwrap(), None);
    // If-Match on a key that does not exist: nothing to match.
    assert_eq!(
        store.put_if_match(key, b"v0", "\"0123\"").unwrap(),
        Conditional::PreconditionFailed
    );
    assert_eq!(store.get_with_etag(key).unwrap(), None);

    let first = store.put_if_absent(key, b"v1").unwrap();
    let Conditional::Written { etag: v1 } = first else {
        panic!("{first:?}")
    };
    assert!(v1.starts_with('"') && v1.ends_with('"'), "{v1}");
    assert_eq!(
        store.put_if_absent(key, b"v1 again").unwrap(),
        Conditional::PreconditionFailed
    );
    assert_eq!(
        store.get_with_etag(key).unwrap(),
        Some((b"v1".to_vec(), v1.clone()))
    );

    // The current ETag wins, quoted or not.
    let second = store.put_if_match(key, b"v2", &v1).unwrap();
    let Conditional::Written { etag: v2 } = second else {
        panic!("{second:?}")
    };
    assert_ne!(v1, v2);
    // The stale one fails and leaves v2 in place.
    assert_eq!(
        store.put_if_match(key, b"v3", &v1).unwrap(),
        Conditional::PreconditionFailed
    );
    assert_eq!(
        store
            .put_if_match(key, b"v3", v1.trim_matches('"'))
            .unwrap(),
        Conditional::PreconditionFailed
    );
    assert_eq!(
        store.get_with_etag(key).unwrap(),
        Some((b"v2".to_vec(), v2.clone()))
    );
    let third = store
        .put_if_match(key, b"v3", v2.trim_matches('"'))
        .unwrap();
    let Conditional::Written { etag: v3 } = third else {
        panic!("{third:?}")
    };

    // A conditional delete with a stale ETag deletes nothing; with the current one it does.
    assert!(!store.delete_if_match(key, &v2).unwrap());
    assert_eq!(store.get_with_etag(key).unwrap().unwrap().0, b"v3");
    assert!(store.delete_if_match(key, &v3).unwrap());
    assert_eq!(store.get_with_etag(key).unwrap(), None);
    assert!(!store.delete_if_match(key, &v3).unwrap());
    // A plain delete, also of a key that is not there.
    assert!(written(&store.put_if_absent(key, b"v4").unwrap()).is_some());
    store.delete(key).unwrap();
    store.delete(key).unwrap();
    assert_eq!(store.get_with_etag(key).unwrap(), None);
}

#[test]
fn racing_writers_put_if_match_on_one_version_exactly_one_wins() {
    let (moto, _seeder, bucket) = read_write_bucket("cond-cas");
    let stores: Vec<S3Store> = (0..WRITERS)
        .map(|_| anonymous_store(&moto.endpoint, &bucket))
        .collect();
    let key = "out/_state/lock";
    let Conditional::Written { mut etag } = stores[0].put_if_absent(key, b"free").unwrap() else {
        panic!("the key was new")
    };
    // Every round, all writers hold the same ETag and try to replace that version.
    for round in 0..25 {
        let seen = etag.clone();
        let outcomes = race(&stores, |store, writer| {
            store
                .put_if_match(key, &token(writer, round), &seen)
                .unwrap()
        });
        let winners: Vec<usize> = (0..WRITERS)
            .filter(|&w| written(&outcomes[w]).is_some())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let (bytes, now) = stores[1].get_with_etag(key).unwrap().unwrap();
        assert_eq!(bytes, token(winners[0], round));
        assert_eq!(Some(now.as_str()), written(&outcomes[winners[0]]));
        etag = now;
    }
}

#[test]
fn the_condition_headers_are_sent_and_a_refused_retry_is_resolved_by_reading_back() {
    let (moto, seeder, bucket) = read_write_bucket("cond-retry");
    // Every first attempt of a PUT is throttled (answered by the proxy, never stored), so
    // each write below is refused only on its retry: the case where the first attempt's
    // answer was lost and nobody knows whether it stored the object.
    let puts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&puts);
    let proxy = Proxy::start(moto.addr, move |seen| {
        if seen.method == "PUT" && counter.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Fault::SlowDown
        } else {
            Fault::Pass
        }
    });
    let store = anonymous_store(&proxy.endpoint, &bucket);

    // Nothing there: the retry writes.
    let outcome = store.put_if_absent("a", b"mine").unwrap();
    assert!(written(&outcome).is_some(), "{outcome:?}");
    // The same bytes already there (as if the lost attempt had stored them): the refusal of
    // the retry is this writer's own success.
    seeder.put(&bucket, "b", b"mine".to_vec());
    let outcome = store.put_if_absent("b", b"mine").unwrap();
    let (_, etag) = store.get_with_etag("b").unwrap().unwrap();
    assert_eq!(outcome, Conditional::Written { etag: etag.clone() });
    // Other bytes there: another writer won.
    seeder.put(&bucket, "c", b"theirs".to_vec());
    assert_eq!(
        store.put_if_absent("c", b"mine").unwrap(),
        Conditional::PreconditionFailed
    );
    assert_eq!(store.get_with_etag("c").unwrap().unwrap().0, b"theirs");
    // If-Match the same way: "b" already holds the new bytes under a newer ETag.
    seeder.put(&bucket, "b", b"next".to_vec());
    let outcome = store.put_if_match("b", b"next", &etag).unwrap();
    assert!(written(&outcome).is_some(), "{outcome:?}");
    assert_eq!(
        store.put_if_match("b", b"other", &etag).unwrap(),
        Conditional::PreconditionFailed
    );
    assert_eq!(store.request_stats_retries(), 5);

    let puts: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 10);
    for put in &puts[..6] {
        assert_eq!(put.header("if-none-match"), Some("*"), "{}", put.head);
        assert_eq!(put.header("if-match"), None);
    }
    for put in &puts[6..] {
        assert_eq!(put.header("if-match"), Some(etag.as_str()), "{}", put.head);
        assert_eq!(put.header("if-none-match"), None);
    }
}

#[test]
fn conditional_writes_respect_the_store_prefix_and_name_failures() {
    let (moto, _seeder, bucket) = read_write_bucket("cond-prefix");
    let store = S3Store::connect(ooni_s3::S3Options {
        prefix: "runs/nightly".to_owned(),
        ..options(&moto.endpoint, &bucket)
    })
    .unwrap();
    assert!(written(&store.put_if_absent("_state/x", b"1").unwrap()).is_some());
    let root = anonymous_store(&moto.endpoint, &bucket);
    assert_eq!(
        root.get_with_etag("runs/nightly/_state/x")
            .unwrap()
            .unwrap()
            .0,
        b"1"
    );
    assert_eq!(root.get_with_etag("_state/x").unwrap(), None);

    // A bucket that does not exist is an error naming it, not a lost race.
    let missing = anonymous_store(&moto.endpoint, "no-such-bucket");
    let err = missing.put_if_absent("k", b"1").unwrap_err().to_string();
    assert!(err.contains("s3://no-such-bucket/k"), "{err}");
    assert!(err.contains("NoSuchBucket"), "{err}");
    let err = missing
        .put_if_match("k", b"1", "\"e\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("NoSuchBucket"), "{err}");
    let err = missing.get_with_etag("k").unwrap_err().to_string();
    assert!(err.contains("NoSuchBucket"), "{err}");
}

/// `request_stats().retries`, without importing the trait in every test.
trait Retries {
    fn request_stats_retries(&self) -> u64;
}

impl Retries for S3Store {
    fn request_stats_retries(&self) -> u64 {
        ooni_source::Store::request_stats(self).retries
    }
}
