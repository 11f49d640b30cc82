//! Small JSON views with Python semantics.
//!
//! Fastpath is Python: it reads measurements with `dict.get`, tests truthiness, compares
//! `1 == True`, iterates over whatever a key holds and crashes (raises) on type surprises.
//! These types capture exactly as much of a JSON value as the ported rules need, without
//! ever failing to deserialize on an unexpected type.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Fastpath would raise an exception here (so it writes no row). Carries a short reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crash(pub &'static str);

/// Result of a ported Python step that may raise.
pub(crate) type PyResult<T> = Result<T, Crash>;

/// A string that borrows from the JSON input when it contains no escapes.
pub(crate) use ooni_model::CowStr;

/// A JSON value reduced to what Python comparisons and truthiness need.
///
/// `Missing` (the key is absent) is distinct from `Null` (the key holds `null`); containers
/// are skipped and only remember whether they were empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Loose<'a> {
    #[default]
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// A list; `true` when non-empty.
    List(bool),
    /// An object; `true` when non-empty.
    Dict(bool),
}

impl<'a> Loose<'a> {
    /// `d.get(k) is None`.
    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Loose::Missing | Loose::Null)
    }

    /// Python truthiness (`Missing` is falsy like `None`).
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Loose::Missing | Loose::Null => false,
            Loose::Bool(b) => *b,
            Loose::Int(i) => *i != 0,
            Loose::Float(f) => *f != 0.0,
            Loose::Str(s) => !s.is_empty(),
            Loose::List(ne) | Loose::Dict(ne) => *ne,
        }
    }

    /// The string, if this is a JSON string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Loose::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `value == "literal"` in Python (only a string can equal a string).
    pub(crate) fn eq_str(&self, s: &str) -> bool {
        self.as_str() == Some(s)
    }

    /// `value == False` in Python (`False`, `0`, `0.0`).
    pub(crate) fn eq_false(&self) -> bool {
        match self {
            Loose::Bool(b) => !*b,
            Loose::Int(i) => *i == 0,
            Loose::Float(f) => *f == 0.0,
            _ => false,
        }
    }

    /// `value == True` in Python (`True`, `1`, `1.0`).
    pub(crate) fn eq_true(&self) -> bool {
        match self {
            Loose::Bool(b) => *b,
            Loose::Int(i) => *i == 1,
            Loose::Float(f) => *f == 1.0,
            _ => false,
        }
    }

    /// `value is True` / `value is False`: only real booleans.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Loose::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Loose::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Loose::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Loose::Float(v as f64), Loose::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Loose::Float(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Loose::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Loose::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                Loose::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut non_empty = false;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    non_empty = true;
                }
                Ok(Loose::List(non_empty))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut non_empty = false;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    non_empty = true;
                }
                Ok(Loose::Dict(non_empty))
            }
        }
        d.deserialize_any(V)
    }
}

/// An element of a [`PyList`]. Python iterates lists, but also the keys of a dict and the
/// characters of a string; `from_str_elem` builds the element for those cases.
pub(crate) trait PyElem<'de>: Deserialize<'de> {
    /// The element Python would see when the container was a dict (its keys) or a string.
    fn from_str_elem(s: &str) -> Self;
}

/// The value of a key that fastpath iterates with `for x in g_or(d, key, ())`.
#[derive(Debug)]
pub(crate) struct PyList<T> {
    /// Elements in order (list elements, dict keys, or string characters).
    pub items: Vec<T>,
    /// `false` for numbers and booleans (`for x in 5` raises).
    pub iterable: bool,
    /// Python truthiness of the value (missing and null are falsy).
    pub truthy: bool,
}

impl<T> Default for PyList<T> {
    fn default() -> Self {
        PyList {
            items: Vec::new(),
            iterable: true,
            truthy: false,
        }
    }
}

impl<T> PyList<T> {
    /// `for x in g_or(d, key, ())`: null/missing → nothing; numbers/booleans raise.
    pub(crate) fn iter_g_or(&self, what: &'static str) -> PyResult<&[T]> {
        if self.iterable {
            Ok(&self.items)
        } else {
            Err(Crash(what))
        }
    }
}

