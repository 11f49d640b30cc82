//! Reading OONI's layout from a real S3 server (moto_server on 127.0.0.1): the same rows as
//! from a local directory, through injected faults, with narrow listings; and `--out s3://`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use ooni_testkit::{Fault, Moto, Proxy, Seeder};
use serde_json::Value;

use crate::support::*;

/// One moto server with the whole sample in a public bucket, shared by the tests.
fn server() -> &'static (Moto, &'static str) {
    static SERVER: OnceLock<(Moto, &'static str)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let moto = Moto::start();
        let seeder = Seeder::new(&moto.endpoint);
        let bucket = "ooni-sample";
        seeder.public_bucket(bucket);
        let root = sample_bucket();
        let mut objects = Vec::new();
        for path in walk(&root) {
            let key = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            objects.push((key, std::fs::read(&path).unwrap()));
        }
        assert!(objects.len() > 300);
        seeder.put_many(bucket, objects);
        (moto, bucket)
    })
}

/// Runs over `s3://bucket` at `endpoint` with the sample's days, plus `extra` flags.
fn run_s3(endpoint: &str, bucket: &str, out: &Path, extra: &[&str]) -> Run {
    let source = format!("s3://{bucket}");
    let mut args = vec![
        "run",
        "--source",
        &source,
        "--endpoint-url",
        endpoint,
        "--path-style",
    ];
    if !extra.contains(&"--since") {
        args.extend_from_slice(&["--since", "2014-01-01", "--until", "2026-01-01"]);
    }
    args.extend_from_slice(extra);
    run_command(&args, out)
}

/// The rows of a run over the local sample, computed once per process. (Only the rows are
/// kept: a static is never dropped, so a directory held in it would outlive the process.)
fn local_reference() -> &'static std::collections::BTreeMap<&'static str, Vec<Row>> {
    static REFERENCE: OnceLock<std::collections::BTreeMap<&'static str, Vec<Row>>> =
        OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("local");
        run_into(&sample_bucket(), &out, &[]);
        all_rows(&out)
    })
}

