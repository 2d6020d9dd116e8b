//! Token routes an app mounts: the OAuth2 token endpoint (password and refresh grants),
//! refresh, RFC 7009 revocation, logout and logout-all, on a
//! [`TokenService`](authz_core::lifecycle::TokenService).
//!
//! | route | body | answer |
//! | --- | --- | --- |
//! | `POST /token` | `grant_type=password&username&password` (RFC 6749 §4.3, the form FastAPI's `OAuth2PasswordRequestForm` posts) or `grant_type=refresh_token&refresh_token` (§6); form or JSON | `{"access_token","token_type":"Bearer","expires_in","refresh_token"}` |
//! | `POST /token` (with [`TokenRoutes::with_client_credentials`]) | `grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=…` (RFC 6749 §4.4 + RFC 7523 §2.2), optional `client_id`, `scope` | `{"access_token","token_type":"Bearer","expires_in","scope"}`; a refused assertion is 401 `invalid_client`, a client not allowed the grant 400 `unauthorized_client`, more scope than allowed 400 `invalid_scope` |
//! | `POST /token/refresh` | `refresh_token` | the same |
//! | `POST /token/revoke` | `token` (RFC 7009; `token_type_hint` ignored) | 200, empty |
//! | `POST /logout` | Bearer | 204: that access token and its refresh family stop working |
//! | `POST /logout-all` | Bearer | 204: every session of the caller stops working |
//!
//! Errors are RFC 6749 §5.2 JSON, `{"error","error_description"}`, with `Cache-Control:
//! no-store`: `invalid_request` (400: malformed body, missing field), `invalid_grant` (400:
//! wrong credentials, bad or reused refresh token), `unsupported_grant_type` (400), 413 for a
//! body over the limit (8 KiB by default), 415 for another content type, 429 with
//! `Retry-After` when login throttling says wait, 503 `temporarily_unavailable` with
//! `Retry-After` when a store cannot answer within its timeout or too many logins wait for a
//! password check. Nothing is stored on an error: a 503 from `/token/revoke`, `/logout` or
//! `/logout-all` means nothing changed and retrying is safe; their 200/204 means the
//! revocation is durable.
//!
//! **For browser apps**, [`TokenRoutes::with_cookies`] answers logins and refreshes with
//! cookies (the access token, the refresh token scoped to `/token/refresh`, the CSRF token;
//! see [`TokenCookies`]) instead of (or besides) the JSON body, takes the refresh token from
//! its cookie when the body has none — after the CSRF check of its session —, and clears the
//! cookies at logout and logout-all.
//!
//! Mount [`TokenRoutes::public_routes`] (`/token`, `/token/refresh`, `/token/revoke`)
//! **outside** the [`AuthLayer`](crate::AuthLayer), so that a stale access token sent along
//! can never break a login or a refresh, and [`TokenRoutes::logout_routes`] (`/logout`,
//! `/logout-all`) under it: they read the caller from the layer (without it they fail closed
//! with 500). Throttling uses the client address from
//! axum's `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info`).
//!
//! # Example
//!
//! ```
//! use axum::Router;
//! use authz_axum::token::TokenRoutes;
//! use authz_axum::core::lifecycle::TokenService;
//! use authz_axum::{Algorithm, AuthLayer, SigningKey};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = TokenService::builder(SigningKey::generate(Algorithm::ES256)?).build()?;
//! let routes = TokenRoutes::new(service.clone());
//! let guarded: Router = Router::new()
//!     .merge(routes.clone().logout_routes())
//!     .layer(AuthLayer::new(service.verifier().clone()).with_revocation(service));
//! let app: Router = routes.public_routes().merge(guarded);
//! # Ok(()) }
//! ```

use std::net::IpAddr;

use std::sync::Arc;

use authz_core::assertion::{AssertionError, ClientAssertions};
use authz_core::lifecycle::{LifecycleError, TokenPair, TokenService};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode, request::Parts};
use serde::Deserialize;
use serde_json::json;

use crate::Auth;
use crate::cookie::{Issued, TokenCookies};

