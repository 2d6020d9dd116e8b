//! # authz-core
//!
//! JWT keys, strict verification, principals and policies — the part of authz that knows
//! nothing about HTTP. The default build is the verifying core (keys, verification,
//! principals, policies, issuing, clock, errors); `remote`, `lifecycle` (+ `sqlite`,
//! `postgres`, `redis`), `assertion` and `usage` are features.
//!
//! - [`key`]: load keys (raw secrets, PEM, DER, JWK, JWKS), refuse weak or inconsistent ones
//!   at load, generate them, export public keys as PEM and JWKS; rotate them with a
//!   [`KeyRing`](key::KeyRing). [`Verifier::builder`] takes any [`KeySource`](key::KeySource),
//!   [`Issuer::new`] any [`SigningSource`](key::SigningSource).
//! - [`verify`]: a [`Verifier`] that does every check RFC 7519/7515/7518/8725 ask, by default.
//! - [`principal`]: the verified caller, with roles, scopes and permissions read from
//!   configurable claims.
//! - [`policy`]: [`Requirement`]s (role, scope, permission, claim, any/all/not, custom checks).
//! - [`issue`]: sign tokens with `iat`, `exp`, `jti` and `kid` filled in.
//! - [`lifecycle`]: a [`TokenService`](lifecycle::TokenService) for login, access + refresh
//!   pairs, rotation with reuse detection, revocation and throttling, on the [`store`]s
//!   (memory; SQLite, PostgreSQL and Redis behind features), with [`password`] hashing.
//! - [`remote`]: a JWKS fetched from a URL and kept fresh ([`remote::RemoteKeySet`]); keys
//!   that change at run time ([`SharedKeySet`]).
//! - [`assertion`]: client assertions (RFC 7523): a client's own signed JWT, checked with the
//!   key registered for its `iss`, single use.
//! - [`usage`]: request counters per subject and quotas (token bucket + period cap).
//! - [`clock`]: an injectable clock.
//!
//! Signatures are made and checked by [`jsonwebtoken`] with one crypto backend, chosen by a
//! cargo feature: `aws_lc_rs` (default) or `rust_crypto` (`default-features = false`); with
//! both on, aws-lc-rs.
//!
//! ```
//! use authz_core::{Algorithm, ErrorKind, Issuer, KeySet, Requirement, SigningKey, Verifier};
//! use serde_json::json;
//!
//! let key = SigningKey::generate(Algorithm::ES256)?.with_kid("k1");
//! let token = Issuer::new(key.clone())
//!     .with_audience("api")
//!     .issue(&json!({"sub": "alice", "roles": ["admin"]}))?;
//!
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key()))
//!     .with_audience("api")
//!     .build()?;
//! let alice = verifier.verify(&token)?;
//! assert!(Requirement::role("admin").evaluate(&alice).is_ok());
//!
//! // Another signature (the whole of it replaced, so it always differs).
//! let forged = format!("{}.AAAA", &token[..token.rfind('.').unwrap_or(0)]);
//! assert!(verifier.verify(&forged).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod algorithm;
#[cfg(feature = "assertion")]
pub mod assertion;
mod backend;
mod cache;
pub mod client;
pub mod clock;
mod error;
pub mod issue;
mod json;
pub mod key;
#[cfg(feature = "lifecycle")]
pub mod lifecycle;
pub mod policy;
pub mod principal;
#[cfg(feature = "remote")]
pub mod remote;
mod token;
#[cfg(feature = "usage")]
pub mod usage;
pub mod verify;
#[cfg(test)]
mod wycheproof;

/// Moved to [`lifecycle::store`]: the stores belong to the token lifecycle.
#[cfg(feature = "lifecycle")]
#[deprecated(since = "0.2.0", note = "use `authz_core::lifecycle::store`")]
pub mod store {
    pub use crate::lifecycle::store::*;
}

/// Moved to [`lifecycle::password`]: passwords belong to the token lifecycle.
#[cfg(feature = "lifecycle")]
#[deprecated(since = "0.2.0", note = "use `authz_core::lifecycle::password`")]
pub mod password {
    pub use crate::lifecycle::password::*;
}

pub use algorithm::{Algorithm, KeyFamily};
pub use backend::BACKEND;
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{
    BackendError, ConfigError, Error, ErrorKind, IssueError, KeyError, Result, Segment,
};
#[cfg(any(feature = "lifecycle", feature = "assertion", feature = "usage"))]
pub use error::{StoreError, StoreResult};
pub use issue::Issuer;
pub use key::{Jwk, KeySet, SharedKeySet, SigningKey, VerifyingKey, generate_secret};
pub use policy::{AsyncCheck, Check, Denied, Requirement};
pub use principal::{ClaimMapping, ClaimPath, ClaimShape, Principal};
pub use verify::{Verifier, VerifierBuilder};

/// The README's examples use the lifecycle too.
#[cfg(all(doctest, feature = "lifecycle"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Re-exported so that apps name the same `serde_json` as the claims API.
pub use serde_json;
