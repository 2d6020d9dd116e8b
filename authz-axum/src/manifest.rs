//! Secure by default, provably: every route is either guarded (`#[require_auth]`) or public on
//! purpose (`#[public]`), and a manifest lists them all — for a snapshot test, a start-up
//! check, or a reviewer.
//!
//! An axum `Router` cannot list its routes, and a registry kept by the attribute alone would
//! never see a route added the ordinary way, `.route("/x", get(handler))` on a handler with no
//! attribute. So the manifest is built from two halves:
//!
//! - [`Routes`], a thin wrapper of `axum::Router` with the same building methods (`route`,
//!   `nest`, `merge`, `layer`, `with_state`, …), records every path it is given;
//! - then [`Routes::manifest`] **probes** each path in process with each method (`GET`,
//!   `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`): a request marked as a probe, without a
//!   token, through the app's own layers. The hidden first argument that `#[require_auth]` or
//!   `#[public]` adds to a handler answers the probe before anything else runs — the handler's
//!   other extractors and its body never run — and says what it requires. A route whose
//!   handler has neither attribute answers something else: it is **undeclared**. A method
//!   the route does not have answers 405 and is left out.
//!
//! ```
//! use authz_axum::manifest::Routes;
//! use authz_axum::{AuthLayer, Verifier, KeySet, SigningKey, Algorithm, public, require_auth};
//! use axum::routing::get;
//!
//! #[public]
//! async fn health() -> &'static str { "ok" }
//!
//! #[require_auth(role = "admin")]
//! async fn admin() -> &'static str { "admin area" }
//!
//! async fn forgotten() -> &'static str { "open to anyone, by mistake" }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let key = SigningKey::generate(Algorithm::ES256)?;
//! # let verifier = Verifier::builder(KeySet::single(key.verifying_key())).build()?;
//! let routes = Routes::new()
//!     .route("/health", get(health))
//!     .route("/admin", get(admin))
//!     .route("/forgotten", get(forgotten))
//!     .layer(AuthLayer::new(verifier));
//!
//! let manifest = routes.manifest().await;
//! assert_eq!(
//!     manifest.to_string(),
//!     "GET     /admin      require_auth(role = \"admin\")\n\
//!      GET     /forgotten  UNDECLARED\n\
//!      GET     /health     public\n"
//! );
//! let error = manifest.check().unwrap_err();
//! assert!(error.to_string().contains("GET /forgotten"));
//!
//! let app: axum::Router = routes.into_router(); // serve it as usual
//! # Ok(()) }
//! ```
//!
//! # Limits (honestly)
//!
//! - Only paths given to [`Routes`] are known. A plain `axum::Router` merged or nested into
//!   the app's router after [`Routes::into_router`], `nest_service`, and fallbacks are not
//!   listed; build the whole app with [`Routes`] (its `nest` and `merge` take [`Routes`]).
//!   A service (not a handler) is undeclared unless added with [`Routes::public_service`].
//! - A probe runs the app's layers and, for an **undeclared** handler, that handler's
//!   extractors, and its body when every extractor succeeds on an empty request (path
//!   parameters are filled with `authz-probe`). Guarded and public handlers never run. So:
//!   check in a test against test stores, or at start-up on an app whose routes are all
//!   declared (then nothing runs) — [`Manifest::check`] then refuses to start an app with an
//!   undeclared route.
//! - A layer that answers before the handler is reached (a rate limiter, a `route_layer` auth
//!   of another crate) hides the handler: its route is reported undeclared, with the status.
//! - An undeclared handler that itself answers 405 is taken for a method the route lacks.

use std::fmt;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::MethodRouter;
use http::{Method, Request, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

/// The methods a probe tries on every path.
const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// What a path parameter becomes in a probe's URL.
const PARAMETER: &str = "authz-probe";

/// A request extension marking a manifest probe: the hidden argument of a guarded or public
/// handler records its access here and answers without running anything else; the
/// [`AuthLayer`](crate::AuthLayer) lets it through unauthenticated. Only [`Routes::manifest`]
/// makes one (extensions never come from the network).
#[derive(Debug, Clone, Default)]
pub(crate) struct Probe(Arc<Mutex<Option<Access>>>);

impl Probe {
    pub(crate) fn found(&self, access: Access) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(access);
    }

    fn take(&self) -> Option<Access> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// What a probe's response is, for a handler that answered it (never sent to a client).
pub(crate) fn probe_answer() -> axum::response::Response {
    axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
}

/// How one route is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// `#[require_auth(...)]`: a verified token, and what it must carry.
    Guarded {
        /// The requirement as written (`role = "admin"`, `any(...)`), or `None` for "any
        /// verified token".
        requirement: Option<String>,
        /// The app's policy function, if any.
        policy: Option<&'static str>,
        /// The per-caller quota (`30/min`), if any.
        quota: Option<String>,
    },
    /// `#[public]`, or [`Routes::public_service`]: open to everyone, on purpose.
    Public,
    /// Neither: the handler has no attribute, or a layer answered before it (the status the
    /// probe got).
    Undeclared {
        /// The probe's status.
        status: u16,
    },
}

