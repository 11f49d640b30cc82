//! Failure-string normalization to OONI's vocabulary.
//!
//! The rules, in order (see `docs/ooni-normalization.md` §2.3, §2.4 and §2.6):
//!
//! 1. Empty strings are success (`None`); a JSON `false` never reaches this function, a JSON
//!    `true` is normalized by the caller to `"true"`.
//! 2. `unknown_failure…` texts (both the `unknown_failure: …` form of the Go probes and the
//!    space-separated `unknown_failure '…'` form of the Python probe) go through oonidata's
//!    substring map (ooni/probe#2420), in oonidata's order. Three substrings are added here
//!    because the probe's own classifier gives them a canonical name when it sees the bare
//!    error: `use of closed network connection` → `connection_already_closed`, and
//!    `http_request_canceled` / `context canceled` → `interrupted`. Anything else becomes
//!    `unknown_failure` (the text stays in `failure_raw`).
//! 3. Legacy Twisted names (ooniprobe ≤ 2.x) map to their canonical equivalents:
//!    `connection_refused_error` → `connection_refused`, `connection_lost_error` →
//!    `connection_reset`, `tcp_timed_out_error` / `deferred_timeout_error` / `task_timed_out`
//!    → `generic_timeout_error`, `connection_done` / `response_never_received` → `eof_error`,
//!    `dns_name_error` → `dns_nxdomain_error`, `address_family_not_supported_error` →
//!    `address_family_not_supported`. Other legacy names (`connect_error`,
//!    `dns_lookup_error`, …) are kept: they have no unambiguous canonical equivalent.
//! 4. Python `[Errno N] …` strings map by Linux errno (104 reset, 111 refused, 110 timeout,
//!    113 host unreachable, 101 network unreachable); other numbers become `unknown_failure`.
//! 5. Measurement Kit `ssl_error: <OpenSSL text>`: `certificate verify failed` becomes
//!    `ssl_invalid_certificate` (OpenSSL does not say which check failed), any other
//!    OpenSSL error `ssl_failed_handshake`. This is a judgment call; no OONI code does it.
//! 6. A bare `snake_case` token is already in the vocabulary and passes through. A wrapped
//!    text ending in `: <canonical token>` (the tor test writes
//!    `Get http://…: eof_error`) becomes that token. Any other free text becomes
//!    `unknown_failure`.

/// oonidata's `unknown_failure_map` (substring → failure), applied in this order.
const UNKNOWN_FAILURE_MAP: &[(&str, &str)] = &[
    (
        "A socket operation was attempted to an unreachable network",
        "network_unreachable",
    ),
    ("connect: network is unreachable", "network_unreachable"),
    (
        "No connection could be made because the target machine actively refused it",
        "connection_refused",
    ),
    (
        "connect: can't assign requested address",
        "address_not_available",
    ),
    (": server misbehaving", "dns_server_misbehaving"),
    (
        "tls: first record does not look like a TLS handshake",
        "invalid_record",
    ),
    (
        "remote error: tls: handshake failure",
        "tls_handshake_failure",
    ),
    (
        "remote error: tls: illegal parameter",
        "tls_illegal_parameter",
    ),
    (
        "certificate has expired or is not yet valid",
        "ssl_invalid_certificate",
    ),
    ("tls: internal error", "internal_error"),
    ("tls: access denied", "access_denied"),
    (": read: connection refused", "connection_refused"),
    ("read: connection refused", "connection_refused"),
    (
        "HTTP/1.x transport connection broken: malformed HTTP version",
        "http_malformed_response",
    ),
    (
        "net/http: timeout awaiting response headers",
        "http_timeout",
    ),
    ("read: operation timed out", "timed_out"),
    ("connect: operation timed out", "timed_out"),
    (
        ": No address associated with hostname",
        "dns_nxdomain_error",
    ),
    (": connect: bad file descriptor", "bad_file_descriptor"),
    ("stream error: stream ID", "http_stream_error"),
    ("readLoopPeekFailLocked: <nil>", "http_golang_bug"),
    ("connect: no route to host", "host_unreachable"),
    (
        "getaddrinfow: The requested name is valid, but no data of the requested type was found.",
        "dns_no_answer",
    ),
    (
        "An existing connection was forcibly closed by the remote host",
        "connection_reset",
    ),
    (
        "wsarecv: Se ha forzado la interrupción de una conexión existente por el host remoto.",
        "connection_reset",
    ),
    (
        "wsarecv: Connessione in corso interrotta forzatamente dall'host remoto.",
        "connection_reset",
    ),
    (
        "wsarecv: Uma ligação existente foi forçada a fechar pelo anfitrião remoto",
        "connection_reset",
    ),
    (
        "This is usually a temporary error during hostname resolution and means that the local server did not receive a response from an authoritative server",
        "dns_temporary_failure",
    ),
    (
        "Der angeforderte Name ist gültig, es wurden jedoch keine Daten des angeforderten Typs gefunden",
        "dns_temporary_failure",
    ),
    (
        "une erreur temporaire qui se produit durant la résolution du nom d’hôte",
        "dns_temporary_failure",
    ),
    (
        "Dies ist normalerweise ein zeitweiliger Fehler bei der Auflösung von Hostnamen",
        "dns_temporary_failure",
    ),
    (
        "Este é geralmente um erro temporário durante a resolução de nomes de anfitrião",
        "dns_temporary_failure",
    ),
    (
        "normalmente un error temporal durante la resolución de nombres de host",
        "dns_temporary_failure",
    ),
    (
        "address family not supported by protocol",
        "address_family_not_supported",
    ),
    // Additions (not in oonidata's map): canonical names the probe's classifier gives
    // these errors when it sees them unwrapped.
    (
        "use of closed network connection",
        "connection_already_closed",
    ),
    ("http_request_canceled", "interrupted"),
    ("context canceled", "interrupted"),
];

