//! OONI blocking fingerprints (ooni/blocking-fingerprints CSVs) and how fastpath matches them.
//!
//! Fastpath (`core.py`: `prepare_fingerprints`, `match_fingerprints`,
//! `match_http_body_fingerprints`, `match_http_headers_fingerprints`, `is_confirmed`) uses:
//!
//! * every DNS row: an answer's `ipv4` (else `hostname`, else `ipv6`) equal to `pattern`;
//! * every HTTP row with `location_found == "body"`, **whatever its `pattern_type`**, as a
//!   plain substring of the body (so the few `regexp` rows are searched literally);
//! * HTTP rows with `location_found == "header.<name>"` and `pattern_type` `full` (value
//!   equality) or `prefix` (`startswith`, base64 header values decoded as latin-1 first).
//!   Header rows with `pattern_type == "contains"` are ignored.
//!
//! `expected_countries` is split on commas, upper-cased, with `""` and `ZZ` removed. A
//! match confirms blocking when the probe country is in that list (and is not `ZZ`), or
//! when the row's scope is `isp` or `nat`.

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

use crate::py::lower_eq;

const DNS_CSV: &str = include_str!("../fingerprints/fingerprints_dns.csv");
const HTTP_CSV: &str = include_str!("../fingerprints/fingerprints_http.csv");

/// Why a fingerprint CSV could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// A required column is missing from the header row.
    #[error("fingerprint CSV has no `{0}` column")]
    MissingColumn(&'static str),
    /// A record does not have as many fields as the header row.
    #[error("fingerprint CSV record {record} has {found} fields, expected {expected}")]
    FieldCount {
        /// 1-based record number (the header row is record 0).
        record: usize,
        /// Fields found.
        found: usize,
        /// Fields in the header row.
        expected: usize,
    },
    /// The CSV text is malformed (e.g. an unterminated quote) or empty.
    #[error("malformed fingerprint CSV: {0}")]
    Malformed(&'static str),
    /// The body patterns could not be compiled into a matcher.
    #[error("cannot build the body matcher: {0}")]
    Matcher(String),
}

/// Blocking locality fastpath derives from a fingerprint's scope
/// (`FINGERPRINT_SCOPE_TO_LOCALITY`, default `general`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locality {
    General,
    Country,
    Isp,
    Local,
}

#[derive(Debug)]
struct Fp {
    name: String,
    scope_isp_or_nat: bool,
    expected_countries: Vec<String>,
    locality: Locality,
}

#[derive(Debug)]
struct HeaderFp {
    /// Index into `header_names`.
    name_ix: usize,
    pattern: String,
    prefix: bool,
    fp: u32,
}

/// The fingerprint tables, parsed once and shared by all threads (`Send + Sync`).
///
/// [`Fingerprints::embedded`] returns the copy of ooni/blocking-fingerprints that ships with
/// this crate (see `fingerprints/PROVENANCE.md`).
#[derive(Debug)]
pub struct Fingerprints {
    fps: Vec<Fp>,
    dns: HashMap<String, Vec<u32>>,
    dns_rows: usize,
    body: Option<BodyMatcher>,
    /// For each distinct body pattern, the fingerprints (in CSV order) that use it.
    body_fps: Vec<Vec<u32>>,
    headers: Vec<HeaderFp>,
    header_names: Vec<String>,
}

