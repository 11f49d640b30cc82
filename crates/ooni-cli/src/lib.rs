//! The `ooni-pipeline` command: flags and config files, the console (progress, notes,
//! the summary table), signals, and the exit status. The run itself is `ooni-run`'s.
//!
//! The principal items: [`main`], which the `ooni-pipeline` binary calls; the clap
//! command tree (`Cli`); `config::Config`, what `run` and `list` resolve their flags into;
//! `console::Console`, the [`ooni_run::Observer`] that shows progress and turns SIGTERM /
//! SIGINT into a clean stop; and `Status`, the exit status: 0 when the run completed and
//! nothing was rejected; 3 when it completed but quarantined records, could not read the
//! end of some archives, or left archives for the next run; 1 when the run failed; 2 for
//! usage errors; 130 / 143 when SIGINT / SIGTERM stopped it.

mod config;
mod console;
mod signals;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ooni_run::{Observer, RunSummary, Table, human_bytes};

use crate::config::{Config, RunArgs, SourceSpec};
use crate::console::Console;

/// Turns OONI's raw measurement archive into analysis-ready Parquet and failure-rate tables.
///
/// Reads OONI's bucket layout (raw/YYYYMMDD/HH/CC/test/… and jsonl/test/CC/YYYYMMDD/…) from
/// s3://ooni-data-eu-fra or a local copy, normalizes every measurement, and writes:
///
///   DIR/measurements/test_name=…/measurement_day=…/*.parquet   one row per measurement
///   DIR/observations/…   (same partitions)   one row per DNS / TCP / TLS / HTTP operation
///   DIR/outcomes/…       (same partitions)   per measurement × target × stage: ok, blocked,
///                                            down or failure, and the kind of blocking
///   DIR/failure_rates/*.parquet    per day × country × ASN × test × domain × stage
///   DIR/ooni_counts/*.parquet      anomaly/confirmed/failure/ok counts, as OONI's API
///   DIR/blocking_events/*.parquet  detected blocking episodes, with their evidence
///   DIR/rejects/<run>.jsonl        every record that could not be read, with its reason
///   DIR/_runs/<run>.json           what the run read, wrote, skipped and rejected
///
/// Examples:
///
///   ooni-pipeline run --config pipelines/sample.toml
///   ooni-pipeline report --out out/sample --probe-cc AZ      # one HTML page per country
///
///   ooni-pipeline run --since 2020-09-27 --until 2020-11-11 --probe-cc AZ
///       --test-name whatsapp,telegram,web_connectivity --out ./az
#[derive(Debug, Parser)]
#[command(name = "ooni-pipeline", version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read, normalize, write Parquet and aggregate (the nightly job).
    ///
    /// Days are UTC; --since is inclusive and --until exclusive. A measurement belongs to
    /// the day of its measurement_start_time; archives uploaded up to --late-upload-days
    /// after --until are read so late uploads are counted.
    ///
    /// Exit status: 0 success; 3 completed, but records were quarantined in DIR/rejects/,
    /// an archive's end was unreadable, or archives are left for the next run (see the
    /// summary); 1 failure; 2 usage error; 143 / 130 stopped by SIGTERM / SIGINT (what was
    /// committed stays; the next run continues).
    Run {
        #[command(flatten)]
        args: RunArgs,
        /// Print the run summary as JSON on stdout (instead of the table).
        #[arg(long)]
        json: bool,
    },
    /// List the archives a run would read (objects and bytes per day, layout, country and
    /// test) without downloading anything; with --shard N, also the shard plan: the units
    /// and bytes each of the N shards would read.
    List {
        #[command(flatten)]
        args: RunArgs,
    },
    /// The fan-in after sharded runs: checks that every shard of the plan committed and
    /// finished (naming those that did not), then builds the aggregates over all shards'
    /// files. Rerunning it changes nothing; after a late shard it recomputes only the days
    /// that shard touched.
    ///
    /// Example: ooni-pipeline aggregate --out ./ooni-out
    ///
    /// On an s3:// output: ooni-pipeline aggregate --out s3://my-bucket/ooni --work-dir /cache
    Aggregate {
        /// The output the shards wrote to: a directory, or s3://BUCKET/PREFIX.
        #[arg(long, value_name = "DIR|URL")]
        out: String,
        /// Local cache of an s3:// output: the shards' files are downloaded there to be
        /// aggregated (keep it between nights to download only what changed)
        /// [default: ./ooni-out-work].
        #[arg(long, value_name = "DIR")]
        work_dir: Option<std::path::PathBuf>,
        /// S3 endpoint for S3-compatible stores (also AWS_ENDPOINT_URL); default: AWS.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        /// AWS region of the output bucket.
        #[arg(long, value_name = "REGION", default_value = "eu-central-1")]
        region: String,
        /// Path-style S3 addressing (some S3-compatible stores need it).
        #[arg(long)]
        path_style: bool,
        /// The plan's number of shards, when the directory holds several plans.
        #[arg(long, value_name = "N")]
        shards: Option<u32>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Writes a static HTML page per country (DIR/report/<CC>.html by default) that opens
    /// offline: per target and stage, an ASN × day heatmap of the blocked (or failure) rate
    /// with the measurement counts; the blocking events with their dates; and a table of
    /// networks with, for each app, the dates it was blocked and how.
    ///
    /// Example: ooni-pipeline report --out out/azerbaijan-2020 --probe-cc AZ
    Report {
        /// The output directory of earlier runs.
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
        /// Countries to write a page for, comma-separated (default: every country).
        #[arg(long, value_name = "CC,CC", value_delimiter = ',')]
        probe_cc: Vec<String>,
        /// Where to write the pages [default: DIR/report].
        #[arg(long, value_name = "DIR")]
        dest: Option<std::path::PathBuf>,
    },
    /// Writes a table as CSV on stdout, for spreadsheets: failure_rates or blocking_events,
    /// filtered by country and days.
    ///
    /// Example: ooni-pipeline export --out DIR --table failure_rates --format csv --probe-cc AZ
    ///     --since 2020-09-27 --until 2020-11-12 > az.csv
    Export {
        /// The output directory of earlier runs.
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
        /// failure_rates or blocking_events (events overlapping the days).
        #[arg(long, value_name = "NAME")]
        table: String,
        /// Only csv.
        #[arg(long, value_name = "FORMAT", default_value = "csv")]
        format: String,
        /// Countries to keep, comma-separated (default: all).
        #[arg(long, value_name = "CC,CC", value_delimiter = ',')]
        probe_cc: Vec<String>,
        /// First day, inclusive.
        #[arg(long, value_name = "YYYY-MM-DD")]
        since: Option<String>,
        /// Last day, exclusive.
        #[arg(long, value_name = "YYYY-MM-DD")]
        until: Option<String>,
    },
}

