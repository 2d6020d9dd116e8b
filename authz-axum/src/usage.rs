//! Usage metering and quotas per caller: [`UsageLayer`].
//!
//! Put it **inside** the [`AuthLayer`](crate::AuthLayer) (add it first with `Router::layer`, so
//! that it runs after the token is verified). For every request it:
//!
//! 1. names the caller: the token's `sub`, or `anon:<address>` for anonymous requests (the
//!    IPv4 address or the IPv6 /64, from axum's `ConnectInfo`; without it the anonymous quota
//!    is skipped, with a warning, rather than shared by everyone). A token that names its
//!    OAuth client (`client_id`, or `azp`) is also counted under `client:<id>`; a `sub` that
//!    looks like one of these names is counted as `sub:<sub>`. Methods other than the
//!    standard ones count as `OTHER`;
//! 2. with [`Quotas`], takes one request from the caller's quota (per subject, else the first
//!    matching role, else the authenticated default; anonymous callers have their own). Over
//!    it → **429** with `Retry-After`, `RateLimit-Limit/Remaining/Reset` (IETF RateLimit
//!    header fields draft) and `{"detail", "code": "rate_limited"}`; the handler never runs;
//! 3. counts the request in the [`UsageMeter`] by caller, route template (`/posts/{id}`, from
//!    `MatchedPath`), method and status class, once the response is known. Allowed responses
//!    carry the `RateLimit-*` headers too.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use authz_axum::usage::{Period, Quota, Quotas, UsageLayer, UsageMeter};
//! use authz_axum::{Algorithm, AuthLayer, KeySet, SigningKey, Verifier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let verifier = Verifier::builder(KeySet::single(SigningKey::generate(Algorithm::ES256)?.verifying_key())).build()?;
//! let meter = Arc::new(UsageMeter::new());
//! let quotas = Quotas::new()
//!     .for_authenticated(Quota::rate(20, 5.0).with_cap(Period::Day, 10_000))
//!     .for_role("admin", Quota::rate(100, 50.0))
//!     .for_anonymous(Quota::rate(5, 1.0));
//! let app: Router = Router::new()
//!     .route("/posts/{id}", get(|| async { "post" }))
//!     .layer(UsageLayer::new(meter.clone()).with_quotas(quotas))
//!     .layer(AuthLayer::new(verifier));
//! // later: meter.usage(Some("alice"), Granularity::Day, from, to)
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::future::Future;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use authz_core::Principal;
pub use authz_core::usage::{
    Granularity, Period, Quota, QuotaDecision, QuotaLimiter, QuotaStore, UsageDelta, UsageMeter,
    UsageRow,
};
use axum::extract::MatchedPath;
use axum::response::Response;
use http::{Method, Request};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::auth::{AuthConfig, AuthRejection, AuthState, rate_headers};
use crate::held::Held;
use crate::quota::{QuotaBackend, RateLimit};

pub use crate::quota::FailMode;

/// Which quota applies to whom. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Quotas {
    authenticated: Option<Quota>,
    anonymous: Option<Quota>,
    roles: Vec<(String, Quota)>,
    subjects: HashMap<String, Quota>,
    limiter: QuotaLimiter,
    shared: Option<QuotaBackend>,
}

impl Quotas {
    /// No quota for anyone (add some).
    pub fn new() -> Self {
        Self::default()
    }

    /// The quota of verified callers without a more specific one.
    #[must_use]
    pub fn for_authenticated(mut self, quota: Quota) -> Self {
        self.authenticated = Some(quota);
        self
    }

    /// The quota of anonymous callers, per client address.
    #[must_use]
    pub fn for_anonymous(mut self, quota: Quota) -> Self {
        self.anonymous = Some(quota);
        self
    }

    /// The quota of callers with `role` (the first matching role, in the order added).
    #[must_use]
    pub fn for_role(mut self, role: impl Into<String>, quota: Quota) -> Self {
        self.roles.push((role.into(), quota));
        self
    }

