//! The layer, the extractors and the guard through a real `Router`: statuses,
//! `WWW-Authenticate` challenges and JSON bodies for every outcome.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::sync::LazyLock;

use authz_axum::__private::{Guard, GuardSpec, Parts};
use authz_axum::{
    Algorithm, Auth, AuthLayer, AuthRejection, Claims, Issuer, KeySet, Principal, Requirement,
    SigningKey, Verifier,
};
use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

fn key() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap()
}

fn verifier() -> Verifier {
    Verifier::builder(KeySet::single(key().verifying_key()))
        .build()
        .unwrap()
}

fn token(claims: Value) -> String {
    Issuer::new(key()).issue(&claims).unwrap()
}

fn alice() -> String {
    token(json!({"sub": "alice", "roles": ["user"], "scope": "items:read", "tenant": "acme"}))
}

async fn me(Auth(user): Auth) -> String {
    user.subject().to_owned()
}

async fn maybe(user: Option<Auth>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |Auth(u)| u.subject().to_owned())
}

#[derive(Deserialize)]
struct TenantClaims {
    tenant: String,
}

async fn tenant(Claims(c): Claims<TenantClaims>) -> String {
    c.tenant
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Impossible {
    plan: u64,
}

async fn impossible(Claims(_): Claims<Impossible>) -> &'static str {
    "unreachable"
}

struct Admin;
impl GuardSpec for Admin {
    fn requirement() -> Option<&'static Requirement> {
        static R: LazyLock<Requirement> = LazyLock::new(|| Requirement::role("admin"));
        Some(&R)
    }
}

struct WriteItems;
impl GuardSpec for WriteItems {
    fn requirement() -> Option<&'static Requirement> {
        static R: LazyLock<Requirement> = LazyLock::new(|| Requirement::scope("items:write"));
        Some(&R)
    }
}

struct OwnPath;
impl GuardSpec for OwnPath {
    fn requirement() -> Option<&'static Requirement> {
        None
    }
    const POLICY: Option<&'static str> = Some("owns_path");
    async fn policy(principal: &Principal, parts: &mut Parts) -> bool {
        parts.uri.path().ends_with(principal.subject())
    }
}

async fn admin(_: Guard<Admin>) -> &'static str {
    "admin area"
}
async fn write(_: Guard<WriteItems>) -> &'static str {
    "written"
}
async fn own(_: Guard<OwnPath>) -> &'static str {
    "yours"
}

fn routes() -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/tenant", get(tenant))
        .route("/impossible", get(impossible))
        .route("/admin", get(admin))
        .route("/items", get(write))
        .route("/own/{name}", get(own))
        .route("/public", get(|| async { "public" }))
}

fn app() -> Router {
    routes().layer(AuthLayer::new(verifier()))
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    challenge: Option<String>,
    body: Value,
    text: String,
}

async fn send(app: Router, request: Request<Body>) -> Reply {
    let response: Response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        challenge,
        body,
        text,
    }
}

fn get_with(path: &str, auth: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(value) = auth {
        request = request.header("authorization", value);
    }
    request.body(Body::empty()).unwrap()
}

fn bearer(path: &str, token: &str) -> Request<Body> {
    get_with(path, Some(&format!("Bearer {token}")))
}

#[tokio::test]
async fn valid_token_reaches_the_handler() {
    let reply = send(app(), bearer("/me", &alice())).await;
    assert_eq!(
        (reply.status, reply.text.as_str()),
        (StatusCode::OK, "alice")
    );
    let reply = send(app(), bearer("/tenant", &alice())).await;
    assert_eq!(reply.text, "acme");
}

