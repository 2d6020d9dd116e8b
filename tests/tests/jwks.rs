//! Remote JWKS over real HTTP: an issuer's JWKS server on a loopback port (whose document,
//! status and speed the test controls), a resource server whose AuthLayer trusts that URL
//! only, and reqwest as the client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authz_axum::core::key::KeyRing;
use authz_axum::core::remote::{RefreshError, RemoteKeySet, RemoteOptions};
use authz_axum::jwks::{HttpFetcher, JwksRoutes};
use authz_axum::{Algorithm, Auth, AuthLayer, Issuer, SigningKey, Verifier};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;

/// How the fake issuer answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serve,
    Fail,
    Slow,
    Huge,
}

#[derive(Clone)]
struct Issuer_ {
    ring: KeyRing,
    mode: Arc<Mutex<Mode>>,
    hits: Arc<AtomicU64>,
}

async fn jwks(State(issuer): State<Issuer_>) -> axum::response::Response {
    issuer.hits.fetch_add(1, Ordering::SeqCst);
    let mode = *issuer.mode.lock().unwrap();
    match mode {
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            issuer.ring.jwks().to_string().into_response()
        }
        Mode::Huge => {
            let padding = "x".repeat(300 * 1024);
            format!("{{\"keys\": [], \"padding\": \"{padding}\"}}").into_response()
        }
        Mode::Serve => {
            let mut headers = HeaderMap::new();
            headers.insert("cache-control", HeaderValue::from_static("max-age=3600"));
            (headers, issuer.ring.jwks().to_string()).into_response()
        }
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn token(key: &SigningKey) -> String {
    Issuer::new(key.clone()).issue_for("alice").unwrap()
}

struct Setup {
    issuer: Issuer_,
    remote: RemoteKeySet,
    resource: String,
    http: reqwest::Client,
}

async fn me(Auth(user): Auth) -> String {
    user.subject().to_owned()
}

async fn setup(cooldown: Duration) -> Setup {
    let ring = KeyRing::new(
        SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("k1"),
    )
    .unwrap();
    let issuer = Issuer_ {
        ring,
        mode: Arc::new(Mutex::new(Mode::Serve)),
        hits: Arc::new(AtomicU64::new(0)),
    };
    let issuer_url = serve(
        Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(issuer.clone()),
    )
    .await;
    let remote = RemoteKeySet::with_options(
        format!("{issuer_url}/.well-known/jwks.json"),
        Arc::new(HttpFetcher::new().unwrap()),
        RemoteOptions {
            cooldown,
            timeout: Duration::from_millis(500),
            min_ttl: Duration::from_secs(1),
            ..RemoteOptions::default()
        },
    );
    let verifier = Verifier::builder(remote.clone()).build().unwrap();
    let resource = serve(
        Router::new()
            .route("/me", get(me))
            .layer(AuthLayer::new(verifier).required()),
    )
    .await;
    Setup {
        issuer,
        remote,
        resource,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    fn current_token(&self) -> String {
        token(&self.issuer.ring.signing_key())
    }

    async fn call(&self, token: &str) -> (StatusCode, HeaderMap, String) {
        let response = self
            .http
            .get(format!("{}/me", self.resource))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let headers = response.headers().clone();
        (status, convert(headers), response.text().await.unwrap())
    }

    fn mode(&self, mode: Mode) {
        *self.issuer.mode.lock().unwrap() = mode;
    }

    fn hits(&self) -> u64 {
        self.issuer.hits.load(Ordering::SeqCst)
    }
}

fn convert(headers: reqwest::header::HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in &headers {
        out.insert(
            axum::http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    out
}

#[tokio::test]
async fn cold_start_is_503_then_the_first_fetch_serves() {
    let s = setup(Duration::from_millis(300)).await;
    s.mode(Mode::Fail);
    let token = s.current_token();
    let (status, headers, body) = s.call(&token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "5");
    assert!(body.contains("keys_unavailable"), "{body}");
    // Never a 500, never accepted, however often asked during the outage.
    for _ in 0..20 {
        assert_eq!(s.call(&token).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert!(s.hits() <= 2, "cooldown bounds the fetches: {}", s.hits());
    s.mode(Mode::Serve);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(s.call(&token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn rotation_with_overlap_rejects_nothing() {
    let s = setup(Duration::from_millis(300)).await;
    let old = s.issuer.ring.signing_key();
    assert_eq!(s.call(&token(&old)).await.0, StatusCode::OK);
    assert_eq!(s.hits(), 1);

    // Stage and promote k2 at once (an impatient issuer): the first k2 token is an unknown
    // kid for the resource, which refreshes once (the cooldown since the cold-start fetch
    // has passed) and accepts it.
    tokio::time::sleep(Duration::from_millis(350)).await;
    s.issuer
        .ring
        .stage(
            SigningKey::generate(Algorithm::ES256)
                .unwrap()
                .with_kid("k2"),
        )
        .unwrap();
    s.issuer.ring.promote(Duration::from_secs(1)).unwrap();
    let new = s.issuer.ring.signing_key();
    let (status, _, body) = s.call(&token(&new)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "alice"));
    assert_eq!(s.hits(), 2, "one refresh for the new kid");
    assert_eq!(s.call(&token(&new)).await.0, StatusCode::OK);
    assert_eq!(s.hits(), 2);
    // Tokens of the old key still verify: it stays published until they expire.
    assert_eq!(s.call(&token(&old)).await.0, StatusCode::OK);

    // Once the old key leaves the set (its tokens have expired: kept 1 s here) and the
    // resource refreshes, its tokens stop verifying; the new key's go on.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(s.issuer.ring.purge(), 1);
    assert_eq!(s.issuer.ring.published_kids(), ["k2"]);
    assert!(s.remote.refresh().await.unwrap(), "the set changed");
    let (status, _, body) = s.call(&token(&old)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("unknown_kid"), "{body}");
    assert_eq!(s.call(&token(&new)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_flood_of_foreign_kids_fetches_once_per_cooldown() {
    let s = setup(Duration::from_secs(30)).await;
    assert_eq!(s.call(&s.current_token()).await.0, StatusCode::OK);
    let before = s.hits();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let foreign = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid(format!("foreign-{i}"));
        let token = token(&foreign);
        let http = s.http.clone();
        let url = format!("{}/me", s.resource);
        tasks.push(tokio::spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), reqwest::StatusCode::UNAUTHORIZED);
    }
    assert!(s.hits() - before <= 1, "{} fetches", s.hits() - before);
}

#[tokio::test]
async fn a_failing_issuer_keeps_the_last_good_keys() {
    let s = setup(Duration::from_millis(100)).await;
    let token = s.current_token();
    assert_eq!(s.call(&token).await.0, StatusCode::OK);
    s.mode(Mode::Fail);
    assert!(matches!(s.remote.refresh().await, Err(RefreshError::Fetch(m)) if m.contains("500")));
    assert_eq!(s.call(&token).await.0, StatusCode::OK, "stale-if-error");

    // Size and time limits: refused, keys kept.
    s.mode(Mode::Huge);
    assert!(s.remote.refresh().await.is_err());
    s.mode(Mode::Slow);
    let started = Instant::now();
    assert_eq!(s.remote.refresh().await, Err(RefreshError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(s.call(&token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn reads_never_wait_behind_a_refresh() {
    let s = setup(Duration::from_millis(100)).await;
    let token = s.current_token();
    assert_eq!(s.call(&token).await.0, StatusCode::OK);
    s.mode(Mode::Slow);
    let remote = s.remote.clone();
    let refresh = tokio::spawn(async move { remote.refresh().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(s.call(&token).await.0, StatusCode::OK);
    }
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "20 requests took {:?} during a refresh",
        started.elapsed()
    );
    assert_eq!(refresh.await.unwrap(), Err(RefreshError::Timeout));
}

#[tokio::test]
async fn the_publish_route_serves_the_ring_with_cache_control() {
    let ring = KeyRing::new(
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .with_kid("a"),
    )
    .unwrap();
    let url = serve(JwksRoutes::from_ring(ring.clone()).router()).await;
    let get = || async {
        reqwest::get(format!("{url}/.well-known/jwks.json"))
            .await
            .unwrap()
    };
    let response = get().await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["keys"][0]["kid"], "a");
    assert!(body["keys"][0].get("d").is_none(), "public parts only");
    ring.stage(
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .with_kid("b"),
    )
    .unwrap();
    let body: serde_json::Value = get().await.json().await.unwrap();
    assert_eq!(
        body["keys"].as_array().unwrap().len(),
        2,
        "staged keys are published"
    );
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_and_checks_the_issuer() {
    let ring = KeyRing::new(
        SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("d1"),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let claimed = Arc::new(Mutex::new(base.clone()));
    let doc = {
        let base = base.clone();
        let claimed = claimed.clone();
        move || {
            let issuer = claimed.lock().unwrap().clone();
            let base = base.clone();
            async move {
                axum::Json(serde_json::json!({
                    "issuer": issuer,
                    "jwks_uri": format!("{base}/.well-known/jwks.json"),
                }))
            }
        }
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(doc))
        .merge(JwksRoutes::from_ring(ring.clone()).router());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let remote = authz_axum::jwks::discover(&base).await.unwrap();
    let verifier = Verifier::builder(remote).build().unwrap();
    let token = token(&ring.signing_key());
    let mut verified = false;
    for _ in 0..50 {
        if verifier.verify(&token).is_ok() {
            verified = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(verified, "keys loaded through discovery");

    // A document that names another issuer is refused.
    *claimed.lock().unwrap() = "https://evil.example".into();
    let error = authz_axum::jwks::discover(&base).await.unwrap_err();
    assert!(error.contains("names issuer"), "{error}");
}
