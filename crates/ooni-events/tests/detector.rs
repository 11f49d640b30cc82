//! The detector on hand-made series: gaps are "no data", a single noisy failure is not an
//! event, counts matter (1/1 is weak, 30/40 strong), a noisy series is judged against its own
//! baseline, and the same data in any order — late-arriving days, a day's counts split
//! across late uploads, a rerun over a longer history — give the same events.

#![allow(clippy::unwrap_used, missing_docs)]

use chrono::NaiveDate;
use ooni_events::{DailyCount, Event, Params, SeriesKey, Signal, detect, detect_series};

fn day(i: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 9, 1).unwrap() + chrono::Duration::days(i)
}

fn count(i: i64, n: u64, k: u64) -> DailyCount {
    DailyCount {
        day: day(i),
        measurements: n,
        positives: k,
        top_kind: (k > 0).then(|| "generic_timeout_error".to_owned()),
    }
}

fn key(asn: u32, domain: &str) -> SeriesKey {
    SeriesKey {
        probe_cc: "AZ".into(),
        probe_asn: asn,
        test_name: "whatsapp".into(),
        domain: Some(domain.into()),
        stage: "tls".into(),
    }
}

#[test]
fn a_single_noisy_failed_measurement_is_not_an_event() {
    let mut days: Vec<DailyCount> = (0..30).map(|i| count(i, 3, 0)).collect();
    days[12] = count(12, 1, 1);
    let found = detect_series(&days, &Params::default());
    assert!(found.episodes.is_empty(), "{found:#?}");
    assert_eq!(found.baseline.positives, 1);
}

#[test]
fn counts_matter_not_only_rates() {
    let p = Params::default();
    // 1/1 is a 100% day, but weak: one measurement.
    let one = [count(0, 3, 0), count(1, 1, 1), count(2, 3, 0)];
    assert!(detect_series(&one, &p).episodes.is_empty());
    // 30/40 is strong evidence in a single day.
    let strong = [count(0, 40, 0), count(1, 40, 30), count(2, 40, 1)];
    let found = detect_series(&strong, &p);
    assert_eq!(found.episodes.len(), 1);
    let e = &found.episodes[0];
    assert_eq!((e.onset_day, e.end_day), (day(1), Some(day(2))));
    assert_eq!((e.inside.measurements, e.inside.positives), (40, 30));
}

#[test]
fn gaps_are_no_data_never_ok() {
    // Clean days 0–4, no data 5–9, blocked 10–15, no data 16–40, blocked 41–45, then the
    // block is lifted (46–50 clean).
    let mut days: Vec<DailyCount> = (0..5).map(|i| count(i, 3, 0)).collect();
    days.extend((10..16).map(|i| count(i, 2, 2)));
    days.extend((41..46).map(|i| count(i, 2, 2)));
    days.extend((46..51).map(|i| count(i, 3, 0)));
    let found = detect_series(&days, &Params::default());
    assert_eq!(
        found.episodes.len(),
        1,
        "a gap does not end a block: {found:#?}"
    );
    let e = &found.episodes[0];
    // The onset lies somewhere after the last clean day (4) and by the first blocked one.
    assert_eq!(e.onset_last_clean_day, Some(day(4)));
    assert_eq!(e.onset_day, day(10));
    assert_eq!(e.end_last_blocked_day, day(45));
    assert_eq!(e.end_day, Some(day(46)));
    assert_eq!(e.days_with_data, 11);
    assert_eq!(e.days_without_data, 25);
    // Missing days count for nothing: the baseline is the clean days only.
    assert_eq!(found.baseline.measurements, 30);

    // A block whose data stop: ongoing, not ended by the silence that follows.
    let stopped: Vec<DailyCount> = (0..5)
        .map(|i| count(i, 3, 0))
        .chain((5..10).map(|i| count(i, 2, 2)))
        .collect();
    let found = detect_series(&stopped, &Params::default());
    assert_eq!(found.episodes.len(), 1);
    assert_eq!(found.episodes[0].end_day, None);
    assert_eq!(found.episodes[0].end_confirmed, None);
}

#[test]
fn a_few_successes_inside_a_block_do_not_split_it() {
    let mut days: Vec<DailyCount> = (0..5).map(|i| count(i, 3, 0)).collect();
    days.extend((5..20).map(|i| count(i, 3, 3)));
    days[9] = count(9, 1, 0); // one successful measurement on a blocked day
    days[14] = count(14, 3, 1);
    days.extend((20..30).map(|i| count(i, 3, 0)));
    let found = detect_series(&days, &Params::default());
    assert_eq!(found.episodes.len(), 1, "{found:#?}");
    let e = &found.episodes[0];
    assert_eq!((e.onset_day, e.end_day), (day(5), Some(day(20))));
    // Thirty clean measurements after the block: the end is confirmed, as OONI's
    // downward CUSUM would require.
    assert_eq!(e.end_confirmed, Some(true));

    // One clean measurement after a block is the most likely end, but not confirmed.
    let mut short: Vec<DailyCount> = (0..5).map(|i| count(i, 3, 0)).collect();
    short.extend((5..10).map(|i| count(i, 2, 2)));
    short.push(count(10, 1, 0));
    let e = &detect_series(&short, &Params::default()).episodes[0];
    assert_eq!((e.end_day, e.end_confirmed), (Some(day(10)), Some(false)));
}

