//! Typed, borrowing and *lenient* views of the parts of a measurement that
//! [`crate::observe`] reads.
//!
//! OONI measurements span a decade of probes, and the same key can hold a string in one era
//! and a bool, `null`, a list or an object in another (`status.failure: false`, `response:
//! null`, list inputs, base64 `{"format":"base64","data":…}` bodies). Every leaf here is a
//! wrapper whose deserializer accepts any JSON type and maps the unexpected ones to "absent",
//! so a type surprise never makes the parse fail; containers do the same at their level
//! ([`OrNone`], [`LVec`], [`LOptVec`], [`LMap`]). Fields this crate never reads (bodies,
//! headers, certificates…) are not declared, so serde skips them without allocating.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Consumes the rest of a sequence.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Consumes the rest of a map.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements the visitor methods that turn every JSON type except the wanted ones into `$none`.
macro_rules! absent_for_others {
    ($none:expr; $($skip:ident),*) => {
        $(absent_for_others!(@one $skip, $none);)*
    };
    (@one bool, $none:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> { Ok($none) }
    };
    (@one i64, $none:expr) => {
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> { Ok($none) }
    };
    (@one u64, $none:expr) => {
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> { Ok($none) }
    };
    (@one f64, $none:expr) => {
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> { Ok($none) }
    };
    (@one str, $none:expr) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> { Ok($none) }
    };
    (@one unit, $none:expr) => {
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> { Ok($none) }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> { Ok($none) }
    };
    (@one seq, $none:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            drain_seq(seq)?;
            Ok($none)
        }
    };
    (@one map, $none:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            drain_map(map)?;
            Ok($none)
        }
    };
}

/// A string; any other JSON type reads as absent.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct LStr<'a>(pub Option<Cow<'a, str>>);

impl<'a> LStr<'a> {
    /// The string, if present.
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = LStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value (a string is kept)")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v))))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                LStr::deserialize(d)
            }
            absent_for_others!(LStr(None); bool, i64, u64, f64, unit, seq, map);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An integer (also accepted: an integral float or a numeric string).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct LI64(pub Option<i64>);

