//! Narrow, paginated listings.

use std::collections::BTreeSet;

use ooni_s3::{S3Options, S3Store};
use ooni_source::{ObjectMeta, Store};

use crate::support::*;

const WHATSAPP: &str = "raw/20201021/10/AZ/whatsapp/";
/// More than one page of 1,000.
const WHATSAPP_KEYS: usize = 1050;

fn whatsapp_key(i: usize) -> String {
    format!(
        "{WHATSAPP}2020102110_AZ_whatsapp.n{}.{}.jsonl.gz",
        i / 100,
        i % 100
    )
}

/// Keys and sizes (ETags are checked apart).
type Listed = Vec<(String, u64)>;

fn ks(objects: &[ObjectMeta]) -> Listed {
    objects.iter().map(|m| (m.key.clone(), m.size)).collect()
}

fn under(all: &Listed, prefix: &str) -> Listed {
    all.iter()
        .filter(|m| m.0.starts_with(prefix))
        .cloned()
        .collect()
}

/// A bucket laid out like OONI's, with 1,050 keys under one narrow prefix.
fn seed_layout(seeder: &Seeder, bucket: &str) -> Listed {
    seeder.public_bucket(bucket);
    let mut objects: Vec<(String, Vec<u8>)> = (0..WHATSAPP_KEYS)
        .map(|i| (whatsapp_key(i), vec![b'w'; i % 50]))
        .collect();
    for (key, len) in [
        (
            "raw/20201021/10/AZ/telegram/2020102110_AZ_telegram.n0.0.jsonl.gz",
            3,
        ),
        (
            "raw/20201021/10/AZ/telegram/2020102110_AZ_telegram.n0.0.tar.gz",
            7,
        ),
        (
            "raw/20201021/10/AZ/whatsappx/2020102110_AZ_whatsappx.n0.0.jsonl.gz",
            5,
        ),
        (
            "raw/20201021/11/AZ/whatsapp/2020102111_AZ_whatsapp.n0.0.jsonl.gz",
            11,
        ),
        (
            "raw/20201022/00/AZ/whatsapp/2020102200_AZ_whatsapp.n0.0.jsonl.gz",
            13,
        ),
        (
            "jsonl/whatsapp/AZ/20201020/00/20201020_AZ_whatsapp.l.0.jsonl.gz",
            17,
        ),
        // A "directory" placeholder: not an archive, never listed.
        ("raw/20201021/", 0),
    ] {
        objects.push((key.to_owned(), vec![b'x'; len]));
    }
    seeder.put_many_plain(bucket, objects.clone());
    let mut listed: Listed = objects
        .into_iter()
        .filter(|(key, _)| !key.ends_with('/'))
        .map(|(key, body)| (key, body.len() as u64))
        .collect();
    listed.sort();
    listed
}

