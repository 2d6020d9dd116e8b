//! Issuing tokens: sign claims with a [`SigningKey`], with `kid` in the header and `iat`,
//! `exp` and `jti` filled in.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use authz_core::{Algorithm, Issuer, KeySet, SigningKey, Verifier};
//! use serde_json::json;
//!
//! let key = SigningKey::generate(Algorithm::EdDSA)?.with_kid("ed-2026");
//! let issuer = Issuer::new(key.clone())
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("api")
//!     .with_typ("at+jwt")
//!     .with_ttl(Duration::from_secs(300));
//! let token = issuer.issue(&json!({"sub": "alice", "roles": ["admin"]}))?;
//!
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key()))
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("api")
//!     .with_typ("at+jwt")
//!     .with_required_claims(["iat", "jti"])
//!     .build()?;
//! let alice = verifier.verify(&token)?;
//! assert!(alice.has_role("admin"));
//! assert_eq!(alice.key_id(), Some("ed-2026"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::backend;
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::error::IssueError;
use crate::key::{KeyRing, SigningKey, SigningSource};

/// The default token lifetime: 5 minutes, as for OAuth access tokens.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Signs tokens with one key. Cheap to clone. See the [module docs](crate::issue).
#[derive(Debug, Clone)]
#[must_use]
pub struct Issuer {
    key: SigningSource,
    issuer: Option<String>,
    audience: Vec<String>,
    typ: Option<String>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl Issuer {
    /// An issuer that signs with `key`: a [`SigningKey`] (its `kid`, if any, goes in every
    /// header) or a [`KeyRing`], whose current key signs each token (rotation with overlap,
    /// without a restart). See [`SigningSource`].
    pub fn new(key: impl Into<SigningSource>) -> Self {
        Self {
            key: key.into(),
            issuer: None,
            audience: Vec::new(),
            typ: None,
            ttl: DEFAULT_TTL,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets `iss` on every token (unless the claims carry their own).
    ///
    /// Defaults to none.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Adds an audience to `aud` on every token (unless the claims carry their own): one
    /// name is written as a string, several as an array.
    ///
    /// Defaults to none.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience.push(audience.into());
        self
    }

    /// Sets the header `typ`, e.g. `at+jwt` for access tokens (RFC 9068).
    ///
    /// Defaults to `JWT`.
    pub fn with_typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The lifetime: `exp = iat + ttl` (unless the claims carry their own `exp`).
    ///
    /// Defaults to [`DEFAULT_TTL`] (5 minutes).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The clock for `iat` and `exp`.
    ///
    /// Defaults to [`SystemClock`].
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// An issuer that signs with whatever key `ring` says is current at each token.
    #[deprecated(
        since = "0.2.0",
        note = "use `Issuer::new(ring)`: it takes any `SigningSource`"
    )]
    #[doc(hidden)]
    pub fn from_ring(ring: KeyRing) -> Self {
        Self::new(ring)
    }

    /// The signing key (for a ring: the current one).
    pub fn key(&self) -> SigningKey {
        self.key.current().into_owned()
    }

    /// Signs a token for `subject` with no other claims than the registered ones.
    ///
    /// # Errors
    ///
    /// As [`Issuer::issue`].
    pub fn issue_for(&self, subject: &str) -> Result<String, IssueError> {
        self.issue(&serde_json::json!({ "sub": subject }))
    }

    /// Signs `claims` (any `Serialize` that makes a JSON object). `iat`, `exp` and `jti` are
    /// added when absent (`jti`: 128 random bits, base64url), as are `iss` and `aud` when
    /// configured.
    ///
    /// # Errors
    ///
    /// [`IssueError::NotAnObject`] if `claims` is not a JSON object;
    /// [`IssueError::Backend`] if the backend (or the random source) fails.
    pub fn issue<T: Serialize + ?Sized>(&self, claims: &T) -> Result<String, IssueError> {
        let Ok(Value::Object(mut claims)) = serde_json::to_value(claims) else {
            return Err(IssueError::NotAnObject);
        };
        let now = unix_seconds(self.clock.now()).floor() as u64;
        claims.entry("iat").or_insert(now.into());
        claims
            .entry("exp")
            .or_insert((now + self.ttl.as_secs()).into());
        if !claims.contains_key("jti") {
            claims.insert("jti".into(), new_jti()?.into());
        }
        if let Some(iss) = &self.issuer {
            claims.entry("iss").or_insert_with(|| iss.clone().into());
        }
        match self.audience.as_slice() {
            [] => {}
            [one] => {
                claims.entry("aud").or_insert_with(|| one.clone().into());
            }
            many => {
                claims.entry("aud").or_insert_with(|| many.to_vec().into());
            }
        }
        self.sign(&claims)
    }

    fn sign(&self, claims: &Map<String, Value>) -> Result<String, IssueError> {
        let key = self.key.current();
        let mut header = Map::with_capacity(3);
        header.insert("alg".into(), key.algorithm().as_str().into());
        header.insert("typ".into(), self.typ.as_deref().unwrap_or("JWT").into());
        if let Some(kid) = key.kid() {
            header.insert("kid".into(), kid.into());
        }
        let header = serde_json::to_vec(&header).map_err(|_| IssueError::NotAnObject)?;
        let payload = serde_json::to_vec(claims).map_err(|_| IssueError::NotAnObject)?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = key.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// A fresh token id: 128 random bits, base64url.
fn new_jti() -> Result<String, IssueError> {
    Ok(backend::random_b64url(16)?)
}