#[test]
fn an_s3_source_gives_the_same_rows_as_the_local_directory() {
    let (moto, bucket) = server();
    let dir = tempfile::tempdir().unwrap();
    let run = run_s3(&moto.endpoint, bucket, &dir.path().join("s3"), &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_balanced(&run.summary);
    assert_eq!(&all_rows(&run.out), local_reference());
    assert_eq!(
        run.summary["requests"]["get"], run.summary["new_objects"],
        "one GET per object read: no retries were needed"
    );
}

#[test]
fn cut_bodies_and_503s_are_retried_and_resumed_with_identical_rows() {
    let (moto, bucket) = server();
    let gets = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&gets);
    let proxy = Proxy::start(moto.addr, move |seen| {
        // Only object GETs (not listings, which carry `list-type=2`).
        if seen.method != "GET" || seen.target.contains("list-type") {
            return Fault::Pass;
        }
        match counter.fetch_add(1, Ordering::SeqCst) % 7 {
            1 => Fault::SlowDown,
            3 => Fault::CutAfter(200),
            5 => Fault::Reset,
            _ => Fault::Pass,
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let run = run_s3(&proxy.endpoint, bucket, &dir.path().join("faulty"), &[]);
    assert!(run.status == 0, "{}", run.stderr);
    assert_balanced(&run.summary);
    assert_eq!(
        &all_rows(&run.out),
        local_reference(),
        "identical rows despite the faults"
    );
    let requests = &run.summary["requests"];
    assert!(requests["retries"].as_u64().unwrap() > 10, "{requests}");
    assert!(
        requests["resumed_bytes"].as_u64().unwrap() > 1000,
        "{requests}"
    );
    assert_eq!(run.summary["counts"]["archive_errors"], 0);
}

#[test]
fn a_one_country_one_test_one_day_run_lists_only_narrow_prefixes() {
    let (moto, bucket) = server();
    let proxy = Proxy::start(moto.addr, |_| Fault::Pass);
    let dir = tempfile::tempdir().unwrap();
    let run = run_s3(
        &proxy.endpoint,
        bucket,
        &dir.path().join("narrow"),
        &[
            "--probe-cc",
            "AZ",
            "--test-name",
            "whatsapp",
            "--since",
            "2020-10-21",
            "--until",
            "2020-10-22",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let lists: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.target.contains("list-type"))
        .collect();
    let gets = proxy.seen().len() - lists.len();
    // One delimiter listing per day (the day + 3 late-upload days) finds its hours, then one
    // page per hour found; never a whole day, never an hour that is not there.
    let days = ["20201021", "20201022", "20201023", "20201024"];
    let hours_found: usize = days
        .iter()
        .map(|day| {
            std::fs::read_dir(sample_bucket().join("raw").join(day))
                .map_or(0, |entries| entries.count())
        })
        .sum();
    assert!(hours_found > 0 && hours_found < 24 * days.len());
    let mut levels = Vec::new();
    for list in &lists {
        let prefix = list
            .target
            .split("prefix=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let prefix = prefix.replace("%2F", "/");
        if list.target.contains("delimiter=") {
            levels.push(prefix);
        } else {
            assert!(prefix.starts_with("raw/2020102"), "{prefix}");
            assert!(prefix.ends_with("/AZ/whatsapp/"), "narrow prefix: {prefix}");
        }
    }
    levels.sort();
    let expected: Vec<String> = days.iter().map(|d| format!("raw/{d}/")).collect();
    assert_eq!(levels, expected);
    assert_eq!(lists.len(), days.len() + hours_found);
    assert_eq!(run.summary["requests"]["list"], lists.len() as u64);
    assert_eq!(run.summary["requests"]["get"], gets as u64);
    assert!(
        gets <= 5,
        "only that day's AZ whatsapp postcans are read ({gets})"
    );
    assert!(run.summary["measurements_written"].as_u64().unwrap() >= 3);
}

/// The `prefix` (with `%2F` decoded) and whether a `delimiter` is set, of a LIST request.
fn listed_prefix(target: &str) -> (String, bool) {
    let prefix = target
        .split("prefix=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .replace("%2F", "/");
    (prefix, target.contains("delimiter="))
}

#[test]
fn a_country_without_test_names_on_jsonl_days_discovers_levels_instead_of_listing_jsonl() {
    use std::collections::BTreeSet;
    let (moto, bucket) = server();
    let proxy = Proxy::start(moto.addr, |_| Fault::Pass);
    let source = format!("s3://{bucket}");
    let flags = [
        "--source",
        &source,
        "--endpoint-url",
        &proxy.endpoint,
        "--path-style",
        "--probe-cc",
        "IT",
        "--late-upload-days",
        "0",
    ];
    let jsonl = sample_bucket().join("jsonl");
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };
    let tests = names(&jsonl);
    assert!(tests.len() > 10, "{tests:?}");
    // The sample's IT days of each test in [from, to], as prefixes.
    let it_days = |from: &str, to: &str| -> BTreeSet<String> {
        tests
            .iter()
            .flat_map(|t| {
                names(&jsonl.join(t).join("IT"))
                    .into_iter()
                    .filter(|d| (from..=to).contains(&d.as_str()))
                    .map(move |d| format!("jsonl/{t}/IT/{d}/"))
            })
            .collect()
    };
    let is_list = |s: &ooni_testkit::Seen| s.method == "GET" && s.target.contains("list-type");
    // `list` over a window: the numbers of its plan line (prefixes, discovery LIST calls,
    // listing LIST calls), and its LIST requests as (prefix, by delimiter).
    let list = |window: [&str; 4]| {
        let before = proxy.seen().len();
        let output = pipeline(&[&["list"][..], &flags, &window].concat());
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}");
        let plan = stdout
            .lines()
            .find_map(|l| l.strip_prefix("listing plan: "))
            .unwrap_or_else(|| panic!("no plan line: {stdout}"))
            .to_owned();
        let numbers: Vec<u64> = plan
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        let lists: Vec<(String, bool)> = proxy.seen()[before..]
            .iter()
            .filter(|s| is_list(s))
            .map(|s| listed_prefix(&s.target))
            .collect();
        (numbers, lists)
    };
    let by_delimiter = |lists: &[(String, bool)], delimiter: bool| -> BTreeSet<String> {
        lists
            .iter()
            .filter(|(_, d)| *d == delimiter)
            .map(|(p, _)| p.clone())
            .collect()
    };

    // One day: one delimiter listing finds the tests; then that day of each test, never
    // jsonl/ or jsonl/TEST/ whole.
    let one_day = ["--since", "2020-01-09", "--until", "2020-01-10"];
    let (numbers, lists) = list(one_day);
    let n = tests.len() as u64;
    assert_eq!(numbers, [n, 1, n]);
    assert_eq!(
        lists.len() as u64,
        1 + n,
        "the LIST calls the plan line counts"
    );
    assert_eq!(
        by_delimiter(&lists, true),
        BTreeSet::from(["jsonl/".to_owned()])
    );
    let each_test: BTreeSet<String> = tests
        .iter()
        .map(|t| format!("jsonl/{t}/IT/20200109/"))
        .collect();
    assert_eq!(by_delimiter(&lists, false), each_test);

    // The run over that day makes the same LIST calls, and reads its two IT archives.
    let before = proxy.seen().len();
    let dir = tempfile::tempdir().unwrap();
    let run = run_s3(
        &proxy.endpoint,
        bucket,
        &dir.path().join("it"),
        &[&flags[5..], &one_day[..]].concat(),
    );
    assert!(run.status == 0 || run.status == 3, "{}", run.stderr);
    let seen = proxy.seen().split_off(before);
    let run_lists: Vec<(String, bool)> = seen
        .iter()
        .filter(|s| is_list(s))
        .map(|s| listed_prefix(&s.target))
        .collect();
    assert_eq!(run_lists.len() as u64, 1 + n);
    assert_eq!(run.summary["requests"]["list"], 1 + n);
    assert_eq!(by_delimiter(&run_lists, false), each_test);
    let gets = seen.len() - run_lists.len();
    assert_eq!(run.summary["requests"]["get"], gets as u64);
    assert_eq!(gets, 2, "psiphon and telegram, IT, 2020-01-09");

    // Several days: each test's IT days are discovered too, and only the days found inside
    // the window are listed.
    let (numbers, lists) = list(["--since", "2020-01-09", "--until", "2020-01-12"]);
    let found = it_days("20200109", "20200111");
    assert!(found.len() >= 4, "{found:?}");
    let m = found.len() as u64;
    assert_eq!(numbers, [m, 1 + n, m]);
    assert_eq!(lists.len() as u64, 1 + n + m);
    let mut levels: BTreeSet<String> = tests.iter().map(|t| format!("jsonl/{t}/IT/")).collect();
    levels.insert("jsonl/".to_owned());
    assert_eq!(by_delimiter(&lists, true), levels);
    assert_eq!(by_delimiter(&lists, false), found);
}

#[test]
fn an_s3_output_receives_each_committed_file_and_the_manifest() {
    let (moto, bucket) = server();
    let seeder = Seeder::new(&moto.endpoint);
    seeder.public_bucket("ooni-out");
    let dir = tempfile::tempdir().unwrap();
    // The Azerbaijan scenario from the sample bucket into s3://ooni-out/nightly, built in `work`.
    let run_into_bucket = |work: &Path| -> Value {
        let args: Vec<String> = [
            "run",
            "--config",
            "pipelines/azerbaijan-2020.toml",
            "--source",
            &format!("s3://{bucket}"),
            "--endpoint-url",
            &moto.endpoint,
            "--path-style",
            "--out",
            "s3://ooni-out/nightly",
            "--work-dir",
            work.to_str().unwrap(),
            "--json",
        ]
        .map(String::from)
        .to_vec();
        let output = s3_command(&args).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let work = dir.path().join("work");
    let summary = run_into_bucket(&work);
    let store = ooni_s3::S3Store::connect(ooni_s3::S3Options {
        bucket: "ooni-out".into(),
        prefix: "nightly/".into(),
        endpoint_url: Some(moto.endpoint.clone()),
        path_style: true,
        ..ooni_s3::S3Options::default()
    })
    .unwrap();
    let uploaded: std::collections::BTreeMap<String, u64> = store
        .list_many(&[
            "measurements/".into(),
            "failure_rates/".into(),
            "_state/".into(),
        ])
        .unwrap()
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    assert!(uploaded.contains_key("_state/manifest.json"));
    let files = summary["written_files"].as_array().unwrap();
    assert!(files.len() > 20);
    for rel in files.iter().map(|f| f.as_str().unwrap()) {
        if rel.starts_with("measurements/") || rel.starts_with("failure_rates/") {
            let local = std::fs::metadata(work.join(rel)).unwrap().len();
            assert_eq!(uploaded.get(rel), Some(&local), "{rel} uploaded whole");
        }
    }

    // The state is the bucket's: the same night again from an empty work directory (a
    // pod on another node) reads nothing new and leaves the bucket's manifest as it was.
    let manifest_before = store
        .get_with_etag("_state/manifest.json")
        .unwrap()
        .unwrap()
        .0;
    let again = run_into_bucket(&dir.path().join("fresh"));
    assert_eq!(again["new_objects"], 0);
    assert_eq!(again["measurements_written"], 0);
    let manifest_after: Value = serde_json::from_slice(
        &store
            .get_with_etag("_state/manifest.json")
            .unwrap()
            .unwrap()
            .0,
    )
    .unwrap();
    let manifest_before: Value = serde_json::from_slice(&manifest_before).unwrap();
    assert_eq!(manifest_after["files"], manifest_before["files"]);
    assert_eq!(manifest_after["objects"], manifest_before["objects"]);
}

#[test]
fn an_object_the_store_cannot_deliver_is_read_by_the_next_run_not_forgotten() {
    let (moto, bucket) = server();
    let victim = "raw/20201109/17/AZ/whatsapp/2020110917_AZ_whatsapp.n0.0.tar.gz";
    // Every GET of one object fails with 503 Slow Down, whatever the retries.
    let proxy = Proxy::start(moto.addr, move |seen| {
        if seen.method == "GET" && seen.target.contains(victim) {
            Fault::SlowDown
        } else {
            Fault::Pass
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let az = [
        "--probe-cc",
        "AZ",
        "--since",
        "2020-09-20",
        "--until",
        "2020-11-20",
    ];
    let first = run_s3(&proxy.endpoint, bucket, &out, &az);
    assert_eq!(first.status, 3, "{}", first.stderr);
    assert_balanced(&first.summary);
    assert_eq!(
        first.summary["retry_later"][0]["key"], victim,
        "{}",
        first.summary
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("_state/manifest.json")).unwrap()).unwrap();
    assert!(
        manifest["objects"].get(victim).is_none(),
        "an object that was not read is not recorded as read"
    );
    let second = run_s3(&moto.endpoint, bucket, &out, &az);
    assert_eq!(second.summary["new_objects"], 1, "{}", second.stderr);
    assert!(second.summary["retry_later"].as_array().unwrap().is_empty());
    let reference = dir.path().join("reference");
    run_s3(&moto.endpoint, bucket, &reference, &az);
    assert_eq!(all_rows(&out), all_rows(&reference));
}

/// Credentials for the local S3 server (it accepts any); the output is always signed.
const CREDENTIALS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
];

/// The flags of shard `shard` reading the sample from `s3://<source>` on the local S3 server
/// through its own work directory `work` (a machine sharing no disk); `--out` is added.
fn s3_shard_args(endpoint: &str, source: &str, work: &Path, shard: &str) -> Vec<String> {
    [
        "run",
        "--source",
        &format!("s3://{source}"),
        "--endpoint-url",
        endpoint,
        "--path-style",
        "--since",
        "2014-01-01",
        "--until",
        "2026-01-01",
        "--jobs",
        "1",
        "--shard",
        shard,
        "--work-dir",
        work.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn s3_command(args: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ooni-pipeline"));
    command
        .args(args)
        .current_dir(repo())
        .envs(CREDENTIALS)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3");
    command
}

/// How a shard's process ended.
struct ShardRun {
    status: i32,
    summary: Value,
    stderr: String,
}

fn run_s3_shard(endpoint: &str, output: &str, work: &Path, shard: &str) -> ShardRun {
    let (_, bucket) = server();
    let mut args = s3_shard_args(endpoint, bucket, work, shard);
    args.extend([
        "--out".to_owned(),
        format!("s3://{output}"),
        "--json".to_owned(),
    ]);
    let result = s3_command(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    let status = result.status.code().unwrap_or(-1);
    let summary = serde_json::from_slice(&result.stdout).unwrap_or(Value::Null);
    ShardRun {
        status,
        summary,
        stderr,
    }
}

fn aggregate_s3(endpoint: &str, output: &str, work: &Path) -> (i32, Value, String) {
    let args: Vec<String> = [
        "aggregate",
        "--out",
        &format!("s3://{output}"),
        "--work-dir",
        work.to_str().unwrap(),
        "--endpoint-url",
        endpoint,
        "--path-style",
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let result = s3_command(&args).output().unwrap();
    (
        result.status.code().unwrap_or(-1),
        serde_json::from_slice(&result.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&result.stderr).into_owned(),
    )
}

/// Everything under `s3://bucket/prefix/`, downloaded into `dest`: what an analyst reading
/// the bucket sees.
fn download_output(endpoint: &str, bucket: &str, prefix: &str, dest: &Path) -> Vec<String> {
    let store = ooni_s3::S3Store::connect(ooni_s3::S3Options {
        bucket: bucket.into(),
        prefix: format!("{prefix}/"),
        endpoint_url: Some(endpoint.to_owned()),
        path_style: true,
        ..ooni_s3::S3Options::default()
    })
    .unwrap();
    let keys: Vec<String> = ooni_source::Store::list(&store, "")
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    for key in &keys {
        ooni_source::OutputStore::download(&store, key, &dest.join(key)).unwrap();
    }
    keys
}

#[test]
fn four_shards_sharing_no_disk_write_one_s3_output_equal_to_one_unsharded_run() {
    let (moto, _) = server();
    let expected = local_reference();
    // Public only so that the test can read it back unsigned; the shards sign their writes.
    Seeder::new(&moto.endpoint).public_bucket("ooni-shards-a");
    let output = "ooni-shards-a/night";
    let dir = tempfile::tempdir().unwrap();
    // Four processes at once, each with its own work directory (four pods, no shared disk).
    let children: Vec<_> = (0..4)
        .map(|i| {
            let (_, bucket) = server();
            let work = dir.path().join(format!("work-{i}"));
            let mut args = s3_shard_args(&moto.endpoint, bucket, &work, &format!("{i}/4"));
            args.extend([
                "--out".to_owned(),
                format!("s3://{output}"),
                "--json".to_owned(),
            ]);
            s3_command(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut read = 0;
    for child in children {
        let summary = completed_summary(child);
        assert_eq!(summary["out"], format!("s3://{output}"));
        read += summary["new_objects"].as_u64().unwrap();
    }
    assert!(read > 0);

    let (status, summary, stderr) = aggregate_s3(&moto.endpoint, output, &dir.path().join("merge"));
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(summary["shards"], 4);
    let bucket_copy = dir.path().join("bucket");
    let keys = download_output(&moto.endpoint, "ooni-shards-a", "night", &bucket_copy);
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("pending-") || k.ends_with("lease.json"))
    );
    assert_eq!(
        &all_rows(&bucket_copy),
        expected,
        "the bucket holds exactly the rows and aggregates of one unsharded run"
    );

    // A shard run again on a fresh machine reads nothing new; the fan-in again, nothing.
    let again = run_s3_shard(&moto.endpoint, output, &dir.path().join("fresh-2"), "2/4");
    assert!(again.status == 0 || again.status == 3, "{}", again.stderr);
    assert_eq!(again.summary["new_objects"], 0, "{}", again.stderr);
    let (status, summary, stderr) =
        aggregate_s3(&moto.endpoint, output, &dir.path().join("merge-elsewhere"));
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(summary["days_aggregated"].as_array().unwrap().len(), 0);
    let after = dir.path().join("bucket-after");
    download_output(&moto.endpoint, "ooni-shards-a", "night", &after);
    assert_eq!(&all_rows(&after), expected);
}

#[test]
fn s3_shards_killed_doubled_or_missing_never_change_the_output() {
    let (moto, bucket) = server();
    let expected = local_reference();
    Seeder::new(&moto.endpoint).public_bucket("ooni-shards-b");
    let output = "ooni-shards-b/night";
    let dir = tempfile::tempdir().unwrap();
    let work = |name: &str| dir.path().join(name);

    let first = run_s3_shard(&moto.endpoint, output, &work("w0"), "0/3");
    assert!(first.status == 0 || first.status == 3, "{}", first.stderr);
    let (status, _, stderr) = aggregate_s3(&moto.endpoint, output, &work("merge"));
    assert_eq!(status, 1);
    assert!(stderr.contains("shard 1/3 has not committed"), "{stderr}");
    assert!(stderr.contains("shard 2/3 has not committed"), "{stderr}");
    assert!(
        stderr.contains("s3://ooni-shards-b/night/_state/shards/3/2/manifest.json"),
        "{stderr}"
    );

    // Shard 1 killed after uploading a batch's files, before the manifest commits them;
    // meanwhile a second copy of the same index is refused.
    let flag = dir.path().join("paused");
    let args = s3_shard_args(&moto.endpoint, bucket, &work("w1-first"), "1/3");
    let target = Path::new("s3://ooni-shards-b/night");
    let mut child = start_paused_with(&args, target, "upload:1", &flag, &CREDENTIALS)
        .expect("exited before pausing");
    let twin = run_s3_shard(&moto.endpoint, output, &work("w1-twin"), "1/3");
    assert_eq!(twin.status, 1, "two copies of one shard never both commit");
    assert!(twin.stderr.contains("is locked by run"), "{}", twin.stderr);
    child.kill().unwrap();
    child.wait().unwrap();
    let left = download_output(&moto.endpoint, "ooni-shards-b", "night", &work("left"));
    assert!(left.iter().any(|k| k.contains("/pending-")), "{left:?}");

    // Rerun on another machine (an empty work directory): the orphans go, the rest is read.
    let rerun = run_s3_shard(&moto.endpoint, output, &work("w1-second"), "1/3");
    assert!(rerun.status == 0 || rerun.status == 3, "{}", rerun.stderr);
    assert!(
        rerun.stderr.contains("took over the stale lease"),
        "{}",
        rerun.stderr
    );
    assert!(
        rerun.stderr.contains("left uncommitted"),
        "{}",
        rerun.stderr
    );
    // The same shard once more: nothing changes.
    let twice = run_s3_shard(&moto.endpoint, output, &work("w1-third"), "1/3");
    assert_eq!(twice.summary["new_objects"], 0, "{}", twice.stderr);
    let last = run_s3_shard(&moto.endpoint, output, &work("w2"), "2/3");
    assert!(last.status == 0 || last.status == 3, "{}", last.stderr);

    let (status, _, stderr) = aggregate_s3(&moto.endpoint, output, &work("merge"));
    assert_eq!(status, 0, "{stderr}");
    let copy = work("bucket");
    let keys = download_output(&moto.endpoint, "ooni-shards-b", "night", &copy);
    assert!(!keys.iter().any(|k| k.contains("pending-")), "{keys:?}");
    assert_eq!(&all_rows(&copy), expected);
}
