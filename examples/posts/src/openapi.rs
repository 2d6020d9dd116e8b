//! The API's OpenAPI document (`GET /openapi.json`) and its interactive docs page (`GET
//! /docs`, Swagger UI served from this binary: nothing from a CDN).
//!
//! Each handler carries `#[utoipa::path(...)]` with its own answers only; what
//! `#[require_auth]` says — the security requirement, the 400/401/403/503 refusals — is added
//! by `authz_axum::openapi::Secure`, with the token routes (`/token`, the password flow of
//! Swagger UI's "Authorize") and the 429 of the usage layer's quotas. `tests/openapi.rs`
//! compares the document with `tests/openapi.json` (`UPDATE_SNAPSHOTS=1` rewrites it).

use authz_axum::openapi::Secure;
use axum::Router;
use serde_json::json;
use utoipa::OpenApi;
use utoipa::openapi::path::PathItem;
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{posts, usage, users};

/// An error of this API's own handlers: `{"detail": "…", "code": "…"}`, the AuthLayer's
/// shape (`not_found`, `invalid_body`, `not_a_user`, `not_owner`, `conflict`,
/// `too_many_attempts`, `temporarily_unavailable`).
#[derive(Debug, utoipa::ToSchema)]
pub struct Problem {
    /// A human-readable message.
    pub detail: String,
    /// A stable code.
    pub code: String,
}

/// `GET /usage`: today's requests per caller.
#[derive(Debug, utoipa::ToSchema)]
pub struct UsageAll {
    /// The day's start, Unix seconds.
    pub from: u64,
    /// The day's end, Unix seconds.
    pub to: u64,
    /// One row per caller.
    pub users: Vec<UsageUser>,
}

/// One caller's requests today.
#[derive(Debug, utoipa::ToSchema)]
pub struct UsageUser {
    /// The token's subject, or `anon:<address>`.
    pub subject: String,
    /// The account's username, for a user.
    pub username: Option<String>,
    /// Requests today.
    pub requests: u64,
}

/// `GET /usage/me`: the caller's requests today.
#[derive(Debug, utoipa::ToSchema)]
pub struct UsageMe {
    /// The caller's subject.
    pub subject: String,
    /// The day's start, Unix seconds.
    pub from: u64,
    /// The day's end, Unix seconds.
    pub to: u64,
    /// Requests today.
    pub requests: u64,
    /// By route, method and status class.
    pub by_route: Vec<UsageRow>,
}

/// Requests of one route, method and status class in one bucket.
#[derive(Debug, utoipa::ToSchema)]
pub struct UsageRow {
    /// The caller.
    pub subject: String,
    /// The matched route.
    pub route: String,
    /// The method.
    pub method: String,
    /// `2xx`, `4xx`, …
    pub status_class: String,
    /// `minute`, `hour` or `day`.
    pub granularity: String,
    /// The bucket's start, Unix seconds.
    pub start: u64,
    /// Requests.
    pub count: u64,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "posts",
        description = "Seeds 003 + 004: users, login, access + refresh tokens, posts CRUD. \
                       Log in with \"Authorize\" (the OAuth2 password flow on `/token`)."
    ),
    paths(
        users::create,
        users::show,
        posts::list,
        posts::create,
        posts::show,
        posts::update,
        posts::remove,
        usage::all,
        usage::me
    ),
    tags(
        (name = "users", description = "Registration and profiles"),
        (name = "posts", description = "Posts: anyone logged in reads published ones and writes their own"),
        (name = "usage", description = "Requests per caller"),
        (name = "token", description = "Login, refresh, revocation, logout"),
    )
)]
struct ApiDoc;

/// The document: the handlers' own, secured by `#[require_auth]`'s requirements, with the
/// token routes, `/login` and `/users/register`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    Secure::new()
        .with_token_routes()
        .with_rate_limits()
        .mark_unguarded_public()
        .in_module("posts")
        .apply(&mut doc);
    let paths = &mut doc.paths.paths;
    // Seed 004's path for registration, the same handler as `POST /users`.
    if let Some(mut register) = paths.get("/users").cloned() {
        if let Some(operation) = register.post.as_mut() {
            operation.operation_id = Some("register".to_owned());
        }
        paths.insert("/users/register".to_owned(), register);
    }
    // The seed's `POST /login`: the password grant of `/token`, with only the two fields.
    if let Some(mut login) = paths.get("/token").cloned().and_then(|item| item.post) {
        login.operation_id = Some("login".to_owned());
        login.summary = Some("Log in".to_owned());
        login.description = Some(
            "The seed's login: `username` (or the email) and `password`, as a form \
             (FastAPI's `OAuth2PasswordRequestForm`) or JSON."
                .to_owned(),
        );
        let schema = json!({"type": "object", "required": ["username", "password"], "properties": {
            "username": {"type": "string", "minLength": 1, "description": "The username or email."},
            "password": {"type": "string", "minLength": 1, "format": "password"}
        }});
        login.request_body = serde_json::from_value(json!({
            "required": true,
            "content": {
                "application/x-www-form-urlencoded": {"schema": schema},
                "application/json": {"schema": schema}
            }
        }))
        .ok();
        paths.insert(
            "/login".to_owned(),
            PathItem::new(utoipa::openapi::HttpMethod::Post, login),
        );
    }
    doc
}

/// `GET /openapi.json` and the docs page at `/docs`.
pub fn routes() -> Router {
    SwaggerUi::new("/docs")
        .url("/openapi.json", document())
        .into()
}
