//! The guarded request path: [`AuthLayer`] verifies the token once per request and leaves the
//! [`Principal`](authz_core::Principal) for the [`Auth`] and [`Claims`] extractors and for
//! `#[require_auth]` guards.
//!
//! See the [crate docs](crate) for the responses and an example.

mod config;
mod extract;
mod future;
mod layer;
mod metrics;
mod rejection;
mod revocation;
mod service;
mod source;

pub use extract::{Auth, Claims, ExtractRejection};
pub use future::ResponseFuture;
pub use layer::AuthLayer;
#[cfg(feature = "usage")]
pub(crate) use rejection::rate_headers;
pub use rejection::{AuthRejection, DefaultOnRejection, OnRejection};
pub use revocation::{Revocation, RevocationStatus};
pub use service::AuthService;
pub use source::ExtractFn;

pub(crate) use config::AuthConfig;
#[cfg(feature = "usage")]
pub(crate) use config::AuthState;
pub(crate) use extract::state;
pub(crate) use metrics::count; // for the guard
