//! Command-line flags and `pipelines/*.toml` files, resolved into one [`Config`]: the
//! source and S3 access this command needs, and the library's [`RunPlan`].
//!
//! Every flag can come from the TOML file; flags given on the command line win.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::Args;
use ooni_source::{Limits, Selection, compact_test_name, parse_day};

use ooni_run::{RunPlan, Shard};
use serde::Deserialize;

/// The default source: OONI's public bucket (eu-central-1, read without signing).
pub const DEFAULT_SOURCE: &str = "s3://ooni-data-eu-fra";
/// Upload days read after `--until` by default, so late uploads are counted.
pub const DEFAULT_LATE_UPLOAD_DAYS: u32 = 3;

/// Flags of `ooni-pipeline run` (and `list`).
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// A TOML file with any of the flags below (e.g. pipelines/sample.toml); flags on the
    /// command line win over the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where to read: s3://ooni-data-eu-fra (default), s3://BUCKET/PREFIX, or a local
    /// directory holding the same key layout (raw/…, jsonl/…).
    #[arg(long, value_name = "URL|DIR")]
    pub source: Option<String>,

    /// First measurement day, UTC, inclusive (default: yesterday).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<String>,

    /// Last measurement day, UTC, exclusive as in OONI's API (default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<String>,

    /// Upload days read after --until, so that measurements uploaded late are counted
    /// [default: 3].
    #[arg(long, value_name = "DAYS")]
    pub late_upload_days: Option<u32>,

    /// Countries to keep, comma-separated (default: all).
    #[arg(long, value_name = "CC,CC", value_delimiter = ',')]
    pub probe_cc: Vec<String>,

    /// Tests to keep, comma-separated, with or without underscores (default: all).
    #[arg(long, value_name = "NAME,NAME", value_delimiter = ',')]
    pub test_name: Vec<String>,

    /// Output directory [default: ./ooni-out], or s3://BUCKET/PREFIX: the output and its
    /// state then live in the bucket (each commit a conditional write, so shards on
    /// machines that share no disk can write one output), built in --work-dir.
    #[arg(long, value_name = "DIR|URL")]
    pub out: Option<String>,

    /// Local cache of an s3:// output, where files are built before they are uploaded
    /// [default: ./ooni-out-work]. It may be empty or lost: the bucket holds the state.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// S3 endpoint for S3-compatible stores (also AWS_ENDPOINT_URL); default: AWS.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// AWS region of the source bucket [default: eu-central-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// AWS region of an s3:// --out bucket [default: --region].
    #[arg(long, value_name = "REGION")]
    pub output_region: Option<String>,

    /// Path-style S3 addressing (http://host/bucket/key), for S3-compatible stores.
    #[arg(long)]
    pub path_style: bool,

    /// Sign source requests with the standard AWS credentials (environment or profile);
    /// by default OONI's public bucket is read anonymously. Writes to an s3:// --out are
    /// always signed.
    #[arg(long)]
    pub signed: bool,

    /// Worker threads of the run: decoding, normalizing, deduplicating and writing Parquet
    /// [default: number of CPUs]. The aggregation's polars threads follow POLARS_MAX_THREADS.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Largest line or .post member accepted, in MiB; larger ones are quarantined in
    /// rejects/ [default: 16].
    #[arg(long, value_name = "MIB")]
    pub max_record_mib: Option<usize>,

    /// Largest object read, in MiB after decompression; the rest of a larger one is
    /// quarantined [default: 4096].
    #[arg(long, value_name = "MIB")]
    pub max_object_mib: Option<usize>,

    /// Stored MiB of archives read before their rows are written out: bounds the memory a
    /// run needs, whatever its length (0.63–0.77 GB peak at the default with 2 jobs on 7:1
    /// data, from one day of 205 MB to four days of 800 MB; each batch adds one file per
    /// partition) [default: 64].
    #[arg(long, value_name = "MIB")]
    pub batch_mib: Option<u64>,

    /// Also read OONI's legacy cans (canned/YYYY-MM-DD/*.tar.lz4, *.json.lz4) for upload
    /// days up to 2020-10-21, to fill gaps of jsonl/. Cans mix countries, so every can of a
    /// day is read and filtered per measurement; they repeat jsonl/, and duplicates are
    /// dropped. Cans before 2020-06-02 are in s3://ooni-data, not ooni-data-eu-fra.
    #[arg(long)]
    pub cans: bool,

    /// Forget what the output directory holds and rebuild it from the source.
    #[arg(long)]
    pub full_refresh: bool,

    /// Run shard I of N (from 0): the listing is split into N parts of about equal bytes,
    /// one per (country, test), and this run reads only part I; `ooni-pipeline aggregate`
    /// then builds the aggregates over all shards. `--shard N` takes I from
    /// JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) or AWS_BATCH_JOB_ARRAY_INDEX.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
}

