//! Strict JSON pieces for headers and claims: borrowed strings, NumericDates that must be
//! numbers, string-or-array values, and objects that refuse duplicate member names (so that no
//! parser differential can hide a second `role` behind the first).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The largest NumericDate we accept: 9999-12-31T23:59:59Z.
pub(crate) const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// A JSON string, borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number, integer or not, finite, from 0 up to year 9999.
/// Strings, booleans, null and negative numbers are refused.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumericDate(pub(crate) f64);

impl<'de> de::Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a NumericDate")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&v) {
                    Ok(NumericDate(v))
                } else {
                    Err(E::custom("NumericDate out of range"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A string or an array of strings (`aud`, `roles`, `scp`, …). Nothing else.
#[derive(Debug, Clone)]
pub(crate) enum OneOrMany<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'a> OneOrMany<'a> {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Self::One(s) => (Some(s.as_ref()), &[][..]),
            Self::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many.iter().map(AsRef::as_ref))
    }
}

impl<'de> de::Deserialize<'de> for OneOrMany<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(16));
                while let Some(Str(item)) = seq.next_element::<Str<'de>>()? {
                    items.push(item);
                }
                Ok(OneOrMany::Many(items))
            }
        }
        d.deserialize_any(V)
    }
}

/// The member names of an object read so far, to refuse a repeated one in time linear in
/// their number (RFC 7515 §5.2, RFC 8725 §3.4: a second `role` must never hide behind the
/// first). While there are fewer than [`Seen::FEW`], a name is compared with each earlier one;
/// past that, the names go into a hash set (seeded per process), so a 50-claim token costs
/// 50 lookups instead of 1225 comparisons.
#[derive(Default)]
pub(crate) struct Seen<'a>(HashSet<Cow<'a, str>, foldhash::fast::RandomState>);

impl<'a> Seen<'a> {
    /// Below this many names, comparing is cheaper than hashing.
    const FEW: usize = 16;

    /// Whether `name` repeats one of `earlier`: every name read before it, in order (the
    /// caller keeps them, and adds `name` after this call).
    #[allow(clippy::ptr_arg)] // a borrowed name goes into the set without a copy
    pub(crate) fn repeats<T>(
        &mut self,
        earlier: &[T],
        name: &Cow<'a, str>,
        name_of: impl Fn(&T) -> &Cow<'a, str>,
    ) -> bool {
        if earlier.len() < Self::FEW {
            return earlier.iter().any(|e| name_of(e) == name);
        }
        if self.0.is_empty() {
            self.0.reserve(2 * earlier.len());
            self.0.extend(earlier.iter().map(|e| name_of(e).clone()));
        }
        !self.0.insert(name.clone())
    }
}

/// The members of a JSON object, in order, refusing duplicate names.
pub(crate) type Members<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Why an object could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectError {
    /// Not a JSON object (or not JSON).
    NotAnObject,
    /// A member name appears twice.
    Duplicate,
}

/// Reads `json` as an object whose member values stay raw.
pub(crate) fn members(json: &str) -> Result<Members<'_>, ObjectError> {
    let mut duplicate = false;
    let mut de = serde_json::Deserializer::from_str(json);
    let result = MembersSeed {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de);
    let result = result.and_then(|m| de.end().map(|()| m));
    match result {
        Ok(members) => Ok(members),
        Err(_) if duplicate => Err(ObjectError::Duplicate),
        Err(_) => Err(ObjectError::NotAnObject),
    }
}

struct MembersSeed<'f> {
    duplicate: &'f mut bool,
}

impl<'de> DeserializeSeed<'de> for MembersSeed<'_> {
    type Value = Members<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MembersSeed<'_> {
    type Value = Members<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Members<'de> = Vec::new();
        let mut seen = Seen::default();
        while let Some(Str(name)) = map.next_key::<Str<'de>>()? {
            if seen.repeats(&out, &name, |(n, _)| n) {
                *self.duplicate = true;
                return Err(de::Error::custom("duplicate member"));
            }
            out.push((name, map.next_value::<&'de RawValue>()?));
        }
        Ok(out)
    }
}

