//! Uploading output files.

use ooni_s3::{MULTIPART_THRESHOLD, S3Error, S3Options, S3Store};
use ooni_source::Store;

use crate::support::*;

#[test]
fn small_and_multipart_uploads_read_back_equal() {
    let (moto, _seeder, bucket) = public_bucket("upload");
    // Anonymous uploads: moto lets anyone create new keys (and this exercises the unsigned
    // checksum setting, without which the SDK panics).
    let store = S3Store::connect(S3Options {
        prefix: "out/".to_owned(),
        ..options(&moto.endpoint, &bucket)
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let small = pseudo_random(1234, 21);
    let small_path = dir.path().join("small.parquet");
    std::fs::write(&small_path, &small).unwrap();
    store
        .upload_file(&small_path, "failure_rates/part-0.parquet")
        .unwrap();

    let large_len = MULTIPART_THRESHOLD as usize + 3 * 1024 * 1024 + 17;
    let large = pseudo_random(large_len, 22);
    let large_path = dir.path().join("large.parquet");
    std::fs::write(&large_path, &large).unwrap();
    store
        .upload_file(&large_path, "measurements/part-0.parquet")
        .unwrap();

    let listed = store.list("").unwrap();
    let keys: Vec<(&str, u64)> = listed.iter().map(|m| (m.key.as_str(), m.size)).collect();
    assert_eq!(
        keys,
        [
            ("failure_rates/part-0.parquet", small.len() as u64),
            ("measurements/part-0.parquet", large_len as u64)
        ]
    );
    assert!(read_all(&store, "failure_rates/part-0.parquet", Some(1234)).unwrap() == small);
    assert!(
        read_all(
            &store,
            "measurements/part-0.parquet",
            Some(large_len as u64)
        )
        .unwrap()
            == large
    );
    // No multipart upload was left behind.
    assert_eq!(store.request_stats().retries, 0);

    // A missing local file is an error naming it.
    let err = store
        .upload_file(&dir.path().join("missing.parquet"), "x")
        .unwrap_err();
    assert!(matches!(err, S3Error::LocalFile { .. }), "{err}");
    assert!(err.to_string().contains("missing.parquet"), "{err}");
}
