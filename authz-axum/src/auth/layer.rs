//! [`AuthLayer`]: configuration of the guarded request path.

use std::fmt;
use std::sync::Arc;

use authz_core::Verifier;
use tower_layer::Layer;

use super::config::AuthConfig;
use super::rejection::{DefaultOnRejection, OnRejection, Responses};
use super::revocation::Revocation;
use super::service::AuthService;
use super::source::{ExtractFn, Source};
use crate::cookie::{Csrf, TokenCookies};
use crate::quota::QuotaBackend;

/// A tower layer that verifies the request's token once and puts the [`Principal`](crate::Principal) in the
/// request extensions, for the [`Auth`](crate::Auth) / [`Claims`](crate::Claims) extractors
/// and `#[require_auth]` guards.
///
/// *Optional* mode (the default): no token → the request goes on anonymous; a bad token → 401.
/// *Required* mode ([`required`](Self::required)): no valid token → 401 for every route below.
/// CORS preflight requests get no special pass: put the CORS layer *outside* this one
/// (`.layer(auth).layer(cors)`), so that it answers preflights before they reach a handler.
///
/// See the [crate docs](crate) for an example.
#[derive(Clone)]
#[must_use]
pub struct AuthLayer {
    pub(crate) config: Arc<AuthConfig>,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("AuthLayer")
            .field("verifier", &c.verifier)
            .field("sources", &c.sources)
            .field("required", &c.required)
            .field("realm", &c.realm)
            .field("revocation", &c.revocation.is_some())
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// A layer that verifies `Authorization: Bearer` tokens with `verifier`, in optional mode,
    /// with realm `"api"`.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            config: Arc::new(AuthConfig {
                verifier,
                sources: vec![Source::Bearer],
                required: false,
                realm: "api".to_owned(),
                revocation: None,
                on_rejection: Arc::new(DefaultOnRejection),
                csrf: Csrf::refusing(),
                responses: Responses::default(),
                quotas: QuotaBackend::default(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut AuthConfig)) -> Self {
        if let Some(config) = Arc::get_mut(&mut self.config) {
            f(config);
            config.responses = Responses::default();
            self
        } else {
            let c = &self.config;
            let mut config = AuthConfig {
                verifier: c.verifier.clone(),
                sources: c.sources.clone(),
                required: c.required,
                realm: c.realm.clone(),
                revocation: c.revocation.clone(),
                on_rejection: c.on_rejection.clone(),
                csrf: c.csrf.clone(),
                responses: Responses::default(),
                quotas: c.quotas.clone(),
            };
            f(&mut config);
            Self {
                config: Arc::new(config),
            }
        }
    }

    /// Every request below needs a valid token (401 otherwise).
    ///
    /// Defaults to optional: requests without a token go on anonymous.
    pub fn required(self) -> Self {
        self.edit(|c| c.required = true)
    }

    /// The `realm` of `WWW-Authenticate` challenges.
    ///
    /// Defaults to `"api"`.
    pub fn with_realm(self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.edit(|c| c.realm = realm)
    }

    /// Also reads the token from the cookie `name` (for browser apps), with CSRF protection
    /// on: an unsafe request (`POST`, `PUT`, `PATCH`, `DELETE`, …) that the cookie
    /// authenticated must pass the [`Csrf`] check, or gets 403 `csrf_failed`. A token in the
    /// `Authorization` header wins over the cookie, and is not CSRF-checked.
    ///
    /// The CSRF key is random, made now, unless [`with_csrf`](Self::with_csrf) gives one
    /// (several instances need the same key). See [`crate::cookie`].
    pub fn with_cookie(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|c| {
            c.sources.push(Source::Cookie(name));
            if c.csrf.is_refusing() {
                c.csrf = Csrf::random().unwrap_or_else(|_| Csrf::refusing());
            }
        })
    }

    /// The CSRF check for cookie-authenticated requests: a shared key, trusted origins, the
    /// header and cookie names — or [`Csrf::insecure_disabled`].
    ///
    /// Defaults to a random key once a cookie source is on.
    pub fn with_csrf(self, csrf: Csrf) -> Self {
        self.edit(|c| c.csrf = csrf)
    }

    /// Reads the access token from the cookie that [`TokenCookies`] names, with its CSRF
    /// check: `with_cookie(cookies.access_name()).with_csrf(cookies.csrf().clone())`. The
    /// layer that guards routes for a browser app whose token routes
    /// ([`TokenRoutes::with_cookies`](crate::token::TokenRoutes::with_cookies)) set them.
    pub fn with_token_cookies(self, cookies: &TokenCookies) -> Self {
        self.with_cookie(cookies.access_name())
            .with_csrf(cookies.csrf().clone())
    }

    /// Also reads the token from the header `name` (e.g. `x-api-token`).
    pub fn with_header(self, name: http::HeaderName) -> Self {
        self.edit(|c| c.sources.push(Source::Header(name)))
    }

    /// Also reads the token from the query parameter `name`.
    ///
    /// # Security
    ///
    /// Tokens in URLs end up in logs, browser history and `Referer` headers (RFC 6750 §5.3).
    /// Use it only where nothing else works (e.g. WebSocket handshakes from browsers).
    pub fn insecure_with_query(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|c| c.sources.push(Source::Query(name)))
    }

    /// Also reads the token with an app-supplied function.
    pub fn with_extractor(self, extract: ExtractFn) -> Self {
        self.edit(|c| c.sources.push(Source::Custom(extract)))
    }

    /// Stops reading `Authorization: Bearer` (for apps that only use a cookie or header).
    pub fn without_bearer(self) -> Self {
        self.edit(|c| c.sources.retain(|s| !matches!(s, Source::Bearer)))
    }

    /// Checks every verified token with `revocation` (async, on the request path).
    pub fn with_revocation(self, revocation: impl Revocation) -> Self {
        let revocation: Arc<dyn Revocation> = Arc::new(revocation);
        self.edit(|c| c.revocation = Some(revocation))
    }

    /// Replaces rejection responses — from the layer, the extractors and the guards alike.
    pub fn on_rejection(self, on_rejection: impl OnRejection) -> Self {
        let on_rejection: Arc<dyn OnRejection> = Arc::new(on_rejection);
        self.edit(|c| c.on_rejection = on_rejection)
    }

    /// Where the handler quotas of `#[require_auth(quota = …)]` under this layer are spent:
    /// a shared [`QuotaStore`](crate::quota::QuotaStore) (a `RedisStore`: several instances
    /// enforce one quota), each check waiting at most `timeout`; a failure or a timeout does
    /// what `on_error` says (503 `quota_unavailable`, or let through) — never a 500, never a
    /// hang. See [`crate::quota`].
    ///
    /// Defaults to this process's memory.
    pub fn with_quota_store(
        self,
        store: Arc<dyn crate::quota::QuotaStore>,
        on_error: crate::quota::FailMode,
        timeout: std::time::Duration,
    ) -> Self {
        let quotas = QuotaBackend::new(store, on_error, timeout);
        self.edit(|c| c.quotas = quotas)
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.config.verifier
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService::new(inner, self.config.clone())
    }
}
