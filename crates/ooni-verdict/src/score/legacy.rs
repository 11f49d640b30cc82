//! The rarer tests, scored on a full [`PyValue`] of `test_keys`.

use std::borrow::Cow;

use super::{Scores, parse_tk, probe_cc_upper};
use crate::envelope::Envelope;
use crate::fingerprints::Fingerprints;
use crate::http::{MatchErr, Response, match_response};
use crate::py::{Crash, EMPTY_DICT, Loose, PyResult, PyValue, py_float};

/// `g_or(msm, "test_keys", {})`.
fn test_keys<'a>(env: &Envelope<'a>) -> PyResult<PyValue<'a>> {
    Ok(match parse_tk::<PyValue<'a>>(env)? {
        PyValue::Null => PyValue::Dict(Vec::new()),
        v => v,
    })
}

/// `tk.get(key)` where `tk` must be a dict.
fn get<'s, 'a>(tk: &'s PyValue<'a>, key: &str) -> PyResult<Option<&'s PyValue<'a>>> {
    tk.dict_get(key, "test_keys is not a dict")
}

fn failed(reason: &'static str) -> PyResult<Scores> {
    let mut s = Scores::default();
    s.fail(reason);
    Ok(s)
}

fn blocking(bg: f64) -> PyResult<Scores> {
    Ok(Scores {
        blocking_general: bg,
        ..Scores::default()
    })
}

/// A hashable scalar as Python's set/dict would compare it (`True == 1 == 1.0`).
#[derive(Debug, PartialEq)]
enum HKey<'s> {
    Null,
    Num(f64),
    Str(Cow<'s, str>),
}

fn hkey<'s>(v: &PyValue<'s>) -> PyResult<HKey<'s>> {
    Ok(match v {
        PyValue::Null => HKey::Null,
        PyValue::Bool(b) => HKey::Num(if *b { 1.0 } else { 0.0 }),
        PyValue::Int(i) => HKey::Num(*i as f64),
        PyValue::Float(f) => HKey::Num(*f),
        PyValue::Str(s) => HKey::Str(s.clone()),
        PyValue::List(_) | PyValue::Dict(_) => return Err(Crash("unhashable header value")),
    })
}