/// `30/min` for the quota `#[require_auth(quota = "30/min")]` makes.
pub(crate) fn describe_quota(quota: &authz_core::usage::Quota) -> String {
    let seconds = if quota.refill_per_sec > 0.0 {
        (f64::from(quota.burst) / quota.refill_per_sec).round()
    } else {
        0.0
    };
    let per = match seconds {
        1.0 => "sec".to_owned(),
        60.0 => "min".to_owned(),
        3600.0 => "hour".to_owned(),
        86400.0 => "day".to_owned(),
        other => format!("{other}s"),
    };
    format!("{}/{per}", quota.burst)
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Guarded {
                requirement,
                policy,
                quota,
            } => {
                let items: Vec<String> = requirement
                    .iter()
                    .cloned()
                    .chain(policy.map(|p| format!("policy = {p}")))
                    .chain(quota.as_ref().map(|q| format!("quota = \"{q}\"")))
                    .collect();
                if items.is_empty() {
                    f.write_str("require_auth")
                } else {
                    write!(f, "require_auth({})", items.join(", "))
                }
            }
            Self::Public => f.write_str("public"),
            Self::Undeclared { status } if *status == 204 || *status == 200 => {
                f.write_str("UNDECLARED")
            }
            Self::Undeclared { status } => write!(f, "UNDECLARED (probe answered {status})"),
        }
    }
}

/// One route of the manifest: a method on a path, and how it is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteEntry {
    /// The method.
    pub method: Method,
    /// The path as given to [`Routes`] (with its nest prefix), parameters as `{name}`.
    pub path: String,
    /// How it is protected.
    pub access: Access,
}

/// Every route of a [`Routes`] with its protection, sorted by path then method. Its
/// `Display` is a table, one route per line, stable for snapshot tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    entries: Vec<RouteEntry>,
}

impl Manifest {
    /// The routes.
    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }

    /// The routes that are neither guarded nor public.
    pub fn undeclared(&self) -> impl Iterator<Item = &RouteEntry> {
        self.entries
            .iter()
            .filter(|entry| matches!(entry.access, Access::Undeclared { .. }))
    }

    /// `Ok` when every route is guarded or public; otherwise an error naming each undeclared
    /// route and the fix.
    ///
    /// # Errors
    ///
    /// [`UndeclaredRoutes`].
    pub fn check(&self) -> Result<(), UndeclaredRoutes> {
        let routes: Vec<RouteEntry> = self.undeclared().cloned().collect();
        if routes.is_empty() {
            Ok(())
        } else {
            Err(UndeclaredRoutes { routes })
        }
    }
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .entries
            .iter()
            .map(|entry| entry.path.len())
            .max()
            .unwrap_or(0);
        for entry in &self.entries {
            writeln!(
                f,
                "{:<7} {:<width$}  {}",
                entry.method.as_str(),
                entry.path,
                entry.access
            )?;
        }
        Ok(())
    }
}

/// Routes that are neither guarded nor public ([`Manifest::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeclaredRoutes {
    /// The routes.
    pub routes: Vec<RouteEntry>,
}

impl fmt::Display for UndeclaredRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} route(s) neither guarded nor public — add `#[require_auth(...)]` to the handler \
             (or `#[authz_axum::public]` if it is meant to be open; for a service, \
             `Routes::public_service`):",
            self.routes.len()
        )?;
        for route in &self.routes {
            writeln!(f, "  {} {} — {}", route.method, route.path, route.access)?;
        }
        Ok(())
    }
}

impl std::error::Error for UndeclaredRoutes {}

/// An `axum::Router` that remembers its paths, so that [`Routes::manifest`] can list every
/// route with its protection. See the [module docs](self).
///
/// Build the app with it as with a `Router` (the methods have axum's names and meanings),
/// then take the router with [`into_router`](Self::into_router).
#[derive(Debug)]
#[must_use]
pub struct Routes<S = ()> {
    router: Router<S>,
    paths: Vec<Path>,
}

#[derive(Debug, Clone)]
struct Path {
    path: String,
    public: bool,
}

impl<S> Default for Routes<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Clone for Routes<S> {
    fn clone(&self) -> Self {
        Self {
            router: self.router.clone(),
            paths: self.paths.clone(),
        }
    }
}

