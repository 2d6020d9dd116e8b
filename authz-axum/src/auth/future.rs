//! [`ResponseFuture`]: the inner service's future, a rejection, or a request [`Held`] while a
//! check (a key refresh, a revocation lookup) runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use authz_core::policy::BoxFuture;
use authz_core::{ErrorKind, Principal};
use axum::response::Response;
use http::Request;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::config::{AuthConfig, AuthState, check_csrf};
use super::rejection::AuthRejection;
use super::revocation::RevocationStatus;
use super::source::Via;
use crate::held::Held;

pin_project! {
    /// Response future of [`AuthService`](crate::layer::AuthService). Boxes nothing unless a revocation hook is set.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        kind: Kind<S, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, B>
    where
        S: Service<Request<B>>,
    {
        Inner { #[pin] future: S::Future },
        Checking {
            held: Held<S, B, Pending>,
            config: Arc<AuthConfig>,
            after: After,
        },
        CheckingForm {
            check: BoxFuture<'static, Result<Request<B>, AuthRejection>>,
            again: Option<Again<S, B>>,
            config: Arc<AuthConfig>,
        },
        Again { future: Pin<Box<ResponseFuture<S, B>>> },
        Rejected { response: Option<Response> },
    }
}

impl<S: Service<Request<B>>, B> ResponseFuture<S, B> {
    pub(crate) fn inner(future: S::Future) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn rejected(response: Response) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn revoking(
        check: BoxFuture<'static, RevocationStatus>,
        request: Request<B>,
        service: S,
        config: Arc<AuthConfig>,
    ) -> Self {
        Self {
            kind: Kind::Checking {
                held: Held::new(Pending::Revocation(check), request, service),
                config,
                after: After::Revocation,
            },
        }
    }
}

/// What a held request waits for, answered the same way: the revocation hook's status, or
/// a principal from a key refresh (no second box to map one into the other).
enum Pending {
    Revocation(BoxFuture<'static, RevocationStatus>),
    Principal(BoxFuture<'static, Result<Option<Principal>, AuthRejection>>),
}

impl Future for Pending {
    type Output = Result<Option<Principal>, AuthRejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Revocation(check) => check.as_mut().poll(cx).map(|status| match status {
                RevocationStatus::Active => Ok(None),
                RevocationStatus::Revoked => Err(AuthRejection::InvalidToken(ErrorKind::Revoked)),
                RevocationStatus::Unavailable => Err(AuthRejection::Unavailable),
            }),
            Self::Principal(check) => check.as_mut().poll(cx),
        }
    }
}

/// What a held request needs once its check said yes.
#[derive(Debug, Clone, Copy)]
enum After {
    /// The revocation check of a principal already attached: call.
    Revocation,
    /// The principal came from a key refresh: the CSRF check (for a cookie), attach, call.
    Principal(Via),
}

/// The layer run again on the restored request, after the form-body check.
pub(crate) type Again<S, B> = Box<dyn FnOnce(Request<B>) -> ResponseFuture<S, B> + Send>;

impl<S: Service<Request<B>>, B> ResponseFuture<S, B> {
    /// The form-body check: read the body, then run the layer again on the restored request.
    pub(crate) fn checking_form(
        check: BoxFuture<'static, Result<Request<B>, AuthRejection>>,
        again: Again<S, B>,
        config: Arc<AuthConfig>,
    ) -> Self {
        Self {
            kind: Kind::CheckingForm {
                check,
                again: Some(again),
                config,
            },
        }
    }

    /// The slow path: the principal comes from a future (a key refresh for an unknown `kid`,
    /// then the revocation check).
    pub(crate) fn resolving(
        check: BoxFuture<'static, Result<Option<Principal>, AuthRejection>>,
        request: Request<B>,
        service: S,
        config: Arc<AuthConfig>,
        via: Via,
    ) -> Self {
        Self {
            kind: Kind::Checking {
                held: Held::new(Pending::Principal(check), request, service),
                config,
                after: After::Principal(via),
            },
        }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response> + Clone,
    B: http_body::Body<Data = axum::body::Bytes> + From<axum::body::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().kind.project() {
                KindProj::Inner { future } => return future.poll(cx),
                KindProj::Again { future } => return future.as_mut().poll(cx),
                KindProj::CheckingForm {
                    check,
                    again,
                    config,
                } => {
                    let checked = ready!(check.as_mut().poll(cx));
                    let again = again
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match checked {
                        Ok(request) => Kind::Again {
                            future: Box::pin(again(request)),
                        },
                        Err(rejection) => Kind::Rejected {
                            response: Some(config.reject(rejection)),
                        },
                    }
                }
                KindProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response));
                }
                KindProj::Checking {
                    held,
                    config,
                    after,
                } => {
                    let (outcome, mut request, mut service) = ready!(held.poll_check(cx));
                    let outcome = match (outcome, *after) {
                        (Ok(Some(principal)), After::Principal(via)) => {
                            check_csrf(config, &request, via, &principal).map(|()| Some(principal))
                        }
                        (outcome, _) => outcome,
                    };
                    let code = match (&outcome, *after) {
                        (Ok(_), After::Revocation) | (Ok(Some(_)), _) => "accepted",
                        (Ok(None), _) => "anonymous",
                        (Err(rejection), _) => rejection.code(),
                    };
                    super::metrics::count(
                        super::metrics::VERIFICATIONS,
                        "outcome",
                        request.extensions().get::<axum::extract::MatchedPath>(),
                        code,
                    );
                    match outcome {
                        Ok(principal) => {
                            if let After::Principal(_) = after {
                                attach(&mut request, config, principal);
                            }
                            Kind::Inner {
                                future: service.call(request),
                            }
                        }
                        Err(rejection) => Kind::Rejected {
                            response: Some(config.reject(rejection)),
                        },
                    }
                }
            };
            self.as_mut().project().kind.set(next);
        }
    }
}

/// Puts the auth state into a request.
pub(crate) fn attach<B>(
    request: &mut Request<B>,
    config: &Arc<AuthConfig>,
    principal: Option<authz_core::Principal>,
) {
    request.extensions_mut().insert(AuthState {
        config: config.clone(),
        principal,
    });
}