/// The default request body limit of the token routes.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024;

/// The assertion type of RFC 7523 §2.2 (`client_assertion_type`).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Builds the token routes. See the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenRoutes {
    service: TokenService,
    clients: Option<Arc<Clients>>,
    cookies: Option<Arc<TokenCookies>>,
    body_limit: usize,
}

/// The client-credentials grant's configuration.
struct Clients {
    assertions: ClientAssertions,
    scopes: Box<dyn Fn(&str) -> Option<Vec<String>> + Send + Sync>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("assertions", &self.assertions)
            .finish_non_exhaustive()
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
struct Shared {
    service: TokenService,
    clients: Option<Arc<Clients>>,
    cookies: Option<Arc<TokenCookies>>,
}

impl TokenRoutes {
    /// Routes over `service`.
    pub fn new(service: TokenService) -> Self {
        Self {
            service,
            clients: None,
            cookies: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Answers password logins and refreshes by setting cookies — the access token, the
    /// refresh token and the CSRF token, as [`TokenCookies`] describes — and logout and
    /// logout-all by clearing them (`Max-Age=0`). By default the JSON body then carries no
    /// token ([`TokenCookies::with_tokens_in_body`] puts them back).
    ///
    /// - `POST /token/refresh` takes its refresh token from the refresh cookie when the body
    ///   has none; such a refresh passes the same CSRF check as the [`AuthLayer`](crate::AuthLayer)'s
    ///   (origin, then the `x-csrf-token` header equal to the CSRF cookie and to the CSRF
    ///   token of the refresh cookie's session) before anything is rotated, and rotates all
    ///   three cookies. A refused refresh token clears them.
    /// - A password login checks the request's origin (OWASP's "login CSRF": another site
    ///   must not log the browser in to an account of its choosing).
    /// - Refusals are 403 `{"detail": "CSRF check failed: …", "code": "csrf_failed"}`, and
    ///   nothing is stored.
    ///
    /// Guard the other routes with [`AuthLayer::with_token_cookies`](crate::AuthLayer::with_token_cookies),
    /// so that `/logout`, `/logout-all` and the app's own routes read the cookie (with CSRF
    /// checks). See the [`cookie`](crate::cookie) module for an example.
    pub fn with_cookies(mut self, cookies: TokenCookies) -> Self {
        self.cookies = Some(Arc::new(cookies));
        self
    }

    /// Adds the client-credentials grant (RFC 6749 §4.4) to `POST /token`, with the client
    /// authenticated by a client assertion (RFC 7523 §2.2, as checked by `assertions`):
    /// `grant_type=client_credentials`, `client_assertion_type=`[`JWT_BEARER_ASSERTION`],
    /// `client_assertion=…`, and optionally `client_id` (must be the assertion's `iss`) and
    /// `scope`. `scopes(client_id)` says which scopes a client may have (`None`: the client
    /// may not use this grant, `unauthorized_client`); a request for more is `invalid_scope`,
    /// a request without `scope` gets them all. The answer is an access token with `sub` and
    /// `client_id` the client, and no refresh token (§4.4.3).
    pub fn with_client_credentials(
        mut self,
        assertions: ClientAssertions,
        scopes: impl Fn(&str) -> Option<Vec<String>> + Send + Sync + 'static,
    ) -> Self {
        self.clients = Some(Arc::new(Clients {
            assertions,
            scopes: Box::new(scopes),
        }));
        self
    }

    fn shared(&self) -> Shared {
        Shared {
            service: self.service.clone(),
            clients: self.clients.clone(),
            cookies: self.cookies.clone(),
        }
    }

    /// The largest accepted request body, in bytes (413 beyond). Default
    /// [`DEFAULT_BODY_LIMIT`].
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The routes that need no access token — `/token`, `/token/refresh`, `/token/revoke` —
    /// to mount **outside** the [`AuthLayer`](crate::AuthLayer): a client that still sends
    /// its expired or revoked access token must be able to log in and refresh.
    pub fn public_routes<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        Router::new()
            .route("/token", post(token))
            .route("/token/refresh", post(refresh))
            .route("/token/revoke", post(revoke))
            .layer(DefaultBodyLimit::max(self.body_limit))
            .with_state(self.shared())
    }

    /// The routes that act on the caller's session — `/logout`, `/logout-all` — to mount
    /// **under** the [`AuthLayer`](crate::AuthLayer) (without it they fail closed with 500).
    pub fn logout_routes<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        Router::new()
            .route("/logout", post(logout))
            .route("/logout-all", post(logout_all))
            .layer(DefaultBodyLimit::max(self.body_limit))
            .with_state(self.shared())
    }

