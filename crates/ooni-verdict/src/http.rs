//! HTTP responses as fastpath's fingerprint matcher sees them, and the matcher itself
//! (`match_http_body_fingerprints` + `match_http_headers_fingerprints`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::fingerprints::{Fingerprints, header_name_eq};
use crate::py::{CowStr, Crash, FromMap, Loose, PyValue};
use crate::pyb64::{B64Error, b64decode};

/// Why fingerprint matching stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchErr {
    /// `binascii.Error` from a base64 body or header.
    Binascii,
    /// Any other exception.
    Crash(Crash),
}

impl From<Crash> for MatchErr {
    fn from(c: Crash) -> Self {
        MatchErr::Crash(c)
    }
}

fn b64(data: &str) -> Result<Vec<u8>, MatchErr> {
    b64decode(data).map_err(|e| match e {
        B64Error::Binascii => MatchErr::Binascii,
        B64Error::NonAscii => MatchErr::Crash(Crash("base64 data has non-ASCII characters")),
    })
}

/// `response.body`.
#[derive(Debug, Default)]
pub(crate) enum Body<'a> {
    /// Absent or `null`: nothing to match.
    #[default]
    Absent,
    Str(Cow<'a, str>),
    /// `{"format": "base64", "data": "..."}`.
    B64(Cow<'a, str>),
    /// A base64 dict whose `data` is not a string (`b64decode` raises `TypeError`).
    B64NotStr,
    /// Any other dict: fastpath logs a probe bug and skips body matching.
    OtherDict,
    /// A number, boolean or list: `body.find` raises.
    NotMatchable,
}

impl<'de> Deserialize<'de> for Body<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match StrOrDict::deserialize(d)? {
            StrOrDict::Null => Body::Absent,
            StrOrDict::Str(s) => Body::Str(s),
            StrOrDict::Dict { data, format } => b64_body(data, &format),
            StrOrDict::Other => Body::NotMatchable,
        })
    }
}

/// What a body or a header value is read as: a string, a dict's `data` and `format` (the
/// base64 shape), or a kind no fingerprint can match.
enum StrOrDict<'a> {
    Null,
    Str(Cow<'a, str>),
    /// Both as found (possibly missing).
    Dict {
        data: Loose<'a>,
        format: Loose<'a>,
    },
    /// A number, boolean or list.
    Other,
}

impl<'de> Deserialize<'de> for StrOrDict<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrDict<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StrOrDict::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrDict::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(StrOrDict::Str(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StrOrDict::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(StrOrDict::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StrOrDict::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StrOrDict::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StrOrDict::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StrOrDict::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StrOrDict::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut data = Loose::Missing;
                let mut format = Loose::Missing;
                while let Some(k) = map.next_key::<CowStr<'de>>()? {
                    match &*k.0 {
                        "data" => data = map.next_value()?,
                        "format" => format = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(StrOrDict::Dict { data, format })
            }
        }
        d.deserialize_any(V)
    }
}

/// `if "data" in body and body.get("format", "") == "base64"`.
fn b64_body<'a>(data: Loose<'a>, format: &Loose<'_>) -> Body<'a> {
    if data == Loose::Missing || !format.eq_str("base64") {
        return Body::OtherDict;
    }
    match data {
        Loose::Str(s) => Body::B64(s),
        _ => Body::B64NotStr,
    }
}

/// One response header value.
#[derive(Debug)]
pub(crate) enum HeaderVal<'a> {
    Str(Cow<'a, str>),
    /// `{"format": "base64", "data": ...}`; `data` as found (possibly missing).
    B64(Loose<'a>),
    Other,
}

impl<'de> Deserialize<'de> for HeaderVal<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match StrOrDict::deserialize(d)? {
            StrOrDict::Str(s) => HeaderVal::Str(s),
            StrOrDict::Dict { data, format } if format.eq_str("base64") => HeaderVal::B64(data),
            StrOrDict::Null | StrOrDict::Dict { .. } | StrOrDict::Other => HeaderVal::Other,
        })
    }
}

/// `response.headers` after `g_or(resp, "headers", {})` and `if not headers: return`.
#[derive(Debug, Default)]
pub(crate) enum Headers<'a> {
    /// Missing, null or any falsy value: no header matching.
    #[default]
    Falsy,
    /// A non-empty dict, in document order.
    Dict(Vec<(Cow<'a, str>, HeaderVal<'a>)>),
    /// A truthy non-dict: `.items()` raises.
    NotDict,
}

