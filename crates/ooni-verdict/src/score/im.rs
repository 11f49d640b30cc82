//! Instant-messaging tests: `score_measurement_whatsapp`, `score_measurement_telegram`,
//! `score_signal`, `score_measurement_facebook_messenger` (typed, no full-tree parse).

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess};

use super::web_connectivity::FailureKeys;
use super::{Scores, parse_tk};
use crate::envelope::Envelope;
use crate::pep440;
use crate::py::{CowStr, Crash, FromMap, Loose, MaybeDict, PyElem, PyList, PyResult};
use chrono::{NaiveDate, NaiveDateTime};
use ooni_model::{Json, parse_start_time};

/// Deserializes `T` from an element that must be a dict; anything else is `on_other`.
fn dict_elem<'de, D, T>(d: D, on_other: T) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromMap<'de>,
{
    Ok(match MaybeDict::<T>::deserialize(d)? {
        MaybeDict::Dict(t) => t,
        MaybeDict::Null | MaybeDict::NotDict => on_other,
    })
}

/// `{"url": ...}` inside a request.
#[derive(Default)]
struct ReqUrl<'a>(Loose<'a>);

impl<'de> FromMap<'de> for ReqUrl<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut r = ReqUrl::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            if k.0 == "url" {
                r.0 = map.next_value()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(r)
    }
}

/// A request of the IM tests: the `request` field (absent → `None`), its `url`, and the
/// `failure` field.
#[derive(Default)]
struct RawRequest<'a> {
    request: Option<MaybeDict<ReqUrl<'a>>>,
    failure: Loose<'a>,
    /// The element itself was not a dict.
    not_dict: bool,
}

impl<'de> FromMap<'de> for RawRequest<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut r = RawRequest::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            match &*k.0 {
                "request" => r.request = Some(map.next_value()?),
                "failure" => r.failure = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }
}

impl<'de> Deserialize<'de> for RawRequest<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        dict_elem(
            d,
            RawRequest {
                not_dict: true,
                ..RawRequest::default()
            },
        )
    }
}

impl<'de> PyElem<'de> for RawRequest<'de> {
    fn from_str_elem(_: &str) -> Self {
        RawRequest {
            not_dict: true,
            ..RawRequest::default()
        }
    }
}

/// A `tcp_connect[]` entry: `gn(entry, "status", "success")`.
#[derive(Debug)]
enum TcpEntry {
    Success(Option<bool>),
    Crash,
}

#[derive(Default)]
struct StatusKeys(Option<bool>);

impl<'de> FromMap<'de> for StatusKeys {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut s = StatusKeys::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            if k.0 == "success" {
                s.0 = map.next_value::<Loose<'de>>()?.as_bool();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(s)
    }
}

#[derive(Default)]
struct EntryKeys(Option<MaybeDict<StatusKeys>>);

impl<'de> FromMap<'de> for EntryKeys {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut e = EntryKeys::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            if k.0 == "status" {
                e.0 = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(e)
    }
}

impl<'de> Deserialize<'de> for TcpEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match MaybeDict::<EntryKeys>::deserialize(d)? {
            MaybeDict::Dict(EntryKeys(None | Some(MaybeDict::Null))) => TcpEntry::Success(None),
            MaybeDict::Dict(EntryKeys(Some(MaybeDict::Dict(s)))) => TcpEntry::Success(s.0),
            MaybeDict::Dict(EntryKeys(Some(MaybeDict::NotDict))) => TcpEntry::Crash,
            MaybeDict::Null | MaybeDict::NotDict => TcpEntry::Crash,
        })
    }
}

impl<'de> PyElem<'de> for TcpEntry {
    fn from_str_elem(_: &str) -> Self {
        TcpEntry::Crash
    }
}

/// `_extract_tcp_connect(tk)`: (accessible, unreachable) endpoint counts.
fn extract_tcp_connect(tcp: &PyList<TcpEntry>) -> PyResult<(u32, u32)> {
    let (mut ok, mut bad) = (0, 0);
    for e in tcp.iter_g_or("tcp_connect is not iterable")? {
        match e {
            TcpEntry::Success(Some(true)) => ok += 1,
            TcpEntry::Success(Some(false)) => bad += 1,
            TcpEntry::Success(None) => {}
            TcpEntry::Crash => return Err(Crash("tcp_connect[] entry or status is not a dict")),
        }
    }
    Ok((ok, bad))
}

