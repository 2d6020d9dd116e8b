//! Who may call what, in process, with authz-axum's test kit (feature `testing`): personas
//! minted with the app's own key, issuer and audience, and one table of expected statuses.
//! (`tests/http.rs` runs the binary over HTTP, as outside tests do.)

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::time::Duration;

use apiv1::config::{Config, Keys};
use authz_axum::testing::{AccessMatrix, Persona, TestKit};
use authz_axum::{Algorithm, Issuer, SigningKey};
use serde_json::json;

#[tokio::test]
async fn every_route_answers_each_kind_of_caller_as_the_readme_says() {
    let key =
        SigningKey::from_secret(Algorithm::HS256, b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)").unwrap();
    let config = Config {
        addr: "127.0.0.1:0".into(),
        keys: Keys::Secret {
            key: key.clone(),
            generated: false,
        },
        issuer: Some("apiv1-tests".into()),
        audience: Some("apiv1".into()),
        leeway: Duration::from_secs(30),
    };
    let app = apiv1::app(&config).unwrap();
    let kit = TestKit::new(
        Issuer::new(key)
            .with_issuer("apiv1-tests")
            .with_audience("apiv1"),
    );
    let admin = Persona::new("admin").role("admin");
    let user = Persona::new("user").role("user");
    let writer = Persona::new("writer")
        .role("user")
        .scope("items:read")
        .scope("items:write");
    let item = json!({"name": "pen"});
    AccessMatrix::new(&kit, app)
        .expect(None, "GET /api/v1/health", 200)
        .expect(None, "GET /api/v1/me", 401)
        .expect(&user, "GET /api/v1/me", 200)
        .expect(&user, "GET /api/v1/admin", 403)
        .expect(&admin, "GET /api/v1/admin", 200)
        .expect(admin.clone().expired(), "GET /api/v1/admin", 401)
        .expect(
            admin.clone().claim("aud", "another-api"),
            "GET /api/v1/admin",
            401,
        )
        .expect_json(&admin, "POST /api/v1/items", item.clone(), 403)
        .expect_json(&writer, "POST /api/v1/items", item.clone(), 201)
        .expect_json(None, "POST /api/v1/items", item, 401)
        .check()
        .await;
}