impl<'de> Deserialize<'de> for LI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LI64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value (an integer is kept)")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(LI64(Some(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(LI64(i64::try_from(v).ok()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // The range check makes the cast exact.
                let integral = v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15;
                Ok(LI64(integral.then_some(v as i64)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LI64(v.trim().parse().ok()))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                LI64::deserialize(d)
            }
            absent_for_others!(LI64(None); bool, unit, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// A float (also accepted: an integer or a numeric string).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct LF64(pub Option<f64>);

impl<'de> Deserialize<'de> for LF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LF64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value (a number is kept)")
            }
            // Timestamps are far below 2^53, so the conversions are exact in practice.
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(LF64(Some(v as f64)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(LF64(Some(v as f64)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(LF64(v.is_finite().then_some(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LF64(v.trim().parse::<f64>().ok().filter(|x| x.is_finite())))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                LF64::deserialize(d)
            }
            absent_for_others!(LF64(None); bool, unit, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// A bool; any other JSON type reads as absent.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct LBool(pub Option<bool>);

impl<'de> Deserialize<'de> for LBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LBool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value (a bool is kept)")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(LBool(Some(v)))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                LBool::deserialize(d)
            }
            absent_for_others!(LBool(None); i64, u64, f64, str, unit, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// A `failure` field: `null`, a string, or (older probes) a bool.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum RawFailure<'a> {
    /// `null`, missing, or a type that cannot be a failure (number, list, object).
    #[default]
    Null,
    /// A failure string, verbatim (may be empty).
    Str(Cow<'a, str>),
    /// `false` (success) or `true` (a failure without a description).
    Bool(bool),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawFailure<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawFailure<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a failure (string, bool or null)")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(RawFailure::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawFailure::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(RawFailure::Str(Cow::Owned(v)))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(RawFailure::Bool(v))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                RawFailure::deserialize(d)
            }
            absent_for_others!(RawFailure::Null; i64, u64, f64, unit, seq, map);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An object parsed as `T`; any other JSON type reads as absent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrNone<T>(pub Option<T>);

impl<T> Default for OrNone<T> {
    fn default() -> Self {
        OrNone(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrNone<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OrNone<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value (an object is kept)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| OrNone(Some(t)))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                OrNone::deserialize(d)
            }
            absent_for_others!(OrNone(None); bool, i64, u64, f64, str, unit, seq);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A list of `T` (elements are expected to be lenient themselves); anything else reads as
/// an empty list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LVec<T>(pub Vec<T>);

impl<T> Default for LVec<T> {
    fn default() -> Self {
        LVec(Vec::new())
    }
}

struct SeqVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqVisitor<T> {
    type Value = Option<Vec<T>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value (a list is kept)")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element::<T>()? {
            out.push(item);
        }
        Ok(Some(out))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    absent_for_others!(None; bool, i64, u64, f64, str, unit, map);
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LVec<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SeqVisitor::<T>(PhantomData))
            .map(|v| LVec(v.unwrap_or_default()))
    }
}

/// Like [`LVec`] but remembers whether a list was there at all (`None` for missing, `null`
/// or a non-list value).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LOptVec<T>(pub Option<Vec<T>>);

impl<T> Default for LOptVec<T> {
    fn default() -> Self {
        LOptVec(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LOptVec<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SeqVisitor::<T>(PhantomData)).map(LOptVec)
    }
}

/// An object read as ordered `(key, value)` pairs; anything else reads as empty.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LMap<'a, T>(pub Vec<(Cow<'a, str>, T)>);

impl<T> Default for LMap<'_, T> {
    fn default() -> Self {
        LMap(Vec::new())
    }
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for LMap<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a, T>(PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for V<'a, T> {
            type Value = LMap<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value (an object is kept)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<LStr<'a>, T>()? {
                    if let Some(k) = k.0 {
                        out.push((k, v));
                    }
                }
                Ok(LMap(out))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                LMap::deserialize(d)
            }
            absent_for_others!(LMap(Vec::new()); bool, i64, u64, f64, str, unit, seq);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// The measurement `input`: a string, or (some legacy tests) a list of strings, which OONI
/// joins with `:`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct LInput<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for LInput<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = LInput<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(LInput(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LInput(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(LInput(Some(Cow::Owned(v))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts: Vec<String> = Vec::new();
                while let Some(s) = seq.next_element::<LStr<'de>>()? {
                    if let Some(s) = s.0 {
                        parts.push(s.into_owned());
                    }
                }
                Ok(LInput(
                    (!parts.is_empty()).then(|| Cow::Owned(parts.join(":"))),
                ))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                LInput::deserialize(d)
            }
            absent_for_others!(LInput(None); bool, i64, u64, f64, unit, map);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// The top level of a measurement (only what this crate reads).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct Measurement<'a> {
    #[serde(borrow)]
    pub test_name: LStr<'a>,
    #[serde(borrow)]
    pub test_version: LStr<'a>,
    #[serde(borrow)]
    pub software_name: LStr<'a>,
    #[serde(borrow)]
    pub input: LInput<'a>,
    #[serde(borrow)]
    pub annotations: OrNone<Annotations<'a>>,
    #[serde(borrow)]
    pub test_keys: OrNone<TestKeys<'a>>,
}