/// Python set equality of two collections of (header name, value) pairs.
fn set_eq<'s>(a: &[(String, HKey<'s>)], b: &[(String, HKey<'s>)]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// The `("Connection", "close")` pair both header sets discard.
fn is_conn_close(x: &(String, HKey<'_>)) -> bool {
    x.0 == "Connection" && x.1 == HKey::Str(Cow::Borrowed("close"))
}

/// `score_measurement_hhfm`.
pub(super) fn hhfm(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    if env.report_id == Loose::Missing {
        return Err(Crash("missing report_id"));
    }
    // try: resp = tk["requests"][0].get("response", {})
    // except (KeyError, IndexError, TypeError): accuracy 0
    let Some(reqs) = tk.get("requests") else {
        return failed("no_requests");
    };
    let r0: Cow<'_, PyValue<'_>> = match reqs {
        PyValue::List(l) => match l.first() {
            Some(x) => Cow::Borrowed(x),
            None => return failed("no_requests"),
        },
        PyValue::Str(s) if !s.is_empty() => {
            // "x"[0].get(...) raises AttributeError, which is not caught
            return Err(Crash("requests[0] is not a dict"));
        }
        _ => return failed("no_requests"),
    };
    if !r0.is_dict() {
        return Err(Crash("requests[0] is not a dict"));
    }
    let resp = r0.get("response").unwrap_or(&EMPTY_DICT);
    if *resp == PyValue::Null {
        return failed("null_response");
    }
    if !resp.is_dict() {
        return Err(Crash("response is not a dict"));
    }
    let body = match resp.get("body") {
        None | Some(PyValue::Null) => return blocking(1.0), // "Empty body"
        Some(b) => b,
    };
    // try: ctrl_headers = ujson.loads(resp_body)["headers_dict"]  except: 1.0
    let Some(body) = body.as_str() else {
        return blocking(1.0);
    };
    let Ok(parsed) = serde_json::from_str::<PyValue<'_>>(body) else {
        return blocking(1.0);
    };
    let Some(ctrl_headers) = parsed.get("headers_dict") else {
        return blocking(1.0);
    };
    // ctrl = set((k, v[0]) for k, v in ctrl_headers.items())
    let PyValue::Dict(ctrl_items) = ctrl_headers else {
        return Err(Crash("headers_dict is not a dict"));
    };
    let mut ctrl: Vec<(String, HKey<'static>)> = Vec::new();
    for (k, v) in ctrl_items {
        let first = v.py_index(0, "headers_dict value has no first element")?;
        ctrl.push((k.to_string(), hkey(&first)?.into_owned()));
    }
    // expected = set(tk["requests"][0].get("request", {}).get("headers", {}).items())
    let req = r0.get("request").unwrap_or(&EMPTY_DICT);
    if !req.is_dict() {
        return Err(Crash("request is not a dict"));
    }
    let headers = req.get("headers").unwrap_or(&EMPTY_DICT);
    let PyValue::Dict(exp_items) = headers else {
        return Err(Crash("request headers are not a dict"));
    };
    let mut expected: Vec<(String, HKey<'_>)> = Vec::new();
    for (k, v) in exp_items {
        expected.push((k.to_string(), hkey(v)?));
    }
    ctrl.retain(|x| !is_conn_close(x));
    expected.retain(|x| !is_conn_close(x));
    if set_eq(&expected, &ctrl) {
        Ok(Scores::default())
    } else {
        blocking(1.1)
    }
}

impl HKey<'_> {
    fn into_owned(self) -> HKey<'static> {
        match self {
            HKey::Null => HKey::Null,
            HKey::Num(n) => HKey::Num(n),
            HKey::Str(s) => HKey::Str(Cow::Owned(s.into_owned())),
        }
    }
}

/// `score_http_invalid_request_line`.
pub(super) fn http_invalid_request_line(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    if env.report_id == Loose::Missing {
        return Err(Crash("missing report_id"));
    }
    let empty = PyValue::List(Vec::new());
    let sent = get(&tk, "sent")?.unwrap_or(&empty);
    let received = get(&tk, "received")?.unwrap_or(&empty);
    // if not len(sent) and not len(received)
    if sent.py_len("len(sent) failed")? == 0 && received.py_len("len(received) failed")? == 0 {
        return failed("no_data");
    }
    let s = sent.py_iter("sent is not iterable")?;
    let r = received.py_iter("received is not iterable")?;
    let anomaly = s.iter().zip(r.iter()).any(|(a, b)| !a.py_eq(b));
    blocking(if anomaly { 1.0 } else { 0.0 })
}

/// `score_vanilla_tor`.
pub(super) fn vanilla_tor(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    // tor_logs = tk.get("tor_logs") or tk.get("tor_log")
    let logs = match get(&tk, "tor_logs")? {
        Some(v) if v.truthy() => Some(v),
        _ => get(&tk, "tor_log")?,
    };
    let logs = match logs {
        None | Some(PyValue::Null) => return failed("no_tor_logs"),
        Some(l) => l,
    };
    let done = logs.py_contains_str("Bootstrapped 100%: Done", "tor_logs is not a container")?
        || logs.py_contains_str(
            "Bootstrapped 100% (done): Done",
            "tor_logs is not a container",
        )?;
    if done {
        return Ok(Scores::default());
    }
    // progress = float(tk.get("tor_progress", 0))
    let progress = match get(&tk, "tor_progress")? {
        None => 0.0,
        Some(PyValue::Bool(b)) => f64::from(u8::from(*b)),
        Some(PyValue::Int(i)) => *i as f64,
        Some(PyValue::Float(f)) => *f,
        Some(PyValue::Str(s)) => py_float(s).ok_or(Crash("float(tor_progress) failed"))?,
        Some(_) => return Err(Crash("float(tor_progress) failed")),
    };
    // min(100, max(0, progress))
    let progress = if progress > 0.0 { progress } else { 0.0 };
    let progress = if progress < 100.0 { progress } else { 100.0 };
    if progress == 100.0 {
        return Ok(Scores::default());
    }
    blocking(1.0 - progress * 0.004)
}

/// `score_tcp_connect`.
pub(super) fn tcp_connect(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    match &env.input {
        Some(v) if v.truthy() => {}
        _ => return Err(Crash("assert msm[\"input\"] failed")),
    }
    let conn = get(&tk, "connection")?;
    let conn = conn.and_then(PyValue::as_str);
    match conn {
        Some("success") => Ok(Scores::default()),
        Some(
            "generic_timeout_error"
            | "connection_refused_error"
            | "connect_error"
            | "tcp_timed_out_error",
        ) => blocking(0.8),
        _ => blocking(1.0),
    }
}

/// `score_dash`.
pub(super) fn dash(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    let failure = get(&tk, "failure")?;
    if tk == EMPTY_DICT {
        return failed("empty_test_keys");
    }
    let Some(failure) = failure.filter(|f| **f != PyValue::Null) else {
        return Ok(Scores::default());
    };
    const KNOWN: [&str; 9] = [
        "connection_aborted",
        "json_parse_error",
        "eof_error",
        "json_processing_error",
        "http_request_failed",
        "connect_error",
        "generic_timeout_error",
        "broken_pipe",
        "connection_refused",
    ];
    let mut s = Scores::default();
    if KNOWN.iter().any(|k| failure.eq_str(k))
        || failure.py_contains_str("ssl_error", "dash failure is not a container")?
    {
        s.blocking_general = 0.1;
    }
    s.fail("dash_failure");
    Ok(s)
}

/// `score_meek_fronted_requests_test`.
pub(super) fn meek(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    // requests = tk.get("requests", ()) or ()
    let requests = match get(&tk, "requests")? {
        Some(r) if r.truthy() => r,
        _ => {
            let mut s = Scores {
                blocking_general: 1.0,
                ..Scores::default()
            };
            s.fail("no_requests");
            return Ok(s);
        }
    };
    requests.py_len("len(requests) failed")?;
    let mut s = Scores::default();
    for r in requests.py_iter("requests is not iterable")? {
        let resp = match r.dict_get("response", "requests[] element is not a dict")? {
            None => &EMPTY_DICT,
            Some(PyValue::Null) => return blocking(1.0),
            Some(v) => v,
        };
        let zero = PyValue::Int(0);
        let code = resp
            .dict_get("code", "response is not a dict")?
            .unwrap_or(&zero);
        if !code.py_eq(&PyValue::Int(200)) {
            return blocking(1.0);
        }
        let server: Option<Cow<'_, PyValue<'_>>> = match resp.get("headers") {
            None => None,
            Some(PyValue::List(pairs)) => {
                // {i[0]: i[1][0] for i in headers if i}
                let mut found = None;
                for i in pairs.iter().filter(|i| i.truthy()) {
                    let key = i.py_index(0, "header pair has no name")?;
                    let val = i.py_index(1, "header pair has no value")?;
                    let val = val
                        .py_index(0, "header value has no first element")?
                        .into_owned();
                    if !key.hashable() {
                        return Err(Crash("unhashable header name"));
                    }
                    if key.eq_str("Server") {
                        found = Some(Cow::Owned(val));
                    }
                }
                found
            }
            Some(h @ PyValue::Dict(_)) => h.get("Server").map(Cow::Borrowed),
            Some(_) => return Err(Crash("response headers are not a dict")),
        };
        let server = match server.as_deref() {
            None => "",
            Some(PyValue::Str(s)) => s,
            Some(_) => return Err(Crash("Server header is not a string")),
        };
        if !server.starts_with("ECAcc ") {
            s.blocking_general += 0.5;
        }
    }
    Ok(s)
}

/// `score_psiphon`.
pub(super) fn psiphon(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    let failure = get(&tk, "failure")?;
    let zero = PyValue::Int(0);
    let bootstrap_time = get(&tk, "bootstrap_time")?.unwrap_or(&zero);
    let mut s = Scores::default();
    if failure.is_none_or(|f| *f == PyValue::Null) {
        if bootstrap_time.py_eq(&zero) {
            s.fail("no_bootstrap_time");
        } else {
            s.accuracy = Some(1.0);
        }
    } else {
        s.accuracy = Some(1.0);
        s.blocking_general = 1.0;
    }
    if env.resolver_ip == Loose::Missing {
        s.fail("no_resolver_ip");
    }
    Ok(s)
}

/// `score_tor`.
pub(super) fn tor(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    let targets = get(&tk, "targets")?.unwrap_or(&EMPTY_DICT);
    if !targets.truthy() {
        return failed("no_targets");
    }
    let entries = match targets {
        PyValue::List(_) => return failed("legacy_targets_list"),
        PyValue::Dict(d) => d,
        _ => return Err(Crash("targets is not a dict")),
    };
    let (mut blocked, mut success) = (0u32, 0u32);
    for (_, d) in entries {
        let has = |k| d.py_contains_str(k, "target is not a container");
        if !has("failure")? || !has("network_events")? {
            return failed("target_missing_keys");
        }
        let f = d.dict_get("failure", "target is not a dict")?;
        match f {
            Some(PyValue::Bool(false)) => {} // did not run
            Some(PyValue::Null) | None => success += 1,
            Some(PyValue::Str(s)) if s.is_empty() => {
                return Err(Crash("assert 0: empty Tor target failure"));
            }
            Some(_) => blocked += 1,
        }
    }
    if blocked + success > 0 {
        blocking(f64::from(blocked) / f64::from(blocked + success))
    } else {
        failed("no_target_ran")
    }
}

/// `score_http_requests`.
pub(super) fn http_requests(env: &Envelope<'_>, fps: &Fingerprints) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    let blm = get(&tk, "body_length_match")?;
    let hm = get(&tk, "headers_match")?;
    let is_none = |v: Option<&PyValue<'_>>| v.is_none_or(|v| *v == PyValue::Null);
    // failed = msm.get("control_failure") or msm.get("experiment_failure")  (top level)
    if env.control_failure.truthy() || env.experiment_failure.truthy() {
        return failed("control_or_experiment_failure");
    }
    if is_none(blm) || is_none(hm) {
        return failed("missing_match_keys");
    }
    let mut s = Scores::default();
    let reachable = blm.is_some_and(PyValue::truthy) && hm.is_some_and(PyValue::truthy);
    if !reachable {
        s.blocking_general = 1.0;
    }
    let empty = PyValue::List(Vec::new());
    let requests = tk.g_or("requests", &empty, "test_keys is not a dict")?;
    let mut matches = Vec::new();
    for req in requests.py_iter("requests is not iterable")? {
        // is_tor = gn(req, "request", "tor", "is_tor")
        let request = req.g_or("request", &EMPTY_DICT, "requests[] element is not a dict")?;
        let tor = request.g_or("tor", &EMPTY_DICT, "request is not a dict")?;
        let is_tor = tor.g_or("is_tor", &PyValue::Null, "request.tor is not a dict")?;
        if is_tor.truthy() {
            continue;
        }
        let resp = req.g_or("response", &EMPTY_DICT, "requests[] element is not a dict")?;
        let resp = Response::from_py(resp)?;
        match match_response(fps, &resp, &mut matches) {
            Ok(()) => {}
            Err(MatchErr::Crash(c)) => return Err(c),
            Err(MatchErr::Binascii) => return Err(Crash("binascii.Error in http_requests body")),
        }
    }
    let probe_cc = probe_cc_upper(env)?;
    // No summing of localities into blocking_general here (unlike web_connectivity).
    s.confirm_matches(fps, &probe_cc, &matches);
    Ok(s)
}

/// `score_stunreachability`.
pub(super) fn stunreachability(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    get(&tk, "endpoint")?;
    let failed = get(&tk, "failure")?.is_some_and(PyValue::truthy);
    blocking(if failed { 1.0 } else { 0.0 })
}

/// `score_torsf`.
pub(super) fn torsf(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    // sw_version == "3.8.3" and sw_name.startswith("ooniprobe-android")
    if env.software_version.eq_str("3.8.3") {
        let android = match &env.software_name {
            Loose::Missing => false, // "unknown"
            Loose::Str(s) => s.starts_with("ooniprobe-android"),
            _ => return Err(Crash("software_name is not a string")),
        };
        if android {
            return failed("known_bad_version");
        }
    }
    let failed = get(&tk, "failure")?.is_some_and(PyValue::truthy);
    blocking(if failed { 1.0 } else { 0.0 })
}

/// `score_openvpn`.
pub(super) fn openvpn(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    match get(&tk, "success")? {
        Some(PyValue::Bool(false)) => blocking(1.0),
        None | Some(PyValue::Null) => failed("success_null"),
        Some(_) => Ok(Scores::default()),
    }
}

/// `score_browser_web`.
pub(super) fn browser_web(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk = test_keys(env)?;
    let res = get(&tk, "result")?;
    match res.and_then(PyValue::as_str) {
        Some("ok") => Ok(Scores::default()),
        Some("error") => blocking(1.0),
        _ => failed("unknown_result"),
    }
}
