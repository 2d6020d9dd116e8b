//! CSRF protection of cookie-authenticated requests, over real HTTP: forged requests are
//! refused 403 `csrf_failed` and store nothing; the app's own requests pass; bearer tokens
//! are unaffected.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::sync::{Arc, Mutex};

use authz_axum::cookie::Csrf;
use authz_axum::{Algorithm, Auth, AuthLayer, Issuer, KeySet, SigningKey, Verifier};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";
const CSRF_KEY: &[u8] = b"another key, for CSRF, 32 bytes+";

type Stored = Arc<Mutex<Vec<String>>>;

fn key() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap()
}

fn token(sid: &str) -> String {
    Issuer::new(key())
        .issue(&json!({"sub": "alice", "sid": sid}))
        .unwrap()
}

async fn create(State(stored): State<Stored>, Auth(user): Auth, body: String) -> &'static str {
    stored
        .lock()
        .unwrap()
        .push(format!("{}: {body}", user.subject()));
    "created"
}

async fn list(State(stored): State<Stored>, Auth(_): Auth) -> String {
    stored.lock().unwrap().join("\n")
}

struct Server {
    base: String,
    host: String,
    stored: Stored,
    client: reqwest::Client,
}

async fn serve(csrf: Csrf) -> Server {
    let stored: Stored = Arc::default();
    let verifier = Verifier::builder(KeySet::single(key().verifying_key()))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/posts", post(create).get(list).put(create).delete(create))
        .route("/ping", get(|| async { "pong" }))
        .with_state(stored.clone())
        .layer(
            AuthLayer::new(verifier)
                .with_cookie("__Host-access")
                .with_csrf(csrf),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        base: format!("http://{addr}"),
        host: addr.to_string(),
        stored,
        client: reqwest::Client::new(),
    }
}

fn csrf() -> Csrf {
    Csrf::new(CSRF_KEY).unwrap()
}

struct Reply {
    status: StatusCode,
    body: Value,
}

impl Server {
    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    fn post_with_cookies(&self, sid: &str, csrf_cookie: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/posts", self.base))
            .header(
                "cookie",
                format!("__Host-access={}; __Host-csrf={csrf_cookie}", token(sid)),
            )
            .body("hello")
    }

    fn stored(&self) -> usize {
        self.stored.lock().unwrap().len()
    }
}

fn assert_refused(reply: &Reply, why: &str) {
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "{why}: {:?}",
        reply.body
    );
    assert_eq!(reply.body["code"], "csrf_failed", "{why}");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("CSRF check failed: "),
        "{why}"
    );
}

#[tokio::test]
async fn forged_cookie_requests_are_refused_and_change_nothing() {
    let s = serve(csrf()).await;
    let good = csrf().token_for_session("s1");
    let own_origin = format!("http://{}", s.host);

    // A form another site posts: the cookies come along, nothing else.
    let reply = s.send(s.post_with_cookies("s1", &good)).await;
    assert_refused(&reply, "no header");

    let reply = s
        .send(
            s.post_with_cookies("s1", &good)
                .header("origin", "https://evil.example")
                .header("x-csrf-token", &good),
        )
        .await;
    assert_refused(&reply, "another origin, even with the right token");

    let reply = s
        .send(
            s.post_with_cookies("s1", &good)
                .header("sec-fetch-site", "cross-site")
                .header("x-csrf-token", &good),
        )
        .await;
    assert_refused(&reply, "Sec-Fetch-Site: cross-site");

    // Same site, other origin (another port of localhost): SameSite cookies are sent, so the
    // origin check must refuse.
    let reply = s
        .send(
            s.post_with_cookies("s1", &good)
                .header("sec-fetch-site", "same-site")
                .header("origin", "http://localhost:1")
                .header("x-csrf-token", &good),
        )
        .await;
    assert_refused(&reply, "same-site, cross-origin");

    let reply = s
        .send(
            s.post_with_cookies("s1", &good)
                .header("origin", "null")
                .header("x-csrf-token", &good),
        )
        .await;
    assert_refused(&reply, "Origin: null");

    let reply = s
        .send(
            s.post_with_cookies("s1", &good)
                .header("referer", "https://evil.example/page")
                .header("x-csrf-token", &good),
        )
        .await;
    assert_refused(&reply, "a Referer from another site");

    // A CSRF token from another session (the attacker's own, planted as a cookie).
    let theirs = csrf().token_for_session("attacker-session");
    let reply = s
        .send(
            s.post_with_cookies("s1", &theirs)
                .header("origin", &own_origin)
                .header("x-csrf-token", &theirs),
        )
        .await;
    assert_refused(&reply, "a token of another session");

    // The header without a matching cookie, and a token made with another key.
    let reply = s
        .send(
            s.post_with_cookies("s1", "x")
                .header("origin", &own_origin)
                .header("x-csrf-token", &good),
        )
        .await;
    assert_refused(&reply, "header and cookie differ");
    let other_key = Csrf::new(&[1; 32]).unwrap().token_for_session("s1");
    let reply = s
        .send(
            s.post_with_cookies("s1", &other_key)
                .header("origin", &own_origin)
                .header("x-csrf-token", &other_key),
        )
        .await;
    assert_refused(&reply, "a token made with another key");

    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let reply = s
            .send(
                s.client
                    .request(method.clone(), format!("{}/posts", s.base))
                    .header("cookie", format!("__Host-access={}", token("s1"))),
            )
            .await;
        assert_refused(&reply, method.as_str());
    }
    assert_eq!(s.stored(), 0, "nothing was stored");
}

