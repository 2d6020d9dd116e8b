//! The token routes answering with cookies, over real HTTP (a server on a loopback port,
//! reqwest as the client): each cookie's attributes exactly as `TokenCookies` documents them,
//! refresh by cookie rotating them, logout and logout-all clearing them, and the CSRF rules
//! on every cookie-authenticated unsafe request — the app's routes, refresh, logout, login —
//! refusing forged requests with 403 `csrf_failed` and storing nothing.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use authz_axum::cookie::{Csrf, TokenCookies};
use authz_axum::core::lifecycle::TokenService;
use authz_axum::core::lifecycle::password::Passwords;
use authz_axum::token::TokenRoutes;
use authz_axum::{Algorithm, Auth, AuthLayer, SigningKey, require_auth};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use reqwest::{Client, StatusCode};
use serde_json::Value;

const FORM: &str = "application/x-www-form-urlencoded";
const LOGIN: &str = "grant_type=password&username=alice&password=correct+horse+1";
const CSRF_KEY: &[u8] = b"the CSRF key of these tests, 32+ bytes";

type Stored = Arc<Mutex<Vec<String>>>;

struct App {
    base: String,
    origin: String,
    http: Client,
    service: TokenService,
    csrf: Csrf,
    stored: Stored,
}

#[require_auth(role = "user")]
async fn me(Auth(user): Auth) -> String {
    user.subject().to_owned()
}

#[require_auth]
async fn create(State(stored): State<Stored>, Auth(user): Auth, body: String) -> &'static str {
    stored
        .lock()
        .unwrap()
        .push(format!("{}: {body}", user.subject()));
    "created"
}

async fn start_with(cookies: impl FnOnce(Csrf) -> TokenCookies) -> App {
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_issuer("https://auth.test")
        .with_audience("api")
        .with_refresh_reuse_grace(std::time::Duration::ZERO)
        .with_passwords(Passwords::with_params(
            argon2::Params::new(1024, 1, 1, None).unwrap(),
        ))
        .build()
        .unwrap();
    service
        .register("alice", None, "correct horse 1", &["user"])
        .await
        .unwrap();
    let csrf = Csrf::new(CSRF_KEY).unwrap();
    let cookies = cookies(csrf.clone());
    let stored: Stored = Arc::default();
    let routes = TokenRoutes::new(service.clone()).with_cookies(cookies.clone());
    let guarded = Router::new()
        .route("/me", get(me))
        .route("/posts", post(create))
        .with_state(stored.clone())
        .merge(routes.clone().logout_routes())
        .layer(
            AuthLayer::new(service.verifier().clone())
                .with_token_cookies(&cookies)
                .with_revocation(service.clone()),
        );
    let app = routes.public_routes().merge(guarded);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App {
        base: format!("http://{addr}"),
        origin: format!("http://{addr}"),
        http: Client::new(),
        service,
        csrf,
        stored,
    }
}

async fn start() -> App {
    start_with(TokenCookies::new).await
}

/// One `Set-Cookie`: its value and its attributes as sent.
#[derive(Debug, Clone)]
struct SetCookie {
    value: String,
    attributes: String,
}

/// The `Set-Cookie` headers of a response, by cookie name.
fn set_cookies(response: &reqwest::Response) -> HashMap<String, SetCookie> {
    let mut all = HashMap::new();
    for header in response.headers().get_all("set-cookie") {
        let header = header.to_str().unwrap();
        let (pair, attributes) = header.split_once("; ").unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        let previous = all.insert(
            name.to_owned(),
            SetCookie {
                value: value.to_owned(),
                attributes: attributes.to_owned(),
            },
        );
        assert!(previous.is_none(), "{name} set twice");
    }
    all
}

/// A browser's session: its cookies, and the CSRF token its page reads from one of them.
#[derive(Debug, Clone)]
struct Session {
    access: String,
    refresh: String,
    csrf: String,
}

impl Session {
    fn from(cookies: &HashMap<String, SetCookie>) -> Self {
        Self {
            access: cookies["__Host-access"].value.clone(),
            refresh: cookies["__Secure-refresh"].value.clone(),
            csrf: cookies["__Host-csrf"].value.clone(),
        }
    }

    /// What the browser sends to `path`: the refresh cookie only to the refresh route.
    fn cookie_header(&self, path: &str) -> String {
        let mut header = format!("__Host-access={}; __Host-csrf={}", self.access, self.csrf);
        if path == "/token/refresh" {
            header.push_str(&format!("; __Secure-refresh={}", self.refresh));
        }
        header
    }
}

