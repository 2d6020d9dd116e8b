//! Client assertions (RFC 7523 §3, as updated by draft-ietf-oauth-rfc7523bis): a client proves
//! who it is with a JWT signed by its own private key, checked against the public key
//! registered for its `iss`.
//!
//! [`ClientAssertions::verify`] requires, on top of every check of a [`Verifier`]:
//!
//! - `iss` names a client whose key [`ClientKeys`] knows (else [`AssertionError::UnknownClient`]);
//! - `sub` equals `iss` (RFC 7523 §3 item 2, client authentication);
//! - `aud` is **one string** equal to this server's issuer identifier (rfc7523bis §5: an array
//!   is refused even when it holds the issuer — the audience-injection attacks of 2025 relied
//!   on servers accepting arrays or their other URLs); the token endpoint URL is accepted too
//!   only when [`with_token_endpoint`](ClientAssertions::with_token_endpoint) names it;
//! - it is a client assertion, not another kind of JWT (rfc7523bis §4): `typ` absent, `JWT`,
//!   or `client-authentication+jwt` (only the last in
//!   [strict mode](ClientAssertions::with_strict_typ)); an access token (`at+jwt`) or any other
//!   explicit type is refused, and so is an OpenID Connect ID token (`nonce`, `at_hash`,
//!   `c_hash` or `auth_time` present); a refresh token of ours is not a JWT at all;
//! - when the request names a `client_id`, it is the assertion's `iss`
//!   ([`verify_for_client`](ClientAssertions::verify_for_client), RFC 7521 §4.2);
//! - `exp` is present and at most 5 minutes away (`with_max_lifetime`);
//! - `jti` is present and used once: a replay is refused ([`ReplayStore`]), remembered until
//!   `exp` on the injected clock;
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
use crate::{ClaimPath, Clock, KeySet, Principal, SystemClock, Verifier, VerifyingKey};

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
    /// A JWT of another kind (an access token, an ID token, another explicit `typ`), or a
    /// `typ` other than `client-authentication+jwt` in strict mode.
    WrongKind,
    /// The request's `client_id` is not the assertion's `iss`.
    ClientMismatch,
    /// The key source or the replay store failed.
    Unavailable(String),
}

impl fmt::Display for AssertionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownClient => f.write_str("Unknown client"),
            Self::Invalid(kind) => fmt::Display::fmt(kind, f),
            Self::Replayed => f.write_str("Token has already been used"),
            Self::WrongKind => f.write_str("The token is not a client assertion"),
            Self::ClientMismatch => {
                f.write_str("The client_id does not match the assertion's issuer")
            }
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
    token_endpoint: Option<String>,
    strict_typ: bool,
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
    /// Assertions whose `aud` must be `issuer` (this server's issuer identifier), with keys
    /// from `keys` and single use enforced by `replay`.
    pub fn new(
        keys: Arc<dyn ClientKeys>,
        replay: Arc<dyn ReplayStore>,
        issuer: impl Into<String>,
    ) -> Self {
        Self {
            keys,
            replay,
            audience: issuer.into(),
            token_endpoint: None,
            strict_typ: false,
            max_lifetime: Duration::from_secs(300),
            leeway: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
        }
    }

    /// Also accepts `aud` equal to this token endpoint URL (one string still).
    ///
    /// Defaults to none: only the issuer identifier (draft-ietf-oauth-rfc7523bis §5).
    #[must_use]
    pub fn with_token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.token_endpoint = Some(url.into());
        self
    }

    /// Requires explicit typing: `typ: client-authentication+jwt`
    /// (draft-ietf-oauth-rfc7523bis §4).
    ///
    /// Defaults to off: `client-authentication+jwt`, `JWT` and an absent `typ` are accepted.
    #[must_use]
    pub fn with_strict_typ(mut self) -> Self {
        self.strict_typ = true;
        self
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
        self.verify_for_client(assertion, None).await
    }

    /// As [`verify`](Self::verify), for a request that names its `client_id`: it must be the
    /// assertion's `iss` (RFC 7521 §4.2).
    ///
    /// # Errors
    ///
    /// See [`AssertionError`]; [`AssertionError::ClientMismatch`] for another `client_id`.
    pub async fn verify_for_client(
        &self,
        assertion: &str,
        client_id: Option<&str>,
    ) -> Result<Principal, AssertionError> {
        let (client, typ) = unverified_parts(assertion).ok_or(AssertionError::UnknownClient)?;
        if client_id.is_some_and(|id| id != client) {
            return Err(AssertionError::ClientMismatch);
        }
        if !self.typ_allowed(typ.as_deref()) {
            return Err(AssertionError::WrongKind);
        }
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
        let mut builder = Verifier::builder(KeySet::single(key))
            .with_audience(self.audience.clone())
            .with_issuer(client.clone());
        if let Some(endpoint) = &self.token_endpoint {
            builder = builder.with_audience(endpoint.clone());
        }
        let verifier = builder
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
        // One string, not an array holding it (the verifier accepted either).
        static AUD: std::sync::LazyLock<ClaimPath> =
            std::sync::LazyLock::new(|| ClaimPath::new("aud"));
        if !matches!(principal.claim(&AUD), Some(serde_json::Value::String(_))) {
            return Err(AssertionError::Invalid(ErrorKind::InvalidAudience));
        }
        if ID_TOKEN_CLAIMS
            .iter()
            .any(|path| principal.claim(path).is_some())
        {
            return Err(AssertionError::WrongKind);
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

/// Claims only an OpenID Connect ID token carries.
static ID_TOKEN_CLAIMS: std::sync::LazyLock<[ClaimPath; 4]> =
    std::sync::LazyLock::new(|| ["nonce", "at_hash", "c_hash", "auth_time"].map(ClaimPath::new));

/// The media type of explicitly typed client assertions (draft-ietf-oauth-rfc7523bis §4).
pub const CLIENT_ASSERTION_TYP: &str = "client-authentication+jwt";

impl ClientAssertions {
    /// Whether a `typ` header marks a client assertion (RFC 7515 §4.1.9: compared
    /// case-insensitively, with or without `application/`).
    fn typ_allowed(&self, typ: Option<&str>) -> bool {
        let typ = typ.map(|t| {
            let t = t.trim();
            t.get(..12)
                .filter(|p| p.eq_ignore_ascii_case("application/"))
                .map_or(t, |_| &t[12..])
        });
        match typ {
            Some(t) if t.eq_ignore_ascii_case(CLIENT_ASSERTION_TYP) => true,
            Some(t) if t.eq_ignore_ascii_case("JWT") => !self.strict_typ,
            None => !self.strict_typ,
            Some(_) => false,
        }
    }
}

/// The `iss` and `typ` of a token, read without verification (only to pick the key and refuse
/// other kinds early), or `None`.
fn unverified_parts(token: &str) -> Option<(String, Option<String>)> {
    if token.len() > 8 * 1024 {
        return None;
    }
    let mut segments = token.split('.');
    let (header, payload) = (segments.next()?, segments.next()?);
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Typ {
        typ: Option<String>,
    }
    let iss = serde_json::from_slice::<Iss>(&URL_SAFE_NO_PAD.decode(payload).ok()?)
        .ok()?
        .iss?;
    let typ = serde_json::from_slice::<Typ>(&URL_SAFE_NO_PAD.decode(header).ok()?)
        .ok()?
        .typ;
    (!iss.is_empty() && iss.len() <= 256).then_some((iss, typ))
}
