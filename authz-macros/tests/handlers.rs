//! `#[require_auth]` on every handler shape, through a `Router` with the `AuthLayer`:
//! each shape × (no token, bad token, expired, wrong role, right role) → status.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use authz_axum::{
    Algorithm, Auth, AuthLayer, FixedClock, Issuer, KeySet, Principal, SigningKey, Verifier,
    require_auth,
};
use axum::extract::{Form, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router, body::Body};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[require_auth]
async fn plain() -> &'static str {
    "ok"
}

#[require_auth(role = "admin")]
async fn admin_result(Auth(user): Auth) -> Result<String, StatusCode> {
    if user.subject() == "teapot" {
        return Err(StatusCode::IM_A_TEAPOT);
    }
    Ok(format!("admin {}", user.subject()))
}

#[require_auth(role = "admin")]
pub(crate) async fn early_return(Path(id): Path<u32>) -> impl IntoResponse {
    if id == 0 {
        return (StatusCode::NOT_FOUND, "none").into_response();
    }
    format!("item {id}").into_response()
}

#[derive(Deserialize, Serialize)]
struct Item {
    name: String,
}

#[require_auth(role = "admin")]
async fn with_state_and_json(State(state): State<AppState>, Json(item): Json<Item>) -> Json<Value> {
    Json(json!({"greeting": state.greeting, "name": item.name}))
}

#[derive(Deserialize)]
struct Page {
    page: u32,
}

#[require_auth(role = "admin")]
async fn with_query(Query(q): Query<Page>) -> String {
    format!("page {}", q.page)
}

#[require_auth(role = "admin")]
async fn with_form(Form(item): Form<Item>) -> String {
    item.name
}

#[require_auth(role = "admin")]
async fn generic<T: Serialize + Default + Send + 'static>() -> Json<T> {
    Json(T::default())
}

// `#[require_auth]` goes above `#[axum::debug_handler]`, so that the debug checks see the
// guard argument too.
#[require_auth(role = "admin")]
#[axum::debug_handler(state = AppState)]
async fn debugged(State(state): State<AppState>) -> &'static str {
    state.greeting
}

#[require_auth(role = "admin")]
#[tracing::instrument(skip_all)]
async fn instrumented(Path(id): Path<u32>) -> String {
    tracing::info!(id, "instrumented handler");
    id.to_string()
}

#[require_auth(scope = "items:write")]
async fn scoped() -> &'static str {
    "scoped"
}

#[require_auth(roles(any = ["editor", "admin"]))]
async fn any_role() -> &'static str {
    "any role"
}

#[require_auth(roles(all = ["editor", "admin"]))]
async fn all_roles() -> &'static str {
    "all roles"
}

#[require_auth(permission = "posts:delete", claim(tenant = "acme"))]
async fn permission_and_claim() -> &'static str {
    "perm"
}

#[require_auth(
    any(role = "admin", all(role = "editor", scope = "posts:write")),
    not(role = "banned")
)]
async fn nested() -> &'static str {
    "nested"
}

async fn owns(principal: &Principal, parts: &mut Parts) -> bool {
    let Ok(Path(name)) = parts.extract::<Path<String>>().await else {
        return false;
    };
    principal.subject() == name
}

#[require_auth(policy = owns)]
async fn profile(Path(name): Path<String>) -> String {
    format!("profile of {name}")
}

use axum::RequestPartsExt as _;

fn key() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap()
}

fn token(claims: Value) -> String {
    Issuer::new(key()).issue(&claims).unwrap()
}

/// Three requests a minute per caller, beside the role check.
#[require_auth(role = "user", quota = "3/min")]
async fn limited() -> &'static str {
    "limited"
}

fn app() -> Router {
    let verifier = Verifier::builder(KeySet::single(key().verifying_key()))
        .build()
        .unwrap();
    Router::new()
        .route("/plain", get(plain))
        .route("/admin", get(admin_result))
        .route("/items/{id}", get(early_return))
        .route("/json", post(with_state_and_json))
        .route("/query", get(with_query))
        .route("/form", post(with_form))
        .route("/generic", get(generic::<Vec<u8>>))
        .route("/debugged", get(debugged))
        .route("/instrumented/{id}", get(instrumented))
        .route("/scoped", get(scoped))
        .route("/any", get(any_role))
        .route("/all", get(all_roles))
        .route("/perm", get(permission_and_claim))
        .route("/nested", get(nested))
        .route("/profile/{name}", get(profile))
        .route("/limited", get(limited))
        .with_state(AppState { greeting: "hello" })
        .layer(AuthLayer::new(verifier))
}