/// How a command ended, as the process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Completed; nothing rejected.
    Success,
    /// Failed (an error was printed).
    Failure,
    /// A mistake in the flags or config file.
    Usage,
    /// Completed, but something was quarantined or left for the next run.
    CompletedWithRejects,
    /// Stopped by a signal (128 + its number).
    Stopped(u8),
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(match status {
            Status::Success => 0,
            Status::Failure => 1,
            Status::Usage => 2,
            Status::CompletedWithRejects => 3,
            Status::Stopped(code) => code,
        })
    }
}

/// Parses the command line and runs the command; `observer` also hears every event of a
/// run (the `ooni-pipeline` binary passes [`ooni_run::Quiet`]; the crash-safety tests'
/// `ooni-pipeline-paused` passes one that pauses at a chosen point).
pub fn main(observer: &dyn Observer) -> ExitCode {
    let cli = Cli::parse();
    let status = match dispatch(cli.command, observer) {
        Ok(status) => status,
        Err(err) if is_broken_pipe(&err) => Status::Success, // `list | head`
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if err.downcast_ref::<config::UsageError>().is_some() {
                eprintln!("(see `ooni-pipeline run --help`)");
                Status::Usage
            } else {
                Status::Failure
            }
        }
    };
    status.into()
}

/// A day flag of `report`/`export`; a bad one is a usage error.
fn day_flag(flag: &str, value: Option<String>) -> anyhow::Result<Option<chrono::NaiveDate>> {
    value
        .map(|v| {
            ooni_source::parse_day(&v).ok_or_else(|| {
                config::UsageError(anyhow::anyhow!("{flag} {v:?} is not a YYYY-MM-DD date")).into()
            })
        })
        .transpose()
}