impl Fingerprints {
    /// The embedded fingerprint tables, parsed on first use and then shared (`'static`).
    ///
    /// # Panics
    ///
    /// Only if the CSV files compiled into the crate are malformed, which the crate's
    /// tests rule out.
    pub fn embedded() -> &'static Fingerprints {
        static FPS: OnceLock<Fingerprints> = OnceLock::new();
        FPS.get_or_init(|| {
            Fingerprints::from_csv(DNS_CSV, HTTP_CSV)
                .expect("embedded fingerprint CSVs are well formed")
        })
    }

    /// Parses fingerprint tables in the ooni/blocking-fingerprints CSV format (header row
    /// with at least `name, scope, location_found, pattern_type, pattern,
    /// expected_countries`).
    pub fn from_csv(dns_csv: &str, http_csv: &str) -> Result<Fingerprints, FingerprintError> {
        let mut fps = Vec::new();
        let mut dns: HashMap<String, Vec<u32>> = HashMap::new();
        let dns_rows = read_rows(dns_csv)?;
        for row in &dns_rows {
            let ix = push_fp(&mut fps, row);
            dns.entry(row.pattern.clone()).or_default().push(ix);
        }

        let mut body_patterns: Vec<String> = Vec::new();
        let mut body_fps: Vec<Vec<u32>> = Vec::new();
        let mut pattern_ix: HashMap<String, usize> = HashMap::new();
        let mut headers = Vec::new();
        let mut header_names: Vec<String> = Vec::new();
        for row in &read_rows(http_csv)? {
            let ix = push_fp(&mut fps, row);
            if row.location_found == "body" {
                let p = *pattern_ix.entry(row.pattern.clone()).or_insert_with(|| {
                    body_patterns.push(row.pattern.clone());
                    body_fps.push(Vec::new());
                    body_patterns.len() - 1
                });
                body_fps[p].push(ix);
            } else if let Some(hname) = row.location_found.strip_prefix("header.") {
                let prefix = match row.pattern_type.as_str() {
                    "full" => false,
                    "prefix" => true,
                    _ => continue, // fastpath ignores `contains`/`regexp` header rows
                };
                let name_ix = match header_names.iter().position(|n| n == hname) {
                    Some(i) => i,
                    None => {
                        header_names.push(hname.to_owned());
                        header_names.len() - 1
                    }
                };
                headers.push(HeaderFp {
                    name_ix,
                    pattern: row.pattern.clone(),
                    prefix,
                    fp: ix,
                });
            }
        }
        let body = if body_patterns.is_empty() {
            None
        } else {
            Some(BodyMatcher::new(body_patterns)?)
        };
        Ok(Fingerprints {
            fps,
            dns,
            dns_rows: dns_rows.len(),
            body,
            body_fps,
            headers,
            header_names,
        })
    }

    /// Number of fingerprints (DNS and HTTP rows).
    pub fn len(&self) -> usize {
        self.fps.len()
    }

    /// Whether no fingerprint is loaded.
    pub fn is_empty(&self) -> bool {
        self.fps.is_empty()
    }

    pub(crate) fn has_dns(&self) -> bool {
        self.dns_rows > 0
    }

    pub(crate) fn has_body(&self) -> bool {
        self.body.is_some()
    }

    pub(crate) fn name(&self, fp: u32) -> &str {
        &self.fps[fp as usize].name
    }

    pub(crate) fn locality(&self, fp: u32) -> Locality {
        self.fps[fp as usize].locality
    }

    /// `is_confirmed(probe_cc, fp)`; `probe_cc` is already upper-cased.
    pub(crate) fn is_confirmed(&self, probe_cc: &str, fp: u32) -> bool {
        let f = &self.fps[fp as usize];
        (probe_cc != "ZZ" && f.expected_countries.iter().any(|c| c == probe_cc))
            || f.scope_isp_or_nat
    }

    /// The probe's country (upper-cased, not `ZZ`) is one the fingerprint is known from
    /// (ooni/data's `dns_blocking_country_consistent`, without the scope clause).
    pub(crate) fn country_consistent(&self, probe_cc: &str, fp: u32) -> bool {
        probe_cc != "ZZ"
            && self.fps[fp as usize]
                .expected_countries
                .iter()
                .any(|c| c == probe_cc)
    }

    /// DNS rows whose pattern equals `addr` (one entry per matching row).
    pub(crate) fn match_dns(&self, addr: &str, out: &mut Vec<u32>) {
        if let Some(v) = self.dns.get(addr) {
            out.extend_from_slice(v);
        }
    }

    /// Body rows whose pattern occurs in `body` (one pass over the body), in CSV order.
    pub(crate) fn match_body(&self, body: &[u8], out: &mut Vec<u32>) {
        let Some(matcher) = &self.body else { return };
        let mut found: Vec<u32> = Vec::new();
        let mut seen = vec![false; self.body_fps.len()];
        matcher.find(body, |p| {
            if !seen[p] {
                seen[p] = true;
                found.extend_from_slice(&self.body_fps[p]);
            }
        });
        found.sort_unstable();
        out.extend(found);
    }

    /// Distinct header names used by `full`/`prefix` rows (already lower-case in the CSV;
    /// compared with the lower-cased response header names).
    pub(crate) fn header_names(&self) -> &[String] {
        &self.header_names
    }

    /// Header rows in CSV order: (index into [`Self::header_names`], pattern, is_prefix, fp).
    pub(crate) fn header_rows(&self) -> impl Iterator<Item = (usize, &str, bool, u32)> {
        self.headers
            .iter()
            .map(|h| (h.name_ix, h.pattern.as_str(), h.prefix, h.fp))
    }
}

