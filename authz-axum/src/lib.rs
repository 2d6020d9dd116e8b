//! # authz-axum
//!
//! JWT authentication and authorization for axum: one [`AuthLayer`] verifies the token, the
//! [`Auth`] and [`Claims`] extractors hand the verified caller to handlers,
//! [`#[require_auth]`](require_auth) guards a handler where it is written, and responses follow
//! RFC 6750. Apps depend on this crate alone.
//!
//! ## The API at a glance
//!
//! | need | name |
//! | --- | --- |
//! | verify tokens on a router | [`AuthLayer`], [`Verifier`], [`KeySet`], [`VerifyingKey`] |
//! | the caller in a handler | [`Auth`], [`Claims`], [`Principal`] |
//! | guard a handler | [`require_auth`], [`Requirement`] |
//! | issue tokens | [`Issuer`], [`SigningKey`], [`Algorithm`], [`generate_secret`] |
//! | map claims (Keycloak, Auth0, …) | [`ClaimMapping`], [`ClaimPath`] |
//! | refusals | [`AuthRejection`], [`OnRejection`], [`Error`], [`ErrorKind`], [`ConfigError`] |
//! | revocation on the request path | [`Revocation`], [`RevocationStatus`] |
//! | time | [`Clock`], [`SystemClock`], [`FixedClock`] |
//!
//! Everything else is in a module: [`layer`] (the layer's rarely named parts), [`quota`],
//! [`cookie`] (tokens in cookies, CSRF), [`client`] (client addresses behind proxies),
//! [`jwks`] (remote and published key sets), [`guarded`] (what each guarded handler
//! requires, as data), and with features [`token`] (`token-routes`), [`usage`] (`usage`),
//! `openapi` (`openapi`: the OpenAPI document from `#[require_auth]`), `serve` (`serve`),
//! `testing` (`testing`: personas and an access matrix for an app's own tests). The framework-free core is [`core`]
//! (`authz_core`): key rings, the token lifecycle and its stores, client assertions.
//!
//! ## The request path
//!
//! | situation | status | `WWW-Authenticate` |
//! | --- | --- | --- |
//! | no token (or another scheme) | 401 | `Bearer realm="…"` |
//! | token refused (signature, expiry, audience, …, revoked) | 401 | `…, error="invalid_token", error_description="…"` |
//! | malformed request (two tokens, bad `Authorization` syntax) | 400 | `…, error="invalid_request", …` |
//! | requirement not met | 403 | `…, error="insufficient_scope", …, scope="…"` |
//! | a quota spent | 429 `rate_limited` | none; `Retry-After`, `RateLimit-*` |
//! | no verification key yet (a key source that never loaded) | 503 | with `Retry-After: 5` |
//! | the revocation check could not be made (its store is down or slow) | 503 `temporarily_unavailable` | with `Retry-After: 2` |
//!
//! The body is JSON `{"detail": "…", "code": "…"}` with PyJWT's messages; replace every
//! response in one place with [`AuthLayer::on_rejection`]. Rejections are logged through
//! `tracing` (target `authz_axum::rejection`) with their code, never the token.
//!
//! ```
//! use authz_axum::{Algorithm, Auth, AuthLayer, Issuer, KeySet, SigningKey, Verifier};
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key())).build()?;
//!
//! async fn me(Auth(user): Auth) -> String {
//!     user.subject().to_owned()
//! }
//! let app = Router::new().route("/me", get(me)).layer(AuthLayer::new(verifier));
//!
//! let token = Issuer::new(key).issue_for("alice")?;
//! let ok = Request::get("/me").header("authorization", format!("Bearer {token}")).body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(ok).await?.status(), StatusCode::OK);
//!
//! let anonymous = Request::get("/me").body(Body::empty())?;
//! let response = app.oneshot(anonymous).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
//! # Ok(())
//! # }
//! ```

#[doc(hidden)] // its items are at the root and in `layer`; the path stays for one release
pub mod auth;
pub mod client;
pub mod cookie;
mod guard;
pub mod guarded;
mod held;
pub mod jwks;
#[deprecated(
    since = "0.2.0",
    note = "the seed-001 key server moved into examples/zen (src/keyserver.rs)"
)]
#[doc(hidden)]
pub mod keyserver;
pub mod manifest;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod quota;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "token-routes")]
pub mod token;
#[cfg(feature = "usage")]
pub mod usage;
#[cfg(feature = "ws")]
pub mod ws;

/// The parts of the [`AuthLayer`] an app seldom names: its service and future, the
/// extractors' rejection, custom token sources, the default rejection hook.
pub mod layer {
    pub use crate::auth::{
        AuthService, DefaultOnRejection, ExtractFn, ExtractRejection, ResponseFuture,
    };
}

/// Items for the code `#[require_auth]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__authz_register_guarded as register_guarded;
    pub use crate::guard::{Guard, GuardSpec, Public};
    pub use crate::guarded::GuardedHandler;
    pub use authz_core::serde_json;
    pub use authz_core::usage::Quota;
    pub use authz_core::{Denied, Principal, Requirement};
    pub use http::request::Parts;
    #[cfg(feature = "openapi")]
    pub use inventory;
    pub use std::sync::LazyLock;
}

pub use auth::{Auth, AuthLayer, AuthRejection, Claims, OnRejection, Revocation, RevocationStatus};
pub use authz_core::{
    Algorithm, ClaimMapping, ClaimPath, Clock, ConfigError, Error, ErrorKind, FixedClock, Issuer,
    KeySet, Principal, Requirement, SigningKey, SystemClock, Verifier, VerifyingKey,
    generate_secret,
};
pub use authz_macros::{public, require_auth};

/// Every name of authz-core at this crate's root, as 0.1 had them: kept for one release so
/// that code written against 0.1 still builds. Not part of the API — name them through
/// [`core`] (a glob re-export cannot carry `#[deprecated]`, so it is hidden instead).
#[doc(hidden)]
pub use authz_core::*;

/// Takes the service that `poll_ready` made ready, leaving a clone in its place, for a future
/// that calls it later (tower's rule: the ready instance is the one to call).
pub(crate) fn take_ready<S: Clone>(service: &mut S) -> S {
    let clone = service.clone();
    std::mem::replace(service, clone)
}

/// The framework-independent core, by name.
pub use authz_core as core;

// The READMEs show every feature: their examples are tested with all of them on (the
// workspace's own build).
#[cfg(all(
    doctest,
    feature = "token-routes",
    feature = "usage",
    feature = "jwks-routes"
))]
#[doc = include_str!("../../README.md")]
struct RootReadmeDoctests;

#[cfg(all(
    doctest,
    feature = "token-routes",
    feature = "usage",
    feature = "jwks-routes"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
