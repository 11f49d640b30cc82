//! The promises of nightly operation, tried as a hostile user and a Kubernetes operator
//! would (issue 13): the pipeline touches only its own files, a lock left by a dead
//! container is taken over, SIGTERM stops a run cleanly, unreadable or damaged archives
//! lose nothing, corrupt data never becomes rows, rejects stay bounded and are committed
//! once, the manifest is checked against the disk, usage errors exit 2, and late uploads
//! arrive whatever the schedule.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::nightly::{put_jsonl, sample_measurement};
use crate::support::*;

/// The Azerbaijan scenario's flags, reading `source`.
pub fn az(source: &Path) -> Vec<String> {
    [
        "run",
        "--config",
        "pipelines/azerbaijan-2020.toml",
        "--source",
        source.to_str().unwrap(),
        "--jobs",
        "2",
    ]
    .map(String::from)
    .to_vec()
}

fn az_run(source: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args = az(source);
    args.extend(extra.iter().map(|s| s.to_string()));
    run_command(&args.iter().map(String::as_str).collect::<Vec<_>>(), out)
}

/// The reference output of the scenario, computed once per test process.
/// (Only the rows are kept: a static is never dropped, so a directory held in it would
/// outlive the process.)
fn az_reference() -> &'static BTreeMap<&'static str, Vec<Row>> {
    static REFERENCE: std::sync::OnceLock<BTreeMap<&'static str, Vec<Row>>> =
        std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = az_run(&sample_bucket(), &dir.path().join("out"), &[]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        let rows = all_rows(&run.out);
        assert!(rows["measurements"].len() > 100);
        rows
    })
}

fn assert_same_rows(out: &Path, context: &str) {
    let got = all_rows(out);
    for table in TABLES {
        assert_eq!(
            got[table].len(),
            az_reference()[table].len(),
            "{context}: {table} row count"
        );
        assert!(
            got[table] == az_reference()[table],
            "{context}: {table} differs from one clean run"
        );
    }
}

/// A copy of the sample bucket to damage.
fn bucket_copy(dir: &Path) -> PathBuf {
    let bucket = dir.join("bucket");
    copy_tree(&sample_bucket(), &bucket);
    bucket
}

// 1. The pipeline owns exactly its files.

