//! The revocation hook: an async check of every verified token, on the request path, with
//! three answers.

use authz_core::Principal;
use authz_core::policy::BoxFuture;

/// What a revocation check found: the token is revoked, it is not, or the check could not be
/// made (its store is down or slow).
///
/// The layer answers 401 `token_revoked` for [`Revoked`](Self::Revoked), lets the request
/// through for [`Active`](Self::Active), and answers **503** `temporarily_unavailable` with
/// `Retry-After` for [`Unavailable`](Self::Unavailable) — never 401 (a client would throw its
/// token away, and monitoring would see refusals instead of an outage), never 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationStatus {
    /// Not revoked: the request goes on.
    Active,
    /// Revoked: 401 `invalid_token`.
    Revoked,
    /// The check could not be made: 503 with `Retry-After`.
    Unavailable,
}

/// `true` is revoked, `false` is not.
impl From<bool> for RevocationStatus {
    fn from(revoked: bool) -> Self {
        if revoked { Self::Revoked } else { Self::Active }
    }
}

/// `Ok(revoked)`, or `Err` when the check could not be made.
impl<E> From<Result<bool, E>> for RevocationStatus {
    fn from(result: Result<bool, E>) -> Self {
        match result {
            Ok(revoked) => revoked.into(),
            Err(_) => Self::Unavailable,
        }
    }
}

/// Decides whether a verified token has been revoked (by `jti`, by its session, or by a
/// per-subject "tokens issued before" mark). The token lifecycle implements it; apps can too.
///
/// Implemented for closures `Fn(Principal) -> impl Future<Output = O>` where `O` is a
/// [`RevocationStatus`], a `bool` (revoked or not) or a `Result<bool, E>` (an `Err` is
/// [`RevocationStatus::Unavailable`]).
///
/// ```
/// use authz_axum::{AuthLayer, Principal, RevocationStatus};
/// # fn layer(verifier: authz_axum::Verifier) -> AuthLayer {
/// AuthLayer::new(verifier).with_revocation(|principal: Principal| async move {
///     match principal.token_id() {
///         Some("revoked-jti") => RevocationStatus::Revoked,
///         _ => RevocationStatus::Active,
///     }
/// })
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a revocation check",
    note = "use a closure `Fn(Principal) -> impl Future<Output = RevocationStatus>` (or `bool`, or `Result<bool, E>`) that is `Send + Sync + 'static`"
)]
pub trait Revocation: Send + Sync + 'static {
    /// Resolves to what the check found.
    fn check(&self, principal: &Principal) -> BoxFuture<'static, RevocationStatus>;
}

impl<F, Fut, O> Revocation for F
where
    F: Fn(Principal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send + 'static,
    O: Into<RevocationStatus>,
{
    fn check(&self, principal: &Principal) -> BoxFuture<'static, RevocationStatus> {
        let future = self(principal.clone());
        Box::pin(async move { future.await.into() })
    }
}

/// The token lifecycle's revocations (by `jti`, session and logout-all), checked on every
/// request: answered by the instance's mirror, or by the session store; a store that cannot
/// answer gives [`RevocationStatus::Unavailable`] (503), logged.
#[cfg(feature = "token-routes")]
impl Revocation for authz_core::lifecycle::TokenService {
    fn check(&self, principal: &Principal) -> BoxFuture<'static, RevocationStatus> {
        let service = self.clone();
        let principal = principal.clone();
        Box::pin(async move {
            match service.is_revoked(&principal).await {
                Ok(revoked) => revoked.into(),
                Err(error) => {
                    tracing::warn!(
                        target: "authz_axum::rejection",
                        code = error.code(),
                        %error,
                        "revocation check unavailable; answering 503"
                    );
                    RevocationStatus::Unavailable
                }
            }
        })
    }
}
