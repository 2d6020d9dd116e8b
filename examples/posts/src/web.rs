//! The browser front-end: a page (plain HTML and JavaScript, no build step) served at `/app/`,
//! on cookies only — its script never sees a token.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /app/`, `/app/app.js`, `/app/style.css` | the page |
//! | `POST /web/token` | password login: sets `__Host-access`, `__Secure-refresh` (path `/web/token/refresh`) and `__Host-csrf`; the body carries no token |
//! | `POST /web/token/refresh` | refresh by cookie (with the `x-csrf-token` header): rotates the cookies |
//! | `POST /web/logout`, `/web/logout-all` | revoke and clear the cookies |
//! | `GET /web/me` | who the cookie says the caller is: `{"id", "username"}` |
//! | `GET /web/feed` | the live feed: a WebSocket (the cookie, and the page's own `Origin`) on which each new post arrives as JSON; closed with 1008 when the session expires or is revoked |
//!
//! `/posts` and `/users` are the API's own routes: the AuthLayer reads the access cookie as
//! well as `Authorization: Bearer`, and checks CSRF on the cookie's unsafe requests (the page
//! sends the CSRF cookie's value in `x-csrf-token`).

use authz_axum::cookie::TokenCookies;
use authz_axum::token::TokenRoutes;
use authz_axum::ws::{GuardedSocket, WsGuard};
use authz_axum::{Auth, ClaimPath, require_auth};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::broadcast;

use crate::AppState;
use crate::db::Post;

/// Where the cookie-issuing token routes are nested.
pub const PREFIX: &str = "/web";

/// The cookies of the page's session (their refresh cookie scoped to `/web/token/refresh`).
pub fn cookies(csrf: authz_axum::cookie::Csrf) -> TokenCookies {
    TokenCookies::new(csrf).with_refresh_path(format!("{PREFIX}/token/refresh"))
}

/// The page, the cookie token routes' public half and the feed: mounted outside the
/// AuthLayer (the feed authenticates its own handshake).
pub fn public_routes(state: AppState, tokens: TokenRoutes, guard: WsGuard) -> Router {
    let page = Router::new()
        .route(
            "/app",
            get(|| async { axum::response::Redirect::to("/app/") }),
        )
        .route(
            "/app/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/app/app.js",
            get(|| async { page("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/app/style.css",
            get(|| async { page("text/css; charset=utf-8", STYLE) }),
        );
    let feed = Router::new()
        .route("/web/feed", get(feed))
        .with_state((guard, state.feed.clone()));
    page.merge(feed).nest(PREFIX, tokens.public_routes())
}

/// The routes that need the session: logout, logout-all, who am I. Under the AuthLayer.
pub fn routes(tokens: TokenRoutes) -> Router<AppState> {
    Router::new()
        .route("/web/me", get(me))
        .nest(PREFIX, tokens.logout_routes())
}

const INDEX: &str = include_str!("../web/index.html");
const SCRIPT: &str = include_str!("../web/app.js");
const STYLE: &str = include_str!("../web/style.css");

/// A static file, with a Content-Security-Policy that allows only this origin's scripts,
/// styles and connections (the WebSocket included), and no framing.
fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[require_auth]
async fn me(Auth(user): Auth) -> axum::Json<serde_json::Value> {
    static NAME: std::sync::LazyLock<ClaimPath> =
        std::sync::LazyLock::new(|| ClaimPath::new("preferred_username"));
    axum::Json(json!({
        "id": user.subject().parse::<i64>().ok(),
        "username": user.claim(&NAME),
    }))
}

async fn feed(
    State((guard, posts)): State<(WsGuard, broadcast::Sender<Post>)>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: WebSocketUpgrade,
) -> Response {
    let posts = posts.subscribe();
    guard
        .accept(&headers, &uri, upgrade, move |socket| relay(socket, posts))
        .await
}

/// Sends each new post the caller may read (published, or their own draft) until the client
/// leaves or its session ends (the socket then closes with 1008).
async fn relay(mut socket: GuardedSocket, mut posts: broadcast::Receiver<Post>) {
    let me: Option<i64> = socket.principal().subject().parse().ok();
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(_)) => {}
                _ => return,
            },
            post = posts.recv() => match post {
                Ok(post) if post.published || Some(post.owner_id) == me => {
                    let Ok(text) = serde_json::to_string(&post) else { continue };
                    if socket.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
