//! `hello`: the smallest complete authz app, in one file.
//!
//! - `GET /` — public: `hello, world`.
//! - `POST /login` — public: `{"username","password"}` →
//!   `{"access_token","token_type":"Bearer","expires_in"}`, or 400 `invalid_grant`.
//! - `GET /me` — any valid token: the caller's subject and roles.
//! - `GET /admin` — the `admin` role.
//!
//! Environment: `AUTHZ_SECRET` (the HS256 secret, at least 32 bytes) or `HELLO_DEV=1` for a
//! random one; `HELLO_ALICE_PASSWORD` and `HELLO_ADMIN_PASSWORD` (a user without one cannot
//! log in); `HELLO_ADDR` (default `127.0.0.1:3000`); `RUST_LOG` (default `info,authz_axum=debug`).

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use authz_axum::{
    Algorithm, Auth, AuthLayer, Issuer, SigningKey, Verifier, generate_secret, require_auth,
};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

// The issuer signs what the verifier checks: the same `iss`, `aud` and header `typ`.
const ISSUER: &str = "hello";
const AUDIENCE: &str = "hello-api";
const TYP: &str = "at+jwt";
const TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

#[tokio::main]
async fn main() -> ExitCode {
    // `authz_axum=debug` logs every refusal with its code (never the token). Without a
    // subscriber nothing is seen — not even a guard on a route outside the AuthLayer, which
    // answers 500 and logs the fix at ERROR.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,authz_axum=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hello: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let key = signing_key()?;
    let issuer = Issuer::new(key.clone())
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_typ(TYP)
        .with_ttl(TOKEN_TTL);
    let verifier = Verifier::builder(key.verifying_key())
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_typ(TYP)
        .build()?;

    // Under the layer, every route needs a valid token. The public routes are merged after
    // it, so that a client still sending an expired token can log in again.
    let guarded = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .layer(AuthLayer::new(verifier).required());
    let app = Router::new()
        .route("/", get(|| async { "hello, world" }))
        .route("/login", post(login))
        .with_state(Arc::new(Login {
            issuer,
            users: users(),
        }))
        .merge(guarded);

    let addr = std::env::var("HELLO_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("hello listening on http://{}", listener.local_addr()?);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(axum::serve(listener, app)
        .with_graceful_shutdown(ctrl_c)
        .await?)
}

/// The HS256 key: `AUTHZ_SECRET` (its bytes as given), or with `HELLO_DEV=1` a random one.
fn signing_key() -> Result<SigningKey, Box<dyn Error>> {
    let make_one = "make one with: export AUTHZ_SECRET=\"$(openssl rand -base64 48)\"";
    if let Some(secret) = std::env::var_os("AUTHZ_SECRET") {
        return SigningKey::from_secret(Algorithm::HS256, secret.as_encoded_bytes())
            .map_err(|e| format!("AUTHZ_SECRET is refused: {e}; {make_one}").into());
    }
    if std::env::var_os("HELLO_DEV").is_some_and(|v| v == "1") {
        tracing::warn!("HELLO_DEV=1: a random secret; its tokens stop working with this process");
        let secret = generate_secret(Algorithm::HS256)?;
        return Ok(SigningKey::from_secret(Algorithm::HS256, &secret)?);
    }
    Err(format!("AUTHZ_SECRET is not set; {make_one} (or HELLO_DEV=1: a throwaway one)").into())
}

/// The demo users, in memory: name, roles, password. A real app keeps password hashes in a
/// database (authz-axum's feature `token-routes`: argon2id, stores, refresh tokens).
type User = (&'static str, &'static [&'static str], String);

fn users() -> Vec<User> {
    let mut users = Vec::new();
    for (name, roles, var) in [
        ("alice", &["user"][..], "HELLO_ALICE_PASSWORD"),
        ("admin", &["admin"][..], "HELLO_ADMIN_PASSWORD"),
    ] {
        match std::env::var(var) {
            Ok(password) if !password.is_empty() => users.push((name, roles, password)),
            _ => tracing::warn!("{var} is not set: {name} cannot log in"),
        }
    }
    users
}

/// Equal strings, compared in a time that does not depend on where they differ (`subtle`).
fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

struct Login {
    issuer: Issuer,
    users: Vec<User>,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(State(login): State<Arc<Login>>, Json(given): Json<Credentials>) -> Response {
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    let mut users = login.users.iter();
    let Some((name, roles, _)) = users
        .find(|(name, _, password)| *name == given.username && same(password, &given.password))
    else {
        tracing::info!(username = ?given.username, "login refused"); // never the password
        let error =
            json!({"error": "invalid_grant", "error_description": "wrong username or password"});
        return (StatusCode::BAD_REQUEST, no_store, Json(error)).into_response();
    };
    match login.issuer.issue(&json!({"sub": name, "roles": roles})) {
        Ok(token) => {
            let expires_in = TOKEN_TTL.as_secs();
            let body =
                json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in});
            (no_store, Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot issue a token");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[require_auth]
async fn me(Auth(user): Auth) -> Json<Value> {
    Json(json!({"subject": user.subject(), "roles": user.roles().collect::<Vec<_>>()}))
}

#[require_auth(role = "admin")]
async fn admin(Auth(user): Auth) -> String {
    format!("welcome, {}", user.subject())
}