    /// The quota of one subject (wins over roles).
    #[must_use]
    pub fn for_subject(mut self, subject: impl Into<String>, quota: Quota) -> Self {
        self.subjects.insert(subject.into(), quota);
        self
    }

    /// Spends quotas in a shared store (a `RedisStore`: several instances enforce one quota)
    /// instead of this process's memory. Each check waits at most `timeout`; a failure or a
    /// timeout does what `on_error` says — never a 500, never a hang.
    #[must_use]
    pub fn shared(
        mut self,
        store: Arc<dyn QuotaStore>,
        on_error: FailMode,
        timeout: Duration,
    ) -> Self {
        self.shared = Some(QuotaBackend::new(store, on_error, timeout));
        self
    }

    fn quota_for(&self, principal: Option<&Principal>) -> Option<&Quota> {
        let Some(principal) = principal else {
            return self.anonymous.as_ref();
        };
        self.subjects
            .get(principal.subject())
            .or_else(|| {
                self.roles
                    .iter()
                    .find(|(role, _)| principal.has_role(role))
                    .map(|(_, quota)| quota)
            })
            .or(self.authenticated.as_ref())
    }
}

#[derive(Debug)]
struct Metering {
    meter: Arc<UsageMeter>,
    quotas: Option<Quotas>,
}

/// The metering layer. See the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct UsageLayer {
    metering: Arc<Metering>,
}

impl UsageLayer {
    /// Counts every request into `meter`; no quota.
    pub fn new(meter: Arc<UsageMeter>) -> Self {
        Self {
            metering: Arc::new(Metering {
                meter,
                quotas: None,
            }),
        }
    }

    /// Enforces `quotas` too.
    pub fn with_quotas(self, quotas: Quotas) -> Self {
        Self {
            metering: Arc::new(Metering {
                meter: self.metering.meter.clone(),
                quotas: Some(quotas),
            }),
        }
    }
}

impl<S> Layer<S> for UsageLayer {
    type Service = UsageService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UsageService {
            inner,
            metering: self.metering.clone(),
        }
    }
}

/// The metering service made by [`UsageLayer`].
#[derive(Debug, Clone)]
pub struct UsageService<S> {
    inner: S,
    metering: Arc<Metering>,
}

/// Without `ConnectInfo` every anonymous caller would share one bucket, so that one client
/// could have all anonymous traffic refused: the anonymous quota is skipped then, with a
/// warning (once).
fn unknown_address(caller: &Caller) -> bool {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if !caller.is_unknown() {
        return false;
    }
    WARNED.call_once(|| {
        tracing::warn!(
            target: "authz_axum::usage",
            "anonymous quota skipped: no client address (serve with into_make_service_with_connect_info)"
        );
    });
    true
}

/// The system's time, for a request that passed no AuthLayer.
pub(crate) fn now() -> f64 {
    crate::quota::now(&authz_core::SystemClock)
}

/// The caller, for counting and quotas: the principal (its `sub`; cloning it is an `Arc`
/// increment), or `anon:<address>`.
#[derive(Debug)]
enum Caller {
    Subject(Principal),
    Anonymous(String),
}

impl Caller {
    fn of<B>(request: &Request<B>, principal: Option<&Principal>) -> Self {
        match principal {
            // A `sub` that looks like one of our own names gets a prefix, so that no token
            // can spend an address's or a client's quota, or add to its counts.
            Some(principal) if reserved(principal.subject()) => {
                Self::Anonymous(format!("sub:{}", principal.subject()))
            }
            Some(principal) => Self::Subject(principal.clone()),
            None => Self::Anonymous(match crate::client::client_address(request.extensions()) {
                Some(ip) => format!("anon:{}", authz_core::client::address_group(ip)),
                None => "anon:unknown".to_owned(),
            }),
        }
    }

