//! Seed 000's `authz` project, in Rust: `decorator` (our `#[require_auth]` and its layer),
//! `controller/apiv1` (logic), `resource/apiv1` (endpoints). See the README for a curl
//! walk-through.

pub mod config;
pub mod controller;
pub mod decorator;
pub mod openapi;
pub mod resource;

use authz_axum::manifest::Routes;
use axum::Router;

/// The whole app for `config`.
///
/// # Errors
///
/// If the auth configuration is invalid.
pub fn app(config: &config::Config) -> Result<Router, String> {
    routes(config).map(Routes::into_router)
}

/// The whole app for `config`, as [`Routes`]: `routes(config)?.manifest().await` lists every
/// route with its protection (`tests/manifest.rs` keeps it as a snapshot).
///
/// # Errors
///
/// If the auth configuration is invalid.
pub fn routes(config: &config::Config) -> Result<Routes, String> {
    let guarded = resource::apiv1::auth::routes().layer(decorator::layer(config)?);
    Ok(resource::apiv1::auth::public_routes().merge(guarded))
}
