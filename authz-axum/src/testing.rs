//! A test kit for apps (feature `testing`, for `[dev-dependencies]`): personas that mint
//! tokens the app's own verifier accepts, and an access matrix that drives a `Router` in
//! process and reports every mismatch at once.
//!
//! ```
//! use authz_axum::testing::{AccessMatrix, Persona, TestKit};
//! use authz_axum::{Algorithm, AuthLayer, Issuer, SigningKey, Verifier, require_auth};
//! use axum::{Router, routing::get};
//!
//! #[require_auth(role = "admin")]
//! async fn admin() -> &'static str { "admin area" }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The app's key and claims settings, as its own code makes them.
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let kit = TestKit::new(Issuer::new(key.clone()).with_issuer("shop").with_audience("api"));
//! let verifier = Verifier::builder(key.verifying_key())
//!     .with_issuer("shop")
//!     .with_audience("api")
//!     .with_clock(kit.clock().clone())
//!     .build()?;
//! let app = Router::new().route("/admin", get(admin)).layer(AuthLayer::new(verifier));
//!
//! let alice = Persona::new("alice").role("admin");
//! let bob = Persona::new("bob").role("user");
//! AccessMatrix::new(&kit, app)
//!     .expect(None, "GET /admin", 401)
//!     .expect(&bob, "GET /admin", 403)
//!     .expect(&alice, "GET /admin", 200)
//!     .expect(&alice.clone().expired(), "GET /admin", 401)
//!     .check()
//!     .await; // panics with a table of every row that differs
//! # Ok(()) }
//! ```
//!
//! For an app that trusts a remote JWKS only, [`TestKit::serve_jwks`] serves the kit's public
//! key on a local port: point the app's JWKS URL at it.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use authz_core::{Clock, FixedClock, Issuer, KeySet};
use axum::Router;
use axum::body::Body;
use http::{Method, Request};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

/// Mints tokens for [`Persona`]s with the app's own issuer (key, `iss`, `aud`, `typ`) and a
/// [`FixedClock`] that the app's verifier should read too ([`TestKit::clock`]).
#[derive(Debug, Clone)]
pub struct TestKit {
    issuer: Issuer,
    clock: FixedClock,
}

impl TestKit {
    /// A kit signing with `issuer` — configured as the app configures its own (same key,
    /// issuer, audience and `typ`) — on a clock stopped at the current time.
    pub fn new(issuer: Issuer) -> Self {
        let clock = FixedClock::at(SystemTime::now());
        Self {
            issuer: issuer.with_clock(clock.clone()),
            clock,
        }
    }

    /// The kit's clock: give it to the app's verifier (`with_clock`) to move time in tests
    /// (`kit.clock().advance(..)`).
    pub fn clock(&self) -> &FixedClock {
        &self.clock
    }

    /// A token for `persona`.
    ///
    /// # Panics
    ///
    /// If the issuer cannot sign (a test setup error).
    pub fn token(&self, persona: &Persona) -> String {
        let now = self
            .clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // What the persona sets by `claim` wins over what the kit derives (as documented).
        let mut claims = persona.claims.clone();
        let mut derive = |name: &str, value: Value| {
            claims.entry(name).or_insert(value);
        };
        derive("sub", persona.subject.clone().into());
        if !persona.roles.is_empty() {
            derive("roles", json!(persona.roles));
        }
        if !persona.scopes.is_empty() {
            derive("scope", persona.scopes.join(" ").into());
        }
        if !persona.permissions.is_empty() {
            derive("permissions", json!(persona.permissions));
        }
        derive("iat", now.into());
        let exp = match persona.lifetime {
            Lifetime::For(ttl) => now.saturating_add(ttl.as_secs()),
            Lifetime::ExpiredAgo(ago) => now.saturating_sub(ago.as_secs()),
        };
        derive("exp", exp.into());
        if let Some(after) = persona.not_before {
            derive("nbf", now.saturating_add(after.as_secs()).into());
        }
        match self.issuer.issue(&Value::Object(claims)) {
            Ok(token) => token,
            Err(error) => panic!("the test kit could not sign a token: {error}"),
        }
    }

    /// Serves the kit's public keys as a JWKS on `127.0.0.1` (a free port), for an app that
    /// trusts a remote JWKS only; returns its URL. The server lives as long as the runtime.
    ///
    /// # Panics
    ///
    /// If no local port can be bound, or the key is an HMAC secret (nothing to publish).
    pub async fn serve_jwks(&self) -> String {
        let key = self.issuer.key().verifying_key();
        assert!(
            !key.is_symmetric(),
            "an HMAC secret is not published: give the kit an asymmetric key"
        );
        let jwks = KeySet::single(key).to_jwks_string();
        let app = Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "application/jwk-set+json")],
                        jwks,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("the test kit could not bind a port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the test kit has no local address: {e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/.well-known/jwks.json")
    }
}

#[derive(Debug, Clone, Copy)]
enum Lifetime {
    For(Duration),
    ExpiredAgo(Duration),
}

/// Someone a test acts as: a subject with roles, scopes, permissions and claims, and when
/// the token is valid. Tokens last 5 minutes unless told otherwise.
#[derive(Debug, Clone)]
#[must_use]
pub struct Persona {
    subject: String,
    roles: Vec<String>,
    scopes: Vec<String>,
    permissions: Vec<String>,
    claims: Map<String, Value>,
    lifetime: Lifetime,
    not_before: Option<Duration>,
}

