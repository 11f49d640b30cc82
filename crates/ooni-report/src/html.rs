//! One country's page: what happened (the event groups), the per-network table, the
//! heatmaps, every event with its evidence, and the targets measured without an event.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use ooni_events::Signal;

use crate::heatmap::{self, DayAxis, Panel};
use crate::{Country, Event, Report, ReportError};

const STAGES: [&str; 4] = ["dns", "tcp", "tls", "http"];
/// Targets without an event drawn for comparison, at most.
const COMPARISON_HEATMAPS: usize = 3;
/// Below this share of positives a stage reads as "ok" in the signatures.
const OK_RATE: f64 = 0.1;

const CSS: &str = r#"
body { font-family: sans-serif; margin: 24px auto; max-width: 1400px; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.blocked { background: #fde0dc; }
td.ok { color: #2a6b2a; }
td.nodata { color: #999; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.how { font-size: 12px; color: #444; }
.uid { font-family: monospace; font-size: 12px; }
figure { margin: 1em 0 2em; overflow-x: auto; }
figcaption { font-weight: bold; margin-bottom: 4px; }
ul.stories li { margin-bottom: 0.6em; }
footer { margin-top: 3em; font-size: 12px; color: #666; }
"#;

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A test's name as people say it.
fn app_name(test: &str) -> String {
    match test {
        "whatsapp" => "WhatsApp".to_owned(),
        "telegram" => "Telegram".to_owned(),
        "facebook_messenger" => "Facebook Messenger".to_owned(),
        "signal" => "Signal".to_owned(),
        "web_connectivity" => "Web Connectivity".to_owned(),
        other => other
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn stage_label(stage: &str) -> &str {
    match stage {
        "dns" => "DNS",
        "tcp" => "TCP connect",
        "tls" => "TLS handshake",
        "http" => "HTTP request",
        other => other,
    }
}

fn target_label(test: &str, domain: Option<&str>) -> String {
    match (test, domain) {
        ("web_connectivity", Some(d)) => d.to_owned(),
        (t, Some(d)) => format!("{} · {d}", app_name(t)),
        (t, None) => app_name(t),
    }
}

fn rate(k: u64, n: u64) -> String {
    if n == 0 {
        "–".to_owned()
    } else {
        format!("{k}/{n} ({:.0}%)", 100.0 * k as f64 / n as f64)
    }
}

fn ci(ci: Option<(f64, f64, f64)>) -> String {
    ci.map_or_else(
        || "–".to_owned(),
        |(_, lo, hi)| format!("{:.0}–{:.0}%", 100.0 * lo, 100.0 * hi),
    )
}

/// A target: a test and its domain (none for tests without one).
type Target = (String, Option<String>);

/// A column of the per-network table: an app (every domain of its test) or a website.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    website: bool,
    test: String,
    domain: Option<String>,
}

impl Column {
    fn label(&self) -> String {
        match &self.domain {
            Some(d) => d.clone(),
            None => app_name(&self.test),
        }
    }

    fn matches(&self, test: &str, domain: Option<&str>) -> bool {
        self.test == test && (self.domain.is_none() || self.domain.as_deref() == domain)
    }
}

fn column_of(test: &str, domain: Option<&str>) -> Column {
    let website = test == "web_connectivity";
    Column {
        website,
        test: test.to_owned(),
        domain: if website {
            domain.map(str::to_owned)
        } else {
            None
        },
    }
}

struct Ctx<'a> {
    report: &'a Report,
    cc: &'a str,
    country: &'a Country,
}

impl Ctx<'_> {
    fn network(&self, asn: u32) -> String {
        match self.report.network_name(self.cc, asn) {
            Some(name) => format!("AS{asn} {name}"),
            None => format!("AS{asn}"),
        }
    }

    fn asns(&self) -> BTreeSet<u32> {
        self.country.counts.keys().map(|k| k.3).collect()
    }

    /// (measurements, positives) of `asn` for the column's test and domains at `stage`,
    /// over `[from, to]`.
    fn stage_counts(
        &self,
        asn: u32,
        test: &str,
        domains: &BTreeSet<Option<String>>,
        stage: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> (u64, u64) {
        let mut total = (0, 0);
        for ((t, d, s, a), days) in &self.country.counts {
            if *a == asn && t == test && s == stage && domains.contains(d) {
                for (_, (n, k)) in days.range(from..=to) {
                    total.0 += n;
                    total.1 += k;
                }
            }
        }
        total
    }

    /// "TLS handshake blocked (generic_timeout_error) · TCP connect ok · …" for some events
    /// of one network and test: the stages with events, then what the others showed over
    /// the same days — the signature of the blocking method.
    fn signature(&self, events: &[&Event]) -> String {
        let Some(first) = events.first() else {
            return String::new();
        };
        let from = events
            .iter()
            .map(|e| e.onset_day)
            .min()
            .unwrap_or(first.onset_day);
        let to = events
            .iter()
            .map(|e| e.end_last_blocked_day)
            .max()
            .unwrap_or(first.end_last_blocked_day);
        let domains: BTreeSet<Option<String>> = events.iter().map(|e| e.domain.clone()).collect();
        let mut parts = Vec::new();
        for stage in STAGES {
            let at_stage: Vec<&&Event> = events.iter().filter(|e| e.stage == stage).collect();
            if !at_stage.is_empty() {
                let kinds: BTreeSet<&str> =
                    at_stage.iter().filter_map(|e| e.kind.as_deref()).collect();
                let kinds: Vec<&str> = kinds.into_iter().collect();
                parts.push(if kinds.is_empty() {
                    format!("{} blocked", stage_label(stage))
                } else {
                    format!("{} blocked ({})", stage_label(stage), kinds.join(", "))
                });
                continue;
            }
            let (n, k) =
                self.stage_counts(first.probe_asn, &first.test_name, &domains, stage, from, to);
            if n == 0 {
                continue;
            }
            if (k as f64) <= OK_RATE * n as f64 {
                parts.push(format!("{} ok", stage_label(stage)));
            } else {
                parts.push(format!("{} fails {k}/{n}", stage_label(stage)));
            }
        }
        // The blocked stages first: that is the headline.
        parts.sort_by_key(|p| !p.contains("blocked"));
        parts.join(" · ")
    }
}

/// The page.
pub(crate) fn page(report: &Report, cc: &str, country: &Country) -> Result<String, ReportError> {
    let ctx = Ctx {
        report,
        cc,
        country,
    };
    let days: BTreeSet<NaiveDate> = country
        .counts
        .values()
        .flat_map(|d| d.keys().copied())
        .collect();
    let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
        return Err(ReportError::NoData(cc.to_owned()));
    };
    let axis = DayAxis::new(first, last);
    let asns = ctx.asns();
    let targets: BTreeSet<Target> = country
        .counts
        .keys()
        .map(|k| (k.0.clone(), k.1.clone()))
        .collect();
    let mut events: Vec<&Event> = country.events.iter().collect();
    events.sort_by(|a, b| {
        (a.onset_day, a.probe_asn, &a.test_name, &a.domain, &a.stage).cmp(&(
            b.onset_day,
            b.probe_asn,
            &b.test_name,
            &b.domain,
            &b.stage,
        ))
    });
    let positive = match report.signal {
        Signal::BlockedCount => "blocked",
        Signal::FailureCount => "failing",
    };
    let signal_note = match report.signal {
        Signal::BlockedCount => {
            "Signal: blocked_count — interference confirmed against a control measurement."
        }
        Signal::FailureCount => {
            "Signal: failure_count — failures at each stage; without a control, an outage also counts."
        }
    };

    let body = html! {
        header {
            h1 { "Internet censorship measurements: " (cc) }
            p.meta {
                "OONI measurements from " (day(first)) " to " (day(last)) " (UTC days) on "
                (asns.len()) " networks, " (targets.len()) " targets. " (signal_note)
            }
        }
        (stories(&ctx, &events))
        (network_table(&ctx, &events))
        (heatmaps(&ctx, &axis, &events, &targets, positive)?)
        (events_table(&ctx, &events))
        (others_table(&ctx, &events, &targets))
        footer {
            p {
                "Events: the blocking_events detector of ooni-pipeline (binomial likelihood, "
                "two-state maximum-likelihood path; method and parameters in docs/events.md). "
                "A day without measurements is \"no data\", never \"ok\": onsets and ends are "
                "given with their brackets (last clean day, first blocked day; last blocked day, "
                "first day back to normal)."
            }
            p { "Static page: no scripts, no external files. Generated by ooni-pipeline " (env!("CARGO_PKG_VERSION")) "." }
        }
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Blocking report: " (cc) }
                style { (PreEscaped(CSS)) }
            }
            body { (body) }
        }
    };
    Ok(page.into_string())
}

fn stories(ctx: &Ctx<'_>, events: &[&Event]) -> Markup {
    let mut groups: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        groups.entry(e.group_id.as_str()).or_default().push(e);
    }
    let mut groups: Vec<Vec<&Event>> = groups.into_values().collect();
    groups.sort_by_key(|g| g.iter().map(|e| e.onset_day).min());
    html! {
        section #stories {
            h2 { "What happened" }
            @if groups.is_empty() {
                p { "No blocking event was detected in these measurements." }
            } @else {
                ul.stories {
                    @for group in &groups {
                        li { (story(ctx, group)) }
                    }
                }
            }
        }
    }
}

