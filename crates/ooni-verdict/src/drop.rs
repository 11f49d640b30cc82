//! Measurements that never reach fastpath's table: the explicit discard rules of
//! `process_measurement` and the exceptions raised while building the row
//! (`process_measurement` and `db.clickhouse_upsert_summary`), which fastpath logs and skips.

use crate::DropReason;
use crate::envelope::Envelope;
use crate::py::{Loose, PyValue, py_int};
use ooni_model::{Json, parse_start_time};

/// The envelope-level reasons, in fastpath's evaluation order.
pub(crate) fn drop_reason(env: &Envelope<'_>) -> Option<DropReason> {
    // rid = measurement.get("report_id"); if rid is None: discard
    if env.report_id.is_none() {
        return Some(DropReason::MissingReportId);
    }
    // measurement.get("probe_cc", "").upper() == "ZZ"
    match &env.probe_cc {
        Loose::Missing => {}
        Loose::Str(s) if s.to_uppercase() == "ZZ" => return Some(DropReason::UnknownCountry),
        Loose::Str(_) => {}
        _ => return Some(DropReason::InvalidProbeCc),
    }
    // measurement.get("probe_asn", "").upper() == "AS0"
    match &env.probe_asn {
        Loose::Missing => {}
        Loose::Str(s) if s.to_uppercase() == "AS0" => return Some(DropReason::UnknownAsn),
        Loose::Str(_) => {}
        _ => return Some(DropReason::InvalidProbeAsn),
    }
    // score_measurement: tn = msm["test_name"]
    if env.test_name == Loose::Missing {
        return Some(DropReason::MissingTestName);
    }
    // ooni_run_link_id = int(g_or(annot, "ooni_run_link_id", "")), ValueError caught
    if let Some(Json::Array(_) | Json::Object(_)) =
        env.annotations.and_then(|a| a.get("ooni_run_link_id"))
    {
        return Some(DropReason::InvalidOoniRunLinkId);
    }
    // db.extract_input_domain
    let tn = env.test_name.as_str().unwrap_or("");
    match &env.input {
        None => {}
        Some(v) if !v.truthy() => {}
        // meek: ",".join(input_) needs strings
        Some(PyValue::List(items)) if tn == "meek_fronted_requests_test" => {
            let all_str = items.iter().all(|x| x.as_str().is_some());
            if !all_str {
                return Some(DropReason::InvalidInput);
            }
        }
        Some(PyValue::Str(s)) if urlsplit_raises(s) => return Some(DropReason::InvalidInput),
        Some(PyValue::Str(_)) => {}
        Some(_) => return Some(DropReason::InvalidInput), // assert isinstance(input_, str)
    }
    // asn = int(msm["probe_asn"][2:])
    let asn_ok = env
        .probe_asn
        .as_str()
        .and_then(|s| {
            s.char_indices()
                .nth(2)
                .map_or(Some(""), |(i, _)| Some(&s[i..]))
        })
        .and_then(py_int)
        .is_some();
    if !asn_ok {
        return Some(DropReason::InvalidProbeAsn);
    }
    // datetime.strptime(msm["measurement_start_time"], ...), then test_start_time
    if env
        .measurement_start_time
        .as_str()
        .and_then(parse_start_time)
        .is_none()
    {
        return Some(DropReason::InvalidMeasurementStartTime);
    }
    if env
        .test_start_time
        .as_str()
        .and_then(parse_start_time)
        .is_none()
    {
        return Some(DropReason::InvalidTestStartTime);
    }
    None
}

/// Whether `urllib.parse.urlsplit(url)` raises `ValueError` ("Invalid IPv6 URL"): unbalanced
/// brackets in the netloc, or a bracketed host that is not an IPv6 (or IPvFuture) address.
/// (CPython's NFKC netloc check is not reproduced.)
fn urlsplit_raises(url: &str) -> bool {
    let url = url.trim_start_matches(|c: char| c <= ' ');
    let url: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest = url.as_str();
    if let Some(i) = rest.find(':') {
        let scheme = &rest[..i];
        let first_ok = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
        if i > 0
            && first_ok
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            rest = &rest[i + 1..];
        }
    }
    let Some(after) = rest.strip_prefix("//") else {
        return false;
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let netloc = &after[..end];
    let (open, close) = (netloc.contains('['), netloc.contains(']'));
    if open != close {
        return true;
    }
    if open {
        let host = netloc
            .split_once('[')
            .map_or("", |(_, b)| b.split_once(']').map_or(b, |(h, _)| h));
        if let Some(v) = host.strip_prefix('v') {
            // IPvFuture: v<hex>.<anything>
            let ok = v.split_once('.').is_some_and(|(h, r)| {
                !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()) && !r.is_empty()
            });
            return !ok;
        }
        let addr = host.split_once('%').map_or(host, |(a, _)| a);
        return addr.parse::<std::net::Ipv6Addr>().is_err();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlsplit_value_errors() {
        assert!(!urlsplit_raises("http://example.com/"));
        assert!(!urlsplit_raises("http://[::1]:80/x"));
        assert!(urlsplit_raises("http://[::1/x"));
        assert!(urlsplit_raises("http://example.com]/"));
        assert!(urlsplit_raises("http://[example.com]/"));
        assert!(urlsplit_raises("http://[1.2.3.4]/"));
        assert!(!urlsplit_raises("example.com"));
        assert!(!urlsplit_raises("1.2.3.4:443"));
    }
}
