//! The set of keys a verifier trusts, looked up by `kid`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::VerifyingKey;
use super::jwk::{Jwk, Purpose};
use crate::error::{ErrorKind, KeyError};

/// The keys a verifier trusts, each bound to one algorithm, looked up by `kid`.
///
/// Rules, checked when the set is built:
/// - at least one key; with several keys, every key has a unique `kid` (a token without
///   `kid` is then refused, since there is no way to know which key it means);
/// - symmetric (HMAC) and asymmetric keys never mix (ASVS 5.0 V9.1.2);
/// - a `kid` is 1–256 bytes without control characters.
///
/// Cloning is cheap (the keys are shared).
///
/// ```
/// use authz_core::{Algorithm, KeySet, KeyError, SigningKey, VerifyingKey};
///
/// let a = SigningKey::generate(Algorithm::EdDSA)?.with_kid("a").verifying_key();
/// let b = SigningKey::generate(Algorithm::ES256)?.with_kid("b").verifying_key();
/// let set = KeySet::new([a.clone(), b])?;
/// assert_eq!(set.get("b").unwrap().algorithm(), Algorithm::ES256);
///
/// assert_eq!(KeySet::new([a.clone(), a]).unwrap_err(), KeyError::DuplicateKid("a".into()));
/// let hs = VerifyingKey::from_secret(Algorithm::HS256, b"0123456789abcdef0123456789abcdef")?.with_kid("h");
/// let ed = SigningKey::generate(Algorithm::EdDSA)?.with_kid("e").verifying_key();
/// assert_eq!(KeySet::new([hs, ed]).unwrap_err(), KeyError::MixedKeyFamilies);
/// # Ok::<(), KeyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Arc<[VerifyingKey]>,
    /// For sets of several keys: each key's position by its `kid`, built at load.
    by_kid: Option<Arc<KidIndex>>,
}

/// Positions of a set's keys by `kid`: a token's key is found with one hash of its `kid`,
/// however many keys the set holds (a linear scan cost +81 % of a whole HS256 request at
/// 1000 keys). The hasher is seeded per process: a `kid` is read before any signature check.
struct KidIndex(HashMap<Arc<str>, usize, foldhash::fast::RandomState>);

impl fmt::Debug for KidIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KidIndex({})", self.0.len())
    }
}

#[derive(Deserialize)]
struct JwksDocument<'a> {
    #[serde(borrow)]
    keys: Vec<&'a RawValue>,
}

