//! The detector proper: pure functions from daily counts to episodes and events.
//!
//! One *series* is (country, ASN, test, domain, stage). Its history is a dense day grid:
//! every calendar day between its first and last measured day is either a day with counts
//! or a day with **no data**, which adds no evidence either way (it is never "ok"). On the
//! days with data, each day adds the binomial log-likelihood ratio of its counts
//! (blocked at rate `p1` against normal at rate `p0`), and the episodes are the
//! maximum-likelihood two-state path with a cost `h` to enter the blocked state and a small
//! cost to leave it: the offline counterpart of OONI's two-sided CUSUM (see
//! `docs/events.md`). Nothing is carried between runs, and the input is sorted and summed
//! before anything is computed, so the same counts in any order give the same events.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::stats::{kl, llr, wilson};

/// Which `failure_rates` column the detector counts as positives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// `blocked_count`: interference confirmed against a control (issue 9's column); used
    /// whenever every `failure_rates` file given has it.
    BlockedCount,
    /// `failure_count`: any failure at that stage, with no control to tell censorship from
    /// an outage; the fallback for files written before `blocked_count` existed.
    FailureCount,
}

impl Signal {
    /// The column name, as written in the table's `signal` column.
    pub fn column(self) -> &'static str {
        match self {
            Signal::BlockedCount => "blocked_count",
            Signal::FailureCount => "failure_count",
        }
    }
}

/// The detector's parameters. [`Params::default`] is what the pipeline runs; the reasoning
/// behind each value is in `docs/events.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Rate of positives while a series is normal. OONI uses μ0 = 0; a likelihood needs a
    /// non-zero rate, and 5% absorbs probe noise.
    pub p0: f64,
    /// Rate of positives while blocked (OONI's μ1 = 0.7).
    pub p1: f64,
    /// Expected detection delay, in blocked measurements: the threshold `h` is
    /// `edd_measurements × KL(p1 ‖ p0)` (OONI derives h from its EDD the same way).
    pub edd_measurements: f64,
    /// The cost of leaving the blocked state, in nats. Small: the end of a blocking episode
    /// is placed where the clean evidence starts; entering costs the full `h`.
    pub exit_cost: f64,
    /// A series whose own baseline (outside its episodes) is clearly above `p0` is detected
    /// again against that baseline, capped at this rate.
    pub max_baseline: f64,
    /// Events of one country and stage whose onsets lie within this many days of each other
    /// share a `group_id` (chained: a group grows while the next onset is that close).
    pub group_onset_tolerance_days: i64,
    /// Witness measurements listed per event.
    pub witnesses: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            p0: 0.05,
            p1: 0.7,
            edd_measurements: 4.0,
            exit_cost: 0.5,
            max_baseline: 0.5,
            group_onset_tolerance_days: 2,
            witnesses: 3,
        }
    }
}

impl Params {
    /// The detection threshold `h` (nats) for a normal rate `p0`: `edd × KL(p1 ‖ p0)` at the
    /// configured `p0`. It stays fixed when a series is re-detected against its own
    /// baseline, so a noisy series needs more evidence, never less.
    pub fn threshold(&self) -> f64 {
        self.edd_measurements * kl(self.p1, self.p0)
    }
}

/// The key of one series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Country code.
    pub probe_cc: String,
    /// Autonomous system number.
    pub probe_asn: u32,
    /// OONI test name (snake_case).
    pub test_name: String,
    /// Target domain; `None` for tests without one.
    pub domain: Option<String>,
    /// The stage carrying the signal (`dns`, `tcp`, `tls`, `http`).
    pub stage: String,
}

/// One day of one series: how many measurements, how many positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCount {
    /// The measurement day (UTC).
    pub day: NaiveDate,
    /// Measurements with an outcome that day (`measurement_count`).
    pub measurements: u64,
    /// Of those, the positives (`blocked_count` or `failure_count`).
    pub positives: u64,
    /// The day's most frequent blocking kind or failure, if any.
    pub top_kind: Option<String>,
}

