//! The work the pipeline cannot skip, on one core, for `benches/run.sh`: beside `gzip -dc`
//! on the same files it bounds how fast any version of the job could be, whatever the rest
//! of it (verdict, observations, Parquet, aggregation) costs.
//!
//! ```text
//! bench-floor DIR read|ids|parse
//! ```
//!
//! Reads every archive under `DIR` that a run reads (the postcan of each `jsonl.gz` /
//! `tar.gz` twin pair, as `ooni_source::pick_one_of_each_twin` chooses) with the run's own
//! reader, `ooni_source::read_records` (inflate, line split, tar members). `ids` also gives
//! each record the archive gives no uid OONI's `trivial_id` (SHAKE-128 over the record,
//! required for OONI's ids); `parse` also parses every record once into the model
//! (`ooni_model::Record::parse`), as `ooni_normalize::normalize` begins. Prints seconds and
//! bytes on stdout.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark tool: a failure should stop it loudly, and stdout is its output"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use ooni_model::{Framing, Record};
use ooni_source::{ArchiveKey, Limits, pick_one_of_each_twin, read_records};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(mode)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bench-floor DIR read|ids|parse");
        std::process::exit(2);
    };
    let (ids, parse) = match mode.as_str() {
        "read" => (false, false),
        "ids" => (true, false),
        "parse" => (true, true),
        _ => {
            eprintln!("unknown mode {mode}: read, ids or parse");
            std::process::exit(2);
        }
    };
    let root = Path::new(dir);
    let keys: Vec<ArchiveKey> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let key = e.path().strip_prefix(root).unwrap().to_str()?.to_owned();
            ArchiveKey::parse(&key).ok()
        })
        .collect();
    let (keys, _twins_skipped) = pick_one_of_each_twin(keys);

    let start = Instant::now();
    let (mut records, mut bytes, mut hashed) = (0u64, 0u64, 0u64);
    for key in &keys {
        let file = std::fs::File::open(root.join(&key.key)).unwrap();
        read_records(&key.key, key.format, file, Limits::default(), |item| {
            let record = item.unwrap();
            records += 1;
            bytes += record.bytes.len() as u64;
            let uid = record.position.archive_uid();
            if ids && uid.is_none() {
                hashed += record.bytes.len() as u64;
                black_box(ooni_normalize::trivial_id(&record.bytes, None));
            }
            if parse {
                let framing = if uid.is_some() {
                    Framing::PostMember
                } else {
                    Framing::Line
                };
                black_box(matches!(
                    Record::parse(&record.bytes, framing),
                    Ok(Record::Measurement(_))
                ));
            }
        });
    }
    println!(
        "{mode}: {:.2} s, {} archives, {records} records, {bytes} record bytes, {hashed} hashed",
        start.elapsed().as_secs_f64(),
        keys.len()
    );
}