#[tokio::test]
async fn the_apps_own_requests_pass() {
    let s = serve(csrf()).await;
    let good = csrf().token_for_session("s1");
    let own_origin = format!("http://{}", s.host);
    let reply = s
        .send(
            s.post_with_cookies("s1", &good)
                .header("origin", &own_origin)
                .header("sec-fetch-site", "same-origin")
                .header("x-csrf-token", &good),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    // Without Origin (some clients send none), the double submit alone decides.
    let reply = s
        .send(
            s.post_with_cookies("s1", &good)
                .header("x-csrf-token", &good),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(s.stored(), 2);

    // Safe methods need no CSRF token, from anywhere.
    let reply = s
        .send(
            s.client
                .get(format!("{}/posts", s.base))
                .header("cookie", format!("__Host-access={}", token("s1")))
                .header("sec-fetch-site", "cross-site"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn bearer_tokens_are_not_csrf_checked_and_win_over_the_cookie() {
    let s = serve(csrf()).await;
    let reply = s
        .send(
            s.client
                .post(format!("{}/posts", s.base))
                .bearer_auth(token("s2"))
                .header("origin", "https://api-docs.example"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    // A bearer token beside the cookie: the header's token is used, no CSRF check.
    let reply = s
        .send(
            s.post_with_cookies("s1", "whatever")
                .bearer_auth(token("s2"))
                .header("origin", "https://api-docs.example"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(s.stored(), 2);
    // A header token beside an `access_token` query parameter is two RFC 6750 methods.
    let reply = s
        .send(
            s.client
                .post(format!("{}/posts?access_token={}", s.base, token("s2")))
                .bearer_auth(token("s2")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["code"], "invalid_request");
    assert_eq!(s.stored(), 2);
}

#[tokio::test]
async fn trusted_origins_and_the_insecure_switch() {
    let s = serve(
        csrf()
            .with_trusted_origins(["https://app.example"])
            .unwrap(),
    )
    .await;
    let good = csrf().token_for_session("s1");
    let reply = s
        .send(
            s.post_with_cookies("s1", &good)
                .header("origin", "https://app.example")
                .header("sec-fetch-site", "same-site")
                .header("x-csrf-token", &good),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = s
        .send(
            s.post_with_cookies("s1", &good)
                .header("origin", "https://APP.example")
                .header("x-csrf-token", "forged"),
        )
        .await;
    assert_refused(&reply, "a trusted origin still needs the token");

    let open = serve(Csrf::insecure_disabled()).await;
    let reply = open
        .send(
            open.post_with_cookies("s1", "")
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "insecure_disabled checks nothing"
    );
}

#[tokio::test]
async fn a_cookie_source_without_a_configured_key_still_checks() {
    let stored: Stored = Arc::default();
    let verifier = Verifier::builder(KeySet::single(key().verifying_key()))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/posts", post(create))
        .with_state(stored.clone())
        .layer(AuthLayer::new(verifier).with_cookie("__Host-access"));
    let response = tower::ServiceExt::oneshot(
        app,
        http::Request::post("/posts")
            .header("cookie", format!("__Host-access={}", token("s1")))
            .body(axum::body::Body::from("x"))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(stored.lock().unwrap().is_empty());
}

/// RFC 6750 §2: one method per request. A header token beside a form body that carries
/// `access_token` is 400 `invalid_request`, the handler does not run; a form without one goes
/// through with its body intact.
#[tokio::test]
async fn a_header_token_beside_a_form_body_token_is_two_methods() {
    let s = serve(csrf()).await;
    let form = |body: &str| {
        s.client
            .post(format!("{}/posts", s.base))
            .bearer_auth(token("s1"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    };
    let reply = s
        .send(form(&format!("title=x&access_token={}", token("s2"))))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.body["code"], "invalid_request");
    assert_eq!(s.stored(), 0);
    let reply = s.send(form("title=hello&content=world")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        s.stored.lock().unwrap().last().unwrap(),
        "alice: title=hello&content=world",
        "the body reaches the handler unchanged"
    );
    // A JSON body is not a form: its contents are not RFC 6750's business.
    let reply = s
        .send(
            s.client
                .post(format!("{}/posts", s.base))
                .bearer_auth(token("s1"))
                .header("content-type", "application/json")
                .body(r#"{"access_token":"x"}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}