/// The body patterns' matcher: which patterns occur anywhere in a body, as an overlapping
/// Aho-Corasick search over the whole patterns finds them, but faster:
///
/// - the automaton holds each pattern's first [`HEAD`] bytes only, and every occurrence of
///   a head is checked against the whole patterns that begin so (a pattern occurs at an
///   offset exactly when its head does and the rest follows). Patterns run to 1,446
///   bytes: over whole patterns the DFA takes 58 MB, over 32-byte heads 28 MB;
/// - a DFA scan is a chain of dependent table loads, one per byte, so it runs at the
///   latency of a load. A long body is cut into [`LANES`] stretches scanned in lock step,
///   each running on by `HEAD - 1` bytes into the next so that no head across a cut is
///   missed: independent chains, which the processor overlaps.
#[derive(Debug)]
struct BodyMatcher {
    /// Over the distinct heads; unanchored, without a prefilter, standard semantics.
    dfa: DFA,
    /// Its unanchored start state.
    start: StateID,
    /// For each head, the patterns (indexes into `patterns`) that begin with it.
    by_head: Vec<Vec<u32>>,
    /// The distinct body patterns.
    patterns: Vec<String>,
    /// Patterns that are empty, so occur in every body.
    empty: Vec<u32>,
    /// The longest head, less one: how far a stretch runs into the next.
    overlap: usize,
}

/// How many bytes of each body pattern the automaton holds (16 and whole patterns
/// scan at the same speed; this keeps heads specific, so few occurrences need checking).
const HEAD: usize = 32;

/// Bodies scanned in parallel stretches from this length on (shorter ones in one).
const LANE_MIN: usize = 1024;
/// Stretches scanned in lock step.
const LANES: usize = 4;