/// Measurements and positives summed over some days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Measurements.
    pub measurements: u64,
    /// Positives among them.
    pub positives: u64,
}

impl Counts {
    fn add(&mut self, measurements: u64, positives: u64) {
        self.measurements += measurements;
        self.positives += positives;
    }

    /// The rate and its 95% Wilson interval, `None` when nothing was measured.
    pub fn wilson(&self) -> Option<(f64, f64, f64)> {
        wilson(self.positives, self.measurements)
    }
}

/// One blocking episode of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The last day with data before the episode, when the series looked normal (`None`
    /// when the series starts blocked). The onset lies in `(onset_last_clean_day, onset_day]`.
    pub onset_last_clean_day: Option<NaiveDate>,
    /// The first blocked day (the first day with data inside the episode).
    pub onset_day: NaiveDate,
    /// The last day with data inside the episode. The end lies in
    /// `(end_last_blocked_day, end_day]`.
    pub end_last_blocked_day: NaiveDate,
    /// The first day with data back to normal (exclusive end); `None` while ongoing (no
    /// normal day after the episode in the available history).
    pub end_day: Option<NaiveDate>,
    /// Whether the normal evidence after the episode reaches the threshold `h` (what
    /// OONI's downward CUSUM requires before it declares the end); `None` while ongoing.
    pub end_confirmed: Option<bool>,
    /// Days with data in `[onset_day, end_last_blocked_day]`.
    pub days_with_data: u32,
    /// Days without data in `[onset_day, end_last_blocked_day]`: gaps the episode spans.
    pub days_without_data: u32,
    /// Counts inside the episode.
    pub inside: Counts,
    /// Log-likelihood ratio of the episode's days (nats): its strength.
    pub evidence: f64,
    /// The most frequent blocking kind (or failure) inside, weighted by positives.
    pub kind: Option<String>,
}

/// What the detector found in one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesEvents {
    /// The episodes, in time order.
    pub episodes: Vec<Episode>,
    /// Counts on the days with data outside every episode: the series' own baseline.
    pub baseline: Counts,
    /// The normal rate the episodes were detected against: `Params::p0`, or the series'
    /// baseline when that is clearly higher.
    pub p0: f64,
}

/// Sorts the days and adds up rows of the same day (a late upload's partial aggregate
/// adds to its day), so the result does not depend on the order of the input.
fn normalize(days: &[DailyCount]) -> Vec<(NaiveDate, Counts, BTreeMap<String, u64>)> {
    let mut by_day: BTreeMap<NaiveDate, (Counts, BTreeMap<String, u64>)> = BTreeMap::new();
    for d in days {
        let entry = by_day.entry(d.day).or_default();
        entry.0.add(d.measurements, d.positives);
        if let Some(kind) = &d.top_kind {
            *entry.1.entry(kind.clone()).or_default() += d.positives;
        }
    }
    by_day
        .into_iter()
        .filter(|(_, (c, _))| c.measurements > 0)
        .map(|(day, (c, kinds))| (day, c, kinds))
        .collect()
}

/// The maximum-likelihood blocked/normal path over the days with data: `true` = blocked.
///
/// Score = Σ over blocked days of the day's log-likelihood ratio − `enter` per entry into
/// the blocked state − `exit` per exit. The path starts normal (so an episode at the start
/// pays `enter` too) and may end blocked without paying `exit` (an ongoing episode). Ties
/// go to "normal", so weak evidence never makes an episode.
fn viterbi(evidence: &[f64], enter: f64, exit: f64) -> Vec<bool> {
    let n = evidence.len();
    // came_from[i] = (state before day i when day i is normal, … when day i is blocked).
    let mut came_from = Vec::with_capacity(n);
    let (mut normal, mut blocked) = (0.0_f64, f64::NEG_INFINITY);
    for &e in evidence {
        let (normal_from_blocked, n_next) = if blocked - exit > normal {
            (true, blocked - exit)
        } else {
            (false, normal)
        };
        let (blocked_from_blocked, b_next) = if blocked >= normal - enter {
            (true, blocked + e)
        } else {
            (false, normal - enter + e)
        };
        came_from.push((normal_from_blocked, blocked_from_blocked));
        normal = n_next;
        blocked = b_next;
    }
    let mut path = vec![false; n];
    let mut state = blocked > normal;
    for i in (0..n).rev() {
        path[i] = state;
        let (normal_from_blocked, blocked_from_blocked) = came_from[i];
        state = if state {
            blocked_from_blocked
        } else {
            normal_from_blocked
        };
    }
    path
}

