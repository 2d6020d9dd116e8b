//! `cargo run -p apiv1`: serves the API on `AUTHZ_ADDR` (default 127.0.0.1:8000).

use std::process::ExitCode;
use std::time::Duration;

use apiv1::config::{Config, Keys};
use authz_axum::Issuer;
use authz_axum::serve::{ServeOptions, serve};
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,authz_axum=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("apiv1: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = Config::from_env()?;
    let app = apiv1::app(&config)?;
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if let Keys::Secret {
        key,
        generated: true,
    } = &config.keys
    {
        print_demo_tokens(key, &config)?;
    }
    println!("apiv1 listening on http://{addr}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, app, ServeOptions::default(), shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// With a generated secret nobody else knows, print ready-to-use tokens (valid 1 hour).
fn print_demo_tokens(key: &authz_axum::SigningKey, config: &Config) -> Result<(), String> {
    let mut issuer = Issuer::new(key.clone()).with_ttl(Duration::from_secs(3600));
    if let Some(iss) = &config.issuer {
        issuer = issuer.with_issuer(iss);
    }
    if let Some(aud) = &config.audience {
        issuer = issuer.with_audience(aud);
    }
    let admin =
        json!({"sub": "admin", "roles": ["admin", "user"], "scope": "items:read items:write"});
    let user = json!({"sub": "user", "roles": ["user"], "scope": "items:read"});
    println!("no AUTHZ_SECRET: generated a random one; tokens for 1 hour:");
    println!(
        "admin token: {}",
        issuer.issue(&admin).map_err(|e| e.to_string())?
    );
    println!(
        "user token: {}",
        issuer.issue(&user).map_err(|e| e.to_string())?
    );
    Ok(())
}