impl BodyMatcher {
    fn new(patterns: Vec<String>) -> Result<BodyMatcher, FingerprintError> {
        let mut heads: Vec<&[u8]> = Vec::new();
        let mut by_head: Vec<Vec<u32>> = Vec::new();
        let mut head_ix: HashMap<&[u8], usize> = HashMap::new();
        let mut empty = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            if p.is_empty() {
                empty.push(i);
                continue;
            }
            let h = &p.as_bytes()[..p.len().min(HEAD)];
            let ix = *head_ix.entry(h).or_insert_with(|| {
                heads.push(h);
                by_head.push(Vec::new());
                heads.len() - 1
            });
            by_head[ix].push(i);
        }
        let overlap = heads.iter().map(|h| h.len()).max().unwrap_or(1) - 1;
        let dfa = aho_corasick::dfa::Builder::new()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            .prefilter(false)
            .build(&heads)
            .map_err(|e| FingerprintError::Matcher(e.to_string()))?;
        let start = dfa
            .start_state(Anchored::No)
            .map_err(|e| FingerprintError::Matcher(e.to_string()))?;
        Ok(BodyMatcher {
            dfa,
            start,
            by_head,
            patterns,
            empty,
            overlap,
        })
    }

    /// Calls `found` with every pattern (index into `patterns`) that occurs in `body`,
    /// once or more each, in no particular order.
    fn find(&self, body: &[u8], mut found: impl FnMut(usize)) {
        for &p in &self.empty {
            found(p as usize);
        }
        let n = body.len();
        let lanes = if n >= LANE_MIN { LANES } else { 1 };
        let chunk = n.div_ceil(lanes);
        let mut pos = [0usize; LANES];
        let mut end = [0usize; LANES];
        let mut sid = [self.start; LANES];
        for k in 0..lanes {
            pos[k] = (k * chunk).min(n);
            end[k] = ((k + 1) * chunk + self.overlap).min(n);
        }
        let mut on_state = |sid: StateID, at: usize| {
            // Without a prefilter, only match and dead states are special; an unanchored
            // standard automaton never reaches its dead state.
            if self.dfa.is_match(sid) {
                for i in 0..self.dfa.match_len(sid) {
                    let head = self.dfa.match_pattern(sid, i);
                    let start = at - self.dfa.pattern_len(head);
                    for &p in &self.by_head[head.as_usize()] {
                        if body[start..].starts_with(self.patterns[p as usize].as_bytes()) {
                            found(p as usize);
                        }
                    }
                }
            }
        };
        if lanes == LANES {
            let common = (0..LANES).map(|k| end[k] - pos[k]).min().unwrap_or(0);
            for _ in 0..common {
                for k in 0..LANES {
                    let s = self.dfa.next_state(Anchored::No, sid[k], body[pos[k]]);
                    sid[k] = s;
                    pos[k] += 1;
                    if self.dfa.is_special(s) {
                        on_state(s, pos[k]);
                    }
                }
            }
        }
        for k in 0..lanes {
            let mut s = sid[k];
            for (at, &b) in body.iter().enumerate().take(end[k]).skip(pos[k]) {
                s = self.dfa.next_state(Anchored::No, s, b);
                if self.dfa.is_special(s) {
                    on_state(s, at + 1);
                }
            }
        }
    }
}

/// `str.lower()` of a header name equals the fingerprint's header name.
pub(crate) fn header_name_eq(key: &str, name: &str) -> bool {
    lower_eq(key, name)
}

struct Row {
    name: String,
    scope: String,
    location_found: String,
    pattern_type: String,
    pattern: String,
    expected_countries: String,
}

fn push_fp(fps: &mut Vec<Fp>, row: &Row) -> u32 {
    // extract_expected_countries: strip, split on ",", upper(), drop "" and "ZZ".
    let expected_countries = row
        .expected_countries
        .trim()
        .split(',')
        .map(str::to_uppercase)
        .filter(|c| !c.is_empty() && c != "ZZ")
        .collect();
    let locality = match row.scope.as_str() {
        "inst" => Locality::Local,
        "isp" => Locality::Isp,
        "nat" => Locality::Country,
        _ => Locality::General, // "prod" and any scope missing from the mapping
    };
    fps.push(Fp {
        name: row.name.clone(),
        scope_isp_or_nat: matches!(row.scope.as_str(), "isp" | "nat"),
        expected_countries,
        locality,
    });
    u32::try_from(fps.len() - 1).unwrap_or(u32::MAX)
}

fn read_rows(text: &str) -> Result<Vec<Row>, FingerprintError> {
    let records = parse_csv(text)?;
    let mut it = records.into_iter();
    let header = it.next().ok_or(FingerprintError::Malformed("empty file"))?;
    let col = |name: &'static str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or(FingerprintError::MissingColumn(name))
    };
    let (c_name, c_scope, c_loc, c_type, c_pat, c_ec) = (
        col("name")?,
        col("scope")?,
        col("location_found")?,
        col("pattern_type")?,
        col("pattern")?,
        col("expected_countries")?,
    );
    let mut rows = Vec::new();
    for (i, rec) in it.enumerate() {
        if rec.len() != header.len() {
            return Err(FingerprintError::FieldCount {
                record: i + 1,
                found: rec.len(),
                expected: header.len(),
            });
        }
        rows.push(Row {
            name: rec[c_name].clone(),
            scope: rec[c_scope].clone(),
            location_found: rec[c_loc].clone(),
            pattern_type: rec[c_type].clone(),
            pattern: rec[c_pat].clone(),
            expected_countries: rec[c_ec].clone(),
        });
    }
    Ok(rows)
}