/// The days of one detection pass: the episodes as index ranges into `days`.
fn episodes_of(path: &[bool]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &blocked) in path.iter().enumerate() {
        match (blocked, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, path.len() - 1));
    }
    runs
}

/// Detects the blocking episodes of one series from its daily counts, in any order (rows of
/// the same day are added up). Days not listed, or listed with no measurements, are "no
/// data". Pure and deterministic.
pub fn detect_series(days: &[DailyCount], params: &Params) -> SeriesEvents {
    let days = normalize(days);
    let h = params.threshold();
    let pass = |p0: f64| {
        let evidence: Vec<f64> = days
            .iter()
            .map(|(_, c, _)| llr(c.positives, c.measurements, p0, params.p1))
            .collect();
        let runs = episodes_of(&viterbi(&evidence, h, params.exit_cost));
        let mut baseline = Counts::default();
        let mut inside = vec![false; days.len()];
        for &(s, e) in &runs {
            inside[s..=e].iter_mut().for_each(|x| *x = true);
        }
        for ((_, c, _), _) in days.iter().zip(&inside).filter(|(_, inside)| !**inside) {
            baseline.add(c.measurements, c.positives);
        }
        (evidence, runs, baseline)
    };
    let mut p0 = params.p0;
    let (mut evidence, mut runs, mut baseline) = pass(p0);
    // Against the series' own baseline: a series that fails more than p0 even outside its
    // episodes (a flaky network, a site often down) is detected again at that rate, once,
    // so its everyday noise does not read as blocking.
    if let Some((rate, low, _)) = baseline.wilson() {
        let cap = params.max_baseline.min(params.p1 - 0.1);
        if low > params.p0 && cap > params.p0 {
            p0 = rate.min(cap);
            (evidence, runs, baseline) = pass(p0);
        }
    }
    let episodes = runs
        .iter()
        .enumerate()
        .map(|(r, &(s, e))| {
            let mut inside = Counts::default();
            let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
            for (_, c, day_kinds) in &days[s..=e] {
                inside.add(c.measurements, c.positives);
                for (kind, n) in day_kinds {
                    *kinds.entry(kind.as_str()).or_default() += n;
                }
            }
            // The most frequent kind; ties to the alphabetically first, for determinism.
            let kind = kinds
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .filter(|(_, n)| **n > 0)
                .map(|(k, _)| (*k).to_owned());
            let onset_day = days[s].0;
            let last = days[e].0;
            let span = (last - onset_day).num_days() + 1;
            let with = (e - s + 1) as i64;
            // After the episode, up to the next one: the downward CUSUM of the clean days.
            let next_start = runs.get(r + 1).map_or(days.len(), |&(ns, _)| ns);
            let end_day = days.get(e + 1).map(|d| d.0);
            let end_confirmed = end_day.map(|_| {
                let mut down = 0.0_f64;
                evidence[e + 1..next_start].iter().any(|&x| {
                    down = (down - x).max(0.0);
                    down >= h
                })
            });
            Episode {
                onset_last_clean_day: s.checked_sub(1).map(|i| days[i].0),
                onset_day,
                end_last_blocked_day: last,
                end_day,
                end_confirmed,
                days_with_data: u32::try_from(with).unwrap_or(u32::MAX),
                days_without_data: u32::try_from(span - with).unwrap_or(u32::MAX),
                inside,
                evidence: evidence[s..=e].iter().sum(),
                kind,
            }
        })
        .collect();
    SeriesEvents {
        episodes,
        baseline,
        p0,
    }
}