impl<'a> Measurement<'a> {
    /// The fields this crate reads, from the one parse of the record: `test_keys` from
    /// its tree, `annotations` and `input` (and three short strings) parsed here. Fails
    /// where the typed parse of a whole document would (a duplicated key in `annotations`
    /// or `input`).
    pub(crate) fn of(
        m: &'a ooni_model::Measurement<'a>,
    ) -> Result<Measurement<'a>, serde_json::Error> {
        fn part<'a, T: Deserialize<'a> + Default>(
            raw: Option<&'a ooni_model::RawValue>,
        ) -> Result<T, serde_json::Error> {
            raw.map_or_else(|| Ok(T::default()), |r| serde_json::from_str(r.get()))
        }
        fn tree<'a, T: Deserialize<'a> + Default>(
            tree: &'a Option<ooni_model::Json<'a>>,
        ) -> Result<T, serde_json::Error> {
            tree.as_ref()
                .map_or_else(|| Ok(T::default()), T::deserialize)
        }
        Ok(Measurement {
            test_name: part(m.test_name)?,
            test_version: part(m.test_version)?,
            software_name: part(m.software_name)?,
            input: part(m.input)?,
            annotations: tree(&m.annotations)?,
            test_keys: tree(&m.test_keys)?,
        })
    }
}

/// `annotations` (only the engine identification).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct Annotations<'a> {
    #[serde(borrow)]
    pub engine_name: LStr<'a>,
    #[serde(borrow)]
    pub engine_version: LStr<'a>,
}

/// The union of the `test_keys` of every test in scope.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct TestKeys<'a> {
    #[serde(borrow)]
    pub queries: LVec<OrNone<Query<'a>>>,
    #[serde(borrow)]
    pub tcp_connect: LVec<OrNone<TcpConnect<'a>>>,
    #[serde(borrow)]
    pub tls_handshakes: LOptVec<OrNone<TlsHandshake<'a>>>,
    #[serde(borrow)]
    pub requests: LVec<OrNone<HttpTransaction<'a>>>,
    #[serde(borrow)]
    pub network_events: LOptVec<OrNone<NetworkEvent<'a>>>,
    #[serde(borrow)]
    pub control: OrNone<Control<'a>>,
    #[serde(borrow)]
    pub control_failure: RawFailure<'a>,
    #[serde(borrow)]
    pub targets: Targets<'a>,
    /// web_connectivity: the probe's own DNS consistency verdict.
    #[serde(borrow)]
    pub dns_consistency: LStr<'a>,
    /// web_connectivity: the probe's own http-diff checks (computed on the full body).
    pub status_code_match: LBool,
    pub body_length_match: LBool,
    pub headers_match: LBool,
    pub title_match: LBool,
    /// whatsapp verdict keys.
    #[serde(borrow)]
    pub whatsapp_web_status: LStr<'a>,
    #[serde(borrow)]
    pub registration_server_status: LStr<'a>,
    #[serde(borrow)]
    pub whatsapp_endpoints_status: LStr<'a>,
    #[serde(borrow)]
    pub whatsapp_endpoints_blocked: LVec<LStr<'a>>,
    /// telegram verdict keys.
    #[serde(borrow)]
    pub telegram_web_status: LStr<'a>,
    pub telegram_tcp_blocking: LBool,
    pub telegram_http_blocking: LBool,
    /// signal verdict key.
    #[serde(borrow)]
    pub signal_backend_status: LStr<'a>,
    /// facebook_messenger verdict keys.
    pub facebook_dns_blocking: LBool,
    pub facebook_tcp_blocking: LBool,
    pub facebook_b_api_dns_consistent: LBool,
    pub facebook_b_api_reachable: LBool,
    pub facebook_b_graph_dns_consistent: LBool,
    pub facebook_b_graph_reachable: LBool,
    pub facebook_edge_dns_consistent: LBool,
    pub facebook_edge_reachable: LBool,
    pub facebook_external_cdn_dns_consistent: LBool,
    pub facebook_external_cdn_reachable: LBool,
    pub facebook_scontent_cdn_dns_consistent: LBool,
    pub facebook_scontent_cdn_reachable: LBool,
    pub facebook_star_dns_consistent: LBool,
    pub facebook_star_reachable: LBool,
    pub facebook_stun_dns_consistent: LBool,
    pub facebook_stun_reachable: LBool,
}

/// One `queries` entry.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct Query<'a> {
    #[serde(borrow)]
    pub hostname: LStr<'a>,
    #[serde(borrow)]
    pub query_type: LStr<'a>,
    #[serde(borrow)]
    pub engine: LStr<'a>,
    #[serde(borrow)]
    pub failure: RawFailure<'a>,
    #[serde(borrow)]
    pub answers: LVec<OrNone<Answer<'a>>>,
    pub t: LF64,
    pub transaction_id: LI64,
}

