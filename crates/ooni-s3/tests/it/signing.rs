//! Signed mode takes credentials from the environment.
//!
//! Tests may not change their own process's environment (`set_var` is unsafe and racy), so the
//! parent test runs this test binary again as a child process, with dummy credentials and
//! `AWS_ENDPOINT_URL` in its environment, to run the ignored `child_*` tests below. The parent
//! checks, through the proxy, that every request was signed with those credentials.

use std::process::Command;

use ooni_s3::{Conditional, MULTIPART_THRESHOLD, S3Error, S3Options, S3Store};
use ooni_source::Store;

use crate::support::*;

const KEY_ID: &str = "AKIDOONIS3CHILDTEST";
const SECRET: &str = "child-secret-must-never-be-printed";
const CHILD_BUCKET: &str = "OONI_S3_TEST_CHILD_BUCKET";

/// Runs `test` of this binary in a child process with `envs`; returns its output.
fn run_child(test: &str, envs: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", "/nonexistent/ooni-s3-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/ooni-s3-test-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (name, value) in envs {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "child {test} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {test} did not run:\n{text}"
    );
    text
}

#[test]
fn signed_mode_signs_with_environment_credentials() {
    let moto = Moto::start();
    let seeder = Seeder::new(&moto.endpoint);
    let bucket = bucket_name("signed");
    // Private: only signed requests may read it.
    seeder.create_bucket(&bucket);
    seeder.put(&bucket, "in/a.jsonl.gz", b"signed bytes".to_vec());
    let proxy = Proxy::start(moto.addr, |_| Fault::Pass);

    let output = run_child(
        "signing::child_signed_session",
        &[
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_ENDPOINT_URL", &proxy.endpoint),
            (CHILD_BUCKET, &bucket),
        ],
    );
    assert!(
        !output.contains(SECRET),
        "the secret was printed:\n{output}"
    );

    let seen = proxy.seen();
    assert!(seen.len() >= 6, "{} requests", seen.len());
    for request in &seen {
        let auth = request
            .header("authorization")
            .unwrap_or_else(|| panic!("unsigned request {} {}", request.method, request.target));
        assert!(auth.starts_with("AWS4-HMAC-SHA256 "), "{auth}");
        assert!(auth.contains(&format!("Credential={KEY_ID}/")), "{auth}");
        assert!(!request.head.contains(SECRET));
    }
    assert!(
        seen.iter().any(|s| s.target.contains("uploadId=")),
        "no multipart upload"
    );
}

#[test]
fn signed_mode_without_credentials_fails_to_connect() {
    run_child("signing::child_signed_without_credentials", &[]);
}

fn child_bucket() -> Option<String> {
    let bucket = std::env::var(CHILD_BUCKET).ok();
    if bucket.is_none() {
        eprintln!("run by signed_mode_signs_with_environment_credentials in a child process");
    }
    bucket
}

#[test]
#[ignore = "run in a child process by signed_mode_signs_with_environment_credentials"]
fn child_signed_session() {
    let Some(bucket) = child_bucket() else { return };
    // No endpoint in the options: AWS_ENDPOINT_URL (an IP address, so path-style) is used.
    let store = S3Store::connect(S3Options {
        signed: true,
        ..S3Options::new(&bucket, "")
    })
    .unwrap();
    let listed = store.list("in/").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        read_all(&store, "in/a.jsonl.gz", Some(12)).unwrap(),
        b"signed bytes"
    );

    let dir = tempfile::tempdir().unwrap();
    for (name, len) in [
        ("small", 10_000usize),
        ("large", MULTIPART_THRESHOLD as usize + 1),
    ] {
        let body = pseudo_random(len, len as u64);
        let path = dir.path().join(name);
        std::fs::write(&path, &body).unwrap();
        store.upload_file(&path, &format!("out/{name}")).unwrap();
        assert!(read_all(&store, &format!("out/{name}"), Some(len as u64)).unwrap() == body);
    }

    // Errors and debug output never carry the secret.
    let Err(err) = store.open("in/missing", None) else {
        panic!("opened a missing key")
    };
    assert!(!crate::support::chain(&err).contains(SECRET));
    assert!(!format!("{err:?}").contains(SECRET));
    assert!(!format!("{store:?}").contains(SECRET));
    assert_eq!(store.request_stats().retries, 0);
}