#[test]
fn the_users_files_and_whatever_symlinks_point_at_survive_every_kind_of_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let outside = dir.path().join("precious");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("thesis.parquet"), b"not ours").unwrap();
    std::fs::write(outside.join("notes.txt"), b"not ours either").unwrap();
    let users: Vec<(&str, &[u8])> = vec![
        ("measurements/notes.txt", b"my notes"),
        ("failure_rates/README.md", b"# mine"),
        ("outcomes/keep.csv", b"a,b\n1,2\n"),
        ("measurements/mine/my_analysis.parquet", b"PAR1 not really"),
        ("rejects/triage.jsonl", b"{}\n"),
        ("_runs/my-notes.txt", b"x"),
    ];
    for (rel, bytes) in &users {
        let path = out.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    std::os::unix::fs::symlink(&outside, out.join("measurements/archive_link")).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("failure_rates/link")).unwrap();

    let check = |context: &str| {
        for (rel, bytes) in &users {
            assert_eq!(
                std::fs::read(out.join(rel)).unwrap_or_default(),
                *bytes,
                "{context}: {rel} was touched"
            );
        }
        assert_eq!(
            std::fs::read(outside.join("thesis.parquet")).unwrap(),
            b"not ours"
        );
        assert!(outside.join("notes.txt").exists(), "{context}");
        assert!(
            std::fs::symlink_metadata(out.join("measurements/archive_link"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    };
    let first = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(first.status, 0, "{}", first.stderr);
    check("a first run into a directory without a manifest");
    assert_same_rows(&out, "first run beside the user's files");

    // A run killed while committing, then the run that cleans up after it.
    let flag = dir.path().join("paused");
    let child = start_paused(&az(&sample_bucket()), &out, "commit:3", &flag);
    if let Some(mut child) = child {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let _ = std::fs::remove_file(&flag);
    let rerun = az_run(&sample_bucket(), &out, &["--full-refresh"]);
    assert_eq!(rerun.status, 0, "{}", rerun.stderr);
    check("--full-refresh");
    assert_same_rows(&out, "after --full-refresh");
    let again = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(again.summary["new_objects"], 0);
    check("a rerun");
}

#[test]
fn a_run_killed_mid_commit_is_cleaned_up_without_touching_look_alike_user_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let flag = dir.path().join("paused");
    let mut child = start_paused(&az(&sample_bucket()), &out, "commit:2", &flag)
        .expect("the scenario commits more than two files");
    child.kill().unwrap();
    child.wait().unwrap();
    // A user copies a file into a partition under a name of their own.
    let part = walk(&out.join("measurements"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .expect("the killed run moved a file into place");
    let mine = part.with_file_name("my-copy.parquet");
    std::fs::copy(&part, &mine).unwrap();
    let rerun = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(rerun.status, 0, "{}", rerun.stderr);
    assert!(rerun.summary["uncommitted_files_removed"].as_u64().unwrap() >= 2);
    assert!(mine.exists(), "the user's file is theirs");
    assert_same_rows(&out, "after cleaning up the killed run");
}

// 2. Locks in containers; SIGTERM.

fn write_lock(out: &Path, pid: u32, host: &str, expires_in: i64) {
    std::fs::create_dir_all(out.join("_state")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let lock = serde_json::json!({
        "pid": pid, "host": host, "run_id": "20201101T000000Z-dead", "started": "2020-11-01T00:00:00Z",
        "token": "t0", "expires_at": now + expires_in,
    });
    std::fs::write(out.join("_state/lock"), lock.to_string()).unwrap();
}

#[test]
fn a_lock_left_by_a_container_is_taken_over_once_its_lease_ends() {
    let dir = tempfile::tempdir().unwrap();
    // PID 1 on another host, lease ended: a pod evicted and rescheduled elsewhere.
    let out = dir.path().join("expired");
    write_lock(&out, 1, "ooni-nightly-28745-abcde", -5);
    let run = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("took over the stale lock"),
        "{}",
        run.stderr
    );
    assert!(!out.join("_state/lock").exists(), "released at the end");

    // Lease still running for a few seconds, on another host: watched, then taken over.
    let out = dir.path().join("running");
    write_lock(&out, 1, "ooni-nightly-28745-fghij", 3);
    let started = Instant::now();
    let run = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(run.stderr.contains("lease ended"), "{}", run.stderr);

    // An empty lock file (a crash while an old version wrote it) blocks nothing.
    let out = dir.path().join("empty");
    std::fs::create_dir_all(out.join("_state")).unwrap();
    std::fs::write(out.join("_state/lock"), b"").unwrap();
    let run = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
}

#[test]
fn a_live_run_on_this_host_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let flag = dir.path().join("paused");
    let mut child = start_paused(&az(&sample_bucket()), &out, "read:3", &flag).unwrap();
    let started = Instant::now();
    let second = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(second.status, 1, "{}", second.stderr);
    assert!(
        second.stderr.contains("is locked by run"),
        "{}",
        second.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sigterm_abandons_the_current_batch_releases_the_lock_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let flag = dir.path().join("paused");
    let mut args = az(&sample_bucket());
    args.extend(["--batch-mib", "1"].map(String::from));
    let child = start_paused(&args, &out, "read:60", &flag).unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(&flag).unwrap(); // let the paused worker go on
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(143));
    assert!(!out.join("_state/lock").exists(), "the lock is released");
    assert!(!out.join("_staging").exists());
    let summaries: Vec<Value> = walk(&out.join("_runs"))
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["interrupted"], "SIGTERM");
    assert!(summaries[0]["batches_committed"].as_u64().unwrap() >= 1);

    let rerun = az_run(&sample_bucket(), &out, &["--batch-mib", "1"]);
    assert_eq!(rerun.status, 0, "{}", rerun.stderr);
    assert_same_rows(&out, "after SIGTERM and a rerun");
}

// 4. Twins. 5. Corrupt members.

#[test]
fn a_damaged_postcan_is_replaced_by_its_intact_twin() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = bucket_copy(dir.path());
    let postcan = bucket.join("raw/20201109/17/AZ/whatsapp/2020110917_AZ_whatsapp.n0.0.tar.gz");
    let twin = "raw/20201109/17/AZ/whatsapp/2020110917_AZ_whatsapp.n0.0.jsonl.gz";
    let bytes = std::fs::read(&postcan).unwrap();
    for (case, damaged) in [
        ("empty", Vec::new()),
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
    ] {
        std::fs::write(&postcan, &damaged).unwrap();
        let out = dir.path().join(case);
        let run = az_run(&bucket, &out, &[]);
        assert_eq!(
            run.status, 3,
            "{case}: the damage is reported: {}",
            run.stderr
        );
        assert_balanced(&run.summary);
        assert_eq!(
            run.summary["twins_fallback"][0]["read_instead"], twin,
            "{case}: {}",
            run.summary["twins_fallback"]
        );
        let got = all_rows(&out);
        let ids = |rows: &[Row]| -> std::collections::BTreeSet<String> {
            rows.iter()
                .map(|r| get(r, "content_id").unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            ids(&got["measurements"]),
            ids(&az_reference()["measurements"]),
            "{case}: no measurement is lost"
        );
        for table in ["failure_rates", "ooni_counts"] {
            assert_eq!(got[table], az_reference()[table], "{case}: {table}");
        }
    }
}

/// One gzip member of `lines`, with its CRC32 trailer inverted when `corrupt`.
fn gzip_member(lines: &[&str], corrupt: bool) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for line in lines {
        gz.write_all(line.as_bytes()).unwrap();
        gz.write_all(b"\n").unwrap();
    }
    let mut bytes = gz.finish().unwrap();
    if corrupt {
        let crc = bytes.len() - 8;
        bytes[crc] ^= 0xff;
    }
    bytes
}

#[test]
fn rows_of_a_member_that_fails_its_crc_go_to_rejects_not_to_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = bucket_copy(dir.path());
    let key = "jsonl/telegram/AZ/20200925/00/20200925_AZ_telegram.l.0.jsonl.gz";
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(bucket.join(key)).unwrap()),
        &mut text,
    )
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10);
    // A flipped byte, as seen in the wild: AZ read as AY. The second member's CRC fails.
    let flipped: Vec<String> = lines[5..]
        .iter()
        .map(|l| l.replacen("\"probe_cc\":\"AZ\"", "\"probe_cc\":\"AY\"", 1))
        .collect();
    let flipped: Vec<&str> = flipped.iter().map(String::as_str).collect();
    let mut bytes = gzip_member(&lines[..5], false);
    bytes.extend(gzip_member(&flipped, true));
    std::fs::write(bucket.join(key), bytes).unwrap();

    let run = az_run(&bucket, &dir.path().join("out"), &[]);
    assert_eq!(run.status, 3, "{}", run.stderr);
    assert_balanced(&run.summary);
    assert_eq!(run.summary["counts"]["rejected"]["corrupt_member"], 5);
    let rows = read_table(&run.out.join("measurements"));
    let from_key: Vec<&Row> = rows
        .iter()
        .filter(|r| get(r, "source_key") == Some(key))
        .collect();
    let lines_written: std::collections::BTreeSet<u64> = from_key
        .iter()
        .map(|r| get(r, "source_line").unwrap().parse().unwrap())
        .collect();
    assert!(
        lines_written.iter().all(|l| *l <= 5),
        "only the intact member's lines are rows: {lines_written:?}"
    );
    assert!(rows.iter().all(|r| get(r, "probe_cc") != Some("AY")));
    let rejected: Vec<u64> = rejects(&run)
        .iter()
        .filter(|r| r["reason"] == "corrupt_member")
        .map(|r| r["source_line"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, [6, 7, 8, 9, 10]);
}

