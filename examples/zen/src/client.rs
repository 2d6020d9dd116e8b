//! `zen client`: the seed's client session. Logs in with a client assertion signed by
//! `client.key`, prints the use token's claims, then posts it 8 times, 5 seconds apart
//! (`ZEN_INTERVAL_SECS`), printing each status and answer.

use std::time::Duration;

use authz_axum::{Algorithm, Issuer, SigningKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

/// Runs the session against `ZEN_SERVER` (default `http://127.0.0.1:5025`) as
/// `ZEN_IDENTITY` (default `client`).
///
/// # Errors
///
/// If `client.key` cannot be read or the server cannot be reached.
pub async fn run() -> Result<(), String> {
    let server = crate::env_or("ZEN_SERVER", "http://127.0.0.1:5025");
    let audience = crate::env_or("ZEN_AUDIENCE", crate::DEFAULT_AUDIENCE);
    let identity = crate::env_or("ZEN_IDENTITY", "client");
    let interval: u64 = crate::env_or("ZEN_INTERVAL_SECS", "5")
        .parse()
        .map_err(|_| "ZEN_INTERVAL_SECS must be a number")?;
    let pem = std::fs::read_to_string("client.key")
        .map_err(|e| format!("client.key: {e} (run `zen keygen` first)"))?;
    let key = SigningKey::from_pem(Algorithm::RS256, pem).map_err(|e| e.to_string())?;
    // The seed sends {"iss": "client"}; RFC 7523 also asks for sub, aud, exp and jti
    // (iat and jti are added by the issuer).
    let assertion = Issuer::new(key)
        .with_audience(audience)
        .with_ttl(Duration::from_secs(60))
        .issue(&json!({"iss": identity, "sub": identity}))
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{server}/login"))
        .body(assertion)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let use_token = response.text().await.map_err(|e| e.to_string())?;
    if status != 200 {
        println!("{status} {use_token}");
        return Ok(());
    }
    let claims = use_token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .unwrap_or_default();
    println!("{claims}");
    for _ in 0..8 {
        let response = http
            .post(format!("{server}/"))
            .body(use_token.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        println!(
            "{status} {}",
            response.text().await.map_err(|e| e.to_string())?
        );
        tokio::time::sleep(Duration::from_secs(interval)).await;
    }
    Ok(())
}
