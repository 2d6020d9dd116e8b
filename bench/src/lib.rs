//! What the benchmarks share: the route, plain and guarded, and a key, verifier and tokens like
//! a real service's.
//!
//! - `src/bin/bench-server.rs` serves it over HTTP for `bench/http.sh` (the load run);
//! - `benches/request.rs` sends requests through the router in process (criterion), so that
//!   the cost of the layer, the verifier and the guard shows without the kernel and hyper;
//! - `src/bin/request-count.rs` does the same a fixed number of times, for
//!   `valgrind --tool=callgrind` (`bench/instructions.sh`): instructions per request,
//!   repeatable whatever else the machine is doing.

#![allow(missing_docs)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use authz_axum::{
    Algorithm, AuthLayer, ClaimMapping, FixedClock, Issuer, KeySet, SigningKey, Verifier,
    require_auth,
};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use serde_json::json;

#[require_auth(role = "user")]
async fn guarded() -> &'static str {
    "hello"
}

async fn plain() -> &'static str {
    "hello"
}

/// `GET /hello`, served as is.
pub fn plain_router() -> Router {
    Router::new().route("/hello", get(plain))
}

/// The guarded route's 403 for a caller without the role, byte for byte, as prebuilt bytes.
async fn forbidden() -> axum::response::Response {
    let body = r#"{"detail":"Insufficient permissions: requires role = \"user\"","code":"insufficient_scope"}"#;
    let challenge = r#"Bearer realm="api", error="insufficient_scope", error_description="Insufficient permissions: requires role = 'user'""#;
    let mut response = axum::response::Response::new(Body::from(body));
    *response.status_mut() = http::StatusCode::FORBIDDEN;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static(challenge),
    );
    response
}

/// `GET /hello` answering the guarded route's 403 without any check: what the bigger
/// response alone costs (hyper and the kernel), against which a refusal's own cost shows.
pub fn plain_forbidden_router() -> Router {
    Router::new().route("/hello", get(forbidden))
}

/// `GET /hello` with `#[require_auth(role = "user")]`, without the layer (the caller adds it,
/// with whatever else it measures).
pub fn guarded_router() -> Router {
    Router::new().route("/hello", get(guarded))
}

/// The tokens a guarded benchmark sends, by name.
#[derive(Debug)]
pub struct Tokens {
    /// Roles `user` and `reader`: accepted.
    pub valid: String,
    /// Signed by another key with the same `kid`: 401.
    pub badsig: String,
    /// Expired in 2020: 401.
    pub expired: String,
    /// Role `reader` only: 403.
    pub norole: String,
    /// The valid token's 11 claims and 39 more (strings, numbers, booleans): accepted.
    pub claims50: String,
    /// Shaped like a Keycloak access token: 30 claims, roles in `realm_access.roles` and
    /// `resource_access.orders.roles`. Accepted with [`Options::keycloak`].
    pub keycloak: String,
}

impl Tokens {
    /// The token called `name` (`valid`, `badsig`, `expired`, `norole`, `claims50`,
    /// `keycloak`), or `None` for `none`.
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "valid" => Some(&self.valid),
            "badsig" => Some(&self.badsig),
            "expired" => Some(&self.expired),
            "norole" => Some(&self.norole),
            "claims50" => Some(&self.claims50),
            "keycloak" => Some(&self.keycloak),
            _ => None,
        }
    }
}

/// A fresh key of `alg`, the tokens, and a verifier builder like a real service's (issuer,
/// audience, `typ: at+jwt`, the default 30 s leeway). The tokens are 11-claim access tokens as
/// in the reference measurements (`iss sub aud exp nbf iat jti roles scope email tenant`).
pub fn keys_and_tokens(alg: Algorithm) -> Result<(KeySet, Tokens), String> {
    let key = SigningKey::generate(alg)
        .map_err(|e| e.to_string())?
        .with_kid("bench");
    let other = SigningKey::generate(alg)
        .map_err(|e| e.to_string())?
        .with_kid("bench");
    let issuer = |key: &SigningKey| {
        Issuer::new(key.clone())
            .with_issuer("https://auth.example.com")
            .with_audience("orders")
            .with_typ("at+jwt")
            .with_ttl(Duration::from_secs(24 * 3600))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = |roles: &[&str]| {
        json!({
            "sub": "user-1234", "roles": roles, "scope": "orders:read orders:write",
            "email": "user1234@example.com", "tenant": "acme-corp", "nbf": now - 10,
        })
    };
    let issue =
        |issuer: Issuer, roles: &[&str]| issuer.issue(&claims(roles)).map_err(|e| e.to_string());
    let tokens = Tokens {
        valid: issue(issuer(&key), &["user", "reader"])?,
        badsig: issue(issuer(&other), &["user", "reader"])?,
        expired: issue(
            issuer(&key).with_clock(FixedClock::at_unix(1_600_000_000)),
            &["user", "reader"],
        )?,
        norole: issue(issuer(&key), &["reader"])?,
        claims50: issuer(&key)
            .issue(&claims50(claims(&["user", "reader"])))
            .map_err(|e| e.to_string())?,
        keycloak: issuer(&key)
            .issue(&keycloak_claims(now))
            .map_err(|e| e.to_string())?,
    };
    Ok((KeySet::single(key.verifying_key()), tokens))
}

/// `claims` (which with the issuer's five make 11) and 39 more, as an identity provider adds
/// them: short strings, numbers and booleans under names of 6–10 characters.
fn claims50(mut claims: serde_json::Value) -> serde_json::Value {
    if let Some(object) = claims.as_object_mut() {
        for i in 0..39 {
            let value = match i % 3 {
                0 => json!(format!("value-{i}")),
                1 => json!(1_700_000_000 + i),
                _ => json!(i % 2 == 0),
            };
            object.insert(format!("ext_{i:02}_{}", &"abcd"[..i % 4]), value);
        }
    }
    claims
}

/// 25 claims (30 with the issuer's `iss aud exp iat jti`) shaped like a Keycloak access
/// token's, roles nested in `realm_access` and `resource_access`.
fn keycloak_claims(now: u64) -> serde_json::Value {
    json!({
        "auth_time": now - 60, "nbf": now - 10, "sub": "f3c2b6a0-5d1e-4c1b-9a57-3f1e2d4c5b6a",
        "typ": "Bearer", "azp": "orders-web", "nonce": "n-0S6_WzA2Mj",
        "session_state": "2b0c3f4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "acr": "1",
        "allowed-origins": ["https://orders.example.com"],
        "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-acme", "user"]},
        "resource_access": {
            "orders": {"roles": ["order-viewer", "order-editor"]},
            "account": {"roles": ["manage-account", "manage-account-links", "view-profile"]},
        },
        "scope": "openid profile email", "sid": "2b0c3f4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
        "email_verified": true, "name": "Jane Doe", "preferred_username": "jane",
        "given_name": "Jane", "family_name": "Doe", "email": "jane@example.com",
        "locale": "en", "zoneinfo": "Europe/Paris", "groups": ["/staff", "/staff/orders"],
        "phone_number_verified": false, "tenant": "acme-corp", "client_id": "orders-web",
    })
}

