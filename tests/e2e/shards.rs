//! Sharded runs (`run --shard I/N`) and the fan-in (`aggregate`) on a local output
//! directory: four concurrent shards and a fan-in give exactly one unsharded run's tables.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

fn shard_args(shard: &str) -> Vec<String> {
    [
        "run",
        "--source",
        sample_bucket().to_str().unwrap(),
        "--since",
        "2014-01-01",
        "--until",
        "2026-01-01",
        "--jobs",
        "1",
        "--shard",
        shard,
    ]
    .map(String::from)
    .to_vec()
}

fn run_shard(out: &Path, shard: &str) -> Run {
    let args = shard_args(shard);
    run_command(&args.iter().map(String::as_str).collect::<Vec<_>>(), out)
}

fn aggregate(out: &Path) -> (i32, serde_json::Value, String) {
    let output = pipeline(&["aggregate", "--out", out.to_str().unwrap(), "--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code().unwrap_or(-1), summary, stderr)
}

#[test]
fn four_concurrent_shards_and_the_fan_in_equal_one_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = run_into(&sample_bucket(), &dir.path().join("whole"), &[]);
    let expected = all_rows(&whole.out);

    let out = dir.path().join("sharded");
    // Four processes at once, as four pods of an Indexed Job would (the index from
    // Kubernetes' variable for one of them).
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_ooni-pipeline"));
            if i == 3 {
                command
                    .args(shard_args("4"))
                    .env("JOB_COMPLETION_INDEX", "3");
            } else {
                command.args(shard_args(&format!("{i}/4")));
            }
            command
                .args(["--out", out.to_str().unwrap(), "--json"])
                .current_dir(repo())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut read = 0;
    for child in children {
        let summary = completed_summary(child);
        assert!(summary["shard_plan"]["units_mine"].as_u64().unwrap() > 0);
        read += summary["new_objects"].as_u64().unwrap();
    }
    assert_eq!(
        read,
        whole.summary["new_objects"].as_u64().unwrap(),
        "each object read by one shard"
    );
    assert!(
        !out.join("failure_rates").exists(),
        "shards leave the aggregates to the fan-in"
    );

    let (status, summary, stderr) = aggregate(&out);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(summary["shards"], 4);
    assert_eq!(
        all_rows(&out),
        expected,
        "the same rows and aggregates as one run"
    );

    // Rerunning the fan-in, or a shard, changes nothing.
    let (status, summary, _) = aggregate(&out);
    assert_eq!(status, 0);
    assert_eq!(summary["days_aggregated"].as_array().unwrap().len(), 0);
    let again = run_shard(&out, "2/4");
    assert_eq!(again.summary["new_objects"], 0, "{}", again.stderr);
    assert_eq!(all_rows(&out), expected);
}

#[test]
fn a_killed_shard_rerun_with_its_index_changes_nothing_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let whole = run_into(&sample_bucket(), &dir.path().join("whole"), &[]);
    let expected = all_rows(&whole.out);
    let out = dir.path().join("sharded");

    // Shard 0 ran; shards 1 and 2 not yet: the fan-in refuses and names them.
    let first = run_shard(&out, "0/3");
    assert!(first.status == 0 || first.status == 3, "{}", first.stderr);
    let (status, _, stderr) = aggregate(&out);
    assert_eq!(status, 1);
    assert!(stderr.contains("shard 1/3 has not committed"), "{stderr}");
    assert!(stderr.contains("shard 2/3 has not committed"), "{stderr}");

    // Shard 1 killed mid-commit, then the same index again while a copy still holds it.
    let flag = dir.path().join("paused");
    let mut child =
        start_paused(&shard_args("1/3"), &out, "commit:2", &flag).expect("exited before pausing");
    let twin = run_shard(&out, "1/3");
    assert_eq!(twin.status, 1, "two copies of one shard never both commit");
    assert!(twin.stderr.contains("is locked by run"), "{}", twin.stderr);
    let (status, _, stderr) = aggregate(&out);
    assert_eq!(status, 1, "shard 1's run has not finished: {stderr}");
    assert!(stderr.contains("shard 1/3"), "{stderr}");
    child.kill().unwrap();
    child.wait().unwrap();

    for shard in ["1/3", "2/3"] {
        let run = run_shard(&out, shard);
        assert!(run.status == 0 || run.status == 3, "{}", run.stderr);
    }
    let (status, _, stderr) = aggregate(&out);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(all_rows(&out), expected);
}

#[test]
fn list_shows_the_shard_plan_before_anything_is_read() {
    let output = pipeline(&[
        "list",
        "--source",
        "examples/bucket",
        "--since",
        "2020-09-01",
        "--until",
        "2020-12-01",
        "--shard",
        "1/3",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for index in 0..3 {
        assert!(stdout.contains(&format!("shard {index}/3: ")), "{stdout}");
    }
    assert!(stdout.contains("(this one)"));
}

#[test]
fn an_unsharded_run_and_shards_never_share_an_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let shard = run_command(
        &[
            "run",
            "--config",
            "pipelines/azerbaijan-2020.toml",
            "--shard",
            "0/2",
        ],
        &out,
    );
    assert!(shard.status == 0 || shard.status == 3, "{}", shard.stderr);
    let whole = run_command(&["run", "--config", "pipelines/azerbaijan-2020.toml"], &out);
    assert_eq!(whole.status, 1);
    assert!(whole.stderr.contains("sharded run"), "{}", whole.stderr);
}