impl Persona {
    /// A persona with subject (`sub`) `subject`.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            roles: Vec::new(),
            scopes: Vec::new(),
            permissions: Vec::new(),
            claims: Map::new(),
            lifetime: Lifetime::For(Duration::from_secs(300)),
            not_before: None,
        }
    }

    /// Adds a role (`roles` claim).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// Adds a scope (`scope` claim, space separated).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds a permission (`permissions` claim).
    pub fn permission(mut self, permission: impl Into<String>) -> Self {
        self.permissions.push(permission.into());
        self
    }

    /// Sets any other claim (an app's own, or one the kit sets, to override it).
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Tokens valid for `ttl` from the kit's clock.
    pub fn valid_for(mut self, ttl: Duration) -> Self {
        self.lifetime = Lifetime::For(ttl);
        self
    }

    /// Tokens that expired a minute and a half before the kit's clock (past any leeway up
    /// to 60 s).
    pub fn expired(mut self) -> Self {
        self.lifetime = Lifetime::ExpiredAgo(Duration::from_secs(90));
        self
    }

    /// Tokens valid only from `after` past the kit's clock (`nbf`).
    pub fn not_before(mut self, after: Duration) -> Self {
        self.not_before = Some(after);
        self
    }
}

/// Who makes a request of an [`AccessMatrix`] row: anonymous (`None`) or a persona.
pub trait Caller {
    /// The persona, if any.
    fn persona(&self) -> Option<&Persona>;
}

impl Caller for Option<&Persona> {
    fn persona(&self) -> Option<&Persona> {
        *self
    }
}

impl Caller for &Persona {
    fn persona(&self) -> Option<&Persona> {
        Some(self)
    }
}

impl Caller for Persona {
    fn persona(&self) -> Option<&Persona> {
        Some(self)
    }
}

struct Row {
    who: String,
    token: Option<String>,
    method: Method,
    path: String,
    body: Option<Value>,
    expected: u16,
}

/// Rows of (caller, method and path) → expected status, sent to a `Router` in process;
/// [`check`](Self::check) runs them all and fails once, with a table of every row that
/// differs.
#[must_use]
pub struct AccessMatrix {
    app: Router,
    kit: TestKit,
    rows: Vec<Row>,
}

impl std::fmt::Debug for AccessMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessMatrix")
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl AccessMatrix {
    /// A matrix for `app`, minting tokens with `kit`.
    pub fn new(kit: &TestKit, app: Router) -> Self {
        Self {
            app,
            kit: kit.clone(),
            rows: Vec::new(),
        }
    }

    /// Expects `status` when `who` (`None` for anonymous, or a persona) sends `request`,
    /// written `"METHOD /path"` (a path alone means `GET`). The token is minted now, at the
    /// kit clock's current time.
    ///
    /// # Panics
    ///
    /// If `request`'s method is not a valid HTTP method (a typo in the test).
    pub fn expect(self, who: impl Caller, request: &str, status: u16) -> Self {
        self.row(who, request, None, status)
    }

    /// As [`expect`](Self::expect), with a JSON body.
    pub fn expect_json(self, who: impl Caller, request: &str, body: Value, status: u16) -> Self {
        self.row(who, request, Some(body), status)
    }

    fn row(mut self, who: impl Caller, request: &str, body: Option<Value>, status: u16) -> Self {
        let (method, path) = match request.trim().split_once(' ') {
            Some((method, path)) => (method.trim(), path.trim()),
            None => ("GET", request.trim()),
        };
        let method = Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|_| panic!("not an HTTP method: {method:?}"));
        let persona = who.persona();
        self.rows.push(Row {
            who: persona.map_or_else(|| "anonymous".to_owned(), |p| p.subject.clone()),
            token: persona.map(|p| self.kit.token(p)),
            method,
            path: path.to_owned(),
            body,
            expected: status,
        });
        self
    }

    /// Sends every row, then panics if any got another status than expected, with the whole
    /// table (`✗` on the rows that differ, and each one's response body).
    ///
    /// # Panics
    ///
    /// When a row differs, or a request cannot be built.
    pub async fn check(self) {
        let mut report = String::new();
        let mut failed = 0;
        let width = self.rows.iter().map(|r| r.who.len()).max().unwrap_or(0);
        for row in &self.rows {
            let mut request = Request::builder().method(row.method.clone()).uri(&row.path);
            if let Some(token) = &row.token {
                request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let request = match &row.body {
                Some(body) => request
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string())),
                None => request.body(Body::empty()),
            }
            .unwrap_or_else(|e| panic!("cannot build {} {}: {e}", row.method, row.path));
            let (status, body) = match self.app.clone().oneshot(request).await {
                Ok(response) => {
                    let status = response.status();
                    let body = axum::body::to_bytes(response.into_body(), 4096)
                        .await
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    (status, body)
                }
                Err(never) => match never {},
            };
            let ok = status.as_u16() == row.expected;
            if !ok {
                failed += 1;
            }
            let _ = write!(
                report,
                "\n  {} {:width$}  {:7} {:30} expected {}, got {}",
                if ok { "✓" } else { "✗" },
                row.who,
                row.method.as_str(),
                row.path,
                row.expected,
                status.as_u16(),
            );
            if !ok && !body.is_empty() {
                let _ = write!(report, "  {}", body.chars().take(160).collect::<String>());
            }
        }
        assert!(
            failed == 0,
            "{failed} of {} access rows differ:{report}",
            self.rows.len()
        );
    }
}
