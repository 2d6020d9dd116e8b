//! Strict JSON pieces for headers and claims: borrowed strings, NumericDates that must be
//! numbers, string-or-array values, and objects that refuse duplicate member names (so that no
//! parser differential can hide a second `role` behind the first).

use std::borrow::Cow;
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
        while let Some(Str(name)) = map.next_key::<Str<'de>>()? {
            if out.iter().any(|(n, _)| *n == name) {
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
