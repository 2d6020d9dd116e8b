//! Guarded WebSockets (feature `ws`): the handshake authenticated like any request, and a
//! connection that ends when its token does.
//!
//! A browser's `new WebSocket(url, protocols)` can set no `Authorization` header. So
//! [`WsGuard`] takes the token from one of two places:
//!
//! | where | how the page sends it | checked at the handshake |
//! | --- | --- | --- |
//! | the access-token cookie ([`WsGuard::with_token_cookies`]) | the browser attaches it | the token, then the `Origin` (required, the app's own host or a trusted origin: cross-site WebSocket hijacking), then revocation |
//! | `Sec-WebSocket-Protocol: authz.bearer, <token>` | `new WebSocket(url, ["authz.bearer", token])` | the token, then revocation; the answer echoes `authz.bearer` (or the app's own protocol), never the token |
//!
//! A refused handshake is an ordinary HTTP answer in the layer's shape: 401 `missing_token`
//! or `invalid_token` / `token_revoked`, 403 `csrf_failed` for a foreign origin, 503 when
//! the revocation check cannot be made.
//!
//! Once open, the [`GuardedSocket`] watches its token: at `exp` it closes with **1008**
//! (policy violation) and the reason `token expired`; every
//! [check interval](WsGuard::with_check_interval) it asks the revocation check, and closes
//! with 1008 `token revoked` when the token (its session, or all of its subject's) was
//! revoked, or with 1013 (try again later) `revocation check unavailable` when the check
//! cannot be made — an outage is its own answer, as on the request path.
//!
//! # Example
//!
//! ```
//! use authz_axum::ws::{GuardedSocket, WsGuard};
//! use authz_axum::{Algorithm, KeySet, SigningKey, Verifier};
//! use axum::extract::ws::{Message, WebSocketUpgrade};
//! use axum::extract::State;
//! use axum::response::Response;
//! use axum::{Router, routing::get};
//! use http::{HeaderMap, Uri};
//!
//! async fn echo(mut socket: GuardedSocket) {
//!     let hello = format!("hello {}", socket.principal().subject());
//!     if socket.send(Message::text(hello)).await.is_err() {
//!         return;
//!     }
//!     // `recv` ends (None) when the client leaves or when the token expires or is revoked.
//!     while let Some(Ok(message)) = socket.recv().await {
//!         if socket.send(message).await.is_err() {
//!             return;
//!         }
//!     }
//! }
//!
//! async fn ws(State(guard): State<WsGuard>, headers: HeaderMap, uri: Uri, upgrade: WebSocketUpgrade) -> Response {
//!     guard.accept(&headers, &uri, upgrade, echo).await
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key())).build()?;
//! let app: Router = Router::new().route("/ws", get(ws)).with_state(WsGuard::new(verifier));
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use authz_core::{ErrorKind, Principal, Verifier};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Uri, header};
use tokio::time::{Instant, Interval, Sleep};

use crate::auth::{AuthRejection, Revocation, RevocationStatus};
use crate::cookie::{Csrf, TokenCookies};

/// The subprotocol that says the next one is the access token:
/// `Sec-WebSocket-Protocol: authz.bearer, <token>`.
pub const BEARER_PROTOCOL: &str = "authz.bearer";

/// The close code for a token that expired or was revoked: 1008, policy violation
/// (RFC 6455 §7.4.1).
pub const CLOSE_POLICY: u16 = 1008;

/// The close code when the revocation check cannot be made: 1013, try again later (IANA
/// WebSocket close code registry).
pub const CLOSE_TRY_AGAIN: u16 = 1013;

/// The default interval of the revocation check on an open connection.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Authenticates WebSocket handshakes and guards the connections. Cheap to clone. See the
/// [module docs](self) for an example.
#[derive(Clone)]
#[must_use]
pub struct WsGuard {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    verifier: Verifier,
    cookie: Option<(String, Csrf)>,
    revocation: Option<Arc<dyn Revocation>>,
    interval: Duration,
    protocols: Vec<String>,
    realm: String,
}

impl fmt::Debug for WsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("WsGuard")
            .field("cookie", &i.cookie.as_ref().map(|(name, _)| name))
            .field("revocation", &i.revocation.is_some())
            .field("interval", &i.interval)
            .field("protocols", &i.protocols)
            .finish_non_exhaustive()
    }
}