#[test]
fn a_noisy_series_is_judged_against_its_own_baseline() {
    // A network where ~20% of TLS handshakes fail every day, with two 40% days in a row
    // (noise) and a real block (80%) on days 40–49.
    let pattern = [2, 1, 3, 2, 2, 1, 2, 3];
    let days: Vec<DailyCount> = (0..60)
        .map(|i| {
            let k = match i {
                20 | 21 => 4,
                40..=49 => 8,
                _ => pattern[usize::try_from(i).unwrap() % pattern.len()],
            };
            count(i, 10, k)
        })
        .collect();
    let found = detect_series(&days, &Params::default());
    assert!(found.p0 > 0.15, "the baseline replaced p0: {}", found.p0);
    assert_eq!(found.episodes.len(), 1, "{found:#?}");
    let e = &found.episodes[0];
    assert_eq!((e.onset_day, e.end_day), (day(40), Some(day(50))));
}

/// A small country: two networks, two targets, blocks with gaps, a noisy failure, a
/// success inside a block, and a block still on at the end.
fn country() -> Vec<(SeriesKey, DailyCount)> {
    let mut cells = Vec::new();
    for (asn, onset, end) in [(1u32, 10i64, 30i64), (2, 11, 60)] {
        for domain in ["web.whatsapp.com", "v.whatsapp.net"] {
            for i in 0..45 {
                if (18..24).contains(&i) {
                    continue; // no data
                }
                let blocked = i >= onset && i < end;
                let k = match (blocked, i) {
                    (true, 15) => 0, // a success inside the block
                    (true, _) => 2,
                    (false, 5) if asn == 1 => 1, // one noisy failure
                    _ => 0,
                };
                cells.push((key(asn, domain), count(i, 2, k)));
            }
        }
    }
    cells
}

/// Deterministic shuffles: reversed, interleaved, and rotated.
fn orders(cells: &[(SeriesKey, DailyCount)]) -> Vec<Vec<(SeriesKey, DailyCount)>> {
    let mut reversed = cells.to_vec();
    reversed.reverse();
    let (even, odd): (Vec<_>, Vec<_>) = cells
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let interleaved = odd.into_iter().chain(even).map(|(_, c)| c).collect();
    let mut rotated = cells.to_vec();
    rotated.rotate_left(cells.len() / 3);
    vec![reversed, interleaved, rotated]
}

#[test]
fn the_same_data_in_any_order_give_the_same_events() {
    let params = Params::default();
    let cells = country();
    let reference = detect(cells.clone(), Signal::FailureCount, &params);
    assert_eq!(reference.len(), 4, "{reference:#?}");
    for order in orders(&cells) {
        assert_eq!(detect(order, Signal::FailureCount, &params), reference);
    }

    // Late uploads: a day's counts arrive as two partial rows, in a later batch.
    let mut late: Vec<(SeriesKey, DailyCount)> = Vec::new();
    let mut later = Vec::new();
    for (key, c) in &cells {
        if c.day >= day(25) && c.day <= day(27) && c.measurements == 2 {
            let half = |k: u64| DailyCount {
                measurements: 1,
                positives: k,
                ..c.clone()
            };
            late.push((key.clone(), half(c.positives.min(1))));
            later.push((key.clone(), half(c.positives - c.positives.min(1))));
        } else {
            late.push((key.clone(), c.clone()));
        }
    }
    late.extend(later);
    assert_eq!(detect(late, Signal::FailureCount, &params), reference);

    // Events are grouped: same country, stage and onset within two days.
    let groups: std::collections::BTreeSet<&str> =
        reference.iter().map(|e| e.group_id.as_str()).collect();
    assert_eq!(groups.len(), 1);
}

