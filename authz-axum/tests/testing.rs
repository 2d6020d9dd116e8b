//! The test kit (feature `testing`) as an app's tests use it: personas accepted by the app's
//! own verifier, time moved by the kit's clock, a test JWKS for a remote-JWKS app, and an
//! access matrix that reports every differing row at once.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::time::Duration;

use authz_axum::testing::{AccessMatrix, Persona, TestKit};
use authz_axum::{Algorithm, AuthLayer, Issuer, SigningKey, Verifier, require_auth};
use axum::Router;
use axum::routing::{get, post};
use serde_json::json;

#[require_auth(role = "admin")]
async fn admin() -> &'static str {
    "admin"
}

#[require_auth(scope = "posts:write")]
async fn write_post() -> &'static str {
    "written"
}

#[require_auth(claim(tenant = "acme"))]
async fn tenant() -> &'static str {
    "acme"
}

fn app(kit: &TestKit, key: &SigningKey) -> Router {
    let verifier = Verifier::builder(key.verifying_key())
        .with_issuer("shop")
        .with_audience("api")
        .with_typ("at+jwt")
        .with_clock(kit.clock().clone())
        .build()
        .unwrap();
    Router::new()
        .route("/admin", get(admin))
        .route("/posts", post(write_post))
        .route("/tenant", get(tenant))
        .layer(AuthLayer::new(verifier))
}

fn kit(key: &SigningKey) -> TestKit {
    TestKit::new(
        Issuer::new(key.clone())
            .with_issuer("shop")
            .with_audience("api")
            .with_typ("at+jwt"),
    )
}

#[tokio::test]
async fn personas_get_what_their_roles_scopes_and_claims_allow() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let kit = kit(&key);
    let admin = Persona::new("alice").role("admin");
    let writer = Persona::new("bob").scope("posts:write").scope("posts:read");
    let acme = Persona::new("carol").claim("tenant", "acme");
    AccessMatrix::new(&kit, app(&kit, &key))
        .expect(None, "GET /admin", 401)
        .expect(&admin, "GET /admin", 200)
        .expect(&writer, "GET /admin", 403)
        .expect_json(&writer, "POST /posts", json!({"title": "t"}), 200)
        .expect(&admin, "POST /posts", 403)
        .expect(&acme, "/tenant", 200)
        .expect(&admin, "/tenant", 403)
        .expect(admin.clone().expired(), "GET /admin", 401)
        // A claim set on the persona wins over the one the kit derives.
        .expect(
            admin.clone().claim("roles", json!(["user"])),
            "GET /admin",
            403,
        )
        .expect(
            admin.clone().claim("iat", 4_000_000_000u64),
            "GET /admin",
            401,
        )
        .check()
        .await;
}

async fn status(app: &Router, token: &str) -> u16 {
    let request = axum::http::Request::get("/admin")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    tower::ServiceExt::oneshot(app.clone(), request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_kits_clock_moves_time_for_the_app_too() {
    let key =
        SigningKey::from_secret(Algorithm::HS256, b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)").unwrap();
    let kit = kit(&key);
    let app = app(&kit, &key);
    // A token valid from two minutes on: refused now, accepted once the clock got there.
    let later = kit.token(
        &Persona::new("dora")
            .role("admin")
            .not_before(Duration::from_secs(120))
            .valid_for(Duration::from_secs(600)),
    );
    assert_eq!(status(&app, &later).await, 401);
    kit.clock().advance(Duration::from_secs(180));
    assert_eq!(status(&app, &later).await, 200);
    // A token valid for a minute: accepted, then refused once the clock passed it.
    let short = kit.token(
        &Persona::new("erin")
            .role("admin")
            .valid_for(Duration::from_secs(60)),
    );
    assert_eq!(status(&app, &short).await, 200);
    kit.clock().advance(Duration::from_secs(200));
    assert_eq!(status(&app, &short).await, 401);
}

#[tokio::test]
async fn a_remote_jwks_app_trusts_the_kits_test_jwks() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let kit = kit(&key);
    let url = kit.serve_jwks().await;
    let remote = authz_axum::jwks::remote_jwks(&url).unwrap();
    let verifier = Verifier::builder(remote)
        .with_issuer("shop")
        .with_audience("api")
        .with_clock(kit.clock().clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/admin", get(admin))
        .layer(AuthLayer::new(verifier));
    AccessMatrix::new(&kit, app)
        .expect(Persona::new("frank").role("admin"), "GET /admin", 200)
        .expect(Persona::new("grace"), "GET /admin", 403)
        .check()
        .await;
}

#[tokio::test]
async fn a_failing_matrix_reports_every_differing_row_at_once() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let kit = kit(&key);
    let app = app(&kit, &key);
    let admin = Persona::new("alice").role("admin");
    let outcome = tokio::spawn(async move {
        AccessMatrix::new(&kit, app)
            .expect(&admin, "GET /admin", 200)
            .expect(None, "GET /admin", 200) // wrong: 401
            .expect(&admin, "POST /posts", 200) // wrong: 403
            .check()
            .await;
    })
    .await;
    let panic = outcome.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.starts_with("2 of 3 access rows differ:"),
        "{message}"
    );
    assert!(message.contains("✓ alice      GET     /admin"), "{message}");
    assert!(
        message
            .contains("✗ anonymous  GET     /admin                         expected 200, got 401"),
        "{message}"
    );
    assert!(message.contains("✗ alice      POST    /posts"), "{message}");
    assert!(message.contains("insufficient_scope"), "{message}");
}
