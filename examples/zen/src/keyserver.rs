//! `zen keyserver` (127.0.0.1:5010, `ZEN_KEYSERVER_ADDR`): the seed's keyserver, as
//! `authz_axum::keyserver::KeyserverRoutes` over `keys/` (`ZEN_KEYS_DIR`) in the working
//! directory. Keys are read on each request, so `zen keygen` registers a client without a
//! restart.

use authz_axum::keyserver::KeyserverRoutes;

pub use authz_axum::keyserver::valid_identity;

/// Runs the keyserver.
///
/// # Errors
///
/// If the address cannot be bound.
pub async fn run() -> Result<(), String> {
    let addr = crate::env_or("ZEN_KEYSERVER_ADDR", "127.0.0.1:5010");
    let dir = crate::env_or("ZEN_KEYS_DIR", "keys");
    crate::serve("keyserver", &addr, KeyserverRoutes::from_dir(dir).router()).await
}