fn story(ctx: &Ctx<'_>, group: &[&Event]) -> Markup {
    let mut apps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in group {
        let name = if e.test_name == "web_connectivity" {
            "websites".to_owned()
        } else {
            app_name(&e.test_name)
        };
        apps.entry(name)
            .or_default()
            .insert(e.domain.clone().unwrap_or_default());
    }
    let what: Vec<String> = apps
        .iter()
        .map(|(app, domains)| {
            let d: Vec<&str> = domains
                .iter()
                .map(String::as_str)
                .filter(|d| !d.is_empty())
                .collect();
            if d.is_empty() {
                app.clone()
            } else {
                format!("{app} ({})", d.join(", "))
            }
        })
        .collect();
    let asns: BTreeSet<u32> = group.iter().map(|e| e.probe_asn).collect();
    let stages: BTreeSet<&str> = group.iter().map(|e| stage_label(&e.stage)).collect();
    let kinds: BTreeSet<&str> = group.iter().filter_map(|e| e.kind.as_deref()).collect();
    let onset = group.iter().map(|e| e.onset_day).min();
    let last_onset = group.iter().map(|e| e.onset_day).max();
    let ongoing = group.iter().filter(|e| e.end_day.is_none()).count();
    let ended: Vec<NaiveDate> = group.iter().filter_map(|e| e.end_day).collect();
    let networks: Vec<String> = asns.iter().map(|a| ctx.network(*a)).collect();
    html! {
        strong { (what.join("; ")) }
        " — " (stages.into_iter().collect::<Vec<_>>().join(", ")) " blocked"
        @if !kinds.is_empty() { " (" (kinds.into_iter().collect::<Vec<_>>().join(", ")) ")" }
        " on " (asns.len()) " network" @if asns.len() != 1 { "s" } ": " (networks.join(", ")) ". "
        @if let (Some(onset), Some(last_onset)) = (onset, last_onset) {
            "First blocked day " (day(onset))
            @if last_onset != onset { " (onsets up to " (day(last_onset)) ")" }
            ". "
        }
        @if let (Some(first_end), Some(last_end)) = (ended.iter().min(), ended.iter().max()) {
            "Back to normal from " (day(*first_end))
            @if last_end != first_end { " to " (day(*last_end)) }
            " (first normal day; " (ended.len()) " of " (group.len()) " series). "
        }
        @if ongoing > 0 {
            (ongoing) " series still blocked at their last measurement (no normal day since). "
        }
        span.how { (group.len()) " events, group " (group[0].group_id) }
    }
}

