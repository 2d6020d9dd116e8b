//! The guard that `#[require_auth(...)]` adds to a handler. Not for direct use: its items are
//! re-exported under `__private` for the macro's generated code.

use std::future::Future;
use std::marker::PhantomData;

use authz_core::{Denied, Principal, Requirement};
use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::auth::{AuthConfig, AuthRejection, ExtractRejection, state};
use crate::manifest::{Access, Probe, describe_quota, probe_answer};

/// What one guarded handler requires. `#[require_auth]` implements it on a hidden marker type
/// per handler: the requirement is built once (a `LazyLock`), never parsed per request.
pub trait GuardSpec: Send + Sync + 'static {
    /// The requirement (roles, scopes, …), or `None` for "any verified principal".
    fn requirement() -> Option<&'static Requirement>;

    /// The name of the app's policy function, if any (for messages).
    const POLICY: Option<&'static str> = None;

    /// The denial when the policy refuses: `policy = <name>`. `#[require_auth]` makes it once.
    fn policy_denied() -> Denied {
        Denied::new(format!("policy = {}", Self::POLICY.unwrap_or("?")))
    }

    /// A per-handler quota (`quota = "30/min"`): the handler's name and the quota, spent per
    /// caller in the AuthLayer's quota store after the requirement and policy passed.
    fn quota() -> Option<(&'static str, authz_core::usage::Quota)> {
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
        if let Some(probe) = parts.extensions.get::<Probe>() {
            probe.found(Access::Guarded {
                requirement: T::requirement().map(ToString::to_string),
                policy: T::POLICY,
                quota: T::quota().map(|(_, quota)| describe_quota(&quota)),
            });
            return Err(ExtractRejection::new(probe_answer()));
        }
        let state = state(parts)?;
        let reject = |parts: &Parts, config: &AuthConfig, rejection: AuthRejection| {
            let route = parts.extensions.get::<axum::extract::MatchedPath>();
            crate::auth::count("authz_denials_total", "reason", route, rejection.code());
            ExtractRejection::new(config.reject(rejection))
        };
        let Some(principal) = &state.principal else {
            return Err(reject(parts, &state.config, AuthRejection::MissingToken));
        };
        if let Some(requirement) = T::requirement() {
            let verdict = if requirement.is_async() {
                requirement.evaluate_async(principal).await
            } else {
                requirement.evaluate(principal)
            };
            if let Err(denied) = verdict {
                return Err(reject(
                    parts,
                    &state.config,
                    AuthRejection::Forbidden(denied),
                ));
            }
        }
        let quota = T::quota();
        if T::POLICY.is_none() && quota.is_none() {
            return Ok(Guard(PhantomData));
        }
        // The policy gets the parts mutably: from here on, own handles on the state.
        let (config, principal) = (state.config.clone(), principal.clone());
        if T::POLICY.is_some() && !T::policy(&principal, parts).await {
            let denied = T::policy_denied();
            return Err(reject(parts, &config, AuthRejection::Forbidden(denied)));
        }
        let Some((handler, quota)) = quota else {
            return Ok(Guard(PhantomData));
        };
        let key = crate::quota::handler_key(handler, principal.subject());
        let now = crate::quota::now(config.verifier.clock().as_ref());
        if let Err(rejection) = config.quotas.spend(&key, &quota, now).await {
            return Err(reject(parts, &config, rejection.into()));
        }
        Ok(Guard(PhantomData))
    }
}

/// The hidden extractor argument of a `#[public]` handler: nothing on a real request; it
/// answers the route manifest's probe ([`crate::manifest`]) as public.
#[derive(Debug)]
pub struct Public;

impl<S: Send + Sync> FromRequestParts<S> for Public {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Probe>() {
            Some(probe) => {
                probe.found(Access::Public);
                Err(ExtractRejection::new(probe_answer()))
            }
            None => Ok(Public),
        }
    }
}
