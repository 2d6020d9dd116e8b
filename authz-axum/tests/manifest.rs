//! The route manifest (`authz_axum::manifest`): every route guarded, public or reported
//! undeclared — including one added the ordinary axum way, with no attribute.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use authz_axum::manifest::{Access, Routes};
use authz_axum::{Algorithm, AuthLayer, KeySet, SigningKey, Verifier, public, require_auth};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use http::{Request, StatusCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower::ServiceExt as _;

#[public]
async fn health() -> &'static str {
    "ok"
}

#[require_auth]
async fn me() -> &'static str {
    "me"
}

#[require_auth(role = "admin", quota = "30/min")]
async fn admin() -> &'static str {
    "admin"
}

#[require_auth(any(role = "editor", scope = "posts:write"))]
async fn edit(Path(id): Path<u64>, State(ran): State<Arc<AtomicUsize>>) -> String {
    ran.fetch_add(1, Ordering::SeqCst);
    format!("edited {id}")
}

/// No attribute: added below exactly the ordinary way.
async fn forgotten(State(ran): State<Arc<AtomicUsize>>) -> &'static str {
    ran.fetch_add(1, Ordering::SeqCst);
    "open to anyone"
}

fn verifier() -> Verifier {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    Verifier::builder(KeySet::single(key.verifying_key()))
        .build()
        .unwrap()
}

fn app(ran: Arc<AtomicUsize>, with_forgotten: bool) -> Routes {
    let mut routes = Routes::new()
        .route("/health", get(health))
        .route("/me", get(me))
        .nest(
            "/api",
            Routes::new()
                .route("/admin", get(admin).post(admin))
                .route("/posts/{id}", post(edit)),
        );
    if with_forgotten {
        routes = routes.route("/forgotten", get(forgotten).delete(forgotten));
    }
    routes
        .layer(AuthLayer::new(verifier()).required())
        .with_state(ran)
}

#[tokio::test]
async fn every_route_is_listed_with_its_protection() {
    let ran = Arc::new(AtomicUsize::new(0));
    let manifest = app(ran.clone(), false).manifest().await;
    assert_eq!(
        manifest.to_string(),
        "\
GET     /api/admin       require_auth(role = \"admin\", quota = \"30/min\")
POST    /api/admin       require_auth(role = \"admin\", quota = \"30/min\")
POST    /api/posts/{id}  require_auth(any(role = \"editor\", scope = \"posts:write\"))
GET     /health          public
GET     /me              require_auth
"
    );
    assert!(manifest.check().is_ok());
    // Guarded and public handlers answered the probe: no handler body ran.
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_plain_route_without_an_attribute_is_caught_by_name() {
    let ran = Arc::new(AtomicUsize::new(0));
    let manifest = app(ran, true).manifest().await;
    let undeclared: Vec<_> = manifest
        .undeclared()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert_eq!(undeclared, ["GET /forgotten", "DELETE /forgotten"]);
    let error = manifest.check().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("GET /forgotten"), "{message}");
    assert!(message.contains("DELETE /forgotten"), "{message}");
    assert!(message.contains("#[require_auth(...)]"), "{message}");
    assert!(message.contains("#[authz_axum::public]"), "{message}");
}

#[tokio::test]
async fn the_layer_still_refuses_real_requests_and_public_handlers_still_answer() {
    let router: Router = app(Arc::new(AtomicUsize::new(0)), false).into_router();
    for (path, status) in [
        ("/me", StatusCode::UNAUTHORIZED),
        ("/health", StatusCode::UNAUTHORIZED),
    ] {
        let response = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        // required(): the layer refuses an anonymous request before any handler.
        assert_eq!(response.status(), status, "{path}");
    }
    let open: Router = Routes::new()
        .route("/health", get(health))
        .layer(AuthLayer::new(verifier()))
        .into_router();
    let response = open
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn services_are_undeclared_unless_public() {
    let service = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(axum::response::Response::new(Body::from("file")))
    });
    let manifest = Routes::new()
        .route_service("/svc", service)
        .public_service("/static/{*path}", service)
        .manifest()
        .await;
    let access = |path: &str| {
        manifest
            .entries()
            .iter()
            .find(|e| e.path == path && e.method == http::Method::GET)
            .map(|e| e.access.clone())
    };
    assert_eq!(access("/svc"), Some(Access::Undeclared { status: 200 }));
    assert_eq!(access("/static/{*path}"), Some(Access::Public));
}
