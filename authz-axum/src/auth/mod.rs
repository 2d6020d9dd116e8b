//! The guarded request path: [`AuthLayer`] verifies the token once per request and leaves the
//! [`Principal`](authz_core::Principal) for the [`Auth`] and [`Claims`] extractors and for
//! `#[require_auth]` guards.
//!
//! Responses follow RFC 6750:
//!
//! | situation | status | `WWW-Authenticate` |
//! | --- | --- | --- |
//! | no token (or another scheme) | 401 | `Bearer realm="…"` |
//! | token refused (signature, expiry, audience, …, revoked) | 401 | `…, error="invalid_token", error_description="…"` |
//! | malformed request (two tokens, bad `Authorization` syntax) | 400 | `…, error="invalid_request", …` |
//! | requirement not met | 403 | `…, error="insufficient_scope", …, scope="…"` |
//! | no verification key yet (a key source that never loaded) | 503 | with `Retry-After: 5` |
//! | the revocation check could not be made (its store is down or slow) | 503 `temporarily_unavailable` | with `Retry-After: 2` |
//!
//! The body is JSON `{"detail": "…", "code": "…"}` with PyJWT's messages; replace every
//! response in one place with [`AuthLayer::on_rejection`]. Rejections are logged through
//! `tracing` (target `authz_axum::rejection`) with their code, never the token.
//!
//! # Example
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

mod extract;
mod future;
mod layer;
mod rejection;
mod revocation;
mod service;
mod source;

pub use extract::{Auth, Claims, ExtractRejection};
pub use future::ResponseFuture;
pub use layer::AuthLayer;
pub use rejection::{AuthRejection, DefaultOnRejection, OnRejection};
pub use revocation::{Revocation, RevocationStatus};
pub use service::AuthService;
pub use source::ExtractFn;

pub(crate) use extract::state;
pub(crate) use layer::{AuthConfig, AuthState};

/// Counts an auth outcome through the `metrics` facade (feature `metrics`):
/// `authz_verifications_total{route, outcome}` at the layer (`accepted`, `anonymous`, or the
/// rejection code), `authz_denials_total{route, reason}` at guards.
#[cfg(feature = "metrics")]
pub(crate) fn count(
    name: &'static str,
    label: &'static str,
    route: Option<&axum::extract::MatchedPath>,
    value: &'static str,
) {
    let route = route.map_or_else(|| "(unmatched)".to_owned(), |path| path.as_str().to_owned());
    metrics::counter!(name, "route" => route, label => value).increment(1);
}

#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn count(
    _: &'static str,
    _: &'static str,
    _: Option<&axum::extract::MatchedPath>,
    _: &'static str,
) {
}
