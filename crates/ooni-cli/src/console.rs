//! What a run shows on stderr: notes, listing progress, and read progress (a bar on a
//! terminal, a log line every ten seconds otherwise: cron, Kubernetes and Airflow logs).
//! It is also how a signal reaches the run: [`Console`] answers `stop_requested`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ooni_run::{Event, Observer, human_bytes};

use crate::log;
use crate::signals::Stop;

/// The CLI's observer; every event also reaches `extra`.
pub struct Console<'a> {
    stop: &'a Stop,
    extra: &'a dyn Observer,
    last_listing_log: Mutex<Option<Instant>>,
    progress: OnceLock<Progress>,
}

impl<'a> Console<'a> {
    /// A console that stops the run when `stop` saw a signal (or `extra` asks).
    pub fn new(stop: &'a Stop, extra: &'a dyn Observer) -> Console<'a> {
        Console {
            stop,
            extra,
            last_listing_log: Mutex::new(None),
            progress: OnceLock::new(),
        }
    }
}

impl Observer for Console<'_> {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Note(message) => log(message),
            Event::Listing {
                prefixes_done,
                prefixes_total,
                objects_found,
            } => {
                if let Ok(mut last) = self.last_listing_log.lock() {
                    let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
                    if due {
                        if last.is_some() {
                            log(&format!(
                                "listing: {prefixes_done}/{prefixes_total} prefixes, {objects_found} objects so far"
                            ));
                        }
                        *last = Some(Instant::now());
                    }
                }
            }
            Event::ReadStarted { archives } => {
                let _ = self.progress.set(Progress::new(archives));
            }
            Event::ArchiveRead {
                stored_bytes,
                records,
                ..
            } => {
                if let Some(progress) = self.progress.get() {
                    progress.advance(stored_bytes, records);
                }
            }
            Event::ReadFinished => {
                if let Some(progress) = self.progress.get() {
                    progress.finish();
                }
            }
            _ => {}
        }
        self.extra.event(event);
    }

    fn stop_requested(&self) -> Option<&'static str> {
        self.stop
            .signal_name()
            .or_else(|| self.extra.stop_requested())
    }
}

/// Read progress.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: AtomicU64,
    bytes: AtomicU64,
    records: AtomicU64,
    last_log: Mutex<Instant>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} archives {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            total,
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            records: AtomicU64::new(0),
            last_log: Mutex::new(Instant::now()),
        }
    }

    fn advance(&self, bytes: u64, records: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let records = self.records.fetch_add(records, Ordering::Relaxed) + records;
        let msg = format!("{} read, {records} records", human_bytes(bytes));
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(msg);
        } else if let Ok(mut last) = self.last_log.lock()
            && (last.elapsed() >= Duration::from_secs(10) || done == self.total)
        {
            *last = Instant::now();
            log(&format!("read {done}/{} archives, {msg}", self.total));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
