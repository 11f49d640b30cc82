//! Per-operation observations of one OONI measurement, each attributed to its target, and
//! the per-(domain, stage) outcomes the failure-rate tables are built from.
//!
//! # Brief overview
//!
//! [`observe_measurement`] takes one measurement read once by `ooni-model`
//! ([`ooni_model::Measurement`], any era from Measurement Kit and the Python probe to
//! probe-cli's measurexlite), reads its `test_keys` from the record's [`ooni_model::Json`]
//! tree, parses its `annotations` and `input`, and returns an [`Observed`] ([`observe`]
//! does the same for a measurement's JSON text):
//!
//! * [`Observation`]: one row per network operation: DNS query, TCP connect, TLS handshake
//!   or HTTP transaction ([`Stage`]), plus web_connectivity's control (test-helper) results
//!   flagged `is_control`. Each row carries its target `domain`, the rule that chose it
//!   ([`DomainSource`]), the service role `target_id` of the instant-messaging tests, and the
//!   failure both normalized to OONI's vocabulary ([`normalize_failure`]) and verbatim.
//! * [`StageOutcome`]: for each target domain, whether the measurement failed at the DNS,
//!   TCP, TLS and HTTP stages ([`OutcomeStage`]), counting every failure once, at the first
//!   stage that failed, plus one `Any` outcome per domain.
//!
//! Tests covered: web_connectivity (0.0.x Measurement Kit, 0.1–0.3 Python, 0.1 Go, 0.4,
//! 0.5), whatsapp, telegram, signal, facebook_messenger, urlgetter, tor and vanilla_tor
//! (which records no network operations). Any other test yields an empty [`Observed`].
//!
//! # Target attribution
//!
//! Rows are attributed one by one; rows are never merged by IP address (two host names
//! sharing an address, like `web.whatsapp.com` and `v.whatsapp.net`, keep their own rows).
//! Host names are lower-cased, lose a trailing dot and are punycode-encoded when not ASCII;
//! IP literals are written canonically. A name that is then not a plausible DNS name (labels
//! of `a-z0-9_-`, see [`domain_of_url`]) is no domain: the rules below treat it as absent,
//! so such a row falls back to the next rule, to its IP literal, or keeps a null `domain`.
//!
//! * DNS rows: the query's `hostname` ([`DomainSource::DnsQuery`]).
//! * TLS rows: the SNI `server_name` when it is a host name ([`DomainSource::Sni`]).
//! * HTTP rows: the URL host, an IP literal host staying the IP (Telegram's data centres)
//!   ([`DomainSource::Url`]).
//! * TCP rows (and TLS rows without a host-name SNI), first rule that applies:
//!   1. a DNS, TLS or HTTP row with the same non-zero `transaction_id`
//!      ([`DomainSource::TransactionId`]);
//!   2. the `network_events` windows of legacy netx: a `connect` followed by the
//!      `tls_handshake_done` of a TLS row gives that row's SNI; otherwise the `resolve_done`
//!      that opened the connect's session gives the host resolved at that instant, if it was
//!      the only one and its answers contain the IP ([`DomainSource::NetworkEvents`]);
//!   3. web_connectivity only: the control's `dns.addrs` map the IP to the input's host
//!      ([`DomainSource::ControlHint`]);
//!   4. the DNS answers, only when exactly one host name in the measurement resolved to the
//!      IP ([`DomainSource::DnsAnswer`]);
//!   5. the IP literal itself ([`DomainSource::IpLiteral`]); its `target_id` is set only
//!      when every host that resolved to the IP has the same role (or, for telegram, when
//!      none did: a data centre).
//!
//! DNS failures of legacy split lookups (one failed lookup written as an `A` entry plus an
//! `AAAA` entry with the same failure and time) are emitted once.
//!
//! # Stage outcomes
//!
//! Per domain, over the non-control rows attributed to it. Which attempts count:
//!
//! * web_connectivity: only operations on addresses from the system resolver, as a user's
//!   browser would have used (tagged `classic`, or whose IP a system-resolver lookup
//!   returned; 0.5 also connects to the control's and DoH/UDP answers, which stay
//!   observations only);
//! * failures of the probe itself (a cancelled parallel request, `interrupted`,
//!   `connection_already_closed`, the Python `'ascii' codec` bug) are left out, as are
//!   connects without a status;
//! * application-level results (`http_request_failed`, whatsapp's
//!   `http_unexpected_status_code`, a broken `Location`, a redirect loop) count as a
//!   received response, not a failure.
//!
//! The stages, in order; a stage after one that is not ok (failed, or judged anything but
//! [`Status::Ok`], see below) has no outcome, so each failure is counted once, at the
//! first stage that failed, and the operations that follow a manipulated answer (connecting
//! to a sinkhole) are consequences, not outcomes:
//!
//! * `dns`: classic-resolver lookups (`system`, `getaddrinfo`, `golang_net_resolver`, `go`,
//!   unknown), one per lookup, ignoring `AAAA` `dns_no_answer`; failed if every lookup
//!   failed.
//! * `tcp`: failed if every connect failed, ok if any succeeded.
//! * `tls`: handshakes for that SNI; failed if every one failed.
//! * `http`: the requests to that host that were *reached*: DNS and TCP were ok and,
//!   for `https://`, TLS was ok (nor did the handshake of the same transaction fail; without
//!   that link, a failed request is not reached when any handshake for the SNI failed).
//!   Failed if any reached request failed (requests of a redirect chain are all needed).
//!   Absent when no request was reached, so a TLS timeout is never counted again at HTTP;
//!   plaintext requests do not need TLS and are reached after a failed handshake.
//! * `any`: the first stage that is not ok, else the last stage.
//!
//! A request failure that only one earlier stage can produce yields an extra inferred row
//! for that stage ([`DomainSource::Inferred`], [`StageOutcome::inferred`]): DNS for `dns_*`
//! failures of a host without DNS rows, TCP for connect failures (`connection_refused`, …)
//! of a host without TCP rows, TLS for TLS-class failures in data without TLS records, and
//! TLS for an `https://` failure after a successful TCP connect to port 443 in the 2020 Go
//! web_connectivity 0.1.0, which recorded no TLS handshakes.
//!
//! The normalized failure of a failed stage is the most frequent one among its failed
//! attempts (ties: the earliest).
//!
//! # Blocked, down or failed
//!
//! Every outcome has a [`Status`]: `ok`, `blocked` (interference, with a [`BlockingKind`]),
//! `down` (failed like the control) or `failure` (failed, nothing tells which), and the
//! [`Evidence`] it rests on. The rules are OONI's (`docs/blocking.md` cites each):
//!
//! * web_connectivity compares each stage with its control (`test_keys.control`): a failed
//!   lookup, connect, handshake or request is blocked when the control's succeeded and down
//!   when it failed too; an answer is judged by blockpage fingerprints, bogons and its
//!   consistency with the control (address, ASN, or a TLS handshake that validated the
//!   name's certificate); a received page by HTTP fingerprints and web_connectivity's
//!   http-diff. The input's domain carries the verdict of its redirect chain; the other
//!   domains are hops ([`StageOutcome::is_hop`]).
//! * whatsapp, telegram, signal and facebook_messenger have no control: a failure is
//!   blocked when the test's own verdict key names the target blocked, else `failure`;
//!   bogon answers (and facebook_messenger's failed DNS consistency check) are blocked DNS.
//! * Other tests: failures are `failure`.
//!
//! Blocking fingerprints come from `ooni-verdict`; pass the matches to
//! [`observe_measurement`] or [`observe_judged`] ([`observe`] and [`observe_as`] know none).
//!
//! The row types ([`Observation`], [`StageOutcome`] and their enums) live in `ooni-model`
//! and are re-exported here.

