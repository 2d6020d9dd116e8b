//! Seed 001 in Rust: a keyserver that maps identities to public keys, a server that lets a
//! client log in with a JWT signed by its own private key (RFC 7523 client assertion) and
//! answers with a use token valid from 10 s to 30 s after issue, and the seed's client.
//!
//! - [`keyserver`]: `GET /getkey?identity=NAME` → PEM (404 if unknown), and the same keys as
//!   a JWKS at `/.well-known/jwks.json` (`kid` = identity).
//! - [`server`]: `POST /login` (body = the client's JWT) → `application/jwt` use token;
//!   `POST /` (use token as the raw body or as Bearer) → a Zen line, or 403 with the reason.
//! - [`keygen`]: `client.key` / `client.key.pub`, registered as `keys/client.pem`.
//! - [`client`]: the seed's client session.

pub mod client;
pub mod keygen;
pub mod keyserver;
pub mod server;
pub mod zen;

/// The server's identifier: the `aud` of client assertions.
pub const DEFAULT_AUDIENCE: &str = "http://127.0.0.1:5025";

/// Reads an environment variable, or a default.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Serves `app` on `addr`, printing `<what> listening on http://ADDR`.
///
/// # Errors
///
/// If the address cannot be bound.
pub async fn serve(what: &str, addr: &str, app: axum::Router) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("{what} listening on http://{local}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    authz_axum::serve::serve(
        listener,
        app,
        authz_axum::serve::ServeOptions::default(),
        shutdown,
    )
    .await
    .map_err(|e| e.to_string())
}