/// Who sends a request, as the browser would say it.
#[derive(Clone, Copy)]
enum From<'a> {
    /// The app's own page: `Origin` its own, `Sec-Fetch-Site: same-origin`, the CSRF header.
    OwnPage,
    /// The app's own page, with this value in the CSRF header.
    OwnPageWithHeader(&'a str),
    /// The app's own origin, no CSRF header.
    OwnOriginNoHeader,
    /// Another site's page: its `Origin`, the cookies, and even the right CSRF header.
    OtherSite,
    /// Another port of the same host (same site, another origin), with the right header.
    SameSiteOtherOrigin,
    /// No `Origin`, no fetch metadata, no CSRF header (an old client, a plain form).
    Bare,
}

impl App {
    fn request(&self, path: &str, session: &Session, from: From<'_>) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", session.cookie_header(path));
        match from {
            From::OwnPage => request
                .header("origin", &self.origin)
                .header("sec-fetch-site", "same-origin")
                .header("x-csrf-token", &session.csrf),
            From::OwnPageWithHeader(value) => request
                .header("origin", &self.origin)
                .header("sec-fetch-site", "same-origin")
                .header("x-csrf-token", value),
            From::OwnOriginNoHeader => request
                .header("origin", &self.origin)
                .header("sec-fetch-site", "same-origin"),
            From::OtherSite => request
                .header("origin", "https://evil.example")
                .header("sec-fetch-site", "cross-site")
                .header("x-csrf-token", &session.csrf),
            From::SameSiteOtherOrigin => request
                .header("origin", "http://localhost:1")
                .header("sec-fetch-site", "same-site")
                .header("x-csrf-token", &session.csrf),
            From::Bare => request,
        }
    }