#[test]
fn narrow_listings_paginate_count_pages_and_match_list_many() {
    let moto = Moto::start();
    let seeder = Seeder::new(&moto.endpoint);
    let bucket = bucket_name("listing");
    let all = seed_layout(&seeder, &bucket);
    let store = anonymous_store(&moto.endpoint, &bucket);
    assert_eq!(store.location(), format!("s3://{bucket}"));

    // 1,050 keys: two pages.
    let listed = store.list(WHATSAPP).unwrap();
    assert_eq!(listed.len(), WHATSAPP_KEYS);
    assert_eq!(ks(&listed), under(&all, WHATSAPP));
    assert!(listed.iter().all(|m| !m.key.contains("whatsappx")));
    let seventh = listed.iter().find(|m| m.key == whatsapp_key(7)).unwrap();
    assert_eq!(seventh.size, 7);
    // ETags as S3 gives them: the same body, the same tag.
    assert!(
        listed
            .iter()
            .all(|m| m.etag.as_deref().is_some_and(|e| e.len() > 2))
    );
    let tags_of_size = |size: u64| {
        listed
            .iter()
            .filter(|m| m.size == size)
            .map(|m| m.etag.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(tags_of_size(7).len(), 1);
    assert_ne!(tags_of_size(7), tags_of_size(8));
    let stats = store.request_stats();
    assert_eq!(stats.list_calls, 2);
    assert_eq!((stats.get_calls, stats.retries), (0, 0));

    // A small prefix is one call; an empty one too.
    let telegram = store.list("raw/20201021/10/AZ/telegram/").unwrap();
    assert_eq!(ks(&telegram), under(&all, "raw/20201021/10/AZ/telegram/"));
    assert_eq!(telegram.len(), 2);
    assert!(
        store
            .list("raw/20201021/10/RU/whatsapp/")
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.request_stats().list_calls, 4);

    // A whole upload day, with the directory placeholder left out.
    let day = store.list("raw/20201021/").unwrap();
    assert_eq!(ks(&day), under(&all, "raw/20201021/"));
    assert_eq!(day.len(), WHATSAPP_KEYS + 4);
    assert_eq!(store.request_stats().list_calls, 6);

    // list_many: the same as sequential lists, in prefix order.
    let prefixes: Vec<String> = [
        "raw/20201021/11/AZ/whatsapp/",
        WHATSAPP,
        "jsonl/whatsapp/AZ/20201020/",
        "raw/20201021/10/RU/whatsapp/",
        "raw/20201021/10/AZ/telegram/",
        "raw/20201022/",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    let sequential_store = anonymous_store(&moto.endpoint, &bucket);
    let mut sequential = Vec::new();
    for prefix in &prefixes {
        sequential.extend(sequential_store.list(prefix).unwrap());
    }
    let concurrent_store = S3Store::connect(S3Options {
        list_concurrency: 3,
        ..options(&moto.endpoint, &bucket)
    })
    .unwrap();
    let concurrent = concurrent_store.list_many(&prefixes).unwrap();
    assert_eq!(concurrent, sequential);
    assert_eq!(
        concurrent[0].key,
        "raw/20201021/11/AZ/whatsapp/2020102111_AZ_whatsapp.n0.0.jsonl.gz"
    );
    assert_eq!(concurrent[1].key, whatsapp_key(0));
    let expected_len: usize = prefixes.iter().map(|p| under(&all, p).len()).sum();
    assert_eq!(concurrent.len(), expected_len);
    // One call per page: 1 + 2 + 1 + 1 + 1 + 1.
    assert_eq!(concurrent_store.request_stats().list_calls, 7);
    assert_eq!(sequential_store.request_stats().list_calls, 7);
    assert!(concurrent_store.list_many(&[]).unwrap().is_empty());
}

#[test]
fn a_store_prefix_makes_keys_relative() {
    let (moto, seeder, bucket) = public_bucket("prefixed");
    seeder.put(
        &bucket,
        "mirror/raw/20201021/00/AZ/whatsapp/a.jsonl.gz",
        b"abc".to_vec(),
    );
    seeder.put(
        &bucket,
        "mirror-not/raw/20201021/00/AZ/whatsapp/b.jsonl.gz",
        b"x".to_vec(),
    );
    seeder.put(
        &bucket,
        "raw/20201021/00/AZ/whatsapp/c.jsonl.gz",
        b"y".to_vec(),
    );
    let store = S3Store::connect(S3Options {
        prefix: "mirror".to_owned(), // a final '/' is added
        ..options(&moto.endpoint, &bucket)
    })
    .unwrap();
    assert_eq!(store.location(), format!("s3://{bucket}/mirror"));
    let listed = store.list("raw/20201021/").unwrap();
    assert_eq!(
        ks(&listed),
        [("raw/20201021/00/AZ/whatsapp/a.jsonl.gz".to_owned(), 3)]
    );
    let body = read_all(&store, &listed[0].key, Some(3)).unwrap();
    assert_eq!(body, b"abc");

    // Errors name the store, the prefix and S3's answer; they are not retried.
    let missing = S3Store::connect(options(&moto.endpoint, "no-such-bucket")).unwrap();
    let err = chain(&missing.list("raw/").unwrap_err());
    assert!(err.contains("s3://no-such-bucket/raw/"), "{err}");
    assert!(err.contains("NoSuchBucket"), "{err}");
    assert_eq!(missing.request_stats().retries, 0);
    let err = chain(&missing.list_many(&["a/".to_owned()]).unwrap_err());
    assert!(err.contains("s3://no-such-bucket/a/"), "{err}");
}

#[test]
fn key_levels_come_from_one_delimiter_listing_and_match_a_directory() {
    let moto = Moto::start();
    let seeder = Seeder::new(&moto.endpoint);
    let bucket = bucket_name("levels");
    let all = seed_layout(&seeder, &bucket);
    // More than a page of 1,000 common prefixes under one level.
    let many: Vec<(String, Vec<u8>)> = (0..1005)
        .map(|i| (format!("many/{i:04}/x.jsonl.gz"), b"m".to_vec()))
        .collect();
    seeder.put_many_plain(&bucket, many);
    let store = anonymous_store(&moto.endpoint, &bucket);

    let levels = |prefix: &str| store.list_common_prefixes(prefix).unwrap();
    assert_eq!(levels(""), ["jsonl/", "many/", "raw/"]);
    assert_eq!(levels("raw/"), ["raw/20201021/", "raw/20201022/"]);
    // The "directory" placeholder `raw/20201021/` is the prefix itself, not a level below it.
    assert_eq!(
        levels("raw/20201021/"),
        ["raw/20201021/10/", "raw/20201021/11/"]
    );
    assert_eq!(
        levels("raw/20201021/10/AZ/"),
        [
            "raw/20201021/10/AZ/telegram/",
            "raw/20201021/10/AZ/whatsapp/",
            "raw/20201021/10/AZ/whatsappx/"
        ]
    );
    // The 1,050 keys below whatsapp/ are not listed: one call, no levels.
    assert!(levels(WHATSAPP).is_empty());
    assert!(levels("raw/20991231/").is_empty());
    assert_eq!(store.request_stats().list_calls, 7);
    let hundreds = levels("many/");
    assert_eq!(hundreds.len(), 1005);
    assert_eq!(hundreds[0], "many/0000/");
    assert_eq!(hundreds[1004], "many/1004/");
    assert_eq!(store.request_stats().list_calls, 9, "two pages");

    // A prefix that does not end a level is refused before any request.
    let err = chain(&store.list_common_prefixes("raw/2020").unwrap_err());
    assert!(err.contains("raw/2020"), "{err}");
    assert_eq!(store.request_stats().list_calls, 9);

    // The same keys in a directory give the same levels.
    let dir = tempfile::tempdir().unwrap();
    for (key, _) in &all {
        let path = dir.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }
    let local = ooni_source::LocalStore::new(dir.path());
    for prefix in [
        "raw/",
        "raw/20201021/",
        "raw/20201021/10/",
        "raw/20201021/10/AZ/",
        "jsonl/whatsapp/",
        "jsonl/whatsapp/AZ/20201020/",
    ] {
        assert_eq!(
            store.list_common_prefixes(prefix).unwrap(),
            local.list_common_prefixes(prefix).unwrap(),
            "{prefix}"
        );
    }

    // Relative to the store's prefix, like every listing.
    let prefixed = S3Store::connect(S3Options {
        prefix: "raw/20201021".to_owned(),
        ..options(&moto.endpoint, &bucket)
    })
    .unwrap();
    assert_eq!(prefixed.list_common_prefixes("").unwrap(), ["10/", "11/"]);
    assert_eq!(prefixed.list_common_prefixes("10/").unwrap(), ["10/AZ/"]);

    // Errors name the store and prefix.
    let missing = anonymous_store(&moto.endpoint, "no-such-bucket");
    let err = chain(&missing.list_common_prefixes("raw/").unwrap_err());
    assert!(err.contains("s3://no-such-bucket/raw/"), "{err}");
    assert!(err.contains("NoSuchBucket"), "{err}");

    // Several levels at once, concurrently: the answers of one call each, in prefix order,
    // and a call per page in `list_calls`.
    let concurrent = S3Store::connect(S3Options {
        list_concurrency: 3,
        ..options(&moto.endpoint, &bucket)
    })
    .unwrap();
    let prefixes = ["raw/20201021/10/AZ/", "many/", "raw/20991231/", "", "raw/"].map(String::from);
    let answers = concurrent.list_common_prefixes_many(&prefixes).unwrap();
    let one_by_one: Vec<Vec<String>> = prefixes.iter().map(|p| levels(p)).collect();
    assert_eq!(answers, one_by_one);
    assert_eq!(answers[1].len(), 1005);
    assert_eq!(concurrent.request_stats().list_calls, 1 + 2 + 1 + 1 + 1);
    assert!(
        concurrent
            .list_common_prefixes_many(&[])
            .unwrap()
            .is_empty()
    );
    // A prefix that does not end a level is refused before any request is made.
    let refused = ["raw/".to_owned(), "raw/2020".to_owned()];
    let err = chain(&concurrent.list_common_prefixes_many(&refused).unwrap_err());
    assert!(err.contains("raw/2020"), "{err}");
    assert_eq!(concurrent.request_stats().list_calls, 6);
    // A failed listing names its store and prefix.
    let both = ["raw/".to_owned(), "jsonl/".to_owned()];
    let err = chain(&missing.list_common_prefixes_many(&both).unwrap_err());
    assert!(err.contains("s3://no-such-bucket/raw/"), "{err}");
    assert!(err.contains("NoSuchBucket"), "{err}");
}
