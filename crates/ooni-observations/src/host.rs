//! Host names, IP literals, URLs and `ip:port` addresses.

use std::net::IpAddr;

/// Normalizes a host for use as a target domain: trims, removes IPv6 brackets and a
/// trailing dot, lower-cases, encodes non-ASCII labels with punycode (`xn--…`, so that
/// `http://яндекс.рф/` and the probe's DNS query for `xn--d1acpjx3f.xn--p1ai` agree) and
/// writes IP literals in their canonical form.
///
/// `None` when the result is neither an IP literal nor a plausible DNS name (see
/// [`is_plausible_dns_name`]): probes write whatever they were given (`exa mple.com`,
/// `%65xample.com`, a NUL), and such text must not become a `domain` that aggregates
/// count as a site.
pub(crate) fn normalize_host(raw: &str) -> Option<String> {
    let mut h = raw.trim();
    if let Some(inner) = h.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        h = inner;
    }
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.is_empty() {
        return None;
    }
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    let name = if h.is_ascii() {
        h.to_ascii_lowercase()
    } else {
        let lower = h.to_lowercase();
        let labels: Option<Vec<String>> = lower
            .split('.')
            .map(|label| {
                if label.is_ascii() {
                    Some(label.to_owned())
                } else {
                    punycode_encode(label).map(|p| format!("xn--{p}"))
                }
            })
            .collect();
        labels?.join(".")
    };
    // Checked after punycode: the limits apply to the name as it travels in DNS, and the
    // encoding keeps a label's ASCII characters (a space stays a space).
    is_plausible_dns_name(&name).then_some(name)
}

/// Whether `name` (lower-case ASCII, no trailing dot) could be a DNS host name: 1–253
/// bytes of labels separated by single dots, each label 1–63 bytes of `a-z`, `0-9`, `-`
/// and `_`. The underscore is not allowed in host names by RFC 952, but real names carry
/// it (`_dmarc.example.com`, sloppy CDN records) and probes do query them; `*` and other
/// punctuation never reach a resolver as a query name.
fn is_plausible_dns_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

/// The canonical text of an IP literal, or `None` when `s` is not one.
pub(crate) fn canonical_ip(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    s.parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

/// Whether `s` is an IP literal (with or without IPv6 brackets).
pub(crate) fn is_ip_literal(s: &str) -> bool {
    canonical_ip(s).is_some()
}

/// The parts of a URL this crate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts {
    /// Lower-cased scheme (`http`, `https`, …).
    pub scheme: String,
    /// Raw host (brackets removed), not yet normalized.
    pub host: String,
    /// Explicit port, else the scheme's default (80, 443).
    pub port: Option<u16>,
}

/// Splits `scheme://[userinfo@]host[:port][/…]`. Returns `None` without a `://`.
pub(crate) fn parse_url(url: &str) -> Option<UrlParts> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = split_host_port(hostport);
    let port = port.or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    });
    Some(UrlParts {
        scheme,
        host: host.to_owned(),
        port,
    })
}

/// Splits `host:port`, `[v6]:port`, `[v6]` or a bare host / IPv6 literal.
fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host, port);
        }
        return (rest, None);
    }
    match s.rsplit_once(':') {
        // More than one colon without brackets: an IPv6 literal without a port.
        Some((host, _)) if host.contains(':') => (s, None),
        Some((host, port)) => match port.parse() {
            Ok(p) => (host, Some(p)),
            Err(_) => (host, None),
        },
        None => (s, None),
    }
}

/// An `ip:port` address as written in `tls_handshakes[].address`, `requests[].address`,
/// `network_events[].address` and the control's keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Address {
    /// Canonical IP text, or `"scrubbed"` for the probe's own (redacted) address, or the
    /// raw host when it is neither.
    pub ip: String,
    /// The port, when present.
    pub port: Option<u16>,
}

/// Parses an address; `[scrubbed]` becomes the host `scrubbed`, as oonidata's
/// `fix_address` does.
pub(crate) fn parse_address(s: &str) -> Option<Address> {
    let fixed = s.trim().replace("[scrubbed]", "scrubbed");
    let (host, port) = split_host_port(&fixed);
    if host.is_empty() {
        return None;
    }
    Some(Address {
        ip: canonical_ip(host).unwrap_or_else(|| host.to_owned()),
        port,
    })
}

/// The `ip` of a `tcp_connect` entry: canonical when it is an IP literal, `"scrubbed"` for
/// `[scrubbed]`, otherwise as written.
pub(crate) fn normalize_ip_field(s: &str) -> String {
    let t = s.trim();
    if t.contains("[scrubbed]") || t == "scrubbed" {
        return "scrubbed".to_owned();
    }
    canonical_ip(t).unwrap_or_else(|| t.to_owned())
}