    /// Every route at once, for a router under the layer in optional mode.
    #[deprecated(
        since = "0.2.0",
        note = "mount `public_routes()` outside the AuthLayer and `logout_routes()` under it"
    )]
    pub fn router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        self.clone().public_routes().merge(self.logout_routes())
    }
}

/// A successful token response (RFC 6749 §5.1), with `Cache-Control: no-store`.
#[derive(Clone)]
pub struct TokenResponse {
    pair: TokenPair,
    token_type: &'static str,
    /// The scopes granted, for the client-credentials grant.
    scope: Option<String>,
    /// The device token to set as [`DEVICE_COOKIE`], after a password login.
    device: Option<String>,
    /// The session's cookies (with [`TokenRoutes::with_cookies`]).
    cookies: Vec<HeaderValue>,
    /// Whether the body carries the tokens (always, without cookies).
    body_tokens: bool,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// `{"access_token","token_type":"Bearer","expires_in","refresh_token"}`.
    pub fn new(pair: TokenPair) -> Self {
        Self {
            pair,
            token_type: "Bearer",
            scope: None,
            device: None,
            cookies: Vec::new(),
            body_tokens: true,
        }
    }

    /// Also sets the [`DEVICE_COOKIE`] (`HttpOnly; Secure; SameSite=Strict; Path=/`, a year):
    /// the proof that this client logged in to the account, which spares it the account-wide
    /// login throttling at its next logins.
    #[must_use]
    pub fn with_device(mut self, device: String) -> Self {
        self.device = Some(device);
        self
    }

    /// A client-credentials answer: `{"access_token","token_type":"Bearer","expires_in",
    /// "scope"}`, no refresh token.
    fn client(pair: TokenPair, scopes: Vec<String>) -> Self {
        Self {
            pair,
            token_type: "Bearer",
            scope: Some(scopes.join(" ")),
            device: None,
            cookies: Vec::new(),
            body_tokens: true,
        }
    }

    /// The same with another spelling of `token_type` (FastAPI's tutorials say `bearer`;
    /// RFC 6749 §5.1 says it is case-insensitive).
    #[must_use]
    pub fn with_token_type(mut self, token_type: &'static str) -> Self {
        self.token_type = token_type;
        self
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let mut body = json!({
            "token_type": self.token_type,
            "expires_in": self.pair.expires_in,
        });
        if self.body_tokens {
            body["access_token"] = self.pair.access_token.into();
            if !self.pair.refresh_token.is_empty() {
                body["refresh_token"] = self.pair.refresh_token.into();
            }
        }
        if let Some(scope) = self.scope {
            body["scope"] = scope.into();
        }
        let mut response = no_store(axum::Json(body).into_response());
        if let Some(device) = self.device
            && let Some(cookie) = device_cookie(&device)
        {
            response
                .headers_mut()
                .append(http::header::SET_COOKIE, cookie);
        }
        for cookie in self.cookies {
            response
                .headers_mut()
                .append(http::header::SET_COOKIE, cookie);
        }
        response
    }
}

