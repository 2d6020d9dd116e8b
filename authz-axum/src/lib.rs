//! # authz-axum
//!
//! JWT authentication and authorization for axum. Apps depend on this crate alone: it
//! re-exports [`authz_core`] (keys, verification, principals, policies, issuing).
//!
//! The tower Layer, the extractors and the RFC 6750 responses arrive with the AuthLayer
//! issue; today this crate is the facade over `authz-core`.

#[doc(inline)]
pub use authz_core::*;

/// The framework-independent core, by name.
pub use authz_core as core;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct RootReadmeDoctests;
