//! Client assertions (RFC 7523 §3): a client proves who it is with a JWT signed by its own
//! private key, checked against the public key registered for its `iss`.
//!
//! [`ClientAssertions::verify`] requires, on top of every check of a [`Verifier`]:
//!
//! - `iss` names a client whose key [`ClientKeys`] knows (else [`AssertionError::UnknownClient`]);
//! - `sub` equals `iss` (RFC 7523 §3, client authentication);
//! - `aud` is this server's identifier;
//! - `exp` is present and at most 5 minutes away (`with_max_lifetime`);
//! - `jti` is present and used once: a replay is refused ([`ReplayStore`]);
//! - the key is asymmetric (RS/PS/ES/EdDSA): a shared secret proves nothing about a client.
//!
//! The claims are read without verification only to find `iss`; nothing else is trusted
//! before the signature checks out.
//!
//! ```
//! use std::sync::Arc;
//! use authz_core::assertion::{AssertionError, ClientAssertions, MemoryReplays};
//! use authz_core::{Algorithm, Issuer, KeySet, SigningKey};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = SigningKey::generate(Algorithm::RS256)?.with_kid("client");
//! let registered = KeySet::single(client.verifying_key()); // looked up by kid = identity
//! let assertions = ClientAssertions::new(Arc::new(registered), Arc::new(MemoryReplays::new()), "https://server.example");
//!
//! let token = Issuer::new(client)
//!     .with_audience("https://server.example")
//!     .issue(&json!({"iss": "client", "sub": "client"}))?;  // exp, iat and jti added
//! assert_eq!(assertions.verify(&token).await?.subject(), "client");
//! assert!(matches!(assertions.verify(&token).await, Err(AssertionError::Replayed)));
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ErrorKind;
use crate::error::StoreResult;
#[cfg(feature = "remote")]
use crate::remote::RemoteKeySet;
use crate::{Clock, KeySet, Principal, SystemClock, Verifier, VerifyingKey};

/// Where a client's public key comes from, by client id (`iss`).
#[async_trait]
pub trait ClientKeys: Send + Sync + 'static {
    /// The key registered for `client_id`, if any. The error is for logs.
    async fn key_for(&self, client_id: &str) -> Result<Option<VerifyingKey>, String>;
}

/// A fixed set of client keys, by `kid` (= client id).
#[async_trait]
impl ClientKeys for KeySet {
    async fn key_for(&self, client_id: &str) -> Result<Option<VerifyingKey>, String> {
        Ok(self.get(client_id).cloned())
    }
}

/// A keyserver's JWKS (every client's public key, `kid` = client id), fetched and cached;
/// an unknown client id triggers one refresh (at most once per cooldown).
#[cfg(feature = "remote")]
#[async_trait]
impl ClientKeys for RemoteKeySet {
    async fn key_for(&self, client_id: &str) -> Result<Option<VerifyingKey>, String> {
        let lookup = |keys: Option<KeySet>| keys.and_then(|keys| keys.get(client_id).cloned());
        if let Some(key) = lookup(self.keys().current()) {
            return Ok(Some(key));
        }
        self.refresh_for_unknown_kid().await;
        match lookup(self.keys().current()) {
            Some(key) => Ok(Some(key)),
            None if self.keys().current().is_none() => Err(self.last_error().map_or_else(
                || "the keyserver has not answered yet".into(),
                |e| e.to_string(),
            )),
            None => Ok(None),
        }
    }
}

/// Remembers `jti`s until their token expires, to refuse a second use.
#[async_trait]
pub trait ReplayStore: Send + Sync + 'static {
    /// Atomically records `jti` until `until` (Unix seconds); `false` if it was already
    /// recorded and is still remembered at `now` (the caller's clock, never the store's).
    async fn first_use(&self, jti: &str, until: u64, now: u64) -> StoreResult<bool>;
}