// 6. Bounded rejects.

#[test]
fn fifteen_thousand_garbage_lines_are_counted_but_stored_within_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let garbage = "x".repeat(64 * 1024);
    let mut lines = vec![sample_measurement("2020-10-21").to_string()];
    lines.extend(std::iter::repeat_n(garbage, 15_000));
    put_jsonl(
        &bucket,
        "raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.jsonl.gz",
        &lines,
    );
    let out = dir.path().join("out");
    let run = run_command(
        &[
            "run",
            "--source",
            bucket.to_str().unwrap(),
            "--since",
            "2020-10-21",
            "--until",
            "2020-10-22",
            "--batch-mib",
            "1",
        ],
        &out,
    );
    assert_eq!(run.status, 3, "{}", run.stderr);
    assert_balanced(&run.summary);
    assert_eq!(run.summary["conservation"]["rejected"], 15_000);
    let stored = rejects(&run);
    let not_stored = run.summary["rejects_not_stored"].as_u64().unwrap();
    assert_eq!(
        stored
            .iter()
            .filter(|r| r["reason"] == "invalid_json")
            .count() as u64
            + not_stored,
        15_000
    );
    let bytes: u64 = walk(&out.join("rejects"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(bytes < 12 * 1024 * 1024, "rejects file of {bytes} bytes");
    assert!(
        stored.iter().any(|r| r["reason"] == "not_stored"),
        "the file says what it left out"
    );
    // Memory is measured by the benchmarks; this only guards against keeping every reject
    // (1.06 GB before).
    let rss = run.summary["peak_rss_bytes"].as_u64().unwrap();
    assert!(rss < 600 * 1024 * 1024, "peak RSS {rss}");
}

// 7. The manifest against the disk. 8. Rejects in the commit.

#[test]
fn a_manifest_that_disagrees_with_the_disk_is_refused_or_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_eq!(az_run(&sample_bucket(), &out, &[]).status, 0);
    let manifest_path = out.join("_state/manifest.json");
    let original: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let files_before = parquet_files(&out).len();

    // "files": [] — nothing is deleted; the error names a file and the fix.
    let mut emptied = original.clone();
    emptied["files"] = serde_json::json!([]);
    std::fs::write(&manifest_path, emptied.to_string()).unwrap();
    let run = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr.contains("does not list it") && run.stderr.contains("--full-refresh"),
        "{}",
        run.stderr
    );
    assert_eq!(parquet_files(&out).len(), files_before, "nothing deleted");

    // A version this binary does not know.
    let mut future = original.clone();
    future["version"] = 9.into();
    std::fs::write(&manifest_path, future.to_string()).unwrap();
    let run = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("version 9"), "{}", run.stderr);

    // A committed file the user deleted: its batch is read again.
    std::fs::write(&manifest_path, original.to_string()).unwrap();
    let victim = parquet_files(&out.join("observations"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains("whatsapp"))
        .unwrap();
    std::fs::remove_file(&victim).unwrap();
    let run = az_run(&sample_bucket(), &out, &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        run.summary["missing_files_repaired"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_same_rows(&out, "after repairing a deleted file");
}

#[test]
fn a_kill_during_commit_never_duplicates_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = bucket_copy(dir.path());
    let mut lines = vec![sample_measurement("2020-10-21").to_string()];
    lines.push("{not json".into());
    lines.push("[1,2,3]".into());
    put_jsonl(
        &bucket,
        "raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n7.0.jsonl.gz",
        &lines,
    );
    let reference = az_run(&bucket, &dir.path().join("reference"), &[]);
    let expected = all_rejects(&reference.out).len();
    assert!(expected >= 2);
    for point in ["commit:1", "commit:4", "aggregate:2"] {
        let out = dir.path().join(point.replace(':', "-"));
        let flag = dir
            .path()
            .join(format!("{}.paused", point.replace(':', "-")));
        if let Some(mut child) = start_paused(&az(&bucket), &out, point, &flag) {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let rerun = az_run(&bucket, &out, &[]);
        // 3 when the rerun itself read the bad lines; 0 when the killed run had committed them.
        assert!(
            rerun.status == 3 || rerun.status == 0,
            "{point}: {}",
            rerun.stderr
        );
        let mut found: Vec<String> = all_rejects(&out)
            .iter()
            .map(|r| format!("{}:{}:{}", r["source_key"], r["source_line"], r["reason"]))
            .collect();
        found.sort();
        let before = found.len();
        found.dedup();
        assert_eq!(before, found.len(), "{point}: a reject stored twice");
        assert_eq!(found.len(), expected, "{point}");
        assert_eq!(all_rows(&out), all_rows(&reference.out), "{point}");
    }
}

// 9. Usage errors.

#[test]
fn every_usage_error_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "since = [unclosed\n").unwrap();
    let unknown_key = dir.path().join("unknown.toml");
    std::fs::write(&unknown_key, "sinse = \"2020-01-01\"\n").unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["run", "--since", "2020-10-02", "--until", "2020-10-01"],
        vec!["run", "--since", "2020-13-01"],
        vec!["run", "--config", bad_toml.to_str().unwrap()],
        vec!["run", "--config", unknown_key.to_str().unwrap()],
        vec!["run", "--probe-cc", "../x"],
        vec!["run", "--test-name", "a/b"],
        vec!["run", "--source", "/nonexistent/bucket"],
        vec!["run", "--out", "ftp://host/x"],
        vec!["run", "--no-such-flag"],
        vec!["list", "--since", "yesterday"],
    ];
    for args in cases {
        let output = pipeline(&[&args[..], &["--out", out]].concat());
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(!Path::new(out).exists(), "a usage error writes nothing");
}