/// RFC 3492 punycode encoding of one label (without the `xn--` prefix).
fn punycode_encode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const INITIAL_BIAS: u32 = 72;
    const INITIAL_N: u32 = 128;

    fn digit(d: u32) -> Option<char> {
        let b = u8::try_from(d).ok()?;
        Some(char::from(if b < 26 { b'a' + b } else { b'0' + (b - 26) }))
    }

    let code_points: Vec<u32> = input.chars().map(u32::from).collect();
    let mut output: String = input.chars().filter(char::is_ascii).collect();
    let basic = u32::try_from(output.len()).ok()?;
    let total = u32::try_from(code_points.len()).ok()?;
    if basic > 0 {
        output.push('-');
    }
    let mut n = INITIAL_N;
    let mut delta: u32 = 0;
    let mut bias = INITIAL_BIAS;
    let mut handled = basic;
    while handled < total {
        let m = code_points.iter().copied().filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &code_points {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        TMIN
                    } else if k >= bias + TMAX {
                        TMAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    output.push(digit(t + (q - t) % (BASE - t))?);
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                output.push(digit(q)?);
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(output)
}

/// RFC 3492 bias adaptation.
fn adapt(delta: u32, num_points: u32, first_time: bool) -> u32 {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    let mut delta = if first_time { delta / DAMP } else { delta / 2 };
    delta += delta / num_points;
    let mut k = 0;
    while delta > ((BASE - TMIN) * TMAX) / 2 {
        delta /= BASE - TMIN;
        k += BASE;
    }
    k + (((BASE - TMIN + 1) * delta) / (delta + SKEW))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            normalize_host("WWW.Example.COM.").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            normalize_host("[2001:DB8::1]").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            normalize_host("яндекс.рф").as_deref(),
            Some("xn--d1acpjx3f.xn--p1ai")
        );
        assert_eq!(
            normalize_host("Яндекс.рф").as_deref(),
            Some("xn--d1acpjx3f.xn--p1ai")
        );
        assert_eq!(
            normalize_host("bücher.de").as_deref(),
            Some("xn--bcher-kva.de")
        );
        assert_eq!(normalize_host(""), None);
        assert_eq!(normalize_host("."), None);
    }

    #[test]
    fn implausible_host_names_are_none() {
        let label63 = "a".repeat(63);
        let label64 = "a".repeat(64);
        // 4 labels of 63 bytes and 3 dots: 255 bytes, over the 253 of a DNS name.
        let overlong = [label63.as_str(); 4].join(".");
        let cases = [
            "exa mple.com",
            "%65xample.com",
            "exa\0mple.com",
            "a..b",
            ".example.com",
            "example.com..",
            "*.example.com",
            "exa/mple.com",
            "exa mple.рф",
            &format!("{label64}.com"),
            &overlong,
        ];
        for host in cases {
            assert_eq!(normalize_host(host), None, "{host:?}");
        }
    }

    #[test]
    fn plausible_host_names_and_ip_literals_are_kept() {
        let label63 = "a".repeat(63);
        // 253 bytes: the longest name DNS carries.
        let longest = format!("{0}.{0}.{0}.{1}", label63, "a".repeat(61));
        assert_eq!(longest.len(), 253);
        let cases = [
            ("Example.COM.", "example.com"),
            ("xn--d1acpjx3f.xn--p1ai", "xn--d1acpjx3f.xn--p1ai"),
            ("яндекс.рф", "xn--d1acpjx3f.xn--p1ai"),
            ("_dmarc.example.com", "_dmarc.example.com"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:DB8:0:0::1", "2001:db8::1"),
            ("1.2.3.4", "1.2.3.4"),
            ("localhost", "localhost"),
            (&format!("{label63}.com"), &format!("{label63}.com")),
            (&longest, &longest),
        ];
        for (host, want) in cases {
            assert_eq!(normalize_host(host).as_deref(), Some(want), "{host:?}");
        }
    }

    #[test]
    fn urls() {
        let u = parse_url("https://web.whatsapp.com/").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port),
            ("https", "web.whatsapp.com", Some(443))
        );
        let u = parse_url("http://149.154.175.50:443/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("149.154.175.50", Some(443)));
        let u = parse_url("http://[2001:db8::1]:8080/x?y").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("2001:db8::1", Some(8080)));
        let u = parse_url("http://user@www.example.com:444").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("www.example.com", Some(444)));
        assert!(parse_url("not a url").is_none());
    }

    #[test]
    fn addresses() {
        let a = parse_address("[2a04:4e42:200::367]:443").unwrap();
        assert_eq!((a.ip.as_str(), a.port), ("2a04:4e42:200::367", Some(443)));
        let a = parse_address("127.0.0.1:443").unwrap();
        assert_eq!((a.ip.as_str(), a.port), ("127.0.0.1", Some(443)));
        let a = parse_address("[scrubbed]:443").unwrap();
        assert_eq!((a.ip.as_str(), a.port), ("scrubbed", Some(443)));
        let a = parse_address("2001:db8::1").unwrap();
        assert_eq!((a.ip.as_str(), a.port), ("2001:db8::1", None));
        assert_eq!(normalize_ip_field("[scrubbed]"), "scrubbed");
    }
}
