//! [`AuthService`]: the middleware service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use http::Request;
use tower_service::Service;

use super::config::{AuthConfig, check_csrf};
use super::future::{ResponseFuture, attach};
use super::rejection::AuthRejection;
use super::revocation::RevocationStatus;
use super::source::{self, Via};

use authz_core::policy::BoxFuture;
use authz_core::remote::RemoteKeySet;
use authz_core::{ErrorKind, Principal};

/// Refreshes the remote keys for an unknown `kid` (or a cold start), verifies again, and runs
/// the revocation check.
fn refetch_and_verify(
    remote: RemoteKeySet,
    config: Arc<AuthConfig>,
    token: &str,
) -> BoxFuture<'static, Result<Option<Principal>, AuthRejection>> {
    let token = token.to_owned();
    Box::pin(async move {
        remote.refresh_for_unknown_kid().await;
        let principal = config
            .verifier
            .verify(&token)
            .map_err(|e| AuthRejection::InvalidToken(e.into_kind()))?;
        if let Some(revocation) = &config.revocation {
            match revocation.check(&principal).await {
                RevocationStatus::Active => {}
                RevocationStatus::Revoked => {
                    return Err(AuthRejection::InvalidToken(ErrorKind::Revoked));
                }
                RevocationStatus::Unavailable => return Err(AuthRejection::Unavailable),
            }
        }
        Ok(Some(principal))
    })
}

/// The middleware made by [`AuthLayer`](super::AuthLayer). See the
/// [crate docs](crate) for an example.
#[derive(Clone)]
#[must_use]
pub struct AuthService<S> {
    inner: S,
    config: Arc<AuthConfig>,
}

impl<S: fmt::Debug> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> AuthService<S> {
    pub(crate) fn new(inner: S, config: Arc<AuthConfig>) -> Self {
        Self { inner, config }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// A request whose form body was checked for a second token (so that the check runs once).
#[derive(Clone, Copy)]
struct FormChecked;

/// The most of a form body read to look for a second token: axum's default body limit.
const FORM_CHECK_LIMIT: usize = 2 * 1024 * 1024;

/// Whether the request's body is a form that could carry `access_token` (RFC 6750 §2.2).
fn form_body<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        && request.extensions().get::<FormChecked>().is_none()
}

/// Reads the form body and refuses it when it carries an `access_token` too (RFC 6750 §2: one
/// method per request); otherwise gives the request back, body restored.
fn check_form<B>(request: Request<B>) -> BoxFuture<'static, Result<Request<B>, AuthRejection>>
where
    B: http_body::Body<Data = axum::body::Bytes> + From<axum::body::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt as _;
    Box::pin(async move {
        let (mut parts, body) = request.into_parts();
        let bytes = http_body_util::Limited::new(body, FORM_CHECK_LIMIT)
            .collect()
            .await
            .map_err(|_| {
                AuthRejection::InvalidRequest("the form body could not be read to check it")
            })?
            .to_bytes();
        if form_urlencoded::parse(&bytes).any(|(name, _)| name == "access_token") {
            return Err(AuthRejection::InvalidRequest(
                "the token is given by more than one method",
            ));
        }
        parts.extensions.insert(FormChecked);
        Ok(Request::from_parts(parts, B::from(bytes)))
    })
}

impl<S, B> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    B: http_body::Body<Data = axum::body::Bytes> + From<axum::body::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // A CORS preflight is a request like any other here: in required mode it needs a
        // token (browsers never send one), so the CORS layer must sit outside this one and
        // answer preflights itself. Letting them through would run whatever handler the
        // route's `OPTIONS` reaches (an `any(...)` route, the fallback) for an anonymous
        // caller.
        // A route manifest's probe (made in process, never from the network): the guard or
        // `#[public]` marker of the handler answers it before anything runs.
        if request
            .extensions()
            .get::<crate::manifest::Probe>()
            .is_some()
        {
            return ResponseFuture::inner(self.inner.call(request));
        }
        let config = &self.config;
        let found = source::find(&config.sources, request.headers(), request.uri());
        // A token in the header (or the query) and a form body: the body may hold a second one
        // (RFC 6750 §2.2), which makes the request malformed. Read it first (rare: bearer
        // tokens seldom come with form bodies), then run this again on the restored request.
        if matches!(&found, Ok(Some(f)) if f.via == Via::Explicit) && form_body(&request) {
            drop(found);
            let mut again = AuthService {
                inner: crate::take_ready(&mut self.inner),
                config: config.clone(),
            };
            return ResponseFuture::checking_form(
                check_form(request),
                Box::new(move |request| again.call(request)),
                config.clone(),
            );
        }
        let outcome = match found {
            Err(reason) => Err(AuthRejection::InvalidRequest(reason)),
            Ok(None) if config.required => Err(AuthRejection::MissingToken),
            Ok(None) => Ok(None),
            Ok(Some(found)) => match config.verifier.verify(&found.token) {
                Ok(principal) => match check_csrf(config, &request, found.via, &principal) {
                    Ok(()) => Ok(Some(principal)),
                    Err(rejection) => Err(rejection),
                },
                Err(error) => {
                    let kind = error.into_kind();
                    if let (Some(remote), ErrorKind::UnknownKeyId | ErrorKind::KeysUnavailable) =
                        (config.verifier.remote(), &kind)
                    {
                        // Slow path: one refresh of the remote keys (single-flight, at most
                        // once per cooldown), then verify again.
                        let via = found.via;
                        let check =
                            refetch_and_verify(remote.clone(), config.clone(), &found.token);
                        let ready = crate::take_ready(&mut self.inner);
                        return ResponseFuture::resolving(
                            check,
                            request,
                            ready,
                            config.clone(),
                            via,
                        );
                    }
                    Err(AuthRejection::InvalidToken(kind))
                }
            },
        };
        let principal = match outcome {
            Ok(principal) => principal,
            Err(rejection) => {
                super::metrics::count(
                    super::metrics::VERIFICATIONS,
                    "outcome",
                    request.extensions().get::<axum::extract::MatchedPath>(),
                    rejection.code(),
                );
                return ResponseFuture::rejected(config.reject(rejection));
            }
        };
        match (&principal, &config.revocation) {
            (Some(p), Some(revocation)) => {
                let check = revocation.check(p);
                attach(&mut request, config, principal);
                let ready = crate::take_ready(&mut self.inner);
                ResponseFuture::revoking(check, request, ready, config.clone())
            }
            _ => {
                let outcome = if principal.is_some() {
                    "accepted"
                } else {
                    "anonymous"
                };
                super::metrics::count(
                    super::metrics::VERIFICATIONS,
                    "outcome",
                    request.extensions().get::<axum::extract::MatchedPath>(),
                    outcome,
                );
                attach(&mut request, config, principal);
                ResponseFuture::inner(self.inner.call(request))
            }
        }
    }
}