async fn call(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> (StatusCode, String, Option<String>) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let request = match body {
        Some((content_type, body)) => request
            .header("content-type", content_type)
            .body(Body::from(body.to_owned())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app().oneshot(request).await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    (status, text, challenge)
}

struct Shape {
    method: &'static str,
    path: &'static str,
    body: Option<(&'static str, &'static str)>,
    ok: &'static str,
}

const SHAPES: &[Shape] = &[
    Shape {
        method: "GET",
        path: "/admin",
        body: None,
        ok: "admin root",
    },
    Shape {
        method: "GET",
        path: "/items/7",
        body: None,
        ok: "item 7",
    },
    Shape {
        method: "POST",
        path: "/json",
        body: Some(("application/json", r#"{"name":"pen"}"#)),
        ok: r#"{"greeting":"hello","name":"pen"}"#,
    },
    Shape {
        method: "GET",
        path: "/query?page=3",
        body: None,
        ok: "page 3",
    },
    Shape {
        method: "POST",
        path: "/form",
        body: Some(("application/x-www-form-urlencoded", "name=pen")),
        ok: "pen",
    },
    Shape {
        method: "GET",
        path: "/generic",
        body: None,
        ok: "[]",
    },
    Shape {
        method: "GET",
        path: "/debugged",
        body: None,
        ok: "hello",
    },
    Shape {
        method: "GET",
        path: "/instrumented/5",
        body: None,
        ok: "5",
    },
];

#[tokio::test]
async fn matrix_of_handler_shapes_and_tokens() {
    let expired = Issuer::new(key())
        .with_clock(FixedClock::at_unix(1_000_000))
        .issue(&json!({"sub": "root", "roles": ["admin"]}))
        .unwrap();
    let user = token(json!({"sub": "root", "roles": ["user"]}));
    let admin = token(json!({"sub": "root", "roles": ["admin"]}));
    for shape in SHAPES {
        let (status, _, challenge) = call(shape.method, shape.path, None, shape.body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} no token", shape.path);
        assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="api""#));

        let (status, body, challenge) =
            call(shape.method, shape.path, Some("not.a.token"), shape.body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} bad token", shape.path);
        assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
        assert!(body.contains(r#""code":"invalid_base64""#), "{body}");

        let (status, body, _) = call(shape.method, shape.path, Some(&expired), shape.body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} expired", shape.path);
        assert_eq!(
            body,
            r#"{"detail":"Signature has expired","code":"token_expired"}"#
        );

        let (status, body, challenge) =
            call(shape.method, shape.path, Some(&user), shape.body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{} wrong role", shape.path);
        assert!(challenge.unwrap().contains(r#"error="insufficient_scope""#));
        assert!(body.contains(r#""code":"insufficient_scope""#), "{body}");

        let (status, body, _) = call(shape.method, shape.path, Some(&admin), shape.body).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, shape.ok),
            "{} right role",
            shape.path
        );
    }
}

#[tokio::test]
async fn handler_bodies_and_return_types_are_untouched() {
    let teapot = token(json!({"sub": "teapot", "roles": ["admin"]}));
    assert_eq!(
        call("GET", "/admin", Some(&teapot), None).await.0,
        StatusCode::IM_A_TEAPOT
    );
    let admin = token(json!({"sub": "root", "roles": ["admin"]}));
    assert_eq!(
        call("GET", "/items/0", Some(&admin), None).await.0,
        StatusCode::NOT_FOUND
    );
    let bad_json = call(
        "POST",
        "/json",
        Some(&admin),
        Some(("application/json", "{")),
    )
    .await;
    assert_eq!(
        bad_json.0,
        StatusCode::BAD_REQUEST,
        "the body extractor still runs after the guard"
    );
    let anonymous_bad_json = call("POST", "/json", None, Some(("application/json", "{"))).await;
    assert_eq!(
        anonymous_bad_json.0,
        StatusCode::UNAUTHORIZED,
        "the guard runs first"
    );
    assert_eq!(
        call("GET", "/plain", Some(&token(json!({"sub": "x"}))), None)
            .await
            .1,
        "ok"
    );
}

#[tokio::test]
async fn every_requirement_form() {
    let t = |claims: Value| token(claims);
    let cases: Vec<(&str, Value, StatusCode)> = vec![
        (
            "/scoped",
            json!({"sub": "a", "scope": "items:read items:write"}),
            StatusCode::OK,
        ),
        (
            "/scoped",
            json!({"sub": "a", "scope": "items:read"}),
            StatusCode::FORBIDDEN,
        ),
        (
            "/any",
            json!({"sub": "a", "roles": ["editor"]}),
            StatusCode::OK,
        ),
        (
            "/any",
            json!({"sub": "a", "roles": ["viewer"]}),
            StatusCode::FORBIDDEN,
        ),
        (
            "/all",
            json!({"sub": "a", "roles": ["editor", "admin"]}),
            StatusCode::OK,
        ),
        (
            "/all",
            json!({"sub": "a", "roles": ["editor"]}),
            StatusCode::FORBIDDEN,
        ),
        (
            "/perm",
            json!({"sub": "a", "permissions": ["posts:delete"], "tenant": "acme"}),
            StatusCode::OK,
        ),
        (
            "/perm",
            json!({"sub": "a", "permissions": ["posts:delete"], "tenant": "other"}),
            StatusCode::FORBIDDEN,
        ),
        (
            "/perm",
            json!({"sub": "a", "tenant": "acme"}),
            StatusCode::FORBIDDEN,
        ),
        (
            "/nested",
            json!({"sub": "a", "roles": ["admin"]}),
            StatusCode::OK,
        ),
        (
            "/nested",
            json!({"sub": "a", "roles": ["editor"], "scope": "posts:write"}),
            StatusCode::OK,
        ),
        (
            "/nested",
            json!({"sub": "a", "roles": ["editor"]}),
            StatusCode::FORBIDDEN,
        ),
        (
            "/nested",
            json!({"sub": "a", "roles": ["admin", "banned"]}),
            StatusCode::FORBIDDEN,
        ),
        ("/profile/alice", json!({"sub": "alice"}), StatusCode::OK),
        (
            "/profile/bob",
            json!({"sub": "alice"}),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (path, claims, expected) in cases {
        let (status, body, _) = call("GET", path, Some(&t(claims.clone())), None).await;
        assert_eq!(status, expected, "{path} {claims}: {body}");
    }
    let (_, _, challenge) = call("GET", "/scoped", Some(&t(json!({"sub": "a"}))), None).await;
    assert!(challenge.unwrap().ends_with(r#"scope="items:write""#));
    let (_, body, _) = call(
        "GET",
        "/profile/bob",
        Some(&t(json!({"sub": "alice"}))),
        None,
    )
    .await;
    assert!(body.contains("policy = owns"), "{body}");
}

#[tokio::test]
async fn a_guarded_handler_without_the_layer_fails_closed() {
    let app = Router::new().route("/plain", get(plain));
    let response = app
        .oneshot(
            Request::get("/plain")
                .header(
                    "authorization",
                    format!("Bearer {}", token(json!({"sub": "a"}))),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_quota_beside_require_auth_limits_each_caller() {
    let carol = token(json!({"sub": "carol-quota", "roles": ["user"]}));
    let dave = token(json!({"sub": "dave-quota", "roles": ["user"]}));
    for _ in 0..3 {
        assert_eq!(
            call("GET", "/limited", Some(&carol), None).await.0,
            StatusCode::OK
        );
    }
    let (status, body, _) = call("GET", "/limited", Some(&carol), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "rate_limited");
    // Another caller has their own quota; the role check still comes first.
    assert_eq!(
        call("GET", "/limited", Some(&dave), None).await.0,
        StatusCode::OK
    );
    let guest = token(json!({"sub": "erin-quota", "roles": ["guest"]}));
    assert_eq!(
        call("GET", "/limited", Some(&guest), None).await.0,
        StatusCode::FORBIDDEN
    );
}