/// Legacy (Twisted / ooniprobe ≤ 2.x) names with a canonical equivalent.
const LEGACY_NAMES: &[(&str, &str)] = &[
    ("connection_refused_error", "connection_refused"),
    ("connection_lost_error", "connection_reset"),
    ("tcp_timed_out_error", "generic_timeout_error"),
    ("deferred_timeout_error", "generic_timeout_error"),
    ("task_timed_out", "generic_timeout_error"),
    ("connection_done", "eof_error"),
    ("response_never_received", "eof_error"),
    ("dns_name_error", "dns_nxdomain_error"),
    (
        "address_family_not_supported_error",
        "address_family_not_supported",
    ),
];

/// Canonical names a wrapped text (`…: <name>`) may end with.
const CANONICAL: &[&str] = &[
    "generic_timeout_error",
    "timed_out",
    "connection_refused",
    "connection_reset",
    "connection_aborted",
    "connection_already_closed",
    "eof_error",
    "host_unreachable",
    "network_unreachable",
    "network_down",
    "network_reset",
    "address_not_available",
    "address_family_not_supported",
    "android_dns_cache_no_data",
    "interrupted",
    "quic_incompatible_version",
    "json_parse_error",
];

/// Normalizes a failure string (as written by the probe) to OONI's vocabulary.
///
/// Returns `None` for an empty string (success). See the module documentation for the rules.
///
/// ```
/// use ooni_observations::normalize_failure;
/// assert_eq!(normalize_failure("connection_refused_error").as_deref(), Some("connection_refused"));
/// assert_eq!(
///     normalize_failure("unknown_failure: dial tcp [scrubbed]: connect: no route to host").as_deref(),
///     Some("host_unreachable"),
/// );
/// assert_eq!(normalize_failure(""), None);
/// ```
pub fn normalize_failure(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    Some(normalize_nonempty(s).to_owned())
}

fn normalize_nonempty(s: &str) -> &str {
    if s.starts_with("unknown_failure") {
        return UNKNOWN_FAILURE_MAP
            .iter()
            .find(|(sub, _)| s.contains(sub))
            .map_or("unknown_failure", |(_, norm)| norm);
    }
    if let Some((_, norm)) = LEGACY_NAMES.iter().find(|(name, _)| *name == s) {
        return norm;
    }
    if let Some(rest) = s.strip_prefix("[Errno ") {
        let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return match number.as_str() {
            "104" => "connection_reset",
            "111" => "connection_refused",
            "110" => "generic_timeout_error",
            "113" => "host_unreachable",
            "101" => "network_unreachable",
            _ => "unknown_failure",
        };
    }
    if s.starts_with("ssl_error") {
        return if s.contains("certificate verify failed") {
            "ssl_invalid_certificate"
        } else {
            "ssl_failed_handshake"
        };
    }
    if is_token(s) {
        return s;
    }
    if let Some((_, last)) = s.rsplit_once(": ") {
        let last = last.trim();
        if is_token(last)
            && (CANONICAL.contains(&last) || last.starts_with("dns_") || last.starts_with("ssl_"))
        {
            return last;
        }
    }
    "unknown_failure"
}

