//! [`Json`]: a JSON value read once and then deserialized into any number of typed views.
//!
//! `test_keys` is read by two crates with different rules (the verdict raises where
//! fastpath's Python raises, the observations shrug type surprises off), each through its
//! own serde types. Both deserialize from one [`Json`] tree instead of from the text, so
//! the text is scanned and its strings unescaped once per record.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// A JSON value whose strings borrow from the text they were read from when they have no
/// escapes.
///
/// Numbers keep the kind `serde_json` reported for them (non-negative integer, negative
/// integer, float), so a typed view deserialized from the tree sees exactly the calls it
/// would have seen from the text. An object keeps one entry per key, at the position of
/// the key's first occurrence, with its last value: Python's `json.loads`, which is what
/// fastpath reads.
///
/// `&Json` is a [`Deserializer`] whose errors are `serde_json::Error`s:
///
/// ```
/// use ooni_model::Json;
/// use serde::Deserialize;
///
/// let tree = Json::parse(r#"{"a":1,"b":"x","a":2}"#).unwrap();
/// #[derive(Deserialize)]
/// struct View<'a> { a: u64, b: &'a str }
/// let view = View::deserialize(&tree).unwrap();
/// assert_eq!((view.a, view.b), (2, "x"));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Json<'a> {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A non-negative integer that fits a `u64`.
    PosInt(u64),
    /// A negative integer that fits an `i64`.
    NegInt(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object, one entry per key (see the type's documentation).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Reads one JSON document (the whole of `text`).
    pub fn parse(text: &'a str) -> Result<Json<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let tree = <Json<'a> as de::Deserialize>::deserialize(&mut de)?;
        de.end()?;
        Ok(tree)
    }

    /// The value of `key` in an object (its only entry: keys are unique in the tree);
    /// `None` when the key is absent or `self` is not an object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl<'de> de::Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::PosInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::NegInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            let value = map.next_value()?;
            entries.push((key.0, value));
        }
        keep_last_of_each_key(&mut entries);
        Ok(Json::Object(entries))
    }
}

/// Python's `dict` from pairs: each key once, where it first appeared, with its last
/// value. Small objects are checked pairwise, larger ones through a set, so a hostile
/// object with many keys costs linear time.
fn keep_last_of_each_key<V>(entries: &mut Vec<(Cow<'_, str>, V)>) {
    let has_duplicates = if entries.len() <= 16 {
        entries
            .iter()
            .enumerate()
            .any(|(i, (k, _))| entries[..i].iter().any(|(seen, _)| seen == k))
    } else {
        let mut seen = HashSet::with_capacity(entries.len());
        !entries.iter().all(|(k, _)| seen.insert(k.as_ref()))
    };
    if !has_duplicates {
        return;
    }
    let mut kept: Vec<(Cow<'_, str>, V)> = Vec::with_capacity(entries.len());
    let mut position = std::collections::HashMap::with_capacity(entries.len());
    for (key, value) in entries.drain(..) {
        match position.get(key.as_ref()) {
            Some(&i) => {
                let slot: &mut (Cow<'_, str>, V) = &mut kept[i];
                slot.1 = value;
            }
            None => {
                position.insert(key.to_string(), kept.len());
                kept.push((key, value));
            }
        }
    }
    *entries = kept;
}

/// A JSON string, borrowed from the text when it has no escapes: what every
/// hand-written visitor here and in `ooni-verdict` reads object keys as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CowStr<'a>(pub Cow<'a, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

type Error = serde_json::Error;

/// Deserializing from the tree replays what `serde_json` reported while reading the text:
/// the same visitor calls, with strings lent for as long as the tree is.
impl<'de, 'a: 'de> Deserializer<'de> for &'de Json<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Json::Null => visitor.visit_unit(),
            Json::Bool(b) => visitor.visit_bool(*b),
            Json::PosInt(n) => visitor.visit_u64(*n),
            Json::NegInt(n) => visitor.visit_i64(*n),
            Json::Float(x) => visitor.visit_f64(*x),
            Json::Str(s) => visitor.visit_borrowed_str(s),
            Json::Array(items) => visitor.visit_seq(Items(items.iter())),
            Json::Object(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Json::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Json::Null => visitor.visit_unit(),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Json::Str(s) => visitor.visit_enum(s.as_ref().into_deserializer()),
            Json::Object(entries) if entries.len() == 1 => {
                let (variant, value) = &entries[0];
                visitor.visit_enum(Variant { variant, value })
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &"an enum")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit_struct seq tuple tuple_struct map struct identifier
    }
}

impl Json<'_> {
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Json::Null => de::Unexpected::Unit,
            Json::Bool(b) => de::Unexpected::Bool(*b),
            Json::PosInt(n) => de::Unexpected::Unsigned(*n),
            Json::NegInt(n) => de::Unexpected::Signed(*n),
            Json::Float(x) => de::Unexpected::Float(*x),
            Json::Str(s) => de::Unexpected::Str(s),
            Json::Array(_) => de::Unexpected::Seq,
            Json::Object(_) => de::Unexpected::Map,
        }
    }
}