impl WsGuard {
    /// A guard that verifies tokens with `verifier`, sent as
    /// `Sec-WebSocket-Protocol: authz.bearer, <token>`.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier,
                cookie: None,
                revocation: None,
                interval: DEFAULT_CHECK_INTERVAL,
                protocols: Vec::new(),
                realm: "api".to_owned(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Also takes the token from the access-token cookie of `cookies`, as the
    /// [`AuthLayer`](crate::AuthLayer) does; a handshake the cookie authenticated must come
    /// with an `Origin` that is the app's own host or one of the CSRF check's trusted
    /// origins (403 `csrf_failed` otherwise).
    pub fn with_token_cookies(self, cookies: &TokenCookies) -> Self {
        let cookie = (cookies.access_name().to_owned(), cookies.csrf().clone());
        self.edit(|i| i.cookie = Some(cookie))
    }

    /// Checks the token with `revocation` at the handshake and every
    /// [interval](Self::with_check_interval) while the connection is open.
    pub fn with_revocation(self, revocation: impl Revocation) -> Self {
        let revocation: Arc<dyn Revocation> = Arc::new(revocation);
        self.edit(|i| i.revocation = Some(revocation))
    }

    /// How often an open connection's token is checked for revocation.
    ///
    /// Defaults to [`DEFAULT_CHECK_INTERVAL`] (5 s).
    pub fn with_check_interval(self, interval: Duration) -> Self {
        let interval = interval.max(Duration::from_millis(10));
        self.edit(|i| i.interval = interval)
    }

    /// The app's own subprotocols, in order of preference: the first one the client offers
    /// is the one selected (and echoed). Without one, a client that sent its token as a
    /// subprotocol gets [`BEARER_PROTOCOL`] echoed.
    pub fn with_protocols<I, P>(self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let protocols = protocols.into_iter().map(Into::into).collect();
        self.edit(|i| i.protocols = protocols)
    }

    /// The `realm` of refusals' `WWW-Authenticate`.
    ///
    /// Defaults to `"api"`.
    pub fn with_realm(self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.edit(|i| i.realm = realm)
    }

    /// Authenticates the handshake of `upgrade` (its `headers` and `uri`), and on success
    /// upgrades, handing `callback` a [`GuardedSocket`]; otherwise the refusal (401, 403 or
    /// 503, see the [module docs](self)).
    pub async fn accept<F, Fut>(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        mut upgrade: WebSocketUpgrade,
        callback: F,
    ) -> Response
    where
        F: FnOnce(GuardedSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let inner = &self.inner;
        let principal = match self.authenticate(headers, uri, &upgrade).await {
            Ok(principal) => principal,
            Err(rejection) => {
                tracing::debug!(target: "authz_axum::rejection", code = rejection.code(), "WebSocket handshake refused");
                return rejection.to_response(&inner.realm);
            }
        };
        if let Some(protocol) = self.select_protocol(&upgrade) {
            upgrade.set_selected_protocol(protocol);
        }
        let revocation = inner.revocation.clone();
        let interval = inner.interval;
        // Time left until `exp` by the verifier's clock (an app or test on a `FixedClock`
        // sees the same expiry here as in verification).
        let now = inner
            .verifier
            .clock()
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        upgrade.on_upgrade(move |socket| {
            callback(GuardedSocket::new(
                socket, principal, revocation, interval, now,
            ))
        })
    }

    async fn authenticate(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        upgrade: &WebSocketUpgrade,
    ) -> Result<Principal, AuthRejection> {
        let inner = &self.inner;
        let offered: Vec<&str> = upgrade
            .requested_protocols()
            .filter_map(|value| value.to_str().ok())
            .map(str::trim)
            .collect();
        let (token, by_cookie) = match offered.iter().position(|p| *p == BEARER_PROTOCOL) {
            Some(at) => match offered.get(at + 1) {
                Some(token) => ((*token).to_owned(), false),
                None => {
                    return Err(AuthRejection::InvalidRequest(
                        "authz.bearer must be followed by the token",
                    ));
                }
            },
            None => match &inner.cookie {
                Some((name, _)) => match crate::cookie::cookie_value(headers, name) {
                    Some(token) => (token.to_owned(), true),
                    None => return Err(AuthRejection::MissingToken),
                },
                None => return Err(AuthRejection::MissingToken),
            },
        };
        let principal = inner
            .verifier
            .verify(&token)
            .map_err(|error| AuthRejection::InvalidToken(error.into_kind()))?;
        if by_cookie && let Some((_, csrf)) = &inner.cookie {
            if headers.get(header::ORIGIN).is_none() {
                return Err(AuthRejection::CsrfFailed(
                    "a WebSocket handshake by cookie needs an Origin",
                ));
            }
            if !csrf.is_disabled() {
                csrf.check_origin(headers, uri)
                    .map_err(AuthRejection::CsrfFailed)?;
            }
        }
        if let Some(revocation) = &inner.revocation {
            match revocation.check(&principal).await {
                RevocationStatus::Active => {}
                RevocationStatus::Revoked => {
                    return Err(AuthRejection::InvalidToken(ErrorKind::Revoked));
                }
                RevocationStatus::Unavailable => return Err(AuthRejection::Unavailable),
            }
        }
        Ok(principal)
    }

    fn select_protocol(&self, upgrade: &WebSocketUpgrade) -> Option<HeaderValue> {
        let offered: Vec<&HeaderValue> = upgrade.requested_protocols().collect();
        let own = self.inner.protocols.iter().find(|protocol| {
            offered
                .iter()
                .any(|offer| offer.as_bytes() == protocol.as_bytes())
        });
        match own {
            Some(protocol) => HeaderValue::from_str(protocol).ok(),
            None if offered
                .iter()
                .any(|p| p.as_bytes() == BEARER_PROTOCOL.as_bytes()) =>
            {
                Some(HeaderValue::from_static(BEARER_PROTOCOL))
            }
            None => None,
        }
    }
}

/// What woke a [`GuardedSocket::recv`].
enum Step {
    Message(Option<Result<Message, axum::Error>>),
    End(Ended),
    Check(Arc<dyn Revocation>),
}

/// Why a [`GuardedSocket`] closed the connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ended {
    /// The token's `exp` passed: 1008 `token expired`.
    Expired,
    /// The revocation check said revoked: 1008 `token revoked`.
    Revoked,
    /// The revocation check could not be made: 1013 `revocation check unavailable`.
    Unavailable,
}