impl<'de, T: PyElem<'de>> Deserialize<'de> for PyList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: PyElem<'de>> Visitor<'de> for V<T> {
            type Value = PyList<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(x) = seq.next_element::<T>()? {
                    items.push(x);
                }
                let truthy = !items.is_empty();
                Ok(PyList {
                    items,
                    iterable: true,
                    truthy,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // Python iterates the keys (last duplicate wins, at its first position).
                let mut keys: Vec<String> = Vec::new();
                while let Some(k) = map.next_key::<CowStr<'de>>()? {
                    map.next_value::<IgnoredAny>()?;
                    if !keys.iter().any(|x| *x == *k.0) {
                        keys.push(k.0.into_owned());
                    }
                }
                let truthy = !keys.is_empty();
                Ok(PyList {
                    items: keys.iter().map(|k| T::from_str_elem(k)).collect(),
                    iterable: true,
                    truthy,
                })
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                let mut buf = [0u8; 4];
                Ok(PyList {
                    items: v
                        .chars()
                        .map(|c| T::from_str_elem(c.encode_utf8(&mut buf)))
                        .collect(),
                    iterable: true,
                    truthy: !v.is_empty(),
                })
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(PyList::default())
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(PyList::default())
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(PyList {
                    items: Vec::new(),
                    iterable: false,
                    truthy: v,
                })
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(PyList {
                    items: Vec::new(),
                    iterable: false,
                    truthy: v != 0,
                })
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(PyList {
                    items: Vec::new(),
                    iterable: false,
                    truthy: v != 0,
                })
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(PyList {
                    items: Vec::new(),
                    iterable: false,
                    truthy: v != 0.0,
                })
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Deserializes an object with a hand-written key loop (last duplicate key wins, as in
/// Python's `json`), or records that the value was null or not an object.
pub(crate) trait FromMap<'de>: Sized + Default {
    /// Reads the object's entries.
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// A value fastpath expects to be a dict.
#[derive(Debug, Default)]
pub(crate) enum MaybeDict<T> {
    /// The key is absent or `null`.
    #[default]
    Null,
    /// An object.
    Dict(T),
    /// Anything else: `.get()` on it raises.
    NotDict,
}

impl<'de, T: FromMap<'de>> Deserialize<'de> for MaybeDict<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: FromMap<'de>> Visitor<'de> for V<T> {
            type Value = MaybeDict<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::from_map(map).map(MaybeDict::Dict)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(MaybeDict::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(MaybeDict::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeDict::NotDict)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MaybeDict::NotDict)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeDict::NotDict)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeDict::NotDict)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeDict::NotDict)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(MaybeDict::NotDict)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A whole JSON value with Python semantics: dicts keep insertion order and the last
/// duplicate key wins (at the position of its first occurrence), like Python's `json`.
/// Used for the rare tests and small envelope fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PyValue<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    List(Vec<PyValue<'a>>),
    Dict(Vec<(Cow<'a, str>, PyValue<'a>)>),
}

/// An empty dict, the default of `g_or(msm, "test_keys", {})`.
pub(crate) static EMPTY_DICT: PyValue<'static> = PyValue::Dict(Vec::new());