/// A bare `snake_case` token such as `generic_timeout_error`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && s.as_bytes()[0].is_ascii_lowercase()
}

/// What a (normalized) failure means for the stage outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// A network failure: it fails the stage it appears in.
    Network,
    /// The response arrived but did not meet the test's expectation (HTTP status, redirect
    /// target, page title, redirect loop): not a network failure.
    Application,
    /// A defect of the probe, not a property of the network (`interrupted`, a cancelled
    /// parallel request, `connection_already_closed`, the Python `'ascii' codec` bug): the
    /// attempt is left out of the outcomes.
    Instrument,
}

/// Classifies a normalized failure (with its raw text, for the cases the normalized name
/// hides).
pub(crate) fn classify(normalized: &str, raw: &str) -> FailureKind {
    match normalized {
        "interrupted" | "connection_already_closed" => FailureKind::Instrument,
        "http_request_failed"
        | "http_unexpected_status_code"
        | "http_unexpected_redirect_url"
        | "http_invalid_redirect_location_host"
        | "http_invalid_redirect_url"
        | "telegram_missing_title_error" => FailureKind::Application,
        _ if raw.contains("'ascii' codec") => FailureKind::Instrument,
        _ if raw.contains("stopped after too many redirects") => FailureKind::Application,
        _ => FailureKind::Network,
    }
}

/// Whether a normalized failure can only come from name resolution.
pub(crate) fn is_dns_failure(normalized: &str) -> bool {
    normalized.starts_with("dns_") || normalized == "android_dns_cache_no_data"
}

/// Whether a normalized failure can only come from a TCP connect.
pub(crate) fn is_connect_failure(normalized: &str) -> bool {
    matches!(
        normalized,
        "connection_refused" | "host_unreachable" | "network_unreachable" | "address_not_available"
    )
}

