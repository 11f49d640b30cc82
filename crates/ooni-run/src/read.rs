//! One archive → its normalized measurements, skips and rejects, with the counts that prove
//! nothing was lost.
//!
//! Records of a compressed member that fails its integrity check are taken back (they go to
//! rejects, not to the tables); an archive whose store failed (S3 errors after retries,
//! permission denied) is marked for a later run and contributes nothing now.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::NaiveDate;
use ooni_normalize::{Normalized, Outcome, normalize};
use ooni_parquet::{Measured, Provenance};
use ooni_source::{ArchiveKey, Position, RecordError, Store, compact_test_name, read_records};
use rayon::prelude::*;

use crate::RunPlan;
use crate::rejects::{Reject, RejectBuffer};
use crate::summary::Counts;

/// What one archive produced.
#[derive(Default)]
pub struct ArchiveOutput {
    /// Its measurements, in archive order.
    pub measured: Vec<Measured>,
    /// Its rejects (those kept; the rest are counted).
    pub rejects: RejectBuffer,
    /// Its counts.
    pub counts: Counts,
    /// Measurement days found but outside the run's days (read again by a run that wants them).
    pub days_left_out: BTreeSet<NaiveDate>,
    /// Whether measurements were left out because their body's country or test was not selected.
    pub filter_left_out: bool,
    /// The store failed (not the data): nothing of this archive counts, and it is read
    /// again by the next run. Holds the error.
    pub retry_later: Option<String>,
    /// The archive is damaged (empty, truncated, corrupt): its twin, if any, is read too.
    pub damaged: bool,
}

/// What became of each record passed to the sink, so that a corrupt member's records can
/// be taken back.
enum Fate {
    Measured { mismatch: bool },
    Skipped(&'static str),
    Rejected(String),
}

/// Reads, normalizes and counts one archive.
pub fn process_archive(
    store: &dyn Store,
    key: &ArchiveKey,
    size: u64,
    plan: &RunPlan,
) -> ArchiveOutput {
    let mut out = ArchiveOutput::default();
    out.counts.archives_read = 1;
    let reader = match store.open(&key.key, Some(size)) {
        Ok(reader) => reader,
        Err(e) => return retry_later(format_chain(&e)),
    };
    let mut fates: Vec<(Position, Fate)> = Vec::new();
    let mut chunk = Chunk::default();
    let stats = read_records(&key.key, key.format, reader, plan.limits, |item| {
        if out.retry_later.is_some() {
            return;
        }
        let error = match item {
            Ok(record) => {
                out.counts.records_read += 1;
                chunk.push(record);
                if chunk.bytes >= CHUNK_BYTES {
                    chunk.flush(key, plan, &mut out, &mut fates);
                }
                return;
            }
            Err(error) => error,
        };
        // What comes next may take back records already read: apply them first.
        chunk.flush(key, plan, &mut out, &mut fates);
        match error {
            RecordError::TooLarge {
                position,
                len,
                max,
                head,
                ..
            } => {
                out.counts.records_read += 1;
                out.counts.reject("too_large");
                out.rejects.push(Reject::new(
                    "too_large",
                    format!("{len} bytes, over the {max}-byte limit (--max-record-mib)"),
                    &key.key,
                    &position,
                    len,
                    &head,
                ));
                fates.push((position, Fate::Rejected("too_large".into())));
            }
            RecordError::Io { source, .. } => {
                out.retry_later = Some(format_chain(&source));
            }
            RecordError::Corrupt {
                position,
                retracted,
                source,
                ..
            } => {
                out.counts.archive_errors += 1;
                out.damaged = true;
                let detail = format!(
                    "the compressed data fails its integrity check ({source}); the records \
                     of that member are not trusted"
                );
                let keep = fates
                    .len()
                    .saturating_sub(usize::try_from(retracted).unwrap_or(0));
                let (positions, taken): (Vec<Position>, Vec<Fate>) = fates.drain(keep..).unzip();
                // Undone newest first (what they added sits at the ends of the lists).
                for fate in taken.into_iter().rev() {
                    take_back(&mut out, fate);
                }
                for position in &positions {
                    out.counts.reject("corrupt_member");
                    out.rejects.push(Reject::new(
                        "corrupt_member",
                        detail.clone(),
                        &key.key,
                        position,
                        0,
                        &[],
                    ));
                }
                if retracted == 0 {
                    out.rejects.push(Reject::new(
                        "corrupt_member",
                        detail,
                        &key.key,
                        &position,
                        0,
                        &[],
                    ));
                }
            }
            error @ RecordError::Truncated { .. } => {
                let too_large = error.is_object_too_large();
                let RecordError::Truncated {
                    position,
                    partial,
                    source,
                    ..
                } = error
                else {
                    return;
                };
                out.counts.archive_errors += 1;
                out.damaged = true;
                // A record cut short counts as read and rejected; an archive that ends between
                // records lost nothing we could count, and is reported as an archive error.
                let reason = match (too_large, partial.is_empty()) {
                    (true, _) => "object_too_large",
                    (false, true) => "truncated_archive",
                    (false, false) => "truncated_record",
                };
                if !partial.is_empty() {
                    out.counts.records_read += 1;
                    out.counts.reject(reason);
                }
                out.rejects.push(Reject::new(
                    reason,
                    if too_large {
                        format!("object read up to here: {source} (--max-object-mib)")
                    } else {
                        format!("archive unreadable from here on: {source}")
                    },
                    &key.key,
                    &position,
                    partial.len() as u64,
                    &partial,
                ));
            }
        }
    });
    if let Some(error) = out.retry_later.take() {
        return retry_later(error);
    }
    chunk.flush(key, plan, &mut out, &mut fates);
    out.counts.stored_bytes = stats.stored_bytes;
    out.counts.decoded_bytes = stats.decoded_bytes;
    out.counts.other_tar_members = stats.other_members;
    out.counts.yaml_reports = stats.yaml_members;
    if stats.stored_bytes == 0 && !stats.skipped_archive {
        // OONI never uploads an empty object (even an empty gzip has 20 bytes): it is a
        // failed upload, and its twin holds the data.
        out.counts.archive_errors += 1;
        out.damaged = true;
        out.rejects.push(Reject::new(
            "empty_archive",
            "the object is empty".to_owned(),
            &key.key,
            &Position::Line(0),
            0,
            &[],
        ));
    }
    out
}

fn retry_later(error: String) -> ArchiveOutput {
    ArchiveOutput {
        retry_later: Some(error),
        ..ArchiveOutput::default()
    }
}

/// Undoes what one record contributed (it came from a corrupt member).
fn take_back(out: &mut ArchiveOutput, fate: Fate) {
    match fate {
        Fate::Measured { mismatch } => {
            out.measured.pop();
            out.counts.measurements -= 1;
            if mismatch {
                out.counts.key_body_mismatches -= 1;
            }
        }
        Fate::Skipped(reason) => uncount(&mut out.counts.skipped, reason),
        Fate::Rejected(reason) => {
            uncount(&mut out.counts.rejected, &reason);
            out.rejects.pop();
        }
    }
}

fn uncount(map: &mut std::collections::BTreeMap<String, u64>, reason: &str) {
    if let Some(n) = map.get_mut(reason) {
        *n -= 1;
        if *n == 0 {
            map.remove(reason);
        }
    }
}

/// Records are normalized in chunks of about this many bytes, in parallel on the run's
/// pool, so that one large archive (a skewed day, a big postcan) still keeps every core busy.
/// Results are applied in archive order: the output does not depend on the split.
const CHUNK_BYTES: usize = 4 << 20;

/// Records read and not yet normalized.
#[derive(Default)]
struct Chunk {
    records: Vec<ooni_source::Record>,
    bytes: usize,
}

impl Chunk {
    fn push(&mut self, record: ooni_source::Record) {
        self.bytes += record.bytes.len();
        self.records.push(record);
    }

