//! web_connectivity's "http-diff": does the page the probe received look like the page the
//! control (the test helper) received?
//!
//! A port of the four checks of probe-cli's classic analysis
//! (`internal/experiment/webconnectivity/httpanalysis.go`, itself adapted from Measurement
//! Kit) and of how `summary.go` combines them: the page matches when the status codes match
//! and at least one of body length, uncommon header names or title matches. Each check is
//! `None` when it cannot be evaluated (no response, a truncated body, a control without a
//! status code, …), exactly where the probe leaves its test key null.

use std::collections::{BTreeMap, BTreeSet};

/// The bodies' length ratio above which they "match" (`bodyProportionFactor`).
const BODY_PROPORTION_FACTOR: f64 = 0.7;

/// Title words shorter than this many bytes are ignored (`minWordLength`).
const MIN_TITLE_WORD: usize = 5;

/// The longest title `WebGetTitle` extracts, in characters.
const MAX_TITLE_CHARS: usize = 512;

/// Header names too common to say anything about the server (probe-cli's list).
const COMMON_HEADERS: &[&str] = &[
    "date",
    "content-type",
    "server",
    "cache-control",
    "vary",
    "set-cookie",
    "location",
    "expires",
    "x-powered-by",
    "content-encoding",
    "last-modified",
    "accept-ranges",
    "pragma",
    "x-frame-options",
    "etag",
    "x-content-type-options",
    "age",
    "via",
    "p3p",
    "x-xss-protection",
    "content-language",
    "cf-ray",
    "strict-transport-security",
    "link",
    "x-varnish",
];

/// The probe's response, as the checks see it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Measured {
    /// Status code (`<= 0` or absent: no response).
    pub code: Option<i64>,
    /// Body length in bytes, when there is a body.
    pub body_len: Option<usize>,
    /// The body was truncated by the probe.
    pub truncated: bool,
    /// The body's `<title>`.
    pub title: Option<String>,
    /// Response header names.
    pub header_names: Vec<String>,
}

/// The control's response.
#[derive(Debug, Clone, Default)]
pub(crate) struct Control {
    /// Status code (the test helper writes -1 on failure).
    pub status_code: i64,
    /// Body length (-1 on failure).
    pub body_length: i64,
    /// Page title.
    pub title: String,
    /// Response header names.
    pub header_names: Vec<String>,
}

/// The four checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Checks {
    pub status_code_match: Option<bool>,
    pub body_length_match: Option<bool>,
    pub headers_match: Option<bool>,
    pub title_match: Option<bool>,
}

impl Checks {
    /// Computes the checks (`HTTPAnalysis`).
    pub(crate) fn compute(m: &Measured, c: &Control) -> Checks {
        Checks {
            status_code_match: status_code_match(m, c),
            body_length_match: body_length_match(m, c),
            headers_match: headers_match(m, c),
            title_match: title_match(m, c),
        }
    }

    /// The page is the expected one: status codes match and so does one of body length,
    /// headers or title (`Summarize`).
    pub(crate) fn page_matches(&self) -> bool {
        self.status_code_match == Some(true)
            && (self.body_length_match == Some(true)
                || self.headers_match == Some(true)
                || self.title_match == Some(true))
    }

    /// `status_code_match=true body_length_match=false headers_match=null title_match=…`,
    /// the evidence of an http-diff verdict.
    pub(crate) fn describe(&self) -> String {
        let v = |b: Option<bool>| match b {
            Some(true) => "true",
            Some(false) => "false",
            None => "null",
        };
        format!(
            "status_code_match={} body_length_match={} headers_match={} title_match={}",
            v(self.status_code_match),
            v(self.body_length_match),
            v(self.headers_match),
            v(self.title_match)
        )
    }
}

fn code(m: &Measured) -> i64 {
    m.code.unwrap_or(0)
}

fn status_code_match(m: &Measured, c: &Control) -> Option<bool> {
    if c.status_code <= 0 || code(m) <= 0 {
        return None;
    }
    if c.status_code == code(m) {
        return Some(true);
    }
    // A control that got a server error says nothing about the page (the probe-cli code
    // keeps this from Measurement Kit and the Python probe).
    if c.status_code / 100 == 5 {
        return None;
    }
    Some(false)
}

fn body_length_match(m: &Measured, c: &Control) -> Option<bool> {
    if c.body_length <= 0 || m.truncated {
        return None;
    }
    let measured = i64::try_from(m.body_len.unwrap_or(0)).ok()?;
    if measured <= 0 {
        return None;
    }
    let (small, large) = if measured >= c.body_length {
        (c.body_length, measured)
    } else {
        (measured, c.body_length)
    };
    Some(small as f64 / large as f64 > BODY_PROPORTION_FACTOR)
}