    async fn login(&self) -> (Session, reqwest::Response) {
        let response = self
            .http
            .post(format!("{}/token", self.base))
            .header("content-type", FORM)
            .header("origin", &self.origin)
            .body(LOGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        (Session::from(&set_cookies(&response)), response)
    }

    fn stored(&self) -> usize {
        self.stored.lock().unwrap().len()
    }

    async fn me(&self, session: &Session) -> StatusCode {
        self.http
            .get(format!("{}/me", self.base))
            .header("cookie", session.cookie_header("/me"))
            .send()
            .await
            .unwrap()
            .status()
    }
}

async fn assert_csrf_refused(response: reqwest::Response, why: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{why}");
    assert!(
        response.headers().get("set-cookie").is_none(),
        "{why}: no cookie changes"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "csrf_failed", "{why}: {body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("CSRF check failed: "),
        "{why}: {body}"
    );
}

/// The session id that the access token carries.
fn sid_of(app: &App, access: &str) -> String {
    let principal = app.service.verifier().verify(access).unwrap();
    principal
        .claim(&authz_axum::ClaimPath::new("sid"))
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn login_sets_the_three_cookies_exactly_as_documented() {
    let app = start().await;
    let (session, response) = app.login().await;
    let cookies = set_cookies(&response);
    let access_ttl = app.service.access_ttl().as_secs();
    let refresh_ttl = app.service.refresh_idle_ttl().as_secs();
    assert_eq!(
        cookies["__Host-access"].attributes,
        format!("Path=/; Max-Age={access_ttl}; HttpOnly; Secure; SameSite=Lax")
    );
    assert_eq!(
        cookies["__Secure-refresh"].attributes,
        format!("Path=/token/refresh; Max-Age={refresh_ttl}; HttpOnly; Secure; SameSite=Strict")
    );
    assert_eq!(
        cookies["__Host-csrf"].attributes,
        format!("Path=/; Max-Age={refresh_ttl}; Secure; SameSite=Strict"),
        "readable by script: no HttpOnly"
    );
    // The device cookie of every password login is there as before.
    assert!(cookies.contains_key("__Host-authz-device"));
    assert_eq!(cookies.len(), 4);

    // What each carries: the access JWT, `<sid>.<refresh token>`, HMAC(key, sid).
    let sid = sid_of(&app, &session.access);
    let (cookie_sid, refresh) = session.refresh.split_once('.').unwrap();
    assert_eq!(cookie_sid, sid);
    assert!(
        refresh.starts_with("rt."),
        "the refresh token as the JSON body had it"
    );
    assert_eq!(session.csrf, app.csrf.token_for_session(&sid));

    // Cookies only: no token in the body the page's script could read.
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(body.get("access_token").is_none(), "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], access_ttl);
}

#[tokio::test]
async fn tokens_in_body_too_when_asked_and_require_auth_works_either_way() {
    let app = start_with(|csrf| TokenCookies::new(csrf).with_tokens_in_body()).await;
    let (session, response) = app.login().await;
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(access, session.access);
    assert_eq!(
        body["refresh_token"].as_str().unwrap(),
        session.refresh.split_once('.').unwrap().1
    );

    // `#[require_auth(role = "user")]`: the same answer from the cookie and from the header.
    assert_eq!(app.me(&session).await, StatusCode::OK);
    let by_header = app
        .http
        .get(format!("{}/me", app.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    assert_eq!(
        by_header.text().await.unwrap(),
        "1",
        "the subject: user id 1"
    );

    // A bearer token is not CSRF-checked: no origin, no CSRF header, no cookie.
    let response = app
        .http
        .post(format!("{}/posts", app.base))
        .bearer_auth(access)
        .body("by header")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.stored(), 1);
}

#[tokio::test]
async fn own_page_with_the_header_succeeds() {
    let app = start().await;
    let (session, _) = app.login().await;
    let response = app
        .request("/posts", &session, From::OwnPage)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.stored(), 1);
    // Safe methods need no CSRF header.
    assert_eq!(app.me(&session).await, StatusCode::OK);
}

#[tokio::test]
async fn forged_posts_are_refused_and_store_nothing() {
    let app = start().await;
    let (session, _) = app.login().await;
    // Another login of the same user: another session, another CSRF token.
    let (other, _) = app.login().await;
    assert_ne!(other.csrf, session.csrf);

    let cases: [(From<'_>, &str); 7] = [
        (
            From::OtherSite,
            "another site's origin, even with the right header",
        ),
        (
            From::SameSiteOtherOrigin,
            "another port of the same host (same site, other origin)",
        ),
        (From::Bare, "no Origin and no CSRF header"),
        (
            From::OwnOriginNoHeader,
            "the own origin without the CSRF header",
        ),
        (From::OwnPageWithHeader("forged"), "a wrong CSRF header"),
        (
            From::OwnPageWithHeader(&other.csrf),
            "the CSRF token of another session",
        ),
        (
            From::OwnPageWithHeader(&app.csrf.token_for_session("made-up")),
            "a well-made token of a session that is not this one",
        ),
    ];
    for (from, why) in cases {
        let response = app
            .request("/posts", &session, from)
            .body("forged")
            .send()
            .await
            .unwrap();
        assert_csrf_refused(response, why).await;
    }
    // The other session's cookie and header together, sent with this session's access
    // cookie: the header matches a cookie, not this session.
    let mixed = Session {
        csrf: other.csrf.clone(),
        ..session.clone()
    };
    let response = app
        .request("/posts", &mixed, From::OwnPage)
        .body("forged")
        .send()
        .await
        .unwrap();
    assert_csrf_refused(response, "cookie and header of another session").await;
    assert_eq!(app.stored(), 0, "nothing stored");
}

#[tokio::test]
async fn refresh_by_cookie_rotates_the_cookies() {
    let app = start().await;
    let (session, _) = app.login().await;
    let response = app
        .request("/token/refresh", &session, From::OwnPage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 3, "access, refresh, CSRF");
    let refresh_ttl = app.service.refresh_idle_ttl().as_secs();
    assert_eq!(
        cookies["__Secure-refresh"].attributes,
        format!("Path=/token/refresh; Max-Age={refresh_ttl}; HttpOnly; Secure; SameSite=Strict")
    );
    let rotated = Session::from(&cookies);
    assert_ne!(rotated.access, session.access, "a new access token");
    assert_ne!(rotated.refresh, session.refresh, "a new refresh token");
    assert_eq!(
        rotated.csrf, session.csrf,
        "the CSRF token is the session's: it survives refreshes"
    );
    assert_eq!(sid_of(&app, &rotated.access), sid_of(&app, &session.access));
    let body: Value = response.json().await.unwrap();
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(app.me(&rotated).await, StatusCode::OK);

    // The old refresh cookie again: reuse, refused, the session revoked, cookies cleared.
    let response = app
        .request("/token/refresh", &session, From::OwnPage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let cleared = set_cookies(&response);
    assert_eq!(cleared.len(), 3);
    assert!(
        cleared
            .values()
            .all(|c| c.value.is_empty() && c.attributes.contains("Max-Age=0"))
    );
    assert_eq!(app.me(&rotated).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forged_refreshes_are_refused_and_rotate_nothing() {
    let app = start().await;
    let (session, _) = app.login().await;
    let (other, _) = app.login().await;
    for (from, why) in [
        (From::OtherSite, "another site"),
        (From::SameSiteOtherOrigin, "another origin of the same site"),
        (From::Bare, "no Origin, no header"),
        (From::OwnOriginNoHeader, "no CSRF header"),
        (
            From::OwnPageWithHeader(&other.csrf),
            "another session's CSRF token",
        ),
    ] {
        let response = app
            .request("/token/refresh", &session, from)
            .send()
            .await
            .unwrap();
        assert_csrf_refused(response, why).await;
    }
    // Nothing rotated: the refresh token still works, once.
    let response = app
        .request("/token/refresh", &session, From::OwnPage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_tampered_refresh_cookie_is_refused() {
    let app = start().await;
    let (session, _) = app.login().await;
    let (other, _) = app.login().await;
    // The other session's id (and its CSRF token) in front of this refresh token.
    let token = session.refresh.split_once('.').unwrap().1;
    let other_sid = other.refresh.split_once('.').unwrap().0;
    let tampered = Session {
        refresh: format!("{other_sid}.{token}"),
        csrf: other.csrf.clone(),
        ..session.clone()
    };
    let response = app
        .request("/token/refresh", &tampered, From::OwnPage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // The tampering ended the session whose refresh token it used (already rotated), and
    // only that one.
    assert_eq!(app.me(&session).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&other).await, StatusCode::OK);
    // No session id in front: the cookie names no session whose CSRF token was sent.
    let malformed = Session {
        refresh: token.to_owned(),
        ..other.clone()
    };
    let response = app
        .request("/token/refresh", &malformed, From::OwnPage)
        .send()
        .await
        .unwrap();
    assert_csrf_refused(response, "a refresh cookie without its session").await;
}

#[tokio::test]
async fn logout_clears_the_cookies_and_revokes() {
    let app = start().await;
    let (session, _) = app.login().await;

    // Forged logouts first: refused, and the session still works.
    for (from, why) in [
        (From::OtherSite, "another site"),
        (From::SameSiteOtherOrigin, "another origin of the same site"),
        (From::Bare, "no header"),
    ] {
        let response = app.request("/logout", &session, from).send().await.unwrap();
        assert_csrf_refused(response, why).await;
    }
    assert_eq!(app.me(&session).await, StatusCode::OK);

    let response = app
        .request("/logout", &session, From::OwnPage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookies(&response);
    assert_eq!(
        cleared["__Host-access"].attributes,
        "Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
    );
    assert_eq!(
        cleared["__Secure-refresh"].attributes,
        "Path=/token/refresh; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
    );
    assert_eq!(
        cleared["__Host-csrf"].attributes,
        "Path=/; Max-Age=0; Secure; SameSite=Strict"
    );
    assert!(cleared.values().all(|c| c.value.is_empty()));

    // Revoked as before: the old cookies no longer work.
    assert_eq!(app.me(&session).await, StatusCode::UNAUTHORIZED);
    let response = app
        .request("/token/refresh", &session, From::OwnPage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A new login: a new session, a new CSRF token.
    let (again, _) = app.login().await;
    assert_ne!(again.csrf, session.csrf);
}

#[tokio::test]
async fn logout_all_clears_the_cookies_and_ends_every_session() {
    let app = start().await;
    let (first, _) = app.login().await;
    let (second, _) = app.login().await;
    let response = app
        .request("/logout-all", &second, From::OtherSite)
        .send()
        .await
        .unwrap();
    assert_csrf_refused(response, "another site").await;
    assert_eq!(app.me(&first).await, StatusCode::OK);

    let response = app
        .request("/logout-all", &second, From::OwnPage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookies(&response);
    assert_eq!(cleared.len(), 3);
    assert!(cleared.values().all(|c| c.attributes.contains("Max-Age=0")));
    assert_eq!(app.me(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&second).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_login_from_another_origin_is_refused_and_sets_nothing() {
    let app = start().await;
    for (origin, site) in [
        ("https://evil.example", "cross-site"),
        ("http://localhost:1", "same-site"),
    ] {
        let response = app
            .http
            .post(format!("{}/token", app.base))
            .header("content-type", FORM)
            .header("origin", origin)
            .header("sec-fetch-site", site)
            .body(LOGIN)
            .send()
            .await
            .unwrap();
        assert_csrf_refused(response, origin).await;
    }
}

#[tokio::test]
async fn insecure_http_for_localhost_drops_secure_and_prefixes_on_loopback() {
    let app = start_with(|csrf| TokenCookies::new(csrf).insecure_http_for_localhost()).await;
    let response = app
        .http
        .post(format!("{}/token", app.base))
        .header("content-type", FORM)
        .body(LOGIN)
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&response);
    let access_ttl = app.service.access_ttl().as_secs();
    assert_eq!(
        cookies["access"].attributes,
        format!("Path=/; Max-Age={access_ttl}; HttpOnly; SameSite=Lax")
    );
    assert!(cookies.contains_key("refresh") && cookies.contains_key("csrf"));
    // The layer reads the unprefixed names, CSRF check included.
    let cookie = format!(
        "access={}; csrf={}",
        cookies["access"].value, cookies["csrf"].value
    );
    let response = app
        .http
        .post(format!("{}/posts", app.base))
        .header("cookie", &cookie)
        .header("origin", &app.origin)
        .header("x-csrf-token", &cookies["csrf"].value)
        .body("local")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .http
        .post(format!("{}/posts", app.base))
        .header("cookie", &cookie)
        .body("forged")
        .send()
        .await
        .unwrap();
    assert_csrf_refused(response, "no header").await;
    assert_eq!(app.stored(), 1);
}