impl<'a> PyValue<'a> {
    /// `d.get(key)` for a dict (`None` when absent); `None` for non-dicts too (callers
    /// that need Python's `AttributeError` check [`PyValue::as_dict`] first).
    pub(crate) fn get(&self, key: &str) -> Option<&PyValue<'a>> {
        match self {
            PyValue::Dict(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// `d.get(key)` where `d` must be a dict; raises otherwise.
    pub(crate) fn dict_get(&self, key: &str, what: &'static str) -> PyResult<Option<&PyValue<'a>>> {
        match self {
            PyValue::Dict(_) => Ok(self.get(key)),
            _ => Err(Crash(what)),
        }
    }

    /// `g_or(d, key, default)`: the value unless absent or null; `d` must be a dict.
    pub(crate) fn g_or<'s>(
        &'s self,
        key: &str,
        default: &'s PyValue<'a>,
        what: &'static str,
    ) -> PyResult<&'s PyValue<'a>> {
        match self.dict_get(key, what)? {
            None | Some(PyValue::Null) => Ok(default),
            Some(v) => Ok(v),
        }
    }

    pub(crate) fn is_dict(&self) -> bool {
        matches!(self, PyValue::Dict(_))
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn eq_str(&self, s: &str) -> bool {
        self.as_str() == Some(s)
    }

    /// Python truthiness.
    pub(crate) fn truthy(&self) -> bool {
        match self {
            PyValue::Null => false,
            PyValue::Bool(b) => *b,
            PyValue::Int(i) => *i != 0,
            PyValue::Float(f) => *f != 0.0,
            PyValue::Str(s) => !s.is_empty(),
            PyValue::List(l) => !l.is_empty(),
            PyValue::Dict(d) => !d.is_empty(),
        }
    }

    /// The numeric value of a bool/int/float (Python's numeric tower: `True == 1`).
    fn as_number(&self) -> Option<f64> {
        match self {
            PyValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            PyValue::Int(i) => Some(*i as f64),
            PyValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Python `==` between two JSON-derived values.
    pub(crate) fn py_eq(&self, other: &PyValue<'_>) -> bool {
        match (self, other) {
            (PyValue::Null, PyValue::Null) => true,
            (PyValue::Str(a), PyValue::Str(b)) => a == b,
            (PyValue::Int(a), PyValue::Int(b)) => a == b,
            (PyValue::List(a), PyValue::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.py_eq(y))
            }
            (PyValue::Dict(a), PyValue::Dict(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v.py_eq(v2)))
            }
            (a, b) => match (a.as_number(), b.as_number()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }

    /// `len(v)`: raises for numbers, booleans and null.
    pub(crate) fn py_len(&self, what: &'static str) -> PyResult<usize> {
        match self {
            PyValue::Str(s) => Ok(s.chars().count()),
            PyValue::List(l) => Ok(l.len()),
            PyValue::Dict(d) => Ok(d.len()),
            _ => Err(Crash(what)),
        }
    }

    /// `for x in v`: list elements, dict keys or string characters; raises otherwise.
    pub(crate) fn py_iter(&self, what: &'static str) -> PyResult<Vec<Cow<'_, PyValue<'a>>>> {
        match self {
            PyValue::List(l) => Ok(l.iter().map(Cow::Borrowed).collect()),
            PyValue::Dict(d) => Ok(d
                .iter()
                .map(|(k, _)| Cow::Owned(PyValue::Str(Cow::Owned(k.to_string()))))
                .collect()),
            PyValue::Str(s) => Ok(s
                .chars()
                .map(|c| Cow::Owned(PyValue::Str(Cow::Owned(c.to_string()))))
                .collect()),
            _ => Err(Crash(what)),
        }
    }

    /// `needle in v` for a string needle: substring, list membership or dict key.
    pub(crate) fn py_contains_str(&self, needle: &str, what: &'static str) -> PyResult<bool> {
        match self {
            PyValue::Str(s) => Ok(s.contains(needle)),
            PyValue::List(l) => Ok(l.iter().any(|x| x.eq_str(needle))),
            PyValue::Dict(d) => Ok(d.iter().any(|(k, _)| k == needle)),
            _ => Err(Crash(what)),
        }
    }

    /// `v[i]` for a non-negative index: list element or string character; raises otherwise
    /// (`IndexError`, `KeyError` on dicts, `TypeError` on scalars).
    pub(crate) fn py_index(&self, i: usize, what: &'static str) -> PyResult<Cow<'_, PyValue<'a>>> {
        match self {
            PyValue::List(l) => l.get(i).map(Cow::Borrowed).ok_or(Crash(what)),
            PyValue::Str(s) => s
                .chars()
                .nth(i)
                .map(|c| Cow::Owned(PyValue::Str(Cow::Owned(c.to_string()))))
                .ok_or(Crash(what)),
            _ => Err(Crash(what)),
        }
    }

    /// Whether Python could put this value in a set or use it as a dict key.
    pub(crate) fn hashable(&self) -> bool {
        !matches!(self, PyValue::List(_) | PyValue::Dict(_))
    }
}

impl<'de> Deserialize<'de> for PyValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PyValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(PyValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(PyValue::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(PyValue::Float(v as f64), PyValue::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(PyValue::Float(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(PyValue::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PyValue::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(PyValue::Str(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(PyValue::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(PyValue::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                PyValue::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element::<PyValue<'de>>()? {
                    out.push(x);
                }
                Ok(PyValue::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(Cow<'de, str>, PyValue<'de>)> = Vec::new();
                // Index of keys, built only for big objects.
                let mut index: Option<HashMap<String, usize>> = None;
                while let Some(k) = map.next_key::<CowStr<'de>>()? {
                    let v = map.next_value::<PyValue<'de>>()?;
                    let k = k.0;
                    let pos = match &index {
                        Some(ix) => ix.get(&*k).copied(),
                        None => out.iter().position(|(x, _)| *x == k),
                    };
                    match pos {
                        Some(p) => out[p].1 = v,
                        None => {
                            if let Some(ix) = index.as_mut() {
                                ix.insert(k.to_string(), out.len());
                            }
                            out.push((k, v));
                            if index.is_none() && out.len() > 32 {
                                index = Some(
                                    out.iter()
                                        .enumerate()
                                        .map(|(i, (k, _))| (k.to_string(), i))
                                        .collect(),
                                );
                            }
                        }
                    }
                }
                Ok(PyValue::Dict(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Python's `int(s)` for a string: surrounding whitespace, an optional sign, ASCII digits
/// with single underscores between them.
pub(crate) fn py_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut v: i128 = 0;
    for b in digits.bytes() {
        match b {
            b'_' => {}
            b'0'..=b'9' => v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?,
            _ => return None,
        }
    }
    Some(if neg { -v } else { v })
}

/// Python's `float(s)` for a string (close enough: underscores between digits are
/// accepted, `inf`/`nan` spellings as Rust parses them).
pub(crate) fn py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.contains('_') {
        let b = t.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            if c == b'_' {
                let ok = i > 0
                    && i + 1 < b.len()
                    && b[i - 1].is_ascii_digit()
                    && b[i + 1].is_ascii_digit();
                if !ok {
                    return None;
                }
            }
        }
        return t.replace('_', "").parse::<f64>().ok();
    }
    t.parse::<f64>().ok()
}

/// Python's `str.lower()` compared with an already-lowercase name.
pub(crate) fn lower_eq(key: &str, lower_name: &str) -> bool {
    if key.is_ascii() {
        key.len() == lower_name.len()
            && key
                .bytes()
                .zip(lower_name.bytes())
                .all(|(a, b)| a.to_ascii_lowercase() == b)
    } else {
        key.to_lowercase() == lower_name
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pyvalue_duplicate_keys_last_wins_at_first_position() {
        let v: PyValue = serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        match &v {
            PyValue::Dict(d) => {
                assert_eq!(d.len(), 2);
                assert_eq!(d[0].0, "a");
                assert_eq!(d[0].1, PyValue::Int(3));
            }
            _ => panic!("not a dict"),
        }
    }

    #[test]
    fn python_equality_across_numeric_types() {
        assert!(PyValue::Bool(true).py_eq(&PyValue::Int(1)));
        assert!(PyValue::Float(200.0).py_eq(&PyValue::Int(200)));
        assert!(!PyValue::Str("1".into()).py_eq(&PyValue::Int(1)));
    }

    #[test]
    fn int_and_float_parsing_like_python() {
        assert_eq!(py_int(" 1_234 "), Some(1234));
        assert_eq!(py_int("12__3"), None);
        assert_eq!(py_int(""), None);
        assert_eq!(py_float("8_0.5"), Some(80.5));
        assert_eq!(py_float("abc"), None);
    }

    #[test]
    fn loose_keeps_missing_and_null_apart() {
        let v: Loose = serde_json::from_str("null").unwrap();
        assert_eq!(v, Loose::Null);
        assert_eq!(Loose::default(), Loose::Missing);
        assert!(Loose::Int(0).eq_false());
        assert!(Loose::Float(1.0).eq_true());
    }
}