impl Ended {
    /// The close code sent.
    pub fn code(self) -> u16 {
        match self {
            Self::Expired | Self::Revoked => CLOSE_POLICY,
            Self::Unavailable => CLOSE_TRY_AGAIN,
        }
    }

    /// The close reason sent.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Expired => "token expired",
            Self::Revoked => "token revoked",
            Self::Unavailable => "revocation check unavailable",
        }
    }
}

/// An open WebSocket whose token is watched: [`recv`](Self::recv) returns `None` once the
/// connection ended — the client left, or the token expired or was revoked, in which case
/// the socket has sent the close frame (see the [module docs](self)) and
/// [`ended`](Self::ended) says why.
///
/// The watch runs while the app awaits [`recv`](Self::recv) (which is cancel-safe: use it in
/// `tokio::select!` beside the app's own events); [`send`](Self::send) refuses to send
/// after the token ran out.
pub struct GuardedSocket {
    socket: WebSocket,
    principal: Principal,
    expiry: Option<Pin<Box<Sleep>>>,
    checks: Option<(Arc<dyn Revocation>, Interval)>,
    ended: Option<Ended>,
}

impl fmt::Debug for GuardedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedSocket")
            .field("subject", &self.principal.subject())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl GuardedSocket {
    fn new(
        socket: WebSocket,
        principal: Principal,
        revocation: Option<Arc<dyn Revocation>>,
        interval: Duration,
        now: f64,
    ) -> Self {
        let expiry = principal.expires_at().map(|exp| {
            let left = Duration::try_from_secs_f64((exp - now).max(0.0)).unwrap_or(Duration::MAX);
            let deadline = Instant::now()
                .checked_add(left)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
            Box::pin(tokio::time::sleep_until(deadline))
        });
        let checks = revocation.map(|revocation| {
            let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (revocation, ticks)
        });
        Self {
            socket,
            principal,
            expiry,
            checks,
            ended: None,
        }
    }

    /// The verified caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Why the socket closed the connection itself, if it did.
    pub fn ended(&self) -> Option<Ended> {
        self.ended
    }

    /// The selected subprotocol, if any.
    pub fn protocol(&self) -> Option<&HeaderValue> {
        self.socket.protocol()
    }

    /// The next message; `None` when the connection has ended (the client left or closed,
    /// or the token ran out: then the close frame is sent). Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        if self.ended.is_some() {
            return None;
        }
        loop {
            let step = {
                let Self {
                    socket,
                    expiry,
                    checks,
                    ..
                } = &mut *self;
                let expired = async {
                    match expiry {
                        Some(sleep) => sleep.as_mut().await,
                        None => std::future::pending().await,
                    }
                };
                let tick = async {
                    match checks {
                        Some((revocation, ticks)) => {
                            ticks.tick().await;
                            revocation.clone()
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    message = socket.recv() => Step::Message(message),
                    () = expired => Step::End(Ended::Expired),
                    revocation = tick => Step::Check(revocation),
                }
            };
            let why = match step {
                Step::Message(message) => return message,
                Step::End(why) => why,
                Step::Check(revocation) => match revocation.check(&self.principal).await {
                    RevocationStatus::Active => continue,
                    RevocationStatus::Revoked => Ended::Revoked,
                    RevocationStatus::Unavailable => Ended::Unavailable,
                },
            };
            self.end(why).await;
            return None;
        }
    }

    /// Sends a message; refused once the connection ended.
    ///
    /// # Errors
    ///
    /// The connection is closed, or ended because the token ran out.
    pub async fn send(&mut self, message: Message) -> Result<(), axum::Error> {
        if let Some(ended) = self.ended {
            return Err(axum::Error::new(ended.reason()));
        }
        if self.expiry.as_ref().is_some_and(|sleep| sleep.is_elapsed()) {
            self.end(Ended::Expired).await;
            return Err(axum::Error::new(Ended::Expired.reason()));
        }
        self.socket.send(message).await
    }

    async fn end(&mut self, why: Ended) {
        self.ended = Some(why);
        tracing::debug!(target: "authz_axum::ws", reason = why.reason(), "closing a WebSocket");
        let frame = CloseFrame {
            code: why.code(),
            reason: why.reason().into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }
}