impl<S> Routes<S>
where
    S: Clone + Send + Sync + 'static,
{
    /// No routes.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    fn record(&mut self, path: &str, public: bool) {
        self.paths.push(Path {
            path: path.to_owned(),
            public,
        });
    }

    /// `Router::route`: the path is recorded.
    pub fn route(mut self, path: &str, method_router: MethodRouter<S>) -> Self {
        self.record(path, false);
        self.router = self.router.route(path, method_router);
        self
    }

    /// `Router::route_service`: the path is recorded, and reported undeclared (a service has
    /// no attribute) — unless it is meant to be open: then [`public_service`](Self::public_service).
    pub fn route_service<T>(mut self, path: &str, service: T) -> Self
    where
        T: Service<Request<Body>, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
        T::Response: axum::response::IntoResponse,
        T::Future: Send + 'static,
    {
        self.record(path, false);
        self.router = self.router.route_service(path, service);
        self
    }

    /// `Router::route_service` for a service open to everyone on purpose (static files, a
    /// health probe of another crate): reported public.
    pub fn public_service<T>(self, path: &str, service: T) -> Self
    where
        T: Service<Request<Body>, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
        T::Response: axum::response::IntoResponse,
        T::Future: Send + 'static,
    {
        let mut routes = self.route_service(path, service);
        if let Some(added) = routes.paths.last_mut() {
            added.public = true;
        }
        routes
    }

    /// `Router::nest`: `routes`' paths are recorded under `path`.
    pub fn nest(mut self, path: &str, routes: Routes<S>) -> Self {
        let prefix = path.trim_end_matches('/');
        for inner in routes.paths {
            let joined = if inner.path == "/" {
                prefix.to_owned()
            } else {
                format!("{prefix}{}", inner.path)
            };
            self.record(&joined, inner.public);
        }
        self.router = self.router.nest(path, routes.router);
        self
    }

    /// `Router::merge`.
    pub fn merge(mut self, routes: Routes<S>) -> Self {
        self.paths.extend(routes.paths);
        self.router = self.router.merge(routes.router);
        self
    }

    /// `Router::layer`.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request<Body>> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request<Body>>>::Response: axum::response::IntoResponse + 'static,
        <L::Service as Service<Request<Body>>>::Error: Into<std::convert::Infallible> + 'static,
        <L::Service as Service<Request<Body>>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }

    /// `Router::route_layer`.
    pub fn route_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request<Body>> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request<Body>>>::Response: axum::response::IntoResponse + 'static,
        <L::Service as Service<Request<Body>>>::Error: Into<std::convert::Infallible> + 'static,
        <L::Service as Service<Request<Body>>>::Future: Send + 'static,
    {
        self.router = self.router.route_layer(layer);
        self
    }

    /// `Router::with_state`.
    pub fn with_state<S2>(self, state: S) -> Routes<S2> {
        Routes {
            router: self.router.with_state(state),
            paths: self.paths,
        }
    }

    /// The router, to serve.
    pub fn into_router(self) -> Router<S> {
        self.router
    }

    /// The recorded paths, in the order given.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(|p| p.path.as_str())
    }
}

impl<S> From<Routes<S>> for Router<S> {
    fn from(routes: Routes<S>) -> Self {
        routes.router
    }
}

impl Routes<()> {
    /// Probes every recorded path with every method and lists how each route is protected.
    /// See the [module docs](self) for what a probe runs.
    pub async fn manifest(&self) -> Manifest {
        let mut entries = Vec::new();
        for path in &self.paths {
            let uri = probe_uri(&path.path);
            for method in METHODS {
                let probe = Probe::default();
                let Ok(request) = Request::builder()
                    .method(method.clone())
                    .uri(&uri)
                    .extension(probe.clone())
                    .body(Body::empty())
                else {
                    continue;
                };
                let mut router = self.router.clone();
                let status = match router.call(request).await {
                    Ok(response) => response.status(),
                    Err(never) => match never {},
                };
                let access = match probe.take() {
                    Some(access) => access,
                    None if status == StatusCode::METHOD_NOT_ALLOWED => continue,
                    None if path.public => Access::Public,
                    None => Access::Undeclared {
                        status: status.as_u16(),
                    },
                };
                entries.push(RouteEntry {
                    method,
                    path: path.path.clone(),
                    access,
                });
            }
        }
        entries.sort_by(|a, b| {
            (a.path.as_str(), method_rank(&a.method))
                .cmp(&(b.path.as_str(), method_rank(&b.method)))
        });
        entries.dedup();
        Manifest { entries }
    }
}

fn method_rank(method: &Method) -> usize {
    METHODS
        .iter()
        .position(|m| m == method)
        .unwrap_or(METHODS.len())
}

/// The path with each `{param}` / `{*rest}` filled in.
fn probe_uri(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        // `{{` is a literal brace in axum 0.8 paths.
        if rest[open + 1..].starts_with('{') {
            uri.push_str(&rest[..open + 1]);
            rest = &rest[open + 2..];
            continue;
        }
        uri.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                uri.push_str(PARAMETER);
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    uri.push_str(rest);
    if uri.is_empty() {
        uri.push('/');
    }
    uri.replace("}}", "}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_uris_fill_parameters() {
        assert_eq!(probe_uri("/posts/{id}"), "/posts/authz-probe");
        assert_eq!(
            probe_uri("/a/{x}/b/{*rest}"),
            "/a/authz-probe/b/authz-probe"
        );
        assert_eq!(probe_uri("/plain"), "/plain");
        assert_eq!(probe_uri(""), "/");
    }

    #[test]
    fn quotas_read_as_written() {
        use authz_core::usage::Quota;
        assert_eq!(describe_quota(&Quota::rate(30, 0.5)), "30/min");
        assert_eq!(describe_quota(&Quota::rate(5, 5.0)), "5/sec");
        assert_eq!(
            describe_quota(&Quota::rate(100, 100.0 / 3600.0)),
            "100/hour"
        );
    }
}