#[test]
fn list_into_a_closed_pipe_exits_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ooni-pipeline"))
        .args([
            "list",
            "--source",
            "examples/bucket",
            "--since",
            "2020-09-01",
            "--until",
            "2020-12-01",
        ])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head` that has read enough
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// 11. The source: symlinks are counted, never followed.

#[test]
fn symlinks_in_the_source_are_counted_and_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let elsewhere = dir.path().join("elsewhere");
    let lines = vec![sample_measurement("2020-10-21").to_string()];
    put_jsonl(
        &elsewhere,
        "raw/20201022/10/AZ/whatsapp/2020102210_AZ_whatsapp.n0.0.jsonl.gz",
        &lines,
    );
    put_jsonl(
        &bucket,
        "raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.jsonl.gz",
        &lines,
    );
    // A symlinked archive, a symlinked hour directory and a symlinked day directory.
    let hour = bucket.join("raw/20201021/11/AZ/whatsapp");
    std::fs::create_dir_all(&hour).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.join("raw/20201022/10/AZ/whatsapp/2020102210_AZ_whatsapp.n0.0.jsonl.gz"),
        hour.join("2020102111_AZ_whatsapp.n0.0.jsonl.gz"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        elsewhere.join("raw/20201022/10"),
        bucket.join("raw/20201021/12"),
    )
    .unwrap();
    std::os::unix::fs::symlink(elsewhere.join("raw/20201022"), bucket.join("raw/20201022"))
        .unwrap();
    let run = run_command(
        &[
            "run",
            "--source",
            bucket.to_str().unwrap(),
            "--since",
            "2020-10-21",
            "--until",
            "2020-10-23",
        ],
        &dir.path().join("out"),
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.summary["archives_listed"], 1);
    assert_eq!(run.summary["symlinks_ignored"], 3, "{}", run.summary);
}

// 10. Late uploads over a schedule of nightly runs.

/// A measurement of `day` (YYYY-MM-DD), number `n`, as a JSON line.
fn measurement_line(day: &str, n: usize) -> String {
    let mut m = sample_measurement("2020-10-21");
    let compact = day.replace('-', "");
    m["report_id"] = format!("{compact}T100000Z_AS28787_nightly{n:04}").into();
    m["measurement_start_time"] = format!("{day} 10:{:02}:00", n % 60).into();
    m["measurement_uid"] = Value::Null;
    m.to_string()
}

/// The day `offset` days after 2021-03-01.
fn day(offset: i64) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2021, 3, 1).unwrap() + chrono::Days::new(offset as u64)
}

/// The archives of a schedule: per upload day, the lines uploaded that day. Measurement
/// `n` of day `d` is uploaded `delays[n % delays.len()]` days late (0..=3).
fn schedule_archives(days: i64, per_day: usize, delays: &[i64]) -> BTreeMap<i64, Vec<String>> {
    let mut uploads: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for d in 0..days {
        for n in 0..per_day {
            let delay = delays[(d as usize * per_day + n) % delays.len()];
            uploads.entry(d + delay).or_default().push(measurement_line(
                &day(d).to_string(),
                d as usize * per_day + n,
            ));
        }
    }
    uploads
}

fn put_upload_day(bucket: &Path, upload: i64, lines: &[String]) {
    let compact = day(upload).format("%Y%m%d").to_string();
    put_jsonl(
        bucket,
        &format!("raw/{compact}/10/AZ/whatsapp/{compact}10_AZ_whatsapp.n0.0.jsonl.gz"),
        lines,
    );
}

/// One clean run over the whole period with every upload present.
fn whole_period_run(uploads: &BTreeMap<i64, Vec<String>>, days: i64, dir: &Path) -> PathBuf {
    let bucket = dir.join("whole-bucket");
    for (upload, lines) in uploads {
        put_upload_day(&bucket, *upload, lines);
    }
    let out = dir.join("whole");
    let run = run_command(
        &[
            "run",
            "--source",
            bucket.to_str().unwrap(),
            "--since",
            &day(0).to_string(),
            "--until",
            &day(days).to_string(),
            "--late-upload-days",
            "3",
        ],
        &out,
    );
    assert!(run.status == 0 || run.status == 3, "{}", run.stderr);
    out
}

/// Runs night `night` (covering the day before it) over `bucket`; `kill` pauses it at a
/// point and SIGKILLs it, then reruns the same night.
fn nightly_run(bucket: &Path, out: &Path, night: i64, kill: Option<&str>, flag: &Path) {
    let args: Vec<String> = [
        "run",
        "--source",
        bucket.to_str().unwrap(),
        "--since",
        &day(night - 1).to_string(),
        "--until",
        &day(night).to_string(),
        "--late-upload-days",
        "3",
        "--batch-mib",
        "1",
    ]
    .map(String::from)
    .to_vec();
    if let Some(point) = kill {
        if let Some(mut child) = start_paused(&args, out, point, flag) {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let _ = std::fs::remove_file(flag);
    }
    let run = run_command(&args.iter().map(String::as_str).collect::<Vec<_>>(), out);
    assert!(
        run.status == 0 || run.status == 3,
        "night {night}: {}",
        run.stderr
    );
    assert_balanced(&run.summary);
}

/// Every night's archives are those uploaded before it; returns the nightly output.
fn nightly_schedule(
    uploads: &BTreeMap<i64, Vec<String>>,
    nights: i64,
    kills: &BTreeMap<i64, String>,
    dir: &Path,
) -> PathBuf {
    let bucket = dir.join("nightly-bucket");
    std::fs::create_dir_all(&bucket).unwrap();
    let out = dir.join("nightly");
    for night in 1..=nights {
        for (upload, lines) in uploads.range(night - 1..night) {
            put_upload_day(&bucket, *upload, lines);
        }
        nightly_run(
            &bucket,
            &out,
            night,
            kills.get(&night).map(String::as_str),
            &dir.join("flag"),
        );
    }
    out
}

#[test]
fn ten_nights_with_uploads_up_to_three_days_late_equal_one_run_over_the_period() {
    let dir = tempfile::tempdir().unwrap();
    let uploads = schedule_archives(10, 3, &[0, 1, 3, 2, 0, 3]);
    assert!(uploads.keys().max().unwrap() >= &12);
    let whole = whole_period_run(&uploads, 10, dir.path());
    let nightly = nightly_schedule(&uploads, 14, &BTreeMap::new(), dir.path());
    let expected = all_rows(&whole);
    assert_eq!(expected["measurements"].len(), 30);
    assert_eq!(all_rows(&nightly), expected);
}

mod schedules {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

        /// Random upload delays, SIGKILLs at random points of random nights, reruns: the
        /// end is always one clean run's rows and aggregates, with no duplicate anywhere,
        /// rejects included.
        #[test]
        fn any_schedule_of_nights_kills_and_reruns_ends_as_one_clean_run(
            delays in proptest::collection::vec(0i64..=3, 1..6),
            kills in proptest::collection::btree_map(
                1i64..=10,
                (prop_oneof!["read", "write", "commit", "aggregate"], 1u32..4),
                0..4,
            ),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut uploads = schedule_archives(7, 2, &delays);
            // A broken line in one upload: its reject must be stored exactly once.
            uploads.entry(2).or_default().push("{broken".into());
            let kills: BTreeMap<i64, String> = kills
                .into_iter()
                .map(|(night, (phase, n))| (night, format!("{phase}:{n}")))
                .collect();
            let whole = whole_period_run(&uploads, 7, dir.path());
            let nightly = nightly_schedule(&uploads, 10, &kills, dir.path());
            prop_assert_eq!(all_rows(&nightly), all_rows(&whole));
            let keys = |out: &Path| {
                let mut keys: Vec<String> = all_rejects(out)
                    .iter()
                    .map(|r| format!("{}:{}", r["source_key"], r["source_line"]))
                    .collect();
                keys.sort();
                keys
            };
            let found = keys(&nightly);
            let mut unique = found.clone();
            unique.dedup();
            prop_assert_eq!(&found, &unique, "a reject stored twice");
            prop_assert_eq!(found, keys(&whole));
            for table in TABLES {
                let rows = all_rows(&nightly)[table].clone();
                let mut distinct = rows.clone();
                distinct.dedup();
                prop_assert_eq!(rows.len(), distinct.len(), "duplicate rows in {}", table);
            }
        }
    }
}