/// One DNS answer.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct Answer<'a> {
    #[serde(borrow)]
    pub answer_type: LStr<'a>,
    #[serde(borrow)]
    pub ipv4: LStr<'a>,
    #[serde(borrow)]
    pub ipv6: LStr<'a>,
    #[serde(borrow)]
    pub hostname: LStr<'a>,
    /// The ASN the probe's own database gave the address (probe-engine ≥ 2020).
    pub asn: LI64,
}

/// One `tcp_connect` entry.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct TcpConnect<'a> {
    #[serde(borrow)]
    pub ip: LStr<'a>,
    pub port: LI64,
    #[serde(borrow)]
    pub status: OrNone<TcpStatus<'a>>,
    pub t: LF64,
    pub transaction_id: LI64,
    #[serde(borrow)]
    pub tags: LVec<LStr<'a>>,
}

/// `tcp_connect[].status`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct TcpStatus<'a> {
    pub success: LBool,
    #[serde(borrow)]
    pub failure: RawFailure<'a>,
}

/// One `tls_handshakes` entry.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct TlsHandshake<'a> {
    #[serde(borrow)]
    pub address: LStr<'a>,
    #[serde(borrow)]
    pub server_name: LStr<'a>,
    #[serde(borrow)]
    pub failure: RawFailure<'a>,
    pub t: LF64,
    pub transaction_id: LI64,
    #[serde(borrow)]
    pub tags: LVec<LStr<'a>>,
    /// Certificate verification was disabled (then a successful handshake proves nothing
    /// about the answer).
    pub no_tls_verify: LBool,
}

/// One `requests` entry.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct HttpTransaction<'a> {
    #[serde(borrow)]
    pub address: LStr<'a>,
    #[serde(borrow)]
    pub failure: RawFailure<'a>,
    #[serde(borrow)]
    pub request: OrNone<HttpRequest<'a>>,
    #[serde(borrow)]
    pub response: OrNone<HttpResponse<'a>>,
    pub t: LF64,
    pub transaction_id: LI64,
    #[serde(borrow)]
    pub tags: LVec<LStr<'a>>,
}

/// `requests[].request` (only the URL).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct HttpRequest<'a> {
    #[serde(borrow)]
    pub url: LStr<'a>,
}

/// `requests[].response`: the status code, and what the http-diff checks compare.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct HttpResponse<'a> {
    pub code: LI64,
    pub body: LBody,
    pub body_is_truncated: LBool,
    #[serde(borrow)]
    pub headers: LMap<'a, IgnoredAny>,
}

/// A response body reduced to what the http-diff checks need: its length in bytes and its
/// `<title>`. A string, or `{"format": "base64", "data": …}`; anything else is absent.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct LBody(pub Option<BodySummary>);

/// See [`LBody`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BodySummary {
    /// Length in bytes (decoded, for base64 bodies).
    pub len: usize,
    /// The page title, as probe-cli's `WebGetTitle` extracts it.
    pub title: Option<String>,
}

impl BodySummary {
    fn of(bytes: &[u8]) -> BodySummary {
        BodySummary {
            len: bytes.len(),
            title: crate::httpdiff::web_title(bytes),
        }
    }
}

impl<'de> Deserialize<'de> for LBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a body (string or base64 object)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LBody(Some(BodySummary::of(v.as_bytes()))))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut data: Option<String> = None;
                let mut base64 = false;
                while let Some(k) = map.next_key::<LStr<'de>>()? {
                    match k.get() {
                        Some("data") => {
                            data = map.next_value::<LStr<'de>>()?.0.map(Cow::into_owned)
                        }
                        Some("format") => {
                            base64 = map.next_value::<LStr<'de>>()?.get() == Some("base64");
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                use base64::Engine;
                let decoded = data.filter(|_| base64).and_then(|d| {
                    base64::engine::general_purpose::STANDARD
                        .decode(d.trim())
                        .ok()
                });
                Ok(LBody(decoded.map(|b| BodySummary::of(&b))))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                LBody::deserialize(d)
            }
            absent_for_others!(LBody(None); bool, i64, u64, f64, unit, seq);
        }
        d.deserialize_any(V)
    }
}

