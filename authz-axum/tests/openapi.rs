//! `#[require_auth]` next to `#[utoipa::path]`, in both orders, through the registry that the
//! `openapi` feature turns on: the document gets each guarded operation's security and
//! refusals, and the handlers still serve.

use authz_axum::openapi::Secure;
use authz_axum::{Algorithm, Auth, AuthLayer, Issuer, KeySet, SigningKey, Verifier, require_auth};
use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::{delete, get, post};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use utoipa::OpenApi;

/// Creates an item. `#[require_auth]` above `#[utoipa::path]`: it reads the route.
#[require_auth(scope = "items:write", quota = "5/min")]
#[utoipa::path(
    post,
    path = "/items/{id}",
    params(("id" = u64, Path, description = "The id")),
    responses((status = 201, description = "Created"))
)]
async fn create_item(Path(id): Path<u64>) -> (StatusCode, String) {
    (StatusCode::CREATED, id.to_string())
}

/// Who you are. `#[utoipa::path]` above `#[require_auth]`: found by operation id.
#[utoipa::path(get, path = "/me", responses((status = 200, description = "You")))]
#[require_auth]
async fn whoami(Auth(user): Auth) -> String {
    user.subject().to_owned()
}

/// An explicit operation id, read by `#[require_auth]` above.
#[require_auth(any(role = "admin", all(scope = "items:write", scope = "items:purge")))]
#[utoipa::path(
    delete,
    path = "/items",
    operation_id = "purge_items",
    responses((status = 204, description = "Gone"))
)]
async fn purge() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Nobody needs a token here.
#[utoipa::path(get, path = "/health", responses((status = 200, description = "Up")))]
async fn health() -> &'static str {
    "ok"
}

#[derive(OpenApi)]
#[openapi(paths(create_item, whoami, purge, health))]
struct Api;

fn document() -> Value {
    let mut doc = Api::openapi();
    let applied = Secure::new()
        .with_token_routes()
        .mark_unguarded_public()
        .apply(&mut doc);
    assert_eq!(
        applied.secured(),
        ["DELETE /items", "POST /items/{id}", "GET /me"]
    );
    assert!(applied.ambiguous().is_empty());
    serde_json::to_value(&doc).unwrap_or_default()
}

fn statuses(operation: &Value) -> Vec<String> {
    operation["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn require_auth_above_utoipa_path() {
    let doc = document();
    let operation = &doc["paths"]["/items/{id}"]["post"];
    assert_eq!(
        operation["security"],
        json!([{"bearerAuth": ["items:write"]}, {"oauth2": ["items:write"]}])
    );
    // utoipa makes the doc comment's first line the summary; the requirement is the
    // description.
    assert_eq!(
        operation["summary"],
        "Creates an item. `#[require_auth]` above `#[utoipa::path]`: it reads the route."
    );
    assert_eq!(
        operation["description"],
        "**Requires** a valid bearer token and `scope = \"items:write\"`; quota 5/min per caller (`#[require_auth]`)."
    );
    assert_eq!(
        statuses(operation),
        ["201", "400", "401", "403", "429", "503"]
    );
    // The hidden guard argument is not a parameter.
    assert_eq!(operation["parameters"].as_array().map(Vec::len), Some(1));
}

#[test]
fn utoipa_path_above_require_auth() {
    let doc = document();
    let operation = &doc["paths"]["/me"]["get"];
    assert_eq!(
        operation["security"],
        json!([{"bearerAuth": []}, {"oauth2": []}])
    );
    assert_eq!(statuses(operation), ["200", "400", "401", "403", "503"]);
}

#[test]
fn explicit_operation_id_and_nested_requirement() {
    let doc = document();
    let operation = &doc["paths"]["/items"]["delete"];
    assert_eq!(operation["operationId"], "purge_items");
    assert_eq!(
        operation["security"],
        json!([
            {"bearerAuth": []},
            {"bearerAuth": ["items:purge", "items:write"]},
            {"oauth2": []},
            {"oauth2": ["items:purge", "items:write"]}
        ])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["oauth2"]["flows"]["password"]["scopes"],
        json!({"items:purge": "Needed by `purge_items`", "items:write": "Needed by `purge_items`, `create_item`"})
    );
}

#[test]
fn unguarded_operation_says_so() {
    let doc = document();
    assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([]));
    assert_eq!(statuses(&doc["paths"]["/health"]["get"]), ["200"]);
}

#[tokio::test]
async fn documented_handlers_still_guard() -> Result<(), Box<dyn std::error::Error>> {
    let key = SigningKey::generate(Algorithm::ES256)?;
    let verifier = Verifier::builder(KeySet::single(key.verifying_key())).build()?;
    let app = Router::new()
        .route("/items/{id}", post(create_item))
        .route("/items", delete(purge))
        .route("/me", get(whoami))
        .route("/health", get(health))
        .layer(AuthLayer::new(verifier));
    let token = Issuer::new(key).issue(&json!({"sub": "alice", "scope": "items:write"}))?;
    let call = |method: &str, uri: &str, token: Option<&str>| {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(Body::empty())
    };
    let status = |r: http::Response<_>| r.status();
    assert_eq!(
        status(
            app.clone()
                .oneshot(call("POST", "/items/7", Some(&token))?)
                .await?
        ),
        StatusCode::CREATED
    );
    assert_eq!(
        status(app.clone().oneshot(call("POST", "/items/7", None)?).await?),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(
            app.clone()
                .oneshot(call("DELETE", "/items", Some(&token))?)
                .await?
        ),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            app.clone()
                .oneshot(call("GET", "/me", Some(&token))?)
                .await?
        ),
        StatusCode::OK
    );
    assert_eq!(
        status(app.oneshot(call("GET", "/health", None)?).await?),
        StatusCode::OK
    );
    Ok(())
}