#[test]
#[ignore = "run in a child process by signed_mode_without_credentials_fails_to_connect"]
fn child_signed_without_credentials() {
    if std::env::var("AWS_EC2_METADATA_DISABLED").is_err() {
        eprintln!("run by signed_mode_without_credentials_fails_to_connect in a child process");
        return;
    }
    let err = S3Store::connect(S3Options {
        signed: true,
        endpoint_url: Some("http://127.0.0.1:9".to_owned()),
        ..S3Options::default()
    })
    .unwrap_err();
    assert!(matches!(err, S3Error::Credentials { .. }), "{err}");
    assert!(err.to_string().contains("ooni-data-eu-fra"), "{err}");
}

#[test]
fn signed_conditional_writes_race_and_compare_etags() {
    let moto = Moto::start_serial();
    let seeder = Seeder::new(&moto.endpoint);
    let bucket = bucket_name("signed-cond");
    // Private: only signed requests may write it.
    seeder.create_bucket(&bucket);
    let proxy = Proxy::start(moto.addr, |_| Fault::Pass);
    run_child(
        "signing::child_signed_conditional_writes",
        &[
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_ENDPOINT_URL", &proxy.endpoint),
            (CHILD_BUCKET, &bucket),
        ],
    );
    let seen = proxy.seen();
    let puts: Vec<_> = seen.iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(
        puts.len(),
        6,
        "four racing writers, then two If-Match writes"
    );
    for request in &seen {
        let auth = request.header("authorization").unwrap_or_default();
        assert!(
            auth.contains(&format!("Credential={KEY_ID}/")),
            "{}",
            request.head
        );
    }
    assert!(
        puts.iter().all(|p| p.header("if-none-match") == Some("*")
            || p.header("if-match").is_some_and(|e| e.starts_with('"'))),
        "a PUT without its condition"
    );
}

#[test]
#[ignore = "run in a child process by signed_conditional_writes_race_and_compare_etags"]
fn child_signed_conditional_writes() {
    let Some(bucket) = child_bucket() else { return };
    let stores: Vec<S3Store> = (0..4)
        .map(|_| {
            S3Store::connect(S3Options {
                signed: true,
                ..S3Options::new(&bucket, "out")
            })
            .unwrap()
        })
        .collect();
    // Four writers race for one key: one wins.
    let barrier = std::sync::Barrier::new(stores.len());
    let outcomes: Vec<Conditional> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    store
                        .put_if_absent("_state/commit.json", format!("writer {i}").as_bytes())
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<(usize, &str)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Conditional::Written { etag } => Some((i, etag.as_str())),
            Conditional::PreconditionFailed => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let (winner, etag) = winners[0];
    let (bytes, stored) = stores[0]
        .get_with_etag("_state/commit.json")
        .unwrap()
        .unwrap();
    assert_eq!(bytes, format!("writer {winner}").into_bytes());
    assert_eq!(stored, etag);
    // Compare-and-swap on the ETag: the current one wins once, the stale one fails.
    let Conditional::Written { etag: next } = stores[1]
        .put_if_match("_state/commit.json", b"next", etag)
        .unwrap()
    else {
        panic!("the current ETag was refused")
    };
    assert_eq!(
        stores[2]
            .put_if_match("_state/commit.json", b"late", etag)
            .unwrap(),
        Conditional::PreconditionFailed
    );
    assert!(
        !stores[3]
            .delete_if_match("_state/commit.json", etag)
            .unwrap()
    );
    assert!(
        stores[3]
            .delete_if_match("_state/commit.json", &next)
            .unwrap()
    );
    assert_eq!(stores[0].get_with_etag("_state/commit.json").unwrap(), None);
    assert!(stores.iter().all(|s| s.request_stats().retries == 0));
}