/// The same settings as they appear in a `pipelines/*.toml` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    source: Option<String>,
    since: Option<String>,
    until: Option<String>,
    late_upload_days: Option<u32>,
    #[serde(default)]
    probe_cc: Vec<String>,
    #[serde(default)]
    test_name: Vec<String>,
    out: Option<String>,
    work_dir: Option<PathBuf>,
    endpoint_url: Option<String>,
    region: Option<String>,
    output_region: Option<String>,
    #[serde(default)]
    path_style: bool,
    #[serde(default)]
    signed: bool,
    jobs: Option<usize>,
    max_record_mib: Option<usize>,
    max_object_mib: Option<usize>,
    batch_mib: Option<u64>,
    #[serde(default)]
    cans: bool,
    shard: Option<String>,
}

/// Where archives are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A local directory with OONI's key layout.
    Local(PathBuf),
    /// An S3 bucket and key prefix.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket ("" for the root).
        prefix: String,
    },
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Local(p) => write!(f, "{}", p.display()),
            SourceSpec::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// How to reach S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Access {
    /// Region of the source bucket.
    pub region: String,
    /// Region of an s3:// output bucket.
    pub output_region: String,
    /// Endpoint for S3-compatible stores.
    pub endpoint_url: Option<String>,
    /// Path-style addressing.
    pub path_style: bool,
    /// Sign source requests.
    pub signed: bool,
}

/// A `run` or `list` command, fully resolved: where to read, how to reach S3, and the run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to read.
    pub source: SourceSpec,
    /// How to reach S3 (source and s3:// output).
    pub s3: S3Access,
    /// The bucket and prefix that hold the output, when --out is s3://.
    pub output: Option<(String, String)>,
    /// The run itself.
    pub run: RunPlan,
}

/// A mistake in the flags or the config file: exit status 2, so schedulers do not retry it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UsageError(#[from] pub anyhow::Error);

impl RunArgs {
    /// Merges the TOML file (if any) under the flags, validates, and fills defaults. Every
    /// error is a [`UsageError`].
    pub fn resolve(self, today: NaiveDate) -> Result<Config, UsageError> {
        self.resolve_inner(today).map_err(UsageError)
    }

    fn resolve_inner(self, today: NaiveDate) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => read_config(path)?,
            None => FileConfig::default(),
        };
        let source = self
            .source
            .or(file.source)
            .unwrap_or_else(|| DEFAULT_SOURCE.to_owned());
        let since = day_arg("--since", self.since.or(file.since))?
            .unwrap_or_else(|| today.pred_opt().unwrap_or(today));
        let until = day_arg("--until", self.until.or(file.until))?.unwrap_or(today);
        if since >= until {
            bail!("--since {since} must be before --until {until} (--until is exclusive)");
        }
        // Nothing can be uploaded before OONI's archive begins or after tomorrow: listing
        // those days would only cost time (a window of 0001..9999 listed for minutes).
        let (since, until) = clamp_window(since, until, today);
        let probe_cc = non_empty_or(self.probe_cc, file.probe_cc);
        let probe_cc: BTreeSet<String> = probe_cc
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .collect();
        if let Some(bad) = probe_cc
            .iter()
            .find(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            bail!("--probe-cc {bad:?} is not a two-letter country code");
        }
        let test_names: BTreeSet<String> = non_empty_or(self.test_name, file.test_name)
            .iter()
            .map(|t| compact_test_name(t.trim()))
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(bad) = test_names.iter().find(|t| {
            !t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }) {
            bail!("--test-name {bad:?} is not a test name (letters, digits, underscores)");
        }
        let out_arg = self
            .out
            .or(file.out)
            .unwrap_or_else(|| "ooni-out".to_owned());
        let (out, output) = match parse_s3_url(&out_arg)? {
            Some(target) => (
                self.work_dir
                    .or(file.work_dir)
                    .unwrap_or_else(|| PathBuf::from("ooni-out-work")),
                Some(target),
            ),
            None if out_arg.contains("://") => {
                bail!("--out {out_arg:?}: only local directories and s3:// URLs are supported")
            }
            None => (PathBuf::from(out_arg), None),
        };
        let jobs = self
            .jobs
            .or(file.jobs)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1);
        let shard = self
            .shard
            .or(file.shard)
            .map(|s| parse_shard(&s, |name| std::env::var(name).ok()))
            .transpose()?;
        let max_record_mib = self.max_record_mib.or(file.max_record_mib).unwrap_or(16);
        let max_object_mib = self.max_object_mib.or(file.max_object_mib).unwrap_or(4096);
        Ok(Config {
            source: parse_source(&source)?,
            s3: S3Access {
                output_region: self
                    .output_region
                    .or(file.output_region)
                    .or_else(|| self.region.clone())
                    .or_else(|| file.region.clone())
                    .unwrap_or_else(|| "eu-central-1".to_owned()),
                region: self
                    .region
                    .or(file.region)
                    .unwrap_or_else(|| "eu-central-1".to_owned()),
                endpoint_url: self.endpoint_url.or(file.endpoint_url),
                path_style: self.path_style || file.path_style,
                signed: self.signed || file.signed,
            },
            output,
            run: RunPlan {
                selection: Selection {
                    since,
                    until,
                    late_upload_days: self
                        .late_upload_days
                        .or(file.late_upload_days)
                        .unwrap_or(DEFAULT_LATE_UPLOAD_DAYS),
                    probe_cc,
                    test_names,
                    cans: self.cans || file.cans,
                },
                out,
                remote: None,
                jobs,
                limits: Limits {
                    max_record_bytes: max_record_mib.saturating_mul(1024 * 1024),
                    max_object_bytes: (max_object_mib as u64).saturating_mul(1024 * 1024),
                },
                full_refresh: self.full_refresh,
                batch_bytes: self
                    .batch_mib
                    .or(file.batch_mib)
                    .unwrap_or(64)
                    .max(1)
                    .saturating_mul(1024 * 1024),
                shard,
            },
        })
    }
}