/// One `network_events` entry.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct NetworkEvent<'a> {
    #[serde(borrow)]
    pub operation: LStr<'a>,
    #[serde(borrow)]
    pub address: LStr<'a>,
    pub t: LF64,
}

/// web_connectivity `control` (the test helper's view).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct Control<'a> {
    /// Modern test helpers: the ASN of every address they saw.
    #[serde(borrow)]
    pub ip_info: LMap<'a, OrNone<IpInfo>>,
    #[serde(borrow)]
    pub dns: OrNone<ControlDns<'a>>,
    #[serde(borrow)]
    pub tcp_connect: LMap<'a, OrNone<ControlTcp<'a>>>,
    #[serde(borrow)]
    pub tls_handshake: LMap<'a, OrNone<ControlTls<'a>>>,
    #[serde(borrow)]
    pub http_request: OrNone<ControlHttp<'a>>,
}

/// `control.dns`; python-era helpers wrote `ips` instead of `addrs`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ControlDns<'a> {
    #[serde(borrow)]
    pub failure: RawFailure<'a>,
    #[serde(borrow)]
    pub addrs: LOptVec<LStr<'a>>,
    #[serde(borrow)]
    pub ips: LOptVec<LStr<'a>>,
}

/// One `control.tcp_connect["ip:port"]` entry.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ControlTcp<'a> {
    pub status: LBool,
    #[serde(borrow)]
    pub failure: RawFailure<'a>,
}

/// One `control.tls_handshake["ip:port"]` entry.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ControlTls<'a> {
    #[serde(borrow)]
    pub server_name: LStr<'a>,
    pub status: LBool,
    #[serde(borrow)]
    pub failure: RawFailure<'a>,
}

/// `control.ip_info["ip"]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct IpInfo {
    pub asn: LI64,
}

/// `control.http_request`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ControlHttp<'a> {
    #[serde(borrow)]
    pub failure: RawFailure<'a>,
    pub status_code: LI64,
    pub body_length: LI64,
    #[serde(borrow)]
    pub title: LStr<'a>,
    #[serde(borrow)]
    pub headers: LMap<'a, IgnoredAny>,
}

/// The `tor` test's `targets`: an object keyed by target id, or (early spec examples) a list.
#[derive(Debug, Default)]
pub(crate) struct Targets<'a>(pub Vec<TorTarget<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Targets<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Targets<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object or a list of tor targets")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((_, t)) = map.next_entry::<IgnoredAny, OrNone<TorTarget<'a>>>()? {
                    out.extend(t.0);
                }
                Ok(Targets(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element::<OrNone<TorTarget<'a>>>()? {
                    out.extend(t.0);
                }
                Ok(Targets(out))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Targets::deserialize(d)
            }
            absent_for_others!(Targets(Vec::new()); bool, i64, u64, f64, str, unit);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// One tor target: its address and protocol plus the usual network lists.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct TorTarget<'a> {
    #[serde(borrow)]
    pub target_address: LStr<'a>,
    #[serde(borrow)]
    pub target_protocol: LStr<'a>,
    #[serde(borrow)]
    pub queries: LVec<OrNone<Query<'a>>>,
    #[serde(borrow)]
    pub tcp_connect: LVec<OrNone<TcpConnect<'a>>>,
    #[serde(borrow)]
    pub tls_handshakes: LOptVec<OrNone<TlsHandshake<'a>>>,
    #[serde(borrow)]
    pub requests: LVec<OrNone<HttpTransaction<'a>>>,
    #[serde(borrow)]
    pub network_events: LOptVec<OrNone<NetworkEvent<'a>>>,
}
