//! A key set that can change while verifiers use it.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use super::KeySet;

/// Trusted keys that can be replaced at run time (a rotation, a JWKS fetched again), shared
/// by every verifier built on it. Reads are lock-free: a verification never waits for a
/// replacement, it uses the set that was current when it started.
///
/// An empty `SharedKeySet` (nothing loaded yet, e.g. before the first JWKS fetch) makes
/// verification fail with [`ErrorKind::KeysUnavailable`](crate::ErrorKind::KeysUnavailable),
/// which the AuthLayer answers with 503 and `Retry-After`: never accepted, never a 500.
///
/// ```
/// use authz_core::{Algorithm, ErrorKind, Issuer, KeySet, SigningKey, Verifier};
/// use authz_core::key::SharedKeySet;
///
/// let old = SigningKey::generate(Algorithm::ES256)?.with_kid("2026-10");
/// let new = SigningKey::generate(Algorithm::ES256)?.with_kid("2026-11");
/// let keys = SharedKeySet::empty();
/// let verifier = Verifier::builder(keys.clone()).build()?;
///
/// let token = Issuer::new(new.clone()).issue_for("alice")?;
/// assert_eq!(verifier.verify(&token).unwrap_err().kind(), &ErrorKind::KeysUnavailable);
/// keys.replace(KeySet::new([old.verifying_key(), new.verifying_key()])?);
/// assert!(verifier.verify(&token).is_ok());
/// keys.replace(KeySet::single(old.verifying_key()));
/// assert_eq!(verifier.verify(&token).unwrap_err().kind(), &ErrorKind::UnknownKeyId);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct SharedKeySet(Arc<ArcSwapOption<KeySet>>);

impl fmt::Debug for SharedKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.current() {
            Some(keys) => f.debug_tuple("SharedKeySet").field(&keys).finish(),
            None => f.write_str("SharedKeySet(empty)"),
        }
    }
}

impl SharedKeySet {
    /// Starts with `keys`.
    pub fn new(keys: KeySet) -> Self {
        Self(Arc::new(ArcSwapOption::from_pointee(keys)))
    }

    /// Starts with nothing: verification answers `KeysUnavailable` until [`replace`](Self::replace).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Replaces the set. Verifications already running finish with the old one.
    pub fn replace(&self, keys: KeySet) {
        self.0.store(Some(Arc::new(keys)));
    }

    /// The current set, if any.
    pub fn current(&self) -> Option<KeySet> {
        self.0.load().as_deref().cloned()
    }

    pub(crate) fn load(&self) -> arc_swap::Guard<Option<Arc<KeySet>>> {
        self.0.load()
    }
}