    /// Whether this is the one bucket of every anonymous caller without an address.
    fn is_unknown(&self) -> bool {
        matches!(self, Self::Anonymous(name) if name == "anon:unknown")
    }

    fn name(&self) -> &str {
        match self {
            Self::Subject(principal) => principal.subject(),
            Self::Anonymous(name) => name,
        }
    }
}

fn reserved(subject: &str) -> bool {
    ["anon:", "client:", "sub:"]
        .iter()
        .any(|prefix| subject.starts_with(prefix))
}

/// Standard methods as they are; anything else as `OTHER` (a client must not be able to
/// mint new counters with made-up methods).
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

type Check =
    Pin<Box<dyn Future<Output = Result<Option<(u64, u64, u64)>, crate::quota::Refusal>> + Send>>;

impl<S, B> Service<Request<B>> for UsageService<S>
where
    S: Service<Request<B>, Response = Response> + Clone,
{
    type Response = Response;
    type Error = S::Error;
    type Future = UsageFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let state = request.extensions().get::<AuthState>();
        let principal = state.and_then(|state| state.principal.as_ref());
        let config = state.map(|state| state.config.clone());
        let caller = Caller::of(&request, principal);
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        let mut done = Done {
            meter: self.metering.meter.clone(),
            caller,
            route,
            method,
            limits: None,
            config,
        };
        if let Some(quotas) = &self.metering.quotas
            && let Some(quota) = quotas.quota_for(principal)
            && !unknown_address(&done.caller)
        {
            if let Some(shared) = &quotas.shared {
                // The slow path: one round trip to the shared store, bounded by its timeout.
                let (shared, quota) = (shared.clone(), *quota);
                let key = done.caller.name().to_owned();
                let now = done.now();
                let check: Check = Box::pin(async move { shared.spend(&key, &quota, now).await });
                let ready = crate::take_ready(&mut self.inner);
                return UsageFuture {
                    kind: Kind::Checking {
                        held: Held::new(check, request, ready),
                        done: Some(done),
                    },
                };
            }
            match quotas.limiter.check(done.caller.name(), quota, done.now()) {
                QuotaDecision::Allowed {
                    limit,
                    remaining,
                    reset,
                } => done.limits = Some((limit, remaining, reset)),
                QuotaDecision::Limited {
                    limit,
                    retry_after,
                    reset,
                    cap,
                } => {
                    let response = done.refuse(limited(limit, retry_after, reset, cap));
                    return UsageFuture::limited(done, response);
                }
            }
        }
        UsageFuture {
            kind: Kind::Inner {
                future: self.inner.call(request),
                done: Some(done),
            },
        }
    }
}

fn record(
    meter: &UsageMeter,
    caller: &str,
    route: Option<&MatchedPath>,
    method: &Method,
    status: u16,
    now: f64,
) {
    let route = route.map_or("(unmatched)", MatchedPath::as_str);
    meter.record(caller, route, method_name(method), status, now as u64);
}

/// The OAuth client a token was issued to (`client_id`, RFC 9068 §2.2, or OIDC's `azp`).
fn client_id(principal: &Principal) -> Option<String> {
    static CLIENT_ID: std::sync::LazyLock<authz_core::ClaimPath> =
        std::sync::LazyLock::new(|| authz_core::ClaimPath::new("client_id"));
    static AZP: std::sync::LazyLock<authz_core::ClaimPath> =
        std::sync::LazyLock::new(|| authz_core::ClaimPath::new("azp"));
    [&*CLIENT_ID, &*AZP]
        .into_iter()
        .find_map(|path| match principal.claim(path) {
            Some(serde_json::Value::String(id)) if !id.is_empty() => Some(id),
            _ => None,
        })
}

