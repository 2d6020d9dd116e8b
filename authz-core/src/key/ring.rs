//! An issuer's keys across a rotation: [`KeyRing`].

use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use super::{KeySet, SharedKeySet, SigningKey, VerifyingKey};
use crate::SystemClock;
use crate::clock::unix_secs;
use crate::error::KeyError;

/// The signing keys of an issuer across rotations, and the public keys it publishes.
///
/// Rotation with overlap, in two steps:
///
/// 1. [`stage`](Self::stage) a new key: it is **published** (in [`jwks`](Self::jwks)) but does
///    not sign yet, so that verifiers can fetch it before they meet a token signed with it;
/// 2. after at least one JWKS cache lifetime, [`promote`](Self::promote) it: it signs from now
///    on, and the old key stays published until its last token has expired (`keep_for`:
///    the longest token lifetime plus leeway), then [`purge`](Self::purge) drops it.
///
/// Cheap to clone; clones share the ring.
///
/// ```
/// use std::time::Duration;
/// use authz_core::key::KeyRing;
/// use authz_core::{Algorithm, SigningKey};
///
/// let ring = KeyRing::new(SigningKey::generate(Algorithm::ES256)?.with_kid("2026-10"))?;
/// ring.stage(SigningKey::generate(Algorithm::ES256)?.with_kid("2026-11"))?;
/// assert_eq!(ring.signing_key().kid(), Some("2026-10"));
/// assert_eq!(ring.published_kids(), ["2026-10", "2026-11"]);
///
/// ring.promote(Duration::from_secs(360))?;
/// assert_eq!(ring.signing_key().kid(), Some("2026-11"));
/// assert_eq!(ring.published_kids(), ["2026-11", "2026-10"]); // the old one still verifies
/// # Ok::<(), authz_core::KeyError>(())
/// ```
#[derive(Clone)]
pub struct KeyRing(Arc<RwLock<Ring>>);

struct Ring {
    current: SigningKey,
    next: Option<SigningKey>,
    /// Old keys and the Unix second after which no token they signed is valid.
    retired: Vec<(VerifyingKey, u64)>,
    published: KeySet,
    jwks: Arc<str>,
    shared: SharedKeySet,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("published", &self.published_kids())
            .finish_non_exhaustive()
    }
}

impl Ring {
    fn rebuild(&mut self) -> Result<(), KeyError> {
        let keys = std::iter::once(self.current.verifying_key())
            .chain(self.next.iter().map(SigningKey::verifying_key))
            .chain(self.retired.iter().map(|(key, _)| key.clone()));
        let published = KeySet::new(keys)?;
        self.jwks = published.to_jwks_string().into();
        self.shared.replace(published.clone());
        self.published = published;
        Ok(())
    }
}

impl KeyRing {
    /// A ring signing with `current`, which must be asymmetric. A key without a `kid` is
    /// named by its RFC 7638 thumbprint (a published set names its keys, and a thumbprint
    /// never names two keys, across restarts included).
    ///
    /// # Errors
    ///
    /// [`KeyError::NotPublishable`] for an HMAC key.
    pub fn new(current: SigningKey) -> Result<Self, KeyError> {
        let current = check(current)?;
        let published = KeySet::single(current.verifying_key());
        let jwks = published.to_jwks_string().into();
        let shared = SharedKeySet::new(published.clone());
        Ok(Self(Arc::new(RwLock::new(Ring {
            current,
            next: None,
            retired: Vec::new(),
            published,
            jwks,
            shared,
        }))))
    }

    fn read(&self) -> RwLockReadGuard<'_, Ring> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Ring> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key that signs now.
    pub fn signing_key(&self) -> SigningKey {
        self.read().current.clone()
    }

    /// Publishes `next` without signing with it yet (replacing a staged key, if any).
    ///
    /// # Errors
    ///
    /// As [`KeyRing::new`], and [`KeyError::DuplicateKid`] if its `kid` is in use.
    pub fn stage(&self, next: SigningKey) -> Result<(), KeyError> {
        let next = check(next)?;
        let mut ring = self.write();
        let previous = ring.next.replace(next);
        if let Err(error) = ring.rebuild() {
            ring.next = previous;
            return Err(error);
        }
        Ok(())
    }

    /// Makes the staged key the signing key; the old one stays published for `keep_for`
    /// (the longest lifetime of a token it signed, plus leeway).
    ///
    /// # Errors
    ///
    /// [`KeyError::NothingStaged`] if nothing is staged.
    pub fn promote(&self, keep_for: Duration) -> Result<(), KeyError> {
        let mut ring = self.write();
        let Some(next) = ring.next.take() else {
            return Err(KeyError::NothingStaged);
        };
        let old = std::mem::replace(&mut ring.current, next);
        ring.retired.push((
            old.verifying_key(),
            unix_secs(&SystemClock).saturating_add(keep_for.as_secs()),
        ));
        ring.rebuild()
    }

    /// Drops retired keys whose tokens have all expired. Returns how many left the set.
    pub fn purge(&self) -> usize {
        let now = unix_secs(&SystemClock);
        let mut ring = self.write();
        let before = ring.retired.len();
        ring.retired.retain(|(_, until)| *until > now);
        let removed = before - ring.retired.len();
        if removed > 0 {
            // Removing keys from a valid set leaves a valid set.
            let _ = ring.rebuild();
        }
        removed
    }

    /// The published public keys: current, staged and retired.
    pub fn public_keys(&self) -> KeySet {
        self.read().published.clone()
    }

    /// The published keys as a [`SharedKeySet`] that follows the ring (for this issuer's own
    /// verifier: [`Verifier::builder`](crate::Verifier::builder)).
    pub fn shared_keys(&self) -> SharedKeySet {
        self.read().shared.clone()
    }

    /// The published keys as a JWKS document (made once per change).
    pub fn jwks(&self) -> Arc<str> {
        self.read().jwks.clone()
    }

    /// The `kid`s published, current first.
    pub fn published_kids(&self) -> Vec<String> {
        self.read()
            .published
            .keys()
            .iter()
            .filter_map(|key| key.kid().map(str::to_owned))
            .collect()
    }
}

/// A key fit for the ring: asymmetric, named (by its thumbprint when it has no `kid`).
fn check(key: SigningKey) -> Result<SigningKey, KeyError> {
    if key.algorithm().is_symmetric() {
        return Err(KeyError::NotPublishable);
    }
    Ok(match key.kid() {
        Some(_) => key,
        None => key.with_thumbprint_kid(),
    })
}
