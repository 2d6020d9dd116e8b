//! One quota mechanism: `#[require_auth(quota = …)]` spends the AuthLayer's quota store
//! (memory by default, any `QuotaStore` such as Redis), and every 429 — the handler quota's
//! and the usage layer's — goes through the app's `OnRejection`. A store that fails or hangs
//! answers 503 `quota_unavailable` (closed) or lets the request through (open), within its
//! timeout.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authz_axum::quota::{FailMode, Quota, QuotaDecision, QuotaLimiter, QuotaStore};
use authz_axum::usage::{Quotas, UsageLayer, UsageMeter};
use authz_axum::{
    Algorithm, AuthLayer, AuthRejection, Issuer, KeySet, SigningKey, Verifier, require_auth,
};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

fn key() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap()
}

fn token(sub: &str) -> String {
    Issuer::new(key()).issue(&json!({"sub": sub})).unwrap()
}

fn layer() -> AuthLayer {
    AuthLayer::new(
        Verifier::builder(KeySet::single(key().verifying_key()))
            .build()
            .unwrap(),
    )
}

#[require_auth(quota = "2/min")]
async fn twice_a_minute() -> &'static str {
    "ok"
}

#[require_auth(quota = "2/min")]
async fn also_twice_a_minute() -> &'static str {
    "ok"
}

async fn send(app: &Router, path: &str, token: &str) -> (StatusCode, Response) {
    let request = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    (response.status(), response)
}

async fn json_body(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A store that counts what it is asked and answers from a limiter, so the test sees that the
/// handler quota reached it.
#[derive(Default)]
struct Counting {
    asked: AtomicU64,
    limiter: QuotaLimiter,
}

#[async_trait::async_trait]
impl QuotaStore for Counting {
    async fn take(
        &self,
        key: &str,
        quota: &Quota,
        now: f64,
    ) -> authz_axum::core::StoreResult<QuotaDecision> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Ok(self.limiter.check(key, quota, now))
    }
}

/// A store that is down, or that hangs.
struct Broken {
    hang: bool,
}

#[async_trait::async_trait]
impl QuotaStore for Broken {
    async fn take(
        &self,
        _: &str,
        _: &Quota,
        _: f64,
    ) -> authz_axum::core::StoreResult<QuotaDecision> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        Err(authz_axum::core::StoreError::backend(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )))
    }
}

#[tokio::test]
async fn handler_quotas_spend_the_layers_store_per_handler_and_caller() {
    let store = Arc::new(Counting::default());
    let app = Router::new()
        .route("/a", get(twice_a_minute))
        .route("/b", get(also_twice_a_minute))
        .layer(layer().with_quota_store(store.clone(), FailMode::Closed, Duration::from_secs(1)));
    let alice = token("alice-store");
    for _ in 0..2 {
        assert_eq!(send(&app, "/a", &alice).await.0, StatusCode::OK);
    }
    let (status, response) = send(&app, "/a", &alice).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(response.headers()["ratelimit-limit"], "2");
    assert_eq!(response.headers()["ratelimit-remaining"], "0");
    assert_eq!(json_body(response).await["code"], "rate_limited");
    // Another handler, and another caller, have quotas of their own.
    assert_eq!(send(&app, "/b", &alice).await.0, StatusCode::OK);
    assert_eq!(
        send(&app, "/a", &token("bob-store")).await.0,
        StatusCode::OK
    );
    assert_eq!(store.asked.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_handler_quotas_429_goes_through_on_rejection() {
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let app = Router::new()
        .route("/a", get(twice_a_minute))
        .layer(
            layer().on_rejection(move |rejection: &AuthRejection, default: Response| {
                if let AuthRejection::RateLimited(limit) = rejection {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let mut response = (
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("slow down: {}", limit.retry_after),
                    )
                        .into_response();
                    response.headers_mut().extend(default.headers().clone());
                    return response;
                }
                default
            }),
        );
    let carol = token("carol-on-rejection");
    for _ in 0..2 {
        assert_eq!(send(&app, "/a", &carol).await.0, StatusCode::OK);
    }
    let (status, response) = send(&app, "/a", &carol).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    assert!(bytes.starts_with(b"slow down: "), "{bytes:?}");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failing_or_hanging_store_answers_503_when_closed_and_passes_when_open() {
    for hang in [false, true] {
        let closed =
            Router::new()
                .route("/a", get(twice_a_minute))
                .layer(layer().with_quota_store(
                    Arc::new(Broken { hang }),
                    FailMode::Closed,
                    Duration::from_millis(100),
                ));
        let started = Instant::now();
        let (status, response) = send(&closed, "/a", &token("dora-broken")).await;
        assert!(started.elapsed() < Duration::from_secs(2), "hang = {hang}");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "hang = {hang}");
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(json_body(response).await["code"], "quota_unavailable");

        let open = Router::new()
            .route("/a", get(twice_a_minute))
            .layer(layer().with_quota_store(
                Arc::new(Broken { hang }),
                FailMode::Open,
                Duration::from_millis(100),
            ));
        for _ in 0..4 {
            assert_eq!(
                send(&open, "/a", &token("dora-broken")).await.0,
                StatusCode::OK
            );
        }
    }
}

#[tokio::test]
async fn the_usage_layers_429_goes_through_on_rejection_too() {
    let quotas = Quotas::new().for_authenticated(Quota::rate(1, 0.001));
    let app = Router::new()
        .route("/posts", get(|| async { "posts" }))
        .layer(UsageLayer::new(Arc::new(UsageMeter::new())).with_quotas(quotas))
        .layer(layer().on_rejection(
            |rejection: &AuthRejection, default: Response| match rejection {
                AuthRejection::RateLimited(_) => {
                    (StatusCode::TOO_MANY_REQUESTS, "custom").into_response()
                }
                _ => default,
            },
        ));
    let erin = token("erin-usage");
    assert_eq!(send(&app, "/posts", &erin).await.0, StatusCode::OK);
    let (status, response) = send(&app, "/posts", &erin).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"custom");
}
