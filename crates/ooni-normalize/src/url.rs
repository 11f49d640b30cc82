//! The host of a measurement's URL input, as the `domain` column reports it.

/// The lower-cased host of a URL (`https://Web.WhatsApp.com:443/x` → `web.whatsapp.com`),
/// without userinfo, port or trailing dot. `None` when the input is not a URL
/// (`input` of dnscheck, tor targets and other non-web tests).
pub fn url_host(input: &str) -> Option<String> {
    let (scheme, rest) = input.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            url_host("https://Web.WhatsApp.com./").as_deref(),
            Some("web.whatsapp.com")
        );
        assert_eq!(
            url_host("http://user:pw@example.org:8080/a?b#c").as_deref(),
            Some("example.org")
        );
        assert_eq!(
            url_host("http://149.154.167.51:443/").as_deref(),
            Some("149.154.167.51")
        );
        assert_eq!(
            url_host("https://[2001:db8::1]:443/").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(url_host("https://bit.ly/21645").as_deref(), Some("bit.ly"));
        assert_eq!(
            url_host("dnslookup://example.com"),
            Some("example.com".to_owned())
        );
        assert_eq!(url_host("8.8.8.8:53"), None);
        assert_eq!(url_host("example.com"), None);
    }
}