impl KeySet {
    /// A set of the given keys.
    ///
    /// # Errors
    ///
    /// If the set is empty, mixes HMAC and asymmetric keys, has a duplicate or invalid `kid`,
    /// or has several keys and one without `kid`.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<Self, KeyError> {
        let keys: Vec<VerifyingKey> = keys.into_iter().collect();
        let first = keys.first().ok_or(KeyError::EmptySet)?;
        if keys
            .iter()
            .any(|k| k.is_symmetric() != first.is_symmetric())
        {
            return Err(KeyError::MixedKeyFamilies);
        }
        let mut by_kid = HashMap::with_capacity_and_hasher(keys.len(), Default::default());
        for (i, key) in keys.iter().enumerate() {
            match key.kid_arc() {
                Some(kid) if !valid_kid(kid) => return Err(KeyError::InvalidKid),
                Some(kid) if by_kid.insert(Arc::clone(kid), i).is_some() => {
                    return Err(KeyError::DuplicateKid(kid.to_string()));
                }
                None if keys.len() > 1 => return Err(KeyError::MissingKid),
                _ => {}
            }
        }
        Ok(Self {
            by_kid: (keys.len() > 1).then(|| Arc::new(KidIndex(by_kid))),
            keys: keys.into(),
        })
    }

    /// A set of one key. A token may then omit `kid`; if it names one, it must be this key's
    /// (when the key has a `kid`).
    pub fn single(key: VerifyingKey) -> Self {
        Self {
            keys: Arc::new([key]),
            by_kid: None,
        }
    }

    /// A set of public keys from a JWK Set document (`{"keys": [...]}`).
    ///
    /// Keys that are not for signatures with a supported algorithm (`use: enc`, an unknown
    /// `kty`, `ES512`, …) are ignored, as RFC 7517 §5 says. Every other key must pass
    /// [`Jwk::to_verifying_key`]'s policy, or the whole set is refused; private and symmetric
    /// keys are refused too.
    ///
    /// # Errors
    ///
    /// With the reason and the offending `kid`, as above; or [`KeyError::EmptySet`] if no
    /// usable key remains.
    pub fn from_jwks(json: &str) -> Result<Self, KeyError> {
        let doc: JwksDocument<'_> = serde_json::from_str(json).map_err(|e| KeyError::Jwk {
            kid: None,
            reason: format!(
                "not a JWK Set document ({})",
                format!("{:?}", e.classify()).to_lowercase()
            ),
        })?;
        let mut keys = Vec::with_capacity(doc.keys.len());
        for raw in doc.keys {
            let jwk = Jwk::parse(raw.get())?;
            if let Purpose::Signature = jwk.purpose() {
                keys.push(jwk.to_verifying_key(false)?);
            }
        }
        Self::new(keys)
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        match &self.by_kid {
            Some(index) => index.0.get(kid).map(|&i| &self.keys[i]),
            None => self.keys.iter().find(|k| k.kid() == Some(kid)),
        }
    }

    /// All keys, in order.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty (never, for a set built by [`KeySet::new`]).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public keys as a JWK Set document, for publishing at `/.well-known/jwks.json`.
    /// HMAC secrets are never included.
    pub fn to_jwks_string(&self) -> String {
        let keys: Vec<Jwk> = self.keys.iter().filter_map(VerifyingKey::to_jwk).collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// The key for a token's `kid` (already checked by [`valid_kid`]).
    pub(crate) fn select(&self, kid: Option<&str>) -> Result<&VerifyingKey, ErrorKind> {
        match (kid, &*self.keys) {
            (Some(kid), keys) => match self.get(kid) {
                Some(key) => Ok(key),
                None => match keys {
                    [only] if only.kid().is_none() => Ok(only),
                    _ => Err(ErrorKind::UnknownKeyId),
                },
            },
            (None, [only]) => Ok(only),
            (None, _) => Err(ErrorKind::MissingKeyId),
        }
    }
}

/// A `kid` is an opaque, exact, case-sensitive string of 1–256 bytes with no control
/// characters (RFC 7517 §4.5; it is never a path, query or command).
pub(crate) fn valid_kid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= 256 && !kid.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, SigningKey};

    fn keys(n: usize) -> Vec<VerifyingKey> {
        (0..n)
            .map(|i| {
                SigningKey::generate(Algorithm::HS256)
                    .unwrap()
                    .with_kid(format!("k{i:04}"))
                    .verifying_key()
            })
            .collect()
    }

    #[test]
    fn a_large_set_finds_each_key_by_kid_and_refuses_the_rest() {
        let set = KeySet::new(keys(1000)).unwrap();
        for (i, key) in set.keys().iter().enumerate() {
            let kid = format!("k{i:04}");
            assert_eq!(set.select(Some(&kid)).unwrap().id(), key.id());
            assert_eq!(set.get(&kid).unwrap().id(), key.id());
        }
        assert_eq!(
            set.select(Some("k1000")).unwrap_err(),
            ErrorKind::UnknownKeyId
        );
        assert_eq!(set.select(None).unwrap_err(), ErrorKind::MissingKeyId);
        assert!(set.get("K0001").is_none(), "kids are case-sensitive");
    }

    #[test]
    fn a_duplicate_kid_is_found_anywhere_in_a_large_set() {
        let mut all = keys(1000);
        all.push(all[3].clone());
        assert_eq!(
            KeySet::new(all).unwrap_err(),
            KeyError::DuplicateKid("k0003".into())
        );
    }
}
