//! `cargo run -p token-pair`: simplejwt's routes on `AUTHZ_ADDR` (default 127.0.0.1:8000).

use std::process::ExitCode;

use authz_axum::serve::{ServeOptions, serve};
use token_pair::Config;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,authz_axum=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::from_env();
    let result = async {
        let app = token_pair::app(&config).await?;
        let listener = tokio::net::TcpListener::bind(&config.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!(
            "token-pair listening on http://{addr} (demo user: {})",
            config.demo_user
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, app, ServeOptions::default(), shutdown)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("token-pair: {message}");
            ExitCode::FAILURE
        }
    }
}