#[test]
fn a_rerun_over_a_longer_history_keeps_the_event_ids() {
    let params = Params::default();
    let cells = country();
    // Tonight's run sees days up to 35: AS2's block (11–59) is ongoing.
    let early: Vec<_> = cells
        .iter()
        .filter(|(_, c)| c.day <= day(35))
        .cloned()
        .collect();
    let tonight = detect(early, Signal::FailureCount, &params);
    let full = detect(cells, Signal::FailureCount, &params);
    let ids = |events: &[Event]| {
        events
            .iter()
            .map(|e| (e.event_id.clone(), e.episode.onset_day))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&tonight), ids(&full));
    let ongoing: Vec<&Event> = tonight.iter().filter(|e| e.key.probe_asn == 2).collect();
    assert!(ongoing.iter().all(|e| e.episode.end_day.is_none()));
    let asn1: Vec<&Event> = full.iter().filter(|e| e.key.probe_asn == 1).collect();
    assert!(
        asn1.iter()
            .all(|e| e.episode.onset_day == day(10) && e.episode.end_day == Some(day(30)))
    );
    // AS2's block outlasts the data (its last day is 44): still ongoing.
    assert!(
        full.iter()
            .filter(|e| e.key.probe_asn == 2)
            .all(|e| e.episode.onset_day == day(11) && e.episode.end_day.is_none())
    );
}

#[test]
fn the_table_round_trips_through_parquet() {
    let params = Params::default();
    let events = detect(country(), Signal::FailureCount, &params);
    let frame = ooni_events::events_frame(&events, &params).unwrap();
    assert_eq!(
        frame
            .get_column_names()
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        ooni_events::COLUMNS
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocking_events.parquet");
    ooni_events::write_table(&frame, &path).unwrap();
    let back = ooni_events::read_table(&[path]).unwrap();
    assert_eq!(back.height(), events.len());
    assert_eq!(back.get_column_names(), frame.get_column_names());
    // An empty table still has its columns.
    let empty = ooni_events::events_frame(&[], &params).unwrap();
    let empty_path = dir.path().join("empty.parquet");
    ooni_events::write_table(&empty, &empty_path).unwrap();
    assert_eq!(
        ooni_events::read_table(&[empty_path]).unwrap().width(),
        ooni_events::COLUMNS.len()
    );
}

/// failure_rates files for one series over `days`: every measurement fails (`failure_count`),
/// but only days 5–9 are confirmed interference (`blocked_count`, when `with_blocked`).
fn failure_rates_files(dir: &std::path::Path, with_blocked: &[bool]) -> Vec<std::path::PathBuf> {
    use polars::prelude::*;
    std::fs::create_dir_all(dir).unwrap();
    with_blocked
        .iter()
        .enumerate()
        .map(|(i, &with_blocked)| {
            let i = i64::try_from(i).unwrap();
            let blocked = u32::from((5..10).contains(&i)) * 3;
            let mut frame = df!(
                "measurement_day" => [day(i)],
                "probe_cc" => ["AZ"],
                "probe_asn" => [1u32],
                "test_name" => ["web_connectivity"],
                "domain" => ["example.org"],
                "stage" => ["tls"],
                "measurement_count" => [3u32],
                "failure_count" => [3u32],
                "top_failure" => ["generic_timeout_error"],
            )
            .unwrap();
            if with_blocked {
                frame
                    .with_column(Column::new("blocked_count".into(), [blocked]))
                    .unwrap();
                frame
                    .with_column(Column::new(
                        "top_blocking_kind".into(),
                        [(blocked > 0).then_some("tls.sni_reset")],
                    ))
                    .unwrap();
            }
            let path = dir.join(format!("{}.parquet", day(i)));
            let bytes = ooni_aggregate::to_parquet_bytes(&mut frame, "test").unwrap();
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

#[test]
fn blocked_count_is_the_signal_when_every_file_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let params = Params::default();
    let inputs = |files| ooni_events::Inputs {
        failure_rates: files,
        ..Default::default()
    };
    // Every file has blocked_count: the event is the confirmed interference only.
    let all = failure_rates_files(&dir.path().join("new"), &[true; 15]);
    assert_eq!(ooni_events::signal_of(&all).unwrap(), Signal::BlockedCount);
    let events = ooni_events::detect_files(&inputs(all), &params).unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].signal, Signal::BlockedCount);
    assert_eq!(
        (events[0].episode.onset_day, events[0].episode.end_day),
        (day(5), Some(day(10)))
    );
    assert_eq!(events[0].episode.kind.as_deref(), Some("tls.sni_reset"));

    // Files from before the column existed mixed in: failure_count for every series, so
    // no series mixes two meanings (here: failing throughout, one event from day 0).
    let mut flags = [true; 15];
    flags[0] = false;
    let mixed = failure_rates_files(&dir.path().join("mixed"), &flags);
    assert_eq!(
        ooni_events::signal_of(&mixed).unwrap(),
        Signal::FailureCount
    );
    let events = ooni_events::detect_files(&inputs(mixed), &params).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].signal, Signal::FailureCount);
    assert_eq!(
        (events[0].episode.onset_day, events[0].episode.end_day),
        (day(0), None)
    );
    assert_eq!(events[0].episode.onset_last_clean_day, None);
}