struct Items<'de, 'a>(std::slice::Iter<'de, Json<'a>>);

impl<'de, 'a: 'de> SeqAccess<'de> for Items<'de, 'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|item| seed.deserialize(item)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'de, 'a> {
    entries: std::slice::Iter<'de, (Cow<'a, str>, Json<'a>)>,
    value: Option<&'de Json<'a>>,
}

impl<'de, 'a: 'de> MapAccess<'de> for Entries<'de, 'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("a value asked for before its key"))?;
        seed.deserialize(value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct Variant<'de, 'a> {
    variant: &'de Cow<'a, str>,
    value: &'de Json<'a>,
}

impl<'de, 'a: 'de> EnumAccess<'de> for Variant<'de, 'a> {
    type Error = Error;
    type Variant = &'de Json<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let variant = seed.deserialize(de::value::BorrowedStrDeserializer::<Error>::new(
            self.variant,
        ))?;
        Ok((variant, self.value))
    }
}

impl<'de, 'a: 'de> VariantAccess<'de> for &'de Json<'a> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::Deserialize;

    #[test]
    fn duplicated_keys_keep_the_first_position_and_the_last_value() {
        let tree = Json::parse(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        let Json::Object(entries) = tree else {
            panic!("an object")
        };
        let keys: Vec<_> = entries
            .iter()
            .map(|(k, v)| (k.as_ref(), v.clone()))
            .collect();
        assert_eq!(keys, [("a", Json::PosInt(3)), ("b", Json::PosInt(2))]);
    }

    #[test]
    fn many_keys_are_deduplicated_like_few() {
        let mut text = String::from("{");
        for i in 0..40 {
            text.push_str(&format!("\"k{}\":{i},", i % 30));
        }
        text.push_str("\"end\":null}");
        let Json::Object(entries) = Json::parse(&text).unwrap() else {
            panic!("an object")
        };
        assert_eq!(entries.len(), 31);
        assert_eq!(entries[3], (Cow::Borrowed("k3"), Json::PosInt(33)));
        assert_eq!(entries[29], (Cow::Borrowed("k29"), Json::PosInt(29)));
    }

    #[test]
    fn strings_borrow_unless_escaped_and_numbers_keep_their_kind() {
        let tree = Json::parse(r#"["plain","t\u00e9l\n",-3,3,3.0,18446744073709551616]"#);
        let Json::Array(items) = tree.unwrap() else {
            panic!("an array")
        };
        assert!(matches!(&items[0], Json::Str(Cow::Borrowed("plain"))));
        assert!(matches!(&items[1], Json::Str(Cow::Owned(s)) if s == "tél\n"));
        assert_eq!(items[2], Json::NegInt(-3));
        assert_eq!(items[3], Json::PosInt(3));
        assert_eq!(items[4], Json::Float(3.0));
        assert!(Json::parse("1e400").is_err(), "serde_json's own rule");
        assert_eq!(items[5], Json::Float(18446744073709551616.0));
    }

    /// A whole real measurement, every shape in the fixtures, reads the same through the
    /// tree as from its text (`serde_json::Value` asks for everything by `deserialize_any`).
    #[test]
    fn every_real_fixture_reads_the_same_through_the_tree() {
        for (path, text) in crate::real_fixtures() {
            let from_text: serde_json::Value = serde_json::from_str(&text).unwrap();
            let tree = Json::parse(&text).unwrap();
            let through_tree = serde_json::Value::deserialize(&tree).unwrap();
            assert_eq!(through_tree, from_text, "{}", path.display());
        }
    }

    /// Every typed view reads the same from the tree as from the text.
    #[test]
    fn typed_views_read_the_tree_as_they_read_the_text() {
        #[derive(Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Plain,
            Tagged(u8),
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct View<'a> {
            #[serde(borrow)]
            s: Cow<'a, str>,
            n: Option<i32>,
            f: f64,
            v: Vec<Option<bool>>,
            kinds: Vec<Kind>,
            #[serde(default)]
            missing: Option<String>,
            unit: (),
            rest: std::collections::BTreeMap<String, serde_json::Value>,
        }
        let text = r#"{"s":"x\"y","n":null,"f":2,"v":[true,null],"kinds":["plain",{"tagged":7}],
            "unit":null,"rest":{"k":[1,{"z":-1.5}]},"ignored":{"deep":[1,2,3]}}"#;
        let from_text: View<'_> = serde_json::from_str(text).unwrap();
        let tree = Json::parse(text).unwrap();
        assert_eq!(View::deserialize(&tree).unwrap(), from_text);

        for wrong in [r#"{"s":1}"#, r#"{"s":"x","n":"1"}"#, "[]"] {
            assert!(serde_json::from_str::<View<'_>>(wrong).is_err());
            assert!(
                View::deserialize(&Json::parse(wrong).unwrap()).is_err(),
                "{wrong}"
            );
        }
    }
}
