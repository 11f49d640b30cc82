//! `score_web_connectivity_full`, `match_fingerprints` and `score_web_connectivity`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Scores, parse_tk, probe_cc_upper};
use crate::HitLocation;
use crate::envelope::Envelope;
use crate::fingerprints::Fingerprints;
use crate::http::{MatchErr, Response, match_response};
use crate::py::{CowStr, Crash, FromMap, Loose, MaybeDict, PyElem, PyList, PyResult};

/// Top-level `*_failure` keys in document order (last duplicate wins).
#[derive(Debug, Default)]
pub(crate) struct FailureKeys<'a>(Vec<(Cow<'a, str>, Loose<'a>)>);

impl<'a> FailureKeys<'a> {
    pub(crate) fn set(&mut self, k: Cow<'a, str>, v: Loose<'a>) {
        match self.0.iter_mut().find(|(x, _)| *x == k) {
            Some(e) => e.1 = v,
            None => self.0.push((k, v)),
        }
    }

    pub(crate) fn get(&self, k: &str) -> &Loose<'a> {
        self.0
            .iter()
            .find(|(x, _)| x == k)
            .map_or(&Loose::Missing, |(_, v)| v)
    }

    /// `_detect_unknown_failure(tk)`: `(tk[k] or "").startswith("unknown_failure")`.
    pub(crate) fn detect_unknown_failure(&self) -> PyResult<bool> {
        for (_, v) in &self.0 {
            if !v.truthy() {
                continue;
            }
            match v.as_str() {
                Some(s) if s.starts_with("unknown_failure") => return Ok(true),
                Some(_) => {}
                None => return Err(Crash("a *_failure key holds a non-string")),
            }
        }
        Ok(false)
    }
}

/// `answers[]` element, reduced to the address fastpath compares.
#[derive(Debug)]
enum Answer<'a> {
    /// `answer["ipv4"]`, else `answer["hostname"]`, else `answer["ipv6"]` (if a string).
    Addr(Cow<'a, str>),
    /// No comparable address.
    Nothing,
    /// `"ipv4" in answer` or `answer[...]` raises.
    Crash,
}

const ADDR_KEYS: [&str; 3] = ["ipv4", "hostname", "ipv6"];

fn str_answer<'a>(s: &str) -> Answer<'a> {
    if ADDR_KEYS.iter().any(|k| s.contains(k)) {
        Answer::Crash // `"ipv4" in s` holds, then `s["ipv4"]` raises
    } else {
        Answer::Nothing
    }
}

impl<'de> Deserialize<'de> for Answer<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Answer<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut found: [Loose<'de>; 3] = [Loose::Missing, Loose::Missing, Loose::Missing];
                while let Some(k) = map.next_key::<CowStr<'de>>()? {
                    match ADDR_KEYS.iter().position(|x| *x == k.0) {
                        Some(i) => found[i] = map.next_value()?,
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let [v4, host, v6] = found;
                let addr = if v4 != Loose::Missing {
                    v4
                } else if host != Loose::Missing {
                    host
                } else {
                    v6
                };
                Ok(match addr {
                    Loose::Str(s) => Answer::Addr(s),
                    _ => Answer::Nothing,
                })
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(str_answer(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut crash = false;
                while let Some(x) = seq.next_element::<Loose<'de>>()? {
                    crash |= x.as_str().is_some_and(|s| ADDR_KEYS.contains(&s));
                }
                Ok(if crash {
                    Answer::Crash
                } else {
                    Answer::Nothing
                })
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Answer::Crash)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Answer::Crash)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Answer::Crash)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Answer::Crash)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Answer::Crash)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> PyElem<'de> for Answer<'de> {
    fn from_str_elem(s: &str) -> Self {
        str_answer(s)
    }
}

/// `queries[]` element: `g_or(q, "answers", ())` needs a dict.
#[derive(Debug)]
enum Query<'a> {
    Answers(PyList<Answer<'a>>),
    Crash,
}

#[derive(Default)]
struct QueryKeys<'a>(PyList<Answer<'a>>);

impl<'de> FromMap<'de> for QueryKeys<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut q = QueryKeys::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            if k.0 == "answers" {
                q.0 = map.next_value()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(q)
    }
}

impl<'de> Deserialize<'de> for Query<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match MaybeDict::<QueryKeys<'de>>::deserialize(d)? {
            MaybeDict::Dict(q) => Query::Answers(q.0),
            MaybeDict::Null | MaybeDict::NotDict => Query::Crash,
        })
    }
}

impl<'de> PyElem<'de> for Query<'de> {
    fn from_str_elem(_: &str) -> Self {
        Query::Crash
    }
}

/// `requests[]` element: `req.get("response")`.
#[derive(Debug)]
enum Request<'a> {
    /// Response absent or null: skipped.
    Skip,
    Resp(Response<'a>),
    /// The request or its response is not a dict.
    Crash,
}

#[derive(Default)]
struct RequestKeys<'a>(MaybeDict<Response<'a>>);

impl<'de> FromMap<'de> for RequestKeys<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut r = RequestKeys::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            if k.0 == "response" {
                r.0 = map.next_value()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(r)
    }
}

impl<'de> Deserialize<'de> for Request<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match MaybeDict::<RequestKeys<'de>>::deserialize(d)? {
            MaybeDict::Dict(RequestKeys(MaybeDict::Null)) => Request::Skip,
            MaybeDict::Dict(RequestKeys(MaybeDict::Dict(r))) => Request::Resp(r),
            MaybeDict::Dict(RequestKeys(MaybeDict::NotDict)) => Request::Crash,
            MaybeDict::Null | MaybeDict::NotDict => Request::Crash,
        })
    }
}