/// Parses the test keys, which must be a dict (null behaves like `{}`).
fn dict_tk<'a, T: FromMap<'a>>(env: &Envelope<'a>) -> PyResult<T> {
    match parse_tk::<MaybeDict<T>>(env)? {
        MaybeDict::Dict(t) => Ok(t),
        MaybeDict::Null => Ok(T::default()),
        MaybeDict::NotDict => Err(Crash("test_keys is not a dict")),
    }
}

// ---------------------------------------------------------------------------------------
// whatsapp

#[derive(Default)]
struct WhatsappKeys<'a> {
    failures: FailureKeys<'a>,
    requests: PyList<RawRequest<'a>>,
    tcp_connect: PyList<TcpEntry>,
}

impl<'de> FromMap<'de> for WhatsappKeys<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut tk = WhatsappKeys::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            match &*k.0 {
                "requests" => tk.requests = map.next_value()?,
                "tcp_connect" => tk.tcp_connect = map.next_value()?,
                key if key.ends_with("_failure") => {
                    let v = map.next_value()?;
                    tk.failures.set(k.0, v);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(tk)
    }
}

/// `assert msm["report_id"]` (an `AssertionError` that fastpath re-raises).
fn assert_report_id(env: &Envelope<'_>) -> PyResult<()> {
    if env.report_id.truthy() {
        Ok(())
    } else {
        Err(Crash("assert msm[\"report_id\"] failed"))
    }
}

/// `score_measurement_whatsapp`.
pub(super) fn whatsapp(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk: WhatsappKeys<'_> = dict_tk(env)?;
    let mut s = Scores::default();
    if tk.failures.detect_unknown_failure()? {
        s.fail("unknown_failure");
    }
    let wf = tk.failures.get("whatsapp_web_failure");
    if wf
        .as_str()
        .is_some_and(|w| w.contains("unknown_failure 'ascii' co"))
    {
        assert_report_id(env)?;
        s.fail("ascii_codec_bug");
        return Ok(s);
    }
    // requests = tk.get("requests", ()) or ()
    if !tk.requests.truthy {
        assert_report_id(env)?;
        s.fail("no_requests");
        return Ok(s);
    }
    if !tk.requests.iterable {
        return Err(Crash("requests is not iterable"));
    }
    let mut webapp: Option<bool> = None;
    let mut registration: Option<bool> = None;
    for r in &tk.requests.items {
        // b.get("request", {}).get("url", "")
        let url = match (&r.not_dict, &r.request) {
            (true, _) => return Err(Crash("requests[] element is not a dict")),
            (false, None) => None,
            (false, Some(MaybeDict::Dict(u))) => u.0.as_str(),
            (false, Some(_)) => return Err(Crash("request is not a dict")),
        };
        match url {
            Some("https://web.whatsapp.com/") => {
                // b.get("failure", True) in (None, "", False)
                let f = &r.failure;
                webapp = Some(*f == Loose::Null || f.eq_str("") || f.eq_false());
            }
            Some("https://v.whatsapp.net/v2/register") => {
                registration = Some(r.failure.is_none());
            }
            _ => {}
        }
    }
    let (Some(webapp), Some(registration)) = (webapp, registration) else {
        s.fail("missing_requests");
        return Ok(s);
    };
    if !webapp || !registration {
        s.blocking_general = 1.0;
        return Ok(s);
    }
    let (ok, bad) = extract_tcp_connect(&tk.tcp_connect)?;
    if ok == 0 && bad == 0 {
        s.fail("no_tcp_connect");
    } else if ok == 0 {
        s.blocking_general = 1.0;
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// telegram

#[derive(Default)]
struct TelegramKeys<'a> {
    web_status: Loose<'a>,
    requests: PyList<RawRequest<'a>>,
    tcp_connect: PyList<TcpEntry>,
}

impl<'de> FromMap<'de> for TelegramKeys<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut tk = TelegramKeys::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            match &*k.0 {
                "telegram_web_status" => tk.web_status = map.next_value()?,
                "requests" => tk.requests = map.next_value()?,
                "tcp_connect" => tk.tcp_connect = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(tk)
    }
}

