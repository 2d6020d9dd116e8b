//! `zen keyserver` (127.0.0.1:5010, `ZEN_KEYSERVER_ADDR`): the seed's keyserver. Public keys
//! live in `keys/<identity>.pem` under the working directory and are read on each request,
//! so that `zen keygen` registers a client without a restart.

use std::path::PathBuf;

use authz_axum::{Algorithm, KeySet, VerifyingKey};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

/// An identity is 1 to 64 of `A-Z a-z 0-9 . _ -`, and not `.`/`..`: it names a file.
pub fn valid_identity(identity: &str) -> bool {
    (1..=64).contains(&identity.len())
        && identity != "."
        && identity != ".."
        && identity
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[derive(Deserialize)]
struct GetKey {
    identity: Option<String>,
}

/// The keyserver's routes over a key directory.
pub fn app(dir: PathBuf) -> Router {
    Router::new()
        .route("/getkey", get(getkey))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(dir)
}

async fn getkey(State(dir): State<PathBuf>, Query(query): Query<GetKey>) -> Response {
    let Some(identity) = query.identity.filter(|i| valid_identity(i)) else {
        return (
            StatusCode::BAD_REQUEST,
            "identity must be 1 to 64 of A-Z a-z 0-9 . _ -",
        )
            .into_response();
    };
    match tokio::fs::read_to_string(dir.join(format!("{identity}.pem"))).await {
        Ok(pem) => pem.into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "unknown identity").into_response(),
    }
}

/// A public key PEM, whichever algorithm family it is (RSA keys are RS256, as in the seed).
fn parse(pem: &str) -> Option<VerifyingKey> {
    [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ]
    .into_iter()
    .find_map(|alg| VerifyingKey::from_pem(alg, pem).ok())
}

async fn jwks(State(dir): State<PathBuf>) -> Response {
    let mut keys = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(&dir).await {
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
                .and_then(parse)
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
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
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
    let dir = PathBuf::from(crate::env_or("ZEN_KEYS_DIR", "keys"));
    crate::serve("keyserver", &addr, app(dir)).await
}
