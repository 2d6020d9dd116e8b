//! Feature `metrics`: per-route auth outcomes through the `metrics` facade, read back from a
//! recorder as Prometheus would scrape them.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::collections::HashMap;

use authz_axum::{Algorithm, AuthLayer, Issuer, KeySet, SigningKey, Verifier, require_auth};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;
use tower::ServiceExt;

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

#[require_auth(role = "admin")]
async fn admin() -> &'static str {
    "admin"
}

#[tokio::test]
async fn outcomes_are_counted_per_route_and_reason() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let key = SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap();
    let verifier = Verifier::builder(KeySet::single(key.verifying_key()))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/posts/{id}", get(|| async { "post" }))
        .route("/admin", get(admin))
        .layer(AuthLayer::new(verifier));
    let user = Issuer::new(key.clone())
        .issue(&json!({"sub": "u", "roles": ["user"]}))
        .unwrap();
    let expired = Issuer::new(key)
        .with_clock(authz_axum::FixedClock::at_unix(1_600_000_000))
        .issue_for("u")
        .unwrap();
    for (path, token) in [
        ("/posts/1", Some(&user)),
        ("/posts/2", Some(&user)),
        ("/posts/3", None),
        ("/posts/4", Some(&expired)),
        ("/admin", Some(&user)),
    ] {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        app.clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
    }

    let mut counts: HashMap<(String, String, String), u64> = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: HashMap<_, _> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        let DebugValue::Counter(n) = value else {
            continue;
        };
        let kind = labels
            .get("outcome")
            .or(labels.get("reason"))
            .cloned()
            .unwrap_or_default();
        counts.insert((key.name().to_owned(), labels["route"].clone(), kind), n);
    }
    let get = |name: &str, route: &str, kind: &str| {
        counts
            .get(&(name.to_owned(), route.to_owned(), kind.to_owned()))
            .copied()
    };
    assert_eq!(
        get("authz_verifications_total", "/posts/{id}", "accepted"),
        Some(2)
    );
    assert_eq!(
        get("authz_verifications_total", "/posts/{id}", "anonymous"),
        Some(1)
    );
    assert_eq!(
        get("authz_verifications_total", "/posts/{id}", "token_expired"),
        Some(1)
    );
    assert_eq!(
        get("authz_verifications_total", "/admin", "accepted"),
        Some(1)
    );
    assert_eq!(
        get("authz_denials_total", "/admin", "insufficient_scope"),
        Some(1)
    );
}
