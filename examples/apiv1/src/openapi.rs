//! The API's OpenAPI document, served at `GET /openapi.json`: each endpoint's
//! `#[utoipa::path]`, with the security and refusals its `#[require_auth]` implies (added by
//! `authz_axum::openapi::Secure`). Tokens come from elsewhere (the seed prints them), so the
//! only scheme is the bearer token. `tests/openapi.rs` compares it with `tests/openapi.json`
//! (`UPDATE_SNAPSHOTS=1` rewrites it).

use authz_axum::openapi::Secure;
use utoipa::OpenApi;

use crate::resource::apiv1::auth;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "apiv1",
        description = "Seed 000: endpoints guarded by `#[require_auth]`."
    ),
    paths(auth::health, auth::me, auth::admin, auth::create_item)
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    Secure::new()
        .mark_unguarded_public()
        .in_module("apiv1")
        .apply(&mut doc);
    doc
}