fn network_table(ctx: &Ctx<'_>, events: &[&Event]) -> Markup {
    let mut columns: BTreeSet<Column> = events
        .iter()
        .map(|e| column_of(&e.test_name, e.domain.as_deref()))
        .collect();
    if columns.is_empty() {
        // No event: one column per test measured, to say so per network.
        columns = ctx
            .country
            .counts
            .keys()
            .map(|k| Column {
                website: k.0 == "web_connectivity",
                test: k.0.clone(),
                domain: None,
            })
            .collect();
    }
    let asns = ctx.asns();
    html! {
        section #networks {
            h2 { "Per network" }
            p { "For each network and target: the days it was blocked (first blocked day → first day back to normal) and how. Dates are UTC measurement days." }
            table.networks {
                thead { tr {
                    th { "Network" } th { "ASN" }
                    @for c in &columns { th { (c.label()) } }
                } }
                tbody {
                    @for asn in &asns {
                        tr {
                            td { (ctx.report.network_name(ctx.cc, *asn).unwrap_or("(unknown)")) }
                            td { "AS" (asn) }
                            @for c in &columns { (network_cell(ctx, *asn, c, events)) }
                        }
                    }
                }
            }
        }
    }
}

fn network_cell(ctx: &Ctx<'_>, asn: u32, column: &Column, events: &[&Event]) -> Markup {
    let mine: Vec<&Event> = events
        .iter()
        .copied()
        .filter(|e| e.probe_asn == asn && column.matches(&e.test_name, e.domain.as_deref()))
        .collect();
    if mine.is_empty() {
        let measured: u64 = ctx
            .country
            .counts
            .iter()
            .filter(|(k, _)| k.3 == asn && column.matches(&k.0, k.1.as_deref()))
            .map(|(_, days)| days.values().map(|c| c.0).max().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let days: usize = ctx
            .country
            .counts
            .iter()
            .filter(|(k, _)| k.3 == asn && column.matches(&k.0, k.1.as_deref()))
            .map(|(_, d)| d.len())
            .max()
            .unwrap_or(0);
        return if measured == 0 {
            html! { td.nodata { "no data" } }
        } else {
            html! { td.ok { "not blocked" br; span.how { "measured on " (days) " days" } } }
        };
    }
    let mut groups: BTreeMap<(NaiveDate, &str), Vec<&Event>> = BTreeMap::new();
    let mut first_onset: BTreeMap<&str, NaiveDate> = BTreeMap::new();
    for e in &mine {
        let entry = first_onset
            .entry(e.group_id.as_str())
            .or_insert(e.onset_day);
        *entry = (*entry).min(e.onset_day);
    }
    for e in &mine {
        groups
            .entry((first_onset[e.group_id.as_str()], e.group_id.as_str()))
            .or_default()
            .push(e);
    }
    html! {
        td.blocked {
            @for (i, group) in groups.values().enumerate() {
                @if i > 0 { hr; }
                @let onset = group.iter().map(|e| e.onset_day).min().unwrap_or(group[0].onset_day);
                @let ongoing = group.iter().any(|e| e.end_day.is_none());
                @let end = group.iter().filter_map(|e| e.end_day).max();
                @let last_seen = group.iter().map(|e| e.end_last_blocked_day).max().unwrap_or(onset);
                strong { (day(onset)) " → "
                    @if ongoing { "ongoing" } @else if let Some(end) = end { (day(end)) } }
                br;
                span.how {
                    @if ongoing { "last measured blocked " (day(last_seen)) "; " }
                    (ctx.signature(group))
                }
            }
        }
    }
}

fn heatmaps(
    ctx: &Ctx<'_>,
    axis: &DayAxis,
    events: &[&Event],
    targets: &BTreeSet<Target>,
    positive: &str,
) -> Result<Markup, ReportError> {
    let with_events: BTreeSet<Target> = events
        .iter()
        .map(|e| (e.test_name.clone(), e.domain.clone()))
        .collect();
    // For comparison, the targets without events that failed most (then measured most).
    let mut others: Vec<(u64, u64, &Target)> = targets
        .iter()
        .filter(|t| !with_events.contains(*t))
        .map(|t| {
            let (mut n, mut k) = (0, 0);
            for (key, days) in &ctx.country.counts {
                if key.0 == t.0 && key.1 == t.1 {
                    for c in days.values() {
                        n += c.0;
                        k += c.1;
                    }
                }
            }
            (k, n, t)
        })
        .collect();
    others.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
    // Apps first, then websites.
    let mut shown: Vec<(&Target, bool)> = with_events.iter().map(|t| (t, true)).collect();
    shown.sort_by_key(|(t, _)| (t.0 == "web_connectivity", *t));
    shown.extend(
        others
            .iter()
            .take(COMPARISON_HEATMAPS)
            .map(|(_, _, t)| (*t, false)),
    );
    let legend = heatmap::legend(&format!(
        "Colour: share of measurements {positive} at that stage, that day ({})",
        axis.describe()
    ))?;
    let mut figures = Vec::new();
    for ((test, domain), has_events) in shown {
        let rows: Vec<u32> = ctx
            .country
            .counts
            .keys()
            .filter(|k| &k.0 == test && &k.1 == domain)
            .map(|k| k.3)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let row_index: BTreeMap<u32, usize> =
            rows.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        let mut panels = Vec::new();
        for stage in STAGES {
            let mut cells: BTreeMap<(usize, i64), (u64, u64)> = BTreeMap::new();
            for ((t, d, s, asn), days) in &ctx.country.counts {
                if t != test || d != domain || s != stage {
                    continue;
                }
                let Some(&row) = row_index.get(asn) else {
                    continue;
                };
                for (day, (n, k)) in days {
                    let cell = cells.entry((row, axis.column(*day))).or_default();
                    cell.0 += n;
                    cell.1 += k;
                }
            }
            if cells.is_empty() {
                continue;
            }
            let outlines = events
                .iter()
                .filter(|e| &e.test_name == test && &e.domain == domain && e.stage == stage)
                .filter_map(|e| {
                    let row = *row_index.get(&e.probe_asn)?;
                    Some((
                        row,
                        axis.column(e.onset_day),
                        axis.column(e.end_last_blocked_day),
                    ))
                })
                .collect();
            panels.push(Panel {
                title: format!("{} — share {positive}", stage_label(stage)),
                cells,
                events: outlines,
            });
        }
        if panels.is_empty() {
            continue;
        }
        let labels: Vec<String> = rows
            .iter()
            .map(|a| truncate(&ctx.network(*a), 34))
            .collect();
        let svg = heatmap::render(axis, &labels, &panels)?;
        figures.push((target_label(test, domain.as_deref()), has_events, svg));
    }
    Ok(html! {
        section #heatmaps {
            h2 { "Per target and stage: networks × days" }
            p { "Each row is a network, each column a day; a grey cell had no measurement (not \"ok\"). Outlined cells are inside a detected event." }
            div.legend { (PreEscaped(legend)) }
            @for (label, has_events, svg) in &figures {
                figure.heatmap {
                    figcaption { (label) @if !has_events { " (no event; for comparison)" } }
                    (PreEscaped(svg))
                }
            }
        }
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn events_table(ctx: &Ctx<'_>, events: &[&Event]) -> Markup {
    html! {
        section #events {
            h2 { "Events" }
            @if events.is_empty() {
                p { "None." }
            } @else {
                p { "One row per blocking episode of one series (network, target, stage). Onset: between the last clean day and the first blocked day; end: between the last blocked day and the first day back to normal (exclusive end; empty while ongoing). Witnesses open in OONI Explorer when the measurement has an OONI measurement_uid." }
                table.events {
                    thead { tr {
                        th { "Network" } th { "Target" } th { "Stage (kind)" }
                        th { "Onset" } th { "End" } th.num { "Inside" } th.num { "95% CI" }
                        th.num { "Baseline outside" } th.num { "95% CI" } th.num { "Days w/o data" }
                        th { "Witnesses" }
                    } }
                    tbody {
                        @for e in events {
                            tr id=(format!("event-{}", e.event_id)) {
                                td { (ctx.network(e.probe_asn)) }
                                td { (target_label(&e.test_name, e.domain.as_deref())) }
                                td { (stage_label(&e.stage)) @if let Some(k) = &e.kind { br; span.how { (k) } } }
                                td {
                                    strong { (day(e.onset_day)) }
                                    br; span.how { "last clean: " (e.onset_last_clean_day.map_or_else(|| "none (blocked from the start)".to_owned(), day)) }
                                }
                                td {
                                    @match e.end_day {
                                        Some(end) => { strong { (day(end)) } }
                                        None => { strong { "ongoing" } }
                                    }
                                    br; span.how {
                                        "last blocked: " (day(e.end_last_blocked_day))
                                        @if e.end_confirmed == Some(false) { "; end not yet confirmed" }
                                    }
                                }
                                td.num { (rate(e.inside.1, e.inside.0)) }
                                td.num { (ci(e.inside_ci)) }
                                td.num { (rate(e.baseline.1, e.baseline.0)) }
                                td.num { (ci(e.baseline_ci)) }
                                td.num { (e.days_without_data) }
                                td {
                                    @for (uid, link) in &e.witnesses {
                                        @match link {
                                            Some(link) => { a.uid href=(link) { (truncate(uid, 40)) } }
                                            None => { span.uid title=(uid) { (truncate(uid, 24)) } }
                                        }
                                        br;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn others_table(ctx: &Ctx<'_>, events: &[&Event], targets: &BTreeSet<Target>) -> Markup {
    let with_events: BTreeSet<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e.test_name.as_str(), e.domain.as_deref()))
        .collect();
    let rows: Vec<(String, usize, u64, String)> = targets
        .iter()
        .filter(|(t, d)| !with_events.contains(&(t.as_str(), d.as_deref())))
        .map(|(t, d)| {
            let mut asns = BTreeSet::new();
            let mut per_stage: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
            for ((kt, kd, ks, ka), days) in &ctx.country.counts {
                if kt == t && kd == d {
                    asns.insert(*ka);
                    let c = per_stage.entry(ks.as_str()).or_default();
                    for (n, k) in days.values() {
                        c.0 += n;
                        c.1 += k;
                    }
                }
            }
            let measured = per_stage.values().map(|c| c.0).max().unwrap_or(0);
            let worst = per_stage
                .iter()
                .filter(|(_, c)| c.1 > 0)
                .max_by(|a, b| (a.1.1, b.1.0).cmp(&(b.1.1, a.1.0)))
                .map_or_else(
                    || "none".to_owned(),
                    |(s, c)| format!("{} {}", stage_label(s), rate(c.1, c.0)),
                );
            (target_label(t, d.as_deref()), asns.len(), measured, worst)
        })
        .collect();
    html! {
        section #others {
            h2 { "Targets measured without an event" }
            @if rows.is_empty() {
                p { "None." }
            } @else {
                table.others {
                    thead { tr { th { "Target" } th.num { "Networks" } th.num { "Measurements" } th { "Stage with most positives" } } }
                    tbody {
                        @for (label, networks, measured, worst) in &rows {
                            tr { td { (label) } td.num { (networks) } td.num { (measured) } td { (worst) } }
                        }
                    }
                }
            }
        }
    }
}
