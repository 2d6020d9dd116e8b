//! The revocation hook: an async check of every verified token, on the request path.

use authz_core::Principal;
use authz_core::policy::BoxFuture;

/// Decides whether a verified token has been revoked (by `jti`, or by a per-subject
/// "tokens issued before" mark). The token lifecycle stores implement it; apps can too.
///
/// Implemented for closures `Fn(Principal) -> impl Future<Output = bool>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a revocation check",
    note = "use a closure `Fn(Principal) -> impl Future<Output = bool> + Send` that is `Send + Sync + 'static`"
)]
pub trait Revocation: Send + Sync + 'static {
    /// Resolves to `true` when the token must be refused.
    fn is_revoked(&self, principal: &Principal) -> BoxFuture<'static, bool>;
}

impl<F, Fut> Revocation for F
where
    F: Fn(Principal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    fn is_revoked(&self, principal: &Principal) -> BoxFuture<'static, bool> {
        Box::pin(self(principal.clone()))
    }
}

/// The token lifecycle's revocations (by `jti`, session and logout-all), checked on every
/// request. A store failure refuses the token (fail closed) and is logged.
impl Revocation for authz_core::lifecycle::TokenService {
    fn is_revoked(&self, principal: &Principal) -> BoxFuture<'static, bool> {
        let service = self.clone();
        let principal = principal.clone();
        Box::pin(async move {
            match service.is_revoked(&principal).await {
                Ok(revoked) => revoked,
                Err(error) => {
                    tracing::error!(
                        target: "authz_axum::rejection",
                        code = error.code(),
                        "revocation store failed; refusing the token"
                    );
                    true
                }
            }
        })
    }
}