/// `I/N`, or `N` with the index from Kubernetes' or AWS Batch's array index variable.
fn parse_shard(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Shard> {
    let (index, count) = match text.split_once('/') {
        Some((i, n)) => (i.trim().to_owned(), n.trim()),
        None => {
            let index = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"]
                .iter()
                .find_map(|name| env(name))
                .with_context(|| {
                    format!(
                        "--shard {text}: give the index as I/{text}, or set JOB_COMPLETION_INDEX \
                         (Kubernetes Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX"
                    )
                })?;
            (index, text.trim())
        }
    };
    let count: u32 = count
        .parse()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .with_context(|| format!("--shard {text}: N must be a number from 1 to 10000"))?;
    let index: u32 = index.parse().ok().filter(|i| *i < count).with_context(|| {
        format!(
            "--shard {text}: the index {index:?} must be 0 to {}",
            count - 1
        )
    })?;
    Ok(Shard { index, count })
}

/// OONI's first measurements (the oldest `canned/` day is 2012-12-05).
fn first_ooni_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2012, 12, 1).unwrap_or_default()
}

/// Narrows `since..until` to the days that can hold measurements (from OONI's first day up
/// to the day after tomorrow: probes' clocks run ahead); says so when it does.
fn clamp_window(since: NaiveDate, until: NaiveDate, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = first_ooni_day();
    let last = today
        .checked_add_days(chrono::Days::new(2))
        .unwrap_or(today);
    let clamped = (since.max(first).min(last), until.min(last).max(first));
    if clamped != (since, until) && clamped.0 < clamped.1 {
        crate::log(&format!(
            "reading {} ..< {}: OONI has no measurements outside these days",
            clamped.0, clamped.1
        ));
        return clamped;
    }
    (since, until)
}

fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
}

fn non_empty_or(flag: Vec<String>, file: Vec<String>) -> Vec<String> {
    if flag.is_empty() { file } else { flag }
}

fn day_arg(flag: &str, value: Option<String>) -> anyhow::Result<Option<NaiveDate>> {
    value
        .map(|v| parse_day(&v).with_context(|| format!("{flag} {v:?} is not a YYYY-MM-DD date")))
        .transpose()
}

/// `s3://bucket/some/prefix` → `("bucket", "some/prefix/")`; `None` for anything else.
pub(crate) fn parse_s3_url(url: &str) -> anyhow::Result<Option<(String, String)>> {
    let Some(rest) = url.strip_prefix("s3://") else {
        return Ok(None);
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{url:?} names no bucket");
    }
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    };
    Ok(Some((bucket.to_owned(), prefix)))
}