/// Follows `path` through nested objects, refusing duplicates on the way. `Ok(None)` when a
/// member on the path is absent; `Err` when something on the path is not an object.
pub(crate) fn lookup<'a>(
    top: &Members<'a>,
    path: &[String],
) -> Result<Option<&'a RawValue>, ObjectError> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(None);
    };
    let Some(mut value) = find(top, first) else {
        return Ok(None);
    };
    for segment in rest {
        let inner = members(value.get())?;
        match find(&inner, segment) {
            Some(next) => value = next,
            None => return Ok(None),
        }
    }
    Ok(Some(value))
}

fn find<'a>(members: &Members<'a>, name: &str) -> Option<&'a RawValue> {
    members.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates_are_numbers_in_range() {
        let ok = |s: &str| serde_json::from_str::<NumericDate>(s).is_ok();
        assert!(ok("1700000000"));
        assert!(ok("1700000000.5"));
        assert!(!ok("\"1700000000\""));
        assert!(!ok("null"));
        assert!(!ok("-1"));
        assert!(!ok("true"));
        assert!(!ok("1e300"));
        assert!(!ok("18446744073709551615"));
    }

    #[test]
    fn one_or_many_refuses_mixed_arrays() {
        assert!(serde_json::from_str::<OneOrMany<'_>>(r#"["a","b"]"#).is_ok());
        assert!(serde_json::from_str::<OneOrMany<'_>>(r#""a""#).is_ok());
        assert!(serde_json::from_str::<OneOrMany<'_>>(r#"["a",1]"#).is_err());
        assert!(serde_json::from_str::<OneOrMany<'_>>("{}").is_err());
        assert!(serde_json::from_str::<OneOrMany<'_>>("null").is_err());
    }

    #[test]
    fn duplicate_members_are_found_even_when_escaped() {
        assert_eq!(
            members(r#"{"a":1,"a":2}"#).unwrap_err(),
            ObjectError::Duplicate
        );
        assert_eq!(
            members(r#"{"role":1,"r\u006fle":2}"#).unwrap_err(),
            ObjectError::Duplicate
        );
        assert_eq!(members("[1]").unwrap_err(), ObjectError::NotAnObject);
        assert_eq!(
            members(r#"{"a":1} x"#).unwrap_err(),
            ObjectError::NotAnObject
        );
    }

    /// Past [`Seen::FEW`] names the check hashes: a repeat is found wherever it is, escaped
    /// or not, and distinct names pass.
    #[test]
    fn duplicate_members_are_found_among_many() {
        let object = |names: &[String]| {
            let members: Vec<String> = names.iter().map(|n| format!(r#""{n}":1"#)).collect();
            format!("{{{}}}", members.join(","))
        };
        let mut names: Vec<String> = (0..60).map(|i| format!("claim_{i}")).collect();
        assert_eq!(members(&object(&names)).unwrap().len(), 60);
        for (at, of) in [(1, 0), (15, 3), (16, 0), (17, 16), (59, 40), (40, 39)] {
            let mut repeated = names.clone();
            repeated[at] = names[of].clone();
            assert_eq!(
                members(&object(&repeated)).unwrap_err(),
                ObjectError::Duplicate,
                "{at} repeats {of}"
            );
        }
        names[50] = r#"cl\u0061im_3"#.to_owned();
        assert_eq!(
            members(&object(&names)).unwrap_err(),
            ObjectError::Duplicate
        );
    }

    #[test]
    fn lookup_follows_nested_paths() {
        let top = members(r#"{"realm_access":{"roles":["admin"]},"x":1}"#).unwrap();
        let path = ["realm_access".to_owned(), "roles".to_owned()];
        assert_eq!(lookup(&top, &path).unwrap().unwrap().get(), r#"["admin"]"#);
        let missing = ["realm_access".to_owned(), "nope".to_owned()];
        assert!(lookup(&top, &missing).unwrap().is_none());
        let through_number = ["x".to_owned(), "y".to_owned()];
        assert!(lookup(&top, &through_number).is_err());
    }
}