/// The verifier settings of every guarded target, on `builder`.
pub fn configure(
    builder: authz_axum::core::VerifierBuilder,
    cache: bool,
) -> Result<Verifier, String> {
    let mut builder = builder
        .with_issuer("https://auth.example.com")
        .with_audience("orders")
        .with_typ("at+jwt");
    if cache {
        builder = builder.with_cache(4096);
    }
    builder.build().map_err(|e| e.to_string())
}

/// The guarded route behind the layer, with a static key of `alg`, and its tokens.
pub fn guarded_app(alg: Algorithm, cache: bool) -> Result<(Router, Tokens), String> {
    guarded_app_with(
        alg,
        Options {
            cache,
            ..Options::default()
        },
    )
}

/// What an in-process guarded target sets besides the algorithm.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The verified-token cache (4096 tokens).
    pub cache: bool,
    /// Keys trusted besides the signing key, of its algorithm, with `kid`s of its length
    /// (`k0000`, `k0001`, …); the signing key (`bench`) comes last in the set.
    pub extra_keys: usize,
    /// Roles read as a Keycloak service reads them: `realm_access.roles` and
    /// `resource_access.orders.roles`.
    pub keycloak: bool,
}

/// [`guarded_app`] with `options`.
pub fn guarded_app_with(alg: Algorithm, options: Options) -> Result<(Router, Tokens), String> {
    let (mut keys, tokens) = keys_and_tokens(alg)?;
    if options.extra_keys > 0 {
        let mut all = (0..options.extra_keys)
            .map(|i| {
                SigningKey::generate(alg)
                    .map(|key| key.with_kid(format!("k{i:04}")).verifying_key())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, String>>()?;
        all.extend(keys.keys().iter().cloned());
        keys = KeySet::new(all).map_err(|e| e.to_string())?;
    }
    let mut builder = Verifier::builder(keys);
    if options.keycloak {
        builder = builder.with_claim_mapping(
            ClaimMapping::new()
                .with_roles_from(["realm_access.roles", "resource_access.orders.roles"]),
        );
    }
    let verifier = configure(builder, options.cache)?;
    Ok((guarded_router().layer(AuthLayer::new(verifier)), tokens))
}

/// `GET /hello` as wrk sends it, with `Authorization: Bearer <token>` when given.
pub fn request(token: Option<&str>) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    *request.uri_mut() = http::Uri::from_static("/hello");
    let headers = request.headers_mut();
    headers.insert(
        http::header::HOST,
        http::HeaderValue::from_static("127.0.0.1:18190"),
    );
    if let Some(token) = token
        && let Ok(value) = http::HeaderValue::try_from(format!("Bearer {token}"))
    {
        headers.insert(http::header::AUTHORIZATION, value);
    }
    request
}

/// Polls a future that needs no I/O (a request through an in-memory router) to completion.
///
/// # Panics
///
/// If the future waits on something: the benchmarks' routes never do.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the request waited on something"),
    }
}

/// The algorithm named on a command line (`hs256`, `es256`, `eddsa`, …).
pub fn algorithm(name: &str) -> Result<Algorithm, String> {
    name.to_uppercase()
        .replace("EDDSA", "EdDSA")
        .parse()
        .map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn answer(router: Router, token: &str) -> (http::StatusCode, http::HeaderMap, Vec<u8>) {
        let response = router
            .oneshot(request(Some(token)))
            .await
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 1 << 16)
            .await
            .expect("a full body");
        (parts.status, parts.headers, body.to_vec())
    }

    /// The `--forbidden` baseline is only a baseline while it answers what the guarded route
    /// answers a caller without the role.
    #[test]
    fn the_forbidden_baseline_answers_the_guarded_routes_403_byte_for_byte() {
        let (guarded, tokens) = guarded_app(Algorithm::HS256, false).expect("the benchmark app");
        let refused = ready(answer(guarded, &tokens.norole));
        let baseline = ready(answer(plain_forbidden_router(), &tokens.norole));
        assert_eq!(refused.0, http::StatusCode::FORBIDDEN);
        assert_eq!(refused, baseline);
    }
}