/// Replays remembered in process memory: for one process (several instances need a shared
/// store, such as the `redis` feature's `RedisStore`). Bounded: expired entries are purged
/// when it grows.
#[derive(Debug, Default)]
pub struct MemoryReplays {
    seen: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl MemoryReplays {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ReplayStore for MemoryReplays {
    async fn first_use(&self, jti: &str, until: u64, now: u64) -> StoreResult<bool> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= 10_000 {
            seen.retain(|_, until| *until > now);
        }
        match seen.get(jti) {
            Some(&remembered_until) if remembered_until > now => Ok(false),
            _ => {
                seen.insert(jti.to_owned(), until);
                Ok(true)
            }
        }
    }
}

/// Why a client assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionError {
    /// No `iss`, or no key is registered for it.
    UnknownClient,
    /// The token failed a check (signature, expiry, audience, …).
    Invalid(ErrorKind),
    /// This `jti` was used before.
    Replayed,
    /// The key source or the replay store failed.
    Unavailable(String),
}

impl fmt::Display for AssertionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownClient => f.write_str("Unknown client"),
            Self::Invalid(kind) => fmt::Display::fmt(kind, f),
            Self::Replayed => f.write_str("Token has already been used"),
            Self::Unavailable(_) => f.write_str("Client keys are unavailable; try again"),
        }
    }
}

impl std::error::Error for AssertionError {}

/// Verifies client assertions. See the [module docs](self).
#[derive(Clone)]
pub struct ClientAssertions {
    keys: Arc<dyn ClientKeys>,
    replay: Arc<dyn ReplayStore>,
    audience: String,
    max_lifetime: Duration,
    leeway: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ClientAssertions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertions")
            .field("audience", &self.audience)
            .field("max_lifetime", &self.max_lifetime)
            .finish_non_exhaustive()
    }
}

impl ClientAssertions {
    /// Assertions for `audience` (this server's identifier), with keys from `keys` and
    /// single use enforced by `replay`.
    pub fn new(
        keys: Arc<dyn ClientKeys>,
        replay: Arc<dyn ReplayStore>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            keys,
            replay,
            audience: audience.into(),
            max_lifetime: Duration::from_secs(300),
            leeway: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
        }
    }

    /// The longest accepted `exp - iat` (or `exp - now`). Default 5 minutes.
    #[must_use]
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// Clock-skew allowance. Default 5 seconds.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The clock. Default [`SystemClock`].
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Verifies `assertion` and returns the client (its `sub` = `iss`).
    ///
    /// # Errors
    ///
    /// See [`AssertionError`].
    pub async fn verify(&self, assertion: &str) -> Result<Principal, AssertionError> {
        let client = unverified_issuer(assertion).ok_or(AssertionError::UnknownClient)?;
        let key = self
            .keys
            .key_for(&client)
            .await
            .map_err(AssertionError::Unavailable)?
            .ok_or(AssertionError::UnknownClient)?;
        if key.is_symmetric() {
            return Err(AssertionError::Invalid(ErrorKind::AlgorithmNotAllowed));
        }
        // The registered key is the only one trusted, whatever `kid` the token names (the
        // client may name its key as it likes, by its thumbprint say).
        let key = key.without_kid();
        let verifier = Verifier::builder(KeySet::single(key))
            .with_audience(self.audience.clone())
            .with_issuer(client.clone())
            .with_required_claims(["jti"])
            .with_max_lifetime(self.max_lifetime)
            .with_leeway(self.leeway)
            .with_clock(self.clock.clone())
            .build()
            .map_err(|e| AssertionError::Unavailable(e.to_string()))?;
        let principal = verifier
            .verify(assertion)
            .map_err(|e| AssertionError::Invalid(e.into_kind()))?;
        if principal.subject() != client {
            return Err(AssertionError::Invalid(ErrorKind::InvalidSubject));
        }
        let jti = principal
            .token_id()
            .ok_or_else(|| AssertionError::Invalid(ErrorKind::MissingClaim("jti".into())))?;
        let until = principal.expires_at().unwrap_or(0.0).ceil() as u64 + self.leeway.as_secs();
        let now = crate::clock::unix_secs(&*self.clock);
        if !self
            .replay
            .first_use(&format!("{client}\u{0}{jti}"), until, now)
            .await
            .map_err(|e| AssertionError::Unavailable(e.to_string()))?
        {
            return Err(AssertionError::Replayed);
        }
        Ok(principal)
    }
}

/// The `iss` of a token, read without verification (only to pick the key), or `None`.
fn unverified_issuer(token: &str) -> Option<String> {
    if token.len() > 8 * 1024 {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let iss = serde_json::from_slice::<Iss>(&json).ok()?.iss?;
    (!iss.is_empty() && iss.len() <= 256).then_some(iss)
}
