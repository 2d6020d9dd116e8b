//! The seed's `resource/apiv1/auth.py`: the endpoints, each guarded where it is written.

use std::sync::Arc;

use authz_axum::manifest::Routes;
use authz_axum::{Auth, public};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::controller::apiv1::auth::{self as controller, Items, NewItem};
use crate::decorator::require_auth;

/// `GET /api/v1/health`: public, on purpose (the route manifest lists it so).
#[public]
#[utoipa::path(get, path = "/api/v1/health", responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)))]
async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /api/v1/me`: any valid token.
#[require_auth]
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, description = "The caller: `subject`, `roles`, `scopes`", body = Object)))]
async fn me(Auth(user): Auth) -> Json<Value> {
    Json(controller::describe(&user))
}

/// `GET /api/v1/admin`: role `admin`.
#[require_auth(role = "admin")]
#[utoipa::path(get, path = "/api/v1/admin", responses((status = 200, description = "A welcome `message`", body = Object)))]
async fn admin(Auth(user): Auth) -> Json<Value> {
    Json(json!({"message": format!("welcome, {}", user.subject())}))
}

/// `POST /api/v1/items`: scope `items:write`.
#[require_auth(scope = "items:write")]
#[utoipa::path(post, path = "/api/v1/items", request_body = NewItem, responses(
    (status = 201, description = "Created", body = controller::Item),
    (status = 422, description = "A name of the wrong length (`invalid_item`)", body = Problem),
))]
async fn create_item(
    State(items): State<Arc<Items>>,
    Auth(user): Auth,
    Json(new): Json<NewItem>,
) -> Result<(StatusCode, Json<controller::Item>), (StatusCode, Json<Problem>)> {
    match items.create(user.subject(), new) {
        Ok(item) => Ok((StatusCode::CREATED, Json(item))),
        Err(why) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(Problem {
                detail: why.to_owned(),
                code: "invalid_item",
            }),
        )),
    }
}

/// An error body: `detail`, then `code`, as the AuthLayer writes its own.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    detail: String,
    code: &'static str,
}

/// The routes that need no token: mounted outside the AuthLayer, so that a stale token sent
/// along cannot break them.
pub fn public_routes() -> Routes {
    Routes::new()
        .route("/api/v1/health", get(health))
        .route("/openapi.json", get(openapi))
}

/// `GET /openapi.json`: the API's OpenAPI document.
#[public]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

/// The routes of version 1 that read the caller (under the AuthLayer).
pub fn routes() -> Routes {
    Routes::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/admin", get(admin))
        .route("/api/v1/items", post(create_item))
        .with_state(Arc::new(Items::default()))
}
