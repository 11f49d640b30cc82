//! Test names: the known ones, their canonical spelling, and the one check.

use std::borrow::Cow;
use std::fmt;

use crate::error::RecordError;

/// The test names OONI's probes write in a measurement's `test_name`, as written there
/// (snake_case for most, one word for the newer probe-cli experiments).
///
/// Sources: the `test_name` given by OONI's test specifications (`ooni/spec`,
/// `nettests/ts-002` … `ts-041`), the experiments registered by `ooni/probe-cli`
/// (`internal/registry`), and every test name in the real-measurement fixtures
/// (`tests/fixtures/ooni-real`, including the YAML-era `dns_n_http`).
///
/// [`canonical_test_name`] uses this list to undo the compact spelling of OONI's bucket
/// keys (`webconnectivity`), so a name matters here only if it has an underscore; the
/// others are listed so that the list says which names are known. Names that OONI itself
/// writes in both spellings stay distinct: probe-cli renamed `stun_reachability` to
/// `stunreachability` in 2021 and OONI's API lists the new name, so both are here and each
/// is kept as written.
pub const KNOWN_TEST_NAMES: &[&str] = &[
    // Python ooniprobe, Measurement Kit and their specifications (2012–2020).
    "bridge_reachability",
    "captiveportal",
    "dns_consistency",
    "dns_injection",
    "dns_n_http",
    "dns_spoof",
    "http_header_field_manipulation",
    "http_host",
    "http_invalid_request_line",
    "http_requests",
    "lantern_circumvention_tool_test",
    "meek_fronted_requests_test",
    "multi_protocol_traceroute",
    "openvpn_client_test",
    "tcp_connect",
    // probe-engine / probe-cli experiments and their specifications.
    "browser_web",
    "dash",
    "ddr",
    "dnscheck",
    "dnsping",
    "doh",
    "echcheck",
    "example",
    "facebook_messenger",
    "http_host_header",
    "ndt",
    "openvpn",
    "portfiltering",
    "psiphon",
    "quicping",
    "riseupvpn",
    "shadowsocks",
    "signal",
    "simple_sni",
    "simplequicping",
    "sni_blocking",
    "stun_reachability",
    "stunreachability",
    "tcpping",
    "telegram",
    "tlsmiddlebox",
    "tlsping",
    "tlstool",
    "tor",
    "torsf",
    "urlgetter",
    "vanilla_tor",
    "web_connectivity",
    "whatsapp",
];

/// The known snake_case name whose underscore-free spelling is `name`, if `name` is such
/// a compact spelling (and not itself a known name).
fn expand_compact(name: &str) -> Option<&'static str> {
    if name.contains('_') || KNOWN_TEST_NAMES.contains(&name) {
        return None;
    }
    KNOWN_TEST_NAMES
        .iter()
        .find(|known| known.contains('_') && known.bytes().filter(|&b| b != b'_').eq(name.bytes()))
        .copied()
}

/// The canonical spelling of a body's `test_name`: a name without underscore that is the
/// underscore-free spelling of a [`KNOWN_TEST_NAMES`] entry becomes that entry
/// (`webconnectivity` → `web_connectivity`, `httpheaderfieldmanipulation` →
/// `http_header_field_manipulation`); every other name is returned as written (a known
/// name, `stunreachability` included, an unknown one like `foobar`, or one with
/// underscores).
///
/// OONI's bucket keys spell test names without underscores and a few bodies carry that
/// spelling; without this they would make a `test_name` partition of their own.
///
/// ```
/// use ooni_model::canonical_test_name;
///
/// assert_eq!(canonical_test_name("webconnectivity"), "web_connectivity");
/// assert_eq!(canonical_test_name("web_connectivity"), "web_connectivity");
/// assert_eq!(canonical_test_name("foobar"), "foobar");
/// ```
pub fn canonical_test_name(name: &str) -> Cow<'_, str> {
    Cow::Borrowed(expand_compact(name).unwrap_or(name))
}