/// A token-endpoint error (RFC 6749 §5.2): status, `{"error","error_description"}`,
/// `Cache-Control: no-store`, and `Retry-After` when throttled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl TokenError {
    /// 400 `invalid_request` with a message saying what is wrong.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
            retry_after: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The RFC 6749 `error` code.
    pub fn error(&self) -> &'static str {
        self.error
    }

    /// The human-readable `error_description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Seconds to wait, for a throttled login.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl From<LifecycleError> for TokenError {
    fn from(error: LifecycleError) -> Self {
        let description = error.to_string();
        let (status, code, retry_after) = match &error {
            LifecycleError::InvalidCredentials
            | LifecycleError::InvalidRefreshToken
            | LifecycleError::RefreshTokenReused => {
                (StatusCode::BAD_REQUEST, "invalid_grant", None)
            }
            LifecycleError::Throttled { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                Some(*retry_after),
            ),
            LifecycleError::Conflict => (StatusCode::CONFLICT, "conflict", None),
            LifecycleError::InvalidInput(_) | LifecycleError::Password(_) => {
                (StatusCode::BAD_REQUEST, "invalid_request", None)
            }
            _ => {
                tracing::error!(target: "authz_axum::token", code = error.code(), error = %error_detail(&error), "token service failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    Some(error.retry_after().unwrap_or(2)),
                )
            }
        };
        if code == "invalid_grant" {
            tracing::info!(target: "authz_axum::token", code = error.code(), "grant refused");
        }
        Self {
            status,
            error: code,
            description,
            retry_after,
        }
    }
}

fn error_detail(error: &LifecycleError) -> String {
    match error {
        LifecycleError::Store(store) => store.to_string(),
        other => other.to_string(),
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        no_store(response)
    }
}

impl From<TokenError> for Response {
    fn from(error: TokenError) -> Self {
        error.into_response()
    }
}

/// The fields of a token request, whichever grant.
#[derive(Deserialize, Default)]
struct TokenRequest {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    token: Option<String>,
    client_id: Option<String>,
    client_assertion: Option<String>,
    client_assertion_type: Option<String>,
    scope: Option<String>,
}

/// Reads a form or JSON body into `T`, with RFC 6749 errors for anything else.
///
/// # Errors
///
/// 415 for a content type other than `application/x-www-form-urlencoded` or
/// `application/json`; 400 `invalid_request` for a body that does not parse.
pub fn parse_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, TokenError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes(body)
            .map_err(|error| TokenError::invalid_request(format!("malformed form body: {error}"))),
        "application/json" => serde_json::from_slice(body)
            .map_err(|error| TokenError::invalid_request(format!("malformed JSON body: {error}"))),
        _ => Err(TokenError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error: "invalid_request",
            description: "the body must be application/x-www-form-urlencoded or application/json"
                .into(),
            retry_after: None,
        }),
    }
}

/// The client's address ([`crate::client::client_address`]: behind trusted proxies, the
/// client they report; else the TCP peer), if the server provides one.
pub fn client_ip(parts: &Parts) -> Option<IpAddr> {
    crate::client::client_address(&parts.extensions)
}

/// The body, or a JSON error: 413 over the limit, 400 if it could not be read.
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, TokenError> {
    body.map_err(|rejection| TokenError {
        status: rejection.status(),
        error: "invalid_request",
        description: rejection.body_text(),
        retry_after: None,
    })
}

fn required(field: Option<String>, name: &str) -> Result<String, TokenError> {
    match field {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(TokenError::invalid_request(format!(
            "the `{name}` field is required"
        ))),
    }
}

