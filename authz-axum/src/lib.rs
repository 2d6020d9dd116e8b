//! # authz-axum
//!
//! JWT authentication and authorization for axum: one [`AuthLayer`] verifies the token, the
//! [`Auth`] and [`Claims`] extractors hand the verified caller to handlers, and responses
//! follow RFC 6750. Apps depend on this crate alone: it re-exports [`authz_core`] (keys,
//! verification, principals, policies, issuing).
//!
//! See the [`auth`] module for the request path and an example.

pub mod auth;
pub mod client;
pub mod cookie;
mod guard;
pub mod jwks;
pub mod keyserver;
#[cfg(feature = "serve")]
pub mod serve;
pub mod token;
pub mod usage;

/// Items for the code `#[require_auth]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::guard::{Guard, GuardSpec};
    pub use authz_core::serde_json;
    pub use authz_core::usage::{Quota, QuotaLimiter};
    pub use authz_core::{Denied, Principal, Requirement};
    pub use http::request::Parts;
    pub use std::sync::LazyLock;
}

pub use auth::{
    Auth, AuthLayer, AuthRejection, AuthService, Claims, DefaultOnRejection, OnRejection,
    Revocation, RevocationStatus,
};
#[doc(inline)]
pub use authz_core::*;
pub use authz_macros::require_auth;

/// Takes the service that `poll_ready` made ready, leaving a clone in its place, for a future
/// that calls it later (tower's rule: the ready instance is the one to call).
pub(crate) fn take_ready<S: Clone>(service: &mut S) -> S {
    let clone = service.clone();
    std::mem::replace(service, clone)
}

/// The framework-independent core, by name.
pub use authz_core as core;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct RootReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