/// A measurement's test name, in its canonical spelling ([`canonical_test_name`]) and
/// checked once: it becomes a partition directory (`test_name=…`), so it is a plain
/// identifier of lower-case ASCII letters, digits and underscores, starting with a letter,
/// at most 64 bytes ([`TestName::is_valid`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TestName<'a>(Cow<'a, str>);

impl<'a> TestName<'a> {
    /// The canonical spelling of a body's `test_name`, checked.
    ///
    /// ```
    /// use ooni_model::TestName;
    ///
    /// assert_eq!(TestName::from_body("webconnectivity".into()).unwrap().as_str(), "web_connectivity");
    /// assert!(TestName::from_body("../etc".into()).is_err());
    /// ```
    pub fn from_body(name: Cow<'a, str>) -> Result<TestName<'a>, RecordError> {
        let name = match expand_compact(&name) {
            Some(known) => Cow::Borrowed(known),
            None => name,
        };
        TestName::check(&name)?;
        Ok(TestName(name))
    }

    /// Whether `name` is a plain identifier: lower-case ASCII letters, digits and
    /// underscores, starting with a letter, at most 64 bytes.
    pub fn is_valid(name: &str) -> bool {
        name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
    }

    /// [`TestName::is_valid`], as the reject a measurement with that name gets.
    pub fn check(name: &str) -> Result<(), RecordError> {
        if TestName::is_valid(name) {
            Ok(())
        } else {
            Err(RecordError::invalid_value(
                "test_name",
                name,
                "expected lower-case letters, digits and underscores (at most 64)",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, owned.
    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl fmt::Display for TestName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TestName<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn canonical_test_names() {
        for (body, want) in [
            ("webconnectivity", "web_connectivity"),
            ("web_connectivity", "web_connectivity"),
            (
                "httpheaderfieldmanipulation",
                "http_header_field_manipulation",
            ),
            ("httpinvalidrequestline", "http_invalid_request_line"),
            ("facebookmessenger", "facebook_messenger"),
            ("vanillator", "vanilla_tor"),
            ("openvpnclienttest", "openvpn_client_test"),
            ("httphostheader", "http_host_header"),
            ("httphost", "http_host"),
            // OONI's own one-word names are kept as written.
            ("stunreachability", "stunreachability"),
            ("stun_reachability", "stun_reachability"),
            ("dnscheck", "dnscheck"),
            ("urlgetter", "urlgetter"),
            ("captiveportal", "captiveportal"),
            // Unknown names and partial spellings are left alone.
            ("foobar", "foobar"),
            ("web_connectivityy", "web_connectivityy"),
            ("webconnectivit", "webconnectivit"),
            ("web__connectivity", "web__connectivity"),
            ("", ""),
        ] {
            assert_eq!(canonical_test_name(body), want, "{body:?}");
        }
        assert!(matches!(
            canonical_test_name("webconnectivity"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn known_test_names_are_valid_and_their_compact_spellings_unambiguous() {
        let mut compact = std::collections::HashMap::new();
        for &name in KNOWN_TEST_NAMES {
            TestName::check(name).unwrap();
            assert_eq!(canonical_test_name(name), name);
            if name.contains('_') {
                let c: String = name.chars().filter(|&c| c != '_').collect();
                // A compact spelling OONI itself uses (`stunreachability`) stays as written.
                let want = if KNOWN_TEST_NAMES.contains(&c.as_str()) {
                    c.as_str()
                } else {
                    name
                };
                assert_eq!(canonical_test_name(&c), want, "{c}");
                // Two snake_case names with one compact spelling would make the rule pick one.
                assert_eq!(compact.insert(c, name), None, "{name}");
            }
        }
    }

    #[test]
    fn hostile_or_odd_names_are_refused() {
        for bad in ["", "../../etc", "Web", "1abc", "_x", "a b", &"x".repeat(65)] {
            assert!(!TestName::is_valid(bad), "{bad:?}");
            assert_eq!(
                TestName::from_body(bad.into()).unwrap_err().reason(),
                "invalid_value"
            );
        }
        let owned = TestName::from_body(Cow::Owned("webconnectivity".to_owned())).unwrap();
        assert_eq!(owned.as_str(), "web_connectivity");
    }
}
