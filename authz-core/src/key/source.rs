//! Where keys come from: [`KeySource`] for a [`Verifier`](crate::Verifier), [`SigningSource`]
//! for an [`Issuer`](crate::Issuer) and a token service.
//!
//! Each is made with `From`, so the constructors take whichever source you hold:
//!
//! ```
//! use authz_core::key::KeyRing;
//! use authz_core::{Algorithm, Issuer, KeySet, SigningKey, Verifier};
//!
//! // One key, both ways.
//! let key = SigningKey::from_secret(Algorithm::HS256, b"a-secret-of-at-least-32-bytes-long!!")?;
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key())).build()?;
//! let issuer = Issuer::new(key);
//! assert!(verifier.verify(&issuer.issue_for("alice")?).is_ok());
//!
//! // A ring: signs with its current key, verifies with every key it publishes.
//! let ring = KeyRing::new(SigningKey::generate(Algorithm::ES256)?)?;
//! let verifier = Verifier::builder(&ring).build()?;
//! let issuer = Issuer::new(ring.clone());
//! assert!(verifier.verify(&issuer.issue_for("alice")?).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;

use super::{KeyRing, KeySet, SharedKeySet, SigningKey, VerifyingKey};

/// The keys a [`Verifier`](crate::Verifier) trusts: a fixed set, a set replaced at run time,
/// a remote JWKS (feature `remote`) or the keys a [`KeyRing`] publishes.
///
/// | from | trusts |
/// | --- | --- |
/// | [`KeySet`], [`VerifyingKey`] | those keys, for the verifier's life |
/// | [`SharedKeySet`] | whatever the set holds at each verification (empty → `keys_unavailable`) |
/// | [`&KeyRing`](KeyRing), [`KeyRing`] | every key the ring publishes, across rotations |
/// | `RemoteKeySet` | the fetched JWKS, refreshed once when a token names an unknown `kid` |
#[derive(Debug, Clone)]
pub struct KeySource(pub(crate) Source);

#[derive(Debug, Clone)]
pub(crate) enum Source {
    Static(KeySet),
    Shared(SharedKeySet),
    #[cfg(feature = "remote")]
    Remote(crate::remote::RemoteKeySet),
}

impl From<KeySet> for KeySource {
    fn from(keys: KeySet) -> Self {
        Self(Source::Static(keys))
    }
}

impl From<VerifyingKey> for KeySource {
    fn from(key: VerifyingKey) -> Self {
        Self(Source::Static(KeySet::single(key)))
    }
}

impl From<SharedKeySet> for KeySource {
    fn from(keys: SharedKeySet) -> Self {
        Self(Source::Shared(keys))
    }
}

impl From<&KeyRing> for KeySource {
    fn from(ring: &KeyRing) -> Self {
        Self(Source::Shared(ring.shared_keys()))
    }
}

impl From<KeyRing> for KeySource {
    fn from(ring: KeyRing) -> Self {
        Self::from(&ring)
    }
}

#[cfg(feature = "remote")]
impl From<crate::remote::RemoteKeySet> for KeySource {
    fn from(remote: crate::remote::RemoteKeySet) -> Self {
        Self(Source::Remote(remote))
    }
}

/// The key an [`Issuer`](crate::Issuer) or a token service signs with: one [`SigningKey`], or
/// the current key of a [`KeyRing`] at each token (rotation without a restart).
#[derive(Debug, Clone)]
pub struct SigningSource(pub(crate) Signer);

#[derive(Debug, Clone)]
pub(crate) enum Signer {
    Key(SigningKey),
    Ring(KeyRing),
}

impl SigningSource {
    /// The key that signs now (borrowed for a single key: no clone per token).
    pub(crate) fn current(&self) -> Cow<'_, SigningKey> {
        match &self.0 {
            Signer::Key(key) => Cow::Borrowed(key),
            Signer::Ring(ring) => Cow::Owned(ring.signing_key()),
        }
    }

    /// The keys that verify what this source signs: the key's public half (or, for HMAC, the
    /// key itself), or every key the ring publishes.
    #[cfg_attr(not(feature = "lifecycle"), allow(dead_code))]
    pub(crate) fn verifying(&self) -> KeySource {
        match &self.0 {
            Signer::Key(key) => KeySource::from(key.verifying_key()),
            Signer::Ring(ring) => KeySource::from(ring),
        }
    }
}

impl From<SigningKey> for SigningSource {
    fn from(key: SigningKey) -> Self {
        Self(Signer::Key(key))
    }
}

impl From<KeyRing> for SigningSource {
    fn from(ring: KeyRing) -> Self {
        Self(Signer::Ring(ring))
    }
}

impl From<&KeyRing> for SigningSource {
    fn from(ring: &KeyRing) -> Self {
        Self(Signer::Ring(ring.clone()))
    }
}
