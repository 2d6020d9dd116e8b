//! `zen keyserver` (127.0.0.1:5010, `ZEN_KEYSERVER_ADDR`): the seed's keyserver, mapping
//! identities to their public keys, over `keys/` (`ZEN_KEYS_DIR`) in the working directory.
//!
//! [`KeyserverRoutes::from_dir`] serves a directory of `<identity>.pem` public keys (read per
//! request, so `zen keygen` registers a client without a restart):
//!
//! - `GET /getkey?identity=NAME` → the public key PEM (`text/plain`; a file that holds no
//!   public key is never served), 404 if unknown, 400 if `NAME` is
//!   not 1–64 of `A-Z a-z 0-9 . _ -` (it names a file: no path tricks);
//! - `GET /.well-known/jwks.json` → every key as a JWKS, `kid` = identity, `alg` from the key
//!   type (RSA keys are RS256), `Cache-Control: public, max-age=60`.
//!
//! A server that checks client assertions trusts the JWKS through a
//! `RemoteKeySet`, which implements `ClientKeys` (see [`crate::server`]).
//!
//! (Until 0.1 this lived in authz-axum as `authz_axum::keyserver`; it is the seed's own
//! service, not a library feature.)

use std::path::PathBuf;
use std::sync::Arc;

use authz_axum::{Algorithm, KeySet, VerifyingKey};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

/// An identity is 1 to 64 of `A-Z a-z 0-9 . _ -`, and not `.` or `..`: it names a file.
pub fn valid_identity(identity: &str) -> bool {
    (1..=64).contains(&identity.len())
        && identity != "."
        && identity != ".."
        && identity
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A public key PEM, whichever family it is (RSA → RS256, P-256 → ES256, P-384 → ES384,
/// Ed25519 → EdDSA).
pub fn parse_public_pem(pem: &str) -> Option<VerifyingKey> {
    [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ]
    .into_iter()
    .find_map(|alg| VerifyingKey::from_pem(alg, pem).ok())
}

/// The keyserver routes. See the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct KeyserverRoutes {
    dir: Arc<PathBuf>,
}

#[derive(Deserialize)]
struct GetKey {
    identity: Option<String>,
}

impl KeyserverRoutes {
    /// Serves the `<identity>.pem` files of `dir`.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Arc::new(dir.into()),
        }
    }

    /// The router: `/getkey` and `/.well-known/jwks.json`.
    pub fn router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        Router::new()
            .route("/getkey", get(getkey))
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(self.dir)
    }
}

async fn getkey(State(dir): State<Arc<PathBuf>>, Query(query): Query<GetKey>) -> Response {
    let Some(identity) = query.identity.filter(|i| valid_identity(i)) else {
        return (
            StatusCode::BAD_REQUEST,
            "identity must be 1 to 64 of A-Z a-z 0-9 . _ -",
        )
            .into_response();
    };
    // Only a public key, re-encoded, ever leaves: a private key dropped in the directory by
    // mistake is not served.
    let public = tokio::fs::read_to_string(dir.join(format!("{identity}.pem")))
        .await
        .ok()
        .as_deref()
        .and_then(parse_public_pem)
        .and_then(|key| key.to_pem());
    match public {
        Some(pem) => pem.into_response(),
        None => (StatusCode::NOT_FOUND, "unknown identity").into_response(),
    }
}

async fn jwks(State(dir): State<Arc<PathBuf>>) -> Response {
    let mut keys = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(dir.as_path()).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path = entry.path();
            let Some(identity) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pem"))
                .filter(|i| valid_identity(i))
                .map(str::to_owned)
            else {
                continue;
            };
            if let Some(key) = tokio::fs::read_to_string(&path)
                .await
                .ok()
                .as_deref()
                .and_then(parse_public_pem)
            {
                keys.push(key.with_kid(identity));
            }
        }
    }
    let body = match KeySet::new(keys) {
        Ok(set) => set.to_jwks_string(),
        Err(_) => "{\"keys\":[]}".to_owned(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

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