fn headers_match(m: &Measured, c: &Control) -> Option<bool> {
    if code(m) <= 0 || c.status_code <= 0 {
        return None;
    }
    let lower =
        |names: &[String]| -> BTreeSet<String> { names.iter().map(|n| n.to_lowercase()).collect() };
    let ours = lower(&m.header_names);
    let theirs = lower(&c.header_names);
    if ours == theirs {
        return Some(true);
    }
    let uncommon = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter()
            .filter(|n| !COMMON_HEADERS.contains(&n.as_str()))
            .cloned()
            .collect()
    };
    Some(
        uncommon(&ours)
            .intersection(&uncommon(&theirs))
            .next()
            .is_some(),
    )
}

fn title_match(m: &Measured, c: &Control) -> Option<bool> {
    if code(m) <= 0 || m.truncated || c.status_code <= 0 {
        return None;
    }
    let measured = m.title.as_deref().filter(|t| !t.is_empty())?;
    // Bit 1: in the measurement's title, bit 2: in the control's.
    let mut words: BTreeMap<String, u8> = BTreeMap::new();
    for (title, bit) in [(measured, 1u8), (c.title.as_str(), 2u8)] {
        for word in title.split(' ').filter(|w| w.len() >= MIN_TITLE_WORD) {
            *words.entry(word.to_lowercase()).or_default() |= bit;
        }
    }
    Some(words.values().all(|&b| b == 3))
}

/// The page title as probe-cli's `WebGetTitle` finds it: the first `<title>` (any case)
/// followed by 1–512 characters other than `<` and then `</title>`.
pub(crate) fn web_title(body: &[u8]) -> Option<String> {
    const OPEN: &[u8] = b"<title>";
    const CLOSE: &[u8] = b"</title>";
    let mut from = 0;
    while let Some(pos) = find_ascii_ci(&body[from..], OPEN) {
        let start = from + pos + OPEN.len();
        let rest = &body[start..];
        let end = rest.iter().position(|&b| b == b'<').unwrap_or(rest.len());
        let text = &rest[..end];
        // Characters, not bytes: continuation bytes do not start a character.
        let chars = text.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        if (1..=MAX_TITLE_CHARS).contains(&chars) && starts_with_ascii_ci(&rest[end..], CLOSE) {
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        from = start;
    }
    None
}

fn starts_with_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle.first()?;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        // memchr-like skip to the next `<`, the needle's first byte.
        match hay[i..].iter().position(|b| b == first) {
            None => return None,
            Some(p) => i += p,
        }
        if starts_with_ascii_ci(&hay[i..], needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(code: i64, len: usize, title: &str, headers: &[&str]) -> Measured {
        Measured {
            code: Some(code),
            body_len: Some(len),
            truncated: false,
            title: Some(title.to_owned()),
            header_names: headers.iter().map(|h| (*h).to_owned()).collect(),
        }
    }

    fn control(code: i64, len: i64, title: &str, headers: &[&str]) -> Control {
        Control {
            status_code: code,
            body_length: len,
            title: title.to_owned(),
            header_names: headers.iter().map(|h| (*h).to_owned()).collect(),
        }
    }

    #[test]
    fn titles_like_web_get_title() {
        assert_eq!(
            web_title(b"<html><TITLE>Hello World</Title>").as_deref(),
            Some("Hello World")
        );
        assert_eq!(
            web_title(b"<title></title><title>x</title>").as_deref(),
            Some("x")
        );
        assert_eq!(web_title(b"<title>a<b></title>"), None);
        assert_eq!(web_title(b"no title"), None);
        let long = format!("<title>{}</title>", "é".repeat(513));
        assert_eq!(web_title(long.as_bytes()), None);
        let ok = format!("<title>{}</title>", "é".repeat(512));
        assert!(web_title(ok.as_bytes()).is_some());
    }

    #[test]
    fn the_four_checks() {
        let c = control(200, 1000, "Default Web Page", &["Server", "X-Special"]);
        // Same page.
        let same = Checks::compute(&measured(200, 950, "Default Web Page", &["server"]), &c);
        assert_eq!(same.status_code_match, Some(true));
        assert_eq!(same.body_length_match, Some(true));
        assert_eq!(same.title_match, Some(true));
        assert!(same.page_matches());
        // A blockpage: short body, other title, other headers.
        let block = Checks::compute(&measured(200, 100, "Blocked page", &["X-Censor"]), &c);
        assert_eq!(block.body_length_match, Some(false));
        assert_eq!(block.headers_match, Some(false));
        assert_eq!(block.title_match, Some(false));
        assert!(!block.page_matches());
        // A control server error is not comparable.
        let c5 = control(503, 10, "", &[]);
        assert_eq!(status_code_match(&measured(200, 1, "", &[]), &c5), None);
        // Uncommon header names in common match.
        assert_eq!(
            headers_match(&measured(200, 1, "", &["x-special", "date"]), &c),
            Some(true)
        );
    }
}