impl<'de> Deserialize<'de> for Headers<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Headers<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(if v.is_empty() {
                    Headers::Falsy
                } else {
                    Headers::NotDict
                })
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Headers::Falsy)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Headers::Falsy)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(if v { Headers::NotDict } else { Headers::Falsy })
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(if v != 0 {
                    Headers::NotDict
                } else {
                    Headers::Falsy
                })
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(if v != 0 {
                    Headers::NotDict
                } else {
                    Headers::Falsy
                })
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(if v != 0.0 {
                    Headers::NotDict
                } else {
                    Headers::Falsy
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut n = 0usize;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(if n > 0 {
                    Headers::NotDict
                } else {
                    Headers::Falsy
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<CowStr<'de>>()? {
                    out.push((k.0, map.next_value::<HeaderVal<'de>>()?));
                }
                Ok(if out.is_empty() {
                    Headers::Falsy
                } else {
                    Headers::Dict(out)
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `request.response` as far as fingerprint matching goes.
#[derive(Debug, Default)]
pub(crate) struct Response<'a> {
    pub body: Body<'a>,
    pub headers: Headers<'a>,
}

impl<'de> FromMap<'de> for Response<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut r = Response::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            match &*k.0 {
                "body" => r.body = map.next_value()?,
                "headers" => r.headers = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }
}

impl<'b> Response<'b> {
    /// The same view built from a [`PyValue`] response (legacy `http_requests`), which
    /// must be a dict (`resp.get("body")`).
    pub(crate) fn from_py(resp: &'b PyValue<'_>) -> Result<Response<'b>, Crash> {
        if !resp.is_dict() {
            return Err(Crash("response is not a dict"));
        }
        let body = match resp.get("body") {
            None | Some(PyValue::Null) => Body::Absent,
            Some(PyValue::Str(s)) => Body::Str(Cow::Borrowed(s)),
            Some(b @ PyValue::Dict(_)) => b64_body(loose(b.get("data")), &loose(b.get("format"))),
            Some(_) => Body::NotMatchable,
        };
        let headers = match resp.get("headers") {
            None => Headers::Falsy,
            Some(v) if !v.truthy() => Headers::Falsy,
            Some(PyValue::Dict(d)) => Headers::Dict(
                d.iter()
                    .map(|(k, v)| {
                        let hv = match v {
                            PyValue::Str(s) => HeaderVal::Str(Cow::Borrowed(s)),
                            PyValue::Dict(_)
                                if v.get("format").is_some_and(|f| f.eq_str("base64")) =>
                            {
                                HeaderVal::B64(loose(v.get("data")))
                            }
                            _ => HeaderVal::Other,
                        };
                        (Cow::Borrowed(&**k), hv)
                    })
                    .collect(),
            ),
            Some(_) => Headers::NotDict,
        };
        Ok(Response { body, headers })
    }
}

/// The scalar part of a [`PyValue`] as a [`Loose`] (containers only keep emptiness).
fn loose<'b>(v: Option<&'b PyValue<'_>>) -> Loose<'b> {
    match v {
        None => Loose::Missing,
        Some(PyValue::Null) => Loose::Null,
        Some(PyValue::Bool(b)) => Loose::Bool(*b),
        Some(PyValue::Int(i)) => Loose::Int(*i),
        Some(PyValue::Float(f)) => Loose::Float(*f),
        Some(PyValue::Str(s)) => Loose::Str(Cow::Borrowed(s)),
        Some(PyValue::List(l)) => Loose::List(!l.is_empty()),
        Some(PyValue::Dict(d)) => Loose::Dict(!d.is_empty()),
    }
}

/// Body then header fingerprints of one response, appended to `out` in fastpath's order.
pub(crate) fn match_response(
    fps: &Fingerprints,
    resp: &Response<'_>,
    out: &mut Vec<u32>,
) -> Result<(), MatchErr> {
    match &resp.body {
        Body::Absent | Body::OtherDict => {}
        Body::Str(s) => fps.match_body(s.as_bytes(), out),
        Body::B64(data) => {
            let bytes = b64(data)?;
            fps.match_body(&bytes, out);
        }
        Body::B64NotStr => return Err(Crash("base64 body data is not a string").into()),
        Body::NotMatchable => {
            if fps.has_body() {
                return Err(Crash("response body is neither a string nor a dict").into());
            }
        }
    }
    match &resp.headers {
        Headers::Falsy => Ok(()),
        Headers::NotDict => Err(Crash("response headers are not a dict").into()),
        Headers::Dict(entries) => match_headers(fps, entries, out),
    }
}

fn match_headers(
    fps: &Fingerprints,
    entries: &[(Cow<'_, str>, HeaderVal<'_>)],
    out: &mut Vec<u32>,
) -> Result<(), MatchErr> {
    // {h.lower(): v for h, v in headers.items()}: the last header with that name wins.
    let values: Vec<Option<&HeaderVal<'_>>> = fps
        .header_names()
        .iter()
        .map(|name| {
            entries
                .iter()
                .rev()
                .find(|(k, _)| header_name_eq(k, name))
                .map(|(_, v)| v)
        })
        .collect();
    let mut decoded: Vec<Option<Vec<u8>>> = vec![None; values.len()];
    for (name_ix, pattern, prefix, fp) in fps.header_rows() {
        let v = values[name_ix];
        if !prefix {
            if let Some(HeaderVal::Str(s)) = v
                && s == pattern
            {
                out.push(fp);
            }
            continue;
        }
        match v {
            Some(HeaderVal::Str(s)) if s.starts_with(pattern) => out.push(fp),
            Some(HeaderVal::B64(data)) => {
                if decoded[name_ix].is_none() {
                    // b64decode(v.get("data", "")).decode("latin1")
                    let bytes = match data {
                        Loose::Missing => Vec::new(),
                        Loose::Str(s) => b64(s)?,
                        _ => return Err(Crash("base64 header data is not a string").into()),
                    };
                    decoded[name_ix] = Some(bytes);
                }
                if let Some(bytes) = &decoded[name_ix]
                    && latin1_starts_with(bytes, pattern)
                {
                    out.push(fp);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `bytes.decode("latin1").startswith(prefix)`.
fn latin1_starts_with(bytes: &[u8], prefix: &str) -> bool {
    let mut it = bytes.iter();
    prefix
        .chars()
        .all(|c| it.next().is_some_and(|&b| u32::from(b) == u32::from(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_prefix() {
        assert!(latin1_starts_with(b"http://x/y", "http://x"));
        assert!(latin1_starts_with(&[0xe9, b'a'], "\u{e9}"));
        assert!(!latin1_starts_with(b"ab", "abc"));
        assert!(latin1_starts_with(b"", ""));
    }
}
