//! [`Held`]: a request held while an async check runs — the one "check, then call or reject"
//! state of the AuthLayer's future (a key refresh, a revocation lookup) and of the usage
//! layer's (a shared quota store).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Request;

/// The check's future, and the request and the (ready) service it decides about.
pub(crate) struct Held<S, B, F> {
    check: F,
    held: Option<(Request<B>, S)>,
}

impl<S, B, F: Future + Unpin> Held<S, B, F> {
    pub(crate) fn new(check: F, request: Request<B>, service: S) -> Self {
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
    pub(crate) fn poll_check(&mut self, cx: &mut Context<'_>) -> Poll<(F::Output, Request<B>, S)> {
        let answer = ready!(Pin::new(&mut self.check).poll(cx));
        let (request, service) = self.held.take().expect("polled after completion");
        Poll::Ready((answer, request, service))
    }
}