mod blocking;
mod bogon;
mod build;
mod failure;
mod host;
mod httpdiff;
mod netevents;
mod outcomes;
mod raw;
mod targets;

pub use failure::normalize_failure;

/// The target domain this crate uses for the host of `url`: lower-cased, without trailing
/// dot, punycode-encoded when not ASCII (`http://Яндекс.рф/` → `xn--d1acpjx3f.xn--p1ai`, the
/// name the probe actually resolves), IP literals in canonical form.
///
/// `None` when `url` has no `scheme://host`, or when the host is neither an IP literal nor
/// a plausible DNS name: 1–253 bytes of dot-separated labels, each 1–63 bytes of `a-z`,
/// `0-9`, `-` and `_` (the underscore occurs in real names such as `_dmarc.example.com`).
/// Percent-escapes are not decoded: a probe resolves `%65xample.com` as written, which no
/// resolver answers, so it names no site.
///
/// Use it wherever a measurement's input must be joined with [`StageOutcome::domain`].
///
/// ```
/// use ooni_observations::domain_of_url;
///
/// assert_eq!(
///     domain_of_url("https://WWW.Example.com./path").as_deref(),
///     Some("www.example.com"),
/// );
/// assert_eq!(domain_of_url("http://exa mple.com/"), None);
/// assert_eq!(domain_of_url("http://%65xample.com/"), None);
/// ```
pub fn domain_of_url(url: &str) -> Option<String> {
    host::parse_url(url).and_then(|u| host::normalize_host(&u.host))
}

// The rows this crate builds live in `ooni-model`, so that the writer and the aggregations
// do not depend on the builder; re-exported here under their old paths.
pub use ooni_model::{
    BlockingKind, DomainSource, Evidence, Observation, OutcomeStage, Stage, StageOutcome, Status,
};

