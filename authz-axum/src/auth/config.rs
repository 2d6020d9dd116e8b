//! What one [`AuthLayer`](crate::AuthLayer) holds, shared by its service, its future, the
//! extractors and the guards: [`AuthConfig`], and [`AuthState`], what it leaves in each
//! request's extensions.

use std::fmt;
use std::sync::Arc;

use authz_core::{Principal, Verifier};
use axum::response::Response;
use http::Request;

use super::rejection::{AuthRejection, OnRejection, Responses};
use super::revocation::Revocation;
use super::source::{Source, Via};
use crate::cookie::Csrf;
use crate::quota::QuotaBackend;

pub(crate) struct AuthConfig {
    pub(crate) verifier: Verifier,
    pub(crate) sources: Vec<Source>,
    pub(crate) required: bool,
    pub(crate) realm: String,
    pub(crate) revocation: Option<Arc<dyn Revocation>>,
    pub(crate) on_rejection: Arc<dyn OnRejection>,
    /// The CSRF check of cookie-authenticated requests.
    pub(crate) csrf: Csrf,
    /// The default responses, made once each (they depend on the realm).
    pub(crate) responses: Responses,
    /// Where the handler quotas of `#[require_auth(quota = …)]` are spent.
    pub(crate) quotas: QuotaBackend,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("realm", &self.realm)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl AuthConfig {
    /// The response for `rejection`, through the app's hook, logged with its code (never the
    /// token).
    pub(crate) fn reject(&self, rejection: AuthRejection) -> Response {
        if rejection == AuthRejection::MissingLayer {
            tracing::error!(target: "authz_axum::rejection", code = rejection.code(), "request refused");
        } else {
            tracing::debug!(
                target: "authz_axum::rejection",
                status = rejection.status().as_u16(),
                code = rejection.code(),
                "request refused"
            );
        }
        let default = self.responses.get(rejection.clone(), &self.realm);
        self.on_rejection.on_rejection(&rejection, default)
    }
}

/// What the layer leaves in the request extensions: the config (for rendering rejections the
/// app's way) and the principal, if any.
#[derive(Clone)]
pub(crate) struct AuthState {
    pub(crate) config: Arc<AuthConfig>,
    pub(crate) principal: Option<Principal>,
}

/// The CSRF check of a request that a cookie authenticated (see [`crate::cookie`]).
pub(crate) fn check_csrf<B>(
    config: &AuthConfig,
    request: &Request<B>,
    via: Via,
    principal: &Principal,
) -> Result<(), AuthRejection> {
    if via != Via::Cookie {
        return Ok(());
    }
    config
        .csrf
        .check(
            request.method(),
            request.headers(),
            request.uri(),
            principal,
        )
        .map_err(AuthRejection::CsrfFailed)
}