/// Whether a normalized failure can only come from a TLS handshake.
pub(crate) fn is_tls_failure(normalized: &str) -> bool {
    normalized.starts_with("ssl_")
        || matches!(
            normalized,
            "tls_handshake_failure"
                | "tls_illegal_parameter"
                | "invalid_record"
                | "internal_error"
                | "access_denied"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        normalize_failure(s)
    }

    #[test]
    fn canonical_names_pass_through() {
        for s in [
            "generic_timeout_error",
            "connection_reset",
            "connection_refused",
            "eof_error",
            "dns_nxdomain_error",
            "dns_no_answer",
            "android_dns_cache_no_data",
            "ssl_invalid_hostname",
            "ssl_unknown_authority",
            "ssl_invalid_certificate",
            "host_unreachable",
            "network_unreachable",
            "json_parse_error",
            "connect_error",
            "dns_lookup_error",
            "unknown_error",
        ] {
            assert_eq!(n(s).as_deref(), Some(s), "{s}");
        }
    }

    #[test]
    fn empty_is_success() {
        assert_eq!(n(""), None);
        assert_eq!(n("   "), None);
    }

    #[test]
    fn legacy_twisted_names() {
        assert_eq!(
            n("connection_refused_error").as_deref(),
            Some("connection_refused")
        );
        assert_eq!(
            n("connection_lost_error").as_deref(),
            Some("connection_reset")
        );
        assert_eq!(
            n("tcp_timed_out_error").as_deref(),
            Some("generic_timeout_error")
        );
        assert_eq!(
            n("deferred_timeout_error").as_deref(),
            Some("generic_timeout_error")
        );
        assert_eq!(
            n("task_timed_out").as_deref(),
            Some("generic_timeout_error")
        );
        assert_eq!(n("response_never_received").as_deref(), Some("eof_error"));
        assert_eq!(n("connection_done").as_deref(), Some("eof_error"));
        assert_eq!(n("dns_name_error").as_deref(), Some("dns_nxdomain_error"));
        assert_eq!(
            n("address_family_not_supported_error").as_deref(),
            Some("address_family_not_supported")
        );
    }

    #[test]
    fn unknown_failure_texts() {
        assert_eq!(
            n("unknown_failure: dial tcp [scrubbed]: connect: no route to host").as_deref(),
            Some("host_unreachable")
        );
        assert_eq!(
            n("unknown_failure: dial tcp 1.2.3.4:443: connect: network is unreachable").as_deref(),
            Some("network_unreachable")
        );
        assert_eq!(
            n("unknown_failure: remote error: tls: handshake failure").as_deref(),
            Some("tls_handshake_failure")
        );
        assert_eq!(
            n("unknown_failure: read tcp 10.0.0.1:5555->1.1.1.1:443: wsarecv: An existing connection was forcibly closed by the remote host.")
                .as_deref(),
            Some("connection_reset")
        );
        assert_eq!(
            n("unknown_failure: lookup x.org on 8.8.8.8:53: server misbehaving").as_deref(),
            Some("dns_server_misbehaving")
        );
        assert_eq!(
            n("unknown_failure: net/http: timeout awaiting response headers").as_deref(),
            Some("http_timeout")
        );
        // Additions: canonical names for unwrapped classifier texts.
        assert_eq!(
            n("unknown_failure: read tcp [scrubbed]->[scrubbed]: use of closed network connection")
                .as_deref(),
            Some("connection_already_closed")
        );
        assert_eq!(
            n("unknown_failure: http_request_canceled").as_deref(),
            Some("interrupted")
        );
        // Unmapped texts collapse to the bucket; the text stays in failure_raw.
        assert_eq!(
            n("unknown_failure: unknown targetURL scheme").as_deref(),
            Some("unknown_failure")
        );
        assert_eq!(
            n("unknown_failure: stopped after too many redirects").as_deref(),
            Some("unknown_failure")
        );
        // The Python probe's space-separated form.
        assert_eq!(
            n("unknown_failure 'ascii' codec can't decode byte 0xd9 in position 101: ordinal not in range(128)")
                .as_deref(),
            Some("unknown_failure")
        );
    }

    #[test]
    fn errno_and_openssl_texts() {
        assert_eq!(
            n("[Errno 111] Connection refused").as_deref(),
            Some("connection_refused")
        );
        assert_eq!(
            n("[Errno 104] Connection reset by peer").as_deref(),
            Some("connection_reset")
        );
        assert_eq!(
            n("[Errno 110] Connection timed out").as_deref(),
            Some("generic_timeout_error")
        );
        assert_eq!(
            n("[Errno 113] No route to host").as_deref(),
            Some("host_unreachable")
        );
        assert_eq!(
            n("[Errno 2] No such file").as_deref(),
            Some("unknown_failure")
        );
        assert_eq!(
            n("ssl_error: error:14007086:SSL routines:CONNECT_CR_CERT:certificate verify failed")
                .as_deref(),
            Some("ssl_invalid_certificate")
        );
        assert_eq!(
            n("ssl_error: error:1408F10B:SSL routines:ssl3_get_record:wrong version number")
                .as_deref(),
            Some("ssl_failed_handshake")
        );
    }

    #[test]
    fn wrapped_and_free_texts() {
        assert_eq!(
            n("Get http://128.31.0.39:9131/tor/status-vote/current/consensus.z: eof_error")
                .as_deref(),
            Some("eof_error")
        );
        assert_eq!(
            n("handshake: ntor AUTH mismatch: Derived: 51 Received:24.").as_deref(),
            Some("unknown_failure")
        );
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify("http_request_failed", "http_request_failed"),
            FailureKind::Application
        );
        assert_eq!(
            classify(
                "unknown_failure",
                "unknown_failure: stopped after too many redirects"
            ),
            FailureKind::Application
        );
        assert_eq!(
            classify("interrupted", "unknown_failure: http_request_canceled"),
            FailureKind::Instrument
        );
        assert_eq!(
            classify(
                "unknown_failure",
                "unknown_failure 'ascii' codec can't decode"
            ),
            FailureKind::Instrument
        );
        assert_eq!(
            classify("generic_timeout_error", "generic_timeout_error"),
            FailureKind::Network
        );
        assert!(is_dns_failure("dns_nxdomain_error"));
        assert!(is_dns_failure("android_dns_cache_no_data"));
        assert!(!is_dns_failure("generic_timeout_error"));
        assert!(is_tls_failure("ssl_unknown_authority"));
        assert!(!is_tls_failure("connection_reset"));
    }
}