async fn token(
    State(Shared {
        service,
        clients,
        cookies,
    }): State<Shared>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenResponse, Response> {
    let request: TokenRequest = parse_body(&parts.headers, &body_of(body)?)?;
    // FastAPI's OAuth2PasswordRequestForm makes grant_type optional; so do we, for the
    // password grant only.
    let grant = match request.grant_type.as_deref() {
        None if request.username.is_some() => "password",
        None => {
            return Err(TokenError::invalid_request("the `grant_type` field is required").into());
        }
        Some(grant) => grant,
    };
    match grant {
        "password" => {
            let username = required(request.username, "username")?;
            let password = required(request.password, "password")?;
            if let Some(cookies) = &cookies {
                cookies
                    .csrf()
                    .check_origin_only(&parts.method, &parts.headers, &parts.uri)
                    .map_err(csrf_refused)?;
            }
            let success = password_login(&service, &parts, &username, &password)
                .await
                .map_err(TokenError::from)?;
            let response = TokenResponse::new(success.pair).with_device(success.device);
            with_session_cookies(&service, cookies.as_deref(), &parts, response)
        }
        "refresh_token" => {
            let refresh_token = required(request.refresh_token, "refresh_token")?;
            refresh_by_body(&service, cookies.as_deref(), &parts, &refresh_token).await
        }
        "client_credentials" if clients.is_some() => {
            Ok(client_credentials(&service, clients.as_deref(), request).await?)
        }
        _ => Err(TokenError {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: if clients.is_some() {
                "grant_type must be `password`, `refresh_token` or `client_credentials`".into()
            } else {
                "grant_type must be `password` or `refresh_token`".into()
            },
            retry_after: None,
        }
        .into_response()),
    }
}

/// 403 `csrf_failed`, in the [`AuthLayer`](crate::AuthLayer)'s shape.
fn csrf_refused(reason: &'static str) -> Response {
    tracing::debug!(target: "authz_axum::rejection", code = "csrf_failed", reason, "request refused");
    no_store(crate::AuthRejection::CsrfFailed(reason).to_response("api"))
}

/// The session id (`sid`) of an access token this service just issued.
fn session_of(service: &TokenService, access_token: &str) -> Option<String> {
    static SID: std::sync::LazyLock<authz_core::ClaimPath> =
        std::sync::LazyLock::new(|| authz_core::ClaimPath::new("sid"));
    let principal = service.verifier().verify(access_token).ok()?;
    match principal.claim(&SID) {
        Some(serde_json::Value::String(sid)) => Some(sid),
        _ => None,
    }
}

/// `response` with the session's cookies, when the routes set cookies.
#[allow(clippy::result_large_err)] // the handlers' error is the response itself
fn with_session_cookies(
    service: &TokenService,
    cookies: Option<&TokenCookies>,
    parts: &Parts,
    mut response: TokenResponse,
) -> Result<TokenResponse, Response> {
    let Some(cookies) = cookies else {
        return Ok(response);
    };
    let unavailable = |what: &str| {
        tracing::error!(target: "authz_axum::token", what, "cannot set the session cookies");
        TokenError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "the session cookies could not be made".into(),
            retry_after: None,
        }
        .into_response()
    };
    let pair = &response.pair;
    let sid = session_of(service, &pair.access_token)
        .ok_or_else(|| unavailable("the access token has no session id"))?;
    let issued = Issued {
        access_token: &pair.access_token,
        access_ttl: service.access_ttl(),
        refresh_token: &pair.refresh_token,
        refresh_ttl: service.refresh_idle_ttl(),
        sid: &sid,
    };
    response.cookies = cookies
        .issue((&parts.headers, &parts.uri), issued)
        .map_err(|_| unavailable("a cookie is not a valid header value"))?;
    response.body_tokens = cookies.tokens_in_body();
    Ok(response)
}

/// The name of the cookie that carries a client's device token (see
/// [`TokenService::login_with`]): `HttpOnly; Secure; SameSite=Strict; Path=/`, a year.
pub const DEVICE_COOKIE: &str = "__Host-authz-device";

/// The `Set-Cookie` value that hands a client its device token: [`DEVICE_COOKIE`],
/// `HttpOnly; Secure; SameSite=Strict; Path=/`, a year. `None` if `device` is not a valid
/// header value (device tokens from [`TokenService::login_with`] always are).
pub fn device_cookie(device: &str) -> Option<HeaderValue> {
    HeaderValue::try_from(format!(
        "{DEVICE_COOKIE}={device}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=31536000"
    ))
    .ok()
}