/// Blocking fingerprints that matched in a measurement and hold for its country (from
/// `ooni-verdict`), for [`observe_judged`], each list in fastpath's matching order (the
/// first match of an answer or response is its evidence).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FingerprintMatches {
    /// `(address as written in a DNS answer, fingerprint name)`.
    pub dns: Vec<(String, String)>,
    /// `(index in test_keys.requests, fingerprint name)`.
    pub responses: Vec<(usize, String)>,
}

/// Everything [`observe`] extracts from one measurement.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Observed {
    /// One row per network operation.
    pub observations: Vec<Observation>,
    /// One row per (domain, stage) with an outcome, plus one `Any` per such domain.
    pub outcomes: Vec<StageOutcome>,
}

/// Why a measurement could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The text is not valid JSON.
    #[error("measurement is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is valid but not an object.
    #[error("measurement is not a JSON object")]
    NotAnObject,
}

/// Turns one measurement into its observations and stage outcomes.
///
/// `measurement_json` is the bare measurement object (postcan wrapper already removed).
/// Tests this crate does not cover, and measurements whose `test_keys` are null or
/// missing, give `Ok(Observed::default())`. Type surprises inside the measurement (a bool
/// where a string was expected, `null` lists, …) never make this fail; only text that is
/// not a JSON object does.
///
/// ```
/// let m = r#"{"test_name":"telegram","test_keys":{"tcp_connect":[
///     {"ip":"149.154.175.50","port":443,"status":{"failure":false,"success":true}}]}}"#;
/// let observed = ooni_observations::observe(m).unwrap();
/// assert_eq!(observed.observations[0].domain.as_deref(), Some("149.154.175.50"));
/// assert_eq!(observed.observations[0].target_id.as_deref(), Some("telegram/dc_pool"));
/// assert_eq!(observed.observations[0].failure, None);
/// ```
pub fn observe(measurement_json: &str) -> Result<Observed, ObserveError> {
    observe_impl(measurement_json, None, &FingerprintMatches::default())
}

/// Like [`observe`], but reads the measurement as test `test_name` whatever its body's
/// `test_name` says.
///
/// For callers that canonicalize the body's spelling (`ooni-normalize` turns a body's
/// `webconnectivity`, the spelling of OONI's bucket keys, into `web_connectivity`): the
/// observations then follow the same name as the rest of the row instead of the body's.
///
/// ```
/// let m = r#"{"test_name":"webconnectivity","input":"https://example.org/","test_keys":{
///     "queries":[{"hostname":"example.org","query_type":"A","failure":null}]}}"#;
/// assert!(ooni_observations::observe(m).unwrap().observations.is_empty());
/// let observed = ooni_observations::observe_as(m, "web_connectivity").unwrap();
/// assert_eq!(observed.observations[0].domain.as_deref(), Some("example.org"));
/// ```
pub fn observe_as(measurement_json: &str, test_name: &str) -> Result<Observed, ObserveError> {
    observe_impl(
        measurement_json,
        Some(test_name),
        &FingerprintMatches::default(),
    )
}

/// Like [`observe_as`] (with `test_name` optional), with the blocking fingerprints that
/// matched the measurement: DNS answers and responses that match a confirmed fingerprint
/// make the `dns.blockpage` and `http.blockpage` outcomes. [`observe`] and [`observe_as`]
/// know no fingerprints.
pub fn observe_judged(
    measurement_json: &str,
    test_name: Option<&str>,
    fingerprints: &FingerprintMatches,
) -> Result<Observed, ObserveError> {
    observe_impl(measurement_json, test_name, fingerprints)
}

/// Like [`observe_judged`], for a measurement read once by `ooni-model`: its `test_keys`
/// and `annotations` are read from the record's [`ooni_model::Json`] trees (a duplicated
/// key there has already kept its last value, as in Python's `json`), its `input` and three
/// short strings parsed here.
pub fn observe_measurement(
    m: &ooni_model::Measurement<'_>,
    test_name: Option<&str>,
    fingerprints: &FingerprintMatches,
) -> Result<Observed, ObserveError> {
    let parsed = raw::Measurement::of(m)?;
    Ok(build::observe_measurement(&parsed, test_name, fingerprints))
}

/// [`observe`] with an optional override of the body's test name.
fn observe_impl(
    measurement_json: &str,
    test_name: Option<&str>,
    fingerprints: &FingerprintMatches,
) -> Result<Observed, ObserveError> {
    match ooni_model::Measurement::parse(measurement_json) {
        Ok(m) => observe_measurement(&m, test_name, fingerprints),
        Err(ooni_model::ParseError::Json(e)) => Err(ObserveError::Json(e)),
        Err(ooni_model::ParseError::NotAnObject) => Err(ObserveError::NotAnObject),
    }
}