/// Counts the request for the caller, and for its client (`client:<id>`) when the token
/// names one.
fn record_done(done: &Done, status: u16) {
    let now = done.now();
    record(
        &done.meter,
        done.caller.name(),
        done.route.as_ref(),
        &done.method,
        status,
        now,
    );
    if let Caller::Subject(principal) = &done.caller
        && let Some(client) = client_id(principal)
    {
        record(
            &done.meter,
            &format!("client:{client}"),
            done.route.as_ref(),
            &done.method,
            status,
            now,
        );
    }
}

/// What to count when the response arrives.
#[derive(Debug)]
struct Done {
    meter: Arc<UsageMeter>,
    caller: Caller,
    route: Option<MatchedPath>,
    method: Method,
    limits: Option<(u64, u64, u64)>,
    /// The AuthLayer's configuration, when the request went through one: refusals are
    /// answered through its `OnRejection`.
    config: Option<Arc<AuthConfig>>,
}

impl Done {
    /// The time, by the AuthLayer's clock (the verifier's: a test's `FixedClock` reaches the
    /// quotas and the counts too), or the system's without a layer.
    fn now(&self) -> f64 {
        self.config.as_ref().map_or_else(now, |config| {
            crate::quota::now(config.verifier.clock().as_ref())
        })
    }

    /// The refusal, through the AuthLayer's `OnRejection` when there is one.
    fn refuse(&self, rejection: AuthRejection) -> Response {
        refuse(self.config.as_deref(), rejection)
    }
}

/// `rejection` answered by `config`'s `OnRejection`, or by its default response when the
/// request did not pass an AuthLayer.
pub(crate) fn refuse(config: Option<&AuthConfig>, rejection: AuthRejection) -> Response {
    match config {
        Some(config) => config.reject(rejection),
        None => rejection.to_response(""),
    }
}

fn limited(limit: u64, retry_after: u64, reset: u64, cap: bool) -> AuthRejection {
    AuthRejection::RateLimited(RateLimit::new(limit, retry_after, reset, cap))
}

pin_project! {
    /// Response future of [`UsageService`].
    pub struct UsageFuture<S, B>
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
        Checking {
            held: Held<S, B, Check>,
            done: Option<Done>,
        },
        Inner { #[pin] future: S::Future, done: Option<Done> },
        Limited { response: Option<Response> },
    }
}

impl<S: Service<Request<B>>, B> UsageFuture<S, B> {
    fn limited(done: Done, response: Response) -> Self {
        record_done(&done, response.status().as_u16());
        Self {
            kind: Kind::Limited {
                response: Some(response),
            },
        }
    }
}

impl<S, B> Future for UsageFuture<S, B>
where
    S: Service<Request<B>, Response = Response>,
{
    type Output = Result<Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().kind.project() {
                KindProj::Limited { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .unwrap_or_else(|| limited(0, 1, 1, false).to_response(""))));
                }
                KindProj::Inner { future, done } => {
                    let mut result = ready!(future.poll(cx));
                    if let (Ok(response), Some(done)) = (&mut result, done.take()) {
                        record_done(&done, response.status().as_u16());
                        if let Some((limit, remaining, reset)) = done.limits {
                            rate_headers(response.headers_mut(), limit, remaining, reset);
                        }
                    }
                    return Poll::Ready(result);
                }
                KindProj::Checking { held, done } => {
                    let (decision, request, mut service) = ready!(held.poll_check(cx));
                    let Some(mut done) = done.take() else {
                        return Poll::Ready(Ok(limited(0, 1, 1, false).to_response("")));
                    };
                    match decision {
                        // Allowed, or let through by a failing store in `FailMode::Open`.
                        Ok(limits) => {
                            done.limits = limits;
                            Kind::Inner {
                                future: service.call(request),
                                done: Some(done),
                            }
                        }
                        Err(rejection) => {
                            let response = done.refuse(rejection.into());
                            Self::limited(done, response).kind
                        }
                    }
                }
            };
            self.as_mut().project().kind.set(next);
        }
    }
}