/// Relative paths, in a config file as on the command line, are relative to the current
/// directory, so `--config pipelines/x.toml` behaves like the same flags typed by hand.
fn parse_source(source: &str) -> anyhow::Result<SourceSpec> {
    if let Some((bucket, prefix)) = parse_s3_url(source)? {
        return Ok(SourceSpec::S3 { bucket, prefix });
    }
    if source.contains("://") {
        bail!("--source {source:?}: only s3:// URLs and local directories are supported");
    }
    let path = PathBuf::from(source);
    if !path.is_dir() {
        bail!("--source {}: no such directory", path.display());
    }
    Ok(SourceSpec::Local(path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2020, 10, 21).unwrap()
    }

    #[test]
    fn defaults_are_yesterday_and_the_public_bucket() {
        let plan = RunArgs::default().resolve(today()).unwrap();
        assert_eq!(plan.run.selection.since.to_string(), "2020-10-20");
        assert_eq!(plan.run.selection.until.to_string(), "2020-10-21");
        assert_eq!(
            plan.source,
            SourceSpec::S3 {
                bucket: "ooni-data-eu-fra".into(),
                prefix: String::new()
            }
        );
    }

    #[test]
    fn flags_win_over_the_file_and_names_are_normalized() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("p.toml");
        std::fs::write(
            &cfg,
            "since = \"2020-09-01\"\nuntil = \"2020-12-01\"\ntest_name = [\"web_connectivity\"]\nprobe_cc = [\"az\"]\n",
        )
        .unwrap();
        let args = RunArgs {
            config: Some(cfg),
            since: Some("2020-10-01".into()),
            test_name: vec!["whatsapp".into(), "facebook_messenger".into()],
            ..RunArgs::default()
        };
        // A today after the window: windows ending after the day after tomorrow are cut.
        let later = NaiveDate::from_ymd_opt(2021, 1, 1).unwrap();
        let plan = args.resolve(later).unwrap();
        assert_eq!(plan.run.selection.since.to_string(), "2020-10-01");
        assert_eq!(plan.run.selection.until.to_string(), "2020-12-01");
        assert_eq!(
            plan.run.selection.test_names.iter().collect::<Vec<_>>(),
            ["facebookmessenger", "whatsapp"]
        );
        assert_eq!(
            plan.run.selection.probe_cc.iter().collect::<Vec<_>>(),
            ["AZ"]
        );
    }

    #[test]
    fn an_s3_output_has_its_own_region_or_the_sources() {
        let out = |region: Option<&str>, output_region: Option<&str>| {
            let args = RunArgs {
                out: Some("s3://my-output/ooni".into()),
                region: region.map(Into::into),
                output_region: output_region.map(Into::into),
                ..RunArgs::default()
            };
            let config = args.resolve(today()).unwrap();
            assert_eq!(config.output, Some(("my-output".into(), "ooni/".into())));
            (config.s3.region, config.s3.output_region)
        };
        assert_eq!(
            out(None, None),
            ("eu-central-1".into(), "eu-central-1".into())
        );
        assert_eq!(
            out(Some("us-east-1"), None),
            ("us-east-1".into(), "us-east-1".into())
        );
        assert_eq!(
            out(None, Some("us-west-2")),
            ("eu-central-1".into(), "us-west-2".into())
        );
    }

    #[test]
    fn shards_come_from_the_flag_or_the_array_index() {
        let none = |_: &str| None;
        assert_eq!(
            parse_shard("2/4", none).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let k8s = |name: &str| (name == "JOB_COMPLETION_INDEX").then(|| "3".to_owned());
        assert_eq!(parse_shard("4", k8s).unwrap(), Shard { index: 3, count: 4 });
        let batch = |name: &str| (name == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "0".to_owned());
        assert_eq!(
            parse_shard("2", batch).unwrap(),
            Shard { index: 0, count: 2 }
        );
        for bad in ["4/4", "x/4", "1/0", "1/x"] {
            assert!(parse_shard(bad, none).is_err(), "{bad}");
        }
        assert!(parse_shard("4", none).is_err(), "no index anywhere");
    }

    #[test]
    fn windows_are_cut_to_the_days_that_can_hold_measurements() {
        let args = RunArgs {
            since: Some("0001-01-01".into()),
            until: Some("9999-12-31".into()),
            ..RunArgs::default()
        };
        let plan = args.resolve(today()).unwrap();
        assert_eq!(plan.run.selection.since.to_string(), "2012-12-01");
        assert_eq!(plan.run.selection.until.to_string(), "2020-10-23");
    }

    #[test]
    fn unknown_config_keys_and_bad_days_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("bad.toml");
        std::fs::write(&cfg, "sinse = \"2020-01-01\"\n").unwrap();
        let err = RunArgs {
            config: Some(cfg),
            ..RunArgs::default()
        }
        .resolve(today())
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `sinse`"),
            "{err:#}"
        );
        let err = RunArgs {
            since: Some("2020-13-01".into()),
            ..RunArgs::default()
        }
        .resolve(today())
        .unwrap_err();
        assert!(err.to_string().contains("--since"));
    }

    #[test]
    fn every_pipeline_config_in_the_repository_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                read_config(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                checked += 1;
            }
        }
        assert!(checked >= 3);
    }
}