impl<'de> PyElem<'de> for Request<'de> {
    fn from_str_elem(_: &str) -> Self {
        Request::Crash
    }
}

/// The web_connectivity `test_keys` fields fastpath reads.
#[derive(Debug, Default)]
struct TestKeys<'a> {
    queries: PyList<Query<'a>>,
    requests: PyList<Request<'a>>,
    title_match: Loose<'a>,
    blocking: Loose<'a>,
    accessible: Loose<'a>,
    failures: FailureKeys<'a>,
}

impl<'de> FromMap<'de> for TestKeys<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut tk = TestKeys::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            match &*k.0 {
                "queries" => tk.queries = map.next_value()?,
                "requests" => tk.requests = map.next_value()?,
                "title_match" => tk.title_match = map.next_value()?,
                "blocking" => tk.blocking = map.next_value()?,
                "accessible" => tk.accessible = map.next_value()?,
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

/// `match_fingerprints(measurement)`: DNS answers, then each response's body and headers.
///
/// `locations` receives, for every entry pushed to the returned list, where it matched
/// (the answer, or the index of the request in `requests`).
fn match_fingerprints(
    tk: Option<&TestKeys<'_>>,
    fps: &Fingerprints,
    locations: &mut Vec<HitLocation>,
) -> Result<Vec<u32>, MatchErr> {
    let mut out = Vec::new();
    let Some(tk) = tk else { return Ok(out) };
    for q in tk.queries.iter_g_or("queries is not iterable")? {
        let Query::Answers(answers) = q else {
            return Err(Crash("queries[] element is not a dict").into());
        };
        for a in answers.iter_g_or("answers is not iterable")? {
            match a {
                Answer::Addr(addr) => {
                    fps.match_dns(addr, &mut out);
                    locations.resize(out.len(), HitLocation::DnsAnswer(addr.to_string()));
                }
                Answer::Nothing => {}
                Answer::Crash => {
                    if fps.has_dns() {
                        return Err(Crash("answers[] element is not a dict").into());
                    }
                }
            }
        }
    }
    for (index, r) in tk
        .requests
        .iter_g_or("requests is not iterable")?
        .iter()
        .enumerate()
    {
        match r {
            Request::Skip => {}
            Request::Crash => {
                return Err(Crash("requests[] element or response is not a dict").into());
            }
            Request::Resp(resp) => {
                match_response(fps, resp, &mut out)?;
                locations.resize(out.len(), HitLocation::Response(index));
            }
        }
    }
    Ok(out)
}

/// `score_web_connectivity_full(msm)`.
pub(super) fn score(env: &Envelope<'_>, fps: &Fingerprints) -> PyResult<Scores> {
    // match_fingerprints starts with `measurement["probe_cc"]`.
    if env.probe_cc == Loose::Missing {
        return Err(Crash("web_connectivity without probe_cc"));
    }
    let tk = match parse_tk::<MaybeDict<TestKeys<'_>>>(env)? {
        MaybeDict::Dict(tk) => Some(tk),
        MaybeDict::Null => None,
        MaybeDict::NotDict => return Err(Crash("test_keys is not a dict")),
    };
    let mut locations = Vec::new();
    match match_fingerprints(tk.as_ref(), fps, &mut locations) {
        Ok(matches) => {
            let mut s = score_web_connectivity(env, tk.as_ref(), &matches, fps)?;
            // Where each fingerprint matched, for the per-stage blocking analysis; the
            // scores above are fastpath's and do not depend on it.
            let probe_cc = probe_cc_upper(env)?;
            s.hits = locations
                .into_iter()
                .zip(matches)
                .map(|(at, fp)| {
                    (
                        at,
                        fp,
                        fps.is_confirmed(&probe_cc, fp),
                        fps.country_consistent(&probe_cc, fp),
                    )
                })
                .collect();
            Ok(s)
        }
        Err(MatchErr::Crash(c)) => Err(c),
        Err(MatchErr::Binascii) => {
            let mut s = score_web_connectivity(env, tk.as_ref(), &[], fps)?;
            s.fail("bad_base64");
            Ok(s)
        }
    }
}

/// `score_web_connectivity(msm, matches)`.
fn score_web_connectivity(
    env: &Envelope<'_>,
    tk: Option<&TestKeys<'_>>,
    matches: &[u32],
    fps: &Fingerprints,
) -> PyResult<Scores> {
    let mut s = Scores::default();
    // g_or(msm, "test_keys", {}): null test_keys behave like {}.
    let empty;
    let tk = match tk {
        Some(t) => t,
        None => {
            empty = TestKeys::default();
            &empty
        }
    };
    let probe_cc = probe_cc_upper(env)?;
    s.confirm_matches(fps, &probe_cc, matches);

    let tm = &tk.title_match;
    if !(tm.is_none() || tm.eq_true() || tm.eq_false()) {
        s.fail("invalid_title_match");
        return Ok(s);
    }

    let blocking = &tk.blocking;
    if ["tcp_ip", "dns", "http-diff", "http-failure"]
        .iter()
        .any(|b| blocking.eq_str(b))
    {
        s.blocking_general = 1.0;
    } else if blocking.eq_false() {
        // ok
    } else if blocking.is_none() {
        if matches.is_empty() {
            s.fail(if env.test_keys_null() {
                "null_test_keys"
            } else {
                "blocking_null"
            });
        }
    } else {
        s.fail("unexpected_blocking");
    }

    if tk.failures.detect_unknown_failure()? {
        s.fail("unknown_failure");
    }

    s.blocking_general += s.blocking_country + s.blocking_isp + s.blocking_local;

    if tk.accessible == Loose::Null && matches.is_empty() {
        s.fail("accessible_null");
    }
    Ok(s)
}
