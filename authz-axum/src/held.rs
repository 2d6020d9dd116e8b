//! [`Held`]: a request held while an async check runs — the one "check, then call or reject"
//! state of the AuthLayer's future (a key refresh, a revocation lookup) and of the usage
//! layer's (a shared quota store).

use std::task::{Context, Poll, ready};

use authz_core::policy::BoxFuture;
use http::Request;

/// The check's future, and the request and the (ready) service it decides about.
pub(crate) struct Held<S, B, T> {
    check: BoxFuture<'static, T>,
    held: Option<(Request<B>, S)>,
}

impl<S, B, T> Held<S, B, T> {
    pub(crate) fn new(check: BoxFuture<'static, T>, request: Request<B>, service: S) -> Self {
        Self {
            check,
            held: Some((request, service)),
        }
    }

    /// Waits for the check, then hands back its answer with the request and the service:
    /// the caller calls the service or answers the request itself.
    ///
    /// # Panics
    ///
    /// When polled again after it was ready (a future's contract), never on input.
    pub(crate) fn poll_check(&mut self, cx: &mut Context<'_>) -> Poll<(T, Request<B>, S)> {
        let answer = ready!(self.check.as_mut().poll(cx));
        let (request, service) = self.held.take().expect("polled after completion");
        Poll::Ready((answer, request, service))
    }
}
