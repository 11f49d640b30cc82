//! Running the binary and reading what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn sample_bucket() -> PathBuf {
    repo().join("examples/bucket")
}

/// The sample's manifest, written by examples/make_sample.py independently of this code.
pub fn manifest() -> &'static Value {
    static MANIFEST: OnceLock<Value> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let text = std::fs::read_to_string(repo().join("examples/sample-manifest.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

/// Runs `ooni-pipeline` with `args`, from the repository root.
pub fn pipeline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ooni-pipeline"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

/// A finished run: its output directory and parsed `--json` summary.
pub struct Run {
    pub out: PathBuf,
    pub summary: Value,
    pub status: i32,
    pub stderr: String,
    _dir: Option<tempfile::TempDir>,
}

/// Runs over `source` for the sample's whole time span into a fresh directory.
pub fn run_sample(source: &Path, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut run = run_into(source, &out, extra);
    run._dir = Some(dir);
    run
}

/// Runs over `source` into `out` (which may hold an earlier run).
pub fn run_into(source: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "run",
        "--source",
        source.to_str().unwrap(),
        "--since",
        "2014-01-01",
        "--until",
        "2026-01-01",
    ];
    args.extend_from_slice(extra);
    run_command(&args, out)
}

/// Runs `ooni-pipeline <args> --out <out> --json` (flags given later win, so `args` may
/// override the days), without the caller's AWS endpoint settings.
pub fn run_command(args: &[&str], out: &Path) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_ooni-pipeline"))
        .args(args)
        .args(["--out", out.to_str().unwrap(), "--json"])
        .current_dir(repo())
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let status = output.status.code().unwrap_or(-1);
    // A run that failed (1) or was refused (2) prints no summary: the caller checks status.
    let summary: Value = match serde_json::from_slice(&output.stdout) {
        Ok(summary) => summary,
        Err(_) if status == 1 || status == 2 => Value::Null,
        Err(e) => panic!("no JSON summary ({e}); stderr:\n{stderr}"),
    };
    Run {
        out: out.to_owned(),
        summary,
        status,
        stderr,
        _dir: None,
    }
}

/// Every Parquet file under `dir`, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether a Parquet file's name is one the pipeline generates (`part-…` or `<day>`), as
/// opposed to a user's own file kept in the output directory.
pub fn is_pipeline_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.starts_with("part-")
        || name == "blocking_events.parquet"
        || (name.len() == "2020-10-20.parquet".len()
            && name.as_bytes()[4] == b'-'
            && name.ends_with(".parquet"))
}

/// A row: column → value as text (null → `None`).
pub type Row = BTreeMap<String, Option<String>>;

/// All rows of a table as JSON-like maps (column → value as string), with the hive
/// partition values added as columns.
pub fn read_table(dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for file in parquet_files(dir)
        .into_iter()
        .filter(|f| is_pipeline_file(f))
    {
        let mut partitions = BTreeMap::new();
        for part in file.strip_prefix(dir).unwrap().iter() {
            if let Some((k, v)) = part.to_str().unwrap().split_once('=') {
                partitions.insert(k.to_owned(), Some(v.to_owned()));
            }
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            for i in 0..batch.num_rows() {
                let mut row = partitions.clone();
                row.extend(row_values(&batch, i));
                rows.push(row);
            }
        }
    }
    rows
}

fn row_values(batch: &RecordBatch, i: usize) -> BTreeMap<String, Option<String>> {
    let schema = batch.schema();
    let options = arrow::util::display::FormatOptions::default();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let value = if column.is_null(i) {
                None
            } else if let Some(s) = column.as_string_opt::<i32>() {
                Some(s.value(i).to_owned())
            } else if let Some(ts) =
                column.as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
            {
                // Microseconds since the epoch (UTC): arrow's display needs chrono-tz for "UTC".
                Some(ts.value(i).to_string())
            } else {
                let formatter =
                    arrow::util::display::ArrayFormatter::try_new(column.as_ref(), &options)
                        .unwrap();
                Some(formatter.value(i).to_string())
            };
            (field.name().clone(), value)
        })
        .collect()
}

