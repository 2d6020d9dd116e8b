//! `zen server` (127.0.0.1:5025, `ZEN_SERVER_ADDR`): the seed's server.
//!
//! - `POST /login`: the body is the client's JWT, signed with its own key. The key comes from
//!   the keyserver (`ZEN_KEYSERVER`, default `http://127.0.0.1:5010`) by the token's `iss`,
//!   through its JWKS, cached (an unknown identity makes one refresh, at most once a
//!   second). The assertion must carry `aud` = this server (`ZEN_AUDIENCE`, default
//!   `http://127.0.0.1:5025`), `sub` = `iss`, a short `exp` and a `jti` used once (RFC 7523).
//!   Unknown identity → 401; any other failure → 403 with the reason, as the seed.
//! - The answer is a use token (`application/jwt`, ES256) for the client, valid from 10 s to
//!   30 s after issue.
//! - `POST /`: the use token as the raw body (the seed's client) or as Bearer → 200 and a Zen
//!   line, 403 with the reason (`The token is not yet valid (nbf)`, `Signature has expired`).
//! - `POST /token`: the standard way to the same end, OAuth 2.0's client-credentials grant
//!   authenticated by the same assertion (`grant_type=client_credentials`,
//!   `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
//!   `client_assertion=…`): an access token usable at once, errors as RFC 6749 §5.2
//!   (`invalid_client` with 401).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authz_axum::core::assertion::{AssertionError, ClientAssertions, MemoryReplays};
use authz_axum::core::lifecycle::TokenService;
use authz_axum::core::remote::{RemoteKeySet, RemoteOptions};
use authz_axum::jwks::HttpFetcher;
use authz_axum::token::TokenRoutes;
use authz_axum::{Algorithm, Issuer, KeySet, SigningKey, Verifier};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

/// The server's state.
#[derive(Debug, Clone)]
pub struct Server {
    assertions: ClientAssertions,
    key: SigningKey,
    verifier: Verifier,
    audience: String,
}

/// Builds the server: a fresh ES256 key for use tokens, client keys from `keyserver`.
///
/// # Errors
///
/// If a key cannot be made or the HTTP client cannot start.
pub fn app(keyserver: &str, audience: &str) -> Result<Router, String> {
    let client_keys = RemoteKeySet::with_options(
        format!("{}/.well-known/jwks.json", keyserver.trim_end_matches('/')),
        Arc::new(HttpFetcher::new()?),
        RemoteOptions {
            // Our own keyserver: a client registered a moment ago is found at once.
            cooldown: Duration::from_secs(1),
            ..RemoteOptions::default()
        },
    );
    client_keys.spawn_refresh();
    let key = SigningKey::generate(Algorithm::ES256)
        .map_err(|e| e.to_string())?
        .with_kid("zen-server");
    let verifier = Verifier::builder(KeySet::single(key.verifying_key()))
        .with_audience(audience)
        // One second of leeway, with nbf rounded down and exp rounded up to whole seconds,
        // gives the seed's window at 5-second steps: refused at 0 and 5 s, accepted from 10
        // to 30 s, refused at 35 s.
        .with_leeway(Duration::from_secs(1))
        .build()
        .map_err(|e| e.to_string())?;
    let assertions = ClientAssertions::new(
        Arc::new(client_keys),
        Arc::new(MemoryReplays::new()),
        audience,
    );
    // The standard grant beside the seed's /login: OAuth 2.0 client credentials with the
    // same client assertion, answered by the token routes (access tokens signed with the same
    // key, so `POST /` takes them too).
    let tokens = TokenService::builder(key.clone())
        .with_issuer(audience)
        .with_audience(audience)
        .build()
        .map_err(|e| e.to_string())?;
    let token_routes = TokenRoutes::new(tokens)
        .with_client_credentials(assertions.clone(), |_client| Some(vec!["zen".to_owned()]))
        .public_routes();
    let server = Server {
        assertions,
        key,
        verifier,
        audience: audience.to_owned(),
    };
    Ok(Router::new()
        .route("/login", post(login))
        .route("/", post(zen))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(server)
        .merge(token_routes))
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, body.into()).into_response()
}

fn token_of(body: &Bytes) -> Option<&str> {
    std::str::from_utf8(body)
        .ok()
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

async fn login(State(server): State<Server>, body: Bytes) -> Response {
    let Some(assertion) = token_of(&body) else {
        return text(StatusCode::UNAUTHORIZED, "Not authenticated");
    };
    let client = match server.assertions.verify(assertion).await {
        Ok(client) => client,
        Err(AssertionError::UnknownClient) => {
            return text(StatusCode::UNAUTHORIZED, "Unknown client");
        }
        Err(error @ AssertionError::Unavailable(_)) => {
            return text(StatusCode::SERVICE_UNAVAILABLE, error.to_string());
        }
        Err(error) => return text(StatusCode::FORBIDDEN, error.to_string()),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let claims = json!({
        "sub": client.subject(),
        "nbf": now.floor() as u64 + 10,
        "exp": now.ceil() as u64 + 30,
    });
    match Issuer::new(server.key.clone())
        .with_audience(server.audience.clone())
        .issue(&claims)
    {
        Ok(token) => {
            let mut response = token.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            response
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "cannot sign"),
    }
}

async fn zen(State(server): State<Server>, headers: HeaderMap, body: Bytes) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                .map(|_| v[7..].trim())
        });
    let Some(token) = bearer.or_else(|| token_of(&body)) else {
        return text(StatusCode::UNAUTHORIZED, "Not authenticated");
    };
    match server.verifier.verify(token) {
        Ok(_) => text(StatusCode::OK, crate::zen::random_line()),
        Err(error) => text(StatusCode::FORBIDDEN, error.to_string()),
    }
}

/// Runs the server.
///
/// # Errors
///
/// If the address cannot be bound.
pub async fn run() -> Result<(), String> {
    let addr = crate::env_or("ZEN_SERVER_ADDR", "127.0.0.1:5025");
    let keyserver = crate::env_or("ZEN_KEYSERVER", "http://127.0.0.1:5010");
    let audience = crate::env_or("ZEN_AUDIENCE", crate::DEFAULT_AUDIENCE);
    crate::serve("server", &addr, app(&keyserver, &audience)?).await
}