    /// Normalizes the chunk's records in parallel, then applies each outcome in order.
    fn flush(
        &mut self,
        key: &ArchiveKey,
        plan: &RunPlan,
        out: &mut ArchiveOutput,
        fates: &mut Vec<(Position, Fate)>,
    ) {
        let normalized: Vec<_> = self
            .records
            .par_iter()
            .map(|record| {
                let uid = record.position.archive_uid();
                // A bug on one odd measurement must not take the run down: it becomes a
                // reject.
                catch_unwind(AssertUnwindSafe(|| normalize(&record.bytes, uid)))
                    .map_err(|panic| panic_message(&panic))
            })
            .collect();
        for (record, outcome) in self.records.drain(..).zip(normalized) {
            let fate = apply(key, &record, outcome, plan, out);
            fates.push((record.position, fate));
        }
        self.bytes = 0;
    }
}

/// What one record's normalization adds to the archive's output.
fn apply(
    key: &ArchiveKey,
    record: &ooni_source::Record,
    outcome: Result<Result<Outcome, ooni_normalize::NormalizeError>, String>,
    plan: &RunPlan,
    out: &mut ArchiveOutput,
) -> Fate {
    let reject = |out: &mut ArchiveOutput, reason: &str, detail: String| {
        out.counts.reject(reason);
        out.rejects.push(Reject::new(
            reason,
            detail,
            &key.key,
            &record.position,
            record.bytes.len() as u64,
            &record.bytes,
        ));
        Fate::Rejected(reason.to_owned())
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(panic) => return reject(out, "panic", panic),
    };
    let normalized = match outcome {
        Ok(Outcome::Measurement(n)) => n,
        Ok(Outcome::Skipped(skip)) => {
            out.counts.skip(skip.as_str());
            return Fate::Skipped(skip.as_str());
        }
        Err(e) => return reject(out, e.reason(), e.to_string()),
    };
    let Normalized {
        row,
        judgement,
        observations,
        outcomes,
    } = *normalized;
    let cc = row.probe_cc.as_deref().unwrap_or("");
    if !plan.selection.wants_measurement(cc, &row.test_name) {
        out.counts.skip("other_country_or_test");
        out.filter_left_out = true;
        return Fate::Skipped("other_country_or_test");
    }
    if !plan.accepts_day(row.measurement_day) {
        out.counts.skip("outside_days");
        out.days_left_out.insert(row.measurement_day);
        return Fate::Skipped("outside_days");
    }
    let mismatch = (!key.mixes_countries() && cc != key.probe_cc)
        || compact_test_name(&row.test_name) != key.test_name;
    if mismatch {
        out.counts.key_body_mismatches += 1;
    }
    out.counts.measurements += 1;
    out.measured.push(Measured {
        row,
        judgement,
        provenance: Provenance {
            source_key: key.key.clone(),
            source_line: record.position.line(),
            source_member: record.position.member().map(str::to_owned),
        },
        observations,
        outcomes,
    });
    Fate::Measured { mismatch }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// An error and its causes, on one line.
pub fn format_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
