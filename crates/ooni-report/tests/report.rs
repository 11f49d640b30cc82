//! The report and the CSV export on small hand-made tables. The real pipeline's output of
//! the synthetic Azerbaijan-2020 scenario, rendered in headless Chromium, is checked by the
//! e2e suite (`tests/e2e/report.rs`) through `ooni-pipeline report`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;

fn day(i: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 9, 20).unwrap() + chrono::Duration::days(i)
}

fn write_parquet(frame: &mut DataFrame, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let bytes = ooni_aggregate::to_parquet_bytes(frame, "test").unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// failure_rates for two networks of "XA" over 20 days: TLS to web.example.org blocked on
/// AS64500 from day 5 to 14 inclusive, TCP fine; AS64501 never blocked; no data on 8–9.
/// One file per day, as the pipeline writes them. And a measurements file whose network
/// name tries to inject markup.
fn tables(dir: &Path) -> ooni_report::Inputs {
    let mut failure_rates = Vec::new();
    for i in 0..20 {
        if i == 8 || i == 9 {
            continue;
        }
        let mut rows: Vec<(u32, &str, u32, u32)> = Vec::new();
        for asn in [64500u32, 64501] {
            let blocked = asn == 64500 && (5..15).contains(&i);
            rows.push((asn, "tcp", 3, 0));
            rows.push((asn, "tls", 3, if blocked { 3 } else { 0 }));
        }
        let n = rows.len();
        let mut frame = df!(
            "measurement_day" => vec![day(i); n],
            "probe_cc" => vec!["XA"; n],
            "probe_asn" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "test_name" => vec!["web_connectivity"; n],
            "domain" => vec!["web.example.org"; n],
            "stage" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "measurement_count" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "failure_count" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            "top_failure" => rows.iter().map(|r| (r.3 > 0).then_some("connection_reset")).collect::<Vec<_>>(),
        )
        .unwrap();
        let path = dir.join(format!("failure_rates/{}.parquet", day(i)));
        write_parquet(&mut frame, &path);
        failure_rates.push(path);
    }
    let mut measurements = df!(
        "measurement_uid" => ["a", "b"],
        "probe_cc" => ["XA", "XA"],
        "probe_asn" => [64500u32, 64501],
        "probe_network_name" => ["<script>alert(1)</script> Net", "Second & Co"],
    )
    .unwrap();
    let m = dir.join(format!(
        "measurements/test_name=web_connectivity/measurement_day={}/part-x.parquet",
        day(0)
    ));
    write_parquet(&mut measurements, &m);
    ooni_report::Inputs {
        failure_rates,
        measurements: vec![m],
        ..Default::default()
    }
}

#[test]
fn a_country_page_has_the_story_the_network_table_heatmaps_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = tables(dir.path());
    let report = ooni_report::Report::load(&inputs).unwrap();
    assert_eq!(report.countries(), ["XA"]);
    let html = report.render_country("XA").unwrap();
    // Self-contained: no scripts, no external resources.
    assert!(
        !html.contains("<script"),
        "markup from a network name was not escaped"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Net"));
    assert!(html.contains("Second &amp; Co"));
    for external in ["src=\"http", "href=\"http://", "@import", "url("] {
        assert!(!html.contains(external), "{external}");
    }
    // The event, its dates, the heatmaps.
    assert!(html.contains("2020-09-25"), "onset day 5 = 2020-09-25");
    assert!(
        html.contains("2020-10-05"),
        "first normal day 15 = 2020-10-05"
    );
    assert!(html.contains("TLS handshake blocked (connection_reset)"));
    assert!(html.contains("TCP connect ok"));
    assert!(html.matches("<svg").count() >= 2, "legend and a heatmap");
    assert!(
        html.contains("not blocked"),
        "AS64501 measured without an event"
    );
    assert!(matches!(
        report.render_country("XB"),
        Err(ooni_report::ReportError::NoData(_))
    ));
    assert!(matches!(
        report.render_country("../x"),
        Err(ooni_report::ReportError::BadCountry(_))
    ));

    let dest = dir.path().join("report");
    let written = ooni_report::write_reports(&inputs, &dest, &[]).unwrap();
    assert_eq!(written, [dest.join("XA.html")]);
}

#[test]
fn csv_export_filters_by_country_and_days() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = tables(dir.path());
    let filter = ooni_report::Filter {
        probe_cc: vec!["XA".into()],
        since: Some(day(5)),
        until: Some(day(7)),
    };
    let mut out = Vec::new();
    let rows = ooni_report::export_csv(
        ooni_report::Table::FailureRates,
        &inputs.failure_rates,
        &filter,
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(rows, 8, "2 days × 2 networks × 2 stages:\n{text}");
    assert_eq!(lines.len(), 9);
    assert!(lines[0].starts_with("measurement_day,probe_cc,probe_asn,"));
    assert!(lines[1].starts_with("2020-09-25,XA,64500,web_connectivity,web.example.org,"));
    assert!(lines.iter().skip(1).all(|l| !l.starts_with("2020-09-27")));

    // Another country: a header and no rows.
    let mut none = Vec::new();
    let filter = ooni_report::Filter {
        probe_cc: vec!["AZ".into()],
        ..Default::default()
    };
    let rows = ooni_report::export_csv(
        ooni_report::Table::FailureRates,
        &inputs.failure_rates,
        &filter,
        &mut none,
    )
    .unwrap();
    assert_eq!(rows, 0);
    assert_eq!(String::from_utf8(none).unwrap().lines().count(), 1);

    // Events: detected, written, exported with the witnesses flattened.
    let params = ooni_events::Params::default();
    let events = ooni_events::blocking_events(
        &ooni_events::Inputs {
            failure_rates: inputs.failure_rates.clone(),
            ..Default::default()
        },
        &params,
    )
    .unwrap();
    let path = dir.path().join("blocking_events/blocking_events.parquet");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ooni_events::write_table(&events, &path).unwrap();
    let mut out = Vec::new();
    let rows = ooni_report::export_csv(
        ooni_report::Table::BlockingEvents,
        &[path],
        &ooni_report::Filter::default(),
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(rows, 1, "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("event_id,group_id,probe_cc,")
    );
    assert!(text.contains(",XA,64500,"));
    assert!(text.contains(",2020-09-25,"));
    assert!("failure_rates".parse::<ooni_report::Table>().is_ok());
    assert!("nope".parse::<ooni_report::Table>().is_err());
}
