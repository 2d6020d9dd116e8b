//! The guard that `#[require_auth(...)]` adds to a handler. Not for direct use: its items are
//! re-exported under `__private` for the macro's generated code.

use std::future::Future;
use std::marker::PhantomData;

use authz_core::{Denied, Principal, Requirement};
use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::auth::{AuthRejection, ExtractRejection, state};

/// What one guarded handler requires. `#[require_auth]` implements it on a hidden marker type
/// per handler: the requirement is built once (a `LazyLock`), never parsed per request.
pub trait GuardSpec: Send + Sync + 'static {
    /// The requirement (roles, scopes, …), or `None` for "any verified principal".
    fn requirement() -> Option<&'static Requirement>;

    /// The name of the app's policy function, if any (for messages).
    const POLICY: Option<&'static str> = None;

    /// A per-handler quota (`quota = "30/min"`): the handler's own limiter and the quota,
    /// spent per caller after the requirement and policy passed.
    fn quota() -> Option<(
        &'static authz_core::usage::QuotaLimiter,
        authz_core::usage::Quota,
    )> {
        None
    }

    /// The app's async policy (`policy = path::to::check`): gets the principal and the request
    /// parts. Runs after the requirement passed.
    fn policy<'a>(
        principal: &'a Principal,
        parts: &'a mut Parts,
    ) -> impl Future<Output = bool> + Send + 'a {
        let _ = (principal, parts);
        async { true }
    }
}

/// The hidden extractor argument of a guarded handler. Its rejection is the denial: 401 when
/// anonymous, 403 when the requirement or policy fails, 500 when the route has no
/// [`AuthLayer`](crate::AuthLayer) (never open).
#[derive(Debug)]
pub struct Guard<T>(PhantomData<fn() -> T>);

impl<S: Send + Sync, T: GuardSpec> FromRequestParts<S> for Guard<T> {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let state = state(parts)?.clone();
        let route = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .cloned();
        let reject = |rejection: AuthRejection| {
            crate::auth::count(
                "authz_denials_total",
                "reason",
                route.as_ref(),
                rejection.code(),
            );
            ExtractRejection::new(state.config.reject(rejection))
        };
        let Some(principal) = &state.principal else {
            return Err(reject(AuthRejection::MissingToken));
        };
        if let Some(requirement) = T::requirement() {
            let verdict = if requirement.is_async() {
                requirement.evaluate_async(principal).await
            } else {
                requirement.evaluate(principal)
            };
            verdict.map_err(|denied| reject(AuthRejection::Forbidden(denied)))?;
        }
        if let Some(name) = T::POLICY
            && !T::policy(principal, parts).await
        {
            return Err(reject(AuthRejection::Forbidden(Denied::new(format!(
                "policy = {name}"
            )))));
        }
        if let Some((limiter, quota)) = T::quota()
            && let authz_core::usage::QuotaDecision::Limited {
                limit,
                retry_after,
                reset,
                cap,
            } = limiter.check(principal.subject(), &quota, crate::usage::now())
        {
            crate::auth::count(
                "authz_denials_total",
                "reason",
                route.as_ref(),
                "rate_limited",
            );
            return Err(ExtractRejection::new(crate::usage::too_many(
                limit,
                retry_after,
                reset,
                cap,
            )));
        }
        Ok(Guard(PhantomData))
    }
}