/// `row[col]` as &str.
pub fn get<'a>(row: &'a Row, col: &str) -> Option<&'a str> {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col}"))
        .as_deref()
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &dest).unwrap();
    }
}

/// Every file below `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            // Symbolic links are listed, never followed.
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// Reads the rejects files of a run (one JSON object per line).
pub fn rejects(run: &Run) -> Vec<Value> {
    rejects_of(&run.summary)
}

/// Reads the rejects files a run summary names.
pub fn rejects_of(summary: &Value) -> Vec<Value> {
    summary["rejects_files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path.as_str().unwrap())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Every reject line of every committed rejects file under `out`.
pub fn all_rejects(out: &Path) -> Vec<Value> {
    let dir = out.join("rejects");
    if !dir.is_dir() {
        return Vec::new();
    }
    walk(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Checks `records_read = written + duplicates + skipped + rejected` from the summary's own
/// parts (not just its `holds` flag).
pub fn assert_balanced(summary: &Value) {
    let c = &summary["conservation"];
    let n = |k: &str| c[k].as_u64().unwrap();
    let skipped: u64 = summary["counts"]["skipped"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let rejected: u64 = summary["counts"]["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(n("skipped"), skipped);
    assert_eq!(n("rejected"), rejected);
    assert_eq!(
        n("records_read"),
        n("measurements_written") + n("duplicates") + skipped + rejected,
        "{c}"
    );
    assert_eq!(c["holds"], Value::Bool(true));
}

/// The output tables.
pub const TABLES: [&str; 6] = [
    "measurements",
    "observations",
    "outcomes",
    "failure_rates",
    "ooni_counts",
    "blocking_events",
];

/// Waits for a run started with `--json` and piped output: it must complete (0, or 3 with
/// records quarantined) with a balanced summary, which is returned.
pub fn completed_summary(child: std::process::Child) -> Value {
    let output = child.wait_with_output().unwrap();
    let code = output.status.code();
    assert!(
        code == Some(0) || code == Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_balanced(&summary);
    summary
}

/// Every row of every table, sorted, so two outputs can be compared regardless of file names.
pub fn all_rows(out: &Path) -> BTreeMap<&'static str, Vec<Row>> {
    TABLES
        .iter()
        .map(|t| {
            let mut rows = read_table(&out.join(t));
            rows.sort();
            (*t, rows)
        })
        .collect()
}

/// Starts a run that pauses at `point` (`phase:n`); returns the child and its pause file
/// once it paused, or `None` if it finished before reaching that point.
pub fn start_paused(
    args: &[String],
    out: &Path,
    point: &str,
    flag: &Path,
) -> Option<std::process::Child> {
    start_paused_with(args, out, point, flag, &[])
}

/// [`start_paused`] with extra environment variables (credentials for the local S3 server).
pub fn start_paused_with(
    args: &[String],
    out: &Path,
    point: &str,
    flag: &Path,
    envs: &[(&str, &str)],
) -> Option<std::process::Child> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ooni-pipeline-paused"))
        .args(args)
        .args(["--out", out.to_str().unwrap()])
        .envs(envs.iter().copied())
        .current_dir(repo())
        .env("OONI_PIPELINE_PAUSE_AT", point)
        .env("OONI_PIPELINE_PAUSE_FILE", flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !flag.exists() {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{point}: never paused"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child)
}

/// Runs the synthetic Azerbaijan-2020 scenario (`pipelines/azerbaijan-2020.toml`) into
/// `out`; it must complete cleanly.
pub fn run_azerbaijan(out: &Path) -> Run {
    let run = run_command(&["run", "--config", "pipelines/azerbaijan-2020.toml"], out);
    assert_eq!(run.status, 0, "{}", run.stderr);
    run
}