/// Python `csv` (excel dialect) reader: `,` separated, `"` quoted with `""` escapes,
/// quoted fields may span lines; blank lines are skipped (as `DictReader` does).
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, FingerprintError> {
    #[derive(PartialEq)]
    enum St {
        StartField,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut records = Vec::new();
    let mut rec: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut st = St::StartField;
    let mut chars = text.chars().peekable();
    let end_record = |rec: &mut Vec<String>, field: &mut String, records: &mut Vec<Vec<String>>| {
        rec.push(std::mem::take(field));
        let r = std::mem::take(rec);
        if !(r.len() == 1 && r[0].is_empty()) {
            records.push(r);
        }
    };
    while let Some(c) = chars.next() {
        // After a closing quote, `""` is an escaped quote; anything else continues the
        // field as unquoted text would (Python's excel dialect).
        if st == St::QuoteInQuoted {
            if c == '"' {
                field.push('"');
                st = St::Quoted;
                continue;
            }
            st = St::Unquoted;
        }
        match st {
            St::Quoted => match c {
                '"' => st = St::QuoteInQuoted,
                _ => field.push(c),
            },
            _ => match c {
                '"' if st == St::StartField => st = St::Quoted,
                ',' => {
                    rec.push(std::mem::take(&mut field));
                    st = St::StartField;
                }
                '\r' | '\n' => {
                    if c == '\r' && chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    end_record(&mut rec, &mut field, &mut records);
                    st = St::StartField;
                }
                _ => {
                    field.push(c);
                    st = St::Unquoted;
                }
            },
        }
    }
    if st == St::Quoted {
        return Err(FingerprintError::Malformed("unterminated quoted field"));
    }
    if !(rec.is_empty() && field.is_empty() && st == St::StartField) {
        end_record(&mut rec, &mut field, &mut records);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn csv_quoting_like_python() {
        let r = parse_csv("a,b,c\n1,\"x, \"\"y\"\"\nz\",3\r\n\n4,5,6").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1], vec!["1", "x, \"y\"\nz", "3"]);
        assert_eq!(r[2], vec!["4", "5", "6"]);
        assert!(parse_csv("a\n\"open").is_err());
    }

    #[test]
    fn embedded_tables_load() {
        let f = Fingerprints::embedded();
        // 226 DNS rows + 1729 HTTP rows in the pinned CSVs.
        assert_eq!(f.len(), 226 + 1729);
        assert!(f.has_dns() && f.has_body());
        // Header rows: only `full` and `prefix` are used (275 + 25 = 300 of 418).
        assert_eq!(f.header_rows().count(), 300);
        assert_eq!(f.header_names(), ["server", "location", "via", "x-app-url"]);
    }

    /// The patterns an overlapping search over the whole patterns finds in `body`: what
    /// [`BodyMatcher`] must find.
    fn reference(patterns: &[String], body: &[u8]) -> Vec<usize> {
        reference_with(&aho_corasick::AhoCorasick::new(patterns).unwrap(), body)
    }

    fn reference_with(ac: &aho_corasick::AhoCorasick, body: &[u8]) -> Vec<usize> {
        let mut found: Vec<usize> = ac
            .find_overlapping_iter(body)
            .map(|m| m.pattern().as_usize())
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    fn found(m: &BodyMatcher, body: &[u8]) -> Vec<usize> {
        let mut found = Vec::new();
        m.find(body, |p| found.push(p));
        found.sort_unstable();
        found.dedup();
        found
    }

    /// A tiny deterministic generator (xorshift64*).
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn the_body_matcher_finds_what_an_overlapping_search_finds() {
        // Patterns that share heads, contain one another, overlap, and run past HEAD.
        let long = "x".repeat(HEAD - 3);
        let patterns: Vec<String> = [
            "abcd".to_owned(),
            "bcde".to_owned(),
            "cd".to_owned(),
            format!("{long}abcdef"),
            format!("{long}abcxyz"),
            format!("{long}abc"),
            "y".repeat(3 * HEAD),
            "".to_owned(),
            "Доступ ограничен".to_owned(),
        ]
        .into();
        let m = BodyMatcher::new(patterns.clone()).unwrap();
        let alphabet: &[&[u8]] = &[
            b"a",
            b"b",
            b"c",
            b"d",
            b"e",
            b"x",
            b"y",
            b"z",
            b"\xd0",
            &[0xd0, 0x94],
        ];
        let mut state = 0x0bad_5eed_u64;
        for len in [0usize, 1, 5, 100, LANE_MIN - 1, LANE_MIN, 3000, 10_000] {
            for _ in 0..20 {
                let mut body: Vec<u8> = Vec::with_capacity(len);
                while body.len() < len {
                    if rng(&mut state).is_multiple_of(50) {
                        let p = &patterns[(rng(&mut state) % patterns.len() as u64) as usize];
                        body.extend_from_slice(p.as_bytes());
                    } else {
                        let a = alphabet[(rng(&mut state) % alphabet.len() as u64) as usize];
                        body.extend_from_slice(a);
                    }
                }
                assert_eq!(found(&m, &body), reference(&patterns, &body), "{len}");
            }
        }
        // A pattern across every cut between stretches, for each length around LANE_MIN.
        for len in LANE_MIN..LANE_MIN + 2 * LANES {
            let chunk = len.div_ceil(LANES);
            for k in 1..LANES {
                for back in [1, 2, HEAD / 2, HEAD - 1, HEAD, HEAD + 3] {
                    let mut body = vec![b'z'; len];
                    let p = patterns[3].as_bytes();
                    let at = (k * chunk).saturating_sub(back).min(len - p.len());
                    body[at..at + p.len()].copy_from_slice(p);
                    assert_eq!(found(&m, &body), reference(&patterns, &body));
                }
            }
        }
    }

    #[test]
    fn the_embedded_body_matcher_finds_what_an_overlapping_search_finds() {
        let f = Fingerprints::embedded();
        let matcher = f.body.as_ref().unwrap();
        let patterns = &matcher.patterns;
        let ac = aho_corasick::AhoCorasick::new(patterns).unwrap();
        // Every pattern, alone, between others, and cut short by one byte.
        let mut state = 0x5eed_u64;
        for (i, p) in patterns.iter().enumerate() {
            let other = &patterns[(rng(&mut state) % patterns.len() as u64) as usize];
            let filler = "lorem ipsum <p>".repeat((rng(&mut state) % 200) as usize);
            let body = format!("{filler}{p}{other}{filler}");
            assert_eq!(
                found(matcher, body.as_bytes()),
                reference_with(&ac, body.as_bytes()),
                "{i}"
            );
            let cut = &p.as_bytes()[..p.len() - 1];
            let mut body = filler.clone().into_bytes();
            body.extend_from_slice(cut);
            body.extend_from_slice(filler.as_bytes());
            assert_eq!(found(matcher, &body), reference_with(&ac, &body), "{i} cut");
        }
    }

    #[test]
    fn expected_countries_drop_zz_and_empty() {
        let dns = "name,scope,location_found,pattern_type,pattern,expected_countries\n\
                   t.1,prod,dns,full,1.2.3.4,\"zz,it,\"\n";
        let f = Fingerprints::from_csv(
            dns,
            "name,scope,location_found,pattern_type,pattern,expected_countries\n",
        )
        .unwrap();
        assert_eq!(f.fps[0].expected_countries, vec!["IT"]);
        assert!(f.is_confirmed("IT", 0));
        assert!(!f.is_confirmed("ZZ", 0));
        assert!(!f.is_confirmed("FR", 0));
        assert!(!f.has_body());
    }
}