/// A password login with the client's address and device token (from the
/// [`DEVICE_COOKIE`]), for the token routes and an app's own login route.
///
/// # Errors
///
/// As [`TokenService::login_with`].
pub async fn password_login(
    service: &TokenService,
    parts: &Parts,
    login: &str,
    password: &str,
) -> Result<authz_core::lifecycle::LoginSuccess, LifecycleError> {
    let device = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == DEVICE_COOKIE)
        .map(|(_, value)| value);
    let client = client_ip(parts);
    let attempt = authz_core::lifecycle::LoginAttempt::new(login, password)
        .from_client(client)
        .with_device(device);
    let result = service.login_with(&attempt).await;
    if let Err(error) = &result
        && matches!(
            error,
            LifecycleError::InvalidCredentials | LifecycleError::Throttled { .. }
        )
    {
        // The address the throttle counted (behind trusted proxies, the client's); never the
        // name or the password.
        tracing::info!(target: "authz_axum::token", client = ?client, code = error.code(), "login refused");
    }
    result
}

/// The client-credentials grant with a client assertion (RFC 6749 §4.4, RFC 7523 §2.2).
async fn client_credentials(
    service: &TokenService,
    clients: Option<&Clients>,
    request: TokenRequest,
) -> Result<TokenResponse, TokenError> {
    let Some(clients) = clients else {
        return Err(TokenError::invalid_request(
            "client_credentials is not enabled",
        ));
    };
    let invalid_client = |description: String| TokenError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description,
        retry_after: None,
    };
    let (Some(kind), Some(assertion)) = (request.client_assertion_type, request.client_assertion)
    else {
        return Err(invalid_client(
            "client authentication is required: client_assertion_type and client_assertion".into(),
        ));
    };
    if kind != JWT_BEARER_ASSERTION {
        return Err(invalid_client(format!(
            "client_assertion_type must be {JWT_BEARER_ASSERTION}"
        )));
    }
    let client = match clients
        .assertions
        .verify_for_client(&assertion, request.client_id.as_deref())
        .await
    {
        Ok(client) => client,
        Err(AssertionError::Unavailable(detail)) => {
            tracing::error!(target: "authz_axum::token", %detail, "client keys unavailable");
            return Err(TokenError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "client keys are unavailable; try again".into(),
                retry_after: Some(2),
            });
        }
        Err(error) => {
            tracing::info!(target: "authz_axum::token", %error, "client assertion refused");
            return Err(invalid_client(error.to_string()));
        }
    };
    let client_id = client.subject();
    let Some(allowed) = (clients.scopes)(client_id) else {
        return Err(TokenError {
            status: StatusCode::BAD_REQUEST,
            error: "unauthorized_client",
            description: "this client may not use the client_credentials grant".into(),
            retry_after: None,
        });
    };
    let scopes: Vec<String> = match request.scope.as_deref() {
        None | Some("") => allowed,
        Some(asked) => {
            let asked: Vec<String> = asked
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(extra) = asked.iter().find(|s| !allowed.contains(s)) {
                return Err(TokenError {
                    status: StatusCode::BAD_REQUEST,
                    error: "invalid_scope",
                    description: format!("scope {extra:?} is not granted to this client"),
                    retry_after: None,
                });
            }
            asked
        }
    };
    let pair = service.client_token(client_id, &scopes)?;
    Ok(TokenResponse::client(pair, scopes))
}

