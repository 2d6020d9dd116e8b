//! The guarded request path: [`AuthLayer`] verifies the token once per request and leaves the
//! [`Principal`](authz_core::Principal) for the [`Auth`] and [`Claims`] extractors and for
//! `#[require_auth]` guards.
//!
//! See the [crate docs](crate) for the responses and an example.

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
#[cfg(feature = "usage")]
pub(crate) use rejection::rate_headers;
pub use rejection::{AuthRejection, DefaultOnRejection, OnRejection, RateLimit};
pub use revocation::{Revocation, RevocationStatus};
pub use service::AuthService;
pub use source::ExtractFn;

pub(crate) use extract::state;
pub(crate) use layer::AuthConfig;
#[cfg(feature = "usage")]
pub(crate) use layer::AuthState;

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