/// `score_measurement_telegram`.
pub(super) fn telegram(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk: TelegramKeys<'_> = dict_tk(env)?;
    let web_blocking = tk.web_status.eq_str("blocked");
    let (ok, bad) = extract_tcp_connect(&tk.tcp_connect)?;
    let (mut http_ok, mut http_bad) = (0u32, 0u32);
    for r in tk.requests.iter_g_or("requests is not iterable")? {
        // url = request["request"]["url"]; KeyError → accuracy 0, TypeError propagates
        let url = match (&r.not_dict, &r.request) {
            (true, _) => return Err(Crash("requests[] element is not a dict")),
            (false, None) | (false, Some(MaybeDict::Dict(ReqUrl(Loose::Missing)))) => {
                let mut s = Scores::default();
                s.fail("request_without_url");
                return Ok(s);
            }
            (false, Some(MaybeDict::Dict(u))) => &u.0,
            (false, Some(_)) => return Err(Crash("request is not a dict")),
        };
        // request["failure"] raises KeyError when absent (outside the try).
        if r.failure == Loose::Missing {
            return Err(Crash("request without a failure key"));
        }
        if url.eq_str("https://web.telegram.org/") || url.eq_str("http://web.telegram.org/") {
            continue;
        }
        if r.failure.is_none() {
            http_ok += 1;
        } else {
            http_bad += 1;
        }
    }
    let mut score = if ok + bad > 0 {
        f64::from(bad) / f64::from(ok + bad)
    } else {
        0.5
    };
    score += if http_ok + http_bad > 0 {
        f64::from(http_bad) / f64::from(http_ok + http_bad)
    } else {
        0.5
    };
    if web_blocking {
        score += 1.0;
    }
    Ok(Scores {
        blocking_general: score,
        ..Scores::default()
    })
}

// ---------------------------------------------------------------------------------------
// signal

#[derive(Default)]
struct SignalKeys<'a> {
    failed_operation: Loose<'a>,
    failure: Loose<'a>,
    status: Loose<'a>,
}

impl<'de> FromMap<'de> for SignalKeys<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut tk = SignalKeys::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            match &*k.0 {
                "failed_operation" => tk.failed_operation = map.next_value()?,
                "failure" => tk.failure = map.next_value()?,
                "signal_backend_status" => tk.status = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(tk)
    }
}

fn at(y: i32, m: u32, d: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap_or_default()
        .and_time(chrono::NaiveTime::MIN)
}