async fn refresh(
    State(Shared {
        service, cookies, ..
    }): State<Shared>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenResponse, Response> {
    let body = body_of(body)?;
    // With cookies, an empty body (or one without `refresh_token`) means "the cookie's".
    let request: TokenRequest = match &cookies {
        Some(_) if body.is_empty() => TokenRequest::default(),
        _ => parse_body(&parts.headers, &body)?,
    };
    if let (None, Some(cookies)) = (&request.refresh_token, &cookies) {
        return refresh_by_cookie(&service, cookies, &parts).await;
    }
    let refresh_token = required(request.refresh_token, "refresh_token")?;
    refresh_by_body(&service, cookies.as_deref(), &parts, &refresh_token).await
}

/// A refresh whose token came in the body (the refresh grant of `/token`, or
/// `/token/refresh`): the rotation, then the session's cookies when the routes set them.
async fn refresh_by_body(
    service: &TokenService,
    cookies: Option<&TokenCookies>,
    parts: &Parts,
    refresh_token: &str,
) -> Result<TokenResponse, Response> {
    let pair = service
        .refresh(refresh_token)
        .await
        .map_err(|error| TokenError::from(error).into_response())?;
    with_session_cookies(service, cookies, parts, TokenResponse::new(pair))
}

/// A refresh whose token is the refresh cookie's: the CSRF check of its session first, then
/// the rotation, then all three cookies anew. A refused refresh token clears them.
async fn refresh_by_cookie(
    service: &TokenService,
    cookies: &TokenCookies,
    parts: &Parts,
) -> Result<TokenResponse, Response> {
    let Some((sid, refresh_token)) = cookies.refresh_cookie(&parts.headers) else {
        return Err(TokenError::invalid_request(
            "the `refresh_token` field or the refresh cookie is required",
        )
        .into_response());
    };
    cookies
        .csrf()
        .check_session(&parts.method, &parts.headers, &parts.uri, sid)
        .map_err(csrf_refused)?;
    let cleared = |error: TokenError| {
        let mut response = error.into_response();
        for cookie in cookies
            .clear(&parts.headers, &parts.uri)
            .unwrap_or_default()
        {
            response
                .headers_mut()
                .append(http::header::SET_COOKIE, cookie);
        }
        response
    };
    let pair = match service.refresh(refresh_token).await {
        Ok(pair) => pair,
        Err(error) if error.is_unavailable() => return Err(TokenError::from(error).into_response()),
        Err(error) => return Err(cleared(TokenError::from(error))),
    };
    if session_of(service, &pair.access_token).as_deref() != Some(sid) {
        // The cookie named another session than its refresh token's: a tampered cookie. The
        // rotation already happened, so end that session (its family and access tokens)
        // rather than leave it half-used; a store failure here is the same 503 as any.
        if let Err(error) = service.revoke(&pair.refresh_token).await {
            return Err(TokenError::from(error).into_response());
        }
        return Err(cleared(TokenError::from(
            LifecycleError::InvalidRefreshToken,
        )));
    }
    with_session_cookies(service, Some(cookies), parts, TokenResponse::new(pair))
}

async fn revoke(
    State(Shared { service, .. }): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TokenError> {
    let request: TokenRequest = parse_body(&headers, &body_of(body)?)?;
    let token = required(request.token, "token")?;
    service.revoke(&token).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// The logout routes act only on this service's own access tokens: the AuthLayer may trust
/// another issuer too, whose subjects are not this service's users.
fn own(service: &TokenService, principal: &authz_core::Principal) -> Result<(), TokenError> {
    if service.issued(principal) {
        Ok(())
    } else {
        Err(TokenError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_token",
            description: "the token was not issued by this service".into(),
            retry_after: None,
        })
    }
}

async fn logout(
    State(Shared {
        service, cookies, ..
    }): State<Shared>,
    parts: Parts,
    Auth(principal): Auth,
) -> Result<Response, TokenError> {
    own(&service, &principal)?;
    service.logout(&principal).await?;
    Ok(logged_out(cookies.as_deref(), &parts))
}

async fn logout_all(
    State(Shared {
        service, cookies, ..
    }): State<Shared>,
    parts: Parts,
    Auth(principal): Auth,
) -> Result<Response, TokenError> {
    own(&service, &principal)?;
    service.logout_all(principal.subject()).await?;
    Ok(logged_out(cookies.as_deref(), &parts))
}

/// 204, clearing the session's cookies when the routes set cookies.
fn logged_out(cookies: Option<&TokenCookies>, parts: &Parts) -> Response {
    let mut response = no_store(StatusCode::NO_CONTENT.into_response());
    if let Some(cookies) = cookies {
        for cookie in cookies
            .clear(&parts.headers, &parts.uri)
            .unwrap_or_default()
        {
            response
                .headers_mut()
                .append(http::header::SET_COOKIE, cookie);
        }
    }
    response
}