/// The committed files of `out` as `report` and `export` need them.
fn committed(out: &std::path::Path) -> anyhow::Result<std::collections::BTreeSet<String>> {
    if !out.is_dir() {
        return Err(config::UsageError(anyhow::anyhow!(
            "--out {}: no such directory (run `ooni-pipeline run --out {}` first)",
            out.display(),
            out.display()
        ))
        .into());
    }
    Ok(ooni_run::committed_files(out)?)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn dispatch(command: Command, observer: &dyn Observer) -> anyhow::Result<Status> {
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    match command {
        Command::Run { args, json } => {
            let mut config = args.resolve(now.date_naive())?;
            let stop = signals::Stop::install().context("installing signal handlers")?;
            let console = Console::new(&stop, observer);
            let store = open_store(&config)?;
            if let Some((bucket, prefix)) = &config.output {
                let access = config::S3Access {
                    region: config.s3.output_region.clone(),
                    ..config.s3.clone()
                };
                let output = connect_s3(&access, bucket, prefix, true)?;
                config.run.remote = Some(std::sync::Arc::new(output));
            }
            let summary = ooni_run::run(&config.run, store.as_ref(), &console)?;
            let mut stdout = std::io::stdout().lock();
            if json {
                writeln!(stdout, "{}", serde_json::to_string_pretty(&summary)?)?;
            } else {
                print_summary(&mut stdout, &summary)?;
            }
            if !summary.conservation.holds {
                anyhow::bail!(
                    "conservation check failed: {} records read, but {} written + {} duplicates + {} skipped + {} rejected",
                    summary.conservation.records_read,
                    summary.conservation.measurements_written,
                    summary.conservation.duplicates,
                    summary.conservation.skipped,
                    summary.conservation.rejected
                );
            }
            if summary.interrupted.is_some() {
                return Ok(Status::Stopped(stop.exit_status()));
            }
            let clean = summary.conservation.rejected == 0
                && summary.counts.archive_errors == 0
                && summary.retry_later.is_empty();
            Ok(if clean {
                Status::Success
            } else {
                Status::CompletedWithRejects
            })
        }
        Command::List { args } => {
            let config = args.resolve(now.date_naive())?;
            let store = open_store(&config)?;
            list(store.as_ref(), &config)?;
            Ok(Status::Success)
        }
        Command::Report {
            out,
            probe_cc,
            dest,
        } => {
            let files = committed(&out)?;
            let table = |table| ooni_run::table_files(&out, &files, table);
            let inputs = ooni_report::Inputs {
                failure_rates: table(Table::FailureRates),
                blocking_events: table(Table::BlockingEvents),
                outcomes: table(Table::Outcomes),
                measurements: table(Table::Measurements),
            };
            let dest = dest.unwrap_or_else(|| out.join("report"));
            let countries: Vec<String> = probe_cc
                .iter()
                .map(|c| c.trim().to_ascii_uppercase())
                .collect();
            let pages = ooni_report::write_reports(&inputs, &dest, &countries)
                .with_context(|| format!("writing the report to {}", dest.display()))?;
            let mut stdout = std::io::stdout().lock();
            for page in &pages {
                writeln!(stdout, "{}", page.display())?;
            }
            if pages.is_empty() {
                eprintln!("no country with failure rates in {}", out.display());
            }
            Ok(Status::Success)
        }
        Command::Export {
            out,
            table,
            format,
            probe_cc,
            since,
            until,
        } => {
            if format != "csv" {
                return Err(config::UsageError(anyhow::anyhow!(
                    "--format {format:?}: only csv is supported"
                ))
                .into());
            }
            let kind: ooni_report::Table = table.parse().map_err(|e| {
                config::UsageError(anyhow::anyhow!(
                    "--table {table:?}: {e} (failure_rates or blocking_events)"
                ))
            })?;
            let filter = ooni_report::Filter {
                probe_cc: probe_cc
                    .iter()
                    .map(|c| c.trim().to_ascii_uppercase())
                    .collect(),
                since: day_flag("--since", since)?,
                until: day_flag("--until", until)?,
            };
            let files = committed(&out)?;
            let files = ooni_run::table_files(&out, &files, kind.into());
            ooni_report::export_csv(kind, &files, &filter, std::io::stdout().lock())?;
            Ok(Status::Success)
        }
        Command::Aggregate {
            out,
            work_dir,
            endpoint_url,
            region,
            path_style,
            shards,
            json,
        } => {
            // Not interruptible: a signal ends it as it always did (its lock then goes stale).
            let stop = signals::Stop::default();
            let (dir, remote) = match config::parse_s3_url(&out).map_err(config::UsageError)? {
                Some((bucket, prefix)) => {
                    let access = config::S3Access {
                        output_region: region.clone(),
                        region,
                        endpoint_url,
                        path_style,
                        signed: true,
                    };
                    let store = connect_s3(&access, &bucket, &prefix, true)?;
                    let remote: std::sync::Arc<dyn ooni_source::OutputStore> =
                        std::sync::Arc::new(store);
                    let dir = work_dir.unwrap_or_else(|| "ooni-out-work".into());
                    (dir, Some(remote))
                }
                None if out.contains("://") => {
                    return Err(config::UsageError(anyhow::anyhow!(
                        "--out {out:?}: only local directories and s3:// URLs are supported"
                    ))
                    .into());
                }
                None => (std::path::PathBuf::from(out), None),
            };
            let summary =
                ooni_run::aggregate(&dir, shards, remote, &Console::new(&stop, observer))?;
            let mut stdout = std::io::stdout().lock();
            if json {
                writeln!(stdout, "{}", serde_json::to_string_pretty(&summary)?)?;
            } else {
                writeln!(
                    stdout,
                    "aggregated {} shards ({} partition files): {} days recomputed, {} files written",
                    summary.shards,
                    summary.input_files,
                    summary.days_aggregated.len(),
                    summary.written_files.len()
                )?;
            }
            Ok(Status::Success)
        }
    }
}

fn open_store(plan: &Config) -> anyhow::Result<Box<dyn ooni_source::Store>> {
    match &plan.source {
        SourceSpec::Local(dir) => Ok(Box::new(ooni_source::LocalStore::new(dir))),
        SourceSpec::S3 { bucket, prefix } => Ok(Box::new(connect_s3(
            &plan.s3,
            bucket,
            prefix,
            plan.s3.signed,
        )?)),
    }
}

fn connect_s3(
    access: &config::S3Access,
    bucket: &str,
    prefix: &str,
    signed: bool,
) -> anyhow::Result<ooni_s3::S3Store> {
    let options = ooni_s3::S3Options {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        region: access.region.clone(),
        endpoint_url: access.endpoint_url.clone(),
        path_style: access.path_style,
        signed,
        ..ooni_s3::S3Options::default()
    };
    ooni_s3::S3Store::connect(options)
        .with_context(|| format!("connecting to s3://{bucket}/{prefix}"))
}

fn list(store: &dyn ooni_source::Store, config: &Config) -> anyhow::Result<()> {
    let plan = &config.run;
    let inventory = ooni_source::inventory(store, &plan.selection)?;
    let mut out = std::io::stdout().lock();
    let mut groups: std::collections::BTreeMap<(String, &str, String, String), (u64, u64)> =
        std::collections::BTreeMap::new();
    for (object, key) in &inventory.archives {
        let entry = groups
            .entry((
                key.bucket_day.to_string(),
                key.layout.as_str(),
                key.probe_cc.clone(),
                key.test_name.clone(),
            ))
            .or_default();
        entry.0 += 1;
        entry.1 += object.size;
    }
    writeln!(
        out,
        "{:<10}  {:<5}  {:<2}  {:<28}  {:>7}  {:>10}",
        "day", "layout", "cc", "test", "objects", "bytes"
    )?;
    for ((day, layout, cc, test), (objects, bytes)) in &groups {
        writeln!(
            out,
            "{day:<10}  {layout:<6} {cc:<2}  {test:<28}  {objects:>7}  {bytes:>10}"
        )?;
    }
    let total: u64 = inventory.archives.iter().map(|(o, _)| o.size).sum();
    if let Some(shard) = plan.shard {
        let listed: std::collections::BTreeMap<String, ooni_source::ObjectMeta> = inventory
            .archives
            .iter()
            .map(|(o, k)| (k.key.clone(), o.clone()))
            .collect();
        let twins =
            ooni_source::pair_twins(inventory.archives.iter().map(|(_, k)| k.clone()).collect());
        let bytes = ooni_run::bytes_per_unit(&twins, &listed);
        let assigned = ooni_run::plan_shards(&bytes, shard.count);
        writeln!(
            out,
            "\nshard plan over {} (country, test) units:",
            bytes.len()
        )?;
        for index in 0..shard.count {
            let units: Vec<&String> = assigned
                .iter()
                .filter(|(_, i)| **i == index)
                .map(|(u, _)| u)
                .collect();
            let shard_bytes: u64 = units.iter().map(|u| bytes[*u]).sum();
            writeln!(
                out,
                "  shard {index}/{}: {} units, {}{}",
                shard.count,
                units.len(),
                human_bytes(shard_bytes),
                if index == shard.index {
                    "  (this one)"
                } else {
                    ""
                }
            )?;
        }
    }
    // What the listing cost, before a run reads anything: the discovery of key levels a
    // missing filter left open (delimiter listings), then the planned prefixes.
    writeln!(
        out,
        "listing plan: {} prefixes; {} discovery LIST calls, {} listing LIST calls",
        inventory.prefixes_listed,
        inventory.discovery_calls,
        inventory
            .list_calls
            .saturating_sub(inventory.discovery_calls)
    )?;
    writeln!(
        out,
        "{} objects, {} in {} ({} LIST calls; {} keys outside OONI's layout; {} symbolic links ignored)",
        inventory.archives.len(),
        human_bytes(total),
        store.location(),
        inventory.list_calls,
        inventory.unrecognized.len(),
        inventory.symlinks_ignored.len()
    )?;
    Ok(())
}

fn print_summary(out: &mut impl Write, s: &RunSummary) -> std::io::Result<()> {
    let c = &s.conservation;
    writeln!(
        out,
        "ooni-pipeline run {} — {} → {}",
        s.run_id, s.source, s.out
    )?;
    writeln!(
        out,
        "days {} ..< {} (+{} late-upload days), archives read {} of {} listed ({} twins skipped), {} stored / {} decoded",
        s.since,
        s.until,
        s.late_upload_days,
        s.counts.archives_read,
        s.archives_listed,
        s.twins_skipped,
        human_bytes(s.counts.stored_bytes),
        human_bytes(s.counts.decoded_bytes),
    )?;
    writeln!(
        out,
        "requests: {} LIST, {} GET, {} retried, {} resumed",
        s.requests.list,
        s.requests.get,
        s.requests.retries,
        human_bytes(s.requests.resumed_bytes)
    )?;
    writeln!(
        out,
        "{} new objects read, {} already processed{}",
        s.new_objects,
        s.already_processed_objects,
        if s.uncommitted_files_removed > 0 {
            format!(
                " ({} files of an interrupted run removed and redone)",
                s.uncommitted_files_removed
            )
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "records read {} = measurements written {} + duplicates {} + skipped {} + rejected {}  [{}]",
        c.records_read,
        c.measurements_written,
        c.duplicates,
        c.skipped,
        c.rejected,
        if c.holds { "balanced" } else { "NOT BALANCED" }
    )?;
    if !s.counts.skipped.is_empty() {
        writeln!(out, "skipped: {}", join_counts(&s.counts.skipped))?;
    }
    if !s.counts.rejected.is_empty() {
        writeln!(out, "rejected: {}", join_counts(&s.counts.rejected))?;
    }
    if !s.ooni_dropped.is_empty() {
        writeln!(
            out,
            "kept but left out of ooni_counts (OONI drops them): {}",
            join_counts(&s.ooni_dropped)
        )?;
    }
    if s.counts.archive_errors > 0 {
        writeln!(
            out,
            "archives with an unreadable end: {}",
            s.counts.archive_errors
        )?;
    }
    for path in &s.rejects_files {
        writeln!(out, "rejects: {path}")?;
    }
    if s.rejects_not_stored > 0 {
        writeln!(
            out,
            "{} rejects counted but not stored (per-archive cap)",
            s.rejects_not_stored
        )?;
    }
    for fallback in &s.twins_fallback {
        writeln!(
            out,
            "damaged: {} — read its twin {} instead",
            fallback.damaged, fallback.read_instead
        )?;
    }
    for retry in &s.retry_later {
        writeln!(
            out,
            "not read, the next run tries again: {} ({})",
            retry.key, retry.error
        )?;
    }
    if s.symlinks_ignored > 0 {
        writeln!(
            out,
            "symbolic links in the source, not followed: {} (e.g. {})",
            s.symlinks_ignored,
            s.symlink_examples.join(", ")
        )?;
    }
    if let Some(signal) = &s.interrupted {
        writeln!(
            out,
            "stopped by {signal} after {} committed batches; rerun to finish",
            s.batches_committed
        )?;
    }
    if s.worst_cells.is_empty() {
        writeln!(out, "no failure rates in these days")?;
    } else {
        writeln!(out)?;
        writeln!(
            out,
            "most clearly failing cells (ranked by the 95% lower bound), any stage, {} ..< {}:",
            s.since, s.until
        )?;
        writeln!(
            out,
            "{:<2} {:>8}  {:<18} {:<28} {:>6} {:>6} {:>6} {:>8} {:>6}  top failure",
            "cc", "asn", "test", "domain", "fail", "of", "rate", "blocked", "down"
        )?;
        for w in &s.worst_cells {
            let rate = w.failure_count as f64 / w.measurement_count.max(1) as f64;
            writeln!(
                out,
                "{:<2} {:>8}  {:<18} {:<28} {:>6} {:>6} {:>6.2} {:>8} {:>6}  {}",
                w.probe_cc.as_deref().unwrap_or("--"),
                format!("AS{}", w.probe_asn),
                w.test_name,
                w.domain,
                w.failure_count,
                w.measurement_count,
                rate,
                w.blocked_count,
                w.down_count,
                w.top_failure.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(())
}

fn join_counts(map: &std::collections::BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A log line on stderr.
fn log(message: &str) {
    eprintln!("[ooni-pipeline] {message}");
}