/// A detected blocking event: one episode of one series, with its identity, its group and
/// its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Stable across reruns: a hash of the series key and the onset day.
    pub event_id: String,
    /// Shared by the events of one country and stage whose onsets chain within
    /// `Params::group_onset_tolerance_days`: one national block reads as one story.
    pub group_id: String,
    /// The series.
    pub key: SeriesKey,
    /// The column counted as positives.
    pub signal: Signal,
    /// The episode.
    pub episode: Episode,
    /// The series' counts outside all of its episodes.
    pub baseline: Counts,
    /// The normal rate the episode was detected against.
    pub p0: f64,
    /// The network's most frequent `probe_network_name`, when the measurements were given.
    pub probe_network_name: Option<String>,
    /// Witness `measurement_uid`s (positives inside the episode), when outcomes were given.
    pub witnesses: Vec<String>,
}

/// 16 hex digits of SHA-256 over the parts, separated by a byte no part contains.
fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p.as_bytes());
        hasher.update([0x1f]);
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The stable id of the event of `key` starting on `onset_day`.
pub fn event_id(key: &SeriesKey, onset_day: NaiveDate) -> String {
    short_hash(&[
        "event",
        &key.probe_cc,
        &key.probe_asn.to_string(),
        &key.test_name,
        key.domain.as_deref().unwrap_or(""),
        &key.stage,
        &onset_day.to_string(),
    ])
}

/// Runs the detector over every series in `cells` (any order; rows of the same series and
/// day are added up) and groups the events. Events are sorted by country, onset, ASN,
/// test, domain and stage.
pub fn detect(
    cells: impl IntoIterator<Item = (SeriesKey, DailyCount)>,
    signal: Signal,
    params: &Params,
) -> Vec<Event> {
    let mut series: BTreeMap<SeriesKey, Vec<DailyCount>> = BTreeMap::new();
    for (key, day) in cells {
        series.entry(key).or_default().push(day);
    }
    let mut events = Vec::new();
    for (key, days) in series {
        let found = detect_series(&days, params);
        for episode in found.episodes {
            events.push(Event {
                event_id: event_id(&key, episode.onset_day),
                group_id: String::new(),
                key: key.clone(),
                signal,
                episode,
                baseline: found.baseline,
                p0: found.p0,
                probe_network_name: None,
                witnesses: Vec::new(),
            });
        }
    }
    assign_groups(&mut events, params.group_onset_tolerance_days);
    events.sort_by(|a, b| {
        (&a.key.probe_cc, a.episode.onset_day, &a.key).cmp(&(
            &b.key.probe_cc,
            b.episode.onset_day,
            &b.key,
        ))
    });
    events
}

/// Groups events of one country and stage whose onsets chain within `tolerance` days; the
/// group id hashes the country, the stage and the group's first onset day.
fn assign_groups(events: &mut [Event], tolerance: i64) {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| {
        let (ea, eb) = (&events[a], &events[b]);
        (
            &ea.key.probe_cc,
            &ea.key.stage,
            ea.episode.onset_day,
            &ea.key,
        )
            .cmp(&(
                &eb.key.probe_cc,
                &eb.key.stage,
                eb.episode.onset_day,
                &eb.key,
            ))
    });
    let mut current: Option<(String, String, NaiveDate, String)> = None;
    for i in order {
        let (cc, stage, onset) = {
            let e = &events[i];
            (
                e.key.probe_cc.clone(),
                e.key.stage.clone(),
                e.episode.onset_day,
            )
        };
        let id = match &mut current {
            Some((gcc, gstage, latest, id))
                if *gcc == cc && *gstage == stage && (onset - *latest).num_days() <= tolerance =>
            {
                *latest = onset;
                id.clone()
            }
            _ => {
                let id = short_hash(&["group", &cc, &stage, &onset.to_string()]);
                current = Some((cc, stage, onset, id.clone()));
                id
            }
        };
        events[i].group_id = id;
    }
}

/// The distinct series keys of some events (to select their witnesses).
pub(crate) fn keys_of(events: &[Event]) -> BTreeSet<SeriesKey> {
    events.iter().map(|e| e.key.clone()).collect()
}