/// The `try:` block of `score_signal` (any exception there → accuracy 0).
/// Returns the reason when the measurement must be failed.
fn signal_version_rules(env: &Envelope<'_>) -> Option<&'static str> {
    let tv = match &env.test_version {
        Loose::Missing | Loose::Null => Some("0.0.0"),
        Loose::Str(s) => Some(s.as_ref()),
        _ => None, // Version(<non-str>) raises TypeError
    };
    let st = match &env.measurement_start_time {
        Loose::Missing | Loose::Null => return Some("missing_start_time"),
        Loose::Str(s) => match parse_start_time(s) {
            Some(t) => t,
            None => return Some("bad_start_time"),
        },
        _ => return Some("bad_start_time"),
    };
    if tv == Some("0.2.4") {
        return Some("known_bad_version");
    }
    let Some(v) = tv.and_then(pep440::parse) else {
        return Some("bad_version");
    };
    let v_0_2_3 = pep440::parse("0.2.3")?;
    let v_0_2_2 = pep440::parse("0.2.2")?;
    let v_3_17_2 = pep440::parse("3.17.2")?;
    if v <= v_0_2_3 && st >= at(2023, 11, 7) {
        return Some("known_bad_version");
    }
    if v < v_0_2_2 && st >= at(2022, 10, 19) {
        return Some("known_bad_version");
    }
    // annot = g_or(msm, "annotations", {}); ev = g_or(annot, "engine_version", "0.0.0")
    let ev = match env.annotations {
        None | Some(Json::Null) => "0.0.0",
        Some(a @ Json::Object(_)) => match a.get("engine_version") {
            None | Some(Json::Null) => "0.0.0",
            Some(Json::Str(s)) => s,
            Some(_) => return Some("bad_engine_version"),
        },
        Some(_) => return Some("bad_engine_version"),
    };
    let Some(ev) = pep440::parse(ev) else {
        return Some("bad_engine_version");
    };
    if ev < v_3_17_2 && st >= at(2023, 5, 2) {
        return Some("known_bad_engine_version");
    }
    None
}

/// `score_signal`.
pub(super) fn signal(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk: SignalKeys<'_> = dict_tk(env)?;
    let mut s = Scores::default();
    // tk.get("failed_operation", True) or tk.get("failure", True)
    let fo = tk.failed_operation == Loose::Missing || tk.failed_operation.truthy();
    if fo || tk.failure == Loose::Missing || tk.failure.truthy() {
        s.fail("signal_failure");
    }
    if let Some(reason) = signal_version_rules(env) {
        s.fail(reason);
        return Ok(s);
    }
    if tk.status.eq_str("ok") {
    } else if tk.status.eq_str("blocked") {
        s.blocking_general = 1.0;
    } else {
        s.fail("unknown_signal_status");
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// facebook_messenger

const FB_CONSISTENCY: [&str; 13] = [
    "facebook_b_api_dns_consistent",
    "facebook_b_api_reachable",
    "facebook_b_graph_dns_consistent",
    "facebook_b_graph_reachable",
    "facebook_edge_dns_consistent",
    "facebook_edge_reachable",
    "facebook_external_cdn_dns_consistent",
    "facebook_external_cdn_reachable",
    "facebook_scontent_cdn_dns_consistent",
    "facebook_scontent_cdn_reachable",
    "facebook_star_dns_consistent",
    "facebook_star_reachable",
    "facebook_stun_dns_consistent",
];
const FB_ANOMALY: [&str; 2] = ["facebook_tcp_blocking", "facebook_dns_blocking"];
/// Keys that must all be `True` (with `facebook_tcp_blocking` `False`) for the workaround.
const FB_TRUES: [&str; 10] = [
    "facebook_b_api_dns_consistent",
    "facebook_b_api_reachable",
    "facebook_b_graph_dns_consistent",
    "facebook_b_graph_reachable",
    "facebook_dns_blocking",
    "facebook_edge_dns_consistent",
    "facebook_edge_reachable",
    "facebook_star_dns_consistent",
    "facebook_star_reachable",
    "facebook_stun_dns_consistent",
];

/// The boolean-valued keys (`is True` / `is False` only look at real booleans).
#[derive(Default)]
struct FbKeys(Vec<(String, bool)>);

impl FbKeys {
    fn get(&self, k: &str) -> Option<bool> {
        self.0.iter().rev().find(|(x, _)| x == k).map(|(_, v)| *v)
    }
}

impl<'de> FromMap<'de> for FbKeys {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut tk = FbKeys::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            if k.0.starts_with("facebook_") {
                let v = map.next_value::<Loose<'de>>()?;
                // A later non-bool duplicate hides an earlier bool.
                tk.0.retain(|(x, _)| *x != k.0);
                if let Some(b) = v.as_bool() {
                    tk.0.push((k.0.into_owned(), b));
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(tk)
    }
}

/// `score_measurement_facebook_messenger`.
pub(super) fn facebook_messenger(env: &Envelope<'_>) -> PyResult<Scores> {
    let tk: FbKeys = dict_tk(env)?;
    let all_true = FB_TRUES.iter().all(|k| tk.get(k) == Some(true));
    let score = if all_true && tk.get("facebook_tcp_blocking") == Some(false) {
        0.0
    } else {
        let falses = FB_CONSISTENCY
            .iter()
            .filter(|k| tk.get(k) == Some(false))
            .count();
        let trues = FB_ANOMALY
            .iter()
            .filter(|k| tk.get(k) == Some(true))
            .count();
        0.5 * (falses + trues) as f64
    };
    Ok(Scores {
        blocking_general: score,
        ..Scores::default()
    })
}