#[tokio::test]
async fn missing_token_is_401_with_a_bare_challenge() {
    for auth in [None, Some("Basic dXNlcjpwYXNz")] {
        let reply = send(app(), get_with("/me", auth)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.challenge.as_deref(), Some(r#"Bearer realm="api""#));
        assert_eq!(
            reply.body,
            json!({"detail": "Not authenticated", "code": "missing_token"})
        );
    }
}

#[tokio::test]
async fn optional_mode_lets_anonymous_requests_through() {
    let reply = send(app(), get_with("/maybe", None)).await;
    assert_eq!(
        (reply.status, reply.text.as_str()),
        (StatusCode::OK, "anonymous")
    );
    let reply = send(app(), get_with("/public", None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(app(), bearer("/maybe", &alice())).await;
    assert_eq!(reply.text, "alice");
}

#[tokio::test]
async fn invalid_tokens_are_401_invalid_token_even_on_public_routes() {
    let expired = Issuer::new(key())
        .with_clock(authz_axum::FixedClock::at_unix(1_000_000))
        .issue_for("alice")
        .unwrap();
    let mut forged = alice();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'Q' } else { 'A' });
    let cases = [
        (expired, "Signature has expired", "token_expired"),
        (forged, "Signature verification failed", "invalid_signature"),
        (
            "abc".to_owned(),
            "Not enough segments",
            "not_enough_segments",
        ),
    ];
    for (token, detail, code) in cases {
        for path in ["/me", "/public", "/maybe"] {
            let reply = send(app(), bearer(path, &token)).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path} {code}");
            assert_eq!(
                reply.challenge.as_deref(),
                Some(
                    format!(
                        r#"Bearer realm="api", error="invalid_token", error_description="{detail}""#
                    )
                    .as_str()
                )
            );
            assert_eq!(reply.body, json!({"detail": detail, "code": code}));
        }
    }
}

#[tokio::test]
async fn malformed_requests_are_400_invalid_request() {
    let t = alice();
    let two = Request::get("/me")
        .header("authorization", format!("Bearer {t}"))
        .header("authorization", format!("Bearer {t}"))
        .body(Body::empty())
        .unwrap();
    let reply = send(app(), two).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .challenge
            .unwrap()
            .contains(r#"error="invalid_request""#)
    );
    assert_eq!(reply.body["code"], "invalid_request");
    for value in ["Bearer", "Bearer ", "Bearer a b", "Bearer a\"b"] {
        let reply = send(app(), get_with("/me", Some(value))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{value:?}");
    }
}

#[tokio::test]
async fn required_mode_refuses_anonymous_requests_everywhere() {
    let app = routes().layer(AuthLayer::new(verifier()).required().with_realm("zen"));
    let reply = send(app.clone(), get_with("/public", None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge.as_deref(), Some(r#"Bearer realm="zen""#));
    let reply = send(app.clone(), bearer("/public", &alice())).await;
    assert_eq!(reply.status, StatusCode::OK);
    let plain_options = Request::options("/public").body(Body::empty()).unwrap();
    assert_eq!(
        send(app, plain_options).await.status,
        StatusCode::UNAUTHORIZED
    );
}

fn preflight(path: &str) -> Request<Body> {
    Request::options(path)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .body(Body::empty())
        .unwrap()
}

/// A handler that counts its calls, for routes that answer every method.
fn counting(
    calls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl Fn() -> std::future::Ready<&'static str> + Clone + Send + Sync + 'static {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::ready("handler ran")
    }
}

#[tokio::test]
async fn required_mode_never_runs_a_handler_for_an_anonymous_preflight() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/any", axum::routing::any(counting(&calls)))
        .route(
            "/options",
            axum::routing::options(counting(&calls)).post(counting(&calls)),
        )
        .fallback(counting(&calls))
        .layer(AuthLayer::new(verifier()).required());
    for path in ["/any", "/options", "/not-a-route"] {
        let reply = send(app.clone(), preflight(path)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.body["code"], "missing_token", "{path}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no handler ran");

    // With a token, the same routes run (the layer refuses only anonymous callers).
    let with_token = Request::options("/any")
        .header("authorization", format!("Bearer {}", alice()))
        .header("access-control-request-method", "POST")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app, with_token).await.status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_cors_layer_outside_answers_preflights_before_the_auth_layer() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower_http::cors::CorsLayer;
    let calls = Arc::new(AtomicUsize::new(0));
    let cors = CorsLayer::new()
        .allow_origin(http::HeaderValue::from_static("https://app.example"))
        .allow_methods([http::Method::GET, http::Method::POST])
        .allow_headers([http::header::AUTHORIZATION]);
    let app = Router::new()
        .route("/any", axum::routing::any(counting(&calls)))
        .fallback(counting(&calls))
        .layer(AuthLayer::new(verifier()).required())
        .layer(cors);
    for path in ["/any", "/not-a-route"] {
        let reply = send(app.clone(), preflight(path)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(
            reply.headers["access-control-allow-origin"],
            "https://app.example"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the CORS layer answered");
    // The actual request still needs a token.
    let post = Request::post("/any")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app, post).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn optional_mode_preflights_reach_guards_as_anonymous() {
    let app = routes().layer(AuthLayer::new(verifier()));
    let reply = send(
        app,
        Request::options("/admin")
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    // `/admin` has no OPTIONS handler: axum answers 405 without running the guarded GET.
    assert_ne!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn guards_give_403_insufficient_scope() {
    let reply = send(app(), bearer("/admin", &alice())).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="Insufficient permissions: requires role = 'admin'""#
        )
    );
    assert_eq!(
        reply.body,
        json!({"detail": "Insufficient permissions: requires role = \"admin\"", "code": "insufficient_scope"})
    );
    let boss = token(json!({"sub": "boss", "roles": ["admin"]}));
    assert_eq!(
        send(app(), bearer("/admin", &boss)).await.text,
        "admin area"
    );
    let reply = send(app(), get_with("/admin", None)).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "anonymous is 401, not 403"
    );

    let reply = send(app(), bearer("/items", &alice())).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply
            .challenge
            .unwrap()
            .ends_with(r#", scope="items:write""#)
    );
}

#[tokio::test]
async fn repeated_rejections_get_the_same_response_and_carry_the_rejection() {
    // One layer serving the same refusals again and again: the responses it keeps after the
    // first time are byte for byte the fresh ones, per realm.
    let apps = [
        ("api", app()),
        (
            "zen",
            routes().layer(AuthLayer::new(verifier()).with_realm("zen")),
        ),
    ];
    let cases = [
        ("/admin", Some(alice()), "insufficient_scope"),
        ("/items", Some(alice()), "insufficient_scope"),
        ("/me", Some("abc".to_owned()), "not_enough_segments"),
        ("/me", None, "missing_token"),
    ];
    for round in 0..3 {
        for (realm, app) in &apps {
            for (path, token, code) in &cases {
                let request = match token {
                    Some(token) => bearer(path, token),
                    None => get_with(path, None),
                };
                let mut response = app.clone().oneshot(request).await.unwrap();
                // The router adds the length; the rest is the layer's.
                response.headers_mut().remove("content-length");
                let rejection = response
                    .extensions()
                    .get::<AuthRejection>()
                    .cloned()
                    .expect("the rejection is in the response's extensions");
                assert_eq!(rejection.code(), *code);
                let fresh = rejection.to_response(realm);
                assert_eq!(response.status(), fresh.status());
                assert_eq!(
                    response.headers(),
                    fresh.headers(),
                    "{realm} {path} {round}"
                );
                let body = response.into_body().collect().await.unwrap().to_bytes();
                let expected = fresh.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body, expected, "{realm} {path} round {round}");
                assert!(String::from_utf8_lossy(&body).contains(code), "{body:?}");
            }
        }
    }
}

#[tokio::test]
async fn policies_get_the_request_parts() {
    assert_eq!(
        send(app(), bearer("/own/alice", &alice())).await.text,
        "yours"
    );
    let reply = send(app(), bearer("/own/bob", &alice())).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body["detail"],
        "Insufficient permissions: requires policy = owns_path"
    );
}

#[tokio::test]
async fn without_the_layer_extractors_and_guards_fail_closed() {
    for path in ["/me", "/admin", "/tenant"] {
        let reply = send(routes(), bearer(path, &alice())).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(reply.body["code"], "auth_layer_missing");
        assert_eq!(reply.challenge, None);
    }
    let reply = send(routes(), get_with("/maybe", None)).await;
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Option<Auth> fails closed too"
    );
}

#[tokio::test]
async fn claims_that_do_not_fit_are_401() {
    let reply = send(app(), bearer("/impossible", &alice())).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body["code"], "claims_mismatch");
}

#[tokio::test]
async fn one_hook_replaces_every_rejection() {
    let layer = AuthLayer::new(verifier()).on_rejection(
        |rejection: &AuthRejection, mut default: Response| {
            *default.body_mut() = Body::from(format!("nope: {}", rejection.code()));
            default
                .headers_mut()
                .insert("x-auth", "custom".parse().unwrap());
            default
        },
    );
    let app = routes().layer(layer);
    let reply = send(app.clone(), bearer("/me", "abc")).await;
    assert_eq!(
        (reply.status, reply.text.as_str()),
        (StatusCode::UNAUTHORIZED, "nope: not_enough_segments")
    );
    let reply = send(app.clone(), get_with("/me", None)).await;
    assert_eq!(reply.text, "nope: missing_token");
    let reply = send(app, bearer("/admin", &alice())).await;
    assert_eq!(
        (reply.status, reply.text.as_str()),
        (StatusCode::FORBIDDEN, "nope: insufficient_scope")
    );
}

#[tokio::test]
async fn revocation_hook_runs_on_every_verified_token() {
    let layer = AuthLayer::new(verifier())
        .with_revocation(|p: Principal| async move { p.subject() == "mallory" });
    let app = routes().layer(layer);
    assert_eq!(
        send(app.clone(), bearer("/me", &alice())).await.text,
        "alice"
    );
    let mallory = token(json!({"sub": "mallory"}));
    let reply = send(app.clone(), bearer("/public", &mallory)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body,
        json!({"detail": "Token has been revoked", "code": "token_revoked"})
    );
    assert_eq!(
        send(app, get_with("/public", None)).await.status,
        StatusCode::OK,
        "anonymous skips it"
    );
}

#[tokio::test]
async fn cookie_header_and_query_sources() {
    let t = alice();
    let layer = AuthLayer::new(verifier())
        .with_cookie("access_token")
        .with_header(http::HeaderName::from_static("x-api-token"));
    let app = routes().layer(layer);
    let cookie = Request::get("/me")
        .header("cookie", format!("theme=dark; access_token={t}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.clone(), cookie).await.text, "alice");
    let header = Request::get("/me")
        .header("x-api-token", &t)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.clone(), header).await.text, "alice");
    let both = Request::get("/me")
        .header("x-api-token", &t)
        .header("authorization", format!("Bearer {t}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(app.clone(), both).await.status,
        StatusCode::BAD_REQUEST
    );

    // The query string is ignored unless turned on.
    let query = format!("/me?access_token={t}");
    assert_eq!(
        send(app, get_with(&query, None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let app = routes().layer(AuthLayer::new(verifier()).insecure_with_query("access_token"));
    assert_eq!(send(app, get_with(&query, None)).await.text, "alice");
}
